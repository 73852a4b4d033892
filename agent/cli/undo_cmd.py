"""`autonomic undo DECISION_ID [--reason TEXT] [--as ACTOR]`: undo one of Autonomic's
actions that verified but was wrong ("it rolled back, but the release was fine").

This records the request in the ledger (who, when, why) and the person's verdict that
the decision was wrong, as `autonomic feedback --wrong` does. The daemon's leader carries
the undo out at its next remediation cycle, as it undoes a failed action: from the state
recorded before the write, and only while the target still holds what Autonomic wrote.
`autonomic explain ID` then tells how it went (the decision's status becomes `undone`),
and the decision's Slack thread gets a line.

Refused here, with the reason: a decision that was never carried out (or only as a dry
run), one still running or being verified, one already undone or failed, a hand-off, an
action that has no undo (a pod deleted or evicted, a restart, a volume expanded), and
one whose target a later Autonomic action changed. When someone else changed the target
since (a rollout after Autonomic's rollback), the leader refuses it rather than
overwrite their change, and says so on the decision. A second request is refused.

A request no leader has carried out within safety.undoRequestTTL (1 h by default; from
--config when given) expires: no leader was running, or Autonomic was paused. It is then
marked expired on the decision, not carried out late; `autonomic explain` says so.
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
        "undo",
        help="undo one of Autonomic's actions (the daemon's leader carries it out)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("id", help="decision id (a unique prefix is enough)")
    cmd.add_argument("--reason", help="why (recorded in the ledger, shown by explain)")
    cmd.add_argument("--as", dest="actor", help="who asks (default: cli:$USER)")
    add_ledger_flags(cmd)
    cmd.set_defaults(handler=undo)


def undo(args: argparse.Namespace) -> int:
    from agent.cli.pause_cmd import _config_pause
    from agent.pause import active_pause
    from agent.undo import UNDO_WORDS, request  # the ledger and its driver: here, not at start
    from remediation.windows import to_utc_text

    settings = settings_from(args)
    ttl = settings.safety.undo_request_ttl
    ledger = ledger_from(args, settings)
    try:
        record = one_decision(ledger, args.id)
        actor = args.actor or f"cli:{getpass.getuser()}"
        reason = (args.reason or "").strip() or None
        now = time.time()
        plan = request(ledger, record, actor=actor, reason=reason, at=now, ttl=ttl)
        held = active_pause(ledger, now)
        config = _config_pause(ledger)
        paused = held.describe() if held is not None else config and f"paused ({config})"
    finally:
        ledger.close()
    steps = "; then ".join(
        f"on {s['target']}, {UNDO_WORDS.get(str(s['op']), 'undo its ' + str(s['op']))}"
        for s in plan
    )
    print(
        f"undo of decision {short_id(record.id)} ({record.decision_type} on {record.subject}) "
        f"requested by {actor}, and the decision recorded as wrong. It will: {steps}. The "
        "daemon's leader carries it out at its next remediation cycle, unless someone "
        f"changed {record.subject} since; if none has by {to_utc_text(now + ttl)} "
        f"(safety.undoRequestTTL, {ttl / 60:g} min), it expires and is not carried out. "
        f"`autonomic explain {short_id(record.id)}` tells how it went"
    )
    if paused is not None:
        print(
            f"note: Autonomic is {paused}. The undo waits, requested, and is carried out at "
            "the first cycle after the pause ends"
        )
    return 0
