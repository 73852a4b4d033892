"""The anomaly loop on what a real Prometheus sends when things go wrong on the wire:
+Inf, -Inf and NaN samples, a counter reset inside a ``rate()``, and a query that
Prometheus rejects (HTTP 400) next to queries that keep working."""

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
LOAD = {"namespace": "shop", "deployment": "web"}
REQS = {"namespace": "shop", "deployment": "api"}
PER_MINUTE = 6000.0  # the counter's increase: 100 requests a second
# The first read, in pieces of 720 steps, ends with a piece of 541: the newest piece is
# long enough to hold the last finite samples, which say whether the data is fresh.
HISTORY = 45 * 3600.0


@pytest.fixture(scope="module")
def prometheus(prometheus_binaries: None) -> Iterator[PrometheusServer]:
    rng = np.random.default_rng(3)
    minutes = np.arange(HISTORY_END - 86400, HISTORY_END + 1, 60.0)
    load = [(float(t), float(100 + rng.normal(0, 3))) for t in minutes]
    counts = np.cumsum(PER_MINUTE + rng.normal(0, 60, minutes.size))
    reqs = [(float(t), float(c)) for t, c in zip(minutes, counts, strict=True)]
    backfill = openmetrics([("wire_load", LOAD, load), ("wire_reqs_total", REQS, reqs)])
    with prometheus_server(backfill) as server:
        yield server


def test_non_finite_samples_a_counter_reset_and_a_rejected_query(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    rng = np.random.default_rng(4)
    live = [NOW - 60.0 * i for i in range(40, -1, -1)]
    load = [(t, float(100 + rng.normal(0, 3))) for t in live]
    # the newest three samples are not numbers: a histogram_quantile in its top bucket,
    # a division by zero
    load[-3:] = [(NOW - 120.0, math.inf), (NOW - 60.0, -math.inf), (float(NOW), math.nan)]
    # the counter restarts from zero (the pod restarted) five minutes ago
    count, reqs = 1e7, []
    for t in live:
        count = 0.0 if t == NOW - 300 else count + PER_MINUTE + float(rng.normal(0, 60))
        reqs.append((t, count))
    remote_write(
        prometheus.url,
        [
            ({"__name__": "wire_load", **LOAD}, load),
            ({"__name__": "wire_reqs_total", **REQS}, reqs),
        ],
    )

    clock = FakeClock(NOW + 30)
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    queries = [
        AnomalyQuery(name="load", expr="wire_load", step=60, history=HISTORY),
        AnomalyQuery(name="rps", expr="rate(wire_reqs_total[5m])", step=60, history=HISTORY),
        # the control: the raw counter, whose reset is a fall no detector could miss
        AnomalyQuery(name="raw", expr="wire_reqs_total", step=60, history=HISTORY),
        # well formed, so loading lets it through, but Prometheus refuses it: rate() of an
        # instant vector
        AnomalyQuery(name="broken", expr="rate(wire_load)", step=60, history=HISTORY),
    ]
    signals: list[Signal] = []
    loop = AnomalyLoop(
        queries,
        reader=PrometheusReader(prometheus.url, timeout=10, stale_after=300),
        ledger=ledger,
        decisions=decisions,
        submit=signals.extend,
        clock=clock,
    )
    try:
        loop.cycle()
        assert set(loop.status.degraded) == {"broken"}
        assert "rejected" in loop.status.degraded["broken"]
        assert "HTTP 400" in loop.status.degraded["broken"]
        # Both series learnt (the day of history and the live minutes), neither reported:
        # NaN is missing data, two infinite samples are fewer than an off-scale incident
        # needs (forecasting.anomaly.off_scale), and rate() sees through the reset ...
        (load_key,) = [k for k in loop.series if k.startswith("load{")]
        (rps_key,) = [k for k in loop.series if k.startswith("rps{")]
        assert loop.series[load_key].last_ts >= NOW - 60
        # the read's grid is at half past each minute: the last real point is the -Inf
        # sample of NOW - 60 s, at NOW - 30 s (an infinite value is data off the scale,
        # not silence); the NaN after it is missing
        assert loop.series[load_key].last_real == NOW - 30
        assert loop.series[load_key].off_scale == 2  # the +Inf and -Inf running
        assert loop.series[rps_key].last_ts >= NOW - 60
        # ... while the raw counter's fall to zero is one (the detectors do see it)
        assert [(s.name, s.evidence["observed"]) for s in signals] == [("raw", 0.0)]

        # The broken query stays broken and the others go on scoring, each cycle.
        remote_write(prometheus.url, [({"__name__": "wire_load", **LOAD}, [(NOW + 60.0, 101.0)])])
        clock.advance(60)
        scored = loop.status.points_scored
        loop.cycle()
        assert set(loop.status.degraded) == {"broken"}
        assert loop.status.points_scored > scored
        assert loop.series[load_key].last_real == NOW + 90
        assert len(signals) == 1
    finally:
        approvals.close()
        ledger.close()
