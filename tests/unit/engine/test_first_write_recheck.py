"""Every first write that comes after a wait re-checks that it is still wanted.

An approved decision can run long after it was decided (a late answer, a guard that held
it), and a claimed run can reach its first write-ahead intent long after its claim (a
ledger outage, a restart before it). A run part written goes on after a restart. Before
each of those writes the guards are judged again and the plan is checked against the
cluster now: a pause, a change freeze, a storm or an open circuit breaker holds it; the
target deleted, changed by someone else, or acted on by a newer decision closes it
(``superseded`` before any write; a run part written is closed as failed, not judged,
and escalated), with a sentence naming why. No step is written twice, none is lost."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agent.errors import TransientError
from agent.executor import StepOutcome
from remediation.guards import BreakerState, release_unstarted
from remediation.windows import WindowFields, to_utc_text
from tests.unit.engine.harness import (
    WEB,
    Rig,
    fail_intents,
    latency_anomaly,
    restarted,
    runbook_rig,
    status_of,
)

RUNBOOK_NAME = "latency-scale-restart"


def _approved(r: Rig) -> str:
    """A latency anomaly on web, decided: the decision approved, not run yet."""
    latency_anomaly(r, WEB, run=0)
    (record,) = r.ledger.decisions(kind="remediation", status=["approved"])
    return record.id


def _person_rolls_out(r: Rig) -> None:
    """A person rolls web out, now (the simulated cluster's clock brought up first)."""
    r.sim.advance(r.clock.now(), {})
    r.sim.roll_out(WEB, "shop/web:2")


def _open_breaker(r: Rig) -> None:
    now = r.clock.now()
    r.engine._update_guards(
        lambda s: replace(s, breakers={RUNBOOK_NAME: BreakerState(3, opened_at=now)})
    )


def _why(r: Rig, decision: str, outcome: str) -> str:
    (row,) = [f for f in r.ledger.feedback_for(decision) if f["outcome"] == outcome]
    return str(row["detail"]["why"])


# ------------------------------------------------ approved, not claimed yet (execute)
def test_an_approved_run_whose_target_a_person_changed_since_is_superseded(
    tmp_path: Path,
) -> None:
    r = runbook_rig(tmp_path)
    decision = _approved(r)
    r.clock.advance(60)
    _person_rolls_out(r)  # a person rolls out while the decision waits
    r.run(60)
    assert r.ledger.intents() == []  # nothing written
    assert r.sim.workloads[WEB].replicas == 3
    assert status_of(r, decision) == "superseded"
    why = _why(r, decision, "superseded")
    assert why.startswith("not executed: someone other than Autonomic"), why
    # Said with times, not "ago" (the sentence is read later, in `autonomic explain`),
    # and what was written.
    record = r.ledger.get_decision(decision)
    assert record is not None
    assert (
        f"changed {WEB} at {to_utc_text(record.created_at + 60)}, 1m after this decision "
        f"was made at {to_utc_text(record.created_at)}, so its plan no longer describes "
        "the cluster: leaving it to them; nothing was written to the cluster"
    ) in why, why
    assert " ago" not in why


def test_an_approved_run_whose_target_was_deleted_is_superseded_not_failed(
    tmp_path: Path,
) -> None:
    r = runbook_rig(tmp_path)
    decision = _approved(r)
    r.sim.remove_workload(WEB)
    r.run(60)
    assert r.ledger.intents() == []
    assert status_of(r, decision) == "superseded"
    assert _why(r, decision, "superseded") == (
        f"not executed: {WEB} no longer exists: it was deleted after this decision was "
        "made; nothing was written to the cluster"
    )


def test_an_approved_run_waits_while_its_runbooks_breaker_is_open(tmp_path: Path) -> None:
    r = runbook_rig(tmp_path)
    decision = _approved(r)
    _open_breaker(r)  # another run of the runbook failed meanwhile
    r.run(120)
    assert r.ledger.intents() == []
    assert status_of(r, decision) == "approved"  # waits, within approvedMaxWait
    assert r.engine.execute(r.ledger.get_decision(decision)) == "waiting-circuit-breaker"  # type: ignore[arg-type]


def test_an_approved_run_waits_inside_a_change_freeze(tmp_path: Path) -> None:
    r = runbook_rig(tmp_path)
    decision = _approved(r)
    freeze = WindowFields.model_validate(
        {"timezone": "UTC", "dates": ({"start": "2025-06-01", "end": "2025-07-01"},)}
    )
    r.engine.limits = replace(r.engine.limits, freeze_windows=(freeze,))
    r.run(120)
    assert r.ledger.intents() == []
    assert status_of(r, decision) == "approved"
    r.engine.limits = replace(r.engine.limits, freeze_windows=())
    r.run(30)
    assert [i.step for i in r.ledger.intents()] == [0, 1]  # the freeze over: runs, once


# --------------------------------------- claimed, its first intent not recorded yet
def _claimed_unwritten(r: Rig, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The run is claimed, and the ledger fails on its first intent once: (decision,
    execution key), nothing written."""
    decision = _approved(r)
    failed = fail_intents(r, monkeypatch)
    r.clock.advance(30)
    with pytest.raises(TransientError):
        r.engine.cycle()
    assert status_of(r, decision) == "executing"
    return decision, failed[0][0]


def test_a_claimed_run_whose_target_changed_before_its_first_intent_is_superseded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    decision, key = _claimed_unwritten(r, monkeypatch)
    _person_rolls_out(r)
    r.run(60)
    assert r.ledger.intents(execution_key=key) == []
    assert r.sim.workloads[WEB].replicas == 3
    assert status_of(r, decision) == "superseded"
    execution = r.ledger.execution(key)
    assert execution is not None and execution["status"] == "superseded"
    assert "nothing was written" in _why(r, decision, "superseded")
    state, _ = r.engine.guard_state()
    # web is free again, and the run that never wrote is not counted as an action
    assert state.in_flight == () and state.actions == ()
    assert state.breakers.get(RUNBOOK_NAME, BreakerState()).consecutive_failures == 0


def test_a_claimed_run_waits_for_an_open_breaker_before_its_first_intent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    decision, key = _claimed_unwritten(r, monkeypatch)
    _open_breaker(r)
    r.run(120)
    assert r.ledger.intents(execution_key=key) == []
    assert status_of(r, decision) == "executing"  # still taken, within approvedMaxWait
    r.engine._update_guards(lambda s: replace(s, breakers={}))  # closed again
    r.run(30)
    intents = r.ledger.intents(execution_key=key)
    assert [(i.step, i.status) for i in intents] == [(0, "applied"), (1, "applied")]
    state, _ = r.engine.guard_state()
    assert len(state.actions) == 1  # counted once


def test_a_restart_before_the_first_intent_rechecks_and_the_next_leader_keeps_looking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run claimed by a process that died (another owner): the recovery judges the
    guards again, holds it while the breaker is open, and later cycles take it up."""
    r = runbook_rig(tmp_path)
    decision, key = _claimed_unwritten(r, monkeypatch)
    monkeypatch.undo()
    _open_breaker(r)
    r = restarted(r)
    r.executor.owner = "another-pod"
    counts = r.engine.recover()
    assert counts["held"] == 1 and counts["resumed"] == 0
    assert r.ledger.intents(execution_key=key) == []
    r.engine._update_guards(lambda s: replace(s, breakers={}))
    r.run(30)
    assert [i.step for i in r.ledger.intents(execution_key=key)] == [0, 1]
    assert status_of(r, decision) == "verifying"


def test_a_restart_before_the_first_intent_closes_a_run_whose_target_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    decision, key = _claimed_unwritten(r, monkeypatch)
    r.sim.remove_workload(WEB)
    r = restarted(r)
    assert r.engine.recover()["superseded"] == 1
    assert r.ledger.intents(execution_key=key) == []
    assert status_of(r, decision) == "superseded"
    assert _why(r, decision, "superseded") == (
        f"not executed: {WEB} no longer exists: it was deleted after this decision was "
        "made; nothing was written to the cluster"
    )


# ---------------------------------------------------- part written, then a restart
class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs in that process (a ``BaseException``,
    as one approved decision's ``Exception`` is caught so the others go on)."""


def _crashed_after_step_0(r: Rig, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Step 0 written, the process dies before step 1's intent: (decision, key)."""
    decision = _approved(r)
    real = r.executor.apply

    def apply(key: str, step: int, *args: Any, **kwargs: Any) -> StepOutcome:
        if step == 1:
            raise _Killed
        return real(key, step, *args, **kwargs)

    monkeypatch.setattr(r.executor, "apply", apply)
    r.clock.advance(30)
    with pytest.raises(_Killed):
        r.engine.cycle()
    monkeypatch.undo()
    (execution,) = r.ledger.executions(["running"])
    key = execution["key"]
    assert [(i.step, i.status) for i in r.ledger.intents(execution_key=key)] == [(0, "applied")]
    assert r.sim.workloads[WEB].replicas == 4
    return decision, key


def test_a_restart_does_not_carry_on_a_run_whose_target_a_person_changed_since(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    decision, key = _crashed_after_step_0(r, monkeypatch)
    r.clock.advance(60)
    _person_rolls_out(r)  # while the daemon was down
    r = restarted(r)
    assert r.engine.recover()["failed"] == 1
    intents = r.ledger.intents(execution_key=key)
    assert [i.step for i in intents] == [0]  # step 1 never written, step 0 not again
    assert status_of(r, decision) == "failed"
    (closed,) = [f for f in r.ledger.feedback_for(decision) if f["kind"] == "verification"]
    assert closed["outcome"] == "inconclusive"
    why = closed["detail"]["why"]
    assert why.startswith("interrupted by a restart, then not carried on: someone other"), why
    assert "step 1 (rollout_restart) of its 2 was not started" in why
    # the person's change stands: Autonomic's step is not undone over it
    assert closed["detail"]["undo_refused"]
    execution = r.ledger.execution(key)
    assert execution is not None and execution["status"] == "escalated"


def test_a_restart_carries_on_a_run_nothing_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    decision, key = _crashed_after_step_0(r, monkeypatch)
    r = restarted(r)
    assert r.engine.recover()["resumed"] == 1
    assert [i.step for i in r.ledger.intents(execution_key=key)] == [0, 1]
    assert status_of(r, decision) == "verifying"


def test_a_crash_while_closing_an_unstarted_run_leaves_nothing_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies at the write that gives the closed run's guards back: the next
    recovery finishes closing it, and the runbook and the target are free again (a run
    left in flight for good would hold its runbook's concurrency and its target)."""
    r = runbook_rig(tmp_path)
    decision, key = _claimed_unwritten(r, monkeypatch)
    monkeypatch.undo()
    real = r.engine._update_guards

    def update_guards(change: Any) -> Any:
        state, _ = r.engine.guard_state(stored=True)
        if len(change(state).in_flight) < len(state.in_flight):
            raise _Killed  # at the release of the run's guards
        return real(change)

    monkeypatch.setattr(r.engine, "_update_guards", update_guards)
    _person_rolls_out(r)
    with pytest.raises(_Killed):
        r.run(60)
    assert status_of(r, decision) == "superseded"
    r = restarted(r)
    r.engine.recover()
    r.run(60)
    assert r.ledger.intents(execution_key=key) == []
    execution = r.ledger.execution(key)
    assert execution is not None and execution["status"] == "superseded"
    state, _ = r.engine.guard_state()
    assert state.in_flight == () and state.actions == ()


def test_a_run_taken_up_twice_at_once_is_counted_in_flight_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recovery on one job's thread and a cycle on another take up the same claimed,
    uncounted run at once: each reads the guards before the other writes them."""
    r = runbook_rig(tmp_path)
    decision, _ = _claimed_unwritten(r, monkeypatch)
    monkeypatch.undo()
    # Uncounted: as after a failure between the claim and the count.
    r.engine._update_guards(lambda s: release_unstarted(s, RUNBOOK_NAME, WEB))
    record = r.ledger.get_decision(decision)
    assert record is not None
    real = r.engine.guard_state
    other: list[str] = []

    def guard_state(*, stored: bool = False) -> Any:
        read = real(stored=stored)
        if not stored and not other:
            other.append("ran")
            r.engine._ensure_started(record)  # the other thread, all the way through
        return read

    monkeypatch.setattr(r.engine, "guard_state", guard_state)
    r.engine._ensure_started(record)
    assert other == ["ran"]
    state, _ = real()
    assert len(state.in_flight) == 1 and len(state.actions) == 1


def test_a_change_before_the_decision_is_not_taken_for_one_after_it_with_clocks_apart(
    tmp_path: Path,
) -> None:
    """The API server's clock runs 40 s ahead of the daemon's: the person's rollout just
    before the decision (the one that caused the incident) is stamped after the
    decision's time. The plan read it: the run is not superseded; a change after it is."""
    r = runbook_rig(tmp_path)
    r.sim.workloads[WEB].last_human_change_at = r.clock.now() + 40  # seconds ago, by its clock
    decision = _approved(r)
    r.run(60)
    assert status_of(r, decision) == "verifying"
    assert [i.step for i in r.ledger.intents()] == [0, 1]


def test_a_change_after_the_plan_read_the_target_supersedes_it_with_clocks_apart(
    tmp_path: Path,
) -> None:
    r = runbook_rig(tmp_path)
    r.sim.workloads[WEB].last_human_change_at = r.clock.now() + 40
    decision = _approved(r)
    r.sim.workloads[WEB].last_human_change_at = r.clock.now() + 41  # changed again since
    r.run(60)
    assert r.ledger.intents() == []
    assert status_of(r, decision) == "superseded"


def test_a_run_a_guard_held_past_approved_max_wait_says_the_guard_not_the_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closed for its age, the run held by its runbook's open breaker is handed to a
    person with what held it: not "the ledger could not record its first intent", which
    sends them to look at a database that answered all along."""
    r = runbook_rig(tmp_path)
    decision, key = _claimed_unwritten(r, monkeypatch)
    monkeypatch.undo()
    limit = r.engine.limits.approved_max_wait
    for _ in range(int(limit // 600) + 2):
        _open_breaker(r)  # opened again and again: it never goes half-open
        r.run(600)
    assert r.ledger.intents(execution_key=key) == []
    assert status_of(r, decision) == "expired"
    (closed,) = [f for f in r.ledger.feedback_for(decision) if f["kind"] == "execution"]
    why = closed["detail"]["why"]
    assert "a guard held it before its first write (circuit-breaker)" in why, why
    assert "ledger" not in why
