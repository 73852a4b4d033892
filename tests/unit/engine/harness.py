"""Build a remediation engine over the simulated cluster, on a fake clock."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.approvals import Approvals, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.errors import TransientError
from agent.executor import Executor
from agent.ledger import DecisionRecord, Ledger, open_ledger
from agent.observability import Metrics
from agent.remediation_engine import Handled, RemediationEngine
from agent.settings import RoutingSettings
from agent.sim.cluster import SimCluster, SimWorkload, Template
from remediation.guards import GlobalLimits
from remediation.loading import load_paths
from remediation.ports import ObjectRef
from remediation.schema import Runbook
from remediation.signals import Signal

RUNBOOKS = Path(__file__).resolve().parents[3] / "runbooks"
START = 1_750_000_000.0
WEB = ObjectRef("Deployment", "web", "shop")
# Two steps (add a replica, then restart) on a latency anomaly, undone on failure.
SCALE_RESTART = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata: {name: latency-scale-restart, description: add a replica and restart}
spec:
  mode: enforce
  maxAutonomy: auto
  triggers: [{type: anomaly, metric: latency_p99}]
  target: {kind: Deployment, requireLabels: {autonomic.dev/enabled: "true"}}
  actions:
    - {type: scale, add: 1, maxReplicas: 10, hpa: ignore}
    - {type: rolloutRestart}
  verification:
    settle: 30s
    window: 2m
    checks: [{type: kubernetes, condition: podsReady}]
  onFailure: {undo: true}
"""
LEDGER_WRITE_FAILED = "the ledger at sqlite:///x write failed: disk I/O error"


@dataclass
class Rig:
    clock: FakeClock
    sim: SimCluster
    ledger: Ledger
    decisions: DecisionService
    engine: RemediationEngine
    executor: Executor

    def run(self, seconds: float, step: float = 15.0) -> None:
        """Advance the cluster and the engine together, as the daemon would."""
        elapsed = 0.0
        while elapsed < seconds:
            self.clock.advance(step)
            elapsed += step
            self.sim.advance(self.clock.now(), {})
            if int(elapsed) % 30 == 0:
                self.engine.cycle()


@functools.cache
def _shipped_runbooks() -> tuple[Runbook, ...]:
    return load_paths([RUNBOOKS])


def _runbooks(folder: Path) -> tuple[Runbook, ...]:
    """The runbooks in ``folder``. The repository's own are parsed once a session (their
    YAML was most of the time a rig took to build) and each rig gets a deep copy of them,
    equal to a fresh load and shared with no other rig; a test's own folder is loaded
    afresh."""
    if folder == RUNBOOKS:
        return copy.deepcopy(_shipped_runbooks())
    return load_paths([folder])


def rig(
    tmp_path: Path,
    *,
    auto: float = 0.7,
    ask: float = 0.5,
    runbooks: Path = RUNBOOKS,
    url: str | None = None,
) -> Rig:
    """``url``: the ledger's (a PostgreSQL schema's); a SQLite file in ``tmp_path`` else."""
    clock = FakeClock(START)
    sim = SimCluster(["node-a", "node-b", "node-c"], clock.now())
    ledger = open_ledger(url or f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger,
        clock,
        RoutingSettings(auto=auto, ask=ask),
        mode="act",
        approvals=approvals,
        metrics=Metrics(),
    )
    executor = Executor(ledger, sim, clock, owner="test")
    engine = RemediationEngine(
        runbooks=_runbooks(runbooks),
        ledger=ledger,
        decisions=decisions,
        executor=executor,
        reader=sim,
        clock=clock,
        limits=GlobalLimits(),
    )
    return Rig(clock, sim, ledger, decisions, engine, executor)


def runbook_rig(
    tmp_path: Path,
    text: str = SCALE_RESTART,
    *,
    file: str = "latency-scale-restart.yaml",
    auto: float = 0.7,
    ask: float = 0.5,
    url: str | None = None,
) -> Rig:
    """A rig whose only runbook is ``text`` (written to ``tmp_path/runbooks/file``),
    with web (3 replicas) in the cluster; ``auto``, ``ask`` and ``url`` as for ``rig``."""
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / file).write_text(text)
    r = rig(tmp_path, auto=auto, ask=ask, runbooks=folder, url=url)
    r.sim.add_workload(web())
    return r


def web(replicas: int = 3, **extra: object) -> SimWorkload:
    return SimWorkload(
        WEB,
        replicas,
        {1: Template("shop/web:1", limits={"memory": "256Mi"}, requests={"memory": "128Mi"})},
        1,
        capacity=100.0,
        startup=30.0,
        labels={"autonomic.dev/enabled": "true", "app": "web"},
        **extra,  # type: ignore[arg-type]
    )


def restarted(r: Rig) -> Rig:
    """A new engine on the same ledger, as after a restart or a change of leader (the
    clock goes on)."""
    engine = RemediationEngine(
        runbooks=list(r.engine.runbooks.values()),
        ledger=r.ledger,
        decisions=r.decisions,
        executor=r.executor,
        reader=r.sim,
        clock=r.clock,
        limits=r.engine.limits,
    )
    return Rig(r.clock, r.sim, r.ledger, r.decisions, engine, r.executor)


def latency_anomaly(r: Rig, target: ObjectRef, *, run: float = 600) -> Handled:
    """One latency anomaly on ``target`` (a new incident each time), handled, then the
    cluster and the engine run ``run`` seconds so what was decided runs and is judged."""
    now = r.clock.now()
    signal = Signal(
        kind="anomaly",
        name="latency_p99",
        target=target,
        confidence=1.0,
        observed_at=now,
        dedup_key=f"anomaly|latency_p99|{target}|{now}",
        direction="up",
    )
    (handled,) = r.engine.handle([signal], r.engine.snapshot())
    r.run(run)
    return handled


def asked_decision(r: Rig, runbook: str) -> DecisionRecord:
    """The one remediation decision of ``runbook``, which must be waiting on a person."""
    (decision,) = [
        d for d in r.ledger.decisions(kind="remediation") if d.decision_type.startswith(runbook)
    ]
    assert decision.status == "asked", decision.status
    return decision


def approve_pending(r: Rig) -> None:
    """Alice approves the one pending question."""
    (question,) = [q for q in r.ledger.questions() if q.status == "pending"]
    assert r.decisions.answer(question.id, "approved", "alice")


def status_of(r: Rig, decision: str) -> str:
    """The status the ledger holds for ``decision`` (which must exist)."""
    record = r.ledger.get_decision(decision)
    assert record is not None
    return record.status


def fail_intents(
    r: Rig,
    monkeypatch: pytest.MonkeyPatch,
    *,
    when: Callable[[str, int], bool] = lambda key, step: True,
    times: int | None = 1,
    committed: bool = False,
) -> list[tuple[str, int]]:
    """The ledger's ``record_intent`` raises a ``TransientError`` for the intents
    ``when(execution key, step)`` picks, the first ``times`` of them (None: all); the
    others are recorded. ``committed``: each failed intent is recorded before the
    error, as a dropped connection can hide a commit. Returns the (key, step) of every
    failed write, in order, as it grows."""
    real = r.ledger.record_intent
    failed: list[tuple[str, int]] = []

    def record_intent(key: str, step: int, *args: Any, **kwargs: Any) -> int | None:
        if (times is None or len(failed) < times) and when(key, step):
            failed.append((key, step))
            if committed:
                real(key, step, *args, **kwargs)
            raise TransientError(LEDGER_WRITE_FAILED)
        return real(key, step, *args, **kwargs)

    monkeypatch.setattr(r.ledger, "record_intent", record_intent)
    return failed
