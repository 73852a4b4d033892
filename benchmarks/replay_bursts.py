"""Why the tweets trace resists the predictive floor at 120 s start-up, measured.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/replay_bursts.py --data /work/shared/data

Part 1 describes the bursts. A minute is *in a burst* when its load is above
``--ratio`` times the median of the hour before it (causal: only earlier minutes);
an *onset* is a burst minute after a minute that was not. The script reports onsets
per day, the minutes of the hour they start at, the gaps between consecutive onsets,
and the recurrence period ``P``: the lag (10 to 720 min) at which an onset is most
often followed by another one (within +-``--tolerance`` min), measured on the first
7 days only, which the replay never scores.

Part 2 is an experiment, not a feature of the daemon: the daemon's predictive floor
(``forecasting.replay.forecast_path``) plus a "recurring burst" term. At each decision
(seeing what the HPA sees), if an onset was seen ``k x P`` minutes before a step of
the lead window (``k = 1..K``, +-tolerance, and up to ``--hold`` minutes after it,
until the HPA has caught up), that step's forecast is raised to the current level
(the median of the visible last hour) times the 90th percentile of the burst ratios
of the visible last 7 days. It is swept over ``K``, the HPA target under the floor,
the margin, and two scale-in rules: the daemon's (at most 10 % of the floor per
minute) and immediate. Points are compared with the HPA alone at matched
replica-hours, as in ``benchmarks/replay.py`` (same plant, same scoring, same
warm-up). The burst threshold, tolerance, hold and grid were chosen looking at this
trace: the experiment is in-sample.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.replay import DAY, LAG, LOOP, Point, _best_under_at_cost, _ratio, load_traces
from forecasting.forecast import Forecast
from forecasting.replay import ForecastPath, Plant, ReplayPolicy, forecast_path, replay
from forecasting.scaling import horizon_steps, lead_time
from forecasting.series import FloatArray, Series

HPA_TARGETS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
FLOOR_TARGETS = (0.8, 0.9)
MARGINS = (0.0, 0.2)
RECURRENCES = (0, 1, 2, 3, 4)  # K; 0 = the daemon's floor without the burst term
SCALE_IN = {"daemon": 0.1, "immediate": 1.0}
WARMUP_DAYS = 7


def burst_minutes(values: FloatArray, ratio: float) -> tuple[np.ndarray, FloatArray]:
    """(in-burst flags, median of the hour before each minute): causal."""
    window = 60
    padded = np.concatenate([np.full(window, np.nan), values])
    hours = sliding_window_view(padded, window)[: values.shape[0]]
    ok = np.sum(np.isfinite(hours), axis=1) >= window // 2
    base = np.full(values.shape[0], np.nan)
    base[ok] = np.nanmedian(hours[ok], axis=1)
    with np.errstate(invalid="ignore"):
        burst = np.isfinite(values) & np.isfinite(base) & (values > ratio * base)
    return burst, base


def onsets_of(burst: np.ndarray) -> np.ndarray:
    previous = np.concatenate([[False], burst[:-1]])
    return np.flatnonzero(burst & ~previous)


def recurrence(onsets: np.ndarray, lags: range, tolerance: int, limit: int) -> dict[int, float]:
    """For each lag: the share of onsets (with room before ``limit``) followed by
    another onset ``lag`` +- ``tolerance`` minutes later."""
    shares: dict[int, float] = {}
    marks = np.zeros(limit + max(lags) + tolerance + 2, dtype=np.int64)
    marks[onsets[onsets < limit]] = 1
    cumulative = np.concatenate([[0], np.cumsum(marks)])
    for lag in lags:
        starts = onsets[onsets + lag + tolerance < limit]
        if starts.shape[0] == 0:
            continue
        hits = cumulative[starts + lag + tolerance + 1] - cumulative[starts + lag - tolerance]
        shares[lag] = float(np.mean(hits > 0))
    return shares


def describe(series: Series, ratio: float, tolerance: int) -> tuple[list[str], int]:
    values = series.values
    burst, _ = burst_minutes(values, ratio)
    onsets = onsets_of(burst)
    days = len(series) * series.step / DAY
    minute_of_hour = Counter(int(m) for m in (series.timestamps[onsets] // 60) % 60)
    gaps = Counter(int(g) // 10 * 10 for g in np.diff(onsets))
    warm = int(WARMUP_DAYS * DAY / series.step)
    shares = recurrence(onsets, range(10, 721), tolerance, warm)
    period = max(shares, key=lambda lag: (shares[lag], -lag))
    top = sorted(shares.items(), key=lambda kv: -kv[1])[:6]
    lines = [
        "## Part 1: the bursts",
        "",
        f"{onsets.shape[0]} onsets in {days:.1f} days ({onsets.shape[0] / days:.1f} a day); "
        f"{int(burst.sum())} burst minutes ({burst.mean():.1%} of the trace).",
        "",
        "Onsets by minute of the hour (the six most common): "
        + ", ".join(f":{m:02d} {c}" for m, c in minute_of_hour.most_common(6))
        + f" (of {onsets.shape[0]}).",
        "",
        "Gaps between consecutive onsets, in 10-minute bins (the six most common): "
        + ", ".join(f"{g}-{g + 9} min {c}" for g, c in gaps.most_common(6))
        + ".",
        "",
        f"Recurrence on the first {WARMUP_DAYS} days: an onset is followed by another "
        f"within +-{tolerance} min at lag "
        + ", ".join(f"{lag} min {share:.0%}" for lag, share in top)
        + f". Period used below: **P = {period} min**.",
        "",
    ]
    return lines, period


def burst_path(
    series: Series,
    base_path: ForecastPath,
    *,
    period: int,
    recurrences: int,
    tolerance: int,
    hold: int,
    ratio: float,
    level: int,
) -> tuple[ForecastPath, int]:
    """The base forecasts, raised where a recurring onset is expected; and how many
    decisions were raised."""
    values = series.values
    step_minutes = round(series.step / 60.0)
    if step_minutes != 1:
        raise ValueError("the burst experiment expects a per-minute trace")
    burst, base = burst_minutes(values, ratio)
    onsets = np.zeros(len(series), dtype=np.int64)
    onsets[onsets_of(burst)] = 1
    cumulative = np.concatenate([[0], np.cumsum(onsets)])
    ratios = np.where(burst, values / np.where(base > 0, base, np.nan), np.nan)
    week = int(7 * DAY / series.step)
    out: list[Forecast | None] = []
    raised = 0
    for d, forecast in enumerate(base_path.forecasts):
        if forecast is None or recurrences == 0:
            out.append(forecast)
            continue
        t = series.start + d * LOOP
        j = min(math.floor((t - LAG - series.start) / series.step + 1e-9), len(series) - 1)
        recent = ratios[max(0, j - week) : j + 1]
        recent = recent[np.isfinite(recent)]
        level_now = base[j + 1] if j + 1 < len(series) else base[j]
        if recent.shape[0] < 20 or not np.isfinite(level_now):
            out.append(forecast)
            continue
        peak = float(level_now * np.quantile(recent[-500:], 0.9))
        upper = forecast.upper(level).copy()
        mean = forecast.mean.copy()
        hit = False
        for h in range(1, upper.shape[0] + 1):
            u = j + h
            for k in range(1, recurrences + 1):
                lo = u - k * period - tolerance - hold
                hi = min(u - k * period + tolerance, j)
                if lo >= 0 and hi >= lo and cumulative[hi + 1] - cumulative[lo] > 0:
                    upper[h - 1] = max(upper[h - 1], peak)
                    mean[h - 1] = max(mean[h - 1], peak)
                    hit = True
                    break
        if not hit:
            out.append(forecast)
            continue
        raised += 1
        intervals = dict(forecast.intervals)
        intervals[level] = (forecast.lower(level), upper)
        out.append(replace(forecast, mean=mean, intervals=intervals))
    return ForecastPath(base_path.loop_period, base_path.metric_lag, tuple(out)), raised


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).with_name("replay_bursts_RESULTS.md")
    )
    parser.add_argument("--trace", default="tweets")
    parser.add_argument("--startup", type=float, default=120.0)
    parser.add_argument("--mean-pods", type=float, default=20.0)
    parser.add_argument("--ratio", type=float, default=2.0, help="burst threshold (x the hour)")
    parser.add_argument("--tolerance", type=int, default=1, help="minutes either side")
    parser.add_argument("--hold", type=int, default=2, help="minutes covered after an onset")
    args = parser.parse_args()
    if args.ratio <= 1 or args.tolerance < 0 or args.hold < 0:
        parser.error("--ratio must be above 1; --tolerance and --hold at least 0")
    series, note = load_traces(args.data)[args.trace]
    began = time.perf_counter()
    lines, period = describe(series, args.ratio, args.tolerance)
    finite = series.values[np.isfinite(series.values)]
    capacity = float(np.mean(finite)) / args.mean_pods
    plant = Plant(capacity, args.startup, metric_lag=LAG)
    horizon = horizon_steps(lead_time(args.startup, LOOP, LAG), series.step)
    base_path = forecast_path(series, horizon=horizon, loop_period=LOOP, metric_lag=LAG)
    hpa: list[Point] = []
    for target in HPA_TARGETS:
        result = replay(
            series, plant, ReplayPolicy("hpa", target), warmup_seconds=WARMUP_DAYS * DAY
        )
        hpa.append(Point(args.trace, args.startup, "hpa", target, 0.0, result))
    rows: list[tuple[int, str, Point, int]] = []
    for k in RECURRENCES:
        path, raised = burst_path(
            series,
            base_path,
            period=period,
            recurrences=k,
            tolerance=args.tolerance,
            hold=args.hold,
            ratio=args.ratio,
            level=80,
        )
        for rule, fraction in SCALE_IN.items():
            for target in FLOOR_TARGETS:
                for margin in MARGINS:
                    policy = ReplayPolicy(
                        "predictive", target, margin, loop_period=LOOP, scale_in_fraction=fraction
                    )
                    result = replay(
                        series, plant, policy, warmup_seconds=WARMUP_DAYS * DAY, path=path
                    )
                    point = Point(args.trace, args.startup, "predictive", target, margin, result)
                    rows.append((k, rule, point, raised))
                    print(
                        f"K={k} {rule} t={target} m={margin}: "
                        f"under={result.under_provisioned_minutes:.0f} "
                        f"rh={result.replica_hours:.0f}",
                        file=sys.stderr,
                        flush=True,
                    )
    lines += [
        "## Part 2: a recurring-burst term on the predictive floor (experiment)",
        "",
        f"Trace {args.trace} ({note}); start-up {args.startup:g} s; burst ratio {args.ratio:g}, "
        f"tolerance +-{args.tolerance} min, hold {args.hold} min, P = {period} min. "
        "K = 0 is the daemon's floor as shipped.",
        "",
        "| HPA target | HPA under-prov. min | HPA replica-h "
        "| best K=0, daemon scale-in | ratio "
        "| best any K, daemon scale-in | ratio | best any K, immediate scale-in | ratio |",
        "|---|---:|---:|---|---:|---|---:|---|---:|",
    ]

    def best(budget: float, keep: list[tuple[int, str, Point, int]]) -> tuple[str, float | None]:
        chosen = _best_under_at_cost([p for _, _, p, _ in keep], budget)
        if chosen is None:
            return "out of range", None
        k = next(k for k, _, p, _ in keep if p is chosen)
        label = (
            f"K={k} t={chosen.target:g} m={chosen.margin:+g}: "
            f"{chosen.result.under_provisioned_minutes:.0f} min, "
            f"{chosen.result.replica_hours:.0f} rh"
        )
        return label, chosen.result.under_provisioned_minutes

    for h in hpa:
        budget = h.result.replica_hours
        under = h.result.under_provisioned_minutes
        cells = [f"{h.target:g}", f"{under:.0f}", f"{budget:.0f}"]
        for keep in (
            [r for r in rows if r[0] == 0 and r[1] == "daemon"],
            [r for r in rows if r[1] == "daemon"],
            [r for r in rows if r[1] == "immediate"],
        ):
            label, value = best(budget, keep)
            cells += [label, _ratio(value, under) if value is not None else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "All points:",
        "",
        "| K | decisions raised | scale-in | target | margin | under-prov. min | replica-h |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for k, rule, p, raised in rows:
        lines.append(
            f"| {k} | {raised} | {rule} | {p.target:g} | {p.margin:+g} "
            f"| {p.result.under_provisioned_minutes:.0f} | {p.result.replica_hours:.0f} |"
        )
    argv = "python benchmarks/replay_bursts.py " + " ".join(sys.argv[1:])
    header = [
        f"# Bursts in the {args.trace} trace, and a recurring-burst floor (experiment)",
        "",
        f"Command: `{argv}`  ",
        f"Date: {dt.date.today().isoformat()}; machine: 2 shared cores; "
        f"{time.perf_counter() - began:.0f} s.",
        "",
        "See the script's docstring for the definitions. Everything here is in-sample.",
        "",
    ]
    args.out.write_text("\n".join(header + lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
