"""A clean shutdown saves the anomaly detectors' state: a daemon built by
``build_daemon`` against the fake API server and a real Prometheus, stopped as SIGTERM
stops it (``Runtime.stop``), and started again."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agent.clock import FakeClock
from agent.ledger import open_ledger
from agent.settings import Settings, load_settings
from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.fakekube.seed import seed_node
from tests.harness.gates import SwitchGate
from tests.harness.servers import PrometheusServer, free_port, openmetrics, prometheus_server

pytestmark = pytest.mark.prometheus

END = math.floor(time.time() / 60) * 60 - 3 * 3600  # the newest backfilled sample
LABELS = {"namespace": "shop", "deployment": "web"}
KEY = "anomaly/web-rps{__name__=http_requests_rate,deployment=web,namespace=shop}"


@pytest.fixture(scope="module")
def prometheus(prometheus_binaries: None) -> Iterator[PrometheusServer]:
    rng = np.random.default_rng(3)
    minutes = np.arange(END - 6 * 3600, END + 1, 60.0)
    samples = [(float(t), 100 + 10 * math.sin(t / 3600) + rng.normal(0, 1)) for t in minutes]
    with prometheus_server(openmetrics([("http_requests_rate", LABELS, samples)])) as server:
        yield server


@pytest.fixture
def fake() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver()
    seed_node(server.store, "node-1")
    yield server
    server.stop()


def _settings(tmp_path: Path, prometheus: PrometheusServer) -> Settings:
    path = tmp_path / "autonomic.yaml"
    path.write_text(
        f"""
mode: propose
prometheus: {{url: "{prometheus.url}", timeout: 5s}}
ledger: {{url: "sqlite:///{tmp_path / "ledger.sqlite"}"}}
leaderElection: {{enabled: false}}
server: {{host: 127.0.0.1, port: {free_port()}}}
runbooks: []
anomalyQueries: [{{name: web-rps, expr: http_requests_rate, step: 60s, history: 1d}}]
"""
    )
    return load_settings(path, {})


def _run_anomaly_once_and_stop(
    settings: Settings, fake: FakeApiServer, clock: FakeClock, gate: SwitchGate | None = None
) -> tuple[int, float]:
    """(points scored, autonomic_prometheus_last_success_timestamp_seconds)."""
    from agent.daemon import build_daemon

    daemon, runtime = build_daemon(settings, {}, clock=clock, kube_host=fake.url)
    assert runtime.server is not None
    runtime.server.start()
    try:
        if gate is not None:
            daemon.gate = gate
        (job,) = [job for job in daemon.jobs() if job.name == "anomaly"]
        job.fn()
        assert daemon.anomaly.status.degraded == {}
        if gate is not None:
            gate.leader = False  # another replica took the lease over
        scored = daemon.anomaly.status.points_scored
        answered = daemon.metrics.prometheus_last_success._value.get()
    finally:
        runtime.stop()  # what SIGTERM runs: jobs stopped, before_release, lease, on_stop
    return scored, answered


def test_a_clean_shutdown_saves_the_detectors_and_a_restart_reads_only_whats_new(
    prometheus: PrometheusServer, fake: FakeApiServer, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, prometheus)
    clock = FakeClock(END + 30)
    scored, answered = _run_anomaly_once_and_stop(settings, fake, clock)
    assert scored > 6 * 60  # the whole history, read at start
    assert answered == END + 30  # the reader's answers reach the daemon's metrics

    # One cycle (the periodic share saves every 10th): saved by the shutdown alone.
    ledger = open_ledger(settings.ledger.url, clock.now())
    try:
        saved, version = ledger.guard(KEY)
        assert version == 1 and saved["last_ts"] == clock.now()  # the newest point read
    finally:
        ledger.close()

    clock.advance(60)  # restarted a minute later: a point or two, not six hours again
    again, _ = _run_anomaly_once_and_stop(settings, fake, clock)
    assert again <= 2


def test_a_replica_that_lost_the_lease_saves_nothing_at_shutdown(
    prometheus: PrometheusServer, fake: FakeApiServer, tmp_path: Path
) -> None:
    """The state is the leader's: a former leader's memory may be older than what the
    new leader has saved since, and must not overwrite it."""
    settings = _settings(tmp_path, prometheus)
    clock = FakeClock(END + 30)
    scored, _ = _run_anomaly_once_and_stop(settings, fake, clock, SwitchGate(leader=True))
    assert scored > 0
    ledger = open_ledger(settings.ledger.url, clock.now())
    try:
        assert ledger.guard_keys("anomaly/") == []
    finally:
        ledger.close()
