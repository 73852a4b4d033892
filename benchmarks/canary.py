"""Canary-judge benchmark: false rollbacks, power, time to verdict, escalation, calibration.

Usage::

    .venv/bin/python benchmarks/canary.py --data /work/shared/data [--runs 1200] [--jobs 2]
    .venv/bin/python benchmarks/canary.py --data /work/shared/data --fit-calibration

How the corpus is built (BENCHMARKS.md section 4), from real series only for the noise:

* Carriers: NAB realAWSCloudwatch / realKnownCause / realTraffic series (CPU, request
  latency, network, request counts, travel times). A window of 2W consecutive samples is
  split by interleaving: one side's interval t is sample 2t, the other's sample 2t+1, and
  which side takes the even samples is redrawn every 10 intervals (so a pattern that
  alternates with the sampling becomes a pod difference that persists for 10 minutes,
  not a fixed bias). Both sides carry the same real process, with its autocorrelation,
  bursts and daily shape, but never the same values: an A/A run. Windows where more than
  5 % of a carrier's samples are <= 0 are skipped (a latency is never zero).
* The per-interval latency of a side is the carrier level (scaled to a 100 ms median) times
  the sampling noise of a mean over the side's requests (per-request latency lognormal,
  coefficient of variation 0.66), so the canary's traffic share sets its noise.
* Requests per interval follow a real traffic trace (NASA HTTP, Twitter, NYC taxi, ELB
  request count) scaled to 5 or 50 requests/s; the canary gets a binomial share (1-50 %),
  the stable baseline the rest. Errors are binomial with a rate that follows another real
  series (bursty, autocorrelated), around a base of 0, 0.1 % or 1 %.
* Injections act on the canary's raw quantities: per-request latency multiplied by k (step
  or a ramp from 25/50/75 % of the run), the error probability raised by some percentage
  points (binomial thinning of successes into errors), a variance-only jitter of the
  canary's level (mean kept), and improvements (latency x0.8, errors halved).
* Windows alternate between a calibration split (even window index) and a report split
  (odd). ``--fit-calibration`` fits the judge's confidence tables on the calibration split;
  every reported number comes from the report split.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from forecasting.canary.verdict import Verdict

W = 60  # intervals per run (60 s each): a one-hour maximum analysis, as Kayenta's lifetime
STEP = 60.0
HISTORY = 60  # raw samples before the window, for the static threshold
KAYENTA_INTERVAL = 600.0
MIN_PROMOTE = 1800.0  # autonomic promotes no earlier than half the analysis (ramps)
LAT_TOL = 0.10
ERR_TOL = 0.005

CONTINUOUS_CARRIERS = (
    "nab/data/realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv",
    "nab/data/realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv",
    "nab/data/realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv",
    "nab/data/realAWSCloudwatch/ec2_cpu_utilization_77c1ca.csv",
    "nab/data/realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv",
    "nab/data/realAWSCloudwatch/ec2_cpu_utilization_ac20cd.csv",
    "nab/data/realAWSCloudwatch/ec2_cpu_utilization_c6585a.csv",
    "nab/data/realAWSCloudwatch/ec2_cpu_utilization_fe7f93.csv",
    "nab/data/realAWSCloudwatch/grok_asg_anomaly.csv",
    "nab/data/realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv",
    "nab/data/realAWSCloudwatch/rds_cpu_utilization_e47b3b.csv",
    "nab/data/realKnownCause/ec2_request_latency_system_failure.csv",
    "nab/data/realKnownCause/cpu_utilization_asg_misconfiguration.csv",
    "nab/data/realKnownCause/machine_temperature_system_failure.csv",
    "nab/data/realTraffic/TravelTime_387.csv",
    "nab/data/realTraffic/TravelTime_451.csv",
)
ERROR_CARRIERS = CONTINUOUS_CARRIERS[:8]
TRAFFIC_CARRIERS = (
    ("traces/nasa_http/requests_per_minute.csv", "requests"),
    ("traces/twitter_2021_08/tweets_per_minute.csv", "tweets"),
    ("nab/data/realKnownCause/nyc_taxi.csv", "value"),
    ("nab/data/realAWSCloudwatch/elb_request_count_8c0756.csv", "value"),
)


def read_column(path: Path, column: str) -> np.ndarray:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        values = np.array(
            [float(row[column]) if row[column].strip() else math.nan for row in reader],
            dtype=np.float64,
        )
    # an empty cell is a gap: carry the last value forward (traffic gaps stay as no traffic)
    for i in range(1, len(values)):
        if math.isnan(values[i]):
            values[i] = values[i - 1]
    return np.nan_to_num(values, nan=0.0)


@dataclass(frozen=True)
class Window:
    carrier: int
    start: int
    split: int


@dataclass(frozen=True)
class Scenario:
    """One cell of the grid. ``label``: good, bad, or minor (below the tolerance)."""

    name: str
    shape: str  # aa | latency | error | variance | latency_ramp | error_ramp | improve_*
    size: float
    share: float
    rps: float
    q0: float | None  # None: sampled per run from (0, 0.001, 0.01)
    onset: float = 0.0
    label: str = "good"


@dataclass(frozen=True)
class Run:
    run_id: int
    scenario: Scenario
    window: Window
    traffic: int
    traffic_start: int
    error_carrier: int
    error_start: int
    q0: float
    seed: int


@dataclass(frozen=True)
class Outcome:
    run_id: int
    scenario: str
    shape: str
    size: float
    share: float
    q0: float
    label: str
    rps: float
    split: int
    onset_seconds: float
    judge: str
    decision: str
    seconds: float | None
    confidence: float
    strength: float


class Corpus:
    def __init__(self, data: Path) -> None:
        self.continuous = [read_column(data / p, "value") for p in CONTINUOUS_CARRIERS]
        self.errors = [read_column(data / p, "value") for p in ERROR_CARRIERS]
        self.traffic = [read_column(data / p, c) for p, c in TRAFFIC_CARRIERS]
        self.windows: list[Window] = []
        k = 0
        for i, series in enumerate(self.continuous):
            for start in range(HISTORY, len(series) - 2 * W, W):
                # a latency never sits at zero: windows of an idle, mostly-zero series
                # are not a latency carrier
                if np.mean(series[start : start + 2 * W] <= 0) > 0.05:
                    continue
                self.windows.append(Window(i, start, k % 2))
                k += 1


def scenarios(scale: float) -> list[tuple[Scenario, int]]:
    """The injection grid and how many runs each cell gets (per split)."""
    n_aa = max(int(1200 * scale), 10)
    n = max(int(60 * scale), 4)
    grid: list[tuple[Scenario, int]] = []
    for share in (0.01, 0.05, 0.10, 0.50):
        for rps in (5.0, 50.0):
            grid.append(
                (
                    Scenario(f"A/A share {share:.0%} {rps:g} rps", "aa", 1.0, share, rps, None),
                    n_aa // 8,
                )
            )
    for k in (1.02, 1.05, 1.10, 1.20, 1.25, 1.50):
        label = "bad" if k >= 1 + LAT_TOL - 1e-9 else "minor"
        for share in (0.01, 0.05, 0.10, 0.50):
            grid.append(
                (
                    Scenario(
                        f"latency x{k:g} share {share:.0%}",
                        "latency",
                        k,
                        share,
                        50.0,
                        None,
                        label=label,
                    ),
                    n,
                )
            )
    for pp in (0.05, 0.1, 0.5, 1.0, 5.0):
        label = "bad" if pp / 100 >= ERR_TOL - 1e-12 else "minor"
        for q0 in (0.0, 0.001, 0.01):
            grid.append(
                (
                    Scenario(
                        f"errors +{pp:g}pp from {q0:.1%} share 10%",
                        "error",
                        pp / 100,
                        0.10,
                        50.0,
                        q0,
                        label=label,
                    ),
                    n,
                )
            )
    for share in (0.01, 0.05, 0.50):
        grid.append(
            (
                Scenario(
                    f"errors +1pp from 0.1% share {share:.0%}",
                    "error",
                    0.01,
                    share,
                    50.0,
                    0.001,
                    label="bad",
                ),
                n,
            )
        )
    for share in (0.10, 0.50):
        grid.append(
            (
                Scenario(
                    f"variance-only x2 sd share {share:.0%}",
                    "variance",
                    0.3,
                    share,
                    50.0,
                    None,
                    label="bad",
                ),
                n,
            )
        )
    for onset in (0.25, 0.50, 0.75):
        grid.append(
            (
                Scenario(
                    f"latency ramp to x1.5 from {onset:.0%}",
                    "latency_ramp",
                    1.5,
                    0.10,
                    50.0,
                    None,
                    onset,
                    "bad",
                ),
                n,
            )
        )
        grid.append(
            (
                Scenario(
                    f"errors ramp to +2pp from {onset:.0%}",
                    "error_ramp",
                    0.02,
                    0.10,
                    50.0,
                    0.001,
                    onset,
                    "bad",
                ),
                n,
            )
        )
    grid.append(
        (
            Scenario(
                "improvement latency x0.8 share 10%", "improve_latency", 0.8, 0.10, 50.0, None
            ),
            n,
        )
    )
    grid.append(
        (
            Scenario(
                "improvement errors halved from 1% share 10%",
                "improve_error",
                0.5,
                0.10,
                50.0,
                0.01,
            ),
            n,
        )
    )
    return grid


def plan(corpus: Corpus, scale: float, splits: Sequence[int], seed: int) -> list[Run]:
    rng = np.random.default_rng(seed)
    by_split = {s: [w for w in corpus.windows if w.split == s] for s in (0, 1)}
    runs: list[Run] = []
    for split in splits:
        for scenario, count in scenarios(scale):
            for _ in range(count):
                window = by_split[split][int(rng.integers(len(by_split[split])))]
                traffic = int(rng.integers(len(corpus.traffic)))
                tlen = len(corpus.traffic[traffic])
                err = int(rng.integers(len(corpus.errors)))
                elen = len(corpus.errors[err])
                q0 = (
                    scenario.q0
                    if scenario.q0 is not None
                    else float(rng.choice([0.0, 0.001, 0.01]))
                )
                runs.append(
                    Run(
                        len(runs),
                        scenario,
                        window,
                        traffic,
                        int(rng.integers(tlen - W)),
                        err,
                        int(rng.integers(elen - 2 * W)),
                        q0,
                        int(rng.integers(2**31)),
                    )
                )
    return runs


@dataclass(frozen=True)
class Replay:
    """Per-interval observations of one run (NaN latency when a side served nothing)."""

    latency_b: np.ndarray
    latency_c: np.ndarray
    errors_b: np.ndarray
    errors_c: np.ndarray
    requests_b: np.ndarray
    requests_c: np.ndarray
    latency_limit: float


BLOCK = 10  # intervals per block of the randomised interleaving


def _split(series: np.ndarray, start: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Interleave a window into two sides; which side takes the even samples is drawn
    afresh for every block of BLOCK intervals, so a pattern that happens to alternate
    with the sampling (a 10-minute cron on 5-minute data) becomes a pod difference that
    persists for a block and then changes, not a fixed bias for the whole run."""
    window = series[start : start + 2 * W]
    even, odd = window[0::2].copy(), window[1::2].copy()
    flips = np.random.default_rng(seed).integers(0, 2, size=(W + BLOCK - 1) // BLOCK)
    swap = np.repeat(flips, BLOCK)[:W].astype(bool)
    a = np.where(swap, odd, even)
    b = np.where(swap, even, odd)
    return a, b


def simulate(corpus: Corpus, run: Run) -> Replay:
    rng = np.random.default_rng(run.seed)
    sc = run.scenario
    x = corpus.continuous[run.window.carrier]
    raw_b, raw_c = _split(x, run.window.start, run.seed + 1)
    med = float(np.median(np.concatenate([raw_b, raw_c])))
    if med <= 0:
        med = float(np.mean(np.abs(x))) or 1.0

    def level(v: np.ndarray) -> np.ndarray:
        scaled: np.ndarray = 100.0 * (np.maximum(v, 0.0) + 0.01 * med) / (1.01 * med)
        return scaled

    lvl_b, lvl_c = level(raw_b), level(raw_c)
    history = level(x[run.window.start - HISTORY : run.window.start])
    latency_limit = 1.25 * float(np.percentile(history, 95))
    t = np.arange(W)
    if sc.shape in {"latency", "improve_latency"}:
        lvl_c = lvl_c * sc.size
    elif sc.shape == "latency_ramp":
        t0 = sc.onset * W
        lvl_c = lvl_c * (1 + (sc.size - 1) * np.clip((t - t0) / (W - t0), 0, 1))
    elif sc.shape == "variance":
        lvl_c = lvl_c * np.exp(sc.size * rng.standard_normal(W) - sc.size**2 / 2)
    traffic = corpus.traffic[run.traffic][run.traffic_start : run.traffic_start + W]
    mean_t = float(np.mean(traffic)) or 1.0
    total = rng.poisson(np.maximum(traffic, 0) / mean_t * sc.rps * STEP)
    req_c = rng.binomial(total, sc.share)
    req_b = total - req_c
    g_b, g_c = _split(corpus.errors[run.error_carrier], run.error_start, run.seed + 2)
    g_b = np.clip(g_b / (np.mean(g_b) or 1.0), 0, 5)
    g_c = np.clip(g_c / (np.mean(g_c) or 1.0), 0, 5)
    q_b = np.clip(run.q0 * g_b, 0, 1)
    q_c = np.clip(run.q0 * g_c, 0, 1)
    if sc.shape == "error":
        q_c = np.clip(q_c + sc.size, 0, 1)
    elif sc.shape == "error_ramp":
        t0 = sc.onset * W
        q_c = np.clip(q_c + sc.size * np.clip((t - t0) / (W - t0), 0, 1), 0, 1)
    elif sc.shape == "improve_error":
        q_c = q_c * sc.size
    err_b = rng.binomial(req_b, q_b)
    err_c = rng.binomial(req_c, q_c)
    return Replay(
        observe_latency(rng, lvl_b, req_b),
        observe_latency(rng, lvl_c, req_c),
        err_b.astype(float),
        err_c.astype(float),
        req_b.astype(float),
        req_c.astype(float),
        latency_limit,
    )


def observe_latency(rng: np.random.Generator, lvl: np.ndarray, n: np.ndarray) -> np.ndarray:
    """An interval's observed latency: its level with lognormal noise whose spread shrinks
    with the requests behind it (coefficient of variation 0.66 per request); no value
    where no request was served."""
    cv2 = 0.66**2
    safe = np.maximum(n, 1)
    s = np.sqrt(np.log1p(cv2 / safe))
    obs = lvl * np.exp(s * rng.standard_normal(W) - s**2 / 2)
    return np.where(n > 0, obs, np.nan)


def run_autonomic(
    replay: Replay, spread: bool = False, counted: bool = False
) -> tuple[str, float | None, float, float]:
    """``spread``: the latency metric's spread test on, at its default tolerance;
    ``counted``: the latency metric also given each side's requests as its ``count``
    column (``min_count`` 0, so that only the spread test's use of it differs)."""
    from forecasting.canary import (
        CanaryJudge,
        Interval,
        JudgeSettings,
        MetricKind,
        MetricSpec,
        Tolerance,
    )
    from forecasting.canary.spec import DEFAULT_SPREAD

    specs = [
        MetricSpec(
            "latency",
            tolerance=Tolerance(LAT_TOL, relative=True),
            spread=DEFAULT_SPREAD if spread else None,
            count="requests" if counted else None,
            min_count=0.0 if counted else None,
        ),
        MetricSpec(
            "error_rate",
            kind=MetricKind.RATIO,
            tolerance=Tolerance(ERR_TOL, relative=False),
            numerator="errors",
            denominator="requests",
        ),
    ]
    judge = CanaryJudge(
        specs,
        JudgeSettings(
            max_duration_seconds=W * STEP, step_seconds=STEP, min_promote_seconds=MIN_PROMOTE
        ),
    )
    verdict = None
    for i in range(W):
        verdict = judge.update(
            Interval(
                i * STEP,
                {
                    "latency": replay.latency_b[i],
                    "errors": replay.errors_b[i],
                    "requests": replay.requests_b[i],
                },
                {
                    "latency": replay.latency_c[i],
                    "errors": replay.errors_c[i],
                    "requests": replay.requests_c[i],
                },
            )
        )
        if verdict.final:
            break
    assert verdict is not None
    decision, strength = verdict_strength(verdict)
    return decision, verdict.decided_after_seconds, verdict.confidence, strength


def verdict_strength(verdict: Verdict) -> tuple[str, float]:
    """A verdict's decision and the strength its confidence is read at: the strongest
    regression behind a rollback, the weakest finding within tolerance behind a
    promotion, 0 for an undecided one."""
    from forecasting.canary import MetricStatus

    decision = str(verdict.decision.value)
    if decision == "rollback":
        return decision, max(
            m.strength for m in verdict.metrics if m.status is MetricStatus.REGRESSED
        )
    if decision == "promote":
        return decision, min(
            m.strength for m in verdict.metrics if m.status is MetricStatus.WITHIN_TOLERANCE
        )
    return decision, 0.0


def run_kayenta(replay: Replay, seed: int) -> tuple[str, float | None, float, float]:
    from benchmarks.peers.kayenta import MetricConfig, judge_run

    with np.errstate(divide="ignore", invalid="ignore"):
        pct_b = 100.0 * replay.errors_b / replay.requests_b
        pct_c = 100.0 * replay.errors_c / replay.requests_c
    configs = [
        MetricConfig("latency", direction="increase", nan_strategy="remove", groups=("latency",)),
        MetricConfig("error_pct", direction="increase", nan_strategy="replace", groups=("errors",)),
    ]
    verdict = judge_run(
        {"latency": replay.latency_b, "error_pct": pct_b},
        {"latency": replay.latency_c, "error_pct": pct_c},
        configs,
        step_seconds=STEP,
        lifetime_seconds=W * STEP,
        interval_seconds=KAYENTA_INTERVAL,
        group_weights={"latency": 50.0, "errors": 50.0},
        seed=seed,
    )
    return verdict.decision, verdict.decided_after_seconds, verdict.confidence, verdict.score


def run_static(replay: Replay, q0: float) -> tuple[str, float | None, float, float]:
    from benchmarks.peers.static import StaticCheck, judge_run

    with np.errstate(divide="ignore", invalid="ignore"):
        rate = replay.errors_c / replay.requests_c
    checks = [
        StaticCheck("latency", maximum=replay.latency_limit),
        StaticCheck("error_rate", maximum=max(0.01, 2 * q0)),
    ]
    verdict = judge_run(
        {"latency": list(replay.latency_c), "error_rate": list(rate)}, checks, step_seconds=STEP
    )
    return verdict.decision, verdict.decided_after_seconds, verdict.confidence, 0.0


_CORPUS: Corpus | None = None
# The autonomic judge again with the latency metric's spread test on (``--spread``).
SPREAD_JUDGE = "autonomic+spread"
# The same with the latency metric's count column, so the spread test allows for each
# side's requests per interval (``--spread``).
COUNTED_SPREAD_JUDGE = "autonomic+spread+count"


def _init(data: str) -> None:
    global _CORPUS
    _CORPUS = Corpus(Path(data))


def _evaluate(batch: tuple[list[Run], bool, bool]) -> list[Outcome]:
    runs, peers, spread = batch
    assert _CORPUS is not None
    out: list[Outcome] = []
    for run in runs:
        replay = simulate(_CORPUS, run)
        sc = run.scenario
        judged = {"autonomic": run_autonomic(replay)}
        if spread:
            judged[SPREAD_JUDGE] = run_autonomic(replay, spread=True)
            judged[COUNTED_SPREAD_JUDGE] = run_autonomic(replay, spread=True, counted=True)
        if peers:
            judged["kayenta"] = run_kayenta(replay, run.seed)
            judged["static"] = run_static(replay, run.q0)
        for name, (decision, seconds, confidence, strength) in judged.items():
            out.append(
                Outcome(
                    run.run_id,
                    sc.name,
                    sc.shape,
                    sc.size,
                    sc.share,
                    run.q0,
                    sc.label,
                    sc.rps,
                    run.window.split,
                    sc.onset * W * STEP,
                    name,
                    decision,
                    seconds,
                    confidence,
                    strength,
                )
            )
    return out


def evaluate(
    data: Path, runs: list[Run], peers: bool, jobs: int, spread: bool = False
) -> list[Outcome]:
    batches = [(runs[i : i + 50], peers, spread) for i in range(0, len(runs), 50)]
    outcomes: list[Outcome] = []
    started = time.monotonic()
    with ProcessPoolExecutor(jobs, initializer=_init, initargs=(str(data),)) as pool:
        for i, result in enumerate(pool.map(_evaluate, batches)):
            outcomes.extend(result)
            if (i + 1) % 10 == 0 or i + 1 == len(batches):
                print(
                    f"  {min((i + 1) * 50, len(runs))}/{len(runs)} runs, "
                    f"{time.monotonic() - started:.0f} s",
                    file=sys.stderr,
                )
    return outcomes


# ---------------------------------------------------------------------------- reporting


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def pct(k: int, n: int) -> str:
    if n == 0:
        return "n/a"
    lo, hi = wilson(k, n)
    return f"{k / n:.1%} ({lo:.1%}-{hi:.1%})"


def median_seconds(rows: list[Outcome], decisions: Sequence[str]) -> str:
    values = [r.seconds for r in rows if r.decision in decisions and r.seconds is not None]
    return f"{statistics.median(values):.0f}" if values else "n/a"


def correct(row: Outcome) -> bool:
    return (row.decision == "rollback") == (row.label == "bad")


def reliability(
    rows: list[Outcome], bins: int = 10
) -> tuple[list[tuple[str, int, float, float]], float]:
    decided = [r for r in rows if r.decision in ("promote", "rollback") and r.label != "minor"]
    return reliability_bins([(r.confidence, correct(r)) for r in decided], bins)


def reliability_bins(
    verdicts: Sequence[tuple[float, bool]], bins: int = 10
) -> tuple[list[tuple[str, int, float, float]], float]:
    """Stated confidence against rightness, in ``bins`` equal bins of confidence: per
    bin its label, verdicts, mean stated confidence and share right; and the expected
    calibration error (the verdict-weighted mean gap)."""
    table: list[tuple[str, int, float, float]] = []
    ece = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [
            (c, right) for c, right in verdicts if lo <= c < hi or (b == bins - 1 and c == 1.0)
        ]
        if not members:
            continue
        conf = statistics.fmean(c for c, _ in members)
        acc = statistics.fmean(1.0 if right else 0.0 for _, right in members)
        table.append(
            (f"[{lo:.1f}, {hi:.1f}{']' if b == bins - 1 else ')'}", len(members), conf, acc)
        )
        ece += len(members) / len(verdicts) * abs(conf - acc)
    return table, ece


def fit_calibration(rows: list[Outcome]) -> dict[str, list[tuple[float, float]]]:
    """Isotonic (pool-adjacent-violators) fit of P(right) on strength, per decision."""
    knots: dict[str, list[tuple[float, float]]] = {}
    for decision in ("rollback", "promote"):
        pts = sorted(
            (r.strength, 1.0 if correct(r) else 0.0)
            for r in rows
            if r.decision == decision and r.label != "minor"
        )
        if not pts:
            continue
        # equal-count bins of about 100, then pool adjacent violators
        size = max(len(pts) // 12, 50)
        starts = list(range(0, len(pts), size))
        if len(starts) > 1 and len(pts) - starts[-1] < size // 2:
            starts.pop()  # fold a small last chunk into the one before
        blocks = []
        for i, start in enumerate(starts):
            chunk = pts[start : starts[i + 1] if i + 1 < len(starts) else len(pts)]
            blocks.append(
                [statistics.fmean(s for s, _ in chunk), sum(y for _, y in chunk), len(chunk)]
            )
        merged: list[list[float]] = []
        for block in blocks:
            merged.append(block)
            while len(merged) > 1 and merged[-2][1] / merged[-2][2] > merged[-1][1] / merged[-1][2]:
                b2 = merged.pop()
                b1 = merged.pop()
                n = b1[2] + b2[2]
                merged.append([(b1[0] * b1[2] + b2[0] * b2[2]) / n, b1[1] + b2[1], n])
        # Laplace-smoothed accuracy per pooled block
        knots[decision] = [(round(s, 3), round((k + 0.5) / (n + 1), 4)) for s, k, n in merged]
    return knots


def report(
    outcomes: list[Outcome], args: argparse.Namespace, runs: int, elapsed: float, split: int = 1
) -> str:
    rows = [o for o in outcomes if o.split == split]
    judges: tuple[str, ...] = ("autonomic", "kayenta", "static")
    if any(o.judge == SPREAD_JUDGE for o in rows):
        judges = ("autonomic", SPREAD_JUDGE, COUNTED_SPREAD_JUDGE, "kayenta", "static")
    by_judge = {j: [r for r in rows if r.judge == j] for j in judges}
    lines = [
        "# Canary judge benchmark",
        "",
        "Command: `.venv/bin/python benchmarks/canary.py "
        f"--data {args.data} --runs {args.runs} --jobs {args.jobs}"
        + (" --spread" if args.spread else "")
        + "`  ",
        f"Date: {time.strftime('%Y-%m-%d', time.gmtime())}. Machine: 2 cores, shared and noisy. "
        f"Wall time {elapsed / 60:.1f} min for {runs} runs of split {split}, each judged by "
        "every judge.  ",
        "All figures below are from the **report split** (odd window indexes); the "
        "confidence tables in `forecasting/canary/calibration.py` were fitted on the "
        "calibration split (even window indexes) with `--fit-calibration`.",
        "",
        "Judges: **autonomic** (this repo, alpha 0.01, tolerances latency 10 % relative, errors "
        "0.5 pp; max duration 60 min); "
        + (
            f"**{SPREAD_JUDGE}** (the same with `spread: true` on latency: its standard "
            "deviation over intervals at most 1.5 times the baseline's, the test taking a "
            "share of both error budgets); "
            f"**{COUNTED_SPREAD_JUDGE}** (the same, latency given each side's requests per "
            "interval as its `count` column with `min_count: 0`, so the spread test allows "
            "for a small canary's noisier intervals); "
            if SPREAD_JUDGE in judges
            else ""
        )
        + "**kayenta** (re-implemented NetflixACAJudge, direction "
        "increase, 98 % MW, groups latency/errors 50/50, pass 75 / marginal 50, lifetime 60 min, "
        "10-min cumulative intervals, fail fast); **static** (Flagger-style: latency <= 1.25 x "
        "p95 of the hour before, error rate <= max(1 %, 2 x base), 1-min checks, 10 iterations, "
        "rollback at 5 failed checks, no-data counts as failed).",
        "",
        "## Headline",
        "",
        "Clear cases (for the escalation rate): A/A runs and latency >= x1.2 or errors >= +1 pp "
        "injections, at a canary share of at least 10 % and 50 requests/s.",
        "",
        "| judge | false rollback on A/A (95 % Wilson) | rollback on improvements "
        "| power latency x1.2 @10 % | power errors +1pp @10 % (all bases) "
        "| median s to verdict (x1.2 / +1pp @10 %) | escalation on clear cases | ECE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for j in judges:
        r = by_judge[j]
        aa = [o for o in r if o.shape == "aa"]
        imp = [o for o in r if o.shape.startswith("improve")]
        lat = [
            o for o in r if o.shape == "latency" and abs(o.size - 1.2) < 1e-9 and o.share == 0.10
        ]
        err = [
            o for o in r if o.shape == "error" and abs(o.size - 0.01) < 1e-12 and o.share == 0.10
        ]
        clear = [
            o
            for o in r
            if o.share >= 0.10
            and o.rps >= 50
            and (
                o.shape == "aa"
                or (o.shape == "latency" and o.size >= 1.2)
                or (o.shape == "error" and o.size >= 0.01)
            )
        ]
        _, ece = reliability(r)
        lines.append(
            f"| {j} | {pct(sum(o.decision == 'rollback' for o in aa), len(aa))} | "
            f"{pct(sum(o.decision == 'rollback' for o in imp), len(imp))} | "
            f"{pct(sum(o.decision == 'rollback' for o in lat), len(lat))} | "
            f"{pct(sum(o.decision == 'rollback' for o in err), len(err))} | "
            f"{median_seconds(lat, ('rollback',))} / {median_seconds(err, ('rollback',))} | "
            f"{pct(sum(o.decision == 'inconclusive' for o in clear), len(clear))} | {ece:.3f} |"
        )
    lines += ["", "## Per scenario (report split)", ""]
    lines.append(
        "| scenario | label | runs | "
        + " | ".join(f"{j}: rollback / promote / inconclusive / continue, median s" for j in judges)
        + " |"
    )
    lines.append("|---|---|---|" + "---|" * len(judges))
    names = list(dict.fromkeys(o.scenario for o in rows))
    for name in names:
        cells = []
        count = 0
        label = ""
        for j in judges:
            r = [o for o in by_judge[j] if o.scenario == name]
            count = max(count, len(r))
            label = r[0].label if r else label
            tally: defaultdict[str, int] = defaultdict(int)
            for o in r:
                tally[o.decision] += 1
            n = len(r) or 1
            cells.append(
                f"{tally['rollback'] / n:.0%} / {tally['promote'] / n:.0%} / "
                f"{tally['inconclusive'] / n:.0%} / {tally['continue'] / n:.0%}, "
                f"{median_seconds(r, ('rollback', 'promote', 'inconclusive'))}"
            )
        lines.append(f"| {name} | {label} | {count} | " + " | ".join(cells) + " |")
    ramp_delays = [
        o.seconds - o.onset_seconds
        for o in by_judge["autonomic"]
        if o.shape.endswith("ramp") and o.decision == "rollback" and o.seconds is not None
    ]
    if ramp_delays:
        lines += [
            "",
            "Autonomic, ramps: median time from ramp onset to rollback "
            f"{statistics.median(ramp_delays):.0f} s "
            "(rollbacks only).",
        ]
    lines += [
        "",
        "## Calibration (report split; decided verdicts on good/bad runs, minor effects excluded)",
        "",
    ]
    for j in judges:
        table, ece = reliability(by_judge[j])
        lines += [
            f"**{j}**: ECE {ece:.3f}",
            "",
            "| stated confidence | verdicts | mean confidence | share right |",
            "|---|---|---|---|",
        ]
        lines += [f"| {b} | {n} | {c:.3f} | {a:.3f} |" for b, n, c, a in table]
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument(
        "--runs", type=int, default=1200, help="A/A runs per split (grid scales with it)"
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument(
        "--fit-calibration",
        action="store_true",
        help="fit confidence tables on the calibration split and print them",
    )
    parser.add_argument(
        "--spread",
        action="store_true",
        help="also judge every run with the latency metric's spread test on (spread: true), "
        f"reported as {SPREAD_JUDGE!r}, and again with each side's requests as the latency's "
        f"count column, reported as {COUNTED_SPREAD_JUDGE!r}",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("canary_RESULTS.md"))
    parser.add_argument("--outcomes", type=Path, help="also write every judged run to this CSV")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    corpus = Corpus(args.data)
    print(
        f"{len(corpus.windows)} real windows from {len(CONTINUOUS_CARRIERS)} carriers",
        file=sys.stderr,
    )
    scale = args.runs / 1200
    started = time.monotonic()
    if args.fit_calibration:
        runs = plan(corpus, scale, [0], args.seed)
        outcomes = evaluate(args.data, runs, peers=False, jobs=args.jobs)
        print(fit_calibration(outcomes))
        elapsed = time.monotonic() - started
        print(report(outcomes, args, len(runs), elapsed, split=0), file=sys.stderr)
        table, ece = reliability(outcomes)
        print(f"calibration split, current tables: ECE {ece:.3f}", table)
        return 0
    runs = plan(corpus, scale, [1], args.seed + 1)
    outcomes = evaluate(args.data, runs, peers=True, jobs=args.jobs, spread=args.spread)
    if args.outcomes is not None:
        with args.outcomes.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(Outcome.__dataclass_fields__)
            for o in outcomes:
                writer.writerow(o.__dict__.values())
    text = report(outcomes, args, len(runs), time.monotonic() - started)
    old = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(keep_written_sections(text, old))
    print(text)
    return 0


HAND_WRITTEN = "## Reading the numbers"


def keep_written_sections(generated: str, old: str) -> str:
    """The generated tables, followed by what people wrote below them in ``old`` (from
    its ``## Reading the numbers`` heading on: the reading and the dated sections),
    which a rerun must not wipe."""
    at = old.find("\n" + HAND_WRITTEN)
    if at < 0:
        return generated
    return generated.rstrip("\n") + "\n\n" + old[at + 1 :]


if __name__ == "__main__":
    raise SystemExit(main())
