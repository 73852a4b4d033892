"""Verification: success needs consecutive passing rounds; inconclusive is failure."""

from __future__ import annotations

from dataclasses import replace

import pytest

from remediation._types import parse_comparison
from remediation.ports import ObjectRef
from remediation.snapshot import ClusterSnapshot, FiringAlert
from remediation.verification import (
    CheckResult,
    RenderedCheck,
    VerificationPlan,
    advance,
    evaluate_alert_resolved,
    evaluate_kubernetes_check,
    evaluate_promql_check,
    start_verification,
)

from .builders import NOW, deployment, node, pod

WEB = deployment(replicas=2)
PROMQL = RenderedCheck("promql", WEB.ref, query="errors", condition=parse_comparison("< 0.05"))
PLAN = VerificationPlan(settle=60, window=300, interval=30, passes_required=2, checks=(PROMQL,))


def result(outcome: str) -> CheckResult:
    return CheckResult(PROMQL, outcome, f"check {outcome}")  # type: ignore[arg-type]


def test_promql_outcomes() -> None:
    assert evaluate_promql_check(PROMQL, 0.01).outcome == "pass"
    assert evaluate_promql_check(PROMQL, 0.2).outcome == "fail"
    assert evaluate_promql_check(PROMQL, None).outcome == "inconclusive"
    assert evaluate_promql_check(PROMQL, float("nan")).outcome == "inconclusive"


def test_kubernetes_checks() -> None:
    crash = pod("web-1", WEB, ready=False, waiting="CrashLoopBackOff")
    healthy = ClusterSnapshot((WEB,), (pod("web-1", WEB), pod("web-2", WEB)))
    broken = ClusterSnapshot((deployment(replicas=2, ready=1),), (crash, pod("web-2", WEB)))
    for name, good, bad in [
        ("podsReady", "pass", "fail"),
        ("noCrashLoop", "pass", "fail"),
        ("deploymentAvailable", "pass", "fail"),
    ]:
        check = RenderedCheck("kubernetes", WEB.ref, condition_name=name)
        assert evaluate_kubernetes_check(check, healthy).outcome == good
        assert evaluate_kubernetes_check(check, broken).outcome == bad
    gone = RenderedCheck(
        "kubernetes", ObjectRef("Deployment", "x", "shop"), condition_name="podsReady"
    )
    assert evaluate_kubernetes_check(gone, healthy).outcome == "inconclusive"
    drained = RenderedCheck("kubernetes", ObjectRef("Node", "n1"), condition_name="nodeDrained")
    assert (
        evaluate_kubernetes_check(
            drained, ClusterSnapshot(nodes=(node("n1", unschedulable=True),))
        ).outcome
        == "pass"
    )
    assert (
        evaluate_kubernetes_check(
            drained,
            ClusterSnapshot(
                pods=(pod("p", WEB, node="n1"),), nodes=(node("n1", unschedulable=True),)
            ),
        ).outcome
        == "fail"
    )


@pytest.mark.parametrize("condition", ["deploymentAvailable", "rolloutComplete"])
def test_a_workload_check_waits_for_the_controller_to_see_the_write(condition: str) -> None:
    """Right after a write (generation 3) the status still describes generation 2, whose
    replicas were all available: that says nothing of the change, so no pass yet, and
    no fail either (``rolloutComplete`` said "fail: rollout at revision 1", as if the
    rollout had gone wrong, when nothing was yet known of it)."""
    check = RenderedCheck("kubernetes", WEB.ref, condition_name=condition)
    written = deployment(replicas=2, generation=3, observed_generation=2)
    result = evaluate_kubernetes_check(check, ClusterSnapshot((written,)))
    assert result.outcome == "inconclusive"
    assert result.message == (
        "the controller has not yet observed generation 3 of Deployment/shop/web (its status "
        "describes generation 2)"
    )
    observed = replace(written, observed_generation=3)
    assert evaluate_kubernetes_check(check, ClusterSnapshot((observed,))).outcome == "pass"


def test_alert_resolved() -> None:
    check = RenderedCheck("alertResolved", WEB.ref, fingerprint="f1")
    firing = ClusterSnapshot(alerts=(FiringAlert("A", {}, "f1", NOW),))
    assert evaluate_alert_resolved(check, firing).outcome == "fail"
    assert evaluate_alert_resolved(check, ClusterSnapshot()).outcome == "pass"


def test_success_needs_consecutive_passes_after_settling() -> None:
    progress = start_verification(PLAN, NOW)
    progress = advance(progress, [result("pass")], NOW + 30)  # still settling: ignored
    assert progress.status == "settling" and progress.rounds == 0
    progress = advance(progress, [result("pass")], NOW + 60)
    assert progress.status == "checking" and progress.consecutive_passes == 1
    progress = advance(progress, [result("fail")], NOW + 90)
    assert progress.consecutive_passes == 0
    progress = advance(progress, [result("pass")], NOW + 120)
    progress = advance(progress, [result("pass")], NOW + 150)
    assert progress.status == "succeeded" and progress.reason_code == "Verified"
    assert advance(progress, [result("fail")], NOW + 180) is progress  # done stays done


def test_inconclusive_until_deadline_is_failure() -> None:
    progress = start_verification(PLAN, NOW)
    for step in range(2, 13):
        progress = advance(progress, [result("inconclusive")], NOW + 30 * step)
    assert progress.status == "failed"
    assert progress.reason_code == "VerificationInconclusive"


def test_failing_check_at_deadline_names_it() -> None:
    progress = start_verification(PLAN, NOW)
    progress = advance(progress, [result("pass"), result("fail")], NOW + 360)
    assert progress.status == "failed" and progress.reason_code == "VerificationFailed"
    assert "check fail" in progress.message


def test_no_rounds_at_all_fails_at_deadline() -> None:
    progress = advance(start_verification(PLAN, NOW), [], NOW + 361)
    assert progress.status == "failed" and progress.reason_code == "VerificationInconclusive"


def test_alert_resolved_names_the_alert() -> None:
    """People read the check: the alert's name, with the fingerprint it follows; a check
    recorded before the name was kept still reads as it did."""
    named = RenderedCheck("alertResolved", WEB.ref, fingerprint="f1", alertname="HighLatency")
    assert named.describe() == "alert HighLatency resolved (fingerprint f1)"
    assert RenderedCheck("alertResolved", WEB.ref, fingerprint="f1").describe() == (
        "alert f1 resolved"
    )


def test_alert_resolved_keeps_its_name_across_a_restart() -> None:
    from agent.remediation_engine import _check, _check_dict

    named = RenderedCheck("alertResolved", WEB.ref, fingerprint="f1", alertname="HighLatency")
    assert _check(_check_dict(named)) == named
    older = _check_dict(named)
    del older["alertname"]  # a proposal stored before the name was kept
    assert _check(older).describe() == "alert f1 resolved"


def test_node_drained_fails_while_a_statefulset_pod_is_stuck_terminating_on_a_notready_node() -> (
    None
):
    """Evicted from a NotReady node, db-0 stays Terminating (no kubelet confirms it), and
    its StatefulSet starts no second db-0: the workload has not moved, so the check fails
    and says what a person must do, which the escalation carries. A Deployment's
    terminating pod is replaced elsewhere and does not count."""
    db = ObjectRef("StatefulSet", "db", "shop")
    stuck = replace(pod("db-0", WEB, node="n1", deleting=True), owner=db)
    leaving = pod("web-1", WEB, node="n1", deleting=True)
    drained = RenderedCheck("kubernetes", ObjectRef("Node", "n1"), condition_name="nodeDrained")
    down = node("n1", ready=False, unschedulable=True)
    result = evaluate_kubernetes_check(
        drained, ClusterSnapshot(pods=(stuck, leaving), nodes=(down,))
    )
    assert result.outcome == "fail"
    assert result.message == (
        "0 pods left on the node; StatefulSet pod shop/db-0 (StatefulSet db) will not be "
        "replaced until node n1 is deleted or tainted out-of-service: the node is NotReady, "
        "so its kubelet cannot confirm the pod stopped, and a StatefulSet never starts a "
        "second pod of the same name; once the machine is known to be off, delete the Node "
        "or run kubectl taint nodes n1 node.kubernetes.io/out-of-service=nodeshutdown:NoExecute"
    )
    only_web = ClusterSnapshot(pods=(leaving,), nodes=(down,))
    assert evaluate_kubernetes_check(drained, only_web).outcome == "pass"
    up = node("n1", unschedulable=True)
    assert evaluate_kubernetes_check(
        drained, ClusterSnapshot(pods=(stuck,), nodes=(up,))
    ).outcome == ("pass")
