"""Malformed HTTP sent over a raw socket to the daemon's own server, wired as the daemon
wires it (every route, a SQLite ledger, Slack over HTTP, Alertmanager with a token).

Whatever the bytes, the answer is a 4xx with a JSON body ``{"error": ...}`` (the
standard library's own refusals included, not its HTML page) or the connection is
closed cleanly: never a 5xx caused by the input, never a traceback (in the log or on
stderr), never a connection held open waiting (each answer must come well within the
server's 10 s read timeout), and ``/healthz`` still answers at once afterwards.

Chunked bodies are not supported: ``Transfer-Encoding`` gets 411 (400 together with a
Content-Length, the request-smuggling shape).
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakekube import start_fake_apiserver
from tests.fakeslack import sign, start_fake_slack
from tests.integration.daemon.served import served_daemon
from tests.integration.slack.conftest import SECRET, TOKEN

AM_TOKEN = "am-fuzz-token"
# Each answer must come within this (the server's read timeout is 10 s): a server that
# waits for more bytes before answering fails here, and the module stays fast.
WAIT = 3.0


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp("httpfuzz")
    kube, slack = start_fake_apiserver(), start_fake_slack(token=TOKEN)
    try:
        with served_daemon(tmp, kube.url, slack.url, AM_TOKEN) as port:
            yield port
    finally:
        kube.stop()
        slack.stop()


def exchange(port: int, data: bytes, *, half_close: bool = False) -> bytes | None:
    """Send ``data`` and read one answer (or until the server closes): the answer, b""
    for a clean close without one. Fails if nothing ends within ``WAIT``."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as conn:
        try:
            conn.sendall(data)
            if half_close:
                conn.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before all of it was read: the answer may still be there
        reply = b""
        deadline = time.monotonic() + WAIT
        while not _complete(reply):
            conn.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                pytest.fail(f"no answer and no close within {WAIT} s; got {reply[:200]!r}")
            except ConnectionResetError:
                break
            if not chunk:
                break
            reply += chunk
        return reply


def _complete(reply: bytes) -> bool:
    head, sep, body = reply.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def status_of(reply: bytes) -> int | None:
    if not reply:
        return None
    assert reply.startswith(b"HTTP/1."), reply[:200]
    return int(reply.split(b" ", 2)[1])


def request(method: str, path: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: autonomic", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def post(path: str, body: bytes, *headers: str) -> bytes:
    return request("POST", path, *route_headers(path, body), *headers, body=body)


def route_headers(path: str, body: bytes) -> list[str]:
    """What gets a body past the route's header checks: the token, Slack's signature."""
    if path == "/webhooks/alertmanager":
        return [f"Authorization: Bearer {AM_TOKEN}"]
    if path == "/slack/interactions":
        return [f"{k}: {v}" for k, v in sign(body, SECRET, int(time.time())).items()]
    return ["Content-Type: application/json"]


def survived(
    port: int, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """No traceback anywhere, and the server still answers its liveness probe."""
    reply = exchange(port, request("GET", "/healthz", "Connection: close"))
    assert reply is not None and status_of(reply) == 200, reply
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [r.getMessage() for r in errors]
    assert "Traceback" not in capsys.readouterr().err


def check(
    port: int,
    data: bytes,
    expected: set[int | None] | None,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    *,
    half_close: bool = False,
) -> None:
    """``data`` gets one of ``expected`` (None: a clean close), or any 4xx or a clean
    close when ``expected`` is None."""
    caplog.set_level(logging.DEBUG, logger="autonomic")
    reply = exchange(port, data, half_close=half_close)
    assert reply is not None
    status = status_of(reply)
    if expected is None:
        assert status is None or 400 <= status < 500, reply[:300]
    else:
        assert status in expected, reply[:300]
    # Every error is JSON, the server's own refusals too (not the standard library's HTML
    # page), but for the Slack interactions route's, plain text by design (PLAIN_TEXT).
    if status is not None and not data.startswith(b"POST /slack/interactions "):
        head, _, body = reply.partition(b"\r\n\r\n")
        assert b"\r\nContent-Type: application/json\r\n" in head, reply[:300]
        error = json.loads(body)
        assert list(error) == ["error"] and isinstance(error["error"], str), error
    survived(port, caplog, capsys)


FRAMING = {
    "garbage request line": (b"\x00\x01\x02 garbage\r\n\r\n", {400}),
    "HTTP/0.9 GET": (b"GET /healthz\r\n", {400}),
    "HTTP/0.9 POST": (b"POST /canary/flagger\r\n", {400}),
    # 505 names what is wrong (RFC 9110): the one 5xx that is the client's doing.
    "HTTP/2 on this HTTP/1 server": (b"GET /healthz HTTP/2.0\r\n\r\n", {505}),
    "a version that is not one": (b"GET /healthz HTTP/one\r\n\r\n", {400}),
    "unknown method on a route": (request("FROB", "/healthz"), {405}),
    "unknown method elsewhere": (request("FROB", "/nowhere"), {404}),
    "a lower-case method": (request("get", "/healthz"), {405}),
    "a method that is not a token": (request("G@T", "/healthz"), {400}),
    "a versionless line of three words": (b"GET /healthz HTTP\r\n\r\n", {400}),
    "very long path": (request("GET", "/" + "a" * 70_000), {414}),
    "NUL in the path": (request("GET", "/heal\x00thz"), {404}),
    "bad %-encoding": (request("GET", "/approvals%zz%?x=%"), {404}),
    "non-UTF-8 path": (b"GET /\xff\xfe\xc0 HTTP/1.1\r\nHost: a\r\n\r\n", {404}),
    "unclosed IPv6 host in the target": (request("GET", "http://[::1/healthz"), {400}),
    "a target of just //[": (request("GET", "//[/healthz"), {400, 404}),
    "no Content-Length": (request("POST", "/canary/flagger", body=b"{}"), {411}),
    "negative Content-Length": (post("/canary/flagger", b"{}", "Content-Length: -2"), {400}),
    "non-numeric Content-Length": (post("/canary/flagger", b"{}", "Content-Length: two"), {400}),
    "Content-Length over the limit": (
        post("/canary/flagger", b"{}", "Content-Length: 999999999"),
        {413},
    ),
    "Content-Length beyond 64 bits": (
        post("/canary/flagger", b"{}", "Content-Length: " + "9" * 40),
        {400},
    ),
    "chunked (not supported)": (
        post("/canary/flagger", b"2\r\n{}\r\n0\r\n\r\n", "Transfer-Encoding: chunked"),
        {411},
    ),
    "Transfer-Encoding and Content-Length": (
        post(
            "/canary/flagger",
            b"2\r\n{}\r\n0\r\n\r\n",
            "Transfer-Encoding: chunked",
            "Content-Length: 12",
        ),
        {400},
    ),
    "two different Content-Lengths": (
        post("/canary/flagger", b"{}", "Content-Length: 2", "Content-Length: 40"),
        {400},
    ),
    "a GET with a body": (request("GET", "/healthz", "Content-Length: 2", body=b"{}"), {400}),
    # A line without a colon ended the headers for the standard library's parser: the
    # headers after it (here the Content-Length) were dropped without a word, so the
    # body was read as the next request, one a proxy honouring the length never sent.
    "header line without a colon": (
        request("GET", "/healthz", "foo bar", "Content-Length: 25")
        + b"GET /nowhere HTTP/1.1\r\n\r\n",
        {400},
    ),
    "space before the colon": (
        request("GET", "/healthz", "Content-Length : 25") + b"GET /nowhere HTTP/1.1\r\n\r\n",
        {400},
    ),
    "empty header name": (request("GET", "/healthz", ": no name"), {400}),
    "obs-fold": (request("GET", "/healthz", "X-Folded: a", " b"), {400}),
    "10k headers": (request("GET", "/healthz", *(f"X-H{i}: v" for i in range(10_000))), {431}),
    "a 1 MB header": (request("GET", "/healthz", "X-Big: " + "a" * (1 << 20)), {431}),
}


@pytest.mark.parametrize("case", list(FRAMING))
def test_malformed_framing_gets_a_4xx_at_once(
    port: int, case: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    data, expected = FRAMING[case]
    check(port, data, set(expected), caplog, capsys)


def test_a_body_shorter_than_its_length_then_a_close_gets_400(
    port: int, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    data = post("/canary/flagger", b'{"na', "Content-Length: 100")
    check(port, data, {400}, caplog, capsys, half_close=True)


POST_ROUTES = ["/webhooks/alertmanager", "/canary/flagger", "/slack/interactions"]
BAD_BODIES = {
    "not JSON": b"this is not json",
    "a JSON array": b"[1, 2, 3]",
    "a JSON string": b'"hello"',
    "null": b"null",
    "nested 100k deep": b"[" * 100_000 + b"]" * 100_000,
    "nested deep within 64 KiB": b"[" * 30_000 + b"]" * 30_000,
    "objects nested deep": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "invalid UTF-8": b'{"name": "\xff\xfe", "namespace": "\xc0"}',
    "a huge number": b'{"name": 1' + b"0" * 5_000 + b', "namespace": "x"}',
    "a huge bare number": b"9" * 50_000,
    "NaN": b'{"name": NaN, "namespace": Infinity}',
}


@pytest.mark.parametrize("route", POST_ROUTES)
@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_bodies_get_a_4xx(
    port: int,
    route: str,
    case: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = BAD_BODIES[case]
    data = post(route, body, f"Content-Length: {len(body)}")
    check(port, data, None, caplog, capsys)


SLACK_FORMS = {
    "not a form": b"%%%=&&=",
    "payload not JSON": b"payload=%7Bnope",
    "payload a list": b"payload=" + quote("[1]").encode(),
    "payload twice": b"payload=%7B%7D&payload=%7B%7D",
    "no payload": b"other=1",
    "payload of invalid UTF-8": b"payload=%FF%FE",
    "payload nested deep": b"payload=" + b"%5B" * 50_000,
    "payload with a huge number": b"payload=1" + b"0" * 5_000,
    "actions not a list": b"payload="
    + quote(json.dumps({"type": "block_actions", "actions": "x", "user": {"id": 1}})).encode(),
    "actions of the wrong shape": b"payload="
    + quote(
        json.dumps({"type": "block_actions", "actions": [None, 1, {"value": []}], "user": None})
    ).encode(),
    "too many fields": b"&".join(b"f%d=1" % i for i in range(100)),
}


@pytest.mark.parametrize("case", list(SLACK_FORMS))
def test_a_signed_slack_interaction_with_a_broken_payload_gets_400(
    port: int, case: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    body = SLACK_FORMS[case]
    data = post("/slack/interactions", body, f"Content-Length: {len(body)}")
    check(port, data, {400}, caplog, capsys)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(route=st.sampled_from(POST_ROUTES), body=st.binary(max_size=2048))
def test_random_bodies_never_get_a_5xx(
    port: int,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    route: str,
    body: bytes,
) -> None:
    caplog.clear()
    data = post(route, body, f"Content-Length: {len(body)}", "Connection: close")
    reply = exchange(port, data)
    assert reply, "closed without an answer"
    status = status_of(reply)
    assert status is not None and status < 500, reply[:300]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [r.getMessage() for r in errors]
    assert "Traceback" not in capsys.readouterr().err
