"""The anomaly loop under faults: a catch-up after an outage, a restart mid-incident,
a lost and regained leadership, saved series of pods long gone."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.clock import FakeClock
from agent.ledger import Ledger, open_ledger
from agent.loops.anomaly import AnomalyLoop
from tests.unit.bench_cycle.test_anomaly_reads import Recorded
from tests.unit.bench_cycle.test_batched_guards import START, build_loop

STEP = 60.0
T0 = math.floor(START / STEP) * STEP


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", START)
    yield opened
    opened.close()


def _loop(ledger: Ledger, clock: FakeClock, reader: Recorded, signals: list[Any]) -> AnomalyLoop:
    loop = build_loop(ledger, clock, 0)
    loop.reader = reader
    loop.submit = signals.extend
    return loop


def test_a_catch_up_shorter_than_a_read_piece_does_not_report_old_anomalies(
    ledger: Ledger,
) -> None:
    """Prometheus back after 150 minutes (one read piece, within the history): a spike
    130 minutes old is learnt from, not reported; one in the newest minute is."""
    clock, reader, signals = FakeClock(T0), Recorded(2), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    clock.advance(150 * STEP)
    now = clock.now()
    reader.spikes = {now - 130 * STEP: 1_000.0, now: 1_000.0}
    loop.cycle()
    assert [s.observed_at for s in signals] == [now]
    assert loop.status.points_scored == 2 * 181 + 2 * 150  # both spikes learnt from


def test_a_restart_mid_incident_does_not_report_it_again(ledger: Ledger) -> None:
    """An incident opened after the series' last periodic save: a restarted daemon reads
    the points since that save again, and must find the incident open, not open it anew
    (a second observation in the ledger, a second signal to remediation)."""
    clock, reader, signals = FakeClock(T0), Recorded(2), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    loop.save()  # the last periodic save, before the incident
    reader.spikes = {T0 + 2 * STEP: 1_000.0, T0 + 3 * STEP: 1_000.0}
    for _ in range(4):
        clock.advance(STEP)
        loop.cycle()
    assert len(signals) == 1  # opened at T0 + 2 steps, once
    opened = signals[0].dedup_key
    assert len(ledger.decisions(kind="anomaly")) == 1

    restarted = _loop(ledger, clock, Recorded(2), signals)
    restarted.reader.spikes = reader.spikes  # type: ignore[attr-defined]
    clock.advance(STEP)
    restarted.cycle()
    # sent on again (remediation dedups by the key), but one observation, not two
    assert {s.dedup_key for s in signals} == {opened}
    assert len(ledger.decisions(kind="anomaly")) == 1
    assert restarted.status.incidents_opened == 0
    key = next(k for k in restarted.series if "svc-0" in k)
    assert restarted.series[key].tracker.current is not None  # still open, the same one
