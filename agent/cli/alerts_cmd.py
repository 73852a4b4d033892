"""`autonomic alerts list [--given-up]`, `autonomic alerts retry ID`.

The alerts the Alertmanager webhook stored in the ledger that are waiting for the leader's
remediation cycle, and those given up: handling one on its own failed at 5 cycles (counted
on the alert's row, by whichever replica led), so no replica tries it again. Each line
gives the alert's id, its state, when it was first delivered, its name and fingerprint,
its failed attempts, and the latest error.

`retry ID` makes a given-up alert pending again, its attempts set back to 0: the leader's
next cycle takes it in (and gives it up again after 5 more failures). Retry once the cause
is fixed (a runbook corrected, the daemon upgraded).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from agent.cli._context import add_ledger_flags, ledger_from, utc_text
from agent.cli._numbers import whole_arg
from agent.errors import InputError

if TYPE_CHECKING:
    from agent.ledger import StoredAlert


def register(sub: argparse._SubParsersAction[Any]) -> None:
    alerts = sub.add_parser(
        "alerts",
        help="list stored alerts waiting or given up; retry a given-up one",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = alerts.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list", help="the stored alerts waiting for a remediation cycle, and those given up"
    )
    listing.add_argument("--given-up", action="store_true", help="only the alerts given up")
    listing.add_argument(
        "--limit", type=whole_arg, default=50, metavar="N", help="lines at most, newest first (50)"
    )
    listing.add_argument("--json", action="store_true", help="print the alerts as JSON")
    add_ledger_flags(listing)
    listing.set_defaults(handler=list_alerts)
    retry = actions.add_parser(
        "retry", help="make a given-up alert pending again, its failed attempts set to 0"
    )
    retry.add_argument("id", type=whole_arg, help="the alert's id, as `alerts list` shows it")
    add_ledger_flags(retry)
    retry.set_defaults(handler=retry_alert)


def list_alerts(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    ledger = ledger_from(args)
    try:
        rows = ledger.stored_alerts(given_up=args.given_up, limit=args.limit + 1)
    finally:
        ledger.close()
    more, rows = len(rows) > args.limit, rows[: args.limit]
    if args.json:
        print(json.dumps([{**asdict(row), "state": row.state} for row in rows], indent=2))
        return 0
    if not rows:
        print("no alerts given up" if args.given_up else "no alerts waiting or given up")
        return 0
    print(f"{'id':>6}  {'state':8}  {'first delivered':23}  {'attempts':8}  alert")
    for row in rows:
        print(
            f"{row.id:>6}  {row.state:8}  {utc_text(row.received_at):23}  {row.attempts:>8}  "
            f"{row.name} ({row.status}, fingerprint {row.fingerprint})"
        )
        if row.last_error is not None and row.last_attempt_at is not None:
            print(f"{'':8}last error, {utc_text(row.last_attempt_at)}: {_one_line(row.last_error)}")
    if more:
        print(f"(only the newest {args.limit}; --limit N shows more)")
    if any(row.state == "given-up" for row in rows):
        print("`autonomic alerts retry ID` makes a given-up alert pending again")
    return 0


def retry_alert(args: argparse.Namespace) -> int:
    ledger = ledger_from(args)
    try:
        if ledger.retry_alert(args.id):
            print(
                f"alert {args.id} is pending again with 0 attempts: the leader's next "
                "remediation cycle takes it in"
            )
            return 0
        row = ledger.get_alert(args.id)
    finally:
        ledger.close()
    raise InputError(_not_retried(args.id, row))


def _not_retried(alert_id: int, row: StoredAlert | None) -> str:
    if row is None:
        return (
            f"no stored alert has id {alert_id} (handled alerts are pruned 30 days after "
            "their last delivery); `autonomic alerts list --given-up` shows the ids"
        )
    if row.state == "pending":
        return (
            f"alert {alert_id} ({row.name}) is not given up: it is pending, with "
            f"{row.attempts} failed attempts, and the leader's next cycle tries it"
        )
    return f"alert {alert_id} ({row.name}) is not given up: it was handled"


def _one_line(text: str) -> str:
    return " ".join(text.split())
