"""An HPA's alert reaches the runbooks on the workload the HPA scales.

``KubeHpaMaxedOut`` names a HorizontalPodAutoscaler (labels ``horizontalpodautoscaler``
and ``namespace``), not a workload; it used to start no runbook at all ("names no
object"). Here it goes through the Alertmanager webhook, the real engine and the
Kubernetes adapter against the fake API server, the HPA is read through the same port the
scaling loop reads HPAs with, and the shipped ``hpa-maxed-out-notify`` takes the
Deployment the HPA scales. An HPA whose workload is not opted in, an HPA that does not
exist and an HPA whose workload does not exist each give a reason, never a crash."""

from __future__ import annotations

from typing import Any

from tests.fakekube.seed import seed_deployment, seed_hpa
from tests.integration.remediation.rig import KubeRig, rfc3339, seed_web

RUNBOOK = "hpa-maxed-out-notify"


def maxed_out(rig: KubeRig, hpa: str, *, fingerprint: str = "4a1") -> Any:
    """The alert as kube-prometheus-stack raises it from kube-state-metrics: the scrape
    adds the exporter's own pod, container and service."""
    return {
        "status": "firing",
        "labels": {
            "alertname": "KubeHpaMaxedOut",
            "severity": "warning",
            "namespace": "shop",
            "horizontalpodautoscaler": hpa,
            "job": "kube-state-metrics",
            "pod": "kube-prometheus-stack-kube-state-metrics-5cc5cc8bf4-stll4",
            "container": "kube-state-metrics",
            "endpoint": "http",
            "instance": "10.42.6.68:8080",
            "service": "kube-prometheus-stack-kube-state-metrics",
        },
        "annotations": {
            "description": f"HPA shop/{hpa} has been running at max replicas for longer "
            "than 15 minutes."
        },
        "startsAt": rfc3339(rig.clock.now() - 900),
        "fingerprint": fingerprint,
    }


def test_an_hpa_alert_reaches_the_runbook_on_the_deployment_the_hpa_scales(
    rig: KubeRig,
) -> None:
    seed_web(rig)  # Deployment shop/web, opted in
    # named otherwise than its Deployment, so the target is the HPA's scaleTargetRef
    seed_hpa(rig.server.store, "web-autoscaler", target="web", namespace="shop", max_replicas=3)
    alert = maxed_out(rig, "web-autoscaler")
    assert rig.post_alerts([alert]) == 200
    (handled,) = rig.cycle()
    # a new runbook has no record yet: like any other, it asks before it acts
    assert (handled.runbook, handled.outcome, handled.route) == (RUNBOOK, "decided", "ask")
    (decision,) = rig.decisions_of(RUNBOOK)
    assert decision.subject == "Deployment/shop/web"
    assert rig.channel.asked == [decision.id]
    assert decision.reason.startswith(
        "alert KubeHpaMaxedOut on HorizontalPodAutoscaler/shop/web-autoscaler"
    )
    assert decision.evidence["signal"]["annotations"]["description"].startswith(
        "HPA shop/web-autoscaler has been running at max replicas"
    )
    assert decision.proposal["diff"] == []  # notify only
    (note,) = decision.proposal["notifications"]
    assert note.startswith(
        "The HPA of Deployment shop/web has been at its maxReplicas for 15 minutes "
        "(alert KubeHpaMaxedOut on HorizontalPodAutoscaler/shop/web-autoscaler"
    )
    assert rig.approve_pending() == 1
    rig.run(60)
    assert note in [text for _question, text in rig.channel.threads]
    assert rig.writes() == []  # nothing in the cluster changed

    # Alertmanager sends the same alert again: the same incident, not a second message
    assert rig.post_alerts([alert]) == 200
    rig.run(60)
    assert [d.id for d in rig.decisions_of(RUNBOOK)] == [decision.id]


def test_hpa_alerts_the_runbook_cannot_take_say_why(rig: KubeRig) -> None:
    # an HPA on a Deployment that is not opted in
    seed_deployment(rig.server.store, "api", namespace="shop", replicas=2, labels={})
    seed_hpa(rig.server.store, "api", target="api", namespace="shop")
    # an HPA whose Deployment does not exist (deleted, or a typo in scaleTargetRef)
    seed_hpa(rig.server.store, "orphan", target="gone", namespace="shop")
    alerts = [
        maxed_out(rig, "api", fingerprint="a1"),
        maxed_out(rig, "orphan", fingerprint="a2"),
        maxed_out(rig, "ghost", fingerprint="a3"),  # no such HPA
    ]
    assert rig.post_alerts(alerts) == 200
    handled = rig.cycle()
    assert {(h.runbook, h.outcome) for h in handled} == {(RUNBOOK, "no-match")}
    reasons = sorted((h.reason_code, h.message) for h in handled)
    assert reasons == [
        (
            "NotOptedIn",
            "HorizontalPodAutoscaler/shop/api scales Deployment/shop/api: "
            "Deployment/shop/api lacks the opt-in label autonomic.dev/enabled=true",
        ),
        (
            "TargetNotFound",
            "HorizontalPodAutoscaler/shop/ghost is not in the cluster, or scales no "
            "Deployment, StatefulSet or Rollout that is",
        ),
        (
            "TargetNotFound",
            "HorizontalPodAutoscaler/shop/orphan is not in the cluster, or scales no "
            "Deployment, StatefulSet or Rollout that is",
        ),
    ]
    assert rig.decisions_of(RUNBOOK) == []
    assert rig.writes() == []
    # `autonomic why hpa/shop/api` finds it under the HPA the alert named
    (held,) = rig.ledger.held_back(subject="HorizontalPodAutoscaler/shop/api")
    assert (held.runbook, held.reason_code, held.outcome) == (RUNBOOK, "NotOptedIn", "no-match")
