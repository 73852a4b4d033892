"""Rolling-origin backtests, and prediction intervals calibrated on their errors.

A backtest refits the model at ``folds`` past origins spaced one horizon apart (the
last one ends at the last observation) and scores each forecast against what actually
happened. The scores rank candidate models (``forecasting.selection``); the errors,
arranged by steps ahead, give split-conformal interval widths: the level-% quantile of
the absolute errors at each distance ahead. These are honest by construction (they
are out-of-sample errors of this very model on this very series) and need no normal
assumption, which statsmodels' Holt-Winters does not provide anyway.

Cost: ``folds`` fits of the model per backtest, each on a slightly shorter history.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from forecasting.baselines import ModelError, finite_values, normal_quantile
from forecasting.forecast import Forecaster
from forecasting.series import FloatArray, Series

__all__ = [
    "Backtest",
    "Calibration",
    "calibrate",
    "mase_scale",
    "rolling_origin",
    "smape",
]


# Below this many pooled errors, quantile ranks are too coarse; use a normal width.
_MIN_CONFORMAL = 20


@dataclass(frozen=True, eq=False)
class Backtest:
    """How one model did at past origins.

    ``errors[f, j]`` is actual minus forecast, ``j + 1`` steps after origin ``f``.
    ``mase`` is the mean absolute error over all folds divided by the in-sample
    seasonal-naive MAE of the training part (below 1: better than seasonal naive);
    ``smape`` is on the M4 0-200 scale. ``failures`` are the folds where the model
    raised, each with its reason; a model that failed every fold scores infinity.
    """

    model: str
    version: str
    horizon: int
    origins: tuple[int, ...]
    errors: FloatArray
    mase: float
    smape: float
    seconds: float
    failures: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return self.errors.shape[0] > 0 and math.isfinite(self.mase)


@dataclass(frozen=True, eq=False)
class Calibration:
    """Interval half-widths per level and step ahead, learnt from backtest errors.

    ``widths[level][j]`` is added on both sides of the mean ``j + 1`` steps ahead.
    ``samples`` is how many errors the widths rest on.
    """

    horizon: int
    widths: dict[int, FloatArray]
    samples: int

    def offsets(
        self, horizon: int, levels: tuple[int, ...]
    ) -> dict[int, tuple[FloatArray, FloatArray]] | None:
        """Offsets for a request, or None when a level was not calibrated.

        A longer horizon than was calibrated reuses the widest (last) width.
        """
        out: dict[int, tuple[FloatArray, FloatArray]] = {}
        for level in levels:
            if level not in self.widths:
                return None
            width = self.widths[level]
            if horizon > width.size:
                width = np.concatenate([width, np.full(horizon - width.size, width[-1])])
            out[level] = (-width[:horizon].copy(), width[:horizon].copy())
        return out


def mase_scale(values: FloatArray, period: int | None) -> float:
    """In-sample MAE of the seasonal naive forecast (naive without a period)."""
    lag = period if period and values.size > period else 1
    if values.size <= lag:
        return float("nan")
    return float(np.mean(np.abs(values[lag:] - values[:-lag])))


def smape(actual: FloatArray, forecast: FloatArray) -> float:
    """Symmetric MAPE on M4's 0-200 scale; points where both are zero count as 0."""
    denom = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(
        2.0 * np.abs(actual - forecast), denom, out=np.zeros_like(denom), where=denom > 0
    )
    return float(100.0 * ratio.mean())


def rolling_origin(
    series: Series,
    model: Forecaster,
    horizon: int,
    folds: int,
    *,
    period: int | None = None,
    min_train: int = 10,
) -> Backtest:
    """Refit ``model`` at ``folds`` origins and score its ``horizon``-step forecasts.

    Origins are ``n - k * horizon`` for ``k = folds .. 1``; folds whose training part
    would be shorter than ``min_train`` are skipped. ``period`` sets the MASE scale.
    """
    values = finite_values(series)
    n = values.size
    origins = [n - k * horizon for k in range(folds, 0, -1) if n - k * horizon >= min_train]
    rows: list[FloatArray] = []
    used: list[int] = []
    failures: list[str] = []
    absolute = 0.0
    scale_sum = 0.0
    smapes: list[float] = []
    version = str(getattr(model, "version", model.name))
    started = time.perf_counter()
    for origin in origins:
        train = Series(
            series.timestamps[:origin], values[:origin], series.step, series.name, series.labels
        )
        actual = values[origin : origin + horizon]
        try:
            fitted = model.fit(train)
            forecast = fitted.predict(horizon, ())
        except (ModelError, ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            failures.append(f"origin {origin}: {exc}")
            continue
        if not np.all(np.isfinite(forecast.mean)):
            failures.append(f"origin {origin}: non-finite forecast")
            continue
        error = actual - forecast.mean
        rows.append(error)
        used.append(origin)
        scale = mase_scale(values[:origin], period)
        absolute += float(np.abs(error).mean())
        scale_sum += scale if math.isfinite(scale) else 0.0
        smapes.append(smape(actual, forecast.mean))
    seconds = time.perf_counter() - started
    errors = np.vstack(rows) if rows else np.empty((0, horizon))
    if rows:
        mean_scale = scale_sum / len(rows)
        mase = (
            absolute / len(rows) / mean_scale
            if mean_scale > 0
            else (0.0 if absolute == 0 else math.inf)
        )
        score = float(np.mean(smapes))
    else:
        mase, score = math.inf, math.inf
    return Backtest(
        model.name, version, horizon, tuple(used), errors, mase, score, seconds, tuple(failures)
    )


def calibrate(errors: FloatArray, levels: tuple[int, ...]) -> Calibration | None:
    """Split-conformal half-widths from backtest errors (rows: folds, columns: steps).

    Errors at neighbouring distances ahead are pooled (a window of about an eighth of
    the horizon each side) so that a few folds still give enough samples per step;
    the quantile uses the conformal rank ``ceil((n + 1) * level)``. With fewer than
    20 pooled errors (a short horizon, few folds) a rank cannot tell 80 % from 95 %,
    so the width is the normal quantile times the errors' root mean square instead.
    Widths never shrink with the distance ahead. None when there are no errors.
    """
    if errors.ndim != 2 or errors.shape[0] == 0 or errors.shape[1] == 0:
        return None
    folds, horizon = errors.shape
    magnitude = np.abs(np.where(np.isfinite(errors), errors, 0.0))
    window = max(1, horizon // 8)
    widths: dict[int, FloatArray] = {}
    for level in levels:
        width = np.empty(horizon)
        z = normal_quantile(0.5 + level / 200.0)
        for j in range(horizon):
            pooled = np.sort(magnitude[:, max(0, j - window) : j + window + 1].ravel())
            if pooled.size >= _MIN_CONFORMAL:
                rank = math.ceil((pooled.size + 1) * level / 100.0)
                width[j] = pooled[min(rank, pooled.size) - 1]
            else:
                width[j] = z * math.sqrt(float(np.mean(pooled**2)))
        widths[level] = np.maximum.accumulate(width)
    return Calibration(horizon, widths, int(folds * horizon))
