"""`autonomic feedback DECISION_ID --wrong|--right`: a person's verdict on a decision.

Most verdicts are recorded without anyone typing them: a question's answer, a
verification, an automatic undo. This is for the rest. An action that verified but was
still the wrong thing to do ("it rolled back, but the release was fine; the database was
down"), or one a person undid by hand, is wrong; say so, and the decision type's track
record and its `auto` threshold learn from it at the next routing and the next
recalibration. `--right` confirms a decision whose verification could not tell.

The verdict is recorded against the decision in the ledger as the person's correction
(the newest verdict on a decision is the one that counts) and shows in `autonomic explain`
and `autonomic calibration`. Nothing in the cluster is changed. Decisions that were
carried out or answered can be judged, and so can those nobody acted on: escalated for
low confidence, asked and expired, or approved and held back past
`safety.approvedMaxWait` (expired, never run). For those the verdict is hindsight from
whoever handled it: `--right` says that doing what the decision proposed was (or would
have been) the fix, `--wrong` that it was not. A hindsight verdict counts in the track
record: it is not a correction of the daemon, which did nothing, and it does not
move the `auto` threshold (not even for an automatic decision held back, which never
acted). A hindsight `--wrong` also holds the decision's incident like a rejection: if
it goes on, it is raised again only after `safety.reaskAfterReject` (never when null),
not after `safety.reaskAfter`, and the command says so with the duration: from
`--config` when given, else the default (which the daemon's config may change). The
same person giving the same verdict twice records it once.
"""

from __future__ import annotations

import argparse
import getpass
import time
from typing import Any

from agent.cli._context import add_ledger_flags, ledger_from, one_decision, settings_from
from agent.ids import short_id


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
    # the ledger and its database driver: here, not at start
    from agent.verdicts import hindsight_hold, judge

    settings = settings_from(args)
    ledger = ledger_from(args, settings)
    try:
        record = one_decision(ledger, args.id)
        actor = args.actor or f"cli:{getpass.getuser()}"
        outcome = "right" if args.right else "wrong"
        kind = judge(
            ledger,
            record,
            right=args.right,
            actor=actor,
            at=time.time(),
            detail={"reason": args.reason, "via": "cli"},
        )
        if kind is None:
            print(f"decision {short_id(record.id)}: {actor} already said {outcome}; nothing to add")
            return 0
    finally:
        ledger.close()
    print(
        f"decision {short_id(record.id)} ({record.decision_type} on {record.subject}) recorded as "
        f"{outcome} by {actor}{' in hindsight' if kind == 'hindsight' else ''}; the type's "
        "track record counts it from now on"
    )
    reask_after = settings.safety.reask_after_reject
    if kind == "hindsight":
        hold = hindsight_hold(record, args.right, reask_after, _source(args, reask_after))
        if hold:
            print(f"{hold[:1].upper()}{hold[1:]}")
    return 0


def _source(args: argparse.Namespace, reask_after: float | None) -> str:
    """Where the ``safety.reaskAfterReject`` a hold is told with was read: the command
    reads the daemon's config only when given ``--config``; with a ledger URL alone it
    has the default (or an ``AUTONOMIC__`` environment override), which the daemon's own
    config may change."""
    from agent.verdicts import DEFAULT_REASK_AFTER_REJECT

    if args.config is not None:
        return f", read from {args.config}"
    if reask_after == DEFAULT_REASK_AFTER_REJECT:
        return ", its default: the daemon's config may set another; give --config to read it"
    return ", from this environment: the daemon's may differ; give --config to read its config"
