"""Infinite values of an anomaly series: off the metric's scale, not gaps, not numbers.

Prometheus answers +Inf for a ``histogram_quantile`` whose quantile fell in the ``+Inf``
bucket (every request of the window, or its slowest share, slower than the largest
finite ``le``): the worst latency a histogram can report, not "no data". -Inf is no
measurement at all (a quantile below 0, a broken expression). Neither is a number a
baseline can learn from (one +Inf would make its mean and spread infinite), nor one a
score can rank, so the detector takes such a point as a gap; the anomaly loop counts the
run of them instead. A run of ``OFF_SCALE_AFTER`` steps opens an incident (reason
``off_scale``): a single +Inf can be one slow request in a quiet minute, three running
are not. A finite value ends the run; a NaN (no requests) or a point under the query's
``minVolume`` holds it (it says nothing of whether the value came back on the scale),
as the canary judge's count does, but not for as long as the loop takes to drop an open
incident as silent (``GAP_RESETS_INCIDENT`` steps with no real point): after that much
silence the next infinite point starts a new run.

The confidence such an incident is sent with cannot come from the NAB calibration's map
(``forecasting.anomaly.calibration``): that maps the detector's score of a finite point,
and this point has none. It is chosen, per side, from the ends of that map, so that an
off-scale incident routes as the anomalies the runbooks, their track records and the
configuration checks already know (no anomaly signal carries more than the map's top):
+Inf is ``PLUS_CONFIDENCE``, the map's top (0.647, as sure as the surest incident the
detector opens: the value is certainly beyond the scale, but there is no record that
such incidents are more often real, and a histogram whose buckets are merely too small
gives +Inf too); -Inf is ``MINUS_CONFIDENCE``, the map's bottom (0.134: most likely a
broken query, not a workload to act on). With no record, a runbook an anomaly starts
escalates at the default ``routing.ask`` either way, as for any anomaly.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from forecasting.anomaly.calibration import NAB
from forecasting.anomaly.point import AnomalyPoint, Reason

if TYPE_CHECKING:
    from forecasting.anomaly.detector import Detector

__all__ = [
    "MINUS_CONFIDENCE",
    "OFF_SCALE_AFTER",
    "PLUS_CONFIDENCE",
    "as_json",
    "from_json",
    "next_run",
    "off_scale_advice",
    "off_scale_confidence",
    "off_scale_point",
    "score_value",
    "shown",
]

OFF_SCALE_AFTER = 3  # infinite points running (NaN between them held) that open an incident
PLUS_CONFIDENCE = max(NAB.probabilities)  # 0.647
MINUS_CONFIDENCE = min(NAB.probabilities)  # 0.134


def off_scale_point(
    timestamp: float, value: float, run: int, expected: float, lower: float, upper: float
) -> AnomalyPoint:
    """The point an infinite ``value`` is to the incident tracker, ``run`` being the
    infinite points running up to it (itself included); ``expected``, ``lower`` and
    ``upper`` are the detector's band for it (NaN before it has learnt any value).

    Its confidence is 1: no value of the learnt model looks as unusual as one off its
    scale, so it keeps an incident open that is (a spike whose latency then goes to
    +Inf is the same incident, getting worse). Its score, what opens one, is 1 from the
    ``OFF_SCALE_AFTER``-th point of the run on, and 0 before."""
    if not math.isinf(value):
        raise ValueError(f"an off-scale point is +Inf or -Inf, not {value!r}")
    score = 1.0 if run >= OFF_SCALE_AFTER else 0.0
    return AnomalyPoint(timestamp, value, score, 1.0, expected, lower, upper, Reason.OFF_SCALE)


def next_run(run: int, value: float) -> int:
    """The infinite points running once ``value`` is read, ``run`` running before it:
    one more for +Inf or -Inf, none after a finite value, and ``run`` as it was after a
    NaN (no measurement: it says nothing of whether the value came back on the scale).
    A point the caller takes as a gap whatever its value (under a ``minVolume``) is not
    passed here at all: it holds the run too."""
    if math.isinf(value):
        return run + 1
    return run if math.isnan(value) else 0


def score_value(detector: Detector, timestamp: float, value: float, run: int) -> AnomalyPoint:
    """The point ``value`` at ``timestamp`` is, ``run`` being ``next_run``'s count with
    it: a finite value or NaN as ``detector`` scores it (and learns it); +Inf or -Inf
    never learnt (the detector takes it as a gap: one would make its baseline infinite)
    but ``off_scale_point`` with the band the detector expected there. What the anomaly
    loop and ``autonomic detect`` both score a point with."""
    if math.isinf(value):
        gap = detector.update(timestamp, math.nan)
        return off_scale_point(timestamp, value, run, gap.expected, gap.lower, gap.upper)
    return detector.update(timestamp, value)


def off_scale_confidence(value: float) -> float:
    """The confidence an incident opened on an infinite ``value`` is sent with (see the
    module's text for why these figures)."""
    return PLUS_CONFIDENCE if value > 0 else MINUS_CONFIDENCE


def off_scale_advice(value: float) -> str:
    """What an infinite ``value`` of a series most likely means, and what to do."""
    if value > 0:
        return (
            "for a histogram_quantile (a p99 latency) that means the quantile is beyond the "
            "histogram's largest finite bucket (+Inf): the requests are slower than it can "
            "measure; add buckets with a larger le, or check the query"
        )
    return "that is no measurement (a quantile below 0, a broken expression): check the query"


def shown(value: float) -> str:
    """+Inf and -Inf as Prometheus writes them; NaN as "NaN"; other values to 4 figures."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"


def as_json(value: float) -> float | str:
    """``value`` as JSON can hold it (the ledger writes no NaN or infinity): a finite
    value as it is, +Inf, -Inf and NaN as Prometheus's words for them, which ``float``
    reads back."""
    return value if math.isfinite(value) else shown(value)


def from_json(value: Any) -> float:
    """A value ``as_json`` wrote (or a plain number)."""
    return float(value)
