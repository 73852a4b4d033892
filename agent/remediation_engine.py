"""The remediation engine: runbooks executed safely, exactly once, verified, undone.

One incident, one decision, one execution:

    signal ─► match ─► plan ─► preconditions ─► guards ─► decide (route by confidence)
                                                              │
            ┌─────────────── approved (auto, or a human) ◄────┘
            ▼
    claim execution (runbook, target, incident)   exactly once, in the ledger
    for each step: intent ─► write ─► result       the executor (write-ahead)
    verify: settle, window, checks                 inconclusive counts as failure
    success: right ─► track record, breaker reset
    failure: undo from the snapshots (unless a human changed the target) ─► escalate

Every piece of state that must survive a crash or be shared by replicas lives in the
ledger: the decision (with its serialized plan), the execution claim, the intents, the
guard state and the verification progress. ``recover()`` settles what a crash left
behind: pending intents are reconciled by looking at the cluster, executions that were
running are completed from the first step that has no intent, or undone and escalated
if a step failed. Nothing is blindly written twice.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agent.alert_inbox import AlertInbox, PendingAlert, signal_from_json
from agent.anomaly_end import judge as judge_anomaly
from agent.anomaly_end import may_name, open_signal
from agent.clock import Clock
from agent.decisions import DecisionService, Proposal
from agent.errors import AutonomicError, PermanentError, TransientError
from agent.executor import REPLACED_SINCE_PLAN, DrainBudget, Executor
from agent.ids import short_id
from agent.ledger import HELD_PREFIX, DecisionRecord, Feedback, HeldBack, Intent, Ledger, is_hold
from agent.ledger.store import CLOSED_UNWRITTEN
from agent.observability import decision_context
from agent.outages import OutageStory, say_failing, span
from agent.outcomes import RunbookOutcomes
from agent.pause import Pause, active_pause
from agent.uncordons import OBSERVED_PREFIX, observation, observed_at, standing_cordon
from agent.undo import (
    NOT_UNDOABLE,
    UNDO_REQUESTED,
    acted_since,
    check_steps,
    latest_request,
    outcome_row,
    request_deadline,
)
from agent.verdicts import NOT_EXECUTED
from remediation.durations import format_duration
from remediation.events import fold_events, unread_events
from remediation.family import siblings
from remediation.guards import (
    HOUR,
    PRUNE_KEEP,
    ActionRecord,
    BreakerState,
    DisruptionRecord,
    GlobalLimits,
    GuardState,
    HoldWindow,
    acts_on_same,
    breaker_status,
    check,
    check_undo,
    disruption_gate,
    disruption_room,
    held_past_cooldown,
    hold_window,
    over_budget,
    prune,
    record_disruption,
    record_finish,
    record_start,
    record_trigger,
    release_unstarted,
    storm_gate,
)
from remediation.guards import results as guard_results
from remediation.matching import (
    Match,
    MatchResult,
    Skip,
    match,
    matching_trigger,
    resolve_target,
)
from remediation.planning import (
    Disruption,
    NoAction,
    Plan,
    canary_moved_on,
    check_preconditions,
    drain_blocked_by,
    incident_key,
    precondition_results,
)
from remediation.planning import plan as make_plan
from remediation.ports import (
    ClusterReader,
    DisruptionBudgetReader,
    Drain,
    EventReader,
    EvictionRoom,
    HpaState,
    NodeState,
    ObjectRef,
    Operation,
    PodState,
    ScopedReader,
    UnreadObject,
    UnreadReporter,
    VolumeClaimReader,
    WorkloadState,
    operation_from_dict,
    operation_to_dict,
)
from remediation.readings import (
    NO_DATA,
    PROMETHEUS_FROZEN,
    PROMETHEUS_UNAVAILABLE,
    QUERY_REJECTED,
    NoValue,
)
from remediation.recovery import condition_over
from remediation.schema import AlertTrigger, AnomalyTrigger, Runbook
from remediation.signals import Signal, detect_kubernetes_signals
from remediation.snapshot import ClusterSnapshot, FiringAlert
from remediation.verification import (
    NOT_READ,
    CheckResult,
    RenderedCheck,
    VerificationPlan,
    VerificationProgress,
    advance,
    evaluate_alert_resolved,
    evaluate_kubernetes_check,
    evaluate_promql_check,
    start_verification,
)
from remediation.windows import contains, to_utc_iso, to_utc_text

__all__ = ["Handled", "RemediationEngine"]

log = logging.getLogger("autonomic.remediation")

# While runbooks' PromQL reads keep failing (Prometheus down, or not storing), the log has
# one line as it begins, a summary at most this often (seconds), and one when it ends.
READS_SUMMARY_EVERY = 60.0

# Reasons a step fails that say nothing about whether the runbook proposed the right
# thing: the API away or answering garbage, credentials or RBAC, the object gone or
# changed by someone else in between (or deleted and created again under its name since
# the plan, or between the write's read and its request), a rollout made since the plan
# or not yet observed by its controller, a pod two PodDisruptionBudgets select. Such a
# failure is undone and escalated as any other, but not counted against the runbook's
# record.
NOT_A_VERDICT = frozenset(
    {
        "ApiUnavailable",
        "MalformedResponse",
        "Unauthorized",
        "Forbidden",
        "NotFound",
        "Conflict",
        "RolledOutSince",
        "ChangedSinceDecision",
        "RolloutNotObserved",
        "MultipleDisruptionBudgets",
        REPLACED_SINCE_PLAN,
        "TargetReplaced",
    }
)

GUARD_KEY = "remediation/guards"
# Dedup keys of triggers kept in memory at most (the ledger has them all: one that left
# memory is looked up there when seen again).
COUNTED_KEYS = 50_000
# A counted trigger still standing has its last sighting in the ledger moved on at most
# this often: pruning (``ledger.retentionDays``, at least 7 days) keeps it while it stands.
TRIGGER_SEEN_EVERY = 86400.0
UNMATCHED_LOG_EVERY = 3600.0  # seconds between warnings of one runbook not taking signals up
NAMES_SHOWN = 12  # alert names listed when no runbook takes an alert up
# Decisions that may still lead to an execution (or are running one).
# Times one stored alert is handled on its own and fails before it is given up (marked
# given up and handled on its row, logged, counted): one attempt per remediation cycle,
# counted on the alert's row in the ledger, so restarts and new leaders add to one count.
ALERT_ATTEMPTS = 5
# Seconds after which another replica's mark on a stored alert (``handling_by``) is read
# as a dead process's. Till then its owner may be alive and handling the alert still: an
# old leader that lost its lease mid-cycle (a slow API server) finishes its cycle, and a
# replica shutting down leaves its job thread running for up to its shutdown budget
# (25 s). A mark covers the handling of the alerts a cycle took in (matching, deciding,
# asking), not the execution after, which takes seconds; two minutes is four default
# remediation periods. Kept short because a pod replaced under a new name (not a
# container restarted in the same pod, which is counted at once) waits this long per death.
FOREIGN_MARK_AFTER = 120.0
# (``undo-requested``: a person asked to undo it, and the leader has not yet.)
OPEN_STATUSES = ("asked", "approved", "executing", "verifying", UNDO_REQUESTED)


class InterruptedHandlingError(Exception):
    """A stored alert's last cycle never finished with it (the process died): counted as
    a failed attempt, never raised."""


# Guard denials that mean the automation will not handle the incident: a limit on how
# often it may act, or on the pods it may disrupt in an hour, was reached, its breaker
# is open, or the plan is too big. Each is handed to a person, once per runbook,
# target, reason and spell (``_hand_off``). The other denials mean someone or something
# is on it, or it is deliberate (a cooldown, a run in flight, a pause or freeze, a
# person who changed the target, a storm, reported on its own): not handed off. The
# table is in docs/decisions.md.
HANDED_OFF = frozenset(
    {
        "TargetRateLimit",
        "RunbookRateLimit",
        "GlobalRateLimit",
        "CircuitOpen",
        "BlastRadius",
        "MinHealthy",
        "DisruptionBudget",
    }
)
# A drain a PodDisruptionBudget keeps from finishing (``remediation.drain_budgets``): not
# started, handed to a person once per incident.
PDB_BLOCKS = "PodDisruptionBudgetBlocks"
# Decisions that ran (or are running) an action: what a hand-off names as the runs counted.
RAN_STATUSES = (
    "executing",
    "verifying",
    "verified",
    "done",
    "failed",
    "undone",
    UNDO_REQUESTED,
)
HANDOFF_KEYS = 10_000  # hand-off incident keys remembered in memory (the ledger has all)
# A decision closed with an escalation to send (a drain a PodDisruptionBudget now blocks,
# superseded) keeps the escalation's words under this key in the detail of the feedback
# row written with its closing status, in one transaction: an ``escalation`` row after it
# says it was sent; none, and the recovery (or, after an error, the next cycle) sends it.
PROMISED = "escalate"
# How far back the recovery looks for such a closing whose escalation was never sent.
PROMISES_KEPT = 7 * 86400.0
# In a closing row's detail: the run was closed because the object its plan read was
# replaced since (``ReplacedSincePlan``), so its incident is decided again about the new
# one (``RemediationEngine._replaced_since``).
REPLACED = "replaced_since_plan"
# Decision statuses a closing that promises an escalation leaves.
PROMISING = ("superseded", "failed", "expired")
# How often a firing alert is taken in again while something that passes holds its
# incident back: its re-ask time has come but a guard or a precondition held the new
# decision back, or its first handling decided nothing for a reason worth it
# (RETRIED_SKIPS, NOT_RETRIED_DENIALS: ``RemediationEngine._requeue_held_alerts``).
REASK_RETRY = 300.0
# Firing alerts made pending again by one cycle at most (the longest waiting first): the
# rest by the next cycles, so a thousand held-back alerts do not make one cycle long.
REQUEUES_PER_CYCLE = 20
# Why a runbook's one handling of a firing alert decided nothing, when that is worth
# trying again while the alert fires (``_retried``, for its first handling and for a
# re-ask after its quiet period alike): a state that passes on its own or in time. Every
# guard's denial (a pause or freeze lifted, a cooldown or an hour's limit ended, a
# breaker closing, a run in flight ended, a disruption budget with room again, a
# person's change old enough) but BlastRadius and MinHealthy (the plan changes too much,
# or leaves too little healthy: it will never run as it is, and is handed to a person
# once) and Storm, StormCooldown (a storm's alerts are one incident, handed to a person
# in one summary: taken in again one by one after it, they would each ask the question
# the summary stood for), and the skips of a precondition (false, no data, Prometheus
# unavailable or not storing, another alert firing or its state unknown, inside a freeze
# or outside a maintenance window). Not the skips of planning itself (the object is not
# as the alert says, a controller owns it, it is at the runbook's limit: NotMaxedOut,
# ManagedHpa, AtMaximum...), which the object's owner changes, nor QueryRejected (the
# runbook's query is wrong), nor a runbook whose trigger or target does not take the
# alert (not opted in, excluded, not found: no-match), which a person's edit changes: a
# new start of the alert takes those in again.
RETRIED_SKIPS = frozenset(
    {
        "PreconditionFailed",
        NO_DATA,
        PROMETHEUS_UNAVAILABLE,
        PROMETHEUS_FROZEN,
        "OtherAlertFiring",
        "AlertStateUnknown",
        "FreezeWindow",
        "OutsideMaintenanceWindow",
    }
)
NOT_RETRIED_DENIALS = frozenset({"BlastRadius", "MinHealthy", "Storm", "StormCooldown"})
# Remediation cycles in a row at which handling one approved decision, before its run is
# claimed, may fail with the same error (one that is not a ``TransientError``: a bug, a
# stored proposal that cannot be read, a runbook changed so its plan cannot be built)
# before it is closed as failed and handed to a person (``_execute_failed``).
EXECUTE_ATTEMPTS = 3
# A signal whose handling failed is forgotten (its error news again) once it has not
# failed for this long: a condition gone, or a signal handled since.
SIGNAL_FAILED_FORGET = 600.0
# A run whose recovery (``running``) or verification (``verifying``) raised an error that
# is not a ``TransientError`` at this many remediation cycles in a row, and for at least
# ``STUCK_AFTER`` seconds, is handed to a person, once (``_keeps_failing``): left as it
# is, nothing undone, its target still taken, and tried again at each cycle.
STUCK_CYCLES = 3
STUCK_AFTER = 600.0
# The feedback row that records that escalation on the decision: with the run's key and
# which of the two keeps failing, so that no replica, before or after a restart, sends it
# again.
STUCK_KIND = "stuck"
# What carrying a run on after a restart may find, other than going on with it: another
# writer closed the run, stopped it or took its next step up meanwhile (``elsewhere``), or
# this replica stopped leading or is shutting down and left it as it is for the next
# leader (``left``). ``recover`` counts these apart from the runs it ``resumed``.
_DONE_ELSEWHERE = frozenset({"closed-elsewhere", "stopped-elsewhere", "claimed-elsewhere"})
_LEFT_AS_IS = frozenset({"not-leader", "paused-not-leader", "stopped-shutdown"})
# Value of a PromQL query at the current time; None, NaN or a ``NoValue`` saying why
# (none, several or old series) when there is no fresh number. It raises
# ``TransientError`` or ``PermanentError`` when Prometheus cannot be asked.
InstantQuery = Callable[[str], float | NoValue | None]


@dataclass
class _Stuck:
    """A run whose recovery or verification keeps raising (``_keeps_failing``)."""

    decision_id: str
    since: float  # the first failure of those in a row
    times: int  # the cycles it failed at, in a row
    error: str  # the last error, as "Type: message"
    told: bool = False  # handed to a person (or found handed already in the ledger)


@dataclass(frozen=True)
class _ReaskHold:
    """How an incident whose decision was closed with nothing done is held before it is
    decided again (``RemediationEngine._reask_hold``)."""

    until: float  # not decided again before this
    quiet: float  # the quiet period after the closing
    what: str  # what became of the decision, for the new one's reason ("" if escalated)
    judged: dict[str, Any] | None  # a hindsight verdict "not the fix" that holds it too
    judged_hold: float  # how long that verdict holds it (0 without one)


@dataclass
class _RequeueScan:
    """What one ``RemediationEngine._requeue_held_alerts`` has read of the ledger, kept
    for the rest of its alerts: a thousand firing alerts share a few runbooks and
    targets, and their incidents' decisions are read in one query. Only reads, made
    again by the next cycle's scan: nothing here outlives one scan, so each cycle
    decides from the ledger as it is then (a restart keeps the schedule)."""

    # Incident key -> its latest decision (None: none), read in one query beforehand; a
    # key not here (the query failed) is read on its own, as before.
    latest: dict[str, DecisionRecord | None] = field(default_factory=dict)
    # (runbook, subject) -> ``Ledger.held_back`` of that runbook on that subject, every
    # sighting (no ``since``): an alert's own start filters them.
    held_back: dict[tuple[str, str], list[HeldBack]] = field(default_factory=dict)
    # (runbook, target kind, subject) -> ``_target_waits``.
    waits: dict[tuple[str, str, str], bool] = field(default_factory=dict)


@dataclass
class _Deferred:
    """A run whose next step's target could not be read before writing, for a reason that
    may pass (``Executor.apply``: ``unread``): nothing of that step written, no intent
    recorded; the next cycles try it again (``_defer``)."""

    step: int  # the step not written
    since: float  # when the wait began: the run's claim, or the step before settled
    error: str  # the last read failure, as the executor said it
    told: bool = False  # logged by this process (once), its feedback row written


@dataclass(frozen=True)
class Handled:
    """What became of one (signal, runbook) pair: a decision, or a reasoned skip."""

    signal: str
    runbook: str | None
    outcome: str  # decided | skipped | duplicate | denied | no-match
    reason_code: str
    message: str
    decision_id: str | None = None
    route: str | None = None
    # What it is about: the runbook's target, or the signal's object when no target was
    # selected ("alert/Name" for a signal that names none). None without a runbook.
    subject: str | None = None


@dataclass
class EngineStats:
    handled: dict[str, int] = field(default_factory=dict)
    executions: dict[str, int] = field(default_factory=dict)

    def count(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1


# ---------------------------------------------------------------- serialization


def _ref_dict(ref: ObjectRef) -> dict[str, Any]:
    return {"kind": ref.kind, "name": ref.name, "namespace": ref.namespace}


class _Unreadable(Exception):  # noqa: N818 - control flow inside this module only
    """A target that is there but could not be read, where what it is decides a write."""


def _unreadable_target(target: ObjectRef, why: str) -> str:
    """The superseded reason for a target that exists but could not be read."""
    return (
        f"{target} could not be read: {why}. What it is now is not known, so the plan made "
        "on it is not carried out"
    )


def _ref(data: Mapping[str, Any]) -> ObjectRef:
    return ObjectRef(kind=data["kind"], name=data["name"], namespace=data.get("namespace"))


def _approved_upstream(signal: Signal) -> str | None:
    """Who approved the canary verdict ``signal`` carries (the canary loop sends a
    verdict a person approved with their name): the runbook carrying it out does not ask
    them the same question again. None for every other signal."""
    who = signal.evidence.get("approved_by") if signal.kind == "canary" else None
    return who if isinstance(who, str) and who else None


def _approved_for_propose(signal: Signal) -> bool:
    """Whether the approved canary verdict ``signal`` carries was asked with a question
    that said what a yes does and that nothing asks again (the canary loop passes on its
    decision's ``yes_acts``): only then is that yes also ``mode: propose``'s."""
    return _approved_upstream(signal) is not None and signal.evidence.get("yes_acts") is True


def _promise_broken(signal: Signal) -> str | None:
    """Why the approved canary verdict ``signal`` carries is not ``mode: propose``'s yes
    though its question promised no second one: the runbooks loaded when it was handed
    on no longer do what the question said (``CanaryLoop._promise_broken``)."""
    if _approved_upstream(signal) is None:
        return None
    broken = signal.evidence.get("yes_promise_broken")
    return broken if isinstance(broken, str) and broken else None


def _copy_of(signal: Signal) -> str:
    """Why ``signal`` (``Signal.resent``) was sent again, in a few words."""
    if signal.kind == "canary":
        return "its verdict sent again after a restart"
    return "its incident restored open"


def _signal_evidence(signal: Signal) -> dict[str, Any]:
    """A signal's evidence as its decision keeps it; a pod or node condition's with the
    object it was seen on and since when, which the check before the first write reads
    again (``RemediationEngine._condition_over``). A copy sent again (``Signal.resent``)
    says so: a decision it starts is the first signal's, lost, not a second one (a
    canary verdict's ``approved_by`` is the one approval, not a second)."""
    evidence = dict(signal.evidence)
    if signal.kind == "kubernetes" and signal.target is not None:
        evidence |= {"object": _ref_dict(signal.target), "since": signal.since}
    if signal.resent:
        evidence["resent"] = f"a copy of a signal sent before ({_copy_of(signal)})"
    return evidence


def _restarts_evidence(signal: Signal, snapshot: ClusterSnapshot) -> dict[str, Any]:
    """For an OOMKilled signal, the restart count of each pod of its workload when the
    decision is made (``evidence.pod_restarts``): the kubelet keeps a container's last
    termination reason until it ends again, so the condition alone does not say that the
    pods are still being killed; a restart count above this one does (``_goes_on``)."""
    if signal.kind != "kubernetes" or signal.name != "OOMKilled" or signal.target is None:
        return {}
    pod = next((p for p in snapshot.pods if p.ref == signal.target), None)
    if pod is None or pod.owner is None:
        return {}
    return {
        "pod_restarts": {
            str(p.ref): p.restarts
            for p in snapshot.pods
            if p.owner == pod.owner and not p.deleting and not p.terminal
        }
    }


def _goes_on(existing: DecisionRecord, signal: Signal) -> bool:
    """Whether ``signal`` says its incident went on after ``existing`` was decided. A
    signal that fires stands for a problem there now (an alert firing, a pod crash-looping
    or not ready, a node not ready, an anomaly incident open), except an OOMKill: the
    pod's last termination reason stays OOMKilled until it ends again, so the pod must
    have restarted since (more restarts than ``existing`` saw on it, or a pod it did not
    see). A decision made without the restart counts is judged on its own pod only."""
    if signal.kind != "kubernetes" or signal.name != "OOMKilled" or signal.target is None:
        return True
    pod = str(signal.target)
    seen = existing.evidence.get("pod_restarts")
    if isinstance(seen, dict):
        before = seen.get(pod)
        return before is None or signal.count > int(before)
    recorded = existing.evidence.get("signal") or {}
    obj = recorded.get("object")
    same = isinstance(obj, dict) and _ref(obj) == signal.target
    return same and signal.count > int(recorded.get("restarts") or 0)


def _retried(held: HeldBack) -> bool:
    """Whether ``held``, why a runbook's handling of a firing alert decided nothing on
    its target, is a state that passes, so that the alert is worth taking in again while
    it fires: a skip of ``RETRIED_SKIPS`` or a guard's denial not in
    ``NOT_RETRIED_DENIALS``. The one rule for an alert's first handling
    (``RemediationEngine._retried_denial``) and for its re-ask after a quiet period
    (``RemediationEngine._reask_retried``)."""
    code = held.reason_code
    return (held.outcome == "skipped" and code in RETRIED_SKIPS) or (
        held.outcome == "denied" and code not in NOT_RETRIED_DENIALS
    )


def _incident_since(existing: DecisionRecord) -> float:
    """When the incident of ``existing`` was first decided: the ``since`` its own decision
    carried over from the one before it (``evidence.asked_again``), else its own time."""
    earlier = existing.evidence.get("asked_again")
    since = earlier.get("since") if isinstance(earlier, dict) else None
    return float(since) if isinstance(since, (int, float)) else existing.created_at


def _check_dict(check: RenderedCheck) -> dict[str, Any]:
    return {
        "kind": check.kind,
        "target": _ref_dict(check.target) if check.target else None,
        "query": check.query,
        "condition": str(check.condition) if check.condition else None,
        "condition_name": check.condition_name,
        "fingerprint": check.fingerprint,
        "value": check.value,
        "alertname": check.alertname,
    }


def _check(data: Mapping[str, Any]) -> RenderedCheck:
    from remediation._types import parse_comparison

    return RenderedCheck(
        kind=data["kind"],
        target=_ref(data["target"]) if data.get("target") else None,
        query=data.get("query"),
        condition=parse_comparison(data["condition"]) if data.get("condition") else None,
        condition_name=data.get("condition_name"),
        fingerprint=data.get("fingerprint"),
        value=data.get("value"),
        alertname=data.get("alertname"),
    )


def plan_to_proposal(plan: Plan) -> dict[str, Any]:
    """Everything needed to execute and verify the plan after a restart, as JSON."""
    verification = plan.verification
    return {
        "runbook": plan.runbook,
        "runbook_version": plan.runbook_version,
        "mode": plan.mode,
        "target": _ref_dict(plan.target),
        "operations": [operation_to_dict(op) for op in plan.operations],
        "diff": [change.summary for change in plan.changes],
        "notifications": [n.message for n in plan.notifications],
        "undo_on_failure": plan.undo_on_failure,
        # The pods it disrupts, by namespace, counted against the disruption budget when
        # it starts (a drain's round by round).
        "disruption": dict(plan.disruption.by_namespace),
        # What its run counts on for ``maxActionsPerTarget`` (a Pod's workload), if not
        # the target.
        "counted_as": None if plan.counted_as is None else _ref_dict(plan.counted_as),
        # When someone other than Autonomic last changed the target, as the plan read it
        # (the API server's clock, ``metadata.managedFields``): a later change supersedes
        # the plan (``_gone_or_changed``), judged on that clock alone.
        "human_changed_at": plan.human_changed_at,
        "verification": None
        if verification is None
        else {
            "settle": verification.settle,
            "window": verification.window,
            "interval": verification.interval,
            "passes_required": verification.passes_required,
            "checks": [_check_dict(c) for c in verification.checks],
        },
    }


def _verification(data: Mapping[str, Any] | None) -> VerificationPlan | None:
    if not data:
        return None
    return VerificationPlan(
        settle=float(data["settle"]),
        window=float(data["window"]),
        interval=float(data["interval"]),
        passes_required=int(data["passes_required"]),
        checks=tuple(_check(c) for c in data["checks"]),
    )


def _guard_to_json(state: GuardState) -> dict[str, Any]:
    def record(r: ActionRecord) -> dict[str, Any]:
        out = {"runbook": r.runbook, "target": _ref_dict(r.target), "at": r.at}
        if r.counted_as is not None:
            out["counted_as"] = _ref_dict(r.counted_as)
        if r.dry_run:
            out["dry_run"] = True
        if r.writes:
            out["writes"] = [_ref_dict(ref) for ref in r.writes]
        return out

    return {
        "paused": state.paused,
        "pause_reason": state.pause_reason,
        "actions": [record(r) for r in state.actions],
        "in_flight": [record(r) for r in state.in_flight],
        "breakers": {
            name: {
                "consecutive_failures": b.consecutive_failures,
                "opened_at": b.opened_at,
                "trial_running": b.trial_running,
            }
            for name, b in state.breakers.items()
        },
        "trigger_times": list(state.trigger_times),
        "storm_seen_at": state.storm_seen_at,
        "storm_started_at": state.storm_started_at,
        "disrupted": [
            {
                **record(ActionRecord(r.runbook, r.target, r.at)),
                "namespace": r.namespace,
                "pods": r.pods,
            }
            for r in state.disrupted
        ],
    }


def _guard_from_json(data: Mapping[str, Any]) -> GuardState:
    if not data:
        return GuardState()

    def record(r: Mapping[str, Any]) -> ActionRecord:
        counted_as = _ref(r["counted_as"]) if r.get("counted_as") else None
        return ActionRecord(
            r["runbook"],
            _ref(r["target"]),
            float(r["at"]),
            counted_as,
            bool(r.get("dry_run")),
            writes=tuple(_ref(ref) for ref in r.get("writes") or ()),
        )

    return GuardState(
        paused=bool(data.get("paused", False)),
        pause_reason=str(data.get("pause_reason", "")),
        actions=tuple(record(r) for r in data.get("actions", ())),
        in_flight=tuple(record(r) for r in data.get("in_flight", ())),
        breakers={
            name: BreakerState(
                int(b["consecutive_failures"]), b.get("opened_at"), bool(b["trial_running"])
            )
            for name, b in dict(data.get("breakers", {})).items()
        },
        trigger_times=tuple(float(t) for t in data.get("trigger_times", ())),
        storm_seen_at=data.get("storm_seen_at"),
        storm_started_at=data.get("storm_started_at"),
        disrupted=tuple(
            DisruptionRecord(
                r["runbook"], _ref(r["target"]), float(r["at"]), str(r["namespace"]), int(r["pods"])
            )
            for r in data.get("disrupted", ())
        ),
    )


def _progress_to_json(progress: VerificationProgress) -> dict[str, Any]:
    return {
        "acted_at": progress.acted_at,
        "status": progress.status,
        "consecutive_passes": progress.consecutive_passes,
        "rounds": progress.rounds,
        "reason_code": progress.reason_code,
        "message": progress.message,
        "next_check_at": max(progress.first_check_at, progress.acted_at),
    }


def _why_late(paused: str | None) -> str:
    """Why a requested undo was not carried out in time, as far as the leader can tell."""
    if paused is not None:
        return f"Autonomic is paused ({paused})"
    return "no leader carried it out in time (none was running, or Autonomic was paused)"


# ---------------------------------------------------------------------- engine


class RemediationEngine:
    def __init__(
        self,
        *,
        runbooks: Sequence[Runbook],
        ledger: Ledger,
        decisions: DecisionService,
        executor: Executor,
        reader: ClusterReader,
        clock: Clock,
        limits: GlobalLimits,
        query: InstantQuery | None = None,
        alerts: Callable[[], tuple[FiringAlert, ...]] = tuple,
        inbox: AlertInbox | None = None,
        identity: str | None = None,
        foreign_mark_after: float = FOREIGN_MARK_AFTER,
    ) -> None:
        self.runbooks = {r.name: r for r in runbooks}
        self.ledger = ledger
        self.decisions = decisions
        self.executor = executor
        self.reader = reader
        self.clock = clock
        self.limits = limits
        self.query = query
        self.alerts = alerts
        # The alerts the webhook stored in the ledger, handled by each cycle.
        self.inbox = inbox
        self.stats = EngineStats()
        # Every runbook outcome counted; what was held back kept in the ledger (why).
        self.outcomes = RunbookOutcomes(ledger, decisions.metrics)
        self._storm_reported_at: float | None = None
        # The runbooks' PromQL reads failing, told as one story (``_read_failed``).
        self._reads_story = OutageStory(READS_SUMMARY_EVERY)
        # Hand-offs known to be in the ledger (by incident key), so a limit that holds
        # for hours costs no ledger read per signal and cycle. Bounded.
        self._handed_off: OrderedDict[str, None] = OrderedDict()
        self._queue: list[Signal] = []
        # Stored alerts this engine marked as being handled (the ledger's
        # ``handling_since``): its own marks are never read as a dead process's.
        self._marked: set[int] = set()
        # This replica's lease identity, written with its marks (``handling_by``). A
        # mark with it that this engine did not set is a previous process's of this
        # replica (its container restarted): gone. Another replica's is read as a dead
        # process's only once it is ``foreign_mark_after`` seconds old.
        self.identity = identity
        self.foreign_mark_after = foreign_mark_after
        # Dedup keys already counted as triggers: a condition that persists (a pod
        # crash-looping for an hour) is one trigger, not one per cycle. Each with when
        # the ledger last recorded seeing it (None: not recorded yet). Bounded; the ledger
        # keeps them all (``counted_triggers``), so that a restart or a new leader does not
        # count the signals still standing again, all at once, as a storm.
        self._counted: OrderedDict[str, float | None] = OrderedDict()
        # Per (runbook, reason): when a signal it could not take up was last logged, and
        # how many came since. Alertmanager sends a firing alert again and again (and a
        # storm sends many at once): one warning an hour says it.
        self._unmatched_said: dict[tuple[str, str], tuple[float, int]] = {}
        # A drain evicts within the disruption budget, round by round, and counts in it.
        executor.drain_budget = DrainBudget(self._eviction_room, self._evicted)
        # ``recover`` found the engine paused: it runs at the first cycle after.
        self._recovery_deferred = False
        self._pause_read: tuple[float, Pause | None] | None = None  # (at, the pause then)
        # Runs with no write-ahead intent that ``recover`` took over from another process
        # and a guard held: each cycle looks at them again, as at the ones it claimed.
        self._adopted: set[str] = set()
        # Claimed runs with no intent yet that a guard held at their last look, and why
        # (``_recheck_unwritten``): what a run closed for its age says it waited for.
        self._held_why: dict[str, str] = {}
        # Per approved decision started by a pod or node condition or an anomaly: why the
        # check before its first write last found its signal not over, as logged (once a
        # change).
        self._going_on: OrderedDict[str, str] = OrderedDict()
        # Decisions closed with an escalation promised (``_closing``) that an error kept
        # this process from sending: the next cycle sends it (``_resume_promised``).
        self._unsent: set[str] = set()
        # Approved decisions whose handling failed (``_execute_failed``): the error, and
        # at how many cycles in a row it came. This leader's: a restart counts anew.
        self._failing: dict[str, tuple[str, int]] = {}
        # Executions whose recovery raised an error that is not a ``TransientError``
        # (``recover``): each cycle recovers them again (``_recover_left``).
        self._unrecovered: set[str] = set()
        # The reasons an Events read for a decision failed for, each said once at warning.
        self._events_said: set[str] = set()
        # Executions whose settling after a crash (``_settle_finished``) and asked
        # decisions whose asking (``_ask_unasked``) raised such an error: each cycle
        # tries them again (``_recover_left``).
        self._unsettled_finish: set[str] = set()
        # Runs a ``TransientError`` cut off between steps in this process (``_run_steps``):
        # carried on by the next cycles (``settle_unsettled``); a crash's by ``recover``.
        self._interrupted: set[str] = set()
        # Runs deferred because a step's target could not be read before its write (an
        # API hiccup, a cache not synced, a controller behind its spec): ``_defer``.
        self._deferred: dict[str, _Deferred] = {}
        # Failed runs left open while an undo of theirs is not settled (``_fail``): why
        # they failed and whether that judges the runbook, for the cycle that closes
        # them once the undo is settled (``_carry_on``). A restart's recovery fails
        # them afresh, its steps undone counted.
        self._undo_waits: dict[str, tuple[str, bool]] = {}
        self._unasked: set[str] = set()
        # Signals (other than stored alerts) whose handling raised an error that is not
        # a ``TransientError`` (``_signal_failed``), by runbook and dedup key: the error
        # as logged, and when it last came. Logged again only when it changes.
        self._signals_failing: dict[tuple[str, str], tuple[str, float]] = {}
        # Runs whose recovery or verification keeps raising, by (run key, "recovery" or
        # "verification"): since when, how many cycles in a row, the last error, whether
        # a person was told (``_keeps_failing``). A success ends the entry.
        self._stuck: dict[tuple[str, str], _Stuck] = {}
        # Stored alerts that could not be looked at for a re-ask, by fingerprint: the
        # error, logged again only when it changes (``_requeue_held_alerts``).
        self._requeue_failing: dict[str, str] = {}
        # Firing alerts (fingerprint, startsAt) and a runbook and target that take them
        # (runbook name, subject), whose handling at the time kept (their handled_at)
        # decided nothing there for a reason not worth trying again: not read again until
        # the alert is taken in again (``_retried_denial``). Per runbook and target: another
        # runbook's reason to leave the alert says nothing of this one's.
        self._not_retried: dict[tuple[str, float, str, str], float] = {}

    # ------------------------------------------------------------- snapshots
    def snapshot(self) -> ClusterSnapshot:
        # Objects a listing left out because they could not be read: in the snapshot as
        # such (``ClusterSnapshot.unread``), never as objects that are not there.
        unread: list[UnreadObject] = []
        workloads, hpas = self._workloads_and_hpas(unread)
        pods, nodes = self._pods_and_nodes(unread)
        nodes = self._uncordoned_by_others(nodes)
        reader = self.reader
        if isinstance(reader, UnreadReporter):
            claims = reader.list_volume_claims(unread=unread)
        else:
            # Claims only from a reader that reads them (the simulated cluster has none).
            claims = reader.list_volume_claims() if isinstance(reader, VolumeClaimReader) else []
        return ClusterSnapshot(
            workloads=workloads,
            pods=tuple(pods),
            nodes=tuple(nodes),
            hpas=hpas,
            alerts=tuple(self.alerts()),
            unknown_alerts=self.inbox.unknown() if self.inbox is not None else (),
            taken_at=self.clock.now(),
            claims=tuple(claims),
            budgets=self.reader.read_disruption_budgets()
            if isinstance(self.reader, DisruptionBudgetReader)
            else None,
            unread=tuple(unread),
        )

    def _uncordoned_by_others(self, nodes: list[NodeState]) -> list[NodeState]:
        """``nodes``, each that Autonomic cordoned and someone else uncordoned since
        (``agent.uncordons``) with that uncordon as its last change by someone other
        than Autonomic and the cluster's controllers (``managed_by_human_at``), at the
        time Autonomic first saw it schedulable, unless ``managedFields`` records a
        later one. A bare uncordon leaves no trace there (a write that only removes a
        field records no writer and no time), so without this ``HumanRecentlyChanged``
        could not see it, and a runbook would cordon the node again over the person's
        uncordon.

        Only nodes an action of Autonomic's changed within the time the guard state
        keeps actions (``actions_kept``) are looked at: an older action is no "last
        action" for the guard to judge a change against, and the look costs a read of
        the ledger per such node."""
        schedulable = {str(n.ref): n for n in nodes if not n.unschedulable}
        if not schedulable:
            return nodes
        seen: dict[str, float] = {}
        since = self.clock.now() - self.actions_kept()
        for target in sorted(self.ledger.acted_on(list(schedulable), since)):
            node = schedulable[target]
            cordon = standing_cordon(self.ledger.intents_on(target), node)
            at = self._uncordon_seen_at(node, cordon) if cordon is not None else None
            if at is not None:
                seen[target] = at
        if not seen:
            return nodes
        out: list[NodeState] = []
        for node in nodes:
            at = seen.get(str(node.ref))
            human = node.managed_by_human_at
            if at is not None and (human is None or human < at):
                node = replace(node, managed_by_human_at=at)
            out.append(node)
        return out

    def _uncordon_seen_at(self, node: NodeState, cordon: Intent) -> float | None:
        """When Autonomic first saw ``node`` schedulable after ``cordon``: as the ledger
        keeps it, or now, recorded (compare-and-set: a replica that recorded it first
        wins, and its time is the one said). A replica that does not lead records
        nothing, and says nothing of an uncordon not recorded yet."""
        key = f"{OBSERVED_PREFIX}{node.ref.name}"
        for _ in range(3):
            stored, version = self.ledger.guard(key)
            at = observed_at(stored, cordon)
            if at is not None:
                return at
            if not self.executor.is_leader():
                return None
            now = self.clock.now()
            if self.ledger.put_guard(key, observation(cordon, now), version, now):
                log.info(
                    "%s is schedulable again after Autonomic's cordon (intent %d), which "
                    "Autonomic did not undo: taken as someone else's uncordon, seen at %s",
                    node.ref,
                    cordon.id,
                    to_utc_text(now),
                    extra={"target": str(node.ref)},
                )
                return now
        return None

    def _pods_and_nodes(self, unread: list[UnreadObject]) -> tuple[list[PodState], list[NodeState]]:
        """The pods and the nodes listed; those a listing left out because they could
        not be read are added to ``unread`` (from a reader that names them)."""
        reader = self.reader
        if isinstance(reader, UnreadReporter):
            return reader.list_pods(unread=unread), reader.list_nodes(unread=unread)
        return reader.list_pods(), reader.list_nodes()

    def _workloads_and_hpas(
        self, unread: list[UnreadObject]
    ) -> tuple[tuple[WorkloadState, ...], tuple[HpaState, ...]]:
        """The workloads listed, and the HPA of each that has one. A workload whose HPA
        cannot be read (``BadObject``: one that may target it came in a shape that cannot
        be read) is left out, as a workload that cannot be read is: in the snapshot
        without its HPA, a runbook's scale would write the replicas the HPA owns. Both
        are added to ``unread``."""
        workloads: list[WorkloadState] = []
        hpas: list[HpaState] = []
        listed = (
            self.reader.list_workloads(unread=unread)
            if isinstance(self.reader, UnreadReporter)
            else self.reader.list_workloads()
        )
        for workload in listed:
            try:
                hpa = self.reader.get_hpa_for(workload.ref)
            except PermanentError as exc:
                if exc.reason != "BadObject":
                    raise
                log.debug("%s left out of the snapshot: %s", workload.ref, exc)
                unread.append(UnreadObject(workload.ref, str(exc)))
                continue
            workloads.append(workload)
            if hpa is not None:
                hpas.append(hpa)
        return tuple(workloads), tuple(hpas)

    # ------------------------------------------------------------ guard state
    def guard_state(self, *, stored: bool = False) -> tuple[GuardState, int]:
        """The shared guard state, paused too while a person's pause holds
        (``autonomic pause``, kept apart in the ledger: see ``agent.pause``); ``stored``:
        as stored, without it."""
        value, version = self.ledger.guard(GUARD_KEY)
        state = _guard_from_json(value)
        return (state if stored else self._with_pause(state)), version

    def _with_pause(self, state: GuardState) -> GuardState:
        # Read once per instant of the engine's clock: a cycle on a simulated clock reads
        # it once, not at each of its guard reads; a real clock moves between any two.
        # Other threads read it too (the scaling job, the canary endpoints) while the
        # cycle's ``_paused_afresh`` drops it: the cached read is taken once, into a local.
        now = self.clock.now()
        read = self._pause_read
        if read is None or read[0] != now:
            read = (now, active_pause(self.ledger, now))
            self._pause_read = read
        held = read[1]
        if held is None:
            return state
        also = f"; also {state.pause_reason}" if state.paused and state.pause_reason else ""
        return replace(state, paused=True, pause_reason=held.describe() + also)

    def paused(self) -> str | None:
        """Why nothing new may be done to the cluster now (a pause), or None."""
        state, _ = self.guard_state()
        return (state.pause_reason or "paused") if state.paused else None

    def _update_guards(self, change: Callable[[GuardState], GuardState]) -> GuardState:
        """Compare-and-set the shared guard state, re-reading on a lost race (bounded).
        A person's pause is not part of what is stored: it is read afresh each time."""
        for _ in range(20):
            state, version = self.guard_state(stored=True)
            new = change(state)
            if self.ledger.put_guard(GUARD_KEY, _guard_to_json(new), version, self.clock.now()):
                return self._with_pause(new)
        raise TransientError("the guard state kept changing under us", reason="GuardContention")

    def _eviction_room(self) -> EvictionRoom | None:
        """What the disruption budget leaves for a drain round now (None: no limit)."""
        limits = self.limits
        if (
            limits.max_pods_disrupted_per_hour is None
            and limits.max_pods_disrupted_per_hour_per_namespace is None
        ):
            return None
        state, _ = self.guard_state()
        total, rooms = disruption_room(state, limits, self.clock.now())
        return EvictionRoom(total, limits.max_pods_disrupted_per_hour_per_namespace, rooms)

    def _evicted(self, runbook: str, target: ObjectRef, by_namespace: dict[str, int]) -> None:
        """Count a drain round's evictions in the disruption budget."""
        counts = tuple(sorted(by_namespace.items()))
        spent = Disruption(sum(by_namespace.values()), counts)
        now = self.clock.now()
        self._update_guards(lambda s: record_disruption(s, runbook, target, spent, now))

    def pause(self, paused: bool, reason: str = "") -> None:
        from remediation.guards import set_pause

        self._update_guards(lambda s: set_pause(s, paused, reason))

    # ---------------------------------------------------------------- intake
    def submit(self, signals: Iterable[Signal]) -> None:
        """Queue signals from other loops (anomalies, canary verdicts, alerts, forecasts)."""
        self._queue.extend(signals)

    def cycle(self) -> list[Handled]:
        """One pass: Kubernetes conditions, queued signals and the alerts stored by the
        webhook in, decisions out; then run what is approved, verify what is due, expire
        stale questions."""
        try:
            return self._cycle()
        finally:
            self.publish_pending()
            self.publish_breakers()

    def _cycle(self) -> list[Handled]:
        if self._recovery_deferred and self.paused() is None:
            log.info("resumed: recovering the in-flight work left while paused: %s", self.recover())
        snapshot = self.snapshot()
        now = self.clock.now()
        self._requeue_held_alerts(snapshot, now)
        stored = self.inbox.pending() if self.inbox is not None else []
        self._marked &= {a.id for a in stored}
        # Alerts a cycle took in and never finished with, in a process that is gone: one
        # of them may be what killed it. Each is counted as a failed attempt (given up at
        # ALERT_ATTEMPTS) and handled on its own after the rest, so an alert that kills
        # every process handling it ends given up instead of in a crash loop. Those
        # another replica marked lately may be handled by it still: left to it.
        marked = [a for a in stored if a.handling_since is not None and a.id not in self._marked]
        busy = [a for a in marked if not self._owner_gone(a, now)]
        interrupted = [a for a in marked if a not in busy]
        for alert in busy:
            log.info(
                "stored %s, id %d, is being handled by replica %s since %s (its cycle may "
                "still run after it stopped leading): left to it; counted as an interrupted "
                "attempt if that replica has not finished with it %g s after it began",
                alert.signal.describe(),
                alert.id,
                alert.handling_by or "(not recorded)",
                to_utc_text(alert.handling_since or now),
                self.foreign_mark_after,
            )
        stored = [a for a in stored if a not in marked]
        # A firing alert that no longer fires (its resolution came first, as HA peers'
        # late firing copies do) starts nothing: marked handled, and said.
        gone = self._no_longer_firing(stored)
        gone_ids = {alert.id for alert, _ in gone}
        stored = [a for a in stored if a.id not in gone_ids]
        # Counted first, all of them (which clears their marks): then only the one being
        # handled is marked, and an innocent alert beside a poison one is not blamed twice.
        retry = [again for again in map(self._count_interruption, interrupted) if again]
        queued, self._queue = self._queue, []
        others = list(detect_kubernetes_signals(snapshot, now)) + queued
        self._mark([a.id for a in stored])
        try:
            handled = self.handle(others + [a.signal for a in stored], snapshot)
            done = [a.id for a in stored]
        except Exception as exc:
            if not stored:
                self._put_back(queued, exc)
                raise
            # The ledger failing, or one alert that cannot be handled (a bug, a label
            # the ledger refuses): the others first, then each stored alert alone.
            handled, done = self._handle_apart(others, queued, stored, snapshot)
        # Marked after they were handled: a crash in between handles them again at the
        # next cycle, which finds the decisions by their incident keys.
        if done and self.inbox is not None:
            self.inbox.handled(done)
        handled += [item for _, item in gone]
        for alert in retry:
            handled += self._handle_alone(alert, snapshot)
        if self._shutting_down():
            # Decided and recorded; nothing is run, settled, undone or verified now: the
            # next leader does it from the ledger.
            log.info("shutting down: the rest of this remediation cycle is left to the next leader")
            return handled
        self.decisions.sync_answers()
        self.decisions.expire_due()
        self.decisions.repost_unposted()
        self._recover_left()
        self.settle_unsettled()
        self.resume_stopped()
        if self._unsent:
            self._resume_promised(self._unsent)
        self.execute_approved(snapshot)
        self.undo_requested()
        self.verify_due()
        return handled

    def _no_longer_firing(
        self, stored: Sequence[PendingAlert]
    ) -> list[tuple[PendingAlert, Handled]]:
        """The stored firing alerts that no longer fire (``AlertInbox.over``), marked
        handled with no runbook run for them, each logged with why."""
        if self.inbox is None or not stored:
            return []
        over = self.inbox.over(stored)
        gone = [alert for alert in stored if alert.id in over]
        out = []
        for alert in gone:
            signal = alert.signal
            message = (
                f"{signal.describe()}, fingerprint {alert.fingerprint}, firing from "
                f"{to_utc_text(alert.starts_at)}, no longer fires when a remediation cycle "
                f"takes it in: {over[alert.id]}; no runbook runs for it"
            )
            log.info("stored alert %d: %s", alert.id, message)
            self.stats.count(self.stats.handled, "skipped")
            out.append(
                (
                    alert,
                    Handled(
                        signal.describe(),
                        None,
                        "skipped",
                        "AlertNotFiring",
                        message,
                        subject=_subject(signal),
                    ),
                )
            )
        if gone:
            self.inbox.handled([alert.id for alert in gone])
        return out

    def _put_back(self, queued: list[Signal], exc: Exception) -> None:
        """After a ``TransientError`` (the ledger, or a read, failed part-way): the queued
        signals (anomaly incidents, forecast breaches, canary verdicts) are not sent again
        by their loops, so they wait for the next cycle instead of being lost. Any other
        error drops them: a signal that cannot be handled must not block the loop."""
        if isinstance(exc, TransientError):
            self._queue[:0] = queued

    def _handle_apart(
        self,
        others: Sequence[Signal],
        queued: list[Signal],
        stored: Sequence[PendingAlert],
        snapshot: ClusterSnapshot,
    ) -> tuple[list[Handled], list[int]]:
        """Handle the signals that are not stored alerts, then each stored alert on its
        own, after handling all of them at once failed. An error in the first part is
        not the alerts' doing: it is raised, and the alerts stay pending, taken in again
        by the next cycle (this replica's or a new leader's). A stored alert that fails
        on its own is tried again at the next cycles, up to ``ALERT_ATTEMPTS`` times in
        all, by whichever replicas lead, then given up (``_failed_attempt``). Returns what
        was handled, and the rows to mark handled (a given-up one is marked by its count)."""
        try:
            handled = self.handle(others, snapshot)
        except Exception as exc:
            self._put_back(queued, exc)
            self._unmark([a.id for a in stored])
            raise
        done: list[int] = []
        for alert in stored:
            try:
                handled += self.handle([alert.signal], snapshot)
            except Exception as exc:
                self._failed_attempt(alert, exc)
                continue
            done.append(alert.id)
        return handled, done

    def _owner_gone(self, alert: PendingAlert, now: float) -> bool:
        """Whether the process that marked ``alert`` (not this engine) cannot be handling
        it still: this replica's own previous process, or a mark too old for any cycle."""
        if alert.handling_by == self.identity:
            return True
        since = alert.handling_since
        return since is None or now - since >= self.foreign_mark_after

    def _mark(self, ids: list[int]) -> None:
        """Mark stored alerts as being handled by this engine, before handling them."""
        if ids and self.inbox is not None:
            self.inbox.handling(ids, by=self.identity)
            self._marked.update(ids)

    def _unmark(self, ids: list[int]) -> None:
        """Clear this engine's marks on alerts it will not finish this cycle (best
        effort: a mark left is this engine's own, which it never counts)."""
        if not ids or self.inbox is None:
            return
        try:
            self.inbox.handling(ids, done=True)
        except TransientError as exc:
            log.debug("marks on stored alerts %s not cleared: %s", ids, exc)

    def _count_interruption(self, alert: PendingAlert) -> PendingAlert | None:
        """Count the unfinished cycle as a failed attempt at ``alert``: the alert with its
        new count, or None when that gave it up (or another replica counted it)."""
        since = to_utc_text(alert.handling_since) if alert.handling_since is not None else "?"
        on = f", on replica {alert.handling_by}," if alert.handling_by else ""
        attempts = self._failed_attempt(
            alert,
            InterruptedHandlingError(
                f"the remediation cycle that took it in at {since}{on} never finished with "
                "it (the process handling it died, was killed or stopped)"
            ),
        )
        if attempts is None or attempts >= ALERT_ATTEMPTS:
            return None
        return alert._replace(attempts=attempts, handling_since=None)

    def _handle_alone(self, alert: PendingAlert, snapshot: ClusterSnapshot) -> list[Handled]:
        """Handle one stored alert on its own, marked alone while it is handled."""
        assert self.inbox is not None
        self._mark([alert.id])
        try:
            handled = self.handle([alert.signal], snapshot)
        except Exception as exc:
            self._failed_attempt(alert, exc)
            return []
        self.inbox.handled([alert.id])
        return handled

    def _failed_attempt(self, alert: PendingAlert, exc: Exception) -> int | None:
        """Count a stored alert's failed attempt on its row (given up there at
        ``ALERT_ATTEMPTS``), and say so. A count that cannot be written (the ledger
        failing) leaves the alert pending with its count as it was."""
        assert self.inbox is not None
        error = f"{type(exc).__name__}: {exc}"
        what = alert.signal.describe()
        try:
            attempts = self.inbox.failed(alert, error, give_up_at=ALERT_ATTEMPTS)
        except TransientError as failure:
            log.warning(
                "stored %s could not be handled, and the attempt could not be counted in "
                "the ledger (%s); tried again at the next cycle: %s",
                what,
                failure,
                error,
                exc_info=True,
            )
            return None
        if attempts is None:
            log.info(
                "stored %s could not be handled; another replica counted this attempt "
                "(or handled it) meanwhile: %s",
                what,
                error,
            )
            return None
        if attempts < ALERT_ATTEMPTS:
            interrupted = isinstance(exc, InterruptedHandlingError)
            log.warning(
                "stored %s, id %d, could not be handled (attempt %d of %d; tried again %s): %s",
                what,
                alert.id,
                attempts,
                ALERT_ATTEMPTS,
                "now, on its own" if interrupted else "at the next cycle",
                error,
                exc_info=not isinstance(exc, (TransientError, InterruptedHandlingError)),
            )
            return attempts
        log.error(
            "stored %s, id %d, given up after %d failed attempts: no replica tries it "
            "again and no runbook runs for it (`autonomic alerts retry %d` makes it pending "
            "again); the last error: %s",
            what,
            alert.id,
            attempts,
            alert.id,
            error,
        )
        self.decisions.metrics.alerts_given_up.inc()
        return attempts

    def publish_pending(self) -> None:
        """``autonomic_alerts_pending`` and the oldest one's age, from the ledger (kept
        by the leader, at each cycle). A ledger that cannot say leaves them as they were."""
        if self.inbox is None:
            return
        try:
            count, oldest = self.inbox.waiting()
        except TransientError as exc:
            log.debug("pending alerts not counted: %s", exc)
            return
        metrics = self.decisions.metrics
        metrics.alerts_pending.set(count)
        age = 0.0 if oldest is None else max(self.clock.now() - oldest, 0.0)
        metrics.alerts_pending_age.set(age)

    def handle(self, signals: Sequence[Signal], snapshot: ClusterSnapshot) -> list[Handled]:
        now = self.clock.now()
        out: list[Handled] = []
        if not signals:
            self.outcomes.record((), now)  # what was counted before is still written
            return out
        self._signals_failing = {
            key: seen
            for key, seen in self._signals_failing.items()
            if now - seen[1] < SIGNAL_FAILED_FORGET
        }
        results: list[tuple[Signal, MatchResult]] = []
        for signal in signals:
            try:
                matched = match(self.runbooks.values(), signal, snapshot)
                results.append((signal, self._scoped(signal, matched)))
            except Exception as exc:
                if isinstance(exc, TransientError) or signal.kind == "alert":
                    raise
                out.append(self._signal_failed(None, signal, exc, now))
        # The storm guard counts triggers: signals a runbook takes up (its condition held
        # long enough, on a target it selects). A pod still starting, or a condition no
        # runbook handles, leads to no action and is no sign of a storm of actions.
        keys = list(dict.fromkeys(signal.dedup_key for signal, result in results if result.matches))
        # Counted before this cycle, by this process or (the ledger says) another: an
        # engine took them up, and a copy sent again (``Signal.resent``) is not news.
        taken = {key for key in keys if key in self._counted}
        fresh, recorded = self._new_triggers(keys)
        taken |= recorded.keys()
        state = self._count_triggers(fresh, recorded, now)
        # Remembered once counted (a guard state that could not be written counts them
        # at the next cycle); those still standing have their sighting moved on.
        self._remember_triggers(keys, recorded, now)
        # What became of each runbook whose trigger accepted a signal (``outcomes``): those
        # that could not select their target, each, and those that went on to plan.
        reached: list[Handled] = []
        for signal, result in results:
            reached += [
                Handled(
                    signal.describe(),
                    skip.runbook,
                    "no-match",
                    skip.reason_code,
                    skip.message,
                    subject=_subject(signal),
                )
                for skip in result.skipped
                if skip.reason_code != "NoTriggerMatch"
            ]
            if not result.matches:
                out.append(self._unmatched(signal, result.skipped))
                if out[-1].reason_code == "NoRunbook":
                    reached.append(out[-1])  # kept for `why` under NO_RUNBOOK
                continue
            for found in result.matches:
                copy = (
                    self._copy_taken(found.runbook.name, found.target, signal, taken)
                    if signal.resent
                    else None
                )
                if copy is not None:
                    out.append(copy)
                    reached.append(copy)
                    continue
                try:
                    handled = self._handle_one(found.runbook, signal, snapshot, state, now)
                except Exception as exc:
                    if isinstance(exc, TransientError) or signal.kind == "alert":
                        raise
                    handled = self._signal_failed(found.runbook.name, signal, exc, now)
                else:
                    self._signals_failing.pop((found.runbook.name, signal.dedup_key), None)
                out.append(replace(handled, subject=str(found.target)))
                reached.append(out[-1])
        for item in out:
            self.stats.count(self.stats.handled, item.outcome)
        self.outcomes.record(reached, now)
        return out

    def _copy_taken(
        self, runbook: str, target: ObjectRef, signal: Signal, taken: set[str]
    ) -> Handled | None:
        """A duplicate, when ``signal``, a copy sent again (``Signal.resent``: an
        anomaly loop restoring an open incident, at a restart or when its replica leads
        again; a canary loop sending, after a restart, a verdict acted on that no runbook
        decision names), was taken up before: its incident has a decision of ``runbook`` on
        ``target``, or its key is in ``taken`` (counted as a trigger before this cycle:
        an engine handled it, and a guard, a skip or another decision on the target held
        it back). None: it may have been lost (in the engine's in-memory queue of a
        process that died), handled as new. A copy is not a sign that the problem goes
        on: before, it went through the re-ask rule and the guards again, so a restart
        after the quiet period asked the on-call again about an incident whose question
        had expired, and one after a cooldown ran a runbook the cooldown had held back."""
        existing = self.ledger.latest_for_incident(incident_key(runbook, target, signal))
        if existing is None and signal.dedup_key not in taken:
            return None
        what = (
            f"its incident already has decision {short_id(existing.id)} ({existing.status})"
            if existing is not None
            else "an engine took it up before, and did not act then"
        )
        return Handled(
            signal.describe(),
            runbook,
            "duplicate",
            "AlreadyDecided" if existing is not None else "AlreadyHandled",
            f"a copy of a signal sent before ({_copy_of(signal)}): {what}; not handled again",
            existing.id if existing is not None else None,
            existing.route if existing is not None else None,
            subject=str(target),
        )

    def _signal_failed(
        self, runbook: str | None, signal: Signal, exc: Exception, now: float
    ) -> Handled:
        """Handling ``signal`` (matching it against the runbooks, ``runbook`` None, or
        one runbook's turn on it) raised ``exc``, neither a ``TransientError`` (which ends
        the cycle) nor a stored alert's (raised too: its failed attempts are counted on
        its row, ``_handle_apart``). It is counted in ``autonomic_errors_total``
        (``Unexpected``, or the ``PermanentError``'s reason) each time, logged with the
        traceback when it is new for that runbook and signal, and the cycle goes on with
        the other signals; before, it ended the cycle, and a condition seen again at
        every cycle kept anything approved from running. The runbook's outcome is
        ``failed``, kept for ``autonomic why``; the signal is handled again when it is
        seen again (a Kubernetes condition at the next cycle, while it lasts)."""
        kind = exc.reason if isinstance(exc, PermanentError) else "Unexpected"
        self.decisions.metrics.errors.labels(kind=kind).inc()
        error = f"{type(exc).__name__}: {exc}"
        key = (runbook or "", signal.dedup_key)
        said = self._signals_failing.get(key)
        self._signals_failing[key] = (error, now)
        what = (
            f"runbook {runbook} on signal {signal.describe()}"
            if runbook is not None
            else f"matching signal {signal.describe()} against the runbooks"
        )
        if said is None or said[0] != error:
            log.error(
                "%s failed: %s; the other signals go on, and it is handled again when "
                "the signal is seen again (a Kubernetes condition at the next cycle, while "
                "it lasts); said again only if its error changes",
                what,
                error,
                exc_info=None if isinstance(exc, PermanentError) else exc,
            )
        return Handled(
            signal.describe(),
            runbook,
            "failed",
            kind,
            f"handling the signal failed with {error} (an error Autonomic does not expect: "
            "the daemon's log has the traceback); tried again when the signal is seen again",
            subject=_subject(signal),
        )

    def _scoped(self, signal: Signal, result: MatchResult) -> MatchResult:
        """A target not found because its namespace is one the reader does not read
        (``cluster.excludeNamespaces``, or outside ``cluster.namespaces``) is said so:
        "not in the cluster" would send the on-call looking for an object that is there.
        A target matched without reading it (a Job: Autonomic does not read Jobs, so
        nothing else would leave one out) in such a namespace is not acted on either:
        no runbook acts there, notify-only ones included."""
        if not isinstance(self.reader, ScopedReader):
            return result
        reader = self.reader

        def unread(ref: ObjectRef | None, why: str) -> str:
            return (
                f"{ref} is in a namespace Autonomic does not read: {why}; no runbook "
                "acts there (change the setting to let them)"
            )

        matches: list[Match] = []
        skipped = list(result.skipped)
        for found in result.matches:
            why = reader.out_of_scope(found.target.namespace)
            if why is None:
                matches.append(found)
            else:
                skipped.append(
                    Skip(found.runbook.name, "NamespaceNotRead", unread(found.target, why))
                )
        if len(matches) == len(result.matches) and not any(
            skip.reason_code == "TargetNotFound" for skip in skipped
        ):
            return result
        namespace = signal.target.namespace if signal.target is not None else None
        why = reader.out_of_scope(namespace)
        if why is not None:
            skipped = [
                Skip(skip.runbook, "NamespaceNotRead", unread(signal.target, why))
                if skip.reason_code == "TargetNotFound"
                else skip
                for skip in skipped
            ]
        return MatchResult(tuple(matches), tuple(skipped))

    def _unmatched(self, signal: Signal, skipped: Sequence[Skip]) -> Handled:
        """A signal no runbook takes up. When a runbook's trigger accepted it but its
        target could not be selected (an alert naming no object, a workload without the
        opt-in label), that is the reason given, not "no runbook"; for a signal that
        arrives once (an alert, an anomaly, a verdict) it is also logged, since nothing
        else would show why the runbook did not run."""
        for skip in skipped:
            if skip.reason_code == "NoTriggerMatch":
                continue
            if signal.kind != "kubernetes":  # conditions are seen again every cycle
                self._say_unmatched(skip)
            return Handled(
                signal.describe(),
                skip.runbook,
                "no-match",
                skip.reason_code,
                skip.message,
                subject=_subject(signal),
            )
        if signal.kind == "alert" and signal.status == "firing" and signal.target is not None:
            # An alert about an object is sent on purpose (an Alertmanager route to
            # Autonomic): one that no runbook's trigger names is said, and kept for `why`,
            # rather than dropped. One about nothing (Watchdog, InfoInhibitor) is not.
            return Handled(
                signal.describe(),
                None,
                "no-match",
                "NoRunbook",
                self._no_runbook(signal),
                subject=_subject(signal),
            )
        return Handled(signal.describe(), None, "no-match", "NoMatch", "no runbook")

    def _no_runbook(self, signal: Signal) -> str:
        """Why no runbook takes an alert up: no trigger names it; which alerts they name."""
        names = sorted(
            {
                trigger.alertname
                for runbook in self.runbooks.values()
                for trigger in runbook.spec.triggers
                if isinstance(trigger, AlertTrigger)
            }
        )
        shown = ", ".join(names[:NAMES_SHOWN]) + (
            f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
        )
        taken = (
            f"the runbooks' alert triggers name {shown}"
            if names
            else "no runbook has an alert trigger"
        )
        return (
            f"no runbook's trigger names alert {signal.name}: {taken} (a runbook is still to "
            "write, or the alert's name is not the one a trigger names)"
        )

    def _say_unmatched(self, skip: Skip) -> None:
        """Log a runbook that could not take a signal up: once per runbook and reason per
        ``UNMATCHED_LOG_EVERY``, with how many more came in between."""
        now = self.clock.now()
        key = (skip.runbook, skip.reason_code)
        said_at, since = self._unmatched_said.get(key, (-math.inf, 0))
        if now - said_at < UNMATCHED_LOG_EVERY:
            self._unmatched_said[key] = (said_at, since + 1)
            return
        more = f" ({since} more like it since the last warning)" if since else ""
        log.warning(
            "runbook %s does not run: %s [%s]%s", skip.runbook, skip.message, skip.reason_code, more
        )
        self._unmatched_said[key] = (now, 0)

    def _new_triggers(self, keys: Sequence[str]) -> tuple[list[str], dict[str, float]]:
        """Which of ``keys`` (this cycle's triggers) arrive for the first time, the storm
        guard's input; and those of them this process did not know that the ledger has
        counted before (by another process, or before a restart), with when last seen."""
        unknown = [key for key in keys if key not in self._counted]
        recorded = self.ledger.counted_triggers(unknown) if unknown else {}
        return [key for key in unknown if key not in recorded], recorded

    def _count_triggers(
        self, fresh: Sequence[str], recorded: dict[str, float], now: float
    ) -> GuardState:
        """Count ``fresh`` (this cycle's triggers no process counted before) in the
        storm guard, and record them as counted, in one transaction
        (``Ledger.put_guard``'s ``triggers``): written together, each key is counted
        once, whichever replica counts it (the old leader's last cycle and the new
        one's first may overlap) and whatever stops between two writes. A race lost to
        another replica reads again which of them it counted meanwhile. ``recorded``
        gets those counted, with ``now``. The guard state after."""
        fresh = list(fresh)
        for _ in range(20):
            if not fresh:
                return self.guard_state()[0]
            state, version = self.guard_state(stored=True)
            new = _record_triggers(state, now, len(fresh), self.limits)
            if self.ledger.put_guard(
                GUARD_KEY, _guard_to_json(new), version, self.clock.now(), triggers=fresh
            ):
                recorded.update(dict.fromkeys(fresh, now))
                return self._with_pause(new)
            counted = self.ledger.counted_triggers(fresh)
            recorded.update(counted)
            fresh = [key for key in fresh if key not in counted]
        raise TransientError("the guard state kept changing under us", reason="GuardContention")

    def _remember_triggers(
        self, keys: Sequence[str], recorded: Mapping[str, float], now: float
    ) -> None:
        """Keep ``keys`` as counted: in memory, and in the ledger when last recorded
        ``TRIGGER_SEEN_EVERY`` ago (a new one was recorded with its count,
        ``_count_triggers``). A ledger that cannot record them now is asked again at
        the next cycle; memory keeps them counted meanwhile."""
        for key in keys:
            if key in self._counted:
                self._counted.move_to_end(key)
            else:
                self._counted[key] = recorded.get(key)
        due = [
            key
            for key in keys
            if (at := self._counted[key]) is None or now - at >= TRIGGER_SEEN_EVERY
        ]
        while len(self._counted) > COUNTED_KEYS:
            self._counted.popitem(last=False)
        if not due:
            return
        try:
            self.ledger.note_triggers(due, now)
        except TransientError as exc:
            log.debug("%d counted triggers not recorded yet: %s", len(due), exc)
            return
        for key in due:
            if key in self._counted:
                self._counted[key] = now

    def _handle_one(
        self,
        runbook: Runbook,
        signal: Signal,
        snapshot: ClusterSnapshot,
        state: GuardState,
        now: float,
    ) -> Handled:
        storm = storm_gate(state, self.limits, now)
        if storm is not None:
            # Decided before planning: a storm of a thousand triggers costs no plans.
            self._report_storm(state, now, storm.message)
            return Handled(
                signal.describe(), runbook.name, "denied", storm.reason_code, storm.message
            )
        planned = make_plan(runbook, signal, snapshot, now)
        if isinstance(planned, NoAction):
            return Handled(
                signal.describe(), runbook.name, "skipped", planned.reason_code, planned.message
            )
        key = planned.incident_key
        existing = self.ledger.latest_for_incident(key)
        again: str | None = None
        if existing is not None and (replaced := self._replaced_since(existing, planned)):
            again = replaced
        elif existing is not None and not self._recurred(existing, signal):
            again, when = self._ask_again(existing, runbook, signal, now)
            if again is None:
                return Handled(
                    signal.describe(),
                    runbook.name,
                    "duplicate",
                    "AlreadyDecided",
                    f"incident already has decision {short_id(existing.id)} ({existing.status})"
                    + when,
                    existing.id,
                    existing.route,
                )
        judged = list(planned.checked)
        if planned.preconditions:
            values = {c.query: self._instant(c.query) for c in planned.preconditions}
            blocked = check_preconditions(planned, values)
            if blocked is not None:
                return Handled(
                    signal.describe(), runbook.name, "skipped", blocked.reason_code, blocked.message
                )
            judged += precondition_results(planned, values)
        gate = check(planned, runbook.spec.guards, state, self.limits, now)
        if not gate.allowed:
            if gate.reason_code in ("Storm", "StormCooldown"):
                self._report_storm(state, now, gate.message)
            elif (
                held := gate
                if gate.reason_code in HANDED_OFF
                else held_past_cooldown(planned, runbook.spec.guards, state, self.limits, now)
            ) is not None:
                # A limit behind a cooldown that outlasts it: the automation will not act
                # when the cooldown ends either, so a person hears of it now.
                self._hand_off(
                    runbook, planned, held.reason_code, held.message, state, now, snapshot
                )
            return Handled(
                signal.describe(), runbook.name, "denied", gate.reason_code, gate.message
            )
        open_decision = self._open_decision(runbook.name, planned.target)
        if open_decision is not None:
            # Another signal about the same target (the alert and the pod status of one
            # crash loop) already has a decision in progress: one run per target.
            return Handled(
                signal.describe(),
                runbook.name,
                "duplicate",
                "OpenDecision",
                f"decision {short_id(open_decision.id)} of {runbook.name} on {planned.target} is "
                f"still {open_decision.status}",
                open_decision.id,
                open_decision.route,
            )
        if planned.blocked_by:
            # A drain a PodDisruptionBudget keeps from finishing: cordoning the node and
            # waiting out the timeout would end INCOMPLETE and fail its verification. A
            # person hears of it, with the budget named, and nothing is done.
            denial = "; ".join(planned.blocked_by)
            self._hand_off(runbook, planned, PDB_BLOCKS, denial, state, now, snapshot)
            return Handled(signal.describe(), runbook.name, "denied", PDB_BLOCKS, denial)
        unchecked = self._unchecked_upstream(signal)
        routed = self.decisions.decide(
            Proposal(
                kind="remediation",
                decision_type=f"{runbook.name}/{planned.target.kind}",
                subject=str(planned.target),
                proposal=plan_to_proposal(planned),
                signal_confidence=signal.confidence,
                reason_code=f"{signal.kind}:{signal.name}",
                reason=(
                    f"{signal.describe()}; {_group_of(signal)}"
                    + (f"{again}; " if again is not None else "")
                    + f"plan: {planned.diff}"
                ),
                evidence={
                    "signal": _signal_evidence(signal),
                    **_restarts_evidence(signal, snapshot),
                    **(
                        {
                            "asked_again": {
                                "after": existing.id,
                                "status": existing.status,
                                "since": _incident_since(existing),
                            }
                        }
                        if again is not None and existing is not None
                        else {}
                    ),
                    "labels": dict(signal.labels),
                    # What ``kubectl describe`` would show first (one cache lookup).
                    **self._events_evidence(planned.target, snapshot),
                    "blast": {
                        "targets": planned.blast.targets,
                        "replicas_affected": planned.blast.replicas_affected,
                    },
                    # Each precondition and guard as judged for this decision: what it
                    # required, what it saw, whether it passed (``autonomic explain``).
                    "guards": [
                        result.to_dict()
                        for result in (
                            *judged,
                            *guard_results(planned, runbook.spec.guards, state, self.limits, now),
                        )
                    ],
                    **(
                        {"disruption_budgets": planned.budgets}
                        if planned.budgets is not None
                        else {}
                    ),
                    **(
                        {
                            "runbook_approvers": {
                                "runbook": runbook.name,
                                "ids": list(runbook.spec.approvers),
                            }
                        }
                        if runbook.spec.approvers
                        else {}
                    ),
                },
                model_version=f"runbook {runbook.name}@{planned.runbook_version}",
                max_autonomy=planned.max_autonomy,
                forced_approval="; ".join(
                    r for r in (_forced_approval(planned, self.limits), unchecked) if r
                )
                or None,
                shadow=planned.mode == "shadow",
                approved_by=None if unchecked is not None else _approved_upstream(signal),
                approved_for_propose=unchecked is None and _approved_for_propose(signal),
                promise_broken=_promise_broken(signal),
                incident_key=key,
                siblings=tuple(
                    f"{name}/{planned.target.kind}"
                    for name in siblings(runbook, self.runbooks.values())
                ),
            )
        )
        return Handled(
            signal.describe(),
            runbook.name,
            "decided",
            routed.reason_code,
            routed.message,
            routed.decision_id,
            routed.route,
        )

    def _unchecked_upstream(self, signal: Signal) -> str | None:
        """Why a person's yes to the canary verdict ``signal`` carries does not stand for
        this plan under ``slack.requireKubernetesAccess``, or None. That yes was checked
        against the verdict's own writes (none: ``agent.kube_access.planned_writes``),
        never against the writes of the runbooks that take the verdict up, which may be
        others than its question said (runbooks loaded since, one acting beside one that
        asks): the plan is asked on its own, and its approval is checked."""
        who = _approved_upstream(signal)
        if who is None or getattr(self.decisions.approvals, "access", None) is None:
            return None
        return (
            f"slack.requireKubernetesAccess: the yes to the canary verdict ({who}) was "
            "not checked against this plan's writes"
        )

    def _open_decision(self, runbook: str, target: ObjectRef) -> DecisionRecord | None:
        for record in self.ledger.decisions(
            kind="remediation",
            decision_type=f"{runbook}/{target.kind}",
            status=OPEN_STATUSES,
            limit=500,
        ):
            if record.subject == str(target):
                return record
        return None

    def _report_storm(self, state: GuardState, now: float, message: str) -> None:
        """One summary to humans per storm, not one message per trigger."""
        # One storm is one incident, keyed by when it began (kept in the shared guard
        # state): a storm that lasts, or spans a restart, is still reported once.
        started = state.storm_started_at or state.storm_seen_at or now
        if self._storm_reported_at is not None and self._storm_reported_at >= started:
            return
        reported = self.ledger.latest_for_incident(f"storm|{int(started)}")
        self._storm_reported_at = now
        if reported is not None:
            return
        self.decisions.decide(
            Proposal(
                kind="remediation",
                decision_type="storm",
                subject="cluster",
                proposal={"action": "hold"},
                signal_confidence=0.0,
                reason_code="AlertStorm",
                reason=f"alert storm: {len(state.trigger_times)} triggers in the last minute; "
                f"automatic remediation is held. {message}",
                evidence={"triggers_last_minute": len(state.trigger_times)},
                model_version="guards",
                max_autonomy="escalate",
                incident_key=f"storm|{int(started)}",
            )
        )

    # ------------------------------------------------------------- hand-offs
    def _hand_off(
        self,
        runbook: Runbook,
        planned: Plan,
        reason_code: str,
        denial: str,
        state: GuardState,
        now: float,
        snapshot: ClusterSnapshot | None = None,
    ) -> str | None:
        """Hand an incident the automation will not handle to a person: one escalated
        decision (type ``held/<runbook>``, never executed, never judged) per runbook,
        target, reason and spell of the limit, found again in the ledger by its incident
        key after a restart or on another replica. Returns the key. ``snapshot``: the
        cycle's, whose pods of the target have their Events read with it's."""
        target = planned.target
        window = hold_window(planned, runbook.spec.guards, state, self.limits, now, reason_code)
        if reason_code == "CircuitOpen":
            if window is None:
                return None
            # The breaker is the runbook's, not the target's: one hand-off per opening.
            key = f"held|CircuitOpen|{runbook.name}|{int(window.started_at)}"
        elif window is not None:
            # A per-target limit on a Pod counts its workload's pods: one hand-off for them.
            on = planned.counted_as if reason_code == "TargetRateLimit" else None
            key = f"held|{reason_code}|{runbook.name}|{on or target}|{int(window.started_at)}"
        else:  # BlastRadius, MinHealthy, a plan bigger than the disruption budget
            key = f"held|{reason_code}|{planned.incident_key}"
        if key in self._handed_off:
            self._handed_off.move_to_end(key)
            return key
        if self.ledger.latest_for_incident(key) is None:
            reason = self._hand_off_text(
                runbook, target, reason_code, denial, window, state, planned.counted_as
            )
            self.decisions.decide(
                Proposal(
                    kind="remediation",
                    decision_type=f"{HELD_PREFIX}{runbook.name}",
                    subject=str(target),
                    proposal={
                        "action": "hold",
                        "runbook": runbook.name,
                        "guard": reason_code,
                        **({"until": to_utc_iso(window.until)} if window is not None else {}),
                    },
                    signal_confidence=0.0,
                    reason_code=reason_code,
                    reason=reason,
                    evidence={
                        "denial": denial,
                        "window": _window_dict(window),
                        **self._events_evidence(target, snapshot),
                        **(
                            {"disruption_budgets": budgets}
                            if (budgets := getattr(planned, "budgets", None)) is not None
                            else {}
                        ),
                    },
                    model_version="guards",
                    max_autonomy="escalate",
                    incident_key=key,
                    escalation=reason,
                )
            )
        self._handed_off[key] = None
        while len(self._handed_off) > HANDOFF_KEYS:
            self._handed_off.popitem(last=False)
        return key

    def _events_evidence(
        self, target: ObjectRef, snapshot: ClusterSnapshot | None
    ) -> dict[str, Any]:
        """``{"events": ...}`` for a decision about ``target``: its recent Kubernetes
        Events folded (``remediation.events.fold_events``), with those of its pods in
        ``snapshot`` for a workload (and its current ReplicaSet's, which the adapter
        adds for a Deployment). One lookup through the port; nothing from a reader that
        reads no Events (the simulated cluster).

        A failure to read them (a 403, a timeout, a namespace not read) never stops or
        holds the decision: it is noted (``{"unread": why}``, which every view shows as
        ``events: not readable: why``), counted in ``autonomic_errors_total`` by its
        reason, and logged once per reason."""
        reader = self.reader
        if not isinstance(reader, EventReader):
            return {}
        related = (
            tuple(p.ref for p in snapshot.pods if p.owner == target)
            if snapshot is not None and target.kind in ("Deployment", "StatefulSet", "Rollout")
            else ()
        )
        try:
            read = reader.recent_events(target, related)
        except Exception as exc:  # a decision never waits on its Events
            reason = getattr(exc, "reason", None) if isinstance(exc, AutonomicError) else None
            kind = reason if isinstance(reason, str) else "Unexpected"
            self.decisions.metrics.errors.labels(kind=kind).inc()
            if kind not in self._events_said:
                self._events_said.add(kind)
                log.warning(
                    "Events of %s not read for its decision (%s): %s; the decision goes on "
                    "without them (said once per reason)",
                    target,
                    kind,
                    exc,
                )
            return {"events": unread_events(str(exc) or type(exc).__name__)}
        return {"events": fold_events(read.events, about=read.about, left_out=read.left_out)}

    def _hand_off_text(
        self,
        runbook: Runbook,
        target: ObjectRef,
        reason_code: str,
        denial: str,
        window: HoldWindow | None,
        state: GuardState,
        counted_as: ObjectRef | None = None,
    ) -> str:
        """What happened and what to do, with the decisions behind it (ids and how each
        ended), for the escalation, ``explain`` and ``approvals``. ``counted_as``: the
        workload whose pods a per-target limit on a Pod counts."""
        name = runbook.name
        if reason_code == PDB_BLOCKS:
            return (
                f"{name} will not drain {target}: {denial}. Nothing was done, not even the "
                "cordon: the drain could not finish while the budget refuses its evictions. "
                f"Once it allows them, `kubectl drain {target.name} --ignore-daemonsets "
                "--delete-emptydir-data` does the drain, or the runbook does while its "
                "trigger still holds."
            )
        if reason_code == "DisruptionBudget":
            runs = self._runs_text(window, with_target=True) if window is not None else ""
            spent = f" (decisions behind them: {runs})" if runs else ""
            return (
                f"{name} will not act on {target} now: {denial}{spent}. Nothing was done. "
                f"Handle {target} yourself if it cannot wait, and find out why so many pods "
                "needed restarting; raise safety.maxPodsDisruptedPerHour only if "
                "disrupting that many pods an hour is safe."
            )
        if window is None:
            return (
                f"{name} will not act on {target}: {denial}. Nothing was done; handle it "
                f"yourself (`autonomic why {target}`), or widen the runbook's blastRadius if "
                "acting on this much is safe."
            )
        until = to_utc_text(window.until)
        if reason_code == "CircuitOpen":
            breaker = state.breakers.get(name, BreakerState())
            failed = self.ledger.decisions(
                kind="remediation",
                type_prefix=f"{name}/",
                status=["failed", "undone"],
                limit=max(breaker.consecutive_failures, 1),
            )
            runs = ", ".join(
                f"{short_id(r.id)} on {r.subject} {r.status}" for r in reversed(failed)
            )
            return (
                f"{name} failed {breaker.consecutive_failures} times in a row (decisions "
                f"{runs or 'not in the ledger'}); its circuit breaker opened at "
                f"{to_utc_text(window.started_at)} and it will not act on any target until "
                f"it half-opens at {until}, when one trial run may go. Handle {target} "
                f"yourself, and find out why its runs fail (`autonomic explain ID`)."
            )
        runs = self._runs_text(window, with_target=reason_code != "TargetRateLimit")
        span = format_duration(
            limit.within
            if reason_code == "TargetRateLimit"
            and (limit := runbook.spec.guards.max_actions_per_target) is not None
            else HOUR
        )
        n = len(window.runs)
        if reason_code == "TargetRateLimit" and counted_as is not None:
            runs = self._runs_text(window, with_target=True)
            return (
                f"{name} has acted on the pods of {counted_as} {n} times in the last {span} "
                f"(decisions {runs}); it will not act on them again until {until}: the "
                f"cause is probably elsewhere. Find out why its pods ({target} now) keep "
                f"coming back (`autonomic why {counted_as}`)."
            )
        if reason_code == "TargetRateLimit":
            return (
                f"{name} has acted on {target} {n} times in the last {span} (decisions "
                f"{runs}); it will not act on it again until {until}: the cause is "
                f"probably elsewhere. Find out why {target} keeps coming back "
                f"(`autonomic why {target}`)."
            )
        who = f"{name} has" if reason_code == "RunbookRateLimit" else "the runbooks have"
        limit_n = (
            runbook.spec.guards.max_actions_per_hour
            if reason_code == "RunbookRateLimit"
            else self.limits.max_actions_per_hour
        )
        return (
            f"{who} acted {n} times in the last hour (limit {limit_n}; decisions {runs}); "
            f"{name} will not act on {target} until {until}. Handle {target} yourself, "
            "and find out why so much needed acting on."
        )

    def _runs_text(self, window: HoldWindow, *, with_target: bool) -> str:
        """The decisions behind the runs a limit counted, oldest first: ``1a2b3c4d
        verified`` (with the runbook and target where they differ)."""
        found: dict[tuple[str, str], list[DecisionRecord]] = {}
        said = []
        for run in window.runs:
            where = (run.runbook, str(run.target))
            if where not in found:
                found[where] = [
                    r
                    for r in self.ledger.decisions(
                        kind="remediation",
                        type_prefix=f"{run.runbook}/",
                        subject=str(run.target),
                        status=RAN_STATUSES,
                        limit=50,
                    )
                    if r.subject == str(run.target)
                ]
            # The newest decision made before the run started, not named already.
            record = next((r for r in found[where] if r.created_at <= run.at), None)
            if record is not None:
                found[where].remove(record)
            text = f"{short_id(record.id)} {record.status}" if record else "(no decision found)"
            said.append(f"{run.runbook} on {run.target}: {text}" if with_target else text)
        return ", ".join(said)

    def _instant(self, query: str) -> float | NoValue | None:
        """The query's number now, or why there is none: no data (``NoData``), or
        Prometheus not read (``PrometheusUnavailable``: down, timed out, an HTTP 5xx or
        429, a garbled answer; ``PrometheusFrozen``: it has stored nothing new for
        minutes, so the read is not made; ``QueryRejected``: it refused the query), which
        a precondition and a check report as such, not as no data. Reads that fail for
        Prometheus's sake are told to the log as one outage (``_read_failed``), not one
        warning per read."""
        if self.query is None:
            return None
        try:
            value = self.query(query)
        except TransientError as exc:
            code = PROMETHEUS_FROZEN if exc.reason == PROMETHEUS_FROZEN else PROMETHEUS_UNAVAILABLE
            self._read_failed(query, exc)
            return NoValue(code, str(exc))
        except PermanentError as exc:
            self._read_answered()  # Prometheus answered: the query is at fault
            log.warning("Prometheus refused %r: %s", query, exc)
            return NoValue(QUERY_REJECTED, str(exc))
        self._read_answered()
        if isinstance(value, float | int) and math.isnan(value):
            return NoValue(NO_DATA, "its value is NaN")
        return value

    def _read_failed(self, query: str, exc: TransientError) -> None:
        """A runbook's read failed for Prometheus's sake (``exc``): logged as one outage
        (``agent.outages``), a warning as it begins, then a summary at most every
        ``READS_SUMMARY_EVERY`` seconds with how many reads failed, by reason; each read
        at DEBUG. A read not made because Prometheus is not storing is counted in
        ``autonomic_prometheus_request_failures_total`` here (the reader counts the
        requests it made that failed)."""
        if exc.reason == PROMETHEUS_FROZEN:
            self.decisions.metrics.prometheus_failures.labels(reason=PROMETHEUS_FROZEN).inc()
        log.debug("runbook read of %r from Prometheus failed: %s", query, exc)
        now = self.clock.now()
        told = self._reads_story.failed(now, exc.reason)
        if told is not None:
            say_failing(
                log,
                told,
                now,
                exc,
                exc.reason,
                what="runbook reads from Prometheus",
                meanwhile="Runbooks with PromQL preconditions are held back and verification "
                "checks stay undecided until it answers",
                every=self._reads_story.summary_every,
            )

    def _read_answered(self) -> None:
        """A runbook's read was answered: the line that an outage is over, if one was
        told."""
        now = self.clock.now()
        told = self._reads_story.answered(now)
        if told is None:
            return
        log.info(
            "runbook reads from Prometheus are answered again, after %s failing (since %s; "
            "%d read%s failed: %s)",
            span(now - told.since),
            to_utc_text(told.since),
            told.failures,
            "" if told.failures == 1 else "s",
            ", ".join(f"{reason} {n}" for reason, n in sorted(told.by.items())),
        )

    # ------------------------------------------------------------- execution
    def execute_approved(self, snapshot: ClusterSnapshot | None = None) -> None:
        """Run the approved decisions, each on its own: one whose handling raises an
        error that is not a ``TransientError`` is logged and counted, and the others go
        on (``_execute_failed``). A ``TransientError`` (the ledger, the API server or
        Prometheus away) ends the cycle, as before: the next one tries again."""
        seen: set[str] = set()
        approved = self.ledger.decisions(kind="remediation", status=["approved"], limit=500)
        # Newest first, as read; decisions made at one instant (one cycle's) in the order
        # of their subjects, not in whatever order the database's index gave them.
        approved.sort(key=lambda r: (-r.created_at, r.subject, r.id))
        for record in approved:
            if self._shutting_down():
                return  # left approved: the next leader runs it
            if is_hold(record.decision_type):
                continue  # a storm or a hand-off: handed to a person, nothing to run
            seen.add(record.id)
            try:
                self.execute(record, snapshot)
            except TransientError:
                raise
            except Exception as exc:
                self._execute_failed(record, exc)
            else:
                self._failing.pop(record.id, None)
        for gone in set(self._failing) - seen:  # closed, or claimed: not counted on
            del self._failing[gone]

    def _execute_failed(self, record: DecisionRecord, exc: Exception) -> None:
        """One approved decision's handling raised (not a ``TransientError``): logged with
        its traceback, counted in ``autonomic_errors_total`` (``Unexpected``, or the
        reason of a ``PermanentError``), and tried again at the next cycle, the other
        decisions going on meanwhile. Failed with the same error at ``EXECUTE_ATTEMPTS``
        cycles in a row, it is closed (``_close_failing``). A run already claimed is left
        to the crash recovery as it is (``settle_unsettled``, ``recover``): it is not in
        the next cycle's approved decisions, and what it wrote is never repeated."""
        error = f"{type(exc).__name__}: {exc}"
        kind = exc.reason if isinstance(exc, PermanentError) else "Unexpected"
        self.decisions.metrics.errors.labels(kind=kind).inc()
        last = self._failing.get(record.id)
        times = last[1] + 1 if last is not None and last[0] == error else 1
        self._failing[record.id] = (error, times)
        trace = None if isinstance(exc, PermanentError) else exc
        with decision_context(record.id):
            if times < EXECUTE_ATTEMPTS:
                log.error(
                    "approved decision %s (%s on %s) could not be handled (%d of %d cycles "
                    "in a row with this error; tried again at the next cycle, the other "
                    "approved decisions go on): %s",
                    record.id,
                    record.decision_type,
                    record.subject,
                    times,
                    EXECUTE_ATTEMPTS,
                    error,
                    exc_info=trace,
                )
                return
            log.error(
                "approved decision %s (%s on %s) could not be handled at %d cycles in a "
                "row, with the same error: closed as failed if its run was not claimed, "
                "and handed to a person: %s",
                record.id,
                record.decision_type,
                record.subject,
                times,
                error,
                exc_info=trace,
            )
            try:
                self._close_failing(record, error, times)
            except TransientError:
                raise
            except Exception:
                log.exception(
                    "approved decision %s could not be closed; tried again at the next cycle",
                    record.id,
                )

    def _close_failing(self, record: DecisionRecord, error: str, times: int) -> None:
        """Close an approved decision whose handling failed ``times`` cycles in a row with
        ``error``, before its run was claimed: ``failed``, not judged (the error says
        nothing about the runbook), nothing written to the cluster, and handed to a
        person with the error, as a failed run is. The escalation is promised with the
        status, in one transaction (``_closing``). A decision whose run was claimed
        meanwhile is not closed here: its run is the crash recovery's."""
        key = record.incident_key or record.id
        if self.ledger.execution(key) is not None:
            log.warning(
                "approved decision %s: its run %s was claimed; left to the recovery",
                record.id,
                key,
            )
            return
        now = self.clock.now()
        why = (
            f"not executed: handling it failed at {times} remediation cycles in a row, "
            f"before its run was claimed, with {error} (a bug in Autonomic, a stored "
            "proposal it cannot read, or a runbook changed since so that its plan cannot "
            "be built); nothing was written to the cluster"
        )
        escalation = (
            f"remediation failed: {why}. Autonomic does not try it again: do by hand what "
            f"it proposed if it is still needed (`autonomic explain {short_id(record.id)}` shows "
            "the plan), and report the error (the leader's log has its traceback)"
        )
        closing = self._closing(record, "failed", why, escalation)
        if not self.ledger.transition(record.id, ["approved"], "failed", now, feedback=[closing]):
            return
        self._failing.pop(record.id, None)
        self.decisions.metrics.decisions.labels(
            kind=record.kind,
            decision_type=record.decision_type,
            route=record.route,
            outcome="failed",
        ).inc()
        self._promise(record, escalation)
        self._progress(record, why, final=True)
        self._send_promised(record, escalation, now)

    def execute(self, record: DecisionRecord, snapshot: ClusterSnapshot | None = None) -> str:
        """Run one approved decision's plan. Returns the execution's new status.
        ``snapshot``: the cycle's, if it has one (read only if needed, otherwise)."""
        proposal = record.proposal
        key = record.incident_key or record.id
        now = self.clock.now()
        runbook = proposal["runbook"]
        target = _ref(proposal["target"])
        with decision_context(record.id):
            if self._shutting_down():
                return "waiting-shutdown"  # not claimed: still approved, for the next leader
            rb = self.runbooks.get(runbook)
            if rb is not None and proposal["operations"]:
                held = self._hold(record, rb, target, now, snapshot)
                if held is not None:
                    return held
            if not self.ledger.claim_execution(
                key, record.id, runbook, str(target), self.executor.owner, now
            ):
                held = self._claimed_by_another(record, key, now)
                if held is not None:
                    return held
                # Its own run, started already (by another replica, or by this process
                # before a crash): that run goes on there, and its recovery settles it.
                self.ledger.transition(record.id, ["approved"], "executing", now)
                return "claimed-elsewhere"
            self.ledger.transition(record.id, ["approved"], "executing", now)
            if rb is not None and proposal["operations"]:
                self._start_guards(record, rb, target, now)
            self._progress(record, f"executing: {'; '.join(proposal['diff']) or 'notify'}")
            return self._run_steps(record, key, start=0)

    def _claimed_by_another(self, record: DecisionRecord, key: str, now: float) -> str | None:
        """After ``record``'s claim of its incident's run (``key``) was refused: None when
        the run there is its own (a claim of this decision before a crash, or on another
        thread: it goes on as that claim's run). Otherwise the run belongs to another
        decision, and this one has no run to go to ``executing`` with: nothing would ever
        settle it (the recovery visits runs, not decisions). It is left approved, for the
        next cycle to claim again (``waiting-claim``), while that run is about to give
        the key up: closed with nothing written just after the refusal, or its decision
        closed so and its run's closing cut short (a crash or an error between the two:
        the recovery finishes it, ``_recover_run``), and not for longer than
        ``approved_max_wait`` since its approval. Else it is closed as ``superseded``,
        nothing written, the reason naming the decision whose run holds the key: a run
        still going on (or that wrote, so that its key is never given up), as when an
        alert was taken in again while the run of the decision before it was still open,
        or one an older release closed with an intent recorded between its closing's
        look for intents and its closing (``Ledger.close_unstarted`` now makes the two
        one step). It counted nothing in the guards (its claim failed before
        ``_start_guards``), so nothing is given back: the in-flight record of the
        runbook on the target is the other run's."""
        execution = self.ledger.execution(key)
        if execution is not None and execution["decision_id"] == record.id:
            return None
        if self._frees_soon(key, execution):
            waited = now - record.updated_at
            if waited <= self.limits.approved_max_wait:
                log.info(
                    "%s: decision %s waits for the run of decision %s to give its key up "
                    "(closed with nothing written); claimed again next cycle",
                    key,
                    short_id(record.id),
                    short_id(str(execution["decision_id"])) if execution else "?",
                )
                return "waiting-claim"
        return self._supersede(record, self._key_held(key, execution), now)

    def _frees_soon(self, key: str, execution: Mapping[str, Any] | None) -> bool:
        """Whether the run under ``key`` (another decision's) gives the key up by itself:
        gone, or closed with nothing written, or its decision closed so with the run's
        own closing still to come (``_close_unstarted`` cut short), and no write-ahead
        intent under it (``Ledger.claim_execution`` takes no key that has one)."""
        if execution is None:
            return True
        if self.ledger.intents(execution_key=key):
            return False
        if execution["status"] in CLOSED_UNWRITTEN:
            return True
        holder = self.ledger.get_decision(str(execution["decision_id"]))
        return holder is not None and holder.status in CLOSED_UNWRITTEN

    def _key_held(self, key: str, execution: Mapping[str, Any] | None) -> str:
        """Why a decision whose claim of ``key`` was refused is not executed."""
        if execution is None:
            return f"its incident's run ({key}) could not be claimed, and has no run since"
        holder = str(execution["decision_id"])
        wrote = ", with a write-ahead intent" if self.ledger.intents(execution_key=key) else ""
        return (
            f"its incident's run ({key}) is held by decision {short_id(holder)} (its run "
            f"{execution['status']}{wrote}), which claimed it first; one run per incident "
            f"(`autonomic explain {short_id(holder)}` shows that decision)"
        )

    def _close_stranded(self) -> int:
        """Close the decisions left ``executing`` with no run of their own: an older
        release moved a decision whose claim was refused, the key held by another
        decision's run, to ``executing`` all the same, and nothing settles such a one.
        Closed as ``execute`` now closes them (``_claimed_by_another``), ``superseded``,
        nothing written, once (the status's compare-and-set). How many were closed."""
        now = self.clock.now()
        closed = 0
        for record in self.ledger.decisions(kind="remediation", status=["executing"], limit=1000):
            if is_hold(record.decision_type):
                continue
            key = record.incident_key or record.id
            execution = self.ledger.execution(key)
            if execution is not None and execution["decision_id"] == record.id:
                continue
            try:
                with decision_context(record.id):
                    closed += self._close_superseded(
                        record, self._key_held(key, execution), now, expected=("executing",)
                    )
            except TransientError:
                raise
            except Exception as exc:
                self._each_failed(
                    f"the closing of decision {record.id}, left executing with no run",
                    exc,
                    "it stays executing until the next recovery; the others go on",
                )
        return closed

    def _hold(
        self,
        record: DecisionRecord,
        runbook: Runbook,
        target: ObjectRef,
        now: float,
        snapshot: ClusterSnapshot | None = None,
    ) -> str | None:
        """Guards that must hold when an approved decision is about to run, not only when
        it was decided: an answer can come long after the question, and several approved
        decisions can be due in one cycle. Returns why it does not run now, or None.

        Paused, inside a change freeze, a trigger storm, its runbook's circuit breaker
        open (or its half-open trial taken), the hourly limits (per runbook and global)
        reached, no room in the disruption budget, or the runbook's concurrency (one
        drain at a time) or the target taken by another run: it waits, still approved,
        but not for longer than ``approved_max_wait`` since its approval: then it
        expires and a person is told, because what was approved described the cluster
        of then. The target acted on since the decision was made (by another run or a
        newer decision), deleted, or changed by someone else: the plan is stale, so it
        is superseded and a person is told (``_superseded_why``). So it is, first, when
        the alert that started it has resolved (``_signal_over``), and, last, a drain a
        PodDisruptionBudget now keeps from finishing (``_budgets_block``).
        """
        over = self._signal_over(record, runbook, target, snapshot)
        if over is not None:
            return self._supersede(record, over, now, signal_over=True)
        moved_on = self._canary_moved_on(record, target)
        if moved_on is not None:
            return self._supersede(record, moved_on, now, reason="CanaryMovedOn")
        state, _ = self.guard_state()
        waiting = self._waiting(state, runbook, target, now, record.proposal)
        if waiting is not None:
            waited = now - record.updated_at
            if waited <= self.limits.approved_max_wait:
                return waiting
            text = self._held_past_max_wait(
                f"approved {format_duration(waited)} ago and held back since by a "
                f"guard ({waiting.removeprefix('waiting-')})",
                "an approval that old",
            )
            if self.ledger.transition(
                record.id,
                ["approved"],
                "expired",
                now,
                feedback=[self._closing(record, "expired", text, text)],
            ):
                self._expired(record, text, now)
            return "expired-waiting"
        unwanted = self._superseded_why(record, target, state)
        if unwanted is not None:
            return self._supersede(record, unwanted, now)
        blocked = self._budgets_block(record, snapshot)
        if blocked is None:
            return None
        why, escalation = blocked
        return self._supersede(record, why, now, escalation=escalation)

    def _canary_moved_on(self, record: DecisionRecord, target: ObjectRef) -> str | None:
        """Why the canary a decision started by a canary verdict acts on no longer runs
        the release the verdict judged (``planning.canary_moved_on``), read from the
        cluster now, or None. Its plan was checked, but a decision asked of a person can
        be approved hours later, after the canary was rolled out again or deleted and
        created again: the rollback of the release judged bad would then roll back the
        new one. A target that is gone is left to ``_gone_or_changed``."""
        verdict = record.reason_code.removeprefix("canary:")
        signal = record.evidence.get("signal")
        if verdict == record.reason_code or not isinstance(signal, Mapping):
            return None
        if target.kind not in ("Deployment", "StatefulSet"):
            return None
        canary = self._target_now(target)
        # Gone, or there but unreadable: ``_gone_or_changed`` says which.
        if not isinstance(canary, WorkloadState):
            return None
        return canary_moved_on(verdict, signal, target, canary)

    def _recurred(self, existing: DecisionRecord, signal: Signal) -> bool:
        """Whether ``signal`` is its incident come back after ``existing``, the incident's
        decision, was closed because its pod or node condition was over before its first
        write (``_condition_over``): then the incident is decided again. A crash loop or
        image pull is one incident per revision, and the judge of "over" (a pod Ready for
        10 minutes) may be early: without this the revision's crash loop coming back would
        be a duplicate for good. Only conditions: an alert that fires again has a new start,
        hence a new incident, and an old copy of it must stay a duplicate; so does an
        anomaly incident that comes back (it opens anew on its series, with a new start),
        and the loop's copy of an old one, sent again after a restart, must stay one too."""
        if existing.status != "superseded" or not existing.reason_code.startswith("kubernetes:"):
            return False
        for row in self.ledger.feedback_for(existing.id):
            detail = row.get("detail") or {}
            if row["outcome"] == "superseded" and detail.get("signal_over"):
                return bool(signal.observed_at > row["created_at"])
        return False

    def _replaced_since(self, existing: DecisionRecord, planned: Plan) -> str | None:
        """Whether ``planned`` is about another object than ``existing``, its incident's
        decision, closed with nothing written because the object it was about was
        replaced (same name, another uid: ``ReplacedSincePlan``): then the incident is
        decided again at once, about the new object, as a new incident would be; returns
        the sentence the new decision's reason carries, or None. Nothing was done, and
        the new object shows the same problem (the same alert still firing, or a pod
        condition keyed by its workload's revision): without this it stayed a duplicate
        for good. Only when the plan read another uid than the closed one for an object
        both write: a snapshot that still shows the old object plans the same uids, and
        stays a duplicate (no question per cycle)."""
        if existing.status != "superseded":
            return None
        before = {
            op.target: op.planned_uid
            for op in map(operation_from_dict, existing.proposal.get("operations") or ())
            if op.planned_uid
        }
        now_read = {op.target: op.planned_uid for op in planned.operations if op.planned_uid}
        changed = sorted(
            str(ref) for ref, uid in now_read.items() if before.get(ref) not in (None, uid)
        )
        if not changed:
            return None
        if not self._closed_replaced(existing):
            return None
        return (
            f"decision {short_id(existing.id)} about it was not carried out: "
            f"{', '.join(changed)} was replaced (deleted and created again under its name) "
            "since its plan; this one is about the new object"
        )

    def _requeue_alert(self, record: DecisionRecord) -> bool:
        """After ``record``, started by an Alertmanager alert, was closed because the
        object it was about was replaced: its stored alert is made pending again, so
        that the next cycle takes it in once more and decides about the new object if
        the alert still fires (``_replaced_since``). A firing alert is otherwise taken
        in once per start: one that never resolved would never be seen again. A failure
        here (the ledger briefly away) is made up for by the next cycle's re-ask scan
        (``_replaced_after``), a crash before this by the recovery too
        (``_requeue_replaced``). Whether the alert was made pending."""
        if self.inbox is None or not record.reason_code.startswith("alert:"):
            return False
        signal = record.evidence.get("signal")
        fingerprint = signal.get("fingerprint") if isinstance(signal, Mapping) else None
        if not isinstance(fingerprint, str) or not fingerprint:
            return False
        # Its latest start: one that resolved and fired again while this decision was
        # open was a duplicate of it (``OpenDecision``), and is decided now.
        starts = [row.starts_at for row in self.ledger.alerts_of(fingerprint)]
        return bool(starts) and self.ledger.requeue_alert(fingerprint, max(starts))

    def _reask_hold(self, existing: DecisionRecord, runbook: Runbook) -> _ReaskHold | None:
        """How long the incident of ``existing``, its latest decision, is held before it
        may be decided again (``_ask_again`` says by which rule); None when it is not
        held for a re-ask (its decision was not closed so, or a "no" stands for good)."""
        quiet = max(
            self.limits.reask_after,
            runbook.spec.guards.cooldown_per_target,
            self.limits.target_cooldown,
        )
        if existing.status == "expired":
            what = "expired with nothing done"
        elif existing.status == "rejected" and self.limits.reask_after_reject is not None:
            quiet, what = max(quiet, self.limits.reask_after_reject), "was rejected"
        elif existing.status == "escalated":
            what = ""
        else:
            return None
        until = existing.updated_at + quiet
        judged = self._judged_not_the_fix(existing)
        judged_hold = 0.0
        if judged is not None:
            if self.limits.reask_after_reject is None:
                return None
            judged_hold = max(quiet, self.limits.reask_after_reject)
            until = max(until, float(judged["created_at"]) + judged_hold)
        return _ReaskHold(until, quiet, what, judged, judged_hold)

    def _requeue_held_alerts(self, snapshot: ClusterSnapshot, now: float) -> None:
        """Make pending again each stored alert that still fires and whose incident is
        due to be looked at again, for this cycle to take it in (``Ledger.requeue_alert``).

        A firing alert is taken in once per start (fingerprint and ``startsAt``):
        Alertmanager's re-sends only move its last delivery on. So an alert's incident
        held for a re-ask (its question expired, was rejected, or it was escalated:
        ``_reask_hold``) would never be seen again, however long it fired, while a pod
        condition is seen at every cycle. Due once its quiet period has ended, then again
        every ``REASK_RETRY`` while it stays held (a guard or a precondition that held
        the new decision back when it was taken in, for a reason ``_retried`` says
        passes). (An alert whose decision was closed because the object it was about was
        replaced since its plan is made pending by ``_requeue_alert`` at the closing; if
        that failed, here, once (``_replaced_after``); and by the recovery after a crash
        in between: ``_requeue_replaced``.) Derived from the ledger at every cycle, so a
        restart keeps the schedule. Only alerts ``firing`` counts (not resolved, their
        ``endsAt`` not passed, delivered lately: ``AlertInbox.firing_rows``), handled
        and not given up."""
        if self.inbox is None:
            return
        rows = [
            row
            for row in self.inbox.firing_rows()
            if row.handled_at is not None and row.given_up_at is None
        ]
        firing = {(row.fingerprint, row.starts_at) for row in rows}
        self._not_retried = {k: v for k, v in self._not_retried.items() if k[:2] in firing}
        # The longest waiting first: those past the bound are taken in by the next cycles.
        rows.sort(key=lambda r: r.handled_at or 0.0)
        # Each alert's runbooks and targets first, so that their incidents' latest
        # decisions are read in one query, not one per alert: an error is kept for the
        # alert's turn below, as if it had come then.
        matched: list[tuple[Signal, tuple[Match, ...]] | Exception] = []
        for row in rows:
            try:
                signal = signal_from_json(row.signal)
                result = self._scoped(signal, match(self.runbooks.values(), signal, snapshot))
                matched.append((signal, result.matches))
            except Exception as exc:
                matched.append(exc)
        scan = _RequeueScan()
        keys = {
            incident_key(found.runbook.name, found.target, one[0])
            for one in matched
            if not isinstance(one, Exception)
            for found in one[1]
        }
        try:
            latest = self.ledger.latest_for_incidents(sorted(keys))
        except Exception as exc:  # each alert reads its own, as it would have
            log.debug("latest decisions of %d incidents not read at once: %s", len(keys), exc)
        else:
            scan.latest = {key: latest.get(key) for key in keys}
        requeued = 0
        for row, one in zip(rows, matched, strict=True):
            if requeued >= REQUEUES_PER_CYCLE:
                log.debug("%d stored alerts made pending this cycle: the rest next cycle", requeued)
                break
            assert row.handled_at is not None
            try:
                if isinstance(one, Exception):
                    raise one
                due = self._alert_due_again(
                    one[0], one[1], row.handled_at, now, (row.fingerprint, row.starts_at), scan
                )
            except TransientError:
                raise
            except Exception as exc:
                # A row this cannot read (as ``pending`` would log it) waits for its next
                # start: the other alerts go on.
                said = self._requeue_failing.get(row.fingerprint)
                error = f"{type(exc).__name__}: {exc}"
                if said != error:
                    log.warning(
                        "stored alert %s (fingerprint %s) could not be looked at for a re-ask: %s",
                        row.name,
                        row.fingerprint,
                        error,
                    )
                self._requeue_failing[row.fingerprint] = error
                continue
            self._requeue_failing.pop(row.fingerprint, None)
            if due is not None and self.ledger.requeue_alert(row.fingerprint, row.starts_at):
                requeued += 1
                log.info(
                    "stored alert %s (fingerprint %s, firing from %s) is taken in again: %s",
                    row.name,
                    row.fingerprint,
                    to_utc_text(row.starts_at),
                    due,
                )

    def _alert_due_again(
        self,
        signal: Signal,
        matches: Sequence[Match],
        handled_at: float,
        now: float,
        start: tuple[str, float],
        scan: _RequeueScan,
    ) -> str | None:
        """Why the stored firing alert ``signal`` (as stored, with the runbooks and
        targets it matches now; ``start``: its fingerprint and startsAt), last taken in
        at ``handled_at``, is due to be taken in again now (``_requeue_held_alerts``);
        None when it is not."""
        for found in matches:
            key = incident_key(found.runbook.name, found.target, signal)
            if key in scan.latest:
                existing = scan.latest[key]
            else:
                existing = self.ledger.latest_for_incident(key)
            if existing is None:
                if now - handled_at >= REASK_RETRY:
                    why = self._retried_denial(
                        found.runbook, found.target, handled_at, start, now, scan
                    )
                    if why is not None:
                        return why
                continue
            if existing.status == "superseded":
                why = self._replaced_after(existing, found, handled_at, start)
                if why is not None:
                    return why
                continue
            hold = self._reask_hold(existing, found.runbook)
            if hold is None or now < hold.until:
                continue
            if handled_at < hold.until or (
                now - handled_at >= REASK_RETRY
                and self._reask_retried(
                    found.runbook, found.target, hold.until, handled_at, start, scan
                )
            ):
                return (
                    f"decision {short_id(existing.id)} ({existing.status}) held its incident "
                    f"until {to_utc_text(hold.until)}"
                )
        return None

    def _replaced_after(
        self, existing: DecisionRecord, found: Match, handled_at: float, start: tuple[str, float]
    ) -> str | None:
        """Why the firing alert ``start`` (fingerprint, startsAt), last taken in at
        ``handled_at``, is due again because ``existing``, its incident's decision, was
        closed since then as its object was replaced since the plan (``_closed_replaced``);
        None when it is not. ``_requeue_alert`` makes the alert pending at that closing;
        this takes it in when that did not happen (the ledger briefly failing, or a crash
        in between), once: taken in, the alert's ``handled_at`` passes the closing. A
        decision superseded for another reason is read once per handling of the alert
        (``_not_retried``), not at every cycle."""
        if existing.updated_at <= handled_at:
            return None
        key = (*start, found.runbook.name, str(found.target))
        if self._not_retried.get(key) == handled_at:
            return None
        if not self._closed_replaced(existing):
            self._not_retried[key] = handled_at
            return None
        return (
            f"decision {short_id(existing.id)} about it was closed at "
            f"{to_utc_text(existing.updated_at)}: its object was replaced since its plan"
        )

    def _reask_retried(
        self,
        runbook: Runbook,
        target: ObjectRef,
        until: float,
        handled_at: float,
        start: tuple[str, float],
        scan: _RequeueScan,
    ) -> bool:
        """Whether the firing alert ``start`` (fingerprint, startsAt), taken in again at
        ``handled_at`` once its incident's quiet period had ended (at ``until``) and
        decided nothing then, is worth taking in again: by the same rule as its first
        handling (``_retried``), read from what was held back of ``runbook`` on
        ``target`` since ``until``. A duplicate (nothing kept there) is tried again."""
        key = (*start, runbook.name, str(target))
        if self._not_retried.get(key) == handled_at:
            return False
        held = self._held_back_since(runbook, target, until, scan)
        if held is None or _retried(held):
            return True
        self._not_retried[key] = handled_at
        return False

    def _held_back_since(
        self, runbook: Runbook, target: ObjectRef, since: float, scan: _RequeueScan
    ) -> HeldBack | None:
        """The latest reason ``runbook`` on ``target`` decided nothing seen since
        ``since`` (``Ledger.held_back``, every sighting read once per scan); None when
        none was."""
        name, subject = runbook.name, str(target)
        if (name, subject) not in scan.held_back:
            scan.held_back[name, subject] = self.ledger.held_back(runbook=name, subject=subject)
        # Newest first, so those seen since ``since`` lead: as ``since=since`` would read
        # them (the same bound on their number included).
        return next(
            (
                row
                for row in scan.held_back[name, subject]
                if row.last_seen >= since and row.subject == subject
            ),
            None,
        )

    def _retried_denial(
        self,
        runbook: Runbook,
        target: ObjectRef,
        handled_at: float,
        start: tuple[str, float],
        now: float,
        scan: _RequeueScan,
    ) -> str | None:
        """Why the incident of ``runbook`` on ``target`` that the firing alert ``start``
        (fingerprint, startsAt), last taken in at ``handled_at``, started without a
        decision is worth taking in again (``_requeue_held_alerts``); None when it is not.

        What held it back is read from what `autonomic why` keeps (``held_back``, the
        runbook and target's latest reason seen since the alert started): worth it for
        the reasons of ``RETRIED_SKIPS`` and every guard's denial but
        ``NOT_RETRIED_DENIALS``. Duplicates are not kept there: none seen since the
        start is a duplicate of another decision of the runbook on the target
        (``OpenDecision``; or a reason whose row is not written yet), worth it once the
        runbook's latest decision on the target is no longer open, nor held for a re-ask
        (``_reask_hold``: another alert's question a person just rejected is not asked
        again through this one). Retrying writes nothing there but the reason's count
        and last sighting."""
        name, subject = runbook.name, str(target)
        if self._not_retried.get((*start, name, subject)) == handled_at:
            return None
        latest = self._held_back_since(runbook, target, start[1], scan)
        if latest is not None:
            if _retried(latest):
                if self._target_waits(runbook, target, now, scan):
                    return None
                return f"{name} on {subject} was held back ({latest.reason_code}); tried again"
            self._not_retried[start[0], start[1], name, subject] = handled_at
            return None
        if self._target_waits(runbook, target, now, scan):
            return None
        return f"{name} on {subject} decided nothing yet; tried again"

    def _target_waits(
        self, runbook: Runbook, target: ObjectRef, now: float, scan: _RequeueScan
    ) -> bool:
        """Whether ``runbook``'s latest decision on ``target`` (another incident's: an
        alert's retry would be its duplicate) is open, or closed with nothing done and
        held for a re-ask (``_reask_hold``). Read once per scan (``scan``)."""
        subject = str(target)
        known = scan.waits.get((runbook.name, target.kind, subject))
        if known is None:
            known = scan.waits[runbook.name, target.kind, subject] = self._target_waits_now(
                runbook, target, now
            )
        return known

    def _target_waits_now(self, runbook: Runbook, target: ObjectRef, now: float) -> bool:
        subject = str(target)
        other = next(
            (
                record
                for record in self.ledger.decisions(
                    kind="remediation",
                    decision_type=f"{runbook.name}/{target.kind}",
                    subject=subject,
                    limit=20,
                )
                if record.subject == subject
            ),
            None,
        )
        if other is None:
            return False
        if other.status in OPEN_STATUSES:
            return True
        hold = self._reask_hold(other, runbook)
        return hold is not None and now < hold.until

    def _closed_replaced(self, existing: DecisionRecord) -> bool:
        """Whether ``existing`` was closed because the object it was about was replaced
        since its plan (its closing row says so: ``_closing``'s ``replaced``)."""
        return any(
            row["outcome"] == "superseded" and (row.get("detail") or {}).get(REPLACED)
            for row in self.ledger.feedback_for(existing.id)
        )

    def _ask_again(
        self, existing: DecisionRecord, runbook: Runbook, signal: Signal, now: float
    ) -> tuple[str | None, str]:
        """Whether ``signal``'s incident, whose latest decision ``existing`` was closed
        with nothing done for a reason that does not outlive the problem, is decided again
        now: a question that expired unanswered (or an approved run held back past
        ``approved_max_wait``, also ``expired``), once ``limits.reask_after`` (or the
        runbook's cooldown on its target, when longer) has passed since it closed; a
        person's rejection, once ``limits.reask_after_reject`` has, and never sooner
        (never when None); a decision routed ``escalate`` (its confidence below the ask
        threshold, or its runbook's cap), once the quiet period of an expired question has
        passed since it was escalated: its new decision says since when the incident goes
        on (``_incident_since``). A person's hindsight verdict that what one of the
        incident's decisions proposed was not the fix (``_judged_not_the_fix``) holds an
        expired or escalated incident like a rejection: not raised again before
        ``limits.reask_after_reject`` has passed since the verdict (never when None); a
        verdict that it was the fix holds nothing. And only while the problem goes on
        (``_goes_on``): the incident key of a pod condition stays the same for the
        workload's revision, so without this an OOMKill that goes on for days after one
        unanswered question is never raised again. Returns the sentence the new
        decision's reason carries (None: still a duplicate) and, for a duplicate, when it
        may be asked again (for its message; "" when never)."""
        hold = self._reask_hold(existing, runbook)
        if hold is None:
            return None, ""
        until, quiet, what, judged = hold.until, hold.quiet, hold.what, hold.judged
        closed = existing.updated_at
        if now < until:
            again = "raised" if existing.status == "escalated" else "asked"
            return None, f"; {again} again from {to_utc_text(until)} if it goes on"
        if not _goes_on(existing, signal):
            return None, ""
        if judged is not None:
            return (
                f"still going on: decision {short_id(str(judged['decision_id']))} was judged not "
                f"the fix by {judged['actor']} at {to_utc_text(float(judged['created_at']))}, "
                f"{format_duration(hold.judged_hold)} or more ago, and nothing was done since",
                "",
            )
        if existing.status == "escalated":
            return (
                f"still going on since {to_utc_text(_incident_since(existing))}: decision "
                f"{short_id(existing.id)} escalated it at {to_utc_text(closed)}, "
                f"{format_duration(quiet)} or more ago, and nothing was done since",
                "",
            )
        return (
            f"still going on: decision {short_id(existing.id)} about it {what} at "
            f"{to_utc_text(closed)}, {format_duration(quiet)} or more ago",
            "",
        )

    def _judged_not_the_fix(self, existing: DecisionRecord) -> dict[str, Any] | None:
        """The hindsight verdict that holds the incident of ``existing`` like a "no": the
        newest one a person gave on any of its decisions (``Ledger.incident_hindsight``:
        the escalation's "It was not" button, ``autonomic feedback --wrong``), if it says
        what was proposed was not the fix; None when there is none, or the newest says it
        was (that holds nothing: the incident is raised again as if unjudged)."""
        verdict = self.ledger.incident_hindsight(existing.incident_key or existing.id)
        return verdict if verdict is not None and verdict["outcome"] == "wrong" else None

    def _held_past_max_wait(self, waited: str, what: str) -> str:
        """The sentence that closes a run held back longer than ``approved_max_wait``
        before its first write: ``waited``, how long and by what; ``what``: what no
        longer describes the cluster."""
        return (
            f"{NOT_EXECUTED}: {waited}, longer than safety.approvedMaxWait "
            f"({format_duration(self.limits.approved_max_wait)}); {what} no longer describes "
            "the cluster, so a person decides again; nothing was written to the cluster"
        )

    def _expired(self, record: DecisionRecord, text: str, now: float) -> None:
        """Say and count a decision just closed ``expired`` for being held back past
        ``approved_max_wait`` (``text``): never executed, so not a verification, neither
        right nor wrong (its runbook's track record and calibration learn nothing from
        it, ``agent.verdicts.NOT_EXECUTED``). Escalated: a person decides again (the
        escalation promised in the closing's row, ``_closing``, written with the status)."""
        self._promise(record, text)
        self.decisions.metrics.decisions.labels(
            kind=record.kind,
            decision_type=record.decision_type,
            route=record.route,
            outcome="not-executed",
        ).inc()
        self._progress(record, text, final=True)
        log.warning("decision %s: %s", short_id(record.id), text)
        self._send_promised(record, text, now)

    def _supersede(
        self,
        record: DecisionRecord,
        unwanted: str,
        now: float,
        *,
        escalation: str | None = None,
        signal_over: bool = False,
        reason: str | None = None,
    ) -> str:
        """Close an approved decision not claimed yet as ``superseded``, nothing written,
        and say why in its thread (``autonomic explain`` shows it too), and that nothing
        was written, whatever overtook it; ``escalation``: also hand it to a person with
        these words. ``signal_over``: closed because its signal ended (kept with the
        reason: the incident may then be decided again if it comes back, ``_recurred``).
        ``reason``: a reason code kept with the closing (``CanaryMovedOn``)."""
        self._close_superseded(
            record, unwanted, now, escalation=escalation, signal_over=signal_over, reason=reason
        )
        return "superseded"

    def _close_superseded(
        self,
        record: DecisionRecord,
        unwanted: str,
        now: float,
        *,
        escalation: str | None = None,
        signal_over: bool = False,
        reason: str | None = None,
        expected: Sequence[str] = ("approved",),
    ) -> bool:
        """``_supersede``'s closing, from a status in ``expected``; whether it closed it
        (False: closed or moved on by someone else first)."""
        why = f"not executed: {unwanted}; nothing was written to the cluster"
        closing = self._closing(record, "superseded", why, escalation, signal_over)
        if reason is not None:
            closing = replace(closing, detail={**(closing.detail or {}), "reason": reason})
        if not self.ledger.transition(
            record.id,
            list(expected),
            "superseded",
            now,
            feedback=[closing],
        ):
            return False
        self._promise(record, escalation)
        self._progress(record, why, final=True)
        self._send_promised(record, escalation, now)
        return True

    def _closing(
        self,
        record: DecisionRecord,
        outcome: str,
        why: str,
        escalation: str | None,
        signal_over: bool = False,
        replaced: bool = False,
    ) -> Feedback:
        """The ``execution`` row that says why a decision was closed, written with its
        status; with ``escalation``, the escalation promised there (``PROMISED``), which
        ``_resume_promised`` sends if a crash or an error comes before it is sent;
        ``signal_over``: closed because its signal ended (``_recurred`` reads it);
        ``replaced``: because the object it was about was replaced (``_replaced_since``)."""
        detail: dict[str, Any] = {"why": why}
        if escalation is not None:
            detail[PROMISED] = escalation
        if signal_over:
            detail["signal_over"] = True
        if replaced:
            detail[REPLACED] = True
        return Feedback(record.id, "execution", outcome, "autonomic", detail)

    def _promise(self, record: DecisionRecord, escalation: str | None) -> None:
        """Remember a closing just written that promised an escalation: an error before
        it is sent (``_send_promised``) leaves it to the next cycle (``_resume_promised``)."""
        if escalation is not None:
            self._unsent.add(record.id)

    def _send_promised(self, record: DecisionRecord, escalation: str | None, now: float) -> None:
        """Send the escalation a closing promised (``_closing``), once it is written."""
        if escalation is None:
            return
        self.decisions.approvals.escalate(record.id, escalation, now)
        self._unsent.discard(record.id)

    def _budgets_block(
        self, record: DecisionRecord, snapshot: ClusterSnapshot | None = None
    ) -> tuple[str, str] | None:
        """Before the first write (the cordon) of a drain: the PodDisruptionBudgets read
        again, as its plan read them. A budget that tightened since the plan (set to
        ``maxUnavailable: 0``, or its other pods gone down) and now would keep the drain
        from finishing closes the run unstarted, as a run no longer wanted: cordoning and
        waiting out the timeout would only end INCOMPLETE. Returns (why, for the
        decision's thread; the escalation, the plan's words), or None to go on (a budget
        that only waits does not hold it: the drain's rounds ask again). Pods on the node
        that could not be read, other than those its plan saw (and a person approved
        over), close it so too, handed to a person: a budget covering one may refuse its
        eviction, and whether one would is not known (``drain_blocked_by``).
        ``snapshot``: the cycle's, if it has one (the cluster is read now otherwise)."""
        drain = next(
            (
                op
                for op in map(operation_from_dict, record.proposal["operations"])
                if isinstance(op, Drain)
            ),
            None,
        )
        if drain is None or not isinstance(self.reader, DisruptionBudgetReader):
            return None
        if snapshot is None or snapshot.budgets is None:
            # As the cycle's snapshot reads them: what could not be read held as such.
            unread: list[UnreadObject] = []
            pods, nodes = self._pods_and_nodes(unread)
            snapshot = ClusterSnapshot(
                pods=tuple(pods),
                nodes=tuple(nodes),
                budgets=self.reader.read_disruption_budgets(),
                taken_at=self.clock.now(),
                unread=tuple(unread),
            )
        unreadable = (
            snapshot.unread_why(drain.target) if snapshot.node(drain.target.name) is None else None
        )
        if unreadable is not None:
            # Not a node gone (that is superseded before): one there that could not be
            # read, whose pods and budgets the drain cannot be judged on.
            why = (
                f"{drain.target}, read again before the cordon, could not be read: "
                f"{unreadable}. What the drain would evict from it is not known, so the "
                "node was not cordoned"
            )
            escalation = (
                f"{record.proposal['runbook']} will not drain {drain.target} as approved "
                f"(decision {short_id(record.id)}): the node could not be read just before the "
                f"cordon ({unreadable}). Nothing was done, not even the cordon."
            )
            return why, escalation
        budgets = record.evidence.get("disruption_budgets")
        seen = budgets.get("unreadPods") if isinstance(budgets, Mapping) else None
        recheck = drain_blocked_by(
            drain, snapshot, [str(n) for n in seen] if isinstance(seen, list) else ()
        )
        if recheck.unread is not None and not recheck.blocking:
            # Not a pass: a budget covering a pod nobody could read may refuse it.
            why = (
                f"the pods on {drain.target}, read again before the cordon: "
                f"{recheck.unread}. Whether the drain could finish is not known, so the "
                "node was not cordoned"
            )
            escalation = (
                f"{record.proposal['runbook']} will not drain {drain.target} as approved "
                f"(decision {short_id(record.id)}): {recheck.unread}. Nothing was done, not "
                "even the cordon: it is yours to judge. Once the pods can be read (or you "
                f"have checked their budgets), `kubectl drain {drain.target.name} "
                "--ignore-daemonsets --delete-emptydir-data` does the drain."
            )
            return why, escalation
        blocked = recheck.blocking
        if not blocked:
            return None
        denial = "; ".join(blocked)
        if recheck.unread is not None:
            denial += f"; and {recheck.unread}"
        why = (
            "the PodDisruptionBudgets, read again before the cordon, now keep the drain "
            f"from finishing (they did not when it was decided): {denial}. The node was "
            "not cordoned"
        )
        escalation = (
            f"{record.proposal['runbook']} will not drain {drain.target} as approved "
            f"(decision {short_id(record.id)}): {denial}. Nothing was done, not even the cordon: "
            "the budgets, read again before it, changed since the drain was decided, and "
            "it could not finish while they refuse its evictions. Once they allow them, "
            f"`kubectl drain {drain.target.name} --ignore-daemonsets "
            "--delete-emptydir-data` does the drain."
        )
        return why, escalation

    def _signal_over(
        self,
        record: DecisionRecord,
        runbook: Runbook,
        target: ObjectRef,
        snapshot: ClusterSnapshot | None = None,
    ) -> str | None:
        """Why the signal that started ``record`` no longer holds before its first write,
        or None. Three are checked (docs/decisions.md, "A signal gone before the first
        write"). An Alertmanager alert the inbox stored: it resolved (or is no longer
        counted as firing: ``AlertInbox.ended``) and has not fired again since, and no
        other alert firing now would start ``runbook`` on the same target (another
        container's, or another pod's of the workload: those were left to this run as
        duplicates, and would not start one of their own). A pod or node condition: the
        object shows it over, since after the decision and steady (``_condition_over``).
        An anomaly incident: it recovered after the decision, and no other series'
        incident open now would start ``runbook`` on the same target (``_anomaly_over``).
        The other signals are not: a canary's settling is a change to its target by the
        delivery tool (``_gone_or_changed``), and a forecast breach has no stored end. A
        run part written is never stopped for this: what it wrote would have to be
        undone, and the undo rules are not made for that. ``snapshot``: the cluster,
        read only if it must be (a condition, or another alert or anomaly to resolve to
        its target) and none is given."""
        if record.reason_code.startswith("kubernetes:"):
            return self._condition_over(record, target, snapshot)
        if record.reason_code.startswith("anomaly:"):
            return self._anomaly_over(record, runbook, target, snapshot)
        if self.inbox is None or not record.reason_code.startswith("alert:"):
            return None
        signal = record.evidence.get("signal")
        fingerprint = signal.get("fingerprint") if isinstance(signal, Mapping) else None
        if not isinstance(fingerprint, str) or not fingerprint:
            return None
        end = self.inbox.ended(fingerprint)
        if end is None:
            return None
        names = {t.alertname for t in runbook.spec.triggers if isinstance(t, AlertTrigger)}
        for row in self.inbox.firing_rows():
            if row.name not in names or row.fingerprint == fingerprint:
                continue
            try:
                other = signal_from_json(row.signal)
            except (KeyError, TypeError, ValueError, AttributeError):
                continue  # unreadable: ``AlertInbox.pending`` says so
            if matching_trigger(runbook, other) is None:
                continue
            snapshot = snapshot or self.snapshot()
            if resolve_target(runbook.spec.target, other, snapshot).target == target:
                log.info(
                    "decision %s: its alert %s (fingerprint %s) resolved, but %s still "
                    "fires on %s: going on",
                    short_id(record.id),
                    end.name,
                    fingerprint,
                    other.describe(),
                    target,
                )
                return None
        return (
            f"the alert {end.name} (fingerprint {fingerprint}) resolved at "
            f"{to_utc_text(end.at)} ({end.how}), before the first write, and no other alert "
            f"that starts {runbook.name} on {target} fires: there is nothing left for it to "
            "remediate"
        )

    def _anomaly_over(
        self,
        record: DecisionRecord,
        runbook: Runbook,
        target: ObjectRef,
        snapshot: ClusterSnapshot | None,
    ) -> str | None:
        """Why the anomaly incident that started ``record`` is over (``None``: it is not,
        or cannot be told): the anomaly loop's saved state of its series (the ledger's
        ``anomaly/SERIES``) has it ended ``recovered`` after the decision, and no other
        series' incident open now would start ``runbook`` on ``target`` (another pod's
        series, or another query's: those were left to this run as duplicates,
        ``OpenDecision``, and would not start one of their own). Its series silent, the
        incident still open, a newer one on the series, or an end not saved with how: it
        goes on, and the log says why, once a change (``agent.anomaly_end.judge``). A
        decision recorded before the series was kept with its signal is not judged."""
        signal = record.evidence.get("signal")
        seen: Mapping[str, Any] = signal if isinstance(signal, Mapping) else {}
        series, since = seen.get("series"), seen.get("since")
        if not isinstance(series, str) or not isinstance(since, int | float):
            return None
        now = self.clock.now()
        saved, version = self.ledger.guard(f"anomaly/{series}")
        judged = judge_anomaly(
            series, float(since), saved if version else None, record.created_at, now
        )
        if not judged.over:
            self._say_going_on(record, f"its anomaly incident is not over: {judged.why}")
            return None
        metrics = sorted({t.metric for t in runbook.spec.triggers if isinstance(t, AnomalyTrigger)})
        for metric in metrics:
            for key in self.ledger.guard_keys(f"anomaly/{metric}{{"):
                other_series = key.removeprefix("anomaly/")
                if other_series == series or not may_name(other_series, target):
                    continue
                value, version = self.ledger.guard(key)
                other = open_signal(other_series, value, now) if version else None
                if other is None or matching_trigger(runbook, other) is None:
                    continue
                snapshot = snapshot or self.snapshot()
                if resolve_target(runbook.spec.target, other, snapshot).target == target:
                    since_other = other.since if other.since is not None else now
                    self._say_going_on(
                        record,
                        f"{judged.why}, but {other_series} has an incident open since "
                        f"{to_utc_text(since_other)} that starts {runbook.name} on {target}",
                    )
                    return None
        self._going_on.pop(record.id, None)
        return (
            f"{judged.why}, before the first write, and no other anomaly incident open now "
            f"starts {runbook.name} on {target}: there is nothing left for it to remediate"
        )

    def _say_going_on(self, record: DecisionRecord, why: str) -> None:
        """Log that ``record`` goes on though its signal was looked at again, and why:
        once each time the reason changes, not every cycle it is held."""
        if self._going_on.get(record.id) == why:
            return
        log.info("decision %s (%s): %s; going on", short_id(record.id), record.reason_code, why)
        self._going_on[record.id] = why
        self._going_on.move_to_end(record.id)
        while len(self._going_on) > 1000:
            self._going_on.popitem(last=False)

    def _condition_over(
        self, record: DecisionRecord, target: ObjectRef, snapshot: ClusterSnapshot | None
    ) -> str | None:
        """Why the pod or node condition that started ``record`` is over (``None``: it is
        not, or cannot be told), judged by ``condition_over`` on the object it was seen on
        as read now. A decision recorded before the object was kept with its signal is
        not judged. When in doubt it goes on, and the log says why, once a change."""
        signal = record.evidence.get("signal")
        seen: Mapping[str, Any] = signal if isinstance(signal, Mapping) else {}
        subject = seen.get("object")
        if not isinstance(subject, Mapping):
            return None
        since = seen.get("since")
        judged = condition_over(
            record.reason_code.removeprefix("kubernetes:"),
            _ref(subject),
            target,
            since=float(since) if isinstance(since, int | float) else None,
            seen=seen,
            decided_at=record.created_at,
            snapshot=snapshot or self.snapshot(),
        )
        if judged is None:
            return None
        if judged.over:
            self._going_on.pop(record.id, None)
            return (
                f"{judged.why}, before the first write: there is nothing left for it to remediate"
            )
        self._say_going_on(record, f"its condition is not over: {judged.why}")
        return None

    def _superseded_why(
        self, record: DecisionRecord, target: ObjectRef, state: GuardState
    ) -> str | None:
        """Why ``record``'s plan no longer describes the cluster, so that its first write
        is no longer wanted, or None: another run acted on the target (for a Pod, on its
        workload or another of its pods) or wrote an object the plan writes after the
        decision was made, a newer decision on
        the target ran, or the target was deleted or changed by someone else since
        (``_gone_or_changed``). ``state`` without this run's own record."""
        # A dry run changed nothing: the plan still describes the cluster.
        stub_on = _ref(record.proposal["counted_as"]) if record.proposal.get("counted_as") else None
        # What the plan writes: its target and any other object (a promoted canary's
        # stable Deployment), whichever run wrote it since.
        writes = {
            target,
            *(operation_from_dict(op).target for op in record.proposal.get("operations") or ()),
        }
        acted = [
            r
            for r in state.actions
            if r.at >= record.created_at
            and not r.dry_run
            and (
                any(ref in writes for ref in r.objects)
                or (stub_on is not None and stub_on in (r.target, r.counted_on))
                or (r.counted_as is not None and r.counted_as == target)
            )
        ]
        if acted:
            return (
                f"{acted[-1].runbook} acted on {acted[-1].target} after this decision was "
                "made, so its plan no longer describes the cluster"
            )
        for other in self.ledger.decisions(
            kind="remediation",
            subject=str(target),
            since=record.created_at,
            status=RAN_STATUSES,
            limit=20,
        ):
            if (
                other.id != record.id
                and other.subject == record.subject
                and other.created_at > record.created_at
                and other.proposal.get("operations")
                and other.proposal.get("mode") != "dryRun"
            ):
                return (
                    f"a newer decision on {target}, {short_id(other.id)} "
                    f"({other.proposal.get('runbook', other.decision_type)}, {other.status}), "
                    "was carried out after this one was made, so its plan no longer "
                    "describes the cluster"
                )
        return self._gone_or_changed(record, target)

    def _gone_or_changed(self, record: DecisionRecord, target: ObjectRef) -> str | None:
        """Why a workload or node target no longer is what ``record`` was decided on, read
        from the cluster now: deleted, or changed by someone other than Autonomic and the
        cluster's own controllers (a person, kubectl, a GitOps tool: a rollout, a scale)
        after the decision was made; None if neither (or a kind not read so). A target
        that exists but could not be read (the adapter's ``BadObjectError``) is not said
        to be deleted: what it is now is not known, so the plan is not carried out
        either, and the reason says it could not be read, with the adapter's message.

        "After" is judged against the change the plan read (``human_changed_at``), both
        times from the API server's clock: compared with the decision's time, from this
        process's clock, an API server clock ahead would date the rollout that caused
        the incident after the decision, and a rollback would be superseded, the broken
        release left up. A proposal stored before it was kept is judged against the
        decision's time."""
        if target.kind not in ("Deployment", "StatefulSet", "Rollout", "Node"):
            return None
        found = self._target_now(target)
        if isinstance(found, str):
            return _unreadable_target(target, found)
        if found is None:
            return f"{target} no longer exists: it was deleted after this decision was made"
        changed = found.managed_by_human_at
        if "human_changed_at" in record.proposal:
            seen = record.proposal["human_changed_at"]
            if changed is None or (seen is not None and changed <= float(seen)):
                return None
        elif changed is None or changed <= record.created_at:
            return None
        # Times said as times, not "ago": the sentence is kept, and read later.
        after = (
            f"{format_duration(changed - record.created_at)} after this decision was made "
            f"at {to_utc_text(record.created_at)}"
            if changed > record.created_at
            else f"after the change its plan read, this decision made at "
            f"{to_utc_text(record.created_at)}"
        )
        return (
            "someone other than Autonomic and the cluster's controllers (a person, kubectl, "
            f"a GitOps tool) changed {target} at {to_utc_text(changed)}, {after}, so its "
            "plan no longer describes the cluster: leaving it to them"
        )

    def _waiting(
        self,
        state: GuardState,
        runbook: Runbook,
        target: ObjectRef,
        now: float,
        proposal: Mapping[str, Any],
    ) -> str | None:
        """Why an approved decision cannot start now (a guard holds it), or None."""
        if state.paused:
            return "waiting-paused"
        if any(contains(window, now) for window in self.limits.freeze_windows):
            return "waiting-freeze"
        if storm_gate(state, self.limits, now) is not None:
            return "waiting-storm"
        breaker = state.breakers.get(runbook.name, BreakerState())
        status = breaker_status(breaker, runbook.spec.guards.circuit_breaker, now)
        if status == "open" or (status == "half-open" and breaker.trial_running):
            return "waiting-circuit-breaker"
        hour = [r for r in state.actions if now - HOUR < r.at <= now and r.counts_for(runbook.name)]
        if (
            sum(1 for r in hour if r.runbook == runbook.name)
            >= runbook.spec.guards.max_actions_per_hour
            or len(hour) >= self.limits.max_actions_per_hour
        ):
            return "waiting-rate-limit"
        running = [r for r in state.in_flight if r.runbook == runbook.name]
        stub = _plan_stub(runbook, target, proposal, now)
        # The target taken: by a run on it, or, for a Pod, on its workload or another
        # of its pods (and for a workload, on one of its pods), as ``TargetBusy`` judges.
        if len(running) >= runbook.spec.guards.max_concurrent or any(
            acts_on_same(r, stub) for r in state.in_flight
        ):
            return "waiting-concurrency"
        if disruption_gate(stub, state, self.limits, now) is not None:
            return "waiting-disruption-budget"
        return None

    def _run_steps(self, record: DecisionRecord, key: str, *, start: int) -> str:
        """Write the plan's steps from ``start``, one after the other. A pause that comes
        while a step is being written lets that step finish and starts no other: the pause
        is read again, afresh, before each step after the first (``_stop``).

        A ``TransientError`` part-way (the ledger failing after a step, before the next
        step's intent or before the run moves on to its verification) leaves the run
        ``running`` with no intent pending: it is noted (``_interrupted``), and the next
        cycles carry it on (``settle_unsettled``) rather than the next restart."""
        try:
            return self._write_steps(record, key, start=start)
        except TransientError:
            self._interrupted.add(key)
            raise

    def _write_steps(self, record: DecisionRecord, key: str, *, start: int) -> str:
        proposal = record.proposal
        operations = [operation_from_dict(op) for op in proposal["operations"]]
        dry_run = proposal["mode"] == "dryRun"
        for step in range(start, len(operations)):
            if step > start and self._shutting_down():
                return self._left_at_shutdown(record, key, f"before step {step}")
            if step > start and (why := self._paused_afresh()) is not None:
                return self._stop(record, key, step, why)
            outcome = self.executor.apply(
                key,
                step,
                operations[step],
                decision_id=record.id,
                runbook=proposal["runbook"],
                reason_code=record.reason_code.replace(":", "-")[:100],
                message=f"Autonomic runbook {proposal['runbook']}: {record.reason}"[:900],
                dry_run=dry_run,
            )
            if outcome.status == "unread":
                return self._defer(record, key, step, outcome.message)
            self._deferred.pop(key, None)
            if outcome.status == "not_leader":
                return "paused-not-leader"
            if outcome.status == "stopping":
                return self._left_at_shutdown(record, key, f"before step {step}")
            if outcome.status == "already_recorded":
                # Someone else took this step up between our read and our intent (a
                # recovery at a new term, on another job's thread or another replica):
                # its writer goes on with it. Failing here would undo and escalate a run
                # that is being written.
                log.info(
                    "%s: step %d already has a write-ahead intent, recorded by another "
                    "run of decision %s; leaving the step to it",
                    key,
                    step,
                    short_id(record.id),
                )
                return "claimed-elsewhere"
            if outcome.status == "unsettled":
                self._progress(record, f"step {step}: {outcome.message}; looking again next cycle")
                return "unsettled"
            if outcome.status == "draining":
                # The drain goes on in later cycles (``settle_unsettled``), one round of
                # evictions each, so other decisions are not held up meanwhile.
                self._progress(record, f"step {step}: {outcome.message}")
                return "draining"
            if outcome.reason == REPLACED_SINCE_PLAN and not self.ledger.intents(execution_key=key):
                # The object the incident was about was deleted and another created under
                # its name since the plan (or its question): the decision is not about
                # the new one. Nothing of the run is written, so it is closed as not
                # executed, neither right nor wrong; a step after one written fails
                # (below), not judged either.
                closed = self._close_unstarted(
                    record, key, f"step {step}: {outcome.message}", replaced=True
                )
                if closed == "superseded":
                    self._requeue_alert(record)
                return closed
            if outcome.status not in ("applied", "dry_run"):
                return self._fail(
                    record,
                    key,
                    f"step {step} failed: {outcome.message}",
                    judged=outcome.reason not in NOT_A_VERDICT,
                )
        now = self.clock.now()
        for note in proposal.get("notifications", []):
            self._progress(record, note)
        if dry_run:
            self.ledger.set_execution_status(key, ["running"], "dry-run", now)
            self.ledger.transition(record.id, ["executing"], "done", now)
            self._finish_guards(record, succeeded=True)
            return "dry-run"
        verification = _verification(proposal.get("verification"))
        if verification is None:
            self.ledger.set_execution_status(key, ["running"], "succeeded", now)
            self.decisions.record_outcome(
                record.id, right=True, status="done", detail={"note": "no verification defined"}
            )
            self._finish_guards(record, succeeded=True)
            return "succeeded"
        progress = start_verification(verification, now)
        self.ledger.put_guard(f"verify/{key}", _progress_to_json(progress), 0, now)
        self.ledger.set_execution_status(key, ["running"], "verifying", now)
        self.ledger.transition(record.id, ["executing"], "verifying", now)
        return "verifying"

    def _defer(self, record: DecisionRecord, key: str, step: int, error: str) -> str:
        """Step ``step``'s target could not be read before writing, for a reason that may
        pass (``error``: the API server away or timing out, the watch cache not synced,
        a Deployment's controller not yet at its spec). Nothing of the step is written
        and no intent recorded, so the run is not failed for it: it stays ``running``,
        its decision ``executing`` and its target taken (``TargetBusy``), and the next
        cycles try the step again: a run with nothing written as a run whose first
        intent the ledger could not record (``_resume_unwritten``), a run part written
        as one the ledger cut off between two steps (``_interrupted``). Each retry
        judges again what such a retry judges (the guards, the signal, the target).

        Within ``approved_max_wait`` of the claim (step 0) or of the step before it:
        past that the plan no longer describes the cluster, and the run is failed and
        escalated with the last error (``_defer_over``). Said once (the log, the
        decision's thread, a feedback row ``autonomic explain`` shows), not each cycle.
        Returns ``deferred``, or the status the run was closed with."""
        since = self._deferred_since(key, step)
        held = self._deferred.get(key)
        if held is None or held.step != step:
            held = self._deferred[key] = _Deferred(step, since, error)
        held.since, held.error = since, error
        closed = self._defer_over(record, key)
        if closed is not None:
            return closed
        if step > 0:
            self._interrupted.add(key)  # carried on by ``settle_unsettled``
        if not held.told:
            self._say_deferred(record, key, held)
        else:
            log.debug("%s: step %d still cannot be read: %s", key, step, error)
        return "deferred"

    def _deferred_since(self, key: str, step: int) -> float:
        """When the wait of a deferred step began, from the ledger (so a restart keeps
        it): the claim for step 0, when the step before it was settled for a later one."""
        if step > 0:
            before = [i for i in self.ledger.intents(execution_key=key) if i.step < step]
            if before:
                return max(i.updated_at for i in before)
        execution = self.ledger.execution(key)
        return float(execution["created_at"]) if execution is not None else self.clock.now()

    def _say_deferred(self, record: DecisionRecord, key: str, held: _Deferred) -> None:
        """Say once why a run waits (``_defer``): in the log, and, unless a process said
        it before a restart, as a feedback row (``autonomic explain``) and in its thread."""
        operations = record.proposal["operations"]
        op = operations[held.step].get("op", "?") if held.step < len(operations) else "?"
        until = held.since + self.limits.approved_max_wait
        written = (
            "nothing is written yet"
            if held.step == 0
            else f"{held.step} of its {len(operations)} steps are written"
        )
        text = (
            f"waiting: step {held.step} ({op}) not written yet, {held.error}; {written}. "
            "Tried again at each remediation cycle until "
            f"{to_utc_text(until)} (safety.approvedMaxWait, "
            f"{format_duration(self.limits.approved_max_wait)}); after that it is failed "
            "and handed to a person"
        )
        said = any(
            row["kind"] == "execution"
            and row["outcome"] == "deferred"
            and (row.get("detail") or {}).get("step") == held.step
            for row in self.ledger.feedback_for(record.id)
        )
        if not said:
            self.ledger.add_feedback(
                record.id,
                "execution",
                "deferred",
                "autonomic",
                self.clock.now(),
                {"why": text, "step": held.step, "error": held.error, "until": until},
            )
            self._progress(record, text)
        log.warning("%s: decision %s %s", key, short_id(record.id), text)
        held.told = True

    def _defer_over(self, record: DecisionRecord, key: str) -> str | None:
        """A deferred run (``_defer``) waited past ``approved_max_wait``: failed and
        handed to a person, as a step that failed is (undone as its runbook's
        ``onFailure.undo`` says, when steps before it were written), with the last
        read error; not judged (a read that failed says nothing about the runbook).
        Returns the status it was closed with, or None while it may wait on."""
        held = self._deferred.get(key)
        if held is None or not self.executor.is_leader():
            return None  # a replica that no longer leads closes nothing: the leader does
        waited = self.clock.now() - held.since
        if waited <= self.limits.approved_max_wait:
            return None
        del self._deferred[key]
        self._interrupted.discard(key)
        operations = record.proposal["operations"]
        op = operations[held.step].get("op", "?") if held.step < len(operations) else "?"
        return self._fail(
            record,
            key,
            f"step {held.step} ({op}) not written: its target could not be read before "
            f"writing for {format_duration(waited)} (since {to_utc_text(held.since)}), "
            "longer than safety.approvedMaxWait "
            f"({format_duration(self.limits.approved_max_wait)}); the last error: "
            f"{held.error}",
            judged=False,
        )

    def _shutting_down(self) -> bool:
        """Whether the daemon is shutting down (``Executor.stopping``): nothing new is
        started (a step, a run, an undo, a drain round), as during a pause."""
        return self.executor.stopping()

    def _left_at_shutdown(self, record: DecisionRecord, key: str, where: str) -> str:
        """Stop a run at a shutdown, ``where`` it got to: not a failure (nothing
        escalated or counted against its runbook; nothing undone, but for the undos of a
        failure already done when the shutdown came) and nothing recorded: the run stays
        as the ledger has it (``running`` with the intents of the steps written, or
        ``verifying``), which is what the next leader's recovery goes on from (with the
        first step that has no intent), as after a crash."""
        written = len(self.ledger.intents(execution_key=key))
        log.info(
            "%s: shutting down: run of decision %s stopped %s with %d of its %d steps "
            "begun; left %s for the next leader to go on with",
            key,
            short_id(record.id),
            where,
            written,
            len(record.proposal.get("operations") or ()),
            "running" if record.status == "executing" else record.status,
        )
        return "stopped-shutdown"

    def _paused_afresh(self) -> str | None:
        """``paused``, read from the ledger now, not from this instant's earlier read:
        a pause written while a step was being written holds the next one."""
        self._pause_read = None
        return self.paused()

    def _stop(self, record: DecisionRecord, key: str, step: int, why: str) -> str:
        """Stop a run before ``step`` because of a pause: the steps before it are written
        (the one in flight when the pause came finished), the rest are not started. The
        execution is recorded ``paused`` (the decision stays ``executing`` and its target
        taken, so nothing else acts on it), with a feedback row that says where it
        stopped; ``resume_stopped`` goes on with it once the pause ends. A crash meanwhile
        repeats and loses nothing: each step has one write-ahead intent, and a run still
        ``running`` is carried on by the next recovery from its first step with none."""
        now = self.clock.now()
        operations = record.proposal["operations"]
        total = len(operations)
        next_op = operations[step].get("op", "?")
        if not self.ledger.set_execution_status(key, ["running"], "paused", now):
            return "stopped-elsewhere"
        done = ", ".join(str(op.get("op", "?")) for op in operations[:step])
        text = (
            f"stopped by the pause with {step} of its {total} steps written ({done}); the "
            f"next, step {step} ({next_op}), was not started: {why}. It goes on "
            f"with step {step} when the pause ends (within safety.approvedMaxWait, "
            f"{format_duration(self.limits.approved_max_wait)}; after that it is closed "
            "as failed and handed to a person). `autonomic undo` refuses it while it is "
            "stopped (the decision is still executing): once the run has finished and is "
            "verified, it can be undone"
        )
        self.ledger.add_feedback(
            record.id,
            "execution",
            "paused",
            "autonomic",
            now,
            {"why": text, "next_step": step, "steps": total, "pause": why},
        )
        self._progress(record, text)
        log.warning("%s: %s", record.id, text)
        return "paused-between-steps"

    def resume_stopped(self) -> None:
        """Runs a pause stopped between steps (``_stop``), once no pause holds: each goes
        on with its next step, unless it was stopped longer than ``approved_max_wait``
        ago: the rest of a plan that old no longer describes the cluster, so the run is
        closed as failed, not judged (undone as its runbook's ``onFailure.undo`` says,
        never over a change someone made since) and handed to a person.

        Each on its own: one whose resumption raises an error that is not a
        ``TransientError`` is put back, logged and counted (``_each_failed``), and the
        others go on; before, it ended the cycle at every cycle."""
        if self.paused() is not None or not self.executor.is_leader():
            return
        for execution in self.ledger.executions(["paused"]):
            if self._shutting_down():
                return
            record = self.ledger.get_decision(execution["decision_id"])
            if record is None:
                continue
            key = execution["key"]
            now = self.clock.now()
            stopped = now - float(execution["updated_at"])
            if not self.ledger.set_execution_status(key, ["paused"], "running", now):
                continue  # another replica took it up
            try:
                self._resume_one(record, key, now, stopped)
            except Exception as exc:
                # Left ``running``, nothing would carry it on before the next leadership
                # term (``recover``): put back, the next cycle takes it up again. Its
                # steps' intents say what was written meanwhile (``_carry_on``).
                with contextlib.suppress(Exception):
                    self.ledger.set_execution_status(
                        key, ["running"], "paused", float(execution["updated_at"])
                    )
                if isinstance(exc, TransientError):
                    raise
                # Not for every cycle: the other stopped runs go on. Not closed: it is
                # part written, and taken up again at each cycle (closed as failed once
                # stopped past ``approved_max_wait``, if that closing itself goes through).
                self._each_failed(
                    f"resuming run {key} (decision {record.id}), stopped by a pause",
                    exc,
                    "it stays stopped, taken up again at the next cycle; the other runs go on",
                )

    def _resume_one(self, record: DecisionRecord, key: str, now: float, stopped: float) -> None:
        """Go on with one run ``resume_stopped`` took up (its execution ``running`` again)."""
        with decision_context(record.id):
            if stopped > self.limits.approved_max_wait:
                self._fail(
                    record,
                    key,
                    f"stopped by a pause between two steps {format_duration(stopped)} "
                    "ago, longer than safety.approvedMaxWait "
                    f"({format_duration(self.limits.approved_max_wait)}): the rest of "
                    "its plan no longer describes the cluster, so it is not carried on",
                    judged=False,
                )
                return
            self.ledger.add_feedback(
                record.id,
                "execution",
                "resumed",
                "autonomic",
                now,
                {"why": f"the pause ended; stopped {format_duration(stopped)} ago"},
            )
            self._progress(record, "the pause ended: going on with the next step")
            self._carry_on(record, key, "stopped by a pause")

    # ---------------------------------------------------------- verification
    def verify_due(self) -> None:
        """Check the runs being verified whose next check is due, each on its own: one
        whose check raises an error that is not a ``TransientError`` (a bug, a stored
        check that cannot be read) is logged and counted (``_each_failed``), and the
        others go on; before, it ended the cycle at every cycle, and the runs after it
        were never judged. It is checked again at the next cycle, not closed: failing it
        would undo what it wrote on account of Autonomic's error, not of the cluster's
        state. The error line at each cycle tells, and a run whose check keeps failing
        (``STUCK_CYCLES`` cycles in a row, ``STUCK_AFTER`` seconds) is handed to a person
        once (``_keeps_failing``)."""
        verifying = self.ledger.executions(["verifying"])
        keys = {str(execution["key"]) for execution in verifying}
        for key, step in [k for k in self._stuck if k[1] == "verification"]:
            if key not in keys:  # closed meanwhile
                del self._stuck[(key, step)]
        for execution in verifying:
            if self._shutting_down():
                return
            record = self.ledger.get_decision(execution["decision_id"])
            if record is None:
                continue
            key = str(execution["key"])
            with decision_context(record.id):
                try:
                    self._verify(record, key)
                except TransientError:
                    raise
                except Exception as exc:
                    self._each_failed(
                        f"verifying run {key} (decision {record.id})",
                        exc,
                        "it stays verifying, checked again at the next cycle; the other runs go on",
                    )
                    self._keeps_failing("verification", key, record.id, exc)
                else:
                    self._stuck.pop((key, "verification"), None)

    def _verify(self, record: DecisionRecord, key: str) -> str:
        now = self.clock.now()
        plan = _verification(record.proposal.get("verification"))
        stored, version = self.ledger.guard(f"verify/{key}")
        if plan is None or not stored:
            return "missing"
        progress = VerificationProgress(
            plan=plan,
            acted_at=float(stored["acted_at"]),
            status=stored["status"],
            consecutive_passes=int(stored["consecutive_passes"]),
            rounds=int(stored["rounds"]),
            reason_code=stored["reason_code"],
            message=stored["message"],
        )
        if now < float(stored.get("next_check_at", 0)):
            return progress.status
        snapshot = self.snapshot()
        results = [self._evaluate(check, snapshot) for check in plan.checks]
        progress = advance(progress, results, now)
        data = _progress_to_json(progress)
        data["next_check_at"] = now + plan.interval
        if not self.ledger.put_guard(f"verify/{key}", data, version, now):
            return "raced"
        if progress.status == "succeeded":
            self.ledger.set_execution_status(key, ["verifying"], "succeeded", now)
            self.decisions.record_outcome(
                record.id,
                right=True,
                status="verified",
                detail={"reason_code": progress.reason_code, "message": progress.message},
            )
            self._finish_guards(record, succeeded=True)
            self._progress(
                record,
                f"verified: {progress.message}",
                final=True,
                offer_undo=check_steps(record, self.ledger.intents(execution_key=key)) is None,
            )
            return "succeeded"
        if progress.status == "failed":
            # Prometheus not answering, or an object that could not be read, for the whole
            # window says nothing about the action: undone and escalated all the same, but
            # no "wrong" for the track record to learn (two would raise the runbook's auto
            # threshold).
            return self._fail(
                record,
                key,
                f"{progress.reason_code}: {progress.message}",
                judged=progress.reason_code not in NOT_READ,
            )
        return progress.status

    def _evaluate(self, check: RenderedCheck, snapshot: ClusterSnapshot) -> CheckResult:
        if check.kind == "promql":
            return evaluate_promql_check(check, self._instant(check.query or ""))
        if check.kind == "kubernetes":
            return evaluate_kubernetes_check(check, snapshot)
        return evaluate_alert_resolved(check, snapshot)

    # --------------------------------------------------------------- failure
    def _changed_by_others_at(self, target: ObjectRef) -> float | None:
        """When someone other than Autonomic and the cluster's controllers last changed
        ``target`` (a workload or node), as the cluster records it; None otherwise.
        Raises ``_Unreadable`` for a target that is there but could not be read: who
        changed it last is not known, which is not "nobody"."""
        found = self._target_now(target)
        if isinstance(found, str):
            raise _Unreadable(
                f"{target} could not be read: {found}. Whether someone other than Autonomic "
                "changed it since our action is not known, so our change is not undone"
            )
        return found.managed_by_human_at if found is not None else None

    def _target_now(self, target: ObjectRef) -> WorkloadState | NodeState | str | None:
        """``target`` (a workload or node) as the cluster holds it now; None when it is
        not there (or of a kind not read so); the adapter's reason when it is there but
        could not be read (``BadObject``)."""
        if target.kind in ("Deployment", "StatefulSet", "Rollout"):
            try:
                return self.reader.get_workload(target)
            except PermanentError as exc:
                if exc.reason != "BadObject":
                    raise
                return str(exc)
        if target.kind == "Node":
            unread: list[UnreadObject] = []
            nodes = (
                self.reader.list_nodes(unread=unread)
                if isinstance(self.reader, UnreadReporter)
                else self.reader.list_nodes()
            )
            node = next((n for n in nodes if n.ref == target), None)
            if node is None:
                return next((u.why for u in unread if u.ref.name == target.name), None)
            return node
        return None

    def _fail(self, record: DecisionRecord, key: str, why: str, *, judged: bool = True) -> str:
        """Undo what was applied (if allowed and wanted), record wrong, escalate.

        ``judged=False``: a step the cluster refused or could not take for reasons that
        say nothing about the proposal (``NOT_A_VERDICT``): the same undo and escalation,
        recorded as inconclusive, so the runbook's track record does not learn from an
        API outage or a missing permission.

        Not while the daemon is shutting down: the undo would be a new write, refused
        then, and the escalation would say it was not undone. The run is left as it is
        (``running`` or ``verifying``, its intents recorded) for the next leader, whose
        recovery or verification finds the failure again and handles it whole. So is
        a run whose undos the shutdown cuts off (the executor starts no undo once it is
        stopping): the steps undone so far stay ``undone``, counted by that failure.

        Nor while an undo of the run is not settled (``undo-unsettled``): a step left
        ``undoing`` (the API did not answer the undo, and the target could not be read
        back to tell whether it landed: a Deployment whose controller has not observed
        the undone template yet refuses a rollback's read). Closed now, the run would
        be escalated as not undone while its undo may well have landed. It stays open,
        its target taken, the rest of its undos not started; the next cycles settle
        the undo (``settle_unsettled``) and fail it again, counting that step undone
        (or, the undo not landed, refused).

        Only the leader fails a run (``not-leader``, nothing written, on a replica that
        no longer leads): a deposed replica's undo is refused, so it would close the run
        with its steps left in place, and the new leader, finding it closed, would never
        undo them; or it would close a run the new leader is carrying on. Asked again
        after the undos, which may have found the lease gone: the run stays open, the
        steps undone so far ``undone``, and the new leader's failure counts them.

        The run is closed by a compare-and-set (from ``running`` or ``verifying``): when
        another failure of it closed it first (``closed-elsewhere``), this one records
        nothing and tells nobody; the other did. Each undo is compare-and-set on its
        intent too, so a step is undone once."""
        if self._shutting_down():
            return self._left_at_shutdown(record, key, f"failing ({why})")
        if not self.executor.is_leader():
            return "not-leader"
        now = self.clock.now()
        proposal = record.proposal
        intents = self.ledger.intents(execution_key=key)
        if any(i.status == "undoing" for i in intents):
            return self._wait_for_undo(record, key, why, judged, intents, None)
        # Undone earlier (before a restart, or by a deposed replica's failure cut short
        # when it found its lease gone): it counts.
        undone = [f"step {i.step} undone earlier" for i in intents if i.status == "undone"]
        refused = None
        if proposal.get("undo_on_failure", True):
            applied = [i for i in intents if i.status == "applied"]
            target = _ref(proposal["target"])
            try:
                changed_at = self._changed_by_others_at(target) if applied else None
            except _Unreadable as exc:
                # Who changed it last is not known: not undone, as over someone's change.
                refused, applied, changed_at = str(exc), [], None
            state, _ = self.guard_state()
            for intent in reversed(applied):
                gate = check_undo(target, intent.created_at, changed_at, state)
                if not gate.allowed:
                    refused = gate.message
                    break
                result = self.executor.undo(
                    intent, reason_code="AutonomicUndo", message=f"undoing: {why}"
                )
                if result.status == "undone":
                    undone.append(result.message)
                elif result.status == "stopping":
                    # A shutdown came during the undos: the steps left are not undone
                    # here. Not closed: the next leader's failure undoes them and counts
                    # those undone so far, as when the lease goes (below).
                    return self._left_at_shutdown(record, key, f"undoing ({why})")
                elif result.status == "unsettled" and self._still_undoing(intent, key):
                    return self._wait_for_undo(
                        record,
                        key,
                        why,
                        judged,
                        self.ledger.intents(execution_key=key),
                        result.message,
                    )
                else:  # refused; or read back and not landed (the step ``applied`` again)
                    refused = result.message
        if not self.executor.is_leader():
            return "not-leader"
        status = "undone" if undone and refused is None else "failed"
        # What the escalation says of the cluster: it must not read "nothing to undo"
        # when a step was written and left as it is.
        # A failed drain may have written before it failed (its cordon, evictions): its
        # intent says so (``written``), and that is what stays.
        partial = [
            str((i.result or {})["written"]) for i in intents if (i.result or {}).get("written")
        ]
        written = bool(partial) or any(i.status in ("applied", "undone") for i in intents)
        if undone:
            left = f"undone ({'; '.join(undone)})"
        elif not written:
            left = "nothing was written to the cluster"
        elif partial and not any(i.status == "applied" for i in intents):
            left = f"not undone: {'; '.join(partial)} before it failed, and that stays"
        elif refused is not None:
            left = "not undone"
        elif not proposal.get("undo_on_failure", True):
            left = "not undone: the runbook's onFailure.undo is false, so what it wrote stays"
        else:
            left = "nothing to undo"
        message = f"{why}; {left}" + (f"; undo refused: {refused}" if refused else "")
        # The final word goes with the verdict (``said``): a crash before it rewrites
        # the question's message leaves it to the next daemon's first sync.
        detail = {"why": why, "undone": undone, "undo_refused": refused, "said": message}
        # The verdict goes with the run's closing, in its transaction: a crash before the
        # decision is closed leaves how it was judged for the recovery
        # (``_settle_finished_one``), which would otherwise count an API outage or a
        # missing permission as the runbook's wrong outcome.
        verdict = Feedback(
            record.id, "verification", "wrong" if judged else "inconclusive", "autonomic", detail
        )
        if not self.ledger.set_execution_status(
            key, ["running", "verifying"], status, now, verdict
        ):
            # Closed meanwhile by another failure of the same run (in this process, a
            # recovery on another thread when the lease came back, overlapping the last
            # term's cycle): that one records the outcome and escalates, once.
            self._undo_waits.pop(key, None)
            return "closed-elsewhere"
        self._undo_waits.pop(key, None)
        self.decisions.record_outcome(
            record.id, right=False if judged else None, status=status, detail=detail
        )
        # The circuit breaker counts a run that wrote (a dry run's steps as if written:
        # it stands for the run in act mode), or whose plan the cluster refused as wrong;
        # not one that wrote nothing for a reason that says nothing about its runbook.
        self._finish_guards(record, succeeded=False, counted=judged or _wrote(intents))
        self._progress(record, message, final=True)
        self.decisions.approvals.escalate(record.id, f"remediation failed: {message}", now)
        self.ledger.set_execution_status(key, [status], "escalated", now)
        self._breaker_opened(record)
        return status

    def _still_undoing(self, intent: Intent, key: str) -> bool:
        """Whether the ledger shows ``intent`` ``undoing`` still, on the leader: its undo
        was not answered and could not be read back (not one read back as not landed,
        which is ``applied`` again, nor one a replica that lost its lease left)."""
        if not self.executor.is_leader():
            return False
        return any(
            i.id == intent.id and i.status == "undoing"
            for i in self.ledger.intents(execution_key=key)
        )

    def _wait_for_undo(
        self,
        record: DecisionRecord,
        key: str,
        why: str,
        judged: bool,
        intents: Sequence[Intent],
        said: str | None,
    ) -> str:
        """Leave a failing run open while a step of it is ``undoing`` (``_fail``): noted
        (``_undo_waits``) for the cycle that fails it again once the undo is settled.
        ``said``: the undo's outcome just now, told once in the decision's thread;
        None when the step was found ``undoing`` (said when it was left so)."""
        self._undo_waits[key] = (why, judged)
        steps = ", ".join(str(i.step) for i in intents if i.status == "undoing")
        if said is not None:
            self._progress(
                record,
                f"failing ({why}); the undo of step {steps} is not settled yet: {said}; the "
                "run is closed once the next cycles have read back whether it landed",
            )
        log.info(
            "%s: decision %s fails, but the undo of step %s is not settled yet: left open "
            "until it is",
            key,
            short_id(record.id),
            steps,
        )
        return "undo-unsettled"

    # ------------------------------------------------------ undo on request
    def undo_requested(self) -> None:
        """Carry out the undos people asked for (``autonomic undo``), each through the
        executor's undo as an automatic one: write-ahead, compare-and-set, never over a
        change someone else made since. Only the leader writes: a replica that does not
        hold the lease leaves the request for the one that does.

        Each on its own: one whose handling raises an error that is not a
        ``TransientError`` (a bug, a stored request that cannot be read) is logged and
        counted (``_each_failed``), and the others go on; before, it ended the cycle at
        every cycle, before ``verify_due``. The request stays, tried again at the next
        cycle (and expired, not carried out, past its deadline if that goes through)."""
        if not self.executor.is_leader():
            return
        for record in self.ledger.decisions(kind="remediation", status=[UNDO_REQUESTED], limit=100):
            if self._shutting_down():
                return
            with decision_context(record.id):
                try:
                    self._undo_one(record)
                except TransientError:
                    raise
                except Exception as exc:
                    self._each_failed(
                        f"the undo requested of decision {record.id}",
                        exc,
                        "it stays requested, tried again at the next cycle; the other "
                        "requests go on",
                    )

    def _undo_one(self, record: DecisionRecord) -> str:
        """One requested undo: ``undone``, ``refused``, or ``waiting`` (try next cycle)."""
        request = latest_request(self.ledger, record.id) or {}
        detail = dict(request.get("detail") or {})
        actor = str(request.get("actor") or "a person")
        previous = str(detail.get("status_then") or "verified")
        asked = f"{actor}'s request" + (f" ({detail['reason']})" if detail.get("reason") else "")
        key = record.incident_key or record.id
        intents = self.ledger.intents(execution_key=key)
        if any(i.status in ("pending", "undoing") for i in intents):
            log.info("undo of %s waits: a step of it is being written or undone", record.id)
            return "waiting"
        applied = [i for i in intents if i.status == "applied"]
        undone = [f"step {i.step} undone" for i in intents if i.status == "undone"]
        deadline = request_deadline(request, self.limits.undo_request_ttl)
        requested_at = float(request.get("created_at") or 0.0)
        started = any(i.status == "undone" and i.updated_at >= requested_at for i in intents)
        if deadline is not None and self.clock.now() > deadline and not started:
            return self._expire_undo(record, request, deadline, previous)
        target = _ref(record.proposal["target"])
        refused = self._undo_refusal(record, applied, target)
        if refused == "waiting":
            log.debug("undo of %s waits: remediation is paused", record.id)
            return refused
        for intent in [] if refused else sorted(applied, key=lambda i: i.step, reverse=True):
            result = self.executor.undo(
                intent,
                reason_code="AutonomicUndoRequested",
                message=f"undoing decision {short_id(record.id)} at {asked}",
            )
            if result.status == "undone":
                undone.append(result.message)
            elif result.status in ("not_leader", "stopping", "unsettled"):
                # The steps undone so far are ``undone`` intents: the next cycle counts them.
                log.warning("undo of %s waits for the next cycle: %s", record.id, result.message)
                return "waiting"
            else:
                refused = result.message
                break
        now = self.clock.now()
        if undone:
            outcome, status = ("partly-undone" if refused else "undone"), "undone"
        elif refused is None:  # nothing applied, nothing undone: what it wrote is gone
            refused = f"nothing {short_id(record.id)} wrote is still in place to undo"
            outcome, status = "refused", previous
        else:
            outcome, status = "refused", previous
        if undone:
            text = f"undone at {asked}: {'; '.join(undone)}"
            if refused:
                text += f"; not undone: {refused}"
        else:
            text = f"undo requested by {actor} refused: {refused}; it stays {previous}"
        detail = {"requested_by": actor, "undone": undone, "why": refused}
        row = outcome_row(record.id, outcome, detail, text)
        if not self.ledger.transition(record.id, [UNDO_REQUESTED], status, now, feedback=[row]):
            return "raced"  # another replica settled it (its steps' intents say so)
        self._count_undo(outcome)
        self._progress(record, text, final=bool(undone))
        self._settle_undo_message(request, text)
        return outcome

    def _expire_undo(
        self, record: DecisionRecord, request: dict[str, Any], deadline: float, previous: str
    ) -> str:
        """A request no leader carried out by its deadline (none ran, or remediation was
        paused): marked expired, not carried out, and the decision back to the status it
        had; the requester is told where they asked (``explain``, the Slack thread)."""
        actor = str(request.get("actor") or "a person")
        requested_at = float(request.get("created_at") or deadline)
        now = self.clock.now()
        why = (
            f"the undo requested by {actor} at {to_utc_text(requested_at)} was not carried "
            f"out by {to_utc_text(deadline)} (safety.undoRequestTTL, "
            f"{(deadline - requested_at) / 60:.0f} min): "
            + _why_late(self.paused())
            + "; nothing was undone, and it is not carried out late. If it is still wanted, "
            f"look at {record.subject} as it is now and ask again: "
            f"autonomic undo {short_id(record.id)}"
        )
        text = f"undo expired: {why}; it stays {previous}"
        detail = {"requested_by": actor, "undone": [], "why": why, "deadline": deadline}
        row = outcome_row(record.id, "expired", detail, text)
        if not self.ledger.transition(record.id, [UNDO_REQUESTED], previous, now, feedback=[row]):
            return "raced"
        self._count_undo("expired")
        log.warning("decision %s: %s", record.id, why)
        self._progress(record, text)
        self._settle_undo_message(request, text)
        return "expired"

    def _count_undo(self, outcome: str) -> None:
        self.decisions.metrics.undo_requests.labels(outcome=outcome).inc()

    def _settle_undo_message(self, request: dict[str, Any], text: str) -> None:
        """Rewrite the message whose Undo button made the request (Slack) with how it
        ended; a request from the command line has none."""
        ref = (request.get("detail") or {}).get("message_ref")
        if isinstance(ref, str) and ref:
            self.decisions.approvals.rewrite(ref, text)

    def _undo_refusal(
        self, record: DecisionRecord, applied: list[Any], target: ObjectRef
    ) -> str | None:
        """Why a requested undo must not run (None: it may; ``waiting``: not now, while
        remediation is paused): a step with no undo, a later Autonomic action on the
        target, or someone else's change to it since (the human-change guard)."""
        fixed = [i for i in applied if i.operation.get("op") in NOT_UNDOABLE]
        if fixed:
            return f"step {fixed[0].step} ({fixed[0].operation.get('op')}) has no undo"
        later = acted_since(self.ledger, record)
        if later:
            return (
                f"{target} was acted on since by decision {short_id(later[0].id)} "
                f"({later[0].decision_type}); undo that one first"
            )
        if not applied:
            return None
        try:
            changed_at = self._changed_by_others_at(target)
        except _Unreadable as exc:
            return str(exc)
        state, _ = self.guard_state()
        for intent in applied:
            gate = check_undo(target, intent.created_at, changed_at, state)
            if gate.reason_code == "Paused":
                return "waiting"
            if not gate.allowed:
                return gate.message
        return None

    # -------------------------------------------------------------- recovery
    def recover(self) -> dict[str, int]:
        """After a restart or a leadership change: settle what a crash left behind.
        While paused, nothing: settling goes on with executions and drains, which write;
        the first cycle after the pause ends does it (``deferred``). The decision layer's
        next sync rewrites the messages the previous leader may have died before
        rewriting (``DecisionService.new_term``)."""
        self.decisions.new_term()
        why = self.paused()
        if why is not None:
            self._recovery_deferred = True
            log.warning("%s: the in-flight work a restart left is left as it is until then", why)
            return {"deferred": 1}
        counts = self._recover()
        # Only once it is done: a deferred recovery that fails (the ledger or the API not
        # answering) is tried again at the next cycle, as a failed one at a new term is.
        self._recovery_deferred = False
        return counts

    def _recover(self) -> dict[str, int]:
        counts = {
            "reconciled": 0,
            "resumed": 0,
            "elsewhere": 0,  # closed, stopped or taken up by another writer meanwhile
            "left": 0,  # left as it is for the next leader: not leading, or shutting down
            "failed": 0,
            "settled": 0,
            "asked": 0,
            "superseded": 0,
            "expired": 0,
            "held": 0,
            "escalated": 0,
            "unrecovered": 0,
            "requeued": 0,  # alerts of runs closed as their object was replaced
        }
        counts["reconciled"] = len(self.executor.reconcile())
        counts["settled"] = self._settle_finished()
        counts["escalated"] = self._resume_promised()
        counts["asked"] = self._ask_unasked()
        for execution in self.ledger.executions(["running"]):
            outcome = self._recover_guarded(execution)
            if outcome is not None:
                counts[outcome] += 1
        counts["superseded"] += self._close_stranded()
        counts["requeued"] = self._requeue_replaced()
        return counts

    def _requeue_replaced(self) -> int:
        """Make pending again the alerts of runs closed because the object they were
        about was replaced (``REPLACED``) in the last ``PROMISES_KEPT``, whose incident has
        no newer decision: a crash between such a closing and its requeue
        (``_requeue_alert``, written after the closing) left the alert handled, and one
        that never resolves would never be taken in again. After the runs above, whose
        recovery finishes a closing a crash cut short. How many were made pending (one
        requeued already, or not firing any more, is left as it is)."""
        if self.inbox is None:
            return 0
        now = self.clock.now()
        requeued = 0
        for record in self.ledger.decisions(
            kind="remediation", status=["superseded"], updated_since=now - PROMISES_KEPT, limit=1000
        ):
            if not record.reason_code.startswith("alert:"):
                continue
            latest = self.ledger.latest_for_incident(record.incident_key or record.id)
            if latest is None or latest.id != record.id:
                continue  # decided again since
            if not self._closed_replaced(record):
                continue
            requeued += self._requeue_alert(record)
        return requeued

    def _recover_guarded(self, execution: Mapping[str, Any]) -> str | None:
        """Recover one running execution (``_recover_run``), on its own: an error that is
        not a ``TransientError`` (a bug, a stored plan that cannot be read) is logged and
        counted, and the recovery goes on with the others (``unrecovered``); before, it
        ended the recovery, which every job of the term then tried again and failed, so
        that nothing else ran. The run stays ``running``, as a crash left it: each cycle
        recovers it again (``_recover_left``), from what its intents show, so no step is
        written twice and none is lost. It is not closed: a run part written cannot be
        closed without judging what it wrote, and closing it is what may fail. One whose
        recovery keeps failing (``STUCK_CYCLES`` cycles in a row, ``STUCK_AFTER``
        seconds) is handed to a person once (``_keeps_failing``)."""
        key = str(execution["key"])
        try:
            outcome = self._recover_run(execution)
        except TransientError:
            raise
        except Exception as exc:
            self._unrecovered.add(key)
            self._each_failed(
                f"the recovery of run {key} (decision {execution['decision_id']})",
                exc,
                "it stays running, as the crash left it, and each remediation cycle "
                "recovers it again; the other runs go on",
            )
            self._keeps_failing("recovery", key, str(execution["decision_id"]), exc)
            return "unrecovered"
        self._unrecovered.discard(key)
        self._stuck.pop((key, "recovery"), None)
        return outcome

    def _recover_left(self) -> None:
        """Recover again the executions whose recovery failed (``_recover_guarded``)
        and are still ``running``, settle again those whose settling failed
        (``_settle_guarded``), ask again the decisions whose asking failed
        (``_ask_guarded``); not while paused, as ``recover`` does not."""
        if not (self._unrecovered or self._unsettled_finish or self._unasked) or (
            self.paused() is not None
        ):
            return
        for key in sorted(self._unsettled_finish):
            execution = self.ledger.execution(key)
            if execution is None:
                self._unsettled_finish.discard(key)
                continue
            self._settle_guarded(execution)
        for decision_id in sorted(self._unasked):
            record = self.ledger.get_decision(decision_id)
            if (
                record is None
                or record.status != "asked"
                or self.ledger.questions_for([decision_id])
            ):
                self._unasked.discard(decision_id)  # answered, closed or asked meanwhile
                continue
            self._ask_guarded(record)
        for key in sorted(self._unrecovered):
            execution = self.ledger.execution(key)
            if execution is None or execution["status"] != "running":
                self._unrecovered.discard(key)  # closed meanwhile
                self._stuck.pop((key, "recovery"), None)
                continue
            self._recover_guarded(execution)

    def _recover_run(self, execution: Mapping[str, Any]) -> str | None:
        """Recover one execution a crash (or the previous leader) left ``running``: what
        became of it, as ``recover`` counts it; None for one whose decision is gone."""
        record = self.ledger.get_decision(execution["decision_id"])
        if record is None:
            return None
        with decision_context(record.id):
            self.ledger.transition(record.id, ["approved"], "executing", self.clock.now())
            key = execution["key"]
            if record.status in ("superseded", "expired") and not self.ledger.intents(
                execution_key=key
            ):
                # Closed before a crash cut the rest short (``_close_unstarted``):
                # its guards and execution are closed now, not failed for its age.
                return self._close_unstarted(record, key, None, closed_as=record.status)
            if not self.ledger.intents(execution_key=key) and self._closed_unwritten(
                record,
                key,
                float(execution["created_at"]),
                "a restart came before its first write-ahead intent",
            ):
                return "expired"
            if not self.ledger.intents(execution_key=key):
                self._ensure_started(record)
            status = self._carry_on(record, key, "interrupted by a restart")
            if status.startswith("waiting-"):
                # Held by a guard before its first write: the next cycles look again
                # (``settle_unsettled``), as for a run this process claimed.
                self._adopted.add(key)
                return "held"
            if status == "superseded":
                return "superseded"
            if status in ("failed", "undone"):
                return "failed"
            if status in _DONE_ELSEWHERE:
                return "elsewhere"
            if status in _LEFT_AS_IS:
                return "left"
            return "resumed"

    def _each_failed(self, what: str, exc: Exception, then: str) -> None:
        """One item of a pass over many raised an error that is not a ``TransientError``:
        logged with ``what`` it was and the traceback (a ``PermanentError`` with its
        message only), counted in ``autonomic_errors_total`` (``Unexpected``, or the
        ``PermanentError``'s reason), and the pass goes on with the others. ``then``:
        what becomes of the item (``DecisionService.each_failed``)."""
        self.decisions.each_failed(what, exc, then)

    def _keeps_failing(self, step: str, key: str, decision_id: str, exc: Exception) -> None:
        """Run ``key``'s ``step`` (``recovery`` or ``verification``) raised ``exc``, an
        error that is not a ``TransientError``, again. Once it has failed at
        ``STUCK_CYCLES`` remediation cycles in a row and for ``STUCK_AFTER`` seconds or
        more, it is handed to a person, once (``_escalate_stuck``); before, only the
        error line at each cycle told anyone, for as long as it lasted. A success in
        between starts the count again (the callers drop the entry)."""
        now = self.clock.now()
        stuck = self._stuck.get((key, step))
        if stuck is None:
            stuck = self._stuck[(key, step)] = _Stuck(decision_id, now, 0, "")
        stuck.times += 1
        stuck.error = f"{type(exc).__name__}: {exc}"
        if stuck.told or stuck.times < STUCK_CYCLES or now - stuck.since < STUCK_AFTER:
            return
        try:
            self._escalate_stuck(step, key, stuck, now)
        except Exception as failed:
            if stuck.told:  # it went out; recording it failed
                if isinstance(failed, TransientError):
                    raise
                self._each_failed(
                    f"recording that run {key} (decision {decision_id}) was handed to a person",
                    failed,
                    "it was sent, not recorded: not sent again by this process, but a "
                    "restart or another leader may send it once more",
                )
                return
            # Not sent: tried again once it has failed as many cycles and as long again.
            stuck.since, stuck.times = now, 0
            if isinstance(failed, TransientError):
                raise
            self._each_failed(
                f"handing run {key} (decision {decision_id}), whose {step} keeps failing, "
                "to a person",
                failed,
                f"tried again once its {step} has failed {STUCK_CYCLES} cycles in a row "
                f"and {STUCK_AFTER / 60:.0f} min more",
            )

    def _escalate_stuck(self, step: str, key: str, stuck: _Stuck, now: float) -> None:
        """Hand a run whose ``step`` keeps failing to a person, through the escalation of
        a failed run (``Approvals.escalate``), saying which run and decision, what keeps
        failing and the last error, and that the run is left as it is; then record it
        on the decision (a ``STUCK_KIND`` row), so that no replica, before or after a
        restart, sends it again. Once in this process even if that record fails (a
        restart or another leader may then send it once more)."""
        record = self.ledger.get_decision(stuck.decision_id)
        if record is None or any(
            row["kind"] == STUCK_KIND
            and isinstance(row["detail"], Mapping)
            and row["detail"].get("run") == key
            and row["detail"].get("failing") == step
            for row in self.ledger.feedback_for(record.id)
        ):
            stuck.told = True  # gone, or handed to a person already
            return
        runbook = record.proposal.get("runbook", record.decision_type)
        if step == "recovery":
            what = (
                "its recovery after a restart (carrying it on from what its write-ahead "
                "intents show)"
            )
            left = "running, as the restart left it"
        else:
            what = "the check of its verification"
            left = "verifying"
        minutes = (now - stuck.since) / 60
        why = (
            f"remediation stuck: run {key} of decision {record.id} ({runbook} on "
            f"{record.subject}): {what} has failed at {stuck.times} remediation cycles in a "
            f"row, for {minutes:.0f} min, last with {stuck.error} (an error Autonomic does "
            f"not expect: the leader's log has the traceback). The run is left as it is, "
            f"{left}: nothing was undone, and {record.subject} stays taken by it, so no "
            "other run acts on it. Autonomic tries it again at each cycle and does not say "
            f"this again; `autonomic explain {short_id(record.id)}` shows what was written. "
            "Look at the target, and report the error"
        )
        with decision_context(record.id):
            log.warning("run %s handed to a person: %s", key, why)
            ref = self.decisions.approvals.escalate(record.id, why, now)
            stuck.told = True
            detail = {
                "run": key,
                "failing": step,
                "error": stuck.error,
                "cycles": stuck.times,
                "since": stuck.since,
                "ref": ref,
            }
            self.ledger.add_feedback(record.id, STUCK_KIND, "escalated", "autonomic", now, detail)

    def _carry_on(self, record: DecisionRecord, key: str, why: str) -> str:
        """Go on with a running execution from what its settled intents show: fail it
        (undo and escalate) if a step did not complete, else run the steps that have no
        intent yet."""
        intents = {i.step: i for i in self.ledger.intents(execution_key=key)}
        if any(i.status == "undoing" for i in intents.values()):
            # A step being undone (a failure waiting for its undo to be settled, or an
            # undo a crash cut off): the next step is never written over it. Later
            # cycles settle the undo (``settle_unsettled``), then go on from here.
            return "undo-unsettled"
        failing = self._undo_waits.get(key)
        if failing is not None:  # its undo is settled now: failed again, counting it
            return self._fail(record, key, failing[0], judged=failing[1])
        bad = [i for i in intents.values() if i.status in ("failed", "abandoned")]
        if bad:
            return self._fail(record, key, f"{why}: step {bad[0].step} did not complete")
        undone = sorted(i.step for i in intents.values() if i.status == "undone")
        if undone:
            # Only a failure undoes a run still running (an undo someone asks for waits
            # until it is verified): one cut short before it closed the run (a replica
            # that lost its lease between its undos and the close). Finished, not
            # carried on: a next step would be written over a step undone.
            steps = ", ".join(map(str, undone))
            return self._fail(
                record, key, f"{why}: its failure had begun, step {steps} undone", judged=False
            )
        if any(i.status == "pending" for i in intents.values()):
            # A drain under way (or a write not settled yet): later cycles go on with it.
            return "draining"
        operations = record.proposal["operations"]
        first_missing = next(
            (s for s in range(len(operations)) if s not in intents), len(operations)
        )
        if not intents and operations:
            # Its first write comes long after the guards were judged (a ledger outage, a
            # restart): judged again, and the plan checked against the cluster now.
            held = self._recheck_unwritten(record, key)
            if held is not None:
                return held
        elif first_missing < len(operations):
            target = _ref(record.proposal["target"])
            gone = self._newer_or_gone(record, target)
            if gone is not None:
                return self._fail(
                    record,
                    key,
                    f"{why}, then not carried on: {gone}; step {first_missing} "
                    f"({operations[first_missing].get('op', '?')}) of its "
                    f"{len(operations)} was not started",
                    judged=False,
                )
            rb = self.runbooks.get(record.proposal["runbook"])
            over = self._signal_over(record, rb, target) if rb is not None else None
            if over is not None:
                # Said, not acted on: a run part written is never stopped for this.
                log.info(
                    "decision %s: %s; but %d of its %d steps are written already: going on "
                    "(a run part written is not stopped; its verification judges it)",
                    short_id(record.id),
                    over,
                    first_missing,
                    len(operations),
                )
        return self._run_steps(record, key, start=first_missing)

    def _newer_or_gone(self, record: DecisionRecord, target: ObjectRef) -> str | None:
        """For a run part written: why its next step is no longer wanted (a newer
        decision on the target ran, the target was deleted or changed by someone else
        since the decision), or None. Its own actions do not count."""
        state, _ = self.guard_state()
        return self._superseded_why(record, target, self._without_own(state, record))

    def _without_own(self, state: GuardState, record: DecisionRecord) -> GuardState:
        """``state`` without what a claimed run counted itself (``_start_guards``): its
        in-flight record, its action and the half-open trial it took, so that judging it
        again does not hold it back on its own account."""
        rb = self.runbooks.get(record.proposal["runbook"])
        if rb is None:
            return state
        return release_unstarted(state, rb.name, _ref(record.proposal["target"]))

    def _recheck_unwritten(self, record: DecisionRecord, key: str) -> str | None:
        """Before the first write of a run claimed earlier but with no write-ahead intent
        yet: the guards the first write needs (pause, freeze, storm, circuit breaker,
        hourly limits, the target taken by another run, the disruption budget) judged
        again without the run's own record, and whether it is still wanted (and, once no
        guard holds it, for a drain, whether a PodDisruptionBudget now blocks it:
        ``_budgets_block``). Returns None
        to go on; ``waiting-...`` to leave it claimed for a later cycle (within
        ``approved_max_wait`` of its claim, ``_closed_unwritten``); ``superseded`` once it
        is closed, nothing written."""
        if record.status in ("superseded", "expired"):  # closed before a crash cut the rest
            return self._close_unstarted(record, key, None, closed_as=record.status)
        proposal = record.proposal
        rb = self.runbooks.get(proposal["runbook"])
        if rb is None:
            return None
        target = _ref(proposal["target"])
        over = self._signal_over(record, rb, target)
        if over is not None:
            return self._close_unstarted(record, key, over, signal_over=True)
        if self._paused_afresh() is not None:
            return "waiting-paused"
        state, _ = self.guard_state()
        own = self._without_own(state, record)
        why = self._superseded_why(record, target, own)
        if why is not None:
            return self._close_unstarted(record, key, why)
        waiting = self._waiting(own, rb, target, self.clock.now(), proposal)
        if waiting is None:
            self._held_why.pop(key, None)
            blocked = self._budgets_block(record)
            if blocked is not None:
                return self._close_unstarted(record, key, blocked[0], escalation=blocked[1])
        else:
            self._held_why[key] = waiting
            log.info(
                "%s: decision %s is not started yet (%s): looking again next cycle",
                key,
                short_id(record.id),
                waiting,
            )
        return waiting

    def _close_unstarted(
        self,
        record: DecisionRecord,
        key: str,
        why: str | None,
        *,
        escalation: str | None = None,
        signal_over: bool = False,
        replaced: bool = False,
        closed_as: str = "superseded",
    ) -> str:
        """Close a claimed run that wrote nothing as ``superseded`` (``why``: what made it
        unwanted; None: the decision was closed already, before a crash), or as
        ``expired`` (``closed_as``; ``why``: the whole sentence, ``_held_past_max_wait``,
        said and escalated by ``_expired``); returns ``closed_as``: the decision,
        its guards and its execution, in that order, so that a crash between any two is
        finished by the next recovery, which visits executions still ``running``. (The
        execution closed before the guards, a crash between them would leave the run in
        flight for good: its runbook's concurrency and its target taken, with nothing
        left to look at it.) Nothing was written, so nothing is undone; not judged, not
        counted against the runbook's breaker. ``escalation``: also hand it to a person
        with these words; ``signal_over``: as for ``_supersede``; ``replaced``: closed
        because the object it was about was replaced since the plan (``_replaced_since``).

        A replica that no longer leads closes nothing (``not-leader``): what it read of
        the run (no intent) may be out of date already, the new leader writing its first
        step; the decision's compare-and-set would not see that, as it is ``executing``
        either way.

        The decision is closed only while its run has no write-ahead intent, in one
        ledger transaction (``Ledger.close_unstarted``), and ``record_intent`` refuses an
        intent under a run whose decision is closed so: a writer of the run's step that
        recorded its intent after the caller looked for one (a replica that lost its
        lease mid-step, a recovery on another thread) leaves the run started, not closed
        (``claimed-elsewhere``: the step is its writer's, and a run left running is
        carried on by ``settle_unsettled``); one that comes after the closing writes
        nothing. Before, the caller's look and the closing were separate steps, and an
        intent recorded between them was left under a run closed as never written, its
        write neither judged, verified nor undone."""
        if not self.executor.is_leader():
            return "not-leader"
        now = self.clock.now()
        if why is not None:
            text = f"not executed: {why}; nothing was written to the cluster"
            expired = closed_as == "expired"
            if expired:  # the whole sentence, said and escalated by ``_expired``
                text, escalation = why, why
            closing = self.ledger.close_unstarted(
                key,
                record.id,
                ["executing", "approved"],
                closed_as,
                now,
                feedback=[
                    self._closing(record, closed_as, text, escalation, signal_over, replaced)
                ],
            )
            if closing == "written":
                # A writer of its step (a replica that lost its lease mid-step, a
                # recovery on another thread) recorded an intent since the caller found
                # none: the run is started, and goes on as one (its writer, or
                # ``settle_unsettled`` for a run left running, settles the intent).
                log.info(
                    "%s: decision %s not closed (%s): a write-ahead intent was recorded "
                    "under its run meanwhile; leaving the run to the step's writer",
                    key,
                    short_id(record.id),
                    closed_as,
                )
                return "claimed-elsewhere"
            if closing != "closed":
                return "claimed-elsewhere"
            if expired:
                self._expired(record, text, now)
            else:
                self._promise(record, escalation)
                self._progress(record, text, final=True)
                log.info("%s: decision %s %s", key, short_id(record.id), text)
                self._send_promised(record, escalation, now)
        execution = self.ledger.execution(key)
        if execution is None or execution["status"] != "running":
            self._adopted.discard(key)  # closed already, its guards with it
            return closed_as
        rb = self.runbooks.get(record.proposal["runbook"])
        if rb is not None:
            target = _ref(record.proposal["target"])
            state = self._update_guards(lambda s: release_unstarted(s, rb.name, target))
            self.publish_breakers(state)
        self.ledger.set_execution_status(key, ["running"], closed_as, now)
        self._adopted.discard(key)
        self._held_why.pop(key, None)
        return closed_as

    def settle_unsettled(self) -> None:
        """Executions held by a write whose outcome nobody could read (the API failed
        during the write and after it): look again each cycle, and once the cluster
        answers, go on from what it shows. Until then the decision stays executing and
        its target taken, so nothing else acts on it meanwhile.

        A drain under way is one too: each cycle runs its next round (evictions a
        PodDisruptionBudget refused are asked again, evicted pods looked for), and once
        it is done or its timeout has passed the execution goes on to verification.
        So is an undo whose write the API did not answer and whose target could not be
        read back then (left ``undoing``): read back now, ``undone`` if it holds what it
        held before Autonomic's write, else written through the writer's compare-and-set,
        which leaves a change someone made since in place.
        So is a run a replica left ``running`` as it lost its lease, after a step that
        did not complete or between two steps (``_left_running``): failed, or carried on.
        While paused, none of this: the pause holds them where they are.

        Each on its own: one that raises an error that is not a ``TransientError`` (a
        bug, a stored plan that cannot be read) is logged and counted, and the others go
        on (``_each_failed``); before, it ended the cycle at every cycle, and nothing
        approved after it ran. It stays as it is, looked at again at the next cycle: its
        write may have happened, so it is not closed; the error line says it each time."""
        if self.paused() is None:
            # An undo the API did not answer (``Executor.undo``: "unsettled"): written, or
            # not, the cluster says now; not left for the next restart's reconcile.
            for intent in self.ledger.intents(status=["undoing"]):
                try:
                    self.executor.settle_undo(intent)  # still "undoing" while the API is away
                except TransientError:
                    raise
                except Exception as exc:
                    self._each_failed(
                        f"settling the undo of step {intent.step} of run "
                        f"{intent.execution_key} (decision {intent.decision_id})",
                        exc,
                        "it stays undoing, looked at again at the next cycle; the others go on",
                    )
        running = self.ledger.executions(["running"])
        keys = {str(execution["key"]) for execution in running}
        self._interrupted &= keys
        for gone in set(self._undo_waits) - keys:  # closed, or failing in verification
            del self._undo_waits[gone]
        for gone in set(self._deferred) - keys:  # closed or stopped meanwhile
            del self._deferred[gone]
        for execution in running:
            if self._shutting_down():
                return
            key = execution["key"]
            if key in self._unrecovered:
                continue  # its recovery failed: ``_recover_left`` looks at it
            try:
                self._settle_one(execution)
            except TransientError:
                raise
            except Exception as exc:
                self._each_failed(
                    f"settling run {key} (decision {execution['decision_id']})",
                    exc,
                    "it stays running, looked at again at the next cycle; the other runs go on",
                )

    def _settle_one(self, execution: Mapping[str, Any]) -> None:
        """One running execution of ``settle_unsettled``."""
        key = execution["key"]
        intents = self.ledger.intents(execution_key=key)
        pending = [i for i in intents if i.status == "pending"]
        record = self.ledger.get_decision(execution["decision_id"])
        if record is None:
            return
        if not intents and (
            self._left_unwritten(execution) or key in self._adopted or key in self._deferred
        ):
            self._resume_unwritten(
                record,
                key,
                float(execution["created_at"]),
                mine=execution["owner"] == self.executor.owner,
            )
            return
        if self.paused() is not None:  # no drain round; nothing held goes on
            return
        if not pending:
            if intents and key in self._interrupted:
                # Its steps so far written and settled, the rest cut off by a ledger
                # failure in this process, or deferred because the next step's target
                # could not be read (``_defer``): carried on from its first step without
                # an intent, as a restart's recovery would (a step another thread or
                # replica took up first has its intent: none is written twice).
                with decision_context(record.id):
                    if self._defer_over(record, key) is not None:
                        return
                    why = (
                        "its next step's target could not be read"
                        if key in self._deferred
                        else "the ledger failed between two steps"
                    )
                    self._interrupted.discard(key)
                    try:
                        self._carry_on(record, key, why)
                    except TransientError:
                        self._interrupted.add(key)
                        raise
            elif intents and key in self._undo_waits:
                # A failure left open while its undo was not settled: failed again.
                with decision_context(record.id):
                    self._carry_on(record, key, "its undo was not settled")
            elif intents and (left := self._left_running(execution, intents)) is not None:
                with decision_context(record.id):
                    log.info("%s: decision %s %s: carrying it on", key, short_id(record.id), left)
                    self._carry_on(record, key, left)
            return
        with decision_context(record.id):
            try:
                for intent in pending:
                    self.executor.settle(intent, note="settled once the cluster answered")
            except TransientError as exc:
                log.warning("still cannot tell whether %s's write happened: %s", key, exc)
                return
            self._carry_on(record, key, "the API failed during the write")

    def _left_running(self, execution: Mapping[str, Any], intents: Sequence[Intent]) -> str | None:
        """Why a running execution with intents, none pending, and not cut off in this
        process (``_interrupted``) is this leader's to carry on (``_carry_on``); None
        while it may still be another process's. Such a run is one a replica left as it
        lost its lease: its ``_fail`` closes nothing then, and its ``_write_steps`` stops
        before the next step's intent. This leader's recovery, at the start of its term,
        may have come before the deposed replica's cycle left it (the two overlap for a
        moment), and no other would look at it before the next change of leader: its
        target stays taken meanwhile.

        A step that did not complete (``failed``, ``abandoned``): at once, as a recovery
        would: the run is failed (undone as ``onFailure.undo`` says, escalated once).
        The process that recorded it fails the run in the same call, or leaves it for
        the leader because it no longer leads. Else once no step of it has moved (its
        claim, its status, its intents) for ``foreign_mark_after`` seconds: younger, it
        may be under way elsewhere. Each step's intent is unique, so a step is written
        once whichever replica records it."""
        if any(i.status in ("failed", "abandoned") for i in intents):
            return "found left running with no step under way"
        moved = max([float(execution["updated_at"]), *(i.updated_at for i in intents)])
        still = self.clock.now() - moved
        if still < self.foreign_mark_after:
            return None
        return (
            f"left running between two steps, unmoved for {format_duration(still)} "
            f"(since {to_utc_text(moved)})"
        )

    def _left_unwritten(self, execution: Mapping[str, Any]) -> bool:
        """Whether a running execution with no write-ahead intent is left for this
        leader to go on with: its own (the ledger failed between the claim and the
        intent), or another replica's claimed ``foreign_mark_after`` ago or more. That
        one's leader lost its lease between the claim and the first intent (its cycle
        went on after it stopped leading, and ``Executor.apply`` wrote nothing): this
        leader's recovery, at the start of its term, may have come before that claim,
        and no other would look at it before the next change of leader. Younger, it may
        still be under way there; each step's intent is unique, so a step is written
        once whichever replica records it."""
        if execution["owner"] == self.executor.owner:
            return True
        return self.clock.now() - float(execution["created_at"]) >= self.foreign_mark_after

    def _resume_unwritten(
        self, record: DecisionRecord, key: str, claimed_at: float, *, mine: bool = True
    ) -> None:
        """An execution claimed whose first write-ahead intent was never recorded
        (``_left_unwritten``): the ledger failed between the claim and the intent, or
        the replica that claimed it stopped leading there (nothing was written to the
        cluster). Once the ledger answers, it goes on from its first step, rather
        than hold its target until the next restart (whose ``recover`` would). Not while
        paused, nor for a decision no longer executing.

        Unless it was claimed longer than ``approved_max_wait`` ago: a plan that old no
        longer describes the cluster, so the run is closed ``expired``, not executed
        (nothing was written, so nothing is undone, and nothing judged), and handed to a
        person, with what it waited for: a guard that held it, the replica that claimed
        it (``mine`` False: another) stopped leading, or the ledger."""
        if record.status != "executing" or self.paused() is not None:
            return
        held = self._held_why.get(key)
        if held is not None:
            cause = f"a guard held it before its first write ({held.removeprefix('waiting-')})"
        elif not mine:
            cause = "the replica that claimed it stopped leading before its first write"
        else:
            cause = "the ledger could not record its first write-ahead intent until now"
        with decision_context(record.id):
            if self._defer_over(record, key) is not None:
                return  # its target could not be read for too long: failed, with why
            if self._closed_unwritten(record, key, claimed_at, cause):
                self._held_why.pop(key, None)
                return
            self._ensure_started(record)
            if key not in self._deferred:  # a deferred one was said once (``_defer``)
                log.info(
                    "%s: going on with decision %s, claimed with nothing written yet (the "
                    "ledger failed before its first intent, a guard held it, or its leader "
                    "lost its lease)",
                    key,
                    short_id(record.id),
                )
            self._carry_on(record, key, "claimed with nothing written")

    def _closed_unwritten(
        self, record: DecisionRecord, key: str, claimed_at: float, cause: str
    ) -> bool:
        """Close a run with no write-ahead intent, taken up longer than
        ``approved_max_wait`` ago, as ``expired``: not executed, so neither right nor
        wrong (not a verification: ``cause`` says nothing about the runbook), with
        nothing to undo, and hand it to a person; ``cause`` says why it waited, after
        "but". False, and nothing done, for a younger one (or one another replica
        closed first); True, and nothing done either, on a replica that no longer leads
        (neither closed nor carried on: the new leader has it)."""
        waited = self.clock.now() - claimed_at
        if waited <= self.limits.approved_max_wait:
            return False
        text = self._held_past_max_wait(
            f"taken up at {to_utc_text(claimed_at)} and waited {format_duration(waited)}, "
            f"but {cause}",
            "its plan",
        )
        closed = self._close_unstarted(record, key, text, closed_as="expired")
        return closed in ("expired", "not-leader")

    def _ensure_started(self, record: DecisionRecord) -> None:
        """Count a claimed run in the guards unless it is already (a failure between the
        claim and ``_start_guards`` left it uncounted)."""
        proposal = record.proposal
        rb = self.runbooks.get(proposal["runbook"])
        target = _ref(proposal["target"])
        if rb is not None and proposal["operations"]:
            state, _ = self.guard_state()
            if not _in_flight(state, rb.name, target):
                self._start_guards(record, rb, target, self.clock.now(), once=True)

    def _start_guards(
        self,
        record: DecisionRecord,
        runbook: Runbook,
        target: ObjectRef,
        now: float,
        *,
        once: bool = False,
    ) -> None:
        """Count a run that starts in the guards (in flight, its action and disruption).
        ``once``: not if the guard state it writes over shows the run in flight already
        (judged inside the compare-and-set: a recovery on another job's thread and a
        cycle's ``settle_unsettled`` may take up the same run at once, and a run counted
        twice is in flight for good after its one finish)."""
        proposal = record.proposal
        fake = _plan_stub(runbook, target, proposal, now)
        dry = proposal["mode"] == "dryRun"
        if dry:  # a server-side dry run disrupts no pod
            fake = replace(fake, disruption=Disruption())

        def start(state: GuardState) -> GuardState:
            if once and _in_flight(state, runbook.name, target):
                return state
            return record_start(state, fake, runbook.spec.guards, now, dry_run=dry)

        self._update_guards(start)

    def _resume_promised(self, ids: Iterable[str] | None = None) -> int:
        """Send the escalations closings promised (``_closing``) and no ``escalation`` row
        followed: a crash (or an error) came between the closing and the escalation.
        ``ids``: those decisions (this process's, after an error); None: every decision
        so closed in the last ``PROMISES_KEPT`` (the recovery, after a restart or at a new
        leader). Each is sent once: its ``escalation`` row marks it sent. How many sent."""
        now = self.clock.now()
        if ids is None:
            records = self.ledger.decisions(
                kind="remediation",
                status=PROMISING,
                updated_since=now - PROMISES_KEPT,
                limit=1000,
            )
        else:
            records = [r for i in list(ids) if (r := self.ledger.get_decision(i)) is not None]
            self._unsent.difference_update(set(ids) - {r.id for r in records})
        sent = 0
        for record in records:
            escalation = self._unsent_escalation(record.id)
            if escalation is not None:
                with decision_context(record.id):
                    log.warning(
                        "decision %s was closed (%s) with an escalation that was not sent "
                        "(the process stopped, or failed, in between): sending it now",
                        short_id(record.id),
                        record.status,
                    )
                    try:
                        self.decisions.approvals.escalate(record.id, escalation, now)
                    except TransientError:
                        raise
                    except Exception:  # not for every cycle: the next recovery tries again
                        log.exception("decision %s: its escalation failed", record.id)
                        self._unsent.discard(record.id)
                        continue
                sent += 1
            self._unsent.discard(record.id)
        return sent

    def _unsent_escalation(self, decision_id: str) -> str | None:
        """The escalation the decision's closing promised (``PROMISED``), if no
        ``escalation`` row came after it; else None."""
        promised: str | None = None
        for row in self.ledger.feedback_for(decision_id):  # oldest first
            detail = row["detail"]
            words = detail.get(PROMISED) if isinstance(detail, Mapping) else None
            if isinstance(words, str):
                promised = words
            elif row["kind"] == "escalation":
                promised = None
        return promised

    def _ask_unasked(self) -> int:
        """An 'asked' decision without its question can nobody answer, and it never
        expires (its incident is taken, so it is never decided again). Decisions and
        their questions are now written in one transaction; a ledger written by an
        earlier version can still hold one. Ask it now.

        Each on its own: one whose asking raises an error that is not a
        ``TransientError`` is logged and counted (``_each_failed``), the others go on,
        and each cycle asks it again (``_recover_left``)."""
        waiting = self.ledger.decisions(kind="remediation", status=["asked"], limit=10_000)
        if not waiting:
            return 0
        questioned = {q.decision_id for q in self.ledger.questions_for(r.id for r in waiting)}
        return sum(self._ask_guarded(record) for record in waiting if record.id not in questioned)

    def _ask_guarded(self, record: DecisionRecord) -> bool:
        """Ask one asked decision's missing question (``_ask_unasked``): whether it was."""
        with decision_context(record.id):
            try:
                self.decisions.approvals.ask(record.id, self.clock.now())
            except TransientError:
                raise
            except Exception as exc:
                self._unasked.add(record.id)
                self._each_failed(
                    f"asking the missing question of decision {record.id}",
                    exc,
                    "it stays asked with no question, asked again at each remediation "
                    "cycle; the other decisions go on",
                )
                return False
        self._unasked.discard(record.id)
        return True

    def _settle_finished(self) -> int:
        """Finish the bookkeeping of executions a crash cut off after their status was
        written: a failure not yet escalated, a success or dry run whose decision was
        not yet closed. Without this they would sit there, told to nobody.

        Each on its own: one whose settling raises an error that is not a
        ``TransientError`` is logged and counted (``_each_failed``), the others go on,
        and each cycle settles it again (``_recover_left``); before, it ended the
        recovery, which every job of the term tried again and failed."""
        settled = 0
        for execution in self.ledger.executions(["undone", "failed", "succeeded", "dry-run"]):
            settled += self._settle_guarded(execution)
        return settled

    def _settle_guarded(self, execution: Mapping[str, Any]) -> bool:
        """Settle one finished execution (``_settle_finished``): whether it was."""
        key = str(execution["key"])
        try:
            settled = self._settle_finished_one(execution)
        except TransientError:
            raise
        except Exception as exc:
            self._unsettled_finish.add(key)
            self._each_failed(
                f"settling finished run {key} (decision {execution['decision_id']}) after "
                "a restart",
                exc,
                "it stays as the crash left it, settled again at each remediation cycle; "
                "the other runs go on",
            )
            return False
        self._unsettled_finish.discard(key)
        return settled

    def _settle_finished_one(self, execution: Mapping[str, Any]) -> bool:
        """One execution of ``_settle_finished``: whether there was anything to settle."""
        now = self.clock.now()
        record = self.ledger.get_decision(execution["decision_id"])
        if record is None:
            return False
        key, status = execution["key"], execution["status"]
        with decision_context(record.id):
            if status in ("undone", "failed"):
                if record.status in ("approved", "executing", "verifying"):
                    # ``_fail`` wrote its verdict with the run's closing: the decision is
                    # closed with it (``record_outcome`` writes no second one). A run
                    # closed before it did so has none, and is recorded wrong.
                    ahead = [
                        row["outcome"]
                        for row in self.ledger.feedback_for(record.id)
                        if row["kind"] == "verification" and row["actor"] == "autonomic"
                    ]
                    judged = not ahead or ahead[-1] != "inconclusive"
                    self.decisions.record_outcome(
                        record.id,
                        right=False if judged else None,
                        status=status,
                        detail={"why": "failure recorded before a restart"},
                    )
                    # A run not judged is counted by the breaker only when it wrote (as
                    # ``_fail`` does); one that wrote nothing, whatever its verdict, is
                    # not (an old run's verdict went with the process).
                    self._finish_guards(
                        record,
                        succeeded=False,
                        counted=(judged and bool(ahead))
                        or _wrote(self.ledger.intents(execution_key=key)),
                    )
                self.decisions.approvals.escalate(
                    record.id,
                    f"remediation {status}; escalation resumed after a restart",
                    now,
                )
                self.ledger.set_execution_status(key, [status], "escalated", now)
                self._breaker_opened(record)
            elif record.status in ("executing", "verifying"):
                if status == "dry-run":
                    self.ledger.transition(record.id, ["executing"], "done", now)
                else:
                    verified = bool(record.proposal.get("verification"))
                    self.decisions.record_outcome(
                        record.id,
                        right=True,
                        status="verified" if verified else "done",
                        detail={"note": "success recorded before a restart"},
                    )
                self._finish_guards(record, succeeded=True)
            else:
                return False
        return True

    # ---------------------------------------------------------------- helpers
    def _progress(
        self, record: DecisionRecord, text: str, *, final: bool = False, offer_undo: bool = False
    ) -> None:
        """Post ``text`` where people saw the decision (``DecisionService.progress``); a
        ``final`` word (verified, failed and undone, expired, superseded) also rewrites
        the question's message, so the channel shows how it ended without opening the
        thread. ``offer_undo``: with an Undo button (an action that verified and can be
        undone), as ``autonomic undo`` from the chat."""
        with decision_context(record.id):
            self.decisions.progress(record.id, text, final=final, offer_undo=offer_undo)

    def _finish_guards(
        self, record: DecisionRecord, *, succeeded: bool, counted: bool = True
    ) -> None:
        """A run ended: out of flight, and its runbook's breaker told (``counted=False``:
        a failure the breaker does not count, ``record_finish``)."""
        rb = self.runbooks.get(record.proposal.get("runbook", ""))
        if rb is None or not record.proposal.get("operations"):
            return
        target = _ref(record.proposal["target"])
        now = self.clock.now()
        keep = self.actions_kept()
        state = self._update_guards(
            lambda s: prune(
                record_finish(s, rb.name, target, succeeded, rb.spec.guards, now, counted=counted),
                now,
                keep,
            )
        )
        self.publish_breakers(state)

    def _breaker_opened(self, record: DecisionRecord) -> None:
        """After a failed run has been escalated: if it opened its runbook's circuit
        breaker, hand that to a person too (once per opening; a signal denied
        ``CircuitOpen`` later finds it by the same key)."""
        rb = self.runbooks.get(record.proposal.get("runbook", ""))
        if rb is None or not record.proposal.get("operations"):
            return
        now = self.clock.now()
        state, _ = self.guard_state()
        breaker = state.breakers.get(rb.name, BreakerState())
        if breaker_status(breaker, rb.spec.guards.circuit_breaker, now) != "open":
            return
        target = _ref(record.proposal["target"])
        denial = (
            f"{rb.name} failed {breaker.consecutive_failures} times in a row; its circuit "
            "breaker is open"
        )
        with decision_context(record.id):
            self._hand_off(
                rb, _plan_stub(rb, target, record.proposal, now), "CircuitOpen", denial, state, now
            )

    def publish_breakers(self, state: GuardState | None = None) -> None:
        """``autonomic_runbook_breaker_open{runbook}``: 1 while a runbook's circuit
        breaker is open (it runs nowhere), 0 closed or half-open (a trial may run)."""
        if state is None:
            try:
                state, _ = self.guard_state()
            except TransientError as exc:
                log.debug("breakers not published: %s", exc)
                return
        now = self.clock.now()
        for name, rb in self.runbooks.items():
            breaker = state.breakers.get(name, BreakerState())
            status = breaker_status(breaker, rb.spec.guards.circuit_breaker, now)
            self.decisions.metrics.breaker_open.labels(runbook=name).set(
                1.0 if status == "open" else 0.0
            )

    def actions_kept(self) -> float:
        """How long the guard state keeps actions: two days, or the longest
        ``maxActionsPerTarget.within`` or ``cooldownPerTarget`` of the runbooks loaded, so
        no count or cooldown forgets a run."""
        windows = [
            limit.within
            for rb in self.runbooks.values()
            if (limit := rb.spec.guards.max_actions_per_target) is not None
        ]
        cooldowns = [rb.spec.guards.cooldown_per_target for rb in self.runbooks.values()]
        return max([PRUNE_KEEP, *windows, *cooldowns])


def _in_flight(state: GuardState, runbook: str, target: ObjectRef) -> bool:
    """Whether a run of ``runbook`` on ``target`` is counted in flight in ``state``."""
    return any(r.runbook == runbook and r.target == target for r in state.in_flight)


def _subject(signal: Signal) -> str:
    """What a signal is about: its object, or for one that names none its kind and name
    (``alert/KubePodCrashLooping``)."""
    return str(signal.target) if signal.target is not None else f"{signal.kind}/{signal.name}"


def _wrote(intents: Iterable[Intent]) -> bool:
    """Whether a run's steps wrote, or may have written, to the cluster: a step applied,
    undone, being undone or not settled yet, a drain's partial work (``written``), or a
    dry run's step (it stands for the write it would have made)."""
    return any(
        i.status in ("applied", "undone", "undoing", "pending", "dry_run")
        or (i.result or {}).get("written")
        for i in intents
    )


def _window_dict(window: HoldWindow | None) -> dict[str, Any] | None:
    if window is None:
        return None
    return {
        "started_at": window.started_at,
        "until": window.until,
        "runs": [{"runbook": r.runbook, "target": str(r.target), "at": r.at} for r in window.runs],
    }


def _record_triggers(state: GuardState, now: float, n: int, limits: GlobalLimits) -> GuardState:
    for _ in range(n):
        state = record_trigger(state, now, limits)
    return state


@dataclass(frozen=True)
class _PlanStub:
    runbook: str
    target: ObjectRef
    operations: tuple[Operation, ...]
    disruption: Disruption
    counted_as: ObjectRef | None = None


def _disruption(proposal: Mapping[str, Any]) -> Disruption:
    """The pods a stored proposal disrupts (none for one stored before they were kept)."""
    counts = {str(ns): int(n) for ns, n in dict(proposal.get("disruption") or {}).items()}
    return Disruption(sum(counts.values()), tuple(sorted(counts.items())))


def _plan_stub(runbook: Runbook, target: ObjectRef, proposal: Mapping[str, Any], now: float) -> Any:
    """``record_start``, the disruption budget and the busy check read only the runbook
    name, target, operations, disruption and what the run counts on (``counted_as``) of
    a plan."""
    return _PlanStub(
        runbook.name,
        target,
        tuple(operation_from_dict(op) for op in proposal["operations"]),
        _disruption(proposal),
        _ref(proposal["counted_as"]) if proposal.get("counted_as") else None,
    )


def _forced_approval(planned: Plan, limits: GlobalLimits) -> str | None:
    """Why a person must approve the plan first: the runbook's ``requireApprovalWhen``
    reasons, and a plan that alone disrupts more pods than the hourly budget allows."""
    reasons = [*planned.approval_reasons]
    too_big = over_budget(planned, limits)
    if too_big is not None:
        reasons.append(too_big)
    return "; ".join(reasons) if reasons else None


def _group_of(signal: Signal) -> str:
    """Which label values carry an anomaly signal's movement ("mostly pod web-7f9 (82 %);
    ", its query's ``breakdownBy``) and what else is anomalous on its workload, as the
    anomaly loop said them ("2 of 3 series watched on Deployment/shop/web anomalous ...;
    "); "" otherwise."""
    if signal.kind != "anomaly":
        return ""
    said = [signal.evidence.get("breakdown_summary"), signal.evidence.get("group_summary")]
    return "".join(f"{text}; " for text in said if isinstance(text, str) and text)
