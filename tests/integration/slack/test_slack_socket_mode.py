"""Socket Mode: the listener given constructed ``SocketModeRequest`` envelopes.

These tests call the request-handling function the client calls for each envelope
directly, with the same ledger, stand-in Web API and approvers as the HTTP path, and
exercise start-up as far as the Web API goes (``apps.connections.open``). They do not
attach the websocket stand-in, so here the URL Slack hands out leads nowhere. The
websocket itself (handshake, hello, envelopes and acknowledgements on the wire,
reconnects, stop) is exercised with slack-sdk's real client in
``test_slack_socket_mode_ws.py``, against ``tests/fakeslack/socket_mode.py``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import SecretStr
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from agent.adapters.slack import SlackReceiver
from agent.errors import ConfigError, PermanentError
from tests.fakeslack import block_actions_payload
from tests.integration.slack.conftest import APP_TOKEN, REPLAY, TTL, Rig


class RecordingClient:
    """Stands in for ``SocketModeClient`` where the listener acknowledges envelopes."""

    def __init__(self) -> None:
        self.acks: list[SocketModeResponse] = []

    def send_socket_mode_response(self, response: SocketModeResponse) -> None:
        self.acks.append(response)


def _envelope(envelope_id: str, payload: dict[str, Any], **extra: Any) -> SocketModeRequest:
    return SocketModeRequest(
        type=extra.pop("type", "interactive"),
        envelope_id=envelope_id,
        payload=payload,
        **extra,
    )


def test_an_approval_over_socket_mode_is_acknowledged_then_recorded(rig: Rig) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    client = RecordingClient()
    payload = block_actions_payload(
        asked.question_id, "approve", user_id="U0ALICE", action_ts=rig.clock()
    )
    rig.receiver.handle_socket_request(client, _envelope("env-1", payload))
    assert [a.envelope_id for a in client.acks] == ["env-1"]
    rig.drain()
    assert rig.question(asked.question_id).status == "approved"
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]
    assert len(rig.slack.calls_to("chat.update")) == 1

    # Slack redelivering the envelope (retry) is acknowledged and changes nothing.
    rig.receiver.handle_socket_request(client, _envelope("env-1", payload, retry_attempt=1))
    rig.drain()
    assert [a.envelope_id for a in client.acks] == ["env-1", "env-1"]
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]


def test_socket_mode_refuses_non_approvers_and_acknowledges_everything(rig: Rig) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    client = RecordingClient()
    envelopes = [
        _envelope(
            "a",
            block_actions_payload(
                asked.question_id, "approve", user_id="U0EVE", action_ts=rig.clock()
            ),
        ),
        _envelope("b", {"type": "event_callback"}, type="events_api"),
        _envelope("c", {"type": "block_actions", "actions": "nonsense"}),
        _envelope("d", {"command": "/autonomic"}, type="slash_commands"),
    ]
    for envelope in envelopes:
        rig.receiver.handle_socket_request(client, envelope)
    rig.drain()
    assert [a.envelope_id for a in client.acks] == ["a", "b", "c", "d"]
    assert rig.question(asked.question_id).status == "pending"
    assert rig.answers.calls == []
    assert [e["user"] for e in rig.slack.ephemerals] == ["U0EVE"]


def test_socket_mode_has_no_replay_window_but_expiry_still_holds(rig: Rig) -> None:
    """Envelopes arrive over an authenticated websocket: no signature, no replay window;
    the ledger's expiry is what stops a late answer."""
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    payload = block_actions_payload(
        asked.question_id, "approve", user_id="U0ALICE", action_ts=rig.clock()
    )
    rig.clock.advance(REPLAY + 10)  # late, but inside the TTL
    rig.receiver.handle_socket_request(RecordingClient(), _envelope("late", payload))
    rig.drain()  # the answer's follow-up runs on the dispatcher: counted below once done
    assert rig.question(asked.question_id).status == "approved"
    expired = rig.approvals.ask(rig.decision(), rig.clock())
    too_late = block_actions_payload(
        expired.question_id, "approve", user_id="U0ALICE", action_ts=rig.clock()
    )
    rig.clock.advance(TTL + 1)  # past the question's TTL: the click is not an answer
    calls = len(rig.answers.calls)
    rig.receiver.handle_socket_request(RecordingClient(), _envelope("too-late", too_late))
    rig.drain()
    assert rig.question(expired.question_id).status == "pending"  # left for expiry to settle
    assert len(rig.answers.calls) == calls


def test_start_socket_mode_needs_an_app_token(rig: Rig) -> None:
    receiver = SlackReceiver(
        rig.approvals, rig.receiver.approvers, signing_secret=None, replay_window=REPLAY
    )
    with pytest.raises(ConfigError, match="appToken"):
        receiver.start_socket_mode()
    assert receiver.handle_interaction(b"payload=x", {}, rig.clock()) == (
        404,
        b"interactivity over HTTP is not configured (slack.signingSecret)\n",
    )


def test_a_wrong_app_token_is_a_permanent_error_and_nothing_listens(rig: Rig) -> None:
    receiver = SlackReceiver(
        rig.approvals,
        rig.receiver.approvers,
        signing_secret=None,
        replay_window=REPLAY,
        app_token=SecretStr("xapp-wrong"),
        socket_base_url=rig.slack.url + "/api/",
    )
    with pytest.raises(PermanentError, match=r"invalid_auth \(check slack\.appToken"):
        receiver.start_socket_mode()
    assert not receiver.listening
    [call] = rig.slack.calls_to("apps.connections.open")
    assert call.authorized is False


def test_start_and_stop_socket_mode(rig: Rig) -> None:
    """Start asks Slack for a websocket URL with the app token; stop closes the client.

    The stand-in is not a websocket server, so the handshake fails and slack-sdk's
    client keeps reconnecting in the background: what is asserted is that it used the
    app token, and that after ``stop`` it stops trying.
    """
    receiver = rig.receiver
    receiver.start_socket_mode()
    try:
        assert receiver.listening
        receiver.start_socket_mode()  # idempotent: the leader may call it again
        calls = rig.slack.calls_to("apps.connections.open")
        assert calls and all(c.authorized for c in calls)
    finally:
        receiver.stop_socket_mode()
    assert not receiver.listening
    receiver.stop_socket_mode()  # idempotent
    time.sleep(0.3)  # let a reconnect already in flight finish
    settled = len(rig.slack.calls_to("apps.connections.open"))
    time.sleep(0.5)  # the client retried every 0.1 s while it ran
    assert len(rig.slack.calls_to("apps.connections.open")) == settled
    assert APP_TOKEN not in repr(receiver.__dict__)


def test_a_client_that_does_not_close_holds_nobody_for_long(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """slack-sdk's ``close()`` joins the client's threads; one stuck there used to hold
    the caller (a replica losing the lease, the shutdown) for as long as it stayed
    stuck. Closing now waits ``socket_close_wait`` and leaves the rest to a thread."""
    import threading

    release = threading.Event()

    class StuckClient:
        closed = False

        def close(self) -> None:
            self.closed = True  # slack-sdk stops reconnecting first, then joins
            release.wait(30)

    receiver = rig.receiver
    stuck = StuckClient()
    receiver._socket = stuck
    receiver.socket_close_wait = 0.3
    started = time.monotonic()
    try:
        with caplog.at_level("WARNING", logger="autonomic.slack"):
            receiver.stop_socket_mode()
        took = time.monotonic() - started
        assert 0.3 <= took < 2.0
        assert stuck.closed and not receiver.listening
        assert "the client had not closed after 0.3 s" in caplog.text
    finally:
        release.set()


def test_a_click_the_ledger_cannot_record_is_acknowledged_and_the_clicker_told(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acknowledged, so Slack shows no error: the person who clicked hears it from us."""
    from agent.errors import TransientError

    asked = rig.approvals.ask(rig.decision(), rig.clock())

    def unreachable(*args: Any, **kwargs: Any) -> bool:
        raise TransientError("the ledger is unreachable", reason="LedgerUnavailable")

    monkeypatch.setattr(rig.ledger, "answer", unreachable)
    rig.receiver.record_backoff = 0.01
    client = RecordingClient()
    payload = block_actions_payload(
        asked.question_id, "approve", user_id="U0ALICE", action_ts=rig.clock()
    )
    rig.receiver.handle_socket_request(client, _envelope("env-1", payload))
    rig.drain()
    assert [a.envelope_id for a in client.acks] == ["env-1"]
    assert rig.question(asked.question_id).status == "pending"
    [told] = rig.slack.ephemerals
    assert told["user"] == "U0ALICE"
    assert told["text"].startswith("Your click was not recorded (4 tries over 0 s): the ledger")
    assert told["text"].endswith(
        "is unreachable. Nothing changed; click again in a minute, or answer with "
        f"'autonomic approvals approve {asked.question_id}'."
    )
    assert rig.answers.calls == []
