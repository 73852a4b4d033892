"""A run started by an anomaly incident that is over before its first write is not
carried out: the decision is closed as ``superseded``, nothing written, and the reason
kept for ``autonomic explain``. Over means the anomaly loop saved the incident ended
``recovered`` (its series back to normal for its quiet points) after the decision, and
no other series' incident open now would start the same runbook on the same target
(another pod's series: it was taken as a duplicate of this decision). Its series gone
silent, another pod's series still anomalous, an end saved before how was kept: the run
goes on, and the log says why. A run part written goes on.

The engine over the simulated cluster and the anomaly loop on one fake clock, the
shipped ``error-rate-pause-rollout`` asked about so that the answer can come late."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.cli import main
from agent.executor import StepOutcome
from agent.ledger import DecisionRecord
from agent.loops.anomaly import GAP_RESETS_INCIDENT, AnomalyLoop
from agent.metrics_port import MetricSeries
from agent.settings import AnomalyQuery
from forecasting.series import Series
from remediation.windows import to_utc_text
from tests.unit.engine.harness import (
    RUNBOOKS,
    WEB,
    Rig,
    approve_pending,
    asked_decision,
    restarted,
    rig,
    status_of,
    web,
)

RUNBOOK = "error-rate-pause-rollout"
QUERY = "http_error_ratio"
STEP = 60.0
SERIES = "http_error_ratio{deployment=web,namespace=shop,pod=web-%d}"


class _KilledError(BaseException):
    """Stands for SIGKILL: nothing after it runs in that process."""


class Pods:
    """The error ratio of web's pods ``web-0`` and ``web-1``, smooth; ``spikes`` adds a
    spike on every other point to one pod's series from a time on, for a number of points; a pod in
    ``gone`` has no series in the reads."""

    def __init__(self) -> None:
        self.spikes: dict[int, tuple[float, int]] = {}
        self.gone: set[int] = set()

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        grid = np.arange(math.ceil(start / step) * step, min(end, now) + 1, step)
        out = []
        for pod in (0, 1):
            if pod in self.gone:
                continue
            labels = {"namespace": "shop", "deployment": "web", "pod": f"web-{pod}"}
            values = 10.0 + pod + np.sin(grid / 3600.0)
            if pod in self.spikes:
                at, length = self.spikes[pod]
                # every other point: the detector does not take it for the new normal
                inside = (
                    (grid >= at) & (grid < at + length * step) & ((grid - at) % (2 * step) == 0)
                )
                values[inside] += 1_000.0
            series = Series(grid, values, step, query, labels)
            out.append(MetricSeries(query, labels, series, 0, grid[-1], False, 0.0))
        return out

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return []


def _rig(tmp_path: Path, edit: tuple[str, str] = ("", "")) -> tuple[Rig, AnomalyLoop, Pods]:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    text = (RUNBOOKS / f"{RUNBOOK}.yaml").read_text()
    (folder / f"{RUNBOOK}.yaml").write_text(text.replace(*edit) if edit[0] else text)
    # a spike's calibrated confidence (at most 0.647 on NAB) times a new runbook's 0.75:
    # about 0.49, which asks at 0.4
    r = rig(tmp_path, auto=0.999, ask=0.4, runbooks=folder)
    r.decisions.approvals.ttl = 3 * 3600  # a late answer, not an expired question
    r.sim.add_workload(web(4))
    r.run(60)
    r.sim.roll_out(WEB, "shop/web:2")  # under way: the sim is not advanced after
    r.engine.query = lambda text: 12.5  # type: ignore[method-assign]  # real traffic
    reader = Pods()
    loop = AnomalyLoop(
        [AnomalyQuery(name=QUERY, expr=QUERY, step=60, history=3 * 3600)],
        reader=reader,
        ledger=r.ledger,
        decisions=r.decisions,
        submit=r.engine.submit,
        clock=r.clock,
    )
    loop.cycle()  # the history
    return r, loop, reader


def _minutes(r: Rig, loop: AnomalyLoop, count: int) -> None:
    """The engine every 30 s and the anomaly loop every minute, ``count`` minutes on.
    The simulated cluster stands still: web's rollout stays under way."""
    for _ in range(count):
        for _ in range(2):
            r.clock.advance(30)
            r.engine.cycle()
        loop.cycle()


def _spike(r: Rig, loop: AnomalyLoop, reader: Pods, lengths: dict[int, int]) -> DecisionRecord:
    """Each pod of ``lengths`` spikes for that many points, web-0 first, the others a
    minute later; the pause is asked about (one decision: the others are duplicates)."""
    start = r.clock.now() - r.clock.now() % STEP
    for pod, length in lengths.items():
        reader.spikes[pod] = (start + STEP * (pod + 1), length)
    _minutes(r, loop, 3)
    return asked_decision(r, RUNBOOK)


def _paused(r: Rig) -> bool:
    return ("pause_rollout", str(WEB)) in [(w[1], w[2]) for w in r.sim.writes]


def _closed(r: Rig, pod: int) -> dict[str, Any]:
    saved, version = r.ledger.guard(f"anomaly/{SERIES % pod}")
    assert version > 0
    closed = saved["closed"]
    assert closed is not None
    return dict(closed)


def test_a_pause_approved_after_its_anomaly_recovered_is_superseded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r, loop, reader = _rig(tmp_path)
    decision = _spike(r, loop, reader, {0: 3})
    seen = decision.evidence["signal"]
    assert seen["series"] == SERIES % 0
    since = reader.spikes[0][0]
    assert seen["since"] == since
    _minutes(r, loop, 14)  # 3 anomalous points, then 10 quiet ones
    closed = _closed(r, 0)
    assert closed["how"] == "recovered" and closed["since"] == since, closed
    approve_pending(r)
    _minutes(r, loop, 1)
    assert not _paused(r), r.sim.writes
    assert r.ledger.intents() == []
    assert status_of(r, decision.id) == "superseded"
    (row,) = [f for f in r.ledger.feedback_for(decision.id) if f["outcome"] == "superseded"]
    assert row["detail"]["signal_over"] is True  # it may be decided again if it comes back
    assert row["detail"]["why"] == (
        f"not executed: the anomaly incident on {SERIES % 0} that started it (since "
        f"{to_utc_text(since)}) recovered at {to_utc_text(closed['closed_at'])} (its series "
        "back within its expected band), before the first write, and no other anomaly "
        f"incident open now starts {RUNBOOK} on Deployment/shop/web: there is nothing left "
        "for it to remediate; nothing was written to the cluster"
    ), row["detail"]["why"]
    capsys.readouterr()
    ledger = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert main(["explain", decision.id, "--ledger", ledger]) == 0
    told = capsys.readouterr().out
    assert f"the anomaly incident on {SERIES % 0} that started it" in told
    assert "signal_over" not in told


def test_a_pause_goes_on_when_its_series_went_silent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """web-0 spikes, then its series has no data for longer than the gap: when it comes
    back, the loop drops the incident (``silent``). Nothing says it recovered."""
    r, loop, reader = _rig(tmp_path)
    decision = _spike(r, loop, reader, {0: 30})
    reader.gone.add(0)
    _minutes(r, loop, GAP_RESETS_INCIDENT + 2)
    reader.gone.discard(0)
    reader.spikes.clear()
    _minutes(r, loop, 1)
    closed = _closed(r, 0)
    assert closed["how"] == "silent", closed
    approve_pending(r)
    with caplog.at_level(logging.INFO, logger="autonomic"):
        _minutes(r, loop, 1)
    assert status_of(r, decision.id) != "superseded"
    assert _paused(r), r.sim.writes
    assert (
        f"its anomaly incident is not over: its incident on {SERIES % 0} (since "
        f"{to_utc_text(decision.evidence['signal']['since'])}) was dropped: the series had no "
        f"data from {to_utc_text(closed['closed_at'])} for {GAP_RESETS_INCIDENT} steps or "
        "more, so it is not known to be over; going on"
    ) in caplog.text
    assert caplog.text.count("its anomaly incident is not over") == 1  # once, not per cycle


def test_a_pause_goes_on_while_its_series_is_silent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """web-0 spikes, then has no data for longer than the gap, and is not back: its
    incident is still open in the saved state, its end unknown."""
    r, loop, reader = _rig(tmp_path)
    decision = _spike(r, loop, reader, {0: 30})
    reader.gone.add(0)
    _minutes(r, loop, GAP_RESETS_INCIDENT + 2)
    approve_pending(r)
    with caplog.at_level(logging.INFO, logger="autonomic"):
        _minutes(r, loop, 1)
    assert status_of(r, decision.id) != "superseded"
    assert _paused(r), r.sim.writes
    assert f"its series {SERIES % 0} has had no data since " in caplog.text
    assert "so its incident (since " in caplog.text


def test_a_pause_goes_on_while_another_pods_series_is_anomalous(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """web-0 recovers; web-1's incident, opened a minute after web-0's and taken as a
    duplicate of its decision, is still open: it would start the same pause."""
    r, loop, reader = _rig(tmp_path)
    decision = _spike(r, loop, reader, {0: 3, 1: 40})
    _minutes(r, loop, 14)
    assert _closed(r, 0)["how"] == "recovered"
    approve_pending(r)
    with caplog.at_level(logging.INFO, logger="autonomic"):
        _minutes(r, loop, 1)
    assert status_of(r, decision.id) != "superseded"
    assert _paused(r), r.sim.writes
    assert (
        f"(its series back within its expected band), but {SERIES % 1} has an incident open "
        f"since {to_utc_text(reader.spikes[1][0])} that starts {RUNBOOK} on "
        "Deployment/shop/web; going on"
    ) in caplog.text


def test_a_pause_goes_on_when_the_end_was_saved_without_how(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A series state saved before how an incident ended was kept: its end is unknown."""
    r, loop, reader = _rig(tmp_path)
    decision = _spike(r, loop, reader, {0: 3})
    _minutes(r, loop, 14)
    key = f"anomaly/{SERIES % 0}"
    saved, version = r.ledger.guard(key)
    del saved["closed"]["how"]
    assert r.ledger.put_guard(key, saved, version, r.clock.now())
    approve_pending(r)
    with caplog.at_level(logging.INFO, logger="autonomic"):
        _minutes(r, loop, 1)
    assert status_of(r, decision.id) != "superseded"
    assert _paused(r), r.sim.writes
    assert "but how was not saved (a state saved before the anomaly loop kept it)" in (caplog.text)


def test_a_pause_goes_on_when_a_new_incident_opened_on_its_series(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    r, loop, reader = _rig(tmp_path)
    decision = _spike(r, loop, reader, {0: 3})
    _minutes(r, loop, 14)
    again = r.clock.now() - r.clock.now() % STEP + STEP
    reader.spikes[0] = (again, 30)
    _minutes(r, loop, 2)
    approve_pending(r)
    with caplog.at_level(logging.INFO, logger="autonomic"):
        _minutes(r, loop, 1)
    assert status_of(r, decision.id) != "superseded"
    assert f"a new incident on {SERIES % 0} opened at {to_utc_text(again)}" in caplog.text


def test_a_pause_part_written_goes_on_when_its_anomaly_recovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Paused, then the process dies before its second step; the incident recovers
    meanwhile: the run goes on (its verification judges it), and the log says why."""
    r, loop, reader = _rig(
        tmp_path,
        (
            "    - type: pauseRollout\n",
            "    - type: pauseRollout\n    - type: scale\n      add: 1\n      maxReplicas: 10\n",
        ),
    )
    decision = _spike(r, loop, reader, {0: 3})
    operations = [op["op"] for op in decision.proposal["operations"]]
    assert len(operations) == 2, operations
    approve_pending(r)
    real = r.executor.apply

    def apply(key: str, step: int, *args: Any, **kwargs: Any) -> StepOutcome:
        if step == 1:
            raise _KilledError
        return real(key, step, *args, **kwargs)

    monkeypatch.setattr(r.executor, "apply", apply)
    with pytest.raises(_KilledError):
        _minutes(r, loop, 1)
    monkeypatch.undo()
    writes = len(r.sim.writes)
    _minutes_loop_only(r, loop, 14)
    assert _closed(r, 0)["how"] == "recovered"
    r = restarted(r)
    with caplog.at_level(logging.INFO, logger="autonomic"):
        assert r.engine.recover()["superseded"] == 0
    assert len(r.sim.writes) > writes  # the second step was written
    assert status_of(r, decision.id) != "superseded"
    assert f"the anomaly incident on {SERIES % 0} that started it" in caplog.text
    assert "but 1 of its 2 steps are written already: going on" in caplog.text


def _minutes_loop_only(r: Rig, loop: AnomalyLoop, count: int) -> None:
    """The anomaly loop alone, ``count`` minutes on (the engine's process is down)."""
    for _ in range(count):
        r.clock.advance(STEP)
        loop.cycle()
