"""Reads through the real client: direct LISTs, watch caches, resume after faults,
and the mapping of API errors to Autonomic's error families."""

from __future__ import annotations

import gc
import time
import weakref
from typing import Any

import pytest

from agent.adapters.kube_cache import WatchCache
from agent.adapters.kube_errors import ObjectGoneError, PermissionDeniedError, RetryPolicy
from agent.adapters.kube_state import parse_time
from agent.adapters.kubernetes import REQUIRED_RBAC, KubernetesCluster, load_api_client
from agent.errors import TransientError
from remediation.ports import (
    Cordon,
    DeletePod,
    Drain,
    EvictPod,
    ExpandVolume,
    ObjectRef,
    PatchResources,
    PauseRollout,
    RollbackToPrevious,
    RolloutRestart,
    Scale,
    SetHpaMaxReplicas,
    SetHpaMinReplicas,
    SetImages,
)
from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.fakekube.seed import (
    seed_claim,
    seed_deployment,
    seed_hpa,
    seed_node,
    seed_pdb,
    seed_rollout,
    seed_statefulset,
    seed_storage_class,
)
from tests.integration.kube.conftest import FAST, eventually

WEB = ObjectRef("Deployment", "web", "shop")


def test_direct_reads_resolve_owners_and_states(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    crashing = shop["pods"][0]["metadata"]["name"]

    def crash(pod: dict[str, Any]) -> None:
        status = pod["status"]["containerStatuses"][0]
        status.update(restartCount=4, state={"waiting": {"reason": "CrashLoopBackOff"}},
                      lastState={"terminated": {"reason": "OOMKilled"}})  # fmt: skip
        pod["status"]["conditions"][1]["status"] = "False"

    fake.store.modify("Pod", "shop", crashing, crash)
    fake.store.modify("Node", "", "node-2", lambda n: n["status"]["conditions"][0].update(
        status="Unknown"))  # fmt: skip
    seed_statefulset(fake.store, "db", namespace="shop", replicas=1)

    workload = cluster.get_workload(WEB)
    assert workload is not None and workload.revision == 3 and workload.replicas == 3
    assert workload.containers[0].image == "web:v3"
    assert workload.containers[0].requests == {"cpu": "100m", "memory": "128Mi"}
    assert workload.last_rollout_at is not None
    (web,) = [d for d in fake.store.objects("Deployment", "shop") if d["metadata"]["name"] == "web"]
    assert workload.uid and workload.uid == web["metadata"]["uid"]
    assert cluster.get_workload(ObjectRef("Deployment", "nope", "shop")) is None
    kinds = [w.ref.kind for w in cluster.list_workloads("shop")]
    assert sorted(kinds) == ["Deployment", "StatefulSet"]

    pods = {p.ref.name: p for p in cluster.list_pods("shop", {"app": "web"})}
    assert len(pods) == 3 and all(p.owner == WEB for p in pods.values())
    bad = pods[crashing]
    assert (bad.ready, bad.restarts, bad.waiting_reason, bad.last_termination_reason) == (
        False, 4, "CrashLoopBackOff", "OOMKilled")  # fmt: skip
    db_pod = cluster.list_pods("shop", {"app": "db"})[0]
    assert db_pod.owner == ObjectRef("StatefulSet", "db", "shop")

    nodes = {n.ref.name: n for n in cluster.list_nodes()}
    assert nodes["node-1"].ready and not nodes["node-2"].ready
    assert nodes["node-2"].not_ready_since is not None
    assert nodes["node-2"].conditions["Ready"] == "Unknown"

    hpa = cluster.get_hpa_for(WEB)
    assert hpa is not None and hpa.min_replicas == 2 and hpa.target == WEB
    assert cluster.get_hpa_for(ObjectRef("StatefulSet", "db", "shop")) is None


def test_an_hpas_owner_uid_and_rivals_are_read(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    """What the scaling loop needs to leave an HPA alone: the controller that owns it
    (KEDA's ScaledObject), its uid (a recreated HPA is a new one), and the other HPAs
    that target the same workload (the HPA controller then scales with none)."""
    (hpa,) = fake.store.objects("HorizontalPodAutoscaler", "shop")
    name = hpa["metadata"]["name"]
    plain = cluster.get_hpa_for(WEB)
    assert plain is not None and plain.controller is None and plain.shared_with == ()
    assert plain.uid == hpa["metadata"]["uid"]

    def keda_owns(obj: dict[str, Any]) -> None:
        obj["metadata"]["ownerReferences"] = [
            {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": "web",
             "uid": "u-1", "controller": True, "blockOwnerDeletion": True}
        ]  # fmt: skip

    fake.store.modify("HorizontalPodAutoscaler", "shop", name, keda_owns)
    owned = cluster.get_hpa_for(WEB)
    assert owned is not None and owned.controller == "ScaledObject/web"
    seed_hpa(fake.store, "zz-web-extra", target="web", namespace="shop")
    seed_hpa(fake.store, "a-web-extra", target="web", namespace="shop")
    found = cluster.get_hpa_for(WEB)
    assert found is not None and found.ref.name == "a-web-extra"  # the first by name
    assert found.shared_with == tuple(sorted([name, "zz-web-extra"]))


def test_caches_follow_changes(fake: FakeApiServer, cluster: KubernetesCluster, shop: Any):
    assert cluster.start(wait=5)
    fake.clear_requests()
    assert len(cluster.list_pods("shop")) == 3
    assert not [r for r in fake.requests if r.verb == "list"]  # served from the caches
    fake.store.modify("Deployment", "shop", "web", lambda d: d["spec"].update(replicas=7))
    eventually(lambda: (w := cluster.get_workload(WEB)) is not None and w.replicas == 7)
    victim = shop["pods"][0]["metadata"]["name"]
    cluster.apply(EvictPod(ObjectRef("Pod", victim, "shop")))
    eventually(lambda: victim not in {p.ref.name for p in cluster.list_pods("shop")})
    assert cluster.staleness() < 5


@pytest.fixture
def pod_cache(fake: FakeApiServer, cluster: KubernetesCluster) -> Any:
    cache = WatchCache(cluster.api, "Pod", None, watch_timeout=30, backoff_initial=0.05)
    yield cache
    cache.stop()


def test_cache_resumes_after_disconnect(fake: FakeApiServer, pod_cache: WatchCache) -> None:
    seed_deployment(fake.store, "web", namespace="shop", replicas=2)
    pod_cache.start()
    assert pod_cache.wait_synced(5)
    eventually(lambda: fake.open_watches >= 1)
    fake.disconnect_watches()
    seed_deployment(fake.store, "api", namespace="shop", replicas=1)
    eventually(lambda: len(pod_cache.items()) == 3)
    # Resumed from the last resourceVersion (tests/integration/kube/test_watch_resume.py
    # covers this in depth): no second list.
    assert pod_cache.stats.disconnects >= 1 and pod_cache.stats.resumes >= 1
    assert pod_cache.stats.lists == 1


def test_cache_relists_after_410_gone(fake: FakeApiServer, pod_cache: WatchCache) -> None:
    seed_deployment(fake.store, "web", namespace="shop", replicas=2)
    # Hold the first watch request so that history is compacted between list and watch.
    fake.inject(r"/api/v1/pods$", method="GET", delay=0.0, times=1)  # the list: no delay
    fake.inject(r"/api/v1/pods$", method="GET", delay=0.5, times=1)  # the watch: delayed
    pod_cache.start()
    assert pod_cache.wait_synced(5)
    fake.store.modify("Pod", "shop", pod_cache.items()[0]["metadata"]["name"],
                      lambda p: p["metadata"]["labels"].update(seen="yes"))  # fmt: skip
    fake.store.compact()
    eventually(lambda: pod_cache.stats.expired >= 1)
    eventually(lambda: any(p["metadata"]["labels"].get("seen") for p in pod_cache.items()))
    assert pod_cache.stats.lists >= 2


def test_cache_backs_off_while_server_errors(fake: FakeApiServer, pod_cache: WatchCache):
    fake.inject(r"/api/v1/pods$", method="GET", status=500, times=20)
    pod_cache.start()
    eventually(lambda: pod_cache.stats.errors >= 2)
    assert not pod_cache.synced
    fake.clear_faults()
    assert pod_cache.wait_synced(10)


# ----------------------------------------------------------------- error mapping


def test_transient_errors_are_retried_then_succeed(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any, sleeps: list[float]
) -> None:
    fake.inject(r"/deployments/web/scale$", method="GET", status=503, times=1)
    fake.inject(r"/deployments/web/scale$", method="PATCH", status=429, times=1)
    assert cluster.apply(Scale(WEB, 4)).after == {"replicas": 4}
    assert len(sleeps) == 2 and all(0 < s <= 1 for s in sleeps)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [({"status": 500}, "HTTP 500"), ({"status": 429}, "HTTP 429"), ({"drop": True}, "network")],
)
def test_persistent_transient_errors_become_transient_error(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any, sleeps: list[float],
    fault: dict[str, Any], expected: str,
) -> None:  # fmt: skip
    fake.inject(r"/deployments/web/scale$", times=10, **fault)
    with pytest.raises(TransientError) as failed:
        cluster.apply(Scale(WEB, 4))
    assert expected in str(failed.value) and "gave up after 3 attempts" in str(failed.value)
    assert len(sleeps) == 2  # bounded: attempts - 1 backoffs
    assert stored_replicas(fake) == 3


@pytest.mark.parametrize("fault", [{"status": 500}, {"drop": True}])
def test_a_failed_call_is_freed_without_the_cyclic_collector(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any, sleeps: list[float],
    fault: dict[str, Any],
) -> None:  # fmt: skip
    """The error of a call that gave up (and the client's exception it was raised from)
    is freed as soon as the caller lets go of it, not left in a reference cycle until
    the cyclic garbage collector runs: while the API server fails, every call does. (A
    dropped connection's urllib3 exception makes a cycle of its own, in urllib3.)"""
    fake.inject(r"/deployments/web/scale$", times=10, **fault)
    gc.collect()
    gc.disable()
    try:
        with pytest.raises(TransientError) as failed:
            cluster.apply(Scale(WEB, 4))
        error, cause = weakref.ref(failed.value), weakref.ref(failed.value.__cause__)
        assert error() is not None and cause() is not None
        del failed
        assert error() is None, "the error lives on in a reference cycle"
        if "status" in fault:
            assert cause() is None, "the client's exception lives on in a reference cycle"
    finally:
        gc.enable()


def test_timeouts_become_transient_error(fake: FakeApiServer, api_client: Any, shop: Any):
    policy = RetryPolicy(attempts=2, base_delay=0.01, request_timeout=(0.3, 0.3))
    cluster = KubernetesCluster(api_client, policy=policy, sleep=lambda s: None)
    fake.inject(r"/deployments/web/scale$", delay=0.6, times=2)  # slower than the timeout
    started = time.monotonic()
    with pytest.raises(TransientError) as timed_out:
        cluster.apply(Scale(WEB, 4))
    assert "network failure" in str(timed_out.value) and "2 attempts" in str(timed_out.value)
    assert time.monotonic() - started < 2


def test_forbidden_names_the_missing_permission(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    fake.forbid("patch", "deployments/scale", group="apps", namespace="shop")
    with pytest.raises(PermissionDeniedError) as denied:
        cluster.apply(Scale(WEB, 4))
    error = denied.value
    assert (error.verb, error.group, error.resource, error.namespace) == (
        "patch", "apps", "deployments/scale", "shop")  # fmt: skip
    assert "Grant verb 'patch' on resource 'deployments/scale'" in str(error)
    assert error.reason == "Forbidden"


def test_not_found_is_gone(fake: FakeApiServer, cluster: KubernetesCluster) -> None:
    with pytest.raises(ObjectGoneError) as gone:
        cluster.apply(Scale(ObjectRef("Deployment", "ghost", "shop"), 2))
    assert "no longer exists" in str(gone.value)


def stored_replicas(fake: FakeApiServer) -> int:
    replicas: int = fake.store.objects("Deployment", "shop")[0]["spec"]["replicas"]
    return replicas


# ------------------------------------------------------------------------- RBAC


def test_required_rbac_is_exactly_what_the_adapter_calls() -> None:
    """Run every read and write; the (group, resource, verb) triples requested must be
    covered by REQUIRED_RBAC, and every permission REQUIRED_RBAC grants must be used."""
    server = start_fake_apiserver(bookmark_interval=0.2)
    store = server.store
    seed_node(store, "node-1")
    seed_deployment(store, "web", namespace="shop", replicas=3, images=("web:v1", "web:v2"))
    seed_statefulset(store, "db", namespace="shop")
    seed_pdb(store, "web", app="web", namespace="shop", max_unavailable=1)
    seed_hpa(store, "web", target="web", namespace="shop")
    seed_rollout(store, "front", namespace="shop", replicas=2)
    seed_storage_class(store, "fast")
    seed_claim(store, "data", namespace="shop", storage_class="fast")
    db = ObjectRef("StatefulSet", "db", "shop")
    front = ObjectRef("Rollout", "front", "shop")
    node = ObjectRef("Node", "node-1")
    pod = ObjectRef("Pod", store.objects("Pod", "shop")[0]["metadata"]["name"], "shop")
    other = ObjectRef("Pod", store.objects("Pod", "shop")[1]["metadata"]["name"], "shop")
    hpa = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
    operations = [
        Scale(WEB, 4),
        Scale(db, 3),
        Scale(front, 3),
        SetHpaMinReplicas(hpa, 3),
        SetHpaMaxReplicas(hpa, 12),
        SetImages(WEB, {"web": "web:v3"}),
        EvictPod(other),
        RolloutRestart(WEB),
        RollbackToPrevious(WEB),
        PauseRollout(WEB, paused=False),
        PatchResources(db, "db", requests={"cpu": "1"}),
        DeletePod(pod),
        Cordon(node),
        Drain(node, timeout_seconds=0.5),
        ExpandVolume(ObjectRef("PersistentVolumeClaim", "data", "shop"), "15Gi"),
    ]
    cluster = KubernetesCluster(load_api_client(host=server.url), policy=FAST, sleep=lambda s: None)
    try:
        cluster.list_workloads()
        assert cluster.start(wait=5)
        assert [c.expandable for c in cluster.list_volume_claims()] == [True]
        results = {type(op).__name__: cluster.apply(op) for op in operations}
        for name in ("SetHpaMaxReplicas", "SetImages", "EvictPod"):
            assert results[name].changed, name
        # An undo reads and writes through the same calls as the write it undoes.
        undone = SetHpaMaxReplicas(hpa, 14)
        before = cluster.snapshot(undone)
        cluster.apply(undone)
        assert cluster.undo(undone, before).changed
        cluster.post_event(WEB, "Test", "checking RBAC")
        cluster.recent_events(WEB, (pod,))  # a decision's Events: LISTs, no watch
        cluster.post_event(front, "Test", "checking RBAC")
        cluster.annotate(front, {"autonomic.dev/recommended-replicas": "3"})
        # slack.requireKubernetesAccess: a SubjectAccessReview per write an approval makes.
        assert cluster.api.review_access("alice", (), {"verb": "patch", "resource": "nodes"})
    finally:
        cluster.stop()
        server.stop()
    used = {(r.group, r.resource, r.verb) for r in server.requests}
    granted = {
        (rule.api_group, rule.resource, verb) for rule in REQUIRED_RBAC for verb in rule.verbs
    }
    assert used <= granted, f"calls not covered by REQUIRED_RBAC: {sorted(used - granted)}"
    assert granted <= used, f"REQUIRED_RBAC grants unused permissions: {sorted(granted - used)}"


def test_pod_start_up_times_and_the_hpas_usage_are_read(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    """What predictive scaling learns from when nobody configured it: a pod's creation
    and Ready times (its start-up), and the HPA's readings against its targets."""
    name = shop["pods"][1]["metadata"]["name"]
    (stored,) = [p for p in fake.store.objects("Pod", "shop") if p["metadata"]["name"] == name]
    created = stored["metadata"]["creationTimestamp"]

    def ready_at(pod: dict[str, Any]) -> None:
        for condition in pod["status"]["conditions"]:
            if condition["type"] == "Ready":
                condition["lastTransitionTime"] = "2030-01-01T00:02:05Z"

    fake.store.modify("Pod", "shop", name, ready_at)

    def readings(hpa: dict[str, Any]) -> None:
        cpu = {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}
        rps = {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "50"}}
        hpa["spec"]["metrics"] = [
            {"type": "Resource", "resource": cpu},
            {"type": "Pods", "pods": rps},
        ]
        cpu_now = {"name": "cpu", "current": {"averageUtilization": 56}}
        rps_now = {"metric": {"name": "rps"}, "current": {"averageValue": "45500m"}}
        hpa["status"]["currentMetrics"] = [
            {"type": "Resource", "resource": cpu_now},
            {"type": "Pods", "pods": rps_now},
        ]

    (hpa,) = fake.store.objects("HorizontalPodAutoscaler", "shop")
    fake.store.modify("HorizontalPodAutoscaler", "shop", hpa["metadata"]["name"], readings)

    def seen() -> bool:
        pod = {p.ref.name: p for p in cluster.list_pods("shop")}[name]
        found = cluster.get_hpa_for(WEB)
        return pod.ready_at is not None and found is not None and found.usage_ratio is not None

    eventually(seen)
    pod = {p.ref.name: p for p in cluster.list_pods("shop")}[name]
    assert pod.created_at == parse_time(created)
    assert pod.ready_at == parse_time("2030-01-01T00:02:05Z")
    read = cluster.get_hpa_for(WEB)
    assert read is not None
    # cpu 56 of 70 = 0.8; rps 45.5 of 50 = 0.91: the larger is the one that sizes it
    assert read.usage_ratio == pytest.approx(0.91)
