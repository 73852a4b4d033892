"""A crash between a canary verdict's record and what follows it loses neither its action
nor its Event (found by benchmarks/canary_crash.py).

The verdict goes to the runbooks through the engine's queue, which is in memory. Before,
an automatic rollback recorded just before a crash was marked done after the restart
without ever reaching the runbooks, and an approved verdict marked done as it was queued
was lost with the queue the same way: nothing rolled the canary back or promoted it. Its
Event, posted after the record, was lost too. Now, after a restart, a verdict acted on
that no runbook decision names is sent again (once), and a verdict whose Event is not
marked posted in the ledger has it posted then."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.ledger import Decision, Ledger, open_ledger
from agent.loops.canary import CanaryLoop
from remediation.signals import Signal
from tests.unit.test_canary_route import HEALTHY, SLOW, Rig, make


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


@pytest.fixture
def rigs(ledger: Ledger) -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        rig.close()


class Crash(BaseException):
    """The process killed at this point."""


def _restarted(rig: Rig, *, events: bool = True) -> list[Signal]:
    """A new loop over the same cluster, metrics and ledger, with an empty engine queue
    (the old one went with the process); the signals it sends."""
    queue: list[Signal] = []
    cluster = rig.cluster
    rig.loop = CanaryLoop(
        rig.loop.settings,
        reader=rig.loop.reader,
        cluster=cluster,
        decisions=rig.decisions,
        clock=rig.clock,
        submit=queue.extend,
        events=(
            (lambda ref, reason, message, warning: cluster.post_event(ref, reason, message))
            if events
            else None
        ),
    )
    return queue


def _cycles(rig: Rig, minutes: int) -> None:
    for _ in range(minutes):
        rig.clock.advance(60)
        rig.loop.cycle()


def _taken_up(ledger: Ledger, verdict_id: str, now: float) -> None:
    """A canary-rollback decision started by the verdict, as the engine records one."""
    ledger.record_decision(
        Decision(
            kind="remediation",
            decision_type="canary-rollback/rollback",
            subject="Deployment/shop/search-canary",
            proposal={"runbook": "canary-rollback"},
            confidence=0.75,
            reason_code="Canary",
            reason="rolled back",
            evidence={"signal": {"verdict_decision": verdict_id}},
            model_version="runbook/1",
            route="auto",
            status="verified",
        ),
        now,
    )


@pytest.mark.parametrize("marked_done", [False, True])
def test_an_automatic_rollback_lost_in_a_crash_is_sent_again_once(
    ledger: Ledger, rigs: list[Rig], marked_done: bool
) -> None:
    """Recorded (approved, routed auto) and queued, then a crash before the engine took it
    up; or marked done at the next cycle, then the crash."""
    rig = make(rigs, ledger, SLOW)
    decision_id = rig.judge_until_recorded()
    (first,) = rig.signals
    if marked_done:
        _cycles(rig, 1)
    queue = _restarted(rig)
    _cycles(rig, 5)
    (again,) = queue
    assert (again.name, again.target, again.confidence) == (
        "rollback",
        first.target,
        first.confidence,
    )
    assert again.evidence["verdict_decision"] == decision_id
    assert "approved_by" not in again.evidence  # the route's, not a person's
    assert again.resent and not first.resent  # a copy: handled only if it was lost
    assert ledger.get_decision(decision_id).status == "done"  # type: ignore[union-attr]


def test_an_approved_promotion_marked_done_then_lost_in_a_crash_is_sent_again_once(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    """A person approves; the next cycle queues the promotion and marks it done; the
    process dies before the engine's cycle."""
    rig = make(rigs, ledger, HEALTHY)
    decision_id = rig.judge_until_recorded()
    rig.decisions.answer(rig.question_of(decision_id), "approved", "alice")
    _cycles(rig, 1)
    (first,) = rig.signals
    assert ledger.get_decision(decision_id).status == "done"  # type: ignore[union-attr]
    queue = _restarted(rig)
    _cycles(rig, 5)
    (again,) = queue
    assert (again.name, again.confidence) == ("promote", first.confidence)
    assert again.evidence["approved_by"] == first.evidence["approved_by"]
    assert first.evidence["approved_by"].startswith("alice")
    assert again.evidence["verdict_decision"] == decision_id
    assert again.resent and not first.resent


def test_a_rollback_a_runbook_took_up_is_not_sent_again(ledger: Ledger, rigs: list[Rig]) -> None:
    rig = make(rigs, ledger, SLOW)
    decision_id = rig.judge_until_recorded()
    _taken_up(ledger, decision_id, rig.clock.now())
    queue = _restarted(rig)
    _cycles(rig, 5)
    assert queue == []


def test_a_verdict_whose_event_a_crash_kept_from_being_posted_has_it_after_the_restart(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    rig = make(rigs, ledger, SLOW)

    def crash(*_: Any) -> None:
        raise Crash

    rig.loop.events = crash
    with pytest.raises(Crash):
        rig.judge_until_recorded()
    (verdict,) = ledger.decisions(kind="canary")
    assert rig.signals == [] and rig.cluster.events == []
    queue = _restarted(rig)
    _cycles(rig, 1)
    (event,) = rig.cluster.events
    assert (event.target, event.reason) == ("Deployment/shop/search-canary", "CanaryRollback")
    assert f"Decision {verdict.id}, routed auto." in event.message
    assert [s.evidence["verdict_decision"] for s in queue] == [verdict.id]  # and sent
    _restarted(rig)  # once posted and marked, a later restart posts it no more
    _cycles(rig, 3)
    assert len(rig.cluster.events) == 1


def test_a_verdict_whose_event_was_posted_gets_none_after_a_restart(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    rig = make(rigs, ledger, SLOW)
    posted: list[str] = []
    rig.loop.events = lambda ref, reason, message, warning: posted.append(reason)
    rig.judge_until_recorded()
    assert posted == ["CanaryRollback"]
    _restarted(rig)
    _cycles(rig, 3)
    assert rig.cluster.events == []


# ------------------------------------------------------------------ with the engine


def _engine(rig: Rig) -> Any:
    """The remediation engine of a (new) process, with the shipped runbooks, over the
    rig's cluster and ledger."""
    from agent.executor import Executor
    from agent.remediation_engine import RemediationEngine
    from remediation.guards import GlobalLimits
    from tests.unit.engine.harness import RUNBOOKS, _runbooks

    return RemediationEngine(
        runbooks=_runbooks(RUNBOOKS),
        ledger=rig.ledger,
        decisions=rig.decisions,
        executor=Executor(rig.ledger, rig.cluster, rig.clock, owner="test"),
        reader=rig.cluster,
        clock=rig.clock,
        limits=GlobalLimits(),
    )


def _with_engine(rig: Rig, minutes: int, engine: Any) -> None:
    for _ in range(minutes):
        rig.clock.advance(60)
        rig.loop.cycle()
        engine.cycle()


@pytest.mark.parametrize("marked_done", [False, True])
def test_a_rollback_its_cooldown_held_back_is_not_run_by_a_restart_after_the_cooldown(
    ledger: Ledger, rigs: list[Rig], marked_done: bool
) -> None:
    """canary-rollback rolled the canary back 50 minutes before its new release's
    rollback verdict: its cooldown on the canary (an hour) holds the verdict back, and
    nothing sends it again while the daemon runs. A restart after the cooldown, within
    the hour the restart looks back, sends it again as a copy the engine took up before:
    a duplicate, neither run nor asked about. Before, the copy was handled as new, and
    the restart rolled the canary back (or asked to) once the cooldown was over; a
    crash before the verdict was marked done did the same through ``_hand_on``."""
    import dataclasses

    from remediation.guards import ActionRecord
    from tests.unit.test_canary_route import CANARY

    rig = make(rigs, ledger, SLOW)
    canary = rig.cluster.workloads[CANARY]
    canary.templates = {1: dataclasses.replace(canary.template, image="search:2")} | {
        2: canary.template
    }
    canary.revision = 2
    engine = _engine(rig)
    rig.loop.submit = engine.submit
    decision_id = rig.judge_until_recorded()
    before = rig.clock.now() - 50 * 60
    engine._update_guards(
        lambda s: dataclasses.replace(s, actions=(ActionRecord("canary-rollback", CANARY, before),))
    )
    (handled,) = engine.cycle()
    assert (handled.runbook, handled.outcome, handled.reason_code) == (
        "canary-rollback",
        "denied",
        "Cooldown",
    )
    if marked_done:
        _with_engine(rig, 15, engine)
        assert ledger.get_decision(decision_id).status == "done"  # type: ignore[union-attr]
    else:
        rig.clock.advance(15 * 60)  # the process died before its next cycle
    engine = _engine(rig)  # the cooldown is over
    _restarted(rig)
    rig.loop.submit = engine.submit  # the new loop's signals go to the new engine
    _with_engine(rig, 3, engine)
    assert ledger.get_decision(decision_id).status == "done"  # type: ignore[union-attr]
    assert ledger.decisions(kind="remediation") == []
    assert ledger.intents() == []
    assert rig.cluster.workloads[CANARY].revision == 2


def test_a_lost_promotion_sent_again_is_carried_out_once_and_says_it_was_sent_again(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    """The other side: alice's approved promotion died in the engine's queue with the
    process (no engine counted it). Its copy is carried out by canary-promote under her
    approval, and the runbook's decision says the signal was sent again after a restart
    (one approval, not a second one); a later restart sends it no more."""
    from agent.loops.canary import PROMOTE_CANARY
    from tests.unit.test_canary_route import CANARY

    rig = make(rigs, ledger, HEALTHY)
    rig.cluster.workloads[CANARY].labels[PROMOTE_CANARY] = "true"
    decision_id = rig.judge_until_recorded()
    rig.decisions.answer(rig.question_of(decision_id), "approved", "alice")
    _cycles(rig, 1)  # sent into the queue that dies with the process, and marked done
    assert len(rig.signals) == 1
    engine = _engine(rig)
    _restarted(rig)
    rig.loop.submit = engine.submit
    _with_engine(rig, 2, engine)
    (promotion,) = ledger.decisions(kind="remediation")
    assert promotion.decision_type == "canary-promote/Deployment"
    signal = promotion.evidence["signal"]
    assert signal["approved_by"].startswith("alice")
    assert (
        signal["resent"]
        == "a copy of a signal sent before (its verdict sent again after a restart)"
    )
    engine = _engine(rig)
    _restarted(rig)
    rig.loop.submit = engine.submit
    _with_engine(rig, 2, engine)
    assert [d.id for d in ledger.decisions(kind="remediation")] == [promotion.id]


@pytest.mark.parametrize("since", ["promoted-by-hand", "scaled-to-zero", "no-longer-a-canary"])
def test_a_lost_promotion_whose_rollout_a_person_settled_since_is_not_sent_again(
    ledger: Ledger, rigs: list[Rig], since: str
) -> None:
    """alice's approved promotion died in the engine's queue; before the restart a person
    settled the rollout another way, without a new canary revision: the stable given the
    judged release by hand, the canary scaled to zero, or its canary-of label taken off.
    None of these is an answer to send the verdict again for (as a question still asked
    about it is closed, ``_settled``). Before, only a canary deleted or at another
    revision or release stopped the copy, and these sent it to the runbooks again."""
    from agent.loops.canary import CANARY_OF
    from tests.unit.test_canary_route import CANARY, STABLE

    rig = make(rigs, ledger, HEALTHY)
    decision_id = rig.judge_until_recorded()
    rig.decisions.answer(rig.question_of(decision_id), "approved", "alice")
    _cycles(rig, 1)
    assert len(rig.signals) == 1
    if since == "promoted-by-hand":
        rig.cluster.roll_out(STABLE, "search:4")
    elif since == "scaled-to-zero":
        rig.cluster.workloads[CANARY].replicas = 0
    else:
        del rig.cluster.workloads[CANARY].labels[CANARY_OF]
    queue = _restarted(rig)
    _cycles(rig, 3)
    assert queue == []
