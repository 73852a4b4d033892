"""Where does the predictive floor still under-provision? A miss classification.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/replay_misses.py --data /work/shared/data \
        --trace nasa --startup 120 --target 0.8 --margin 0.3

Replays one predictive point (and the HPA at ``--hpa-target`` for reference) with the
per-minute timeline, records the floor of every decision, and sorts each
under-provisioned minute ``m`` into one class, judged against the decision whose new
pods are the first ready at ``m`` (made ``startup`` s earlier, seeing the load up to
``m - startup - lag``):

- ``no-floor``: that decision published no floor (the forecaster fell back), the HPA alone;
- ``floor-covered``: the floor covered the minute's load; the pods came too late or were
  capped (scale-up limit) - a mechanism miss, not a forecast miss;
- ``post-gap``: a forecast miss within ``--after-gap`` hours after a gap (outage) ended;
- ``spike``: a forecast miss where the minute's load is above ``--spike`` x the median of
  the 21 minutes around it (a burst of a few minutes: nothing 4 minutes ahead sees it);
- ``level-lag``: a forecast miss where the load's level against the profile (median
  ratio load / profile over the 11 minutes around ``m``) is above ``--lag`` x the level
  the forecast used (the load rose faster than the daily shape: a ramp steeper than the
  median day's, or a busy spell starting);
- ``band``: any other forecast miss: the level was right, the minute's noise exceeded the
  upper quantile x (1 + margin).

Each forecast miss is also tagged by whether the profile itself was rising over the
30 minutes before ``m`` (a ramp the profile knows about) and by hour of day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import forecasting.replay as replay_mod
from benchmarks.replay import DAY, LAG, LOOP, load_traces
from forecasting.forecast import Forecast
from forecasting.profile import ProfileSettings, nanmedian
from forecasting.replay import Plant, ReplayPolicy, forecast_path, replay
from forecasting.scaling import (
    ScalingRecommendation,
    ScalingSettings,
    WorkloadNow,
    horizon_steps,
    lead_time,
    recommend,
)


class Tally(defaultdict[Any, float]):
    """Minutes per key (floats: a tick is a quarter of a minute)."""

    def __init__(self) -> None:
        super().__init__(float)

    def add(self, other: dict[Any, float]) -> None:
        for key, value in other.items():
            self[key] += value

    def most_common(self) -> list[tuple[Any, float]]:
        return sorted(self.items(), key=lambda kv: -kv[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--trace", default="nasa")
    parser.add_argument("--startup", type=float, default=120.0)
    parser.add_argument("--target", type=float, default=0.8)
    parser.add_argument("--margin", type=float, default=0.3)
    parser.add_argument("--hpa-target", type=float, default=0.7)
    parser.add_argument("--history-days", type=int, default=7)
    parser.add_argument("--after-gap", type=float, default=6.0, help="hours")
    parser.add_argument("--spike", type=float, default=1.25)
    parser.add_argument("--lag", type=float, default=1.1)
    parser.add_argument("--mean-pods", type=float, default=20.0)
    parser.add_argument(
        "--split", help="also count the classes before / from this date (YYYY-MM-DD, UTC)"
    )
    parser.add_argument("--strength-within-period", action="store_true")
    parser.add_argument("--min-periods", type=float, default=ProfileSettings().min_periods)
    parser.add_argument("--min-strength", type=float, default=ProfileSettings().min_strength)
    args = parser.parse_args()

    series, _ = load_traces(args.data)[args.trace]
    values = series.values
    n = len(series)
    step = series.step
    capacity = float(np.nanmean(values)) / args.mean_pods
    settings = ProfileSettings(
        history_periods=args.history_days,
        strength_within_period=args.strength_within_period,
        min_periods=args.min_periods,
        min_strength=args.min_strength,
    )
    horizon = horizon_steps(lead_time(args.startup, LOOP, LAG), step)
    path = forecast_path(
        series, horizon=horizon, loop_period=LOOP, metric_lag=LAG, settings=settings
    )
    plant = Plant(capacity, args.startup, metric_lag=LAG)

    floors: dict[float, int | None] = {}
    why_none: dict[float, str] = {}

    def recording(
        forecast: Forecast | None, now: WorkloadNow, scaling: ScalingSettings
    ) -> ScalingRecommendation:
        rec = recommend(forecast, now, scaling)
        floors[now.now] = rec.floor
        why_none[now.now] = rec.reason
        return rec

    with mock.patch.object(replay_mod, "recommend", recording):
        pred = replay(
            series,
            plant,
            ReplayPolicy("predictive", args.target, args.margin, loop_period=LOOP),
            warmup_seconds=7 * DAY,
            path=path,
            timeline=True,
        )
    hpa = replay(
        series, plant, ReplayPolicy("hpa", args.hpa_target), warmup_seconds=7 * DAY, timeline=True
    )
    tl, th = pred.timeline, hpa.timeline
    assert tl is not None and th is not None
    print(
        f"predictive t={args.target} m={args.margin:+g}: "
        f"{pred.under_provisioned_minutes:.0f} min, {pred.replica_hours:.0f} rh; "
        f"HPA t={args.hpa_target}: {hpa.under_provisioned_minutes:.0f} min, "
        f"{hpa.replica_hours:.0f} rh"
    )

    # gaps: runs of NaN; minutes since the last gap ended
    since_gap = np.full(n, np.inf)
    last_end = -np.inf
    for i in range(n):
        if not np.isfinite(values[i]):
            last_end = i
        since_gap[i] = i - last_end
    # decision index d at time start + d*LOOP; forecast d has origin slot j = d - 1 (lag 60)
    start = series.start
    lead_minutes = round(args.startup / 60)
    padded = np.concatenate([np.full(10, np.nan), values, np.full(10, np.nan)])
    local_med = nanmedian(np.lib.stride_tricks.sliding_window_view(padded, 21), axis=1)

    classes: Tally = Tally()
    split = (
        dt.datetime.strptime(args.split, "%Y-%m-%d").replace(tzinfo=dt.UTC).timestamp()
        if args.split
        else math.inf
    )
    before: Tally = Tally()
    hour_counts: dict[str, Tally] = defaultdict(Tally)
    rising: Tally = Tally()
    per_day: Tally = Tally()
    per_day_hpa: Tally = Tally()
    weekday: Tally = Tally()
    shortfall: dict[str, list[float]] = defaultdict(list)
    by_ratio: Tally = Tally()
    hpa_also: Tally = Tally()
    t0 = series.timestamps[0]
    for m in np.flatnonzero(th.under_ticks > 0):
        per_day_hpa[int((series.timestamps[m] - t0) // DAY)] += int(th.under_ticks[m])
    for m in np.flatnonzero(tl.under_ticks > 0):
        w = float(tl.under_ticks[m]) / 4.0  # minutes (15 s ticks)
        tm = start + m * step
        d_time = tm - lead_minutes * 60.0
        d = round((d_time - start) / LOOP)
        floor = floors.get(d_time)
        need = values[m] / capacity
        day = int((series.timestamps[m] - t0) // DAY)
        per_day[day] += w
        forecast = path.forecasts[d] if 0 <= d < len(path.forecasts) else None
        if floor is None or forecast is None or forecast.fallback_reason is not None:
            if forecast is not None and forecast.fallback_reason is not None:
                why = forecast.fallback_reason.split(":")[0]
            else:
                why = why_none.get(d_time, "NoDecision")
            cls = f"no-floor: {why}" + (
                " (post-gap)" if since_gap[m] <= args.after_gap * 60 else ""
            )
        elif floor >= need:
            cls = "floor-covered"
        elif since_gap[m] <= args.after_gap * 60:
            cls = "post-gap"
        else:
            level_used = float(forecast.details["level"])
            # level of the load around m against the profile the forecast used
            ts = forecast.timestamps
            k = round((tm - ts[0]) / step)  # step index of m in that forecast
            k = min(max(k, 0), len(ts) - 1)
            prof_m = forecast.mean[k] / level_used if level_used > 0 else np.nan
            lo, hi = max(0, m - 5), min(n, m + 6)
            around = np.nanmedian(values[lo:hi])
            true_level = around / prof_m if prof_m > 0 else np.inf
            ratio = values[m] / local_med[m]
            bins = (1.0, 1.1, 1.25, 1.5, 2.0, np.inf)
            at = int(np.searchsorted(bins, ratio, side="right")) - 1
            by_ratio[f"{bins[max(at, 0)]:g}-{bins[min(at + 1, 5)]:g}"] += w
            if values[m] > args.spike * local_med[m]:
                cls = "spike"
            elif true_level > args.lag * level_used:
                cls = "level-lag"
            else:
                cls = "band"
            shortfall[cls].append(need / floor)
            hour = int(((series.timestamps[m] - t0) % DAY) // 3600)
            hour_counts[cls][hour] += w
            # profile rising over the 30 minutes before m: compare forecasts' implied profile
            d30 = d - 30
            f30 = path.forecasts[d30] if d30 >= 0 else None
            if f30 is not None and f30.fallback_reason is None:
                lv = float(f30.details["level"])
                p30 = f30.mean[0] / lv if lv > 0 else np.nan
                rising[cls + (" profile-rising" if prof_m > 1.1 * p30 else " profile-flat")] += w
        classes[cls] += w
        if tm < split:
            before[cls] += w
        if th.under_ticks[m] > 0:
            hpa_also[cls] += w
        wd = (day + 5) % 7  # 1995-07-01 was a Saturday: day 0 -> 5 (Mon=0)
        weekday["weekend" if wd >= 5 else "weekday"] += w

    total = float(sum(classes.values()))
    print(f"\nunder-provisioned minutes classified: {total:.0f}")
    if args.split:
        b_total = float(sum(before.values()))
        a_total = total - b_total
        print(f"| class | minutes | share | before {args.split} | share | from it | share |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for cls, v in classes.most_common():
            b = before[cls]
            print(
                f"| {cls} | {v:.0f} | {v / total:.0%} | {b:.0f} | {b / max(b_total, 1):.0%} | "
                f"{v - b:.0f} | {(v - b) / max(a_total, 1):.0%} |"
            )
        print(f"| total | {total:.0f} | | {b_total:.0f} | | {a_total:.0f} | |")
    else:
        print("| class | minutes | share |\n|---|---:|---:|")
        for cls, v in classes.most_common():
            print(f"| {cls} | {v:.0f} | {v / total:.0%} |")
    print("\nof which the HPA (reference target) was under-provisioned in the same minute:")
    for cls, v in hpa_also.most_common():
        print(f"  {cls}: {v:.0f} of {classes[cls]:.0f}")
    print("\nforecast misses by load / median of the 21 minutes around it:")
    for k, v in sorted(by_ratio.items()):
        print(f"  {k}: {v:.0f}")
    print("\nforecast misses by whether the profile rose > 10 % over the previous 30 min:")
    for k, v in sorted(rising.items()):
        print(f"  {k}: {v:.0f}")
    print("\nshortfall need/floor (median, p90) per class:")
    for cls, xs in shortfall.items():
        print(f"  {cls}: n={len(xs)} median {np.median(xs):.2f} p90 {np.quantile(xs, 0.9):.2f}")
    print("\nforecast misses by local hour (all forecast-miss classes):")
    hours: Tally = Tally()
    for c in hour_counts.values():
        hours.add(c)
    print("  " + " ".join(f"{h:02d}:{hours[h]:.0f}" for h in range(24)))
    for cls, c in hour_counts.items():
        print(f"  {cls}: " + " ".join(f"{h:02d}:{c[h]:.0f}" for h in range(24)))
    print(f"\nweekday/weekend: {dict(weekday)}")
    print("\nper day (day index from the trace start: predictive / HPA minutes):")
    days = sorted(set(per_day) | set(per_day_hpa))
    print("  " + " ".join(f"{d}:{per_day[d]:.0f}/{per_day_hpa[d] / 4:.0f}" for d in days))
    top = sorted(per_day.items(), key=lambda kv: -kv[1])
    cum = np.cumsum([v for _, v in top]) / total
    print(f"  the 5 worst days hold {cum[4]:.0%}, the 10 worst {cum[9]:.0%}")
    first3 = sum(per_day[d] for d in (7, 8, 9))
    print(f"  first three scored days (7-9): {first3:.0f} min ({first3 / total:.0%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
