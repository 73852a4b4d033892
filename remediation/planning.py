"""Planning: from a runbook, a signal and a snapshot to typed operations and a diff.

``plan(runbook, signal, snapshot, now)`` is a pure function returning either a ``Plan``
(the operations, a diff a person can read, the PromQL preconditions the engine must still
evaluate, the rendered verification, the blast radius) or ``NoAction`` with a reason code
and a sentence. Only the executor writes to the cluster, and dry-run and shadow modes run
this same code. Preconditions that need no I/O (recent rollout, other alerts firing,
freeze and maintenance windows) are decided here; PromQL preconditions come back in
``Plan.preconditions`` for the engine to query, then ``check_preconditions`` judges the
values it read. Each precondition judged is also kept as a ``GuardResult`` (what it
required, what was seen, whether it passed): the local ones in ``Plan.checked``, the
PromQL ones from ``precondition_results``, for the decision's evidence.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Literal

from remediation._types import Comparison, counted
from remediation.drain_budgets import BudgetReading, read_budgets
from remediation.drain_notes import not_replaced, protected_left
from remediation.drain_notes import shown as shown_names
from remediation.durations import format_duration
from remediation.matching import matching_trigger, not_read, resolve_target, selects
from remediation.ports import (
    ContainerState,
    Cordon,
    DeletePod,
    Drain,
    EvictPod,
    ExpandVolume,
    HpaState,
    NodeState,
    ObjectRef,
    Operation,
    PatchResources,
    PauseRollout,
    PodState,
    RollbackToPrevious,
    RolloutRestart,
    Scale,
    SetHpaMaxReplicas,
    SetHpaMinReplicas,
    SetImages,
    UnreadObject,
    VolumeClaimState,
    WorkloadState,
)
from remediation.quantity import format_cpu, format_memory, parse_quantity
from remediation.readings import NO_DATA, PROMETHEUS_FROZEN, QUERY_REJECTED, NoValue
from remediation.schema import (
    CANARY_OF,
    Action,
    AlertResolvedCheck,
    ChangedWithin,
    CordonAction,
    DeletePodAction,
    DrainAction,
    EvictPodAction,
    ExpandVolumeAction,
    FreezeWindow,
    KubernetesCheck,
    MaintenanceWindow,
    NoOtherAlertFiring,
    NotifyAction,
    PatchResourcesAction,
    PauseRolloutAction,
    PromoteCanaryAction,
    PromqlCheck,
    PromqlPrecondition,
    RaiseHpaMaxReplicasAction,
    RollbackAction,
    RolloutRestartAction,
    Runbook,
    ScaleAction,
    SetHpaMinReplicasAction,
)
from remediation.signals import Signal
from remediation.snapshot import ClusterSnapshot
from remediation.templating import empty_in, render, render_query
from remediation.verification import RenderedCheck, VerificationPlan
from remediation.windows import contains, describe, to_utc_text

__all__ = [
    "BlastEstimate",
    "Change",
    "Disruption",
    "DrainRecheck",
    "GuardResult",
    "NoAction",
    "Notification",
    "Plan",
    "PreconditionQuery",
    "check_preconditions",
    "count_disruption",
    "drain_blocked_by",
    "incident_key",
    "plan",
    "precondition_results",
    "show",
    "stable_of",
    "unread_pod_names",
]


# ------------------------------------------------------------------------------ values


@dataclass(frozen=True)
class NoAction:
    """Nothing will be done, and why: ``NoAction("AlreadyPaused", "Deployment ... ")``."""

    reason_code: str
    message: str


@dataclass(frozen=True)
class GuardResult:
    """One precondition or guard as it was judged, for a person reading the decision:
    ``GuardResult("changedWithin", "a rollout less than 30m ago", "rolled out 4m ago",
    True)``."""

    name: str
    required: str
    seen: str
    passed: bool

    def to_dict(self) -> dict[str, str | bool]:
        return {
            "name": self.name,
            "required": self.required,
            "seen": self.seen,
            "passed": self.passed,
        }


@dataclass(frozen=True)
class Change:
    """One typed operation and the line of diff a human reads for it."""

    operation: Operation
    summary: str


@dataclass(frozen=True)
class Notification:
    """A message for humans (the notify action); changes nothing."""

    message: str
    severity: Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class PreconditionQuery:
    """A PromQL precondition rendered for the target; the engine reads its value."""

    query: str
    condition: Comparison
    description: str | None = None


@dataclass(frozen=True)
class BlastEstimate:
    """How much the plan touches: objects changed, replicas/pods affected, and how many of
    the selected set (the workload's pods, the selected nodes) stay healthy afterwards."""

    targets: int
    replicas_affected: int
    selected: int
    healthy_after: int
    # Objects of the selected set that could not be read, counted in it as not healthy
    # (for a Node runbook: the nodes, by name).
    unread: tuple[str, ...] = ()

    @property
    def healthy_fraction_after(self) -> float:
        return 1.0 if self.selected == 0 else self.healthy_after / self.selected


@dataclass(frozen=True)
class Disruption:
    """The pods a plan takes down (each replaced or moved: a restart, an eviction), in
    all and by namespace, for the hourly budget on pods disrupted
    (``safety.maxPodsDisruptedPerHour``). ``count_disruption`` counts it."""

    pods: int = 0
    by_namespace: tuple[tuple[str, int], ...] = ()

    def in_namespace(self, namespace: str) -> int:
        return dict(self.by_namespace).get(namespace, 0)


# How often a read Prometheus could not answer is tried again (the remediation engine's
# cycle for a pod or node condition; REASK_RETRY for a firing alert held back).
ASKED_AGAIN = (
    " (asked again while the signal goes on: each cycle for a condition, every 5 minutes "
    "for an alert)"
)


def count_disruption(operations: Sequence[Operation], snapshot: ClusterSnapshot) -> Disruption:
    """How many pods ``operations`` disrupt, counted from what each does: a rollout
    restart, a rollback or a resources patch replaces every replica of its workload (once
    per workload, however many containers are patched), as does setting a workload's
    images (a canary's promotion); a pod delete or eviction is one
    pod; a drain is the pods it would evict (at most its ``max_evictions``, not DaemonSet,
    mirror or unmanaged pods, nor those annotated safe-to-evict: "false"; pods on the
    node that could not be read counted, as it may evict them); a scale-down
    is the replicas removed. A cordon, an HPA change, a scale-up, a paused rollout or a
    volume expansion disrupts none."""
    counts: dict[str, int] = {}
    replaced: set[ObjectRef] = set()

    def add(namespace: str | None, n: int) -> None:
        if n > 0:
            counts[namespace or ""] = counts.get(namespace or "", 0) + n

    for op in operations:
        if isinstance(op, RolloutRestart | RollbackToPrevious | PatchResources | SetImages):
            workload = snapshot.workload(op.target)
            if workload is not None and op.target not in replaced:
                replaced.add(op.target)
                add(op.target.namespace, workload.replicas)
        elif isinstance(op, DeletePod | EvictPod):
            add(op.target.namespace, 1)
        elif isinstance(op, Drain):
            pods = [
                p
                for p in snapshot.pods_on(op.target.name)
                if not p.deleting and not p.daemon and not p.unmanaged and not p.not_safe_to_evict
            ]
            # A pod on it that could not be read is evicted too, when the drain finds it
            # one it evicts: counted, as the plan cannot tell it is not.
            hidden = [u.ref.namespace for u in snapshot.unread_pods_on(op.target.name)]
            for namespace in [*(p.ref.namespace for p in pods), *hidden][: op.max_evictions]:
                add(namespace, 1)
        elif isinstance(op, Scale):
            workload = snapshot.workload(op.target)
            if workload is not None:
                add(op.target.namespace, workload.replicas - op.replicas)
    return Disruption(sum(counts.values()), tuple(sorted(counts.items())))


@dataclass(frozen=True)
class Plan:
    """What a runbook would do for one signal on one target, before any guard or approval.

    ``changes`` are done in order; ``notifications`` are sent whatever the mode;
    ``preconditions`` must all hold (evaluate with ``check_preconditions``) before acting;
    ``approval_required`` forces 'ask' whatever the confidence, and ``max_autonomy``
    caps routing. ``incident_key`` identifies the execution for exactly-once.
    """

    runbook: str
    runbook_version: int
    mode: Literal["enforce", "dryRun", "shadow"]
    max_autonomy: Literal["auto", "ask", "escalate"]
    signal: Signal
    trigger_index: int
    target: ObjectRef
    changes: tuple[Change, ...]
    notifications: tuple[Notification, ...]
    preconditions: tuple[PreconditionQuery, ...]
    verification: VerificationPlan | None
    undo_on_failure: bool
    blast: BlastEstimate
    approval_required: bool
    approval_reasons: tuple[str, ...]
    human_changed_at: float | None
    planned_at: float
    reason_code: str = "Planned"
    # The preconditions decided here (all passed, or there would be no plan).
    checked: tuple[GuardResult, ...] = ()
    # The pods it disrupts (``count_disruption``), for the hourly disruption budget.
    disruption: Disruption = Disruption()
    # What ``guards.maxActionsPerTarget`` counts runs on: the target, or for a Pod the
    # workload that owns it (its replacement has another name; the count must not start
    # again with each new pod). None: the target.
    counted_as: ObjectRef | None = None
    # A drain the PodDisruptionBudgets would keep from finishing, each said with the PDB,
    # its numbers and how to inspect it: handed to a person, never started.
    blocked_by: tuple[str, ...] = ()
    # What the PodDisruptionBudgets covering a drain's pods say, for the evidence (None:
    # no drain, or a reader that reads none).
    budgets: dict[str, Any] | None = None

    @property
    def operations(self) -> tuple[Operation, ...]:
        return tuple(change.operation for change in self.changes)

    @property
    def diff(self) -> str:
        """The human-readable diff, one line per change."""
        if not self.changes:
            return "no change to the cluster (notify only)"
        return "\n".join(change.summary for change in self.changes)

    @property
    def message(self) -> str:
        return f"{self.runbook} on {show(self.target)}: {self.diff}"

    @property
    def incident_key(self) -> str:
        return incident_key(self.runbook, self.target, self.signal)


# ------------------------------------------------------------------------------ helpers


def incident_key(runbook: str, target: ObjectRef, signal: Signal) -> str:
    """The incident a plan of ``runbook`` on ``target`` for ``signal`` is about: one
    decision each (``Plan.incident_key``), also found without planning."""
    return f"{runbook}|{target}|{signal.dedup_key}"


def show(ref: ObjectRef) -> str:
    """'Deployment shop/web', 'Node worker-2'."""
    where = f"{ref.namespace}/" if ref.namespace else ""
    return f"{ref.kind} {where}{ref.name}"


# What lifts a runbook's own ceiling on a scale or a floor.
_RUNBOOK_MAX = (
    "not raised further; a person decides whether it may grow (raise maxReplicas in the "
    "runbook's action, or scale it by hand)"
)


def _size(
    current: int, replicas: int | None, factor: float | None, add: int | None, cap: int
) -> tuple[int, str]:
    if replicas is not None:
        wanted, how = replicas, f"to {replicas}"
    elif factor is not None:
        wanted, how = math.ceil(current * factor - 1e-9), f"x{factor:g}"
    else:
        wanted, how = current + (add or 0), f"+{add}"
    return min(wanted, cap), f"{how}, max {cap}"


class _Stop(Exception):  # noqa: N818 - control flow inside this module only
    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.outcome = NoAction(reason_code, message)


@dataclass(frozen=True)
class _Planned:
    changes: tuple[Change, ...]
    notifications: tuple[Notification, ...]
    replicas_affected: int
    selected: int
    healthy_after: int
    # Why a person must approve it whatever the runbook's requireApprovalWhen says
    # (a drain that would leave a workload with too few ready replicas).
    approval: tuple[str, ...] = ()
    # Why it cannot finish without a person (a PodDisruptionBudget that will refuse its
    # evictions for good): it is handed to a person, not started.
    blocked: tuple[str, ...] = ()
    # What the PodDisruptionBudgets covering a drain's pods say (``drain_budgets``).
    budgets: dict[str, Any] | None = None
    # Of ``selected``, the objects that could not be read (counted as not healthy).
    unread: tuple[str, ...] = ()


def _not_found(target: ObjectRef, snapshot: ClusterSnapshot) -> _Stop:
    """No plan for a target the snapshot does not hold: ``ObjectUnread`` when it is there
    but could not be read (never taken for one that is gone), else ``TargetNotFound``."""
    unread = not_read(target, snapshot)
    if unread is not None:
        return _Stop(unread.reason_code, unread.message)
    return _Stop("TargetNotFound", f"{show(target)} is not in the cluster snapshot")


def _unread_pods(pods: Sequence[UnreadObject], where: str) -> str:
    """'2 pods on node n1 could not be read (a, b): <the first one's why>'."""
    names = [u.ref.name or "(no name)" for u in pods]
    said = f"{counted(len(pods), 'pod')} {where} could not be read"
    return f"{said} ({shown_names(names)}): {pods[0].why}"


def _workload(target: ObjectRef, snapshot: ClusterSnapshot) -> WorkloadState:
    workload = snapshot.workload(target)
    if workload is None:
        raise _not_found(target, snapshot)
    return workload


def _workload_of(target: ObjectRef, snapshot: ClusterSnapshot) -> WorkloadState | None:
    if target.kind == "Pod":
        pod = snapshot.pod(target)
        if pod is None or pod.owner is None:
            return None
        return snapshot.workload(pod.owner)
    if target.kind in ("Deployment", "StatefulSet"):
        return snapshot.workload(target)
    return None


def _human_changed_at(target: ObjectRef, snapshot: ClusterSnapshot) -> float | None:
    """When someone other than Autonomic and the cluster's own controllers last changed
    the target (a pod: the workload it belongs to), as the adapter read it; None when
    not recorded or not read for this kind."""
    if target.kind == "Node":
        node = snapshot.node(target.name)
        return node.managed_by_human_at if node is not None else None
    if target.kind == "Rollout":
        rollout = snapshot.workload(target)
        return rollout.managed_by_human_at if rollout is not None else None
    workload = _workload_of(target, snapshot)
    return workload.managed_by_human_at if workload is not None else None


def _pods_health(workload: WorkloadState, snapshot: ClusterSnapshot) -> tuple[int, int]:
    pods = [p for p in snapshot.pods_of(workload.ref) if not p.deleting]
    # A pod that could not be read is there (counted) but not known healthy (not counted so).
    unread = len(snapshot.unread_pods_of(workload.ref))
    selected = max(len(pods) + unread, workload.replicas)
    return selected, sum(1 for p in pods if p.ready)


def _refuse_foreign_hpa(
    hpa: HpaState, target: ObjectRef, field: str, change: str, what: str
) -> None:
    """An HPA whose ``field`` a write would not hold: several HPAs on one workload (the
    HPA controller scales with none of them), or one another controller owns (KEDA's
    ScaledObject puts its own values back at once, as the scaling loop knows). ``change``
    names the write for the message (``a higher floor``), ``what`` the value raised."""
    if hpa.shared_with:
        names = ", ".join((hpa.ref.name, *hpa.shared_with))
        raise _Stop(
            "AmbiguousHpa",
            f"{len(hpa.shared_with) + 1} HPAs target {show(target)} ({names}): the HPA "
            f"controller scales with none of them (AmbiguousSelector), so {change} "
            "would change nothing; delete all but one",
        )
    if hpa.controller is not None:
        raise _Stop(
            "ManagedHpa",
            f"{hpa.controller} owns {show(hpa.ref)} and would put its own {field} back; "
            f"raise {what} on {hpa.controller} instead",
        )


def _plan_scale(action: ScaleAction, target: ObjectRef, snapshot: ClusterSnapshot) -> _Planned:
    workload = _workload(target, snapshot)
    current = workload.replicas
    wanted, how = _size(current, action.replicas, action.factor, action.add, action.max_replicas)
    hpa = snapshot.hpa_for(target) if action.hpa == "raiseFloor" else None
    selected, healthy = _pods_health(workload, snapshot)
    if hpa is not None:
        _refuse_foreign_hpa(hpa, target, "minReplicas", "a higher floor", "the floor")
        if hpa.max_replicas < hpa.min_replicas:
            raise _Stop(
                "InvalidHpa",
                f"{show(hpa.ref)} has maxReplicas {hpa.max_replicas} below minReplicas "
                f"{hpa.min_replicas}: fix the HPA; its floor is not raised",
            )
        floor = min(max(wanted, hpa.min_replicas), hpa.max_replicas)
        if floor <= hpa.min_replicas or floor <= hpa.current_replicas:
            if wanted > hpa.max_replicas:
                # The HPA's ceiling, not the load, holds it: said, with what lifts it (a
                # surge with the HPA maxed out said "already keeps 10; would set 10").
                raise _Stop(
                    "AtMaximum",
                    f"{show(hpa.ref)} is at its maxReplicas {hpa.max_replicas} "
                    f"({_replicas(hpa.current_replicas)} running); the runbook would raise "
                    f"the floor to {wanted} ({how}), which the HPA cannot go to: raise "
                    "maxReplicas on the HPA to let it scale further",
                )
            if wanted >= action.max_replicas:
                raise _Stop(
                    "AtMaximum",
                    f"{show(hpa.ref)} already keeps at least "
                    f"{counted(max(hpa.min_replicas, hpa.current_replicas), 'replica')}, "
                    "at or above "
                    f"the runbook's maxReplicas ({how}): {_RUNBOOK_MAX}",
                )
            raise _Stop(
                "NoChange",
                f"{show(hpa.ref)} already keeps at least {max(hpa.min_replicas, current)} "
                f"replicas; the runbook would set {floor} ({how})",
            )
        summary = (
            f"{show(hpa.ref)}: minReplicas {hpa.min_replicas} -> {floor} "
            f"(scales {show(target)} from {hpa.current_replicas}; {how}, HPA max "
            f"{hpa.max_replicas})"
        )
        # Compare-and-set against the minReplicas planned from: a floor moved before the
        # write (the scaling loop's, a person's) is not written over, nor lowered.
        change = Change(SetHpaMinReplicas(hpa.ref, floor, expected=hpa.min_replicas), summary)
        added = floor - hpa.current_replicas
    else:
        if wanted <= current:
            if current >= action.max_replicas:
                raise _Stop(
                    "AtMaximum",
                    f"{show(target)} has {_replicas(current)}, at or above the runbook's "
                    f"maxReplicas ({how}): {_RUNBOOK_MAX}",
                )
            raise _Stop(
                "NoChange", f"{show(target)} has {_replicas(current)}; the runbook allows {how}"
            )
        change = Change(
            Scale(target, wanted), f"{show(target)}: replicas {current} -> {wanted} ({how})"
        )
        added = wanted - current
    return _Planned((change,), (), added, selected, healthy)


def _plan_hpa_floor(
    action: SetHpaMinReplicasAction, target: ObjectRef, snapshot: ClusterSnapshot
) -> _Planned:
    workload = _workload(target, snapshot)
    hpa = snapshot.hpa_for(target)
    if hpa is None:
        raise _Stop("NoHpa", f"no HorizontalPodAutoscaler manages {show(target)}")
    _refuse_foreign_hpa(hpa, target, "minReplicas", "a higher floor", "the floor")
    base = max(hpa.current_replicas, hpa.min_replicas)
    wanted, how = _size(base, action.replicas, action.factor, action.add, action.max_replicas)
    floor = min(wanted, hpa.max_replicas)
    if floor <= hpa.min_replicas:
        if hpa.min_replicas >= action.max_replicas:
            raise _Stop(
                "AtMaximum",
                f"{show(hpa.ref)} minReplicas is {hpa.min_replicas}, at or above the "
                f"runbook's maxReplicas ({how}): {_RUNBOOK_MAX}",
            )
        if wanted > hpa.max_replicas:
            raise _Stop(
                "AtMaximum",
                f"{show(hpa.ref)} minReplicas is {hpa.min_replicas} and its maxReplicas "
                f"{hpa.max_replicas}; the runbook would raise the floor to {wanted} ({how}), "
                "above the HPA's maximum: raise maxReplicas on the HPA to let the floor go "
                "higher",
            )
        raise _Stop(
            "NoChange", f"{show(hpa.ref)} minReplicas is {hpa.min_replicas}; {how} gives {floor}"
        )
    selected, healthy = _pods_health(workload, snapshot)
    summary = (
        f"{show(hpa.ref)}: minReplicas {hpa.min_replicas} -> {floor} "
        f"({how}, HPA max {hpa.max_replicas})"
    )
    added = max(0, floor - hpa.current_replicas)
    operation = SetHpaMinReplicas(hpa.ref, floor, expected=hpa.min_replicas)
    return _Planned((Change(operation, summary),), (), added, selected, healthy)


def _plan_hpa_ceiling(
    action: RaiseHpaMaxReplicasAction, target: ObjectRef, snapshot: ClusterSnapshot
) -> _Planned:
    """Raise the ceiling of the HPA that scales ``target`` by ``action.by`` (at least
    ``minStep``, never above ``atMost``), only while the HPA runs at it: an HPA below its
    ceiling was not held back by it (the alert that asked is stale)."""
    workload = _workload(target, snapshot)
    hpa = snapshot.hpa_for(target)
    if hpa is None:
        raise _Stop("NoHpa", f"no HorizontalPodAutoscaler manages {show(target)}")
    _refuse_foreign_hpa(hpa, target, "maxReplicas", "a higher ceiling", "the ceiling")
    ceiling = hpa.max_replicas
    if ceiling < hpa.min_replicas:
        raise _Stop(
            "InvalidHpa",
            f"{show(hpa.ref)} has maxReplicas {ceiling} below minReplicas "
            f"{hpa.min_replicas}: fix the HPA; its ceiling is not raised",
        )
    if ceiling >= action.at_most:
        raise _Stop(
            "AtMaximum",
            f"{show(hpa.ref)} maxReplicas is {ceiling}, at or above the runbook's atMost "
            f"{action.at_most}: not raised; a person decides whether {show(target)} may "
            "grow further",
        )
    if hpa.current_replicas < ceiling and hpa.desired_replicas < ceiling:
        raise _Stop(
            "NotMaxedOut",
            f"{show(hpa.ref)} runs {_replicas(hpa.current_replicas)} and wants "
            f"{hpa.desired_replicas}, below its maxReplicas {ceiling}: the ceiling no longer "
            "holds it back (the alert is stale); not raised",
        )
    new = min(max(action.by.grow(ceiling), ceiling + action.min_step), action.at_most)
    selected, healthy = _pods_health(workload, snapshot)
    least = f", at least +{action.min_step}" if action.min_step > 1 else ""
    summary = (
        f"{show(hpa.ref)}: maxReplicas {ceiling} -> {new} (scales {show(target)}, at "
        f"{_replicas(hpa.current_replicas)}; by {action.by}{least}, at most {action.at_most})"
    )
    # Compare-and-set against the ceiling planned from, as the floor's: a ceiling a
    # person moved while the question was open is not written over.
    operation = SetHpaMaxReplicas(hpa.ref, new, expected=ceiling)
    added = max(0, new - hpa.current_replicas)
    return _Planned((Change(operation, summary),), (), added, selected, healthy)


def _plan_rollout(
    action: RolloutRestartAction | RollbackAction | PauseRolloutAction,
    target: ObjectRef,
    snapshot: ClusterSnapshot,
) -> _Planned:
    workload = _workload(target, snapshot)
    selected, healthy = _pods_health(workload, snapshot)
    if isinstance(action, RollbackAction):
        if target.kind == "Deployment" and workload.observed_generation < workload.generation:
            # Its revision is that of the template before the latest spec: "the previous
            # revision" would be one too far back. Planned again next cycle, while the
            # trigger holds, once the controller has caught up.
            raise _Stop(
                "RolloutNotObserved",
                f"{show(target)}: the Deployment controller has not observed its latest "
                f"spec (generation {workload.generation}, observed "
                f"{workload.observed_generation}), so its revision {workload.revision} may "
                "not be the one it runs; not rolling back until it has",
            )
        if workload.revision <= 1:
            raise _Stop(
                "NoPreviousRevision",
                f"{show(target)} is at revision {workload.revision}; there is nothing to roll "
                "back to",
            )
        change = Change(
            RollbackToPrevious(target, workload.revision),
            f"{show(target)}: roll back from revision {workload.revision} to the previous "
            f"revision ({_replicas(workload.replicas)} replaced gradually)",
        )
        return _Planned((change,), (), workload.replicas, selected, healthy)
    if isinstance(action, PauseRolloutAction):
        if workload.paused:
            raise _Stop("AlreadyPaused", f"{show(target)}'s rollout is already paused")
        in_progress = (
            workload.updated_replicas < workload.replicas
            or workload.observed_generation < workload.generation
        )
        if not in_progress:
            raise _Stop(
                "NoRolloutInProgress",
                f"{show(target)} finished rolling out revision {workload.revision}; "
                "pausing would change nothing",
            )
        change = Change(
            PauseRollout(target),
            f"{show(target)}: pause rollout of revision {workload.revision} at "
            f"{workload.updated_replicas}/{workload.replicas} updated replicas",
        )
        return _Planned((change,), (), 0, selected, healthy)
    _refuse_on_delete(workload, "a rollout restart")
    change = Change(
        RolloutRestart(target),
        f"{show(target)}: rollout restart ({counted(workload.replicas, 'pod')} replaced gradually)",
    )
    return _Planned((change,), (), workload.replicas, selected, healthy)


def _stuck_reason(pod: PodState, reasons: Sequence[str]) -> str | None:
    if pod.deleting:
        return None
    if pod.waiting_reason is not None and pod.waiting_reason in reasons:
        return pod.waiting_reason
    if "Unknown" in reasons and pod.phase == "Unknown":
        return "Unknown"
    if "NotReady" in reasons and pod.phase == "Running" and not pod.ready:
        return "NotReady"
    return None


def _plan_pods(
    action: DeletePodAction | EvictPodAction, target: ObjectRef, snapshot: ClusterSnapshot
) -> _Planned:
    if target.kind == "Pod":
        pod = snapshot.pod(target)
        if pod is None:
            raise _not_found(target, snapshot)
        owner = snapshot.workload(pod.owner) if pod.owner is not None else None
        candidates: Sequence[PodState] = [pod]
        siblings = snapshot.pods_of(owner.ref) if owner is not None else (pod,)
    else:
        owner = _workload(target, snapshot)
        siblings = snapshot.pods_of(target)
        candidates = siblings
    # A pod on a NotReady node is not stuck: its node is down, and the node runbooks (or
    # the node lifecycle controller) move it. Restarting it where it is would not help.
    down = {n.ref.name for n in snapshot.nodes if not n.ready}
    stuck = [
        (p, r)
        for p in candidates
        if p.node not in down and (r := _stuck_reason(p, action.reasons)) is not None
    ]
    hidden = snapshot.unread_pods_of(owner.ref) if owner is not None else ()
    if not stuck:
        wanted = ", ".join(action.reasons)
        if hidden and target.kind != "Pod":
            # The stuck ones may be those: that none is stuck is not known.
            raise _Stop(
                "ObjectUnread",
                f"no pod of {show(target)} that could be read is in {wanted}, but "
                f"{_unread_pods(hidden, f'of {show(target)}')}",
            )
        raise _Stop("NoStuckPods", f"no pod of {show(target)} is in {wanted}")
    chosen = stuck[: action.max_pods]
    verb = "delete" if isinstance(action, DeletePodAction) else "evict"
    changes = tuple(
        Change(
            DeletePod(p.ref) if isinstance(action, DeletePodAction) else EvictPod(p.ref),
            f"{show(p.ref)}: {verb} ({reason}, {p.restarts} restarts)",
        )
        for p, reason in chosen
    )
    live = [p for p in siblings if not p.deleting]
    # Its pods that could not be read are there, but not known healthy.
    selected = max(len(live) + len(hidden), owner.replicas if owner is not None else 0)
    healthy = sum(1 for p in live if p.ready)
    healthy_after = healthy - sum(1 for p, _ in chosen if p.ready)
    return _Planned(changes, (), len(chosen), selected, healthy_after)


def _nodes_health(
    target: ObjectRef, runbook: Runbook, snapshot: ClusterSnapshot
) -> tuple[int, int, tuple[str, ...]]:
    """The nodes the runbook may act on (its target's labels and ``excludeNames``, as a
    signal's node is judged), how many of them stay healthy (Ready, schedulable)
    once ``target`` is taken out, and the names of those that could not be read. A node
    it never acts on is not of its set: counted, a spare it excludes by name would make
    its own nodes look healthier than they are.

    A node that could not be read may be cordoned or NotReady: counted in the set, it is
    never counted healthy (the reading that holds a drain or cordon back, ``MinHealthy``).
    It is of the set when the runbook's target selects it by the labels that could still
    be read; when a label the target asks about (``requireLabels``, ``excludeLabels``)
    could not be read, or none could, unless ``excludeNames`` names it. So one odd node
    object holds back only the runbooks that may act on it, not every Node runbook of
    the cluster, and only while it cannot be read."""
    selector = runbook.spec.target
    selected = [n for n in snapshot.nodes if selects(selector, n.ref, n.labels)]
    healthy = [n for n in selected if n.ready and not n.unschedulable and n.ref != target]
    asked = {*selector.require_labels, *selector.exclude_labels}

    def of_set(node: UnreadObject) -> bool:
        if node.labels is None or asked.intersection(node.odd_labels):
            return node.ref.name not in selector.exclude_names
        return selects(selector, node.ref, dict(node.labels))

    unread = tuple(
        sorted(u.ref.name for u in snapshot.unread if u.ref.kind == "Node" and of_set(u))
    )
    return len(selected) + len(unread), len(healthy), unread


def _plan_node(
    action: CordonAction | DrainAction,
    target: ObjectRef,
    runbook: Runbook,
    snapshot: ClusterSnapshot,
) -> _Planned:
    node = snapshot.node(target.name)
    if node is None:
        raise _not_found(target, snapshot)
    selected, healthy_after, unread = _nodes_health(target, runbook, snapshot)
    present, protected, pods = _drain_pods(target.name, snapshot)
    kept = len(present) - len(pods) - len(protected)
    left = f"; {kept} with no controller left in place, nothing would recreate them" if kept else ""
    scratch = [show(p.ref).removeprefix("Pod ") for p in pods if p.empty_dir]
    if scratch:
        # Evicted all the same (kubectl drain --delete-emptydir-data), but said: what they
        # keep there goes with them.
        shown = ", ".join(scratch[:5]) + (f" and {len(scratch) - 5} more" if scratch[5:] else "")
        left += f"; {len(scratch)} keep data in an emptyDir volume, which eviction deletes: {shown}"
    if protected:
        names = [show(p.ref).removeprefix("Pod ") for p in protected]
        left += f"; {protected_left(names)} (the drain ends INCOMPLETE)"
    if isinstance(action, CordonAction):
        if node.unschedulable:
            raise _Stop("AlreadyCordoned", f"{show(target)} is already unschedulable")
        change = Change(
            Cordon(target),
            f"{show(target)}: cordon (no new pods; {counted(len(pods), 'pod')} "
            f"{'stays' if len(pods) == 1 else 'stay'})",
        )
        return _Planned((change,), (), 0, selected, healthy_after, unread=unread)
    hidden = snapshot.unread_pods_on(target.name)
    if node.unschedulable and not pods:
        if hidden:
            # Runs no pod that could be read: the others may be pods a drain evicts.
            raise _Stop(
                "ObjectUnread",
                f"{show(target)} is cordoned and runs no pod to evict that could be read, "
                f"but {_unread_pods(hidden, 'on it')}; whether it is drained is not known",
            )
        raise _Stop("AlreadyDrained", f"{show(target)} is cordoned and runs no pods")
    chosen = pods[: action.max_evictions]
    if not node.ready:
        # Evicted, or deleted already (the taint manager evicts a NotReady node's pods
        # after their tolerationSeconds): they stay Terminating, and a StatefulSet's are
        # not replaced until the Node is deleted or tainted out-of-service.
        stateful = [
            (show(p.ref).removeprefix("Pod "), p.owner.name)
            for p in snapshot.pods_on(target.name)
            if p.owner is not None and p.owner.kind == "StatefulSet" and (p.deleting or p in chosen)
        ]
        if stateful:
            left += f"; {not_replaced(target.name, stateful)}"
    reading = _drain_budgets(node, chosen, snapshot)
    if reading is not None:
        left += "".join(f"; {note}" for note in reading.notes)
    change = Change(
        Drain(target, max_evictions=action.max_evictions, timeout_seconds=action.timeout),
        f"{show(target)}: cordon and drain ({counted(len(pods), 'pod')} to evict, at most "
        f"{action.max_evictions}, timeout {format_duration(action.timeout)}{left})",
    )
    approval = _below_ready_floor(chosen, target.name, action.min_ready_replicas, snapshot)
    if hidden:
        # The drain evicts what it finds on the node, these too, while the plan cannot
        # say whose they are, whether they are ready, or which budgets cover them.
        approval += (
            f"{_unread_pods(hidden, f'on node {target.name}')}; the drain would evict them "
            "too, and what that leaves their workloads (minReadyReplicas, "
            "PodDisruptionBudgets) is not known",
        )
    return _Planned(
        (change,),
        (),
        len(pods),
        selected,
        healthy_after,
        approval,
        blocked=reading.blocking if reading is not None else (),
        # The pods on the node that could not be read, as the person asked saw them: the
        # check before the cordon asks again only over others (``drain_blocked_by``).
        budgets=None
        if reading is None
        else {**(reading.evidence or {}), "unreadPods": unread_pod_names(hidden)}
        if hidden
        else reading.evidence,
        unread=unread,
    )


def _drain_pods(
    node: str, snapshot: ClusterSnapshot
) -> tuple[list[PodState], list[PodState], list[PodState]]:
    """The pods on ``node`` a drain looks at (not terminating, not DaemonSet or mirror
    pods), those of them it leaves because they are annotated safe-to-evict: "false"
    (never evicted, as the cluster autoscaler and draino treat them: the drain moves the
    others and ends incomplete), and those it evicts (not those, nor pods with no
    controller), in that order."""
    present = [p for p in snapshot.pods_on(node) if not p.deleting and not p.daemon]
    protected = [p for p in present if p.not_safe_to_evict]
    pods = [p for p in present if not p.unmanaged and not p.not_safe_to_evict]
    return present, protected, pods


def _drain_budgets(
    node: NodeState, chosen: Sequence[PodState], snapshot: ClusterSnapshot
) -> BudgetReading | None:
    if snapshot.budgets is None:
        return None
    on_node = snapshot.pods_on(node.ref.name)
    return read_budgets(node, chosen, on_node, snapshot.budgets)


@dataclass(frozen=True)
class DrainRecheck:
    """What ``drain_blocked_by`` found: the clause of each PodDisruptionBudget that would
    keep the drain from finishing (``blocking``), and, when pods on the node could not
    be read that its plan did not see, what cannot be told of them (``unread``)."""

    blocking: tuple[str, ...] = ()
    unread: str | None = None


def unread_pod_names(pods: Sequence[UnreadObject]) -> list[str]:
    """'namespace/name' of each pod that could not be read (its name "" when unknown), as
    a drain's plan keeps them in its evidence (``unreadPods``)."""
    return sorted(f"{u.ref.namespace or ''}/{u.ref.name}" for u in pods)


def drain_blocked_by(
    drain: Drain, snapshot: ClusterSnapshot, seen: Sequence[str] = ()
) -> DrainRecheck:
    """What the PodDisruptionBudgets say now of ``drain``, read as its plan read them
    (the pods it would evict from the node in ``snapshot``): the clause of each that
    would keep it from finishing, the plan's words (``PodDisruptionBudgetBlocks``); none
    when none would, the node is gone, or the budgets are not read. For an approved
    drain about to cordon: a budget may have tightened since the plan read it.

    Pods on the node that could not be read are evicted too, and a budget covering one
    may refuse it: whether one would is not known. Those its plan saw (``seen``, their
    ``unread_pod_names``) were put to the person who approved it; any other is said in
    ``unread``, for the drain to be put to a person rather than go on."""
    node = snapshot.node(drain.target.name)
    if node is None:
        return DrainRecheck()
    _, _, pods = _drain_pods(node.ref.name, snapshot)
    reading = _drain_budgets(node, pods[: drain.max_evictions], snapshot)
    blocking = reading.blocking if reading is not None else ()
    hidden = snapshot.unread_pods_on(node.ref.name)
    new = Counter(unread_pod_names(hidden)) - Counter(seen)
    if not new:
        return DrainRecheck(blocking)
    unseen = [u for u in hidden if new.get(f"{u.ref.namespace or ''}/{u.ref.name}", 0) > 0]
    one = len(unseen) == 1
    unread = (
        f"{_unread_pods(unseen, f'on node {node.ref.name}')}, and the plan did not see "
        f"{'it' if one else 'them'}: the drain would evict {'it' if one else 'them'} too, "
        f"and whether a PodDisruptionBudget covers {'it' if one else 'them'} and would "
        f"refuse {'its' if one else 'their'} eviction is not known"
    )
    return DrainRecheck(blocking, unread)


def _below_ready_floor(
    chosen: Sequence[PodState], node: str, floor: int, snapshot: ClusterSnapshot
) -> tuple[str, ...]:
    """Why a drain evicting ``chosen`` from ``node`` needs a person: each workload it
    would leave with fewer than ``floor`` ready replicas (``minReadyReplicas``), most
    often one whose ready pods all run on that node. Eviction respects a
    PodDisruptionBudget, but a workload without one goes to zero ready replicas until
    its replacements are ready elsewhere (kubectl drain does the same)."""
    evicted: dict[ObjectRef, int] = {}
    for pod in chosen:
        if pod.ready and pod.owner is not None:
            evicted[pod.owner] = evicted.get(pod.owner, 0) + 1
    reasons = []
    for owner, count in sorted(evicted.items()):
        ready = sum(1 for p in snapshot.pods_of(owner) if p.ready and not p.deleting)
        after = max(ready - count, 0)
        if after < floor:
            reasons.append(
                f"would leave {show(owner)} with {_replicas(after)} ready (it has {ready} "
                f"ready, {count} of them on node {node}); the drain's minReadyReplicas is "
                f"{floor}"
            )
    return tuple(reasons)


def _raise_value(current: Fraction, factor: float, ceiling: Fraction, resource: str) -> Fraction:
    raised = current * Fraction(factor)
    if resource == "memory":
        mebibyte = Fraction(2**20)
        raised = math.ceil(raised / mebibyte) * mebibyte
    else:
        raised = Fraction(math.ceil(raised * 1000), 1000)
    return min(raised, ceiling)


def _refuse_on_delete(workload: WorkloadState, what: str) -> None:
    """A StatefulSet with ``updateStrategy: OnDelete`` takes a new pod template only into
    pods someone deletes: ``what`` (a restart, new resources) would be written, reported
    as done, and change no running pod (``kubectl rollout restart`` is as silent)."""
    if workload.on_delete:
        raise _Stop(
            "OnDeleteUpdateStrategy",
            f"{show(workload.ref)} has updateStrategy OnDelete: its controller replaces a "
            f"pod only when someone deletes it, so {what} would change no running pod. "
            "Delete its pods one at a time (kubectl delete pod, or a deletePod runbook), or "
            "switch it to updateStrategy RollingUpdate",
        )


def _plan_patch(
    action: PatchResourcesAction, target: ObjectRef, snapshot: ClusterSnapshot
) -> _Planned:
    workload = _workload(target, snapshot)
    _refuse_on_delete(workload, "new resources")
    fields = ("limits", "requests") if action.field == "both" else (action.field,)
    ceiling = parse_quantity(action.max)
    fmt = format_memory if action.resource == "memory" else format_cpu
    containers: list[ContainerState] = [
        c
        for c in workload.containers
        if (action.container is None or c.name == action.container)
        and all(action.resource in getattr(c, f) for f in fields)
    ]
    if not containers:
        which = f"container {action.container!r}" if action.container else "no container"
        raise _Stop(
            "ResourceNotSet",
            f"{show(target)}: {which} sets {action.resource} {' and '.join(fields)}; "
            "there is no value to raise from",
        )
    changes: list[Change] = []
    at_max: list[str] = []
    for container in containers:
        patch: dict[str, dict[str, str]] = {"limits": {}, "requests": {}}
        planned_from: dict[str, dict[str, str]] = {"limits": {}, "requests": {}}
        parts: list[str] = []
        limit_after: Fraction | None = None
        for name in ("limits", "requests"):
            if name not in fields:
                continue
            current = parse_quantity(getattr(container, name)[action.resource])
            cap = ceiling
            if name == "requests":
                limit_text = container.limits.get(action.resource)
                limit_now = (
                    limit_after
                    if limit_after is not None
                    else (parse_quantity(limit_text) if limit_text is not None else None)
                )
                if limit_now is not None:
                    cap = min(cap, limit_now)  # a request above its limit is rejected
            new = _raise_value(current, action.factor, cap, action.resource)
            if name == "limits":
                limit_after = max(new, current)
            if new <= current:
                at_max.append(f"{container.name} {action.resource} {name[:-1]} {fmt(current)}")
                continue
            patch[name][action.resource] = fmt(new)
            planned_from[name][action.resource] = getattr(container, name)[action.resource]
            parts.append(f"{action.resource} {name[:-1]} {fmt(current)} -> {fmt(new)}")
        if parts:
            changes.append(
                Change(
                    PatchResources(
                        target,
                        container.name,
                        requests=patch["requests"],
                        limits=patch["limits"],
                        expected={k: v for k, v in planned_from.items() if v},
                    ),
                    f"{show(target)}: container {container.name} {', '.join(parts)} "
                    f"(x{action.factor:g}, max {action.max}; "
                    f"rolls out {counted(workload.replicas, 'pod')})",
                )
            )
    if not changes:
        raise _Stop(
            "AtMaximum",
            f"{show(target)}: already at the runbook's maximum {action.max} "
            f"({'; '.join(at_max)}): not raised further; find out why it needs more, or "
            f"raise the max of the runbook's {action.type} action if it may have more",
        )
    selected, healthy = _pods_health(workload, snapshot)
    return _Planned(tuple(changes), (), workload.replicas, selected, healthy)


def stable_of(workload: WorkloadState) -> ObjectRef | None:
    """The stable Deployment a native canary Deployment's ``autonomic.dev/canary-of``
    label names (same namespace), or None: not a Deployment, no such label, or one that
    names the canary itself."""
    name = workload.labels.get(CANARY_OF, "")
    if workload.ref.kind != "Deployment" or not name or name == workload.ref.name:
        return None
    return ObjectRef("Deployment", name, workload.ref.namespace)


def canary_moved_on(
    verdict: str, evidence: Mapping[str, Any], target: ObjectRef, canary: WorkloadState
) -> str | None:
    """Why the canary ``canary`` (``target``) no longer runs the release a ``verdict``
    (promote, rollback) judged, as the verdict's signal ``evidence`` names it (its
    ``revision`` and ``images``), or None when it still does or the evidence does not
    say: another revision (rolled out again: a fix), or, at the judged revision, other
    images (deleted and created again, its revisions starting at 1 again). A person's
    approval of the verdict, or of the runbook's decision on it, can come hours after
    it: the promotion of one release never gives the stable another, and the rollback
    of one never rolls back another (from a fix back to the release judged bad). Read
    when the signal is planned (``_judged_canary``) and again before the first write of
    a decision on it (``RemediationEngine._hold``)."""
    revision = evidence.get("revision")
    listed = evidence.get("images")
    judged = tuple(map(str, listed)) if isinstance(listed, list | tuple) else ()
    running = tuple(c.image for c in canary.containers)
    rolled = isinstance(revision, int) and revision != canary.revision
    if not rolled and (not judged or judged == running):
        return None
    then = f"revision {revision}" if isinstance(revision, int) else "the release"
    if judged:
        then += f" ({', '.join(judged)})"
    since = (
        "it was rolled out again (or deleted and created again) since"
        if rolled
        else "it was deleted and created again since (its revisions start at 1 again)"
    )
    done = (
        "a release nobody judged is never promoted"
        if verdict == "promote"
        else "the verdict on one release is not carried out on another: nothing is rolled "
        "back, scaled or written"
        if verdict == "rollback"
        else "the verdict on one release is not carried out on another"
    )
    return (
        f"{show(target)} is at revision {canary.revision} ({', '.join(running) or 'no image'}), "
        f"not {then} the verdict judged: {since}, and {done}"
    )


def _judged_canary(signal: Signal, target: ObjectRef, snapshot: ClusterSnapshot) -> None:
    """Stop (``CanaryMovedOn``) when a canary verdict's target no longer runs the release
    the verdict judged (``canary_moved_on``). A target that is not in the snapshot is
    left to its action's plan, which says so."""
    if signal.kind != "canary":
        return
    canary = snapshot.workload(target)
    why = None if canary is None else canary_moved_on(signal.name, signal.evidence, target, canary)
    if why is not None:
        raise _Stop("CanaryMovedOn", why)


def _plan_promote(
    action: PromoteCanaryAction, signal: Signal, target: ObjectRef, snapshot: ClusterSnapshot
) -> _Planned:
    """The stable Deployment the canary ``target`` names takes the canary's images
    (compare-and-set against the stable's images now), then, when asked, the canary is
    scaled to 0. Only for the canary release the verdict judged (``_judged_canary``,
    checked before any action is planned)."""
    canary = _workload(target, snapshot)
    stable_ref = stable_of(canary)
    if stable_ref is None:
        raise _Stop(
            "NotACanary",
            f"{show(target)} is not a native canary: it carries no {CANARY_OF} label naming "
            "another Deployment, so there is no stable Deployment to promote it to",
        )
    stable = snapshot.workload(stable_ref)
    unread = not_read(stable_ref, snapshot) if stable is None else None
    if unread is not None:
        # There, but not read (it, or an HPA that may scale it): not a stable gone.
        raise _Stop(
            "ObjectUnread",
            f"{unread.message.removesuffix(', so no runbook acts on it')}: "
            f"{show(stable_ref)} is the stable Deployment {show(target)}'s {CANARY_OF} "
            "label names; nothing promoted",
        )
    if stable is None:
        raise _Stop(
            "StableNotFound",
            f"{show(stable_ref)}, the stable Deployment {show(target)}'s {CANARY_OF} label "
            "names, is not in the cluster snapshot; nothing promoted",
        )
    ours = {c.name: c.image for c in canary.containers}
    theirs = {c.name: c.image for c in stable.containers}
    if set(ours) != set(theirs):
        raise _Stop(
            "ContainersDiffer",
            f"{show(target)} has the containers {', '.join(sorted(ours)) or 'none'} and "
            f"{show(stable_ref)} has {', '.join(sorted(theirs)) or 'none'}: only the images "
            "of the same containers are carried over, so a person promotes this release",
        )
    if ours == theirs:
        raise _Stop(
            "AlreadyPromoted",
            f"{show(stable_ref)} already runs the release of its canary {show(target)} "
            f"({', '.join(f'{k}={v}' for k, v in sorted(ours.items()))})",
        )
    moved = ", ".join(f"{k} {theirs[k]} -> {ours[k]}" for k in sorted(ours) if ours[k] != theirs[k])
    changes = [
        Change(
            SetImages(
                stable_ref,
                {k: v for k, v in ours.items() if v != theirs[k]},
                expected={k: theirs[k] for k in ours if ours[k] != theirs[k]},
                canary=target.name,
            ),
            f"{show(stable_ref)}: images {moved} (the release of its canary {target.name}, "
            f"judged to promote; rolls out {_replicas(stable.replicas)})",
        )
    ]
    retired = 0
    if action.scale_canary_to_zero and canary.replicas > 0:
        retired = canary.replicas
        changes.append(
            Change(
                Scale(target, 0, expected=canary.replicas),
                f"{show(target)}: replicas {canary.replicas} -> 0 (the canary is retired, not "
                f"deleted: {stable_ref.name} now runs its release)",
            )
        )
    selected, healthy = _pods_health(stable, snapshot)
    return _Planned(tuple(changes), (), stable.replicas + retired, selected, healthy)


_MEBIBYTE = Fraction(2**20)
_GIBIBYTE = Fraction(2**30)


def _grown(current: Fraction, action: ExpandVolumeAction) -> Fraction:
    """The size ``action`` grows ``current`` (bytes) to: the larger of its factor's and
    its addition's growth, rounded up to a whole Gi (to a whole Mi below 1Gi), never
    above its ``max``."""
    grown = current
    if action.factor is not None:
        grown = max(grown, current * Fraction(str(action.factor)))
    if action.add is not None:
        grown = max(grown, current + parse_quantity(action.add))
    unit = _GIBIBYTE if grown >= _GIBIBYTE else _MEBIBYTE
    return min(math.ceil(grown / unit) * unit, parse_quantity(action.max))


def _resizing(claim: VolumeClaimState) -> str | None:
    """Why a resize of ``claim`` is already under way (or stuck), or None."""
    for condition in ("Resizing", "FileSystemResizePending"):
        if claim.conditions.get(condition) == "True":
            return f"its condition {condition} is True"
    if claim.resize_status:
        return f"its resize status is {claim.resize_status}"
    if (
        claim.requested is not None
        and claim.capacity is not None
        and parse_quantity(claim.requested) > parse_quantity(claim.capacity)
    ):
        return f"it asks for {claim.requested} but has {claim.capacity} so far"
    return None


def _plan_expand(
    action: ExpandVolumeAction, target: ObjectRef, snapshot: ClusterSnapshot
) -> _Planned:
    claim = snapshot.claim(target)
    if claim is None:
        raise _not_found(target, snapshot)
    if claim.phase != "Bound" or claim.requested is None:
        raise _Stop(
            "ClaimNotBound",
            f"{show(target)} is {claim.phase or 'in no phase'}, not Bound to a volume; "
            "only a bound claim can be expanded",
        )
    if not claim.storage_class:
        raise _Stop(
            "NoStorageClass",
            f"{show(target)} names no StorageClass; only a claim of a class with "
            "allowVolumeExpansion: true can be expanded",
        )
    if claim.expandable is None:
        raise _Stop(
            "StorageClassUnknown",
            f"StorageClass {claim.storage_class} of {show(target)} is not in the cluster "
            "snapshot, so whether it allows expansion is unknown",
        )
    if not claim.expandable:
        raise _Stop(
            "ExpansionNotAllowed",
            f"StorageClass {claim.storage_class} of {show(target)} does not set "
            "allowVolumeExpansion: true; the volume cannot be expanded",
        )
    busy = _resizing(claim)
    if busy is not None:
        raise _Stop(
            "ResizeInProgress",
            f"a resize of {show(target)} is already under way ({busy}); wait for it to finish",
        )
    requested = parse_quantity(claim.requested)
    capacity = parse_quantity(claim.capacity) if claim.capacity is not None else requested
    current = max(requested, capacity)
    new = _grown(current, action)
    growth = [f"x{action.factor:g}"] if action.factor is not None else []
    growth += [f"+{action.add}"] if action.add is not None else []
    how = f"{' or '.join(growth)}, max {action.max}"
    if new <= current:
        raise _Stop(
            "AtMaximum",
            f"{show(target)} already has {claim.capacity or claim.requested}; the runbook "
            f"allows {how}: not expanded further; free space on it, or raise the max of "
            f"the runbook's {action.type} action if it may grow",
        )
    size = action.max if new == parse_quantity(action.max) else format_memory(new)
    shown = (
        claim.requested if capacity <= requested else f"{claim.requested} (has {claim.capacity})"
    )
    change = Change(
        ExpandVolume(target, size, expected=claim.requested),
        f"{show(target)}: storage {shown} -> {size} ({how}; StorageClass "
        f"{claim.storage_class}; a volume cannot shrink, so there is no undo)",
    )
    return _Planned((change,), (), 0, 0, 0)


def _values(
    runbook: Runbook, signal: Signal, target: ObjectRef, snapshot: ClusterSnapshot
) -> dict[str, str]:
    node = target.name if target.kind == "Node" else ""
    if target.kind == "Pod":
        pod = snapshot.pod(target)
        node = (pod.node or "") if pod is not None else ""
    workload = snapshot.workload(target) if target.kind == "Deployment" else None
    stable = stable_of(workload) if workload is not None else None
    return {
        "stable": stable.name if stable is not None else "",
        "namespace": target.namespace or "",
        "name": target.name,
        "kind": target.kind,
        "node": node,
        "target": show(target),
        "runbook": runbook.name,
        "signal": signal.describe(),
    }


# Marks a GitOps controller leaves on what it applies, and who it is. Only marks no
# other tool sets: Argo CD's default tracking label (app.kubernetes.io/instance) is Helm's
# too, so it is not taken as proof.
_GITOPS_MARKS: tuple[tuple[str, str, str], ...] = (
    ("annotations", "argocd.argoproj.io/tracking-id", "Argo CD"),
    ("labels", "argocd.argoproj.io/instance", "Argo CD"),
    ("labels", "kustomize.toolkit.fluxcd.io/name", "Flux"),
    ("labels", "helm.toolkit.fluxcd.io/name", "Flux"),
)


def _gitops_manager(workload: WorkloadState) -> str | None:
    """``Argo CD (annotation argocd.argoproj.io/tracking-id=...)`` when a GitOps
    controller applies ``workload`` (from the marks it leaves on it), else None."""
    for where, key, tool in _GITOPS_MARKS:
        value = getattr(workload, where).get(key)
        if value:
            return f"{tool} ({where[:-1]} {key}={value})"
    return None


def _with_gitops_note(planned: _Planned, snapshot: ClusterSnapshot) -> _Planned:
    """Say, on each change to what a GitOps controller applies from Git (a workload's
    images, resources or replicas), that the controller may put Git's values back: Argo
    CD with self-heal on, Flux at its next reconcile. The change is still planned (it
    may be what stops an outage now), but the people who approve or read it are told
    that it lasts only once Git says the same."""
    notes: list[Change] = []
    for change in planned.changes:
        op = change.operation
        workload = (
            snapshot.workload(op.target)
            if isinstance(op, RollbackToPrevious | PatchResources | Scale | SetImages)
            else None
        )
        manager = _gitops_manager(workload) if workload is not None else None
        if manager is None:
            notes.append(change)
            continue
        notes.append(
            replace(
                change,
                summary=f"{change.summary}; {manager} applies it from Git and may put Git's "
                "values back (Argo CD with self-heal, Flux at its next reconcile): make the "
                "same change in Git for it to last",
            )
        )
    return replace(planned, changes=tuple(notes))


def _plan_action(
    action: Action,
    runbook: Runbook,
    signal: Signal,
    target: ObjectRef,
    snapshot: ClusterSnapshot,
) -> _Planned:
    return _with_gitops_note(_plan_one(action, runbook, signal, target, snapshot), snapshot)


def _plan_one(
    action: Action,
    runbook: Runbook,
    signal: Signal,
    target: ObjectRef,
    snapshot: ClusterSnapshot,
) -> _Planned:
    if isinstance(action, NotifyAction):
        text = render(action.message, _values(runbook, signal, target, snapshot))
        return _Planned((), (Notification(text, action.severity),), 0, 0, 0)
    _judged_canary(signal, target, snapshot)
    if isinstance(action, ScaleAction):
        return _plan_scale(action, target, snapshot)
    if isinstance(action, SetHpaMinReplicasAction):
        return _plan_hpa_floor(action, target, snapshot)
    if isinstance(action, RaiseHpaMaxReplicasAction):
        return _plan_hpa_ceiling(action, target, snapshot)
    if isinstance(action, (RolloutRestartAction, RollbackAction, PauseRolloutAction)):
        return _plan_rollout(action, target, snapshot)
    if isinstance(action, (DeletePodAction, EvictPodAction)):
        return _plan_pods(action, target, snapshot)
    if isinstance(action, (CordonAction, DrainAction)):
        return _plan_node(action, target, runbook, snapshot)
    if isinstance(action, ExpandVolumeAction):
        return _plan_expand(action, target, snapshot)
    if isinstance(action, PromoteCanaryAction):
        return _plan_promote(action, signal, target, snapshot)
    return _plan_patch(action, target, snapshot)


# ------------------------------------------------------------------ local preconditions


_SHOWN_QUERY = 200  # a query in a recorded result is cut to this many characters


def _cut(text: str, limit: int = _SHOWN_QUERY) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_local_preconditions(
    runbook: Runbook, signal: Signal, target: ObjectRef, snapshot: ClusterSnapshot, now: float
) -> tuple[GuardResult, ...]:
    """Judge the preconditions that need no query: their results when all hold, else
    ``_Stop`` with the first that does not."""
    results: list[GuardResult] = []
    for condition in runbook.spec.preconditions:
        if isinstance(condition, ChangedWithin):
            workload = _workload_of(target, snapshot)
            rolled = workload.last_rollout_at if workload is not None else None
            within = format_duration(condition.within)
            if workload is not None and workload.ref.kind == "StatefulSet":
                # A Pod runbook's pod of a StatefulSet (a StatefulSet runbook is refused
                # at load): its rollouts are ControllerRevisions, never read.
                raise _Stop(
                    "NoRecentChange",
                    f"{show(target)} belongs to {show(workload.ref)}, and Autonomic does not "
                    "read a StatefulSet's rollouts (ControllerRevisions): changedWithin "
                    "never holds for its pods",
                )
            if rolled is None or now - rolled > condition.within:
                when = (
                    f"{format_duration(now - rolled)} ago" if rolled is not None else "never seen"
                )
                raise _Stop(
                    "NoRecentChange",
                    f"{show(target)} was last rolled out {when}; the runbook acts only within "
                    f"{within} of a rollout",
                )
            results.append(
                GuardResult(
                    "changedWithin",
                    f"a rollout less than {within} ago",
                    f"rolled out {format_duration(now - rolled)} ago",
                    True,
                )
            )
        elif isinstance(condition, NoOtherAlertFiring):
            fingerprint = signal.evidence.get("fingerprint")
            for alert in snapshot.alerts:
                if alert.fingerprint == fingerprint:
                    continue
                if condition.same_namespace and alert.labels.get("namespace") != target.namespace:
                    continue
                if all(m.matches(alert.labels) for m in condition.matchers):
                    raise _Stop(
                        "OtherAlertFiring",
                        f"alert {alert.name} is also firing; a person should look first",
                    )
            # No word is not "not firing": an alert last known firing whose re-sends
            # stopped with every other delivery (Alertmanager down, or cut off from us)
            # may still fire.
            for alert in snapshot.unknown_alerts:
                if alert.fingerprint == fingerprint:
                    continue
                if condition.same_namespace and alert.labels.get("namespace") != target.namespace:
                    continue
                if all(m.matches(alert.labels) for m in condition.matchers):
                    last = alert.delivered_at
                    said = (
                        ""
                        if last is None
                        else f", last delivered {format_duration(max(now - last, 0.0))} ago "
                        f"(at {to_utc_text(last)})"
                    )
                    raise _Stop(
                        "AlertStateUnknown",
                        f"alert {alert.name} was last known firing{said}, and nothing has "
                        "been heard from Alertmanager since: whether it still fires is not "
                        "known, so noOtherAlertFiring cannot hold; a person should look first "
                        "(and at why Alertmanager is silent)",
                    )
            which = "no other alert firing"
            if condition.matchers:
                which += f" matching {', '.join(str(m) for m in condition.matchers)}"
            if condition.same_namespace:
                where = target.namespace
                which += f" in namespace {where}" if where else " without a namespace label"
            results.append(GuardResult("noOtherAlertFiring", which, "none firing", True))
        elif isinstance(condition, FreezeWindow):
            if contains(condition, now):
                raise _Stop("FreezeWindow", f"inside the change freeze {describe(condition)}")
            results.append(
                GuardResult(
                    f"freezeWindow {describe(condition)}", "outside the window", "outside", True
                )
            )
        elif isinstance(condition, MaintenanceWindow):
            if not contains(condition, now):
                raise _Stop(
                    "OutsideMaintenanceWindow",
                    f"outside the maintenance window {describe(condition)}",
                )
            results.append(
                GuardResult(
                    f"maintenanceWindow {describe(condition)}", "inside the window", "inside", True
                )
            )
    return tuple(results)


def _judge(
    condition: PreconditionQuery, value: float | NoValue | None
) -> tuple[GuardResult, NoAction | None]:
    name = f"promql ({condition.description})" if condition.description else "promql"
    required = f"{_cut(condition.query)} {condition.condition}"
    if isinstance(value, NoValue) and value.unread:
        # Prometheus was not read: say so, not "no data", or the on-call looks for a
        # missing metric while Prometheus is down.
        if value.reason_code == QUERY_REJECTED:
            saw, what = "query rejected", "fix the query in the runbook"
        elif value.reason_code == PROMETHEUS_FROZEN:
            saw = "Prometheus not storing"
            what = "nothing is done until Prometheus stores again" + ASKED_AGAIN
        else:
            saw = "Prometheus unavailable"
            what = "nothing is done until Prometheus answers" + ASKED_AGAIN
        blocked = NoAction(
            value.reason_code,
            f"precondition {condition.query} could not be read: {value.why}; {what}",
        )
        return GuardResult(name, required, saw, False), blocked
    if isinstance(value, NoValue) or value is None or math.isnan(value):
        if isinstance(value, NoValue):
            detail = f": {value.why}"
        else:
            detail = "" if value is None else ": its value is NaN"
        blocked = NoAction(NO_DATA, f"no data for precondition {condition.query}{detail}")
        return GuardResult(name, required, "no data", False), blocked
    if not condition.condition.holds(value):
        why = f" ({condition.description})" if condition.description else ""
        blocked = NoAction(
            "PreconditionFailed",
            f"{condition.query} = {value:g}, needs {condition.condition}{why}",
        )
        return GuardResult(name, required, f"{value:g}", False), blocked
    return GuardResult(name, required, f"{value:g}", True), None


def precondition_results(
    plan: Plan, values: Mapping[str, float | NoValue | None]
) -> tuple[GuardResult, ...]:
    """Each PromQL precondition judged on the value the engine read (by query text)."""
    return tuple(_judge(c, values.get(c.query))[0] for c in plan.preconditions)


def check_preconditions(
    plan: Plan, values: Mapping[str, float | NoValue | None]
) -> NoAction | None:
    """Judge the PromQL preconditions from the values the engine read (by query text).

    A missing value or NaN blocks: no data, no action (``NoData``). So does a query
    Prometheus could not answer, under its own reason (``PrometheusUnavailable``,
    ``PrometheusFrozen`` when it is not storing, ``QueryRejected``), which says so rather
    than "no data".
    """
    for condition in plan.preconditions:
        _, blocked = _judge(condition, values.get(condition.query))
        if blocked is not None:
            return blocked
    return None


# --------------------------------------------------------------------------------- plan


def _approval(
    runbook: Runbook, signal: Signal, target: ObjectRef, replicas_affected: int
) -> tuple[str, ...]:
    rules = runbook.spec.require_approval_when
    if rules is None:
        return ()
    reasons: list[str] = []
    if (
        rules.replicas_affected_over is not None
        and replicas_affected > rules.replicas_affected_over
    ):
        reasons.append(
            f"affects {counted(replicas_affected, 'replica')} (over {rules.replicas_affected_over})"
        )
    if target.namespace is not None and target.namespace in rules.namespaces:
        reasons.append(f"namespace {target.namespace} always needs approval")
    if rules.confidence_below is not None and signal.confidence < rules.confidence_below:
        reasons.append(
            f"signal confidence {signal.confidence:.2f} is below {rules.confidence_below:.2f}"
        )
    return tuple(reasons)


def _verification(
    runbook: Runbook,
    signal: Signal,
    target: ObjectRef,
    values: Mapping[str, str],
    owner: WorkloadState | None,
    size: str | None = None,
    promoted: ObjectRef | None = None,
) -> VerificationPlan | None:
    spec = runbook.spec.verification
    if spec is None:
        return None
    # A pod that was deleted or evicted is gone, and its replacement has another name:
    # Kubernetes checks on a Pod target look at the workload that owns it. A promoted
    # canary's checks look at the stable Deployment that took its release.
    subject = owner.ref if target.kind == "Pod" and owner is not None else target
    if promoted is not None:
        subject = promoted
    checks: list[RenderedCheck] = []
    for check in spec.checks:
        if isinstance(check, PromqlCheck):
            checks.append(
                RenderedCheck(
                    "promql",
                    target,
                    query=render_query(check.query, values),
                    condition=check.condition,
                )
            )
        elif isinstance(check, KubernetesCheck):
            # volumeExpanded waits for the size this plan asks for, not for whatever the
            # claim happens to ask for when it is read.
            checks.append(
                RenderedCheck(
                    "kubernetes",
                    subject,
                    condition_name=check.condition,
                    value=size if check.condition == "volumeExpanded" else None,
                )
            )
        elif isinstance(check, AlertResolvedCheck) and signal.kind == "alert":
            # Only a run started by an alert has an alert to wait for; other triggers of
            # the same runbook rely on its remaining checks.
            fingerprint = signal.evidence.get("fingerprint")
            checks.append(
                RenderedCheck(
                    "alertResolved",
                    target,
                    fingerprint=str(fingerprint) if fingerprint is not None else None,
                    alertname=signal.name,
                )
            )
    return VerificationPlan(
        settle=spec.settle,
        window=spec.window,
        interval=spec.interval,
        passes_required=spec.passes_required,
        checks=tuple(checks),
    )


def plan(
    runbook: Runbook, signal: Signal, snapshot: ClusterSnapshot, now: float
) -> Plan | NoAction:
    """Plan what ``runbook`` would do about ``signal`` given ``snapshot`` at ``now``."""
    trigger_index = matching_trigger(runbook, signal)
    if trigger_index is None:
        return NoAction(
            "NoTriggerMatch", f"no trigger of {runbook.name} accepts {signal.describe()}"
        )
    resolved = resolve_target(runbook.spec.target, signal, snapshot)
    if resolved.target is None:
        return NoAction(resolved.reason_code, resolved.message)
    target = resolved.target
    try:
        checked = _check_local_preconditions(runbook, signal, target, snapshot, now)
        planned = [
            _plan_action(action, runbook, signal, target, snapshot)
            for action in runbook.spec.actions
        ]
    except _Stop as stop:
        return stop.outcome
    changes = tuple(_as_read(change, snapshot) for part in planned for change in part.changes)
    notifications = tuple(note for part in planned for note in part.notifications)
    writers = [part for part in planned if part.changes]
    replicas_affected = sum(part.replicas_affected for part in writers)
    selected = max((part.selected for part in writers), default=0)
    healthy_after = min((part.healthy_after for part in writers), default=0)
    targets = len({change.operation.target for change in changes})
    values = _values(runbook, signal, target, snapshot)
    queries = [
        ("precondition", c.query)
        for c in runbook.spec.preconditions
        if isinstance(c, PromqlPrecondition)
    ]
    if changes and runbook.spec.verification is not None:
        queries += [
            ("verification check", c.query)
            for c in runbook.spec.verification.checks
            if isinstance(c, PromqlCheck)
        ]
    for what, query in queries:
        empty = empty_in(query, values)
        if empty:
            # namespace="" or node="" matches only series without the label: the query
            # would be about something else, and "or vector(0)" would pass on nothing.
            names = ", ".join("{{" + name + "}}" for name in empty)
            return NoAction(
                NO_DATA,
                f"no data for {what} {query}: {names} is empty for {show(target)} (a pod "
                "not yet scheduled has no node), so the query cannot be about it",
            )
    preconditions = tuple(
        PreconditionQuery(render_query(c.query, values), c.condition, c.description)
        for c in runbook.spec.preconditions
        if isinstance(c, PromqlPrecondition)
    )
    workload = _workload_of(target, snapshot)
    reasons = _approval(runbook, signal, target, replicas_affected) + tuple(
        reason for part in planned for reason in part.approval
    )
    size = next((c.operation.size for c in changes if isinstance(c.operation, ExpandVolume)), None)
    promoted = next(
        (c.operation.target for c in changes if isinstance(c.operation, SetImages)), None
    )
    return Plan(
        runbook=runbook.name,
        runbook_version=runbook.metadata.version,
        mode=runbook.spec.mode,
        max_autonomy=runbook.spec.max_autonomy,
        signal=signal,
        trigger_index=trigger_index,
        target=target,
        changes=changes,
        notifications=notifications,
        preconditions=preconditions,
        verification=(
            _verification(runbook, signal, target, values, workload, size, promoted)
            if changes
            else None
        ),
        undo_on_failure=runbook.spec.on_failure.undo,
        blast=BlastEstimate(
            targets,
            replicas_affected,
            selected,
            max(healthy_after, 0),
            tuple(sorted({name for part in writers for name in part.unread})),
        ),
        approval_required=bool(reasons),
        approval_reasons=reasons,
        human_changed_at=_human_changed_at(target, snapshot),
        planned_at=now,
        checked=checked,
        disruption=count_disruption(tuple(c.operation for c in changes), snapshot),
        counted_as=_counted_as(target, snapshot),
        blocked_by=tuple(reason for part in planned for reason in part.blocked),
        budgets=next((part.budgets for part in planned if part.budgets is not None), None),
    )


def _uid_read(ref: ObjectRef, snapshot: ClusterSnapshot) -> str | None:
    """The ``metadata.uid`` of ``ref`` as ``snapshot`` holds it; None when it does not hold
    the object, or its reader reports no uid (the simulated cluster)."""
    found: PodState | NodeState | VolumeClaimState | HpaState | WorkloadState | None
    if ref.kind == "Pod":
        found = snapshot.pod(ref)
    elif ref.kind == "Node":
        found = snapshot.node(ref.name)
    elif ref.kind == "PersistentVolumeClaim":
        found = snapshot.claim(ref)
    elif ref.kind == "HorizontalPodAutoscaler":
        found = next((h for h in snapshot.hpas if h.ref == ref), None)
    else:
        found = snapshot.workload(ref)
    return (found.uid if found is not None else "") or None


def _as_read(change: Change, snapshot: ClusterSnapshot) -> Change:
    """``change`` bound to the object the plan read (``Operation.planned_uid``): the pod,
    node, workload, HPA or claim of that name in ``snapshot``, the incident's. A target
    the snapshot does not hold is left unbound, as before."""
    uid = _uid_read(change.operation.target, snapshot)
    if uid is None:
        return change
    return replace(change, operation=replace(change.operation, planned_uid=uid))


def _counted_as(target: ObjectRef, snapshot: ClusterSnapshot) -> ObjectRef | None:
    """A Pod's owning workload (what ``maxActionsPerTarget`` counts runs on); None for
    any other target, or a pod whose owner is not known (counted on its own)."""
    if target.kind != "Pod":
        return None
    pod = snapshot.pod(target)
    return pod.owner if pod is not None and pod.owner is not None else None


def _replicas(count: int) -> str:
    """``1 replica``, ``3 replicas``."""
    return f"{count} replica{'' if count == 1 else 's'}"
