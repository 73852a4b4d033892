"""NAB v1.1 benchmark for Autonomic's online anomaly detector, with peers in the same run.

    .venv/bin/python benchmarks/nab.py --data ../shared/data/nab --out /tmp/nab-run

Runs every detector over every NAB file strictly online (each point is scored before the
detector learns from it), writes NAB-format results files
``<out>/results/<detector>/<category>/<detector>_<file>.csv`` (timestamp, value,
anomaly_score, label) that NAB's own scorer can read, and prints markdown tables:

- NAB scores (standard, reward_low_FP_rate, reward_low_FN_rate), one threshold per detector
  and profile swept over all files, normalised null = 0, perfect = 100 (``nab_scoring``);
- the same on the server-metric subset (realAWSCloudwatch + realKnownCause), both with the
  all-files threshold and with a threshold swept on the subset;
- Autonomic's detector on the tuning half and the held-out half of the files (its defaults
  were chosen on the tuning half: even positions in the sorted file list);
- a threshold-free measure (point-wise PR-AUC with window rows as positives) and window
  recall when 1 % of the rows outside windows are flagged;
- throughput, points per second on one core (CPU time of the scoring loop, so that other
  processes on a shared machine do not distort it).

Peers: NAB's windowed Gaussian (re-implemented from NAB's description; its scores are
rounded to 12 significant digits as NAB's Python 2 results files were, which reproduces the
published 39.6 / 20.9 / 47.4), river's HalfSpaceTrees behind an online min-max scaler (if
river is installed), and the null detector (the scorer check: it must score 0).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.nab_scoring import (
    Corpus,
    LabelledFile,
    Profile,
    average_precision,
    probation_length,
    window_recall_at_fp,
)

SERVER_CATEGORIES = ("realAWSCloudwatch", "realKnownCause")
PUBLISHED = {  # numenta/NAB README scoreboard, NAB v1.1
    "null": (0.0, 0.0, 0.0),
    "windowedGaussian": (39.6, 20.9, 47.4),
    "numenta HTM": (70.5, 62.6, 75.2),
    "CAD OSE": (69.9, 67.0, 73.2),
    "ARTime": (74.9, 65.1, 80.4),
}


@dataclass(frozen=True)
class NabFile:
    meta: LabelledFile
    raw_timestamps: list[str]
    timestamps: np.ndarray
    values: np.ndarray
    labels: np.ndarray


def load(root: Path) -> tuple[list[NabFile], list[Profile]]:
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    raw_profiles = json.loads((root / "config" / "profiles.json").read_text())
    profiles = [
        Profile(
            name,
            p["CostMatrix"]["tpWeight"],
            p["CostMatrix"]["fpWeight"],
            p["CostMatrix"]["fnWeight"],
        )
        for name, p in raw_profiles.items()
    ]
    files = []
    for name in sorted(windows):
        with (root / "data" / name).open(newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            rows = [(t, float(v)) for t, v in reader]
        moments = [datetime.fromisoformat(t) for t, _ in rows]
        index = {m: i for i, m in enumerate(moments)}
        limits = tuple(
            (index[datetime.fromisoformat(a)], index[datetime.fromisoformat(b)])
            for a, b in windows[name]
        )
        labels = np.zeros(len(rows), dtype=np.int64)
        for left, right in limits:
            labels[left : right + 1] = 1
        files.append(
            NabFile(
                LabelledFile(name, len(rows), probation_length(len(rows)), limits),
                [t for t, _ in rows],
                np.array([m.timestamp() for m in moments]),
                np.array([v for _, v in rows]),
                labels,
            )
        )
    return files, profiles


# -- detectors: each maps (timestamps, values) -> scores in [0, 1], strictly online ----------


def detect_null(ts: np.ndarray, vs: np.ndarray) -> np.ndarray:
    return np.zeros(vs.shape[0])


def detect_windowed_gaussian(ts: np.ndarray, vs: np.ndarray) -> np.ndarray:
    """NAB's windowed Gaussian: two-sided normal tail of the value under the mean and
    standard deviation of the previous (up to) 6400 values, refreshed every 100 points."""
    window_size, step = 6400, 100
    out = np.zeros(vs.shape[0])
    window: list[float] = []
    pending: list[float] = []
    mean, std = 0.0, 1.0
    for i, x in enumerate(vs.tolist()):
        if window:
            z = abs(x - mean) / std
            out[i] = float(f"{1.0 - 0.5 * math.erfc(z / math.sqrt(2.0)):.12g}")
        if len(window) < window_size:
            window.append(x)
            mean, std = float(np.mean(window)), float(np.std(window)) or 1e-6
        else:
            pending.append(x)
            if len(pending) == step:
                window = window[step:] + pending
                pending = []
                mean, std = float(np.mean(window)), float(np.std(window)) or 1e-6
    return out


def detect_autonomic(ts: np.ndarray, vs: np.ndarray) -> np.ndarray:
    from forecasting.anomaly import Detector

    step = float(np.median(np.diff(ts)))
    return Detector(step).update_many(ts, vs).score


def detect_river_hst(ts: np.ndarray, vs: np.ndarray) -> np.ndarray:
    """river HalfSpaceTrees on the value, min-max scaled online (min/max of values seen so
    far, never of the whole file); library defaults otherwise."""
    from river import anomaly, preprocessing

    model = preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=42)
    out = np.zeros(vs.shape[0])
    for i, x in enumerate(vs.tolist()):
        features = {"value": x}
        out[i] = min(1.0, max(0.0, float(model.score_one(features))))
        model.learn_one(features)
    return out


DETECTORS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "null": detect_null,
    "windowedGaussian": detect_windowed_gaussian,
    "autonomic": detect_autonomic,
    "riverHST": detect_river_hst,
}


def write_results(out: Path, detector: str, file: NabFile, scores: np.ndarray) -> None:
    category, base = file.meta.name.split("/")
    path = out / "results" / detector / category / f"{detector}_{base}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value", "anomaly_score", "label"])
        for t, v, s, label in zip(
            file.raw_timestamps,
            file.values.tolist(),
            scores.tolist(),
            file.labels.tolist(),
            strict=True,
        ):
            writer.writerow([t, repr(v), repr(s), label])


def fmt(x: float) -> str:
    return f"{x:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, required=True, help="NAB root (data/, labels/, config/)"
    )
    parser.add_argument("--out", type=Path, default=Path("nab-out"), help="where results files go")
    parser.add_argument("--detectors", default=",".join(DETECTORS), help="comma-separated subset")
    args = parser.parse_args()

    files, profiles = load(args.data)
    corpus = Corpus([f.meta for f in files], profiles)
    names = [f.meta.name for f in files]
    server = [n for n in names if n.split("/")[0] in SERVER_CATEGORIES]
    tune, held_out = names[0::2], names[1::2]
    total_points = sum(f.meta.rows for f in files)
    print(
        f"{len(files)} files, {total_points} points, {corpus.total_windows} windows",
        file=sys.stderr,
    )

    wanted = [d for d in args.detectors.split(",") if d]
    scores: dict[str, dict[str, np.ndarray]] = {}
    speed: dict[str, float] = {}
    for detector in wanted:
        fn = DETECTORS[detector]
        if detector == "riverHST":
            try:
                import river  # noqa: F401
            except ImportError:
                print(
                    "river is not installed: skipping riverHST (pip install river)", file=sys.stderr
                )
                continue
        scores[detector] = {}
        elapsed = 0.0
        for k, file in enumerate(files):
            started = time.process_time()
            result = fn(file.timestamps, file.values)
            elapsed += time.process_time() - started
            scores[detector][file.meta.name] = result
            write_results(args.out, detector, file, result)
            print(f"\r{detector}: {k + 1}/{len(files)} files", end="", file=sys.stderr, flush=True)
        speed[detector] = total_points / elapsed if elapsed > 0 else math.inf
        print(f"\r{detector}: done, {speed[detector]:,.0f} points/s", file=sys.stderr)

    server_corpus = corpus.subset(server)
    lines = [
        "## NAB v1.1, all 58 files (threshold swept per detector and profile over all files)",
        "",
    ]
    lines += [
        "| detector | standard | reward low FP | reward low FN | windows hit (std) "
        "| FP rows (std) | thresholds (std / low FP / low FN) | published |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for detector, by_file in scores.items():
        results = [corpus.sweep(by_file, p) for p in profiles]
        published = PUBLISHED.get(detector)
        lines.append(
            f"| {detector} | "
            + " | ".join(f"{r.normalised:.2f}" for r in results)
            + f" | {results[0].detected_windows}/{corpus.total_windows}"
            + f" | {results[0].false_positive_rows} | "
            + " / ".join(f"{r.threshold:.3f}" for r in results)
            + " | "
            + (" / ".join(fmt(x) for x in published) if published else "—")
            + " |"
        )
    lines += ["", "## Server metrics: realAWSCloudwatch + realKnownCause (24 files)", ""]
    lines += [
        "| detector | std (all-files threshold) | low FP | low FN "
        "| std (subset threshold) | low FP | low FN |",
        "|---|---|---|---|---|---|---|",
    ]
    for detector, by_file in scores.items():
        fixed = []
        for p in profiles:
            threshold = corpus.sweep(by_file, p).threshold
            fixed.append(server_corpus.sweep(by_file, p, threshold=threshold).normalised)
        own = [server_corpus.sweep(by_file, p).normalised for p in profiles]
        lines.append(f"| {detector} | " + " | ".join(fmt(x) for x in fixed + own) + " |")
    if "autonomic" in scores:
        lines += [
            "",
            "## Autonomic: tuning half vs held-out half (thresholds swept within each half)",
            "",
        ]
        lines += ["| files | standard | reward low FP | reward low FN |", "|---|---|---|---|"]
        for label, subset in (
            ("tuning half (29 files)", tune),
            ("held-out half (29 files)", held_out),
        ):
            sub = corpus.subset(subset)
            lines.append(
                f"| {label} | "
                + " | ".join(fmt(sub.sweep(scores["autonomic"], p).normalised) for p in profiles)
                + " |"
            )
    lines += ["", "## Threshold-free and throughput", ""]
    lines += [
        "| detector | PR-AUC (window rows positive) | window recall @ 1 % FP rows "
        "| points/s (one core) |",
        "|---|---|---|---|",
    ]
    for detector, by_file in scores.items():
        lines.append(
            f"| {detector} | {average_precision(by_file, corpus):.3f} | "
            f"{window_recall_at_fp(by_file, corpus, 0.01):.2f} | {speed[detector]:,.0f} |"
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
