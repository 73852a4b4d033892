"""Replay at exactly matched cost: the predictive margin found by bisection, per HPA point.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/replay_matched.py \
        --data /work/shared/data --trace nasa --startup 120 \
        [--history-days 28] [--profile-setting NAME=VALUE ...]

``benchmarks/replay.py`` compares each HPA point with the best predictive point of a fixed
margin grid that costs no more. Between two grid margins the frontier is continuous, so
that comparison depends on how close a grid point happens to land below the HPA's cost.
Here, for each HPA target and each HPA target under the floor, the margin is bisected
until the predictive policy's replica-hours are as close as the bisection gets to the
HPA's without exceeding them, and likewise for the smallest margin whose under-provisioned
minutes are no more than the HPA's. Every figure printed is a measured replay (never an
interpolation); the margin is reported so the point can be replayed with
``autonomic replay`` or ``benchmarks/replay.py --margins``. With ``--history-days 14
--profile-setting strength_within_period=true --refit-seconds 21600 --daemon-rules`` (the
daemon's defaults) a point is ``autonomic replay TRACE --startup S --mean-pods 20
--policy predictive --target T --margin M`` (on NASA with ``--column requests --gap-when
outage``); without ``--daemon-rules`` add ``--simple-refits --refit-every SECONDS``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.replay import DAY, LAG, LOOP, _profile_settings, load_traces
from forecasting.profile import ProfileSettings
from forecasting.replay import Plant, ReplayPolicy, ReplayResult, forecast_path, replay
from forecasting.scaling import horizon_steps, lead_time


@dataclass(frozen=True)
class Found:
    margin: float
    result: ReplayResult


def bisect_margin(
    run: Callable[[float], ReplayResult],
    ok: Callable[[ReplayResult], bool],
    low: float,
    high: float,
    steps: int,
    *,
    ok_at: str,
) -> Found | None:
    """The margin nearest the edge of the region where ``ok`` holds, by bisection.

    ``ok_at="low"``: ``ok`` holds for small margins (the cost budget); the largest margin
    found that keeps it is returned. ``ok_at="high"``: it holds for large margins (the
    under-provisioning budget); the smallest. None when it holds at neither end of the
    range (the budget is out of the sweep's reach); the far end when it holds there too.
    """
    inside, outside = (low, high) if ok_at == "low" else (high, low)
    got = run(inside)
    if not ok(got):
        return None
    far = run(outside)
    if ok(far):
        return Found(outside, far)
    best = Found(inside, got)
    for _ in range(steps):
        middle = (inside + outside) / 2
        result = run(middle)
        if ok(result):
            inside, best = middle, Found(middle, result)
        else:
            outside = middle
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--trace", default="nasa")
    parser.add_argument("--startup", type=float, default=120.0)
    parser.add_argument("--mean-pods", type=float, default=20.0)
    parser.add_argument("--hpa-targets", default="0.55,0.6,0.65,0.7,0.75")
    parser.add_argument("--predictive-targets", default="0.7,0.8")
    parser.add_argument("--low", type=float, default=-0.3, help="lowest margin tried")
    parser.add_argument("--high", type=float, default=1.0, help="highest margin tried")
    parser.add_argument("--steps", type=int, default=7, help="bisection steps per match")
    parser.add_argument(
        "--level",
        type=int,
        default=80,
        help="the forecast interval whose upper bound sizes the floor (80, the daemon's "
        "default: the 90th percentile)",
    )
    parser.add_argument("--history-days", type=int)
    parser.add_argument(
        "--scale-in-fraction",
        type=float,
        default=0.1,
        help="how much of itself the floor may drop per minute (0.1, the daemon's default)",
    )
    parser.add_argument("--profile-setting", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--refit-seconds",
        type=float,
        default=3600.0,
        help="seconds between two refits of the forecaster (the daemon's refitEvery is 6h)",
    )
    parser.add_argument(
        "--daemon-rules",
        action="store_true",
        help="the scaling loop's model lifecycle (refits contested, drift band) and its "
        "slow release of a floor when the workload turns reactive",
    )
    args = parser.parse_args()
    if not args.low < args.high:
        parser.error(f"--low ({args.low}) must be below --high ({args.high})")
    if not 0 < args.level < 100:
        parser.error(f"--level is a percentage in (0, 100), got {args.level}")
    if not 0 <= args.scale_in_fraction <= 1:
        parser.error(f"--scale-in-fraction is in [0, 1], got {args.scale_in_fraction}")
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    if not args.refit_seconds > 0:
        parser.error(f"--refit-seconds must be positive, got {args.refit_seconds}")
    profile = ProfileSettings(history_periods=args.history_days) if args.history_days else None
    if args.profile_setting:
        profile = _profile_settings(parser, profile or ProfileSettings(), args.profile_setting)
    hpa_targets = [float(t) for t in args.hpa_targets.split(",")]
    predictive_targets = [float(t) for t in args.predictive_targets.split(",")]

    series, _ = load_traces(args.data)[args.trace]
    finite = series.values[np.isfinite(series.values)]
    plant = Plant(float(np.mean(finite)) / args.mean_pods, args.startup, metric_lag=LAG)
    horizon = horizon_steps(lead_time(args.startup, LOOP, LAG), series.step)
    path = forecast_path(
        series,
        horizon=horizon,
        loop_period=LOOP,
        metric_lag=LAG,
        level=args.level,
        settings=profile,
        refit_seconds=args.refit_seconds,
        lifecycle=args.daemon_rules,
        capacity=plant.capacity_per_pod,
    )
    cache: dict[tuple[str, float, float], ReplayResult] = {}
    started = time.perf_counter()

    def run(kind: str, target: float, margin: float) -> ReplayResult:
        key = (kind, target, round(margin, 6))
        if key not in cache:
            policy = (
                ReplayPolicy("hpa", target)
                if kind == "hpa"
                else ReplayPolicy(
                    "predictive",
                    target,
                    margin,
                    args.level,
                    loop_period=LOOP,
                    scale_in_fraction=args.scale_in_fraction,
                    daemon_rules=args.daemon_rules,
                )
            )
            cache[key] = replay(
                series,
                plant,
                policy,
                warmup_seconds=7 * DAY,
                path=None if kind == "hpa" else path,
            )
            print(
                f"[{time.perf_counter() - started:.0f} s] {kind} t={target:g} m={margin:+.4f}: "
                f"{cache[key].under_provisioned_minutes:.0f} min, "
                f"{cache[key].replica_hours:.0f} replica-h",
                file=sys.stderr,
                flush=True,
            )
        return cache[key]

    rows = [
        f"Trace {args.trace}, start-up {args.startup:g} s; margins bisected in "
        f"[{args.low:g}, {args.high:g}], {args.steps} steps; interval level {args.level}; "
        f"floor scale-in {args.scale_in_fraction:g} a minute; "
        f"refit every {args.refit_seconds:g} s"
        + ("; the daemon's lifecycle and release rules" if args.daemon_rules else "")
        + "; profile "
        f"{profile if profile is not None else 'default'}.",
        "",
        "| HPA target | HPA min | HPA replica-h | at matched cost: t, margin | min | ratio | "
        "replica-h | at matched under-prov.: t, margin | replica-h | cost ratio |",
        "|---|---:|---:|---|---:|---:|---:|---|---:|---:|",
    ]
    for h in hpa_targets:
        base = run("hpa", h, 0.0)
        budget, slo = base.replica_hours, base.under_provisioned_minutes
        at_cost: list[tuple[float, Found]] = []
        at_slo: list[tuple[float, Found]] = []

        def within_cost(r: ReplayResult, budget: float = budget) -> bool:
            return r.replica_hours <= budget

        def within_slo(r: ReplayResult, slo: float = slo) -> bool:
            return r.under_provisioned_minutes <= slo

        matches: list[tuple[Callable[[ReplayResult], bool], str, list[tuple[float, Found]]]] = [
            (within_cost, "low", at_cost),
            (within_slo, "high", at_slo),
        ]
        for t in predictive_targets:

            def at_margin(m: float, t: float = t) -> ReplayResult:
                return run("predictive", t, m)

            for ok, ok_at, found_at in matches:
                found = bisect_margin(
                    at_margin,
                    ok,
                    args.low,
                    args.high,
                    args.steps,
                    ok_at=ok_at,
                )
                if found is not None:
                    found_at.append((t, found))
        cost_cells = ["out of range", "-", "-", "-"]
        if at_cost:
            t, f = min(at_cost, key=lambda tf: tf[1].result.under_provisioned_minutes)
            minutes = f.result.under_provisioned_minutes
            cost_cells = [
                f"t={t:g} m={f.margin:+.3f}",
                f"{minutes:.0f}",
                f"{minutes / slo:.0%}" if slo else "n/a",
                f"{f.result.replica_hours:.0f}",
            ]
        slo_cells = ["out of range", "-", "-"]
        if at_slo:
            t, f = min(at_slo, key=lambda tf: tf[1].result.replica_hours)
            slo_cells = [
                f"t={t:g} m={f.margin:+.3f}",
                f"{f.result.replica_hours:.0f}",
                f"{f.result.replica_hours / budget:.1%}",
            ]
        rows.append(
            f"| {h:g} | {slo:.0f} | {budget:.0f} | " + " | ".join(cost_cells + slo_cells) + " |"
        )
    rows += ["", f"{len(cache)} replays, {time.perf_counter() - started:.0f} s wall."]
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
