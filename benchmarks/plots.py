"""Plots of the benchmark results, drawn from the tables the benchmark scripts wrote.

    .venv/bin/python benchmarks/plots.py            # reads benchmarks/*_RESULTS.md
    .venv/bin/python benchmarks/plots.py --out DIR  # writes the SVG files there

Every plotted number is read from a results file (``replay_RESULTS.md``,
``learning_RESULTS.md``, ``canary_RESULTS.md``): the tables there are the scripts' own
output, so the plots show exactly what was measured and change when a benchmark is re-run
and its results file rewritten. Nothing is computed here but the layout.

What is drawn:

- ``replay-<trace>-<startup>s.svg``: the frontier of each policy, replica-hours against
  under-provisioned minutes, one line for the HPA's target sweep, one per predictive
  target across its margin sweep, the oracle as points. Lower and further left is better.
- ``learning-automation.svg``: automation by week for every seed against the oracle's
  ceiling in the same world, and the 70 % target.
- ``learning-reliability.svg``: stated confidence against the hidden ground truth.
- ``canary-reliability.svg``: stated confidence of each judge against its share right.
- ``anomaly-reliability.svg``: the anomaly detector's stated confidence on NAB against
  the share in a labelled window (flagged points; incidents before and after the map).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.charts import PALETTE, Chart, Line, Marker  # noqa: E402

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Table:
    """One markdown table: the nearest heading above it, the last line of prose between
    that heading and the table, the header cells and the rows."""

    heading: str
    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def column(self, name: str) -> int:
        try:
            return self.header.index(name)
        except ValueError:
            raise KeyError(f"table under {self.heading!r} has no column {name!r}") from None


def tables(text: str) -> Iterator[Table]:
    heading, caption = "", ""
    block: list[tuple[str, ...]] = []
    for line in [*text.splitlines(), ""]:
        stripped = line.strip()
        if stripped.startswith("|"):
            block.append(tuple(cell.strip() for cell in stripped.strip("|").split("|")))
            continue
        if len(block) >= 2:
            rows = tuple(row for row in block[2:] if len(row) == len(block[0]))
            yield Table(heading, caption, block[0], rows)
        block = []
        if stripped.startswith("#"):
            heading, caption = stripped.lstrip("#").strip(), ""
        elif stripped:
            caption = stripped


def number(cell: str) -> float:
    """A table cell as a number: ``1,234``, ``+0.3``, ``26.6%``, ``**0.456**``."""
    cleaned = cell.replace("*", "").replace(",", "").replace("%", "").strip()
    match = re.match(r"^[+-]?\d+(\.\d+)?", cleaned)
    if match is None:
        raise ValueError(f"not a number: {cell!r}")
    return float(match.group(0))


# -- replay -------------------------------------------------------------------------------

REPLAY_HEADING = re.compile(r"^(?P<trace>[\w-]+), start-up (?P<startup>\d+) s$")


@dataclass(frozen=True)
class ReplayPoint:
    policy: str
    target: float
    margin: float
    under_minutes: float
    replica_hours: float


def replay_points(text: str) -> dict[tuple[str, int], list[ReplayPoint]]:
    """The "All points" table of every ``### <trace>, start-up <N> s`` section."""
    found: dict[tuple[str, int], list[ReplayPoint]] = {}
    for table in tables(text):
        match = REPLAY_HEADING.match(table.heading)
        if match is None or table.header[:3] != ("policy", "target", "margin"):
            continue
        cols = [table.column(name) for name in ("under-prov. min", "replica-h")]
        points = [
            ReplayPoint(
                row[0].lower(),
                number(row[1]),
                number(row[2]) if row[2] not in ("-", "") else 0.0,
                number(row[cols[0]]),
                number(row[cols[1]]),
            )
            for row in table.rows
        ]
        found[(match["trace"], int(match["startup"]))] = points
    return found


def replay_chart(trace: str, startup: int, points: list[ReplayPoint]) -> Chart:
    lines: list[Line] = []
    hpa = sorted((p for p in points if p.policy == "hpa"), key=lambda p: p.replica_hours)
    if hpa:
        lines.append(
            Line(
                f"HPA, target {hpa[-1].target:g}-{hpa[0].target:g}",
                [p.replica_hours for p in hpa],
                [p.under_minutes for p in hpa],
                color="#333333",
                width=2.0,
                dots=True,
            )
        )
    targets = sorted({p.target for p in points if p.policy == "predictive"}, reverse=True)
    for i, target in enumerate(targets):
        sweep = sorted(
            (p for p in points if p.policy == "predictive" and p.target == target),
            key=lambda p: p.margin,
        )
        margins = f"{sweep[0].margin:+g}..{sweep[-1].margin:+g}"
        lines.append(
            Line(
                f"predictive, target {target:g}, margin {margins}",
                [p.replica_hours for p in sweep],
                [p.under_minutes for p in sweep],
                color=PALETTE[(i + 1) % len(PALETTE)],
                dots=True,
            )
        )
    markers = [
        Marker(
            p.replica_hours,
            p.under_minutes,
            f"oracle, target {p.target:g}: {p.under_minutes:g} min",
            color=PALETTE[0],
            shape="square",
        )
        for p in points
        if p.policy == "oracle"
    ]
    return Chart(
        f"{trace}, start-up {startup} s: under-provisioned minutes against replica-hours "
        "(lower left is better; squares: oracle floor)",
        "under-provisioned minutes",
        lines=lines,
        markers=markers,
        x_axis="value",
        x_label="replica-hours",
        width=900,
        height=460,
        y_min=0.0,
    )


# -- learning ------------------------------------------------------------------------------

SEED_HEADING = re.compile(r"^Seed (?P<seed>\d+)\b")


def learning_weeks(text: str) -> dict[int, list[tuple[int, float, float]]]:
    """Per seed: (week, automation %, oracle ceiling %) from the per-seed week tables."""
    found: dict[int, list[tuple[int, float, float]]] = {}
    for table in tables(text):
        match = SEED_HEADING.match(table.heading)
        if match is None or not table.header or table.header[0] != "week":
            continue
        auto, ceiling = table.column("automation"), table.column("oracle ceiling")
        found[int(match["seed"])] = [
            (int(number(row[0])), number(row[auto]), number(row[ceiling])) for row in table.rows
        ]
    return found


def learning_chart(weeks: dict[int, list[tuple[int, float, float]]]) -> Chart:
    lines: list[Line] = []
    for i, (seed, rows) in enumerate(sorted(weeks.items())):
        color = PALETTE[i % len(PALETTE)]
        xs = [float(week) for week, _, _ in rows]
        lines.append(Line(f"seed {seed}", xs, [a for _, a, _ in rows], color=color, dots=True))
        lines.append(
            Line(
                f"seed {seed} oracle ceiling",
                xs,
                [c for _, _, c in rows],
                color=color,
                dashed=True,
                width=1.0,
            )
        )
    all_weeks = [float(week) for rows in weeks.values() for week, _, _ in rows]
    if all_weeks:
        lines.append(
            Line(
                "target 70 %",
                [min(all_weeks), max(all_weeks)],
                [70.0, 70.0],
                color="#999999",
                dashed=True,
            )
        )
    return Chart(
        "Simulated month: automation by week (solid) against what a router that knows the "
        "truth could automate (dashed)",
        "automatic / actionable, %",
        lines=lines,
        x_axis="value",
        x_label="week",
        x_ticks=sorted(set(all_weeks)),
        width=900,
        height=460,
        y_min=0.0,
        y_max=100.0,
    )


def reliability_chart(
    title: str, series: dict[str, list[tuple[float, float, int]]], x_label: str, y_label: str
) -> Chart:
    """Mean stated confidence (x) against the observed share right (y), one line per
    judge, with the diagonal of perfect calibration."""
    lines = [Line("perfectly calibrated", [0.0, 1.0], [0.0, 1.0], color="#999999", dashed=True)]
    for i, (name, bins) in enumerate(series.items()):
        lines.append(
            Line(
                name,
                [stated for stated, _, _ in bins],
                [right for _, right, _ in bins],
                color=PALETTE[i % len(PALETTE)],
                dots=True,
            )
        )
    return Chart(
        title,
        y_label,
        lines=lines,
        x_axis="value",
        x_label=x_label,
        x_min=0.0,
        x_max=1.0,
        y_min=0.0,
        y_max=1.0,
        width=640,
        height=520,
        legend="bottom",
    )


def learning_truth_bins(text: str) -> list[tuple[float, float, int]]:
    for table in tables(text):
        if table.heading.startswith("Stated confidence vs ground truth"):
            stated, right = table.column("mean stated"), table.column("truly right")
            count = table.column("decisions")
            return [
                (number(row[stated]), number(row[right]), int(number(row[count])))
                for row in table.rows
            ]
    return []


def canary_bins(text: str) -> dict[str, list[tuple[float, float, int]]]:
    found: dict[str, list[tuple[float, float, int]]] = {}
    for table in tables(text):
        if not table.heading.startswith("Calibration") or "share right" not in table.header:
            continue
        name = table.caption.replace("*", "").strip()
        stated, right = table.column("mean confidence"), table.column("share right")
        count = table.column("verdicts")
        found[name] = [
            (number(row[stated]), number(row[right]), int(number(row[count]))) for row in table.rows
        ]
    return found


def anomaly_bins(text: str) -> dict[str, list[tuple[float, float, int]]]:
    """The NAB reliability tables of ``anomaly_calibration_RESULTS.md``: flagged points,
    incidents before the map, incidents after it (held out). Not the in-sample table, nor
    the series with no anomaly (every share there is 0)."""
    names = {
        "Stated confidence of flagged points": "flagged points, before",
        "Before": "incidents, before",
        "After": "incidents, after (held out)",
    }
    found: dict[str, list[tuple[float, float, int]]] = {}
    for table in tables(text):
        name = next((n for k, n in names.items() if table.heading.startswith(k)), None)
        if name is None or "share real" not in table.header:
            continue
        stated, right = table.column("mean stated"), table.column("share real")
        found[name] = [
            (number(row[stated]), number(row[right]), int(number(row[1]))) for row in table.rows
        ]
    return found


# -- main ----------------------------------------------------------------------------------


def write_all(results: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    charts: dict[str, Chart] = {}
    replay = results / "replay_RESULTS.md"
    if replay.exists():
        for (trace, startup), points in replay_points(replay.read_text()).items():
            charts[f"replay-{trace}-{startup}s.svg"] = replay_chart(trace, startup, points)
    learning = results / "learning_RESULTS.md"
    if learning.exists():
        text = learning.read_text()
        weeks = learning_weeks(text)
        if weeks:
            charts["learning-automation.svg"] = learning_chart(weeks)
        truth = learning_truth_bins(text)
        if truth:
            charts["learning-reliability.svg"] = reliability_chart(
                "Simulated month, all seeds: stated confidence against the hidden truth",
                {"decisions": truth},
                "mean stated confidence (bin)",
                "share truly right",
            )
    canary = results / "canary_RESULTS.md"
    if canary.exists():
        bins = canary_bins(canary.read_text())
        if bins:
            charts["canary-reliability.svg"] = reliability_chart(
                "Canary judges: stated confidence against share of verdicts right",
                bins,
                "mean stated confidence (bin)",
                "share right",
            )
    anomaly = results / "anomaly_calibration_RESULTS.md"
    if anomaly.exists():
        bins = anomaly_bins(anomaly.read_text())
        if bins:
            charts["anomaly-reliability.svg"] = reliability_chart(
                "NAB v1.1: anomaly confidence against share real",
                bins,
                "mean stated confidence (bin)",
                "share real (in a labelled window)",
            )
    written = []
    for name, chart in sorted(charts.items()):
        path = out / name
        path.write_text(chart.document())
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=HERE, help="folder of *_RESULTS.md")
    parser.add_argument("--out", type=Path, default=HERE / "plots", help="folder for the SVGs")
    args = parser.parse_args(argv)
    written = write_all(args.results, args.out)
    if not written:
        print(f"no results tables found in {args.results}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
