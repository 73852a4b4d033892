"""How an anomaly incident ended, as the loop saves it in the ledger: ``recovered`` after
its quiet points, ``silent`` when dropped after a gap in its series' data; a state saved
before how was kept restores with its end unknown; and the reading of the saved state
the remediation engine makes of it (``agent.anomaly_end``): only a recovery after the
decision is over, and an open incident saved without its signal counts, in doubt."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.anomaly_end import judge, open_signal
from agent.approvals import Approvals, LedgerOnlyChannel
from agent.cli.explain_cmd import render
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.ledger import Ledger, open_ledger
from agent.loops.anomaly import GAP_RESETS_INCIDENT, AnomalyLoop
from agent.observability import Metrics
from agent.settings import AnomalyQuery, RoutingSettings
from remediation.ports import ObjectRef
from tests.unit.anomaly.test_anomaly_groups import (
    START,
    STEP,
    T0,
    Workloads,
    _loop,
    _run,
)

ERRORS = "http_error_ratio{deployment=web,namespace=shop}"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", START)
    yield opened
    opened.close()


def _saved(ledger: Ledger, series: str = ERRORS) -> dict[str, Any]:
    value, version = ledger.guard(f"anomaly/{series}")
    assert version > 0
    return value


def _started(ledger: Ledger) -> tuple[FakeClock, Workloads, Any, float]:
    clock = FakeClock(START)
    reader = Workloads()
    loop = _loop(ledger, clock, reader, [])
    loop.cycle()  # history
    at = T0 + 2 * STEP
    reader.spikes[("http_error_ratio", "web")] = (at, 3)
    _run(loop, clock, 3)
    return clock, reader, loop, at


def test_an_incident_back_to_normal_is_saved_recovered(ledger: Ledger) -> None:
    clock, _, loop, at = _started(ledger)
    opened = _saved(ledger)
    assert opened["tracker"]["current"]["opened_at"] == at
    assert opened["opened"]["labels"] == {"namespace": "shop", "deployment": "web"}
    _run(loop, clock, 12)
    saved = _saved(ledger)
    assert saved["tracker"]["current"] is None
    assert saved["opened"] is None  # kept only while the incident is open
    closed = saved["closed"]
    assert closed["how"] == "recovered" and closed["since"] == at, closed
    assert loop.series[ERRORS].closed is not None
    assert loop.series[ERRORS].closed.how == "recovered"


def test_a_sustained_anomaly_is_not_saved_recovered_while_it_stays_out_of_its_band(
    ledger: Ledger,
) -> None:
    """The error ratio jumps and stays up. The detector damps the score of every point
    after the one that fired, so each scores below the threshold, however far out: that
    used to count as a quiet point, and the incident was saved ``recovered`` ten points
    after it opened, the series still hundreds of times its band, which the engine reads
    as "back within its expected band" (a late approval then wrote nothing). It stays
    open while its points are outside the band, and recovers ten points after they are
    back inside it (here, once the detector has learnt the new level)."""
    clock = FakeClock(START)
    reader = Workloads()
    loop = _loop(ledger, clock, reader, [])
    loop.keep_points = True
    loop.cycle()  # history
    at = T0 + 2 * STEP
    reader.spikes[("http_error_ratio", "web")] = (at, 1_000)  # up, and staying up
    _run(loop, clock, 3)
    assert _saved(ledger)["tracker"]["current"]["opened_at"] == at
    outside = 0
    for _ in range(25):
        _run(loop, clock, 1)
        _, observed, _, lower, upper, _ = loop.points[ERRORS][-1]
        if lower <= observed <= upper:
            break
        outside += 1
        saved = _saved(ledger)
        assert saved["tracker"]["current"] is not None, (clock.now() - at) / STEP
        assert saved["closed"] is None
        assert not judge(ERRORS, at, saved, decided_at=at, now=clock.now()).over
    assert outside >= 15  # far out for long after the ten points that closed it
    _run(loop, clock, 60)
    closed = _saved(ledger)["closed"]
    assert closed is not None and closed["how"] == "recovered" and closed["since"] == at
    scored = {p[0]: p for p in loop.points[ERRORS]}
    before = [scored[closed["closed_at"] - k * STEP] for k in range(10)]
    assert all(p[3] <= p[1] <= p[4] for p in before), before  # back inside its band


def test_an_incident_dropped_after_a_gap_is_saved_silent(
    ledger: Ledger,
) -> None:
    clock, reader, loop, at = _started(ledger)
    reader.spikes[("http_error_ratio", "web")] = (at, 100)  # still anomalous
    last = clock.now() - clock.now() % STEP
    real_range = reader.range
    reader.range = lambda q, s, e, st, n: [  # type: ignore[method-assign]
        m for m in real_range(q, s, e, st, n) if m.labels.get("deployment") != "web"
    ]
    _run(loop, clock, GAP_RESETS_INCIDENT + 2)  # web's series have no data
    reader.range = real_range  # type: ignore[method-assign]
    reader.spikes.clear()
    _run(loop, clock, 1)
    closed = _saved(ledger)["closed"]
    assert closed["how"] == "silent" and closed["since"] == at, closed
    assert closed["closed_at"] == last  # its last real point


def test_a_state_saved_before_how_was_kept_restores_with_its_end_unknown(
    ledger: Ledger,
) -> None:
    clock, _, loop, at = _started(ledger)
    _run(loop, clock, 12)
    key = f"anomaly/{ERRORS}"
    value, version = ledger.guard(key)
    del value["closed"]["how"], value["opened"]  # as an earlier version saved it
    assert ledger.put_guard(key, value, version, clock.now())
    loop.forget()
    _run(loop, clock, 1)
    restored = loop.series[ERRORS].closed
    assert restored is not None and restored.since == at and restored.how is None
    saved = _saved(ledger)
    judged = judge(ERRORS, at, saved, decided_at=at, now=clock.now())
    assert not judged.over and "how was not saved" in judged.why, judged


def test_only_a_recovery_after_the_decision_is_over(ledger: Ledger) -> None:
    clock, _, loop, at = _started(ledger)
    _run(loop, clock, 12)
    saved = _saved(ledger)
    end = saved["closed"]["closed_at"]
    assert judge(ERRORS, at, saved, decided_at=end - 60, now=clock.now()).over
    before = judge(ERRORS, at, saved, decided_at=end + 60, now=clock.now())
    assert not before.over and "before this decision was made" in before.why, before
    assert not judge(ERRORS, at, None, decided_at=at, now=clock.now()).over
    other = judge(ERRORS, at - STEP, saved, decided_at=at, now=clock.now())
    assert not other.over, other  # the record knows nothing of that incident


def test_an_open_incident_saved_without_its_signal_counts_in_doubt(
    ledger: Ledger,
) -> None:
    clock, _, _, at = _started(ledger)
    saved = _saved(ledger)
    sent = open_signal(ERRORS, saved, clock.now())
    assert sent is not None and sent.since == at
    assert sent.confidence == saved["opened"]["confidence"] < 1.0
    del saved["opened"]  # as an earlier version saved it
    old = open_signal(ERRORS, saved, clock.now())
    assert old is not None and old.confidence == 1.0
    assert old.target == ObjectRef("Deployment", "web", "shop")
    assert old.direction == "up"
    # silent for the gap: the loop no longer counts it open, nor does the engine
    late = clock.now() + (GAP_RESETS_INCIDENT + 1) * STEP
    assert open_signal(ERRORS, saved, late) is None


def test_a_group_names_an_incident_dropped_for_silence_as_silent_not_over(
    ledger: Ledger,
) -> None:
    """At a 10 s step, an incident dropped after 30 steps without data ended 5 minutes
    ago, within the group window: a group that names it says since when its series had
    no data, not that it was over."""
    clock = FakeClock(START)
    reader = Workloads()
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    step = 10.0
    loop = AnomalyLoop(
        [
            AnomalyQuery(name=name, expr=name, step=step, history=3 * 3600)
            for name in ("latency_p99", "http_error_ratio")
        ],
        reader=reader,
        ledger=ledger,
        decisions=decisions,
        submit=lambda signals: None,
        clock=clock,
    )
    loop.cycle()  # history
    at = clock.now() - clock.now() % step + step
    reader.spikes[("http_error_ratio", "web")] = (at, 1000)
    real_range = reader.range

    def without_web_errors(q: str, s: float, e: float, st: float, n: float) -> list[Any]:
        found = real_range(q, s, e, st, n)
        if q != "http_error_ratio":
            return found
        return [m for m in found if m.labels.get("deployment") != "web"]

    for _ in range(3):
        clock.advance(step)
        loop.cycle()
    last = clock.now() - clock.now() % step
    reader.range = without_web_errors  # type: ignore[method-assign]
    for _ in range(GAP_RESETS_INCIDENT + 2):
        clock.advance(step)
        loop.cycle()
    reader.range = real_range  # type: ignore[method-assign]
    reader.spikes = {}
    clock.advance(step)
    loop.cycle()  # web's errors back, normal: the incident is dropped
    reader.spikes = {("latency_p99", "web"): (clock.now() - clock.now() % step + step, 3)}
    for _ in range(2):
        clock.advance(step)
        loop.cycle()
    assert _saved(ledger)["closed"]["how"] == "silent"
    (latency,) = [
        d
        for d in ledger.decisions(kind="anomaly", decision_type="anomaly/latency_p99")
        if d.subject == "Deployment/shop/web"
    ]
    assert "http_error_ratio spike since " in latency.reason, latency.reason
    shown = time.strftime("%H:%M:%S" if last % 60 else "%H:%M", time.gmtime(last))
    assert f"; no data since {shown} UTC)" in latency.reason, latency.reason
    assert "; over at " not in latency.reason
    story = render(ledger, latency.id)
    assert "http_error_ratio spike, peak 1010, expected " in story, story
    assert ", no data since " in story and ", over at " not in story, story
