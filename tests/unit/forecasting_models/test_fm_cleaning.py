from __future__ import annotations

import numpy as np
import pytest

from forecasting.cleaning import clean_series, fill_gaps
from tests.unit.forecasting_models.helpers import daily_series, values_series


def test_gaps_are_interpolated_and_reported() -> None:
    series = daily_series(days=7)
    values = series.values.copy()
    values[10:15] = np.nan
    cleaned = clean_series(values_series(values, series.step))
    assert not np.isnan(cleaned.series.values).any()
    assert any("interpolated 5 missing" in note for note in cleaned.notes)
    # interpolation lies between the neighbours
    assert min(values[9], values[15]) <= cleaned.series.values[12] <= max(values[9], values[15])


def test_leading_gap_is_dropped_not_invented() -> None:
    cleaned = clean_series(values_series([np.nan, np.nan, 1.0, 2.0, 3.0]))
    assert cleaned.dropped_leading == 2
    assert list(cleaned.series.values) == [1.0, 2.0, 3.0]


def test_all_missing_is_an_error() -> None:
    with pytest.raises(ValueError, match="every sample is missing"):
        clean_series(values_series([np.nan] * 5))


def test_counter_reset_is_undone() -> None:
    counter = np.concatenate([np.arange(0, 500, 5.0), np.arange(0, 300, 5.0)])
    cleaned = clean_series(values_series(counter))
    assert cleaned.counter
    assert np.all(np.diff(cleaned.series.values) >= 0)
    assert cleaned.series.values[-1] == pytest.approx(495.0 + 295.0)


def test_spike_of_ten_to_the_twelve_is_removed() -> None:
    series = daily_series(days=7, seed=3)
    values = series.values.copy()
    values[50] = 1e12
    cleaned = clean_series(values_series(values, series.step))
    assert cleaned.series.values.max() < 200
    # One glitch is "1 glitch sample", not "1 glitch samples".
    assert "replaced 1 glitch sample far outside the series' range" in cleaned.notes


def test_outage_zeros_are_not_demand() -> None:
    series = daily_series(days=7, seed=4)
    values = series.values.copy()
    values[30:36] = 0.0
    cleaned = clean_series(values_series(values, series.step))
    assert cleaned.series.values[30:36].min() > 40
    assert any("outage" in note for note in cleaned.notes)


def test_level_shift_moves_old_history_to_new_level() -> None:
    series = daily_series(days=14, seed=5)
    values = series.values.copy()
    values[-24 * 4 :] += 200.0
    cleaned = clean_series(values_series(values, series.step), season=24)
    assert any("level shift" in note for note in cleaned.notes)
    old_mean = cleaned.series.values[: 24 * 10].mean()
    new_mean = cleaned.series.values[-24 * 4 :].mean()
    assert abs(old_mean - new_mean) < 20


def test_clean_series_leaves_ordinary_noise_alone() -> None:
    rng = np.random.default_rng(7)
    values = 50 + rng.normal(0, 5, 2000)
    cleaned = clean_series(values_series(values))
    assert cleaned.notes == ()
    np.testing.assert_array_equal(cleaned.series.values, values)


def test_fill_gaps_holds_the_ends() -> None:
    filled = fill_gaps(np.array([np.nan, 2.0, np.nan, 4.0, np.nan]))
    np.testing.assert_array_equal(filled, [2.0, 2.0, 3.0, 4.0, 4.0])


def test_a_leading_glitch_before_a_rising_series_is_not_a_counter_reset() -> None:
    """A 10^12 first sample, then a series that only rises: the glitch is removed before
    the counter check, so no "reset" lifts the whole history by 10^12."""
    values = np.concatenate([[1e12], np.linspace(100.0, 150.0, 60)])
    cleaned = clean_series(values_series(values))
    assert float(np.max(cleaned.series.values)) <= 150.0
    assert any("glitch" in note for note in cleaned.notes)
    assert not any("counter reset" in note for note in cleaned.notes)
