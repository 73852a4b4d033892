"""The closed set of cluster writes, each as snapshot -> write -> result, and undo.

Every write reads the object fresh, records what undo needs (``snapshot``), and
writes with the read's ``resourceVersion`` as a precondition, so a 409 means someone
changed the object between our read and our write: we read again and retry (bounded),
and the ``before`` we return is always what we actually overwrote. Dry-run sends the
same request with ``dryRun=All``. Undo re-reads, refuses if the fields we wrote no
longer hold our values (someone else has changed them since) or the object is another
one of the same name (its ``metadata.uid``, kept in the snapshot, differs: deleted and
created again since), and writes ``before`` back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from agent.adapters.kube_api import STRATEGIC_PATCH, KubeApi
from agent.adapters.kube_errors import (
    BlockedByBudgetError,
    ConflictError,
    InvalidRequestError,
    ObjectGoneError,
    TargetReplacedError,
    UndoRefusedError,
)
from agent.adapters.kube_state import (
    not_safe_to_evict,
    revision_of,
    selector_query,
    template_without_hash,
)
from agent.errors import PermanentError, TransientError
from remediation.drain_notes import not_replaced, protected_left
from remediation.ports import (
    Cordon,
    DeletePod,
    Drain,
    EvictionRoom,
    EvictPod,
    ExpandVolume,
    ObjectRef,
    Operation,
    OperationResult,
    PatchResources,
    PauseRollout,
    RollbackToPrevious,
    RolloutRestart,
    Scale,
    SetHpaMaxReplicas,
    SetHpaMinReplicas,
    SetImages,
)
from remediation.quantity import parse_quantity

__all__ = ["RESTARTED_AT", "Operations", "merge_diff"]

Obj = dict[str, Any]
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
_TERMINAL_PHASES = ("Succeeded", "Failed")


def merge_diff(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch that turns ``old`` into ``new`` (lists replaced whole)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: Obj = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_diff(old[key], value)
    return patch


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def _uid(obj: Obj) -> str | None:
    """The object's ``metadata.uid`` (a Scale subresource carries its parent's): what
    tells it apart from another created later under the same name."""
    uid = (obj.get("metadata") or {}).get("uid")
    return str(uid) if uid else None


def _images(template: Obj) -> str:
    containers = (template.get("spec") or {}).get("containers") or []
    return ", ".join(f"{c.get('name')}={c.get('image')}" for c in containers)


def _pod_name(pod: Obj) -> str:
    return f"{pod['metadata'].get('namespace')}/{pod['metadata']['name']}"


def _stateful_owner(pod: Obj) -> tuple[str, str]:
    """(``namespace/name`` of ``pod``, the name of the StatefulSet that controls it, or
    "" when none does)."""
    owners = pod["metadata"].get("ownerReferences") or []
    owner = next(
        (o["name"] for o in owners if o.get("controller") and o.get("kind") == "StatefulSet"), ""
    )
    return _pod_name(pod), owner


def _need_kind(ref: ObjectRef, *kinds: str) -> None:
    if ref.kind not in kinds:
        raise InvalidRequestError(f"{ref}: this operation applies to {' or '.join(kinds)} only")


class Operations:
    """Performs ``remediation.ports`` operations against the API through ``KubeApi``."""

    def __init__(
        self,
        api: KubeApi,
        *,
        wall_clock: Callable[[], float] = time.time,
        own_pod: str | None = None,
    ) -> None:
        self.api = api
        self._wall_clock = wall_clock
        # This replica's own pod, "namespace/name" (POD_NAMESPACE, POD_NAME), when known:
        # a drain of the node it runs on evicts it last, once the others are gone, so
        # the drain is finished and recorded before its leader is evicted.
        self.own_pod = own_pod

    # ---------------------------------------------------------------- dispatch

    def snapshot(self, operation: Operation) -> Obj:
        return self._snapshotter(operation)()

    def read_back(self, operation: Operation) -> Obj:
        """``ClusterWriter.read_back``: a rollback's undo is judged by the Deployment's
        template alone (what the undo writes back), so it is read whether or not the
        Deployment controller has observed it, with no previous revision chosen. Every
        other operation's undo is read as its ``snapshot``."""
        if isinstance(operation, RollbackToPrevious):
            ref = operation.target
            _need_kind(ref, "Deployment")
            deployment = self.api.read("Deployment", ref.namespace, ref.name)
            return {
                "template": (deployment.get("spec") or {}).get("template") or {},
                "resourceVersion": _rv(deployment),
                "uid": _uid(deployment),
            }
        return self.snapshot(operation)

    def _snapshotter(self, operation: Operation) -> Callable[[], Obj]:
        ref = operation.target
        match operation:
            case Scale():
                return lambda: self._scale_snapshot(ref)
            case SetHpaMinReplicas() | SetHpaMaxReplicas():
                return lambda: self._hpa_snapshot(ref)
            case RolloutRestart():
                return lambda: self._restart_snapshot(ref)
            case RollbackToPrevious():
                return lambda: self._rollback_snapshot(ref)
            case PauseRollout():
                return lambda: self._pause_snapshot(ref)
            case DeletePod() | EvictPod():
                return lambda: self._pod_snapshot(ref)
            case Cordon():
                return lambda: self._node_snapshot(ref)
            case Drain():
                return lambda: self._drain_snapshot(ref)
            case PatchResources():
                return lambda: self._resources_snapshot(operation)
            case ExpandVolume():
                return lambda: self._claim_snapshot(ref)
            case SetImages():
                return lambda: self._images_snapshot(operation)
        raise InvalidRequestError(f"unknown operation {operation!r}")  # pragma: no cover

    def apply(
        self, operation: Operation, *, dry_run: bool = False, uid: str | None = None
    ) -> OperationResult:
        """Perform ``operation``. ``uid``: the ``metadata.uid`` of the object the caller
        read before (the executor's snapshot): each try re-reads the target, and a
        target deleted and created again since is refused (``TargetReplaced``), never
        written; the patch also carries it, so the server refuses it as well."""
        if isinstance(operation, Drain):
            return self._drain_round(operation, None, dry_run, uid=uid)
        if isinstance(operation, DeletePod | EvictPod):
            return self._remove_pod(operation, dry_run, uid)
        first: list[Obj] = []
        if isinstance(operation, RollbackToPrevious):
            return self._with_conflict_retries(
                lambda: self._rollback_once(operation, dry_run, first, uid), operation, first
            )
        # A restart's stamp is taken once, for every try: a try after a 409 (which follows
        # a lost answer to a write that landed) then finds its own stamp in place and
        # restarts nothing more, where a stamp of its own would restart the pods again.
        stamp = self._restart_stamp() if isinstance(operation, RolloutRestart) else None
        return self._with_conflict_retries(
            lambda: self._write_once(operation, dry_run, first, stamp=stamp, uid=uid),
            operation,
            first,
        )

    def _restart_stamp(self) -> str:
        return datetime.fromtimestamp(self._wall_clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def undo(self, operation: Operation, before: Obj) -> OperationResult:
        if isinstance(operation, RolloutRestart | DeletePod | EvictPod):
            raise UndoRefusedError(
                f"{operation.op} on {operation.target} cannot be undone: the pods it replaced "
                "are gone; a human should decide what to do next",
                reason="NotUndoable",
            )
        if isinstance(operation, ExpandVolume):
            raise UndoRefusedError(
                f"{operation.op} on {operation.target} cannot be undone: a volume cannot "
                "shrink; a human should decide what to do next",
                reason="NotUndoable",
            )
        tries = 0

        def attempt() -> OperationResult:
            nonlocal tries
            tries += 1
            try:
                return self._undo_once(operation, before)
            except UndoRefusedError as exc:
                # A try after a 409 finds the values it would write back already there:
                # the 409 followed a lost answer to this undo's own write, which landed
                # (the client's retry carried the old resourceVersion). Not "someone
                # else changed it since": that is what the undo wrote.
                landed = self._undo_landed(operation, before) if tries > 1 else None
                if landed is None or exc.reason != "ChangedSinceWrite":
                    raise
                return landed

        return self._with_conflict_retries(attempt, operation)

    def _undo_landed(self, operation: Operation, before: Obj) -> OperationResult | None:
        """The undo's result when ``operation``'s target holds again what ``before`` (the
        write's snapshot) recorded, in every field an undo writes back; else None."""
        probe = Cordon(operation.target) if isinstance(operation, Drain) else operation
        try:
            now = self.read_back(probe)
        except PermanentError:  # gone: the refusal stands
            return None
        if before.get("uid") and now.get("uid") and before["uid"] != now["uid"]:
            return None  # another object of the same name: not the one written
        keys = sorted(_written_back(operation, set(before) & set(now) - _NOT_WRITTEN_BACK))
        if not keys or any(now[key] != before[key] for key in keys):
            return None
        shown = ", ".join(f"{key} {now[key]}" for key in keys if key != "template")
        return self._result(
            operation,
            False,
            now,
            {key: now[key] for key in keys},
            f"{operation.target}: undo: {shown or 'its template'} as before Autonomic's write "
            "(the answer to the undo was lost; a read after the 409 that followed shows it "
            "applied)",
        )

    def _with_conflict_retries(
        self,
        attempt: Callable[[], OperationResult],
        operation: Operation,
        first: list[Obj] | None = None,
    ) -> OperationResult:
        """``attempt`` again after each 409. ``first`` receives the first try's read:
        when a later try finds the object already as asked though that read showed it
        otherwise, the change came in between, and a 409 after a write whose answer was
        lost (the write landed, the client's retry then carried a stale resourceVersion)
        is by far the likeliest way: it is reported as this write's change, with the
        first read as its "before", so the action is counted and its Event posted."""
        tries = self.api.policy.conflict_attempts
        unanswered = False  # a 409 came after a try that got no answer
        for attempt_number in range(tries):
            try:
                result = attempt()
            except ConflictError as exc:
                unanswered = unanswered or exc.after_unanswered
                continue
            if attempt_number and first and not result.changed and not result.dry_run:
                if unanswered:
                    return _landed_before(result, first[0])
                # Every 409 was the first answer to its write: someone else wrote the
                # object between Autonomic's read and its write, and what the retry
                # found is theirs (a person cordoned the node meanwhile). Recorded as
                # found (changed nothing), so its undo leaves it to them.
                return replace(
                    result,
                    summary=f"{result.summary} (made so by someone else between "
                    "Autonomic's read and its write: a 409, then a read that found it so)",
                )
            return result
        raise TransientError(
            f"{operation.op} on {operation.target}: the object kept changing under us "
            f"(409 Conflict {tries} times); try again later",
            delay=5.0,
            reason="Conflict",
        )

    def _result(
        self,
        operation: Operation,
        dry_run: bool,
        before: Obj,
        after: Obj,
        summary: str,
        *,
        changed: bool = True,
    ) -> OperationResult:
        if dry_run:
            summary += " (dry run: nothing changed)"
        return OperationResult(operation, dry_run, changed, before, after, summary)

    # ------------------------------------------------------------------ snapshots

    def _scale_snapshot(self, ref: ObjectRef) -> Obj:
        _need_kind(ref, "Deployment", "StatefulSet", "Rollout")
        scale = self.api.read_scale(ref.kind, ref.namespace or "default", ref.name)
        return {
            "replicas": int((scale.get("spec") or {}).get("replicas", 0)),
            "resourceVersion": _rv(scale),
            "uid": _uid(scale),
        }

    def _hpa_snapshot(self, ref: ObjectRef) -> Obj:
        _need_kind(ref, "HorizontalPodAutoscaler")
        hpa = self.api.read(ref.kind, ref.namespace, ref.name)
        spec = hpa.get("spec") or {}
        return {
            "minReplicas": int(spec.get("minReplicas", 1)),
            "maxReplicas": int(spec.get("maxReplicas", 0)),
            "resourceVersion": _rv(hpa),
            "uid": _uid(hpa),
        }

    def _restart_snapshot(self, ref: ObjectRef) -> Obj:
        _need_kind(ref, "Deployment", "StatefulSet")
        obj = self.api.read(ref.kind, ref.namespace, ref.name)
        annotations = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
            "annotations"
        ) or {}
        return {
            "restartedAt": annotations.get(RESTARTED_AT),
            "resourceVersion": _rv(obj),
            "uid": _uid(obj),
        }

    def _rollback_snapshot(self, ref: ObjectRef, *, choosing: bool = True) -> Obj:
        """What a rollback of ``ref`` reads: its revision, template and the previous
        revision's. ``choosing`` (every read but a retry's, which keeps what the first
        read chose): while the Deployment controller has not observed the latest spec
        (``status.observedGeneration`` behind ``metadata.generation``), the revision
        annotation and the ReplicaSets are those of the template before it, so "the
        previous revision" would be one too far back: a ``TransientError``
        (``RolloutNotObserved``), nothing written, until it has caught up."""
        _need_kind(ref, "Deployment")
        deployment = self.api.read("Deployment", ref.namespace, ref.name)
        spec = deployment.get("spec") or {}
        if spec.get("paused"):
            raise PermanentError(
                f"{ref} is paused; resume the rollout before rolling it back",
                reason="RolloutPaused",
            )
        generation = _generation(deployment["metadata"].get("generation"))
        observed = _generation((deployment.get("status") or {}).get("observedGeneration"))
        if choosing and observed < generation:
            raise TransientError(
                f"not rolling back {ref} yet: the Deployment controller has not observed its "
                f"latest spec (generation {generation}, observed {observed}), so its "
                "revision and ReplicaSets may not show the template it now has, and the "
                "revision chosen could be the wrong one",
                reason="RolloutNotObserved",
            )
        uid = deployment["metadata"].get("uid")
        selector = selector_query((spec.get("selector") or {}).get("matchLabels") or {})
        replicasets, _ = self.api.list("ReplicaSet", ref.namespace, label_selector=selector)
        owned = [
            rs
            for rs in replicasets
            if any(
                o.get("uid") == uid and o.get("controller")
                for o in rs["metadata"].get("ownerReferences") or []
            )
        ]
        current = revision_of(deployment) or max((revision_of(rs) for rs in owned), default=0)
        older = [rs for rs in owned if 0 < revision_of(rs) < current]
        if not older:
            raise PermanentError(
                _no_previous_revision(ref, current, spec.get("revisionHistoryLimit")),
                reason="NoPreviousRevision",
            )
        previous = max(older, key=revision_of)
        return {
            "revision": current,
            "template": spec.get("template") or {},
            "target_revision": revision_of(previous),
            "target_template": template_without_hash(previous["spec"]["template"]),
            "resourceVersion": _rv(deployment),
            "uid": _uid(deployment),
        }

    def _pause_snapshot(self, ref: ObjectRef) -> Obj:
        _need_kind(ref, "Deployment")
        obj = self.api.read("Deployment", ref.namespace, ref.name)
        return {
            "paused": bool((obj.get("spec") or {}).get("paused", False)),
            "resourceVersion": _rv(obj),
            "uid": _uid(obj),
        }

    def _pod_snapshot(self, ref: ObjectRef) -> Obj:
        _need_kind(ref, "Pod")
        pod = self.api.read("Pod", ref.namespace, ref.name)
        owners = pod["metadata"].get("ownerReferences") or []
        return {
            "uid": pod["metadata"].get("uid"),
            "node": (pod.get("spec") or {}).get("nodeName"),
            "owner": next(
                (f"{o['kind']}/{o['name']}" for o in owners if o.get("controller")), None
            ),
            "phase": (pod.get("status") or {}).get("phase"),
        }

    def _node_snapshot(self, ref: ObjectRef) -> Obj:
        _need_kind(ref, "Node")
        node = self.api.read("Node", None, ref.name)
        return {
            "unschedulable": bool((node.get("spec") or {}).get("unschedulable", False)),
            "resourceVersion": _rv(node),
            "uid": _uid(node),
        }

    def _drain_snapshot(self, ref: ObjectRef) -> Obj:
        snapshot = self._node_snapshot(ref)
        evictable, skipped, _ = self._pods_to_drain(ref.name)
        snapshot["pods"] = [_pod_name(p) for p in evictable]
        snapshot["skipped"] = skipped
        return snapshot

    def _resources_snapshot(self, operation: PatchResources) -> Obj:
        ref = operation.target
        _need_kind(ref, "Deployment", "StatefulSet")
        obj = self.api.read(ref.kind, ref.namespace, ref.name)
        container = _find_container(obj, operation.container, ref)
        resources = container.get("resources") or {}
        return {
            "container": operation.container,
            "requests": {k: resources.get("requests", {}).get(k) for k in operation.requests},
            "limits": {k: resources.get("limits", {}).get(k) for k in operation.limits},
            "resourceVersion": _rv(obj),
            "uid": _uid(obj),
        }

    def _images_snapshot(self, operation: SetImages) -> Obj:
        ref = operation.target
        _need_kind(ref, "Deployment")
        obj = self.api.read(ref.kind, ref.namespace, ref.name)
        return {
            "images": {
                name: _find_container(obj, name, ref).get("image") for name in operation.images
            },
            "resourceVersion": _rv(obj),
            "uid": _uid(obj),
        }

    def _claim_snapshot(self, ref: ObjectRef) -> Obj:
        _need_kind(ref, "PersistentVolumeClaim")
        claim = self.api.read("PersistentVolumeClaim", ref.namespace, ref.name)
        spec, status = claim.get("spec") or {}, claim.get("status") or {}
        return {
            "storage": ((spec.get("resources") or {}).get("requests") or {}).get("storage"),
            "capacity": (status.get("capacity") or {}).get("storage"),
            "storageClassName": spec.get("storageClassName"),
            "resourceVersion": _rv(claim),
            "uid": _uid(claim),
        }

    # --------------------------------------------------------------------- writes

    def _write_once(
        self,
        operation: Operation,
        dry_run: bool,
        first: list[Obj],
        *,
        stamp: str | None = None,
        uid: str | None = None,
    ) -> OperationResult:
        before = self.snapshot(operation)
        _still_the_one_read(operation.target, uid, before.get("uid"))
        if not first:
            first.append(before)
        ref, rv = operation.target, before.get("resourceVersion", "")
        precondition = {"metadata": _preconditions(rv, uid)}
        match operation:
            case Scale(replicas=replicas, expected=expected):
                old = before["replicas"]
                if old == replicas:
                    return self._result(
                        operation,
                        dry_run,
                        before,
                        {"replicas": old},
                        f"{ref}: replicas already {old}",
                        changed=False,
                    )
                if expected is not None and old != expected:
                    # As for minReplicas: never over a count changed since the decision
                    # (kubectl scale), read again after each 409 too.
                    raise PermanentError(
                        f"not setting the replicas of {ref} to {replicas}: they are {old}, "
                        f"not the {expected} the decision was made from (changed since)",
                        reason="ChangedSinceDecision",
                    )
                self.api.patch_scale(
                    ref.kind,
                    ref.namespace or "default",
                    ref.name,
                    {**precondition, "spec": {"replicas": replicas}},
                    dry_run=dry_run,
                )
                return self._result(
                    operation,
                    dry_run,
                    before,
                    {"replicas": replicas},
                    f"{ref}: replicas {old} -> {replicas}",
                )
            case SetHpaMinReplicas(min_replicas=wanted, expected=expected):
                return self._set_hpa_bound(
                    operation, dry_run, before, "minReplicas", wanted, expected
                )
            case SetHpaMaxReplicas(max_replicas=wanted, expected=expected):
                return self._set_hpa_bound(
                    operation, dry_run, before, "maxReplicas", wanted, expected
                )
            case RolloutRestart():
                stamp = stamp or self._restart_stamp()
                if before["restartedAt"] == stamp:
                    # Restarted with this very stamp: by this write's earlier try (whose
                    # answer was lost), or within the same second; writing it again would
                    # change nothing.
                    return self._result(
                        operation,
                        dry_run,
                        before,
                        {"restartedAt": stamp},
                        f"{ref}: already restarted at {stamp}",
                        changed=False,
                    )
                body = {
                    **precondition,
                    "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}},
                }
                self.api.patch(ref.kind, ref.namespace, ref.name, body, dry_run=dry_run)
                return self._result(
                    operation,
                    dry_run,
                    before,
                    {"restartedAt": stamp},
                    f"{ref}: rollout restart ({RESTARTED_AT} "
                    f"{before['restartedAt'] or '(unset)'} -> {stamp})",
                )
            case PauseRollout(paused=paused):
                word = "paused" if paused else "resumed"
                if before["paused"] == paused:
                    return self._result(
                        operation,
                        dry_run,
                        before,
                        {"paused": paused},
                        f"{ref}: rollout already {word}",
                        changed=False,
                    )
                self.api.patch(
                    "Deployment",
                    ref.namespace,
                    ref.name,
                    {**precondition, "spec": {"paused": paused}},
                    dry_run=dry_run,
                )
                return self._result(
                    operation,
                    dry_run,
                    before,
                    {"paused": paused},
                    f"{ref}: rollout {word} (paused {before['paused']} -> {paused})",
                )
            case Cordon(unschedulable=wanted):
                word = "cordoned" if wanted else "uncordoned"
                if before["unschedulable"] == wanted:
                    return self._result(
                        operation,
                        dry_run,
                        before,
                        {"unschedulable": wanted},
                        f"{ref}: already {word}",
                        changed=False,
                    )
                self.api.patch(
                    "Node",
                    None,
                    ref.name,
                    {**precondition, "spec": {"unschedulable": wanted}},
                    dry_run=dry_run,
                )
                return self._result(
                    operation,
                    dry_run,
                    before,
                    {"unschedulable": wanted},
                    f"{ref}: {word} (unschedulable {before['unschedulable']} -> {wanted})",
                )
            case PatchResources():
                return self._patch_resources(operation, before, dry_run)
            case ExpandVolume():
                return self._expand_volume(operation, before, dry_run)
            case SetImages():
                return self._set_images(operation, before, dry_run)
        raise InvalidRequestError(f"unknown operation {operation!r}")  # pragma: no cover

    def _set_hpa_bound(
        self,
        operation: SetHpaMinReplicas | SetHpaMaxReplicas,
        dry_run: bool,
        before: Obj,
        field: str,
        wanted: int,
        expected: int | None,
    ) -> OperationResult:
        """Write an HPA's ``minReplicas`` or ``maxReplicas`` (``field``), compare-and-set
        against the value the decision was made from, with the read's resourceVersion."""
        ref = operation.target
        old = before[field]
        if old == wanted:
            return self._result(
                operation,
                dry_run,
                before,
                {field: old},
                f"{ref}: {field} already {old}",
                changed=False,
            )
        if expected is not None and old != expected:
            # Read again after each 409 too: a retry must not overwrite the change that
            # caused the conflict.
            raise PermanentError(
                f"not setting {field} of {ref} to {wanted}: it is {old}, not the "
                f"{expected} the decision was made from (changed since, or the HPA was "
                "replaced)",
                reason="ChangedSinceDecision",
            )
        self.api.patch(
            ref.kind,
            ref.namespace,
            ref.name,
            {
                "metadata": _preconditions(before["resourceVersion"], before.get("uid")),
                "spec": {field: wanted},
            },
            dry_run=dry_run,
        )
        return self._result(
            operation, dry_run, before, {field: wanted}, f"{ref}: {field} {old} -> {wanted}"
        )

    def _rollback_once(
        self,
        operation: RollbackToPrevious,
        dry_run: bool,
        first: list[Obj],
        uid: str | None = None,
    ) -> OperationResult:
        """One try at a rollback. "The previous revision" is relative: once a rollback
        lands, the controller makes the restored ReplicaSet the newest revision, and the
        release rolled away from becomes "the previous" one. So a try after a 409 (which
        follows a lost answer to a write that did land, as well as anyone's status
        update) aims at the template the first read chose, and rolls back only from the
        template that read found, never from a template someone else has set since."""
        ref = operation.target
        now = self._rollback_snapshot(ref, choosing=not first)
        _still_the_one_read(ref, uid, now.get("uid"))
        if not first:
            if operation.revision is not None and now["revision"] != operation.revision:
                raise PermanentError(
                    f"not rolling back {ref}: it is at revision {now['revision']} "
                    f"({_images(now['template'])}), not the revision {operation.revision} "
                    "this rollback was planned against, so it has been rolled out since; "
                    "rolling back now would undo that rollout, not the one that failed",
                    reason="RolledOutSince",
                )
            first.append(now)
        before = first[0]
        current, target = now["template"], before["target_template"]
        after = {"revision": before["target_revision"], "template": target}
        if current == target:
            return self._result(
                operation,
                dry_run,
                before,
                after,
                f"{ref}: already runs the template of revision {before['target_revision']}",
                changed=False,
            )
        if current != before["template"]:
            raise PermanentError(
                f"not rolling back {ref}: its template changed to {_images(current)} while "
                f"rolling back from {_images(before['template'])}; someone else has rolled "
                "it out since",
                reason="RolledOutSince",
            )
        precondition = {"metadata": _preconditions(now["resourceVersion"], uid)}
        body = {**precondition, "spec": {"template": merge_diff(current, target)}}
        self.api.patch("Deployment", ref.namespace, ref.name, body, dry_run=dry_run)
        return self._result(
            operation,
            dry_run,
            before,
            after,
            f"{ref}: rollback from revision {before['revision']} to "
            f"{before['target_revision']} ({_images(current)} -> {_images(target)})",
        )

    def _patch_resources(
        self, operation: PatchResources, before: Obj, dry_run: bool
    ) -> OperationResult:
        ref = operation.target
        changes = [
            f"{section}.{key} {before[section].get(key)} -> {value}"
            for section, wanted in (("requests", operation.requests), ("limits", operation.limits))
            for key, value in wanted.items()
            if before[section].get(key) != value
        ]
        after = {"requests": dict(operation.requests), "limits": dict(operation.limits)}
        if not changes:
            return self._result(
                operation,
                dry_run,
                before,
                after,
                f"{ref}: container {operation.container} already has these resources",
                changed=False,
            )
        _resources_unchanged(operation, before)
        self._send_resources(ref, operation.container, after, before["resourceVersion"], dry_run)
        return self._result(
            operation,
            dry_run,
            before,
            after,
            f"{ref}: container {operation.container}: {', '.join(changes)}",
        )

    def _set_images(self, operation: SetImages, before: Obj, dry_run: bool) -> OperationResult:
        """Set the named containers' images, compare-and-set against the images the
        decision was made from (read again after each 409 too), and nothing else."""
        ref, old = operation.target, before["images"]
        after = {"images": dict(operation.images)}
        moved = [
            f"{k} {old.get(k)} -> {v}"
            for k, v in sorted(operation.images.items())
            if old.get(k) != v
        ]
        source = f" (the release of its canary {operation.canary})" if operation.canary else ""
        if not moved:
            return self._result(
                operation,
                dry_run,
                before,
                after,
                f"{ref}: images already {_shown(old)}",
                changed=False,
            )
        for name, planned_from in sorted((operation.expected or {}).items()):
            if old.get(name) not in (planned_from, operation.images.get(name)):
                raise PermanentError(
                    f"not setting the image of container {name} in {ref} to "
                    f"{operation.images.get(name)}: it runs {old.get(name)}, not the "
                    f"{planned_from} the decision was made from (rolled out since)",
                    reason="ChangedSinceDecision",
                )
        self._send_images(ref, operation.images, before["resourceVersion"], dry_run)
        return self._result(
            operation, dry_run, before, after, f"{ref}: images {', '.join(moved)}{source}"
        )

    def _send_images(self, ref: ObjectRef, images: dict[str, str], rv: str, dry_run: bool) -> None:
        containers = [{"name": name, "image": image} for name, image in sorted(images.items())]
        body = {
            "metadata": {"resourceVersion": rv},
            "spec": {"template": {"spec": {"containers": containers}}},
        }
        self.api.patch(
            ref.kind, ref.namespace, ref.name, body, content_type=STRATEGIC_PATCH, dry_run=dry_run
        )

    def _expand_volume(
        self, operation: ExpandVolume, before: Obj, dry_run: bool
    ) -> OperationResult:
        """Raise the claim's storage request: never over a request changed since the
        decision, never down, and only while its StorageClass (read fresh) allows it."""
        ref, size, old = operation.target, operation.size, before["storage"]
        if not isinstance(old, str):
            raise PermanentError(f"{ref} asks for no storage size", reason="Invalid")
        if parse_quantity(old) == parse_quantity(size):
            return self._result(
                operation,
                dry_run,
                before,
                {"storage": old},
                f"{ref}: storage already {old}",
                changed=False,
            )
        expected = operation.expected
        if expected is not None and parse_quantity(old) != parse_quantity(expected):
            raise PermanentError(
                f"not expanding {ref} to {size}: it asks for {old}, not the {expected} the "
                "decision was made from (resized since)",
                reason="ChangedSinceDecision",
            )
        if parse_quantity(size) < parse_quantity(old):
            raise PermanentError(
                f"not setting the storage of {ref} to {size}: it asks for {old}, and a "
                "volume cannot shrink",
                reason="WouldShrink",
            )
        name = before.get("storageClassName")
        storage_class = self.api.read("StorageClass", None, name) if name else {}
        if storage_class.get("allowVolumeExpansion") is not True:
            raise PermanentError(
                f"not expanding {ref}: its StorageClass {name or '(none)'} does not set "
                "allowVolumeExpansion: true",
                reason="ExpansionNotAllowed",
            )
        body = {
            "metadata": {"resourceVersion": before["resourceVersion"]},
            "spec": {"resources": {"requests": {"storage": size}}},
        }
        self.api.patch("PersistentVolumeClaim", ref.namespace, ref.name, body, dry_run=dry_run)
        return self._result(
            operation, dry_run, before, {"storage": size}, f"{ref}: storage {old} -> {size}"
        )

    def _send_resources(
        self, ref: ObjectRef, container: str, values: Obj, rv: str, dry_run: bool
    ) -> None:
        resources = {
            section: values[section] for section in ("requests", "limits") if values[section]
        }
        body = {
            "metadata": {"resourceVersion": rv},
            "spec": {
                "template": {"spec": {"containers": [{"name": container, "resources": resources}]}}
            },
        }
        self.api.patch(
            ref.kind, ref.namespace, ref.name, body, content_type=STRATEGIC_PATCH, dry_run=dry_run
        )

    # ---------------------------------------------------------------- pod removal

    def _remove_pod(
        self, operation: DeletePod | EvictPod, dry_run: bool, uid: str | None = None
    ) -> OperationResult:
        """Delete or evict the pod. ``uid``: the pod the caller read (the executor's
        snapshot). A pod of that name created since (a StatefulSet's: same name, new
        uid) is refused here, or by the API server, which the delete and the Eviction
        both ask to remove only that uid (``deleteOptions.preconditions.uid``): its
        409 is ``TargetReplacedError``, never retried as a conflict."""
        ref = operation.target
        before = self._pod_snapshot(ref)
        _still_the_one_read(ref, uid, before.get("uid"))
        meant = uid or before["uid"]
        namespace = ref.namespace or "default"
        try:
            if isinstance(operation, DeletePod):
                self.api.delete_pod(namespace, ref.name, uid=meant, dry_run=dry_run)
                verb = "deleted"
            else:
                self.api.evict_pod(namespace, ref.name, uid=meant, dry_run=dry_run)
                verb = "evicted"
        except ConflictError as exc:
            # Not a uid (that is TargetReplaced): the eviction's own resourceVersion
            # guard lost to changes of the pod, on the server, more times than it tries.
            raise TransientError(
                f"{operation.op} on {ref}: the pod kept changing under the API server "
                f"({exc}); try again later",
                delay=5.0,
                reason="Conflict",
            ) from exc
        where = f" from node {before['node']}" if before["node"] else ""
        return self._result(
            operation,
            dry_run,
            before,
            {"removed": True},
            f"{ref}: {verb}{where} (owner {before['owner']})",
        )

    def _pods_on(self, node: str) -> list[Obj]:
        pods, _ = self.api.list("Pod", None, field_selector=f"spec.nodeName={node}")
        return pods

    def _pods_to_drain(
        self, node: str, pods: list[Obj] | None = None
    ) -> tuple[list[Obj], list[str], list[str]]:
        """The pods a drain evicts, those it skips by design (with why), and those
        annotated safe-to-evict: "false", which it leaves and reports."""
        evictable, skipped, protected = [], [], []
        for pod in self._pods_on(node) if pods is None else pods:
            meta = pod["metadata"]
            name = _pod_name(pod)
            owners = meta.get("ownerReferences") or []
            if any(o.get("kind") == "DaemonSet" and o.get("controller") for o in owners):
                skipped.append(f"{name} (DaemonSet)")
            elif MIRROR_ANNOTATION in (meta.get("annotations") or {}):
                skipped.append(f"{name} (mirror pod)")
            elif meta.get("deletionTimestamp"):
                skipped.append(f"{name} (already terminating)")
            elif not_safe_to_evict(pod):
                # Its owners ask that it never be evicted (the cluster autoscaler keeps
                # its node for it; draino skips it): left, and the drain is incomplete.
                protected.append(name)
            elif not any(o.get("controller") for o in owners):
                # Nothing would recreate it: evicting it loses it (kubectl drain refuses
                # such a pod without --force). Left where it is, for a person.
                skipped.append(f"{name} (no controller: nothing would recreate it)")
            else:
                evictable.append(pod)
        return evictable, skipped, protected

    def drain_round(
        self,
        operation: Drain,
        progress: Obj | None = None,
        room: EvictionRoom | None = None,
        *,
        uid: str | None = None,
    ) -> OperationResult:
        return self._drain_round(operation, progress, False, room, uid=uid)

    def _drain_round(
        self,
        operation: Drain,
        progress: Obj | None,
        dry_run: bool,
        room: EvictionRoom | None = None,
        *,
        uid: str | None = None,
    ) -> OperationResult:
        """One round of a drain (``ClusterWriter.drain_round``): never waits, so the
        remediation loop is held for one round of evictions, not for the drain's
        timeout. The executor keeps ``after`` in the ledger between rounds. ``uid``: the
        Node the caller read (the executor's snapshot); the first round's cordon
        refuses another Node of that name (``TargetReplaced``), as any write does. Each
        eviction names the pod's uid as this round read it: a pod deleted and created
        again under its name since is not evicted in its place in this round."""
        ref = operation.target
        if progress is None:
            first: list[Obj] = []
            cordon = self._with_conflict_retries(
                lambda: self._write_once(Cordon(ref, True), dry_run, first, uid=uid),
                operation,
                first,
            )
            pods = self._pods_on(ref.name)
            evictable, skipped, protected = self._pods_to_drain(ref.name, pods)
            names = [_pod_name(p) for p in evictable]
            before: Obj = {
                **cordon.before,
                "pods": names,
                "skipped": skipped,
                "protected": protected,
            }
            chosen = names[: operation.max_evictions]
            over_budget = names[operation.max_evictions :]
            evicted: list[str] = []
            refused: dict[str, str] = {}
        else:
            before = dict(progress["before"])
            chosen = list(progress["pods"])
            over_budget = list(progress["over_budget"])
            skipped = list(progress["skipped"])
            protected = list(progress.get("protected") or [])
            evicted = list(progress["evicted"])
            refused = dict(progress.get("refused") or {})
            try:
                node = self._node_snapshot(ref)
            except ObjectGoneError:
                # Deleted since the drain began (the cloud's node controller removes the
                # Node of a VM that is gone; the cluster autoscaler; a person): nothing is
                # left to drain, and the pod garbage collector removes the pods bound to it.
                return self._drain_result(
                    operation, dry_run, before, chosen, evicted, {}, over_budget, skipped, [],
                    node_gone=True, refused=refused, protected=protected,
                )  # fmt: skip
            if not node["unschedulable"]:
                return self._drain_result(
                    operation, dry_run, before, chosen, evicted, {}, over_budget, skipped, [],
                    uncordoned=True, refused=refused, protected=protected,
                )  # fmt: skip
            pods = self._pods_on(ref.name)
        on_node = {_pod_name(p): p for p in pods}
        blocked: dict[str, str] = {}
        waiting: list[str] = []
        evicted_now: dict[str, int] = {}
        issued = False
        own = self.own_pod if self.own_pod in chosen and not dry_run else None
        held_own = False
        for name in [n for n in chosen if n != own] + ([own] if own else []):
            if name in evicted or name in refused:
                continue
            if name == own and self._own_waits(ref.name, chosen, own, evicted, refused, on_node):
                # Autonomic's own pod goes last, once every other pod is gone: evicted
                # earlier, its leader would stop in the middle of the drain.
                held_own = True
                continue
            pod = on_node.get(name)
            if pod is None or pod["metadata"].get("deletionTimestamp"):
                # Gone or leaving already: evicted before a restart cut the record
                # short (or by someone else). Asking again would evict it twice.
                evicted.append(name)
                continue
            namespace, pod_name = name.split("/", 1)
            # A pod in a terminal phase (one the kubelet evicted, a finished Job's) runs
            # nothing: removing it disrupts no one, so it takes no room in the budget.
            disrupts = (pod.get("status") or {}).get("phase") not in _TERMINAL_PHASES
            halted = room is not None and room.stopped()
            if halted or (disrupts and room is not None and not room.allows(namespace)):
                # The disruption budget is spent, or the daemon is shutting down: the
                # pod waits for a later round (the next leader's, when shutting down).
                waiting.append(name)
                continue
            try:
                self.api.evict_pod(
                    namespace, pod_name, uid=pod["metadata"].get("uid"), dry_run=dry_run
                )
                evicted.append(name)
                if disrupts:
                    evicted_now[namespace] = evicted_now.get(namespace, 0) + 1
                    if room is not None:
                        room = room.take(namespace)
                issued = True
            except ObjectGoneError:
                evicted.append(name)  # already gone: that is what we wanted
            except (BlockedByBudgetError, TransientError, TargetReplacedError) as exc:
                # TargetReplaced: the pod this round read is gone, and another of its
                # name took its place since. Not evicted in its place; the next round
                # reads the node again: the name gone from it counts as evicted, and a
                # pod of that name still on it is asked for by the uid read then.
                blocked[name] = str(exc)
            except ConflictError as exc:
                # A 409 that names no uid (that is TargetReplaced): the eviction's own
                # resourceVersion guard lost to changes of the pod, on the server, more
                # times than it tries. Transient, as for a lone eviction: the next round
                # asks again, with the pod as it reads it then.
                blocked[name] = (
                    f"409 Conflict: the pod kept changing under the API server ({exc}); "
                    "asked again next round"
                )
            except PermanentError as exc:
                # Refused for good (403: no right to evict in that namespace; 422; a
                # 500 for a pod under two PodDisruptionBudgets): asking
                # again would get the same answer. The other pods are still evicted, as
                # kubectl drain does, and this one is named for a person.
                refused[name] = str(exc)
        if issued and not dry_run:
            on_node = {_pod_name(p): p for p in self._pods_on(ref.name)}
        left = [] if dry_run else [name for name in evicted if name in on_node]
        terminating = [p for p in on_node.values() if p["metadata"].get("deletionTimestamp")]
        stuck: list[tuple[str, str]] = []
        unconfirmed: list[str] = []
        if terminating and not dry_run and not self._node_ready(ref.name):
            # Its kubelet cannot confirm that they stopped: they stay Terminating until
            # the Node is deleted or tainted out-of-service. Waiting for them would only
            # hold the drain to its timeout; a Deployment's are replaced elsewhere, a
            # StatefulSet's are not, and that is said.
            stuck = sorted(_stateful_owner(p) for p in terminating if _stateful_owner(p)[1])
            unconfirmed = [
                name for name in left if on_node[name]["metadata"].get("deletionTimestamp")
            ]
            left = [name for name in left if name not in unconfirmed]
        return self._drain_result(
            operation, dry_run, before, chosen, evicted, blocked, over_budget, skipped, left,
            waiting=waiting, evicted_now=evicted_now, refused=refused, held_own=held_own,
            protected=protected, stuck=stuck, unconfirmed=unconfirmed,
            stopping=room is not None and room.stopped(),
        )  # fmt: skip

    def _own_waits(
        self,
        node: str,
        chosen: list[str],
        own: str,
        evicted: list[str],
        refused: dict[str, str],
        on_node: dict[str, Obj],
    ) -> bool:
        """Whether Autonomic's own pod still waits for other pods of the drain: one not
        evicted yet, or evicted and still on the node. Not for those that will never
        leave it: a pod whose eviction was refused for good, and, on a NotReady node,
        one evicted and Terminating, which no kubelet will confirm (the own pod would
        wait for it to the drain's timeout). Pods left for safe-to-evict "false" are not
        among ``chosen``: not waited for either."""
        others = [
            n
            for n in chosen
            if n != own and n not in refused and (n not in evicted or n in on_node)
        ]
        if not others:
            return False
        if any(
            n not in evicted or not on_node[n]["metadata"].get("deletionTimestamp") for n in others
        ):
            return True
        return self._node_ready(node)

    def _node_ready(self, node: str) -> bool:
        """Whether ``node``'s Ready condition is True (a Node deleted since counts as
        ready: the pod garbage collector removes its pods, no kubelet is waited for)."""
        try:
            status = self.api.read("Node", None, node).get("status") or {}
        except ObjectGoneError:
            return True
        conditions = status.get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def _drain_result(
        self,
        operation: Drain,
        dry_run: bool,
        before: Obj,
        chosen: list[str],
        evicted: list[str],
        blocked: dict[str, str],
        over_budget: list[str],
        skipped: list[str],
        left: list[str],
        *,
        uncordoned: bool = False,
        node_gone: bool = False,
        waiting: list[str] | None = None,
        evicted_now: dict[str, int] | None = None,
        refused: dict[str, str] | None = None,
        held_own: bool = False,
        protected: list[str] | None = None,
        stuck: list[tuple[str, str]] | None = None,
        unconfirmed: list[str] | None = None,
        stopping: bool = False,
    ) -> OperationResult:
        waiting = waiting or []
        refused = refused or {}
        protected = protected or []
        stuck = stuck or []
        complete = (
            not held_own
            and not protected
            and not stuck
            and not blocked
            and not over_budget
            and not uncordoned
            and not waiting
            and not refused
            and not node_gone
        )
        after = {
            "unschedulable": not uncordoned,
            "before": before,
            "pods": chosen,
            "evicted": evicted,
            "blocked": sorted(blocked),
            "blocked_why": blocked,
            "over_budget": over_budget,
            "skipped": skipped,
            "left": left,
            "uncordoned": uncordoned,
            "node_gone": node_gone,
            "waiting": waiting,
            "evicted_now": evicted_now or {},
            "refused": refused,
            "held_own": held_own,
            "protected": protected,
            "stuck_statefulset": [list(pair) for pair in stuck],
            "unconfirmed": unconfirmed or [],
            "done": uncordoned
            or node_gone
            or (not blocked and not left and not waiting and not held_own),
            "complete": complete,
        }
        if node_gone:
            state = (
                "deleted since the drain began (by someone else): no more evictions; the "
                "pod garbage collector removes the pods still bound to it; "
            )
        elif uncordoned:
            state = (
                "uncordoned since the drain began (by someone else): not cordoned again, "
                "no more evictions; "
            )
        else:
            state = "cordoned; "
        first_refusal = next(iter(refused.values()), "")
        summary = (
            f"{operation.target}: "
            + state
            + f"evicted {len(evicted)} pod(s)"
            + (
                f"; {len(blocked)} blocked (PodDisruptionBudget or API errors): "
                f"{', '.join(sorted(blocked))}"
                if blocked
                else ""
            )
            + (
                f"; {len(refused)} refused by the API server, not asked again: "
                f"{', '.join(sorted(refused))} ({first_refusal})"
                if refused
                else ""
            )
            + (f"; {len(left)} still terminating" if left else "")
            + (
                f"; {len(unconfirmed)} evicted stay Terminating while the node is NotReady "
                "(its kubelet cannot confirm they stopped)"
                if unconfirmed
                else ""
            )
            + (
                f"; Autonomic's own pod {self.own_pod} not evicted yet: it goes last, once "
                "the other pods are gone"
                if held_own
                else ""
            )
            + (
                f"; {len(waiting)} {_waiting_for(stopping)}: {', '.join(waiting)}"
                if waiting
                else ""
            )
            + (
                f"; {len(over_budget)} left over the max_evictions budget of "
                f"{operation.max_evictions}"
                if over_budget
                else ""
            )
            + (f"; skipped {len(skipped)}" if skipped else "")
            + (f"; {protected_left(protected)}" if protected else "")
            + (f"; {not_replaced(operation.target.name, stuck)}" if stuck else "")
            + ("" if complete else "; drain INCOMPLETE")
        )
        return self._result(operation, dry_run, before, after, summary)

    # ----------------------------------------------------------------------- undo

    def _same_object(self, ref: ObjectRef, before: Obj, now_uid: str | None) -> None:
        """Refuse (``TargetReplaced``) an undo whose target is not the object written:
        deleted and created again under the same name since (another uid), it is
        someone else's object, whatever values it holds. A snapshot recorded without a
        uid (by an older release) is not checked: its undo goes by the values alone."""
        ours = before.get("uid")
        if ours and now_uid and ours != now_uid:
            raise UndoRefusedError(
                f"not undoing on {ref}: the object Autonomic wrote (uid {ours}) was deleted "
                f"and replaced since by another of the same name (uid {now_uid}); leaving "
                "the new one as it is",
                reason="TargetReplaced",
            )

    def _refuse(self, ref: ObjectRef, field: str, now: Any, ours: Any) -> UndoRefusedError:
        return UndoRefusedError(
            f"not undoing on {ref}: {field} is now {now!r}, not the {ours!r} Autonomic wrote, "
            "so someone else has changed it since; leaving their change in place",
            reason="ChangedSinceWrite",
        )

    def _undo_hpa_bound(
        self,
        operation: SetHpaMinReplicas | SetHpaMaxReplicas,
        before: Obj,
        field: str,
        ours: int,
    ) -> OperationResult:
        """Put back the ``minReplicas`` or ``maxReplicas`` ``before`` recorded, only while
        the HPA still holds the value written (else someone changed it since: theirs)."""
        ref = operation.target
        now = self._hpa_snapshot(ref)
        self._same_object(ref, before, now["uid"])
        if now[field] != ours:
            raise self._refuse(ref, field, now[field], ours)
        self.api.patch(
            ref.kind,
            ref.namespace,
            ref.name,
            {
                "metadata": {"resourceVersion": now["resourceVersion"]},
                "spec": {field: before[field]},
            },
        )
        return self._result(
            operation,
            False,
            now,
            {field: before[field]},
            f"{ref}: undo: {field} {ours} -> {before[field]}",
        )

    def _undo_once(self, operation: Operation, before: Obj) -> OperationResult:
        ref = operation.target
        match operation:
            case Scale(replicas=ours):
                now = self._scale_snapshot(ref)
                self._same_object(ref, before, now["uid"])
                if now["replicas"] != ours:
                    raise self._refuse(ref, "replicas", now["replicas"], ours)
                self.api.patch_scale(
                    ref.kind,
                    ref.namespace or "default",
                    ref.name,
                    {
                        "metadata": {"resourceVersion": now["resourceVersion"]},
                        "spec": {"replicas": before["replicas"]},
                    },
                )
                return self._result(
                    operation,
                    False,
                    now,
                    {"replicas": before["replicas"]},
                    f"{ref}: undo: replicas {ours} -> {before['replicas']}",
                )
            case SetHpaMinReplicas(min_replicas=ours):
                return self._undo_hpa_bound(operation, before, "minReplicas", ours)
            case SetHpaMaxReplicas(max_replicas=ours):
                return self._undo_hpa_bound(operation, before, "maxReplicas", ours)
            case RollbackToPrevious():
                deployment = self.api.read("Deployment", ref.namespace, ref.name)
                self._same_object(ref, before, _uid(deployment))
                current = (deployment.get("spec") or {}).get("template") or {}
                if template_without_hash(current) != before["target_template"]:
                    raise self._refuse(
                        ref, "spec.template", _images(current), _images(before["target_template"])
                    )
                self.api.patch(
                    "Deployment",
                    ref.namespace,
                    ref.name,
                    {
                        "metadata": {"resourceVersion": _rv(deployment)},
                        "spec": {"template": merge_diff(current, before["template"])},
                    },
                )
                return self._result(
                    operation,
                    False,
                    {"template": current},
                    {"template": before["template"]},
                    f"{ref}: undo rollback: back to revision "
                    f"{before['revision']}'s template ({_images(current)} -> "
                    f"{_images(before['template'])})",
                )
            case PauseRollout(paused=ours):
                now = self._pause_snapshot(ref)
                self._same_object(ref, before, now["uid"])
                if now["paused"] != ours:
                    raise self._refuse(ref, "spec.paused", now["paused"], ours)
                self.api.patch(
                    "Deployment",
                    ref.namespace,
                    ref.name,
                    {
                        "metadata": {"resourceVersion": now["resourceVersion"]},
                        "spec": {"paused": before["paused"]},
                    },
                )
                return self._result(
                    operation,
                    False,
                    now,
                    {"paused": before["paused"]},
                    f"{ref}: undo: paused {ours} -> {before['paused']}",
                )
            case Cordon() | Drain():
                op = operation
                ours = op.unschedulable if isinstance(op, Cordon) else True
                now = self._node_snapshot(ref)
                self._same_object(ref, before, now["uid"])
                if now["unschedulable"] != ours:
                    raise self._refuse(ref, "spec.unschedulable", now["unschedulable"], ours)
                self.api.patch(
                    "Node",
                    None,
                    ref.name,
                    {
                        "metadata": {"resourceVersion": now["resourceVersion"]},
                        "spec": {"unschedulable": before["unschedulable"]},
                    },
                )
                note = " (evicted pods are not brought back)" if isinstance(op, Drain) else ""
                return self._result(
                    operation,
                    False,
                    now,
                    {"unschedulable": before["unschedulable"]},
                    f"{ref}: undo: unschedulable {ours} -> {before['unschedulable']}{note}",
                )
            case PatchResources():
                now = self._resources_snapshot(operation)
                self._same_object(ref, before, now["uid"])
                for section, ours_values in (
                    ("requests", operation.requests),
                    ("limits", operation.limits),
                ):
                    for key, value in ours_values.items():
                        # Compared as quantities: the API server keeps a quantity in
                        # its canonical spelling ("1500000000" written reads "1500M").
                        if not _same_quantity(now[section].get(key), value):
                            raise self._refuse(
                                ref,
                                f"{operation.container} {section}.{key}",
                                now[section].get(key),
                                value,
                            )
                self._send_resources(
                    ref, operation.container, before, now["resourceVersion"], False
                )
                return self._result(
                    operation,
                    False,
                    now,
                    {"requests": before["requests"], "limits": before["limits"]},
                    f"{ref}: undo: container {operation.container} resources "
                    f"restored to requests={before['requests']} "
                    f"limits={before['limits']}",
                )
            case SetImages():
                now = self._images_snapshot(operation)
                self._same_object(ref, before, now["uid"])
                for name, image in sorted(operation.images.items()):
                    if now["images"].get(name) != image:
                        raise self._refuse(
                            ref, f"container {name} image", now["images"].get(name), image
                        )
                self._send_images(ref, before["images"], now["resourceVersion"], False)
                return self._result(
                    operation,
                    False,
                    now,
                    {"images": dict(before["images"])},
                    f"{ref}: undo: images {_shown(now['images'])} -> {_shown(before['images'])}",
                )
        raise UndoRefusedError(f"{operation.op} cannot be undone", reason="NotUndoable")


def _preconditions(rv: str, uid: str | None) -> Obj:
    """A patch's ``metadata`` preconditions: the resourceVersion read (any change since
    is a 409), and the uid of the object read, when known (another object of the same
    name is refused: 422 "field is immutable" for a patch of the main resource, 409
    "Precondition failed: UID in precondition" for the scale subresource)."""
    return {"resourceVersion": rv, **({"uid": uid} if uid else {})}


def _still_the_one_read(ref: ObjectRef, expected: str | None, now: str | None) -> None:
    """Refuse (``TargetReplaced``) a write whose target, read again before writing, is
    not the object read before (``expected``, the executor's snapshot): deleted and
    created again under the same name in between, it is someone else's object."""
    if expected and now and expected != now:
        raise TargetReplacedError(
            f"not writing {ref}: the object read before the write (uid {expected}) was "
            f"deleted and replaced since by another of the same name (uid {now}); leaving "
            "the new one as it is"
        )


def _shown(images: Obj) -> str:
    """``app=shop:1.1, sidecar=envoy:1.30``."""
    return ", ".join(f"{name}={image}" for name, image in sorted(images.items()))


def _resources_unchanged(operation: PatchResources, before: Obj) -> None:
    """Refuse (``ChangedSinceDecision``) a resources patch when a value it sets is
    neither what its decision saw (``operation.expected``) nor already what it wants:
    someone changed it since, and writing the planned value would undo that change (a
    limit a person raised meanwhile would be lowered). Read again after each 409 too."""
    for section, wanted in (("requests", operation.requests), ("limits", operation.limits)):
        for key, value in wanted.items():
            planned_from = (operation.expected or {}).get(section, {}).get(key)
            old = before[section].get(key)
            if planned_from is None or _same_quantity(old, value):
                continue
            if not _same_quantity(old, planned_from):
                raise PermanentError(
                    f"not setting {section}.{key} of container {operation.container} in "
                    f"{operation.target} to {value}: it is {old or 'not set'}, not the "
                    f"{planned_from} the decision was made from (changed since)",
                    reason="ChangedSinceDecision",
                )


def _same_quantity(a: str | None, b: str) -> bool:
    if a is None:
        return False
    try:
        return parse_quantity(a) == parse_quantity(b)
    except ValueError:
        return a == b


def _find_container(obj: Obj, name: str, ref: ObjectRef) -> Obj:
    containers = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or []
    for container in containers:
        if container.get("name") == name:
            return dict(container)
    names = ", ".join(c.get("name", "?") for c in containers) or "none"
    raise PermanentError(
        f"{ref} has no container named {name!r} (it has: {names})", reason="ContainerNotFound"
    )


def _landed_before(result: OperationResult, first: Obj) -> OperationResult:
    """``result`` (found already done, on a try after a 409) as the change it was, if
    the first try's read ``first`` showed a different value for what was written."""
    moved = [
        f"{key} {first[key]} -> {value}"
        for key, value in result.after.items()
        if key in first and first[key] != value and key != "template"
    ]
    if not moved:
        return result
    return replace(
        result,
        changed=True,
        before=first,
        summary=(
            f"{result.operation.target}: {', '.join(moved)} (the answer to the write was "
            "lost; a read after the 409 that followed shows it applied)"
        ),
    )


# Fields of a write's snapshot that an undo does not write back: the resourceVersion,
# a rollback's revision numbers and target, a drain's pods (as ``agent.executor`` reads
# an undo back).
_NOT_WRITTEN_BACK = frozenset(
    {"resourceVersion", "uid", "revision", "target_revision", "target_template", "pods", "skipped"}
)


def _written_back(operation: Operation, keys: set[str]) -> set[str]:
    """Of ``keys`` (fields of ``operation``'s snapshot), those its undo writes back: an
    HPA's snapshot holds both bounds, and the undo of one leaves the other as it finds
    it, moved since or not."""
    if isinstance(operation, SetHpaMinReplicas):
        return keys & {"minReplicas"}
    if isinstance(operation, SetHpaMaxReplicas):
        return keys & {"maxReplicas"}
    return keys


# What Kubernetes sets a Deployment's spec.revisionHistoryLimit to when it is not given.
KUBERNETES_REVISION_HISTORY = 10


def _generation(raw: Any) -> int:
    """``metadata.generation`` or ``status.observedGeneration`` (0 when absent or not an
    integer)."""
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else 0


def _no_previous_revision(ref: ObjectRef, current: int, limit: Any) -> str:
    """Why a rollback of ``ref`` finds no older ReplicaSet, and what a person can do."""
    if current <= 1:
        return (
            f"{ref} is at revision {max(current, 1)}: it was never rolled out before, so "
            "there is no earlier release to roll back to"
        )
    # The API server sets it (10 by default); a Deployment read without it is a stand-in's.
    kept = int(limit) if isinstance(limit, int) else KUBERNETES_REVISION_HISTORY
    head = f"{ref} is at revision {current}, and no ReplicaSet of an older revision is left: "
    if kept == 0:
        return (
            head + "its spec.revisionHistoryLimit is 0, so Kubernetes deleted each older "
            "ReplicaSet as a rollout finished. Roll back from Git (apply the previous "
            "release's manifests), or raise revisionHistoryLimit (Kubernetes' default is "
            f"{KUBERNETES_REVISION_HISTORY}) so that later releases can be rolled back"
        )
    return (
        head + f"its spec.revisionHistoryLimit is {kept}, which keeps up to {kept} older "
        "ones, so they were deleted some other way (by hand, or by a tool that prunes "
        "ReplicaSets) or are no longer owned by it. Roll back from Git (apply the previous "
        "release's manifests)"
    )


def _waiting_for(stopping: bool) -> str:
    """Why pods of a drain round were left for a later round."""
    if stopping:
        return (
            "left for a later round: this replica is shutting down, the next leader's "
            "round evicts them"
        )
    return "waiting for room in the disruption budget (safety.maxPodsDisruptedPerHour)"
