"""Why Autonomic's detector flags what it flags on NAB: rows scoring at least a threshold,
counted by reason, and how many of each lie inside the expected band.

    .venv/bin/python benchmarks/nab_reasons.py --data ../shared/data/nab [--threshold 0.69]

The detector's defaults, one detector per file, as ``benchmarks/nab.py`` runs it. A reason
marked "(contextual)" was given to a row whose statistical confidence is below 0.99: the
contextual detector found it.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.nab import load


def main() -> int:
    from forecasting.anomaly import Detector

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="NAB v1.1 root")
    parser.add_argument("--threshold", type=float, default=0.69, help="flag rows scoring this")
    args = parser.parse_args()
    files, _ = load(args.data)
    flagged: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    for file in files:
        step = float(np.median(np.diff(file.timestamps)))
        result = Detector(step).update_many(file.timestamps, file.values)
        for i in np.flatnonzero(result.score >= args.threshold):
            name = result.reason[i].value
            if result.confidence[i] < 0.99:
                name += " (contextual)"
            flagged[name] += 1
            inside[name] += bool(result.lower[i] <= result.observed[i] <= result.upper[i])
    print(f"rows scoring >= {args.threshold:g} on {len(files)} files, by reason")
    print("\n| reason | rows | inside the band |\n|---|---:|---:|")
    for name, count in sorted(flagged.items(), key=lambda item: (-item[1], item[0])):
        print(f"| {name} | {count} | {inside[name]} |")
    print(f"| all | {sum(flagged.values())} | {sum(inside.values())} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
