"""An alert about an object in a namespace the daemon does not read
(``cluster.excludeNamespaces``, or outside ``cluster.namespaces``) was held back as
``TargetNotFound: ... is not in the cluster``: false, and it sent the on-call looking for
a pod that is there. Through the real adapter and the fake API server, it now says which
setting leaves the namespace out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from tests.fakekube.seed import seed_deployment, seed_hpa
from tests.integration.remediation.rig import build_rig, rfc3339

RUNBOOK = "hpa-maxed-out-notify"


def _maxed_out(now: float, namespace: str) -> Any:
    return {
        "status": "firing",
        "labels": {
            "alertname": "KubeHpaMaxedOut",
            "severity": "warning",
            "namespace": namespace,
            "horizontalpodautoscaler": "coredns",
        },
        "startsAt": rfc3339(now - 900),
        "fingerprint": f"fp-{namespace}",
    }


def test_an_alert_in_an_excluded_namespace_names_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = build_rig(tmp_path, exclude_namespaces=("kube-system",))
    try:
        labels = {"autonomic.dev/enabled": "true"}
        seed_deployment(rig.server.store, "coredns", namespace="kube-system", labels=labels)
        seed_hpa(rig.server.store, "coredns", target="coredns", namespace="kube-system")
        assert rig.post_alerts([_maxed_out(rig.clock.now(), "kube-system")]) == 200
        handled = [h for h in rig.cycle() if h.runbook == RUNBOOK]
        assert [(h.outcome, h.reason_code) for h in handled] == [("no-match", "NamespaceNotRead")]
        assert handled[0].message == (
            "HorizontalPodAutoscaler/kube-system/coredns is in a namespace Autonomic does "
            "not read: cluster.excludeNamespaces lists namespace kube-system; no runbook acts "
            "there (change the setting to let them)"
        )
        capsys.readouterr()
        ledger = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        assert main(["why", "hpa/kube-system/coredns", "--ledger", ledger]) == 0
        out = capsys.readouterr().out
        assert f"{RUNBOOK}  no-match NamespaceNotRead" in out
        assert "not in the cluster" not in out
    finally:
        rig.close()


def test_a_missing_object_in_a_namespace_that_is_read_is_still_not_found(
    tmp_path: Path,
) -> None:
    rig = build_rig(tmp_path, exclude_namespaces=("kube-system",))
    try:
        assert rig.post_alerts([_maxed_out(rig.clock.now(), "shop")]) == 200
        handled = [h for h in rig.cycle() if h.runbook == RUNBOOK]
        assert [h.reason_code for h in handled] == ["TargetNotFound"]
    finally:
        rig.close()


JOB_RUNBOOK = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: job-failed
  description: tell the owners of a failed Job
spec:
  mode: enforce
  maxAutonomy: auto
  triggers:
    - type: alert
      alertname: KubeJobFailed
  target:
    kind: Job
  actions:
    - type: notify
      message: "{{target}} failed: kubectl -n {{namespace}} describe job {{name}}"
"""


def _job_failed(now: float, namespace: str) -> Any:
    return {
        "status": "firing",
        "labels": {
            "alertname": "KubeJobFailed",
            "severity": "warning",
            "namespace": namespace,
            "job_name": "backup-29177885",
        },
        "startsAt": rfc3339(now - 900),
        "fingerprint": f"job-{namespace}",
    }


def test_a_job_in_a_namespace_not_read_starts_no_runbook(tmp_path: Path) -> None:
    """Autonomic does not read Jobs, so a Job runbook's target was matched from the
    alert's labels alone, and one in a namespace cluster.excludeNamespaces leaves out
    was decided on (a message about kube-system's Jobs) as in any other: the daemon's
    exclusion held for every kind but this one."""
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "job-failed.yaml").write_text(JOB_RUNBOOK)
    rig = build_rig(tmp_path, runbooks=(folder,), exclude_namespaces=("kube-system",))
    try:
        now = rig.clock.now()
        alerts = [_job_failed(now, "kube-system"), _job_failed(now, "shop")]
        assert rig.post_alerts(alerts) == 200
        handled = sorted(rig.cycle(), key=lambda h: h.signal)
        # a new runbook asks first (its route does not matter here): the one in shop is
        # decided, the one in kube-system is not
        assert [(h.subject, h.outcome, h.reason_code) for h in handled] == [
            ("Job/kube-system/backup-29177885", "no-match", "NamespaceNotRead"),
            ("Job/shop/backup-29177885", "decided", "NeedsApproval"),
        ], handled
        assert handled[0].message == (
            "Job/kube-system/backup-29177885 is in a namespace Autonomic does not read: "
            "cluster.excludeNamespaces lists namespace kube-system; no runbook acts there "
            "(change the setting to let them)"
        )
    finally:
        rig.close()
