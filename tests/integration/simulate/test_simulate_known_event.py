"""A scheduled floor through the whole daemon: docs/examples/known-event.yaml simulated.

The example's sale (a x3 surge for an hour from 14:00 on day 0) and the scheduled floor
set for it; the run stops at 15:36 (0.65 days), after the surge and the floor's checks, to keep the
test short (the second day of the example is an ordinary one)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.ledger.store import DecisionRecord
from agent.sim.report import summarise, terminal_summary
from agent.sim.run import SimResult, Simulation, under_provisioned_minutes
from agent.sim.scenario import Surge, load_scenario

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "known-event.yaml"
LEAD = 300.0 + 60.0 + 60.0  # the pods' start-up (5m), scaling.period and metricLag


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulation, SimResult]]:
    folder = tmp_path_factory.mktemp("known-event")
    simulation = Simulation(load_scenario(EXAMPLE), ledger_path=folder / "l.sqlite", days=0.65)
    result = simulation.run()
    yield simulation, result
    result.ledger.close()


def _surge(simulation: Simulation) -> Surge:
    (surge,) = (f for f in simulation.scenario.spec.faults if isinstance(f, Surge))
    return surge


def _scheduled(result: SimResult) -> list[DecisionRecord]:
    return [
        d
        for d in result.ledger.decisions(limit=10_000)
        if d.decision_type == "scaling/predictive-floor" and d.reason_code == "ScheduledFloor"
    ]


def test_the_floor_is_raised_the_workloads_lead_before_the_surge(
    run: tuple[Simulation, SimResult],
) -> None:
    simulation, result = run
    surge_at = result.start + _surge(simulation).at
    first = min(_scheduled(result), key=lambda d: d.created_at)
    assert first.proposal["to"] == 40
    assert first.proposal["from"] < 40
    # Raised one lead before the window opens, within one scaling cycle (60 s).
    assert surge_at - LEAD - 60 <= first.created_at <= surge_at - LEAD + 60
    assert "wednesday-sale" in first.reason
    writes = [
        at
        for at, op, target in result.writes
        if op == "set_hpa_min_replicas" and target.endswith("shop/web") and at >= first.created_at
    ]
    assert writes and writes[0] < surge_at


def test_a_scheduled_floor_is_done_with_no_verdict(run: tuple[Simulation, SimResult]) -> None:
    _, result = run
    decisions = _scheduled(result)
    assert decisions
    for decision in decisions:
        assert decision.route == "auto"
        assert decision.status == "done"
        rows = result.ledger.feedback_for(decision.id)
        assert [row["outcome"] for row in rows] == ["scheduled"]
        assert all(row["outcome"] not in ("right", "wrong") for row in rows)


def test_the_surge_is_served_better_than_by_the_hpa_alone(
    run: tuple[Simulation, SimResult],
) -> None:
    simulation, result = run
    surge = _surge(simulation)
    timeline = result.timelines["web"]
    inside = [
        i
        for i, at in enumerate(timeline.minutes)
        if surge.at <= at - result.start < surge.at + surge.duration
    ]
    assert len(inside) == 60

    def short(capacity: list[float]) -> int:
        return under_provisioned_minutes(
            [timeline.demand[i] for i in inside], [capacity[i] for i in inside]
        )

    assert short(timeline.capacity) < short(timeline.capacity_hpa)
    assert short(timeline.capacity_hpa) >= 3  # the surge does hurt the HPA alone
    # And the summary's comparison, as `autonomic simulate` prints it.
    printed = terminal_summary(result, summarise(result), peak_mb=0.0)
    row = re.search(r"^\s+web\s+(\d+)\s+(\d+)\s", printed, re.MULTILINE)
    assert row is not None, printed
    assert int(row.group(1)) < int(row.group(2))
