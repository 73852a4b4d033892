"""``canary.token`` over real HTTP on 127.0.0.1, as the daemon wires it.

``/canary/verdict`` and ``/canary/flagger`` answered anyone who could reach the pod, and
a Flagger ``post-rollout`` call can close an open question. With ``canary.token`` set a
call needs it: Argo's ``web`` metric as a bearer token, Flagger's webhooks as
``metadata.token`` (they send no headers). ``config check`` warns while it is unset.
"""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.settings import advisories, load_settings
from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.integration.daemon.served import daemon_config, served_daemon

TOKEN = "c4nary-s3cret"
VERDICT = "/canary/verdict?namespace=shop&canary=nothing-here"


@pytest.fixture
def fake() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver()
    yield server
    server.stop()


def canary(tmp_path: Path) -> str:
    """The ``canary`` section naming a file that holds the token."""
    (tmp_path / "canary-token").write_text(TOKEN + "\n")
    return f"canary: {{token: {{file: {tmp_path / 'canary-token'}}}}}"


@pytest.fixture
def daemon(tmp_path: Path, fake: FakeApiServer) -> Iterator[int]:
    with served_daemon(tmp_path, fake.url, more=canary(tmp_path)) as port:
        yield port


def call(port: int, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body or None, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def flagger_body(token: str | None) -> bytes:
    metadata = {"type": "post-rollout"} | ({"token": token} if token is not None else {})
    payload = {"name": "nothing-here", "namespace": "shop", "phase": "Failed"}
    return json.dumps(payload | {"metadata": metadata}).encode()


def test_the_canary_endpoints_need_the_token_when_one_is_set(daemon: int) -> None:
    assert call(daemon, "GET", VERDICT, {}) == 401
    assert call(daemon, "GET", VERDICT, {"Authorization": "Bearer guess"}) == 403
    # The right token reaches the route: no such canary in the cluster, its own 404.
    assert call(daemon, "GET", VERDICT, {"Authorization": f"Bearer {TOKEN}"}) == 404
    json_type = {"Content-Type": "application/json"}
    assert call(daemon, "POST", "/canary/flagger", json_type, flagger_body(None)) == 401
    assert call(daemon, "POST", "/canary/flagger", json_type, flagger_body("guess")) == 403
    assert call(daemon, "POST", "/canary/flagger", json_type, flagger_body(TOKEN)) == 404
    # A wrong bearer token is refused on the headers, before a body is read.
    with socket.create_connection(("127.0.0.1", daemon), timeout=3.0) as conn:
        conn.sendall(
            b"POST /canary/flagger HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer guess\r\n"
            b"Content-Length: 1000\r\n\r\n"
        )
        assert conn.recv(65536).startswith(b"HTTP/1.1 403 ")
    with urllib.request.urlopen(f"http://127.0.0.1:{daemon}/metrics", timeout=5) as response:
        text = response.read().decode()
    pattern = r'^autonomic_canary_calls_refused_total\{reason="(\w+)"\} (\S+)$'
    counted = {m[1]: float(m[2]) for m in re.finditer(pattern, text, re.M)}
    assert counted == {"missing": 2.0, "wrong": 3.0}


def test_config_check_warns_while_no_canary_token_is_set(tmp_path: Path) -> None:
    without = load_settings(daemon_config(tmp_path, 8080), {})
    assert any(note.startswith("canary.token is not set") for note in advisories(without))
    with_token = load_settings(daemon_config(tmp_path, 8080, more=canary(tmp_path)), {})
    assert not any("canary.token" in note for note in advisories(with_token))
