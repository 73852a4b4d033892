"""The anomaly loop's state saved at a clean shutdown: every series with points not
saved yet, within a time limit, and never while a cycle is still running."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import agent.loops.anomaly as anomaly_module
from agent.clock import FakeClock
from agent.ledger import Ledger, open_ledger
from tests.unit.bench_cycle.test_anomaly_reads import Recorded
from tests.unit.bench_cycle.test_batched_guards import START, build_loop

STEP = 60.0
T0 = math.floor(START / STEP) * STEP


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", START)
    yield opened
    opened.close()


def test_a_shutdown_saves_what_the_periodic_share_has_not(ledger: Ledger) -> None:
    """Three cycles with ``save_every`` 10: the periodic share has saved none of the
    three series. Saved at shutdown, a restart reads only the points since."""
    clock, reader = FakeClock(T0), Recorded(3)
    loop = build_loop(ledger, clock, 3, save_every=10)
    loop.reader = reader
    for _ in range(3):
        loop.cycle()
        clock.advance(STEP)
    keys = [f"anomaly/{key}" for key in loop.series]
    assert ledger.guard_versions(keys) == {}  # what a SIGTERM lost before

    loop.save_at_shutdown(5.0)
    assert set(ledger.guard_versions(keys).values()) == {1}
    for key in keys:
        assert ledger.guard(key)[0]["last_ts"] == T0 + 2 * STEP
    loop.save_at_shutdown(5.0)  # nothing new: nothing written again
    assert set(ledger.guard_versions(keys).values()) == {1}

    fresh = Recorded(3)
    restarted = build_loop(ledger, clock, 3, save_every=10)
    restarted.reader = fresh
    restarted.cycle()
    assert fresh.reads == [(T0 + 3 * STEP, T0 + 3 * STEP)]  # one new point, not 3 hours
    assert restarted.status.points_scored == 3


def test_the_shutdown_save_stops_at_its_time_limit(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Batches of 3 of 7 series, each taking a second: with 1.5 s, two batches start
    (at 0 and 1 s), the third (at 2 s) does not; the log says how far it got."""
    monkeypatch.setattr(anomaly_module, "SAVE_BATCH", 3)
    ticks = [100.0]
    monkeypatch.setattr(anomaly_module, "time", SimpleNamespace(monotonic=lambda: ticks[0]))
    clock = FakeClock(T0)
    loop = build_loop(ledger, clock, 7)
    loop.reader = Recorded(7)
    loop.cycle()
    put_guards = ledger.put_guards

    def slow(entries: Any, now: float) -> Any:
        ticks[0] += 1.0
        return put_guards(entries, now)

    monkeypatch.setattr(ledger, "put_guards", slow)
    with caplog.at_level(logging.INFO, logger="autonomic.anomaly"):
        loop.save_at_shutdown(1.5)
    versions = ledger.guard_versions([f"anomaly/{key}" for key in loop.series])
    assert len(versions) == 6 and set(versions.values()) == {1}
    assert "saved the anomaly state of 6 of 7 series in 2.0 s (the limit)" in caplog.text


def test_a_cycle_still_running_at_shutdown_is_not_raced(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(T0)
    loop = build_loop(ledger, clock, 2)
    loop.reader = Recorded(2)
    loop.cycle()
    assert loop._cycling.acquire(blocking=False)  # a cycle abandoned past the grace period
    try:
        with caplog.at_level(logging.WARNING, logger="autonomic.anomaly"):
            loop.save_at_shutdown(5.0)
    finally:
        loop._cycling.release()
    assert ledger.guard_keys("anomaly/") == []
    assert "an anomaly cycle is still running; detector state is not saved" in caplog.text
