"""The benchmark scripts that borrow the stand-ins in tests/ run by the command their
docstrings give (``.venv/bin/python benchmarks/NAME.py``), from the repository's root,
where Python puts benchmarks/ first on the path, not the root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BORROWING = sorted(
    p.name
    for p in (ROOT / "benchmarks").glob("*.py")
    if any(
        line.startswith(("from tests.", "import tests"))
        for line in p.read_text(encoding="utf-8").splitlines()
    )
)


def test_some_benchmarks_borrow_from_tests() -> None:
    assert {"slack_ack.py", "slack_pacing.py", "storm.py"} <= set(BORROWING)


@pytest.mark.parametrize("name", BORROWING)
def test_a_benchmark_borrowing_from_tests_imports_by_its_path(name: str) -> None:
    """Its imports resolve when run as a script (the module is loaded, main not run)."""
    code = (
        "import runpy, sys; sys.argv = [sys.argv[0]]; "
        f"sys.path[0] = {str(ROOT / 'benchmarks')!r}; "
        f"runpy.run_path({str(ROOT / 'benchmarks' / name)!r}, run_name='not_main')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
