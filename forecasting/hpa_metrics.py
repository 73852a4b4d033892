"""What each of an HPA's metrics proposes, worked out from what the HPA's status shows.

The HPA controller computes one replica count per metric and scales to the largest
(``computeReplicasForMetrics``); it reports the readings in ``status.currentMetrics``
but not the proposals, nor which metric decided (kubernetes/kubernetes#109538). This
module redoes that step from the readings, with the controller's per-metric formulas
(``replica_calculator.go``):

- a reading and its target give ``ratio = current / target`` (whole percents for a
  utilization, whole milli-units otherwise, as the controller divides them), tested
  against the band ``1 - tol_down <= ratio <= 1 + tol_up`` (0.1 each unless the HPA sets
  its own);
- the controller passes each calculator one of three replica counts
  (``computeReplicasForMetrics``): ``specReplicas`` (the scale's ``spec.replicas``, which
  the HPA reports as ``status.currentReplicas``), ``statusReplicas`` (the scale's
  ``status.replicas``: the target's pods, not terminating; an Argo Rollout's scale
  reads its ``status.HPAReplicas``) or, inside the calculator, a
  count of ready pods. Per kind and target type:

  ========================================  ===========  =================================
  metric (calculator)                       inside band  outside band
  ========================================  ===========  =================================
  Resource, ContainerResource, Pods         spec         ``ceil(ratio * ready pods)``
  (``GetResourceReplicas``,                 replicas     (the pods measured, ready)
  ``GetRawResourceReplicas``,
  ``GetMetricReplicas``)
  Object / External ``Value``               spec         ``ceil(ratio * ready pods)``
  (``GetObjectMetricReplicas``,             replicas     (Running and Ready);
  ``GetExternalMetricReplicas``)                         at 0 spec replicas ``ceil(ratio)``
                                                         with no band (scale from zero)
  Object / External ``AverageValue``        status       ``ceil(total / target)``
  (``GetObjectPerPodMetricReplicas``,       replicas
  ``GetExternalPerPodMetricReplicas``)
  ========================================  ===========  =================================

  The per-pod calculators test the band on ``total / (target * statusReplicas)`` and
  report ``ceil(total / statusReplicas)`` milli-units as the reading, so the total is
  only known to within ``statusReplicas - 1`` milli-units: when that spans two
  proposals, both ends are given (``at_least`` to ``replicas``). At 0 status replicas
  that reading is no number, and nothing is proposed. A pod-read metric proposes
  nothing at 0 spec replicas (no pods to read);
- the largest proposal decides: the controller keeps the first metric's proposal and
  replaces it with a strictly larger one, or with any when the kept one is 0. When a
  metric has no reading (the controller could not compute it, and writes an empty
  status entry), it scales up on the others if they propose at least the spec
  replicas, and otherwise does not scale at all, so it never scales down.

What this cannot see, and so leaves out: the pods themselves. The ready and status
counts are the workload's ``status.readyReplicas`` and scale status.replicas as read now,
not as the controller counted them at its last reconcile; for a pod-read metric the
controller's ready count is the running pods it has a sample from, Ready or not (for
cpu, less those it still counts as starting up), and for a Value target the Running and
Ready pods its selector finds, terminating ones included: ``readyReplicas`` only
approximates both; pods not ready yet or without a sample,
which it counts as idle on the way up and busy on the way down, are not seen. The
answer is what the HPA's last reported status implies, not the controller's decision:
what follows this step (``minReplicas`` and ``maxReplicas``, the stabilization windows,
the ``behavior`` rate policies) is ``forecasting.hpa_after_rules``'s, worked on samples
the scaling loop takes once a cycle.
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
    # An Object or External AverageValue metric whose reading (the total over the pods,
    # rounded up) leaves the total open enough to span two proposals: the smallest one
    # (``replicas`` is the largest). None when the proposal is one number.
    at_least: int | None = None

    @property
    def shown(self) -> str:
        """The proposal for people: "7", or "6 to 7" when the reading leaves it open."""
        if self.at_least is not None and self.at_least != self.replicas:
            return f"{self.at_least} to {self.replicas}"
        return str(self.replicas)

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
            **({"proposesAtLeast": self.at_least} if self.at_least is not None else {}),
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
    # The scale's status.replicas and its ready pods used (``current_replicas`` when the
    # caller did not know them).
    status_replicas: int = 0
    ready_replicas: int = 0
    # When a metric's reading leaves its proposal open (its ``at_least``), the smallest
    # count the metrics may lead to (``replicas`` is the largest); None when one number.
    at_least: int | None = None

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
            text = f"{proposal.label} ({shown}) proposes {proposal.shown}"
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
            "statusReplicas": self.status_replicas,
            "readyReplicas": self.ready_replicas,
            "metrics": [p.as_dict() for p in self.proposals],
            "decides": deciding.label if deciding is not None else None,
            "proposes": self.replicas,
            **({"proposesAtLeast": self.at_least} if self.at_least is not None else {}),
            "tolerance": {"scaleUp": self.tolerance_up, "scaleDown": self.tolerance_down},
            "summary": self.sentence(),
            "note": (
                "computed from the HPA's last reported status.currentMetrics, not the "
                "controller's internal state: the pod counts are the workload's as read "
                "now, unready or unsampled pods are not seen, and proposes is before the "
                "stabilization window, behavior policies and min/max (afterRules applies "
                "them, approximately)"
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


def _within(ratio: float, tolerance_up: float, tolerance_down: float) -> bool:
    return 1.0 - tolerance_down <= ratio <= 1.0 + tolerance_up  # ``Tolerances.isWithin``


def _per_pod_total(
    reading: MetricReading,
    ratio: float,
    pods: int,
    tolerance_up: float,
    tolerance_down: float,
) -> MetricProposal:
    """An Object or External metric with an AverageValue target
    (``GetObjectPerPodMetricReplicas``, ``GetExternalPerPodMetricReplicas``): the
    controller sums the metric (``total``), tests ``total / (target * statusReplicas)``
    against the band, proposes ``statusReplicas`` inside it and ``ceil(total / target)``
    outside, and reports ``ceil(total / statusReplicas)`` as the reading. So the total
    is one of ``(reading - 1) * pods + 1 .. reading * pods`` milli-units, and each end
    gives a proposal (the proposal grows with the total: below the band it is at most
    ``pods``, inside it ``pods``, above it more)."""
    assert reading.target is not None and reading.current is not None
    if pods == 0:
        # ceil(total / 0) is no number; the controller proposes ceil(total / target),
        # which its reading does not tell.
        return MetricProposal(
            reading, ratio, None, why="has a per-pod reading taken over 0 pods (no total)"
        )
    wanted, seen = _milli(reading.target), _milli(reading.current)
    if not (0 < wanted < _EXACT and 0 <= seen * pods < _EXACT):
        # Past what whole milli-units hold exactly: the reading times the pods.
        try:
            total = reading.current * pods
        except OverflowError:  # a replica count past any float
            return MetricProposal(
                reading, None, None, why="cannot be worked out at so many replicas"
            )
        if not math.isfinite(total):
            return MetricProposal(reading, ratio, None, why="has a reading too large to work with")
        if _within(total / (reading.target * pods), tolerance_up, tolerance_down):
            return MetricProposal(reading, ratio, pods, within_tolerance=True)
        return MetricProposal(reading, ratio, _ceil(total / reading.target))

    def proposal(total: int) -> tuple[int, bool]:
        if _within(total / (wanted * pods), tolerance_up, tolerance_down):
            return pods, True
        return _ceil(total / wanted), False

    high, high_within = proposal(seen * pods)
    low, low_within = proposal(max(0, (seen - 1) * pods + 1))
    return MetricProposal(
        reading,
        ratio,
        high,
        within_tolerance=high_within and low_within,
        at_least=low if low != high else None,
    )


def _propose(
    reading: MetricReading,
    spec: int,
    pods: int,
    ready: int,
    tolerance_up: float,
    tolerance_down: float,
) -> MetricProposal:
    """One metric's proposal: ``spec`` is the scale's spec.replicas (the HPA's
    status.currentReplicas), ``pods`` its status.replicas and ``ready`` its ready pods."""
    if reading.target is None or not (reading.target > 0 and math.isfinite(reading.target)):
        return MetricProposal(reading, None, None, why="has no target that can be read")
    if reading.current is None or not (reading.current >= 0 and math.isfinite(reading.current)):
        return MetricProposal(reading, None, None, why="has no reading")
    ratio = _ratio(reading, reading.current, reading.target)
    if reading.kind in ("Object", "External") and reading.target_type == "AverageValue":
        return _per_pod_total(reading, ratio, pods, tolerance_up, tolerance_down)
    whole_value = reading.target_type == "Value"
    if spec == 0:
        if whole_value:  # ``getUsageRatioReplicaCount``: scale from zero, ceil(ratio), no band
            return MetricProposal(reading, ratio, _ceil(ratio))
        return MetricProposal(
            reading, ratio, None, why="cannot propose at 0 replicas (no pods to read)"
        )
    if _within(ratio, tolerance_up, tolerance_down):
        return MetricProposal(reading, ratio, spec, within_tolerance=True)
    # Outside the band, the ready pods: Running and Ready for a Value target
    # (``getReadyPodsCount``), the pods measured for a pod-read metric, at least one
    # of which gave the reading.
    count = ready if whole_value else max(ready, 1)
    try:
        scaled = ratio * count
    except OverflowError:  # a replica count past any float (an int32 in the API)
        return MetricProposal(reading, None, None, why="cannot be worked out at so many replicas")
    if not math.isfinite(scaled):
        return MetricProposal(reading, None, None, why="has a reading too large to work with")
    return MetricProposal(reading, ratio, _ceil(scaled))


def explain_metrics(
    readings: tuple[MetricReading, ...] | list[MetricReading],
    current_replicas: int,
    *,
    status_replicas: int | None = None,
    ready_replicas: int | None = None,
    tolerance_up: float | None = None,
    tolerance_down: float | None = None,
) -> MetricsBreakdown:
    """Each metric's replica proposal at ``current_replicas`` and the one that decides.

    ``current_replicas`` is the HPA's ``status.currentReplicas`` (the scale's
    spec.replicas at its last reconcile); ``status_replicas`` and ``ready_replicas``
    the workload's scale status.replicas and ``status.readyReplicas``, None when not
    known (``current_replicas`` is used). ``tolerance_up`` and ``tolerance_down`` are
    the HPA's own (``behavior.scaleUp`` and ``scaleDown.tolerance``), None for the
    controller's default of 0.1."""
    up = DEFAULT_TOLERANCE if tolerance_up is None else tolerance_up
    down = DEFAULT_TOLERANCE if tolerance_down is None else tolerance_down
    spec = max(0, current_replicas)
    pods = spec if status_replicas is None else max(0, status_replicas)
    ready = spec if ready_replicas is None else max(0, ready_replicas)
    proposals = tuple(_propose(r, spec, pods, ready, up, down) for r in readings)
    missing = any(p.replicas is None for p in proposals)
    decides, chosen, held = _decide([p.replicas for p in proposals], spec, missing)
    # A reading that leaves its metric's proposal open (``at_least``) leaves the count
    # open too: the same steps on each metric's smallest proposal give the smallest
    # count (the count only grows with each proposal).
    _, low, _ = _decide(
        [p.replicas if p.at_least is None else p.at_least for p in proposals], spec, missing
    )
    return MetricsBreakdown(
        spec,
        proposals,
        decides,
        chosen,
        held,
        up,
        down,
        pods,
        ready,
        at_least=low if low != chosen else None,
    )


def _decide(
    values: list[int | None], spec: int, missing: bool
) -> tuple[int | None, int | None, bool]:
    """The metric that decides (its index), the count the metrics lead to and whether a
    metric without a reading holds it at ``spec``, as ``computeReplicasForMetrics``."""
    decides: int | None = None
    for index, value in enumerate(values):
        if value is None:
            continue
        best = None if decides is None else values[decides]
        # ``computeReplicasForMetrics``: ``replicas == 0 || replicaCountProposal > replicas``
        if best is None or best == 0 or value > best:
            decides = index
    chosen = None if decides is None else values[decides]
    if chosen is not None and missing and chosen < spec:
        # ``invalidMetricsCount > 0 && replicas < specReplicas``: no scaling this cycle.
        return decides, spec, True
    return decides, chosen, False
