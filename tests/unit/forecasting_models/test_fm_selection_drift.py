from __future__ import annotations

import math

import numpy as np
import pytest

from forecasting.backtest import calibrate, rolling_origin, smape
from forecasting.baselines import Naive, SeasonalNaive
from forecasting.drift import (
    DriftBand,
    Outcome,
    assess_drift,
    band_from_backtest,
    challenge,
)
from forecasting.models import MstlETS
from forecasting.selection import select_model
from tests.unit.forecasting_models.helpers import daily_series


def test_rolling_origin_refits_at_each_origin() -> None:
    series = daily_series(days=10, noise=0.0)
    backtest = rolling_origin(series, SeasonalNaive(24), 24, 3, period=24)
    assert backtest.origins == (240 - 72, 240 - 48, 240 - 24)
    assert backtest.errors.shape == (3, 24)
    assert np.abs(backtest.errors).max() < 1e-9  # a noiseless cycle is repeated exactly
    assert backtest.smape < 1e-9


def test_backtest_records_failures_instead_of_raising() -> None:
    from tests.unit.forecasting_models.test_fm_models import Exploding

    backtest = rolling_origin(daily_series(days=5), Exploding(), 12, 2)
    assert not backtest.usable
    assert math.isinf(backtest.mase)
    assert len(backtest.failures) == 2


def test_calibration_widths_follow_the_error_quantiles() -> None:
    rng = np.random.default_rng(0)
    errors = rng.normal(0, 2.0, size=(40, 10))
    calibration = calibrate(errors, (80, 95))
    assert calibration is not None
    assert np.all(np.diff(calibration.widths[95]) >= 0)
    # |N(0, 2)| quantiles: 80 % -> 2.56, 95 % -> 3.92
    assert 2.0 < calibration.widths[80].mean() < 3.2
    assert 3.2 < calibration.widths[95].mean() < 5.0
    offsets = calibration.offsets(12, (80,))
    assert offsets is not None and offsets[80][1].size == 12
    assert calibration.offsets(12, (50,)) is None


def test_smape_is_on_the_m4_scale() -> None:
    assert smape(np.array([100.0]), np.array([100.0])) == 0.0
    assert smape(np.array([1.0]), np.array([0.0])) == 200.0
    assert smape(np.array([0.0]), np.array([0.0])) == 0.0


def test_selection_prefers_seasonal_model_over_naive_on_a_cycle() -> None:
    series = daily_series(days=10, noise=2.0)
    selection = select_model(series, (Naive(), MstlETS((24,))), horizon=12, folds=2)
    assert set(selection.scores) == {"seasonal-naive-24", "naive", "mstl-ets-24"}
    assert selection.scores["naive"].mase > selection.scores[selection.model.name].mase
    assert selection.model.name in {"seasonal-naive-24", "mstl-ets-24"}
    assert selection.calibration is not None
    assert selection.reason


def test_selection_keeps_seasonal_naive_when_nothing_beats_it() -> None:
    series = daily_series(days=10, noise=0.0)
    selection = select_model(series, (Naive(),), horizon=12, folds=2)
    assert selection.model.name == "seasonal-naive-24"
    assert "kept" in selection.reason


def _outcomes(errors: np.ndarray, width: float) -> list[Outcome]:
    return [Outcome(100.0 + e, 100.0, 100.0 - width, 100.0 + width) for e in errors]


def test_drift_in_band_when_errors_match_the_backtest() -> None:
    rng = np.random.default_rng(1)
    band = DriftBand(mase_limit=1.5, scale=2.0)
    verdict = assess_drift(_outcomes(rng.normal(0, 1.0, 200), 2.0), band)
    assert (verdict.refit, verdict.reason) == (False, "InBand")
    assert 0.9 < verdict.coverage <= 1.0


def test_drift_when_error_grows() -> None:
    rng = np.random.default_rng(2)
    band = DriftBand(mase_limit=1.5, scale=2.0)
    verdict = assess_drift(_outcomes(rng.normal(0, 10.0, 200), 100.0), band)
    assert (verdict.refit, verdict.reason) == (True, "ErrorDrift")


def test_drift_when_intervals_under_cover() -> None:
    rng = np.random.default_rng(3)
    band = DriftBand(mase_limit=5.0, scale=2.0)
    verdict = assess_drift(_outcomes(rng.normal(0, 1.0, 200), 0.5), band)
    assert (verdict.refit, verdict.reason) == (True, "CoverageDrift")


def test_drift_waits_for_evidence_but_honours_the_schedule() -> None:
    band = DriftBand(mase_limit=1.5, scale=1.0)
    few = _outcomes(np.array([50.0] * 5), 1.0)
    assert assess_drift(few, band).reason == "TooFewOutcomes"
    assert assess_drift(few, band, model_age=8 * 86400.0).reason == "Scheduled"


def test_band_from_backtest_has_room_above_a_perfect_score() -> None:
    backtest = rolling_origin(daily_series(days=6, noise=0.0), SeasonalNaive(24), 12, 2)
    band = band_from_backtest(backtest, scale=1.0)
    assert band.mase_limit >= 0.3


def test_challenger_must_clearly_beat_the_champion() -> None:
    series = daily_series(days=8, noise=1.0)
    promoted = challenge(series, Naive(), SeasonalNaive(24), horizon=12, folds=2)
    assert promoted.promoted and promoted.live == "seasonal-naive-24/1"
    assert promoted.challenger_mase < promoted.champion_mase
    kept = challenge(series, SeasonalNaive(24), Naive(), horizon=12, folds=2)
    assert not kept.promoted and kept.live == "seasonal-naive-24/1"
    assert "does not beat" in kept.reason


def test_few_errors_still_separate_the_levels() -> None:
    errors = np.array([[1.0, -2.0, 1.5], [-1.0, 0.5, 2.5], [2.0, -1.0, 1.0]])
    calibration = calibrate(errors, (80, 95))
    assert calibration is not None
    assert np.all(calibration.widths[95] > calibration.widths[80])
    rms = np.sqrt(np.mean(errors[:, :2] ** 2))
    assert calibration.widths[95][0] == pytest.approx(1.959964 * rms, rel=1e-4)


def test_normal_quantile_matches_tables() -> None:
    from forecasting.baselines import normal_quantile

    assert normal_quantile(0.975) == pytest.approx(1.959964, abs=1e-6)
    assert normal_quantile(0.9) == pytest.approx(1.281552, abs=1e-6)
    assert normal_quantile(0.001) == pytest.approx(-3.090232, abs=1e-6)
