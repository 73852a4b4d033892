"""Properties and edge cases of the pure predictive recommendation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.forecast import Forecast
from forecasting.scaling import (
    ScalingRecommendation,
    ScalingSettings,
    WorkloadNow,
    ease_reactive,
    horizon_steps,
    lead_time,
    recommend,
)


def _forecast(
    mean: list[float] | np.ndarray,
    upper: list[float] | np.ndarray | None = None,
    *,
    step: float = 60.0,
    fallback: str | None = None,
) -> Forecast:
    mean_arr = np.asarray(mean, dtype=np.float64)
    upper_arr = mean_arr if upper is None else np.asarray(upper, dtype=np.float64)
    stamps = step * np.arange(1, mean_arr.shape[0] + 1, dtype=np.float64)
    return Forecast(stamps, mean_arr, {80: (mean_arr, upper_arr)}, "test", "1", fallback)


SETTINGS = ScalingSettings(capacity_per_pod=10.0, lead_seconds=240.0, max_replicas=500)


def test_lead_and_horizon() -> None:
    assert lead_time(120, 60, 60) == 240
    assert horizon_steps(240, 60) == 4
    assert horizon_steps(241, 60) == 5
    assert horizon_steps(10, 1800) == 1


def test_floor_is_the_upper_peak_over_the_lead_window() -> None:
    forecast = _forecast([100, 100, 100, 100, 900], [120, 150, 130, 110, 2000])
    rec = recommend(forecast, WorkloadNow(0.0, 10, 100.0), SETTINGS)
    # the 5th step is beyond the 240 s lead: the peak is 150 -> 15 pods
    assert (rec.mode, rec.floor, rec.replicas, rec.current_need) == ("predictive", 15, 15, 10)
    assert rec.reason == "Forecast"
    with_margin = recommend(
        forecast,
        WorkloadNow(0.0, 10, 100.0),
        ScalingSettings(capacity_per_pod=10.0, lead_seconds=240.0, margin=0.2),
    )
    assert with_margin.floor == 18


def test_never_below_current_need() -> None:
    rec = recommend(_forecast([10, 10, 10, 10]), WorkloadNow(0.0, 10, 333.0), SETTINGS)
    assert rec.floor == 34 and rec.reason == "CurrentLoad"


def test_low_confidence_falls_back_to_reactive_with_a_reason() -> None:
    forecast = _forecast([50] * 4, fallback="NoSeasonality: flat")
    rec = recommend(forecast, WorkloadNow(0.0, 5, 40.0), SETTINGS)
    assert rec.mode == "reactive" and rec.floor is None
    assert rec.reason == "LowConfidence" and "NoSeasonality" in rec.message
    assert rec.replicas == 4
    assert recommend(None, WorkloadNow(0.0, 5, 40.0), SETTINGS).reason == "NoForecast"


def test_short_and_wide_forecasts_are_low_confidence() -> None:
    short = recommend(_forecast([50, 50]), WorkloadNow(0.0, 5, 40.0), SETTINGS)
    assert short.reason == "ForecastTooShort"
    wide = recommend(_forecast([10] * 4, [500] * 4), WorkloadNow(0.0, 5, 40.0), SETTINGS)
    assert wide.reason == "WideInterval"


def test_scale_in_is_slow() -> None:
    previous = recommend(_forecast([1000] * 4), WorkloadNow(0.0, 100, 1000.0), SETTINGS)
    assert previous.floor == 100
    rec = recommend(_forecast([10] * 4), WorkloadNow(60.0, 100, 10.0, previous), SETTINGS)
    assert rec.floor == 90 and rec.reason == "ScaleInLimit"
    later = recommend(_forecast([10] * 4), WorkloadNow(120.0, 90, 10.0, rec), SETTINGS)
    assert later.floor == 81 and later.reason == "ScaleInLimit"  # 10 % of what is left


def test_a_hold_earns_no_catch_up() -> None:
    """A floor of 40, then ten minutes without a decision (the loop held the workload:
    no usable load, a gap in its series). The drop used to grow with the time since
    the last decision, 4 pods for each of the ten minutes: the whole 40 in one step, to
    what the load needs. The load was not known while held, so the first decision back
    lowers the floor as any one decision does (the loop's period, a minute, of pace),
    and the pace goes on from there, each minute's 10 % of what the last one left."""
    held = ScalingRecommendation(0.0, 40, 40, 40, "predictive", "Forecast", "")
    rec = recommend(_forecast([10] * 4), WorkloadNow(600.0, 40, 10.0, held), SETTINGS)
    assert rec.floor == 36 and rec.reason == "ScaleInLimit"
    assert "from 40 by at most 4" in rec.message
    floors = [rec.floor]
    for minute in range(1, 6):
        rec = recommend(
            _forecast([10] * 4), WorkloadNow(600.0 + 60 * minute, 40, 10.0, rec), SETTINGS
        )
        floors.append(rec.floor)
    assert floors == [36, 33, 30, 27, 25, 23]
    # A loop deciding every two minutes paces two minutes a decision, compounded (33,
    # not 40 - 2 * 4), and no more after the same hold.
    slow = dataclasses.replace(SETTINGS, loop_period=120.0)
    rec = recommend(_forecast([10] * 4), WorkloadNow(600.0, 40, 10.0, held), slow)
    assert rec.floor == 33
    assert recommend(_forecast([10] * 4), WorkloadNow(120.0, 40, 10.0, held), slow).floor == 33
    # However soon, a decision may lower the floor by one period's worth.
    assert recommend(_forecast([10] * 4), WorkloadNow(5.0, 40, 10.0, held), SETTINGS).floor == 36


def test_scale_up_is_rate_limited_but_not_below_need() -> None:
    rec = recommend(_forecast([400] * 4), WorkloadNow(0.0, 5, 20.0), SETTINGS)
    assert rec.floor == 10 and rec.reason == "ScaleUpLimit"


def test_absurd_spike_is_clamped_to_max_with_a_reason() -> None:
    rec = recommend(_forecast([1e12] * 4), WorkloadNow(0.0, 5, 1e12), SETTINGS)
    assert rec.floor == 500 and rec.replicas == 500 and rec.reason == "AtMaximum"


@pytest.mark.parametrize("load", [math.nan, math.inf, -5.0])
def test_unusable_load_holds(load: float) -> None:
    previous = recommend(_forecast([100] * 4), WorkloadNow(0.0, 10, 100.0), SETTINGS)
    rec = recommend(_forecast([100] * 4), WorkloadNow(60.0, 10, load, previous), SETTINGS)
    assert rec.mode == "hold" and rec.reason == "NoCurrentLoad"
    assert rec.floor == previous.floor and rec.replicas == 10


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"capacity_per_pod": 0.0}, "capacity_per_pod"),
        ({"capacity_per_pod": math.nan}, "capacity_per_pod"),
        ({"lead_seconds": -1.0}, "lead_seconds"),
        ({"margin": -1.5}, "margin"),
        ({"min_replicas": 9, "max_replicas": 3}, "min_replicas"),
        ({"loop_period": 0.0}, "loop_period"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, float], field: str) -> None:
    base: dict[str, float] = {"capacity_per_pod": 1.0, "lead_seconds": 60.0}
    base.update(kwargs)
    with pytest.raises(ValueError, match=field):
        ScalingSettings(**base)  # type: ignore[arg-type]


VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -1.0, 1e12, 1e-9, math.nan]),
)


@settings(max_examples=150, deadline=None)
@given(
    mean=st.lists(VALUES, min_size=0, max_size=8),
    spread=st.floats(min_value=0.0, max_value=10.0),
    load=VALUES,
    replicas=st.integers(min_value=0, max_value=2_000),
    capacity=st.floats(min_value=1e-3, max_value=1e6),
    margin=st.floats(min_value=-0.5, max_value=1.0),
    min_replicas=st.integers(min_value=0, max_value=20),
    span=st.integers(min_value=1, max_value=1_000),
    fallback=st.booleans(),
    with_previous=st.booleans(),
)
def test_recommendation_is_always_a_sane_integer(
    mean: list[float],
    spread: float,
    load: float,
    replicas: int,
    capacity: float,
    margin: float,
    min_replicas: int,
    span: int,
    fallback: bool,
    with_previous: bool,
) -> None:
    rules = ScalingSettings(
        capacity_per_pod=capacity,
        lead_seconds=180.0,
        min_replicas=min_replicas,
        max_replicas=min_replicas + span,
        margin=margin,
    )
    forecast = (
        _forecast(mean, [v * (1 + spread) for v in mean], fallback="x" if fallback else None)
        if mean
        else None
    )
    previous: ScalingRecommendation | None = None
    if with_previous:
        previous = recommend(_forecast([1e6] * 4), WorkloadNow(0.0, replicas, 1e6), rules)
    rec = recommend(forecast, WorkloadNow(60.0, replicas, load, previous), rules)
    for value in (rec.replicas, rec.current_need, rec.floor):
        if value is not None:
            assert isinstance(value, int)
            assert rules.min_replicas <= value <= rules.max_replicas or (
                rec.mode == "hold" and value == rec.current_need
            )
    assert rec.reason and rec.message
    if rec.mode != "hold":
        needed = math.ceil(load / capacity - 1e-9) if load / capacity < 1e15 else 10**18
        expected_need = max(rules.min_replicas, min(rules.max_replicas, needed))
        assert rec.current_need == expected_need
        assert rec.replicas >= rec.current_need
    if rec.mode == "predictive":
        assert rec.floor is not None and rec.floor >= rec.current_need
        assert rec.forecast_peak is not None and math.isfinite(rec.forecast_peak)
    else:
        assert rec.mode in ("reactive", "hold")
        if rec.mode == "reactive":
            assert rec.floor is None


def test_a_loop_faster_than_the_scale_in_period_steps_once_a_period() -> None:
    """A loop every 30 s with the scale-in period of 60 s. Each decision used to take a
    whole period's step (10 % of the floor), so 40 came down twice as fast as the pace
    allows: 36, 33, 30, 27 in two minutes. One step a period: 36 at once, 33 a minute
    after, and the cycles between hold the floor."""
    fast = dataclasses.replace(SETTINGS, loop_period=30.0)
    rec = ScalingRecommendation(0.0, 40, 40, 40, "predictive", "Forecast", "")
    floors = []
    for cycle in range(1, 9):
        rec = recommend(_forecast([10] * 4), WorkloadNow(30.0 * cycle, 40, 10.0, rec), fast)
        floors.append(rec.floor)
        assert rec.reason == "ScaleInLimit"
    assert floors == [36, 36, 33, 33, 30, 30, 27, 27]


def test_a_loop_period_that_does_not_divide_the_scale_in_period_keeps_its_rate() -> None:
    """A 45 s loop against the 60 s period: a step every 60 s on average (6 in six
    minutes), neither one each 45 s cycle (8) nor one each second cycle (4)."""
    odd = dataclasses.replace(SETTINGS, loop_period=45.0)
    rec = ScalingRecommendation(0.0, 400, 400, 400, "predictive", "Forecast", "")
    steps = 0
    for cycle in range(1, 9):
        before = rec.floor
        rec = recommend(_forecast([10] * 4), WorkloadNow(45.0 * cycle, 400, 10.0, rec), odd)
        steps += rec.floor != before
    assert steps == 6


def test_a_hold_earns_a_fast_loop_no_second_step() -> None:
    """After ten minutes held, a 30 s loop takes one step, then waits a period for the
    next: the held time does not let two cycles in a row step."""
    fast = dataclasses.replace(SETTINGS, loop_period=30.0)
    rec = ScalingRecommendation(0.0, 40, 40, 40, "predictive", "Forecast", "")
    first = recommend(_forecast([10] * 4), WorkloadNow(600.0, 40, 10.0, rec), fast)
    second = recommend(_forecast([10] * 4), WorkloadNow(630.0, 40, 10.0, first), fast)
    third = recommend(_forecast([10] * 4), WorkloadNow(660.0, 40, 10.0, second), fast)
    assert (first.floor, second.floor, third.floor) == (36, 36, 33)
    assert "36 for 30 s more" in second.message


def test_a_reactive_floor_on_a_fast_loop_comes_down_once_a_period() -> None:
    """The same pace for a floor coming down reactively (no forecast): a 30 s loop
    lowers 40 a step each minute, not each cycle."""
    fast = dataclasses.replace(SETTINGS, loop_period=30.0)
    rec = ScalingRecommendation(0.0, 40, 40, 40, "predictive", "Forecast", "")
    floors = []
    for cycle in range(1, 7):
        now = WorkloadNow(30.0 * cycle, 40, 10.0, rec)
        reactive = recommend(None, now, fast)
        assert reactive.floor is None
        rec = ease_reactive(reactive, rec, 40, fast)
        floors.append(rec.floor)
    assert floors == [36, 36, 33, 33, 30, 30]
