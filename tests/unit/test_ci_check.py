"""``.ci/check`` (what ``.ci/run`` ends with) fails when pytest runs no test, and passes
pytest's own verdict through otherwise. Run against a stand-in interpreter whose lint
steps pass and whose pytest exits with the code given, so only the script is tested."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

CHECK = Path(__file__).resolve().parents[2] / ".ci" / "check"


def _stand_in(tmp_path: Path, pytest_code: int) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python"
    python.write_text(
        "#!/bin/sh\n"
        f'if [ "$2" = pytest ]; then echo "$*" >> "{tmp_path}/calls"; '
        f"exit {pytest_code}; fi\nexit 0\n",
        encoding="utf-8",
    )
    (bin_dir / "lint-imports").write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    return python


@pytest.mark.parametrize(("pytest_code", "expected"), [(0, 0), (1, 1), (2, 2), (5, 1)])
def test_check_fails_when_pytest_runs_no_test(
    tmp_path: Path, pytest_code: int, expected: int
) -> None:
    python = _stand_in(tmp_path, pytest_code)
    environ = {k: v for k, v in os.environ.items() if k != "PYTEST_WORKERS"}
    done = subprocess.run(
        ["bash", str(CHECK), "tests/nothing"],
        env={**environ, "PY": str(python)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == expected, done.stdout + done.stderr
    assert (tmp_path / "calls").read_text(encoding="utf-8").splitlines() == [
        "-m pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=15 --durations-min=5 "
        "tests/nothing"
    ]
    assert ("pytest ran no test: failing" in done.stdout) == (pytest_code == 5)
