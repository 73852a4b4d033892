"""A run is busy and recent on every object it writes, not only its target: a canary's
promotion writes the stable Deployment, and no other runbook may roll that stable back
while the promotion is being verified (nor right after)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from remediation.guards import (
    GlobalLimits,
    GuardState,
    check,
    check_all,
    record_finish,
    record_start,
)
from remediation.loading import load_paths
from remediation.planning import Plan, plan
from remediation.ports import ObjectRef
from remediation.schema import CANARY_OF
from remediation.snapshot import ClusterSnapshot

from .builders import NOW, OPT_IN, deployment, pod, signal

REPO = Path(__file__).resolve().parents[3]
SHIPPED = {r.name: r for r in load_paths([REPO / "runbooks"])}
PROMOTE = SHIPPED["canary-promote"]
ROLLBACK = SHIPPED["crashloop-after-rollout-rollback"]
LIMITS = GlobalLimits()
STABLE = ObjectRef("Deployment", "web", "shop")
CANARY = ObjectRef("Deployment", "web-canary", "shop")


def _snapshot(*, crashing: bool) -> ClusterSnapshot:
    stable = deployment("web", replicas=4)
    canary = deployment("web-canary", replicas=1, revision=3)
    canary = replace(
        canary,
        labels=OPT_IN | {"autonomic.dev/promote-canary": "true", CANARY_OF: "web"},
        containers=(replace(canary.containers[0], image="web:v3"),),
    )
    waiting = "CrashLoopBackOff" if crashing else None
    pods = tuple(pod(f"web-{i}", stable, ready=not crashing, waiting=waiting) for i in range(4))
    return ClusterSnapshot(workloads=(stable, canary), pods=pods)


def _promote(at: float = NOW) -> Plan:
    verdict = signal("canary", "promote", CANARY, confidence=0.97, evidence={"revision": 3})
    result = plan(PROMOTE, verdict, _snapshot(crashing=False), at)
    assert isinstance(result, Plan), result
    return result


def _rollback(at: float = NOW, human_at: float | None = None) -> Plan:
    result = plan(ROLLBACK, signal(target=STABLE, at=at), _snapshot(crashing=True), at)
    assert isinstance(result, Plan), result
    return replace(result, human_changed_at=human_at)


def test_the_promotion_writes_the_stable() -> None:
    from remediation.guards import plan_writes

    assert _promote().target == CANARY
    assert plan_writes(_promote()) == (STABLE,)
    state = record_start(GuardState(), _promote(), PROMOTE.spec.guards, NOW)
    assert state.in_flight[0].writes == (STABLE,)
    assert state.in_flight[0].objects == (CANARY, STABLE)


def test_no_rollback_of_the_stable_while_its_promotion_is_verified() -> None:
    state = record_start(GuardState(), _promote(), PROMOTE.spec.guards, NOW)
    later = NOW + 300
    gate = check(_rollback(later), ROLLBACK.spec.guards, state, LIMITS, later)
    assert gate.reason_code == "TargetBusy", gate
    assert gate.message == (
        "another run is already writing Deployment/shop/web (written by canary-promote's "
        "run on Deployment/shop/web-canary), which this plan writes too; this one waits "
        "for it to end"
    )


def test_no_rollback_of_the_stable_in_the_cooldown_after_its_promotion() -> None:
    state = record_start(GuardState(), _promote(), PROMOTE.spec.guards, NOW)
    state = record_finish(state, PROMOTE.name, CANARY, True, PROMOTE.spec.guards, NOW + 900)
    later = NOW + 1200  # 20m after the promotion; the rollback's cooldown is 1h
    gate = check(_rollback(later), ROLLBACK.spec.guards, state, LIMITS, later)
    assert gate.reason_code == "Cooldown", gate
    assert "canary-promote's run on Deployment/shop/web-canary" in gate.message
    assert "was written 20m ago" in gate.message
    # An hour on, the stable may be rolled back.
    free = NOW + 3600
    assert check(_rollback(later), ROLLBACK.spec.guards, state, LIMITS, free).allowed


def test_a_person_changing_the_stable_after_the_promotion_is_left_to() -> None:
    state = record_start(GuardState(), _promote(), PROMOTE.spec.guards, NOW)
    state = record_finish(state, PROMOTE.name, CANARY, True, PROMOTE.spec.guards, NOW + 900)
    later = NOW + 1200
    rollback = _rollback(later, human_at=NOW + 600)  # after our promotion wrote it
    codes = [g.reason_code for g in check_all(rollback, ROLLBACK.spec.guards, state, LIMITS, later)]
    assert "HumanRecentlyChanged" in codes, codes


def test_no_promotion_onto_a_stable_being_rolled_back() -> None:
    state = record_start(GuardState(), _rollback(), ROLLBACK.spec.guards, NOW)
    later = NOW + 300
    gate = check(_promote(later), PROMOTE.spec.guards, state, LIMITS, later)
    assert gate.reason_code == "TargetBusy", gate
    assert "another run is already writing Deployment/shop/web," in gate.message
    # Once the rollback ended, the stable cools down before a promotion writes it.
    state = record_finish(state, ROLLBACK.name, STABLE, True, ROLLBACK.spec.guards, later)
    gate = check(_promote(later), PROMOTE.spec.guards, state, LIMITS, later)
    assert gate.reason_code == "Cooldown", gate
    assert gate.message.startswith(
        "Deployment/shop/web, which this plan writes too, was written 5m ago"
    )


def test_an_unrelated_deployment_is_not_held() -> None:
    state = record_start(GuardState(), _promote(), PROMOTE.spec.guards, NOW)
    other = replace(_rollback(NOW + 300), target=ObjectRef("Deployment", "api", "shop"))
    other = replace(other, changes=())
    assert check(other, ROLLBACK.spec.guards, state, LIMITS, NOW + 300).allowed
