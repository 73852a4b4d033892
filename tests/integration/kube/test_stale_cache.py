"""A watch cache that has stopped hearing from the API server is not read: a read fails
(``TransientError``, reason ``KubeCacheStale``) until its watch hears again
(``KubernetesCluster.stale_after``), so nothing acts on what it last saw.

Here the pods' watch cannot be opened again (every watch request is dropped, lists are
not: a proxy that cuts long-lived connections, a flow-control limit on watches), so the
cache resumes and resumes, never lists (the server is "unavailable", not the cache's
resourceVersion), and keeps what it last saw until its resync, minutes later. Before,
every read answered from it however old it was: a pod deleted meanwhile was still
listed, crash-looping or not, for the engine to act on."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agent.adapters.kubernetes import KubernetesCluster
from agent.errors import TransientError
from tests.fakekube import FakeApiServer
from tests.fakekube.store import resource_for_kind
from tests.integration.kube.conftest import FAST, eventually

PODS = r"/api/v1/pods$"


class Clock:
    """The caches' monotonic clock, which a test can move on (``skip``)."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.ahead

    def skip(self, seconds: float) -> None:
        self.ahead += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def watched(api_client: Any, clock: Clock) -> Iterator[KubernetesCluster]:
    adapter = KubernetesCluster(
        api_client,
        policy=FAST,
        sleep=lambda _: None,
        resync_seconds=300,
        watch_timeout=1,
        stale_after=1.0,
        monotonic=clock,
    )
    yield adapter
    adapter.stop()


def pod_lists(fake: FakeApiServer) -> int:
    return sum(1 for r in fake.requests if r.verb == "list" and r.resource == "pods")


def test_a_cache_that_stopped_hearing_is_not_read(
    fake: FakeApiServer,
    watched: KubernetesCluster,
    clock: Clock,
    shop: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert watched.start(wait=5)
    names = sorted(p["metadata"]["name"] for p in shop["pods"])
    assert [p.ref.name for p in watched.list_pods("shop")] == names
    refused = fake.inject(PODS, method="GET", verb="watch", times=10**6, drop=True)
    fake.disconnect_watches()
    eventually(lambda: refused.hits > 0)  # the pods' watch is down: the next is refused
    fake.store.delete(resource_for_kind("v1", "Pod"), "shop", names[0])  # meanwhile
    cache = watched.caches["Pod"]
    clock.skip(2.0)  # two seconds on: the other kinds' watches hear again, not the pods'
    others = [c for kind, c in watched.caches.items() if kind != "Pod"]
    eventually(lambda: all(c.fresh(watched.stale_after) for c in others))
    assert cache.staleness() > watched.stale_after
    assert {o["metadata"]["name"] for o in cache.items()} == set(names)  # kept as it was
    lists = pod_lists(fake)
    with caplog.at_level(logging.INFO, logger="autonomic.kubernetes"):
        for _ in range(2):
            with pytest.raises(TransientError) as stale:
                watched.list_pods("shop")
            assert stale.value.reason == "KubeCacheStale"
        assert "the watch of Pods has not heard from the API server for " in str(stale.value)
        assert pod_lists(fake) == lists  # nothing listed in its place: the cycle fails
        fake.clear_faults()  # the watch is opened again, hears, and replays the delete
        eventually(lambda: cache.fresh(watched.stale_after))
        assert [p.ref.name for p in watched.list_pods("shop")] == names[1:]
        assert pod_lists(fake) == lists  # from the cache again
    said = [r.getMessage() for r in caplog.records if "watch of Pods" in r.getMessage()]
    assert len(said) == 2, said  # once each way, not at every read
    assert said[0] == str(stale.value)
    assert said[1] == "the watch of Pods hears from the API server again: read again"
