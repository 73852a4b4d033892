"""The snapshot's lookups (built once, on first use) answer exactly what the linear
scans they replaced answered, duplicates and absent keys included."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from remediation.ports import HpaState, NodeState, ObjectRef, PodState
from remediation.snapshot import ClusterSnapshot

NAMES = st.sampled_from(["a", "b", "c"])
NAMESPACES = st.sampled_from(["shop", "infra"])
NODES = st.sampled_from(["node-1", "node-2", "node-3"])


@st.composite
def workload_refs(draw: st.DrawFn) -> ObjectRef:
    return ObjectRef(
        draw(st.sampled_from(["Deployment", "StatefulSet"])), draw(NAMES), draw(NAMESPACES)
    )


@st.composite
def pods(draw: st.DrawFn) -> PodState:
    return PodState(
        ref=ObjectRef("Pod", f"p-{draw(st.integers(0, 6))}", draw(NAMESPACES)),
        labels={},
        phase=draw(st.sampled_from(["Running", "Pending"])),
        ready=draw(st.booleans()),
        node=draw(st.none() | NODES),
        owner=draw(st.none() | workload_refs()),
        restarts=draw(st.integers(0, 3)),  # tells apart pods that share a ref
    )


@st.composite
def nodes(draw: st.DrawFn) -> NodeState:
    return NodeState(
        ref=ObjectRef("Node", draw(NODES)),
        labels={},
        ready=draw(st.booleans()),
        unschedulable=False,
        conditions={},
    )


@st.composite
def hpas(draw: st.DrawFn) -> HpaState:
    return HpaState(
        ref=ObjectRef("HorizontalPodAutoscaler", draw(NAMES), draw(NAMESPACES)),
        target=draw(workload_refs()),
        min_replicas=draw(st.integers(1, 3)),
        max_replicas=5,
        current_replicas=1,
        desired_replicas=1,
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(pods(), max_size=12),
    st.lists(nodes(), max_size=4),
    st.lists(hpas(), max_size=5),
    st.lists(workload_refs(), min_size=1, max_size=4),
    st.lists(NODES, min_size=1, max_size=3),
)
def test_lookups_match_linear_scans(
    pod_list: list[PodState],
    node_list: list[NodeState],
    hpa_list: list[HpaState],
    owners: list[ObjectRef],
    node_names: list[str],
) -> None:
    snapshot = ClusterSnapshot(pods=tuple(pod_list), nodes=tuple(node_list), hpas=tuple(hpa_list))
    absent = PodState(ObjectRef("Pod", "absent", "shop"), {}, "Running", True, None, None, 0)
    for pod in [*pod_list, absent]:
        assert snapshot.pod(pod.ref) is next((p for p in pod_list if p.ref == pod.ref), None)
    for name in node_names:
        assert snapshot.node(name) is next((n for n in node_list if n.ref.name == name), None)
        expected_on = tuple(sorted((p for p in pod_list if p.node == name), key=lambda p: p.ref))
        assert snapshot.pods_on(name) == expected_on
    for owner in owners:
        expected_of = tuple(sorted((p for p in pod_list if p.owner == owner), key=lambda p: p.ref))
        assert snapshot.pods_of(owner) == expected_of
        assert snapshot.hpa_for(owner) is next((h for h in hpa_list if h.target == owner), None)


def test_lookups_are_not_part_of_equality() -> None:
    pod = PodState(ObjectRef("Pod", "p", "shop"), {}, "Running", True, "node-1", None, 0)
    used, fresh = ClusterSnapshot(pods=(pod,)), ClusterSnapshot(pods=(pod,))
    assert used.pods_on("node-1") == (pod,)
    assert used == fresh
