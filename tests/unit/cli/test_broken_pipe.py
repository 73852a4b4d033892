"""`autonomic ... | head`: a reader that goes away is not reported as an error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    series = tmp_path / "series.csv"
    rows = "\n".join(f"{1_700_000_000 + 60 * i},{100 + i % 7}" for i in range(3000))
    series.write_text("timestamp,value\n" + rows + "\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "agent", "detect", str(series)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # as `| true` does: nobody reads what it prints
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141  # as a process SIGPIPE would have ended
    assert "Broken pipe" not in err and "Traceback" not in err
