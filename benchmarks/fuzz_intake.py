"""Fuzz the runbook loader and the Alertmanager payload parser with hypothesis.

    .venv/bin/python benchmarks/fuzz_intake.py --examples 10000

Generates ``--examples`` malformed runbooks and as many malformed payloads (mutations of
the shipped runbooks and of a valid v4 payload, byte-level corruption, random YAML/JSON
values) and checks the intake contract on each: only ``RunbookLoadError`` /
``PayloadError`` with located, non-empty messages; never another exception; never a
partially loaded runbook. Prints a markdown table of the counts; exits 1 on any
contract violation. Needs no data (it mutates ``runbooks/``), so it takes no ``--data``.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.unit.remediation.fuzzing import (  # noqa: E402
    classify_payload,
    classify_runbook,
    payload_bodies,
    runbook_texts,
)


def run(
    name: str,
    strategy: st.SearchStrategy[Any],
    classify: Callable[[Any], str],
    examples: int,
    seed: int,
) -> Counter[str]:
    counts: Counter[str] = Counter()
    started = time.monotonic()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def body(value: Any) -> None:
        try:
            counts[classify(value)] += 1
        except Exception:  # counted and reported: this is what we look for
            counts["contract violated"] += 1
            if counts["contract violated"] <= 3:
                print(f"[{name}] violation on {value!r:.300}", file=sys.stderr)
                traceback.print_exc()
        total = sum(counts.values())
        if total % 1000 == 0:
            rate = total / (time.monotonic() - started)
            print(f"[{name}] {total} examples ({rate:.0f}/s)", file=sys.stderr)

    hypothesis_seed(seed)(body)()
    counts["seconds"] = round(time.monotonic() - started)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000, help="examples per target")
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    results = {
        "runbook loader": run(
            "runbooks", runbook_texts(), classify_runbook, args.examples, args.seed
        ),
        "Alertmanager payload parser": run(
            "payloads", payload_bodies(), classify_payload, args.examples, args.seed
        ),
    }
    print(
        "| target | examples | rejected with a clear error | accepted (still valid) "
        "| contract violations | seconds |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    violations = 0
    for name, counts in results.items():
        total = counts["valid"] + counts["rejected"] + counts["contract violated"]
        violations += counts["contract violated"]
        print(
            f"| {name} | {total} | {counts['rejected']} | {counts['valid']} "
            f"| {counts['contract violated']} | {counts['seconds']} |"
        )
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
