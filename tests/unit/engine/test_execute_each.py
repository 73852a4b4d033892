"""One approved decision whose handling fails does not stop the others.

An error that is not a ``TransientError`` (a bug, a stored proposal that cannot be read,
a runbook changed so that its plan cannot be built) raised while handling one approved
decision used to end the cycle's ``execute_approved``; raised again at every cycle, no
other approved decision ever ran. It is now logged with the decision's id and its
traceback, counted in ``autonomic_errors_total{kind="Unexpected"}``, and the other
decisions go on; at ``EXECUTE_ATTEMPTS`` cycles in a row with the same error, before its
run is claimed, it is closed as failed (nothing written) and handed to a person, once. A
``TransientError`` still ends the cycle, and a run already claimed is the recovery's."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.errors import TransientError
from agent.executor import StepOutcome
from agent.ledger.schema import tables
from agent.remediation_engine import EXECUTE_ATTEMPTS
from remediation.ports import ObjectRef
from tests.unit.engine.harness import (
    SCALE_RESTART,
    WEB,
    Rig,
    latency_anomaly,
    restarted,
    runbook_rig,
    status_of,
    web,
)

API = ObjectRef("Deployment", "api", "shop")


class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs in that process."""


def _two_approved(tmp_path: Path) -> tuple[Rig, str, str]:
    """Latency anomalies on web and on api, each decided and approved, not run yet:
    (rig, web's decision, api's), web's made a second after api's (at the same instant
    the ledger's order of the two was the index's, which a new index changed)."""
    r = runbook_rig(
        tmp_path,
        SCALE_RESTART.replace(
            "maxAutonomy: auto", "maxAutonomy: auto\n  guards: {maxConcurrent: 2}"
        ),
    )
    api = web()
    api.ref = API
    api.labels = {"autonomic.dev/enabled": "true", "app": "api"}
    r.sim.add_workload(api)
    latency_anomaly(r, API, run=0)
    r.clock.advance(1)  # web's decision is the newer: the engine runs it first
    latency_anomaly(r, WEB, run=0)
    by_subject = {
        d.subject: d.id for d in r.ledger.decisions(kind="remediation", status=["approved"])
    }
    return r, by_subject[str(WEB)], by_subject[str(API)]


def _break(r: Rig, decision: str) -> None:
    """The decision's stored plan names an operation no version of Autonomic knows."""
    record = r.ledger.get_decision(decision)
    assert record is not None
    proposal = dict(record.proposal, operations=[{"op": "frobnicate", "target": {}}])
    table = tables["decisions"]
    with r.ledger.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == decision).values(proposal=proposal))


def _unexpected(r: Rig) -> float:
    value = r.decisions.metrics.registry.get_sample_value(
        "autonomic_errors_total", {"kind": "Unexpected"}
    )
    return value or 0.0


def _cycle(r: Rig) -> None:
    r.clock.advance(30)
    r.sim.advance(r.clock.now(), {})
    r.engine.cycle()


def test_a_decision_that_fails_to_be_handled_does_not_stop_the_others_and_is_closed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    r, broken, other = _two_approved(tmp_path)
    _break(r, broken)
    caplog.set_level(logging.ERROR, logger="autonomic.remediation")
    _cycle(r)  # raised here before, at every cycle, and the other never ran
    assert status_of(r, other) in ("executing", "verifying")
    assert status_of(r, broken) == "approved"  # tried again at the next cycle
    assert _unexpected(r) == 1.0
    (said,) = [rec for rec in caplog.records if broken in rec.getMessage()]
    assert said.exc_info is not None  # the traceback
    assert f"could not be handled (1 of {EXECUTE_ATTEMPTS} cycles in a row" in said.getMessage()
    assert "ValueError: not an operation" in said.getMessage()
    for _ in range(EXECUTE_ATTEMPTS - 1):
        _cycle(r)
    assert _unexpected(r) == float(EXECUTE_ATTEMPTS)
    assert status_of(r, broken) == "failed"
    assert r.ledger.execution(broken) is None  # never claimed
    assert [i.decision_id for i in r.ledger.intents()] == [other] * 2  # web untouched
    assert r.sim.workloads[WEB].replicas == 3
    rows = r.ledger.feedback_for(broken)
    (closed,) = [f for f in rows if f["outcome"] == "failed"]
    assert closed["kind"] == "execution"
    why = str(closed["detail"]["why"])
    assert why.startswith(
        f"not executed: handling it failed at {EXECUTE_ATTEMPTS} remediation cycles in a "
        "row, before its run was claimed, with ValueError: not an operation: "
    ), why
    assert why.endswith("nothing was written to the cluster"), why
    (escalated,) = [f for f in rows if f["kind"] == "escalation"]
    assert escalated["detail"]["why"].startswith(f"remediation failed: {why}. ")
    for _ in range(4):  # closed for good: not tried, counted or escalated again
        _cycle(r)
    assert _unexpected(r) == float(EXECUTE_ATTEMPTS)
    assert len([f for f in r.ledger.feedback_for(broken) if f["kind"] == "escalation"]) == 1


def test_a_different_error_each_cycle_starts_the_count_again(tmp_path: Path) -> None:
    r, broken, _ = _two_approved(tmp_path)
    real = r.engine.execute
    calls: list[int] = []

    def execute(record: Any, snapshot: Any = None) -> str:
        if record.id != broken:
            return real(record, snapshot)
        calls.append(1)
        raise KeyError(f"field {len(calls)}")

    r.engine.execute = execute  # type: ignore[method-assign]
    for _ in range(EXECUTE_ATTEMPTS + 1):
        _cycle(r)
    assert status_of(r, broken) == "approved"
    assert _unexpected(r) == float(EXECUTE_ATTEMPTS + 1)


def test_a_transient_error_still_ends_the_cycle_and_closes_nothing(tmp_path: Path) -> None:
    r, first, second = _two_approved(tmp_path)
    real = r.engine.execute

    def execute(record: Any, snapshot: Any = None) -> str:
        if record.id == first:
            raise TransientError("the ledger at sqlite:///x failed: disk I/O error")
        return real(record, snapshot)

    r.engine.execute = execute  # type: ignore[method-assign]
    for _ in range(EXECUTE_ATTEMPTS + 1):
        with pytest.raises(TransientError):
            _cycle(r)
    assert (status_of(r, first), status_of(r, second)) == ("approved", "approved")
    assert _unexpected(r) == 0.0


def test_a_run_that_fails_after_its_claim_is_left_to_the_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Step 0 written, then step 1 raises: the run is not closed by the count (it is not
    approved any more), and the recovery carries it on from step 1, writing step 0 once."""
    r, first, second = _two_approved(tmp_path)
    real = r.executor.apply

    def apply(key: str, step: int, *args: Any, **kwargs: Any) -> StepOutcome:
        if kwargs.get("decision_id") == first and step == 1:
            raise RuntimeError("a bug in step 1")
        return real(key, step, *args, **kwargs)

    monkeypatch.setattr(r.executor, "apply", apply)
    for _ in range(EXECUTE_ATTEMPTS + 1):
        _cycle(r)
    monkeypatch.undo()
    assert status_of(r, first) == "executing"
    assert status_of(r, second) in ("executing", "verifying", "verified")
    assert [i.step for i in r.ledger.intents(decision_id=first)] == [0]
    r = restarted(r)
    assert r.engine.recover()["resumed"] == 1
    assert [i.step for i in r.ledger.intents(decision_id=first)] == [0, 1]
    assert status_of(r, first) == "verifying"


def test_a_crash_between_closing_and_escalating_is_escalated_by_the_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r, broken, _ = _two_approved(tmp_path)
    _break(r, broken)
    for _ in range(EXECUTE_ATTEMPTS - 1):
        _cycle(r)

    def escalate(*_args: Any) -> str:
        raise _Killed

    monkeypatch.setattr(r.decisions.approvals, "escalate", escalate)
    with pytest.raises(_Killed):
        _cycle(r)
    monkeypatch.undo()
    assert status_of(r, broken) == "failed"
    assert [f for f in r.ledger.feedback_for(broken) if f["kind"] == "escalation"] == []
    r = restarted(r)
    assert r.engine.recover()["escalated"] == 1
    assert r.engine.recover()["escalated"] == 0
    (escalated,) = [f for f in r.ledger.feedback_for(broken) if f["kind"] == "escalation"]
    assert "remediation failed: not executed: handling it failed" in escalated["detail"]["why"]
