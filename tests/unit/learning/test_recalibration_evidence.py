"""Threshold moves need fresh evidence, and a wrong-rate beyond chance to tighten.

Found by the simulated month (benchmarks/learning.py): on the hourly schedule, the same
twenty clean automatic outcomes relaxed ``auto`` from 0.95 to the floor 0.60 overnight,
and one wrong rollback in twenty-seven (what a 1 % target gives a quarter of the time)
raised it to 0.98 and then 0.995 an hour later, above any confidence the track record
could reach, so that nothing was automated again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.calibration import Outcome, binomial_tail, pooled_prior, recalibrate
from agent.clock import FakeClock
from agent.decisions import DecisionService, Proposal
from agent.ledger import Ledger, open_ledger
from agent.routing import Thresholds
from agent.settings import RoutingSettings
from tests.unit.decision_rig import inline_service


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


def service(ledger: Ledger, clock: FakeClock, **routing: float) -> DecisionService:
    return inline_service(ledger, clock, RoutingSettings(**routing))  # type: ignore[arg-type]


def rollback() -> Proposal:
    return Proposal(
        kind="remediation",
        decision_type="rollback/Deployment",
        subject="Deployment shop/web",
        proposal={"action": "rollback"},
        signal_confidence=1.0,
        reason_code="kubernetes:CrashLoopBackOff",
        reason="crash-looping after a rollout",
        evidence={},
        model_version="test",
    )


def test_binomial_tail_matches_the_closed_forms() -> None:
    assert binomial_tail(0, 30, 0.01) == 1.0
    assert binomial_tail(1, 27, 0.01) == pytest.approx(1 - 0.99**27)
    two = 1 - 0.99**50 - 50 * 0.01 * 0.99**49
    assert binomial_tail(2, 50, 0.01) == pytest.approx(two)
    assert binomial_tail(5, 5, 0.5) == pytest.approx(0.5**5)
    assert binomial_tail(6, 5, 0.5) == pytest.approx(0.0, abs=1e-12)


def test_one_wrong_in_thirty_is_chance_at_a_one_percent_target() -> None:
    record = [Outcome(float(i), 0.97, i != 7, "auto") for i in range(30)]
    step = recalibrate(Thresholds(0.9, 0.6), record, target_wrong_rate=0.01, floor=0.6)
    assert not step.changed and step.reason_code == "Steady"
    worse = [Outcome(float(i), 0.97, i % 10 != 0, "auto") for i in range(30)]  # 3 of 30
    step = recalibrate(Thresholds(0.9, 0.6), worse, target_wrong_rate=0.01, floor=0.6)
    assert step.changed and step.reason_code == "TooManyWrong"
    assert step.thresholds.auto > 0.97


def test_outcomes_before_the_last_move_do_not_move_it_again() -> None:
    clean = [Outcome(100.0 - i, 0.97, True, "auto") for i in range(30)]
    first = recalibrate(Thresholds(0.9, 0.6), clean, target_wrong_rate=0.01, floor=0.6)
    assert first.reason_code == "CleanRecord"
    again = recalibrate(first.thresholds, clean, target_wrong_rate=0.01, floor=0.6, since=101.0)
    assert not again.changed
    newer = [Outcome(200.0 - i, 0.97, True, "auto") for i in range(25)] + clean
    moved = recalibrate(first.thresholds, newer, target_wrong_rate=0.01, floor=0.6, since=101.0)
    assert moved.reason_code == "CleanRecord"
    assert moved.thresholds.auto == pytest.approx(first.thresholds.auto - 0.01)


def test_hourly_recalibration_moves_once_per_batch_of_evidence(ledger: Ledger) -> None:
    clock = FakeClock(1_000_000.0)
    decisions = service(ledger, clock, auto=0.7, ask=0.5)
    for _ in range(25):
        routed = decisions.decide(rollback())
        assert routed.route == "auto"
        decisions.record_outcome(routed.decision_id, right=True, status="verified")
        clock.advance(600)
    seen = []
    for _ in range(24):  # a day of housekeeping with no new decisions
        clock.advance(3600)
        seen.append(decisions.recalibrate("rollback/Deployment").thresholds.auto)
    assert seen[0] == pytest.approx(0.69)
    assert seen[-1] == pytest.approx(0.69)  # before the fix: 0.5, the floor, by evening
    for _ in range(25):
        routed = decisions.decide(rollback())
        decisions.record_outcome(routed.decision_id, right=True, status="verified")
        clock.advance(600)
    clock.advance(3600)
    assert decisions.recalibrate("rollback/Deployment").thresholds.auto == pytest.approx(0.68)


def test_one_wrong_action_lowers_confidence_but_does_not_lock_the_threshold(
    ledger: Ledger,
) -> None:
    clock = FakeClock(1_000_000.0)
    decisions = service(ledger, clock, auto=0.8, ask=0.5)
    confidences = []
    for i in range(30):
        routed = decisions.decide(rollback())
        confidences.append(routed.confidence)
        decisions.record_outcome(routed.decision_id, right=i != 25, status="verified")
        clock.advance(1800)
    for _ in range(12):
        clock.advance(3600)
        decisions.recalibrate("rollback/Deployment")
    assert decisions.thresholds("rollback/Deployment").auto <= 0.8
    assert confidences[26] < confidences[25]  # the track record took the hit
    assert decisions.decide(rollback()).route == "auto"  # before the fix: locked at 0.995


def test_expiry_is_reported_whoever_applies_it_first(ledger: Ledger) -> None:
    """With the answer hook run at once (as a worker thread may also do, first), the
    expired decision must still be reported: before the fix, ``expire_due`` returned
    nothing whenever the hook won."""
    clock = FakeClock(1_000_000.0)
    decisions = service(ledger, clock, auto=0.95, ask=0.5)
    routed = decisions.decide(rollback())
    assert routed.route == "ask"
    clock.advance(901)
    assert decisions.expire_due() == [routed.decision_id]
    record = ledger.get_decision(routed.decision_id)
    assert record is not None and record.status == "expired"
    assert decisions.expire_due() == []


def test_one_wrong_action_never_moves_the_threshold_however_few_came_before() -> None:
    """One wrong among the first three automatic outcomes after a move is "beyond chance"
    at a 1 % target (1 - 0.99**3 < 5 %), but a single wrong action is left to the track
    record: raising ``auto`` on it locked a type out for good in the simulated month."""
    assert binomial_tail(1, 3, 0.01) < 0.05
    few = [Outcome(10.0, 0.97, False, "auto"), Outcome(9.0, 0.97, True, "auto")]
    few.append(Outcome(8.0, 0.97, True, "auto"))
    step = recalibrate(Thresholds(0.94, 0.6), few, target_wrong_rate=0.01, floor=0.6, since=5.0)
    assert not step.changed and step.reason_code == "Steady"
    two = [Outcome(10.0, 0.97, False, "auto"), Outcome(9.0, 0.96, False, "auto"), *few[1:]]
    step = recalibrate(Thresholds(0.94, 0.6), two, target_wrong_rate=0.01, floor=0.6, since=5.0)
    assert step.changed and step.reason_code == "TooManyWrong"
    assert step.thresholds.auto == pytest.approx(0.98)  # above the worst wrong one (0.97)


def test_the_pool_raises_a_prior_up_to_its_cap_and_never_lowers_it() -> None:
    now = 100 * 86400.0
    right = [Outcome(now - i * 3600, 0.9, True, "ask") for i in range(40)]
    wrong = [Outcome(now - i * 3600, 0.9, False, "ask") for i in range(40)]
    assert pooled_prior(0.75, [], now) == 0.75
    assert pooled_prior(0.75, right, now) == 0.85  # capped
    assert pooled_prior(0.75, right, now, cap=0.99) == pytest.approx((3 + 40) / (4 + 40), 1e-3)
    assert pooled_prior(0.75, right[:2], now) == pytest.approx(5 / 6, 1e-4)  # below the cap
    assert pooled_prior(0.75, wrong, now) == 0.75  # others' failures do not lower it
    assert pooled_prior(0.75, right, now, cap=0.75) == 0.75  # off
    assert pooled_prior(0.75, right, now, cap=0.0) == 0.75
    # old outcomes fade like a track record: five half-lives old, a record lends little
    old = [Outcome(now - 300 * 86400 - i, 0.9, True, "ask") for i in range(40)]
    assert 0.75 < pooled_prior(0.75, old, now) < 0.85


def test_too_many_wrong_never_lowers_an_auto_set_above_the_ceiling() -> None:
    # An operator who wants a type almost never automatic sets auto to 0.999. Wrong
    # automatic actions at that confidence must not bring it down to the 0.995 ceiling
    # of a rise: a "rise" that lowers auto automates more after it went wrong.
    wrong = [Outcome(float(i), 0.9995, i % 3 != 0, "auto") for i in range(30)]
    step = recalibrate(Thresholds(0.999, 0.6), wrong, target_wrong_rate=0.01, floor=0.6)
    assert step.reason_code == "TooManyWrong"
    assert step.thresholds.auto >= 0.999
    assert not step.changed
    # Below the ceiling it still rises, to the ceiling at most.
    step = recalibrate(Thresholds(0.99, 0.6), wrong, target_wrong_rate=0.01, floor=0.6)
    assert step.changed and step.thresholds.auto == pytest.approx(0.995)
