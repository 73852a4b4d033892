"""What the scaling loop keeps per workload: no more history than a fit reads, and a
compacted fitted model, with the same forecasts as a full history and a full model."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from agent.clock import FakeClock
from agent.loops.scaling import HISTORY, LEVELS, STEP, LoadHistory, ScalingLoop
from agent.settings import ScalingSettings
from forecasting.series import Series

END = 1_795_310_280.0


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


def _week_and_a_day(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = END - STEP * np.arange(int(HISTORY // STEP) + 1)[::-1]
    values = 50 * (1 + 0.3 * np.sin(2 * np.pi * t / 86_400)) * rng.lognormal(0, 0.1, t.size)
    values[rng.random(t.size) < 0.01] = np.nan  # gaps stay gaps
    return t, values


def test_the_loop_keeps_exactly_what_a_fit_reads() -> None:
    loop = _loop()
    settings = loop.forecaster.settings
    assert loop.keep == settings.history_periods * settings.period_seconds < HISTORY
    t, values = _week_and_a_day(1)
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
    t, values = _week_and_a_day(2)
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
