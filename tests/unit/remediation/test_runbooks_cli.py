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


def test_validate_without_a_path_away_from_a_runbooks_folder_says_what_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # it said "runbooks: no such file or directory" and "1 problem in 1 file"
    monkeypatch.chdir(tmp_path)
    assert main(["runbooks", "validate"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"runbooks: no folder runbooks/ in {tmp_path} (without a PATH, validate checks "
        "runbooks/ in the current folder): name the runbook files or folders to check, as in "
        "autonomic runbooks validate my-runbook.yaml\n"
    )
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "a.yaml").write_text(
        (REPO / "runbooks" / "canary-rollback.yaml").read_text()
    )
    assert main(["runbooks", "validate"]) == 0
    assert capsys.readouterr().out.startswith("OK: 1 runbook in 1 file is valid (canary-rollback)")


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


def test_validate_the_manifests_folder_skips_its_kustomization(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`runbooks validate manifests/runbooks` read kustomization.yaml as a runbook and
    failed with five problems; it is kustomize's file, skipped and named."""
    folder = REPO / "manifests" / "runbooks"
    assert main(["runbooks", "validate", str(folder)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == (
        f"{folder / 'kustomization.yaml'}: skipped: kustomize's own file (it lists the "
        "runbooks for kubectl apply -k), not a runbook"
    )
    assert lines[1].startswith("OK: 13 runbooks in 13 files are valid")
    assert len(lines) == 2


def test_the_daemon_loads_the_runbooks_validate_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """One rule for both: what `runbooks validate` skips, the daemon skips (and logs);
    what it refuses, the daemon refuses to start with."""
    from agent.daemon import load_runbooks
    from agent.errors import ConfigError
    from agent.settings import load_settings

    folder = tmp_path / "runbooks"
    folder.mkdir()
    for source in (REPO / "manifests" / "runbooks").glob("*.yaml"):
        (folder / source.name).write_text(source.read_text())
    config = tmp_path / "autonomic.yaml"
    config.write_text("runbooks: [runbooks]\n")
    settings = load_settings(config, {})

    assert main(["runbooks", "validate", str(folder)]) == 0
    with caplog.at_level("INFO", logger="autonomic.daemon"):
        loaded = load_runbooks(settings)
    assert len(loaded) == 13
    assert f"{folder / 'kustomization.yaml'}: skipped: kustomize's own file" in caplog.text

    broken = folder / "canary-rollback.yaml"
    broken.write_text(broken.read_text().replace("minConfidence: 0.8", "minConfidence: 1.8"))
    capsys.readouterr()
    assert main(["runbooks", "validate", str(folder)]) == 1
    (problem,) = capsys.readouterr().out.strip().splitlines()[1:]
    with pytest.raises(ConfigError) as raised:
        load_runbooks(settings)
    assert str(raised.value).startswith("refusing to start: invalid runbooks:\n")
    assert problem in str(raised.value)
    assert "kustomization.yaml" not in str(raised.value)


def test_validate_counts_one_runbook_in_the_singular(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "OK: 1 runbooks in 1 files are valid"."""
    path = tmp_path / "one.yaml"
    path.write_text((REPO / "runbooks" / "canary-rollback.yaml").read_text())
    assert main(["runbooks", "validate", str(path)]) == 0
    assert capsys.readouterr().out == "OK: 1 runbook in 1 file is valid (canary-rollback)\n"


@pytest.mark.parametrize(("mode", "noted"), [(None, True), ("shadow", False), ("enforce", False)])
def test_a_runbook_left_in_shadow_by_default_is_noted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str | None, noted: bool
) -> None:
    # a first runbook without `mode` was "OK" and then never acted: shadow is the default
    text = (REPO / "runbooks" / "canary-rollback.yaml").read_text()
    assert "  mode: enforce\n" in text
    text = text.replace("  mode: enforce\n", "" if mode is None else f"  mode: {mode}\n")
    path = tmp_path / "rb.yaml"
    path.write_text(text)
    assert main(["runbooks", "validate", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "OK: 1 runbook in 1 file is valid (canary-rollback)"
    shadow = [line for line in lines if ": note: spec.mode: " in line]
    assert shadow == (
        [
            f"{path}:{text.splitlines().index('spec:') + 2}: note: spec.mode: not set, so the "
            "runbook is in shadow mode: it records what it would do and changes nothing; "
            "write 'mode: enforce' for it to act (or 'mode: shadow' to say so)"
        ]
        if noted
        else []
    )
