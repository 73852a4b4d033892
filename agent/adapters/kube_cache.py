"""An informer-like cache of one resource kind: list, then watch, in a thread.

The cache lists the objects, then watches from the list's resourceVersion. A watch
that ends cleanly (its ``timeoutSeconds``) is resumed from the last seen
resourceVersion; a 410 Gone, a dropped connection or any error re-lists from scratch
(after a bounded, growing delay for errors), and every ``resync_seconds`` a full
re-list replaces the contents, so a missed DELETE cannot linger. ``staleness()`` says
how long since the cache last heard from the API server, so callers can refuse to
act on old data.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.adapters.kube_api import KubeApi, WatchExpiredError, interrupt

__all__ = ["CacheStats", "WatchCache"]

log = logging.getLogger(__name__)
Obj = dict[str, Any]


@dataclass
class CacheStats:
    lists: int = 0
    watches: int = 0
    expired: int = 0  # 410 Gone answers
    errors: int = 0  # dropped connections and failed requests
    events: int = 0
    last_error: str | None = None


class WatchCache:
    """Objects of one ``kind`` (in one namespace, or all), kept current by a watch."""

    def __init__(
        self,
        api: KubeApi,
        kind: str,
        namespace: str | None = None,
        *,
        resync_seconds: float = 300.0,
        watch_timeout: int = 60,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api, self.kind, self.namespace = api, kind, namespace
        self.resync_seconds = resync_seconds
        self.watch_timeout = watch_timeout
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.stats = CacheStats()
        self._clock = clock
        self._objects: dict[tuple[str, str], Obj] = {}
        # The same objects by namespace, kept in step with ``_objects`` (same order), so
        # a per-namespace read does not filter every object of the kind each time.
        self._by_namespace: dict[str, dict[tuple[str, str], Obj]] = {}
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._response: Any = None
        self._resource_version = ""
        self._last_list = float("-inf")
        self._last_contact = float("-inf")

    # ------------------------------------------------------------------ queries

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def items(self, namespace: str | None = None) -> list[Obj]:
        """Every object, or those in ``namespace`` (in the order ``items()`` lists them)."""
        with self._lock:
            if namespace is None:
                return list(self._objects.values())
            return list(self._by_namespace.get(namespace, {}).values())

    def get(self, namespace: str | None, name: str) -> Obj | None:
        with self._lock:
            return self._objects.get((namespace or "", name))

    def staleness(self) -> float:
        """Seconds since the cache last heard from the API server (inf before the first list)."""
        return self._clock() - self._last_contact

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"watch-{self.kind}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            interrupt(response)
        if self._thread is not None:
            self._thread.join(timeout)

    def relist(self) -> None:
        """List everything and replace the contents (also usable without the thread)."""
        items, resource_version = self.api.list(self.kind, self.namespace)
        fresh = {_key(obj): obj for obj in items}
        by_namespace: dict[str, dict[tuple[str, str], Obj]] = {}
        for key, obj in fresh.items():
            by_namespace.setdefault(key[0], {})[key] = obj
        with self._lock:
            self._objects = fresh
            self._by_namespace = by_namespace
            self._resource_version = resource_version
        self.stats.lists += 1
        self._last_list = self._last_contact = self._clock()
        self._synced.set()

    # --------------------------------------------------------------------- loop

    def _run(self) -> None:
        delay = self.backoff_initial
        must_list = True
        while not self._stop.is_set():
            try:
                if must_list or self._clock() - self._last_list >= self.resync_seconds:
                    self.relist()
                    must_list = False
                self._watch_until_timeout()
                delay = self.backoff_initial
            except WatchExpiredError as expired:
                self.stats.expired += 1
                log.info("watch of %s expired (%s); listing again", self.kind, expired)
                must_list = True
            except Exception as exc:  # any failure: back off, then list afresh
                if self._stop.is_set():
                    break
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "watch of %s failed (%s); listing again in %.1fs",
                    self.kind,
                    self.stats.last_error,
                    delay,
                )
                must_list = True
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max)

    def _remember_response(self, response: Any) -> None:
        self._response = response

    def _watch_until_timeout(self) -> None:
        self.stats.watches += 1
        remaining = self.resync_seconds - (self._clock() - self._last_list)
        timeout = max(1, int(min(self.watch_timeout, remaining)))
        events = self.api.watch(
            self.kind,
            self.namespace,
            self._resource_version,
            timeout_seconds=timeout,
            on_response=self._remember_response,
        )
        try:
            for event in events:
                if self._stop.is_set():
                    return
                self._apply(event)
        finally:
            self._response = None
        self._last_contact = self._clock()

    def _apply(self, event: Obj) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        version = (obj.get("metadata") or {}).get("resourceVersion")
        with self._lock:
            if kind in ("ADDED", "MODIFIED"):
                obj.setdefault("kind", self.kind)
                key = _key(obj)
                self._objects[key] = obj
                self._by_namespace.setdefault(key[0], {})[key] = obj
            elif kind == "DELETED":
                key = _key(obj)
                self._objects.pop(key, None)
                inside = self._by_namespace.get(key[0])
                if inside is not None:
                    inside.pop(key, None)
                    if not inside:
                        del self._by_namespace[key[0]]
            if version:
                self._resource_version = version
        self.stats.events += 1
        self._last_contact = self._clock()


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name", ""))
