"""The fleet-pooled forecaster: learnt across series, guarded, and backtested out of sample."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecasting.baselines import ModelError, SeasonalNaive
from forecasting.models import ForecastError, fit_forecast
from forecasting.pooled import (
    PooledLinear,
    choose_with_pool,
    fit_pool,
    select_with_pool,
)
from forecasting.series import Series, make_series

WEEK = 168


def _shape(hours: np.ndarray) -> np.ndarray:
    """A shared weekly load shape: a daily cycle, quieter weekends."""
    day = 1.0 + 0.6 * np.sin(2 * np.pi * hours / 24.0)
    weekend = np.where((hours // 24) % 7 >= 5, 0.6, 1.0)
    return day * weekend


def _fleet(count: int, size: int, seed: int, noise: float = 0.0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        scale = rng.uniform(5, 5000)
        offset = int(rng.integers(0, WEEK))
        hours = np.arange(size) + offset
        wobble = np.exp(rng.normal(0, noise, size)) if noise else 1.0
        out.append(scale * _shape(hours) * wobble)
    return out


def _series(values: np.ndarray) -> Series:
    return make_series(np.arange(values.size) * 3600.0, values, step=3600.0)


def test_pool_learns_the_shared_shape_and_forecasts_an_unseen_series() -> None:
    weights = fit_pool(_fleet(12, 700, seed=1), 48, 336, WEEK)
    assert (weights.series, weights.skipped, weights.holdout) == (12, 0, 0)
    scale, offset = 40.0, 17
    hours = np.arange(800) + offset
    unseen = scale * _shape(hours)
    # End the history on a Thursday night, so the 48 steps ahead are Friday and Saturday.
    end = next(t for t in range(600, 800) if (t + offset) % WEEK == 4 * 24)
    train, actual = unseen[:end], unseen[end : end + 48]
    forecast = PooledLinear(weights).fit(_series(train)).predict(48, ()).mean
    relative = np.abs(forecast - actual) / actual
    assert relative.max() < 0.02
    # The daily repeat misses the weekend change; the pool, which saw weekends, does not.
    naive = SeasonalNaive(24).fit(_series(train)).predict(48, ()).mean
    assert np.abs(forecast - actual).mean() < 0.2 * np.abs(naive - actual).mean()


def test_forecast_scales_with_the_series() -> None:
    model = PooledLinear(fit_pool(_fleet(6, 600, seed=2, noise=0.1), 24, 168, WEEK))
    base = _fleet(1, 500, seed=3, noise=0.1)[0]
    small = model.fit(_series(base)).predict(24, ()).mean
    large = model.fit(_series(base * 1000.0)).predict(24, ()).mean
    np.testing.assert_allclose(large, small * 1000.0, rtol=1e-9)


def test_holdout_is_the_same_as_fitting_on_shortened_series() -> None:
    fleet = _fleet(5, 500, seed=4, noise=0.2)
    held = fit_pool(fleet, 24, 168, WEEK, holdout=72)
    cut = fit_pool([v[:-72] for v in fleet], 24, 168, WEEK)
    np.testing.assert_array_equal(held.coef, cut.coef)
    assert held.holdout == 72 and cut.holdout == 0


def test_short_history_is_padded_with_its_oldest_cycle() -> None:
    model = PooledLinear(fit_pool(_fleet(8, 700, seed=5), 24, 504, WEEK))
    short = _fleet(1, 200, seed=6)[0]  # shorter than the 504 lags
    forecast = model.fit(_series(short[:176])).predict(24, ()).mean
    assert np.all(np.isfinite(forecast))
    assert np.abs(forecast - short[176:]).max() / short.max() < 0.1


def test_non_positive_and_short_series_are_skipped_and_counted() -> None:
    fleet = _fleet(4, 400, seed=7)
    with_zero = fleet[0].copy()
    with_zero[10] = 0.0
    weights = fit_pool([*fleet, with_zero, np.ones(50)], 24, 168, WEEK)
    assert (weights.series, weights.skipped) == (4, 2)
    with pytest.raises(ModelError, match="positive series"):
        PooledLinear(weights).fit(_series(with_zero))


def test_guards_name_the_problem() -> None:
    with pytest.raises(ModelError, match="no series gave a training window"):
        fit_pool([np.zeros(500), np.ones(10)], 24, 168, WEEK)
    with pytest.raises(ValueError, match="lags must be at least 1"):
        fit_pool(_fleet(2, 400, seed=8), 24, 0, WEEK)
    with pytest.raises(ValueError, match="holdout must be >= 0"):
        fit_pool(_fleet(2, 400, seed=8), 24, 168, WEEK, holdout=-1)
    with pytest.raises(ValueError, match="level_window"):
        fit_pool(_fleet(2, 400, seed=8), 24, 12, WEEK)
    model = PooledLinear(fit_pool(_fleet(3, 400, seed=9), 24, 168, WEEK))
    with pytest.raises(ModelError, match="fitted for 24 steps, asked for 48"):
        model.fit(_series(_fleet(1, 300, seed=10)[0])).predict(48, ())


def test_fit_forecast_falls_back_with_a_reason_when_the_pool_cannot_serve() -> None:
    model = PooledLinear(fit_pool(_fleet(3, 400, seed=11), 24, 168, WEEK))
    values = _fleet(1, 400, seed=12)[0]
    values -= 0.8 * values.mean()  # dips below zero (a net flow): the log model cannot take it
    forecast = fit_forecast(_series(values), 24, (80, 95), model=model)
    assert forecast.fallback_reason is not None and "positive series" in forecast.fallback_reason
    assert not forecast.model.startswith("pooled")
    assert np.all(np.isfinite(forecast.mean))


def test_a_backtest_pool_that_saw_the_test_folds_is_refused() -> None:
    fleet = _fleet(4, 500, seed=13)
    live = PooledLinear(fit_pool(fleet, 24, 168, WEEK))
    leaky = PooledLinear(fit_pool(fleet, 24, 168, WEEK, holdout=24))
    with pytest.raises(ValueError, match="needs 72 held out"):
        choose_with_pool(_series(fleet[0]), live, leaky, 24, folds=3)


def test_selection_picks_the_pool_where_it_wins_and_serves_the_live_weights() -> None:
    # Noisy series with a shared shape: each series alone is a poor guide to its own
    # next day, the fleet together is a good one.
    fleet = [_series(v) for v in _fleet(16, 600, seed=14, noise=0.25)]
    choices, live, held = select_with_pool(fleet, 24, 168, WEEK, folds=3)
    assert held.holdout == 72 and live.holdout == 0
    pooled = [c for c in choices if c.pooled]
    assert len(pooled) >= 12
    for choice in pooled:
        weights = [choice.model, *getattr(choice.model, "members", ())]
        served = [m.weights for m in weights if isinstance(m, PooledLinear)]
        assert served == [live]
        assert "pooled" in choice.selection.reason


def test_a_few_gaps_are_bridged_and_many_gaps_leave_the_series_out() -> None:
    fleet = _fleet(4, 400, seed=15)
    few, many = fleet[0].copy(), fleet[1].copy()
    few[[10, 11, 200]] = np.nan
    many[::5] = np.nan  # a fifth missing
    weights = fit_pool([few, many, *fleet[2:]], 24, 168, WEEK)
    assert (weights.series, weights.skipped) == (3, 1)
    assert np.all(np.isfinite(weights.coef))


_value = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.floats(min_value=0.5, max_value=1e6),
    st.just(math.nan),
    st.just(0.0),
    st.just(1e12),
)
_POOL = PooledLinear(fit_pool(_fleet(6, 500, seed=16, noise=0.2), 12, 168, WEEK))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(_value, min_size=1, max_size=400), horizon=st.integers(1, 12))
def test_the_pooled_model_never_yields_nan_or_a_crash(values: list[float], horizon: int) -> None:
    """Any history (gaps, zeros, negatives, a 10^12 spike, one point): a finite forecast,
    from the pool or from a fallback that says why, or a clear ForecastError."""
    series = make_series(np.arange(len(values)) * 3600.0, values, step=3600.0)
    try:
        forecast = fit_forecast(series, horizon, (80, 95), model=_POOL)
    except ForecastError as exc:
        assert "every sample is missing" in str(exc)
        return
    for array in (forecast.mean, *forecast.intervals[80], *forecast.intervals[95]):
        assert array.shape == (horizon,) and np.all(np.isfinite(array))
    if not forecast.model.startswith("pooled"):
        assert forecast.fallback_reason


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.lists(_value, min_size=0, max_size=300), min_size=1, max_size=5))
def test_fit_pool_takes_any_fleet_or_says_why(values: list[list[float]]) -> None:
    histories = [np.asarray(v, dtype=np.float64) for v in values]
    try:
        weights = fit_pool(histories, 12, 168, WEEK)
    except ModelError as exc:
        assert "no series gave a training window" in str(exc)
        return
    assert weights.series + weights.skipped == len(histories)
    assert np.all(np.isfinite(weights.coef))
