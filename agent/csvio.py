"""Reading users' CSV files into series, with errors that name the file, line and column.

Accepted shapes: a comma-separated file with a header row; a timestamp column (ISO 8601
or epoch seconds) named ``timestamp``, ``time``, ``ts``, ``date`` or ``datetime`` in any
case and in any position (or the first column if none is), plus one or more numeric
columns; or no timestamp column at all, in which case ``step`` is required and row ``i``
is placed at ``i * step``. A first column read as the timestamps only for being first is
named as such in the errors about its values (not a timestamp, out of order), with what
to do instead.
The file is UTF-8, with or without a byte-order mark, and may be gzip-compressed (as the
bundled NASA trace is): it is read through gzip, whatever its name. A first row of
numbers or timestamps only is data, not a header, and is refused rather than read as
the column names (which would drop that row and name the column after its value).
A command that reads one column (``--column``, by default the first value column) reads
only that one: columns of labels beside it (``instance``, ``job``, as exports carry) are
not read, so they are no error.

An empty cell (or ``nan``, ``NA``, ``null``, ``None``) is a missing value. A value that
is not a finite number (``inf``, ``1e400``, a digit string beyond the float range) is
refused, naming the file, line and column, as ``autonomic judge`` does: no metric is
infinite, and reading it as missing would hide a broken export. Numbers (values and
epoch seconds) are written in ASCII digits: a cell of Arabic-Indic or full-width digits
(``٣``, ``３``) or with underscores (``1_000``), which Python's ``float`` alone would
read, is refused the same way rather than read as a number nobody wrote.

A series (``read_series``, ``series_from_table``) needs its timestamps strictly
increasing: a duplicate or a row older than the one before is refused with its line.
Without ``step`` the step is the rows' median spacing, so one row is not enough; a
``step`` finer than that spacing, which would leave most of the grid without a row, is
refused too.

Epoch seconds must fall between the year 1 and 1e11 s (November 5138): a value beyond
is refused, and one that looks like milliseconds (or micro-, nanoseconds) since the epoch
is named as such. The upper bound is not the year 9999 because milliseconds from 1973 to
1977 (1e11 to 2.5e11) would then read as seconds in the years 5138 to 9999, which no
metric carries; an ISO 8601 date may still go to 9999. With ``step`` given, a value
column that looks like epoch seconds (the timestamps under a name not recognised as time)
is refused, not read as load.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from agent.errors import InputError
from forecasting.series import Series, SeriesError, SlotCollisionError, make_series, plain
from remediation.digits import plain_number

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "Table",
    "check_order",
    "check_step",
    "parse_timestamp",
    "read_series",
    "read_table",
    "series_from_table",
]

_TIME_NAMES = ("timestamp", "time", "ts", "date", "datetime")
_MISSING = {"", "nan", "NaN", "NA", "null", "None"}
# Words ``float`` reads that are not a plain number: NaN (any case, as exports write it)
# is a missing value, infinity is refused as not finite.
_SPELLED = frozenset({"nan", "inf", "infinity"})
_INFINITY = frozenset({"inf", "infinity"})
# Epoch seconds read as such: 0001-01-01T00:00:00Z up to (not including) 1e11 s, which is
# 5138-11-16T09:46:40Z; from there on a number is taken for a finer unit (below).
_EPOCH_MIN = datetime(1, 1, 1, tzinfo=UTC).timestamp()
_EPOCH_END = 1e11
# Epoch timestamps in a finer unit, by magnitude (today is about 1.7e9 s).
_FINER_UNITS = (
    (1e11, 1e14, "milliseconds", "1000"),
    (1e14, 1e17, "microseconds", "1e6"),
    (1e17, 1e20, "nanoseconds", "1e9"),
)
# A value column whose values all lie here, evenly spaced and increasing, is epoch seconds
# (1973 to 2286), not load.
_EPOCH_LIKE = (1e8, 1e10)
# Separators other than the comma, named when a header reads as one column holding them.
_OTHER_DELIMITERS = ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars"))
# A step finer than the rows' spacing is refused when more than this share of the grid
# would have no row (and be made up by whatever fills gaps).
_MOST_MADE_UP = 0.5
_SHOWN_CHARS = 40  # a cell quoted in a message is cut to this many characters


@dataclass(frozen=True)
class Table:
    """Columns of a CSV file: timestamps (seconds) and named float columns (NaN = missing).

    ``lines[i]`` is the file's line of data row ``i`` (the header is line 1);
    ``time_column`` names the timestamp column, None when row ``i`` was placed at
    ``i * step``; ``time_cells[i]`` is that column's text in row ``i``, as written.
    ``time_named`` is False when no column is named as time and the first one was read
    as the timestamps.
    """

    path: Path
    timestamps: list[float]
    columns: dict[str, list[float]]
    lines: list[int] = field(default_factory=list)
    time_column: str | None = None
    time_cells: list[str] = field(default_factory=list)
    time_named: bool = True

    def line(self, row: int) -> int:
        """The file's line of data row ``row`` (0-based)."""
        return self.lines[row] if row < len(self.lines) else row + 2

    def where(self, row: int) -> str:
        """``path:line: column 'time'`` for data row ``row``, for messages."""
        column = f" column {self.time_column!r}:" if self.time_column is not None else ""
        return f"{self.path}:{self.line(row)}:{column}"

    def why_time(self) -> str:
        """Why the timestamp column was taken, when it was only for being first: for a
        message about its values ("" when it is named as time)."""
        if self.time_named or self.time_column is None:
            return ""
        return f" ({_first_column_is_time(self.time_column)})"

    def stamp(self, row: int) -> str:
        """Row ``row``'s timestamp as the file writes it (as a number without a column)."""
        if row < len(self.time_cells):
            return repr(_shown(self.time_cells[row]))
        return plain(self.timestamps[row])


def _shown(text: str) -> str:
    """A cell as quoted in a message: stripped, and cut when very long."""
    text = text.strip()
    if len(text) <= _SHOWN_CHARS:
        return text
    return f"{text[:_SHOWN_CHARS]}... ({len(text)} characters)"


def _first_column_is_time(name: str) -> str:
    return (
        f"no column is named {', '.join(_TIME_NAMES[:-1])} or {_TIME_NAMES[-1]}, so the "
        f"first column, {name!r}, is read as the timestamps"
    )


def parse_timestamp(text: str) -> float:
    """Epoch seconds (int or float) or ISO 8601 (naive means UTC) to epoch seconds."""
    text = text.strip()
    try:
        value = _read_float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise ValueError(f"timestamp {text!r} is not finite")
        return value
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"timestamp {text!r} is neither epoch seconds nor ISO 8601 (e.g. 2026-01-31T12:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _check_epoch_range(text: str, value: float) -> None:
    """Refuse epoch seconds no date can show, saying which finer unit they look like."""
    if _EPOCH_MIN <= value < _EPOCH_END:
        return
    try:
        float(text)
    except ValueError:  # ISO 8601 text is a date by construction (an offset may tip it over)
        return
    side = "before year 1" if value < _EPOCH_MIN else "in or after the year 5138"
    message = f"timestamp {text.strip()!r} is out of range for epoch seconds ({side})"
    for low, high, unit, divisor in _FINER_UNITS:
        if low <= abs(value) < high:
            message += f"; it looks like {unit} since the epoch: divide by {divisor}"
            break
    raise ValueError(message)


def read_table(
    path: Path,
    *,
    step: float | None = None,
    step_option: str = "--step SECONDS",
    columns: Sequence[str | None] | None = None,
    infinite: bool = False,
) -> Table:
    """Read a CSV with a header row. Every error names the file, the line and the column.

    ``infinite``: a value cell spelled as an infinity (``+Inf``, ``-inf``, ``Infinity``:
    what Prometheus writes for a ``histogram_quantile`` beyond its largest bucket) is
    read as one, for a caller that says what it means (``autonomic judge``); a number
    beyond the float range (``1e400``) is refused all the same, as nobody wrote infinity.

    ``step_option`` is how the caller's user gives the seconds between rows (a flag, or a
    scenario's ``step:``), for the messages that advise it. ``columns``, when given, are
    the only value columns read (``None`` among them: the first value column); the others
    are skipped unread, so a column of labels (``instance``, ``job``) or of text beside the
    one wanted is no error. A named column the header lacks is refused, naming the columns
    it has."""
    # Checked first: row i of a file without a timestamp column is placed at i * step,
    # and a NaN, infinite, zero or negative step would make those NaN or out of order.
    if step is not None and not (math.isfinite(step) and step > 0):
        raise InputError(f"{path}: the step must be a positive number of seconds, got {step}")
    with io.StringIO(_text(path), newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
            while not any(cell.strip() for cell in header):  # blank lines before the header
                header = next(reader)
        except StopIteration:
            if reader.line_num:
                raise InputError(
                    f"{path}: the file has only blank lines (expected a header row)"
                ) from None
            raise InputError(f"{path}: the file is empty (expected a header row)") from None
        except csv.Error as exc:
            raise InputError(f"{path}:1: not a readable CSV file: {exc}") from exc
        header_line = reader.line_num
        header = [h.strip() for h in header]
        if len(header) == 1:
            _refuse_other_delimiters(path, header_line, header[0])
        if all(_is_float(cell) or _is_time(cell) for cell in header):
            shown = _shown(",".join(header))
            raise InputError(
                f"{path}:{header_line}: the first row ({shown}) is data, not a header: add "
                "a header row naming the columns as the first line, such as timestamp,value"
            )
        if len(set(header)) != len(header):
            raise InputError(f"{path}:{header_line}: duplicate column names in the header {header}")
        lowered = [h.lower() for h in header]
        time_index: int | None = None
        for name in _TIME_NAMES:
            if name in lowered:
                time_index = lowered.index(name)
                break
        named_time = time_index is not None
        if time_index is None and step is None:
            time_index = 0
        value_names = [h for i, h in enumerate(header) if i != time_index]
        first_name = value_names[0] if value_names else None
        if value_names and columns is not None:
            for chosen in columns:
                if chosen is not None and chosen not in value_names:
                    raise InputError(
                        f"{path}:{header_line}: no column {chosen!r}; the columns are "
                        f"{sorted(value_names)}"
                    )
            wanted = {first_name if chosen is None else chosen for chosen in columns}
            value_names = [h for h in value_names if h in wanted]
        if not value_names:
            if named_time:
                raise InputError(
                    f"{path}:{header_line}: no value column besides the timestamp column "
                    f"{header[0]!r}"
                )
            raise InputError(
                f"{path}:{header_line}: no value column besides the timestamp column: the "
                f"only column, {header[0]!r}, was taken for the timestamps; a file with only "
                f"values (no timestamp column) needs {step_option}, the time between rows"
            )
        time_name = header[time_index] if time_index is not None else None
        default_advice = (
            "" if columns is None else _default_advice(first_name, header, time_index, columns)
        )
        timestamps: list[float] = []
        lines: list[int] = []
        time_cells: list[str] = []
        values: dict[str, list[float]] = {name: [] for name in value_names}
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise InputError(
                        f"{path}:{line}: expected {len(header)} fields, found {len(row)}"
                    )
                lines.append(line)
                if time_index is not None:
                    try:
                        moment = parse_timestamp(row[time_index])
                        _check_epoch_range(row[time_index], moment)
                        timestamps.append(moment)
                        time_cells.append(row[time_index].strip())
                    except ValueError as exc:
                        advice = ""
                        if not named_time:
                            advice = (
                                f"; {_first_column_is_time(header[time_index])}: name the "
                                "timestamp column one of those (in any case), or for a file "
                                f"without one give {step_option} (the time between rows)"
                            )
                        raise InputError(
                            f"{path}:{line}: column {header[time_index]!r}: {exc}{advice}"
                        ) from None
                else:
                    assert step is not None
                    placed = len(timestamps) * step
                    if not math.isfinite(placed):  # a step near 1e308 overflows by row 3
                        raise InputError(
                            f"{path}:{line}: row {len(timestamps) + 1} at a step of {step} s "
                            "is beyond the range of timestamps"
                        )
                    timestamps.append(placed)
                for i, cell in enumerate(row):
                    if i == time_index or header[i] not in values:
                        continue
                    text = cell.strip()
                    if text in _MISSING:
                        values[header[i]].append(math.nan)
                        continue
                    where = f"{path}:{line}: column {header[i]!r}"
                    advice = default_advice if header[i] == first_name else ""
                    if infinite and text.lower().lstrip("+-") in _INFINITY:
                        values[header[i]].append(float(text))
                        continue
                    values[header[i]].append(
                        _number(text, where, header[i], step, advice)
                        if time_index is None
                        else _number(text, where, advice=advice)
                    )
        except csv.Error as exc:
            raise InputError(f"{path}:{reader.line_num}: not a readable CSV row: {exc}") from exc
    if not timestamps:
        raise InputError(f"{path}: no data rows after the header")
    return Table(path, timestamps, values, lines, time_name, time_cells, named_time)


def _text(path: Path) -> str:
    """The file's text. A byte-order mark (spreadsheets save "CSV UTF-8" with one) is
    dropped, not read into the first column's name; bytes that are not UTF-8 are named
    by their line, counted in the bytes (decoding is not done row by row)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    if data[:2] == b"\x1f\x8b":  # gzip's magic number: the bundled trace is stored so
        import gzip
        import zlib

        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(
                f"{path}: a gzip-compressed file that cannot be decompressed: {exc}"
            ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise InputError(
                f"{path}:1: not a UTF-8 CSV file (it looks like UTF-16); save it as UTF-8"
            ) from None
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{path}:{line}: not UTF-8 text: {exc.reason} (byte {data[exc.start]:#04x}); "
            "save the file as UTF-8"
        ) from None


def _refuse_other_delimiters(path: Path, line: int, only: str) -> None:
    """A header read as one column that holds another separator: say the file must use
    commas, rather than that it has no value column."""
    for delimiter, name in _OTHER_DELIMITERS:
        if delimiter in only:
            raise InputError(
                f"{path}:{line}: the header reads as one column {_shown(only)!r}: the file "
                f"seems to be separated by {name} ({delimiter!r}), but it must be "
                "comma-separated (CSV)"
            )


def _default_advice(
    first: str | None, header: list[str], time_index: int | None, columns: Sequence[str | None]
) -> str:
    """Advice for a cell that is not a number in the first value column when it is read
    only as the default (``None`` in ``columns``): the other columns, and how to choose
    one. "" when that column was named, or there is no other."""
    if first is None or None not in columns or first in columns:
        return ""
    others = [h for i, h in enumerate(header) if i != time_index and h != first]
    if not others:
        return ""
    return (
        f" ({first!r} is the first value column, read by default: choose the column to "
        f"read with --column NAME, one of {', '.join(repr(c) for c in others)})"
    )


def _is_time(text: str) -> bool:
    try:
        parse_timestamp(text)
    except ValueError:
        return False
    return True


def _is_float(text: str) -> bool:
    try:
        _read_float(text)
    except ValueError:
        return False
    return True


def _read_float(text: str) -> float:
    """``float`` of a number as people write one (``plain_number``) or of a spelled NaN or
    infinity (which the callers treat as missing or refuse as not finite); ``ValueError``
    for what ``float`` alone would also read: Arabic-Indic or full-width digits, ``1_000``."""
    if not plain_number(text) and text.lower().lstrip("+-") not in _SPELLED:
        raise ValueError(f"could not convert string to float: {text!r}")
    return float(text)


def _unusual_digits(text: str) -> str:
    """Advice for a cell ``float`` alone would have read ("٣", "1_000"), else ""."""
    try:
        float(text)
    except ValueError:
        return ""
    return (
        ": write numbers in ASCII digits 0-9, without underscores or other separators "
        "(e.g. 1000 or 2.5)"
    )


def _number(
    text: str,
    where: str,
    column: str | None = None,
    step: float | None = None,
    advice: str = "",
) -> float:
    """A value cell as a finite float (NaN is a missing value); else an InputError.

    ``column`` and ``step`` are given when rows are placed by ``step``, the file having
    no column named as time: a date there is a timestamp column read as values.
    ``advice`` ends the message for a cell that is not a number (unless it is a date)."""
    try:
        value = _read_float(text)
    except ValueError:
        message = f"{where}: {_shown(text)!r} is not a number" + _unusual_digits(text)
        if "," in text and _is_float(text.replace(",", "")):
            message += (
                ": it holds a comma; write numbers without thousands separators, with a "
                "point for the decimals (1234.5, not 1,234.5 or 1234,5)"
            )
        if step is None:
            message += advice
        else:
            try:
                parse_timestamp(text)
            except ValueError:
                message += advice
            else:
                message += (
                    f"; it is a timestamp: --step {plain(step)} is for files without a "
                    f"timestamp column, and this file has one (column {column!r}): omit "
                    "--step, or name the timestamp column one of " + ", ".join(_TIME_NAMES)
                )
        raise InputError(message) from None
    if math.isinf(value):
        raise InputError(
            f"{where}: {_shown(text)!r} is not a finite number (infinite, or beyond the "
            "float range); leave the cell empty for a missing value"
        )
    return value


def read_series(
    path: Path,
    *,
    column: str | None = None,
    step: float | None = None,
    note: Callable[[str], None] | None = None,
) -> Series:
    """One column of a CSV as a regular ``Series`` (gaps become NaN); the file's other
    value columns are not read. ``note`` is told what a person should know of how the
    rows were placed (``series_from_table``)."""
    return series_from_table(
        read_table(path, step=step, columns=[column]), column=column, step=step, note=note
    )


def series_from_table(
    table: Table,
    *,
    column: str | None = None,
    step: float | None = None,
    note: Callable[[str], None] | None = None,
) -> Series:
    """One column of ``table`` as a regular ``Series`` (gaps become NaN).

    The timestamps must strictly increase; without ``step`` there must be two rows to
    measure it; a ``step`` finer than the rows' spacing is refused (``check_step``).
    Without ``step`` the rows' median spacing is the grid, and unevenly spaced rows may
    put two rows on one slot: the later is kept, and ``note`` is told how many and where
    (a ``step`` given that does this is refused instead).
    """
    path = table.path
    chosen = column is not None
    if column is None:
        column = next(iter(table.columns))
    if column not in table.columns:
        raise InputError(f"{path}: no column {column!r}; the columns are {sorted(table.columns)}")
    if step is not None:
        _refuse_epoch_like_load(path, column, table.columns[column], chosen=chosen)
    check_order(table)
    check_step(table, step)
    try:
        series = make_series(table.timestamps, table.columns[column], step=step, name=column)
    except SlotCollisionError as exc:  # only with a step given, so step is not None
        assert step is not None
        raise InputError(_collision_message(table, step, exc)) from exc
    except SeriesError as exc:
        raise InputError(f"{path}: column {column!r}: {exc}") from exc
    crowded = _crowded(table, series.step) if step is None and note is not None else None
    if crowded and note is not None:
        note(crowded)
    return series


def _crowded(table: Table, step: float) -> str | None:
    """Rows that fell on the slot of the row before them, on a grid of ``step`` (the
    rows' median spacing): the sentence saying so, or None."""
    stamps = table.timestamps
    if table.time_column is None or len(stamps) < 2:
        return None
    slots = [round((moment - stamps[0]) / step) for moment in stamps]
    shared = [i for i in range(1, len(slots)) if slots[i] == slots[i - 1]]
    if not shared:
        return None
    first = shared[0]
    return (
        f"{table.path}: {len(shared)} of {len(stamps)} rows fell on the same {plain(step)} s "
        f"step as the row before them (the rows are unevenly spaced around their median "
        f"spacing, which is the step; first on lines {table.line(first - 1)} and "
        f"{table.line(first)}): the later row of each pair was kept, the earlier left out. "
        "Give --step SECONDS to set the grid (rows that share a step are then refused), "
        "or resample the data first"
    )


def check_order(table: Table, *, duplicates: bool = False) -> None:
    """Refuse timestamps that go backwards (and repeated ones unless ``duplicates``),
    naming the line, the column and both timestamps as the file writes them."""
    stamps = table.timestamps
    for i in range(1, len(stamps)):
        if stamps[i] > stamps[i - 1] or (duplicates and stamps[i] == stamps[i - 1]):
            continue
        if stamps[i] == stamps[i - 1]:
            raise InputError(
                f"{table.where(i)} duplicate timestamp {table.stamp(i)} (also on line "
                f"{table.line(i - 1)}): each row needs its own time; remove or merge the "
                f"repeated row{table.why_time()}"
            )
        raise InputError(
            f"{table.where(i)} timestamps go backwards: {table.stamp(i)} is earlier than "
            f"{table.stamp(i - 1)} on line {table.line(i - 1)}; the rows must be sorted "
            "oldest first"
            + (" (this file looks sorted newest first)" if _newest_first(stamps) else "")
            + table.why_time()
        )


def _newest_first(stamps: list[float]) -> bool:
    return len(stamps) > 2 and all(b < a for a, b in pairwise(stamps))


def check_step(table: Table, step: float | None) -> None:
    """Refuse a step the rows cannot give or support.

    Without ``step`` the step is the rows' spacing: one row has none. A ``step`` finer
    than the rows' median spacing that leaves most of the grid without a row would have
    the rest made up: refused, with the spacing to use instead. Call after
    ``check_order``.
    """
    stamps = table.timestamps
    if step is None:
        if len(stamps) < 2:
            raise InputError(
                f"{table.path}:{table.line(0)}: only one data row, so the time between rows "
                "is unknown: give at least two rows, or --step SECONDS"
            )
        return
    if table.time_column is None or len(stamps) < 2:
        return
    diffs = sorted(b - a for a, b in pairwise(stamps))
    middle = len(diffs) // 2
    spacing = diffs[middle] if len(diffs) % 2 else (diffs[middle - 1] + diffs[middle]) / 2
    if not (math.isfinite(spacing) and step < spacing):
        return
    slots = (stamps[-1] - stamps[0]) / step + 1
    if not math.isfinite(slots):
        return  # far too many slots: make_series says so
    made_up = 1.0 - len(stamps) / max(slots, len(stamps))
    if made_up > _MOST_MADE_UP:
        raise InputError(
            f"{table.path}: column {table.time_column!r}: --step {plain(step)} is finer than "
            f"the rows' spacing ({plain(spacing)} s, the median): {made_up:.0%} of a "
            f"{plain(step)} s grid would have no row and be made up; omit --step (the rows' "
            f"spacing is then the step) or give --step {plain(spacing)}"
        )


def _collision_message(table: Table, step: float, exc: SlotCollisionError) -> str:
    """Rows that share a slot at ``step``: the first pair by line, and the advice."""
    stamps = table.timestamps
    first = next(
        (
            i
            for i in range(1, len(stamps))
            if round((stamps[i] - stamps[0]) / step) == round((stamps[i - 1] - stamps[0]) / step)
        ),
        1,
    )
    if exc.spacing is not None:
        advice = (
            f"the rows are {plain(exc.spacing)} s apart: give a --step that matches the "
            f"data (--step {plain(exc.spacing)}), or resample the data to {plain(step)} s first"
        )
    else:
        advice = f"the rows are unevenly spaced: resample them to {plain(step)} s first"
    return (
        f"{table.where(first)} {exc.collisions} of {len(stamps)} rows fall on the same "
        f"{plain(step)} s step as the row before them (first: {table.stamp(first - 1)} on "
        f"line {table.line(first - 1)} and {table.stamp(first)} on line {table.line(first)}); "
        f"{advice}"
    )


def _refuse_epoch_like_load(path: Path, column: str, values: list[float], *, chosen: bool) -> None:
    """With a step, no column is read as time unless named so: refuse to read one that
    holds epoch seconds (increasing, evenly spaced, 1973 to 2286) as load."""
    if len(values) < 3 or not all(_EPOCH_LIKE[0] <= v <= _EPOCH_LIKE[1] for v in values):
        return  # NaN fails the comparison: a column with gaps is not a clock
    spacing = values[1] - values[0]
    if not (
        spacing > 0 and all(math.isclose(b - a, spacing, rel_tol=1e-6) for a, b in pairwise(values))
    ):
        return
    which = (
        f"column {column!r}" if chosen else f"column {column!r} (the first column, used by default)"
    )
    raise InputError(
        f"{path}: {which} looks like epoch timestamps, not load: it increases evenly by "
        f"{plain(spacing)} from {plain(values[0])} to {plain(values[-1])}. With --step no "
        f"column is read as time unless it is named one of {', '.join(_TIME_NAMES)}: rename "
        "the timestamp column, or choose the load column with --column NAME"
    )
