"""An escalation nobody acted on asks, once handled, whether its proposal was the fix:
the answer is a verdict in hindsight the decision type's track record learns from."""

from __future__ import annotations

from typing import Any

import pytest

from agent.ledger import Ledger
from tests.fakeslack import FakeSlack
from tests.integration.slack.conftest import TTL, Clock, Rig, rig_of


def _actions(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_a_verdict_on_an_escalation_is_recorded_once_and_noted_in_its_thread(rig: Rig) -> None:
    decision_id = rig.decision(route="escalate", status="escalated", confidence=0.5)
    ref = rig.approvals.escalate(
        decision_id, "confidence 50% is below the ask threshold 60%", rig.clock()
    )
    [message] = rig.slack.top_level()
    assert ref == f"slack:{message.channel}:{message.ts}"
    buttons = _actions(message.blocks)
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("autonomic_was_fix", decision_id),
        ("autonomic_was_not_fix", decision_id),
    ]

    assert rig.click(decision_id, "was-fix", message_ts=message.ts)[0] == 200
    rig.drain()
    rows = [f for f in rig.ledger.feedback_for(decision_id) if f["kind"] == "hindsight"]
    assert [(f["outcome"], f["actor"], f["detail"]["via"]) for f in rows] == [
        ("right", "U0ALICE", "slack")
    ]
    assert [v for _, _, v, _ in rig.ledger.outcomes("rollback-crashloop/Deployment")] == ["right"]
    assert rig.slack.ephemerals[-1]["text"].startswith("Recorded that what it proposed was the fix")
    assert [m.text for m in rig.slack.replies(message.channel, message.ts)] == [
        "someone says what Autonomic proposed was the fix."
    ]
    told = len(rig.slack.ephemerals)

    # The same click again (a Slack retry, a double click): nothing new, nobody told.
    assert rig.click(decision_id, "was-fix", message_ts=message.ts)[0] == 200
    rig.drain()
    assert len([f for f in rig.ledger.feedback_for(decision_id) if f["kind"] == "hindsight"]) == 1
    assert len(rig.slack.ephemerals) == told
    assert len(rig.slack.replies(message.channel, message.ts)) == 1

    # Someone who may not answer questions may not judge either.
    assert rig.click(decision_id, "was-not-fix", "U0MALLORY", message_ts=message.ts)[0] == 200
    rig.drain()
    assert "cannot judge" in rig.slack.ephemerals[-1]["text"]
    assert [v for _, _, v, _ in rig.ledger.outcomes("rollback-crashloop/Deployment")] == ["right"]

    # An approver may change their mind: the newest verdict is the one that counts.
    assert rig.click(decision_id, "was-not-fix", message_ts=message.ts)[0] == 200
    rig.drain()
    assert [v for _, _, v, _ in rig.ledger.outcomes("rollback-crashloop/Deployment")] == ["wrong"]
    # ... and is told that "It was not" holds the incident: safety.reaskAfterReject's
    # default, as build_approvals was not given the daemon's.
    assert (
        "raises it again only after 1d (safety.reaskAfterReject)"
        in (rig.slack.ephemerals[-1]["text"])
    )


def _escalate_and_say_not(rig: Rig, kind: str = "remediation") -> tuple[str, str]:
    """An escalated decision of ``kind`` judged "It was not" from its escalation's
    button: (what the clicker was told, the note in the escalation's thread)."""
    decision_id = rig.decision(kind=kind, route="escalate", status="escalated", confidence=0.5)
    rig.approvals.escalate(decision_id, "confidence 50% is below the ask threshold", rig.clock())
    [message] = rig.slack.top_level()
    assert rig.click(decision_id, "was-not-fix", message_ts=message.ts)[0] == 200
    rig.drain()
    [note] = rig.slack.replies(message.channel, message.ts)
    return rig.slack.ephemerals[-1]["text"], note.text


@pytest.mark.parametrize(
    ("reask_after_reject", "held"),
    [
        (
            7200.0,
            "The incident is held: if it goes on, Autonomic raises it again only after 2h "
            "(safety.reaskAfterReject), or sooner if someone says it was the fix.",
        ),
        (
            None,
            "The incident is held: Autonomic will not raise it again, however long it goes "
            "on (safety.reaskAfterReject is null), unless someone says it was the fix.",
        ),
    ],
)
def test_it_was_not_says_how_long_the_incident_is_held(
    slack: FakeSlack, ledger: Ledger, clock: Clock, reask_after_reject: float | None, held: str
) -> None:
    """A hindsight "It was not" holds a remediation's incident like a rejection, for
    safety.reaskAfterReject (the engine's ``_ask_again``). The person who clicked it, and
    the escalation's thread, used to be told only that the verdict was recorded: not
    that the incident, if it goes on, will not come back for a day (or ever)."""
    with rig_of(slack, ledger, clock, reask_after_reject=reask_after_reject) as rig:
        told, note = _escalate_and_say_not(rig)
    assert told == (
        "Recorded that what it proposed was not the fix; its next decision learns; "
        + held[:1].lower()
        + held[1:]
    )
    assert note == f"someone says what Autonomic proposed was not the fix. {held}"


def test_it_was_not_on_a_canary_verdict_claims_no_hold(rig: Rig) -> None:
    """Only a remediation incident is held by "It was not": another kind's reply says
    nothing of a hold its loop does not keep."""
    told, note = _escalate_and_say_not(rig, kind="canary")
    assert told == "Recorded that what it proposed was not the fix; its next decision learns."
    assert note == "someone says what Autonomic proposed was not the fix."


def test_an_escalation_of_something_already_done_has_no_hindsight_buttons(rig: Rig) -> None:
    """A failed remediation was carried out: its verdict is the failed verification."""
    decision_id = rig.decision(route="auto", status="undone")
    rig.approvals.escalate(decision_id, "remediation failed verification", rig.clock())
    [message] = rig.slack.top_level()
    assert _actions(message.blocks) == []
    # A forged click for it is refused with a reason, and records nothing.
    assert rig.click(decision_id, "was-fix", message_ts=message.ts)[0] == 200
    rig.drain()
    assert "is undone, not one nobody acted on" in rig.slack.ephemerals[-1]["text"]
    assert f"autonomic feedback {decision_id[:12]}" in rig.slack.ephemerals[-1]["text"]
    assert [f["kind"] for f in rig.ledger.feedback_for(decision_id)] == ["escalation"]


def test_a_question_nobody_answered_is_escalated_with_the_hindsight_buttons(rig: Rig) -> None:
    """The expiry's escalation goes out before the question is marked expired (so a
    failure in between escalates again, never not at all). It used to be built from the
    decision as it was then, still asked, and came without the buttons: the questions
    that expire unanswered, a third of them in the simulated month, could not be judged
    from Slack."""
    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(TTL + 1)
    [expiry] = rig.approvals.expire_due(rig.clock())
    rig.drain()
    [escalation] = [m for m in rig.slack.top_level() if m.ts != asked.message_ref.split(":")[2]]
    assert expiry.escalation_ref == f"slack:{escalation.channel}:{escalation.ts}"
    assert "nobody answered" in escalation.text and "Nothing was done." in escalation.text
    assert [(b["action_id"], b["value"]) for b in _actions(escalation.blocks)] == [
        ("autonomic_was_fix", decision_id),
        ("autonomic_was_not_fix", decision_id),
    ]
    assert rig.answers.calls == [(asked.question_id, "expired", "timeout")]
    # the decision service's part, on that answer: the decision is expired
    assert rig.ledger.transition(decision_id, ["asked"], "expired", rig.clock())
    assert rig.click(decision_id, "was-not-fix", message_ts=escalation.ts)[0] == 200
    rig.drain()
    rows = [f for f in rig.ledger.feedback_for(decision_id) if f["kind"] == "hindsight"]
    assert [(f["outcome"], f["actor"]) for f in rows] == [("wrong", "U0ALICE")]


@pytest.mark.parametrize("status", ["undone", "failed"])
def test_the_escalation_of_a_remediation_that_acted_does_not_say_nothing_was_done(
    rig: Rig, status: str
) -> None:
    """A rollback that failed its verification was carried out (and undone, or not all
    of it): its escalation used to end "Nothing was done." all the same."""
    decision_id = rig.decision(route="ask", status=status)
    rig.approvals.escalate(
        decision_id,
        "remediation failed: VerificationFailed: 3/4 replicas available; undone",
        rig.clock(),
    )
    [message] = rig.slack.top_level()
    assert "Nothing was done" not in message.text
    assert message.text.endswith("3/4 replicas available; undone.")
