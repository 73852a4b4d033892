"""Predictive scaling of Argo Rollouts on real components: a real Prometheus, the real
Kubernetes client against the in-repo API server (which serves ``argoproj.io/v1alpha1``
rollouts and their scale subresource, or answers 404 for the group on a cluster without
the CRD), the real executor and ledger.

Every day the load steps from 100 to 500 requests a second for an hour, and the clock
starts 8 minutes before today's step: with a 10-minute start-up the floor must cover the
step before it comes, so it is sized from the forecast, not from the current load."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.cli.explain_cmd import render
from remediation.ports import ObjectRef
from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.fakekube.seed import seed_deployment, seed_hpa, seed_node, seed_rollout
from tests.harness.remote_write import remote_write
from tests.harness.servers import PrometheusServer, openmetrics, prometheus_server
from tests.integration.loops.scaling_rig import ScalingRig

pytestmark = pytest.mark.prometheus

NOW = math.floor(time.time() / 60) * 60
HISTORY_END = NOW - 60 * 60
START = NOW - 15 * 60  # the loop's clock at its first cycle
RISE = START + 8 * 60  # every day at this time of day the load steps up for an hour
QUERY = 'rollout_rps{namespace="$namespace",workload="$workload"}'
NAMES = ("web", "solo", "front", "api")
CAPACITY = 50.0
LOW, HIGH = 100.0, 500.0


def load(t: float) -> float:
    return HIGH if (t - RISE) % 86400 < 3600 else LOW


@pytest.fixture(scope="module")
def prometheus(prometheus_binaries: None) -> Iterator[PrometheusServer]:
    minutes = range(int(HISTORY_END - 8 * 86400), int(HISTORY_END) + 1, 60)
    history = [(float(t), load(t)) for t in minutes]
    series = [("rollout_rps", {"namespace": "shop", "workload": name}, history) for name in NAMES]
    with prometheus_server(openmetrics(series)) as server:
        live = [(float(t), load(t)) for t in range(int(HISTORY_END) + 60, int(NOW) + 1, 60)]
        remote_write(
            server.url,
            [
                ({"__name__": "rollout_rps", "namespace": "shop", "workload": name}, live)
                for name in NAMES
            ],
        )
        yield server


def opt_in(fake: FakeApiServer, kind: str, name: str) -> None:
    """The opt-in label and the predictive annotations, a capacity and a 10-minute
    start-up, on ``kind`` ``name`` in ``shop``."""

    def change(obj: dict[str, Any]) -> None:
        obj["metadata"].setdefault("labels", {})["autonomic.dev/enabled"] = "true"
        obj["metadata"].setdefault("annotations", {}).update(
            {
                "autonomic.dev/predictive": "true",
                "autonomic.dev/capacity-per-pod": str(int(CAPACITY)),
                "autonomic.dev/startup-seconds": "600",
            }
        )

    fake.store.modify(kind, "shop", name, change)


class Rig(ScalingRig):
    """The loop in ``act`` mode on the real adapters, the clock at ``START``; the
    cluster's watch caches started."""

    def __init__(self, prometheus: PrometheusServer, fake: FakeApiServer, tmp_path: Path) -> None:
        super().__init__(prometheus, fake, tmp_path, start=START, query=QUERY, started=True)

    def stored(self, kind: str, name: str) -> dict[str, Any]:
        (obj,) = [o for o in self.fake.store.objects(kind, "shop") if o["metadata"]["name"] == name]
        return obj


@pytest.fixture
def shop(fake: FakeApiServer) -> FakeApiServer:
    seed_node(fake.store, "node-1")
    return fake


def test_an_hpa_targeting_a_rollout_gets_its_floor_raised_ahead_of_the_rise(
    prometheus: PrometheusServer, shop: FakeApiServer, tmp_path: Path
) -> None:
    seed_rollout(shop.store, "web", namespace="shop", replicas=2)
    opt_in(shop, "Rollout", "web")
    seed_hpa(
        shop.store, "web", target="web", namespace="shop", min_replicas=2, max_replicas=40,
        kind="Rollout",
    )  # fmt: skip
    rig = Rig(prometheus, shop, tmp_path)
    try:
        rig.cycles(1)
        (decision,) = rig.ledger.decisions(kind="scaling")
        assert decision.subject == "Rollout/shop/web"
        assert decision.route == "auto" and decision.proposal["op"] == "set_hpa_min_replicas"
        floor = int(decision.proposal["to"])
        # Sized for the step 8 minutes away, not for the 100 requests a second of now
        # (and raised by at most the step a decision may take).
        assert decision.evidence["forecast_peak"] > 3 * LOW
        assert decision.evidence["current_need"] <= math.ceil(1.2 * LOW / CAPACITY)
        assert decision.reason_code in ("Forecast", "ScaleUpLimit")
        assert floor > decision.evidence["current_need"] + 2
        assert rig.stored("HorizontalPodAutoscaler", "web")["spec"]["minReplicas"] == floor
        rollout = rig.stored("Rollout", "web")
        assert rollout["spec"]["replicas"] == 2  # the HPA scales it; the loop set its floor
        annotations = rollout["metadata"]["annotations"]
        assert annotations["autonomic.dev/recommended-replicas"] == str(floor)
        story = render(rig.ledger, decision.id)
        assert "on       Rollout/shop/web" in story
        assert "HorizontalPodAutoscaler/shop/web" in story
        assert rig.loop.status.held == {}
    finally:
        rig.close()


def test_a_rollout_without_an_hpa_is_scaled_through_its_scale_subresource(
    prometheus: PrometheusServer, shop: FakeApiServer, tmp_path: Path
) -> None:
    seed_rollout(shop.store, "solo", namespace="shop", replicas=3)
    opt_in(shop, "Rollout", "solo")
    rig = Rig(prometheus, shop, tmp_path)
    solo = ObjectRef("Rollout", "solo", "shop")
    try:
        shop.clear_requests()
        rig.cycles(1)
        (decision,) = rig.ledger.decisions(kind="scaling")
        assert decision.subject == str(solo) and decision.proposal["op"] == "scale"
        assert decision.proposal["from"] == 3
        wanted = int(decision.proposal["to"])
        assert decision.evidence["forecast_peak"] > 3 * LOW
        assert wanted > max(3, decision.evidence["current_need"])
        assert rig.stored("Rollout", "solo")["spec"]["replicas"] == wanted
        writes = [(r.verb, r.resource) for r in shop.requests if r.method == "PATCH"]
        assert ("patch", "rollouts/scale") in writes
        (intent,) = rig.ledger.intents(decision_id=decision.id)
        assert intent.status == "applied"
        assert f"{solo}: replicas 3 -> {wanted}" in render(rig.ledger, decision.id)
    finally:
        rig.close()


def test_a_rollouts_replicas_changed_since_the_decision_are_not_overwritten(
    prometheus: PrometheusServer, shop: FakeApiServer, tmp_path: Path
) -> None:
    """``kubectl argo rollouts scale`` (or ``kubectl scale``) to 5 after the loop read 3
    and before its write: the write carries the count its decision saw, and the
    person's 5 stands."""
    seed_rollout(shop.store, "solo", namespace="shop", replicas=3)
    opt_in(shop, "Rollout", "solo")
    rig = Rig(prometheus, shop, tmp_path)

    def scale_by_hand(rollout: dict[str, Any]) -> None:
        rollout["spec"]["replicas"] = 5

    try:
        rig.before_each_write(lambda: shop.store.modify("Rollout", "shop", "solo", scale_by_hand))
        rig.cycles(1)
        assert rig.stored("Rollout", "solo")["spec"]["replicas"] == 5
        (decision,) = rig.ledger.decisions(kind="scaling")
        assert decision.status == "failed" and decision.proposal["from"] == 3
        held = rig.loop.status.held["Rollout/shop/solo"]
        assert "they are 5, not the 3 the decision was made from" in held
    finally:
        rig.close()


def test_a_deployment_a_rollout_takes_its_template_from_stays_at_zero(
    prometheus: PrometheusServer, shop: FakeApiServer, tmp_path: Path
) -> None:
    """``spec.workloadRef`` with ``scaleDown: onsuccess``: Argo has scaled the Deployment
    to zero and runs the pods itself. Both carry the opt-in (labels copied over when
    migrating): the Rollout's HPA gets the floor, the Deployment is held at zero, never
    scaled up behind Argo's back."""
    seed_deployment(shop.store, "front", namespace="shop", replicas=0, images=("front:1",))
    opt_in(shop, "Deployment", "front")
    seed_rollout(shop.store, "front", namespace="shop", replicas=2, workload_ref="front")
    opt_in(shop, "Rollout", "front")
    seed_hpa(
        shop.store, "front", target="front", namespace="shop", min_replicas=2, max_replicas=40,
        kind="Rollout",
    )  # fmt: skip
    rig = Rig(prometheus, shop, tmp_path)
    try:
        rig.cycles(2)
        (decision,) = rig.ledger.decisions(kind="scaling")
        assert decision.subject == "Rollout/shop/front"
        assert rig.stored("HorizontalPodAutoscaler", "front")["spec"]["minReplicas"] > 2
        assert rig.stored("Deployment", "front")["spec"]["replicas"] == 0
        assert "spec.workloadRef" in rig.loop.status.held["Deployment/shop/front"]
        assert not [r for r in shop.requests if r.resource == "deployments/scale"]
    finally:
        rig.close()


def test_a_deployment_a_rollout_takes_its_template_from_is_not_scaled_while_it_runs_pods(
    prometheus: PrometheusServer, shop: FakeApiServer, tmp_path: Path
) -> None:
    """Argo does not keep a ``workloadRef`` Deployment at zero unless told to: with
    ``scaleDown: never`` (or none) it keeps its replicas, and with ``progressively``
    Argo lowers them as the Rollout grows. Copied over with the opt-in and the capacity,
    it must not be scaled as a workload of its own: that would run a second set of pods
    sized for the whole load behind the Rollout's back (or fight Argo's scale-down)."""
    seed_deployment(shop.store, "front", namespace="shop", replicas=3, images=("front:1",))
    opt_in(shop, "Deployment", "front")
    seed_rollout(shop.store, "front", namespace="shop", replicas=2, workload_ref="front")
    opt_in(shop, "Rollout", "front")
    seed_hpa(
        shop.store, "front", target="front", namespace="shop", min_replicas=2, max_replicas=40,
        kind="Rollout",
    )  # fmt: skip
    rig = Rig(prometheus, shop, tmp_path)
    try:
        shop.clear_requests()
        rig.cycles(2)
        (decision,) = rig.ledger.decisions(kind="scaling")
        assert decision.subject == "Rollout/shop/front"
        assert rig.stored("HorizontalPodAutoscaler", "front")["spec"]["minReplicas"] > 2
        assert rig.stored("Deployment", "front")["spec"]["replicas"] == 3
        assert not [r for r in shop.requests if r.resource == "deployments/scale"]
        held = rig.loop.status.held["Deployment/shop/front"]
        assert rig.loop.status.held_reason["Deployment/shop/front"] == "RolloutTemplate"
        assert "the pod template of Rollout/shop/front (spec.workloadRef)" in held
        assert "put the opt-in and the HPA on Rollout/shop/front" in held
    finally:
        rig.close()


def test_a_cluster_without_argo_rollouts_scales_its_deployments_and_says_so_once(
    prometheus: PrometheusServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = start_fake_apiserver(bookmark_interval=0.2, argo_rollouts=False)
    seed_node(fake.store, "node-1")
    seed_deployment(fake.store, "api", namespace="shop", replicas=2, images=("api:1",))
    opt_in(fake, "Deployment", "api")
    seed_hpa(fake.store, "api", target="api", namespace="shop", min_replicas=2, max_replicas=40)
    with caplog.at_level(logging.INFO):
        rig = Rig(prometheus, fake, tmp_path)
        try:
            rig.cycles(5)
            (decision,) = rig.ledger.decisions(kind="scaling")
            assert decision.subject == "Deployment/shop/api" and decision.status != "failed"
            minimum = rig.stored("HorizontalPodAutoscaler", "api")["spec"]["minReplicas"]
            assert minimum == decision.proposal["to"] > 2
            asked = [r for r in fake.requests if r.resource.startswith("rollouts")]
            assert asked and {(r.verb, r.status) for r in asked} == {("list", 404)}
            assert len(asked) == 1  # the cache listed once, and waits for its resync
        finally:
            rig.close()
            fake.stop()
    said = [r for r in caplog.records if "rollouts.argoproj.io" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.INFO]
    assert "Argo Rollouts is not installed" in said[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_rollouts_not_readable_are_named_once_as_a_warning_and_deployments_go_on(
    prometheus: PrometheusServer, shop: FakeApiServer, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    seed_deployment(shop.store, "api", namespace="shop", replicas=2, images=("api:1",))
    opt_in(shop, "Deployment", "api")
    seed_hpa(shop.store, "api", target="api", namespace="shop", min_replicas=2, max_replicas=40)
    seed_rollout(shop.store, "web", namespace="shop", replicas=2)
    opt_in(shop, "Rollout", "web")
    shop.forbid("list", "rollouts", "argoproj.io")
    with caplog.at_level(logging.INFO):
        rig = Rig(prometheus, shop, tmp_path)
        try:
            rig.cycles(3)
            (decision,) = rig.ledger.decisions(kind="scaling")
            assert decision.subject == "Deployment/shop/api"
            assert rig.stored("HorizontalPodAutoscaler", "api")["spec"]["minReplicas"] > 2
        finally:
            rig.close()
    (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    message = warning.getMessage()
    assert message.startswith("Rollouts are not read, so not scaled")
    assert "Grant verb 'list' on resource 'rollouts' in API group 'argoproj.io'" in message
