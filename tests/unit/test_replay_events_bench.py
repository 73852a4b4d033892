"""benchmarks/replay_events.py on a tiny synthetic trace: it runs in a few seconds, the
scheduled arm's floor comes from the scaling loop's own code, and the report says so."""

from __future__ import annotations

import argparse
import math

import numpy as np

from benchmarks.replay import DAY
from benchmarks.replay_events import (
    ARMS,
    event_chart,
    events_of,
    inject,
    pick_events,
    report,
    run_trace,
    schedules,
)
from forecasting.series import make_series


def _trace(days: int = 10, step: float = 300.0) -> tuple[np.ndarray, np.ndarray]:
    times = np.arange(0.0, days * DAY, step)
    daily = 100.0 + 60.0 * np.sin(2 * np.pi * times / DAY)
    return times, daily


def test_surges_are_placed_apart_on_the_grid_and_scaled() -> None:
    times, values = _trace(days=12)
    series = make_series(times, values, step=300.0, name="tiny")
    windows = pick_events(series, np.random.default_rng(0), 2)
    assert len(windows) == 2
    (a, a_end), (b, _) = windows
    assert b - a >= 2 * DAY and a >= 7 * DAY
    assert a % 300.0 == 0 and 45 * 60 <= a_end - a <= 90 * 60 + 300
    surged = inject(series, windows, 3.0)
    i = int(a / 300.0)
    assert surged.values[i] == 3.0 * series.values[i]
    assert surged.values[i - 1] == series.values[i - 1]
    event = events_of(surged, windows)[0]
    floors = schedules([event], 0.7, 10.0, 1.0)
    assert floors[0].min_replicas == math.ceil(event.peak / 7.0)


def test_the_benchmark_runs_on_a_tiny_trace() -> None:
    times, values = _trace(days=2)
    series = make_series(times, values, step=300.0, name="tiny")
    args = argparse.Namespace(
        events=1, factor=3.0, target=0.7, margin=0.0, mean_pods=10.0, warmup_days=1.0
    )
    # "nasa" only names the seed stream here; the trace is the synthetic one
    runs, events, info, results = run_trace("nasa", series, 3, args, (300.0,))
    assert len(events) == 1 and [r.arm for r in runs] == [arm for arm, _ in ARMS]
    by_arm = {r.arm: r for r in runs}
    # the HPA alone misses the start of a x3 surge with 300 s start-up; the scheduled
    # floor, raised a lead ahead by the loop's own code, does not
    assert by_arm["hpa"].event_under > 0
    assert by_arm["scheduled"].event_under == 0
    assert by_arm["scheduled"].result.reasons.get("ScheduledFloor", 0) > 0
    assert "ScheduledFloor" not in by_arm["predictive"].result.reasons
    assert by_arm["scheduled x1.3"].result.replica_hours > by_arm["scheduled"].result.replica_hours
    text = report(runs, {("nasa", 3): events}, {("nasa", 3): info}, args, "cmd", "p.svg")
    assert "| scheduled | 0.0 (0%) |" in text and "![one surge, replayed](p.svg)" in text
    assert event_chart("nasa", 300.0, events[0], results).startswith("<?xml")
