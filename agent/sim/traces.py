"""Load traces for the simulation: the bundled NASA HTTP trace or a user's CSV.

A trace becomes one value per minute for the simulated window. Short gaps (up to ten
minutes) are interpolated and said so; a longer gap inside the window is an error that
names where it is, because replaying invented demand would make every result a lie.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from importlib import resources

import numpy as np

from agent.csvio import Table, check_order, parse_timestamp, read_table
from agent.errors import InputError
from agent.sim.scenario import Trace
from forecasting.series import plain

__all__ = ["LoadedTrace", "load_trace"]

MAX_GAP_MINUTES = 10
HISTORY_MINUTES = 7 * 1440  # how much of the trace before the window is replayed as history


@dataclass(frozen=True, eq=False)
class LoadedTrace:
    name: str
    per_minute: np.ndarray  # demand per minute over the simulated window
    source: str
    interpolated_minutes: int
    history: np.ndarray  # demand per minute before the window (NaN where unknown)


def _builtin_nasa() -> tuple[list[float], list[float], str]:
    blob = resources.files("agent").joinpath("data/nasa_http_requests_per_minute.csv.gz")
    rows = gzip.decompress(blob.read_bytes()).decode().splitlines()[1:]
    stamps_text, requests, outages = zip(*(row.split(",") for row in rows), strict=True)
    # ISO text to epoch seconds in one vectorised step (naive times are taken as UTC).
    stamps = np.array(stamps_text, dtype="datetime64[s]").astype(np.int64).astype(float)
    # An outage is the server being down, not demand being zero: treat it as a gap.
    values = [
        math.nan if outage == "1" or not count else float(count)
        for count, outage in zip(requests, outages, strict=True)
    ]
    return stamps.tolist(), values, "NASA KSC HTTP requests per minute, July-August 1995 (bundled)"


def load_trace(trace: Trace, days: float, *, default_start: str | None = None) -> LoadedTrace:
    if trace.builtin == "nasa-http":
        start_text: str | None
    if trace.builtin == "nasa-http":
        stamps, values, source = _builtin_nasa()
        start_text = trace.start or default_start or "1995-07-03T00:00:00"
        why_time = ""
    else:
        assert trace.file is not None
        if not trace.file.exists():
            raise InputError(f"trace {trace.name!r}: file {trace.file} does not exist")
        table = read_table(
            trace.file, step=trace.step, step_option="step: SECONDS in the scenario's trace"
        )
        column = trace.column or next(iter(table.columns))
        if column not in table.columns:
            raise InputError(
                f"trace {trace.name!r}: {trace.file} has no column {column!r} "
                f"(columns: {sorted(table.columns)})"
            )
        check_order(table)  # out of order: the file's line and the timestamp column
        _check_minute_rows(trace.name, table)
        stamps, values = table.timestamps, table.columns[column]
        source = str(trace.file)
        start_text = trace.start
        why_time = table.why_time()
    ts = np.asarray(stamps, dtype=float)
    vs = np.asarray(values, dtype=float)
    if ts.size < 2:
        raise InputError(f"trace {trace.name!r}: fewer than two rows")
    if np.any(np.diff(ts) <= 0):
        bad = int(np.flatnonzero(np.diff(ts) <= 0)[0]) + 1
        raise InputError(f"trace {trace.name!r}: timestamps not increasing at row {bad + 1}")
    if np.any(vs[np.isfinite(vs)] < 0):
        raise InputError(f"trace {trace.name!r}: negative demand in {source}")
    start = parse_timestamp(start_text) if start_text else float(ts[0])
    minutes = math.ceil(days * 1440)
    grid = start + 60.0 * np.arange(minutes)
    if grid[0] < ts[0] - 60 or grid[-1] > ts[-1] + 60:
        where = f"from {start_text}" if start_text else "from its first row"
        if grid[0] < ts[0] - 60:
            fix = "a start inside the trace"
        else:
            left = math.floor((ts[-1] + 60 - start) / 864) / 100  # days, rounded down
            fix = (
                f"at most {left:g} days (spec.days or --days), an earlier start or a longer trace"
                if left > 0
                else "a start inside the trace"
            )
        raise InputError(
            f"trace {trace.name!r} ({source}): the simulated window ({days:g} days {where}) "
            f"is not inside the trace, which covers {(ts[-1] - ts[0]) / 86400:.2f} days"
            f"{why_time}; give {fix}"
        )
    slots = _minute_of(ts, start)
    before = (slots < 0) & (slots >= -HISTORY_MINUTES)
    history = np.full(HISTORY_MINUTES, np.nan)
    history[slots[before] + HISTORY_MINUTES] = vs[before]
    inside = (slots >= 0) & (slots < minutes)
    demand = np.full(minutes, np.nan)
    demand[slots[inside]] = vs[inside]
    missing = np.isnan(demand)
    if missing.any():
        runs = _runs(missing)
        longest = max(runs, key=lambda r: r[1] - r[0])
        if longest[1] - longest[0] > MAX_GAP_MINUTES:
            at = longest[0]
            raise InputError(
                f"trace {trace.name!r}: {longest[1] - longest[0]} minutes missing from minute {at} "
                f"of the window (at {at / 1440:.2f} days); choose another start or fewer days"
            )
        known = np.flatnonzero(~missing)
        demand[missing] = np.interp(np.flatnonzero(missing), known, demand[known])
    return LoadedTrace(trace.name, demand, source, int(missing.sum()), history)


def _minute_of(stamps: np.ndarray, start: float) -> np.ndarray:
    """Each timestamp's minute from ``start``, to the nearest (a half rounds up, so rows a
    minute apart that sit half a minute off ``start`` still get a minute each)."""
    return np.floor((stamps - start) / 60.0 + 0.5).astype(np.int64)


def _check_minute_rows(name: str, table: Table) -> None:
    """Refuse a CSV trace whose rows are not one a minute: the simulation replays demand
    per minute, so two rows in one minute would leave one out unseen, and rows further
    apart than the longest gap it fills would be refused as a gap at the first row, with
    advice (another start, fewer days) that cannot help."""
    stamps = np.asarray(table.timestamps, dtype=float)
    if stamps.size < 2:
        return
    spacing = float(np.median(np.diff(stamps)))
    if spacing > MAX_GAP_MINUTES * 60.0:
        raise InputError(
            f"trace {name!r}: {table.path}: its rows are {plain(spacing)} s apart (the median)"
            f"{table.why_time()}; "
            f"the simulation replays demand one minute at a time and fills gaps of at most "
            f"{MAX_GAP_MINUTES} minutes: give one row a minute (resample the file)"
        )
    minutes = _minute_of(stamps, float(stamps[0]))
    shared = np.flatnonzero(np.diff(minutes) == 0)
    if shared.size:
        first = int(shared[0]) + 1
        raise InputError(
            f"{table.where(first)} trace {name!r}: rows {table.stamp(first - 1)} (line "
            f"{table.line(first - 1)}) and {table.stamp(first)} round to the same minute "
            f"({shared.size} such pairs; the rows are {plain(spacing)} s apart, the median)"
            f"{table.why_time()}: "
            "the simulation replays demand one minute at a time and would keep only one "
            "of them: give one row a minute (resample the file)"
        )


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    runs = []
    start = None
    for i, flag in enumerate(mask):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(mask)))
    return runs
