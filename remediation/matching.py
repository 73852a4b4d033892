"""Which runbooks a signal starts, and on which target.

``match(runbooks, signal, snapshot)`` is pure: it checks each runbook's triggers against
the signal, resolves the signal's object to the kind the runbook acts on (a crash-looping
Pod to its Deployment, a Pod to its Node, an alert's volume to its PersistentVolumeClaim,
an HPA's alert to the workload the HPA scales),
and applies the target selector (namespaces, opt-in and opt-out labels, excluded names).
Every runbook that does not match says why, with a reason code and a sentence, so
``autonomic explain`` can show it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from remediation.matchers import matches_all
from remediation.ports import ObjectRef
from remediation.schema import (
    AlertTrigger,
    AnomalyTrigger,
    CanaryTrigger,
    ForecastBreachTrigger,
    KubernetesTrigger,
    Runbook,
    TargetSelector,
    Trigger,
)
from remediation.signals import Signal
from remediation.snapshot import ClusterSnapshot

__all__ = [
    "Match",
    "MatchResult",
    "Skip",
    "TargetResolution",
    "match",
    "matching_trigger",
    "not_read",
    "resolve_target",
    "selects",
    "trigger_accepts",
]

_WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet"})


@dataclass(frozen=True)
class Match:
    """``runbook`` should consider acting on ``target`` because of ``signal``."""

    runbook: Runbook
    trigger_index: int
    signal: Signal
    target: ObjectRef


@dataclass(frozen=True)
class Skip:
    """A runbook that did not match, and why (reason code + sentence)."""

    runbook: str
    reason_code: str
    message: str


@dataclass(frozen=True)
class MatchResult:
    matches: tuple[Match, ...]
    skipped: tuple[Skip, ...]


@dataclass(frozen=True)
class TargetResolution:
    """The resolved target, or why there is none (``target`` is None then)."""

    target: ObjectRef | None
    reason_code: str
    message: str


def trigger_accepts(trigger: Trigger, signal: Signal) -> bool:
    """True when ``trigger`` fires on ``signal`` (kind, name, thresholds, label matchers)."""
    if signal.status != "firing" or signal.confidence < trigger.min_confidence:
        return False
    if not matches_all(trigger.matchers, signal.labels):
        return False
    if isinstance(trigger, AlertTrigger):
        return signal.kind == "alert" and signal.name == trigger.alertname
    if isinstance(trigger, AnomalyTrigger):
        if signal.kind != "anomaly" or signal.name != trigger.metric:
            return False
        return trigger.direction in ("any", signal.direction)
    if isinstance(trigger, ForecastBreachTrigger):
        if signal.kind != "forecastBreach" or signal.name != trigger.metric:
            return False
        return (signal.excess_ratio or 0.0) >= trigger.min_excess_ratio
    if isinstance(trigger, CanaryTrigger):
        return signal.kind == "canary" and signal.name in trigger.verdicts
    if isinstance(trigger, KubernetesTrigger):
        if signal.kind != "kubernetes" or signal.name != trigger.condition:
            return False
        if signal.count < trigger.min_count and trigger.condition in (
            "CrashLoopBackOff",
            "OOMKilled",
        ):
            return False
        if trigger.held_for > 0:
            if signal.since is None:
                return False  # cannot prove it held long enough: do not act
            return signal.observed_at - signal.since >= trigger.held_for
        return True
    return False


def matching_trigger(runbook: Runbook, signal: Signal) -> int | None:
    """Index of the first trigger of ``runbook`` that accepts ``signal``."""
    for index, trigger in enumerate(runbook.spec.triggers):
        if trigger_accepts(trigger, signal):
            return index
    return None


def _names(trigger: Trigger, signal: Signal) -> bool:
    """Whether ``trigger`` is for ``signal`` by kind and name (the alert, the metric and
    direction, the verdict), whatever its label matchers and thresholds say."""
    if isinstance(trigger, AlertTrigger):
        return signal.kind == "alert" and signal.name == trigger.alertname
    if isinstance(trigger, AnomalyTrigger):
        return (
            signal.kind == "anomaly"
            and signal.name == trigger.metric
            and trigger.direction in ("any", signal.direction)
        )
    if isinstance(trigger, ForecastBreachTrigger):
        return signal.kind == "forecastBreach" and signal.name == trigger.metric
    if isinstance(trigger, CanaryTrigger):
        return signal.kind == "canary" and signal.name in trigger.verdicts
    return False


def near_miss(runbook: Runbook, signal: Signal) -> str | None:
    """Why a trigger of ``runbook`` that is for ``signal`` (the same alert, metric or
    verdict) still did not take it up: a label matcher, ``minConfidence`` or
    ``minExcessRatio`` refused it. None when no trigger is for it, or for a Kubernetes
    condition: those are seen every cycle, and a pod below ``minCount`` or not yet past
    ``heldFor`` gets there or recovers (not kept, as documented)."""
    if signal.status != "firing" or signal.kind == "kubernetes":
        return None
    for number, trigger in enumerate(runbook.spec.triggers, start=1):
        if not _names(trigger, signal):
            continue
        which = (
            f"trigger {number} of {runbook.name}"
            if len(runbook.spec.triggers) > 1
            else (f"the trigger of {runbook.name}")
        )
        refused = [m for m in trigger.matchers if not m.matches(signal.labels)]
        if refused:
            has = ", ".join(
                f'{m.name}="{signal.labels[m.name]}"' if m.name in signal.labels else f"no {m.name}"
                for m in refused
            )
            needs = ", ".join(str(m) for m in refused)
            return (
                f"{signal.describe()} is not taken up: {which} needs {needs}, and it has "
                f"{has} (change the signal's labels, or the trigger's matchers)"
            )
        if signal.confidence < trigger.min_confidence:
            return (
                f"{signal.describe()} is not taken up: its confidence {signal.confidence:.2f} "
                f"is below the minConfidence {trigger.min_confidence:g} of {which}"
            )
        if isinstance(trigger, ForecastBreachTrigger):
            excess = signal.excess_ratio or 0.0
            return (
                f"{signal.describe()} is not taken up: its excess ratio {excess:.2f} is "
                f"below the minExcessRatio {trigger.min_excess_ratio:g} of {which}"
            )
    return None


# The labels that name an object of a namespace (``alerts.alert_target``).
_NAMESPACED_LABELS = (
    "pod",
    "deployment",
    "statefulset",
    "horizontalpodautoscaler",
    "job_name",
    "persistentvolumeclaim",
)


def _owner_kind_ok(kind: str, selector: TargetSelector) -> bool:
    return kind == selector.kind or (selector.kind == "Pod" and kind in _WORKLOAD_KINDS)


def _resolve_ref(
    selector: TargetSelector, signal: Signal, snapshot: ClusterSnapshot
) -> TargetResolution:
    ref = signal.target
    if ref is None:
        given = [
            f"{label}={signal.labels[label]}"
            for label in _NAMESPACED_LABELS
            if signal.kind == "alert" and signal.labels.get(label)
        ]
        if given and not signal.labels.get("namespace"):
            # The alerting rule's aggregation dropped it (``sum by (pod)``), most often.
            return TargetResolution(
                None,
                "NoTarget",
                f"{signal.describe()} has {', '.join(given)} but no 'namespace' label, so it "
                "names no object: keep 'namespace' in the alerting rule's labels (its "
                "aggregation's 'by' clause)",
            )
        hint = (
            " (an alert names its object by a 'pod', 'deployment', 'statefulset', "
            "'horizontalpodautoscaler', 'job_name' or 'persistentvolumeclaim' label "
            "with 'namespace', or by a 'node' label)"
            if signal.kind == "alert"
            else ""
        )
        return TargetResolution(None, "NoTarget", f"{signal.describe()} names no object{hint}")
    named = _named_workload(signal) if ref.kind == "Pod" else None
    if named is not None:
        resolved = _resolve_pod_of(selector, ref, named, snapshot)
        if resolved is not None:
            return resolved
    if _owner_kind_ok(ref.kind, selector):
        return TargetResolution(ref, "Resolved", f"target is {ref}")
    if ref.kind == "HorizontalPodAutoscaler" and (
        selector.kind in _WORKLOAD_KINDS or selector.kind == "Pod"
    ):
        return _resolve_hpa(selector, ref, snapshot)
    if ref.kind == "Pod" and selector.kind in _WORKLOAD_KINDS:
        pod = snapshot.pod(ref)
        if pod is None:
            return not_read(ref, snapshot) or TargetResolution(
                None, "TargetNotFound", f"{ref} is not in the cluster"
            )
        if pod.owner is None or pod.owner.kind != selector.kind:
            owner = pod.owner or "no controller"
            return TargetResolution(
                None, "WrongKind", f"{ref} is owned by {owner}, not a {selector.kind}"
            )
        return TargetResolution(pod.owner, "Resolved", f"{ref} belongs to {pod.owner}")
    if selector.kind == "PersistentVolumeClaim":
        # An alert about a volume may also name the pod that mounts it: the claim is the
        # one its 'persistentvolumeclaim' label names.
        claim_name, namespace = signal.labels.get("persistentvolumeclaim"), ref.namespace
        if claim_name and namespace:
            claim = ObjectRef("PersistentVolumeClaim", claim_name, namespace)
            return TargetResolution(claim, "Resolved", f"{ref} names {claim}")
    if selector.kind == "Node":
        node_name = signal.labels.get("node")
        if not node_name and ref.kind == "Pod":
            pod = snapshot.pod(ref)
            node_name = pod.node if pod is not None else None
        if node_name:
            node = ObjectRef("Node", node_name)
            return TargetResolution(node, "Resolved", f"{ref} runs on {node}")
    return TargetResolution(
        None, "WrongKind", f"the runbook acts on a {selector.kind}; {ref} is a {ref.kind}"
    )


def _named_workload(signal: Signal) -> ObjectRef | None:
    """The Deployment or StatefulSet an alert names besides its pod, if any."""
    if signal.kind != "alert" or signal.target is None:
        return None
    namespace = signal.target.namespace
    if name := signal.labels.get("deployment"):
        return ObjectRef("Deployment", name, namespace)
    if name := signal.labels.get("statefulset"):
        return ObjectRef("StatefulSet", name, namespace)
    return None


def _resolve_pod_of(
    selector: TargetSelector, ref: ObjectRef, named: ObjectRef, snapshot: ClusterSnapshot
) -> TargetResolution | None:
    """An alert that names a pod and a workload (``pod`` and ``deployment``), for a
    runbook on a workload or a Pod; ``None`` for the other kinds (a Node runbook reads
    the alert's ``node`` first, a claim's its ``persistentvolumeclaim``).

    The workload is what the alerting rule is about. The pod may be one of its pods (an
    application's metrics joined with its pods), or the exporter's own: kube-state-metrics'
    workload metrics have no ``pod``, and a scrape that keeps the target's labels adds the
    exporter's pod (kube-prometheus-stack does). So a runbook on a workload takes the named
    one, whatever the pod, and one on a Pod takes the pod only if it is one of the named
    workload's."""
    if selector.kind in _WORKLOAD_KINDS:
        if named.kind != selector.kind:
            return TargetResolution(
                None, "WrongKind", f"the alert names {named}, not a {selector.kind}"
            )
        return TargetResolution(named, "Resolved", f"the alert names {named}")
    if selector.kind != "Pod":
        return None
    pod = snapshot.pod(ref)
    if pod is not None and pod.owner == named:
        return TargetResolution(ref, "Resolved", f"target is {ref}, one of {named}'s pods")
    unread = not_read(ref, snapshot) if pod is None else None
    if unread is not None:
        return unread
    found = "is not in the cluster" if pod is None else f"belongs to {pod.owner or 'no controller'}"
    return TargetResolution(
        None,
        "TargetNotFound",
        f"the alert names {named} and {ref}, which {found}: no pod of {named} is named (a "
        "scrape can add the exporter's own 'pod' label, as kube-state-metrics' does)",
    )


def _resolve_hpa(
    selector: TargetSelector, ref: ObjectRef, snapshot: ClusterSnapshot
) -> TargetResolution:
    """An alert about an HPA is about the workload it scales (its scaleTargetRef). One
    not in the snapshot is not taken for gone while it may be one that could not be read
    (``_hpa_unread``)."""
    scaled = snapshot.scaled_by(ref)
    if scaled is None:
        unread = _hpa_unread(ref, snapshot)
        if unread is not None:
            return unread
        return TargetResolution(
            None,
            "TargetNotFound",
            f"{ref} is not in the cluster, or scales no Deployment, StatefulSet or Rollout that is",
        )
    if not _owner_kind_ok(scaled.kind, selector):
        return TargetResolution(None, "WrongKind", f"{ref} scales {scaled}, not a {selector.kind}")
    return TargetResolution(scaled, "Resolved", f"{ref} scales {scaled}")


def _hpa_unread(ref: ObjectRef, snapshot: ClusterSnapshot) -> TargetResolution | None:
    """``ObjectUnread`` for an HPA the snapshot lacks that may be there but unread: the
    HPA itself left out as unreadable, or a workload of its namespace left out (the
    workload, or an HPA that may scale it, could not be read: the engine leaves such a
    workload out with its HPA), which it may scale. None when nothing of its namespace
    was left out: then it is not in the cluster."""
    why = snapshot.unread_why(ref)
    if why is not None:
        return TargetResolution(
            None,
            "ObjectUnread",
            f"{ref} could not be read: {why}. It is there, but what it scales is not "
            "known, so no runbook acts on it",
        )
    kinds = ("Deployment", "StatefulSet", "Rollout")
    near = [u for u in snapshot.unread if u.ref.kind in kinds and u.ref.namespace == ref.namespace]
    if not near:
        return None
    # The one whose reason names this HPA first, if any.
    near.sort(key=lambda u: f"HorizontalPodAutoscaler {ref.namespace}/{ref.name}" not in u.why)
    names = ", ".join(str(u.ref) for u in near[:3]) + (
        f" and {len(near) - 3} more" if near[3:] else ""
    )
    return TargetResolution(
        None,
        "ObjectUnread",
        f"{ref} is not among the HPAs read, but {names} could not be read ({near[0].why}): "
        "it may be one of their HPAs, so whether it is there and what it scales is not "
        "known, and no runbook acts on it",
    )


def _labels_for(ref: ObjectRef, snapshot: ClusterSnapshot) -> Mapping[str, str] | None:
    if ref.kind in _WORKLOAD_KINDS:
        workload = snapshot.workload(ref)
        return workload.labels if workload is not None else None
    if ref.kind == "Pod":
        pod = snapshot.pod(ref)
        if pod is None:
            return None
        owner = snapshot.workload(pod.owner) if pod.owner is not None else None
        if owner is None and pod.owner is not None and snapshot.unread_why(pod.owner):
            # Its workload is there but could not be read: the pod's own labels are not
            # the workload's opt-in (nor its opt-out).
            return None
        # Opting in is a property of the workload; a bare pod speaks for itself.
        return owner.labels if owner is not None else pod.labels
    if ref.kind == "Node":
        node = snapshot.node(ref.name)
        return node.labels if node is not None else None
    if ref.kind == "PersistentVolumeClaim":
        # A claim opts in by its own labels: it outlives its pods, a person can label it
        # (kubectl label pvc), and a StatefulSet's volumeClaimTemplates give their labels
        # to every claim made from them.
        claim = snapshot.claim(ref)
        return claim.labels if claim is not None else None
    if ref.kind == "Job":
        # Autonomic does not read Jobs: a Job runbook selects by namespace and name
        # only (labels in its selector are refused at load) and can only notify.
        return {}
    return None


def _selected(selector: TargetSelector, ref: ObjectRef, labels: Mapping[str, str]) -> Skip | None:
    def skip(code: str, message: str) -> Skip:
        return Skip("", code, message)

    if ref.kind != "Node" and ref.namespace is not None:
        if selector.namespaces and ref.namespace not in selector.namespaces:
            allowed = ", ".join(selector.namespaces)
            return skip(
                "NamespaceNotSelected",
                f"{ref} is outside namespaces {allowed}, the runbook's target.namespaces",
            )
        if ref.namespace in selector.exclude_namespaces:
            # Which setting: the daemon's cluster.excludeNamespaces is NamespaceNotRead.
            return skip(
                "NamespaceExcluded",
                f"namespace {ref.namespace} is excluded by the runbook's target.excludeNamespaces",
            )
    if ref.name in selector.exclude_names:
        return skip("NameExcluded", f"{ref} is excluded by the runbook's target.excludeNames")
    missing = {k: v for k, v in selector.require_labels.items() if labels.get(k) != v}
    if missing:
        wanted = ", ".join(f"{k}={v}" for k, v in sorted(missing.items()))
        has = [f"{k}={labels[k]!r}" for k in sorted(missing) if k in labels]
        instead = f" (it has {', '.join(has)})" if has else ""
        return skip("NotOptedIn", f"{ref} lacks the opt-in label {wanted}{instead}")
    for key, value in sorted(selector.exclude_labels.items()):
        if labels.get(key) == value:
            return skip("OptedOut", f"{ref} carries the opt-out label {key}={value}")
    return None


def selects(selector: TargetSelector, ref: ObjectRef, labels: Mapping[str, str]) -> bool:
    """Whether the runbook's ``target`` may act on ``ref`` (with ``labels``): its
    namespaces, names and labels, as a signal's target is judged."""
    return _selected(selector, ref, labels) is None


def not_read(ref: ObjectRef, snapshot: ClusterSnapshot) -> TargetResolution | None:
    """No target, because ``ref`` (or, for a Pod, the workload that owns it) exists but
    could not be read (``ClusterSnapshot.unread``): ``ObjectUnread``, with the reader's
    reason. None when it was read, or is not there: then it is not found."""
    subjects = [ref]
    pod = snapshot.pod(ref) if ref.kind == "Pod" else None
    if pod is not None and pod.owner is not None:
        subjects.append(pod.owner)
    for subject in subjects:
        why = snapshot.unread_why(subject)
        if why is not None:
            return TargetResolution(
                None,
                "ObjectUnread",
                f"{subject} could not be read: {why}. It is there, but what it is now is "
                "not known, so no runbook acts on it",
            )
    return None


def resolve_target(
    selector: TargetSelector, signal: Signal, snapshot: ClusterSnapshot
) -> TargetResolution:
    """Resolve the signal's object to the selector's kind and check it is selected."""
    resolved = _resolve_ref(selector, signal, snapshot)
    if resolved.target is None:
        return resolved
    labels = _labels_for(resolved.target, snapshot)
    if labels is None:
        return not_read(resolved.target, snapshot) or TargetResolution(
            None, "TargetNotFound", f"{resolved.target} is not in the cluster snapshot"
        )
    rejected = _selected(selector, resolved.target, labels)
    if rejected is not None:
        message = rejected.message
        if signal.target is not None and signal.target.kind == "HorizontalPodAutoscaler":
            message = f"{resolved.message}: {message}"  # the workload may be named otherwise
        return TargetResolution(None, rejected.reason_code, message)
    return resolved


def match(runbooks: Iterable[Runbook], signal: Signal, snapshot: ClusterSnapshot) -> MatchResult:
    """Runbooks that ``signal`` starts, each with its target; the rest with their reasons."""
    matches: list[Match] = []
    skipped: list[Skip] = []
    for runbook in runbooks:
        index = matching_trigger(runbook, signal)
        if index is None:
            missed = near_miss(runbook, signal)
            skipped.append(
                Skip(runbook.name, "TriggerNotMet", missed)
                if missed is not None
                else Skip(runbook.name, "NoTriggerMatch", f"no trigger accepts {signal.describe()}")
            )
            continue
        resolved = resolve_target(runbook.spec.target, signal, snapshot)
        if resolved.target is None:
            skipped.append(Skip(runbook.name, resolved.reason_code, resolved.message))
            continue
        matches.append(Match(runbook, index, signal, resolved.target))
    return MatchResult(tuple(matches), tuple(skipped))
