"""The anomaly loop against a real Prometheus: history backfilled, live points by remote
write, an outage mid-test, and detector state restored from the ledger."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agent.adapters.prometheus import PrometheusReader
from agent.approvals import Approvals, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.ledger import open_ledger
from agent.loops.anomaly import AnomalyLoop
from agent.observability import Metrics
from agent.settings import AnomalyQuery, RoutingSettings
from remediation.signals import Signal
from tests.harness.remote_write import remote_write
from tests.harness.servers import PrometheusServer, openmetrics, prometheus_server

pytestmark = pytest.mark.prometheus

NOW = math.floor(time.time() / 60) * 60
HISTORY_END = NOW - 3 * 3600
OLD_SPIKE = HISTORY_END - 86400  # an anomaly a day before the history ends
LABELS = {"namespace": "shop", "deployment": "web", "job": "web"}


def rps(t: float, rng: np.random.Generator) -> float:
    # The daily phase is counted from NOW, so the data (and the verdicts) are the same
    # whatever the time of day the test runs at.
    daily = 100 + 60 * math.sin(2 * math.pi * ((t - NOW) % 86400) / 86400)
    return float(daily + rng.normal(0, 3))


@pytest.fixture(scope="module")
def prometheus(prometheus_binaries: None) -> Iterator[PrometheusServer]:
    rng = np.random.default_rng(1)
    minutes = np.arange(HISTORY_END - 3 * 86400, HISTORY_END + 1, 60.0)
    history = [(float(t), 1500.0 if t == OLD_SPIKE else rps(t, rng)) for t in minutes]
    with prometheus_server(openmetrics([("http_requests_rate", LABELS, history)])) as server:
        yield server


def test_spike_after_a_gap_opens_one_incident_and_state_survives_restart(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    rng = np.random.default_rng(2)
    live = [(NOW - 60.0 * i, rps(NOW - 60.0 * i, rng)) for i in range(30, 0, -1)]
    live += [(float(NOW), 2000.0)]  # a spike twenty times the usual load
    remote_write(prometheus.url, [({"__name__": "http_requests_rate", **LABELS}, live)])

    clock = FakeClock(NOW + 30)
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    query = AnomalyQuery(name="web-rps", expr="http_requests_rate", step=60, history=4 * 86400)
    signals: list[Signal] = []
    reader = PrometheusReader(prometheus.url, timeout=10, stale_after=300)
    loop = AnomalyLoop(
        [query],
        reader=reader,
        ledger=ledger,
        decisions=decisions,
        submit=signals.extend,
        clock=clock,
    )
    loop.cycle()
    assert loop.status.points_scored > 3 * 1440
    # The first read is history: learnt from, never reported, not even the day-old spike.
    # Only the live spike, in the last minutes, opens an incident.
    assert loop.status.history_points > 3 * 1440
    assert loop.status.series == 1  # one series, whose contextual detector has learnt
    assert loop.status.contexts == loop.series[next(iter(loop.series))].detector.context_size
    assert loop.status.contexts > 0
    assert [s.evidence["observed"] for s in signals] == [2000.0], [
        (s.evidence, s.since) for s in signals
    ]
    (signal,) = signals
    assert signal.kind == "anomaly" and signal.direction == "up"
    assert str(signal.target) == "Deployment/shop/web"
    observed = [d for d in ledger.decisions(kind="anomaly") if d.evidence["observed"] == 2000.0]
    assert len(observed) == 1 and observed[0].route == "observe"
    reported = len(signals)

    # The same points are never scored twice; no new incident for the same spike.
    scored = loop.status.points_scored
    loop.cycle()
    assert loop.status.points_scored == scored and len(signals) == reported

    # Prometheus down: nothing is scored, the loop says why, and no signal appears.
    loop.save()
    prometheus.stop()
    try:
        clock.advance(60)
        loop.cycle()
        assert "web-rps" in loop.status.degraded
        assert "cannot connect" in loop.status.degraded["web-rps"]
    finally:
        prometheus.start()

    # A fresh loop (a restarted daemon) resumes from the saved state: no new warm-up,
    # and it does not re-score or re-report the old spike.
    restarted = AnomalyLoop(
        [query],
        reader=reader,
        ledger=ledger,
        decisions=decisions,
        submit=signals.extend,
        clock=clock,
    )
    restarted.cycle()
    assert restarted.status.points_scored <= 2
    # The incident is still open: its signal is sent again (the one sent before may have
    # died in the engine's queue with the process), the same incident, not recorded again.
    assert [s.dedup_key for s in signals[reported:]] == [signal.dedup_key]
    assert restarted.status.incidents_opened == 0
    assert (
        len([d for d in ledger.decisions(kind="anomaly") if d.evidence["observed"] == 2000.0]) == 1
    )
    approvals.close()


def test_a_p99_at_plus_inf_past_stale_after_opens_an_off_scale_incident(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    """Through Prometheus (the +Inf samples remote-written): a p99 that has been +Inf
    for 8 minutes, staleAfter being 5, is not "stale data", and opens one incident,
    off_scale and up, saying what +Inf means; the ledger and the saved state take it."""
    labels = {"__name__": "http_request_duration_p99", **LABELS}
    finite = [(NOW - 60.0 * i, 0.42 + 0.01 * math.sin(i / 5.0)) for i in range(50, 7, -1)]
    off = [(NOW - 60.0 * i, math.inf) for i in range(7, -1, -1)]
    remote_write(prometheus.url, [(labels, finite + off)])

    clock = FakeClock(NOW + 30)
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    query = AnomalyQuery(
        name="web-p99", expr="http_request_duration_p99", step=60, history=2 * 3600
    )
    signals: list[Signal] = []
    loop = AnomalyLoop(
        [query],
        reader=PrometheusReader(prometheus.url, timeout=10, stale_after=300),
        ledger=ledger,
        decisions=decisions,
        submit=signals.extend,
        clock=clock,
    )
    loop.cycle()
    assert loop.status.degraded == {}
    (signal,) = signals
    assert signal.direction == "up" and signal.evidence["observed"] == "+Inf"
    # the third step (of a grid on :30, each seeing the sample before) that reads +Inf
    assert signal.since == NOW + 30 - 5 * 60
    (decision,) = ledger.decisions(kind="anomaly", decision_type="anomaly/web-p99")
    assert decision.reason_code == "AnomalyOffScale"
    assert "+Inf for 3 steps running" in decision.reason and "add buckets" in decision.reason
    loop.save()
    approvals.close()
