"""The executor: the only code that writes to the cluster.

Every write goes the same way, whether it comes from a runbook, the scaler or an undo:

1. refuse unless this replica holds the lease, and refuse to start a write once the
   daemon is shutting down (``stopping``: a SIGTERM; a write already under way
   finishes, and the next leader goes on from the ledger);
2. read the snapshot needed to undo the write (a read that fails for a reason that may
   pass, a ``TransientError``, is ``unread``: nothing written, no intent recorded, and
   the caller may try again later); a target that is not the object the plan read
   (another ``metadata.uid`` than the operation's ``planned_uid``: deleted and created
   again under its name since) is refused as ``ReplacedSincePlan``, nothing written,
   no intent recorded;
3. record a write-ahead intent in the ledger (unique per execution and step, so a
   second attempt at the same step is refused, not repeated);
4. check the lease again, then write (or server-side dry-run); the Kubernetes adapter
   asks once more before each try (``KubeApi.may_write``), and a write cut off by the
   lease running out is ``unsettled``: its intent stays pending for the leader to settle;
5. record the result, count the action for rate limits, and post a Kubernetes Event
   with the reason code and sentence.

``reconcile`` settles intents left pending by a crash: it compares the cluster with the
recorded snapshot (the fields the operation changes, not the resourceVersion, which any
other writer bumps). If nothing changed, the write never happened (``abandoned``); if
the object moved, the write is taken as applied and goes on to verification. If the
object is there but its read is refused for good (a Deployment paused since refuses a
rollback's read), whether the write happened is not known: the step is ``failed``,
saying so, and the run is failed and escalated (never taken as applied). Either way,
nothing is blindly written again. A write that fails without an answer is settled the
same way at once; when the object cannot be read then either, the step is ``unsettled``
and its intent stays pending, and the engine settles it at a later cycle.

A drain is the one write that takes longer than a cycle: it waits for evictions a
PodDisruptionBudget refuses and for evicted pods to go, up to its timeout. So it runs
in rounds (``ClusterWriter.drain_round``), one per cycle, and never holds the cycle for
more than one round of evictions. The first round cordons the node and evicts what may
go now; its intent stays ``pending`` with the round's progress (the pods chosen, those
evicted, those refused) stored in the intent's result, and ``settle`` (each cycle, and
after a restart) runs the next round from that progress. The intent is finished as
``applied`` when every chosen pod is evicted and gone, or when ``timeout_seconds`` have
passed since the intent was recorded (then, as before, the summary says
"drain INCOMPLETE" and verification judges the node). A pod gone or already
terminating counts as evicted, so a round cut off by a crash before its progress was
stored evicts nothing twice.

Each round evicts within the room the disruption budget leaves
(``safety.maxPodsDisruptedPerHour``; ``drain_budget``, set by the engine): the pods it
has no room for wait for a later round (within the drain's timeout), and the evictions
a round asked for are counted in the budget as they happen.

A drain cut off after it cordoned the node and before its first progress was stored
(the node was schedulable in the snapshot and is cordoned now) is *resumed*: the next
leader runs a first round again, within what remains of the ``max_evictions`` budget,
and goes on as above. Any other drain without progress (the node not cordoned, a dry
run, a failed resume) is settled as any write.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from agent.clock import Clock
from agent.errors import PermanentError, TransientError
from agent.ledger import Intent, Ledger
from agent.observability import Metrics, decision_context
from remediation.ports import (
    ClusterWriter,
    Cordon,
    Drain,
    EvictionRoom,
    ObjectRef,
    Operation,
    OperationResult,
    operation_from_dict,
    operation_to_dict,
)

__all__ = ["REPLACED_SINCE_PLAN", "SHUTTING_DOWN", "DrainBudget", "Executor", "StepOutcome"]

log = logging.getLogger("autonomic.executor")

SHUTTING_DOWN = "shutting down: not started; the next leader goes on from the ledger"
# The reason of a step refused because its target is no longer the object its plan read
# (``Operation.planned_uid``): deleted and created again under its name since.
REPLACED_SINCE_PLAN = "ReplacedSincePlan"

# "unsettled": the write failed without an answer, and the cluster could not be read
# afterwards to tell whether it happened, or this replica's lease ran out meanwhile (the
# leader's to find out); its intent stays pending until ``settle``.
# "draining": a drain's first round is done and the drain goes on at later cycles; its
# intent stays pending, with the progress, until ``settle`` finishes it.
# "unread": the target could not be read before writing, for a reason that may pass
# (a ``TransientError``); nothing is written and no intent recorded.
# "stopping": the daemon is shutting down; nothing is written and no intent recorded:
# not a failure, the next leader writes it (or settles what is left) from the ledger.
StepStatus = Literal[
    "applied",
    "dry_run",
    "failed",
    "unread",
    "already_recorded",
    "not_leader",
    "stopping",
    "undone",
    "unsettled",
    "draining",
]


@dataclass(frozen=True)
class DrainBudget:
    """The disruption budget as a drain sees it: the room left now (None: no limit), and
    where to count the pods a round evicted (by runbook, node and namespace)."""

    room: Callable[[], EvictionRoom | None]
    spent: Callable[[str, ObjectRef, dict[str, int]], None]


@dataclass(frozen=True)
class StepOutcome:
    status: StepStatus
    message: str
    intent_id: int | None = None
    result: OperationResult | None = None
    reason: str | None = None  # a failure's reason code (``NotFound``, ``ApiUnavailable``...)


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _comparable(snapshot: Any, recorded: Any) -> Any:
    """A snapshot without its ``resourceVersion``: any write bumps that (a controller's
    status update, a label someone added), so comparing it would take an unrelated
    write for ours. The fields the operation changes decide whether it happened, and
    the object's uid (an object deleted and created again under the same name is not
    the one the write was meant for), unless the snapshot ``recorded`` with the intent
    has none (an older release's): then it is left out, as before."""
    normal = _normal(snapshot)
    if isinstance(normal, dict):
        normal.pop("resourceVersion", None)
        if not (isinstance(recorded, dict) and recorded.get("uid")):
            normal.pop("uid", None)
    return normal


def _replaced_since_plan(operation: Operation, snapshot: Any) -> str | None:
    """Why ``operation`` must not be written on what ``snapshot`` read: its target's uid is
    not the one its plan read (``planned_uid``), so the object the incident was about was
    deleted and another created under its name since (a StatefulSet's pod, a redeploy);
    None when it is the same object, or either uid is not known."""
    planned = operation.planned_uid
    found = snapshot.get("uid") if isinstance(snapshot, dict) else None
    if not planned or not found or str(found) == planned:
        return None
    return (
        f"did not write {operation.target}: the object the incident was about was replaced: "
        f"the one the plan read (uid {planned}) was deleted and another of the same name "
        f"(uid {found}) created since, which this decision is not about; nothing was written"
    )


class Executor:
    def __init__(
        self,
        ledger: Ledger,
        writer: ClusterWriter,
        clock: Clock,
        *,
        owner: str,
        is_leader: Callable[[], bool] = lambda: True,
        metrics: Metrics | None = None,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.ledger = ledger
        self.writer = writer
        self.clock = clock
        self.owner = owner
        self.is_leader = is_leader
        # Whether the daemon is shutting down: asked before each write is started (a
        # step, an undo, a drain round, each eviction of a round), as ``is_leader`` is.
        # A write already under way finishes; nothing new starts, so the lease is
        # released with no write of ours in flight.
        self.stopping = stopping
        self.metrics = metrics
        # The disruption budget a drain evicts within; None: no limit (the engine sets it).
        self.drain_budget: DrainBudget | None = None

    def apply(
        self,
        execution_key: str,
        step: int,
        operation: Operation,
        *,
        decision_id: str | None,
        runbook: str,
        reason_code: str,
        message: str,
        dry_run: bool = False,
    ) -> StepOutcome:
        """Write one step: intent first, then the write, then its result. Every line it
        logs carries ``decision_id`` (whichever loop calls it)."""
        with _logging_as(decision_id):
            if not self.is_leader():
                return StepOutcome(
                    "not_leader", "this replica does not hold the lease; not writing"
                )
            if self.stopping():
                return StepOutcome("stopping", SHUTTING_DOWN)
            try:
                snapshot = self.writer.snapshot(operation)
            except TransientError as exc:
                # Nothing is written yet and no intent recorded: the step is not half done.
                # A failure that may pass (the API server away, a cache not yet synced, a
                # controller that has not observed the latest spec) is "unread": the caller
                # may try the step again later rather than fail the run for it.
                self._count_error(exc.reason)
                said = f"could not read {operation.target} before writing: {exc}"
                return StepOutcome("unread", said, reason=exc.reason)
            except PermanentError as exc:
                # Nothing written either; the caller fails the decision and tells a person.
                self._count_error(exc.reason)
                said = (
                    f"could not read {operation.target} before writing: {exc}"
                    if exc.reason in _READ_FAILURES
                    else f"did not write {operation.target}: {exc}"  # read, and refused
                )
                return StepOutcome("failed", said, reason=exc.reason)
            replaced = _replaced_since_plan(operation, snapshot)
            if replaced is not None:
                # Not the object the decision was made about: nothing is written and no
                # intent recorded, as for a read refused for good.
                self._count_error(REPLACED_SINCE_PLAN)
                log.warning("%s", replaced, extra={"target": str(operation.target)})
                return StepOutcome("failed", replaced, reason=REPLACED_SINCE_PLAN)
            intent_id = self.ledger.record_intent(
                execution_key,
                step,
                operation_to_dict(operation),
                snapshot,
                self.owner,
                self.clock.now(),
                decision_id,
            )
            if intent_id is None:
                return StepOutcome(
                    "already_recorded",
                    f"step {step} of {execution_key} already has an intent; reconciling, "
                    "not repeating",
                )
            if not self.is_leader():
                self.ledger.finish_intent(
                    intent_id,
                    "abandoned",
                    self.clock.now(),
                    {"reason": "lost the lease before writing"},
                )
                return StepOutcome("not_leader", "lost the lease before writing", intent_id)
            # The object the snapshot read, by its uid: one deleted and created again
            # since under the same name is refused (TargetReplaced), never written.
            uid = snapshot.get("uid") if isinstance(snapshot, dict) else None
            if isinstance(operation, Drain) and not dry_run:
                context = {"runbook": runbook, "reason_code": reason_code, "message": message}
                return self._start_drain(intent_id, operation, decision_id, context, uid)
            try:
                result = (
                    self.writer.apply(operation, dry_run=dry_run, uid=uid)
                    if uid
                    else self.writer.apply(operation, dry_run=dry_run)
                )
            except PermanentError as exc:
                return self._refused(intent_id, exc)
            except TransientError as exc:
                self._count_error(exc.reason)
                if not self.is_leader():
                    return self._lost_lease(intent_id, operation, exc)
                # The write may or may not have reached the cluster: find out, don't guess.
                try:
                    settled = self._settle(self._intent(intent_id), note=str(exc))
                except TransientError as unread:
                    # Not even a read comes back: nobody can tell yet whether it happened.
                    # The intent stays pending, and ``settle`` looks again later.
                    self._count_error(unread.reason)
                    return StepOutcome(
                        "unsettled",
                        f"{exc}; whether it happened is not known yet: {operation.target} "
                        f"could not be read afterwards ({unread})",
                        intent_id,
                    )
                if settled == "applied":
                    return StepOutcome("applied", f"applied despite an error: {exc}", intent_id)
                return StepOutcome("failed", str(exc), intent_id, reason=exc.reason)
            status: StepStatus = "dry_run" if dry_run else "applied"
            self.ledger.finish_intent(
                intent_id,
                status,
                self.clock.now(),
                {"summary": result.summary, "changed": result.changed, "after": result.after},
            )
            if not dry_run and result.changed:
                self.ledger.log_action(
                    runbook, str(operation.target), self.clock.now(), decision_id
                )
                self._event(operation, reason_code, f"{message} ({result.summary})")
            log.info(
                "%s %s: %s",
                "dry-run" if dry_run else "applied",
                operation.op,
                result.summary,
                extra={"target": str(operation.target), "runbook": runbook},
            )
            return StepOutcome(status, result.summary, intent_id, result)

    def undo(self, intent: Intent, *, reason_code: str, message: str) -> StepOutcome:
        """Restore what an applied intent changed, from its recorded snapshot."""
        if not self.is_leader():
            return StepOutcome("not_leader", "this replica does not hold the lease; not undoing")
        if self.stopping():
            return StepOutcome("stopping", SHUTTING_DOWN)
        operation = operation_from_dict(intent.operation)
        applied = dict(intent.result or {})
        if applied.get("changed") is False:
            return self._nothing_to_undo(intent, operation, applied)
        before = _undo_snapshot(intent, operation)
        if isinstance(operation, Drain) and before.get("unschedulable") is True:
            # The node was cordoned before the drain's own cordon (by someone else,
            # between the intent's read and the write, or before the run): the drain
            # cordoned nothing, and uncordoning would undo their cordon.
            said = (
                f"{operation.target}: nothing to undo: the node was already cordoned when "
                "the drain's cordon was written (by someone else), so it stays cordoned; "
                "evicted pods are not brought back"
            )
            return self._nothing_to_undo(intent, operation, applied, said=said)
        # Write-ahead for the undo too: "undoing" before the write, so a crash between
        # the write and its record is found by ``reconcile`` and not taken for an undo
        # still to do, nor for someone else's change.
        if not self.ledger.finish_intent(
            intent.id, "undoing", self.clock.now(), applied, expected=("applied",)
        ):
            return StepOutcome("failed", "this step is not applied (or already being undone)")
        if not self.is_leader():  # the lease was lost while the undo was being recorded
            self.ledger.finish_intent(
                intent.id, "applied", self.clock.now(), applied, expected=("undoing",)
            )
            return StepOutcome("not_leader", "lost the lease before undoing", intent.id)
        try:
            result = self.writer.undo(operation, before)
        except TransientError as exc:
            # The API not answering: the undo may or may not have reached the cluster (a
            # timeout after the write). Neither retried blindly nor called failed: the
            # target is read back and what it holds is recorded (``_read_back_undo``).
            self._count_error(exc.reason)
            if not self.is_leader():  # left ``undoing``: the next leader reads it back
                return StepOutcome(
                    "unsettled",
                    f"lost the lease while undoing ({exc}); whether the undo landed is read "
                    "back by the next leader",
                    intent.id,
                    reason=exc.reason,
                )
            return self._read_back_undo(intent, operation, exc, reason_code, message)
        except PermanentError as exc:  # refused (``ChangedSinceWrite``, ``NotUndoable``...)
            self._count_error(exc.reason)
            self.ledger.finish_intent(
                intent.id, "applied", self.clock.now(), applied, expected=("undoing",)
            )
            return StepOutcome("failed", f"undo failed: {exc}", intent.id, reason=exc.reason)
        self.ledger.finish_intent(
            intent.id,
            "undone",
            self.clock.now(),
            {"summary": result.summary, "undo": True},
            expected=("undoing",),
        )
        self._event(operation, reason_code, f"{message} ({result.summary})", warning=True)
        return StepOutcome("undone", result.summary, intent.id, result)

    def _nothing_to_undo(
        self,
        intent: Intent,
        operation: Operation,
        applied: dict[str, Any],
        *,
        said: str | None = None,
    ) -> StepOutcome:
        """A step whose write changed nothing (its target already held the value, set
        by someone else before the write, or between Autonomic's read and its write):
        there is nothing of Autonomic's to put back. Writing the intent's snapshot back
        would undo theirs (uncordon a node a person cordoned meanwhile), so nothing is
        written and the step is ``undone``: the target holds what it held before.
        ``said``: why, when it is not that the step changed nothing (a drain evicted
        pods, but the node was cordoned before its cordon)."""
        summary = said or (
            f"{operation.target}: nothing to undo: the step changed nothing "
            f"({applied.get('summary', 'found already as asked')}); left as it is"
        )
        if not self.ledger.finish_intent(
            intent.id,
            "undone",
            self.clock.now(),
            {"summary": summary, "undo": True, "nothing_written": True},
            expected=("applied",),
        ):
            return StepOutcome("failed", "this step is not applied (or already being undone)")
        log.info("undo of intent %s: %s", intent.id, summary)
        return StepOutcome("undone", summary, intent.id)

    def _read_back_undo(
        self,
        intent: Intent,
        operation: Operation,
        exc: TransientError,
        reason_code: str,
        message: str,
    ) -> StepOutcome:
        """An undo whose write got no answer: read the target back and record what is
        true. It holds again what it held before Autonomic's write: the undo landed
        (``undone``). It holds something else (still Autonomic's values, or someone
        else's): the undo did not land, the intent goes back to ``applied`` and a later
        attempt goes through the writer's compare-and-set, which refuses to overwrite a
        change made since. Not even a read comes back: the intent stays ``undoing`` (as
        after a crash) and ``settle_undo`` reads again at the next cycle."""
        try:
            now = self.writer.read_back(operation)
        except TransientError as unread:
            self._count_error(unread.reason)
            return StepOutcome(
                "unsettled",
                f"undo not answered ({exc}), and {operation.target} could not be read back "
                f"({unread}); whether it happened is found out at the next cycle",
                intent.id,
                reason=exc.reason,
            )
        except PermanentError as unread:
            now = {"unreadable": str(unread)}
        if _restored(_undo_snapshot(intent, operation), now, operation):
            summary = (
                f"undo not answered ({exc}), but {operation.target} reads back as it was "
                "before Autonomic's write: the undo landed"
            )
            self.ledger.finish_intent(
                intent.id,
                "undone",
                self.clock.now(),
                {"summary": summary, "undo": True, "read_back": True},
                expected=("undoing",),
            )
            self._event(operation, reason_code, f"{message} ({summary})", warning=True)
            log.warning("undo of intent %s: %s", intent.id, summary)
            return StepOutcome("undone", summary, intent.id)
        applied = dict(intent.result or {})
        applied["undo_not_landed"] = {"at": self.clock.now(), "error": str(exc)}
        self.ledger.finish_intent(
            intent.id, "applied", self.clock.now(), applied, expected=("undoing",)
        )
        return StepOutcome(
            "unsettled",
            f"undo not answered ({exc}); read back, {operation.target} does not hold what it "
            "held before Autonomic's write, so the undo did not land: it is not undone",
            intent.id,
            reason=exc.reason,
        )

    def reconcile(self) -> list[tuple[Intent, str]]:
        """Settle every intent left pending (a crash between intent and result)."""
        settled = []
        for intent in self.ledger.intents(status=["pending"]):
            with _logging_as(intent.decision_id):
                settled.append((intent, self.settle(intent, note="found pending after a restart")))
        for intent in self.ledger.intents(status=["undoing"]):
            with _logging_as(intent.decision_id):
                settled.append((intent, self._settle_undo(intent)))
        return settled

    def settle(self, intent: Intent, *, note: str) -> str:
        """Settle one pending intent by looking at the cluster: ``applied`` or
        ``abandoned``. A drain under way runs its next round instead (``draining`` while
        it goes on; a drain cut off after its cordon is resumed). Raises
        ``TransientError`` when the cluster cannot be read; the intent stays pending.
        Nothing while shutting down (``stopping``): it stays pending for the next leader."""
        if self.stopping():
            return "pending"
        if "drain" in (intent.result or {}):
            status = self._next_drain_round(intent)
        else:
            resumed = self._resume_drain(intent)
            status = resumed if resumed is not None else self._settle(intent, note=note)
        return "pending" if status == "deposed" else status  # the next leader's to go on

    def _lost_lease(self, intent_id: int, operation: Operation, exc: TransientError) -> StepOutcome:
        """A write that failed after this replica's lease ran out (a retry the adapter did
        not send, ``NotLeaderError``, or a timeout that outlasted the lease): an earlier
        try may have reached the cluster, and finding out is the leader's work now, not
        this replica's. ``unsettled``, as a write whose target cannot be read after it:
        the intent stays pending, and the next leader (this replica, at its next term)
        settles it from the cluster, never writing it again."""
        log.warning(
            "lost the lease while writing %s (%s); its intent %s stays pending for the next "
            "leader to settle",
            operation.target,
            exc,
            intent_id,
        )
        return StepOutcome(
            "unsettled",
            f"lost the lease while writing ({exc}); whether it happened is settled by the "
            "next leader",
            intent_id,
            reason=exc.reason,
        )

    def _refused(
        self, intent_id: int, exc: PermanentError, *, cordoned: bool = False
    ) -> StepOutcome:
        """The cluster refused the write outright: its intent failed, and why. A drain
        refused after its cordon (listing the pods forbidden) did write: ``cordoned``,
        kept in the intent as ``written`` so that nobody is told nothing was written."""
        detail: dict[str, Any] = {"error": str(exc), "reason": exc.reason}
        if cordoned:
            detail["written"] = "the node was cordoned"
        self.ledger.finish_intent(intent_id, "failed", self.clock.now(), detail)
        self._count_error(exc.reason)
        return StepOutcome("failed", str(exc), intent_id, reason=exc.reason)

    # ------------------------------------------------------------------ drains

    def _start_drain(
        self,
        intent_id: int,
        operation: Drain,
        decision_id: str | None,
        context: dict[str, Any],
        uid: str | None = None,
    ) -> StepOutcome:
        """The first round of a drain, after its intent is recorded. ``uid``: the Node
        the intent's snapshot read; its cordon refuses another Node of that name."""
        try:
            result = (
                self.writer.drain_round(operation, None, self._room(), uid=uid)
                if uid
                else self.writer.drain_round(operation, None, self._room())
            )
        except PermanentError as exc:
            return self._refused(intent_id, exc, cordoned=self._cordoned_by(operation, intent_id))
        except TransientError as exc:
            # Whether the cordon happened is not known: the next cycle looks (``settle``)
            # and resumes the drain if the node is cordoned, or settles it as any write.
            self._count_error(exc.reason)
            return StepOutcome(
                "unsettled",
                f"{exc}; the drain of {operation.target} is looked at again next cycle",
                intent_id,
            )
        self.ledger.log_action(
            context["runbook"], str(operation.target), self.clock.now(), decision_id
        )
        self._spent(context, operation, result)
        status = self._drain_progress(self._intent(intent_id), operation, result, context, 1)
        if status == "deposed":
            return StepOutcome(
                "not_leader",
                f"{result.summary}; the lease ran out during the drain's first round: the "
                "next leader goes on with it",
                intent_id,
            )
        if status == "draining":
            return StepOutcome(
                "draining",
                f"{result.summary}; draining: the next cycles go on, for at most "
                f"{operation.timeout_seconds:.0f} s",
                intent_id,
                result,
            )
        if status == "applied":
            return StepOutcome("applied", result.summary, intent_id, result)
        return StepOutcome("failed", f"the drain's intent was settled elsewhere ({status})")

    def _next_drain_round(self, intent: Intent) -> str:
        """One more round of a drain under way, from the progress in its intent."""
        operation = operation_from_dict(intent.operation)
        state = dict(intent.result or {})
        if not isinstance(operation, Drain):  # pragma: no cover - only drains store progress
            return "pending"
        if not self.is_leader():
            return "pending"  # the leader goes on; nothing is written here
        context = dict(state.get("context") or {})
        rounds = int(state.get("rounds", 1)) + 1
        try:
            result = self.writer.drain_round(operation, dict(state["drain"]), self._room())
        except PermanentError as exc:
            self._count_error(exc.reason)
            # The node was cordoned by the first round (and is not now only if someone
            # uncordoned it since, which a round would have said): the step failed,
            # but it wrote.
            self.ledger.finish_intent(
                intent.id,
                "failed",
                self.clock.now(),
                {
                    "error": str(exc),
                    "reason": exc.reason,
                    "drain": state["drain"],
                    "written": _drain_written(state["drain"]),
                },
            )
            log.warning("the drain of intent %s failed: %s", intent.id, exc)
            return "failed"
        except TransientError as exc:
            self._count_error(exc.reason)
            log.warning("a drain round of intent %s failed: %s", intent.id, exc)
            if self.clock.now() < self._deadline(intent, operation):
                return "draining"
            # The timeout passed: the drain ends where its last round left it.
            last = OperationResult(
                operation,
                False,
                True,
                dict(state["drain"].get("before") or {}),
                dict(state["drain"]),
                f"{state.get('summary', '')}; the last round failed: {exc}",
            )
            return self._drain_progress(intent, operation, last, context, rounds, final=True)
        self._spent(context, operation, result)
        return self._drain_progress(intent, operation, result, context, rounds)

    def _cordoned_by(self, operation: Drain, intent_id: int) -> bool:
        """Whether a drain whose first round failed cordoned its node before failing: it
        was schedulable when the intent was recorded and is not now."""
        intent = self._intent(intent_id)
        if intent.snapshot.get("unschedulable") is not False:
            return False
        try:
            now = self.writer.snapshot(Cordon(operation.target))  # the node alone
        except (PermanentError, TransientError):
            return False
        return now.get("unschedulable") is True

    def _room(self) -> EvictionRoom:
        """The room a drain round evicts within: the disruption budget's, and none at all
        once the daemon is shutting down (asked before each eviction: a round under way
        evicts no more pods, and those left wait for the next leader's round)."""
        room = self.drain_budget.room() if self.drain_budget is not None else None
        return replace(room or EvictionRoom(), halted=self.stopping)

    def _spent(self, context: dict[str, Any], operation: Drain, result: OperationResult) -> None:
        evicted = dict(result.after.get("evicted_now") or {})
        if self.drain_budget is not None and evicted:
            runbook = str(context.get("runbook") or "drain")
            self.drain_budget.spent(runbook, operation.target, evicted)

    def _deadline(self, intent: Intent, operation: Drain) -> float:
        return intent.created_at + operation.timeout_seconds

    def _drain_progress(
        self,
        intent: Intent,
        operation: Drain,
        result: OperationResult,
        context: dict[str, Any],
        rounds: int,
        *,
        final: bool = False,
    ) -> str:
        """Store a round's progress in the (pending) intent, or finish the intent as
        applied once the drain is done or its timeout has passed. Neither once this
        replica has lost the lease (a round can outlast it: its evictions are fenced, one
        by one, but its record is not): the next leader may be running rounds of the
        same intent, and an older progress stored over its own, or the intent finished
        under it, would mislead it. ``deposed``, nothing stored: the next leader goes on
        from the progress last stored, and finds the pods this round evicted gone."""
        if not self.is_leader():
            log.warning(
                "lost the lease during a round of the drain of intent %s; not storing its "
                "progress (%s): the next leader goes on with it",
                intent.id,
                result.summary,
            )
            return "deposed"
        after = result.after
        now = self.clock.now()
        resumed = context.get("evicted_before")
        if not (final or after.get("done") or now >= self._deadline(intent, operation)):
            state = {
                "drain": after,
                "summary": result.summary,
                "rounds": rounds,
                "context": context,
            }
            if self.ledger.finish_intent(intent.id, "pending", now, state):
                return "draining"
            return "raced"
        summary = result.summary
        if not after.get("done"):
            summary += f"; stopped at its timeout of {operation.timeout_seconds:.0f} s"
        if resumed is not None:
            summary = (
                f"resumed after a restart ({resumed} pod(s) were evicted before it): {summary}"
            )
        detail: dict[str, Any] = {
            "summary": summary,
            "changed": True,
            "after": after,
            "rounds": rounds,
        }
        if resumed is not None:
            detail.update(reconciled=True, resumed=True)
        if not self.ledger.finish_intent(intent.id, "applied", now, detail):
            return "raced"
        reason = str(context.get("reason_code") or "DrainResumed")
        message = str(context.get("message") or "Autonomic drained the node")
        self._event(operation, reason, f"{message} ({summary})", warning=not after.get("complete"))
        log.info("drained %s after %d round(s): %s", operation.target, rounds, summary)
        return "applied"

    def _resume_drain(self, intent: Intent) -> str | None:
        """Finish a drain a crash cut off after its cordon; None when it is not one."""
        operation = operation_from_dict(intent.operation)
        if not isinstance(operation, Drain) or intent.snapshot.get("unschedulable") is not False:
            return None
        record = self.ledger.get_decision(intent.decision_id) if intent.decision_id else None
        if record is None or record.proposal.get("mode") == "dryRun":
            return None
        try:
            now_state = self.writer.snapshot(operation)
        except (PermanentError, TransientError):
            return None
        if now_state.get("unschedulable") is not True:
            return None  # never cordoned (or uncordoned since): settle it as any write
        left = set(now_state.get("pods") or [])
        evicted = [p for p in intent.snapshot.get("pods") or [] if p not in left]
        budget = max(operation.max_evictions - len(evicted), 0)
        if not self.is_leader():
            return None
        resumed = replace(operation, max_evictions=budget)
        uid = intent.snapshot.get("uid")  # the Node the intent read: not another since
        try:
            result = (
                self.writer.drain_round(resumed, None, self._room(), uid=uid)
                if uid
                else self.writer.drain_round(resumed, None, self._room())
            )
        except (PermanentError, TransientError) as exc:
            self._count_error(exc.reason)
            return None
        log.warning(
            "resuming the drain of intent %s (%d pod(s) evicted before a restart): %s",
            intent.id,
            len(evicted),
            result.summary,
        )
        context = {
            "runbook": record.proposal.get("runbook"),
            "reason_code": "DrainResumed",
            "message": "Autonomic resumed a drain cut off by a restart",
            "evicted_before": len(evicted),
        }
        self._spent(context, operation, result)
        return self._drain_progress(intent, operation, result, context, 1)

    def settle_undo(self, intent: Intent) -> str:
        """An undo left ``undoing`` (a crash, or the API not answering it): settled as
        ``reconcile`` does, by the leader only. Returns the intent's status after."""
        if not self.is_leader() or self.stopping():
            return "undoing"
        with _logging_as(intent.decision_id):
            return self._settle_undo(intent)

    def _settle_undo(self, intent: Intent) -> str:
        """An undo cut off by a crash, or whose write got no answer: the target is read
        back first. Holding what it held before Autonomic's write, the undo landed
        (``undone``). Otherwise it did not, and it is written now through the writer's
        compare-and-set: while the target holds Autonomic's values it is undone; when it
        holds someone else's (``ChangedSinceWrite``), their change is left in place and
        the intent goes back to ``applied`` (not ``undone``: nothing was undone)."""
        operation = operation_from_dict(intent.operation)
        before = _undo_snapshot(intent, operation)
        try:
            now = self.writer.read_back(operation)
            result = (
                None if _restored(before, now, operation) else self.writer.undo(operation, before)
            )
        except PermanentError as exc:
            applied = dict(intent.result or {})
            applied["undo_refused"] = {"at": self.clock.now(), "why": str(exc)}
            self.ledger.finish_intent(intent.id, "applied", self.clock.now(), applied, ("undoing",))
            log.warning("an interrupted undo of intent %s was not carried out: %s", intent.id, exc)
            return "applied"
        except TransientError:
            return "undoing"  # the next cycle (or restart) reads again
        if result is None:
            detail = {
                "summary": f"{operation.target} read back as before the write: the undo landed",
                "undo": True,
                "reconciled": True,
                "read_back": True,
            }
        else:
            detail = {"summary": result.summary, "undo": True, "reconciled": True}
        self.ledger.finish_intent(intent.id, "undone", self.clock.now(), detail, ("undoing",))
        log.warning("reconciled an interrupted undo of intent %s (%s)", intent.id, operation.op)
        return "undone"

    def _settle(self, intent: Intent, *, note: str) -> str:
        operation = operation_from_dict(intent.operation)
        try:
            current = self.writer.snapshot(operation)
        except PermanentError as exc:
            if exc.reason != "NotFound":
                return self._unknown(intent, operation, exc, note)
            current = {"gone": True}  # deleted: a pod removed is the write done
        if _comparable(current, intent.snapshot) == _comparable(intent.snapshot, intent.snapshot):
            status, detail = "abandoned", "the cluster shows no trace of the write"
        elif _replaced(intent.snapshot, current):
            status = "applied"
            detail = (
                "the object was replaced since the snapshot (another uid): taken as "
                "applied; an undo is not written on the new object (TargetReplaced)"
            )
        else:
            status, detail = "applied", "the object changed since the snapshot: taken as applied"
        self.ledger.finish_intent(
            intent.id, status, self.clock.now(), {"reconciled": True, "note": note, "why": detail}
        )
        log.warning("reconciled intent %s (%s): %s", intent.id, operation.op, detail)
        return status

    def _unknown(self, intent: Intent, operation: Operation, exc: PermanentError, note: str) -> str:
        """A pending write whose target is there but whose read for the write is refused
        for good (a Deployment paused since refuses a rollback's read, a permission
        taken away): what it holds cannot be compared with the snapshot, so whether the
        write happened is not known. Not ``applied`` (that would verify, and undo, a
        write that may never have been made) nor ``abandoned`` (it may have been made):
        ``failed``, with ``written`` saying it is not known, so the run is failed and
        the escalation tells a person to look."""
        self._count_error(exc.reason)
        said = (
            f"whether it was written is not known: {operation.target} could not be read to "
            f"tell ({exc})"
        )
        self.ledger.finish_intent(
            intent.id,
            "failed",
            self.clock.now(),
            {
                "reconciled": True,
                "note": note,
                "why": said,
                "error": str(exc),
                "reason": exc.reason,
                # As the escalation says what a failed run left: "not undone: ... before
                # it failed, and that stays".
                "written": (
                    f"a write to {operation.target} that may or may not have happened (it "
                    f"could not be read to tell: {exc})"
                ),
            },
        )
        log.warning("reconciled intent %s (%s): %s", intent.id, operation.op, said)
        return "failed"

    def _intent(self, intent_id: int) -> Intent:
        for intent in self.ledger.intents(status=["pending"]):
            if intent.id == intent_id:
                return intent
        raise KeyError(intent_id)

    def report(self, target: ObjectRef, annotations: dict[str, str]) -> bool:
        """Publish a recommendation as annotations on ``target`` (keys under
        ``autonomic.dev/`` only). A report, not an action: no intent, no guard budget, and
        a failure is logged, not raised. Only the leader writes; returns whether it did."""
        if not self.is_leader():
            return False
        try:
            self.writer.annotate(target, annotations)
        except (PermanentError, TransientError) as exc:
            self._count_error(exc.reason)
            log.warning("could not annotate %s: %s", target, exc)
            return False
        return True

    def _event(
        self, operation: Operation, reason: str, message: str, *, warning: bool = False
    ) -> None:
        try:
            self.writer.post_event(operation.target, reason, message[:1000], warning=warning)
        except (PermanentError, TransientError) as exc:  # an event is worth a try, not a failure
            log.warning("could not post an event on %s: %s", operation.target, exc)

    def _count_error(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.errors.labels(kind=reason).inc()


# Reasons of a snapshot's error that mean the target could not be read (gone, not
# allowed, an API failure); any other is a refusal of what was read (no older revision
# to roll back to, a StatefulSet updated OnDelete, ...).
_READ_FAILURES = frozenset({"NotFound", "Forbidden", "Permanent"})


# Fields of a snapshot that move with any rollout or any write, not with the undo: the
# resourceVersion, a Deployment's revision numbers and the template it would roll back
# to, a drain's list of pods.
_NOT_RESTORED = frozenset(
    {"resourceVersion", "uid", "revision", "target_revision", "target_template", "pods", "skipped"}
)


# An HPA's snapshot holds both bounds, and its undo writes back only the one its
# operation wrote: the other may have been moved since (a person raising the ceiling
# after a floor was written) without making the undo any less landed.
_ONLY_RESTORED = {
    "set_hpa_min_replicas": frozenset({"minReplicas"}),
    "set_hpa_max_replicas": frozenset({"maxReplicas"}),
}


def _restored(before: Any, now: Any, operation: Operation) -> bool:
    """Whether the target read back holds again what it held before the write
    (``before``, the intent's snapshot): the fields an undo puts back."""
    if not isinstance(before, dict) or not isinstance(now, dict):
        return False
    if _replaced(before, now):
        return False  # another object of the same name: whatever it holds, not restored
    keys = set(before) - _NOT_RESTORED
    keys &= _ONLY_RESTORED.get(operation.op, keys)
    normal_before, normal_now = _normal(before), _normal(now)
    return bool(keys) and all(normal_before.get(k) == normal_now.get(k) for k in keys)


def _undo_snapshot(intent: Intent, operation: Operation) -> dict[str, Any]:
    """What an undo of ``intent`` puts back: its snapshot, but for a drain the node as
    its first round's cordon found it (``before`` in the drain's progress). That read
    comes after the intent's snapshot, and when someone cordoned the node in between
    (the cordon then met a 409, and its retry found the node cordoned), it is theirs:
    the snapshot's "schedulable" would have the undo uncordon it. Not for a drain
    resumed after a restart: its first round found the node cordoned by the cut-off
    round itself, so the intent's snapshot is what the node held before the drain."""
    snapshot = dict(intent.snapshot)
    if not isinstance(operation, Drain):
        return snapshot
    result = intent.result or {}
    found = (result.get("after") or {}).get("before")
    if result.get("resumed") or not isinstance(found, dict) or "unschedulable" not in found:
        return snapshot
    snapshot["unschedulable"] = found["unschedulable"]
    if found.get("uid"):
        snapshot["uid"] = found["uid"]
    return snapshot


def _replaced(before: Any, now: Any) -> bool:
    """Whether ``now`` (the target read back) is another object than the one the
    snapshot ``before`` recorded: both carry a uid, and they differ."""
    if not isinstance(before, dict) or not isinstance(now, dict):
        return False
    return bool(before.get("uid") and now.get("uid") and before["uid"] != now["uid"])


def _drain_written(progress: dict[str, Any]) -> str:
    """What a drain had written when it failed, from its stored progress."""
    evicted = len(progress.get("evicted") or [])
    return f"the node was cordoned and {evicted} pod(s) evicted"


def _logging_as(decision_id: str | None) -> contextlib.AbstractContextManager[None]:
    """Log lines written inside carry ``decision_id`` (when there is one)."""
    return decision_context(decision_id) if decision_id else contextlib.nullcontext()
