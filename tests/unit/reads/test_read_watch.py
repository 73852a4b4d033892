"""``WatchedReader``: every request to Prometheus counted, answered or failed by reason,
whichever loop made it; the loops see the same answers and the same errors."""

from __future__ import annotations

import math

import pytest
from prometheus_client import generate_latest

from agent.adapters.prometheus import PrometheusReader
from agent.clock import FakeClock
from agent.errors import PermanentError, TransientError
from agent.metrics_port import MetricSeries
from agent.observability import Metrics
from agent.read_watch import WatchedReader
from tests.harness.servers import free_port


class Scripted:
    """A reader that answers, or raises, what the test says next."""

    def __init__(self) -> None:
        self.next: Exception | None = None

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        if self.next is not None:
            raise self.next
        return []

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        if self.next is not None:
            raise self.next
        return [({"job": "x"}, at, 1.0)]


def _failures(metrics: Metrics, reason: str) -> float:
    return float(metrics.prometheus_failures.labels(reason=reason)._value.get())


def test_failures_are_counted_by_reason_and_raised_unchanged() -> None:
    metrics, clock, inner = Metrics(), FakeClock(1_000.0), Scripted()
    reader = WatchedReader(inner, metrics, clock.now)
    assert metrics.prometheus_last_success._value.get() == 0  # never answered yet

    down = TransientError("cannot connect to Prometheus at http://x", reason="PrometheusDown")
    inner.next = down
    for _ in range(2):
        with pytest.raises(TransientError) as raised:
            reader.range("up", 0, 60, 60, 60)
        assert raised.value is down
    rejected = PermanentError("Prometheus rejected 'up{'", reason="PrometheusHTTP400")
    inner.next = rejected
    with pytest.raises(PermanentError):
        reader.instant("up{", 60)
    inner.next = ValueError("bad range")  # the caller's mistake, not Prometheus's
    with pytest.raises(ValueError):
        reader.range("up", 60, 0, 60, 60)

    assert _failures(metrics, "PrometheusDown") == 2
    assert _failures(metrics, "PrometheusHTTP400") == 1
    assert metrics.prometheus_last_success._value.get() == 0
    # not job errors: the loops handle these themselves
    assert "autonomic_errors_total{" not in generate_latest(metrics.registry).decode()
    tally = reader.tally()
    assert tally.failed == {"PrometheusDown": 2, "PrometheusHTTP400": 1}
    assert (tally.answered, tally.failures, tally.requests) == (0, 3, 3)
    assert tally.last_error == "Prometheus rejected 'up{'"

    inner.next = None
    clock.advance(30)
    assert reader.instant("up", 1_030.0) == [({"job": "x"}, 1_030.0, 1.0)]
    assert metrics.prometheus_last_success._value.get() == 1_030.0
    clock.advance(30)
    assert reader.range("up", 0, 60, 60, 60) == []  # an empty answer is an answer
    assert metrics.prometheus_last_success._value.get() == 1_060.0
    assert reader.tally().answered == 2 and reader.tally().requests == 5


def test_a_prometheus_nobody_listens_for_counts_as_down_over_the_wire() -> None:
    metrics, clock = Metrics(), FakeClock(1_000.0)
    url = f"http://127.0.0.1:{free_port()}"
    reader = WatchedReader(PrometheusReader(url, timeout=2), metrics, clock.now)
    with pytest.raises(TransientError, match="cannot connect to Prometheus at"):
        reader.instant("vector(1)", 1_000.0)
    text = generate_latest(metrics.registry).decode()
    assert 'autonomic_prometheus_request_failures_total{reason="PrometheusDown"} 1.0' in text
    assert "autonomic_prometheus_last_success_timestamp_seconds 0.0" in text
    assert math.isclose(_failures(metrics, "PrometheusDown"), 1.0)
    assert reader.tally().last_error == f"cannot connect to Prometheus at {url}"
