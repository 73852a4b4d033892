"""``write_atomically``: a file that must never be half-written (the detector state of
``detect --state``) is replaced whole, or left as it was."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agent.cli._outputs import write_atomically


def test_the_new_text_goes_to_a_synced_file_beside_it_then_is_renamed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o640)
    steps: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        steps.append("fsync")
        real_fsync(fd)

    def replace(source: str | Path, destination: str | Path) -> None:
        steps.append("replace")
        assert Path(source).parent == tmp_path and Path(source) != target
        assert Path(source).read_text(encoding="utf-8") == "new ✓"
        assert target.read_text(encoding="utf-8") == "old"  # untouched until the rename
        real_replace(source, destination)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_atomically(target, "new ✓")
    assert steps[:2] == ["fsync", "replace"]  # the data is on disk before the rename
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the old file's permissions
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_failure_before_the_rename_leaves_the_old_file_and_no_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    target.write_text("old", encoding="utf-8")

    def crash(source: str | Path, destination: str | Path) -> None:
        raise KeyboardInterrupt  # killed between writing and renaming

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_new_file_and_a_symbolic_link(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.json"
    write_atomically(fresh, "{}")
    assert fresh.read_text(encoding="utf-8") == "{}"
    real = tmp_path / "real.json"
    real.write_text("old", encoding="utf-8")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomically(link, "new")
    assert link.is_symlink() and real.read_text(encoding="utf-8") == "new"
