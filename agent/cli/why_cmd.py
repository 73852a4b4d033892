"""`autonomic why [SUBJECT] [--runbook NAME] [--since DURATION]`: why a runbook did not act.

Lists, newest first, what runbooks saw and held back from, one line each: when it was
last seen, on what, which runbook, the outcome and reason code, how many times since it
was first seen, and the latest sentence. Outcomes kept are:

  denied    a guard held it (pause, freeze window, storm, cooldown, rate limits,
            concurrency, blast radius, circuit breaker, a person's recent change)
  skipped   planning or a precondition found nothing to do (a maintenance window or
            changedWithin not met, already at the limit, a PromQL precondition failed
            or had no data)
  no-match  its trigger accepted the signal but the target could not be selected (not
            opted in, excluded, a pod of another kind of owner, an alert naming no object);
            or a trigger for the signal refused it by a label matcher, minConfidence or
            minExcessRatio (TriggerNotMet); or, under the runbook (none), a firing alert
            about an object that no runbook's trigger names (NoRunbook)

Not kept: decisions (`autonomic explain ID` tells their story; for SUBJECT, the
decisions of every job made about it, ten at most and newest first, are listed below the
rest; with --runbook, with or without SUBJECT, that runbook's, each with its status: run,
or only asked (asked, rejected, expired), or handed to a person), signals that already have a
decision, the other signals no runbook's trigger accepts (a condition no runbook
handles, a pod not yet past a trigger's heldFor or minCount), and an Alertmanager alert
that no longer fired when the remediation cycle took it in (resolved, or past its endsAt:
AlertNotFiring, said in the daemon's log, with the alert's name and fingerprint).

SUBJECT is the object as Autonomic names it (Deployment/shop/web, Node/worker-2), its
leading parts (Deployment/shop) or its trailing parts (shop/web, web); a workload's name
also names its pods (web: Pod/shop/web-7d4f9-x2k1p). Kinds may be written as kubectl
does (deploy/shop/web, sts, po, no, pvc, hpa, job). An alert, anomaly or forecast signal that
names no object is kept as alert/NAME (anomaly/METRIC...). An alert about an HPA
(KubeHpaMaxedOut) is about the workload the HPA scales; until that workload is selected it
is kept under the HPA it names (HorizontalPodAutoscaler/shop/web, or hpa/shop/web).

With --runbook NAME and nothing found, a NAME the ledger has no record of (no runbook by
that name held back, run or deciding anything) is said so, with the names it knows: a
typo, or a runbook not loaded in this cluster.

--since is counted back from now on when each was last seen (without it, or with `--since
all`, every record). When the window holds nothing but the ledger keeps older records (a
ledger `simulate --ledger` wrote keeps its trace's clock, often years back), the newest
one's time is said, with a --since that reaches it. Times are UTC, as in every command.

The daemon writes a row when it first holds a runbook back (or for another reason), then
at most every 5 minutes while it goes on: the newest counts can be that far behind.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from agent.cli._context import (
    SINCE_ALL,
    add_ledger_flags,
    ledger_from,
    older_records,
    since_seconds,
    take_negative_values,
    utc_text,
)
from agent.cli._numbers import whole_arg
from agent.errors import InputError
from agent.ids import short_id
from agent.verdicts import status_said
from remediation.durations import format_duration

if TYPE_CHECKING:
    from agent.ledger import DecisionRecord, HeldBack

DECISIONS_SHOWN = 10
# kubectl's names for the kinds a runbook acts on, and their plurals.
_KIND_NAMES = {
    "deploy": "Deployment",
    "deployment": "Deployment",
    "deployments": "Deployment",
    "sts": "StatefulSet",
    "statefulset": "StatefulSet",
    "statefulsets": "StatefulSet",
    "po": "Pod",
    "pod": "Pod",
    "pods": "Pod",
    "no": "Node",
    "node": "Node",
    "nodes": "Node",
    "ro": "Rollout",
    "rollout": "Rollout",
    "rollouts": "Rollout",
    "pvc": "PersistentVolumeClaim",
    "persistentvolumeclaim": "PersistentVolumeClaim",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "hpa": "HorizontalPodAutoscaler",
    "horizontalpodautoscaler": "HorizontalPodAutoscaler",
    "horizontalpodautoscalers": "HorizontalPodAutoscaler",
    "job": "Job",
    "jobs": "Job",
}


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "why",
        help="why a runbook saw something and did not act (denied, skipped, not selected)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "subject",
        nargs="?",
        help="what it is about: Deployment/shop/web, shop/web, web, Node/worker-2 "
        "(default: everything)",
    )
    parser.add_argument("--runbook", metavar="NAME", help="only this runbook")
    parser.add_argument(
        "--since",
        metavar="DURATION",
        help="only what was last seen within this long before now: 30m, 2h, 1d, or "
        f"{SINCE_ALL} (the default: every record)",
    )
    parser.add_argument(
        "--limit", type=whole_arg, default=50, metavar="N", help="lines at most (default 50)"
    )
    parser.add_argument("--json", action="store_true", help="print the records as JSON")
    take_negative_values(parser)  # "--since -5m" is refused as a duration
    add_ledger_flags(parser)
    parser.set_defaults(handler=why)


def why(args: argparse.Namespace) -> int:
    now = time.time()
    window = since_seconds(args.since)
    since = None if window is None else now - window
    if args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    # An empty shell variable (`autonomic why "$SUBJECT"`) listed everything, as if it
    # were about that object: said, as `explain ""` says it.
    for given, what in ((args.subject, "SUBJECT"), (args.runbook, "--runbook")):
        if given is not None and not given.strip():
            raise InputError(
                f"{what} is empty: give one (SUBJECT as Deployment/shop/web, shop/web or web; "
                "--runbook as a runbook's name), or leave it out for everything"
            )
    subject = subject_named(args.subject) if args.subject else None
    ledger = ledger_from(args)
    try:
        held = ledger.held_back(
            subject=subject, runbook=args.runbook, since=since, limit=args.limit + 1
        )
        # A name the ledger never saw (a typo, a runbook not loaded here): said, with
        # the names it knows, rather than an empty answer that reads as "nothing held".
        known = ledger.runbook_names() if args.runbook and not held else None
        decided = (
            ledger.decisions(
                # every job's decisions about it (scaling, canary, anomaly, remediation);
                # a runbook's, with --runbook (with or without SUBJECT): those it ran and
                # those only ever asked (rejected, expired, still waiting), its hand-offs
                kind="remediation" if args.runbook else None,
                subject=subject,
                since=since,
                runbook=args.runbook,
                limit=DECISIONS_SHOWN,
            )
            if subject is not None or args.runbook
            else []
        )
        # Nothing in the window, on a ledger that keeps older records (one `simulate`
        # wrote, on its trace's clock): said, with when the newest was.
        older = None
        if since is not None and not held and not decided:
            newest = ledger.held_back(subject=subject, runbook=args.runbook, limit=1)
            older = older_records(
                "record held back" + _scope(subject, args.runbook, None),
                newest[0].last_seen if newest else None,
                now,
            )
        # An expired decision held back past approvedMaxWait is said as not executed.
        statuses = {
            record.id: status_said(record.status, ledger.feedback_for(record.id))
            for record in decided
            if record.status == "expired"
        }
    finally:
        ledger.close()
    more = len(held) > args.limit
    held = held[: args.limit]
    if args.json:
        if older:
            print(older, file=sys.stderr)
        print(
            json.dumps(
                {
                    "held_back": [asdict(row) for row in held],
                    "decisions": [_decision_json(record) for record in decided],
                },
                indent=2,
            )
        )
        return 0
    # The window said as a duration (3600 and 60m both say 1h), not the text typed.
    scope = _scope(subject, args.runbook, None if window is None else format_duration(window))
    lines = render(held, decided, scope, more, statuses=statuses)
    if older:
        lines.insert(1, older)
    if known is not None and args.runbook not in known:
        lines.append(_unknown(args.runbook, known))
    print("\n".join(lines))
    return 0


def _unknown(name: str, known: list[str]) -> str:
    """The line for a ``--runbook`` name this ledger has no record of."""
    if not known:
        return (
            f"No runbook named {name} in this ledger: none has been held back, run or "
            "asked about yet."
        )
    return (
        f"No runbook named {name} in this ledger (held back, run or asked about): it knows "
        f"{', '.join(known)}."
    )


def render(
    held: list[HeldBack],
    decided: list[DecisionRecord],
    scope: str,
    more: bool = False,
    *,
    statuses: Mapping[str, str] | None = None,
) -> list[str]:
    """The lines ``why`` prints: what was held back, newest first, then the decisions
    (each one's status as ``statuses`` says it, by id, else as recorded)."""
    lines: list[str] = []
    if held:
        lines.append(f"Held back{scope}, newest first:")
        lines += [_line(row) for row in held]
        if more:
            lines.append("  (older ones not shown: narrow it with SUBJECT, --runbook or --since)")
    else:
        lines += [
            f"Nothing held back{scope}.",
            "Kept are runbooks that took a signal up and did not act: denied by a guard, "
            "skipped by planning or a precondition, a target they could not select, a "
            "trigger's matcher or threshold, a runbook whose handling of the signal failed "
            "(an error Autonomic does not expect), and alerts no runbook names. A condition no "
            "runbook's trigger accepts (or not yet held for its heldFor, or below its "
            "minCount) is not kept, nor is what was decided, nor an alert that no longer "
            "fired when the remediation cycle took it in (AlertNotFiring: the daemon's log "
            "says it).",
        ]
    if decided:
        lines += ["", "Decided (autonomic explain ID tells the story):"]
        said = statuses or {}
        lines += [
            f"  {short_id(record.id)}  {_when(record.created_at)}  {record.subject}  "
            f"{record.decision_type}  {record.route} -> {said.get(record.id, record.status)}"
            for record in decided
        ]
    return lines


def _line(row: HeldBack) -> str:
    times = "once" if row.times == 1 else f"{row.times} times since {_when(row.first_seen)}"
    return (
        f"  {_when(row.last_seen)}  {row.subject}  {row.runbook}  "
        f"{row.outcome} {row.reason_code} ({times}): {row.message}"
    )


def _scope(subject: str | None, runbook: str | None, since: str | None) -> str:
    parts = []
    if subject:
        parts.append(f" for {subject}")
    if runbook:
        parts.append(f" by {runbook}")
    if since:
        parts.append(f" in the last {since}")
    return "".join(parts)


def subject_named(text: str) -> str:
    """The subject as the ledger names it: kubectl's kind names (``deploy``, ``sts``)
    and a kind in any case become the kind (``Deployment``)."""
    text = text.strip().strip("/")
    head, sep, rest = text.partition("/")
    kind = _KIND_NAMES.get(head.lower())
    if kind is None or not (sep or head.lower().startswith(kind.lower())):
        return text  # a name alone is a name, even one kubectl abbreviates a kind to
    return f"{kind}{sep}{rest}"


def _decision_json(record: DecisionRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "subject": record.subject,
        "decision_type": record.decision_type,
        "route": record.route,
        "status": record.status,
        "reason_code": record.reason_code,
        "created_at": record.created_at,
    }


def _when(ts: float) -> str:
    return utc_text(ts)
