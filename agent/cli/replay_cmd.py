"""`autonomic replay`: replay a load trace against a simulated HPA, predictive or oracle scaler.

The trace is a CSV of load per step (requests per minute, say). Each simulated pod
serves a fixed capacity and is ready ``--startup`` seconds after creation; the HPA is
simulated faithfully (15 s sync, 0.1 tolerance, 300 s scale-down stabilization,
max(+4, +100 %) per 15 s, unready pods count as zero on scale-up). Gaps (empty cells)
are skipped: nothing is scored or billed and no scaler acts while the load is unknown.

The predictive policy forecasts as the daemon's scaling loop does, with its defaults
(``scaling.profileHistory``, ``scaling.shapeOnlySeasonality``, ``scaling.refitEvery``,
``scaling.quantile``, ``scaling.metricLag``), or with a config file's (``--config``), and
keeps the loop's model lifecycle: a refit goes live only if it forecasts the last hour
better than the live model, a live model off its drift band leaves the workload reactive,
and a floor raised before comes down slowly (``forecasting.lifecycle``); what is not
demand (a glitch, an outage's zeros) is fitted as a gap and not scored as a forecast
miss, and the floor is held on a sample that looks like a glitch, as the loop does.
``--simple-refits`` replays without those rules: every refit goes live and a reactive
floor drops at once (the replay benchmarks' figures before session 20).

``--plot FILE.svg`` also draws, minute by minute, the load in pods needed, the ready
pods and all pods, with the under-provisioned stretches shaded.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from agent.cli._numbers import number_arg, whole_arg
from agent.cli._plot import add_plot_flag, check_outputs, check_plot_path
from agent.errors import InputError

if TYPE_CHECKING:
    from agent.charts import Chart
    from agent.csvio import Table
    from forecasting.replay import ReplayResult, ReplayTimeline
    from forecasting.series import Series

DAY = 86_400.0
MOST_SPANS = 400  # under-provisioned stretches closer than 1/MOST_SPANS of the trace merge


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "replay",
        help="replay a load trace against a simulated HPA, predictive or oracle scaler",
        description="Replay a load trace (CSV) against a simulated Deployment scaled by "
        "the Kubernetes HPA (faithful simulation), the HPA plus Autonomic's predictive "
        "floor, or an oracle floor that knows the future. Prints under-provisioned "
        "minutes, replica-hours and scale events.",
    )
    parser.add_argument("trace", type=Path, help="CSV with a timestamp column and load values")
    parser.add_argument("--column", help="value column to replay (default: the first one)")
    parser.add_argument(
        "--gap-when",
        metavar="COLUMN",
        help="treat the rows where this column is non-zero as gaps (an outage flag: zeros "
        "that are not demand); not scored, not billed, no scaling",
    )
    parser.add_argument(
        "--step",
        type=number_arg,
        help="seconds between rows when the file has no timestamp column (row i at i*step)",
    )
    parser.add_argument(
        "--startup",
        type=number_arg,
        required=True,
        help="seconds from pod creation to ready",
    )
    sizing = parser.add_mutually_exclusive_group(required=True)
    sizing.add_argument(
        "--capacity", type=number_arg, help="load one pod serves per trace step at 100%% use"
    )
    sizing.add_argument(
        "--mean-pods",
        type=number_arg,
        help="set the capacity so that the mean load needs this many pods",
    )
    parser.add_argument(
        "--target",
        type=number_arg,
        default=0.7,
        help="HPA target utilisation (default 0.7)",
    )
    parser.add_argument(
        "--policy",
        choices=("hpa", "predictive", "oracle"),
        required=True,
        help="hpa alone, hpa + predictive floor, or hpa + oracle floor",
    )
    parser.add_argument(
        "--margin",
        type=number_arg,
        default=0.0,
        help="extra fraction on the forecast peak for predictive/oracle (default 0)",
    )
    parser.add_argument(
        "--level",
        type=whole_arg,
        help="forecast interval whose upper bound sizes the floor (default 80, the 90th "
        "percentile, as the daemon's scaling.quantile 0.9)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="take the forecasting settings (scaling.profileHistory, shapeOnlySeasonality, "
        "refitEvery, quantile, metricLag) from this config file; flags given override it",
    )
    parser.add_argument(
        "--history-days",
        type=whole_arg,
        help="days of load the seasonal profile is the median of, 2 to 90 as for "
        "scaling.profileHistory (default: the daemon's, 14)",
    )
    parser.add_argument(
        "--refit-every",
        type=number_arg,
        metavar="SECONDS",
        help="seconds between two refits of the forecast model (default: the daemon's "
        "scaling.refitEvery, 21600)",
    )
    parser.add_argument(
        "--simple-refits",
        action="store_true",
        help="every refit goes live and a reactive floor drops at once, instead of the "
        "daemon's rules (a refit must beat the live model on the last hour; a model off "
        "its drift band leaves the workload reactive; a floor comes down slowly)",
    )
    parser.add_argument(
        "--warmup",
        type=number_arg,
        help="seconds at the start used as history only, not scored "
        "(default: 7 days, or half the trace if shorter than 14 days)",
    )
    parser.add_argument(
        "--metric-lag",
        type=number_arg,
        help="age of the metric the scalers see, seconds (default: the daemon's "
        "scaling.metricLag, 60: one scrape)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the results as one JSON object on stdout (the summary goes to stderr)",
    )
    add_plot_flag(
        parser, "the load in pods needed, ready and all pods, and the under-provisioned time"
    )
    parser.set_defaults(handler=run)


def _positive(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a positive number, got {value}")


def _flag_gaps(table: Table, series: Series, column: str, step: float | None) -> tuple[Series, int]:
    """``series`` with NaN where ``column`` is non-zero; and how many steps that flagged.

    The flag is read as a series of its own over the same timestamps, so a row lands on
    the same slot as its load. An empty flag cell is not a gap by itself."""
    import dataclasses

    import numpy as np

    from agent.csvio import series_from_table

    flag = series_from_table(table, column=column, step=step)
    if len(flag) != len(series) or flag.start != series.start:
        raise InputError(f"{table.path}: column {column!r} does not cover the load's rows")
    marked = np.nan_to_num(flag.values, nan=0.0) != 0
    flagged = int(np.count_nonzero(marked & np.isfinite(series.values)))
    values = np.where(marked, np.nan, series.values)
    return dataclasses.replace(series, values=values), flagged


def _refuse_negative_load(table: Table, series: Series) -> NoReturn:
    """Name the file's line and column of the first negative load value."""
    import numpy as np

    slot = int(np.flatnonzero(series.values < 0)[0])
    moment = float(series.timestamps[slot])
    stamps = np.asarray(table.timestamps)
    row = int(np.argmin(np.abs(stamps - moment)))  # the row snapped onto that slot
    raise InputError(
        f"{table.path}:{table.line(row)}: column {series.name!r}: load cannot be negative, "
        f"got {float(series.values[slot]):g}"
    )


@dataclass(frozen=True)
class _Forecasting:
    """How the predictive policy forecasts: the daemon's settings, a config's, or flags'."""

    level: int
    metric_lag: float
    history_days: int
    shape_only: bool
    refit_every: float
    source: str


def _forecasting(args: argparse.Namespace) -> _Forecasting:
    """The scaling settings the replay forecasts with: the flags given, else the config
    file's (``--config``), else the daemon's defaults."""
    import os

    from agent.settings import ScalingSettings, load_settings, profile_history_problem

    if args.config is not None:
        scaling = load_settings(args.config, dict(os.environ)).scaling
        source = f"scaling settings of {args.config}"
    else:
        scaling = ScalingSettings()
        source = "the daemon's default scaling settings"
    chosen = _Forecasting(
        level=args.level if args.level is not None else scaling.interval_level(),
        metric_lag=(args.metric_lag if args.metric_lag is not None else float(scaling.metric_lag)),
        history_days=(
            args.history_days
            if args.history_days is not None
            else round(scaling.profile_history / DAY)
        ),
        shape_only=scaling.shape_only_seasonality,
        refit_every=(
            args.refit_every if args.refit_every is not None else float(scaling.refit_every)
        ),
        source=source,
    )
    if not 0 < chosen.level < 100:
        raise InputError(f"--level is a percentage in (0, 100), got {chosen.level}")
    if not (math.isfinite(chosen.metric_lag) and chosen.metric_lag >= 0):
        raise InputError(f"--metric-lag must be zero or more seconds, got {chosen.metric_lag}")
    problem = profile_history_problem(chosen.history_days, str(chosen.history_days))
    if problem is not None:
        raise InputError(f"--history-days {problem}")
    if not (math.isfinite(chosen.refit_every) and chosen.refit_every > 0):
        raise InputError(
            f"--refit-every must be a positive number of seconds, got {chosen.refit_every}"
        )
    return chosen


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from agent.csvio import read_table, series_from_table
    from forecasting.profile import ProfileSettings
    from forecasting.replay import Plant, ReplayPolicy, replay

    _positive("--capacity", args.capacity)
    _positive("--mean-pods", args.mean_pods)
    _positive("--step", args.step)
    if not (math.isfinite(args.startup) and args.startup >= 0):
        raise InputError(f"--startup must be zero or more seconds, got {args.startup}")
    if not 0 < args.target <= 1:
        raise InputError(f"--target is a utilisation in (0, 1], got {args.target}")
    if not (math.isfinite(args.margin) and args.margin > -1):
        raise InputError(f"--margin must be above -1, got {args.margin}")
    model = _forecasting(args)
    if args.warmup is not None and not (math.isfinite(args.warmup) and args.warmup >= 0):
        raise InputError(f"--warmup must be zero or more seconds, got {args.warmup}")
    check_plot_path(args.plot)
    check_outputs([args.trace], [("--plot", args.plot)])
    read = [args.column] if args.gap_when is None else [args.column, args.gap_when]
    table = read_table(args.trace, step=args.step, columns=read)
    series = series_from_table(
        table,
        column=args.column,
        step=args.step,
        note=lambda text: print(f"autonomic: note: {text}", file=sys.stderr),
    )
    flagged = 0
    if args.gap_when is not None:
        series, flagged = _flag_gaps(table, series, args.gap_when, args.step)
    values = series.values
    finite = values[np.isfinite(values)]
    if finite.shape[0] < 2:
        raise InputError(f"{args.trace}: fewer than two numeric load values; nothing to replay")
    if np.any(finite < 0):
        _refuse_negative_load(table, series)
    mean = float(np.mean(finite))
    if args.capacity is not None:
        capacity = float(args.capacity)
    else:
        if mean <= 0:
            raise InputError(f"{args.trace}: the mean load is 0, so --mean-pods cannot size pods")
        capacity = mean / float(args.mean_pods)
        median = float(np.median(finite))
        if median > 0 and mean > 10 * median:
            print(
                f"warning: {args.trace}: the mean load ({mean:.4g}) is over ten times the "
                f"median ({median:.4g}), so a few extreme values size the pods for "
                "--mean-pods; check the trace for spikes, or give --capacity",
                file=sys.stderr,
            )
    span = series.end + series.step - series.start
    warmup = args.warmup if args.warmup is not None else min(7 * DAY, span / 2.0)
    if not (math.isfinite(warmup) and 0 <= warmup < span):
        raise InputError(f"--warmup must be between 0 and the trace length ({span:.0f} s)")
    try:
        plant = Plant(capacity, float(args.startup), metric_lag=model.metric_lag)
        policy = ReplayPolicy(
            args.policy,
            args.target,
            args.margin,
            level=model.level,
            refit_seconds=model.refit_every,
            daemon_rules=not args.simple_refits,
        )
        profile = ProfileSettings(
            history_periods=model.history_days, strength_within_period=model.shape_only
        )
        result = replay(
            series,
            plant,
            policy,
            warmup_seconds=warmup,
            profile_settings=profile,
            timeline=args.plot is not None,
        )
    except ValueError as exc:
        raise InputError(f"{args.trace}: {exc}") from exc
    gaps = int(np.isnan(values).sum())
    # With --json, stdout is the JSON object alone (for jq and scripts); the summary for a
    # person goes to stderr.
    text = sys.stderr if args.json else sys.stdout
    flagged_note = f", {flagged} of them flagged by {args.gap_when}" if args.gap_when else ""
    print(
        f"trace: {args.trace} ({len(series)} steps of {series.step:g} s, {gaps} missing"
        f"{flagged_note})",
        file=text,
    )
    print(
        f"plant: capacity {capacity:.4g} per pod per step, start-up {args.startup:g} s, "
        f"metric lag {model.metric_lag:g} s; policy {args.policy}, target {args.target:g}"
        + (f", margin {args.margin:g}" if args.policy != "hpa" else ""),
        file=text,
    )
    if args.policy == "predictive":
        rules = "every refit live" if args.simple_refits else "the daemon's refit and drift rules"
        print(
            f"forecast: {model.history_days}-day profile"
            + (", shape-only seasonality test" if model.shape_only else "")
            + f", refit every {model.refit_every:g} s ({rules}), "
            f"{model.level} % interval's upper bound; from {model.source}",
            file=text,
        )
    print(
        f"scored: {result.scored_minutes:.0f} min after a {warmup / 3600:.1f} h warm-up; "
        f"{result.skipped_gap_minutes:.0f} min of gaps skipped (no load known, no scaling)",
        file=text,
    )
    print(
        f"under-provisioned: {result.under_provisioned_minutes:.2f} min "
        f"({result.under_provisioned_fraction:.2%} of scored time)",
        file=text,
    )
    print(f"replica-hours: {result.replica_hours:.1f}", file=text)
    print(f"scale events: {result.scale_events}", file=text)
    if result.reasons:
        top = sorted(result.reasons.items(), key=lambda item: -item[1])
        print("floor decisions: " + ", ".join(f"{code} {count}" for code, count in top), file=text)
    if args.json:
        payload = result.as_dict()
        payload.update(
            {
                "trace": str(args.trace),
                "capacity_per_pod": capacity,
                "startup_seconds": args.startup,
                "target": args.target,
                "margin": args.margin,
                "warmup_seconds": warmup,
                "level": model.level,
                "metric_lag_seconds": model.metric_lag,
            }
        )
        print(json.dumps(payload, sort_keys=True))
    if args.plot is not None and result.timeline is not None:
        from agent.cli._plot import write_plot

        write_plot(replay_chart(result, result.timeline, args, warmup), args.plot)
    return 0


def replay_chart(
    result: ReplayResult, timeline: ReplayTimeline, args: argparse.Namespace, warmup: float
) -> Chart:
    """Load in pods needed, ready pods and all pods as step lines, one point a minute
    (each minute's worst moment), each under-provisioned stretch as a red span with a
    marker on the load, and the warm-up (not scored) as a grey span."""
    import numpy as np

    from agent.charts import PALETTE, Chart, Line, Marker, Span
    from agent.cli._plot import time_axis

    start = float(timeline.times[0])
    resolution = timeline.resolution_seconds
    span = float(timeline.times[-1]) + resolution - start
    axis = time_axis(start, span, "since the trace start")
    xs = axis.all(timeline.times)
    spans = []
    markers: list[Marker] = []
    if warmup > 0:
        spans.append(Span(axis(start), axis(start + warmup), "warm-up, not scored", "#e6e6e6"))
    under = np.flatnonzero(timeline.under_ticks > 0)
    if under.size:
        merge = max(1, round(span / MOST_SPANS / resolution))  # buckets apart that still merge
        breaks = np.flatnonzero(np.diff(under) > merge)
        firsts = np.concatenate([under[:1], under[breaks + 1]])
        lasts = np.concatenate([under[breaks], under[-1:]])
        for first, last in zip(firsts, lasts, strict=True):
            minutes = float(timeline.under_ticks[first : last + 1].sum()) * (
                timeline.tick_seconds / 60.0
            )
            t0 = float(timeline.times[first])
            label = f"under-provisioned {minutes:g} min, from {axis(t0):.4g} {axis.unit_name}"
            spans.append(
                Span(axis(t0), axis(float(timeline.times[last]) + resolution), label, "#ffb3b3")
            )
            # a short stretch is a hairline on a long trace: a marker on the load shows it
            peak = timeline.load_pods[first : last + 1]
            top = float(np.nanmax(peak)) if np.isfinite(peak).any() else 0.0
            markers.append(Marker(axis(t0), top, label, PALETTE[1], "triangle"))
    lines = [
        Line(
            "load in pods needed (load / capacity)",
            xs,
            [float(v) for v in timeline.load_pods],
            "#555555",
            1.2,
            step=True,
        ),
        Line(
            "ready pods",
            xs,
            [float(v) for v in timeline.ready],
            PALETTE[0],
            1.6,
            step=True,
            keep="min",  # a dip in ready capacity is what the plot is for
        ),
        Line(
            "all pods (starting included)",
            xs,
            [float(v) for v in timeline.pods],
            PALETTE[3],
            1.2,
            dashed=True,
            step=True,
        ),
    ]
    title = (
        f"replay of {args.trace.name}, policy {result.policy}, start-up {args.startup:g} s: "
        f"{result.under_provisioned_minutes:.2f} min under-provisioned (red), "
        f"{result.replica_hours:.1f} replica-hours" + (", warm-up grey" if warmup > 0 else "")
    )
    return Chart(title, "pods", lines, markers, spans=spans, x_axis="value", x_label=axis.label)
