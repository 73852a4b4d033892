"""A drain's plan reads the PodDisruptionBudgets covering the pods it would evict: it
names each with its numbers, starts a drain a budget only delays, and hands a drain a
budget would keep from finishing to a person (``Plan.blocked_by``) instead."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from remediation.loading import load_paths
from remediation.planning import Plan, plan
from remediation.ports import (
    DisruptionBudgets,
    DisruptionBudgetState,
    ObjectRef,
    PodState,
    Toleration,
    WorkloadState,
)
from remediation.snapshot import ClusterSnapshot

from .builders import NOW, deployment, node, pod, signal

REPO = Path(__file__).resolve().parents[3]
DRAIN = next(r for r in load_paths([REPO / "runbooks"]) if r.name == "node-notready-drain")


def _pdb(
    name: str = "web",
    *,
    allowed: int,
    healthy: int,
    desired: int,
    expected: int,
    min_available: str | None = None,
    max_unavailable: str | None = None,
    app: str = "web",
) -> DisruptionBudgetState:
    return DisruptionBudgetState(
        ref=ObjectRef("PodDisruptionBudget", name, "shop"),
        match_labels={"app": app},
        min_available=min_available,
        max_unavailable=max_unavailable,
        disruptions_allowed=allowed,
        current_healthy=healthy,
        desired_healthy=desired,
        expected_pods=expected,
    )


def _plan(
    pods: tuple[PodState, ...],
    budgets: DisruptionBudgets | None,
    *workloads: WorkloadState,
    ready: bool = True,
    condition: str = "False",
) -> Plan:
    sick = node(
        "node-2",
        ready=ready,
        not_ready_since=None if ready else NOW - 600,
        conditions={"Ready": "True" if ready else condition},
    )
    nodes = (node("node-1"), sick, node("node-3"), node("node-4"))
    result = plan(
        DRAIN,
        signal(name="NodeNotReady", target=sick.ref, since=NOW - 600),
        ClusterSnapshot(workloads, pods, nodes, budgets=budgets),
        NOW,
    )
    assert isinstance(result, Plan), result
    return result


WEB = deployment(replicas=3)


def _web_pods(on_node: int, *, ready_elsewhere: bool = True) -> tuple[PodState, ...]:
    """web's three pods, ``on_node`` of them on node-2, the others on node-1."""
    return tuple(
        pod(f"web-{i}", WEB, node="node-2")
        if i < on_node
        else pod(f"web-{i}", WEB, node="node-1", ready=ready_elsewhere)
        for i in range(3)
    )


def test_a_budget_that_can_never_allow_a_disruption_blocks_the_drain() -> None:
    """minAvailable equal to the expected pods: the eviction API refuses every ready pod
    it covers, whatever happens elsewhere. The plan names it, its numbers, its pods and
    the command to inspect it, and says a person is needed."""
    budget = _pdb(allowed=0, healthy=3, desired=3, expected=3, min_available="3")
    result = _plan(_web_pods(2), DisruptionBudgets((budget,)), WEB)
    (why,) = result.blocked_by
    assert why == (
        "PodDisruptionBudget shop/web allows 0 disruptions (3 healthy, 3 desired, 3 expected; "
        "minAvailable 3), 2 of its pods on node node-2 (shop/web-0, shop/web-1): its "
        "minAvailable 3 leaves no disruption at 3 expected pods, so the eviction API refuses "
        "every ready pod it covers. The drain cannot finish without a person: inspect it with "
        "`kubectl -n shop get pdb web -o yaml`, then relax it, add replicas elsewhere, or move "
        "the pods by hand"
    )
    assert why in result.diff
    (found,) = result.budgets["covering"]  # type: ignore[index]
    assert found["verdict"] == "blocks" and found["podsOnNode"] == ["shop/web-0", "shop/web-1"]
    # maxUnavailable 0 is the same budget said another way.
    zero = replace(budget, min_available=None, max_unavailable="0")
    assert _plan(_web_pods(2), DisruptionBudgets((zero,)), WEB).blocked_by


def test_a_budget_allowing_none_with_nothing_on_its_way_to_ready_blocks_it() -> None:
    """minAvailable 2 of 3, all three on the node and healthy: one may go. With one of
    them already not ready (on the node), it allows none, and no pod elsewhere will
    become ready to free room: blocked."""
    pods = _web_pods(3)
    allows = _pdb(allowed=1, healthy=3, desired=2, expected=3, min_available="2")
    result = _plan(pods, DisruptionBudgets((allows,)), WEB)
    assert result.blocked_by == ()
    assert (
        "PodDisruptionBudget shop/web allows 1 disruption (3 healthy, 2 desired, 3 expected; "
        "minAvailable 2), 3 of its pods on node node-2 (shop/web-0, shop/web-1, shop/web-2): "
        "1 may be evicted now, the others one by one as the replacements become ready "
        "elsewhere"
    ) in result.diff
    one_down = (replace(pods[0], ready=False), *pods[1:])
    none = _pdb(allowed=0, healthy=2, desired=2, expected=3, min_available="2")
    (why,) = _plan(one_down, DisruptionBudgets((none,)), WEB).blocked_by
    assert "it allows none and none of its pods elsewhere is on its way to ready" in why
    assert "the 1 not healthy is on it" in why


def test_a_budget_waiting_for_pods_elsewhere_to_become_ready_lets_the_drain_start() -> None:
    """It allows none now because a pod on another node is still starting (being
    rescheduled): once it is ready the budget allows one, so the drain starts and its
    rounds ask again."""
    budget = _pdb(allowed=0, healthy=2, desired=2, expected=3, min_available="2")
    result = _plan(_web_pods(2, ready_elsewhere=False), DisruptionBudgets((budget,)), WEB)
    assert result.blocked_by == ()
    assert (
        "2 of its pods on node node-2 (shop/web-0, shop/web-1): 1 of its pods elsewhere is "
        "not ready yet; as they become ready it allows evictions, and the drain's rounds ask "
        "again"
    ) in result.diff
    assert result.budgets["covering"][0]["verdict"] == "waits"  # type: ignore[index]


def test_a_pod_with_two_budgets_blocks_the_drain() -> None:
    """The eviction API refuses a pod more than one PDB selects (500), every time."""
    one = _pdb("web", allowed=1, healthy=3, desired=2, expected=3)
    two = _pdb("web-strict", allowed=1, healthy=3, desired=2, expected=3)
    (why,) = _plan(_web_pods(1), DisruptionBudgets((one, two)), WEB).blocked_by
    assert why == (
        "pod shop/web-0 is selected by 2 PodDisruptionBudgets (shop/web, shop/web-strict): "
        'the eviction API refuses it ("This pod has more than one PodDisruptionBudget"), so '
        "the drain cannot finish without a person: inspect them with `kubectl -n shop get "
        "pdb web web-strict -o yaml` and keep one"
    )


def test_on_a_notready_node_a_budget_refusing_unready_pods_delays_but_does_not_block() -> None:
    """A NotReady node's pods are not ready, and the node lifecycle controller deletes
    them after their tolerationSeconds whatever the budget: not a block."""
    pods = tuple(replace(p, ready=False) if p.node == "node-2" else p for p in _web_pods(3))
    budget = _pdb(allowed=0, healthy=0, desired=2, expected=3, min_available="2")
    result = _plan(pods, DisruptionBudgets((budget,)), WEB, ready=False)
    assert result.blocked_by == ()
    assert "the node lifecycle controller deletes them" in result.diff
    # Met, the budget lets a not-ready pod go (IfHealthyBudget), on any node.
    met = _pdb(allowed=0, healthy=2, desired=2, expected=3, min_available="2")
    down = (replace(_web_pods(1)[0], ready=False), *_web_pods(1)[1:])
    assert "they may be evicted now" in _plan(down, DisruptionBudgets((met,)), WEB).diff


def test_unreadable_budgets_are_said_and_stop_nothing() -> None:
    denied = "Autonomic is not allowed to list poddisruptionbudgets.policy (403)"
    result = _plan(_web_pods(2), DisruptionBudgets((), unread=denied), WEB)
    assert result.blocked_by == ()
    assert (
        f"; PodDisruptionBudgets could not be read ({denied}): the plan cannot say whether "
        "one would refuse an eviction; the eviction API still applies them)"
    ) in result.diff
    assert result.budgets == {"unread": denied}


def test_budgets_of_other_pods_and_readers_without_budgets_add_nothing() -> None:
    """A PDB of another app, or of the same labels in another namespace, covers none of
    the node's pods; a reader that reads no PDBs (the simulated cluster) gets the plan it
    always got."""
    other = _pdb("api", allowed=0, healthy=2, desired=2, expected=2, app="api")
    elsewhere = replace(
        _pdb(allowed=0, healthy=3, desired=3, expected=3),
        ref=ObjectRef("PodDisruptionBudget", "web", "other"),
    )
    without = _plan(_web_pods(2), None, WEB)
    assert without.budgets is None
    result = _plan(_web_pods(2), DisruptionBudgets((other, elsewhere)), WEB)
    assert result.diff == without.diff and result.blocked_by == ()
    assert result.budgets == {"read": 2, "covering": []}


UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"


def _unready_here(*tolerations: Toleration) -> tuple[PodState, ...]:
    """web's pods, two on NotReady node-2 (not ready, with ``tolerations``), one ready
    on node-1."""
    return tuple(
        replace(p, ready=False, tolerations=tolerations) if p.node == "node-2" else p
        for p in _web_pods(2)
    )


# Not met: 1 healthy of the 2 it keeps; nothing elsewhere on its way to ready.
NOT_MET = _pdb(allowed=0, healthy=1, desired=2, expected=3, min_available="2")


def test_pods_that_tolerate_the_nodes_taint_for_ever_are_never_deleted_so_the_budget_blocks() -> (
    None
):
    """A pod tolerating the node's NoExecute taint with no tolerationSeconds (``operator:
    Exists`` alone, as DaemonSet-like operators write it) stays on the NotReady node for
    ever: the budget refusing it keeps the drain from finishing. The sentence names the
    toleration and the taint (unreachable: the node's Ready condition is Unknown)."""
    forever = Toleration(operator="Exists")
    pods = _unready_here(forever)
    result = _plan(pods, DisruptionBudgets((NOT_MET,)), WEB, ready=False, condition="Unknown")
    (why,) = result.blocked_by
    assert why == (
        "PodDisruptionBudget shop/web allows 0 disruptions (1 healthy, 2 desired, 3 expected; "
        "minAvailable 2), 2 of its pods on node node-2 (shop/web-0, shop/web-1): shop/web-0, "
        f"shop/web-1 tolerate the node's {UNREACHABLE}:NoExecute taint for ever (`{{operator: "
        "Exists}`, no tolerationSeconds), so the node lifecycle controller never deletes them, "
        "and, not ready, the eviction API refuses them while the budget is not met; it allows "
        "none and none of its pods elsewhere is on its way to ready (all 1 healthy ones count "
        "toward the 2 it keeps; the 2 not healthy are on it), so no eviction it covers can "
        "happen. The drain cannot finish without a person: inspect it with `kubectl -n shop "
        "get pdb web -o yaml`, then relax it, add replicas elsewhere, or move the pods by hand"
    )
    (found,) = result.budgets["covering"]  # type: ignore[index]
    assert found["verdict"] == "blocks"
    # The same toleration by key, on a node whose Ready is False (the not-ready taint).
    keyed = Toleration(key=NOT_READY, operator="Exists", effect="NoExecute")
    (why,) = _plan(_unready_here(keyed), DisruptionBudgets((NOT_MET,)), WEB, ready=False).blocked_by
    assert (
        f"tolerate the node's {NOT_READY}:NoExecute taint for ever (`{{key: {NOT_READY}, "
        "operator: Exists, effect: NoExecute}`, no tolerationSeconds)"
    ) in why


def test_pods_with_toleration_seconds_or_for_another_taint_are_deleted_so_the_budget_waits() -> (
    None
):
    """With tolerationSeconds (300 s, as DefaultTolerationSeconds writes them), or
    tolerating for ever only the taint the node does not have, or none at all, the node
    lifecycle controller deletes the pods whatever the budget: it only delays the drain,
    and the sentence says when."""
    default = (
        Toleration(key=NOT_READY, operator="Exists", effect="NoExecute", seconds=300),
        Toleration(key=UNREACHABLE, operator="Exists", effect="NoExecute", seconds=300),
    )
    result = _plan(_unready_here(*default), DisruptionBudgets((NOT_MET,)), WEB, ready=False)
    assert result.blocked_by == ()
    assert (
        "it refuses them now (not ready, budget not met); the node is NotReady, so the node "
        f"lifecycle controller deletes them 300 s after it was tainted {NOT_READY} (their "
        "tolerationSeconds) whatever the budget"
    ) in result.diff
    # A toleration for ever, and a shorter one for the same taint: the shorter wins.
    both = (Toleration(operator="Exists"), *default)
    assert (
        _plan(_unready_here(*both), DisruptionBudgets((NOT_MET,)), WEB, ready=False).blocked_by
        == ()
    )
    # For ever, but for the unreachable taint: a node whose Ready is False has not-ready.
    other = Toleration(key=UNREACHABLE, operator="Exists", effect="NoExecute")
    assert (
        _plan(_unready_here(other), DisruptionBudgets((NOT_MET,)), WEB, ready=False).blocked_by
        == ()
    )
    # For ever, but for NoSchedule only: not the NoExecute taint that deletes pods.
    schedule = Toleration(key=NOT_READY, operator="Exists", effect="NoSchedule")
    none = _plan(_unready_here(schedule), DisruptionBudgets((NOT_MET,)), WEB, ready=False)
    assert none.blocked_by == ()
    assert f"deletes them at once (they do not tolerate its {NOT_READY} taint)" in none.diff


def test_a_pod_tolerating_the_taint_for_ever_with_two_budgets_blocks_the_drain() -> None:
    """Not ready on a NotReady node, a pod two PDBs select is deleted by the node
    lifecycle controller unless it tolerates the taint for ever: then the eviction API's
    refusal (500) keeps the drain from finishing."""
    one = _pdb("web", allowed=1, healthy=3, desired=2, expected=3)
    two = _pdb("web-strict", allowed=1, healthy=3, desired=2, expected=3)
    pods = _unready_here(Toleration(operator="Exists"))
    why, other = _plan(pods, DisruptionBudgets((one, two)), WEB, ready=False).blocked_by
    assert other.startswith("pod shop/web-1 is selected by 2 PodDisruptionBudgets")
    assert why.startswith(
        "pod shop/web-0 is selected by 2 PodDisruptionBudgets (shop/web, shop/web-strict) (it "
        f"tolerates the node's {NOT_READY}:NoExecute taint for ever, `{{operator: Exists}}`, "
        "no tolerationSeconds, so the node lifecycle controller never deletes it): the "
        "eviction API refuses it"
    ), why
    deleted = _unready_here(Toleration(key=NOT_READY, operator="Exists", seconds=60))
    assert _plan(deleted, DisruptionBudgets((one, two)), WEB, ready=False).blocked_by == ()
