"""An analysis taken up again (a restart, a new leader) rebuilds the evidence the live run
had: the intervals since it began, read back from Prometheus, judged as they were live."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from agent.clock import FakeClock
from agent.ledger import Ledger, open_ledger
from agent.loops.canary import CanaryLoop
from agent.metrics_port import MetricSeries
from agent.sim.cluster import SimCluster
from agent.sim.metrics import SimMetrics
from tests.unit.canary_loop.test_canary_loop import rig


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


def _set(metrics: SimMetrics, name: str, workload: str, at: float, value: float) -> None:
    """Change the sample of ``name`` for ``workload`` stored at ``at``."""
    key = (name, tuple(sorted({"namespace": "shop", "deployment": workload}.items())))
    times, values = metrics._series[key]
    values[times.index(at)] = value


def test_a_rebuild_skips_a_refused_interval_as_the_live_run_does(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """The canary's errors above its requests in one interval (more events than trials):
    live, that interval is refused and the judge goes on with the others; a restart
    reading the same intervals back used to throw all of them away and judge afresh, so
    it knew one interval where the live run knew eight."""
    live, _signals, clock, cluster = rig(ledger, canary_slowdown=1.0)
    metrics = live.reader
    assert isinstance(metrics, SimMetrics)
    _set(metrics, "err", "search-canary", clock.now() + 4 * 60, 1000.0)  # 600 requests
    for _ in range(9):  # the analysis begins at the first; the fourth is refused
        clock.advance(60)
        live.cycle()
    (analysis,) = live.analyses.values()
    assert analysis.latest is not None and not analysis.latest.final
    assert [f.intervals for f in analysis.latest.metrics] == [8, 8]
    restarted = CanaryLoop(
        live.settings,
        reader=metrics,
        cluster=cluster,
        decisions=live.decisions,
        clock=clock,
        submit=[].extend,
        events=live.events,
    )
    # Half a period later (a new process keeps its own grid): the eight earlier intervals
    # read back see the samples the live run read, and this cycle's sees the ninth's.
    clock.advance(30)
    caplog.clear()  # the live run's own warning aside
    with caplog.at_level(logging.INFO, logger="autonomic.canary"):
        restarted.cycle()
    (again,) = restarted.analyses.values()
    assert again.latest is not None
    unclocked = {"elapsed_seconds": 0.0, "decided_after_seconds": None}  # 30 s apart
    assert replace(again.latest, **unclocked) == replace(analysis.latest, **unclocked)
    assert [h[1:] for h in again.history] == [h[1:] for h in analysis.history]
    warned = [
        r.getMessage()
        for r in caplog.records
        if r.name == "autonomic.canary" and r.levelno == logging.WARNING
    ]
    assert len(warned) == 1, warned
    assert "1 interval read back not judged, as when read live" in warned[0]
    assert "(latest: no interval at 2023-11-14 22:17:50 UTC: metric 'errors'" in warned[0]
    assert "(1000.0 > 600.0)" in warned[0]


def test_a_rebuild_on_the_live_grid_reads_back_the_interval_at_the_start(
    ledger: Ledger,
) -> None:
    """The cycle that begins an analysis judges an interval at once, at the start, and
    the live run judges one each period after it. A restart a whole number of periods
    later used to read back the intervals from one period after the start: its judge
    knew one interval fewer than the live one at the same cycle (10 against 11 here)."""
    live, _signals, clock, cluster = rig(ledger, canary_slowdown=1.0)
    for _ in range(10):
        clock.advance(60)
        live.cycle()
    (analysis,) = live.analyses.values()
    assert analysis.history[0][0] == analysis.started_at  # judged at its start
    restarted = CanaryLoop(
        live.settings,
        reader=live.reader,
        cluster=cluster,
        decisions=live.decisions,
        clock=clock,
        submit=[].extend,
        events=live.events,
    )
    clock.advance(60)  # 600 s after the start: the eleventh interval, for both
    live.cycle()
    restarted.cycle()
    (again,) = restarted.analyses.values()
    assert again.started_at == analysis.started_at
    assert not analysis.recorded and analysis.latest is not None
    assert [f.intervals for f in analysis.latest.metrics] == [11, 11]
    assert again.history == analysis.history
    assert again.latest == analysis.latest


class _PrometheusLike:
    """``SimMetrics`` read as ``PrometheusReader`` reads Prometheus: an instant read keeps
    +-Inf, a range read makes it NaN and says where it was (``MetricSeries.infinite``)."""

    def __init__(self, metrics: SimMetrics) -> None:
        self.metrics = metrics

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return self.metrics.instant(query, at)

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        out = []
        for found in self.metrics.range(query, start, end, step, now):
            values = found.series.values
            infinite = tuple((int(i), float(values[i])) for i in np.flatnonzero(np.isinf(values)))
            series = replace(found.series, values=np.where(np.isinf(values), np.nan, values))
            out.append(
                replace(found, series=series, non_finite_samples=len(infinite), infinite=infinite)
            )
        return out


def test_a_canary_off_the_scale_is_counted_across_a_restart(ledger: Ledger) -> None:
    """The canary's p99 is +Inf from the start. Live, each interval is refused and the 8th
    running asks a person (OffScale). A restart after the 5th read the intervals back
    with range reads, which make +Inf a gap: read back as missing, they let the other
    metrics' evidence grow on intervals the live run had refused (a canary off the scale
    could be promoted on them), and the count started again, 8 more intervals of
    "continue". Now the range read says where its +Inf were: read back as +Inf, refused
    and counted as live, and the 8th interval is OffScale as without the restart."""
    live, _signals, clock, cluster = rig(ledger, canary_slowdown=math.inf)
    metrics = live.reader
    assert isinstance(metrics, SimMetrics)
    for _ in range(5):
        clock.advance(60)
        live.cycle()
    restarted = CanaryLoop(
        live.settings,
        reader=_PrometheusLike(metrics),
        cluster=cluster,
        decisions=live.decisions,
        clock=clock,
        submit=[].extend,
        events=live.events,
    )
    clock.advance(30)  # a new process on its own grid: 4 intervals read back, its own 5th
    restarted.cycle()
    assert ledger.decisions(kind="canary") == []  # 5 intervals off the scale: not yet
    for _ in range(3):  # as many as the live run had to go
        clock.advance(60)
        restarted.cycle()
    (again,) = restarted.analyses.values()
    assert again.latest is not None and again.latest.final
    assert (again.latest.decision.value, again.latest.reason) == ("inconclusive", "OffScale")
    assert "has been +Inf for 8 intervals running" in again.latest.sentence
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "inconclusive"


def _off_and_empty(ledger: Ledger) -> tuple[CanaryLoop, FakeClock, SimCluster]:
    """A canary with little traffic: its p99 +Inf at the 1st, 3rd, 5th... cycle and NaN
    (no requests in the window) at the others."""
    live, _signals, clock, cluster = rig(ledger, canary_slowdown=math.inf)
    metrics = live.reader
    assert isinstance(metrics, SimMetrics)
    for cycle in range(2, 40, 2):
        _set(metrics, "lat", "search-canary", clock.now() + 60 * cycle, math.nan)
    return live, clock, cluster


def test_a_canary_off_the_scale_between_empty_intervals_asks_a_person_live_and_rebuilt(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Its p99 +Inf and NaN by turns: each NaN started the count toward ``OffScale``
    again, so it never reached 8 and the canary waited, silent, for ``maxDuration``. An
    interval with no data says nothing of whether the canary came back on the scale: the
    8th +Inf (the 15th cycle) asks a person, live and after a restart alike (the restart
    reads the intervals back, NaN and +Inf, and counts them as the live run did)."""
    live, clock, _cluster = _off_and_empty(ledger)
    for _ in range(14):
        clock.advance(60)
        live.cycle()
    assert ledger.decisions(kind="canary") == []
    clock.advance(60)
    live.cycle()
    (analysis,) = live.analyses.values()
    assert analysis.latest is not None and analysis.latest.final
    assert (analysis.latest.decision.value, analysis.latest.reason) == (
        "inconclusive",
        "OffScale",
    )
    said = (
        "has been +Inf for 8 intervals running while the baseline's was finite (and 7 more "
        "between them, with no canary value, one refused, or no finite baseline, not "
        "counted)"
    )
    assert said in analysis.latest.sentence

    other = open_ledger(f"sqlite:///{tmp_path / 'other.sqlite'}", 0)
    try:
        first, clock, cluster = _off_and_empty(other)
        for _ in range(6):
            clock.advance(60)
            first.cycle()
        assert isinstance(first.reader, SimMetrics)
        restarted = CanaryLoop(
            first.settings,
            reader=_PrometheusLike(first.reader),
            cluster=cluster,
            decisions=first.decisions,
            clock=clock,
            submit=[].extend,
            events=first.events,
        )
        clock.advance(30)  # 5 intervals read back, its own 6th: 3 +Inf, 3 NaN
        restarted.cycle()
        for _ in range(8):  # as many as the live run had to go, but one
            clock.advance(60)
            restarted.cycle()
        assert other.decisions(kind="canary") == []
        clock.advance(60)
        restarted.cycle()
        (again,) = restarted.analyses.values()
        assert again.latest is not None and again.latest.final
        assert again.latest.reason == "OffScale" and said in again.latest.sentence
        (decision,) = other.decisions(kind="canary")
        assert decision.proposal["verdict"] == "inconclusive"
    finally:
        other.close()
