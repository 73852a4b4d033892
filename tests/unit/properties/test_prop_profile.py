"""Property tests of the seasonal-profile forecaster (``forecasting.profile``).

For any history (empty, one point, constant, all missing, negative, 10^12 spikes,
values near the float maximum, gaps, up to a few days of minutes) fitting never
raises, and every forecast is usable: a finite, non-negative mean inside its
intervals, nested intervals, and a fallback that always says why.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from forecasting.forecast import Forecast
from forecasting.profile import (
    MAX_VALUE,
    FittedProfile,
    ProfileSettings,
    SeasonalProfile,
    fit_profile,
)
from forecasting.series import FloatArray, make_series
from tests.unit.properties.traces import DAY_SLOTS, STEP, load_values, small_values

_FALLBACK_CODES = ("NoData: ", "TooLittleHistory: ", "NoSeasonality: ")

# A day-long period (the default) and a four-hour one, so that a seasonal (non-fallback)
# fit is reached with fewer samples; three variance-stabilising transforms.
_PERIODS = {86_400.0: DAY_SLOTS, 14_400.0: 240}
_SETTINGS = st.builds(
    ProfileSettings,
    period_seconds=st.sampled_from(sorted(_PERIODS)),
    transform_power=st.sampled_from([0.0, 0.5, 1.0]),
    max_horizon=st.sampled_from([4, 16]),
)
_LEVELS = st.lists(st.sampled_from([50, 80, 95, 99]), min_size=1, max_size=3, unique=True).map(
    lambda levels: tuple(sorted(levels))
)


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )


@st.composite
def _histories(draw: st.DrawFn) -> tuple[ProfileSettings, FloatArray]:
    profile_settings = draw(_SETTINGS)
    period = _PERIODS[profile_settings.period_seconds]
    values = draw(
        st.one_of(
            load_values(max_size=3 * period, period=period),
            small_values(),
        )
    )
    return profile_settings, values


def check_forecast(
    forecast: Forecast, fitted: FittedProfile, horizon: int, levels: tuple[int, ...]
) -> None:
    """What every caller may rely on, whatever the history was."""
    expected_ts = fitted.last_timestamp + fitted.step * np.arange(1, horizon + 1)
    assert np.array_equal(forecast.timestamps, expected_ts)
    mean = forecast.mean
    assert mean.shape == (horizon,)
    assert np.all(np.isfinite(mean)), mean
    assert np.all(mean >= 0)
    for level in levels:
        lower, upper = forecast.intervals[level]
        assert lower.shape == upper.shape == (horizon,)
        assert np.all(np.isfinite(lower)), lower
        # the upper bound is +inf where too few errors were measured (documented:
        # "no evidence about the spread: unbounded above"), never NaN
        assert not np.any(np.isnan(upper)) and not np.any(upper == -np.inf)
        assert np.all((lower >= 0) & (lower <= mean) & (mean <= upper))
    for narrow, wide in itertools.pairwise(levels):
        assert np.all(forecast.lower(wide) <= forecast.lower(narrow))
        assert np.all(forecast.upper(narrow) <= forecast.upper(wide))
    assert forecast.fallback_reason == fitted.fallback_reason
    if fitted.fallback_reason is None:
        assert forecast.model == "seasonal-profile"
    else:
        assert isinstance(fitted.fallback_reason, str)
        assert fitted.fallback_reason.startswith(_FALLBACK_CODES), fitted.fallback_reason
        assert len(fitted.fallback_reason) > 30  # a sentence, not just a code
        assert forecast.model == "recent-level"
    assert 0.0 <= float(forecast.details["strength"]) <= 1.0
    assert math.isfinite(float(forecast.details["level"]))


def _same(a: Forecast, b: Forecast, levels: tuple[int, ...]) -> None:
    assert np.array_equal(a.mean, b.mean)
    for level in levels:
        assert np.array_equal(a.lower(level), b.lower(level))
        assert np.array_equal(a.upper(level), b.upper(level))


@_settings(250)
@given(
    history=_histories(),
    horizon=st.integers(min_value=1, max_value=40),
    levels=_LEVELS,
    start=st.integers(min_value=-(10**9), max_value=4 * 10**9),
)
@example(
    history=(ProfileSettings(), np.full(3 * DAY_SLOTS, 1.7976931348623157e308)),
    horizon=16,
    levels=(80, 95),
    start=1_700_000_000,
)
def test_a_fit_on_any_history_forecasts_finite_ordered_values(
    history: tuple[ProfileSettings, FloatArray],
    horizon: int,
    levels: tuple[int, ...],
    start: int,
) -> None:
    profile_settings, values = history
    last = float(start + STEP * (values.shape[0] - 1))
    if values.shape[0]:
        stamps = start + STEP * np.arange(values.shape[0], dtype=np.float64)
        series = make_series(stamps, values, step=STEP)
        fitted = SeasonalProfile(profile_settings).fit(series)
    else:  # a Series cannot be empty; the function under it can be called with nothing
        fitted = fit_profile(values, last, STEP, profile_settings)
    assert fitted.last_timestamp == last
    reason = fitted.fallback_reason
    event("fit: " + ("seasonal profile" if reason is None else reason.split(":")[0]))
    forecast = fitted.predict(horizon, levels)
    check_forecast(forecast, fitted, horizon, levels)
    # A compacted model forecasts exactly the same for the levels it keeps.
    _same(forecast, fitted.compact(levels).predict(horizon, levels), levels)


@_settings(250)
@given(
    history=_histories(),
    newer=st.one_of(small_values(max_size=60), load_values(max_size=60)),
    steps=st.integers(min_value=1, max_value=20),
    horizon=st.integers(min_value=1, max_value=20),
)
def test_advancing_on_any_new_samples_keeps_the_forecast_usable(
    history: tuple[ProfileSettings, FloatArray], newer: FloatArray, steps: int, horizon: int
) -> None:
    profile_settings, values = history
    fitted = fit_profile(values, 1_700_000_000.0, STEP, profile_settings)
    levels = (80, 95)
    moved_to = fitted.last_timestamp + steps * STEP
    advanced = fitted.advance(newer, moved_to)
    assert advanced.last_timestamp == moved_to
    usable = newer[np.isfinite(newer) & (newer >= 0) & (newer <= MAX_VALUE)]
    if usable.shape[0] == 0:
        assert advanced.level == fitted.level  # nothing usable: the old level stays
    check_forecast(advanced.predict(horizon, levels), advanced, horizon, levels)
    compact = fitted.compact(levels).advance(newer, moved_to)
    _same(advanced.predict(horizon, levels), compact.predict(horizon, levels), levels)


@_settings(120)
@given(
    history=_histories(),
    newer=st.one_of(small_values(max_size=200), load_values(max_size=2 * DAY_SLOTS)),
    steps=st.integers(min_value=1, max_value=30),
)
def test_one_step_ahead_replays_are_finite_or_explicitly_unknown(
    history: tuple[ProfileSettings, FloatArray], newer: FloatArray, steps: int
) -> None:
    profile_settings, values = history
    fitted = fit_profile(values, 1_700_000_000.0, STEP, profile_settings)
    out = fitted.ahead(newer, 1_700_000_000.0 + STEP * newer.shape[0], steps)
    assert out.shape == newer.shape
    assert np.all(np.isnan(out[:steps]))  # nothing came before these
    known = out[~np.isnan(out)]
    assert np.all(np.isfinite(known)) and np.all(known >= 0)


def test_regression_values_near_the_float_maximum_fall_back_instead_of_nan() -> None:
    # Found by the property above: the mean of 1.8e308s overflowed to inf, so the flat
    # fallback forecast NaN (and the fit raised overflow RuntimeWarnings on 1e290s).
    for value in (1.7976931348623157e308, 1e290):
        values = np.full(3 * DAY_SLOTS, value)
        fitted = fit_profile(values, 1e9, STEP, ProfileSettings())
        assert fitted.fallback_reason is not None
        assert fitted.fallback_reason.startswith("NoData: ")
        forecast = fitted.predict(4, (80,))
        assert np.all(np.isfinite(forecast.mean)) and np.all(np.isfinite(forecast.lower(80)))


def test_regression_a_glitch_near_the_float_maximum_is_a_gap() -> None:
    t = np.arange(3 * DAY_SLOTS)
    values = 100.0 + 50.0 * np.sin(2 * np.pi * t / DAY_SLOTS)
    clean = fit_profile(values, 1e9, STEP, ProfileSettings())
    values[::97] = 1e300
    glitched = fit_profile(values, 1e9, STEP, ProfileSettings())
    assert clean.fallback_reason is None and glitched.fallback_reason is None
    assert np.allclose(glitched.predict(8).mean, clean.predict(8).mean, rtol=0.01)
    advanced = glitched.advance(np.full(5, 1.7976931348623157e308), 1e9 + STEP)
    assert advanced.level == glitched.level


def test_regression_ahead_skips_a_sample_near_the_float_maximum() -> None:
    # Found by the property above: ahead() divided every sample by the profile before
    # masking the unusable ones, so 1.8e308 overflowed (a RuntimeWarning; earlier, +inf
    # forecasts, since such a sample counted as usable).
    t = np.arange(3 * DAY_SLOTS)
    values = 1e-6 * (1.0 + 0.6 * np.sin(2 * np.pi * t / DAY_SLOTS))
    fitted = fit_profile(values, 1.7e9, STEP, ProfileSettings(transform_power=0.0))
    assert fitted.fallback_reason is None
    out = fitted.ahead(np.array([1.7976931348623157e308, 0.0, 0.0]), 1.7e9 + 3 * STEP)
    assert np.isnan(out[0]) and np.isnan(out[1])  # nothing usable came before them
    assert 0.0 <= out[2] < 1e-9  # the zero before it, not an overflow
