"""One finished run, or one asked decision, that the recovery fails to settle does not
stop the recovery.

``recover`` settles the runs a crash left finished but not closed (``_settle_finished``)
and asks the asked decisions that have no question (``_ask_unasked``). An error that is
not a ``TransientError`` in one of them used to end ``recover``: every job of the term
tried it again and failed, and nothing else was recovered or done. It is now logged with
the run or decision and its traceback, counted in
``autonomic_errors_total{kind="Unexpected"}``, and the recovery goes on; each
remediation cycle tries that one again."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.ledger.schema import tables
from tests.unit.engine.harness import Rig, restarted, status_of
from tests.unit.engine.test_execute_each import _cycle, _two_approved, _unexpected


def _two_succeeded(tmp_path: Path) -> tuple[Rig, str, str]:
    """Two runs whose success was recorded on their executions, and a crash before their
    decisions were closed; then a restart."""
    r, first, second = _two_approved(tmp_path)
    _cycle(r)
    for execution in r.ledger.executions(["verifying"]):
        r.ledger.set_execution_status(execution["key"], ["verifying"], "succeeded", r.clock.now())
    assert {e["decision_id"] for e in r.ledger.executions(["succeeded"])} == {first, second}
    return restarted(r), first, second


def test_a_finished_run_that_fails_to_be_settled_does_not_stop_the_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    r, first, second = _two_succeeded(tmp_path)
    real = r.decisions.record_outcome

    def record_outcome(decision_id: str, *args: Any, **kwargs: Any) -> Any:
        if decision_id == first:
            raise RuntimeError("a bug in the outcome")
        return real(decision_id, *args, **kwargs)

    monkeypatch.setattr(r.decisions, "record_outcome", record_outcome)
    caplog.set_level(logging.ERROR, logger="autonomic.remediation")
    counts = r.engine.recover()  # raised here before: the second never settled
    assert counts["settled"] == 1
    assert (status_of(r, first), status_of(r, second)) == ("verifying", "verified")
    assert _unexpected(r) == 1.0
    (said,) = [rec for rec in caplog.records if first in rec.getMessage()]
    assert said.exc_info is not None
    assert said.getMessage().startswith("settling finished run ")
    assert "RuntimeError: a bug in the outcome" in said.getMessage()
    _cycle(r)  # tried again at each cycle
    assert _unexpected(r) == 2.0
    monkeypatch.undo()
    _cycle(r)
    assert status_of(r, first) == "verified"
    _cycle(r)
    assert _unexpected(r) == 2.0


def test_an_asked_decision_that_fails_to_be_asked_does_not_stop_the_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    r, first, second = _two_approved(tmp_path)
    table, questions = tables["decisions"], tables["questions"]
    with r.ledger.engine.begin() as conn:  # asked, their questions lost (an old ledger)
        conn.execute(sa.update(table).where(table.c.id.in_([first, second])).values(status="asked"))
        conn.execute(sa.delete(questions))
    r = restarted(r)
    real = r.decisions.approvals.ask

    def ask(decision_id: str, *args: Any, **kwargs: Any) -> Any:
        if decision_id == first:
            raise RuntimeError("a bug in the question")
        return real(decision_id, *args, **kwargs)

    monkeypatch.setattr(r.decisions.approvals, "ask", ask)
    caplog.set_level(logging.ERROR, logger="autonomic.remediation")
    assert r.engine.recover()["asked"] == 1  # raised here before: the second not asked
    assert [q.decision_id for q in r.ledger.questions()] == [second]
    assert _unexpected(r) == 1.0
    (said,) = [rec for rec in caplog.records if first in rec.getMessage()]
    assert said.exc_info is not None
    assert said.getMessage().startswith(f"asking the missing question of decision {first}")
    _cycle(r)
    assert _unexpected(r) == 2.0
    monkeypatch.undo()
    _cycle(r)  # asked now, once
    assert sorted(q.decision_id for q in r.ledger.questions()) == sorted([first, second])
    _cycle(r)
    assert len(r.ledger.questions()) == 2
