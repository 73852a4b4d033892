"""An approved decision about a Pod waits while a run on its workload (or another of its
pods) is in flight, as ``TargetBusy`` holds it when deciding: the approval can come long
after the question, and the execution-time check used to compare the target's name only,
so a pod of a workload being rolled back could be deleted under the rollback."""

from __future__ import annotations

from pathlib import Path

from remediation.guards import ActionRecord, GuardState
from remediation.ports import ObjectRef
from tests.unit.engine.harness import WEB, rig

STUCK = ObjectRef("Pod", "web-aaaa", "shop")
PROPOSAL = {
    "operations": [],
    "disruption": {"shop": 1},
    "counted_as": {"kind": "Deployment", "name": "web", "namespace": "shop"},
}


def test_an_approved_pod_run_waits_for_a_run_on_its_workload(tmp_path: Path) -> None:
    r = rig(tmp_path)
    runbook = r.engine.runbooks["restart-stuck-pods"]
    now = r.clock.now()

    def waiting(*in_flight: ActionRecord) -> str | None:
        state = GuardState(in_flight=in_flight)
        return r.engine._waiting(state, runbook, STUCK, now, PROPOSAL)

    assert waiting() is None
    assert waiting(ActionRecord("crashloop-after-rollout-rollback", WEB, now)) == (
        "waiting-concurrency"
    )
    sibling = ObjectRef("Pod", "web-bbbb", "shop")
    assert waiting(ActionRecord("evict-pods", sibling, now, WEB)) == "waiting-concurrency"
    other = ObjectRef("Deployment", "api", "shop")
    assert waiting(ActionRecord("crashloop-after-rollout-rollback", other, now)) is None
