"""Objects as a real or misbehaving API server may send them, through the conversions
into the engine's models (``agent.adapters.kube_state``).

The property: a conversion returns a model whose numbers are finite and whose counts are
whole and not negative, or raises ``BadObjectError`` naming the object; never an
``AttributeError``, ``TypeError``, ``KeyError``, ``ValueError`` or ``OverflowError``
from deep inside, and never a NaN or negative replica count.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agent.adapters.kube_errors import BadObjectError
from agent.adapters.kube_state import (
    disruption_budget_state,
    hpa_state,
    node_state,
    owner_index,
    pod_state,
    volume_claim_state,
    workload_state,
)
from agent.adapters.kubernetes import KubernetesCluster
from agent.daemon import build_daemon
from agent.settings import load_settings
from remediation.ports import ObjectRef, UnreadObject
from remediation.snapshot import ClusterSnapshot
from remediation.verification import RenderedCheck, evaluate_kubernetes_check
from tests.fakekube import FakeApiServer
from tests.fakekube.seed import seed_deployment, seed_hpa, seed_node, seed_pdb
from tests.harness.servers import free_port
from tests.integration.daemon.served import daemon_config
from tests.integration.kube import object_shapes as shapes

FAST = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
OWNERS = {
    "rs-1": ObjectRef("Deployment", "web", "shop"),
    "ss-1": ObjectRef("StatefulSet", "db", "shop"),
}


def converts_or_names_it(convert: Callable[[], Any], obj: Any) -> None:
    """Run ``convert``: its model holds sensible numbers, or it refused ``obj`` by name."""
    try:
        model = convert()
    except BadObjectError as exc:
        message = str(exc)
        kind = obj.get("kind") if isinstance(obj, dict) else None
        assert kind and kind in message, message
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        if isinstance(name, str) and name:
            assert name in message, message
        return
    shapes.sensible_numbers(model)


# The smallest shapes hypothesis found crashing each conversion, before the fix.
@FAST
@given(
    st.sampled_from(["Deployment", "StatefulSet", "Rollout"]).flatmap(shapes.workload_objects),
    shapes.replicasets,
)
@example({"kind": "Deployment", "spec": {"replicas": None}}, [])  # TypeError
@example({"kind": "Deployment", "spec": {"replicas": "1e3"}}, [])  # ValueError
@example({"kind": "Deployment", "spec": {"replicas": -9842287}}, [])  # negative replicas
@example({"kind": "Deployment", "spec": {"replicas": float("nan")}}, [])  # ValueError
@example({"kind": "Rollout", "status": {"readyReplicas": float("inf")}}, [])  # OverflowError
@example({"kind": "Rollout", "status": {"availableReplicas": -217}}, [])  # negative
@example({"kind": "StatefulSet", "metadata": {"generation": None}}, [])  # TypeError
@example({"kind": "StatefulSet", "status": {"conditions": [None]}}, [])  # AttributeError
@example({"kind": "StatefulSet"}, [None])  # AttributeError
@example({"kind": "StatefulSet"}, [{"metadata": None}])  # AttributeError
@example({"kind": "Deployment", "metadata": {"name": "web", "labels": "a"}}, [])  # ValueError
def test_a_workload_converts_or_is_refused_by_name(obj: Any, replicasets: Any) -> None:
    converts_or_names_it(lambda: workload_state(obj, replicasets), obj)


@FAST
@given(shapes.pods)
@example({"kind": "Pod", "status": {"containerStatuses": [{"restartCount": None}]}})
@example({"kind": "Pod", "status": {"containerStatuses": [{"restartCount": -436}]}})
@example({"kind": "Pod", "status": {"initContainerStatuses": [None]}})
@example({"kind": "Pod", "metadata": {"name": "p", "ownerReferences": [None]}})
@example({"kind": "Pod", "metadata": {"name": "p", "annotations": ["x"]}})
@example({"kind": "Pod", "metadata": {"name": "p", "labels": {"app": -37}}})
def test_a_pod_converts_or_is_refused_by_name(obj: Any) -> None:
    converts_or_names_it(lambda: pod_state(obj, OWNERS), obj)


@FAST
@given(shapes.nodes)
@example({"kind": "Node", "status": {"conditions": [None]}})
@example({"kind": "Node", "status": {"conditions": [{"type": None, "status": "Maybe"}]}})
@example({"kind": "Node", "metadata": {"name": "n", "labels": ["x-1"]}})
def test_a_node_converts_or_is_refused_by_name(obj: Any) -> None:
    converts_or_names_it(lambda: node_state(obj), obj)


@FAST
@given(shapes.hpas)
@example({"kind": "HorizontalPodAutoscaler", "spec": {"maxReplicas": None}})
@example({"kind": "HorizontalPodAutoscaler", "spec": {"minReplicas": "abc"}})
@example({"kind": "HorizontalPodAutoscaler", "status": {"currentReplicas": "1e3"}})
@example({"kind": "HorizontalPodAutoscaler", "status": {"desiredReplicas": None}})
def test_an_hpa_converts_or_is_refused_by_name(obj: Any) -> None:
    converts_or_names_it(lambda: hpa_state(obj), obj)


@FAST
@given(shapes.claims, st.dictionaries(shapes.text, st.booleans(), max_size=2))
def test_a_claim_converts_or_is_refused_by_name(obj: Any, expansion: dict[str, bool]) -> None:
    converts_or_names_it(lambda: volume_claim_state(obj, expansion), obj)


@FAST
@given(shapes.budgets)
@example({"kind": "PodDisruptionBudget", "spec": {"selector": {"matchLabels": "x"}}})
@example(
    {
        "kind": "PodDisruptionBudget",
        "metadata": {"generation": 2},
        "status": {"observedGeneration": "abc"},
    }
)
def test_a_budget_converts_or_is_refused_by_name(obj: Any) -> None:
    converts_or_names_it(lambda: disruption_budget_state(obj), obj)


@settings(FAST, max_examples=60)
@given(
    shapes.replicasets,
    st.lists(
        st.sampled_from(["Deployment", "StatefulSet", "Rollout"]).flatmap(shapes.workload_objects),
        max_size=3,
    ),
)
@example([{"metadata": {"uid": "rs-1", "ownerReferences": [None]}}], [])  # AttributeError
def test_the_owner_index_takes_any_shape(replicasets: Any, workloads: Any) -> None:
    """Pods' owners by controller uid: an odd ReplicaSet or workload owns nothing."""
    index = owner_index(replicasets, workloads)
    assert all(isinstance(uid, str) and uid for uid in index)


def test_null_counts_read_as_the_apis_defaults() -> None:
    """``null`` is what an absent field means: one replica asked, none ready yet."""
    state = workload_state(
        {
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": None},
            "spec": {"replicas": None},
            "status": {"readyReplicas": None, "conditions": [None]},
        }
    )
    assert (state.replicas, state.ready_replicas, state.labels) == (1, 0, {})


@pytest.mark.parametrize("replicas", [-1, 2.5, float("nan"), "3", True])
def test_a_count_that_is_no_count_is_refused_naming_object_and_field(replicas: Any) -> None:
    obj = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}
    obj["spec"] = {"replicas": replicas}
    with pytest.raises(BadObjectError) as caught:
        workload_state(obj)
    assert "Deployment shop/web: spec.replicas is" in str(caught.value)
    assert caught.value.reason == "BadObject"


def test_replicas_at_the_apis_limit_are_read_as_they_are() -> None:
    state = workload_state({"kind": "StatefulSet", "spec": {"replicas": 2**31 - 1}})
    assert state.replicas == 2**31 - 1


# End to end: the shapes above, served by the fake API server to the real client and
# the adapter. The odd object is left out of its listing, with a logged reason naming
# it; the other objects of the listing are read as ever.


def test_a_listing_skips_an_object_it_cannot_read_and_says_why(
    fake: FakeApiServer, cluster: KubernetesCluster, caplog: pytest.LogCaptureFixture
) -> None:
    seed_node(fake.store, "node-1")
    seed_node(fake.store, "node-2")
    seed_deployment(fake.store, "web", namespace="shop", replicas=2, nodes=("node-1",))
    seed_deployment(fake.store, "api", namespace="shop", replicas=2, nodes=("node-1",))
    seed_hpa(fake.store, "web", target="web", namespace="shop")
    seed_hpa(fake.store, "web-2", target="other", namespace="shop")

    def odd_replicas(obj: dict[str, Any]) -> None:
        obj["spec"]["replicas"] = -1

    def odd_labels(obj: dict[str, Any]) -> None:
        obj["metadata"]["labels"] = ["app", "web"]
        obj["status"]["conditions"] = [None]

    def odd_max(obj: dict[str, Any]) -> None:
        obj["spec"]["maxReplicas"] = "1e3"

    fake.store.modify("Deployment", "shop", "api", odd_replicas)
    fake.store.modify("Node", "", "node-2", odd_labels)
    fake.store.modify("HorizontalPodAutoscaler", "shop", "web-2", odd_max)
    pod = next(p for p in fake.store.objects("Pod", "shop") if p["metadata"]["name"])
    pod_name = pod["metadata"]["name"]

    def odd_restarts(obj: dict[str, Any]) -> None:
        obj["status"]["containerStatuses"][0]["restartCount"] = None
        obj["status"]["initContainerStatuses"] = [None]
        obj["metadata"]["ownerReferences"].append(None)

    fake.store.modify("Pod", "shop", pod_name, odd_restarts)

    with caplog.at_level(logging.WARNING, logger="autonomic.kubernetes"):
        workloads = cluster.list_workloads("shop")
        nodes = cluster.list_nodes()
        hpa = cluster.get_hpa_for(ObjectRef("Deployment", "web", "shop"))
        pods = cluster.list_pods("shop")
        cluster.list_workloads("shop")  # a second pass: said once, not again

    assert [w.ref.name for w in workloads] == ["web"]
    assert [n.ref.name for n in nodes] == ["node-1"]
    assert hpa is not None and hpa.ref.name == "web" and hpa.shared_with == ()
    # A null restart count and null entries are the API's defaults: the pod is read.
    assert pod_name in [p.ref.name for p in pods]
    said = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(said) == 3, said
    assert any("Deployment shop/api: spec.replicas is -1" in m for m in said)
    assert any("Node node-2: metadata.labels is" in m for m in said)
    assert any("HorizontalPodAutoscaler shop/web-2: spec.maxReplicas is '1e3'" in m for m in said)
    assert cluster.objects_skipped == 4


# An object that cannot be read is left out of a listing; where absence would permit a
# write, it is not taken for absent.


def test_an_hpa_that_cannot_be_read_is_not_taken_for_none(
    fake: FakeApiServer, cluster: KubernetesCluster
) -> None:
    seed_node(fake.store, "node-1")
    seed_deployment(fake.store, "web", namespace="shop", replicas=2, nodes=("node-1",))
    seed_deployment(fake.store, "api", namespace="shop", replicas=2, nodes=("node-1",))
    seed_hpa(fake.store, "web", target="web", namespace="shop")

    def odd_max(obj: dict[str, Any]) -> None:
        obj["spec"]["maxReplicas"] = "1e3"

    fake.store.modify("HorizontalPodAutoscaler", "shop", "web", odd_max)
    web, api = ObjectRef("Deployment", "web", "shop"), ObjectRef("Deployment", "api", "shop")
    # None would say web has no HPA: the scaling loop would then drive its replicas.
    with pytest.raises(BadObjectError, match="Deployment/shop/web: an HPA that may scale it"):
        cluster.get_hpa_for(web)
    assert cluster.get_hpa_for(api) is None  # it targets another workload

    def no_target(obj: dict[str, Any]) -> None:
        obj["spec"]["scaleTargetRef"] = "web"

    fake.store.modify("HorizontalPodAutoscaler", "shop", "web", no_target)
    with pytest.raises(BadObjectError):  # whom it scales cannot be told
        cluster.get_hpa_for(api)


def test_a_budget_that_cannot_be_read_makes_the_budgets_unread(
    fake: FakeApiServer, cluster: KubernetesCluster
) -> None:
    seed_pdb(fake.store, "web", app="web", namespace="shop", max_unavailable=0)
    seed_pdb(fake.store, "api", app="api", namespace="shop", max_unavailable=1)

    def odd_selector(obj: dict[str, Any]) -> None:
        obj["spec"]["selector"]["matchLabels"] = {"app": "web", "tier": 3}

    fake.store.modify("PodDisruptionBudget", "shop", "web", odd_selector)
    read = cluster.read_disruption_budgets()
    assert [b.ref.name for b in read.budgets] == ["api"]
    # Not "no budget covers web": the drain's plan says it cannot tell.
    assert read.unread is not None and "PodDisruptionBudget shop/web" in read.unread


def test_a_listing_names_what_it_left_out_for_the_snapshot(
    fake: FakeApiServer, cluster: KubernetesCluster
) -> None:
    """Asked, a listing names each object it left out (as far as it can be named), so the
    engine's snapshot holds it as unread, not as absent: a Node left out is no Node
    deleted, and a drain's nodeDrained check does not pass over it or its pods."""
    seed_node(fake.store, "node-1")
    seed_node(fake.store, "node-2")
    seed_deployment(fake.store, "web", namespace="shop", replicas=2, nodes=("node-1",))
    seed_deployment(fake.store, "api", namespace="shop", replicas=1, nodes=("node-2",))

    def odd_labels(obj: dict[str, Any]) -> None:
        obj["metadata"]["labels"] = ["app", "web"]

    def odd_replicas(obj: dict[str, Any]) -> None:
        obj["spec"]["replicas"] = -1

    def odd_restarts(obj: dict[str, Any]) -> None:
        obj["status"]["containerStatuses"][0]["restartCount"] = -1

    def cordoned(obj: dict[str, Any]) -> None:
        obj["spec"]["unschedulable"] = True

    fake.store.modify("Node", "", "node-2", odd_labels)
    fake.store.modify("Node", "", "node-1", cordoned)
    fake.store.modify("Deployment", "shop", "api", odd_replicas)
    web_pods = [p for p in fake.store.objects("Pod", "shop") if "web" in p["metadata"]["name"]]
    for pod in web_pods:
        fake.store.modify("Pod", "shop", pod["metadata"]["name"], odd_restarts)
    unread: list[UnreadObject] = []
    snapshot = ClusterSnapshot(
        workloads=tuple(cluster.list_workloads(unread=unread)),
        pods=tuple(cluster.list_pods(unread=unread)),
        nodes=tuple(cluster.list_nodes(unread=unread)),
        unread=tuple(unread),
    )
    assert sorted(str(u.ref) for u in unread) == sorted(
        [
            "Deployment/shop/api",
            "Node/node-2",
            *(f"Pod/shop/{p['metadata']['name']}" for p in web_pods),
        ]
    )
    bad_pod = next(u for u in unread if u.ref.kind == "Pod")
    assert bad_pod.node == "node-1"
    assert bad_pod.owner == ObjectRef("Deployment", "web", "shop")
    assert "restartCount is -1" in bad_pod.why
    assert [p.node for p in snapshot.pods] == ["node-2"]  # nothing readable on node-1
    for name, said in [("node-2", "Node/node-2 could not be read"), ("node-1", "pods on")]:
        check = RenderedCheck("kubernetes", ObjectRef("Node", name), condition_name="nodeDrained")
        result = evaluate_kubernetes_check(check, snapshot)
        assert (result.outcome, result.reason_code) == ("inconclusive", "ObjectUnread")
        assert said in result.message, result.message
    # Without the names, as before: node-2 read as deleted, node-1 as drained.
    blind = ClusterSnapshot(workloads=snapshot.workloads, nodes=snapshot.nodes)
    check = RenderedCheck("kubernetes", ObjectRef("Node", "node-2"), condition_name="nodeDrained")
    assert evaluate_kubernetes_check(check, blind).outcome == "pass"


def test_a_node_left_out_keeps_the_labels_that_could_be_read(
    fake: FakeApiServer, cluster: KubernetesCluster
) -> None:
    """A Node left out for one odd label keeps the others, and names the odd one's key:
    a runbook's target can tell by them whether it may act on it. One whose labels are
    no map at all has none (not known)."""
    for name in ("node-1", "node-2"):
        seed_node(fake.store, name)

    def odd_value(obj: dict[str, Any]) -> None:
        obj["metadata"]["labels"] = {"pool": "gpu", "zone": 3}

    def no_map(obj: dict[str, Any]) -> None:
        obj["metadata"]["labels"] = ["pool", "gpu"]

    fake.store.modify("Node", "", "node-1", odd_value)
    fake.store.modify("Node", "", "node-2", no_map)
    unread: list[UnreadObject] = []
    assert cluster.list_nodes(unread=unread) == []
    told = {u.ref.name: (u.labels, u.odd_labels) for u in unread}
    assert told == {"node-1": ((("pool", "gpu"),), ("zone",)), "node-2": (None, ())}


# What was left out is told to the daemon's metrics, not only to the log.


def test_each_object_left_out_is_told_to_the_hook_by_kind_at_every_pass(
    fake: FakeApiServer, api_client: Any
) -> None:
    seed_node(fake.store, "node-1")
    seed_node(fake.store, "node-2")
    seed_deployment(fake.store, "web", namespace="shop", replicas=1, nodes=("node-1",))
    seed_hpa(fake.store, "web", target="web", namespace="shop")
    seed_pdb(fake.store, "web", app="web", namespace="shop", max_unavailable=0)

    def odd_labels(obj: dict[str, Any]) -> None:
        obj["metadata"]["labels"] = ["app", "web"]

    def odd_max(obj: dict[str, Any]) -> None:
        obj["spec"]["maxReplicas"] = "1e3"

    def odd_selector(obj: dict[str, Any]) -> None:
        obj["spec"]["selector"]["matchLabels"] = {"app": "web", "tier": 3}

    fake.store.modify("Node", "", "node-2", odd_labels)
    fake.store.modify("HorizontalPodAutoscaler", "shop", "web", odd_max)
    fake.store.modify("PodDisruptionBudget", "shop", "web", odd_selector)
    told: list[str] = []
    cluster = KubernetesCluster(api_client, identity="autonomic-test", on_unread=told.append)
    assert [n.ref.name for n in cluster.list_nodes()] == ["node-1"]
    assert told == ["Node"]
    cluster.list_nodes()  # the same object, met again: counted again (said once)
    assert told == ["Node", "Node"]
    with pytest.raises(BadObjectError):
        cluster.get_hpa_for(ObjectRef("Deployment", "web", "shop"))
    assert cluster.read_disruption_budgets().unread is not None
    assert [w.ref.name for w in cluster.list_workloads("shop")] == ["web"]  # all readable
    assert told == ["Node", "Node", "HorizontalPodAutoscaler", "PodDisruptionBudget"]
    assert cluster.objects_skipped == len(told)


def test_the_daemon_counts_what_its_cluster_left_out_in_its_metrics(
    fake: FakeApiServer, tmp_path: Path
) -> None:
    seed_node(fake.store, "node-1")
    seed_node(fake.store, "node-2")

    def odd_labels(obj: dict[str, Any]) -> None:
        obj["metadata"]["labels"] = ["app", "web"]

    fake.store.modify("Node", "", "node-2", odd_labels)
    port = free_port()
    settings = load_settings(daemon_config(tmp_path, port), {})
    daemon, runtime = build_daemon(settings, {}, kube_host=fake.url)
    assert runtime.server is not None
    runtime.server.start()
    try:
        reader = daemon.engine.reader
        assert isinstance(reader, KubernetesCluster)
        for _ in range(2):  # as two remediation cycles' snapshots would
            assert [n.ref.name for n in reader.list_nodes()] == ["node-1"]
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=3) as response:
            text = response.read().decode()
    finally:
        runtime.stop()
    assert 'autonomic_kube_objects_unread_total{kind="Node"} 2.0' in text, text
