"""An incident started by an Alertmanager alert that keeps firing is raised again after
its question expired, was rejected or was escalated, as a state trigger's is
(``RemediationEngine._ask_again``): once the quiet period has passed, and not again while
the next one holds.

A firing alert is taken in from the inbox once per start (fingerprint and ``startsAt``):
Alertmanager's re-sends of it at every repeat interval only move its last delivery on.
Before, nothing looked at it again, so an incident whose one question expired was dropped
for as long as the alert fired. ``hpa-maxed-out-raise`` (always asked about) on a
KubeHpaMaxedOut alert through the webhook, the real engine and adapter against the fake
API server, on a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agent.ids import short_id
from agent.ledger import DecisionRecord
from remediation.guards import GuardState
from tests.integration.remediation.rig import KubeRig, build_rig
from tests.integration.remediation.test_alert_gone import alert, asked
from tests.integration.remediation.test_hpa_ceiling import RUNBOOK, UNSCHEDULABLE, seed

TTL = 3600.0  # the rig's question TTL
QUIET = 3600.0  # GlobalLimits.reask_after (hpa-maxed-out-raise's cooldown is 1h too)
NO_QUIET = 86400.0  # GlobalLimits.reask_after_reject
REPEAT = 1800.0  # how often Alertmanager sends the firing alert again, in these tests


def _decisions(rig: KubeRig) -> list[DecisionRecord]:
    return sorted(rig.decisions_of(RUNBOOK), key=lambda d: d.created_at)


def _status(rig: KubeRig, decision: str) -> tuple[str, float]:
    record = rig.ledger.get_decision(decision)
    assert record is not None
    return record.status, record.updated_at


def _firing(
    rig: KubeRig, starts: float, seconds: float, *, every: float = REPEAT, step: float = 60.0
) -> None:
    """``seconds`` of cycles, one every ``step`` seconds, while Alertmanager keeps sending
    the same firing alert (same fingerprint and ``startsAt``) every ``every`` seconds."""
    end = rig.clock.now() + seconds
    sent = rig.clock.now()
    while rig.clock.now() < end:
        rig.clock.advance(min(step, end - rig.clock.now()))
        if rig.clock.now() - sent >= every:
            assert rig.post_alerts([alert(rig, "firing", starts)]) == 200
            sent = rig.clock.now()
        rig.cycle()


def _expired(rig: KubeRig) -> tuple[str, float, float]:
    """Asked about, the question left unanswered until it expires, the alert firing all
    along: (decision id, the alert's startsAt, when the decision was closed)."""
    first, starts = asked(rig)
    _firing(rig, starts, TTL + 120)
    status, closed = _status(rig, first)
    assert status == "expired"
    return first, starts, closed


def _asked_again(rig: KubeRig, first: str, closed: float, what: str) -> DecisionRecord:
    decisions = _decisions(rig)
    assert [d.id for d in decisions][:1] == [first]
    assert len(decisions) == 2, [(d.id[:8], d.status) for d in decisions]
    again = decisions[1]
    assert again.status == "asked"
    assert again.created_at >= closed + QUIET
    assert f"still going on: decision {short_id(first)} about it {what} at" in again.reason
    assert again.evidence["asked_again"]["after"] == first
    assert rig.channel.asked == [first, again.id]
    return again


def test_an_alert_still_firing_after_its_question_expired_is_asked_again_once(
    rig: KubeRig,
) -> None:
    first, starts, closed = _expired(rig)
    _firing(rig, starts, closed + QUIET - 120 - rig.clock.now())
    assert [d.id for d in _decisions(rig)] == [first]  # not before the quiet period
    _firing(rig, starts, 240)
    again = _asked_again(rig, first, closed, "expired with nothing done")
    assert again.incident_key == _decision(rig, first).incident_key
    # Nothing more while this question is open, nor in the quiet after it expires.
    _firing(rig, starts, TTL + QUIET - 600)
    assert [d.id for d in _decisions(rig)] == [first, again.id]
    assert rig.writes() == []


def test_a_rejected_alert_still_firing_is_asked_again_after_the_quiet_of_a_no(
    rig: KubeRig,
) -> None:
    first, starts = asked(rig)
    assert rig.decisions.answer(rig.ledger.questions()[0].id, "rejected", "alice")
    rig.cycle()
    status, closed = _status(rig, first)
    assert status == "rejected"
    # Alertmanager's default repeat interval: re-sent every 4 hours, counted firing all day.
    _firing(rig, starts, closed + NO_QUIET - 300 - rig.clock.now(), every=4 * 3600, step=900)
    assert [d.id for d in _decisions(rig)] == [first]
    _firing(rig, starts, 600)
    decisions = _decisions(rig)
    assert len(decisions) == 2, [(d.id[:8], d.status) for d in decisions]
    assert decisions[1].status == "asked" and decisions[1].created_at >= closed + NO_QUIET
    said = f"still going on: decision {short_id(first)} about it was rejected at"
    assert said in decisions[1].reason


def test_an_alert_resolved_during_the_quiet_is_not_asked_again(rig: KubeRig) -> None:
    first, starts, _closed = _expired(rig)
    rig.run(600)
    assert rig.post_alerts([alert(rig, "resolved", starts, rig.clock.now())], "resolved") == 200
    rig.run(2 * QUIET, step=120)
    assert [d.id for d in _decisions(rig)] == [first]


def test_an_alert_whose_ends_at_passed_during_the_quiet_is_not_asked_again(
    rig: KubeRig,
) -> None:
    # A sender other than Alertmanager (which sends a firing alert's endsAt as the zero
    # time) may say when a firing alert ends: the inbox keeps the first delivery's endsAt.
    seed(rig)
    starts = rig.clock.now() - 900
    ends = rig.clock.now() + TTL + 1200  # after the question expires, within the quiet
    assert rig.post_alerts([alert(rig, "firing", starts, ends)]) == 200
    rig.cycle()
    (first,) = _decisions(rig)
    assert first.status == "asked"
    rig.run(TTL + 120, step=120)
    status, closed = _status(rig, first.id)
    assert status == "expired" and closed < ends < closed + QUIET
    rig.run(closed + QUIET + 1800 - rig.clock.now(), step=120)
    assert [d.id for d in _decisions(rig)] == [first.id]


def test_the_schedule_survives_a_restart_during_the_quiet(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    rig = build_rig(tmp_path, ledger_path=ledger)
    try:
        first, starts, closed = _expired(rig)
        _firing(rig, starts, 1200)
        server, now = rig.server, rig.clock.now()
    finally:
        rig.cluster.stop()
        rig.api_client.close()
        rig.decisions.approvals.dispatcher.stop()
        rig.ledger.close()
    restarted = build_rig(tmp_path, ledger_path=ledger, server=server, start=now + 30)
    restarted.promql.set(UNSCHEDULABLE, 0.0)  # Prometheus as before: no pod waits for room
    try:
        _firing(restarted, starts, closed + QUIET - 120 - restarted.clock.now())
        assert [d.id for d in _decisions(restarted)] == [first]
        _firing(restarted, starts, 240)
        decisions = _decisions(restarted)
        assert len(decisions) == 2, [(d.id[:8], d.status) for d in decisions]
        assert decisions[1].status == "asked" and decisions[1].created_at >= closed + QUIET
        assert restarted.channel.asked == [decisions[1].id]  # this process's one question
    finally:
        restarted.close()


@pytest.fixture
def escalating(tmp_path: Path) -> Iterator[KubeRig]:
    """The rig with an ask threshold no alert reaches: every decision is escalated."""
    built = build_rig(tmp_path, auto=1.0, ask=1.0)
    yield built
    built.close()


def test_an_escalated_alert_still_firing_is_raised_again_after_the_quiet(
    escalating: KubeRig,
) -> None:
    rig = escalating
    seed(rig)
    starts = rig.clock.now() - 900
    assert rig.post_alerts([alert(rig, "firing", starts)]) == 200
    rig.cycle()
    (first,) = _decisions(rig)
    assert first.status == "escalated"
    _firing(rig, starts, first.updated_at + QUIET - 120 - rig.clock.now())
    assert [d.id for d in _decisions(rig)] == [first.id]
    _firing(rig, starts, 240)
    decisions = _decisions(rig)
    assert len(decisions) == 2, [(d.id[:8], d.status) for d in decisions]
    assert decisions[1].status == "escalated"
    assert f"decision {short_id(first.id)} escalated it at" in decisions[1].reason
    # and no more while the next quiet period holds
    _firing(rig, starts, QUIET - 600)
    assert len(_decisions(rig)) == 2


def _decision(rig: KubeRig, decision: str) -> DecisionRecord:
    record = rig.ledger.get_decision(decision)
    assert record is not None
    return record


def test_a_re_ask_held_back_when_due_is_tried_again_while_the_alert_fires(
    rig: KubeRig,
) -> None:
    # When the quiet period ends, Prometheus has no data for the runbook's precondition:
    # the alert taken in again decides nothing. It is taken in again a few minutes later
    # (REASK_RETRY), as a pod condition would be at the next cycle, not dropped for good.
    first, starts, closed = _expired(rig)
    _firing(rig, starts, closed + QUIET - 300 - rig.clock.now())
    rig.promql.set(UNSCHEDULABLE, None)
    _firing(rig, starts, 600)
    assert [d.id for d in _decisions(rig)] == [first]
    assert any(h.reason_code == "NoData" for h in rig.handled[-12:])
    rig.promql.set(UNSCHEDULABLE, 0.0)
    _firing(rig, starts, 360)
    decisions = _decisions(rig)
    assert len(decisions) == 2, [(d.id[:8], d.status) for d in decisions]
    assert decisions[1].status == "asked"
    # Asked: the incident is no longer held, so it is not taken in again at every cycle.
    handled = len(rig.handled)
    _firing(rig, starts, 1200)
    assert [h for h in rig.handled[handled:] if h.runbook == RUNBOOK] == []


def _runbook_handlings(rig: KubeRig, since: int) -> list[str]:
    return [h.reason_code for h in rig.handled[since:] if h.runbook == RUNBOOK]


def test_a_re_ask_held_back_by_a_storm_is_not_tried_again(rig: KubeRig) -> None:
    # A storm was seen just before the quiet period ends: the alert taken in again is
    # denied by the storm's cooldown. An alert's first handling never retries Storm or
    # StormCooldown (one storm summary stands for its alerts); before, the re-ask did,
    # every REASK_RETRY whatever the denial, and once the cooldown passed decided the
    # incident on its own. Now the re-ask follows the first handling's rule.
    first, starts, closed = _expired(rig)
    _firing(rig, starts, closed + QUIET - 120 - rig.clock.now())
    seen = rig.clock.now()

    def storm(state: GuardState) -> GuardState:
        return replace(state, storm_seen_at=seen, storm_started_at=seen)

    rig.engine._update_guards(storm)
    handled = len(rig.handled)
    _firing(rig, starts, 240)
    assert _runbook_handlings(rig, handled) == ["StormCooldown"]
    _firing(rig, starts, 1800)  # the storm's cooldown (15 minutes) ends meanwhile
    assert _runbook_handlings(rig, handled) == ["StormCooldown"]
    assert [d.id for d in _decisions(rig)] == [first]
