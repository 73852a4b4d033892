"""Which column of a CSV holds the timestamps: one named as time wherever it stands,
else the first; a first column read as time only for being first is said to be, with
what to do, when its values are not timestamps (in ``autonomic simulate``'s traces as in
the other commands that read CSV files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.csvio import read_series, read_table
from agent.errors import InputError
from agent.sim.scenario import Trace
from agent.sim.traces import load_trace

START = 1_767_225_600  # 2026-01-01T00:00:00Z


def _rows(count: int, first: int = START) -> list[str]:
    return [f"{first + 60 * i},{10 + i % 5}" for i in range(count)]


@pytest.mark.parametrize("name", ["timestamp", "Time", "TS", "date", "DateTime"])
def test_a_column_named_as_time_is_the_time_wherever_it_stands(tmp_path: Path, name: str) -> None:
    path = tmp_path / "load.csv"
    rows = [f"{v},{t}" for t, v in (row.split(",") for row in _rows(5))]
    path.write_text(f"requests,{name}\n" + "\n".join(rows) + "\n", encoding="utf-8")
    table = read_table(path)
    assert table.time_column == name and table.time_named
    assert table.timestamps == [float(START + 60 * i) for i in range(5)]
    assert table.columns == {"requests": [10.0, 11.0, 12.0, 13.0, 14.0]}


def test_a_first_column_that_is_not_time_is_named_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "load.csv"
    path.write_text("requests,errors\n12,0\nlots,1\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_table(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: column 'requests': timestamp 'lots' is neither")
    assert (
        "no column is named timestamp, time, ts, date or datetime, so the first column, "
        "'requests', is read as the timestamps: name the timestamp column one of those (in "
        "any case), or for a file without one give --step SECONDS (the time between rows)"
    ) in message


def test_load_in_the_first_column_out_of_order_says_it_was_read_as_time(tmp_path: Path) -> None:
    path = tmp_path / "load.csv"
    path.write_text("requests,errors\n12,0\n9,1\n15,0\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_series(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: column 'requests': timestamps go backwards")
    assert message.endswith(
        "(no column is named timestamp, time, ts, date or datetime, so the first column, "
        "'requests', is read as the timestamps)"
    )


def test_a_named_time_column_out_of_order_is_not_explained_away(tmp_path: Path) -> None:
    path = tmp_path / "load.csv"
    path.write_text(f"timestamp,load\n{START},1\n{START - 60},2\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_series(path)
    assert "is read as the timestamps" not in str(caught.value)


def _trace(tmp_path: Path, text: str, **fields: object) -> Trace:
    path = tmp_path / "trace.csv"
    path.write_text(text, encoding="utf-8")
    return Trace.model_validate({"name": "mine", "file": path, **fields})


def test_a_trace_takes_its_timestamps_from_the_column_named_as_time(tmp_path: Path) -> None:
    rows = [f"{10 + i % 5},{START + 60 * i}" for i in range(120)]
    trace = _trace(tmp_path, "requests,timestamp\n" + "\n".join(rows) + "\n")
    loaded = load_trace(trace, 1 / 24)
    assert loaded.per_minute.tolist() == [float(10 + i % 5) for i in range(60)]


def test_a_trace_whose_first_column_is_not_time_names_file_line_column(tmp_path: Path) -> None:
    trace = _trace(tmp_path, "requests,errors\n12,0\nbusy,1\n")
    with pytest.raises(InputError) as caught:
        load_trace(trace, 1.0)
    message = str(caught.value)
    assert message.startswith(f"{trace.file}:3: column 'requests': timestamp 'busy'")
    assert "so the first column, 'requests', is read as the timestamps" in message
    # the scenario's own way to say there is no timestamp column, not a CLI flag
    assert "for a file without one give step: SECONDS in the scenario's trace" in message


def test_a_trace_out_of_order_names_its_line_and_column(tmp_path: Path) -> None:
    rows = [f"{START + 60 * i},{i}" for i in range(5)]
    rows[3] = f"{START},3"
    trace = _trace(tmp_path, "timestamp,requests\n" + "\n".join(rows) + "\n")
    with pytest.raises(InputError) as caught:
        load_trace(trace, 1.0)
    assert str(caught.value).startswith(
        f"{trace.file}:5: column 'timestamp': timestamps go backwards: '{START}' is earlier"
    )


def test_a_trace_of_load_only_read_by_its_first_column_says_why_it_is_short(
    tmp_path: Path,
) -> None:
    """Load in the first column that happens to increase reads as seconds since 1970: rows
    a second apart, and the message says which column was taken for time."""
    rows = [f"{100 + i},{i % 3}" for i in range(50)]
    trace = _trace(tmp_path, "requests,errors\n" + "\n".join(rows) + "\n")
    with pytest.raises(InputError) as caught:
        load_trace(trace, 1.0)
    message = str(caught.value)
    assert "round to the same minute" in message
    assert "s apart, the median) (no column is named timestamp, time, ts, date or" in message
    assert "so the first column, 'requests', is read as the timestamps):" in message


def test_a_trace_without_a_time_column_still_reads_by_its_step(tmp_path: Path) -> None:
    trace = _trace(tmp_path, "requests\n" + "".join(f"{5 + i % 4}\n" for i in range(200)), step=60)
    loaded = load_trace(trace, 0.1)
    assert loaded.per_minute.tolist()[:6] == [5.0, 6.0, 7.0, 8.0, 5.0, 6.0]
