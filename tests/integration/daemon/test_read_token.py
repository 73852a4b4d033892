"""``server.readToken`` over real HTTP on 127.0.0.1, as the daemon wires it.

``GET /approvals``, ``/alerts`` and ``/scaling`` answered anyone who could reach the
port: the open questions' evidence, the stored alerts' labels and annotations. With
``server.readToken`` set they need it as a bearer token, asked before anything else
(the ledger's 503 included); the probes and ``/metrics`` stay open.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.daemon import build_daemon
from agent.errors import ConfigError
from agent.settings import load_settings
from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.harness.servers import free_port
from tests.integration.daemon.served import daemon_config, served_daemon

TOKEN = "r3ad-s3cret"
AM_TOKEN = "am-s3cret"
READS = ("/approvals", "/alerts", "/scaling")


@pytest.fixture
def fake() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver()
    yield server
    server.stop()


def read_token(tmp_path: Path) -> str:
    """The ``server.readToken`` setting naming a file that holds the token."""
    (tmp_path / "read-token").write_text(TOKEN + "\n")
    return f", readToken: {{file: {tmp_path / 'read-token'}}}"


def get(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), dict(exc.headers), exc.read()


def test_the_read_endpoints_need_the_token_and_the_probes_do_not(
    tmp_path: Path, fake: FakeApiServer
) -> None:
    with served_daemon(tmp_path, fake.url, am_token=AM_TOKEN, server=read_token(tmp_path)) as port:
        for path in READS:
            for headers in ({}, {"Authorization": "Bearer guess"}, {"Authorization": TOKEN}):
                status, answer, body = get(port, path, headers)
                assert status == 401, (path, headers, status)
                assert answer["WWW-Authenticate"].startswith("Bearer"), (path, answer)
                assert b"leader" not in body and b"questions" not in body
            status, _, body = get(port, path, {"Authorization": f"Bearer {TOKEN}"})
            assert status == 200, (path, body)
        # The kubelet and Prometheus send no token.
        assert get(port, "/healthz", {})[0] == 200
        assert get(port, "/readyz", {})[0] in (200, 503)  # open: ready or saying why not
        status, _, metrics = get(port, "/metrics", {})
        assert status == 200
    pattern = r'^autonomic_read_calls_refused_total\{reason="(\w+)"\} (\S+)$'
    counted = {m[1]: float(m[2]) for m in re.finditer(pattern, metrics.decode(), re.M)}
    # missing: no header; wrong: another token, and the token without "Bearer"
    assert counted == {"missing": 3.0, "wrong": 6.0}


def test_the_token_is_asked_before_the_ledgers_503(tmp_path: Path, fake: FakeApiServer) -> None:
    """A PostgreSQL ledger that is not connected yet answers 503 with Retry-After: a
    caller without the token gets 401 first, and learns nothing of the ledger."""
    with served_daemon(
        tmp_path,
        fake.url,
        am_token=AM_TOKEN,
        server=", readToken: {env: AUTONOMIC_READ_TOKEN}",
        ledger=f"postgresql+psycopg://autonomic@127.0.0.1:{free_port()}/autonomic",
        environ={"AUTONOMIC_READ_TOKEN": TOKEN},
    ) as port:
        for path in ("/approvals", "/alerts"):
            status, _, body = get(port, path, {})
            assert status == 401 and b"ledger" not in body, (path, body)
            status, answer, _ = get(port, path, {"Authorization": f"Bearer {TOKEN}"})
            assert status == 503 and "Retry-After" in answer, (path, status)


def test_without_a_read_token_the_read_endpoints_stay_open(
    tmp_path: Path, fake: FakeApiServer
) -> None:
    with served_daemon(tmp_path, fake.url, am_token=AM_TOKEN) as port:
        for path in READS:
            assert get(port, path, {})[0] == 200, path


def test_a_read_token_variable_that_is_not_set_stops_the_start(
    tmp_path: Path, fake: FakeApiServer
) -> None:
    path = daemon_config(
        tmp_path, free_port(), am_token=AM_TOKEN, server=", readToken: {env: AUTONOMIC_READ_TOKEN}"
    )
    with pytest.raises(ConfigError, match="AUTONOMIC_READ_TOKEN is not set"):
        build_daemon(load_settings(path, {}), {}, kube_host=fake.url)
