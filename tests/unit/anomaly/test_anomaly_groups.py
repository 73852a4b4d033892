"""Anomalies grouped per workload: when a release moves a workload's latency and its
errors a minute apart, the second incident's decision and signal name the first (the
first to move), an incident on another workload is not grouped, the open-series gauge
counts and clears, ``autonomic explain`` shows the group, and a restart keeps it (the
incidents open, and those closed in the last 10 minutes)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agent.approvals import Approvals, LedgerOnlyChannel
from agent.cli.explain_cmd import render
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.ledger import DecisionRecord, Ledger, open_ledger
from agent.loops.anomaly import EVICT_AFTER, AnomalyLoop
from agent.metrics_port import MetricSeries
from agent.observability import Metrics
from agent.settings import AnomalyQuery, RoutingSettings
from forecasting.series import Series
from remediation.signals import Signal

STEP = 60.0
START = 1_795_000_000.0
T0 = math.floor(START / STEP) * STEP
WEB, API = "Deployment/shop/web", "Deployment/shop/api"


class Workloads:
    """Smooth series of each query for the Deployments ``web`` and ``api``; ``spikes``
    adds to one query's series of one workload from a time on, for ``length`` points.
    With ``pods`` above 1, each workload has a series per pod."""

    def __init__(self, pods: int = 1) -> None:
        self.spikes: dict[tuple[str, str], tuple[float, int]] = {}  # (expr, name) -> start
        self.pods = pods
        self.gone: set[str] = set()  # pods whose series no read returns

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        grid = np.arange(math.ceil(start / step) * step, min(end, now) + 1, step)
        out = []
        for i, name in enumerate(("web", "api")):
            for pod in range(self.pods):
                labels = {"namespace": "shop", "deployment": name}
                if self.pods > 1:
                    labels["pod"] = f"{name}-{pod}"
                    if labels["pod"] in self.gone:
                        continue
                values = 10.0 * (i + 1) + pod + np.sin(grid / 3600.0)
                if (query, name) in self.spikes:
                    at, length = self.spikes[query, name]
                    values[(grid >= at) & (grid < at + length * step)] += 1_000.0
                series = Series(grid, values, step, query, labels)
                out.append(MetricSeries(query, labels, series, 0, grid[-1], False, 0.0))
        return out

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return []


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", START)
    yield opened
    opened.close()


def _loop(
    ledger: Ledger,
    clock: FakeClock,
    reader: Workloads,
    signals: list[Signal],
    metrics: Metrics | None = None,
) -> AnomalyLoop:
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    queries = [
        AnomalyQuery(name=name, expr=name, step=60, history=3 * 3600)
        for name in ("latency_p99", "http_error_ratio")
    ]
    return AnomalyLoop(
        queries,
        reader=reader,
        ledger=ledger,
        decisions=decisions,
        submit=signals.extend,
        clock=clock,
        **({"metrics": metrics} if metrics is not None else {}),
    )


def _open_series(metrics: Metrics) -> dict[str, float]:
    return {
        sample.labels["workload"]: sample.value
        for family in metrics.registry.collect()
        if family.name == "autonomic_anomaly_open_series"
        for sample in family.samples
    }


def _run(loop: AnomalyLoop, clock: FakeClock, minutes: int) -> None:
    for _ in range(minutes):
        clock.advance(STEP)
        loop.cycle()


def _decision(ledger: Ledger, query: str, subject: str) -> DecisionRecord:
    (found,) = [
        d
        for d in ledger.decisions(kind="anomaly", decision_type=f"anomaly/{query}")
        if d.subject == subject
    ]
    return found


def _spiking(
    ledger: Ledger, metrics: Metrics | None = None
) -> tuple[AnomalyLoop, FakeClock, list[Signal]]:
    """Latency of web spikes at T0 + 2 min, its errors at T0 + 3 min, api's errors at
    T0 + 3 min too."""
    clock, reader, signals = FakeClock(T0), Workloads(), []
    loop = _loop(ledger, clock, reader, signals, metrics)
    loop.cycle()  # the history
    reader.spikes = {
        ("latency_p99", "web"): (T0 + 2 * STEP, 3),
        ("http_error_ratio", "web"): (T0 + 3 * STEP, 2),
        ("http_error_ratio", "api"): (T0 + 3 * STEP, 2),
    }
    _run(loop, clock, 3)
    return loop, clock, signals


def test_the_second_incident_on_a_workload_names_the_first_not_another_workloads(
    ledger: Ledger,
) -> None:
    _, _, signals = _spiking(ledger)
    first = _decision(ledger, "latency_p99", WEB)
    second = _decision(ledger, "http_error_ratio", WEB)
    assert "group" not in first.evidence  # alone when it opened
    assert second.reason.startswith("http_error_ratio spike: observed ")
    expected = (
        f"; 2 of 2 series watched on {WEB} moved together: "
        "latency_p99 spike since 11:08 UTC (peak 1010, expected 10.",
        ", the first to move, then http_error_ratio spike since 11:09 UTC (this one)",
    )
    assert expected[0] in second.reason and expected[1] in second.reason, second.reason
    assert second.reason.index(expected[0]) < second.reason.index(expected[1])
    group = second.evidence["group"]
    assert [(m["query"], m["since"], m["closed_at"]) for m in group] == [
        ("latency_p99", T0 + 2 * STEP, None),
        ("http_error_ratio", T0 + 3 * STEP, None),
    ]
    assert [m["incident_key"] for m in group] == [first.incident_key, second.incident_key]

    # The signal the runbooks get says the same, under the key it always had.
    (signal,) = [s for s in signals if s.dedup_key == second.incident_key]
    assert signal.dedup_key == f"anomaly/http_error_ratio/{WEB}/{T0 + 3 * STEP:.0f}"
    assert signal.evidence["group_summary"] == second.reason.split("; ", 1)[1]
    assert signal.evidence["group"] == group

    # api's errors moved in the same minute as web's: another workload, not grouped.
    other = _decision(ledger, "http_error_ratio", API)
    assert "group" not in other.evidence and "moved together" not in other.reason
    assert API not in second.reason
    (alone,) = [s for s in signals if s.dedup_key == other.incident_key]
    assert "group" not in alone.evidence


def test_an_incident_closed_minutes_ago_is_named_as_over(ledger: Ledger) -> None:
    loop, clock, _ = _spiking(ledger)
    _run(loop, clock, 14)  # both of web's incidents closed (10 quiet points)
    assert loop.series["latency_p99{deployment=web,namespace=shop}"].tracker.current is None
    loop.reader.spikes = {("latency_p99", "web"): (clock.now() + STEP, 1)}  # type: ignore[attr-defined]
    _run(loop, clock, 1)
    again = ledger.decisions(kind="anomaly", decision_type="anomaly/latency_p99")[0]
    assert again.subject == WEB and again.created_at == clock.now()
    assert again.evidence["group"][0]["query"] == "http_error_ratio"
    assert again.evidence["group"][0]["closed_at"] is not None
    assert "http_error_ratio spike since 11:09 UTC (peak 1010, expected 10." in again.reason
    assert "; over at 11:" in again.reason
    # Ten minutes after that incident closed too (ten quiet points after its spike),
    # nothing that closed is named any more.
    _run(loop, clock, 10 + 11)
    loop.reader.spikes = {("http_error_ratio", "web"): (clock.now() + STEP, 1)}  # type: ignore[attr-defined]
    _run(loop, clock, 1)
    last = ledger.decisions(kind="anomaly", decision_type="anomaly/http_error_ratio")[0]
    assert last.subject == WEB and last.created_at == clock.now()
    assert "group" not in last.evidence


def test_the_open_series_gauge_counts_and_clears(ledger: Ledger) -> None:
    metrics = Metrics()
    loop, clock, _ = _spiking(ledger, metrics)
    assert _open_series(metrics) == {WEB: 2.0, API: 1.0}
    _run(loop, clock, 14)  # ten quiet points after the last spike: every incident closed
    assert _open_series(metrics) == {}


def test_explain_shows_the_group_from_either_decision(ledger: Ledger) -> None:
    _spiking(ledger)
    first = _decision(ledger, "latency_p99", WEB)
    second = _decision(ledger, "http_error_ratio", WEB)
    heading = f"Anomalous together on {WEB} (in the order they opened)"
    for record, this in ((first, 0), (second, 1)):
        story = render(ledger, record.id)
        lines = story.split(heading + "\n", 1)[1].split("\n")[:3]
        assert lines[0].startswith("  2026-11-18 11:08:00 UTC  latency_p99 spike"), lines
        assert lines[0].endswith("the first to move)")
        assert lines[1].startswith("  2026-11-18 11:09:00 UTC  http_error_ratio spike")
        assert lines[this].count("(this decision") == 1
        assert "(this decision" not in lines[1 - this]
        assert "peak 1010, expected 10." in lines[1 - this]
        assert "group:" not in story  # not dumped as raw evidence too
    assert heading.replace(WEB, API) not in render(
        ledger, _decision(ledger, "http_error_ratio", API).id
    )


def test_a_restarted_loop_groups_with_the_incidents_open_in_the_saved_state(
    ledger: Ledger,
) -> None:
    """The open incidents are in the saved trackers: a restart (or a new leader) that
    sees web's latency move names the errors incident the old process opened, though
    the latency query is read before the errors query's series are read again."""
    clock, reader, signals = FakeClock(T0), Workloads(), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    reader.spikes = {("http_error_ratio", "web"): (T0 + 2 * STEP, 3)}
    _run(loop, clock, 2)
    loop.save()
    reader.spikes[("latency_p99", "web")] = (T0 + 3 * STEP, 2)
    restarted = _loop(ledger, clock, reader, signals)
    _run(restarted, clock, 1)
    second = _decision(ledger, "latency_p99", WEB)
    assert [m["query"] for m in second.evidence["group"]] == ["http_error_ratio", "latency_p99"]
    assert "http_error_ratio spike since 11:08 UTC (peak 1010" in second.reason


def test_a_restarted_loop_names_an_incident_that_closed_minutes_before(
    ledger: Ledger,
) -> None:
    """The incidents that closed were known only to the process that saw them close: a
    restart a few minutes later opened web's next incident as if nothing else had moved.
    Each series saves its last closed incident, and saves it as it closes."""
    loop, clock, _ = _spiking(ledger)
    _run(loop, clock, 14)  # both of web's incidents closed (10 quiet points)
    assert loop.series["http_error_ratio{deployment=web,namespace=shop}"].tracker.current is None
    restarted = _loop(ledger, clock, loop.reader, [])  # type: ignore[arg-type]
    restarted.reader.spikes = {("latency_p99", "web"): (clock.now() + STEP, 1)}  # type: ignore[attr-defined]
    _run(restarted, clock, 1)
    again = ledger.decisions(kind="anomaly", decision_type="anomaly/latency_p99")[0]
    assert again.subject == WEB and again.created_at == clock.now()
    assert [m["query"] for m in again.evidence["group"]] == ["http_error_ratio", "latency_p99"]
    assert again.evidence["group"][0]["closed_at"] is not None
    assert "http_error_ratio spike since 11:09 UTC (peak 1010, expected 10." in again.reason
    assert "; over at 11:" in again.reason


def test_a_group_of_many_pod_series_names_the_first_five_and_counts_the_rest(
    ledger: Ledger,
) -> None:
    """Eight pods' latency moves (one incident key, one decision), then their errors: the
    sentence names the first four to move and this one, and counts the four between."""
    clock, reader, signals = FakeClock(T0), Workloads(pods=8), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    reader.spikes = {
        ("latency_p99", "web"): (T0 + 2 * STEP, 3),
        ("http_error_ratio", "web"): (T0 + 3 * STEP, 2),
    }
    _run(loop, clock, 3)
    second = _decision(ledger, "http_error_ratio", WEB)
    summary = second.reason.split("; ", 1)[1]
    assert summary.startswith(f"9 of 16 series watched on {WEB} moved together: latency_p99")
    assert summary.count("latency_p99 spike since 11:08 UTC") == 4
    assert summary.endswith(", then 4 more, then http_error_ratio spike since 11:09 UTC (this one)")
    assert len(second.evidence["group"]) == 9  # within the 20 the evidence keeps


def test_series_gone_from_memory_are_not_counted_as_watched(ledger: Ledger) -> None:
    """A pod gone long enough for its series to leave memory is not among the series
    watched on its workload."""
    clock, reader, signals = FakeClock(T0), Workloads(pods=2), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    reader.gone = {"web-1"}
    _run(loop, clock, EVICT_AFTER + 1)
    assert not any("pod=web-1" in key for key in loop.series)  # saved and dropped
    at = clock.now()
    reader.spikes = {
        ("latency_p99", "web"): (at + STEP, 3),
        ("http_error_ratio", "web"): (at + 2 * STEP, 2),
    }
    _run(loop, clock, 2)
    second = _decision(ledger, "http_error_ratio", WEB)
    assert f"; 2 of 2 series watched on {WEB} moved together: " in second.reason
