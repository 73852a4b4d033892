"""Job targets: an alert about a Job (KubeJobFailed, KubeJobNotCompleted: label
``job_name``) starts notify-only runbooks on ``kind: Job``. Autonomic does not read
Jobs, so such a runbook selects by namespace and name, can take no action but
``notify``, and everything that would need more is refused at load, where the mistake
was written."""

from __future__ import annotations

import pytest

from remediation.alerts import alert_target
from remediation.loading import RunbookLoadError, load_text
from remediation.matching import resolve_target
from remediation.planning import Plan, plan
from remediation.ports import ObjectRef
from remediation.snapshot import ClusterSnapshot

from .builders import NOW, runbook, signal

DOC = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: job-failed
  description: tell the owners of a failed Job
spec:
  triggers:
    - type: alert
      alertname: KubeJobFailed
  target:
    kind: Job
    excludeNamespaces: [kube-system]
  actions:
    - type: notify
      message: "{{target}} failed ({{signal}})"
"""

FAILED = {"alertname": "KubeJobFailed", "namespace": "shop", "job_name": "report-29177885"}
JOB = ObjectRef("Job", "report-29177885", "shop")


def issues(text: str) -> list[str]:
    with pytest.raises(RunbookLoadError) as caught:
        load_text(text, "job.yaml")
    return [str(issue) for issue in caught.value.issues]


def test_a_notify_runbook_on_jobs_loads_and_plans_a_message() -> None:
    (loaded,) = load_text(DOC, "job.yaml")
    assert loaded.spec.target.kind == "Job"
    found = signal("alert", "KubeJobFailed", alert_target(FAILED), labels=FAILED)
    result = plan(loaded, found, _empty(), NOW)
    assert isinstance(result, Plan)
    assert result.target == JOB and result.changes == ()
    (note,) = result.notifications
    assert note.message.startswith("Job shop/report-29177885 failed (alert KubeJobFailed on ")


def _empty() -> ClusterSnapshot:
    return ClusterSnapshot()  # no Job in it: Autonomic does not read Jobs


@pytest.mark.parametrize(
    ("target", "code", "resolved"),
    [
        ("kind: Job", "Resolved", JOB),
        ("kind: Job, namespaces: [shop]", "Resolved", JOB),
        ("kind: Job, namespaces: [prod]", "NamespaceNotSelected", None),
        ("kind: Job, excludeNamespaces: [shop]", "NamespaceExcluded", None),
        ("kind: Job, excludeNames: [report-29177885]", "NameExcluded", None),
        # a runbook on another kind does not take a Job's alert
        ("kind: Deployment", "WrongKind", None),
    ],
)
def test_a_job_alert_is_selected_by_namespace_and_name(
    target: str, code: str, resolved: ObjectRef | None
) -> None:
    spec = runbook(
        f"""
        triggers: [{{type: alert, alertname: KubeJobFailed}}]
        target: {{{target}}}
        actions: [{{type: notify, message: hi}}]
        """
    ).spec
    found = signal("alert", "KubeJobFailed", alert_target(FAILED), labels=FAILED)
    result = resolve_target(spec.target, found, _empty())
    assert (result.reason_code, result.target) == (code, resolved)


def test_a_job_runbook_can_only_notify() -> None:
    text = DOC.replace(
        "    - type: notify\n",
        "    - type: rolloutRestart\n    - type: notify\n",
    )
    assert issues(text) == [
        "job.yaml:7: spec.verification: an action that changes the cluster needs "
        "'verification' (checks that tell whether it worked)",
        "job.yaml:14: spec.actions[0].type: action 'rolloutRestart' cannot act on a Job; "
        "it needs spec.target.kind Deployment or StatefulSet",
    ]


def test_labels_cannot_select_jobs() -> None:
    text = DOC.replace(
        "    excludeNamespaces: [kube-system]\n",
        "    excludeNamespaces: [kube-system]\n"
        '    requireLabels: {autonomic.dev/enabled: "true"}\n'
        '    excludeLabels: {autonomic.dev/exclude: "true"}\n',
    )
    assert issues(text) == [
        "job.yaml:13: spec.target.requireLabels: 'requireLabels' cannot be checked on a Job: "
        "Autonomic does not read Jobs, so not their labels; select Jobs by 'namespaces', "
        "'excludeNamespaces' and 'excludeNames'",
        "job.yaml:14: spec.target.excludeLabels: 'excludeLabels' cannot be checked on a Job: "
        "Autonomic does not read Jobs, so not their labels; select Jobs by 'namespaces', "
        "'excludeNamespaces' and 'excludeNames'",
    ]


def test_only_an_alert_names_a_job() -> None:
    text = DOC.replace(
        "    - type: alert\n      alertname: KubeJobFailed\n",
        "    - type: alert\n      alertname: KubeJobFailed\n"
        "    - type: kubernetes\n      condition: CrashLoopBackOff\n"
        "    - type: anomaly\n      metric: errors\n",
    )
    assert issues(text) == [
        "job.yaml:10: spec.triggers[1].type: a 'kubernetes' trigger never names a Job; only an "
        "alert does (by its 'job_name' label, e.g. KubeJobFailed): use an 'alert' trigger",
        "job.yaml:12: spec.triggers[2].type: a 'anomaly' trigger never names a Job; only an "
        "alert does (by its 'job_name' label, e.g. KubeJobFailed): use an 'alert' trigger",
    ]


def test_no_kubernetes_check_reads_a_job() -> None:
    text = (
        DOC
        + "  verification:\n    checks:\n      - type: kubernetes\n        condition: podsReady\n"
    )
    assert issues(text) == [
        "job.yaml:19: spec.verification.checks[0].condition: check 'podsReady' reads a "
        "workload and its pods, but spec.target.kind is Job, and no kubernetes check reads "
        "a Job: it would always be inconclusive; use a promql or alertResolved check"
    ]
    promql = DOC + ("  verification:\n    checks:\n      - type: alertResolved\n")
    (loaded,) = load_text(promql, "job.yaml")
    assert loaded.spec.verification is not None
