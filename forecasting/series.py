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

__all__ = ["FloatArray", "Series", "SeriesError", "SlotCollisionError", "make_series", "plain"]

FloatArray = npt.NDArray[np.float64]


class SeriesError(ValueError):
    """The input cannot form a series; the message says what is wrong and where."""


class SlotCollisionError(SeriesError):
    """With the given step, two or more samples would land on the same grid slot.

    ``collisions`` samples fall on a slot already taken by the sample before them;
    ``spacing`` is a finer step that places every sample (the timestamps' median
    spacing), or None when the samples are too uneven for one; ``summary`` is the
    message without the advice, for callers that phrase the advice their own way.
    """

    def __init__(
        self, summary: str, advice: str, *, collisions: int, spacing: float | None
    ) -> None:
        super().__init__(f"{summary}; {advice}")
        self.summary = summary
        self.collisions = collisions
        self.spacing = spacing


def plain(value: float) -> str:
    """A number as a person writes it: ``60`` and ``0.5``, never ``np.float64(60.0)``."""
    number = float(value)
    if number.is_integer() and abs(number) < 1e16:
        return str(int(number))
    return repr(number)


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
    - a ``step`` given explicitly that puts two samples on one slot (a step coarser
      than the data) is an error (``SlotCollisionError``): no sample is dropped;
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
            raise SeriesError(f"duplicate timestamp {plain(ts[bad])} at position {bad}")
        if np.any(diffs < 0):
            bad = int(np.flatnonzero(diffs < 0)[0]) + 1
            raise SeriesError(
                f"timestamps go backwards at position {bad} "
                f"({plain(ts[bad - 1])} then {plain(ts[bad])})"
            )
    given_step = step is not None
    if step is None:
        with np.errstate(over="ignore"):  # spacings near 1e308 average to +inf: refused below
            step = float(np.median(diffs)) if ts.shape[0] > 1 else 60.0
    if not (step > 0 and np.isfinite(step)):
        raise SeriesError(f"step must be a positive number of seconds, got {plain(step)}")
    vs = np.where(np.isfinite(vs), vs, np.nan)
    # Measure the span in floats before casting slot numbers to integers: a far-off
    # timestamp (1e20 s, or 1e300) would overflow int64 into a negative slot count.
    with np.errstate(over="ignore"):
        last_slot = float(np.rint((ts[-1] - ts[0]) / step))
    if not last_slot + 1 <= 50_000_000:
        count = f"{last_slot + 1:.0f}" if last_slot < 1e15 else f"{last_slot + 1:.3g}"
        raise SeriesError(
            f"the series would span {count} slots of {plain(step)} s; is the step right?"
        )
    slots = np.rint((ts - ts[0]) / step).astype(np.int64)
    n = int(slots[-1]) + 1
    grid_ts = ts[0] + step * np.arange(n, dtype=np.float64)
    # A step finer than the timestamps' float precision (above 2**53 s, one second is
    # below it) would give two slots the same time: the grid must strictly increase.
    if n > 1 and not np.all(np.diff(grid_ts) > 0):
        raise SeriesError(
            f"a step of {plain(step)} s is finer than the timestamps' precision near {plain(ts[0])}"
        )
    taken = np.flatnonzero(np.diff(slots) == 0)  # slots never decrease: neighbours collide
    if given_step and taken.size:
        # Placing both would need a choice (keep the later? average?): refuse instead.
        first = int(taken[0])
        median = float(np.median(diffs))
        finer = np.rint((ts - ts[0]) / median)
        spacing = median if median < step and np.all(np.diff(finer) > 0) else None
        if spacing is not None:
            advice = (
                f"the samples are {plain(spacing)} s apart: use a step that matches the data, "
                f"or resample the data to {plain(step)} s first"
            )
        else:
            advice = f"the samples are unevenly spaced: resample them to {plain(step)} s first"
        raise SlotCollisionError(
            f"{taken.size} of {ts.shape[0]} samples fall on the same {plain(step)} s step as "
            f"the sample before them (first at positions {first} and {first + 1}: "
            f"{plain(ts[first])} and {plain(ts[first + 1])})",
            advice,
            collisions=int(taken.size),
            spacing=spacing,
        )
    grid_vs = np.full(n, np.nan)
    # Without an explicit step, the median spacing is the grid: if uneven timestamps put
    # two samples on one slot there, the later one wins.
    grid_vs[slots] = vs
    if n and np.isnan(grid_vs).mean() > max_gap_fraction:
        raise SeriesError(
            f"{np.isnan(grid_vs).mean():.0%} of the series is missing "
            f"(more than the allowed {max_gap_fraction:.0%})"
        )
    return Series(grid_ts, grid_vs, float(step), name, dict(labels or {}))
