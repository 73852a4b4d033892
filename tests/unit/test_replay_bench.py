"""benchmarks/replay.py's window split and profile-setting option."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from benchmarks.replay import _profile_settings, _split
from forecasting.profile import ProfileSettings
from forecasting.replay import Plant, ReplayPolicy, replay
from forecasting.series import make_series


def test_split_scores_add_up_to_the_whole() -> None:
    values = np.concatenate([np.full(60, 70.0), np.full(60, 140.0), np.full(60, 280.0)])
    values[150:160] = np.nan
    series = make_series(np.arange(values.shape[0]) * 60.0, values, step=60.0)
    plant = Plant(capacity_per_pod=10.0, startup_seconds=120.0)
    result = replay(series, plant, ReplayPolicy("hpa", 0.7), warmup_seconds=600.0, timeline=True)
    parts = _split(result, split=90 * 60.0)
    before, after = parts["<"], parts[">="]
    assert before.under_provisioned_minutes + after.under_provisioned_minutes == pytest.approx(
        result.under_provisioned_minutes
    )
    assert before.replica_hours + after.replica_hours == pytest.approx(result.replica_hours)
    assert before.scored_minutes + after.scored_minutes == pytest.approx(result.scored_minutes)
    assert before.scored_minutes == pytest.approx(80.0)  # minutes 10-89: the warm-up is not
    assert before.under_provisioned_minutes > 0 and after.under_provisioned_minutes > 0


def test_profile_settings_are_parsed_by_field_type() -> None:
    parser = argparse.ArgumentParser()
    got = _profile_settings(
        parser,
        ProfileSettings(),
        ["strength_within_period=true", "min_strength=0.2", "history_periods=14"],
    )
    assert got.strength_within_period is True
    assert got.min_strength == 0.2 and got.history_periods == 14


@pytest.mark.parametrize(
    "assignment", ["nonsense=1", "min_strength", "min_strength=lots", "strength_within_period=2"]
)
def test_bad_profile_settings_are_refused(assignment: str) -> None:
    with pytest.raises(SystemExit):
        _profile_settings(argparse.ArgumentParser(), ProfileSettings(), [assignment])
