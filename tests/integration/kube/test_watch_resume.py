"""Watch caches resume a dropped watch from the last resourceVersion (as client-go's
reflector does) and list again only on 410 Gone; failures back off, bounded.

Everything runs through the real ``kubernetes`` client against the fake API server;
LIST requests are counted in the server's request log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent.adapters.kube_api import WatchExpiredError
from agent.adapters.kube_cache import WatchCache
from agent.adapters.kubernetes import KubernetesCluster
from agent.errors import TransientError
from tests.fakekube import ApiError, FakeApiServer
from tests.fakekube.seed import seed_deployment, seed_node
from tests.integration.kube.conftest import eventually as wait


def eventually(check: Callable[[], bool], timeout: float = 8.0) -> None:
    wait(check, timeout)


PODS = r"/api/v1/pods$"


def pod_lists(fake: FakeApiServer) -> int:
    return sum(1 for r in fake.requests if r.verb == "list" and r.resource == "pods")


def pod_watches(fake: FakeApiServer) -> int:
    return sum(1 for r in fake.requests if r.verb == "watch" and r.resource == "pods")


def cache_state(cache: WatchCache) -> dict[tuple[str, str], str]:
    return {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o["metadata"]["resourceVersion"]
        for o in cache.items()
    }


def server_state(fake: FakeApiServer) -> dict[tuple[str, str], str]:
    return {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o["metadata"]["resourceVersion"]
        for o in fake.store.objects("Pod")
    }


def in_step(fake: FakeApiServer, cache: WatchCache) -> Callable[[], bool]:
    return lambda: cache_state(cache) == server_state(fake)


def change_pods(fake: FakeApiServer, new_app: str) -> None:
    """A delete, a modification and a new Deployment's pods, as other actors would."""
    first, second = (p["metadata"]["name"] for p in fake.store.objects("Pod", "shop")[:2])
    fake.store.delete(_pods(fake), "shop", first)
    fake.store.modify("Pod", "shop", second, lambda p: p["metadata"]["labels"].update(seen="1"))
    seed_deployment(fake.store, new_app, namespace="shop", replicas=1)


def _pods(fake: FakeApiServer) -> Any:
    from tests.fakekube.store import resource_for_kind

    return resource_for_kind("v1", "Pod")


def hold_next_watch_and_cut(fake: FakeApiServer, hold: float = 2.0) -> None:
    """Cut the open watch and hold the cache's next watch request on the server for
    ``hold`` seconds, so changes made now happen while no watch is open."""
    fake.inject(PODS, method="GET", delay=hold, times=1)
    fake.disconnect_watches()
    eventually(lambda: fake.open_watches == 0)


@pytest.fixture
def make_cache(
    fake: FakeApiServer, cluster: KubernetesCluster
) -> Iterator[Callable[..., WatchCache]]:
    caches: list[WatchCache] = []

    def make(**options: Any) -> WatchCache:
        options = {"watch_timeout": 30, "backoff_initial": 0.05, "backoff_max": 0.4} | options
        cache = WatchCache(cluster.api, "Pod", options.pop("namespace", None), **options)
        caches.append(cache)
        cache.start()
        assert cache.wait_synced(5)
        eventually(lambda: fake.open_watches >= 1)  # listed, and watching
        return cache

    yield make
    for cache in caches:
        cache.stop()


# --------------------------------------------------------------- (1) resume


def test_server_timeouts_and_cut_watches_resume_without_a_list(
    fake: FakeApiServer, make_cache: Callable[..., WatchCache]
) -> None:
    seed_deployment(fake.store, "web", namespace="shop", replicas=3)
    cache = make_cache(watch_timeout=1)
    fake.clear_requests()

    # The server ends each watch after timeoutSeconds=1; the cache keeps up through them.
    opened = cache.stats.watches
    eventually(lambda: cache.stats.watches >= opened + 1)
    seed_deployment(fake.store, "api", namespace="shop", replicas=1)
    eventually(lambda: cache.stats.watches >= opened + 3)
    eventually(in_step(fake, cache))
    # watch requests the server ended: logged when the server thread is done with one,
    # which can be just after the client has opened the next
    eventually(lambda: pod_watches(fake) >= 3)

    # A cut stream, and changes made while no watch is open: replayed on resume.
    hold_next_watch_and_cut(fake)
    change_pods(fake, "batch")
    assert cache_state(cache) != server_state(fake)
    eventually(in_step(fake, cache))

    assert pod_lists(fake) == 0, "a timeout or a cut watch must not re-list"
    assert cache.stats.lists == 1 and cache.stats.expired == 0
    assert cache.stats.resumes >= 3 and cache.stats.disconnects >= 1


# -------------------------------------------------------------- (2) 410 Gone


def test_410_gone_in_the_stream_relists_exactly_once(
    fake: FakeApiServer, make_cache: Callable[..., WatchCache]
) -> None:
    seed_deployment(fake.store, "web", namespace="shop", replicas=3)
    cache = make_cache()
    fake.clear_requests()
    hold_next_watch_and_cut(fake)
    change_pods(fake, "batch")
    fake.store.compact()  # the cache's resourceVersion is now older than the history

    eventually(in_step(fake, cache))
    eventually(lambda: fake.open_watches >= 1)  # watching again, from the new list
    time.sleep(0.5)  # room for a second (wrong) re-list to show up
    assert cache.stats.expired == 1, cache.stats
    assert pod_lists(fake) == 1 and cache.stats.lists == 2, cache.stats
    assert cache_state(cache) == server_state(fake)


def test_410_gone_as_an_http_status_relists_exactly_once(
    fake: FakeApiServer, make_cache: Callable[..., WatchCache]
) -> None:
    seed_deployment(fake.store, "web", namespace="shop", replicas=2)
    cache = make_cache()
    fake.clear_requests()
    fake.inject(PODS, method="GET", status=410, times=1)  # the resumed watch is refused
    fake.disconnect_watches()
    eventually(lambda: cache.stats.expired == 1)
    eventually(lambda: fake.open_watches >= 1)
    time.sleep(0.3)
    assert pod_lists(fake) == 1 and cache.stats.lists == 2, cache.stats
    assert cache_state(cache) == server_state(fake)


# ------------------------------------------------------------- (3) bookmarks


def test_bookmarks_advance_the_resume_point(
    fake: FakeApiServer, make_cache: Callable[..., WatchCache]
) -> None:
    seed_deployment(fake.store, "web", namespace="shop", replicas=2)
    cache = make_cache(namespace="shop")
    listed_at = int(cache.resource_version)
    # Changes this watch does not see: Nodes, and pods in another namespace.
    for index in range(3):
        seed_node(fake.store, f"node-{index}")
    seed_deployment(fake.store, "other", namespace="elsewhere", replicas=2)
    latest = fake.store.resource_version
    eventually(lambda: int(cache.resource_version) == latest)  # via BOOKMARK events only
    assert cache.stats.bookmarks >= 1 and cache.stats.events == 0

    fake.clear_requests()
    fake.store.compact()  # the list's resourceVersion is gone, the bookmark's is not
    with pytest.raises(ApiError) as gone:
        fake.store.changes_after(listed_at)
    assert gone.value.code == 410
    resumes = cache.stats.resumes
    fake.disconnect_watches()
    eventually(lambda: cache.stats.resumes > resumes and fake.open_watches >= 1)
    modified = fake.store.objects("Pod", "shop")[0]["metadata"]["name"]
    fake.store.modify("Pod", "shop", modified, lambda p: p["metadata"]["labels"].update(x="1"))
    eventually(lambda: (cache.get("shop", modified) or {})["metadata"]["labels"].get("x") == "1")
    assert cache.stats.expired == 0 and pod_lists(fake) == 0 and cache.stats.lists == 1


# -------------------------------------------------------- (4) server down


def test_server_outage_backs_off_bounded_and_resumes_when_it_returns(
    fake: FakeApiServer,
    make_cache: Callable[..., WatchCache],
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed_deployment(fake.store, "web", namespace="shop", replicas=3)
    cache = make_cache(backoff_initial=0.05, backoff_max=0.4)
    fake.clear_requests()
    caplog.set_level(logging.DEBUG, logger="autonomic.kubernetes.cache")

    fake.go_down()
    change_pods(fake, "batch")  # the cluster moves on while the cache cannot see it
    down_for, observed = 3.0, set()
    deadline = time.monotonic() + down_for
    while time.monotonic() < deadline:
        observed.add(cache.stats.backoff_seconds)
        time.sleep(0.01)
    failures = cache.stats.failures_in_a_row
    # Delays 0.05, 0.1, 0.2, then 0.4 (capped; jitter never exceeds the cap): about 9
    # failures fit in 3 s. A hot loop would make thousands.
    assert 4 <= failures <= 12, cache.stats
    assert max(observed) == pytest.approx(0.4) and all(d <= 0.4 for d in observed)
    assert isinstance(cache.stats.last_error, str) and "TransientError" in cache.stats.last_error
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert 1 <= len(warnings) < failures  # the first failure, then powers of two
    assert "watch of Pod failed" in warnings[0].getMessage()
    assert cache.stats.lists == 1  # no list attempts while it is only unreachable

    fake.come_back()
    eventually(in_step(fake, cache))
    eventually(lambda: cache.stats.failures_in_a_row == 0)
    assert pod_lists(fake) == 0, "the history survived the outage: resume, do not re-list"
    assert cache.stats.expired == 0
    assert any("healthy again" in r.getMessage() for r in caplog.records)


def test_outage_that_loses_the_history_relists_once(
    fake: FakeApiServer, make_cache: Callable[..., WatchCache]
) -> None:
    """An API server restart also rebuilds its watch cache: the resume gets 410."""
    seed_deployment(fake.store, "web", namespace="shop", replicas=3)
    cache = make_cache()
    fake.clear_requests()
    fake.go_down()
    change_pods(fake, "batch")
    fake.store.compact()
    eventually(lambda: cache.stats.failures_in_a_row >= 2)
    fake.come_back()
    eventually(in_step(fake, cache))
    eventually(lambda: fake.open_watches >= 1)
    assert cache.stats.expired == 1 and pod_lists(fake) == 1, cache.stats


# ----------------------------------------------------------------- resync


def test_periodic_resync_still_relists(
    fake: FakeApiServer, make_cache: Callable[..., WatchCache]
) -> None:
    seed_deployment(fake.store, "web", namespace="shop", replicas=2)
    cache = make_cache(resync_seconds=1.5, watch_timeout=30)
    fake.clear_requests()
    started = time.monotonic()
    eventually(lambda: pod_lists(fake) >= 2, timeout=6)
    assert time.monotonic() - started >= 2.0  # two resync periods, not a hot loop
    assert cache.stats.expired == 0 and cache.stats.errors == 0
    assert cache_state(cache) == server_state(fake)


# ------------------------------------------------- behaviour on a stub API


class StubApi:
    """``list`` answers one pod at resourceVersion 10; each ``watch`` opens what the
    script returns (a script that raises fails to open the watch)."""

    def __init__(self, script: Callable[[int], Iterator[dict[str, Any]]]) -> None:
        self.script = script
        self.lists = 0
        self.watch_versions: list[str] = []

    def list(self, kind: str, namespace: str | None) -> tuple[list[dict[str, Any]], str]:
        self.lists += 1
        pod = {"metadata": {"namespace": "a", "name": "p", "resourceVersion": "10"}}
        return [pod], "10"

    def watch(
        self, kind: str, namespace: str | None, resource_version: str, **options: Any
    ) -> Iterator[dict[str, Any]]:
        self.watch_versions.append(resource_version)
        events = self.script(len(self.watch_versions))
        options["on_response"](object())
        yield from events


def run_for(cache: WatchCache, seconds: float) -> None:
    cache.start()
    time.sleep(seconds)
    cache.stop()


def test_watches_that_end_at_once_and_empty_back_off_and_do_not_relist() -> None:
    def empty(count: int) -> Iterator[dict[str, Any]]:
        return iter(())

    api = StubApi(empty)
    cache = WatchCache(api, "Pod", backoff_initial=0.05, backoff_max=0.2)  # type: ignore[arg-type]
    run_for(cache, 1.0)
    # 0.05 + 0.1 + 0.2 + 0.2 + ... : at most about 7 watches in a second.
    assert 3 <= len(api.watch_versions) <= 9
    assert api.lists == 1 and set(api.watch_versions) == {"10"}
    assert cache.stats.backoff_seconds == pytest.approx(0.2)


def test_unexplained_stream_errors_relist_after_a_backoff() -> None:
    def broken(count: int) -> Iterator[dict[str, Any]]:
        raise RuntimeError("watch of pods failed: {'code': 500}")  # an ERROR event, not 410

    api = StubApi(broken)
    cache = WatchCache(api, "Pod", backoff_initial=0.05, backoff_max=0.2)  # type: ignore[arg-type]
    run_for(cache, 0.6)
    assert 2 <= api.lists <= 6 and api.lists == len(api.watch_versions)
    assert cache.stats.errors == len(api.watch_versions)


def test_transient_open_failures_resume_from_the_remembered_version() -> None:
    def flaky(count: int) -> Iterator[dict[str, Any]]:
        if count == 1:
            return iter([{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "42"}}}])
        if count <= 3:
            raise TransientError("watch pods failed (network failure)", reason="ApiUnavailable")
        if count == 4:
            raise WatchExpiredError("too old resource version: 42 (50)")
        return iter(())

    api = StubApi(flaky)
    cache = WatchCache(api, "Pod", backoff_initial=0.02, backoff_max=0.05)  # type: ignore[arg-type]
    run_for(cache, 0.6)
    # list@10 -> bookmark 42 -> two failed resumes from 42 -> 410 from 42 -> list@10
    assert api.watch_versions[:5] == ["10", "42", "42", "42", "10"]
    assert api.lists >= 2 and cache.stats.expired == 1
