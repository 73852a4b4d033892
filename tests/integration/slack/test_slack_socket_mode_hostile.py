"""Socket Mode against malformed and hostile envelopes, over the real websocket.

The real ``SlackReceiver`` with slack-sdk's builtin ``SocketModeClient``, connected to the
websocket stand-in (``tests/fakeslack/socket_mode.py``). Each test delivers something
broken, then a valid answer, and checks that:

- the listener still works afterwards (the valid answer is acknowledged and approves);
- what was sent approved nothing, and nothing was approved twice;
- every envelope that carries an ``envelope_id`` is acknowledged (Slack re-delivers an
  envelope it was not acknowledged for), the only ones not being those that cannot be
  read as an envelope at all (not JSON, a JSON list, no ``envelope_id``, nested too
  deeply for ``json`` to parse);
- no listener of ours raised (slack-sdk logs "Failed to run a request listener" if one
  does) and the click worker is still alive.

Already covered elsewhere and not repeated here: a click by someone who is not an
approver, a redelivery without ``retry_attempt`` and ``refresh_requested`` reconnects
(``test_slack_socket_mode_ws.py``); listening only on the leader
(``test_slack_socket_mode_leader.py``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from agent.adapters.slack import SlackReceiver
from agent.daemon import SocketModeLeader
from tests.fakeslack import SocketModeServer, block_actions_payload
from tests.integration.slack.conftest import CHANNEL, Rig, stop_socket_mode_promptly

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


@pytest.fixture
def sockets(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> Iterator[SocketModeServer]:
    """The websocket stand-in, with the receiver connected to it."""
    for name in PROXY_VARIABLES:  # slack-sdk would route through a proxy from the env
        monkeypatch.delenv(name, raising=False)
    server = rig.slack.attach_socket_mode()
    rig.receiver.start_socket_mode()
    server.wait_for_connection()
    yield server
    server.stop()  # wakes the client's reader: stopping it then does not wait 3 s
    stop_socket_mode_promptly(rig.receiver)


def _click(rig: Rig, question_id: str, action: str = "approve", user: str = "U0ALICE") -> Any:
    return block_actions_payload(
        question_id, action, user_id=user, channel_id=CHANNEL, action_ts=rig.clock()
    )


def _answers(rig: Rig, question_id: str) -> list[tuple[str, str]]:
    decision_id = rig.question(question_id).decision_id
    return [
        (f["outcome"], f["actor"])
        for f in rig.ledger.feedback_for(decision_id)
        if f["kind"] == "answer"
    ]


def _listener_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    """slack-sdk's log lines saying one of our listeners raised (not its own "Failed to
    run message listeners", logged when it cannot make a request of an envelope)."""
    ours = ("Failed to run a request listener", "Failed to run a message listener")
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("slack_sdk") and r.getMessage().startswith(ours)
    ]


def _still_works(rig: Rig, sockets: SocketModeServer) -> str:
    """A valid approval of a new question, delivered after the hostile input: it is
    acknowledged and approves exactly once. Returns the new question's id."""
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    envelope_id = sockets.push_interactive(_click(rig, asked.question_id))
    assert sockets.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
    rig.drain()
    assert rig.question(asked.question_id).status == "approved"
    assert _answers(rig, asked.question_id) == [("approved", "U0ALICE")]
    return asked.question_id


# Each case: what is sent (``{q}`` stands for a pending question's id), and the
# envelope id expected to be acknowledged (None: nothing to acknowledge).
UNREADABLE = {
    "not-json": ("this is not JSON", None),
    "broken-json": ('{"envelope_id": "e-broken", "type": "interactive", ', None),
    "json-list": ('[{"envelope_id": "e-list", "type": "interactive", "payload": {}}]', None),
    "json-string": ('"e-string"', None),
    "no-envelope-id": ('{"type": "interactive", "payload": %(click)s}', None),
    "empty-object": ("{}", None),
    # json.loads raises RecursionError inside slack-sdk's message thread; slack-sdk's
    # process_messages catches it (an Exception) and reads on: no envelope_id to answer.
    "nested-100000-deep": (
        '{"envelope_id": "e-deep", "type": "interactive", "payload": '
        + "[" * 100_000
        + "]" * 100_000
        + "}",
        None,
    ),
}
UNROUTABLE = {  # an envelope_id, but slack-sdk cannot make a request of it
    "no-payload": ('{"envelope_id": "e-no-payload", "type": "interactive"}', "e-no-payload"),
    "payload-null": (
        '{"envelope_id": "e-null", "type": "interactive", "payload": null}',
        "e-null",
    ),
    "payload-list": (
        '{"envelope_id": "e-list", "type": "interactive", "payload": [%(click)s]}',
        "e-list",
    ),
    "payload-number": (
        '{"envelope_id": "e-num", "type": "interactive", "payload": 7}',
        "e-num",
    ),
    "no-type": ('{"envelope_id": "e-no-type", "payload": %(click)s}', "e-no-type"),
}


def test_unreadable_messages_change_nothing_and_unroutable_envelopes_are_acknowledged(
    rig: Rig, sockets: SocketModeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """One connection for every case (each test's teardown costs slack-sdk ~1 s)."""
    caplog.set_level(logging.INFO)
    targets = {}
    for case, (text, acked) in {**UNREADABLE, **UNROUTABLE}.items():
        target = rig.approvals.ask(rig.decision(), rig.clock())
        targets[case] = target.question_id
        click = json.dumps(_click(rig, target.question_id))
        sockets.current().send_text(text % {"click": click})
        if acked is not None:
            assert sockets.wait_for_ack(acked) == {"envelope_id": acked}, case
    _still_works(rig, sockets)
    for case, question_id in targets.items():
        assert rig.question(question_id).status == "pending", case
    assert len(rig.answers.calls) == 1
    assert _listener_failures(caplog) == []
    # none of those ever reached the request listener's acknowledgement twice
    assert all(len(sockets.acks_for(a)) == 1 for _, a in UNROUTABLE.values())


def _payload_cases(rig: Rig, question_id: str) -> dict[str, Any]:
    """``interactive`` payloads with parts missing or of the wrong type."""
    good = _click(rig, question_id)

    def with_(**changes: Any) -> dict[str, Any]:
        return {**good, **changes}

    def action(**changes: Any) -> dict[str, Any]:
        return with_(actions=[{**good["actions"][0], **changes}])

    return {
        "payload-string": "approve " + question_id,
        "payload-empty": {},
        "type-not-a-string": with_(type=["block_actions"]),
        "user-missing": {k: v for k, v in good.items() if k != "user"},
        "user-a-string": with_(user="U0ALICE"),
        "user-id-a-number": with_(user={"id": 12345}),
        "user-id-null": with_(user={"id": None}),
        "actions-missing": {k: v for k, v in good.items() if k != "actions"},
        "actions-a-string": with_(actions="approve"),
        "actions-empty": with_(actions=[]),
        "actions-a-dict": with_(actions=good["actions"][0]),
        "action-a-number": with_(actions=[7]),
        "action-id-a-number": action(action_id=7),
        "action-id-a-list": action(action_id=["autonomic_approve"]),
        "action-id-null": action(action_id=None),
        "value-missing": with_(actions=[{"action_id": good["actions"][0]["action_id"]}]),
        "value-a-number": action(value=123),
        "value-a-list": action(value=[question_id]),
        "value-upper-case": action(value=question_id.upper()),
        "action-ts-a-dict": action(action_ts={"ts": 1}),
        "action-ts-too-big": action(action_ts=int("9" * 400)),
        "container-a-list": with_(container=[1], channel=[2]),
    }


def test_interactive_payloads_of_the_wrong_shape_are_acknowledged_and_ignored(
    rig: Rig, sockets: SocketModeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    target = rig.approvals.ask(rig.decision(), rig.clock())
    cases = _payload_cases(rig, target.question_id)
    sent = {case: sockets.push_interactive(payload) for case, payload in cases.items()}
    for case, envelope_id in sent.items():
        assert sockets.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}, case
    rig.drain()
    assert rig.question(target.question_id).status == "pending"
    assert _listener_failures(caplog) == []
    _still_works(rig, sockets)
    assert rig.question(target.question_id).status == "pending"
    assert len(rig.answers.calls) == 1
    assert rig.receiver.clicks.waiting() == 0


@pytest.mark.parametrize("envelope_id", [42, None, {"id": "e"}, ""])
def test_an_envelope_id_that_is_not_a_string_is_echoed_back_and_the_click_counts_once(
    rig: Rig, sockets: SocketModeServer, caplog: pytest.LogCaptureFixture, envelope_id: Any
) -> None:
    """The envelope arrives over the authenticated websocket: its id is only echoed."""
    caplog.set_level(logging.INFO)
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    envelope = {"envelope_id": envelope_id, "type": "interactive"}
    envelope["payload"] = _click(rig, asked.question_id)
    sockets.current().send_text(json.dumps(envelope))
    sockets.wait_for(
        lambda: any(m == {"envelope_id": envelope_id} for _, m in sockets.acks),
        5.0,
        "the acknowledgement",
    )
    rig.drain()
    assert _answers(rig, asked.question_id) == [("approved", "U0ALICE")]
    _still_works(rig, sockets)
    assert len(rig.answers.calls) == 2
    assert _listener_failures(caplog) == []


def test_unknown_envelope_types_are_acknowledged_and_ignored(
    rig: Rig, sockets: SocketModeServer
) -> None:
    target = rig.approvals.ask(rig.decision(), rig.clock())
    click = _click(rig, target.question_id)
    for kind in ("events_api", "slash_commands", "no_such_type", "hello"):
        envelope_id = f"e-{kind}"
        sockets.current().send_text(
            json.dumps({"envelope_id": envelope_id, "type": kind, "payload": click})
        )
        assert sockets.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
    rig.drain()
    assert rig.question(target.question_id).status == "pending"
    _still_works(rig, sockets)
    assert len(rig.answers.calls) == 1


def test_an_answer_to_a_question_that_does_not_exist_is_acknowledged_and_changes_nothing(
    rig: Rig, sockets: SocketModeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    envelope_id = sockets.push_interactive(_click(rig, "0123456789abcdef" * 2))
    assert sockets.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
    rig.drain()
    assert rig.answers.calls == []
    assert rig.slack.calls_to("chat.update") == []
    assert _listener_failures(caplog) == []
    _still_works(rig, sockets)


def test_a_redelivery_with_retry_attempt_after_the_answer_changes_nothing(
    rig: Rig, sockets: SocketModeServer
) -> None:
    question_id = _still_works(rig, sockets)
    payload = next(m["payload"] for m in sockets.current().sent if m.get("type") == "interactive")
    first = next(m["envelope_id"] for m in sockets.current().sent if m.get("payload") == payload)
    for attempt in (1, 2):
        rig.clock.advance(30)
        sockets.push_interactive(
            payload, envelope_id=first, retry_attempt=attempt, retry_reason="timeout"
        )
        acks = attempt + 1
        sockets.wait_for(lambda: len(sockets.acks_for(first)) == acks, 5.0, "the ack")  # noqa: B023
    rig.drain()
    assert rig.answers.calls == [(question_id, "approved", "U0ALICE")]
    assert _answers(rig, question_id) == [("approved", "U0ALICE")]
    assert len(rig.slack.calls_to("chat.update")) == 1


def test_two_envelopes_answering_the_same_question_at_once_record_one_answer(
    rig: Rig, sockets: SocketModeServer
) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    clicks = [
        _click(rig, asked.question_id, "approve", "U0ALICE"),
        _click(rig, asked.question_id, "approve", "U0BOB"),
        _click(rig, asked.question_id, "reject", "U0CAROL"),
    ]
    ready = threading.Barrier(len(clicks))
    sent: list[str] = []

    def push(payload: dict[str, Any]) -> None:
        ready.wait(5.0)
        sent.append(sockets.push_interactive(payload))

    threads = [threading.Thread(target=push, args=(c,)) for c in clicks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5.0)
    for envelope_id in sent:
        sockets.wait_for_ack(envelope_id)
    rig.drain()
    assert len(sent) == 3
    recorded = _answers(rig, asked.question_id)
    assert len(recorded) == 1 and len(rig.answers.calls) == 1
    assert rig.question(asked.question_id).status == recorded[0][0]
    assert len(rig.slack.calls_to("chat.update")) == 1
    # the two who came second are told it was already answered
    assert len(rig.slack.ephemerals) == 2


def test_a_one_megabyte_envelope_is_acknowledged_and_the_listener_keeps_working(
    rig: Rig, sockets: SocketModeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    payload = _click(rig, asked.question_id)
    payload["message"]["text"] = "x" * 1_048_576
    envelope_id = sockets.push_interactive(payload)
    assert sockets.wait_for_ack(envelope_id, timeout=10.0) == {"envelope_id": envelope_id}
    rig.drain()
    assert _answers(rig, asked.question_id) == [("approved", "U0ALICE")]
    _still_works(rig, sockets)
    assert _listener_failures(caplog) == []


@pytest.mark.parametrize("reason", ["refresh_requested", "link_disabled"])
def test_after_a_disconnect_message_the_leader_reconnects_and_answers_arrive(
    rig: Rig, sockets: SocketModeServer, reason: str
) -> None:
    first = sockets.current()
    sockets.request_disconnect(reason)
    second = sockets.wait_for_connection(2)
    assert first.wait_closed(5.0)
    assert len(rig.slack.calls_to("apps.connections.open")) == 2
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    envelope_id = sockets.push_interactive(_click(rig, asked.question_id))
    sockets.wait_for_ack(envelope_id, timeout=10.0)
    assert [c for c, _ in sockets.acks_for(envelope_id)] == [second.id]
    rig.drain()
    assert rig.question(asked.question_id).status == "approved"


def test_a_disconnect_handled_after_the_lease_is_lost_does_not_reconnect(
    rig: Rig, sockets: SocketModeServer
) -> None:
    """A ``disconnect`` the client had taken off its queue when the lease went is
    handled after ``stop_socket_mode``: the former leader must not open a new
    connection, which nobody would read or close (Slack would deliver answers to it)."""
    held = [True]
    leader = SocketModeLeader(rig.receiver, lambda: held[0], rig.clock)
    leader.sync()  # already listening (the fixture started it): stays so
    client = rig.receiver._socket
    assert client is not None
    held[0] = False
    leader.sync()  # the lease is gone: disconnects
    assert not rig.receiver.listening
    opened = len(rig.slack.calls_to("apps.connections.open"))
    # what the client's message processor does with a disconnect it dequeued earlier
    client.enqueue_message(json.dumps({"type": "disconnect", "reason": "refresh_requested"}))
    client.process_message()
    assert len(rig.slack.calls_to("apps.connections.open")) == opened
    assert sockets.open_connections() == []


def test_a_standby_receiver_never_connects(rig: Rig, sockets: SocketModeServer) -> None:
    """Only the leader holds a client: a standby's receiver has none to reconnect."""
    standby = SlackReceiver(
        rig.approvals,
        rig.receiver.approvers,
        signing_secret=None,
        replay_window=60,
        app_token=rig.receiver._app_token,
        socket_base_url=rig.slack.url + "/api/",
    )
    SocketModeLeader(standby, lambda: False, rig.clock).sync()
    sockets.request_disconnect("refresh_requested")
    sockets.wait_for_connection(2)  # the leader's client moves
    assert not standby.listening
    assert len(sockets.connections) == 2
    assert len(rig.slack.calls_to("apps.connections.open")) == 2
