"""What a detector says about one observed point: the score, the band it expected, and why."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["EXPLAINED_SCORE", "AnomalyPoint", "Reason"]

# A point scoring at least this always has a reason other than "none" (the daemon's and
# ``autonomic detect``'s default threshold, 0.69, is above it): a flagged point says why.
EXPLAINED_SCORE = 0.5


class Reason(StrEnum):
    """Why a point scored as it did. ``NONE`` means "looked normal"; a point scoring
    ``EXPLAINED_SCORE`` or more never has it."""

    NONE = "none"
    WARMING_UP = "warming_up"  # not enough data yet to judge; the score is 0
    MISSING = "missing"  # no value (NaN, a gap, a duplicate timestamp): never fires
    SPIKE = "spike"  # far above what the baseline expected
    DIP = "dip"  # far below what the baseline expected
    # the mean moved and stayed moved (CUSUM): small deviations that persist, so the value
    # itself may be inside the band
    LEVEL_SHIFT = "level_shift"
    TREND_CHANGE = "trend_change"  # the slope changed
    VARIANCE_CHANGE = "variance_change"  # the noise level changed
    SEASONALITY_BREAK = "seasonality_break"  # normal for the level, wrong for the time of day
    # inside the expected band, but the recent sequence of values has not been seen before
    # (the contextual detector's finding: values each ordinary, in an order never learnt)
    UNUSUAL_PATTERN = "unusual_pattern"
    # +Inf or -Inf for a few steps running (``forecasting.anomaly.off_scale``): beyond what
    # the metric can measure (a ``histogram_quantile`` past its largest finite bucket), so
    # neither scored by the detector nor learnt from; the loop opens an incident on it
    OFF_SCALE = "off_scale"


@dataclass(frozen=True, slots=True)
class AnomalyPoint:
    """One scored observation.

    ``score`` in [0, 1] ranks how unusual the point is *and* whether it is news: after a
    point fires, the same ongoing anomaly scores low again unless it gets worse, so a
    threshold on ``score`` alerts once per incident rather than once per point.
    ``confidence`` in [0, 1] is the probability, under the detector's learned model of
    normal behaviour, that a normal point would look less unusual than this one (one minus
    a tail probability); it is not tied to the refractory logic and is what the decision
    layer should route on. ``expected``/``lower``/``upper`` are the one-step baseline and
    its band (NaN before the detector has seen a value).
    """

    timestamp: float
    observed: float
    score: float
    confidence: float
    expected: float
    lower: float
    upper: float
    reason: Reason

    @property
    def is_missing(self) -> bool:
        return math.isnan(self.observed)
