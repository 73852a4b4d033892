"""Pure translation of Kubernetes objects (plain dicts) into the engine's state values.

No I/O here: callers pass the objects they read (from a watch cache or a direct GET),
and these functions return frozen ``remediation.ports`` values.

An object is read as the API server may send it: a field absent or ``null`` is the
API's default (no status: zero counts; no labels: none), an entry of a list that is not
an object (a ``null`` condition) is passed over, and an enum value it does not know (a
condition type or reason a newer Kubernetes adds) is kept as written. What cannot stand
for the model raises ``BadObjectError`` naming the object and the field: a count that is
negative, fractional, text or a bool; labels, annotations or a selector that are not a
map of strings; a name that is not a string. No other exception leaves these functions
(``_refusing``): a shape nobody foresaw is refused the same way, so a caller that lists
skips that one object (``KubernetesCluster``) instead of failing the whole listing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar, cast

from agent.adapters.kube_errors import BadObjectError
from forecasting.hpa_metrics import MetricReading
from remediation.digits import ascii_digits
from remediation.drain_notes import SAFE_TO_EVICT_ANNOTATION
from remediation.ports import (
    ContainerState,
    DisruptionBudgetState,
    HpaState,
    Kind,
    NodeState,
    ObjectRef,
    PodState,
    Toleration,
    UnreadObject,
    VolumeClaimState,
    WorkloadState,
)
from remediation.quantity import parse_quantity

__all__ = [
    "AUTONOMIC_FIELD_MANAGER",
    "CLUSTER_FIELD_MANAGERS",
    "REVISION_ANNOTATION",
    "BadObjectError",
    "disruption_budget_state",
    "hpa_state",
    "last_change_by_others",
    "metric_readings",
    "min_replicas_writer",
    "node_state",
    "not_safe_to_evict",
    "owner_index",
    "parse_time",
    "pod_state",
    "ref_of",
    "revision_of",
    "selector_query",
    "template_without_hash",
    "unread_object",
    "usage_ratio",
    "volume_claim_state",
    "volume_expansion",
    "workload_state",
]

Obj = dict[str, Any]
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
# Argo Rollouts' own, on a Rollout and the ReplicaSets it makes.
ROLLOUT_REVISION_ANNOTATION = "rollout.argoproj.io/revision"
# The label Argo Rollouts puts on each ReplicaSet it makes (and its pods): the template's hash.
ROLLOUT_HASH_LABEL = "rollouts-pod-template-hash"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
# Where claims made before storageClassName existed name their class.
STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
# The kinds whose pods run through ReplicaSets they own (a StatefulSet owns its pods).
_REPLICASET_OWNERS = ("Deployment", "Rollout")
_WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Rollout")
# The field manager Autonomic writes with (agent/adapters/kube_api.py).
AUTONOMIC_FIELD_MANAGER = "autonomic"
# Field managers of the cluster's own machinery, whose writes to a workload or node are
# not a person's: the controllers in kube-controller-manager (the Deployment,
# StatefulSet and node-lifecycle controllers; the HPA, which scales through the
# ``scale`` subresource), the scheduler, the kubelet, the API server itself, the cloud
# controller manager, Argo Rollouts' controller (it writes a Rollout's revision
# annotation), and ``before-first-apply`` (the entry the API server makes up for an
# object written before field managers existed). The config's
# ``cluster.ignoreFieldManagers`` adds to these.
CLUSTER_FIELD_MANAGERS = frozenset(
    {
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-apiserver",
        "cloud-controller-manager",
        "rollouts-controller",
        "before-first-apply",
    }
)


# Past ten Update entries on an object, the API server merges the oldest into one entry
# of this name (its ``capManagersManager``): whose writes it holds is not known.
OLD_UPDATES_MANAGER = "ancient-changes"


def _names_nobody(manager: str) -> bool:
    """Whether a managedFields entry's manager is the API server's bucket of old updates
    (``OLD_UPDATES_MANAGER``), which may hold Autonomic's own writes or a controller's:
    neither reader of the entries takes it for someone's change."""
    return manager == OLD_UPDATES_MANAGER


P = ParamSpec("P")
R = TypeVar("R")


def describe(obj: Any) -> str:
    """``Kind namespace/name`` of an object however odd its metadata, for messages."""
    if not isinstance(obj, dict):
        return f"an object that is no JSON object ({type(obj).__name__})"
    kind = obj.get("kind")
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name, namespace = meta.get("name"), meta.get("namespace")
    shown = name if isinstance(name, str) and name else f"(name {_shown(name)})"
    where = f"{namespace}/" if isinstance(namespace, str) and namespace else ""
    return f"{kind if isinstance(kind, str) and kind else 'object'} {where}{shown}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _refusing(convert: Callable[P, R]) -> Callable[P, R]:
    """Turn any error from reading a shape nobody foresaw (a string where a map belongs)
    into ``BadObjectError`` naming the object, the converted object's first argument."""

    @wraps(convert)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return convert(*args, **kwargs)
        except BadObjectError:
            raise
        except (AttributeError, TypeError, KeyError, ValueError, ArithmeticError) as exc:
            raise BadObjectError(
                f"{describe(args[0])}: not readable ({type(exc).__name__}: {exc})"
            ) from exc

    return guarded


def _whole(obj: Obj, path: str, raw: Any, default: int) -> int:
    """A count (replicas, restarts, a generation): ``default`` when absent or null, a
    whole number that is not negative as is (``3.0`` as 3); anything else is refused."""
    if raw is None:
        return default
    if type(raw) is int and raw >= 0:
        return raw
    if type(raw) is float and math.isfinite(raw) and raw.is_integer() and raw >= 0:
        return int(raw)
    raise BadObjectError(
        f"{describe(obj)}: {path} is {_shown(raw)}, not a whole number that is not negative"
    )


def _whole_or_none(raw: Any) -> int | None:
    """A count only explained, never acted on (the scale's status.replicas): 0 when
    absent (the API leaves a 0 out), None when it is no whole number that is not negative, rather
    than make the whole object unreadable."""
    if raw is None:
        return 0
    if type(raw) is int and raw >= 0:
        return raw
    if type(raw) is float and math.isfinite(raw) and raw.is_integer() and raw >= 0:
        return int(raw)
    return None


def _strings(obj: Obj, path: str, raw: Any) -> dict[str, str]:
    """Labels, annotations or matchLabels: {} when absent or null, else a map of strings."""
    if raw is None:
        return {}
    if isinstance(raw, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        return dict(raw)
    raise BadObjectError(f"{describe(obj)}: {path} is {_shown(raw)}, not a map of strings")


def _entries(raw: Any) -> list[Obj]:
    """The objects of a list field (conditions, statuses, ownerReferences), passing over
    entries that are not objects; none when the field is absent, null or no list."""
    return [entry for entry in raw if isinstance(entry, dict)] if isinstance(raw, list) else []


def _object(raw: Any) -> Obj:
    """A nested object, {} when absent, null or not an object."""
    return raw if isinstance(raw, dict) else {}


def _name(obj: Obj, path: str, raw: Any, default: str | None = "") -> str | None:
    if raw is None:
        return default
    if isinstance(raw, str):
        return raw
    raise BadObjectError(f"{describe(obj)}: {path} is {_shown(raw)}, not a string")


def _ref(obj: Obj, kind: Kind, namespaced: bool = True) -> ObjectRef:
    meta = _object(obj.get("metadata"))
    name = _name(obj, "metadata.name", meta.get("name")) or ""
    namespace = _name(obj, "metadata.namespace", meta.get("namespace"), None)
    return ObjectRef(kind, name, namespace if namespaced else None)


def parse_time(value: Any) -> float | None:
    """RFC 3339 timestamp -> epoch seconds (None when absent or unparseable, or a time
    without a zone that Python cannot place, such as year 1)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def last_change_by_others(
    obj: Obj, ignore: frozenset[str] | set[str] = CLUSTER_FIELD_MANAGERS
) -> float | None:
    """When someone other than Autonomic and the cluster's own controllers last wrote
    ``obj`` (epoch seconds, whole seconds as Kubernetes records them), from its
    ``metadata.managedFields``; None when no such write is recorded.

    Each entry names a field manager (``kubectl-edit``, ``kubectl-client-side-apply``,
    ``helm``, ``argocd-controller``, ...), an operation, a subresource and when that
    manager last changed the object. Not counted: Autonomic's own entries, those of the
    managers in ``ignore``, the API server's bucket of old updates (``ancient-changes``:
    past ten Update entries it merges the oldest into it, Autonomic's and the
    controllers' among them, so its time is nobody's in particular), and writes to the
    ``status`` subresource (controllers report there; no person changes what a workload
    or node should be through it). A GitOps tool counts as someone: Autonomic does not
    fight it either. An entry without a manager or with a time that does not parse is
    skipped."""
    entries = (obj.get("metadata") or {}).get("managedFields")
    newest: float | None = None
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):
            continue
        manager = entry.get("manager")
        if not isinstance(manager, str) or not manager:
            continue
        if manager == AUTONOMIC_FIELD_MANAGER or manager in ignore or _names_nobody(manager):
            continue
        if entry.get("subresource") == "status":
            continue
        at = parse_time(entry.get("time"))
        if at is not None and (newest is None or at > newest):
            newest = at
    return newest


def _owns(entry: Obj, path: tuple[str, ...]) -> bool:
    """Whether a managedFields entry's ``fieldsV1`` names the field at ``path``."""
    node: Any = entry.get("fieldsV1")
    for key in path:
        if not isinstance(node, dict):
            return False
        node = node.get(f"f:{key}")
    return node is not None


def min_replicas_writer(
    hpa: Obj, ignore: frozenset[str] | set[str] = CLUSTER_FIELD_MANAGERS
) -> tuple[str, float] | None:
    """Who wrote the HPA's ``spec.minReplicas`` after Autonomic last did, from its
    ``metadata.managedFields``: (field manager, epoch seconds) of the newest entry other
    than Autonomic's and those of the managers in ``ignore`` whose ``fieldsV1`` owns
    the field; None when there is none, or it is older than Autonomic's own entry for
    the field.

    An Update (``kubectl edit``, ``kubectl apply``, a merge patch like Autonomic's) that
    changes the field takes it from every other manager, so a manager other than
    Autonomic owning it changed it after Autonomic's last write that changed it,
    whatever the value: the one Autonomic wrote, put back by a GitOps tool after a
    person changed it, is theirs too. A write that leaves the field as it was takes
    nothing, neither someone's put-back of the value it has nor Autonomic's own write
    that found its value there (the owner then set it before Autonomic's write: the
    scaling loop tells that case apart, ``_overridden``). A server-side apply of the
    same value shares the field instead: then it counts when its time is not older
    than Autonomic's (the same second included; Autonomic's write would have taken the
    field from an earlier one). Status writes, entries without a manager or a time
    that parses, and the API server's bucket of old updates (``ancient-changes``, which
    may hold Autonomic's own write) are passed over."""
    entries = (hpa.get("metadata") or {}).get("managedFields")
    ours: float | None = None
    newest: tuple[str, float] | None = None
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict) or entry.get("subresource") == "status":
            continue
        manager = entry.get("manager")
        at = parse_time(entry.get("time"))
        if not isinstance(manager, str) or not manager or at is None:
            continue
        if not _owns(entry, ("spec", "minReplicas")) or _names_nobody(manager):
            continue  # the bucket of old updates may hold Autonomic's own write
        if manager == AUTONOMIC_FIELD_MANAGER:
            ours = at if ours is None else max(ours, at)
        elif manager not in ignore and (newest is None or at > newest[1]):
            newest = (manager, at)
    if newest is None or (ours is not None and newest[1] < ours):
        return None
    return newest


def ref_of(obj: Obj) -> ObjectRef:
    meta = obj.get("metadata") or {}
    return ObjectRef(cast(Kind, obj.get("kind", "")), meta.get("name", ""), meta.get("namespace"))


def revision_of(obj: Obj) -> int:
    """The rollout revision annotation (Argo Rollouts' on its objects); 0 when absent or
    not plain ASCII digits."""
    annotations = _object(_object(obj.get("metadata")).get("annotations"))
    return _count(
        annotations.get(REVISION_ANNOTATION, annotations.get(ROLLOUT_REVISION_ANNOTATION))
    )


def _count(raw: Any) -> int:
    """A whole number written as text or a number; 0 unless plain ASCII digits (Python's
    ``int`` would also take " 2 ", "1_0" or other scripts' digits, which Kubernetes never
    writes: a corrupt annotation must not pass for a real revision)."""
    text = str(raw if raw is not None else 0)
    return int(text) if ascii_digits(text, 18) else 0


def selector_query(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def template_without_hash(template: Obj) -> Obj:
    """A pod template with the ReplicaSet's ``pod-template-hash`` label removed, as
    ``kubectl rollout undo`` does before copying it into the Deployment."""
    import copy

    result = copy.deepcopy(template)
    labels = (result.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop("pod-template-hash", None)
    return result


def _containers(template: Obj) -> tuple[ContainerState, ...]:
    containers = _entries(_object(template.get("spec")).get("containers"))
    return tuple(
        ContainerState(
            name=str(c.get("name") or ""),
            image=str(c.get("image") or ""),
            requests={
                str(k): str(v)
                for k, v in _object(_object(c.get("resources")).get("requests")).items()
            },
            limits={
                str(k): str(v)
                for k, v in _object(_object(c.get("resources")).get("limits")).items()
            },
        )
        for c in containers
    )


def _controller_of(obj: Obj) -> Obj | None:
    for owner in _entries(_object(obj.get("metadata")).get("ownerReferences")):
        if owner.get("controller") is True:
            return owner
    return None


@_refusing
def workload_state(
    obj: Obj,
    replicasets: Iterable[Obj] = (),
    ignore_managers: frozenset[str] = CLUSTER_FIELD_MANAGERS,
) -> WorkloadState:
    """A Deployment, StatefulSet or Argo Rollout; ``replicasets`` (any, filtered here by
    owner uid) give the newest rollout time.

    A Rollout reads as a Deployment does: ``spec.replicas``, ``spec.selector``, the
    status counts; and, for the canary loop, its strategy, ``status.currentPodHash``,
    ``status.stableRS``, ``status.abort``, ``status.blueGreen.activeSelector`` and
    ``previewSelector`` (blue-green) and its ReplicaSets' images by pod-template hash. Its
    ``status.observedGeneration`` is a string (a hash in old Argo versions: read as 0),
    and one that takes its template from a Deployment (``spec.workloadRef``) has
    no containers of its own here."""
    meta, spec, status = (
        _object(obj.get("metadata")),
        _object(obj.get("spec")),
        _object(obj.get("status")),
    )
    conditions = _entries(status.get("conditions"))
    failed = any(
        c.get("type") == "Progressing"
        and c.get("status") == "False"
        and c.get("reason") == "ProgressDeadlineExceeded"
        for c in conditions
    )
    uid = meta.get("uid")
    owned = [
        rs
        for rs in replicasets
        if isinstance(rs, dict) and (_controller_of(rs) or {}).get("uid") == uid
    ]
    newest = max(owned, key=revision_of, default=None)
    rollout = obj.get("kind") == "Rollout"
    strategy = _object(spec.get("strategy"))
    blue_green = _object(status.get("blueGreen")) if rollout else {}
    images_by_hash: dict[str, tuple[str, ...]] = {}
    for rs in owned if rollout else ():
        pod_hash = _object(_object(rs.get("metadata")).get("labels")).get(ROLLOUT_HASH_LABEL)
        if pod_hash:
            template = _object(_object(rs.get("spec")).get("template"))
            images_by_hash[str(pod_hash)] = tuple(c.image for c in _containers(template))
    return WorkloadState(
        ref=_ref(obj, cast(Kind, obj.get("kind", ""))),
        replicas=_whole(obj, "spec.replicas", spec.get("replicas"), 1),
        ready_replicas=_whole(obj, "status.readyReplicas", status.get("readyReplicas"), 0),
        # The scale subresource's status.replicas, which the HPA controller reads: a
        # Rollout's is ``status.HPAReplicas`` (its CRD's ``statusReplicasPath``; blue-green
        # counts the active ReplicaSet's pods only), the others' ``status.replicas``.
        status_replicas=_whole_or_none(status.get("HPAReplicas" if rollout else "replicas")),
        updated_replicas=_whole(obj, "status.updatedReplicas", status.get("updatedReplicas"), 0),
        available_replicas=_whole(
            obj, "status.availableReplicas", status.get("availableReplicas"), 0
        ),
        labels=_strings(obj, "metadata.labels", meta.get("labels")),
        annotations=_strings(obj, "metadata.annotations", meta.get("annotations")),
        selector=_strings(
            obj, "spec.selector.matchLabels", _object(spec.get("selector")).get("matchLabels")
        ),
        containers=_containers(_object(spec.get("template"))),
        generation=_whole(obj, "metadata.generation", meta.get("generation"), 0),
        observed_generation=_count(status.get("observedGeneration")),
        revision=revision_of(obj),
        revision_name=str(status.get("updateRevision") or "")
        if obj.get("kind") == "StatefulSet"
        else "",
        on_delete=obj.get("kind") == "StatefulSet"
        and _object(spec.get("updateStrategy")).get("type") == "OnDelete",
        paused=spec.get("paused") is True,
        rollout_failed=failed,
        last_rollout_at=parse_time(
            _object(_object(newest).get("metadata")).get("creationTimestamp")
        ),
        managed_by_human_at=last_change_by_others(obj, ignore_managers),
        uid=str(uid or ""),
        strategy=next((k for k in ("canary", "blueGreen") if k in strategy), "") if rollout else "",
        pod_hash=str(status.get("currentPodHash") or "") if rollout else "",
        stable_pod_hash=str(status.get("stableRS") or "") if rollout else "",
        active_pod_hash=str(blue_green.get("activeSelector") or ""),
        preview_pod_hash=str(blue_green.get("previewSelector") or ""),
        aborted=status.get("abort") is True if rollout else False,
        images_by_hash=images_by_hash,
        template_from=_template_from(spec) if rollout else "",
    )


def _template_from(spec: Obj) -> str:
    """The Deployment a Rollout takes its pod template from (``spec.workloadRef``), or ""."""
    ref = spec.get("workloadRef") or {}
    if not isinstance(ref, dict) or ref.get("kind") != "Deployment":
        return ""
    return str(ref.get("name") or "")


def owner_index(replicasets: Iterable[Obj], workloads: Iterable[Obj]) -> dict[str, ObjectRef]:
    """A pod controller's uid -> the Deployment, StatefulSet or Rollout the pod belongs to.

    Matched by uid, never by name: a ReplicaSet (and its pods) left behind by a deleted
    Deployment, waiting for the garbage collector, belongs to nobody, even once a new
    Deployment of the same name exists; blaming the new one for them would roll back a
    healthy workload. ``workloads`` are the live Deployment, StatefulSet and Rollout
    objects. (A Rollout with a ``workloadRef`` owns its ReplicaSets, as any Rollout does;
    the Deployment it refers to owns none of them.)
    """
    live: dict[str, ObjectRef] = {}
    for obj in workloads:
        meta = _object(obj.get("metadata")) if isinstance(obj, dict) else {}
        name, namespace = meta.get("name"), meta.get("namespace")
        if not (isinstance(name, str) and (namespace is None or isinstance(namespace, str))):
            continue  # refused by name where it is listed (workload_state)
        if meta.get("uid") and obj.get("kind") in _WORKLOAD_KINDS:
            live[str(meta["uid"])] = ObjectRef(obj["kind"], name, namespace)
    index = {uid: ref for uid, ref in live.items() if ref.kind == "StatefulSet"}
    for rs in replicasets:
        if not isinstance(rs, dict):
            continue
        owner = _controller_of(rs) or {}
        uid = _object(rs.get("metadata")).get("uid")
        workload = live.get(str(owner.get("uid", "")))
        if uid and workload is not None and workload.kind in _REPLICASET_OWNERS:
            index[str(uid)] = workload
    return index


# Waiting reasons runbooks read (triggers in ``remediation.signals``, deletePod and
# evictPod's ``reasons``), in order; ContainerCreating and the like come after.
_WAITING_SIGNALS = (
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
)


def _reason(reasons: list[Any], preferred: tuple[str, ...]) -> str | None:
    """The first of ``preferred`` among the containers' ``reasons``, else the first
    reason given (None: no container has one)."""
    given = [r for r in reasons if r]
    for reason in preferred:
        if reason in given:
            return reason
    return str(given[0]) if given else None


def not_safe_to_evict(pod: Obj) -> bool:
    """Whether ``pod`` is annotated ``cluster-autoscaler.kubernetes.io/safe-to-evict:
    "false"`` (the exact string, as the cluster autoscaler compares it)."""
    annotations = _object(_object(pod.get("metadata")).get("annotations"))
    return annotations.get(SAFE_TO_EVICT_ANNOTATION) == "false"


@_refusing
def pod_state(pod: Obj, owners: Mapping[str, ObjectRef]) -> PodState:
    meta, spec, status = (
        _object(pod.get("metadata")),
        _object(pod.get("spec")),
        _object(pod.get("status")),
    )
    controller = _controller_of(pod)
    owner = owners.get(str((controller or {}).get("uid", "")))
    # Init containers first: they run first, and one crash-looping there keeps every
    # other container waiting in PodInitializing, so it is the reason that counts.
    statuses = [
        *_entries(status.get("initContainerStatuses")),
        *_entries(status.get("containerStatuses")),
    ]
    # The kubelet lists a pod's containers by name, so a sidecar may come before the
    # container in trouble: a reason a runbook triggers on wins over any other (a
    # sidecar's old "Error" must not hide the app's OOMKill), then the first.
    waiting = _reason(
        [_object(_object(s.get("state")).get("waiting")).get("reason") for s in statuses],
        _WAITING_SIGNALS,
    )
    terminated = _reason(
        [_object(_object(s.get("lastState")).get("terminated")).get("reason") for s in statuses],
        ("OOMKilled",),
    )
    conditions = _entries(status.get("conditions"))
    ready_condition: Obj = next((c for c in conditions if c.get("type") == "Ready"), {})
    ready = ready_condition.get("status") == "True"
    scheduled: Obj = next((c for c in conditions if c.get("type") == "PodScheduled"), {})
    unschedulable = None
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        unschedulable = str(scheduled.get("message") or "").strip() or "no message"
    daemon = (controller or {}).get("kind") == "DaemonSet" or MIRROR_ANNOTATION in _object(
        meta.get("annotations")
    )
    return PodState(
        ref=_ref(pod, "Pod"),
        labels=_strings(pod, "metadata.labels", meta.get("labels")),
        phase=str(status.get("phase") or "Unknown"),
        ready=ready,
        node=_name(pod, "spec.nodeName", spec.get("nodeName"), None),
        owner=owner,
        restarts=sum(
            _whole(pod, "status.containerStatuses[].restartCount", s.get("restartCount"), 0)
            for s in statuses
        ),
        waiting_reason=waiting,
        last_termination_reason=terminated,
        started_at=parse_time(status.get("startTime")),
        deleting=bool(meta.get("deletionTimestamp")),
        not_ready_since=None if ready else parse_time(ready_condition.get("lastTransitionTime")),
        daemon=daemon,
        unmanaged=controller is None,
        empty_dir=any("emptyDir" in v for v in _entries(spec.get("volumes"))),
        not_safe_to_evict=not_safe_to_evict(pod),
        created_at=parse_time(meta.get("creationTimestamp")),
        ready_at=parse_time(ready_condition.get("lastTransitionTime")) if ready else None,
        unschedulable=unschedulable,
        tolerations=tuple(_toleration(t) for t in _entries(spec.get("tolerations")) if t),
        uid=str(meta.get("uid") or ""),
    )


def unread_object(
    kind: Kind, obj: Any, why: str, owners: Mapping[str, ObjectRef] | None = None
) -> UnreadObject:
    """What can still be told of an object that could not be read (``why``): its name and
    namespace, for a Pod its node and its workload (through ``owners``, as
    ``pod_state`` finds it), for a Node its labels, each as far as it is readable ("" or
    None when not)."""
    meta = _object(obj.get("metadata")) if isinstance(obj, dict) else {}
    name, namespace = meta.get("name"), meta.get("namespace")
    ref = ObjectRef(
        kind,
        name if isinstance(name, str) else "",
        namespace if isinstance(namespace, str) and kind != "Node" else None,
    )
    if kind == "Node":
        labels = meta.get("labels")
        if labels is None:
            labels = {}
        if not isinstance(labels, dict) or not all(isinstance(k, str) for k in labels):
            return UnreadObject(ref, why)
        pairs = tuple(sorted((k, v) for k, v in labels.items() if isinstance(v, str)))
        odd = tuple(sorted(k for k, v in labels.items() if not isinstance(v, str)))
        return UnreadObject(ref, why, labels=pairs, odd_labels=odd)
    if kind != "Pod" or not isinstance(obj, dict):
        return UnreadObject(ref, why)
    node = _object(obj.get("spec")).get("nodeName")
    controller = _controller_of(obj) or {}
    owner = (owners or {}).get(str(controller.get("uid", "")))
    return UnreadObject(ref, why, node if isinstance(node, str) and node else None, owner)


def _toleration(toleration: Obj) -> Toleration:
    seconds = toleration.get("tolerationSeconds")
    return Toleration(
        key=str(toleration.get("key") or ""),
        # An unset operator is Equal, as the API defaults it.
        operator=str(toleration.get("operator") or "Equal"),
        value=str(toleration.get("value") or ""),
        effect=str(toleration.get("effect") or ""),
        seconds=_seconds(seconds),
    )


def _seconds(raw: Any) -> float | None:
    """``tolerationSeconds`` as a finite float; None (never evicted) when unset or when no
    float holds it (a number beyond any float's range is as good as forever)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        value = float(raw)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


@_refusing
def node_state(node: Obj, ignore_managers: frozenset[str] = CLUSTER_FIELD_MANAGERS) -> NodeState:
    meta, spec, status = (
        _object(node.get("metadata")),
        _object(node.get("spec")),
        _object(node.get("status")),
    )
    entries = _entries(status.get("conditions"))
    conditions = {str(c.get("type") or ""): str(c.get("status") or "Unknown") for c in entries}
    ready_condition: Obj = next((c for c in entries if c.get("type") == "Ready"), {})
    ready = conditions.get("Ready") == "True"
    return NodeState(
        ref=_ref(node, "Node", namespaced=False),
        labels=_strings(node, "metadata.labels", meta.get("labels")),
        ready=ready,
        unschedulable=spec.get("unschedulable") is True,
        conditions=conditions,
        not_ready_since=None if ready else parse_time(ready_condition.get("lastTransitionTime")),
        condition_since={
            str(c.get("type") or ""): since
            for c in entries
            if (since := parse_time(c.get("lastTransitionTime"))) is not None
        },
        managed_by_human_at=last_change_by_others(node, ignore_managers),
        uid=str(meta.get("uid") or ""),
    )


@_refusing
def hpa_state(hpa: Obj, ignore_managers: frozenset[str] = CLUSTER_FIELD_MANAGERS) -> HpaState:
    """An HPA; ``ignore_managers`` as for ``min_replicas_writer``."""
    meta, spec, status = (
        _object(hpa.get("metadata")),
        _object(hpa.get("spec")),
        _object(hpa.get("status")),
    )
    target = _object(spec.get("scaleTargetRef"))
    ref = _ref(hpa, "HorizontalPodAutoscaler")
    owner = _controller_of(hpa)
    scale_up = _object(_object(spec.get("behavior")).get("scaleUp"))
    scale_down = _object(_object(spec.get("behavior")).get("scaleDown"))
    set_by = min_replicas_writer(hpa, ignore_managers)
    return HpaState(
        ref=ref,
        target=ObjectRef(
            cast(Kind, _name(hpa, "spec.scaleTargetRef.kind", target.get("kind"))),
            _name(hpa, "spec.scaleTargetRef.name", target.get("name")) or "",
            ref.namespace,
        ),
        min_replicas=_whole(hpa, "spec.minReplicas", spec.get("minReplicas"), 1),
        max_replicas=_whole(hpa, "spec.maxReplicas", spec.get("maxReplicas"), 0),
        current_replicas=_whole(hpa, "status.currentReplicas", status.get("currentReplicas"), 0),
        desired_replicas=_whole(hpa, "status.desiredReplicas", status.get("desiredReplicas"), 0),
        usage_ratio=usage_ratio(spec, status),
        uid=str(meta.get("uid") or ""),
        controller=f"{owner.get('kind', '')}/{owner.get('name', '')}" if owner else None,
        scale_up_policies=_rate_policies(scale_up.get("policies")),
        scale_up_select=str(scale_up.get("selectPolicy") or ""),
        metrics=_readings_or_none(spec, status),
        tolerance_up=_tolerance(scale_up.get("tolerance")),
        tolerance_down=_tolerance(scale_down.get("tolerance")),
        scale_down_policies=_rate_policies(scale_down.get("policies")),
        scale_down_select=str(scale_down.get("selectPolicy") or ""),
        scale_up_window=_window(scale_up.get("stabilizationWindowSeconds")),
        scale_down_window=_window(scale_down.get("stabilizationWindowSeconds")),
        behavior=isinstance(spec.get("behavior"), dict),
        min_set_by=set_by[0] if set_by else None,
        min_set_at=set_by[1] if set_by else None,
    )


@_refusing
def disruption_budget_state(pdb: Obj) -> DisruptionBudgetState:
    """A policy/v1 PodDisruptionBudget: its selector, spec and status as the disruption
    controller last wrote it (a PDB it has not judged yet has no status: all zero)."""
    meta, spec, status = (
        _object(pdb.get("metadata")),
        _object(pdb.get("spec")),
        _object(pdb.get("status")),
    )
    selector = spec.get("selector")
    expressions = tuple(
        (
            str(e.get("key", "")),
            str(e.get("operator", "")),
            tuple(str(v) for v in e.get("values") or ()),
        )
        for e in _entries(_object(selector).get("matchExpressions"))
    )

    def written(value: Any) -> str | None:
        return None if value is None else str(value)

    generation = meta.get("generation")
    if generation is not None:
        generation = _whole(pdb, "metadata.generation", generation, 0)
    observed = status.get("observedGeneration")
    if observed is not None:
        observed = _whole(pdb, "status.observedGeneration", observed, 0)
    return DisruptionBudgetState(
        ref=_ref(pdb, "PodDisruptionBudget"),
        match_labels=_strings(
            pdb, "spec.selector.matchLabels", _object(selector).get("matchLabels")
        ),
        match_expressions=expressions,
        selector_set=isinstance(selector, dict),
        min_available=written(spec.get("minAvailable")),
        max_unavailable=written(spec.get("maxUnavailable")),
        disruptions_allowed=_count(status.get("disruptionsAllowed")),
        current_healthy=_count(status.get("currentHealthy")),
        desired_healthy=_count(status.get("desiredHealthy")),
        expected_pods=_count(status.get("expectedPods")),
        always_allow_unhealthy=spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow",
        status_current=bool(status)
        and (generation is None or (observed is not None and observed >= generation)),
    )


def _window(raw: Any) -> int | None:
    """A ``stabilizationWindowSeconds``: a whole number of seconds from 0 to 3600 (what
    the API server takes), None when not written or not one."""
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= 3600:
        return raw
    return None


def _rate_policies(policies: Any) -> tuple[tuple[str, int, int], ...]:
    """``behavior.scaleUp.policies`` (or ``scaleDown``'s) as (type, value,
    periodSeconds); an entry the API server would refuse (another type, a value or
    period that is no positive whole number) is left out."""
    found: list[tuple[str, int, int]] = []
    for policy in policies if isinstance(policies, list) else []:
        if not isinstance(policy, dict):
            continue
        kind, value, period = policy.get("type"), policy.get("value"), policy.get("periodSeconds")
        if kind not in ("Pods", "Percent"):
            continue
        if not (isinstance(value, int) and isinstance(period, int)) or isinstance(value, bool):
            continue
        if value > 0 and period > 0 and not isinstance(period, bool):
            found.append((str(kind), value, period))
    return tuple(found)


# Where autoscaling/v2 keeps a metric's target and reading, by the metric's type.
_METRIC_SOURCE = {
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "Pods": "pods",
    "Object": "object",
    "External": "external",
}


def _metric_key(entry: Obj) -> tuple[str, str]:
    """A metric's identity across spec.metrics and status.currentMetrics: its type and
    its resource or metric name."""
    kind = str(entry.get("type", ""))
    source = entry.get(_METRIC_SOURCE.get(kind, "")) or {}
    name = source.get("name") or (source.get("metric") or {}).get("name") or ""
    return kind, str(name)


def _amount(value: Any) -> float | None:
    """A number or a Kubernetes quantity ("500m", "2k") as a float; None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(parse_quantity(value))
        except ValueError:
            return None
    return None


def usage_ratio(spec: Obj, status: Obj) -> float | None:
    """The largest current / target over the HPA's metrics, as the HPA last read them.

    autoscaling/v2 pairs each ``spec.metrics`` entry's target (``averageUtilization``,
    ``averageValue`` or ``value``) with the ``status.currentMetrics`` entry of the same
    type and name; autoscaling/v1's CPU percentage fields are read too. None when no
    pair has a positive target and a reading (a new HPA, or metrics unavailable), and
    when any metric the spec names has none: the HPA sizes on the largest share, so the
    largest of the others (CPU, while a custom-metrics adapter is down) would be taken
    for the one that sizes it."""
    ratios: list[float] = []
    current = {_metric_key(m): m for m in status.get("currentMetrics") or [] if isinstance(m, dict)}
    for metric in spec.get("metrics") or []:
        if not isinstance(metric, dict):
            continue
        key = _metric_key(metric)
        reading = current.get(key)
        if reading is None:
            return None
        field_name = _METRIC_SOURCE.get(key[0], "")
        target = (metric.get(field_name) or {}).get("target") or {}
        now = (reading.get(field_name) or {}).get("current") or {}
        for name in ("averageUtilization", "averageValue", "value"):
            wanted, seen = _amount(target.get(name)), _amount(now.get(name))
            if wanted is not None and seen is not None and wanted > 0 and seen >= 0:
                ratios.append(seen / wanted)
                break
        else:
            return None
    v1_target = _amount(spec.get("targetCPUUtilizationPercentage"))
    v1_seen = _amount(status.get("currentCPUUtilizationPercentage"))
    if not ratios and v1_target and v1_seen is not None and v1_target > 0:
        ratios.append(v1_seen / v1_target)
    finite = [r for r in ratios if math.isfinite(r)]
    return max(finite) if finite else None


# The field of a metric's target and reading that goes with each target type.
_TARGET_FIELD = {
    "Utilization": "averageUtilization",
    "AverageValue": "averageValue",
    "Value": "value",
}


def _reading_key(entry: Obj) -> tuple[str, ...]:
    """A metric's identity across spec.metrics and status.currentMetrics, finer than
    ``_metric_key``: a ContainerResource's container, a metric's label selector and an
    Object metric's object too (the status repeats each as the spec writes it), so two
    metrics of one name are told apart. Any shape reads: an odd one gives "" parts."""
    kind = str(entry.get("type") or "")
    source = _object(entry.get(_METRIC_SOURCE.get(kind, "")))
    metric = _object(source.get("metric"))
    name = str(source.get("name") or metric.get("name") or "")
    if kind in ("Resource", "ContainerResource"):
        return kind, name, str(source.get("container") or "")
    selector = json.dumps(metric.get("selector") or None, sort_keys=True, default=str)
    described = _object(source.get("describedObject"))
    return kind, name, selector, str(described.get("kind") or ""), str(described.get("name") or "")


def _shown_amount(raw: Any, utilization: bool) -> str:
    if raw is None:
        return ""
    return f"{raw}%" if utilization else str(raw)


def metric_readings(spec: Obj, status: Obj) -> tuple[MetricReading, ...]:
    """Each ``spec.metrics`` entry with its reading in ``status.currentMetrics``, in the
    spec's order, for ``forecasting.hpa_metrics`` to work out what each proposes.

    The target's type is ``target.type``, or when not written the one field the target
    sets; the reading is the same field of the status entry of the same type and name
    (None when the status has none: the controller could not read the metric). With no
    ``spec.metrics``, autoscaling/v1's ``targetCPUUtilizationPercentage`` and
    ``currentCPUUtilizationPercentage`` read as one Resource cpu metric. An entry that
    is not an object is passed over."""
    current = {_reading_key(m): m for m in _entries(status.get("currentMetrics")) if m.get("type")}
    found: list[MetricReading] = []
    for metric in _entries(spec.get("metrics")):
        kind, name = _reading_key(metric)[:2]
        source_field = _METRIC_SOURCE.get(kind, "")
        source = _object(metric.get(source_field))
        target = _object(source.get("target"))
        target_type = str(target.get("type") or "")
        if target_type not in _TARGET_FIELD:
            target_type = next((t for t, f in _TARGET_FIELD.items() if f in target), target_type)
        value_field = _TARGET_FIELD.get(target_type, "")
        utilization = target_type == "Utilization"
        label = name
        if kind == "ContainerResource" and source.get("container"):
            label = f"{name} of container {source.get('container')}"
        reading = current.get(_reading_key(metric))
        now = _object(_object(reading.get(source_field)).get("current")) if reading else {}
        seen = now.get(value_field) if value_field else None
        found.append(
            MetricReading(
                kind=kind,
                name=label,
                target_type=target_type,
                target=_amount(target.get(value_field)) if value_field else None,
                current=_amount(seen),
                target_text=_shown_amount(target.get(value_field), utilization),
                current_text=_shown_amount(seen, utilization),
            )
        )
    if not found and spec.get("targetCPUUtilizationPercentage") is not None:
        wanted = spec.get("targetCPUUtilizationPercentage")
        seen = status.get("currentCPUUtilizationPercentage")
        found.append(
            MetricReading(
                kind="Resource",
                name="cpu",
                target_type="Utilization",
                target=_amount(wanted),
                current=_amount(seen),
                target_text=_shown_amount(wanted, True),
                current_text=_shown_amount(seen, True),
            )
        )
    return tuple(found)


def _readings_or_none(spec: Obj, status: Obj) -> tuple[MetricReading, ...]:
    """``metric_readings``, or none when the metrics come in a shape nobody foresaw: they
    only explain the HPA, so they must not make an HPA that reads otherwise unreadable."""
    try:
        return metric_readings(spec, status)
    except (AttributeError, TypeError, KeyError, ValueError, ArithmeticError):
        return ()


def _tolerance(raw: Any) -> float | None:
    """A ``behavior`` tolerance (a quantity such as "0.05" or "50m"), None when unset or
    no finite number that is not negative (the API server refuses a negative one). One
    above 1 is taken as written: the API server takes it too, and a scale-up tolerance
    of 2 stops the HPA scaling up until a metric is three times its target."""
    value = _amount(raw)
    return value if value is not None and math.isfinite(value) and value >= 0.0 else None


def is_workload(obj: Obj) -> bool:
    return obj.get("kind") in _WORKLOAD_KINDS


def _storage_quantity(value: Any) -> str | None:
    """A storage size as written, when it is a Kubernetes quantity; else None."""
    if not isinstance(value, str):
        return None
    try:
        parse_quantity(value)
    except ValueError:
        return None
    return value


def volume_expansion(storage_classes: Iterable[Obj]) -> dict[str, bool]:
    """StorageClass name -> whether it sets ``allowVolumeExpansion: true``."""
    return {
        str((sc.get("metadata") or {}).get("name", "")): sc.get("allowVolumeExpansion") is True
        for sc in storage_classes
    }


@_refusing
def volume_claim_state(claim: Obj, expansion: Mapping[str, bool]) -> VolumeClaimState:
    """A PersistentVolumeClaim; ``expansion`` (from ``volume_expansion``) says whether
    its StorageClass lets it grow (a class not in it: unknown, None)."""
    meta, spec, status = (
        _object(claim.get("metadata")),
        _object(claim.get("spec")),
        _object(claim.get("status")),
    )
    named = spec.get("storageClassName")
    if named is None:
        named = _object(meta.get("annotations")).get(STORAGE_CLASS_ANNOTATION)
    storage_class = str(named) if named else None
    resize = _object(status.get("allocatedResourceStatuses")).get("storage")
    return VolumeClaimState(
        ref=_ref(claim, "PersistentVolumeClaim"),
        labels=_strings(claim, "metadata.labels", meta.get("labels")),
        phase=str(status.get("phase") or ""),
        storage_class=storage_class,
        requested=_storage_quantity(
            _object(_object(spec.get("resources")).get("requests")).get("storage")
        ),
        capacity=_storage_quantity(_object(status.get("capacity")).get("storage")),
        conditions={
            str(c.get("type") or ""): str(c.get("status") or "Unknown")
            for c in _entries(status.get("conditions"))
        },
        expandable=expansion.get(storage_class) if storage_class else None,
        resize_status=str(resize) if resize else None,
        uid=str(meta.get("uid") or ""),
    )
