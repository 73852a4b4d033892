"""Planning: typed operations, readable diffs, and a reason code for every 'no'."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from remediation.loading import load_paths
from remediation.planning import (
    GuardResult,
    NoAction,
    Plan,
    check_preconditions,
    plan,
    precondition_results,
)
from remediation.ports import (
    Cordon,
    DeletePod,
    Drain,
    ObjectRef,
    PatchResources,
    PauseRollout,
    PodState,
    RollbackToPrevious,
    Scale,
    SetHpaMinReplicas,
    WorkloadState,
)
from remediation.schema import MaintenanceWindow, Runbook
from remediation.snapshot import ClusterSnapshot, FiringAlert

from .builders import NOW, deployment, hpa, node, pod, runbook, signal

REPO = Path(__file__).resolve().parents[3]
SHIPPED = {r.name: r for r in load_paths([REPO / "runbooks"])}

VERIFY = "verification: {checks: [{type: kubernetes, condition: podsReady}]}"


def oom_runbook(max_: str = "2Gi", factor: str = "1.5", field: str = "limits") -> Runbook:
    return runbook(
        f"""
        triggers: [{{type: kubernetes, condition: OOMKilled}}]
        target: {{kind: Deployment}}
        actions:
          - type: patchResources
            resource: memory
            field: {field}
            factor: {factor}
            max: {max_}
        {VERIFY}
        """
    )


def planned(result: Plan | NoAction) -> Plan:
    assert isinstance(result, Plan), result
    return result


def refused(result: Plan | NoAction, code: str) -> NoAction:
    assert isinstance(result, NoAction), result
    assert result.reason_code == code, result
    assert result.message
    return result


def test_memory_raise_diff_and_operation() -> None:
    web = deployment()
    result = planned(
        plan(
            oom_runbook(),
            signal(name="OOMKilled", target=web.ref),
            ClusterSnapshot(workloads=(web,)),
            NOW,
        )
    )
    assert result.diff == (
        "Deployment shop/web: container app memory limit 256Mi -> 384Mi "
        "(x1.5, max 2Gi; rolls out 3 pods)"
    )
    assert result.operations == (
        PatchResources(
            web.ref,
            "app",
            requests={},
            limits={"memory": "384Mi"},
            expected={"limits": {"memory": "256Mi"}},  # what it was planned from
        ),
    )
    assert result.blast.replicas_affected == 3


@pytest.mark.parametrize(
    ("limit", "expected"),
    [("1536Mi", "2Gi"), ("1Gi", "1536Mi"), ("100Mi", "150Mi"), ("333Mi", "500Mi")],
)
def test_memory_raise_is_capped_and_rounded(limit: str, expected: str) -> None:
    web = deployment(memory_limit=limit)
    result = planned(
        plan(
            oom_runbook(),
            signal(name="OOMKilled", target=web.ref),
            ClusterSnapshot(workloads=(web,)),
            NOW,
        )
    )
    (op,) = result.operations
    assert isinstance(op, PatchResources) and op.limits == {"memory": expected}


def test_memory_at_maximum_is_no_action() -> None:
    web = deployment(memory_limit="2Gi")
    result = plan(
        oom_runbook(),
        signal(name="OOMKilled", target=web.ref),
        ClusterSnapshot(workloads=(web,)),
        NOW,
    )
    assert "already at the runbook's maximum 2Gi" in refused(result, "AtMaximum").message


def test_memory_without_limit_is_no_action() -> None:
    web = deployment(memory_limit=None)
    refused(
        plan(
            oom_runbook(),
            signal(name="OOMKilled", target=web.ref),
            ClusterSnapshot(workloads=(web,)),
            NOW,
        ),
        "ResourceNotSet",
    )


def test_raising_requests_never_passes_the_limit() -> None:
    web = deployment(memory_limit="256Mi", memory_request="200Mi")
    result = planned(
        plan(
            oom_runbook(field="both"),
            signal(name="OOMKilled", target=web.ref),
            ClusterSnapshot(workloads=(web,)),
            NOW,
        )
    )
    (op,) = result.operations
    assert isinstance(op, PatchResources)
    assert op.limits == {"memory": "384Mi"} and op.requests == {"memory": "300Mi"}


SCALE = f"""
triggers: [{{type: forecastBreach, metric: rps}}]
target: {{kind: Deployment}}
actions: [{{type: scale, factor: 1.5, maxReplicas: 8}}]
{VERIFY}
"""


@pytest.mark.parametrize(
    ("replicas", "outcome"),
    [
        (3, "Deployment shop/web: replicas 3 -> 5 (x1.5, max 8)"),
        (6, "replicas 6 -> 8"),
        (8, "AtMaximum"),
    ],
)
def test_scale_out_is_bounded(replicas: int, outcome: str) -> None:
    web = deployment(replicas=replicas)
    result = plan(
        runbook(SCALE),
        signal("forecastBreach", "rps", web.ref),
        ClusterSnapshot(workloads=(web,)),
        NOW,
    )
    if outcome == "AtMaximum":
        refused(result, "AtMaximum")
    else:
        assert outcome in planned(result).diff
        assert isinstance(planned(result).operations[0], Scale)


def test_scale_raises_the_hpa_floor_instead_of_fighting_it() -> None:
    web = deployment(replicas=4)
    autoscaler = hpa(web, min_replicas=2, max_replicas=20, current=4)
    result = planned(
        plan(
            runbook(SCALE),
            signal("forecastBreach", "rps", web.ref),
            ClusterSnapshot(workloads=(web,), hpas=(autoscaler,)),
            NOW,
        )
    )
    # compare-and-set against the minReplicas the plan saw
    assert result.operations == (SetHpaMinReplicas(autoscaler.ref, 6, expected=2),)
    assert result.diff.startswith("HorizontalPodAutoscaler shop/web: minReplicas 2 -> 6")


HPA_FLOOR = f"""
triggers: [{{type: forecastBreach, metric: rps}}]
target: {{kind: Deployment}}
actions: [{{type: setHpaMinReplicas, add: 2, maxReplicas: 20}}]
{VERIFY}
"""


def test_an_hpa_floor_is_planned_as_compare_and_set_on_the_minimum_it_saw() -> None:
    """A runbook's floor used to be written over whatever minReplicas the HPA had by
    then: approved an hour later, a raise to 6 planned from 2 would lower the scaling
    loop's (or a person's) 8 to 6. The plan now carries the minimum it saw."""
    web = deployment(replicas=4)
    autoscaler = hpa(web, min_replicas=3, max_replicas=20, current=4)
    result = planned(
        plan(
            runbook(HPA_FLOOR),
            signal("forecastBreach", "rps", web.ref),
            ClusterSnapshot(workloads=(web,), hpas=(autoscaler,)),
            NOW,
        )
    )
    assert result.operations == (SetHpaMinReplicas(autoscaler.ref, 6, expected=3),)


@pytest.mark.parametrize("spec", [SCALE, HPA_FLOOR], ids=["scale", "setHpaMinReplicas"])
@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        (
            {"controller": "ScaledObject/web"},
            "ManagedHpa",
            "ScaledObject/web owns HorizontalPodAutoscaler shop/web and would put its own "
            "minReplicas back; raise the floor on ScaledObject/web instead",
        ),
        (
            {"shared_with": ("web-2",)},
            "AmbiguousHpa",
            "2 HPAs target Deployment shop/web (web, web-2): the HPA controller scales with "
            "none of them (AmbiguousSelector), so a higher floor would change nothing",
        ),
    ],
)
def test_a_floor_on_an_hpa_that_would_not_hold_it_is_named_not_written(
    spec: str, change: dict[str, object], code: str, words: str
) -> None:
    """A floor on an HPA that KEDA's ScaledObject owns (which puts its own minReplicas
    back at once), or on one of several HPAs on one workload (the HPA controller scales
    with none of them), was planned and written like any other: reported as done and
    undone by the other controller, or ignored. The scaling loop already refuses both."""
    web = deployment(replicas=4)
    odd = replace(hpa(web, min_replicas=2, max_replicas=20, current=4), **change)  # type: ignore[arg-type]
    result = plan(
        runbook(spec),
        signal("forecastBreach", "rps", web.ref),
        ClusterSnapshot(workloads=(web,), hpas=(odd,)),
        NOW,
    )
    assert words in refused(result, code).message


def test_an_hpa_whose_max_is_below_its_min_is_named_not_raised() -> None:
    web = deployment(replicas=4)
    broken = hpa(web, min_replicas=5, max_replicas=3, current=4)
    result = plan(
        runbook(SCALE),
        signal("forecastBreach", "rps", web.ref),
        ClusterSnapshot(workloads=(web,), hpas=(broken,)),
        NOW,
    )
    assert "maxReplicas 3 below minReplicas 5" in refused(result, "InvalidHpa").message


def test_rollback_needs_a_previous_revision() -> None:
    rb = SHIPPED["crashloop-after-rollout-rollback"]
    web = deployment(revision=1)
    crashing = pod("web-1", web, ready=False, waiting="CrashLoopBackOff", restarts=5)
    refused(
        plan(rb, signal(target=crashing.ref), ClusterSnapshot((web,), (crashing,)), NOW),
        "NoPreviousRevision",
    )


def test_a_rollback_is_not_planned_while_the_controller_lags_the_spec() -> None:
    """Revision 2 as the annotation says, but generation 3 not observed yet: that revision
    is the one before the latest spec, so "the previous revision" would be one too far
    back. Not planned (skipped: planned again next cycle while the trigger holds)."""
    rb = SHIPPED["crashloop-after-rollout-rollback"]
    web = deployment(revision=2, generation=3, observed_generation=2)
    crashing = pod("web-1", web, ready=False, waiting="CrashLoopBackOff", restarts=5)
    result = plan(rb, signal(target=crashing.ref), ClusterSnapshot((web,), (crashing,)), NOW)
    assert "generation 3, observed 2" in refused(result, "RolloutNotObserved").message
    caught_up = replace(web, observed_generation=3)
    result = plan(rb, signal(target=crashing.ref), ClusterSnapshot((caught_up,), (crashing,)), NOW)
    assert planned(result).operations == (RollbackToPrevious(web.ref, 2),)


def test_changed_within_blocks_old_rollouts() -> None:
    rb = SHIPPED["crashloop-after-rollout-rollback"]
    web = deployment(last_rollout_at=NOW - 7200)
    crashing = pod("web-1", web, ready=False, waiting="CrashLoopBackOff", restarts=5)
    result = plan(rb, signal(target=crashing.ref), ClusterSnapshot((web,), (crashing,)), NOW)
    assert "2h ago" in refused(result, "NoRecentChange").message


def test_changed_within_never_holds_for_a_statefulset_s_pod_and_says_why() -> None:
    """A StatefulSet's rollouts (ControllerRevisions) are never read, so the real adapter
    leaves its last rollout unknown: a Pod runbook's changedWithin says so for its pods
    (a StatefulSet runbook with changedWithin is refused at load)."""
    stuck_pods = runbook(
        """
        triggers: [{type: kubernetes, condition: PodNotReady}]
        target: {kind: Pod}
        preconditions: [{type: changedWithin, within: 30m}]
        actions: [{type: deletePod, reasons: [NotReady]}]
        verification: {checks: [{type: kubernetes, condition: podsReady}]}
        onFailure: {undo: false}
        """
    )
    db = replace(deployment("db", last_rollout_at=None), ref=ObjectRef("StatefulSet", "db", "shop"))
    stuck = pod("db-0", db, ready=False)
    notready = signal(name="PodNotReady", target=stuck.ref)
    result = plan(stuck_pods, notready, ClusterSnapshot((db,), (stuck,)), NOW)
    assert refused(result, "NoRecentChange").message == (
        "Pod shop/db-0 belongs to StatefulSet shop/db, and Autonomic does not read a "
        "StatefulSet's rollouts (ControllerRevisions): changedWithin never holds for its pods"
    )


def test_other_critical_alert_blocks() -> None:
    rb = SHIPPED["crashloop-after-rollout-rollback"]
    web = deployment()
    crashing = pod("web-1", web, ready=False, waiting="CrashLoopBackOff", restarts=5)
    other = FiringAlert("DatabaseDown", {"severity": "critical", "namespace": "shop"}, "f1", NOW)
    elsewhere = FiringAlert("DatabaseDown", {"severity": "critical", "namespace": "x"}, "f2", NOW)
    snapshot = ClusterSnapshot((web,), (crashing,), alerts=(elsewhere,))
    planned(plan(rb, signal(target=crashing.ref), snapshot, NOW))
    snapshot = ClusterSnapshot((web,), (crashing,), alerts=(other, elsewhere))
    refused(plan(rb, signal(target=crashing.ref), snapshot, NOW), "OtherAlertFiring")


def test_freeze_window_blocks_and_maintenance_window_gates() -> None:
    rb = SHIPPED["node-notready-drain"]
    sick = node("node-2", ready=False, not_ready_since=NOW - 600)
    nodes = (node("node-1"), sick, node("node-3"), node("node-4"))
    sig = signal(name="NodeNotReady", target=sick.ref, since=NOW - 600)
    # Friday 20 Nov 2026 18:30 Paris = 17:30 UTC: inside the release freeze.
    inside = 1795195800.0
    refused(plan(rb, sig, ClusterSnapshot(nodes=nodes), inside), "FreezeWindow")
    # The same runbook allowed to act only on Saturdays 02:00-04:30 UTC.
    window = MaintenanceWindow.model_validate(
        {
            "type": "maintenanceWindow",
            "timezone": "UTC",
            "weekly": ({"days": ("Sat",), "start": "02:00", "end": "04:30"},),
        }
    )
    gated = rb.model_copy(update={"spec": rb.spec.model_copy(update={"preconditions": (window,)})})
    saturday_3am, saturday_5am = 1795230000.0, 1795237200.0  # 2026-11-21, UTC
    sig_at = {
        t: signal(name="NodeNotReady", target=sick.ref, since=t - 600, at=t)
        for t in (saturday_3am, saturday_5am)
    }
    snapshot = ClusterSnapshot(nodes=nodes)
    planned(plan(gated, sig_at[saturday_3am], snapshot, saturday_3am))
    refused(plan(gated, sig_at[saturday_5am], snapshot, saturday_5am), "OutsideMaintenanceWindow")


def test_drain_one_node_with_readable_diff_and_blast() -> None:
    rb = SHIPPED["node-notready-drain"]
    sick = node("node-2", ready=False, not_ready_since=NOW - 600)
    web = deployment()
    pods = (pod("web-1", web, node="node-2"), pod("web-2", web, node="node-1"))
    nodes = (node("node-1"), sick, node("node-3"), node("node-4"))
    result = planned(
        plan(
            rb,
            signal(name="NodeNotReady", target=sick.ref, since=NOW - 600),
            ClusterSnapshot((web,), pods, nodes),
            NOW,
        )
    )
    assert result.operations == (Drain(sick.ref, max_evictions=100, timeout_seconds=600.0),)
    assert result.diff == (
        "Node node-2: cordon and drain (1 pod to evict, at most 100, timeout 10m)"
    )
    assert (result.blast.selected, result.blast.healthy_after) == (4, 3)
    assert result.verification is not None and result.undo_on_failure is False


def test_the_healthy_fraction_counts_only_the_nodes_the_runbook_may_act_on() -> None:
    """Nodes its ``excludeNames`` keeps out (control-plane nodes, say) are not in the set
    ``minHealthyFraction`` guards: with them, draining a second of three workers looked
    like leaving 4 of 6 nodes healthy; of the workers it acts on, 1 of 3 stay."""
    rb = runbook(
        """
        triggers: [{type: kubernetes, condition: NodeNotReady, heldFor: 5m}]
        target: {kind: Node, excludeNames: [cp-1, cp-2, cp-3]}
        actions: [{type: drain}]
        verification: {checks: [{type: kubernetes, condition: nodeDrained}]}
        guards:
          blastRadius: {maxTargets: 1, minHealthyFraction: 0.5}
        """
    )
    sick = node("worker-2", ready=False, not_ready_since=NOW - 600)
    nodes = (
        node("cp-1"),
        node("cp-2"),
        node("cp-3"),
        node("worker-1", unschedulable=True),  # drained before
        sick,
        node("worker-3"),
    )
    result = planned(
        plan(
            rb,
            signal(name="NodeNotReady", target=sick.ref, since=NOW - 600),
            ClusterSnapshot(nodes=nodes),
            NOW,
        )
    )
    assert (result.blast.selected, result.blast.healthy_after) == (3, 1)
    assert result.blast.healthy_fraction_after < 0.5


def test_delete_only_stuck_pods_up_to_the_limit() -> None:
    rb = runbook(
        f"""
        triggers: [{{type: kubernetes, condition: CrashLoopBackOff}}]
        target: {{kind: Deployment}}
        actions: [{{type: deletePod, reasons: [CrashLoopBackOff], maxPods: 2}}]
        {VERIFY}
        """
    )
    web = deployment(replicas=4)
    pods = (
        pod("web-1", web, ready=False, waiting="CrashLoopBackOff", restarts=3),
        pod("web-2", web),
        pod("web-3", web, ready=False, waiting="CrashLoopBackOff", restarts=9),
        pod("web-4", web, ready=False, waiting="CrashLoopBackOff", deleting=True),
    )
    result = planned(plan(rb, signal(target=web.ref), ClusterSnapshot((web,), pods), NOW))
    assert result.operations == (
        DeletePod(ObjectRef("Pod", "web-1", "shop")),
        DeletePod(ObjectRef("Pod", "web-3", "shop")),
    )
    assert "Pod shop/web-3: delete (CrashLoopBackOff, 9 restarts)" in result.diff
    assert result.blast.targets == 2


def test_pause_rollout_reasons() -> None:
    rb = SHIPPED["error-rate-pause-rollout"]
    sig = signal(
        "anomaly",
        "http_error_ratio",
        ObjectRef("Deployment", "web", "shop"),
        direction="up",
        confidence=0.9,
    )
    rolling = deployment(replicas=4, updated=1)
    result = planned(plan(rb, sig, ClusterSnapshot((rolling,)), NOW))
    assert result.operations == (PauseRollout(rolling.ref),)
    assert result.notifications[0].message.startswith("Paused the rollout of Deployment shop/web")
    assert [q.query for q in result.preconditions] == [
        'sum(rate(http_requests_total{namespace="shop", deployment="web"}[5m]))'
    ]
    refused(
        plan(rb, sig, ClusterSnapshot((deployment(paused=True, updated=1),)), NOW), "AlreadyPaused"
    )
    refused(plan(rb, sig, ClusterSnapshot((deployment(),)), NOW), "NoRolloutInProgress")


def test_check_preconditions_no_data_blocks() -> None:
    rb = SHIPPED["error-rate-pause-rollout"]
    sig = signal(
        "anomaly",
        "http_error_ratio",
        ObjectRef("Deployment", "web", "shop"),
        direction="up",
        confidence=0.9,
    )
    result = planned(plan(rb, sig, ClusterSnapshot((deployment(updated=1),)), NOW))
    query = result.preconditions[0].query
    assert check_preconditions(result, {query: 12.0}) is None
    low = check_preconditions(result, {query: 0.2})
    assert low is not None and low.reason_code == "PreconditionFailed"
    for missing in ({}, {query: None}, {query: float("nan")}):
        gate = check_preconditions(result, missing)
        assert gate is not None and gate.reason_code == "NoData"


def test_each_precondition_is_kept_with_what_it_saw() -> None:
    """The preconditions decided while planning are in ``Plan.checked``; the PromQL ones
    are judged on the values read, passed or not, for the decision's evidence."""
    rb = SHIPPED["error-rate-pause-rollout"]
    sig = signal(
        "anomaly",
        "http_error_ratio",
        ObjectRef("Deployment", "web", "shop"),
        direction="up",
        confidence=0.9,
    )
    rolling = deployment(updated=1, last_rollout_at=NOW - 240)
    result = planned(plan(rb, sig, ClusterSnapshot((rolling,)), NOW))
    assert result.checked == (
        GuardResult("changedWithin", "a rollout less than 30m ago", "rolled out 4m ago", True),
    )
    query = result.preconditions[0].query
    name, required = "promql (at least one request per second)", f"{query} > 1"
    assert precondition_results(result, {query: 12.0}) == (GuardResult(name, required, "12", True),)
    assert precondition_results(result, {query: 0.25}) == (
        GuardResult(name, required, "0.25", False),
    )
    assert precondition_results(result, {}) == (GuardResult(name, required, "no data", False),)


def test_approval_rules_force_ask() -> None:
    rb = SHIPPED["oom-raise-memory-limit"]
    big = deployment(replicas=12)
    result = planned(
        plan(rb, signal(name="OOMKilled", target=big.ref, count=4), ClusterSnapshot((big,)), NOW)
    )
    assert result.approval_required
    assert result.approval_reasons == ("affects 12 replicas (over 10)",)
    small = deployment(replicas=3)
    assert not planned(
        plan(
            rb, signal(name="OOMKilled", target=small.ref, count=4), ClusterSnapshot((small,)), NOW
        )
    ).approval_required


# ------------------------------------------------------------ shipped runbook scenarios


def test_scenario_crashloop_after_rollout_rolls_back() -> None:
    web = deployment(revision=5)
    crashing = pod("web-1", web, ready=False, waiting="CrashLoopBackOff", restarts=4)
    result = planned(
        plan(
            SHIPPED["crashloop-after-rollout-rollback"],
            signal(target=crashing.ref),
            ClusterSnapshot((web,), (crashing,)),
            NOW,
        )
    )
    assert result.operations == (RollbackToPrevious(web.ref, web.revision),)
    assert result.max_autonomy == "auto" and result.mode == "enforce"
    assert result.verification is not None
    # Started by a Kubernetes condition, not an alert: no alert to wait for.
    assert [c.kind for c in result.verification.checks] == ["kubernetes", "kubernetes"]


def test_scenario_crashloop_from_alert_waits_for_alert_resolution() -> None:
    web = deployment(revision=5)
    crashing = pod("web-1", web, ready=False, waiting="CrashLoopBackOff", restarts=4)
    sig = signal(
        "alert",
        "KubePodCrashLooping",
        crashing.ref,
        labels={"severity": "warning"},
        evidence={"fingerprint": "abc"},
    )
    result = planned(
        plan(
            SHIPPED["crashloop-after-rollout-rollback"],
            sig,
            ClusterSnapshot((web,), (crashing,)),
            NOW,
        )
    )
    assert result.verification is not None
    assert result.verification.checks[-1].fingerprint == "abc"


def test_scenario_restart_stuck_pod() -> None:
    web = deployment(replicas=3)
    stuck = pod("web-2", web, ready=False)
    pods = (pod("web-1", web), stuck, pod("web-3", web))
    sig = signal(name="PodNotReady", target=stuck.ref, since=NOW - 1000)
    result = planned(plan(SHIPPED["restart-stuck-pods"], sig, ClusterSnapshot((web,), pods), NOW))
    assert result.operations == (DeletePod(stuck.ref),)
    refused(
        plan(
            SHIPPED["restart-stuck-pods"],
            signal(name="PodNotReady", target=stuck.ref, since=NOW - 60),
            ClusterSnapshot((web,), pods),
            NOW,
        ),
        "NoTriggerMatch",
    )


def test_scenario_traffic_surge() -> None:
    web = deployment(replicas=4)
    sig = signal("forecastBreach", "requests_per_second", web.ref, excess_ratio=0.5, confidence=0.9)
    result = planned(plan(SHIPPED["traffic-surge-scale-out"], sig, ClusterSnapshot((web,)), NOW))
    assert result.operations == (Scale(web.ref, 6),)
    assert result.verification is not None
    assert 'namespace="shop", deployment="web"' in str(result.verification.checks[1].query)


def test_shipped_canary_rollback_has_no_confidence_line_below_every_verdict() -> None:
    """A rollback verdict reaches the runbook at the judge's calibrated confidence (0.9949
    or more) or, approved by a person, at 0.99 or more: its ``confidenceBelow: 0.9``,
    meant to ask first "between 0.8 and 0.9", could never apply. Both shipped copies."""
    from agent.loops.canary import CONFIRMED
    from forecasting.canary.calibration import CALIBRATION
    from forecasting.canary.verdict import Decision

    least = min(CONFIRMED, *(p for _, p in CALIBRATION[Decision.ROLLBACK]))
    for folder in (REPO / "runbooks", REPO / "manifests" / "runbooks"):
        (shipped,) = [r for r in load_paths([folder]) if r.name == "canary-rollback"]
        rules = shipped.spec.require_approval_when
        below = rules.confidence_below if rules is not None else None
        assert below is None or below > least, (folder, below, least)


def test_scenario_canary_rollback() -> None:
    web = deployment(revision=9)
    sig = signal("canary", "rollback", web.ref, confidence=0.9949)  # the judge's least
    result = planned(plan(SHIPPED["canary-rollback"], sig, ClusterSnapshot((web,)), NOW))
    assert result.operations == (RollbackToPrevious(web.ref, web.revision),)
    assert not result.approval_required  # routing, by the runbook's record, decides
    refused(
        plan(
            SHIPPED["canary-rollback"],
            signal("canary", "rollback", web.ref, confidence=0.5),
            ClusterSnapshot((web,)),
            NOW,
        ),
        "NoTriggerMatch",
    )


@pytest.mark.parametrize(
    ("revision", "image", "said"),
    [
        # Rolled out again with a fix: its previous revision is the release judged bad.
        (
            4,
            "web-canary:v4",
            "is at revision 4 (web-canary:v4), not revision 3 (web-canary:v3) the verdict judged",
        ),
        # Deleted and created again, rolled out up to the judged revision with other images.
        (
            3,
            "web-canary:v3b",
            "is at revision 3 (web-canary:v3b), not revision 3 (web-canary:v3) the verdict judged",
        ),
        # Deleted and created again at revision 1 with other images.
        (
            1,
            "web-canary:v1b",
            "is at revision 1 (web-canary:v1b), not revision 3 (web-canary:v3) the verdict judged",
        ),
    ],
    ids=["rolled-out-again", "replaced-same-revision", "replaced-at-revision-1"],
)
def test_a_rollback_verdict_on_a_canary_that_moved_on_rolls_nothing_back(
    revision: int, image: str, said: str
) -> None:
    """A rollback verdict judged web-canary:v3 at revision 3; by the time the runbook
    plans it (a person's approval can come hours later) the canary runs another release.
    Before, the plan rolled back whatever revision the canary was at (from the fix to
    the release judged bad) or, at revision 1, said only NoPreviousRevision; now it is
    refused as CanaryMovedOn, naming both releases, as a promotion is."""
    judged = signal(
        "canary",
        "rollback",
        ObjectRef("Deployment", "web-canary", "shop"),
        confidence=0.99,
        evidence={"revision": 3, "images": ["web-canary:v3"]},
    )
    canary = deployment("web-canary", replicas=1, revision=revision)
    canary = replace(canary, containers=(replace(canary.containers[0], image=image),))
    result = refused(
        plan(SHIPPED["canary-rollback"], judged, ClusterSnapshot((canary,)), NOW),
        "CanaryMovedOn",
    )
    assert f"Deployment shop/web-canary {said}" in result.message, result.message
    assert "nothing is rolled back" in result.message
    # The canary the verdict judged is rolled back, as before.
    same = deployment("web-canary", replicas=1, revision=3)
    assert planned(plan(SHIPPED["canary-rollback"], judged, ClusterSnapshot((same,)), NOW))
    # A signal that does not say what it judged (sent before it carried that) is
    # planned as before.
    bare = plan(
        SHIPPED["canary-rollback"],
        replace(judged, evidence={}),
        ClusterSnapshot((canary,)),
        NOW,
    )
    if revision > 1:
        assert isinstance(bare, Plan), bare
    else:
        refused(bare, "NoPreviousRevision")


def test_scenario_imagepull_rollback_and_disk_pressure_cordon() -> None:
    web = deployment(revision=3)
    pulling = pod("web-9", web, ready=False, waiting="ImagePullBackOff")
    sig = signal(name="ImagePullBackOff", target=pulling.ref, since=NOW - 400)
    result = planned(
        plan(
            SHIPPED["imagepull-after-rollout-rollback"],
            sig,
            ClusterSnapshot((web,), (pulling,)),
            NOW,
        )
    )
    assert result.operations == (RollbackToPrevious(web.ref, web.revision),)
    full = node("node-2", conditions={"Ready": "True", "DiskPressure": "True"})
    nodes = (node("node-1"), full, node("node-3"), node("node-4"))
    sig = signal(name="DiskPressure", target=full.ref, since=NOW - 900)
    result = planned(plan(SHIPPED["disk-pressure-cordon"], sig, ClusterSnapshot(nodes=nodes), NOW))
    assert result.operations == (Cordon(full.ref),)
    control = node(
        "cp-1",
        labels={"node-role.kubernetes.io/control-plane": ""},
        conditions={"Ready": "True", "DiskPressure": "True"},
    )
    refused(
        plan(
            SHIPPED["disk-pressure-cordon"],
            signal(name="DiskPressure", target=control.ref, since=NOW - 900),
            ClusterSnapshot(nodes=(*nodes, control)),
            NOW,
        ),
        "OptedOut",
    )


def test_a_one_replica_canary_is_rolled_back_in_words_that_count_right() -> None:
    """A canary Deployment often runs one replica: its plan said "1 replicas"."""
    canary = deployment("web-canary", replicas=1, revision=3)
    sig = signal("canary", "rollback", canary.ref, confidence=0.95)
    result = planned(plan(SHIPPED["canary-rollback"], sig, ClusterSnapshot((canary,)), NOW))
    assert result.diff == (
        "Deployment shop/web-canary: roll back from revision 3 to the previous revision "
        "(1 replica replaced gradually)"
    )


def _said(rb: str, web_replicas: int, autoscaler_of: dict[str, int] | None) -> NoAction:
    web = deployment(replicas=web_replicas)
    hpas = (hpa(web, **autoscaler_of),) if autoscaler_of else ()
    result = plan(
        runbook(rb),
        signal("forecastBreach", "rps", web.ref),
        ClusterSnapshot(workloads=(web,), hpas=hpas),
        NOW,
    )
    assert isinstance(result, NoAction), result
    return result


def test_a_surge_held_by_the_hpas_ceiling_names_it_and_what_to_raise() -> None:
    """A surge with the HPA maxed out was ``NoChange: ... already keeps at least 10
    replicas; the runbook would set 10 (x1.5, max 8)``: not the HPA's maximum, not
    the 15 it wanted, nothing to do."""
    scale = SCALE.replace("maxReplicas: 8", "maxReplicas: 30, hpa: raiseFloor")
    said = _said(scale, 10, {"min_replicas": 2, "max_replicas": 10, "current": 10})
    assert (said.reason_code, said.message) == (
        "AtMaximum",
        "HorizontalPodAutoscaler shop/web is at its maxReplicas 10 (10 replicas running); "
        "the runbook would raise the floor to 15 (x1.5, max 30), which the HPA cannot go "
        "to: raise maxReplicas on the HPA to let it scale further",
    )
    floor = HPA_FLOOR.replace("add: 2", "add: 6")
    said = _said(floor, 10, {"min_replicas": 10, "max_replicas": 10, "current": 10})
    assert (said.reason_code, said.message) == (
        "AtMaximum",
        "HorizontalPodAutoscaler shop/web minReplicas is 10 and its maxReplicas 10; the "
        "runbook would raise the floor to 16 (+6, max 20), above the HPA's maximum: raise "
        "maxReplicas on the HPA to let the floor go higher",
    )


def test_a_scale_at_the_runbooks_own_maximum_says_who_decides_more() -> None:
    said = _said(SCALE, 8, None)
    assert (said.reason_code, said.message) == (
        "AtMaximum",
        "Deployment shop/web has 8 replicas, at or above the runbook's maxReplicas (x1.5, "
        "max 8): not raised further; a person decides whether it may grow (raise "
        "maxReplicas in the runbook's action, or scale it by hand)",
    )
    scale = SCALE.replace("maxReplicas: 8", "maxReplicas: 8, hpa: raiseFloor")
    said = _said(scale, 8, {"min_replicas": 2, "max_replicas": 20, "current": 8})
    assert said.reason_code == "AtMaximum"
    assert said.message.startswith(
        "HorizontalPodAutoscaler shop/web already keeps at least 8 replicas, at or above "
        "the runbook's maxReplicas (x1.5, max 8): not raised further"
    ), said.message


def test_memory_at_the_runbooks_maximum_says_what_would_change_it() -> None:
    web = deployment(memory_limit="2Gi")
    result = plan(
        oom_runbook(), signal(name="OOMKilled", target=web.ref), ClusterSnapshot((web,)), NOW
    )
    assert refused(result, "AtMaximum").message == (
        "Deployment shop/web: already at the runbook's maximum 2Gi (app memory limit 2Gi): "
        "not raised further; find out why it needs more, or raise the max of the runbook's "
        "patchResources action if it may have more"
    )


@pytest.mark.parametrize(
    ("action", "what"),
    [
        ("{type: rolloutRestart}", "a rollout restart"),
        ("{type: patchResources, resource: memory, field: limits, factor: 1.5, max: 2Gi}",
         "new resources"),
    ],
)  # fmt: skip
def test_a_template_change_to_an_on_delete_statefulset_is_refused_and_says_why(
    action: str, what: str
) -> None:
    """A StatefulSet with updateStrategy OnDelete replaces no pod when its template
    changes: a restart (or new resources) was written, reported as "N pods replaced
    gradually", and changed nothing, which verification then found out."""
    rb = runbook(
        f"""
        triggers: [{{type: kubernetes, condition: OOMKilled}}]
        target: {{kind: StatefulSet}}
        actions: [{action}]
        {VERIFY}
        """
    )
    db = replace(deployment("db"), ref=ObjectRef("StatefulSet", "db", "shop"), on_delete=True)
    snapshot = ClusterSnapshot(workloads=(db,))
    result = plan(rb, signal(name="OOMKilled", target=db.ref), snapshot, NOW)
    assert refused(result, "OnDeleteUpdateStrategy").message == (
        "StatefulSet shop/db has updateStrategy OnDelete: its controller replaces a pod only "
        f"when someone deletes it, so {what} would change no running pod. Delete its pods "
        "one at a time (kubectl delete pod, or a deletePod runbook), or switch it to "
        "updateStrategy RollingUpdate"
    )
    rolling = replace(db, on_delete=False)
    planned(plan(rb, signal(name="OOMKilled", target=db.ref), ClusterSnapshot((rolling,)), NOW))


@pytest.mark.parametrize(
    ("where", "key", "tool"),
    [
        ("annotations", "argocd.argoproj.io/tracking-id", "Argo CD"),
        ("labels", "kustomize.toolkit.fluxcd.io/name", "Flux"),
    ],
)
def test_a_rollback_of_a_workload_a_gitops_controller_applies_says_it_may_be_put_back(
    where: str, key: str, tool: str
) -> None:
    """Argo CD with self-heal, or Flux at its next reconcile, puts back what Git holds:
    a rollback of a Deployment one of them applies lasts only once Git says the same.
    The plan said nothing of it; the person approving it, and the record, are told."""
    plain = deployment(revision=5)
    marks = {**getattr(plain, where), key: "shop-apps"}
    managed = replace(plain, **{where: marks})
    for web, noted in ((plain, False), (managed, True)):
        crashing = pod("web-1", web, ready=False, waiting="CrashLoopBackOff", restarts=4)
        result = planned(
            plan(
                SHIPPED["crashloop-after-rollout-rollback"],
                signal(target=crashing.ref),
                ClusterSnapshot((web,), (crashing,)),
                NOW,
            )
        )
        assert result.operations == (RollbackToPrevious(web.ref, web.revision),)
        note = (
            f"; {tool} ({where[:-1]} {key}=shop-apps) applies it from Git and may put Git's "
            "values back (Argo CD with self-heal, Flux at its next reconcile): make the same "
            "change in Git for it to last"
        )
        assert result.diff.endswith(note) is noted, result.diff


def test_a_drain_plan_names_the_pods_whose_emptydir_data_eviction_deletes() -> None:
    """kubectl drain refuses such pods without --delete-emptydir-data (draino skips
    them). Autonomic evicts them, as the node's pods must move, but the person asked
    to approve the drain is told whose data goes with them."""
    rb = SHIPPED["node-notready-drain"]
    sick = node("node-2", ready=False, not_ready_since=NOW - 600)
    web = deployment()
    cache = replace(pod("web-1", web, node="node-2"), empty_dir=True)
    pods = (cache, pod("web-2", web, node="node-2"), pod("web-3", web, node="node-1"))
    nodes = (node("node-1"), sick, node("node-3"), node("node-4"))
    result = planned(
        plan(
            rb,
            signal(name="NodeNotReady", target=sick.ref, since=NOW - 600),
            ClusterSnapshot((web,), pods, nodes),
            NOW,
        )
    )
    assert result.diff == (
        "Node node-2: cordon and drain (2 pods to evict, at most 100, timeout 10m; 1 keep "
        "data in an emptyDir volume, which eviction deletes: shop/web-1)"
    )


def _drain_plan(pods: tuple[PodState, ...], *workloads: WorkloadState, ready: bool = False) -> Plan:
    rb = SHIPPED["node-notready-drain"]
    sick = node("node-2", ready=ready, not_ready_since=None if ready else NOW - 600)
    nodes = (node("node-1"), sick, node("node-3"), node("node-4"))
    return planned(
        plan(
            rb,
            signal(name="NodeNotReady", target=sick.ref, since=NOW - 600),
            ClusterSnapshot(workloads, pods, nodes),
            NOW,
        )
    )


def test_a_drain_plan_leaves_pods_annotated_not_safe_to_evict_and_says_it_ends_incomplete() -> None:
    """cluster-autoscaler.kubernetes.io/safe-to-evict: "false": the cluster autoscaler
    keeps such a pod's node, draino skips the pod. The drain moves the others, counts
    only those in the disruption budget, and says the protected pod stays."""
    web = deployment()
    batch = replace(pod("batch-1", web, node="node-2"), not_safe_to_evict=True)
    pods = (batch, pod("web-2", web, node="node-2"), pod("web-3", web, node="node-1"))
    result = _drain_plan(pods, web)
    assert result.diff == (
        "Node node-2: cordon and drain (1 pod to evict, at most 100, timeout 10m; 1 left in "
        'place, annotated cluster-autoscaler.kubernetes.io/safe-to-evict: "false" (their '
        "owners ask that they never be evicted): shop/batch-1; remove the annotation or move "
        "them by hand, then drain again (the drain ends INCOMPLETE))"
    )
    assert result.disruption.pods == 1


def test_a_drain_that_would_leave_a_workload_with_no_ready_replica_needs_approval() -> None:
    """Every ready replica of shop/web runs on the node: evicting them takes it to zero
    ready until its replacements are ready elsewhere. The node's own readiness is no
    help: the blast radius counts nodes, not the workloads on them."""
    web = deployment(replicas=2)
    api = deployment("api", replicas=2)
    pods = (
        pod("web-1", web, node="node-2"),
        pod("web-2", web, node="node-2"),
        pod("api-1", api, node="node-2"),
        pod("api-2", api, node="node-1"),
    )
    result = _drain_plan(pods, web, api, ready=True)
    assert result.approval_required is True
    assert result.approval_reasons == (
        "would leave Deployment shop/web with 0 replicas ready (it has 2 ready, 2 of them on "
        "node node-2); the drain's minReadyReplicas is 1",
    )
    # A replica ready elsewhere, or the node's pods not ready anyway (a NotReady node's
    # pods are marked not ready), and nothing is asked.
    elsewhere = (*pods[:3], pod("web-3", web, node="node-3"), pods[3])
    assert _drain_plan(elsewhere, web, api, ready=True).approval_required is False
    down = tuple(replace(p, ready=False) if p.node == "node-2" else p for p in pods)
    assert _drain_plan(down, web, api).approval_required is False


def test_a_drain_floor_above_one_asks_when_fewer_would_stay_ready() -> None:
    rb = runbook(
        """
        triggers: [{type: kubernetes, condition: NodeNotReady}]
        target: {kind: Node}
        actions: [{type: drain, minReadyReplicas: 2}]
        verification: {checks: [{type: kubernetes, condition: nodeDrained}]}
        """
    )
    web = deployment(replicas=3)
    pods = (
        pod("web-1", web, node="node-2"),
        pod("web-2", web, node="node-1"),
        pod("web-3", web, node="node-3"),
    )
    sick = node("node-2")
    nodes = (node("node-1"), sick, node("node-3"))
    snapshot = ClusterSnapshot((web,), pods, nodes)
    result = planned(plan(rb, signal(name="NodeNotReady", target=sick.ref), snapshot, NOW))
    assert result.approval_reasons == ()
    two_here = (pods[0], replace(pods[1], node="node-2"), pods[2])
    snapshot = ClusterSnapshot((web,), two_here, nodes)
    result = planned(plan(rb, signal(name="NodeNotReady", target=sick.ref), snapshot, NOW))
    assert result.approval_reasons == (
        "would leave Deployment shop/web with 1 replica ready (it has 3 ready, 2 of them on "
        "node node-2); the drain's minReadyReplicas is 2",
    )


def test_a_drain_plan_of_a_notready_node_says_its_statefulset_pods_are_not_replaced() -> None:
    """On a NotReady node an evicted pod stays Terminating (no kubelet confirms it), and
    the StatefulSet controller starts no second db-0 until the Node is deleted or
    tainted out-of-service. Pods the taint manager deleted already count too."""
    db = replace(deployment("db", replicas=2), ref=ObjectRef("StatefulSet", "db", "shop"))
    web = deployment()
    pods = (
        pod("db-0", db, node="node-2", ready=False),
        pod("db-1", db, node="node-2", ready=False, deleting=True),
        pod("web-1", web, node="node-2", ready=False),
    )
    result = _drain_plan(pods, db, web)
    assert result.diff == (
        "Node node-2: cordon and drain (2 pods to evict, at most 100, timeout 10m; "
        "StatefulSet pods shop/db-0 (StatefulSet db), shop/db-1 (StatefulSet db) will not be "
        "replaced until node node-2 is deleted or tainted out-of-service: the node is "
        "NotReady, so its kubelet cannot confirm the pod stopped, and a StatefulSet never "
        "starts a second pod of the same name; once the machine is known to be off, delete "
        "the Node or run kubectl taint nodes node-2 "
        "node.kubernetes.io/out-of-service=nodeshutdown:NoExecute)"
    )
    # A Ready node's pods terminate and are replaced: nothing to say.
    ready_node = _drain_plan(tuple(replace(p, ready=True) for p in pods), db, web, ready=True)
    assert "out-of-service" not in ready_node.diff


def test_a_precondition_on_the_node_of_a_pod_not_yet_scheduled_has_no_data() -> None:
    """``{{node}}`` of a pod not scheduled yet (an alert such as KubePodNotReady fires on
    Pending pods) rendered as "": ``node=""`` matches only series without a node, so
    ``count(... == 1) or vector(0)`` answered 0 and the precondition "its node is not
    cordoned" passed on nothing. Now planning stops as for no data."""
    web = deployment(replicas=2)
    pending = replace(pod("web-1", web, phase="Pending"), node=None, ready=False)
    rb = runbook(
        """
        triggers: [{type: alert, alertname: KubePodNotReady}]
        target: {kind: Pod}
        preconditions:
          - type: promql
            query: 'count(kube_node_spec_unschedulable{node="{{node}}"} == 1) or vector(0)'
            condition: "== 0"
        actions: [{type: notify, message: "{{target}} on {{node}}"}]
        """
    )
    result = plan(
        rb,
        signal("alert", "KubePodNotReady", pending.ref, labels={"alertname": "KubePodNotReady"}),
        ClusterSnapshot(workloads=(web,), pods=(pending,)),
        NOW,
    )
    assert refused(result, "NoData").message == (
        'no data for precondition count(kube_node_spec_unschedulable{node="{{node}}"} == 1) '
        "or vector(0): {{node}} is empty for Pod shop/web-1 (a pod not yet scheduled has no "
        "node), so the query cannot be about it"
    )
    scheduled = replace(pending, node="node-1")
    result = plan(
        rb,
        signal("alert", "KubePodNotReady", pending.ref, labels={"alertname": "KubePodNotReady"}),
        ClusterSnapshot(workloads=(web,), pods=(scheduled,)),
        NOW,
    )
    assert planned(result).preconditions[0].query == (
        'count(kube_node_spec_unschedulable{node="node-1"} == 1) or vector(0)'
    )


def test_a_verification_check_on_the_node_of_a_pod_not_yet_scheduled_has_no_data() -> None:
    """A check rendered with an empty ``{{node}}`` would judge nothing, and a check with
    ``or vector(0)`` would pass on it: a run that cannot be verified is not started."""
    web = deployment(replicas=2)
    pending = replace(pod("web-1", web, phase="Pending"), node=None, ready=False)
    rb = runbook(
        """
        triggers: [{type: alert, alertname: KubePodNotReady}]
        target: {kind: Pod}
        actions: [{type: deletePod, reasons: [NotReady, Unknown, ContainerCreating]}]
        verification:
          checks:
            - type: promql
              query: 'count(kube_pod_info{node="{{node}}", pod="{{name}}"}) or vector(0)'
              condition: "== 0"
        onFailure: {undo: false}
        """
    )
    pending = replace(pending, waiting_reason="ContainerCreating")
    result = plan(
        rb,
        signal("alert", "KubePodNotReady", pending.ref, labels={"alertname": "KubePodNotReady"}),
        ClusterSnapshot(workloads=(web,), pods=(pending,)),
        NOW,
    )
    assert refused(result, "NoData").message.startswith(
        'no data for verification check count(kube_pod_info{node="{{node}}", pod="{{name}}"}) '
        "or vector(0): {{node}} is empty for Pod shop/web-1"
    )


def test_each_planned_write_names_the_uid_of_the_object_the_plan_read() -> None:
    """``planned_uid``: the object the incident was about, as the plan's snapshot held
    it, so that the executor can refuse another created under its name since. A pod the
    snapshot holds without a uid (a reader that reports none) is left unbound."""
    rb = runbook(
        f"""
        triggers: [{{type: kubernetes, condition: CrashLoopBackOff}}]
        target: {{kind: Deployment}}
        actions: [{{type: deletePod, reasons: [CrashLoopBackOff], maxPods: 2}}]
        {VERIFY}
        """
    )
    web = replace(deployment(replicas=3), uid="w-1")
    pods = (
        replace(pod("web-1", web, ready=False, waiting="CrashLoopBackOff"), uid="p-1"),
        pod("web-2", web, ready=False, waiting="CrashLoopBackOff"),
        replace(pod("web-3", web), uid="p-3"),
    )
    result = planned(plan(rb, signal(target=web.ref), ClusterSnapshot((web,), pods), NOW))
    assert result.operations == (
        DeletePod(ObjectRef("Pod", "web-1", "shop"), planned_uid="p-1"),
        DeletePod(ObjectRef("Pod", "web-2", "shop")),
    )
    memory = planned(
        plan(oom_runbook(), signal(name="OOMKilled", target=web.ref), ClusterSnapshot((web,)), NOW)
    )
    assert [op.planned_uid for op in memory.operations] == ["w-1"]
    sick = replace(node("node-2", ready=False, not_ready_since=NOW - 600), uid="n-2")
    drain = planned(
        plan(
            SHIPPED["node-notready-drain"],
            signal(name="NodeNotReady", target=sick.ref, since=NOW - 600),
            ClusterSnapshot(nodes=(node("node-1"), sick, node("node-3"), node("node-4"))),
            NOW,
        )
    )
    assert [op.planned_uid for op in drain.operations] == ["n-2"]
