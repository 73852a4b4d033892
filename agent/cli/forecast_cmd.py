"""`autonomic forecast`: forecast a series from a CSV file, with prediction intervals.

Output is CSV: ``timestamp`` (ISO 8601, UTC), ``mean``, ``lower_<L>``/``upper_<L>`` per
level, and ``model`` (the model version used). When a fallback model was used, or the
history was repaired, a note goes to stderr so the CSV stays machine-readable.

``--fleet FLEET.csv`` adds sibling series (every value column of that file, same step):
a model pooled across them and the series (``forecasting.pooled``) joins the candidates,
and the model is chosen by a three-fold backtest of the series; a note on stderr says
which model won and why.

``--plot FILE.svg`` also draws the end of the history, the forecast mean and its
intervals as a picture.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.cli._numbers import number_arg, whole_arg
from agent.cli._outputs import check_output_file, write_output
from agent.cli._plot import add_plot_flag, check_outputs, check_plot_path
from agent.errors import InputError
from remediation.digits import ascii_digits

if TYPE_CHECKING:
    from agent.charts import Chart
    from forecasting.backtest import Calibration
    from forecasting.forecast import Forecast, Forecaster
    from forecasting.series import Series

WEEK = 7 * 86_400.0
TITLE_CHARS = 150


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "forecast",
        help="forecast a series from a CSV file, with prediction intervals",
        description="Forecast a series from a CSV file, with prediction intervals. The CSV "
        "has a header row, a timestamp column (ISO 8601 or epoch seconds) and value "
        "columns, or no timestamp column and --step. Writes one row per step ahead: "
        "timestamp (ISO 8601, UTC), mean, lower_L and upper_L for each level L, and model "
        "(the model's name and version); notes (a fallback model, a repaired history) go "
        "to stderr.",
    )
    parser.add_argument("csv", type=Path, metavar="SERIES.csv", help="input CSV file")
    parser.add_argument(
        "--horizon", type=whole_arg, required=True, help="how many steps ahead to forecast"
    )
    parser.add_argument(
        "--levels",
        default="80,95",
        help="comma-separated prediction interval levels in percent (default: 80,95)",
    )
    parser.add_argument(
        "--output", "-o", type=Path, help="write the CSV here instead of stdout (as detect -o)"
    )
    parser.add_argument("--column", help="value column to forecast (default: the first)")
    parser.add_argument(
        "--step", type=number_arg, help="seconds between rows (required without a timestamp column)"
    )
    parser.add_argument(
        "--fleet",
        type=Path,
        metavar="FLEET.csv",
        help="sibling series (each value column one series, same step) to learn a pooled "
        "model from; the model is then chosen by backtest",
    )
    add_plot_flag(parser, "the end of the history, the forecast and its intervals")
    parser.set_defaults(handler=run)


def parse_levels(text: str) -> tuple[int, ...]:
    """'80,95' -> (80, 95); each level a whole percentage between 1 and 99."""
    levels: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not ascii_digits(part, 2):  # int() alone reads "٨٠" and "8_0" as 80
            raise InputError(f"--levels: {part!r} is not a whole percentage (e.g. --levels 80,95)")
        level = int(part)
        if not 0 < level < 100:
            raise InputError(f"--levels: {level} is outside 1..99")
        levels.append(level)
    if not levels:
        raise InputError("--levels: give at least one level, e.g. --levels 80,95")
    return tuple(sorted(set(levels)))


def run(args: argparse.Namespace) -> int:
    from agent.csvio import read_series
    from forecasting.models import ForecastError, fit_forecast

    if args.horizon < 1:
        raise InputError(f"--horizon must be at least 1 step, got {args.horizon}")
    if args.horizon > 100_000:
        raise InputError(f"--horizon {args.horizon} is too long (at most 100000 steps)")
    if args.step is not None and not (math.isfinite(args.step) and args.step > 0):
        raise InputError(f"--step must be a positive number of seconds, got {args.step}")
    levels = parse_levels(args.levels)
    check_plot_path(args.plot)
    if args.output is not None:
        check_output_file(args.output, "--output", "forecast.csv", devices=True)
    check_outputs([args.csv, args.fleet], [("--output", args.output), ("--plot", args.plot)])
    series = read_series(
        args.csv,
        column=args.column,
        step=args.step,
        note=lambda text: print(f"autonomic: note: {text}", file=sys.stderr),
    )
    model, calibration = None, None
    if args.fleet is not None:
        model, calibration = _fleet_choice(series, args, levels)
    try:
        forecast = fit_forecast(series, args.horizon, levels, model=model, calibration=calibration)
    except ForecastError as exc:
        raise InputError(f"{args.csv}: {exc}") from exc

    stamps = [_iso(float(moment), args.csv) for moment in forecast.timestamps]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["timestamp", "mean"]
    for level in levels:
        header += [f"lower_{level}", f"upper_{level}"]
    header.append("model")
    writer.writerow(header)
    for i, moment in enumerate(stamps):
        row = [moment, _number(forecast.mean[i])]
        for level in levels:
            row += [_number(forecast.lower(level)[i]), _number(forecast.upper(level)[i])]
        row.append(forecast.version)
        writer.writerow(row)
    write_output(args.output, buffer.getvalue())
    if args.plot is not None:
        from agent.cli._plot import write_plot

        write_plot(forecast_chart(series, forecast, levels, args.horizon), args.plot)
    if forecast.fallback_reason:
        print(f"autonomic: note: fallback: {forecast.fallback_reason}", file=sys.stderr)
    cleaning = forecast.details.get("cleaning")
    if cleaning:
        print(f"autonomic: note: cleaned the history: {cleaning}", file=sys.stderr)
    return 0


def _fleet_choice(
    series: Series, args: argparse.Namespace, levels: tuple[int, ...]
) -> tuple[Forecaster | None, Calibration | None]:
    """The backtest's choice with the fleet's pooled model among the candidates.

    When no pooled model can be fitted (no usable sibling, a step without a day or week
    cycle), says why on stderr and returns ``(None, None)``: the plain default is used.
    """
    from agent.csvio import read_table, series_from_table
    from forecasting.baselines import ModelError
    from forecasting.cleaning import clean_series
    from forecasting.pooled import choose_with_pool, fit_pools, pool_shape

    table = read_table(args.fleet, step=args.step)
    siblings = []
    for name in table.columns:
        sibling = series_from_table(table, column=name, step=args.step)
        if not math.isclose(sibling.step, series.step, rel_tol=1e-9):
            raise InputError(
                f"{args.fleet}: column {name!r} has a step of {sibling.step:g} s but "
                f"{args.csv} has {series.step:g} s; the fleet must share the series' step"
            )
        siblings.append(sibling)
    folds = 3
    try:
        lags, period = pool_shape(series.step)
        histories = [clean_series(s).series.values for s in (series, *siblings)]
        live, held = fit_pools(histories, args.horizon, lags, period, folds=folds)
    except (ModelError, ValueError) as exc:
        print(f"autonomic: note: no pooled model from {args.fleet}: {exc}", file=sys.stderr)
        return None, None
    try:
        choice = choose_with_pool(series, live, held, args.horizon, folds=folds, levels=levels)
    except ValueError as exc:
        raise InputError(f"{args.csv}: {exc}") from exc
    print(
        f"autonomic: note: pooled over {live.weights.series} series "
        f"({live.weights.skipped} skipped: not positive or too short); "
        f"{choice.selection.reason}",
        file=sys.stderr,
    )
    return choice.model, choice.selection.calibration


def forecast_chart(
    series: Series, forecast: Forecast, levels: tuple[int, ...], horizon: int
) -> Chart:
    """The last part of the history (3 x horizon steps, at least 24, at most a week unless
    the horizon is longer), the forecast mean dashed and one band per interval level.

    When the history was repaired before fitting, the repaired history is drawn too and
    the y range follows it, so one wild sample does not flatten the picture.
    """
    from agent.charts import PALETTE, Band, Chart, Line
    from agent.cli._plot import time_axis
    from forecasting.cleaning import clean_series

    shown = min(max(3 * horizon, 24), max(horizon, round(WEEK / series.step)), len(series))
    history = series.tail(shown)
    last = float(series.timestamps[-1])
    span = last - float(history.timestamps[0]) + horizon * series.step
    axis = time_axis(last, span, "from the last observation")
    stamps = axis.all(forecast.timestamps)
    bands = []
    for i, level in enumerate(sorted(levels, reverse=True)):  # widest first, underneath
        bands.append(
            Band(
                f"{level} % interval",
                stamps,
                [float(v) for v in forecast.lower(level)],
                [float(v) for v in forecast.upper(level)],
                PALETTE[0],
                0.12 + 0.1 * i,
            )
        )
    history_line = Line(
        "history", axis.all(history.timestamps), list(history.values), "#555555", 1.2
    )
    lines = [history_line]
    y_max = None
    if forecast.details.get("cleaning"):
        repaired = clean_series(series).series.tail(shown)
        lines.insert(  # underneath the history: where they differ, both show
            0,
            Line(
                "history as repaired for the model",
                axis.all(repaired.timestamps),
                list(repaired.values),
                PALETTE[2],
                2.5,
            ),
        )
        tops = [*repaired.values, *forecast.mean]
        tops += [v for level in levels for v in forecast.upper(level)]
        finite = [float(v) for v in tops if math.isfinite(v)]
        y_max = max(finite) * 1.08 if finite else None
    lines.append(Line("forecast mean", stamps, list(forecast.mean), PALETTE[0], 1.8, dashed=True))
    named = [str(level) for level in levels]
    intervals = (", ".join(named[:-1]) + " and " if len(named) > 1 else "") + f"{named[-1]} %"
    title = f"{series.name or 'series'}: forecast by {forecast.version}, {intervals} intervals"
    if forecast.fallback_reason:
        title += f"; fallback: {forecast.fallback_reason}"
    if len(title) > TITLE_CHARS:
        title = title[: TITLE_CHARS - 1] + "…"
    return Chart(
        title,
        series.name or "value",
        lines,
        bands=bands,
        x_axis="value",
        x_label=axis.label,
        y_max=y_max,
    )


def _iso(moment: float, source: Path) -> str:
    """Epoch seconds as ISO 8601 UTC; a time no date can show is an InputError, not a crash.

    The reader refuses such timestamps, but the forecast runs ``horizon`` steps further
    (a huge ``--step`` can carry it past year 9999, or past the float range).
    """
    try:
        return datetime.fromtimestamp(moment, tz=UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        raise InputError(
            f"{source}: the forecast reaches {moment:g} s since the epoch, which no date can "
            "show (outside the years 1 to 9999): use a shorter --horizon or a smaller --step"
        ) from None


def _number(value: float) -> str:
    return f"{float(value):.10g}"
