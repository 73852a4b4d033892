"""Posts to one channel paced at Slack's one a second, without holding the asking cycle."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from agent.adapters.slack import RetryPolicy, SlackApi, build_approvals
from agent.approvals import Approvals, PostLaterError
from agent.ledger import Ledger
from tests.fakeslack import FakeSlack
from tests.integration.slack.conftest import (
    CHANNEL,
    ENVIRON,
    NOW,
    SNOOZE,
    TOKEN,
    TTL,
    Clock,
    make_decision,
    slack_settings,
)


@dataclass
class Paced:
    slack: FakeSlack
    ledger: Ledger
    approvals: Approvals
    clock: Clock

    def decisions(self, count: int) -> list[str]:
        return [
            self.ledger.record_decision(
                make_decision(subject=f"Deployment/shop/web-{i}"), self.clock()
            )
            for i in range(count)
        ]


@pytest.fixture
def paced(slack: FakeSlack, ledger: Ledger, clock: Clock) -> Iterator[Paced]:
    """The approvals service as the daemon builds it (real sleeps, the default policy's
    pacing) against a stand-in that takes one post a second per channel."""
    slack.limit_posts(1.0)
    approvals, receiver = build_approvals(
        slack_settings(slack.url + "/api/"), ENVIRON, ledger, clock=clock, snooze=SNOOZE
    )
    yield Paced(slack, ledger, approvals, clock)
    if receiver is not None:
        receiver.close()
    approvals.close()


def test_a_burst_of_questions_goes_out_a_turn_apart_without_429s_or_holding_the_cycle(
    paced: Paced,
) -> None:
    """Before: each question past the first met a 429 and waited its Retry-After in the
    asking cycle (4 questions: 3 s held, 3 429s). Now the first is posted at once, the
    others wait in the ledger, not escalated, and the poster posts each at its turn."""
    decisions = paced.decisions(4)
    start = time.monotonic()
    asked = [paced.approvals.ask(d, paced.clock()) for d in decisions]
    held = time.monotonic() - start
    assert held < 0.8
    assert [a.posted for a in asked] == [True, False, False, False]
    assert all(paced.ledger.feedback_for(d) == [] for d in decisions)  # nobody escalated
    assert paced.approvals.poster.drain(15.0)
    posts = paced.slack.calls_to("chat.postMessage")
    assert [c.status for c in posts] == [200] * 4
    gaps = [b.at - a.at for a, b in itertools.pairwise(posts)]
    assert all(gap >= 1.0 for gap in gaps), gaps
    messages = {f"slack:{m.channel}:{m.ts}" for m in paced.slack.top_level()}
    refs = {paced.ledger.question(a.question_id).message_ref for a in asked}  # type: ignore[union-attr]
    assert refs == messages and len(messages) == 4


def test_a_question_posted_at_its_turn_gets_its_whole_ttl_from_then(paced: Paced) -> None:
    first, second = paced.decisions(2)
    one = paced.approvals.ask(first, paced.clock())
    two = paced.approvals.ask(second, paced.clock())
    assert (one.posted, two.posted) == (True, False)
    paced.clock.advance(10)  # before its turn comes (about a second of real time)
    assert paced.approvals.poster.drain(10.0)
    assert paced.ledger.question(one.question_id).expires_at == NOW + TTL  # type: ignore[union-attr]
    later = paced.ledger.question(two.question_id)
    assert later is not None and later.expires_at == NOW + 10 + TTL
    [message] = [m for m in paced.slack.top_level() if later.message_ref.endswith(m.ts)]  # type: ignore[union-attr]
    shown = " ".join(str(b) for b in message.blocks)
    assert f"<!date^{int(NOW + 10 + TTL)}^" in shown  # the message says the same expiry


def test_a_question_answered_while_it_waits_its_turn_is_posted_answered(paced: Paced) -> None:
    first, second = paced.decisions(2)
    paced.approvals.ask(first, paced.clock())
    two = paced.approvals.ask(second, paced.clock())
    assert not two.posted
    answered = paced.approvals.answer(two.question_id, "rejected", "cli:alice", paced.clock())
    assert answered.accepted
    assert paced.approvals.poster.drain(10.0)
    assert paced.approvals.dispatcher.drain(10.0)
    assert len(paced.slack.top_level()) == 1  # an answered question is not posted
    assert paced.ledger.question(two.question_id).message_ref is None  # type: ignore[union-attr]


def test_a_post_waits_in_place_for_its_turn_unless_told_not_to(slack: FakeSlack) -> None:
    now = [100.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    api = SlackApi.connect(
        SecretStr(TOKEN),
        base_url=slack.url + "/api/",
        policy=RetryPolicy(post_interval=1.0),
        sleep=sleep,
        clock=lambda: now[0],
    )
    api.post_message(CHANNEL, "first")
    with pytest.raises(PostLaterError) as caught:
        api.post_message(CHANNEL, "a question", wait=0.0)
    assert caught.value.delay == pytest.approx(1.0)
    assert caught.value.reason == "SlackPaced"
    assert len(slack.calls_to("chat.postMessage")) == 1  # nothing sent
    api.post_message(CHANNEL, "an escalation")  # waits its turn in place
    assert sleeps == [pytest.approx(1.0)]
    api.post_message("C0OTHER", "another channel")  # its own turns
    assert sleeps == [pytest.approx(1.0)]
    assert [m.text for m in slack.top_level()] == ["first", "an escalation", "another channel"]


def test_a_replica_no_longer_leading_leaves_its_waiting_questions_unposted(paced: Paced) -> None:
    """Deposed while questions wait their turn: it posts none of them (the new leader
    finds them unposted in the ledger), so no question shows twice from two replicas."""
    leading = [True]
    paced.approvals.may_post = lambda: leading[0]
    decisions = paced.decisions(3)
    asked = [paced.approvals.ask(d, paced.clock()) for d in decisions]
    assert [a.posted for a in asked] == [True, False, False]
    leading[0] = False
    assert paced.approvals.poster.drain(15.0)
    assert len(paced.slack.calls_to("chat.postMessage")) == 1
    waiting = [paced.ledger.question(a.question_id) for a in asked[1:]]
    assert all(q is not None and not q.message_ref and q.status == "pending" for q in waiting)


def test_a_question_left_waiting_its_turn_is_posted_late_with_its_whole_ttl_unescalated(
    paced: Paced,
) -> None:
    """A question waiting its turn when its replica stopped leading (or restarted) was
    never escalated; the leader that finds it unposted in the ledger posts it late.
    Before, that post kept the first expiry (here 30 s away) and its thread said Slack
    had not taken it and it was escalated then, neither true. Now it is open for the
    whole TTL from the post, and the thread says it waited its turn."""
    first, second = paced.decisions(2)
    paced.approvals.ask(first, paced.clock())
    two = paced.approvals.ask(second, paced.clock())
    assert not two.posted
    assert paced.approvals.poster.drop() == [two.question_id]  # stopped leading
    paced.clock.advance(TTL - 30)  # led again (or restarted) late in its TTL
    posted_at = paced.clock()
    paced.approvals.repost_unposted(posted_at)
    assert paced.approvals.poster.drain(10.0)
    later = paced.ledger.question(two.question_id)
    assert later is not None and later.message_ref
    assert later.expires_at == posted_at + TTL
    assert paced.ledger.feedback_for(second) == []  # nobody escalated
    [message] = [m for m in paced.slack.top_level() if later.message_ref.endswith(m.ts)]
    [late] = paced.slack.replies(message.channel, message.ts)
    assert "posted 14 min after it was asked: it was waiting its turn" in late.text
    assert "escalated" not in late.text


def test_a_deposed_leaders_waiting_questions_are_dropped_and_posted_once_by_the_new_leader(
    slack: FakeSlack, ledger: Ledger, clock: Clock
) -> None:
    """Questions Slack could not take yet wait in the poster's queue. When the replica
    stops leading (``Daemon.leading`` -> ``DecisionService.term_ended``) the queue is
    emptied at once: before, it stayed full, its thread going on taking each one's turn
    (and, had the replica led again meanwhile, the questions it had queued were skipped
    by its own ``repost_unposted`` as the poster's). The new leader posts each once."""
    from types import SimpleNamespace
    from typing import Any, cast

    from agent.clock import FakeClock
    from agent.daemon import Daemon
    from agent.decisions import DecisionService
    from agent.observability import Metrics
    from agent.settings import RoutingSettings, Settings
    from tests.harness.gates import SwitchGate

    slack.limit_posts(0.25)  # the stand-in answers 429 to posts closer together
    settings = slack_settings(slack.url + "/api/")
    policy = RetryPolicy(post_interval=0.3)  # Slack's pacing, faster for the test
    built = [
        build_approvals(settings, ENVIRON, ledger, clock=clock, snooze=SNOOZE, policy=policy)
        for _ in range(2)
    ]
    (old, _), (new, _) = built
    try:
        gate = SwitchGate(leader=True)
        old.may_post = gate.is_leader  # as the daemon wires it
        decisions = DecisionService(
            ledger, FakeClock(clock()), RoutingSettings(), mode="act",
            approvals=old, metrics=Metrics(),
        )  # fmt: skip
        part = cast(Any, SimpleNamespace(recover=dict))
        daemon = Daemon(
            Settings(), decisions.clock, ledger, decisions.metrics, decisions, part, part,
            cast(Any, gate), part,
        )  # fmt: skip
        assert daemon.leading()
        paced = Paced(slack, ledger, old, clock)
        asked = [old.ask(d, clock()) for d in paced.decisions(3)]
        assert [a.posted for a in asked] == [True, False, False]
        assert len(old.poster) == 2
        gate.leader = False
        assert not daemon.leading()
        assert len(old.poster) == 0
        assert not any(old.poster.waiting(a.question_id) for a in asked)
        assert old.poster.drain(0.5)  # its thread no longer waits for their turns
        time.sleep(0.8)  # past both turns: nothing more from the deposed replica
        assert len(slack.calls_to("chat.postMessage")) == 1
        # The new leader finds them unposted in the ledger and posts each once.
        assert new.repost_unposted(clock()) == 1  # the next one waits its turn
        assert new.poster.drain(10.0)
        assert all(c.status == 200 for c in slack.calls_to("chat.postMessage"))
        assert len(slack.top_level()) == 3  # each question once (each with a "late" line)
        refs = {ledger.question(a.question_id).message_ref for a in asked}  # type: ignore[union-attr]
        assert refs == {f"slack:{m.channel}:{m.ts}" for m in slack.top_level()}
        assert len(refs) == 3
    finally:
        for approvals, receiver in built:
            if receiver is not None:
                receiver.close()
            approvals.close()
