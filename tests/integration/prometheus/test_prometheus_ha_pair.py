"""The Prometheus adapter behind one URL that leads to two Prometheus replicas (an HA
pair behind a Service), each request answered by the next replica in turn.

The pair is a small HTTP server on 127.0.0.1 playing both replicas: each has its own
clock (``time()`` answers its own now) and may be down (a proxy's 503, or the connection
dropped unanswered, as a Service does when it sends a request to a pod that is gone).
"""

from __future__ import annotations

import contextlib
import datetime
import http.server
import itertools
import json
import logging
import math
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator

import pytest
from prometheus_api_client.exceptions import PrometheusApiClientException

from agent.adapters import prometheus as adapter
from agent.adapters.prometheus import PrometheusReader
from agent.errors import TransientError
from agent.observability import Metrics
from agent.read_watch import WatchedReader


class _Pair(http.server.BaseHTTPRequestHandler):
    skews: tuple[float, float] = (0.0, 0.0)  # each replica's clock minus the real one
    down: tuple[str, str] = ("", "")  # "", "503" or "drop", per replica
    frozen: tuple[float, float] = (0.0, 0.0)  # how long each has stored nothing (seconds)
    turn: Iterator[int]  # which replica answers the next request
    clock_turn: Iterator[int]  # which replica answers the next ``time()`` query

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query).get("query", [""])[0]
        replica = next(self.clock_turn if query == "time()" else self.turn)
        if self.down[replica] == "drop":
            self.close_connection = True
            return
        if self.down[replica] == "503":
            self._send(503, b"no healthy upstream")
            return
        now = time.time() + self.skews[replica]
        data: object
        if url.path == "/api/v1/status/tsdb":
            data = {"headStats": {"maxTime": int((now - 5 - self.frozen[replica]) * 1000)}}
        elif query == "time()":
            data = {"resultType": "scalar", "result": [now, f"{now:.3f}"]}
        else:
            data = {"resultType": "vector", "result": [{"metric": {}, "value": [now, "1"]}]}
        self._send(200, json.dumps({"status": "success", "data": data}).encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def pair(
    skews: tuple[float, float] = (0.0, 0.0),
    down: tuple[str, str] = ("", ""),
    frozen: tuple[float, float] = (0.0, 0.0),
    clock_turn: Iterator[int] | None = None,
) -> Iterator[PrometheusReader]:
    """``clock_turn``: which replica answers each ``time()`` query (by turns if None)."""
    handler = type(
        "Handler",
        (_Pair,),
        {
            "skews": skews,
            "down": down,
            "frozen": frozen,
            "turn": itertools.cycle((0, 1)),
            "clock_turn": itertools.cycle((0, 1)) if clock_turn is None else clock_turn,
        },
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield PrometheusReader(f"http://127.0.0.1:{server.server_address[1]}", timeout=5)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("how", ["503", "drop"])
def test_one_replica_down_does_not_fail_every_other_read(how: str) -> None:
    """Before, every other read failed (``PrometheusHTTP503`` / ``PrometheusDown``): the
    loops held or skipped half their work while a healthy replica stood by. A failure
    that is over at once is now tried once more, and lands on the other replica."""
    with pair(down=(how, "")) as reader:
        answered = 0
        for _ in range(6):
            assert reader.instant("up", time.time())
            answered += 1
        assert answered == 6


def test_both_replicas_down_is_still_an_outage() -> None:
    with pair(down=("503", "503")) as reader, pytest.raises(TransientError) as info:
        reader.instant("up", time.time())
    assert info.value.reason == "PrometheusHTTP503"


def test_replicas_whose_clocks_differ_give_one_steady_offset(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The replicas' clocks are 40 s apart (one on time, one 40 s ahead). Before, the
    offset was the last measurement: it flipped between 0 and 40 s at each reading,
    shifting every query's time with it, and the log was told of an offset past 30 s
    and of its end by turns. Now it is the middle of the recent readings' range, steady
    at about 20 s, and their spread (40 s) is exposed and told once."""
    monkeypatch.setattr(adapter, "OFFSET_EVERY", 0.0)  # a reading at every call
    caplog.set_level(logging.INFO, logger="autonomic.prometheus")
    with pair(skews=(0.0, 40.0)) as reader:
        offsets = []
        for _ in range(6):
            reader.newest_sample()
            offsets.append(reader.clock_offset())
    settled = offsets[2:]  # a reading outside the earlier ones counts once seen again
    assert all(o is not None and o == pytest.approx(20.0, abs=1.0) for o in settled), offsets
    spread = reader.clock_offset_spread()
    assert spread == pytest.approx(40.0, abs=1.0)
    told = [r.getMessage() for r in caplog.records]
    assert not any("clock is" in m for m in told), told  # no offset warning, no "again"
    assert sum("clocks 40s apart" in m for m in told) == 1, told


def test_the_spread_is_a_gauge_on_the_daemon_s_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """``autonomic_prometheus_clock_offset_spread_seconds``: how far apart the replicas'
    clocks read, set with the offset when the loops ask when Prometheus last stored."""
    monkeypatch.setattr(adapter, "OFFSET_EVERY", 0.0)
    metrics = Metrics()
    with pair(skews=(0.0, 40.0)) as reader:
        reads = WatchedReader(reader, metrics, time.time)
        for _ in range(3):  # 0, 40 (held back), 0 (the 40 s clock is a second one)
            reads.newest_sample()
    assert metrics.prometheus_clock_offset_spread._value.get() == pytest.approx(40.0, abs=1.0)
    assert metrics.prometheus_clock_offset._value.get() == pytest.approx(20.0, abs=1.0)


def test_the_offset_warning_says_the_estimate_it_judges_by(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Clocks 20 s and 50 s ahead: readings 20, 50 (held back), 20; the estimate, 35 s,
    is past the 30 s bound at the third. Before, the warning said "35s ahead" but named
    the last reading's clocks, 20 s apart; now the two clocks it names are the estimate
    apart, and it says the readings' spread."""
    monkeypatch.setattr(adapter, "OFFSET_EVERY", 0.0)
    caplog.set_level(logging.WARNING, logger="autonomic.prometheus")
    with pair(skews=(20.0, 50.0)) as reader:
        for _ in range(3):
            reader.newest_sample()
    [warning] = [r.getMessage() for r in caplog.records if "clock is" in r.getMessage()]
    assert warning.startswith("Prometheus's clock is 35s ahead of the daemon's"), warning
    theirs, ours = (
        datetime.datetime.strptime(t, "%Y-%m-%d %H:%M:%S UTC").timestamp()
        for t in re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", warning)
    )
    assert theirs - ours == pytest.approx(35.0, abs=1.0), warning
    assert "the middle of its last 3 readings, which are 30s apart" in warning, warning


def test_one_replica_running_a_long_run_keeps_both_clocks_in_the_estimate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Clocks 0 s and 40 s; the first replica answers 10 clock readings in a row. Before,
    the estimate rested on the last 8 readings: once the second clock's had left them it
    jumped from 20 s to 0 s (and back at the second clock's next readings, in two steps),
    shifting every query's time. Now the readings of the last 30 minutes count."""
    monkeypatch.setattr(adapter, "OFFSET_EVERY", 0.0)
    turns = iter([0, 1, 0, 1, *[0] * 10, 1])
    with pair(skews=(0.0, 40.0), clock_turn=turns) as reader:
        offsets = []
        for _ in range(15):
            reader.newest_sample()
            offsets.append(reader.clock_offset())
    assert all(o == pytest.approx(20.0, abs=1.0) for o in offsets[2:]), offsets


def test_a_replica_that_stores_nothing_is_not_outvoted_by_the_other() -> None:
    """One replica stores (its newest sample 5 s old), the other's scrapes stopped 10
    minutes ago; the TSDB status requests land on each in turn, as do the queries. Before,
    when Prometheus last stored flipped at each answer between 5 s and 10 minutes ago, so
    the loops judged by every other answer that Prometheus was storing and read the
    queries, half of them answered by the frozen replica with old numbers stamped now.
    Now it is the stalest of the recent answers: frozen at every answer."""
    with pair(frozen=(0.0, 600.0)) as reader:
        ages = []
        for _ in range(6):
            newest = reader.newest_sample()
            assert newest is not None
            ages.append(time.time() - newest)
    assert all(age > 600.0 for age in ages[1:]), ages
    assert ages[0] == pytest.approx(5.0, abs=2.0)  # only the storing replica seen yet


def test_the_stalest_answer_is_taken_at_its_age_and_only_from_several_stores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lone server that stored nothing for 10 minutes and stores again is judged by its
    own answer at once (one store's newest sample never goes back). Answers that go back
    in time come from several stores: the stalest counts, at the age it had when given
    (a replica storing all along looks no older for answers read a while apart), until it
    is over a minute old and not the answer before the last; then the stalest of the
    answers since."""
    now = [1000.0]
    monkeypatch.setattr(adapter, "elapsed", lambda: now[0])
    reader = PrometheusReader("http://127.0.0.1:1", clock=lambda: now[0])
    assert reader._stalest(400.0) == 400.0  # stopped storing 10 minutes ago
    now[0] = 1010.0
    assert reader._stalest(1005.0) == 1005.0  # stores again: at once
    now[0] = 1050.0
    assert reader._stalest(1045.0) == 1045.0  # 5 s old, as the answer before
    now[0] = 1060.0
    assert reader._stalest(460.0) == 460.0  # back in time: a second store, frozen
    now[0] = 1070.0
    assert reader._stalest(1065.0) == 1070.0 - 600.0  # the first one's answer: still held
    now[0] = 1100.0
    assert reader._stalest(1096.0) == 1100.0 - 600.0
    now[0] = 1125.0
    # The frozen answer is over a minute old: the stalest of the recent ones now is the
    # one given at 1070, 5 s old then (several stores are behind the URL).
    assert reader._stalest(1121.0) == 1125.0 - 5.0


def _failing_then(first_after: float, second_after: float) -> tuple[list[float], object]:
    """A request that fails with a proxy's 503 after ``first_after`` seconds, then (the
    retry) hangs ``second_after`` seconds; the elapsed time of each call."""
    calls: list[float] = []

    def fn() -> object:
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(first_after)
            raise PrometheusApiClientException("HTTP Status Code 503 (b'no healthy upstream')")
        time.sleep(second_after)
        return []

    return calls, fn


def test_a_slow_gateway_error_is_not_tried_again() -> None:
    """A 504 or 503 that came after most of ``prometheus.timeout`` (a proxy that waited on
    its upstream) is not "over at once". Before, it was retried with a whole timeout of
    its own, so one read could take almost twice ``prometheus.timeout``; now it is the
    read's answer."""
    reader = PrometheusReader("http://127.0.0.1:1", timeout=1.0)
    calls, fn = _failing_then(0.7, 3.0)
    with pytest.raises(TransientError) as info:
        reader._call(fn, "up")
    assert info.value.reason == "PrometheusHTTP503"
    assert len(calls) == 1


def test_the_retry_has_only_what_is_left_of_the_timeout() -> None:
    """A quick 503 is retried, but within the read's ``prometheus.timeout``: before, the
    retry had a whole timeout of its own (0.4 s + 1 s here)."""
    reader = PrometheusReader("http://127.0.0.1:1", timeout=1.0)
    calls, fn = _failing_then(0.4, 3.0)
    started = time.monotonic()
    with pytest.raises(TransientError) as info:
        reader._call(fn, "up")
    took = time.monotonic() - started
    assert info.value.reason == "PrometheusTimeout"
    assert len(calls) == 2
    assert took < 1.25, took


def test_a_frozen_replica_read_before_the_storing_one_is_not_outvoted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One replica stores, the other stopped 10 minutes ago, and the loops ask when
    Prometheus last stored a little over a minute apart (one loop, period 60 s): each
    answer is compared with the one before only. Before, the storing replica's answer
    after the frozen one's went forward in time, as a lone server's does when it stores
    again, so every other answer was "fresh" while the queries read both replicas. Once
    answers have gone back in time, several stores are behind the URL: the stalest of
    the recent answers counts whichever comes last."""
    now = [1000.0]
    monkeypatch.setattr(adapter, "elapsed", lambda: now[0])
    reader = PrometheusReader("http://127.0.0.1:1", clock=lambda: now[0])
    ages = []
    for n in range(8):
        now[0] += 61.0
        stored = now[0] - (5.0 if n % 2 == 0 else 600.0)
        ages.append(now[0] - reader._stalest(stored))
    assert ages[0] == pytest.approx(5.0)  # only the storing replica seen yet
    assert all(age == pytest.approx(600.0) for age in ages[1:]), ages


@pytest.mark.parametrize("step", [-7200.0, 7200.0], ids=["back", "forward"])
def test_a_step_of_the_daemon_s_own_clock_is_followed_at_once(step: float) -> None:
    """The daemon's clock is stepped by two hours (a VM resumed, NTP setting it right).
    Before, the offset moved only with Prometheus's clock readings (at most one a minute)
    and only at the second reading past the step: for one to two minutes, a step back
    read Prometheus's samples of two hours ago as current (and its newest sample as two
    hours in the future, fresh), a step forward judged a storing Prometheus frozen. The
    daemon's own clock is set against ``elapsed()``: its step moves the offset at once."""
    shift = [0.0]
    with pair() as reader:
        reader.clock = lambda: time.time() + shift[0]
        reader.newest_sample()
        assert reader.clock_offset() == pytest.approx(0.0, abs=1.0)
        shift[0] = step
        newest = reader.newest_sample()
        assert newest is not None
        assert reader.clock() - newest == pytest.approx(5.0, abs=2.0)
        assert reader.clock_offset() == pytest.approx(-step, abs=1.0)
        [(_, at, _)] = reader.instant("up", reader.clock())
        assert at == pytest.approx(reader.clock(), abs=2.0)


@pytest.mark.parametrize("step", [100.4, -100.4], ids=["forward", "back"])
def test_a_step_of_the_daemon_s_clock_does_not_look_like_a_second_store(
    monkeypatch: pytest.MonkeyPatch, step: float
) -> None:
    """A lone Prometheus, its clock 0.2 s ahead (applied as 0 s: whole seconds), and the
    daemon's clock stepped by 100.4 s. Before, the answers stored before the step were
    moved by the exact step while the new offset was rounded (-100 s, or 101 s): the
    next answer, Prometheus's newest sample unchanged, came 0.4 s "before" the one
    stored, as if a second store were behind the URL, and the stalest answer was taken
    for 30 minutes. The stored answers move as the applied offset does."""
    now, skew = [1000.0], [0.0]
    monkeypatch.setattr(adapter, "elapsed", lambda: now[0])
    reader = PrometheusReader("http://127.0.0.1:1", clock=lambda: now[0] + skew[0])
    reader._measured, reader._offset = 0.2, 0.0  # as a measurement left them
    theirs = 995.0  # Prometheus's newest sample, on its own clock
    reader._follow_own_clock()
    assert reader._stalest(theirs - reader._offset) == 995.0
    skew[0] = step
    now[0] += 0.1
    reader._follow_own_clock()
    assert reader._offset == round(0.2 - step)
    answer = theirs - reader._offset
    assert reader._stalest(answer) == answer  # one store: its own answer, not latched
    assert reader._several_seen == -math.inf
