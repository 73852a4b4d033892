"""Block Kit messages for questions, answers and escalations: pure functions, no I/O.

A person deciding in Slack must see, in one message, what is proposed on what, how
sure Autonomic is and why, the numbers and the query behind it, and where it came
from. The buttons carry only the opaque question id: the state stays in the ledger,
so a forged or stale button value can do nothing the ledger does not allow.

Everything taken from a decision is escaped for Slack's mrkdwn (``&``, ``<``, ``>``),
so a pod name or a runbook sentence cannot smuggle a mention or a link into the
message, and its control, bidi and invisible characters are shown as their escapes
(``forecasting.text.shown_text``: ``\\x1b``, ``\\u202e``), and long values are cut
to Slack's field limits. A plain message's text
(``plain_text``: a thread's progress line, a note, an announcement) is cut too, below
Slack's 40,000 characters, with a visible marker saying how much was left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agent.ledger import is_hold
from agent.routing import both_confidences, confidence_percent
from agent.verdicts import no_verdict
from forecasting.text import shown_parts, shown_text
from remediation.events import event_lines
from remediation.windows import to_utc_text

__all__ = [
    "ACTION_APPROVE",
    "ACTION_REJECT",
    "ACTION_SNOOZE",
    "ACTION_UNDO",
    "ANSWERS",
    "HINDSIGHT_VERDICTS",
    "QUESTION_BLOCK_ID",
    "TEXT_LIMIT",
    "answer_line",
    "describe_proposal",
    "escalation_blocks",
    "escalation_text",
    "escape",
    "mention",
    "plain_text",
    "question_approvers",
    "question_blocks",
    "question_text",
    "report_blocks",
    "report_text",
    "slack_date",
    "source_link",
    "undo_blocks",
    "who_may_answer",
]

ACTION_APPROVE = "autonomic_approve"
ACTION_REJECT = "autonomic_reject"
ACTION_SNOOZE = "autonomic_snooze"
# The button's action_id -> the answer recorded in the ledger.
ANSWERS: Mapping[str, str] = {
    ACTION_APPROVE: "approved",
    ACTION_REJECT: "rejected",
    ACTION_SNOOZE: "snoozed",
}
QUESTION_BLOCK_ID = "autonomic_question"
# On an escalation nobody acted on: once handled, was what it proposed the fix?
ACTION_WAS_FIX = "autonomic_was_fix"
ACTION_WAS_NOT_FIX = "autonomic_was_not_fix"
# The button's action_id -> the verdict recorded in hindsight (right or not).
HINDSIGHT_VERDICTS: Mapping[str, bool] = {ACTION_WAS_FIX: True, ACTION_WAS_NOT_FIX: False}
HINDSIGHT_BLOCK_ID = "autonomic_hindsight"
# Under an action that verified: a person who finds it was wrong undoes it from here,
# as with ``autonomic undo`` (the daemon's leader carries it out).
ACTION_UNDO = "autonomic_undo"
UNDO_BLOCK_ID = "autonomic_undo"
# Decision statuses an escalation shows the hindsight buttons for (``agent.verdicts``).
_NOBODY_ACTED = frozenset({"escalated", "expired"})
# Decision statuses of one that was carried out (in part, at least): its escalation (a
# failed verification, an undo) must not say that nothing was done.
_CARRIED_OUT = frozenset(
    {"executing", "verifying", "verified", "failed", "undone", "done", "undo-requested"}
)

# The question's heading once it is answered: "Approval needed" would still ask for
# what no button can give any more.
_ANSWERED_HEADINGS: Mapping[str, str] = {
    "approved": "Approved",
    "rejected": "Rejected",
    "expired": "Expired unanswered",
    "superseded": "No longer needed",
}
_FIELD_LIMIT = 1900  # Slack: 2000 characters per field
_SECTION_LIMIT = 2900  # Slack: 3000 characters per section text
# One line of a decision's Kubernetes Events, once escaped: 5 of them, and the two lines
# saying what was left out, fit in one section.
_EVENT_LINE = 380
# Slack refuses a message whose text is longer than 40,000 characters (msg_too_long):
# plain text is cut below that, with room for what a caller adds after it.
TEXT_LIMIT = 39_000
_SOURCE_KEYS = ("source_url", "sourceURL", "generator_url", "generatorURL", "dashboard_url", "url")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
# Evidence shown on a line of its own (who may answer, what a yes does), not among the
# numbers; ``yes_acts`` is what the "If approved" line says in words; ``events`` (the
# target's recent Kubernetes Events) has a section of its own.
_OWN_LINE_KEYS = frozenset({"approvers", "runbook_approvers", "if_approved", "yes_acts", "events"})
# A canary verdict's numbers per metric and its queries: the findings already say the
# numbers, and six queries would crowd the question; `autonomic explain` shows them.
_EXPLAIN_ONLY_KEYS = frozenset({"metrics", "queries"})


def escape(text: object) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters, and
    show the control, bidi and invisible characters of ``text`` as their escapes
    (``shown_text``)."""
    return _mrkdwn_escaped(shown_text(str(text)))


def _mrkdwn_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escaped_cut(text: str, limit: int) -> str:
    """``text`` escaped (``escape``) and cut so that it is at most ``limit`` characters
    once escaped (an Event's message full of ``<`` grows four times), the cut between
    characters of ``text``, never inside the ``&lt;`` one of them became."""
    shown = escape(text)
    if len(shown) <= limit:
        return shown
    kept: list[str] = []
    length = 0
    # Each character as the whole shows it (an emoji's joiner kept), not alone.
    for part in shown_parts(text):
        piece = _mrkdwn_escaped(part)
        if length + len(piece) > limit - 1:
            break
        kept.append(piece)
        length += len(piece)
    return "".join(kept) + "…"


def plain_text(text: object, limit: int = TEXT_LIMIT) -> str:
    """``text`` escaped (``escape``), cut so that it is at most ``limit`` characters once
    escaped, the cut said at its end: ``… (cut: N characters more)``, N counted in
    ``text`` as given. The cut falls between characters of ``text``, never inside the
    ``&amp;`` that one of them became."""
    raw = str(text)
    shown = escape(raw)
    if len(shown) <= limit:
        return shown

    def marker(left: int) -> str:
        return f"… (cut: {left} characters more)"

    # The longest start of ``raw`` that fits, escaped, with its marker: escaping only
    # lengthens, so the fit is monotonic and a bisection finds it.
    low, high = 0, len(raw)
    while low < high:
        middle = (low + high + 1) // 2
        if len(escape(raw[:middle])) + len(marker(len(raw) - middle)) <= limit:
            low = middle
        else:
            high = middle - 1
    return escape(raw[:low]) + marker(len(raw) - low)


def mention(actor: str) -> str:
    """``U123`` -> ``<@U123>`` (Slack renders the name); anything else shown as written."""
    return f"<@{actor}>" if _USER_ID.match(actor) else escape(actor)


def _approver(entry: str) -> str:
    """A user id or user group id as Slack shows it (``@name``, ``@handle``)."""
    if _GROUP_ID.match(entry):
        return f"<!subteam^{entry}>"
    return mention(entry)


def _source(source: str) -> str:
    """``slack.approversByNamespace.payments`` -> ``namespace payments``."""
    prefix = "slack.approversByNamespace."
    return f"namespace {source[len(prefix) :]}" if source.startswith(prefix) else source


def who_may_answer(lists: Any) -> str:
    """Who may answer, in mrkdwn: ``<!subteam^S1>, <@U2>`` for one list; for several,
    someone in each: ``someone in <!subteam^S1> (slack.approvers) who is also in
    <!subteam^S2> (namespace payments)``. Mentions notify in a message (not in an
    ephemeral reply): the question uses ``question_approvers``."""
    shown = [_listed(entry) for entry in lists]
    if len(shown) == 1:
        return shown[0].rsplit(" (", 1)[0]
    return f"someone in {shown[0]} who is also in {' and in '.join(shown[1:])}"


def question_approvers(lists: Any) -> str | None:
    """The question's "Approvers:" line when a namespace or runbook narrows
    ``slack.approvers`` (None otherwise, as before: a question pages nobody). Only the
    narrower lists are mentioned, so they, who alone may answer, are notified:
    ``<!subteam^S2> (namespace payments), who must also be in slack.approvers``."""
    if not lists or len(lists) < 2:
        return None
    narrow = [_listed(entry) for entry in lists[1:]]
    who = narrow[0] if len(narrow) == 1 else f"someone in {' who is also in '.join(narrow)}"
    return f"{who}, who must also be in {escape(_source(str(lists[0].get('source'))))}"


def _listed(entry: Any) -> str:
    ids = ", ".join(_approver(str(i)) for i in entry.get("ids") or ()) or "nobody"
    return f"{ids} ({escape(_source(str(entry.get('source'))))})"


def slack_date(epoch: float) -> str:
    """A timestamp each reader sees in their own time zone, with a UTC fallback in the
    shape every other sentence writes (``2026-11-25 06:02:10 UTC``)."""
    fallback = to_utc_text(epoch)
    return f"<!date^{int(epoch)}^{{date_short_pretty}} at {{time}}|{fallback}>"


def describe_proposal(proposal: Mapping[str, Any]) -> str:
    """``{"op": "scale", "replicas": 5}`` -> ``scale (replicas=5)``: short and readable.
    A runbook's plan (its ``operations``) is named by its operations and the runbook:
    ``rollback (runbook crashloop-after-rollout-rollback)``; the plan itself is in the
    decision's reason."""
    operations = proposal.get("operations")
    if (
        isinstance(operations, list)
        and operations
        and all(isinstance(op, Mapping) and "op" in op for op in operations)
    ):
        text = ", ".join(dict.fromkeys(str(op["op"]) for op in operations))
        runbook = proposal.get("runbook")
        if runbook:
            text += f" (runbook {runbook})"
        return _cut(text, 300)
    verdict = proposal.get("verdict")
    if isinstance(verdict, str) and "baseline" in proposal:  # a canary verdict
        return _cut(_canary_proposal(verdict, proposal), 300)
    verb = next((str(proposal[k]) for k in ("op", "action", "kind") if k in proposal), "")
    details = [
        f"{key}={_scalar(value)}"
        for key, value in proposal.items()
        if key not in ("op", "action", "kind") and not isinstance(value, Mapping | list)
    ]
    text = verb or "change"
    if details:
        text += " (" + ", ".join(details) + ")"
    return _cut(text, 300)


def _canary_proposal(verdict: str, proposal: Mapping[str, Any]) -> str:
    """``canary verdict promote for web:v2 (baseline Deployment/shop/web on web:v1)``:
    the verdict, the release judged and what it was judged against."""

    def images(key: str) -> str:
        value = proposal.get(key)
        named = [str(i) for i in value] if isinstance(value, list) else []
        return ", ".join(named) or "?"

    text = f"canary verdict {verdict}"
    if proposal.get("images"):
        text += f" for {images('images')}"
    text += f" (baseline {proposal.get('baseline')}"
    if proposal.get("baseline_images"):
        text += f" on {images('baseline_images')}"
    return text + ")"


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def source_link(evidence: Mapping[str, Any]) -> str | None:
    """The first http(s) link the evidence names as its source, if any: at the top, or
    in the triggering signal's own evidence (an alert's ``generatorURL``)."""
    for key in _SOURCE_KEYS:
        value = evidence.get(key)
        if isinstance(value, str) and re.match(r"^https?://\S+$", value):
            return value
    for nested in ("signal", "trigger"):
        inner = evidence.get(nested)
        if isinstance(inner, Mapping):
            found = source_link(inner)
            if found is not None:
                return found
            inner_evidence = inner.get("evidence")
            if isinstance(inner_evidence, Mapping):
                found = source_link(inner_evidence)
                if found is not None:
                    return found
    return None


def _evidence_lines(evidence: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """The query (shown as code) and the key numbers, one ``name: value`` line each.

    Two entries are written for a person rather than dumped: the route's own sentence
    (``routing``: why it asks, not the thresholds' bookkeeping, which ``autonomic
    explain`` shows), and an alert's ``summary`` and ``description``, what its rule's
    author wrote for the on-call, each on its own line ahead of the alert's other
    fields."""
    query = evidence.get("query")
    lines: list[str] = []
    for key, value in evidence.items():
        if key == "query" or key in _SOURCE_KEYS or key in _OWN_LINE_KEYS:
            continue
        if key == "guards" and isinstance(value, list):
            lines.append(f"• guards: {escape(_cut(_guards_summary(value), 200))}")
            continue
        if key == "routing" and isinstance(value, Mapping) and value.get("route_reason"):
            lines.append(f"• routing: {escape(_cut(_routing_summary(value), 300))}")
            continue
        if key == "findings" and isinstance(value, Mapping):  # a canary's, one per metric
            lines.extend(f"• {escape(_cut(str(text), 500))}" for text in value.values())
            continue
        if key in _EXPLAIN_ONLY_KEYS and "findings" in evidence:
            continue
        if key == "signal" and isinstance(value, Mapping):
            annotations = value.get("annotations")
            if isinstance(annotations, Mapping):
                for name in ("summary", "description"):
                    text = annotations.get(name)
                    if isinstance(text, str) and text.strip():
                        lines.append(f"• alert {name}: {escape(_cut(text.strip(), 500))}")
                value = {k: v for k, v in value.items() if k != "annotations"}
        if isinstance(value, list) and len(value) > 8:
            shown = ", ".join(_scalar(v) for v in value[-8:])
            text = f"…{shown} (last 8 of {len(value)})"
        elif isinstance(value, list):
            text = ", ".join(_scalar(v) for v in value)
        elif isinstance(value, Mapping):
            text = ", ".join(f"{k}={_scalar(v)}" for k, v in list(value.items())[:8])
        else:
            text = _scalar(value)
        lines.append(f"• {escape(key)}: {escape(_cut(text, 200))}")
    return (str(query) if query is not None else None), lines


def _routing_summary(routing: Mapping[str, Any]) -> str:
    """The route's sentence (its confidence is the decision's: the Confidence field
    names both)."""
    return str(routing["route_reason"])


def _guards_summary(guards: list[Any]) -> str:
    """A runbook decision's preconditions and guards in a few words: how many passed, and
    the name and reading of any that did not (``autonomic explain`` has each one)."""
    judged = [item for item in guards if isinstance(item, Mapping)]
    failed = [item for item in judged if item.get("passed") is not True]
    if not failed:
        return f"all {len(judged)} passed"
    shown = "; ".join(f"{item.get('name', '?')}: {item.get('seen', '?')}" for item in failed)
    return f"{len(judged) - len(failed)} of {len(judged)} passed; failed {shown}"


def _confidence(decision: Any, *, both: bool = False) -> str:
    """The decision's confidence as its route's sentence gives it: a percentage with one
    decimal, more where fewer would put it level with, or on the wrong side of, a
    threshold it was routed by. ``both``: the signal's too, each named ("signal 91.0%,
    decision 84.0% after the runbook's record"), where the routing recorded it."""
    evidence = getattr(decision, "evidence", None)
    routing = evidence.get("routing") if isinstance(evidence, Mapping) else None
    levels = [
        routing[key]
        for key in ("auto", "ask")
        if isinstance(routing, Mapping)
        and isinstance(routing.get(key), int | float)
        and not isinstance(routing.get(key), bool)
    ]
    signal = routing.get("signal_confidence") if isinstance(routing, Mapping) else None
    if both and isinstance(signal, int | float) and not isinstance(signal, bool):
        return both_confidences(signal, decision.confidence, decision.kind, *levels)
    return confidence_percent(decision.confidence, *levels)


def _title(decision: Any) -> str:
    return f"{describe_proposal(decision.proposal)} on {decision.subject}"


def question_text(decision: Any) -> str:
    """The notification text (shown where blocks are not: push notifications, search)."""
    return _cut(
        f"Approval needed: {escape(_title(decision))} "
        f"(decision confidence {_confidence(decision)}) — {escape(decision.reason)}",
        _SECTION_LIMIT,
    )


def _summary_blocks(
    decision: Any, heading: str, cluster: str | None = None
) -> list[dict[str, Any]]:
    target = escape(decision.subject)
    if cluster:  # several clusters may share a channel: say which one
        target = f"{target} in cluster `{escape(cluster)}`"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(heading, 150)}},
        {
            "type": "section",
            "fields": [
                _field("Proposal", escape(describe_proposal(decision.proposal))),
                _field("Target", target),
                _field("Confidence", _confidence(decision, both=True)),
                _field("Decision type", escape(decision.decision_type)),
                _field("Runbook / model", escape(decision.model_version)),
                _field("Reason code", f"`{escape(decision.reason_code)}`"),
            ],
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _cut(f"*Why:* {escape(decision.reason)}", 2900)},
        },
    ]
    query, lines = _evidence_lines(decision.evidence)
    evidence = ["*Evidence*", *lines]
    if query is not None:
        shown = escape(_cut(query.replace("`", "'"), 1500))
        evidence.append(f"Query: `{shown}`")
    if len(evidence) > 1:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _cut("\n".join(evidence), _SECTION_LIMIT)},
            }
        )
    events = decision.evidence.get("events")
    if isinstance(events, Mapping):
        # What `kubectl describe` shows first, a handful folded by reason; each line cut
        # so that all of them (and what was left out) fit in one section.
        said = "\n".join(f"• {_escaped_cut(line, _EVENT_LINE)}" for line in event_lines(events))
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _cut(f"*Recent Kubernetes Events*\n{said}", _SECTION_LIMIT),
                },
            }
        )
    link = _link(source_link(decision.evidence), "Open the source")
    if link is not None:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link}]})
    return blocks


def _link(url: str | None, label: str) -> str | None:
    """``<url|label>`` in mrkdwn, or None when there is no URL or it is too long to
    show. The URL is untrusted (an alert's generatorURL): ``|``, ``<`` and ``>`` are
    percent-encoded, so it cannot end the link early to relabel it or add a mention of
    its own after it, and ``&`` is escaped as Slack asks. A URL cut short would lead
    somewhere else, so one past Slack's limit is left out rather than cut."""
    if url is None:
        return None
    shown = url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E").replace("&", "&amp;")
    text = f"<{shown}|{escape(label)}>"
    return text if len(text) <= _SECTION_LIMIT else None


def _field(name: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _cut(f"*{name}*\n{value}", _FIELD_LIMIT)}


def question_blocks(
    decision: Any, question: Any, note: str | None = None, *, cluster: str | None = None
) -> list[dict[str, Any]]:
    """The question message, rebuilt from the ledger's records at each update.

    ``decision`` is a ``DecisionRecord`` and ``question`` a ``Question`` (typed loosely so
    this module stays free of the ledger). While the question is pending the message
    has buttons whose ``value`` is the question id and nothing else; once answered or
    expired, the buttons give way to who answered, when, and ``note`` (what next).
    """
    question_id, expires_at = question.id, question.expires_at
    buttons = question.status == "pending"
    heading = _ANSWERED_HEADINGS.get(question.status, "Approval needed")
    blocks = _summary_blocks(decision, f"{heading}: {_title(decision)}", cluster)
    narrowed = question_approvers(decision.evidence.get("approvers")) if buttons else None
    who = f" · Approvers: {narrowed}" if narrowed else ""
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Question `{question_id}` · decision `{decision.id}` · "
                    f"expires {slack_date(expires_at)}; no answer counts as a no and "
                    f"escalates{_cut(who, 1500)}",
                }
            ],
        }
    )
    lines = [line for line in (answer_line(question), note and escape(note)) if line]
    if lines:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _cut(" ".join(lines), _SECTION_LIMIT)},
            }
        )
    if_approved = decision.evidence.get("if_approved")
    confirm = f"Run {describe_proposal(decision.proposal)} on {decision.subject}?"
    if buttons and isinstance(if_approved, str) and if_approved:
        # What a yes does, where the proposal does not say it (a canary's promotion or
        # rollback: which runbook writes what, and whether it is asked again).
        said = f"If approved, {if_approved}."
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(escape(said), 2900)}}
        )
        confirm = said
    if buttons:
        blocks.append(
            {
                "type": "actions",
                "block_id": QUESTION_BLOCK_ID,
                "elements": [
                    _button(
                        "Approve",
                        ACTION_APPROVE,
                        question_id,
                        style="primary",
                        confirm=confirm,
                    ),
                    _button("Reject", ACTION_REJECT, question_id, style="danger"),
                    _button("Snooze", ACTION_SNOOZE, question_id),
                ],
            }
        )
    return blocks


def _button(
    label: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: str | None = None,
    confirm_title: str = "Approve this change?",
    confirm_label: str = "Approve",
) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": value,
    }
    if style is not None:
        button["style"] = style
    if confirm is not None:
        button["confirm"] = {
            "title": {"type": "plain_text", "text": confirm_title},
            "text": {"type": "plain_text", "text": _cut(confirm, 290)},
            "confirm": {"type": "plain_text", "text": confirm_label},
            "deny": {"type": "plain_text", "text": "Cancel"},
        }
    return button


def undo_blocks(decision: Any, mrkdwn: str, *, offer: bool = True) -> list[dict[str, Any]]:
    """A progress line in a decision's thread (``verified: ...``, as mrkdwn: escaped by
    the caller) with an Undo button while ``offer``; without it once the button was used
    (who, when, then the outcome)."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(mrkdwn, _SECTION_LIMIT)}}
    ]
    if offer:
        blocks.append(
            {
                "type": "actions",
                "block_id": UNDO_BLOCK_ID,
                "elements": [
                    _button(
                        "Undo",
                        ACTION_UNDO,
                        decision.id,
                        style="danger",
                        confirm=(
                            f"Undo what Autonomic did to {decision.subject}? The daemon's "
                            "leader puts back what it replaced at its next cycle, unless "
                            "someone changed it since, and the decision is recorded as wrong."
                        ),
                        confirm_title="Undo this action?",
                        confirm_label="Undo",
                    )
                ],
            }
        )
    return blocks


def answer_line(question: Any) -> str | None:
    """Who answered, when and why, from the ledger's question record; None while
    unanswered. A rejection without a reason (a Reject click, ``autonomic reject`` without
    ``--reason``) says "no reason given"."""
    status, actor, at = question.status, question.answered_by or "someone", question.answered_at
    when = slack_date(at) if at is not None else ""
    who = mention(actor)
    reason = (question.answer_reason or "").strip()
    why = f": {escape(_cut(reason, 500))}" if reason else ""
    stop = "" if why.endswith((".", "!", "?", "…")) else "."
    if status == "approved":
        return f":white_check_mark: *Approved* by {who} {when}{why}{stop}"
    if status == "rejected":
        return f":no_entry_sign: *Rejected* by {who} {when}{why or ' (no reason given)'}{stop}"
    if status == "expired":
        return f":hourglass: *Expired* unanswered {when}."
    if status == "superseded":  # closed by Autonomic: what it asked about was settled
        settled = reason.removeprefix("no longer needed: ")
        said = f": {escape(_cut(settled, 500))}" if settled else ""
        stop = "" if said.endswith((".", "!", "?", "…")) else "."
        return f":fast_forward: *No longer needed* {when}{said}{stop}"
    if status == "pending" and question.answered_by is not None:
        return f":zzz: *Snoozed* by {who} {when}, until {slack_date(question.expires_at)}."
    if status != "pending":
        return f"*{escape(status)}* by {who} {when}."
    return None


def escalation_text(decision: Any, why: str, oncall_group: str | None) -> str:
    """The escalation's first line. "Nothing was done" only of a decision that was not
    carried out: of one that was, and failed, ``why`` says what became of its writes
    (undone, left as they are, none made), and ``autonomic explain`` lists each one."""
    ping = f"<!subteam^{oncall_group}> " if oncall_group else ""
    done = "" if decision.status in _CARRIED_OUT else " Nothing was done."
    return _cut(
        f"{ping}Escalation: {escape(_title(decision))} — {escape(why)}.{done}",
        _SECTION_LIMIT,
    )


def escalation_blocks(
    decision: Any, why: str, oncall_group: str | None, *, cluster: str | None = None
) -> list[dict[str, Any]]:
    """An escalation: the on-call group is mentioned, all context is pre-filled."""
    blocks = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": escalation_text(decision, why, oncall_group)},
        },
        *_summary_blocks(decision, f"Needs a human: {_title(decision)}", cluster),
    ]
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Decision `{decision.id}` · `autonomic explain {decision.id}` "
                    "tells the whole story",
                }
            ],
        }
    )
    # The judge could not decide, or a guard held the runbook back (a hand-off, a storm):
    # there is no proposal to call right or wrong.
    proposed_nothing = (
        decision.kind == "canary" and decision.proposal.get("verdict") == "inconclusive"
    ) or is_hold(decision.decision_type)
    if decision.status in _NOBODY_ACTED and not proposed_nothing:
        blocks += [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Once you have handled it: was what Autonomic proposed the fix? "
                    "The answer teaches its next decision of this kind.",
                },
            },
            {
                "type": "actions",
                "block_id": HINDSIGHT_BLOCK_ID,
                "elements": [
                    _button("It was the fix", ACTION_WAS_FIX, decision.id),
                    _button("It was not", ACTION_WAS_NOT_FIX, decision.id),
                ],
            },
        ]
    return blocks


def report_text(decision: Any) -> str:
    """The notification text of an action taken without asking."""
    return _cut(
        f"Done automatically: {escape(_title(decision))} "
        f"(decision confidence {_confidence(decision)}) — {escape(decision.reason)}",
        _SECTION_LIMIT,
    )


def report_blocks(decision: Any, why: str, *, cluster: str | None = None) -> list[dict[str, Any]]:
    """An action taken without asking, reported as it starts: the same context a
    question carries, why it did not need a person, and where its progress goes."""
    blocks = _summary_blocks(decision, f"Done automatically: {_title(decision)}", cluster)
    why_not = no_verdict(decision)
    teach = (
        f"if it was wrong, `autonomic feedback {decision.id} --wrong` teaches the next decision"
        if why_not is None
        else f"it takes no verdict ({escape(why_not)}): its outcome teaches nothing"
    )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": _cut(
                        f"{escape(why)} · decision `{decision.id}` · progress follows in the "
                        f"thread · {teach}",
                        _SECTION_LIMIT,
                    ),
                }
            ],
        }
    )
    return blocks
