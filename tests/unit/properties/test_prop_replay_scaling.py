"""Property tests of the replay engine (``forecasting.replay``, behind ``autonomic
replay``) and the replica recommendation (``forecasting.scaling.recommend``).

For any load trace (zeros, gaps, 10^12 spikes, a single point, values near the float
maximum) and any settings within their documented ranges, a replay either refuses the
trace with a ``ValueError`` saying why (the CLI turns it into an input error) or returns
sane numbers: integer pod counts within [min, max], under-provisioned time within the
scored time, finite non-negative replica-hours. ``recommend`` never returns a NaN or
out-of-range replica count, whatever the forecast and the current load.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from forecasting.forecast import Forecast
from forecasting.profile import MAX_VALUE, ProfileSettings
from forecasting.replay import (
    Plant,
    ReplayPolicy,
    ReplayResult,
    forecast_path,
    oracle_path,
    replay,
)
from forecasting.scaling import (
    ScalingRecommendation,
    ScalingSettings,
    WorkloadNow,
    horizon_steps,
    lead_time,
    recommend,
)
from forecasting.series import FloatArray, Series, make_series
from tests.unit.properties.traces import load_values, small_values

_FLOOR_REASONS = {
    "NoCurrentLoad",
    "NoForecast",
    "LowConfidence",
    "NoInterval",
    "EmptyForecast",
    "ForecastTooShort",
    "NonFiniteForecast",
    "NegativeForecast",
    "WideInterval",
    "Forecast",
    "ScaleUpLimit",
    "ScaleInLimit",
    "CurrentLoad",
    "AtMaximum",
    "AtMinimum",
}
# a short profile period, so that a few hours of trace can reach a seasonal fit
_PROFILE = ProfileSettings(period_seconds=4 * 3600.0)


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )


@st.composite
def _traces(draw: st.DrawFn) -> Series:
    """At most a day of samples, one to a few hundred of them."""
    step = draw(st.sampled_from([15.0, 60.0, 300.0]))
    slots = round(86_400.0 / step)
    values = draw(
        st.one_of(
            load_values(min_size=1, max_size=min(slots, 720), period=round(14_400.0 / step)),
            small_values(min_size=1, max_size=30),
        )
    )
    start = draw(st.integers(min_value=0, max_value=4 * 10**9))
    return make_series(start + step * np.arange(values.shape[0]), values, step=step)


_PLANTS = st.builds(
    Plant,
    capacity_per_pod=st.one_of(
        st.floats(min_value=0.02, max_value=1e4), st.sampled_from([0.02, 1.0, 1e6])
    ),
    startup_seconds=st.floats(min_value=0.0, max_value=600.0),
    metric_lag=st.sampled_from([0.0, 15.0, 60.0, 120.0, 300.0]),
)


@st.composite
def _policies(draw: st.DrawFn) -> ReplayPolicy:
    min_replicas = draw(st.integers(min_value=0, max_value=5))
    return ReplayPolicy(
        kind=draw(st.sampled_from(["hpa", "predictive", "oracle"])),
        target=draw(st.floats(min_value=0.1, max_value=1.0)),
        margin=draw(st.floats(min_value=-0.5, max_value=1.0)),
        level=draw(st.sampled_from([50, 80, 95])),
        # whole numbers of the 15 s sync: the replay rounds the loop to whole syncs but
        # builds its forecast path on the exact period, so 20 s would misalign the two
        loop_period=draw(st.sampled_from([15.0, 30.0, 60.0, 120.0])),
        refit_seconds=draw(st.sampled_from([900.0, 3600.0])),
        min_replicas=min_replicas,
        max_replicas=min_replicas + draw(st.integers(min_value=1, max_value=60)),
        scale_in_fraction=draw(st.floats(min_value=0.0, max_value=1.0)),
    )


def _refusal(series: Series) -> str | None:
    """The documented reasons a trace cannot be replayed (``None``: it can)."""
    finite = series.values[np.isfinite(series.values)]
    if len(series) < 2:
        return "at least two samples"
    if finite.shape[0] == 0:
        return "no finite value"
    if np.any(finite < 0):
        return "negative load"
    if np.any(finite > MAX_VALUE):
        return "which no real load reaches"
    return None


def _check_result(result: ReplayResult, series: Series, plant: Plant, policy: ReplayPolicy) -> None:
    trace_minutes = len(series) * series.step / 60.0
    numbers = (
        result.under_provisioned_minutes,
        result.under_provisioned_fraction,
        result.replica_hours,
        result.scored_minutes,
        result.skipped_gap_minutes,
        result.floor_binding_fraction,
    )
    assert all(isinstance(x, float) and math.isfinite(x) for x in numbers), numbers
    assert 0.0 <= result.under_provisioned_minutes <= result.scored_minutes
    assert result.scored_minutes + result.skipped_gap_minutes <= trace_minutes + 1e-9
    assert 0.0 <= result.under_provisioned_fraction <= 1.0
    assert 0.0 <= result.floor_binding_fraction <= 1.0
    assert isinstance(result.scale_events, int) and result.scale_events >= 0
    # every pod that exists is billed, and there are never more than max_replicas
    assert 0.0 <= result.replica_hours <= policy.max_replicas * result.scored_minutes / 60 + 1e-9
    assert result.policy == policy.kind
    assert all(isinstance(n, int) and n > 0 for n in result.reasons.values())
    if policy.kind == "hpa":
        assert result.reasons == {}  # the HPA alone publishes no floor: no floor decisions
    else:
        assert set(result.reasons) <= _FLOOR_REASONS, result.reasons
    timeline = result.timeline
    assert timeline is not None
    assert timeline.pods.dtype == np.int64 and timeline.ready.dtype == np.int64
    assert np.all(timeline.pods >= policy.min_replicas)
    assert np.all(timeline.pods <= policy.max_replicas)
    assert np.all((timeline.ready >= 0) & (timeline.ready <= timeline.pods))
    under = float(timeline.under_ticks.sum()) * timeline.tick_seconds / 60.0
    assert under == pytest.approx(result.under_provisioned_minutes)
    known = timeline.load_pods[~np.isnan(timeline.load_pods)]
    assert np.all(np.isfinite(known)) and np.all(known >= 0)


@_settings(150)
@given(
    series=_traces(),
    plant=_PLANTS,
    policy=_policies(),
    warmup=st.sampled_from([0.0, 600.0, 3600.0]),
)
@example(  # a single point
    series=make_series([0.0], [5.0], step=60.0),
    plant=Plant(10.0, 60.0),
    policy=ReplayPolicy("predictive"),
    warmup=0.0,
)
@example(  # a 10^12 spike in a flat trace, clamped at max_replicas
    series=make_series(
        60.0 * np.arange(120, dtype=np.float64), np.r_[np.full(60, 50.0), 1e12, np.full(59, 50.0)]
    ),
    plant=Plant(10.0, 60.0),
    policy=ReplayPolicy("oracle", max_replicas=20),
    warmup=0.0,
)
def test_a_replay_refuses_clearly_or_returns_sane_numbers(
    series: Series, plant: Plant, policy: ReplayPolicy, warmup: float
) -> None:
    reason = _refusal(series)
    event(f"{policy.kind}: " + ("refused" if reason else "replayed"))
    if reason is not None:
        with pytest.raises(ValueError, match=reason):
            replay(series, plant, policy, warmup_seconds=warmup, profile_settings=_PROFILE)
        return
    result = replay(
        series, plant, policy, warmup_seconds=warmup, profile_settings=_PROFILE, timeline=True
    )
    _check_result(result, series, plant, policy)
    # the timeline is a view of the same run: asking for it changes no number
    plain = replay(series, plant, policy, warmup_seconds=warmup, profile_settings=_PROFILE)
    assert plain.as_dict() == result.as_dict()


def _check_recommendation(
    rec: ScalingRecommendation, rules: ScalingSettings, load: float, current: int
) -> None:
    for value in (rec.replicas, rec.floor):
        if value is not None:
            assert isinstance(value, int)
            assert rules.min_replicas <= value <= rules.max_replicas, rec
    assert isinstance(rec.current_need, int)
    assert rec.mode in ("predictive", "reactive", "hold")
    assert rec.reason and rec.message
    if rec.mode == "hold":
        # no usable load: nothing new, the previous floor (if any) stays
        assert not (math.isfinite(load) and load >= 0)
        assert rec.reason == "NoCurrentLoad" and rec.current_need == max(current, 0)
    else:
        assert rules.min_replicas <= rec.current_need <= rules.max_replicas
        assert rec.replicas >= rec.current_need
    if rec.mode == "predictive":
        assert rec.floor is not None and rec.floor >= rec.current_need
        assert rec.forecast_peak is not None and math.isfinite(rec.forecast_peak)
        assert rec.forecast_peak >= 0
    elif rec.mode == "reactive":
        assert rec.floor is None


@_settings(80)
@given(
    series=_traces(),
    lag=st.sampled_from([0.0, 60.0, 120.0]),
    startup=st.floats(min_value=0.0, max_value=600.0),
    capacity=st.floats(min_value=1e-3, max_value=1e6),
    level=st.sampled_from([50, 80, 95]),
    span=st.integers(min_value=0, max_value=200),
    min_replicas=st.integers(min_value=0, max_value=10),
    margin=st.floats(min_value=-0.5, max_value=2.0),
    replicas=st.lists(st.integers(min_value=-1, max_value=5_000), min_size=1, max_size=5),
    oracle=st.booleans(),
)
def test_recommend_along_a_trace_is_always_a_sane_integer(
    series: Series,
    lag: float,
    startup: float,
    capacity: float,
    level: int,
    span: int,
    min_replicas: int,
    margin: float,
    replicas: list[int],
    oracle: bool,
) -> None:
    """The daemon's loop over real forecasts of any trace, each decision fed the last."""
    loop = 60.0
    lead = lead_time(startup, loop, lag)
    rules = ScalingSettings(
        capacity_per_pod=capacity,
        lead_seconds=lead,
        min_replicas=min_replicas,
        max_replicas=max(1, min_replicas + span),
        level=level,
        margin=margin,
    )
    horizon = horizon_steps(lead, series.step)
    if oracle:
        path = oracle_path(series, horizon=horizon, loop_period=loop, metric_lag=lag, level=level)
    else:
        path = forecast_path(
            series,
            horizon=horizon,
            loop_period=loop,
            metric_lag=lag,
            level=level,
            settings=_PROFILE,
        )
    previous: ScalingRecommendation | None = None
    for d, forecast in enumerate(path.forecasts):
        now = series.start + d * loop
        slot = min(math.floor((now - lag - series.start) / series.step), len(series) - 1)
        load = float(series.values[slot]) if slot >= 0 else math.nan
        current = replicas[d % len(replicas)]
        rec = recommend(forecast, WorkloadNow(now, current, load, previous), rules)
        _check_recommendation(rec, rules, load, current)
        if forecast is None or forecast.fallback_reason is not None:
            assert rec.mode != "predictive"
        previous = rec


_ARRAYS = st.one_of(
    small_values(max_size=6),
    st.lists(st.sampled_from([0.0, 1.0, 1e12, -1.0, math.nan, math.inf]), max_size=6).map(
        lambda xs: np.asarray(xs, dtype=np.float64)
    ),
)


@_settings(200)
@given(
    timestamps=_ARRAYS,
    mean=_ARRAYS,
    upper=_ARRAYS,
    fallback=st.sampled_from([None, "", "NoSeasonality: noise"]),
    level=st.sampled_from([80, 95]),
    load=st.one_of(st.floats(), st.sampled_from([0.0, 1e12, 1e300, -0.0])),
    current=st.integers(min_value=-5, max_value=10**6),
    capacity=st.one_of(st.floats(min_value=1e-300, max_value=1e300), st.just(5e-324)),
    lead=st.floats(min_value=1e-3, max_value=1e6),
    with_previous=st.booleans(),
)
@example(  # forecast steps 5e-324 s apart: lead / step was +inf, math.ceil raised
    timestamps=np.array([0.0, 5e-324]),
    mean=np.array([1.0, 1.0]),
    upper=np.array([2.0, 2.0]),
    fallback=None,
    level=80,
    load=5.0,
    current=3,
    capacity=1.0,
    lead=180.0,
    with_previous=False,
)
@example(  # infinite timestamps: numpy warned "invalid value" on inf - inf
    timestamps=np.array([math.inf, math.inf]),
    mean=np.array([0.0, 0.0]),
    upper=np.array([0.0, 0.0]),
    fallback=None,
    level=80,
    load=0.0,
    current=0,
    capacity=1.0,
    lead=1.0,
    with_previous=False,
)
def test_recommend_on_any_forecast_object_is_a_sane_integer(
    timestamps: FloatArray,
    mean: FloatArray,
    upper: FloatArray,
    fallback: str | None,
    level: int,
    load: float,
    current: int,
    capacity: float,
    lead: float,
    with_previous: bool,
) -> None:
    """Forecasts that no model of ours makes (mismatched lengths excepted): NaN, +/-Inf,
    negative, upper below the mean, timestamps out of order or a denormal apart."""
    n = min(timestamps.shape[0], mean.shape[0], upper.shape[0])
    forecast = Forecast(
        timestamps[:n], mean[:n], {level: (np.zeros(n), upper[:n])}, "m", "1", fallback
    )
    rules = ScalingSettings(capacity_per_pod=capacity, lead_seconds=lead, max_replicas=50)
    previous = None
    if with_previous:
        previous = recommend(forecast, WorkloadNow(0.0, current, 1.0), rules)
        _check_recommendation(previous, rules, 1.0, current)
    rec = recommend(forecast, WorkloadNow(60.0, current, load, previous), rules)
    _check_recommendation(rec, rules, load, current)


# --- deterministic regressions --------------------------------------------------------


def test_regression_horizon_steps_of_a_denormal_step_is_finite() -> None:
    # math.ceil(180 / 5e-324) was math.ceil(inf): OverflowError inside recommend()
    assert horizon_steps(180.0, 5e-324) == 10**18
    assert horizon_steps(180.0, 60.0) == 3


@pytest.mark.parametrize(
    ("values", "plant", "match"),
    [
        ([1e300, 1e300], Plant(10.0, 60.0), "which no real load reaches"),
        ([1.7976931348623157e308] * 3, Plant(10.0, 60.0), "which no real load reaches"),
        ([1e12, 1e12], Plant(1e-300, 0.0), "below one milli-unit"),
    ],
    ids=["1e300 load", "float max load", "denormal capacity"],
)
def test_regression_absurd_loads_and_capacities_are_value_errors(
    values: list[float], plant: Plant, match: str
) -> None:
    # Found probing the property's edges: math.ceil(load / (target x capacity)) of +inf
    # raised OverflowError, and so did the HPA's milli-units of a load near the float
    # maximum; the denormal capacity now fails before the run, not at the first sync.
    series = make_series(60.0 * np.arange(len(values), dtype=np.float64), values, step=60.0)
    for kind in ("hpa", "predictive", "oracle"):
        with pytest.raises(ValueError, match=match):
            replay(series, plant, ReplayPolicy(kind))


@pytest.mark.parametrize(
    ("timestamps", "plant", "kind", "match"),
    [
        ([0.0, 1e12], Plant(10.0, 60.0), "hpa", "HPA syncs"),
        ([0.0, 1e-310], Plant(10.0, 60.0), "predictive", "can be forecast"),
        ([0.0, 60.0], Plant(10.0, 60.0, metric_lag=1e300), "oracle", "can be forecast"),
    ],
    ids=["a step of 1e12 s", "a denormal step", "a lag of 1e300 s"],
)
def test_regression_a_replay_too_big_to_run_is_a_value_error(
    timestamps: list[float], plant: Plant, kind: str, match: str
) -> None:
    # Found probing the property's edges: np.zeros(1.3e11 ticks) raised MemoryError,
    # horizon_steps(180, 1e-310) raised OverflowError, and a 10^18-step horizon would
    # have forecast (and allocated) that many steps at each decision.
    series = make_series(timestamps, [1.0] * len(timestamps))
    with pytest.raises(ValueError, match=match):
        replay(series, plant, ReplayPolicy(kind))  # type: ignore[arg-type]
