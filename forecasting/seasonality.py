"""Which seasonal periods a series actually has, read from the data.

Operational load repeats daily and often weekly, so the candidates come from the step:
a day and a week expressed in steps. A candidate is kept only when the series holds at
least two full cycles of it and its autocorrelation at that lag (after removing a
linear trend) is clearly positive. A weekly period is kept only when it explains more
than the daily one does (weekday/weekend differences), so pure daily series stay
simple. A series that is pure noise gets no period at all, and the models then treat
it as non-seasonal rather than inventing a pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.series import FloatArray

__all__ = ["Seasonality", "autocorrelation", "candidate_periods", "detect_seasonality"]

DAY = 86400.0
WEEK = 7 * DAY
# ACF at the seasonal lag must exceed this (and the noise band 2.5/sqrt(n)).
MIN_ACF = 0.25
# A weekly period must beat the daily ACF by this much to be worth its cost.
WEEKLY_MARGIN = 0.03
# Longest period a model is asked to carry; longer cycles are left to the trend.
MAX_PERIOD = 4032


@dataclass(frozen=True)
class Seasonality:
    """Detected periods in steps, shortest first, with the ACF that justified each."""

    periods: tuple[int, ...]
    acf: dict[int, float]

    @property
    def primary(self) -> int | None:
        """The shortest detected period, or None for a non-seasonal series."""
        return self.periods[0] if self.periods else None


def candidate_periods(step: float) -> tuple[int, ...]:
    """A day and a week in steps, when they are a whole number of steps (at least 2)."""
    out: list[int] = []
    if not (step > 0 and np.isfinite(step)):
        return ()
    for span in (DAY, WEEK):
        steps = span / step
        rounded = round(steps)
        if rounded >= 2 and abs(steps - rounded) < 1e-6 * max(1.0, steps) and rounded <= MAX_PERIOD:
            out.append(rounded)
    return tuple(out)


def autocorrelation(values: FloatArray, lag: int) -> float:
    """Sample autocorrelation at ``lag`` of the linearly detrended values (0 if undefined)."""
    n = values.size
    if lag <= 0 or lag >= n - 1:
        return 0.0
    x = np.arange(n, dtype=np.float64)
    slope, intercept = np.polyfit(x, values, 1)
    resid = values - (slope * x + intercept)
    denom = float(np.dot(resid, resid))
    if not np.isfinite(denom) or denom <= 1e-300 * n:
        return 0.0
    return float(np.dot(resid[:-lag], resid[lag:]) / denom)


def detect_seasonality(
    values: FloatArray, step: float, *, candidates: tuple[int, ...] | None = None
) -> Seasonality:
    """Seasonal periods present in ``values`` (no NaN) sampled every ``step`` seconds.

    ``candidates`` overrides the day/week candidates derived from the step (for data
    whose timestamps are only an index, such as the M4 series).
    """
    periods = candidate_periods(step) if candidates is None else tuple(sorted(candidates))
    n = values.size
    band = 2.5 / np.sqrt(max(n, 1))
    acf: dict[int, float] = {}
    kept: list[int] = []
    for period in periods:
        if period < 2 or n < 2 * period + 2:
            continue
        value = autocorrelation(values, period)
        acf[period] = value
        if value <= max(MIN_ACF, band):
            continue
        if kept and value < acf[kept[-1]] + WEEKLY_MARGIN:
            continue
        kept.append(period)
    return Seasonality(tuple(kept), acf)
