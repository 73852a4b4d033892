"""`autonomic explain DECISION_ID`: the whole story of one decision, for a person."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from typing import Any

from agent.cli._context import add_ledger_flags, ledger_from, one_decision
from agent.ids import short_id
from agent.routing import both_confidences, confidence_percent, threshold_percent
from agent.verdicts import NOT_EXECUTED, status_said
from forecasting.text import shown_text
from remediation.events import event_lines


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "explain",
        help="tell the whole story of one decision, from signal to outcome",
        description=__doc__,
    )
    parser.add_argument("id", help="decision id (a unique prefix is enough)")
    parser.add_argument("--json", action="store_true", help="print the raw records as JSON")
    add_ledger_flags(parser)
    parser.set_defaults(handler=explain)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    from remediation.windows import to_utc_text

    return to_utc_text(ts)


def _answer_reason(question: Any) -> str:
    """What follows a question's answer: its reason, or for a rejection without one "no
    reason given" (a Slack Reject button gives none, nor does ``reject`` without
    ``--reason``)."""
    if question.answer_reason:
        return f": {question.answer_reason}"
    return ": no reason given" if question.status == "rejected" else ""


def _feedback_line(item: dict[str, Any], reason: str | None = None) -> str:
    """One feedback record: when, what, who, and its detail without empty entries
    (``"reason": null`` and the like; ``--json`` keeps the record as stored). A rejection
    without a reason says so. The detail is cut short, but not its ``why`` (why a
    verification failed, why it was not executed), which follows whole on a line of its
    own: it came after the list of undone steps and was cut off. A ``why`` that is the
    decision's ``reason`` word for word (a hand-off's escalation) is not said twice, nor
    is a failed run's final word (``said``: its why and what became of what it wrote),
    which the why line says whole."""
    outcome = item["outcome"]
    if item["kind"] == "execution" and outcome == "expired":  # never run: no verification
        outcome = NOT_EXECUTED
    line = f"  {_when(item['created_at'])} {item['kind']}: {outcome} ({item['actor']})"
    detail = item["detail"]
    if isinstance(detail, dict):
        if (
            item["kind"] in ("answer", "late-answer")
            and item["outcome"] == "rejected"
            and not detail.get("reason")
        ):
            line += ", no reason given"
        detail = {key: value for key, value in detail.items() if value is not None}
        if item["kind"] == "undo":  # the Undo button's words: the progress line says them
            detail.pop("message", None)
        # The escalation a closing promised (``remediation_engine.PROMISED``): its own
        # ``escalation`` row says it, once sent.
        detail.pop("escalate", None)
        # Closed because its signal ended (``RemediationEngine._recurred``): the why says so.
        detail.pop("signal_over", None)
        until = detail.pop("snooze_until", None)
        if isinstance(until, int | float):  # said as a time, not an epoch cut off at 160
            line += f", open until {_when(until)}"
        why = detail.pop("why", None)
        if isinstance(why, str):
            # A failed run's final word (``said``): its why, then what became of what it
            # wrote. Said once, on the why line, not also (cut short) in the detail.
            said = detail.pop("said", None)
            told = "the decision's reason, under why above" if why == reason else why
            if isinstance(said, str) and said.startswith(why):
                told += said[len(why) :]
            elif isinstance(said, str) and said.endswith(why):
                pass  # the outcome, then the why ("failed: WHY"): the line says both
            elif said is not None:
                detail["said"] = said
            rest = f" {_clipped(detail, 160)}" if detail else ""
            return f"{line}{rest}\n    why: {told}"
        if why is not None:
            detail["why"] = why
    return line + (f" {_clipped(detail, 160)}" if detail else "")


def _model_lines(record: Any, model: Mapping[str, Any] | None) -> list[str]:
    """A scaling decision's model version as the ledger recorded it: its status, when it
    was fitted, and its evaluation (what triggered the fit, both models' held-out error,
    why it went live)."""
    if record.kind != "scaling":
        return []
    if model is None:
        return ["  model    no record of this version in the ledger"]
    evaluation = json.dumps(model["evaluation"], default=str)[:300]
    return [
        f"  model    {model['status']}, fitted {_when(model['created_at'])}",
        f"           evaluation {evaluation}",
    ]


def explain(args: argparse.Namespace) -> int:
    from agent.ledger import Ledger

    ledger: Ledger = ledger_from(args)
    print(render(ledger, one_decision(ledger, args.id).id, as_json=args.json))
    return 0


def render(
    ledger: Any, decision_id: str, *, as_json: bool = False, now: float | None = None
) -> str:
    """The story as text (or JSON): what was seen, what was proposed, how it was routed,
    who answered, what was written to the cluster, and how it turned out."""
    record = ledger.get_decision(decision_id)
    feedback = ledger.feedback_for(decision_id)
    questions = ledger.questions_for([decision_id])
    intents = ledger.intents(decision_id=decision_id)
    life = ledger.status_history(decision_id)
    # A scaling decision names the model version it used: its evaluation in the ledger.
    model = (
        ledger.model_version(record.subject, record.model_version)
        if record.kind == "scaling"
        else None
    )
    if as_json:
        return json.dumps(
            {
                "decision": record.__dict__,
                "model_version": model,
                "status_history": [
                    {"at": at, "previous": previous, "status": status}
                    for at, previous, status in life
                ],
                "feedback": feedback,
                "questions": [q.__dict__ for q in questions],
                "intents": [i.__dict__ for i in intents],
            },
            default=str,
            indent=2,
        )
    routing = record.evidence.get("routing", {})
    lines = [
        f"Decision {record.id} ({record.kind}, {record.decision_type})",
        f"  on       {record.subject}",
        f"  at       {_when(record.created_at)}",
        # A plan's reason lists one change a line: later lines align under the first.
        f"  why      {record.reason_code}: {_reason(record)}".replace("\n", "\n           "),
        *_proposal_lines(record.proposal),
        f"  by       {record.model_version}",
        *_model_lines(record, model),
        "",
        "Evidence",
    ]
    for key, value in record.evidence.items():
        if key == "findings" and isinstance(value, dict):  # a canary's: each metric whole
            lines.append("  findings:")
            lines += [f"    {text}" for text in value.values()]
        elif key == "metrics" and "findings" in record.evidence:
            continue  # a canary's numbers: the findings say them (whole with --json)
        elif key == "queries" and "findings" in record.evidence and isinstance(value, dict):
            lines.append("  queries:")  # a canary's, each side's, by column
            lines += [
                f"    {side} {column}: {query}"
                for side, by_column in value.items()
                if isinstance(by_column, dict)
                for column, query in by_column.items()
            ]
        elif key == "group" and record.kind == "anomaly":
            continue  # shown whole below, with the later ones
        elif key == "breakdown" and isinstance(value, dict):
            lines += _breakdown_lines(value)  # an anomaly's ``breakdownBy``: by value
        elif key == "disruption_budgets" and isinstance(value, dict):
            # A drain's: what each PodDisruptionBudget covering its pods says, whole.
            lines.append("  disruption budgets:")
            if value.get("unread"):
                lines.append(f"    could not be read: {value['unread']}")
            covering = value.get("covering") or []
            lines += [f"    {found.get('says', found)}" for found in covering]
            if not value.get("unread") and not covering:
                lines.append(f"    none of the {value.get('read', 0)} read covers a pod it evicts")
        elif key == "events" and isinstance(value, dict):
            # The target's recent Kubernetes Events, folded by reason, as Slack shows them.
            said = event_lines(value)
            if len(said) == 1 and not value.get("shown"):
                lines.append(f"  events: {said[0]}")  # none recent, or not readable: why
            else:
                lines.append("  events:")
                lines += [f"    {line}" for line in said]
        elif key == "denial" and isinstance(value, str):
            # A hand-off's: its reason says it, whole; said apart only if it does not.
            if value not in record.reason:
                lines.append(f"  denial: {value}")
        elif key == "hpa_metrics" and isinstance(value, str):
            # A scaling decision's: what each of the HPA's metrics proposes, whole.
            lines.append(f"  HPA metrics {value}")
        elif value is None:
            continue  # a hand-off with no window, and the like: nothing to say
        elif key not in ("routing", "guards", "approvers", "runbook_approvers"):
            lines.append(f"  {key}: {_clipped(value, 200)}")
    lines += _guard_lines(record.evidence.get("guards"))
    lines += _group_lines(ledger, record)
    auto, ask = routing.get("auto"), routing.get("ask")
    levels = [t for t in (auto, ask) if isinstance(t, (int, float))]
    lines += ["", "Routing"]
    if not _handed_off(record.decision_type):  # a hand-off's 0% was never judged
        signal = routing.get("signal_confidence")
        lines.append(
            "  confidence "
            + (
                both_confidences(signal, record.confidence, record.kind, *levels)
                if isinstance(signal, int | float)
                else confidence_percent(record.confidence, *levels)
            )
        )
    lent = routing.get("siblings") or {}
    if lent.get("outcomes"):
        lines.append(
            f"  lent       {lent['outcomes']} outcomes of sibling runbooks "
            f"({', '.join(lent.get('types', []))}), {lent.get('right', 0)} right"
        )
    lines += _namespace_lines(routing.get("namespace") or {})
    if record.route == "observe":  # an inference recorded to be judged: not routed
        lines.append(
            "  route      observe: recorded with its confidence, to be judged by what "
            "follows; it proposes nothing itself. Its signal goes to the runbooks, each "
            "deciding and routing on its own"
        )
    elif _handed_off(record.decision_type):
        lines.append(
            f"  route      escalate: handed to a person by the guards ({record.reason_code}); "
            "no confidence was judged and nothing was proposed to run"
        )
    else:
        lines += [
            f"  thresholds {_thresholds(auto, ask, routing.get('max_autonomy'))}",
            f"  route      {record.route}: {routing.get('route_reason', '')}",
        ]
    for question in questions:
        lines.append(
            f"  question   {short_id(question.id)} {question.status}"
            + (
                f" by {question.answered_by} at {_when(question.answered_at)}"
                if question.answered_by
                else ""
            )
            + _answer_reason(question)
        )
    lines += _approver_lines(record.evidence) if questions else []
    if intents:
        lines += ["", "Cluster writes (write-ahead intents)"]
        for intent in intents:
            summary = (intent.result or {}).get("summary", "")
            lines.append(
                f"  step {intent.step}: {intent.operation.get('op', '?')} on "
                f"{_ref(intent.operation.get('target', '?'))} -> {intent.status} {summary}"
            )
    lines += _linked_lines(ledger, record)
    lines += ["", "Outcome"]
    for item in feedback:
        lines.append(_feedback_line(item, record.reason))
    at = time.time() if now is None else now
    lines.append(
        f"  status now: {status_said(record.status, feedback)}" + _undo_note(record, feedback, at)
    )
    if life:
        lines += ["", "Life (each status and when it was taken)"]
        start = life[0][0]
        for at, _previous, status in life:
            lines.append(f"  {_when(at)}  {_elapsed(at - start):>9}  {status}")
    # Much of the story is text others wrote (Events, alert annotations, answers): its
    # control, bidi and invisible characters are shown as escapes, not acted on.
    return shown_text("\n".join(lines))


def _reason(record: Any) -> str:
    """The decision's reason, without the plan a runbook decision's ends with (``...;
    plan: CHANGES``) when the ``proposed`` lines below say the same changes: a drain's
    plan with its disruption budgets ran to several lines, said twice."""
    diff = record.proposal.get("diff") if isinstance(record.proposal, dict) else None
    if isinstance(diff, list) and diff:
        plan = "; plan: " + "\n".join(str(change) for change in diff)
        if record.reason.endswith(plan):
            return str(record.reason[: -len(plan)])
    return str(record.reason)


def _undo_note(record: Any, feedback: list[dict[str, Any]], now: float) -> str:
    """After ``undo-requested``: who asked, what happens next, and by when; after the
    last request expired: that it did, and why."""
    from agent.undo import request_deadline

    asked = [row for row in feedback if row["kind"] == "undo-request"]
    if record.status != "undo-requested":
        ended = [row for row in feedback if row["kind"] == "undo"]
        if asked and ended and ended[-1]["outcome"] == "expired":
            return f" (the undo {asked[-1]['actor']} requested expired: see `undo: expired` above)"
        return ""
    who = f" by {asked[-1]['actor']}" if asked else ""
    deadline = request_deadline(asked[-1]) if asked else None
    if deadline is not None and now > deadline:
        when = (
            f"; it was not carried out by {_when(deadline)} (safety.undoRequestTTL): the "
            "next leader's cycle marks it expired and does not carry it out"
        )
    elif deadline is not None:
        when = f"; it expires if not carried out by {_when(deadline)}"
    else:
        when = ""
    return (
        f" (an undo was requested{who}; the daemon's leader carries it out at its next "
        f"remediation cycle, unless someone changed the target since{when})"
    )


def _linked_lines(ledger: Any, record: Any) -> list[str]:
    """A signal's decision and the runbook decisions it started, each way. A canary
    verdict sent to the runbooks (acted on, or approved) names itself in the signal's
    evidence (``verdict_decision``); an anomaly's observation shares its incident key with
    the signal, which ends each runbook decision's key (``runbook|target|signal``). So a
    runbook decision says what started it, and the verdict or observation lists what it
    started, and how each stands."""
    if record.kind == "remediation":
        origin = _origin(ledger, record)
        return ["", "Started by", f"  {origin}"] if origin else []
    if record.kind not in ("canary", "anomaly"):
        return []
    started = [
        later
        for later in reversed(ledger.decisions(kind="remediation", since=record.created_at))
        if _started_by(later, record)
    ]
    if not started:
        return []
    return [
        "",
        "What it started (runbook decisions)",
        *(
            f"  {later.id}  {later.decision_type} on {later.subject}: "
            f"{later.route}, {_status(ledger, later)} ({confidence_percent(later.confidence)})"
            for later in started
        ),
    ]


def _status(ledger: Any, record: Any) -> str:
    """``record``'s status as listed (``status_said``); its feedback read only when the
    status alone may mislead."""
    if record.status != "expired":
        return str(record.status)
    return status_said(record.status, ledger.feedback_for(record.id))


def _started_by(later: Any, record: Any) -> bool:
    signal = later.evidence.get("signal")
    if isinstance(signal, dict) and signal.get("verdict_decision") == record.id:
        return True
    key = record.incident_key
    return bool(key) and str(later.incident_key or "").endswith(f"|{key}")


def _origin(ledger: Any, record: Any) -> str | None:
    """The verdict or observation whose signal started runbook decision ``record``."""
    signal = record.evidence.get("signal")
    verdict_id = signal.get("verdict_decision") if isinstance(signal, dict) else None
    if isinstance(verdict_id, str):
        verdict = ledger.get_decision(verdict_id)
        if verdict is None:
            return f"{verdict_id}  a canary verdict no longer in the ledger (pruned)"
        return (
            f"{verdict_id}  canary verdict {verdict.proposal.get('verdict', '?')} on "
            f"{verdict.subject}, {verdict.route}, {verdict.status}"
        )
    parts = str(record.incident_key or "").split("|", 2)
    if len(parts) != 3:
        return None
    observed = ledger.latest_for_incident(parts[2])
    if observed is None or observed.kind == "remediation":
        return None
    return (
        f"{observed.id}  {observed.kind} on {observed.subject}: {observed.reason} "
        f"(confidence {confidence_percent(observed.confidence)})"
    )


def _namespace_lines(here: Mapping[str, Any]) -> list[str]:
    """How the type's record in the subject's namespace bore on the confidence
    (``routing.perNamespace``), when it has outcomes there and elsewhere."""
    if not here.get("outcomes"):
        return []
    lowered, chance = here.get("lowered_from"), here.get("chance")
    said = f"{here.get('right', 0)} of {here['outcomes']} outcomes of this type there right"
    if isinstance(lowered, (int, float)):
        why = (
            f"confidence lowered from {lowered:.1%} to {here['confidence']:.1%}: worse than "
            f"its record elsewhere ({here['elsewhere']:.1%}) beyond chance (p = {chance:.2g})"
        )
    elif isinstance(chance, (int, float)) and chance < 1.0:
        why = f"not lowered: within chance at its rate elsewhere (p = {chance:.2g})"
    else:
        why = "no worse than elsewhere, nothing lowered"
    return [f"  namespace  {here['namespace']}: {said}; {why} (routing.perNamespace)"]


def _group_lines(ledger: Any, record: Any) -> list[str]:
    """The anomalies on the same workload as anomaly decision ``record``, in the order
    they opened: those it was recorded with (``evidence.group``), and those that opened
    after it and were grouped with it (their decisions' groups name its incident)."""
    if record.kind != "anomaly" or not record.incident_key:
        return []
    members: dict[str, dict[str, Any]] = {}
    groups = [record.evidence.get("group")]
    later = ledger.decisions(kind="anomaly", since=record.created_at, subject=record.subject)
    groups += [d.evidence.get("group") for d in reversed(later) if d.id != record.id]
    for group in groups:
        if not isinstance(group, list):
            continue
        keys = {m.get("incident_key") for m in group if isinstance(m, dict)}
        if group is not groups[0] and record.incident_key not in keys:
            continue  # a later group on the workload this one is not part of
        for member in group:
            if isinstance(member, dict) and isinstance(member.get("incident_key"), str):
                members[member["incident_key"]] = member  # a later record knows it closed
    if len(members) < 2:
        return []
    ordered = sorted(members.values(), key=lambda m: (m.get("since") or 0, m["incident_key"]))
    lines = ["", f"Anomalous together on {record.subject} (in the order they opened)"]
    for number, member in enumerate(ordered):
        this = member["incident_key"] == record.incident_key
        closed = member.get("closed_at")
        lines.append(
            f"  {_when(member.get('since'))}  {member.get('query', '?')} "
            f"{member.get('reason', '?')}"
            + ("" if this else f", peak {_number(member.get('peak'))}")
            + ("" if this else f", expected {_number(member.get('expected'))}")
            + (
                # dropped after a gap in its data: not known to be over
                f", {'no data since' if member.get('how') == 'silent' else 'over at'} "
                f"{_when(closed)}"
                if isinstance(closed, int | float)
                else ""
            )
            + _marks(this, first=number == 0)
        )
    return lines


def _marks(this: bool, *, first: bool) -> str:
    marks = [text for text, on in (("this decision", this), ("the first to move", first)) if on]
    return f" ({'; '.join(marks)})" if marks else ""


def _number(value: Any) -> str:
    """A group member's peak or expected value; an off-scale incident's are saved as the
    words "+Inf", "-Inf" or "NaN" (the ledger's JSON holds no such number), shown so."""
    if isinstance(value, str) and value in ("+Inf", "-Inf", "NaN"):
        return value
    return f"{value:.4g}" if isinstance(value, int | float) else "?"


def _thresholds(auto: object, ask: object, cap: object) -> str:
    """The thresholds the decision was routed with, as percentages like its confidence,
    and the runbook's cap on autonomy where it has one: a runbook capped at ``ask`` never
    acts alone, whatever its automatic threshold says."""

    def shown(value: object) -> str:
        return threshold_percent(value) if isinstance(value, (int, float)) else "?"

    text = f"auto {shown(auto)}, ask {shown(ask)}"
    if cap == "ask":
        text += " (the runbook caps autonomy at ask: it never acts alone, at any confidence)"
    elif cap == "escalate":
        text += " (autonomy is capped at escalate: it never acts or asks, at any confidence)"
    return text


_INDENT = " " * 11  # under the values of "  proposed "


def _ref(target: Any) -> str:
    """``Deployment/shop/web`` for an object reference as the ledger keeps it."""
    if isinstance(target, dict) and "kind" in target and "name" in target:
        parts = [target["kind"], target.get("namespace") or "", target["name"]]
        return "/".join(str(part) for part in parts if part)
    return str(target)


def _breakdown_lines(breakdown: Mapping[str, Any]) -> list[str]:
    """An anomaly observation's breakdown: each label's values that carried its movement,
    with their share and their means before and during it, or why none is known."""
    by = ", ".join(str(label) for label in breakdown.get("by") or [])
    lines = [f"  breakdown by {by}:"]
    for label, parts in (breakdown.get("ranked") or {}).items():
        said = [
            f"{part.get('value')} {100 * float(part.get('share', 0)):.0f} % "
            f"({float(part.get('before', 0)):.4g} before, {float(part.get('during', 0)):.4g} "
            "during)"
            for part in parts or []
            if isinstance(part, Mapping)
        ]
        if said:
            lines.append(f"    {label}: {', '.join(said)}")
    if breakdown.get("unread"):
        lines.append(f"    {breakdown['unread']}")
    return lines


def _clipped(value: Any, limit: int) -> str:
    """``value`` as JSON on one line, at most ``limit`` characters: one cut short ends
    with an ellipsis, so it is not read as whole (``--json`` has it whole)."""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value(value: Any) -> str:
    if isinstance(value, dict) and "kind" in value and "name" in value:
        return _ref(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return str(value)
    return json.dumps(value, default=str, sort_keys=True)


def proposal_said(proposal: Mapping[str, Any]) -> str:
    """What was proposed, on one line: a runbook plan's first change (with how many more),
    else the operation and its values (``autonomic history`` lists it so)."""
    diff = proposal.get("diff")
    if isinstance(diff, list) and diff:
        more = f" (+{len(diff) - 1} more)" if len(diff) > 1 else ""
        return f"{diff[0]}{more}"
    op = proposal.get("op")
    values = ", ".join(f"{k} {_value(v)}" for k, v in sorted(proposal.items()) if k != "op")
    return f"{op}: {values}" if op is not None else values


def _proposal_lines(proposal: dict[str, Any]) -> list[str]:
    """What was proposed, for a person: a runbook's plan as its changes one a line, then
    how it runs and how it is verified; any other proposal as its operation and values
    (``--json`` has it whole)."""
    diff = proposal.get("diff")
    if not (isinstance(diff, list) and diff):
        return [f"  proposed {proposal_said(proposal)}"]
    lines = [f"  proposed {diff[0]}", *(f"{_INDENT}{change}" for change in diff[1:])]
    how = []
    if proposal.get("mode"):
        how.append(f"mode {proposal['mode']}")
    if "undo_on_failure" in proposal:
        from agent.undo import undo_said  # the ledger and its driver: here, not at start

        ops = [str(o.get("op")) for o in proposal.get("operations") or [] if isinstance(o, dict)]
        how.append(undo_said(ops, bool(proposal["undo_on_failure"])))
    verification = proposal.get("verification")
    if isinstance(verification, dict) and verification.get("checks"):
        names = [
            str(check.get("condition_name") or check.get("query") or check.get("kind"))
            for check in verification["checks"]
            if isinstance(check, dict)
        ]
        how.append(
            f"verified by {', '.join(names)}: {verification.get('passes_required', '?')} "
            f"passing rounds in a row, from {verification.get('settle', 0):g} s to "
            f"{verification.get('window', 0):g} s after"
        )
    notifications = proposal.get("notifications")
    if notifications:
        how.append(f"notifies {_value(notifications)}")
    if how:
        lines.append(f"{_INDENT}({'; '.join(how)})")
    return lines


def _approver_lines(evidence: Any) -> list[str]:
    """Who was allowed to answer the decision's question, as recorded when it was asked."""
    from agent.approvals import describe_approvers

    lists = evidence.get("approvers")
    if isinstance(lists, list) and lists:
        return [f"  approvers  {describe_approvers(lists)}"]
    runbook = evidence.get("runbook_approvers")
    if isinstance(runbook, dict) and runbook.get("ids"):
        return [
            f"  approvers  runbook {runbook.get('runbook')} names {', '.join(runbook['ids'])}; "
            "asked without Slack, so not checked (a CLI answer counts as whoever may write "
            "the ledger)"
        ]
    return []


def _guard_lines(guards: Any) -> list[str]:
    """A runbook decision's preconditions and guards as they were judged, one a line:
    whether it passed, its name, what it required and what it saw. Decisions recorded
    before they were kept (and other kinds of decision) have none, and no section."""
    if not isinstance(guards, list) or not guards:
        return []
    lines = ["", "Preconditions and guards (as judged when decided)"]
    for item in guards:
        if not isinstance(item, dict):
            continue
        verdict = "pass" if item.get("passed") is True else "FAIL"
        lines.append(
            f"  {verdict}  {item.get('name', '?')}: needs {item.get('required', '?')}; "
            f"saw {item.get('seen', '?')}"
        )
    return lines


def _elapsed(seconds: float) -> str:
    """Time since the decision, as a person reads it: +0 s, +95 s, +12 min, +3.5 h."""
    if seconds < 120:
        return f"+{seconds:.0f} s"
    if seconds < 7200:
        return f"+{seconds / 60:.0f} min"
    return f"+{seconds / 3600:.1f} h"


def _handed_off(decision_type: str) -> bool:
    """A storm's summary or a hand-off (``held/<runbook>``): escalated by the guards."""
    from agent.ledger import is_hold

    return is_hold(decision_type)
