"""Every request the API server refuses (403) is counted where the operator's alert sees
it (``autonomic_kube_permission_denied_total``, by verb and resource), not only logged:
a watch or list of a cached kind, an Event posted, a request on the Lease. A watch that
keeps being refused backs off and says so once, not at every retry.

Through the real client against the fake API server (``fake.forbid`` answers 403 as
RBAC would), with the daemon's own ``Metrics`` as the adapters' ``on_refused``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.kube_cache import NamespacedCaches, WatchCache
from agent.adapters.kube_errors import PermissionDeniedError, RefusedByAdmissionError
from agent.adapters.kubernetes import REQUIRED_RBAC, KubernetesCluster, refusal_labels
from agent.daemon import build_daemon
from agent.errors import PermanentError
from agent.leader import LEADER_RBAC, LeaderElector, LeaseConfig
from agent.observability import Metrics
from agent.settings import load_settings
from remediation.ports import ObjectRef
from tests.fakekube import FakeApiServer
from tests.fakekube.seed import (
    seed_claim,
    seed_deployment,
    seed_hpa,
    seed_node,
    seed_rollout,
    seed_storage_class,
)
from tests.harness.servers import free_port
from tests.integration.daemon.served import daemon_config
from tests.integration.kube.conftest import FAST, eventually

METRIC = "autonomic_kube_permission_denied_total"
EVERY = set(refusal_labels((*REQUIRED_RBAC, *LEADER_RBAC)))


def refused(metrics: Metrics, verb: str, resource: str, optional: bool = False) -> float:
    labels = {"verb": verb, "resource": resource, "optional": str(optional).lower()}
    return metrics.registry.get_sample_value(METRIC, labels) or 0.0


def counted(metrics: Metrics) -> dict[tuple[str, str, bool], float]:
    """Every series of the counter above 0, by (verb, resource, optional)."""
    (family,) = [f for f in metrics.registry.collect() if f.name == METRIC.removesuffix("_total")]
    return {
        (s.labels["verb"], s.labels["resource"], s.labels["optional"] == "true"): s.value
        for s in family.samples
        if s.name == METRIC and s.value
    }


def statuses(fake: FakeApiServer, verb: str, resource: str) -> list[int]:
    return [r.status for r in fake.requests if (r.verb, r.resource) == (verb, resource)]


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def watched(api_client: Any, metrics: Metrics) -> Any:
    """A cluster adapter whose refusals the metrics count (the caches never started)."""
    cluster = KubernetesCluster(
        api_client,
        identity="autonomic-test",
        policy=FAST,
        sleep=lambda _s: None,
        resync_seconds=30,
        watch_timeout=5,
        on_refused=metrics.kube_refused,
    )
    yield cluster
    cluster.stop()


def refusal_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "autonomic.kubernetes.cache"
        and r.levelno == level
        and "not allowed to" in r.getMessage()  # a PermissionDeniedError's words
    ]


def test_a_refused_watch_is_counted_at_each_retry_and_said_once(
    fake: FakeApiServer,
    watched: KubernetesCluster,
    metrics: Metrics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The list is allowed, the watch is not (as the shipped ClusterRole grants events,
    here only a kind to refuse a watch of): each refused watch counts once, with its verb
    and resource; the warning naming the missing permission is written once, the retries
    at debug; after the grant the watch is healthy, and a new refusal is said again."""
    seed_node(fake.store, "node-1")
    fake.forbid("watch", "events")
    caplog.set_level(logging.DEBUG, logger="autonomic.kubernetes.cache")
    cache = WatchCache(
        watched.api, "Event", backoff_initial=0.01, backoff_max=0.02, watch_timeout=5
    )
    cache.start()
    try:
        eventually(lambda: cache.stats.failures_in_a_row >= 5)
        refusals = statuses(fake, "watch", "events")
        assert refusals and set(refusals) == {403}
        # each refused request counted once (the counter may be one ahead of the log
        # of requests read a moment before it)
        assert refused(metrics, "watch", "events") in (len(refusals), len(refusals) + 1)
        assert refused(metrics, "list", "events") == 0  # the lists were allowed
        assert cache.synced  # and served what they listed
        warnings = refusal_lines(caplog, logging.WARNING)
        assert len(warnings) == 1, warnings
        assert "watch events" in warnings[0] and "Grant verb 'watch'" in warnings[0]
        assert len(refusal_lines(caplog, logging.DEBUG)) >= 4

        fake.allow_all()
        eventually(lambda: cache.stats.failures_in_a_row == 0)
        fake.forbid("watch", "events")
        fake.disconnect_watches()
        eventually(lambda: len(refusal_lines(caplog, logging.WARNING)) == 2)
    finally:
        cache.stop()
    assert counted(metrics).keys() == {("watch", "events", False)}


def test_a_refused_list_of_a_cached_kind_is_counted_and_said_once(
    fake: FakeApiServer,
    watched: KubernetesCluster,
    metrics: Metrics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without list on HPAs their cache never syncs; the refusals count as
    ``list horizontalpodautoscalers.autoscaling``, said once, retried with back-off."""
    seed_deployment(fake.store, "web", namespace="shop", replicas=1)
    seed_hpa(fake.store, "web", target="web", namespace="shop")
    fake.forbid("list", "horizontalpodautoscalers", "autoscaling")
    caplog.set_level(logging.DEBUG, logger="autonomic.kubernetes.cache")
    cache = WatchCache(
        watched.api, "HorizontalPodAutoscaler", backoff_initial=0.01, backoff_max=0.02
    )
    cache.start()
    try:
        eventually(lambda: cache.stats.failures_in_a_row >= 4)
    finally:
        cache.stop()
    assert not cache.synced
    lists = statuses(fake, "list", "horizontalpodautoscalers")
    assert refused(metrics, "list", "horizontalpodautoscalers.autoscaling") == len(lists) >= 4
    assert len(refusal_lines(caplog, logging.WARNING)) == 1
    assert statuses(fake, "watch", "horizontalpodautoscalers") == []


def test_a_refusal_in_two_namespaces_is_said_once_in_each(
    fake: FakeApiServer,
    watched: KubernetesCluster,
    metrics: Metrics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With ``cluster.namespaces`` each namespace has its own cache (``NamespacedCaches``),
    and each remembers its own refusal: a Role missing in two namespaces is said once per
    namespace, not at every retry as the refusals take turns between them."""
    seed_hpa(fake.store, "web", target="web", namespace="shop")
    seed_hpa(fake.store, "web", target="web", namespace="cart")
    fake.forbid("list", "horizontalpodautoscalers", "autoscaling")
    caplog.set_level(logging.DEBUG, logger="autonomic.kubernetes.cache")
    caches = NamespacedCaches(
        WatchCache(
            watched.api, "HorizontalPodAutoscaler", ns, backoff_initial=0.01, backoff_max=0.02
        )
        for ns in ("shop", "cart")
    )
    caches.start()
    try:
        eventually(lambda: all(c.stats.failures_in_a_row >= 4 for c in caches.caches.values()))
    finally:
        caches.stop()
    warnings = refusal_lines(caplog, logging.WARNING)
    assert len(warnings) == 2, warnings
    said = sorted(ns for w in warnings for ns in ("shop", "cart") if f"namespace '{ns}'" in w)
    assert said == ["cart", "shop"], warnings
    assert len(refusal_lines(caplog, logging.DEBUG)) >= 6
    lists = statuses(fake, "list", "horizontalpodautoscalers")
    assert refused(metrics, "list", "horizontalpodautoscalers.autoscaling") == len(lists)


def test_an_optional_kind_refused_is_counted_apart_from_the_alert(
    fake: FakeApiServer, watched: KubernetesCluster, metrics: Metrics
) -> None:
    """Argo Rollouts not granted: the list is counted with ``optional="true"`` (the
    alert leaves those out), and the rest is as before: no Rollout, no failure."""
    seed_rollout(fake.store, "web", namespace="shop", replicas=1)
    fake.forbid("list", "rollouts", "argoproj.io")
    assert [w for w in watched.list_workloads() if w.ref.kind == "Rollout"] == []
    assert refused(metrics, "list", "rollouts.argoproj.io", optional=True) == 1
    # a Rollout scaled by a runbook is no optional read: that refusal alerts
    fake.forbid("get", "rollouts/scale", "argoproj.io")
    with pytest.raises(Exception, match="not allowed"):
        watched.api.read_scale("Rollout", "shop", "web")
    assert counted(metrics) == {
        ("list", "rollouts.argoproj.io", True): 1,
        ("get", "rollouts.argoproj.io/scale", False): 1,
    }


def test_an_event_refused_is_counted(
    fake: FakeApiServer, watched: KubernetesCluster, metrics: Metrics
) -> None:
    seed_deployment(fake.store, "web", namespace="shop", replicas=1)
    fake.forbid("create", "events")
    watched.post_event(ObjectRef("Deployment", "web", "shop"), "Scaled", "to 3")
    watched.post_event(ObjectRef("Deployment", "web", "shop"), "Scaled", "to 4")
    assert watched.events_failed == 2
    assert counted(metrics) == {("create", "events", False): 2}


def test_an_admission_refusal_is_no_missing_permission(
    fake: FakeApiServer, watched: KubernetesCluster, metrics: Metrics
) -> None:
    """A 403 from an admission plugin (here the PersistentVolumeClaimResize plugin's, for
    a claim whose StorageClass cannot grow; a ResourceQuota exceeded or a namespace being
    deleted answer alike) is not the authorizer's: no grant helps. Before, it was counted
    as a refused permission and fired AutonomicPermissionDenied, its error saying "Grant
    verb 'patch'"; RBAC's own 403 on the same request still counts."""
    seed_storage_class(fake.store, "legacy", allow_expansion=None)
    seed_claim(fake.store, "logs", namespace="shop", size="5Gi", storage_class="legacy")
    grow = {"spec": {"resources": {"requests": {"storage": "10Gi"}}}}
    with pytest.raises(RefusedByAdmissionError) as refused_by:
        watched.api.patch("PersistentVolumeClaim", "shop", "logs", grow)
    assert statuses(fake, "patch", "persistentvolumeclaims") == [403]
    assert refused_by.value.reason == "Forbidden"  # a 403 still, for the errors' counts
    assert "must support resize" in str(refused_by.value)
    assert "not RBAC" in str(refused_by.value) and "Grant" not in str(refused_by.value)
    assert counted(metrics) == {}
    fake.forbid("patch", "persistentvolumeclaims")
    with pytest.raises(PermissionDeniedError, match="Grant verb 'patch'") as denied:
        watched.api.patch("PersistentVolumeClaim", "shop", "logs", grow)
    assert not isinstance(denied.value, RefusedByAdmissionError)
    assert counted(metrics) == {("patch", "persistentvolumeclaims", False): 1}


def test_a_refused_lease_is_counted(fake: FakeApiServer, api_client: Any, metrics: Metrics) -> None:
    """Without the Role on leases no replica leads (AutonomicNoLeader); each refused
    request on the Lease counts too, naming the verb."""
    config = LeaseConfig(identity="a", lease_duration=15, renew_deadline=10, retry_period=2)
    elector = LeaderElector(api_client, config, on_refused=metrics.kube_refused)
    fake.forbid("create", "leases", "coordination.k8s.io")
    assert not elector.step() and not elector.step()
    fake.allow_all()
    assert elector.step()
    fake.forbid("update", "leases", "coordination.k8s.io")
    elector.step()
    fake.forbid("get", "leases", "coordination.k8s.io")
    elector.step()
    assert counted(metrics) == {
        ("create", "leases.coordination.k8s.io", False): 2,
        ("update", "leases.coordination.k8s.io", False): 1,
        ("get", "leases.coordination.k8s.io", False): 1,
    }


def test_every_refusal_counted_is_a_series_exported_from_the_start(
    fake: FakeApiServer, watched: KubernetesCluster, metrics: Metrics
) -> None:
    """The daemon exports every (verb, resource, optional) at 0 before any refusal, so
    the first one is an increase; the refusals the adapter tells are of that set."""
    started = Metrics()
    started.expect_kube_refusals(EVERY)
    (family,) = [f for f in started.registry.collect() if f.name == METRIC.removesuffix("_total")]
    zeros = {
        (s.labels["verb"], s.labels["resource"], s.labels["optional"] == "true")
        for s in family.samples
        if s.name == METRIC and s.value == 0
    }
    assert zeros == EVERY and len(EVERY) < 60  # a closed set, and a small one
    seed_deployment(fake.store, "web", namespace="shop", replicas=1)
    for verb, resource, group in (
        ("get", "deployments", "apps"),
        ("patch", "deployments/scale", "apps"),
        ("list", "pods", ""),
        ("list", "persistentvolumeclaims", ""),
    ):
        fake.forbid(verb, resource, group)
    for attempt in (
        lambda: watched.api.read("Deployment", "shop", "web"),
        lambda: watched.api.patch_scale("Deployment", "shop", "web", {"spec": {"replicas": 2}}),
        lambda: watched.list_pods("shop"),
        watched.list_volume_claims,  # optional: taken as none there
    ):
        with contextlib.suppress(PermanentError):
            attempt()
    assert counted(metrics) == {
        ("get", "deployments.apps", False): 1,
        ("patch", "deployments.apps/scale", False): 1,
        ("list", "pods", False): 1,
        ("list", "persistentvolumeclaims", True): 1,
    }
    assert set(counted(metrics)) <= EVERY


def test_the_daemon_exports_each_refusal_where_its_alert_reads_it(
    fake: FakeApiServer, tmp_path: Path
) -> None:
    """``build_daemon`` wires the cluster's refusals to its metrics, and exports the
    closed set at 0 beforehand (a first refusal is then an increase for the alert)."""
    seed_node(fake.store, "node-1")
    fake.forbid("list", "nodes")
    port = free_port()
    daemon, runtime = build_daemon(
        load_settings(daemon_config(tmp_path, port), {}), {}, kube_host=fake.url
    )
    assert runtime.server is not None
    runtime.server.start()
    try:
        reader = daemon.engine.reader
        assert isinstance(reader, KubernetesCluster)
        with pytest.raises(PermanentError, match="not allowed to list nodes"):
            reader.list_nodes()
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=3) as response:
            text = response.read().decode()
    finally:
        runtime.stop()
    series = 'autonomic_kube_permission_denied_total{optional="false",resource="%s",verb="%s"}'
    # the direct list above, and the Node cache's if it has started meanwhile
    (nodes,) = re.findall(re.escape(series % ("nodes", "list")) + r" (\S+)", text)
    assert float(nodes) >= 1.0
    assert series % ("events", "create") + " 0.0" in text
    assert series % ("deployments.apps/scale", "patch") + " 0.0" in text
