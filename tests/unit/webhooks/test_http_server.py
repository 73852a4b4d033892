"""The daemon's HTTP server on a real socket: what a broken, hostile or slow client gets.

Each case sends raw bytes, so the framing itself (Content-Length, methods, bodies on GET,
a body that stops short or never comes) is what is tested, not a client library's idea
of it.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator, Mapping

import pytest

from agent import server as server_module
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


@pytest.mark.parametrize(
    ("data", "expected", "error"),
    [
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "URI is too long"),
        (b"GET /healthz HTTP/2.0\r\n\r\n", 505, "Invalid HTTP version (2.0)"),
        (b"GET /healthz HTTP/one\r\n\r\n", 400, "Bad request version ('HTTP/one')"),
        (b"GET /healthz\r\n", 400, "not an HTTP/1 request line (HTTP/0.9 is not served)"),
        (
            b"GET /healthz HTTP/1.1\r\nfoo bar\r\n\r\n",
            400,
            "a header line without a colon, or with a space before it",
        ),
        (
            b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
            431,
            "Line too long: got more than 65536 bytes when reading header line",
        ),
        (
            b"GET /healthz HTTP/1.1\r\n" + b"X-H: v\r\n" * 200 + b"\r\n",
            431,
            "Too many headers: got more than 100 headers",
        ),
    ],
    ids=["414", "505", "bad version", "HTTP/0.9", "no colon", "long header", "many headers"],
)
def test_the_servers_own_refusals_are_json_and_close_the_connection(
    server: HttpServer, data: bytes, expected: int, error: str
) -> None:
    # Served first on the same connection, so the refusal must close a kept-alive one.
    first = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=3.0) as conn:
        conn.sendall(first + data)
        reply = b""
        while chunk := conn.recv(65536):  # to the server's close (a timeout fails)
            reply += chunk
    assert status(reply) == 200
    second = reply[reply.index(b"HTTP/1.1", 1) :]
    head, _, body = second.partition(b"\r\n\r\n")
    assert status(second) == expected
    assert b"Content-Type: application/json" in head and b"Connection: close" in head
    assert json.loads(body) == {"error": error}


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


def trickle(port: int, head: bytes, body: bytes, gap: float, wait: float) -> tuple[bytes, float]:
    """Send ``head`` at once, then ``body`` a byte every ``gap`` seconds (each gap under
    the server's read timeout), stopping when the server answers or hangs up; the reply
    and the seconds it came after."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as conn:
        conn.sendall(head)
        conn.settimeout(gap)
        reply = b""
        for byte in body:
            try:
                conn.sendall(bytes([byte]))
            except OSError:  # the server hung up
                break
            try:
                reply = conn.recv(65536)
            except TimeoutError:
                continue
            break
        conn.settimeout(max(wait - (time.monotonic() - started), 0.1))
        try:
            while not _complete(reply) and (chunk := conn.recv(65536)):
                reply += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return reply, time.monotonic() - started


def test_a_body_trickled_under_the_read_timeout_is_cut_at_the_request_deadline() -> None:
    """Slowloris: a byte every 0.3 s never waits out a 0.5 s read timeout, so a body of
    the route's limit held a server thread for as long as the client liked."""
    http = HttpServer("127.0.0.1", 0, read_timeout=0.5, request_timeout=1.0)
    handled: list[bytes] = []

    def echo(request: Request) -> Response:
        handled.append(request.body)
        return json_response(200, {})

    http.route("POST", "/echo", echo)
    http.start()
    try:
        reply, took = trickle(
            http.port, post(b"", "Content-Length: 40"), b"x" * 40, gap=0.3, wait=6.0
        )
        assert status(reply) == 408 and b"Connection: close" in reply
        assert took < 2.5  # not the 12 s the whole body would take
        assert handled == []
    finally:
        http.stop()


def test_headers_trickled_under_the_read_timeout_are_cut_at_the_request_deadline() -> None:
    http = HttpServer("127.0.0.1", 0, read_timeout=0.5, request_timeout=1.0)
    http.route("GET", "/healthz", lambda _r: json_response(200, {}))
    http.start()
    try:
        reply, took = trickle(
            http.port, b"GET /healthz HTTP/1.1\r\n", b"X-Slow: " + b"y" * 40, gap=0.3, wait=6.0
        )
        assert reply == b""  # hung up on, nothing answered
        assert took < 2.5
    finally:
        http.stop()
    # A request that arrives in time on a connection is not cut by the deadline of an
    # earlier one: the deadline is per request. Four requests 0.4 s apart (the last sent
    # 1.2 s in) outlast one request's 1 s; the pause allowed between them (1.5 s) leaves
    # room for a busy machine (at 0.5 s, a pause stretched by load closed the idle
    # connection).
    http = HttpServer("127.0.0.1", 0, read_timeout=1.5, request_timeout=1.0)
    http.route("GET", "/healthz", lambda _r: json_response(200, {}))
    http.start()
    try:
        with socket.create_connection(("127.0.0.1", http.port), timeout=3) as conn:
            for _ in range(4):
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = b""
                while not _complete(answer):
                    more = conn.recv(65536)
                    assert more, f"connection closed before an answer (got {answer!r})"
                    answer += more
                assert status(answer) == 200
                time.sleep(0.4)
    finally:
        http.stop()


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
                    more = conn.recv(65536)
                    assert more, f"connection closed before an answer (got {reply!r})"
                    reply += more
                assert (b"Connection: close" in reply) is closes
                conn.settimeout(0.2)  # under the server's 0.5 s read timeout
                try:
                    rest = conn.recv(1)
                except TimeoutError:
                    rest = None  # still open, waiting for a next request
                assert (rest == b"") is closes  # closed: the server's end is gone
    finally:
        http.stop()


def headers_only(port: int, path: str, *headers: str, wait: float = 2.0) -> bytes:
    """Send a POST's headers and no body, and read what comes back within ``wait``: an
    answer refused before the body is read comes at once; one that waits for the body
    comes only after the server's read timeout."""
    lines = [f"POST {path} HTTP/1.1", "Host: x", *headers]
    return exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode(), wait=wait)


def test_each_route_has_its_own_body_limit() -> None:
    """One limit for every route (the larger of 1 MiB and alertmanager.maxBodyBytes)
    let a large webhook limit apply to every other POST route too."""
    seen: list[int] = []
    http = HttpServer("127.0.0.1", 0, max_body_bytes=2048, read_timeout=0.5)
    http.route(
        "POST",
        "/big",
        lambda r: json_response(200, {"bytes": len(r.body)}),
        max_body_bytes=8192,
        limit_name="big.maxBodyBytes",
    )
    http.route(
        "POST",
        "/small",
        lambda r: json_response(200, {"bytes": len(r.body)}),
        refused=lambda status, _error: seen.append(status),
    )
    http.start()
    try:
        body = b"x" * 4096
        reply = exchange(http.port, post(body, "Content-Length: 4096").replace(b"/echo", b"/big"))
        assert status(reply) == 200 and reply.endswith(b'{"bytes": 4096}\n')
        reply = exchange(http.port, post(body, "Content-Length: 4096").replace(b"/echo", b"/small"))
        assert status(reply) == 413 and b"Connection: close" in reply
        assert json.loads(reply.partition(b"\r\n\r\n")[2]) == {
            "error": "body of 4096 bytes is larger than the limit, 2048 bytes"
        }
        assert seen == [413]
        # Refused on the Content-Length, before a byte of the body: none is sent here.
        started = time.monotonic()
        reply = headers_only(http.port, "/big", "Content-Length: 9000")
        assert status(reply) == 413 and time.monotonic() - started < 0.4
        assert json.loads(reply.partition(b"\r\n\r\n")[2]) == {
            "error": "body of 9000 bytes is larger than big.maxBodyBytes, 8192 bytes"
        }
    finally:
        http.stop()


def test_a_route_refuses_on_its_headers_before_the_body_is_read() -> None:
    """A webhook's token used to be checked after the whole body was read: anyone could
    make the server read a body of the route's limit."""
    handled: list[bytes] = []
    refused: list[int] = []

    def token(headers: Mapping[str, str]) -> Response | None:
        if headers.get("authorization") == "Bearer t":
            return None
        return json_response(401, {"error": "missing or wrong bearer token"})

    def hook(request: Request) -> Response:
        handled.append(request.body)
        return json_response(200, {})

    http = HttpServer("127.0.0.1", 0, read_timeout=1.0)
    http.route("POST", "/hook", hook, check_headers=token, refused=lambda s, _e: refused.append(s))
    http.start()
    try:
        started = time.monotonic()
        reply = headers_only(http.port, "/hook", "Content-Length: 1000")
        assert status(reply) == 401 and b"Connection: close" in reply
        assert time.monotonic() - started < 0.5  # not after the 1 s read timeout
        # A request without a body is refused the same, and the connection kept.
        reply = headers_only(http.port, "/hook", "Content-Length: 0", wait=0.5)
        assert status(reply) == 401 and b"Connection: close" not in reply
        reply = exchange(
            http.port,
            post(b"{}", "Content-Length: 2", "Authorization: Bearer t").replace(b"/echo", b"/hook"),
        )
        assert status(reply) == 200 and handled == [b"{}"]
        assert refused == []  # the route's own 401: not a body the server refused
    finally:
        http.stop()


def test_expect_100_continue_is_answered_only_once_the_body_is_wanted(
    server: HttpServer,
) -> None:
    """A client that asks first (curl does for large bodies) is told 100 Continue only
    when the body will be read: a body over the limit is never sent at all."""
    over = headers_only(server.port, "/echo", "Content-Length: 4096", "Expect: 100-continue")
    assert status(over) == 413 and b"100 Continue" not in over
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as conn:
        conn.sendall(post(b"", "Content-Length: 2", "Expect: 100-continue"))
        interim = conn.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
        conn.sendall(b"{}")
        reply = b""
        while not _complete(reply):
            more = conn.recv(65536)
            assert more, f"connection closed before an answer (got {reply!r})"
            reply += more
        assert status(reply) == 200 and reply.endswith(b'{"bytes": 2}\n')


def test_a_body_to_an_unknown_path_is_not_read() -> None:
    http = HttpServer("127.0.0.1", 0, read_timeout=1.0)
    http.route("POST", "/known", lambda _r: json_response(200, {}))
    http.start()
    try:
        started = time.monotonic()
        reply = headers_only(http.port, "/nowhere", f"Content-Length: {100 << 20}")
        assert status(reply) == 404 and b"Connection: close" in reply
        assert time.monotonic() - started < 0.5
    finally:
        http.stop()


def _wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_connections_beyond_the_cap_get_503_while_the_probes_still_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each connection held a thread, with no limit: N slow clients (each well within the
    request deadline) made the server start N threads. Past the cap a request gets 503
    with Retry-After at once, counted, while a probe route is still answered."""
    monkeypatch.setattr(server_module, "OVERFLOW_HEAD_TIMEOUT", 0.3)
    refused: list[str] = []
    handled: list[str] = []
    http = HttpServer(
        "127.0.0.1", 0, read_timeout=5.0, max_connections=3, refused_connection=refused.append
    )
    http.route("GET", "/healthz", lambda _r: json_response(200, {"ok": True}), probe=True)
    http.route("GET", "/work", lambda r: handled.append(r.path) or json_response(200, {}))
    http.start()
    slow = [socket.create_connection(("127.0.0.1", http.port), timeout=3) for _ in range(3)]
    try:
        for conn in slow:  # each sends half a request line, then waits
            conn.sendall(b"GET /wo")
        _wait_for(lambda: http.connections == 3)
        started = time.monotonic()
        reply = exchange(http.port, b"GET /work HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status(reply) == 503
        assert b"Retry-After: 1" in reply and b"Connection: close" in reply
        assert time.monotonic() - started < 1.0
        assert handled == [] and refused == ["busy"]
        for method in ("GET", "HEAD"):
            probe = exchange(http.port, f"{method} /healthz HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert status(probe) == 200
            assert probe.endswith(b'{"ok": true}\n') == (method == "GET")
        assert refused == ["busy"]  # the probes are not refusals
        # A connection beyond the cap whose head never comes is closed, not held.
        with socket.create_connection(("127.0.0.1", http.port), timeout=4) as idle:
            idle.sendall(b"GET /work HTT")
            assert idle.recv(100) == b""
        assert refused == ["busy", "dropped"]
        # Once a slow one finishes, its place is free again for ordinary requests.
        slow[0].sendall(b"rk HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status(slow[0].recv(65536)) == 200
        _wait_for(lambda: http.connections == 2)
        assert status(exchange(http.port, b"GET /work HTTP/1.1\r\nHost: x\r\n\r\n")) == 200
        assert len(handled) == 2
    finally:
        for conn in slow:
            conn.close()
        http.stop()


def test_a_target_that_is_not_a_url_beyond_the_cap_gets_503_and_the_probes_still_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``GET http://[::1/healthz``: urlsplit raises ValueError. Beyond the cap that
    killed the one thread that watches every connection there, so it and every later
    one (the kubelet's probes too) waited unanswered."""
    http = HttpServer("127.0.0.1", 0, read_timeout=5.0, max_connections=1)
    http.route("GET", "/healthz", lambda _r: json_response(200, {"ok": True}), probe=True)
    http.start()
    slow = socket.create_connection(("127.0.0.1", http.port), timeout=3)
    try:
        slow.sendall(b"GET /heal")  # holds the one place
        _wait_for(lambda: http.connections == 1)
        reply = exchange(http.port, b"GET http://[::1/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status(reply) == 503
        probe = exchange(http.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status(probe) == 200
        assert not [r for r in caplog.records if r.exc_info]
    finally:
        slow.close()
        http.stop()
