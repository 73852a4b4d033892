"""Signals: the observations that can start a runbook.

Five sources produce them: the anomaly detector, the forecast (a breach it did not
predict), the canary judge, Alertmanager, and the cluster itself (a pod crash-looping, a
node NotReady...). Each becomes one ``Signal`` value with the same shape: what happened
(``kind`` and ``name``), to what (``target``), how sure we are (``confidence``), why
(``evidence``, shown to humans), and a ``dedup_key`` that stays the same while it is the
same incident, so a repeated observation never starts a second run.

``detect_kubernetes_signals`` reads a snapshot and returns the Kubernetes-condition
signals, touching nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from forecasting.anomaly.off_scale import as_json
from remediation.ports import NodeState, ObjectRef, PodState, WorkloadState
from remediation.snapshot import ClusterSnapshot

__all__ = [
    "BREACH_RATIO",
    "CANARY_CONFIRMED",
    "DEFAULT_BREACH_METRIC",
    "Signal",
    "SignalKind",
    "anomaly_key",
    "anomaly_signal",
    "breach_confidence",
    "breach_metric",
    "canary_confidence",
    "canary_signal",
    "detect_kubernetes_signals",
    "forecast_breach_signal",
    "kubernetes_signal",
]

SignalKind = Literal["anomaly", "forecastBreach", "canary", "alert", "kubernetes"]


@dataclass(frozen=True, kw_only=True)
class Signal:
    """One observation that may start a runbook.

    ``name`` is the metric (anomaly, forecastBreach), the verdict (canary), the alertname
    (alert) or the condition (kubernetes). ``since`` is when the condition started, when
    known (it backs ``heldFor``); ``count`` is a number of occurrences (restarts for pod
    conditions); ``direction`` says whether an anomaly was above or below its band (or,
    inside it, in which half); ``excess_ratio`` how far observed load exceeded the
    forecast's upper bound; ``status`` is ``resolved`` only for a resolved alert.
    """

    kind: SignalKind
    name: str
    target: ObjectRef | None
    labels: Mapping[str, str] = field(default_factory=dict)
    confidence: float
    observed_at: float
    dedup_key: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    since: float | None = None
    count: int = 1
    direction: Literal["up", "down"] | None = None
    excess_ratio: float | None = None
    status: Literal["firing", "resolved"] = "firing"
    # A copy of a signal that may have been sent before (an anomaly loop restoring an
    # open incident sends its signal again, the canary loop a verdict acted on that no
    # runbook decision names: the first may have died in the engine's in-memory queue).
    # The engine handles it only if no engine took it up before.
    resent: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.confidence) and 0.0 <= self.confidence <= 1.0):
            raise ValueError(f"signal confidence must be in [0, 1], got {self.confidence!r}")
        if not self.dedup_key:
            raise ValueError("a signal needs a dedup_key")

    def describe(self) -> str:
        """One line for messages: 'alert KubePodCrashLooping on Pod/shop/web-1 (signal
        confidence 90.0%)': the signal's own, named so, since a decision's reason quotes
        this beside the decision's confidence."""
        where = f" on {self.target}" if self.target is not None else ""
        return f"{self.kind} {self.name}{where} (signal confidence {self.confidence:.1%})"


def _labels_of(target: ObjectRef | None, extra: Mapping[str, str]) -> dict[str, str]:
    labels = dict(extra)
    if target is not None:
        if target.namespace:
            labels.setdefault("namespace", target.namespace)
        labels.setdefault(target.kind.lower(), target.name)
    return labels


def _series_id(target: ObjectRef | None, labels: Mapping[str, str] | None) -> str:
    """The workload, or, for a series of none (a node's, a queue's), its labels' digest:
    two such series opening an incident in the same minute are two incidents."""
    if target is not None:
        return str(target)
    text = ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))
    return "series-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def anomaly_key(
    metric: str, target: ObjectRef | None, labels: Mapping[str, str] | None, start: float
) -> str:
    """The dedup key of the anomaly incident on ``metric`` that opened at ``start``."""
    return f"anomaly/{metric}/{_series_id(target, labels)}/{start:.0f}"


def anomaly_signal(
    *,
    metric: str,
    target: ObjectRef | None,
    observed: float,
    lower: float,
    upper: float,
    score: float,
    confidence: float,
    at: float,
    labels: Mapping[str, str] | None = None,
    incident_start: float | None = None,
    group: Sequence[Mapping[str, Any]] = (),
    group_summary: str | None = None,
    series: str | None = None,
    resent: bool = False,
    breakdown: Mapping[str, Any] | None = None,
    breakdown_summary: str | None = None,
) -> Signal:
    """An anomaly: ``observed`` outside the expected band [lower, upper], or inside it
    (a level shift, an unusual pattern): ``direction`` is ``up`` above the band or in its
    upper half, ``down`` below it or in its lower half.

    ``series``: the detector's series key (``query{label=value,...}``) the incident is
    on; kept in the evidence with the incident's start (``since``), so the decision it
    starts can look at how that incident ended (``RemediationEngine._signal_over``).
    ``group`` lists the anomalies on the same workload, this one among them, in the order
    they opened, and ``group_summary`` says it in a sentence (given when there are others:
    it is in the evidence, and in the reason of the runbook decisions the signal starts).
    ``resent``: a copy of the incident's signal, sent again (``Signal.resent``).
    ``breakdown``: which values of the query's ``breakdownBy`` labels carry the movement
    (or why that is not known), and ``breakdown_summary`` in words ("mostly pod web-7f9
    (82 %)"), said in the reason of the runbook decisions the signal starts.
    """
    # Above or below the band; a point inside it (a level shift the CUSUM confirmed, an
    # unusual pattern) is on the side of the band's middle, the expected value, it is on:
    # an error ratio shifting up opens its incident inside the band as often as not, and
    # was sent as "down" (a ``direction: up`` trigger missed it, a ``down`` one took it).
    above = observed > upper or (observed >= lower and 2 * observed >= lower + upper)
    if math.isinf(observed):  # off the scale (+Inf up, -Inf down), whatever the band was
        above = observed > 0
    direction: Literal["up", "down"] = "up" if above else "down"
    start = incident_start if incident_start is not None else at
    # +Inf, -Inf and NaN (the band of a series with nothing learnt) as "+Inf", "-Inf",
    # "NaN": the ledger's JSON holds no such number; ``float`` reads them back
    evidence: dict[str, Any] = {
        "observed": as_json(observed),
        "lower": as_json(lower),
        "upper": as_json(upper),
        "score": score,
    }
    if series is not None:
        evidence |= {"series": series, "since": start}
    if group_summary:
        evidence |= {"group_summary": group_summary, "group": [dict(m) for m in group]}
    if breakdown is not None:
        evidence["breakdown"] = dict(breakdown)
    if breakdown_summary:
        evidence["breakdown_summary"] = breakdown_summary
    return Signal(
        kind="anomaly",
        name=metric,
        target=target,
        labels=_labels_of(target, labels or {}),
        confidence=confidence,
        observed_at=at,
        dedup_key=anomaly_key(metric, target, labels, start),
        evidence=evidence,
        since=start,
        direction=direction,
        resent=resent,
    )


# A forecast breach is reported when observed load runs at least this far above the
# forecast's upper bound (0.2: 20 % over), and its confidence grows with how far it is
# above: 0.8 at the least breach, 0.95 from 50 % over. So a breach signal always carries
# a confidence between those two: a trigger's ``minConfidence`` above 0.95 is never met,
# one at 0.8 or below never filters.
BREACH_RATIO = 0.2
BREACH_CONFIDENCE_MAX = 0.95

# The metric a forecast breach is named by (a ``forecastBreach`` trigger's ``metric``):
# this one for a workload whose load is read with ``scaling.loadQuery``, and for one that
# picks a named query (``autonomic.dev/load-query``) that query's name, so a runbook for
# HTTP traffic is not started by a queue consumer's backlog.
DEFAULT_BREACH_METRIC = "requests_per_second"


def breach_metric(load_query: str | None) -> str:
    """The metric of a forecast breach on a workload read with the load query named
    ``load_query`` (None: ``scaling.loadQuery``)."""
    return DEFAULT_BREACH_METRIC if load_query is None else load_query


def breach_confidence(ratio: float) -> float:
    """The confidence of a forecast breach ``ratio`` above the forecast's upper bound
    (observed / upper - 1, at least ``BREACH_RATIO``)."""
    return min(BREACH_CONFIDENCE_MAX, 0.7 + ratio / 2)


def forecast_breach_signal(
    *,
    metric: str,
    target: ObjectRef | None,
    observed: float,
    forecast_upper: float,
    confidence: float,
    at: float,
    labels: Mapping[str, str] | None = None,
    incident_start: float | None = None,
) -> Signal:
    """Observed load above the forecast's upper bound: a surge the forecast missed.
    ``metric`` names the load (``breach_metric``): ``requests_per_second``, or the name of
    the workload's load query."""
    excess = observed / forecast_upper - 1.0 if forecast_upper > 0 else math.inf
    start = incident_start if incident_start is not None else at
    return Signal(
        kind="forecastBreach",
        name=metric,
        target=target,
        labels=_labels_of(target, labels or {}),
        confidence=confidence,
        observed_at=at,
        dedup_key=f"forecastBreach/{metric}/{target}/{start:.0f}",
        evidence={"observed": observed, "forecast_upper": forecast_upper, "excess_ratio": excess},
        since=start,
        excess_ratio=excess,
    )


# The least confidence a canary verdict a person approved is sent to the runbooks with: a
# person has looked, whatever the judge's calibrated confidence in it was.
CANARY_CONFIRMED = 0.99


def canary_confidence(judged: float, *, approved: bool = False) -> float:
    """The confidence a canary verdict's signal to the runbooks carries, ``judged`` being
    the judge's (calibrated) confidence in the verdict: that alone for one sent without
    a person (routed ``auto``; one held by a pause is sent after it with its decision's
    confidence, at or above its automatic threshold), and at least ``CANARY_CONFIRMED``
    for one a person approved. The canary loop sends with it (and reads the runbooks
    with it for a verdict's question), and ``autonomic runbooks test`` states a given
    canary verdict with it."""
    return max(judged, CANARY_CONFIRMED) if approved else judged


def canary_signal(
    *,
    verdict: Literal["promote", "rollback", "continue", "inconclusive"],
    target: ObjectRef,
    confidence: float,
    at: float,
    revision: int,
    evidence: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    run: str | None = None,
    resent: bool = False,
) -> Signal:
    """A canary verdict on ``target`` (the Deployment being rolled out) at ``revision``.

    ``run`` tells apart analyses that share a revision (a canary Deployment deleted and
    created again starts at revision 1 again), e.g. the image under test. ``resent``: a
    copy of a verdict sent before a restart (``Signal.resent``).
    """
    suffix = f"/{run}" if run else ""
    return Signal(
        kind="canary",
        name=verdict,
        target=target,
        labels=_labels_of(target, labels or {}),
        confidence=confidence,
        observed_at=at,
        dedup_key=f"canary/{target}/rev{revision}{suffix}/{verdict}",
        evidence=dict(evidence or {}) | {"revision": revision},
        resent=resent,
    )


def kubernetes_signal(
    *,
    condition: str,
    target: ObjectRef,
    at: float,
    incident: str,
    count: int = 1,
    since: float | None = None,
    labels: Mapping[str, str] | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> Signal:
    """A condition observed on a pod, workload or node. Observed facts: confidence 1.0."""
    return Signal(
        kind="kubernetes",
        name=condition,
        target=target,
        labels=_labels_of(target, labels or {}),
        confidence=1.0,
        observed_at=at,
        dedup_key=f"kubernetes/{condition}/{incident}",
        evidence=dict(evidence or {}),
        since=since,
        count=count,
    )


# --------------------------------------------------------------------------- detection

_PULL_REASONS = frozenset({"ImagePullBackOff", "ErrImagePull"})


def _incident_of(pod: PodState, snapshot: ClusterSnapshot) -> str:
    """Group pod conditions by owner and rollout revision: one incident per bad rollout.
    A StatefulSet has no numbered revision: its ControllerRevision's name stands in."""
    if pod.owner is not None:
        owner = snapshot.workload(pod.owner)
        revision = owner.revision if owner is not None else 0
        if owner is not None and revision == 0 and owner.revision_name:
            return f"{pod.owner}/{owner.revision_name}"
        return f"{pod.owner}/rev{revision}"
    return str(pod.ref)


def _pod_signals(pod: PodState, snapshot: ClusterSnapshot, at: float) -> list[Signal]:
    # A terminal pod (an evicted one, left behind) keeps its old restarts and reasons:
    # they are history, and its replacement speaks for the workload now.
    if pod.deleting or pod.terminal:
        return []
    found: list[tuple[str, float | None]] = []
    if pod.waiting_reason == "CrashLoopBackOff":
        found.append(("CrashLoopBackOff", None))
    if pod.waiting_reason in _PULL_REASONS:
        found.append(("ImagePullBackOff", pod.started_at))
    if pod.last_termination_reason == "OOMKilled":
        found.append(("OOMKilled", None))
    if pod.phase == "Unknown" or (pod.phase == "Running" and not pod.ready):
        since = pod.not_ready_since if pod.not_ready_since is not None else pod.started_at
        found.append(("PodNotReady", since))
    evidence = {
        "phase": pod.phase,
        "ready": pod.ready,
        "restarts": pod.restarts,
        "waiting_reason": pod.waiting_reason,
        "last_termination_reason": pod.last_termination_reason,
        "node": pod.node,
    }
    incident = _incident_of(pod, snapshot)
    return [
        kubernetes_signal(
            condition=condition,
            target=pod.ref,
            at=at,
            # A stuck pod is its own incident (one episode of not being ready); the
            # other conditions group by rollout: one bad revision, one incident.
            incident=f"{pod.ref}/{since:.0f}"
            if condition == "PodNotReady" and since is not None
            else incident,
            count=pod.restarts,
            since=since,
            labels=dict(pod.labels) | {"pod": pod.ref.name},
            evidence=evidence,
        )
        for condition, since in found
    ]


def _workload_signals(workload: WorkloadState, at: float) -> list[Signal]:
    if not workload.rollout_failed:
        return []
    return [
        kubernetes_signal(
            condition="RolloutFailed",
            target=workload.ref,
            at=at,
            incident=f"{workload.ref}/rev{workload.revision}",
            since=workload.last_rollout_at,
            labels=workload.labels,
            evidence={
                "revision": workload.revision,
                "replicas": workload.replicas,
                "updated_replicas": workload.updated_replicas,
                "available_replicas": workload.available_replicas,
            },
        )
    ]


def _node_signals(node: NodeState, at: float) -> list[Signal]:
    found: list[tuple[str, float | None]] = []
    if not node.ready:
        found.append(("NodeNotReady", node.not_ready_since))
    for pressure in ("DiskPressure", "MemoryPressure", "PIDPressure"):
        if node.conditions.get(pressure) == "True":
            # When it turned True backs heldFor; unknown means heldFor cannot be proven.
            found.append((pressure, node.condition_since.get(pressure)))
    return [
        kubernetes_signal(
            condition=condition,
            target=node.ref,
            at=at,
            incident=f"{node.ref}/{since:.0f}" if since is not None else str(node.ref),
            since=since,
            labels=dict(node.labels) | {"node": node.ref.name},
            evidence={"conditions": dict(node.conditions), "unschedulable": node.unschedulable},
        )
        for condition, since in found
    ]


def detect_kubernetes_signals(snapshot: ClusterSnapshot, at: float) -> tuple[Signal, ...]:
    """Every Kubernetes-condition signal visible in ``snapshot``, in a stable order."""
    signals: list[Signal] = []
    for pod in sorted(snapshot.pods, key=lambda p: p.ref):
        signals.extend(_pod_signals(pod, snapshot, at))
    for workload in sorted(snapshot.workloads, key=lambda w: w.ref):
        signals.extend(_workload_signals(workload, at))
    for node in sorted(snapshot.nodes, key=lambda n: n.ref):
        signals.extend(_node_signals(node, at))
    return tuple(signals)
