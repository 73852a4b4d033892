"""The executor: the only code that writes to the cluster.

Every write goes the same way, whether it comes from a runbook, the scaler or an undo:

1. refuse unless this replica holds the lease;
2. read the snapshot needed to undo the write;
3. record a write-ahead intent in the ledger (unique per execution and step, so a
   second attempt at the same step is refused, not repeated);
4. check the lease again, then write (or server-side dry-run);
5. record the result, count the action for rate limits, and post a Kubernetes Event
   with the reason code and sentence.

``reconcile`` settles intents left pending by a crash: it compares the cluster with the
recorded snapshot (the fields the operation changes, not the resourceVersion, which any
other writer bumps). If nothing changed, the write never happened (``abandoned``); if
the object moved, the write is taken as applied and goes on to verification. Either way,
nothing is blindly written again. A write that fails without an answer is settled the
same way at once; when the object cannot be read then either, the step is ``unsettled``
and its intent stays pending, and the engine settles it at a later cycle.

One write is *resumed* instead: a drain cut off after it cordoned the node (the node
was schedulable in the snapshot and is cordoned now). Draining is idempotent (cordon
again is a no-op, an eviction goes through the Eviction API and its PodDisruptionBudgets,
a pod already gone counts as evicted), so the next leader evicts what is left, within
what remains of the ``max_evictions`` budget, and records the intent as applied. Any
other drain (the node not cordoned, a dry run, a failed resume) is settled as above.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from agent.clock import Clock
from agent.errors import PermanentError, TransientError
from agent.ledger import Intent, Ledger
from agent.observability import Metrics
from remediation.ports import (
    ClusterWriter,
    Drain,
    ObjectRef,
    Operation,
    OperationResult,
    operation_from_dict,
    operation_to_dict,
)

__all__ = ["Executor", "StepOutcome"]

log = logging.getLogger("autonomic.executor")

# "unsettled": the write failed without an answer, and the cluster could not be read
# afterwards to tell whether it happened; its intent stays pending until ``settle``.
StepStatus = Literal[
    "applied", "dry_run", "failed", "already_recorded", "not_leader", "undone", "unsettled"
]


@dataclass(frozen=True)
class StepOutcome:
    status: StepStatus
    message: str
    intent_id: int | None = None
    result: OperationResult | None = None
    reason: str | None = None  # a failure's reason code (``NotFound``, ``ApiUnavailable``...)


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _comparable(snapshot: Any) -> Any:
    """A snapshot without its ``resourceVersion``: any write bumps that (a controller's
    status update, a label someone added), so comparing it would take an unrelated
    write for ours. The fields the operation changes decide whether it happened."""
    normal = _normal(snapshot)
    if isinstance(normal, dict):
        normal.pop("resourceVersion", None)
    return normal


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
    ) -> None:
        self.ledger = ledger
        self.writer = writer
        self.clock = clock
        self.owner = owner
        self.is_leader = is_leader
        self.metrics = metrics

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
        if not self.is_leader():
            return StepOutcome("not_leader", "this replica does not hold the lease; not writing")
        try:
            snapshot = self.writer.snapshot(operation)
        except (PermanentError, TransientError) as exc:
            # Nothing is written yet and no intent recorded, so failing here is safe: the
            # step is not half done, and the caller fails the decision and tells a person
            # instead of leaving it executing (and its target blocked) for ever.
            self._count_error(exc.reason)
            return StepOutcome(
                "failed",
                f"could not read {operation.target} before writing: {exc}",
                reason=exc.reason,
            )
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
                f"step {step} of {execution_key} already has an intent; reconciling, not repeating",
            )
        if not self.is_leader():
            self.ledger.finish_intent(
                intent_id,
                "abandoned",
                self.clock.now(),
                {"reason": "lost the lease before writing"},
            )
            return StepOutcome("not_leader", "lost the lease before writing", intent_id)
        try:
            result = self.writer.apply(operation, dry_run=dry_run)
        except PermanentError as exc:
            self.ledger.finish_intent(
                intent_id, "failed", self.clock.now(), {"error": str(exc), "reason": exc.reason}
            )
            self._count_error(exc.reason)
            return StepOutcome("failed", str(exc), intent_id, reason=exc.reason)
        except TransientError as exc:
            # The write may or may not have reached the cluster: find out, don't guess.
            self._count_error(exc.reason)
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
            self.ledger.log_action(runbook, str(operation.target), self.clock.now(), decision_id)
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
        operation = operation_from_dict(intent.operation)
        # Write-ahead for the undo too: "undoing" before the write, so a crash between
        # the write and its record is found by ``reconcile`` and not taken for an undo
        # still to do, nor for someone else's change.
        applied = dict(intent.result or {})
        if not self.ledger.finish_intent(
            intent.id, "undoing", self.clock.now(), applied, expected=("applied",)
        ):
            return StepOutcome("failed", "this step is not applied (or already being undone)")
        try:
            result = self.writer.undo(operation, intent.snapshot)
        except (PermanentError, TransientError) as exc:
            self._count_error(exc.reason)
            self.ledger.finish_intent(
                intent.id, "applied", self.clock.now(), applied, expected=("undoing",)
            )
            return StepOutcome("failed", f"undo failed: {exc}", intent.id)
        self.ledger.finish_intent(
            intent.id,
            "undone",
            self.clock.now(),
            {"summary": result.summary, "undo": True},
            expected=("undoing",),
        )
        self._event(operation, reason_code, f"{message} ({result.summary})", warning=True)
        return StepOutcome("undone", result.summary, intent.id, result)

    def reconcile(self) -> list[tuple[Intent, str]]:
        """Settle every intent left pending (a crash between intent and result)."""
        settled = []
        for intent in self.ledger.intents(status=["pending"]):
            settled.append((intent, self.settle(intent, note="found pending after a restart")))
        for intent in self.ledger.intents(status=["undoing"]):
            settled.append((intent, self._settle_undo(intent)))
        return settled

    def settle(self, intent: Intent, *, note: str) -> str:
        """Settle one pending intent by looking at the cluster: ``applied`` (a drain cut
        off after its cordon is finished first) or ``abandoned``. Raises
        ``TransientError`` when the cluster cannot be read; the intent stays pending."""
        resumed = self._resume_drain(intent)
        return resumed if resumed is not None else self._settle(intent, note=note)

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
        try:
            result = self.writer.apply(replace(operation, max_evictions=budget), dry_run=False)
        except (PermanentError, TransientError) as exc:
            self._count_error(exc.reason)
            return None
        summary = (
            f"resumed after a restart ({len(evicted)} pod(s) were evicted before it): "
            f"{result.summary}"
        )
        detail = {
            "summary": summary,
            "changed": True,
            "after": result.after,
            "reconciled": True,
            "resumed": True,
        }
        self.ledger.finish_intent(intent.id, "applied", self.clock.now(), detail)
        self._event(operation, "DrainResumed", summary)
        log.warning("resumed the drain of intent %s: %s", intent.id, summary)
        return "applied"

    def _settle_undo(self, intent: Intent) -> str:
        """An undo cut off by a crash: write it now unless the object no longer holds
        our values, which (the undo being ours and in flight) means it was written."""
        operation = operation_from_dict(intent.operation)
        try:
            result = self.writer.undo(operation, intent.snapshot)
        except PermanentError as exc:
            if exc.reason != "ChangedSinceWrite":
                self.ledger.finish_intent(
                    intent.id, "applied", self.clock.now(), intent.result, ("undoing",)
                )
                return "applied"
            detail = {"undo": True, "reconciled": True, "note": f"written before a restart: {exc}"}
        except TransientError:
            return "undoing"  # the next restart (or reconcile) tries again
        else:
            detail = {"summary": result.summary, "undo": True, "reconciled": True}
        self.ledger.finish_intent(intent.id, "undone", self.clock.now(), detail, ("undoing",))
        log.warning("reconciled an interrupted undo of intent %s (%s)", intent.id, operation.op)
        return "undone"

    def _settle(self, intent: Intent, *, note: str) -> str:
        operation = operation_from_dict(intent.operation)
        try:
            current = self.writer.snapshot(operation)
        except PermanentError:
            current = {"gone": True}
        if _comparable(current) == _comparable(intent.snapshot):
            status, detail = "abandoned", "the cluster shows no trace of the write"
        else:
            status, detail = "applied", "the object changed since the snapshot: taken as applied"
        self.ledger.finish_intent(
            intent.id, status, self.clock.now(), {"reconciled": True, "note": note, "why": detail}
        )
        log.warning("reconciled intent %s (%s): %s", intent.id, operation.op, detail)
        return status

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
