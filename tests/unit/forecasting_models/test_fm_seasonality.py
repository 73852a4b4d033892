from __future__ import annotations

import numpy as np

from forecasting.seasonality import candidate_periods, detect_seasonality
from tests.unit.forecasting_models.helpers import daily_series


def test_candidates_come_from_the_step() -> None:
    assert candidate_periods(3600.0) == (24, 168)
    assert candidate_periods(300.0) == (288, 2016)
    assert candidate_periods(7.0) == ()  # a day is not a whole number of 7 s steps
    assert candidate_periods(0.0) == ()


def test_daily_cycle_is_found_in_five_minute_data() -> None:
    series = daily_series(days=5, step=300.0, noise=3.0)
    season = detect_seasonality(series.values, series.step)
    assert season.periods == (288,)
    assert season.acf[288] > 0.5


def test_weekly_cycle_is_kept_only_when_it_adds_something() -> None:
    plain = daily_series(days=28, noise=2.0)
    assert detect_seasonality(plain.values, plain.step).periods == (24,)
    weekends = daily_series(days=28, noise=2.0, weekly=40.0)
    assert detect_seasonality(weekends.values, weekends.step).periods == (24, 168)


def test_pure_noise_has_no_period() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(10, 1, 24 * 21)
    assert detect_seasonality(values, 3600.0).periods == ()


def test_too_short_history_tests_nothing() -> None:
    series = daily_series(days=1)
    season = detect_seasonality(series.values, series.step)
    assert season.periods == () and season.acf == {}
