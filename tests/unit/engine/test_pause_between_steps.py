"""A pause that comes while a multi-step run is being written: the step in flight
finishes, the next is not started, the ledger says where the run stopped, a restart
neither repeats nor loses a step, and the run goes on once the pause ends (or, stopped
longer than ``safety.approvedMaxWait``, is closed and handed to a person)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.executor import StepOutcome
from agent.pause import pause, resume
from tests.unit.engine.harness import WEB, Rig, latency_anomaly, restarted, runbook_rig


def _rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Rig:
    """A two-step runbook; a person pauses Autonomic while its first step is written."""
    r = runbook_rig(tmp_path)
    real = r.executor.apply

    def apply(key: str, step: int, *args: Any, **kwargs: Any) -> StepOutcome:
        outcome = real(key, step, *args, **kwargs)
        if step == 0:
            pause(r.ledger, by="alice", reason="restarts loop on shop", now=r.clock.now())
        return outcome

    monkeypatch.setattr(r.executor, "apply", apply)
    return r


def _stopped(r: Rig) -> tuple[str, str]:
    """The run the pause stopped: (decision id, execution key), checked as stopped."""
    (execution,) = r.ledger.executions(["paused"])
    record = r.ledger.get_decision(execution["decision_id"])
    assert record is not None and record.status == "executing"
    intents = r.ledger.intents(execution_key=execution["key"])
    assert [(i.step, i.status) for i in intents] == [(0, "applied")]
    return record.id, execution["key"]


def test_a_pause_stops_a_run_between_two_steps_and_resume_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    r = _rig(tmp_path, monkeypatch)
    handled = latency_anomaly(r, WEB, run=120)
    assert handled.outcome == "decided"
    decision, key = _stopped(r)
    assert r.sim.workloads[WEB].replicas == 4  # step 0 written: one replica added
    (stop,) = [f for f in r.ledger.feedback_for(decision) if f["outcome"] == "paused"]
    assert stop["detail"]["next_step"] == 1 and stop["detail"]["steps"] == 2
    assert "paused by alice" in stop["detail"]["pause"]
    assert stop["detail"]["why"].startswith(
        "stopped by the pause with 1 of its 2 steps written (scale); the next, step 1 "
        "(rollout_restart), was not started: paused by alice"
    )
    # while paused, and across a restart, nothing more is written
    r.run(600)
    r = restarted(r)
    assert r.engine.recover() == {"deferred": 1}
    r.run(600)
    assert _stopped(r) == (decision, key)
    # a person sees where it stopped, and is told it goes on
    ledger = ["--ledger", str(tmp_path / "ledger.sqlite")]
    capsys.readouterr()
    assert main(["pause", "--status", *ledger]) == 0
    said = f"latency-scale-restart on {WEB}, stopped at"
    assert said in capsys.readouterr().out
    monkeypatch.undo()
    resume(r.ledger, by="bob", now=r.clock.now())
    # resumed: the next cycle writes step 1, and only step 1
    r.run(30)
    intents = r.ledger.intents(execution_key=key)
    assert [(i.step, i.status) for i in intents] == [(0, "applied"), (1, "applied")]
    assert r.ledger.executions(["paused"]) == []
    assert [f["outcome"] for f in r.ledger.feedback_for(decision) if f["kind"] == "execution"] == [
        "paused",
        "resumed",
    ]
    record = r.ledger.get_decision(decision)
    assert record is not None and record.status == "verifying"


def test_a_run_stopped_longer_than_approved_max_wait_is_closed_not_carried_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    r = _rig(tmp_path, monkeypatch)
    latency_anomaly(r, WEB, run=120)
    decision, key = _stopped(r)
    r.run(2 * 3600)
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["resume", "--ledger", str(tmp_path / "ledger.sqlite")]) == 0
    out = capsys.readouterr().out
    assert "go on with their next step at the next remediation cycle" in out
    assert f"latency-scale-restart on {WEB}, stopped at" in out
    r.clock.set(time.time())  # the CLI resumed at the wall clock's now: days later
    r.run(30)
    intents = r.ledger.intents(execution_key=key)
    assert [(i.step, i.status) for i in intents] == [(0, "undone")]  # step 1 never written
    assert r.sim.workloads[WEB].replicas == 3
    record = r.ledger.get_decision(decision)
    assert record is not None and record.status == "undone"
    (failed,) = [f for f in r.ledger.feedback_for(decision) if f["kind"] == "verification"]
    assert failed["outcome"] == "inconclusive"  # a pause says nothing about the runbook
    assert "longer than safety.approvedMaxWait" in failed["detail"]["why"]


def test_a_stopped_run_says_what_a_person_can_do_and_undo_is_not_offered_falsely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stop's sentence is read by the person who paused, in the decision's thread and
    in `explain`: what it tells them to do must work. `autonomic undo` refuses a decision
    still executing (its run stopped between steps is), so the sentence must not send
    them to it."""
    r = _rig(tmp_path, monkeypatch)
    latency_anomaly(r, WEB, run=120)
    decision, _ = _stopped(r)
    (stop,) = [f for f in r.ledger.feedback_for(decision) if f["outcome"] == "paused"]
    why = stop["detail"]["why"]
    capsys.readouterr()
    code = main(["undo", decision, "--ledger", str(tmp_path / "ledger.sqlite")])
    out = capsys.readouterr()
    assert code != 0 and "is executing" in out.err + out.out  # refused, as it should be
    assert "or undoes it (`autonomic undo`)" not in why
    assert "`autonomic undo` refuses it while it is stopped" in why


def test_a_ledger_failure_as_a_stopped_run_resumes_leaves_it_for_the_next_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``resume_stopped`` takes the run (execution ``paused`` -> ``running``) and then
    writes to the ledger before going on. A ledger failure in between must not leave it
    ``running`` with nothing to carry it on (recovery runs only at a new leadership
    term): the next cycle takes it up again."""
    from agent.errors import TransientError

    r = _rig(tmp_path, monkeypatch)
    latency_anomaly(r, WEB, run=120)
    decision, key = _stopped(r)
    monkeypatch.undo()
    resume(r.ledger, by="bob", now=r.clock.now())
    real = r.ledger.add_feedback
    failed: list[str] = []

    def add_feedback(decision_id: str, kind: str, outcome: str, *args: Any, **kw: Any) -> Any:
        if outcome == "resumed" and not failed:
            failed.append(decision_id)
            raise TransientError("the ledger at sqlite:///x write failed: disk I/O error")
        return real(decision_id, kind, outcome, *args, **kw)

    monkeypatch.setattr(r.ledger, "add_feedback", add_feedback)
    r.clock.advance(1)  # the engine reads the pause once per instant of its clock
    with pytest.raises(TransientError):
        r.engine.resume_stopped()
    assert failed == [decision]
    assert [e["key"] for e in r.ledger.executions(["paused"])] == [key]  # not left running
    r.run(30)  # the next cycles: taken up and carried on
    intents = r.ledger.intents(execution_key=key)
    assert [(i.step, i.status) for i in intents] == [(0, "applied"), (1, "applied")]
    record = r.ledger.get_decision(decision)
    assert record is not None and record.status == "verifying"
