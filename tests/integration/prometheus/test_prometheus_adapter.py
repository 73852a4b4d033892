"""The Prometheus adapter against a real Prometheus (Debian's package) on 127.0.0.1.

History is backfilled with ``promtool tsdb create-blocks-from openmetrics`` before the
server starts; live samples arrive by remote write.
"""

from __future__ import annotations

import contextlib
import gc
import http.server
import math
import threading
import time
import weakref
from collections.abc import Iterator

import numpy as np
import pytest

from agent.adapters.prometheus import (
    MAX_ABANDONED,
    MAX_POINTS_PER_QUERY,
    PrometheusReader,
    QueryShapeError,
)
from agent.errors import PermanentError, TransientError
from agent.metrics_port import runbook_query
from tests.harness.remote_write import remote_write
from tests.harness.servers import PrometheusServer, free_port, openmetrics, prometheus_server

pytestmark = pytest.mark.prometheus

HOUR = 3600.0
# Backfilled history ends three hours ago, clear of the head block's range.
END = math.floor(time.time() / 60) * 60 - 3 * HOUR
START = END - 2 * 86400


def _load(t: float) -> float:
    return 100.0 + 50.0 * math.sin(2 * math.pi * (t % 86400) / 86400)


def _history() -> str:
    minutes = np.arange(START, END + 1, 60.0)
    gap = (minutes >= END - 10 * HOUR) & (minutes < END - 9.5 * HOUR)  # a 30-minute hole
    odd = [
        (float(t), float("nan") if i == 5 else float("inf") if i == 7 else 1.0)
        for i, t in enumerate(minutes[-20:])
    ]
    return openmetrics(
        [
            ("autonomic_test_load", {"job": "web"}, [(t, _load(t)) for t in minutes[~gap]]),
            ("autonomic_test_multi", {"pod": "a"}, [(t, 1.0) for t in minutes[-60:]]),
            ("autonomic_test_multi", {"pod": "b"}, [(t, 2.0) for t in minutes[-60:]]),
            ("autonomic_test_odd", {"job": "web"}, odd),
        ]
    )


@pytest.fixture(scope="module")
def prometheus(prometheus_binaries: None) -> Iterator[PrometheusServer]:
    with prometheus_server(_history()) as server:
        yield server


@pytest.fixture
def reader(prometheus: PrometheusServer) -> PrometheusReader:
    return PrometheusReader(prometheus.url, timeout=5, stale_after=600)


def test_long_range_is_split_under_the_point_limit(reader: PrometheusReader) -> None:
    step = 15.0
    assert (END - START) / step + 1 > MAX_POINTS_PER_QUERY  # the query needs splitting
    found = reader.range_one("autonomic_test_load", START, END, step, now=END + 60)
    values = found.series.values
    assert len(values) == int((END - START) / step) + 1
    probe = START + 3 * HOUR
    slot = int((probe - START) / step)
    assert values[slot] == pytest.approx(_load(probe))
    assert found.usable  # evaluated "now" = END + 60 s: fresh


def test_gaps_are_nan_and_flagged(reader: PrometheusReader) -> None:
    found = reader.range_one("autonomic_test_load", START, END, 60, now=END)
    hole = (found.series.timestamps >= END - 9.85 * HOUR) & (
        found.series.timestamps < END - 9.5 * HOUR
    )
    assert np.isnan(found.series.values[hole]).all()
    assert 0 < found.gap_fraction < 0.05


def test_a_read_inside_a_gap_is_no_series(reader: PrometheusReader) -> None:
    """Prometheus leaves a series out of a range result where it has no point, so the
    scaling loop's read of its last minutes, inside a gap, gets no series at all, not
    one of NaN (the loop's tests fake a gap the same way)."""
    inside = END - 9.8 * HOUR  # 12 minutes into the hole: past the 5-minute lookback
    assert reader.range("autonomic_test_load", inside, inside + 300, 60, inside + 300) == []
    (around,) = reader.range("autonomic_test_load", inside - 1800, inside, 60, inside)
    assert around.last_sample_at is not None and around.last_sample_at < inside


def test_nan_and_infinite_samples_are_explicit(reader: PrometheusReader) -> None:
    found = reader.range_one("autonomic_test_odd", END - 19 * 60, END, 60, now=END)
    assert found.non_finite_samples == 2
    assert np.isnan(found.series.values).sum() == 2
    assert np.nanmax(found.series.values) == 1.0


def test_old_data_is_stale_and_not_usable(reader: PrometheusReader) -> None:
    found = reader.range_one("autonomic_test_load", END - HOUR, time.time(), 60, time.time())
    assert found.stale and not found.usable
    assert found.last_sample_at is not None and found.last_sample_at <= END + 300


def test_several_series_where_one_was_expected(reader: PrometheusReader) -> None:
    with pytest.raises(QueryShapeError, match=r"expected one series .* got 2"):
        reader.range_one("autonomic_test_multi", END - HOUR, END, 60, END)
    with pytest.raises(QueryShapeError, match="got 0"):
        reader.range_one("autonomic_test_absent", END - HOUR, END, 60, END)
    both = reader.range("autonomic_test_multi", END - HOUR, END, 60, END)
    assert sorted(s.labels["pod"] for s in both) == ["a", "b"]


def test_bad_query_is_permanent(reader: PrometheusReader) -> None:
    with pytest.raises(PermanentError, match="HTTP 400") as info:
        reader.range("sum(rate(", END - HOUR, END, 60, END)
    assert not isinstance(info.value, TransientError)


def test_live_samples_by_remote_write(
    reader: PrometheusReader, prometheus: PrometheusServer
) -> None:
    now = time.time()
    samples = [(now - 60 * i, float(i)) for i in range(10, -1, -1)]
    remote_write(prometheus.url, [({"__name__": "autonomic_live", "job": "web"}, samples)])
    found = reader.range_one("autonomic_live", now - 600, now, 60, now)
    assert found.usable
    assert np.nanmax(found.series.values) == pytest.approx(10.0)
    latest = reader.instant("autonomic_live", now)
    assert len(latest) == 1 and latest[0][2] == pytest.approx(0.0)


def test_newest_sample_is_when_prometheus_last_stored_one(
    reader: PrometheusReader, prometheus: PrometheusServer
) -> None:
    """A gauge no longer written keeps answering instant queries with its last value,
    stamped with the query's time; only the TSDB status tells that it is old."""
    now = time.time()
    written = now - 200
    remote_write(
        prometheus.url, [({"__name__": "autonomic_frozen", "job": "web"}, [(written, 7.0)])]
    )
    newest = reader.newest_sample()
    assert newest is not None and newest >= written - 0.001  # this sample, or a later one
    (_, stamped, value) = reader.instant("autonomic_frozen", now)[0]
    assert value == pytest.approx(7.0) and stamped == pytest.approx(now, abs=1)  # looks current
    assert PrometheusReader(f"http://127.0.0.1:{free_port()}", timeout=1).newest_sample() is None


def test_outage_is_transient_and_recovers(
    reader: PrometheusReader, prometheus: PrometheusServer
) -> None:
    prometheus.stop()
    try:
        with pytest.raises(TransientError, match="cannot connect") as info:
            reader.range_one("autonomic_test_load", END - HOUR, END, 60, END)
        assert info.value.reason == "PrometheusDown"
        assert not reader.healthy()
    finally:
        prometheus.start()
    assert reader.healthy()
    assert reader.range_one("autonomic_test_load", END - HOUR, END, 60, END).series.values.size


class _Misbehaving(http.server.BaseHTTPRequestHandler):
    mode = "garbage"

    def do_GET(self) -> None:
        if self.mode == "slow":
            time.sleep(3)
        status = {"garbage": 200, "slow": 200, "unavailable": 503, "limited": 429}[self.mode]
        body = b"<html>not json</html>" if self.mode != "slow" else b"{}"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # The client may give up first: that is the point of "slow".
        with contextlib.suppress(BrokenPipeError):
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("garbage", "MalformedResponse"),
        ("unavailable", "PrometheusHTTP503"),
        ("limited", "PrometheusHTTP429"),
        ("slow", "PrometheusTimeout"),
    ],
)
def test_misbehaving_endpoints_give_typed_transient_errors(mode: str, reason: str) -> None:
    handler = type("Handler", (_Misbehaving,), {"mode": mode})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # The slow server answers after 3 s, past the 1 s timeout; the others answer at
        # once, and are given time enough that a busy machine does not turn their answer
        # into a timeout.
        timeout = 1 if mode == "slow" else 10
        reader = PrometheusReader(f"http://127.0.0.1:{server.server_address[1]}", timeout=timeout)
        with pytest.raises(TransientError) as info:
            reader.range("up", 0, 600, 60, 600)
        assert info.value.reason == reason
    finally:
        server.shutdown()
        server.server_close()


def test_connection_refused_is_transient() -> None:
    reader = PrometheusReader(f"http://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(TransientError, match="cannot connect"):
        reader.instant("up", time.time())


def test_a_failed_request_is_freed_without_the_cyclic_collector() -> None:
    """A failed request's error (with its connection, socket and frames) is freed as soon
    as the caller lets go of it, not left in a reference cycle until the cyclic garbage
    collector runs: a daemon whose Prometheus is down fails a request every few seconds."""
    reader = PrometheusReader(f"http://127.0.0.1:{free_port()}", timeout=1)
    gc.collect()
    gc.disable()
    try:
        with pytest.raises(TransientError, match="cannot connect") as caught:
            reader.instant("up", time.time())
        cause = weakref.ref(caught.value.__cause__)
        assert cause() is not None
        del caught
        assert cause() is None, "the failed request's error lives on in a reference cycle"
    finally:
        gc.enable()


class _Answers(http.server.BaseHTTPRequestHandler):
    """Answers every query with ``result`` as a success of ``result_type``."""

    result: object = []
    result_type = "matrix"

    def do_GET(self) -> None:
        import json

        body = json.dumps(
            {"status": "success", "data": {"resultType": self.result_type, "result": self.result}}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def answering(result: object, result_type: str) -> Iterator[PrometheusReader]:
    handler = type("Handler", (_Answers,), {"result": result, "result_type": result_type})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield PrometheusReader(f"http://127.0.0.1:{server.server_address[1]}", timeout=2)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "item",
    [
        {"metric": None, "values": [[600, "1"]]},  # null labels: no labels
        {"metric": "abc", "values": [[600, "1"]]},
        {"metric": {}, "values": [["1e400", "1"]]},
        {"metric": {}, "values": [["NaN", "1"]]},
        {"metric": {}, "values": [[600]]},
        ["not", "an", "object"],
    ],
    ids=["null-labels", "string-labels", "huge-time", "nan-time", "short-pair", "list-item"],
)
def test_malformed_range_results_are_typed_transient_errors(item: object) -> None:
    with answering([item], "matrix") as reader:
        if isinstance(item, dict) and item.get("metric") is None:
            # Prometheus omits labels of an aggregate; null is read the same way.
            [found] = reader.range("up", 0, 600, 60, 600)
            assert found.labels == {} and found.series.values[-1] == 1.0
            return
        with pytest.raises(TransientError) as info:
            reader.range("up", 0, 600, 60, 600)
        assert info.value.reason == "MalformedResponse"


@pytest.mark.parametrize(("raw", "expected"), [("+Inf", math.inf), ("-Inf", -math.inf)])
def test_an_infinite_instant_value_is_kept(raw: str, expected: float) -> None:
    """A p99 beyond its histogram's largest bucket is +Inf, not missing: the canary judge
    says so (before, it became NaN, read as "the canary had no value"). Runbook checks
    still never pass on it: ``one_fresh_value_or_why`` makes it no data
    (tests/unit/test_metrics_port.py)."""
    with answering([{"metric": {}, "value": [600, raw]}], "vector") as reader:
        [(labels, at, value)] = reader.instant("up", 600)
    assert labels == {} and at == 600 and value == expected


def test_a_range_read_makes_infinite_samples_gaps_and_says_where_they_were() -> None:
    """A forecast or a score cannot use +-Inf, so a range read makes it NaN, as before;
    but the canary loop reading an analysis back after a restart must refuse it as the
    live run (an instant read, which keeps it) did, not take it for a missing interval:
    ``infinite`` keeps each one's place and sign. NaN and overflowing numbers ("1e400",
    infinite once read) alike."""
    values = [[0, "1"], [60, "+Inf"], [120, "NaN"], [180, "-Inf"], [240, "1e400"]]
    with answering([{"metric": {}, "values": values}], "matrix") as reader:
        [found] = reader.range("up", 0, 240, 60, 240)
    assert found.series.values[0] == 1.0 and np.isnan(found.series.values[1:]).all()
    assert found.non_finite_samples == 4
    assert found.infinite == ((1, math.inf), (3, -math.inf), (4, math.inf))


def test_a_series_fresh_only_by_its_infinite_samples_is_stale_but_off_scale_fresh() -> None:
    """A p99 +Inf for longer than staleAfter: stale by its finite samples, as every reader
    but the anomaly loop takes it (unchanged), and ``off_scale_fresh``, so the anomaly
    loop scores it: Prometheus answers, the value is off the histogram's scale. An
    infinite sample older than staleAfter is stale to both."""
    values = [[0, "0.4"]] + [[t, "+Inf"] for t in range(60, 601, 60)]
    with answering([{"metric": {}, "values": values}], "matrix") as reader:
        [found] = reader.range("p99", 0, 600, 60, 600)
    assert found.stale and not found.usable
    assert found.off_scale_fresh and found.off_scale_usable
    with answering([{"metric": {}, "values": [[0, "+Inf"]]}], "matrix") as reader:
        [old] = reader.range("p99", 0, 600, 60, 600)
    assert old.stale and not old.off_scale_fresh and not old.off_scale_usable
    with answering([{"metric": {}, "values": [[300, "1"], [600, "+Inf"]]}], "matrix") as reader:
        [both] = reader.range("p99", 0, 600, 60, 600)
    assert not both.stale and both.usable and not both.off_scale_fresh


def test_an_instant_nan_is_nan() -> None:
    with answering([{"metric": {}, "value": [600, "NaN"]}], "vector") as reader:
        [(_, _, value)] = reader.instant("up", 600)
    assert math.isnan(value)


class _Trickling(http.server.BaseHTTPRequestHandler):
    """A proxy that answers a byte at a time, each well within the read timeout."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b'{"status": "success", "data": {"resultType": "matrix", "result": []}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.3)

    def log_message(self, *args: object) -> None:
        pass


def test_the_timeout_bounds_a_whole_request_not_each_byte() -> None:
    """An answer trickled a byte every 0.3 s (24 s in all) is given up after the 1 s
    timeout, not waited for; requests past their time that have not ended stop new ones
    from starting, with a message that says so."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickling)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        reader = PrometheusReader(f"http://127.0.0.1:{server.server_address[1]}", timeout=1)
        for _ in range(MAX_ABANDONED):
            started = time.monotonic()
            with pytest.raises(TransientError, match="did not answer within 1 s") as info:
                reader.instant("up", time.time())
            assert info.value.reason == "PrometheusTimeout"
            assert time.monotonic() - started < 2.5
        started = time.monotonic()
        with pytest.raises(TransientError, match="earlier requests ran past 1 s") as info:
            reader.instant("up", time.time())
        assert time.monotonic() - started < 0.5  # refused at once, nothing sent
        assert info.value.reason == "PrometheusTimeout"
        assert not reader.healthy()  # the readiness check is bounded the same way
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("skew", [180.0, -180.0], ids=["daemon-ahead", "daemon-behind"])
def test_a_daemon_clock_minutes_off_reads_on_prometheus_s_clock(
    prometheus: PrometheusServer, skew: float
) -> None:
    """The daemon's node runs 3 minutes ahead of (or behind) Prometheus's. A gauge is
    written 20 s ago (7) and 200 s ago (3), on Prometheus's clock. Read at the daemon's
    own now, it is the newest sample: not a Prometheus 3 minutes stale (ahead; before,
    runbook reads were refused as ``PrometheusFrozen``), nor the sample of 3 minutes ago
    taken as current (behind)."""

    def daemon() -> float:
        return time.time() + skew

    real = time.time()
    name = f"autonomic_skew_{'ahead' if skew > 0 else 'behind'}"
    remote_write(prometheus.url, [({"__name__": name}, [(real - 200, 3.0), (real - 20, 7.0)])])
    reader = PrometheusReader(prometheus.url, timeout=5, clock=daemon)
    newest = reader.newest_sample()
    assert newest is not None and -1.0 < daemon() - newest < 30.0
    offset = reader.clock_offset()
    assert offset is not None and offset == pytest.approx(-skew, abs=1.0)
    assert runbook_query(reader, daemon)(name) == pytest.approx(7.0)
    now = daemon()
    [found] = reader.range(name, now - 600, now, 15, now)
    assert found.usable and found.last_sample_at is not None
    assert now - found.last_sample_at < 15.0
    assert found.series.values[-1] == pytest.approx(7.0)
