"""What a simulation did, as a terminal summary and an HTML report with plots."""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.calibration import counted_route
from agent.charts import CSS as CHART_CSS
from agent.charts import PALETTE, Chart, Line, Marker, Span
from agent.ledger import is_hold
from agent.sim.run import FaultSpan, SimResult, pod_hours, under_provisioned_minutes
from remediation.windows import to_utc_text

__all__ = ["Summary", "description", "summarise", "terminal_summary", "write_html"]

ROUTE_COLORS = {
    "auto": "#2ca02c",
    "ask": "#ff7f0e",
    "escalate": "#d62728",
    "observe": "#7f7f7f",
    "shadow": "#9467bd",
}


@dataclass(frozen=True)
class Summary:
    scaling: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    by_kind: dict[str, dict[str, int]]
    canaries: list[dict[str, Any]]
    anomalies: dict[str, int]
    automation_by_day: list[tuple[int, int, int]]  # day, automatic, actionable
    writes: Counter[str]
    duplicate_writes: int


def summarise(result: SimResult, canaries: list[dict[str, Any]] | None = None) -> Summary:
    scaling = []
    for name, t in result.timelines.items():
        scaling.append(
            {
                "workload": name,
                "under_minutes": under_provisioned_minutes(t.demand, t.capacity),
                "under_minutes_hpa": under_provisioned_minutes(t.demand, t.capacity_hpa),
                "pod_hours": round(pod_hours(t.replicas), 1),
                "pod_hours_hpa": round(pod_hours(t.replicas_hpa), 1),
            }
        )
    records = result.ledger.decisions(limit=100_000)
    decisions = []
    by_kind: dict[str, Counter[str]] = {}
    automation: dict[int, list[int]] = {}
    for d in sorted(records, key=lambda r: r.created_at):
        day = int((d.created_at - result.start) // 86400)
        by_kind.setdefault(d.kind, Counter())[f"{d.route}/{d.status}"] += 1
        if (
            d.kind != "anomaly"
            and d.route in ("auto", "ask", "escalate")
            and not is_hold(d.decision_type)
        ):
            automation.setdefault(day, [0, 0])
            automation[day][1] += 1
            # As `autonomic calibration` and the gauge count it: an automatic decision
            # held back past approvedMaxWait and closed expired never acted.
            automation[day][0] += counted_route(d.route, d.status) == "auto"
        if d.kind in ("remediation", "canary"):
            decisions.append(
                {
                    "at": d.created_at,
                    "day": (d.created_at - result.start) / 86400,
                    "kind": d.kind,
                    "type": d.decision_type,
                    "subject": d.subject,
                    "route": d.route,
                    "status": d.status,
                    "confidence": round(d.confidence, 3),
                    "reason": d.reason,
                    "id": d.id,
                }
            )
    anomalies = Counter(
        d.decision_type.removeprefix("anomaly/") for d in records if d.kind == "anomaly"
    )
    steps = Counter((op, target) for _, op, target in result.writes)
    intents = result.ledger.intents()
    seen: Counter[tuple[str, int]] = Counter((i.execution_key, i.step) for i in intents)
    return Summary(
        scaling=scaling,
        decisions=decisions,
        by_kind={k: dict(v) for k, v in by_kind.items()},
        canaries=canaries or [],
        anomalies=dict(anomalies),
        automation_by_day=[(day, a, n) for day, (a, n) in sorted(automation.items())],
        writes=Counter(op for op, _ in steps.elements()),
        duplicate_writes=sum(c - 1 for c in seen.values() if c > 1),
    )


# The most anomalous points one chart draws (each is a dot with its hover text).
MAX_ANOMALY_MARKERS = 400


def _ordinal(n: int) -> str:
    """``2nd``, ``3rd``, ``11th``, ``21st``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _anomaly_axis(key: str) -> str:
    """The y axis of an anomaly chart, with its unit: the simulation watches each
    workload's latency (``sim_latency_ms``) and error ratio (``sim_error_ratio``)."""
    name = key.split("{", 1)[0]
    if name.endswith("-latency"):
        return "latency (ms)"
    if name.endswith("-errors"):
        return "error ratio (errors / requests)"
    return "value"


def _about(note: str, workload: str) -> bool:
    """Whether a fault's note (``surge x2.5 on frontend``) is about ``workload``: by the
    name it ends with, so that a fault on ``cart-api`` is not drawn on ``cart``'s chart."""
    return note.endswith(f" on {workload}")


def _days(days: float) -> str:
    """``7 days``, ``1 day``, ``0.5 days``."""
    return f"{days:g} day" + ("" if days == 1 else "s")


def description(result: SimResult) -> str:
    """The scenario's description for the length simulated: ``{days}`` in it becomes
    ``7 days``, or ``1 day`` when ``--days 1`` runs a week's scenario for a day."""
    return result.scenario.metadata.description.replace("{days}", _days(result.seconds / 86400))


def _until(span: FaultSpan, end: float) -> tuple[float, str]:
    """When a fault stopped acting on the cluster (at the latest, the end of the run at
    ``end``), and what ended it."""
    until = end if span.end is None else min(span.end, end)
    if span.end is not None and span.end <= end:
        ended = span.ended
    elif span.end is not None:
        ended = "still on at the end of the run"
    else:
        ended = span.ended or "not ended by the end of the run"
    return until, ended


def _until_cell(span: FaultSpan | None, start: float, end: float) -> str:
    """The report's "until" cell of a fault: the day it stopped acting and what ended it
    (empty for an entry that is no fault: the delivery tool's promotion)."""
    if span is None:
        return ""
    until, ended = _until(span, end)
    return html.escape(f"day {(until - start) / 86400:.2f}: {ended}")


def _span(span: FaultSpan, start: float, end: float) -> Span:
    """A fault's band, from its injection to its end (or the end of the run), its label
    saying when and what ended it."""
    until, ended = _until(span, end)
    label = (
        f"{span.note}: day {(span.start - start) / 86400:.2f} to day "
        f"{(until - start) / 86400:.2f} ({ended})"
    )
    return Span(span.start, until, label)


def terminal_summary(result: SimResult, summary: Summary, *, peak_mb: float) -> str:
    days = result.seconds / 86400
    lines = [
        f"Simulated {_days(days)} of '{result.scenario.metadata.name}' in "
        f"{result.wall_seconds:.1f} s (peak memory {peak_mb:.0f} MB).",
        "",
        "Scaling (under-provisioned minutes: demand above ready capacity)",
        f"  {'workload':12} {'Autonomic':>10} {'HPA only':>10} {'pod-h':>9} {'pod-h HPA':>10}",
    ]
    for row in summary.scaling:
        lines.append(
            f"  {row['workload']:12} {row['under_minutes']:>10} {row['under_minutes_hpa']:>10} "
            f"{row['pod_hours']:>9} {row['pod_hours_hpa']:>10}"
        )
    lines += ["", "Decisions by job (route/status: count)"]
    for kind, counts in sorted(summary.by_kind.items()):
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        lines.append(f"  {kind:11} {shown}")
    lines += ["", "Remediations and canary verdicts"]
    if not summary.decisions:
        lines.append("  none")
    for d in summary.decisions:
        lines.append(
            f"  day {d['day']:4.1f}  {d['type'][:38]:38} {d['route']:8} {d['status']:9} "
            f"{d['confidence']:.2f}  {d['subject']}"
        )
    lines += ["", "Faults injected"]
    spans = {(s.start, s.note): s for s in result.fault_spans}
    end = result.start + result.seconds
    for at, note in result.faults:
        lines.append(f"  day {(at - result.start) / 86400:4.1f}  {note}")
        if (span := spans.get((at, note))) is not None:
            until, ended = _until(span, end)
            lines.append(f"            until day {(until - result.start) / 86400:.2f}: {ended}")
    if not result.faults:
        lines.append("  none")
    if late := _faults_after_the_end(result):
        lines.append(f"  ({late})")
    lines.append("")
    lines.append(
        f"Cluster writes: {dict(summary.writes)}; duplicated steps: {summary.duplicate_writes}"
    )
    return "\n".join(lines)


def _faults_after_the_end(result: SimResult) -> str:
    """What was left out when fewer days were simulated than the scenario's faults need."""
    late = [f for f in result.scenario.spec.faults if f.at >= result.seconds]
    if not late:
        return ""
    first = min(f.at for f in late) / 86400
    return (
        f"{len(late)} of the scenario's {len(result.scenario.spec.faults)} faults come after "
        f"the simulated {_days(result.seconds / 86400)} and were not injected; the first is "
        f"at day {first:.2f}: run more days (--days) to see them"
    )


CSS = (
    CHART_CSS
    + """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1180px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.route { padding: 1px 6px; border-radius: 3px; color: #fff; }
.note { color: #555; font-size: 13px; }
"""
)


def write_html(
    result: SimResult,
    summary: Summary,
    path: Path,
    *,
    peak_mb: float,
    canary_history: dict[str, list[tuple[float, str, float]]] | None = None,
) -> None:
    start = result.start
    end = start + result.seconds
    charts: list[str] = []
    spans = [(s.note, _span(s, start, end)) for s in result.fault_spans]
    for name, t in result.timelines.items():
        charts.append(
            Chart(
                f"{name}: demand against ready capacity (requests per minute)",
                "requests / min",
                [
                    Line("demand", t.minutes, t.demand, "#555555", 1.2),
                    Line("ready capacity, Autonomic", t.minutes, t.capacity, PALETTE[0], 1.6),
                    Line(
                        "ready capacity, HPA alone",
                        t.minutes,
                        t.capacity_hpa,
                        PALETTE[1],
                        1.2,
                        dashed=True,
                    ),
                ],
                spans=[span for note, span in spans if _about(note, name)],
                x_origin=start,
                x_min=start,
                x_max=end,
            ).render()
        )
    for key, all_points in sorted(result.anomaly_points.items()):
        # The detector's first read also scores the history before the window: not shown.
        points = [p for p in all_points if p[0] >= start]
        if not points:
            continue
        xs = [p[0] for p in points]
        markers = [
            Marker(p[0], p[1], f"{p[5]} at day {(p[0] - start) / 86400:.2f}")
            for p in points
            if p[5] and p[5] not in ("none", "warming_up", "missing")
        ]
        if not markers:
            continue
        title = f"anomalies: {key}"
        if len(markers) > MAX_ANOMALY_MARKERS:
            # Every n-th, so that the whole run keeps its dots (the first 400 alone left
            # the end of the week bare), and the title says how many are drawn.
            every = -(-len(markers) // MAX_ANOMALY_MARKERS)
            title += f" (every {_ordinal(every)} of {len(markers)} anomalous points drawn)"
            markers = markers[::every]
        charts.append(
            Chart(
                title,
                _anomaly_axis(key),
                [
                    Line("observed", xs, [p[1] for p in points], "#555555", 1.0),
                    Line("upper band", xs, [p[4] for p in points], PALETTE[2], 0.8, dashed=True),
                ],
                markers=markers,
                x_origin=start,
                x_min=start,
                x_max=end,
            ).render()
        )
    canary_chart = ""
    if canary_history:
        lines = []
        markers = []
        for i, (name, history) in enumerate(sorted(canary_history.items())):
            xs = [h[0] for h in history]
            lines.append(Line(name, xs, [h[2] for h in history], PALETTE[i % len(PALETTE)], 1.5))
            final = history[-1]
            markers.append(
                Marker(
                    final[0],
                    final[2],
                    f"{name}: {final[1]} ({final[2]:.2f})",
                    "#2ca02c" if final[1] == "promote" else "#d62728",
                    "triangle",
                )
            )
        canary_chart = Chart(
            "canary verdicts: the judge's confidence over each analysis",
            "confidence",
            lines,
            markers,
            x_origin=start,
            x_min=start,
            x_max=end,
            y_min=0,
            y_max=1,
        ).render()
    timeline = Chart(
        "remediation and canary decisions: confidence and route",
        "confidence",
        [],
        [
            Marker(
                d["at"],
                d["confidence"],
                f"{d['type']} on {d['subject']}: {d['route']}, {d['status']}",
                ROUTE_COLORS.get(d["route"], "#333"),
                "square",
            )
            for d in summary.decisions
        ],
        spans=[span for _, span in spans],
        x_origin=start,
        x_min=start,
        x_max=end,
        y_min=0,
        y_max=1,
    ).render()
    days = [d for d, _, _ in summary.automation_by_day]
    learned = Chart(
        "what the loop learned: automation rate by day and thresholds",
        "share / threshold",
        [
            Line(
                "automation rate (actionable decisions executed without asking)",
                [start + 86400 * (d + 0.5) for d in days],
                [a / n if n else 0.0 for _, a, n in summary.automation_by_day],
                PALETTE[0],
                2.0,
                dots=True,  # one point a day: a single day would otherwise draw nothing
            )
        ],
        [
            Marker(
                t["created_at"],
                t["auto"],
                f"{t['decision_type']}: auto {t['auto']:.2f}",
                PALETTE[3],
                "triangle",
            )
            for t in result.thresholds
        ],
        x_origin=start,
        x_min=start,
        x_max=end,
        y_min=0,
        y_max=1,
    ).render()
    rows = "".join(
        f"<tr><td>{html.escape(r['workload'])}</td><td class=num>{r['under_minutes']}</td>"
        f"<td class=num>{r['under_minutes_hpa']}</td><td class=num>{r['pod_hours']}</td>"
        f"<td class=num>{r['pod_hours_hpa']}</td></tr>"
        for r in summary.scaling
    )
    decision_rows = "".join(
        f"<tr><td>day {d['day']:.2f}</td><td>{html.escape(d['type'])}</td>"
        f'<td>{html.escape(d["subject"])}</td><td><span class=route style="background:'
        f'{ROUTE_COLORS.get(d["route"], "#333")}">{d["route"]}</span></td><td>{d["status"]}</td>'
        f"<td class=num>{d['confidence']:.2f}</td><td>{html.escape(d['reason'][:160])}</td>"
        f"<td><code>{html.escape(str(d['id']))}</code></td></tr>"
        for d in summary.decisions
    )
    if not summary.decisions:
        decision_rows = "<tr><td colspan=8>No remediation or canary decision in this run.</td></tr>"
    fault_spans = {(s.start, s.note): s for s in result.fault_spans}
    fault_rows = "".join(
        f"<tr><td>day {(at - start) / 86400:.2f}</td><td>{html.escape(note)}</td>"
        f"<td>{_until_cell(fault_spans.get((at, note)), start, end)}</td></tr>"
        for at, note in result.faults
    )
    if not result.faults:
        fault_rows = "<tr><td colspan=3>None.</td></tr>"
    late = _faults_after_the_end(result)
    late_note = f"<p class=note>{html.escape(late[0].upper() + late[1:])}.</p>" if late else ""
    anomaly_counts = (
        html.escape(", ".join(f"{k} {v}" for k, v in sorted(summary.anomalies.items()))) or "none"
    )
    notes = "".join(f"<p class=note><b>Note:</b> {html.escape(n)}</p>\n" for n in result.notes)
    generated = to_utc_text(datetime.now(UTC).timestamp())
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Autonomic simulation report</title>
<style>{CSS}</style></head><body>
<h1>Autonomic simulation: {html.escape(result.scenario.metadata.name)}</h1>
<p class=note>{html.escape(description(result))}
{_days(result.seconds / 86400)} simulated in {result.wall_seconds:.1f} s of wall time,
peak memory {peak_mb:.0f} MB. Generated {generated}.
Ledger: <code>{html.escape(result.ledger_url)}</code> (try
<code>autonomic explain ID --ledger ...</code> on any decision id below).</p>
{notes}<h2>Scaling: under-provisioned minutes and cost, Autonomic against the HPA alone</h2>
<table><tr><th>workload</th><th>under-provisioned min, Autonomic</th><th>HPA alone</th>
<th>pod-hours, Autonomic</th><th>HPA alone</th></tr>{rows}</table>
<p class=note>Under-provisioned: minutes when demand was above what the ready pods could
serve (the excess is dropped as errors). The HPA-only twin replays the same demand and faults
with nobody acting. In the charts below, a shaded band marks each fault for as long as it
acted on the cluster Autonomic ran (hover over it for which, and what ended it): a surge and
a failing node for their duration, a canary until the delivery tool promoted or retired it,
a bad rollout until it was rolled back (the HPA-only twin keeps it to the end), and a memory
leak from its start to the end of the run (raising the limit does not stop a leak).</p>
{"".join(charts[: len(result.timelines)])}
<h2>Remediation timeline</h2>
<p class=note>Each square is a decision: its height the confidence stated, its colour the
route (green: done automatically, orange: asked the on-call, red: escalated); the shaded
bands are the faults, drawn as above.</p>{timeline}
<table><tr><th>when</th><th>decision type</th><th>on</th><th>route</th><th>status</th>
<th>confidence</th><th>why</th><th>decision id</th></tr>{decision_rows}</table>
<h2>Canary verdicts</h2>{canary_chart or "<p>No canary ran.</p>"}
<h2>What the loop learned</h2>{learned}
<h2>Anomalies</h2>
<p class=note>Anomaly incidents recorded, by series: {anomaly_counts}. In each chart,
a red dot is a point the detector scored as anomalous (confidence 0.99 or more), labelled
with the reason; consecutive such points make one incident.</p>
{"".join(charts[len(result.timelines) :])}
<h2>Faults injected</h2><table><tr><th>when</th><th>what</th><th>until</th></tr>{fault_rows}</table>
{late_note}
</body></html>
"""
    path.write_text(document, encoding="utf-8")
