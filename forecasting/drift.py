"""Forecast drift: is the live model still as good as its backtest said, and should a
refit replace it?

The daemon keeps, per series, the forecasts it made and the values that then arrived.
``assess_drift`` compares the recent scaled error (MASE: absolute error over the
seasonal naive's in-sample error) and the recent interval coverage with the band the
model's backtest promised, and says whether to refit, with a reason code and a
sentence, as every decision in Autonomic does. A model that is merely old is refitted
on schedule too.

A refit does not go live on its own: ``challenge`` backtests the challenger and the
champion over the same recent origins and promotes the challenger only when it is
clearly better. Its result, ``ModelVersion``, is the value the daemon records in the
ledger; nothing here writes anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from forecasting.backtest import Backtest, rolling_origin
from forecasting.cleaning import clean_series
from forecasting.forecast import Forecaster
from forecasting.seasonality import detect_seasonality
from forecasting.series import Series

__all__ = [
    "DriftBand",
    "DriftVerdict",
    "ModelVersion",
    "Outcome",
    "assess_drift",
    "assess_drift_arrays",
    "band_from_backtest",
    "challenge",
    "challenge_on_holdout",
    "naive_scale",
    "powered",
]


@dataclass(frozen=True)
class Outcome:
    """One forecast point whose actual value has arrived."""

    actual: float
    mean: float
    lower: float
    upper: float


@dataclass(frozen=True)
class DriftBand:
    """What the backtest promised: the MASE ceiling and the interval's nominal level.

    ``mase_limit`` is the recent MASE above which the model has degraded; ``scale`` is
    the in-sample seasonal-naive MAE the errors are divided by; ``level`` is the
    interval (percent) whose coverage is watched. ``power`` is the scale the errors are
    measured on: between ``actual ** power`` and ``forecast ** power`` (``powered``), and
    ``scale`` measured on it too. 1 is the values as they are; 0.5, their square roots,
    on which Poisson-like counts err alike at every level, so a band earned in a quiet
    hour also fits the busy ones.
    """

    mase_limit: float
    scale: float
    level: int = 95
    min_samples: int = 30
    power: float = 1.0


@dataclass(frozen=True)
class DriftVerdict:
    """Whether to refit, why (a reason code and a sentence), and the evidence."""

    refit: bool
    reason: str
    message: str
    recent_mase: float
    coverage: float
    samples: int


@dataclass(frozen=True)
class ModelVersion:
    """A champion/challenger evaluation, as the ledger records it.

    ``live`` names the version that should serve forecasts after this evaluation:
    the challenger's when ``promoted``, otherwise the champion's.
    """

    champion: str
    challenger: str
    champion_mase: float
    challenger_mase: float
    folds: int
    horizon: int
    promoted: bool
    reason: str

    @property
    def live(self) -> str:
        return self.challenger if self.promoted else self.champion


def band_from_backtest(
    backtest: Backtest, scale: float, *, level: int = 95, tolerance: float = 1.5
) -> DriftBand:
    """The band for a model whose backtest MASE was ``backtest.mase``.

    Degraded means a recent MASE above ``tolerance`` times the backtest's (and at
    least 0.3 above it, so a near-perfect backtest does not make every wobble a drift).
    """
    base = backtest.mase if math.isfinite(backtest.mase) else 1.0
    return DriftBand(max(tolerance * base, base + 0.3), scale, level)


def assess_drift(
    outcomes: Sequence[Outcome],
    band: DriftBand,
    *,
    model_age: float = 0.0,
    max_age: float = 7 * 86400.0,
) -> DriftVerdict:
    """Refit when the model is old, its error left the band, or its interval under-covers.

    Coverage counts as degraded when the hit rate is more than three binomial standard
    errors below the nominal level, so a short unlucky run is not a drift. With fewer
    than ``band.min_samples`` outcomes only the age rule applies.
    """
    return assess_drift_arrays(
        np.array([o.actual for o in outcomes], dtype=np.float64),
        np.array([o.mean for o in outcomes], dtype=np.float64),
        np.array([o.lower for o in outcomes], dtype=np.float64),
        np.array([o.upper for o in outcomes], dtype=np.float64),
        band,
        model_age=model_age,
        max_age=max_age,
    )


def assess_drift_arrays(
    actual: np.ndarray,
    mean: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    band: DriftBand,
    *,
    model_age: float = 0.0,
    max_age: float = 7 * 86400.0,
) -> DriftVerdict:
    """``assess_drift`` on parallel arrays (what a loop that keeps thousands of series
    holds), without building an ``Outcome`` per point."""
    n = int(actual.shape[0])
    usable = np.isfinite(actual) & np.isfinite(mean) & np.isfinite(lower) & np.isfinite(upper)
    actual, mean, lower, upper = actual[usable], mean[usable], lower[usable], upper[usable]
    samples = int(actual.size)
    scale = band.scale if band.scale > 0 and math.isfinite(band.scale) else 1.0
    errors = np.abs(powered(actual, band.power) - powered(mean, band.power))
    recent = float(np.mean(errors) / scale) if samples else math.nan
    coverage = float(np.mean((actual >= lower) & (actual <= upper))) if samples else math.nan
    if model_age > max_age:
        return DriftVerdict(
            True,
            "Scheduled",
            f"the model is {model_age / 3600:.0f} h old (refit every {max_age / 3600:.0f} h)",
            recent,
            coverage,
            samples,
        )
    if samples < band.min_samples:
        return DriftVerdict(
            False,
            "TooFewOutcomes",
            f"{samples} of the {band.min_samples} outcomes needed to judge drift (of {n})",
            recent,
            coverage,
            samples,
        )
    if recent > band.mase_limit:
        return DriftVerdict(
            True,
            "ErrorDrift",
            f"recent MASE {recent:.3g} is above the band's limit {band.mase_limit:.3g}",
            recent,
            coverage,
            samples,
        )
    nominal = band.level / 100.0
    floor = nominal - 3.0 * math.sqrt(nominal * (1.0 - nominal) / samples)
    if coverage < floor:
        return DriftVerdict(
            True,
            "CoverageDrift",
            f"the {band.level}% interval covered {coverage:.1%} of {samples} recent values "
            f"(expected at least {floor:.1%})",
            recent,
            coverage,
            samples,
        )
    return DriftVerdict(
        False,
        "InBand",
        f"recent MASE {recent:.3g} (limit {band.mase_limit:.3g}), "
        f"{band.level}% coverage {coverage:.1%}",
        recent,
        coverage,
        samples,
    )


def challenge(
    series: Series,
    champion: Forecaster,
    challenger: Forecaster,
    horizon: int,
    folds: int = 3,
    *,
    margin: float = 0.97,
) -> ModelVersion:
    """Backtest both over the same recent origins; promote the challenger only if its
    MASE is below ``margin`` times the champion's (or the champion failed every fold).
    """
    clean = clean_series(series).series
    period = detect_seasonality(clean.values, clean.step).primary
    min_train = max(3, clean.values.size // 2)
    old = rolling_origin(clean, champion, horizon, folds, period=period, min_train=min_train)
    new = rolling_origin(clean, challenger, horizon, folds, period=period, min_train=min_train)
    old_name = str(getattr(champion, "version", champion.name))
    new_name = str(getattr(challenger, "version", challenger.name))
    promoted, reason = _rule(
        old.mase if old.usable else math.nan,
        new.mase if new.usable else math.nan,
        margin,
        no_challenger=f"the challenger failed the backtest ({len(new.failures)} folds)",
        no_champion="the champion failed every backtest fold",
    )
    return ModelVersion(
        old_name, new_name, old.mase, new.mase, len(new.origins), horizon, promoted, reason
    )


def powered(values: Sequence[float] | np.ndarray, power: float) -> np.ndarray:
    """``values ** power`` (negatives as 0), the scale a ``DriftBand`` measures errors
    on; the values themselves (as floats) for power 1."""
    x = np.asarray(values, dtype=np.float64)
    if power == 1.0:
        return x
    return np.asarray(np.power(np.maximum(x, 0.0), power), dtype=np.float64)


def naive_scale(values: Sequence[float] | np.ndarray) -> float:
    """The in-sample mean absolute one-step change: what a one-step MASE divides by."""
    x = np.asarray(values, dtype=np.float64)
    steps = np.abs(np.diff(x))
    steps = steps[np.isfinite(steps)]
    return float(np.mean(steps)) if steps.size else math.nan


def challenge_on_holdout(
    actual: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    scale: float,
    *,
    champion_name: str,
    challenger_name: str,
    margin: float = 0.97,
    min_points: int = 10,
) -> ModelVersion:
    """``challenge`` for forecasts already made: both models' one-step forecasts of the
    same held-out values (neither saw them), compared by MASE with the same rule."""
    if not (math.isfinite(scale) and scale > 0):
        scale = 1.0

    def mase(forecast: np.ndarray) -> tuple[float, int]:
        ok = np.isfinite(actual) & np.isfinite(forecast)
        if int(ok.sum()) < min_points:
            return math.nan, int(ok.sum())
        return float(np.mean(np.abs(actual[ok] - forecast[ok])) / scale), int(ok.sum())

    old, _ = mase(champion)
    new, points = mase(challenger)
    promoted, reason = _rule(
        old,
        new,
        margin,
        no_challenger=f"the challenger forecast only {points} held-out values",
        no_champion="the champion has no usable forecast of the held-out values",
    )
    return ModelVersion(champion_name, challenger_name, old, new, 1, 1, promoted, reason)


def _rule(
    old: float, new: float, margin: float, *, no_challenger: str, no_champion: str
) -> tuple[bool, str]:
    """The challenger wins when its MASE is below ``margin`` times the champion's, or
    when the champion has none; never without one of its own (NaN: no measure)."""
    if not math.isfinite(new):
        return False, no_challenger
    if not math.isfinite(old):
        return True, no_champion
    if new < margin * old:
        return True, f"challenger MASE {new:.3g} beats {old:.3g}"
    by = f" by {1 - margin:.0%}" if margin < 1 else ""
    return False, f"challenger MASE {new:.3g} does not beat {old:.3g}{by}"
