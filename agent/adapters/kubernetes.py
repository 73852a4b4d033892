"""The Kubernetes cluster adapter: ``ClusterReader`` and ``ClusterWriter`` on the
official ``kubernetes`` client.

Reads come from watch caches (``kube_cache.WatchCache``, one per kind) once
``start()`` has run, and from direct LISTs before that; a cache that has not heard from
the API server for ``stale_after`` seconds is listed again by the read that finds it so,
and not read if that list fails (``_readable``: a ``TransientError``); a remediation
decision's Events (``recent_events``, ``ports.EventReader``) by a few LISTs with field
selectors, never a watch (Events are not cached, and the ClusterRole grants no watch on
them); writes always read fresh (``kube_ops``). Errors arrive as ``agent.errors`` families
with reason codes (``kube_errors``). ``REQUIRED_RBAC`` is the exact set of permissions
these calls need; the manifests' ClusterRole is tested against it.

``namespaces`` (empty: all) limits the reads to those namespaces: every list and watch
of a namespaced kind here then goes to one namespace's endpoint (one cache per kind and
namespace, ``kube_cache.NamespacedCaches``), never across all of them; Nodes stay
cluster-scoped. (``Drain`` still lists the pods on its node in every namespace, as a
drain must.) ``exclude_namespaces`` are never read: no listing returns their objects.

Workloads are Deployments, StatefulSets and Argo Rollouts (``argoproj.io/v1alpha1``,
read through the ``CustomObjectsApi``). Rollouts are optional: on a cluster without their
CRD (404) or without the RBAC to list them (403) they are simply not there, said once in
the log (``kube_cache.OptionalKind``), and every other kind is read as before.

PersistentVolumeClaims and StorageClasses (cluster-scoped) are read for volume expansion
only, and are optional in the same way: without the RBAC to list them (a ClusterRole from
before them) no claim is seen, said once in the log, and nothing else changes.

An object the API server sends in a shape that cannot be read as its model (a negative
or text ``spec.replicas``, labels that are no map: ``kube_state.BadObjectError``) is left
out of the listing it is in, and the reason is logged naming it (a warning once, then at
debug; ``objects_skipped`` counts them, and ``on_unread`` is told each one's kind: the
daemon's ``autonomic_kube_objects_unread_total``); ``get_workload`` of such an object
raises it. One count is one object left out of one listing: an object that stays
unreadable is counted again at every listing that meets it.
A caller that must not take such an object for one that is not there (the engine's
snapshot: a node left out is not a node deleted) passes ``unread`` to the listing, which
adds each object it left out (``UnreadObject``: its name as far as readable, the reason).
Where an object left out would read as no object at all and so permit a write, it is not
left out silently: ``get_hpa_for`` raises it for a workload that such an HPA may scale
(the scaling loop holds the workload, the engine leaves it out of its snapshot, instead of
driving replicas an HPA owns), and ``read_disruption_budgets`` names such a budget in
``unread`` (a drain's plan says it cannot tell, as without list on PDBs).

PodDisruptionBudgets are read for a drain's plan only (``read_disruption_budgets``), and
are optional in the same way: without list on them the plan says they could not be
read, and the drain is planned as it would be without them.

    cluster = KubernetesCluster(
        load_api_client(in_cluster=True), identity="autonomic-0", namespaces=("shop",)
    )
    cluster.start()                      # begin watching; reads use the caches
    result = cluster.apply(Scale(ObjectRef("Deployment", "web", "shop"), 5), dry_run=True)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from agent.adapters.kube_api import KINDS, KubeApi, RefusalHook
from agent.adapters.kube_cache import (
    NamespacedCaches,
    OptionalKind,
    WatchCache,
    event_time,
)
from agent.adapters.kube_errors import (
    ApiCall,
    BadObjectError,
    ConflictError,
    ObjectGoneError,
    PermissionDeniedError,
    RetryPolicy,
)
from agent.adapters.kube_ops import Operations
from agent.adapters.kube_state import (
    CLUSTER_FIELD_MANAGERS,
    ROLLOUT_HASH_LABEL,
    disruption_budget_state,
    hpa_state,
    node_state,
    owner_index,
    parse_time,
    pod_state,
    unread_object,
    volume_claim_state,
    volume_expansion,
    workload_state,
)
from agent.clock import elapsed
from agent.errors import AutonomicError, ConfigError, PermanentError, TransientError
from remediation.ports import (
    REPORT_PREFIX,
    DisruptionBudgets,
    Drain,
    EventsRead,
    EvictionRoom,
    HpaState,
    Kind,
    NodeState,
    ObjectEvent,
    ObjectRef,
    Operation,
    OperationResult,
    PodState,
    UnreadObject,
    VolumeClaimState,
    WorkloadState,
)

__all__ = [
    "CACHED_KINDS",
    "REQUIRED_RBAC",
    "WORKLOAD_KINDS",
    "KubernetesCluster",
    "RbacRule",
    "load_api_client",
    "refusal_labels",
]

log = logging.getLogger("autonomic.kubernetes")
Obj = dict[str, Any]
S = TypeVar("S")
# How many refusals of odd objects are remembered, to say each once (then at debug).
_SKIPPED_REMEMBERED = 1000


@dataclass(frozen=True, order=True)
class RbacRule:
    api_group: str
    resource: str
    verbs: tuple[str, ...]


# Exactly what the adapter calls (reads: the watch caches and fresh GETs; writes: the
# closed set of operations; events). Leader election's Lease rights are in
# ``agent.leader.LEADER_RBAC``.
REQUIRED_RBAC: tuple[RbacRule, ...] = (
    RbacRule("", "pods", ("delete", "get", "list", "watch")),
    RbacRule("", "pods/eviction", ("create",)),
    RbacRule("", "nodes", ("get", "list", "patch", "watch")),
    RbacRule("", "events", ("create", "list")),
    RbacRule("", "persistentvolumeclaims", ("get", "list", "patch", "watch")),
    RbacRule("apps", "deployments", ("get", "list", "patch", "watch")),
    RbacRule("apps", "deployments/scale", ("get", "patch")),
    RbacRule("apps", "statefulsets", ("get", "list", "patch", "watch")),
    RbacRule("apps", "statefulsets/scale", ("get", "patch")),
    RbacRule("apps", "replicasets", ("list", "watch")),
    RbacRule("argoproj.io", "rollouts", ("get", "list", "patch", "watch")),
    RbacRule("argoproj.io", "rollouts/scale", ("get", "patch")),
    RbacRule("autoscaling", "horizontalpodautoscalers", ("get", "list", "patch", "watch")),
    RbacRule("policy", "poddisruptionbudgets", ("list", "watch")),
    RbacRule("storage.k8s.io", "storageclasses", ("get", "list", "watch")),
    # slack.requireKubernetesAccess: may the approver make the plan's writes themselves?
    RbacRule("authorization.k8s.io", "subjectaccessreviews", ("create",)),
)

# The kinds ``list_workloads`` returns; Rollouts only where Argo Rollouts is installed.
WORKLOAD_KINDS: tuple[Kind, ...] = ("Deployment", "StatefulSet", "Rollout")


def refusal_labels(rules: Iterable[RbacRule]) -> list[tuple[str, str, bool]]:
    """Every (verb, resource, optional) a refusal of one of ``rules`` is told as
    (``KubeApi.on_refused``): the closed set of ``autonomic_kube_permission_denied_total``'s
    series, which the daemon exports at 0 from the start, so that the first refusal of
    each is an increase Prometheus sees. ``optional``: a list or watch of an optional kind."""
    optional = {(info.group, info.plural) for info in KINDS.values() if info.optional}
    return [
        (
            verb,
            ApiCall(verb, rule.api_group, rule.resource).rbac_resource,
            verb in ("list", "watch") and (rule.api_group, rule.resource) in optional,
        )
        for rule in rules
        for verb in rule.verbs
    ]


CACHED_KINDS = (
    "Deployment",
    "StatefulSet",
    "Rollout",
    "ReplicaSet",
    "Pod",
    "Node",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "PersistentVolumeClaim",
    "StorageClass",
)


def load_api_client(
    *,
    host: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    in_cluster: bool = False,
    watches: int = 0,
) -> Any:
    """An ``ApiClient`` from an explicit host (tests), in-cluster config, or kubeconfig.

    urllib3's own retries are switched off: the adapter retries, bounded, itself. Each
    open watch holds a connection, so the pool is sized for ``watches`` of them plus
    room for the loops' reads and writes (urllib3 would otherwise discard and reopen
    connections beyond its default of five per CPU).
    """
    import yaml
    from kubernetes import client, config
    from kubernetes.config import kube_config

    class Configuration(client.Configuration):
        """Sends the token without the whitespace around it, as kubectl does.

        A kubeconfig's ``tokenFile`` nearly always ends in a newline (``kubectl create
        token ... > token`` writes one). The client sends the file as it is, and
        http.client refuses the header (``Invalid header value``) on every request. The
        client sets the token again before each request (its refresh hook replaces
        itself), so it is trimmed where it is read, not once after loading.
        """

        def get_api_key_with_prefix(self, identifier: str, alias: str | None = None) -> Any:
            key = super().get_api_key_with_prefix(identifier, alias)
            return key.strip() if isinstance(key, str) else key

    configuration = Configuration()
    # What the client reads when no kubeconfig is configured: $KUBECONFIG, else
    # ~/.kube/config (the library decides; the message names the path it tried).
    given = kubeconfig or str(kube_config.KUBE_CONFIG_DEFAULT_LOCATION)
    paths = [os.path.expanduser(p) for p in given.split(os.pathsep) if p]
    shown = os.pathsep.join(paths)
    if kubeconfig:
        source = "cluster.kubeconfig"
    elif os.environ.get("KUBECONFIG") and given == os.environ["KUBECONFIG"]:
        source = "$KUBECONFIG"
    else:
        source = "the default"
    where = "in-cluster service account" if in_cluster else f"kubeconfig {shown} ({source})"
    if not (host or in_cluster or any(os.path.exists(p) for p in paths)):
        from agent.settings import no_kubeconfig

        raise ConfigError(f"cannot load Kubernetes credentials: {no_kubeconfig(shown, source)}")
    try:
        if host:
            configuration.host = host
        elif in_cluster:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
    except config.ConfigException as exc:
        raise ConfigError(f"cannot load Kubernetes credentials from the {where}: {exc}") from exc
    except OSError as exc:
        raise ConfigError(
            f"cannot load Kubernetes credentials from the {where}: {exc.strerror or exc}"
        ) from None
    except (UnicodeDecodeError, yaml.YAMLError):
        # Never the parser's own text: it may quote a line of the file, tokens included.
        raise ConfigError(
            f"cannot load Kubernetes credentials from the {where}: not a kubeconfig "
            "(not UTF-8 YAML)"
        ) from None
    configuration.retries = False
    configuration.connection_pool_maxsize = max(
        configuration.connection_pool_maxsize or 0, watches + 8
    )
    return client.ApiClient(configuration)


class KubernetesCluster:
    """A live cluster behind the ``ClusterReader`` / ``ClusterWriter`` ports.

    ``namespaces`` (empty: all) is what the adapter reads: with it set, namespaced kinds
    are listed and watched per namespace only, and an object outside them is neither
    listed nor returned by ``get_workload``. ``exclude_namespaces`` are left out in every
    case. ``namespace`` is ``namespaces=(namespace,)``. A namespace both listed and
    excluded is a ``ConfigError``.
    """

    def __init__(
        self,
        api_client: Any,
        *,
        namespace: str | None = None,
        namespaces: Iterable[str] = (),
        exclude_namespaces: Iterable[str] = (),
        identity: str = "autonomic",
        own_pod: str | None = None,
        policy: RetryPolicy | None = None,
        resync_seconds: float = 300.0,
        watch_timeout: int = 60,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = elapsed,
        sleep: Callable[[float], None] = time.sleep,
        ignore_field_managers: Iterable[str] = (),
        event_max_age: float = 3900.0,
        may_write: Callable[[], bool] | None = None,
        stale_after: float | None = None,
        on_unread: Callable[[Kind], None] | None = None,
        on_refused: RefusalHook | None = None,
    ) -> None:
        # ``may_write``: the leader gate's ``is_leader``, asked before every try of every
        # write (``KubeApi``): a replica whose lease ran out mid-write sends no more.
        # ``on_refused``: told of every request the API server refuses (403), the
        # caches' lists and watches included (the daemon counts them in its metrics).
        self.api = KubeApi(
            api_client, policy=policy, sleep=sleep, may_write=may_write, on_refused=on_refused
        )
        # Field managers whose writes are not "a person changed it" (the built-in list
        # of the cluster's own controllers, and the config's additions).
        self.cluster_managers = CLUSTER_FIELD_MANAGERS | frozenset(ignore_field_managers)
        # Listed once each, in the order given; no namespace listed means every one.
        self.namespaces: tuple[str, ...] = tuple(
            dict.fromkeys([*([namespace] if namespace else []), *namespaces])
        )
        self.exclude_namespaces = frozenset(exclude_namespaces)
        both = sorted(set(self.namespaces) & self.exclude_namespaces)
        if both:
            raise ConfigError(
                f"namespace {', '.join(both)} is both listed in namespaces and excluded"
            )
        self.identity = identity
        self._wall_clock = wall_clock
        # ``own_pod``: "namespace/name" of the pod this replica runs in, when known (a
        # drain evicts it last).
        self.operations = Operations(self.api, wall_clock=wall_clock, own_pod=own_pod)
        # Kinds a cluster may not serve (a CRD not installed): why they are not read.
        self.optional = {
            kind: OptionalKind(KINDS[kind]) for kind in CACHED_KINDS if KINDS[kind].optional
        }

        def cache(kind: str, namespace: str | None = None) -> WatchCache:
            return WatchCache(
                self.api,
                kind,
                namespace,
                resync_seconds=resync_seconds,
                watch_timeout=watch_timeout,
                exclude_namespaces=self.exclude_namespaces if KINDS[kind].namespaced else (),
                optional=self.optional.get(kind),
                clock=monotonic,
            )

        # Per kind: one cache of every namespace (less the excluded), or, with
        # ``namespaces`` set, one per namespace read as one. Nodes: one, cluster-scoped.
        self.caches: dict[str, WatchCache | NamespacedCaches] = {
            kind: (
                NamespacedCaches(cache(kind, ns) for ns in self.namespaces)
                if self.namespaces and KINDS[kind].namespaced
                else cache(kind)
            )
            for kind in CACHED_KINDS
        }

        self._started = False
        self.events_failed = 0
        # Objects left out of a listing for a shape that cannot be read (``_skipping``),
        # and the refusals already said at warning level; ``on_unread`` is told the kind
        # of each (the daemon counts them in its metrics).
        self.objects_skipped = 0
        self._on_unread = on_unread
        self._skipped_said: set[str] = set()
        # ``get_hpa_for``'s conversions of each namespace's HPAs, kept while the watch
        # cache's generation of the namespace is the same (see ``_hpa_states``).
        self._hpas_read: dict[str | None, _HpasRead] = {}
        # A cache that has not heard from the API server for this long is not read (see
        # ``_readable``); by default three watch periods: a healthy watch hears at least
        # once a period (an event, a bookmark, or the server ending it).
        self.stale_after = 3.0 * watch_timeout if stale_after is None else stale_after
        if self.stale_after <= 0:
            raise ConfigError(f"stale_after must be positive, got {self.stale_after}")
        self._stale: set[str] = set()  # the kinds whose caches are read past now
        self._stale_lock = threading.Lock()
        self._monotonic = monotonic
        self.event_max_age = event_max_age
        # Per namespace, when a decision's LIST of its target's Events last failed
        # (``monotonic``), why, and its reason code: no other is sent there for
        # ``event_list_pause`` seconds (a Role may grant one namespace and not another).
        self._event_list_failed: dict[str, tuple[float, str, str]] = {}

    @staticmethod
    def watch_count(namespaces: Iterable[str] = ()) -> int:
        """How many watches the caches hold open: one per cached kind, or with
        ``namespaces`` one per namespaced kind and namespace (plus one per cluster-scoped
        kind). Events are never watched (``recent_events`` reads them by LISTs)."""
        listed = len(set(namespaces))
        return sum(listed if listed and KINDS[kind].namespaced else 1 for kind in CACHED_KINDS)

    # ---------------------------------------------------------------- lifecycle

    def start(self, *, wait: float = 10.0) -> bool:
        """Start every watch cache; True when all listed within ``wait`` seconds."""
        for cache in self.caches.values():
            cache.start()
        self._started = True
        deadline = time.monotonic() + wait
        return all(
            c.wait_synced(max(0.0, deadline - time.monotonic())) for c in self.caches.values()
        )

    def stop(self, timeout: float = 2.0) -> None:
        """Stop every watch, waiting ``timeout`` seconds in all for their threads (not
        each in turn): each is told first, then waited for."""
        deadline = time.monotonic() + timeout
        caches = list(self.caches.values())
        for cache in caches:
            cache.stop(0.0)
        for cache in caches:
            cache.stop(max(0.0, deadline - time.monotonic()))
        self._started = False

    def waiting(self) -> str | None:
        """Why the caches are not all filled yet, or None once they are (a cache that
        has listed once stays filled, kept current by its watch, whatever follows)."""
        pending = [kind for kind, cache in self.caches.items() if not cache.synced]
        if not self._started or not pending:
            return None
        errors = [self.caches[kind].last_error for kind in pending]
        last = next((error for error in errors if error), None)
        why = f"; the last attempt: {last}" if last else ""
        return f"waiting for the Kubernetes API server to list {', '.join(pending)} (retrying){why}"

    def staleness(self) -> float:
        """Seconds since the least recently refreshed cache heard from the API server."""
        return max(cache.staleness() for cache in self.caches.values())

    def in_scope(self, namespace: str | None) -> bool:
        """Whether the adapter reads ``namespace``: listed in ``namespaces`` (or none
        are), and not excluded. ``None`` or "" (cluster-scoped) always is."""
        if not namespace:
            return True
        if namespace in self.exclude_namespaces:
            return False
        return not self.namespaces or namespace in self.namespaces

    def out_of_scope(self, namespace: str | None) -> str | None:
        """Why ``namespace`` is not read (the setting that leaves it out), or None."""
        if self.in_scope(namespace):
            return None
        if namespace in self.exclude_namespaces:
            return f"cluster.excludeNamespaces lists namespace {namespace}"
        return f"namespace {namespace} is not in cluster.namespaces ({', '.join(self.namespaces)})"

    def _objects(self, kind: str, namespace: str | None = None) -> list[Obj]:
        """Objects of ``kind`` in ``namespace`` (None: every namespace read), never one
        of a namespace outside ``namespaces`` or in ``exclude_namespaces``."""
        namespaced = KINDS[kind].namespaced
        if namespaced and namespace and not self.in_scope(namespace):
            return []
        cache = self._readable(kind, self.caches.get(kind))
        if cache is not None:
            # The cache indexes by namespace and never holds an excluded one's objects:
            # no copy-and-filter of every object per call.
            return cache.items(namespace or None)
        return self._listed(kind, namespace)

    def _listed(self, kind: str, namespace: str | None) -> list[Obj]:
        """``_objects`` read from the API server (no cache to read): new objects at
        every call. ``namespace`` is one ``in_scope`` says is read, or None."""
        if not KINDS[kind].namespaced:
            return self._list(kind, None)
        if namespace:
            return self._list(kind, namespace)
        if self.namespaces:  # per namespace: never a list across all of them
            return [obj for ns in self.namespaces for obj in self._list(kind, ns)]
        items = self._list(kind, None)
        return [o for o in items if o["metadata"].get("namespace") not in self.exclude_namespaces]

    # A stale cache whose list failed is not listed again by reads for this long: each
    # read in between would wait out another failing LIST (retries and timeouts).
    relist_pause = 30.0

    def _readable(
        self, kind: str, cache: WatchCache | NamespacedCaches | None
    ) -> WatchCache | NamespacedCaches | None:
        """``cache`` when reads may use it: started, listed, and heard from the API
        server in the last ``stale_after`` seconds. None before it has listed (the read
        goes to the API server, as before ``start()``).

        A cache that has not heard from the API server for longer is listed again here,
        at once, and read if that list succeeds: a watch that cannot be opened again (a
        proxy that cuts long-lived connections, watches throttled) is only resumed by its
        thread, not listed, until the next resync, minutes away. Whatever that stale
        watch delivers later is dropped, not applied over the newer list
        (``WatchCache.refresh``). If the list fails too (the API server unreachable, a
        LIST that times out on a large cluster), the cache is not read:
        ``TransientError`` (``KubeCacheStale``), so the loop that reads fails its cycle
        and acts on nothing, as on a Prometheus series gone stale; acting on what it last
        saw would act on a cluster that may be gone (a crash loop since cleared, a pod
        since replaced by a healthy one of the same name). A list that failed is tried
        again by a read ``relist_pause`` seconds later, not by every read.
        Said once when a cache goes stale, and once when it is read again."""
        if not self._started or cache is None or not cache.synced:
            return None
        fresh = cache.fresh(self.stale_after)
        failed: str | None = None
        if not fresh:
            failed = cache.refresh(self.stale_after, pause=self.relist_pause)
            fresh = failed is None
            if fresh:
                log.info(
                    "the watch of %s had not heard from the API server for more than "
                    "%.0f s: listed them again",
                    KINDS[kind].kinds,
                    self.stale_after,
                )
        with self._stale_lock:
            changed = fresh == (kind in self._stale)
            (self._stale.discard if fresh else self._stale.add)(kind)
        kinds = KINDS[kind].kinds
        if fresh:
            if changed:
                log.info("the watch of %s hears from the API server again: read again", kinds)
            return cache
        last = cache.last_error
        why = (
            f"the watch of {kinds} has not heard from the API server for "
            f"{cache.staleness():.0f} s (more than {self.stale_after:.0f} s"
            + (f"; its last error: {last}" if last else "")
            + (f"; listing them again failed: {failed}" if failed else "")
            + f"): {kinds} are not read from what it last saw until it hears again"
        )
        if changed:
            log.warning("%s", why)
        raise TransientError(why, reason="KubeCacheStale")

    def _list(self, kind: str, namespace: str | None) -> list[Obj]:
        """A direct LIST. An optional kind the cluster does not serve (404) or lets
        Autonomic read (403) lists as nothing, and the reason is said once."""
        optional = self.optional.get(kind)
        try:
            items = self.api.list(kind, namespace)[0]
        except (ObjectGoneError, PermissionDeniedError) as exc:
            if optional is None:
                raise
            optional.unreadable(namespace, exc)
            return []
        if optional is not None:
            optional.readable(namespace)
        return items

    # -------------------------------------------------------------------- reads

    def get_workload(self, ref: ObjectRef) -> WorkloadState | None:
        if ref.kind not in WORKLOAD_KINDS:
            raise PermanentError(
                f"{ref} is not a Deployment, StatefulSet or Rollout", reason="Invalid"
            )
        if not self.in_scope(ref.namespace):
            return None  # outside what the adapter reads, as it is for every listing
        cache = self._readable(ref.kind, self.caches[ref.kind])
        obj: Obj | None
        if cache is not None:
            obj = cache.get(ref.namespace, ref.name)
        else:
            try:
                obj = self.api.read(ref.kind, ref.namespace, ref.name)
            except ObjectGoneError:
                obj = None
        if obj is None:
            return None
        obj.setdefault("kind", ref.kind)
        replicasets = (
            self._objects("ReplicaSet", ref.namespace) if ref.kind != "StatefulSet" else []
        )
        return workload_state(obj, replicasets, self.cluster_managers)

    def _skipping(
        self,
        kind: Kind,
        convert: Callable[[Obj], S],
        objects: Iterable[Obj],
        skipped: list[tuple[Obj, BadObjectError]] | None = None,
    ) -> list[S]:
        """``convert`` of each object; one the API server sent in a shape that cannot be
        read (``BadObjectError``) is left out of the listing, and the reason logged (a
        warning the first time, then at debug: it is met again at every pass), so one
        odd object does not hide all the others from the loops and the engine.
        ``skipped``, when given, gets each object left out and why: for a caller to
        which an object left out must not read as no object at all. Each object left out
        is counted (``objects_skipped``) and its ``kind`` told to ``on_unread``, at every
        pass: an odd object that stays is counted again each time it is listed."""
        states = []
        for obj in objects:
            try:
                states.append(convert(obj))
            except BadObjectError as exc:
                if skipped is not None:
                    skipped.append((obj, exc))
                self._left_out(kind, exc)
        return states

    def _left_out(self, kind: Kind, exc: BadObjectError) -> None:
        """Count and log one object left out of a listing (see ``_skipping``)."""
        self.objects_skipped += 1
        if self._on_unread is not None:
            self._on_unread(kind)
        said = str(exc)
        if said in self._skipped_said:
            log.debug("skipped: %s", said)
            return
        if len(self._skipped_said) >= _SKIPPED_REMEMBERED:
            self._skipped_said.clear()
        self._skipped_said.add(said)
        log.warning("skipped an object that cannot be read: %s", said)

    def _hpa_states(self, namespace: str | None) -> _HpasRead:
        """Every HPA of ``namespace`` converted and indexed by the workload it scales,
        and those that cannot be read (each counted and logged as ``_skipping`` does, at
        every call).

        What a watch cache's listing converts to is kept, and reused while the cache's
        generation of the namespace (``WatchCache.generation``) is the one it was read
        at: every event that stores or removes an object there, and every list, makes a
        new one. ``get_hpa_for`` is asked about each workload about three times a cycle
        (the scaling loop, the engine's snapshot, the HPA's explanation), and converting
        every HPA of the namespace at each ask cost about as much as the rest of the
        cycle; so did comparing every HPA's id and resourceVersion with the kept ones at
        each ask, which the generation replaces. A listing read from the API server (no
        cache to read, or not yet) is new objects every time: converted every time."""
        kind: Kind = "HorizontalPodAutoscaler"
        if namespace and not self.in_scope(namespace):
            return _NO_HPAS
        cache = self._readable(kind, self.caches.get(kind))
        generation: int | None = None
        if cache is None:
            objects = self._listed(kind, namespace)
        else:
            generation = cache.generation(namespace or None)  # before the items: see there
            held = self._hpas_read.get(namespace)
            if held is not None and held.generation == generation:
                for _, exc in held.unreadable:
                    self._left_out(kind, exc)
                return held
            objects = cache.items(namespace or None)
        unreadable: list[tuple[Obj, BadObjectError]] = []
        states = self._skipping(
            kind, lambda obj: hpa_state(obj, self.cluster_managers), objects, unreadable
        )
        read = _HpasRead(generation, _by_target(states), tuple(unreadable))
        if generation is not None:
            self._hpas_read[namespace] = read
        return read

    def list_workloads(
        self, namespace: str | None = None, *, unread: list[UnreadObject] | None = None
    ) -> list[WorkloadState]:
        replicasets = self._objects("ReplicaSet", namespace)
        by_owner: dict[str, list[Obj]] = {}
        for rs in replicasets:
            for owner in (rs.get("metadata") or {}).get("ownerReferences") or []:
                if isinstance(owner, dict) and owner.get("controller"):
                    by_owner.setdefault(str(owner.get("uid", "")), []).append(rs)
        states = []
        for kind in WORKLOAD_KINDS:
            objects = self._objects(kind, namespace)
            for obj in objects:
                obj.setdefault("kind", kind)
            skipped: list[tuple[Obj, BadObjectError]] = []
            states += self._skipping(
                kind,
                lambda obj: workload_state(
                    obj,
                    by_owner.get(str((obj.get("metadata") or {}).get("uid", "")), []),
                    self.cluster_managers,
                ),
                objects,
                skipped,
            )
            _name_unread(unread, kind, skipped)
        return sorted(states, key=lambda s: s.ref)

    def list_pods(
        self,
        namespace: str | None = None,
        selector: dict[str, str] | None = None,
        *,
        unread: list[UnreadObject] | None = None,
    ) -> list[PodState]:
        workloads = [
            {**obj, "kind": kind}
            for kind in WORKLOAD_KINDS
            for obj in self._objects(kind, namespace)
        ]
        owners = owner_index(self._objects("ReplicaSet", namespace), workloads)
        wanted = selector or {}
        pods = [
            p
            for p in self._objects("Pod", namespace)
            if all(_labels(p).get(k) == v for k, v in wanted.items())
        ]
        skipped: list[tuple[Obj, BadObjectError]] = []
        states = self._skipping("Pod", lambda p: pod_state(p, owners), pods, skipped)
        _name_unread(unread, "Pod", skipped, owners)
        return sorted(states, key=lambda s: s.ref)

    def list_nodes(self, *, unread: list[UnreadObject] | None = None) -> list[NodeState]:
        skipped: list[tuple[Obj, BadObjectError]] = []
        states = self._skipping(
            "Node", lambda n: node_state(n, self.cluster_managers), self._objects("Node"), skipped
        )
        _name_unread(unread, "Node", skipped)
        return sorted(states, key=lambda s: s.ref)

    def get_hpa_for(self, workload: ObjectRef) -> HpaState | None:
        """The HPA that targets ``workload`` (the first by name when several do; the
        others are named in ``shared_with``), or None.

        An HPA that cannot be read (``BadObjectError``) and targets ``workload``, or whose
        target cannot be told, raises ``BadObjectError``: None would say the workload has
        no HPA, and the scaling loop or a runbook would then write its replicas, which the
        HPA controller owns (or take an HPA floor it wrote as given back)."""
        read = self._hpa_states(workload.namespace)
        for obj, exc in read.unreadable:
            if _may_target(obj, workload):
                raise BadObjectError(
                    f"{workload}: an HPA that may scale it cannot be read, so whether it has "
                    f"one is not known ({exc})"
                )
        return read.by_target.get((workload.kind, workload.name))

    def list_volume_claims(
        self, namespace: str | None = None, *, unread: list[UnreadObject] | None = None
    ) -> list[VolumeClaimState]:
        """PersistentVolumeClaims, each with whether its StorageClass allows expansion
        (unknown when StorageClasses cannot be read)."""
        expansion = volume_expansion(self._objects("StorageClass"))
        claims = self._objects("PersistentVolumeClaim", namespace)
        skipped: list[tuple[Obj, BadObjectError]] = []
        states = self._skipping(
            "PersistentVolumeClaim", lambda c: volume_claim_state(c, expansion), claims, skipped
        )
        _name_unread(unread, "PersistentVolumeClaim", skipped)
        return sorted(states, key=lambda s: s.ref)

    def list_disruption_budgets(self, namespace: str | None = None) -> list[Obj]:
        return self._objects("PodDisruptionBudget", namespace)

    def read_disruption_budgets(self) -> DisruptionBudgets:
        """Every PodDisruptionBudget read (from the watch cache once started), for a
        drain's plan; ``unread`` says why some or all could not be (a 403: the
        ClusterRole grants no list on poddisruptionbudgets), which stops nothing."""
        unreadable: list[tuple[Obj, BadObjectError]] = []
        budgets = sorted(
            self._skipping(
                "PodDisruptionBudget",
                disruption_budget_state,
                self._objects("PodDisruptionBudget"),
                unreadable,
            ),
            key=lambda b: b.ref,
        )
        errors = self.optional["PodDisruptionBudget"].errors
        # A budget that cannot be read is not one that is not there: the plan says the
        # budgets could not be read, as it does without list on them.
        unread = "; ".join(
            [
                *(
                    f"in namespace {key}: {error}" if key else error
                    for key, error in sorted(errors.items())
                ),
                *sorted(str(exc) for _, exc in unreadable),
            ]
        )
        return DisruptionBudgets(tuple(budgets), unread or None)

    def recent_events(self, target: ObjectRef, related: tuple[ObjectRef, ...] = ()) -> EventsRead:
        """The Events about ``target``, the objects ``related`` to it (its pods, which
        the caller knows from its snapshot) and, for a Deployment or an Argo Rollout, its
        current ReplicaSet (the one of the Deployment's revision, the one a Rollout's
        ``status.currentPodHash`` names: a FailedCreate of a quota or an admission
        webhook is told there), for a decision's evidence. A Node's Events are read in
        ``default``, where the kubelet and the node controllers record them.

        Read by LISTs with a field selector, one per object (``event_lists_read``: at
        most 12 per call), never a watch: a decision comes a few times an hour, and a
        watch cache of Events would LIST every Event in the namespaces read (at its
        start, each resync, after 410 Gone) in one unpaginated response, hundreds of
        megabytes on a busy cluster. At most ``event_pods`` of
        the pods are read, those not ready, restarting or pending first, then the
        newest; ``left_out`` counts the others. Each LIST is one try of at most
        ``event_list_timeout`` seconds (``_target_events_listed``); after the first,
        none is sent once the call has taken that long, or after one fails: what was
        read is kept and ``left_out`` says what was not. The Events of an earlier object
        of the same name (by uid) and those last seen more than ``event_max_age``
        seconds ago (by default the API server's one-hour ``--event-ttl`` and five
        minutes) are left out. The lookups of the
        current ReplicaSet and of the pods' ranking are in the same budget
        (``_looked_up``): a cache as it is, else one quick LIST; the target's own Events
        are listed whatever they took.

        A namespace the adapter does not read raises ``PermanentError``
        (``NamespaceNotRead``); a refused or failed LIST of the target's own Events
        raises as any read does."""
        why = self.out_of_scope(target.namespace)
        if why is not None:
            raise PermanentError(
                f"namespace {target.namespace} is not read ({why})", reason="NamespaceNotRead"
            )
        namespace = target.namespace or "default"
        left_out: list[str] = []
        # The budget counts the lookups too (the ReplicaSet, the pods' ranking): with no
        # cache to read as it is they are LISTs, each one quick try within what is left.
        began = self._monotonic()
        try:
            replicasets = self._current_replicasets(target, began)[:1]
        except AutonomicError as exc:  # not readable in time: the others' Events still read
            replicasets = []
            left_out.append(f"the Events of its ReplicaSet (not read: {exc})")
        pods, unread_pods = self._pods_to_read(namespace, related, began)
        if unread_pods:
            left_out.append(
                f"the Events of {unread_pods} more of its pods (at most {self.event_pods} "
                "are read: those not ready, restarting or pending first, then the newest)"
            )
        wanted = (target, *replicasets, *pods)
        items: list[Obj] = []
        about: list[ObjectRef] = []
        for ref in wanted:
            if about and self._monotonic() - began >= self.event_list_timeout:
                left_out.append(
                    f"the Events of {len(wanted) - len(about)} more of its objects (not "
                    f"read: their LISTs had taken {self.event_list_timeout:.0f} s)"
                )
                break
            try:
                items.extend(self._target_events_listed(ref, namespace))
            except AutonomicError as exc:
                if not about:
                    raise  # not even the target's own: the decision says why
                left_out.append(
                    f"the Events of {len(wanted) - len(about)} more of its objects "
                    f"(not read: {exc})"
                )
                break
            about.append(ref)
        # Of the same object, and none last seen longer ago than ``event_max_age`` (an
        # API server's ``--event-ttl`` may be a day).
        uids, since = self._current_uids(about), self._wall_clock() - self.event_max_age
        created = self._nodes_created(about)
        kept = [
            e
            for e in items
            if _same(e, uids, created) and ((at := event_time(e)) is None or at >= since)
        ]
        return EventsRead(
            tuple(_object_event(e) for e in kept), tuple(about), "; ".join(left_out) or None
        )

    # The most pods whose Events one decision reads (one LIST each): with the target
    # and its current ReplicaSet, at most ``event_lists_read`` LISTs per decision.
    event_pods = 10
    event_lists_read = 2 + event_pods

    def _pods_to_read(
        self, namespace: str, pods: tuple[ObjectRef, ...], began: float
    ) -> tuple[list[ObjectRef], int]:
        """At most ``event_pods`` of ``pods``, those most likely to have Events to tell
        first (not ready, restarting or pending: by ``_looked_up``), then the newest;
        and how many were left out. No lookup when all are read."""
        if len(pods) <= self.event_pods:
            return list(pods), 0
        try:
            held = {_name(p): p for p in self._looked_up("Pod", namespace, began)}
        except AutonomicError:
            held = {}  # not ranked: the first ones given

        def created(ref: ObjectRef) -> str:
            pod = held.get(ref.name)
            stamp = (pod.get("metadata") or {}).get("creationTimestamp") if pod else None
            return stamp if isinstance(stamp, str) else ""

        def rank(ref: ObjectRef) -> int:
            pod = held.get(ref.name)
            return 2 if pod is None else 0 if _troubled(pod) else 1

        newest_first = sorted(pods, key=created, reverse=True)
        chosen = sorted(newest_first, key=rank)[: self.event_pods]
        return chosen, len(pods) - len(chosen)

    # A decision's LIST of one object's Events (``recent_events``) is one try of at
    # most this many seconds unanswered, and after a failure none is sent in that
    # namespace for ``event_list_pause`` seconds; a decision starts no LIST once its
    # Events have taken this long: it never waits on them for more than twice this,
    # however many a cycle makes, whatever the API server does (the adapter's reads
    # retry 4 times, each waiting up to 30 s: two minutes per decision).
    event_list_timeout = 5.0
    event_list_pause = 30.0

    def _target_events_listed(self, target: ObjectRef, namespace: str) -> list[Obj]:
        """``target``'s Events (any object's) by one LIST with a field selector, one
        quick try; a
        ``TransientError`` without asking while the last such LIST's failure is recent."""
        now = self._monotonic()
        failed = self._event_list_failed.get(namespace)
        if failed is not None and now - failed[0] < self.event_list_pause:
            raise TransientError(
                f"Events not listed again within {self.event_list_pause:.0f} s of a LIST "
                f"of them that failed ({now - failed[0]:.0f} s ago): {failed[1]}",
                reason=failed[2],
            )
        policy = self._quick_policy(self.event_list_timeout)
        fields = f"involvedObject.kind={target.kind},involvedObject.name={target.name}"
        try:
            items, _ = self.api.list("Event", namespace, field_selector=fields, policy=policy)
        except AutonomicError as exc:
            said = getattr(exc, "reason", None)
            reason = said if isinstance(said, str) else type(exc).__name__
            self._event_list_failed[namespace] = (self._monotonic(), str(exc), reason)
            raise
        self._event_list_failed.pop(namespace, None)
        return items

    def _quick_policy(self, seconds: float) -> RetryPolicy:
        """The adapter's policy cut to one try of at most ``seconds`` unanswered."""
        timeout = self.api.policy.request_timeout
        return dataclasses.replace(
            self.api.policy,
            attempts=1,
            request_timeout=(min(timeout[0], seconds), min(timeout[1], seconds)),
        )

    def _looked_up(self, kind: str, namespace: str, began: float) -> list[Obj]:
        """``kind``'s objects in ``namespace`` for ``recent_events`` (a namespace it
        reads), started at ``began``: from the watch cache when it can be read as it
        is (started, listed, fresh), else by one LIST of one quick try in what is left
        of the ``event_list_timeout`` budget; never a relist of a stale cache nor a
        read with the adapter's retries, which a decision would wait on. A
        ``TransientError`` once the budget is spent."""
        cache = self.caches.get(kind) if self._started else None
        if cache is not None and cache.synced and cache.fresh(self.stale_after):
            return cache.items(namespace)
        left = self.event_list_timeout - (self._monotonic() - began)
        if left <= 0:
            raise TransientError(
                f"{KINDS[kind].kinds} not listed: the decision's Events had taken "
                f"{self.event_list_timeout:.0f} s",
                reason="EventsBudgetSpent",
            )
        return self.api.list(kind, namespace, policy=self._quick_policy(left))[0]

    def _current_uids(self, refs: Iterable[ObjectRef]) -> dict[tuple[str, str], str]:
        """The uid of each of ``refs`` that the caches hold (by kind and name): an Event
        about an earlier object of the same name (deleted and created again within the
        hour Events are kept: a StatefulSet's pod, a Deployment and its ReplicaSet named
        by its template's hash, a Node) carries that object's uid."""
        uids: dict[tuple[str, str], str] = {}
        for ref in refs:
            cache = self.caches.get(ref.kind) if self._started else None
            obj = cache.get(ref.namespace, ref.name) if cache is not None else None
            uid = (obj.get("metadata") or {}).get("uid") if obj is not None else None
            if isinstance(uid, str) and uid:
                uids[(ref.kind, ref.name)] = uid
        return uids

    def _nodes_created(self, refs: Iterable[ObjectRef]) -> dict[str, float]:
        """When each Node of ``refs`` that the cache holds was created (by name): the
        kubelet's Events name a Node by its name, not its uid, so only their time tells
        those of an earlier Node of the same name (``_same``)."""
        cache = self.caches.get("Node") if self._started else None
        created: dict[str, float] = {}
        for ref in refs:
            node = cache.get(None, ref.name) if cache is not None and ref.kind == "Node" else None
            at = parse_time((node.get("metadata") or {}).get("creationTimestamp")) if node else None
            if at is not None:
                created[ref.name] = at
        return created

    def _current_replicasets(self, target: ObjectRef, began: float) -> list[ObjectRef]:
        """A Deployment's ReplicaSet of its current revision, or an Argo Rollout's
        current one (``status.currentPodHash``: the canary's while it is mid-rollout,
        blueGreen's preview before promotion), both by ``_looked_up`` in the budget of
        the decision's Events started at ``began``; none for another kind, or when the
        current one cannot be told."""
        if target.kind not in ("Deployment", "Rollout"):
            return []
        namespace = target.namespace or "default"
        workload = next(
            (w for w in self._looked_up(target.kind, namespace, began) if _name(w) == target.name),
            None,
        )
        if workload is None:
            return []
        uid = (workload.get("metadata") or {}).get("uid")
        if target.kind == "Rollout":
            # Argo names the ReplicaSet ``<rollout>-<hash>`` and labels it (and its pods)
            # with the hash; it owns it by an ownerReference of kind Rollout.
            pod_hash = (workload.get("status") or {}).get("currentPodHash")
            if not isinstance(pod_hash, str) or not pod_hash:
                return []

            def current(rs: Obj) -> bool:
                labels = (rs.get("metadata") or {}).get("labels") or {}
                said = labels.get(ROLLOUT_HASH_LABEL) if isinstance(labels, dict) else None
                return said == pod_hash or _name(rs) == f"{target.name}-{pod_hash}"

        else:
            revision = _revision(workload)
            if revision is None:
                return []

            def current(rs: Obj) -> bool:
                return _revision(rs) == revision

        return [
            ObjectRef("ReplicaSet", _name(rs), target.namespace)
            for rs in self._looked_up("ReplicaSet", namespace, began)
            if current(rs)
            and any(
                isinstance(o, dict) and o.get("uid") == uid and o.get("kind") == target.kind
                for o in (rs.get("metadata") or {}).get("ownerReferences") or []
            )
        ]

    # ------------------------------------------------------------------- writes

    def snapshot(self, operation: Operation) -> dict[str, Any]:
        return self.operations.snapshot(operation)

    def read_back(self, operation: Operation) -> dict[str, Any]:
        return self.operations.read_back(operation)

    def apply(
        self, operation: Operation, *, dry_run: bool = False, uid: str | None = None
    ) -> OperationResult:
        return self.operations.apply(operation, dry_run=dry_run, uid=uid)

    def drain_round(
        self,
        operation: Drain,
        progress: dict[str, Any] | None = None,
        room: EvictionRoom | None = None,
        *,
        uid: str | None = None,
    ) -> OperationResult:
        return self.operations.drain_round(operation, progress, room, uid=uid)

    def undo(self, operation: Operation, before: dict[str, Any]) -> OperationResult:
        return self.operations.undo(operation, before)

    def post_event(
        self, target: ObjectRef, reason: str, message: str, *, warning: bool = False
    ) -> None:
        """Best effort: an Event that fails to post is logged (with the missing
        permission on 403), never allowed to abort the action it describes."""
        info = KINDS.get(target.kind)
        namespace = target.namespace or "default"
        involved: Obj = {
            "kind": target.kind,
            "name": target.name,
            "apiVersion": info.api_version if info else "v1",
        }
        if target.namespace:
            involved["namespace"] = target.namespace
        # The object may be gone; the Event still records what happened.
        with contextlib.suppress(AutonomicError, KeyError):
            involved["uid"] = self.api.read(target.kind, target.namespace, target.name)[
                "metadata"
            ].get("uid")
        stamp = datetime.fromtimestamp(self._wall_clock(), UTC)
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": _event_name(target.name), "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": "autonomic"},
            "reportingComponent": "autonomic",
            "reportingInstance": self.identity,
            "action": reason,
            "count": 1,
            "firstTimestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        try:
            self.api.create_event(namespace, body)
        except (AutonomicError, ConflictError) as exc:
            log.error("could not post Event %s on %s: %s", reason, target, exc)
            self.events_failed += 1

    def annotate(self, target: ObjectRef, annotations: dict[str, str]) -> None:
        """A merge patch of ``metadata.annotations`` (only keys under ``autonomic.dev/``;
        anything else is refused before a request is made). Errors are raised: the caller
        decides whether a report that did not land matters."""
        foreign = sorted(key for key in annotations if not key.startswith(REPORT_PREFIX))
        if foreign:
            raise PermanentError(
                f"refusing to write annotations outside {REPORT_PREFIX}: {', '.join(foreign)}",
                reason="ForeignAnnotation",
            )
        self.api.patch(
            target.kind,
            target.namespace,
            target.name,
            {"metadata": {"annotations": dict(annotations)}},
        )


def _name_unread(
    unread: list[UnreadObject] | None,
    kind: Kind,
    skipped: Iterable[tuple[Obj, BadObjectError]],
    owners: dict[str, ObjectRef] | None = None,
) -> None:
    """Add to ``unread`` (when the caller asked for it) each object a listing of ``kind``
    left out, with the refusal's message."""
    if unread is not None:
        unread.extend(unread_object(kind, obj, str(exc), owners) for obj, exc in skipped)


@dataclass(frozen=True)
class _HpasRead:
    """One namespace's HPAs as ``_hpa_states`` converted them."""

    generation: int | None  # the watch cache's, of the namespace; None: not from a cache
    # (target kind, target name) -> the HPA that scales it (the first by name when
    # several do, the others named in its ``shared_with``).
    by_target: dict[tuple[str, str], HpaState]
    unreadable: tuple[tuple[Obj, BadObjectError], ...]


_NO_HPAS = _HpasRead(None, {}, ())


def _by_target(states: Iterable[HpaState]) -> dict[tuple[str, str], HpaState]:
    """``_HpasRead.by_target`` of ``states``."""
    found: dict[tuple[str, str], list[HpaState]] = {}
    for hpa in states:
        found.setdefault((hpa.target.kind, hpa.target.name), []).append(hpa)
    by_target = {}
    for target, hpas in found.items():
        hpas.sort(key=lambda hpa: hpa.ref.name)
        others = tuple(hpa.ref.name for hpa in hpas[1:])
        by_target[target] = dataclasses.replace(hpas[0], shared_with=others)
    return by_target


def _may_target(hpa: Obj, workload: ObjectRef) -> bool:
    """Whether an HPA that cannot be read may scale ``workload``: its
    ``spec.scaleTargetRef`` names it, or cannot be read to tell."""
    spec = hpa.get("spec") if isinstance(hpa, dict) else None
    target = spec.get("scaleTargetRef") if isinstance(spec, dict) else None
    if not isinstance(target, dict):
        return True
    kind, name = target.get("kind"), target.get("name")
    if not (isinstance(kind, str) and isinstance(name, str)):
        return True
    return (kind, name) == (workload.kind, workload.name)


def _labels(obj: Obj) -> dict[str, Any]:
    labels = (obj.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}


def _event_name(subject: str) -> str:
    """The subject's name and a random suffix, within the 253 characters a name may have:
    a long subject is cut (at a letter or digit, so the name stays a valid subdomain)."""
    return f"{subject[:236].rstrip('-.')}.{uuid.uuid4().hex[:16]}"


def _name(obj: Obj) -> str:
    name = (obj.get("metadata") or {}).get("name")
    return name if isinstance(name, str) else ""


def _revision(obj: Obj) -> str | None:
    """An object's ``deployment.kubernetes.io/revision`` (a Deployment's and its
    ReplicaSets'), None when it has none."""
    annotations = (obj.get("metadata") or {}).get("annotations")
    value = (
        annotations.get("deployment.kubernetes.io/revision")
        if isinstance(annotations, dict)
        else None
    )
    return value if isinstance(value, str) and value else None


def _troubled(pod: Obj) -> bool:
    """Whether ``pod`` is pending, not ready, or has restarted: a pod whose Events are
    likely to say why."""
    status = pod.get("status")
    if not isinstance(status, dict):
        return True
    if status.get("phase") == "Pending":
        return True
    conditions = status.get("conditions")
    ready = any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in (conditions if isinstance(conditions, list) else [])
    )
    statuses = status.get("containerStatuses")
    restarts = sum(
        c["restartCount"]
        for c in (statuses if isinstance(statuses, list) else [])
        if isinstance(c, dict) and isinstance(c.get("restartCount"), int)
    )
    return not ready or restarts > 0


def _involved(event: Obj) -> tuple[str, str]:
    """The kind and name of the object ``event`` is about."""
    involved = event.get("involvedObject")
    if not isinstance(involved, dict):
        return ("", "")
    return (str(involved.get("kind") or ""), str(involved.get("name") or ""))


# The kubelet records a few Events before it has registered its Node ("Starting",
# "NodeHasSufficientMemory"): one last seen this long before the Node was created is
# still taken as that Node's; one older is an earlier Node's of the same name.
NODE_EVENTS_BEFORE_CREATION = 300.0


def _same(
    event: Obj, uids: Mapping[tuple[str, str], str], nodes_created: Mapping[str, float]
) -> bool:
    """Whether ``event`` may be about the object of its kind and name that ``uids``
    holds: yes unless both uids are known and differ. The kubelet and kube-proxy
    record a Node's Events with the node's name where its uid goes
    (``UID: types.UID(nodeName)``): such an Event is about the Node of that name,
    unless it was last seen more than ``NODE_EVENTS_BEFORE_CREATION`` seconds before
    that Node was created (``nodes_created``): an earlier Node's, deleted and created
    again under the same name."""
    involved = event.get("involvedObject")
    said = involved.get("uid") if isinstance(involved, dict) else None
    kind, name = _involved(event)
    if kind == "Node" and said == name:
        created, at = nodes_created.get(name), event_time(event)
        return created is None or at is None or at >= created - NODE_EVENTS_BEFORE_CREATION
    current = uids.get((kind, name))
    return not (isinstance(said, str) and said and current is not None and said != current)


def _object_event(event: Obj) -> ObjectEvent:
    """``event`` as the port gives it; a field of an odd shape reads as absent."""
    kind, name = _involved(event)
    series = event.get("series")
    count = event.get("count")
    if not isinstance(count, int) and isinstance(series, dict):
        count = series.get("count")
    message = event.get("message") if isinstance(event.get("message"), str) else event.get("note")
    return ObjectEvent(
        about=f"{kind or '?'}/{name or '?'}",
        type=str(event.get("type") or "Normal"),
        reason=str(event.get("reason") or "?"),
        message=message if isinstance(message, str) else "",
        count=count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1,
        last_seen=event_time(event),
    )
