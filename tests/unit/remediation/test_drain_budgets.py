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
) -> Plan:
    sick = node("node-2", ready=ready, not_ready_since=None if ready else NOW - 600)
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
