"""A question about a floor that is open when its workload opts out or turns
forecast-only is not carried out; approved, before or after, it used to stay "approved"
in the ledger for good. It is now closed as ``superseded``, with the reason."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any, cast

import pytest

from agent.approvals import Approvals, LedgerOnlyChannel
from agent.cli.explain_cmd import render
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.errors import TransientError
from agent.ledger import open_ledger
from agent.loops.scaling import (
    CAPACITY,
    FORGET_AFTER,
    MIN_REPLICAS,
    PREDICTIVE,
    STEP,
    ScalingLoop,
)
from agent.observability import Metrics
from agent.settings import RoutingSettings, ScalingSettings
from remediation.ports import HpaState, ObjectRef
from tests.harness.ledger_faults import GoneAfterClosing
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


def test_a_dropped_approval_keeps_its_why_though_the_ledger_fails_midway(
    tmp_path: Path,
) -> None:
    """The ledger goes away right after the dropped approval is closed ``superseded``.
    The closing and its ``execution`` row, with why, were two transactions, and the
    question was let go of before them: the decision stayed closed with no why for
    ``autonomic explain``, and nothing came back to it. They are one transaction now."""
    t, values = steady(63)
    clock = FakeClock(float(t[-80]))
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="propose", approvals=approvals, metrics=Metrics()
    )
    cluster = FakeCluster([WEB])
    loop = ScalingLoop(
        ScalingSettings(),
        reader=WeekReader(t, values),
        cluster=cast(Any, cluster),
        decisions=decisions,
        executor=cast(Any, RecordingExecutor(cluster)),
        clock=clock,
        submit=lambda signals: None,
    )
    try:
        run(loop, clock, 2)
        (question,) = ledger.questions()
        assert decisions.answer(question.id, "approved", "alice")
        (decision,) = ledger.decisions(kind="scaling")
        gone = GoneAfterClosing(ledger, "superseded", ("transition", "add_feedback"))
        leave(loop, "opt-out")
        with contextlib.suppress(TransientError):  # the cycle's next write, if any
            run(loop, clock, 1)
        assert gone.happened  # closed, and the ledger went away after it
        gone.back()
        run(loop, clock, 3)
        assert ledger.get_decision(decision.id).status == "superseded"  # type: ignore[union-attr]
        rows = [r for r in ledger.feedback_for(decision.id) if r["kind"] == "execution"]
        assert [(r["outcome"], r["detail"]["reason"]) for r in rows] == [
            ("superseded", "workload opted out")
        ]
    finally:
        ledger.close()


def approved_on_a_real_ledger(
    tmp_path: Path, seed: int, hpa: HpaState | None = None
) -> tuple[ScalingLoop, FakeClock, Any, Any, FakeCluster]:
    """A loop on the SQLite ledger and the decision service in propose mode whose floor
    of 7 for web (on ``hpa`` if given) was asked about and approved from the CLI, not
    yet carried out."""
    t, values = steady(seed)
    clock = FakeClock(float(t[-80]))
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="propose", approvals=approvals, metrics=Metrics()
    )
    cluster = FakeCluster([WEB])
    if hpa is not None:
        cluster.hpas[WEB.ref] = hpa
    loop = ScalingLoop(
        ScalingSettings(),
        reader=WeekReader(t, values),
        cluster=cast(Any, cluster),
        decisions=decisions,
        executor=cast(Any, RecordingExecutor(cluster)),
        clock=clock,
        submit=lambda signals: None,
    )
    run(loop, clock, 2)
    (question,) = ledger.questions()
    assert decisions.answer(question.id, "approved", "alice")
    (decision,) = ledger.decisions(kind="scaling")
    assert decision.status == "approved"
    return loop, clock, ledger, decision, cluster


def test_explain_says_why_an_approval_whose_workload_stayed_gone_failed(
    tmp_path: Path,
) -> None:
    """Approved, then web deleted before it was carried out: after ``FORGET_AFTER`` the
    decision fails. It was closed with no ``execution`` row, so ``autonomic explain``
    showed a failed decision and no reason (only the question's thread had one)."""
    loop, clock, ledger, decision, cluster = approved_on_a_real_ledger(tmp_path, 64)
    try:
        cluster.workloads = []  # deleted
        began = clock.now()
        while clock.now() - began < FORGET_AFTER - STEP:
            run(loop, clock, 1)
            clock.advance(600.0)
        assert ledger.get_decision(decision.id).status == "approved"  # type: ignore[union-attr]
        clock.advance(2 * STEP)
        run(loop, clock, 2)
        assert ledger.get_decision(decision.id).status == "failed"  # type: ignore[union-attr]
        rows = [r for r in ledger.feedback_for(decision.id) if r["kind"] == "execution"]
        assert [(r["outcome"], r["detail"]["reason"]) for r in rows] == [("failed", "OutOfScaling")]
        story = render(ledger, decision.id)
        assert 'execution: failed (autonomic) {"reason": "OutOfScaling"' in story
        assert "Deployment/shop/web has been out of predictive scaling for 6 h" in story
    finally:
        ledger.close()


@pytest.mark.parametrize(
    ("controller", "reason"), [(None, "NoHpa"), ("ScaledObject/web", "ManagedHpa")]
)
def test_explain_says_why_an_approval_whose_hpa_went_or_was_taken_over_failed(
    tmp_path: Path, controller: str | None, reason: str
) -> None:
    """Approved; web's HPA is deleted (or taken over by KEDA) between the cycle's read
    of it and the write: the decision fails, and used to say nothing of why, neither to
    ``autonomic explain`` nor in the question's thread."""
    hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
    hpa = HpaState(hpa_ref, WEB.ref, 2, 20, 3, 3, uid="u1")
    loop, clock, ledger, decision, cluster = approved_on_a_real_ledger(tmp_path, 65, hpa)
    try:
        real_apply = loop._apply

        def apply_after_the_hpa_went(*args: Any, **kwargs: Any) -> bool:
            if controller is None:
                cluster.hpas.pop(WEB.ref, None)
            else:
                cluster.hpas[WEB.ref] = dataclasses.replace(hpa, controller=controller)
            return real_apply(*args, **kwargs)

        loop._apply = apply_after_the_hpa_went  # type: ignore[method-assign]
        run(loop, clock, 1)
        assert ledger.get_decision(decision.id).status == "failed"  # type: ignore[union-attr]
        assert cast(Any, loop.executor).applied == []
        rows = [r for r in ledger.feedback_for(decision.id) if r["kind"] == "execution"]
        assert [(r["outcome"], r["detail"]["reason"]) for r in rows] == [("failed", reason)]
        gone = "the HPA is gone" if controller is None else f"{hpa_ref} is now managed by"
        assert rows[0]["detail"]["why"].startswith(f"not carried out ({reason}): {gone}")
        story = render(ledger, decision.id)
        assert f'execution: failed (autonomic) {{"reason": "{reason}"' in story
    finally:
        ledger.close()


def test_a_forecast_only_floor_is_recorded_as_published_only_with_nothing_to_ask(
    tmp_path: Path,
) -> None:
    """On the real ledger and decision service, in propose mode: a forecast-only
    workload's recommendation is recorded (``shadowed``) and asks nothing; its route's
    reason says it is published only, where it used to say "shadow runbook"."""
    t, values = steady(64)
    clock = FakeClock(float(t[-80]))
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="propose", approvals=approvals, metrics=Metrics()
    )
    only = dataclasses.replace(WEB, annotations={**WEB.annotations, PREDICTIVE: "forecast-only"})
    cluster = FakeCluster([only])
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
        run(loop, clock, 3)
        assert ledger.questions() == [] and executor.applied == []
        (decision,) = ledger.decisions(kind="scaling")
        assert decision.status == "shadowed"
        routing = decision.evidence["routing"]
        assert routing["route_reason"].startswith(
            "published only (autonomic.dev/predictive: forecast-only), nothing to approve "
            "or write: recorded what it would do at "
        )
        assert "shadow runbook" not in render(ledger, decision.id)
    finally:
        ledger.close()


# ------------------------------------------------------- across a restart, or a new leader


def restarted_after_approval(seed: int, workloads: list[Any]) -> tuple[Any, FakeClock, Any]:
    """A loop asked about web's floor (d-1); the on-call approved it after that process
    stopped; a new process, on the same ledger, finds ``workloads`` listed."""
    t, values = steady(seed)
    clock = FakeClock(float(t[-80]))
    first = loop_over(WeekReader(t, values), clock, [WEB])
    run(first, clock, 2)
    ledger = cast(Any, first.decisions).ledger
    assert ledger.records["d-1"].status == "asked" and ledger.records["d-1"].proposal["to"] == 7
    ledger.records["d-1"].status = "approved"
    restarted = loop_over(WeekReader(t, values), clock, workloads)
    cast(Any, restarted.decisions).ledger = ledger
    return restarted, clock, ledger


@pytest.mark.parametrize(
    ("how", "reason", "why"),
    [
        ("opt-out", "workload opted out", "Deployment/shop/web left predictive scaling"),
        (
            "forecast-only",
            "forecast-only",
            "Deployment/shop/web turned autonomic.dev/predictive: forecast-only, which "
            "publishes the floor and never writes it",
        ),
    ],
)
def test_a_new_process_closes_an_approved_question_whose_workload_left(
    how: str, reason: str, why: str
) -> None:
    """The list of dropped questions lived in memory: a new process followed up only the
    workloads still in predictive scaling, so the approval stayed "approved" for good
    (opted out), or was carried out, writing a floor for a forecast-only workload. It is
    now closed as superseded, once, as the process that saw the workload leave would."""
    changed = (
        dataclasses.replace(WEB, labels={})
        if how == "opt-out"
        else dataclasses.replace(WEB, annotations={**WEB.annotations, PREDICTIVE: how})
    )
    loop, clock, ledger = restarted_after_approval(64, [changed])
    run(loop, clock, 1)
    assert ledger.records["d-1"].status == "superseded"
    assert ledger.records["d-1"].feedback_detail == {
        "reason": reason,
        "why": f"not carried out ({reason}): {why}; nothing was written",
    }
    assert cast(Any, loop.executor).applied == []  # never written
    run(loop, clock, 5)
    assert ledger.transitions == [("d-1", "superseded")]  # once
    assert [(d, final) for d, _, final in cast(Any, loop.decisions).progressed] == [("d-1", True)]


def test_a_new_process_closes_an_asked_question_once_approved_if_its_workload_left() -> None:
    t, values = steady(65)
    clock = FakeClock(float(t[-80]))
    first = loop_over(WeekReader(t, values), clock, [WEB])
    run(first, clock, 2)
    ledger = cast(Any, first.decisions).ledger
    restarted = loop_over(WeekReader(t, values), clock, [dataclasses.replace(WEB, labels={})])
    cast(Any, restarted.decisions).ledger = ledger
    run(restarted, clock, 3)
    assert ledger.records["d-1"].status == "asked"  # a person may yet answer
    ledger.records["d-1"].status = "approved"
    run(restarted, clock, 2)
    assert ledger.transitions == [("d-1", "superseded")]
    assert cast(Any, restarted.executor).applied == []


def test_a_workload_slow_to_appear_after_a_restart_has_its_approval_carried_out() -> None:
    """The first listings of a new process may miss a workload (a cache not yet filled,
    the API server slow): absent is not "left". It is judged as ``FORGET_AFTER`` judges
    absence: the approval waits, and is carried out once the workload is listed."""
    loop, clock, ledger = restarted_after_approval(66, [])
    run(loop, clock, 30)
    assert ledger.records["d-1"].status == "approved" and ledger.transitions == []
    cast(Any, loop.cluster).workloads = [WEB]
    run(loop, clock, 1)
    (operation,) = cast(Any, loop.executor).applied
    assert operation.replicas == 7 and ledger.transitions == [("d-1", "verifying")]


def test_an_approval_whose_workload_stays_gone_fails_after_forget_after() -> None:
    """Never listed again (deleted while no process ran): after ``FORGET_AFTER``, the
    approval fails with the words a process that knew the workload would use."""
    loop, clock, ledger = restarted_after_approval(67, [])
    run(loop, clock, 1)
    began = clock.now()
    while clock.now() - began < FORGET_AFTER - STEP:
        run(loop, clock, 1)
        clock.advance(600.0)
    assert ledger.records["d-1"].status == "approved"
    clock.advance(2 * STEP)
    run(loop, clock, 3)
    assert ledger.transitions == [("d-1", "failed")]
    ((decision_id, text, final),) = cast(Any, loop.decisions).progressed
    assert (decision_id, final) == ("d-1", True)
    assert text == "not carried out: Deployment/shop/web has been out of predictive scaling for 6 h"
    assert cast(Any, loop.executor).applied == []


def test_an_approved_give_back_is_carried_out_by_a_new_process_not_superseded() -> None:
    """The question that gives the owner's minimum back when a workload leaves is no
    floor to drop: approved while no process ran, the new one carries it out (it used
    to close it as superseded, "nothing was written", and ask the same again)."""
    t, values = steady(68)
    clock = FakeClock(float(t[-80]))
    first = loop_over(WeekReader(t, values), clock, [WEB])
    hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
    hpas = cast(Any, first.cluster).hpas
    hpas[WEB.ref] = HpaState(hpa_ref, WEB.ref, 2, 20, 3, 3, uid="u1")
    run(first, clock, 1)
    ledger = cast(Any, first.decisions).ledger
    ledger.records["d-1"].status = "approved"
    run(first, clock, 1)
    hpas[WEB.ref] = dataclasses.replace(hpas[WEB.ref], min_replicas=7)  # the raise landed
    run(first, clock, 1)
    leave(first, "opt-out")
    run(first, clock, 1)
    give_back = ledger.records["d-2"]
    assert give_back.reason_code == "OptedOut" and give_back.status == "asked"
    give_back.status = "approved"
    restarted = loop_over(WeekReader(t, values), clock, [dataclasses.replace(WEB, labels={})])
    cast(Any, restarted.decisions).ledger = ledger
    cast(Any, restarted.cluster).hpas = hpas
    run(restarted, clock, 3)
    applied = cast(Any, restarted.executor).applied
    assert [(op.target, op.min_replicas) for op in applied] == [(hpa_ref, 2)]
    assert ("d-2", "superseded") not in ledger.transitions
    assert cast(Any, restarted.decisions).proposals == []  # nothing asked again


def test_a_failed_read_of_the_questions_left_is_tried_again() -> None:
    """The ledger unreachable at the new process's first cycle: the questions a previous
    process left used to be taken as none for good (the approval never carried out, the
    floor asked about again); the cycle now fails, and the next reads them."""
    loop, clock, ledger = restarted_after_approval(69, [WEB])
    read = ledger.decisions
    failures = [TransientError("the ledger at postgresql://db/x is unreachable")]

    def flaky(**kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return read(**kwargs)

    ledger.decisions = flaky
    with pytest.raises(TransientError):
        loop.cycle()
    run(loop, clock, 1)
    (operation,) = cast(Any, loop.executor).applied
    assert operation.replicas == 7 and ledger.transitions == [("d-1", "verifying")]
    assert cast(Any, loop.decisions).proposals == []  # not asked again
