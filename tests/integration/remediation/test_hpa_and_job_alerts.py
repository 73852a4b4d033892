"""An HPA's alert reaches the runbooks on the workload the HPA scales; a Job's reaches
notify-only runbooks on Jobs.

``KubeHpaMaxedOut`` names a HorizontalPodAutoscaler (labels ``horizontalpodautoscaler``
and ``namespace``), not a workload; it used to start no runbook at all ("names no
object"). Here it goes through the Alertmanager webhook, the real engine and the
Kubernetes adapter against the fake API server, the HPA is read through the same port the
scaling loop reads HPAs with, and the shipped ``hpa-maxed-out-notify`` takes the
Deployment the HPA scales. An HPA whose workload is not opted in, an HPA that does not
exist and an HPA whose workload does not exist each give a reason, never a crash.

``KubeJobFailed`` names a Job by ``job_name``; a runbook on ``kind: Job`` tells a person,
reading nothing from the cluster about the Job and writing nothing to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from tests.fakekube.seed import seed_deployment, seed_hpa
from tests.integration.remediation.rig import KubeRig, build_rig, rfc3339, seed_web

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


def test_hpa_alerts_the_runbook_cannot_take_say_why(
    rig: KubeRig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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
    # (hpa-maxed-out-raise, which needs a second label, is held back there too)
    held_back = rig.ledger.held_back(subject="HorizontalPodAutoscaler/shop/api")
    assert {(h.runbook, h.reason_code, h.outcome) for h in held_back} == {
        (RUNBOOK, "NotOptedIn", "no-match"),
        ("hpa-maxed-out-raise", "NotOptedIn", "no-match"),
    }
    capsys.readouterr()
    assert main(["why", "hpa/shop/api", "--ledger", f"sqlite:///{tmp_path / 'ledger.sqlite'}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Held back for HorizontalPodAutoscaler/shop/api, newest first:"
    assert any(
        f"HorizontalPodAutoscaler/shop/api  {RUNBOOK}  no-match NotOptedIn" in line
        for line in lines[1:3]
    )


JOB_NOTIFY = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: job-failed-notify
  description: Tell the owners of a Job that failed.
spec:
  mode: enforce
  triggers:
    - type: alert
      alertname: KubeJobFailed
  target:
    kind: Job
    excludeNamespaces: [kube-system]
  actions:
    - type: notify
      severity: warning
      message: "{{target}} failed: kubectl -n {{namespace}} describe job {{name}}"
"""


def job_failed(rig: KubeRig, namespace: str, job: str, fingerprint: str) -> Any:
    """As kube-prometheus-stack raises it: 'job' is the scrape job, 'pod' the exporter's."""
    return {
        "status": "firing",
        "labels": {
            "alertname": "KubeJobFailed",
            "severity": "warning",
            "condition": "true",
            "namespace": namespace,
            "job_name": job,
            "job": "kube-state-metrics",
            "pod": "kube-prometheus-stack-kube-state-metrics-5cc5cc8bf4-stll4",
            "container": "kube-state-metrics",
        },
        "annotations": {"description": f"Job {namespace}/{job} failed to complete."},
        "startsAt": rfc3339(rig.clock.now() - 120),
        "fingerprint": fingerprint,
    }


def test_a_job_alert_reaches_a_notify_runbook_on_jobs(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "job.yaml").write_text(JOB_NOTIFY)
    rig = build_rig(tmp_path, runbooks=[folder])
    try:
        alerts = [
            job_failed(rig, "shop", "report-29177885", "j1"),
            job_failed(rig, "kube-system", "upgrade-abc12", "j2"),
        ]
        assert rig.post_alerts(alerts) == 200
        decided, excluded = sorted(rig.cycle(), key=lambda h: h.outcome)
        assert (decided.runbook, decided.outcome, decided.route) == (
            "job-failed-notify",
            "decided",
            "ask",  # a new runbook asks first, as any other
        )
        assert (excluded.outcome, excluded.reason_code) == ("no-match", "NamespaceExcluded")
        (decision,) = rig.decisions_of("job-failed-notify")
        assert decision.subject == "Job/shop/report-29177885"
        assert decision.proposal["notifications"] == [
            "Job shop/report-29177885 failed: kubectl -n shop describe job report-29177885"
        ]
        assert rig.approve_pending() == 1
        rig.run(60)
        after = rig.ledger.get_decision(decision.id)
        assert after is not None and after.status == "done"
        assert decision.proposal["notifications"][0] in [t for _q, t in rig.channel.threads]
        # nothing about the Job was read from the API server, nothing written to it
        assert not [r for r in rig.requests() if r.resource == "jobs"]
        assert rig.writes() == []
    finally:
        rig.close()
