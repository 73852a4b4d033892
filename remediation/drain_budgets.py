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

On a NotReady node the node lifecycle controller marks every pod not ready, taints the
node ``node.kubernetes.io/not-ready:NoExecute`` (Ready False) or
``node.kubernetes.io/unreachable:NoExecute`` (Ready Unknown: the kubelet stopped
reporting), and deletes each pod after its ``tolerationSeconds`` for that taint, whatever
its budgets: at once when it does not tolerate the taint, after 300 s as the
DefaultTolerationSeconds admission plugin writes them. A budget refusing such a pod
delays the drain, it does not block it. A pod that tolerates the taint with no
``tolerationSeconds`` (``operator: Exists`` alone, as DaemonSet-like operators and some
databases do) is never deleted: its budget is judged as for a pod that must be evicted,
and the sentence names the toleration.

Each PDB gets one of three verdicts:

- ``allows``: its pods here may go now (one by one, as replacements become ready,
  when it allows fewer than there are here);
- ``waits``: it allows none now, but some of its pods elsewhere are not ready yet (being
  rescheduled, starting) and will free room as they become ready, or its status is
  not judged yet, or the pods it refuses are not ready on a NotReady node that will
  delete them (above): the drain can start, and its rounds ask again;
- ``blocks``: the drain cannot finish without a person: it can never allow a
  disruption (``maxUnavailable: 0``, ``minAvailable`` equal to its expected pods), or
  it allows none and every pod it counts that is not healthy is on this node (so none
  will become ready elsewhere), or a pod here has more than one PDB. A blocked drain is
  not started at all: cordoning and waiting out its timeout would only end INCOMPLETE
  and fail its verification. An approved drain reads them again just before its cordon
  (``planning.drain_blocked_by``), and is closed unstarted if one blocks it then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from remediation.drain_notes import shown
from remediation.ports import (
    DisruptionBudgets,
    DisruptionBudgetState,
    NodeState,
    ObjectRef,
    PodState,
    Toleration,
)

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


NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


def lifecycle_taint(node: NodeState) -> str:
    """The NoExecute taint the node lifecycle controller puts on a NotReady ``node``:
    not-ready while its Ready condition is False, unreachable while it is Unknown (the
    kubelet stopped reporting) or missing."""
    return NOT_READY_TAINT if node.conditions.get("Ready") == "False" else UNREACHABLE_TAINT


def _matching(pod: PodState, taint: str) -> list[Toleration]:
    return [t for t in pod.tolerations if t.tolerates(taint, "NoExecute")]


def _stays_by(pod: PodState, taint: str) -> Toleration | None:
    """The toleration by which ``pod`` stays for ever on a node tainted ``taint``
    NoExecute, or None when the taint manager deletes it: every toleration matching the
    taint has no ``tolerationSeconds`` (one that has them sets the time, the shortest
    one winning)."""
    matching = _matching(pod, taint)
    if matching and all(t.seconds is None for t in matching):
        return matching[0]
    return None


def _deleted_after(pods: Sequence[PodState], taint: str) -> str:
    """When the taint manager deletes ``pods`` (none of them staying for ever), said."""
    delays = sorted(
        {
            max(
                min((t.seconds for t in _matching(p, taint) if t.seconds is not None), default=0), 0
            )
            for p in pods
        }
    ) or [0.0]
    if delays == [0]:
        return f"at once (they do not tolerate its {taint} taint)"
    span = f"{delays[0]:g} s" if len(delays) == 1 else f"{delays[0]:g} s to {delays[-1]:g} s"
    return f"{span} after it was tainted {taint} (their tolerationSeconds)"


def _taint_deletes(pods: Sequence[PodState], taint: str) -> str:
    return (
        "the node is NotReady, so the node lifecycle controller deletes them "
        f"{_deleted_after(pods, taint)} whatever the budget, and the drain's rounds count "
        "them as they go"
    )


def _staying(pods: Sequence[tuple[PodState, Toleration]], taint: str) -> str:
    """Pods a NotReady node keeps for ever, and why, said."""
    names = shown([_pod(p) for p, _ in pods])
    tolerations = sorted({str(t) for _, t in pods})
    which = " and ".join(f"`{t}`" for t in tolerations)
    one = len(pods) == 1
    return (
        f"{names} {'tolerates' if one else 'tolerate'} the node's {taint}:NoExecute taint "
        f"for ever ({which}, no tolerationSeconds), so the node lifecycle controller never "
        f"deletes {'it' if one else 'them'}, and, not ready, the eviction API refuses "
        f"{'it' if one else 'them'} while the budget is not met"
    )


def _judge(
    pdb: DisruptionBudgetState,
    node_state: NodeState,
    here: Sequence[PodState],
    on_node: Sequence[PodState],
) -> tuple[Verdict, str]:
    """The verdict on ``pdb`` for a drain of ``node_state`` evicting ``here`` (the pods
    it alone covers there), and the clause that says it. ``on_node``: every pod of the
    PDB on the node, those the drain leaves and those terminating included."""
    node = node_state.ref.name
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
    # Not ready on a NotReady node: deleted by the taint manager whatever the budget,
    # unless they tolerate its taint for ever; those are judged as pods to evict.
    staying: list[tuple[PodState, Toleration]] = []
    if not ready and not node_state.ready:
        taint = lifecycle_taint(node_state)
        staying = [(p, t) for p in unready if (t := _stays_by(p, taint)) is not None]
        if not staying:
            return "waits", (
                f"{head}: it refuses them now (not ready, budget not met); "
                f"{_taint_deletes(unready, taint)}"
            )
    kept = f"{_staying(staying, lifecycle_taint(node_state))}; " if staying else ""
    if never:
        refused = "the pods it covers here" if staying else "every ready pod it covers"
        why = (
            f"{kept}its {_spec(pdb)} leaves no disruption at {expected} expected pods, so "
            f"the eviction API refuses {refused}"
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
            f"{kept}it allows none and none of its pods elsewhere is on its way to ready (all "
            f"{healthy} healthy ones count toward the {desired} it keeps{left}), so no "
            "eviction it covers can happen"
        )
    return "blocks", (
        f"{head}: {why}. The drain cannot finish without a person: inspect it with "
        f"`{_inspect(pdb)}`, then relax it, add replicas elsewhere, or move the pods by hand"
    )


def read_budgets(
    node: NodeState,
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
        verdict, clause = _judge(pdb, node, here, on_node)
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
        taint = lifecycle_taint(node)
        stays = _stays_by(pod, taint)
        if not pod.ready and not node.ready and stays is None:
            clause = (
                f"pod {_pod(pod)} is selected by {len(matching)} PodDisruptionBudgets "
                f"({names}), so the eviction API refuses it; {_taint_deletes([pod], taint)}"
            )
            notes.append(clause)
            found.append({"pod": _pod(pod), "pdbs": [_name(b) for b in matching], "says": clause})
            continue
        kept = (
            f" (it tolerates the node's {taint}:NoExecute taint for ever, `{stays}`, no "
            "tolerationSeconds, so the node lifecycle controller never deletes it)"
            if stays is not None and not pod.ready and not node.ready
            else ""
        )
        clause = (
            f"pod {_pod(pod)} is selected by {len(matching)} PodDisruptionBudgets ({names}){kept}: "
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
