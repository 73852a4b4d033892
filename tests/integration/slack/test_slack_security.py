"""Who may answer, and only once: signatures, replays, non-approvers, double clicks."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from agent.adapters.slack import SlackApi
from agent.errors import PermanentError
from tests.fakeslack import block_actions_payload, post, sign, signed_interaction
from tests.integration.slack.conftest import (
    APP_TOKEN,
    CHANNEL,
    NOW,
    REPLAY,
    SECRET,
    TOKEN,
    Rig,
)


def _unchanged(rig: Rig, question_id: str) -> None:
    rig.drain()
    question = rig.question(question_id)
    assert (question.status, question.answered_by) == ("pending", None)
    assert rig.answers.calls == []
    assert rig.slack.calls_to("chat.update") == []


def test_someone_who_is_not_an_approver_is_refused_and_nothing_changes(rig: Rig) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    status, _ = rig.click(asked.question_id, "approve", user="U0MALLORY")
    assert status == 200  # acknowledged, so Slack does not retry
    _unchanged(rig, asked.question_id)
    [reply] = rig.slack.ephemerals
    assert reply["user"] == "U0MALLORY" and reply["channel"] == CHANNEL
    assert "not a configured approver" in reply["text"]
    refusals = [
        f
        for f in rig.ledger.feedback_for(rig.question(asked.question_id).decision_id)
        if f["kind"] == "refusal"
    ]
    assert [(f["actor"], f["outcome"]) for f in refusals] == [("U0MALLORY", "refused")]
    # The approver can still answer afterwards.
    assert rig.click(asked.question_id, "approve")[0] == 200
    assert rig.question(asked.question_id).status == "approved"


def test_a_forged_signature_is_rejected(rig: Rig) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    status, body = rig.click(asked.question_id, "approve", secret="not-the-signing-secret")
    assert status == 401
    assert b"signature" in body
    _unchanged(rig, asked.question_id)


def test_a_tampered_body_is_rejected(rig: Rig) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    payload = block_actions_payload(
        asked.question_id, "reject", user_id="U0MALLORY", action_ts=rig.clock()
    )
    body, headers = signed_interaction(payload, SECRET, int(rig.clock()))
    forged = body.replace(b"U0MALLORY", b"U0ALICE").replace(b"reject", b"approve")
    assert forged != body
    assert post(rig.interactions.url, forged, headers)[0] == 401
    _unchanged(rig, asked.question_id)


@pytest.mark.parametrize(
    "drop", ["X-Slack-Signature", "X-Slack-Request-Timestamp"], ids=["no-signature", "no-time"]
)
def test_a_request_without_slack_headers_is_rejected(rig: Rig, drop: str) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    payload = block_actions_payload(asked.question_id, "approve", user_id="U0ALICE", action_ts=0)
    body, headers = signed_interaction(payload, SECRET, int(rig.clock()))
    del headers[drop]
    assert post(rig.interactions.url, body, headers)[0] == 401
    _unchanged(rig, asked.question_id)


def test_a_valid_signature_replayed_after_the_window_is_rejected(rig: Rig) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    payload = block_actions_payload(
        asked.question_id, "approve", user_id="U0ALICE", action_ts=rig.clock()
    )
    captured = signed_interaction(payload, SECRET, int(rig.clock()))

    rig.clock.advance(REPLAY + 1)
    status, body = post(rig.interactions.url, *captured)
    assert status == 401
    assert b"replay window" in body
    _unchanged(rig, asked.question_id)

    # The same request inside the window would have been accepted: the window decides.
    rig.clock.advance(-2)
    assert post(rig.interactions.url, *captured)[0] == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "approved"


def test_a_timestamp_from_the_future_is_rejected(rig: Rig) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    status, _ = rig.click(asked.question_id, "approve", signed_at=rig.clock() + REPLAY + 60)
    assert status == 401
    _unchanged(rig, asked.question_id)


@pytest.mark.parametrize("stamp", ["9" * 400, "+1800000000", "1_800_000_000", "1800000000.5"])
def test_a_timestamp_that_is_not_plain_seconds_is_a_401_before_any_signature_work(
    rig: Rig, stamp: str
) -> None:
    """No secret is needed to send these, so none may cost more than a refusal."""
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    body = b"payload=%7B%7D"
    headers = {**sign(body, SECRET, int(rig.clock())), "X-Slack-Request-Timestamp": stamp}
    status, answer = post(rig.interactions.url, body, headers)
    assert status == 401 and b"not an integer of seconds" in answer
    _unchanged(rig, asked.question_id)


@pytest.mark.parametrize(
    "body",
    [
        b"payload=%7Bnot-json",
        b"not a form at all",
        b"",
        b'payload={"type":"block_actions","user":{"id":"U0ALICE"},"actions":[{'
        b'"action_id":"autonomic_approve","value":"../../etc/passwd"}]}',
        b'payload={"type":"block_actions","actions":[]}',
        b"payload=%5B1%2C2%5D",
        b"payload=a&payload=b",
        b"payload=" + b"%5B" * 100_000,
        b"payload=" + b"1" * 5000,
    ],
    ids=[
        "bad-json",
        "not-form",
        "empty",
        "bad-question-id",
        "no-actions",
        "not-object",
        "twice",
        "deep-nesting",
        "huge-number",
    ],
)
def test_a_malformed_but_signed_body_is_a_400(rig: Rig, body: bytes) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    status, _ = post(rig.interactions.url, body, sign(body, SECRET, int(rig.clock())))
    assert status == 400
    _unchanged(rig, asked.question_id)


def test_interactions_that_are_not_ours_are_acknowledged_and_ignored(rig: Rig) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    for payload in (
        {"type": "view_closed", "user": {"id": "U0ALICE"}},
        block_actions_payload(asked.question_id, "other_button", user_id="U0ALICE", action_ts=0),
    ):
        body, headers = signed_interaction(payload, SECRET, int(rig.clock()))
        assert post(rig.interactions.url, body, headers)[0] == 200
    _unchanged(rig, asked.question_id)


def test_a_double_click_approves_once(rig: Rig) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    assert rig.click(asked.question_id, "approve")[0] == 200
    rig.clock.advance(1)
    assert rig.click(asked.question_id, "approve")[0] == 200
    assert rig.click(asked.question_id, "reject", user="U0BOB")[0] == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "approved"
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]
    assert len(rig.slack.calls_to("chat.update")) == 1
    assert [e["user"] for e in rig.slack.ephemerals] == ["U0ALICE", "U0BOB"]
    assert all("already approved by U0ALICE" in e["text"] for e in rig.slack.ephemerals)


def test_simultaneous_retries_of_one_click_approve_once(rig: Rig) -> None:
    """Slack retrying while the first delivery is still in flight: one ledger winner."""
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    payload = block_actions_payload(
        asked.question_id, "approve", user_id="U0ALICE", action_ts=rig.clock()
    )
    request = signed_interaction(payload, SECRET, int(rig.clock()))
    statuses: list[int] = []
    start = threading.Barrier(8)

    def deliver() -> None:
        start.wait()
        statuses.append(post(rig.interactions.url, *request)[0])

    workers = [threading.Thread(target=deliver) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    rig.drain()
    assert statuses == [200] * 8
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]
    answers = [
        f
        for f in rig.ledger.feedback_for(rig.question(asked.question_id).decision_id)
        if f["kind"] == "answer"
    ]
    assert len(answers) == 1
    # Once the winner is recorded, a further retry of the same click is silent: the
    # clicker is not told "already approved by you" for a click they made once.
    told = len(rig.slack.ephemerals)
    assert post(rig.interactions.url, *request)[0] == 200
    rig.drain()
    assert len(rig.slack.ephemerals) == told
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]


def test_a_wrong_bot_token_is_a_permanent_error_naming_the_setting(rig: Rig) -> None:
    from pydantic import SecretStr

    api = SlackApi.connect(SecretStr("xoxb-wrong"), base_url=rig.slack.url + "/api/")
    with pytest.raises(PermanentError, match=r"invalid_auth \(check slack.botToken\)"):
        api.auth_test()
    assert rig.slack.calls_to("auth.test")[0].authorized is False


def test_tokens_and_secrets_are_never_logged_stored_or_printed(
    rig: Rig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    rig.click(asked.question_id, "approve", user="U0MALLORY")
    rig.click(asked.question_id, "approve", secret="forged")
    rig.click(asked.question_id, "approve")
    rig.slack.fail_next("chat.postMessage", 500, times=3)
    rig.approvals.ask(rig.decision(), rig.clock())  # falls back after 3 failures
    rig.drain()
    rig.slack.go_unreachable()
    rig.approvals.ask(rig.decision(), rig.clock())
    rig.clock.advance(10_000)
    rig.approvals.expire_due(rig.clock())
    rig.drain()

    secrets = (TOKEN, SECRET, APP_TOKEN)
    stored = (tmp_path / "ledger.sqlite").read_bytes()
    for path in tmp_path.glob("ledger.sqlite*"):
        stored += path.read_bytes()
    printed = repr(rig.receiver.__dict__) + repr(rig.approvals.__dict__)
    printed += repr(rig.receiver.channel.__dict__ if rig.receiver.channel else "")
    for secret in secrets:
        assert secret not in caplog.text
        assert secret.encode() not in stored
        assert secret not in printed
    assert "could not post the question" in caplog.text  # the failures were logged


def _signed_click(rig: Rig, payload: dict[str, object]) -> int:
    body, headers = signed_interaction(payload, SECRET, int(rig.clock()))
    status, _ = post(rig.interactions.url, body, headers)
    assert rig.receiver.drain(10.0)
    return status


def test_a_click_from_another_channel_than_the_questions_is_refused(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """The ledger keeps the channel a question was posted in; a signed click naming
    another channel (its ``channel.id``, its ``container.channel_id``, either) is no
    click on that question's message: refused, said to the clicker, logged, and the
    ledger left as it was (no answer, no refusal row)."""
    caplog.set_level(logging.WARNING, logger="autonomic.slack")
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    decision_id = rig.question(asked.question_id).decision_id
    feedback_before = rig.ledger.feedback_for(decision_id)
    elsewhere = block_actions_payload(
        asked.question_id, "approve", user_id="U0ALICE", channel_id="C0OTHER", action_ts=NOW
    )
    container_only = block_actions_payload(
        asked.question_id, "approve", user_id="U0ALICE", action_ts=NOW + 1
    )
    container_only["container"] = {**container_only["container"], "channel_id": "C0OTHER"}  # type: ignore[dict-item]

    assert _signed_click(rig, elsewhere) == 200
    assert _signed_click(rig, container_only) == 200

    _unchanged(rig, asked.question_id)
    assert rig.ledger.feedback_for(decision_id) == feedback_before
    replies = rig.slack.ephemerals
    assert [r["user"] for r in replies] == ["U0ALICE", "U0ALICE"]
    assert all(f"posted in {CHANNEL}" in r["text"] for r in replies)
    refused = [r for r in caplog.records if "refused a Slack answer" in r.getMessage()]
    assert len(refused) == 2 and "C0OTHER" in refused[0].getMessage()
    # From the question's own channel the same approver's click is taken.
    assert rig.click(asked.question_id, "approve")[0] == 200
    assert rig.question(asked.question_id).status == "approved"


def _elsewhere(rig: Rig, decision_id: str, action: str, message_ts: str) -> list[int]:
    """A signed click on ``decision_id``'s ``action`` button from another channel, and
    one whose ``container.channel_id`` alone names another: the HTTP statuses."""
    elsewhere = block_actions_payload(
        decision_id,
        action,
        user_id="U0ALICE",
        channel_id="C0OTHER",
        message_ts=message_ts,
        action_ts=rig.clock(),
    )
    container_only = block_actions_payload(
        decision_id, action, user_id="U0ALICE", message_ts=message_ts, action_ts=rig.clock() + 1
    )
    container_only["container"] = {**container_only["container"], "channel_id": "C0OTHER"}  # type: ignore[dict-item]
    statuses = [_signed_click(rig, elsewhere), _signed_click(rig, container_only)]
    rig.drain()
    return statuses


def _refused(rig: Rig, caplog: pytest.LogCaptureFixture, what: str) -> None:
    replies = rig.slack.ephemerals
    assert [r["user"] for r in replies] == ["U0ALICE", "U0ALICE"]
    assert all(f"{what} was posted in {CHANNEL}" in r["text"] for r in replies), replies
    assert all("this click came from C0OTHER" in r["text"] for r in replies), replies
    refused = [r.getMessage() for r in caplog.records if "refused a Slack" in r.getMessage()]
    assert len(refused) == 2 and "C0OTHER" in refused[0], refused


def test_an_escalation_verdict_click_from_another_channel_is_refused(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """The ledger keeps the escalation's message (its ``escalation`` row's ``ref``): a
    signed verdict click naming another channel is refused, said to the clicker and
    logged, and no verdict is recorded; from the escalation's channel it is taken."""
    caplog.set_level(logging.WARNING, logger="autonomic.slack")
    decision_id = rig.decision(route="escalate", status="escalated", confidence=0.5)
    rig.approvals.escalate(decision_id, "confidence 50% is below the ask threshold", rig.clock())
    [message] = rig.slack.top_level()
    assert message.channel == CHANNEL
    feedback_before = rig.ledger.feedback_for(decision_id)

    assert _elsewhere(rig, decision_id, "was-not-fix", message.ts) == [200, 200]

    assert rig.ledger.feedback_for(decision_id) == feedback_before
    assert rig.slack.replies(message.channel, message.ts) == []
    _refused(rig, caplog, f"the escalation of decision {decision_id}")
    assert rig.click(decision_id, "was-not-fix", message_ts=message.ts)[0] == 200
    rig.drain()
    rows = [f for f in rig.ledger.feedback_for(decision_id) if f["kind"] == "hindsight"]
    assert [(f["outcome"], f["actor"]) for f in rows] == [("wrong", "U0ALICE")]


@pytest.mark.parametrize("how", ["asked", "reported"])
def test_an_undo_click_from_another_channel_is_refused(
    rig: Rig, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    """An Undo button is posted in the thread of its decision's question, or of its
    report for an action taken without asking: a signed Undo click naming another
    channel than that message's is refused, and the decision is left as it was."""
    caplog.set_level(logging.WARNING, logger="autonomic.slack")
    rollback = {
        "op": "rollback",
        "target": {"kind": "Deployment", "namespace": "shop", "name": "web"},
    }
    proposal = {"runbook": "rollback", "operations": [rollback]}
    if how == "asked":
        decision_id = rig.decision(proposal=proposal)
        ref = str(rig.approvals.ask(decision_id, rig.clock()).message_ref)
    else:
        decision_id = rig.decision(proposal=proposal, route="auto", status="approved")
        ref = rig.approvals.report(decision_id, "confidence 95%", rig.clock())
    step = rig.ledger.record_intent(
        decision_id, 0, rollback, {"template": {}}, "test", rig.clock(), decision_id
    )
    assert step is not None
    rig.ledger.finish_intent(step, "applied", rig.clock(), {"summary": "rolled back"})
    assert rig.ledger.transition(decision_id, ["asked", "approved"], "verified", rig.clock())
    rig.approvals.progress_for(decision_id, "verified", offer_undo=True)
    rig.drain()
    (offer,) = rig.slack.replies(CHANNEL, ref.split(":")[2])
    assert [e["action_id"] for b in offer.blocks if b["type"] == "actions" for e in b["elements"]]

    assert _elsewhere(rig, decision_id, "undo", offer.ts) == [200, 200]

    assert rig.ledger.get_decision(decision_id).status == "verified"  # type: ignore[union-attr]
    assert not [f for f in rig.ledger.feedback_for(decision_id) if f["kind"] == "undo-request"]
    _refused(rig, caplog, f"the Undo button of decision {decision_id}")
    assert rig.click(decision_id, "undo", message_ts=offer.ts)[0] == 200
    rig.drain()
    assert rig.ledger.get_decision(decision_id).status == "undo-requested"  # type: ignore[union-attr]
