"""The floor and the HPA's own ``behavior``: a raised minReplicas skips the HPA's rate
limit (the controller sets a target below its minimum to the minimum at once), so the
loop follows the pace the owner wrote in ``behavior.scaleUp`` itself."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import pytest

from agent.adapters.kube_state import hpa_state
from agent.clock import FakeClock
from agent.loops.scaling import CAPACITY, MIN_REPLICAS, STEP, ScalingLoop
from remediation.ports import HpaState, ObjectRef, SetHpaMinReplicas
from tests.unit.scaling.fakes import WeekReader, loop_over, week_and_a_day, workload

HPA = ObjectRef("HorizontalPodAutoscaler", "web", "shop")


def follow(
    policies: tuple[tuple[str, int, int], ...], select: str = "", cycles: int = 8
) -> tuple[ScalingLoop, list[int]]:
    """web at 3 replicas, its HPA at minReplicas 2 with ``policies``; a floor of 7
    wanted whatever the forecast says (the floor's floor, the load needing one pod).
    Each floor written lands on the HPA, and the HPA brings the replicas up to it, as
    the controller does."""
    t, values = week_and_a_day(71)
    values[-100:] = 50.0
    clock = FakeClock(float(t[-80]))
    web = workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "7"})
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    cluster = cast(Any, loop.cluster)
    cluster.hpas[web.ref] = HpaState(
        HPA, web.ref, 2, 20, 3, 3, uid="u1", scale_up_policies=policies, scale_up_select=select
    )
    written: list[int] = []
    for _ in range(cycles):
        before = len(cast(Any, loop.executor).applied)
        loop.cycle()
        clock.advance(STEP)
        for op in cast(Any, loop.executor).applied[before:]:
            if isinstance(op, SetHpaMinReplicas):
                written.append(op.min_replicas)
                hpa = cluster.hpas[web.ref]
                cluster.hpas[web.ref] = dataclasses.replace(hpa, min_replicas=op.min_replicas)
                cluster.workloads = [
                    dataclasses.replace(w, replicas=max(w.replicas, op.min_replicas))
                    for w in cluster.workloads
                ]
    return loop, written


def test_without_behavior_the_floor_is_raised_at_once() -> None:
    """The API's defaults (+4 pods or +100 % per 15 s) are no slower than the loop."""
    _, written = follow(())
    assert written == [7]


def test_a_raise_follows_the_hpas_pods_per_minute() -> None:
    """scaleUp one pod a minute (a database that takes so many new connections): the
    floor used to go 2 -> 7 at once, five pods in one step the HPA itself would never
    take. Now one a minute, and the decision says why."""
    loop, written = follow((("Pods", 1, 60),))
    assert written == [4, 5, 6, 7]
    first = cast(Any, loop.decisions).proposals[0]
    assert first.reason_code == "HpaScaleUpLimit"
    assert (
        "raised to 4, not 7: HorizontalPodAutoscaler/shop/web scales up by at most "
        "1 pod per 60 s (behavior.scaleUp, selectPolicy Max), and a raised minReplicas "
        "would skip that limit"
    ) in first.reason


def test_a_long_period_counts_the_raises_within_it() -> None:
    """Two pods per five minutes: 5 at once, then nothing until the five minutes from
    the first raise are over, then 7."""
    _, written = follow((("Pods", 2, 300),), cycles=9)
    assert written == [5, 7]


@pytest.mark.parametrize(
    ("select", "expected"), [("Min", [4, 5, 6, 7]), ("Max", [6, 7]), ("Disabled", [7])]
)
def test_select_policy(select: str, expected: list[int]) -> None:
    """Pods 1 and Percent 100 a minute: Min takes the slower, Max the faster; Disabled
    (the HPA never scales up) leaves the floor as the only scale-up, at the loop's pace."""
    _, written = follow((("Pods", 1, 60), ("Percent", 100, 60)), select)
    assert written == expected


def test_the_hpas_behavior_is_read() -> None:
    hpa = {
        "metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 20,
            "behavior": {
                "scaleUp": {
                    "selectPolicy": "Min",
                    "policies": [
                        {"type": "Pods", "value": 2, "periodSeconds": 60},
                        {"type": "Percent", "value": 50, "periodSeconds": 120},
                        {"type": "Bogus", "value": 1, "periodSeconds": 60},
                        {"type": "Pods", "value": "3", "periodSeconds": 60},
                    ],
                },
                "scaleDown": {"selectPolicy": "Disabled"},
            },
        },
    }
    state = hpa_state(hpa)
    assert state.scale_up_policies == (("Pods", 2, 60), ("Percent", 50, 120))
    assert state.scale_up_select == "Min"
    del hpa["spec"]["behavior"]  # type: ignore[attr-defined]
    state = hpa_state(hpa)
    assert (state.scale_up_policies, state.scale_up_select) == ((), "")
