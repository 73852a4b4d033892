"""An object that exists but could not be read (``ClusterSnapshot.unread``) is not one
that is gone: a verification that would pass on its absence stays undecided, and a
condition is not over because its pod could not be read."""

from __future__ import annotations

from dataclasses import replace

import pytest

from remediation.ports import ObjectRef, UnreadObject
from remediation.recovery import Recovery, condition_over
from remediation.snapshot import ClusterSnapshot
from remediation.verification import (
    RenderedCheck,
    VerificationPlan,
    advance,
    evaluate_kubernetes_check,
    start_verification,
)

from .builders import NOW, deployment, node, pod

WEB = deployment(replicas=2)
N1 = ObjectRef("Node", "n1")
DRAINED = RenderedCheck("kubernetes", N1, condition_name="nodeDrained")
BAD_NODE = UnreadObject(N1, "Node n1: metadata.labels is ['a'], not a map of strings")
BAD_POD = UnreadObject(
    ObjectRef("Pod", "web-9", "shop"),
    "Pod shop/web-9: status.containerStatuses[].restartCount is -1, not a whole number",
    node="n1",
    owner=WEB.ref,
)


def test_an_unreadable_node_is_not_a_deleted_one() -> None:
    """A Node missing from the snapshot passes nodeDrained (deleted); one left out of the
    listing because it could not be read must not: what runs on it is not known."""
    result = evaluate_kubernetes_check(DRAINED, ClusterSnapshot(unread=(BAD_NODE,)))
    assert result.outcome == "inconclusive"
    assert result.reason_code == "ObjectUnread"
    assert result.message == f"Node/n1 could not be read: {BAD_NODE.why}"
    # Really gone: still a pass.
    assert evaluate_kubernetes_check(DRAINED, ClusterSnapshot()).outcome == "pass"


def test_a_drained_node_with_unreadable_pods_on_it_is_not_drained_yet() -> None:
    cordoned = node("n1", unschedulable=True)
    result = evaluate_kubernetes_check(
        DRAINED, ClusterSnapshot(nodes=(cordoned,), unread=(BAD_POD,))
    )
    assert result.outcome == "inconclusive", result.message
    assert result.reason_code == "ObjectUnread"
    assert "1 pod on Node/n1 could not be read (web-9)" in result.message
    # A readable pod left on it still fails the check outright.
    left = pod("web-1", WEB, node="n1")
    failing = ClusterSnapshot(pods=(left,), nodes=(cordoned,), unread=(BAD_POD,))
    assert evaluate_kubernetes_check(DRAINED, failing).outcome == "fail"


@pytest.mark.parametrize("name", ["podsReady", "noCrashLoop", "noImagePullBackOff", "noOOMKilled"])
def test_a_pod_check_does_not_pass_over_an_unreadable_pod_of_the_workload(name: str) -> None:
    check = RenderedCheck("kubernetes", WEB.ref, condition_name=name)
    readable = (pod("web-1", WEB), pod("web-2", WEB))
    assert evaluate_kubernetes_check(check, ClusterSnapshot((WEB,), readable)).outcome == "pass"
    result = evaluate_kubernetes_check(check, ClusterSnapshot((WEB,), readable, unread=(BAD_POD,)))
    assert result.outcome == "inconclusive"
    assert result.reason_code == "ObjectUnread"


def test_an_unreadable_workload_or_pod_target_is_said_so() -> None:
    bad = UnreadObject(WEB.ref, "Deployment shop/web: spec.replicas is -1")
    check = RenderedCheck("kubernetes", WEB.ref, condition_name="deploymentAvailable")
    result = evaluate_kubernetes_check(check, ClusterSnapshot(unread=(bad,)))
    assert (result.outcome, result.reason_code) == ("inconclusive", "ObjectUnread")
    assert result.message == f"Deployment/shop/web could not be read: {bad.why}"
    on_pod = RenderedCheck("kubernetes", BAD_POD.ref, condition_name="podsReady")
    result = evaluate_kubernetes_check(on_pod, ClusterSnapshot((WEB,), unread=(BAD_POD,)))
    assert (result.outcome, result.reason_code) == ("inconclusive", "ObjectUnread")


def test_a_verification_left_undecided_by_an_unreadable_object_fails_unread() -> None:
    """At its deadline it fails as an inconclusive one does, named ObjectUnread: never a
    success, and the message carries the adapter's reason."""
    plan = VerificationPlan(settle=0, window=60, interval=30, passes_required=1, checks=(DRAINED,))
    snapshot = ClusterSnapshot(unread=(BAD_NODE,))
    progress = start_verification(plan, NOW)
    progress = advance(progress, [evaluate_kubernetes_check(DRAINED, snapshot)], NOW + 30)
    assert progress.status == "checking"
    progress = advance(progress, [evaluate_kubernetes_check(DRAINED, snapshot)], NOW + 60)
    assert progress.status == "failed"
    assert progress.reason_code == "ObjectUnread"
    assert BAD_NODE.why in progress.message


def test_a_pod_that_could_not_be_read_is_not_gone() -> None:
    """A run that acts on the pod itself is called off when the pod is gone; an unreadable
    pod is not gone, so the run goes on."""
    snapshot = ClusterSnapshot(workloads=(WEB,), unread=(BAD_POD,), taken_at=NOW)
    judged = condition_over(
        "CrashLoopBackOff",
        BAD_POD.ref,
        BAD_POD.ref,
        since=None,
        seen={"ready": False, "restarts": 5},
        decided_at=NOW - 3600,
        snapshot=snapshot,
    )
    assert judged is not None and not judged.over
    assert judged.why == f"Pod/shop/web-9 could not be read: {BAD_POD.why}"


def test_a_workload_with_an_unreadable_pod_has_not_recovered() -> None:
    """The pod the decision was about is gone and the other readable pods are steady:
    over, but for a third pod of the workload that could not be read."""
    steady = NOW - 3600
    pods = tuple(replace(pod(name, WEB), ready_at=steady) for name in ("web-2", "web-3"))

    def judged(snapshot: ClusterSnapshot) -> Recovery | None:
        return condition_over(
            "PodNotReady",
            ObjectRef("Pod", "web-1", "shop"),
            WEB.ref,
            since=NOW - 7200,
            seen={"ready": False, "restarts": 0},
            decided_at=NOW - 7200,
            snapshot=snapshot,
        )

    read = ClusterSnapshot(workloads=(WEB,), pods=pods, taken_at=NOW)
    before = judged(read)
    assert before is not None and before.over, before
    after = judged(replace(read, unread=(BAD_POD,)))
    assert after is not None and not after.over
    assert "1 pod of Deployment/shop/web could not be read" in after.why


def test_too_few_ready_pods_because_some_could_not_be_read_is_no_failure_seen() -> None:
    """web asks for 2 replicas; one pod is read and ready, the other could not be read:
    podsReady counted 1 of 2 and failed, a "wrong" for the runbook resting on a pod nobody
    saw. Undecided now; a readable pod that is not ready still fails it."""
    check = RenderedCheck("kubernetes", WEB.ref, condition_name="podsReady")
    one = ClusterSnapshot((WEB,), (pod("web-1", WEB),), unread=(BAD_POD,))
    result = evaluate_kubernetes_check(check, one)
    assert (result.outcome, result.reason_code) == ("inconclusive", "ObjectUnread")
    not_ready = replace(pod("web-1", WEB), ready=False)
    seen = ClusterSnapshot((WEB,), (not_ready,), unread=(BAD_POD,))
    assert evaluate_kubernetes_check(check, seen).outcome == "fail"
    # Without the unread pod, one ready of two is the failure it always was.
    alone = ClusterSnapshot((WEB,), (pod("web-1", WEB),))
    assert evaluate_kubernetes_check(check, alone).outcome == "fail"
