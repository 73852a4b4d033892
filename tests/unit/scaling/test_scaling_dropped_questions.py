"""A question about a floor that is open when its workload opts out or turns
forecast-only is not carried out; approved, before or after, it used to stay "approved"
in the ledger for good. It is now closed as ``superseded``, with the reason."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

import pytest

from agent.approvals import Approvals, LedgerOnlyChannel
from agent.cli.explain_cmd import render
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.ledger import open_ledger
from agent.loops.scaling import CAPACITY, MIN_REPLICAS, PREDICTIVE, STEP, ScalingLoop
from agent.observability import Metrics
from agent.settings import RoutingSettings, ScalingSettings
from tests.unit.scaling.fakes import (
    FakeCluster,
    RecordingExecutor,
    WeekReader,
    loop_over,
    week_and_a_day,
    workload,
)


def steady(seed: int) -> tuple[Any, Any]:
    """A week of load whose last hour is a steady 50 (one pod's worth at 1,000 a pod)."""
    t, values = week_and_a_day(seed)
    values[-90:] = 50.0
    return t, values


def run(loop: Any, clock: FakeClock, cycles: int) -> None:
    for _ in range(cycles):
        loop.cycle()
        clock.advance(STEP)


WEB = workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "7"})


def leave(loop: Any, how: str) -> None:
    if how == "opt-out":
        changed = dataclasses.replace(WEB, labels={})
    else:
        changed = dataclasses.replace(WEB, annotations={**WEB.annotations, PREDICTIVE: how})
    cast(Any, loop.cluster).workloads = [changed]


@pytest.mark.parametrize(
    ("how", "reason"), [("opt-out", "workload opted out"), ("forecast-only", "forecast-only")]
)
@pytest.mark.parametrize("approved", ["before", "after"])
def test_an_approved_question_dropped_is_closed_with_why(
    how: str, reason: str, approved: str
) -> None:
    t, values = steady(61)
    clock = FakeClock(float(t[-80]))
    loop = loop_over(WeekReader(t, values), clock, [WEB])
    run(loop, clock, 2)
    decisions = cast(Any, loop.decisions)
    record = decisions.ledger.records["d-1"]
    assert record.status == "asked" and record.proposal["to"] == 7
    if approved == "before":
        record.status = "approved"  # the on-call said yes; the loop had not run since
    leave(loop, how)
    run(loop, clock, 2)
    if approved == "after":
        assert record.status == "asked"  # still open: a person may yet answer
        record.status = "approved"
        run(loop, clock, 2)
    assert record.status == "superseded"
    assert ("d-1", "execution", "superseded") in decisions.ledger.feedback
    assert record.feedback_detail["reason"] == reason
    assert record.feedback_detail["why"].startswith(f"not carried out ({reason}): ")
    assert [(d, final) for d, _, final in decisions.progressed] == [("d-1", True)]
    assert cast(Any, loop.executor).applied == []  # never written
    run(loop, clock, 5)
    assert decisions.ledger.transitions.count(("d-1", "superseded")) == 1


@pytest.mark.parametrize("answer", ["rejected", "expired"])
def test_a_dropped_question_answered_no_is_left_as_it_is(answer: str) -> None:
    t, values = steady(62)
    clock = FakeClock(float(t[-80]))
    loop = loop_over(WeekReader(t, values), clock, [WEB])
    run(loop, clock, 2)
    leave(loop, "opt-out")
    run(loop, clock, 1)
    decisions = cast(Any, loop.decisions)
    decisions.ledger.records["d-1"].status = answer
    run(loop, clock, 3)
    assert decisions.ledger.records["d-1"].status == answer
    assert decisions.ledger.transitions == [] and decisions.ledger.feedback == []


def test_explain_says_why_an_approved_floor_was_not_carried_out(tmp_path: Path) -> None:
    """On the real ledger and decision service: asked in propose mode, approved from the
    CLI, then the workload opts out before the loop carries it out."""
    t, values = steady(63)
    clock = FakeClock(float(t[-80]))
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="propose", approvals=approvals, metrics=Metrics()
    )
    cluster = FakeCluster([WEB])
    executor = RecordingExecutor(cluster)
    loop = ScalingLoop(
        ScalingSettings(),
        reader=WeekReader(t, values),
        cluster=cast(Any, cluster),
        decisions=decisions,
        executor=cast(Any, executor),
        clock=clock,
        submit=lambda signals: None,
    )
    try:
        run(loop, clock, 2)
        (question,) = ledger.questions()
        assert decisions.answer(question.id, "approved", "alice")
        (decision,) = ledger.decisions(kind="scaling")
        assert decision.status == "approved"
        leave(loop, "opt-out")
        run(loop, clock, 2)
        assert ledger.get_decision(decision.id).status == "superseded"  # type: ignore[union-attr]
        assert executor.applied == []
        story = render(ledger, decision.id)
        assert "status now: superseded" in story
        assert 'execution: superseded (autonomic) {"reason": "workload opted out"' in story
        assert "Deployment/shop/web left predictive scaling" in story
    finally:
        ledger.close()
