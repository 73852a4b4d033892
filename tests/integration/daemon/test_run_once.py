"""`autonomic run --once`, the smoke test, as a real process: 0 when every job ran
against the (fake) API server, 1 with a line naming the jobs when the API cannot be
reached, whether leader election is on (the lease cannot be read) or off."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.fakekube.seed import seed_node
from tests.harness.servers import free_port

RUNBOOKS = Path(__file__).resolve().parents[3] / "runbooks"


@pytest.fixture
def fake() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver()
    seed_node(server.store, "node-1")
    yield server
    server.stop()


def once(tmp_path: Path, kube_host: str, election: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "autonomic.yaml"
    config.write_text(
        f"""
mode: propose
prometheus: {{url: "http://127.0.0.1:{free_port()}", timeout: 1s}}
ledger: {{url: "sqlite:///{tmp_path / "ledger.sqlite"}"}}
leaderElection: {{{election}}}
server: {{host: 127.0.0.1, port: {free_port()}}}
runbooks: [{RUNBOOKS}]
"""
    )
    argv = ["run", "--config", str(config), "--once", "--kube-host", kube_host]
    return subprocess.run(
        [sys.executable, "-m", "agent", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "POD_NAME": "autonomic-0"},
        check=False,
    )


ELECTION = "namespace: autonomic, leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 0.5s"


def test_once_exits_0_when_every_job_ran(fake: FakeApiServer, tmp_path: Path) -> None:
    done = once(tmp_path, fake.url, ELECTION)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "remediation=ok housekeeping=ok scaling=ok canary=ok\n"
    assert "did not run cleanly" not in done.stderr


def test_once_exits_1_when_the_lease_cannot_be_read(tmp_path: Path) -> None:
    done = once(tmp_path, f"http://127.0.0.1:{free_port()}", ELECTION)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    summary = done.stderr.strip().splitlines()[-1]
    assert summary.startswith("autonomic: run --once: 3 of 4 jobs did not run cleanly: ")
    assert "scaling (not-leader)" in summary and "within 3.5 s" in summary


def test_once_exits_1_when_the_api_is_down_without_leader_election(tmp_path: Path) -> None:
    done = once(tmp_path, f"http://127.0.0.1:{free_port()}", "enabled: false")
    assert done.returncode == 1
    summary = done.stderr.strip().splitlines()[-1]
    assert summary.startswith("autonomic: run --once: ")
    assert "scaling (transient-error)" in summary and "the errors are in the log above" in summary
