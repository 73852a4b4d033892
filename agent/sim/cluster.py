"""A simulated cluster that implements the same ports as the Kubernetes adapter.

Fidelity where Autonomic's decisions depend on it, and nowhere else:

- Deployments own pods through revisions; pods take ``startup`` seconds to become
  ready; a rollout keeps old pods until new ones are ready (maxUnavailable 0), so a
  bad image leaves new pods crash-looping next to the old ones, as in a real cluster.
- Each ready pod serves ``capacity`` units of load; latency rises with utilisation and
  load above ready capacity is dropped as errors.
- Memory grows per pod at ``leak_mib_per_hour``; a pod whose memory passes its limit
  is OOMKilled and restarts, so repeated OOMKills show up in restart counts and in the
  last termination reason.
- Nodes can go NotReady; their pods stop serving. Cordon and drain work through
  evictions that respect a PodDisruptionBudget.
- An HPA, when configured, is the faithful controller in ``forecasting.hpa``, run every
  15 s on the load the metrics pipeline shows it (lagged one scrape).

The simulation advances only when ``advance(now, load)`` is called, so it runs on the
simulation's fake clock as fast as the CPU allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from agent.errors import PermanentError
from forecasting.hpa import HpaController, HpaSpec, MetricObservation
from remediation.ports import (
    REPORT_PREFIX,
    ContainerState,
    Cordon,
    DeletePod,
    Drain,
    EvictionRoom,
    EvictPod,
    HpaState,
    NodeState,
    ObjectRef,
    Operation,
    OperationResult,
    PatchResources,
    PauseRollout,
    PodState,
    RollbackToPrevious,
    RolloutRestart,
    Scale,
    SetHpaMaxReplicas,
    SetHpaMinReplicas,
    SetImages,
    WorkloadState,
)
from remediation.quantity import parse_quantity

__all__ = ["SimCluster", "SimEvent", "SimHpa", "SimNode", "SimPod", "SimWorkload", "Template"]

BACKOFF = 60.0  # seconds a crashed container waits before the next start
HPA_PERIOD = 15.0


def _mib(quantity: str) -> float:
    """A memory quantity (``384Mi``, ``1Gi``, ``500M``) in MiB, read as Kubernetes reads it."""
    return float(parse_quantity(quantity)) / 2**20


@dataclass(frozen=True)
class Template:
    image: str
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)
    restarted_at: float | None = None


@dataclass
class SimHpa:
    name: str
    min_replicas: int
    max_replicas: int
    target_per_pod: float
    controller: HpaController | None = None


@dataclass
class SimWorkload:
    ref: ObjectRef
    replicas: int
    templates: dict[int, Template]
    revision: int
    capacity: float  # load one ready pod serves
    startup: float  # seconds from creation to ready
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    bad_images: set[str] = field(default_factory=set)
    base_memory_mib: float = 200.0
    leak_mib_per_hour: float = 0.0
    leak_plateau_mib: float | None = None
    base_latency_ms: float = 50.0
    base_error_rate: float = 0.001
    paused: bool = False
    image_effects: dict[str, tuple[float, float]] = field(default_factory=dict)
    last_rollout_at: float | None = None
    hpa: SimHpa | None = None
    pdb_min_available: int | None = None
    last_human_change_at: float | None = None

    @property
    def template(self) -> Template:
        return self.templates[self.revision]


@dataclass
class SimPod:
    name: str
    owner: ObjectRef
    revision: int
    node: str
    created_at: float
    started_at: float
    restarts: int = 0
    waiting_reason: str | None = None
    last_termination_reason: str | None = None
    crashed_until: float | None = None
    deleting: bool = False


@dataclass
class SimNode:
    name: str
    ready: bool = True
    unschedulable: bool = False
    not_ready_since: float | None = None
    conditions: dict[str, str] = field(default_factory=dict)
    # type -> when that condition last changed status (its lastTransitionTime)
    condition_since: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SimEvent:
    at: float
    target: str
    reason: str
    message: str
    warning: bool


@dataclass
class Sample:
    """What the metrics pipeline scrapes from one workload at one instant."""

    load: float
    served: float
    ready_pods: int
    pods: int
    replicas: int
    latency_ms: float
    error_rate: float
    restarts: int
    memory_mib: float


class SimCluster:
    """In-memory cluster implementing ``ClusterReader`` and ``ClusterWriter``."""

    def __init__(self, nodes: list[str], now: float, *, seed: int = 0) -> None:
        import random

        self.rng = random.Random(seed)
        self.now = now
        self.nodes: dict[str, SimNode] = {n: SimNode(n) for n in nodes}
        self.workloads: dict[ObjectRef, SimWorkload] = {}
        self.pods: dict[str, SimPod] = {}
        self._owned: dict[ObjectRef, dict[str, SimPod]] = {}
        self.events: list[SimEvent] = []
        self.writes: list[tuple[float, str, str]] = []  # (time, op, target) for audits
        self._serial = 0
        self._next_hpa = now
        self.last_samples: dict[ObjectRef, Sample] = {}

    # ------------------------------------------------------------ building
    def add_workload(self, workload: SimWorkload, *, ready: bool = True) -> None:
        self.workloads[workload.ref] = workload
        for _ in range(workload.replicas):
            pod = self._create_pod(workload)
            if ready:
                pod.created_at = pod.started_at = self.now - workload.startup - 1

    def remove_workload(self, ref: ObjectRef) -> None:
        for pod in self.pods_of(ref):
            self._delete(pod.name)
        self.workloads.pop(ref, None)
        self.last_samples.pop(ref, None)

    def _create_pod(self, workload: SimWorkload) -> SimPod:
        self._serial += 1
        name = f"{workload.ref.name}-{workload.revision}-{self._serial:05d}"
        pod = SimPod(name, workload.ref, workload.revision, self._place(), self.now, self.now)
        self.pods[name] = pod
        self._owned.setdefault(workload.ref, {})[name] = pod
        return pod

    def _delete(self, name: str) -> None:
        pod = self.pods.pop(name, None)
        if pod is not None:
            self._owned.get(pod.owner, {}).pop(name, None)

    def pods_of(self, ref: ObjectRef) -> list[SimPod]:
        return list(self._owned.get(ref, {}).values())

    def _place(self) -> str:
        usable = [n for n in self.nodes.values() if n.ready and not n.unschedulable]
        if not usable:
            usable = list(self.nodes.values())
        counts = {n.name: 0 for n in usable}
        for pod in self.pods.values():
            if pod.node in counts:
                counts[pod.node] += 1
        return min(counts, key=lambda name: (counts[name], name))

    # -------------------------------------------------------- time moving
    def pod_ready(self, pod: SimPod, now: float | None = None) -> bool:
        now = self.now if now is None else now
        if pod.deleting or pod.waiting_reason is not None:
            return False
        if pod.crashed_until is not None and now < pod.crashed_until:
            return False
        node = self.nodes.get(pod.node)
        if node is None or not node.ready:
            return False
        workload = self.workloads[pod.owner]
        return now >= pod.started_at + workload.startup

    def advance(self, now: float, load: dict[ObjectRef, float]) -> dict[ObjectRef, Sample]:
        """Move to ``now``: pods start, crash, leak and get replaced; the HPA reconciles."""
        self.now = now
        for workload in self.workloads.values():
            self._reconcile(workload, now)
        samples = {}
        for ref, workload in self.workloads.items():
            samples[ref] = self._sample(workload, load.get(ref, 0.0), now)
        while self._next_hpa <= now:
            for ref, workload in self.workloads.items():
                if workload.hpa is not None:
                    previous = self.last_samples.get(ref, samples[ref])
                    self._run_hpa(workload, previous, self._next_hpa)
            self._next_hpa += HPA_PERIOD
        self.last_samples = samples
        return samples

    def _reconcile(self, workload: SimWorkload, now: float) -> None:
        mine = self.pods_of(workload.ref)
        for pod in mine:  # crash loops and OOM kills
            pod_template = workload.templates[pod.revision]
            if pod_template.image in workload.bad_images:
                if pod.crashed_until is None or now >= pod.crashed_until:
                    pod.restarts += 1
                    pod.waiting_reason = "CrashLoopBackOff"
                    pod.last_termination_reason = "Error"
                    pod.crashed_until = now + BACKOFF
                continue
            limit = pod_template.limits.get("memory")
            if limit and workload.leak_mib_per_hour > 0:
                used = workload.base_memory_mib + self._growth(workload, now - pod.started_at)
                if used > _mib(limit):
                    pod.restarts += 1
                    pod.last_termination_reason = "OOMKilled"
                    pod.started_at = now
                    pod.crashed_until = now + 10.0
            if pod.crashed_until is not None and now >= pod.crashed_until:
                pod.waiting_reason = None
        current = [p for p in mine if p.revision == workload.revision and not p.deleting]
        old = [p for p in mine if p.revision != workload.revision and not p.deleting]
        if workload.paused:
            return
        # Surge new pods up to the desired count; retire old pods as new ones turn ready.
        missing = workload.replicas - len(current)
        for _ in range(max(missing, 0)):
            current.append(self._create_pod(workload))
        if missing < 0:
            surplus = sorted(current, key=lambda p: (self.pod_ready(p, now), -p.created_at))[
                :-missing
            ]
            for pod in surplus:
                self._delete(pod.name)
            current = [p for p in current if p.name in self.pods]
        ready_new = sum(self.pod_ready(p, now) for p in current)
        if old:
            keep = max(workload.replicas - ready_new, 0)
            old.sort(key=lambda p: (not self.pod_ready(p, now), p.created_at))
            for pod in old[keep:]:
                self._delete(pod.name)
        # Pods on a NotReady node for 5 minutes are evicted and rescheduled (taint-based).
        for pod in self.pods_of(workload.ref):
            node = self.nodes.get(pod.node)
            if (
                node is not None
                and not node.ready
                and node.not_ready_since is not None
                and now - node.not_ready_since >= 300
                and pod.name in self.pods
            ):
                self._delete(pod.name)

    def _sample(self, workload: SimWorkload, load: float, now: float) -> Sample:
        pods = self.pods_of(workload.ref)
        ready = [p for p in pods if self.pod_ready(p, now)]
        capacity = len(ready) * workload.capacity
        served = min(load, capacity)
        utilisation = load / capacity if capacity > 0 else math.inf
        if math.isinf(utilisation):
            latency = workload.base_latency_ms * 20
        else:
            latency = workload.base_latency_ms / max(1.0 - min(utilisation, 0.95), 0.05)
        factor, extra_errors = workload.image_effects.get(workload.template.image, (1.0, 0.0))
        # Measurement noise: real latency percentiles and error counts are never exact.
        latency *= factor * self.rng.lognormvariate(0.0, 0.05)
        errors = workload.base_error_rate + extra_errors
        if load > 0:
            errors += (load - served) / load
            # Errors are counts: a Poisson draw of the expected number per minute.
            errors = self._poisson(errors * load) / load
        crashing = sum(1 for p in pods if p.waiting_reason == "CrashLoopBackOff")
        if pods and crashing:
            errors += 0.02 * crashing / len(pods)
        memory = max(
            (workload.base_memory_mib + self._growth(workload, now - p.started_at) for p in ready),
            default=0.0,
        )
        return Sample(
            load=load,
            served=served,
            ready_pods=len(ready),
            pods=len(pods),
            replicas=workload.replicas,
            latency_ms=latency,
            error_rate=min(errors, 1.0),
            restarts=sum(p.restarts for p in pods),
            memory_mib=memory,
        )

    @staticmethod
    def _growth(workload: SimWorkload, age: float) -> float:
        grown = workload.leak_mib_per_hour * age / 3600
        if workload.leak_plateau_mib is not None:
            grown = min(grown, workload.leak_plateau_mib)
        return grown

    def _poisson(self, mean: float) -> float:
        if mean <= 0:
            return 0.0
        if mean > 50:
            return max(round(self.rng.gauss(mean, math.sqrt(mean))), 0)
        threshold, k, product = math.exp(-mean), 0, self.rng.random()
        while product > threshold:
            k += 1
            product *= self.rng.random()
        return float(k)

    def _run_hpa(self, workload: SimWorkload, sample: Sample, at: float) -> None:
        hpa = workload.hpa
        assert hpa is not None
        if hpa.controller is None:
            hpa.controller = HpaController(
                HpaSpec(hpa.target_per_pod, hpa.min_replicas, hpa.max_replicas)
            )
        elif hpa.controller.spec.max_replicas != hpa.max_replicas:
            # A ceiling written since (a runbook's, a person's) reaches the controller at
            # its next reconcile, as the real one reads the HPA's spec each time.
            hpa.controller.spec = replace(hpa.controller.spec, max_replicas=hpa.max_replicas)
        pods = sample.pods
        ready = sample.ready_pods
        observation = (
            MetricObservation(ready, sample.load / ready, unready_pods=max(pods - ready, 0))
            if ready
            else None
        )
        decision = hpa.controller.reconcile(at, workload.replicas, observation, hpa.min_replicas)
        workload.replicas = decision.desired

    # ----------------------------------------------------------- faults
    def set_node_ready(self, name: str, ready: bool) -> None:
        node = self.nodes[name]
        node.ready = ready
        node.not_ready_since = None if ready else self.now
        node.conditions = {"Ready": "True" if ready else "False"}
        node.condition_since = {"Ready": self.now}

    def roll_out(self, ref: ObjectRef, image: str, *, by_human: bool = True) -> None:
        workload = self.workloads[ref]
        new = replace(workload.template, image=image)
        workload.revision += 1
        workload.templates[workload.revision] = new
        workload.last_rollout_at = self.now
        if by_human:
            workload.last_human_change_at = self.now

    # ------------------------------------------------------- ClusterReader
    def _workload_state(self, workload: SimWorkload) -> WorkloadState:
        pods = self.pods_of(workload.ref)
        ready = sum(self.pod_ready(p) for p in pods)
        updated = sum(p.revision == workload.revision for p in pods)
        failing = any(
            p.revision == workload.revision and p.waiting_reason == "CrashLoopBackOff" for p in pods
        )
        template = workload.template
        return WorkloadState(
            ref=workload.ref,
            replicas=workload.replicas,
            ready_replicas=ready,
            updated_replicas=updated,
            available_replicas=ready,
            labels=dict(workload.labels),
            annotations=dict(workload.annotations),
            selector={"app": workload.ref.name},
            containers=(
                ContainerState(
                    "app", template.image, dict(template.requests), dict(template.limits)
                ),
            ),
            generation=workload.revision,
            observed_generation=workload.revision,
            revision=workload.revision,
            paused=workload.paused,
            rollout_failed=failing
            and workload.last_rollout_at is not None
            and self.now - workload.last_rollout_at > 600,
            last_rollout_at=workload.last_rollout_at,
            managed_by_human_at=workload.last_human_change_at,
        )

    def get_workload(self, ref: ObjectRef) -> WorkloadState | None:
        workload = self.workloads.get(ref)
        return self._workload_state(workload) if workload else None

    def list_workloads(self, namespace: str | None = None) -> list[WorkloadState]:
        return [
            self._workload_state(w)
            for w in self.workloads.values()
            if namespace is None or w.ref.namespace == namespace
        ]

    def list_pods(
        self, namespace: str | None = None, selector: dict[str, str] | None = None
    ) -> list[PodState]:
        out = []
        for pod in self.pods.values():
            if namespace is not None and pod.owner.namespace != namespace:
                continue
            labels = {"app": pod.owner.name}
            if selector and any(labels.get(k) != v for k, v in selector.items()):
                continue
            ready = self.pod_ready(pod)
            startup = self.workloads[pod.owner].startup
            out.append(
                PodState(
                    ref=ObjectRef("Pod", pod.name, pod.owner.namespace),
                    labels=labels,
                    phase="Running",
                    ready=ready,
                    node=pod.node,
                    owner=pod.owner,
                    restarts=pod.restarts,
                    waiting_reason=pod.waiting_reason,
                    last_termination_reason=pod.last_termination_reason,
                    started_at=pod.started_at,
                    deleting=pod.deleting,
                    created_at=pod.created_at,
                    # Ready since it started up (a crash or a node outage resets the
                    # condition; the pod's restarts say which start-up times to trust).
                    ready_at=max(pod.started_at + startup, pod.crashed_until or 0.0)
                    if ready
                    else None,
                )
            )
        return out

    def list_nodes(self) -> list[NodeState]:
        return [
            NodeState(
                ref=ObjectRef("Node", n.name),
                labels={"kubernetes.io/hostname": n.name},
                ready=n.ready,
                unschedulable=n.unschedulable,
                conditions=dict(n.conditions) or {"Ready": "True" if n.ready else "False"},
                not_ready_since=n.not_ready_since,
                condition_since=dict(n.condition_since),
            )
            for n in self.nodes.values()
        ]

    def get_hpa_for(self, workload: ObjectRef) -> HpaState | None:
        found = self.workloads.get(workload)
        if found is None or found.hpa is None:
            return None
        hpa = found.hpa
        sample = self.last_samples.get(workload)
        usage = (
            sample.load / sample.ready_pods / hpa.target_per_pod
            if sample is not None and sample.ready_pods and hpa.target_per_pod > 0
            else None
        )
        return HpaState(
            ref=ObjectRef("HorizontalPodAutoscaler", hpa.name, workload.namespace),
            target=workload,
            min_replicas=hpa.min_replicas,
            max_replicas=hpa.max_replicas,
            current_replicas=found.replicas,
            desired_replicas=found.replicas,
            usage_ratio=usage,
            behavior=True,  # the simulated controller applies behavior's defaults
        )

    # ------------------------------------------------------- ClusterWriter
    def _workload_for(self, ref: ObjectRef) -> SimWorkload:
        if ref.kind == "HorizontalPodAutoscaler":
            for workload in self.workloads.values():
                if workload.hpa is not None and workload.hpa.name == ref.name:
                    return workload
        elif ref in self.workloads:
            return self.workloads[ref]
        raise PermanentError(f"{ref} not found", reason="NotFound")

    def read_back(self, operation: Operation) -> dict[str, Any]:
        return self.snapshot(operation)  # no controller lags a simulated rollout

    def snapshot(self, operation: Operation) -> dict[str, Any]:
        target = operation.target
        if isinstance(operation, Scale):
            return {"replicas": self._workload_for(target).replicas}
        if isinstance(operation, SetHpaMinReplicas):
            hpa = self._workload_for(target).hpa
            assert hpa is not None
            return {"minReplicas": hpa.min_replicas}
        if isinstance(operation, SetHpaMaxReplicas):
            hpa = self._workload_for(target).hpa
            assert hpa is not None
            return {"maxReplicas": hpa.max_replicas}
        if isinstance(operation, RolloutRestart | RollbackToPrevious | PatchResources):
            workload = self._workload_for(target)
            return {
                "revision": workload.revision,
                "image": workload.template.image,
                "limits": dict(workload.template.limits),
                "requests": dict(workload.template.requests),
            }
        if isinstance(operation, SetImages):
            # A simulated workload runs one container: every name it is asked about
            # is that one's.
            image = self._workload_for(target).template.image
            return {"images": {name: image for name in operation.images}}
        if isinstance(operation, PauseRollout):
            return {"paused": self._workload_for(target).paused}
        if isinstance(operation, DeletePod | EvictPod):
            pod = self.pods.get(target.name)
            return {"exists": pod is not None, "owner": str(pod.owner) if pod else None}
        if isinstance(operation, Cordon | Drain):
            node = self.nodes.get(target.name)
            if node is None:
                raise PermanentError(f"{target} not found", reason="NotFound")
            pods = sorted(p.name for p in self.pods.values() if p.node == target.name)
            return {"unschedulable": node.unschedulable, "pods": pods}
        raise PermanentError(f"unsupported operation {operation!r}", reason="Unsupported")

    def apply(
        self, operation: Operation, *, dry_run: bool = False, uid: str | None = None
    ) -> OperationResult:
        # ``uid``: the simulated objects are never deleted and created again (and its
        # snapshots carry none), so there is no other object to refuse.
        if isinstance(operation, Drain) and not dry_run:
            return self.drain_round(operation)
        before = self.snapshot(operation)
        # As the real cluster's adapter: never over a value changed since the decision
        # (by a runbook, a person) that the write did not come from.
        if isinstance(operation, SetHpaMinReplicas):
            _unchanged(operation, "minReplicas", before, operation.min_replicas)
        if isinstance(operation, SetHpaMaxReplicas):
            _unchanged(operation, "maxReplicas", before, operation.max_replicas)
        if isinstance(operation, Scale):
            _unchanged(operation, "replicas", before, operation.replicas)
        if isinstance(operation, PatchResources):
            _resources_unchanged(operation, before)
        if isinstance(operation, SetImages):
            for name, planned_from in (operation.expected or {}).items():
                old = before["images"].get(name)
                if old not in (planned_from, operation.images[name]):
                    raise PermanentError(
                        f"not setting the image of {operation.target} to "
                        f"{operation.images[name]}: it runs {old}, not the {planned_from} "
                        "the decision was made from",
                        reason="ChangedSinceDecision",
                    )
        summary, after = self._describe(operation, before)
        if not dry_run:
            self._write(operation)
            after = self.snapshot(operation)
            self.writes.append((self.now, operation.op, str(operation.target)))
        return OperationResult(
            operation, dry_run, before != after or dry_run, before, after, summary
        )

    def _describe(self, operation: Operation, before: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if isinstance(operation, Scale):
            return f"replicas {before['replicas']} -> {operation.replicas}", {
                "replicas": operation.replicas
            }
        if isinstance(operation, SetHpaMinReplicas):
            return (
                f"minReplicas {before['minReplicas']} -> {operation.min_replicas}",
                {"minReplicas": operation.min_replicas},
            )
        if isinstance(operation, SetHpaMaxReplicas):
            return (
                f"maxReplicas {before['maxReplicas']} -> {operation.max_replicas}",
                {"maxReplicas": operation.max_replicas},
            )
        if isinstance(operation, RollbackToPrevious):
            return f"revision {before['revision']} -> previous template", {}
        if isinstance(operation, PatchResources):
            return (
                f"container {operation.container}: limits {before['limits']} -> {operation.limits}",
                {},
            )
        if isinstance(operation, SetImages):
            return f"images {before['images']} -> {operation.images}", {}
        if isinstance(operation, Cordon):
            return f"unschedulable {before['unschedulable']} -> {operation.unschedulable}", {}
        if isinstance(operation, Drain):
            return f"cordon and evict {len(before['pods'])} pods", {}
        return operation.op.replace("_", " "), {}

    def _write(self, operation: Operation) -> None:
        target = operation.target
        if isinstance(operation, Scale):
            self._workload_for(target).replicas = operation.replicas
        elif isinstance(operation, SetHpaMinReplicas):
            workload = self._workload_for(target)
            assert workload.hpa is not None
            workload.hpa.min_replicas = operation.min_replicas
            if workload.replicas < operation.min_replicas:
                workload.replicas = min(operation.min_replicas, workload.hpa.max_replicas)
        elif isinstance(operation, SetHpaMaxReplicas):
            hpa = self._workload_for(target).hpa
            assert hpa is not None
            hpa.max_replicas = operation.max_replicas
        elif isinstance(operation, RolloutRestart):
            workload = self._workload_for(target)
            self._new_revision(workload, replace(workload.template, restarted_at=self.now))
        elif isinstance(operation, RollbackToPrevious):
            workload = self._workload_for(target)
            previous = [r for r in workload.templates if r < workload.revision]
            if not previous:
                raise PermanentError(
                    f"{target} has no previous revision", reason="NoPreviousRevision"
                )
            self._new_revision(workload, workload.templates[max(previous)])
        elif isinstance(operation, PauseRollout):
            self._workload_for(target).paused = operation.paused
        elif isinstance(operation, DeletePod):
            self._delete(target.name)
        elif isinstance(operation, EvictPod):
            self._evict(target.name)
        elif isinstance(operation, Cordon):
            self.nodes[target.name].unschedulable = operation.unschedulable
        elif isinstance(operation, SetImages):
            workload = self._workload_for(target)
            image = next(iter(operation.images.values()))
            self._new_revision(workload, replace(workload.template, image=image))
        elif isinstance(operation, PatchResources):
            workload = self._workload_for(target)
            template = workload.template
            self._new_revision(
                workload,
                replace(
                    template,
                    limits={**template.limits, **operation.limits},
                    requests={**template.requests, **operation.requests},
                ),
            )

    def drain_round(
        self,
        operation: Drain,
        progress: dict[str, Any] | None = None,
        room: EvictionRoom | None = None,
        *,
        uid: str | None = None,  # as ``apply``'s: no simulated Node is created again
    ) -> OperationResult:
        """One round of a drain (``ClusterWriter.drain_round``). An eviction removes the
        pod at once here, so a round is done unless a PodDisruptionBudget refuses one;
        a refused pod is asked again at the next round."""
        target = operation.target
        before = self.snapshot(operation)
        node = self.nodes[target.name]
        uncordoned = False
        if progress is None:
            node.unschedulable = True
            self.writes.append((self.now, operation.op, str(target)))
            names = [p.name for p in self.pods.values() if p.node == target.name]
            chosen, over_budget = names[: operation.max_evictions], names[operation.max_evictions :]
            evicted: list[str] = []
        else:
            before = dict(progress["before"])
            chosen, over_budget = list(progress["pods"]), list(progress["over_budget"])
            evicted = list(progress["evicted"])
            uncordoned = not node.unschedulable
        blocked: dict[str, str] = {}
        waiting: list[str] = []
        evicted_now: dict[str, int] = {}
        for name in [] if uncordoned else chosen:
            pod = self.pods.get(name)
            if name in evicted:
                continue
            if pod is None or pod.node != target.name:
                evicted.append(name)
                continue
            namespace = pod.owner.namespace or ""
            if room is not None and not room.allows(namespace):
                waiting.append(name)
                continue
            try:
                self._evict(name)
            except PermanentError as exc:
                if exc.reason != "BlockedByBudget":
                    raise
                blocked[name] = str(exc)
                continue
            evicted.append(name)
            evicted_now[namespace] = evicted_now.get(namespace, 0) + 1
            if room is not None:
                room = room.take(namespace)
            if progress is not None:
                self.writes.append((self.now, "evict_pod", f"Pod/{pod.owner.namespace}/{name}"))
        complete = not blocked and not over_budget and not uncordoned and not waiting
        after = {
            "unschedulable": node.unschedulable,
            "before": before,
            "pods": chosen,
            "evicted": evicted,
            "blocked": sorted(blocked),
            "over_budget": over_budget,
            "skipped": [],
            "left": [],
            "uncordoned": uncordoned,
            "waiting": waiting,
            "evicted_now": evicted_now,
            "done": uncordoned or (not blocked and not waiting),
            "complete": complete,
        }
        summary = (
            ("uncordoned since the drain began; " if uncordoned else "cordoned; ")
            + f"evicted {len(evicted)} pods"
            + (f"; {len(blocked)} blocked by a PodDisruptionBudget" if blocked else "")
            + (
                f"; {len(waiting)} "
                + (
                    "left for a later round: this replica is shutting down"
                    if room is not None and room.stopped()
                    else "waiting for room in the disruption budget "
                    "(safety.maxPodsDisruptedPerHour)"
                )
                if waiting
                else ""
            )
            + (f"; {len(over_budget)} over max_evictions" if over_budget else "")
            + ("" if complete else "; drain INCOMPLETE")
        )
        return OperationResult(operation, False, True, before, after, summary)

    def _new_revision(self, workload: SimWorkload, template: Template) -> None:
        workload.revision += 1
        workload.templates[workload.revision] = template
        workload.last_rollout_at = self.now

    def _evict(self, name: str) -> None:
        pod = self.pods.get(name)
        if pod is None:
            return
        workload = self.workloads[pod.owner]
        if workload.pdb_min_available is not None:
            ready = sum(self.pod_ready(p) for p in self.pods_of(pod.owner))
            if self.pod_ready(pod) and ready - 1 < workload.pdb_min_available:
                raise PermanentError(
                    f"evicting {name} would violate its PodDisruptionBudget",
                    reason="BlockedByBudget",
                )
        self._delete(name)

    def undo(self, operation: Operation, before: dict[str, Any]) -> OperationResult:
        target = operation.target
        now_state = self.snapshot(operation)
        if isinstance(operation, Scale):
            self._workload_for(target).replicas = int(before["replicas"])
        elif isinstance(operation, SetHpaMinReplicas):
            hpa = self._workload_for(target).hpa
            assert hpa is not None
            hpa.min_replicas = int(before["minReplicas"])
        elif isinstance(operation, SetHpaMaxReplicas):
            hpa = self._workload_for(target).hpa
            assert hpa is not None
            if hpa.max_replicas != operation.max_replicas:
                # As the real adapter: a ceiling changed since the write is someone else's.
                raise PermanentError(
                    f"not undoing on {target}: maxReplicas is now {hpa.max_replicas}, not "
                    f"the {operation.max_replicas} Autonomic wrote, so someone else has "
                    "changed it since; leaving their change in place",
                    reason="ChangedSinceWrite",
                )
            hpa.max_replicas = int(before["maxReplicas"])
        elif isinstance(operation, RolloutRestart):
            # As on a real cluster: the pods the restart replaced are gone.
            raise PermanentError(
                f"{operation.op} on {target} cannot be undone: the pods it replaced are gone; "
                "a human should decide what to do next",
                reason="NotUndoable",
            )
        elif isinstance(operation, RollbackToPrevious | PatchResources):
            workload = self._workload_for(target)
            template = replace(
                workload.template,
                image=before["image"],
                limits=dict(before["limits"]),
                requests=dict(before["requests"]),
            )
            self._new_revision(workload, template)
        elif isinstance(operation, SetImages):
            workload = self._workload_for(target)
            if workload.template.image not in operation.images.values():
                raise PermanentError(
                    f"not undoing on {target}: it runs {workload.template.image}, not the "
                    "image Autonomic wrote, so someone else has changed it since",
                    reason="ChangedSinceWrite",
                )
            image = next(iter(before["images"].values()))
            self._new_revision(workload, replace(workload.template, image=image))
        elif isinstance(operation, PauseRollout):
            self._workload_for(target).paused = bool(before["paused"])
        elif isinstance(operation, Cordon | Drain):
            self.nodes[target.name].unschedulable = bool(before["unschedulable"])
        else:
            raise PermanentError(f"{operation.op} cannot be undone", reason="NotUndoable")
        self.writes.append((self.now, f"undo:{operation.op}", str(target)))
        return OperationResult(
            operation, False, True, now_state, self.snapshot(operation), f"undid {operation.op}"
        )

    def post_event(
        self, target: ObjectRef, reason: str, message: str, *, warning: bool = False
    ) -> None:
        self.events.append(SimEvent(self.now, str(target), reason, message, warning))

    def annotate(self, target: ObjectRef, annotations: dict[str, str]) -> None:
        foreign = sorted(key for key in annotations if not key.startswith(REPORT_PREFIX))
        if foreign:
            raise PermanentError(
                f"refusing to write annotations outside {REPORT_PREFIX}: {', '.join(foreign)}",
                reason="ForeignAnnotation",
            )
        workload = self.workloads.get(target)
        if workload is None:
            raise PermanentError(f"{target} not found", reason="NotFound")
        workload.annotations.update(annotations)


def _resources_unchanged(operation: PatchResources, before: dict[str, Any]) -> None:
    """As ``_unchanged``, for each value a resources patch sets."""
    for section, wanted in (("requests", operation.requests), ("limits", operation.limits)):
        for key, value in wanted.items():
            planned_from = (operation.expected or {}).get(section, {}).get(key)
            old = before[section].get(key)
            if planned_from is not None and old not in (planned_from, value):
                raise PermanentError(
                    f"not setting {section}.{key} of {operation.target} to {value}: it is "
                    f"{old}, not the {planned_from} the decision was made from",
                    reason="ChangedSinceDecision",
                )


def _unchanged(
    operation: SetHpaMinReplicas | SetHpaMaxReplicas | Scale,
    name: str,
    before: dict[str, Any],
    wanted: int,
) -> None:
    """Refuse (``ChangedSinceDecision``) a compare-and-set write whose ``name`` is
    neither what its decision saw (``operation.expected``) nor already ``wanted``."""
    old = before[name]
    if operation.expected is not None and old not in (operation.expected, wanted):
        raise PermanentError(
            f"not setting {name} of {operation.target} to {wanted}: it is {old}, not the "
            f"{operation.expected} the decision was made from",
            reason="ChangedSinceDecision",
        )
