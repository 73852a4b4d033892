"""The daemon's HTTP routes over real HTTP on 127.0.0.1: each POST route's own body
limit, and the checks that come before a body is read.

The server used to have one limit for all routes, the larger of 1 MiB and
``alertmanager.maxBodyBytes``: raising that to let big alert groups in let anyone send
as much to the Slack interactions endpoint before its signature was looked at. And the
Alertmanager webhook's token was checked only after the whole body was read. Each case
here sends the headers and no body: an answer given before the body is read comes at
once, one that waits for the body would come only after the server's 10 s read timeout.
"""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.fakeslack import FakeSlack, sign, start_fake_slack
from tests.integration.daemon.served import served_daemon
from tests.integration.daemon.test_alert_intake import delivery
from tests.integration.slack.conftest import SECRET, TOKEN

AM_TOKEN = "am-s3cret"
MIB = 1 << 20


@pytest.fixture
def fake() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver()
    yield server
    server.stop()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = start_fake_slack(token=TOKEN)
    yield fake
    fake.stop()


@pytest.fixture
def daemon(tmp_path: Path, fake: FakeApiServer, slack: FakeSlack) -> Iterator[int]:
    """A daemon whose alertmanager.maxBodyBytes is 4 MiB, with Slack over HTTP; its port."""
    with served_daemon(
        tmp_path, fake.url, slack.url, AM_TOKEN, alertmanager=f", maxBodyBytes: {4 * MIB}"
    ) as port:
        yield port


def headers_only(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes, float]:
    """POST ``headers`` and no body; (status, body, seconds) of the answer, which must
    come within 3 s (the server's read timeout is 10 s)."""
    lines = [f"POST {path} HTTP/1.1", "Host: autonomic", *(f"{k}: {v}" for k, v in headers.items())]
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=3.0) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        reply = b""
        while chunk := conn.recv(65536):  # TimeoutError after 3 s: the server waits
            reply += chunk  # read to the end: each of these answers closes the connection
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"Connection: close" in head
    return int(head.split(b" ", 2)[1]), body, time.monotonic() - started


def refusals(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    pattern = r'^autonomic_alertmanager_refused_total\{reason="(\w+)"\} (\S+)$'
    return {m[1]: float(m[2]) for m in re.finditer(pattern, text, re.M)}


def test_slack_interactions_have_their_own_limit_and_signature_headers_come_first(
    daemon: int,
) -> None:
    signed = sign(b"payload=%7B%7D", SECRET, int(time.time()))
    # 2 MiB: within alertmanager.maxBodyBytes (4 MiB), over the Slack endpoint's 1 MiB.
    status, body, took = headers_only(
        daemon, "/slack/interactions", {**signed, "Content-Length": str(2 * MIB)}
    )
    assert (status, json.loads(body)) == (
        413,
        {"error": "body of 2097152 bytes is larger than the limit, 1048576 bytes"},
    )
    assert took < 2.0
    # Without Slack's signature headers: refused before the body is read.
    status, body, took = headers_only(
        daemon,
        "/slack/interactions",
        {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "1000"},
    )
    assert (status, body) == (401, b"missing X-Slack-Signature or X-Slack-Request-Timestamp\n")
    stale = sign(b"payload=%7B%7D", SECRET, int(time.time()) - 3600)
    status, body, _ = headers_only(
        daemon, "/slack/interactions", {**stale, "Content-Length": "1000"}
    )
    assert status == 401 and b"outside the replay window" in body


def test_slack_interaction_answers_are_labelled_plain_text(daemon: int) -> None:
    """The receiver answers in sentences (or nothing), never JSON: the Content-Type must
    say so, both for a refusal before the body is read and for one after."""
    lines = ["POST /slack/interactions HTTP/1.1", "Host: autonomic", "Content-Length: 10"]
    with socket.create_connection(("127.0.0.1", daemon), timeout=3.0) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == b"401"
    assert b"Content-Type: text/plain; charset=utf-8" in head.split(b"\r\n")
    assert body == b"missing X-Slack-Signature or X-Slack-Request-Timestamp\n"
    # Signed, read, and not an interaction: refused in a sentence, labelled as such.
    data = b"not-a-payload"
    request = urllib.request.Request(
        f"http://127.0.0.1:{daemon}/slack/interactions",
        data=data,
        headers={
            **sign(data, SECRET, int(time.time())),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    assert refused.value.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert refused.value.read().startswith(b"not a Slack interaction")


def test_the_alertmanager_token_is_checked_before_the_body_is_read(daemon: int) -> None:
    status, body, took = headers_only(
        daemon,
        "/webhooks/alertmanager",
        {"Authorization": "Bearer wrong", "Content-Length": str(3 * MIB)},
    )
    assert (status, json.loads(body)) == (401, {"error": "missing or wrong bearer token"})
    assert took < 2.0
    status, body, _ = headers_only(
        daemon,
        "/webhooks/alertmanager",
        {"Authorization": f"Bearer {AM_TOKEN}", "Content-Length": str(5 * MIB)},
    )
    assert (status, json.loads(body)) == (
        413,
        {"error": "body of 5242880 bytes is larger than alertmanager.maxBodyBytes, 4194304 bytes"},
    )
    assert refusals(daemon) == {"unauthorized": 1.0, "too_large": 1.0}

    # A delivery of 3 MiB (padded with JSON's whitespace) is within maxBodyBytes.
    padded = delivery() + b" " * (3 * MIB)
    request = urllib.request.Request(
        f"http://127.0.0.1:{daemon}/webhooks/alertmanager",
        data=padded,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {AM_TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert (response.status, json.loads(response.read())) == (
            200,
            {"accepted": 2, "duplicates": 0},
        )
    assert refusals(daemon) == {"unauthorized": 1.0, "too_large": 1.0}


def test_other_post_routes_and_unknown_paths_take_a_small_body(daemon: int) -> None:
    # Flagger's webhook takes a small JSON object: the server's default, 64 KiB.
    status, body, took = headers_only(
        daemon,
        "/canary/flagger",
        {"Content-Type": "application/json", "Content-Length": str(128 << 10)},
    )
    assert (status, json.loads(body)) == (
        413,
        {"error": "body of 131072 bytes is larger than the limit, 65536 bytes"},
    )
    assert took < 2.0
    status, body, took = headers_only(daemon, "/nowhere", {"Content-Length": str(2 * MIB)})
    assert (status, json.loads(body)) == (404, {"error": "no route for /nowhere"})
    assert took < 2.0
