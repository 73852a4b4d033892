from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.approvals import Approvals, FallbackChannel, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.decisions import LEARNING_WINDOW, DecisionService, Proposal
from agent.errors import TransientError
from agent.ids import short_id
from agent.ledger import DecisionRecord, Ledger, Question, open_ledger
from agent.observability import Metrics
from agent.routing import Thresholds
from agent.settings import RoutingSettings
from tests.unit.decision_rig import InlineDispatcher


class RecordingChannel:
    """An approval channel that records what it was asked to show (or fails, like a chat
    that cannot be reached)."""

    name = "slack"

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.asked: list[tuple[str, str]] = []
        self.escalated: list[tuple[str, str]] = []
        self.updates: list[tuple[str, str]] = []
        self.progress_notes: list[str] = []
        self.reported: list[tuple[str, str]] = []

    def ask(self, decision: DecisionRecord, question: Question) -> str:
        if self.broken:
            raise TransientError("chat is unreachable", reason="SlackDown")
        self.asked.append((decision.id, question.id))
        return f"slack:C1:{len(self.asked)}"

    def update(self, decision: DecisionRecord, question: Question, note: str) -> None:
        self.updates.append((question.id, note))

    def thread(self, question: Question, text: str) -> None:
        self.progress_notes.append(text)

    def escalate(self, decision: DecisionRecord, why: str) -> str:
        if self.broken:
            raise TransientError("chat is unreachable", reason="SlackDown")
        self.escalated.append((decision.id, why))
        return f"slack:C1:esc-{len(self.escalated)}"

    def report(self, decision: DecisionRecord, why: str) -> str:
        if self.broken:
            raise TransientError("chat is unreachable", reason="SlackDown")
        self.reported.append((decision.id, why))
        return f"slack:C1:rep-{len(self.reported)}"

    def note(self, ref: str, text: str) -> None:
        self.progress_notes.append(text)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


def service(
    ledger: Ledger, channel: object, clock: FakeClock, mode: str = "act", **routing: object
) -> DecisionService:
    approvals = Approvals(ledger, channel, ttl=600, snooze=1800)  # type: ignore[arg-type]
    settings = {"auto": 0.9, "ask": 0.6, "targetWrongRate": 0.05, "window": 20, **routing}
    return DecisionService(
        ledger,
        clock,
        RoutingSettings.model_validate(settings),
        mode=mode,  # type: ignore[arg-type]
        approvals=approvals,
        metrics=Metrics(),
    )


def proposal(confidence: float, **extra: object) -> Proposal:
    fields: dict[str, object] = {
        "kind": "remediation",
        "decision_type": "restart-stuck/Deployment",
        "subject": "Deployment/shop/web",
        "proposal": {"op": "rollout_restart"},
        "signal_confidence": confidence,
        "reason_code": "PodsStuck",
        "reason": "2 pods not ready for 10 minutes",
        "evidence": {"not_ready": 2},
        "model_version": "runbook restart-stuck@1",
    }
    fields.update(extra)
    return Proposal(**fields)  # type: ignore[arg-type]


def test_confident_decisions_act_and_are_recorded(ledger: Ledger) -> None:
    channel, clock = RecordingChannel(), FakeClock(1000)
    seasoned = service(ledger, channel, clock)
    for _ in range(20):  # a type with a clean record of verified successes
        earlier = seasoned.decide(proposal(0.99))
        seasoned.answer(earlier.question_id or "", "approved", "U1")
        seasoned.record_outcome(earlier.decision_id, right=True, status="verified")
    routed = seasoned.decide(proposal(0.99))
    assert routed.route == "auto"
    record = ledger.get_decision(routed.decision_id)
    assert record is not None and record.status == "approved"
    assert record.evidence["routing"]["auto"] == 0.9
    assert channel.escalated == []
    # act and report: the action is shown to people as it starts, with the route's reason
    automatic = [d for d in ledger.decisions(limit=100) if d.route == "auto"]
    assert [d for d, _ in channel.reported] == [d.id for d in reversed(automatic)]
    reported, why = channel.reported[-1]
    assert reported == routed.decision_id and "automatic threshold" in why
    assert seasoned.approvals.progress_for(routed.decision_id, "executing: restart")
    assert channel.progress_notes[-1] == "executing: restart"


def test_which_jobs_report_their_automatic_actions_is_a_setting(ledger: Ledger) -> None:
    """Scaling moves its floors too often to post each move; the chat being down never
    stops an action that needs no answer."""
    channel, clock = RecordingChannel(), FakeClock(1000)
    quiet = service(ledger, channel, clock)
    quiet.routing = RoutingSettings(auto=0.5, ask=0.3)
    assert quiet.decide(proposal(1.0, kind="scaling")).route == "auto"
    assert channel.reported == []
    quiet.routing = RoutingSettings(auto=0.5, ask=0.3, reportAutomatic=["scaling"])
    assert quiet.decide(proposal(1.0, kind="scaling")).route == "auto"
    assert len(channel.reported) == 1
    channel.broken = True
    routed = quiet.decide(proposal(1.0, kind="scaling"))
    assert routed.route == "auto" and len(channel.reported) == 1
    assert not [f for f in ledger.feedback_for(routed.decision_id) if f["kind"] == "report"]
    with pytest.raises(ValueError, match="reportAutomatic"):
        RoutingSettings.model_validate({"reportAutomatic": ["paging"]})


def test_questions_are_answered_once_and_rejections_count_as_wrong(ledger: Ledger) -> None:
    channel, clock = RecordingChannel(), FakeClock(1000)
    decisions = service(ledger, channel, clock)
    routed = decisions.decide(proposal(0.95))
    assert routed.route == "ask" and routed.question_id
    assert ledger.question(routed.question_id).message_ref == "slack:C1:1"  # type: ignore[union-attr]
    clock.advance(30)
    assert decisions.answer(routed.question_id, "rejected", "U1", "not during the sale")
    assert not decisions.answer(routed.question_id, "approved", "U2")  # too late, already answered
    record = ledger.get_decision(routed.decision_id)
    assert record is not None and record.status == "rejected"
    outcomes = [f["outcome"] for f in ledger.feedback_for(routed.decision_id)]
    assert outcomes == ["rejected", "wrong"]  # the answer, and the verdict drawn from it
    decisions.approvals.dispatcher.drain()
    assert channel.updates == [(routed.question_id, "Nothing will be done.")]


def test_unanswered_questions_expire_into_escalation(ledger: Ledger) -> None:
    channel, clock = RecordingChannel(), FakeClock(1000)
    decisions = service(ledger, channel, clock)
    routed = decisions.decide(proposal(0.95))
    clock.advance(599)
    assert decisions.expire_due() == []
    clock.advance(2)
    assert decisions.expire_due() == [routed.decision_id]
    assert channel.escalated and "nobody answered" in channel.escalated[0][1]
    assert not decisions.answer(routed.question_id or "", "approved", "U1")
    # an expiry is nobody's answer: it does not count as a 601-second time to answer
    answered = decisions.metrics.registry.get_sample_value("autonomic_answer_seconds_count")
    assert answered == 0.0


def test_an_expiry_escalation_names_the_question_as_a_person_reads_ids(ledger: Ledger) -> None:
    # The sentence goes to Slack, the ledger's escalation row and `approvals list`: the
    # question's id in it is the 12-character one every listing shows, not the whole id.
    channel, clock = RecordingChannel(), FakeClock(1000)
    decisions = service(ledger, channel, clock)
    routed = decisions.decide(proposal(0.95))
    assert routed.question_id is not None
    clock.advance(601)
    assert decisions.expire_due() == [routed.decision_id]
    why = channel.escalated[0][1]
    assert why == f"nobody answered question {short_id(routed.question_id)} within 10 min"
    assert routed.question_id not in why


def test_undeliverable_question_escalates_and_never_executes(ledger: Ledger) -> None:
    clock = FakeClock(1000)
    channel = FallbackChannel(RecordingChannel(broken=True), LedgerOnlyChannel(ledger, clock.now))
    decisions = service(ledger, channel, clock)
    routed = decisions.decide(proposal(0.95))
    assert not routed.delivered
    record = ledger.get_decision(routed.decision_id)
    assert record is not None and record.status == "asked"  # waits, answerable from the CLI
    kinds = [f["kind"] for f in ledger.feedback_for(routed.decision_id)]
    assert kinds == ["escalation"]
    assert ledger.intents() == []


def test_low_confidence_escalates_and_modes_cap(ledger: Ledger) -> None:
    channel, clock = RecordingChannel(), FakeClock(1000)
    assert service(ledger, channel, clock).decide(proposal(0.3)).route == "escalate"
    assert service(ledger, channel, clock, mode="propose").decide(proposal(0.99)).route == "ask"
    assert service(ledger, channel, clock, mode="observe").decide(proposal(0.99)).route == "observe"


def test_human_approvals_teach_the_type_until_it_acts_alone(ledger: Ledger) -> None:
    channel, clock = RecordingChannel(), FakeClock(1000)
    decisions = service(ledger, channel, clock)
    routes = []
    for _ in range(30):
        routed = decisions.decide(proposal(0.95))
        routes.append(routed.route)
        if routed.route == "ask":
            assert decisions.answer(routed.question_id or "", "approved", "U1")
        decisions.record_outcome(routed.decision_id, right=True, status="verified")
        clock.advance(3600)
    assert routes[0] == "ask"
    assert routes[-1] == "auto"  # the record earned autonomy
    assert routes.index("auto") < 15


def test_an_outcome_recorded_twice_counts_once(ledger: Ledger) -> None:
    """A verification repeated (a retry, a restart's catch-up) is one outcome in the
    track record and in the decisions counter, not two."""
    metrics = Metrics()
    decisions = service(ledger, RecordingChannel(), FakeClock(1000))
    decisions.metrics = metrics
    routed = decisions.decide(proposal(0.99))
    if routed.question_id:
        assert decisions.answer(routed.question_id, "approved", "U1")
    for _ in range(2):
        decisions.record_outcome(routed.decision_id, right=False, status="failed")
    assert [o.right for o in decisions.track_record("restart-stuck/Deployment")] == [False]
    counted = metrics.decisions.labels(
        kind="remediation",
        decision_type="restart-stuck/Deployment",
        route=routed.route,
        outcome="failed",
    )._value.get()
    assert counted == 1


@pytest.mark.parametrize("answer", ["approved", "rejected"])
def test_an_answer_is_counted_in_the_decisions_counter(ledger: Ledger, answer: str) -> None:
    """`outcome` is what followed the proposal: an approval is counted as a rejection is
    (it used to be left out, so no panel showed how many questions people approved)."""
    metrics = Metrics()
    decisions = service(ledger, RecordingChannel(), FakeClock(1000))
    decisions.metrics = metrics
    routed = decisions.decide(proposal(0.8))
    assert routed.route == "ask" and routed.question_id is not None
    assert decisions.answer(routed.question_id, answer, "U1")

    def counted(outcome: str) -> float:
        return float(
            metrics.decisions.labels(
                kind="remediation",
                decision_type="restart-stuck/Deployment",
                route="ask",
                outcome=outcome,
            )._value.get()
        )

    assert (counted("proposed"), counted(answer)) == (1, 1)
    assert decisions.sync_answers() == 0  # applied here already: not counted twice
    assert counted(answer) == 1


@pytest.mark.parametrize(("memory", "expected"), [("7d", "ask"), ("90d", "auto")])
def test_routing_memory_decides_how_long_a_record_counts(
    tmp_path: Path, memory: str, expected: str
) -> None:
    """Twenty clean approvals a month ago: with a week's memory they have faded and the
    type asks again; with three months' memory they still earn autonomy."""
    ledger = open_ledger(f"sqlite:///{tmp_path / memory}.sqlite", 0)
    try:
        clock = FakeClock(1000)
        routing = RoutingSettings.model_validate(
            {"auto": 0.9, "ask": 0.6, "targetWrongRate": 0.05, "window": 20, "memory": memory}
        )
        approvals = Approvals(ledger, RecordingChannel(), ttl=600, snooze=1800)  # type: ignore[arg-type]
        decisions = DecisionService(
            ledger, clock, routing, mode="act", approvals=approvals, metrics=Metrics()
        )
        for _ in range(20):
            routed = decisions.decide(proposal(0.99))
            if routed.route == "ask":
                decisions.answer(routed.question_id or "", "approved", "U1")
            decisions.record_outcome(routed.decision_id, right=True, status="verified")
        clock.advance(30 * 86400)
        assert decisions.decide(proposal(0.99)).route == expected
    finally:
        ledger.close()


def prove(decisions: DecisionService, clock: FakeClock, decision_type: str) -> None:
    """Thirty approved (or automatic) and verified decisions of ``decision_type``."""
    for _ in range(30):
        routed = decisions.decide(proposal(1.0, decision_type=decision_type))
        if routed.route == "ask":
            decisions.answer(routed.question_id or "", "approved", "U1")
        decisions.record_outcome(routed.decision_id, right=True, status="verified")
        clock.advance(600)


def approve_until_auto(
    decisions: DecisionService,
    clock: FakeClock,
    decision_type: str,
    siblings: tuple[str, ...] = (),
) -> int:
    """How many approved and verified decisions it takes before the next one acts alone."""
    for count in range(40):
        routed = decisions.decide(
            proposal(
                1.0,
                decision_type=decision_type,
                siblings=siblings,
                default_thresholds=Thresholds(auto=0.95, ask=0.6),
            )
        )
        if routed.route == "auto":
            return count
        decisions.answer(routed.question_id or "", "approved", "U1")
        decisions.record_outcome(routed.decision_id, right=True, status="verified")
        clock.advance(600)
    raise AssertionError("never acted alone")


def test_a_sibling_runbooks_record_shortens_the_apprenticeship(ledger: Ledger) -> None:
    """A runbook that takes the same action as a proven one needs fewer approvals."""
    channel, clock = RecordingChannel(), FakeClock(1000)
    decisions = service(ledger, channel, clock, poolCap=0)  # siblings alone
    prove(decisions, clock, "rollback-a/Deployment")  # the proven sibling

    lone = approve_until_auto(decisions, clock, "rollback-b/Deployment")
    helped = approve_until_auto(
        decisions, clock, "rollback-c/Deployment", siblings=("rollback-a/Deployment",)
    )
    assert 0 < helped < lone
    newest = ledger.decisions(decision_type="rollback-c/Deployment", limit=1)[0]
    lent = newest.evidence["routing"]["siblings"]
    assert lent["types"] == ["rollback-a/Deployment"] and lent["outcomes"] == 30
    assert lent["right"] == 30


def test_routing_memory_and_prior_strength_are_checked() -> None:
    assert RoutingSettings.model_validate({"memory": "30d"}).memory == 30 * 86400
    assert RoutingSettings.model_validate({"priorStrength": 10}).prior_strength == 10
    assert RoutingSettings.model_validate({"siblingWeight": 0}).sibling_weight == 0
    with pytest.raises(ValueError, match="siblingWeight"):
        RoutingSettings.model_validate({"siblingWeight": 1.5})
    with pytest.raises(ValueError, match="siblingCap"):
        RoutingSettings.model_validate({"siblingCap": -1})
    with pytest.raises(ValueError, match="at least 1h"):
        RoutingSettings.model_validate({"memory": "10m"})
    with pytest.raises(ValueError, match="priorStrength"):
        RoutingSettings.model_validate({"priorStrength": 0})


def test_wrong_automatic_actions_raise_the_threshold(ledger: Ledger) -> None:
    channel, clock = RecordingChannel(), FakeClock(1000)
    approvals = Approvals(ledger, channel, ttl=600, snooze=1800)
    decisions = DecisionService(
        ledger,
        clock,
        RoutingSettings(auto=0.7, ask=0.5, targetWrongRate=0.05, window=20),
        mode="act",
        approvals=approvals,
        metrics=Metrics(),
    )
    for i in range(10):
        routed = decisions.decide(proposal(0.99, decision_type="flaky/Deployment"))
        assert routed.route == "auto" or i > 0
        decisions.record_outcome(routed.decision_id, right=i % 2 == 0, status="verified")
        clock.advance(60)
    step = decisions.recalibrate("flaky/Deployment")
    assert step.changed and step.thresholds.auto > 0.7
    assert ledger.thresholds("flaky/Deployment") == (step.thresholds.auto, step.thresholds.ask)


def test_automation_rate_and_calibration_error_are_published(ledger: Ledger) -> None:
    channel, clock = RecordingChannel(), FakeClock(1000)
    approvals = Approvals(ledger, channel, ttl=600, snooze=1800)
    metrics = Metrics()
    decisions = DecisionService(
        ledger,
        clock,
        RoutingSettings(auto=0.7, ask=0.5),
        mode="act",
        approvals=approvals,
        metrics=metrics,
    )
    for i in range(4):
        routed = decisions.decide(proposal(0.99 if i % 2 else 0.8))
        decisions.record_outcome(routed.decision_id, right=True, status="verified")
    decisions.publish_gauges(since=0.0)
    kind = "restart-stuck/Deployment"
    rate = metrics.automation_rate.labels(decision_type=kind)._value.get()
    autos = sum(d.route == "auto" for d in ledger.decisions())
    assert rate == autos / 4
    assert 0 <= metrics.calibration_error.labels(decision_type=kind)._value.get() <= 1

    # A week later none of them is recent: the rate is no longer exported (it used to
    # stay at its last value for as long as the process ran).
    clock.advance(LEARNING_WINDOW + 1)
    decisions.publish_gauges(since=clock.now() - LEARNING_WINDOW)
    assert (
        metrics.registry.get_sample_value("autonomic_automation_rate", {"decision_type": kind})
        is None
    )


def test_a_type_out_of_the_window_leaves_its_calibration_error_and_thresholds(
    ledger: Ledger,
) -> None:
    """The automation rate of a type with no recent decision left the metrics, but its
    calibration error and thresholds stayed at their last values for as long as the
    process ran (a process started after would publish neither; a threshold a person
    set since was not in them)."""
    clock = FakeClock(1000)
    metrics = Metrics()
    decisions = DecisionService(
        ledger,
        clock,
        RoutingSettings(auto=0.7, ask=0.5),
        mode="act",
        approvals=Approvals(ledger, RecordingChannel(), ttl=600, snooze=1800),
        metrics=metrics,
    )
    for i in range(4):
        routed = decisions.decide(proposal(0.99 if i % 2 else 0.8))
        decisions.record_outcome(routed.decision_id, right=True, status="verified")
    kind = "restart-stuck/Deployment"

    def published() -> dict[str, set[tuple[str, ...]]]:
        return {
            family.name: {tuple(sorted(sample.labels.values())) for sample in family.samples}
            for family in metrics.registry.collect()
            if family.name in ("autonomic_calibration_error", "autonomic_threshold")
        }

    def housekeeping() -> None:  # as the daemon's hourly housekeeping runs them
        since = clock.now() - LEARNING_WINDOW
        types = decisions.learning_types(since)
        for decision_type in types:
            decisions.recalibrate(decision_type)
        decisions.publish_gauges(since, types)

    housekeeping()
    assert published() == {
        "autonomic_calibration_error": {(kind,)},
        "autonomic_threshold": {("auto", kind), ("ask", kind)},
    }
    clock.advance(LEARNING_WINDOW + 1)  # none of them recent now
    housekeeping()
    assert published() == {"autonomic_calibration_error": set(), "autonomic_threshold": set()}
    decisions.decide(proposal(0.9))  # decided again: published again
    housekeeping()
    assert published() == {
        "autonomic_calibration_error": {(kind,)},
        "autonomic_threshold": {("auto", kind), ("ask", kind)},
    }


def test_human_corrections_count_what_people_said_was_wrong(ledger: Ledger) -> None:
    """A rejection and a person's undo are corrections; a failed verification is not."""
    clock = FakeClock(1000)
    # Inline follow-ups: the answer is counted by whichever applies it first, and a
    # worker thread could otherwise count it after the assertion below.
    approvals = Approvals(
        ledger,
        RecordingChannel(),  # type: ignore[arg-type]
        ttl=600,
        snooze=1800,
        dispatcher=InlineDispatcher(),
    )
    metrics = Metrics()
    decisions = DecisionService(
        ledger,
        clock,
        RoutingSettings(auto=0.3, ask=0.2),  # acts even after two wrongs
        mode="act",
        approvals=approvals,
        metrics=metrics,
    )
    kind = "restart-stuck/Deployment"

    def corrections() -> float:
        value: float = metrics.human_corrections.labels(decision_type=kind)._value.get()
        return value

    asked = decisions.decide(
        proposal(0.99, subject="Deployment/shop/c", forced_approval="big service")
    )
    assert decisions.answer(asked.question_id or "", "rejected", "bob")
    assert corrections() == 1
    failed = decisions.decide(proposal(0.99, subject="Deployment/shop/a"))
    assert failed.route == "auto"
    decisions.record_outcome(failed.decision_id, right=False, status="failed")
    assert corrections() == 1
    undone = decisions.decide(proposal(0.99, subject="Deployment/shop/b"))
    decisions.record_outcome(
        undone.decision_id, right=False, status="undone", kind="correction", actor="alice"
    )
    assert undone.route == "auto"
    assert corrections() == 2


def test_a_late_answer_changes_nothing_but_is_kept_as_the_verdict(ledger: Ledger) -> None:
    """Expiry is a no and stands; the on-call's late judgment teaches the track record."""
    channel, clock = RecordingChannel(), FakeClock(1000)
    decisions = service(ledger, channel, clock)
    approved_late = decisions.decide(proposal(0.95, subject="Deployment/shop/a"))
    rejected_late = decisions.decide(proposal(0.95, subject="Deployment/shop/b"))
    clock.advance(601)
    assert sorted(decisions.expire_due()) == sorted(
        [approved_late.decision_id, rejected_late.decision_id]
    )
    clock.advance(300)
    assert not decisions.answer(approved_late.question_id or "", "approved", "U1")
    assert not decisions.answer(rejected_late.question_id or "", "rejected", "U1")
    assert not decisions.answer(rejected_late.question_id or "", "approved", "U2")  # once
    for routed in (approved_late, rejected_late):
        record = ledger.get_decision(routed.decision_id)
        assert record is not None and record.status == "expired"  # nothing will run
    assert ledger.intents() == []
    learned = [o.right for o in decisions.track_record("restart-stuck/Deployment")]
    assert sorted(learned) == [False, True]
    late = [f for f in ledger.feedback_for(approved_late.decision_id) if f["kind"] == "late-answer"]
    assert late[0]["detail"]["late_by"] == pytest.approx(301)  # past the TTL of 600 s
    # a snooze after expiry is not a judgment: nothing is kept
    snoozer = decisions.decide(proposal(0.95, subject="Deployment/shop/c"))
    clock.advance(601)
    decisions.expire_due()
    assert not decisions.answer(snoozer.question_id or "", "snoozed", "U1")
    kinds = [f["kind"] for f in ledger.feedback_for(snoozer.decision_id)]
    assert "late-answer" not in kinds


def test_an_answer_and_its_verdict_are_one_write(ledger: Ledger) -> None:
    """The ledger failing for every write after the winning compare-and-set loses
    nothing: the answer's record, a rejection's verdict and a late answer's verdict are
    written with it (a second write, once the question is closed, no retry could redo)."""
    channel, clock = RecordingChannel(), FakeClock(1000)
    decisions = service(ledger, channel, clock)
    rejected = decisions.decide(proposal(0.95, subject="Deployment/shop/a"))
    late = decisions.decide(proposal(0.95, subject="Deployment/shop/b"))

    def down(*_args: object, **_kw: object) -> None:
        raise TransientError("the ledger at sqlite:///l.sqlite write failed: disk I/O error")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ledger, "add_feedback", down)
        assert decisions.answer(rejected.question_id or "", "rejected", "U1", "not now")
    clock.advance(601)
    decisions.expire_due()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ledger, "add_feedback", down)
        assert not decisions.answer(late.question_id or "", "approved", "U2")
    kinds = [(f["kind"], f["outcome"]) for f in ledger.feedback_for(rejected.decision_id)]
    assert kinds == [("answer", "rejected"), ("verdict", "wrong")]
    kinds = [(f["kind"], f["outcome"]) for f in ledger.feedback_for(late.decision_id)]
    assert ("late-answer", "approved") in kinds and ("verdict", "right") in kinds


# 16 and 8 clean outcomes at full weight; one more here, as the oldest have faded a little.
@pytest.mark.parametrize("pool_cap, expected", [(0.0, 17), (0.75, 17), (0.85, 9)])
def test_the_clusters_other_runbooks_shorten_a_new_ones_apprenticeship(
    ledger: Ledger, pool_cap: float, expected: int
) -> None:
    """Thirty verified rollbacks raise an unrelated runbook's prior to the cap (0.85), so
    it needs 8 clean approvals of its own instead of 16; the pool is off at or below 0.75."""
    channel, clock = RecordingChannel(), FakeClock(1000)
    decisions = service(ledger, channel, clock, poolCap=pool_cap)
    prove(decisions, clock, "rollback/Deployment")
    assert approve_until_auto(decisions, clock, "restart/Deployment") == expected
    first = ledger.decisions(decision_type="restart/Deployment", limit=100)[-1]
    routing = first.evidence["routing"]
    assert routing["pool"]["base"] == 0.75
    if pool_cap > 0.75:
        assert routing["prior_success"] == 0.85 and routing["pool"]["outcomes"] == 30
        assert routing["pool"]["right"] == 30
    else:
        assert routing["prior_success"] == 0.75


def test_wrong_runbooks_never_lower_a_new_ones_prior(ledger: Ledger) -> None:
    channel, clock = RecordingChannel(), FakeClock(1000)
    decisions = service(ledger, channel, clock)
    for _ in range(2):  # two rejected proposals of another runbook (a third escalates)
        routed = decisions.decide(proposal(1.0, decision_type="bad/Deployment"))
        decisions.answer(routed.question_id or "", "rejected", "U1")
        clock.advance(600)
    routed = decisions.decide(proposal(1.0, decision_type="new/Deployment"))
    assert routed.confidence == pytest.approx(0.75)
    routing = ledger.get_decision(routed.decision_id).evidence["routing"]  # type: ignore[union-attr]
    assert routing["pool"] == {"base": 0.75, "outcomes": 2, "right": 0}


def test_only_runbooks_pool(ledger: Ledger) -> None:
    """A canary or scaling decision's prior is certain already; the pool leaves it be."""
    channel, clock = RecordingChannel(), FakeClock(1000)
    decisions = service(ledger, channel, clock)
    prove(decisions, clock, "rollback/Deployment")
    canary = decisions.decide(
        proposal(0.8, kind="canary", decision_type="canary/promote", prior_success=1.0)
    )
    assert canary.confidence == pytest.approx(0.8)


def _down(*_args: object, **_kw: object) -> None:
    raise TransientError("the ledger at sqlite:///l.sqlite write failed: disk I/O error")


@pytest.mark.parametrize("fails", ["chat", "ledger"])
def test_an_expiry_round_cut_short_leaves_nobody_untold(ledger: Ledger, fails: str) -> None:
    """The chat refusing an escalation, or the ledger failing to mark an expiry, in the
    middle of a round leaves the questions not yet done pending; the next round expires
    them, escalating those whose escalation did not go out. The on-call hears of each
    once (twice at worst across a restart: see test_expire_each), never not at all."""
    channel, clock = RecordingChannel(), FakeClock(1000)
    decisions = service(ledger, channel, clock)
    routed = [decisions.decide(proposal(0.95, subject=f"Deployment/shop/{n}")) for n in "ab"]
    clock.advance(601)
    seen: list[str] = []
    expire_question, escalate = ledger.expire_question, channel.escalate

    def second_marks_fail(question: Question, now: float, **kw: object) -> object:
        seen.append(question.decision_id)
        if len(seen) == 2:
            _down()
        return expire_question(question, now, **kw)  # type: ignore[arg-type]

    def second_is_refused(decision: DecisionRecord, why: str) -> str:
        seen.append(decision.id)
        if len(seen) == 2:
            raise TransientError("chat is unreachable", reason="SlackDown")
        return escalate(decision, why)

    with pytest.MonkeyPatch.context() as patch:
        if fails == "ledger":
            patch.setattr(ledger, "expire_question", second_marks_fail)
        else:
            patch.setattr(channel, "escalate", second_is_refused)
        with pytest.raises(TransientError):
            decisions.expire_due()
    first, second = seen
    status = {r.decision_id: ledger.question(r.question_id or "") for r in routed}
    assert [status[d].status for d in (first, second)] == ["expired", "pending"]  # type: ignore[union-attr]
    decisions.sync_answers()  # the first one's expiry is applied to its decision
    assert decisions.expire_due() == [second]
    told = [d for d, _ in channel.escalated]
    assert told == [first, second]  # the mark failed after it went out: not sent again
    for decision_id in (first, second):
        record = ledger.get_decision(decision_id)
        assert record is not None and record.status == "expired"
        kinds = [f["kind"] for f in ledger.feedback_for(decision_id)]
        assert kinds.count("expiry") == 1


def test_a_question_answered_while_it_is_escalated_keeps_its_answer(ledger: Ledger) -> None:
    """A click made just before the expiry is written while the expiry's escalation is
    being posted: the answer wins the compare-and-set, the question is not expired and no
    expiry is recorded."""
    channel, clock = RecordingChannel(), FakeClock(1000)
    decisions = service(ledger, channel, clock)
    routed = decisions.decide(proposal(0.95))
    clock.advance(601)
    escalate = channel.escalate

    def clicked_meanwhile(decision: DecisionRecord, why: str) -> str:
        assert ledger.answer(routed.question_id or "", "approved", "U1", clock.now() - 2)
        return escalate(decision, why)

    channel.escalate = clicked_meanwhile  # type: ignore[method-assign]
    assert decisions.expire_due() == []
    question = ledger.question(routed.question_id or "")
    assert question is not None and question.status == "approved"
    assert "expiry" not in [f["kind"] for f in ledger.feedback_for(routed.decision_id)]


def test_answers_recorded_during_a_long_ledger_outage_are_still_applied(
    ledger: Ledger,
) -> None:
    """An answer recorded in the ledger but not applied (another process, or a crash
    before the hook ran) is found by the next sync that gets through, however many
    rounds the ledger failed in between."""
    channel, clock = RecordingChannel(), FakeClock(1000)
    decisions = service(ledger, channel, clock)
    routed = decisions.decide(proposal(0.95))
    decisions.sync_answers()
    clock.advance(30)
    assert ledger.answer(routed.question_id or "", "approved", "cli:bob", clock.now())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ledger, "answered_since", _down)
        for _ in range(10):  # ten minutes of failed syncs
            clock.advance(60)
            with pytest.raises(TransientError):
                decisions.sync_answers()
    clock.advance(60)
    assert decisions.sync_answers() == 1
    record = ledger.get_decision(routed.decision_id)
    assert record is not None and record.status != "asked"


def test_a_decision_that_takes_no_verdict_teaches_its_type_nothing(ledger: Ledger) -> None:
    """A proposal marked ``no_verdict`` (a scheduled floor: a person's own instruction):
    a "no" to it, a late answer, a person's verdict and its outcome are kept, but never
    as right or wrong, so the type's track record (its confidence, threshold moves and
    reliability table) and its corrections do not count them."""
    from agent.errors import InputError
    from agent.verdicts import NO_VERDICT, judge

    channel, clock = RecordingChannel(), FakeClock(1000)
    decisions = service(ledger, channel, clock)
    kind = "restart-stuck/Deployment"
    why = "set by scheduled floor sunday-batch, a person's instruction"
    marked = {"no_verdict": why, "forced_approval": "a person's schedule"}

    def corrections() -> float:
        value: float = decisions.metrics.human_corrections.labels(decision_type=kind)._value.get()
        return value

    rejected = decisions.decide(proposal(0.99, **marked))
    record = ledger.get_decision(rejected.decision_id)
    assert record is not None and record.evidence[NO_VERDICT] == why
    assert decisions.answer(rejected.question_id or "", "rejected", "alice", "not this time")
    (verdict,) = [r for r in ledger.feedback_for(rejected.decision_id) if r["kind"] == "verdict"]
    assert verdict["outcome"] == "none" and verdict["actor"] == "alice"
    assert verdict["detail"]["why"] == f"no verdict: {why}"
    assert verdict["detail"]["reason"] == "not this time"
    # Answered after its question expired: kept as feedback, as none.
    late = decisions.decide(proposal(0.99, **marked))
    clock.advance(601)
    decisions.expire_due()
    assert not decisions.answer(late.question_id or "", "rejected", "bob")
    outcomes = {r["kind"]: r["outcome"] for r in ledger.feedback_for(late.decision_id)}
    assert outcomes["late-answer"] == "rejected" and outcomes["verdict"] == "none"
    # Approved, carried out, then its outcome: recorded as none, whoever reports it.
    done = decisions.decide(proposal(0.99, **marked))
    assert decisions.answer(done.question_id or "", "approved", "carol")
    decisions.record_outcome(done.decision_id, right=False, status="undone", actor="carol")
    undone = ledger.get_decision(done.decision_id)
    assert undone is not None and undone.status == "undone"
    assert ledger.feedback_for(done.decision_id)[-1]["outcome"] == "none"
    with pytest.raises(InputError, match="takes no verdict"):
        judge(ledger, undone, right=False, actor="dave", at=clock.now())
    assert not decisions.approvals.judge(
        late.decision_id, right=False, actor="dave", now=clock.now(), via="slack"
    ).accepted
    # Nothing of it anywhere a verdict is counted.
    assert ledger.outcomes(kind) == []
    assert decisions.track_record(kind) == []
    tally = ledger.route_tally(kind, routes=["ask"], limit=50, machine_actors=["autonomic"])
    assert sum(fixed for _, fixed in tally.values()) == 0
    assert corrections() == 0
    # The same "no" to a decision that takes verdicts is a wrong one.
    plain = decisions.decide(proposal(0.99, forced_approval="big service"))
    assert decisions.answer(plain.question_id or "", "rejected", "alice")
    assert [o.right for o in decisions.track_record(kind)] == [False]
    assert corrections() == 1
