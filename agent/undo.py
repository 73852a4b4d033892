"""A person undoes one of Autonomic's actions: ``autonomic undo DECISION_ID``.

Autonomic undoes an action by itself when its verification fails. When an action
verified and a person later finds it was wrong ("it rolled back, but the release was
fine"), they ask for the undo here instead of working out the previous state by hand.

The command line has no cluster access of its own. ``request`` records the request in
the ledger: the decision's status moves from ``verified`` (or ``done``) to
``undo-requested`` by compare-and-set, with who asked, when and why, the undo plan (the
steps applied, last first) and the person's verdict "wrong" (a ``correction``, as
``autonomic feedback --wrong`` records it), all in one transaction. So a second request,
from the same person or another, finds the status moved and is refused. The leader
carries it out at its next remediation cycle (``RemediationEngine.undo_requested``)
through the executor's undo, the path of an automatic undo: each step's intent goes
``applied`` -> ``undoing`` -> ``undone`` by compare-and-set (two replicas never undo a
step twice, and a crash in between is reconciled), the human-change guard
(``check_undo``) and the writer's compare-and-set refuse to overwrite a change made
since. The outcome is an ``undo`` feedback row (``undone``, ``partly-undone`` or
``refused``) and the status ``undone``, or the status it had when the undo was refused.

A request also comes from Slack's Undo button (``SlackReceiver``), through ``request``
with the same checks. Each has a deadline (``safety.undoRequestTTL``, recorded as
``expires_at``): a leader that finds it later, nothing of it undone yet, marks it expired
(an ``undo`` row, outcome ``expired``) instead of carrying it out.

Refused at once, when the ledger can tell: a decision that is not a runbook's, a
hand-off, one never carried out (or carried out as a dry run, or that wrote nothing),
one still running or being verified, one that failed or was undone already, one whose
steps include an action that has no undo (a pod deleted, a restart, a volume expanded),
and one whose target a later Autonomic action changed since (undo that one first). The
rest (someone else changed the target since) only the cluster tells: the leader refuses
it and records why on the decision, and ``autonomic explain`` shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.errors import InputError
from agent.ids import short_id
from agent.ledger import DecisionRecord, Feedback, Intent, Ledger, is_hold

__all__ = [
    "DEFAULT_TTL",
    "NOT_UNDOABLE",
    "REQUEST_KIND",
    "UNDO_FROM",
    "UNDO_REQUESTED",
    "UNDO_WORDS",
    "ended",
    "latest_request",
    "outcome_row",
    "request",
    "request_deadline",
    "undo_said",
]

UNDO_REQUESTED = "undo-requested"
# How long a request waits for a leader to carry it out before it expires (the default of
# ``safety.undoRequestTTL``): an undo carried out hours later, after a pause or with no
# leader, would write over a cluster nobody is looking at with that request in mind.
DEFAULT_TTL = 3600.0
# The feedback kind of a request (outcome ``requested``); the leader's outcome is a row of
# kind ``undo``.
REQUEST_KIND = "undo-request"
# The statuses of a decision whose action was carried out and judged right, or carried
# out with no verification: the ones a person may ask to undo.
UNDO_FROM = ("verified", "done")
# Operations no writer can undo (the adapters refuse them with ``NotUndoable``): the pods
# a restart, a delete or an eviction replaced are gone; a volume cannot shrink.
NOT_UNDOABLE = frozenset({"rollout_restart", "delete_pod", "evict_pod", "expand_volume"})
# What undoing each operation does, as a person reads it (the writers' undo).
UNDO_WORDS = {
    "scale": "put back the replica count it replaced",
    "set_hpa_min_replicas": "put back the HPA's minReplicas it replaced",
    "set_hpa_max_replicas": "put back the HPA's maxReplicas it replaced",
    "rollback": "put back the release it rolled back from",
    "pause_rollout": "resume the rollout it paused",
    "cordon": "uncordon the node",
    "drain": "uncordon the node (the pods it evicted run elsewhere now and are not moved back)",
    "patch_resources": "put back the resources it replaced",
    "set_images": "put back the images it replaced",
}


def undo_said(ops: list[str], undo_on_failure: bool) -> str:
    """What a failed verification undoes of a plan whose steps are ``ops`` (operation
    names), as said before it runs: a restart, a pod removed or a volume expanded are
    never undone, and a drain only in part, whatever ``onFailure.undo`` says."""
    if not undo_on_failure:
        return "no undo"
    kept = sorted({op for op in ops if op in NOT_UNDOABLE})
    if ops and len(kept) == len(set(ops)):
        return f"no undo ({', '.join(kept)} cannot be undone)"
    left = [f"{', '.join(kept)} cannot be undone"] if kept else []
    if "drain" in ops:
        left.append("a drain is undone only by uncordoning the node")
    return "undone if verification fails" + (f" ({'; '.join(left)})" if left else "")


# A later decision on the same target in one of these statuses acted on it (or is about
# to): undoing this one would overwrite what that one wrote.
ACTED_SINCE = ("executing", "verifying", "verified", "done", "failed", UNDO_REQUESTED)


def _why_not(record: DecisionRecord) -> str | None:
    """Why ``record``'s status alone rules out an undo, or None."""
    short = short_id(record.id)
    if is_hold(record.decision_type):
        return (
            f"decision {short} is a hand-off ({record.decision_type}): a guard held the "
            "runbook back and nothing was done, so there is nothing to undo"
        )
    if record.kind != "remediation":
        return (
            f"decision {short} is a {record.kind} decision: only a runbook's action can be "
            "undone this way"
        )
    status = record.status
    if status in UNDO_FROM:
        return None
    if status == UNDO_REQUESTED:
        return f"an undo of decision {short} is already requested; the daemon's leader runs it"
    if status == "undone":
        return f"decision {short} is already undone"
    if status == "failed":
        return (
            f"decision {short} failed and was handled as a failure (undone where it could "
            "be, escalated): `autonomic explain` says what was left as it is"
        )
    if status in ("executing", "verifying"):
        return (
            f"decision {short} is {status}: wait for its verdict (a failed verification "
            "undoes it by itself), then ask again"
        )
    return f"decision {short} is {status}: it was never executed, so there is nothing to undo"


def undo_plan(intents: list[Intent]) -> list[dict[str, Any]]:
    """The steps to undo, last first: what each wrote and on what."""
    return [
        {
            "step": i.step,
            "intent": i.id,
            "op": i.operation.get("op"),
            "target": _target(i.operation.get("target")),
        }
        for i in sorted(intents, key=lambda i: i.step, reverse=True)
        if i.status == "applied"
    ]


def _target(value: Any) -> str:
    if isinstance(value, Mapping) and "kind" in value and "name" in value:
        parts = [value["kind"], value.get("namespace") or "", value["name"]]
        return "/".join(p for p in parts if p)
    return str(value)


def check_steps(record: DecisionRecord, intents: list[Intent]) -> str | None:
    """Why what ``record`` wrote cannot be undone, or None: nothing written (a dry run,
    a notification only), or a step no writer can undo."""
    short = short_id(record.id)
    applied = [i for i in intents if i.status == "applied"]
    if not applied:
        if record.proposal.get("mode") == "dryRun" or any(i.status == "dry_run" for i in intents):
            return (
                f"decision {short} ran as a dry run: nothing was written to the cluster, so "
                "there is nothing to undo"
            )
        return (
            f"decision {short} wrote nothing to the cluster that is still in place, so there "
            "is nothing to undo"
        )
    fixed = [i for i in applied if i.operation.get("op") in NOT_UNDOABLE]
    if fixed:
        steps = ", ".join(
            f"step {i.step} ({i.operation.get('op')} on {_target(i.operation.get('target'))})"
            for i in fixed
        )
        return (
            f"decision {short} cannot be undone: {steps} has no undo (the pods it replaced "
            "are gone, or a volume cannot shrink); decide by hand what to do next"
        )
    return None


def acted_since(ledger: Ledger, record: DecisionRecord) -> list[DecisionRecord]:
    """Later decisions that acted on ``record``'s target (newest first)."""
    return [
        later
        for later in ledger.decisions(
            kind="remediation", subject=record.subject, since=record.created_at, limit=200
        )
        if later.id != record.id
        and later.subject == record.subject
        and later.created_at >= record.created_at
        and later.status in ACTED_SINCE
        and later.proposal.get("operations")  # a notification wrote nothing
        and not is_hold(later.decision_type)
    ]


def _later_text(record: DecisionRecord, later: list[DecisionRecord]) -> str:
    newest = later[0]
    return (
        f"{record.subject} was acted on since by decision {short_id(newest.id)} "
        f"({newest.decision_type}, {newest.status}); undoing {short_id(record.id)} would "
        f"overwrite what that one wrote: undo {short_id(newest.id)} first"
    )


def request(
    ledger: Ledger,
    record: DecisionRecord,
    *,
    actor: str,
    reason: str | None,
    at: float,
    ttl: float = DEFAULT_TTL,
    via: str = "cli",
    extra: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Record a person's request to undo ``record``; return the undo plan (the steps to
    undo, last first). Raises ``InputError`` saying why when it cannot be undone, or when
    an undo is already requested (the compare-and-set on the status lost).

    The request expires ``ttl`` seconds after ``at`` (``safety.undoRequestTTL``): its
    deadline is recorded with it (``expires_at``), and a leader that finds it later than
    that (none ran, or remediation was paused) marks it expired instead of carrying it
    out. ``via`` says where it came from (``cli``, ``slack``); ``extra`` is kept in the
    request's detail (a Slack message to update with the outcome)."""
    why = _why_not(record)
    if why is not None:
        raise InputError(why)
    key = record.incident_key or record.id
    intents = ledger.intents(execution_key=key)
    why = check_steps(record, intents)
    if why is not None:
        raise InputError(why)
    later = acted_since(ledger, record)
    if later:
        raise InputError(_later_text(record, later))
    plan = undo_plan(intents)
    rows = [
        Feedback(
            record.id,
            REQUEST_KIND,
            "requested",
            actor,
            {
                "reason": reason,
                "via": via,
                "status_then": record.status,
                "plan": plan,
                "expires_at": at + ttl,
                **(extra or {}),
            },
        )
    ]
    said = [
        row
        for row in ledger.feedback_for(record.id)
        if row["kind"] in ("correction", "hindsight") and row["actor"] == actor
    ]
    if not said or said[-1]["outcome"] != "wrong":
        # The person says it was wrong, as ``autonomic feedback --wrong`` records it: the
        # type's track record, its thresholds and the corrections counter learn from it.
        rows.append(
            Feedback(
                record.id,
                "correction",
                "wrong",
                actor,
                {"reason": reason, "via": "undo", "status_then": record.status},
            )
        )
    if not ledger.transition(record.id, UNDO_FROM, UNDO_REQUESTED, at, feedback=rows):
        fresh = ledger.get_decision(record.id)
        why = _why_not(fresh) if fresh is not None else None
        raise InputError(why or f"decision {short_id(record.id)} changed meanwhile; try again")
    return plan


def latest_request(ledger: Ledger, decision_id: str) -> dict[str, Any] | None:
    """The newest undo request recorded on a decision, or None."""
    rows = [r for r in ledger.feedback_for(decision_id) if r["kind"] == REQUEST_KIND]
    return rows[-1] if rows else None


def outcome_row(decision_id: str, outcome: str, detail: Mapping[str, Any], said: str) -> Feedback:
    """The leader's ``undo`` row: how a request ended (``outcome``), with ``said``, the
    words its Undo button's message is rewritten with (``detail["message"]``), so that a
    replica rewriting that message after the leader writes those words, not older ones
    (``ended``)."""
    return Feedback(decision_id, "undo", outcome, "autonomic", {**detail, "message": said})


def ended(ledger: Ledger, decision_id: str, request_id: int) -> str | None:
    """How the request recorded as feedback row ``request_id`` ended, in the words the
    leader rewrote its Undo button's message with; None while it waits for a leader."""
    for row in ledger.feedback_for(decision_id):
        if row["kind"] == "undo" and int(row["id"]) > request_id:
            detail = row.get("detail") or {}
            said = detail.get("message")
            if isinstance(said, str) and said:
                return said
            # A row an older release wrote, without its words.
            why = detail.get("why")
            return f"undo {row['outcome']}" + (f": {why}" if why else "")
    return None


def request_deadline(row: Mapping[str, Any] | None, ttl: float = DEFAULT_TTL) -> float | None:
    """When a request recorded as ``row`` expires: its recorded ``expires_at``, or (a
    request recorded before requests had a deadline) its time plus ``ttl``."""
    if row is None:
        return None
    detail = row.get("detail") or {}
    at = detail.get("expires_at")
    if isinstance(at, (int, float)):
        return float(at)
    created = row.get("created_at")
    return float(created) + ttl if isinstance(created, (int, float)) else None
