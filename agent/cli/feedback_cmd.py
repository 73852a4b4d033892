"""`autonomic feedback DECISION_ID --wrong|--right`: a person's verdict on a decision.

Most verdicts are recorded without anyone typing them: a question's answer, a
verification, an automatic undo. This is for the rest. An action that verified but was
still the wrong thing to do ("it rolled back, but the release was fine; the database was
down"), or one a person undid by hand, is wrong; say so, and the decision type's track
record and its `auto` threshold learn from it at the next routing and the next
recalibration. `--right` confirms a decision whose verification could not tell.

The verdict is recorded against the decision in the ledger as the person's correction
(the newest verdict on a decision is the one that counts) and shows in `autonomic explain`
and `autonomic calibration`. Nothing in the cluster is changed. Only decisions that were
routed (automatic, asked or escalated) and carried out, or were answered, can be judged;
the same person giving the same verdict twice records it once.
"""

from __future__ import annotations

import argparse
import getpass
import time
from typing import Any

from agent.cli._context import add_ledger_flags, ledger_from
from agent.errors import InputError

# Decisions a person can judge: something was done, or an answer was given.
JUDGEABLE = frozenset(
    {"approved", "executing", "verifying", "verified", "done", "failed", "undone", "rejected"}
)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    cmd = sub.add_parser(
        "feedback",
        help="say a decision was right or wrong, so the next one learns from it",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("id", help="decision id (a unique prefix is enough)")
    verdict = cmd.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--wrong", action="store_false", dest="right", help="it was wrong")
    verdict.add_argument("--right", action="store_true", dest="right", help="it was right")
    cmd.add_argument("--reason", help="why (recorded in the ledger, shown by explain)")
    cmd.add_argument("--as", dest="actor", help="who says so (default: cli:$USER)")
    add_ledger_flags(cmd)
    cmd.set_defaults(handler=give)


def give(args: argparse.Namespace) -> int:
    ledger = ledger_from(args)
    try:
        found = ledger.find_decisions(args.id)
        if not found:
            raise InputError(f"no decision id starts with {args.id!r}")
        if len(found) > 1:
            raise InputError(f"{args.id!r} is ambiguous: {', '.join(f[:12] for f in found)}")
        record = ledger.get_decision(found[0])
        if record is None or record.status not in JUDGEABLE:
            status = record.status if record else "gone"
            raise InputError(
                f"decision {found[0][:12]} is {status}: only a decision that was carried out "
                "or answered can be judged"
            )
        actor = args.actor or f"cli:{getpass.getuser()}"
        outcome = "right" if args.right else "wrong"
        said = [
            row
            for row in ledger.feedback_for(record.id)
            if row["kind"] == "correction" and row["actor"] == actor
        ]
        if said and said[-1]["outcome"] == outcome:
            print(f"decision {record.id[:12]}: {actor} already said {outcome}; nothing to add")
            return 0
        detail = {"reason": args.reason, "via": "cli", "status_then": record.status}
        ledger.add_feedback(record.id, "correction", outcome, actor, time.time(), detail)
    finally:
        ledger.close()
    print(
        f"decision {record.id[:12]} ({record.decision_type} on {record.subject}) recorded as "
        f"{outcome} by {actor}; the type's track record counts it from now on"
    )
    return 0
