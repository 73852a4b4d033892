"""A typed, validated time series: the one input every numeric routine accepts.

Timestamps are float seconds since the epoch (UTC). Values are floats; NaN marks a
missing sample (a gap, a stale point, a scrape that failed). Nothing here fabricates
values: cleaning that fills or drops points is explicit and lives in ``cleaning``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["FloatArray", "Series", "SeriesError", "make_series"]

FloatArray = npt.NDArray[np.float64]


class SeriesError(ValueError):
    """The input cannot form a series; the message says what is wrong and where."""


@dataclass(frozen=True, eq=False)
class Series:
    """Evenly spaced samples. ``values[i]`` was observed at ``timestamps[i]``.

    ``step`` is the spacing in seconds. Missing samples are NaN, never absent, so
    ``len(timestamps) == len(values)`` and ``timestamps[i] == start + i * step``.
    """

    timestamps: FloatArray
    values: FloatArray
    step: float
    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def start(self) -> float:
        return float(self.timestamps[0])

    @property
    def end(self) -> float:
        return float(self.timestamps[-1])

    @property
    def missing(self) -> npt.NDArray[np.bool_]:
        """True where the sample is missing (NaN)."""
        return np.isnan(self.values)

    def tail(self, n: int) -> Series:
        return Series(self.timestamps[-n:], self.values[-n:], self.step, self.name, self.labels)


def make_series(
    timestamps: Sequence[float] | FloatArray,
    values: Sequence[float] | FloatArray,
    *,
    step: float | None = None,
    name: str = "",
    labels: dict[str, str] | None = None,
    max_gap_fraction: float = 1.0,
) -> Series:
    """Validate raw samples and put them on a regular grid.

    - timestamps must be finite and strictly increasing (duplicates and reordering are
      errors: the caller decides how to resolve them, nothing is silently dropped);
    - ``step`` defaults to the median spacing; samples off the grid are snapped to the
      nearest slot, and slots with no sample become NaN (an explicit gap);
    - +/-Inf values are treated as missing (NaN), since no metric is truly infinite.
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    vs = np.asarray(values, dtype=np.float64)
    if ts.ndim != 1 or vs.ndim != 1:
        raise SeriesError("timestamps and values must be one-dimensional")
    if ts.shape[0] != vs.shape[0]:
        raise SeriesError(
            f"{ts.shape[0]} timestamps but {vs.shape[0]} values: every value needs a timestamp"
        )
    if ts.shape[0] == 0:
        raise SeriesError("the series is empty")
    if not np.all(np.isfinite(ts)):
        bad = int(np.flatnonzero(~np.isfinite(ts))[0])
        raise SeriesError(f"timestamp at position {bad} is not a finite number")
    with np.errstate(over="ignore"):  # -1e308 then 1e308: +inf, still "increasing"
        diffs = np.diff(ts)
    if ts.shape[0] > 1:
        if np.any(diffs == 0):
            bad = int(np.flatnonzero(diffs == 0)[0]) + 1
            raise SeriesError(f"duplicate timestamp {ts[bad]!r} at position {bad}")
        if np.any(diffs < 0):
            bad = int(np.flatnonzero(diffs < 0)[0]) + 1
            raise SeriesError(
                f"timestamps go backwards at position {bad} ({ts[bad - 1]!r} then {ts[bad]!r})"
            )
    if step is None:
        with np.errstate(over="ignore"):  # spacings near 1e308 average to +inf: refused below
            step = float(np.median(diffs)) if ts.shape[0] > 1 else 60.0
    if not (step > 0 and np.isfinite(step)):
        raise SeriesError(f"step must be a positive number of seconds, got {step!r}")
    vs = np.where(np.isfinite(vs), vs, np.nan)
    # Measure the span in floats before casting slot numbers to integers: a far-off
    # timestamp (1e20 s, or 1e300) would overflow int64 into a negative slot count.
    with np.errstate(over="ignore"):
        last_slot = float(np.rint((ts[-1] - ts[0]) / step))
    if not last_slot + 1 <= 50_000_000:
        count = f"{last_slot + 1:.0f}" if last_slot < 1e15 else f"{last_slot + 1:.3g}"
        raise SeriesError(f"the series would span {count} slots of {step} s; is the step right?")
    slots = np.rint((ts - ts[0]) / step).astype(np.int64)
    n = int(slots[-1]) + 1
    grid_ts = ts[0] + step * np.arange(n, dtype=np.float64)
    # A step finer than the timestamps' float precision (above 2**53 s, one second is
    # below it) would give two slots the same time: the grid must strictly increase.
    if n > 1 and not np.all(np.diff(grid_ts) > 0):
        raise SeriesError(
            f"a step of {step} s is finer than the timestamps' precision near {float(ts[0])!r}"
        )
    grid_vs = np.full(n, np.nan)
    grid_vs[slots] = vs  # if two samples snap to one slot, the later one wins
    if n and np.isnan(grid_vs).mean() > max_gap_fraction:
        raise SeriesError(
            f"{np.isnan(grid_vs).mean():.0%} of the series is missing "
            f"(more than the allowed {max_gap_fraction:.0%})"
        )
    return Series(grid_ts, grid_vs, float(step), name, dict(labels or {}))
