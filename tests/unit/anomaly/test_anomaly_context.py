from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.anomaly import Detector, DetectorConfig, Reason
from forecasting.anomaly.context import ContextDetector, ContextMemory


def feed(detector: ContextDetector, values: list[float]) -> list[tuple[float, float]]:
    return [detector.update(v) for v in values]


def repeating(pattern: list[float], times: int) -> list[float]:
    return pattern * times


def test_a_learnt_sequence_stops_being_novel() -> None:
    memory = ContextMemory(sensor_bits=6)
    facts = [0b010101, 0b011001, 0b100110, 0b101010]
    raws = [memory.step(facts[i % 4]) for i in range(400)]
    assert raws[0] == 1.0  # nothing learnt yet
    assert max(raws[-40:]) < 0.2  # the cycle is predicted
    assert memory.size > 0


def test_a_new_order_of_ordinary_values_is_novel() -> None:
    """Every value below was seen before; only the order is new."""
    pattern = [0.0, 0.0, 10.0, 10.0, 5.0, 5.0]
    detector = ContextDetector(warmup=30, rest=20)
    quiet = feed(detector, repeating(pattern, 60))
    broken = feed(detector, [0.0, 10.0, 0.0, 10.0, 0.0, 10.0])
    learnt = max(raw for raw, _ in quiet[-60:])
    assert max(raw for raw, _ in broken) > 2 * learnt


def test_one_novelty_reports_once_then_rests() -> None:
    detector = ContextDetector(warmup=30, rest=50)
    quiet = feed(detector, repeating([0.0, 10.0], 150))
    assert max(reported for _, reported in quiet[-60:]) < 0.1
    out = feed(detector, repeating([5.0, 5.0, 0.0, 5.0, 10.0, 5.0, 0.0, 5.0], 5))
    raws = [raw for raw, _ in out]
    reported = [r for _, r in out]
    assert reported[0] == 1.0  # a level never seen in this context
    assert sum(r >= 0.75 for r in raws) > 1  # the burst stays novel for a while ...
    assert all(r == 0.0 for r in reported[1:])  # ... but is reported once
    assert max(raws[-8:]) < 0.75  # and is being learnt


def test_a_new_extreme_after_warm_up_is_reported_and_memory_restarts() -> None:
    detector = ContextDetector(warmup=30, rest=20)
    feed(detector, repeating([1.0, 2.0, 3.0, 2.0], 60))
    raw, reported = detector.update(100.0)
    assert raw == 1.0 and reported == 1.0
    # the memory starts afresh, so nothing is reported while it relearns
    after = feed(detector, repeating([1.0, 2.0, 3.0, 2.0], 5))
    assert all(reported == 0.0 for _, reported in after)


def test_nothing_is_reported_during_warm_up() -> None:
    detector = ContextDetector(warmup=100, rest=5)
    out = feed(detector, [float(i % 7) * (1 + i // 40) for i in range(100)])
    assert all(reported == 0.0 for _, reported in out)


def test_a_constant_series_is_never_novel_after_the_first_points() -> None:
    detector = ContextDetector(warmup=10, rest=5)
    out = feed(detector, [42.0] * 300)
    assert all(reported < 0.75 for _, reported in out)


def test_the_memory_is_bounded() -> None:
    rng = np.random.default_rng(1)
    detector = ContextDetector(warmup=10, max_contexts=500)
    feed(detector, rng.uniform(0, 1, 3000).tolist())
    assert detector._memory.size <= 500 + 200  # cleared when over, one step may add a few


def test_context_state_round_trips_exactly() -> None:
    rng = np.random.default_rng(5)
    values = (np.sin(np.arange(900) / 9) * 10 + rng.normal(0, 1, 900)).tolist()
    whole = ContextDetector(warmup=50)
    expected = feed(whole, values)
    first = ContextDetector(warmup=50)
    feed(first, values[:500])
    saved = json.loads(json.dumps(first.state(), allow_nan=False))
    resumed = ContextDetector(warmup=50)
    resumed.restore(saved)
    assert feed(resumed, values[500:]) == expected[500:]


def test_a_pattern_break_is_scored_and_explained_by_the_detector() -> None:
    """A sequence of ordinary values in a new order: the statistical path alone is unsure."""
    values = [*repeating([10.0, 20.0], 200), 15.0, 15.0, 10.0, 15.0, 20.0, 15.0]
    detector = Detector(60.0)
    points = [detector.update(i * 60.0, v) for i, v in enumerate(values)]
    normal = max(p.score for p in points[200:400])
    broken = points[400:]
    best = max(broken, key=lambda p: p.score)
    assert best.score > normal and best.score >= 0.75
    assert best.reason not in (Reason.NONE, Reason.MISSING, Reason.WARMING_UP)


def test_the_detector_without_the_contextual_part_still_works() -> None:
    values = np.r_[np.full(300, 5.0) + np.sin(np.arange(300)), 40.0]
    detector = Detector(60.0, DetectorConfig(context=False))
    points = [detector.update(i * 60.0, float(v)) for i, v in enumerate(values)]
    assert points[-1].score == max(p.score for p in points)
    assert detector.state()["context"] is None


def test_a_version_1_state_is_read_and_the_contextual_part_starts_fresh() -> None:
    detector = Detector(60.0)
    for i in range(200):
        detector.update(i * 60.0, float(i % 5))
    state = detector.state()
    state["version"] = 1
    del state["context"]
    for key in [k for k in state["config"] if k.startswith("context") or k.startswith("stat")]:
        del state["config"][key]
    restored = Detector.from_state(state)
    assert detector.context_size > 0
    assert restored.context_size == 0  # the contextual part starts fresh
    assert restored.state()["version"] > 1  # and is saved in the current format
    point = restored.update(200 * 60.0, 0.0)
    assert 0.0 <= point.score <= 1.0


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.sampled_from([0.0, 1e15, -1e15, 1e308, -1e308]),
        ),
        min_size=1,
        max_size=150,
    )
)
def test_any_finite_values_keep_scores_in_range(values: list[float]) -> None:
    detector = ContextDetector(warmup=5, rest=3)
    for value in values:
        raw, reported = detector.update(value)
        assert 0.0 <= raw <= 1.0 and 0.0 <= reported <= 1.0
        assert not math.isnan(raw)
    json.dumps(detector.state(), allow_nan=False)


def test_values_too_large_for_arithmetic_are_missing_and_state_stays_json() -> None:
    detector = Detector(60.0, DetectorConfig(warmup=3))
    extremes = [0.0, 1.7e308, -1.7e308, 1e15, -1e15]
    points = [detector.update(i * 60.0, extremes[i % 5]) for i in range(60)]
    assert all(p.reason == Reason.MISSING for p in points if abs(p.observed) > 1e150)
    assert all(0.0 <= p.score <= 1.0 and 0.0 <= p.confidence <= 1.0 for p in points)
    json.dumps(detector.state(), allow_nan=False)


def test_an_alarm_below_the_rest_threshold_is_followed_by_a_short_silence() -> None:
    rng = np.random.default_rng(11)
    values = np.cumsum(rng.normal(0.0, 1.0, 3000)).tolist()  # a random walk: novelties
    detector = ContextDetector(warmup=20, rest=12, threshold=0.9, report_level=0.5, report_rest=6)
    reported = [r for _, r in feed(detector, values)]
    alarms = [i for i, r in enumerate(reported) if r >= 0.5]
    assert len(alarms) > 5
    for i in alarms:
        assert all(r == 0.0 for r in reported[i + 1 : i + 7])
    # without the short silence, some alarm is followed by another report within 6 points
    free = ContextDetector(warmup=20, rest=12, threshold=0.9, report_level=0.5, report_rest=0)
    plain = [r for _, r in feed(free, values)]
    assert any(any(r > 0.0 for r in plain[i + 1 : i + 7]) for i, r in enumerate(plain) if r >= 0.5)
