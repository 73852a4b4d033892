"""Exports carry label columns (``instance``, ``job``, ``pod``) beside the values: the
commands that read one column read only that one, so ``--column value`` works on such a
file; read by default, a label column is refused with the columns to choose from."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from agent.cli import main
from agent.csvio import read_series, read_table
from agent.errors import InputError

START = 1_767_225_600  # 2026-01-01T00:00:00Z


def _export(tmp_path: Path, rows: int = 400) -> Path:
    """A Prometheus export: time, two label columns, then the value (a daily-ish wave)."""
    path = tmp_path / "export.csv"
    lines = ["time,instance,job,value"]
    for i in range(rows):
        value = 100 + 30 * math.sin(2 * math.pi * i / 96)
        lines.append(f"{START + 300 * i},10.0.0.1:9090,web,{value:.3f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_chosen_column_is_read_and_label_columns_beside_it_are_not(tmp_path: Path) -> None:
    path = _export(tmp_path, rows=5)
    series = read_series(path, column="value")
    assert series.name == "value"
    assert list(series.values) == pytest.approx(
        [100 + 30 * math.sin(2 * math.pi * i / 96) for i in range(5)], abs=1e-3
    )
    assert set(read_table(path, columns=["value"]).columns) == {"value"}


def test_a_label_column_read_by_default_is_refused_with_the_columns_to_choose(
    tmp_path: Path,
) -> None:
    path = _export(tmp_path, rows=5)
    with pytest.raises(InputError) as caught:
        read_series(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: column 'instance': '10.0.0.1:9090' is not a number")
    assert "first value column, read by default" in message
    assert "--column NAME, one of 'job', 'value'" in message


def test_every_column_is_still_read_when_none_is_chosen(tmp_path: Path) -> None:
    """judge and a forecast's fleet read every column: a label there stays an error."""
    path = _export(tmp_path, rows=5)
    with pytest.raises(InputError, match=r"export.csv:2: column 'instance': .* is not a number$"):
        read_table(path)


def test_a_chosen_column_the_header_lacks_is_named_with_the_header_line(tmp_path: Path) -> None:
    path = _export(tmp_path, rows=5)
    with pytest.raises(InputError) as caught:
        read_series(path, column="valu")
    assert (
        str(caught.value)
        == f"{path}:1: no column 'valu'; the columns are ['instance', 'job', 'value']"
    )


def test_forecast_detect_and_replay_read_the_value_column_of_an_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _export(tmp_path)
    assert main(["forecast", str(path), "--horizon", "3", "--column", "value"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("timestamp,mean,") and len(out) == 4
    assert main(["detect", str(path), "--column", "value"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 401
    argv = ["replay", str(path), "--column", "value", "--startup", "120", "--mean-pods", "4"]
    assert main([*argv, "--policy", "hpa", "--warmup", "0"]) == 0
    assert "400 steps of 300 s" in capsys.readouterr().out


def test_replay_reads_its_gap_flag_column_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "load.csv"
    lines = ["time,pod,requests,outage"]
    lines += [
        f"{START + 60 * i},web-1,{0 if 10 <= i < 15 else 50 + i % 7},{int(10 <= i < 15)}"
        for i in range(60)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["replay", str(path), "--column", "requests", "--gap-when", "outage", "--startup", "60"]
    assert main([*argv, "--capacity", "10", "--policy", "hpa", "--warmup", "0"]) == 0
    assert "5 of them flagged by outage" in capsys.readouterr().out


@pytest.mark.parametrize("cell", ["1,234", "12,345.5", "1234,5"])
def test_a_number_with_a_comma_is_refused_saying_how_to_write_it(tmp_path: Path, cell: str) -> None:
    """Spreadsheets quote "1,234" (thousands) or "1234,5" (a decimal comma): neither is
    guessed at, and the message says what to write instead."""
    path = tmp_path / "load.csv"
    path.write_text(f'time,value\n{START},"{cell}"\n{START + 60},5\n', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_series(path)
    assert str(caught.value) == (
        f"{path}:2: column 'value': '{cell}' is not a number: it holds a comma; write numbers "
        "without thousands separators, with a point for the decimals (1234.5, not 1,234.5 "
        "or 1234,5)"
    )


def test_forecast_takes_o_for_output_as_detect_does(tmp_path: Path) -> None:
    path = _export(tmp_path, rows=200)
    out = tmp_path / "forecast.csv"
    assert main(["forecast", str(path), "--column", "value", "--horizon", "2", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").splitlines()[0].startswith("timestamp,mean,")
