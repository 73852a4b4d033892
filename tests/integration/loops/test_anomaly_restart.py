"""A restart, or a change of leader, in the middle of an incident: the anomaly loop that
comes back finds the incident it was noticing, instead of opening it again under a new
key (a second observation, a second signal, a second question to the on-call), on SQLite
and on PostgreSQL.

The incident here is an error ratio that flaps: every other minute it jumps, so the
incident stays open (fewer than 10 quiet points in a row) for as long as it goes on.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.approvals import Approvals, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.daemon import Daemon
from agent.decisions import DecisionService
from agent.ledger import Ledger, open_ledger
from agent.loops.anomaly import AnomalyLoop
from agent.metrics_port import MetricSeries
from agent.observability import Metrics
from agent.settings import AnomalyQuery, RoutingSettings
from forecasting.series import Series
from remediation.signals import Signal
from tests.harness.gates import SwitchGate
from tests.harness.servers import fresh_schema

STEP = 60.0
START = 1_795_000_000.0
T0 = math.floor(START / STEP) * STEP
QUERY = "http_error_ratio"
WEB = "http_error_ratio{deployment=web,namespace=shop}"


class Flapping:
    """Smooth series for the Deployments ``web`` and ``api``; from ``at`` on, the error
    ratio of ``name`` (web) is 1,000 higher every other minute, for ``length`` minutes."""

    def __init__(self) -> None:
        self.at: float | None = None
        self.length = 0
        self.name = "web"

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        grid = np.arange(math.ceil(start / step) * step, min(end, now) + 1, step)
        out = []
        for i, name in enumerate(("web", "api")):
            labels = {"namespace": "shop", "deployment": name}
            values = 10.0 * (i + 1) + np.sin(grid / 3600.0)
            if self.at is not None and name == self.name:
                k = np.round((grid - self.at) / step)
                values[(k >= 0) & (k < self.length) & (k % 2 == 0)] += 1_000.0
            series = Series(grid, values, step, query, labels)
            out.append(MetricSeries(query, labels, series, 0, grid[-1], False, 0.0))
        return out

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return []


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    found, _ = fresh_schema(request.getfixturevalue("postgres_url"))
    return found


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    opened = open_ledger(url, START)
    yield opened
    opened.close()


def _decisions(ledger: Ledger, clock: FakeClock) -> DecisionService:
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    return DecisionService(
        ledger, clock, RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )


def _loop(ledger: Ledger, clock: FakeClock, reader: Flapping, signals: list[Signal]) -> AnomalyLoop:
    """A daemon's anomaly loop; its periodic save never comes round in these tests (it
    would every 10 cycles), so what is saved is what the loop saves of itself."""
    return AnomalyLoop(
        [AnomalyQuery(name=QUERY, expr=QUERY, step=60, history=3 * 3600)],
        reader=reader,
        ledger=ledger,
        decisions=_decisions(ledger, clock),
        submit=signals.extend,
        clock=clock,
        save_every=10**6,
    )


def _run(loop: AnomalyLoop, clock: FakeClock, minutes: int) -> None:
    for _ in range(minutes):
        clock.advance(STEP)
        loop.cycle()


def _opened(ledger: Ledger) -> list[str]:
    """The incident keys of the anomaly observations recorded."""
    return sorted(str(d.incident_key) for d in ledger.decisions(kind="anomaly"))


def test_an_incident_opened_after_the_last_save_is_not_opened_again_after_a_restart(
    ledger: Ledger,
) -> None:
    """Killed 6 minutes into an incident that opened after the series' last save, back 12
    minutes later: the points read again from that save put the incident's first point
    more than 10 steps back (history, which opens nothing), so the restarted loop opened
    it again at its next anomalous point, as news, under another key."""
    clock, reader, signals = FakeClock(T0), Flapping(), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    loop.save()  # the series' last periodic save, before the incident
    reader.at, reader.length = T0 + 2 * STEP, 60
    _run(loop, clock, 8)
    (first,) = _opened(ledger)
    assert {s.dedup_key for s in signals} == {first}

    clock.advance(12 * STEP)  # killed (no shutdown save), back 12 minutes later
    restarted = _loop(ledger, clock, reader, signals)
    _run(restarted, clock, 20)
    assert _opened(ledger) == [first]
    assert {s.dedup_key for s in signals} == {first}
    assert restarted.status.incidents_opened == 0
    current = restarted.series[WEB].tracker.current
    assert current is not None and current.opened_at == T0 + 2 * STEP  # the same one


def test_a_series_not_saved_yet_keeps_its_history_across_a_restart(ledger: Ledger) -> None:
    """Killed 5 minutes after a first start: web's series saved (its incident opened),
    api's not (its turn to be saved not come). The restarted loop reads the query from
    web's last saved point, so api's detector started again from nothing: in its 30
    points of warm-up, api's error ratio jumping 10 minutes later opened no incident
    (benchmarks/anomaly_crash.py, a kill at the start of minute 5). A series is saved
    at the end of the read that first returns it."""
    clock, reader, signals = FakeClock(T0), Flapping(), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()  # a first start: 3 hours of history, both series
    reader.at, reader.length = T0 + 2 * STEP, 3
    _run(loop, clock, 4)
    assert len(_opened(ledger)) == 1  # web's

    clock.advance(STEP)  # killed before its next cycle, back at once
    restarted = _loop(ledger, clock, reader, signals)
    reader.name, reader.at, reader.length = "api", clock.now() + 10 * STEP, 60
    _run(restarted, clock, 12)
    api = [key for key in _opened(ledger) if "/Deployment/shop/api/" in key]
    assert len(api) == 1, _opened(ledger)
    assert restarted.status.incidents_opened == 1


def test_an_incident_open_through_a_long_restart_stays_one_incident(ledger: Ledger) -> None:
    """Saved with its incident open, down 25 minutes while it went on: the points read
    again were taken as quiet ones (history), which closed it after 10, and the next
    point opened it again under another key."""
    clock, reader, signals = FakeClock(T0), Flapping(), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    reader.at, reader.length = T0 + 2 * STEP, 120
    _run(loop, clock, 20)
    loop.save()  # a clean shutdown saves everything
    (first,) = _opened(ledger)

    clock.advance(25 * STEP)
    restarted = _loop(ledger, clock, reader, signals)
    _run(restarted, clock, 20)
    assert _opened(ledger) == [first]
    assert {s.dedup_key for s in signals} == {first}

    # When it is over it closes, and the next incident is a new one.
    _run(restarted, clock, 100)
    assert restarted.series[WEB].tracker.current is None
    reader.at, reader.length = clock.now() + STEP, 1
    _run(restarted, clock, 2)
    assert len(_opened(ledger)) == 2


def test_a_catch_up_still_reports_no_anomaly_that_is_over(ledger: Ledger) -> None:
    """History still opens nothing: an incident that began and ended while the daemon was
    down is learnt from, not reported."""
    clock, reader, signals = FakeClock(T0), Flapping(), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    loop.save()
    reader.at, reader.length = T0 + 5 * STEP, 10
    clock.advance(40 * STEP)
    restarted = _loop(ledger, clock, reader, signals)
    _run(restarted, clock, 5)
    assert _opened(ledger) == [] and signals == []


class _Settled:
    """The remediation engine's part in a change of leader: nothing to settle."""

    def recover(self) -> dict[str, int]:
        return {}


def _replica(ledger: Ledger, clock: FakeClock, reader: Flapping) -> tuple[Daemon, SwitchGate]:
    gate = SwitchGate(leader=False)
    daemon = Daemon(
        settings=None,  # type: ignore[arg-type]  # not read by the anomaly job
        clock=clock,
        ledger=ledger,
        metrics=Metrics(),
        decisions=_decisions(ledger, clock),
        engine=_Settled(),  # type: ignore[arg-type]
        anomaly=_loop(ledger, clock, reader, []),
        gate=gate,
        alerts=None,  # type: ignore[arg-type]
    )
    return daemon, gate


def _lead(daemon: Daemon, clock: FakeClock, minutes: int) -> list[Any]:
    """Run the anomaly job as the runtime runs it, ``minutes`` times; the signals sent."""
    signals: list[Any] = []
    daemon.anomaly.submit = signals.extend
    job = daemon._after_recovery(daemon.anomaly_cycle)
    for _ in range(minutes):
        clock.advance(STEP)
        job()
    return signals


def test_a_replica_leading_again_takes_up_the_incident_the_other_leader_opened(
    ledger: Ledger,
) -> None:
    """B leads, then A (an incident opens on its watch and goes on), then B again: B's
    memory was from before A's turn and was not restored from the ledger, so it saw no
    incident open and opened it again as soon as it caught up."""
    clock, reader = FakeClock(T0), Flapping()
    b, b_gate = _replica(ledger, clock, reader)
    a, a_gate = _replica(ledger, clock, reader)
    b_gate.leader = True
    assert _lead(b, clock, 3) == []
    b_gate.leader = False

    a_gate.leader = True
    reader.at, reader.length = T0 + 20 * STEP, 120
    a_signals = _lead(a, clock, 40)
    a.anomaly.save()  # A hands over cleanly: everything saved
    a_gate.leader = False
    (first,) = _opened(ledger)
    assert {s.dedup_key for s in a_signals} == {first}

    b_gate.leader = True
    b_signals = _lead(b, clock, 20)
    assert _opened(ledger) == [first]
    assert {s.dedup_key for s in b_signals} <= {first}
    current = b.anomaly.series[WEB].tracker.current
    assert current is not None and current.opened_at == T0 + 20 * STEP


def test_a_daemon_restarted_mid_incident_does_not_ask_the_on_call_again(tmp_path: Path) -> None:
    """The whole way to the person: web's errors flap during a rollout, the runbook asks,
    the on-call rejects; the daemon is killed and back 12 minutes later with the errors
    still flapping. The restarted loop opened the incident again under another key, and
    the runbook asked the same question a second time."""
    from tests.unit.engine.harness import WEB as WEB_REF
    from tests.unit.engine.harness import restarted, rig, web

    # the spike's calibrated confidence (0.647) times a new runbook's 0.75 is about 0.49:
    # it asks at 0.4
    r = rig(tmp_path, auto=0.999, ask=0.4)
    r.sim.add_workload(web(4))
    r.run(60)
    r.sim.roll_out(WEB_REF, "shop/web:2")
    r.engine.query = lambda text: 12.5  # type: ignore[method-assign]  # real traffic

    def anomaly_loop(submit: Any) -> AnomalyLoop:
        return AnomalyLoop(
            [AnomalyQuery(name=QUERY, expr=QUERY, step=60, history=3 * 3600)],
            reader=reader,
            ledger=r.ledger,
            decisions=r.decisions,
            submit=submit,
            clock=r.clock,
            save_every=10**6,
        )

    reader = Flapping()
    loop = anomaly_loop(r.engine.submit)
    loop.cycle()
    loop.save()
    reader.at, reader.length = r.clock.now() - r.clock.now() % STEP + STEP, 120
    for _ in range(8):
        r.clock.advance(STEP)
        loop.cycle()
        r.engine.cycle()
    (question,) = r.ledger.questions(status=None)
    assert r.decisions.answer(question.id, "rejected", "alice", "not the rollout")

    r.clock.advance(12 * STEP)  # killed, back 12 minutes later
    again = restarted(r)
    again.engine.query = lambda text: 12.5  # type: ignore[method-assign]
    loop = anomaly_loop(again.engine.submit)
    for _ in range(20):
        r.clock.advance(STEP)
        loop.cycle()
        again.engine.cycle()
    assert [q.id for q in r.ledger.questions(status=None)] == [question.id]
    assert len(r.ledger.decisions(kind="anomaly")) == 1


def test_a_signal_lost_with_the_process_is_sent_again_after_a_restart(ledger: Ledger) -> None:
    """Killed after the cycle that opened the incident (recorded, its series saved with
    it) and before the engine took its signal from its in-memory queue: the restarted
    loop restored the incident as open and reported, so nothing sent its signal again,
    and no runbook ever saw the incident (benchmarks/anomaly_crash.py, hook ``queued``).
    Now a restored open incident's signal is sent again, as it was sent; it is not
    recorded again."""
    clock, reader, lost = FakeClock(T0), Flapping(), []
    loop = _loop(ledger, clock, reader, lost)
    loop.cycle()
    reader.at, reader.length = T0 + 2 * STEP, 60
    _run(loop, clock, 3)
    (first,) = _opened(ledger)
    (sent,) = lost  # in the engine's queue when the process died

    clock.advance(STEP)
    signals: list[Signal] = []
    restarted = _loop(ledger, clock, reader, signals)
    restarted.cycle()
    again = [s for s in signals if s.dedup_key == first]
    assert len(again) == 1
    assert again[0].confidence == sent.confidence
    assert again[0].evidence["observed"] == sent.evidence["observed"]
    assert again[0].evidence["score"] == sent.evidence["score"]
    assert _opened(ledger) == [first]  # recorded once
    assert restarted.status.incidents_opened == 0


def _latency_rig(tmp_path: Path, **routing: float) -> tuple[Any, Flapping, Any]:
    """The engine rig with the scale-and-restart runbook on latency anomalies, web in the
    cluster, and a maker of anomaly loops on web's (flapping) latency feeding it."""
    from tests.unit.engine.harness import runbook_rig

    r = runbook_rig(tmp_path, **routing)
    reader = Flapping()

    def loop_for(submit: Any) -> AnomalyLoop:
        return AnomalyLoop(
            [AnomalyQuery(name="latency_p99", expr="latency_p99", step=60, history=3 * 3600)],
            reader=reader,
            ledger=r.ledger,
            decisions=r.decisions,
            submit=submit,
            clock=r.clock,
            save_every=10**6,
        )

    return r, reader, loop_for


def _both(r: Any, loop: AnomalyLoop, minutes: int) -> None:
    """``minutes`` of the daemon: the cluster, the anomaly loop and the engine, each
    minute."""
    for _ in range(minutes):
        r.clock.advance(STEP)
        r.sim.advance(r.clock.now(), {})
        loop.cycle()
        r.engine.cycle()


def test_a_restart_does_not_ask_again_about_an_open_incident_whose_question_expired(
    tmp_path: Path,
) -> None:
    """The runbook asked about web's latency; nobody answered, the question expired, and
    the incident goes on. Nothing asks about it again while the daemon runs (an open
    incident's points are not news). A restart after the re-ask quiet period must not
    either: the signal the restored incident sends again is a copy of one the engine
    took up, to be handled only if it was lost. Before, the copy went through the re-ask
    rule, and each restart (or leadership regained) put a new question to the on-call."""
    import dataclasses

    from tests.unit.engine.harness import restarted

    r, reader, loop_for = _latency_rig(tmp_path, auto=0.999, ask=0.4)
    r.engine.limits = dataclasses.replace(r.engine.limits, reask_after=60.0)
    loop = loop_for(r.engine.submit)
    loop.cycle()
    loop.save()
    reader.at, reader.length = r.clock.now() - r.clock.now() % STEP + STEP, 600
    _both(r, loop, 8)
    (question,) = r.ledger.questions(status=None)
    # expired after 15 minutes; the re-ask quiet period (the runbook's cooldown on its
    # target, 30 minutes) over since
    _both(r, loop, 50)
    (decision,) = r.ledger.decisions(kind="remediation")
    assert decision.status == "expired"
    assert [q.id for q in r.ledger.questions(status=None)] == [question.id]

    loop.save()  # its periodic save (every 10 cycles in the daemon)
    r.clock.advance(2 * STEP)  # killed, back 2 minutes later
    again = restarted(r)
    loop = loop_for(again.engine.submit)
    _both(again, loop, 3)
    assert loop.series  # restored, its incident open
    assert [q.id for q in r.ledger.questions(status=None)] == [question.id]
    assert len(r.ledger.decisions(kind="remediation")) == 1


def test_a_restart_does_not_run_a_runbook_its_cooldown_held_back_from_an_open_incident(
    tmp_path: Path,
) -> None:
    """web's latency incident opens 2 minutes after the runbook ran on web for another
    one: the target's cooldown holds it back, and nothing takes it up again while the
    daemon runs. A restart after the cooldown must not run the runbook for it: the copy
    of its signal sent again at restore was taken up before. Before, it was handled as
    new, and the restart wrote to web a second time."""
    from tests.unit.engine.harness import WEB as WEB_REF
    from tests.unit.engine.harness import latency_anomaly, restarted

    r, reader, loop_for = _latency_rig(tmp_path)
    loop = loop_for(r.engine.submit)
    loop.cycle()
    loop.save()
    handled = latency_anomaly(r, WEB_REF, run=60)
    assert handled.outcome == "decided"
    ran = r.ledger.decisions(kind="remediation")
    assert len(ran) == 1
    reader.at, reader.length = r.clock.now() - r.clock.now() % STEP + STEP, 600
    # opened within the runbook's cooldown on web (30 minutes), held back; over since
    _both(r, loop, 35)
    assert len(r.ledger.decisions(kind="anomaly")) == 1
    assert len(r.ledger.decisions(kind="remediation")) == 1
    writes = r.ledger.intents()
    loop.save()  # its periodic save (every 10 cycles in the daemon)
    r.clock.advance(2 * STEP)  # killed, back 2 minutes later
    again = restarted(r)
    loop = loop_for(again.engine.submit)
    _both(again, loop, 3)
    assert loop.series
    assert len(r.ledger.decisions(kind="remediation")) == 1
    assert r.ledger.intents() == writes


def test_a_copy_of_a_signal_no_engine_took_up_is_handled_after_a_restart(
    tmp_path: Path,
) -> None:
    """The other side of the two tests above: the signal died in the engine's queue with
    the process (no engine ever counted it); its copy, sent again at restore, is decided
    once, and a second restart's copy is then a duplicate."""
    from tests.unit.engine.harness import WEB as WEB_REF
    from tests.unit.engine.harness import restarted

    r, reader, loop_for = _latency_rig(tmp_path)
    lost: list[Signal] = []
    loop = loop_for(lost.extend)
    loop.cycle()
    loop.save()
    reader.at, reader.length = r.clock.now() - r.clock.now() % STEP + STEP, 600
    _both(r, loop, 5)
    (sent,) = lost
    assert r.ledger.decisions(kind="remediation") == []
    for _ in range(2):
        loop.save()
        r.clock.advance(STEP)  # killed, back a minute later
        r = restarted(r)
        loop = loop_for(r.engine.submit)
        _both(r, loop, 2)
        (decision,) = r.ledger.decisions(kind="remediation")
        assert decision.incident_key == f"latency-scale-restart|{WEB_REF}|{sent.dedup_key}"
