"""Fixtures for the Slack tests: the stand-in, a real SQLite ledger, a clock tests move."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.slack import RetryPolicy, SlackReceiver, build_approvals
from agent.approvals import Approvals
from agent.ledger import Decision, Ledger, Question, open_ledger
from agent.settings import SlackSettings
from tests.fakeslack import (
    FakeSlack,
    InteractionServer,
    block_actions_payload,
    post,
    signed_interaction,
    start_fake_slack,
)

NOW = 1_800_000_000.0
TOKEN = "xoxb-1111-2222-s3cr3tbottoken"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
APP_TOKEN = "xapp-1-A0-9999-s3cr3tapptoken"
ENVIRON = {"SLACK_BOT": TOKEN, "SLACK_SIGNING": SECRET, "SLACK_APP": APP_TOKEN}
TTL = 900.0
SNOOZE = 1800.0
REPLAY = 300.0
CHANNEL = "C0OPS"


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@dataclass
class Answers:
    """What the decision layer's ``on_answer`` hook received, and on which thread."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)
    threads: list[str] = field(default_factory=list)

    def __call__(self, question_id: str, answer: str, actor: str) -> None:
        self.calls.append((question_id, answer, actor))
        self.threads.append(threading.current_thread().name)


@dataclass
class Rig:
    slack: FakeSlack
    ledger: Ledger
    approvals: Approvals
    receiver: SlackReceiver
    answers: Answers
    clock: Clock
    sleeps: list[float]
    interactions: InteractionServer

    def decision(self, **overrides: object) -> str:
        return self.ledger.record_decision(make_decision(**overrides), self.clock())

    def drain(self) -> None:
        """Wait for the clicks acknowledged so far to be recorded, then for what
        recording them set off (message updates, replies, ``on_answer``)."""
        assert self.receiver.drain(10.0)
        assert self.approvals.dispatcher.drain(10.0)

    def click(
        self,
        question_id: str,
        action: str,
        user: str = "U0ALICE",
        *,
        signed_at: float | None = None,
        action_ts: float | None = None,
        secret: str = SECRET,
        message_ts: str = "1800000001.000001",
    ) -> tuple[int, bytes]:
        """A signed button click posted over HTTP to the mounted interactivity handler
        (``question_id``: the button's value, a decision id for the hindsight buttons),
        and recorded: this waits for the click worker."""
        payload = block_actions_payload(
            question_id,
            action,
            user_id=user,
            channel_id=CHANNEL,
            message_ts=message_ts,
            action_ts=action_ts if action_ts is not None else self.clock(),
        )
        stamp = int(signed_at if signed_at is not None else self.clock())
        body, headers = signed_interaction(payload, secret, stamp)
        answer = post(self.interactions.url, body, headers)
        # The endpoint answers before it records; a test looks once it has recorded.
        assert self.receiver.drain(10.0)
        return answer

    def question(self, question_id: str) -> Question:
        question = self.ledger.question(question_id)
        assert question is not None
        return question


def make_decision(**overrides: Any) -> Decision:
    base: dict[str, Any] = {  # each value of its Decision field's type
        "kind": "remediation",
        "decision_type": "rollback-crashloop/Deployment",
        "subject": "Deployment/shop/web",
        "proposal": {"op": "rollback", "to_revision": 4},
        "confidence": 0.82,
        "reason_code": "CrashLoopAfterRollout",
        "reason": "3 of 3 pods crash-loop since revision 5 rolled out 4 minutes ago",
        "evidence": {
            "query": 'sum(kube_pod_container_status_restarts_total{namespace="shop"})',
            "restarts": [0, 3, 9],
            "pods_crashlooping": 3,
            "source_url": "http://alertmanager.monitoring:9093/#/alerts?receiver=autonomic",
        },
        "model_version": "runbook rollback-crashloop@1",
        "route": "ask",
        "status": "asked",
    }
    base.update(overrides)
    return Decision(**base)


def slack_settings(base_url: str, **overrides: object) -> SlackSettings:
    data: dict[str, object] = {
        "enabled": True,
        "botToken": {"env": "SLACK_BOT"},
        "signingSecret": {"env": "SLACK_SIGNING"},
        "appToken": {"env": "SLACK_APP"},
        "channel": CHANNEL,
        "approvers": ["U0ALICE", "S0ONCALL"],
        "oncallGroup": "S0ONCALL",
        "questionTTL": TTL,
        "replayWindow": REPLAY,
        "baseURL": base_url,
    }
    data.update(overrides)
    return SlackSettings.model_validate(data)


def stop_socket_mode_promptly(receiver: SlackReceiver) -> None:
    """``receiver.stop_socket_mode()``, for a fixture's clean-up, without the wait of up
    to a second in it: slack-sdk's message processor blocks on its queue
    (``get(timeout=1)``) before it looks whether the client was closed. Once ``close``
    has marked the client closed, a ``None`` put on the queue (the processor skips it)
    wakes the processor at once. The stop itself is still the adapter's; the tests of
    stopping call ``stop_socket_mode`` as the daemon does."""
    client: Any = receiver._socket
    stopper = threading.Thread(target=receiver.stop_socket_mode, name="test-stop-socket")
    stopper.start()
    # Read defensively: should a slack-sdk release rename these, the stop is only slower.
    queue = getattr(client, "message_queue", None)
    while stopper.is_alive():
        if queue is not None and getattr(client, "closed", False):
            queue.put(None)
        stopper.join(0.005)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = start_fake_slack(
        token=TOKEN, app_token=APP_TOKEN, groups={"S0ONCALL": ["U0BOB", "U0CAROL"]}
    )
    yield fake
    fake.stop()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", NOW)
    yield opened
    opened.close()


@contextmanager
def rig_of(slack: FakeSlack, ledger: Ledger, clock: Clock, **built: Any) -> Iterator[Rig]:
    """The rig over the stand-in, with ``build_approvals``' other arguments ``built``."""
    answers = Answers()
    sleeps: list[float] = []
    approvals, receiver = build_approvals(
        slack_settings(slack.url + "/api/"),
        ENVIRON,
        ledger,
        clock=clock,
        on_answer=answers,
        snooze=SNOOZE,
        # Pacing off: `sleep` records and does not wait (tests of pacing turn it on).
        policy=RetryPolicy(attempts=3, max_retry_after=30.0, backoff=0.5, post_interval=0.0),
        sleep=sleeps.append,
        **built,
    )
    assert receiver is not None
    interactions = InteractionServer(receiver.handle_interaction, clock)
    try:
        yield Rig(slack, ledger, approvals, receiver, answers, clock, sleeps, interactions)
    finally:
        interactions.stop()
        receiver.close()
        approvals.close()


@pytest.fixture
def rig(slack: FakeSlack, ledger: Ledger, clock: Clock) -> Iterator[Rig]:
    with rig_of(slack, ledger, clock) as built:
        yield built
