"""A question whose chat.postMessage Slack carried out without answering is not posted
twice when the app may read the channel's history; without that scope it may be."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from agent.adapters.slack import QUESTION_EVENT, RetryPolicy, SlackApi, SlackChannel
from agent.approvals import Approvals, FallbackChannel, LedgerOnlyChannel
from agent.ledger import Ledger
from tests.fakeslack import FakeSlack
from tests.integration.slack.conftest import CHANNEL, SNOOZE, TOKEN, TTL, Clock, make_decision


@dataclass
class Rig:
    slack: FakeSlack
    ledger: Ledger
    approvals: Approvals
    channel: SlackChannel
    clock: Clock
    failures: list[tuple[str, str]]

    def ask(self, subject: str = "Deployment/shop/web") -> tuple[str, str]:
        decision_id = self.ledger.record_decision(make_decision(subject=subject), self.clock())
        return decision_id, self.approvals.ask(decision_id, self.clock()).question_id

    def ref(self, question_id: str) -> str | None:
        question = self.ledger.question(question_id)
        assert question is not None
        return question.message_ref


@pytest.fixture
def rig(slack: FakeSlack, ledger: Ledger, clock: Clock) -> Iterator[Rig]:
    """Posts time out after 1 s (the stand-in answers a late one after 1.5 s)."""
    failures: list[tuple[str, str]] = []
    api = SlackApi.connect(
        SecretStr(TOKEN),
        base_url=slack.url + "/api/",
        timeout=1,
        policy=RetryPolicy(attempts=3, post_interval=0.0),
        sleep=lambda _: None,
        on_failure=lambda method, reason: failures.append((method, reason)),
    )
    channel = SlackChannel(api, CHANNEL, clock=clock)
    approvals = Approvals(
        ledger,
        FallbackChannel(channel, LedgerOnlyChannel(ledger, clock)),
        ttl=TTL,
        snooze=SNOOZE,
        clock=clock,
    )
    yield Rig(slack, ledger, approvals, channel, clock, failures)
    approvals.close()


def test_every_question_is_posted_with_its_metadata(rig: Rig) -> None:
    decision_id, question_id = rig.ask()
    [message] = rig.slack.top_level()
    assert message.metadata == {
        "event_type": QUESTION_EVENT,
        "event_payload": {"decision_id": decision_id, "question_id": question_id},
    }
    assert QUESTION_EVENT == "autonomic_question"


def test_a_post_slack_did_not_answer_is_found_in_the_history_and_not_posted_again(
    rig: Rig,
) -> None:
    """Before: the question was escalated in the ledger, then posted again at the next
    round: two messages in the channel, the first one's buttons still live."""
    rig.slack.answer_late("chat.postMessage", 1.5)
    decision_id, question_id = rig.ask()
    assert rig.ref(question_id) is None  # unconfirmed: escalated in the ledger
    [escalation] = rig.ledger.feedback_for(decision_id)
    assert "may have been posted" in escalation["detail"]["why"]
    [message] = rig.slack.top_level()  # Slack did post it

    assert rig.approvals.repost_unposted(rig.clock()) == 1
    assert rig.slack.top_level() == [message]  # not posted again
    assert rig.ref(question_id) == f"slack:{CHANNEL}:{message.ts}"
    assert rig.slack.replies(CHANNEL, message.ts) == []  # it was not late: no such note
    [looked] = rig.slack.calls_to("conversations.history")
    assert looked.params["channel"] == CHANNEL
    assert looked.params["include_all_metadata"] in ("1", "true", "True")
    assert float(looked.params["oldest"]) <= rig.clock()
    assert rig.channel.can_read_history is True


def test_a_post_slack_did_not_carry_out_is_posted_after_the_history_says_so(
    rig: Rig,
) -> None:
    rig.slack.answer_late("chat.postMessage", 1.5)
    _, question_id = rig.ask()
    [lost] = rig.slack.top_level()
    del rig.slack.messages[(CHANNEL, lost.ts)]  # as if Slack had not carried it out
    assert rig.approvals.repost_unposted(rig.clock()) == 1
    [message] = rig.slack.top_level()
    assert rig.ref(question_id) == f"slack:{CHANNEL}:{message.ts}"
    assert len(rig.slack.calls_to("conversations.history")) == 1
    [late] = rig.slack.replies(CHANNEL, message.ts)
    assert "s late" in late.text and "an earlier copy of this question may be above" in late.text


def test_without_the_history_scope_it_is_posted_again_and_the_scope_is_asked_for_once(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.slack.history_scope = False
    for subject in ("Deployment/shop/web", "Deployment/shop/api"):
        rig.slack.answer_late("chat.postMessage", 1.5)
        _, question_id = rig.ask(subject)
        assert rig.approvals.repost_unposted(rig.clock()) == 1
        assert rig.ref(question_id) is not None
        rig.clock.advance(61)  # past the wait after a refused post
    assert len(rig.slack.top_level()) == 4  # each shown twice, as before
    [tried] = rig.slack.calls_to("conversations.history")  # missing_scope, remembered
    assert tried.params["channel"] == CHANNEL
    assert rig.channel.can_read_history is False
    # An optional scope: not counted as a refusal a person must fix (no alert fires).
    assert [m for m, _ in rig.failures] == ["chat.postMessage", "chat.postMessage"]
    [said] = [r.getMessage() for r in caplog.records if "history" in r.getMessage()]
    assert "lacks channels:history, or groups:history for a private channel" in said
    assert "add the scope to the Slack app" in said
