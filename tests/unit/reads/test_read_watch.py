"""``WatchedReader``: every request to Prometheus counted, answered or failed by reason,
whichever loop made it; the loops see the same answers and the same errors."""

from __future__ import annotations

import http.server
import logging
import math
import threading

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


def _told(caplog: pytest.LogCaptureFixture) -> list[str]:
    said = [r.getMessage() for r in caplog.records if r.name == "autonomic.prometheus"]
    caplog.clear()
    return said


def test_an_outage_is_told_once_then_summarised_then_its_end_with_how_long(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Prometheus down for 40 minutes, read 4 times a minute: one warning when it starts,
    a summary every 10 minutes (how long, how many failed, the last error), one line when
    a read is answered again, with how long it failed; the metric counts every read."""
    caplog.set_level(logging.INFO, logger="autonomic.prometheus")
    metrics, clock, inner = Metrics(), FakeClock(1_700_000_000.0), Scripted()
    reader = WatchedReader(inner, metrics, clock.now, summary_every=600.0)
    reader.instant("up", clock.now())
    assert _told(caplog) == []  # answered: nothing to say

    inner.next = TransientError("cannot connect to Prometheus at http://x", reason="PrometheusDown")
    said: list[tuple[float, str]] = []
    for _ in range(40 * 4):  # 40 minutes, a read every 15 s
        with pytest.raises(TransientError):
            reader.range("up", 0, 60, 60, 60)
        said += [(clock.now() - 1_700_000_000.0, m) for m in _told(caplog)]
        clock.advance(15)
    assert [at for at, _ in said] == [0.0, 600.0, 1200.0, 1800.0]  # the last read: 39m45s
    first = said[0][1]
    assert first.startswith(
        "reads from Prometheus are failing: cannot connect to Prometheus at http://x "
        "(PrometheusDown)."
    )
    assert "A summary follows every 10 min" in first
    assert said[2][1] == (
        "reads from Prometheus still failing, for 20 min (since 2023-11-14 22:13:20 UTC): "
        "81 reads failed (PrometheusDown 81), none answered; the last error: cannot connect "
        "to Prometheus at http://x"
    )
    assert _failures(metrics, "PrometheusDown") == 160  # every read counted, told or not

    inner.next = None
    reader.instant("up", clock.now())
    reader.instant("up", clock.now())
    assert _told(caplog) == [
        "reads from Prometheus are answered again, after 40 min failing (since "
        "2023-11-14 22:13:20 UTC; 160 reads failed)"
    ]
    assert reader.tally().failed == {"PrometheusDown": 160}


def test_a_rejected_query_is_no_outage_and_short_spells_are_told_together(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="autonomic.prometheus")
    metrics, clock, inner = Metrics(), FakeClock(1_700_000_000.0), Scripted()
    reader = WatchedReader(inner, metrics, clock.now, summary_every=600.0)
    # A query Prometheus refuses, between answered ones, every minute: the loop says it.
    for _ in range(30):
        inner.next = PermanentError("Prometheus rejected 'up{'", reason="PrometheusHTTP400")
        with pytest.raises(PermanentError):
            reader.instant("up{", clock.now())
        inner.next = None
        reader.instant("up", clock.now())
        clock.advance(60)
    assert _told(caplog) == []
    assert _failures(metrics, "PrometheusHTTP400") == 30

    # Reads failing on and off (a timeout now and then): told when it first happens,
    # then not again within 10 minutes, the failures in between counted into the next.
    slow = TransientError("Prometheus did not answer within 10 s", reason="PrometheusTimeout")
    lines: list[str] = []
    for _ in range(15):
        inner.next = slow
        with pytest.raises(TransientError):
            reader.instant("up", clock.now())
        inner.next = None
        reader.instant("up", clock.now())
        lines += _told(caplog)
        clock.advance(60)
    assert len(lines) == 4, lines  # at 0 and at 10 min: failing, answered again
    assert lines[0].startswith("reads from Prometheus are failing: Prometheus did not answer")
    assert lines[1].startswith("reads from Prometheus are answered again, after 0 s failing")
    earlier = "; 9 more failed, in short spells between answered reads, since the last report"
    assert earlier in lines[2]
    assert _failures(metrics, "PrometheusTimeout") == 15


def test_a_prometheus_down_then_back_over_the_wire_is_told_three_times(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The real client against a port nobody listens on for 25 minutes of fake time,
    then a server that answers there: the first failure, two summaries, the recovery."""
    caplog.set_level(logging.INFO, logger="autonomic.prometheus")
    metrics, clock, port = Metrics(), FakeClock(1_700_000_000.0), free_port()
    reader = WatchedReader(
        PrometheusReader(f"http://127.0.0.1:{port}", timeout=2), metrics, clock.now
    )
    for _ in range(26):
        with pytest.raises(TransientError):
            reader.instant("vector(1)", clock.now())
        clock.advance(60)
    down = _told(caplog)
    assert len(down) == 3, down
    assert down[0].startswith(
        f"reads from Prometheus are failing: cannot connect to Prometheus at "
        f"http://127.0.0.1:{port} (PrometheusDown)."
    )
    assert down[2].startswith(
        "reads from Prometheus still failing, for 20 min (since 2023-11-14 22:13:20 UTC): "
        "21 reads failed (PrometheusDown 21), none answered"
    )

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert reader.instant("vector(1)", clock.now()) == []
    finally:
        server.shutdown()
        server.server_close()
    assert _told(caplog) == [
        "reads from Prometheus are answered again, after 26 min failing (since "
        "2023-11-14 22:13:20 UTC; 26 reads failed)"
    ]
    assert _failures(metrics, "PrometheusDown") == 26
