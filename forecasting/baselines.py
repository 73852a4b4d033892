"""The shared machinery of every model, and the two models that can always run.

``FittedBase`` turns a model's point path into a ``Forecast``: it checks the request,
adds prediction intervals, keeps a non-negative series non-negative, and never lets a
NaN out. Its default intervals are empirical: the quantiles of the errors a seasonal
naive forecast (naive when there is no period) made over the history, at the same
distance ahead. They need no distributional assumption and exist for every series
with a few dozen samples; ``forecasting.backtest`` replaces them with intervals
calibrated on the model's own backtest errors when the caller can afford the refits.

``SeasonalNaive`` (repeat the last cycle) and ``Naive`` (repeat the last value) are
the fallbacks every other model falls back to. They cannot fail on a finite series.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from forecasting.forecast import Forecast
from forecasting.series import FloatArray, Series

__all__ = [
    "FittedBase",
    "ModelError",
    "Naive",
    "SeasonalNaive",
    "Versioned",
    "empirical_offsets",
    "finite_values",
    "fit_errors",
    "future_timestamps",
    "interpolate_gaps",
    "normal_quantile",
    "require_samples",
    "validate_request",
]

# Errors from at most this many recent samples feed the empirical intervals: old
# volatility says little about the next hours.
_ERROR_WINDOW = 5000


class ModelError(RuntimeError):
    """A model could not be fitted or produced an unusable forecast; the message says why."""


def validate_request(horizon: int, levels: tuple[int, ...]) -> None:
    """Reject a horizon or level that no model can honour, naming the bad value."""
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be a whole number of steps >= 1, got {horizon!r}")
    for level in levels:
        if isinstance(level, bool) or not isinstance(level, int) or not 0 < level < 100:
            raise ValueError(f"interval levels are percentages between 1 and 99, got {level!r}")


def finite_values(series: Series) -> FloatArray:
    """The series' values with gaps linearly interpolated (models need no NaN)."""
    values = np.asarray(series.values, dtype=np.float64)
    if not np.isfinite(values).any():
        raise ModelError("every sample is missing")
    return interpolate_gaps(values)


def require_samples(values: FloatArray, minimum: int, version: str) -> None:
    """Raise ``ModelError`` naming the model ``version`` if ``values`` is shorter than
    ``minimum``."""
    if values.size < minimum:
        raise ModelError(f"{version} needs at least {minimum} samples, got {values.size}")


@contextmanager
def fit_errors(version: str, *also: type[Exception]) -> Iterator[None]:
    """Turn a ValueError or LinAlgError (and any of ``also``) raised inside into a
    ``ModelError`` saying that ``version`` failed to fit."""
    caught: tuple[type[Exception], ...] = (ValueError, np.linalg.LinAlgError, *also)
    try:
        yield
    except caught as exc:
        raise ModelError(f"{version} failed to fit: {exc}") from exc


class Versioned:
    """Mixin for a model specification: ``version`` is ``<name>/<revision>``.

    A change to the model's behaviour bumps its ``revision``.
    """

    revision: ClassVar[int] = 1

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def version(self) -> str:
        return f"{self.name}/{self.revision}"


def interpolate_gaps(values: FloatArray) -> FloatArray:
    """A copy of ``values`` (at least one finite) with non-finite ones linearly
    interpolated, and held flat beyond the first and last finite value."""
    out = np.array(values, dtype=np.float64)
    missing = ~np.isfinite(out)
    if missing.any():
        known = np.flatnonzero(~missing)
        out[missing] = np.interp(np.flatnonzero(missing), known, out[known])
    return out


def future_timestamps(series: Series, horizon: int) -> FloatArray:
    """The ``horizon`` grid slots after the last observed one."""
    return series.end + series.step * np.arange(1, horizon + 1, dtype=np.float64)


def empirical_offsets(
    values: FloatArray, period: int | None, horizon: int, levels: tuple[int, ...]
) -> dict[int, tuple[FloatArray, FloatArray]]:
    """Lower and upper offsets from the history's own h-step-ahead naive errors.

    For step ``j`` ahead the reference forecast is the value ``k`` cycles back
    (``k = ceil(j / period)``) or, without a period, ``j`` steps back. The offsets are
    the central ``level`` % quantiles of those historical errors. With fewer than ten
    errors the root mean square of the one-step differences, widened by ``sqrt(j)``,
    stands in: the size of a naive forecast's one-step error, drift included (their
    standard deviation would call a short steady ramp, whose next value the last one
    always misses, certain).
    """
    recent = values[-_ERROR_WINDOW:]
    offsets: dict[int, tuple[FloatArray, FloatArray]] = {
        level: (np.zeros(horizon), np.zeros(horizon)) for level in levels
    }
    cache: dict[int, FloatArray] = {}
    steps = np.diff(recent)
    step_sd = float(np.sqrt(np.mean(steps * steps))) if steps.size else 0.0
    for j in range(1, horizon + 1):
        lag = period * math.ceil(j / period) if period else j
        if lag not in cache:
            cache[lag] = recent[lag:] - recent[:-lag] if recent.size > lag else np.empty(0)
        errors = cache[lag]
        for level in levels:
            tail = (100 - level) / 200.0
            if errors.size >= 10:
                low, high = np.quantile(errors, [tail, 1.0 - tail])
            else:
                z = normal_quantile(1.0 - tail)
                low, high = -z * step_sd * math.sqrt(j), z * step_sd * math.sqrt(j)
            offsets[level][0][j - 1] = min(float(low), 0.0)
            offsets[level][1][j - 1] = max(float(high), 0.0)
    return offsets


def normal_quantile(p: float) -> float:
    """Inverse standard normal CDF (Acklam's rational approximation; no scipy needed)."""
    a = (
        -39.69683028665376,
        220.9460984245205,
        -275.9285104469687,
        138.3577518672690,
        -30.66479806614716,
        2.506628277459239,
    )
    b = (
        -54.47609879822406,
        161.5858368580409,
        -155.6989798598866,
        66.80131188771972,
        -13.28068155288572,
    )
    c = (
        -0.007784894002430293,
        -0.3223964580411365,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    )
    d = (0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
    if p < 0.02425:
        q = math.sqrt(-2 * math.log(p))
        num = ((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]
        return num / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    if p > 1 - 0.02425:
        return -normal_quantile(1 - p)
    q = p - 0.5
    r = q * q
    num = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
    return num / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)


class FittedBase:
    """A fitted model: a point path plus intervals, assembled into a ``Forecast``.

    Subclasses implement ``point(horizon)``; they may override ``offsets`` to supply
    their own intervals. ``period`` is the seasonal period the default empirical
    intervals use.
    """

    def __init__(
        self, name: str, version: str, series: Series, values: FloatArray, period: int | None
    ) -> None:
        self._name = name
        self.version = version
        self.series = series
        self.values = values
        self.period = period
        self.non_negative = bool(np.all(values >= 0))

    @property
    def name(self) -> str:
        return self._name

    def point(self, horizon: int) -> FloatArray:
        raise NotImplementedError

    def offsets(
        self, horizon: int, levels: tuple[int, ...]
    ) -> dict[int, tuple[FloatArray, FloatArray]]:
        return empirical_offsets(self.values, self.period, horizon, levels)

    def predict(self, horizon: int, levels: tuple[int, ...] = (80, 95)) -> Forecast:
        validate_request(horizon, levels)
        mean = np.asarray(self.point(horizon), dtype=np.float64)
        if mean.shape != (horizon,) or not np.all(np.isfinite(mean)):
            raise ModelError(f"{self.version} produced a non-finite forecast")
        offsets = self.offsets(horizon, levels)
        return assemble_forecast(
            self.series, mean, offsets, self.name, self.version, non_negative=self.non_negative
        )


def assemble_forecast(
    series: Series,
    mean: FloatArray,
    offsets: dict[int, tuple[FloatArray, FloatArray]],
    name: str,
    version: str,
    *,
    non_negative: bool,
    fallback_reason: str | None = None,
    details: dict[str, float | str] | None = None,
) -> Forecast:
    """Mean plus offsets, made consistent: finite, nested by level, clipped at zero.

    A non-negative history (load, request rates) gives a non-negative forecast.
    Wider levels always contain narrower ones, which per-level quantiles alone do not
    guarantee.
    """
    horizon = mean.size
    mean = np.where(np.isfinite(mean), mean, 0.0)
    if non_negative:
        mean = np.maximum(mean, 0.0)
    intervals: dict[int, tuple[FloatArray, FloatArray]] = {}
    lower_floor = np.full(horizon, np.inf)
    upper_floor = np.full(horizon, -np.inf)
    for level in sorted(offsets):
        low_off, high_off = offsets[level]
        low_off = np.where(np.isfinite(low_off), np.minimum(low_off, 0.0), 0.0)
        high_off = np.where(np.isfinite(high_off), np.maximum(high_off, 0.0), 0.0)
        lower = np.minimum(mean + low_off, lower_floor)
        upper = np.maximum(mean + high_off, upper_floor)
        if non_negative:
            lower = np.maximum(lower, 0.0)
        lower = np.minimum(lower, mean)
        upper = np.maximum(upper, mean)
        intervals[level] = (lower, upper)
        lower_floor, upper_floor = lower, upper
    return Forecast(
        timestamps=future_timestamps(series, horizon),
        mean=mean,
        intervals={level: intervals[level] for level in offsets},
        model=name,
        version=version,
        fallback_reason=fallback_reason,
        details=dict(details or {}),
    )


@dataclass(frozen=True)
class Naive:
    """Repeat the last value. Needs one sample."""

    name: str = "naive"
    version: str = "naive/1"

    def fit(self, series: Series) -> FittedBase:
        return _FittedRepeat(self.name, self.version, series, finite_values(series), None)


@dataclass(frozen=True)
class SeasonalNaive(Versioned):
    """Repeat the last full cycle of ``period`` steps (naive if the history is shorter)."""

    period: int

    @property
    def name(self) -> str:
        return f"seasonal-naive-{self.period}"

    def __post_init__(self) -> None:
        if self.period < 1:
            raise ValueError(f"period must be at least 1 step, got {self.period}")

    def fit(self, series: Series) -> FittedBase:
        values = finite_values(series)
        period = self.period if values.size >= self.period else None
        return _FittedRepeat(self.name, self.version, series, values, period)


class _FittedRepeat(FittedBase):
    def point(self, horizon: int) -> FloatArray:
        if self.period is None or self.period <= 1:
            return np.full(horizon, self.values[-1])
        cycle = self.values[-self.period :]
        return np.resize(cycle, horizon).astype(np.float64)
