"""The hourly budget on pods disrupted: how a plan's disruption is counted, and the
``DisruptionBudget`` guard over the sliding hour, in all and per namespace."""

from __future__ import annotations

from dataclasses import replace

from remediation.guards import (
    HOUR,
    DisruptionRecord,
    GlobalLimits,
    GuardState,
    check,
    check_all,
    disruption_room,
    hold_window,
    over_budget,
    record_disruption,
    record_start,
    results,
)
from remediation.planning import Disruption, Plan, count_disruption, plan
from remediation.ports import (
    Cordon,
    DeletePod,
    Drain,
    EvictionRoom,
    EvictPod,
    ObjectRef,
    PatchResources,
    PauseRollout,
    PodState,
    RollbackToPrevious,
    RolloutRestart,
    Scale,
    SetHpaMaxReplicas,
    SetHpaMinReplicas,
)
from remediation.snapshot import ClusterSnapshot
from remediation.windows import to_utc_text

from .builders import NOW, deployment, node, pod, runbook, signal

WEB = deployment(replicas=50)
API = deployment("api", "pay", replicas=4)
NODE = ObjectRef("Node", "node-1")
HPA = ObjectRef("HorizontalPodAutoscaler", "web", "shop")


def _snapshot(extra: tuple[PodState, ...] = ()) -> ClusterSnapshot:
    pods = tuple(pod(f"web-{i}", WEB) for i in range(3)) + extra
    return ClusterSnapshot((WEB, API), pods, (node("node-1"),))


def _count(*operations: object) -> Disruption:
    return count_disruption(operations, _snapshot())  # type: ignore[arg-type]


def test_each_kind_of_operation_counts_what_it_disrupts() -> None:
    # A restart, a rollback or a resources patch replaces every replica of the workload.
    assert _count(RolloutRestart(WEB.ref)) == Disruption(50, (("shop", 50),))
    assert _count(RollbackToPrevious(WEB.ref, 2)).pods == 50
    patches = [PatchResources(WEB.ref, c, limits={"memory": "1Gi"}) for c in ("app", "sidecar")]
    assert _count(*patches).pods == 50  # one rollout, however many containers
    # A pod deleted or evicted is one pod.
    assert _count(DeletePod(ObjectRef("Pod", "web-0", "shop"))).pods == 1
    assert _count(EvictPod(ObjectRef("Pod", "web-1", "shop"))).pods == 1
    # A scale-down is the replicas removed; a scale-up disrupts none.
    assert _count(Scale(WEB.ref, 45)) == Disruption(5, (("shop", 5),))
    assert _count(Scale(WEB.ref, 60)).pods == 0
    # A cordon, an HPA change, a paused rollout disrupt none.
    assert _count(Cordon(NODE), PauseRollout(WEB.ref)).pods == 0
    assert _count(SetHpaMinReplicas(HPA, 9), SetHpaMaxReplicas(HPA, 90)).pods == 0
    # Different workloads add up, each in its namespace.
    assert _count(RolloutRestart(WEB.ref), RolloutRestart(API.ref)) == Disruption(
        54, (("pay", 4), ("shop", 50))
    )


def test_a_drain_counts_the_pods_it_would_evict_as_planned() -> None:
    daemon = replace(pod("exporter", None, node="node-1"), daemon=True)
    bare = replace(pod("bare", None, node="node-1"), unmanaged=True)
    other = pod("api-0", API, node="node-1")
    elsewhere = pod("api-1", API, node="node-2")
    snapshot = _snapshot((daemon, bare, other, elsewhere))
    # The 3 web pods and api-0 are evicted; not the DaemonSet's, not the unmanaged one.
    assert count_disruption((Drain(NODE),), snapshot) == Disruption(4, (("pay", 1), ("shop", 3)))
    # At most max_evictions.
    assert count_disruption((Drain(NODE, max_evictions=2),), snapshot).pods == 2


RESTART = runbook(
    """
    triggers: [{type: kubernetes, condition: CrashLoopBackOff}]
    target: {kind: Deployment}
    actions: [{type: rolloutRestart}]
    verification: {checks: [{type: kubernetes, condition: podsReady}]}
    guards: {maxActionsPerHour: 100, blastRadius: {minHealthyFraction: 0}}
    """,
    name="restart",
)
LIMITS = GlobalLimits(max_actions_per_hour=100, max_pods_disrupted_per_hour=50)


def _plan(workload: object = WEB) -> Plan:
    target = workload.ref  # type: ignore[attr-defined]
    made = plan(RESTART, signal(target=target), _snapshot(), NOW)
    assert isinstance(made, Plan)
    return made


def _spent(*items: tuple[float, str, int]) -> GuardState:
    """A guard state with pods disrupted ``age`` seconds ago in ``namespace``."""
    other = ObjectRef("Deployment", "other", "shop")
    records = tuple(DisruptionRecord("rb", other, NOW - age, ns, n) for age, ns, n in items)
    return GuardState(disrupted=records)


def test_a_plan_is_counted_when_it_is_made() -> None:
    assert _plan().disruption == Disruption(50, (("shop", 50),))
    assert _plan(API).disruption == Disruption(4, (("pay", 4),))


def test_budget_reached_denies_with_the_numbers_and_when_room_comes_back() -> None:
    state = _spent((50 * 60, "pay", 3), (20 * 60, "shop", 2))  # 5 pods in the last hour
    gate = check(_plan(), RESTART.spec.guards, state, LIMITS, NOW)
    assert gate.reason_code == "DisruptionBudget"
    # 5 + 50 > 50: room for 50 comes back when both records have left the hour (the
    # second, 20 minutes ago, leaves in 40 minutes).
    assert gate.message.startswith(
        "5 pods disrupted in the last hour across all runbooks (budget 50 an hour); "
        "the plan disrupts 50 pods; room comes back in 40m (at "
    )
    # A smaller plan fits: the api Deployment's 4 replicas.
    assert check(_plan(API), RESTART.spec.guards, state, LIMITS, NOW).allowed
    # Once the older pods leave the sliding hour, the big plan fits.
    assert check(_plan(), RESTART.spec.guards, state, LIMITS, NOW + 41 * 60).allowed


def test_a_plan_bigger_than_the_budget_needs_an_empty_hour_and_a_person() -> None:
    """A restart of 50 replicas under a budget of 20: it cannot wait for room as a small
    plan does (there never is 50 pods' room), so it needs the whole budget, an hour in
    which nothing else was disrupted, and a person's approval first."""
    small = replace(LIMITS, max_pods_disrupted_per_hour=20)
    big = _plan()
    assert check(big, RESTART.spec.guards, GuardState(), small, NOW).allowed
    assert over_budget(big, small) == (
        "disrupts 50 pods, more than safety.maxPodsDisruptedPerHour (20)"
    )
    # One pod disrupted 20 minutes ago: it waits until that one leaves the hour.
    gate = check(big, RESTART.spec.guards, _spent((20 * 60, "pay", 1)), small, NOW)
    assert gate.reason_code == "DisruptionBudget"
    assert gate.message == (
        "1 pod disrupted in the last hour across all runbooks (budget 20 an hour); the plan "
        "disrupts 50 pods, more than the budget: it needs an hour in which nothing else was "
        f"disrupted; room comes back in 40m (at {to_utc_text(NOW + 40 * 60)})"
    )
    # Within the budget, or a drain (it goes on within the room left): no person needed.
    assert over_budget(big, LIMITS) is None
    assert over_budget(_plan(API), small) is None
    per_namespace = replace(LIMITS, max_pods_disrupted_per_hour_per_namespace=10)
    assert over_budget(big, per_namespace) == (
        "disrupts 50 pods in namespace shop, more than "
        "safety.maxPodsDisruptedPerHourPerNamespace (10)"
    )


def test_no_limit_when_the_budget_is_off() -> None:
    off = replace(LIMITS, max_pods_disrupted_per_hour=None)
    state = _spent((60, "shop", 500))
    assert check(_plan(), RESTART.spec.guards, state, off, NOW).allowed
    names = [r.name for r in results(_plan(), RESTART.spec.guards, state, off, NOW)]
    assert not any(name.startswith("maxPodsDisrupted") for name in names)


def test_the_guard_shows_what_it_required_and_saw() -> None:
    state = _spent((60, "shop", 7))
    [budget] = [
        r
        for r in results(_plan(API), RESTART.spec.guards, state, LIMITS, NOW)
        if r.name == "maxPodsDisruptedPerHour"
    ]
    assert budget.passed
    assert budget.required == (
        "at most 50 pods disrupted in the last hour across all runbooks, with this plan's 4 pods"
    )
    assert budget.seen == "7 disrupted in the last hour; this plan 4 pods"


def test_per_namespace_budget() -> None:
    limits = replace(LIMITS, max_pods_disrupted_per_hour=None)
    limits = replace(limits, max_pods_disrupted_per_hour_per_namespace=5)
    state = _spent((60, "pay", 2), (60, "shop", 40))
    gate = check(_plan(API), RESTART.spec.guards, state, limits, NOW)  # 4 pods in pay
    assert gate.reason_code == "DisruptionBudget"
    assert gate.message.startswith(
        "2 pods disrupted in the last hour in namespace pay (budget 5 an hour); "
        "the plan disrupts 4 pods; room comes back in 59m"
    )
    # Another namespace's budget is its own: 3 pods in pay fit after a quieter hour.
    assert check(_plan(API), RESTART.spec.guards, _spent((60, "shop", 40)), limits, NOW).allowed


def test_record_start_counts_the_plan_and_the_window_names_the_runs() -> None:
    state = record_start(GuardState(), _plan(API), RESTART.spec.guards, NOW - 600)
    assert state.disrupted == (DisruptionRecord("restart", API.ref, NOW - 600, "pay", 4),)
    state = record_start(state, _plan(), RESTART.spec.guards, NOW - 300)
    gates = check_all(_plan(API), RESTART.spec.guards, state, LIMITS, NOW)
    [gate] = [g for g in gates if g.reason_code == "DisruptionBudget"]
    assert gate.message.startswith("54 pods disrupted in the last hour across all runbooks")
    window = hold_window(_plan(API), RESTART.spec.guards, state, LIMITS, NOW, "DisruptionBudget")
    assert window is not None
    assert [r.target for r in window.runs] == [API.ref, WEB.ref]
    # 4 more pods fit only once the web restart's 50 leave the hour too (the api's 4
    # leaving first still leaves 50): 55 minutes from now.
    assert window.started_at == NOW - 600 and window.until == NOW - 300 + HOUR


DRAIN = runbook(
    """
    triggers: [{type: kubernetes, condition: NodeNotReady}]
    target: {kind: Node}
    actions: [{type: drain, maxEvictions: 100}]
    verification: {checks: [{type: kubernetes, condition: nodeDrained}]}
    guards: {blastRadius: {minHealthyFraction: 0}}
    """,
    name="drain",
)


def test_a_drain_needs_room_for_one_pod_and_is_counted_round_by_round() -> None:
    pods = tuple(pod(f"p-{i}", WEB, node="node-1") for i in range(40))
    snapshot = ClusterSnapshot((WEB,), pods, (node("node-1", ready=False),))
    made = plan(DRAIN, signal(name="NodeNotReady", target=NODE), snapshot, NOW)
    assert isinstance(made, Plan) and made.disruption.pods == 40
    limits = replace(LIMITS, max_pods_disrupted_per_hour=10)
    # 40 pods over a budget of 10: the drain may start (it evicts within the room) ...
    assert check(made, DRAIN.spec.guards, GuardState(), limits, NOW).allowed
    # ... and its start counts none of them: its rounds count what they evict.
    started = record_start(GuardState(), made, DRAIN.spec.guards, NOW)
    assert started.disrupted == ()
    assert disruption_room(started, limits, NOW) == (10, {})
    spent = record_disruption(started, "drain", NODE, Disruption(10, (("shop", 10),)), NOW)
    assert disruption_room(spent, limits, NOW) == (0, {})
    gates = check_all(made, DRAIN.spec.guards, spent, limits, NOW + 60)
    [gate] = [g for g in gates if g.reason_code == "DisruptionBudget"]
    assert "the drain of node-1 waits for room; room comes back in 59m" in gate.message


def test_eviction_room_per_namespace() -> None:
    room = EvictionRoom(total=None, per_namespace=2, by_namespace={"pay": 1})
    assert room.allows("pay") and room.allows("shop")
    room = room.take("pay")
    assert not room.allows("pay") and room.allows("shop")
    room = room.take("shop").take("shop")
    assert not room.allows("shop") and room.allows("other")
    assert not EvictionRoom(total=0).allows("shop")
