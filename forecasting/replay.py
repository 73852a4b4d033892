"""Replay a load trace against a simulated Deployment scaled by the HPA, the
predictive floor, or an oracle floor.

The plant (BENCHMARKS.md section 3): each pod serves ``capacity_per_pod`` load units
per trace step and becomes ready ``startup_seconds`` after it is created; deleted pods
stop serving at once (newest first, which is also unready first). The load is held
constant within each trace step. Time advances in 15 s ticks, the HPA sync period.
The HPA sees the load one ``metric_lag`` old, spread over the pods that were ready
then (``forecasting.hpa`` does the rest).

Policies:

- ``hpa``: the HPA alone, target average value ``target x capacity`` per pod;
- ``predictive``: the same HPA, plus the daemon's loop every ``loop_period`` raising
  ``minReplicas`` to ``forecasting.scaling.recommend``'s floor, from a forecaster
  that sees only the samples the HPA can see (``forecasting.profile``: refit every
  ``refit_seconds``, re-anchored every loop);
- ``oracle``: the same floor computed from the true future load (an upper bound on
  what any forecaster could achieve through this mechanism).

Measures, over the scored part (after ``warmup_seconds``, outside gaps):
under-provisioned time (load above ready capacity), replica-hours of every pod that
exists (starting ones included), and scale events (reconciles that changed replicas).
``replay(..., timeline=True)`` also returns what happened over time (``ReplayTimeline``,
one row per minute of the trace, for plots); it is off by default.

Gaps (NaN in the trace) mean the load is unknown, so the replay *skips* them: the
metric pipeline has nothing, so the HPA holds (``FailedGetMetrics``) and the
predictive floor holds; gap time is neither scored nor billed. Treating a gap as
zero load instead would make every policy scale to the minimum and then be scored on
an artificial cold start when data resumes.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from forecasting.cleaning import mask_not_demand
from forecasting.drift import DriftBand
from forecasting.forecast import Forecast
from forecasting.hpa import HpaController, HpaSpec, MetricObservation
from forecasting.lifecycle import (
    BREACH_LEVEL,
    DRIFT_EVERY,
    GlitchWatch,
    OutageWatch,
    OutcomeRing,
    check_drift,
    distrust,
    implausible,
    refit,
)
from forecasting.profile import (
    MAX_VALUE,
    FittedProfile,
    ProfileSettings,
    SeasonalProfile,
    fit_profile,
)
from forecasting.scaling import (
    ScalingRecommendation,
    ScalingSettings,
    WorkloadNow,
    ease_reactive,
    horizon_steps,
    lead_time,
    recommend,
    untrusted,
)
from forecasting.series import FloatArray, Series

IntArray = npt.NDArray[np.int64]

__all__ = [
    "FloorHook",
    "ForecastPath",
    "Plant",
    "ReplayPolicy",
    "ReplayResult",
    "ReplayTimeline",
    "forecast_path",
    "oracle_path",
    "replay",
]

PolicyKind = Literal["hpa", "predictive", "oracle"]
# Called at each loop decision of a predictive or oracle replay, after the forecast's
# rules, with (now, this decision, the previous one, the sizing rules): what it returns
# is the decision (e.g. a scheduled floor raised on top, as the scaling loop does).
FloorHook = Callable[
    [float, ScalingRecommendation, ScalingRecommendation | None, ScalingSettings],
    ScalingRecommendation,
]
SYNC_SECONDS = 15.0
# Bounds on the work one replay may take (a ten-year trace, a 100,000-step forecast):
# beyond them a mistaken step or lag would exhaust memory or run for days.
_MAX_TICKS = 20_000_000
_MAX_HORIZON = 100_000


@dataclass(frozen=True)
class Plant:
    """The simulated Deployment and its metrics pipeline."""

    capacity_per_pod: float
    startup_seconds: float
    metric_lag: float = 60.0
    sync_seconds: float = SYNC_SECONDS

    def __post_init__(self) -> None:
        if not (math.isfinite(self.capacity_per_pod) and self.capacity_per_pod > 0):
            raise ValueError(f"capacity per pod must be positive, got {self.capacity_per_pod!r}")
        if not (math.isfinite(self.startup_seconds) and self.startup_seconds >= 0):
            raise ValueError(f"start-up must be >= 0 seconds, got {self.startup_seconds!r}")
        if not (self.metric_lag >= 0 and self.sync_seconds > 0):
            raise ValueError("metric_lag must be >= 0 and sync_seconds > 0")


@dataclass(frozen=True)
class ReplayPolicy:
    """Which scaler runs, and its knobs.

    ``daemon_rules`` runs the scaling loop's rules around the floor too: the model
    lifecycle (``forecast_path(lifecycle=True)``: refits contested, a model off its drift
    band untrusted and the workload reactive meanwhile, glitches and an outage's zeros
    fitted as gaps and not scored as misses, the floor held on a glitch) and a floor that
    comes down slowly when the workload turns reactive
    (``forecasting.scaling.ease_reactive``).
    Without it every refit goes live and a reactive workload's floor drops at once.
    """

    kind: PolicyKind = "hpa"
    target: float = 0.7
    margin: float = 0.0
    level: int = 80
    loop_period: float = 60.0
    refit_seconds: float = 3_600.0
    min_replicas: int = 1
    max_replicas: int = 10_000
    scale_in_fraction: float = 0.1
    daemon_rules: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.refit_seconds) and self.refit_seconds > 0):
            raise ValueError(f"refit_seconds must be positive, got {self.refit_seconds!r}")
        if self.kind not in ("hpa", "predictive", "oracle"):
            raise ValueError(f"policy must be hpa, predictive or oracle, got {self.kind!r}")
        if not 0 < self.target <= 1:
            raise ValueError(f"target utilisation must be in (0, 1], got {self.target!r}")
        if not self.loop_period > 0:
            raise ValueError("loop_period must be positive")


@dataclass(frozen=True, eq=False)
class ReplayTimeline:
    """What happened over the whole trace (warm-up included), one row per bucket.

    A bucket is ``resolution_seconds`` long (a minute: four 15 s ticks) and starts at
    ``times[i]``. Within a bucket ``load_pods`` is the highest load expressed in pods
    needed at 100 % use (load / capacity per pod; NaN where the load is unknown),
    ``ready`` the fewest ready pods and ``pods`` the most pods (starting ones included),
    so a bucket's worst moment is what it shows. ``under_ticks`` counts the scored ticks
    in the bucket that were under-provisioned: ``under_ticks.sum() * tick_seconds / 60``
    is the result's ``under_provisioned_minutes``. ``billed_pod_ticks`` sums, over the
    scored ticks of the bucket, the pods that existed: ``billed_pod_ticks.sum() *
    tick_seconds / 3600`` is the result's ``replica_hours``; ``scored_ticks`` counts the
    bucket's scored ticks. So a window of the trace can be scored from the timeline alone.
    """

    times: FloatArray
    load_pods: FloatArray
    ready: IntArray
    pods: IntArray
    under_ticks: IntArray
    resolution_seconds: float
    tick_seconds: float
    billed_pod_ticks: IntArray | None = None
    scored_ticks: IntArray | None = None

    def __len__(self) -> int:
        return int(self.times.shape[0])


@dataclass(frozen=True)
class ReplayResult:
    """The outcome of one replay (``timeline`` only when asked for; never in ``as_dict``)."""

    policy: str
    under_provisioned_minutes: float
    under_provisioned_fraction: float
    replica_hours: float
    scale_events: int
    scored_minutes: float
    skipped_gap_minutes: float
    floor_binding_fraction: float
    reasons: dict[str, int] = field(default_factory=dict)
    timeline: ReplayTimeline | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, object]:
        return {
            "policy": self.policy,
            "under_provisioned_minutes": self.under_provisioned_minutes,
            "under_provisioned_fraction": self.under_provisioned_fraction,
            "replica_hours": self.replica_hours,
            "scale_events": self.scale_events,
            "scored_minutes": self.scored_minutes,
            "skipped_gap_minutes": self.skipped_gap_minutes,
            "floor_binding_fraction": self.floor_binding_fraction,
            "reasons": dict(self.reasons),
        }


@dataclass(frozen=True, eq=False)
class ForecastPath:
    """One forecast per daemon decision (``None`` before any data is visible).

    It depends on the trace, the loop period and the metric lag only, not on the
    target or margin, so one path serves a whole sweep. ``untrusted`` (built with the
    daemon's model lifecycle only) says, per decision, why the live model was not
    trusted then (its recent forecasts off its band), or None; ``held`` (likewise) why
    the loop held its floor then (a newest sample that looks like a glitch,
    ``forecasting.lifecycle.implausible``), or None.
    """

    loop_period: float
    metric_lag: float
    forecasts: tuple[Forecast | None, ...]
    untrusted: tuple[str | None, ...] | None = None
    held: tuple[str | None, ...] | None = None


def _slot(t: float, start: float, step: float) -> int:
    return math.floor((t - start) / step + 1e-9)


def _decision_times(series: Series, loop_period: float) -> FloatArray:
    span = series.end + series.step - series.start
    count = math.ceil(span / loop_period)
    return series.start + loop_period * np.arange(count, dtype=np.float64)


def forecast_path(
    series: Series,
    *,
    horizon: int,
    loop_period: float = 60.0,
    metric_lag: float = 60.0,
    refit_seconds: float = 3_600.0,
    level: int = 80,
    settings: ProfileSettings | None = None,
    lifecycle: bool = False,
    capacity: float = 0.0,
) -> ForecastPath:
    """Forecasts the daemon would have made at each loop, seeing only the past.

    At decision time ``t`` the newest visible sample is the slot holding
    ``t - metric_lag`` (what the HPA also sees). The profile is refitted every
    ``refit_seconds`` on the visible history and re-anchored on every new sample.

    With ``lifecycle`` the refits follow the scaling loop's rules
    (``forecasting.lifecycle``): a scheduled refit is a contest on the last hour that
    the new fit must win to go live, the live model's one-step forecasts are held to
    its drift band every ``DRIFT_EVERY`` decisions, a model off its band is untrusted
    (``ForecastPath.untrusted``) and refitted at the next decision, and while the newest
    visible sample is missing the daemon holds (no refit, nothing new). What is not
    demand is handled as the loop does, by the same functions: a refit fits glitches and
    an outage's zeros as gaps (``forecasting.cleaning.mask_not_demand``) and a new model
    is re-anchored on the newest points as read; the drift check leaves out an outage's
    zeros and the forecasts anchored on them (``OutageWatch``) and a glitch's outcome
    (``GlitchWatch``); and a newest sample that looks like a glitch holds the floor
    until it has lasted ``SPIKE_CYCLES`` samples (``ForecastPath.held``). ``capacity``
    is one pod's load, the least "typical" load of that glitch test (0: the last half
    hour's median alone). Without ``lifecycle``, every refit goes live on the history as
    it is (the benchmarks' figures before session 20).
    """
    settings = settings or ProfileSettings()
    if horizon > settings.max_horizon:
        settings = replace(settings, max_horizon=horizon)
    if lifecycle:
        return _lifecycle_path(
            series, horizon, loop_period, metric_lag, refit_seconds, level, settings, capacity
        )
    values = series.values
    step = series.step
    period = max(2, round(settings.period_seconds / step))
    history = int(settings.history_periods * period)
    level_slots = max(1, round(settings.level_window_seconds / step))
    fitted: FittedProfile | None = None
    fitted_at = -math.inf
    last_j = -1
    current: Forecast | None = None
    out: list[Forecast | None] = []
    for t in _decision_times(series, loop_period):
        j = min(_slot(float(t) - metric_lag, series.start, step), len(series) - 1)
        if j < 0:
            out.append(None)
            continue
        if fitted is None or t - fitted_at >= refit_seconds:
            lo = max(0, j + 1 - history)
            fitted = fit_profile(values[lo : j + 1], float(series.timestamps[j]), step, settings)
            fitted_at = float(t)
            last_j = -1
        if j != last_j:
            lo = max(0, j + 1 - level_slots)
            fitted = fitted.advance(values[lo : j + 1], float(series.timestamps[j]))
            current = fitted.predict(horizon, (level,))
            last_j = j
        out.append(current)
    return ForecastPath(loop_period, metric_lag, tuple(out))


def _lifecycle_path(
    series: Series,
    horizon: int,
    loop_period: float,
    metric_lag: float,
    refit_seconds: float,
    level: int,
    settings: ProfileSettings,
    capacity: float,
) -> ForecastPath:
    """``forecast_path`` with the scaling loop's model lifecycle (see there), step by
    step as ``agent.loops.scaling`` takes one cycle: refit or re-anchor, check the drift
    band, keep last cycle's one-step outcome, forecast, and test for a glitch."""
    values = series.values
    stamps = series.timestamps
    step = series.step
    forecaster = SeasonalProfile(settings)
    period = max(2, round(settings.period_seconds / step))
    history = int(settings.history_periods * period)
    level_slots = max(1, round(settings.level_window_seconds / step))
    levels = tuple(sorted({level, BREACH_LEVEL}))
    fitted: FittedProfile | None = None
    evaluated_at = -math.inf
    band: DriftBand | None = None
    ring = OutcomeRing()
    zeros = OutageWatch()
    glitch = GlitchWatch()
    drifted = False
    poor: str | None = None
    hold: str | None = None
    version = 0
    expect: tuple[float, float, float, float] | None = None
    last_j = -1
    current: Forecast | None = None
    out: list[Forecast | None] = []
    untrusted: list[str | None] = []
    held: list[str | None] = []
    for d, t in enumerate(_decision_times(series, loop_period)):
        j = min(_slot(float(t) - metric_lag, series.start, step), len(series) - 1)
        if j < 0 or (j != last_j and not math.isfinite(values[j])):
            # nothing visible yet, or the newest sample is missing: the loop holds
            out.append(current)
            untrusted.append(poor)
            held.append(hold)
            continue
        if j != last_j:
            lo = max(0, j + 1 - level_slots)
            recent = values[lo : j + 1]
            if fitted is None or drifted or t - evaluated_at >= refit_seconds:
                lo = max(0, j + 1 - history)
                week = values[lo : j + 1]
                # What is not demand is fitted as a gap; the drift check learns the
                # history's outage rule (as read).
                learnt, _, _ = mask_not_demand(week)
                zeros.learn(week)
                result = refit(
                    fitted,
                    Series(stamps[lo : j + 1], learnt, step, series.name),
                    forecaster,
                    recent=recent,
                    steps=horizon,
                    forced=fitted is None,
                    levels=levels,
                    champion_name=f"live/{version}",
                    version=version + 1,
                )
                fitted, evaluated_at, drifted = result.live, float(t), False
                if result.promoted:
                    # Fitted where an outage's zeros are gaps: the current load is
                    # what was read, zeros and all.
                    fitted = fitted.advance(recent, float(stamps[j]))
                ring.clear()
                glitch.glitched = ()
                zeros.refitted()
                if result.promoted:
                    band, poor = result.band, None
                    version += 1
                    expect = None  # the old model's forecast: not the new one's outcome
            else:
                assert fitted is not None
                fitted = fitted.advance(recent, float(stamps[j]))
            # The drift check runs before this cycle's outcome is kept, so that the
            # glitch test below can withhold it first.
            if band is not None and d % DRIFT_EVERY == 0:
                verdict = check_drift(ring, band)
                drifted = verdict.refit
                poor = distrust(verdict, poor)
            arrived: int | None = None
            if expect is not None and expect[0] == float(stamps[j]):
                actual = float(values[j])
                arrived = ring.add(actual, expect[1], expect[2], expect[3])
                zeros.arrived(ring, recent, arrived, actual, expect[0])
                if zeros.anchored_on_outage(expect[0], step * level_slots):
                    ring.withhold(arrived)
            current = fitted.predict(horizon, levels)
            expect = (
                float(current.timestamps[0]),
                float(current.mean[0]),
                float(current.lower(BREACH_LEVEL)[0]),
                float(current.upper(BREACH_LEVEL)[0]),
            )
            suspect = implausible(recent, capacity)
            hold = (
                suspect
                if glitch.hold(ring, suspect is not None, fresh=True, arrived=arrived)
                else None
            )
            last_j = j
        out.append(current)
        untrusted.append(poor)
        held.append(hold)
    return ForecastPath(loop_period, metric_lag, tuple(out), tuple(untrusted), tuple(held))


def oracle_path(
    series: Series,
    *,
    horizon: int,
    loop_period: float = 60.0,
    metric_lag: float = 60.0,
    level: int = 80,
) -> ForecastPath:
    """A "forecast" that is the true future: the oracle floor's input."""
    values = np.nan_to_num(series.values, nan=0.0)
    out: list[Forecast | None] = []
    for t in _decision_times(series, loop_period):
        j = min(_slot(float(t) - metric_lag, series.start, series.step), len(series) - 1)
        if j < 0:
            out.append(None)
            continue
        future = values[j + 1 : j + 1 + horizon]
        if future.shape[0] < horizon:
            future = np.concatenate([future, np.zeros(horizon - future.shape[0])])
        stamps = series.timestamps[j] + series.step * np.arange(1, horizon + 1)
        out.append(Forecast(stamps, future, {level: (future, future)}, "oracle", "1"))
    return ForecastPath(loop_period, metric_lag, tuple(out))


def replay(
    series: Series,
    plant: Plant,
    policy: ReplayPolicy,
    *,
    warmup_seconds: float = 0.0,
    path: ForecastPath | None = None,
    profile_settings: ProfileSettings | None = None,
    timeline: bool = False,
    floor_hook: FloorHook | None = None,
) -> ReplayResult:
    """Run one policy over the whole trace and score it after ``warmup_seconds``.

    With ``timeline=True`` the result also carries a per-minute ``ReplayTimeline``.
    ``floor_hook`` (predictive and oracle policies) may change each loop decision after
    the forecast's rules, as the scaling loop's scheduled floors do.
    """
    if len(series) < 2:
        raise ValueError("the trace needs at least two samples to replay")
    finite = series.values[np.isfinite(series.values)]
    if finite.shape[0] == 0:
        raise ValueError("the trace holds no finite value: nothing to replay")
    if np.any(finite < 0):
        raise ValueError("the trace holds negative load values; load cannot be negative")
    # Refused here, not crashed on later: a load this large overflows the HPA's
    # milli-units and the initial pod count (``math.ceil`` of +inf).
    if np.any(finite > MAX_VALUE):
        raise ValueError(
            f"the trace holds load values above {MAX_VALUE:g}, which no real load reaches"
        )
    step = series.step
    ticks = (series.end + step - series.start) / plant.sync_seconds
    if not ticks <= _MAX_TICKS:  # a step of 1e12 s, say: np.zeros(ticks) would not fit
        raise ValueError(
            f"the trace spans {ticks:.3g} HPA syncs of {plant.sync_seconds:g} s; "
            f"at most {_MAX_TICKS} are simulated (is the step right?)"
        )
    capacity = plant.capacity_per_pod
    # The HPA counts in milli-units: below one it cannot scale (and pods needed = load /
    # a near-zero target overflows), so say so before running rather than mid-replay.
    if policy.target * capacity * 1000.0 < 1.0:
        raise ValueError(
            f"the HPA target per pod (target {policy.target:g} x capacity {capacity:g}) "
            "is below one milli-unit"
        )
    sync = plant.sync_seconds
    syncs = policy.loop_period / sync
    if policy.kind != "hpa" and abs(syncs - round(syncs)) > 1e-9 * max(1.0, syncs):
        # The loop runs on the HPA's sync ticks; a period between two ticks would use
        # forecasts made for a later time than the tick it runs at (seeing the future).
        raise ValueError(
            f"the loop period {policy.loop_period:g} s is not a whole number of HPA syncs "
            f"of {sync:g} s"
        )
    lead = lead_time(plant.startup_seconds, policy.loop_period, plant.metric_lag)
    horizon = horizon_steps(lead, step)
    if policy.kind != "hpa" and path is None:
        if horizon > _MAX_HORIZON:  # each decision would forecast that many steps
            raise ValueError(
                f"a lead of {lead:g} s is {horizon} steps of the trace's {step:g} s; "
                f"at most {_MAX_HORIZON} can be forecast (is the step right?)"
            )
        if policy.kind == "oracle":
            path = oracle_path(
                series,
                horizon=horizon,
                loop_period=policy.loop_period,
                metric_lag=plant.metric_lag,
                level=policy.level,
            )
        else:
            path = forecast_path(
                series,
                horizon=horizon,
                loop_period=policy.loop_period,
                metric_lag=plant.metric_lag,
                refit_seconds=policy.refit_seconds,
                level=policy.level,
                settings=profile_settings,
                lifecycle=policy.daemon_rules,
                capacity=capacity,
            )
    if path is not None and (
        path.loop_period != policy.loop_period or path.metric_lag != plant.metric_lag
    ):
        raise ValueError("the forecast path was built for another loop period or metric lag")
    spec = HpaSpec(
        target_per_pod=policy.target * capacity,
        min_replicas=policy.min_replicas,
        max_replicas=policy.max_replicas,
    )
    settings = ScalingSettings(
        capacity_per_pod=capacity,
        lead_seconds=lead,
        min_replicas=policy.min_replicas,
        max_replicas=policy.max_replicas,
        level=policy.level,
        margin=policy.margin,
        scale_in_fraction=policy.scale_in_fraction,
        loop_period=policy.loop_period,
    )
    controller = HpaController(spec)
    values = series.values
    start = series.start
    n_slots = len(series)
    end = series.end + step
    n_ticks = math.floor((end - start) / sync + 1e-9)
    loop_ticks = max(1, round(policy.loop_period / sync))
    lag_ticks = round(plant.metric_lag / sync)
    startup = plant.startup_seconds
    first = float(finite[0])
    initial = max(policy.min_replicas, math.ceil(first / (policy.target * capacity)))
    initial = min(initial, policy.max_replicas)
    pods: list[float] = [start - startup] * initial  # creation times, ascending
    ready_history = np.zeros(n_ticks, dtype=np.int64)
    n_untrusted = len(path.untrusted) if path is not None and path.untrusted is not None else 0
    score_from = start + warmup_seconds
    previous: ScalingRecommendation | None = None
    floor: int | None = None
    reasons: Counter[str] = Counter()
    under = scored = skipped = binding = 0
    pod_ticks = 0
    events = 0
    if timeline:  # per tick here; folded into minutes at the end
        tick_load = np.full(n_ticks, np.nan)
        tick_pods = np.zeros(n_ticks, dtype=np.int64)
        tick_under = np.zeros(n_ticks, dtype=np.int64)
        tick_billed = np.zeros(n_ticks, dtype=np.int64)
        tick_scored = np.zeros(n_ticks, dtype=np.int64)
    for k in range(n_ticks):
        t = start + k * sync
        lagged_t = t - plant.metric_lag
        lagged_slot = _slot(lagged_t, start, step)
        lagged = float(values[lagged_slot]) if 0 <= lagged_slot < n_slots else math.nan
        hold: str | None = None
        if path is not None and path.held is not None and k % loop_ticks == 0:
            d = k // loop_ticks
            hold = path.held[d] if d < len(path.held) else None
        if hold is not None:
            # the loop holds its floor on a sample that looks like a glitch
            if t >= score_from:
                reasons["SuspectSample"] += 1
        elif path is not None and k % loop_ticks == 0:
            d = k // loop_ticks
            forecast = path.forecasts[d] if d < len(path.forecasts) else None
            now = WorkloadNow(t, len(pods), lagged, previous)
            rec = recommend(forecast, now, settings)
            why = path.untrusted[d] if path.untrusted is not None and d < n_untrusted else None
            if why is not None:
                rec = untrusted(rec, why)
            if policy.daemon_rules and rec.mode == "reactive":
                # as the loop does: from the floor it left (the HPA's minimum if none)
                base = floor if floor is not None else policy.min_replicas
                rec = ease_reactive(rec, previous, base, settings)
            if floor_hook is not None:
                rec = floor_hook(t, rec, previous, settings)
            previous = rec
            floor = previous.floor
            if t >= score_from:
                reasons[previous.reason] += 1
        observation: MetricObservation | None = None
        if math.isfinite(lagged):
            sampled = bisect.bisect_right(pods, lagged_t - startup)
            ready_now = bisect.bisect_right(pods, t - startup)
            then = int(ready_history[k - lag_ticks]) if k >= lag_ticks else sampled
            if sampled > 0 and then > 0:
                observation = MetricObservation(
                    sampled_pods=sampled,
                    per_pod_value=lagged / then,
                    unready_pods=len(pods) - ready_now,
                    missing_pods=ready_now - sampled,
                )
        before = len(pods)
        decision = controller.reconcile(t, before, observation, floor)
        desired = decision.desired
        if desired > before:
            pods.extend([t] * (desired - before))
        elif desired < before:
            del pods[desired:]
        if desired != before and t >= score_from:
            events += 1
        ready_now = bisect.bisect_right(pods, t - startup)
        ready_history[k] = ready_now
        slot = _slot(t, start, step)
        load = float(values[slot]) if slot < n_slots else math.nan
        if timeline:
            tick_load[k] = load
            tick_pods[k] = len(pods)
        if t < score_from:
            continue
        if not math.isfinite(load):
            skipped += 1
            continue
        scored += 1
        pod_ticks += len(pods)
        if timeline:
            tick_billed[k] = len(pods)
            tick_scored[k] = 1
        if load > ready_now * capacity * (1.0 + 1e-12):
            under += 1
            if timeline:
                tick_under[k] = 1
        if floor is not None and len(pods) <= floor:
            binding += 1
    tick_minutes = sync / 60.0
    return ReplayResult(
        policy=policy.kind,
        under_provisioned_minutes=under * tick_minutes,
        under_provisioned_fraction=under / scored if scored else 0.0,
        replica_hours=pod_ticks * sync / 3600.0,
        scale_events=events,
        scored_minutes=scored * tick_minutes,
        skipped_gap_minutes=skipped * tick_minutes,
        floor_binding_fraction=binding / scored if scored else 0.0,
        reasons=dict(reasons),
        timeline=(
            _fold(
                start,
                sync,
                tick_load / capacity,
                ready_history,
                tick_pods,
                tick_under,
                tick_billed,
                tick_scored,
            )
            if timeline
            else None
        ),
    )


def _fold(
    start: float,
    sync: float,
    load_pods: FloatArray,
    ready: IntArray,
    pods: IntArray,
    under: IntArray,
    billed: IntArray,
    scored: IntArray,
    resolution: float = 60.0,
) -> ReplayTimeline:
    """Per-tick arrays to one row per ``resolution`` seconds (a bucket's worst moment)."""
    per = max(1, round(resolution / sync))
    n = load_pods.shape[0]
    buckets = -(-n // per)
    pad = buckets * per - n

    def rows(array: npt.NDArray[np.generic], fill: float) -> npt.NDArray[np.generic]:
        padded = np.concatenate([array, np.full(pad, fill, dtype=array.dtype)])
        return padded.reshape(buckets, per)

    loads = rows(load_pods, np.nan)
    known = np.isfinite(loads).any(axis=1)
    worst_load = np.full(buckets, np.nan)
    worst_load[known] = np.nanmax(loads[known], axis=1)
    big = np.iinfo(np.int64).max
    return ReplayTimeline(
        times=start + per * sync * np.arange(buckets, dtype=np.float64),
        load_pods=worst_load,
        ready=rows(ready, big).min(axis=1).astype(np.int64),
        pods=rows(pods, 0).max(axis=1).astype(np.int64),
        under_ticks=rows(under, 0).sum(axis=1).astype(np.int64),
        resolution_seconds=per * sync,
        tick_seconds=sync,
        billed_pod_ticks=rows(billed, 0).sum(axis=1).astype(np.int64),
        scored_ticks=rows(scored, 0).sum(axis=1).astype(np.int64),
    )
