"""Exponential smoothing models on statsmodels: damped-trend ETS and MSTL + ETS.

``DampedETS`` is Holt-Winters with an additive damped trend and, when the series has
one, an additive seasonal cycle (statsmodels ``ExponentialSmoothing``). Damping keeps
a trend from running away over a long horizon, the failure mode that hurts capacity
planning most. One cycle at most: a weekly cycle of hourly data would mean 168 seasonal
states, which ETS estimates badly.

``MstlETS`` handles several cycles at once (daily and weekly): MSTL peels the seasonal
components off (repeated forward, as a seasonal naive does for each), and the
remaining trend + remainder is forecast by simple or damped-trend smoothing, whichever
has the lower AICc.

Both can work on the log of a strictly positive series (``log=True``), which turns a
multiplicative cycle (the peak grows with the level) into an additive one; the
forecast is then the back-transformed median. statsmodels raises warnings freely
during optimisation; they are silenced here because a poor fit is caught by the
guards in ``forecasting.models`` instead.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecasting.baselines import (
    FittedBase,
    ModelError,
    Versioned,
    finite_values,
    fit_errors,
    require_samples,
)
from forecasting.series import FloatArray, Series

__all__ = ["DampedETS", "MstlETS"]


def _to_model_scale(values: FloatArray, log: bool) -> FloatArray:
    if not log:
        return values
    if np.any(values <= 0):
        raise ModelError("the log transform needs a strictly positive series")
    return np.log(values)


def _from_model_scale(values: FloatArray, log: bool) -> FloatArray:
    if not log:
        return values
    return np.exp(np.clip(values, -700.0, 700.0))


def _fit_smoothing(values: FloatArray, *, trend: bool, period: int | None) -> Any:
    """statsmodels Holt(-Winters) fit with warnings silenced; returns the results object."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = period is not None and period >= 2
    enough_for_heuristic = seasonal and period is not None and values.size >= 2 * period + 10
    init = (
        "heuristic"
        if enough_for_heuristic or (not seasonal and values.size >= 10)
        else ("estimated")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ExponentialSmoothing(
            values,
            trend="add" if trend else None,
            damped_trend=trend,
            seasonal="add" if seasonal else None,
            seasonal_periods=period if seasonal else None,
            initialization_method=init,
        )
        return model.fit(optimized=True, use_brute=False)


@dataclass(frozen=True)
class DampedETS(Versioned):
    """Additive damped trend, additive season of ``period`` steps (None: no season)."""

    period: int | None = None
    log: bool = False

    @property
    def name(self) -> str:
        season = "add" if self.period else "none"
        return f"ets-damped-{season}{'-log' if self.log else ''}"

    def fit(self, series: Series) -> FittedBase:
        values = finite_values(series)
        period = self.period
        if period is not None and values.size < 2 * period + 2:
            raise ModelError(
                f"{self.version} needs two full cycles ({2 * period + 2} samples), "
                f"the series has {values.size}"
            )
        require_samples(values, 10, self.version)
        scaled = _to_model_scale(values, self.log)
        with fit_errors(self.version, FloatingPointError):
            result = _fit_smoothing(scaled, trend=True, period=period)
        return _FittedSmoothing(self.name, self.version, series, values, period, result, self.log)


class _FittedSmoothing(FittedBase):
    def __init__(
        self,
        name: str,
        version: str,
        series: Series,
        values: FloatArray,
        period: int | None,
        result: Any,
        log: bool,
    ) -> None:
        super().__init__(name, version, series, values, period)
        self._result = result
        self._log = log

    def point(self, horizon: int) -> FloatArray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = np.asarray(self._result.forecast(horizon), dtype=np.float64)
        return _from_model_scale(path, self._log)


@dataclass(frozen=True)
class MstlETS(Versioned):
    """MSTL over ``periods`` (e.g. a day and a week in steps) + smoothing of the rest.

    Periods the history cannot hold twice are dropped; with none left this is plain
    non-seasonal smoothing. Long periods use STL's loess "jumps" (evaluate every few
    points and interpolate), which keeps a 2016-step weekly cycle of 5-minute data
    affordable.
    """

    periods: tuple[int, ...]
    log: bool = False

    @property
    def name(self) -> str:
        suffix = "-log" if self.log else ""
        if not self.periods:
            return f"ets-nonseasonal{suffix}"
        return f"mstl-ets-{'x'.join(str(p) for p in self.periods)}{suffix}"

    def fit(self, series: Series) -> FittedBase:
        values = finite_values(series)
        require_samples(values, 10, self.version)
        periods = tuple(p for p in sorted(set(self.periods)) if p >= 2 and values.size >= 2 * p + 2)
        scaled = _to_model_scale(values, self.log)
        seasonal = np.zeros((values.size, len(periods)))
        with fit_errors(self.version, FloatingPointError):
            if periods:
                seasonal = _decompose(scaled, periods)
            rest = scaled - seasonal.sum(axis=1)
            simple = _fit_smoothing(rest, trend=False, period=None)
            damped = _fit_smoothing(rest, trend=True, period=None)
        chosen = damped if _aicc(damped) < _aicc(simple) else simple
        return _FittedMstl(
            self.name, self.version, series, values, periods, seasonal, chosen, self.log
        )


def _aicc(result: Any) -> float:
    value = float(getattr(result, "aicc", np.inf))
    return value if np.isfinite(value) else np.inf


def _decompose(values: FloatArray, periods: tuple[int, ...]) -> FloatArray:
    """MSTL seasonal components, one column per period."""
    from statsmodels.tsa.seasonal import MSTL

    longest = max(periods)
    jump = max(1, longest // 50)
    stl_kwargs: dict[str, int | bool | None] = {}
    if jump > 1:
        stl_kwargs = {"seasonal_jump": jump, "trend_jump": jump, "low_pass_jump": jump}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = MSTL(values, periods=periods, stl_kwargs=stl_kwargs).fit()
    seasonal = np.asarray(result.seasonal, dtype=np.float64)
    if seasonal.ndim == 1:
        seasonal = seasonal[:, None]
    if not np.all(np.isfinite(seasonal)):
        raise ModelError("MSTL produced non-finite seasonal components")
    return seasonal


class _FittedMstl(FittedBase):
    def __init__(
        self,
        name: str,
        version: str,
        series: Series,
        values: FloatArray,
        periods: tuple[int, ...],
        seasonal: FloatArray,
        rest: Any,
        log: bool,
    ) -> None:
        super().__init__(name, version, series, values, periods[0] if periods else None)
        self._periods = periods
        self._seasonal = seasonal
        self._rest = rest
        self._log = log

    def point(self, horizon: int) -> FloatArray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = np.asarray(self._rest.forecast(horizon), dtype=np.float64)
        for column, period in enumerate(self._periods):
            cycle = self._seasonal[-period:, column]
            path = path + np.resize(cycle, horizon)
        return _from_model_scale(path, self._log)
