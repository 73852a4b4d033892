"""The learning loop under clock trouble, restarts and hand-set thresholds.

A threshold move counts only the outcomes of decisions made since the previous move.
"Since" was the move's time, compared with the decisions' times: a clock that stepped
back between the decisions and the move (or a replica whose clock ran ahead) left
decisions stamped after the move that were made before it, and the next hour's
recalibration counted the same wrong outcomes again and raised ``auto`` a second time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.calibration import Outcome, Recalibration, recalibrate
from agent.decisions import DecisionService, Proposal, before_rise
from agent.ledger import Ledger, open_ledger
from agent.routing import Thresholds
from agent.settings import RoutingSettings
from tests.unit.decision_rig import inline_service


class SteppingClock:
    """A wall clock that can be stepped back, as NTP or a person can step a real one."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.at = start

    def now(self) -> float:
        return self.at

    def monotonic(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.at += seconds

    def advance(self, seconds: float) -> None:
        self.at += seconds


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


def service(ledger: Ledger, clock: SteppingClock, **routing: float) -> DecisionService:
    return inline_service(ledger, clock, RoutingSettings(**routing))  # type: ignore[arg-type]


def restart(subject: str = "Deployment/shop/web") -> Proposal:
    return Proposal(
        kind="remediation",
        decision_type="restart/Deployment",
        subject=subject,
        proposal={"action": "restart"},
        signal_confidence=1.0,
        reason_code="kubernetes:CrashLoopBackOff",
        reason="crash-looping",
        evidence={},
        model_version="test",
    )


def wrong_automatic_actions(svc: DecisionService, count: int) -> None:
    """``count`` automatic decisions (all made before any outcome), then each failing
    its verification."""
    ids = []
    for i in range(count):
        routed = svc.decide(restart(f"Deployment/shop/web-{i}"))
        assert routed.route == "auto"
        ids.append(routed.decision_id)
    for decision_id in ids:
        svc.record_outcome(decision_id, right=False, status="failed")


def test_a_clock_stepped_back_does_not_tighten_twice_on_the_same_outcomes(
    ledger: Ledger,
) -> None:
    clock = SteppingClock()
    # A new runbook on a certain signal starts at 0.75: at auto 0.7 it acts alone.
    svc = service(ledger, clock, auto=0.7, ask=0.5)
    wrong_automatic_actions(svc, 3)
    clock.at -= 3600.0  # the clock ran an hour ahead; NTP steps it back
    first = svc.recalibrate("restart/Deployment")
    assert first.changed and first.reason_code == "TooManyWrong"
    clock.advance(1800.0)  # the next hourly run, before the clock is back where it was
    again = svc.recalibrate("restart/Deployment")
    assert not again.changed, again.message
    assert len(svc.threshold_moves("restart/Deployment")) == 1


def test_a_restart_between_two_recalibrations_does_not_tighten_twice(ledger: Ledger) -> None:
    clock = SteppingClock()
    svc = service(ledger, clock, auto=0.7, ask=0.5)
    wrong_automatic_actions(svc, 3)
    clock.advance(60.0)
    assert svc.recalibrate("restart/Deployment").reason_code == "TooManyWrong"
    clock.advance(3600.0)
    after_restart = service(ledger, clock, auto=0.7, ask=0.5)
    again = after_restart.recalibrate("restart/Deployment")
    assert not again.changed
    assert len(after_restart.threshold_moves("restart/Deployment")) == 1


def test_relaxing_never_drags_a_hand_set_ask_down() -> None:
    """A person set this type's pair to 0.80/0.78 (`autonomic thresholds set --ask`): a
    clean record may relax ``auto`` down to ``ask``, never past it, since a move keeps
    ask <= auto and would lower the person's escalation line with it. Before, twenty
    hours of clean records took both to the configured floor, 0.60."""
    clean = [Outcome(float(1000 - i), 0.97, True, "auto") for i in range(40)]
    thresholds = Thresholds(auto=0.8, ask=0.78)
    for _ in range(30):
        step = recalibrate(thresholds, clean, target_wrong_rate=0.01, floor=0.6)
        thresholds = step.thresholds
    assert thresholds.ask == 0.78
    assert thresholds.auto == pytest.approx(0.78)
    assert step.reason_code == "Steady"


@pytest.mark.parametrize("floor", [0.56, 0.68, 0.81, 0.93])
def test_relaxing_reaches_a_floor_that_is_not_a_round_step_in_binary(floor: float) -> None:
    """0.69 - 0.01 is 0.6799999999999999 in floating point: before, a floor of 0.68 (a
    configured ``routing.ask``) stopped relaxing one step above it."""
    clean = [Outcome(float(1000 - i), 0.97, True, "auto") for i in range(40)]
    thresholds = Thresholds(auto=0.95, ask=0.5)
    for _ in range(60):
        thresholds = recalibrate(thresholds, clean, target_wrong_rate=0.01, floor=floor).thresholds
    assert thresholds.auto == floor


def test_calibration_shows_who_moved_a_type_s_thresholds_last_and_why(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    """A move is recorded with who made it and why; `autonomic calibration` showed only
    the pair in force, so a threshold that rose (or that a person set) could not be
    traced without reading the ledger's tables."""
    from agent.cli import calibration_cmd

    clock = SteppingClock()
    svc = service(ledger, clock, auto=0.7, ask=0.5)
    wrong_automatic_actions(svc, 3)
    clock.advance(60.0)
    assert svc.recalibrate("restart/Deployment").reason_code == "TooManyWrong"
    routing = RoutingSettings(auto=0.7, ask=0.5)  # type: ignore[call-arg]
    report = calibration_cmd.calibration_report(ledger, routing, now=clock.now())
    (restart_type,) = report.types
    assert restart_type.moved_by == "autonomic"
    assert restart_type.moved_at == clock.now()
    assert restart_type.move_reason is not None
    assert restart_type.move_reason.startswith("TooManyWrong: 3 of 3 automatic decisions")
    text = "\n".join(calibration_cmd.render_text(report))
    assert "restart/Deployment: moved" in text and "by autonomic" in text
    assert "3 of 3 automatic decisions were wrong" in text
    clock.advance(60.0)
    ledger.record_thresholds(
        "restart/Deployment",
        0.75,
        0.5,
        {"reason_code": "SetByHand", "message": "alice: fixed", "actor": "alice"},
        clock.now(),
    )
    (by_hand,) = calibration_cmd.calibration_report(ledger, routing, now=clock.now()).types
    assert (by_hand.auto, by_hand.moved_by) == (0.75, "alice")
    assert by_hand.move_reason == "SetByHand: alice: fixed"


def right_decisions(svc: DecisionService, clock: SteppingClock, count: int) -> None:
    """``count`` decisions of the type, each judged right (asked, escalated or, once the
    record allows it, automatic: a release counts every route)."""
    for i in range(count):
        clock.advance(60.0)
        routed = svc.decide(restart(f"Deployment/shop/ok-{i}"))
        svc.record_outcome(routed.decision_id, right=True, status="verified")


def test_two_leaders_recording_the_same_rise_do_not_lock_it_in(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replicas that both believe they lead (a lease handed over mid-run) recalibrate
    the same type on the same ledger: each reads the pair before the other's write, and
    both record the same rise. The release looked only at the move before the newest, the
    risen pair itself, so no clean run could ever bring the pair back."""
    clock = SteppingClock()
    # A 5 % target: 59 clean outcomes release a rise (299 at 1 %), so the test is short.
    svc = service(ledger, clock, auto=0.7, ask=0.5, target_wrong_rate=0.05)
    other = service(ledger, clock, auto=0.7, ask=0.5, target_wrong_rate=0.05)
    wrong_automatic_actions(svc, 3)
    clock.advance(60.0)
    write = ledger.record_thresholds
    racing = [True]
    raced: list[Recalibration] = []

    def record_thresholds(*args: Any, **kwargs: Any) -> None:
        if racing:  # the other leader reads and writes before this write lands
            racing.clear()
            raced.append(other.recalibrate("restart/Deployment"))
        write(*args, **kwargs)

    monkeypatch.setattr(ledger, "record_thresholds", record_thresholds)
    first = svc.recalibrate("restart/Deployment")
    monkeypatch.undo()
    assert [first.reason_code, raced[-1].reason_code] == ["TooManyWrong"] * 2
    moves = svc.threshold_moves("restart/Deployment")
    assert [m["evidence"]["reason_code"] for m in moves] == ["TooManyWrong"] * len(moves)
    assert len(moves) == 2 and len({(m["auto"], m["ask"]) for m in moves}) == 1
    right_decisions(svc, clock, 59)
    released = svc.recalibrate("restart/Deployment")
    assert released.reason_code == "CleanSinceRise", released.message
    assert released.thresholds == Thresholds(auto=0.7, ask=0.5)


def test_a_release_after_two_rises_in_a_row_returns_to_the_pair_before_both(
    ledger: Ledger,
) -> None:
    """The docs promise the release brings back "the pair in force before a rise": after
    two rises in a row (the first on wrong actions at 0.75, the second on wrong actions
    above it) that is the pair before the first. Before, the release went to the pair
    between them, and from there no release could follow (the newest move was then the
    release, not a rise), so a type whose decisions never reach it stayed there."""
    clock = SteppingClock()
    svc = service(ledger, clock, auto=0.7, ask=0.5, target_wrong_rate=0.05)
    wrong_automatic_actions(svc, 3)  # routed at 0.7: a rise to 0.76
    clock.advance(60.0)
    assert svc.recalibrate("restart/Deployment").reason_code == "TooManyWrong"
    clock.advance(60.0)
    ledger.record_thresholds(
        "restart/Deployment",
        0.9,
        0.5,
        {"reason_code": "TooManyWrong", "message": "2 of 5 wrong", "actor": "autonomic"},
        clock.now(),
    )
    right_decisions(svc, clock, 59)
    released = svc.recalibrate("restart/Deployment")
    assert released.reason_code == "CleanSinceRise", released.message
    assert released.thresholds == Thresholds(auto=0.7, ask=0.5)
    clock.advance(60.0)
    assert not svc.recalibrate("restart/Deployment").changed  # released once


def test_before_rise_reads_the_pair_before_the_newest_run_of_rises() -> None:
    defaults = Thresholds(auto=0.7, ask=0.5)

    def move(auto: float, reason_code: str, ask: float = 0.5) -> dict[str, Any]:
        return {"auto": auto, "ask": ask, "evidence": {"reason_code": reason_code}}

    rises = [move(0.8, "TooManyWrong"), move(0.9, "TooManyWrong")]
    assert before_rise(rises, defaults) == defaults
    by_hand = move(0.75, "SetByHand", ask=0.6)
    assert before_rise([by_hand, *rises], defaults) == Thresholds(0.75, 0.6)
    # A release ends a run: a rise after it goes back to the released pair only.
    released = move(0.7, "CleanSinceRise")
    assert before_rise([*rises, released, move(0.85, "TooManyWrong")], defaults) == defaults
    assert before_rise([*rises, move(0.89, "CleanRecord")], defaults) is None


def test_hindsight_on_automatic_decisions_never_run_does_not_raise_auto(ledger: Ledger) -> None:
    """Automatic decisions a guard held back past ``safety.approvedMaxWait`` are closed
    ``expired``, never run, and may be judged in hindsight. Their route stays ``auto``, so
    three hindsight "wrong" verdicts counted as three wrong automatic actions and raised
    ``auto``; the docs say a hindsight verdict does not move the threshold. It still counts
    in the type's track record."""
    from agent.ledger import Feedback
    from agent.verdicts import judge

    clock = SteppingClock()
    svc = service(ledger, clock, auto=0.7, ask=0.5)
    held = []
    for i in range(3):
        routed = svc.decide(restart(f"Deployment/shop/web-{i}"))
        assert routed.route == "auto"
        held.append(routed.decision_id)
    clock.advance(7200.0)
    for decision_id in held:
        closing = Feedback(decision_id, "execution", "expired", "autonomic", {"why": "held"})
        assert ledger.transition(
            decision_id, ["approved"], "expired", clock.now(), feedback=[closing]
        )
        record = ledger.get_decision(decision_id)
        assert record is not None
        assert judge(ledger, record, right=False, actor="alice", at=clock.now()) == "hindsight"
    assert [v for _, _, v, _ in ledger.outcomes("restart/Deployment")] == ["wrong"] * 3
    step = svc.recalibrate("restart/Deployment")
    assert not step.changed, step.message
    assert svc.threshold_moves("restart/Deployment") == []
    # The record learns from them all the same: the next decision is not automatic.
    assert svc.decide(restart("Deployment/shop/next")).route != "auto"
