"""A question's message that Slack would not rewrite after its answer (5xx, 429, away)
is rewritten later, once Slack is back: a rejected or expired question must not keep
its Approve button for ever."""

from __future__ import annotations

import time

from tests.integration.slack.conftest import Rig


def _buttons(rig: Rig, ref: str) -> bool:
    message = rig.slack.message(*ref.split(":")[1:])
    return any(block.get("type") == "actions" for block in message.blocks)


def _wait_for(rig: Rig, done: object, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(done) and done():
            return True
        rig.approvals.dispatcher.drain(1.0)
        time.sleep(0.01)
    return False


def test_a_rejection_whose_message_update_failed_is_rewritten_later(rig: Rig) -> None:
    rig.approvals.rewrite_retry = 0.01
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    rig.slack.fail_next("chat.update", 500, times=3)  # one update's three tries
    assert rig.click(asked.question_id, "reject")[0] == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "rejected"
    assert _wait_for(rig, lambda: not _buttons(rig, asked.message_ref))
    assert [c.status for c in rig.slack.calls_to("chat.update")] == [500, 500, 500, 200]


def test_an_expiry_whose_message_update_failed_is_rewritten_later(rig: Rig) -> None:
    rig.approvals.rewrite_retry = 0.01
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    rig.slack.fail_next("chat.update", 503, times=3)
    rig.clock.advance(901.0)
    [expiry] = rig.approvals.expire_due(rig.clock())
    assert expiry.question.status == "expired"
    assert _wait_for(rig, lambda: not _buttons(rig, asked.message_ref))


def test_an_approval_whose_update_failed_is_not_rewritten_over_its_outcome(rig: Rig) -> None:
    # "Approved, executing" is not retried: the action's final word rewrites the message
    # (progress with final=True), and a late retry would put "executing" back over it.
    rig.approvals.rewrite_retry = 0.01
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    rig.slack.fail_next("chat.update", 500, times=3)
    rig.click(asked.question_id, "approve")
    rig.drain()
    time.sleep(0.1)
    rig.approvals.dispatcher.drain(1.0)
    assert [c.status for c in rig.slack.calls_to("chat.update")] == [500, 500, 500]


def test_a_rewrite_slack_rate_limited_waits_for_the_retry_after(rig: Rig) -> None:
    rig.approvals.rewrite_retry = 0.01
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    rig.slack.fail_next("chat.update", 429, retry_after=120.0)  # past max_retry_after
    rig.click(asked.question_id, "reject")
    rig.drain()
    time.sleep(0.1)
    rig.approvals.dispatcher.drain(1.0)
    assert [c.status for c in rig.slack.calls_to("chat.update")] == [429]  # not before 120 s
    assert _buttons(rig, asked.message_ref)
