"""Property: for every shipped runbook, ``plan`` and the guards are total functions.

Whatever the cluster looks like, planning returns a Plan or a NoAction with a reason,
never an exception, and a Plan never exceeds the runbook's own bounds.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediation.guards import GlobalLimits, GuardState, check
from remediation.loading import load_paths
from remediation.planning import NoAction, Plan, plan
from remediation.ports import ObjectRef, PatchResources, Scale, SetHpaMinReplicas
from remediation.quantity import parse_quantity
from remediation.schema import PatchResourcesAction, ScaleAction
from remediation.snapshot import ClusterSnapshot

from .builders import NOW, OPT_IN, deployment, hpa, node, pod, signal

REPO = Path(__file__).resolve().parents[3]
RUNBOOKS = load_paths([REPO / "runbooks"])
CONDITIONS = [
    "CrashLoopBackOff",
    "OOMKilled",
    "ImagePullBackOff",
    "PodNotReady",
    "NodeNotReady",
    "DiskPressure",
]


@st.composite
def scenes(draw: st.DrawFn) -> tuple[ClusterSnapshot, object]:
    web = deployment(
        replicas=draw(st.integers(0, 40)),
        updated=draw(st.integers(0, 40)),
        revision=draw(st.integers(0, 6)),
        memory_limit=draw(st.sampled_from([None, "64Mi", "256Mi", "1536Mi", "2Gi", "3Gi", "1G"])),
        memory_request=draw(st.sampled_from([None, "32Mi", "256Mi", "4Gi"])),
        paused=draw(st.booleans()),
        last_rollout_at=draw(st.sampled_from([None, NOW - 60, NOW - 7200])),
        labels=draw(st.sampled_from([OPT_IN, {}])),
        human_at=draw(st.sampled_from([None, NOW - 30])),
    )
    pods = tuple(
        pod(
            f"web-{i}",
            web,
            ready=draw(st.booleans()),
            phase=draw(st.sampled_from(["Running", "Unknown", "Pending"])),
            waiting=draw(st.sampled_from([None, "CrashLoopBackOff", "ImagePullBackOff"])),
            node=draw(st.sampled_from(["node-1", "node-2"])),
            restarts=draw(st.integers(0, 9)),
        )
        for i in range(draw(st.integers(0, 5)))
    )
    nodes = tuple(
        node(f"node-{i}", ready=draw(st.booleans()), unschedulable=draw(st.booleans()))
        for i in range(1, draw(st.integers(1, 4)) + 1)
    )
    hpas = (
        (
            hpa(
                web,
                min_replicas=draw(st.integers(1, 5)),
                max_replicas=draw(st.integers(5, 50)),
                current=draw(st.integers(0, 50)),
            ),
        )
        if draw(st.booleans())
        else ()
    )
    target = draw(
        st.sampled_from(
            [web.ref, ObjectRef("Pod", "web-0", "shop"), ObjectRef("Node", "node-1"), None]
        )
    )
    kind_name = draw(
        st.sampled_from(
            [("kubernetes", c) for c in CONDITIONS]
            + [
                ("forecastBreach", "requests_per_second"),
                ("canary", "rollback"),
                ("anomaly", "http_error_ratio"),
                ("alert", "KubePodCrashLooping"),
            ]
        )
    )
    sig = signal(
        kind_name[0],
        kind_name[1],
        target,
        count=draw(st.integers(0, 9)),
        since=draw(st.sampled_from([None, NOW - 3600])),
        confidence=draw(st.floats(0, 1)),
        direction="up",
        excess_ratio=1.0,
    )
    return ClusterSnapshot((web,), pods, nodes, hpas), sig


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(scenes())
def test_plan_is_total_and_bounded(scene: tuple[ClusterSnapshot, object]) -> None:
    snapshot, sig = scene
    for runbook in RUNBOOKS:
        result = plan(runbook, sig, snapshot, NOW)  # type: ignore[arg-type]
        if isinstance(result, NoAction):
            assert result.reason_code and result.message
            continue
        assert isinstance(result, Plan)
        gate = check(result, runbook.spec.guards, GuardState(), GlobalLimits(), NOW)
        assert gate.reason_code and gate.message
        for action in runbook.spec.actions:
            for op in result.operations:
                if isinstance(action, ScaleAction) and isinstance(op, Scale):
                    assert op.replicas <= action.max_replicas
                if isinstance(action, ScaleAction) and isinstance(op, SetHpaMinReplicas):
                    assert op.min_replicas <= action.max_replicas
                if isinstance(action, PatchResourcesAction) and isinstance(op, PatchResources):
                    for value in (*op.limits.values(), *op.requests.values()):
                        assert parse_quantity(value) <= parse_quantity(action.max)
