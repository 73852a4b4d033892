"""`autonomic thresholds set TYPE --auto A [--ask B] --reason ...`: move a decision type's
routing thresholds by hand.

Calibration moves each type's `auto` threshold from its outcomes (`docs/decisions.md`).
When two wrong automatic decisions came at the type's highest confidences, the rise puts
`auto` above anything the type's decisions still reach. Then no decision acts, and only a
run of 299 right outcomes in a row (at the 1 % target) brings the old pair back: a type
that decides once a day asks for most of a year. This is the way out by hand, and the way
to set a type's thresholds for any other reason a person has.

The new pair is a row in the ledger's `thresholds` history with who set it and why, like
every move calibration makes, and it is in force at the daemon's next decision of that
type. Calibration goes on from there, counting only outcomes of decisions made after it.
`auto` cannot go below the type's floor (the configured `routing.ask`, or the type's own
default `ask` if higher): the hourly recalibration would raise it back at once.
"""

from __future__ import annotations

import argparse
import getpass
import time
from typing import Any

from agent.cli._context import add_ledger_flags, ledger_from, settings_from
from agent.cli._numbers import number_arg
from agent.errors import InputError


def register(sub: argparse._SubParsersAction[Any]) -> None:
    cmd = sub.add_parser(
        "thresholds",
        help="set a decision type's routing thresholds by hand",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = cmd.add_subparsers(dest="thresholds_command", metavar="ACTION", required=True)
    setter = actions.add_parser("set", help="set one decision type's auto (and ask) threshold")
    setter.add_argument("decision_type", metavar="TYPE", help="e.g. scaling/predictive-floor")
    setter.add_argument("--auto", type=number_arg, required=True, help="the new auto threshold")
    setter.add_argument("--ask", type=number_arg, help="the new ask threshold (default: unchanged)")
    setter.add_argument("--reason", required=True, help="why (recorded in the ledger)")
    setter.add_argument("--as", dest="actor", help="who sets it (default: cli:$USER)")
    add_ledger_flags(setter)
    setter.set_defaults(handler=set_thresholds)


def set_thresholds(args: argparse.Namespace) -> int:
    from agent.decisions import routed_defaults
    from agent.routing import Thresholds

    # Who and why are the record's point: checked before the ledger is opened.
    if not args.reason.strip():
        raise InputError("--reason must say why the thresholds are set (it is kept in the ledger)")
    if args.actor is not None and not args.actor.strip():
        raise InputError("--as must name who sets the thresholds (or leave it out for cli:$USER)")
    settings = settings_from(args)
    ledger = ledger_from(args, settings)
    try:
        records = ledger.decisions(decision_type=args.decision_type, limit=20)
        if not records:
            known = sorted({r.decision_type for r in ledger.decisions(limit=1000)})
            hint = f"; types in the ledger: {', '.join(known)}" if known else ""
            raise InputError(f"no decision of type {args.decision_type!r} in the ledger{hint}")
        routing = settings.routing
        defaults = routed_defaults(records, Thresholds(auto=routing.auto, ask=routing.ask))
        stored = ledger.thresholds(args.decision_type)
        current = Thresholds(*stored) if stored else defaults
        ask = current.ask if args.ask is None else args.ask
        floor = max(routing.ask, defaults.ask)
        if args.auto < floor:
            raise InputError(
                f"--auto {args.auto:g} is below this type's floor {floor:g} (routing.ask "
                f"{routing.ask:g}, the type's default ask {defaults.ask:g}): the hourly "
                "recalibration would raise it back"
            )
        if not (0.0 <= ask <= args.auto <= 1.0):
            raise InputError(f"need 0 <= --ask ({ask:g}) <= --auto ({args.auto:g}) <= 1")
        actor = args.actor.strip() if args.actor is not None else f"cli:{getpass.getuser()}"
        ledger.record_thresholds(
            args.decision_type,
            args.auto,
            ask,
            {
                "reason_code": "SetByHand",
                "message": f"{actor}: {args.reason.strip()}",
                "actor": actor,
                "from": {"auto": current.auto, "ask": current.ask},
                # Calibration goes on from the decisions made after this one.
                "through": records[0].created_at,
            },
            time.time(),
        )
    finally:
        ledger.close()
    print(
        f"{args.decision_type}: auto {current.auto:g} -> {args.auto:g}, "
        f"ask {current.ask:g} -> {ask:g} (set by {actor}); in force at the next decision"
    )
    cap = (records[0].evidence.get("routing") or {}).get("max_autonomy", "auto")
    if cap in ("ask", "escalate"):
        # The thresholds still move when it asks and when it escalates; the cap decides
        # that it never acts alone, and a person setting `auto` should not expect it to.
        print(
            f"note: its newest decision was capped at {cap!r} (the runbook's maxAutonomy, "
            "or the kind of decision): it "
            + (
                "asks at any confidence, so --auto does not make it act alone"
                if cap == "ask"
                else "escalates at any confidence, so neither threshold makes it act or ask"
            )
        )
    return 0
