"""Small builders for cluster state, signals and runbooks used across remediation tests."""

from __future__ import annotations

import textwrap
from typing import Any

from remediation.loading import load_text
from remediation.ports import (
    ContainerState,
    HpaState,
    NodeState,
    ObjectRef,
    PodState,
    WorkloadState,
)
from remediation.schema import Runbook
from remediation.signals import Signal

NOW = 1_795_000_000.0  # 2026-11-19T...Z, a fixed instant; tests move time explicitly
OPT_IN = {"autonomic.dev/enabled": "true"}


def deployment(
    name: str = "web",
    namespace: str = "shop",
    *,
    replicas: int = 3,
    ready: int | None = None,
    updated: int | None = None,
    revision: int = 2,
    labels: dict[str, str] | None = None,
    memory_limit: str | None = "256Mi",
    memory_request: str | None = "128Mi",
    paused: bool = False,
    rollout_failed: bool = False,
    last_rollout_at: float | None = NOW - 600,
    human_at: float | None = None,
    generation: int = 2,
    observed_generation: int = 2,
) -> WorkloadState:
    limits = {"memory": memory_limit} if memory_limit else {}
    requests = {"memory": memory_request} if memory_request else {}
    ready_count = replicas if ready is None else ready
    return WorkloadState(
        ref=ObjectRef("Deployment", name, namespace),
        replicas=replicas,
        ready_replicas=ready_count,
        updated_replicas=replicas if updated is None else updated,
        available_replicas=ready_count,
        labels=OPT_IN if labels is None else labels,
        annotations={},
        selector={"app": name},
        containers=(ContainerState("app", f"{name}:v{revision}", requests, limits),),
        generation=generation,
        observed_generation=observed_generation,
        revision=revision,
        paused=paused,
        rollout_failed=rollout_failed,
        last_rollout_at=last_rollout_at,
        managed_by_human_at=human_at,
    )


def pod(
    name: str,
    owner: WorkloadState | None,
    *,
    ready: bool = True,
    phase: str = "Running",
    node: str = "node-1",
    restarts: int = 0,
    waiting: str | None = None,
    terminated: str | None = None,
    started_at: float | None = NOW - 3600,
    deleting: bool = False,
) -> PodState:
    namespace = owner.ref.namespace if owner is not None else "shop"
    return PodState(
        ref=ObjectRef("Pod", name, namespace),
        labels={"app": owner.ref.name if owner else name},
        phase=phase,
        ready=ready,
        node=node,
        owner=owner.ref if owner is not None else None,
        restarts=restarts,
        waiting_reason=waiting,
        last_termination_reason=terminated,
        started_at=started_at,
        deleting=deleting,
    )


def node(
    name: str,
    *,
    ready: bool = True,
    unschedulable: bool = False,
    labels: dict[str, str] | None = None,
    conditions: dict[str, str] | None = None,
    not_ready_since: float | None = None,
) -> NodeState:
    return NodeState(
        ref=ObjectRef("Node", name),
        labels=labels or {},
        ready=ready,
        unschedulable=unschedulable,
        conditions=conditions or {"Ready": "True" if ready else "False"},
        not_ready_since=not_ready_since,
    )


def hpa(workload: WorkloadState, *, min_replicas: int, max_replicas: int, current: int) -> HpaState:
    return HpaState(
        ref=ObjectRef("HorizontalPodAutoscaler", workload.ref.name, workload.ref.namespace),
        target=workload.ref,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        current_replicas=current,
        desired_replicas=current,
    )


def signal(
    kind: Any = "kubernetes",
    name: str = "CrashLoopBackOff",
    target: ObjectRef | None = None,
    *,
    labels: dict[str, str] | None = None,
    confidence: float = 1.0,
    count: int = 5,
    since: float | None = None,
    at: float = NOW,
    direction: Any = None,
    excess_ratio: float | None = None,
    evidence: dict[str, Any] | None = None,
    status: Any = "firing",
) -> Signal:
    return Signal(
        kind=kind,
        name=name,
        target=target,
        labels=labels or {},
        confidence=confidence,
        observed_at=at,
        dedup_key=f"{kind}/{name}/{target}",
        evidence=evidence or {},
        since=since,
        count=count,
        direction=direction,
        excess_ratio=excess_ratio,
        status=status,
    )


def runbook(spec_yaml: str, name: str = "test-runbook") -> Runbook:
    """A runbook from the YAML of its ``spec`` (indented freely)."""
    body = textwrap.indent(textwrap.dedent(spec_yaml).strip("\n"), "  ")
    text = (
        "apiVersion: autonomic.dev/v1alpha1\n"
        "kind: Runbook\n"
        f"metadata:\n  name: {name}\n  description: a test runbook\n"
        f"spec:\n{body}\n"
    )
    (loaded,) = load_text(text, f"{name}.yaml")
    return loaded
