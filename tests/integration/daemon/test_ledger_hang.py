"""Readiness while the ledger's PostgreSQL server hangs: it accepts and never answers.

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
from agent.runtime import AlwaysLeader
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
