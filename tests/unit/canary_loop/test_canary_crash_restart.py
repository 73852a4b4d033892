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
