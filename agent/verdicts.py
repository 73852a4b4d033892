"""A person's verdict on a decision, given after the fact.

Most verdicts are recorded without anyone typing them: a question's answer, a
verification, an automatic undo. ``judge`` records the rest, for ``autonomic feedback``
and for the buttons on a Slack escalation: a correction of a decision that was carried
out or answered, or a hindsight verdict on one that nobody acted on. The track record
counts the newest verdict on each decision (``Ledger.outcomes``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from agent.errors import InputError
from agent.ids import short_id
from remediation.durations import format_duration

if TYPE_CHECKING:  # the CLI imports this module's words: sqlalchemy stays out until used
    from agent.ledger import DecisionRecord, Ledger

__all__ = [
    "CARRIED_OUT",
    "DEFAULT_REASK_AFTER_REJECT",
    "HINDSIGHT",
    "NOT_EXECUTED",
    "NO_VERDICT",
    "NO_VERDICT_OUTCOME",
    "held_past_max_wait",
    "hindsight_hold",
    "judge",
    "no_verdict",
    "status_said",
]

# A person can judge a decision that was carried out or answered (a correction: the
# verdict overrides verification or the answer) ...
CARRIED_OUT = frozenset(
    {
        "approved",
        "executing",
        "verifying",
        "verified",
        "done",
        "failed",
        "undone",
        "rejected",
        "undo-requested",
    }
)
# ... and, in hindsight, one that nobody acted on: escalated for low confidence, or a
# question that expired. The person who handled it says whether doing what it proposed
# was (or would have been) the fix. Without this a type whose confidence fell below
# `ask` would learn nothing while it escalates, and could climb back only as its wrong
# outcomes fade.
HINDSIGHT = frozenset({"escalated", "expired"})
# An approved run held back (by a guard, a pause, a ledger outage) longer than
# ``safety.approvedMaxWait`` before its first write is closed ``expired``, with an
# ``execution`` feedback row of outcome ``expired``: it was never executed, so it is no
# verification, neither right nor wrong, and is listed as this wherever outcomes are.
NOT_EXECUTED = "not executed (held back past approvedMaxWait)"
# The evidence key of a decision whose outcome teaches its decision type nothing, with
# why (a scheduled floor: a person's instruction, not the forecast's). A person's "no" to
# it, a late answer and any outcome recorded for it are kept, but as NO_VERDICT_OUTCOME,
# never ``right`` or ``wrong``: the track record, the threshold moves and the reliability
# table count only those, so a person saying "not this time" to their own schedule does
# not blame the forecast.
NO_VERDICT = "no_verdict"
NO_VERDICT_OUTCOME = "none"
# safety.reaskAfterReject's default (``remediation.guards.GlobalLimits``): how long a
# hindsight "it was not the fix" holds its incident, where the settings are not at hand.
DEFAULT_REASK_AFTER_REJECT = 86400.0


def hindsight_hold(
    record: DecisionRecord, right: bool, reask_after: float | None, source: str = ""
) -> str | None:
    """What a hindsight verdict on ``record`` does to its incident, for the person who
    gave it: a remediation's "it was not the fix" holds the incident like a rejection
    (the engine's ``_ask_again``), so it is raised again only once ``reask_after``
    (``safety.reaskAfterReject``, where ``source`` says it was read) has passed, or never
    when None; a later "it was the fix" lifts the hold. None when the verdict holds
    nothing: "it was the fix", or a decision of another kind (scaling, canary), whose
    loops keep no such hold."""
    if right or record.kind != "remediation":
        return None
    if reask_after is None:
        return (
            "the incident is held: Autonomic will not raise it again, however long it goes "
            f"on (safety.reaskAfterReject is null{source}), unless someone says it was the fix"
        )
    return (
        "the incident is held: if it goes on, Autonomic raises it again only after "
        f"{format_duration(reask_after)} (safety.reaskAfterReject{source}), or sooner if "
        "someone says it was the fix"
    )


def no_verdict(record: DecisionRecord) -> str | None:
    """Why ``record``'s outcome teaches its decision type nothing (its evidence's
    ``NO_VERDICT``), or None when it is judged as any decision of its type is."""
    why = record.evidence.get(NO_VERDICT)
    return why if isinstance(why, str) and why else None


def held_past_max_wait(feedback: Iterable[Mapping[str, Any]]) -> bool:
    """Whether a decision's feedback rows say it was closed for being held back past
    ``safety.approvedMaxWait`` (an ``expired`` status alone may be a question's expiry)."""
    return any(row["kind"] == "execution" and row["outcome"] == "expired" for row in feedback)


def status_said(status: str, feedback: Iterable[Mapping[str, Any]] = ()) -> str:
    """A decision's status as a listing shows it: ``expired`` held back past
    ``safety.approvedMaxWait`` (``feedback`` says so) is ``expired, not executed (...)``,
    not to be read as a question nobody answered."""
    if status == "expired" and held_past_max_wait(feedback):
        return f"expired, {NOT_EXECUTED}"
    return status


def judge(
    ledger: Ledger,
    record: DecisionRecord,
    *,
    right: bool,
    actor: str,
    at: float,
    detail: Mapping[str, Any] | None = None,
) -> str | None:
    """Record a person's verdict on ``record``; return the feedback kind recorded
    (``correction`` or ``hindsight``), or None when ``actor`` had already given the same
    verdict (the newest verdict on a decision is the one the track record counts).

    Raises ``InputError`` for a decision in any other status (still pending,
    observed only, shadowed): there is nothing yet to judge; and for one that takes no
    verdict (``no_verdict``: a scheduled floor), whose outcome teaches its type nothing.
    """
    from agent.ledger import is_hold

    if is_hold(record.decision_type):
        raise InputError(
            f"decision {short_id(record.id)} is a hand-off ({record.decision_type}): a guard held "
            "the runbook back, so it proposed nothing to judge; judge the runbook's own "
            "decisions instead"
        )
    why_not = no_verdict(record)
    if why_not is not None:
        raise InputError(
            f"decision {short_id(record.id)} takes no verdict: {why_not}; a right or wrong "
            "on it would count toward its type's confidence and thresholds"
        )
    if record.status in CARRIED_OUT:
        kind = "correction"
    elif record.status in HINDSIGHT:
        kind = "hindsight"
    else:
        raise InputError(
            f"decision {short_id(record.id)} is {record.status}: only a decision that was carried "
            "out or answered, or one that was escalated or expired, can be judged"
        )
    outcome = "right" if right else "wrong"
    said = [
        row
        for row in ledger.feedback_for(record.id)
        if row["kind"] in ("correction", "hindsight") and row["actor"] == actor
    ]
    if said and said[-1]["outcome"] == outcome:
        return None
    ledger.add_feedback(
        record.id, kind, outcome, actor, at, {**(detail or {}), "status_then": record.status}
    )
    return kind
