"""One run whose recovery fails does not stop the recovery of the others.

An error that is not a ``TransientError`` (a bug, a stored plan that cannot be read)
raised while recovering one run a crash left ``running`` used to end ``recover``; the
daemon's every job begins with it (``Daemon.leading``), so each tried it again and
failed, and no other run was recovered, nor anything else done, for the whole term. It
is now logged with the run and its traceback, counted in
``autonomic_errors_total{kind="Unexpected"}``, and the recovery goes on; the run stays
``running`` and each cycle recovers it again, from what its intents show: no step is
written twice and none is lost."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from agent.executor import StepOutcome
from agent.remediation_engine import STUCK_AFTER, STUCK_KIND
from tests.unit.engine.harness import Rig, restarted, status_of
from tests.unit.engine.test_execute_each import _break, _cycle, _two_approved, _unexpected


class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs in that process."""


def _two_cut_short(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Rig, str, str]:
    """Two runs with their step 0 written, killed before step 1, and a restart."""
    r, first, second = _two_approved(tmp_path)
    real = r.executor.apply

    def apply(key: str, step: int, *args: Any, **kwargs: Any) -> StepOutcome:
        if step == 1:
            raise _Killed
        return real(key, step, *args, **kwargs)

    monkeypatch.setattr(r.executor, "apply", apply)
    for _ in range(2):  # each cycle kills the process at the first run's step 1
        with pytest.raises(_Killed):
            _cycle(r)
        r = restarted(r)
        monkeypatch.setattr(r.executor, "apply", apply)
    monkeypatch.undo()
    for decision in (first, second):
        assert [i.step for i in r.ledger.intents(decision_id=decision)] == [0]
    return r, first, second


def test_a_run_whose_recovery_fails_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    r, first, second = _two_cut_short(tmp_path, monkeypatch)
    real = r.engine._carry_on

    def carry_on(record: Any, key: str, why: str) -> str:
        if record.id == first:
            raise RuntimeError("a bug in the recovery")
        return real(record, key, why)

    monkeypatch.setattr(r.engine, "_carry_on", carry_on)
    caplog.set_level(logging.ERROR, logger="autonomic.remediation")
    counts = r.engine.recover()  # raised here before, and the second was never resumed
    assert (counts["resumed"], counts["unrecovered"]) == (1, 1)
    assert [i.step for i in r.ledger.intents(decision_id=second)] == [0, 1]
    assert status_of(r, second) == "verifying"
    assert _unexpected(r) == 1.0
    (said,) = [rec for rec in caplog.records if first in rec.getMessage()]
    assert said.exc_info is not None
    assert "RuntimeError: a bug in the recovery" in said.getMessage()
    assert "each remediation cycle recovers it again" in said.getMessage()
    _cycle(r)  # still failing: tried again, counted again, nothing written
    assert _unexpected(r) == 2.0
    assert [i.step for i in r.ledger.intents(decision_id=first)] == [0]
    assert status_of(r, first) == "executing"
    monkeypatch.undo()
    _cycle(r)  # fixed: carried on from step 1, step 0 not written again
    assert [i.step for i in r.ledger.intents(decision_id=first)] == [0, 1]
    assert status_of(r, first) == "verifying"
    _cycle(r)
    assert _unexpected(r) == 2.0


def test_a_run_whose_plan_cannot_be_read_is_reported_at_each_cycle(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    r, first, second = _two_cut_short(tmp_path, monkeypatch)
    _break(r, first)
    assert r.engine.recover()["unrecovered"] == 1
    assert status_of(r, second) == "verifying"
    for times in range(2, 5):
        _cycle(r)
        assert _unexpected(r) == float(times)
    assert status_of(r, first) == "executing"  # not closed: step 0 is written
    (execution,) = r.ledger.executions(["running"])
    assert execution["decision_id"] == first


def test_a_run_whose_recovery_keeps_failing_is_handed_to_a_person_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r, first, second = _two_cut_short(tmp_path, monkeypatch)
    (execution,) = [e for e in r.ledger.executions(["running"]) if e["decision_id"] == first]
    real = r.engine._carry_on

    def carry_on(record: Any, key: str, why: str) -> str:
        if record.id == first:
            raise RuntimeError("a bug in the recovery")
        return real(record, key, why)

    monkeypatch.setattr(r.engine, "_carry_on", carry_on)
    assert r.engine.recover()["unrecovered"] == 1  # the first failure
    assert status_of(r, second) == "verifying"  # the other one recovered
    since = r.clock.now()

    def escalations() -> list[dict[str, Any]]:
        return [f for f in r.ledger.feedback_for(first) if f["kind"] == "escalation"]

    while r.clock.now() + 30 - since < STUCK_AFTER:  # failing each cycle: not 10 min yet
        _cycle(r)
    assert escalations() == []
    _cycle(r)  # 10 minutes: before, only the error line at each cycle, for ever
    (escalated,) = escalations()
    why = escalated["detail"]["why"]
    assert why.startswith(f"remediation stuck: run {execution['key']} of decision {first} (")
    assert "its recovery after a restart" in why and "has failed at 21 remediation" in why
    assert "last with RuntimeError: a bug in the recovery" in why
    assert "The run is left as it is, running, as the restart left it: nothing was undone" in why
    (stuck,) = [f for f in r.ledger.feedback_for(first) if f["kind"] == STUCK_KIND]
    assert stuck["detail"]["failing"] == "recovery"
    for _ in range(25):  # still failing: recovered again at each cycle, not escalated again
        _cycle(r)
    r = restarted(r)  # a new term: the ledger says it was escalated
    monkeypatch.setattr(r.engine, "_carry_on", carry_on)
    r.engine.recover()
    for _ in range(25):
        _cycle(r)
    assert len(escalations()) == 1
    assert status_of(r, first) == "executing"  # left as it is: nothing undone, not closed
    assert [i.step for i in r.ledger.intents(decision_id=first)] == [0]
    monkeypatch.undo()
    _cycle(r)  # fixed: carried on from step 1
    assert [i.step for i in r.ledger.intents(decision_id=first)] == [0, 1]
