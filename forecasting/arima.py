"""SARIMAX with Fourier seasonality: ARIMA errors around daily and weekly harmonics.

A seasonal ARIMA with a 24-step (or 288-step) seasonal lag has a state vector as long
as the cycle and is slow to estimate; regression on a few sine/cosine pairs per cycle
(dynamic harmonic regression) captures smooth daily and weekly shapes with a handful
of parameters, and a low-order ARMA on the errors carries the short-term memory.
It is the most expensive model here (a state-space likelihood per fit), so it is only
a candidate where the benchmark shows it earns that cost; see ``forecasting.models``.
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

__all__ = ["SarimaxFourier", "fourier_terms"]

# Sine/cosine pairs per cycle: enough for a daily load curve, few enough to estimate.
_HARMONICS = 4


def fourier_terms(start: int, length: int, periods: tuple[int, ...]) -> FloatArray:
    """Columns sin/cos(2 pi k t / p) for each period p and k = 1..min(harmonics, p/2)."""
    t = np.arange(start, start + length, dtype=np.float64)
    columns: list[FloatArray] = []
    for period in periods:
        for k in range(1, min(_HARMONICS, period // 2) + 1):
            angle = 2.0 * np.pi * k * t / period
            columns.append(np.sin(angle))
            columns.append(np.cos(angle))
    if not columns:
        return np.empty((length, 0))
    return np.column_stack(columns)


@dataclass(frozen=True)
class SarimaxFourier(Versioned):
    """ARIMA(2,0,1) errors with a constant and Fourier terms for ``periods``."""

    periods: tuple[int, ...]
    log: bool = False

    @property
    def name(self) -> str:
        cycles = "x".join(str(p) for p in self.periods) or "none"
        return f"sarimax-fourier-{cycles}{'-log' if self.log else ''}"

    def fit(self, series: Series) -> FittedBase:
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        values = finite_values(series)
        require_samples(values, 30, self.version)
        if self.log and np.any(values <= 0):
            raise ModelError("the log transform needs a strictly positive series")
        scaled = np.log(values) if self.log else values
        periods = tuple(p for p in self.periods if values.size >= 2 * p)
        exog = fourier_terms(0, values.size, periods)
        with fit_errors(self.version), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = SARIMAX(
                scaled,
                exog=exog if exog.shape[1] else None,
                order=(2, 0, 1),
                trend="c",
                enforce_stationarity=True,
                enforce_invertibility=True,
            )
            result = model.fit(disp=False, maxiter=50)
        return _FittedSarimax(self.name, self.version, series, values, periods, result, self.log)


class _FittedSarimax(FittedBase):
    def __init__(
        self,
        name: str,
        version: str,
        series: Series,
        values: FloatArray,
        periods: tuple[int, ...],
        result: Any,
        log: bool,
    ) -> None:
        super().__init__(name, version, series, values, periods[0] if periods else None)
        self._periods = periods
        self._result = result
        self._log = log

    def point(self, horizon: int) -> FloatArray:
        exog = fourier_terms(self.values.size, horizon, self._periods)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = np.asarray(
                self._result.forecast(horizon, exog=exog if exog.shape[1] else None),
                dtype=np.float64,
            )
        return np.exp(np.clip(path, -700.0, 700.0)) if self._log else path
