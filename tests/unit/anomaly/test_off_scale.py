"""A series whose value goes to +Inf or -Inf (a p99 from ``histogram_quantile`` beyond the
histogram's largest bucket): off the scale, not a gap. A run of ``OFF_SCALE_AFTER``
steps opens an incident (``off_scale``) with its direction and a sentence saying what it
means; the series is never "stale data" while Prometheus answers +Inf, the incident is
not dropped as silent, the detector learns nothing from the infinite points, and the
incident closes (recovered) once finite values are back in the band. NaN stays a gap."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agent.anomaly_end import RECOVERED, open_signal
from agent.approvals import Approvals, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.ledger import DecisionRecord, Ledger, open_ledger
from agent.loops.anomaly import ALL_STALE, REPORT_BACKLOG, AnomalyLoop
from agent.metrics_port import MetricSeries
from agent.observability import Metrics
from agent.settings import AnomalyQuery, RoutingSettings
from forecasting.anomaly.calibration import NAB
from forecasting.anomaly.off_scale import (
    MINUS_CONFIDENCE,
    OFF_SCALE_AFTER,
    PLUS_CONFIDENCE,
    as_json,
    off_scale_point,
)
from forecasting.series import Series
from remediation.signals import Signal
from remediation.windows import to_utc_text

STEP = 60.0
STALE_AFTER = 300.0
T0 = math.floor(1_795_000_000.0 / STEP) * STEP
LABELS = {"namespace": "shop", "deployment": "web"}
QUERY = "latency_p99"


class P99:
    """A p99 latency of about 0.42 s, and the values set in ``at`` (time -> value: +Inf,
    -Inf, NaN or a number) in its place, read as ``PrometheusReader`` reads a range: +-Inf
    and NaN become NaN, each +-Inf's place kept in ``infinite``, stale by the newest
    finite sample, and ``off_scale_fresh`` when an infinite one is within staleAfter."""

    def __init__(self) -> None:
        self.at: dict[float, float] = {}

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        grid = np.arange(math.ceil(start / step) * step, min(end, now) + 1, step)
        values = 0.42 + 0.02 * np.sin(grid / 1800.0) + 0.005 * np.cos(grid / 97.0)
        for i, t in enumerate(grid):
            if float(t) in self.at:
                values[i] = self.at[float(t)]
        infinite = tuple((int(i), float(values[i])) for i in np.flatnonzero(np.isinf(values)))
        finite = np.flatnonzero(np.isfinite(values))
        last = float(grid[finite[-1]]) if finite.size else None
        stale = last is None or now - last > STALE_AFTER
        newest_inf = float(grid[infinite[-1][0]]) if infinite else None
        fresh_inf = stale and newest_inf is not None and now - newest_inf <= STALE_AFTER
        gaps = np.where(np.isfinite(values), values, np.nan)
        series = Series(grid, gaps, step, query, LABELS)
        return [
            MetricSeries(
                query,
                dict(LABELS),
                series,
                int((~np.isfinite(values)).sum()),
                last,
                stale,
                float(np.isnan(gaps).mean()),
                infinite=infinite,
                off_scale_fresh=fresh_inf,
            )
        ]

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return []


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", T0)
    yield opened
    opened.close()


def _loop(ledger: Ledger, clock: FakeClock, reader: P99, signals: list[Signal]) -> AnomalyLoop:
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    query = AnomalyQuery(name=QUERY, expr=QUERY, step=60, history=3 * 3600)
    return AnomalyLoop(
        [query],
        reader=reader,
        ledger=ledger,
        decisions=decisions,
        submit=signals.extend,
        clock=clock,
    )


def _run(loop: AnomalyLoop, clock: FakeClock, reader: P99, minutes: int, value: float | None):
    """``minutes`` cycles a step apart, the series ``value`` at each new step (None: its
    usual values)."""
    for _ in range(minutes):
        clock.advance(STEP)
        if value is not None:
            reader.at[clock.now()] = value
        loop.cycle()


def _decisions(ledger: Ledger) -> list[DecisionRecord]:
    return list(ledger.decisions(kind="anomaly", decision_type=f"anomaly/{QUERY}"))


def _started(ledger: Ledger) -> tuple[AnomalyLoop, FakeClock, P99, list[Signal]]:
    clock, reader, signals = FakeClock(T0), P99(), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()  # three hours of history, learnt
    _run(loop, clock, reader, 5, None)
    assert loop.status.incidents_opened == 0 and not signals
    return loop, clock, reader, signals


def test_a_run_of_plus_inf_opens_one_incident_up_and_closes_when_finite_values_return(
    ledger: Ledger,
) -> None:
    loop, clock, reader, signals = _started(ledger)
    (state,) = loop.series.values()
    _run(loop, clock, reader, OFF_SCALE_AFTER - 1, math.inf)
    assert not signals, "a +Inf or two is not yet an incident"
    _run(loop, clock, reader, 1, math.inf)
    (signal,) = signals
    assert signal.direction == "up" and signal.confidence == PLUS_CONFIDENCE
    assert signal.evidence["observed"] == "+Inf"
    assert signal.since == clock.now()
    (decision,) = _decisions(ledger)
    assert decision.reason_code == "AnomalyOffScale"
    assert "+Inf for 3 steps running" in decision.reason
    assert "largest finite bucket" in decision.reason and "add buckets" in decision.reason
    assert "expected 0.4" in decision.reason  # the band it had learnt, said
    assert decision.evidence["observed"] == "+Inf"
    json.dumps(decision.evidence, allow_nan=False)

    # Forty minutes more of +Inf: past staleAfter (the series is not "stale data":
    # Prometheus answers) and past the 30 steps after which a silent series' incident is
    # dropped: the same incident goes on, nothing new is sent.
    _run(loop, clock, reader, 40, math.inf)
    assert loop.status.degraded == {}
    assert state.tracker.current is not None and state.tracker.current.reason == "off_scale"
    assert math.isinf(state.tracker.current.peak_observed) and len(signals) == 1
    assert loop.status.incidents_opened == 1

    # Saved (the ledger holds no infinity as a number) and restored as it was.
    loop.save()
    saved, _ = ledger.guard(f"anomaly/{next(iter(loop.series))}")
    assert saved["tracker"]["current"]["peak_observed"] == "+Inf"
    assert saved["opened"]["observed"] == "+Inf"
    again = open_signal(next(iter(loop.series)), saved, clock.now())
    assert again is not None and again.direction == "up"
    assert again.confidence == PLUS_CONFIDENCE
    restarted = _loop(ledger, clock, reader, [])
    restarted.cycle()
    (restored,) = restarted.series.values()
    assert restored.tracker.current is not None
    assert restored.tracker.current.peak_observed == math.inf

    # Finite values again: nothing was learnt from the +Inf (the band is where it was,
    # finite), and the incident closes once they have been back in the band for the
    # tracker's quiet points (the usual values drifted while they were off the scale, as
    # over any gap, so the detector takes a few steps to follow them), with no new one.
    assert 0.38 < state.detector.update(clock.now() + 1, math.nan).expected < 0.46
    _run(loop, clock, reader, 25, None)
    assert state.tracker.current is None
    assert state.closed is not None and state.closed.how == RECOVERED
    assert loop.status.incidents_opened == 1 and len(signals) == 1


def test_a_run_of_minus_inf_opens_an_incident_down_escalated_as_a_broken_query(
    ledger: Ledger,
) -> None:
    loop, clock, reader, signals = _started(ledger)
    _run(loop, clock, reader, OFF_SCALE_AFTER, -math.inf)
    (signal,) = signals
    assert signal.direction == "down" and signal.confidence == MINUS_CONFIDENCE
    (decision,) = _decisions(ledger)
    assert "-Inf for 3 steps running" in decision.reason
    assert "check the query" in decision.reason
    assert decision.route in ("observe", "escalate")


def test_nan_between_infinite_points_holds_the_run_and_a_finite_value_ends_it(
    ledger: Ledger,
) -> None:
    loop, clock, reader, signals = _started(ledger)
    _run(loop, clock, reader, 2, math.inf)
    _run(loop, clock, reader, 1, 0.42)  # back on the scale: the run starts again
    _run(loop, clock, reader, 2, math.inf)
    assert not signals
    _run(loop, clock, reader, 1, math.nan)  # no requests: says nothing either way
    assert not signals
    _run(loop, clock, reader, 1, math.inf)
    (signal,) = signals
    assert signal.evidence["observed"] == "+Inf"


def test_nan_stays_a_gap_stale_after_stale_after_and_opens_nothing(ledger: Ledger) -> None:
    loop, clock, reader, signals = _started(ledger)
    _run(loop, clock, reader, 10, math.nan)
    assert loop.status.degraded == {QUERY: ALL_STALE}
    assert not signals and loop.status.incidents_opened == 0


def test_plus_inf_from_a_series_first_points_opens_with_no_band_learnt(ledger: Ledger) -> None:
    """A new series whose p99 is +Inf from its first point: nothing learnt, so no band,
    but the value is off the scale all the same (the ledger takes the NaN band). Its first
    read is history, which opens nothing, but for its last ``REPORT_BACKLOG`` steps: +Inf
    then is now, and news."""
    clock, reader, signals = FakeClock(T0), P99(), []
    for i in range(3 * 60 + 1):
        reader.at[T0 - 3 * 3600 + i * STEP] = math.inf
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    assert loop.status.degraded == {}
    (signal,) = signals
    assert signal.since == T0 - REPORT_BACKLOG * STEP
    assert signal.direction == "up" and signal.evidence["upper"] == "NaN"
    (decision,) = _decisions(ledger)
    assert "nothing learnt of it yet" in decision.reason
    _run(loop, clock, reader, 5, math.inf)
    assert len(signals) == 1


def test_an_off_scale_point_opens_only_from_the_run_s_third_and_is_never_finite() -> None:
    early = off_scale_point(T0, math.inf, OFF_SCALE_AFTER - 1, 0.4, 0.3, 0.5)
    opening = off_scale_point(T0, math.inf, OFF_SCALE_AFTER, 0.4, 0.3, 0.5)
    assert early.score == 0.0 and opening.score == 1.0
    assert early.confidence == opening.confidence == 1.0 and opening.reason == "off_scale"
    with pytest.raises(ValueError):
        off_scale_point(T0, 0.4, OFF_SCALE_AFTER, 0.4, 0.3, 0.5)
    # Within what any anomaly signal carries, so the runbook checks that reason from the
    # calibration's map (the most an anomaly signal carries) stay true.
    assert min(NAB.probabilities) <= MINUS_CONFIDENCE < PLUS_CONFIDENCE
    assert max(NAB.probabilities) >= PLUS_CONFIDENCE
    assert [as_json(v) for v in (math.inf, -math.inf, math.nan, 0.5)] == [
        "+Inf",
        "-Inf",
        "NaN",
        0.5,
    ]


def test_autonomic_detect_gives_off_scale_on_the_rows_the_loop_opens_and_holds_it_on(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same series through the daemon's loop and through ``autonomic detect`` (a CSV
    as Prometheus exports it, ``+Inf`` and ``-Inf`` spelled so): the rows the CLI flags
    ``off_scale`` are those on which the loop's ``off_scale`` incident is open (it opens
    on the first of them), with the band the loop's detector expected there; the rows
    before the run is long enough are ``off_scale`` too, not flagged. Before, ``detect``
    refused the file (an infinite value was an error)."""
    from agent.cli import main

    clock, reader, signals = FakeClock(T0), P99(), []
    loop = _loop(ledger, clock, reader, signals)
    loop.keep_points = True
    loop.cycle()  # three hours of history, learnt
    open_at: list[float] = []  # the steps whose point found the incident open
    steps = [None] * 5 + [math.inf] * 2 + [0.42] + [math.inf] * 2 + [math.nan]
    steps += [math.inf] * 3 + [-math.inf] * 2 + [None] * 3
    for value in steps:
        _run(loop, clock, reader, 1, value)
        current = loop.series[next(iter(loop.series))].tracker.current
        if current is not None and current.reason == "off_scale":
            open_at.append(clock.now())
    (signal,) = signals
    assert signal.since == T0 + 12 * STEP  # the third infinite point running, NaN held
    (points,) = loop.points.values()

    def cell(value: float) -> str:
        return "" if math.isnan(value) else as_json(value) if math.isinf(value) else repr(value)

    series = tmp_path / "p99.csv"
    series.write_text(
        "timestamp,value\n" + "".join(f"{p[0]:.0f},{cell(p[1])}\n" for p in points),
        encoding="utf-8",
    )
    scores = tmp_path / "scores.csv"
    assert main(["detect", str(series), "-o", str(scores)]) == 0, capsys.readouterr().err
    with scores.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(points)
    flagged = [
        t
        for (t, *_), row in zip(points, rows, strict=True)
        if row["reason"] == "off_scale" and float(row["anomaly_score"]) >= 0.69
    ]
    infinite = [p[0] for p in points if math.isinf(p[1])]
    assert flagged == [t for t in open_at if t in infinite] and flagged[0] == signal.since
    assert flagged == [T0 + i * STEP for i in range(12, 17)]  # +Inf 3 times, -Inf twice
    for (t, observed, expected, lower, upper, _), row in zip(points, rows, strict=True):
        if math.isinf(observed):  # its band is what the loop's detector expected there
            assert row["reason"] == "off_scale" and row["value"] == as_json(observed)
            assert float(row["expected"]) == pytest.approx(expected, rel=1e-9)
            assert float(row["lower"]) == pytest.approx(lower, rel=1e-9)
            assert float(row["upper"]) == pytest.approx(upper, rel=1e-9)
            assert float(row["confidence"]) == 1.0
            assert (t in flagged) == (float(row["anomaly_score"]) == 1.0)
    assert [r["value"] for r in rows if r["reason"] == "off_scale"].count("-Inf") == 2
    err = capsys.readouterr().err
    assert f"{len(flagged)} rows flagged (score >= 0.69), {len(flagged)} of them off_scale" in err


def test_a_run_does_not_span_a_silence_that_drops_an_incident(ledger: Ledger) -> None:
    """Two +Inf, then no data for 45 steps (more than the 30 after which the loop drops an
    open incident as ``silent``: what the series did meanwhile is not known), then one
    +Inf: that is one +Inf, not "3 steps running", and opens nothing; two more do. Before,
    the run held across the silence and the lone +Inf opened an incident whose sentence
    said it had lasted 3 steps."""
    loop, clock, reader, signals = _started(ledger)
    _run(loop, clock, reader, OFF_SCALE_AFTER - 1, math.inf)
    _run(loop, clock, reader, 45, math.nan)
    _run(loop, clock, reader, 1, math.inf)
    assert not signals, "a lone +Inf after a long silence is no run of 3"
    _run(loop, clock, reader, OFF_SCALE_AFTER - 1, math.inf)
    (signal,) = signals
    assert signal.since == clock.now() and signal.evidence["observed"] == "+Inf"


class _ByQuery:
    """A ``P99`` per query expression, for two queries on one workload."""

    def __init__(self, **readers: P99) -> None:
        self.readers = readers

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        return self.readers[query].range(query, start, end, step, now)

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return []


def test_an_off_scale_incident_is_named_in_its_group_with_its_words_not_nan_or_unknown(
    ledger: Ledger,
) -> None:
    """A p99 off the scale from its series' first point (nothing learnt: no expected
    value), then the same workload's error ratio spikes: the second incident's group
    sentence names the first with its peak +Inf and expected NaN as the ledger writes
    them, and ``autonomic explain`` of it shows them so. Before, the sentence said
    "expected nan" (Python's word) and explain "peak ?, expected ?", as if nothing were
    known of it."""
    from agent.cli.explain_cmd import render

    latency, errors = P99(), P99()
    for i in range(3 * 60 + 1):
        latency.at[T0 - 3 * 3600 + i * STEP] = math.inf
    clock, signals = FakeClock(T0), []
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    loop = AnomalyLoop(
        [
            AnomalyQuery(name=name, expr=name, step=60, history=3 * 3600)
            for name in (QUERY, "error_ratio")
        ],
        reader=_ByQuery(**{QUERY: latency, "error_ratio": errors}),
        ledger=ledger,
        decisions=decisions,
        submit=signals.extend,
        clock=clock,
    )
    loop.cycle()
    assert len(signals) == 1
    clock.advance(STEP)
    latency.at[clock.now()] = math.inf
    errors.at[clock.now()] = 50.0
    loop.cycle()
    assert len(signals) == 2
    (second,) = ledger.decisions(kind="anomaly", decision_type="anomaly/error_ratio")
    assert "latency_p99 off_scale since" in second.reason
    assert "(peak +Inf, expected NaN)" in second.reason, second.reason
    story = render(ledger, second.id)
    heading = "Anomalous together on Deployment/shop/web (in the order they opened)\n"
    line = story.split(heading, 1)[1].split("\n")[0]
    assert "latency_p99 off_scale" in line, line
    assert "peak +Inf, expected NaN" in line, line


@pytest.mark.parametrize(
    ("level", "said"),
    [
        (0.9, "a level outside the band it had before the run (it was +Inf), closed once"),
        (None, "back where it was before the run"),
    ],
)
def test_finite_values_after_hours_off_the_scale_end_that_incident_saying_what_they_came_to(
    ledger: Ledger, caplog: pytest.LogCaptureFixture, level: float | None, said: str
) -> None:
    """Three hours of +Inf (the detector learns nothing from them), then the p99 finite
    again: at a new level, 0.9 s against the 0.42 learnt before (the buckets were fine,
    the service is slower now), or back at its old values. Either way no second incident
    opens (the off_scale one is still open when the first finite value comes, and the
    detector then follows a new level as it does any level shift: its band reaches 0.9
    within half an hour), and the off_scale incident closes recovered once the values
    are in the band; its close says what they came back to, against what was expected
    before the run, saved across a restart in between. Before, it closed saying nothing
    of the finite values (a p99 now twice what it was passed as a plain recovery)."""
    loop, clock, reader, signals = _started(ledger)
    (state,) = loop.series.values()
    _run(loop, clock, reader, 180, math.inf)
    assert state.tracker.current is not None and state.tracker.current.reason == "off_scale"
    caplog.set_level("INFO", logger="autonomic.anomaly")
    _run(loop, clock, reader, 3, level)
    assert state.back is not None and state.back[1] == pytest.approx(level or 0.42, abs=0.03)
    loop.save()  # restarted with the first value back saved, the close still says it
    signals_before = list(signals)
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    (state,) = loop.series.values()
    assert state.back is not None
    _run(loop, clock, reader, 60, level)
    assert state.tracker.current is None and state.back is None
    assert state.closed is not None and state.closed.how == RECOVERED
    assert state.closed.reason == "off_scale"
    # The restart sends the open incident's signal again (the engine's queue died with
    # the process; it does not decide twice on one key), and nothing else.
    resent = signals[len(signals_before) :]
    assert [s.dedup_key for s in resent] == [signals_before[-1].dedup_key]
    assert loop.status.incidents_opened == 0
    assert len(_decisions(ledger)) == 1, "the same slowness is not a second incident"
    (line,) = [r.getMessage() for r in caplog.records if "its off_scale incident" in r.message]
    shown = f"{level:.4g}" if level is not None else "0.4"
    assert f"recovered at {to_utc_text(state.closed.closed_at)}: back on the scale at " in line
    assert f" at {shown}" in line and "against 0.4" in line, line
    assert said in line, line


def test_an_off_scale_incident_that_goes_off_the_scale_again_says_the_last_values_back(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """Off the scale, finite at 0.9 for two steps (the incident still open), off the scale
    again, then back at the usual values until it closes: the close says what the values
    came back to after the last run (0.42), not after the first (0.9). Before, the first
    finite value was kept for good while the incident was open."""
    loop, clock, reader, _ = _started(ledger)
    (state,) = loop.series.values()
    _run(loop, clock, reader, 10, math.inf)
    _run(loop, clock, reader, 2, 0.9)
    assert state.back is not None and state.back[1] == pytest.approx(0.9)
    _run(loop, clock, reader, 5, math.inf)
    assert state.back is None, "a run off the scale again: what came back before is old"
    caplog.set_level("INFO", logger="autonomic.anomaly")
    _run(loop, clock, reader, 1, None)
    assert state.back is not None
    back_at = state.back[0]
    _run(loop, clock, reader, 59, None)
    assert state.tracker.current is None and state.closed is not None
    (line,) = [r.getMessage() for r in caplog.records if "its off_scale incident" in r.message]
    assert f"back on the scale at {to_utc_text(back_at)}" in line, line
    assert " at 0.42" in line and " at 0.9," not in line, line
