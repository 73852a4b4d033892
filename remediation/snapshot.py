"""The cluster as one frozen value, read once per decision.

Planning and matching look only at a ``ClusterSnapshot``: what the adapter listed
(workloads, pods, nodes, HPAs, PersistentVolumeClaims, PodDisruptionBudgets) plus the
alerts currently firing.
Deciding on one consistent snapshot, never on live reads, keeps ``plan`` a pure function
and makes every decision reproducible from the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from remediation.ports import (
    DisruptionBudgets,
    HpaState,
    NodeState,
    ObjectRef,
    PodState,
    UnreadObject,
    VolumeClaimState,
    WorkloadState,
)

__all__ = ["ClusterSnapshot", "FiringAlert"]


@dataclass(frozen=True)
class FiringAlert:
    """An alert Alertmanager reported as firing and that has not resolved since."""

    name: str
    labels: Mapping[str, str]
    fingerprint: str
    starts_at: float
    # Its latest delivery (None: not known, as from a caller that does not keep it).
    delivered_at: float | None = None


@dataclass(frozen=True)
class ClusterSnapshot:
    """Everything a decision may look at, taken at ``taken_at`` (epoch seconds)."""

    workloads: tuple[WorkloadState, ...] = ()
    pods: tuple[PodState, ...] = ()
    nodes: tuple[NodeState, ...] = ()
    hpas: tuple[HpaState, ...] = ()
    alerts: tuple[FiringAlert, ...] = ()
    taken_at: float = 0.0
    # Alerts last known firing (neither resolved nor past their endsAt) whose last
    # delivery is too old to count them as firing, while nothing has been heard from
    # Alertmanager since: whether they still fire is not known (Alertmanager may be down
    # or cut off). Not in ``alerts``; ``noOtherAlertFiring`` cannot pass over them.
    unknown_alerts: tuple[FiringAlert, ...] = ()
    claims: tuple[VolumeClaimState, ...] = ()
    # The PodDisruptionBudgets a drain's plan reads; None from a reader that reads none
    # (the simulated cluster), which a plan then does not mention.
    budgets: DisruptionBudgets | None = None
    # Objects that exist but were left out of a listing because they could not be read
    # (``UnreadObject``): not in ``workloads``, ``pods``, ``nodes`` or ``claims``, and
    # not absent either. A check that would pass on an object's absence (a node
    # deleted, a workload with no pod in trouble) stays undecided over them.
    unread: tuple[UnreadObject, ...] = ()
    _index: dict[ObjectRef, WorkloadState] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # Lookups by pod, node, owner and HPA target, built on first use: a plan or a
    # verification asks several of them per signal, and scanning every pod of a
    # 10,000-workload cluster each time made a cycle grow with signals x pods.
    _lookups: dict[str, dict[Any, Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self._index.update({w.ref: w for w in self.workloads})

    def _lookup(self, name: str) -> dict[Any, Any]:
        found = self._lookups.get(name)
        if found is None:
            found = self._lookups[name] = _build_lookup(self, name)
        return found

    def workload(self, ref: ObjectRef) -> WorkloadState | None:
        return self._index.get(ref)

    def pod(self, ref: ObjectRef) -> PodState | None:
        found: PodState | None = self._lookup("pod").get(ref)
        return found

    def node(self, name: str) -> NodeState | None:
        found: NodeState | None = self._lookup("node").get(name)
        return found

    def claim(self, ref: ObjectRef) -> VolumeClaimState | None:
        """The PersistentVolumeClaim ``ref`` names, or None."""
        found: VolumeClaimState | None = self._lookup("claim").get(ref)
        return found

    def pods_of(self, owner: ObjectRef) -> tuple[PodState, ...]:
        """Pods owned (through their ReplicaSet) by ``owner``, by name; not those in a
        terminal phase."""
        found: tuple[PodState, ...] = self._lookup("owner").get(owner, ())
        return found

    def pods_on(self, node: str) -> tuple[PodState, ...]:
        """Pods on ``node``, by name; not those in a terminal phase."""
        found: tuple[PodState, ...] = self._lookup("on").get(node, ())
        return found

    def hpa_for(self, workload: ObjectRef) -> HpaState | None:
        found: HpaState | None = self._lookup("hpa").get(workload)
        return found

    def unread_why(self, ref: ObjectRef) -> str | None:
        """Why ``ref`` exists but could not be read (the reader's message), or None when
        it was read or is not there. A Node is found by its name."""
        key = ObjectRef("Node", ref.name, None) if ref.kind == "Node" else ref
        found: UnreadObject | None = self._lookup("unread").get(key)
        return None if found is None else found.why

    def unread_pods_on(self, node: str) -> tuple[UnreadObject, ...]:
        """Pods that could not be read whose ``spec.nodeName`` is ``node``."""
        found: tuple[UnreadObject, ...] = self._lookup("unread_on").get(node, ())
        return found

    def unread_pods_of(self, owner: ObjectRef) -> tuple[UnreadObject, ...]:
        """Pods that could not be read that ``owner`` owns (as far as could be told)."""
        found: tuple[UnreadObject, ...] = self._lookup("unread_of").get(owner, ())
        return found

    def scaled_by(self, hpa: ObjectRef) -> ObjectRef | None:
        """The workload the HorizontalPodAutoscaler ``hpa`` scales (its
        ``scaleTargetRef``), or None when the snapshot has no such HPA. The snapshot
        holds the HPAs of the workloads it holds: an HPA whose target is not one of
        them is not in it. An HPA that shares its target with others is found by its
        name too (``HpaState.shared_with``)."""
        found: ObjectRef | None = self._lookup("scales").get(hpa)
        return found


def _first_by(items: Iterable[Any], key: Callable[[Any], Any]) -> dict[Any, Any]:
    """Key -> the first item with that key (what a linear ``next(...)`` search finds)."""
    out: dict[Any, Any] = {}
    for item in items:
        out.setdefault(key(item), item)
    return out


def _grouped(pods: Iterable[PodState], key: Callable[[PodState], Any]) -> dict[Any, Any]:
    """Key -> the pods with that key, sorted by ref (as the scans returned them)."""
    groups: dict[Any, list[PodState]] = {}
    for pod in pods:
        groups.setdefault(key(pod), []).append(pod)
    return {k: tuple(sorted(v, key=lambda p: p.ref)) for k, v in groups.items()}


def _build_lookup(snapshot: ClusterSnapshot, name: str) -> dict[Any, Any]:
    if name == "pod":
        return _first_by(snapshot.pods, lambda p: p.ref)
    if name == "node":
        return _first_by(snapshot.nodes, lambda n: n.ref.name)
    if name == "claim":
        return _first_by(snapshot.claims, lambda c: c.ref)
    if name == "unread":
        return _first_by(
            snapshot.unread,
            lambda u: ObjectRef("Node", u.ref.name, None) if u.ref.kind == "Node" else u.ref,
        )
    if name in ("unread_on", "unread_of"):
        groups: dict[Any, list[UnreadObject]] = {}
        for unread in snapshot.unread:
            key = unread.node if name == "unread_on" else unread.owner
            if unread.ref.kind == "Pod" and key is not None:
                groups.setdefault(key, []).append(unread)
        return {k: tuple(v) for k, v in groups.items()}
    if name == "hpa":
        return _first_by(snapshot.hpas, lambda h: h.target)
    if name == "scales":
        scales: dict[ObjectRef, ObjectRef] = {}
        for hpa in snapshot.hpas:
            for other in (hpa.ref.name, *hpa.shared_with):
                ref = ObjectRef("HorizontalPodAutoscaler", other, hpa.ref.namespace)
                scales.setdefault(ref, hpa.target)
        return scales
    # A pod in a terminal phase is neither a workload's nor a node's: its controller
    # no longer counts it, and it runs nothing (``PodState.terminal``).
    if name == "owner":
        return _grouped((p for p in snapshot.pods if not p.terminal), lambda p: p.owner)
    if name == "on":
        return _grouped((p for p in snapshot.pods if not p.terminal), lambda p: p.node)
    raise KeyError(name)
