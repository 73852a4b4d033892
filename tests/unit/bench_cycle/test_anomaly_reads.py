"""What the anomaly loop reads and keeps: a restart reads from the saved points, a series
that went away neither drags the reads back nor stays in memory, and nothing leaves
memory while Prometheus is down."""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import agent.loops.anomaly as anomaly_module
from agent.clock import FakeClock
from agent.errors import TransientError
from agent.ledger import Ledger, open_ledger
from agent.loops.anomaly import EVICT_AFTER, REWARM_AFTER_GAP, AnomalyLoop
from agent.metrics_port import MetricSeries
from forecasting.series import Series
from tests.unit.bench_cycle.test_batched_guards import START, build_loop

STEP = 60.0
HISTORY = 3 * 3600.0  # the query's history in build_loop
T0 = math.floor(START / STEP) * STEP  # on the minute grid


class Recorded:
    """``n`` smooth series; ``gone`` ones return nothing, ``stale`` ones are flagged stale;
    ``down`` fails every read."""

    def __init__(self, n: int) -> None:
        self.labels = [{"namespace": "shop", "deployment": f"svc-{i}"} for i in range(n)]
        self.gone: set[int] = set()
        self.stale: set[int] = set()  # returned, but with an old newest sample
        self.down = False
        self.failure = "connection refused"  # what a read raises while down
        self.spikes: dict[float, float] = {}  # time -> value added to svc-0
        self.reads: list[tuple[float, float]] = []

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        if self.down:
            raise TransientError(self.failure)
        self.reads.append((start, end))
        grid = np.arange(math.ceil(start / step) * step, min(end, now) + 1, step)
        out = []
        for i, labels in enumerate(self.labels):
            if i in self.gone or not grid.size:
                continue
            values = 10.0 * (i + 1) + np.sin(grid / 3600.0)
            if i == 0:
                for at, extra in self.spikes.items():
                    values[grid == at] += extra
            series = Series(grid, values, step, query, labels)
            out.append(MetricSeries(query, labels, series, 0, grid[-1], i in self.stale, 0.0))
        return out

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return []


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", START)
    yield opened
    opened.close()


def _loop(ledger: Ledger, clock: FakeClock, reader: Recorded) -> AnomalyLoop:
    loop = build_loop(ledger, clock, 0)
    loop.reader = reader
    return loop


def test_a_restart_reads_from_the_saved_points_not_a_whole_history(ledger: Ledger) -> None:
    clock, reader = FakeClock(T0), Recorded(4)
    loop = _loop(ledger, clock, reader)
    loop.cycle()
    assert reader.reads[-1] == (T0 - HISTORY, T0)  # nothing saved: the history
    loop.save()
    clock.advance(5 * STEP)  # down for five minutes
    restarted = _loop(ledger, clock, Recorded(4))
    restarted.cycle()
    (read,) = restarted.reader.reads  # type: ignore[attr-defined]
    assert read == (T0 + STEP, T0 + 5 * STEP)  # from the saved last points
    assert restarted.status.points_scored == 4 * 5
    assert restarted.status.history_points == 0  # caught up, not a first read


def test_a_series_that_went_away_does_not_drag_the_reads_back(ledger: Ledger) -> None:
    clock, reader = FakeClock(T0), Recorded(3)
    loop = _loop(ledger, clock, reader)
    loop.cycle()
    reader.gone = {1}
    for _ in range(10):
        clock.advance(STEP)
        loop.cycle()
        # one new minute each cycle, though svc-1 stopped at T0
        assert reader.reads[-1] == (clock.now(), clock.now())
    assert len(loop.series) == 3  # not yet gone for EVICT_AFTER steps


def test_a_series_gone_for_long_is_saved_dropped_and_restored_when_it_returns(
    ledger: Ledger,
) -> None:
    clock, reader = FakeClock(T0), Recorded(3)
    loop = _loop(ledger, clock, reader)
    loop.cycle()
    gone_key = next(k for k in loop.series if "svc-1" in k)
    reader.gone = {1}
    for _ in range(EVICT_AFTER):
        clock.advance(STEP)
        loop.cycle()
    assert gone_key in loop.series  # exactly EVICT_AFTER steps: still held
    clock.advance(STEP)
    loop.cycle()
    assert gone_key not in loop.series and len(loop.series) == 2
    saved, version = ledger.guard(f"anomaly/{gone_key}")
    assert version >= 1 and saved["last_ts"] == T0  # its last point, saved
    reader.gone = set()
    clock.advance(STEP)
    loop.cycle()
    back = loop.series[gone_key]
    # restored from its saved state (three hours learnt), plus the one new point
    assert back.last_ts == clock.now()
    assert back.detector.state()["baseline"]["seen"] == HISTORY // STEP + 2
    # its last real point was restored too, so the long gap counts as one: a re-warm
    assert back.last_real == clock.now()
    assert back.quiet_until == clock.now() + REWARM_AFTER_GAP * STEP


def test_nothing_leaves_memory_while_the_reads_fail(ledger: Ledger) -> None:
    clock, reader = FakeClock(T0), Recorded(2)
    loop = _loop(ledger, clock, reader)
    loop.cycle()
    reader.down = True
    for _ in range(2 * EVICT_AFTER):
        clock.advance(STEP)
        loop.cycle()
    assert len(loop.series) == 2 and "rps" in loop.status.degraded
    reader.down = False
    clock.advance(STEP)
    loop.cycle()
    assert len(loop.series) == 2 and "rps" not in loop.status.degraded


def test_an_unchanged_series_is_not_written_again(ledger: Ledger) -> None:
    clock, reader = FakeClock(T0), Recorded(2)
    loop = _loop(ledger, clock, reader)
    loop.cycle()
    loop.save()
    keys = [f"anomaly/{key}" for key in loop.series]
    assert set(ledger.guard_versions(keys).values()) == {1}
    loop.save()  # no new point since: nothing to write
    assert set(ledger.guard_versions(keys).values()) == {1}
    clock.advance(STEP)
    loop.cycle()
    loop.save()
    assert set(ledger.guard_versions(keys).values()) == {2}


def test_a_series_whose_save_is_refused_stays_in_memory(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eviction drops only what it saved: if another writer's version wins the
    compare-and-set, the series stays in memory (and is tried again later)."""
    clock, reader = FakeClock(T0), Recorded(2)
    loop = _loop(ledger, clock, reader)
    loop.cycle()
    gone_key = next(k for k in loop.series if "svc-1" in k)
    reader.gone = {1}
    monkeypatch.setattr(ledger, "put_guards", lambda entries, now: [False] * len(entries))
    for _ in range(EVICT_AFTER + 2):
        clock.advance(STEP)
        loop.cycle()
    assert gone_key in loop.series
    monkeypatch.undo()
    clock.advance(STEP)
    loop.cycle()
    assert gone_key not in loop.series
    assert ledger.guard(f"anomaly/{gone_key}")[0]["last_ts"] == T0


def test_a_long_read_is_done_in_pieces_and_learns_the_same(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(anomaly_module, "READ_PIECE", 50)
    clock, reader = FakeClock(T0), Recorded(3)
    loop = _loop(ledger, clock, reader)
    loop.cycle()  # a first read: three hours, 181 points
    reads = reader.reads
    assert len(reads) == 4 and reads[0][0] == T0 - HISTORY and reads[-1][1] == T0
    assert all(b[0] == a[1] + STEP for a, b in pairwise(reads))
    assert all((end - start) / STEP + 1 <= 50 for start, end in reads)
    assert loop.status.points_scored == 3 * 181
    monkeypatch.setattr(anomaly_module, "READ_PIECE", 10_000)
    other = open_ledger(f"sqlite:///{tmp_path / 'whole.sqlite'}", START)
    try:
        whole = _loop(other, FakeClock(T0), Recorded(3))
        whole.cycle()
        assert len(whole.reader.reads) == 1  # type: ignore[attr-defined]
        assert set(whole.series) == set(loop.series)
        for key, state in loop.series.items():
            assert state.detector.state() == whole.series[key].detector.state()
            assert state.tracker.state() == whole.series[key].tracker.state()
    finally:
        other.close()


def test_only_the_newest_piece_of_a_catch_up_may_open_an_incident(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Back after 150 minutes (within the query's history, so a catch-up, not a first
    read), read in pieces of 50: a spike 130 minutes old is learnt from, not reported;
    one in the newest minute is."""
    monkeypatch.setattr(anomaly_module, "READ_PIECE", 50)
    clock, reader = FakeClock(T0), Recorded(2)
    loop = _loop(ledger, clock, reader)
    signals: list[Any] = []
    loop.submit = signals.extend
    loop.cycle()
    clock.advance(150 * STEP)
    now = clock.now()
    reader.spikes = {now - 130 * STEP: 1_000.0, now: 1_000.0}
    reader.reads.clear()
    loop.cycle()
    assert len(reader.reads) == 3
    (signal,) = signals
    assert signal.observed_at == now and signal.evidence["observed"] > 1_000.0
    # both spikes were scored (learnt from): every point of the 150 minutes, per series
    assert loop.status.points_scored == 2 * 181 + 2 * 150


def test_a_query_that_returns_no_series_is_named_once_in_the_log(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    clock, reader = FakeClock(T0), Recorded(2)
    reader.gone = {0, 1}  # a misspelt metric: Prometheus answers, with nothing
    loop = _loop(ledger, clock, reader)
    with caplog.at_level("INFO", logger="autonomic.anomaly"):
        for _ in range(3):
            loop.cycle()
            clock.advance(STEP)
    assert loop.status.degraded["rps"] == anomaly_module.NO_SERIES
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == [f"anomaly query rps: nothing scored: {anomaly_module.NO_SERIES}"]
    assert loop.status.points_scored == 0

    caplog.clear()
    reader.gone = set()
    with caplog.at_level("INFO", logger="autonomic.anomaly"):
        loop.cycle()
        clock.advance(STEP)
        loop.cycle()
    assert "rps" not in loop.status.degraded and loop.status.points_scored > 0
    said = [r.getMessage() for r in caplog.records if "scoring again" in r.getMessage()]
    assert said == ["anomaly query rps: scoring again"]


def test_a_failing_read_is_logged_when_it_starts_not_every_cycle(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    clock, reader = FakeClock(T0), Recorded(1)
    loop = _loop(ledger, clock, reader)
    loop.cycle()
    reader.down = True
    with caplog.at_level("WARNING", logger="autonomic.anomaly"):
        for _ in range(5):
            clock.advance(STEP)
            loop.cycle()
    warned = [r.getMessage() for r in caplog.records]
    assert warned == ["anomaly query rps: nothing scored: the read failed: connection refused"]


def test_a_read_failing_for_changing_reasons_is_one_warning_not_one_per_change(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """Prometheus restarting for half an hour: refused, then timing out, then refused
    again, every few minutes. The reader's own summary tells the outage; the query says
    once that it scores nothing, and once that it scores again."""
    clock, reader = FakeClock(T0), Recorded(1)
    loop = _loop(ledger, clock, reader)
    loop.cycle()
    reader.down = True
    with caplog.at_level("INFO", logger="autonomic.anomaly"):
        for i in range(30):
            reader.failure = ("connection refused", "no answer within 10 s")[i // 3 % 2]
            clock.advance(STEP)
            loop.cycle()
        assert loop.status.degraded["rps"] == "the read failed: no answer within 10 s"
        reader.down = False
        clock.advance(STEP)
        loop.cycle()
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "anomaly query rps: nothing scored: the read failed: connection refused",
        "anomaly query rps: scoring again",
    ]


def test_a_stale_series_among_fresh_ones_is_not_a_degraded_query(ledger: Ledger) -> None:
    """A pod that is gone leaves a series whose newest sample is old: it is not scored,
    but the query is healthy while its other series are fresh; only when every series is
    stale does the query score nothing, and say so."""
    clock, reader = FakeClock(T0), Recorded(2)
    loop = _loop(ledger, clock, reader)
    loop.cycle()
    reader.stale = {1}
    clock.advance(STEP)
    scored = loop.status.points_scored
    loop.cycle()
    assert "rps" not in loop.status.degraded
    assert loop.status.points_scored == scored + 1  # svc-0's new point, not svc-1's
    reader.stale = {0, 1}
    clock.advance(STEP)
    loop.cycle()
    assert loop.status.degraded["rps"] == anomaly_module.ALL_STALE
