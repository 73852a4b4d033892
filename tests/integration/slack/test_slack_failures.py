"""Slack misbehaving: 429 with Retry-After, 500s, unreachable; and running without Slack."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pydantic import SecretStr

from agent.adapters.slack import RetryPolicy, SlackApi, SlackChannel, build_approvals
from agent.approvals import REPOST_RETRY, FallbackChannel
from agent.errors import TransientError
from agent.ledger import Ledger
from agent.settings import SlackSettings
from remediation.windows import to_utc_text
from tests.fakeslack import FakeSlack
from tests.integration.slack.conftest import CHANNEL, NOW, TOKEN, TTL, Answers, Clock, Rig


def _api(slack: FakeSlack, sleeps: list[float], **policy: float) -> SlackApi:
    return SlackApi.connect(
        SecretStr(TOKEN),
        base_url=slack.url + "/api/",
        policy=RetryPolicy(**policy),  # type: ignore[arg-type]
        sleep=sleeps.append,
    )


def test_a_429_is_retried_after_the_delay_slack_asks_for(rig: Rig) -> None:
    rig.slack.fail_next("chat.postMessage", 429, retry_after=2)
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    assert asked.posted
    assert rig.sleeps == [2.0]
    assert [c.status for c in rig.slack.calls_to("chat.postMessage")] == [429, 200]
    assert len(rig.slack.top_level()) == 1


def test_a_retry_after_longer_than_the_bound_is_not_waited_for(slack: FakeSlack) -> None:
    sleeps: list[float] = []
    api = _api(slack, sleeps, max_retry_after=30.0)
    slack.fail_next("chat.postMessage", 429, retry_after=120)
    with pytest.raises(TransientError) as caught:
        api.post_message(CHANNEL, "hello")
    assert caught.value.delay == 120.0
    assert caught.value.reason == "SlackRateLimited"
    assert sleeps == []
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_repeated_429s_give_up_after_the_bounded_attempts(slack: FakeSlack) -> None:
    sleeps: list[float] = []
    api = _api(slack, sleeps, attempts=3)
    slack.fail_next("chat.update", 429, retry_after=1, times=5)
    with pytest.raises(TransientError, match=r"rate-limited chat\.update"):
        api.update_message(CHANNEL, "1.0", "x")
    assert sleeps == [1.0, 1.0]
    assert len(slack.calls_to("chat.update")) == 3


def test_a_500_is_retried_with_backoff_and_then_succeeds(rig: Rig) -> None:
    rig.slack.fail_next("chat.postMessage", 500, times=2)
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    assert asked.posted
    assert rig.sleeps == [0.5, 1.0]
    assert [c.status for c in rig.slack.calls_to("chat.postMessage")] == [500, 500, 200]


def test_persistent_500s_are_a_transient_error_after_bounded_retries(slack: FakeSlack) -> None:
    sleeps: list[float] = []
    api = _api(slack, sleeps, attempts=3, backoff=0.5)
    slack.fail_next("chat.postMessage", 500, times=10)
    with pytest.raises(TransientError) as caught:
        api.post_message(CHANNEL, "hello")
    assert caught.value.reason == "SlackUnavailable"
    assert len(slack.calls_to("chat.postMessage")) == 3
    assert sleeps == [0.5, 1.0]


def test_persistent_500s_fall_back_to_escalation_and_nothing_runs(rig: Rig) -> None:
    rig.slack.fail_next("chat.postMessage", 500, times=3)
    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.drain()
    assert not asked.posted
    assert rig.question(asked.question_id).status == "pending"
    assert rig.answers.calls == []
    [escalation] = rig.ledger.feedback_for(decision_id)
    assert escalation["kind"] == "escalation"


def test_a_question_slack_refused_is_posted_once_slack_is_back(rig: Rig) -> None:
    """Escalated in the ledger when Slack refused it; posted with its buttons when Slack
    answers again, once, without escalating again for each failed try."""
    rig.slack.fail_next("chat.postMessage", 500, times=3)
    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    assert not asked.posted
    rig.slack.fail_next("chat.postMessage", 500, times=3)  # still down at the first retry
    assert rig.approvals.repost_unposted(rig.clock()) == 0
    tries = len(rig.slack.calls_to("chat.postMessage"))
    rig.clock.advance(30)
    assert rig.approvals.repost_unposted(rig.clock()) == 0  # waits before trying again
    assert len(rig.slack.calls_to("chat.postMessage")) == tries
    rig.clock.advance(31)
    assert rig.approvals.repost_unposted(rig.clock()) == 1
    [message] = rig.slack.top_level()
    assert rig.question(asked.question_id).message_ref == f"slack:{message.channel}:{message.ts}"
    assert any(b.get("type") == "actions" for b in message.blocks)  # the buttons
    [late] = rig.slack.replies(message.channel, message.ts)
    assert "posted 61 s late" in late.text and "escalated in Autonomic's ledger" in late.text
    assert rig.approvals.repost_unposted(rig.clock()) == 0  # once
    assert [f["kind"] for f in rig.ledger.feedback_for(decision_id)] == ["escalation"]
    assert rig.click(asked.question_id, "approve")[0] == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "approved"


def test_a_question_posted_late_gets_its_whole_ttl_from_the_post_and_says_so(
    rig: Rig,
) -> None:
    """Slack refused the question when it was asked and came back a minute before its
    expiry. Before, the late post kept that expiry: the on-call saw it in Slack with a
    minute to answer, and it then expired as unanswered and escalated. Now it is open
    for the whole TTL from the post; the message shows that expiry, and its thread says
    how late it is, why, and until when it is open."""
    rig.slack.fail_next("chat.postMessage", 500, times=3)
    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    assert not asked.posted
    rig.clock.advance(TTL - 60)
    posted_at = rig.clock()
    assert rig.approvals.repost_unposted(posted_at) == 1
    question = rig.question(asked.question_id)
    assert question.expires_at == posted_at + TTL
    [message] = rig.slack.top_level()
    shown = " ".join(str(b) for b in message.blocks)
    assert f"<!date^{int(posted_at + TTL)}^" in shown  # the message says that expiry
    [late] = rig.slack.replies(message.channel, message.ts)
    assert "posted 14 min late" in late.text
    assert "escalated in Autonomic's ledger" in late.text
    assert f"open until {to_utc_text(posted_at + TTL)}, 15 min from now" in late.text
    rig.clock.advance(120)  # past the first expiry: still open, nothing escalated again
    assert rig.approvals.expire_due(rig.clock()) == []
    assert [f["kind"] for f in rig.ledger.feedback_for(decision_id)] == ["escalation"]


def test_a_late_post_that_ends_after_the_expiry_does_not_undo_its_escalation(
    rig: Rig,
) -> None:
    """A late post starts a second before the question's expiry and ends after it,
    while the cycle's ``expire_due`` escalates the question as unanswered: the post's
    move of the expiry lands between that escalation and its mark. Before, the moved
    expiry won: the mark's compare-and-set failed (logged as "answered meanwhile"), so
    the on-call was told nobody answered while the question stayed open for another
    whole TTL, its decision still executable. Now an expiry already due when the post
    lands is not moved: the escalation is marked, and the new message rewritten."""
    rig.slack.fail_next("chat.postMessage", 500, times=3)
    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    assert not asked.posted
    expires = rig.question(asked.question_id).expires_at
    rig.clock.now = expires - 1.0
    assert isinstance(rig.approvals.channel, FallbackChannel)
    slack = rig.approvals.channel.primary
    fallback = rig.approvals.channel
    posted, go_on = threading.Event(), threading.Event()
    ask, escalate = slack.ask, fallback.escalate

    def slow_ask(decision: Any, question: Any) -> str:
        ref = ask(decision, question)
        posted.set()  # Slack has it; the ledger not yet
        assert go_on.wait(10.0)
        return ref

    poster = threading.Thread(target=lambda: rig.approvals.repost_unposted(rig.clock()))

    def escalated(decision: Any, why: str) -> str:
        ref = escalate(decision, why)
        go_on.set()  # the late post lands between the escalation and its mark
        poster.join(10.0)
        return ref

    slack.ask = slow_ask  # type: ignore[method-assign]
    fallback.escalate = escalated  # type: ignore[method-assign]
    poster.start()
    assert posted.wait(10.0)
    rig.clock.advance(2.0)  # the expiry has come while the post was under way
    expiries = rig.approvals.expire_due(rig.clock())
    assert not poster.is_alive()
    rig.drain()
    question = rig.question(asked.question_id)
    assert question.status == "expired" and question.expires_at == expires
    assert [e.question.id for e in expiries] == [asked.question_id]
    assert question.message_ref  # the late message, rewritten as expired
    [message] = [m for m in rig.slack.top_level() if question.message_ref.endswith(m.ts)]
    assert not any(b.get("type") == "actions" for b in message.blocks)
    [late] = rig.slack.replies(message.channel, message.ts)
    assert "from now" not in late.text and "expired" in late.text


def test_a_late_posts_thread_does_not_call_a_question_answered_meanwhile_open(
    rig: Rig,
) -> None:
    """Approved from the CLI while its late post was under way: the message is then
    rewritten as approved. Before, its thread line still said it was "open until ...,
    its whole answer time counted from this post"; now it says it was approved."""
    rig.slack.fail_next("chat.postMessage", 500, times=3)
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    assert not asked.posted
    rig.clock.advance(60)
    assert isinstance(rig.approvals.channel, FallbackChannel)
    slack = rig.approvals.channel.primary
    ask = slack.ask

    def answered_meanwhile(decision: Any, question: Any) -> str:
        ref = ask(decision, question)
        rig.approvals.answer(asked.question_id, "approved", "U0ALICE", rig.clock())
        return ref

    slack.ask = answered_meanwhile  # type: ignore[method-assign]
    assert rig.approvals.repost_unposted(rig.clock()) == 1
    rig.drain()
    question = rig.question(asked.question_id)
    assert question.status == "approved"
    [message] = rig.slack.top_level()
    [late] = rig.slack.replies(message.channel, message.ts)
    assert "open until" not in late.text
    assert "It was approved while it was being posted" in late.text


def test_slack_unreachable_falls_back_to_the_ledger_and_nothing_is_executed(rig: Rig) -> None:
    rig.slack.go_unreachable()
    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.drain()

    assert not asked.posted
    assert asked.message_ref == f"ledger:{asked.question_id}"
    question = rig.question(asked.question_id)
    assert (question.status, question.message_ref) == ("pending", None)
    assert [q.id for q in rig.ledger.questions("pending")] == [asked.question_id]  # CLI/HTTP
    [escalation] = rig.ledger.feedback_for(decision_id)
    assert (escalation["kind"], escalation["outcome"]) == ("escalation", "escalated")
    assert "autonomic approvals" in escalation["detail"]["why"]
    assert "unreachable" in escalation["detail"]["why"].lower()
    assert rig.sleeps == [0.5, 1.0]  # bounded retries before giving up
    assert rig.answers.calls == []
    record = rig.ledger.get_decision(decision_id)
    assert record is not None and record.status == "asked"

    # Expiry while Slack is still down: a no, escalated through the ledger, nothing runs.
    rig.clock.advance(2_000)
    [expiry] = rig.approvals.expire_due(rig.clock())
    rig.drain()
    assert expiry.escalation_ref == f"ledger:{decision_id}"
    assert rig.answers.calls == [(asked.question_id, "expired", "timeout")]
    kinds = [f["kind"] for f in rig.ledger.feedback_for(decision_id)]
    assert kinds == ["escalation", "escalation", "expiry"]  # told before it is marked


def test_the_cli_can_answer_a_question_slack_never_showed(rig: Rig) -> None:
    rig.slack.go_unreachable()
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    outcome = rig.approvals.answer(asked.question_id, "approved", "cli:alice", rig.clock())
    assert outcome.accepted and outcome.code == "Recorded"
    rig.drain()
    assert rig.answers.calls == [(asked.question_id, "approved", "cli:alice")]
    again = rig.approvals.answer(asked.question_id, "rejected", "cli:bob", rig.clock())
    assert (again.accepted, again.code) == (False, "AlreadyAnswered")


def test_a_failed_message_update_does_not_undo_the_answer(rig: Rig) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    rig.slack.fail_next("chat.update", 500, times=3)
    assert rig.click(asked.question_id, "approve")[0] == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "approved"
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]
    assert [c.status for c in rig.slack.calls_to("chat.update")] == [500, 500, 500]


def test_group_lookup_failure_refuses_rather_than_approves(rig: Rig) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    rig.slack.fail_next("usergroups.users.list", 500)
    assert rig.click(asked.question_id, "approve", user="U0BOB")[0] == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "pending"
    assert "could not check membership of S0ONCALL" in rig.slack.ephemerals[-1]["text"]
    assert rig.sleeps == []  # no waiting inside Slack's 3-second acknowledgement
    assert rig.click(asked.question_id, "approve", user="U0BOB")[0] == 200
    assert rig.question(asked.question_id).status == "approved"


def test_without_slack_questions_live_in_the_ledger(ledger: Ledger) -> None:
    clock, answers = Clock(), Answers()
    approvals, receiver = build_approvals(
        SlackSettings(), {}, ledger, clock=clock, on_answer=answers, snooze=600.0
    )
    assert receiver is None
    from tests.integration.slack.conftest import make_decision

    decision_id = ledger.record_decision(make_decision(), NOW)
    asked = approvals.ask(decision_id, NOW)
    assert (asked.posted, asked.message_ref) == (False, f"ledger:{asked.question_id}")
    snoozed = approvals.answer(asked.question_id, "snoozed", "cli:alice", NOW + 10)
    assert snoozed.accepted and snoozed.question is not None
    assert snoozed.question.expires_at == NOW + 900.0 + 600.0
    clock.now = NOW + 10_000
    [expiry] = approvals.expire_due(clock.now)
    assert approvals.dispatcher.drain()
    assert expiry.escalation_ref == f"ledger:{decision_id}"
    assert answers.calls == [(asked.question_id, "expired", "timeout")]
    approvals.close()


def test_a_storm_of_questions_under_a_rate_limit_waits_once_not_once_per_question(
    rig: Rig,
) -> None:
    """Slack answering every post with 429 and Retry-After 30: the first question waits
    what Slack asks and gives up; the others fall back to the ledger at once, without
    calling Slack, instead of each waiting a minute in the asking cycle."""
    rig.slack.fail_next("chat.postMessage", 429, retry_after=30, times=500)
    decisions = [rig.decision(subject=f"Deployment/shop/web-{i}") for i in range(50)]
    asked = [rig.approvals.ask(d, rig.clock()) for d in decisions]
    assert not any(a.posted for a in asked)
    assert rig.sleeps == [30.0, 30.0]  # the first question's retries, no one else's
    assert len(rig.slack.calls_to("chat.postMessage")) == 3
    for decision_id, one in zip(decisions, asked, strict=True):
        assert rig.question(one.question_id).status == "pending"  # answerable from the CLI
        [escalation] = rig.ledger.feedback_for(decision_id)
        assert "rate-limited chat.postMessage" in escalation["detail"]["why"]
    assert rig.answers.calls == []


def test_a_rate_limited_method_is_called_again_once_retry_after_has_passed(
    slack: FakeSlack,
) -> None:
    now = [100.0]
    sleeps: list[float] = []
    api = SlackApi.connect(
        SecretStr(TOKEN),
        base_url=slack.url + "/api/",
        policy=RetryPolicy(attempts=2, max_retry_after=30.0),
        sleep=sleeps.append,
        clock=lambda: now[0],
    )
    slack.fail_next("chat.postMessage", 429, retry_after=20, times=2)
    with pytest.raises(TransientError):
        api.post_message(CHANNEL, "first")
    now[0] += 19
    with pytest.raises(TransientError, match=r"1 s are left") as caught:
        api.post_message(CHANNEL, "second")
    assert caught.value.reason == "SlackRateLimited"
    assert len(slack.calls_to("chat.postMessage")) == 2
    now[0] += 1
    assert api.post_message(CHANNEL, "third")["ok"]
    assert [m.text for m in slack.top_level()] == ["third"]


def test_a_post_slack_carried_out_but_answered_too_late_is_not_posted_twice(
    slack: FakeSlack,
) -> None:
    """Slack has no idempotency key: a chat.postMessage sent and not answered within the
    timeout may have landed, so it is not retried (the question then waits in the ledger)."""
    sleeps: list[float] = []
    api = SlackApi.connect(
        SecretStr(TOKEN),
        base_url=slack.url + "/api/",
        timeout=1,
        policy=RetryPolicy(attempts=3),
        sleep=sleeps.append,
    )
    slack.answer_late("chat.postMessage", 1.5)
    with pytest.raises(TransientError, match="may have been posted") as caught:
        api.post_message(CHANNEL, "hello")
    assert caught.value.reason == "SlackNoAnswer"
    assert len(slack.top_level()) == 1
    assert sleeps == []


def test_an_update_answered_too_late_is_retried(slack: FakeSlack) -> None:
    """Rewriting a message twice is harmless: chat.update is still retried."""
    sleeps: list[float] = []
    api = SlackApi.connect(
        SecretStr(TOKEN),
        base_url=slack.url + "/api/",
        timeout=1,
        policy=RetryPolicy(attempts=3),
        sleep=sleeps.append,
    )
    ts = api.post_message(CHANNEL, "hello")["ts"]
    slack.answer_late("chat.update", 1.5)
    assert api.update_message(CHANNEL, ts, "bye")["ok"]
    assert sleeps == [0.5]
    assert slack.message(CHANNEL, ts).text == "bye"


@pytest.mark.parametrize("code", ["cant_update_message", "edit_window_closed"])
def test_a_question_message_slack_will_not_rewrite_gets_the_answer_in_its_thread(
    rig: Rig, code: str
) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    rig.slack.fail_next("chat.update", 200, error=code)
    assert rig.click(asked.question_id, "reject")[0] == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "rejected"  # the answer counts
    assert rig.answers.calls == [(asked.question_id, "rejected", "U0ALICE")]
    [message] = rig.slack.top_level()
    [news] = rig.slack.replies(message.channel, message.ts)
    assert "*Rejected* by <@U0ALICE>" in news.text
    assert "Nothing will be done." in news.text


def test_a_deleted_question_message_gets_the_answer_in_the_channel(rig: Rig) -> None:
    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.slack.fail_next("chat.update", 200, error="message_not_found")
    assert rig.click(asked.question_id, "approve")[0] == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "approved"
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]
    question, news = rig.slack.top_level()
    assert rig.question(asked.question_id).message_ref == f"slack:{question.channel}:{question.ts}"
    assert news.text.startswith(
        f"The question about Deployment/shop/web (decision {decision_id[:12]}; its message "
        "was deleted): :white_check_mark: *Approved* by <@U0ALICE>"
    )
    assert "Executing next" in news.text


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        ("not_in_channel", f"invite the bot to channel {CHANNEL}: /invite @ and the app's name"),
        ("channel_not_found", f"check slack.channel, {CHANNEL}: use the channel id"),
        ("is_archived", f"{CHANNEL} is archived: unarchive it, or set slack.channel"),
    ],
)
def test_a_channel_slack_will_not_post_in_escalates_in_the_ledger_with_the_fix(
    rig: Rig, code: str, fix: str
) -> None:
    """The bot removed from the channel, the channel archived: each question is tried
    once (a refusal is not retried), escalated in the ledger naming the channel and what
    to do, stays answerable from the CLI, and nothing runs without an answer."""
    rig.slack.fail_next("chat.postMessage", 200, error=code, times=3)
    decisions = [rig.decision(subject=f"Deployment/shop/web-{i}") for i in range(3)]
    asked = [rig.approvals.ask(d, rig.clock()) for d in decisions]
    rig.drain()
    assert not any(a.posted for a in asked)
    assert len(rig.slack.calls_to("chat.postMessage")) == 3 and rig.sleeps == []
    for decision_id, one in zip(decisions, asked, strict=True):
        [escalation] = rig.ledger.feedback_for(decision_id)
        assert f"Slack refused chat.postMessage: {code} ({fix}" in escalation["detail"]["why"]
        assert rig.question(one.question_id).status == "pending"
    assert rig.answers.calls == []


@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("missing_scope", "missing_scope (add the missing OAuth scope to the Slack app)"),
        ("no_such_subteam", "no_such_subteam (check slack.approvers"),
    ],
)
def test_a_group_slack_refuses_to_list_admits_nobody_and_says_why_not_try_again(
    rig: Rig, code: str, said: str
) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    rig.slack.fail_next("usergroups.users.list", 200, error=code)
    assert rig.click(asked.question_id, "approve", user="U0BOB")[0] == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "pending"  # nobody from the group
    told = rig.slack.ephemerals[-1]["text"]
    assert "could not read the members of S0ONCALL from Slack" in told
    assert said in told
    assert "try again" not in told
    assert rig.click(asked.question_id, "approve", user="U0ALICE")[0] == 200  # listed
    assert rig.question(asked.question_id).status == "approved"


def test_an_empty_approver_group_admits_nobody(rig: Rig) -> None:
    rig.slack.groups["S0ONCALL"] = []
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    assert rig.click(asked.question_id, "approve", user="U0BOB")[0] == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "pending"
    assert "not a configured approver" in rig.slack.ephemerals[-1]["text"]


def test_a_question_slack_did_not_answer_for_is_posted_again_and_says_a_copy_may_be_above(
    rig: Rig,
) -> None:
    """A question whose chat.postMessage Slack carried out but answered too late is not
    posted again at once, but it has no message to update, so the leader posts it again
    a minute later (without the history scope, it cannot look for the first). That
    second post must not say Slack refused the first (it may be above, with live
    buttons): it says a copy may be there and that either answers."""
    rig.slack.history_scope = False
    channel = rig.approvals.channel
    assert isinstance(channel, FallbackChannel)
    primary = channel.primary
    assert isinstance(primary, SlackChannel)
    primary.api._client.timeout = 1  # the stand-in answers 1.5 s late
    rig.slack.answer_late("chat.postMessage", 1.5)
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    assert not asked.posted
    rig.clock.advance(REPOST_RETRY + 1)
    assert rig.approvals.repost_unposted(rig.clock()) == 1
    _, second = rig.slack.top_level()  # the late copy landed: two messages
    [note] = rig.slack.replies(second.channel, second.ts)
    assert "refused" not in note.text
    assert "did not answer" in note.text and "either" in note.text
