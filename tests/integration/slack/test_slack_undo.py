"""The Undo button under an action that verified: `autonomic undo` from Slack, with the
command's checks, once (a compare-and-set in the ledger), by an allowed approver, who is
recorded; the message says who asked and when, then how it ended."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from agent.ledger import Ledger
from agent.undo import UNDO_REQUESTED, check_steps, outcome_row
from tests.integration.slack.conftest import Rig

ROLLBACK = {"op": "rollback", "target": {"kind": "Deployment", "namespace": "shop", "name": "web"}}


def _buttons(blocks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (e["action_id"], e["value"])
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def _verified(rig: Rig, *, op: dict[str, Any] = ROLLBACK) -> tuple[str, str]:
    """A rollback asked about in Slack, approved, written and verified: (decision id,
    the question's message ts)."""
    decision_id = rig.decision(proposal={"runbook": "rollback", "operations": [op]})
    asked = rig.approvals.ask(decision_id, rig.clock())
    ledger: Ledger = rig.ledger
    step = ledger.record_intent(
        decision_id, 0, op, {"template": {}}, "test", rig.clock(), decision_id
    )
    assert step is not None
    ledger.finish_intent(step, "applied", rig.clock(), {"summary": "rolled back"})
    assert ledger.transition(decision_id, ["asked"], "verified", rig.clock())
    # As the engine offers it: only when every step written has an undo.
    record = ledger.get_decision(decision_id)
    assert record is not None
    undoable = check_steps(record, ledger.intents(execution_key=decision_id)) is None
    rig.approvals.progress_for(
        decision_id, "verified: 3/3 replicas available", final=True, offer_undo=undoable
    )
    rig.drain()
    return decision_id, str(asked.message_ref).split(":")[2]


def test_an_approver_undoes_a_verified_action_from_slack_once(rig: Rig) -> None:
    decision_id, question_ts = _verified(rig)
    (offer,) = rig.slack.replies("C0OPS", question_ts)
    assert offer.text == "verified: 3/3 replicas available"
    assert _buttons(offer.blocks) == [("autonomic_undo", decision_id)]

    # Someone who may not approve this decision's actions may not undo them either.
    assert rig.click(decision_id, "undo", "U0MALLORY", message_ts=offer.ts)[0] == 200
    rig.drain()
    assert (
        "You cannot undo this action: not a configured approver"
        in (rig.slack.ephemerals[-1]["text"])
    )
    assert rig.ledger.get_decision(decision_id).status == "verified"  # type: ignore[union-attr]

    rig.clock.advance(60)
    assert rig.click(decision_id, "undo", "U0ALICE", message_ts=offer.ts)[0] == 200
    rig.drain()
    fresh = rig.ledger.get_decision(decision_id)
    assert fresh is not None and fresh.status == "undo-requested"
    (asked,) = [f for f in rig.ledger.feedback_for(decision_id) if f["kind"] == "undo-request"]
    assert asked["actor"] == "U0ALICE" and asked["detail"]["via"] == "slack"
    assert asked["detail"]["message_ref"] == f"slack:C0OPS:{offer.ts}"
    assert asked["detail"]["expires_at"] == rig.clock() + 3600
    assert ("correction", "wrong", "U0ALICE") in [
        (f["kind"], f["outcome"], f["actor"]) for f in rig.ledger.feedback_for(decision_id)
    ]
    shown = rig.slack.message("C0OPS", offer.ts)
    assert _buttons(shown.blocks) == []  # the button is gone
    said = shown.blocks[0]["text"]["text"]
    assert said.startswith("Undo requested by <@U0ALICE> at <!date^")
    assert "unless someone changed Deployment/shop/web since" in said
    told = len(rig.slack.ephemerals)

    # The same click again (a double click, Slack's retry): one request, nobody told.
    assert rig.click(decision_id, "undo", "U0ALICE", message_ts=offer.ts)[0] == 200
    rig.drain()
    assert len(rig.slack.ephemerals) == told
    rows = [f for f in rig.ledger.feedback_for(decision_id) if f["kind"] == "undo-request"]
    assert len(rows) == 1
    # Another approver's click is refused with the reason.
    assert rig.click(decision_id, "undo", "U0BOB", message_ts=offer.ts)[0] == 200
    rig.drain()
    assert "already requested" in rig.slack.ephemerals[-1]["text"]
    rows = [f for f in rig.ledger.feedback_for(decision_id) if f["kind"] == "undo-request"]
    assert len(rows) == 1

    # The leader's outcome rewrites the message (``RemediationEngine._undo_one``).
    rig.approvals.rewrite(f"slack:C0OPS:{offer.ts}", "undone at U0ALICE's request: rolled back")
    assert rig.slack.message("C0OPS", offer.ts).text == "undone at U0ALICE's request: rolled back"


def test_an_action_with_no_undo_gets_no_button_and_a_forged_click_is_refused(rig: Rig) -> None:
    restart = {
        "op": "rollout_restart",
        "target": {"kind": "Deployment", "namespace": "shop", "name": "web"},
    }
    decision_id, question_ts = _verified(rig, op=restart)
    (line,) = rig.slack.replies("C0OPS", question_ts)
    assert line.text == "verified: 3/3 replicas available" and _buttons(line.blocks) == []
    assert rig.click(decision_id, "undo", "U0ALICE", message_ts=question_ts)[0] == 200
    rig.drain()
    assert "Not undone: decision" in rig.slack.ephemerals[-1]["text"]
    assert "has no undo" in rig.slack.ephemerals[-1]["text"]
    assert rig.ledger.get_decision(decision_id).status == "verified"  # type: ignore[union-attr]


def _leader_undoes(rig: Rig, decision_id: str, ref: str) -> str:
    """What the leader's cycle does with the request (``RemediationEngine._undo_one``):
    the outcome recorded, with its words, then the Undo button's message rewritten."""
    text = "undone at U0ALICE's request: rolled back"
    detail = {"requested_by": "U0ALICE", "undone": ["rolled back"], "why": None}
    row = outcome_row(decision_id, "undone", detail, text)
    assert rig.ledger.transition(
        decision_id, [UNDO_REQUESTED], "undone", rig.clock(), feedback=[row]
    )
    rig.approvals.rewrite(ref, text)
    return text


def test_the_requested_rewrite_coming_after_the_leaders_outcome_does_not_overwrite_it(
    rig: Rig,
) -> None:
    """The receiving replica's "Undo requested by ..." runs in the background: held back
    here until the leader has carried the undo out and written how it ended."""
    decision_id, question_ts = _verified(rig)
    (offer,) = rig.slack.replies("C0OPS", question_ts)
    ref = f"slack:C0OPS:{offer.ts}"
    hold = threading.Event()
    rig.approvals.dispatcher.submit(lambda: hold.wait(10.0))  # the background is slow
    assert rig.click(decision_id, "undo", "U0ALICE", message_ts=offer.ts)[0] == 200
    text = _leader_undoes(rig, decision_id, ref)
    assert rig.slack.message("C0OPS", offer.ts).text == text
    hold.set()
    rig.drain()
    assert rig.slack.message("C0OPS", offer.ts).text == text


def test_an_outcome_written_between_the_receivers_look_and_its_write_is_written_last(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader settles the request just after the receiver saw it waiting and before
    its "Undo requested by ..." reaches Slack: the receiver, reading the ledger again
    after its write, writes the outcome over it."""
    decision_id, question_ts = _verified(rig)
    (offer,) = rig.slack.replies("C0OPS", question_ts)
    ref = f"slack:C0OPS:{offer.ts}"
    channel = rig.receiver.channel
    assert channel is not None
    real = channel.rewrite
    settled: list[str] = []

    def rewrite(where: str, text: str, *, mrkdwn: str | None = None) -> None:
        if text.startswith("Undo requested by") and not settled:
            settled.append(_leader_undoes(rig, decision_id, ref))
        real(where, text, mrkdwn=mrkdwn)

    monkeypatch.setattr(channel, "rewrite", rewrite)
    assert rig.click(decision_id, "undo", "U0ALICE", message_ts=offer.ts)[0] == 200
    rig.drain()
    assert settled, "the receiver wrote nothing"
    assert rig.slack.message("C0OPS", offer.ts).text == settled[0]
