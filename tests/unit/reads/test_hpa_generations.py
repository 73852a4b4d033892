"""``get_hpa_for`` keeps what it made of a namespace's HPAs while the watch cache's
generation of that namespace stays the same: every change the cache takes in (a stored
object, a removed one, a list) is read at the next ask, and nothing else converts them
again."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent.adapters import kubernetes
from agent.adapters.kube_cache import NamespacedCaches, WatchCache
from agent.adapters.kube_errors import BadObjectError
from agent.adapters.kubernetes import KubernetesCluster, load_api_client
from remediation.ports import HpaState, ObjectRef

Obj = dict[str, Any]
KIND = "HorizontalPodAutoscaler"
WEB = ObjectRef("Deployment", "web", "shop")


def hpa(
    name: str, target: str, min_replicas: int, version: int | None, namespace: str = "shop"
) -> Obj:
    meta: Obj = {"namespace": namespace, "name": name}
    if version is not None:
        meta["resourceVersion"] = str(version)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": KIND,
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min_replicas,
            "maxReplicas": 10,
        },
        "status": {"currentReplicas": min_replicas, "desiredReplicas": min_replicas},
    }


class Api:
    """The API server as a cache's list and the adapter's direct list see it."""

    def __init__(self, *objects: Obj) -> None:
        self.objects = list(objects)

    def list(self, kind: str, namespace: str | None) -> tuple[list[Obj], str]:
        listed = [o for o in self.objects if namespace in (None, o["metadata"]["namespace"])]
        return [_copy(o) for o in listed], "100"


def _copy(obj: Obj) -> Obj:
    return {key: _copy(value) if isinstance(value, dict) else value for key, value in obj.items()}


@pytest.fixture
def converted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the HPAs converted, in order."""
    names: list[str] = []
    real = kubernetes.hpa_state

    def counting(obj: Obj, *rest: Any) -> HpaState:
        names.append(obj["metadata"]["name"])
        return real(obj, *rest)

    monkeypatch.setattr(kubernetes, "hpa_state", counting)
    return names


@pytest.fixture
def make_cluster() -> Iterator[Callable[..., KubernetesCluster]]:
    clients: list[Any] = []

    def make(**kwargs: Any) -> KubernetesCluster:
        # Nothing is sent to this address: every read here is the cache's or ``Api``'s.
        clients.append(load_api_client(host="http://127.0.0.1:9"))
        return KubernetesCluster(clients[-1], identity="autonomic-test", **kwargs)

    yield make
    for client in clients:
        client.close()


def cached(cluster: KubernetesCluster, api: Api, namespaces: tuple[str, ...] = ()) -> WatchCache:
    """Give ``cluster`` a listed HPA cache over ``api``, read as a started one is."""
    if namespaces:
        caches = [WatchCache(api, KIND, ns, clock=lambda: 0.0) for ns in namespaces]  # type: ignore[arg-type]
        many = NamespacedCaches(caches)
        many.relist()
        cluster.caches[KIND] = many
        cluster._started = True
        return caches[0]
    cache = WatchCache(api, KIND, clock=lambda: 0.0)  # type: ignore[arg-type]
    cache.relist()
    cluster.caches[KIND] = cache
    cluster._started = True
    return cache


def min_of(cluster: KubernetesCluster, ref: ObjectRef = WEB) -> int | None:
    found = cluster.get_hpa_for(ref)
    return None if found is None else found.min_replicas


def test_unchanged_hpas_are_not_converted_again(
    make_cluster: Callable[..., KubernetesCluster], converted: list[str]
) -> None:
    api = Api(hpa("web", "web", 2, 1), hpa("api", "api", 3, 2), hpa("db", "db", 1, 3, "store"))
    cluster = make_cluster()
    cache = cached(cluster, api)
    for _ in range(3):
        assert min_of(cluster) == 2
        assert min_of(cluster, ObjectRef("Deployment", "api", "shop")) == 3
        assert min_of(cluster, ObjectRef("Deployment", "gone", "shop")) is None
    assert sorted(converted) == ["api", "web"]  # once each; the other namespace's not at all
    # A bookmark moves the resourceVersion and changes nothing stored: nothing to convert.
    cache._apply({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "7"}}})
    # So does a change in another namespace.
    cache._apply({"type": "MODIFIED", "object": hpa("db", "db", 4, 8, "store")})
    assert min_of(cluster) == 2
    assert sorted(converted) == ["api", "web"]


def _listed_again(cache: WatchCache, api: Api, changed: Obj) -> None:
    api.objects[0] = changed
    cache.relist()


# Each way the cache's contents change, and what ``get_hpa_for(WEB)`` answers after it.
CHANGES: dict[str, tuple[Callable[[WatchCache, Api], None], int | None]] = {
    "modified": (
        lambda cache, api: cache._apply({"type": "MODIFIED", "object": hpa("web", "web", 5, 9)}),
        5,
    ),
    "modified without a resourceVersion": (
        lambda cache, api: cache._apply({"type": "MODIFIED", "object": hpa("web", "web", 6, None)}),
        6,
    ),
    "deleted": (
        lambda cache, api: cache._apply({"type": "DELETED", "object": hpa("web", "web", 2, 9)}),
        None,
    ),
    # Another HPA of the same workload, first by name: it answers now.
    "added": (
        lambda cache, api: cache._apply({"type": "ADDED", "object": hpa("a-web", "web", 7, 9)}),
        7,
    ),
    # A re-list (the resync, a 410 Gone, a reader's refresh of a stale cache) replaces
    # everything with what the API server holds now.
    "listed again": (lambda cache, api: _listed_again(cache, api, hpa("web", "web", 8, 9)), 8),
}


@pytest.mark.parametrize("change", list(CHANGES))
@pytest.mark.parametrize("namespaces", [(), ("shop", "store")], ids=["all", "listed"])
def test_a_change_is_read_at_the_next_ask(
    make_cluster: Callable[..., KubernetesCluster],
    converted: list[str],
    change: str,
    namespaces: tuple[str, ...],
) -> None:
    api = Api(hpa("web", "web", 2, 1), hpa("api", "api", 3, 2), hpa("db", "db", 1, 3, "store"))
    cluster = make_cluster(namespaces=namespaces)
    cache = cached(cluster, api, namespaces)
    assert min_of(cluster) == 2
    assert min_of(cluster) == 2
    apply, expected = CHANGES[change]
    apply(cache, api)
    assert min_of(cluster) == expected
    assert min_of(cluster, ObjectRef("Deployment", "api", "shop")) == 3
    if change == "added":
        found = cluster.get_hpa_for(WEB)
        assert found is not None and found.shared_with == ("web",)
    # Converted again once for the change, then kept again.
    before = len(converted)
    assert min_of(cluster) == expected
    assert len(converted) == before


def test_an_hpa_turned_unreadable_is_read_at_the_next_ask(
    make_cluster: Callable[..., KubernetesCluster],
) -> None:
    api = Api(hpa("web", "web", 2, 1))
    told: list[str] = []
    cluster = make_cluster(on_unread=told.append)
    cache = cached(cluster, api)
    assert min_of(cluster) == 2
    odd = hpa("web", "web", 2, 4)
    odd["spec"]["maxReplicas"] = "1e3"
    cache._apply({"type": "MODIFIED", "object": odd})
    for _ in range(2):  # left out, and counted, at every ask: kept or not
        with pytest.raises(BadObjectError):
            cluster.get_hpa_for(WEB)
    assert told == [KIND, KIND] and cluster.objects_skipped == 2


def test_another_cache_is_never_taken_for_the_kept_one(
    make_cluster: Callable[..., KubernetesCluster],
) -> None:
    # A cache put in place of another (the adapter started again, its caches made new)
    # at the same point of its own history holds other objects: its generations are
    # its own, never one the old cache had.
    cluster = make_cluster()
    cached(cluster, Api(hpa("web", "web", 2, 1)))
    assert min_of(cluster) == 2
    cached(cluster, Api(hpa("web", "web", 9, 1)))
    assert min_of(cluster) == 9


def test_without_a_cache_every_ask_reads_the_api_server(
    make_cluster: Callable[..., KubernetesCluster], converted: list[str]
) -> None:
    cluster = make_cluster()
    api = Api(hpa("web", "web", 2, 1))
    cluster.api = api  # type: ignore[assignment]
    assert min_of(cluster) == 2  # not started: a LIST at each ask
    api.objects[0] = hpa("web", "web", 3, 1)  # same resourceVersion, other content
    assert min_of(cluster) == 3
    assert converted == ["web", "web"]
    cache = cached(cluster, Api(hpa("web", "web", 4, 1)))
    assert min_of(cluster) == 4
    cluster.stop(0.0)  # the caches stopped: read from the API server again
    assert min_of(cluster) == 3
    cluster._started = True
    assert min_of(cluster) == 4
    cache._apply({"type": "MODIFIED", "object": hpa("web", "web", 5, 2)})
    assert min_of(cluster) == 5


def test_a_namespace_not_read_has_no_hpa(make_cluster: Callable[..., KubernetesCluster]) -> None:
    cluster = make_cluster(exclude_namespaces=["store"])
    cached(cluster, Api(hpa("web", "web", 2, 1), hpa("web", "web", 3, 1, "store")))
    assert min_of(cluster) == 2
    assert min_of(cluster, ObjectRef("Deployment", "web", "store")) is None
