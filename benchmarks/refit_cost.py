"""Cost of refitting forecasts for many workloads on one core.

Usage:
    .venv/bin/python benchmarks/refit_cost.py [--series 1000] [--days 14] [--step 300]
        [--horizon 12] [--modes stored,calibrated,select,pool,profile] [--select-limit 50]
        [--profile-days 14] [--out benchmarks/refit_cost_RESULTS.md]

The series are synthetic but shaped like request-rate metrics: a random level, a daily
curve with a random peak hour and amplitude, a weekday/weekend difference, a slow
trend, multiplicative noise, scrape gaps (1 %), and in one series out of ten a
glitch spike and in one out of twenty an outage of zeros. Seeded, so every run sees
the same 1,000 series.

Modes, each timed over all series in one process (one core):
- ``stored``: ``fit_forecast`` with a stored ``Calibration`` (one fit per series; what a
  refit costs when the interval calibration comes from the last scheduled selection);
- ``calibrated``: ``fit_forecast`` with its default 3-fold conformal calibration
  (four fits per series);
- ``select``: ``select_model`` over the default candidates, 3 folds (the scheduled job).
  It is slow, so by default it runs on ``--select-limit`` series and the total is an
  extrapolation, labelled as such in the report.
- ``pool``: ``forecasting.pooled``'s two fits over the whole fleet (the live pool and the
  backtest pool that holds out three horizons), each series cleaned first; the shape
  comes from ``pool_shape(step)``. Its peak memory is reported too.
- ``profile``: the refit the predictive scaling loop (``agent/loops/scaling.py``,
  ``ScalingLoop._refit``) does on a scheduled refit, once per value of
  ``--profile-days`` (its ``profileHistory``: 14 by default, up to 90): the loop's own
  ``forecasting.lifecycle.refit`` with the ``SeasonalProfile`` the loop builds (its
  default ``shapeOnlySeasonality``), on the last ``days`` of the series (all of it when
  shorter), held as float32 as the loop holds it. A refit fits a challenger without the
  last hour and lets it contest that hour against the live model; only a challenger that
  wins costs a second fit (on the whole read), so the report says how many went live and
  the slowest single refit. The loop's point counts (an hour held out, a day for the
  error scale, 30 minutes to re-anchor) are converted to ``--step``; at ``--step 60``
  (the loop's ``STEP``) they are its own. The live model is a fit on the read ending
  ``refitEvery`` (6 h) earlier, compacted and re-anchored, made outside the timing. Not
  timed: the Prometheus read and the ledger write.
"""

# ruff: noqa: E402
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from forecasting.backtest import Calibration


def synthetic_series(index: int, days: int, step: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1000 + index)
    n = int(days * 86400 / step)
    t = np.arange(n) * step
    level = float(np.exp(rng.uniform(np.log(5), np.log(5000))))
    peak = rng.uniform(0, 24)
    amplitude = rng.uniform(0.2, 0.8)
    hours = (t / 3600.0) % 24
    daily = 1 + amplitude * np.cos(2 * np.pi * (hours - peak) / 24)
    weekend = np.where(((t // 86400) % 7) >= 5, rng.uniform(0.5, 1.0), 1.0)
    trend = 1 + rng.uniform(-0.2, 0.3) * t / t[-1]
    noise = rng.lognormal(0, rng.uniform(0.03, 0.2), n)
    values = level * daily * weekend * trend * noise
    values[rng.random(n) < 0.01] = np.nan
    if index % 10 == 0:
        values[rng.integers(0, n)] = 1e12
    if index % 20 == 0:
        start = int(rng.integers(0, n - 30))
        values[start : start + 24] = 0.0
    return 1_700_000_000.0 + t, values


def main() -> int:
    parser = argparse.ArgumentParser(description="refit cost on one core")
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--step", type=float, default=300.0)
    parser.add_argument("--horizon", type=int, default=12)
    parser.add_argument("--modes", default="stored,calibrated,select")
    parser.add_argument("--select-limit", type=int, default=50)
    parser.add_argument("--profile-days", default="14")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from forecasting.models import fit_forecast
    from forecasting.selection import select_model
    from forecasting.series import make_series

    series = []
    for i in range(args.series):
        ts, vs = synthetic_series(i, args.days, args.step)
        series.append(make_series(ts, vs, step=args.step, name=f"synthetic-{i}"))
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    rows: list[str] = []
    models: dict[str, int] = {}
    if "profile" in modes:
        modes.remove("profile")
        for days in (int(d) for d in args.profile_days.split(",") if d.strip()):
            rows.append(_profile_row(series, days))
            print(rows[-1], file=sys.stderr)
    if modes:
        # import statsmodels and warm its code paths once, outside the timings
        fit_forecast(series[-1], args.horizon, calibration_folds=0)
    if "pool" in modes:
        modes.remove("pool")
        rows.append(_pool_row(series, args.horizon))
        print(rows[-1], file=sys.stderr)
    for mode in modes:
        count = args.series if mode != "select" else min(args.series, args.select_limit)
        started = time.process_time()
        wall = time.perf_counter()
        for i in range(count):
            s = series[i]
            if mode == "select":
                selection = select_model(s, horizon=args.horizon, folds=3)
                models[selection.model.name] = models.get(selection.model.name, 0) + 1
            elif mode == "calibrated":
                forecast = fit_forecast(s, args.horizon)
                assert np.all(np.isfinite(forecast.mean))
            else:
                stored = _stored_calibration(args.horizon)
                forecast = fit_forecast(s, args.horizon, calibration=stored)
                assert np.all(np.isfinite(forecast.mean))
            if (i + 1) % 50 == 0:
                print(
                    f"[refit] {mode}: {i + 1}/{count}, {time.perf_counter() - wall:.0f} s",
                    file=sys.stderr,
                )
        cpu = time.process_time() - started
        elapsed = time.perf_counter() - wall
        per = cpu / count
        total = per * args.series
        label = "measured" if count == args.series else f"EXTRAPOLATED from {count} series"
        rows.append(
            f"| {mode} | {count} | {cpu:.1f} | {elapsed:.1f} | {per:.3f} | "
            f"{total / 60:.1f} ({label}) |"
        )
        print(rows[-1], file=sys.stderr)
    header = (
        f"{args.series} synthetic series, {args.days} days at {args.step:.0f} s "
        f"({int(args.days * 86400 / args.step)} points each), horizon {args.horizon}, one "
        f"process, python {platform.python_version()}.\n\n"
        "| mode | series timed | CPU s | wall s | CPU s/series | CPU min for all series |\n"
        "|---|---|---|---|---|---|\n"
    )
    report = header + "\n".join(rows) + "\n"
    if models:
        report += (
            "\nModels chosen by `select`: "
            + ", ".join(f"{k} x{v}" for k, v in sorted(models.items()))
            + "\n"
        )
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    return 0


def _pool_row(series: list[Any], horizon: int) -> str:
    import resource

    from forecasting.cleaning import clean_series
    from forecasting.pooled import fit_pools, pool_shape

    lags, period = pool_shape(series[0].step)
    started = time.process_time()
    wall = time.perf_counter()
    histories = [clean_series(s).series.values for s in series]
    live, held = (p.weights for p in fit_pools(histories, horizon, lags, period, folds=3))
    cpu = time.process_time() - started
    elapsed = time.perf_counter() - wall
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert np.all(np.isfinite(live.coef)) and np.all(np.isfinite(held.coef))
    return (
        f"| pool (two fits, {lags} lags, {live.windows} windows from {live.series} series, "
        f"{live.skipped} skipped; peak RSS {peak:.0f} MB) | {len(series)} | {cpu:.1f} | "
        f"{elapsed:.1f} | {cpu / len(series):.3f} | {cpu / 60:.1f} (measured) |"
    )


def _profile_row(series: list[Any], days: int) -> str:
    """Time the scaling loop's refit (see ``profile`` in the module docstring)."""
    from agent.loops.scaling import DEFAULT_STARTUP, LEVELS, RECENT, STEP
    from agent.settings import ScalingSettings
    from forecasting.lifecycle import refit
    from forecasting.profile import ProfileSettings, SeasonalProfile
    from forecasting.scaling import horizon_steps, lead_time
    from forecasting.series import Series

    loop = ScalingSettings()
    forecaster = SeasonalProfile(
        ProfileSettings(history_periods=days, strength_within_period=loop.shape_only_seasonality)
    )
    step = float(series[0].step)
    keep = int(days * 86400.0 // step)  # what the loop reads at a refit
    recent_points = max(1, round(RECENT * STEP / step))
    earlier = round(loop.refit_every / step)
    steps = horizon_steps(lead_time(DEFAULT_STARTUP, loop.period, loop.metric_lag), step)

    def as_read(ts: np.ndarray, vs: np.ndarray) -> Series:
        vs = np.where(np.abs(vs) <= np.finfo(np.float32).max, vs, np.nan)
        return Series(ts[-keep:], vs[-keep:].astype(np.float32).astype(np.float64), step)

    work = []  # (history, live model) per series, made outside the timing
    for s in series:
        live = forecaster.fit(as_read(s.timestamps[:-earlier], s.values[:-earlier]))
        live = live.compact(LEVELS).advance(
            s.values[-recent_points:].astype(np.float64), float(s.timestamps[-1])
        )
        work.append((as_read(s.timestamps, s.values), live))

    promoted = fallbacks = held = 0
    timed: list[float] = []
    started = time.process_time()
    wall = time.perf_counter()
    for i, (history, champion) in enumerate(work):
        # ScalingLoop._refit, scheduled (not forced): the loop's own code
        began = time.process_time()
        result = refit(
            champion,
            history,
            forecaster,
            recent=history.values[-recent_points:],
            steps=steps,
            forced=False,
            levels=LEVELS,
            champion_name="live",
            version=2,
        )
        timed.append(time.process_time() - began)
        held = result.held
        promoted += result.promoted
        fallbacks += result.live.fallback_reason is not None
        assert np.isfinite(result.live.level)
        if (i + 1) % 100 == 0:
            print(
                f"[refit] profile {days} d: {i + 1}/{len(work)}, "
                f"{time.perf_counter() - wall:.1f} s",
                file=sys.stderr,
            )
    cpu = time.process_time() - started
    elapsed = time.perf_counter() - wall
    n = len(work)
    slowest = max(timed)
    return (
        f"| profile (scaling loop refit, profileHistory {days} d: {len(work[0][0])} points "
        f"read, {held} held out, lead {steps} steps; the challenger went live for "
        f"{promoted} (a second fit), the fallback model for {fallbacks}; slowest refit "
        f"{slowest:.3f} s) | {n} | {cpu:.2f} | {elapsed:.2f} | "
        f"{cpu / n:.4f} | {cpu / 60:.3f} (measured) |"
    )


def _stored_calibration(horizon: int) -> Calibration:
    """A calibration as a scheduled selection would have stored it (values irrelevant
    to the cost; the point is that no refit is needed for the intervals)."""
    from forecasting.backtest import Calibration

    return Calibration(horizon, {80: np.ones(horizon), 95: 2 * np.ones(horizon)}, 3 * horizon)


if __name__ == "__main__":
    raise SystemExit(main())
