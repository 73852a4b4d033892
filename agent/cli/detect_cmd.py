"""`autonomic detect`: score a series from a CSV file for anomalies, online, point by point

A row is flagged when its score reaches ``--threshold`` (by default the daemon's
default for an anomaly query, 0.69): the rows the summary on stderr counts. The daemon opens
or worsens an incident on such a row when its confidence is also 0.9999 or more (a row only
the contextual detector found, reason ``unusual_pattern``, has less). Every row scoring
``EXPLAINED_SCORE`` (0.5) or more has a reason other than ``none``. ``--plot FILE.svg``
also draws the series, the detector's expected band and a marker on every flagged row.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import io
import itertools
import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.cli._numbers import number_arg
from agent.cli._outputs import check_output_file, write_atomically, write_output
from agent.cli._plot import add_plot_flag, check_outputs, check_plot_path
from agent.errors import InputError

if TYPE_CHECKING:
    from agent.charts import Chart
    from agent.csvio import Table
    from forecasting.anomaly import AnomalyPoint

_HEADER = (
    "timestamp",
    "value",
    "anomaly_score",
    "confidence",
    "expected",
    "lower",
    "upper",
    "reason",
)
_REAL_DATES_FROM = 1e8  # epoch seconds (1973): smaller timestamps are row offsets, not dates
EXPLAINED_SCORE = 0.5  # forecasting.anomaly.EXPLAINED_SCORE (a test keeps them equal)
DEFAULT_THRESHOLD = 0.69  # AnomalyQuery.threshold's default (a test keeps them equal)
MOST_MARKERS = 2000


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "detect",
        help="score a series from a CSV file for anomalies, online, point by point",
        description=(
            "Score a series from a CSV file for anomalies, online: each row is scored using "
            "only the rows before it, then learnt from. Writes one row per input row: "
            "timestamp, value, anomaly_score, confidence, expected, lower, upper, reason. "
            "The confidence is statistical, 1 - the tail probability of the row's deviation "
            "for this series: how rare it is, not the chance that it is a real anomaly (on "
            "NAB's labelled files 40% of the incidents it opens at 0.9999 or more are; the "
            "daemon's signals carry that share instead). "
            "Missing values (empty cells), gaps, duplicate timestamps and rows a --state "
            "file has already seen never fire (reason 'missing'); the first rows are "
            "'warming_up'. Rows must be sorted oldest first; an infinite value is an error."
        ),
        epilog=(
            "Reasons: 'spike' or 'dip' (far above or below the expected value or the series' "
            "usual level), 'level_shift' (the mean moved and stayed moved: small deviations that "
            "persist, so the value may be inside the band), 'trend_change' (shifts the same way "
            "that keep coming: the level keeps moving), 'variance_change' (the noise grew), "
            "'seasonality_break' (normal for the series, wrong for the time of day), "
            "'unusual_pattern' (inside the band, but the recent sequence of values has not been "
            "seen before), 'none' (looked normal), 'warming_up', 'missing'. A row scoring "
            f"{EXPLAINED_SCORE:g} or more always has a reason other than 'none'. The daemon's "
            "anomaly loop also opens incidents 'off_scale' (+Inf or -Inf, such as a p99 beyond "
            "its histogram's largest bucket, for a few steps running), which this command, "
            "refusing infinite values, never gives."
        ),
    )
    parser.add_argument("series", type=Path, metavar="SERIES.csv", help="CSV with a header row")
    parser.add_argument("--output", "-o", type=Path, help="write the scores here (default stdout)")
    parser.add_argument("--column", help="value column to score (default: the first one)")
    parser.add_argument(
        "--step",
        type=number_arg,
        help="sampling interval in seconds (default: the median spacing of the timestamps; "
        "required when the file has no timestamp column)",
    )
    parser.add_argument(
        "--state",
        type=Path,
        help="detector state file: restored before scoring if it exists, saved afterwards "
        "(whole: a new file renamed over the old one), so that a later run continues "
        "without a new warm-up",
    )
    parser.add_argument(
        "--threshold",
        type=number_arg,
        default=DEFAULT_THRESHOLD,
        help="a row scoring at least this is flagged (default 0.69: the daemon's default "
        "for an anomaly query, the score at which it opens an incident)",
    )
    add_plot_flag(parser, "the series, the expected band and the flagged rows")
    parser.set_defaults(handler=run_detect)


def run_detect(args: argparse.Namespace) -> int:
    from agent.csvio import check_order, check_step, read_table
    from forecasting.anomaly import Detector

    if args.step is not None and not (args.step > 0 and math.isfinite(args.step)):
        raise InputError(f"--step must be a positive number of seconds, got {args.step}")
    if not 0.0 < args.threshold <= 1.0:
        raise InputError(f"--threshold must be above 0 and at most 1, got {args.threshold}")
    check_plot_path(args.plot)
    if args.output is not None:
        check_output_file(args.output, "--output", "scores.csv", devices=True)
    if args.state is not None:
        # Read here and written at the end, whole (a new file renamed over the old one):
        # a path that cannot take it stops the run before any work, not after it.
        check_output_file(args.state, "--state", "detector-state.json", replaced=True)
    check_outputs(
        [args.series],
        [("--output", args.output), ("--plot", args.plot), ("--state", args.state)],
    )
    table = read_table(args.series, step=args.step, columns=[args.column])
    column = args.column or next(iter(table.columns))
    check_order(table, duplicates=True)  # a repeated row is scored 'missing', as documented
    check_step(table, args.step)
    timestamps, values = table.timestamps, table.columns[column]
    step = args.step or _median_spacing(timestamps)
    if step is None:
        raise InputError(
            f"{args.series}: every row has the same timestamp, so the time between rows is "
            "unknown: give --step SECONDS"
        )
    dates = min(timestamps) >= _REAL_DATES_FROM
    seen, last = 0, math.nan  # leading rows the saved state has already seen; its last time
    if args.state is not None and args.state.exists():
        try:
            saved = json.loads(args.state.read_text(encoding="utf-8"))
            detector = Detector.from_state(saved)
        except OSError as exc:
            raise InputError(
                f"{args.state}: cannot restore the detector state: {exc.strerror or exc}"
            ) from exc
        except json.JSONDecodeError as exc:
            raise InputError(_not_json(args.state, exc)) from exc
        except ValueError as exc:  # StateError, UnicodeDecodeError
            raise InputError(f"{args.state}: cannot restore the detector state: {exc}") from exc
        if abs(detector.step - step) > 1e-9 * step:
            raise InputError(
                f"{args.state}: the saved detector runs at a {detector.step:g} s step but "
                f"{args.series} is sampled every {step:g} s; pass --step {detector.step:g} or "
                "delete the state file"
            )
        last = _saved_time(saved)
        seen = _rows_seen(table, last, args.state, dates)
    else:
        detector = Detector(step)
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\n")
    writer.writerow(_HEADER)
    fired = 0
    points: list[AnomalyPoint] = []
    for ts, value in zip(timestamps, values, strict=True):
        point = detector.update(ts, value)
        fired += point.score >= args.threshold
        if args.plot is not None:
            points.append(point)
        writer.writerow(
            (
                _format_time(ts, dates),
                _number(point.observed, "r"),
                f"{point.score:.6f}",
                _number(point.confidence, ".10g"),
                _number(point.expected, ".10g"),
                _number(point.lower, ".10g"),
                _number(point.upper, ".10g"),
                point.reason.value,
            )
        )
    write_output(args.output, output.getvalue())
    if args.state is not None:
        try:
            write_atomically(args.state, json.dumps(detector.state()))
        except OSError as exc:
            raise InputError(f"{args.state}: cannot write: {exc.strerror or exc}") from exc
    print(
        f"autonomic detect: {len(timestamps)} rows of {column!r} at a {step:g} s step; "
        f"{fired} {'row' if fired == 1 else 'rows'} flagged (score >= {args.threshold:g})",
        file=sys.stderr,
    )
    if seen:
        print(
            f"autonomic: note: {args.series}: the first {seen} rows (lines {table.line(0)} "
            f"to {table.line(seen - 1)}) are not newer than the last row the state file "
            f"{args.state} had seen ({_format_time(last, dates)}): not scored again "
            "(reason 'missing')",
            file=sys.stderr,
        )
    if args.plot is not None:
        from agent.cli._plot import write_plot

        write_plot(detect_chart(points, column, args.threshold), args.plot)
    return 0


def detect_chart(
    points: list[AnomalyPoint], column: str, threshold: float = DEFAULT_THRESHOLD
) -> Chart:
    """The series, the detector's expected band (thinned, keeping its envelope) and a
    marker on each flagged row (the first ``MOST_MARKERS``).

    When a few flagged values dwarf everything else (a 1e15 glitch), the y axis keeps to
    the band and the unflagged values, and those markers sit on its edge; their titles
    carry the true values.
    """
    from agent.charts import PALETTE, Band, Chart, Line, Marker
    from agent.cli._plot import thin_band, time_axis

    stamps = [p.timestamp for p in points if math.isfinite(p.timestamp)]
    origin = min(stamps, default=0.0)
    span = max(stamps, default=0.0) - origin
    axis = time_axis(origin, span, "since the first row")
    kept = [p for p in points if math.isfinite(p.timestamp)]
    xs = [axis(p.timestamp) for p in kept]
    band_xs, lows, highs = thin_band(xs, [p.lower for p in kept], [p.upper for p in kept])
    flagged = [p for p in kept if p.score >= threshold]
    markers = [
        Marker(
            axis(p.timestamp),
            p.observed,
            f"{p.reason.value} at {axis(p.timestamp):.6g} {axis.unit_name}: value "
            f"{p.observed:.6g}, expected {p.expected:.6g}, score {p.score:.3f}, confidence "
            f"{p.confidence:.6f}",
            PALETTE[1],
        )
        for p in flagged[:MOST_MARKERS]
    ]
    title = (
        f"{column}: {len(flagged)} of {len(points)} rows flagged (red) at score "
        f">= {threshold:g}; green: the expected band"
    )
    if len(flagged) > MOST_MARKERS:
        title += f" (the first {MOST_MARKERS} marked)"
    calm = [p.observed for p in kept if p.score < threshold] + lows + highs
    calm = [v for v in calm if math.isfinite(v)]
    wild = [p.observed for p in flagged if math.isfinite(p.observed)]
    y_min = y_max = None
    if calm and wild:
        lo, hi = min(calm), max(calm)
        reach = max(hi - lo, abs(hi), 1e-9)
        if max(wild) > hi + 3 * reach or min(wild) < lo - 3 * reach:
            y_min, y_max = min(0.0, lo - 0.3 * reach), hi + 0.3 * reach
            title += "; y axis clipped to the band (marker titles give the values)"
    return Chart(
        title,
        column,
        [Line(column, xs, [p.observed for p in kept], "#555555", 1.2)],
        markers,
        bands=[Band("expected band", band_xs, lows, highs, PALETTE[2], 0.25)],
        x_axis="value",
        x_label=axis.label,
        y_min=y_min,
        y_max=y_max,
    )


def _saved_time(saved: object) -> float:
    """The time of the last row a saved detector state scored; NaN when none (or unknown)."""
    last = saved.get("last_ts") if isinstance(saved, dict) else None
    if isinstance(last, bool) or not isinstance(last, int | float):
        return math.nan
    return float(last)


def _not_json(state: Path, exc: json.JSONDecodeError) -> str:
    """Why ``state`` cannot be a saved detector state, in words (not the JSON parser's
    "Expecting value"), at the line and column where reading it stopped."""
    where = f"{state}:{exc.lineno}:{exc.colno}"
    found = "the file is empty" if not exc.doc.strip() else "the text stops being JSON here"
    return (
        f"{where}: not JSON ({found}), so not a detector state: is it a file written by "
        "`autonomic detect --state`? Give one, or a path that does not exist yet to start "
        "afresh"
    )


def _rows_seen(table: Table, last: float, state: Path, dates: bool) -> int:
    """How many leading rows of ``table`` (sorted) are not newer than ``last``, the last
    row the saved detector scored; all of them is an InputError, nothing to score."""
    if not math.isfinite(last):
        return 0  # a fresh state: nothing seen yet
    stamps = table.timestamps
    seen = bisect.bisect_right(stamps, last)
    if seen == len(stamps):
        raise InputError(
            f"{table.path}: no row is newer than the last row the detector state {state} has "
            f"seen ({_format_time(last, dates)}): the rows (lines {table.line(0)} to "
            f"{table.line(seen - 1)}) end at {_format_time(stamps[-1], dates)}; nothing to "
            "score. Give rows after that time, or delete the state file to start afresh"
        )
    return seen


def _median_spacing(timestamps: list[float]) -> float | None:
    """The median spacing of the distinct timestamps; None when there is only one."""
    ordered = sorted(set(timestamps))
    gaps = sorted(b - a for a, b in itertools.pairwise(ordered))
    if not gaps:
        return None
    return gaps[len(gaps) // 2]


def _format_time(ts: float, dates: bool) -> str:
    if not dates:
        return repr(ts)
    try:
        moment = datetime.fromtimestamp(ts, tz=UTC)
    except (OverflowError, OSError, ValueError):  # beyond year 9999: keep the number
        return repr(ts)
    text = moment.isoformat(timespec="seconds" if moment.microsecond == 0 else "microseconds")
    return text.replace("+00:00", "Z")


def _number(value: float, spec: str) -> str:
    if math.isnan(value):
        return ""
    return repr(value) if spec == "r" else format(value, spec)
