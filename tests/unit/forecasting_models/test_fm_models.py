from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from forecasting.baselines import FittedBase, ModelError, Naive, SeasonalNaive
from forecasting.models import (
    Combination,
    DampedETS,
    ForecastError,
    MstlETS,
    fit_forecast,
)
from forecasting.series import FloatArray, Series
from tests.unit.forecasting_models.helpers import daily_series, values_series


def _truth(series: Series, horizon: int, level: float = 100.0) -> FloatArray:
    t = series.end + series.step * np.arange(1, horizon + 1)
    return level + 30.0 * np.sin(2 * np.pi * t / 86400.0)


def test_seasonal_naive_repeats_the_last_cycle() -> None:
    series = values_series(np.arange(10.0))
    forecast = SeasonalNaive(4).fit(series).predict(6, (80,))
    np.testing.assert_array_equal(forecast.mean, [6, 7, 8, 9, 6, 7])
    assert forecast.version == "seasonal-naive-4/1"
    np.testing.assert_array_equal(forecast.timestamps, series.end + 60.0 * np.arange(1, 7))


def test_seasonal_naive_intervals_are_empirically_calibrated() -> None:
    series = daily_series(days=60, noise=5.0, seed=11)
    train = series.tail(24 * 60)
    fitted = SeasonalNaive(24).fit(Series(train.timestamps[:-240], train.values[:-240], 3600.0))
    hits = {80: 0, 95: 0}
    total = 0
    # ten consecutive forecasts of one day, each from a longer history
    for k in range(10):
        cut = train.values.size - 240 + 24 * k
        fitted = SeasonalNaive(24).fit(Series(train.timestamps[:cut], train.values[:cut], 3600.0))
        fc = fitted.predict(24, (80, 95))
        actual = train.values[cut : cut + 24]
        for level in hits:
            hits[level] += int(np.sum((actual >= fc.lower(level)) & (actual <= fc.upper(level))))
        total += 24
    assert 0.65 <= hits[80] / total <= 0.93
    assert 0.88 <= hits[95] / total <= 1.0


def test_intervals_are_nested_and_contain_the_mean() -> None:
    series = daily_series(days=10, noise=4.0)
    forecast = fit_forecast(series, 30, (50, 80, 95))
    for narrow, wide in ((50, 80), (80, 95)):
        assert np.all(forecast.lower(wide) <= forecast.lower(narrow))
        assert np.all(forecast.upper(wide) >= forecast.upper(narrow))
    assert np.all(forecast.lower(50) <= forecast.mean)
    assert np.all(forecast.mean <= forecast.upper(50))


@pytest.mark.parametrize(
    "model",
    [DampedETS(24), DampedETS(24, log=True), MstlETS((24,)), MstlETS((24, 168), log=True)],
    ids=lambda m: m.name,
)
def test_statsmodels_models_learn_a_daily_cycle(model: object) -> None:
    series = daily_series(days=21, noise=2.0)
    forecast = fit_forecast(series, 24, model=model, calibration_folds=0)  # type: ignore[arg-type]
    assert forecast.fallback_reason is None
    error = np.abs(forecast.mean - _truth(series, 24)).mean()
    assert error < 4.0, error


def test_default_model_beats_seasonal_naive_on_noisy_cycle() -> None:
    series = daily_series(days=21, noise=6.0, seed=2)
    truth = _truth(series, 24)
    ours = fit_forecast(series, 24, calibration_folds=0)
    naive = SeasonalNaive(24).fit(series).predict(24)
    assert np.abs(ours.mean - truth).mean() < np.abs(naive.mean - truth).mean()
    assert ours.model.startswith("combo(")


def test_calibrated_intervals_widen_with_noise() -> None:
    quiet = fit_forecast(daily_series(days=6, noise=1.0), 12)
    loud = fit_forecast(daily_series(days=6, noise=8.0), 12)
    assert quiet.details["intervals"].startswith("conformal")
    quiet_width = (quiet.upper(95) - quiet.lower(95)).mean()
    loud_width = (loud.upper(95) - loud.lower(95)).mean()
    assert loud_width > 3 * quiet_width


@dataclass(frozen=True)
class Exploding:
    name: str = "exploding"
    version: str = "exploding/1"

    def fit(self, series: Series) -> FittedBase:
        raise ModelError("the optimiser diverged")


@dataclass(frozen=True)
class Runaway:
    name: str = "runaway"
    version: str = "runaway/1"

    def fit(self, series: Series) -> FittedBase:
        return _RunawayFit(self.name, self.version, series, series.values, None)


class _RunawayFit(FittedBase):
    def point(self, horizon: int) -> FloatArray:
        return np.full(horizon, 1e15)


def test_failing_model_falls_back_and_says_why() -> None:
    series = daily_series(days=7)
    forecast = fit_forecast(series, 12, model=Exploding())
    assert forecast.version == "seasonal-naive-24/1"
    assert forecast.fallback_reason is not None
    assert "exploding/1 failed: the optimiser diverged" in forecast.fallback_reason


def test_diverging_model_is_rejected() -> None:
    forecast = fit_forecast(daily_series(days=7), 12, model=Runaway())
    assert forecast.version == "seasonal-naive-24/1"
    assert forecast.fallback_reason is not None
    assert "diverged upwards" in forecast.fallback_reason
    assert forecast.mean.max() < 200


def test_combination_survives_a_failing_member() -> None:
    series = daily_series(days=7)
    forecast = fit_forecast(
        series, 6, model=Combination((Exploding(), SeasonalNaive(24))), calibration_folds=0
    )
    np.testing.assert_allclose(forecast.mean, SeasonalNaive(24).fit(series).predict(6).mean)


def test_too_little_history_falls_back_with_a_reason() -> None:
    single = fit_forecast(values_series([42.0]), 3)
    assert single.version == "naive/1"
    assert single.fallback_reason and "only 1 sample" in single.fallback_reason
    np.testing.assert_array_equal(single.mean, [42.0] * 3)
    short = fit_forecast(daily_series(days=1, step=300.0), 12)
    assert short.fallback_reason and "shorter than two cycles of 288 steps" in short.fallback_reason


def test_a_short_ramp_is_not_forecast_with_certainty() -> None:
    """Six steady steps: the naive fallback misses the next value by one step, so its
    intervals must have room for that miss (they were zero wide: the differences'
    standard deviation is 0). Two samples already show one step of change."""
    ramp = fit_forecast(values_series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), 3, (80, 95))
    assert ramp.fallback_reason and "too little history" in ramp.fallback_reason
    assert ramp.upper(80)[0] > 6.5
    assert ramp.upper(95)[0] >= 7.0
    two = fit_forecast(values_series([1.0, 2.0]), 2, (80,))
    assert two.upper(80)[0] > two.mean[0] > two.lower(80)[0]


def test_constant_series_repeats_its_value() -> None:
    forecast = fit_forecast(values_series([7.0] * 100), 5)
    np.testing.assert_array_equal(forecast.mean, [7.0] * 5)
    assert forecast.fallback_reason and "constant" in forecast.fallback_reason


def test_non_negative_history_gives_non_negative_forecast() -> None:
    values = np.abs(np.sin(np.arange(300) / 5.0)) * 10
    forecast = fit_forecast(values_series(values), 40)
    assert np.all(forecast.lower(95) >= 0)
    assert np.all(forecast.mean >= 0)


def test_negative_series_is_forecast_as_is() -> None:
    forecast = fit_forecast(values_series(-50 + np.sin(np.arange(200))), 5)
    assert np.all(forecast.mean < 0)


def test_nothing_to_forecast_is_an_error() -> None:
    with pytest.raises(ForecastError, match="every sample is missing"):
        fit_forecast(values_series([np.nan, np.nan, np.nan]), 3)
    with pytest.raises(ForecastError, match="horizon"):
        fit_forecast(values_series([1.0, 2.0]), 0)
    with pytest.raises(ForecastError, match="levels"):
        fit_forecast(values_series([1.0, 2.0]), 2, (100,))


def test_naive_uses_the_last_value() -> None:
    forecast = Naive().fit(values_series([1.0, 5.0, 3.0])).predict(2, (80,))
    np.testing.assert_array_equal(forecast.mean, [3.0, 3.0])


def test_default_model_hedges_with_a_weekly_naive_when_two_weeks_fit() -> None:
    from forecasting.models import default_model
    from forecasting.seasonality import detect_seasonality

    long = daily_series(days=15)
    season = detect_seasonality(long.values, long.step)
    model = default_model(season, long.values, (24, 168))
    assert model.name == (
        "combo(seasonal-naive-24+seasonal-naive-168+mstl-ets-24-log+ets-damped-add-log)"
    )
    short = daily_series(days=10)
    model = default_model(season, short.values, (24, 168))
    assert "seasonal-naive-168" not in model.name
    noise = values_series(np.random.default_rng(0).normal(size=300))
    flat = detect_seasonality(noise.values, 3600.0)
    assert default_model(flat, noise.values, (24, 168)).name == "ets-nonseasonal"
