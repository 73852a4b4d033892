"""benchmarks/replay.py's window split and profile-setting option; replay_matched's bisection."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from benchmarks.replay import _profile_settings, _split
from benchmarks.replay_matched import bisect_margin
from forecasting.profile import ProfileSettings
from forecasting.replay import Plant, ReplayPolicy, ReplayResult, replay
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


def _fake_result(margin: float) -> ReplayResult:
    # cost rises and misses fall with the margin, as on a real frontier
    return ReplayResult(
        policy=ReplayPolicy("predictive", 0.8, margin),
        under_provisioned_minutes=1000.0 * (1.0 - margin),
        under_provisioned_fraction=0.0,
        replica_hours=100.0 + 50.0 * margin,
        scale_events=0,
        scored_minutes=1.0,
        skipped_gap_minutes=0.0,
        floor_binding_fraction=0.0,
    )


def test_bisection_finds_the_largest_margin_within_a_cost_budget() -> None:
    tried: list[float] = []

    def run(margin: float) -> ReplayResult:
        tried.append(margin)
        return _fake_result(margin)

    found = bisect_margin(run, lambda r: r.replica_hours <= 120.0, -0.3, 1.0, 10, ok_at="low")
    assert found is not None
    assert found.result.replica_hours <= 120.0  # never over the budget
    assert found.margin == pytest.approx(0.4, abs=1.3 / 2**10)  # 100 + 50 m = 120 at 0.4
    assert found.margin in tried  # a measured point, not an interpolation


def test_bisection_finds_the_smallest_margin_within_an_under_provisioning_budget() -> None:
    found = bisect_margin(
        _fake_result, lambda r: r.under_provisioned_minutes <= 500.0, -0.3, 1.0, 10, ok_at="high"
    )
    assert found is not None
    assert found.result.under_provisioned_minutes <= 500.0
    assert found.margin == pytest.approx(0.5, abs=1.3 / 2**10)


def test_bisection_says_when_the_budget_is_out_of_reach_or_met_everywhere() -> None:
    assert (
        bisect_margin(_fake_result, lambda r: r.replica_hours <= 50.0, -0.3, 1.0, 5, ok_at="low")
        is None
    )
    everywhere = bisect_margin(
        _fake_result, lambda r: r.replica_hours <= 1e9, -0.3, 1.0, 5, ok_at="low"
    )
    assert everywhere is not None and everywhere.margin == 1.0
