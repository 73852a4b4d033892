"""Readiness's read of the ledger (``LedgerCheck``): one read at a time against a ledger
that does not answer, however many probes ask at once."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

import agent.daemon as daemon_module
from agent.daemon import Daemon, LedgerCheck
from agent.runtime import AlwaysLeader


class _HungLedger:
    """A ledger whose reads wait until ``answer`` is set, counting them."""

    def __init__(self) -> None:
        self.reads = 0
        self.answer = threading.Event()
        self.engine = SimpleNamespace(
            url=SimpleNamespace(render_as_string=lambda: "postgresql://db/autonomic")
        )

    def schema_version(self) -> int:
        self.reads += 1
        self.answer.wait(10)
        return 11


def test_probes_at_once_share_one_read_of_a_hung_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[LedgerCheck] = []

    class SlowToMake(LedgerCheck):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            time.sleep(0.2)  # both probes are past "is there one yet?" before it exists
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(daemon_module, "LedgerCheck", SlowToMake)
    ledger = _HungLedger()
    part: Any = None
    daemon = Daemon(part, part, ledger, part, part, part, part, AlwaysLeader(), part)  # type: ignore[arg-type]
    answers: list[tuple[bool, str]] = []
    probes = [
        threading.Thread(target=lambda: answers.append(daemon.ready()), daemon=True)
        for _ in range(2)
    ]
    try:
        for probe in probes:
            probe.start()
        for probe in probes:
            probe.join(5)
        assert len(answers) == 2
        for ok, why in answers:
            assert not ok
            assert why.startswith("the ledger at postgresql://db/autonomic has not answered")
        assert len(made) == 1
        assert ledger.reads == 1
    finally:
        ledger.answer.set()
