"""The ports between the pure remediation core and the cluster.

Everything the engine knows about a cluster arrives as the frozen state values below,
and everything it does to a cluster is one of the closed set of typed ``Operation``
values. The Kubernetes adapter (``agent.adapters.kubernetes``) and the simulated
cluster (used by ``autonomic simulate`` and many tests) both implement
``ClusterReader`` and ``ClusterWriter``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from forecasting.hpa_metrics import MetricReading

__all__ = [
    "REPORT_PREFIX",
    "ClusterReader",
    "ClusterWriter",
    "ContainerState",
    "Cordon",
    "DeletePod",
    "DisruptionBudgetReader",
    "DisruptionBudgetState",
    "DisruptionBudgets",
    "Drain",
    "EventReader",
    "EventsRead",
    "EvictPod",
    "EvictionRoom",
    "ExpandVolume",
    "HpaState",
    "NodeState",
    "ObjectEvent",
    "ObjectRef",
    "Operation",
    "OperationResult",
    "PatchResources",
    "PauseRollout",
    "PodState",
    "RollbackToPrevious",
    "RolloutRestart",
    "Scale",
    "ScopedReader",
    "SetHpaMaxReplicas",
    "SetHpaMinReplicas",
    "SetImages",
    "Toleration",
    "UnreadObject",
    "UnreadReporter",
    "VolumeClaimReader",
    "VolumeClaimState",
    "WorkloadState",
    "operation_from_dict",
    "operation_to_dict",
]

Kind = Literal[
    "Deployment",
    "StatefulSet",
    "Rollout",
    "ReplicaSet",
    "Pod",
    "Node",
    "HorizontalPodAutoscaler",
    "PersistentVolumeClaim",
    "PodDisruptionBudget",
    "Job",
]


@dataclass(frozen=True, order=True)
class ObjectRef:
    kind: Kind
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{where}{self.name}"


# ---------------------------------------------------------------------------- state


@dataclass(frozen=True)
class ContainerState:
    name: str
    image: str
    requests: dict[str, str] = field(default_factory=dict)  # e.g. {"memory": "256Mi"}
    limits: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkloadState:
    """A Deployment, StatefulSet or Argo Rollout as the engine sees it."""

    ref: ObjectRef
    replicas: int  # spec.replicas
    ready_replicas: int
    updated_replicas: int
    available_replicas: int
    labels: dict[str, str]
    annotations: dict[str, str]
    selector: dict[str, str]
    containers: tuple[ContainerState, ...]
    # The scale subresource's status.replicas, the count the HPA controller divides an
    # Object or External AverageValue metric's total by: ``status.replicas`` (its pods,
    # not terminating) for a Deployment or StatefulSet, ``status.HPAReplicas`` for an
    # Argo Rollout (with blueGreen, the active ReplicaSet's pods only). None when not
    # known.
    status_replicas: int | None = None
    generation: int = 0
    observed_generation: int = 0
    revision: int = 0  # deployment.kubernetes.io/revision (rollout.argoproj.io/revision)
    # A StatefulSet's ``status.updateRevision``: the ControllerRevision its pods are rolled
    # to (it has no numbered revision, so ``revision`` stays 0); "" for other kinds.
    revision_name: str = ""
    # A StatefulSet whose ``spec.updateStrategy.type`` is ``OnDelete``: its controller
    # replaces a pod only when someone deletes it, so a change to the pod template (a
    # rollout restart, new resources) reaches no running pod until then.
    on_delete: bool = False
    paused: bool = False
    rollout_failed: bool = False  # Progressing=False, reason ProgressDeadlineExceeded
    last_rollout_at: float | None = None  # epoch seconds of the newest ReplicaSet's creation
    # When someone other than Autonomic and the cluster's own controllers (a person, a
    # GitOps tool) last changed it, if recorded (``metadata.managedFields``).
    managed_by_human_at: float | None = None
    uid: str = ""  # metadata.uid: tells an object deleted and created again from itself
    # Argo Rollouts only: the strategy (``canary`` or ``blueGreen``), the pod-template
    # hashes of the ReplicaSet being rolled out (``status.currentPodHash``) and of the
    # stable one (``status.stableRS``), whether the rollout was aborted
    # (``status.abort``), and the images of each ReplicaSet the Rollout owns, by hash.
    # With the blueGreen strategy, also the hashes its active and preview Services select
    # (``status.blueGreen.activeSelector`` and ``previewSelector``; "" until set).
    strategy: str = ""
    pod_hash: str = ""
    stable_pod_hash: str = ""
    active_pod_hash: str = ""
    preview_pod_hash: str = ""
    aborted: bool = False
    images_by_hash: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # An Argo Rollout that takes its pod template from a Deployment (``spec.workloadRef``):
    # the name of that Deployment, in the Rollout's namespace; "" otherwise.
    template_from: str = ""


@dataclass(frozen=True)
class Toleration:
    """One of a pod's ``spec.tolerations``, as written: ``key`` "" with operator Exists
    tolerates every taint, ``effect`` "" every effect; ``seconds`` is
    ``tolerationSeconds`` (None: unset, so a NoExecute taint it tolerates never evicts
    the pod)."""

    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""
    seconds: float | None = None

    def tolerates(self, key: str, effect: str, value: str = "") -> bool:
        """Whether it tolerates the taint ``key=value:effect`` (as the scheduler and the
        taint manager match them: an empty key with Exists matches every key)."""
        if self.effect and self.effect != effect:
            return False
        if not self.key:
            return self.operator == "Exists"
        if self.key != key:
            return False
        return self.operator == "Exists" or self.value == value

    def __str__(self) -> str:
        """As a manifest writes it, in YAML flow style."""
        parts = [f"key: {self.key}"] if self.key else []
        parts.append(f"operator: {self.operator}")
        if self.value:
            parts.append(f"value: {self.value}")
        if self.effect:
            parts.append(f"effect: {self.effect}")
        if self.seconds is not None:
            parts.append(f"tolerationSeconds: {self.seconds:g}")
        return "{" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class PodState:
    ref: ObjectRef
    labels: dict[str, str]
    phase: str  # Pending | Running | Succeeded | Failed | Unknown
    ready: bool
    node: str | None
    owner: ObjectRef | None  # the Deployment/StatefulSet/Rollout that owns it, through its RS
    restarts: int
    waiting_reason: str | None = None  # CrashLoopBackOff, ImagePullBackOff, ...
    last_termination_reason: str | None = None  # OOMKilled, Error, ...
    started_at: float | None = None
    deleting: bool = False
    # When the pod's Ready condition last turned false (None when ready or unknown): how
    # long it has been not ready, which ``started_at`` cannot tell.
    not_ready_since: float | None = None
    # A pod a drain leaves in place by design (DaemonSet-controlled or a mirror pod).
    daemon: bool = False
    # A pod no controller owns: nothing would recreate it, so a drain leaves it too.
    unmanaged: bool = False
    # A pod with an ``emptyDir`` volume: evicting it deletes what it wrote there
    # (``kubectl drain`` refuses such a pod without ``--delete-emptydir-data``).
    empty_dir: bool = False
    # A pod annotated ``cluster-autoscaler.kubernetes.io/safe-to-evict: "false"``: its
    # owners ask that it never be evicted (the cluster autoscaler keeps its node, draino
    # skips it), so a drain leaves it in place and ends incomplete.
    not_safe_to_evict: bool = False
    # When the pod object was created (metadata.creationTimestamp) and, while it is ready,
    # when its Ready condition last turned true: ``ready_at - created_at`` of a pod that
    # never restarted is its start-up time, scheduling and image pull included.
    created_at: float | None = None
    ready_at: float | None = None
    # The scheduler's message while it cannot place the pod (condition PodScheduled
    # False, reason Unschedulable: "0/3 nodes are available: 3 Insufficient cpu."), or
    # None.
    unschedulable: str | None = None
    # ``spec.tolerations``: how long the node lifecycle controller leaves the pod on a
    # NotReady node (its NoExecute taints ``node.kubernetes.io/not-ready`` and
    # ``unreachable``; the DefaultTolerationSeconds admission plugin adds 300 s of each
    # to a pod that does not tolerate them itself).
    tolerations: tuple[Toleration, ...] = ()
    uid: str = ""  # metadata.uid: a pod created again under its name is another pod

    @property
    def terminal(self) -> bool:
        """Succeeded or Failed: done for good (a pod the kubelet evicted is Failed, and
        stays until someone deletes it). Its controller no longer counts it and has
        started a replacement, so it is no pod of the workload's to judge or act on."""
        return self.phase in ("Succeeded", "Failed")


@dataclass(frozen=True)
class NodeState:
    ref: ObjectRef
    labels: dict[str, str]
    ready: bool
    unschedulable: bool
    conditions: dict[str, str]  # type -> status, e.g. {"Ready": "False", "MemoryPressure": "True"}
    not_ready_since: float | None = None
    # type -> when that condition last changed status (lastTransitionTime), when known;
    # backs ``heldFor`` on pressure conditions.
    condition_since: dict[str, float] = field(default_factory=dict)
    # As on a workload: the last change by someone other than Autonomic and the
    # cluster's own controllers (a person's cordon, a label), if recorded.
    managed_by_human_at: float | None = None
    uid: str = ""  # metadata.uid: a Node created again under its name is another Node


@dataclass(frozen=True)
class HpaState:
    ref: ObjectRef
    target: ObjectRef
    min_replicas: int
    max_replicas: int
    current_replicas: int
    desired_replicas: int
    # The HPA's newest reading of its metrics as a share of their targets: the largest of
    # current / target over the metrics it reports (1.0 = at target), None when it
    # reports none. The metric with the largest share is the one that sizes the HPA.
    usage_ratio: float | None = None
    uid: str = ""  # metadata.uid: a deleted and recreated HPA is a new one
    # The controller that owns the HPA (its ownerReference with controller: true), as
    # "Kind/name", e.g. "ScaledObject/web" for KEDA: it rewrites the HPA's spec.
    controller: str | None = None
    # The other HPAs that target the same workload, by name: the HPA controller then
    # scales with none of them (condition ScalingActive=False, AmbiguousSelector).
    shared_with: tuple[str, ...] = ()
    # ``spec.behavior.scaleUp`` as the owner wrote it: each policy as (type, value,
    # periodSeconds), type "Pods" or "Percent", and ``selectPolicy`` ("Max", "Min" or
    # "Disabled"). () and "" when not written: the API's defaults (+4 pods or +100 % per
    # 15 s), no slower than the scaling loop's own step. A raised minReplicas skips the
    # HPA's rate limit (a target below its minimum is set to it at once), so the loop
    # applies these itself.
    scale_up_policies: tuple[tuple[str, int, int], ...] = ()
    scale_up_select: str = ""
    # ``spec.behavior.scaleDown`` the same way (() and "": one policy of -100 % per 15 s,
    # Max), and each direction's ``stabilizationWindowSeconds``, None when not written
    # (the controller's own: 0 s up, its --horizontal-pod-autoscaler-downscale-
    # stabilization down, 300 s unless its operator changed it). What
    # ``forecasting.hpa_after_rules`` applies to explain the HPA; nothing is decided on it.
    scale_down_policies: tuple[tuple[str, int, int], ...] = ()
    scale_down_select: str = ""
    scale_up_window: int | None = None
    scale_down_window: int | None = None
    # Whether ``spec.behavior`` is written at all. The API server fills in the defaults
    # above only inside a ``behavior`` that is there; without one the controller takes
    # its older path (the largest proposal of its downscale window, then at most
    # max(2 x current, 4) up at once, no rate limit down).
    behavior: bool = False
    # Each ``spec.metrics`` entry with its reading in ``status.currentMetrics`` (None
    # when it has none), in the spec's order; autoscaling/v1's CPU fields as one
    # Resource cpu metric. What ``forecasting.hpa_metrics`` works each metric's replica
    # proposal out from, to explain the HPA; nothing is decided on it.
    metrics: tuple[MetricReading, ...] = ()
    # ``behavior.scaleUp.tolerance`` and ``scaleDown.tolerance`` (KEP-4951, behind the
    # HPAConfigurableTolerance gate), None when not set: the controller's 0.1.
    tolerance_up: float | None = None
    tolerance_down: float | None = None
    # Who wrote ``spec.minReplicas`` since Autonomic last did, from the HPA's
    # ``metadata.managedFields``: the newest field manager other than Autonomic and the
    # cluster's own that owns the field (``kubectl-edit``, ``argocd-controller``...), and
    # when (epoch seconds, the API server's clock, whole seconds). None when no such
    # manager owns it (or the object carries no managedFields).
    min_set_by: str | None = None
    min_set_at: float | None = None


@dataclass(frozen=True)
class VolumeClaimState:
    """A PersistentVolumeClaim as the engine sees it: what it asks for, what it has, and
    whether its StorageClass lets it grow. Sizes are Kubernetes quantities as written
    (``10Gi``), None when the object does not say."""

    ref: ObjectRef
    labels: dict[str, str]
    phase: str  # Pending | Bound | Lost
    storage_class: str | None  # spec.storageClassName ("" or None: no class)
    requested: str | None  # spec.resources.requests.storage
    capacity: str | None  # status.capacity.storage: what the volume (and filesystem) has
    # status.conditions, type -> status: Resizing, FileSystemResizePending, ...
    conditions: dict[str, str] = field(default_factory=dict)
    # allowVolumeExpansion of its StorageClass; None when the class is not known (not
    # named, not found, or StorageClasses cannot be read).
    expandable: bool | None = None
    # status.allocatedResourceStatuses["storage"] where the cluster reports it
    # (ControllerResizeInProgress, NodeResizePending, ...Infeasible): a resize under way
    # or stuck.
    resize_status: str | None = None
    uid: str = ""


@dataclass(frozen=True)
class DisruptionBudgetState:
    """A PodDisruptionBudget (policy/v1) as a drain's plan reads it: which pods it
    selects, what its spec asks, and what the disruption controller last computed.

    ``match_expressions`` are (key, operator, values); ``selector_set`` False is a PDB
    without ``spec.selector``, which selects no pod (an empty selector ``{}`` selects
    every pod of its namespace). ``min_available`` and ``max_unavailable`` are as
    written (``2``, ``"50%"``), None when unset. ``status_current`` is False while the
    controller has not yet judged the latest spec (``status.observedGeneration`` behind
    ``metadata.generation``): the eviction API then refuses every pod it selects."""

    ref: ObjectRef
    match_labels: dict[str, str]
    match_expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    selector_set: bool = True
    min_available: str | None = None
    max_unavailable: str | None = None
    disruptions_allowed: int = 0
    current_healthy: int = 0
    desired_healthy: int = 0
    expected_pods: int = 0
    # spec.unhealthyPodEvictionPolicy AlwaysAllow: a pod that is not ready may always be
    # evicted (the default, IfHealthyBudget, only while the budget is met).
    always_allow_unhealthy: bool = False
    status_current: bool = True

    def selects(self, labels: dict[str, str]) -> bool:
        """Whether the PDB's selector matches a pod with ``labels`` (same namespace)."""
        if not self.selector_set:
            return False
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for key, operator, values in self.match_expressions:
            if operator == "In" and labels.get(key) not in values:
                return False
            if operator == "NotIn" and key in labels and labels[key] in values:
                return False
            if operator == "Exists" and key not in labels:
                return False
            if operator == "DoesNotExist" and key in labels:
                return False
        return True


@dataclass(frozen=True)
class DisruptionBudgets:
    """The PodDisruptionBudgets a reader could read, and why it could read none where it
    could not (``unread``: a 403 without list on poddisruptionbudgets, the reason as the
    API server gave it; None when every namespace read was read)."""

    budgets: tuple[DisruptionBudgetState, ...] = ()
    unread: str | None = None


@runtime_checkable
class DisruptionBudgetReader(Protocol):
    """A reader that also reads PodDisruptionBudgets (the Kubernetes adapter); a reader
    without it (the simulated cluster) has none to show a plan."""

    def read_disruption_budgets(self) -> DisruptionBudgets: ...


# Annotations Autonomic writes as reports (``ClusterWriter.annotate``) carry this prefix;
# nothing else on an object is ever touched that way.
REPORT_PREFIX = "autonomic.dev/"

# ------------------------------------------------------------------------ operations
# The closed, typed set of writes. No shell, no arbitrary HTTP.
#
# Planned uids: every operation has ``planned_uid``, the ``metadata.uid`` of its target
# as the plan read it in its snapshot (the object the incident was about). A runbook's
# plan sets it for each target it read (``remediation.planning``); the executor refuses
# the step when its own read before writing finds another object of that name
# (``ReplacedSincePlan``: deleted and created again between planning, or the approval
# question, and the write), so an approval given for one pod is never spent on its
# replacement. None: not checked (a plan recorded before this field, a reader that
# reports no uids, a write built elsewhere: the scaling loop's, an undo's).


@dataclass(frozen=True)
class Scale:
    target: ObjectRef  # Deployment, StatefulSet or Rollout (its scale subresource)
    replicas: int
    # The replicas the decision was made from. A workload found at another count (someone
    # scaled it since) is not written, as ``SetHpaMinReplicas.expected``. None: not
    # checked (a runbook's scale-out: an HPA may move the replicas at any moment).
    expected: int | None = None
    planned_uid: str | None = None  # see "Planned uids" above
    op: Literal["scale"] = "scale"


@dataclass(frozen=True)
class SetHpaMinReplicas:
    target: ObjectRef  # HorizontalPodAutoscaler
    min_replicas: int
    # The minReplicas the decision was made from. An HPA found at another value (someone
    # changed it since, or it was deleted and created again) is not written: the write
    # would overwrite a change its decision never saw. None: not checked.
    expected: int | None = None
    planned_uid: str | None = None  # see "Planned uids" above
    op: Literal["set_hpa_min_replicas"] = "set_hpa_min_replicas"


@dataclass(frozen=True)
class SetHpaMaxReplicas:
    """Set an HPA's ``maxReplicas`` ceiling (a runbook raises it; undo puts back the
    ceiling it found)."""

    target: ObjectRef  # HorizontalPodAutoscaler
    max_replicas: int
    # The maxReplicas the decision was made from. An HPA found at another value (someone
    # raised or lowered it since, or it was deleted and created again) is not written.
    # None: not checked.
    expected: int | None = None
    planned_uid: str | None = None  # see "Planned uids" above
    op: Literal["set_hpa_max_replicas"] = "set_hpa_max_replicas"


@dataclass(frozen=True)
class RolloutRestart:
    target: ObjectRef
    planned_uid: str | None = None  # see "Planned uids" above
    op: Literal["rollout_restart"] = "rollout_restart"


@dataclass(frozen=True)
class RollbackToPrevious:
    target: ObjectRef  # Deployment
    # The revision the plan rolls back from. A Deployment found at another one has been
    # rolled out since (its "previous" is no longer the release before the bad one), so
    # it is not rolled back. None (a plan recorded before this field): not checked.
    revision: int | None = None
    planned_uid: str | None = None  # see "Planned uids" above
    op: Literal["rollback"] = "rollback"


@dataclass(frozen=True)
class PauseRollout:
    target: ObjectRef  # Deployment
    paused: bool = True
    planned_uid: str | None = None  # see "Planned uids" above
    op: Literal["pause_rollout"] = "pause_rollout"


@dataclass(frozen=True)
class DeletePod:
    target: ObjectRef  # Pod
    planned_uid: str | None = None  # see "Planned uids" above
    op: Literal["delete_pod"] = "delete_pod"


@dataclass(frozen=True)
class EvictPod:
    target: ObjectRef  # Pod; goes through the Eviction API, so PodDisruptionBudgets apply
    planned_uid: str | None = None  # see "Planned uids" above
    op: Literal["evict_pod"] = "evict_pod"


@dataclass(frozen=True)
class Cordon:
    target: ObjectRef  # Node
    unschedulable: bool = True  # False = uncordon
    planned_uid: str | None = None  # see "Planned uids" above
    op: Literal["cordon"] = "cordon"


@dataclass(frozen=True)
class Drain:
    """Cordon a node, then evict its pods (not DaemonSet or mirror pods) through the
    Eviction API. A drain runs in rounds (``ClusterWriter.drain_round``), one per
    remediation cycle, until its pods are gone or ``timeout_seconds`` have passed."""

    target: ObjectRef  # Node
    max_evictions: int = 50
    timeout_seconds: float = 300.0
    planned_uid: str | None = None  # see "Planned uids" above
    op: Literal["drain"] = "drain"


@dataclass(frozen=True)
class EvictionRoom:
    """How many more pods a drain round may evict under the disruption budget: in all
    (``total``; None: no limit), and in each namespace (``by_namespace`` for those that
    used some of theirs, ``per_namespace`` for the others; None: no limit)."""

    total: int | None = None
    per_namespace: int | None = None
    by_namespace: dict[str, int] = field(default_factory=dict)
    # Asked before each eviction: True once no more may start at all (the daemon shutting
    # down); the pods left wait for a later round, as those over the budget do.
    halted: Callable[[], bool] | None = field(default=None, compare=False)

    def stopped(self) -> bool:
        """No more evictions start at all: the daemon is shutting down."""
        return self.halted is not None and self.halted()

    def allows(self, namespace: str) -> bool:
        if self.stopped():
            return False
        left = self.by_namespace.get(namespace, self.per_namespace)
        return (self.total is None or self.total > 0) and (left is None or left > 0)

    def take(self, namespace: str) -> EvictionRoom:
        """The room after one eviction in ``namespace``."""
        left = self.by_namespace.get(namespace, self.per_namespace)
        return EvictionRoom(
            None if self.total is None else self.total - 1,
            self.per_namespace,
            self.by_namespace if left is None else {**self.by_namespace, namespace: left - 1},
            self.halted,
        )


@dataclass(frozen=True)
class PatchResources:
    target: ObjectRef  # Deployment or StatefulSet
    container: str
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)
    # The values the decision was made from, by section (``{"limits": {"memory":
    # "256Mi"}}``). A container found with another value for one of them (a person raised
    # the limit meanwhile) is not written: the write would set the planned value over a
    # change its decision never saw, lowering a limit a person had raised. None (a plan
    # recorded before this field): not checked.
    expected: dict[str, dict[str, str]] | None = None
    planned_uid: str | None = None  # see "Planned uids" above
    op: Literal["patch_resources"] = "patch_resources"


@dataclass(frozen=True)
class ExpandVolume:
    """Raise a PersistentVolumeClaim's ``spec.resources.requests.storage`` to ``size``.
    Volumes cannot shrink, so there is no undo."""

    target: ObjectRef  # PersistentVolumeClaim
    size: str  # a quantity, e.g. "15Gi"
    # The request the decision was made from. A claim found asking for another size
    # (someone resized it since) is not written. None: not checked.
    expected: str | None = None
    planned_uid: str | None = None  # see "Planned uids" above
    op: Literal["expand_volume"] = "expand_volume"


@dataclass(frozen=True)
class SetImages:
    """Set the images of a Deployment's pod-template containers, and nothing else (not
    its replicas, labels, or any other field of the template): a native canary's
    promotion, the stable Deployment taking the images of its canary. Undo puts back the
    images it found, if they are still the ones it wrote."""

    target: ObjectRef  # Deployment: the stable one
    images: dict[str, str]  # container name -> image
    # The images the decision was made from, by container. A Deployment found running
    # others (someone rolled it out since) is not written: the write would replace a
    # release its decision never saw. None: not checked.
    expected: dict[str, str] | None = None
    # The canary (its name, in the target's namespace) whose images these are: for
    # messages and the ledger only.
    canary: str = ""
    planned_uid: str | None = None  # see "Planned uids" above
    op: Literal["set_images"] = "set_images"


Operation = (
    Scale
    | SetHpaMinReplicas
    | SetHpaMaxReplicas
    | RolloutRestart
    | RollbackToPrevious
    | PauseRollout
    | DeletePod
    | EvictPod
    | Cordon
    | Drain
    | PatchResources
    | ExpandVolume
    | SetImages
)


@dataclass(frozen=True)
class OperationResult:
    """What a write changed (or, on dry-run, would change).

    ``before`` is the snapshot needed to undo the write (JSON-serialisable), taken
    before writing; ``after`` the relevant fields after it. ``summary`` is a diff a
    human can read, e.g. ``"replicas 3 -> 5"``.
    """

    operation: Operation
    dry_run: bool
    changed: bool
    before: dict[str, Any]
    after: dict[str, Any]
    summary: str


class ClusterReader(Protocol):
    def get_workload(self, ref: ObjectRef) -> WorkloadState | None: ...

    def list_workloads(self, namespace: str | None = None) -> list[WorkloadState]: ...

    def list_pods(
        self, namespace: str | None = None, selector: dict[str, str] | None = None
    ) -> list[PodState]: ...

    def list_nodes(self) -> list[NodeState]: ...

    def get_hpa_for(self, workload: ObjectRef) -> HpaState | None: ...


@runtime_checkable
class VolumeClaimReader(Protocol):
    """A reader that also reads PersistentVolumeClaims (and their StorageClasses). The
    Kubernetes adapter is one; a reader without it (the simulated cluster) has none."""

    def list_volume_claims(self, namespace: str | None = None) -> list[VolumeClaimState]: ...


@dataclass(frozen=True)
class ObjectEvent:
    """One Kubernetes Event as read: the object it is about (``Pod/web-7d9f-x2k4q``:
    its kind and name, in the namespace read), its ``type`` (``Warning``
    or ``Normal``), ``reason`` (``BackOff``, ``FailedScheduling``...), ``message``,
    ``count`` (how many times the source saw it: 1 when not said) and ``last_seen``
    (seconds since the epoch: the latest of its times; None when it carries none)."""

    about: str
    type: str
    reason: str
    message: str
    count: int
    last_seen: float | None


@dataclass(frozen=True)
class EventsRead:
    """What one read of Events gave: ``events`` about ``about`` (the target first,
    then the objects read with it: its current ReplicaSet, its pods), and ``left_out``,
    a sentence naming objects whose Events were not read (None: all were)."""

    events: tuple[ObjectEvent, ...]
    about: tuple[ObjectRef, ...]
    left_out: str | None = None


@runtime_checkable
class EventReader(Protocol):
    """A reader of recent Kubernetes Events (the Kubernetes adapter; the simulated
    cluster has none). One call per decision, bounded: the Kubernetes adapter sends at
    most 12 LISTs with field selectors (one per object read), never a watch."""

    def recent_events(self, target: ObjectRef, related: tuple[ObjectRef, ...] = ()) -> EventsRead:
        """The recent Events about ``target`` and ``related`` (its pods), and for a
        Deployment its current ReplicaSet's. Raises the adapter's errors (a 403, a
        timeout, a namespace that is not read): the caller notes them."""
        ...


@dataclass(frozen=True)
class UnreadObject:
    """An object that exists, but that a listing left out because it came in a shape
    that cannot be read as its model (the Kubernetes adapter's ``BadObjectError``).
    Not the same as absent: a check or a judge that reads "not there" as good news (a
    node deleted, a pod gone) must not read it so; what it says of the object is not
    known. ``ref``: its kind, and its name and namespace as far as they could be read
    ("" when not); ``why``: the adapter's message, naming the object and the field. For
    a Pod, ``node`` (its ``spec.nodeName``) and ``owner`` (its workload) when they could
    be told, else None. For a Node, ``labels``: those of its ``metadata.labels`` that
    could be read, as sorted pairs, and ``odd_labels``: the keys whose values could not;
    ``labels`` None when not even that could be told (its labels not a map, or a key not
    a string): then it may be of any runbook's set of nodes."""

    ref: ObjectRef
    why: str
    node: str | None = None
    owner: ObjectRef | None = None
    labels: tuple[tuple[str, str], ...] | None = None
    odd_labels: tuple[str, ...] = ()


@runtime_checkable
class UnreadReporter(Protocol):
    """A reader whose listings leave out an object they cannot read (the Kubernetes
    adapter, which counts them in ``objects_skipped``), and name each one left out in
    ``unread`` when given a list: from the same listing, no second read."""

    objects_skipped: int

    def list_workloads(
        self, namespace: str | None = None, *, unread: list[UnreadObject] | None = None
    ) -> list[WorkloadState]: ...

    def list_pods(
        self,
        namespace: str | None = None,
        selector: dict[str, str] | None = None,
        *,
        unread: list[UnreadObject] | None = None,
    ) -> list[PodState]: ...

    def list_nodes(self, *, unread: list[UnreadObject] | None = None) -> list[NodeState]: ...

    def list_volume_claims(
        self, namespace: str | None = None, *, unread: list[UnreadObject] | None = None
    ) -> list[VolumeClaimState]: ...


@runtime_checkable
class ScopedReader(Protocol):
    """A reader that reads some namespaces only (the Kubernetes adapter, from
    ``cluster.namespaces`` and ``cluster.excludeNamespaces``): an object elsewhere is
    not in any snapshot, though it is in the cluster."""

    def out_of_scope(self, namespace: str | None) -> str | None:
        """Why ``namespace`` is not read, naming the setting; None when it is read."""
        ...


class ClusterWriter(Protocol):
    def snapshot(self, operation: Operation) -> dict[str, Any]:
        """Read what undoing ``operation`` would need, without writing."""
        ...

    def read_back(self, operation: Operation) -> dict[str, Any]:
        """Read ``operation``'s target to tell whether an undo of it landed: the fields
        of ``snapshot`` an undo writes back. Unlike ``snapshot``, it does not refuse a
        state a new write could not start from (a rollback's target that the Deployment
        controller has not observed yet: the undo's own template, just written)."""
        ...

    def apply(
        self, operation: Operation, *, dry_run: bool = False, uid: str | None = None
    ) -> OperationResult:
        """Perform one write (server-side dry-run when asked) and say what changed.
        ``uid``: the uid ``snapshot`` read; a target deleted and created again since
        under the same name is refused (``TargetReplaced``), not written."""
        ...

    def drain_round(
        self,
        operation: Drain,
        progress: dict[str, Any] | None = None,
        room: EvictionRoom | None = None,
        *,
        uid: str | None = None,
    ) -> OperationResult:
        """One round of a drain, without waiting. The first (``progress`` None) cordons
        the node and chooses the pods to evict, at most ``max_evictions``; every round
        asks to evict the chosen pods not evicted yet and looks which have left. A pod
        gone or already terminating counts as evicted, so none is evicted twice; an
        eviction refused (a PodDisruptionBudget, an API error) is asked again next
        round, never forced. ``progress`` is the previous round's ``after``; the
        result's ``after`` says ``done`` (nothing refused, every evicted pod gone) and
        ``complete`` (nothing refused, nothing left over ``max_evictions``). A node
        uncordoned since the first round (by someone else) is not cordoned again: the
        round evicts nothing and says ``done``, not ``complete``. ``apply`` on a
        ``Drain`` is one first round.

        ``room`` (None: no limit) is what the disruption budget leaves: a chosen pod it
        has no room for is not evicted this round but listed in ``after["waiting"]``
        (not ``done``: a later round asks again); ``after["evicted_now"]`` counts the
        evictions this round asked for, by namespace.

        ``uid``: the Node ``snapshot`` read; the first round's cordon refuses another
        Node of that name (``TargetReplaced``). Each eviction names the uid of the pod
        as that round read it, so a pod created again under its name since is not
        evicted in its place (it is looked at again the next round)."""
        ...

    def undo(self, operation: Operation, before: dict[str, Any]) -> OperationResult:
        """Restore what ``before`` recorded, if the object still matches what we wrote."""
        ...

    def post_event(
        self, target: ObjectRef, reason: str, message: str, *, warning: bool = False
    ) -> None:
        """Record a Kubernetes Event on ``target`` so ``kubectl describe`` shows it."""
        ...

    def annotate(self, target: ObjectRef, annotations: dict[str, str]) -> None:
        """Set annotations on ``target``: a report (a recommendation), not an action."""
        ...


_OPERATION_TYPES: dict[str, type[Any]] = {
    cls.op: cls
    for cls in (
        Scale,
        SetHpaMinReplicas,
        SetHpaMaxReplicas,
        RolloutRestart,
        RollbackToPrevious,
        PauseRollout,
        DeletePod,
        EvictPod,
        Cordon,
        Drain,
        PatchResources,
        ExpandVolume,
        SetImages,
    )
}


def operation_to_dict(operation: Operation) -> dict[str, Any]:
    """A JSON-ready form of an operation (for intents in the ledger). An unset
    ``planned_uid`` is left out: the form is then the one recorded before it existed."""
    out: dict[str, Any] = {}
    for name in operation.__dataclass_fields__:
        value = getattr(operation, name)
        if name == "planned_uid" and not value:
            continue
        if isinstance(value, ObjectRef):
            value = {"kind": value.kind, "name": value.name, "namespace": value.namespace}
        elif isinstance(value, dict):
            value = dict(value)
        out[name] = value
    return out


def operation_from_dict(data: dict[str, Any]) -> Operation:
    """The inverse of ``operation_to_dict``; raises ``ValueError`` on anything else."""
    try:
        cls = _OPERATION_TYPES[data["op"]]
        target = data["target"]
        fields = {k: v for k, v in data.items() if k not in ("op", "target")}
        ref = ObjectRef(kind=target["kind"], name=target["name"], namespace=target.get("namespace"))
        return cls(target=ref, **fields)  # type: ignore[no-any-return]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not an operation: {data!r}") from exc
