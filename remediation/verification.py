"""Verification after acting: rendered checks, their outcomes, and the verdict.

A check has three outcomes: ``pass``, ``fail`` and ``inconclusive`` (no data, object
gone, Prometheus down, an object that exists but could not be read). An object the
snapshot holds as unread (``ClusterSnapshot.unread``) is never taken for one that is
gone: a check that would pass on its absence (a node deleted, no pod left, no pod in
trouble) is inconclusive over it, its reason ``ObjectUnread``.

Verification succeeds only when every check passes in ``passes_required`` consecutive
rounds before the window closes; otherwise it fails, and an inconclusive run is a failure
(a remediation that cannot be shown to work did not work). The engine drives the rounds;
everything here is pure: it takes the values the engine read and returns new values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from remediation._types import Comparison, counted
from remediation.drain_notes import not_replaced, shown
from remediation.ports import ObjectRef, UnreadObject
from remediation.quantity import parse_quantity
from remediation.readings import (
    NO_DATA,
    PROMETHEUS_FROZEN,
    PROMETHEUS_UNAVAILABLE,
    PROMETHEUS_UNREAD,
    NoValue,
)
from remediation.snapshot import ClusterSnapshot

__all__ = [
    "CheckResult",
    "RenderedCheck",
    "VerificationPlan",
    "VerificationProgress",
    "advance",
    "evaluate_alert_resolved",
    "evaluate_kubernetes_check",
    "evaluate_promql_check",
    "start_verification",
]

Outcome = Literal["pass", "fail", "inconclusive"]

# A check left undecided because a Kubernetes object that exists could not be read (the
# snapshot's ``unread``): what it is now is not known. A verification reason code only.
OBJECT_UNREAD = "ObjectUnread"
# What kept a check from being judged: Prometheus not read, or the object not read.
NOT_READ = PROMETHEUS_UNREAD | {OBJECT_UNREAD}


@dataclass(frozen=True)
class RenderedCheck:
    """A check with its placeholders filled in for one target.

    ``kind`` 'promql' uses ``query`` and ``condition``; 'kubernetes' uses ``condition_name``
    on ``target`` (and ``value``, for volumeExpanded the size the plan asked for);
    'alertResolved' waits for the alert with ``fingerprint`` to resolve.
    """

    kind: Literal["promql", "kubernetes", "alertResolved"]
    target: ObjectRef | None
    query: str | None = None
    condition: Comparison | None = None
    condition_name: str | None = None
    fingerprint: str | None = None
    value: str | None = None
    alertname: str | None = None  # the alert's name, for people (None in older records)

    def describe(self) -> str:
        if self.kind == "promql":
            return f"{self.query} {self.condition}"
        if self.kind == "kubernetes":
            wanted = f" ({self.value})" if self.value else ""
            return f"{self.condition_name}{wanted} on {self.target}"
        if self.alertname:
            return f"alert {self.alertname} resolved (fingerprint {self.fingerprint})"
        return f"alert {self.fingerprint} resolved"


@dataclass(frozen=True)
class VerificationPlan:
    """When and how to verify (seconds), with the rendered checks."""

    settle: float
    window: float
    interval: float
    passes_required: int
    checks: tuple[RenderedCheck, ...]


@dataclass(frozen=True)
class CheckResult:
    check: RenderedCheck
    outcome: Outcome
    message: str
    # Why an inconclusive PromQL check had no number: ``PrometheusUnavailable``,
    # ``PrometheusFrozen`` or ``QueryRejected`` (Prometheus was not read) or ``NoData``;
    # ``ObjectUnread`` for a Kubernetes check an unreadable object left undecided;
    # "" otherwise.
    reason_code: str = ""


def evaluate_promql_check(check: RenderedCheck, value: float | NoValue | None) -> CheckResult:
    """Judge a query result; ``None``, NaN or a ``NoValue`` (no data, or Prometheus not
    read, which the message tells apart) is inconclusive, never a pass."""
    if isinstance(value, NoValue):
        if value.unread:
            message = f"{check.query} could not be read: {value.why}"
        else:
            message = f"no data for {check.query}: {value.why}"
        return CheckResult(check, "inconclusive", message, value.reason_code)
    if value is None or math.isnan(value) or check.condition is None:
        return CheckResult(check, "inconclusive", f"no data for {check.query}", NO_DATA)
    if check.condition.holds(value):
        return CheckResult(check, "pass", f"{check.query} = {value:g} ({check.condition})")
    return CheckResult(check, "fail", f"{check.query} = {value:g}, wanted {check.condition}")


def _workload_check(name: str, ref: ObjectRef, snapshot: ClusterSnapshot) -> tuple[Outcome, str]:
    workload = snapshot.workload(ref)
    if workload is None:
        return "inconclusive", f"{ref} is gone"
    pods = [p for p in snapshot.pods_of(ref) if not p.deleting]
    if name in ("deploymentAvailable", "rolloutComplete") and (
        workload.observed_generation < workload.generation
    ):
        # Right after a write the status still describes the spec before it: its
        # availability and its rollout say nothing of the change yet.
        return (
            "inconclusive",
            f"the controller has not yet observed generation {workload.generation} of "
            f"{ref} (its status describes generation {workload.observed_generation})",
        )
    if name == "deploymentAvailable":
        ok = workload.available_replicas >= workload.replicas
        return (
            "pass" if ok else "fail",
            f"{workload.available_replicas}/{workload.replicas} replicas available",
        )
    if name == "rolloutComplete":
        done = (
            workload.updated_replicas >= workload.replicas
            and workload.available_replicas >= workload.replicas
            and not workload.rollout_failed
        )
        return ("pass" if done else "fail", f"rollout at revision {workload.revision}")
    if name == "podsReady":
        ready = sum(1 for p in pods if p.ready)
        ok = bool(pods) and ready == len(pods) and ready >= workload.replicas
        return ("pass" if ok else "fail", f"{ready}/{len(pods)} pods ready")
    reason = {
        "noCrashLoop": ("CrashLoopBackOff",),
        "noImagePullBackOff": ("ImagePullBackOff", "ErrImagePull"),
    }.get(name)
    if reason is not None:
        bad = [p.ref.name for p in pods if p.waiting_reason in reason]
        return ("fail" if bad else "pass", f"{counted(len(bad), 'pod')} in {reason[0]}")
    if name == "noOOMKilled":
        bad = [p.ref.name for p in pods if p.last_termination_reason == "OOMKilled"]
        return ("fail" if bad else "pass", f"{counted(len(bad), 'pod')} last killed by OOM")
    if name == "hpaNotMaxedOut":
        hpa = snapshot.hpa_for(ref)
        if hpa is None:
            return "inconclusive", f"no HorizontalPodAutoscaler scales {ref}"
        below = hpa.current_replicas < hpa.max_replicas and hpa.desired_replicas < hpa.max_replicas
        return (
            "pass" if below else "fail",
            f"HorizontalPodAutoscaler {hpa.ref.name} at {hpa.current_replicas} replicas "
            f"(wants {hpa.desired_replicas}) of maxReplicas {hpa.max_replicas}",
        )
    return "inconclusive", f"{name} does not apply to {ref.kind}"


def _pod_name(ref: ObjectRef) -> str:
    return f"{ref.namespace}/{ref.name}"


def _node_check(name: str, ref: ObjectRef, snapshot: ClusterSnapshot) -> tuple[Outcome, str]:
    node = snapshot.node(ref.name)
    if node is None:
        if name == "nodeDrained":
            # Deleted (the cloud's node controller removes the Node of a VM that is gone,
            # as does the cluster autoscaler): nothing can run on it any more, and the pod
            # garbage collector removes the pods still bound to it.
            return "pass", f"{ref} was deleted; the pods bound to it are garbage-collected"
        return "inconclusive", f"{ref} is gone"
    if name == "nodeReady":
        return ("pass" if node.ready else "fail", f"Ready={node.ready}")
    if name == "nodeCordoned":
        return ("pass" if node.unschedulable else "fail", f"unschedulable={node.unschedulable}")
    if name == "nodeDrained":
        # DaemonSet and mirror pods stay on a drained node by design.
        pods = snapshot.pods_on(ref.name)
        left = [p for p in pods if not p.deleting and not p.daemon]
        # A StatefulSet's pod Terminating on a NotReady node is not replaced until the
        # Node is deleted or tainted out-of-service: its workload has not moved.
        stuck = [
            (_pod_name(p.ref), p.owner.name)
            for p in pods
            if p.deleting and p.owner is not None and p.owner.kind == "StatefulSet"
        ]
        stuck = stuck if not node.ready else []
        ok = node.unschedulable and not left and not stuck
        said = f"{counted(len(left), 'pod')} left on the node"
        if left:
            said += f" ({shown([_pod_name(p.ref) for p in left])})"
        if stuck:
            said += f"; {not_replaced(ref.name, stuck)}"
        return ("pass" if ok else "fail", said)
    return "inconclusive", f"{name} does not apply to a Node"


def _volume_check(
    check: RenderedCheck, ref: ObjectRef, snapshot: ClusterSnapshot
) -> tuple[Outcome, str]:
    """volumeExpanded: the claim's ``status.capacity`` reached the size asked for (the
    plan's, else what the claim asks for now). The capacity grows once the filesystem
    has: while the condition FileSystemResizePending holds (the volume grew, the kubelet
    has yet to grow the filesystem a pod sees) it is not expanded yet."""
    name = check.condition_name or ""
    if name != "volumeExpanded":
        return "inconclusive", f"{name} does not apply to a PersistentVolumeClaim"
    claim = snapshot.claim(ref)
    if claim is None:
        return "inconclusive", f"{ref} is gone"
    wanted_text = check.value or claim.requested
    if wanted_text is None:
        return "inconclusive", f"{ref} asks for no storage size"
    if claim.capacity is None:
        return "fail", f"{ref} reports no capacity yet (asked for {wanted_text})"
    if parse_quantity(claim.capacity) >= parse_quantity(wanted_text):
        return "pass", f"capacity {claim.capacity} (asked for {wanted_text})"
    waiting = [
        c for c in ("Resizing", "FileSystemResizePending") if claim.conditions.get(c) == "True"
    ]
    status = f"; {', '.join(waiting)}" if waiting else ""
    status += f"; resize status {claim.resize_status}" if claim.resize_status else ""
    return "fail", f"capacity {claim.capacity}, asked for {wanted_text}{status}"


def evaluate_kubernetes_check(check: RenderedCheck, snapshot: ClusterSnapshot) -> CheckResult:
    """Judge a Kubernetes condition on the check's target from a fresh snapshot."""
    ref = check.target
    name = check.condition_name or ""
    if ref is None:
        return CheckResult(check, "inconclusive", "the check has no target")
    unread = _unread(ref, snapshot)
    if unread is not None:
        return CheckResult(check, "inconclusive", unread, OBJECT_UNREAD)
    subject = ref
    if ref.kind == "Node":
        outcome, message = _node_check(name, ref, snapshot)
    elif ref.kind == "PersistentVolumeClaim":
        outcome, message = _volume_check(check, ref, snapshot)
    elif ref.kind == "Pod":
        pod = snapshot.pod(ref)
        owner = pod.owner if pod is not None else None
        if owner is None:
            return CheckResult(check, "inconclusive", f"{ref} is gone or has no owner")
        unread = _unread(owner, snapshot)
        if unread is not None:
            return CheckResult(check, "inconclusive", unread, OBJECT_UNREAD)
        subject = owner
        outcome, message = _workload_check(name, owner, snapshot)
    else:
        outcome, message = _workload_check(name, ref, snapshot)
    hidden = _unread_pods(name, subject, snapshot) if outcome in ("pass", "fail") else []
    if (
        outcome == "fail"
        and name == "podsReady"
        and hidden
        and all(p.ready for p in snapshot.pods_of(subject) if not p.deleting)
    ):
        # Too few ready pods, but every pod that could be read is ready: the ones missing
        # may be the unread ones, so no failure was seen; undecided as a pass would be.
        outcome = "pass"
    if outcome == "pass" and hidden:
        # A pass that rests on pods not being there (none left on a drained node, none of
        # a workload's in trouble) says nothing of pods that are there, unread.
        return CheckResult(
            check,
            "inconclusive",
            f"{message}, but {counted(len(hidden), 'pod')} {_where(subject)} could not be read "
            f"({shown([u.ref.name for u in hidden])}): {hidden[0].why}",
            OBJECT_UNREAD,
        )
    return CheckResult(check, outcome, message)


# Checks that judge a workload's (or a node's) pods, and so cannot pass over a pod of it
# that could not be read.
_POD_CHECKS = frozenset(
    {"podsReady", "noCrashLoop", "noImagePullBackOff", "noOOMKilled", "nodeDrained"}
)


def _unread(ref: ObjectRef, snapshot: ClusterSnapshot) -> str | None:
    """Why ``ref`` cannot be judged: it exists, but could not be read; else None."""
    why = snapshot.unread_why(ref)
    return None if why is None else f"{ref} could not be read: {why}"


def _unread_pods(name: str, subject: ObjectRef, snapshot: ClusterSnapshot) -> list[UnreadObject]:
    if name not in _POD_CHECKS:
        return []
    if subject.kind == "Node":
        return list(snapshot.unread_pods_on(subject.name))
    return list(snapshot.unread_pods_of(subject))


def _where(subject: ObjectRef) -> str:
    return f"on {subject}" if subject.kind == "Node" else f"of {subject}"


def evaluate_alert_resolved(check: RenderedCheck, snapshot: ClusterSnapshot) -> CheckResult:
    """Pass once the triggering alert is no longer among the firing alerts."""
    if check.fingerprint is None:
        return CheckResult(check, "inconclusive", "no alert fingerprint to follow")
    firing = any(alert.fingerprint == check.fingerprint for alert in snapshot.alerts)
    return CheckResult(
        check,
        "fail" if firing else "pass",
        "the alert is still firing" if firing else "the alert resolved",
    )


# -------------------------------------------------------------------------- the verdict

Status = Literal["settling", "checking", "succeeded", "failed"]


@dataclass(frozen=True)
class VerificationProgress:
    """Where a verification stands. ``reason_code``/``message`` explain the last step."""

    plan: VerificationPlan
    acted_at: float
    status: Status
    consecutive_passes: int = 0
    rounds: int = 0
    reason_code: str = "Settling"
    message: str = "waiting for the change to settle"
    last_results: tuple[CheckResult, ...] = ()

    @property
    def first_check_at(self) -> float:
        return self.acted_at + self.plan.settle

    @property
    def deadline(self) -> float:
        return self.acted_at + self.plan.settle + self.plan.window

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed")


def start_verification(plan: VerificationPlan, acted_at: float) -> VerificationProgress:
    """Progress right after acting: settling until ``acted_at + settle``."""
    return VerificationProgress(plan=plan, acted_at=acted_at, status="settling")


def advance(
    progress: VerificationProgress, results: Sequence[CheckResult], now: float
) -> VerificationProgress:
    """Fold one round of results (read at ``now``) into the progress.

    Results read before the settle time are ignored. Past the deadline the verification
    fails: 'VerificationFailed' if the last round had a failing check,
    'PrometheusUnavailable' if every check it left undecided was a query Prometheus
    could not be asked (down, timed out, an error) or was not storing for
    ('PrometheusFrozen' when all were the latter), 'ObjectUnread' if every such check
    was left undecided by a Kubernetes object that could not be read (or Prometheus,
    for some), 'VerificationInconclusive' otherwise. All count as failure.
    """
    if progress.done:
        return progress
    if now < progress.first_check_at:
        return progress
    outcomes = [r.outcome for r in results]
    rounds = progress.rounds + 1 if results else progress.rounds
    if results and all(outcome == "pass" for outcome in outcomes):
        passes = progress.consecutive_passes + 1
        if passes >= progress.plan.passes_required:
            return replace(
                progress,
                status="succeeded",
                consecutive_passes=passes,
                rounds=rounds,
                reason_code="Verified",
                message=f"all {len(results)} checks passed in {passes} consecutive rounds",
                last_results=tuple(results),
            )
    else:
        passes = 0
    last = tuple(results) if results else progress.last_results
    if now >= progress.deadline:
        failing = [r for r in last if r.outcome == "fail"]
        if failing:
            code, why = "VerificationFailed", "; ".join(r.message for r in failing)
        else:
            pending = [r for r in last if r.outcome == "inconclusive"]
            code = "VerificationInconclusive"
            if pending and all(r.reason_code in PROMETHEUS_UNREAD for r in pending):
                # Nothing was judged because Prometheus could not be asked, or was not
                # storing: its name (not storing only when no read failed otherwise).
                frozen = all(r.reason_code == PROMETHEUS_FROZEN for r in pending)
                code = PROMETHEUS_FROZEN if frozen else PROMETHEUS_UNAVAILABLE
            elif pending and all(r.reason_code in NOT_READ for r in pending):
                # Nothing was judged because an object (or, for some checks, Prometheus)
                # could not be read: that says nothing of the action either.
                code = OBJECT_UNREAD
            why = "; ".join(r.message for r in pending) or "no check could be evaluated"
        return replace(
            progress,
            status="failed",
            consecutive_passes=passes,
            rounds=rounds,
            reason_code=code,
            message=f"not verified within the window: {why}",
            last_results=last,
        )
    return replace(
        progress,
        status="checking",
        consecutive_passes=passes,
        rounds=rounds,
        reason_code="Checking",
        message=f"{passes}/{progress.plan.passes_required} consecutive passing rounds",
        last_results=last,
    )
