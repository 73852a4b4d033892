"""The daemon's clock and Prometheus's disagree (one node's NTP is off): ages and query
times are taken on Prometheus's clock, so the skew neither makes fresh samples look
stale (a Prometheus "frozen" that is not) nor old ones fresh (a frozen Prometheus, or
points from minutes ago, read as current).

Prometheus is a small fake on 127.0.0.1 whose clock runs ``skew`` seconds off the real
one (the daemon's, ``time.time``). It stores one gauge every 15 s, whose value is the
time of its own sample on Prometheus's clock, so a test can tell which sample it got;
evaluated at a time, a query answers the newest sample within the 5-minute lookback.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from prometheus_client import generate_latest

from agent.adapters import prometheus as adapter
from agent.adapters.prometheus import PrometheusReader
from agent.clock import FakeClock
from agent.errors import TransientError
from agent.metrics_port import INGESTION_MAX_AGE, runbook_query
from agent.observability import Metrics
from agent.read_watch import WatchedReader
from remediation.readings import PROMETHEUS_FROZEN

MINUTES_3 = 180.0
STEP = 15.0
LOOKBACK = 300.0


class Skewed(http.server.BaseHTTPRequestHandler):
    skew = 0.0  # Prometheus's clock minus the real one
    frozen_for = 0.0  # seconds, on its clock, since it stored its last sample

    def _now(self) -> float:
        return time.time() + self.skew

    def _last(self) -> float:
        return math.floor((self._now() - self.frozen_for) / STEP) * STEP

    def _at(self, t: float) -> float | None:
        """The gauge evaluated at ``t``: its newest sample at or before ``t``, within
        the lookback."""
        newest = min(self._last(), math.floor(t / STEP) * STEP)
        return newest if t - newest <= LOOKBACK else None

    def do_GET(self) -> None:
        url = urlparse(self.path)
        args = {k: v[0] for k, v in parse_qs(url.query).items()}
        data: dict[str, Any]
        if url.path == "/api/v1/status/tsdb":
            data = {"headStats": {"maxTime": int(self._last() * 1000)}}
        elif url.path == "/api/v1/query":
            t = float(args["time"]) if "time" in args else self._now()
            if args["query"] == "time()":
                data = {"resultType": "scalar", "result": [t, str(t)]}
            else:
                value = self._at(t)
                found = [] if value is None else [{"metric": {}, "value": [t, str(value)]}]
                data = {"resultType": "vector", "result": found}
        elif url.path == "/api/v1/query_range":
            start, end, step = float(args["start"]), float(args["end"]), float(args["step"])
            values = []
            t = start
            while t <= end:
                value = self._at(t)
                if value is not None:
                    values.append([t, str(value)])
                t += step
            data = {"resultType": "matrix", "result": [{"metric": {}, "values": values}]}
        else:
            self.send_error(404)
            return
        body = json.dumps({"status": "success", "data": data}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def prometheus(skew: float, frozen_for: float = 0.0) -> Iterator[type[Skewed]]:
    handler = type("Handler", (Skewed,), {"skew": skew, "frozen_for": frozen_for})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def _reader(handler: type[Skewed]) -> PrometheusReader:
    return PrometheusReader(handler.url, timeout=5)  # type: ignore[attr-defined]


@pytest.mark.parametrize("skew", [-MINUTES_3, MINUTES_3], ids=["daemon-ahead", "daemon-behind"])
def test_a_storing_prometheus_reads_fresh_whichever_clock_is_ahead(skew: float) -> None:
    """Prometheus stores a sample every 15 s. Before, with the daemon 3 minutes ahead,
    the newest sample was 3 minutes old by the daemon's clock: every runbook read was
    refused as ``PrometheusFrozen``. With it 3 minutes behind, the newest sample lay in
    the daemon's future, and a read at the daemon's now got the sample of 3 minutes ago
    as the current one."""
    with prometheus(skew) as handler:
        reader = _reader(handler)
        newest = reader.newest_sample()
        now = time.time()
        assert newest is not None and 0.0 <= now - newest <= STEP + 2.0
        read = runbook_query(reader, time.time)
        value = read("autonomic_gauge")  # not PrometheusFrozen
        # the newest sample, as Prometheus's clock has it now
        assert isinstance(value, float) and time.time() + skew - value <= STEP + 2.0
        [(_, stamped, _)] = reader.instant("autonomic_gauge", now)
        assert stamped == pytest.approx(now)  # on the daemon's clock, as asked
        offset = reader.clock_offset()
        assert offset is not None and offset == pytest.approx(skew, abs=1.0)


@pytest.mark.parametrize("skew", [-MINUTES_3, MINUTES_3], ids=["daemon-ahead", "daemon-behind"])
def test_a_frozen_prometheus_is_frozen_whichever_clock_is_ahead(skew: float) -> None:
    """Prometheus stored its last sample 4 minutes ago on its own clock. Before, with the
    daemon 3 minutes behind, that sample was 1 minute old by the daemon's clock: the read
    went ahead on the gauge's last value, stamped as current."""
    with prometheus(skew, frozen_for=240.0) as handler:
        reader = _reader(handler)
        newest = reader.newest_sample()
        assert newest is not None and time.time() - newest == pytest.approx(240.0, abs=STEP + 2)
        read = runbook_query(reader, time.time)
        with pytest.raises(TransientError) as info:
            read("autonomic_gauge")
        assert info.value.reason == PROMETHEUS_FROZEN
        assert "4m" in str(info.value) and time.time() - newest > INGESTION_MAX_AGE


def test_a_range_read_ends_at_prometheus_s_now_when_the_daemon_is_behind() -> None:
    """Before, a range ending at the daemon's now ended 3 minutes in Prometheus's past:
    its newest point was 3 minutes old, stamped as the daemon's now and flagged fresh."""
    with prometheus(MINUTES_3) as handler:
        reader = _reader(handler)
        reader.newest_sample()  # the loops ask this first in each cycle
        now = float(math.floor(time.time()))
        [found] = reader.range("autonomic_gauge", now - 600, now, STEP, now)
        assert found.usable and found.last_sample_at is not None
        assert now - found.last_sample_at <= STEP  # on the daemon's clock
        newest_value = float(found.series.values[-1])
        assert time.time() + MINUTES_3 - newest_value <= STEP + 2.0  # Prometheus's newest


def test_an_instant_read_is_not_evaluated_in_prometheus_s_future() -> None:
    """The daemon 3 minutes ahead asked Prometheus for ``time=`` its own now: Prometheus
    evaluated 3 minutes in its future, where a gauge that stopped 2.5 minutes ago (within
    the lookback, on Prometheus's clock) was already past it: no series."""
    with prometheus(-MINUTES_3, frozen_for=150.0) as handler:
        reader = _reader(handler)
        reader.newest_sample()
        found = reader.instant("autonomic_gauge", time.time())
        assert len(found) == 1


def test_an_offset_past_the_bound_is_logged_once_naming_both_clocks(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapter, "OFFSET_EVERY", 0.0)  # measured at each read
    with prometheus(MINUTES_3) as handler:
        reader = _reader(handler)
        with caplog.at_level(logging.INFO, logger="autonomic.prometheus"):
            for _ in range(3):
                reader.newest_sample()
            handler.skew = 0.2  # its node's time set right
            for _ in range(2):
                reader.newest_sample()
    said = [r for r in caplog.records if "clock" in r.getMessage()]
    assert [r.levelname for r in said] == ["WARNING", "INFO"]
    warning = said[0].getMessage()
    assert warning.startswith("Prometheus's clock is 3m ahead of the daemon's (Prometheus at ")
    assert "check NTP" in warning and warning.count(" UTC") == 2
    assert said[1].getMessage().startswith("Prometheus's clock is within 30s of the daemon's")
    offset = reader.clock_offset()
    assert offset is not None and abs(offset) < 1.0


def test_a_small_offset_moves_no_time(caplog: pytest.LogCaptureFixture) -> None:
    """Clocks kept by NTP differ by milliseconds: the times sent and returned stay the
    caller's own (whole seconds stay whole), and nothing is logged."""
    with prometheus(0.3) as handler:
        reader = _reader(handler)
        with caplog.at_level(logging.INFO, logger="autonomic.prometheus"):
            reader.newest_sample()
        assert not caplog.records
        offset = reader.clock_offset()
        assert offset is not None and abs(offset - 0.3) < 0.2
        at = float(math.floor(time.time()))
        [(_, stamped, _)] = reader.instant("autonomic_gauge", at)
        assert stamped == at


def test_the_offset_is_a_gauge_on_the_daemon_s_metrics() -> None:
    """``autonomic_prometheus_clock_offset_seconds``: Prometheus's clock minus the
    daemon's, set when the loops ask when Prometheus last stored (0 until then)."""
    metrics = Metrics()
    with prometheus(MINUTES_3) as handler:
        reads = WatchedReader(_reader(handler), metrics, time.time)
        assert metrics.prometheus_clock_offset._value.get() == 0
        reads.newest_sample()
    assert metrics.prometheus_clock_offset._value.get() == pytest.approx(MINUTES_3, abs=1.0)
    assert (
        "autonomic_prometheus_clock_offset_seconds 1" in generate_latest(metrics.registry).decode()
    )


def test_the_anomaly_loop_scores_a_storing_prometheus_with_the_daemon_s_clock_ahead(
    tmp_path: Path,
) -> None:
    """The daemon's node 3 minutes ahead of Prometheus's, which stores every 15 s. Before,
    the anomaly loop read its newest sample as 3 minutes old, more than two steps, and
    scored nothing: "Prometheus has stored no new sample since ...", for as long as the
    clocks stayed apart."""
    from agent.ledger import open_ledger
    from agent.settings import AnomalyQuery
    from tests.unit.bench_cycle.test_batched_guards import build_loop

    clock = FakeClock(time.time())
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    try:
        with prometheus(-MINUTES_3) as handler:
            loop = build_loop(ledger, clock, 0)
            loop.reader = _reader(handler)
            # half an hour of history to read and score, not build_loop's 3 hours
            loop.queries = [AnomalyQuery(name="rps", expr="rps", step=60, history=1800)]
            loop.cycle()
        assert "rps" not in loop.status.degraded, loop.status.degraded
        assert loop.status.points_scored >= 30  # the history, read at the first cycle
    finally:
        ledger.close()
