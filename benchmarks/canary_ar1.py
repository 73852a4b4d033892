"""The canary judge when the canary-minus-baseline difference drifts (AR(1)), synthetic.

Usage::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/canary_ar1.py [--runs 400] [--jobs 2]
        [--drift-sd 0.1] [--weigh-persistence]

Each run is 60 one-minute intervals judged on latency alone, with the settings of the
canary benchmark (alpha 0.01, tolerance 10 % relative, promotion held to 30 min, maximum
duration 60 min). Per interval:

* a shared level (AR(1), coefficient 0.6, innovation sd 0.1 on the log scale) moves both
  sides together, as traffic and time of day do; the paired difference cancels it;
* the canary alone carries a drift on the log scale: AR(1) with coefficient ``phi`` and a
  stationary sd of ``--drift-sd`` (default 0.1: at any moment the canary is typically
  within +-10 % of the baseline, as much as the tolerance), long-run mean 0, so an A/A
  run stays an A/A run whatever ``phi`` is;
* each side's latency is a mean over its requests (per-request lognormal, coefficient of
  variation 0.66, as in ``benchmarks/canary.py``): Poisson(50 requests/s x 60 s) requests
  per interval, 10 % of them to the canary, which sets the sampling noise (sd about 0.04
  on the difference).

A/A runs measure false rollbacks (and promotions, escalations, time to verdict); shifted
runs multiply the canary's latency by ``--shift`` (default 1.2) and measure power. Every
rate is shown with a 95 % Wilson interval. Seeded: the same command gives the same table.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

W = 60
STEP = 60.0
PHIS = (0.0, 0.5, 0.8, 0.9, 0.95)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def pct(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{k / n:.1%} ({lo:.1%}-{hi:.1%})"


def simulate(
    rng: np.random.Generator, phi: float, factor: float, drift_sd: float
) -> list[tuple[float, float]]:
    """(baseline, canary) mean latency per interval."""
    cv2 = 0.66**2
    level = rng.normal(0.0, 0.1 / math.sqrt(1 - 0.36))
    drift = rng.normal(0.0, drift_sd)
    innovation = drift_sd * math.sqrt(1.0 - phi * phi)
    out = []
    for _ in range(W):
        level = 0.6 * level + rng.normal(0.0, 0.1)
        drift = phi * drift + rng.normal(0.0, innovation)
        total = int(rng.poisson(50.0 * STEP))
        n_c = int(rng.binomial(total, 0.1))
        sides = []
        for n, extra in ((total - n_c, 0.0), (n_c, drift)):
            s = math.sqrt(math.log1p(cv2 / max(n, 1)))
            sides.append(100.0 * math.exp(level + extra + s * rng.normal() - s * s / 2))
        out.append((sides[0], sides[1] * factor))
    return out


def judge_cell(
    args: tuple[float, float, float, int, int, bool],
) -> list[tuple[str, float | None]]:
    from forecasting.canary import CanaryJudge, Interval, JudgeSettings, MetricSpec, Tolerance

    phi, factor, drift_sd, runs, seed, weigh = args
    rng = np.random.default_rng(seed)
    spec = MetricSpec("latency", tolerance=Tolerance(0.10, relative=True))
    settings = JudgeSettings(
        max_duration_seconds=W * STEP,
        step_seconds=STEP,
        min_promote_seconds=1800.0,
        weigh_persistence=weigh,
    )
    out: list[tuple[str, float | None]] = []
    for _ in range(runs):
        judge = CanaryJudge([spec], settings)
        verdict = None
        for i, (b, c) in enumerate(simulate(rng, phi, factor, drift_sd)):
            verdict = judge.update(Interval(i * STEP, {"latency": b}, {"latency": c}))
            if verdict.final:
                break
        assert verdict is not None
        out.append((verdict.decision.value, verdict.decided_after_seconds))
    return out


def median_s(rows: list[tuple[str, float | None]], decisions: Sequence[str]) -> str:
    times = [s for d, s in rows if d in decisions and s is not None]
    return f"{statistics.median(times):.0f}" if times else "n/a"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=400, help="runs per phi and per kind")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--shift", type=float, default=1.2)
    parser.add_argument("--drift-sd", type=float, default=0.1)
    parser.add_argument(
        "--weigh-persistence",
        action="store_true",
        help="judge with JudgeSettings(weigh_persistence=True)",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    cells = [
        (
            phi,
            factor,
            args.drift_sd,
            args.runs,
            args.seed + 1000 * i + (factor != 1.0),
            args.weigh_persistence,
        )
        for i, phi in enumerate(PHIS)
        for factor in (1.0, args.shift)
    ]
    started = time.monotonic()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(judge_cell, cells))
    elapsed = time.monotonic() - started
    print(
        f"{args.runs} runs per cell, drift sd {args.drift_sd:g}, shift x{args.shift:g}, "
        f"seed {args.seed}, weigh_persistence {args.weigh_persistence}; {elapsed:.0f} s\n"
    )
    print(
        "| phi | A/A false rollback | A/A promote | A/A escalate | A/A median s | "
        f"x{args.shift:g} rollback (power) | x{args.shift:g} escalate | "
        f"x{args.shift:g} median s to rollback |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for i, phi in enumerate(PHIS):
        aa, shifted = results[2 * i], results[2 * i + 1]
        na, ns = Counter(d for d, _ in aa), Counter(d for d, _ in shifted)
        print(
            f"| {phi:g} | {pct(na['rollback'], len(aa))} | {pct(na['promote'], len(aa))} | "
            f"{pct(na['inconclusive'], len(aa))} | "
            f"{median_s(aa, ('rollback', 'promote', 'inconclusive'))} | "
            f"{pct(ns['rollback'], len(shifted))} | {pct(ns['inconclusive'], len(shifted))} | "
            f"{median_s(shifted, ('rollback',))} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
