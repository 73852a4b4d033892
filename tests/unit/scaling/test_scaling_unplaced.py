"""Pods the cluster cannot place (Pending, Unschedulable): a floor raised for them is no
capacity until they are scheduled, and the loop says so, once."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, cast

import pytest

from agent.adapters.kube_state import pod_state
from agent.clock import FakeClock
from agent.loops.scaling import CAPACITY, STEP
from remediation.ports import HpaState, ObjectRef, PodState
from tests.unit.scaling.fakes import WeekReader, loop_over, week_and_a_day, workload

HPA = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
NO_ROOM = "0/3 nodes are available: 3 Insufficient cpu."


def pods(owner: ObjectRef, created: float) -> list[PodState]:
    ready = [
        PodState(ObjectRef("Pod", f"web-{i}", "shop"), {}, "Running", True, "node-1", owner, 0)
        for i in range(5)
    ]
    pending = [
        PodState(
            ObjectRef("Pod", f"web-p{i}", "shop"),
            {},
            "Pending",
            False,
            None,
            owner,
            0,
            created_at=created + 60 * i,
            unschedulable=NO_ROOM,
        )
        for i in range(5)
    ]
    return ready + pending


def test_pods_the_cluster_cannot_place_are_said_once(caplog: pytest.LogCaptureFixture) -> None:
    """The HPA holds web at 10 replicas, 5 of them Pending: no node has room. The loop
    said nothing of it: the floor raised for them looked like capacity in its status and
    its log. Now it says which pods, since when and the scheduler's words, once; the
    floor is not raised for them; and it says when they are all placed."""
    t, values = week_and_a_day(81)
    values[-100:] = 50.0
    clock = FakeClock(float(t[-80]))
    web = dataclasses.replace(
        workload("web", **{CAPACITY: "10"}), replicas=10, ready_replicas=5, updated_replicas=10
    )
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    cluster = cast(Any, loop.cluster)
    cluster.hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 10, 10, uid="u1")
    cluster.pods = pods(web.ref, clock.now() - 360)
    with caplog.at_level(logging.INFO, logger="autonomic.scaling"):
        for _ in range(12):
            loop.cycle()
            clock.advance(STEP)
    said = [r.getMessage() for r in caplog.records if "cannot be scheduled" in r.getMessage()]
    assert len(said) == 1, said
    expected = (
        f"5 of the 10 pods of {web.ref} cannot be scheduled, the oldest for 8 min "
        f"({NO_ROOM}): they are no capacity until the cluster places them; the floor is "
        "sized from the load, not raised for them, and the start-up time (now 60 s) "
        "counts a wait for a node only once such pods are ready"
    )
    assert said[0] == f"scaling {web.ref}: {expected}"
    assert loop.report()["unplaced"] == {str(web.ref): loop.status.unplaced[str(web.ref)]}
    assert "cannot be scheduled" in loop.status.unplaced[str(web.ref)]
    raised = [op.min_replicas for op in cast(Any, loop.executor).applied]
    assert all(value <= 10 for value in raised)  # sized from the load (50 at 10 a pod)
    cluster.workloads = [dataclasses.replace(web, ready_replicas=10)]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="autonomic.scaling"):
        loop.cycle()
    assert loop.report()["unplaced"] == {}
    assert [r.getMessage() for r in caplog.records if "scheduled again" in r.getMessage()] == [
        f"scaling {web.ref}: every pod is scheduled again"
    ]


def test_an_unschedulable_pod_is_read() -> None:
    pod = {
        "metadata": {"name": "web-1", "namespace": "shop"},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": NO_ROOM,
                }
            ],
        },
    }
    assert pod_state(pod, {}).unschedulable == NO_ROOM
    pod["status"]["conditions"][0].update(status="True", reason="")  # type: ignore[index]
    assert pod_state(pod, {}).unschedulable is None
