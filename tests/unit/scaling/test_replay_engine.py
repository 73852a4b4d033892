"""The replay engine on small synthetic traces whose answers can be reasoned out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecasting.replay import Plant, ReplayPolicy, replay
from forecasting.series import make_series

STEP = 60.0


def _series(values: np.ndarray) -> object:
    return make_series(np.arange(values.shape[0]) * STEP, values, step=STEP)


def test_constant_load_costs_exactly_the_pods_it_holds() -> None:
    values = np.full(180, 70.0)  # 3 hours; 70 units at 10 per pod and target 0.7 = 10 pods
    result = replay(
        make_series(np.arange(180) * STEP, values, step=STEP),
        Plant(capacity_per_pod=10.0, startup_seconds=120.0),
        ReplayPolicy("hpa", target=0.7),
    )
    assert result.under_provisioned_minutes == 0
    assert result.scale_events == 0
    assert result.replica_hours == pytest.approx(10 * 3.0)
    assert result.scored_minutes == pytest.approx(180)


def test_a_step_up_is_under_provisioned_for_lag_sync_and_startup() -> None:
    values = np.concatenate([np.full(60, 70.0), np.full(60, 140.0)])
    series = make_series(np.arange(120) * STEP, values, step=STEP)
    plant = Plant(capacity_per_pod=10.0, startup_seconds=120.0, metric_lag=60.0)
    result = replay(series, plant, ReplayPolicy("hpa", target=0.7))
    # The HPA sees the step 60 s late (the next 15 s sync), and pods take 120 s more.
    assert 2.5 <= result.under_provisioned_minutes <= 3.25
    oracle = replay(series, plant, ReplayPolicy("oracle", target=0.7))
    assert oracle.under_provisioned_minutes == 0
    assert oracle.replica_hours >= result.replica_hours


def test_gaps_are_skipped_not_scored_and_not_billed() -> None:
    values = np.full(240, 70.0)
    values[100:160] = np.nan
    series = make_series(np.arange(240) * STEP, values, step=STEP)
    result = replay(series, Plant(10.0, 60.0), ReplayPolicy("hpa", target=0.7))
    assert result.skipped_gap_minutes == pytest.approx(60)
    assert result.scored_minutes == pytest.approx(180)
    assert result.replica_hours == pytest.approx(10 * 3.0)
    assert result.under_provisioned_minutes == 0


def _daily_trace(days: int, seed: int, noise: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(days * 1440)
    # a sharp morning ramp each day: the HPA lags it, a forecaster can see it coming
    shape = 100 + 400 / (1 + np.exp(-((t % 1440) - 480) / 2.0))
    shape = np.where((t % 1440) > 1200, 100.0, shape)
    return shape * rng.lognormal(0.0, noise, t.shape[0])


def test_predictive_floor_beats_the_hpa_on_a_seasonal_ramp() -> None:
    values = _daily_trace(4, seed=7, noise=0.05)
    series = make_series(np.arange(values.shape[0]) * STEP, values, step=STEP)
    plant = Plant(capacity_per_pod=10.0, startup_seconds=300.0)
    warmup = 2 * 86_400.0
    hpa = replay(series, plant, ReplayPolicy("hpa", 0.7), warmup_seconds=warmup)
    predictive = replay(series, plant, ReplayPolicy("predictive", 0.7), warmup_seconds=warmup)
    oracle = replay(series, plant, ReplayPolicy("oracle", 0.7), warmup_seconds=warmup)
    assert hpa.under_provisioned_minutes > 0
    assert predictive.under_provisioned_minutes < 0.5 * hpa.under_provisioned_minutes
    assert oracle.under_provisioned_minutes <= predictive.under_provisioned_minutes
    assert predictive.reasons.get("Forecast", 0) > 0


def test_without_seasonality_the_predictive_policy_ties_the_hpa() -> None:
    rng = np.random.default_rng(11)
    values = 200 * rng.lognormal(0.0, 0.3, 4 * 1440)
    series = make_series(np.arange(values.shape[0]) * STEP, values, step=STEP)
    plant = Plant(capacity_per_pod=10.0, startup_seconds=120.0)
    warmup = 2 * 86_400.0
    hpa = replay(series, plant, ReplayPolicy("hpa", 0.7), warmup_seconds=warmup)
    predictive = replay(series, plant, ReplayPolicy("predictive", 0.7), warmup_seconds=warmup)
    assert predictive.under_provisioned_minutes == hpa.under_provisioned_minutes
    assert predictive.replica_hours == hpa.replica_hours
    assert set(predictive.reasons) <= {"LowConfidence", "NoForecast"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.array([1.0, -2.0, 3.0]), "negative"),
        (np.array([math.nan, math.nan, math.nan]), "no finite value"),
        (np.array([5.0]), "at least two"),
    ],
)
def test_bad_traces_are_rejected(values: np.ndarray, message: str) -> None:
    series = make_series(np.arange(values.shape[0]) * STEP, values, step=STEP)
    with pytest.raises(ValueError, match=message):
        replay(series, Plant(1.0, 60.0), ReplayPolicy("hpa"))


def test_bad_plant_and_policy_are_rejected() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Plant(0.0, 60.0)
    with pytest.raises(ValueError, match="start-up"):
        Plant(1.0, -1.0)
    with pytest.raises(ValueError, match="target"):
        ReplayPolicy("hpa", target=1.5)


@pytest.mark.parametrize("policy", ["predictive", "oracle"])
def test_a_loop_period_between_two_hpa_syncs_is_refused(policy: str) -> None:
    """The loop runs on the HPA's 15 s ticks: a 20 s period would use forecasts made for
    a later time than the tick it runs at. Whole numbers of syncs are fine."""
    values = np.full(60 * 24, 50.0)
    series = make_series(np.arange(values.shape[0]) * STEP, values, step=STEP)
    with pytest.raises(ValueError, match="whole number of HPA syncs"):
        replay(series, Plant(10.0, 60.0), ReplayPolicy(policy, loop_period=20.0))  # type: ignore[arg-type]
    result = replay(series, Plant(10.0, 60.0), ReplayPolicy(policy, loop_period=30.0))  # type: ignore[arg-type]
    assert result.under_provisioned_minutes == 0
