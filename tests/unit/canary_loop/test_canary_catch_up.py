"""An analysis taken up again (a restart, a new leader) rebuilds the evidence the live run
had: the intervals since it began, read back from Prometheus, judged as they were live."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agent.ledger import Ledger, open_ledger
from agent.loops.canary import CanaryLoop
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
