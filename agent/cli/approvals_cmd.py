"""`autonomic approvals list`, `approvals approve ID`, `approvals reject ID [--reason ...]`.

Questions the daemon asked (in Slack, or only in the ledger when Slack is not
configured) can be answered here. An answer is compare-and-set in the ledger: the
first answer wins, from whichever channel, exactly once. The answer is applied to the
decision here; a question asked in Slack gets its message rewritten by the daemon's
leader at its next cycle (this process has no chat client). Who may answer here is
whoever may write the ledger: Slack's approver lists (slack.approvers,
slack.approversByNamespace, a runbook's spec.approvers) do not apply, and --as is a name
recorded with the answer, not an identity that is checked. When the question has
narrower approvers than slack.approvers, the answer says so.

A reason is optional, as it is for Slack's Approve and Reject buttons (a click carries
none). Give one when you can: it is kept with the answer and shown by `explain` and in
the rewritten Slack message; a rejection without one shows "no reason given".
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.cli._context import (
    SINCE_ALL,
    add_ledger_flags,
    ledger_from,
    older_records,
    settings_from,
    since_seconds,
    span,
    take_negative_values,
    utc_text,
)
from agent.cli._numbers import whole_arg
from agent.errors import InputError
from agent.ids import ID_CHARS, distinct_ids, short_id
from agent.routing import confidence_percent
from agent.verdicts import NOT_EXECUTED
from forecasting.text import shown_text
from remediation.durations import format_duration
from remediation.events import event_lines

if TYPE_CHECKING:
    from agent.kube_access import AccessCheck
    from agent.ledger import DecisionRecord
    from agent.settings import Settings


def register(sub: argparse._SubParsersAction[Any]) -> None:
    approvals = sub.add_parser(
        "approvals", help="list pending approvals; approve or reject one", description=__doc__
    )
    actions = approvals.add_subparsers(dest="approvals_command", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="list questions waiting for an answer, and recent escalations",
        description=_LIST_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("--all", action="store_true", help="include answered questions")
    listing.add_argument(
        "--since",
        metavar="DURATION",
        default="24h",
        help="escalations made within this long before now: 30m, 8h, 7d, or "
        f"{SINCE_ALL} (default 24h); questions are listed whatever their age",
    )
    listing.add_argument(
        "--limit",
        type=whole_arg,
        default=50,
        metavar="N",
        help="questions at most, the newest (default 50); escalations too",
    )
    listing.add_argument(
        "--json", action="store_true", help="print questions and escalations as JSON"
    )
    take_negative_values(listing)  # "--since -5m" is refused as a duration
    add_ledger_flags(listing)
    listing.set_defaults(handler=list_questions)
    for name, verb in (("approve", "approved"), ("reject", "rejected")):
        for parent in (actions, sub):
            cmd = parent.add_parser(name, help=f"{name} a pending question (by id or prefix)")
            cmd.add_argument("id", help="question id or decision id (a unique prefix is enough)")
            cmd.add_argument(
                "--reason",
                help=f"why it is {verb} (optional; recorded in the ledger and shown by "
                "explain and in the Slack message"
                + ("; without it they say 'no reason given')" if name == "reject" else ")"),
            )
            cmd.add_argument(
                "--as",
                dest="actor",
                help="who answers (default: cli:$USER); with slack.requireKubernetesAccess "
                "an approval must be --as a Slack user id in slack.kubernetesIdentities",
            )
            add_ledger_flags(cmd)
            cmd.set_defaults(handler=answer, verdict=verb)


_LIST_HELP = f"""The questions waiting for an answer (with --all, the answered ones too), the
newest --limit of them in the order they were asked, each with its id and its decision's
(the first {ID_CHARS} characters, as `history` and `why` show them), its status, when it
expires (UTC, and from now) and what it proposes; above them, what was escalated within
--since (24h by default; `--since all`: every escalation), with when (UTC) and why nothing
was done. When that window holds none but the ledger keeps older escalations (a ledger
`simulate --ledger` wrote keeps its trace's clock), the newest one's time is said, with a
--since that reaches it.

--json prints one object: "pending" (the questions waiting), "answered" (with --all, the
others; else empty) and "escalations", with the keys `GET /approvals` uses: a question's
question, decision (full ids), status, overdue (past its TTL, not yet closed), asked_at,
expires_at, answered_at (epoch seconds), answered_by, answer_reason, subject, reason,
confidence, proposal, if_approved, decision_status; an escalation's decision, at, why,
subject, reason, status. With --json, what --limit leaves out and the older-escalation
line are said on stderr."""


def list_questions(args: argparse.Namespace) -> int:
    from agent.approvals import escalation_json, question_json

    now = time.time()
    window = since_seconds(args.since)
    if args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    status = None if args.all else "pending"
    ledger = ledger_from(args)
    try:
        rows = ledger.questions(status=status, limit=args.limit, newest=True)
        # Two reads: a question answered between them must not make the count negative.
        hidden = (
            max(0, ledger.count_questions(status) - len(rows)) if len(rows) >= args.limit else 0
        )
        records = {q.id: ledger.get_decision(q.decision_id) for q in rows}
        since = 0.0 if window is None else now - window
        escalated = ledger.feedback_since("escalation", since, limit=args.limit + 1)
        more_escalated = len(escalated) > args.limit
        escalated = escalated[: args.limit]
        escalated_records = {
            row["decision_id"]: ledger.get_decision(row["decision_id"]) for row in escalated
        }
        # None in the window, on a ledger that keeps older ones (one `simulate` wrote,
        # on its trace's clock): said, with when the newest was.
        older = None
        if not escalated and window is not None:
            newest = ledger.feedback_since("escalation", 0.0, limit=1)
            older = older_records("escalation", newest[0]["created_at"] if newest else None, now)
    finally:
        ledger.close()
    if args.json:
        listed = [question_json(q, records[q.id], now) for q in rows]
        body = {
            "pending": [q for q in listed if q["status"] == "pending"],
            "answered": [q for q in listed if q["status"] != "pending"],
            "escalations": [
                escalation_json(row, escalated_records[row["decision_id"]]) for row in escalated
            ],
        }
        print(json.dumps(body, indent=2))
        if hidden > 0:
            print(f"{_older_questions(hidden)} not listed (--limit {args.limit})", file=sys.stderr)
        if more_escalated:
            print(f"older escalations not listed (--limit {args.limit})", file=sys.stderr)
        if older:
            print(older, file=sys.stderr)
        return 0
    _escalations(escalated, escalated_records, window, now, more_escalated, older)
    if not rows:
        print("no pending questions" if not args.all else "no questions")
        return 0
    shown = []
    overdue = []
    for question in rows:
        record = records[question.id]
        left = question.expires_at - now
        status, expires = question.status, "-"
        if question.status == "pending" and left > 0:
            expires = f"{_utc(question.expires_at)} (in {_span(left)})"
        elif question.status == "pending":  # past its TTL; no daemon cycle closed it yet
            status = "overdue"
            expires = f"{_utc(question.expires_at)} ({_span(-left)} ago)"
            overdue.append(question)
        what = (
            f"{record.subject}: {record.reason} "
            f"(decision confidence {confidence_percent(record.confidence)})"
            if record
            else "?"
        )
        # A reason quotes others' text (an alert's summary, a canary's): shown escaped.
        shown.append((question, status, expires, shown_text(what)))
    width = max(len("expires"), *(len(expires) for _, _, expires, _ in shown))
    wide = max(9, *(len(status) + 1 for _, status, _, _ in shown))  # "superseded" is 10
    cell = ID_CHARS + 2
    print(
        f"{'question':{cell}} {'decision':{cell}} {'status':{wide}} {'expires':<{width}}  proposal"
    )
    for question, status, expires, what in shown:
        ids = f"{short_id(question.id):{cell}} {short_id(question.decision_id):{cell}}"
        print(f"{ids} {status:{wide}} {expires:<{width}}  {what}")
        if question.status == "pending":
            # What a yes does, where the decision says (a canary promotion or rollback:
            # the Slack question's "If approved" line): the verdict, or a runbook's write.
            record = records[question.id]
            if_approved = record.evidence.get("if_approved") if record else None
            indent = f"{'':{len(ids) + wide + width + 4}}"
            if isinstance(if_approved, str) and if_approved:
                print(f"{indent}if approved, {shown_text(if_approved)}")
            # The target's recent Kubernetes Events, as the Slack question shows them.
            events = record.evidence.get("events") if record else None
            if isinstance(events, dict):
                for line in event_lines(events):
                    print(f"{indent}events: {line}")
    if hidden > 0:
        print(f"({_older_questions(hidden)} not listed: raise --limit)")
    for question in overdue:
        print(
            f"question {short_id(question.id)} expired {_span(now - question.expires_at)} ago: "
            "it counts as a no, and the daemon closes it (escalated) at its next cycle"
        )
    if overdue:
        print(
            "an answer to an overdue question is kept as feedback on the decision; "
            "nothing will be executed"
        )
    for question, _, _, _ in shown:
        record = records[question.id]
        if question.status == "approved" and record and record.status in _NOT_CARRIED_OUT:
            # "approved" alone reads as done: say it was not, and where to read why
            print(
                f"question {short_id(question.id)} was approved, but its decision "
                f"{short_id(record.id)} is {record.status}: {_NOT_CARRIED_OUT[record.status]} "
                f"(`autonomic explain {short_id(record.id)}` says why)"
            )
    return 0


# A decision approved and then not carried out as approved, and what that means.
_NOT_CARRIED_OUT = {
    "superseded": "overtaken before its first write, nothing was written",
    "expired": f"{NOT_EXECUTED}, nothing was written",
    "failed": "it did not finish as planned",
}


def _older_questions(count: int) -> str:
    return f"{count} older question{'' if count == 1 else 's'}"


def _utc(ts: float) -> str:
    return utc_text(ts)


def _span(seconds: float) -> str:
    return span(seconds)


def _window_said(window: float | None) -> str:
    """``in the last 24 h`` (whole hours up to two days, as this listing always said
    its default), ``in the last 7d``, or ``in the ledger`` for every record."""
    if window is None:
        return "in the ledger"
    if window % 3600 == 0 and window <= 48 * 3600:
        return f"in the last {window / 3600:.0f} h"
    return f"in the last {format_duration(window)}"


def _escalations(
    rows: list[dict[str, Any]],
    records: Mapping[str, DecisionRecord | None],
    window: float | None,
    now: float,
    more: bool,
    older: str | None,
) -> None:
    """What was escalated within the window, newest first: nothing was done about these.
    (Those posted to Slack are kept in the ledger too, with their message.)"""
    if older:
        print(older)
        print()
    if not rows:
        return
    print(f"escalated {_window_said(window)} (nothing was done):")
    for row in rows:
        record = records[row["decision_id"]]
        ago = _span(max(now - row["created_at"], 0.0))
        why = (row.get("detail") or {}).get("why") or "-"
        subject = record.subject if record else "?"
        said = shown_text(f"{subject}: {why}")
        print(f"  {short_id(row['decision_id'])}  {_utc(row['created_at'])} ({ago} ago)  {said}")
    if more:
        print("  (older escalations not listed: raise --limit, or narrow it with --since)")
    print()


def answer(args: argparse.Namespace) -> int:
    from agent.approvals import Approvals, LedgerOnlyChannel
    from agent.clock import SystemClock
    from agent.decisions import DecisionService
    from agent.observability import Metrics
    from agent.verdicts import no_verdict

    settings = settings_from(args)
    ledger = ledger_from(args, settings)
    question_id = _resolve(ledger, args.id)
    actor = args.actor or f"cli:{getpass.getuser()}"
    clock = SystemClock()
    approvals = Approvals(
        ledger,
        LedgerOnlyChannel(ledger, clock.now),
        ttl=settings.slack.question_ttl,
        snooze=settings.slack.snooze,
        access=_access(settings) if args.verdict == "approved" else None,
    )
    decisions = DecisionService(
        ledger, clock, settings.routing, mode=settings.mode, approvals=approvals, metrics=Metrics()
    )
    reason = (args.reason or "").strip() or None  # --reason "" is no reason
    outcome = decisions.answer_outcome(question_id, args.verdict, actor, reason)
    if outcome.code == "NoKubernetesAccess":
        raise InputError(
            f"question {short_id(question_id)} was not approved: {outcome.message} "
            "(slack.requireKubernetesAccess: approve --as the Slack user id whose mapped "
            "Kubernetes identity may make its writes)"
        )
    if not outcome.accepted:
        question = ledger.question(question_id)
        state = question.status if question else "unknown"
        kept = question is not None and any(
            row["kind"] == "late-answer"
            and row["actor"] == actor
            and (row.get("detail") or {}).get("question_id") == question_id
            for row in ledger.feedback_for(question.decision_id)
        )
        if kept:
            record = ledger.get_decision(question.decision_id) if question else None
            why_not = no_verdict(record) if record is not None else None
            raise InputError(
                f"question {short_id(question_id)} had expired (counted as a no, and escalated): "
                f"nothing will be executed. Your answer ({args.verdict}) was not applied but is "
                + (
                    "kept as the decision's verdict (feedback, for learning)"
                    if why_not is None
                    else "kept; it teaches nothing, since this decision takes no verdict "
                    f"({why_not})"
                )
            )
        if question is not None and state == "superseded":
            raise InputError(
                f"question {short_id(question_id)} was not {args.verdict}: it is already settled, "
                f"without an answer ({question.answer_reason}); nothing was done on it, and "
                "nothing is done on your answer"
            )
        raise InputError(
            f"question {short_id(question_id)} was not {args.verdict}: it is already {state}"
            + (" (or expired)" if state == "pending" else "")
        )
    approvals.close()
    why = f": {reason}" if reason else (" (no reason given)" if args.verdict == "rejected" else "")
    print(f"question {short_id(question_id)} {args.verdict} by {actor}{why}")
    narrower = _narrower_approvers(ledger, question_id)
    if narrower:
        print(
            f"note: in Slack only {narrower} may answer this question; the CLI does not "
            "check this (whoever may write the ledger may answer here)"
        )
    return 0


def _access(settings: Settings) -> AccessCheck | None:
    """slack.requireKubernetesAccess's check for an approval given here, or None when
    off: the approver is ``--as`` (a Slack user id in slack.kubernetesIdentities), each
    write reviewed with the cluster credentials the daemon's configuration names."""
    if not settings.slack.require_kubernetes_access:
        return None
    from agent.adapters.kube_api import KubeApi, SubjectAccessReviewer
    from agent.adapters.kubernetes import load_api_client
    from agent.kube_access import access_check

    cluster = settings.cluster
    api_client = load_api_client(
        kubeconfig=str(cluster.kubeconfig) if cluster.kubeconfig else None,
        context=cluster.context,
        in_cluster=cluster.in_cluster,
    )
    return access_check(settings.slack, SubjectAccessReviewer(KubeApi(api_client)))


def _narrower_approvers(ledger: Any, question_id: str) -> str | None:
    """Who may answer the question in Slack, when a namespace or runbook narrows it."""
    from agent.approvals import describe_approvers

    question = ledger.question(question_id)
    record = ledger.get_decision(question.decision_id) if question else None
    if record is None:
        return None
    lists = record.evidence.get("approvers")
    if isinstance(lists, list) and len(lists) > 1:
        return describe_approvers(lists)
    runbook = record.evidence.get("runbook_approvers")
    if isinstance(runbook, dict) and runbook.get("ids"):
        return f"{', '.join(runbook['ids'])} (runbook {runbook.get('runbook')})"
    return None


def _resolve(ledger: Any, text: str) -> str:
    if not text.strip():  # an empty shell variable: every id starts with ''
        raise InputError("no question or decision id given: `autonomic approvals list` shows them")
    found = ledger.find_questions(text)
    if not found:
        raise InputError(_not_asked(ledger, text))
    if len({q.id for q in found}) > 1:
        typed = text.lower()
        by_decision = [q for q in found if not q.id.lower().startswith(typed)]
        decisions = {q.decision_id for q in found}
        if len(decisions) == 1 and len(by_decision) == len(found):
            # One decision asked more than once (the ledger allows it): its id names them
            # all, so the one still waiting is the one to answer; else its questions' ids.
            pending = [q for q in found if q.status == "pending"]
            if len(pending) == 1:
                return str(pending[0].id)
            shown = ", ".join(distinct_ids([q.id for q in found[:5]]))
            raise InputError(
                f"decision {short_id(found[0].decision_id)} was asked {len(found)} questions, "
                f"{len(pending) or 'none'} of them pending: {shown}; give the question's id"
            )
        # the ids that start with what was typed: a question's own, or its decision's
        shown = ", ".join(
            distinct_ids(
                [q.id if q.id.lower().startswith(typed) else q.decision_id for q in found[:5]]
            )
        )
        raise InputError(f"{text!r} is ambiguous: {shown}; give more of the id")
    return str(found[0].id)


def _not_asked(ledger: Any, text: str) -> str:
    """Why no question has ``text`` as the start of its id or its decision's: a decision
    that exists but was never a question (routed auto, escalated, observed) is named, with
    what became of it, rather than said not to exist."""
    found = ledger.find_decisions(text)
    records = [r for r in (ledger.get_decision(d) for d in found) if r is not None]
    if len(records) == 1:
        record = records[0]
        return (
            f"decision {short_id(record.id)} ({record.decision_type} on {record.subject}) was "
            f"never a question: it was routed {record.route} and is {record.status}, so there "
            f"is nothing to approve or reject (`autonomic explain {short_id(record.id)}` tells its "
            "story)"
        )
    if records:
        shown = ", ".join(distinct_ids([r.id for r in records]))
        return (
            f"no question's id starts with {text!r}, and none of the decisions whose ids do "
            f"({shown}) was a question: there is nothing to approve or reject"
        )
    return (
        f"no question or decision id starts with {text!r}: `autonomic approvals list --all` "
        "shows them"
    )
