"""Experiment (session 9): does a short-term trend term help the predictive floor?

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/replay_trend.py nasa
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/replay_trend.py tweets

The daemon's forecast re-anchors a daily profile on the last minutes' median, which lags
a ramp. This adds, to each forecast the daemon would have made (``forecast_path``), the
rise a straight line would add over the lead time: the slope is the difference between
the medians of the last ``W`` minutes and the ``W`` before, over ``W``, kept only when
positive, added to the mean and the upper bounds (W = 0 is the daemon's forecast). The
window sizes were chosen before the run; the traces are the test traces (in-sample).
Results in ``replay_RESULTS.md`` ("A trend term, tried").
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.replay import DAY, LAG, LOOP, load_traces
from forecasting.forecast import Forecast
from forecasting.replay import ForecastPath, Plant, ReplayPolicy, _slot, forecast_path, replay
from forecasting.scaling import horizon_steps, lead_time
from forecasting.series import Series


def trended(path: ForecastPath, series: Series, window: int) -> ForecastPath:
    """``path`` with the positive trend of the last ``2 * window`` visible minutes added."""
    values = series.values
    out: list[Forecast | None] = []
    for d, f in enumerate(path.forecasts):
        if f is None:
            out.append(None)
            continue
        t = series.start + d * LOOP
        j = min(_slot(t - LAG, series.start, series.step), len(series) - 1)
        lo = j + 1 - 2 * window
        if lo < 0:
            out.append(f)
            continue
        recent = values[lo : j + 1]
        a, b = recent[:window], recent[window:]
        if np.isnan(a).all() or np.isnan(b).all():
            out.append(f)
            continue
        slope = (np.nanmedian(b) - np.nanmedian(a)) / window
        if not slope > 0:
            out.append(f)
            continue
        add = slope * np.arange(1, f.mean.shape[0] + 1)
        intervals = {lvl: (low, high + add) for lvl, (low, high) in f.intervals.items()}
        out.append(
            Forecast(
                f.timestamps,
                f.mean + add,
                intervals,
                f.model,
                f.version,
                f.fallback_reason,
                f.details,
            )
        )
    return ForecastPath(path.loop_period, path.metric_lag, tuple(out))


def main() -> None:
    data = Path(__file__).resolve().parents[2] / "shared" / "data"
    traces = load_traces(data)
    for name in sys.argv[1].split(","):
        run(name, traces[name][0])


def run(name: str, series: Series) -> None:
    """The HPA at three targets, and the predictive floor with and without the trend
    term at two floor targets and three margins: under-provisioned minutes, replica-h."""
    finite = series.values[np.isfinite(series.values)]
    capacity = float(np.mean(finite)) / 20.0  # the replay benchmark's default: 20 pods
    startup = 120.0
    horizon = horizon_steps(lead_time(startup, LOOP, LAG), series.step)
    path = forecast_path(series, horizon=horizon, loop_period=LOOP, metric_lag=LAG)
    plant = Plant(capacity, startup, metric_lag=LAG)
    print("| trace | policy | target | margin | under-prov. min | replica-h |")
    print("|---|---|---:|---:|---:|---:|")
    for target in (0.6, 0.65, 0.7):
        r = replay(series, plant, ReplayPolicy("hpa", target), warmup_seconds=7 * DAY)
        print(f"| {name} | HPA | {target} | | {r.under_provisioned_minutes:.0f} | "
              f"{r.replica_hours:.0f} |", flush=True)  # fmt: skip
    for window in (0, 3, 5):
        chosen = path if window == 0 else trended(path, series, window)
        for target in (0.7, 0.8):
            for margin in (0.0, 0.2, 0.3):
                policy = ReplayPolicy("predictive", target, margin, loop_period=LOOP)
                r = replay(series, plant, policy, warmup_seconds=7 * DAY, path=chosen)
                under, cost = r.under_provisioned_minutes, r.replica_hours
                print(f"| {name} | predictive W={window} | {target} | {margin:+g} | "
                      f"{under:.0f} | {cost:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
