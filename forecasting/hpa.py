"""A faithful simulation of the Kubernetes HorizontalPodAutoscaler controller.

The predictive scaler is judged against this baseline, so the baseline must be the
real algorithm, not a flattering caricature. It follows
``pkg/controller/podautoscaler`` (autoscaling/v2, ``behavior`` set to its defaults):

- ``currentReplicas`` is the **spec** replica count, not the number of ready pods;
- a Pods metric with an AverageValue target: the per-pod usage is the average over
  pods that have a sample, truncated to milli-units, and the proposal is
  ``ceil(ratio * readyPods)`` outside the tolerance band ``[1 - tol, 1 + tol]``;
- pods that are not ready (still starting) count as **zero** when scaling up, and
  pods that are ready but have no sample yet count as idle on scale-up and as exactly
  on-target on scale-down (with the others exactly at the target, not at all); a
  proposal that would flip direction becomes "no change";
- stabilization: scale-down takes the **maximum raw proposal of the last 300 s**
  (scale-up window 0), which is what slows scale-down, not a cool-down timer;
- rate limits per 15 s: up to ``max(+4 pods, +100 %)``, down by up to 100 %, counted
  over scale events inside each policy's period, then min/max clamping (``limit_rate``
  takes other policies and ``selectPolicy`` Min or Disabled as well, which
  ``forecasting.hpa_after_rules`` uses to explain a live HPA);
- ``currentReplicas < minReplicas`` jumps straight to ``minReplicas`` (no
  stabilization, no rate limit): this is how a raised ``minReplicas`` floor acts.

The controller keeps its history in memory per HPA, as the real one does, so
``HpaController`` is a small stateful object; every rule is also a pure function that
the tests exercise directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DEFAULT_SCALE_DOWN_POLICIES",
    "DEFAULT_SCALE_UP_POLICIES",
    "HpaController",
    "HpaDecision",
    "HpaSpec",
    "MetricObservation",
    "RatePolicy",
    "SelectPolicy",
    "limit_rate",
    "limit_without_behavior",
    "propose_replicas",
    "stabilize",
    "stabilize_without_behavior",
]


SelectPolicy = Literal["Max", "Min", "Disabled"]


@dataclass(frozen=True)
class RatePolicy:
    """One ``behavior.scaleUp/scaleDown.policies`` entry: change per period."""

    kind: Literal["Pods", "Percent"]
    value: int
    period_seconds: float


DEFAULT_SCALE_UP_POLICIES = (RatePolicy("Pods", 4, 15.0), RatePolicy("Percent", 100, 15.0))
DEFAULT_SCALE_DOWN_POLICIES = (RatePolicy("Percent", 100, 15.0),)


@dataclass(frozen=True)
class HpaSpec:
    """The HPA object plus the controller-manager flags that matter for one target.

    ``target_per_pod`` is the AverageValue target of a Pods metric (for example
    requests per minute per pod); the controller converts it to milli-units as the
    real one does. ``scale_up_select`` and ``scale_down_select`` are the rules'
    ``selectPolicy``: ``Max`` (the default), ``Min`` or ``Disabled``.
    """

    target_per_pod: float
    min_replicas: int = 1
    max_replicas: int = 10_000
    tolerance: float = 0.1
    scale_up_window: float = 0.0
    scale_down_window: float = 300.0
    scale_up_policies: tuple[RatePolicy, ...] = DEFAULT_SCALE_UP_POLICIES
    scale_down_policies: tuple[RatePolicy, ...] = DEFAULT_SCALE_DOWN_POLICIES
    scale_up_select: SelectPolicy = "Max"
    scale_down_select: SelectPolicy = "Max"

    def __post_init__(self) -> None:
        if not (self.target_per_pod > 0 and math.isfinite(self.target_per_pod)):
            raise ValueError(f"target_per_pod must be a positive number, got {self.target_per_pod}")
        if self.min_replicas < 0 or self.max_replicas < max(1, self.min_replicas):
            raise ValueError(
                f"need 0 <= min_replicas <= max_replicas and max_replicas >= 1, got "
                f"min={self.min_replicas} max={self.max_replicas}"
            )
        if not 0 <= self.tolerance < 1:
            raise ValueError(f"tolerance must be in [0, 1), got {self.tolerance}")


@dataclass(frozen=True)
class MetricObservation:
    """What the metrics pipeline shows the controller at one reconcile.

    ``sampled_pods`` are ready pods that have a fresh sample, and ``per_pod_value`` is
    their average usage. ``missing_pods`` are ready (Running) pods without a sample
    yet; ``unready_pods`` are pods still starting (Pending or not Ready).
    """

    sampled_pods: int
    per_pod_value: float
    unready_pods: int = 0
    missing_pods: int = 0


@dataclass(frozen=True)
class HpaDecision:
    """One reconcile's outcome with the reason code the controller would report."""

    desired: int
    proposal: int | None
    reason: str
    message: str


def _milli(value: float) -> int:
    """Quantity in milli-units, truncated, as the metrics client hands it over."""
    return math.floor(value * 1000.0)


def _within(ratio: float, tolerance: float) -> bool:
    return (1.0 - tolerance) <= ratio <= (1.0 + tolerance)


def propose_replicas(
    current: int, observation: MetricObservation, target_per_pod: float, tolerance: float = 0.1
) -> int:
    """Per-metric replica proposal of ``GetMetricReplicas`` (replica_calculator.go).

    The fast path (no missing pods, and not scaling up with unready pods around)
    returns ``ceil(ratio * ready)``. Otherwise the conservative slow path fills in the
    pods without samples: idle on scale-up, on target on scale-down, unready pods
    idle on scale-up, and refuses any proposal that flips direction.
    """
    obs = observation
    if obs.sampled_pods <= 0:
        raise ValueError("no pod has a metric sample: the controller cannot compute a proposal")
    target_milli = _milli(target_per_pod)
    if target_milli <= 0:
        raise ValueError(f"target_per_pod {target_per_pod} is below one milli-unit")
    usage_milli = _milli(obs.per_pod_value)  # already an average, truncated
    ratio = usage_milli / target_milli
    scale_up_with_unready = obs.unready_pods > 0 and ratio > 1.0
    if obs.missing_pods == 0 and not scale_up_with_unready:
        if _within(ratio, tolerance):
            return current
        return math.ceil(ratio * obs.sampled_pods)
    total_milli = usage_milli * obs.sampled_pods
    count = obs.sampled_pods
    if obs.missing_pods > 0 and ratio != 1.0:
        # At exactly the target the controller fills in neither value ("if ratio < 1 ...
        # else if ratio > 1"): the missing pods stay out of the count.
        count += obs.missing_pods
        if ratio < 1.0:
            total_milli += target_milli * obs.missing_pods  # assume busy on the way down
    if scale_up_with_unready:
        count += obs.unready_pods  # unready pods count as zero usage on the way up
    new_ratio = (total_milli // count) / target_milli
    flipped = (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio)
    if _within(new_ratio, tolerance) or flipped:
        return current
    proposal = math.ceil(new_ratio * count)
    if (new_ratio < 1.0 and proposal > current) or (new_ratio > 1.0 and proposal < current):
        return current
    return proposal


def stabilize(
    proposal: int,
    current: int,
    now: float,
    history: list[tuple[int, float]],
    up_window: float,
    down_window: float,
) -> int:
    """``stabilizeRecommendationWithBehaviors``: move toward the proposal only as far
    as the recent raw proposals allow. Scale-down goes no lower than the maximum raw
    proposal strictly inside the last ``down_window`` seconds."""
    up_rec = proposal
    down_rec = proposal
    up_cutoff = now - up_window
    down_cutoff = now - down_window
    for value, stamp in history:
        if stamp > up_cutoff:
            up_rec = min(up_rec, value)
        if stamp > down_cutoff:
            down_rec = max(down_rec, value)
    result = current
    result = max(result, up_rec)
    return min(result, down_rec)


def _change_in_period(events: list[tuple[int, float]], now: float, period: float) -> int:
    cutoff = now - period
    return sum(change for change, stamp in events if stamp > cutoff)


def _policy_limit(
    current: int,
    now: float,
    up_events: list[tuple[int, float]],
    down_events: list[tuple[int, float]],
    policies: tuple[RatePolicy, ...],
    select: SelectPolicy,
    direction: int,
) -> int:
    """The count one direction's policies allow now (``direction`` 1 up, -1 down)."""
    if select == "Disabled":
        return current  # "Scaling is disabled"
    # Up, Max wants the largest count and Min the smallest; down, the other way round.
    largest = (select != "Min") == (direction > 0)
    chosen: int | None = None
    for policy in policies:
        added = _change_in_period(up_events, now, policy.period_seconds)
        removed = _change_in_period(down_events, now, policy.period_seconds)
        start = current - added + removed
        fraction = policy.value / 100.0
        if direction > 0:
            proposed = (
                start + policy.value
                if policy.kind == "Pods"
                else math.ceil(start * (1.0 + fraction))
            )
        else:
            proposed = (
                start - policy.value if policy.kind == "Pods" else int(start * (1.0 - fraction))
            )
        if chosen is None:
            chosen = proposed
        else:
            chosen = max(chosen, proposed) if largest else min(chosen, proposed)
    if chosen is None:
        # No policy: the controller's limit stays at its starting value, MinInt32 when it
        # takes the largest and MaxInt32 when the smallest; its caller then compares it
        # with the current count as it would any other.
        return -(2**31) if largest else 2**31
    return chosen


def limit_rate(
    desired: int,
    current: int,
    now: float,
    spec: HpaSpec,
    up_events: list[tuple[int, float]],
    down_events: list[tuple[int, float]],
    min_replicas: int,
) -> tuple[int, str]:
    """``convertDesiredReplicasWithBehaviorRate``: the scale-up limit of
    ``calculateScaleUpLimitWithScalingRules`` (each policy's change counted from the
    replicas at the start of its period; ``selectPolicy`` Max takes the largest limit,
    Min the smallest, Disabled none: the current count) or the scale-down limit of
    ``calculateScaleDownLimitWithBehaviors`` (Max the lowest, Min the highest), then
    ``maxReplicas`` or ``min_replicas``.

    Returns the limited count and the condition reason (``ScaleUpLimit``,
    ``TooManyReplicas``, ``ScaleDownLimit``, ``TooFewReplicas`` or
    ``DesiredWithinRange``).
    """
    if desired > current:
        limit = _policy_limit(
            current, now, up_events, down_events, spec.scale_up_policies, spec.scale_up_select, 1
        )
        limit = max(limit, current)
        if spec.max_replicas > limit:
            ceiling, reason = limit, "ScaleUpLimit"
        else:
            ceiling, reason = spec.max_replicas, "TooManyReplicas"
        if desired > ceiling:
            return ceiling, reason
    elif desired < current:
        limit = _policy_limit(
            current,
            now,
            up_events,
            down_events,
            spec.scale_down_policies,
            spec.scale_down_select,
            -1,
        )
        limit = min(limit, current)
        if min_replicas < limit:
            floor, reason = limit, "ScaleDownLimit"
        else:
            floor, reason = min_replicas, "TooFewReplicas"
        if desired < floor:
            return floor, reason
    return desired, "DesiredWithinRange"


def stabilize_without_behavior(
    proposal: int, now: float, history: list[tuple[int, float]], window: float
) -> int:
    """``stabilizeRecommendation``, the controller's path for an HPA without
    ``spec.behavior`` (the API server leaves an absent ``behavior`` unset, so this is
    every HPA that writes none): the largest of the proposal and the proposals not older
    than ``window`` (``--horizontal-pod-autoscaler-downscale-stabilization``; a stamp
    exactly at the cutoff still counts). There is no scale-up window and the result is
    not bounded by the current count: a proposal below it under a larger recent one
    can come out above it."""
    cutoff = now - window
    return max([proposal] + [value for value, stamp in history if stamp >= cutoff])


def limit_without_behavior(
    desired: int, current: int, min_replicas: int, max_replicas: int
) -> tuple[int, str]:
    """``convertDesiredReplicasWithRules``, the rate rule of an HPA without
    ``spec.behavior``: up to ``max(2 * current, 4)`` at once (``calculateScaleUpLimit``),
    no limit on the way down, then ``minReplicas`` and ``maxReplicas``. No scale event
    is counted. Returns the count and the condition reason, as ``limit_rate``."""
    up_limit = int(max(2.0 * current, 4.0))
    if max_replicas > up_limit:
        ceiling, reason = up_limit, "ScaleUpLimit"
    else:
        ceiling, reason = max_replicas, "TooManyReplicas"
    if desired < min_replicas:
        return min_replicas, "TooFewReplicas"
    if desired > ceiling:
        return ceiling, reason
    return desired, "DesiredWithinRange"


@dataclass
class HpaController:
    """The per-HPA controller state (recommendations and scale events) and reconcile.

    ``min_replicas`` may be overridden per reconcile: that is how a predictive floor
    (the daemon raising ``spec.minReplicas``) reaches the controller.
    """

    spec: HpaSpec
    recommendations: list[tuple[int, float]] = field(default_factory=list)
    up_events: list[tuple[int, float]] = field(default_factory=list)
    down_events: list[tuple[int, float]] = field(default_factory=list)

    def reconcile(
        self,
        now: float,
        spec_replicas: int,
        observation: MetricObservation | None,
        min_replicas: int | None = None,
    ) -> HpaDecision:
        spec = self.spec
        floor = spec.min_replicas if min_replicas is None else min_replicas
        floor = min(floor, spec.max_replicas)
        current = spec_replicas
        if not self.recommendations:
            self.recommendations.append((current, now))
        if current == 0 and floor != 0:
            return HpaDecision(
                0, None, "ScalingDisabled", "the target has zero replicas and minReplicas > 0"
            )
        if current > spec.max_replicas:
            return self._rescale(now, current, spec.max_replicas, None, "TooManyReplicas")
        if current < floor:
            return self._rescale(now, current, floor, None, "BelowMinimum")
        if observation is None or observation.sampled_pods <= 0:
            return HpaDecision(
                current, None, "FailedGetMetrics", "no pod has a metric sample, so no scaling"
            )
        proposal = propose_replicas(current, observation, spec.target_per_pod, spec.tolerance)
        stabilized = stabilize(
            proposal,
            current,
            now,
            self.recommendations,
            spec.scale_up_window,
            spec.scale_down_window,
        )
        self._record(proposal, now)
        desired, reason = limit_rate(
            stabilized, current, now, spec, self.up_events, self.down_events, floor
        )
        if desired == stabilized and stabilized != proposal:
            reason = "ScaleDownStabilized" if proposal < current else "ScaleUpStabilized"
        return self._rescale(now, current, desired, proposal, reason)

    def _record(self, proposal: int, now: float) -> None:
        """Replace one entry older than both windows, or append (as the controller does)."""
        up_cutoff = now - self.spec.scale_up_window
        down_cutoff = now - self.spec.scale_down_window
        for index, (_, stamp) in enumerate(self.recommendations):
            if stamp < up_cutoff and stamp < down_cutoff:
                self.recommendations[index] = (proposal, now)
                return
        self.recommendations.append((proposal, now))

    def _rescale(
        self, now: float, current: int, desired: int, proposal: int | None, reason: str
    ) -> HpaDecision:
        if desired == current:
            return HpaDecision(current, proposal, reason, "no change")
        events = self.up_events if desired > current else self.down_events
        longest = max(
            (p.period_seconds for p in self.spec.scale_up_policies + self.spec.scale_down_policies),
            default=0.0,
        )
        events[:] = [(c, s) for c, s in events if s > now - longest]
        events.append((abs(desired - current), now))
        return HpaDecision(desired, proposal, reason, f"scale from {current} to {desired}")
