"""Replay benchmark for scheduled floors: one-off surges that no forecast foresees.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/replay_events.py --data ../shared/data \\
        --out benchmarks/replay_events_RESULTS.md --plot benchmarks/plots/replay-events.svg

Each trace of ``benchmarks/replay.py`` (same loading, same plant, same scoring) gets a
few one-off surges injected: the load multiplied by ``--factor`` (3) for 45 to 90
minutes (rounded up to whole trace steps), at seeded random instants of the scored part
(after the 7 days of history), at least two days apart, never over a gap. Random days
and times of day: no surge repeats a daily or weekly pattern, so the forecaster cannot
learn one from another. Every arm replays the same surged trace:

- ``hpa``: the faithful HPA alone;
- ``predictive``: the same HPA plus the predictive floor (``forecasting.scaling.recommend``
  from the seasonal-profile forecast of the surged trace);
- ``scheduled``: the predictive arm plus one ``scaling.scheduledFloors`` entry per surge
  (a ``dates`` window from its start to its end, UTC), its ``minReplicas`` what the surge's
  peak needs at the HPA target, ``ceil(peak / (target x capacity))``, as an SRE who knows
  the event's size would set it; ``scheduled x0.7`` and ``scheduled x1.3`` the same with
  that size under- and over-guessed by 30 %.

The scheduled floor is decided by the scaling loop's own code: each loop decision goes
through ``ScalingLoop._scheduled_floor`` (which calls ``ScalingLoop._schedule``, which
calls ``remediation.windows.first_open`` and ``closes_at``), with the workload's lead
(``forecasting.scaling.lead_time`` of the start-up, the 60 s loop and the 60 s metric
lag). Those two methods read only the schedules and a status map from the loop, so they
are called on a stand-in holding just those; nothing of the loop is re-implemented here.
After a window the floor comes down through ``recommend``'s scale-in pace, as the loop
gives any floor back.

Scored: under-provisioned minutes (load above ready pods x capacity, 15 s resolution)
inside the surges' windows and over the whole scored trace, and replica-hours (cost),
per trace and pooled over traces, for each seed and start-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.loops.scaling import ScalingLoop, WorkloadModel  # noqa: E402
from agent.settings import ScalingSettings as LoopSettings  # noqa: E402
from agent.settings import ScheduledFloor  # noqa: E402
from benchmarks.replay import DAY, LAG, LOOP, load_traces  # noqa: E402
from forecasting.replay import (  # noqa: E402
    FloorHook,
    Plant,
    PolicyKind,
    ReplayPolicy,
    ReplayResult,
    forecast_path,
    replay,
)
from forecasting.scaling import (  # noqa: E402
    ScalingRecommendation,
    ScalingSettings,
    horizon_steps,
    lead_time,
)
from forecasting.series import Series, make_series  # noqa: E402
from remediation.ports import ObjectRef  # noqa: E402

TRACES = ("nasa", "tweets", "nyc_taxi", "elb")
WARMUP = 7 * DAY
SPACING = 2 * DAY
REF = ObjectRef("Deployment", "replay", "bench")
ARMS: tuple[tuple[str, float | None], ...] = (
    ("hpa", None),
    ("predictive", None),
    ("scheduled", 1.0),
    ("scheduled x0.7", 0.7),
    ("scheduled x1.3", 1.3),
)


@dataclass(frozen=True)
class Event:
    start: float  # epoch seconds, on the trace's step grid
    end: float  # exclusive
    peak: float  # the highest surged load inside, in the trace's units


@dataclass(frozen=True)
class Run:
    trace: str
    seed: int
    startup: float
    arm: str
    result: ReplayResult
    event_under: float  # under-provisioned minutes inside the events' windows
    event_minutes: float  # scored minutes inside them


def pick_events(
    series: Series,
    rng: np.random.Generator,
    count: int,
    warmup: float = WARMUP,
    minutes: tuple[int, int] = (45, 90),
) -> list[tuple[float, float]]:
    """``count`` surge windows ``(start, end)`` after ``warmup``, on the step grid,
    ``SPACING`` apart, over no gap; fewer when the trace has no room for more."""
    step = series.step
    first = series.start + warmup
    last = series.end + step - minutes[1] * 60.0 - step
    if last <= first:
        return []
    chosen: list[tuple[float, float]] = []
    for _ in range(2000):
        if len(chosen) == count:
            break
        slot = math.ceil((rng.uniform(first, last) - series.start) / step)
        length = math.ceil(int(rng.integers(minutes[0], minutes[1] + 1)) * 60.0 / step)
        span = series.values[slot : slot + length]
        start = series.start + slot * step
        if span.shape[0] < length or not np.all(np.isfinite(span)):
            continue
        if any(abs(start - other) < SPACING for other, _ in chosen):
            continue
        chosen.append((start, start + length * step))
    return sorted(chosen)


def inject(series: Series, windows: list[tuple[float, float]], factor: float) -> Series:
    """The trace with the load multiplied by ``factor`` inside each window."""
    values = series.values.copy()
    for start, end in windows:
        a = round((start - series.start) / series.step)
        b = round((end - series.start) / series.step)
        values[a:b] *= factor
    return make_series(series.timestamps, values, step=series.step, name=series.name)


def events_of(series: Series, windows: list[tuple[float, float]]) -> list[Event]:
    out = []
    for start, end in windows:
        a = round((start - series.start) / series.step)
        b = round((end - series.start) / series.step)
        out.append(Event(start, end, float(np.max(series.values[a:b]))))
    return out


def _local(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def schedules(
    events: list[Event], target: float, capacity: float, guess: float
) -> tuple[ScheduledFloor, ...]:
    """One scheduled floor per event, sized for ``guess`` x its peak at the HPA target,
    written as an operator writes ``scaling.scheduledFloors`` (and read as the daemon
    reads its configuration)."""
    written = [
        {
            "name": f"event-{i + 1}",
            "workloads": [f"{REF.namespace}/{REF.name}"],
            "minReplicas": floor_size(e.peak, target, capacity, guess),
            "timezone": "UTC",
            "dates": [{"start": _local(e.start), "end": _local(e.end)}],
        }
        for i, e in enumerate(events)
    ]
    return LoopSettings.model_validate({"scheduledFloors": written}).scheduled_floors


def floor_size(peak: float, target: float, capacity: float, guess: float) -> int:
    return max(1, math.ceil(guess * peak / (target * capacity) - 1e-9))


def scheduled_hook(floors: tuple[ScheduledFloor, ...], lead: float) -> FloorHook:
    """Each loop decision through the scaling loop's ``_scheduled_floor``, on a stand-in
    loop that holds only what it reads (the schedules and the status map)."""
    loop: Any = SimpleNamespace(
        settings=SimpleNamespace(scheduled_floors=floors),
        status=SimpleNamespace(scheduled={}),
    )
    loop._schedule = lambda *args: ScalingLoop._schedule(cast(ScalingLoop, loop), *args)
    model = WorkloadModel()

    def hook(
        now: float,
        rec: ScalingRecommendation,
        previous: ScalingRecommendation | None,
        sizing: ScalingSettings,
    ) -> ScalingRecommendation:
        model.previous = previous
        return ScalingLoop._scheduled_floor(
            cast(ScalingLoop, loop), REF, model, rec, lead, sizing, now
        )

    return hook


def _inside(result: ReplayResult, events: list[Event]) -> tuple[float, float]:
    timeline = result.timeline
    assert timeline is not None and timeline.scored_ticks is not None
    inside = np.zeros(len(timeline), dtype=bool)
    for e in events:
        inside |= (timeline.times >= e.start) & (timeline.times < e.end)
    tick = timeline.tick_seconds / 60.0
    return (
        float(timeline.under_ticks[inside].sum()) * tick,
        float(timeline.scored_ticks[inside].sum()) * tick,
    )


def run_trace(
    name: str,
    base: Series,
    seed: int,
    args: argparse.Namespace,
    startups: tuple[float, ...],
) -> tuple[list[Run], list[Event], dict[str, float], dict[tuple[str, float], ReplayResult]]:
    rng = np.random.default_rng([seed, TRACES.index(name)])
    warmup = args.warmup_days * DAY
    windows = pick_events(base, rng, args.events, warmup)
    series = inject(base, windows, args.factor)
    events = events_of(series, windows)
    finite = base.values[np.isfinite(base.values)]
    capacity = float(np.mean(finite)) / args.mean_pods  # from the trace before surges
    horizon = max(horizon_steps(lead_time(s, LOOP, LAG), series.step) for s in startups)
    began = time.perf_counter()
    path = forecast_path(series, horizon=horizon, loop_period=LOOP, metric_lag=LAG)
    info = {"capacity": capacity, "path_seconds": time.perf_counter() - began}
    runs: list[Run] = []
    kept: dict[tuple[str, float], ReplayResult] = {}
    for startup in startups:
        plant = Plant(capacity, startup, metric_lag=LAG)
        lead = lead_time(startup, LOOP, LAG)
        for arm, guess in ARMS:
            kind: PolicyKind = "hpa" if arm == "hpa" else "predictive"
            policy = ReplayPolicy(kind, args.target, args.margin, loop_period=LOOP)
            hook = (
                scheduled_hook(schedules(events, args.target, capacity, guess), lead)
                if guess is not None
                else None
            )
            began = time.perf_counter()
            result = replay(
                series,
                plant,
                policy,
                warmup_seconds=warmup,
                path=path if kind != "hpa" else None,
                timeline=True,
                floor_hook=hook,
            )
            under, minutes = _inside(result, events)
            runs.append(Run(name, seed, startup, arm, result, under, minutes))
            kept[(arm, startup)] = result
            print(
                f"{name} seed={seed} startup={startup:g} {arm}: events {under:.1f} min, "
                f"overall {result.under_provisioned_minutes:.0f} min, "
                f"{result.replica_hours:.0f} replica-h ({time.perf_counter() - began:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    return runs, events, info, kept


def _table(runs: list[Run]) -> list[str]:
    """One row per arm: the runs summed (traces and seeds pooled)."""
    lines = [
        "| arm | under-prov. min in events (% of event minutes) | under-prov. min overall "
        "| replica-h | replica-h vs predictive |",
        "|---|---:|---:|---:|---:|",
    ]
    base = sum(r.result.replica_hours for r in runs if r.arm == "predictive")
    for arm, _ in ARMS:
        sel = [r for r in runs if r.arm == arm]
        if not sel:
            continue
        inside = sum(r.event_under for r in sel)
        minutes = sum(r.event_minutes for r in sel)
        share = f"{inside / minutes:.0%}" if minutes else "n/a"
        overall = sum(r.result.under_provisioned_minutes for r in sel)
        hours = sum(r.result.replica_hours for r in sel)
        delta = f"{(hours - base) / base:+.2%}" if base else "n/a"
        lines.append(f"| {arm} | {inside:.1f} ({share}) | {overall:.0f} | {hours:.0f} | {delta} |")
    return lines


def report(
    runs: list[Run],
    events: dict[tuple[str, int], list[Event]],
    infos: dict[tuple[str, int], dict[str, float]],
    args: argparse.Namespace,
    argv: str,
    plot: str | None,
) -> str:
    seeds = sorted({r.seed for r in runs})
    startups = sorted({r.startup for r in runs})
    total = sum(len(v) for v in events.values())
    lines = [
        "# Replay benchmark: scheduled floors against one-off surges",
        "",
        f"Command: `{argv}`  ",
        f"Date: {dt.date.today().isoformat()}; machine: 2 shared cores.  ",
        f"Seeds: {', '.join(str(s) for s in seeds)} (trace i of {', '.join(TRACES)} draws "
        f"from `numpy.random.default_rng([seed, i])`).",
        "",
        'Plant and scoring: those of `benchmarks/replay.py` (replay_RESULTS.md, "Plant:"), '
        f"imported, not copied: capacity per pod so the trace's mean load (before the "
        f"surges) needs {args.mean_pods:g} pods at full use; HPA target {args.target:g} in "
        f"every arm, predictive margin {args.margin:+g}; the first {args.warmup_days:g} "
        "days are history, never scored. "
        f"{total} surges: load x{args.factor:g} for 45-90 min (whole trace steps: 60 or 90 "
        "min on nyc_taxi's 30-min steps), at random instants at least 2 days apart, so no "
        "daily or weekly pattern repeats them. Scheduled floor: a `dates` window exactly "
        "over the surge, `minReplicas = ceil(guess x peak / (target x capacity))`, decided "
        "by the scaling loop's `_scheduled_floor`/`_schedule` (`first_open`) with the "
        "workload's lead (start-up + 60 s loop + 60 s lag).",
        "",
        "Under-provisioned = minutes where load > ready pods x capacity (15 s resolution); "
        '"in events" counts only the minutes inside the surges\' windows. Replica-hours '
        "count every pod, starting ones included, over the whole scored trace.",
        "",
    ]
    if plot:
        lines += [f"![one surge, replayed]({plot})", ""]
    for startup in startups:
        lines += [f"## Pooled over traces and seeds, start-up {startup:g} s", ""]
        lines += _table([r for r in runs if r.startup == startup])
        lines.append("")
    for startup in startups:
        for trace in dict.fromkeys(r.trace for r in runs):
            lines += [f"## {trace}, start-up {startup:g} s (seeds pooled)", ""]
            lines += _table([r for r in runs if r.startup == startup and r.trace == trace])
            lines.append("")
    lines += [
        "## The surges",
        "",
        "| trace | seed | start (UTC) | minutes | peak, pods at full use | minReplicas "
        "x1 / x0.7 / x1.3 |",
        "|---|---:|---|---:|---:|---|",
    ]
    for (trace, seed), found in events.items():
        capacity = infos[(trace, seed)]["capacity"]
        for e in found:
            sizes = " / ".join(
                str(floor_size(e.peak, args.target, capacity, g)) for g in (1.0, 0.7, 1.3)
            )
            lines.append(
                f"| {trace} | {seed} | {_local(e.start).replace('T', ' ')} | "
                f"{(e.end - e.start) / 60:.0f} | {e.peak / capacity:.1f} | {sizes} |"
            )
    lines += [
        "",
        "Per trace and seed (start-up, arm: under-prov. min in events / overall / replica-h):",
        "",
        "| trace | seed | start-up | arm | in events | overall | replica-h |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r.trace} | {r.seed} | {r.startup:g} | {r.arm} | {r.event_under:.1f} | "
            f"{r.result.under_provisioned_minutes:.0f} | {r.result.replica_hours:.0f} |"
        )
    return "\n".join(lines) + "\n"


def event_chart(
    trace: str,
    startup: float,
    event: Event,
    results: dict[tuple[str, float], ReplayResult],
) -> str:
    """One surge replayed: the load in pods and each arm's ready pods, by minute."""
    from agent.charts import PALETTE, Chart, Line, Span

    before, after = 30.0 * 60.0, 90.0 * 60.0
    lines: list[Line] = []
    first = True
    for i, (arm, _) in enumerate(ARMS):
        result = results.get((arm, startup))
        if result is None or result.timeline is None:
            continue
        tl = result.timeline
        sel = (tl.times >= event.start - before) & (tl.times < event.end + after)
        xs = [(t - event.start) / 60.0 for t in tl.times[sel]]
        if first:
            lines.append(
                Line(
                    "load, pods needed at full use",
                    xs,
                    [float(v) for v in tl.load_pods[sel]],
                    color="#333333",
                    width=2.0,
                    step=True,
                )
            )
            first = False
        lines.append(
            Line(
                f"ready pods, {arm}",
                xs,
                [float(v) for v in tl.ready[sel]],
                color=PALETTE[i % len(PALETTE)],
                dashed=arm.endswith(("0.7", "1.3")),
                step=True,
            )
        )
    chart = Chart(
        f"{trace}, start-up {startup:g} s: a x3 surge of {(event.end - event.start) / 60:.0f} "
        "min, load and ready pods (shaded: the surge)",
        "pods",
        lines=lines,
        spans=[Span(0.0, (event.end - event.start) / 60.0, "surge")],
        x_axis="value",
        x_label="minutes from the surge's start",
        width=900,
        height=420,
        y_min=0.0,
    )
    return chart.document()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--out", type=Path, help="write the markdown report here")
    parser.add_argument("--plot", type=Path, help="draw one surge replayed (SVG) here")
    parser.add_argument("--traces", default=",".join(TRACES))
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--startups", default="120")
    parser.add_argument("--events", type=int, default=4, help="surges per trace and seed")
    parser.add_argument("--factor", type=float, default=3.0)
    parser.add_argument("--target", type=float, default=0.7)
    parser.add_argument("--margin", type=float, default=0.0)
    parser.add_argument("--mean-pods", type=float, default=20.0)
    parser.add_argument(
        "--warmup-days", type=float, default=7.0, help="history only: no surge, not scored"
    )
    args = parser.parse_args(argv)
    names = args.traces.split(",")
    unknown = [n for n in names if n not in TRACES]
    if unknown:
        parser.error(f"--traces: unknown {', '.join(unknown)}; known: {', '.join(TRACES)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    startups = tuple(float(s) for s in args.startups.split(","))
    traces = load_traces(args.data)
    runs: list[Run] = []
    events: dict[tuple[str, int], list[Event]] = {}
    infos: dict[tuple[str, int], dict[str, float]] = {}
    drawn: tuple[str, Event, dict[tuple[str, float], ReplayResult]] | None = None
    for name in names:
        for seed in seeds:
            got, found, info, results = run_trace(name, traces[name][0], seed, args, startups)
            runs += got
            events[(name, seed)] = found
            infos[(name, seed)] = info
            if drawn is None and found:
                drawn = (name, found[0], results)
    shown = "python benchmarks/replay_events.py " + " ".join(sys.argv[1:] if argv is None else argv)
    plot_ref = None
    if args.plot is not None and drawn is not None:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        name, event, results = drawn
        args.plot.write_text(event_chart(name, startups[0], event, results), encoding="utf-8")
        print(f"wrote {args.plot}", file=sys.stderr)
        if args.out is not None:
            try:
                plot_ref = str(args.plot.resolve().relative_to(args.out.resolve().parent))
            except ValueError:
                plot_ref = str(args.plot)
    text = report(runs, events, infos, args, shown, plot_ref)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
