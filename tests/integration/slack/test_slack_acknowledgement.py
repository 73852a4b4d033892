"""Slack's 3 seconds: a click is acknowledged at once and recorded after, on the click
worker, whatever the ledger does; the clicker is told what became of it.

Over the wire: signed clicks posted to the interactivity handler mounted on a real HTTP
server on 127.0.0.1, the Slack stand-in for the replies, and a real SQLite ledger that
another connection locks, as a second writer (or the soak's ``ledger-lock`` fault) does.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agent.errors import TransientError
from tests.fakeslack import block_actions_payload, post, signed_interaction
from tests.integration.slack.conftest import CHANNEL, SECRET, Rig
from tests.integration.slack.test_slack_socket_mode import RecordingClient, _envelope

LOCK_HELD = 6.0  # seconds: twice Slack's limit, well inside SQLite's 30 s busy timeout


def _request(
    rig: Rig, question_id: str, action: str, user: str, **headers: str
) -> tuple[bytes, dict[str, str]]:
    payload = block_actions_payload(
        question_id, action, user_id=user, channel_id=CHANNEL, action_ts=rig.clock()
    )
    body, signed = signed_interaction(payload, SECRET, int(rig.clock()))
    return body, {**signed, **headers}


def _timed_post(rig: Rig, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, float]:
    started = time.monotonic()
    status, answer = post(rig.interactions.url, body, headers)
    return status, answer, time.monotonic() - started


class LedgerLock:
    """Another connection holding the SQLite ledger's write lock (BEGIN EXCLUSIVE)."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._conn.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self._conn.rollback()
        self._conn.close()


def _answers(rig: Rig, question_id: str) -> list[dict[str, Any]]:
    decision = rig.question(question_id).decision_id
    return [f for f in rig.ledger.feedback_for(decision) if f["kind"] == "answer"]


def test_a_locked_ledger_does_not_hold_the_answer_to_slack_and_the_click_counts_once(
    rig: Rig, tmp_path: Path
) -> None:
    """The ledger locked for twice Slack's limit: the click, Slack's retry of it and a
    second approver's click are each answered in well under 3 s; once the lock goes the
    first click is recorded, once, and the second approver is told who answered first."""
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    rig.receiver.ack_wait = 0.5  # each answer waits this long for the locked ledger
    click = _request(rig, asked.question_id, "approve", "U0ALICE")
    lock = LedgerLock(tmp_path / "ledger.sqlite")
    released = threading.Timer(LOCK_HELD, lock.release)
    released.start()
    try:
        first = _timed_post(rig, *click)
        # Slack retrying the same delivery (it had had no answer in time, or so it says).
        retry = _timed_post(
            rig, click[0], {**click[1], "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "x"}
        )
        rig.clock.advance(1)
        other = _timed_post(rig, *_request(rig, asked.question_id, "reject", "U0BOB"))
        answered_at = time.monotonic()
    finally:
        released.join()
    assert [(s, a) for s, a, _ in (first, retry, other)] == [(200, b"")] * 3
    assert max(t for _, _, t in (first, retry, other)) < 3.0
    rig.drain()
    # Recorded only after the answers went out: once the lock was released.
    assert time.monotonic() - answered_at > 1.0
    question = rig.question(asked.question_id)
    assert (question.status, question.answered_by) == ("approved", "U0ALICE")
    assert [(a["outcome"], a["actor"]) for a in _answers(rig, asked.question_id)] == [
        ("approved", "U0ALICE")
    ]
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]
    assert len(rig.slack.calls_to("chat.update")) == 1
    # The retry is the same click: nobody hears of it. Bob hears who answered first.
    [told] = rig.slack.ephemerals
    assert told["user"] == "U0BOB"
    assert "already approved by U0ALICE" in told["text"]


def test_a_ledger_that_fails_for_a_while_is_tried_again_and_the_click_recorded(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    rig.receiver.record_backoff = 0.01
    answer = rig.ledger.answer
    failures = iter([TransientError("database is locked", reason="LedgerUnavailable")] * 2)

    def flaky(*args: Any, **kwargs: Any) -> bool:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return answer(*args, **kwargs)

    monkeypatch.setattr(rig.ledger, "answer", flaky)
    status, _, _ = _timed_post(rig, *_request(rig, asked.question_id, "approve", "U0ALICE"))
    assert status == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "approved"
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]
    assert rig.slack.ephemerals == []  # recorded on the third try: nothing to say


def test_a_click_the_ledger_never_takes_is_said_to_the_clicker_and_logged(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    rig.receiver.record_backoff = 0.01
    tries: list[float] = []

    def down(*args: Any, **kwargs: Any) -> bool:
        tries.append(time.monotonic())
        raise TransientError("the ledger is unreachable", reason="LedgerUnavailable")

    monkeypatch.setattr(rig.ledger, "answer", down)
    with caplog.at_level(logging.WARNING, logger="autonomic.slack"):
        status, answer, took = _timed_post(
            rig, *_request(rig, asked.question_id, "reject", "U0ALICE")
        )
        assert (status, answer) == (200, b"")
        assert took < 3.0
        rig.drain()
    assert len(tries) == rig.receiver.record_attempts == 4
    assert rig.question(asked.question_id).status == "pending"
    assert rig.answers.calls == []
    [told] = rig.slack.ephemerals
    assert told["user"] == "U0ALICE"
    assert told["text"] == (
        "Your click was not recorded (4 tries over 0 s): the ledger is unreachable. Nothing "
        "changed; click again in a minute, or answer with 'autonomic approvals reject "
        f"{asked.question_id}'."
    )
    [logged] = [r.getMessage() for r in caplog.records if "was not recorded" in r.getMessage()]
    assert logged.startswith(
        f"a Slack click by U0ALICE (rejected on question {asked.question_id[:12]}, received "
        "over HTTP) was not recorded after 4 tries over 0 s: the ledger is unreachable"
    )

    # The ledger back, the same person clicks again: recorded.
    monkeypatch.undo()
    rig.clock.advance(1)
    assert rig.click(asked.question_id, "reject")[0] == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "rejected"


def test_a_full_click_queue_is_a_503_over_http_and_said_to_the_clicker_over_socket_mode(
    rig: Rig,
) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    rig.receiver.clicks.maxsize = 0  # as full as it gets
    status, answer, _ = _timed_post(rig, *_request(rig, asked.question_id, "approve", "U0ALICE"))
    assert status == 503
    assert answer == (
        b"Autonomic has 0 clicks waiting for its ledger (locked or away?); this click was not "
        b"recorded: click again in a minute\n"
    )
    # Socket Mode cannot answer 503: the envelope is acknowledged, the clicker told.
    client = RecordingClient()
    payload = block_actions_payload(
        asked.question_id, "approve", user_id="U0ALICE", action_ts=rig.clock()
    )
    rig.receiver.handle_socket_request(client, _envelope("env-1", payload))
    assert [a.envelope_id for a in client.acks] == ["env-1"]
    rig.drain()
    assert rig.question(asked.question_id).status == "pending"
    [told] = rig.slack.ephemerals
    assert told["text"].startswith(
        "Your click was not recorded: Autonomic has 0 clicks waiting for its ledger (locked or "
        "away?). Nothing changed; click again in a minute"
    )


def test_clicks_still_queued_at_shutdown_are_said_to_their_clickers(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = rig.approvals.ask(rig.decision(), rig.clock())
    second = rig.approvals.ask(rig.decision(subject="Deployment/shop/cart"), rig.clock())
    entered, go = threading.Event(), threading.Event()
    answer = rig.ledger.answer

    def slow(*args: Any, **kwargs: Any) -> bool:
        entered.set()
        assert go.wait(10.0)
        return answer(*args, **kwargs)

    monkeypatch.setattr(rig.ledger, "answer", slow)
    rig.receiver.ack_wait = 0.2  # the ledger is held: no answer waits for it long
    assert _timed_post(rig, *_request(rig, first.question_id, "approve", "U0ALICE"))[0] == 200
    assert entered.wait(5.0)  # the first click is being recorded, the ledger slow
    assert _timed_post(rig, *_request(rig, second.question_id, "approve", "U0BOB"))[0] == 200
    assert rig.receiver.clicks.waiting() == 1
    rig.receiver.close(0.1)
    go.set()
    assert rig.approvals.dispatcher.drain(10.0)
    assert rig.question(second.question_id).status == "pending"
    [told] = rig.slack.ephemerals
    assert told["user"] == "U0BOB"
    assert told["text"] == (
        "Your click was not recorded: Autonomic was stopping. Nothing changed; click again "
        f"in a minute, or answer with 'autonomic approvals approve {second.question_id}'."
    )
    # The click that was being recorded when it stopped is recorded.
    assert rig.receiver.drain(10.0)
    assert rig.question(first.question_id).status == "approved"
    # Stopped, it takes no more: an HTTP click is a 503.
    status, said, _ = _timed_post(rig, *_request(rig, second.question_id, "approve", "U0ALICE"))
    assert (status, said) == (
        503,
        b"Autonomic is stopping; this click was not recorded: click again in a minute\n",
    )


def test_socket_mode_acknowledges_before_a_slow_ledger_records(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    go = threading.Event()
    answer = rig.ledger.answer

    def slow(*args: Any, **kwargs: Any) -> bool:
        assert go.wait(10.0)
        return answer(*args, **kwargs)

    monkeypatch.setattr(rig.ledger, "answer", slow)
    rig.receiver.ack_wait = 0.5
    client = RecordingClient()
    payload = block_actions_payload(
        asked.question_id, "approve", user_id="U0ALICE", action_ts=rig.clock()
    )
    listener = threading.Thread(
        target=rig.receiver.handle_socket_request, args=(client, _envelope("env-1", payload))
    )
    try:
        listener.start()
        listener.join(3.0)
        assert not listener.is_alive()
        assert [a.envelope_id for a in client.acks] == ["env-1"]
        assert rig.question(asked.question_id).status == "pending"
    finally:
        go.set()
        listener.join()
    rig.drain()
    assert rig.question(asked.question_id).status == "approved"
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]


def _slow_answers(rig: Rig, monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    answer = rig.ledger.answer

    def slow(*args: Any, **kwargs: Any) -> bool:
        time.sleep(seconds)
        return answer(*args, **kwargs)

    monkeypatch.setattr(rig.ledger, "answer", slow)


def test_a_click_answered_200_is_in_the_ledger_already(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack does not send a click again once it was answered 200, so the 200 waits for
    the click's write (up to ``ack_wait``): a crash just after it cannot lose the
    answer. Before, the 200 went out before the write, and a SIGKILL in between lost the
    click while its clicker had been told it was taken (benchmarks/answer_crash.py)."""
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    _slow_answers(rig, monkeypatch, 0.3)
    status, answer, took = _timed_post(rig, *_request(rig, asked.question_id, "approve", "U0ALICE"))
    assert (status, answer) == (200, b"")
    # Read at once, without waiting for the click worker: already written.
    assert rig.question(asked.question_id).status == "approved"
    assert 0.3 <= took < rig.receiver.ack_wait
    rig.drain()
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]


def test_a_socket_mode_click_is_acknowledged_once_it_is_in_the_ledger(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    _slow_answers(rig, monkeypatch, 0.3)
    client = RecordingClient()
    payload = block_actions_payload(
        asked.question_id, "approve", user_id="U0ALICE", action_ts=rig.clock()
    )
    rig.receiver.handle_socket_request(client, _envelope("env-1", payload))
    assert [a.envelope_id for a in client.acks] == ["env-1"]
    assert rig.question(asked.question_id).status == "approved"
