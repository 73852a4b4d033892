"""The replay's opt-in per-minute timeline: off by default, and consistent with the result."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from forecasting.replay import Plant, ReplayPolicy, ReplayResult, ReplayTimeline, replay
from forecasting.series import make_series

STEP = 60.0


def _step_trace() -> np.ndarray:
    """Two step-ups the HPA is late for, and a gap of ten minutes."""
    values = np.concatenate([np.full(60, 70.0), np.full(60, 140.0), np.full(60, 280.0)])
    values[90:100] = np.nan
    return values


def test_timeline_is_off_by_default_and_never_in_as_dict() -> None:
    values = _step_trace()
    series = make_series(np.arange(values.shape[0]) * STEP, values, step=STEP)
    plant = Plant(capacity_per_pod=10.0, startup_seconds=120.0)
    plain = replay(series, plant, ReplayPolicy("hpa", 0.7))
    traced = replay(series, plant, ReplayPolicy("hpa", 0.7), timeline=True)
    assert plain.timeline is None
    assert traced.timeline is not None
    assert plain.as_dict() == traced.as_dict()  # asking for it changes no measure
    assert "timeline" not in traced.as_dict()


def _replayed(policy: Any, warmup: float) -> tuple[Any, Plant, ReplayResult, ReplayTimeline]:
    """The step trace replayed with its timeline: (values, plant, result, timeline)."""
    values = _step_trace()
    series = make_series(np.arange(values.shape[0]) * STEP, values, step=STEP)
    plant = Plant(capacity_per_pod=10.0, startup_seconds=120.0)
    result = replay(series, plant, ReplayPolicy(policy, 0.7), warmup_seconds=warmup, timeline=True)
    assert result.timeline is not None
    return values, plant, result, result.timeline


@pytest.mark.parametrize(("policy", "warmup"), [("hpa", 0.0), ("hpa", 1800.0), ("oracle", 0.0)])
def test_timeline_lengths_and_under_provisioned_minutes_agree(policy: Any, warmup: float) -> None:
    values, plant, result, timeline = _replayed(policy, warmup)
    ticks = math.floor(values.shape[0] * STEP / plant.sync_seconds)
    per = round(timeline.resolution_seconds / timeline.tick_seconds)
    assert timeline.resolution_seconds == 60.0 and per == 4
    assert len(timeline) == math.ceil(ticks / per) == values.shape[0]
    for array in (timeline.load_pods, timeline.ready, timeline.pods, timeline.under_ticks):
        assert array.shape == timeline.times.shape
    assert np.allclose(np.diff(timeline.times), 60.0)
    assert np.all(timeline.pods >= timeline.ready)
    # the load in pods needed: load / capacity per pod, NaN over the gap
    assert np.allclose(timeline.load_pods[:60], 7.0)
    assert np.all(np.isnan(timeline.load_pods[90:100]))
    assert np.all(timeline.under_ticks[90:100] == 0)  # gaps are not scored
    assert np.all(timeline.under_ticks[: int(warmup // 60)] == 0)  # nor is the warm-up
    # the ticks the timeline counts are exactly the result's under-provisioned minutes
    minutes = float(timeline.under_ticks.sum()) * timeline.tick_seconds / 60.0
    assert minutes == pytest.approx(result.under_provisioned_minutes)
    # and whole flagged minutes agree to within the resolution (a partial minute at each
    # end of each under-provisioned stretch)
    flagged = timeline.under_ticks > 0
    runs = int(np.sum(flagged[1:] & ~flagged[:-1]) + flagged[0])
    assert 0 <= flagged.sum() - result.under_provisioned_minutes < 2 * max(runs, 1)
    # a flagged minute's worst moment shows more load than ready pods can serve
    assert np.all(timeline.load_pods[flagged] > timeline.ready[flagged])
    if policy == "oracle":
        assert result.under_provisioned_minutes == 0 and not flagged.any()
    elif warmup == 0:
        assert result.under_provisioned_minutes > 0 and runs == 2


@pytest.mark.parametrize(("policy", "warmup"), [("hpa", 0.0), ("hpa", 1800.0), ("oracle", 600.0)])
def test_timeline_scores_any_window_like_the_result(policy: Any, warmup: float) -> None:
    _, _, result, timeline = _replayed(policy, warmup)
    assert timeline.billed_pod_ticks is not None and timeline.scored_ticks is not None
    tick = timeline.tick_seconds
    # the whole trace: the result's replica-hours and scored minutes, exactly
    assert timeline.billed_pod_ticks.sum() * tick / 3600.0 == pytest.approx(result.replica_hours)
    assert timeline.scored_ticks.sum() * tick / 60.0 == pytest.approx(result.scored_minutes)
    # neither the warm-up nor the gap is scored or billed
    assert np.all(timeline.scored_ticks[: int(warmup // 60)] == 0)
    assert np.all(timeline.billed_pod_ticks[90:100] == 0)
    # a scored minute bills at least its most-ready pods, at most its most pods, per tick
    per = round(timeline.resolution_seconds / tick)
    full = timeline.scored_ticks == per
    assert np.all(timeline.billed_pod_ticks[full] >= per * timeline.ready[full])
    assert np.all(timeline.billed_pod_ticks[full] <= per * timeline.pods[full])
