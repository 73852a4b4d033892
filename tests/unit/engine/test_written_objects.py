"""The objects a run writes besides its target survive the guard state's trip through the
ledger, and an approved decision waiting to start (its stored proposal's stub) sees a
run writing its target as busy, as ``TargetBusy`` judges a new plan."""

from __future__ import annotations

from agent.remediation_engine import _guard_from_json, _guard_to_json, _plan_stub
from remediation.guards import ActionRecord, GuardState, acts_on_same
from remediation.ports import ObjectRef, RollbackToPrevious, operation_to_dict
from tests.unit.engine.harness import WEB

CANARY = ObjectRef("Deployment", "web-canary", "shop")


def test_writes_round_trip_and_old_records_read_as_before() -> None:
    promote = ActionRecord("canary-promote", CANARY, 100.0, writes=(WEB,))
    state = GuardState(actions=(promote, ActionRecord("rb", WEB, 200.0)), in_flight=(promote,))
    data = _guard_to_json(state)
    assert data["actions"][0]["writes"] == [
        {"kind": "Deployment", "name": "web", "namespace": "shop"}
    ]
    assert "writes" not in data["actions"][1]  # nothing written beside its target
    back = _guard_from_json(data)
    assert back.actions == state.actions and back.in_flight == state.in_flight
    assert back.in_flight[0].objects == (CANARY, WEB)


def test_an_approved_rollback_waits_for_the_promotion_writing_its_target() -> None:
    class _Runbook:
        name = "crashloop-after-rollout-rollback"

    proposal = {"operations": [operation_to_dict(RollbackToPrevious(WEB, 2))], "disruption": {}}
    stub = _plan_stub(_Runbook(), WEB, proposal, 0.0)  # type: ignore[arg-type]
    state = _guard_from_json(
        _guard_to_json(
            GuardState(in_flight=(ActionRecord("canary-promote", CANARY, 100.0, writes=(WEB,)),))
        )
    )
    assert acts_on_same(state.in_flight[0], stub)
