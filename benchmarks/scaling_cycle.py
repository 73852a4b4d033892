"""Cost of one forecast-and-decide cycle for N workloads on one core.

    .venv/bin/python benchmarks/scaling_cycle.py [--workloads 1000] [--repeats 3]

Synthetic workloads (daily shape with random phase, amplitude and noise; 10 % pure
noise) with a realistic history: 14 days at 5-minute steps (4,032 points) and 7 days
at 1-minute steps (10,080 points). Two figures per history shape:

- refit: ``fit_profile`` for every workload (the hourly job);
- cycle: for every workload, re-anchor on the newest samples, forecast the lead window
  and call ``forecasting.scaling.recommend`` (what the daemon does each loop).

Timings are wall-clock on a shared 2-core machine: indicative, not exact.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from forecasting.profile import FittedProfile, ProfileSettings, fit_profile
from forecasting.scaling import ScalingSettings, WorkloadNow, horizon_steps, lead_time, recommend

DAY = 86_400.0


def synthesize(n: int, days: int, step: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    slots = int(days * DAY / step)
    t = np.arange(slots) * step
    out = []
    for i in range(n):
        base = rng.uniform(10, 1_000)
        if i % 10 == 0:
            out.append(base * rng.lognormal(0, 0.3, slots))
            continue
        amp = rng.uniform(0.2, 0.8)
        phase = rng.uniform(0, 2 * np.pi)
        shape = base * (1 + amp * np.sin(2 * np.pi * t / DAY + phase))
        out.append(shape * rng.lognormal(0, rng.uniform(0.05, 0.3), slots))
    return out


def measure(n: int, days: int, step: float, repeats: int) -> tuple[float, float]:
    histories = synthesize(n, days, step, seed=42)
    settings = ProfileSettings()
    lead = lead_time(120.0, 60.0, 60.0)
    horizon = horizon_steps(lead, step)
    rules = [
        ScalingSettings(capacity_per_pod=float(np.mean(h)) / 20, lead_seconds=lead)
        for h in histories
    ]
    last = (histories[0].shape[0] - 1) * step
    refit_best = cycle_best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        fitted: list[FittedProfile] = [fit_profile(h, last, step, settings) for h in histories]
        refit_best = min(refit_best, time.perf_counter() - began)
        began = time.perf_counter()
        window = max(1, round(settings.level_window_seconds / step))
        for h, model, rule in zip(histories, fitted, rules, strict=True):
            moved = model.advance(h[-window:], last)
            forecast = moved.predict(horizon, (rule.level,))
            recommend(forecast, WorkloadNow(last, 20, float(h[-1])), rule)
        cycle_best = min(cycle_best, time.perf_counter() - began)
    return refit_best, cycle_best


def main() -> int:
    parser = argparse.ArgumentParser(description="forecast-and-decide cycle cost")
    parser.add_argument("--workloads", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| history | workloads | refit all (s) | one cycle (s) | per workload (ms) |")
    print("|---|---|---|---|---|")
    for days, step in ((14, 300.0), (7, 60.0)):
        print(f"measuring {days} d at {step:g} s ...", file=sys.stderr, flush=True)
        refit, cycle = measure(args.workloads, days, step, args.repeats)
        print(
            f"| {days} d at {step:g} s ({int(days * DAY / step)} points) | {args.workloads} | "
            f"{refit:.2f} | {cycle:.2f} | {1000 * cycle / args.workloads:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
