"""An anomaly query's ``breakdownBy`` against a real Prometheus: the rewritten query
(``remediation.promql.broken_down``) must return the parts of exactly the incident's
series, whatever its label values hold (quotes, backslashes, ``$``, regex
metacharacters, none at all), and the loop must rank the pod that carries the spike."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.adapters.prometheus import PrometheusReader
from agent.approvals import Approvals, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.ledger import open_ledger
from agent.loops.anomaly import AnomalyLoop
from agent.observability import Metrics
from agent.settings import AnomalyQuery, RoutingSettings
from remediation.promql import broken_down
from remediation.signals import Signal
from tests.harness.remote_write import remote_write
from tests.harness.servers import PrometheusServer, openmetrics, prometheus_server

pytestmark = pytest.mark.prometheus

NOW = math.floor(time.time() / 60) * 60
HISTORY_END = NOW - 40 * 60  # backfilled before; the 40 minutes since by remote write
METRIC = "http_requests_rate"
EXPR = f"sum by (namespace, service) ({METRIC})"
# A service whose name holds what PromQL strings and label_replace's template treat
# specially: a quote, a backslash, "$1", regex metacharacters.
ODD = 'we"b\\$1.*|(x)'
PODS = {
    ODD: ["web-0", "web-1", "web-2", "web-3"],
    "api": ["api-0", "api-1"],
    None: ["batch-0", "batch-1"],  # series without a service label
}
SPIKED = {"web-2", "batch-1"}  # +9 at NOW, on 1/s each


def rate(pod: str, t: float) -> float:
    wobble = 0.01 * math.sin(t / 600.0 + len(pod))
    return 1.0 + wobble + (9.0 if pod in SPIKED and t == NOW else 0.0)


def labels_of(service: str | None, pod: str) -> dict[str, str]:
    return {"namespace": "shop", "pod": pod, **({"service": service} if service else {})}


@pytest.fixture(scope="module")
def prometheus(prometheus_binaries: None) -> Iterator[PrometheusServer]:
    minutes = [float(t) for t in range(HISTORY_END - 3 * 3600, HISTORY_END + 1, 60)]
    backfill = [
        (METRIC, labels_of(service, pod), [(t, rate(pod, t)) for t in minutes])
        for service, pods in PODS.items()
        for pod in pods
    ]
    with prometheus_server(openmetrics(backfill)) as server:
        live = [float(t) for t in range(HISTORY_END + 60, NOW + 1, 60)]
        remote_write(
            server.url,
            [
                ({"__name__": METRIC, **labels_of(service, pod)}, [(t, rate(pod, t)) for t in live])
                for service, pods in PODS.items()
                for pod in pods
            ],
        )
        yield server


@pytest.fixture
def reader(prometheus: PrometheusServer) -> PrometheusReader:
    return PrometheusReader(prometheus.url, timeout=10, stale_after=300)


def test_the_rewritten_query_returns_each_series_own_parts(reader: PrometheusReader) -> None:
    """For every series of the query, the broken-down read returns the pods of that
    series and no other: the odd service name matched as written, and the series
    without a service label matched to the pods without one (before, it was matched on
    namespace alone and got every pod of the namespace)."""
    found = reader.range(EXPR, NOW - 600, NOW, 60, NOW + 30)
    assert len(found) == 3
    for series in found:
        parts = reader.range(
            broken_down(EXPR, ("pod",), series.labels), NOW - 600, NOW, 60, NOW + 30
        )
        service = series.labels.get("service")
        assert sorted(part.labels["pod"] for part in parts) == PODS[service], series.labels
        assert {part.labels.get("service") for part in parts} == {service}


def test_label_values_with_meaning_to_promql_or_label_replace_are_matched_as_written(
    prometheus: PrometheusServer, reader: PrometheusReader
) -> None:
    odd = [
        'a"b',
        "a\\b",
        "\\$1",
        "a$1b",
        "a${1}b",
        "$$x",
        ".*",
        "a|b",
        "^y$",
        "(x",
        "a\nb",
        "tab\there",
        "ünï",
        "",
    ]
    # Twelve labels besides: a long label set, every one matched on.
    many = {f"l{i}": f"v{i}" for i in range(12)}
    live = [(float(t), 1.0) for t in range(NOW - 300, NOW + 1, 60)]
    remote_write(
        prometheus.url,
        [
            ({"__name__": "odd_rate", **many, "pod": pod, **({"odd": v} if v else {})}, live)
            for v in odd
            for pod in ("p-0", "p-1")
        ],
    )
    expr = f"sum by (odd, {', '.join(many)}) (odd_rate)"
    found = reader.range(expr, NOW - 300, NOW, 60, NOW + 30)
    assert sorted(series.labels.get("odd", "") for series in found) == sorted(odd)
    for series in found:
        parts = reader.range(broken_down(expr, ("pod",), series.labels), NOW - 300, NOW, 60, NOW)
        assert [
            (part.labels.get("odd", ""), part.labels["pod"])
            for part in sorted(parts, key=lambda part: part.labels["pod"])
        ] == [(series.labels.get("odd", ""), "p-0"), (series.labels.get("odd", ""), "p-1")]
        assert all(part.labels.items() >= many.items() for part in parts)


def test_the_loop_names_the_pod_that_carries_each_spike(
    reader: PrometheusReader, tmp_path: Path
) -> None:
    clock = FakeClock(NOW + 30)
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    query = AnomalyQuery(
        name="rps", expr=EXPR, step=60, history=3 * 3600 + 2400, breakdownBy=["pod"]
    )
    signals: list[Signal] = []
    loop = AnomalyLoop(
        [query],
        reader=reader,
        ledger=ledger,
        decisions=decisions,
        submit=signals.extend,
        clock=clock,
    )
    try:
        loop.cycle()
        by_service = {signal.labels.get("service"): signal for signal in signals}
        assert set(by_service) == {ODD, None}, [s.labels for s in signals]
        for service, pod in ((ODD, "web-2"), (None, "batch-1")):
            breakdown = by_service[service].evidence["breakdown"]
            assert breakdown["series_read"] == len(PODS[service]), breakdown
            ranked = breakdown["ranked"]["pod"]
            assert {part["value"] for part in ranked} <= set(PODS[service]), breakdown
            first = ranked[0]
            assert first["value"] == pod and first["share"] > 0.99, breakdown
            assert first["during"] - first["before"] == pytest.approx(9.0, abs=0.1)
            said = by_service[service].evidence["breakdown_summary"]
            assert said.startswith(f"mostly pod {pod} (100 %)"), said
    finally:
        approvals.close()
        ledger.close()
