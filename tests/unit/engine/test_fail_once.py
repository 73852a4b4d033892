"""A run is failed, recorded and escalated once, even when two failures of it overlap.

In one process, a recovery on another job's thread (the lease regained) can fail a run
while the previous term's cycle is failing it too. Each undo is a compare-and-set on its
intent, but the close of the run (``running``/``verifying`` to ``failed``/``undone``) was
not checked: both went on to record the outcome and to tell a person. Now the one whose
close did not apply stops there."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediation.ports import RolloutRestart
from tests.unit.engine.harness import WEB, Rig, runbook_rig, status_of
from tests.unit.engine.test_defer_unread import _approved, _escalations, _unreadable


def _one_step_written(r: Rig, monkeypatch: pytest.MonkeyPatch) -> str:
    """Step 0 (a scale to 4) written, step 1 waiting for its target: the run running."""
    _unreadable(r, monkeypatch, RolloutRestart, ["Timeout"])
    r.run(60)
    assert r.sim.workloads[WEB].replicas == 4
    (execution,) = r.ledger.executions(["running"])
    return str(execution["key"])


def test_a_failure_overlapping_another_does_not_escalate_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first failure undoes step 0; before it closes the run, the second (on the
    same engine, as another thread would) runs whole. It closes the run and escalates;
    the first, its close refused, stops. Before: two escalations, two outcomes."""
    r = runbook_rig(tmp_path)
    decision = _approved(r, "auto")
    told = _escalations(r, monkeypatch)
    key = _one_step_written(r, monkeypatch)
    record = r.ledger.get_decision(decision)
    assert record is not None
    asked: list[str] = []
    seconds: list[str] = []

    def is_leader() -> bool:
        asked.append("asked")
        # 1: the first failure's check; 2, 3: its undo's; 4: its check after the undos
        if len(asked) == 4:
            seconds.append(r.engine._fail(record, key, "the second failure"))
        return True

    monkeypatch.setattr(r.executor, "is_leader", is_leader)
    first = r.engine._fail(record, key, "the first failure")

    assert seconds == ["undone"]
    assert first == "closed-elsewhere"  # before: "undone", recorded and escalated again
    assert r.sim.workloads[WEB].replicas == 3  # undone once
    (text,) = told  # before: two
    assert text.startswith("remediation failed: the second failure;")
    assert "undone (step 0 undone earlier)" in text
    assert r.ledger.execution(key)["status"] == "escalated"  # type: ignore[index]
    assert status_of(r, decision) == "undone"


def test_a_failure_after_the_run_was_closed_does_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    decision = _approved(r, "auto")
    told = _escalations(r, monkeypatch)
    key = _one_step_written(r, monkeypatch)
    record = r.ledger.get_decision(decision)
    assert record is not None
    assert r.engine._fail(record, key, "the first failure") == "undone"
    outcomes = [f for f in r.ledger.feedback_for(decision) if f["kind"] != "execution"]

    assert r.engine._fail(record, key, "a late failure") == "closed-elsewhere"
    assert len(told) == 1  # before: 2, the second saying the step was "undone earlier"
    assert [f for f in r.ledger.feedback_for(decision) if f["kind"] != "execution"] == outcomes
    assert r.ledger.execution(key)["status"] == "escalated"  # type: ignore[index]
    assert status_of(r, decision) == "undone"
