"""A small run of the SIGKILL crash harness (``benchmarks/crash_harness.py``): one run of
each scenario, engine processes SIGKILLed at random points, then every invariant checked.
The full figure (200 runs) is in ``benchmarks/remediation_RESULTS.md``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

HARNESS = Path(__file__).resolve().parents[3] / "benchmarks" / "crash_harness.py"


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crash_harness", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["crash_harness"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_sigkilled_engine_never_repeats_loses_or_strands_anything() -> None:
    harness = _harness()
    reports = harness.run_harness(len(harness.SCENARIOS), seed=7, max_kills=2, progress=False)
    # A kill after a random delay may come after the run ended on its own; hooks fire.
    assert sum(r.kills for r in reports) >= len(reports) // 2, [r.kills for r in reports]
    assert [v for r in reports for v in r.violations] == []
    assert sum(r.duplicates for r in reports) == 0
    for report in reports:
        assert sum(report.executions.values()) >= 1
        assert set(report.executions) <= {"succeeded", "escalated"}
        assert set(report.intents) <= {"applied", "undone", "abandoned", "failed"}
