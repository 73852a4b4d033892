"""The seasonal-profile forecaster: finds a daily shape, refuses noise, says why."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.forecast import Forecast
from forecasting.profile import ProfileSettings, SeasonalProfile, fit_profile, nanmedian
from forecasting.series import make_series

STEP = 300.0  # 5-minute samples keep these tests fast
DAY_SLOTS = int(86_400 / STEP)


def _daily(days: int, seed: int, noise: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(days * DAY_SLOTS)
    shape = 100 + 80 * np.sin(2 * np.pi * t / DAY_SLOTS)
    return shape * rng.lognormal(0.0, noise, t.shape[0])


def test_daily_pattern_is_found_and_forecast() -> None:
    values = _daily(9, seed=1)
    history, future = values[: 8 * DAY_SLOTS], values[8 * DAY_SLOTS :]
    series = make_series(np.arange(history.shape[0]) * STEP, history, step=STEP)
    fitted = SeasonalProfile().fit(series)
    assert fitted.fallback_reason is None and fitted.strength > 0.9
    forecast = fitted.predict(12, (80,))
    assert forecast.model == "seasonal-profile"
    error = np.abs(forecast.mean - future[:12]) / future[:12]
    assert float(np.mean(error)) < 0.1
    lower, upper = forecast.intervals[80]
    assert np.all(lower <= forecast.mean) and np.all(forecast.mean <= upper)


def test_interval_coverage_is_roughly_calibrated() -> None:
    values = _daily(12, seed=2, noise=0.15)
    settings = ProfileSettings(max_horizon=3)
    fitted = fit_profile(values[: 7 * DAY_SLOTS], (7 * DAY_SLOTS - 1) * STEP, STEP, settings)
    hits = total = 0
    for end in range(7 * DAY_SLOTS, 12 * DAY_SLOTS - 3, 7):
        moved = fitted.advance(values[end - 6 : end], (end - 1) * STEP)
        low, high = moved.predict(3, (80,)).intervals[80]
        actual = values[end : end + 3]
        hits += int(np.sum((actual >= low) & (actual <= high)))
        total += 3
    assert 0.7 <= hits / total <= 0.9


def test_pure_noise_falls_back_with_a_reason() -> None:
    rng = np.random.default_rng(3)
    values = 100 * rng.lognormal(0.0, 0.3, 8 * DAY_SLOTS)
    fitted = fit_profile(values, (values.shape[0] - 1) * STEP, STEP, ProfileSettings())
    assert fitted.fallback_reason is not None
    assert fitted.fallback_reason.startswith("NoSeasonality")
    forecast = fitted.predict(4, (80,))
    assert forecast.fallback_reason == fitted.fallback_reason
    assert np.all(np.isfinite(forecast.mean))


@pytest.mark.parametrize(
    ("values", "prefix"),
    [
        (np.full(DAY_SLOTS, 50.0), "TooLittleHistory"),
        (np.full(3 * DAY_SLOTS, np.nan), "NoData"),
        (np.full(3 * DAY_SLOTS, -4.0), "NoData"),
        (np.full(3 * DAY_SLOTS, 7.0), "NoSeasonality"),
    ],
    ids=["one day", "all NaN", "all negative", "constant"],
)
def test_degenerate_history_falls_back(values: np.ndarray, prefix: str) -> None:
    fitted = fit_profile(values, (values.shape[0] - 1) * STEP, STEP, ProfileSettings())
    assert fitted.fallback_reason is not None and fitted.fallback_reason.startswith(prefix)
    forecast = fitted.predict(3, (80, 95))
    assert not np.any(np.isnan(forecast.mean))


def test_history_whose_older_part_is_all_gaps_falls_back_without_warnings() -> None:
    # Three days, the first one missing entirely: the seasonal-strength test holds out
    # two days and fits on the one before them, which has no value at all.
    values = _daily(3, seed=6)
    values[:DAY_SLOTS] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted = fit_profile(values, (values.shape[0] - 1) * STEP, STEP, ProfileSettings())
    assert fitted.fallback_reason is not None
    assert fitted.fallback_reason.startswith("NoSeasonality")
    assert np.all(np.isfinite(fitted.predict(3, (80,)).mean))


def test_a_huge_spike_does_not_move_the_level() -> None:
    values = _daily(8, seed=4)
    values[-1] = 1e12
    fitted = fit_profile(values, (values.shape[0] - 1) * STEP, STEP, ProfileSettings())
    assert fitted.fallback_reason is None
    assert float(np.max(fitted.predict(3, (80,)).mean)) < 1_000


def test_bad_requests_are_errors() -> None:
    fitted = fit_profile(_daily(3, seed=5), 3 * 86_400.0, STEP, ProfileSettings())
    with pytest.raises(ValueError, match="horizon"):
        fitted.predict(0)
    with pytest.raises(ValueError, match="levels"):
        fitted.predict(2, (100,))
    with pytest.raises(ValueError, match="step"):
        fit_profile(np.ones(10), 0.0, 0.0, ProfileSettings())


def _same_forecast(a: Forecast, b: Forecast, levels: tuple[int, ...]) -> None:
    assert a.model == b.model and a.fallback_reason == b.fallback_reason
    assert a.details == b.details
    assert np.array_equal(a.timestamps, b.timestamps)
    assert np.array_equal(a.mean, b.mean)
    for level in levels:
        for x, y in zip(a.intervals[level], b.intervals[level], strict=True):
            assert np.array_equal(x, y)


@pytest.mark.parametrize(
    "values",
    [
        _daily(9, seed=3),  # a daily shape: the profile
        np.random.default_rng(4).normal(100, 10, 9 * DAY_SLOTS),  # noise: the flat fallback
        np.full(3, np.nan),  # no data
        _daily(1, seed=5)[:20],  # too little history: fewer than 10 errors at long leads
    ],
)
def test_a_compacted_model_forecasts_exactly_the_same(values: np.ndarray) -> None:
    fitted = fit_profile(values, (values.shape[0] - 1) * STEP, STEP, ProfileSettings())
    small = fitted.compact((80, 95))
    assert small.residuals == () and fitted.residuals
    tail = values[-6:]
    for model, other in ((fitted, small), (fitted.advance(tail, 1e6), small.advance(tail, 1e6))):
        for horizon in (1, 5, 16, 40):  # beyond max_horizon the last step's errors apply
            _same_forecast(model.predict(horizon), other.predict(horizon), (80, 95))
            _same_forecast(
                model.predict(horizon, (95,)), other.compact((95,)).predict(horizon, (95,)), (95,)
            )
    with pytest.raises(ValueError, match="keeps interval levels"):
        small.predict(4, (90,))


def test_a_compacted_model_is_small() -> None:
    values = np.random.default_rng(6).normal(100, 10, 8 * 86_400 // 60)
    fitted = fit_profile(values, 8 * 86_400.0, 60.0, ProfileSettings())
    assert fitted.fallback_reason is not None  # noise: a week of persistence errors
    kept = sum(r.nbytes for r in fitted.residuals)
    assert kept > 1_000_000
    small = fitted.compact()
    bands = small.bands
    assert bands is not None
    assert sum(a.nbytes for band in bands.values() for a in band) < 2_000


@settings(max_examples=300, deadline=None)
@given(
    rows=st.integers(min_value=0, max_value=9),
    columns=st.integers(min_value=0, max_value=40),
    axis=st.sampled_from([0, 1]),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    gaps=st.floats(min_value=0.0, max_value=1.0),
    infinite=st.booleans(),
)
def test_nanmedian_is_numpys_bit_for_bit(
    rows: int, columns: int, axis: int, seed: int, gaps: float, infinite: bool
) -> None:
    rng = np.random.default_rng(seed)
    values = rng.lognormal(0.0, 2.0, (rows, columns)) * rng.choice([-1.0, 1.0], (rows, columns))
    values[rng.random((rows, columns)) < gaps] = np.nan
    if infinite:
        values[rng.random((rows, columns)) < 0.1] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy warns on all-NaN lines
        expected = np.nanmedian(values, axis=axis)
    assert np.array_equal(nanmedian(values, axis), expected, equal_nan=True)


def _shape_then_quiet_day(seed: int) -> np.ndarray:
    """Six days of one daily shape, then the same shape at a fifth of the level (a quiet
    weekend day after busy weekdays)."""
    rng = np.random.default_rng(seed)
    t = np.arange(7 * DAY_SLOTS)
    level = np.where(t >= 6 * DAY_SLOTS, 0.2, 1.0)
    return (100 + 40 * np.sin(2 * np.pi * t / DAY_SLOTS)) * level * rng.lognormal(0, 0.05, t.size)


def test_a_quiet_day_is_no_evidence_against_the_shape_when_judged_within_periods() -> None:
    values = _shape_then_quiet_day(seed=5)
    end = (values.shape[0] - 1) * STEP
    across = fit_profile(values, end, STEP, ProfileSettings())
    within = fit_profile(values, end, STEP, ProfileSettings(strength_within_period=True))
    # across periods, the level step between the two held-out days hides the shape
    assert across.fallback_reason is not None
    assert across.fallback_reason.startswith("NoSeasonality")
    # within each day the shape is the profile's, so the profile is trusted
    assert within.fallback_reason is None and within.strength > 0.9
    # and the level re-anchors on the quiet day: the forecast runs at about a fifth
    forecast = within.predict(3, (80,))
    expected = 0.2 * (100 + 40 * np.sin(2 * np.pi * (7 * DAY_SLOTS + np.arange(1, 4)) / DAY_SLOTS))
    assert np.allclose(forecast.mean, expected, rtol=0.15)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_noise_still_falls_back_when_judged_within_periods(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = 100 * rng.lognormal(0.0, 0.3, 8 * DAY_SLOTS)
    settings = ProfileSettings(strength_within_period=True)
    fitted = fit_profile(values, (values.shape[0] - 1) * STEP, STEP, settings)
    assert fitted.fallback_reason is not None
    assert fitted.fallback_reason.startswith("NoSeasonality")


def test_judging_within_periods_survives_gaps_and_short_histories() -> None:
    settings = ProfileSettings(strength_within_period=True)
    values = _daily(3, seed=4)
    values[-DAY_SLOTS - 30 : -DAY_SLOTS + 30] = np.nan  # a gap across the held-out split
    fitted = fit_profile(values, (values.shape[0] - 1) * STEP, STEP, settings)
    assert fitted.fallback_reason is None and fitted.strength > 0.9
    only_gaps_recently = _daily(4, seed=6)
    only_gaps_recently[-2 * DAY_SLOTS + 40 :] = np.nan  # under four usable hours held out
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        short = fit_profile(
            only_gaps_recently, (only_gaps_recently.shape[0] - 1) * STEP, STEP, settings
        )
    assert short.fallback_reason is not None
