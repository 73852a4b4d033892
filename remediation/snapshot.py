"""The cluster as one frozen value, read once per decision.

Planning and matching look only at a ``ClusterSnapshot``: what the adapter listed
(workloads, pods, nodes, HPAs) plus the alerts currently firing. Deciding on one
consistent snapshot, never on live reads, keeps ``plan`` a pure function and makes every
decision reproducible from the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from remediation.ports import HpaState, NodeState, ObjectRef, PodState, WorkloadState

__all__ = ["ClusterSnapshot", "FiringAlert"]


@dataclass(frozen=True)
class FiringAlert:
    """An alert Alertmanager reported as firing and that has not resolved since."""

    name: str
    labels: Mapping[str, str]
    fingerprint: str
    starts_at: float


@dataclass(frozen=True)
class ClusterSnapshot:
    """Everything a decision may look at, taken at ``taken_at`` (epoch seconds)."""

    workloads: tuple[WorkloadState, ...] = ()
    pods: tuple[PodState, ...] = ()
    nodes: tuple[NodeState, ...] = ()
    hpas: tuple[HpaState, ...] = ()
    alerts: tuple[FiringAlert, ...] = ()
    taken_at: float = 0.0
    _index: dict[ObjectRef, WorkloadState] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self._index.update({w.ref: w for w in self.workloads})

    def workload(self, ref: ObjectRef) -> WorkloadState | None:
        return self._index.get(ref)

    def pod(self, ref: ObjectRef) -> PodState | None:
        return next((p for p in self.pods if p.ref == ref), None)

    def node(self, name: str) -> NodeState | None:
        return next((n for n in self.nodes if n.ref.name == name), None)

    def pods_of(self, owner: ObjectRef) -> tuple[PodState, ...]:
        """Pods owned (through their ReplicaSet) by ``owner``, by name."""
        return tuple(sorted((p for p in self.pods if p.owner == owner), key=lambda p: p.ref))

    def pods_on(self, node: str) -> tuple[PodState, ...]:
        return tuple(sorted((p for p in self.pods if p.node == node), key=lambda p: p.ref))

    def hpa_for(self, workload: ObjectRef) -> HpaState | None:
        return next((h for h in self.hpas if h.target == workload), None)
