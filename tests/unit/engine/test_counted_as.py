"""What a run counts on for ``maxActionsPerTarget`` (a Pod's workload) survives the
guard state's trip through the ledger, and a stored proposal's stub keeps it, so a
restart, another replica or an approved decision run later count it the same way."""

from __future__ import annotations

from agent.remediation_engine import _guard_from_json, _guard_to_json, _plan_stub
from remediation.guards import ActionRecord, GuardState
from remediation.ports import ObjectRef
from tests.unit.engine.harness import WEB

POD = ObjectRef("Pod", "web-7f9c-abcde", "shop")


def test_counted_as_round_trips_and_old_records_read_as_before() -> None:
    state = GuardState(
        actions=(
            ActionRecord("restart-stuck-pods", POD, 100.0, WEB),
            ActionRecord("crashloop-after-rollout-rollback", WEB, 200.0),
        )
    )
    data = _guard_to_json(state)
    assert "counted_as" not in data["actions"][1]  # nothing written when it is the target
    back = _guard_from_json(data)
    assert back.actions == state.actions
    assert [r.counted_on for r in back.actions] == [WEB, WEB]


def test_a_stored_proposals_stub_keeps_what_its_run_counts_on() -> None:
    class _Runbook:
        name = "restart-stuck-pods"

    proposal = {
        "operations": [],
        "disruption": {"shop": 1},
        "counted_as": {"kind": "Deployment", "name": "web", "namespace": "shop"},
    }
    stub = _plan_stub(_Runbook(), POD, proposal, 0.0)  # type: ignore[arg-type]
    assert stub.counted_as == WEB
    del proposal["counted_as"]  # stored before it was kept
    assert _plan_stub(_Runbook(), POD, proposal, 0.0).counted_as is None  # type: ignore[arg-type]


def test_a_dry_run_mark_round_trips_and_old_records_are_real_actions() -> None:
    state = GuardState(
        actions=(
            ActionRecord("crashloop-dry", WEB, 100.0, dry_run=True),
            ActionRecord("crashloop-after-rollout-rollback", WEB, 200.0),
        )
    )
    data = _guard_to_json(state)
    assert data["actions"][0]["dry_run"] is True and "dry_run" not in data["actions"][1]
    assert _guard_from_json(data).actions == state.actions
