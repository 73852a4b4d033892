"""Property tests of reading users' CSV files (``agent.csvio``).

Whatever the file holds, reading it gives either a valid result (finite timestamps,
float values; a series on a strictly increasing grid) or an ``InputError`` whose message
starts with the file's name (and names the line and column when one row is at fault).
No other exception type may escape: the CLI turns ``InputError`` into a clear message
and exit code, anything else is a crash.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from agent.csvio import Table, parse_timestamp, read_series, read_table
from agent.errors import InputError
from forecasting.series import Series, SeriesError, make_series


def _settings(examples: int) -> settings:
    # No deadline: each example writes and reads a file, slow on a loaded machine.
    return settings(
        max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )


_MISSING_TOKENS = ["", "nan", "NaN", "NA", "null", "None"]
_ODD_NUMBERS = [
    "inf",
    "-inf",
    "Infinity",
    "1e400",
    "-1e400",
    "1e12",
    "-5",
    "0",
    "1e308",
    "-1e308",
    "5e-324",
    "1_000",
    "0x10",
    " 7 ",
    "1,5",
]
_ZONES = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)),
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
)


def _epoch_texts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.floats().map(repr),
        st.integers(min_value=-(10**25), max_value=10**25).map(str),
        st.integers(min_value=-(10**400), max_value=10**400).map(str),
        st.floats(min_value=-1e12, max_value=1e12).map(lambda x: f"{x:.3e}"),
    )


def _iso_texts() -> st.SearchStrategy[str]:
    return st.builds(
        lambda moment, sep, zulu: (
            moment.isoformat(sep=sep) + ("Z" if zulu and moment.tzinfo is None else "")
        ),
        st.datetimes(timezones=st.none() | _ZONES),
        st.sampled_from(["T", " "]),
        st.booleans(),
    )


_CELLS = st.one_of(
    st.text(max_size=10),
    st.sampled_from(_MISSING_TOKENS + _ODD_NUMBERS),
    _epoch_texts(),
    _iso_texts(),
)


def _write(tmp_path_factory: pytest.TempPathFactory, content: str | bytes) -> Path:
    path = tmp_path_factory.mktemp("csv") / "input.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def _csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _check_table(table: Table, path: Path) -> None:
    assert table.path == path
    assert len(table.timestamps) >= 1
    assert all(isinstance(t, float) and math.isfinite(t) for t in table.timestamps)
    assert table.columns
    # every row knows its line in the file (after the header, increasing)
    assert len(table.lines) == len(table.timestamps)
    assert table.lines[0] >= 2 and all(a < b for a, b in pairwise(table.lines))
    if table.time_column is not None:
        assert len(table.time_cells) == len(table.timestamps)
    for values in table.columns.values():
        assert len(values) == len(table.timestamps)
        assert all(isinstance(v, float) for v in values)
        assert not any(math.isinf(v) for v in values), "an infinite value is refused"


def _check_series(series: Series) -> None:
    ts, vs = series.timestamps, series.values
    assert ts.dtype == np.float64 and vs.dtype == np.float64
    assert len(series) >= 1 and ts.shape == vs.shape
    assert np.all(np.isfinite(ts))
    assert np.all(np.diff(ts) > 0), "the grid must be strictly increasing"
    assert math.isfinite(series.step) and series.step > 0
    assert not np.any(np.isinf(vs)), "infinities are missing samples (NaN), never values"


def _read_everything(path: Path, step: float | None) -> None:
    """Read ``path`` every way the CLI does; only InputError naming the file may escape."""
    try:
        table = read_table(path, step=step)
    except InputError as exc:
        assert str(exc).startswith(str(path)), exc
    else:
        _check_table(table, path)
    for column in (None, "value", "missing column"):
        try:
            series = read_series(path, column=column, step=step)
        except InputError as exc:
            assert str(exc).startswith(str(path)), exc
            event("read_series: input error")
        else:
            _check_series(series)
            event("read_series: a series")


# --- parse_timestamp ------------------------------------------------------------------


@_settings(300)
@given(text=st.one_of(st.text(), _CELLS))
@example("2026-01-31T12:00:00ZZ")
@example("0001-01-01T00:00:00+00:01")
@example("9999-12-31T23:59:59-23:59")
def test_parse_timestamp_gives_a_finite_float_or_a_value_error(text: str) -> None:
    try:
        value = parse_timestamp(text)
    except ValueError as exc:
        assert repr(text.strip()) in str(exc)  # the message quotes the bad cell
        return
    assert isinstance(value, float) and math.isfinite(value)


@_settings(200)
@given(
    moment=st.datetimes(timezones=st.none() | _ZONES),
    sep=st.sampled_from(["T", " "]),
    zulu=st.booleans(),
    padding=st.sampled_from(["", " ", "\t"]),
)
def test_iso_8601_with_and_without_a_zone(
    moment: datetime, sep: str, zulu: bool, padding: str
) -> None:
    text = moment.isoformat(sep=sep)
    if moment.tzinfo is None and zulu:
        text += "Z"
    # naive means UTC, "Z" is UTC, an offset is honoured
    expected = (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()
    assert parse_timestamp(padding + text + padding) == expected


@_settings(200)
@given(text=_epoch_texts())
@example("nan")
@example("-inf")
@example("1" + "0" * 400)
def test_epoch_seconds_are_read_exactly_and_non_finite_ones_refused(text: str) -> None:
    expected = float(text)
    if math.isfinite(expected):
        assert parse_timestamp(text) == expected
    else:
        with pytest.raises(ValueError, match="not finite"):
            parse_timestamp(text)


# --- whole files ----------------------------------------------------------------------

_HEADER_NAMES = st.one_of(
    st.sampled_from(["timestamp", "Time", "ts", "date", "datetime", "value", "load", ""]),
    st.text(max_size=6),
)
_STEPS = st.one_of(
    st.none(),
    st.sampled_from([60.0, 1.0, 0.0, -60.0, math.nan, math.inf, 1e-300, 1e300]),
)


@_settings(150)
@given(
    header=st.lists(_HEADER_NAMES, min_size=0, max_size=4),
    rows=st.lists(st.lists(_CELLS, min_size=0, max_size=5), max_size=8),
    step=_STEPS,
)
def test_any_table_reads_or_is_an_input_error_naming_the_file(
    tmp_path_factory: pytest.TempPathFactory,
    header: list[str],
    rows: list[list[str]],
    step: float | None,
) -> None:
    content = _csv_text([header, *rows]) if header else _csv_text(rows)
    _read_everything(_write(tmp_path_factory, content), step)


@_settings(100)
@given(content=st.binary(max_size=200) | st.text(max_size=200), step=_STEPS)
@example(content=b"", step=None)
@example(content=b"timestamp,value\n", step=None)
@example(content=b"timestamp,value\n\n \n", step=60.0)
@example(content=b"timestamp,value\n1,\xff\n", step=None)
@example(content=b"timestamp,value\n1,2\x00\n", step=None)
@example(content=b'timestamp,value\n1,"2\n', step=None)
def test_any_bytes_read_or_are_an_input_error_naming_the_file(
    tmp_path_factory: pytest.TempPathFactory, content: bytes | str, step: float | None
) -> None:
    _read_everything(_write(tmp_path_factory, content), step)


_STYLES = ["epoch", "epoch-float", "iso-z", "iso-offset", "iso-naive"]


def _format_time(seconds: int, style: str, offset_minutes: int) -> str:
    if style == "epoch":
        return str(seconds)
    if style == "epoch-float":
        return repr(float(seconds))
    moment = datetime.fromtimestamp(seconds, UTC)
    if style == "iso-z":
        return moment.isoformat().replace("+00:00", "Z")
    if style == "iso-offset":
        return moment.astimezone(timezone(timedelta(minutes=offset_minutes))).isoformat()
    return moment.replace(tzinfo=None).isoformat()


_VALUE_CELLS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from([*_MISSING_TOKENS, "1e12", "0", "-3"]),
)
# Cells that parse as a number but not a finite one: refused, never read as missing.
_NON_FINITE_CELLS = st.one_of(
    st.sampled_from(["inf", "-inf", "Infinity", "-INF", "1e400", "-1e400", " inf "]),
    st.integers(min_value=10**309, max_value=10**400).map(str),
)


@st.composite
def _regular_files(draw: st.DrawFn) -> tuple[list[list[str]], list[int], float, list[str]]:
    """A well-formed file: increasing timestamps on a grid of ``step`` (with gaps)."""
    step = draw(st.sampled_from([1.0, 15.0, 60.0, 300.0, 3600.0]))
    start = draw(st.integers(min_value=-(10**9), max_value=4 * 10**9))
    jumps = draw(st.lists(st.integers(min_value=1, max_value=4), min_size=0, max_size=25))
    slots = [0]
    for jump in jumps:
        slots.append(slots[-1] + jump)
    style = draw(st.sampled_from(_STYLES))
    offset = draw(st.integers(min_value=-(14 * 60), max_value=14 * 60))
    time_name = draw(st.sampled_from(["timestamp", "time", "ts", "date", "Datetime"]))
    names = draw(
        st.lists(st.sampled_from(["value", "load", "cpu", "qps"]), min_size=1, unique=True)
    )
    header = [time_name, *names]
    rows = [header]
    for slot in slots:
        seconds = start + int(slot * step)
        cells = [draw(_VALUE_CELLS) for _ in names]
        rows.append([_format_time(seconds, style, offset), *cells])
    return rows, slots, step, names


def _expected(cell: str) -> float:
    return math.nan if cell.strip() in _MISSING_TOKENS else float(cell)


def _made_up_share(slots: list[int]) -> float | None:
    """With rows on ``slots`` of the step: the share of the grid without a row when the
    step is finer than the rows' median spacing (refused above one half), else None."""
    jumps = sorted(b - a for a, b in pairwise(slots))
    if not jumps:
        return None
    middle = len(jumps) // 2
    median = jumps[middle] if len(jumps) % 2 else (jumps[middle - 1] + jumps[middle]) / 2
    if median <= 1:
        return None
    return 1.0 - len(slots) / (slots[-1] + 1)


@_settings(100)
@given(regular=_regular_files())
def test_a_well_formed_file_reads_exactly_onto_its_grid(
    tmp_path_factory: pytest.TempPathFactory,
    regular: tuple[list[list[str]], list[int], float, list[str]],
) -> None:
    rows, slots, step, names = regular
    path = _write(tmp_path_factory, _csv_text(rows))
    made_up = _made_up_share(slots)
    if made_up is not None and made_up > 0.5:
        # the rows are further apart than the step: most of its grid would be made up
        with pytest.raises(InputError, match=r"--step .* is finer than the rows' spacing"):
            read_series(path, step=step)
        event("refused: step finer than the rows")
        return
    for name_index, name in enumerate(names):
        series = read_series(path, column=name, step=step)
        _check_series(series)
        assert series.step == step
        assert len(series) == slots[-1] + 1
        expected = np.full(slots[-1] + 1, np.nan)
        for row, slot in zip(rows[1:], slots, strict=True):
            expected[slot] = _expected(row[1 + name_index])
        assert np.array_equal(series.values, expected, equal_nan=True)
    # without --step the median spacing is the grid: still a valid series, given two rows
    if len(slots) == 1:
        with pytest.raises(InputError, match=":2: only one data row"):
            read_series(path)
    else:
        _check_series(read_series(path))


@_settings(100)
@given(
    regular=_regular_files(),
    cell=_NON_FINITE_CELLS,
    where=st.floats(min_value=0.0, max_value=1.0),
)
def test_a_non_finite_value_is_an_error_naming_file_line_and_column(
    tmp_path_factory: pytest.TempPathFactory,
    regular: tuple[list[list[str]], list[int], float, list[str]],
    cell: str,
    where: float,
) -> None:
    rows, _, step, names = regular
    header, body = rows[0], [list(r) for r in rows[1:]]
    i = min(int(where * len(body)), len(body) - 1)
    column = int(where * 1000) % len(names)
    body[i][1 + column] = cell
    path = _write(tmp_path_factory, _csv_text([header, *body]))
    for given_step in (step, None):
        with pytest.raises(InputError) as caught:
            read_table(path, step=given_step)
        message = str(caught.value)
        assert message.startswith(f"{path}:{i + 2}: column {names[column]!r}: "), message
        assert "is not a finite number" in message


@_settings(100)
@given(
    regular=_regular_files(),
    damage=st.sampled_from(["duplicate", "swap", "bad-time", "bad-value", "short-row"]),
    where=st.floats(min_value=0.0, max_value=1.0),
)
def test_a_damaged_row_is_an_error_naming_file_line_and_column(
    tmp_path_factory: pytest.TempPathFactory,
    regular: tuple[list[list[str]], list[int], float, list[str]],
    damage: str,
    where: float,
) -> None:
    rows, _, step, names = regular
    header, body = rows[0], [list(r) for r in rows[1:]]
    if damage == "swap" and len(body) < 2:
        damage = "duplicate"
    i = min(int(where * len(body)), len(body) - 1)
    if damage == "duplicate":
        body.insert(i + 1, list(body[i]))
        body[i + 1][1:] = ["1"] * len(names)
        expected = (
            f":{i + 3}: column {header[0]!r}: duplicate timestamp {body[i][0].strip()!r} "
            f"(also on line {i + 2})"
        )
    elif damage == "swap":
        i = min(i, len(body) - 2)
        body[i], body[i + 1] = body[i + 1], body[i]
        expected = (
            f":{i + 3}: column {header[0]!r}: timestamps go backwards: "
            f"{body[i + 1][0].strip()!r} is earlier than {body[i][0].strip()!r} on line {i + 2}"
        )
    elif damage == "bad-time":
        body[i][0] = "yesterday"
        expected = f":{i + 2}: column {header[0]!r}: timestamp 'yesterday'"
    elif damage == "bad-value":
        body[i][-1] = "12 rps"
        expected = f":{i + 2}: column {header[-1]!r}: '12 rps' is not a number"
    else:
        body[i] = body[i][:-1]
        expected = f":{i + 2}: expected {len(header)} fields, found {len(header) - 1}"
    path = _write(tmp_path_factory, _csv_text([header, *body]))
    for given_step in (step, None):
        with pytest.raises(InputError) as caught:
            read_series(path, column=names[-1], step=given_step)
        message = str(caught.value)
        assert message.startswith(str(path)) and expected in message, message


@_settings(150)
@given(
    values=st.lists(_VALUE_CELLS, min_size=0, max_size=12),
    step=st.one_of(
        st.floats(),
        st.sampled_from([60.0, 0.0, -1.0, 5e-324, 1e308, math.nan, math.inf]),
    ),
)
def test_a_step_index_places_row_i_at_i_times_step(
    tmp_path_factory: pytest.TempPathFactory, values: list[str], step: float
) -> None:
    rows = [["load"], *[[v] for v in values]]
    path = _write(tmp_path_factory, _csv_text(rows))
    n = len(values)
    # Rows made only of blanks are skipped, as a blank line is.
    kept = [v for v in values if v.strip()]
    try:
        series = read_series(path, step=step)
    except InputError as exc:
        assert str(exc).startswith(str(path))
        grid_ok = step > 0 and math.isfinite(step) and math.isfinite((len(kept) - 1) * step)
        # refused only for a real reason: no rows, or a step that cannot make a grid
        assert not kept or not grid_ok, exc
        return
    assert n >= 1 and kept
    _check_series(series)
    assert series.step == step
    assert np.array_equal(series.timestamps, step * np.arange(len(kept), dtype=np.float64))
    assert np.array_equal(series.values, [_expected(v) for v in kept], equal_nan=True)


# --- deterministic cases and regressions ----------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("timestamp,value\n", "no data rows after the header"),
        ("timestamp\n1\n", ":1: no value column besides the timestamp column 'timestamp'"),
        ("load\n1\n2\n", r"only column, 'load'.*needs --step SECONDS"),
        ("timestamp;value\n1;2\n2;3\n", r":1: .*separated by semicolons \(';'\)"),
        ("timestamp\tvalue\n1\t2\n", r":1: .*separated by tabs"),
        ("\n\n \n", "the file has only blank lines"),
        ("timestamp,value,value\n1,2,3\n", "duplicate column names"),
        ("timestamp,value\n1,2\n1,3\n", ":3: column 'timestamp': duplicate timestamp '1'"),
        ("timestamp,value\n2,2\n1,3\n", ":3: column 'timestamp': timestamps go backwards"),
        ("timestamp,value\nnan,2\n", "is not finite"),
        ("timestamp,value\n1e400,2\n", "is not finite"),
        ("timestamp,value\n1,2\n2,inf\n", ":3: column 'value': 'inf' is not a finite number"),
        ("timestamp,value\n1,2\n2," + "9" * 400 + "\n", r":3: column 'value': '9{40}\.\.\."),
        ("timestamp,value\n1,2\n", ":2: only one data row"),
    ],
    ids=[
        "empty",
        "header only",
        "no values",
        "values without step",
        "semicolons",
        "tabs",
        "blank lines",
        "duplicate names",
        "dup ts",
        "backwards",
        "nan",
        "inf",
        "inf value",
        "huge digits",
        "one row",
    ],
)
def test_degenerate_files_are_clear_input_errors(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "in.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message) as caught:
        read_series(path)
    assert str(caught.value).startswith(str(path))


def test_a_missing_column_and_a_missing_file_are_input_errors(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("timestamp,value\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"no column 'cpu'; the columns are \['value'\]"):
        read_series(path, column="cpu")
    with pytest.raises(InputError, match="cannot open"):
        read_series(tmp_path / "absent.csv")


@pytest.mark.parametrize(
    ("times", "step"),
    [
        (["0", "60", "120", "1e20"], None),
        (["0", "1e300"], 60.0),
        (["-1e308", "0", "1e308"], None),
        (["-1e308", "1e308"], 1.0),
    ],
)
def test_regression_far_off_timestamps_are_an_input_error_not_a_crash(
    tmp_path: Path, times: list[str], step: float | None
) -> None:
    # Found by the properties above: the slot count overflowed int64 (a ValueError
    # "negative dimensions" from numpy escaped read_series), or np.diff overflowed.
    # Reading now refuses such epoch seconds first (no date can show them); the series
    # guard stays, for callers that build series from numbers.
    path = tmp_path / "far.csv"
    path.write_text("timestamp,value\n" + "".join(f"{t},1\n" for t in times), encoding="utf-8")
    with pytest.raises(InputError, match=r"out of range for epoch seconds"):
        read_series(path, step=step)
    with pytest.raises(SeriesError, match=r"would span|step must be a positive"):
        make_series([float(t) for t in times], [1.0] * len(times), step=step)


@pytest.mark.parametrize(
    ("times", "step"),
    [([2.0**53 - 4, 2.0**53 - 3, 2.0**53 - 2, 2.0**53 + 2], None), ([1e18, 1e18 + 256], 1.0)],
)
def test_regression_a_step_finer_than_the_timestamps_precision_is_refused(
    tmp_path: Path, times: list[float], step: float | None
) -> None:
    # Found by the properties above: the grid start + i * step repeated timestamps.
    # Reading now refuses these epoch seconds first (beyond 1e11 s); the series guard
    # stays, for callers that build series from numbers.
    path = tmp_path / "fine.csv"
    path.write_text("timestamp,value\n" + "".join(f"{t!r},1\n" for t in times), encoding="utf-8")
    with pytest.raises(InputError, match="out of range for epoch seconds"):
        read_series(path, step=step)
    with pytest.raises(SeriesError, match="finer than the timestamps' precision"):
        make_series(times, [1.0] * len(times), step=step)


@pytest.mark.parametrize("step", [math.nan, math.inf, 0.0, -60.0])
def test_regression_read_table_refuses_a_step_that_cannot_place_rows(
    tmp_path: Path, step: float
) -> None:
    # Found by the properties above: without a timestamp column row i went to i * step,
    # so a NaN step gave a Table of NaN timestamps (0 and -60: repeated or backwards).
    path = tmp_path / "load.csv"
    path.write_text("load\n1\n2\n", encoding="utf-8")
    with pytest.raises(InputError, match="step must be a positive number of seconds") as caught:
        read_table(path, step=step)
    assert str(caught.value).startswith(str(path))


def test_regression_a_step_index_beyond_the_float_range_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "load.csv"
    path.write_text("load\n1\n2\n", encoding="utf-8")
    assert read_table(path, step=1e308).timestamps == [0.0, 1e308]
    path.write_text("load\n1\n2\n3\n", encoding="utf-8")
    with pytest.raises(InputError, match=r":4: row 3 at a step of 1e\+308 s is beyond"):
        read_table(path, step=1e308)
