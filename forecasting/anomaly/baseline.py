"""The forecast-residual detector: a seasonal one-step baseline and the scale of its errors.

The baseline is seasonal-naive with a level correction when the history shows a daily or
weekly cycle (checked now and then by autocorrelation, so a cycle is learnt, not assumed),
and a fast exponential level otherwise. A cycle is found once three of its periods fit in
the history kept: a day at steps of 30 s or more (the detector keeps three days for it),
a week at steps of about 10 minutes or more with the default 4,096 points. At finer steps
a weekly pattern is not forecast; the level correction and the score's likelihood learn
it instead, so after the first weeks it is rarely scored as anomalous (tested). The error
scale is a winsorised mean absolute error, so one outlier in the history does not blind
the detector for days.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

import numpy as np

from forecasting.anomaly._state import (
    decode_float,
    decode_floats,
    encode_float,
    pack,
    require,
    unpack,
)

__all__ = ["SeasonalBaseline", "detect_period"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_MAD_TO_SIGMA = 1.2533  # mean absolute deviation -> standard deviation, for normal noise


def detect_period(
    history: np.ndarray[Any, Any], candidates: tuple[int, ...], min_acf: float
) -> int:
    """The candidate lag with the strongest autocorrelation above ``min_acf``, else 0.

    The series is detrended with a moving average one period long (which removes the
    trend but keeps the cycle) before the lag-``p`` autocorrelation is measured; NaNs are
    skipped pairwise.
    """
    best, best_acf = 0, min_acf
    n = history.shape[0]
    for period in candidates:
        if n < 3 * period:
            continue
        valid = ~np.isnan(history)
        filled = np.where(valid, history, 0.0)
        csum = np.concatenate(([0.0], np.cumsum(filled)))
        ccount = np.concatenate(([0], np.cumsum(valid)))
        sums = csum[period:] - csum[:-period]
        counts = ccount[period:] - ccount[:-period]
        with np.errstate(invalid="ignore", divide="ignore"):
            moving = sums / counts
        # align the trailing moving average with the window's centre
        half = period // 2
        centred = np.full(n, np.nan)
        centred[half : half + moving.shape[0]] = moving
        detrended = history - centred
        a, b = detrended[period:], detrended[:-period]
        pair = ~(np.isnan(a) | np.isnan(b))
        if pair.sum() < period:
            continue
        a, b = a[pair] - a[pair].mean(), b[pair] - b[pair].mean()
        denominator = math.sqrt(float((a * a).sum() * (b * b).sum()))
        if denominator <= 0.0:
            continue
        acf = float((a * b).sum()) / denominator
        if acf > best_acf:
            best, best_acf = period, acf
    return best


class SeasonalBaseline:
    """One-step-ahead expected value and error scale, learnt online."""

    __slots__ = (
        "_adjust",
        "_count",
        "_level",
        "_pos",
        "_ring",
        "_scale",
        "_seen",
        "candidates",
        "level_alpha",
        "min_acf",
        "offset_alpha",
        "period",
        "recheck",
        "scale_alpha",
    )

    def __init__(
        self,
        candidates: tuple[int, ...],
        *,
        history: int,
        recheck: int = 288,
        min_acf: float = 0.5,
        level_alpha: float = 0.5,
        offset_alpha: float = 0.1,
        scale_alpha: float = 0.02,
    ) -> None:
        self.candidates = tuple(c for c in candidates if c >= 2 and 3 * c <= history)
        self.recheck = max(1, recheck)
        self.min_acf = min_acf
        self.level_alpha = level_alpha
        self.offset_alpha = offset_alpha
        self.scale_alpha = scale_alpha
        self.period = 0
        # float32: 4 bytes a point (three days of minutes is 17 KB a series, not 35). Seven
        # significant digits are far finer than the noise floor the scores use (a
        # thousandth of the level), and NAB's scores came out the same.
        self._ring = array("f", [math.nan]) * max(1, history)
        self._pos = 0  # next slot to write
        self._count = 0  # slots written, gaps included
        self._seen = 0  # real values observed
        self._level = math.nan
        self._adjust = 0.0  # level correction on top of the seasonal reference
        self._scale = math.nan  # winsorised mean absolute one-step error

    @property
    def capacity(self) -> int:
        """Points of history kept."""
        return len(self._ring)

    # -- reading -------------------------------------------------------------------
    def reference(self) -> float:
        """The same phase one and two periods ago (their mean), NaN if unknown."""
        period = self.period
        if not period:
            return math.nan
        ring, size, pos = self._ring, len(self._ring), self._pos
        one = ring[(pos - period) % size] if self._count >= period else math.nan
        two = ring[(pos - 2 * period) % size] if self._count >= 2 * period else math.nan
        if math.isnan(one):
            return two
        if math.isnan(two):
            return one
        return 0.5 * (one + two)

    def envelope(self, lag: int, width: int) -> tuple[float, float]:
        """Lowest and highest value seen within +/- ``width`` points of the same phase one
        and two ``lag`` ago (NaN, NaN when none is known). A value inside this envelope has
        happened at this time of day before, so it is not news even if the forecast missed."""
        if not lag or self._count < lag + width:
            return math.nan, math.nan
        ring, size, pos = self._ring, len(self._ring), self._pos
        span = 2 * width + 1
        seen: list[float] = []
        for back in (lag, 2 * lag):
            if back + width > self._count or back + width >= size:
                break
            start = (pos - back - width) % size
            stop = start + span
            seen += ring[start:stop] if stop <= size else ring[start:] + ring[: stop - size]
        if not seen:
            return math.nan, math.nan
        low, high = min(seen), max(seen)
        if math.isnan(low) or math.isnan(high):  # gaps in the history: look past them
            seen = [v for v in seen if not math.isnan(v)]
            if not seen:
                return math.nan, math.nan
            low, high = min(seen), max(seen)
        return low, high

    def expect(self) -> tuple[float, float]:
        """(expected value, seasonal reference or NaN) for the next point."""
        ref = self.reference()
        if not math.isnan(ref):
            return ref + self._adjust, ref
        return self._level, math.nan

    def range(self) -> tuple[float, float]:
        """The lowest and highest value in the history kept (NaN, NaN when none is)."""
        kept = np.frombuffer(self._ring, dtype=np.float32)
        kept = kept[~np.isnan(kept)]
        if not kept.size:
            return math.nan, math.nan
        return float(kept.min()), float(kept.max())

    def sigma(self, floor: float) -> float:
        scale = self._scale
        if math.isnan(scale):
            return floor
        return max(_MAD_TO_SIGMA * scale, floor)

    @property
    def seen(self) -> int:
        return self._seen

    # -- learning --------------------------------------------------------------------
    def observe(self, value: float, expected: float, reference: float) -> None:
        """Learn from a real value, after it has been scored against ``expected``."""
        if not math.isnan(expected):
            error = abs(value - expected)
            scale = self._scale
            if math.isnan(scale):
                self._scale = error
            else:
                limit = 4.0 * scale if scale > 0 else error
                self._scale = scale + self.scale_alpha * (min(error, limit) - scale)
        if not math.isnan(reference):
            gap = value - reference
            self._adjust += self.offset_alpha * (gap - self._adjust)
        level = self._level
        self._level = value if math.isnan(level) else level + self.level_alpha * (value - level)
        self._seen += 1
        self._push(value)

    def skip(self) -> None:
        """A missing point: keep the phase aligned, learn nothing."""
        self._push(math.nan)

    def _push(self, value: float) -> None:
        ring = self._ring
        # beyond float32's range (3.4e38) a value is kept as a gap, never as infinity
        ring[self._pos] = value if -_FLOAT32_MAX <= value <= _FLOAT32_MAX else math.nan
        self._pos = (self._pos + 1) % len(ring)
        self._count += 1
        if self.candidates and self._count % self.recheck == 0:
            self._recheck_period()

    def _recheck_period(self) -> None:
        size = len(self._ring)
        if self._count < size:
            chronological = self._ring[: self._count]
        else:
            chronological = self._ring[self._pos :] + self._ring[: self._pos]
        period = detect_period(
            np.asarray(chronological, dtype=np.float64), self.candidates, self.min_acf
        )
        if period != self.period:
            self.period = period
            self._adjust = 0.0

    # -- persistence -------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "ring": pack(np.frombuffer(self._ring, dtype=np.float32)),
            "pos": self._pos,
            "count": self._count,
            "seen": self._seen,
            "level": encode_float(self._level),
            "adjust": self._adjust,
            "scale": encode_float(self._scale),
        }

    def restore(self, state: dict[str, Any]) -> None:
        saved = require(state, "ring")
        if isinstance(saved, list):  # saved before rings were packed
            values = np.array(decode_floats(saved, "baseline.ring"), dtype=np.float64)
        else:  # float64 before rings were float32
            values = unpack(saved, "baseline.ring", ("<f4", "<f8"))
        with np.errstate(invalid="ignore"):
            values = np.where(np.abs(values) <= _FLOAT32_MAX, values, np.nan)  # a gap
        ring: array[float] = array("f")
        ring.frombytes(values.astype(np.float32).tobytes())
        if not ring:
            raise ValueError("saved baseline history is empty")
        pos = int(require(state, "pos")) % len(ring)
        count = int(require(state, "count"))
        if len(ring) == len(self._ring):
            self._ring = ring
            self._pos = pos
        else:
            # Saved by a detector that kept a different amount of history (an older
            # default, or another ``history``): keep the newest points, oldest first.
            kept = ring[pos:] + ring[:pos] if count >= len(ring) else ring[:count]
            kept = kept[-len(self._ring) :]
            self._ring = array("f", [math.nan]) * len(self._ring)
            self._ring[: len(kept)] = array("f", kept)
            self._pos = len(kept) % len(self._ring)
            count = len(kept)
        self.period = int(require(state, "period"))
        if self.period and 3 * self.period > len(self._ring):
            self.period = 0  # no longer checkable with this much history
        self._count = count
        self._seen = int(require(state, "seen"))
        self._level = decode_float(require(state, "level"), "baseline.level")
        self._adjust = decode_float(require(state, "adjust"), "baseline.adjust")
        self._scale = decode_float(require(state, "scale"), "baseline.scale")
