"""One run whose settling fails does not stop the others (``settle_unsettled``).

A run held by a write whose outcome nobody could read is looked at again each cycle.
An error that is not a ``TransientError`` raised while settling one of them used to end
the cycle, at every cycle: no other run was settled, and nothing approved ran. It is
now logged with the run and its traceback, counted in
``autonomic_errors_total{kind="Unexpected"}``, and the others go on; the run stays as it
is (its write may have happened), looked at again at the next cycle."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from agent.executor import StepOutcome
from agent.ledger import Intent
from remediation.ports import operation_to_dict
from tests.unit.engine.harness import Rig, status_of
from tests.unit.engine.test_execute_each import API, _cycle, _two_approved, _unexpected


def _two_unsettled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Rig, str, str]:
    """Two runs whose step 0 write the API did not answer, nor a read after it: each
    intent left pending, as ``Executor.apply`` leaves it ("unsettled")."""
    r, first, second = _two_approved(tmp_path)

    def apply(key: str, step: int, operation: Any, **kwargs: Any) -> StepOutcome:
        before = r.executor.writer.snapshot(operation)
        intent = r.ledger.record_intent(
            key,
            step,
            operation_to_dict(operation),
            before,
            "test",
            r.clock.now(),
            kwargs["decision_id"],
        )
        return StepOutcome("unsettled", "the API did not answer, nor a read after", intent)

    monkeypatch.setattr(r.executor, "apply", apply)
    _cycle(r)
    monkeypatch.undo()
    for decision in (first, second):
        (intent,) = r.ledger.intents(decision_id=decision)
        assert intent.status == "pending"
    return r, first, second


def test_a_run_whose_settling_fails_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    r, first, second = _two_unsettled(tmp_path, monkeypatch)
    real = r.executor.settle

    def settle(intent: Intent, *, note: str) -> str:
        if intent.decision_id == first:
            raise RuntimeError("a bug in settling")
        return real(intent, note=note)

    monkeypatch.setattr(r.executor, "settle", settle)
    caplog.set_level(logging.ERROR, logger="autonomic.remediation")
    _cycle(r)  # raised here before, at every cycle: the second never settled
    other = r.ledger.intents(decision_id=second)[0]
    assert other.status == "abandoned"  # the cluster shows it was not written
    assert status_of(r, second) in ("failed", "undone")
    assert status_of(r, first) == "executing"
    (pending,) = r.ledger.intents(decision_id=first)
    assert pending.status == "pending"
    assert _unexpected(r) == 1.0
    (said,) = [rec for rec in caplog.records if first in rec.getMessage()]
    assert said.exc_info is not None
    assert "RuntimeError: a bug in settling" in said.getMessage()
    _cycle(r)
    assert _unexpected(r) == 2.0  # looked at again, said again; not closed
    monkeypatch.undo()
    _cycle(r)
    (settled,) = r.ledger.intents(decision_id=first)
    assert settled.status == "abandoned"
    assert status_of(r, first) in ("failed", "undone")
    assert _unexpected(r) == 2.0
    assert r.sim.workloads[API].replicas == 3
