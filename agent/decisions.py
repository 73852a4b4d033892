"""The decision layer: one path for every job's proposals.

``DecisionService.decide`` records a proposal in the ledger with its confidence (the
signal's, combined with the decision type's track record), routes it (act, ask,
escalate, or record only), and, when it asks, puts the question to the approval
channel. Answers, expiries and verified outcomes come back through ``answer``,
``expire_due`` and ``record_outcome``; ``recalibrate`` moves the thresholds from the
recorded outcomes. Nothing here talks to the cluster: executing an approved decision
is the job of whoever proposed it (the remediation engine, the scaler).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from agent.calibration import Outcome, Recalibration, recalibrate, track_record_confidence
from agent.clock import Clock
from agent.errors import AutonomicError
from agent.ledger import Decision, DecisionRecord, Ledger
from agent.observability import Metrics, decision_context
from agent.routing import Autonomy, Route, Thresholds, route
from agent.settings import RoutingSettings

__all__ = ["ApprovalChannel", "DecisionService", "Proposal", "Routed"]

log = logging.getLogger("autonomic.decisions")

STATUS_FOR_ROUTE: dict[Route, str] = {
    "auto": "approved",
    "ask": "asked",
    "escalate": "escalated",
    "observe": "observed",
    "shadow": "shadowed",
}


class ApprovalChannel(Protocol):
    """Where questions and escalations go (Slack, or the ledger-only CLI/HTTP channel)."""

    def ask(self, decision: DecisionRecord, question_id: str) -> str | None:
        """Post a question; return a message reference. Raise on delivery failure."""
        ...

    def escalate(self, decision: DecisionRecord, why: str) -> None: ...

    def answered(self, decision: DecisionRecord, question_id: str, answer: str, actor: str) -> None:
        """Update the question after its answer (who, when, what happens next)."""
        ...

    def progress(self, decision: DecisionRecord, message: str) -> None:
        """Report progress on a decision (executing, verified, undone)."""
        ...


@dataclass(frozen=True)
class Proposal:
    kind: Literal["scaling", "anomaly", "canary", "remediation"]
    decision_type: str
    subject: str
    proposal: Mapping[str, Any]
    signal_confidence: float
    reason_code: str
    reason: str
    evidence: Mapping[str, Any]
    model_version: str
    max_autonomy: Autonomy = "auto"
    forced_approval: str | None = None
    shadow: bool = False
    incident_key: str | None = None
    auto_floor: float | None = None


@dataclass(frozen=True)
class Routed:
    decision_id: str
    route: Route
    confidence: float
    thresholds: Thresholds
    reason_code: str
    message: str
    question_id: str | None = None
    delivered: bool = True


@dataclass
class _Counts:
    by_route: dict[str, int] = field(default_factory=dict)


class DecisionService:
    def __init__(
        self,
        ledger: Ledger,
        clock: Clock,
        routing: RoutingSettings,
        *,
        mode: Literal["observe", "propose", "act"],
        channel: ApprovalChannel,
        metrics: Metrics,
        question_ttl: float = 900.0,
        snooze: float = 1800.0,
        fallback: ApprovalChannel | None = None,
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.routing = routing
        self.mode = mode
        self.channel = channel
        self.fallback = fallback
        self.metrics = metrics
        self.question_ttl = question_ttl
        self.snooze = snooze
        self.counts = _Counts()

    # -------------------------------------------------------------- deciding
    def thresholds(self, decision_type: str) -> Thresholds:
        stored = self.ledger.thresholds(decision_type)
        if stored is None:
            return Thresholds(auto=self.routing.auto, ask=self.routing.ask)
        return Thresholds(auto=stored[0], ask=stored[1])

    def track_record(self, decision_type: str) -> list[Outcome]:
        """Recent right/wrong outcomes of this decision type, newest first."""
        rows = self.ledger.outcomes(decision_type, limit=self.routing.window * 4)
        return [Outcome(at, conf, verdict == "right", routed) for at, conf, verdict, routed in rows]

    def decide(self, p: Proposal) -> Routed:
        now = self.clock.now()
        thresholds = self.thresholds(p.decision_type)
        confidence = track_record_confidence(
            p.signal_confidence, self.track_record(p.decision_type), now
        )
        chosen = route(
            confidence,
            thresholds,
            mode=self.mode,
            max_autonomy=p.max_autonomy,
            forced_approval=p.forced_approval,
            shadow=p.shadow,
        )
        evidence = dict(p.evidence)
        evidence["routing"] = {
            "signal_confidence": round(p.signal_confidence, 4),
            "confidence": round(confidence, 4),
            "auto": thresholds.auto,
            "ask": thresholds.ask,
            "route_reason": chosen.message,
        }
        decision_id = self.ledger.record_decision(
            Decision(
                kind=p.kind,
                decision_type=p.decision_type,
                subject=p.subject,
                proposal=p.proposal,
                confidence=confidence,
                reason_code=p.reason_code,
                reason=p.reason,
                evidence=evidence,
                model_version=p.model_version,
                route=chosen.route,
                status=STATUS_FOR_ROUTE[chosen.route],
                incident_key=p.incident_key,
            ),
            now,
        )
        self.counts.by_route[chosen.route] = self.counts.by_route.get(chosen.route, 0) + 1
        self.metrics.decisions.labels(kind=p.kind, route=chosen.route, outcome="proposed").inc()
        question_id: str | None = None
        delivered = True
        with decision_context(decision_id):
            log.info(
                "%s: %s -> %s (%s)",
                p.subject,
                p.reason_code,
                chosen.route,
                chosen.message,
                extra={"route": chosen.route, "reason": p.reason_code, "target": p.subject},
            )
            record = self.ledger.get_decision(decision_id)
            assert record is not None
            if chosen.route == "ask":
                question_id = self.ledger.ask(decision_id, "chat", now, self.question_ttl)
                delivered = self._deliver_question(record, question_id)
            elif chosen.route == "escalate":
                self._escalate(record, chosen.message)
        return Routed(
            decision_id,
            chosen.route,
            confidence,
            thresholds,
            chosen.reason_code,
            chosen.message,
            question_id,
            delivered,
        )

    def _deliver_question(self, record: DecisionRecord, question_id: str) -> bool:
        try:
            ref = self.channel.ask(record, question_id)
        except AutonomicError as exc:
            # The question could not be delivered: nothing will execute on it. Close it,
            # and escalate through the other channel with the reason.
            self.metrics.errors.labels(kind=getattr(exc, "reason", "ChannelError")).inc()
            now = self.clock.now()
            self.ledger.answer(question_id, "expired", "delivery-failure", now, str(exc))
            self.ledger.transition(record.id, ["asked"], "escalated", now)
            self._escalate(record, f"the question could not be delivered: {exc}")
            return False
        if ref:
            self.ledger.set_message_ref(question_id, ref)
        return True

    def _escalate(self, record: DecisionRecord, why: str) -> None:
        for channel in (self.channel, self.fallback):
            if channel is None:
                continue
            try:
                channel.escalate(record, why)
                return
            except AutonomicError as exc:
                self.metrics.errors.labels(kind=getattr(exc, "reason", "ChannelError")).inc()
                log.warning("escalation through %s failed: %s", type(channel).__name__, exc)
        log.error("could not escalate decision %s through any channel: %s", record.id, why)

    # -------------------------------------------------------------- answers
    def answer(
        self,
        question_id: str,
        answer: Literal["approved", "rejected", "snoozed"],
        actor: str,
        reason: str | None = None,
    ) -> bool:
        """Apply a human's answer exactly once. True if this answer took effect."""
        now = self.clock.now()
        question = self.ledger.question(question_id)
        if question is None:
            return False
        snooze_until = now + self.snooze if answer == "snoozed" else None
        if not self.ledger.answer(
            question_id, answer, actor, now, reason, snooze_until=snooze_until
        ):
            return False
        self.metrics.answer_seconds.observe(max(now - question.asked_at, 0.0))
        record = self.ledger.get_decision(question.decision_id)
        assert record is not None
        with decision_context(record.id):
            if answer == "approved":
                self.ledger.transition(record.id, ["asked"], "approved", now)
                self.ledger.add_feedback(record.id, "answer", "approved", actor, now)
            elif answer == "rejected":
                self.ledger.transition(record.id, ["asked"], "rejected", now)
                self.ledger.add_feedback(
                    record.id,
                    "answer",
                    "wrong",
                    actor,
                    now,
                    {"answer": "rejected", "reason": reason},
                )
                self.metrics.human_corrections.labels(decision_type=record.decision_type).inc()
                self.metrics.decisions.labels(
                    kind=record.kind, route="ask", outcome="rejected"
                ).inc()
            else:
                self.ledger.add_feedback(record.id, "answer", "snoozed", actor, now)
            log.info("question %s answered %s by %s", question_id, answer, actor)
            try:
                self.channel.answered(record, question_id, answer, actor)
            except AutonomicError as exc:
                log.warning("could not update the question message: %s", exc)
        return True

    def expire_due(self) -> list[str]:
        """Expire unanswered questions: expiry is a "no" that escalates. Returns decision ids."""
        now = self.clock.now()
        expired = []
        for question in self.ledger.expire_questions(now):
            record = self.ledger.get_decision(question.decision_id)
            if record is None:
                continue
            if self.ledger.transition(record.id, ["asked"], "expired", now):
                self.ledger.add_feedback(record.id, "expiry", "expired", "timeout", now)
                self.metrics.decisions.labels(
                    kind=record.kind, route="ask", outcome="expired"
                ).inc()
                with decision_context(record.id):
                    self._escalate(record, "nobody answered before the question expired")
                expired.append(record.id)
        return expired

    # ------------------------------------------------------------- outcomes
    def record_outcome(
        self,
        decision_id: str,
        *,
        right: bool,
        status: str,
        kind: str = "verification",
        actor: str = "autonomic",
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """A verified result: right (verified) or wrong (failed verification, undone)."""
        now = self.clock.now()
        record = self.ledger.get_decision(decision_id)
        if record is None:
            raise KeyError(decision_id)
        self.ledger.add_feedback(
            decision_id, kind, "right" if right else "wrong", actor, now, detail
        )
        self.ledger.transition(decision_id, ["approved", "executing", "verifying"], status, now)
        self.metrics.decisions.labels(kind=record.kind, route=record.route, outcome=status).inc()
        if not right and record.route == "auto":
            self.metrics.human_corrections.labels(decision_type=record.decision_type).inc()

    def recalibrate(self, decision_type: str, *, floor: float | None = None) -> Recalibration:
        rows = self.track_record(decision_type)
        current = self.thresholds(decision_type)
        floor = self.routing.ask if floor is None else floor
        step = recalibrate(
            current,
            rows,
            target_wrong_rate=self.routing.target_wrong_rate,
            floor=max(floor, self.routing.ask),
            window=self.routing.window,
        )
        if step.changed:
            self.ledger.record_thresholds(
                decision_type,
                step.thresholds.auto,
                step.thresholds.ask,
                {
                    "reason_code": step.reason_code,
                    "message": step.message,
                    "automatic": step.automatic,
                    "wrong": step.wrong,
                },
                self.clock.now(),
            )
            log.info("thresholds for %s: %s", decision_type, step.message)
        self.metrics.threshold.labels(decision_type=decision_type, band="auto").set(
            step.thresholds.auto
        )
        self.metrics.threshold.labels(decision_type=decision_type, band="ask").set(
            step.thresholds.ask
        )
        return step
