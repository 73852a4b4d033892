"""``autonomic_anomaly_series_warming{query}``: the series whose last point could not
open an incident because the detector was still warming up, a new series (reason
``warming_up``) or one quiet after a long gap (``REWARM_AFTER_GAP``). Before, nothing
said how many series were blind that way; only the points' reasons, which no metric
carried."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest
from prometheus_client import generate_latest

from agent.clock import FakeClock
from agent.daemon import Daemon
from agent.ledger import Ledger, open_ledger
from agent.loops.anomaly import GAP_RESETS_INCIDENT, REWARM_AFTER_GAP, AnomalyLoop
from agent.metrics_port import MetricSeries
from agent.settings import Settings
from forecasting.anomaly.detector import DetectorConfig
from forecasting.series import Series
from tests.harness.gates import SwitchGate
from tests.unit.bench_cycle.test_batched_guards import START, build_loop

STEP = 60.0
T0 = math.floor(START / STEP) * STEP
WARMUP = DetectorConfig().warmup  # real points before a detector scores


class Born:
    """Smooth series: ``old`` has points all the way back, ``new`` only from ``born``;
    a series in ``gone`` returns nothing."""

    def __init__(self, born: float) -> None:
        self.born = born
        self.gone: set[str] = set()

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        grid = np.arange(math.ceil(start / step) * step, min(end, now) + 1, step)
        out = []
        for name, since in (("old", -math.inf), ("new", self.born)):
            times = grid[grid >= since]
            if name in self.gone or not times.size:
                continue
            labels = {"namespace": "shop", "deployment": name}
            values = 50.0 + np.sin(times / 3600.0)
            series = Series(times, values, step, query, labels)
            out.append(MetricSeries(query, labels, series, 0, times[-1], False, 0.0))
        return out

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return []


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", START)
    yield opened
    opened.close()


def _daemon(ledger: Ledger, clock: FakeClock, reader: Born) -> tuple[Daemon, AnomalyLoop]:
    loop = build_loop(ledger, clock, 0)
    loop.reader = reader
    part = cast(Any, SimpleNamespace())
    gate = cast(Any, SwitchGate(leader=True))
    decisions = loop.decisions
    daemon = Daemon(Settings(), clock, ledger, decisions.metrics, decisions, part, loop, gate, part)
    return daemon, loop


def _warming(daemon: Daemon) -> float | None:
    return daemon.metrics.registry.get_sample_value(
        "autonomic_anomaly_series_warming", {"query": "rps"}
    )


def test_a_new_series_counts_as_warming_until_it_has_history(ledger: Ledger) -> None:
    clock = FakeClock(T0)
    daemon, loop = _daemon(ledger, clock, Born(born=T0))
    daemon.anomaly_cycle()
    # old: three hours read, warmed up; new: one point, warming
    assert loop.status.warming == {"rps": 1}
    assert _warming(daemon) == 1.0
    text = generate_latest(daemon.metrics.registry).decode()
    assert 'autonomic_anomaly_series_warming{query="rps"} 1.0' in text
    new = next(state for key, state in loop.series.items() if "deployment=new" in key)
    cycles = 1
    while new.warming:
        clock.advance(STEP)
        daemon.anomaly_cycle()
        cycles += 1
        assert cycles <= WARMUP + 2, "the new series never left the warming count"
        assert _warming(daemon) == float(new.warming)
    # one point a cycle: it left at the first point past the detector's warm-up
    assert cycles == WARMUP + 1
    assert loop.status.warming == {"rps": 0} and _warming(daemon) == 0.0


def test_a_series_back_after_a_long_gap_counts_while_it_rewarms(ledger: Ledger) -> None:
    clock = FakeClock(T0)
    reader = Born(born=-math.inf)  # both with history: warm from the first read
    daemon, _ = _daemon(ledger, clock, reader)
    daemon.anomaly_cycle()
    assert _warming(daemon) == 0.0
    reader.gone = {"old"}
    for _ in range(GAP_RESETS_INCIDENT + 2):  # silent long enough to re-warm
        clock.advance(STEP)
        daemon.anomaly_cycle()
    assert _warming(daemon) == 0.0  # silence is not a point: still what its last was
    reader.gone = set()
    counts = []
    for _ in range(REWARM_AFTER_GAP + 1):
        clock.advance(STEP)
        daemon.anomaly_cycle()
        counts.append(_warming(daemon))
    assert counts == [1.0] * REWARM_AFTER_GAP + [0.0]


def test_a_standby_drops_the_warming_count(ledger: Ledger) -> None:
    clock = FakeClock(T0)
    daemon, _ = _daemon(ledger, clock, Born(born=T0))
    daemon.anomaly_cycle()
    assert _warming(daemon) == 1.0
    daemon.metrics.standby()  # as a standby's remediation job does
    assert _warming(daemon) is None
