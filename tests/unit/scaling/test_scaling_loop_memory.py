"""What the scaling loop keeps per workload: between refits only the newest points and a
compacted fitted model; a refit reads no more history than a fit uses, and forecasts what
a full history and a full model forecast."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from agent.clock import FakeClock
from agent.loops.scaling import HISTORY, LEVELS, RECENT, STEP, LoadHistory, ScalingLoop
from agent.settings import ScalingSettings
from forecasting.series import Series
from tests.unit.scaling.fakes import END, WeekReader, loop_over, week_and_a_day, workload


def _loop() -> ScalingLoop:
    unused = cast(Any, None)  # the constructor only stores these
    return ScalingLoop(
        ScalingSettings(),
        reader=unused,
        cluster=unused,
        decisions=unused,
        executor=unused,
        clock=FakeClock(END),
        submit=lambda signals: None,
    )


def test_the_loop_keeps_exactly_what_a_fit_reads() -> None:
    loop = _loop()
    settings = loop.forecaster.settings
    assert loop.keep == settings.history_periods * settings.period_seconds < HISTORY
    t, values = week_and_a_day(1)
    full, kept = LoadHistory(), LoadHistory()
    full.extend(t, values, keep=HISTORY)
    kept.extend(t, values, keep=loop.keep)
    assert kept.size == int(loop.keep // STEP) < full.size
    assert kept.last == full.last
    forecasts = []
    for history in (full, kept):
        series = Series(history.timestamps(), history.values, STEP, "load")
        fitted = loop.forecaster.fit(series)
        forecasts.append((fitted.predict(6, LEVELS), fitted.compact(LEVELS).predict(6, LEVELS)))
    reference = forecasts[0][0]
    assert reference.fallback_reason is None  # a daily shape: the profile, not the fallback
    for forecast in (forecasts[0][1], *forecasts[1]):
        assert np.array_equal(forecast.mean, reference.mean)
        for level in LEVELS:
            for a, b in zip(forecast.intervals[level], reference.intervals[level], strict=True):
                assert np.array_equal(a, b)


def test_a_float32_history_forecasts_what_a_float64_one_does() -> None:
    loop = _loop()
    t, values = week_and_a_day(2)
    kept = LoadHistory()
    kept.extend(t, values, keep=loop.keep)
    assert kept.values.dtype == np.float64
    exact = values[-kept.size :]
    assert np.array_equal(np.isnan(kept.values), np.isnan(exact))  # gaps stay gaps
    forecasts = [
        loop.forecaster.fit(Series(kept.timestamps(), v, STEP, "load")).predict(6, LEVELS)
        for v in (kept.values, exact)
    ]
    assert np.allclose(forecasts[0].mean, forecasts[1].mean, rtol=1e-6, atol=0)
    for level in LEVELS:
        for a, b in zip(forecasts[0].intervals[level], forecasts[1].intervals[level], strict=True):
            assert np.allclose(a, b, rtol=1e-6, atol=0)
    assert not np.array_equal(kept.values, exact)  # it is float32: the test compares


def test_a_sample_beyond_float32_range_is_a_gap() -> None:
    history = LoadHistory()
    t = END - STEP * np.arange(4)[::-1]
    history.extend(t, np.array([1.0, 1e300, -1e300, 2.0]), keep=HISTORY)
    assert history.values.tolist()[0] == 1.0 and history.values.tolist()[3] == 2.0
    assert np.isnan(history.values[1:3]).all()


def test_between_refits_only_the_newest_points_are_kept_and_a_refit_reads_its_week() -> None:
    t, values = week_and_a_day(3)
    start = float(t[-120])  # the loop runs over the last two hours of the series
    reader, clock = WeekReader(t, values), FakeClock(start)
    web = workload("web")
    loop = loop_over(reader, clock, [web], refitEvery="1h")
    for minute in range(100):
        loop.cycle()
        model = loop.models[web.ref]
        assert model.recent.size == min(RECENT, int(loop.keep // STEP))
        assert model.recent.last == clock.now()
        now = clock.now()
        # a week at the first cycle and at the refit an hour later, else the new minute
        wanted = (now - loop.keep) if minute in (0, 60) else now
        assert reader.reads[-1] == (wanted, now), minute
        # what goes live is what a fit on that week gives (at the refit, only if the
        # challenger beat the live model on the last hour; else the live model stays)
        if minute in (0, 60):
            week = LoadHistory()
            inside = (t >= now - loop.keep) & (t <= now)
            week.extend(t[inside], values[inside], keep=loop.keep)
            direct = loop.forecaster.fit(Series(week.timestamps(), week.values, STEP, "load"))
            ours = model.fitted
            assert ours is not None and model.evaluated_at == now
            if minute == 0 or model.version == 2:
                theirs = direct.compact(LEVELS)
                assert np.array_equal(ours.profile, theirs.profile)
                assert ours.level == theirs.level
                first_profile = theirs.profile
            else:
                assert model.version == 1 and np.array_equal(ours.profile, first_profile)
        clock.advance(STEP)
    assert len(reader.reads) == 100


def test_refits_that_fall_due_together_are_spread_over_cycles() -> None:
    """Ten models fitted in the same first cycle fall due an hour later together; with a
    one-minute period each cycle refits at most its share (here one), so no cycle reads
    ten weeks, and every model is refitted within minutes of its due time."""
    t, values = week_and_a_day(4)
    start = float(t[-120])
    reader, clock = WeekReader(t, values), FakeClock(start)
    workloads = [workload(f"web-{i}") for i in range(10)]
    loop = loop_over(reader, clock, workloads, refitEvery="1h", period="1m")
    weeks_per_cycle = []
    for _ in range(80):
        before = len(reader.reads)
        loop.cycle()
        weeks_per_cycle.append(
            sum(1 for s, e in reader.reads[before:] if e - s >= loop.keep - STEP)
        )
        clock.advance(STEP)
    assert weeks_per_cycle[0] == 10  # first fits are never held back
    assert max(weeks_per_cycle[1:]) == 1  # then one refit a cycle at most
    assert sum(weeks_per_cycle[1:]) == 10  # every model refitted once in the 80 minutes
    first = start  # every model was fitted in the first cycle
    assert all(m.evaluated_at >= first + 3600 for m in loop.models.values())  # all re-judged
    assert weeks_per_cycle.index(1) == 60  # the first, on time


def test_a_workload_model_and_its_estimates_hold_no_instance_dict() -> None:
    # One model per workload, 45 fields: past 30 attributes an instance dict costs about
    # 2 KB more than slots (1.3 MB at 1,000 workloads).
    from agent.loops.scaling import WorkloadModel

    model = WorkloadModel()
    for held in (model, model.capacity, model.startup):
        assert not hasattr(held, "__dict__"), type(held).__name__
