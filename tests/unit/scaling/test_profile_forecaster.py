"""The seasonal-profile forecaster: finds a daily shape, refuses noise, says why."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.profile import ProfileSettings, SeasonalProfile, fit_profile
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
