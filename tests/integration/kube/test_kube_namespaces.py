"""``cluster.namespaces`` and ``cluster.excludeNamespaces`` through the real client.

With ``namespaces`` set, every list and watch of a namespaced kind goes to a namespace's
own endpoint (the fake API server refuses the cluster-wide ones here, as an API server
would with RoleBindings only), and nothing outside those namespaces is returned. Objects
in an excluded namespace are never returned, by direct LISTs or by the watch caches.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.kube_api import KINDS
from agent.adapters.kube_cache import NamespacedCaches, WatchCache
from agent.adapters.kubernetes import CACHED_KINDS, KubernetesCluster
from agent.errors import ConfigError, PermanentError
from agent.settings import Settings
from remediation.ports import ObjectRef
from tests.fakekube import FakeApiServer
from tests.fakekube.seed import seed_deployment, seed_hpa, seed_node, seed_pdb, seed_statefulset
from tests.harness.servers import free_port
from tests.integration.kube.conftest import FAST, eventually

NAMESPACED = [KINDS[kind] for kind in CACHED_KINDS if KINDS[kind].namespaced]


def seed_app(fake: FakeApiServer, namespace: str, name: str = "web") -> None:
    """A Deployment (2 revisions, 2 pods) with an HPA and a PDB, and a StatefulSet."""
    seed_deployment(fake.store, name, namespace=namespace, replicas=2, images=("x:v1", "x:v2"))
    seed_hpa(fake.store, name, target=name, namespace=namespace)
    seed_pdb(fake.store, name, app=name, namespace=namespace, min_available=1)
    seed_statefulset(fake.store, f"{name}-db", namespace=namespace, replicas=1)


def refuse_cluster_wide_lists(fake: FakeApiServer) -> None:
    """What RoleBindings alone allow: namespaced kinds only inside a namespace."""
    for info in NAMESPACED:
        for verb in ("list", "watch"):
            fake.forbid(verb, info.plural, info.group, namespace="")


def namespaces_seen(cluster: KubernetesCluster) -> dict[str, set[str]]:
    """Every namespace each listing method returned something from."""
    return {
        "workloads": {w.ref.namespace or "" for w in cluster.list_workloads()},
        "pods": {p.ref.namespace or "" for p in cluster.list_pods()},
        "pdbs": {b["metadata"]["namespace"] for b in cluster.list_disruption_budgets()},
    }


def listings_of_namespaced_kinds(fake: FakeApiServer) -> list[tuple[str, str, str, int]]:
    plurals = {info.plural for info in NAMESPACED}
    return [
        (r.verb, r.resource, r.namespace, r.status)
        for r in fake.requests
        if r.verb in ("list", "watch") and r.resource in plurals
    ]


def watched_namespaces(fake: FakeApiServer) -> set[str]:
    return {ns for verb, _r, ns, _s in listings_of_namespaced_kinds(fake) if verb == "watch"}


def workload_refs(cluster: KubernetesCluster) -> set[ObjectRef]:
    return {w.ref for w in cluster.list_workloads()}


def replicas(cluster: KubernetesCluster, ref: ObjectRef) -> int | None:
    workload = cluster.get_workload(ref)
    return workload.replicas if workload is not None else None


@pytest.fixture
def scoped(api_client: Any) -> Iterator[KubernetesCluster]:
    adapter = KubernetesCluster(
        api_client,
        namespaces=("a", "b"),
        exclude_namespaces=("kube-system",),
        policy=FAST,
        sleep=lambda _s: None,
        resync_seconds=30,
        watch_timeout=5,
    )
    yield adapter
    adapter.stop()


@pytest.fixture
def three_namespaces(fake: FakeApiServer) -> None:
    seed_node(fake.store, "node-1")
    for namespace in ("a", "b", "c"):
        seed_app(fake, namespace)


@pytest.mark.parametrize("namespaces", [(), ("a", "b")])
def test_watch_count_is_the_watches_the_started_caches_hold_open(
    fake: FakeApiServer, api_client: Any, three_namespaces: None, namespaces: tuple[str, ...]
) -> None:
    # ``watch_count`` sizes the connection pool: it is the number of watch streams the
    # started caches hold open, no more (no Event watch: Events are read by LISTs).
    cluster = KubernetesCluster(
        api_client,
        namespaces=namespaces,
        policy=FAST,
        sleep=lambda _s: None,
        resync_seconds=30,
        watch_timeout=5,
    )
    try:
        assert cluster.start(wait=5)
        expected = KubernetesCluster.watch_count(namespaces)
        eventually(lambda: fake.open_watches >= expected)
        time.sleep(0.1)  # time for any further watch to open
        assert fake.open_watches == expected
    finally:
        cluster.stop()


def test_namespaces_are_read_through_namespaced_endpoints_only(
    fake: FakeApiServer, scoped: KubernetesCluster, three_namespaces: None
) -> None:
    refuse_cluster_wide_lists(fake)
    everything = {"workloads": {"a", "b"}, "pods": {"a", "b"}, "pdbs": {"a", "b"}}

    # Before start(): direct LISTs, one per namespace.
    assert namespaces_seen(scoped) == everything
    assert len(scoped.list_workloads()) == 4  # a Deployment and a StatefulSet in a and b
    assert {p.ref.namespace for p in scoped.list_pods("b")} == {"b"}
    assert scoped.list_pods("c") == [] and scoped.list_workloads("c") == []
    assert scoped.get_hpa_for(ObjectRef("Deployment", "web", "a")) is not None
    assert scoped.get_hpa_for(ObjectRef("Deployment", "web", "c")) is None
    assert scoped.get_workload(ObjectRef("Deployment", "web", "c")) is None
    assert {n.ref.name for n in scoped.list_nodes()} == {"node-1"}

    # start(): one cache per kind and namespace, each synced from its own endpoint.
    assert scoped.start(wait=5)
    for info in NAMESPACED:
        group = scoped.caches[info.kind]
        assert isinstance(group, NamespacedCaches)
        assert group.namespaces == ("a", "b")
    assert isinstance(scoped.caches["Node"], WatchCache) and scoped.caches["Node"].namespace is None
    eventually(lambda: watched_namespaces(fake) == {"a", "b"})
    lists = [r for r in fake.requests if r.verb == "list"]
    assert namespaces_seen(scoped) == everything
    assert [r for r in fake.requests if r.verb == "list"] == lists  # from the caches now

    # The per-namespace watches follow changes in a and b, and never see c.
    seed_deployment(fake.store, "late", namespace="b", replicas=1)
    seed_deployment(fake.store, "late", namespace="c", replicas=1)
    fake.store.modify("Deployment", "a", "web", lambda d: d["spec"].update(replicas=5))
    eventually(lambda: ObjectRef("Deployment", "late", "b") in workload_refs(scoped))
    eventually(lambda: replicas(scoped, ObjectRef("Deployment", "web", "a")) == 5)
    assert ObjectRef("Deployment", "late", "c") not in workload_refs(scoped)
    assert namespaces_seen(scoped) == everything

    # The whole run: every list and watch of a namespaced kind named a or b, none failed.
    calls = listings_of_namespaced_kinds(fake)
    assert calls, "the adapter made no namespaced calls at all"
    assert {ns for _v, _r, ns, _s in calls} <= {"a", "b"}
    assert all(status == 200 for *_rest, status in calls), calls
    assert scoped.staleness() < 5


def test_refused_cluster_wide_list_is_what_the_scoping_avoids(
    fake: FakeApiServer, api_client: Any, three_namespaces: None
) -> None:
    """The control: without ``namespaces`` the same refusal stops the adapter, so the
    test above passing means the scoping, not a lenient fake, kept it working."""
    refuse_cluster_wide_lists(fake)
    unscoped = KubernetesCluster(api_client, policy=FAST, sleep=lambda _s: None)
    with pytest.raises(Exception, match="forbidden"):
        unscoped.list_workloads()
    denied = [r for r in fake.requests if r.status == 403]
    assert denied and all(r.namespace == "" for r in denied)


def test_excluded_namespaces_are_never_listed(
    fake: FakeApiServer, api_client: Any, three_namespaces: None
) -> None:
    seed_app(fake, "kube-system", "dns")
    cluster = KubernetesCluster(
        api_client,
        exclude_namespaces=("kube-system", "c"),
        policy=FAST,
        sleep=lambda _s: None,
        resync_seconds=30,
        watch_timeout=5,
    )
    try:
        wanted = {"workloads": {"a", "b"}, "pods": {"a", "b"}, "pdbs": {"a", "b"}}
        dns = ObjectRef("Deployment", "dns", "kube-system")

        # Direct LISTs (across all namespaces: nothing limits the reads) are filtered.
        assert namespaces_seen(cluster) == wanted
        fake.clear_requests()
        assert cluster.list_pods("kube-system") == []
        assert cluster.list_workloads("c") == []
        assert cluster.list_disruption_budgets("kube-system") == []
        assert cluster.get_hpa_for(dns) is None
        assert cluster.get_workload(dns) is None
        with pytest.raises(PermanentError, match="kube-system"):
            cluster.recent_events(dns)
        assert not fake.requests  # an excluded namespace is not even asked about

        # The caches never keep them either: not from the list, not from the watch.
        assert cluster.start(wait=5)
        assert namespaces_seen(cluster) == wanted
        pods = cluster.caches["Pod"]
        assert isinstance(pods, WatchCache) and pods.namespace is None  # one cache, all
        assert not [p for p in pods.items() if p["metadata"]["namespace"] == "kube-system"]
        seed_deployment(fake.store, "late", namespace="kube-system", replicas=1)
        seed_deployment(fake.store, "late", namespace="a", replicas=1)
        seeded = fake.store.resource_version
        caches = [c for c in cluster.caches.values() if isinstance(c, WatchCache)]
        assert len(caches) == len(CACHED_KINDS)
        # Every cache has had the events (or a bookmark past them): they were dropped.
        eventually(lambda: all(int(c.resource_version or 0) >= seeded for c in caches))
        assert ObjectRef("Deployment", "late", "a") in workload_refs(cluster)
        assert namespaces_seen(cluster) == wanted
        for cache in caches:
            assert not [o for o in cache.items() if o["metadata"].get("namespace") == "kube-system"]
        assert cluster.get_workload(ObjectRef("Deployment", "late", "kube-system")) is None
        assert cluster.get_hpa_for(dns) is None
    finally:
        cluster.stop()


def test_a_namespace_both_listed_and_excluded_is_refused(api_client: Any) -> None:
    with pytest.raises(ConfigError, match="kube-system"):
        KubernetesCluster(
            api_client, namespaces=("a", "kube-system"), exclude_namespaces=("kube-system",)
        )


def test_the_daemon_wires_the_cluster_settings(
    fake: FakeApiServer, three_namespaces: None, tmp_path: Path
) -> None:
    from agent.daemon import build_daemon

    refuse_cluster_wide_lists(fake)
    settings = Settings.model_validate(
        {
            "cluster": {"namespaces": ["a", "b"], "excludeNamespaces": ["kube-system"]},
            "ledger": {"url": f"sqlite:///{tmp_path / 'ledger.sqlite'}"},
            "leaderElection": {"enabled": False},
            "runbooks": [],
            "server": {"host": "127.0.0.1", "port": free_port()},
        }
    )
    daemon, runtime = build_daemon(settings, {}, kube_host=fake.url)
    assert runtime.server is not None
    runtime.server.start()  # so that runtime.stop() can shut it down
    try:
        cluster = daemon.engine.reader
        assert isinstance(cluster, KubernetesCluster)
        assert cluster.namespaces == ("a", "b")
        assert cluster.exclude_namespaces == {"kube-system"}
        assert {w.ref.namespace for w in cluster.list_workloads()} == {"a", "b"}
        # One watch per namespaced kind (Events are never watched) and namespace, plus
        # the Nodes' and the StorageClasses': the connection pool holds them all, with
        # room for reads and writes.
        assert KubernetesCluster.watch_count(("a", "b")) == 2 * 8 + 2
        pool = cluster.api.api_client.configuration.connection_pool_maxsize
        assert pool >= KubernetesCluster.watch_count(("a", "b")) + 8
        calls = listings_of_namespaced_kinds(fake)
        assert calls and {ns for _v, _r, ns, _s in calls} <= {"a", "b"}
        assert all(status == 200 for *_rest, status in calls), calls
    finally:
        runtime.stop()
