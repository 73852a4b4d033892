"""Readiness, and the lease, while the ledger's PostgreSQL server hangs: it accepts and
never answers.

Every process of a real server is stopped (SIGSTOP): the pooled connection's pre-ping and
the read behind it wait for ever. ``/readyz`` used to wait with them, past the kubelet's
2-s probe timeout, saying nothing; it answers within a second now, saying why, and is
ready again as soon as the server answers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agent.daemon import Daemon
from agent.ledger import Ledger, open_ledger
from agent.observability import Metrics
from agent.runtime import AlwaysLeader, Job, Runtime, ShutdownPlan, StuckJobError
from tests.harness.servers import PostgresServer, postgres_cluster

pytestmark = pytest.mark.postgres


@pytest.fixture
def server(postgres_binaries: None) -> Iterator[PostgresServer]:
    with postgres_cluster() as server:
        server.start()
        server.createdb()
        yield server


def _processes(server: PostgresServer) -> list[int]:
    """The postmaster and its children (the backends holding the pool's connections)."""
    main = int((server.root / "data" / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(
        ["pgrep", "-P", str(main)], capture_output=True, text=True, check=False
    ).stdout.split()
    return [main, *map(int, children)]


def _resume(server: PostgresServer, stopped: list[int]) -> None:
    """SIGCONT to the server's processes, and to the process that started the server: as
    root that is ``runuser``, which stops itself when its child is stopped (as ``su``
    does), and would otherwise keep the server's shutdown waiting."""
    for pid in stopped:
        os.kill(pid, signal.SIGCONT)
    if stopped and server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)


def _ready(daemon: Daemon, limit: float) -> tuple[bool, str] | None:
    """``daemon.ready()``, or None if it has not answered within ``limit`` seconds."""
    answer: list[tuple[bool, str]] = []
    thread = threading.Thread(target=lambda: answer.append(daemon.ready()), daemon=True)
    thread.start()
    thread.join(limit)
    return answer[0] if answer else None


def _daemon(ledger: Ledger) -> Daemon:
    part: Any = None
    return Daemon(part, part, ledger, part, part, part, part, AlwaysLeader(), part)


def test_readiness_answers_and_says_why_while_the_ledger_hangs(server: PostgresServer) -> None:
    ledger = open_ledger(server.url, 0.0)
    daemon = _daemon(ledger)
    stopped: list[int] = []
    try:
        assert _ready(daemon, 5) == (True, "leader")
        stopped = _processes(server)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        for _probe in range(3):  # each probe answers; the one read waits on
            began = time.monotonic()
            answer = _ready(daemon, 3)
            assert answer is not None, "readiness did not answer within 3 s"
            assert time.monotonic() - began < 2.0
            ok, why = answer
            assert not ok
            assert why.startswith(f"the ledger at {server.url} has not answered a read for ")
        threads = [t for t in threading.enumerate() if t.name == "autonomic-ledger-check"]
        assert len(threads) == 1
        _resume(server, stopped)
        stopped = []
        deadline = time.monotonic() + 10
        while _ready(daemon, 3) != (True, "leader"):
            assert time.monotonic() < deadline, "not ready 10 s after the server answered"
            time.sleep(0.1)
    finally:
        _resume(server, stopped)
        ledger.close()


class _Gate:
    def __init__(self) -> None:
        self.released = False

    def is_leader(self) -> bool:
        return not self.released

    def term(self) -> int:
        return 1

    def start(self) -> None:
        return None

    def stop(self) -> None:
        self.released = True


def test_a_leader_whose_job_waits_on_a_frozen_ledger_gives_up_the_lease(
    server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The job's read waits for ever on the frozen server (its kernel still acknowledges
    every packet and keepalive: no TCP setting ends it), while the lease is renewed apart
    from the job. The watchdog finds the run stuck past its bound, says where it waits,
    and shuts the runtime down: the lease is released for a standby to take over."""
    ledger = open_ledger(server.url, 0.0, bounded=True)
    gate, bound = _Gate(), 1.0
    reads = threading.Event()

    def remediation() -> None:
        ledger.pending_alerts()
        reads.set()

    runtime = Runtime(
        [Job("remediation", 0.2, remediation, False, 0, acts=True, stuck_after=bound)],
        metrics=Metrics(),
        gate=gate,
        server=None,
        ready=lambda: (True, ""),
        plan=ShutdownPlan().scaled(2.0),
        first_run_bound=bound,
    )
    stopped: list[int] = []
    caplog.set_level("ERROR", logger="autonomic.runtime")
    runtime.start()
    try:
        assert reads.wait(5), "the job never read the ledger"
        stopped = _processes(server)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        frozen = time.monotonic()
        while not gate.released:
            assert time.monotonic() - frozen < bound + 4, "the lease is still held"
            time.sleep(0.05)
        took = time.monotonic() - frozen
    finally:
        _resume(server, stopped)
        runtime.stop()
        ledger.close()
    assert bound < took < bound + 4
    assert isinstance(runtime.failure, StuckJobError)
    (said,) = [r.getMessage() for r in caplog.records if "it is stuck" in r.getMessage()]
    assert said.startswith("remediation: a run has lasted ")
    assert "pending_alerts" in said and "psycopg" in said  # where it waits
