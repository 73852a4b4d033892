"""`autonomic forecast`, `detect` and `replay` on bad CSV input and bad flags: a clear
error naming the file, line and column (or the flag), exit code 2, no traceback, and no
input or output written over."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from agent.cli import main

START = 1_396_310_400  # 2014-04-01T00:00:00Z
REPLAY = ["--startup", "0", "--capacity", "10", "--policy", "hpa", "--warmup", "0"]


def _rows(n: int, step: int = 300, start: int = START) -> list[tuple[object, object]]:
    return [(start + step * i, f"{100 + 10 * math.sin(i / 10):.3f}") for i in range(n)]


def _write(
    path: Path, rows: Sequence[tuple[object, object]], header: str = "timestamp,value"
) -> Path:
    path.write_text(header + "\n" + "".join(f"{a},{b}\n" for a, b in rows), encoding="utf-8")
    return path


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line on stderr; nothing on stdout, no traceback."""
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert captured.err.startswith("autonomic: error: "), captured.err
    return captured.err


def _extra(command: str) -> list[str]:
    return {"forecast": ["--horizon", "3"], "detect": [], "replay": REPLAY}[command]


# --- 1. an output over an input -------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        ("forecast", "--output"),
        ("forecast", "--plot"),
        ("detect", "-o"),
        ("detect", "--plot"),
        ("detect", "--state"),
        ("replay", "--plot"),
    ],
)
def test_an_output_named_as_the_input_is_refused_and_the_input_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, flag: str
) -> None:
    victim = _write(tmp_path / "victim.csv", _rows(100))
    before = victim.read_bytes()
    # the same file under another name is caught too
    alias = tmp_path / "sub" / ".." / "victim.csv"
    (tmp_path / "sub").mkdir()
    assert main([command, str(victim), *_extra(command), flag, str(alias)]) == 2
    err = _error(capsys)
    assert f"{alias}: is also an input of this command ({victim})" in err
    assert victim.read_bytes() == before


def test_two_outputs_naming_one_file_are_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = _write(tmp_path / "in.csv", _rows(100))
    out = tmp_path / "out.csv"
    assert main(["detect", str(series), "-o", str(out), "--plot", str(out)]) == 2
    assert f"{out}: given to both --output and --plot" in _error(capsys)
    assert not out.exists()
    assert main(["forecast", str(series), "--horizon", "2", "--fleet", str(series)]) == 0
    capsys.readouterr()  # an input given twice is fine: nothing is written over it


# --- 2. detect: rows out of order, rows a state file has seen --------------------------


def test_detect_refuses_a_file_sorted_newest_first_like_forecast_and_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _rows(300)[::-1]
    path = _write(tmp_path / "rev.csv", rows)
    out = tmp_path / "scores.csv"
    expected = (
        f"{path}:3: column 'timestamp': timestamps go backwards: '{rows[1][0]}' is earlier "
        f"than '{rows[0][0]}' on line 2; the rows must be sorted oldest first (this file "
        "looks sorted newest first)"
    )
    for command, extra in (("detect", ["-o", str(out)]), ("forecast", []), ("replay", [])):
        assert main([command, str(path), *_extra(command), *extra]) == 2
        assert expected in _error(capsys), command
    assert not out.exists()


def test_detect_on_rows_a_state_file_has_all_seen_is_an_error_naming_the_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows, state = _rows(300), _state_after_first_200(tmp_path)
    capsys.readouterr()
    saved = state.read_bytes()
    again = _write(tmp_path / "again.csv", rows[50:150])
    out = tmp_path / "b.out"
    assert main(["detect", str(again), "-o", str(out), "--state", str(state)]) == 2
    err = _error(capsys)
    assert (
        f"{again}: no row is newer than the last row the detector state {state} has seen "
        "(2014-04-01T16:35:00Z): the rows (lines 2 to 101) end at 2014-04-01T12:25:00Z"
    ) in err
    assert "delete the state file to start afresh" in err
    assert not out.exists() and state.read_bytes() == saved  # nothing scored, nothing saved


def test_detect_notes_the_leading_rows_a_state_file_has_seen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows, state = _rows(300), _state_after_first_200(tmp_path)
    overlap = _write(tmp_path / "overlap.csv", rows[190:])
    out = tmp_path / "b.out"
    capsys.readouterr()
    assert main(["detect", str(overlap), "-o", str(out), "--state", str(state)]) == 0
    err = capsys.readouterr().err
    assert (
        f"autonomic: note: {overlap}: the first 10 rows (lines 2 to 11) are not newer than "
        f"the last row the state file {state} had seen (2014-04-01T16:35:00Z)"
    ) in err
    with out.open(encoding="utf-8") as handle:
        scored = list(csv.DictReader(handle))
    assert len(scored) == 110  # one row per input row, as documented
    assert {r["reason"] for r in scored[:10]} == {"missing"}
    assert all(r["reason"] not in ("missing", "warming_up") for r in scored[10:])
    assert json.loads(state.read_text(encoding="utf-8"))["last_ts"] == START + 300 * 299


# --- 3. lines, not positions ----------------------------------------------------------


@pytest.mark.parametrize("command", ["forecast", "detect", "replay"])
def test_a_duplicate_or_backwards_row_is_named_by_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    rows = _rows(50)
    swapped = [*rows[:20], rows[21], rows[20], *rows[22:]]
    path = _write(tmp_path / "swap.csv", swapped)
    assert main([command, str(path), *_extra(command)]) == 2
    assert (
        f"{path}:23: column 'timestamp': timestamps go backwards: '{rows[20][0]}' is earlier "
        f"than '{rows[21][0]}' on line 22"
    ) in _error(capsys)
    if command == "detect":
        return  # a repeated timestamp is documented as a 'missing' row there
    doubled = [*rows[:10], (rows[9][0], 5), *rows[10:]]
    path = _write(tmp_path / "dup.csv", doubled)
    # a blank line before the rows shifts every line by one: lines are the file's own
    path.write_text(path.read_text(encoding="utf-8").replace("\n", "\n\n", 1), encoding="utf-8")
    assert main([command, str(path), *_extra(command)]) == 2
    assert (
        f"{path}:13: column 'timestamp': duplicate timestamp '{rows[9][0]}' (also on line 12)"
    ) in _error(capsys)


# --- 4. why no value column -----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "timestamp;value\n1396310400;1\n1396310700;2\n",
            ":1: the header reads as one column 'timestamp;value': the file seems to be "
            "separated by semicolons (';'), but it must be comma-separated (CSV)",
        ),
        ("\n\n\n", ": the file has only blank lines (expected a header row)"),
        (
            "load\n1\n2\n3\n",
            ":1: no value column besides the timestamp column: the only column, 'load', was "
            "taken for the timestamps; a file with only values (no timestamp column) needs "
            "--step SECONDS, the time between rows",
        ),
    ],
    ids=["semicolons", "blank lines", "values only"],
)
@pytest.mark.parametrize("command", ["forecast", "detect", "replay"])
def test_no_value_column_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, content: str, message: str
) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(content, encoding="utf-8")
    assert main([command, str(path), *_extra(command)]) == 2
    assert f"autonomic: error: {path}{message}\n" == _error(capsys)


# --- 5. one row: no step to measure ---------------------------------------------------


def test_one_row_without_step_is_refused_for_the_series_and_the_fleet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = _write(tmp_path / "one.csv", [(START, 5)])
    message = (
        f"{one}:2: only one data row, so the time between rows is unknown: give at least "
        "two rows, or --step SECONDS"
    )
    for command in ("forecast", "detect"):
        assert main([command, str(one), *_extra(command)]) == 2
        assert message in _error(capsys)
    series = _write(tmp_path / "series.csv", _rows(100))
    assert main(["forecast", str(series), "--horizon", "2", "--fleet", str(one)]) == 2
    assert message in _error(capsys)


# --- 6. flags named as flags; --step on a file with a timestamp column ----------------


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--metric-lag", "-1", "--metric-lag must be zero or more seconds, got -1.0"),
        ("--metric-lag", "inf", "--metric-lag must be zero or more seconds, got inf"),
        ("--warmup", "-60", "--warmup must be zero or more seconds, got -60.0"),
    ],
)
def test_replay_flags_are_checked_by_their_names_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    absent = tmp_path / "absent.csv"  # not read: the flag is wrong first
    assert main(["replay", str(absent), *REPLAY, flag, value]) == 2
    assert _error(capsys) == f"autonomic: error: {message}\n"


def test_replay_step_on_a_file_with_a_timestamp_column_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [(f"1995-07-01 00:{i:02d}:00", 40 + i) for i in range(30)]
    path = _write(tmp_path / "nasa.csv", rows, header="minute_local_edt,requests")
    assert main(["replay", str(path), "--step", "7", *REPLAY]) == 2
    assert (
        f"{path}:2: column 'minute_local_edt': '1995-07-01 00:00:00' is not a number; it is a "
        "timestamp: --step 7 is for files without a timestamp column, and this file has one "
        "(column 'minute_local_edt'): omit --step"
    ) in _error(capsys)
    assert main(["replay", str(path), *REPLAY]) == 0  # without --step it replays
    assert "(30 steps of 60 s, 0 missing)" in capsys.readouterr().out


# --- 7. a step finer than the data ----------------------------------------------------


@pytest.mark.parametrize("command", ["forecast", "detect", "replay"])
def test_a_step_finer_than_the_rows_is_refused_with_their_spacing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = _write(tmp_path / "s300.csv", _rows(300))
    assert main([command, str(path), *_extra(command), "--step", "60"]) == 2
    assert (
        f"{path}: column 'timestamp': --step 60 is finer than the rows' spacing (300 s, the "
        "median): 80% of a 60 s grid would have no row and be made up; omit --step (the "
        "rows' spacing is then the step) or give --step 300"
    ) in _error(capsys)
    assert main([command, str(path), *_extra(command), "--step", "300"]) == 0
    assert "interpolated" not in capsys.readouterr().err


def test_a_step_matching_gappy_rows_is_still_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # after 20 rows every other 60 s row is missing: 45 % of the grid is a gap in the data
    rows = [row for i, row in enumerate(_rows(200, step=60)) if i % 2 == 0 or i < 20]
    path = _write(tmp_path / "gappy.csv", rows)
    assert main(["forecast", str(path), "--horizon", "2", "--step", "60"]) == 0
    capsys.readouterr()


# --- 8. non-finite values -------------------------------------------------------------


# `detect` reads a written infinity (`+Inf`, `inf`, `-Infinity`: Prometheus's p99 beyond the
# largest bucket) as the daemon's anomaly loop does, an off-scale point
# (tests/unit/anomaly/test_off_scale.py); a number beyond the float range is still refused.
@pytest.mark.parametrize(
    ("command", "cell"),
    [
        (command, cell)
        for command in ("forecast", "detect", "replay")
        for cell in ("inf", "-Infinity", "1e400", "9" * 400)
        if not (command == "detect" and cell in ("inf", "-Infinity"))
    ],
)
def test_a_non_finite_value_is_refused_with_file_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, cell: str
) -> None:
    rows = _rows(100)
    rows[40] = (rows[40][0], cell)
    path = _write(tmp_path / "inf.csv", rows)
    assert main([command, str(path), *_extra(command)]) == 2
    shown = cell if len(cell) <= 40 else f"{cell[:40]}... (400 characters)"
    assert _error(capsys) == (
        f"autonomic: error: {path}:42: column 'value': '{shown}' is not a finite number "
        "(infinite, or beyond the float range); leave the cell empty for a missing value\n"
    )


def test_empty_and_nan_cells_are_still_missing_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _rows(100)
    rows[40] = (rows[40][0], "")
    rows[41] = (rows[41][0], "NaN")
    path = _write(tmp_path / "gaps.csv", rows)
    assert main(["replay", str(path), *REPLAY]) == 0
    assert "(100 steps of 300 s, 2 missing)" in capsys.readouterr().out
    assert main(["detect", str(path)]) == 0
    scored = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["reason"] for r in scored[40:42]] == ["missing", "missing"]


def _state_after_first_200(tmp_path: Path) -> Path:
    """A detector state file saved by `detect` over the first 200 of ``_rows(300)``."""
    state = tmp_path / "state.json"
    first = _write(tmp_path / "first.csv", _rows(300)[:200])
    assert main(["detect", str(first), "-o", str(tmp_path / "a.out"), "--state", str(state)]) == 0
    return state


# --- 9. a byte-order mark, as spreadsheets save "CSV UTF-8" ------------------------------


@pytest.mark.parametrize("command", ["forecast", "detect", "replay"])
def test_a_byte_order_mark_is_not_part_of_the_first_column_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # the load column first, so the first column's name is the one chosen by --column
    rows = [(b, a) for a, b in _rows(100)]
    plain_csv = _write(tmp_path / "plain.csv", rows, header="load,timestamp")
    marked = tmp_path / "marked.csv"
    marked.write_bytes(b"\xef\xbb\xbf" + plain_csv.read_bytes().replace(b"\n", b"\r\n"))
    args = [*_extra(command), "--column", "load"]
    assert main([command, str(plain_csv), *args]) == 0
    expected = capsys.readouterr().out.replace(str(plain_csv), str(marked))
    assert main([command, str(marked), *args]) == 0
    assert capsys.readouterr().out == expected


def test_a_byte_order_mark_before_a_timestamp_header_still_names_the_time_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # with --step no column is time unless named so: the mark must not hide the name
    path = tmp_path / "marked.csv"
    _write(path, _rows(100))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert main(["replay", str(path), *REPLAY, "--step", "300"]) == 0
    assert "(100 steps of 300 s, 0 missing)" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["forecast", "detect", "replay"])
def test_a_utf16_file_is_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = tmp_path / "utf16.csv"
    path.write_bytes(_write(tmp_path / "x.csv", _rows(10)).read_text().encode("utf-16"))
    assert main([command, str(path), *_extra(command)]) == 2
    assert f"{path}:1: not a UTF-8 CSV file (it looks like UTF-16)" in _error(capsys)


@pytest.mark.parametrize("command", ["forecast", "detect", "replay"])
def test_a_byte_not_utf8_far_into_the_file_is_named_by_its_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # past the first 8 KiB the file is decoded ahead of the rows parsed: the line must
    # still be the one holding the byte (Latin-1 'é' after row 400's value, line 402)
    path = _write(tmp_path / "latin1.csv", _rows(600))
    lines = path.read_bytes().split(b"\n")
    lines[401] += b"\xe9"
    path.write_bytes(b"\n".join(lines))
    assert main([command, str(path), *_extra(command)]) == 2
    assert _error(capsys) == (
        f"autonomic: error: {path}:402: not UTF-8 text: invalid continuation byte (byte "
        "0xe9); save the file as UTF-8\n"
    )


@pytest.mark.parametrize("command", ["forecast", "detect", "replay"])
@pytest.mark.parametrize(
    ("first", "shown"),
    [
        ("1396310400,100.000", "1396310400,100.000"),
        ("2014-04-01T00:00:00Z,100.000", "2014-04-01T00:00:00Z,100.000"),
    ],
)
def test_a_file_without_a_header_row_is_refused_not_short_of_its_first_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, first: str, shown: str
) -> None:
    # the first row used to become the column names: one row fewer, a column named '100.000'
    path = tmp_path / "headless.csv"
    _write(path, _rows(100)[1:], header=first)
    assert main([command, str(path), *_extra(command)]) == 2
    assert _error(capsys) == (
        f"autonomic: error: {path}:1: the first row ({shown}) is data, not a header: add a "
        "header row naming the columns as the first line, such as timestamp,value\n"
    )


@pytest.mark.parametrize("command", ["forecast", "detect", "replay"])
def test_a_gzip_compressed_file_is_read_as_the_plain_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # the bundled NASA trace is a .csv.gz: it used to be refused as "not UTF-8 text"
    import gzip

    plain_file = _write(tmp_path / "plain.csv", _rows(400))
    packed = tmp_path / "packed.csv.gz"
    packed.write_bytes(gzip.compress(plain_file.read_bytes()))
    assert main([command, str(plain_file), *_extra(command)]) == 0
    expected = capsys.readouterr()
    assert main([command, str(packed), *_extra(command)]) == 0
    got = capsys.readouterr()
    assert got.out.replace(str(packed), str(plain_file)) == expected.out
    assert expected.out


def test_a_truncated_gzip_file_is_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import gzip

    path = tmp_path / "cut.csv.gz"
    path.write_bytes(gzip.compress(_write(tmp_path / "x.csv", _rows(400)).read_bytes())[:60])
    assert main(["detect", str(path)]) == 2
    assert f"autonomic: error: {path}: a gzip-compressed file that cannot be decompressed" in (
        _error(capsys)
    )
