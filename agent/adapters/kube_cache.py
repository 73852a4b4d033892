"""An informer-like cache of one resource kind: list, then watch, in a thread.

The cache lists the objects, then watches from the list's resourceVersion with
``allowWatchBookmarks``, so the server's BOOKMARK events keep the remembered
resourceVersion current even when nothing of this kind changes. As client-go's
reflector does, a watch that ends — the server's ``timeoutSeconds``, a dropped
connection, an API server that cannot be reached for a while — is *resumed* from the
last resourceVersion seen, with no LIST: the server replays what happened meanwhile.
Only an expired resourceVersion (410 Gone, as an HTTP status or an in-stream ERROR
event, "too old resource version") lists again, and so does a failure the cache cannot
classify as a network or server-availability problem.

Failures back off: a growing, jittered delay from ``backoff_initial`` up to
``backoff_max``, reset only by a healthy watch (one that delivered an event or lasted
at least ``HEALTHY_WATCH_SECONDS``). A watch the server ends at once with nothing in it
is a failure too, so nothing loops hot. Each failure is counted in ``stats``
(``errors``, ``failures_in_a_row``, ``backoff_seconds``); the first, then every
power-of-two and every 30th in a row, is logged as a warning, and the recovery after
them is logged. A refusal (403: the ServiceAccount may not list or watch the kind there)
is a failure like the others, backed off alike, but is logged as a warning once per
change (a refusal of another verb or namespace, or the same one after a healthy watch),
at debug the other times: it names the missing permission, and only a person can grant
it. Each refused request is counted by the adapter (``KubeApi.on_refused``). Every
``resync_seconds`` a full re-list still replaces the contents, so a missed DELETE
cannot linger. ``staleness()`` says how long since the cache last
heard from the API server, and ``fresh(max_age)`` whether that is recent enough;
``refresh(max_age)`` lists again at once a cache that is not (``KubernetesCluster``
does, from the read that found it so, rather than wait for the resync). Whatever a
watch opened before a list delivers afterwards is dropped, not applied over the newer
list (each list starts a new ``epoch``), and that watch is resumed from the list's
resourceVersion.

``generation(namespace)`` changes whenever what ``items(namespace)`` returns does (a
stored or removed object, a list; not a bookmark), and is never reused by any cache: a
reader may keep what it made of a namespace's objects while it stays the same.

A cache of every namespace can be told to leave some out (``exclude_namespaces``): their
objects are dropped as they arrive, never kept. ``NamespacedCaches`` reads one kind in a
fixed set of namespaces through one ``WatchCache`` per namespace (namespaced LIST and
WATCH only, so RoleBindings in those namespaces are enough).

A cache of an optional kind (a custom resource such as Argo Rollouts' ``Rollout``, or
the PersistentVolumeClaims and StorageClasses only volume expansion reads, given an
``OptionalKind``) whose list answers 404 (the CRD is not installed) or 403 (no RBAC) is
synced and empty rather than failing: it watches nothing and lists again every
``resync_seconds``, so a CRD installed (or a permission granted) later is picked up.
``OptionalKind`` says why, once, not at every attempt.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.adapters.kube_api import KindInfo, KubeApi, WatchExpiredError, interrupt
from agent.adapters.kube_errors import ObjectGoneError, PermissionDeniedError
from agent.clock import elapsed
from agent.errors import TransientError

__all__ = [
    "HEALTHY_WATCH_SECONDS",
    "CacheStats",
    "NamespacedCaches",
    "OptionalKind",
    "WatchCache",
    "event_time",
]

log = logging.getLogger("autonomic.kubernetes.cache")
Obj = dict[str, Any]

# Every change to any cache's contents takes the next number of this one count, so a
# generation (``WatchCache.generation``) names one state of one cache's contents: two
# equal generations are the same cache holding the very same objects.
_GENERATIONS = itertools.count(1)

# A watch that delivered nothing and ended sooner than this is treated as a failure
# (client-go's reflector uses the same one-second rule for "very short watch").
HEALTHY_WATCH_SECONDS = 1.0


class OptionalKind:
    """Whether an optional kind can be read, said once per change rather than at every
    list: the watch caches' lists and the adapter's direct ones report here.

    A 404 to a list means the API server does not serve the resource at all (its CRD is
    not installed): said once at INFO for the whole cluster, however many namespaces are
    read. A 403 means the ServiceAccount may not list it there: said once (per namespace,
    when namespaces are read one by one) as a WARNING that names the missing permission.
    A list that works again after either is said once at INFO.
    """

    def __init__(self, info: KindInfo) -> None:
        self.info = info
        # "" (the whole cluster) or a namespace -> the sentence last said about it.
        self._said: dict[str, str] = {}
        # The same keys -> the error the last list there answered, while it holds.
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()

    def unreadable(self, namespace: str | None, error: Exception) -> None:
        """A list of the kind (in ``namespace``, or every one) answered 404 or 403."""
        info = self.info
        if isinstance(error, PermissionDeniedError):
            key, level = namespace or "", logging.WARNING
            where = f" in namespace {namespace}" if namespace else ""
            said = (
                f"{info.kinds}{where} are not read, {info.unread}: {error} "
                "(the other kinds carry on)"
            )
        else:
            key, level = "", logging.INFO
            why = f" ({info.optional} is not installed)" if info.api == "CustomObjectsApi" else ""
            said = (
                f"the API server does not serve {info.resource}/{info.version}{why}: "
                f"{info.kinds} are not read; the other kinds carry on"
            )
        with self._lock:
            self._errors[key] = str(error)
            if self._said.get(key) == said:
                return
            self._said[key] = said
        log.log(level, "%s", said)

    def readable(self, namespace: str | None) -> None:
        """A list of the kind (in ``namespace``, or every one) worked."""
        with self._lock:
            before = [self._said.pop(key, None) for key in {namespace or "", ""}]
            for key in {namespace or "", ""}:
                self._errors.pop(key, None)
        if any(before):
            where = f" in namespace {namespace}" if namespace else ""
            log.info("%ss%s are read now (%s answers)", self.info.kind, where, self.info.resource)

    @property
    def errors(self) -> dict[str, str]:
        """The errors of the lists that failed and have not worked since, by namespace
        ("" for the whole cluster): the API server's reason, as the error says it."""
        with self._lock:
            return dict(self._errors)

    @property
    def said(self) -> dict[str, str]:
        """What was last said and still holds, by namespace ("" for the whole cluster)."""
        with self._lock:
            return dict(self._said)


@dataclass
class CacheStats:
    lists: int = 0
    refreshes: int = 0  # of which a reader's, for a cache that had stopped hearing
    watches: int = 0  # watch requests opened, after a list or resumed
    resumes: int = 0  # of which not straight after a list: from the remembered version
    expired: int = 0  # 410 Gone answers (each followed by a re-list)
    errors: int = 0  # failed requests, dropped connections, empty short watches
    events: int = 0  # ADDED / MODIFIED / DELETED applied
    bookmarks: int = 0
    disconnects: int = 0  # watch streams cut mid-flight (then resumed)
    failures_in_a_row: int = 0  # reset by a healthy watch
    backoff_seconds: float = 0.0  # the delay waited after the latest failure
    last_error: str | None = None


class WatchCache:
    """Objects of one ``kind`` (in one namespace, or all), kept current by a watch.

    ``exclude_namespaces`` (for a cache of every namespace): objects in these namespaces
    are never kept, so no read returns them. ``optional`` (for a kind whose CRD may be
    missing): a list answered 404 or 403 leaves the cache synced and empty (``unserved``
    says why) and is tried again every ``resync_seconds``.
    """

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
        backoff_jitter: float = 0.2,
        exclude_namespaces: Collection[str] = (),
        optional: OptionalKind | None = None,
        clock: Callable[[], float] = elapsed,
    ) -> None:
        self.api, self.kind, self.namespace = api, kind, namespace
        # Whether who last wrote each object is kept, and which fields' owners (see
        # ``_slim``).
        self._owners = kind in OWNER_KINDS or kind in FIELDS_KEPT
        self._fields = FIELDS_KEPT.get(kind, ())
        # Whether string values are interned (see ``_share_strings``): not for Events, a
        # flood of mostly unique names and times that the cache keeps only briefly.
        self._share = kind != "Event"
        self.exclude_namespaces = frozenset(exclude_namespaces)
        self.optional = optional
        self.unserved: str | None = None  # why an optional kind is not read, while it is not
        # What the logs call this cache: "Pod", or "Pod in shop".
        self.label = kind if namespace is None else f"{kind} in {namespace}"
        self.resync_seconds = resync_seconds
        self.watch_timeout = watch_timeout
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.backoff_jitter = backoff_jitter
        self.stats = CacheStats()
        self._clock = clock
        self._objects: dict[tuple[str, str], Obj] = {}
        # The same objects by namespace, kept in step with ``_objects`` (same order), so
        # a per-namespace read does not filter every object of the kind each time.
        self._by_namespace: dict[str, dict[tuple[str, str], Obj]] = {}
        # Generations (see ``generation``): the whole cache's, the latest list's (every
        # namespace's until something in it changes), and each namespace's changed since.
        self._generation = self._listed_generation = next(_GENERATIONS)
        self._namespace_generations: dict[str, int] = {}
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._response: Any = None
        self._resource_version = ""
        self._last_list = float("-inf")
        self._last_contact = float("-inf")
        self._delay = backoff_initial
        self._random = random.Random()
        # One list at a time (the thread's and a reader's ``refresh``), so an older list
        # never replaces a newer one; ``_epoch`` counts them (see ``_apply``).
        self._list_lock = threading.Lock()
        self._epoch = 0
        # When a ``refresh`` list last failed, and why (see ``refresh``).
        self._refresh_failed: tuple[float, str] | None = None
        # The refusal (403) last said at warning level, until a healthy watch.
        self._refusal_said: tuple[str, str, str, str] | None = None

    @property
    def resource_version(self) -> str:
        """Where the next watch starts: the latest list, event or bookmark."""
        with self._lock:
            return self._resource_version

    # ------------------------------------------------------------------ queries

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    @property
    def last_error(self) -> str | None:
        """The latest failure (``stats.last_error``), if any."""
        return self.stats.last_error

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

    def generation(self, namespace: str | None = None) -> int:
        """A number that changes whenever what ``items(namespace)`` returns changes: an
        object stored (ADDED or MODIFIED, always a new object), one removed (DELETED),
        every list (new objects throughout). A BOOKMARK changes
        nothing stored, so it leaves it. Numbers are never reused, by this cache or any
        other, so a reader may keep what it made of ``items(namespace)`` and reuse it
        while the generation is the one it read first: read the generation, then the
        items (a change in between then only costs one more conversion later)."""
        with self._lock:
            if namespace is None:
                return self._generation
            return self._namespace_generations.get(namespace, self._listed_generation)

    def _changed_locked(self, namespace: str) -> None:
        """What ``namespace`` holds changed: a new generation for it and the cache."""
        self._generation = self._namespace_generations[namespace] = next(_GENERATIONS)

    def staleness(self) -> float:
        """Seconds since the cache last heard from the API server (inf before the first list)."""
        return self._clock() - self._last_contact

    def fresh(self, max_age: float) -> bool:
        """Whether the cache heard from the API server in the last ``max_age`` seconds.
        An optional kind not served (or not allowed) is as fresh as its last answer says:
        it watches nothing, and lists again every ``resync_seconds``."""
        return self.unserved is not None or self.staleness() <= max_age

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self._thread is not None:
            return
        name = f"watch-{self.kind}" + (f"-{self.namespace}" if self.namespace else "")
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            interrupt(response)
        if self._thread is not None:
            self._thread.join(timeout)

    def refresh(self, max_age: float, *, pause: float = 0.0) -> str | None:
        """List again now if the cache has not heard from the API server for ``max_age``
        seconds (a watch that hangs, or that the server keeps refusing), instead of
        waiting for the next resync. None when the cache is fresh (already, or from this
        list), else why not: the list failed. A list that failed is not tried again for
        ``pause`` seconds (every read in between would wait on another failing LIST);
        the reads meanwhile get the same answer."""
        with self._list_lock:
            if self.fresh(max_age):
                return None
            failed = self._refresh_failed
            if failed is not None and self._clock() - failed[0] < pause:
                return failed[1]
            try:
                self._relist_locked()
            except Exception as exc:
                why = f"{type(exc).__name__}: {exc}"
                self._refresh_failed = (self._clock(), why)
                return why
            self._refresh_failed = None
            self.stats.refreshes += 1
            return None

    def relist(self) -> None:
        """List everything and replace the contents (also usable without the thread)."""
        with self._list_lock:
            self._relist_locked()

    def _relist_locked(self) -> None:
        try:
            items, resource_version = self.api.list(self.kind, self.namespace)
        except (ObjectGoneError, PermissionDeniedError) as exc:
            if self.optional is None:
                raise
            self.optional.unreadable(self.namespace, exc)
            items, resource_version = [], ""
            self.unserved = str(exc)
        else:
            if self.optional is not None:
                self.optional.readable(self.namespace)
            self.unserved = None
        fresh = {
            _key(obj): _slim(obj, self._owners, self._share, self._fields)
            for obj in items
            if not self._excluded(obj)
        }
        by_namespace: dict[str, dict[tuple[str, str], Obj]] = {}
        for key, obj in fresh.items():
            by_namespace.setdefault(key[0], {})[key] = obj
        with self._lock:
            self._objects = fresh
            self._by_namespace = by_namespace
            self._generation = self._listed_generation = next(_GENERATIONS)
            self._namespace_generations = {}
            self._resource_version = resource_version
            self._epoch += 1
        self.stats.lists += 1
        self._last_list = self._last_contact = self._clock()
        self._synced.set()

    # --------------------------------------------------------------------- loop

    def _run(self) -> None:
        must_list = True
        while not self._stop.is_set():
            after_list = False
            try:
                if must_list or self._clock() - self._last_list >= self.resync_seconds:
                    self.relist()
                    must_list, after_list = False, True
                if self.unserved is not None:
                    # Not served or not allowed: nothing to watch. Look again later.
                    self._stop.wait(self.resync_seconds)
                    must_list = True
                    continue
                healthy, ended = self._watch_until_timeout(resumed=not after_list)
            except Exception as exc:
                if self._stop.is_set():
                    break
                problem = f"{type(exc).__name__}: {exc}"
                if _is_expired(exc):
                    self.stats.expired += 1
                    log.info("watch of %s expired (%s); listing again", self.label, problem)
                    must_list = True
                    if after_list:  # expired straight after a list: do not loop on it
                        self._failed(problem, "listing again")
                    continue
                # The server unreachable, overloaded or failing: its watch history is
                # still there, so resume; anything else: start again from a list.
                must_list = must_list or not _is_unavailable(exc)
                self._failed(
                    problem,
                    "listing again" if must_list else "resuming the watch",
                    refused=exc if isinstance(exc, PermissionDeniedError) else None,
                )
                continue
            if healthy:
                self._recovered()
            elif not self._stop.is_set():
                self._failed(ended, "resuming the watch")

    def _failed(
        self, problem: str, next_step: str, *, refused: PermissionDeniedError | None = None
    ) -> None:
        """Count a failure, log it (rate-limited; a refusal once per change), and wait
        the backoff delay."""
        self.stats.errors += 1
        self.stats.failures_in_a_row += 1
        self.stats.last_error = problem
        base = self._delay
        delay = min(self.backoff_max, base * (1.0 + self.backoff_jitter * self._random.random()))
        self._delay = min(base * 2, self.backoff_max)
        self.stats.backoff_seconds = delay
        count = self.stats.failures_in_a_row
        if refused is not None:
            said = (refused.verb, refused.group, refused.resource, refused.namespace)
            loud, self._refusal_said = said != self._refusal_said, said
            log.log(
                logging.WARNING if loud else logging.DEBUG,
                "watch of %s refused (%s), %d in a row; %s in %.1fs, then every %.0fs at "
                "most (said again only when the refusal changes)",
                self.label,
                problem,
                count,
                next_step,
                delay,
                self.backoff_max,
            )
            self._stop.wait(delay)
            return
        loud = count & (count - 1) == 0 or count % 30 == 0
        log.log(
            logging.WARNING if loud else logging.DEBUG,
            "watch of %s failed (%s), %d in a row; %s in %.1fs",
            self.label,
            problem,
            count,
            next_step,
            delay,
        )
        self._stop.wait(delay)

    def _recovered(self) -> None:
        if self.stats.failures_in_a_row:
            log.info(
                "watch of %s is healthy again after %d failures in a row",
                self.label,
                self.stats.failures_in_a_row,
            )
        self.stats.failures_in_a_row = 0
        self._delay = self.backoff_initial
        self._refusal_said = None

    def _watch_until_timeout(self, *, resumed: bool) -> tuple[bool, str]:
        """Watch from the remembered resourceVersion until the stream ends.

        Returns whether the watch was healthy (delivered an event, bookmarks included,
        or lasted ``HEALTHY_WATCH_SECONDS``) and how it ended. A connection lost after
        the stream opened ends the watch like a timeout does (it is resumed); failing to
        open it, a 410 and anything unexpected raise.
        """
        self.stats.watches += 1
        if resumed:
            self.stats.resumes += 1
        remaining = self.resync_seconds - (self._clock() - self._last_list)
        timeout = max(1, int(min(self.watch_timeout, remaining)))
        opened = False

        def remember(response: Any) -> None:
            nonlocal opened
            opened = True
            self._response = response

        started, received = time.monotonic(), 0
        ended = "the server ended the watch"
        with self._lock:  # where it starts, and from which list
            resource_version, epoch = self._resource_version, self._epoch
        events = self.api.watch(
            self.kind,
            self.namespace,
            resource_version,
            timeout_seconds=timeout,
            on_response=remember,
        )
        superseded = False
        try:
            for event in events:
                if self._stop.is_set():
                    break
                if not self._apply(event, epoch):
                    # A list (a reader's ``refresh``) replaced the contents since this
                    # watch opened: what it brings now is older than that list. Resume
                    # from the list's resourceVersion instead.
                    superseded = True
                    ended = "a list since replaced what this watch started from"
                    break
                received += 1
                if received == 1:
                    self._recovered()  # the server answers again: end any backoff
            else:
                self._last_contact = self._clock()
        except Exception as exc:
            if not opened or not _is_unavailable(exc):
                raise
            self.stats.disconnects += 1
            ended = f"connection lost: {type(exc).__name__}: {exc}"
        finally:
            self._response = None
        lasted = time.monotonic() - started
        healthy = superseded or received > 0 or lasted >= HEALTHY_WATCH_SECONDS
        if not healthy:
            ended = f"{ended} after {lasted:.2f}s with no events"
        return healthy, ended

    def _apply(self, event: Obj, epoch: int | None = None) -> bool:
        """Apply one watch event; False (nothing applied) when the watch was opened
        before the latest list (``epoch`` is not the current one)."""
        kind, obj = event.get("type"), event.get("object") or {}
        version = (obj.get("metadata") or {}).get("resourceVersion")
        with self._lock:
            if epoch is not None and epoch != self._epoch:
                return False
            if kind in ("ADDED", "MODIFIED") and not self._excluded(obj):
                obj = _slim(obj, self._owners, self._share, self._fields)
                obj.setdefault("kind", self.kind)
                key = _key(obj)
                self._objects[key] = obj
                self._by_namespace.setdefault(key[0], {})[key] = obj
                self._changed_locked(key[0])
            elif kind == "DELETED":
                self._remove_locked(_key(obj))
            if version:
                self._resource_version = version
        if kind == "BOOKMARK":
            self.stats.bookmarks += 1
        else:
            self.stats.events += 1
        self._last_contact = self._clock()
        return True

    def _remove_locked(self, key: tuple[str, str]) -> None:
        if self._objects.pop(key, None) is not None:
            self._changed_locked(key[0])
        inside = self._by_namespace.get(key[0])
        if inside is not None:
            inside.pop(key, None)
            if not inside:
                del self._by_namespace[key[0]]

    def _excluded(self, obj: Obj) -> bool:
        namespace = (obj.get("metadata") or {}).get("namespace")
        return bool(namespace) and namespace in self.exclude_namespaces

    def covers(self, namespace: str) -> bool:
        """Whether this cache holds ``namespace``'s objects."""
        if self.namespace is not None:
            return namespace == self.namespace
        return namespace not in self.exclude_namespaces


def event_time(event: Obj) -> float | None:
    """When ``event`` last happened (seconds since the epoch): the latest of its
    ``series.lastObservedTime``, ``lastTimestamp``, ``eventTime`` and ``firstTimestamp``,
    else its ``creationTimestamp``; None when it has no time that reads as one."""
    series = event.get("series") or {}
    latest = None
    for value in (
        series.get("lastObservedTime") if isinstance(series, dict) else None,
        event.get("lastTimestamp"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
    ):
        if isinstance(value, str) and value:
            try:
                at = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
            latest = at if latest is None else max(latest, at)
    if latest is None:  # an Event with none of its own times: when it was created
        created = (event.get("metadata") or {}).get("creationTimestamp")
        if isinstance(created, str) and created:
            with contextlib.suppress(ValueError):
                latest = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
    return latest


class NamespacedCaches:
    """Objects of one namespaced ``kind`` in a fixed set of namespaces, read as one cache.

    One ``WatchCache`` per namespace, each listing and watching only its namespace's
    endpoint (``/namespaces/<ns>/<plural>``): nothing here asks for every namespace.
    The reads are a ``WatchCache``'s: ``items``, ``get``, ``synced``, ``staleness``; an
    object of a namespace outside the set is never there.
    """

    def __init__(self, caches: Iterable[WatchCache]) -> None:
        self.caches: dict[str, WatchCache] = {}
        kinds = set()
        for cache in caches:
            if not cache.namespace:
                raise ValueError(f"a cache of {cache.kind} in every namespace is not one namespace")
            if cache.namespace in self.caches:
                raise ValueError(f"two caches of {cache.kind} in namespace {cache.namespace}")
            self.caches[cache.namespace] = cache
            kinds.add(cache.kind)
        if len(kinds) != 1:
            raise ValueError(f"expected caches of one kind, got {sorted(kinds) or 'none'}")
        self.kind = kinds.pop()

    @property
    def namespaces(self) -> tuple[str, ...]:
        return tuple(self.caches)

    # ------------------------------------------------------------------ queries

    @property
    def synced(self) -> bool:
        return all(cache.synced for cache in self.caches.values())

    @property
    def last_error(self) -> str | None:
        """The latest failure of a namespace not listed yet, else of any, if any."""
        caches = sorted(self.caches.values(), key=lambda cache: cache.synced)
        return next((cache.last_error for cache in caches if cache.last_error), None)

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(
            cache.wait_synced(max(0.0, deadline - time.monotonic()))
            for cache in self.caches.values()
        )

    def items(self, namespace: str | None = None) -> list[Obj]:
        """Every object (namespace by namespace, in the order given), or those in
        ``namespace`` (none for a namespace outside the set)."""
        if namespace is None:
            return [obj for cache in self.caches.values() for obj in cache.items()]
        cache = self.caches.get(namespace)
        return cache.items() if cache is not None else []

    def get(self, namespace: str | None, name: str) -> Obj | None:
        cache = self.caches.get(namespace or "")
        return cache.get(namespace, name) if cache is not None else None

    def generation(self, namespace: str | None = None) -> int:
        """``WatchCache.generation`` of ``namespace``'s cache; with None, the largest of
        every namespace's (generations only grow, so any change makes a larger one). 0
        for a namespace outside the set: it holds nothing, ever."""
        if namespace is None:
            return max(cache.generation() for cache in self.caches.values())
        cache = self.caches.get(namespace)
        return cache.generation() if cache is not None else 0

    def covers(self, namespace: str) -> bool:
        """Whether one of the caches holds ``namespace``'s objects."""
        return namespace in self.caches

    def staleness(self) -> float:
        """The least recently refreshed namespace's staleness."""
        return max(cache.staleness() for cache in self.caches.values())

    def fresh(self, max_age: float) -> bool:
        """Whether every namespace's cache is (``WatchCache.fresh``)."""
        return all(cache.fresh(max_age) for cache in self.caches.values())

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        for cache in self.caches.values():
            cache.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every namespace's watch, waiting ``timeout`` seconds in all."""
        deadline = time.monotonic() + timeout
        for cache in self.caches.values():
            cache.stop(0.0)
        for cache in self.caches.values():
            cache.stop(max(0.0, deadline - time.monotonic()))

    def relist(self) -> None:
        for cache in self.caches.values():
            cache.relist()

    def refresh(self, max_age: float, *, pause: float = 0.0) -> str | None:
        """``WatchCache.refresh`` of each namespace's cache that is not fresh; None when
        all are, else why the first that is not could not be listed."""
        whys = {ns: cache.refresh(max_age, pause=pause) for ns, cache in self.caches.items()}
        return next((f"in namespace {ns}: {why}" for ns, why in whys.items() if why), None)


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name", ""))


def _is_expired(exc: BaseException) -> bool:
    """A 410 Gone in any form: the in-stream ERROR event (``WatchExpiredError``), an
    HTTP 410 answer (translated, with the client's exception as its cause), or the API
    server's "too old resource version" message."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, WatchExpiredError) or getattr(current, "status", None) == 410:
            return True
        if "too old resource version" in str(current).lower():
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_unavailable(exc: BaseException) -> bool:
    """A network failure, timeout, 429 or 5xx (``TransientError`` once the client's
    bounded retries are spent): the server, not the cache's resourceVersion, is the
    problem, so the watch resumes where it was."""
    import urllib3

    return isinstance(exc, (TransientError, urllib3.exceptions.HTTPError, OSError, TimeoutError))


# The kinds whose field managers are kept in a cache: what the "a person changed it
# recently" guard reads (``kube_state.last_change_by_others``).
OWNER_KINDS = frozenset({"Deployment", "StatefulSet", "Rollout", "Node"})
# The kinds whose field managers are kept with the ownership of some fields
# (``fieldsV1``, cut to those): an HPA's ``spec.minReplicas``, whose owner tells a
# person's (or a GitOps tool's) write of the floor from Autonomic's
# (``kube_state.min_replicas_writer``).
FIELDS_KEPT: dict[str, tuple[tuple[str, ...], ...]] = {
    "HorizontalPodAutoscaler": (("spec", "minReplicas"),),
}


def _share_strings(obj: Obj) -> None:
    """Replace every string value in ``obj`` (nested dicts and lists) by its interned
    copy, in place. Each JSON document decodes its own copy of every value, so the same
    namespace, node name, label, image, phase or condition status was held once per
    object: at 3,000 pods, 2,000 ReplicaSets and 1,000 Deployments about 8 MB of
    strings, 1.5 MB of them distinct. An interned string is freed once no object holds it."""
    intern = sys.intern
    stack: list[Any] = [obj]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            for key, value in node.items():
                if type(value) is str:
                    node[key] = intern(value)
                elif type(value) is dict or type(value) is list:
                    stack.append(value)
        else:
            for index, value in enumerate(node):
                if type(value) is str:
                    node[index] = intern(value)
                elif type(value) is dict or type(value) is list:
                    stack.append(value)


def _owned_fields(fields_v1: Any, paths: tuple[tuple[str, ...], ...]) -> Obj:
    """Of a managedFields entry's ``fieldsV1``, only the ``paths`` it names."""
    cut: Obj = {}
    for path in paths:
        node = fields_v1
        for key in path:
            node = node.get(f"f:{key}") if isinstance(node, dict) else None
        if node is None:
            continue
        into = cut
        for key in path:
            into = into.setdefault(sys.intern(f"f:{key}"), {})
    return cut


def _slim(
    obj: Obj,
    owners: bool = False,
    share: bool = True,
    fields: tuple[tuple[str, ...], ...] = (),
) -> Obj:
    """Shrink ``metadata.managedFields`` (server-side apply's field ownership: often a
    third of a real object's JSON; writes read objects fresh from the API server, never
    from this cache). client-go informers are commonly given the same transform.

    ``owners`` False (pods and every other kind): dropped. True (``OWNER_KINDS``): each
    entry cut to its manager, operation, time and subresource, the field sets
    (``fieldsV1``) dropped, and entries for the ``status`` subresource (never a
    person's change) left out: what ``last_change_by_others`` reads. About 0.45 KB in
    memory per entry kept (1.4 KB for a Deployment's usual three: a client's, the
    Deployment controller's, Autonomic's), against several KB with the field sets.
    ``fields`` (``FIELDS_KEPT``, with ``owners``): each entry keeps of its field set
    only these fields, where it owns them (an HPA's: ``{"f:spec": {"f:minReplicas":
    {}}}`` or nothing), what ``min_replicas_writer`` reads.

    ``share`` True (every kind but Events): every string value left is then interned
    (``_share_strings``), so equal values in different objects are one string. Not for
    Events: mostly unique names and times, through the cache and gone, whose churn would
    only grow the interpreter's table of interned strings."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return obj
    entries = metadata.pop("managedFields", None)
    if share:
        _share_strings(obj)
    if owners and isinstance(entries, list):
        kept = []
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("subresource") == "status":
                continue
            small: Obj = {
                key: sys.intern(value) if key != "time" else value
                for key in ("manager", "operation", "time", "subresource")
                if isinstance(value := entry.get(key), str)
            }
            owned = _owned_fields(entry.get("fieldsV1"), fields)
            if owned:
                small["fieldsV1"] = owned
            kept.append(small)
        metadata["managedFields"] = kept
    return obj
