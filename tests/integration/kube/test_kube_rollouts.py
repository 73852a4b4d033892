"""Argo Rollouts through the real client: read through the ``CustomObjectsApi``
(``argoproj.io/v1alpha1`` rollouts) like the built-in workload kinds, scaled through
their scale subresource with compare-and-set, limited by ``cluster.namespaces`` and
``excludeNamespaces``, and optional: a cluster without the CRD (404) or without the
RBAC to list them (403) reads every other kind as before, and says so once."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest

from agent.adapters.kubernetes import KubernetesCluster, load_api_client
from agent.errors import PermanentError, TransientError
from remediation.ports import ObjectRef, Scale
from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.fakekube.seed import seed_deployment, seed_hpa, seed_node, seed_rollout
from tests.integration.kube.conftest import FAST, eventually
from tests.integration.kube.test_fakekube_protocol import request, status_body

WEB = ObjectRef("Rollout", "web", "shop")
ROLLOUTS = "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts"
MERGE = {"Content-Type": "application/merge-patch+json"}


def stored_replicas(fake: FakeApiServer, name: str = "web", namespace: str = "shop") -> int:
    (rollout,) = [
        r for r in fake.store.objects("Rollout", namespace) if r["metadata"]["name"] == name
    ]
    replicas: int = rollout["spec"]["replicas"]
    return replicas


def cluster_of(fake: FakeApiServer, **options: Any) -> KubernetesCluster:
    return KubernetesCluster(
        load_api_client(host=fake.url),
        policy=FAST,
        sleep=lambda _s: None,
        resync_seconds=options.pop("resync_seconds", 30),
        watch_timeout=5,
        **options,
    )


def test_a_rollout_reads_as_a_workload_and_owns_its_pods(
    fake: FakeApiServer, cluster: KubernetesCluster
) -> None:
    seed_node(fake.store, "node-1")
    seed_rollout(fake.store, "web", namespace="shop", replicas=3, image="web:v7")
    seed_deployment(fake.store, "api", namespace="shop", replicas=2)
    seed_hpa(fake.store, "web", target="web", namespace="shop", kind="Rollout", min_replicas=3)
    for started in (False, True):
        if started:
            assert cluster.start(wait=5)
        workload = cluster.get_workload(WEB)
        assert workload is not None
        assert (workload.replicas, workload.ready_replicas, workload.available_replicas) == (
            3,
            3,
            3,
        )
        assert workload.selector == {"app": "web"}
        assert workload.containers[0].image == "web:v7"
        assert workload.revision == 1  # rollout.argoproj.io/revision
        assert workload.observed_generation == 1  # "1", a string, as Argo writes it
        assert {str(w.ref) for w in cluster.list_workloads("shop")} == {
            "Deployment/shop/api",
            "Rollout/shop/web",
        }
        pods = cluster.list_pods("shop", {"app": "web"})
        assert len(pods) == 3 and {p.owner for p in pods} == {WEB}
        hpa = cluster.get_hpa_for(WEB)
        assert hpa is not None and hpa.target == WEB and hpa.min_replicas == 3
        assert cluster.get_hpa_for(ObjectRef("Deployment", "web", "shop")) is None


def test_a_rollout_is_scaled_through_its_scale_subresource_and_undone(
    fake: FakeApiServer, cluster: KubernetesCluster
) -> None:
    seed_rollout(fake.store, "web", namespace="shop", replicas=3)
    dry = cluster.apply(Scale(WEB, 5), dry_run=True)
    assert dry.dry_run and "Rollout/shop/web: replicas 3 -> 5" in dry.summary
    assert stored_replicas(fake) == 3
    result = cluster.apply(Scale(WEB, 5, expected=3))
    assert result.before["replicas"] == 3 and result.after == {"replicas": 5}
    assert stored_replicas(fake) == 5
    scale_calls = {(r.verb, r.resource) for r in fake.requests if r.resource == "rollouts/scale"}
    assert scale_calls == {("get", "rollouts/scale"), ("patch", "rollouts/scale")}
    undone = cluster.undo(Scale(WEB, 5), result.before)
    assert "replicas 5 -> 3" in undone.summary and stored_replicas(fake) == 3


def test_a_rollout_scaled_since_the_decision_is_not_written(
    fake: FakeApiServer, cluster: KubernetesCluster
) -> None:
    seed_rollout(fake.store, "web", namespace="shop", replicas=4)
    with pytest.raises(PermanentError) as refused:
        cluster.apply(Scale(WEB, 8, expected=3))
    assert refused.value.reason == "ChangedSinceDecision"
    assert stored_replicas(fake) == 4
    assert not [r for r in fake.requests if r.verb == "patch"]


def test_a_change_while_the_scale_write_is_in_flight_is_a_conflict_read_again(
    fake: FakeApiServer, cluster: KubernetesCluster
) -> None:
    """The write carries the resourceVersion its read saw: someone scaling the Rollout
    in between makes it a 409, and the retry finds their count, so with ``expected``
    the loop's write is not made over it."""
    seed_rollout(fake.store, "web", namespace="shop", replicas=3)
    fake.inject(r"/rollouts/web/scale$", method="PATCH", delay=0.3, times=1)
    timer = threading.Timer(
        0.1, lambda: fake.store.modify("Rollout", "shop", "web",
                                       lambda r: r["spec"].update(replicas=4)),
    )  # fmt: skip
    timer.start()
    with pytest.raises(PermanentError) as refused:
        cluster.apply(Scale(WEB, 6, expected=3))
    timer.join()
    assert refused.value.reason == "ChangedSinceDecision"
    assert [r.status for r in fake.requests if r.verb == "patch"] == [409]
    assert stored_replicas(fake) == 4


def test_rollouts_honour_namespaces_and_exclusions(fake: FakeApiServer) -> None:
    for namespace in ("a", "b", "c", "kube-system"):
        seed_rollout(fake.store, "web", namespace=namespace, replicas=1)
    for verb in ("list", "watch"):  # what RoleBindings alone allow
        fake.forbid(verb, "rollouts", "argoproj.io", namespace="")
    scoped = cluster_of(fake, namespaces=("a", "b"))
    unscoped = cluster_of(fake, exclude_namespaces=("kube-system", "c"))
    try:
        for cluster in (scoped, unscoped):
            for started in (False, True):
                if started:
                    assert cluster.start(wait=5)
                rollouts = {w.ref for w in cluster.list_workloads() if w.ref.kind == "Rollout"}
                assert {r.namespace for r in rollouts} == {"a", "b"}
                assert cluster.get_workload(ObjectRef("Rollout", "web", "c")) is None
            fake.allow_all()  # the unscoped one lists across namespaces, less the excluded
        scoped_calls = {
            (r.verb, r.namespace)
            for r in fake.requests
            if r.resource == "rollouts" and r.verb in ("list", "watch") and r.status == 200
        }
        assert ("list", "a") in scoped_calls and ("watch", "b") in scoped_calls
        assert not [r for r in fake.requests if r.resource == "rollouts" and r.status == 403]
    finally:
        scoped.stop()
        unscoped.stop()


def test_without_the_crd_every_other_kind_is_read_and_it_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = start_fake_apiserver(bookmark_interval=0.2, argo_rollouts=False)
    seed_deployment(fake.store, "api", namespace="shop", replicas=2)
    cluster = cluster_of(fake, namespaces=("shop", "other"))
    try:
        with caplog.at_level(logging.INFO, logger="autonomic.kubernetes.cache"):
            for _ in range(3):  # direct LISTs before start(), each answered 404
                assert [str(w.ref) for w in cluster.list_workloads()] == ["Deployment/shop/api"]
            assert cluster.get_workload(WEB) is None
            assert cluster.start(wait=5)
            assert cluster.staleness() < 5
            assert [str(w.ref) for w in cluster.list_workloads()] == ["Deployment/shop/api"]
        answers = {(r.verb, r.status) for r in fake.requests if r.resource == "rollouts"}
        assert answers == {("list", 404), ("get", 404)}
        said = [r for r in caplog.records]
        assert [r.levelno for r in said] == [logging.INFO]  # one line for both namespaces
        assert said[0].getMessage() == (
            "the API server does not serve rollouts.argoproj.io/v1alpha1 (Argo Rollouts is "
            "not installed): Rollouts are not read; the other kinds carry on"
        )
    finally:
        cluster.stop()
        fake.stop()


def test_rollouts_installed_later_are_picked_up_at_the_next_resync(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = start_fake_apiserver(bookmark_interval=0.2, argo_rollouts=False)
    seed_rollout(fake.store, "web", namespace="shop", replicas=2)  # stored, not served
    cluster = cluster_of(fake, resync_seconds=0.5)
    try:
        with caplog.at_level(logging.INFO, logger="autonomic.kubernetes.cache"):
            assert cluster.start(wait=5)
            assert cluster.list_workloads() == []
            fake.install("argoproj.io")
            eventually(lambda: [str(w.ref) for w in cluster.list_workloads()] == [str(WEB)])
            fake.store.modify("Rollout", "shop", "web", lambda r: r["spec"].update(replicas=6))
            # and watched from then on
            eventually(lambda: cluster.list_workloads()[0].replicas == 6)
        said = [r.getMessage() for r in caplog.records]
        assert len(said) == 2
        assert "does not serve rollouts.argoproj.io/v1alpha1" in said[0]
        assert said[1] == "Rollouts are read now (rollouts.argoproj.io answers)"
    finally:
        cluster.stop()
        fake.stop()


def test_rollouts_forbidden_in_one_namespace_are_named_once_there(
    fake: FakeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    for namespace in ("a", "b"):
        seed_rollout(fake.store, "web", namespace=namespace, replicas=1)
    fake.forbid("list", "rollouts", "argoproj.io", namespace="b")
    cluster = cluster_of(fake, namespaces=("a", "b"))
    try:
        with caplog.at_level(logging.INFO, logger="autonomic.kubernetes.cache"):
            for _ in range(2):
                cluster.list_workloads()
            assert cluster.start(wait=5)
            refs = {str(w.ref) for w in cluster.list_workloads()}
        assert refs == {"Rollout/a/web"}
        (warning,) = caplog.records
        assert warning.levelno == logging.WARNING
        message = warning.getMessage()
        assert message.startswith("Rollouts in namespace b are not read, so not scaled: ")
        assert "Grant verb 'list' on resource 'rollouts' in API group 'argoproj.io'" in message
    finally:
        cluster.stop()


def test_a_forbidden_rollout_scale_names_the_permission(
    fake: FakeApiServer, cluster: KubernetesCluster
) -> None:
    seed_rollout(fake.store, "web", namespace="shop", replicas=3)
    fake.forbid("patch", "rollouts/scale", "argoproj.io")
    with pytest.raises(PermanentError) as refused:
        cluster.apply(Scale(WEB, 5))
    assert refused.value.reason == "Forbidden"
    assert "verb 'patch' on resource 'rollouts/scale' in API group 'argoproj.io'" in str(
        refused.value
    )


def test_an_unreachable_api_is_not_taken_for_a_missing_crd(fake: FakeApiServer) -> None:
    """Only 404 and 403 make Rollouts optional: a 503 is an outage, raised as usual."""
    fake.inject(r"/apis/argoproj.io/", method="GET", times=10, status=503)
    cluster = cluster_of(fake)
    try:
        with pytest.raises(TransientError):
            cluster.list_workloads()
    finally:
        cluster.stop()


# ------------------------------------------------------------ the fake API server


def test_the_fake_serves_a_rollouts_scale_as_its_crd_declares_it(fake: FakeApiServer) -> None:
    """Argo Rollouts' CRD: ``specReplicasPath: .spec.replicas``, ``statusReplicasPath:
    .status.HPAReplicas``, ``labelSelectorPath: .status.selector``."""
    seed_rollout(fake.store, "web", namespace="shop", replicas=3)
    fake.store.modify("Rollout", "shop", "web", lambda r: r["status"].update(HPAReplicas=2))
    scale = json.loads(request(fake, "GET", f"{ROLLOUTS}/web/scale").data)
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 3}
    assert scale["status"] == {"replicas": 2, "selector": "app=web"}
    stale = {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 4}}
    conflict = status_body(request(fake, "PATCH", f"{ROLLOUTS}/web/scale", stale, **MERGE))
    assert conflict["code"] == 409 and "rollouts.argoproj.io" in conflict["message"]
    stale_put = status_body(request(fake, "PUT", f"{ROLLOUTS}/web/scale", stale))
    assert stale_put["code"] == 409 and stored_replicas(fake) == 3
    fresh = {"metadata": {"resourceVersion": scale["metadata"]["resourceVersion"]}}
    replaced = request(fake, "PUT", f"{ROLLOUTS}/web/scale", {**fresh, "spec": {"replicas": 4}})
    assert replaced.status == 200 and stored_replicas(fake) == 4
    negative = status_body(
        request(fake, "PUT", f"{ROLLOUTS}/web/scale", {"spec": {"replicas": -1}})
    )
    assert negative["code"] == 422
    listed = json.loads(request(fake, "GET", ROLLOUTS).data)
    # Custom resources' list items keep their kind (built-in kinds' do not).
    assert listed["kind"] == "RolloutList" and listed["items"][0]["kind"] == "Rollout"


def test_the_fake_without_the_crd_answers_404_for_the_group() -> None:
    fake = start_fake_apiserver(argo_rollouts=False)
    try:
        seed_rollout(fake.store, "web", namespace="shop")
        for path in (ROLLOUTS, f"{ROLLOUTS}/web", f"{ROLLOUTS}/web/scale"):
            body = status_body(request(fake, "GET", path))
            assert body["reason"] == "NotFound"
            assert body["message"] == "the server could not find the requested resource"
        assert request(fake, "GET", "/apis/apps/v1/namespaces/shop/deployments").status == 200
        fake.install("argoproj.io")
        assert request(fake, "GET", f"{ROLLOUTS}/web").status == 200
        fake.uninstall("argoproj.io")
        assert request(fake, "GET", f"{ROLLOUTS}/web").status == 404
    finally:
        fake.stop()
