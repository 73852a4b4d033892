"""Socket Mode over a real websocket on 127.0.0.1: ``SlackReceiver.start_socket_mode()``
with slack-sdk's builtin ``SocketModeClient`` against the stand-in in
``tests/fakeslack/socket_mode.py`` (``apps.connections.open`` on the Web API stand-in
hands out its URLs).

What slack-sdk's builtin client does that these tests rely on (read from its source,
``slack_sdk/socket_mode/builtin/``, and seen here): it speaks plain TCP to any port but
443; it pings right after the handshake and every ``ping_interval`` (5 s); on a
``disconnect`` message it asks for a new URL, connects, and only then closes the old
socket, which takes up to its 3-second receive timeout; a reset connection is noticed at
once but replaced by its monitor, which runs every ``ping_interval``; ``close()`` closes
the TCP connection without a close frame, again after up to 3 s.

Not covered: a connection the server ends with a plain FIN (no close frame, no reset).
The builtin client then reads end-of-stream in a busy loop and only reconnects after
five pings, ``ping_interval`` apart, have failed: when these tests were written that took
30 s, with 24 s of CPU burnt meanwhile, too slow and too costly for this suite.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakeslack import SocketModeServer, block_actions_payload, websocket_accept
from tests.integration.slack.conftest import CHANNEL, Rig, stop_socket_mode_promptly

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


@pytest.fixture
def sockets(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> Iterator[SocketModeServer]:
    """The websocket stand-in, with the receiver connected to it."""
    for name in PROXY_VARIABLES:  # slack-sdk would route through a proxy from the env
        monkeypatch.delenv(name, raising=False)
    server = rig.slack.attach_socket_mode()
    rig.receiver.start_socket_mode()
    yield server
    # Dropping the connections first wakes the client's reader, so that stopping it does
    # not wait out its 3-second receive timeout (test_stop... measures that wait).
    server.stop()
    stop_socket_mode_promptly(rig.receiver)


def _click(rig: Rig, question_id: str, action: str = "approve", user: str = "U0ALICE") -> Any:
    return block_actions_payload(
        question_id, action, user_id=user, channel_id=CHANNEL, action_ts=rig.clock()
    )


def _answers(rig: Rig, question_id: str, kind: str = "answer") -> list[tuple[str, str]]:
    decision_id = rig.question(question_id).decision_id
    return [
        (f["outcome"], f["actor"])
        for f in rig.ledger.feedback_for(decision_id)
        if f["kind"] == kind
    ]


def test_an_approve_click_over_the_websocket_is_acknowledged_and_recorded_once(
    rig: Rig, sockets: SocketModeServer
) -> None:
    conn = sockets.wait_for_connection()
    assert conn.sent[0]["type"] == "hello"
    [opened] = rig.slack.calls_to("apps.connections.open")
    assert opened.authorized  # with the app-level token, not the bot token
    asked = rig.approvals.ask(rig.decision(), rig.clock())

    envelope_id = sockets.push_interactive(_click(rig, asked.question_id))
    assert sockets.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
    # acknowledged at once, recorded after, on the click worker
    rig.drain()
    assert rig.question(asked.question_id).status == "approved"
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]
    assert rig.answers.threads == ["autonomic-approvals"]  # not the socket's threads
    assert _answers(rig, asked.question_id) == [("approved", "U0ALICE")]
    [update] = rig.slack.calls_to("chat.update")
    [message] = rig.slack.top_level()
    assert (update.params["channel"], update.params["ts"]) == (message.channel, message.ts)
    assert "*Approved* by <@U0ALICE>" in str(message.blocks)
    assert [m for m in conn.received if "envelope_id" in m] == [{"envelope_id": envelope_id}]


def test_a_redelivered_envelope_is_acknowledged_and_changes_nothing(
    rig: Rig, sockets: SocketModeServer
) -> None:
    sockets.wait_for_connection()
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    payload = _click(rig, asked.question_id)
    envelope_id = sockets.push_interactive(payload)
    sockets.wait_for_ack(envelope_id)
    rig.drain()
    updates = len(rig.slack.calls_to("chat.update"))

    # The same envelope again (as after a lost acknowledgement): same id, same click.
    rig.clock.advance(5)
    sockets.push_interactive(payload, envelope_id=envelope_id)
    sockets.wait_for(lambda: len(sockets.acks_for(envelope_id)) == 2, 5.0, "the second ack")
    rig.drain()
    assert rig.question(asked.question_id).status == "approved"
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]
    assert _answers(rig, asked.question_id) == [("approved", "U0ALICE")]
    assert len(rig.slack.calls_to("chat.update")) == updates == 1
    # A redelivery is the same click (same user, same action_ts), not a second one:
    # nobody is told anything (a real double click is answered; see test_slack_security).
    assert rig.slack.ephemerals == []


def test_a_click_by_someone_who_is_not_an_approver_is_acknowledged_and_refused(
    rig: Rig, sockets: SocketModeServer
) -> None:
    sockets.wait_for_connection()
    asked = rig.approvals.ask(rig.decision(), rig.clock())

    envelope_id = sockets.push_interactive(_click(rig, asked.question_id, user="U0EVE"))
    assert sockets.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
    rig.drain()
    assert rig.question(asked.question_id).status == "pending"
    assert rig.answers.calls == []
    assert _answers(rig, asked.question_id) == []
    assert _answers(rig, asked.question_id, "refusal") == [("refused", "U0EVE")]
    assert rig.slack.calls_to("chat.update") == []
    assert [e["user"] for e in rig.slack.ephemerals] == ["U0EVE"]
    # The group approvers were checked with Slack (U0EVE is not in S0ONCALL).
    assert rig.slack.calls_to("usergroups.users.list")


def test_after_slack_asks_for_a_reconnect_answers_arrive_on_the_new_connection(
    rig: Rig, sockets: SocketModeServer
) -> None:
    first = sockets.wait_for_connection()
    asked = rig.approvals.ask(rig.decision(), rig.clock())

    sockets.request_disconnect("refresh_requested")
    second = sockets.wait_for_connection(2)
    assert first.wait_closed(5.0)
    assert first.closed_by in ("client-eof", "client-reset")  # the client hung up on it
    assert second.open and second.ticket != first.ticket
    opened = rig.slack.calls_to("apps.connections.open")
    assert len(opened) == 2 and all(c.authorized for c in opened)  # a fresh URL

    envelope_id = sockets.push_interactive(_click(rig, asked.question_id))
    # The client reads the new connection once it has closed the old one (up to 3 s).
    sockets.wait_for_ack(envelope_id, timeout=10.0)
    assert [c for c, _ in sockets.acks_for(envelope_id)] == [second.id]
    rig.drain()
    assert rig.question(asked.question_id).status == "approved"
    assert sockets.refused == []


def test_after_the_connection_is_reset_the_client_reconnects_and_answers_arrive(
    rig: Rig, sockets: SocketModeServer
) -> None:
    first = sockets.wait_for_connection()
    asked = rig.approvals.ask(rig.decision(), rig.clock())

    sockets.drop(first, reset=True)
    # slack-sdk notices the reset at once and reconnects on its monitor's next tick
    # (every ping_interval, 5 s).
    second = sockets.wait_for_connection(2, timeout=10.0)
    assert second.open
    assert len(rig.slack.calls_to("apps.connections.open")) == 2

    envelope_id = sockets.push_interactive(_click(rig, asked.question_id))
    sockets.wait_for_ack(envelope_id, timeout=10.0)
    assert [c for c, _ in sockets.acks_for(envelope_id)] == [second.id]
    rig.drain()
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]


def test_stop_closes_the_connection_and_nothing_listens_until_started_again(
    rig: Rig, sockets: SocketModeServer
) -> None:
    """Losing the lease calls ``stop_socket_mode``: the connection ends, no reconnect."""
    conn = sockets.wait_for_connection()
    started = time.monotonic()
    rig.receiver.stop_socket_mode()
    took = time.monotonic() - started
    assert not rig.receiver.listening
    assert conn.wait_closed(1.0)  # closed by the time stop returned
    # slack-sdk's builtin client sends no close frame: it closes the TCP connection (an
    # RST rather than a FIN when a frame it never read, such as a pong, was still queued)
    assert conn.closed_by in ("client-eof", "client-reset")
    assert took < 6.0  # it waits out its 3-second receive timeout, never longer
    # close() joined the client's threads: nothing is left to reconnect
    assert sockets.open_connections() == []
    assert len(rig.slack.calls_to("apps.connections.open")) == 1

    # A new term as leader listens again, on a new connection.
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    rig.receiver.start_socket_mode()
    second = sockets.wait_for_connection(2)
    envelope_id = sockets.push_interactive(_click(rig, asked.question_id, "reject"))
    sockets.wait_for_ack(envelope_id)
    assert [c for c, _ in sockets.acks_for(envelope_id)] == [second.id]
    rig.drain()
    assert rig.question(asked.question_id).status == "rejected"


def test_the_client_pings_and_answers_the_servers_pings(
    rig: Rig, sockets: SocketModeServer
) -> None:
    conn = sockets.wait_for_connection()
    sockets.wait_for(lambda: bool(conn.pings), 5.0, "the client's first ping")
    conn.ping(b"are-you-there")
    sockets.wait_for_pong(conn, b"are-you-there")


# ------------------------------------------------------- the stand-in's own protocol
def _raw_connect(server: SocketModeServer, url: str | None = None) -> tuple[socket.socket, bytes]:
    """An RFC 6455 handshake by hand: (socket, the server's response head)."""
    path = (url or server.new_url()).split(str(server.port), 1)[1]
    key = base64.b64encode(os.urandom(16)).decode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    if head.startswith(b"HTTP/1.1 101"):
        assert f"Sec-WebSocket-Accept: {websocket_accept(key)}".encode() in head
    return sock, head


def _send(
    sock: socket.socket, opcode: int, data: bytes, *, masked: bool = True, fin: bool = True
) -> None:
    mask = os.urandom(4) if masked else b""
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(data)) if masked else data
    first = (0x80 if fin else 0) | opcode
    sock.sendall(struct.pack("!BB", first, (0x80 if masked else 0) | len(data)) + mask + body)


def _recv(sock: socket.socket) -> tuple[int, bytes]:
    def exactly(n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = sock.recv(n - len(out))
            assert chunk, "connection ended"
            out += chunk
        return out

    b1, b2 = exactly(2)
    assert not b2 & 0x80  # servers never mask
    size = b2 & 0x7F
    if size == 126:
        size = struct.unpack("!H", exactly(2))[0]
    return b1 & 0x0F, exactly(size)


def test_the_stand_in_speaks_rfc_6455() -> None:
    assert (
        websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    )  # RFC 6455 1.3
    server = SocketModeServer().start()
    try:
        url = server.new_url()
        sock, head = _raw_connect(server, url)
        assert head.startswith(b"HTTP/1.1 101 Switching Protocols")
        opcode, hello = _recv(sock)
        assert opcode == 0x1 and b'"type":"hello"' in hello
        _send(sock, 0x9, b"p1")  # ping -> pong with the same payload
        assert _recv(sock) == (0xA, b"p1")
        _send(sock, 0x1, b'{"envelope_id":', fin=False)  # a fragmented message,
        _send(sock, 0x9, b"p2")  # a ping between its fragments,
        _send(sock, 0x0, b'"e1"}')  # and its last fragment
        assert _recv(sock) == (0xA, b"p2")
        server.wait_for(lambda: bool(server.acks), 5.0, "the ack")
        assert server.acks == [(1, {"envelope_id": "e1"})]
        _send(sock, 0x8, struct.pack("!H", 1000))  # the client closes: the server echoes
        assert _recv(sock) == (0x8, struct.pack("!H", 1000))
        assert server.connections[0].wait_closed(5.0)
        assert server.connections[0].closed_by == "client"
        sock.close()

        # A URL opens one connection; an unknown ticket opens none.
        for reused in (url, f"ws://127.0.0.1:{server.port}/link/?ticket=forged"):
            sock, head = _raw_connect(server, reused)
            assert head.startswith(b"HTTP/1.1 401")
            sock.close()
        assert [status for status, _ in server.refused] == [401, 401]

        # An unmasked client frame is a protocol error: close 1002.
        sock, _ = _raw_connect(server)
        _recv(sock)  # hello
        _send(sock, 0x1, b"{}", masked=False)
        opcode, data = _recv(sock)
        assert (opcode, data[:2]) == (0x8, struct.pack("!H", 1002))
        sock.close()
    finally:
        server.stop()


def test_clicks_beyond_slack_sdks_ten_workers_are_acknowledged_within_the_wait(
    rig: Rig, sockets: SocketModeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The acknowledgement waits for the click's write (``ack_wait``) on a thread of
    slack-sdk's listener pool: with its default ten threads, the eleventh click of a
    burst that a slow ledger holds up only began its wait once one of the first ten had
    given up on theirs, and was acknowledged after twice ``ack_wait`` (past Slack's 3 s
    at the daemon's 2 s)."""
    sockets.wait_for_connection()
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    go = threading.Event()
    answer = rig.ledger.answer

    def held(*args: Any, **kwargs: Any) -> bool:
        assert go.wait(10.0)
        return answer(*args, **kwargs)

    monkeypatch.setattr(rig.ledger, "answer", held)
    rig.receiver.ack_wait = 1.0
    try:
        started = time.monotonic()
        envelopes = []
        for user in ["U0ALICE", "U0BOB", "U0CAROL"] * 4:  # twelve clicks at once
            rig.clock.advance(0.01)
            envelopes.append(sockets.push_interactive(_click(rig, asked.question_id, user=user)))
        for envelope_id in envelopes:
            sockets.wait_for_ack(envelope_id, timeout=5.0)
        took = time.monotonic() - started
    finally:
        go.set()
    rig.drain()
    assert 1.0 <= took < 1.6, took
    assert rig.question(asked.question_id).status == "approved"
