"""The replay with the daemon's rules handles what is not demand as the scaling loop
does, with the same functions: a refit fits an outage's zeros and a glitch as gaps, the
drift check scores neither, and the floor is held on a sample that looks like a glitch
(``tests/unit/scaling/test_scaling_not_demand.py`` checks the loop itself)."""

from __future__ import annotations

import numpy as np

from forecasting.profile import ProfileSettings
from forecasting.replay import Plant, ReplayPolicy, forecast_path, replay
from forecasting.series import make_series

STEP = 60.0
DAY = 1440
OUTAGE = 3 * DAY + 9 * 60  # three hours of zeros from 09:00 on day 3, load on both sides
GLITCH = 3 * DAY + 20 * 60  # one sample of 10^9 at 20:00 the same day (the load is ~300)


def _trace() -> np.ndarray:
    """Five days of requests a minute, Poisson around a daily wave (the seed and wave of
    ``test_replay_lifecycle``'s steady trace, on which the drift check raises no false
    alarm), with an outage and a glitch."""
    rng = np.random.default_rng(3)
    t = np.arange(5 * DAY)
    values = rng.poisson(300 + 200 * np.sin((t % DAY) / DAY * 2 * np.pi)).astype(np.float64)
    values[OUTAGE : OUTAGE + 180] = 0.0
    values[GLITCH] = 1e9
    return values


def test_an_outage_and_a_glitch_neither_distrust_the_model_nor_move_the_floor() -> None:
    """Before, the replay scored the outage's zeros and the glitch as forecast misses
    (the workload reactive, PoorAccuracy, and refitted on drift), fitted its refits on
    them, and raised the floor to the glitch's 10^9 load (the most replicas, then
    released a tenth a minute) where the loop holds it."""
    values = _trace()
    series = make_series(np.arange(values.size) * STEP, values, step=STEP)
    path = forecast_path(
        series,
        horizon=4,
        refit_seconds=6 * 3600.0,
        settings=ProfileSettings(history_periods=3),
        lifecycle=True,
    )
    assert path.untrusted is not None
    # A decision at minute d sees the sample of minute d - 1 (a minute's metric lag).
    seasonal = [
        d
        for d, (forecast, why) in enumerate(zip(path.forecasts, path.untrusted, strict=True))
        if forecast is not None and forecast.fallback_reason is None
    ]
    assert len(seasonal) > 2 * DAY  # from day 2 on, the outage and glitch included
    assert [d for d in seasonal if path.untrusted[d] is not None] == []
    assert path.held is not None
    # Held on the glitch alone: the loop acts on no sample that has not held 3 minutes.
    assert [d for d, why in enumerate(path.held) if why is not None] == [GLITCH + 1]
    assert "1e+09" in str(path.held[GLITCH + 1])

    policy = ReplayPolicy("predictive", 0.7, refit_seconds=6 * 3600.0, daemon_rules=True)
    plant = Plant(capacity_per_pod=20.0, startup_seconds=120.0)
    result = replay(series, plant, policy, path=path, warmup_seconds=2 * DAY, timeline=True)
    assert result.reasons.get("PoorAccuracy", 0) == 0
    assert result.reasons["SuspectSample"] == 1
    assert result.timeline is not None
    # The HPA sees the glitch too (as a real one would) and scales out for its
    # stabilisation window; with the floor held, the pods are back to the load's
    # count well within half an hour, not kept up by a floor of 10^9 load.
    after = result.timeline.pods[GLITCH + 30 : GLITCH + 60]
    assert int(after.max()) < 40
