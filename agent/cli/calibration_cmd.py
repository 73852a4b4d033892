"""`autonomic calibration`: is the stated confidence true, and how much is automated?

Reads the ledger's recorded outcomes (verified = right; rejected, failed verification or
undone = wrong) and shows:

- the reliability table: decisions binned by the confidence they were made with, the
  share of each bin that turned out right, and the expected calibration error (the
  count-weighted gap between stated and observed); if "90 %" does not mean 90 %, the
  routing thresholds mean nothing either;
- per decision type: the current thresholds (learned, or the configured defaults), the
  automation rate (automatic decisions that acted / all actionable decisions: one held
  back past `safety.approvedMaxWait` and closed `expired` never ran, and counts as
  escalated), the human correction rate
  (decisions a person rejected or undid / all actionable decisions), and how far the
  type is from acting alone: its confidence now, for a signal as sure as its newest
  decision's, and how many more right outcomes in a row would take it to `auto`
  ("capped" when its runbook never lets it act alone); and, for a type whose thresholds
  were moved, when, by whom and why the newest move was made.

These are the ledger's own verdicts: an action on a false trigger that verified and that
nobody undid counts as right here.

The window: the types listed are every type the ledger keeps a decision of; each
type's counts and rates are over its own newest 100,000 decisions (the actionable ones
among them), and its outcomes over its newest 100,000 decisions with a verdict. The
counts are made by the database: a large ledger is not read row by row.

--plot FILE.svg also draws the reliability diagram: observed rightness against mean
stated confidence per bin, with the diagonal of perfect calibration.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from agent.calibration import MACHINE_ACTORS
from agent.cli._context import (
    add_ledger_flags,
    ledger_from,
    ledger_path,
    ledger_url,
    refuse_overwriting_inputs,
    settings_from,
)
from agent.cli._numbers import whole_arg
from agent.cli._plot import add_plot_flag, check_plot_path

if TYPE_CHECKING:
    from agent.calibration import Outcome, ReliabilityBin
    from agent.charts import Chart
    from agent.ledger import Ledger
    from agent.settings import RoutingSettings

__all__ = [
    "CalibrationReport",
    "TypeCalibration",
    "calibration_report",
    "register",
    "reliability_chart",
    "render_markdown",
    "render_text",
    "show",
]

ACTIONABLE = ("auto", "ask", "escalate")


@dataclass(frozen=True)
class TypeCalibration:
    decision_type: str
    auto: float
    ask: float
    learned: bool  # thresholds recalibrated from outcomes, not the configured defaults
    decisions: int  # actionable: routed auto, ask or escalate
    automatic: int
    asked: int
    escalated: int
    automation_rate: float
    outcomes: int  # decisions with a recorded right/wrong verdict
    right: int
    corrections: int  # rejected or undone by a person
    correction_rate: float
    # For a signal as sure as the newest routed decision's: the confidence the type's
    # record gives it now, and how many more right outcomes in a row would take it to
    # ``auto`` (0: there already; None: not within 1,000). ``capped`` is the runbook's
    # maxAutonomy when it is below "auto": then no record makes it act alone.
    confidence_now: float | None = None
    until_auto: int | None = None
    capped: str | None = None
    # The newest stored move of the pair (None before calibration or a person moved it):
    # when, who (``autonomic`` or the person), and why (reason code: sentence).
    moved_at: float | None = None
    moved_by: str | None = None
    move_reason: str | None = None


@dataclass(frozen=True)
class CalibrationReport:
    bins: tuple[ReliabilityBin, ...]
    ece: float
    outcomes: int
    types: tuple[TypeCalibration, ...]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    cmd = sub.add_parser(
        "calibration",
        help="reliability of stated confidence, thresholds and automation per decision type",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_ledger_flags(cmd)
    cmd.add_argument("--type", dest="decision_type", help="only this decision type")
    cmd.add_argument("--bins", type=whole_arg, default=10, help="confidence bins (default 10)")
    cmd.add_argument("--json", action="store_true", help="print JSON instead of tables")
    add_plot_flag(cmd, "the reliability diagram")
    cmd.set_defaults(handler=show)


def show(args: argparse.Namespace) -> int:
    from agent.errors import InputError

    if not 1 <= args.bins <= 100:
        raise InputError(f"--bins must be between 1 and 100, got {args.bins}")
    plot = getattr(args, "plot", None)
    check_plot_path(plot)
    settings = settings_from(args)
    # A plot written over the ledger's own SQLite file would replace the ledger.
    refuse_overwriting_inputs(plot, ledger_path(ledger_url(args, settings)))
    ledger = ledger_from(args, settings)
    try:
        report = calibration_report(
            ledger, settings.routing, decision_type=args.decision_type, bins=args.bins
        )
    finally:
        ledger.close()
    if args.decision_type and not report.types:
        raise InputError(
            f"the ledger has no actionable decisions of type {args.decision_type!r}; "
            "run without --type to list the types it has"
        )
    if args.json:
        print(json.dumps(asdict(report), indent=2, sort_keys=True))
    else:
        print("\n".join(render_text(report)))
    if plot is not None:
        from agent.cli._plot import write_plot

        write_plot(reliability_chart(report, args.decision_type), plot)
    return 0


def reliability_chart(report: CalibrationReport, decision_type: str | None = None) -> Chart:
    """The reliability diagram: a dot per non-empty bin at (mean stated confidence,
    observed rightness), its count in the dot's title, and the diagonal of perfect
    calibration dashed; the expected calibration error is in the title."""
    from agent.charts import PALETTE, Chart, Line, Marker

    scope = f" of {decision_type}" if decision_type else ""
    if report.bins:
        title = (
            f"reliability of stated confidence{scope}: {report.outcomes} outcomes, "
            f"ECE {report.ece:.3f}"
        )
    elif report.types:
        title = f"reliability of stated confidence{scope}: no recorded outcomes yet"
    else:
        title = "reliability of stated confidence: no actionable decisions in the ledger yet"
    xs = [b.mean_confidence for b in report.bins]
    ys = [b.observed_rate for b in report.bins]
    lines = [
        Line("perfect calibration", [0.0, 1.0], [0.0, 1.0], "#999999", 1.0, dashed=True),
        Line("observed right, per confidence bin", xs, ys, PALETTE[0], 1.5),
    ]
    markers = [
        Marker(
            b.mean_confidence,
            b.observed_rate,
            f"confidence {b.low:.2f}-{b.high:.2f}: {b.count} decisions, "
            f"stated {b.mean_confidence:.3f}, right {b.observed_rate:.3f}",
            PALETTE[0],
        )
        for b in report.bins
    ]
    return Chart(
        title,
        "observed share right",
        lines,
        markers,
        width=680,
        height=480,
        x_axis="value",
        x_label="mean stated confidence",
        x_min=0.0,
        x_max=1.0,
        y_min=0.0,
        y_max=1.0,
    )


def calibration_report(
    ledger: Ledger,
    routing: RoutingSettings,
    *,
    decision_type: str | None = None,
    bins: int = 10,
    limit: int = 100_000,
    now: float | None = None,
) -> CalibrationReport:
    """Build the report from the ledger, as of ``now`` (the wall clock unless given).

    The window: the types are every type the ledger keeps a decision of; each type's
    counts are over its newest ``limit`` decisions (the actionable ones among them), its
    outcomes over its newest ``limit`` decisions with a verdict. The counts are grouped
    in the database and no evidence or proposal is read but one decision's routing
    record per type."""
    from agent.calibration import Outcome, counted_route, reliability
    from agent.decisions import routed_defaults
    from agent.ledger import is_hold
    from agent.routing import Thresholds

    now = time.time() if now is None else now
    if decision_type is not None:
        names = [decision_type]
    else:
        # Hand-offs and storms propose nothing to judge: not a type to calibrate.
        names = [t for t in sorted(ledger.decision_types(since=0.0)) if not is_hold(t)]
    every: list[Outcome] = []
    types: list[TypeCalibration] = []
    last_moves: dict[str, dict[str, Any]] = {}
    for row in ledger.threshold_history():  # oldest first: the newest move stays
        last_moves[row["decision_type"]] = row
    for name in names:
        tally = ledger.route_tally(
            name, routes=ACTIONABLE, limit=limit, machine_actors=MACHINE_ACTORS
        )
        decisions = sum(n for n, _ in tally.values())
        if not decisions:
            continue
        rows = ledger.outcomes(name, limit=limit)
        outcomes = [Outcome(at, conf, verdict == "right", via) for at, conf, verdict, via in rows]
        every.extend(outcomes)
        # Corrected: a person said it was wrong (rejected the question, or undid what
        # was done) and that is still its newest verdict (a later ``--right`` takes it
        # back, as in the track record); a hindsight verdict on a proposal nobody acted
        # on corrects nothing the daemon did.
        corrections = sum(fixed for _, fixed in tally.values())
        stored = ledger.thresholds(name)
        if stored is not None:
            auto, ask = stored
        else:  # the type's own defaults, as its newest decision was routed with them
            found = routed_defaults(
                ledger.decisions(decision_type=name, limit=20),
                Thresholds(auto=routing.auto, ask=routing.ask),
            )
            auto, ask = found.auto, found.ask
        # An automatic decision held back and closed expired never acted: escalated.
        counted: dict[str, int] = {}
        for (route, status), (n, _) in tally.items():
            key = counted_route(route, status)
            counted[key] = counted.get(key, 0) + n
        automatic = counted.get("auto", 0)
        evidence = ledger.newest_evidence(name, _routed, routes=ACTIONABLE, limit=limit)
        standing = (
            {}
            if evidence is None
            else _standing(ledger, routing, name, evidence, outcomes, auto, now)
        )
        types.append(
            TypeCalibration(
                decision_type=name,
                auto=auto,
                ask=ask,
                learned=stored is not None,
                decisions=decisions,
                automatic=automatic,
                asked=counted.get("ask", 0),
                escalated=counted.get("escalate", 0),
                automation_rate=automatic / decisions,
                outcomes=len(outcomes),
                right=sum(o.right for o in outcomes),
                corrections=corrections,
                correction_rate=corrections / decisions,
                **standing,
                **_last_move(last_moves.get(name)),
            )
        )
    table, ece = reliability(every, bins=bins) if every else ([], 0.0)
    return CalibrationReport(tuple(table), ece, len(every), tuple(types))


def _routed(evidence: dict[str, Any]) -> bool:
    """The decision's evidence records how it was routed (the signal, the prior, the
    cap, the siblings), as the decision service writes it."""
    routing_evidence = evidence.get("routing")
    return isinstance(routing_evidence, dict) and "signal_confidence" in routing_evidence


def _standing(
    ledger: Ledger,
    routing: RoutingSettings,
    decision_type: str,
    evidence: dict[str, Any],
    outcomes: Sequence[Outcome],
    auto: float,
    now: float,
) -> dict[str, Any]:
    """The type's confidence now and its distance to ``auto``, from the ``evidence`` of
    its newest decision that records how it was routed (``_routed``); the same record
    and settings the decision service uses."""
    from agent.calibration import Outcome, clean_outcomes_to_reach, track_record_confidence

    routing_evidence = evidence["routing"]
    cap = routing_evidence.get("max_autonomy", "auto")
    siblings = routing_evidence.get("siblings", {})
    lent = [
        Outcome(at, conf, verdict == "right", via)
        for sibling in (siblings.get("types", []) if isinstance(siblings, dict) else [])
        if sibling != decision_type
        for at, conf, verdict, via in ledger.outcomes(sibling, limit=routing.window * 4)
    ]
    own = sorted(outcomes, key=lambda o: o.at, reverse=True)[: routing.window * 4]
    prior_success = float(routing_evidence.get("prior_success", 0.75))
    signal = float(routing_evidence["signal_confidence"])

    def confidence_after(extra: int) -> float:
        """The confidence now with ``extra`` more right outcomes arriving at once (time
        does not stand still, so the count is a lower bound when they come slowly)."""
        fresh = [Outcome(now, 1.0, True, "ask")] * extra
        return track_record_confidence(
            signal,
            [*fresh, *own],
            now,
            prior_strength=routing.prior_strength,
            prior_success=prior_success,
            half_life=routing.memory,
            siblings=lent,
            sibling_weight=routing.sibling_weight,
            sibling_cap=routing.sibling_cap,
        )

    return {
        "confidence_now": round(confidence_after(0), 4),
        "until_auto": clean_outcomes_to_reach(auto, confidence_after),
        "capped": cap if cap != "auto" else None,
    }


def _last_move(row: dict[str, Any] | None) -> dict[str, Any]:
    """When, by whom and why a type's thresholds were last moved, from its newest row in
    the ledger's ``thresholds`` table. Recalibration's moves recorded no actor before
    session 37: every move that is not ``SetByHand`` is its own."""
    if row is None:
        return {}
    evidence = row.get("evidence") or {}
    code = str(evidence.get("reason_code") or "?")
    actor = evidence.get("actor") or ("autonomic" if code != "SetByHand" else "?")
    message = evidence.get("message")
    return {
        "moved_at": float(row["created_at"]),
        "moved_by": str(actor),
        "move_reason": f"{code}: {message}" if message else code,
    }


def _moved(t: TypeCalibration) -> str:
    from remediation.windows import to_utc_text

    assert t.moved_at is not None
    return f"{t.decision_type}: moved {to_utc_text(t.moved_at)} by {t.moved_by} ({t.move_reason})"


def render_text(report: CalibrationReport) -> list[str]:
    if not report.types:
        return ["no actionable decisions in the ledger yet"]
    lines = [f"Reliability of stated confidence ({report.outcomes} decisions with an outcome)"]
    if report.bins:
        # Four decimals, the right ones counted, and each bin's share of the expected
        # calibration error (its count / all x |gap|): the shares add up to the error.
        lines.append(
            f"  {'confidence':<13} {'decisions':>9} {'right':>6} {'stated':>7} "
            f"{'observed':>8} {'gap':>8} {'ECE share':>9}"
        )
        for b in report.bins:
            gap = b.observed_rate - b.mean_confidence
            share = b.count / report.outcomes * abs(gap)
            right = round(b.observed_rate * b.count)
            lines.append(
                f"  {_edge(b.low)}-{_edge(b.high):<{12 - len(_edge(b.low))}} {b.count:>9} "
                f"{right:>6} {b.mean_confidence:>7.4f} {b.observed_rate:>8.4f} {gap:>+8.4f} "
                f"{share:>9.4f}"
            )
        lines.append(f"  expected calibration error: {report.ece:.4f} (the sum of the shares)")
    else:
        lines.append("  no recorded right/wrong outcomes yet")
    lines.append("")
    width = max(len("decision type"), *(len(t.decision_type) for t in report.types))
    lines.append(
        f"{'decision type':<{width}}  {'auto':>5} {'ask':>5}  {'decisions':>9} "
        f"{'automatic':>9} {'asked':>5} {'escal.':>6}  {'automation':>10}  "
        f"{'corrections':>11}  {'correction rate':>15}  {'conf. now':>9}  {'to auto':>11}"
    )
    for t in report.types:
        mark = "" if t.learned else "*"
        lines.append(
            f"{t.decision_type:<{width}}  {_edge(t.auto):>5} {_edge(t.ask):>5}{mark:1} "
            f"{t.decisions:>9} "
            f"{t.automatic:>9} {t.asked:>5} {t.escalated:>6}  {t.automation_rate:>10.1%}  "
            f"{t.corrections:>11}  {t.correction_rate:>15.1%}  {_conf_now(t):>9}  "
            f"{_to_auto(t):>11}"
        )
    if any(not t.learned for t in report.types):
        lines.append("* configured defaults: not recalibrated yet")
    moved = [t for t in report.types if t.moved_at is not None]
    if moved:
        lines.append("thresholds last moved:")
        lines.extend(f"  {_moved(t)}" for t in moved)
    for cap in sorted({t.capped for t in report.types if t.capped is not None}):
        lines.append(
            f"capped ({cap}): the runbook's maxAutonomy is {cap}, so the type never acts "
            "alone, whatever its confidence and its auto threshold"
        )
    lines.append(
        "conf. now: what the type's record gives a signal as sure as its newest decision's; "
        "to auto: right outcomes in a row that would take it to its auto threshold"
    )
    return lines


def render_markdown(report: CalibrationReport) -> list[str]:
    if not report.types:
        return ["No actionable decisions in the ledger yet."]
    lines = [
        f"Reliability ({report.outcomes} decisions with a recorded outcome), "
        f"expected calibration error **{report.ece:.4f}** (the sum of the bins' shares):",
        "",
        "| stated confidence | decisions | right | mean stated | observed right | ECE share |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for b in report.bins:
        share = b.count / report.outcomes * abs(b.observed_rate - b.mean_confidence)
        lines.append(
            f"| {_edge(b.low)}–{_edge(b.high)} | {b.count} | {round(b.observed_rate * b.count)} | "
            f"{b.mean_confidence:.4f} | {b.observed_rate:.4f} | {share:.4f} |"
        )
    lines += [
        "",
        "| decision type | auto | ask | decisions | automatic | asked | escalated | "
        "automation | human corrections | confidence now | right in a row to auto |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in report.types:
        mark = "" if t.learned else " (default)"
        lines.append(
            f"| {t.decision_type} | {_edge(t.auto)}{mark} | {_edge(t.ask)} | {t.decisions} | "
            f"{t.automatic} | {t.asked} | {t.escalated} | {t.automation_rate:.1%} | "
            f"{t.corrections} ({t.correction_rate:.1%}) | {_conf_now(t)} | {_to_auto(t)} |"
        )
    return lines


def _edge(value: float) -> str:
    """A bin edge or a threshold with the digits it has, at least two: 0.90, 0.125, 0.995
    (0.995 shown as 0.99 or 1.00 is not the threshold in force)."""
    text = f"{value:.4f}".rstrip("0")
    return text + "0" * max(0, 2 - len(text.split(".")[1]))


def _conf_now(t: TypeCalibration) -> str:
    return "-" if t.confidence_now is None else f"{t.confidence_now:.3f}"


def _to_auto(t: TypeCalibration) -> str:
    """Right outcomes in a row to ``auto``: "capped (ask)" when the runbook never lets the
    type act alone, ">1000" when no plausible record gets there, "-" when unknown."""
    if t.capped is not None:
        return f"capped ({t.capped})"
    if t.confidence_now is None:
        return "-"
    return ">1000" if t.until_auto is None else str(t.until_auto)
