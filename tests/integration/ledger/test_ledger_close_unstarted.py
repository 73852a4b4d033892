"""A run closed with nothing written (``RemediationEngine._close_unstarted``: its object
replaced since the plan, its signal over, held past ``approvedMaxWait``...) is closed only
while no write-ahead intent is under it, the look and the closing one ledger transaction
(``Ledger.close_unstarted``), the run's row locked as ``record_intent`` locks it.

Before, the engine looked for an intent, then closed the decision and the run in separate
steps: a writer of the run's step (a replica that lost its lease mid-step, a recovery on
another thread) that recorded its intent in between left the run closed ``expired`` or
``superseded`` with an intent under it, and its write was never judged, verified or
undone. On SQLite and on a real PostgreSQL (``CI=true``)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.executor import Executor
from agent.ledger import Decision, Feedback, Ledger, open_ledger
from agent.remediation_engine import FOREIGN_MARK_AFTER
from remediation.ports import operation_from_dict
from tests.unit.engine.harness import WEB, Rig, latency_anomaly, runbook_rig

NOW = 1_800_000_000.0
KEY = "remediation/shop/web/1"


def _claimed(ledger: Ledger) -> str:
    """A remediation decision whose run is claimed under ``KEY``, no intent yet."""
    decision_id = ledger.record_decision(
        Decision(
            kind="remediation",
            decision_type="latency-scale-restart",
            subject="Deployment/shop/web",
            proposal={"runbook": "latency-scale-restart"},
            confidence=0.9,
            reason_code="LatencyHigh",
            reason="p99 latency up",
            evidence={},
            model_version="rb@1",
            route="auto",
            status="approved",
        ),
        NOW,
    )
    assert ledger.claim_execution(KEY, decision_id, "latency-scale-restart", "web", "a", NOW)
    assert ledger.transition(decision_id, ["approved"], "executing", NOW)
    return decision_id


def _closing(decision_id: str) -> Feedback:
    return Feedback(decision_id, "execution", "superseded", "autonomic", {"why": "test"})


def _status(ledger: Ledger, decision_id: str) -> str:
    record = ledger.get_decision(decision_id)
    assert record is not None
    return record.status


def test_an_intent_recorded_before_the_closing_keeps_the_decision_open(
    two: tuple[Ledger, Ledger],
) -> None:
    ledger, other = two
    decision_id = _claimed(ledger)
    assert other.record_intent(KEY, 0, {"op": "scale"}, {}, "b", NOW + 1, decision_id)

    closed = ledger.close_unstarted(
        KEY, decision_id, ["executing"], "superseded", NOW + 2, feedback=[_closing(decision_id)]
    )

    assert closed == "written"
    assert _status(ledger, decision_id) == "executing"
    assert ledger.feedback_for(decision_id) == []  # no closing said


def test_an_intent_after_the_closing_is_refused(two: tuple[Ledger, Ledger]) -> None:
    ledger, other = two
    decision_id = _claimed(ledger)

    closed = ledger.close_unstarted(
        KEY, decision_id, ["executing"], "expired", NOW + 2, feedback=[_closing(decision_id)]
    )

    assert closed == "closed"
    assert _status(ledger, decision_id) == "expired"
    execution = ledger.execution(KEY)
    assert execution is not None and execution["status"] == "running"  # closed after
    assert other.record_intent(KEY, 0, {"op": "scale"}, {}, "b", NOW + 3, decision_id) is None
    assert ledger.intents(execution_key=KEY) == []
    lost = ledger.close_unstarted(KEY, decision_id, ["executing"], "superseded", NOW + 4)
    assert lost == "lost"


def test_an_intent_racing_the_closing_waits_for_it_and_is_refused(
    two: tuple[Ledger, Ledger],
) -> None:
    """The other writer's ``record_intent`` starts just after the closing looked for
    intents and before it closes the decision: it waits for the closing's transaction
    (the run's row locked), then finds the decision closed, and records nothing."""
    ledger, other = two
    decision_id = _claimed(ledger)
    recorded: list[int | None] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            recorded.append(
                other.record_intent(KEY, 0, {"op": "scale"}, {}, "b", NOW + 1, decision_id)
            )
        except BaseException as exc:  # shown by the assertion below
            errors.append(exc)

    writer = threading.Thread(target=write)

    def after(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "FROM intents" in statement and not writer.is_alive() and not recorded:
            writer.start()
            writer.join(timeout=0.5)  # held by the lock: not done before the closing

    sa.event.listen(ledger.engine, "after_cursor_execute", after)
    try:
        closed = ledger.close_unstarted(KEY, decision_id, ["executing"], "superseded", NOW + 2)
    finally:
        sa.event.remove(ledger.engine, "after_cursor_execute", after)
    writer.join(timeout=30)

    assert errors == []
    assert closed == "closed"
    assert recorded == [None]
    assert ledger.intents(execution_key=KEY) == []


def _engine_rig(tmp_path: Path, url: str) -> Rig:
    return runbook_rig(tmp_path, url=url)


def test_a_step_written_between_the_engines_look_and_its_closing_is_carried_on(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica claimed the run and lost its lease before its first intent; past
    ``approvedMaxWait`` this leader closes the run ``expired``, nothing written. That
    replica, still going, writes step 0 (intent, write, result) just after this leader
    looked for an intent and found none. Before: the run and its decision closed
    ``expired`` all the same, the replica added, and nothing judged, verified or undid
    it. Now the run is started: carried on from its written step, and verified."""
    r = _engine_rig(tmp_path, url)
    latency_anomaly(r, WEB, run=0)
    (record,) = r.ledger.decisions(kind="remediation", status=["approved"])
    key = record.incident_key or record.id
    now = r.clock.now()
    runbook = record.proposal["runbook"]
    assert r.ledger.claim_execution(key, record.id, runbook, str(WEB), "replica-b", now)
    assert r.ledger.transition(record.id, ["approved"], "executing", now)
    r.clock.advance(r.engine.limits.approved_max_wait + FOREIGN_MARK_AFTER + 60)

    other_ledger = open_ledger(url, r.clock.now())  # the deposed replica's connection
    deposed = Executor(other_ledger, r.sim, r.clock, owner="replica-b")
    real = r.ledger.intents
    written: list[str] = []

    def intents(**kwargs: Any) -> Any:
        found = real(**kwargs)
        if kwargs.get("execution_key") == key and not found and not written:
            op = operation_from_dict(record.proposal["operations"][0])
            outcome = deposed.apply(
                key, 0, op, decision_id=record.id, runbook=runbook, reason_code="x", message="m"
            )
            written.append(outcome.status)
        return found

    monkeypatch.setattr(r.ledger, "intents", intents)
    try:
        r.engine.cycle()
    finally:
        other_ledger.close()
    monkeypatch.setattr(r.ledger, "intents", real)

    assert written == ["applied"]
    assert r.sim.workloads[WEB].replicas == 4
    execution = r.ledger.execution(key)
    assert execution is not None
    assert execution["status"] not in ("expired", "superseded"), execution  # before: expired
    r.run(300)
    settled = r.ledger.intents(execution_key=key)
    assert [(i.step, i.status) for i in settled] == [(0, "applied"), (1, "applied")]
    final = r.ledger.get_decision(record.id)
    assert final is not None and final.status in ("verifying", "verified"), final.status
    execution = r.ledger.execution(key)
    assert execution is not None and execution["status"] in ("verifying", "succeeded")
    assert r.sim.workloads[WEB].replicas == 4  # the step written once
