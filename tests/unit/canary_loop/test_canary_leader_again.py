"""A replica that leads again takes its canary analyses up from the ledger: its memory is
from before another leader's turn, in which that leader may have recorded the verdict."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.clock import FakeClock
from agent.daemon import Daemon
from agent.ledger import Ledger, open_ledger
from agent.loops.canary import CanaryLoop
from agent.observability import Metrics
from tests.harness.gates import SwitchGate
from tests.unit.canary_loop.test_canary_loop import rig


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


class _Settled:
    """The remediation engine's part in a change of leader: nothing to settle."""

    def recover(self) -> dict[str, int]:
        return {}


def _replica(loop: CanaryLoop, ledger: Ledger) -> tuple[Daemon, SwitchGate]:
    gate = SwitchGate(leader=False)
    daemon = Daemon(
        # what ``jobs()`` reads of the settings with only a canary loop
        settings=SimpleNamespace(anomaly_queries=[], canary=loop.settings),  # type: ignore[arg-type]
        clock=loop.clock,
        ledger=ledger,
        metrics=Metrics(),
        decisions=loop.decisions,
        engine=_Settled(),  # type: ignore[arg-type]
        anomaly=None,  # type: ignore[arg-type]
        gate=gate,
        alerts=None,  # type: ignore[arg-type]
        canary=loop,
    )
    return daemon, gate


def _lead(daemon: Daemon, clock: FakeClock, minutes: int) -> None:
    """The canary job as the runtime runs it, once a minute."""
    (job,) = [job for job in daemon.jobs() if job.name == "canary"]
    for _ in range(minutes):
        clock.advance(60)
        job.fn()


def test_a_replica_leading_again_does_not_decide_a_verdict_the_other_leader_recorded(
    ledger: Ledger,
) -> None:
    """B judges two intervals, A takes over and records the rollback, B leads again: B's
    judge, its two intervals and those after, reached the same verdict and recorded it a
    second time (a second decision, a second question or action)."""
    b_loop, _, clock, cluster = rig(ledger, canary_slowdown=1.5)
    a_loop = CanaryLoop(
        b_loop.settings,
        reader=b_loop.reader,
        cluster=cluster,
        decisions=b_loop.decisions,
        clock=clock,
        submit=[].extend,
        events=b_loop.events,
    )
    b, b_gate = _replica(b_loop, ledger)
    a, a_gate = _replica(a_loop, ledger)
    b_gate.leader = True
    _lead(b, clock, 2)
    assert ledger.decisions(kind="canary") == []
    b_gate.leader = False

    a_gate.leader = True
    for _ in range(60):
        _lead(a, clock, 1)
        if ledger.decisions(kind="canary"):
            break
    (recorded,) = ledger.decisions(kind="canary")
    assert recorded.proposal["verdict"] == "rollback"
    a_gate.leader = False

    b_gate.leader = True
    _lead(b, clock, 60)
    assert [d.id for d in ledger.decisions(kind="canary")] == [recorded.id]
    (analysis,) = b_loop.analyses.values()
    assert analysis.recorded and analysis.decision_id == recorded.id  # answers from it
