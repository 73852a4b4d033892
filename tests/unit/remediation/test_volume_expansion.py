"""PersistentVolumeClaims as a target and ``expandVolume``: loading, alert resolution,
planning (what a StorageClass allows, a resize under way, the maximum, rounding) and the
``volumeExpanded`` check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remediation.alerts import alert_target, parse_payload, to_signals
from remediation.loading import RunbookLoadError, load_paths, load_text
from remediation.matching import resolve_target
from remediation.planning import NoAction, Plan, plan
from remediation.ports import ExpandVolume, ObjectRef, VolumeClaimState
from remediation.schema import ExpandVolumeAction, Runbook
from remediation.signals import Signal
from remediation.snapshot import ClusterSnapshot
from remediation.verification import RenderedCheck, evaluate_kubernetes_check

from .builders import NOW, OPT_IN, node, runbook, signal

REPO = Path(__file__).resolve().parents[3]
SHIPPED = {r.name: r for r in load_paths([REPO / "runbooks"])}
CLAIM = ObjectRef("PersistentVolumeClaim", "data-db-0", "shop")
VERIFY = "verification: {checks: [{type: kubernetes, condition: volumeExpanded}]}"
# The labels kube-prometheus' KubePersistentVolumeFillingUp carries: the kubelet's volume
# metrics name the claim, and the node (and scrape target) that reports them.
FILLING_UP = {
    "alertname": "KubePersistentVolumeFillingUp",
    "severity": "critical",
    "namespace": "shop",
    "persistentvolumeclaim": "data-db-0",
    "node": "node-1",
    "instance": "10.0.0.11:10250",
    "job": "kubelet",
    "metrics_path": "/metrics",
    "service": "kube-prometheus-stack-kubelet",
    "endpoint": "https-metrics",
    "prometheus": "monitoring/kube-prometheus-stack-prometheus",
}


def claim(
    *,
    requested: str | None = "10Gi",
    capacity: str | None = None,
    storage_class: str | None = "fast",
    expandable: bool | None = True,
    phase: str = "Bound",
    conditions: dict[str, str] | None = None,
    resize_status: str | None = None,
    labels: dict[str, str] | None = None,
    ref: ObjectRef = CLAIM,
) -> VolumeClaimState:
    return VolumeClaimState(
        ref=ref,
        labels=OPT_IN if labels is None else labels,
        phase=phase,
        storage_class=storage_class,
        requested=requested,
        capacity=capacity if capacity is not None else requested,
        conditions=conditions or {},
        expandable=expandable,
        resize_status=resize_status,
    )


def expand_runbook(action: str = "factor: 1.5, max: 500Gi", target: str = "") -> Runbook:
    return runbook(
        f"""
        triggers: [{{type: alert, alertname: KubePersistentVolumeFillingUp}}]
        target: {{kind: PersistentVolumeClaim{target}}}
        actions: [{{type: expandVolume, {action}}}]
        {VERIFY}
        onFailure: {{undo: false}}
        """
    )


def alert(labels: dict[str, str] | None = None) -> Signal:
    chosen = FILLING_UP if labels is None else labels
    return signal("alert", "KubePersistentVolumeFillingUp", alert_target(chosen), labels=chosen)


def planned(result: Plan | NoAction) -> Plan:
    assert isinstance(result, Plan), result
    return result


def refused(result: Plan | NoAction) -> NoAction:
    assert isinstance(result, NoAction), result
    return result


def plan_for(state: VolumeClaimState, action: str = "factor: 1.5, max: 500Gi") -> Plan | NoAction:
    snapshot = ClusterSnapshot(claims=(state,), nodes=(node("node-1"),))
    return plan(expand_runbook(action), alert(), snapshot, NOW)


# ------------------------------------------------------------------------------ loading


def issues(text: str) -> list[str]:
    with pytest.raises(RunbookLoadError) as caught:
        load_text(text, "pvc.yaml")
    return [str(issue) for issue in caught.value.issues]


DOC = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: pvc
  description: grow volumes
spec:
  triggers:
    - type: alert
      alertname: KubePersistentVolumeFillingUp
  target:
    kind: PersistentVolumeClaim
  actions:
    - type: expandVolume
      factor: 1.5
      max: 500Gi
  verification:
    checks:
      - type: kubernetes
        condition: volumeExpanded
"""


def test_a_volume_runbook_loads_with_its_sizes() -> None:
    (loaded,) = load_text(DOC, "pvc.yaml")
    action = loaded.spec.actions[0]
    assert isinstance(action, ExpandVolumeAction)
    assert (action.factor, action.add, action.max) == (1.5, None, "500Gi")
    assert loaded.spec.target.kind == "PersistentVolumeClaim"


def test_expand_volume_without_max_is_refused_at_its_line() -> None:
    assert issues(DOC.replace("      max: 500Gi\n", "")) == [
        "pvc.yaml:13: spec.actions[0].max: required key is missing"
    ]


def test_expand_volume_needs_some_growth_and_sizes_that_are_volumes() -> None:
    assert issues(DOC.replace("      factor: 1.5\n", "")) == [
        "pvc.yaml:13: spec.actions[0]: give 'factor', 'add', or both (how much the volume grows)"
    ]
    assert issues(DOC.replace("max: 500Gi", "max: 500m")) == [
        "pvc.yaml:15: spec.actions[0].max: 'max' is 500m, less than 1Mi: write a volume size "
        "such as '500Gi'"
    ]
    assert issues(DOC.replace("factor: 1.5", "add: 0Gi")) == [
        "pvc.yaml:14: spec.actions[0].add: 'add' must be above 0"
    ]
    assert issues(DOC.replace("max: 500Gi", "max: lots")) == [
        "pvc.yaml:15: spec.actions[0].max: 'lots' is not a Kubernetes quantity; write e.g. "
        "'256Mi', '2Gi', '500m' or '1.5'"
    ]


def test_expand_volume_acts_only_on_a_claim_and_checks_read_the_claim() -> None:
    on_deployment = DOC.replace("kind: PersistentVolumeClaim", "kind: Deployment")
    assert issues(on_deployment) == [
        "pvc.yaml:13: spec.actions[0].type: action 'expandVolume' cannot act on a Deployment; "
        "it needs spec.target.kind PersistentVolumeClaim",
        "pvc.yaml:19: spec.verification.checks[0].condition: check 'volumeExpanded' reads a "
        "PersistentVolumeClaim, but spec.target.kind is Deployment: it would always be "
        "inconclusive, so the verification could never pass and every run would fail; use "
        "deploymentAvailable, rolloutComplete, podsReady, noCrashLoop, noImagePullBackOff, "
        "noOOMKilled or hpaNotMaxedOut",
    ]
    node_check = DOC.replace("condition: volumeExpanded", "condition: nodeReady")
    assert issues(node_check) == [
        "pvc.yaml:19: spec.verification.checks[0].condition: check 'nodeReady' reads a Node, "
        "but spec.target.kind is PersistentVolumeClaim: it would always be inconclusive, so "
        "the verification could never pass and every run would fail; use volumeExpanded"
    ]


def test_no_kubernetes_condition_starts_a_volume_runbook() -> None:
    text = DOC.replace(
        "    - type: alert\n      alertname: KubePersistentVolumeFillingUp\n",
        "    - type: kubernetes\n      condition: PodNotReady\n",
    )
    assert issues(text) == [
        "pvc.yaml:8: spec.triggers[0].type: condition PodNotReady is about a pod or workload; "
        "no kubernetes condition names a PersistentVolumeClaim: use an 'alert' trigger "
        "(e.g. KubePersistentVolumeFillingUp)"
    ]


def test_undo_written_on_a_volume_runbook_is_refused_and_left_to_its_default_loads() -> None:
    """A volume cannot shrink: 'undo: true' written on an expansion alone is refused at
    load (it was loaded, and the undo refused only when a verification failed). Left to
    its default, the runbook loads, with a note saying that nothing will be undone."""
    assert issues(DOC + "  onFailure:\n    undo: true\n") == [
        "pvc.yaml:21: spec.onFailure.undo: 'undo: true' could never undo anything, as "
        "nothing this runbook changes can be undone (expandVolume, actions[0]: a volume "
        "cannot shrink), so a failed verification would restore nothing; write "
        "'undo: false' (a failure is escalated to a person all the same)"
    ]
    (loaded,) = load_text(DOC, "pvc.yaml")
    assert loaded.spec.on_failure.undo is True
    (loaded,) = load_text(DOC + "  onFailure:\n    undo: false\n", "pvc.yaml")
    assert loaded.spec.on_failure.undo is False


# ----------------------------------------------------------------------- alert to claim


def test_an_alert_naming_a_claim_and_a_node_is_about_the_claim() -> None:
    assert alert_target(FILLING_UP) == CLAIM
    without_namespace = {k: v for k, v in FILLING_UP.items() if k != "namespace"}
    assert alert_target(without_namespace) == ObjectRef("Node", "node-1")
    with_pod = FILLING_UP | {"pod": "db-0"}
    assert alert_target(with_pod) == ObjectRef("Pod", "db-0", "shop")


def test_the_claim_is_resolved_from_its_label_and_selected_by_its_own_labels() -> None:
    snapshot = ClusterSnapshot(claims=(claim(),))
    rb = expand_runbook(target=', requireLabels: {autonomic.dev/enabled: "true"}')
    assert resolve_target(rb.spec.target, alert(), snapshot).target == CLAIM
    # an alert that also names the pod that mounts the volume still acts on the claim
    with_pod = alert(FILLING_UP | {"pod": "db-0"})
    assert resolve_target(rb.spec.target, with_pod, snapshot).target == CLAIM
    unlabelled = ClusterSnapshot(claims=(claim(labels={}),))
    missing = resolve_target(rb.spec.target, alert(), unlabelled)
    assert (missing.target, missing.reason_code) == (None, "NotOptedIn")
    gone = resolve_target(rb.spec.target, alert(), ClusterSnapshot())
    assert (gone.target, gone.reason_code) == (None, "TargetNotFound")


def test_namespaces_scope_volume_runbooks_like_every_namespaced_kind() -> None:
    snapshot = ClusterSnapshot(claims=(claim(),))
    outside = expand_runbook(target=", namespaces: [payments]")
    result = resolve_target(outside.spec.target, alert(), snapshot)
    assert result.reason_code == "NamespaceNotSelected"
    excluded = expand_runbook(target=", excludeNamespaces: [shop]")
    result = resolve_target(excluded.spec.target, alert(), snapshot)
    assert result.reason_code == "NamespaceExcluded"
    by_name = expand_runbook(target=", excludeNames: [data-db-0]")
    result = resolve_target(by_name.spec.target, alert(), snapshot)
    assert result.reason_code == "NameExcluded"


def test_a_node_runbook_still_takes_the_node_of_a_volume_alert() -> None:
    rb = runbook(
        """
        triggers: [{type: alert, alertname: KubePersistentVolumeFillingUp}]
        target: {kind: Node}
        actions: [{type: cordon}]
        verification: {checks: [{type: kubernetes, condition: nodeCordoned}]}
        """
    )
    snapshot = ClusterSnapshot(claims=(claim(),), nodes=(node("node-1"),))
    assert resolve_target(rb.spec.target, alert(), snapshot).target == ObjectRef("Node", "node-1")


# ---------------------------------------------------------------------------- planning


def test_an_expandable_claim_is_planned_with_a_readable_diff() -> None:
    result = planned(plan_for(claim()))
    assert result.operations == (ExpandVolume(CLAIM, "15Gi", expected="10Gi"),)
    assert result.diff == (
        "PersistentVolumeClaim shop/data-db-0: storage 10Gi -> 15Gi (x1.5, max 500Gi; "
        "StorageClass fast; a volume cannot shrink, so there is no undo)"
    )
    assert result.target == CLAIM and result.undo_on_failure is False
    assert result.blast.targets == 1 and result.blast.healthy_fraction_after == 1.0
    assert result.verification is not None
    (check,) = result.verification.checks
    assert (check.condition_name, check.target, check.value) == ("volumeExpanded", CLAIM, "15Gi")


@pytest.mark.parametrize(
    ("state", "code", "words"),
    [
        (claim(expandable=False), "ExpansionNotAllowed", "does not set allowVolumeExpansion"),
        (claim(expandable=None), "StorageClassUnknown", "StorageClass fast"),
        (claim(storage_class=None, expandable=None), "NoStorageClass", "names no StorageClass"),
        (claim(phase="Pending", capacity=None), "ClaimNotBound", "is Pending, not Bound"),
        (claim(conditions={"Resizing": "True"}), "ResizeInProgress", "Resizing is True"),
        (
            claim(conditions={"FileSystemResizePending": "True"}),
            "ResizeInProgress",
            "FileSystemResizePending is True",
        ),
        (claim(capacity="10Gi", requested="15Gi"), "ResizeInProgress", "asks for 15Gi but has"),
        (
            claim(resize_status="ControllerResizeInfeasible"),
            "ResizeInProgress",
            "ControllerResizeInfeasible",
        ),
        (
            claim(requested="500Gi"),
            "AtMaximum",
            "already has 500Gi; the runbook allows x1.5, max 500Gi: not expanded further; "
            "free space on it, or raise the max of the runbook's expandVolume action if it "
            "may grow",
        ),
        (claim(requested="600Gi"), "AtMaximum", "already has 600Gi"),
    ],
)
def test_planning_refuses_with_a_reason(state: VolumeClaimState, code: str, words: str) -> None:
    result = refused(plan_for(state))
    assert result.reason_code == code
    assert words in result.message


def test_growth_stops_at_the_maximum() -> None:
    result = planned(plan_for(claim(requested="400Gi")))
    assert result.operations == (ExpandVolume(CLAIM, "500Gi", expected="400Gi"),)
    assert "storage 400Gi -> 500Gi (x1.5, max 500Gi;" in result.diff
    # a maximum written in decimal units is asked for as written
    decimal = planned(plan_for(claim(requested="400Gi"), "factor: 1.5, max: 450G"))
    assert decimal.operations == (ExpandVolume(CLAIM, "450G", expected="400Gi"),)


@pytest.mark.parametrize(
    ("requested", "action", "size"),
    [
        ("7Gi", "factor: 1.5, max: 500Gi", "11Gi"),  # 10.5Gi: up to a whole Gi
        ("10Gi", "factor: 1.1, max: 500Gi", "11Gi"),  # exactly 11Gi, no float error
        ("100Mi", "factor: 1.5, max: 500Gi", "150Mi"),  # below 1Gi: whole Mi
        ("333Mi", "factor: 1.5, max: 500Gi", "500Mi"),  # 499.5Mi
        ("800Mi", "factor: 1.5, max: 500Gi", "2Gi"),  # 1200Mi is above 1Gi
        ("10G", "factor: 1.5, max: 500Gi", "14Gi"),  # 15e9 bytes is 13.97Gi
        ("10Gi", "add: 5Gi, max: 500Gi", "15Gi"),
        ("10Gi", "factor: 1.5, add: 20Gi, max: 500Gi", "30Gi"),  # the larger growth
        ("100Gi", "factor: 1.5, add: 20Gi, max: 500Gi", "150Gi"),
    ],
)
def test_the_planned_size_is_rounded_up_sensibly(requested: str, action: str, size: str) -> None:
    result = planned(plan_for(claim(requested=requested), action))
    assert result.operations == (ExpandVolume(CLAIM, size, expected=requested),)


def test_growth_starts_from_the_capacity_when_the_volume_got_more_than_asked() -> None:
    result = planned(plan_for(claim(requested="10Gi", capacity="12Gi")))
    assert result.operations == (ExpandVolume(CLAIM, "18Gi", expected="10Gi"),)
    assert "storage 10Gi (has 12Gi) -> 18Gi" in result.diff


# ------------------------------------------------------------------------ verification


def test_volume_expanded_passes_once_the_capacity_reaches_the_size_asked_for() -> None:
    check = RenderedCheck("kubernetes", CLAIM, condition_name="volumeExpanded", value="15Gi")

    def judge(state: VolumeClaimState | None) -> tuple[str, str]:
        snapshot = ClusterSnapshot(claims=(state,) if state else ())
        result = evaluate_kubernetes_check(check, snapshot)
        return result.outcome, result.message

    # the claim asks for 15Gi already; the volume has grown, its filesystem not yet
    pending = claim(
        requested="15Gi", capacity="10Gi", conditions={"FileSystemResizePending": "True"}
    )
    assert judge(pending) == ("fail", "capacity 10Gi, asked for 15Gi; FileSystemResizePending")
    assert judge(claim(requested="15Gi", capacity="15Gi")) == (
        "pass",
        "capacity 15Gi (asked for 15Gi)",
    )
    assert judge(claim(requested="15Gi", capacity="16106127360")) == (
        "pass",
        "capacity 16106127360 (asked for 15Gi)",
    )
    assert judge(None)[0] == "inconclusive"
    # the size the plan asked for, not what the claim says when read: before the write
    # shows in the cache the claim still asks for (and has) 10Gi
    assert judge(claim(requested="10Gi"))[0] == "fail"


# ----------------------------------------------------------------- the shipped runbook


def test_the_shipped_runbook_asks_before_growing_a_filling_volume() -> None:
    shipped = SHIPPED["pvc-filling-up-expand"]
    spec = shipped.spec
    (action,) = spec.actions
    assert isinstance(action, ExpandVolumeAction)
    assert (action.factor, action.max) == (1.5, "500Gi")
    assert spec.max_autonomy == "ask" and spec.mode == "enforce"
    assert spec.on_failure.undo is False
    assert spec.guards.cooldown_per_target == 6 * 3600


def test_the_shipped_runbooks_example_alert_resolves_and_plans() -> None:
    """A KubePersistentVolumeFillingUp as Alertmanager posts it, through the webhook's
    parsing, to a plan on the claim it names."""
    body = json.dumps(
        {
            "version": "4",
            "groupKey": '{}:{alertname="KubePersistentVolumeFillingUp"}',
            "status": "firing",
            "receiver": "autonomic",
            "alerts": [
                {
                    "status": "firing",
                    "labels": FILLING_UP,
                    "annotations": {
                        "summary": "PersistentVolume is filling up.",
                        "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/"
                        "kubernetes/kubepersistentvolumefillingup",
                    },
                    "startsAt": "2026-11-19T10:00:00Z",
                    "fingerprint": "4b1d",
                }
            ],
        }
    )
    (found,) = to_signals(parse_payload(body), NOW)
    assert found.target == CLAIM
    snapshot = ClusterSnapshot(claims=(claim(),), nodes=(node("node-1"),))
    result = planned(plan(SHIPPED["pvc-filling-up-expand"], found, snapshot, NOW))
    assert result.diff.startswith("PersistentVolumeClaim shop/data-db-0: storage 10Gi -> 15Gi")
    assert result.max_autonomy == "ask"
    assert result.verification is not None
    kinds = [c.kind for c in result.verification.checks]
    assert kinds == ["kubernetes", "promql"]
    query = result.verification.checks[1].query or ""
    assert 'persistentvolumeclaim="data-db-0"' in query and 'namespace="shop"' in query
    # an unlabelled claim is not the runbook's to touch
    bare = ClusterSnapshot(claims=(claim(labels={}),))
    assert refused(plan(SHIPPED["pvc-filling-up-expand"], found, bare, NOW)).reason_code == (
        "NotOptedIn"
    )
