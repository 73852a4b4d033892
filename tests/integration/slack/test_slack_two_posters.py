"""A question two replicas post at the same moment (a deposed leader's poster mid-post
while the new leader's ``repost_unposted`` runs) keeps one message: the ledger records
the first (``Ledger.set_message_ref`` is a compare-and-set), and the other replica
rewrites its own copy as a pointer to that one, without buttons."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from agent.adapters.slack import RetryPolicy, SlackChannel, SlackReceiver, build_approvals
from agent.approvals import Approvals, FallbackChannel
from agent.ledger import Ledger
from tests.fakeslack import FakeSlack, block_actions_payload
from tests.integration.slack.conftest import (
    CHANNEL,
    ENVIRON,
    SNOOZE,
    TTL,
    Clock,
    make_decision,
    slack_settings,
)


@pytest.fixture
def pair(
    slack: FakeSlack, ledger: Ledger, clock: Clock
) -> Iterator[list[tuple[Approvals, SlackReceiver]]]:
    """Two replicas' approvals over one ledger and one channel, unpaced."""
    settings = slack_settings(slack.url + "/api/")
    built: list[tuple[Approvals, SlackReceiver]] = []
    for _ in range(2):
        approvals, receiver = build_approvals(
            settings,
            ENVIRON,
            ledger,
            clock=clock,
            snooze=SNOOZE,
            policy=RetryPolicy(post_interval=0.0),
        )
        assert receiver is not None
        built.append((approvals, receiver))
    yield built
    for approvals, receiver in built:
        receiver.close()
        approvals.close()


def _held_after_posting(
    approvals: Approvals, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Event, threading.Event]:
    """Make ``approvals``' posts stop just after Slack took them, before the ledger is
    told: (posted, go)."""
    assert isinstance(approvals.channel, FallbackChannel)
    chat = approvals.channel.primary
    assert isinstance(chat, SlackChannel)
    posted, go = threading.Event(), threading.Event()
    real = chat.ask

    def ask(decision: Any, question: Any) -> str:
        ref = real(decision, question)
        posted.set()
        assert go.wait(10.0)
        return ref

    monkeypatch.setattr(chat, "ask", ask)
    return posted, go


def _buttons(blocks: list[dict[str, Any]]) -> bool:
    return any(block.get("type") == "actions" for block in blocks)


def test_the_later_of_two_posts_points_to_the_first_and_a_click_on_it_still_answers(
    pair: list[tuple[Approvals, SlackReceiver]],
    slack: FakeSlack,
    ledger: Ledger,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: the last ``set_message_ref`` won, so the deposed leader's message became
    the question's and the new leader's (the first recorded) kept live buttons that the
    answer never rewrote."""
    (old, _), (new, receiver) = pair
    decision_id = ledger.record_decision(make_decision(), clock())
    question_id = ledger.ask(decision_id, "slack", clock(), TTL)  # waiting its turn
    posted, go = _held_after_posting(old, monkeypatch)
    assert old.poster.offer(question_id, late=True)
    try:
        assert posted.wait(10.0)  # the old leader's post is in Slack, not in the ledger
        [copy] = slack.top_level()
        assert new.repost_unposted(clock()) == 1
    finally:
        go.set()
    assert old.poster.drain(10.0)
    [first] = [m for m in slack.top_level() if m.ts != copy.ts]
    kept = f"slack:{CHANNEL}:{first.ts}"

    question = ledger.question(question_id)
    assert question is not None and question.message_ref == kept
    copy = slack.message(CHANNEL, copy.ts)
    link = f"https://autonomic-test.slack.com/archives/{CHANNEL}/p{first.ts.replace('.', '')}"
    assert copy.text == f"A copy of this question was posted at {link}; answer there."
    assert not _buttons(copy.blocks) and link in str(copy.blocks)
    assert _buttons(first.blocks)
    assert slack.replies(CHANNEL, copy.ts) == []  # no late note under the copy

    # A click on the copy made before it was rewritten still answers the question, and
    # the answer rewrites the message the ledger keeps.
    payload = block_actions_payload(
        question_id, "approve", user_id="U0ALICE", message_ts=copy.ts, action_ts=clock()
    )
    outcome = receiver.receive(payload, clock())
    assert outcome is not None and outcome.accepted, outcome
    assert new.dispatcher.drain(10.0)
    answered = slack.message(CHANNEL, first.ts)
    assert not _buttons(answered.blocks) and "approved" in answered.text
    assert slack.message(CHANNEL, copy.ts).text.startswith("A copy of this question")


def test_a_pointer_rewrite_slack_did_not_take_is_tried_again(
    slack: FakeSlack, ledger: Ledger, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second copy's rewrite as a pointer that Slack answers with a 5xx is tried
    again later on the worker, as a settled question's rewrite is. Before, the failure
    was only logged, and the copy kept live buttons for good."""
    settings = slack_settings(slack.url + "/api/")
    built: list[Approvals] = []
    for _ in range(2):
        approvals, receiver = build_approvals(
            settings,
            ENVIRON,
            ledger,
            clock=clock,
            snooze=SNOOZE,
            policy=RetryPolicy(attempts=1, backoff=0.0, post_interval=0.0),
        )
        assert receiver is not None
        receiver.close()
        approvals.rewrite_retry = 0.05
        built.append(approvals)
    old, new = built
    try:
        decision_id = ledger.record_decision(make_decision(), clock())
        question_id = ledger.ask(decision_id, "slack", clock(), TTL)
        posted, go = _held_after_posting(old, monkeypatch)
        assert old.poster.offer(question_id, late=True)
        try:
            assert posted.wait(10.0)
            [copy] = slack.top_level()
            assert new.repost_unposted(clock()) == 1
            slack.fail_next("chat.update", 503)  # the pointer's first rewrite
        finally:
            go.set()
        assert old.poster.drain(10.0)
        for _ in range(100):
            if not _buttons(slack.message(CHANNEL, copy.ts).blocks):
                break
            threading.Event().wait(0.05)
        assert old.dispatcher.drain(10.0)
        rewritten = slack.message(CHANNEL, copy.ts)
        assert rewritten.text.startswith("A copy of this question was posted at ")
        assert not _buttons(rewritten.blocks)
        assert len(slack.calls_to("chat.update")) == 2
    finally:
        for approvals in built:
            approvals.close()
