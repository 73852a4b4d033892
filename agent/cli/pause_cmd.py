"""`autonomic pause [--reason TEXT] [--for DURATION]`, `pause --status`, `autonomic resume`.

The emergency stop. `pause` writes a pause into the ledger, where every replica of the
daemon reads it: no restart, no change to the configuration. From the next check (every
remediation cycle, 30 s by default, and before each approved action runs; the scaling
loop at its next cycle), nothing new is done to the cluster: no runbook action, no
approved action, no further step of a run under way (the step being written finishes;
the run goes on after the pause), no further drain round, no scaling write, no canary
verdict that would move a release (Flagger and Argo Rollouts get a hold). A run
stopped so is listed by `pause --status` and `resume`. What is being verified goes
on being verified; one that fails is escalated and its steps are left as they are (an
undo is a write too: the person who paused decides on it). Observing, detecting,
forecasting and recording go on.

Without --for the pause holds until `autonomic resume`: an emergency stop that ends by
itself could start a harmful automation again while the incident is still open. The
`autonomic_paused` gauge (and the shipped alert AutonomicPausedLong) keeps a forgotten
pause from going unnoticed. With --for DURATION it lapses by itself that long after it
was set; DURATION is written as in the configuration and `why --since`: `30m`, `1.5h`,
`1h30m`, `2d`, or plain seconds (`3600`).

Who pauses is --as, or cli:$USER: like an approval from the CLI, it is whoever may write
the ledger, recorded, not checked. A second pause replaces the first (the newest holds).
The daemon's leader says each pause, resume and lapse in its log and in Slack.
`pause --status` writes nothing: it says whether a pause holds, who, since when, until
when and why, and the last changes (exit 0 either way).
"""

from __future__ import annotations

import argparse
import getpass
import json
import time
from typing import TYPE_CHECKING, Any

from agent.cli._context import add_ledger_flags, ledger_from, settings_from, take_negative_values
from agent.errors import InputError
from agent.ids import short_id

if TYPE_CHECKING:
    from agent.ledger import Ledger

HISTORY_SHOWN = 5


def register(sub: argparse._SubParsersAction[Any]) -> None:
    cmd = sub.add_parser(
        "pause",
        help="stop Autonomic acting on the cluster now (every replica), or show the pause",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("--reason", help="why (recorded in the ledger, said in the log and Slack)")
    cmd.add_argument(
        "--for",
        dest="duration",
        metavar="DURATION",
        help="lapse by itself after this long (30m, 1.5h, 1h30m, 1d, or seconds: 3600); "
        "default: until `autonomic resume`",
    )
    take_negative_values(cmd)  # "--for -5m" is refused as a duration
    cmd.add_argument("--as", dest="actor", help="who pauses (default: cli:$USER)")
    cmd.add_argument(
        "--status", action="store_true", help="show whether a pause holds; write nothing"
    )
    cmd.add_argument("--json", action="store_true", help="with --status: one JSON object")
    add_ledger_flags(cmd)
    cmd.set_defaults(handler=pause_command)
    again = sub.add_parser(
        "resume",
        help="end the pause `autonomic pause` set",
        description="End the pause in force: Autonomic acts again from its next check. "
        "Recorded in the ledger with who resumed; said in the daemon's log and in Slack.",
    )
    again.add_argument("--as", dest="actor", help="who resumes (default: cli:$USER)")
    add_ledger_flags(again)
    again.set_defaults(handler=resume_command)


def _actor(args: argparse.Namespace) -> str:
    if args.actor is None:
        return f"cli:{getpass.getuser()}"
    if not args.actor.strip():
        raise InputError("--as must name who it is (or leave it out for cli:$USER)")
    return str(args.actor.strip())


def pause_command(args: argparse.Namespace) -> int:
    from agent.pause import pause
    from agent.settings import parse_duration
    from remediation.durations import format_duration

    if args.status:
        if args.reason is not None or args.duration is not None or args.actor is not None:
            raise InputError("--status only reads: leave out --reason, --for and --as")
        return _status(args)
    if args.json:
        raise InputError("--json goes with --status")
    until_in = None
    if args.duration is not None:
        try:
            until_in = parse_duration(args.duration)
        except ValueError as exc:
            raise InputError(f"--for: {exc}") from None
        if until_in <= 0:
            raise InputError("--for must be longer than 0 s (leave it out to pause until resumed)")
    reason = (args.reason or "").strip() or "no reason given"
    actor = _actor(args)
    settings = settings_from(args)
    ledger = ledger_from(args, settings)
    now = time.time()
    try:
        replaced, held = pause(
            ledger,
            by=actor,
            reason=reason,
            now=now,
            until=None if until_in is None else now + until_in,
        )
    finally:
        ledger.close()
    print(f"Autonomic {held.describe()}.")
    if replaced is not None:
        print(f"It replaces the pause {replaced.describe().removeprefix('paused ')}.")
    span = "" if until_in is None else f" It lapses by itself in {format_duration(until_in)}."
    print(
        "Every replica holds every new action from its next check (the remediation cycle, "
        "every 30 s; the scaling loop at its next cycle): no "
        "runbook action, no approved action, no further step of a run under way, no drain "
        "round, no scaling write, no canary verdict that would move a release (Flagger and "
        "Argo Rollouts get a hold). Verification "
        f"and observation go on.{span}"
    )
    print(
        "See it: `autonomic pause --status`, /readyz, autonomic_paused. End it: `autonomic resume`."
    )
    return 0


def resume_command(args: argparse.Namespace) -> int:
    from agent.pause import resume

    actor = _actor(args)
    settings = settings_from(args)
    ledger = ledger_from(args, settings)
    try:
        ended = resume(ledger, by=actor, now=time.time())
        config = _config_pause(ledger)
        stopped = _stopped_runs(ledger)
    finally:
        ledger.close()
    if ended is None:
        print("Autonomic is not paused by `autonomic pause` (none holds): nothing to resume.")
    else:
        print(
            f"Autonomic resumed by {actor}; it was {ended.describe()}. Every replica acts "
            "again from its next check."
        )
    if stopped and not config:
        print(
            "Runs the pause stopped between two steps go on with their next step at the "
            "next remediation cycle (one stopped longer than safety.approvedMaxWait is "
            "closed and escalated instead):"
        )
        print(_stopped_lines(stopped))
    if config:
        print(
            f"note: still paused by the configuration ({config}): remove safety.paused "
            "and restart the daemon to end that one"
        )
    return 0


def _config_pause(ledger: Ledger) -> str | None:
    """The pause the configuration's ``safety.paused`` wrote, if it holds."""
    from agent.remediation_engine import GUARD_KEY

    value, _ = ledger.guard(GUARD_KEY)
    if not value.get("paused"):
        return None
    return str(value.get("pause_reason") or "paused")


def _stopped_runs(ledger: Ledger) -> list[dict[str, Any]]:
    """The runs a pause stopped between two steps (their execution is ``paused``)."""
    return [
        {
            "decision_id": e["decision_id"],
            "runbook": e["runbook"],
            "target": e["target"],
            "stopped_at": float(e["updated_at"]),
        }
        for e in ledger.executions(["paused"])
    ]


def _stopped_lines(stopped: list[dict[str, Any]]) -> str:
    from remediation.windows import to_utc_text

    return "\n".join(
        f"  {run['runbook']} on {run['target']}, stopped at {to_utc_text(run['stopped_at'])} "
        f"(`autonomic explain {short_id(str(run['decision_id']))}`)"
        for run in stopped
    )


def _status(args: argparse.Namespace) -> int:
    from agent.pause import Pause, describe_change, read_pause

    ledger = ledger_from(args)
    now = time.time()
    try:
        state, _ = read_pause(ledger)
        config = _config_pause(ledger)
        stopped = _stopped_runs(ledger)
    finally:
        ledger.close()
    held = state.active(now)
    changes = [*state.history, *([state.last] if state.last is not None else [])]
    if args.json:
        print(
            json.dumps(
                {
                    "paused": held is not None or config is not None,
                    "pause": None if held is None else held.to_json(),
                    "config_pause": config,
                    "stopped_runs": stopped,
                    "changes": [dict(c) for c in changes[-HISTORY_SHOWN:]],
                }
            )
        )
        return 0
    if held is not None:
        left = "" if held.until is None else f" ({_span(held.until - now)} left)"
        print(f"PAUSED: {held.describe()}{left}; {_span(now - held.at)} ago.")
    elif state.pause is not None and state.pause.until is not None:
        lapsed: Pause = state.pause
        ago = _span(now - state.pause.until)
        print(f"not paused: the pause by {lapsed.by} ({lapsed.reason}) lapsed {ago} ago.")
    else:
        print("not paused by `autonomic pause`.")
    if config is not None:
        print(f"PAUSED by the configuration: {config} (remove safety.paused and restart to end it)")
    if stopped:
        print("runs stopped between two steps by the pause (each goes on after it ends):")
        print(_stopped_lines(stopped))
    if changes:
        print("last changes, newest first:")
        for change in reversed(changes[-HISTORY_SHOWN:]):
            print(f"  {describe_change(change, short=True)}")
    return 0


def _span(seconds: float) -> str:
    from agent.cli._context import span

    return span(seconds)
