"""A shutdown (SIGTERM) that comes while a failed run's steps are being undone: the
undo is a new write, so the executor starts none once the daemon is stopping, and the
steps left are not undone by this replica. The run is then left open for the next
leader, as a shutdown before the undo leaves it, not closed as failed with those
steps in place and a person told "the next leader goes on from the ledger" (which it
would not: the run was closed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.executor import StepOutcome
from tests.unit.engine.harness import SCALE_RESTART, WEB, latency_anomaly, restarted, rig, web

SCALE_AND_LIMIT = SCALE_RESTART.replace(
    "    - {type: rolloutRestart}\n",
    "    - {type: patchResources, resource: memory, field: limits, factor: 1.5, max: 2Gi}\n",
)


def test_a_shutdown_between_two_undos_leaves_the_run_for_the_next_leader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "latency-scale-limit.yaml").write_text(SCALE_AND_LIMIT)
    r = rig(tmp_path, runbooks=folder)
    r.sim.add_workload(web())
    latency_anomaly(r, WEB, run=60)
    (execution,) = r.ledger.executions(["verifying"])
    key = str(execution["key"])
    record = r.ledger.get_decision(execution["decision_id"])
    assert record is not None
    assert r.sim.workloads[WEB].replicas == 4
    told: list[str] = []
    real_escalate = r.decisions.approvals.escalate

    def escalate(decision_id: str, text: str, now: float) -> Any:
        told.append(text)
        return real_escalate(decision_id, text, now)

    monkeypatch.setattr(r.decisions.approvals, "escalate", escalate)
    stopping: list[bool] = []
    r.executor.stopping = lambda: bool(stopping)
    real_undo = r.executor.undo

    def undo(intent: Any, **kwargs: Any) -> StepOutcome:
        outcome = real_undo(intent, **kwargs)
        stopping.append(True)  # SIGTERM once the first undo (the last step's) is done
        return outcome

    monkeypatch.setattr(r.executor, "undo", undo)

    assert r.engine._fail(record, key, "VerificationFailed: pods not ready") == "stopped-shutdown"
    # Before: "failed", the run escalated with step 0 (the scale) left applied for good.
    assert told == []
    assert r.ledger.execution(key)["status"] == "verifying"  # type: ignore[index]
    steps = {i.step: i.status for i in r.ledger.intents(execution_key=key)}
    assert steps == {0: "applied", 1: "undone"}
    assert r.sim.workloads[WEB].replicas == 4

    # The next leader's failure of it undoes the step left, and counts the one undone.
    monkeypatch.undo()
    r.executor.stopping = lambda: False
    nxt = restarted(r)
    assert nxt.engine._fail(record, key, "VerificationFailed: pods not ready") == "undone"
    steps = {i.step: i.status for i in r.ledger.intents(execution_key=key)}
    assert steps == {0: "undone", 1: "undone"}
    assert r.sim.workloads[WEB].replicas == 3
