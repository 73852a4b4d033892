"""A step whose target cannot be read before its write, for a reason that may pass (the
API server away, the watch cache not synced, a Deployment's controller not yet at its
spec: ``TransientError``), is tried again at the next cycles, not failed at once: nothing
of it was written and no intent recorded. Before, the whole decision failed and was
handed to a person (a rollback someone approved thrown away for a one-second hiccup, the
person told it failed although nothing was tried).

The run stays ``running``, its target taken; it is said once (log, thread, a feedback row
``autonomic explain`` shows); each step is written once, across cycles and a restart; and
past ``safety.approvedMaxWait`` it is failed and escalated with the last error."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.errors import TransientError
from remediation.guards import BreakerState
from remediation.ports import RolloutRestart, Scale
from tests.unit.engine.harness import WEB, Rig, latency_anomaly, restarted, runbook_rig, status_of
from tests.unit.engine.test_first_write_recheck import RUNBOOK_NAME

LAGGING = "Deployment/shop/web: its controller has not observed generation 5 yet (at 4)"


def _approved(r: Rig, route: str) -> str:
    """A latency anomaly on web (a scale, then a restart), approved: by the routing
    (``auto``) or by a person who was asked (``ask``); not run yet."""
    latency_anomaly(r, WEB, run=0)
    if route == "ask":
        (question,) = r.ledger.questions()
        assert r.decisions.answer(question.id, "approved", "alice")
    (record,) = r.ledger.decisions(kind="remediation", status=["approved"])
    assert record.route == route
    return record.id


def _unreadable(r: Rig, monkeypatch: pytest.MonkeyPatch, op: type, reasons: list[str]) -> list[str]:
    """Reading ``op``'s target before its write fails while ``reasons`` is not empty,
    with its last reason; returns the reads that failed."""
    real = r.sim.snapshot
    failed: list[str] = []

    def snapshot(operation: Any) -> Any:
        if isinstance(operation, op) and reasons:
            failed.append(reasons[-1])
            raise TransientError(f"{LAGGING} ({reasons[-1]})", reason=reasons[-1])
        return real(operation)

    monkeypatch.setattr(r.sim, "snapshot", snapshot)
    return failed


def _escalations(r: Rig, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    told: list[str] = []
    real = r.decisions.approvals.escalate

    def escalate(decision_id: str, text: str, now: float) -> Any:
        told.append(text)
        return real(decision_id, text, now)

    monkeypatch.setattr(r.decisions.approvals, "escalate", escalate)
    return told


def _deferred_rows(r: Rig, decision: str) -> list[dict[str, Any]]:
    return [f for f in r.ledger.feedback_for(decision) if f["outcome"] == "deferred"]


@pytest.mark.parametrize("route", ["auto", "ask"])
def test_a_first_step_that_cannot_be_read_waits_for_the_next_cycles(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    route: str,
) -> None:
    r = runbook_rig(tmp_path, auto=0.7 if route == "auto" else 0.9)
    decision = _approved(r, route)
    told = _escalations(r, monkeypatch)
    reasons = ["RolloutNotObserved"]
    failed = _unreadable(r, monkeypatch, Scale, reasons)
    caplog.set_level(logging.DEBUG, logger="autonomic.remediation")
    r.run(120)  # four cycles, each read fails

    assert len(failed) == 4
    assert status_of(r, decision) == "executing"  # before: failed at the first cycle
    assert told == []
    assert r.ledger.intents() == []
    assert r.sim.workloads[WEB].replicas == 3
    (execution,) = r.ledger.executions(["running"])
    state, _ = r.engine.guard_state()
    assert [f.target for f in state.in_flight] == [WEB]  # web stays taken (TargetBusy)
    (row,) = _deferred_rows(r, decision)  # said once, not each cycle
    assert row["detail"]["step"] == 0 and "RolloutNotObserved" in row["detail"]["error"]
    said = [
        rec
        for rec in caplog.records
        if rec.levelno >= logging.INFO and "waiting: step 0" in rec.getMessage()
    ]
    assert len(said) == 1

    reasons.clear()  # the controller caught up
    r.run(60)
    intents = r.ledger.intents(execution_key=str(execution["key"]))
    assert [(i.step, i.status) for i in intents] == [(0, "applied"), (1, "applied")]
    assert r.sim.workloads[WEB].replicas == 4  # written once
    assert status_of(r, decision) == "verifying"
    assert told == []


def test_a_run_whose_target_stays_unreadable_fails_after_approved_max_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    decision = _approved(r, "auto")
    told = _escalations(r, monkeypatch)
    reasons = ["ApiUnavailable", "KubeCacheStale"]  # the last one is said
    _unreadable(r, monkeypatch, Scale, reasons)
    r.run(90)
    assert status_of(r, decision) == "executing"
    r.clock.advance(r.engine.limits.approved_max_wait - 120)
    r.run(30)
    assert status_of(r, decision) == "executing"  # within approvedMaxWait still
    r.run(90)

    assert status_of(r, decision) == "failed"
    assert r.ledger.intents() == []
    (text,) = told
    assert text.startswith("remediation failed: step 0 (scale) not written: its target could not")
    assert "longer than safety.approvedMaxWait (1h)" in text
    assert (
        f"the last error: could not read {WEB} before writing: {LAGGING} (KubeCacheStale)" in text
    )
    assert text.endswith("nothing was written to the cluster")
    state, _ = r.engine.guard_state()
    assert state.in_flight == ()  # web is free again
    # nothing written, for a reason that says nothing about the runbook: not counted
    assert state.breakers.get(RUNBOOK_NAME, BreakerState()).consecutive_failures == 0


def test_a_later_step_that_cannot_be_read_waits_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Step 0 written, step 1's target unreadable for a while: step 1 is tried again at
    the next cycles (as a run the ledger cut off between two steps), step 0 never again.
    Before, the run failed: its step 0 undone and a person told."""
    r = runbook_rig(tmp_path)
    decision = _approved(r, "auto")
    told = _escalations(r, monkeypatch)
    reasons = ["Timeout"]
    _unreadable(r, monkeypatch, RolloutRestart, reasons)
    r.run(120)
    assert status_of(r, decision) == "executing"
    (execution,) = r.ledger.executions(["running"])
    key = str(execution["key"])
    assert [(i.step, i.status) for i in r.ledger.intents(execution_key=key)] == [(0, "applied")]
    assert r.sim.workloads[WEB].replicas == 4
    (row,) = _deferred_rows(r, decision)
    assert row["detail"]["step"] == 1

    reasons.clear()
    r.run(60)
    intents = r.ledger.intents(execution_key=key)
    assert [(i.step, i.status) for i in intents] == [(0, "applied"), (1, "applied")]
    assert r.sim.workloads[WEB].replicas == 4  # step 0 written once
    assert status_of(r, decision) == "verifying"
    assert told == []


def test_a_later_step_unreadable_past_approved_max_wait_fails_and_undoes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    decision = _approved(r, "auto")
    told = _escalations(r, monkeypatch)
    _unreadable(r, monkeypatch, RolloutRestart, ["Timeout"])
    r.run(60)
    assert r.sim.workloads[WEB].replicas == 4
    r.clock.advance(r.engine.limits.approved_max_wait + 60)
    r.run(60)
    assert status_of(r, decision) == "undone"  # onFailure.undo: step 0 undone
    assert r.sim.workloads[WEB].replicas == 3
    (text,) = told
    assert text.startswith("remediation failed: step 1 (rollout_restart) not written")
    assert "the last error: could not read" in text and "(Timeout)" in text


def test_a_deferred_run_goes_on_once_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    decision = _approved(r, "auto")
    reasons = ["ApiUnavailable"]
    _unreadable(r, monkeypatch, RolloutRestart, reasons)
    r.run(60)
    (execution,) = r.ledger.executions(["running"])
    key = str(execution["key"])

    after = restarted(r)
    after.engine.recover()  # still unreadable: deferred again, not failed
    assert status_of(after, decision) == "executing"
    assert len(_deferred_rows(after, decision)) == 1  # not said again in its thread
    reasons.clear()
    after.run(60)
    intents = after.ledger.intents(execution_key=key)
    assert [(i.step, i.status) for i in intents] == [(0, "applied"), (1, "applied")]
    assert after.sim.workloads[WEB].replicas == 4
    assert status_of(after, decision) == "verifying"


def test_explain_says_why_a_deferred_run_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    r = runbook_rig(tmp_path)
    decision = _approved(r, "auto")
    _unreadable(r, monkeypatch, Scale, ["RolloutNotObserved"])
    r.run(60)
    capsys.readouterr()
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert main(["explain", decision[:10], "--ledger", url]) == 0
    out = capsys.readouterr().out
    assert "execution: deferred" in out, out
    assert "waiting: step 0 (scale) not written yet, could not read" in out
    assert "Tried again at each remediation cycle until" in out


def test_a_deferred_step_is_written_once_by_two_engines_carrying_it_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine that deferred the step and a new one on the same ledger (a restart
    whose old process still runs a cycle, a new leader) both carry the run on once the
    target reads again: the step's intent is unique, so it is written once."""
    r = runbook_rig(tmp_path)
    decision = _approved(r, "auto")
    reasons = ["KubeCacheStale"]
    _unreadable(r, monkeypatch, RolloutRestart, reasons)
    r.run(60)
    (execution,) = r.ledger.executions(["running"])
    key = str(execution["key"])
    other = restarted(r)
    other.engine.recover()  # deferred there too
    reasons.clear()
    writes = len(r.sim.writes)
    for _ in range(4):
        r.clock.advance(30)
        r.sim.advance(r.clock.now(), {})
        r.engine.cycle()
        other.engine.cycle()
    intents = r.ledger.intents(execution_key=key)
    assert [(i.step, i.status) for i in intents] == [(0, "applied"), (1, "applied")]
    assert len(r.sim.writes) == writes + 1  # the restart, once
    assert r.sim.workloads[WEB].replicas == 4
    assert status_of(r, decision) in ("verifying", "verified")
