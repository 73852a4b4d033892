"""`autonomic history [SUBJECT] [--since DURATION] [--job JOB] [--route ROUTE] [--status S]`:
what Autonomic decided, across every job, newest first.

One line a decision: when it was made (UTC, as every command says its times), its id
(the first 12 characters, as `autonomic explain ID` takes it), the job that made it
(scaling, anomaly, canary, remediation: the ledger's kind), its subject, its stated
confidence, its route (auto, ask, escalate; observe and shadow when the job or the daemon
only watches), its status now (proposed, asked, approved, rejected, expired, executing,
verifying, verified, done, failed, undo-requested, undone, escalated, observed, shadowed,
superseded), who answered its question when a person did (approved or rejected, in Slack
or with `autonomic approvals`), and what it proposed, shortened (`explain` has it whole).
A footer totals the decisions of the window and filters, listed or not, by route and
status.

--since is counted back from now (24h by default); `--since all` lists the whole ledger.
When the window holds nothing but the ledger keeps older decisions (a ledger `simulate
--ledger` wrote keeps its trace's clock, often years back), the newest one's time is
said, with a --since that reaches it.

Listed: every decision recorded, including two kinds `autonomic calibration` leaves out:
hand-offs (decision type held/RUNBOOK or storm: a guard held a runbook back and handed
the incident to a person; they propose nothing to run and show no confidence), and
decisions routed observe or shadow (recorded, never acted on). Not listed: what a
runbook saw and held back from without a decision (`autonomic why`), questions as such
(`autonomic approvals list --all`), verdicts and other feedback (`autonomic explain ID`).

SUBJECT is matched as `autonomic why` matches it: Deployment/shop/web, its leading or
trailing parts (shop/web, web; a workload's name also names its pods), kinds as kubectl
writes them (deploy/shop/web).

--json prints a JSON list, newest first, one object a decision with the keys: id,
created_at (epoch seconds), time (ISO 8601, UTC), job, decision_type, subject, proposed
(the short text), confidence (0 to 1), route, status, held_past_max_wait (true for an
expired decision that was approved but held back past safety.approvedMaxWait, never
run), answered_by (null unless a person answered), reason_code, hand_off (true for a
hand-off). When more decisions match than --limit, stderr says how many.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agent.cli._context import (
    SINCE_ALL,
    add_ledger_flags,
    ledger_from,
    older_records,
    since_seconds,
    take_negative_values,
)
from agent.cli._numbers import whole_arg
from agent.cli.explain_cmd import proposal_said
from agent.cli.why_cmd import subject_named
from agent.errors import InputError
from agent.ids import short_id
from agent.routing import confidence_percent
from agent.verdicts import CARRIED_OUT, status_said
from remediation.durations import format_duration

if TYPE_CHECKING:
    from agent.ledger import HistoryRow

JOBS = ("scaling", "anomaly", "canary", "remediation")
# Routes in the order the footer says them, and how it says each.
ROUTES = {
    "auto": "automatic",
    "ask": "asked",
    "escalate": "escalated",
    "observe": "observed",
    "shadow": "shadowed",
}
# Decision statuses the ledger records (`--status` refuses any other: a typo would list
# nothing and read as a quiet night).
STATUSES = frozenset(
    {"proposed", "asked", "escalated", "observed", "shadowed", "superseded", "expired"}
    | CARRIED_OUT
)
PROPOSAL_CHARS = 80


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "history",
        help="what Autonomic decided, every job, newest first, with a total by route and status",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "subject",
        nargs="?",
        help="only decisions about this: Deployment/shop/web, shop/web, web, Node/worker-2",
    )
    parser.add_argument(
        "--since",
        metavar="DURATION",
        default="24h",
        help=f"decisions made within this long before now: 30m, 8h, 7d, or {SINCE_ALL} "
        "(default 24h)",
    )
    parser.add_argument("--job", choices=JOBS, help="only this job's decisions")
    parser.add_argument("--route", choices=tuple(ROUTES), help="only decisions so routed")
    parser.add_argument(
        "--status",
        action="append",
        metavar="STATUS",
        help="only decisions in this status now (verified, rejected, expired, ...); "
        "give it again for several",
    )
    parser.add_argument(
        "--limit", type=whole_arg, default=50, metavar="N", help="lines at most (default 50)"
    )
    parser.add_argument("--json", action="store_true", help="print the decisions as JSON")
    take_negative_values(parser)  # "--since -5m" is refused as a duration
    add_ledger_flags(parser)
    parser.set_defaults(handler=history)


def history(args: argparse.Namespace) -> int:
    now = time.time()
    window = since_seconds(args.since)
    if args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    if args.subject is not None and not args.subject.strip():
        raise InputError(
            "SUBJECT is empty: give one (Deployment/shop/web, shop/web or web), or leave it "
            "out for everything"
        )
    unknown = sorted(set(args.status or ()) - STATUSES)
    if unknown:
        raise InputError(
            f"--status {', '.join(unknown)}: no decision has this status; "
            f"one of {', '.join(sorted(STATUSES))}"
        )
    subject = subject_named(args.subject) if args.subject else None
    filters: dict[str, Any] = {
        "kind": args.job,
        "route": [args.route] if args.route else None,
        "status": args.status,
        "since": None if window is None else now - window,
        "subject": subject,
    }
    ledger = ledger_from(args)
    try:
        rows = ledger.decision_history(**filters, limit=args.limit + 1)
        totals = ledger.decision_totals(**filters) if len(rows) > args.limit else None
        # Nothing in the window, on a ledger that keeps older decisions (one `simulate`
        # wrote, on its trace's clock): said, with when the newest was.
        older = None
        if not rows and window is not None:
            newest = ledger.decision_history(**{**filters, "since": None}, limit=1)
            older = older_records(
                "decision" + _scope(args, subject),
                newest[0].record.created_at if newest else None,
                now,
            )
    finally:
        ledger.close()
    shown = rows[: args.limit]
    if totals is None:  # all of them are listed: counted here, with no second query
        totals = dict(Counter((row.record.route, row.record.status) for row in shown))
    hidden = sum(totals.values()) - len(shown)
    if args.json:
        print(json.dumps([row_json(row) for row in shown], indent=2))
        if hidden > 0:
            print(f"{hidden} older decisions not listed (--limit {args.limit})", file=sys.stderr)
        if older:
            print(older, file=sys.stderr)
        return 0
    scope = _scope(args, subject)
    since = None if window is None else format_duration(window)
    lines = render(shown, totals, scope, since, hidden)
    if older:
        lines.insert(1, older)
    print("\n".join(lines))
    return 0


def render(
    rows: Sequence[HistoryRow],
    totals: Mapping[tuple[str, str], int],
    scope: str,
    since: str | None,
    hidden: int = 0,
) -> list[str]:
    """The lines ``history`` prints: a header, one line a decision, the footer
    (``since``: the window as a duration, None for the whole ledger)."""
    period = "in the ledger" if since is None else f"in the last {since}"
    if not rows:
        return [
            f"No decisions{scope} {period}.",
            "What runbooks saw and held back from without deciding: `autonomic why`.",
        ]
    cells = [_cells(row) for row in rows]
    heads = ("when", "id", "job", "subject", "conf", "route", "status", "answered")
    widths = [max(len(head), *(len(c[i]) for c in cells)) for i, head in enumerate(heads)]
    lines = [f"Decisions{scope} {period}, newest first (times UTC):"]
    lines.append(_columns((*heads, "proposed"), widths))
    lines += [_columns(c, widths) for c in cells]
    if hidden > 0:
        lines.append(
            f"({hidden} older not listed: raise --limit, or narrow it with SUBJECT, --job, "
            "--route, --status or --since)"
        )
    lines.append(footer(totals, since or "the ledger"))
    return lines


def footer(totals: Mapping[tuple[str, str], int], since: str) -> str:
    """``41 decisions in 24h: 30 automatic (28 verified, 2 failed), 8 asked (6 approved,
    1 rejected, 1 expired), 3 escalated``: each route, then what became of its decisions
    (an asked one the person approved counts as approved, whatever came of it after)."""
    by_route: dict[str, Counter[str]] = {}
    for (route, status), count in totals.items():
        said = "approved" if route == "ask" and status in CARRIED_OUT - {"rejected"} else status
        said = "waiting" if route == "ask" and status in ("asked", "proposed") else said
        by_route.setdefault(route, Counter())[said] += count
    order = [*(r for r in ROUTES if r in by_route), *sorted(set(by_route) - set(ROUTES))]
    parts = []
    for route in order:
        counts = by_route[route]
        name = ROUTES.get(route, route)
        part = f"{counts.total()} {name}"
        if list(counts) != [name]:
            part += f" ({', '.join(f'{n} {s}' for s, n in counts.most_common())})"
        parts.append(part)
    total = sum(totals.values())
    noun = "decision" if total == 1 else "decisions"
    return f"{total} {noun} in {since}: {', '.join(parts)}"


def row_json(row: HistoryRow) -> dict[str, Any]:
    record = row.record
    return {
        "id": record.id,
        "created_at": record.created_at,
        "time": datetime.fromtimestamp(record.created_at, UTC).isoformat(timespec="seconds"),
        "job": record.kind,
        "decision_type": record.decision_type,
        "subject": record.subject,
        "proposed": _proposed(row),
        "confidence": record.confidence,
        "route": record.route,
        "status": record.status,
        "held_past_max_wait": row.past_max_wait,
        "answered_by": row.answered_by,
        "reason_code": record.reason_code,
        "hand_off": _hand_off(record.decision_type),
    }


def _cells(row: HistoryRow) -> tuple[str, ...]:
    record = row.record
    hand_off = _hand_off(record.decision_type)
    status = status_said(
        record.status, [{"kind": "execution", "outcome": "expired"}] if row.past_max_wait else ()
    )
    answered = ""
    if row.answered_by:
        verb = "rejected" if record.status == "rejected" else "approved"
        answered = f"{row.answered_by} {verb}"
    proposed = _proposed(row)
    if len(proposed) > PROPOSAL_CHARS:
        proposed = proposed[: PROPOSAL_CHARS - 1] + "…"
    return (
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created_at)),
        short_id(record.id),
        record.kind,
        record.subject,
        "-" if hand_off else confidence_percent(record.confidence),
        record.route,
        status,
        answered or "-",
        proposed,
    )


def _proposed(row: HistoryRow) -> str:
    record = row.record
    if _hand_off(record.decision_type):
        return f"hand-off to a person ({record.decision_type}, {record.reason_code})"
    return proposal_said(record.proposal)


def _hand_off(decision_type: str) -> bool:
    from agent.ledger import is_hold

    return is_hold(decision_type)


def _columns(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=False)]
    return "  ".join([*padded, *cells[len(widths) :]]).rstrip()


def _scope(args: argparse.Namespace, subject: str | None) -> str:
    parts = []
    if subject:
        parts.append(f" about {subject}")
    if args.job:
        parts.append(f" of {args.job}")
    if args.route:
        parts.append(f" routed {args.route}")
    if args.status:
        parts.append(f" now {' or '.join(args.status)}")
    return "".join(parts)
