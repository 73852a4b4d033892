"""The decision layer: one path for every job's proposals.

``DecisionService.decide`` records a proposal in the ledger with its confidence (the
signal's, combined with the decision type's track record), routes it (act, ask,
escalate, or record only), and, when it asks, hands the question to ``Approvals``
(which owns the question's life: posting, exactly-once answers, expiry). Answers come
back through ``handle_answer`` (the ``on_answer`` hook, idempotent), verified outcomes
through ``record_outcome``; ``recalibrate`` moves the thresholds from the recorded
outcomes. Nothing here talks to the cluster: executing an approved decision is the job
of whoever proposed it (the remediation engine, the scaler), which finds it by status.

Thresholds of a decision type: the newest stored by ``recalibrate`` (the ledger's
``thresholds`` table); until the first move is stored, the type's own defaults (a
proposal's ``default_thresholds``, e.g. 0.9/0.5 for canary verdicts, the scaling loop's
configured pair for scaling), or the global ``routing.auto``/``routing.ask`` for a type
that brings none. Every routed decision records the defaults it was routed with
(``evidence.routing.defaults``), so ``recalibrate``, which is given only a type's name,
starts from the same numbers routing used, also after a restart.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.approvals import (
    RUNNING,
    AnswerOutcome,
    Approvals,
    LedgerOnlyChannel,
    subject_namespace,
)
from agent.calibration import (
    MACHINE_ACTORS,
    SIGNIFICANCE,
    Outcome,
    Recalibration,
    binomial_tail,
    clean_run_to_release,
    namespace_confidence,
    pooled_prior,
    recalibrate,
    track_record_confidence,
)
from agent.clock import Clock
from agent.errors import AutonomicError, PermanentError, TransientError
from agent.ids import short_id
from agent.ledger import Decision, DecisionRecord, Feedback, Ledger, Question, is_hold
from agent.observability import Metrics, decision_context
from agent.routing import Autonomy, Route, Thresholds, route
from agent.settings import RoutingSettings
from agent.verdicts import NO_VERDICT, NO_VERDICT_OUTCOME, no_verdict

__all__ = [
    "DecisionService",
    "Proposal",
    "Routed",
    "before_rise",
    "routed_defaults",
    "since_last_move",
]


def routed_defaults(records: Sequence[Any], global_thresholds: Thresholds) -> Thresholds:
    """The default thresholds the newest of ``records`` (one decision type, newest
    first) that carries routing evidence was routed with; ``global_thresholds`` for a
    type whose proposals bring no defaults of their own, or that was never routed."""
    for record in records:
        routing = record.evidence.get("routing")
        if not isinstance(routing, dict):
            continue
        defaults = routing.get("defaults")
        if isinstance(defaults, dict):
            if defaults.get("source") != "type":
                return global_thresholds
            return Thresholds(auto=float(defaults["auto"]), ask=float(defaults["ask"]))
        if "auto" in routing and "ask" in routing:
            return Thresholds(auto=float(routing["auto"]), ask=float(routing["ask"]))
    return global_thresholds


def before_rise(moves: Sequence[Mapping[str, Any]], defaults: Thresholds) -> Thresholds | None:
    """The pair in force before the newest run of rises on wrong automatic decisions
    (``TooManyWrong``) at the end of ``moves`` (one type's threshold rows, oldest first);
    None when the newest move is not such a rise.

    The whole run, not only the newest rise: a release after two rises in a row brings
    back the pair before the first (a release is the way out of rises that put ``auto``
    where no decision reaches, and the pair between them may be such a place too, with
    no rise after it to release). And two leaders overlapping in housekeeping may both
    record the same rise: the pair "before" the second is the risen pair itself, which
    would never release."""
    start = len(moves)
    while start > 0 and moves[start - 1]["evidence"].get("reason_code") == "TooManyWrong":
        start -= 1
    if start == len(moves):
        return None
    if start == 0:
        return defaults
    previous = moves[start - 1]
    return Thresholds(auto=float(previous["auto"]), ask=float(previous["ask"]))


def since_last_move(moves: Sequence[Mapping[str, Any]]) -> float | None:
    """From when outcomes count for the next move of a type whose threshold rows are
    ``moves`` (oldest first): decisions made at or after its newest move, and after the
    newest decision it knew of then (``evidence.through``, where recorded). The second
    bound matters when clocks disagree: a clock stepped back after the decisions, or a
    replica's clock ahead of the leader's, stamps decisions made before the move later
    than the move, and without it the same outcomes would move the threshold again."""
    if not moves:
        return None
    newest = moves[-1]
    since = float(newest["created_at"])
    through = (newest.get("evidence") or {}).get("through")
    if isinstance(through, (int, float)) and through >= since:
        since = math.nextafter(float(through), math.inf)
    return since


log = logging.getLogger("autonomic.decisions")

# The hourly housekeeping recalibrates every type decided in the last 7 days and
# publishes its automation rate over them, counting at most the type's newest
# RATED_AT_MOST decisions of the window: a bound on the rows read per type, which only
# the busiest types reach (about 29,000 decisions a day at 1,000 workloads, most of them
# one scaling type), not a bound shared by all types, which those would fill alone.
LEARNING_WINDOW = 7 * 86400.0
# A process's first sync rewrites the messages of the chat questions said no to, expired
# or closed as no longer needed this recently (and approved ones whose final word was
# written this recently), in case the process before died before rewriting them.
RESTATE_AT_START = 3600.0
RATED_AT_MOST = 20_000
# The routes an automation rate counts: a decision that could have acted.
ACTIONABLE_ROUTES = frozenset({"auto", "ask", "escalate"})


STATUS_FOR_ROUTE: dict[Route, str] = {
    "auto": "approved",
    "ask": "asked",
    "escalate": "escalated",
    "observe": "observed",
    "shadow": "shadowed",
}


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
    # Who or what caps autonomy, as the route's reason says it ("the runbook caps autonomy").
    capped_by: str = "the runbook caps autonomy"
    forced_approval: str | None = None
    shadow: bool = False
    # The reason code and who records without acting, as a shadow route's reason says it.
    shadowed_by: tuple[str, str] = ("ShadowRunbook", "shadow runbook")
    incident_key: str | None = None
    # With no record yet, how often acting on a true signal is right (skeptical: 0.75).
    prior_success: float = 0.75
    # Thresholds for this decision type until calibration has stored its own.
    default_thresholds: Thresholds | None = None
    # Decision types whose records lend to this one's prior (``remediation.family``).
    siblings: tuple[str, ...] = ()
    # What an escalation says, instead of the reason and the route's sentence: for a
    # hand-off the route's confidence sentence says nothing (a guard decided it).
    escalation: str | None = None
    # Who already approved this very action upstream ("alice, on canary decision ..."):
    # the confidence's question is not asked again (``routing.route``).
    approved_by: str | None = None
    # That yes also stands for ``mode: propose``'s question: the question it answered
    # promised no second one (``routing.route``).
    approved_for_propose: bool = False
    # Why that yes does not stand for it after all: what its question promised no longer
    # holds (the runbooks changed since it was asked); the route's reason says so.
    promise_broken: str | None = None
    # Why this decision's outcome teaches its type nothing (a scheduled floor: a
    # person's instruction): kept in its evidence (``agent.verdicts.NO_VERDICT``), so
    # that an answer to it, or its outcome, is recorded as neither right nor wrong.
    no_verdict: str | None = None


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
        approvals: Approvals,
        metrics: Metrics,
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.routing = routing
        self.mode = mode
        self.approvals = approvals
        self.metrics = metrics
        self.counts = _Counts()
        self._synced_at = 0.0  # the first sync looks at every answered question
        # The first sync of a process, and of each leadership term (``new_term``), also
        # rewrites the messages of the last hour's answers (``_unshown_at_start``).
        self._term_synced = False
        self._restated: set[str] = set()  # chat questions answered from the CLI, restated
        self._rated: set[str] = set()  # decision types with an automation rate published
        self._thresholded: set[str] = set()  # decision types with thresholds published
        self._answered_here: set[str] = set()  # answers given through ``answer``: counted
        # `autonomic feedback` corrections are counted from the ones recorded after start.
        self._corrections_from = clock.now()
        self._counted_corrections: set[int] = set()
        approvals.on_answer = self._on_answer

    # -------------------------------------------------------------- deciding
    def thresholds(self, decision_type: str, default: Thresholds | None = None) -> Thresholds:
        """The stored thresholds of ``decision_type``; ``default`` (or the global pair)
        until calibration has stored some."""
        stored = self.ledger.thresholds(decision_type)
        if stored is None:
            return default or self._global_thresholds()
        return Thresholds(auto=stored[0], ask=stored[1])

    def _global_thresholds(self) -> Thresholds:
        return Thresholds(auto=self.routing.auto, ask=self.routing.ask)

    def default_thresholds(self, decision_type: str) -> Thresholds:
        """The defaults the newest routed decision of ``decision_type`` was routed with.

        Read from the ledger (``evidence.routing.defaults``), not from memory, so it
        survives a restart. A type whose proposals bring no defaults of their own follows
        the global settings as they are now; a decision recorded before the defaults were
        recorded gives the thresholds it was routed with (which, while no thresholds are
        stored for its type, were its defaults); a type never routed gets the global pair.
        """
        # Only decisions routed by ``decide`` carry routing evidence (``observe`` records
        # none); the newest few are enough to find one.
        records = self.ledger.decisions(decision_type=decision_type, limit=20)
        return routed_defaults(records, self._global_thresholds())

    def track_record(self, decision_type: str, *, limit: int | None = None) -> list[Outcome]:
        """Recent right/wrong outcomes of this decision type, newest first."""
        rows = self.ledger.subject_outcomes(decision_type, limit=limit or self.routing.window * 4)
        return [
            Outcome(at, conf, verdict == "right", routed, subject)
            for at, conf, verdict, routed, subject in rows
        ]

    def _confidence(
        self,
        p: Proposal,
        record: Sequence[Outcome],
        lent: Sequence[Outcome],
        prior_success: float,
        now: float,
    ) -> float:
        """``p``'s signal combined with a track record (and what siblings lent)."""
        return track_record_confidence(
            p.signal_confidence,
            record,
            now,
            prior_strength=self.routing.prior_strength,
            prior_success=prior_success,
            half_life=self.routing.memory,
            siblings=lent,
            sibling_weight=self.routing.sibling_weight,
            sibling_cap=self.routing.sibling_cap,
        )

    def _per_namespace(
        self,
        p: Proposal,
        record: Sequence[Outcome],
        lent: Sequence[Outcome],
        prior_success: float,
        confidence: float,
        now: float,
    ) -> tuple[float, dict[str, Any] | None]:
        """The confidence lowered by the type's record in the subject's namespace, when
        that record is worse than the rest (``routing.perNamespace``): a runbook trusted
        in one namespace is not trusted in another whose people reject it. Only ever
        lowers; nothing changes while the type has no outcomes in another namespace."""
        namespace = subject_namespace(p.subject)
        if not self.routing.per_namespace or namespace is None:
            return confidence, None
        here = [o for o in record if subject_namespace(o.subject) == namespace]
        elsewhere = [o for o in record if subject_namespace(o.subject) != namespace]
        if not here or not elsewhere:
            return confidence, None
        base = self._confidence(p, elsewhere, lent, prior_success, now)
        local = namespace_confidence(
            base,
            here,
            now,
            prior_strength=self.routing.prior_strength,
            half_life=self.routing.memory,
        )
        wrong = sum(not o.right for o in here)
        # Lowered only when this namespace's wrong outcomes are more than chance gives at
        # the rate elsewhere (one-sided binomial test, as threshold moves use): with four
        # namespaces alike, the lowest of four noisy records would pull every type down.
        chance = binomial_tail(wrong, len(here), 1.0 - base)
        lowered = local < confidence and chance < SIGNIFICANCE
        shown = {
            "namespace": namespace,
            "outcomes": len(here),
            "right": len(here) - wrong,
            "elsewhere": round(base, 4),
            "confidence": round(local, 4),
            "chance": round(chance, 4),
            "lowered_from": round(confidence, 4) if lowered else None,
        }
        return (local if lowered else confidence), shown

    def _prior_success(
        self, p: Proposal, now: float, lent: Sequence[Outcome]
    ) -> tuple[float, dict[str, Any]]:
        """A runbook's prior success, with what the pool of other runbooks lent it.

        Only remediation proposals pool: the other jobs' priors are certain (1.0), their
        signal's confidence already being the probability that acting is right. A runbook
        whose siblings lend it their record does not pool as well: the siblings' record is
        the nearer evidence, and the two together would let a runbook act alone after
        three approvals of its own.
        """
        cap = self.routing.pool_cap
        if p.kind != "remediation" or cap <= p.prior_success or lent:
            return p.prior_success, {"base": p.prior_success, "outcomes": 0, "right": 0}
        own = {p.decision_type, *p.siblings}
        pool = [
            Outcome(at, conf, verdict == "right", routed)
            for decision_type, at, conf, verdict, routed in self.ledger.kind_outcomes(
                "remediation", limit=self.routing.window * 10
            )
            if decision_type not in own
        ]
        prior = pooled_prior(
            p.prior_success,
            pool,
            now,
            prior_strength=self.routing.prior_strength,
            half_life=self.routing.memory,
            cap=cap,
        )
        return prior, {
            "base": p.prior_success,
            "outcomes": len(pool),
            "right": sum(o.right for o in pool),
        }

    def decide(self, p: Proposal) -> Routed:
        now = self.clock.now()
        thresholds = self.thresholds(p.decision_type, p.default_thresholds)
        lent = [
            outcome
            for sibling in p.siblings
            if sibling != p.decision_type
            for outcome in self.track_record(sibling)
        ]
        prior_success, pooled = self._prior_success(p, now, lent)
        record = self.track_record(p.decision_type)
        confidence = self._confidence(p, record, lent, prior_success, now)
        confidence, by_namespace = self._per_namespace(
            p, record, lent, prior_success, confidence, now
        )
        chosen = route(
            confidence,
            thresholds,
            mode=self.mode,
            max_autonomy=p.max_autonomy,
            forced_approval=p.forced_approval,
            shadow=p.shadow,
            capped_by=p.capped_by,
            shadowed_by=p.shadowed_by,
            approved_by=p.approved_by,
            approved_for_propose=p.approved_for_propose,
            promise_broken=p.promise_broken,
        )
        evidence = dict(p.evidence)
        if p.no_verdict is not None:
            evidence[NO_VERDICT] = p.no_verdict
        defaults = p.default_thresholds or self._global_thresholds()
        evidence["routing"] = {
            "signal_confidence": round(p.signal_confidence, 4),
            "prior_success": round(prior_success, 4),
            "pool": pooled,
            "max_autonomy": p.max_autonomy,
            "confidence": round(confidence, 4),
            "auto": thresholds.auto,
            "ask": thresholds.ask,
            "route_reason": chosen.message,
            "siblings": {
                "types": list(p.siblings),
                "outcomes": len(lent),
                "right": sum(o.right for o in lent),
            },
            **({"namespace": by_namespace} if by_namespace is not None else {}),
            # What this type falls back to while no thresholds are stored for it, so
            # that recalibration starts from the numbers routing used.
            "defaults": {
                "auto": defaults.auto,
                "ask": defaults.ask,
                "source": "type" if p.default_thresholds is not None else "global",
            },
        }
        rule = getattr(self.approvals, "rule", None)
        if chosen.route == "ask" and rule is not None:
            # Who may answer, as it stood when asked (`autonomic explain`, the question).
            evidence["approvers"] = rule.lists(p.subject, evidence)
        decision = Decision(
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
        )
        question_id: str | None = None
        if chosen.route == "ask":
            # The decision and its question in one transaction: a crash in between
            # cannot leave an asked decision that nobody can answer.
            decision_id, question_id = self.ledger.record_question(
                decision, now, channel=self.approvals.channel.name, ttl=self.approvals.ttl
            )
        else:
            decision_id = self.ledger.record_decision(decision, now)
        self.counts.by_route[chosen.route] = self.counts.by_route.get(chosen.route, 0) + 1
        self.metrics.decisions.labels(
            kind=p.kind, decision_type=p.decision_type, route=chosen.route, outcome="proposed"
        ).inc()
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
            if question_id is not None:
                delivered = self.approvals.show(decision_id, question_id).posted
            elif chosen.route == "escalate":
                self.approvals.escalate(
                    decision_id, p.escalation or f"{p.reason} ({chosen.message})", now
                )
            elif chosen.route == "auto" and p.kind in self.routing.report_automatic:
                self.approvals.report(decision_id, chosen.message, now)
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

    def observe(self, p: Proposal) -> str:
        """Record an inference that proposes nothing by itself (an anomaly, a forecast),
        with its confidence and evidence, so that later feedback can judge it."""
        now = self.clock.now()
        decision_id = self.ledger.record_decision(
            Decision(
                kind=p.kind,
                decision_type=p.decision_type,
                subject=p.subject,
                proposal=p.proposal,
                confidence=p.signal_confidence,
                reason_code=p.reason_code,
                reason=p.reason,
                evidence=p.evidence,
                model_version=p.model_version,
                route="observe",
                status="observed",
                incident_key=p.incident_key,
            ),
            now,
        )
        self.metrics.decisions.labels(
            kind=p.kind, decision_type=p.decision_type, route="observe", outcome="proposed"
        ).inc()
        return decision_id

    # -------------------------------------------------------------- answers
    def _on_answer(self, question_id: str, answer: str, actor: str) -> None:
        self.handle_answer(question_id, answer, actor)

    def handle_answer(self, question_id: str, answer: str, actor: str) -> bool:
        """Carry a recorded answer into the decision (idempotent: status compare-and-set).

        ``approved`` makes the decision executable (its proposer finds it by status);
        ``rejected`` is a wrong verdict on the proposal (kept as no verdict on one that
        takes none: ``agent.verdicts.no_verdict``); ``expired`` is a "no" that the
        approvals layer has already escalated.
        """
        question = self.ledger.question(question_id)
        if question is None:
            return False
        record = self.ledger.get_decision(question.decision_id)
        if record is None:
            return False
        now = self.clock.now()
        target = {"approved": "approved", "rejected": "rejected", "expired": "expired"}.get(answer)
        # A rejection's verdict is written with the change, in one transaction: once
        # the decision has left "asked", nothing would write it again. A decision that
        # takes no verdict (``no_verdict``: a scheduled floor, a person's own
        # instruction) keeps the "no" without calling the proposal wrong: its type's
        # confidence, thresholds and calibration count only right and wrong.
        verdict: list[Feedback] = []
        if answer == "rejected":
            detail: dict[str, Any] = {"answer": "rejected", "reason": question.answer_reason}
            why_not = no_verdict(record)
            if why_not is None:
                verdict = [Feedback(record.id, "verdict", "wrong", actor, detail)]
            else:
                detail["why"] = f"no verdict: {why_not}"
                verdict = [Feedback(record.id, "verdict", NO_VERDICT_OUTCOME, actor, detail)]
        if target is None or not self.ledger.transition(
            record.id, ["asked"], target, now, feedback=verdict
        ):
            return False
        with decision_context(record.id):
            self._count_answer(record, question, answer)
            log.info("question %s %s by %s", question_id, answer, actor)
        return True

    def _count_answer(self, record: DecisionRecord, question: Question, answer: str) -> None:
        """The answer in this process's metrics (corrections, outcomes, time to answer)."""
        if answer == "rejected" and no_verdict(record) is None:
            self.metrics.human_corrections.labels(decision_type=record.decision_type).inc()
        self.metrics.decisions.labels(
            kind=record.kind, decision_type=record.decision_type, route="ask", outcome=answer
        ).inc()
        # Time to answer is a person's: an expiry is the lack of one, not a slow answer.
        if answer in ("approved", "rejected") and question.answered_at is not None:
            self.metrics.answer_seconds.observe(max(question.answered_at - question.asked_at, 0))

    def answer(
        self,
        question_id: str,
        answer: str,
        actor: str,
        reason: str | None = None,
        *,
        via: str = "cli",
    ) -> bool:
        """Answer from the CLI or HTTP: exactly once, then applied to the decision at once."""
        return self.answer_outcome(question_id, answer, actor, reason, via=via).accepted

    def answer_outcome(
        self,
        question_id: str,
        answer: str,
        actor: str,
        reason: str | None = None,
        *,
        via: str = "cli",
    ) -> AnswerOutcome:
        """``answer``, with what the approvals service said (why it was not taken)."""
        outcome = self.approvals.answer(
            question_id, answer, actor, self.clock.now(), reason=reason, via=via
        )
        if outcome.accepted and answer != "snoozed":
            self._answered_here.add(question_id)
            self.handle_answer(question_id, answer, actor)
        return outcome

    def supersede(self, decision_id: str, why: str, *, reason: str = "Superseded") -> bool:
        """Close an asked decision whose question no longer means anything (``why``:
        what it asked about was settled without it): the question is closed and its
        message rewritten, the decision is ``superseded``, with ``why`` in its feedback
        (``autonomic explain``). Nobody answered it, so it counts neither as a "no" nor
        as a verdict on the proposal, and it is not escalated. False when an answer or
        an expiry came first (that stands)."""
        now = self.clock.now()
        record = self.ledger.get_decision(decision_id)
        if record is None or record.status != "asked":
            return False
        note = Feedback(
            decision_id, "superseded", "superseded", "autonomic", {"reason": reason, "why": why}
        )
        closed = self.approvals.supersede(decision_id, why, now, feedback=[note])
        if closed is None:
            return False
        with decision_context(decision_id):
            self.metrics.decisions.labels(
                kind=record.kind,
                decision_type=record.decision_type,
                route="ask",
                outcome="superseded",
            ).inc()
            log.info("question %s closed unanswered, no longer needed: %s", closed.id, why)
        return True

    def expire_due(self) -> list[str]:
        """Expire unanswered questions (a "no", escalated); returns the decision ids.

        The approvals' ``on_answer`` hook may apply the expiry first (on its worker
        thread, or at once with an inline dispatcher); either way the decision is
        expired and is reported, so the answer does not depend on who won the race.

        Each question on its own: one whose expiry raises an error that is not a
        ``TransientError`` is logged and counted (``each_failed``), and the others go
        on; before, it ended the remediation cycle at every cycle, before anything
        approved was settled or run.
        """
        expired = []
        for expiry in self.approvals.expire_due(self.clock.now(), self.each_failed):
            try:
                self.handle_answer(expiry.question.id, "expired", "timeout")
            except TransientError:
                raise
            except Exception as exc:
                self.each_failed(
                    f"applying the expiry of question {expiry.question.id} (decision "
                    f"{expiry.question.decision_id})",
                    exc,
                    "the question is expired in the ledger and the next cycle applies "
                    "it to the decision; the other questions go on",
                )
                continue
            record = self.ledger.get_decision(expiry.question.decision_id)
            if record is not None and record.status == "expired":
                expired.append(record.id)
        return expired

    def each_failed(self, what: str, exc: Exception, then: str) -> None:
        """One item of a pass over many (questions to expire) raised an error that is not
        a ``TransientError``: logged with ``what`` it was and the traceback (a
        ``PermanentError`` with its message only), counted in ``autonomic_errors_total``
        (``Unexpected``, or the ``PermanentError``'s reason), and the pass goes on with
        the others. ``then``: what becomes of the item."""
        kind = exc.reason if isinstance(exc, PermanentError) else "Unexpected"
        self.metrics.errors.labels(kind=kind).inc()
        log.error(
            "%s failed: %s: %s; %s",
            what,
            type(exc).__name__,
            exc,
            then,
            exc_info=None if isinstance(exc, PermanentError) else exc,
        )

    def repost_unposted(self) -> int:
        """Post to the chat, now that it answers, the questions it refused earlier."""
        return self.approvals.repost_unposted(self.clock.now(), self.each_failed)

    def sync_answers(self) -> int:
        """Apply answers recorded elsewhere (the CLI, another replica, a crash before the
        hook ran) to decisions still waiting. Returns how many were applied.

        An answer given with ``autonomic approvals`` is applied by the CLI itself, in
        its own process: here it is counted in this process's metrics, once per
        question, and a question asked in a chat has its message rewritten (who, when,
        what next), which the CLI, with no chat client, cannot do. Answers older than a
        day are left alone, so a restart does not count or rewrite old ones."""
        applied = 0
        now = self.clock.now()
        failed = False
        # The mark moves only once the round got through: a round the ledger failed, or
        # one an answer failed in, is read again whole (an answer already applied is no
        # longer "asked"). One answer whose applying raises an error that is not a
        # ``TransientError`` is logged and counted (``each_failed``), and the others go
        # on; before, it ended the remediation cycle at every cycle.
        # Read by when each was answered (for the counting and rewriting of answers given
        # elsewhere), and also every answer whose decision still waits, whenever it was
        # given: a click stamped when it came in but written minutes later (a slow
        # ledger's retries, one replica's clock behind another's) fell before the mark,
        # and if the replica that wrote it died before applying it, the decision stayed
        # "asked" until a restart.
        recent = self.ledger.answered_since(self._synced_at - 60.0)
        seen = {question.id for question in recent}
        waiting = [q for q in self.ledger.answered_waiting() if q.id not in seen]
        for question in [*recent, *waiting]:
            try:
                applied += self._sync_one(question, now)
            except TransientError:
                raise
            except Exception as exc:
                failed = True
                self.each_failed(
                    f"applying the answer to question {question.id} (decision "
                    f"{question.decision_id})",
                    exc,
                    "it is applied again at the next cycle; the other answers go on",
                )
        if not failed:
            self._synced_at = now
            self._term_synced = True
        self._count_corrections()
        return applied

    def _sync_one(self, question: Question, now: float) -> int:
        """One answered question of ``sync_answers``: 1 when its answer was applied."""
        if question.status not in ("approved", "rejected", "expired", "superseded"):
            return 0
        record = self.ledger.get_decision(question.decision_id)
        if record is None:
            return 0
        if record.status == "asked":
            applied = self.handle_answer(
                question.id, question.status, question.answered_by or "unknown"
            )
            if applied and self.approvals.unfollowed(question.id):
                # Recorded by a process that died before its follow-ups ran (a click's
                # compare-and-set, an expiry's mark): its message still has its buttons,
                # and nothing else rewrites a "no" or an expiry later.
                self._restated.add(question.id)
                if question.channel != LedgerOnlyChannel.name:
                    self.approvals.restate(question)
            return int(applied)
        if self._answered_out_of_band(record, question, now):
            self._restated.add(question.id)
            if question.channel != LedgerOnlyChannel.name:
                self.approvals.restate(question)
            if question.id in self._answered_here:
                self._answered_here.discard(question.id)
                return 0  # answered in this process: ``handle_answer`` counted it
            with decision_context(record.id):
                self._count_answer(record, question, question.status)
        elif self._unshown_at_start(question, now):
            self._restated.add(question.id)
            self.approvals.restate(question, paced=True)
        elif self._unshown_at_start(question, now, answers=("approved",), since=now - 86400.0):
            final = self._final_word(record)
            # A final word written in the last hour, up to a day after the answer (a floor
            # is judged its lead time and five minutes after it was written, a canary
            # verdict an hour after it was handed on).
            if final is not None and final[1] >= now - RESTATE_AT_START:
                self._restated.add(question.id)
                self.approvals.restate(question, final[0], paced=True)
        self.approvals.followed_up(question.id)
        return 0

    def _final_word(self, record: DecisionRecord) -> tuple[str, float] | None:
        """The final word an approved decision's message was rewritten with once its
        action ended, from the ledger, and when it was written: the row's ``said`` where
        it keeps it (a failed or undone run's sentence; a scaling floor's or canary
        verdict's judgment, "right: ...", "unneeded: ..."; a floor write the cluster
        refused, "failed: ..."), else a verified remediation's ``verified: ...`` (its
        verification's ``message``) and that of any decision closed before it wrote
        (failed, superseded, not executed: its closing's ``why``, which the remediation
        engine and the scaling and canary loops write with the closing). None for a
        decision still running, or whose row does not hold its word (written by a
        release that did not keep it)."""
        if record.status in RUNNING:
            return None
        remediation = record.kind == "remediation"
        for row in reversed(self.ledger.feedback_for(record.id)):
            detail = row.get("detail") or {}
            at = float(row["created_at"])
            if row["actor"] != "autonomic":
                continue
            if row["kind"] == "execution" and row["outcome"] != record.status:
                continue
            if row["kind"] not in ("verification", "execution"):
                continue
            said = detail.get("said")
            if isinstance(said, str) and said:
                return said, at
            if not remediation and row["kind"] != "execution":
                continue
            if row["kind"] == "verification" and record.status == "verified":
                message = detail.get("message")
                if isinstance(message, str) and message:
                    return f"verified: {message}", at
            elif row["kind"] == "execution":
                why = detail.get("why")
                if isinstance(why, str) and why:
                    return why, at
        return None

    def new_term(self) -> None:
        """A leadership term begins (the engine's recovery): the next sync rewrites the
        last hour's messages a leader that died may have left unrewritten, as a process's
        first sync does (``_unshown_at_start``). Only the leader syncs: a replica that led
        before and leads again had done its first sync long ago."""
        self._term_synced = False

    def term_ended(self) -> None:
        """This replica no longer leads: the restatements its first sync of the term
        queued and has not sent are dropped (the new leader's first sync makes them),
        and made again if it leads again (``new_term``); so are the questions waiting
        their turn to be posted (the new leader's ``repost_unposted`` finds them unposted
        in the ledger, as this replica's does if it leads again)."""
        dropped = self.approvals.drop_paced()
        self._restated.difference_update(dropped)
        if dropped:
            log.info(
                "no longer leading: %d rewrites of the last hour's messages left to the leader",
                len(dropped),
            )
        unposted = self.approvals.poster.drop()
        if unposted:
            log.info(
                "no longer leading: %d questions waiting to be posted left to the leader",
                len(unposted),
            )

    def _unshown_at_start(
        self,
        question: Question,
        now: float,
        answers: Sequence[str] = ("rejected", "expired", "superseded"),
        *,
        since: float | None = None,
    ) -> bool:
        """Whether the first sync of this process, or of its leadership term, rewrites a
        chat question's message that was said no to, expired or closed as no longer
        needed (``answers``) in the last hour (answered at or after ``since`` if given),
        already applied to its decision: a process that died after applying it and
        before the message was rewritten (the rewrite is a follow-up in memory, or comes
        just after the closing) left its buttons, and nothing else rewrites a "no" or an
        expiry later; for an approval, the action's final word, written once it ended,
        as the ledger keeps it (``_final_word``). The rewrite is the one the follow-up
        makes (the same words): shown again, it changes nothing."""
        return (
            not self._term_synced
            and question.status in answers
            and question.channel != LedgerOnlyChannel.name
            and question.id not in self._restated
            and question.answered_at is not None
            and question.answered_at >= (now - RESTATE_AT_START if since is None else since)
            and self.approvals.unfollowed(question.id)
        )

    def _count_corrections(self) -> None:
        """Count in this process's metrics the "wrong" verdicts people gave with
        ``autonomic feedback`` (in another process) since this one started, once each."""
        since = max(self._corrections_from, self._synced_at - 3600.0)
        rows = self.ledger.feedback_since("correction", since, limit=1000)
        counted, self._counted_corrections = self._counted_corrections, {r["id"] for r in rows}
        for row in rows:
            if row["id"] in counted:
                continue
            if row["outcome"] != "wrong" or row["actor"] in MACHINE_ACTORS:
                continue
            record = self.ledger.get_decision(row["decision_id"])
            if record is not None:
                self.metrics.human_corrections.labels(decision_type=record.decision_type).inc()

    def _answered_out_of_band(self, record: DecisionRecord, question: Question, now: float) -> bool:
        """Whether a question was answered from the CLI and not yet taken in here."""
        if question.id in self._restated:
            return False
        if question.answered_at is None or question.answered_at < now - 86400.0:
            return False
        return any(
            row["kind"] == "answer"
            and (row.get("detail") or {}).get("question_id") == question.id
            and (row.get("detail") or {}).get("via") == "cli"
            for row in self.ledger.feedback_for(record.id)
        )

    # ------------------------------------------------------------- outcomes
    def record_outcome(
        self,
        decision_id: str,
        *,
        right: bool | None,
        status: str,
        kind: str = "verification",
        actor: str = "autonomic",
        detail: Mapping[str, Any] | None = None,
    ) -> bool:
        """A verified result: right (verified) or wrong (failed verification, undone);
        ``None`` when the outcome says nothing about the proposal (the cluster refused or
        could not take a step: recorded as ``inconclusive``, which the track record does
        not count). The verdict and the status are one transaction, and a decision
        holds one verdict of a ``kind`` per actor: a call repeated after a failure that
        hid its commit (or a restart's catch-up) records nothing twice.

        Returns whether this call settled the decision (wrote its verdict, or closed it
        on a verdict written ahead with its run's closing): False when it held the
        verdict already (another replica judged it first, or this call is a repeat).
        Only a caller told True says the final word in the chat: the other said it
        already, and a second word would rewrite the message with this one's."""
        now = self.clock.now()
        record = self.ledger.get_decision(decision_id)
        if record is None:
            raise KeyError(decision_id)
        outcome = "inconclusive" if right is None else "right" if right else "wrong"
        why_not = no_verdict(record)
        if why_not is not None and right is not None:
            # A decision that takes no verdict: its outcome is kept, not counted.
            outcome, right = NO_VERDICT_OUTCOME, None
            detail = {**(detail or {}), "no_verdict": why_not}
        verdict = Feedback(decision_id, kind, outcome, actor, detail)
        moved, written = self.ledger.settle(
            decision_id, ["approved", "executing", "verifying"], status, now, verdict
        )
        # Moved with no verdict written: the verdict was written ahead, with its run's
        # closing (``Ledger.set_execution_status``); the closing is counted now.
        if not moved and not written:
            log.info("decision %s already holds its %s verdict", short_id(decision_id), kind)
            return False
        self.metrics.decisions.labels(
            kind=record.kind,
            decision_type=record.decision_type,
            route=record.route,
            outcome=status,
        ).inc()
        if right is False and actor not in MACHINE_ACTORS:
            # A person undid it. A failed verification is the daemon's own finding, and
            # a rejection was counted when it was answered.
            self.metrics.human_corrections.labels(decision_type=record.decision_type).inc()
        return True

    def progress(
        self, decision_id: str, text: str, *, final: bool = False, offer_undo: bool = False
    ) -> None:
        """Tell the people who saw a decision what became of it: in its question's
        thread (a ``final`` word also rewrites the question), or under the report of an
        action taken without asking; else only the log. A chat failure is logged: the
        work it reports on has already happened. ``offer_undo``: with an Undo button."""
        try:
            shown = self.approvals.progress_for(
                decision_id, text, final=final, offer_undo=offer_undo
            )
        except AutonomicError as exc:
            log.warning("could not post progress of %s: %s", decision_id, exc)
            return
        if not shown:
            log.info("decision %s: %s", decision_id, text)

    def threshold_moves(self, decision_type: str) -> list[dict[str, Any]]:
        """This type's stored threshold pairs, oldest first (each with its evidence)."""
        return [
            row for row in self.ledger.threshold_history() if row["decision_type"] == decision_type
        ]

    def learning_types(self, since: float) -> list[str]:
        """The decision types decided at or after ``since`` that learn, sorted: every
        type with a decision in the window, however many decisions of other types came
        after it (``Ledger.decision_types``), but anomaly observations and hand-offs
        and storms (``is_hold``), which propose nothing to judge."""
        kinds = self.ledger.decision_types(since=since)
        return [t for t, kind in kinds.items() if kind != "anomaly" and not is_hold(t)]

    def publish_gauges(self, since: float, types: Sequence[str] | None = None) -> None:
        """Automation rate and calibration error per decision type, for ``/metrics``:
        the rate over the type's decisions made at or after ``since`` (its newest
        ``RATED_AT_MOST`` of them), for each of ``types`` (the ``learning_types`` of
        the window unless given). A type no longer among them leaves the rate, the
        calibration error and the thresholds (``recalibrate`` sets those), as a process
        started now would not publish them either."""
        from agent.calibration import counted_route, reliability

        rated: dict[str, float] = {}
        types = self.learning_types(since) if types is None else types
        for decision_type in types:
            counts = self.ledger.route_counts(decision_type, since=since, limit=RATED_AT_MOST)
            # Held back past approvedMaxWait and closed expired: it never acted.
            by_route: dict[str, int] = {}
            for (r, status), n in counts.items():
                if r in ACTIONABLE_ROUTES:
                    counted = counted_route(r, status)
                    by_route[counted] = by_route.get(counted, 0) + n
            actionable = sum(by_route.values())
            if actionable:
                rated[decision_type] = by_route.get("auto", 0) / actionable
        for decision_type in self._rated - rated.keys():
            # No recent decision of the type: no share to tell, not the last one for ever;
            # nor its calibration error, as a process started now would publish neither.
            for gauge in (self.metrics.automation_rate, self.metrics.calibration_error):
                with contextlib.suppress(KeyError):  # or removed while this replica stood by
                    gauge.remove(decision_type)
        self._rated = set(rated)
        for decision_type, rate in rated.items():
            self.metrics.automation_rate.labels(decision_type=decision_type).set(rate)
            outcomes = self.track_record(decision_type)
            if outcomes:
                _, ece = reliability(outcomes)
                self.metrics.calibration_error.labels(decision_type=decision_type).set(ece)
        for decision_type in self._thresholded - set(types):
            # Not recalibrated any more (no decision in the window): its thresholds are
            # no longer kept current here (a person may set them), so they leave too.
            for band in ("auto", "ask"):
                with contextlib.suppress(KeyError):
                    self.metrics.threshold.remove(decision_type, band)
        self._thresholded &= set(types)

    def recalibrate(self, decision_type: str, *, floor: float | None = None) -> Recalibration:
        """One threshold step for ``decision_type``, stored if it moved; sets the gauges.

        Starts from the stored thresholds or, before the first move, from the defaults
        the type was routed with (``default_thresholds``), never from the global pair
        when the type brings its own.
        """
        run = clean_run_to_release(self.routing.target_wrong_rate, SIGNIFICANCE)
        rows = self.track_record(decision_type, limit=max(self.routing.window * 4, run))
        defaults = self.default_thresholds(decision_type)
        current = self.thresholds(decision_type, defaults)
        moves = self.threshold_moves(decision_type)
        # ``auto`` never relaxes below the highest of: the caller's floor; the global
        # ``routing.ask`` (the operator's policy: a type's code default must not loosen
        # it); and the type's own ``ask`` default. Without the last, relaxing ``auto``
        # under a type's ``ask`` drags ``ask`` down with it (a move keeps ask <= auto),
        # so confidences the type escalates would come to act automatically: learning
        # may narrow the type's ask band, never rewrite its escalation line.
        floor = max(floor or 0.0, self.routing.ask, defaults.ask)
        step = recalibrate(
            current,
            rows,
            target_wrong_rate=self.routing.target_wrong_rate,
            floor=floor,
            window=self.routing.window,
            since=since_last_move(moves),
            significance=SIGNIFICANCE,
            before_rise=before_rise(moves, defaults),
        )
        if step.changed:
            newest = self.ledger.decisions(decision_type=decision_type, limit=1)
            self.ledger.record_thresholds(
                decision_type,
                step.thresholds.auto,
                step.thresholds.ask,
                {
                    "reason_code": step.reason_code,
                    "message": step.message,
                    "actor": "autonomic",
                    "automatic": step.automatic,
                    "wrong": step.wrong,
                    # The newest decision of the type made before this move: the next
                    # move counts only decisions after it, whatever the clocks say.
                    "through": newest[0].created_at if newest else None,
                },
                self.clock.now(),
            )
            log.info("thresholds for %s: %s", decision_type, step.message)
        self._publish_thresholds(decision_type, step.thresholds)
        return step

    def _publish_thresholds(self, decision_type: str, thresholds: Thresholds) -> None:
        self._thresholded.add(decision_type)
        self.metrics.threshold.labels(decision_type=decision_type, band="auto").set(thresholds.auto)
        self.metrics.threshold.labels(decision_type=decision_type, band="ask").set(thresholds.ask)

    def publish_current(self, since: float) -> None:
        """At the start of a leadership term: the thresholds, automation rates and
        calibration errors ``/metrics`` shows after a housekeeping, published now rather
        than at the next hourly one (a standby drops them, ``Metrics.standby``). The
        thresholds are the ones stored (or the type's defaults), not moved: nothing is
        recalibrated before its hour; the rates and errors are read from the ledger as
        ``publish_gauges`` reads them."""
        types = self.learning_types(since)
        for decision_type in types:
            current = self.thresholds(decision_type, self.default_thresholds(decision_type))
            self._publish_thresholds(decision_type, current)
        self.publish_gauges(since, types)
