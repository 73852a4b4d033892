from __future__ import annotations

import subprocess
import sys

import pytest

from agent.cli import COMMAND_MODULES, main


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for module in COMMAND_MODULES:
        command = module.rsplit(".", 1)[1].removesuffix("_cmd")
        assert f"    {command}" in out


def test_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().startswith("autonomic ")


def test_cli_starts_without_heavy_imports() -> None:
    code = (
        "import sys; from agent.cli import build_parser; build_parser(); "
        "heavy = ('statsmodels', 'pandas', 'kubernetes', 'scipy', 'sqlalchemy'); "
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
