"""`autonomic detect`: score a series from a CSV file for anomalies, online, point by point

A row is flagged when its score reaches ``--threshold`` (by default the daemon's
default for an anomaly query, 0.69): the rows the summary on stderr counts. The daemon opens
or worsens an incident on such a row when its confidence is also 0.9999 or more (a row only
the contextual detector found, reason ``unusual_pattern``, has less). Every row scoring
``EXPLAINED_SCORE`` (0.5) or more has a reason other than ``none``. ``--plot FILE.svg``
also draws the series, the detector's expected band and a marker on every flagged row.

A value of +Inf or -Inf (Prometheus's ``+Inf`` for a p99 beyond its histogram's largest
bucket) is scored as the daemon's anomaly loop scores it, by the same functions
(``forecasting.anomaly.off_scale``): never learnt, reason ``off_scale``, flagged from the
``OFF_SCALE_AFTER``-th such row running on (a NaN or empty cell between them holds the
run, a finite value ends it), the rows where the daemon opens or holds an ``off_scale``
incident. The run is saved with ``--state``.
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
# forecasting.anomaly.off_scale.OFF_SCALE_AFTER, for --help only (a test keeps them equal;
# importing it would load the detector and numpy for every command's start)
OFF_SCALE_AFTER = 3
MOST_MARKERS = 2000
STATE_RUN = "off_scale"  # the key of the saved run of infinite rows, beside the detector's


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
            "'warming_up'. Rows must be sorted oldest first. An infinite value (+Inf, -Inf, "
            "inf, Infinity) is off the scale, as the daemon's anomaly loop takes it: never "
            "learnt, reason 'off_scale', its columns the band the detector expected there; "
            f"once {OFF_SCALE_AFTER} infinite rows run (empty or NaN cells between them hold "
            "the run, a finite value ends it) it scores 1 and is flagged, where the daemon "
            "opens or holds an off_scale incident; before that it scores 0."
        ),
        epilog=(
            "Reasons: 'spike' or 'dip' (far above or below the expected value or the series' "
            "usual level), 'level_shift' (the mean moved and stayed moved: small deviations that "
            "persist, so the value may be inside the band), 'trend_change' (shifts the same way "
            "that keep coming: the level keeps moving), 'variance_change' (the noise grew), "
            "'seasonality_break' (normal for the series, wrong for the time of day), "
            "'unusual_pattern' (inside the band, but the recent sequence of values has not been "
            "seen before), 'none' (looked normal), 'warming_up', 'missing', 'off_scale' "
            "(+Inf or -Inf, such as a p99 beyond its histogram's largest bucket: flagged "
            f"once {OFF_SCALE_AFTER} run, where the daemon's anomaly loop opens an incident). "
            "A row scoring "
            f"{EXPLAINED_SCORE:g} or more always has a reason other than 'none'."
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
        "without a new warm-up, and with the run of infinite rows it ended on",
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
    from forecasting.anomaly.off_scale import next_run, score_value, shown

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
    # +Inf and -Inf are read as such: off the scale, scored as the daemon scores them
    table = read_table(args.series, step=args.step, columns=[args.column], infinite=True)
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
    run = 0  # infinite rows running (forecasting.anomaly.off_scale.next_run)
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
        run = _saved_run(saved, args.state)
        seen = _rows_seen(table, last, args.state, dates)
    else:
        detector = Detector(step)
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\n")
    writer.writerow(_HEADER)
    fired = off_scale = 0
    latest = last  # the newest time scored: a row not after it is not news (reason 'missing')
    points: list[AnomalyPoint] = []
    for ts, value in zip(timestamps, values, strict=True):
        if ts > latest or math.isnan(latest):
            latest = ts
            run = next_run(run, value)
            point = score_value(detector, ts, value, run)
        else:  # seen before (the state's rows) or a duplicate: 'missing', the run held
            point = detector.update(ts, value)
        fired += point.score >= args.threshold
        off_scale += point.score >= args.threshold and math.isinf(point.observed)
        if args.plot is not None:
            points.append(point)
        writer.writerow(
            (
                _format_time(ts, dates),
                shown(value) if math.isinf(value) else _number(value, "r"),
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
            saving = {**detector.state(), STATE_RUN: run}
            write_atomically(args.state, json.dumps(saving, allow_nan=False))
        except OSError as exc:
            raise InputError(f"{args.state}: cannot write: {exc.strerror or exc}") from exc
    print(
        f"autonomic detect: {len(timestamps)} rows of {column!r} at a {step:g} s step; "
        f"{fired} {'row' if fired == 1 else 'rows'} flagged (score >= {args.threshold:g})"
        + (f", {off_scale} of them off_scale (+Inf or -Inf)" if off_scale else ""),
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
    marker on each flagged row (the first ``MOST_MARKERS``). A row off the scale (+Inf,
    -Inf) is a triangle on the plot's top or bottom edge (red when flagged, grey before
    its run is long enough), not a point of the line.

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
    off_scale = [p for p in kept if math.isinf(p.observed)]
    # the flagged rows, then those off the scale not flagged (yet): each marked once
    waiting = [p for p in off_scale if p.score < threshold]
    marked = (flagged + waiting)[:MOST_MARKERS]
    markers = [
        Marker(
            axis(p.timestamp),
            p.observed,  # +Inf and -Inf: drawn on the plot's edge
            f"{p.reason.value} at {axis(p.timestamp):.6g} {axis.unit_name}: value "
            f"{_figure(p.observed)}, expected {_figure(p.expected)}, score {p.score:.3f}, "
            f"confidence {p.confidence:.6f}",
            PALETTE[1] if p.score >= threshold else "#888888",
            "triangle" if math.isinf(p.observed) else "circle",
        )
        for p in marked
    ]
    title = (
        f"{column}: {len(flagged)} of {len(points)} rows flagged (red) at score "
        f">= {threshold:g}; green: the expected band"
    )
    if off_scale:
        title += (
            f"; {len(off_scale)} off the scale (+Inf or -Inf): triangles on the edge, "
            "grey before they run long enough to flag"
        )
    if len(flagged) + len(waiting) > MOST_MARKERS:
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
        # an infinite value has no place on the line: a break there, and its triangle
        [Line(column, xs, [_on_scale(p.observed) for p in kept], "#555555", 1.2)],
        markers,
        bands=[Band("expected band", band_xs, lows, highs, PALETTE[2], 0.25)],
        x_axis="value",
        x_label=axis.label,
        y_min=y_min,
        y_max=y_max,
    )


def _figure(value: float) -> str:
    """``value`` to 6 figures; +Inf, -Inf and NaN as Prometheus writes them."""
    from forecasting.anomaly.off_scale import shown

    return f"{value:.6g}" if math.isfinite(value) else shown(value)


def _on_scale(value: float) -> float:
    """``value``, or NaN (a break in the line) for +Inf and -Inf."""
    return math.nan if math.isinf(value) else value


def _saved_run(saved: object, state: Path) -> int:
    """The run of infinite rows a saved state ended on; 0 when it has none (saved before
    infinite values were read)."""
    run = saved.get(STATE_RUN, 0) if isinstance(saved, dict) else 0
    if isinstance(run, bool) or not isinstance(run, int) or run < 0:
        raise InputError(
            f"{state}: cannot restore the detector state: {STATE_RUN!r} is {run!r}, not a "
            "count of rows"
        )
    return run


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
