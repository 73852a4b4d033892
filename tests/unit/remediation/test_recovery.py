"""``condition_over``: a pod or node condition is over only when the object shows it,
since after the decision and steady; any doubt is a reason to go on, said."""

from __future__ import annotations

from typing import Any

import pytest

from remediation.ports import NodeState, ObjectRef, PodState, WorkloadState
from remediation.recovery import CRASH_SETTLE, SETTLE, condition_over
from remediation.snapshot import ClusterSnapshot

NOW = 1_800_000_000.0
DECIDED = NOW - 3600
NODE = ObjectRef("Node", "worker-2")
WEB = ObjectRef("Deployment", "web", "shop")


def _node(status: str, turned: float | None, kind: str = "DiskPressure") -> NodeState:
    return NodeState(
        NODE,
        {},
        True,
        False,
        {"Ready": "True", kind: status},
        condition_since={} if turned is None else {kind: turned},
    )


@pytest.mark.parametrize(
    ("status", "turned", "over", "said"),
    [
        ("False", NOW - SETTLE - 1, True, "has been free of DiskPressure since"),
        (
            "Unknown",
            NOW - SETTLE - 1,
            False,
            "is still under DiskPressure (DiskPressure is Unknown)",
        ),
        ("True", DECIDED - 60, False, "is still under DiskPressure"),
        ("False", NOW - 60, False, "less than 5m before this check"),
        ("False", None, False, "but since when is not known"),
        ("False", DECIDED - 600, False, "not since after the condition"),
    ],
)
def test_a_pressure_condition_is_over_only_when_false_after_it_and_steady(
    status: str, turned: float | None, over: bool, said: str
) -> None:
    snapshot = ClusterSnapshot(nodes=(_node(status, turned),), taken_at=NOW)
    judged = condition_over(
        "DiskPressure",
        NODE,
        NODE,
        since=DECIDED - 300,
        seen={},
        decided_at=DECIDED,
        snapshot=snapshot,
    )
    assert judged is not None and judged.over is over
    assert said in judged.why, judged.why


def _pod(name: str, *, ready_at: float | None, restarts: int = 0, **extra: Any) -> PodState:
    return PodState(
        ref=ObjectRef("Pod", name, "shop"),
        labels={},
        phase=extra.pop("phase", "Running"),
        ready=ready_at is not None,
        node="worker-1",
        owner=WEB,
        restarts=restarts,
        ready_at=ready_at,
        **extra,
    )


def _workload(replicas: int) -> WorkloadState:
    return WorkloadState(
        ref=WEB,
        replicas=replicas,
        ready_replicas=replicas,
        updated_replicas=replicas,
        available_replicas=replicas,
        labels={},
        annotations={},
        selector={},
        containers=(),
    )


SEEN = {"ready": False, "restarts": 5}
STEADY = NOW - CRASH_SETTLE - 1


@pytest.mark.parametrize(
    ("pods", "replicas", "over", "said"),
    [
        # the crash-looping pod out of its back-off (one start), the others steady
        (
            (_pod("web-1", ready_at=STEADY, restarts=6), _pod("web-2", ready_at=DECIDED - 9)),
            2,
            True,
            "started once since, out of its back-off (6 restarts, 5 then)",
        ),
        # restarted more than that: it crashed again after the decision
        (
            (_pod("web-1", ready_at=STEADY, restarts=7), _pod("web-2", ready_at=STEADY)),
            2,
            False,
            "has restarted since this decision was made (7 restarts, 5 then)",
        ),
        # another pod of the workload still in the loop
        (
            (
                _pod("web-1", ready_at=STEADY, restarts=5),
                _pod("web-2", ready_at=None, waiting_reason="CrashLoopBackOff"),
            ),
            2,
            False,
            "Pod/shop/web-2 is still in CrashLoopBackOff, a pod of Deployment/shop/web",
        ),
        # the pod gone, its replacement not steady yet
        (
            (_pod("web-3", ready_at=NOW - 120), _pod("web-2", ready_at=STEADY)),
            2,
            False,
            "Pod/shop/web-3 is Ready again, but only since",
        ),
        # the pod gone, every other pod steady, as many as wanted
        (
            (_pod("web-3", ready_at=STEADY), _pod("web-2", ready_at=STEADY)),
            2,
            True,
            "Pod/shop/web-1, in CrashLoopBackOff when this decision was made, no longer",
        ),
        # the pod gone, fewer pods than the workload wants
        ((_pod("web-2", ready_at=STEADY),), 2, False, "has 1 Ready pods of the 2 it wants"),
    ],
)
def test_a_crash_loop_on_a_workload_is_over_when_all_its_pods_are(
    pods: tuple[PodState, ...], replicas: int, over: bool, said: str
) -> None:
    snapshot = ClusterSnapshot(workloads=(_workload(replicas),), pods=pods, taken_at=NOW)
    judged = condition_over(
        "CrashLoopBackOff",
        ObjectRef("Pod", "web-1", "shop"),
        WEB,
        since=None,
        seen=SEEN,
        decided_at=DECIDED,
        snapshot=snapshot,
    )
    assert judged is not None and judged.over is over
    assert said in judged.why, judged.why


def test_an_oom_kill_is_not_judged() -> None:
    """A pod not killed again for a while is between kills, not healed."""
    pod = _pod("web-1", ready_at=STEADY, restarts=3, last_termination_reason="OOMKilled")
    snapshot = ClusterSnapshot(workloads=(_workload(1),), pods=(pod,), taken_at=NOW)
    assert (
        condition_over(
            "OOMKilled",
            pod.ref,
            WEB,
            since=None,
            seen={"ready": True, "restarts": 3},
            decided_at=DECIDED,
            snapshot=snapshot,
        )
        is None
    )
