"""What an HPA's own rules do to the count its metrics propose, as far as Autonomic knows.

``forecasting.hpa_metrics`` stops at the count the metrics lead to. The controller then
(``reconcileAutoscaler`` and ``normalizeDesiredReplicasWithBehaviors`` in
``horizontal.go``):

- leaves the metrics aside when the target is at 0 replicas with ``minReplicas`` above 0
  (scaling is off), and sets a count above ``maxReplicas`` or below ``minReplicas``
  straight to that bound, with no stabilization and no rate limit;
- stabilizes the proposal (``stabilizeRecommendationWithBehaviors``): it goes down no
  lower than the largest proposal of the scale-down window (``behavior.scaleDown.
  stabilizationWindowSeconds``, 300 s unless set) and up no higher than the smallest
  of the scale-up window (0 s unless set);
- limits the rate (``convertDesiredReplicasWithBehaviorRate``): each ``Pods`` or
  ``Percent`` policy allows a change per ``periodSeconds`` counted from the replicas at
  the start of the period, ``selectPolicy`` Max takes the policy that allows the most,
  Min the least and Disabled none; then ``maxReplicas`` and ``minReplicas``.

The rules themselves are ``forecasting.hpa``'s (``stabilize``, ``limit_rate``); this
module feeds them what Autonomic has seen of the HPA: one sample a scaling cycle of the
count the metrics led to and the HPA's replicas. The controller reconciles every 15 s
and keeps every proposal, so this is an approximation: the window holds only the
proposals sampled (and none from before Autonomic started), and a change of replicas is
taken as made when it was seen, up to a cycle after it was.

An HPA that writes no ``behavior`` keeps none (the API server fills in the defaults only
of a ``behavior`` that is there), and the controller takes its older path for it
(``normalizeDesiredReplicas``): the largest proposal of the last 300 s
(``stabilizeRecommendation``, not bounded by the current count, and no scale-up window),
then up to ``max(2 * current, 4)`` at once, no rate limit down, and min/max
(``convertDesiredReplicasWithRules``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from forecasting.hpa import (
    DEFAULT_SCALE_DOWN_POLICIES,
    DEFAULT_SCALE_UP_POLICIES,
    HpaSpec,
    RatePolicy,
    SelectPolicy,
    limit_rate,
    limit_without_behavior,
    stabilize,
    stabilize_without_behavior,
)

__all__ = ["AfterRules", "HpaRules", "RulesSample", "after_rules"]

DEFAULT_SCALE_DOWN_WINDOW = 300.0  # --horizontal-pod-autoscaler-downscale-stabilization
APPROXIMATE_NOTE = (
    "approximate: the HPA reconciles every 15 s and keeps every proposal; Autonomic "
    "samples the proposal and the replicas once a scaling cycle, so the windows hold only "
    "the proposals it sampled (none from before it started) and a change of replicas is "
    "taken as made when it was seen; pods not ready or without a sample are not seen"
)


@dataclass(frozen=True)
class RulesSample:
    """What one scaling cycle saw of an HPA: when, the count its metrics led to (None
    when they led to none, so the controller recorded nothing) and its replicas."""

    at: float
    proposal: int | None
    replicas: int


@dataclass(frozen=True)
class HpaRules:
    """An HPA's bounds and ``behavior`` with the API's and controller's defaults filled
    in. ``floor_is_autonomic``: ``minReplicas`` is the floor Autonomic wrote.
    ``behavior``: the HPA has a ``spec.behavior``; without one the controller applies
    only ``scale_down_window`` (its flag's) and its older rules, and the policies,
    selects and ``scale_up_window`` are not read."""

    min_replicas: int
    max_replicas: int
    scale_up_window: float = 0.0
    scale_down_window: float = DEFAULT_SCALE_DOWN_WINDOW
    scale_up_policies: tuple[RatePolicy, ...] = DEFAULT_SCALE_UP_POLICIES
    scale_down_policies: tuple[RatePolicy, ...] = DEFAULT_SCALE_DOWN_POLICIES
    scale_up_select: SelectPolicy = "Max"
    scale_down_select: SelectPolicy = "Max"
    floor_is_autonomic: bool = False
    behavior: bool = True

    def min_text(self, value: int) -> str:
        return f"minReplicas {value}" + (" (Autonomic's floor)" if self.floor_is_autonomic else "")


@dataclass(frozen=True)
class AfterRules:
    """The count after the HPA's rules, each rule that moved it (in order, in words),
    the controller's reason for the last, and how many seconds back Autonomic's samples
    reach (0 with none)."""

    replicas: int
    held_by: tuple[str, ...]
    reason: str
    seen_seconds: float

    def as_dict(self) -> dict[str, object]:
        return {
            "replicas": self.replicas,
            "heldBy": "; then ".join(self.held_by) if self.held_by else None,
            "reason": self.reason,
            "seenSeconds": round(self.seen_seconds),
            "approximate": True,
            "note": APPROXIMATE_NOTE,
        }


def _clock(stamp: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(stamp))


def _policies(policies: tuple[RatePolicy, ...], select: SelectPolicy) -> str:
    listed = ", ".join(
        f"{p.value}{' %' if p.kind == 'Percent' else ' pods'} per {p.period_seconds:g} s"
        for p in policies
    )
    return f"{listed or 'no policy'}, selectPolicy {select}"


def _events(
    samples: Sequence[RulesSample], now: float, current: int
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """The replica changes seen, up and down, as (size, when seen)."""
    up: list[tuple[int, float]] = []
    down: list[tuple[int, float]] = []
    seen = [(s.at, s.replicas) for s in sorted(samples, key=lambda s: s.at) if s.at < now]
    seen.append((now, current))
    for (_, before), (stamp, after) in pairwise(seen):
        if after > before:
            up.append((after - before, stamp))
        elif after < before:
            down.append((before - after, stamp))
    return up, down


def _without_behavior(
    proposal: int,
    current: int,
    now: float,
    rules: HpaRules,
    history: list[tuple[int, float]],
    done: Callable[..., AfterRules],
) -> AfterRules:
    """``normalizeDesiredReplicas``: the older rules of an HPA without ``behavior``."""
    window = rules.scale_down_window
    stabilized = stabilize_without_behavior(proposal, now, history, window)
    held: list[str] = []
    reason = "DesiredWithinRange"
    if stabilized != proposal:
        held.append(
            f"stabilization ({window:g} s, the HPA sets no behavior): the largest proposal "
            f"since {_clock(now - window)} UTC is {stabilized}, so {stabilized}"
        )
        reason = "ScaleDownStabilized"  # the controller's word, whichever way it moves
    low, high = rules.min_replicas, rules.max_replicas
    limited, limit_reason = limit_without_behavior(stabilized, current, low, high)
    if limited != stabilized:
        reason = limit_reason
        if limit_reason == "TooManyReplicas":
            held.append(f"maxReplicas {high}")
        elif limit_reason == "TooFewReplicas":
            held.append(rules.min_text(low))
        else:
            held.append(
                f"scale-up limit without behavior: at most max(2 x {current}, 4) = {limited}"
            )
    return done(limited, reason, *held)


def after_rules(
    proposal: int | None,
    current: int,
    now: float,
    rules: HpaRules,
    samples: Sequence[RulesSample] = (),
    *,
    held_by_missing: bool = False,
) -> AfterRules:
    """Apply the HPA's rules to ``proposal`` (the count its metrics lead to, None when
    none) at ``current`` replicas (the HPA's ``status.currentReplicas``), given the
    samples of earlier cycles. ``held_by_missing``: a metric without a reading stops a
    scale-down, so the controller does not scale this time (and records nothing).

    Raises ValueError for bounds the API server would refuse (``maxReplicas`` below 1 or
    below ``minReplicas``)."""
    spec = HpaSpec(
        target_per_pod=1.0,  # not read by the rules applied here
        min_replicas=rules.min_replicas,
        max_replicas=rules.max_replicas,
        scale_up_window=rules.scale_up_window,
        scale_down_window=rules.scale_down_window,
        scale_up_policies=rules.scale_up_policies,
        scale_down_policies=rules.scale_down_policies,
        scale_up_select=rules.scale_up_select,
        scale_down_select=rules.scale_down_select,
    )
    earlier = [s for s in samples if s.at < now]
    seen_seconds = now - min(s.at for s in earlier) if earlier else 0.0
    low, high = rules.min_replicas, rules.max_replicas

    def done(replicas: int, reason: str, *held: str) -> AfterRules:
        return AfterRules(replicas, tuple(held), reason, seen_seconds)

    if current == 0 and low != 0:
        return done(
            0, "ScalingDisabled", f"scaling is off: the target is at 0 replicas, minReplicas {low}"
        )
    if current > high:
        return done(
            high,
            "AboveMaximum",
            f"maxReplicas {high}: {current} replicas are above it, so the HPA sets {high} "
            "without reading its metrics",
        )
    if current < low:
        return done(
            low,
            "BelowMinimum",
            f"{rules.min_text(low)}: {current} replicas are below it, so the HPA sets {low} "
            "at once, without stabilization or rate limit",
        )
    if proposal is None:
        return done(current, "NoProposal", "no metric proposes a count: the HPA does not scale")
    if held_by_missing:
        return done(
            current,
            "MissingMetric",
            "a metric has no reading: the HPA does not scale down, nor records the proposal",
        )
    history = [(s.proposal, s.at) for s in earlier if s.proposal is not None]
    if not rules.behavior:
        return _without_behavior(proposal, current, now, rules, history, done)
    stabilized = stabilize(
        proposal, current, now, history, rules.scale_up_window, rules.scale_down_window
    )
    held: list[str] = []
    reason = "DesiredWithinRange"
    if stabilized != proposal:
        down = proposal < current
        window = rules.scale_down_window if down else rules.scale_up_window
        inside = [value for value, stamp in history if stamp > now - window] + [proposal]
        which, value = ("largest", max(inside)) if down else ("smallest", min(inside))
        direction = "scaleDown" if down else "scaleUp"
        held.append(
            f"{direction} stabilization ({window:g} s): the {which} proposal since "
            f"{_clock(now - window)} UTC is {value}, so {stabilized}"
        )
        reason = "ScaleDownStabilized" if down else "ScaleUpStabilized"
    up_events, down_events = _events(earlier, now, current)
    limited, limit_reason = limit_rate(stabilized, current, now, spec, up_events, down_events, low)
    if limited != stabilized:
        reason = limit_reason
        if limit_reason == "TooManyReplicas":
            held.append(f"maxReplicas {high}")
        elif limit_reason == "TooFewReplicas":
            held.append(rules.min_text(low))
        elif limit_reason == "ScaleUpLimit" and rules.scale_up_select == "Disabled":
            held.append(f"scaleUp selectPolicy Disabled: the HPA does not scale up, so {limited}")
        elif limit_reason == "ScaleDownLimit" and rules.scale_down_select == "Disabled":
            held.append(
                f"scaleDown selectPolicy Disabled: the HPA does not scale down, so {limited}"
            )
        elif limit_reason == "ScaleUpLimit":
            held.append(
                f"scaleUp rate ({_policies(rules.scale_up_policies, rules.scale_up_select)}"
                f", from the changes seen in each period): at most {limited}"
            )
        else:
            held.append(
                f"scaleDown rate ({_policies(rules.scale_down_policies, rules.scale_down_select)}"
                f", from the changes seen in each period): at least {limited}"
            )
    return done(limited, reason, *held)
