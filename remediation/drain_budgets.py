"""What the PodDisruptionBudgets covering a node's pods say of a drain, read before it
starts, as a careful on-call reads them by hand (``kubectl get pdb``).

For the pods a drain would evict, each PDB (policy/v1) in a pod's namespace whose
selector matches the pod's labels is read: ``status.disruptionsAllowed``,
``currentHealthy``, ``desiredHealthy``, ``expectedPods``, and how many of the pods it
covers are on the node. The eviction API judges a pod the same way:

- a pod in phase Pending (or one already terminating) is evicted whatever its budgets;
- a pod two or more PDBs select is never evicted (the API answers 500, "This pod has
  more than one PodDisruptionBudget");
- a ready pod needs one disruption the PDB allows (``disruptionsAllowed`` > 0), and
  each eviction takes one until its replacement is ready elsewhere;
- a pod that is not ready is evicted while the budget is met (``currentHealthy`` at
  least ``desiredHealthy``), or always with ``unhealthyPodEvictionPolicy: AlwaysAllow``;
- a PDB whose status is behind its spec (``observedGeneration``) refuses every pod
  until the disruption controller has judged it.

On a NotReady node the node lifecycle controller marks every pod not ready, and deletes
them after their ``tolerationSeconds`` for the ``unreachable``/``not-ready`` taints (5
minutes unless the pod says otherwise) whatever their budgets: a budget refusing such a
pod delays the drain, it does not block it.

Each PDB gets one of three verdicts:

- ``allows``: its pods here may go now (one by one, as replacements become ready,
  when it allows fewer than there are here);
- ``waits``: it allows none now, but some of its pods elsewhere are not ready yet (being
  rescheduled, starting) and will free room as they become ready, or its status is
  not judged yet, or the pods it refuses are not ready on a NotReady node (above): the
  drain can start, and its rounds ask again;
- ``blocks``: the drain cannot finish without a person: it can never allow a
  disruption (``maxUnavailable: 0``, ``minAvailable`` equal to its expected pods), or
  it allows none and every pod it counts that is not healthy is on this node (so none
  will become ready elsewhere), or a pod here has more than one PDB. A blocked drain is
  not started at all: cordoning and waiting out its timeout would only end INCOMPLETE
  and fail its verification.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from remediation.drain_notes import shown
from remediation.ports import DisruptionBudgets, DisruptionBudgetState, ObjectRef, PodState

__all__ = ["BudgetReading", "read_budgets"]

Verdict = Literal["allows", "waits", "blocks"]


@dataclass(frozen=True)
class BudgetReading:
    """What the budgets say of one drain: a clause for the plan's sentence per PDB
    (``notes``), the ones that block it (``blocking``), and the evidence."""

    notes: tuple[str, ...] = ()
    blocking: tuple[str, ...] = ()
    evidence: dict[str, Any] | None = None


def _name(pdb: DisruptionBudgetState) -> str:
    return f"{pdb.ref.namespace}/{pdb.ref.name}"


def _pod(pod: PodState) -> str:
    return f"{pod.ref.namespace}/{pod.ref.name}"


def _inspect(pdb: DisruptionBudgetState) -> str:
    return f"kubectl -n {pdb.ref.namespace} get pdb {pdb.ref.name} -o yaml"


def _spec(pdb: DisruptionBudgetState) -> str:
    parts = []
    if pdb.min_available is not None:
        parts.append(f"minAvailable {pdb.min_available}")
    if pdb.max_unavailable is not None:
        parts.append(f"maxUnavailable {pdb.max_unavailable}")
    return ", ".join(parts) or "neither minAvailable nor maxUnavailable"


def _ignores_budgets(pod: PodState) -> bool:
    # As the eviction API's canIgnorePDB: Pending, terminal or terminating pods.
    return pod.phase in ("Pending", "Succeeded", "Failed") or pod.deleting


_TAINT_DELETES = (
    "the node is NotReady, so the node lifecycle controller deletes them after their "
    "tolerationSeconds (5 minutes unless they say otherwise) whatever the budget, and the "
    "drain's rounds count them as they go"
)


def _judge(
    pdb: DisruptionBudgetState,
    node: str,
    node_ready: bool,
    here: Sequence[PodState],
    on_node: Sequence[PodState],
) -> tuple[Verdict, str]:
    """The verdict on ``pdb`` for a drain of ``node`` evicting ``here`` (the pods it
    alone covers there), and the clause that says it. ``on_node``: every pod of the PDB
    on the node, those the drain leaves and those terminating included."""
    ready = [p for p in here if p.ready and not _ignores_budgets(p)]
    unready = [p for p in here if not p.ready and not _ignores_budgets(p)]
    allowed = pdb.disruptions_allowed
    healthy, desired, expected = pdb.current_healthy, pdb.desired_healthy, pdb.expected_pods
    unready_ok = pdb.always_allow_unhealthy or allowed > 0 or (0 < desired <= healthy)
    numbers = (
        f"allows {allowed} disruption{'' if allowed == 1 else 's'} ({healthy} healthy, "
        f"{desired} desired, {expected} expected; {_spec(pdb)})"
    )
    names = shown([_pod(p) for p in here])
    count = f"{len(here)} of its pods on node {node} ({names})"
    head = f"PodDisruptionBudget {_name(pdb)} {numbers}, {count}"
    if not ready and (not unready or unready_ok):
        return "allows", f"{head}: they may be evicted now"
    if not pdb.status_current:
        return "waits", (
            f"{head}: its status is behind its spec (the disruption controller has not "
            "judged it yet), so the eviction API refuses them until it has; the drain asks "
            "again each round"
        )
    # Pods it counts that are not healthy and are not on this node: starting, or being
    # rescheduled. Each that becomes ready adds one allowed disruption.
    down_here = sum(1 for p in on_node if not p.ready or p.deleting)
    elsewhere = expected - healthy - down_here
    never = expected > 0 and desired >= expected
    if ready and allowed > 0:
        if allowed >= len(ready):
            return "allows", f"{head}: they may be evicted now"
        return "allows", (
            f"{head}: {allowed} may be evicted now, the others one by one as the "
            "replacements become ready elsewhere"
        )
    if not ready and not node_ready:
        return "waits", f"{head}: it refuses them now (not ready, budget not met); {_TAINT_DELETES}"
    if never:
        why = (
            f"its {_spec(pdb)} leaves no disruption at {expected} expected pods, so the "
            "eviction API refuses every ready pod it covers"
        )
    elif elsewhere > 0:
        return "waits", (
            f"{head}: {elsewhere} of its pods elsewhere {'is' if elsewhere == 1 else 'are'} "
            "not ready yet; as they become ready it allows evictions, and the drain's rounds "
            "ask again"
        )
    else:
        off = expected - healthy
        left = "" if off <= 0 else f"; the {off} not healthy {'is' if off == 1 else 'are'} on it"
        why = (
            f"it allows none and none of its pods elsewhere is on its way to ready (all "
            f"{healthy} healthy ones count toward the {desired} it keeps{left}), so no "
            "eviction it covers can happen"
        )
    return "blocks", (
        f"{head}: {why}. The drain cannot finish without a person: inspect it with "
        f"`{_inspect(pdb)}`, then relax it, add replicas elsewhere, or move the pods by hand"
    )


def read_budgets(
    node: str,
    node_ready: bool,
    chosen: Sequence[PodState],
    node_pods: Sequence[PodState],
    budgets: DisruptionBudgets,
) -> BudgetReading:
    """Read ``budgets`` for a drain of ``node`` that would evict ``chosen``;
    ``node_pods``: every pod on the node (those it leaves and terminating ones too)."""
    if budgets.unread is not None:
        note = (
            f"PodDisruptionBudgets could not be read ({budgets.unread}): the plan cannot say "
            "whether one would refuse an eviction; the eviction API still applies them"
        )
        return BudgetReading((note,), (), {"unread": budgets.unread})
    by_namespace: dict[str | None, list[DisruptionBudgetState]] = {}
    for pdb in budgets.budgets:
        by_namespace.setdefault(pdb.ref.namespace, []).append(pdb)
    covered: dict[ObjectRef, tuple[DisruptionBudgetState, list[PodState]]] = {}
    several: list[tuple[PodState, list[DisruptionBudgetState]]] = []
    for pod in chosen:
        matching = [b for b in by_namespace.get(pod.ref.namespace, ()) if b.selects(pod.labels)]
        if len(matching) > 1 and not _ignores_budgets(pod):
            several.append((pod, matching))
        elif matching:
            covered.setdefault(matching[0].ref, (matching[0], []))[1].append(pod)
    notes: list[str] = []
    blocking: list[str] = []
    found: list[dict[str, Any]] = []
    for _, (pdb, here) in sorted(covered.items()):
        on_node = [p for p in node_pods if p.ref.namespace == pdb.ref.namespace]
        on_node = [p for p in on_node if pdb.selects(p.labels)]
        verdict, clause = _judge(pdb, node, node_ready, here, on_node)
        notes.append(clause)
        if verdict == "blocks":
            blocking.append(clause)
        found.append(
            {
                "pdb": _name(pdb),
                "verdict": verdict,
                "disruptionsAllowed": pdb.disruptions_allowed,
                "currentHealthy": pdb.current_healthy,
                "desiredHealthy": pdb.desired_healthy,
                "expectedPods": pdb.expected_pods,
                "minAvailable": pdb.min_available,
                "maxUnavailable": pdb.max_unavailable,
                "podsOnNode": [_pod(p) for p in here],
                "says": clause,
            }
        )
    for pod, matching in several:
        names = ", ".join(_name(b) for b in matching)
        if not pod.ready and not node_ready:
            clause = (
                f"pod {_pod(pod)} is selected by {len(matching)} PodDisruptionBudgets "
                f"({names}), so the eviction API refuses it; {_TAINT_DELETES}"
            )
            notes.append(clause)
            found.append({"pod": _pod(pod), "pdbs": [_name(b) for b in matching], "says": clause})
            continue
        clause = (
            f"pod {_pod(pod)} is selected by {len(matching)} PodDisruptionBudgets ({names}): "
            'the eviction API refuses it ("This pod has more than one PodDisruptionBudget"), '
            "so the drain cannot finish without a person: inspect them with "
            f"`kubectl -n {pod.ref.namespace} get pdb {' '.join(b.ref.name for b in matching)}"
            " -o yaml` and keep one"
        )
        notes.append(clause)
        blocking.append(clause)
        found.append({"pod": _pod(pod), "pdbs": [_name(b) for b in matching], "says": clause})
    evidence = {"read": len(budgets.budgets), "covering": found}
    return BudgetReading(tuple(notes), tuple(blocking), evidence)
