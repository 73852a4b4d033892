"""Forecast models and ``fit_forecast``: the public face of Autonomic's forecasting.

Stable API (other parts of the project rely on these names and signatures):

``fit_forecast(series, horizon, levels=(80, 95), *, model=None, periods=None,
calibration=None, calibration_folds=3) -> Forecast``
    Clean the series, detect its seasonality, fit ``model`` (default: chosen by
    ``default_model``), guard the fit, attach calibrated intervals, and return a
    ``Forecast`` that never holds a NaN. When the preferred model cannot be used
    (too little history, it raised, it diverged) a simpler one is used and
    ``Forecast.fallback_reason`` says why. ``Forecast.details`` carries the cleaning
    notes, the periods and the interval method. A non-negative history gives a
    non-negative forecast and intervals. ``periods`` overrides the day/week candidate
    periods derived from ``series.step`` (for index-only data). Raises
    ``ForecastError`` only when there is nothing to forecast from (every sample
    missing) or the request is invalid (horizon < 1, a level outside 1..99).

    Cost (measured in ``benchmarks/refit_cost_RESULTS.md``): one fit plus
    ``calibration_folds`` refits for the intervals. Pass ``calibration_folds=0`` for
    the model's own empirical intervals (one fit), or a stored ``Calibration`` (from
    ``forecasting.selection.select_model``, re-run on a schedule) to skip the refits.
    A caller forecasting at every step of a long replay should pass a cheap ``model``
    (``SeasonalNaive(period)``) or ``calibration_folds=0``.

Models (each a frozen ``Forecaster`` with ``name``, ``version`` and ``fit(series)``;
``fit`` returns a fitted model whose ``predict(horizon, levels)`` returns a
``Forecast``): ``Naive``, ``SeasonalNaive(period)``, ``DampedETS(period, log)``,
``MstlETS(periods, log)``, ``SarimaxFourier(periods, log)`` and
``Combination(members, how)`` (the step-by-step median or mean of its members).
``candidate_models`` lists the set that ``select_model`` compares for a series;
``default_model`` is the one used without a selection. ``guard_forecast`` says why
a forecast is unusable (non-finite or diverged), or None.

Versions are ``<name>/<n>``, e.g. ``seasonal-naive-24/1``, ``ets-damped-add-log/1``,
``mstl-ets-24x168/1``; a change to a model's behaviour bumps ``n``.

Helpers re-exported for callers: ``clean_series`` (``forecasting.cleaning``),
``detect_seasonality`` (``forecasting.seasonality``), ``Calibration``.
Related modules: ``forecasting.selection`` (``select_model``), ``forecasting.drift``
(``assess_drift``, ``challenge``), ``forecasting.backtest`` (``rolling_origin``).

Operations note: statsmodels' fits are small linear-algebra problems; a multi-threaded
BLAS on a busy 2-core machine made the optimiser ~50x slower in one profile. Run the
daemon and benchmarks with ``OPENBLAS_NUM_THREADS=1`` (and ``OMP_NUM_THREADS=1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.arima import SarimaxFourier
from forecasting.backtest import Calibration, calibrate, rolling_origin
from forecasting.baselines import (
    FittedBase,
    ModelError,
    Naive,
    SeasonalNaive,
    Versioned,
    assemble_forecast,
    finite_values,
    validate_request,
)
from forecasting.cleaning import clean_series
from forecasting.forecast import FittedModel, Forecast, Forecaster
from forecasting.seasonality import MIN_ACF, Seasonality, candidate_periods, detect_seasonality
from forecasting.series import FloatArray, Series
from forecasting.smoothing import DampedETS, MstlETS

__all__ = [
    "Calibration",
    "Combination",
    "DampedETS",
    "ForecastError",
    "ModelError",
    "MstlETS",
    "Naive",
    "SarimaxFourier",
    "SeasonalNaive",
    "candidate_models",
    "clean_series",
    "default_model",
    "detect_seasonality",
    "fit_forecast",
    "guard_forecast",
]

# A forecast further than this many history ranges outside the history has diverged.
_ABSURD_RANGES = 10.0


class ForecastError(ValueError):
    """Nothing can be forecast from this input; the message says what to fix."""


@dataclass(frozen=True)
class Combination(Versioned):
    """The median, step by step, of several models' forecasts.

    Combinations are the most reliable accuracy gain in the M-competitions: members'
    errors partly cancel and one member's bad day is outvoted. Members that fail are
    left out (at least one must fit).
    """

    members: tuple[Forecaster, ...]
    how: str = "median"

    def __post_init__(self) -> None:
        if self.how not in ("median", "mean"):
            raise ValueError(f"how must be 'median' or 'mean', got {self.how!r}")

    @property
    def name(self) -> str:
        prefix = "combo(" if self.how == "median" else "combo-mean("
        return prefix + "+".join(m.name for m in self.members) + ")"

    def fit(self, series: Series) -> FittedBase:
        fitted: list[FittedModel] = []
        reasons: list[str] = []
        for member in self.members:
            try:
                fitted.append(member.fit(series))
            except (ModelError, ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
                reasons.append(f"{member.name}: {exc}")
        if not fitted:
            raise ModelError("every member failed: " + "; ".join(reasons))
        values = finite_values(series)
        periods = [getattr(f, "period", None) for f in fitted]
        period = next((p for p in periods if isinstance(p, int) and p > 1), None)
        return _FittedCombination(self.name, self.version, series, values, period, fitted, self.how)


class _FittedCombination(FittedBase):
    def __init__(
        self,
        name: str,
        version: str,
        series: Series,
        values: FloatArray,
        period: int | None,
        members: list[FittedModel],
        how: str,
    ) -> None:
        super().__init__(name, version, series, values, period)
        self._members = members
        self._how = how

    def point(self, horizon: int) -> FloatArray:
        paths = []
        for member in self._members:
            try:
                path = member.predict(horizon, ()).mean
            except (ModelError, ValueError, ArithmeticError):
                continue
            if np.all(np.isfinite(path)):
                paths.append(path)
        if not paths:
            raise ModelError("no member produced a finite forecast")
        stacked = np.vstack(paths)
        return stacked.mean(axis=0) if self._how == "mean" else np.median(stacked, axis=0)


def candidate_models(
    season: Seasonality, values: FloatArray, step: float = 0.0
) -> tuple[Forecaster, ...]:
    """The models worth comparing on this series, cheapest first.

    Seasonal naive is always in (it is the bar to beat). Log variants are offered only
    for strictly positive series.
    """
    positive = bool(values.size and np.all(values > 0))
    periods = tuple(p for p in season.periods if values.size >= 2 * p + 2)
    primary = periods[0] if periods else None
    out: list[Forecaster] = []
    if primary is not None:
        out.append(SeasonalNaive(primary))
    else:
        out.append(Naive())
    out.append(MstlETS(periods, log=False))
    if positive:
        out.append(MstlETS(periods, log=True))
    if primary is not None:
        out.append(DampedETS(primary, log=positive))
        out.append(default_model(season, values, candidate_periods(step) if step else ()))
    return tuple(out)


def default_model(
    season: Seasonality, values: FloatArray, candidates: tuple[int, ...] = ()
) -> Forecaster:
    """The model used when no selection has been run for the series.

    With a detected cycle: the step-by-step median of seasonal naive (last day), seasonal
    naive over the longer candidate cycle (last week) when the history holds two of
    them, MSTL + smoothing, and damped Holt-Winters (the last two on the log scale for
    a positive series). Without a cycle: simple or damped-trend smoothing.

    Chosen on two validation windows cut from the M4 hourly *training* data (the last
    48 and the 48 before, first 100 series), where this median beat each member alone
    and the other combinations tried; the test data played no part in the choice
    (``benchmarks/m4_RESULTS.md``).
    """
    periods = tuple(p for p in season.periods if values.size >= 2 * p + 2)
    positive = bool(values.size and np.all(values > 0))
    if not periods:
        return MstlETS((), log=False)
    primary = periods[0]
    longer = [p for p in candidates if p > primary and values.size >= 2 * p + 2]
    members: list[Forecaster] = [SeasonalNaive(primary)]
    if longer:
        members.append(SeasonalNaive(max(longer)))
    members += [MstlETS((primary,), log=positive), DampedETS(primary, log=positive)]
    return Combination(tuple(members))


def guard_forecast(forecast: Forecast, values: FloatArray) -> str | None:
    """Why ``forecast`` is unusable (non-finite, or absurdly outside the history), or None."""
    if not np.all(np.isfinite(forecast.mean)):
        return "the forecast has non-finite values"
    low, high = float(values.min()), float(values.max())
    span = max(high - low, 1e-9 * max(abs(high), abs(low)), 1e-12)
    if forecast.mean.max() > high + _ABSURD_RANGES * span:
        return f"the forecast diverged upwards (to {forecast.mean.max():.4g})"
    if forecast.mean.min() < low - _ABSURD_RANGES * span:
        return f"the forecast diverged downwards (to {forecast.mean.min():.4g})"
    return None


def fit_forecast(
    series: Series,
    horizon: int,
    levels: tuple[int, ...] = (80, 95),
    *,
    model: Forecaster | None = None,
    periods: tuple[int, ...] | None = None,
    calibration: Calibration | None = None,
    calibration_folds: int = 3,
) -> Forecast:
    """Forecast ``horizon`` steps after ``series`` ends; see the module docstring."""
    try:
        validate_request(horizon, levels)
    except ValueError as exc:
        raise ForecastError(str(exc)) from None
    levels = tuple(sorted(set(levels)))
    try:
        cleaned = clean_series(series)
    except ValueError as exc:
        raise ForecastError(f"cannot forecast: {exc}") from None
    clean = cleaned.series
    values = clean.values
    season = detect_seasonality(values, clean.step, candidates=periods)
    details: dict[str, float | str] = {
        "history": float(values.size),
        "periods": ",".join(str(p) for p in season.periods) or "none",
    }
    if cleaned.notes:
        details["cleaning"] = "; ".join(cleaned.notes)

    reasons: list[str] = []
    candidates = periods if periods is not None else candidate_periods(clean.step)
    chain = _fallback_chain(model, season, values, candidates, reasons)
    for candidate in chain:
        try:
            fitted = candidate.fit(clean)
            forecast = fitted.predict(horizon, levels)
        except (ModelError, ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            reasons.append(f"{_version(candidate)} failed: {exc}")
            continue
        problem = guard_forecast(forecast, values)
        if problem:
            reasons.append(f"{_version(candidate)} rejected: {problem}")
            continue
        break
    else:  # pragma: no cover - Naive cannot fail on a finite, non-empty series
        raise ForecastError("no model could forecast this series: " + "; ".join(reasons))

    offsets = None
    method = "empirical"
    if calibration is not None:
        offsets = calibration.offsets(horizon, levels)
        method = "calibration-supplied"
    elif calibration_folds > 0 and levels and values.size >= 2 * horizon + 10:
        backtest = rolling_origin(
            clean,
            candidate,
            horizon,
            calibration_folds,
            period=season.primary,
            min_train=max(10, values.size // 2),
        )
        learnt = calibrate(backtest.errors, levels)
        if learnt is not None:
            offsets = learnt.offsets(horizon, levels)
            method = f"conformal-{backtest.errors.shape[0]}x{horizon}"
    if offsets is None:
        method = "empirical"
        offsets = {level: forecast.intervals[level] for level in levels}
        offsets = {
            level: (low - forecast.mean, high - forecast.mean)
            for level, (low, high) in offsets.items()
        }
    details["intervals"] = method
    return assemble_forecast(
        clean,
        forecast.mean,
        offsets,
        forecast.model,
        forecast.version,
        non_negative=bool(np.all(values >= 0)),
        fallback_reason="; ".join(reasons) if reasons else None,
        details=details,
    )


def _version(model: Forecaster) -> str:
    return str(getattr(model, "version", model.name))


def _no_season_reason(
    season: Seasonality, n: int, candidates: tuple[int, ...], untested: list[int]
) -> str:
    """Why a series with candidate periods is forecast without seasonality: the periods
    tested were rejected (with their autocorrelation), the others need more history."""
    short = f"the history ({n} samples) is shorter than two cycles of {untested[0]} steps"
    tested = [p for p in candidates if p in season.acf]
    if not tested:
        return f"{short}: forecasting without seasonality"
    # The bar detect_seasonality sets: above MIN_ACF and the noise band 2.5/sqrt(n).
    threshold = max(MIN_ACF, 2.5 / float(np.sqrt(max(n, 1))))
    found = ", ".join(f"{season.acf[p]:.2f} at {p} steps" for p in tested)
    return (
        f"no seasonality detected (autocorrelation {found}; a cycle needs more than "
        f"{threshold:.2f}), and {short}: forecasting without seasonality"
    )


def _fallback_chain(
    model: Forecaster | None,
    season: Seasonality,
    values: FloatArray,
    candidates: tuple[int, ...],
    reasons: list[str],
) -> list[Forecaster]:
    """The preferred model, then the simpler ones that stand in when it fails."""
    n = values.size
    if n < 3:
        reasons.append(f"only {n} sample(s): repeating the last value")
        return [Naive()]
    if float(np.ptp(values)) == 0.0:
        reasons.append("the series is constant: repeating its value")
        return [Naive()]
    chain: list[Forecaster] = []
    if model is not None:
        chain.append(model)
    elif n < 10:
        reasons.append(
            f"only {n} samples: too little history for a model, repeating the last value"
        )
        return [Naive()]
    else:
        untested = [p for p in candidates if p not in season.acf]
        if untested and not season.periods:
            reasons.append(_no_season_reason(season, n, candidates, untested))
        chain.append(default_model(season, values, candidates))
    if season.primary is not None:
        chain.append(SeasonalNaive(season.primary))
    chain.append(Naive())
    return chain
