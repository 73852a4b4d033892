"""Unevenly spaced rows, read without --step, sit on a grid of their median spacing: two
rows that fall on one step keep the later, and the commands say so on stderr. They used
to leave rows out without a word."""

from __future__ import annotations

import random
from itertools import pairwise
from pathlib import Path

import pytest

from agent.cli import main
from agent.csvio import read_series

START = 1_767_225_600  # 2026-01-01T00:00:00Z


def _uneven(tmp_path: Path, rows: int = 600) -> tuple[Path, list[float]]:
    rng = random.Random(3)
    path = tmp_path / "uneven.csv"
    moment, stamps, lines = float(START), [], ["time,value"]
    for i in range(rows):
        stamps.append(moment)
        lines.append(f"{moment:.0f},{100 + i % 7}")
        moment += rng.choice((150.0, 300.0, 300.0, 450.0))  # a scraper that misses beats
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, stamps


def _shared(stamps: list[float], step: float) -> int:
    slots = [round((moment - stamps[0]) / step) for moment in stamps]
    return sum(1 for a, b in pairwise(slots) if a == b)


def test_rows_sharing_a_step_are_counted_and_named_by_line(tmp_path: Path) -> None:
    path, stamps = _uneven(tmp_path)
    said: list[str] = []
    series = read_series(path, note=said.append)
    shared = _shared(stamps, series.step)
    assert shared > 0  # the data does what the note is about
    (text,) = said
    assert f"{shared} of 600 rows fell on the same" in text
    assert "the later row of each pair was kept" in text and "--step" in text
    assert "lines " in text


def test_even_rows_say_nothing(tmp_path: Path) -> None:
    path = tmp_path / "even.csv"
    path.write_text(
        "time,value\n" + "".join(f"{START + 300 * i},{i}\n" for i in range(50)), encoding="utf-8"
    )
    said: list[str] = []
    read_series(path, note=said.append)
    assert said == []


def test_forecast_and_replay_say_it_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = _uneven(tmp_path)
    assert main(["forecast", str(path), "--horizon", "3"]) == 0
    assert "autonomic: note:" in capsys.readouterr().err
    argv = ["replay", str(path), "--startup", "120", "--capacity", "10"]
    assert main([*argv, "--policy", "hpa", "--warmup", "0"]) == 0
    assert "rows fell on the same" in capsys.readouterr().err
