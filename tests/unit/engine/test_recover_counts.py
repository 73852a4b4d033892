"""What ``recover`` reports of a run it found ``running`` is what became of it: a run
another failure of it closed while this recovery was failing it (``closed-elsewhere``)
was neither resumed nor failed here, and one left for the next leader (this replica no
longer leads) was not resumed either. Before, both were counted ``resumed``."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.ledger import Feedback
from agent.remediation_engine import RemediationEngine
from tests.unit.engine.harness import Rig, restarted, runbook_rig
from tests.unit.engine.test_defer_unread import _approved, _escalations
from tests.unit.engine.test_fail_once import _one_step_written


def _step_zero_failed(r: Rig, monkeypatch: pytest.MonkeyPatch) -> tuple[Rig, str, str]:
    """A run left ``running`` with step 0's intent ``failed``, and a restarted engine:
    its recovery fails the run (``_carry_on``)."""
    decision = _approved(r, "auto")
    key = _one_step_written(r, monkeypatch)
    monkeypatch.undo()
    (intent,) = r.ledger.intents(execution_key=key)
    assert r.ledger.finish_intent(intent.id, "failed", r.clock.now(), expected=["applied"])
    return restarted(r), decision, key


def test_a_run_another_failure_closed_meanwhile_is_not_counted_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r, decision, key = _step_zero_failed(runbook_rig(tmp_path), monkeypatch)
    told = _escalations(r, monkeypatch)
    real = r.ledger.set_execution_status
    record = r.ledger.get_decision(decision)
    assert record is not None
    other = RemediationEngine(
        runbooks=list(r.engine.runbooks.values()),
        ledger=r.ledger,
        decisions=r.decisions,
        executor=r.executor,
        reader=r.sim,
        clock=r.clock,
        limits=r.engine.limits,
    )
    started: list[bool] = []
    others: list[str] = []

    def closed_first(
        key_: str, expected: list[str], status: str, now: float, verdict: Feedback | None = None
    ) -> bool:
        # Just before the recovery closes the run, another failure of it (a second
        # thread's, or the old leader's last cycle) runs whole and closes it.
        if status in ("failed", "undone") and not started:
            started.append(True)  # its own close comes through here too
            others.append(other._fail(record, key, "the other failure"))
        return bool(real(key_, expected, status, now, verdict))

    monkeypatch.setattr(r.ledger, "set_execution_status", closed_first)
    counts = r.engine.recover()

    assert others == ["failed"]
    assert counts["resumed"] == 0  # before: 1
    assert counts["elsewhere"] == 1
    assert counts["failed"] == 0
    assert len(told) == 1  # the other failure's escalation, once
    assert r.ledger.execution(key)["status"] == "escalated"  # type: ignore[index]


def test_a_run_left_for_the_next_leader_is_not_counted_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease lost while recovering: the failure is left whole to the next leader."""
    r, _, key = _step_zero_failed(runbook_rig(tmp_path), monkeypatch)
    monkeypatch.setattr(r.executor, "is_leader", lambda: False)
    counts = r.engine.recover()
    assert counts["resumed"] == 0  # before: 1
    assert counts["left"] == 1
    assert r.ledger.execution(key)["status"] == "running"  # type: ignore[index]
