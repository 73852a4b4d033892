"""The predictive replica recommendation: pure, shared by the daemon and the replay.

    replicas needed = upper quantile of the forecast load over [now, now + lead]
                      x (1 + margin) / per-pod capacity
    lead            = pod start-up + loop period + metric lag

The recommendation is a floor under the reactive autoscaler (the daemon raises the
HPA's ``minReplicas``; the HPA stays the safety net), so it follows the rules the
peers converged on (crane, AHPA, AWS predictive scaling):

- never below what the current load needs (``ceil(load / capacity)``);
- scale in slowly: the floor drops by at most ``scale_in_fraction`` of itself (at
  least one pod) per ``scale_in_period``, compounding, and one decision lowers it by
  at most one ``loop_period``'s worth however long since the last one (a hold, a gap
  in the load, a slow cycle): minutes in which the loop did not decide earn no drop.
  A loop faster than ``scale_in_period`` lowers it one step a period, not one a cycle:
  the time of the floor's last change is carried (``pace_since``) and the floor holds
  until a period has passed since;
- scale out no faster than ``max(+max_step_up_pods, +max_step_up_fraction)`` of the
  current replicas per decision, and always within ``[min_replicas, max_replicas]``;
- low confidence (no forecast, a model that fell back, a forecast too short for the
  lead, intervals far wider than the mean, non-finite numbers) means **reactive**:
  no floor is published, the HPA alone decides, and the reason says why;
- no usable current load (NaN, negative) means **hold**: keep the previous floor, do
  nothing new; stale data never drives an action.

Every recommendation carries a reason code and a sentence, like an HPA condition.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from forecasting.forecast import Forecast

__all__ = [
    "ScalingRecommendation",
    "ScalingSettings",
    "WorkloadNow",
    "ease_reactive",
    "horizon_steps",
    "hpa_scale_up_limit",
    "lead_time",
    "recommend",
    "scale_in_drop",
    "scale_in_floor",
    "scale_in_wait",
    "untrusted",
]

Mode = Literal["predictive", "reactive", "hold"]


@dataclass(frozen=True)
class ScalingSettings:
    """Per-workload sizing rules.

    ``capacity_per_pod`` is the load one pod may carry at the utilisation you are
    willing to run at (configured, or learned as load per ready pod at the HPA target).
    ``level`` names the forecast interval whose upper bound sizes the floor (80 means
    the 90th percentile).
    """

    capacity_per_pod: float
    lead_seconds: float
    min_replicas: int = 1
    max_replicas: int = 1_000
    level: int = 80
    margin: float = 0.0
    scale_in_fraction: float = 0.1
    scale_in_period: float = 60.0
    # The seconds between two decisions: the most time one decision paces scale-in for.
    loop_period: float = 60.0
    max_step_up_pods: int = 4
    max_step_up_fraction: float = 1.0
    max_relative_width: float = 4.0
    # Whether an HPA scales the workload: what "reactive" means is said accordingly (the
    # HPA decides; without one, the replicas follow the current load).
    has_hpa: bool = True
    # What sets ``max_replicas`` and how to raise it, said when the floor is capped
    # there (``AtMaximum``): "10 is the maxReplicas of ...; raise it ...". "" says nothing.
    ceiling_note: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.capacity_per_pod) and self.capacity_per_pod > 0):
            raise ValueError(
                f"capacity_per_pod must be a positive number, got {self.capacity_per_pod!r}"
            )
        if not (math.isfinite(self.lead_seconds) and self.lead_seconds > 0):
            raise ValueError(f"lead_seconds must be positive, got {self.lead_seconds!r}")
        if self.min_replicas < 0 or self.max_replicas < max(1, self.min_replicas):
            raise ValueError(
                f"need 0 <= min_replicas <= max_replicas, got {self.min_replicas} and "
                f"{self.max_replicas}"
            )
        if not (math.isfinite(self.margin) and self.margin > -1):
            raise ValueError(f"margin must be a number above -1, got {self.margin!r}")
        if not 0 < self.level < 100:
            raise ValueError(f"level is a percentage in (0, 100), got {self.level!r}")
        if not 0 <= self.scale_in_fraction <= 1 or not self.scale_in_period > 0:
            raise ValueError("scale_in_fraction must be in [0, 1] and scale_in_period > 0")
        if not (math.isfinite(self.loop_period) and self.loop_period > 0):
            raise ValueError(f"loop_period must be positive, got {self.loop_period!r}")


@dataclass(frozen=True)
class ScalingRecommendation:
    """What the workload should run now, and the floor to publish.

    ``floor`` is the ``minReplicas`` to set (``None``: publish none, the HPA decides).
    ``replicas`` is what the workload should have right now (at least ``current_need``),
    used where no HPA exists.
    """

    now: float
    replicas: int
    floor: int | None
    current_need: int
    mode: Mode
    reason: str
    message: str
    forecast_peak: float | None = None
    model: str | None = None
    model_version: str | None = None
    # When ``floor`` was last changed (raised, or lowered a step), as far as scale-in
    # pacing is concerned; None: no step is owed a wait (no floor, or one taken over).
    # Only a loop faster than the scale-in period waits on it (``scale_in_wait``).
    pace_since: float | None = None


@dataclass(frozen=True)
class WorkloadNow:
    """The workload as observed at ``now``: spec replicas and the latest load."""

    now: float
    current_replicas: int
    current_load: float
    previous: ScalingRecommendation | None = None


def lead_time(startup_seconds: float, loop_period: float, metric_lag: float) -> float:
    """How far ahead of the newest sample the floor must look."""
    return float(startup_seconds + loop_period + metric_lag)


def horizon_steps(lead_seconds: float, step: float) -> int:
    """Forecast steps after the newest sample that cover ``lead_seconds``."""
    # Capped: a step below ~1e-306 s makes lead / step +inf, which math.ceil refuses;
    # 10^18 steps is more than any forecast holds, so the meaning is unchanged.
    return max(1, math.ceil(min(lead_seconds / step - 1e-9, 1e18)))


# Pods needed beyond the ceiling are counted up to this in a message; past it, "more than".
SHOWN_MAX = 1_000_000_000


def _clamp(value: int, settings: ScalingSettings) -> int:
    return max(settings.min_replicas, min(settings.max_replicas, value))


def _need(load: float, capacity: float, cap: int) -> int:
    """``ceil(load / capacity)`` computed without overflow for absurd loads."""
    pods = load / capacity
    if not math.isfinite(pods) or pods >= cap:
        return cap
    return max(0, math.ceil(pods - 1e-9))


def recommend(
    forecast: Forecast | None, workload: WorkloadNow, settings: ScalingSettings
) -> ScalingRecommendation:
    """Decide the predictive floor for one workload. Pure: no clock, no I/O."""
    load = workload.current_load
    previous = workload.previous
    if not math.isfinite(load) or load < 0:
        floor = previous.floor if previous is not None else None
        keep = max(workload.current_replicas, 0)
        return ScalingRecommendation(
            workload.now,
            _clamp(keep, settings),
            floor,
            keep,
            "hold",
            "NoCurrentLoad",
            f"the latest load sample is {load!r}, not a usable number: holding, no new action",
            pace_since=previous.pace_since if previous is not None else None,
        )
    cap = settings.max_replicas
    saturated = cap + 1  # "more than the maximum": the clamp below reports it
    raw_need = _need(load, settings.capacity_per_pod, saturated)
    need = _clamp(raw_need, settings)
    confidence = _judge_forecast(forecast, settings)
    if isinstance(confidence, tuple):
        code, sentence = confidence
        return ScalingRecommendation(
            workload.now,
            need,
            None,
            need,
            "reactive",
            code,
            f"{sentence}; {_reactive(settings.has_hpa, need)}",
            model=forecast.model if forecast is not None else None,
            model_version=forecast.version if forecast is not None else None,
        )
    assert forecast is not None
    peak = confidence
    predicted = _need(peak * (1.0 + settings.margin), settings.capacity_per_pod, saturated)
    floor = predicted
    reason, message = (
        "Forecast",
        (
            f"the {settings.level}% upper forecast peaks at {peak:.4g} within "
            f"{settings.lead_seconds:.0f} s; {_pods(predicted)} of "
            f"{settings.capacity_per_pod:.4g} cover it"
        ),
    )
    current = max(workload.current_replicas, 0)
    step_up = max(settings.max_step_up_pods, math.ceil(current * settings.max_step_up_fraction))
    if floor > current + step_up:
        floor = current + step_up
        reason, message = (
            "ScaleUpLimit",
            (
                f"the forecast asks for {_pods(predicted)}; raising by at most {step_up} "
                "per decision"
            ),
        )
    if previous is not None and previous.floor is not None and floor < previous.floor:
        elapsed = workload.now - previous.now
        wait = scale_in_wait(previous.pace_since, workload.now, settings)
        drop = 0 if wait > 0 else scale_in_drop(previous.floor, elapsed, settings)
        slowest = previous.floor - drop
        if floor < slowest:
            floor = slowest
            slowly = f"from {previous.floor} by at most {drop}"
            if not drop and previous.pace_since is not None:
                left = previous.pace_since + settings.scale_in_period - workload.now
                slowly = (
                    f"{previous.floor} for {max(left, 0.0):.0f} s more (one step per "
                    f"scale-in period, {settings.scale_in_period:g} s)"
                )
            reason, message = (
                "ScaleInLimit",
                f"the forecast allows {_pods(predicted)}; scaling in slowly, {slowly}",
            )
    if raw_need > floor:
        floor = raw_need
        reason, message = (
            "CurrentLoad",
            (
                f"current load {load:.4g} needs {_pods(raw_need)}, more than the forecast "
                "rules allow"
            ),
        )
    clamped = _clamp(floor, settings)
    if clamped != floor:
        shown = _pods(floor)
        if floor >= saturated:
            # The count was cut at the cap + 1 (an absurd load cannot overflow it): say the
            # one the load asks for, unless that is absurd too.
            sized = load if reason == "CurrentLoad" else peak * (1.0 + settings.margin)
            asked = _need(sized, settings.capacity_per_pod, SHOWN_MAX)
            shown = f"more than {cap} pods" if asked >= SHOWN_MAX else _pods(asked)
            shown += f" (a load of {sized:.4g} at {settings.capacity_per_pod:.4g} a pod)"
        reason = "AtMaximum" if clamped < floor else "AtMinimum"
        message = f"{shown} clamped to the allowed range [{settings.min_replicas}, {cap}]"
        if reason == "AtMaximum" and settings.ceiling_note:
            message += f": {settings.ceiling_note}"
    return ScalingRecommendation(
        workload.now,
        clamped,
        clamped,
        need,
        "predictive",
        reason,
        message,
        forecast_peak=peak,
        model=forecast.model,
        model_version=forecast.version,
        pace_since=_paced(previous, clamped, workload.now, settings),
    )


def _paced(
    previous: ScalingRecommendation | None, floor: int, now: float, settings: ScalingSettings
) -> float | None:
    """The ``pace_since`` of a floor decided at ``now``: kept while the floor stays,
    ``now`` when it is raised or first set, moved on when it steps down."""
    if previous is None or previous.floor is None or floor > previous.floor:
        return now
    if floor == previous.floor:
        return previous.pace_since
    return _stepped(previous.pace_since, now, settings)


def _stepped(since: float | None, now: float, settings: ScalingSettings) -> float:
    """Where the pace counts from after a step down at ``now``. A step due within the
    last cycle counts from when it was due, so a loop period that does not divide the
    scale-in period (45 s into 60) keeps the rate (a step every 60 s on average, not
    every 90); a step due longer ago (a hold) counts from now: the time held earns no
    second step."""
    if since is None or settings.loop_period >= settings.scale_in_period:
        return now
    due = since + settings.scale_in_period
    return min(due, now) if due > now - settings.loop_period else now


# A cycle may come this share of a scale-in period early (timer jitter) and still count
# the period as passed.
_EARLY = 0.01


def scale_in_wait(since: float | None, now: float, settings: ScalingSettings) -> float:
    """Seconds until a floor last changed at ``since`` may step down again; 0: now.

    Only a loop faster than the scale-in period waits: each of its cycles would otherwise
    take a whole period's step (a 30 s loop halving a 60 s period's pace). A loop as slow
    as the period or slower takes its step each decision, however soon (``scale_in_drop``).
    ``since`` None (no floor before, or one taken over from the cluster) owes no wait."""
    period = settings.scale_in_period
    if since is None or settings.loop_period >= period:
        return 0.0
    return max(0.0, since + period * (1.0 - _EARLY) - now)


def _judge_forecast(
    forecast: Forecast | None, settings: ScalingSettings
) -> float | tuple[str, str]:
    """The upper-quantile peak over the lead window, or (reason, sentence) to stay reactive."""
    if forecast is None:
        return "NoForecast", "no forecast is available"
    if forecast.fallback_reason is not None:
        return "LowConfidence", f"the forecast fell back ({forecast.fallback_reason})"
    if settings.level not in forecast.intervals:
        return "NoInterval", f"the forecast has no {settings.level}% interval"
    n = forecast.mean.shape[0]
    if n == 0:
        return "EmptyForecast", "the forecast has no steps"
    # Python floats: inf - inf is NaN (judged below as "no step") without a numpy warning
    step = float(forecast.timestamps[1]) - float(forecast.timestamps[0]) if n > 1 else None
    if step is not None and step > 0 and n < horizon_steps(settings.lead_seconds, step):
        return "ForecastTooShort", (
            f"the forecast covers {n * step:.0f} s but the lead is {settings.lead_seconds:.0f} s"
        )
    upper = forecast.upper(settings.level)
    need = horizon_steps(settings.lead_seconds, step) if step and step > 0 else n
    window = upper[:need]
    mean = forecast.mean[:need]
    if not (np.all(np.isfinite(window)) and np.all(np.isfinite(mean))):
        return "NonFiniteForecast", "the forecast holds NaN or infinite values"
    peak = float(np.max(window))
    mean_peak = float(np.max(mean))
    if peak < 0 or mean_peak < 0:
        return "NegativeForecast", f"the forecast is negative (peak {peak:.4g})"
    if mean_peak > 0 and peak > (1.0 + settings.max_relative_width) * mean_peak:
        return "WideInterval", (
            f"the upper bound {peak:.4g} is more than {1 + settings.max_relative_width:g}x "
            f"the mean {mean_peak:.4g}: too uncertain to size from"
        )
    return peak


def hpa_scale_up_limit(
    policies: tuple[tuple[str, int, int], ...], select: str, start: Callable[[int], int]
) -> int | None:
    """The most replicas an HPA's ``behavior.scaleUp`` lets it reach now, as the HPA
    controller computes it: for each policy (type, value, periodSeconds), from the
    replicas at the start of its period (``start(periodSeconds)``), ``start + value``
    (Pods) or ``ceil(start * (1 + value / 100))`` (Percent); the largest of them with
    ``selectPolicy`` Max (or unset), the smallest with Min. None when there is no limit
    to follow: no policies written (the API's defaults, no slower than the loop's own
    step), or ``Disabled`` (the HPA never scales up: a raised floor is then the
    workload's only scale-up, at the loop's own pace)."""
    if not policies or select == "Disabled":
        return None
    limits = []
    for kind, value, period in policies:
        base = max(start(period), 0)
        limits.append(
            base + value if kind == "Pods" else math.ceil(base * (1.0 + value / 100.0) - 1e-9)
        )
    return min(limits) if select == "Min" else max(limits)


def scale_in_drop(floor: int, elapsed: float, settings: ScalingSettings) -> int:
    """How many pods a floor may come down ``elapsed`` seconds after it was set: at most
    ``scale_in_fraction`` of it (at least one pod) per whole ``scale_in_period``,
    compounding (each period's share is of what the one before left), one period's
    worth however soon, and no more than one ``loop_period``'s worth however late. (A
    loop faster than the period steps at most once a period: ``scale_in_wait`` says
    when it may.)

    The cap is what keeps scale-in slow after the loop held the workload (no usable
    load, a gap in its series, an HPA it could not use): the load was not known then,
    so the time held earns no drop, and the first decision back lowers the floor as
    one decision does. A floor of 40 comes down to 36 after a ten-minute hold, not to 0
    (ten periods' drops counted from 40) nor to 17 (ten periods compounded)."""
    period = settings.scale_in_period
    most = max(1, math.floor(settings.loop_period / period + 1e-9))
    periods = min(most, max(1, math.floor(max(0.0, elapsed) / period + 1e-9)))
    left = floor
    for _ in range(periods):
        if left <= 0:
            break
        left -= max(1, math.floor(left * settings.scale_in_fraction))
    return max(1, floor - left)


def scale_in_floor(last: int, elapsed: float, need: int, sizing: ScalingSettings) -> int:
    """The lowest floor ``elapsed`` seconds after ``last`` allows, as ``recommend`` paces
    a predictive floor (``scale_in_drop``): down by at most ``scale_in_fraction`` of it
    (at least one pod) per ``scale_in_period``, compounding, never below ``need`` (what
    the current load needs) nor ``min_replicas``, and never above ``last``."""
    drop = scale_in_drop(last, elapsed, sizing)
    return max(sizing.min_replicas, min(last, max(last - drop, need)))


def ease_reactive(
    rec: ScalingRecommendation,
    previous: ScalingRecommendation | None,
    base: int,
    sizing: ScalingSettings,
) -> ScalingRecommendation:
    """A reactive recommendation whose floor comes down slowly from ``base`` (the floor
    this loop left; ``previous.floor`` while it is still coming down): the HPA keeps the
    most it proposed over its stabilization window, not the floor it was given, so a
    floor dropped in one write lets it scale in to the current need at once. Once the
    floor left is the HPA's own minimum (``sizing.min_replicas``) there is none: the HPA
    alone decides."""
    if base <= sizing.min_replicas:
        return rec
    last = base
    if previous is not None and previous.floor is not None:
        last = min(last, previous.floor)
    elapsed = rec.now - previous.now if previous is not None else sizing.scale_in_period
    since = previous.pace_since if previous is not None else None
    if scale_in_wait(since, rec.now, sizing) > 0:
        floor = max(sizing.min_replicas, last)  # a step this period was taken already
    else:
        floor = scale_in_floor(last, elapsed, rec.current_need, sizing)
    what = "the raised floor comes down" if sizing.has_hpa else "the replicas come down"
    return replace(
        rec,
        floor=floor,
        pace_since=_paced(previous, floor, rec.now, sizing),
        message=(
            f"{rec.message}; {what} slowly: {floor} now, never below "
            f"the {_pods(rec.current_need)} the current load needs"
        ),
    )


def untrusted(
    rec: ScalingRecommendation, why: str, *, has_hpa: bool = True
) -> ScalingRecommendation:
    """A predictive recommendation made reactive because the live model is not trusted
    now (``why``: its recent forecasts are off its band); any other is returned as is."""
    if rec.mode != "predictive":
        return rec
    return replace(
        rec,
        replicas=rec.current_need,
        floor=None,
        mode="reactive",
        reason="PoorAccuracy",
        message=(
            f"the live model's recent forecasts are off ({why}); "
            f"{_reactive(has_hpa, rec.current_need)} until it is back in its band or a "
            "refit beats it"
        ),
        forecast_peak=None,
    )


def _reactive(has_hpa: bool, need: int) -> str:
    """What staying reactive means for the workload: with an HPA, the HPA decides;
    without one, the replicas are sized from the current load alone, no forecast."""
    if has_hpa:
        return "staying reactive (the HPA decides)"
    return (
        f"staying reactive (no HPA: the replicas follow the current load, {_pods(need)} "
        "now, without a forecast)"
    )


def _pods(count: int) -> str:
    return f"{count} pod" if count == 1 else f"{count} pods"
