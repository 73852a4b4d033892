"""`autonomic forecast` and `autonomic replay` on mis-timed input: a clear error naming
the file (and the line and column when one row is at fault), exit code 2, no traceback."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from agent.cli import main

START = 1_700_000_000
REPLAY = ["--startup", "0", "--capacity", "10", "--policy", "hpa", "--warmup", "0"]


def _write(path: Path, header: str, rows: list[tuple[object, object]]) -> Path:
    path.write_text(header + "\n" + "".join(f"{a},{b}\n" for a, b in rows), encoding="utf-8")
    return path


def _load(i: int) -> int:
    return 100 + i % 7


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.out == ""  # nothing half-written
    return captured.err


@pytest.mark.parametrize("command", ["forecast", "replay"])
def test_millisecond_timestamps_are_refused_not_crashed_on_or_misread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    rows = [(1_700_000_000_000 + 60_000 * i, _load(i)) for i in range(50)]
    path = _write(tmp_path / "ms.csv", "timestamp,load", rows)
    extra = ["--horizon", "3"] if command == "forecast" else REPLAY
    assert main([command, str(path), *extra]) == 2
    err = _error(capsys)
    assert f"{path}:2: column 'timestamp': timestamp '1700000000000' is out of range" in err
    assert "looks like milliseconds since the epoch: divide by 1000" in err


def test_a_timestamp_of_1e15_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(
        tmp_path / "big.csv", "timestamp,load", [(START, 1), (START + 60, 2), ("1e15", 3)]
    )
    assert main(["forecast", str(path), "--horizon", "3"]) == 2
    err = _error(capsys)
    assert f"{path}:4: column 'timestamp': timestamp '1e15'" in err and "after the year 5138" in err


def test_a_forecast_that_runs_past_year_9999_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "index.csv"
    path.write_text("load\n1\n2\n3\n", encoding="utf-8")
    assert main(["forecast", str(path), "--horizon", "3", "--step", "1e11"]) == 2
    err = _error(capsys)
    assert f"{path}: the forecast reaches 3e+11 s since the epoch" in err
    assert "use a shorter --horizon or a smaller --step" in err
    # the same file at a sane step still forecasts, with ISO timestamps
    assert main(["forecast", str(path), "--horizon", "2", "--step", "60"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["timestamp"] for r in rows] == ["1970-01-01T00:03:00Z", "1970-01-01T00:04:00Z"]


def test_replay_refuses_a_step_that_puts_two_rows_on_one_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [(START + 60 * i, _load(i)) for i in range(50)]
    path = _write(tmp_path / "s60.csv", "timestamp,load", rows)
    assert main(["replay", str(path), "--step", "120", *REPLAY]) == 2
    err = _error(capsys)
    assert f"{path}:3: column 'timestamp': 25 of 50 rows fall on the same 120 s step" in err
    assert "give a --step that matches the data (--step 60)" in err
    # the matching step replays every row
    assert main(["replay", str(path), "--step", "60", *REPLAY]) == 0
    out = capsys.readouterr().out
    assert "trace: " in out and "(50 steps of 60 s, 0 missing)" in out


def test_replay_refuses_an_epoch_column_as_load_and_names_the_way_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [(START + 60 * i, _load(i)) for i in range(50)]
    path = _write(tmp_path / "minute.csv", "minute,load", rows)
    assert main(["replay", str(path), "--step", "60", *REPLAY]) == 2
    err = _error(capsys)
    assert f"{path}: column 'minute' (the first column, used by default) looks like epoch" in err
    assert "--column NAME" in err and "rename the timestamp column" in err
    assert main(["replay", str(path), "--step", "60", "--column", "load", *REPLAY]) == 0
    assert "(50 steps of 60 s, 0 missing)" in capsys.readouterr().out


def test_forecast_messages_show_plain_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "dup.csv", "timestamp,v", [(60, 1), (60, 2)])
    assert main(["forecast", str(path), "--horizon", "2"]) == 2
    err = _error(capsys)
    assert f"{path}:3: column 'timestamp': duplicate timestamp '60' (also on line 2)" in err
    assert "np.float64" not in err


def test_forecast_notes_that_seasonality_was_tested_and_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    n = 600  # 5-minute steps: two days of pure noise
    noise = 100 + np.random.default_rng(1).normal(0, 5, n)
    rows = [(START + 300 * i, f"{v:.4f}") for i, v in enumerate(noise)]
    path = _write(tmp_path / "noise.csv", "timestamp,load", rows)
    assert main(["forecast", str(path), "--horizon", "3"]) == 0
    err = capsys.readouterr().err
    assert "autonomic: note: fallback: no seasonality detected (autocorrelation " in err
    assert "at 288 steps; a cycle needs more than 0.25)" in err
    assert "shorter than two cycles of 288" not in err


def test_mean_pods_sized_by_a_spike_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One 10^12 sample makes the mean meaningless for --mean-pods: the replay still
    runs (the numbers are what was asked for) but says why they look odd."""
    rows: list[tuple[object, object]] = [(START + 60 * i, _load(i)) for i in range(200)]
    rows[100] = (START + 6000, 1e12)
    path = _write(tmp_path / "spike.csv", "timestamp,load", rows)
    args = [str(path), "--startup", "0", "--mean-pods", "5", "--policy", "hpa", "--warmup", "0"]
    assert main(["replay", *args]) == 0
    err = capsys.readouterr().err
    assert "over ten times the median" in err and "--capacity" in err
    steady = _write(tmp_path / "steady.csv", "timestamp,load", rows[:100])
    assert main(["replay", str(steady), *args[1:]]) == 0
    assert "warning" not in capsys.readouterr().err


def test_forecast_output_that_cannot_be_written_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [(START + 60 * i, _load(i)) for i in range(50)]
    path = _write(tmp_path / "load.csv", "timestamp,load", rows)
    argv = ["forecast", str(path), "--horizon", "3", "--output"]
    assert main([*argv, str(tmp_path)]) == 2
    assert f"--output {tmp_path}: is a directory; give a file such as" in _error(capsys)
    missing = tmp_path / "no" / "f.csv"
    assert main([*argv, str(missing)]) == 2
    assert f"the folder {missing.parent} does not exist" in _error(capsys)
    assert main([*argv, "/dev/null"]) == 0  # a device is a fine place to write
