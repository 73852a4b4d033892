"""Saving many guard values in one transaction gives ``put_guard``'s answers, and the
anomaly loop's batched ``save()`` restores exactly as the per-series one did."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import agent.loops.anomaly as anomaly_module
from agent.approvals import Approvals, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.ledger import Ledger, open_ledger
from agent.loops.anomaly import AnomalyLoop
from agent.metrics_port import MetricSeries
from agent.observability import Metrics
from agent.settings import AnomalyQuery, RoutingSettings
from forecasting.series import Series

START = 1_795_000_000.0


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", START)
    yield opened
    opened.close()


def test_put_guards_answers_like_put_guard(ledger: Ledger) -> None:
    assert ledger.put_guard("a", {"n": 1}, 0, START)
    assert ledger.put_guard("b", {"n": 1}, 0, START)
    won = ledger.put_guards(
        [
            ("a", {"n": 2}, 1),  # right version: wins
            ("b", {"n": 2}, 7),  # stale version: loses, keeps its value
            ("c", {"n": 1}, 0),  # new key: wins
            ("a", {"n": 9}, 0),  # "new" key that exists: loses
        ],
        START + 1,
    )
    assert won == [True, False, True, False]
    assert ledger.guard("a") == ({"n": 2}, 2)
    assert ledger.guard("b") == ({"n": 1}, 1)
    assert ledger.guard("c") == ({"n": 1}, 1)
    assert ledger.guard_versions(["a", "b", "c", "never"]) == {"a": 2, "b": 1, "c": 1}


def test_put_guards_with_a_bad_value_writes_nothing(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="guard bad is not JSON-serialisable"):
        ledger.put_guards([("good", {"n": 1}, 0), ("bad", {"x": math.nan}, 0)], START)
    assert ledger.guard_versions(["good", "bad"]) == {}


def test_guard_versions_reads_more_keys_than_one_in_list(ledger: Ledger) -> None:
    keys = [f"k{i}" for i in range(1_203)]
    assert all(ledger.put_guards([(k, {"i": i}, 0) for i, k in enumerate(keys)], START))
    versions = ledger.guard_versions(keys)
    assert len(versions) == len(keys) and set(versions.values()) == {1}


class Steady:
    """A ``MetricsReader`` with ``n`` smooth series and one point per minute up to now."""

    def __init__(self, n: int) -> None:
        self.labels = [{"namespace": "shop", "deployment": f"svc-{i}"} for i in range(n)]

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        grid = np.arange(math.ceil(start / step) * step, min(end, now) + 1, step)
        out = []
        for i, labels in enumerate(self.labels):
            values = 10.0 * (i + 1) + np.sin(grid / 3600.0)
            out.append(
                MetricSeries(
                    query,
                    labels,
                    Series(grid, values, step, query, labels),
                    0,
                    grid[-1],
                    False,
                    0.0,
                )
            )
        return out

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return []


def build_loop(ledger: Ledger, clock: FakeClock, n: int, save_every: int = 10**6) -> AnomalyLoop:
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    query = AnomalyQuery(name="rps", expr="rps", step=60, history=3 * 3600)
    return AnomalyLoop(
        [query],
        reader=Steady(n),
        ledger=ledger,
        decisions=decisions,
        submit=lambda signals: None,
        clock=clock,
        save_every=save_every,
    )


def test_batched_save_restores_every_series_and_bumps_versions(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(anomaly_module, "SAVE_BATCH", 3)  # 7 series: batches of 3, 3, 1
    clock = FakeClock(START)
    loop = build_loop(ledger, clock, 7)
    loop.cycle()
    loop.save()
    clock.advance(60)
    loop.cycle()
    loop.save()
    keys = [f"anomaly/{key}" for key in loop.series]
    assert len(keys) == 7
    assert set(ledger.guard_versions(keys).values()) == {2}

    restarted = build_loop(ledger, clock, 7)
    clock.advance(60)
    restarted.cycle()
    loop.cycle()  # the loop that never stopped, one point further
    # The restarted loop resumed where the saved run stopped: one new point per series,
    # nothing re-scored, and every detector where the uninterrupted one is.
    assert restarted.status.points_scored == 7
    assert set(restarted.series) == set(loop.series)
    for key, state in restarted.series.items():
        assert state.last_ts == loop.series[key].last_ts
        assert state.detector.state() == loop.series[key].detector.state()
        assert state.tracker.state() == loop.series[key].tracker.state()


def test_each_cycle_saves_its_share_of_the_series_in_turn(ledger: Ledger) -> None:
    """7 series, each to be saved every 3 cycles: 7/3 series a cycle, round robin, so
    after 6 cycles every series has been saved exactly twice, and no cycle saved more
    than 3 of them."""
    clock = FakeClock(START)
    loop = build_loop(ledger, clock, 7, save_every=3)
    keys: list[str] = []
    saved_per_cycle = []
    for _ in range(6):
        before = sum(ledger.guard_versions(keys).values()) if keys else 0
        loop.cycle()
        keys = [f"anomaly/{key}" for key in loop.series]
        saved_per_cycle.append(sum(ledger.guard_versions(keys).values()) - before)
        clock.advance(60)
    assert sorted(set(ledger.guard_versions(keys).values())) == [2]
    assert sum(saved_per_cycle) == 14 and max(saved_per_cycle) <= 3, saved_per_cycle


class Reads(Steady):
    """``Steady``, with the start of each read."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.starts: list[float] = []

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        self.starts.append(start)
        return super().range(query, start, end, step, now)


def test_a_first_start_writes_one_row_for_the_query_not_one_per_series(
    ledger: Ledger,
) -> None:
    """A first start's read returns every series, none saved. Saving each at the end of
    that read (to keep its history across a crash before its turn) wrote every series in
    one cycle: 10,000 rows at 10,000 series. One row per query says where a restart's
    read must start instead, and the series are saved in their turn."""
    clock = FakeClock(START)
    loop = build_loop(ledger, clock, 50, save_every=10)
    loop.cycle()
    saved = ledger.guard_keys("anomaly/")
    # the round-robin share, and a series whose incident opened: no more
    assert len(saved) <= 50 // 10 + loop.status.incidents_opened < 50, saved
    first = min(state.first_ts for state in loop.series.values())
    assert first == math.ceil((START - 3 * 3600) / 60) * 60
    assert ledger.guard("anomaly-unsaved/rps") == ({"from": first}, 1)


def test_a_restart_reads_the_history_of_series_not_saved_yet_and_no_more_once_all_are(
    ledger: Ledger,
) -> None:
    """Killed two cycles after a first start, before most series' turn to be saved: the
    restart reads the query from the first point of those series (three hours back),
    not from the last point of those saved, so none loses its history. Once every series
    is saved the mark is cleared, and a restart reads only the points since."""
    clock = FakeClock(START)
    loop = build_loop(ledger, clock, 7, save_every=3)
    loop.cycle()
    clock.advance(60)
    loop.cycle()
    assert 0 < len(ledger.guard_keys("anomaly/")) < 7

    clock.advance(60)
    restarted = build_loop(ledger, clock, 7, save_every=3)
    restarted.reader = reads = Reads(7)
    restarted.cycle()
    assert reads.starts == [clock.now() - 3 * 3600]  # as far back as a first start
    # each series not saved read with its history again: none warming up from nothing
    assert restarted.status.warming == {"rps": 0}
    assert restarted.status.points_scored > 3 * 60 * (7 - len(ledger.guard_keys("anomaly/")))

    for _ in range(3):  # every series' turn comes
        clock.advance(60)
        restarted.cycle()
    assert len(ledger.guard_keys("anomaly/")) == 7
    assert ledger.guard("anomaly-unsaved/rps")[0] == {"from": None}

    clock.advance(60)
    again = build_loop(ledger, clock, 7, save_every=3)
    again.reader = reads = Reads(7)
    again.cycle()
    newest_saved = min(state.saved_ts for state in restarted.series.values())
    assert reads.starts == [newest_saved + 60]
