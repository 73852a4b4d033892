from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.calibration import Outcome, recalibrate, reliability, track_record_confidence
from agent.routing import Thresholds, route

T = Thresholds(auto=0.9, ask=0.6)


@pytest.mark.parametrize(
    ("confidence", "kwargs", "expected", "code"),
    [
        (0.95, {}, "auto", "ConfidentEnough"),
        (0.9, {}, "auto", "ConfidentEnough"),  # at the threshold acts
        (0.7, {}, "ask", "NeedsApproval"),
        (0.6, {}, "ask", "NeedsApproval"),
        (0.59, {}, "escalate", "LowConfidence"),
        (0.99, {"mode": "observe"}, "observe", "ObserveMode"),
        (0.99, {"mode": "propose"}, "ask", "ProposeMode"),
        (0.99, {"max_autonomy": "ask"}, "ask", "AutonomyCapped"),
        (0.7, {"max_autonomy": "escalate"}, "escalate", "AutonomyCapped"),
        (0.99, {"forced_approval": "12 replicas affected > 5"}, "ask", "ApprovalRequired"),
        (0.99, {"shadow": True}, "shadow", "ShadowRunbook"),
        (1.5, {}, "escalate", "InvalidConfidence"),
    ],
)
def test_route_table(
    confidence: float, kwargs: dict[str, object], expected: str, code: str
) -> None:
    decided = route(confidence, T, **kwargs)  # type: ignore[arg-type]
    assert (decided.route, decided.reason_code) == (expected, code)
    assert decided.message


@given(
    st.floats(0, 1),
    st.sampled_from(["observe", "propose", "act"]),
    st.sampled_from(["auto", "ask", "escalate"]),
)
def test_route_never_exceeds_its_caps(confidence: float, mode: str, cap: str) -> None:
    decided = route(confidence, T, mode=mode, max_autonomy=cap)  # type: ignore[arg-type]
    if mode != "act":
        assert decided.route != "auto"
    if cap != "auto":
        assert decided.route != "auto"
    if cap == "escalate" and mode != "observe":
        assert decided.route == "escalate"


def test_track_record_moves_confidence_towards_the_record() -> None:
    now = 1e9
    good = [Outcome(now - 3600 * i, 0.7, True, "ask") for i in range(30)]
    bad = [Outcome(now - 3600 * i, 0.7, False, "ask") for i in range(30)]
    assert track_record_confidence(1.0, [], now) == pytest.approx(0.75)  # skeptical start
    assert track_record_confidence(0.7, [], now) == pytest.approx(0.525)
    assert track_record_confidence(0.7, good, now) > 0.9
    assert track_record_confidence(0.7, bad, now) < 0.1
    old_bad = [Outcome(now - 600 * 86400, 0.7, False, "ask") for _ in range(30)]
    assert track_record_confidence(0.7, old_bad, now) > 0.5  # ten half-lives: decayed
    seventeen = [Outcome(now - 60 * i, 1.0, True, "ask") for i in range(17)]
    assert track_record_confidence(1.0, seventeen, now) >= 0.95


def test_siblings_lend_part_of_their_record_up_to_the_cap() -> None:
    now = 1e9
    forty = [Outcome(now - 3600 * i, 1.0, True, "auto") for i in range(40)]
    alone = track_record_confidence(1.0, [], now)
    helped = track_record_confidence(1.0, [], now, siblings=forty)
    # 40 clean sibling outcomes at half weight are 20, capped at 10: (3 + 10) / (4 + 10)
    assert helped == pytest.approx(13 / 14, abs=1e-3)
    assert alone < helped < 0.95  # a shorter apprenticeship, not autonomy on loan alone
    own = [Outcome(now - 60 * i, 1.0, True, "ask") for i in range(7)]
    assert track_record_confidence(1.0, own, now, siblings=forty) >= 0.95
    assert track_record_confidence(1.0, own, now) < 0.95
    # the cap keeps the mix: a sibling that is wrong a quarter of the time lends that
    mixed = [Outcome(now - 60 * i, 1.0, i % 4 != 0, "auto") for i in range(40)]
    assert track_record_confidence(1.0, [], now, siblings=mixed) == pytest.approx(
        (3 + 7.5) / 14, abs=1e-3
    )
    assert track_record_confidence(1.0, [], now, siblings=forty, sibling_weight=0.0) == alone
    assert track_record_confidence(1.0, [], now, siblings=forty, sibling_cap=0.0) == alone
    # below the cap each sibling outcome counts its weight
    two = forty[:2]
    assert track_record_confidence(1.0, [], now, siblings=two) == pytest.approx(4 / 5, abs=1e-3)


def test_wrong_automatic_decisions_raise_auto_at_once() -> None:
    recent = [Outcome(float(i), 0.93, i % 5 != 0, "auto") for i in range(20)]
    step = recalibrate(T, recent, target_wrong_rate=0.01, floor=0.8)
    assert step.changed and step.reason_code == "TooManyWrong"
    assert step.thresholds.auto >= 0.94  # above the worst wrong automatic decision


def test_clean_record_relaxes_slowly_and_never_past_the_floor() -> None:
    clean = [Outcome(float(i), 0.95, True, "auto") for i in range(40)]
    thresholds = Thresholds(auto=0.9, ask=0.6)
    seen = []
    for _ in range(50):
        step = recalibrate(thresholds, clean, target_wrong_rate=0.01, floor=0.85)
        thresholds = step.thresholds
        seen.append(thresholds.auto)
    assert seen[0] == pytest.approx(0.89)
    assert min(seen) == pytest.approx(0.85)
    assert seen[-1] == pytest.approx(0.85)  # settled at the floor


def test_too_little_evidence_changes_nothing() -> None:
    few = [Outcome(float(i), 0.95, True, "auto") for i in range(5)]
    step = recalibrate(T, few, target_wrong_rate=0.01, floor=0.8)
    assert not step.changed and step.reason_code == "Steady"


def test_simulated_stream_settles_where_the_wrong_rate_meets_its_target() -> None:
    """Decisions whose true rightness equals their stated confidence: the auto threshold
    must rise out of the region where more than the target goes wrong, settle, and never
    drop below the floor."""
    rng = random.Random(7)
    thresholds = Thresholds(auto=0.8, ask=0.5)
    history: list[Outcome] = []
    autos = []
    for i in range(3000):
        confidence = rng.uniform(0.5, 1.0)
        right = rng.random() < confidence  # perfectly calibrated source
        routed = "auto" if confidence >= thresholds.auto else "ask"
        history.insert(0, Outcome(float(i), confidence, right, routed))
        if i % 10 == 0:
            thresholds = recalibrate(
                thresholds, history, target_wrong_rate=0.03, floor=0.75
            ).thresholds
        autos.append(thresholds.auto)
    assert min(autos) >= 0.75
    late = autos[-1000:]
    assert max(late) - min(late) < 0.1  # settled
    # With rightness == confidence, the automatic band's wrong-rate is about 1 - mean
    # confidence above auto; keeping it near 3 % needs auto well above 0.9.
    assert sum(late) / len(late) > 0.9


def test_reliability_table_and_ece() -> None:
    rng = random.Random(3)
    calibrated = []
    for _ in range(20000):
        confidence = rng.random()
        calibrated.append(Outcome(0, confidence, rng.random() < confidence, "ask"))
    table, ece = reliability(calibrated)
    assert len(table) == 10 and ece < 0.02
    overconfident = [Outcome(0, 0.95, rng.random() < 0.6, "ask") for _ in range(1000)]
    _, bad_ece = reliability(overconfident)
    assert bad_ece > 0.3
