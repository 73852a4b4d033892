"""How right the canary judge's stated confidence is on verdicts decided by an objective.

Usage::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/canary_objective.py \
        --data /work/shared/data [--per-cell 12] [--jobs 1] [--seed 20261125] [--split 1]

A metric's absolute ``objective`` (``MetricSpec.objective``) is judged on the canary's own
values, not against its baseline. This benchmark builds canaries whose truth against the
objective is known and reports the reliability of the verdicts the objective decided: the
stated confidence, binned, against the share of those verdicts that were right.

Each run is built from the generators of ``benchmarks/canary.py`` (real NAB series for
the latency level and for the bursty error rate, real traffic traces for the requests,
the canary's binomial share of them, per-request lognormal latency noise) with no
injection: the canary is as good or as bad as its baseline, the case an objective is for
(the comparison with the baseline sees nothing). The judge is the benchmark's (latency 10 %
relative, errors 0.5 pp, alpha 0.01, promotion held to 30 min, maximum 60 min), with an
objective on one metric:

* ``error_rate``: the objective is the canary's true error rate over the hour (its
  expected errors over its requests, both known to the simulation) divided by ``r``;
* ``latency``: the canary's true mean level over the hour (the interval means before the
  sampling noise, which keeps the mean) divided by ``r``.

So ``r > 1`` is a canary truly past its objective (a rollback is right) and ``r < 1`` one
truly within it (a promotion is right). Grid: ``r``, the traffic (5 or 50 requests/s, a
canary share of 5, 10 or 50 %) and, for errors, a base rate of 0.1 % or 1 %. Windows come
from one split of the benchmark's windows (``--split``, default 1, the report split);
``--fit`` fits the objective's own confidence table (see
``forecasting/canary/calibration.py``) and should be run on the other split with another
seed. Seeded: the same command gives the same table.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.canary import (
    ERR_TOL,
    LAT_TOL,
    MIN_PROMOTE,
    STEP,
    Corpus,
    W,
    _split,
    observe_latency,
    pct,
    reliability_bins,
    verdict_strength,
)

ERROR_RATIOS = (0.5, 0.8, 0.9, 1.1, 1.25, 2.0)
LATENCY_RATIOS = (0.8, 0.9, 0.95, 1.05, 1.1, 1.25)
RPS = (5.0, 50.0)
SHARES = (0.05, 0.10, 0.50)
BASES = (0.001, 0.01)


@dataclass(frozen=True)
class Cell:
    metric: str  # error_rate | latency
    ratio: float  # the canary's true value over its objective
    rps: float
    share: float
    q0: float

    @property
    def name(self) -> str:
        base = f" from {self.q0:.1%}" if self.metric == "error_rate" else ""
        return (
            f"{self.metric}{base} at {self.ratio:g}x objective, "
            f"{self.rps:g} rps share {self.share:.0%}"
        )


@dataclass(frozen=True)
class Run:
    cell: Cell
    window: int
    traffic: int
    traffic_start: int
    error_carrier: int
    error_start: int
    seed: int


@dataclass(frozen=True)
class Outcome:
    cell: Cell
    decision: str
    reason: str
    seconds: float | None
    confidence: float
    strength: float
    right: bool
    # the judged metric's own two findings at the verdict: its objective's strength, and
    # its comparison's (both 0 where undecided)
    objective_strength: float
    comparison_strength: float


def grid() -> list[Cell]:
    cells: list[Cell] = []
    for rps in RPS:
        for share in SHARES:
            for q0 in BASES:
                cells += [Cell("error_rate", r, rps, share, q0) for r in ERROR_RATIOS]
            cells += [Cell("latency", r, rps, share, 0.001) for r in LATENCY_RATIOS]
    return cells


def plan(corpus: Corpus, per_cell: int, split: int, seed: int) -> list[Run]:
    rng = np.random.default_rng(seed)
    windows = [i for i, w in enumerate(corpus.windows) if w.split == split]
    runs: list[Run] = []
    for cell in grid():
        for _ in range(per_cell):
            traffic = int(rng.integers(len(corpus.traffic)))
            err = int(rng.integers(len(corpus.errors)))
            runs.append(
                Run(
                    cell,
                    windows[int(rng.integers(len(windows)))],
                    traffic,
                    int(rng.integers(len(corpus.traffic[traffic]) - W)),
                    err,
                    int(rng.integers(len(corpus.errors[err]) - 2 * W)),
                    int(rng.integers(2**31)),
                )
            )
    return runs


def judge(corpus: Corpus, run: Run) -> Outcome:
    """Simulate one A/A canary (as ``benchmarks/canary.py`` does), set the objective from
    its known truth and the cell's ratio, and judge it."""
    from forecasting.canary import (
        CanaryJudge,
        Interval,
        JudgeSettings,
        MetricKind,
        MetricSpec,
        Tolerance,
    )

    cell = run.cell
    rng = np.random.default_rng(run.seed)
    window = corpus.windows[run.window]
    x = corpus.continuous[window.carrier]
    raw_b, raw_c = _split(x, window.start, run.seed + 1)
    med = float(np.median(np.concatenate([raw_b, raw_c])))
    if med <= 0:
        med = float(np.mean(np.abs(x))) or 1.0
    lvl_b = 100.0 * (np.maximum(raw_b, 0.0) + 0.01 * med) / (1.01 * med)
    lvl_c = 100.0 * (np.maximum(raw_c, 0.0) + 0.01 * med) / (1.01 * med)
    traffic = corpus.traffic[run.traffic][run.traffic_start : run.traffic_start + W]
    mean_t = float(np.mean(traffic)) or 1.0
    total = rng.poisson(np.maximum(traffic, 0) / mean_t * cell.rps * STEP)
    req_c = rng.binomial(total, cell.share)
    req_b = total - req_c
    g_b, g_c = _split(corpus.errors[run.error_carrier], run.error_start, run.seed + 2)
    q_b = np.clip(cell.q0 * np.clip(g_b / (np.mean(g_b) or 1.0), 0, 5), 0, 1)
    q_c = np.clip(cell.q0 * np.clip(g_c / (np.mean(g_c) or 1.0), 0, 5), 0, 1)
    err_b = rng.binomial(req_b, q_b)
    err_c = rng.binomial(req_c, q_c)
    lat_b, lat_c = observe_latency(rng, lvl_b, req_b), observe_latency(rng, lvl_c, req_c)
    if cell.metric == "error_rate":
        served = float(np.sum(req_c)) or 1.0
        truth = float(np.sum(req_c * q_c)) / served
    else:
        truth = float(np.mean(lvl_c))
    objective = truth / cell.ratio
    latency = MetricSpec(
        "latency",
        tolerance=Tolerance(LAT_TOL, relative=True),
        objective=objective if cell.metric == "latency" else None,
    )
    errors = MetricSpec(
        "error_rate",
        kind=MetricKind.RATIO,
        tolerance=Tolerance(ERR_TOL, relative=False),
        numerator="errors",
        denominator="requests",
        objective=min(objective, 0.999) if cell.metric == "error_rate" else None,
    )
    settings = JudgeSettings(
        max_duration_seconds=W * STEP, step_seconds=STEP, min_promote_seconds=MIN_PROMOTE
    )
    canary_judge = CanaryJudge([latency, errors], settings)
    verdict = None
    for i in range(W):
        verdict = canary_judge.update(
            Interval(
                i * STEP,
                {"latency": lat_b[i], "errors": err_b[i], "requests": req_b[i]},
                {"latency": lat_c[i], "errors": err_c[i], "requests": req_c[i]},
            )
        )
        if verdict.final:
            break
    assert verdict is not None
    decision, strength = verdict_strength(verdict)
    index = 0 if cell.metric == "latency" else 1
    held = canary_judge._objectives[cell.metric].finding(
        *canary_judge._alphas, settings.min_intervals
    )
    compared = canary_judge._evidence[index].finding()
    bad = cell.ratio > 1.0
    return Outcome(
        cell,
        decision,
        verdict.reason,
        verdict.decided_after_seconds,
        verdict.confidence,
        strength,
        (decision == "rollback") == bad,
        held.strength,
        compared.strength,
    )


_CORPUS: Corpus | None = None


def _init(data: str) -> None:
    global _CORPUS
    _CORPUS = Corpus(Path(data))


def _batch(runs: list[Run]) -> list[Outcome]:
    assert _CORPUS is not None
    return [judge(_CORPUS, run) for run in runs]


def evaluate(data: Path, runs: list[Run], jobs: int) -> list[Outcome]:
    batches = [runs[i : i + 50] for i in range(0, len(runs), 50)]
    if jobs <= 1:
        _init(str(data))
        return [o for batch in batches for o in _batch(batch)]
    out: list[Outcome] = []
    with ProcessPoolExecutor(jobs, initializer=_init, initargs=(str(data),)) as pool:
        for result in pool.map(_batch, batches):
            out.extend(result)
    return out


def objective_verdicts(outcomes: list[Outcome]) -> list[Outcome]:
    """The verdicts an objective decided: rollbacks named ``ObjectiveBreached`` and every
    promotion (which needed the objective met). The comparison's own rollbacks of these
    A/A canaries (``CriticalRegression``) are the comparison's false alarms, not counted."""
    return [o for o in outcomes if o.reason == "ObjectiveBreached" or o.decision == "promote"]


def reliability(
    rows: list[Outcome], bins: int = 10
) -> tuple[list[tuple[str, int, float, float]], float]:
    return reliability_bins([(r.confidence, r.right) for r in rows], bins)


def fit(rows: list[Outcome]) -> dict[str, list[tuple[float, float]]]:
    """Isotonic fit of P(right) on strength per decision, as ``benchmarks/canary.py``."""
    from benchmarks.canary import Outcome as CanaryOutcome
    from benchmarks.canary import fit_calibration

    as_canary = [
        CanaryOutcome(
            run_id=0,
            scenario=o.cell.name,
            shape=o.cell.metric,
            size=o.cell.ratio,
            share=o.cell.share,
            q0=o.cell.q0,
            label="bad" if o.cell.ratio > 1.0 else "good",
            rps=o.cell.rps,
            split=0,
            onset_seconds=0.0,
            judge="autonomic",
            decision=o.decision,
            seconds=o.seconds,
            confidence=o.confidence,
            strength=o.strength,
        )
        for o in rows
    ]
    return fit_calibration(as_canary)


def report(outcomes: list[Outcome], command: str, elapsed: float) -> str:
    decided = objective_verdicts(outcomes)
    lines = [
        f"Command: `{command}`  ",
        f"{len(outcomes)} runs, {elapsed / 60:.1f} min wall. Objective verdicts (rollbacks "
        f"`ObjectiveBreached` and promotions): {len(decided)}.",
        "",
    ]
    for title, rows in (
        ("all objective verdicts", decided),
        ("rollbacks `ObjectiveBreached`", [o for o in decided if o.decision == "rollback"]),
        ("promotions", [o for o in decided if o.decision == "promote"]),
    ):
        if not rows:
            continue
        table, ece = reliability(rows)
        right = sum(o.right for o in rows)
        lines += [
            f"**{title}**: {len(rows)} verdicts, right {pct(right, len(rows))}, ECE {ece:.3f}",
            "",
            "| stated confidence | verdicts | mean confidence | share right |",
            "|---|---|---|---|",
        ]
        lines += [f"| {b} | {n} | {c:.3f} | {a:.3f} |" for b, n, c, a in table]
        lines.append("")
    lines += [
        "| metric | r (true / objective) | runs | rollback (objective) / rollback (comparison) "
        "/ promote / inconclusive | wrong objective verdicts |",
        "|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, float], list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[(o.cell.metric, o.cell.ratio)].append(o)
    for (metric, ratio), rows in sorted(groups.items()):
        n = len(rows)
        obj = sum(o.reason == "ObjectiveBreached" for o in rows)
        cmp_ = sum(o.decision == "rollback" and o.reason != "ObjectiveBreached" for o in rows)
        pro = sum(o.decision == "promote" for o in rows)
        inc = sum(o.decision in ("inconclusive", "continue") for o in rows)
        wrong = sum(not o.right for o in objective_verdicts(rows))
        lines.append(
            f"| {metric} | {ratio:g} | {n} | {obj / n:.0%} / {cmp_ / n:.0%} / {pro / n:.0%} / "
            f"{inc / n:.0%} | {wrong} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--per-cell", type=int, default=12, help="runs per grid cell")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--split", type=int, choices=(0, 1), default=1)
    parser.add_argument(
        "--fit", action="store_true", help="print the objective's fitted confidence knots"
    )
    args = parser.parse_args(argv)
    corpus = Corpus(args.data)
    runs = plan(corpus, args.per_cell, args.split, args.seed)
    started = time.monotonic()
    outcomes = evaluate(args.data, runs, args.jobs)
    elapsed = time.monotonic() - started
    command = (
        "OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/canary_objective.py "
        f"--data {args.data} --per-cell {args.per_cell} --jobs {args.jobs} "
        f"--seed {args.seed} --split {args.split}" + (" --fit" if args.fit else "")
    )
    print(report(outcomes, command, elapsed))
    if args.fit:
        print(fit(objective_verdicts(outcomes)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
