"""The predictive scaling loop on real components: a real Prometheus (a week of history
backfilled, the newest minutes by remote write), the real Kubernetes client against the
in-repo API server, and the real ledger. Nobody configured the workload's per-pod
capacity or start-up time: the loop learns the first from the HPA's readings and measures
the second from the pods, then raises the HPA's minReplicas through the API."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.kube_state import parse_time
from agent.adapters.kubernetes import KubernetesCluster, load_api_client
from agent.adapters.prometheus import PrometheusReader
from agent.approvals import Approvals, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.executor import Executor
from agent.ledger import open_ledger
from agent.loops.scaling import ScalingLoop
from agent.loops.sizing import CAPACITY_MIN
from agent.observability import Metrics
from agent.settings import RoutingSettings, ScalingSettings
from remediation.signals import Signal
from tests.fakekube import FakeApiServer
from tests.fakekube.seed import seed_deployment, seed_hpa, seed_node
from tests.harness.logs import json_lines
from tests.harness.remote_write import remote_write
from tests.harness.servers import PrometheusServer, openmetrics, prometheus_server
from tests.integration.kube.conftest import FAST

pytestmark = pytest.mark.prometheus

NOW = math.floor(time.time() / 60) * 60
HISTORY_END = NOW - 30 * 60
LABELS = {"namespace": "shop", "deployment": "web"}
QUERY = 'http_requests_rate{namespace="$namespace",deployment="$workload"}'
STARTUP = 95.0  # seconds from each pod's creation to its Ready condition


def load(t: float) -> float:
    """Requests per second: a daily wave, the same whatever the time the test runs."""
    return 300.0 + 200.0 * math.sin(2 * math.pi * ((t - NOW) % 86400) / 86400)


@pytest.fixture(scope="module")
def prometheus(prometheus_binaries: None) -> Iterator[PrometheusServer]:
    minutes = range(int(HISTORY_END - 8 * 86400), int(HISTORY_END) + 1, 60)
    history = [(float(t), load(t)) for t in minutes]
    with prometheus_server(openmetrics([("http_requests_rate", LABELS, history)])) as server:
        live = [(float(t), load(t)) for t in range(int(HISTORY_END) + 60, int(NOW) + 1, 60)]
        remote_write(server.url, [({"__name__": "http_requests_rate", **LABELS}, live)])
        yield server


def opted_in(fake: FakeApiServer) -> dict[str, Any]:
    """A Deployment opted into predictive scaling with no capacity or start-up
    annotation, pods that took ``STARTUP`` to become ready, and an HPA at 80 % of its
    CPU target."""
    seed_node(fake.store, "node-1")
    objects = seed_deployment(fake.store, "web", namespace="shop", replicas=3, images=("web:1",))

    def opt_in(obj: dict[str, Any]) -> None:
        obj["metadata"]["labels"]["autonomic.dev/enabled"] = "true"
        obj["metadata"]["annotations"]["autonomic.dev/predictive"] = "true"

    fake.store.modify("Deployment", "shop", "web", opt_in)
    for pod in fake.store.objects("Pod", "shop"):
        created = parse_time(pod["metadata"]["creationTimestamp"])
        assert created is not None
        ready = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created + STARTUP))

        def ready_late(obj: dict[str, Any], ready: str = ready) -> None:
            for condition in obj["status"]["conditions"]:
                if condition["type"] == "Ready":
                    condition["lastTransitionTime"] = ready

        fake.store.modify("Pod", "shop", pod["metadata"]["name"], ready_late)
    seed_hpa(fake.store, "web", target="web", namespace="shop", min_replicas=2, max_replicas=20)

    def readings(hpa: dict[str, Any]) -> None:
        target = {"type": "Utilization", "averageUtilization": 70}
        hpa["spec"]["metrics"] = [
            {"type": "Resource", "resource": {"name": "cpu", "target": target}}
        ]
        now = {"name": "cpu", "current": {"averageUtilization": 56}}
        hpa["status"]["currentMetrics"] = [{"type": "Resource", "resource": now}]

    fake.store.modify("HorizontalPodAutoscaler", "shop", "web", readings)
    return objects


def test_capacity_and_start_up_are_learned_and_the_hpa_floor_is_raised(
    prometheus: PrometheusServer, fake: FakeApiServer, tmp_path: Path
) -> None:
    opted_in(fake)
    api = load_api_client(host=fake.url)
    cluster = KubernetesCluster(api, identity="autonomic-test", policy=FAST, watch_timeout=5)
    clock = FakeClock(NOW - 14 * 60)
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    metrics = Metrics()
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="act", approvals=approvals, metrics=metrics
    )
    executor = Executor(
        ledger, cluster, clock, owner="autonomic-test", is_leader=lambda: True, metrics=metrics
    )
    signals: list[Signal] = []
    loop = ScalingLoop(
        ScalingSettings(loadQuery=QUERY),
        reader=PrometheusReader(prometheus.url),
        cluster=cluster,
        decisions=decisions,
        executor=executor,
        clock=clock,
        submit=signals.extend,
        metrics=metrics,
    )
    try:
        for _ in range(CAPACITY_MIN - 1):
            loop.cycle()
            clock.advance(60)
        held = loop.status.held["Deployment/shop/web"]
        assert "learning the per-pod capacity" in held  # reactive while it learns
        assert ledger.decisions(kind="scaling") == []
        with json_lines() as lines:
            for _ in range(3):
                loop.cycle()
                clock.advance(60)

        (decision, *_) = reversed(ledger.decisions(kind="scaling"))  # the first one
        evidence = decision.evidence
        # 56 % of a 70 % target: the HPA runs at 0.8 of it, so a pod carries load / 3 / 0.8
        near = load(decision.created_at - 60) / 3 / 0.8
        assert evidence["capacity_per_pod"] == pytest.approx(near, rel=0.05)
        assert evidence["capacity_source"].startswith("learned from")
        assert evidence["startup_seconds"] == pytest.approx(STARTUP)
        assert evidence["startup_source"] == "measured: 80th percentile of 3 pods"
        assert evidence["lead_seconds"] == pytest.approx(STARTUP + 60 + 60)
        assert decision.route == "auto"
        wanted = int(decision.proposal["to"])
        assert wanted > 2
        (hpa,) = fake.store.objects("HorizontalPodAutoscaler", "shop")
        assert hpa["spec"]["minReplicas"] == wanted  # written through the API
        # The write's log lines carry the decision's id (the loop sets no context itself).
        writes = [line for line in lines if line["logger"] == "autonomic.executor"]
        assert writes and all(line.get("decision_id") == decision.id for line in writes), lines
        labels = {"workload": "Deployment/shop/web"}
        assert metrics.registry.get_sample_value(
            "autonomic_scaling_startup_seconds", labels
        ) == pytest.approx(STARTUP)
    finally:
        approvals.close()
        cluster.stop()
        api.close()
        ledger.close()
