"""`autonomic pause` seen by a running daemon (``build_daemon`` and ``Runtime`` as
``autonomic run`` uses them, the fake API server, a SQLite ledger): /readyz says who
paused and why (and stays ready), ``autonomic_paused`` is 1, the log says it once."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cli import main
from agent.daemon import build_daemon
from agent.settings import load_settings
from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.harness.servers import free_port


@pytest.fixture
def kube() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver()
    yield server
    server.stop()


def _config(tmp_path: Path, port: int, *, paused: bool = False) -> Path:
    path = tmp_path / "autonomic.yaml"
    path.write_text(
        f"""
mode: propose
prometheus: {{url: "http://127.0.0.1:{free_port()}", timeout: 1s}}
ledger: {{url: "sqlite:///{tmp_path / "ledger.sqlite"}"}}
leaderElection: {{enabled: false}}
server: {{host: 127.0.0.1, port: {port}}}
safety: {{paused: {"true" if paused else "false"}}}
runbooks: []
"""
    )
    return path


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_running_daemon_shows_the_pause_in_readyz_metrics_and_log(
    kube: FakeApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="autonomic.pause")
    port = free_port()
    settings = load_settings(_config(tmp_path, port), {})
    daemon, runtime = build_daemon(settings, {"POD_NAME": "autonomic-0"}, kube_host=kube.url)
    ledger = str(tmp_path / "ledger.sqlite")
    assert (
        main(["pause", "--reason", "it drains the wrong nodes", "--as", "erin", "--ledger", ledger])
        == 0
    )
    runtime.start()
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            status, body = _get(f"{base}/readyz")
            if "paused by erin" in body:
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.1)
        ready = json.loads(body)
        assert status == 200 and ready["ready"] is True  # paused is still ready
        assert ready["why"].startswith("leader; paused by erin at ")
        assert ready["why"].endswith("until resumed: it drains the wrong nodes")
        assert "autonomic_paused 1.0" in _get(f"{base}/metrics")[1].splitlines()
        # The watcher holds the pause (what /readyz reads) before the leader records that
        # it was said and logs it: on a loaded machine the line comes a moment later.
        while not (said := [r.getMessage() for r in caplog.records if r.name == "autonomic.pause"]):
            assert time.monotonic() < deadline, "the pause was never logged"
            time.sleep(0.05)
        assert len(said) == 1 and said[0].startswith("Autonomic paused by erin at ")
        assert daemon.engine.paused() is not None
    finally:
        runtime.stop()
