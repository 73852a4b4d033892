"""One stopped run whose resumption fails does not stop the others (``resume_stopped``).

Runs a pause stopped between two steps go on once the pause ends. An error that is not a
``TransientError`` raised while resuming one of them used to end the cycle, at every
cycle: no other stopped run went on, and nothing approved ran. It is now logged with the
run and its traceback, counted in ``autonomic_errors_total{kind="Unexpected"}``, the run
put back as stopped (taken up again at the next cycle, no step written twice), and the
others go on."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from agent.errors import TransientError
from tests.unit.engine.harness import Rig, status_of
from tests.unit.engine.test_execute_each import _cycle, _unexpected
from tests.unit.engine.test_recover_each import _two_cut_short


def _two_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Rig, str, str]:
    """Two runs with step 0 written and step 1 not, each stopped as ``_stop`` stops a
    run when a pause comes between its steps (the pause since ended)."""
    r, first, second = _two_cut_short(tmp_path, monkeypatch)
    for execution in r.ledger.executions(["running"]):
        assert r.ledger.set_execution_status(execution["key"], ["running"], "paused", r.clock.now())
    return r, first, second


def _fail_resuming(r: Rig, monkeypatch: pytest.MonkeyPatch, decision: str, exc: Exception) -> None:
    real = r.engine._resume_one

    def resume_one(record: Any, *args: Any) -> None:
        if record.id == decision:
            raise exc
        real(record, *args)

    monkeypatch.setattr(r.engine, "_resume_one", resume_one)


def test_a_stopped_run_whose_resumption_fails_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    r, first, second = _two_stopped(tmp_path, monkeypatch)
    _fail_resuming(r, monkeypatch, first, RuntimeError("a bug in resuming"))
    caplog.set_level(logging.ERROR, logger="autonomic.remediation")
    _cycle(r)  # raised here before, at every cycle: the second never went on
    assert [i.step for i in r.ledger.intents(decision_id=second)] == [0, 1]
    assert status_of(r, second) == "verifying"
    (stopped,) = r.ledger.executions(["paused"])
    assert stopped["decision_id"] == first  # put back, as it was
    assert _unexpected(r) == 1.0
    (said,) = [rec for rec in caplog.records if first in rec.getMessage()]
    assert said.exc_info is not None
    assert "RuntimeError: a bug in resuming" in said.getMessage()
    _cycle(r)
    assert _unexpected(r) == 2.0
    monkeypatch.undo()
    _cycle(r)  # fixed: goes on with step 1, step 0 not written again
    assert [i.step for i in r.ledger.intents(decision_id=first)] == [0, 1]
    assert status_of(r, first) == "verifying"
    assert _unexpected(r) == 2.0


def test_a_transient_error_still_ends_the_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r, first, _ = _two_stopped(tmp_path, monkeypatch)
    _fail_resuming(r, monkeypatch, first, TransientError("the ledger at sqlite:///x failed"))
    with pytest.raises(TransientError):
        _cycle(r)
    assert len(r.ledger.executions(["paused"])) == 2
    assert _unexpected(r) == 0.0
