"""manifests/runbooks/ holds exact copies of runbooks/*.yaml, all listed.

Kustomize reads files only from inside its own directory, so the runbooks ConfigMap is
generated from copies. When this fails, run ``manifests/sync-runbooks.sh``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.manifests.conftest import BASE, REPO
from tests.unit.manifests.kustomize import Obj, only

FIX = "run manifests/sync-runbooks.sh"


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.yaml") if p.name != "kustomization.yaml")


def test_copies_match_the_shipped_runbooks() -> None:
    shipped, copied = _names(REPO / "runbooks"), _names(BASE / "runbooks")
    assert shipped, "runbooks/ has no runbook"
    assert copied == shipped, f"manifests/runbooks/ is out of date: {FIX}"
    for name in shipped:
        original = (REPO / "runbooks" / name).read_bytes()
        assert (BASE / "runbooks" / name).read_bytes() == original, f"{name} differs: {FIX}"


def test_the_generator_lists_every_copy(base: list[Obj]) -> None:
    spec = yaml.safe_load((BASE / "runbooks" / "kustomization.yaml").read_text("utf-8"))
    listed = spec["configMapGenerator"][0]["files"]
    assert sorted(listed) == _names(BASE / "runbooks"), FIX
    data = only(base, "ConfigMap", "autonomic-runbooks")["data"]
    assert sorted(data) == _names(REPO / "runbooks")


def test_sync_script_reproduces_the_folder(tmp_path: Path) -> None:
    """The script run on a copy of the repo produces exactly the committed folder."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    (tmp_path / "manifests").mkdir()
    shutil.copy(BASE / "sync-runbooks.sh", tmp_path / "manifests")
    shutil.copytree(REPO / "runbooks", tmp_path / "runbooks")
    (tmp_path / "manifests" / "runbooks").mkdir()
    (tmp_path / "manifests" / "runbooks" / "stale.yaml").write_text("old: true\n")
    subprocess.run(
        ["bash", str(tmp_path / "manifests" / "sync-runbooks.sh")],
        check=True,
        capture_output=True,
        timeout=30,
    )
    produced = tmp_path / "manifests" / "runbooks"
    assert sorted(p.name for p in produced.iterdir()) == sorted(
        p.name for p in (BASE / "runbooks").iterdir()
    )
    for path in produced.iterdir():
        assert path.read_bytes() == (BASE / "runbooks" / path.name).read_bytes(), path.name
