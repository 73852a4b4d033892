"""The anomaly loop under faults: a catch-up after an outage, a restart mid-incident,
a lost and regained leadership, saved series of pods long gone."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.clock import FakeClock
from agent.errors import TransientError
from agent.ids import short_id
from agent.ledger import Ledger, open_ledger
from agent.loops.anomaly import AnomalyLoop, _figures
from agent.metrics_port import MetricSeries
from agent.routing import confidence_percent
from forecasting.anomaly.calibration import NAB
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


def test_a_replica_leading_again_after_another_does_not_report_what_it_led_through(
    ledger: Ledger,
) -> None:
    """Two replicas, one ledger: B leads, then A (which reports a spike), then B again,
    its memory from before A's turn. B catches up on A's turn: the spike is learnt
    from, not recorded or sent again as news."""
    clock = FakeClock(T0)
    spikes = {T0 + 20 * STEP: 1_000.0}
    b_signals: list[Any] = []
    b = _loop(ledger, clock, Recorded(2), b_signals)
    for _ in range(3):
        b.cycle()
        clock.advance(STEP)
    b.save()  # B loses the lease
    a_signals: list[Any] = []
    a_reader = Recorded(2)
    a_reader.spikes = spikes
    a = _loop(ledger, clock, a_reader, a_signals)
    for _ in range(40):
        a.cycle()
        clock.advance(STEP)
    a.save()  # A loses the lease; B leads again
    assert [s.observed_at for s in a_signals] == [T0 + 20 * STEP]
    b.reader.spikes = spikes  # type: ignore[attr-defined]
    b.cycle()
    assert b_signals == [] and len(ledger.decisions(kind="anomaly")) == 1
    assert b.series.keys() == a.series.keys()
    assert all(s.last_ts == clock.now() for s in b.series.values())  # caught up


def test_series_saved_long_ago_neither_load_at_start_nor_drag_the_first_read_back(
    ledger: Ledger,
) -> None:
    """A pod gone for longer than the query's history (its series saved when it left
    memory): a restart restores only the series saved within the history, and its first
    read starts after their last points, not a whole history back."""
    clock, reader, signals = FakeClock(T0), Recorded(3), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    gone = next(k for k in loop.series if "svc-2" in k)
    reader.gone = {2}
    clock.advance(200 * STEP)  # more than the history (180 steps) later
    loop.cycle()
    assert gone not in loop.series  # saved and dropped
    assert ledger.guard(f"anomaly/{gone}")[0]["last_ts"] == T0
    loop.save()
    now = clock.now()

    clock.advance(STEP)
    fresh_reader = Recorded(3)
    fresh_reader.gone = {2}
    restarted = _loop(ledger, clock, fresh_reader, signals)
    restarted.cycle()
    assert fresh_reader.reads == [(now + STEP, now + STEP)]
    assert gone not in restarted.series and len(restarted.series) == 2
    fresh_reader.gone = set()  # the pod is back: its saved detector is restored then
    clock.advance(STEP)
    restarted.cycle()
    assert restarted.series[gone].detector.state()["baseline"]["seen"] > 100


def test_a_clock_stepped_back_is_said_not_silent(ledger: Ledger) -> None:
    """Points were read up to a time the daemon's clock, corrected backwards, has not
    reached: the query says why nothing is read, and scores again once the clock passes
    them."""
    clock, reader, signals = FakeClock(T0), Recorded(2), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    scored = loop.status.points_scored
    clock.now = lambda: T0 - 30 * STEP  # type: ignore[method-assign]
    loop.cycle()
    (query,) = [q.name for q in loop.queries]
    assert "stepped back" in loop.status.degraded[query]
    assert loop.status.points_scored == scored
    clock.now = lambda: T0 + 2 * STEP  # type: ignore[method-assign]
    loop.cycle()
    assert query not in loop.status.degraded
    assert loop.status.points_scored > scored


def test_an_incident_opened_is_said_in_the_log_once_with_its_numbers(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """An incident opened went to the ledger and the runbooks without a line in the log:
    a person reading the daemon's log could not see that anything was noticed."""
    clock, reader, signals = FakeClock(T0), Recorded(2), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    reader.spikes = {T0 + 2 * STEP: 1_000.0, T0 + 3 * STEP: 1_000.0}
    with caplog.at_level(logging.INFO, logger="autonomic.anomaly"):
        for _ in range(4):
            clock.advance(STEP)
            loop.cycle()
    (observation,) = ledger.decisions(kind="anomaly")
    said = [r.getMessage() for r in caplog.records if "recorded as" in r.getMessage()]
    assert len(said) == 1, said
    assert f"recorded as {short_id(observation.id)}, sent to the runbooks" in said[0]
    assert f"observed {observation.evidence['observed']:.4g}," in said[0]
    calibrated = NAB.probability(observation.evidence["score"])
    assert "on Deployment/shop/svc-0: spike" in said[0]
    statistical = confidence_percent(observation.evidence["statistical_confidence"], 0.9999)
    assert f"confidence {100 * calibrated:.0f}% (calibrated; statistical {statistical})" in said[0]


def test_an_incidents_signal_carries_the_calibrated_confidence_not_the_tail(
    ledger: Ledger,
) -> None:
    """Every incident opens at a statistical confidence (1 - tail) of 0.9999 or more,
    real or not; on NAB's labelled files 40 % of them were real. The signal the runbooks
    route by, and the observation, carry the share of incidents at the opening score that
    were real (``forecasting.anomaly.calibration.NAB``); the 1 - tail stays in the
    evidence."""
    clock, reader, signals = FakeClock(T0), Recorded(2), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    reader.spikes = {T0 + 2 * STEP: 1_000.0}
    for _ in range(3):
        clock.advance(STEP)
        loop.cycle()
    (signal,) = signals
    (observation,) = ledger.decisions(kind="anomaly")
    score = observation.evidence["score"]
    assert signal.evidence["score"] == score
    assert signal.confidence == observation.confidence == NAB.probability(score)
    assert signal.confidence < 0.7  # no score on NAB was real more often
    assert observation.evidence["statistical_confidence"] >= 0.9999
    assert observation.model_version == "anomaly-detector/2"


def test_an_incidents_numbers_read_as_a_person_would_write_them() -> None:
    """An error ratio's band around 0 used to read "band -3e-12 to 3e-12"."""
    assert _figures(0.02564, 0.0, -3e-12, 3e-12) == ["0.02564", "0", "0", "0"]
    assert _figures(1010.0, 10.52, 10.35, 10.68) == ["1010", "10.52", "10.35", "10.68"]
    assert _figures(0.0, 0.0) == ["0", "0"]
    assert _figures(math.nan, 2e-9) == ["NaN", "2e-09"]  # as the ledger writes it


class Frozen(Recorded):
    """``Recorded`` behind a Prometheus that can stop storing samples (``frozen_at``):
    its reads then answer each series' last stored value again at every later step, as
    Prometheus's lookback does, stamped as current."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.frozen_at: float | None = None

    def newest_sample(self) -> float | None:
        return self.frozen_at

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        found = super().range(query, start, end, step, now)
        if self.frozen_at is None:
            return found
        for metric in found:
            ts, values = metric.series.timestamps, metric.series.values
            last = values[ts <= self.frozen_at]
            if last.size:
                values[ts > self.frozen_at] = last[-1]
        return found


def test_a_prometheus_that_stopped_storing_is_not_scored_as_news(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """Prometheus stops storing samples (its scrapes or remote writes stopped) and goes
    on answering reads: each series' last value, repeated at every step as if current.
    Those repeats used to be scored as new points, until they were older than
    ``prometheus.staleAfter``: a spike's repeats would keep an incident open on old
    numbers, a normal value's would count as the quiet points that close one. Nothing is
    scored once it is two steps behind, the query says why, once; once it stores again,
    the points since are read and scored."""
    clock, reader, signals = FakeClock(T0), Frozen(2), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    clock.advance(STEP)
    loop.cycle()
    scored = loop.status.points_scored
    stopped = clock.now()
    reader.frozen_at = stopped
    for _ in range(2):  # up to two steps behind: a scrape or a cycle can lag that much
        clock.advance(STEP)
        loop.cycle()
    assert loop.status.points_scored == scored + 2 * 2
    scored += 2 * 2
    with caplog.at_level(logging.WARNING, logger="autonomic.anomaly"):
        for _ in range(5):
            clock.advance(STEP)
            loop.cycle()
    assert loop.status.points_scored == scored  # nothing scored on repeated numbers
    assert all(s.last_ts == stopped + 2 * STEP for s in loop.series.values())
    why = loop.status.degraded["rps"]
    assert why.startswith("Prometheus has stored no new sample since"), why
    assert "old numbers" in why
    told = [r.getMessage() for r in caplog.records if "no new sample" in r.getMessage()]
    assert len(told) == 1, told
    reader.frozen_at = None  # storing again
    loop.cycle()
    assert "rps" not in loop.status.degraded
    assert loop.status.points_scored == scored + 2 * 5


@pytest.mark.parametrize("fails", ["latest_for_incident", "record_decision"])
def test_an_incident_opening_while_the_ledger_is_down_is_reported_when_it_is_back(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, fails: str
) -> None:
    """The ledger fails (a database failover) at the moment an incident opens: the
    cycle ends with the error, and the next one, the ledger back, records and sends
    the incident. Before, the tracker held it open from the failed cycle on, its point
    was not read again, and it was never recorded nor sent: remediation never heard of
    it, while the open-series gauge counted it."""
    clock, reader, signals = FakeClock(T0), Recorded(2), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    reader.spikes = {T0 + 2 * STEP: 1_000.0}
    clock.advance(STEP)
    loop.cycle()
    real = getattr(ledger, fails)

    def down(*args: Any, **kwargs: Any) -> Any:
        raise TransientError("the database is failing over")

    monkeypatch.setattr(ledger, fails, down)
    clock.advance(STEP)
    with pytest.raises(TransientError):
        loop.cycle()
    assert signals == [] and ledger.decisions(kind="anomaly") == []
    monkeypatch.setattr(ledger, fails, real)
    clock.advance(STEP)
    loop.cycle()
    (signal,) = signals
    (observation,) = ledger.decisions(kind="anomaly")
    assert signal.observed_at == T0 + 2 * STEP
    assert observation.incident_key == signal.dedup_key
    assert observation.evidence["observed"] == signal.evidence["observed"]
    assert loop.status.incidents_opened == 1
    clock.advance(STEP)
    loop.cycle()
    assert len(signals) == 1 and len(ledger.decisions(kind="anomaly")) == 1  # once


def test_an_incident_whose_report_failed_is_reported_after_a_restart(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger fails as an incident opens; the next cycle Prometheus cannot be read,
    and the series is saved with its incident open (it changed); then the daemon
    restarts. The restarted daemon reports the incident at its first read: the report
    owed is saved with the series, not only held in the memory of the daemon that
    stopped."""
    clock, reader, signals = FakeClock(T0), Recorded(2), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    reader.spikes = {T0 + 2 * STEP: 1_000.0}
    clock.advance(STEP)
    loop.cycle()
    real = ledger.record_decision

    def down(*args: Any, **kwargs: Any) -> Any:
        raise TransientError("the database is failing over")

    monkeypatch.setattr(ledger, "record_decision", down)
    clock.advance(STEP)
    with pytest.raises(TransientError):
        loop.cycle()
    monkeypatch.setattr(ledger, "record_decision", real)
    reader.down = True
    clock.advance(STEP)
    loop.cycle()  # nothing read; the changed series saved
    key = next(k for k in loop.series if "svc-0" in k)
    assert ledger.guard(f"anomaly/{key}")[0]["tracker"]["current"] is not None
    assert signals == [] and ledger.decisions(kind="anomaly") == []

    again = Recorded(2)
    again.spikes = reader.spikes
    restarted = _loop(ledger, clock, again, signals)
    clock.advance(STEP)
    restarted.cycle()
    (signal,) = signals
    (observation,) = ledger.decisions(kind="anomaly")
    assert signal.observed_at == T0 + 2 * STEP
    assert observation.incident_key == signal.dedup_key
    saved = ledger.guard(f"anomaly/{key}")[0]  # saved at once: what was sent, nothing owed
    assert saved["unreported"] is None
    assert saved["opened"]["confidence"] == signal.confidence
    clock.advance(STEP)
    restarted.cycle()
    assert len(signals) == 1 and len(ledger.decisions(kind="anomaly")) == 1


def test_an_incident_whose_report_failed_is_not_sent_once_it_is_old(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The ledger fails as an incident opens and the next read comes 20 steps later (the
    daemon was down that long): the incident is older than ``REPORT_BACKLOG`` steps, not
    news, and no remediation starts from it; the log says it was not reported."""
    clock, reader, signals = FakeClock(T0), Recorded(2), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    reader.spikes = {T0 + 2 * STEP: 1_000.0}
    clock.advance(STEP)
    loop.cycle()
    real = ledger.latest_for_incident

    def down(*args: Any, **kwargs: Any) -> Any:
        raise TransientError("the database is failing over")

    monkeypatch.setattr(ledger, "latest_for_incident", down)
    clock.advance(STEP)
    with pytest.raises(TransientError):
        loop.cycle()
    monkeypatch.setattr(ledger, "latest_for_incident", real)
    clock.advance(20 * STEP)
    with caplog.at_level(logging.WARNING, logger="autonomic.anomaly"):
        loop.cycle()
    assert signals == [] and ledger.decisions(kind="anomaly") == []
    said = [r.getMessage() for r in caplog.records if "is not reported" in r.getMessage()]
    assert len(said) == 1 and "more than 10 steps old" in said[0], said
    assert all(s.unreported is None for s in loop.series.values())
    key = next(k for k in loop.series if "svc-0" in k)
    assert ledger.guard(f"anomaly/{key}")[0]["unreported"] is None  # not owed at a restart
