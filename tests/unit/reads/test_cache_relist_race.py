"""A watch opened before a list (a reader's ``refresh`` of a cache that had stopped
hearing) can still deliver afterwards, and what it delivers is older than that list:
it is dropped, not applied over the list, and the next watch starts from the list's
resourceVersion."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from agent.adapters.kube_cache import WatchCache

Obj = dict[str, Any]


def pod(name: str, version: int, phase: str) -> Obj:
    meta = {"namespace": "shop", "name": name, "resourceVersion": str(version)}
    return {"metadata": meta, "status": {"phase": phase}}


class Api:
    """A list that answers ``listed``; a watch that runs ``meanwhile`` (the list another
    thread makes while the stream is open) before it delivers ``late``."""

    def __init__(self) -> None:
        self.listed: list[Obj] = []
        self.version = "1"
        self.late: list[Obj] = []
        self.meanwhile: Callable[[], None] = lambda: None
        self.watched_from: list[str] = []

    def list(self, kind: str, namespace: str | None) -> tuple[list[Obj], str]:
        return [dict(o) for o in self.listed], self.version

    def watch(self, kind: str, namespace: str | None, version: str, **_: Any) -> Iterator[Obj]:
        self.watched_from.append(version)
        self.meanwhile()
        yield from self.late


def test_what_a_watch_opened_before_a_list_delivers_after_it_is_dropped() -> None:
    api = Api()
    cache = WatchCache(api, "Pod", clock=lambda: 0.0)  # type: ignore[arg-type]
    api.listed, api.version = [pod("web-1", 5, "Running")], "5"
    cache.relist()
    # The stream opens from 5; meanwhile a reader lists (the pod has failed since, 9);
    # then the stream delivers a change from before that list (7).
    api.listed, api.version = [pod("web-1", 9, "Failed")], "9"
    api.meanwhile = cache.relist
    api.late = [{"type": "MODIFIED", "object": pod("web-1", 7, "Pending")}]
    healthy, ended = cache._watch_until_timeout(resumed=True)
    assert cache.get("shop", "web-1") == pod("web-1", 9, "Failed")  # the list's, not older
    assert cache.resource_version == "9"
    assert healthy and ended == "a list since replaced what this watch started from"
    api.meanwhile = lambda: None
    api.late = [{"type": "MODIFIED", "object": pod("web-1", 11, "Running")}]
    cache._watch_until_timeout(resumed=True)  # the next one starts from the list
    assert api.watched_from == ["5", "9"]
    assert cache.get("shop", "web-1") == {**pod("web-1", 11, "Running"), "kind": "Pod"}
