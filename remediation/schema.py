"""The runbook schema (``autonomic.dev/v1alpha1``, kind ``Runbook``).

A runbook says, in YAML an on-call engineer can read: what triggers it, which objects it
may touch, what must be true first, the typed actions it takes (a closed set mirroring
``remediation.ports``' operations, plus notify-only), how success is verified, what to
do on failure, and the guards that keep it from running away. Keys are camelCase.

Everything is validated once, at load time (``remediation.loading``): unknown keys,
wrong types, bad durations, quantities, matchers, regexes, cron and timezones here, and
the rules across fields in ``remediation.crosschecks`` (an action that cannot apply to
the target kind, a verification that waits on an alert no trigger provides, a guard that
could never pass...).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from remediation._types import (
    ComparisonField,
    Duration,
    Matcher,
    Quantity,
    RunbookModel,
    StepField,
)
from remediation.durations import format_duration
from remediation.promql import syntax_problem
from remediation.windows import WindowFields

__all__ = [
    "API_VERSION",
    "CANARY_OF",
    "MAX_TARGET_WINDOW",
    "Action",
    "AlertResolvedCheck",
    "AlertTrigger",
    "AnomalyTrigger",
    "ApprovalRules",
    "BlastRadius",
    "CanaryTrigger",
    "ChangedWithin",
    "Check",
    "CircuitBreaker",
    "CordonAction",
    "DeletePodAction",
    "DrainAction",
    "EvictPodAction",
    "ExpandVolumeAction",
    "ForecastBreachTrigger",
    "FreezeWindow",
    "Guards",
    "KubernetesCheck",
    "KubernetesTrigger",
    "MaintenanceWindow",
    "MaxActionsPerTarget",
    "Metadata",
    "NoOtherAlertFiring",
    "NotifyAction",
    "OnFailure",
    "PatchResourcesAction",
    "PauseRolloutAction",
    "Precondition",
    "PromoteCanaryAction",
    "PromqlCheck",
    "PromqlPrecondition",
    "RaiseHpaMaxReplicasAction",
    "RollbackAction",
    "RolloutRestartAction",
    "Runbook",
    "RunbookSpec",
    "ScaleAction",
    "SetHpaMinReplicasAction",
    "TargetSelector",
    "Trigger",
    "Verification",
]

API_VERSION = "autonomic.dev/v1alpha1"
# The label that makes a Deployment or StatefulSet the native canary of the stable one it
# names (in the same namespace): the canary loop judges the pair, and ``promoteCanary``
# carries the canary's images over to that stable Deployment.
CANARY_OF = "autonomic.dev/canary-of"
# The longest ``maxActionsPerTarget.within``: the guard state keeps actions at least this
# long (``remediation.guards.prune``), so a count over a longer window would forget runs.
MAX_TARGET_WINDOW = 7 * 86400.0

Name = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
# A namespace's name and an object's, as Kubernetes allows them (a DNS label; a DNS
# subdomain). They are compared exactly, so a name no object can have ('Payments',
# 'payments ') would match nothing: an exclusion or a forced approval written with one
# would never apply, and nothing would say so.
NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
OBJECT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
NamespaceName = Annotated[str, Field(pattern=NAMESPACE_PATTERN, max_length=63)]
# A label as a selector compares it: a key ([PREFIX/]NAME) and a value Kubernetes allows,
# since a label no object can carry would make an opt-out that never applies.
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
LABEL_KEY_PATTERN = (
    rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_LABEL_NAME}$"
)
LABEL_VALUE_PATTERN = rf"^({_LABEL_NAME})?$"
SelectorKey = Annotated[str, Field(pattern=LABEL_KEY_PATTERN, max_length=317)]
SelectorValue = Annotated[str, Field(pattern=LABEL_VALUE_PATTERN, max_length=63)]
ObjectName = Annotated[str, Field(pattern=OBJECT_NAME_PATTERN, max_length=253)]
LabelKey = Annotated[str, Field(min_length=1, max_length=317)]
LabelValue = Annotated[str, Field(max_length=63)]
Confidence = Annotated[float, Field(ge=0.0, le=1.0)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]


def _promql_shape(query: str) -> str:
    """Refuse at load a query whose brackets, strings, ranges or matchers are plainly
    wrong: Prometheus would refuse it at every run (``QueryRejected``), long after."""
    problem = syntax_problem(query)
    if problem is not None:
        raise ValueError(f"not valid PromQL: {problem}")
    return query


Query = Annotated[str, Field(min_length=1, max_length=4000), AfterValidator(_promql_shape)]
# A Slack user id (U…, W…) or user group id (S…), as the daemon's ``slack.approvers``.
SLACK_APPROVER_PATTERN = r"^([UW][A-Z0-9]{2,}|S[A-Z0-9]{2,})$"
SlackApprover = Annotated[str, Field(pattern=SLACK_APPROVER_PATTERN, max_length=40)]


class Metadata(RunbookModel):
    """Who the runbook is and who owns it."""

    name: Name
    """Unique runbook name (lowercase letters, digits and '-'), used in the ledger and Slack."""
    description: Text
    """One or two sentences an on-call engineer reads first."""
    version: int = Field(default=1, ge=1, le=1_000_000)
    """Bump when behaviour changes; decisions record the version they ran."""
    owner: str | None = Field(default=None, max_length=200)
    """Team or Slack group responsible for the runbook."""
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    """Free-form labels for filtering and reports."""


# ------------------------------------------------------------------------------ triggers

KubernetesCondition = Literal[
    "CrashLoopBackOff",
    "OOMKilled",
    "ImagePullBackOff",
    "PodNotReady",
    "RolloutFailed",
    "NodeNotReady",
    "DiskPressure",
    "MemoryPressure",
    "PIDPressure",
]
NODE_CONDITIONS: frozenset[str] = frozenset(
    {"NodeNotReady", "DiskPressure", "MemoryPressure", "PIDPressure"}
)
CanaryVerdict = Literal["promote", "rollback", "continue", "inconclusive"]


class _TriggerBase(RunbookModel):
    matchers: tuple[Matcher, ...] = Field(default=(), max_length=20)
    """Label matchers on the signal's labels (=, !=, =~, !~); all must match."""
    min_confidence: Confidence = 0.0
    """Ignore signals whose confidence is below this."""


class AnomalyTrigger(_TriggerBase):
    """An anomaly reported by the detector on a named metric."""

    type: Literal["anomaly"]
    metric: Annotated[str, Field(min_length=1, max_length=200)]
    """The metric (series) name the detector watched, e.g. 'http_request_errors_ratio'."""
    direction: Literal["up", "down", "any"] = "any"
    """Only anomalies above ('up') or below ('down') the expected band; one inside it
    (a level shift, an unusual pattern) by the half of the band it is in."""


class ForecastBreachTrigger(_TriggerBase):
    """Observed load above what the forecast allowed for (the forecast missed a surge)."""

    type: Literal["forecastBreach"]
    metric: Annotated[str, Field(min_length=1, max_length=200)]
    """The load that breached: 'requests_per_second' for a workload read with
    scaling.loadQuery, else the name of the scaling.loadQueries entry it picks (e.g.
    'queue_depth')."""
    min_excess_ratio: float = Field(default=0.0, ge=0.0, le=100.0)
    """Only breaches where observed/upper-bound - 1 is at least this (0.2 = 20% over)."""


class CanaryTrigger(_TriggerBase):
    """A canary verdict from the judge."""

    type: Literal["canary"]
    verdicts: tuple[CanaryVerdict, ...] = Field(default=("rollback",), min_length=1, max_length=4)
    """Which verdicts trigger the runbook."""


class AlertTrigger(_TriggerBase):
    """A firing Alertmanager alert (webhook v4), by name and label matchers."""

    type: Literal["alert"]
    alertname: Annotated[str, Field(min_length=1, max_length=200)]
    """The alert's 'alertname' label."""


class KubernetesTrigger(_TriggerBase):
    """A condition observed on a pod, workload or node."""

    type: Literal["kubernetes"]
    condition: KubernetesCondition
    """CrashLoopBackOff, OOMKilled, ImagePullBackOff, PodNotReady, RolloutFailed,
    NodeNotReady, DiskPressure, MemoryPressure or PIDPressure."""
    min_count: int = Field(default=1, ge=1, le=1000)
    """For pod conditions: restarts seen (OOMKilled/CrashLoopBackOff) before triggering."""
    held_for: Duration = 0.0
    """The condition must have held this long (e.g. NodeNotReady for 5m)."""


Trigger = Annotated[
    AnomalyTrigger | ForecastBreachTrigger | CanaryTrigger | AlertTrigger | KubernetesTrigger,
    Field(discriminator="type"),
]


# ------------------------------------------------------------------------------- target

TargetKind = Literal["Deployment", "StatefulSet", "Pod", "Node", "PersistentVolumeClaim", "Job"]


class TargetSelector(RunbookModel):
    """Which objects the runbook may act on; everything else is left alone."""

    kind: TargetKind
    """The kind acted on; a Pod signal is resolved to its owning workload when needed, and
    an alert about a HorizontalPodAutoscaler to the workload it scales. A
    PersistentVolumeClaim is named by an alert's 'persistentvolumeclaim' label, a Job by
    its 'job_name' label (a Job runbook can only notify, and selects by namespace and
    name: Autonomic does not read Jobs, so not their labels)."""
    namespaces: tuple[NamespaceName, ...] = Field(default=(), max_length=200)
    """Only these namespaces (empty: all). Ignored for Nodes."""
    exclude_namespaces: tuple[NamespaceName, ...] = Field(default=(), max_length=200)
    """Never these namespaces."""
    require_labels: dict[SelectorKey, SelectorValue] = Field(default_factory=dict)
    """Opt-in: the target must carry all these labels (e.g. autonomic.dev/enabled: "true").
    For Pods they are read from the owning workload; a PersistentVolumeClaim's are its own."""
    exclude_labels: dict[SelectorKey, SelectorValue] = Field(default_factory=dict)
    """Opt-out: a target carrying any of these labels is skipped."""
    exclude_names: tuple[ObjectName, ...] = Field(default=(), max_length=200)
    """Object names never touched."""


# ------------------------------------------------------------------------ preconditions


class PromqlPrecondition(RunbookModel):
    """A PromQL query whose scalar result must satisfy ``condition``; no data blocks."""

    type: Literal["promql"]
    query: Query
    """PromQL; may use {{namespace}}, {{name}}, {{kind}}, {{node}}."""
    condition: ComparisonField
    """e.g. '> 0' or '< 0.05'."""
    description: str | None = Field(default=None, max_length=500)
    """Why this must hold, shown when it blocks."""


class ChangedWithin(RunbookModel):
    """The target (or its owning workload) was rolled out within this period."""

    type: Literal["changedWithin"]
    within: Duration
    """e.g. '30m': act only if the last rollout started less than 30 minutes ago."""


class NoOtherAlertFiring(RunbookModel):
    """Refuse while another alert is firing (you may be looking at a symptom)."""

    type: Literal["noOtherAlertFiring"]
    matchers: tuple[Matcher, ...] = Field(default=(), max_length=20)
    """Which other alerts count (empty: any)."""
    same_namespace: bool = True
    """Count only alerts whose 'namespace' label equals the target's namespace."""


class FreezeWindow(WindowFields):
    """No action while inside this window (a change freeze)."""

    type: Literal["freezeWindow"]


class MaintenanceWindow(WindowFields):
    """Act only inside this window."""

    type: Literal["maintenanceWindow"]


Precondition = Annotated[
    PromqlPrecondition | ChangedWithin | NoOtherAlertFiring | FreezeWindow | MaintenanceWindow,
    Field(discriminator="type"),
]


# ------------------------------------------------------------------------------ actions


class _Sizing(RunbookModel):
    replicas: int | None = Field(default=None, ge=1, le=10_000)
    """Set exactly this many."""
    factor: float | None = Field(default=None, gt=1.0, le=10.0)
    """Multiply the current count (rounded up)."""
    add: int | None = Field(default=None, ge=1, le=1000)
    """Add this many."""
    max_replicas: int = Field(ge=1, le=10_000)
    """Never go above this, whatever the sizing says."""

    @model_validator(mode="after")
    def _one_sizing(self) -> Any:
        given = [v is not None for v in (self.replicas, self.factor, self.add)]
        if sum(given) != 1:
            raise ValueError("give exactly one of 'replicas', 'factor' or 'add'")
        if self.replicas is not None and self.replicas > self.max_replicas:
            raise ValueError("'replicas' is above 'maxReplicas'")
        return self


class ScaleAction(_Sizing):
    """Scale a Deployment or StatefulSet out (operation ``Scale``; never scales in)."""

    type: Literal["scale"]
    hpa: Literal["raiseFloor", "ignore"] = "raiseFloor"
    """If an HPA manages the workload, raise its minReplicas instead (else it would undo us)."""


class SetHpaMinReplicasAction(_Sizing):
    """Raise the HPA's minReplicas floor (operation ``SetHpaMinReplicas``)."""

    type: Literal["setHpaMinReplicas"]


class RaiseHpaMaxReplicasAction(RunbookModel):
    """Raise the maxReplicas ceiling of the HPA that scales the workload, bounded
    (operation ``SetHpaMaxReplicas``); only while the HPA runs at its ceiling."""

    type: Literal["raiseHpaMaxReplicas"]
    by: StepField
    """How much the ceiling grows: a share of it ('50%', rounded up to a whole replica)
    or a count ('+5')."""
    min_step: int = Field(default=1, ge=1, le=1000)
    """Grow the ceiling by at least this many replicas (a share of a small ceiling may
    round to fewer)."""
    at_most: int = Field(ge=1, le=10_000)
    """Never raise the ceiling above this, whatever 'by' says; an HPA already there is
    left alone."""


class RolloutRestartAction(RunbookModel):
    """Restart all pods of a workload gradually (operation ``RolloutRestart``)."""

    type: Literal["rolloutRestart"]


class RollbackAction(RunbookModel):
    """Roll a Deployment back to its previous revision (operation ``RollbackToPrevious``)."""

    type: Literal["rollback"]


class PauseRolloutAction(RunbookModel):
    """Pause a Deployment's rollout where it stands (operation ``PauseRollout``)."""

    type: Literal["pauseRollout"]


PodReason = Literal[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "ContainerCreating",
    "Unknown",
    "NotReady",
]


class _PodSelection(RunbookModel):
    reasons: tuple[PodReason, ...] = Field(default=("CrashLoopBackOff",), min_length=1)
    """Which pod states count as stuck ('Unknown' = phase Unknown, 'NotReady' = running, not
    ready). A Pod target is acted on only if it is in one of these states."""
    max_pods: int = Field(default=1, ge=1, le=50)
    """At most this many pods per run."""


class DeletePodAction(_PodSelection):
    """Delete stuck pods so their controller recreates them (operation ``DeletePod``)."""

    type: Literal["deletePod"]


class EvictPodAction(_PodSelection):
    """Evict stuck pods through the Eviction API, honouring PDBs (operation ``EvictPod``)."""

    type: Literal["evictPod"]


class CordonAction(RunbookModel):
    """Mark a node unschedulable (operation ``Cordon``)."""

    type: Literal["cordon"]


class DrainAction(RunbookModel):
    """Cordon a node and evict its pods, one node per run (operation ``Drain``)."""

    type: Literal["drain"]
    max_evictions: int = Field(default=50, ge=1, le=500)
    """Stop after evicting this many pods."""
    timeout: Duration = 300.0
    """Give up (and report) after this long."""
    min_ready_replicas: int = Field(default=1, ge=0, le=1000)
    """Ask a person first when the drain would leave a workload (Deployment, StatefulSet,
    Rollout) whose ready pods it evicts with fewer ready replicas than this; the default
    1 asks before a drain takes a workload to none. 0: never ask for this."""


class PatchResourcesAction(RunbookModel):
    """Raise a container's memory or CPU, bounded (operation ``PatchResources``)."""

    type: Literal["patchResources"]
    container: str | None = Field(default=None, min_length=1, max_length=253)
    """Container name; default: every container that sets the resource."""
    resource: Literal["memory", "cpu"]
    """Which resource to raise."""
    field: Literal["limits", "requests", "both"] = "limits"
    """Raise the limit, the request, or both."""
    factor: float = Field(gt=1.0, le=4.0)
    """Multiply the current value (e.g. 1.5)."""
    max: Quantity
    """Absolute ceiling, e.g. '2Gi' or '2' (cores); never exceeded."""


class ExpandVolumeAction(RunbookModel):
    """Grow a PersistentVolumeClaim, bounded (operation ``ExpandVolume``). Volumes cannot
    shrink: there is no undo."""

    type: Literal["expandVolume"]
    factor: float | None = Field(default=None, gt=1.0, le=10.0)
    """Multiply the current size (e.g. 1.5)."""
    add: Quantity | None = None
    """Add this much (e.g. '10Gi'); with 'factor' as well, the larger of the two growths."""
    max: Quantity
    """Absolute ceiling, e.g. '500Gi'; the claim is never asked to grow above it."""

    @model_validator(mode="after")
    def _grows(self) -> ExpandVolumeAction:
        if self.factor is None and self.add is None:
            raise ValueError("give 'factor', 'add', or both (how much the volume grows)")
        return self


class PromoteCanaryAction(RunbookModel):
    """Promote a native canary (operation ``SetImages``): the stable Deployment its
    'autonomic.dev/canary-of' label names takes the canary's container images, and
    nothing else of the canary (not its replicas, labels or resources). Only on a canary
    'promote' verdict, for the canary revision judged. Undo puts the stable's previous
    images back."""

    type: Literal["promoteCanary"]
    scale_canary_to_zero: bool = True
    """Then scale the canary Deployment to 0 replicas (operation ``Scale``; as Flagger
    does once it promotes): the stable now serves its release, and a canary left up would
    keep serving a copy of it, then a stale one once the stable moves on. It is never
    deleted; undo scales it back. false: leave it as it is."""


class NotifyAction(RunbookModel):
    """Tell humans; changes nothing in the cluster."""

    type: Literal["notify"]
    message: Text
    """Text; may use {{namespace}}, {{name}}, {{kind}}, {{target}}, {{runbook}}, {{signal}}."""
    severity: Literal["info", "warning", "critical"] = "info"
    """How loudly to say it."""


Action = Annotated[
    ScaleAction
    | SetHpaMinReplicasAction
    | RaiseHpaMaxReplicasAction
    | RolloutRestartAction
    | RollbackAction
    | PauseRolloutAction
    | DeletePodAction
    | EvictPodAction
    | CordonAction
    | DrainAction
    | PatchResourcesAction
    | ExpandVolumeAction
    | PromoteCanaryAction
    | NotifyAction,
    Field(discriminator="type"),
]

# Which target kinds each action can act on.
ACTION_KINDS: dict[str, frozenset[str]] = {
    "scale": frozenset({"Deployment", "StatefulSet"}),
    "setHpaMinReplicas": frozenset({"Deployment", "StatefulSet"}),
    "raiseHpaMaxReplicas": frozenset({"Deployment", "StatefulSet"}),
    "rolloutRestart": frozenset({"Deployment", "StatefulSet"}),
    "rollback": frozenset({"Deployment"}),
    "pauseRollout": frozenset({"Deployment"}),
    "deletePod": frozenset({"Pod", "Deployment", "StatefulSet"}),
    "evictPod": frozenset({"Pod", "Deployment", "StatefulSet"}),
    "cordon": frozenset({"Node"}),
    "drain": frozenset({"Node"}),
    "patchResources": frozenset({"Deployment", "StatefulSet"}),
    "expandVolume": frozenset({"PersistentVolumeClaim"}),
    "promoteCanary": frozenset({"Deployment"}),
    "notify": frozenset(
        {"Deployment", "StatefulSet", "Pod", "Node", "PersistentVolumeClaim", "Job"}
    ),
}

# The actions whose change no undo can reverse, and why: the cluster adapter refuses to
# undo them (``NotUndoable``) and the failure is escalated with nothing restored.
NOT_UNDOABLE: dict[str, str] = {
    "rolloutRestart": "the pods it replaced are gone",
    "deletePod": "a deleted pod cannot be brought back",
    "evictPod": "an evicted pod cannot be brought back",
    "expandVolume": "a volume cannot shrink",
}
# The actions an undo reverses only in part: what it leaves as it is.
UNDONE_IN_PART: dict[str, str] = {
    "drain": "it uncordons the node, but the pods the drain evicted are not brought back",
}


# ------------------------------------------------------------------------- verification

KubernetesCheckCondition = Literal[
    "deploymentAvailable",
    "rolloutComplete",
    "podsReady",
    "noCrashLoop",
    "noImagePullBackOff",
    "noOOMKilled",
    "nodeReady",
    "nodeCordoned",
    "nodeDrained",
    "volumeExpanded",
    "hpaNotMaxedOut",
]
# The checks that read a Node, and the one that reads a PersistentVolumeClaim; the
# others read a workload and its pods.
NODE_CHECKS: frozenset[str] = frozenset({"nodeReady", "nodeCordoned", "nodeDrained"})
VOLUME_CHECKS: frozenset[str] = frozenset({"volumeExpanded"})


class PromqlCheck(RunbookModel):
    """A PromQL query that must satisfy ``condition``; no data is inconclusive."""

    type: Literal["promql"]
    query: Query
    """PromQL; may use {{namespace}}, {{name}}, {{kind}}, {{node}}."""
    condition: ComparisonField
    """e.g. '< 0.05'."""


class KubernetesCheck(RunbookModel):
    """A condition read from the cluster after acting."""

    type: Literal["kubernetes"]
    condition: KubernetesCheckCondition
    """deploymentAvailable, rolloutComplete, podsReady, noCrashLoop, noImagePullBackOff,
    noOOMKilled, nodeReady, nodeCordoned, nodeDrained, volumeExpanded (the claim's
    capacity reached the size asked for) or hpaNotMaxedOut (the HPA that scales the
    workload runs, and wants, fewer replicas than its maxReplicas)."""


class AlertResolvedCheck(RunbookModel):
    """The alert that triggered the run has been resolved."""

    type: Literal["alertResolved"]


Check = Annotated[
    PromqlCheck | KubernetesCheck | AlertResolvedCheck,
    Field(discriminator="type"),
]


class Verification(RunbookModel):
    """How to tell that the action worked. Inconclusive counts as failure."""

    settle: Duration = 60.0
    """Wait this long after acting before the first check."""
    window: Duration = 600.0
    """Checks must pass within this period after settling, or the run failed."""
    interval: Duration = 30.0
    """Time between check rounds."""
    passes_required: int = Field(default=2, ge=1, le=100)
    """Consecutive rounds in which every check passes before declaring success."""
    checks: tuple[Check, ...] = Field(min_length=1, max_length=20)
    """All must pass in the same round."""

    @model_validator(mode="after")
    def _fits(self) -> Verification:
        if self.interval <= 0 or self.window <= 0:
            raise ValueError("'window' and 'interval' must be longer than 0s")
        if self.interval * self.passes_required > self.window:
            raise ValueError(
                "'window' is too short for 'passesRequired' rounds at 'interval'; "
                "lengthen the window or lower passesRequired"
            )
        return self


class OnFailure(RunbookModel):
    """What happens when verification fails or is inconclusive."""

    undo: bool = True
    """Restore the recorded snapshot (never over a change a human made since).
    rolloutRestart, deletePod, evictPod and expandVolume cannot be undone: 'undo: true'
    written when every action that changes the cluster is one of them is refused."""
    escalate: Literal[True] = True
    """Always tell a human; a failed remediation is never silent."""


# --------------------------------------------------------------------------------- guards


class BlastRadius(RunbookModel):
    """How much one run may touch."""

    max_targets: int = Field(default=1, ge=1, le=100)
    """At most this many objects changed per run."""
    min_healthy_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    """Act only if at least this fraction of the selected set stays healthy."""


class CircuitBreaker(RunbookModel):
    """Stop a runbook that keeps failing (inconclusive counts as failure)."""

    failures: int = Field(default=3, ge=1, le=100)
    """Consecutive failed runs that open the breaker."""
    open_for: Duration = 3600.0
    """How long it stays open before one trial run is allowed (half-open)."""


class MaxActionsPerTarget(RunbookModel):
    """At most ``count`` runs of this runbook on one target in any ``within`` (``{count:
    2, within: 24h}``: twice a day per target)."""

    count: int = Field(ge=1, le=1000)
    """Runs of this runbook on the same target allowed in the window."""
    within: Duration
    """The sliding window the runs are counted over (longer than 0s, at most 7d)."""

    @field_validator("within")
    @classmethod
    def _window(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("'within' must be longer than 0s (e.g. '24h')")
        if value > MAX_TARGET_WINDOW:
            raise ValueError(
                f"'within' is at most {format_duration(MAX_TARGET_WINDOW)} (the ledger keeps "
                "no longer a history of actions); write '7d' or less"
            )
        return value


class Guards(RunbookModel):
    """Per-runbook limits; the daemon adds global ones (actions/hour, storm, pause)."""

    cooldown_per_target: Duration = 1800.0
    """Minimum time between two runs on the same target (for a Pod, on any pod of its
    workload or the workload itself: a replacement pod has a new name; at most 7d)."""
    max_actions_per_hour: int = Field(default=5, ge=1, le=1000)
    """Runs of this runbook across all targets in any hour."""
    max_actions_per_target: MaxActionsPerTarget | None = None
    """Runs of this runbook on one target in a window (``{count: 2, within: 24h}``)."""
    max_concurrent: int = Field(default=1, ge=1, le=50)
    """Runs of this runbook in flight at once (1 = one node at a time for drains)."""
    blast_radius: BlastRadius = Field(default_factory=BlastRadius)
    """Size limits of one run."""
    circuit_breaker: CircuitBreaker = Field(default_factory=CircuitBreaker)
    """Failure limit."""

    @field_validator("cooldown_per_target")
    @classmethod
    def _cooldown(cls, value: float) -> float:
        if value > MAX_TARGET_WINDOW:
            raise ValueError(
                f"'cooldownPerTarget' is at most {format_duration(MAX_TARGET_WINDOW)} (the "
                "ledger keeps no longer a history of actions); write '7d' or less, or pause "
                "the runbook"
            )
        return value


class ApprovalRules(RunbookModel):
    """Conditions that force a human approval whatever the confidence."""

    replicas_affected_over: int | None = Field(default=None, ge=0, le=100_000)
    """Ask when the run affects more than this many replicas/pods."""
    namespaces: tuple[NamespaceName, ...] = Field(default=(), max_length=200)
    """Always ask in these namespaces (e.g. production)."""
    confidence_below: Confidence | None = None
    """Ask when the triggering signal's confidence is below this."""


# ----------------------------------------------------------------------------- runbook


class RunbookSpec(RunbookModel):
    """Everything the runbook does, in the order it happens."""

    mode: Literal["enforce", "dryRun", "shadow"] = "shadow"
    """enforce: act; dryRun: plan and server-side dry-run, no change; shadow: only record
    what would have been done (the default, so a new runbook earns trust first)."""
    max_autonomy: Literal["auto", "ask", "escalate"] = "ask"
    """The most the router may ever do: act alone ('auto'), ask first, or only escalate."""
    require_approval_when: ApprovalRules | None = None
    """Hard overrides that force 'ask'."""
    approvers: tuple[SlackApprover, ...] | None = Field(default=None, min_length=1, max_length=50)
    """Who may answer this runbook's questions: Slack user ids (U…) or user group ids
    (S…). It narrows the daemon's slack.approvers (an answer must come from someone both
    lists admit), never widens it. Without it, slack.approvers decides."""
    triggers: tuple[Trigger, ...] = Field(min_length=1, max_length=20)
    """Any one matching signal starts the runbook."""
    target: TargetSelector
    """What may be acted on."""
    preconditions: tuple[Precondition, ...] = Field(default=(), max_length=20)
    """All must hold before acting."""
    actions: tuple[Action, ...] = Field(min_length=1, max_length=5)
    """Done in order; each is planned (with a readable diff) before anything runs."""
    verification: Verification | None = None
    """Required whenever an action changes the cluster."""
    on_failure: OnFailure = Field(default_factory=OnFailure)
    """Undo and escalate by default."""
    guards: Guards = Field(default_factory=Guards)
    """Limits on how often and how widely it acts."""


class Runbook(RunbookModel):
    """One runbook document."""

    api_version: Literal["autonomic.dev/v1alpha1"]
    """Always 'autonomic.dev/v1alpha1'."""
    kind: Literal["Runbook"]
    """Always 'Runbook'."""
    metadata: Metadata
    spec: RunbookSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def changes_cluster(self) -> bool:
        """True when any action writes to the cluster (anything but notify)."""
        return any(action.type != "notify" for action in self.spec.actions)
