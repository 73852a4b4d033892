"""Planning never reads an object that exists but could not be read
(``ClusterSnapshot.unread``) as one that is not there: no ``TargetNotFound`` for a target
that is there, no ``AlreadyDrained`` or ``NoStuckPods`` resting on pods nobody saw, and
such pods are counted as there (selected, disrupted) but never as healthy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from remediation._types import counted
from remediation.guards import GlobalLimits, GuardState, check
from remediation.loading import load_paths
from remediation.planning import DrainRecheck, NoAction, Plan, drain_blocked_by, plan
from remediation.ports import DisruptionBudgets, Drain, ObjectRef, UnreadObject
from remediation.snapshot import ClusterSnapshot

from .builders import NOW, OPT_IN, deployment, node, pod, runbook, signal

REPO = Path(__file__).resolve().parents[3]
DRAIN = {r.name: r for r in load_paths([REPO / "runbooks"])}["node-notready-drain"]
SICK = ObjectRef("Node", "node-2")
NODES = (node("node-1"), node("node-3"), node("node-4"))
WEB = deployment(replicas=2)
NODE_WHY = "Node node-2: metadata.labels is ['a'], not a map of strings"
POD_WHY = "Pod shop/web-9: status.containerStatuses[0].restartCount is -1"


def _unread_pod(name: str, on: str = "node-2") -> UnreadObject:
    return UnreadObject(ObjectRef("Pod", name, "shop"), POD_WHY, node=on, owner=WEB.ref)


def _drain(snapshot: ClusterSnapshot) -> Plan | NoAction:
    return plan(DRAIN, signal(name="NodeNotReady", target=SICK, since=NOW - 600), snapshot, NOW)


def _skipped(result: Plan | NoAction, code: str) -> str:
    assert isinstance(result, NoAction), result
    assert result.reason_code == code, result
    return result.message


def test_an_unreadable_node_target_is_not_said_not_found() -> None:
    snapshot = ClusterSnapshot(nodes=NODES, unread=(UnreadObject(SICK, NODE_WHY),))
    message = _skipped(_drain(snapshot), "ObjectUnread")
    assert message.startswith(f"{SICK} could not be read: {NODE_WHY}"), message
    # A node that is not there at all is still not found.
    _skipped(_drain(ClusterSnapshot(nodes=NODES)), "TargetNotFound")


def test_a_cordoned_node_whose_pods_could_not_be_read_is_not_said_drained() -> None:
    cordoned = node("node-2", ready=False, unschedulable=True, not_ready_since=NOW - 600)
    hidden = (_unread_pod("web-9"),)
    snapshot = ClusterSnapshot((WEB,), (), (*NODES, cordoned), unread=hidden)
    message = _skipped(_drain(snapshot), "ObjectUnread")
    assert "1 pod on it could not be read (web-9)" in message, message
    assert POD_WHY in message and "whether it is drained is not known" in message
    _skipped(_drain(ClusterSnapshot((WEB,), (), (*NODES, cordoned))), "AlreadyDrained")


def test_a_drain_over_pods_that_could_not_be_read_asks_a_person_and_counts_them() -> None:
    """The drain evicts what it finds on the node, the unreadable pods too: the plan
    cannot tell whose they are or whether they are ready (a workload whose only ready
    pod is one of them would go to none), so a person approves, and the hourly
    disruption budget counts them."""
    sick = node("node-2", ready=True)
    pods = (pod("web-1", WEB, node="node-2"), pod("web-2", WEB, node="node-1"))
    readable = planned(_drain(ClusterSnapshot((WEB,), pods, (*NODES, sick))))
    assert (readable.approval_required, readable.disruption.pods) == (False, 1)
    snapshot = ClusterSnapshot((WEB,), pods, (*NODES, sick), unread=(_unread_pod("web-9"),))
    result = planned(_drain(snapshot))
    assert result.approval_required is True
    (reason,) = result.approval_reasons
    assert reason.startswith(f"1 pod on node node-2 could not be read (web-9): {POD_WHY}")
    assert result.disruption.pods == 2


def test_the_check_before_a_drain_s_cordon_cannot_pass_pods_its_plan_did_not_see() -> None:
    """``drain_blocked_by`` reads a pod on the node that could not be read as one a
    budget may cover and refuse: it says so (``unread``) for every such pod the drain's
    plan did not see; those it saw (kept in its evidence) were put to a person already."""
    sick = node("node-2", ready=True)
    pods = (pod("web-1", WEB, node="node-2"), pod("web-2", WEB, node="node-1"))
    drain = Drain(SICK, max_evictions=10, timeout_seconds=600.0)
    readable = ClusterSnapshot((WEB,), pods, (*NODES, sick), budgets=DisruptionBudgets())
    assert drain_blocked_by(drain, readable) == DrainRecheck()
    snapshot = replace(readable, unread=(_unread_pod("web-9"),))
    result = planned(_drain(snapshot))
    assert result.budgets is not None and result.budgets["unreadPods"] == ["shop/web-9"]
    found = drain_blocked_by(drain, snapshot)
    assert found.blocking == () and found.unread is not None
    assert found.unread.startswith(f"1 pod on node node-2 could not be read (web-9): {POD_WHY}")
    assert "whether a PodDisruptionBudget covers it and would refuse its eviction" in found.unread
    assert drain_blocked_by(drain, snapshot, result.budgets["unreadPods"]) == DrainRecheck()
    more = replace(snapshot, unread=(_unread_pod("web-9"), _unread_pod("web-8")))
    again = drain_blocked_by(drain, more, result.budgets["unreadPods"])
    assert again.unread is not None and "(web-8)" in again.unread


def test_no_stuck_pod_is_not_said_when_the_workload_s_pods_could_not_be_read() -> None:
    rb = runbook(
        """
        triggers: [{type: kubernetes, condition: CrashLoopBackOff}]
        target: {kind: Deployment}
        actions: [{type: deletePod, reasons: [CrashLoopBackOff]}]
        verification: {checks: [{type: kubernetes, condition: podsReady}]}
        """
    )
    pods = (pod("web-1", WEB),)
    snapshot = ClusterSnapshot((WEB,), pods, unread=(_unread_pod("web-9"),))
    message = _skipped(plan(rb, signal(target=WEB.ref), snapshot, NOW), "ObjectUnread")
    assert "no pod of Deployment shop/web that could be read is in CrashLoopBackOff" in message
    assert message.endswith(f"1 pod of Deployment shop/web could not be read (web-9): {POD_WHY}")
    _skipped(plan(rb, signal(target=WEB.ref), ClusterSnapshot((WEB,), pods), NOW), "NoStuckPods")


def test_pods_that_could_not_be_read_are_counted_in_the_set_but_not_as_healthy() -> None:
    """minHealthyFraction: 2 of web's 4 pods could not be read. Left out, deleting the
    stuck one looked like leaving 1 of 2 healthy (50%); they are there, not known
    healthy: 1 of 4."""
    rb = runbook(
        """
        triggers: [{type: kubernetes, condition: CrashLoopBackOff}]
        target: {kind: Deployment}
        actions: [{type: deletePod, reasons: [CrashLoopBackOff]}]
        verification: {checks: [{type: kubernetes, condition: podsReady}]}
        """
    )
    pods = (pod("web-1", WEB, ready=False, waiting="CrashLoopBackOff"), pod("web-2", WEB))
    hidden = (_unread_pod("web-8", "node-1"), _unread_pod("web-9", "node-1"))
    result = planned(plan(rb, signal(target=WEB.ref), ClusterSnapshot((WEB,), pods), NOW))
    assert (result.blast.selected, result.blast.healthy_after) == (2, 1)
    snapshot = ClusterSnapshot((WEB,), pods, unread=hidden)
    result = planned(plan(rb, signal(target=WEB.ref), snapshot, NOW))
    assert (result.blast.selected, result.blast.healthy_after) == (4, 1)


def test_a_node_that_could_not_be_read_is_counted_among_the_nodes_but_not_as_healthy() -> None:
    sick = node("node-2", ready=False, not_ready_since=NOW - 600)
    other = UnreadObject(ObjectRef("Node", "node-5"), "Node node-5: spec.taints is 'x'")
    result = planned(_drain(ClusterSnapshot(nodes=(*NODES, sick), unread=(other,))))
    assert (result.blast.selected, result.blast.healthy_after) == (5, 3)


def test_a_pod_whose_workload_could_not_be_read_is_not_judged_by_its_own_labels() -> None:
    """Opting in (or out) is the workload's: with the workload unreadable, the pod's own
    labels would stand in for it (a bare pod's rule)."""
    rb = runbook(
        """
        triggers: [{type: kubernetes, condition: CrashLoopBackOff}]
        target: {kind: Pod}
        actions: [{type: deletePod, reasons: [CrashLoopBackOff]}]
        verification: {checks: [{type: kubernetes, condition: podsReady}]}
        """
    )
    stuck = pod("web-1", WEB, ready=False, waiting="CrashLoopBackOff")
    opted_in = stuck.__class__(**{**stuck.__dict__, "labels": {**stuck.labels, **OPT_IN}})
    why = "Deployment shop/web: spec.replicas is -1"
    snapshot = ClusterSnapshot((), (opted_in,), unread=(UnreadObject(WEB.ref, why),))
    message = _skipped(plan(rb, signal(target=stuck.ref), snapshot, NOW), "ObjectUnread")
    assert message.startswith(f"{WEB.ref} could not be read: {why}"), message


def planned(result: Plan | NoAction) -> Plan:
    assert isinstance(result, Plan), result
    return result


GPU_DRAIN = runbook(
    """
    triggers: [{type: kubernetes, condition: NodeNotReady}]
    target: {kind: Node, requireLabels: {pool: gpu}}
    actions: [{type: drain, maxEvictions: 10}]
    verification: {checks: [{type: kubernetes, condition: nodeDrained}]}
    guards: {blastRadius: {minHealthyFraction: 0.5}}
    """,
    name="gpu-drain",
)


def _gpu_drain(unread: tuple[UnreadObject, ...]) -> Plan:
    gpu = {"pool": "gpu"}
    nodes = (
        node("gpu-1", ready=False, not_ready_since=NOW - 600, labels=gpu),
        node("gpu-2", labels=gpu),
        node("web-1", labels={"pool": "web"}),
    )
    snapshot = ClusterSnapshot(nodes=nodes, unread=unread)
    target = ObjectRef("Node", "gpu-1")
    return planned(plan(GPU_DRAIN, signal(name="NodeNotReady", target=target), snapshot, NOW))


def test_a_node_that_could_not_be_read_counts_only_where_its_readable_labels_put_it() -> None:
    """Its labels read, an odd node counts as not healthy only for the runbooks over its
    own pool; its labels not readable, for every Node runbook that does not exclude it
    by name."""
    why = "Node n: spec.taints is 'x'"
    elsewhere = UnreadObject(ObjectRef("Node", "web-2"), why, labels=(("pool", "web"),))
    here = UnreadObject(ObjectRef("Node", "gpu-3"), why, labels=(("pool", "gpu"),))
    unknown = UnreadObject(ObjectRef("Node", "odd-1"), why)
    # Its pool label is the odd one: it may be a gpu node.
    odd_pool = UnreadObject(ObjectRef("Node", "odd-2"), why, labels=(), odd_labels=("pool",))
    # Odd in a label the runbook does not ask about, and of another pool.
    odd_zone = UnreadObject(
        ObjectRef("Node", "web-3"), why, labels=(("pool", "web"),), odd_labels=("zone",)
    )
    assert _gpu_drain(()).blast.selected == 2
    result = _gpu_drain((elsewhere, odd_zone))
    assert (result.blast.selected, result.blast.healthy_after, result.blast.unread) == (2, 1, ())
    result = _gpu_drain((elsewhere, here, unknown, odd_pool, odd_zone))
    assert (result.blast.selected, result.blast.healthy_after) == (5, 1)
    assert result.blast.unread == ("gpu-3", "odd-1", "odd-2")


def test_min_healthy_says_which_nodes_could_not_be_read_and_how_the_hold_ends() -> None:
    why = "Node gpu-3: spec.taints is 'x'"
    result = _gpu_drain((UnreadObject(ObjectRef("Node", "gpu-3"), why, labels=(("pool", "gpu"),)),))
    gate = check(result, GPU_DRAIN.spec.guards, GuardState(), GlobalLimits(), NOW)
    assert (gate.allowed, gate.reason_code) == (False, "MinHealthy")
    assert gate.message.startswith("only 1/3 would stay healthy (33%); the runbook needs 50%; ")
    assert "1 of the selected set could not be read (node gpu-3) and counts as not" in gate.message
    assert "holds until it reads again" in gate.message
    assert "(excludeNames)" in gate.message


def test_counts_a_person_reads_take_the_noun_in_its_number() -> None:
    assert [counted(n, "pod") for n in (0, 1, 2)] == ["0 pods", "1 pod", "2 pods"]
    assert counted(1, "replica") == "1 replica"
