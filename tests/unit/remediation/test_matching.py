"""Matching: triggers against signals, and target resolution with opt-in and exclusions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from remediation.matching import match, resolve_target, trigger_accepts
from remediation.ports import ObjectRef, UnreadObject, WorkloadState
from remediation.schema import RunbookSpec
from remediation.signals import Signal, anomaly_signal, detect_kubernetes_signals
from remediation.snapshot import ClusterSnapshot

from .builders import NOW, OPT_IN, deployment, hpa, node, pod, runbook, signal

WEB = deployment()
WEB_POD = pod("web-1", WEB, ready=False, waiting="CrashLoopBackOff", restarts=5)
SNAPSHOT = ClusterSnapshot(workloads=(WEB,), pods=(WEB_POD,), nodes=(node("node-1"),))


def spec_with(trigger: str, target: str = "kind: Deployment") -> RunbookSpec:
    return runbook(
        f"""
        triggers:
          - {trigger}
        target: {{{target}}}
        actions: [{{type: notify, message: hi}}]
        """
    ).spec


@pytest.mark.parametrize(
    ("trigger", "sig", "accepted"),
    [
        ("{type: kubernetes, condition: CrashLoopBackOff, minCount: 3}", signal(count=5), True),
        ("{type: kubernetes, condition: CrashLoopBackOff, minCount: 3}", signal(count=2), False),
        (
            "{type: kubernetes, condition: NodeNotReady, heldFor: 5m}",
            signal(name="NodeNotReady", since=NOW - 301),
            True,
        ),
        (
            "{type: kubernetes, condition: NodeNotReady, heldFor: 5m}",
            signal(name="NodeNotReady", since=NOW - 60),
            False,
        ),
        (
            "{type: kubernetes, condition: NodeNotReady, heldFor: 5m}",
            signal(name="NodeNotReady", since=None),
            False,
        ),  # cannot prove it held
        (
            "{type: alert, alertname: HighErrors, matchers: ['severity=~\"critical|page\"']}",
            signal("alert", "HighErrors", labels={"severity": "page"}),
            True,
        ),
        (
            "{type: alert, alertname: HighErrors, matchers: ['severity=~\"critical|page\"']}",
            signal("alert", "HighErrors", labels={"severity": "info"}),
            False,
        ),
        (
            "{type: alert, alertname: HighErrors}",
            signal("alert", "HighErrors", status="resolved"),
            False,
        ),
        (
            "{type: anomaly, metric: errors, direction: up, minConfidence: 0.7}",
            signal("anomaly", "errors", direction="up", confidence=0.8),
            True,
        ),
        (
            "{type: anomaly, metric: errors, direction: up, minConfidence: 0.7}",
            signal("anomaly", "errors", direction="up", confidence=0.6),
            False,
        ),
        (
            "{type: anomaly, metric: errors, direction: up}",
            signal("anomaly", "errors", direction="down"),
            False,
        ),
        (
            "{type: forecastBreach, metric: rps, minExcessRatio: 0.2}",
            signal("forecastBreach", "rps", excess_ratio=0.3),
            True,
        ),
        (
            "{type: forecastBreach, metric: rps, minExcessRatio: 0.2}",
            signal("forecastBreach", "rps", excess_ratio=0.1),
            False,
        ),
        ("{type: canary, verdicts: [rollback]}", signal("canary", "rollback"), True),
        ("{type: canary, verdicts: [rollback]}", signal("canary", "inconclusive"), False),
    ],
)
def test_trigger_accepts(trigger: str, sig: Signal, accepted: bool) -> None:
    target = "kind: Node" if "Node" in trigger else "kind: Deployment"
    spec = spec_with(trigger, target)
    assert trigger_accepts(spec.triggers[0], sig) is accepted


@pytest.mark.parametrize(
    ("target", "sig_target", "code", "resolved"),
    [
        ("kind: Deployment", WEB_POD.ref, "Resolved", WEB.ref),
        ("kind: Deployment", WEB.ref, "Resolved", WEB.ref),
        ("kind: Deployment, namespaces: [prod]", WEB_POD.ref, "NamespaceNotSelected", None),
        ("kind: Deployment, excludeNamespaces: [shop]", WEB_POD.ref, "NamespaceExcluded", None),
        ("kind: Deployment, requireLabels: {team: a}", WEB_POD.ref, "NotOptedIn", None),
        (
            "kind: Deployment, excludeLabels: {autonomic.dev/enabled: 'true'}",
            WEB.ref,
            "OptedOut",
            None,
        ),
        ("kind: Deployment, excludeNames: [web]", WEB.ref, "NameExcluded", None),
        ("kind: StatefulSet", WEB_POD.ref, "WrongKind", None),
        ("kind: Deployment", ObjectRef("Pod", "ghost", "shop"), "TargetNotFound", None),
        ("kind: Node", WEB_POD.ref, "Resolved", ObjectRef("Node", "node-1")),
        ("kind: Pod", WEB.ref, "Resolved", WEB.ref),
        ("kind: Deployment", None, "NoTarget", None),
    ],
)
def test_resolve_target(
    target: str, sig_target: ObjectRef | None, code: str, resolved: object
) -> None:
    spec = spec_with("{type: alert, alertname: A}", target)
    result = resolve_target(spec.target, signal("alert", "A", sig_target), SNAPSHOT)
    assert (result.reason_code, result.target) == (code, resolved)
    assert result.message


def test_an_alert_naming_a_pod_without_its_namespace_says_the_namespace_is_missing() -> None:
    """A rule aggregated ``sum by (pod)`` drops the namespace: the alert used to be
    said to name no object, listing the labels it did have."""
    spec = spec_with("{type: alert, alertname: A}", "kind: Deployment")
    labels = {"alertname": "A", "pod": "web-1", "severity": "warning"}
    result = resolve_target(spec.target, signal("alert", "A", None, labels=labels), SNAPSHOT)
    assert (result.reason_code, result.target) == ("NoTarget", None)
    assert result.message == (
        "alert A (signal confidence 100.0%) has pod=web-1 but no 'namespace' label, so it names no "
        "object: keep 'namespace' in the alerting rule's labels (its aggregation's 'by' clause)"
    )
    plain = resolve_target(spec.target, signal("alert", "A", None, labels={}), SNAPSHOT)
    assert "names no object (an alert names its object by a 'pod'" in plain.message


def test_match_returns_matches_and_reasons() -> None:
    crash = runbook(
        """
        triggers: [{type: kubernetes, condition: CrashLoopBackOff}]
        target: {kind: Deployment, requireLabels: {autonomic.dev/enabled: "true"}}
        actions: [{type: notify, message: crash}]
        """,
        name="crash",
    )
    oom = runbook(
        """
        triggers: [{type: kubernetes, condition: OOMKilled}]
        target: {kind: Deployment}
        actions: [{type: notify, message: oom}]
        """,
        name="oom",
    )
    result = match([crash, oom], signal(target=WEB_POD.ref), SNAPSHOT)
    assert [(m.runbook.name, m.target) for m in result.matches] == [("crash", WEB.ref)]
    assert [(s.runbook, s.reason_code) for s in result.skipped] == [("oom", "NoTriggerMatch")]


def test_detect_kubernetes_signals() -> None:
    oom = pod("web-2", WEB, terminated="OOMKilled", restarts=4)
    pulling = pod("web-3", WEB, ready=False, waiting="ErrImagePull")
    sick = node(
        "node-2",
        ready=False,
        not_ready_since=NOW - 400,
        conditions={"Ready": "False", "DiskPressure": "True"},
    )
    failed = deployment("api", rollout_failed=True, revision=7)
    snapshot = ClusterSnapshot(
        workloads=(WEB, failed), pods=(WEB_POD, oom, pulling), nodes=(node("node-1"), sick)
    )
    found = {(s.name, str(s.target)) for s in detect_kubernetes_signals(snapshot, NOW)}
    assert found == {
        ("CrashLoopBackOff", "Pod/shop/web-1"),
        ("PodNotReady", "Pod/shop/web-1"),
        ("OOMKilled", "Pod/shop/web-2"),
        ("ImagePullBackOff", "Pod/shop/web-3"),
        ("PodNotReady", "Pod/shop/web-3"),
        ("RolloutFailed", "Deployment/shop/api"),
        ("NodeNotReady", "Node/node-2"),
        ("DiskPressure", "Node/node-2"),
    }
    crash = [s for s in detect_kubernetes_signals(snapshot, NOW) if s.name == "CrashLoopBackOff"]
    # One incident per workload revision, so every crash-looping pod of a bad rollout dedups.
    assert crash[0].dedup_key == "kubernetes/CrashLoopBackOff/Deployment/shop/web/rev2"
    assert crash[0].count == 5 and crash[0].labels["namespace"] == "shop"


def test_signal_rejects_bad_confidence() -> None:
    with pytest.raises(ValueError, match="confidence"):
        signal(confidence=1.5)


def test_anomalies_of_series_without_a_workload_are_told_apart_by_their_labels() -> None:
    """Two node series (no deployment or statefulset label) opening an incident in the
    same minute are two incidents, not one the second is dropped as a duplicate of;
    a workload's key stays readable."""
    common = {"metric": "disk", "target": None, "observed": 9.0, "lower": 0.0, "upper": 1.0,
              "score": 0.9, "confidence": 0.99, "at": 1_800_000_000.0}  # fmt: skip
    one = anomaly_signal(**common, labels={"instance": "node-1"})  # type: ignore[arg-type]
    two = anomaly_signal(**common, labels={"instance": "node-2"})  # type: ignore[arg-type]
    again = anomaly_signal(**common, labels={"instance": "node-1"})  # type: ignore[arg-type]
    assert one.dedup_key != two.dedup_key and one.dedup_key == again.dedup_key
    web = ObjectRef("Deployment", "web", "shop")
    keyed = anomaly_signal(**{**common, "target": web}, labels={"namespace": "shop"})  # type: ignore[arg-type]
    assert keyed.dedup_key == "anomaly/disk/Deployment/shop/web/1800000000"


# An HPA alert (KubeHpaMaxedOut) names the HPA; a runbook on Deployments takes the
# Deployment the HPA scales, with that Deployment's opt-in labels.
API = deployment("api", labels={})  # not opted in
DB = WorkloadState(**{**vars(deployment("db")), "ref": ObjectRef("StatefulSet", "db", "shop")})
WEB_HPA = hpa(WEB, min_replicas=2, max_replicas=10, current=10)
API_HPA = hpa(API, min_replicas=2, max_replicas=4, current=4)
DB_HPA = hpa(DB, min_replicas=1, max_replicas=3, current=3)
# Two HPAs on one workload: the snapshot keeps the first by name, the second in shared_with
SHARED = replace(hpa(WEB, min_replicas=1, max_replicas=5, current=5), shared_with=("web-extra",))
HPA_SNAPSHOT = ClusterSnapshot(workloads=(WEB, API, DB), hpas=(WEB_HPA, API_HPA, DB_HPA))


def hpa_ref(name: str) -> ObjectRef:
    return ObjectRef("HorizontalPodAutoscaler", name, "shop")


@pytest.mark.parametrize(
    ("target", "named", "snapshot", "code", "resolved"),
    [
        ("kind: Deployment", "web", HPA_SNAPSHOT, "Resolved", WEB.ref),
        ("kind: Deployment, requireLabels: {autonomic.dev/enabled: 'true'}", "web",
         HPA_SNAPSHOT, "Resolved", WEB.ref),
        ("kind: Pod", "web", HPA_SNAPSHOT, "Resolved", WEB.ref),
        ("kind: StatefulSet", "db", HPA_SNAPSHOT, "Resolved", DB.ref),
        ("kind: Deployment, requireLabels: {autonomic.dev/enabled: 'true'}", "api",
         HPA_SNAPSHOT, "NotOptedIn", None),
        ("kind: Deployment, excludeNames: [web]", "web", HPA_SNAPSHOT, "NameExcluded", None),
        ("kind: StatefulSet", "web", HPA_SNAPSHOT, "WrongKind", None),
        ("kind: Deployment", "db", HPA_SNAPSHOT, "WrongKind", None),
        ("kind: Node", "web", HPA_SNAPSHOT, "WrongKind", None),
        ("kind: Deployment", "ghost", HPA_SNAPSHOT, "TargetNotFound", None),
        ("kind: Deployment", "web", ClusterSnapshot(workloads=(WEB,)), "TargetNotFound", None),
        ("kind: Deployment", "web-extra", ClusterSnapshot(workloads=(WEB,), hpas=(SHARED,)),
         "Resolved", WEB.ref),
    ],
)  # fmt: skip
def test_an_hpa_alert_resolves_to_the_workload_the_hpa_scales(
    target: str, named: str, snapshot: ClusterSnapshot, code: str, resolved: object
) -> None:
    spec = spec_with("{type: alert, alertname: KubeHpaMaxedOut}", target)
    sig = signal("alert", "KubeHpaMaxedOut", hpa_ref(named))
    result = resolve_target(spec.target, sig, snapshot)
    assert (result.reason_code, result.target) == (code, resolved)
    assert str(hpa_ref(named)) in result.message


def test_an_hpa_the_snapshot_lacks_says_so_and_a_wrong_kind_names_the_scaled_workload() -> None:
    spec = spec_with("{type: alert, alertname: KubeHpaMaxedOut}")
    missing = resolve_target(spec.target, signal("alert", "A", hpa_ref("ghost")), HPA_SNAPSHOT)
    assert missing.message == (
        "HorizontalPodAutoscaler/shop/ghost is not in the cluster, or scales no Deployment, "
        "StatefulSet or Rollout that is"
    )
    wrong = resolve_target(spec.target, signal("alert", "A", hpa_ref("db")), HPA_SNAPSHOT)
    assert wrong.message == (
        "HorizontalPodAutoscaler/shop/db scales StatefulSet/shop/db, not a Deployment"
    )
    opted_in = spec_with(
        "{type: alert, alertname: KubeHpaMaxedOut}",
        "kind: Deployment, requireLabels: {autonomic.dev/enabled: 'true'}",
    )
    assert WEB.labels == OPT_IN and API.labels == {}
    held = resolve_target(opted_in.target, signal("alert", "A", hpa_ref("api")), HPA_SNAPSHOT)
    assert held.message == (
        "HorizontalPodAutoscaler/shop/api scales Deployment/shop/api: "
        "Deployment/shop/api lacks the opt-in label autonomic.dev/enabled=true"
    )


# kube-state-metrics' workload metrics carry no pod; a scrape that keeps the target's
# labels adds the exporter's own (kube-prometheus-stack's KubeDeploymentReplicasMismatch).
EXPORTER = ObjectRef("Pod", "kube-state-metrics-6d4f9", "shop")
STRAY_POD = pod("kube-state-metrics-6d4f9", deployment("kube-state-metrics"))


@pytest.mark.parametrize(
    ("target", "pod_ref", "labels", "snapshot", "code", "resolved"),
    [
        # The exporter's pod is not in the alert's namespace: the named Deployment.
        ("kind: Deployment", EXPORTER, {"deployment": "web"}, SNAPSHOT, "Resolved", WEB.ref),
        # ...nor when it is there, owned by another Deployment (the exporter's own).
        ("kind: Deployment", EXPORTER, {"deployment": "web"},
         ClusterSnapshot(workloads=(WEB,), pods=(WEB_POD, STRAY_POD)), "Resolved", WEB.ref),
        ("kind: StatefulSet", EXPORTER, {"deployment": "web"}, SNAPSHOT, "WrongKind", None),
        # A runbook on a Pod takes the pod only if it is one of the named workload's.
        ("kind: Pod", WEB_POD.ref, {"deployment": "web"}, SNAPSHOT, "Resolved", WEB_POD.ref),
        ("kind: Pod", EXPORTER, {"deployment": "web"}, SNAPSHOT, "TargetNotFound", None),
        ("kind: Pod", EXPORTER, {"deployment": "web"},
         ClusterSnapshot(workloads=(WEB,), pods=(WEB_POD, STRAY_POD)), "TargetNotFound", None),
        # Without a workload label the pod is resolved to its owner, as before.
        ("kind: Deployment", WEB_POD.ref, {}, SNAPSHOT, "Resolved", WEB.ref),
        ("kind: Deployment", EXPORTER, {}, SNAPSHOT, "TargetNotFound", None),
        # A Node runbook still reads the alert's node first.
        ("kind: Node", EXPORTER, {"deployment": "web", "node": "node-1"}, SNAPSHOT,
         "Resolved", ObjectRef("Node", "node-1")),
    ],
)  # fmt: skip
def test_an_alert_naming_a_workload_and_a_pod_is_about_the_workload(
    target: str,
    pod_ref: ObjectRef,
    labels: dict[str, str],
    snapshot: ClusterSnapshot,
    code: str,
    resolved: object,
) -> None:
    spec = spec_with("{type: alert, alertname: KubeDeploymentReplicasMismatch}", target)
    sig = signal(
        "alert",
        "KubeDeploymentReplicasMismatch",
        pod_ref,
        labels={"namespace": "shop", "pod": pod_ref.name, **labels},
    )
    result = resolve_target(spec.target, sig, snapshot)
    assert (result.reason_code, result.target) == (code, resolved)
    if code == "TargetNotFound" and labels:
        assert "kube-state-metrics" in result.message and "Deployment/shop/web" in result.message


@pytest.mark.parametrize(
    ("target", "said"),
    [
        (
            "kind: Deployment, namespaces: [prod]",
            "Deployment/shop/web is outside namespaces prod, the runbook's target.namespaces",
        ),
        (
            "kind: Deployment, excludeNamespaces: [shop]",
            "namespace shop is excluded by the runbook's target.excludeNamespaces",
        ),
        (
            "kind: Deployment, excludeNames: [web]",
            "Deployment/shop/web is excluded by the runbook's target.excludeNames",
        ),
    ],
)
def test_a_target_the_runbooks_selector_leaves_out_names_the_setting(
    target: str, said: str
) -> None:
    """ "namespace shop is excluded" did not say by what: the daemon's
    cluster.excludeNamespaces (NamespaceNotRead) or the runbook's own selector."""
    spec = spec_with("{type: alert, alertname: A}", target)
    result = resolve_target(spec.target, signal("alert", "A", WEB.ref), SNAPSHOT)
    assert result.message == said


def test_an_hpa_alert_is_not_target_not_found_while_the_hpa_may_be_unread() -> None:
    """An HPA the snapshot lacks is not taken for gone while it, or a workload of its
    namespace (left out with its HPA when that HPA could not be read), could not be read:
    ``ObjectUnread`` with the reader's reason. Nothing of its namespace left out, it is
    not in the cluster."""
    spec = spec_with("{type: alert, alertname: KubeHpaMaxedOut}")
    sig = signal("alert", "KubeHpaMaxedOut", hpa_ref("web"))
    bare = ClusterSnapshot(workloads=(API,))
    assert resolve_target(spec.target, sig, bare).reason_code == "TargetNotFound"
    why = "HorizontalPodAutoscaler shop/web: spec.maxReplicas is -1"
    itself = replace(bare, unread=(UnreadObject(hpa_ref("web"), why),))
    found = resolve_target(spec.target, sig, itself)
    assert (found.reason_code, found.target) == ("ObjectUnread", None)
    assert found.message.startswith(f"HorizontalPodAutoscaler/shop/web could not be read: {why}")
    elsewhere = UnreadObject(ObjectRef("Deployment", "web", "other"), "Deployment other/web: x")
    left_out = UnreadObject(WEB.ref, f"Deployment/shop/web: an HPA that may scale it ... ({why})")
    assert resolve_target(spec.target, sig, replace(bare, unread=(elsewhere,))).reason_code == (
        "TargetNotFound"
    )
    found = resolve_target(spec.target, sig, replace(bare, unread=(elsewhere, left_out)))
    assert found.reason_code == "ObjectUnread"
    assert found.message.startswith(
        "HorizontalPodAutoscaler/shop/web is not among the HPAs read, but Deployment/shop/web "
        f"could not be read ({left_out.why}): it may be one of their HPAs"
    )


@pytest.mark.parametrize(
    ("observed", "direction"),
    [
        (20.0, "up"),  # above the band
        (13.04, "up"),  # inside it, above the expected 10.99
        (9.0, "down"),  # inside it, below the expected
        (5.0, "down"),  # below the band
    ],
)
def test_an_anomaly_inside_its_band_has_the_direction_of_its_side_of_the_expected(
    observed: float, direction: str
) -> None:
    """An error ratio that shifts up by two standard deviations opens its incident on a
    point inside the band (a level shift the CUSUM confirmed: the detector's own numbers,
    expected 10.99, band 7.46 to 14.52). It went up: the shipped runbook that pauses a
    rollout on ``direction: up`` must take it, which it did not while every point not
    above the band was sent as ``down``."""
    sig = anomaly_signal(
        metric="http_error_ratio",
        target=ObjectRef("Deployment", "web", "shop"),
        observed=observed,
        lower=7.46,
        upper=14.52,
        score=0.9,
        confidence=0.9,
        at=NOW,
    )
    assert sig.direction == direction
    up = spec_with("{type: anomaly, metric: http_error_ratio, direction: up}").triggers[0]
    assert trigger_accepts(up, sig) is (direction == "up")
