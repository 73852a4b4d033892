"""Score detector configurations on one half of NAB quickly (for choosing defaults).

    .venv/bin/python benchmarks/nab_sweep.py --data ../shared/data/nab \
        --config "" --config "context_rest=45" --config "context_rest=90,statistical_weight=0.6"

Each ``--config`` is a comma-separated list of ``DetectorConfig`` overrides (``""`` is the
defaults). Every configuration runs Autonomic's detector strictly online over the files of
the chosen half (``--half tune`` by default: the even positions of the sorted file list, the
same split as ``nab.py``) and prints the three NAB profiles' normalised scores with each
profile's threshold swept over that half only, plus the standard profile's threshold, the
windows hit and the false-positive rows. Defaults are chosen on the tuning half; the
held-out half (``--half held``) and all files (``--half all``) are for the final report.
Files are spread over ``--jobs`` processes (CPU time per file is summed for throughput).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.nab import NabFile, load
from benchmarks.nab_scoring import Corpus

_FILES: list[NabFile] = []


def parse_overrides(text: str) -> dict[str, Any]:
    from forecasting.anomaly import DetectorConfig

    kinds = {f.name: f.type for f in fields(DetectorConfig)}
    defaults = DetectorConfig()
    out: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, raw = item.partition("=")
        if key not in kinds:
            raise SystemExit(f"unknown DetectorConfig field {key!r}")
        current = getattr(defaults, key)
        if isinstance(current, bool):
            out[key] = raw.lower() in ("1", "true", "yes")
        elif isinstance(current, int):
            out[key] = int(raw)
        elif isinstance(current, float):
            out[key] = float(raw)
        else:
            out[key] = raw
    return out


def _init(root: str, wanted: list[str]) -> None:
    files, _ = load(Path(root))
    keep = set(wanted)
    _FILES[:] = [f for f in files if f.meta.name in keep]


def _score(job: tuple[int, dict[str, Any]]) -> tuple[str, np.ndarray, float]:
    from forecasting.anomaly import Detector, DetectorConfig

    index, overrides = job
    file = _FILES[index]
    started = time.process_time()
    step = float(np.median(np.diff(file.timestamps)))
    scores = (
        Detector(step, DetectorConfig(**overrides)).update_many(file.timestamps, file.values).score
    )
    return file.meta.name, scores, time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="NAB root")
    parser.add_argument("--config", action="append", default=None, help="overrides; repeatable")
    parser.add_argument("--half", choices=("tune", "held", "all"), default="tune")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    files, profiles = load(args.data)
    names = [f.meta.name for f in files]
    chosen = {"tune": names[0::2], "held": names[1::2], "all": names}[args.half]
    corpus = Corpus([f.meta for f in files], profiles).subset(chosen)
    points = sum(f.meta.rows for f in files if f.meta.name in set(chosen))
    configs = args.config if args.config is not None else [""]
    print(
        f"| config ({args.half}, {len(chosen)} files) | std | low FP | low FN | thr std "
        "| thr lowFP | thr lowFN | windows | FP rows | points/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    with ProcessPoolExecutor(
        args.jobs, initializer=_init, initargs=(str(args.data), chosen)
    ) as pool:
        for text in configs:
            overrides = parse_overrides(text)
            jobs = [(i, overrides) for i in range(len(chosen))]
            by_file: dict[str, np.ndarray] = {}
            cpu = 0.0
            for name, scores, spent in pool.map(_score, jobs):
                by_file[name] = scores
                cpu += spent
            results = [corpus.sweep(by_file, p) for p in profiles]
            print(
                f"| {text or 'defaults'} | "
                + " | ".join(f"{r.normalised:.2f}" for r in results)
                + " | "
                + " | ".join(f"{r.threshold:.3f}" for r in results)
                + f" | {results[0].detected_windows}/{corpus.total_windows}"
                + f" | {results[0].false_positive_rows} | {points / cpu:,.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
