"""Events are read through a bounded watch cache (``kube_cache.EventCache``), started by
the first ``list_events`` after ``start()``: the same answers as a direct LIST, new
Events seen without a new LIST, bounded by age and count, resumed from a fresh list
after 410 Gone.

Everything runs through the real ``kubernetes`` client against the fake API server,
except the memory test, which feeds a cache from a stub API (tens of thousands of
Events through the fake would take minutes).
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from agent.adapters.kube_cache import EventCache
from agent.adapters.kubernetes import KubernetesCluster, load_api_client
from remediation.ports import ObjectRef
from tests.fakekube import FakeApiServer
from tests.fakekube.seed import seed_deployment, seed_node
from tests.fakekube.store import resource_for_kind
from tests.integration.kube.conftest import FAST, eventually

WEB = ObjectRef("Deployment", "web", "shop")
API = ObjectRef("Deployment", "api", "shop")
NODE = ObjectRef("Node", "node-1")
NOW = datetime(2031, 3, 4, 12, 0, tzinfo=UTC).timestamp()


def stamp(seconds_ago: float) -> str:
    return datetime.fromtimestamp(NOW - seconds_ago, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def put_event(
    fake: FakeApiServer, name: str, about: ObjectRef, seconds_ago: float, reason: str = "Seen"
) -> None:
    namespace = about.namespace or "default"
    fake.store.put(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {"kind": about.kind, "name": about.name, "namespace": namespace},
            "reason": reason,
            "message": f"{reason} {name}",
            "type": "Normal",
            "count": 1,
            "firstTimestamp": stamp(seconds_ago),
            "lastTimestamp": stamp(seconds_ago),
        }
    )


def event_lists(fake: FakeApiServer) -> int:
    return sum(1 for r in fake.requests if r.verb == "list" and r.resource == "events")


def event_watches(fake: FakeApiServer) -> int:
    return sum(1 for r in fake.requests if r.verb == "watch" and r.resource == "events")


def names(events: list[dict[str, Any]]) -> list[str]:
    return [e["metadata"]["name"] for e in events]


@pytest.fixture
def seeded(fake: FakeApiServer) -> None:
    seed_node(fake.store, "node-1")
    seed_deployment(fake.store, "web", namespace="shop", replicas=1)
    seed_deployment(fake.store, "api", namespace="shop", replicas=1)


@pytest.fixture
def now() -> list[float]:
    return [NOW]


@pytest.fixture
def make_cluster(
    fake: FakeApiServer, now: list[float]
) -> Iterator[Callable[..., KubernetesCluster]]:
    made: list[tuple[KubernetesCluster, Any]] = []

    def make(**options: Any) -> KubernetesCluster:
        client = load_api_client(host=fake.url, watches=KubernetesCluster.watch_count())
        options = {"resync_seconds": 30, "watch_timeout": 5, **options}
        cluster = KubernetesCluster(
            client, policy=FAST, sleep=lambda s: None, wall_clock=lambda: now[0], **options
        )
        made.append((cluster, client))
        return cluster

    yield make
    for cluster, client in made:
        cluster.stop()
        client.close()


def test_list_and_watch_give_the_same_answers(
    fake: FakeApiServer, seeded: None, make_cluster: Callable[..., KubernetesCluster]
) -> None:
    """Direct LISTs (before start) and the cache (after) on the same Events: same Events,
    same order, ties in time included; a Node's in ``default``; with ``namespaces``
    set, a namespace the cache does not hold is still answered by a LIST."""
    for i, seconds_ago in enumerate([30, 600, 30, 5, 3000, 600]):
        put_event(fake, f"web.{i:02d}", WEB, seconds_ago, reason=f"R{i % 3}")
    put_event(fake, "api.00", API, 10)
    put_event(fake, "zz-tie", WEB, 30)
    put_event(fake, "aa-tie", WEB, 30)
    put_event(fake, "node.00", NODE, 100, reason="NodeNotReady")
    put_event(fake, "node.01", NODE, 50, reason="NodeReady")
    refs = [WEB, API, NODE, ObjectRef("Deployment", "ghost", "shop")]

    plain = make_cluster()
    listed = {ref: plain.list_events(ref) for ref in refs}
    assert len(listed[WEB]) == 8 and len(listed[NODE]) == 2 and listed[refs[-1]] == []
    for options in ({}, {"namespaces": ("shop",)}):
        cluster = make_cluster(**options)
        assert cluster.start(wait=5)
        cluster.list_events(WEB)  # starts the Event cache
        assert cluster.events.synced
        fake.clear_requests()
        watched = {ref: cluster.list_events(ref) for ref in refs}
        assert {ref: names(v) for ref, v in watched.items()} == {
            ref: names(v) for ref, v in listed.items()
        }
        assert watched == listed  # the objects themselves, field for field
        # All of them from the cache; with namespaces=("shop",) the Node's (in
        # ``default``, not watched) from one LIST.
        assert event_lists(fake) == (1 if options else 0)


def test_events_after_the_first_read_are_seen_without_a_new_list(
    fake: FakeApiServer, seeded: None, make_cluster: Callable[..., KubernetesCluster]
) -> None:
    put_event(fake, "web.old", WEB, 60)
    cluster = make_cluster()
    assert cluster.start(wait=5)
    assert not cluster.events.synced  # nothing read Events yet: no Event watch
    assert event_lists(fake) == 0 and event_watches(fake) == 0
    assert names(cluster.list_events(WEB)) == ["web.old"]
    eventually(lambda: event_watches(fake) >= 1)
    lists = event_lists(fake)
    assert lists == 1

    put_event(fake, "web.new", WEB, 1, reason="Pulled")
    cluster.post_event(WEB, "ScaledAhead", "replicas 1 -> 2")
    eventually(lambda: len(cluster.list_events(WEB)) == 3)
    reasons = [e["reason"] for e in cluster.list_events(WEB)]
    assert reasons[:2] == ["Seen", "Pulled"] and reasons[2] == "ScaledAhead"
    assert event_lists(fake) == lists  # seen through the watch, not a new LIST


def test_the_cache_holds_at_most_event_limit_and_counts_the_oldest_dropped(
    fake: FakeApiServer, seeded: None, make_cluster: Callable[..., KubernetesCluster]
) -> None:
    for i in range(30):  # listed: 30, of which the 20 newest are kept
        put_event(fake, f"listed.{i:03d}", WEB, 1000 - i)
    cluster = make_cluster(event_limit=20)
    assert cluster.start(wait=5)
    assert names(cluster.list_events(WEB)) == [f"listed.{i:03d}" for i in range(10, 30)]
    assert isinstance(cluster.events, EventCache)
    assert cluster.events.stats.dropped == 10
    for i in range(50):  # watched: 50 newer ones
        put_event(fake, f"watched.{i:03d}", API, 500 - i)
    eventually(lambda: cluster.events.stats.dropped == 60)
    assert cluster.list_events(WEB) == []
    assert names(cluster.list_events(API)) == [f"watched.{i:03d}" for i in range(30, 50)]
    assert len(cluster.events.items()) == 20


def test_deleted_and_expired_events_go_away(
    fake: FakeApiServer,
    seeded: None,
    make_cluster: Callable[..., KubernetesCluster],
    now: list[float],
) -> None:
    put_event(fake, "web.a", WEB, 3000)
    put_event(fake, "web.b", WEB, 600)
    put_event(fake, "web.c", WEB, 10)
    put_event(fake, "web.too-old", WEB, 4000)  # older than the 3900 s kept
    cluster = make_cluster()
    assert cluster.start(wait=5)
    assert names(cluster.list_events(WEB)) == ["web.a", "web.b", "web.c"]
    assert isinstance(cluster.events, EventCache)
    assert cluster.events.stats.aged_out == 1

    fake.store.delete(resource_for_kind("v1", "Event"), "shop", "web.b")
    eventually(lambda: names(cluster.list_events(WEB)) == ["web.a", "web.c"])
    now[0] += 901  # web.a is 3901 s old now
    assert names(cluster.list_events(WEB)) == ["web.c"]
    assert cluster.events.stats.aged_out == 2
    # An Event seen again (its lastTimestamp moved on) is kept from its new time.
    fake.store.modify("Event", "shop", "web.c", lambda e: e.update(lastTimestamp=stamp(-3000)))
    eventually(lambda: cluster.list_events(WEB)[0]["lastTimestamp"] == stamp(-3000))
    now[0] = NOW + 6000  # 6010 s after web.c was first seen, 3000 s after its last
    assert names(cluster.list_events(WEB)) == ["web.c"]
    now[0] = NOW + 3000 + 3901
    assert cluster.list_events(WEB) == [] and cluster.events.stats.aged_out == 3


def test_a_410_resumes_from_a_fresh_list(
    fake: FakeApiServer, seeded: None, make_cluster: Callable[..., KubernetesCluster]
) -> None:
    put_event(fake, "web.a", WEB, 60)
    cluster = make_cluster()
    assert cluster.start(wait=5)
    assert names(cluster.list_events(WEB)) == ["web.a"]
    eventually(lambda: event_watches(fake) >= 1)
    assert isinstance(cluster.events, EventCache)
    lists = event_lists(fake)

    fake.inject(r"/api/v1/events$", method="GET", delay=1.0, times=1)
    fake.disconnect_watches()
    put_event(fake, "web.b", WEB, 30)  # while no watch is open ...
    fake.store.compact()  # ... and the history that had it is gone
    fake.store.delete(resource_for_kind("v1", "Event"), "shop", "web.a")
    eventually(lambda: names(cluster.list_events(WEB)) == ["web.b"])
    assert cluster.events.stats.expired >= 1
    assert event_lists(fake) == lists + cluster.events.stats.expired


def test_memory_stays_bounded_under_a_flood_of_events() -> None:
    """40,000 Events through the watch, 1,000 kept: memory after them is about what the
    first 1,000 took, not forty times that."""
    limit, flood = 1000, 40_000

    def event(i: int) -> dict[str, Any]:
        return {
            "type": "ADDED",
            "object": {
                "metadata": {
                    "namespace": f"ns{i % 7}",
                    "name": f"pod-{i}.{i:016x}",
                    "resourceVersion": str(100 + i),
                },
                "involvedObject": {"kind": "Pod", "name": f"pod-{i}", "namespace": f"ns{i % 7}"},
                "reason": "BackOff",
                "message": "Back-off restarting failed container app in pod " + "x" * 120,
                "type": "Warning",
                "count": i,
                "firstTimestamp": stamp(flood - i),
                "lastTimestamp": stamp(flood - i),
            },
        }

    class Flood:
        """A list with nothing, then one watch of ``count`` Events from ``start``."""

        def __init__(self, start: int, count: int) -> None:
            self.start, self.count, self.watches = start, count, 0

        def list(self, kind: str, namespace: str | None) -> tuple[list[Any], str]:
            return [], "100"

        def watch(self, kind: str, namespace: str | None, version: str, **options: Any) -> Any:
            self.watches += 1
            options["on_response"](object())
            if self.watches == 1:
                yield from (event(i) for i in range(self.start, self.start + self.count))

    def held(count: int) -> tuple[int, EventCache]:
        api = Flood(0, count)
        tracemalloc.start()
        try:
            cache = EventCache(
                api,  # type: ignore[arg-type]
                max_events=limit,
                max_age_seconds=10 * flood,
                wall_clock=lambda: NOW,
                backoff_initial=5.0,
            )
            cache.start()
            eventually(lambda: cache.stats.events == count, timeout=60)
            cache.stop()
            size = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        return size, cache

    small, first = held(limit)
    large, cache = held(flood)
    assert len(first.items()) == limit and first.stats.dropped == 0
    assert len(cache.items()) == limit and cache.stats.dropped == flood - limit
    assert names(cache.items())[0] == f"pod-{flood - limit}.{flood - limit:016x}"  # newest kept
    assert len(cache._heap) <= 2 * limit + 64
    assert large < 1.5 * small, (small, large)


def test_event_limit_and_age_must_leave_room() -> None:
    with pytest.raises(ValueError, match="max_events 0"):
        EventCache(object(), max_events=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_age_seconds 0"):
        EventCache(object(), max_age_seconds=0)  # type: ignore[arg-type]


def test_stopping_ends_the_event_watch(
    fake: FakeApiServer, seeded: None, make_cluster: Callable[..., KubernetesCluster]
) -> None:
    cluster = make_cluster()
    assert cluster.start(wait=5)
    cluster.list_events(WEB)
    eventually(lambda: event_watches(fake) >= 1)
    started = time.monotonic()
    cluster.stop()
    eventually(lambda: fake.open_watches == 0)
    assert time.monotonic() - started < 3
