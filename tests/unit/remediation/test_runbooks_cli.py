"""`autonomic runbooks validate|schema` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main

REPO = Path(__file__).resolve().parents[3]


def test_validate_shipped_runbooks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbooks", "validate", str(REPO / "runbooks")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: ") and "crashloop-after-rollout-rollback" in out
    assert len(out.strip().splitlines()) == 1


def test_validate_reports_each_error_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = (REPO / "runbooks" / "canary-rollback.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        good.replace("minConfidence: 0.8", "minConfidence: 1.8").replace(
            "cooldownPerTarget: 1h", "cooldownPerTarget: soon"
        )
    )
    assert main(["runbooks", "validate", str(bad)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{bad}:") and ": spec.triggers[0].minConfidence: " in lines[0]
    assert ": spec.guards.cooldownPerTarget: 'soon' is not a duration" in lines[1]
    assert "2 problems in 1 file" in captured.err


def test_schema_to_stdout_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbooks", "schema"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed)["title"].startswith("Autonomic Runbook")
    target = tmp_path / "schema.json"
    assert main(["runbooks", "schema", "--output", str(target)]) == 0
    assert target.read_text() == printed


def test_runbooks_without_subcommand_shows_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbooks"]) == 2
    assert "validate" in capsys.readouterr().err
