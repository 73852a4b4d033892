"""One requested undo whose handling fails does not stop the others.

An error that is not a ``TransientError`` (a bug, a stored request that cannot be read)
raised while carrying out one undo a person asked for (``autonomic undo``) used to end
the cycle before ``verify_due``, at every cycle: no other undo was carried out, and no
run was verified. It is now logged with the decision's id and its traceback, counted in
``autonomic_errors_total{kind="Unexpected"}``, and the others go on; the request stays
(``undo-requested``), tried again at the next cycle. A ``TransientError`` still ends the
cycle."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from agent.errors import TransientError
from agent.undo import request
from tests.unit.engine.harness import (
    SCALE_RESTART,
    WEB,
    Rig,
    latency_anomaly,
    runbook_rig,
    status_of,
    web,
)
from tests.unit.engine.test_execute_each import API, _cycle, _unexpected


def _two_undo_requested(tmp_path: Path) -> tuple[Rig, str, str]:
    """Two verified runs (web, api), and an undo requested on each."""
    scale_only = SCALE_RESTART.replace("    - {type: rolloutRestart}\n", "").replace(
        "maxAutonomy: auto", "maxAutonomy: auto\n  guards: {maxConcurrent: 2}"
    )
    r = runbook_rig(tmp_path, scale_only, file="latency-scale.yaml")
    api = web()
    api.ref = API
    api.labels = {"autonomic.dev/enabled": "true", "app": "api"}
    r.sim.add_workload(api)
    latency_anomaly(r, WEB, run=0)
    latency_anomaly(r, API, run=0)
    first, second = (d.id for d in r.ledger.decisions(kind="remediation"))
    for _ in range(10):
        _cycle(r)
    for decision in (first, second):
        record = r.ledger.get_decision(decision)
        assert record is not None and record.status == "verified"
        request(r.ledger, record, actor="alice", reason=None, at=r.clock.now())
    return r, first, second


def _undo_fails(r: Rig, monkeypatch: pytest.MonkeyPatch, decision: str, error: Exception) -> None:
    real = r.engine._undo_one

    def undo_one(record: Any) -> str:
        if record.id == decision:
            raise error
        return real(record)

    monkeypatch.setattr(r.engine, "_undo_one", undo_one)


def test_an_undo_that_fails_to_be_handled_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    r, first, second = _two_undo_requested(tmp_path)
    _undo_fails(r, monkeypatch, first, RuntimeError("a bug in the undo"))
    caplog.set_level(logging.ERROR, logger="autonomic.remediation")
    _cycle(r)  # raised here before, at every cycle: the other undo never carried out
    assert (status_of(r, first), status_of(r, second)) == ("undo-requested", "undone")
    assert _unexpected(r) == 1.0
    (said,) = [rec for rec in caplog.records if first in rec.getMessage()]
    assert said.exc_info is not None
    assert said.getMessage().startswith(f"the undo requested of decision {first} failed: ")
    assert "RuntimeError: a bug in the undo" in said.getMessage()
    assert "it stays requested, tried again at the next cycle" in said.getMessage()
    _cycle(r)
    assert _unexpected(r) == 2.0
    monkeypatch.undo()
    _cycle(r)  # fixed: carried out
    assert status_of(r, first) == "undone"


def test_a_transient_error_in_an_undo_still_ends_the_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r, first, _ = _two_undo_requested(tmp_path)
    _undo_fails(r, monkeypatch, first, TransientError("the ledger failed: disk I/O error"))
    with pytest.raises(TransientError):
        _cycle(r)
    assert _unexpected(r) == 0.0
    assert status_of(r, first) == "undo-requested"
