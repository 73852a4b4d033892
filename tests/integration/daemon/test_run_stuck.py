"""`autonomic run` as a real process exits 1 when the watchdog finds a job that acts stuck
while the process leads (``StuckJobError``), so that Kubernetes restarts it and the lease
passes to a standby.

The remediation cycle is made to hang for ever (a dependency that never answers), and the
job's bounds are made short (2 s, not 90 s, and not the 30 min a first run since leading
gets): both through a launcher that wraps ``build_daemon`` in the child process. The rest
is the real daemon: the fake API server's lease, the scheduler, the watchdog, the
shutdown with a job that never ends, and ``run``'s exit code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.fakekube.seed import seed_node
from tests.harness.servers import free_port
from tests.integration.daemon.test_run import config

LAUNCHER = """
import dataclasses, sys, threading
import agent.daemon

real_build = agent.daemon.build_daemon

def build(*args, **kwargs):
    daemon, runtime = real_build(*args, **kwargs)
    runtime.first_run_bound = 2.0
    runtime.jobs = [
        # both run the remediation cycle: whichever starts it first is the one stuck
        dataclasses.replace(job, stuck_after=2.0)
        if job.name in ("remediation", "remediation-takeover")
        else job
        for job in runtime.jobs
    ]
    frozen = threading.Event()  # never set: the cycle waits for ever
    daemon.engine.cycle = lambda: frozen.wait()
    return daemon, runtime

agent.daemon.build_daemon = build
from agent.cli import main
sys.exit(main())
"""


@pytest.fixture
def fake() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver()
    seed_node(server.store, "node-1")
    yield server
    server.stop()


def test_run_exits_1_when_the_watchdog_finds_a_stuck_job(
    fake: FakeApiServer, tmp_path: Path
) -> None:
    cfg = config(tmp_path, free_port())
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            LAUNCHER,
            "run",
            "--config",
            str(cfg),
            "--kube-host",
            fake.url,
            "--shutdown-budget",
            "2",
            "--log-format",
            "text",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "POD_NAME": "autonomic-0"},
    )
    try:
        _, err = process.communicate(timeout=40)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    took = time.monotonic() - started
    assert process.returncode == 1, err[-3000:]
    stuck = re.search(r"autonomic: error: stuck job: remediation(-takeover)? has run for", err)
    assert stuck, err[-3000:]
    assert "past its bound of 2" in err
    assert "Where it is stuck" in err and "wait" in err  # the stack names the frozen wait
    assert took < 30, f"took {took:.1f} s"
