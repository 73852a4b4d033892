"""A workload that picks its load query by name (``autonomic.dev/load-query``) on real
components: the annotation read through the Kubernetes client from the in-repo API
server, the named query's series read from a real Prometheus, the decision and the
model recorded in the real ledger.

The queue consumer's messages step from 100 to 500 a second for an hour every day, and
the clock starts 8 minutes before today's step; its HTTP requests (what the default
query reads) stay at 1 a second. Only a forecast of the messages raises the floor ahead
of the step."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakekube import FakeApiServer
from tests.fakekube.seed import seed_deployment, seed_hpa, seed_node
from tests.harness.remote_write import remote_write
from tests.harness.servers import PrometheusServer, openmetrics, prometheus_server
from tests.integration.loops.scaling_rig import ScalingRig

pytestmark = pytest.mark.prometheus

NOW = math.floor(time.time() / 60) * 60
HISTORY_END = NOW - 60 * 60
START = NOW - 15 * 60
RISE = START + 8 * 60
DEFAULT = 'http_rps{namespace="$namespace",deployment="$workload"}'
# Another metric with its own label for the workload, as a queue exporter writes it.
QUEUE = 'queue_messages_rate{namespace="$namespace",consumer="$workload"}'
CAPACITY = 50.0
LOW, HIGH = 100.0, 500.0


def messages(t: float) -> float:
    return HIGH if (t - RISE) % 86400 < 3600 else LOW


@pytest.fixture(scope="module")
def prometheus(prometheus_binaries: None) -> Iterator[PrometheusServer]:
    minutes = range(int(HISTORY_END - 8 * 86400), int(HISTORY_END) + 1, 60)
    live = range(int(HISTORY_END) + 60, int(NOW) + 1, 60)
    queue = {"namespace": "shop", "consumer": "worker"}
    http = {"namespace": "shop", "deployment": "worker"}
    series = [
        ("queue_messages_rate", queue, [(float(t), messages(t)) for t in minutes]),
        ("http_rps", http, [(float(t), 1.0) for t in minutes]),
    ]
    with prometheus_server(openmetrics(series)) as server:
        remote_write(
            server.url,
            [
                (
                    {"__name__": "queue_messages_rate", **queue},
                    [(float(t), messages(t)) for t in live],
                ),
                ({"__name__": "http_rps", **http}, [(float(t), 1.0) for t in live]),
            ],
        )
        yield server


def test_a_workload_is_scaled_on_the_load_query_its_annotation_names(
    prometheus: PrometheusServer, fake: FakeApiServer, tmp_path: Path
) -> None:
    seed_node(fake.store, "node-1")
    seed_deployment(fake.store, "worker", namespace="shop", replicas=2, images=("worker:1",))

    def opt_in(obj: dict[str, Any]) -> None:
        obj["metadata"].setdefault("labels", {})["autonomic.dev/enabled"] = "true"
        obj["metadata"].setdefault("annotations", {}).update(
            {
                "autonomic.dev/predictive": "true",
                "autonomic.dev/capacity-per-pod": str(int(CAPACITY)),
                "autonomic.dev/startup-seconds": "600",
                "autonomic.dev/load-query": "queue",
            }
        )

    fake.store.modify("Deployment", "shop", "worker", opt_in)
    seed_hpa(
        fake.store, "worker", target="worker", namespace="shop", min_replicas=2, max_replicas=40
    )
    rig = ScalingRig(
        prometheus, fake, tmp_path, start=START, query=DEFAULT, load_queries={"queue": QUEUE}
    )
    try:
        rig.cycles(1)
        assert rig.loop.status.held == {}
        (decision,) = rig.ledger.decisions(kind="scaling")
        assert decision.subject == "Deployment/shop/worker"
        assert decision.evidence["query"] == (
            'queue_messages_rate{namespace="shop",consumer="worker"}'
        )
        # Sized for the messages' step 8 minutes away: no forecast of 1 request a
        # second would ask for more than the floor's floor.
        assert decision.evidence["forecast_peak"] > 3 * LOW
        assert int(decision.proposal["to"]) > 2
    finally:
        rig.close()
