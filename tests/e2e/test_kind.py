"""The end-to-end suite on kind, driven from pytest: ``pytest -m e2e tests/e2e``.

It needs a Docker engine (not only the client), ``kind`` and ``kubectl``. Where any is
missing it skips with the reason, unless ``E2E_REQUIRED=1`` (set by the CI workflow that
has Docker), where a missing tool is a failure. The work is done by ``kind.sh``; this
test runs it with a time limit and shows the tail of its output when it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).with_name("kind.sh")
REPO = Path(__file__).resolve().parents[2]
SUITE_TIMEOUT = 40 * 60


def missing_prerequisite() -> str | None:
    """Why the kind suite cannot run here, or None when it can."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    try:
        info = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 30 s (is the Docker engine hung?)"
    if info.returncode != 0:
        detail = (info.stderr.strip().splitlines() or ["no output"])[-1]
        return (
            f"docker cannot reach a Docker engine (`docker info` exited {info.returncode}: "
            f"{detail})"
        )
    for tool in ("kind", "kubectl"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not on PATH (see docs/deploy.md, 'End-to-end on kind')"
    return None


@pytest.mark.timeout(SUITE_TIMEOUT + 120)
def test_kind_rolls_back_a_crash_looping_rollout() -> None:
    reason = missing_prerequisite()
    if reason is not None:
        if os.environ.get("E2E_REQUIRED") == "1":
            pytest.fail(f"kind e2e suite required but cannot run: {reason}")
        pytest.skip(f"kind e2e suite skipped: {reason}")
    with tempfile.TemporaryFile(mode="w+") as log:
        try:
            result = subprocess.run(
                ["bash", str(SCRIPT)],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=SUITE_TIMEOUT,
                check=False,
            )
            code: int | str = result.returncode
        except subprocess.TimeoutExpired:
            code = f"timeout after {SUITE_TIMEOUT} s"
        log.seek(0)
        output = log.read()
    print(output)  # shown by pytest -s, and in CI logs on failure
    tail = "\n".join(output.splitlines()[-60:])
    assert code == 0, f"tests/e2e/kind.sh failed ({code}); last lines:\n{tail}"
    assert any(": PASS" in line for line in output.splitlines()), tail
