"""A failed run whose undo is not settled (the API did not answer it, and the target
could not be read back to tell whether it landed: the step is left ``undoing``). The
run is left open until the undo is settled, then closed with what the undo did; before,
it was closed ``failed`` at once, escalated as an undo refused, and the next cycle
found the undo landed. Nor is the run's next step written over a step being undone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.executor import StepOutcome
from tests.unit.engine.harness import WEB, Rig, latency_anomaly, rig, web
from tests.unit.engine.test_shutdown_mid_undo import SCALE_AND_LIMIT


def _two_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step1: StepOutcome) -> Rig:
    """The scale-then-limit runbook on web, its second step answered ``step1``."""
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "latency-scale-limit.yaml").write_text(SCALE_AND_LIMIT)
    r = rig(tmp_path, runbooks=folder)
    r.sim.add_workload(web())
    real = r.executor.apply

    def apply(key: str, step: int, *args: Any, **kwargs: Any) -> StepOutcome:
        return step1 if step == 1 else real(key, step, *args, **kwargs)

    monkeypatch.setattr(r.executor, "apply", apply)
    return r


def _undoing(r: Rig, key: str) -> None:
    """Step 0's undo written, unanswered, and not read back: left ``undoing``."""
    (intent,) = [i for i in r.ledger.intents(execution_key=key) if i.step == 0]
    assert r.ledger.finish_intent(
        intent.id, "undoing", r.clock.now(), intent.result, expected=("applied",)
    )


def test_a_failed_run_waits_for_its_unsettled_undo_then_closes_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = StepOutcome("failed", "limit refused by the admission webhook", reason="Invalid")
    r = _two_steps(tmp_path, monkeypatch, refused)
    told: list[str] = []
    escalate = r.decisions.approvals.escalate
    monkeypatch.setattr(
        r.decisions.approvals,
        "escalate",
        lambda d, text, now: (told.append(text), escalate(d, text, now))[1],
    )
    real_undo = r.executor.undo

    def unanswered(intent: Any, **_kw: Any) -> StepOutcome:
        _undoing(r, str(intent.execution_key))
        return StepOutcome("unsettled", "undo not answered, and web could not be read back")

    monkeypatch.setattr(r.executor, "undo", unanswered)
    latency_anomaly(r, WEB, run=30)
    (execution,) = r.ledger.executions(["running"])  # before: closed "failed" at once
    key = str(execution["key"])
    assert told == []
    assert {i.step: i.status for i in r.ledger.intents(execution_key=key)} == {0: "undoing"}
    monkeypatch.setattr(r.executor, "undo", real_undo)
    r.engine.settle_unsettled()  # the undo settled (written: web read back at 4), closed
    assert {i.step: i.status for i in r.ledger.intents(execution_key=key)} == {0: "undone"}
    assert r.sim.workloads[WEB].replicas == 3
    assert r.ledger.execution(key)["status"] == "escalated"  # type: ignore[index]
    record = r.ledger.get_decision(str(execution["decision_id"]))
    assert record is not None and record.status == "undone"
    (text,) = told
    assert "step 1 failed: limit refused" in text and "; undone (step 0 undone" in text
    assert "undo refused" not in text


def test_a_run_is_not_carried_on_over_a_step_being_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unread = StepOutcome("unread", "web could not be read before writing", reason="Timeout")
    r = _two_steps(tmp_path, monkeypatch, unread)
    latency_anomaly(r, WEB, run=30)
    (execution,) = r.ledger.executions(["running"])  # step 1 deferred
    key = str(execution["key"])
    _undoing(r, key)  # a failure's undo of step 0, not settled yet
    monkeypatch.undo()
    record = r.ledger.get_decision(str(execution["decision_id"]))
    assert record is not None
    limits = dict(r.sim.workloads[WEB].templates[1].limits)
    # Before: step 1 (the memory limit) was written over the step being undone.
    assert r.engine._carry_on(record, key, "its next step's target could not be read") == (
        "undo-unsettled"
    )
    assert [i.step for i in r.ledger.intents(execution_key=key)] == [0]
    assert r.sim.workloads[WEB].templates[1].limits == limits
