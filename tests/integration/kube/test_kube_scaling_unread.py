"""The scaling loop on the real Kubernetes adapter, served by the fake API server: a
Deployment the API server sends in a shape that cannot be read is held ``ReadFailed``
with the adapter's reason and keeps its model, and goes on once it reads again (the
loop's other collaborators are the unit rig's fakes: this is about the listing)."""

from __future__ import annotations

from typing import Any, cast

from agent.adapters.kubernetes import KubernetesCluster
from agent.clock import FakeClock
from agent.loops.scaling import CAPACITY, MIN_REPLICAS, PREDICTIVE, STEP, ScalingLoop
from agent.settings import ScalingSettings
from tests.fakekube import FakeApiServer
from tests.fakekube.seed import seed_deployment, seed_hpa, seed_node
from tests.unit.scaling.fakes import AskEverything, RecordingExecutor, WeekReader, week_and_a_day


def test_a_deployment_sent_in_a_shape_that_cannot_be_read_is_held_not_gone(
    fake: FakeApiServer, cluster: KubernetesCluster
) -> None:
    seed_node(fake.store, "node-1")
    seed_deployment(fake.store, "web", namespace="shop", labels={"autonomic.dev/enabled": "true"})
    seed_hpa(fake.store, "web", target="web", namespace="shop")

    def opted_in(obj: dict[str, Any]) -> None:
        obj["metadata"]["annotations"].update({PREDICTIVE: "true", CAPACITY: "1000"})
        obj["metadata"]["annotations"][MIN_REPLICAS] = "7"

    def odd_replicas(obj: dict[str, Any]) -> None:
        obj["spec"]["replicas"] = "3x"

    def mended(obj: dict[str, Any]) -> None:
        obj["spec"]["replicas"] = 3

    fake.store.modify("Deployment", "shop", "web", opted_in)
    t, values = week_and_a_day(81)
    clock = FakeClock(float(t[-80]))
    loop = ScalingLoop(
        ScalingSettings(),
        reader=cast(Any, WeekReader(t, values)),
        cluster=cluster,
        decisions=cast(Any, AskEverything("ask", clock)),
        executor=cast(Any, RecordingExecutor()),
        clock=clock,
        submit=lambda signals: None,
    )
    for _ in range(2):
        loop.cycle()
        clock.advance(STEP)
    (ref,) = loop.models
    model = loop.models[ref]
    assert str(ref) == "Deployment/shop/web" and str(ref) not in loop.status.held

    fake.store.modify("Deployment", "shop", "web", odd_replicas)
    loop.cycle()
    clock.advance(STEP)
    held = loop.report()["held"][str(ref)]
    assert held["reason"] == "ReadFailed"
    assert "Deployment shop/web: spec.replicas is '3x'" in held["why"], held
    assert loop.models[ref] is model

    fake.store.modify("Deployment", "shop", "web", mended)
    loop.cycle()
    assert loop.status.held_reason.get(str(ref)) != "ReadFailed"
    assert loop.models[ref] is model
