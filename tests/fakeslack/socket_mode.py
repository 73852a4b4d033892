"""A local stand-in for Slack's Socket Mode websocket, for slack-sdk's ``SocketModeClient``.

A plain-TCP websocket server on 127.0.0.1, standard library only, speaking enough of
RFC 6455 for a Socket Mode client: the opening handshake (``Sec-WebSocket-Accept``
from the client's key), text frames, masked client frames (an unmasked one is a
protocol error, close 1002), fragmented messages, ping/pong and the closing
handshake. Attach it to the Web API stand-in and ``apps.connections.open`` hands out
its URLs::

    slack = start_fake_slack(...)
    sockets = slack.attach_socket_mode()          # a started SocketModeServer
    ...                                           # the client connects
    conn = sockets.wait_for_connection()          # saw the handshake; hello was sent
    envelope_id = sockets.push_interactive(payload)
    ack = sockets.wait_for_ack(envelope_id)       # {"envelope_id": ...} from the client
    sockets.request_disconnect()                  # {"type": "disconnect", ...}
    sockets.drop()                                # TCP gone, no close frame
    conn.wait_closed(); conn.closed_by            # "client" | "client-eof" | "server" ...

What it does the way Slack does, because Autonomic (through slack-sdk) relies on it:

- each ``apps.connections.open`` call issues a new URL with its own ticket. The stand-in
  accepts each ticket once and answers an unknown or used one with HTTP 401 instead of
  the upgrade (listed in ``refused``), so a client reconnecting with a stale URL would
  show; slack-sdk asks for a new URL for every connection;
- on connect the server sends ``{"type": "hello", "num_connections": N, ...}``;
- events arrive as envelopes (``envelope_id``, ``type``, ``payload``,
  ``accepts_response_payload``; ``retry_attempt``/``retry_reason`` only when a test asks,
  as Slack sets them on redelivered Events API envelopes) and the client acknowledges
  each with a text message ``{"envelope_id": ...}``;
- ``{"type": "disconnect", "reason": "refresh_requested"}`` asks the client to move to a
  new connection; the server may also just drop a connection;
- the server answers every ping with a pong carrying the same payload (slack-sdk's
  builtin client pings right after the handshake and then every ``ping_interval``,
  and uses the pong to decide whether the connection is stale).

Every frame the server sends is unmasked (RFC 6455 5.1) and a control frame always
carries a payload: slack-sdk's builtin frame reader asks for more bytes before it parses
a header of two bytes or fewer, so an empty ping or close frame would wait for the next
frame, or be lost when its 3-second receive timeout fires. Not modelled: TLS
(slack-sdk's builtin client speaks plain TCP to any port but 443, "only for library
testing" says its source), permessage-deflate and other extensions, Slack's limit on
connections per app, the timing of the ``warning`` and ``link_disabled`` disconnect
reasons, redelivery of unacknowledged envelopes (a test redelivers by pushing the same
envelope again), and ``response_payload`` in acknowledgements (recorded, never acted on).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["SocketConnection", "SocketModeServer", "websocket_accept"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_MAX_HANDSHAKE = 16_384
_MAX_MESSAGE = 1_048_576


def websocket_accept(key: str) -> str:
    """RFC 6455 4.2.2: base64(SHA-1(key + GUID)), the server's proof it read the key."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode()


class _PeerGoneError(Exception):
    """The peer went away (EOF or reset) in the middle of reading."""


@dataclass
class SocketConnection:
    """One accepted websocket connection, as the server saw it."""

    id: int
    ticket: str
    headers: dict[str, str]
    _sock: socket.socket = field(repr=False)
    _server: SocketModeServer = field(repr=False)
    received: list[dict[str, Any]] = field(default_factory=list)  # text messages, parsed
    sent: list[dict[str, Any]] = field(default_factory=list)  # text messages, as sent
    pings: list[bytes] = field(default_factory=list)  # payloads of the client's pings
    pongs: list[bytes] = field(default_factory=list)  # payloads of the client's pongs
    # How it ended: "client" (its close frame), "client-eof" / "client-reset" (it closed
    # the TCP connection without one), "server" (our close frame, or a protocol error),
    # "server-drop" / "server-reset" (``drop()``).
    closed_by: str | None = None
    close_code: int | None = None  # from the client's close frame, if it sent one
    _send_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _closed: threading.Event = field(default_factory=threading.Event, repr=False)
    _server_closing: bool = field(default=False, repr=False)
    _partial: tuple[int, list[bytes]] | None = field(default=None, repr=False)

    @property
    def open(self) -> bool:
        return not self._closed.is_set()

    def wait_closed(self, timeout: float = 5.0) -> bool:
        return self._closed.wait(timeout)

    # ------------------------------------------------------------ sending
    def send_json(self, message: dict[str, Any]) -> None:
        self._frame(OP_TEXT, json.dumps(message, separators=(",", ":")).encode())
        with self._server._changed:
            self.sent.append(message)

    def send_text(self, text: str) -> None:
        """A text message exactly as given (not necessarily JSON, as a hostile or broken
        peer might send); listed in ``sent`` as ``{"_raw": text}``."""
        self._frame(OP_TEXT, text.encode())
        with self._server._changed:
            self.sent.append({"_raw": text})

    def ping(self, payload: bytes = b"fake-slack-ping") -> None:
        self._frame(OP_PING, payload or b"-")

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; the connection ends when the client answers or
        hangs up (slack-sdk's builtin client hangs up without answering)."""
        self._server_closing = True
        self._frame(OP_CLOSE, struct.pack("!H", code) + reason.encode())
        if not self._closed.wait(2.0):
            self._finish("server")

    def drop(self, *, reset: bool = False) -> None:
        """End the TCP connection without a close frame, as a failing server or proxy
        would: with a FIN (the peer reads end-of-stream), or with ``reset`` an RST (the
        peer's next read fails with ECONNRESET)."""
        self._finish("server-reset" if reset else "server-drop", reset=reset)

    def _frame(self, opcode: int, payload: bytes) -> None:
        """One unmasked, final frame (servers never mask)."""
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, size)
        elif size < 65_536:
            header = struct.pack("!BBH", 0x80 | opcode, 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
        with self._send_lock:
            if self._closed.is_set():
                raise ConnectionError(f"connection {self.id} is closed")
            self._sock.sendall(header + payload)

    def _finish(self, by: str, *, reset: bool = False) -> None:
        with self._send_lock:
            if self._closed.is_set():
                return
            self.closed_by = by
            with contextlib.suppress(OSError):
                if reset:  # no FIN: close() with SO_LINGER 0 sends an RST instead
                    linger = struct.pack("ii", 1, 0)
                    self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                # Wakes this connection's reading thread (which then waits for this lock),
                # so that close() really releases the socket. SHUT_RD sends nothing.
                self._sock.shutdown(socket.SHUT_RD if reset else socket.SHUT_RDWR)
            self._sock.close()
            self._closed.set()
        with self._server._changed:
            self._server._changed.notify_all()

    # ------------------------------------------------------------ reading
    def _serve(self) -> None:
        """Read frames until the connection ends (runs on its own thread)."""
        by = "client-eof"
        try:
            while True:
                opcode, payload = self._read_message()
                if opcode == OP_TEXT:
                    self._on_text(payload)
                elif opcode == OP_PING:
                    with self._server._changed:
                        self.pings.append(payload)
                    self._frame(OP_PONG, payload)
                elif opcode == OP_PONG:
                    with self._server._changed:
                        self.pongs.append(payload)
                        self._server._changed.notify_all()
                elif opcode == OP_CLOSE:
                    if len(payload) == 1:
                        raise _RFC6455Error("a close frame's body is empty or 2+ bytes")
                    self.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                    if not self._server_closing:  # the client started it: answer, then end
                        with contextlib.suppress(OSError, ConnectionError):
                            self._frame(OP_CLOSE, payload[:2] or struct.pack("!H", 1000))
                    by = "server" if self._server_closing else "client"
                    break
                # binary frames are not part of Socket Mode: ignored
        except _RFC6455Error as exc:
            with contextlib.suppress(OSError, ConnectionError):
                self._frame(OP_CLOSE, struct.pack("!H", 1002) + str(exc).encode()[:100])
            by = "server"
        except ConnectionResetError:
            by = "client-reset"
        except (_PeerGoneError, OSError):
            by = "client-eof"
        self._finish("server" if self._server_closing else by)

    def _read_message(self) -> tuple[int, bytes]:
        """The next control frame, or the next whole (reassembled) data message.

        Control frames may come between the fragments of a message (RFC 6455 5.4): the
        fragments read so far wait in ``_partial`` meanwhile.
        """
        while True:
            fin, opcode, payload = self._read_frame()
            if opcode >= OP_CLOSE:
                return opcode, payload
            if opcode == OP_CONT:
                if self._partial is None:
                    raise _RFC6455Error("continuation frame without a message to continue")
                first, parts = self._partial
            elif self._partial is not None:
                raise _RFC6455Error("new data frame inside a fragmented message")
            else:
                first, parts = opcode, []
            parts.append(payload)
            if sum(len(p) for p in parts) > _MAX_MESSAGE:
                raise _RFC6455Error("message too big")
            if fin:
                self._partial = None
                return first, b"".join(parts)
            self._partial = (first, parts)

    def _read_frame(self) -> tuple[bool, int, bytes]:
        b1, b2 = self._read(2)
        fin, opcode, masked, size = bool(b1 & 0x80), b1 & 0x0F, bool(b2 & 0x80), b2 & 0x7F
        if b1 & 0x70:
            raise _RFC6455Error("reserved bits set without a negotiated extension")
        if opcode not in (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG):
            raise _RFC6455Error(f"unknown opcode {opcode:#x}")
        if not masked:
            raise _RFC6455Error("client frames must be masked")
        if size == 126:
            size = struct.unpack("!H", self._read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._read(8))[0]
        if opcode >= OP_CLOSE and (size > 125 or not fin):
            raise _RFC6455Error("control frames are final and at most 125 bytes")
        if size > _MAX_MESSAGE:
            raise _RFC6455Error("frame too big")
        mask = self._read(4)
        data = self._read(size)
        return fin, opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data))

    def _read(self, n: int) -> bytes:
        chunks: list[bytes] = []
        while n > 0:
            chunk = self._sock.recv(n)
            if not chunk:
                raise _PeerGoneError
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _on_text(self, payload: bytes) -> None:
        try:
            message = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            message = {"_unparsed": payload.decode("utf-8", "replace")}
        if not isinstance(message, dict):
            message = {"_unparsed": message}
        with self._server._changed:
            self.received.append(message)
            if "envelope_id" in message and "type" not in message:
                self._server.acks.append((self.id, message))
            self._server._changed.notify_all()


class _RFC6455Error(Exception):
    """The client broke RFC 6455: the server closes with 1002."""


class SocketModeServer:
    """The websocket side of Socket Mode. Use ``FakeSlack.attach_socket_mode()``.

    ``connections`` lists every accepted connection, oldest first; ``acks`` every
    acknowledgement as (connection id, message); ``refused`` every handshake that was
    answered with an HTTP error, as (status, path).
    """

    def __init__(self, *, app_id: str = "A0AUTONOMIC") -> None:
        self.app_id = app_id
        self.connections: list[SocketConnection] = []
        self.acks: list[tuple[int, dict[str, Any]]] = []
        self.refused: list[tuple[int, str]] = []
        self._tickets: set[str] = set()
        self._ids = itertools.count(1)
        self._changed = threading.Condition()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._stopped = False

    # ------------------------------------------------------------ control
    def start(self) -> SocketModeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and drop every open connection."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(2.0)
        for conn in list(self.connections):
            conn.drop()

    def new_url(self) -> str:
        """A URL for one connection, as ``apps.connections.open`` returns it."""
        ticket = base64.urlsafe_b64encode(os.urandom(12)).decode().rstrip("=")
        with self._changed:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    # ------------------------------------------------------------ talking
    def open_connections(self) -> list[SocketConnection]:
        with self._changed:
            return [c for c in self.connections if c.open]

    def current(self) -> SocketConnection:
        """The newest open connection (where Slack would deliver the next envelope)."""
        live = self.open_connections()
        if not live:
            raise AssertionError("no open Socket Mode connection")
        return live[-1]

    def send(self, message: dict[str, Any], conn: SocketConnection | None = None) -> None:
        (conn or self.current()).send_json(message)

    def push_interactive(
        self,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        conn: SocketConnection | None = None,
    ) -> str:
        """Deliver an ``interactive`` envelope; returns its envelope id."""
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id or _envelope_id(),
            "payload": payload,
            "type": "interactive",
            "accepts_response_payload": False,
        }
        if retry_attempt is not None:
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason or "timeout"
        self.send(envelope, conn)
        return str(envelope["envelope_id"])

    def request_disconnect(
        self, reason: str = "refresh_requested", conn: SocketConnection | None = None
    ) -> SocketConnection:
        """Ask the client to move to a new connection; returns the one asked."""
        target = conn or self.current()
        target.send_json(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-applink"}}
        )
        return target

    def drop(
        self, conn: SocketConnection | None = None, *, reset: bool = False
    ) -> SocketConnection:
        target = conn or self.current()
        target.drop(reset=reset)
        return target

    # ------------------------------------------------------------ waiting
    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
                self._changed.wait(min(left, 0.05))

    def wait_for_connection(self, count: int = 1, timeout: float = 5.0) -> SocketConnection:
        """Wait until ``count`` connections were accepted in all; the newest one."""
        self.wait_for(lambda: len(self.connections) >= count, timeout, f"connection #{count}")
        return self.connections[count - 1]

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        def acked() -> bool:
            return any(m.get("envelope_id") == envelope_id for _, m in self.acks)

        self.wait_for(acked, timeout, f"the acknowledgement of envelope {envelope_id}")
        return next(m for _, m in self.acks if m.get("envelope_id") == envelope_id)

    def acks_for(self, envelope_id: str) -> list[tuple[int, dict[str, Any]]]:
        with self._changed:
            return [(c, m) for c, m in self.acks if m.get("envelope_id") == envelope_id]

    def wait_for_pong(self, conn: SocketConnection, payload: bytes, timeout: float = 5.0) -> None:
        self.wait_for(lambda: payload in conn.pongs, timeout, "the pong")

    # ------------------------------------------------------------ serving
    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # stopped
            threading.Thread(target=self._handshake, args=(sock,), daemon=True).start()

    def _handshake(self, sock: socket.socket) -> None:
        sock.settimeout(5.0)
        try:
            request = _read_request(sock)
            status, path, headers = _check_upgrade(request)
            ticket = (parse_qs(urlsplit(path).query).get("ticket") or [""])[-1]
            with self._changed:
                known = ticket in self._tickets
                self._tickets.discard(ticket)
            if status == 101 and not known:
                status = 401
            if status != 101:
                with self._changed:
                    self.refused.append((status, path))
                body = b"invalid ticket" if status == 401 else b"bad websocket request"
                sock.sendall(
                    f"HTTP/1.1 {status} {'Unauthorized' if status == 401 else 'Bad Request'}"
                    f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                sock.close()
                return
            accept = websocket_accept(headers["sec-websocket-key"])
            sock.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\n"
                b"Upgrade: websocket\r\n"
                b"Connection: Upgrade\r\n" + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
            )
        except (OSError, _PeerGoneError, ValueError):
            sock.close()
            return
        sock.settimeout(None)
        with self._changed:
            conn = SocketConnection(next(self._ids), ticket, headers, sock, self)
            live = 1 + sum(1 for c in self.connections if c.open)
        # hello goes out before the connection is listed, so nothing a test sends on it
        # can overtake the hello
        hello = {
            "type": "hello",
            "num_connections": live,
            "debug_info": {
                "host": "fake-applink",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        try:
            conn.send_json(hello)
        except (OSError, ConnectionError):
            conn._finish("client-eof")
        with self._changed:
            self.connections.append(conn)
            self._changed.notify_all()
        if conn.open:
            conn._serve()


def _read_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1024)
        if not chunk:
            raise _PeerGoneError
        data += chunk
        if len(data) > _MAX_HANDSHAKE:
            raise ValueError("handshake too long")
    head, _, rest = data.partition(b"\r\n\r\n")
    if rest:  # a client must wait for 101 before sending frames
        raise ValueError("data after the handshake request")
    return head


def _check_upgrade(head: bytes) -> tuple[int, str, dict[str, str]]:
    """(101 or 400, path, lower-cased headers) for an opening handshake (RFC 6455 4.2.1)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    path = parts[1] if len(parts) == 3 else ""
    ok = (
        len(parts) == 3
        and parts[0] == "GET"
        and parts[2] == "HTTP/1.1"
        and "host" in headers
        and headers.get("upgrade", "").lower() == "websocket"
        and "upgrade" in [t.strip().lower() for t in headers.get("connection", "").split(",")]
        and headers.get("sec-websocket-version") == "13"
        and _is_key(headers.get("sec-websocket-key", ""))
    )
    return (101 if ok else 400), path, headers


def _is_key(value: str) -> bool:
    try:
        return len(base64.b64decode(value, validate=True)) == 16
    except ValueError:
        return False


def _envelope_id() -> str:
    return (
        f"{os.urandom(4).hex()}-{os.urandom(2).hex()}-{os.urandom(2).hex()}-{os.urandom(6).hex()}"
    )
