"""Choosing a model per series by rolling-origin backtest.

``select_model`` refits every candidate at ``folds`` past origins, scores the
forecasts by MASE (mean absolute error over the seasonal naive's in-sample error, so
scores compare across series and 1.0 means "no better than repeating the last cycle"),
and picks the lowest. The winner's backtest errors also calibrate its prediction
intervals, returned with the choice so that each forecasting cycle can reuse them.

Cost: ``len(candidates) * folds`` fits per series. With the default candidates (five)
and three folds on two weeks of 5-minute data that measured about 1.6 CPU seconds per
series, roughly 27 CPU minutes per 1,000 series (extrapolated from 20; see
``benchmarks/refit_cost_RESULTS.md``), which is why selection runs on a schedule (say
nightly, or when ``forecasting.drift`` asks for a refit) and every forecasting cycle
reuses the stored ``Selection`` (its model and its ``calibration``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from forecasting.backtest import Backtest, Calibration, calibrate, rolling_origin
from forecasting.baselines import ModelError, Naive, SeasonalNaive
from forecasting.cleaning import clean_series
from forecasting.forecast import Forecaster
from forecasting.seasonality import Seasonality, detect_seasonality
from forecasting.series import Series

__all__ = ["Selection", "select_model"]

# A candidate must beat seasonal naive's MASE by this factor to displace it: a small
# backtest win is often noise, and the simpler model is cheaper and never diverges.
_SIMPLER_MARGIN = 0.98


@dataclass(frozen=True, eq=False)
class Selection:
    """The chosen model, the backtest of every candidate, and interval calibration.

    ``scores`` maps each candidate's name to its backtest (MASE, sMAPE, errors,
    failures, seconds). ``calibration`` is None when the backtest had no usable fold.
    ``reason`` is one sentence on why the model won.
    """

    model: Forecaster
    scores: dict[str, Backtest]
    calibration: Calibration | None
    seasonality: Seasonality
    reason: str

    @property
    def version(self) -> str:
        return str(getattr(self.model, "version", self.model.name))


def select_model(
    series: Series,
    candidates: tuple[Forecaster, ...] | None = None,
    horizon: int = 12,
    folds: int = 3,
    *,
    levels: tuple[int, ...] = (80, 95),
    periods: tuple[int, ...] | None = None,
) -> Selection:
    """Backtest ``candidates`` (default: ``forecasting.models.candidate_models``).

    The series is cleaned first, exactly as ``fit_forecast`` cleans it. A baseline
    (seasonal naive, or naive without a cycle) is always backtested so there is a bar
    to beat; a candidate replaces it only with a MASE at least 2 % lower.

    Raises ``ValueError`` when every sample is missing.
    """
    if folds < 1:
        raise ValueError(f"folds must be at least 1, got {folds}")
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 step, got {horizon}")
    clean = clean_series(series).series
    season = detect_seasonality(clean.values, clean.step, candidates=periods)
    if candidates is None:
        from forecasting.models import candidate_models

        candidates = candidate_models(season, clean.values, clean.step)
    baseline: Forecaster = SeasonalNaive(season.primary) if season.primary is not None else Naive()
    pool = list(candidates)
    if all(c.name != baseline.name for c in pool):
        pool.insert(0, baseline)
    min_train = max(3, clean.values.size // 2)
    scores: dict[str, Backtest] = {}
    for candidate in pool:
        try:
            scores[candidate.name] = rolling_origin(
                clean, candidate, horizon, folds, period=season.primary, min_train=min_train
            )
        except ModelError as exc:  # only when every sample is missing
            raise ValueError(str(exc)) from exc
    base_score = scores[baseline.name].mase
    best = baseline
    best_score = base_score
    for candidate in pool:
        score = scores[candidate.name].mase
        if candidate is baseline or not math.isfinite(score):
            continue
        beats_base = not math.isfinite(base_score) or score < _SIMPLER_MARGIN * base_score
        if beats_base and score < best_score:
            best, best_score = candidate, score
    if best is baseline:
        reason = f"{baseline.name} kept: no candidate beat its backtest MASE ({base_score:.3g})"
    else:
        reason = (
            f"{best.name} won the backtest: MASE {best_score:.3g} vs "
            f"{base_score:.3g} for {baseline.name}"
        )
    calibration = calibrate(scores[best.name].errors, levels)
    return Selection(best, scores, calibration, season, reason)
