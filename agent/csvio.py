"""Reading users' CSV files into series, with errors that name the file, row and column.

Accepted shapes: a timestamp column (ISO 8601 or epoch seconds) named ``timestamp``,
``time``, ``ts`` or ``date`` (or the first column if none of these), plus one or more
numeric columns; or no timestamp column at all, in which case ``step`` is required and
row ``i`` is placed at ``i * step``.

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
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

from agent.errors import InputError
from forecasting.series import Series, SeriesError, SlotCollisionError, make_series, plain

__all__ = ["Table", "parse_timestamp", "read_series", "read_table"]

_TIME_NAMES = ("timestamp", "time", "ts", "date", "datetime")
_MISSING = {"", "nan", "NaN", "NA", "null", "None"}
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


@dataclass(frozen=True)
class Table:
    """Columns of a CSV file: timestamps (seconds) and named float columns (NaN = missing)."""

    path: Path
    timestamps: list[float]
    columns: dict[str, list[float]]


def parse_timestamp(text: str) -> float:
    """Epoch seconds (int or float) or ISO 8601 (naive means UTC) to epoch seconds."""
    text = text.strip()
    try:
        value = float(text)
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


def read_table(path: Path, *, step: float | None = None) -> Table:
    """Read a CSV with a header row. Every error names the file, the line and the column."""
    # Checked first: row i of a file without a timestamp column is placed at i * step,
    # and a NaN, infinite, zero or negative step would make those NaN or out of order.
    if step is not None and not (math.isfinite(step) and step > 0):
        raise InputError(f"{path}: the step must be a positive number of seconds, got {step}")
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(f"{path}: the file is empty (expected a header row)") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{path}:1: not a readable CSV file: {exc}") from exc
        header = [h.strip() for h in header]
        if len(set(header)) != len(header):
            raise InputError(f"{path}:1: duplicate column names in the header {header}")
        lowered = [h.lower() for h in header]
        time_index: int | None = None
        for name in _TIME_NAMES:
            if name in lowered:
                time_index = lowered.index(name)
                break
        if time_index is None and step is None:
            time_index = 0
        value_names = [h for i, h in enumerate(header) if i != time_index]
        if not value_names:
            raise InputError(f"{path}:1: no value column besides the timestamp column")
        timestamps: list[float] = []
        columns: dict[str, list[float]] = {name: [] for name in value_names}
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise InputError(
                        f"{path}:{line}: expected {len(header)} fields, found {len(row)}"
                    )
                if time_index is not None:
                    try:
                        moment = parse_timestamp(row[time_index])
                        _check_epoch_range(row[time_index], moment)
                        timestamps.append(moment)
                    except ValueError as exc:
                        raise InputError(
                            f"{path}:{line}: column {header[time_index]!r}: {exc}"
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
                    if i == time_index:
                        continue
                    text = cell.strip()
                    if text in _MISSING:
                        columns[header[i]].append(math.nan)
                        continue
                    try:
                        columns[header[i]].append(float(text))
                    except ValueError:
                        raise InputError(
                            f"{path}:{line}: column {header[i]!r}: {text!r} is not a number"
                        ) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{path}:{reader.line_num}: not a readable CSV row: {exc}") from exc
    if not timestamps:
        raise InputError(f"{path}: no data rows after the header")
    return Table(path, timestamps, columns)


def read_series(path: Path, *, column: str | None = None, step: float | None = None) -> Series:
    """One column of a CSV as a regular ``Series`` (gaps become NaN)."""
    table = read_table(path, step=step)
    chosen = column is not None
    if column is None:
        column = next(iter(table.columns))
    if column not in table.columns:
        raise InputError(f"{path}: no column {column!r}; the columns are {sorted(table.columns)}")
    if step is not None:
        _refuse_epoch_like_load(path, column, table.columns[column], chosen=chosen)
    try:
        return make_series(table.timestamps, table.columns[column], step=step, name=column)
    except SlotCollisionError as exc:  # only with a step given, so step is not None
        assert step is not None
        if exc.spacing is not None:
            advice = (
                f"the rows are {plain(exc.spacing)} s apart: give a --step that matches the "
                f"data (--step {plain(exc.spacing)}), or resample the data to {plain(step)} s "
                "first"
            )
        else:
            advice = f"the rows are unevenly spaced: resample them to {plain(step)} s first"
        raise InputError(f"{path}: column {column!r}: {exc.summary}; {advice}") from exc
    except SeriesError as exc:
        raise InputError(f"{path}: column {column!r}: {exc}") from exc


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
