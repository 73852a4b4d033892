"""The daemon's HTTP server on a real socket: what a broken, hostile or slow client gets.

Each case sends raw bytes, so the framing itself (Content-Length, methods, bodies on GET,
a body that stops short or never comes) is what is tested, not a client library's idea
of it.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from agent.server import HttpServer, Request, Response, json_response

ROUTES = {("POST", "/echo"), ("GET", "/healthz")}


@pytest.fixture
def server() -> Iterator[HttpServer]:
    received: list[bytes] = []

    def echo(request: Request) -> Response:
        received.append(request.body)
        return json_response(200, {"bytes": len(request.body)})

    def healthz(request: Request) -> Response:
        return json_response(200, {"ok": True})

    http = HttpServer("127.0.0.1", 0, max_body_bytes=2048, read_timeout=0.5)
    http.route("POST", "/echo", echo)
    http.route("GET", "/healthz", healthz)
    http.received = received  # type: ignore[attr-defined]
    http.start()
    yield http
    http.stop()


def exchange(port: int, data: bytes, *, half_close: bool = False, wait: float = 3.0) -> bytes:
    """Send ``data``, then read until the server closes or ``wait`` passes."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as conn:
        conn.sendall(data)
        if half_close:
            conn.shutdown(socket.SHUT_WR)
        chunks = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"Connection: close" not in b"".join(chunks) and _complete(b"".join(chunks)):
                break
        return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


def status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def post(body: bytes, *headers: str) -> bytes:
    lines = ["POST /echo HTTP/1.1", "Host: x", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_a_whole_body_is_accepted(server: HttpServer) -> None:
    reply = exchange(server.port, post(b"{}", "Content-Length: 2"))
    assert status(reply) == 200 and reply.endswith(b'{"bytes": 2}\n')


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ((), 411),  # no length
        (("Transfer-Encoding: chunked",), 411),  # no chunked bodies
        (("Transfer-Encoding: chunked", "Content-Length: 2"), 400),  # smuggling shape
        (("Content-Length: 2", "Content-Length: 500"), 400),  # two lengths
        (("Content-Length: +2",), 400),
        (("Content-Length: 1_0",), 400),
        (("Content-Length: -1",), 400),
        (("Content-Length: 99999",), 413),
    ],
)
def test_framing_that_cannot_be_trusted_is_refused_and_the_connection_closed(
    server: HttpServer, headers: tuple[str, ...], expected: int
) -> None:
    reply = exchange(server.port, post(b"{}", *headers))
    assert status(reply) == expected
    assert b"Connection: close" in reply
    assert server.received == []  # type: ignore[attr-defined]


def test_a_body_that_ends_short_is_refused_not_handled(server: HttpServer) -> None:
    reply = exchange(server.port, post(b"{}", "Content-Length: 100"), half_close=True)
    assert status(reply) == 400
    assert b"body ended after 2 of 100 bytes" in reply
    assert server.received == []  # type: ignore[attr-defined]


def test_a_stalled_body_is_dropped_after_the_read_timeout(server: HttpServer) -> None:
    started = time.monotonic()
    reply = exchange(server.port, post(b"", "Content-Length: 10"), wait=5.0)
    assert status(reply) == 408
    assert time.monotonic() - started < 3.0
    assert server.received == []  # type: ignore[attr-defined]


def test_a_body_on_get_is_refused_so_it_cannot_smuggle_a_second_request(
    server: HttpServer,
) -> None:
    smuggled = b"GET /nope-smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    data = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(smuggled) + smuggled
    )
    reply = exchange(server.port, data)
    assert status(reply) == 400 and reply.count(b"HTTP/1.1") == 1
    assert b"nope-smuggled" not in reply


@pytest.mark.parametrize(
    "method", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PURGE"]
)
def test_other_methods_get_405_json_with_allow(server: HttpServer, method: str) -> None:
    reply = exchange(server.port, f"{method} /echo HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status(reply) == 405 and b"Allow: POST" in reply
    assert json.loads(reply.partition(b"\r\n\r\n")[2]) == {"error": f"{method} not allowed here"}


def test_any_verb_on_an_unknown_path_gets_404_json(server: HttpServer) -> None:
    reply = exchange(server.port, b"TRACE /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status(reply) == 404
    assert json.loads(reply.partition(b"\r\n\r\n")[2]) == {"error": "no route for /nowhere"}


def test_head_answers_like_get_without_a_body(server: HttpServer) -> None:
    reply = exchange(server.port, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", wait=1.0)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert status(reply) == 200 and b"Content-Length: 13" in head and body == b""


def test_a_client_that_hangs_up_leaves_the_server_serving(server: HttpServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as conn:
        conn.sendall(post(b"{}", "Content-Length: 2"))
    reply = exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status(reply) == 200


def test_a_route_may_close_the_connection_after_its_answer() -> None:
    """A standby's 503 to Alertmanager closes the connection, so that the retry opens a
    new one (which a Service may send to the leader) instead of reusing this one."""
    http = HttpServer("127.0.0.1", 0, read_timeout=0.5)
    http.route("POST", "/go-elsewhere", lambda _r: Response(503, b"{}\n", close=True))
    http.route("POST", "/stay", lambda _r: json_response(200, {}))
    http.start()
    try:
        for path, closes in (("/go-elsewhere", True), ("/stay", False)):
            with socket.create_connection(("127.0.0.1", http.port), timeout=3) as conn:
                conn.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
                )
                reply = b""
                while not _complete(reply):
                    reply += conn.recv(65536)
                assert (b"Connection: close" in reply) is closes
                conn.settimeout(0.2)  # under the server's 0.5 s read timeout
                try:
                    rest = conn.recv(1)
                except TimeoutError:
                    rest = None  # still open, waiting for a next request
                assert (rest == b"") is closes  # closed: the server's end is gone
    finally:
        http.stop()
