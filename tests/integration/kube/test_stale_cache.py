"""A watch cache that has stopped hearing from the API server is listed again by the read
that finds it so (``KubernetesCluster.stale_after``), and not read if that list fails:
the read fails (``TransientError``, reason ``KubeCacheStale``), so nothing acts on what
it last saw.

Here the pods' watch cannot be opened again (every watch request is dropped, lists are
not: a proxy that cuts long-lived connections, a flow-control limit on watches), so the
cache's thread resumes and resumes, never lists (the server is "unavailable", not the
cache's resourceVersion), and would keep what it last saw until its resync, minutes
later. Before the first of these fixes, every read answered from it however old it was:
a pod deleted meanwhile was still listed, crash-looping or not, for the engine to act
on; before the second, every read failed until the watch heard again, though a LIST
would have answered."""

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

PODS = r"/api/v1/(namespaces/shop/)?pods$"


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


@pytest.fixture(params=[(), ("shop",)], ids=["every-namespace", "one-namespace"])
def watched(
    api_client: Any, clock: Clock, request: pytest.FixtureRequest
) -> Iterator[KubernetesCluster]:
    adapter = KubernetesCluster(
        api_client,
        namespaces=request.param,
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


def stale_pods(fake: FakeApiServer, watched: KubernetesCluster, clock: Clock, shop: Any) -> Any:
    """Start, then keep the pods' watch from being opened again, delete a pod meanwhile,
    and move the clock past ``stale_after``: the pods' cache still holds it."""
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
    return cache, names


def test_a_cache_that_stopped_hearing_is_listed_again_by_its_reader(
    fake: FakeApiServer,
    watched: KubernetesCluster,
    clock: Clock,
    shop: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before, the read failed (``KubeCacheStale``) until the watch heard again, up to
    the next resync minutes away, though the API server answered LISTs all along."""
    cache, names = stale_pods(fake, watched, clock, shop)
    lists = pod_lists(fake)
    with caplog.at_level(logging.INFO, logger="autonomic.kubernetes"):
        assert [p.ref.name for p in watched.list_pods("shop")] == names[1:]  # fresh
        assert pod_lists(fake) == lists + 1
        assert cache.fresh(watched.stale_after)
        assert [p.ref.name for p in watched.list_pods("shop")] == names[1:]
        assert pod_lists(fake) == lists + 1  # from the cache again: listed once
    said = [r.getMessage() for r in caplog.records if "watch of Pods" in r.getMessage()]
    assert said == [
        "the watch of Pods had not heard from the API server for more than 1 s: listed them again"
    ]


def test_a_stale_cache_whose_list_fails_is_not_read(
    fake: FakeApiServer,
    watched: KubernetesCluster,
    clock: Clock,
    shop: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache, names = stale_pods(fake, watched, clock, shop)
    fake.inject(PODS, method="GET", verb="list", times=10**6, status=500)
    lists = pod_lists(fake)
    with caplog.at_level(logging.INFO, logger="autonomic.kubernetes"):
        for _ in range(2):
            with pytest.raises(TransientError) as stale:
                watched.list_pods("shop")
            assert stale.value.reason == "KubeCacheStale"
        assert "the watch of Pods has not heard from the API server for " in str(stale.value)
        assert "listing them again failed: " in str(stale.value)
        assert "TransientError: list pods" in str(stale.value)
        # one LIST (and its retries) for both reads: a failed one waits relist_pause
        assert pod_lists(fake) == lists + FAST.attempts
        assert {o["metadata"]["name"] for o in cache.items()} == set(names)  # not read
        fake.clear_faults()  # the watch is opened again, hears, and replays the delete
        eventually(lambda: cache.fresh(watched.stale_after))
        assert [p.ref.name for p in watched.list_pods("shop")] == names[1:]
        assert pod_lists(fake) == lists + FAST.attempts  # from the cache again
    said = [r.getMessage() for r in caplog.records if "watch of Pods" in r.getMessage()]
    assert len(said) == 2, said  # once each way, not at every read
    assert said[0] == str(stale.value)
    assert said[1] == "the watch of Pods hears from the API server again: read again"


def test_a_failed_list_is_tried_again_after_the_pause(
    fake: FakeApiServer, watched: KubernetesCluster, clock: Clock, shop: Any
) -> None:
    _, names = stale_pods(fake, watched, clock, shop)
    failing = fake.inject(PODS, method="GET", verb="list", times=FAST.attempts, status=500)
    with pytest.raises(TransientError):
        watched.list_pods("shop")
    assert failing.hits == FAST.attempts
    clock.skip(watched.relist_pause)  # the LIST answers again, and it is asked
    assert [p.ref.name for p in watched.list_pods("shop")] == names[1:]
