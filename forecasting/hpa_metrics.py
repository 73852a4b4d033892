"""What each of an HPA's metrics proposes, worked out from what the HPA's status shows.

The HPA controller computes one replica count per metric and scales to the largest
(``computeReplicasForMetrics``); it reports the readings in ``status.currentMetrics``
but not the proposals, nor which metric decided (kubernetes/kubernetes#109538). This
module redoes that step from the readings, with the controller's per-metric formulas
(``replica_calculator.go``):

- a reading and its target give ``ratio = current / target`` (whole percents for a
  utilization, whole milli-units otherwise, as the controller divides them);
- inside the tolerance band ``1 - tol_down <= ratio <= 1 + tol_up`` (0.1 each unless the
  HPA sets its own) the metric proposes the current replica count, outside it
  ``ceil(ratio * replicas)``;
- a ``Value`` target (Object and External metrics) is compared with the metric's whole
  value, not a per-pod share, and at 0 replicas proposes ``ceil(ratio)`` with no band
  (scale from zero); every other kind reads the pods, so at 0 replicas there is nothing
  to propose from;
- an ``AverageValue`` target of an Object or External metric is reported per pod (the
  total divided by the replica count), so its ratio is the same per-pod share and its
  proposal ``ceil(total / target)`` is ``ceil(ratio * replicas)`` again;
- the largest proposal decides (the first metric in the spec's order on a tie, as the
  controller only replaces its choice with a strictly larger one); when a metric has
  no reading, the controller scales up on the others if they say so and otherwise does
  not scale at all, so it never scales down.

What this cannot see, and so leaves out: the controller's own state and the pods'
(``replicas`` here is the HPA's ``status.currentReplicas``, where the controller uses
the ready pods for some kinds; pods not ready yet or without a sample, which it counts
as idle on the way up and busy on the way down; the integer truncation of its inputs),
and everything after this step: the stabilization window, the ``behavior`` rate
policies, ``minReplicas`` and ``maxReplicas``. The answer is what the HPA's last
reported status implies, not the controller's decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "DEFAULT_TOLERANCE",
    "MetricProposal",
    "MetricReading",
    "MetricsBreakdown",
    "explain_metrics",
]

DEFAULT_TOLERANCE = 0.1  # --horizontal-pod-autoscaler-tolerance


@dataclass(frozen=True)
class MetricReading:
    """One entry of an HPA's ``spec.metrics`` with its reading from ``status.currentMetrics``.

    ``kind`` is the metric's type (Resource, ContainerResource, Pods, Object, External),
    ``name`` its resource or metric name, ``target_type`` Utilization, AverageValue or
    Value. ``target`` and ``current`` are numbers (a utilization in percent, a quantity
    as a plain number); ``current`` is None when the status has no reading for it, and
    ``target`` None when the spec's target cannot be read. ``target_text`` and
    ``current_text`` are as the HPA writes them, for people."""

    kind: str
    name: str
    target_type: str
    target: float | None
    current: float | None
    target_text: str = ""
    current_text: str = ""


@dataclass(frozen=True)
class MetricProposal:
    """What one metric proposes: ``replicas`` None when it proposes nothing (``why``)."""

    reading: MetricReading
    ratio: float | None
    replicas: int | None
    within_tolerance: bool = False
    why: str = ""

    @property
    def label(self) -> str:
        return self.reading.name or self.reading.kind

    def as_dict(self) -> dict[str, object]:
        r = self.reading
        return {
            "type": r.kind,
            "name": r.name,
            "targetType": r.target_type,
            "target": r.target_text or _number(r.target),
            "current": (r.current_text or _number(r.current)) if r.current is not None else None,
            "ratio": round(self.ratio, 4) if self.ratio is not None else None,
            "proposes": self.replicas,
            "withinTolerance": self.within_tolerance,
            **({"why": self.why} if self.why else {}),
        }


@dataclass(frozen=True)
class MetricsBreakdown:
    """Each metric's proposal at ``current_replicas``, the one that decides (its index in
    ``proposals``, None when none proposes anything) and the count the metrics lead to
    (None when none can be computed: the HPA does not scale on its metrics)."""

    current_replicas: int
    proposals: tuple[MetricProposal, ...]
    decides: int | None
    replicas: int | None
    held_by_missing: bool  # a metric without a reading keeps the HPA from scaling down
    tolerance_up: float = DEFAULT_TOLERANCE
    tolerance_down: float = DEFAULT_TOLERANCE

    @property
    def deciding(self) -> MetricProposal | None:
        return None if self.decides is None else self.proposals[self.decides]

    def sentence(self) -> str:
        """One line for a person: each metric's proposal, which decides, and the caveat."""
        if not self.proposals:
            return "the HPA names no metric"
        parts = []
        for index, proposal in enumerate(self.proposals):
            if proposal.replicas is None:
                parts.append(f"{proposal.label} {proposal.why}")
                continue
            reading = proposal.reading
            shown = (
                f"{reading.current_text or _number(reading.current)} of "
                f"{reading.target_text or _number(reading.target)}"
            )
            text = f"{proposal.label} ({shown}) proposes {proposal.replicas}"
            if index == self.decides and len(self.proposals) > 1:
                text += " (decides)"
            parts.append(text)
        text = f"at {self.current_replicas} replicas: " + ", ".join(parts)
        if self.replicas is None and all(p.reading.current is None for p in self.proposals):
            # The controller writes no reading at all when it did not read its metrics:
            # replicas outside minReplicas..maxReplicas (it moves them inside first, as
            # just after a floor is raised) or at 0 with minReplicas above 0 (off).
            text += (
                "; the HPA's status has no reading of any metric: its replicas were outside "
                "its min/max or at 0 (it moves them inside without reading its metrics), "
                "or no metric could be read (it does not scale)"
            )
        elif self.replicas is None:
            text += "; no metric can be computed, so the HPA does not scale"
        elif self.held_by_missing:
            text += (
                f"; a metric has no reading, so the HPA does not scale down: it stays at "
                f"{self.replicas}"
            )
        return text + " (from the HPA's last reported status, before its min/max and behavior)"

    def as_dict(self) -> dict[str, object]:
        deciding = self.deciding
        return {
            "currentReplicas": self.current_replicas,
            "metrics": [p.as_dict() for p in self.proposals],
            "decides": deciding.label if deciding is not None else None,
            "proposes": self.replicas,
            "tolerance": {"scaleUp": self.tolerance_up, "scaleDown": self.tolerance_down},
            "summary": self.sentence(),
            "note": (
                "computed from the HPA's last reported status.currentMetrics, not the "
                "controller's internal state: unready or unsampled pods, the stabilization "
                "window, behavior policies and min/max are not applied"
            ),
        }


def _number(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:g}"


# The most replicas a proposal can be: the controller's counts are int32, and it caps a
# larger proposal here (``getUsageRatioReplicaCount``, ``GetExternalPerPodMetricReplicas``).
_MAX_PROPOSAL = 2**31 - 1


def _ceil(value: float) -> int:
    return min(math.ceil(value), _MAX_PROPOSAL)


def _milli(value: float) -> int:
    """A quantity in whole milli-units, rounded up, as ``Quantity.MilliValue`` gives it
    (of the decimal the float was read from: 2.007 is 2007, where ``ceil(2.007 * 1000)``
    is 2008)."""
    if abs(value) < 1e12:
        # The common case, without a Fraction: a float that is some n / 1000 of fewer
        # than 16 digits is read from that decimal and no other, so it is n.
        whole = round(value * 1000)
        if whole / 1000 == value:
            return whole
    return math.ceil(Fraction(repr(value)) * 1000)


# Below this, a whole number is a float exactly, and one float divided by another is the
# quotient correctly rounded: what the controller's float64(a) / float64(b) gives.
_EXACT = 2**53


def _ratio(reading: MetricReading, current: float, target: float) -> float:
    """``current / target`` as the controller divides them: whole percents for a
    utilization, whole milli-units for every other target. Dividing the floats instead
    rounds twice, and a reading right on the band's edge falls out of it (90m of 100m
    is 0.9 to the controller, inside; 0.09 / 0.1 is 0.8999999999999999, outside)."""
    if reading.target_type == "Utilization":
        return current / target
    wanted, seen = _milli(target), _milli(current)
    if 0 < wanted < _EXACT and seen < _EXACT:
        return seen / wanted
    return current / target  # past what milli-units of an int64 hold: near enough


def _propose(
    reading: MetricReading, replicas: int, tolerance_up: float, tolerance_down: float
) -> MetricProposal:
    if reading.target is None or not (reading.target > 0 and math.isfinite(reading.target)):
        return MetricProposal(reading, None, None, why="has no target that can be read")
    if reading.current is None or not (reading.current >= 0 and math.isfinite(reading.current)):
        return MetricProposal(reading, None, None, why="has no reading")
    ratio = _ratio(reading, reading.current, reading.target)
    try:
        scaled = ratio * max(replicas, 1)
    except OverflowError:  # a replica count past any float (an int32 in the API)
        return MetricProposal(reading, None, None, why="cannot be worked out at so many replicas")
    if not math.isfinite(scaled):
        return MetricProposal(reading, None, None, why="has a reading too large to work with")
    whole_value = reading.target_type == "Value"
    if replicas == 0:
        if whole_value:  # scale from zero: ceil(ratio), no tolerance band
            return MetricProposal(reading, ratio, _ceil(ratio))
        return MetricProposal(
            reading, ratio, None, why="cannot propose at 0 replicas (no pods to read)"
        )
    if 1.0 - tolerance_down <= ratio <= 1.0 + tolerance_up:
        return MetricProposal(reading, ratio, replicas, within_tolerance=True)
    return MetricProposal(reading, ratio, _ceil(ratio * replicas))


def explain_metrics(
    readings: tuple[MetricReading, ...] | list[MetricReading],
    current_replicas: int,
    *,
    tolerance_up: float | None = None,
    tolerance_down: float | None = None,
) -> MetricsBreakdown:
    """Each metric's replica proposal at ``current_replicas`` and the one that decides.

    ``tolerance_up`` and ``tolerance_down`` are the HPA's own (``behavior.scaleUp`` and
    ``scaleDown.tolerance``), None for the controller's default of 0.1."""
    up = DEFAULT_TOLERANCE if tolerance_up is None else tolerance_up
    down = DEFAULT_TOLERANCE if tolerance_down is None else tolerance_down
    replicas = max(0, current_replicas)
    proposals = tuple(_propose(r, replicas, up, down) for r in readings)
    decides: int | None = None
    for index, proposal in enumerate(proposals):
        if proposal.replicas is None:
            continue
        best = None if decides is None else proposals[decides].replicas
        if best is None or proposal.replicas > best:
            decides = index
    missing = any(p.replicas is None for p in proposals)
    chosen = None if decides is None else proposals[decides].replicas
    held = False
    if chosen is not None and missing and chosen < replicas:
        chosen, held = replicas, True
    return MetricsBreakdown(replicas, proposals, decides, chosen, held, up, down)
