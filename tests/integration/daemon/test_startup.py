"""The probes answer as soon as the daemon starts, whatever the Kubernetes API server
and the ledger's database do.

``build_daemon`` and ``Runtime`` as ``autonomic run`` uses them, against the fake API
server taken down (connections refused) before the daemon starts, and brought back; and
against a real PostgreSQL started after the daemon.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.daemon import build_daemon
from agent.settings import load_settings
from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.harness.servers import PostgresServer, free_port, postgres_cluster


@pytest.fixture
def kube() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Daemons built, started and stopped once in this process, with each kind of
    ledger, so that the modules they import on first use (the Kubernetes client's API
    classes, the scheduler, the PostgreSQL driver: up to a second or two on a busy
    machine, once per process) are not part of what the tests time: what they time is
    whether the daemon waits for the API server or the ledger. A list of those imports
    here went stale as the daemon came to use more of the client."""
    folder = tmp_path_factory.mktemp("warm")
    kube = start_fake_apiserver()
    kube.go_down()  # nothing is read nor written: the tests' own servers stay untouched
    nobody = f"postgresql+psycopg://autonomic@127.0.0.1:{free_port()}/autonomic"
    try:
        for index, ledger in enumerate((f"sqlite:///{folder / 'ledger.sqlite'}", nobody)):
            path = folder / f"autonomic-{index}.yaml"
            path.write_text(
                f"""
mode: propose
prometheus: {{url: "http://127.0.0.1:{free_port()}", timeout: 1s}}
ledger: {{url: "{ledger}"}}
leaderElection: {{namespace: autonomic, leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 0.5s}}
server: {{host: 127.0.0.1, port: {free_port()}}}
runbooks: []
"""
            )
            _daemon, runtime = build_daemon(
                load_settings(path, {}), {"POD_NAME": "autonomic-0"}, kube_host=kube.url
            )
            runtime.start()
            runtime.stop()
    finally:
        kube.stop()


def probe(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.usefixtures("warm")
def test_the_probes_answer_at_once_while_the_api_server_is_unreachable(
    kube: FakeApiServer, tmp_path: Path
) -> None:
    """The watch caches used to be waited for (10 s) before the HTTP server started, so
    /healthz did not answer for about 10 s with the API server unreachable. Now /healthz
    answers at once, /readyz says what it waits for until the caches are filled, and
    the daemon becomes ready once the API server answers."""
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


@pytest.fixture(scope="module")
def late_postgres(postgres_binaries: None) -> Iterator[PostgresServer]:
    """A PostgreSQL cluster with its database made, then stopped: started by the test."""
    with postgres_cluster() as server:
        server.start()
        server.createdb()
        server.stop()
        yield server


def _metrics(base: str) -> str:
    with urllib.request.urlopen(f"{base}/metrics", timeout=2) as response:
        return str(response.read().decode())


def _runs(text: str, job: str) -> float:
    found = re.search(rf'^autonomic_loop_duration_seconds_count{{loop="{job}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.postgres
@pytest.mark.usefixtures("warm")
def test_the_probes_answer_at_once_while_the_ledger_is_down_and_the_jobs_wait_for_it(
    kube: FakeApiServer,
    late_postgres: PostgresServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A PostgreSQL ledger was connected (and migrated) before the HTTP server started:
    with the database not up yet, start-up failed ("cannot open the ledger") and the pod
    restarted until it was. Now /healthz answers at once, /readyz says why it is not
    ready (the password hidden), the lease is not sought and no job runs; once the
    database is up the daemon connects, takes the lease, recovers and runs its jobs."""
    caplog.set_level(logging.INFO)
    port = free_port()
    path = tmp_path / "autonomic.yaml"
    path.write_text(
        f"""
mode: propose
prometheus: {{url: "http://127.0.0.1:{free_port()}", timeout: 1s}}
ledger: {{url: "{late_postgres.url}", password: {{env: LEDGER_PASSWORD}}}}
leaderElection: {{namespace: autonomic, leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 0.5s}}
server: {{host: 127.0.0.1, port: {port}}}
runbooks: []
"""
    )
    environ = {"POD_NAME": "autonomic-0", "LEDGER_PASSWORD": "s3cret-pw"}
    settings = load_settings(path, environ)
    began = time.monotonic()
    _daemon, runtime = build_daemon(settings, environ, kube_host=kube.url)
    runtime.start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert probe(f"{base}/healthz") == (200, {"status": "ok"})
        assert time.monotonic() - began < 1.0
        where = f"postgresql+psycopg://autonomic:***@127.0.0.1:{late_postgres.port}/autonomic"
        status, ready = probe(f"{base}/readyz")
        deadline = time.monotonic() + 5
        while ready["why"] == f"ledger: connecting to {where}":
            assert time.monotonic() < deadline, ready
            time.sleep(0.05)
            status, ready = probe(f"{base}/readyz")
        assert status == 503 and ready["ready"] is False and ready["leader"] is False
        why = str(ready["why"])
        assert why.startswith(f"ledger: cannot connect to {where}: connection failed: "), why
        assert "Connection refused" in why and "s3cret-pw" not in why
        assert probe(f"{base}/approvals")[0] == 503  # it needs the ledger
        # The attempts go on (1 s, then 2 s apart) and nothing else starts meanwhile.
        time.sleep(2.5)
        status, ready = probe(f"{base}/readyz")
        assert status == 503 and ready["leader"] is False
        assert re.search(r"\([2-9] failed attempts; retrying\)$", str(ready["why"])), ready
        text = _metrics(base)
        assert _runs(text, "remediation") == 0 and "autonomic_leader 0.0" in text
        assert not [r for r in caplog.records if "became leader" in r.getMessage()]
        assert kube.store.objects("Lease", "autonomic") == []  # not even sought

        late_postgres.start()
        # Ready as soon as the ledger is connected (a standby is ready too); the lease is
        # sought from then on, so leadership may come a moment after readiness.
        deadline = time.monotonic() + 30
        while status != 200 or ready["leader"] is not True:
            assert time.monotonic() < deadline, ready
            time.sleep(0.1)
            status, ready = probe(f"{base}/readyz")
        assert ready["ready"] is True and ready["leader"] is True
        (lease,) = kube.store.objects("Lease", "autonomic")
        assert lease["spec"]["holderIdentity"] == "autonomic-0"
        while _runs(_metrics(base), "remediation") < 1:
            assert time.monotonic() < deadline, "no remediation cycle ran"
            time.sleep(0.1)
        messages = [r.getMessage() for r in caplog.records]
        assert any(m.startswith(f"ledger: connected to {where} (schema version ") for m in messages)
        assert any(m.startswith("became leader; recovered in-flight work") for m in messages)
        assert probe(f"{base}/approvals") == (
            200,
            {"pending": [], "escalations": [], "older_pending": 0, "more_escalations": False},
        )
    finally:
        runtime.stop()
        late_postgres.stop()


@pytest.mark.postgres
def test_a_ledger_url_retrying_cannot_fix_stops_start_up_saying_what_to_do(
    kube: FakeApiServer, postgres_url: str, tmp_path: Path
) -> None:
    """``autonomic run`` as a process: the probes come up, the database refuses for
    good (no such database), and the process ends with exit code 2 and what to do."""
    url = postgres_url.rsplit("/", 1)[0] + "/no_such_db"
    path = tmp_path / "autonomic.yaml"
    port = free_port()
    path.write_text(
        f"""
mode: propose
prometheus: {{url: "http://127.0.0.1:{free_port()}", timeout: 1s}}
ledger: {{url: "{url}"}}
leaderElection: {{enabled: false}}
server: {{host: 127.0.0.1, port: {port}}}
runbooks: []
"""
    )
    argv = ["run", "--config", str(path), "--kube-host", kube.url, "--log-format", "text"]
    done = subprocess.run(
        [sys.executable, "-m", "agent", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "POD_NAME": "autonomic-0"},
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"autonomic: error: cannot open the ledger at {url}: connection failed: "
    ), last
    assert last.endswith(
        'FATAL: database "no_such_db" does not exist (3D000: the database does not exist; '
        "retrying will not help: create it (CREATE DATABASE), or correct the database name "
        "in ledger.url)"
    ), last
    assert "cannot start: " in done.stderr  # the log's line, for a log collector


def test_a_sqlite_ledger_that_cannot_be_opened_stops_start_up_at_once(
    kube: FakeApiServer, tmp_path: Path
) -> None:
    """SQLite is a file: opened before anything starts, as before; a path that cannot
    be opened is a configuration error there and then, not a reason to wait."""
    path = tmp_path / "autonomic.yaml"
    ledger = tmp_path / "missing" / "ledger.sqlite"
    path.write_text(
        f"""
mode: propose
prometheus: {{url: "http://127.0.0.1:{free_port()}", timeout: 1s}}
ledger: {{url: "sqlite:///{ledger}"}}
leaderElection: {{enabled: false}}
server: {{host: 127.0.0.1, port: {free_port()}}}
runbooks: []
"""
    )
    argv = ["run", "--config", str(path), "--kube-host", kube.url]
    done = subprocess.run(
        [sys.executable, "-m", "agent", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "POD_NAME": "autonomic-0"},
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"autonomic: error: cannot open the ledger at {ledger}: its folder {ledger.parent} "
        "does not exist; create the folder, or set ledger.url to a file in one that exists "
        "(sqlite:///PATH)"
    )
    assert "started" not in done.stderr  # no job, no server
