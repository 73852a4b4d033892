"""Is the anomaly detector's stated confidence calibrated? NAB's labels, and pure noise.

    .venv/bin/python benchmarks/anomaly_calibration.py --data ../shared/data/nab \
        > benchmarks/anomaly_calibration_RESULTS.md.new 2> /tmp/anomaly_calibration.log

(progress goes to stderr; the markdown tables to stdout). What it measures:

1. **Flagged points on NAB.** Every point of NAB v1.1's 58 files scoring at least the
   daemon's threshold (0.69), outside NAB's probationary period: its stated ``confidence``
   against whether it lies in a labelled anomaly window (NAB's ``combined_windows.json``).
   A reliability table (10 bins of stated confidence, ``agent.calibration.reliability``),
   with counts and the expected calibration error (ECE).
2. **Incidents on NAB, as the daemon opens them.** The same scores folded by an
   ``IncidentTracker`` exactly as ``agent/loops/anomaly.py`` does (a point below the
   threshold counts as quiet): the confidence each incident's signal carries to the
   runbooks, against whether the incident opened inside a window. Reliability table and
   ECE, before and after ``forecasting.anomaly.calibration`` maps the opening score to a
   probability: the map is fitted by five-fold cross-validation **over files** (files
   dealt round-robin into folds in sorted order; each fold's incidents are mapped by a
   fit on the other four folds' files only), so the "after" table is held out. The map
   fitted on all files (what ``forecasting.anomaly.calibration.NAB`` holds) is printed
   at the end, with its in-sample table.
3. **Pure noise and seasonal series with no anomaly** (synthetic, seeded): how often a
   point is flagged, how many incidents open per series-day, what confidence they state,
   and how many a runbook with no record would ask about (signal x 0.75 >= ``routing.ask``
   0.6) before and after the map. The first three days of each series are history (the
   daemon's first read of a series learns from its ``history`` and opens nothing there).

NAB's score (``benchmarks/nab.py``) is untouched by the map: it changes no score.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.calibration import Outcome, ReliabilityBin, reliability
from forecasting.anomaly import AnomalyPoint, Detector, IncidentTracker, Reason
from forecasting.anomaly.calibration import IncidentCalibration

THRESHOLD = 0.69  # AnomalyQuery's default threshold (agent/settings.py)
ASK = 0.6  # routing.ask's default
PRIOR_SUCCESS = 0.75  # a runbook's skeptical prior success (agent/calibration.py)
FOLDS = 5
DAY = 86400.0


@dataclass(frozen=True)
class Scored:
    name: str
    timestamps: np.ndarray
    values: np.ndarray
    score: np.ndarray
    confidence: np.ndarray
    reason: list[Reason]
    lower: np.ndarray  # the expected band
    upper: np.ndarray
    labels: np.ndarray  # 1 inside a labelled window
    report_from: int  # rows before this are not scored (NAB's probation, noise's history)


@dataclass(frozen=True)
class OpenedIncident:
    file: str
    row: int
    score: float
    confidence: float  # what the daemon's signal carries (the incident's peak confidence)
    real: bool


def score_series(
    name: str, ts: np.ndarray, vs: np.ndarray, labels: np.ndarray, report_from: int
) -> Scored:
    step = float(np.median(np.diff(ts)))
    result = Detector(step).update_many(ts, vs)
    return Scored(
        name,
        ts,
        vs,
        result.score,
        result.confidence,
        result.reason,
        result.lower,
        result.upper,
        labels,
        report_from,
    )


def incidents(run: Scored, threshold: float = THRESHOLD) -> list[OpenedIncident]:
    """The incidents ``agent/loops/anomaly.py`` would open on this series (its rule for
    points below the threshold: quiet, unless an incident is open and they are outside
    the expected band; no gaps, backlog or restarts), from ``report_from`` on."""
    tracker = IncidentTracker()
    quiet_cap = tracker.keep_confidence * 0.999
    opened = []
    for i in range(run.score.shape[0]):
        confidence = float(run.confidence[i])
        out = not run.lower[i] <= run.values[i] <= run.upper[i]
        low = run.score[i] < threshold and (tracker.current is None or not out)
        if low or i < run.report_from:
            confidence = min(confidence, quiet_cap)
        point = AnomalyPoint(
            float(run.timestamps[i]),
            float(run.values[i]),
            float(run.score[i]),
            confidence,
            0.0,
            0.0,
            0.0,
            run.reason[i],
        )
        event = tracker.observe(point)
        if event is not None and event.transition.value == "open":
            opened.append(
                OpenedIncident(
                    run.name,
                    i,
                    float(run.score[i]),
                    min(max(event.incident.peak_confidence, 0.0), 1.0),
                    bool(run.labels[i]),
                )
            )
    return opened


def table(title: str, outcomes: Sequence[Outcome], unit: str) -> list[str]:
    bins, ece = reliability(outcomes)
    lines = [
        f"### {title}",
        "",
        f"| stated confidence | {unit} | mean stated | share real |",
        "|---|---:|---:|---:|",
    ]
    lines += [_row(b) for b in bins]
    right = sum(o.right for o in outcomes)
    lines += [
        "",
        f"{len(outcomes)} {unit}, {right} real ({right / max(len(outcomes), 1):.1%}); "
        f"expected calibration error **{ece:.3f}**; Brier score {_brier(outcomes):.3f}.",
        "",
    ]
    return lines


def _row(b: ReliabilityBin) -> str:
    return (
        f"| {b.low:.1f}-{b.high:.1f} | {b.count} | {b.mean_confidence:.4f} | "
        f"{b.observed_rate:.3f} |"
    )


def _brier(outcomes: Sequence[Outcome]) -> float:
    if not outcomes:
        return 0.0
    return float(np.mean([(o.confidence - o.right) ** 2 for o in outcomes]))


def outcomes_of(pairs: Sequence[tuple[float, bool]]) -> list[Outcome]:
    return [Outcome(0.0, c, r, "observe") for c, r in pairs]


def cross_validated(found: Sequence[OpenedIncident], names: Sequence[str]) -> list[float]:
    """Each incident's probability from a map fitted on the other folds' files only."""
    fold_of = {name: i % FOLDS for i, name in enumerate(sorted(names))}
    mapped = []
    for incident in found:
        fold = fold_of[incident.file]
        train = [x for x in found if fold_of[x.file] != fold]
        fitted = IncidentCalibration.fit([x.score for x in train], [x.real for x in train])
        mapped.append(fitted.probability(incident.score))
    return mapped


def cross_validated_base_rate(found: Sequence[OpenedIncident], names: Sequence[str]) -> list[float]:
    """Each incident's probability as the other folds' share of real incidents."""
    fold_of = {name: i % FOLDS for i, name in enumerate(sorted(names))}
    shares = []
    for fold in range(FOLDS):
        train = [x.real for x in found if fold_of[x.file] != fold]
        shares.append(sum(train) / max(len(train), 1))
    return [shares[fold_of[x.file]] for x in found]


# -- series with no anomaly ----------------------------------------------------------------


def null_series(kind: str, rng: np.random.Generator, days: int, step: float) -> np.ndarray:
    n = int(days * DAY / step)
    t = np.arange(n, dtype=np.float64) * step
    if kind == "white noise":
        return 100.0 + rng.normal(0.0, 5.0, n)
    if kind == "daily cycle + noise":
        return 100.0 + 30.0 * np.sin(2 * np.pi * t / DAY) + rng.normal(0.0, 3.0, n)
    if kind == "heavy tails (Student t, 3 df)":
        return 100.0 + 3.0 * rng.standard_t(3, n)
    if kind == "counts (Poisson 20)":
        return rng.poisson(20.0, n).astype(float)
    if kind == "AR(1), phi 0.9":
        x = np.empty(n)
        level = 0.0
        noise = rng.normal(0.0, 2.0, n)
        for i in range(n):
            level = 0.9 * level + noise[i]
            x[i] = 100.0 + level
        return x
    raise ValueError(kind)


NULL_KINDS = (
    "white noise",
    "daily cycle + noise",
    "heavy tails (Student t, 3 df)",
    "counts (Poisson 20)",
    "AR(1), phi 0.9",
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="NAB root")
    parser.add_argument("--series", type=int, default=20, help="noise series per kind")
    parser.add_argument("--days", type=int, default=14, help="days per noise series")
    parser.add_argument("--step", type=float, default=300.0, help="noise series step, seconds")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from benchmarks.nab import load

    started = time.monotonic()
    files, _ = load(args.data)
    runs = []
    for k, f in enumerate(files):
        runs.append(score_series(f.meta.name, f.timestamps, f.values, f.labels, f.meta.probation))
        print(f"\rNAB: {k + 1}/{len(files)} files scored", end="", file=sys.stderr, flush=True)
    print(f" ({time.monotonic() - started:.0f} s)", file=sys.stderr)

    out = ["## 1. Flagged points on NAB v1.1 (score >= 0.69, outside the probation period)", ""]
    flagged = [
        (float(r.confidence[i]), bool(r.labels[i]))
        for r in runs
        for i in np.flatnonzero(r.score >= THRESHOLD)
        if i >= r.report_from
    ]
    rows = sum(r.score.shape[0] - r.report_from for r in runs)
    in_window = sum(int(r.labels[r.report_from :].sum()) for r in runs)
    out.append(
        f"{rows:,} rows scored, {in_window / rows:.1%} of them inside a labelled window "
        "(the base rate)."
    )
    out.append("")
    out += table("Stated confidence of flagged points", outcomes_of(flagged), "points")

    found = [x for r in runs for x in incidents(r)]
    print(f"NAB: {len(found)} incidents opened", file=sys.stderr)
    names = [r.name for r in runs]
    mapped = cross_validated(found, names)
    out += ["## 2. Incidents on NAB v1.1, as the daemon opens them", ""]
    out += table(
        "Before: the confidence the signal carries (the detector's, 1 - tail)",
        outcomes_of([(x.confidence, x.real) for x in found]),
        "incidents",
    )
    out += table(
        f"After: the map's probability, {FOLDS}-fold cross-validated over files (held out)",
        outcomes_of([(p, x.real) for p, x in zip(mapped, found, strict=True)]),
        "incidents",
    )
    base = cross_validated_base_rate(found, names)
    out += [
        "For scale, a constant at the other folds' share of real incidents (held out the "
        "same way) has a Brier score of "
        f"{_brier(outcomes_of([(p, x.real) for p, x in zip(base, found, strict=True)])):.3f}.",
        "",
    ]
    final = IncidentCalibration.fit([x.score for x in found], [x.real for x in found])
    out += ["### The map fitted on all files (`forecasting.anomaly.calibration.NAB`)", ""]
    out += ["| opening score from | probability real |", "|---:|---:|"]
    # the edges in full: scores crowd just below 0.7 (0.7 times a statistical score near 1)
    out += [f"| {e!r} | {p:.3f} |" for e, p in zip(final.edges, final.probabilities, strict=True)]
    out += [""]
    out += table(
        "In sample (the map on the files it was fitted on)",
        outcomes_of([(final.probability(x.score), x.real) for x in found]),
        "incidents",
    )
    out += [
        "```python",
        "NAB = IncidentCalibration(",
        f"    edges=({', '.join(repr(e) for e in final.edges)}),",
        f"    probabilities=({', '.join(f'{p:.3f}' for p in final.probabilities)}),",
        f"    incidents={final.incidents},",
        ")",
        "```",
        "",
    ]

    rng = np.random.default_rng(args.seed)
    history = int(3 * DAY / args.step)
    out += [
        f"## 3. Series with no anomaly ({args.series} per kind, {args.days} days at "
        f"{args.step:.0f} s steps, seed {args.seed}; the first 3 days are history)",
        "",
        "| series | points scored | flagged per 1,000 | incidents per series-day "
        "| incident confidence (mean, min) | asked by a new runbook, before "
        "| mapped probability (mean) | asked, after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    null_flagged: list[tuple[float, bool]] = []
    for kind in NULL_KINDS:
        scored = flagged_n = 0
        opened: list[OpenedIncident] = []
        for s in range(args.series):
            vs = null_series(kind, rng, args.days, args.step)
            ts = 1.7e9 + np.arange(vs.shape[0]) * args.step
            run = score_series(f"{kind} #{s}", ts, vs, np.zeros(vs.shape[0], int), history)
            scored += vs.shape[0] - history
            hits = np.flatnonzero(run.score[history:] >= THRESHOLD) + history
            flagged_n += hits.shape[0]
            null_flagged += [(float(run.confidence[i]), False) for i in hits]
            opened += incidents(run)
            print(f"\r{kind}: {s + 1}/{args.series}", end="", file=sys.stderr, flush=True)
        print("", file=sys.stderr)
        series_days = args.series * (args.days - 3)
        conf = [x.confidence for x in opened]
        probs = [final.probability(x.score) for x in opened]
        asked_before = sum(c * PRIOR_SUCCESS >= ASK for c in conf)
        asked_after = sum(p * PRIOR_SUCCESS >= ASK for p in probs)
        out.append(
            f"| {kind} | {scored:,} | {1000 * flagged_n / scored:.2f} | "
            f"{len(opened) / series_days:.3f} ({len(opened)}) | "
            + (f"{np.mean(conf):.5f}, {min(conf):.5f}" if conf else "-")
            + f" | {asked_before} of {len(opened)} | "
            + (f"{np.mean(probs):.3f}" if probs else "-")
            + f" | {asked_after} of {len(opened)} |"
        )
    out += [""]
    out += table(
        "No anomaly: stated confidence of flagged points (none is real)",
        outcomes_of(null_flagged),
        "points",
    )
    print(f"done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
