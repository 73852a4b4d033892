"""The probes answer as soon as the daemon starts, whatever the Kubernetes API server does.

``build_daemon`` and ``Runtime`` as ``autonomic run`` uses them, against the fake API
server taken down (connections refused) before the daemon starts, and brought back.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.daemon import build_daemon
from agent.settings import load_settings
from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.harness.servers import free_port


@pytest.fixture
def kube() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver()
    yield server
    server.stop()


def probe(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_probes_answer_at_once_while_the_api_server_is_unreachable(
    kube: FakeApiServer, tmp_path: Path
) -> None:
    """The watch caches used to be waited for (10 s) before the HTTP server started, so
    /healthz did not answer for about 10 s with the API server unreachable. Now /healthz
    answers at once, /readyz says what it waits for until the caches are filled, and
    the daemon becomes ready once the API server answers."""
    # The client library's own import (a second or so, once per process) is not part of
    # what is measured: the daemon must not wait for the API server.
    from kubernetes.client import AppsV1Api, AutoscalingV2Api, CoreV1Api, PolicyV1Api

    assert AppsV1Api and AutoscalingV2Api and CoreV1Api and PolicyV1Api
    port = free_port()
    path = tmp_path / "autonomic.yaml"
    path.write_text(
        f"""
mode: propose
prometheus: {{url: "http://127.0.0.1:{free_port()}", timeout: 1s}}
ledger: {{url: "sqlite:///{tmp_path / "ledger.sqlite"}"}}
leaderElection: {{namespace: autonomic, leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 0.5s}}
server: {{host: 127.0.0.1, port: {port}}}
runbooks: []
"""
    )
    settings = load_settings(path, {})
    kube.go_down()
    began = time.monotonic()
    _daemon, runtime = build_daemon(settings, {"POD_NAME": "autonomic-0"}, kube_host=kube.url)
    runtime.start()
    try:
        base = f"http://127.0.0.1:{port}"
        assert probe(f"{base}/healthz") == (200, {"status": "ok"})
        took = time.monotonic() - began
        assert took < 1.0
        status, ready = probe(f"{base}/readyz")
        assert status == 503 and ready["ready"] is False
        assert str(ready["why"]).startswith("waiting for the Kubernetes API server to list ")
        # The caches' first lists give up (retries spent) and name the error.
        deadline = time.monotonic() + 15
        while "the last attempt" not in str(ready["why"]):
            assert time.monotonic() < deadline, ready
            time.sleep(0.1)
            status, ready = probe(f"{base}/readyz")
        assert status == 503 and "Connection refused" in str(ready["why"])
        assert probe(f"{base}/healthz")[0] == 200  # alive all along: no restart wanted

        kube.come_back()
        deadline = time.monotonic() + 20
        while status != 200:
            assert time.monotonic() < deadline, ready
            time.sleep(0.1)
            status, ready = probe(f"{base}/readyz")
        assert ready["ready"] is True
    finally:
        runtime.stop()
