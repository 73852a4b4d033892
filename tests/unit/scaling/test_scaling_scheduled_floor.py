"""Scheduled floors (``scaling.scheduledFloors``): a floor set ahead of a known event,
raised the pods' start-up time (and the cycle's lead) before its window opens, given
back after it at the loop's scale-in pace, through the same decision path as a forecast
floor."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from agent.approvals import Approvals, LedgerOnlyChannel
from agent.cli.explain_cmd import render
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.errors import TransientError
from agent.executor import Executor
from agent.ledger import open_ledger
from agent.loops.scaling import (
    CAPACITY,
    FLOOR_DECISION,
    HISTORY_SINCE,
    MAX_REPLICAS,
    MIN_REPLICAS,
    PREDICTIVE,
    STARTUP,
    STEP,
    ScalingLoop,
)
from agent.observability import Metrics
from agent.settings import RoutingSettings, ScalingSettings
from remediation.ports import HpaState, ObjectRef, OperationResult, SetHpaMinReplicas
from tests.unit.scaling.fakes import (
    END,
    FakeCluster,
    RecordingExecutor,
    WeekReader,
    loop_over,
    week_and_a_day,
    workload,
)

HPA = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
START = END - 79 * STEP  # Saturday 21 November 2026, 23:59 UTC; the load runs to 01:18


def utc(clock: str) -> float:
    """A time on Sunday 22 November 2026 (UTC) as epoch seconds; '23:59' is Saturday's."""
    day = "2026-11-21" if clock.startswith("23") else "2026-11-22"
    return datetime.fromisoformat(f"{day}T{clock}:00+00:00").timestamp()


def sunday(name: str, replicas: int, start: str, end: str, **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "workloads": ["shop/web"],
        "minReplicas": replicas,
        "timezone": "UTC",
        "weekly": [{"days": ["Sun"], "start": start, "end": end}],
        **more,
    }


def rig(
    floors: list[dict[str, Any]],
    *,
    capacity: str = "1000",
    hpa_max: int = 30,
    reader: WeekReader | None = None,
    **annotations: str,
) -> tuple[ScalingLoop, FakeClock]:
    """web at 3 replicas, its HPA at minReplicas 2; pods start in 240 s, so the lead is
    240 + 60 (the period) + 60 (the metric lag) = 6 minutes. A capacity of 1000 a pod
    makes the forecast floor the HPA's own 2."""
    t, values = week_and_a_day(71)
    clock = FakeClock(START)
    web = workload("web", **{CAPACITY: capacity, STARTUP: "240", **annotations})
    loop = loop_over(
        reader or WeekReader(t, values), clock, [web], route="auto", scheduledFloors=floors
    )
    cast(Any, loop.cluster).hpas[web.ref] = HpaState(HPA, web.ref, 2, hpa_max, 3, 3, uid="u1")
    return loop, clock


def run(loop: ScalingLoop, clock: FakeClock, until: str) -> list[tuple[str, int]]:
    """Cycles up to ``until`` (inclusive); each floor written lands on the HPA and the
    replicas follow, as the controller does. The writes, as (UTC time, minReplicas)."""
    cluster = cast(Any, loop.cluster)
    written: list[tuple[str, int]] = []
    while clock.now() <= utc(until):
        before = len(cast(Any, loop.executor).applied)
        loop.cycle()
        for op in cast(Any, loop.executor).applied[before:]:
            if isinstance(op, SetHpaMinReplicas):
                written.append(
                    (datetime.fromtimestamp(clock.now(), UTC).strftime("%H:%M"), op.min_replicas)
                )
                ref = cluster.workloads[0].ref
                cluster.hpas[ref] = dataclasses.replace(
                    cluster.hpas[ref], min_replicas=op.min_replicas
                )
                cluster.workloads = [
                    dataclasses.replace(w, replicas=max(w.replicas, op.min_replicas))
                    for w in cluster.workloads
                ]
        clock.advance(STEP)
    return written


def proposals(loop: ScalingLoop) -> list[Any]:
    return list(cast(Any, loop.decisions).proposals)


def test_the_floor_rises_the_lead_before_the_window_and_holds_through_it() -> None:
    """Sunday 00:30-00:45 UTC, 20 replicas, a 6-minute lead: written at 00:24, not at
    00:23, and kept to the end of the window."""
    loop, clock = rig([sunday("sunday-batch", 20, "00:30", "00:45")])
    assert run(loop, clock, "00:23") == []
    assert run(loop, clock, "00:24") == [("00:24", 20)]
    (decision,) = proposals(loop)
    assert loop.report()["scheduled"] == {"Deployment/shop/web": decision.reason.split(": ", 1)[1]}
    assert run(loop, clock, "00:44") == []  # kept to the end of the window
    assert loop.report()["scheduled"] == {
        "Deployment/shop/web": "scheduled floor sunday-batch: at least 20 replicas until "
        "00:45 UTC for (Sun 00:30-00:45 UTC)"
    }
    assert decision.reason_code == "ScheduledFloor"
    # Raised before the window opens: the sentence says when it opens and until when
    # the floor holds (it said neither: only "from 00:24 UTC (6m of start-up lead)").
    assert decision.reason == (
        "minReplicas 2 -> 20: scheduled floor sunday-batch: at least 20 replicas from "
        "00:24 UTC until 00:45 UTC (the window opens at 00:30 UTC; 6m of start-up lead) "
        "for (Sun 00:30-00:45 UTC)"
    )
    assert decision.signal_confidence == 0.95
    assert decision.evidence["scheduled_floor"] == "sunday-batch"
    (published,) = [a for _, a in cast(Any, loop.executor).reports]
    assert published["autonomic.dev/recommended-replicas"] == "20"
    assert "scheduled floor sunday-batch" in published["autonomic.dev/recommendation"]


def test_a_floor_raised_ahead_of_a_long_window_says_the_day_it_is_given_back() -> None:
    """A window of three days: the floor raised at 00:24 says the window opens at 00:30
    and holds until the day it ends, with that day's date (a bare 06:00 would read as
    this morning)."""
    days = {
        "name": "black-friday",
        "workloads": ["shop/web"],
        "minReplicas": 20,
        "timezone": "UTC",
        "dates": [{"start": "2026-11-22T00:30", "end": "2026-11-25T06:00"}],
    }
    loop, clock = rig([days])
    assert run(loop, clock, "00:24") == [("00:24", 20)]
    (decision,) = proposals(loop)
    assert decision.reason == (
        "minReplicas 2 -> 20: scheduled floor black-friday: at least 20 replicas from "
        "00:24 UTC until 2026-11-25 06:00 UTC (the window opens at 00:30 UTC; 6m of "
        "start-up lead) for (2026-11-22T00:30 to 2026-11-25T06:00 UTC)"
    )


def test_after_the_window_the_floor_is_given_back_at_the_scale_in_pace() -> None:
    """The window over at 00:45: nothing comes down for five cycles (the patience), then
    the floor comes down a step at a time, never to the HPA's 2 in one write."""
    loop, clock = rig([sunday("sunday-batch", 20, "00:30", "00:45")])
    run(loop, clock, "00:44")
    assert loop.report()["scheduled"]
    after = run(loop, clock, "01:05")
    assert loop.report()["scheduled"] == {}
    assert after, "the floor was never given back"
    first_at, first = after[0]
    assert first_at == "00:49"  # 00:45 .. 00:49: five cycles wanting it lower
    assert 10 <= first < 20
    floors = [floor for _, floor in after]
    assert floors == sorted(floors, reverse=True) and floors[-1] >= 2
    assert all(p.reason_code != "ScheduledFloor" for p in proposals(loop)[1:])


def test_two_schedules_overlapping_the_highest_wins() -> None:
    loop, clock = rig(
        [
            sunday("small", 8, "00:10", "00:40"),
            sunday("big", 14, "00:20", "00:30"),
        ]
    )
    written = run(loop, clock, "00:29")
    assert written == [("00:04", 8), ("00:14", 14)]
    assert [p.reason_code for p in proposals(loop)] == ["ScheduledFloor", "ScheduledFloor"]
    assert "scheduled floor big:" in proposals(loop)[1].reason


def test_a_forecast_floor_above_the_schedule_wins() -> None:
    """A capacity of 5 a pod: the forecast asks for well over 4 pods; a schedule of 4 adds
    nothing, and no decision names it."""
    loop, clock = rig([sunday("small", 4, "00:10", "00:40")], capacity="5")
    run(loop, clock, "00:30")
    assert proposals(loop)
    assert all(p.reason_code != "ScheduledFloor" for p in proposals(loop))
    assert all(int(p.proposal["to"]) > 4 for p in proposals(loop))
    assert loop.report()["scheduled"] == {}


def test_a_schedule_above_a_cap_is_capped_and_says_so() -> None:
    loop, clock = rig([sunday("huge", 50, "00:10", "00:40")], **{MAX_REPLICAS: "12"})
    assert run(loop, clock, "00:10") == [("00:04", 12)]
    (decision,) = proposals(loop)
    assert decision.reason_code == "ScheduledFloor"
    assert decision.reason.endswith(
        f"; capped at 12: 12 is the {MAX_REPLICAS} annotation (HorizontalPodAutoscaler/shop/web "
        "allows 30); raise or remove the annotation to let the floor go higher"
    )


class StaleReader(WeekReader):
    """Serves the load up to ``until`` only: the newest sample grows older each cycle."""

    def __init__(self, until: float) -> None:
        super().__init__(*week_and_a_day(71))
        self.until = until

    def range(self, query: str, start: float, end: float, step: float, now: float) -> list[Any]:
        (found,) = super().range(query, min(start, self.until), min(end, self.until), step, now)
        return [dataclasses.replace(found, stale=now - self.until > 300)]


def test_a_schedule_is_raised_while_the_load_is_stale() -> None:
    """Prometheus stops at 00:05: the workload is held (no forecast, nothing lowered),
    but a scheduled floor needs no numbers and is raised on time."""
    loop, clock = rig(
        [sunday("sunday-batch", 20, "00:30", "00:45")], reader=StaleReader(utc("00:05"))
    )
    written = run(loop, clock, "00:40")
    assert written == [("00:24", 20)]
    assert "Deployment/shop/web" in loop.report()["held"]
    (decision,) = proposals(loop)
    assert decision.reason_code == "ScheduledFloor"
    assert "a scheduled floor needs none" in decision.reason
    assert loop.report()["scheduled"]


class DownReader(WeekReader):
    """Prometheus unreachable from ``since`` on: every read raises."""

    def __init__(self, since: float) -> None:
        super().__init__(*week_and_a_day(71))
        self.since = since

    def range(self, query: str, start: float, end: float, step: float, now: float) -> list[Any]:
        if now >= self.since:
            raise TransientError("Prometheus: connection refused")
        return super().range(query, start, end, step, now)


def test_a_schedule_is_raised_while_prometheus_is_down() -> None:
    loop, clock = rig(
        [sunday("sunday-batch", 20, "00:30", "00:45")], reader=DownReader(utc("00:05"))
    )
    assert run(loop, clock, "00:40") == [("00:24", 20)]
    assert loop.report()["held"]["Deployment/shop/web"]["reason"] == "ReadFailed"
    (decision,) = proposals(loop)
    assert decision.reason_code == "ScheduledFloor"


def test_a_schedule_for_another_workload_changes_nothing() -> None:
    other = sunday("other", 20, "00:10", "00:40", workloads=["shop/api"])
    loop, clock = rig([other])
    assert run(loop, clock, "00:20") == []
    assert loop.report()["scheduled"] == {}
    assert loop.report()["scheduleUnmatched"] == {
        "other: shop/api": "scheduled floor other names shop/api, which is no Deployment, "
        "StatefulSet or Rollout in the namespaces Autonomic watches: no floor is set for it"
    }


def test_a_schedule_naming_a_workload_not_opted_in_is_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop, clock = rig([sunday("sunday-batch", 20, "00:10", "00:40")])
    cluster = cast(Any, loop.cluster)
    cluster.workloads = [
        dataclasses.replace(w, annotations={**w.annotations, PREDICTIVE: "false"})
        for w in cluster.workloads
    ]
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        assert run(loop, clock, "00:20") == []
    (why,) = loop.report()["scheduleUnmatched"].values()
    assert "is not opted in to predictive scaling" in why
    assert sum("is not opted in" in r.getMessage() for r in caplog.records) == 1  # once


def test_the_config_checks_cap_is_the_loops() -> None:
    from agent.loops.scaling import NO_HPA_MAX
    from agent.settings import _NO_HPA_MAX

    assert _NO_HPA_MAX == NO_HPA_MAX


def surge() -> WeekReader:
    """The load of the other tests, fifty times over from 00:26: the event the schedule
    was for came, and needs more than the HPA's 2 pods at 1,000 a pod (under 20)."""
    t, values = week_and_a_day(71)
    values = values.copy()
    values[t >= utc("00:26")] *= 50.0
    return WeekReader(t, values)


def judged(loop: ScalingLoop) -> dict[str, tuple[str, str]]:
    """decision id -> (outcome, why) of each verification the fake ledger holds."""
    ledger = cast(Any, loop.decisions).ledger
    return {
        f[0]: (f[2], str(ledger.records[f[0]].feedback_detail.get("why")))
        for f in ledger.feedback
        if f[1] == "verification"
    }


def test_a_scheduled_raise_gets_no_verdict_on_the_forecast() -> None:
    """The load the schedule was for came: judged as a forecast raise, this was "right",
    credit to the forecast's record for a floor a person set. It is recorded without a
    verdict (``scheduled``), so neither the type's confidence nor its calibration moves."""
    loop, clock = rig([sunday("sunday-batch", 20, "00:30", "00:45")], reader=surge())
    assert run(loop, clock, "00:40")[0] == ("00:24", 20)
    (decision_id, reason) = next(
        (f"d-{i + 1}", p.reason_code) for i, p in enumerate(proposals(loop))
    )
    assert reason == "ScheduledFloor"
    outcome, why = judged(loop)[decision_id]
    assert outcome == "scheduled"
    assert why.startswith(
        "the floor 2 -> 20 was set by scheduled floor sunday-batch, a person's instruction "
        "and not a forecast: no verdict on the forecast (the load peaked at "
    )
    record = cast(Any, loop.decisions).ledger.records[decision_id]
    assert record.status == "done"
    assert "right" not in {outcome for outcome, _ in judged(loop).values()}


def test_a_scheduled_raise_while_reactive_is_not_called_a_step_down() -> None:
    """A day of history: the forecast is not trusted (reactive). The schedule still
    raises the floor, and its verification said "a step down 2 -> 20 while the forecast
    was not used"; the workload stays reactive, its forecast's stance untouched."""
    loop, clock = rig(
        [sunday("sunday-batch", 20, "00:30", "00:45")],
        **{HISTORY_SINCE: datetime.fromtimestamp(START - 86_400.0, UTC).isoformat()},
    )
    assert run(loop, clock, "00:40") == [("00:24", 20)]
    assert "Deployment/shop/web" in loop.report()["reactive"]
    ((outcome, why),) = judged(loop).values()
    assert outcome == "scheduled"
    assert "step down" not in why
    assert "scheduled floor sunday-batch" in why


def real_rig(tmp_path: Path, mode: str = "act") -> tuple[Any, DecisionService, FakeClock, Any]:
    """The scheduled floor of ``rig`` on the real ledger and decision service."""
    clock = FakeClock(START)
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger,
        clock,
        RoutingSettings(),
        mode=cast(Any, mode),
        approvals=approvals,
        metrics=Metrics(),
    )
    web = workload("web", **{CAPACITY: "1000", STARTUP: "240"})
    cluster = FakeCluster([web])
    cluster.hpas[web.ref] = HpaState(HPA, web.ref, 2, 30, 3, 3, uid="u1")
    return ledger, decisions, clock, cluster


def new_process(decisions: DecisionService, clock: FakeClock, cluster: Any) -> ScalingLoop:
    return ScalingLoop(
        ScalingSettings(scheduledFloors=[sunday("sunday-batch", 20, "00:30", "00:45")]),
        reader=surge(),
        cluster=cast(Any, cluster),
        decisions=decisions,
        executor=cast(Any, RecordingExecutor(cluster)),
        clock=clock,
        submit=lambda signals: None,
    )


def test_explain_names_the_schedule_its_window_and_its_lead(tmp_path: Path) -> None:
    ledger, decisions, clock, cluster = real_rig(tmp_path)
    try:
        loop = new_process(decisions, clock, cluster)
        assert run(loop, clock, "00:40")[0] == ("00:24", 20)
        (decision,) = [
            d for d in ledger.decisions(kind="scaling") if d.reason_code == "ScheduledFloor"
        ]
        story = render(ledger, decision.id)
        assert (
            "  why      ScheduledFloor: minReplicas 2 -> 20: scheduled floor sunday-batch: at "
            "least 20 replicas from 00:24 UTC until 00:45 UTC (the window opens at 00:30 UTC; "
            "6m of start-up lead) for (Sun 00:30-00:45 UTC)"
        ) in story
        assert '  scheduled_floor: "sunday-batch"' in story.splitlines()
        assert "  lead_seconds: 360.0" in story.splitlines()
        assert " UTC verification: scheduled (autonomic) " in story
        assert "    why: the floor 2 -> 20 was set by scheduled floor sunday-batch, " in story
        assert "status now: done" in story
        # Nothing of it in the scaling type's record: its confidence and calibration.
        assert decisions.track_record(FLOOR_DECISION) == []
    finally:
        ledger.close()


def test_a_scheduled_floor_judged_by_the_next_process_gets_no_verdict(tmp_path: Path) -> None:
    """Applied, then the process stops before the floor is judged: the next one reads
    the floor back from the ledger, and judges it as the schedule's, not the forecast's."""
    ledger, decisions, clock, cluster = real_rig(tmp_path)
    try:
        assert run(new_process(decisions, clock, cluster), clock, "00:25") == [("00:24", 20)]
        (decision,) = ledger.decisions(kind="scaling")
        assert decision.status == "verifying"
        run(new_process(decisions, clock, cluster), clock, "00:40")
        assert ledger.get_decision(decision.id).status == "done"  # type: ignore[union-attr]
        assert decisions.track_record(FLOOR_DECISION) == []
    finally:
        ledger.close()


def test_an_approved_scheduled_floor_gets_no_verdict(tmp_path: Path) -> None:
    """``mode: propose``: the scheduled floor is asked about, approved, then carried out
    and judged as the schedule's."""
    ledger, decisions, clock, cluster = real_rig(tmp_path, mode="propose")
    try:
        loop = new_process(decisions, clock, cluster)
        assert run(loop, clock, "00:24") == []
        (question,) = ledger.questions()
        assert decisions.answer(question.id, "approved", "alice")
        assert run(loop, clock, "00:40")[0] == ("00:25", 20)
        assert ledger.get_decision(question.decision_id).status == "done"  # type: ignore[union-attr]
        assert decisions.track_record(FLOOR_DECISION) == []
    finally:
        ledger.close()


def test_a_give_back_after_a_scheduled_floor_is_not_taken_for_one() -> None:
    """The workload opts out inside the window: its floor given back is the owner's
    minimum, routed as a give-back (0.85), not as the schedule a person wrote (0.95), and
    its evidence names no schedule."""
    loop, clock = rig([sunday("sunday-batch", 20, "00:30", "00:45")])
    assert run(loop, clock, "00:35") == [("00:24", 20)]
    cluster = cast(Any, loop.cluster)
    cluster.workloads = [
        dataclasses.replace(w, annotations={**w.annotations, PREDICTIVE: "false"})
        for w in cluster.workloads
    ]
    assert run(loop, clock, "00:36") == [("00:36", 2)]
    give_back = proposals(loop)[-1]
    assert give_back.reason_code == "OptedOut"
    assert give_back.signal_confidence == 0.85
    assert give_back.evidence["scheduled_floor"] is None


def test_a_window_that_ends_while_held_is_no_longer_said_to_set_the_floor() -> None:
    """Prometheus stale from 00:05 to past the window: the floor raised for it stays
    (nothing is lowered while held), but once the window is over ``GET /scaling`` no
    longer names the schedule as setting the floor now."""
    loop, clock = rig(
        [sunday("sunday-batch", 20, "00:30", "00:45")], reader=StaleReader(utc("00:05"))
    )
    assert run(loop, clock, "00:44") == [("00:24", 20)]
    assert loop.report()["scheduled"]
    assert run(loop, clock, "00:50") == []
    assert "Deployment/shop/web" in loop.report()["held"]
    assert loop.report()["scheduled"] == {}


def test_a_rejected_scheduled_floor_gets_no_verdict(tmp_path: Path) -> None:
    """``mode: propose``: a person says no to the scheduled floor (not this time). Their
    own schedule, not the forecast, proposed it: the "no" is kept without calling the
    proposal wrong, so the scaling type's record, thresholds and calibration do not
    move, and no correction is counted."""
    ledger, decisions, clock, cluster = real_rig(tmp_path, mode="propose")
    try:
        loop = new_process(decisions, clock, cluster)
        assert run(loop, clock, "00:24") == []
        (question,) = ledger.questions()
        assert decisions.answer(question.id, "rejected", "alice", "not this Sunday")
        assert run(loop, clock, "00:40") == []
        (verdict,) = [
            r for r in ledger.feedback_for(question.decision_id) if r["kind"] == "verdict"
        ]
        assert verdict["outcome"] == "none"
        assert verdict["detail"]["why"] == (
            "no verdict: the floor was set by scheduled floor sunday-batch, a person's "
            "instruction and not a forecast"
        )
        assert decisions.track_record(FLOOR_DECISION) == []
        assert ledger.outcomes(FLOOR_DECISION) == []
        tally = ledger.route_tally(
            FLOOR_DECISION, routes=["ask"], limit=50, machine_actors=["autonomic", "timeout"]
        )
        assert sum(fixed for _, fixed in tally.values()) == 0
        corrections = decisions.metrics.human_corrections.labels(decision_type=FLOOR_DECISION)
        assert corrections._value.get() == 0
        moved = decisions.recalibrate(FLOOR_DECISION)
        assert not moved.changed and moved.wrong == 0
        story = render(ledger, question.decision_id)
        assert " UTC verdict: none (alice)" in story
    finally:
        ledger.close()


@pytest.mark.parametrize("reader", [None, StaleReader(utc("00:05"))], ids=["fresh", "stale"])
def test_a_min_replicas_above_the_hpas_max_writes_nothing_even_while_held(
    reader: WeekReader | None,
) -> None:
    """``min-replicas`` 40 on an HPA whose maxReplicas is 30: the API server refuses any
    floor above 30, so the loop holds (MinAboveMax) rather than try. With the load fresh
    it did; while the load was stale, the scheduled floor still tried to write 40."""
    loop, clock = rig(
        [sunday("sunday-batch", 50, "00:30", "00:45")], reader=reader, **{MIN_REPLICAS: "40"}
    )
    assert run(loop, clock, "00:40") == []
    assert proposals(loop) == []
    held = loop.report()["held"]["Deployment/shop/web"]
    assert held["reason"] == ("MinAboveMax" if reader is None else "LoadGap")


def without_capacity(loop: ScalingLoop) -> None:
    """web without the capacity annotation: its per-pod capacity is to be learned from
    the HPA, whose readings (none here) never come."""
    cluster = cast(Any, loop.cluster)
    cluster.workloads = [
        dataclasses.replace(
            w, annotations={k: v for k, v in w.annotations.items() if k != CAPACITY}
        )
        for w in cluster.workloads
    ]


def test_a_schedule_is_raised_while_the_capacity_is_being_learned() -> None:
    """No capacity annotation: the loop learns it from the HPA, "staying reactive until
    then". A scheduled floor needs no capacity (nor any forecast), yet the hold returned
    before the schedule was looked at: nothing was raised for the window."""
    loop, clock = rig([sunday("sunday-batch", 20, "00:30", "00:45")])
    without_capacity(loop)
    assert run(loop, clock, "00:40") == [("00:24", 20)]
    assert loop.report()["held"]["Deployment/shop/web"]["reason"] == "LearningCapacity"
    (decision,) = proposals(loop)
    assert decision.reason_code == "ScheduledFloor"
    assert decision.reason.endswith(
        "; the per-pod capacity is not known yet, and a scheduled floor needs none"
    )
    assert loop.report()["scheduled"]


def spike_from(clock: str, factor: float) -> WeekReader:
    t, values = week_and_a_day(71)
    values = values.copy()
    values[t >= utc(clock)] *= factor
    return WeekReader(t, values)


def test_a_schedule_is_raised_while_a_suspect_sample_is_held_back() -> None:
    """The event's load comes a little early, at 00:23: a jump many times the half hour's
    level is held back as a possible glitch for a few cycles (SuspectSample). The
    schedule, which needs no sample, is still raised at 00:24; the hold returned before
    it was looked at, so it came only once the jump had held (or not at all)."""
    loop, clock = rig(
        [sunday("sunday-batch", 20, "00:30", "00:45")], reader=spike_from("00:23", 1e4)
    )
    assert run(loop, clock, "00:23") == []
    assert loop.report()["held"]["Deployment/shop/web"]["reason"] == "SuspectSample"
    assert run(loop, clock, "00:24") == [("00:24", 20)]
    assert loop.report()["held"]["Deployment/shop/web"]["reason"] == "SuspectSample"
    (decision,) = proposals(loop)
    assert decision.reason_code == "ScheduledFloor"


def test_a_new_process_held_inside_the_window_says_the_schedule_holds_the_floor() -> None:
    """The floor of 20 was raised by an earlier process; this one starts at 00:36, inside
    the window, with Prometheus down. The floor in force is the schedule's, and is kept;
    ``GET /scaling`` said nothing of the schedule until the load could be read (the held
    path named a schedule only when it raised the floor itself)."""
    loop, clock = rig([sunday("sunday-batch", 20, "00:30", "00:45")], reader=DownReader(START))
    cluster = cast(Any, loop.cluster)
    ref = cluster.workloads[0].ref
    cluster.hpas[ref] = dataclasses.replace(cluster.hpas[ref], min_replicas=20)
    cluster.workloads = [dataclasses.replace(w, replicas=20) for w in cluster.workloads]
    clock.advance(utc("00:36") - START)
    assert run(loop, clock, "00:40") == []
    assert loop.report()["held"]["Deployment/shop/web"]["reason"] == "ReadFailed"
    assert loop.report()["scheduled"] == {
        "Deployment/shop/web": "scheduled floor sunday-batch: at least 20 replicas until "
        "00:45 UTC for (Sun 00:30-00:45 UTC)"
    }
    # A floor above the schedule's (the forecast's, before the hold) is not its.
    cluster.hpas[ref] = dataclasses.replace(cluster.hpas[ref], min_replicas=25)
    assert run(loop, clock, "00:41") == []
    assert loop.report()["scheduled"] == {}


@pytest.mark.parametrize("answer", ["rejected", "expired"])
def test_a_no_to_a_forecast_floor_does_not_keep_the_schedule_back(
    tmp_path: Path, answer: str
) -> None:
    """``mode: propose``: at 00:00 the forecast asks for 3 pods and is told no (or its
    question expires): no new question for an hour. That hour is about the forecast's
    floor; the scheduled floor for 00:30 was kept back with it, so nothing was asked for
    the window at all. A "no" to the schedule itself still keeps it from being asked
    again within the hour (``test_a_rejected_scheduled_floor_gets_no_verdict``)."""
    ledger, decisions, clock, cluster = real_rig(tmp_path, mode="propose")
    try:
        web = cluster.workloads[0]
        cluster.workloads = [
            dataclasses.replace(web, annotations={**web.annotations, CAPACITY: "30"})
        ]
        loop = new_process(decisions, clock, cluster)
        assert run(loop, clock, "00:00") == []
        (question,) = ledger.questions()
        assert ledger.get_decision(question.decision_id).reason_code != "ScheduledFloor"  # type: ignore[union-attr]
        if answer == "rejected":
            assert decisions.answer(question.id, "rejected", "alice", "not now")
        else:
            run(loop, clock, "00:15")  # its 15 minutes are up
            assert decisions.expire_due() == [question.decision_id]
        run(loop, clock, "00:24")
        asked = [ledger.get_decision(q.decision_id) for q in ledger.questions()]
        assert [d.reason_code for d in asked if d is not None] == ["ScheduledFloor"]
    finally:
        ledger.close()


def test_an_open_forecast_question_is_superseded_by_the_schedule_it_would_block(
    tmp_path: Path,
) -> None:
    """``mode: propose``: at 00:00 the forecast asks for 3 pods, and nobody answers. The
    open question kept the scheduled floor back until it was answered or expired: at
    00:24 nothing was asked for the 00:30 window. The schedule's 20 covers the 3 asked
    for, so the question is closed as superseded (no answer, no verdict) and the
    schedule's floor is asked about in its place."""
    ledger, decisions, clock, cluster = real_rig(tmp_path, mode="propose")
    try:
        web = cluster.workloads[0]
        cluster.workloads = [
            dataclasses.replace(web, annotations={**web.annotations, CAPACITY: "30"})
        ]
        loop = new_process(decisions, clock, cluster)
        assert run(loop, clock, "00:23") == []
        (forecast,) = ledger.questions()
        assert ledger.get_decision(forecast.decision_id).proposal["to"] == 3  # type: ignore[union-attr]
        run(loop, clock, "00:24")
        closed = ledger.get_decision(forecast.decision_id)
        assert closed is not None and closed.status == "superseded"
        asked = [ledger.get_decision(q.decision_id) for q in ledger.questions()]
        open_ones = [d for d in asked if d is not None and d.status == "asked"]
        assert [(d.reason_code, d.proposal["to"]) for d in open_ones] == [("ScheduledFloor", 20)]
        story = render(ledger, forecast.decision_id)
        assert (
            "scheduled floor sunday-batch is due and sets at least 20 replicas, no fewer than "
            "the 3 this question asked for: the schedule's floor is decided instead"
        ) in story
        # Nobody's answer: no verdict on the forecast, no "no" that keeps anything back.
        assert decisions.track_record(FLOOR_DECISION) == []
    finally:
        ledger.close()


def test_an_open_forecast_question_is_superseded_by_a_schedule_due_while_held() -> None:
    """The same while the workload is held on its load (Prometheus stale from 00:05):
    the schedule raised while held waited behind the forecast's open question too."""
    loop, clock = rig(
        [sunday("sunday-batch", 20, "00:30", "00:45")],
        capacity="30",
        reader=StaleReader(utc("00:05")),
    )
    decisions = cast(Any, loop.decisions)
    decisions.route = "ask"
    assert run(loop, clock, "00:23") == []
    (forecast,) = proposals(loop)
    assert forecast.reason_code != "ScheduledFloor" and forecast.proposal["to"] == 3
    assert loop.report()["held"]["Deployment/shop/web"]["reason"] != "Paused"
    run(loop, clock, "00:24")
    assert decisions.ledger.records["d-1"].status == "superseded"
    assert [(d, r) for d, r, _ in decisions.superseded] == [("d-1", "ScheduledFloor")]
    scheduled = proposals(loop)[-1]
    assert scheduled.reason_code == "ScheduledFloor" and scheduled.proposal["to"] == 20


def test_a_lowering_question_superseded_while_held_under_a_higher_floor_says_it_is_kept() -> None:
    """The schedule's 25 (00:10-00:20) is written; after it the forecast asks to lower the
    floor to 17, and nobody answers. Prometheus stops at 00:27 (held on the load), and
    the peak's 20 falls due at 00:34: the question is superseded (17 is below the
    schedule's 20), but the 25 in force already covers the 20, so nothing is decided in
    its place. Its reason said "the schedule's floor is decided instead"; it now says
    the floor in force is kept."""
    loop, clock = rig(
        [sunday("sunday-batch", 25, "00:10", "00:20"), sunday("sunday-peak", 20, "00:40", "00:50")],
        reader=StaleReader(utc("00:27")),
    )
    decisions = cast(Any, loop.decisions)
    assert run(loop, clock, "00:20") == [("00:04", 25)]
    decisions.route = "ask"
    assert run(loop, clock, "00:33") == []
    lowering = proposals(loop)[-1]
    assert (lowering.reason_code, lowering.proposal["to"]) == ("ScaleInLimit", 17)
    assert run(loop, clock, "00:44") == []
    assert proposals(loop)[-1] is lowering  # nothing decided in its place
    assert decisions.superseded == [
        (
            "d-2",
            "ScheduledFloor",
            "scheduled floor sunday-peak is due and sets at least 20 replicas, no fewer than "
            "the 17 this question asked for; the floor in force, 25, already covers it, so "
            "it is kept and nothing is decided in its place",
        )
    ]


def test_a_question_asking_more_than_the_schedule_is_not_superseded() -> None:
    """The loop asked for 10 pods (the load then needed them) and the schedule wants 8:
    an approval covers the schedule, so the question stands and nothing else is asked."""
    loop, clock = rig(
        [sunday("sunday-batch", 8, "00:30", "00:45")],
        capacity="5",
        reader=StaleReader(utc("00:05")),
    )
    decisions = cast(Any, loop.decisions)
    decisions.route = "ask"
    assert run(loop, clock, "00:40") == []
    (forecast,) = proposals(loop)
    assert forecast.proposal["to"] == 10
    assert decisions.ledger.records["d-1"].status == "asked"
    assert decisions.superseded == []


def test_of_two_equal_schedules_the_one_open_now_is_named() -> None:
    """Two back-to-back windows asking for the same 20 pods, the later one listed first:
    within the lead of the second, the status named it ("from 00:39 ... the window opens
    at 00:45") while the first, open since 00:30, was what held the floor."""
    loop, clock = rig(
        [sunday("second", 20, "00:45", "01:00"), sunday("first", 20, "00:30", "00:45")]
    )
    assert run(loop, clock, "00:40") == [("00:24", 20)]
    assert loop.report()["scheduled"] == {
        "Deployment/shop/web": "scheduled floor first: at least 20 replicas until 00:45 UTC "
        "for (Sun 00:30-00:45 UTC)"
    }
    assert run(loop, clock, "00:46") == []  # the second keeps it: nothing given back
    assert loop.report()["scheduled"]["Deployment/shop/web"].startswith(
        "scheduled floor second: at least 20 replicas until 01:00 UTC"
    )


def test_a_schedule_does_not_switch_off_an_hpa_that_scaled_its_workload_to_zero() -> None:
    """An HPA that scales to zero (minReplicas 0) has taken web to 0 replicas. The HPA
    controller leaves a target at 0 alone once its minReplicas is above 0 (condition
    ScalingActive=False, ScalingDisabled): the scheduled floor raised minReplicas 0 -> 20,
    which woke nothing and switched the HPA off, and the loop, seeing a target at 0 under
    a minReplicas above 0, then held it as scaled to zero for good, never giving the 0
    back. The floor waits until the HPA has woken the workload, then is raised."""
    loop, clock = rig([sunday("sunday-batch", 20, "00:30", "00:45")])
    cluster = cast(Any, loop.cluster)
    ref = cluster.workloads[0].ref
    cluster.hpas[ref] = dataclasses.replace(cluster.hpas[ref], min_replicas=0)
    cluster.workloads = [
        dataclasses.replace(w, replicas=0, ready_replicas=0) for w in cluster.workloads
    ]
    assert run(loop, clock, "00:26") == []
    held = loop.report()["held"]["Deployment/shop/web"]
    assert held["reason"] == "ScaledToZero"
    assert "ScalingDisabled" in held["why"]
    assert proposals(loop) == []
    # The HPA scales it up on its own metric: the schedule's floor follows.
    cluster.workloads = [
        dataclasses.replace(w, replicas=1, ready_replicas=1) for w in cluster.workloads
    ]
    assert run(loop, clock, "00:27") == [("00:27", 20)]
    assert "Deployment/shop/web" not in loop.report()["held"]


def stuck_at_zero(
    route: str = "auto", *, written: int | None = 20, **annotations: str
) -> tuple[ScalingLoop, FakeClock]:
    """``rig``'s web at 0 replicas under its HPA's minReplicas 20, over the HPA's own
    minimum of 0 (kept in the ledger), as an earlier version left it: the HPA controller
    leaves a target at 0 alone while its minReplicas is above 0 (ScalingActive=False,
    ScalingDisabled). ``written``: the minReplicas the ledger says Autonomic wrote (None:
    it wrote none)."""
    loop, clock = rig([sunday("sunday-batch", 20, "00:30", "00:45")], **annotations)
    decisions = cast(Any, loop.decisions)
    decisions.route = route
    cluster = cast(Any, loop.cluster)
    ref = cluster.workloads[0].ref
    cluster.hpas[ref] = dataclasses.replace(cluster.hpas[ref], min_replicas=20)
    cluster.workloads = [
        dataclasses.replace(w, replicas=0, ready_replicas=0) for w in cluster.workloads
    ]
    guards = decisions.ledger.guards
    guards[f"scaling/configured-min/{HPA}"] = ({"min_replicas": 0, "uid": "u1"}, 1)
    if written is not None:
        record = {"min_replicas": written, "at": START - 3600, "decision_id": "old"}
        guards[f"scaling/written/{ref}"] = ({**record, "hpa_uid": "u1"}, 1)
    return loop, clock


def test_a_floor_of_its_own_left_above_a_workload_at_zero_gives_the_zero_back() -> None:
    """An earlier version raised minReplicas 0 -> 20 while its HPA had web at 0 (or the
    HPA scaled web to 0 between the loop's read and its write): the HPA is switched off
    (ScalingDisabled) and web stays at 0. The loop held it as scaled to zero for good:
    nothing gave the 0 back. Now the floor the ledger says Autonomic wrote is given back
    to the owner's 0, as a give-back is (routed at 0.85, no schedule's), saying why; the
    HPA wakes web on its own metric, and the schedule's floor follows."""
    loop, clock = stuck_at_zero()
    assert run(loop, clock, "00:25") == [("23:59", 0)]
    (give_back,) = proposals(loop)
    assert give_back.reason_code == "ScaledToZero"
    assert give_back.proposal == {
        "op": "set_hpa_min_replicas",
        "from": 20,
        "to": 0,
        "mode": "reactive",
    }
    assert give_back.signal_confidence == 0.85
    assert give_back.evidence["scheduled_floor"] is None
    assert give_back.reason == (
        "minReplicas 20 -> 0: Deployment/shop/web is at 0 replicas under "
        "HorizontalPodAutoscaler/shop/web minReplicas 20, a floor Autonomic wrote (decision "
        "old) over the HPA's own minimum of 0: the HPA controller leaves a target at 0 alone "
        "while its minReplicas is above 0 (ScalingActive=False, ScalingDisabled), so that "
        "floor woke nothing and switched the HPA off; the 0 is given back for "
        "HorizontalPodAutoscaler/shop/web to wake Deployment/shop/web on its own metric"
    )
    # Given back, it waits for the HPA to wake web, as any workload at 0 by its HPA does.
    held = loop.report()["held"]["Deployment/shop/web"]
    assert held["reason"] == "ScaledToZero" and "no floor is raised until" in held["why"]
    cluster = cast(Any, loop.cluster)
    cluster.workloads = [
        dataclasses.replace(w, replicas=1, ready_replicas=1) for w in cluster.workloads
    ]
    assert run(loop, clock, "00:26") == [("00:26", 20)]


def test_a_floor_raised_as_the_hpa_scaled_its_workload_to_zero_is_given_back() -> None:
    """The race: web was awake (3 replicas) under an HPA that scales to zero when the
    schedule's 20 was written, and the HPA had taken it to 0 in between. The next cycle
    gives the 0 back (the loop's own write, remembered), and the decision names it."""
    loop, clock = rig([sunday("sunday-batch", 20, "00:30", "00:45")])
    cluster = cast(Any, loop.cluster)
    ref = cluster.workloads[0].ref
    cluster.hpas[ref] = dataclasses.replace(cluster.hpas[ref], min_replicas=0)
    assert run(loop, clock, "00:24")[-1] == ("00:24", 20)
    raised = proposals(loop)[-1]
    cluster.workloads = [
        dataclasses.replace(w, replicas=0, ready_replicas=0) for w in cluster.workloads
    ]
    assert run(loop, clock, "00:26") == [("00:25", 0)]
    give_back = proposals(loop)[-1]
    assert give_back.reason_code == "ScaledToZero"
    decision_id = f"d-{len(proposals(loop)) - 1}"
    assert (
        cast(Any, loop.decisions).ledger.records[decision_id].proposal["to"]
        == raised.proposal["to"]
    )
    assert f"a floor Autonomic wrote (decision {decision_id})" in give_back.reason


@pytest.mark.parametrize("written", [None, 10])
def test_a_min_replicas_autonomic_did_not_write_is_left_alone_at_zero(
    written: int | None,
) -> None:
    """The same HPA at minReplicas 20 over a target at 0, but the 20 is not what the
    ledger says Autonomic wrote (it wrote nothing, or 10: a person set 20 since): held as
    scaled to zero, as before, and nothing is decided or written."""
    loop, clock = stuck_at_zero(written=written)
    assert run(loop, clock, "00:25") == []
    assert proposals(loop) == []
    held = loop.report()["held"]["Deployment/shop/web"]
    assert held["reason"] == "ScaledToZero" and "above the HPA's own minimum of 0" in held["why"]


@pytest.mark.parametrize("recorded", [True, False])
def test_a_workload_someone_changed_since_the_write_is_left_at_zero(recorded: bool) -> None:
    """web was changed by someone (``kubectl scale --replicas=0``, as managedFields date
    it) after Autonomic wrote the 20: the 0 may be theirs, autoscaling switched off on
    purpose, and a 0 given back would let the HPA wake it. Held, nothing decided. The
    write's record holds the change time it saw (``recorded``), or, from before records
    kept it, only when it was written."""
    loop, clock = stuck_at_zero()
    guards = cast(Any, loop.decisions).ledger.guards
    key = "scaling/written/Deployment/shop/web"
    if recorded:
        guards[key] = ({**guards[key][0], "workload_changed_at": START - 7200}, 1)
    cluster = cast(Any, loop.cluster)
    cluster.workloads = [
        dataclasses.replace(w, managed_by_human_at=START - 60) for w in cluster.workloads
    ]
    assert run(loop, clock, "00:25") == []
    assert proposals(loop) == []
    assert loop.report()["held"]["Deployment/shop/web"]["reason"] == "ScaledToZero"


def test_a_change_by_someone_before_the_write_does_not_keep_the_zero_back() -> None:
    """A change the write saw already (its record keeps the time) is no reason to hold:
    the 0 is the HPA's, and it is given back."""
    loop, clock = stuck_at_zero()
    guards = cast(Any, loop.decisions).ledger.guards
    key = "scaling/written/Deployment/shop/web"
    guards[key] = ({**guards[key][0], "workload_changed_at": START - 7200}, 1)
    cluster = cast(Any, loop.cluster)
    cluster.workloads = [
        dataclasses.replace(w, managed_by_human_at=START - 7200) for w in cluster.workloads
    ]
    assert run(loop, clock, "00:00") == [("23:59", 0)]


def test_an_owners_minimum_above_zero_is_not_given_back_at_zero() -> None:
    """``autonomic.dev/min-replicas: 3`` is the owner's minimum: 3 would leave the HPA
    switched off all the same, so nothing is decided."""
    loop, clock = stuck_at_zero(**{MIN_REPLICAS: "3"})
    assert run(loop, clock, "00:25") == []
    assert proposals(loop) == []


def test_the_zero_given_back_is_asked_in_propose_mode_and_carried_out_on_a_yes() -> None:
    """Asked once, not every cycle; waited for while open; written on the approval."""
    loop, clock = stuck_at_zero("ask")
    assert run(loop, clock, "00:05") == []
    (question,) = proposals(loop)
    assert question.reason_code == "ScaledToZero"
    held = loop.report()["held"]["Deployment/shop/web"]
    assert held["why"].endswith("asked (decision d-1): waiting for the answer")
    cast(Any, loop.decisions).ledger.records["d-1"].status = "approved"
    assert run(loop, clock, "00:06") == [("00:06", 0)]
    assert len(proposals(loop)) == 1


def test_a_no_to_the_zero_given_back_is_not_asked_again() -> None:
    """As for any floor, a "no" to the 0 is not asked again, nor after its hour: web
    stays held as scaled to zero, as before."""
    loop, clock = stuck_at_zero("ask")
    assert run(loop, clock, "00:00") == []
    cast(Any, loop.decisions).ledger.records["d-1"].status = "rejected"
    assert run(loop, clock, "01:10") == []
    assert len(proposals(loop)) == 1
    held = loop.report()["held"]["Deployment/shop/web"]
    assert held["reason"] == "ScaledToZero"
    # The HPA's own minimum is 0: it did scale to zero; its minReplicas now does not.
    assert "does not scale to zero" not in held["why"]
    assert held["why"] == (
        "Deployment/shop/web is scaled to zero (spec.replicas 0) under "
        "HorizontalPodAutoscaler/shop/web minReplicas 20, above the HPA's own minimum of 0: "
        "the HPA controller leaves a target at 0 alone while its minReplicas is above 0 "
        "(ScalingActive=False, ScalingDisabled), so autoscaling is off for it; set "
        "minReplicas back to 0 or scale it up to resume; holding"
    )


def test_a_schedule_for_a_workload_held_on_a_bad_annotation_says_it_sets_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``min-replicas: lots``: the workload is held (BadAnnotation), its caps unknown, and
    the schedule sets nothing for it. ``GET /scaling`` said so only of a workload the loop
    does not scale; for this one the schedule's silence had to be inferred from the hold."""
    loop, clock = rig([sunday("sunday-batch", 20, "00:30", "00:45")], **{MIN_REPLICAS: "lots"})
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        assert run(loop, clock, "00:40") == []
    assert loop.report()["held"]["Deployment/shop/web"]["reason"] == "BadAnnotation"
    assert loop.report()["scheduleUnmatched"] == {
        "sunday-batch: shop/web": "scheduled floor sunday-batch names shop/web, which is held "
        "(BadAnnotation: see held, Deployment/shop/web): no floor is set for it while it is"
    }
    assert sum("which is held (BadAnnotation" in r.getMessage() for r in caplog.records) == 1
    # Fixed: the schedule sets the floor again, and the line is gone.
    cluster = cast(Any, loop.cluster)
    cluster.workloads = [
        dataclasses.replace(w, annotations={**w.annotations, MIN_REPLICAS: "2"})
        for w in cluster.workloads
    ]
    assert run(loop, clock, "00:41") == [("00:41", 20)]
    assert loop.report()["scheduleUnmatched"] == {}


def test_an_approved_zero_given_back_is_not_written_while_paused() -> None:
    """The 0 given back is asked (propose mode), and approved while Autonomic is paused
    (``autonomic pause``, ``safety.paused``): nothing is written until the pause ends,
    as for any approved floor. Before, the question was followed up ahead of the pause
    check, and the approval was written to the HPA during the pause."""
    loop, clock = stuck_at_zero("ask")
    assert run(loop, clock, "00:00") == []
    cast(Any, loop.decisions).ledger.records["d-1"].status = "approved"
    loop.paused = lambda: "safety.paused"
    assert run(loop, clock, "00:10") == []
    held = loop.report()["held"]["Deployment/shop/web"]
    assert held["reason"] == "Paused"
    loop.paused = lambda: None
    assert run(loop, clock, "00:11") == [("00:11", 0)]
    assert len(proposals(loop)) == 1


def _left_at_twenty_over_zero(ledger: Any, cluster: Any) -> None:
    """web at 0 replicas under its HPA at minReplicas 20, a floor the (real) ledger says
    the loop wrote an hour ago over the HPA's own 0."""
    ref = cluster.workloads[0].ref
    cluster.hpas[ref] = dataclasses.replace(cluster.hpas[ref], min_replicas=20)
    cluster.workloads = [
        dataclasses.replace(w, replicas=0, ready_replicas=0) for w in cluster.workloads
    ]
    for key, record in (
        (f"scaling/configured-min/{HPA}", {"min_replicas": 0, "uid": "u1"}),
        (f"scaling/written/{ref}", {"min_replicas": 20, "at": START - 3600, "hpa_uid": "u1"}),
    ):
        assert ledger.put_guard(key, record, ledger.guard(key)[1], START - 3600)


class _Crash(BaseException):
    """The process killed between a decision and its write."""


def test_a_zero_given_back_cut_off_before_its_write_is_written_once_by_the_next_process(
    tmp_path: Path,
) -> None:
    """The 0 is decided (routed auto, approved) and the process dies before its write:
    the next process follows that decision up and writes the 0 once, deciding nothing
    new; ``autonomic explain`` says why the floor was given back."""
    ledger, decisions, clock, cluster = real_rig(tmp_path)
    try:
        _left_at_twenty_over_zero(ledger, cluster)
        first = new_process(decisions, clock, cluster)

        def crash(*args: Any, **kwargs: Any) -> Any:
            raise _Crash

        cast(Any, first.executor).apply = crash
        with pytest.raises(_Crash):
            first.cycle()
        (decision,) = ledger.decisions(kind="scaling")
        assert (decision.reason_code, decision.status) == ("ScaledToZero", "approved")
        assert run(new_process(decisions, clock, cluster), clock, "23:59") == [("23:59", 0)]
        # Judged by a third process, from the ledger: as the owner's 0 given back.
        assert run(new_process(decisions, clock, cluster), clock, "00:10") == []
        assert [d.id for d in ledger.decisions(kind="scaling")] == [decision.id]
        story = render(ledger, decision.id)
        assert "    why: the HPA's own minimum of 0 given back (ScaledToZero)" in story
        assert "why      ScaledToZero: minReplicas 20 -> 0: Deployment/shop/web is at 0" in story
        assert "(ScalingActive=False, ScalingDisabled)" in story
    finally:
        ledger.close()


class _CutAfterWrite:
    """The real executor's writer over the fake cluster's HPA: each write lands (the
    floor on the HPA, the replicas up to it, as the controller does) and, with ``cut``,
    the process dies right after it, before the executor records the write's result
    or the loop its written-floor record (a SIGKILL between the two)."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.ref = cluster.workloads[0].ref
        self.writes: list[int] = []
        self.cut = False

    def snapshot(self, operation: Any) -> dict[str, Any]:
        hpa = self.cluster.hpas[self.ref]
        return {"minReplicas": hpa.min_replicas, "maxReplicas": hpa.max_replicas, "uid": hpa.uid}

    def apply(self, operation: Any, *, dry_run: bool = False, uid: str = "") -> OperationResult:
        assert isinstance(operation, SetHpaMinReplicas) and not dry_run
        before = self.snapshot(operation)
        floor = operation.min_replicas
        self.cluster.hpas[self.ref] = dataclasses.replace(
            self.cluster.hpas[self.ref], min_replicas=floor
        )
        self.cluster.workloads = [
            dataclasses.replace(w, replicas=max(w.replicas, floor)) for w in self.cluster.workloads
        ]
        self.writes.append(floor)
        if self.cut:
            raise _Crash
        after = self.snapshot(operation)
        return OperationResult(operation, False, True, before, after, f"minReplicas -> {floor}")

    def post_event(self, *args: Any, **kwargs: Any) -> None:
        pass

    def annotate(self, *args: Any, **kwargs: Any) -> None:
        pass


def writing_process(
    decisions: DecisionService,
    clock: FakeClock,
    cluster: Any,
    writer: _CutAfterWrite,
    floors: list[dict[str, Any]],
) -> ScalingLoop:
    """A process of the loop with the real executor (intents in the ledger) over ``writer``."""
    return ScalingLoop(
        ScalingSettings(scheduledFloors=floors),
        reader=surge(),
        cluster=cast(Any, cluster),
        decisions=decisions,
        executor=Executor(decisions.ledger, cast(Any, writer), clock, owner="test"),
        clock=clock,
        submit=lambda signals: None,
    )


def cycle_until(loop: ScalingLoop, clock: FakeClock, until: str) -> None:
    while clock.now() <= utc(until):
        loop.cycle()
        clock.advance(STEP)


def not_overridden(ledger: Any, loop: ScalingLoop) -> None:
    """No decision told it was overridden, nothing held as ``Overridden``."""
    ref = str(loop.cluster.workloads[0].ref)  # type: ignore[attr-defined]
    held = loop.report()["held"].get(ref) or {}
    assert held.get("reason") != "Overridden", held
    assert all(m.overrides == 0 and not m.theirs for m in loop.models.values())
    for decision in ledger.decisions(kind="scaling"):
        outcomes = [r["outcome"] for r in ledger.feedback_for(decision.id)]
        assert "overridden" not in outcomes, (decision.id, outcomes)
    assert {i.status for i in ledger.intents()} == {"applied"}


def test_a_zero_given_back_cut_off_after_its_write_is_not_taken_for_someone_else_s(
    tmp_path: Path,
) -> None:
    """The 0 is decided (routed auto, approved) and written, and the process dies before
    the write's result and the loop's record of it are kept: the ledger still says the
    loop last wrote 20. The next process used to take the cluster's 0 for someone else's
    change (held ``Overridden`` for an hour) before following the decision up; the
    intent recorded before the write says the 0 is its own: settled as applied, never
    written again, nothing held as overridden."""
    ledger, decisions, clock, cluster = real_rig(tmp_path)
    try:
        _left_at_twenty_over_zero(ledger, cluster)
        writer = _CutAfterWrite(cluster)
        floors = [sunday("sunday-batch", 20, "00:30", "00:45")]
        writer.cut = True
        with pytest.raises(_Crash):
            writing_process(decisions, clock, cluster, writer, floors).cycle()
        clock.advance(STEP)
        writer.cut = False
        (decision,) = ledger.decisions(kind="scaling")
        assert (decision.reason_code, decision.status, writer.writes) == (
            "ScaledToZero",
            "approved",
            [0],
        )
        assert [i.status for i in ledger.intents()] == ["pending"]
        second = writing_process(decisions, clock, cluster, writer, floors)
        cycle_until(second, clock, "00:10")
        assert writer.writes == [0]
        assert [(d.id, d.status) for d in ledger.decisions(kind="scaling")] == [
            (decision.id, "verifying")
        ]
        not_overridden(ledger, second)
    finally:
        ledger.close()


@pytest.mark.parametrize("person", [None, 27])
def test_a_floor_raised_cut_off_after_its_write_is_not_taken_for_someone_else_s(
    tmp_path: Path, person: int | None
) -> None:
    """Two scheduled floors: 20 written at 00:24 (and recorded), then 25 at 00:34, and the
    process dies right after that write. The next process used to read the ledger's 20
    against the cluster's 25 and hold the workload ``Overridden`` for an hour, with an
    ``overridden`` note on the 20's decision. The 25 is its own (its intent's): followed
    up, settled as applied, written once. A value the intent did not write (a person's
    27, set after the crash) is still someone else's."""
    ledger, decisions, clock, cluster = real_rig(tmp_path)
    try:
        writer = _CutAfterWrite(cluster)
        floors = [
            sunday("sunday-batch", 20, "00:30", "00:45"),
            sunday("sunday-peak", 25, "00:40", "00:50"),
        ]
        first = writing_process(decisions, clock, cluster, writer, floors)
        cycle_until(first, clock, "00:33")
        assert writer.writes == [20]
        writer.cut = True
        with pytest.raises(_Crash):
            first.cycle()  # 00:34
        clock.advance(STEP)
        writer.cut = False
        assert writer.writes == [20, 25]
        earlier, cut = sorted(ledger.decisions(kind="scaling"), key=lambda d: d.created_at)
        assert (earlier.status, cut.status) == ("verifying", "approved")
        ref = cluster.workloads[0].ref
        if person is not None:
            cluster.hpas[ref] = dataclasses.replace(cluster.hpas[ref], min_replicas=person)
        second = writing_process(decisions, clock, cluster, writer, floors)
        cycle_until(second, clock, "00:44")
        assert writer.writes == [20, 25]  # followed up, never written again
        assert ledger.get_decision(cut.id).status == "verifying"  # type: ignore[union-attr]
        if person is None:
            not_overridden(ledger, second)
        else:
            held = second.report()["held"][str(ref)]
            assert held["reason"] == "Overridden"
            outcomes = [r["outcome"] for r in ledger.feedback_for(cut.id)]
            assert "overridden" in outcomes
    finally:
        ledger.close()


def test_a_person_s_value_after_a_cut_off_write_is_held_against_that_write_and_kept(
    tmp_path: Path,
) -> None:
    """20 written and recorded, 25 written at 00:34 and the process killed before its
    record; a person sets 27 before the next process starts. That process holds the 27
    as theirs, and names the write Autonomic last made (the 25, known from its intent),
    not the recorded 20. The hold stored in the ledger survives the follow-up of the
    25 in the same cycle (it used to be overwritten by the 25's record, without its
    ``quiet_until``), so a process started again within the hour holds the workload
    until the same time, without counting the override again."""
    ledger, decisions, clock, cluster = real_rig(tmp_path)
    try:
        writer = _CutAfterWrite(cluster)
        floors = [
            sunday("sunday-batch", 20, "00:30", "00:45"),
            sunday("sunday-peak", 25, "00:40", "00:50"),
        ]
        first = writing_process(decisions, clock, cluster, writer, floors)
        cycle_until(first, clock, "00:33")
        writer.cut = True
        with pytest.raises(_Crash):
            first.cycle()  # 00:34: the 25 lands, its record does not
        clock.advance(STEP)
        writer.cut = False
        earlier, cut = sorted(ledger.decisions(kind="scaling"), key=lambda d: d.created_at)
        ref = cluster.workloads[0].ref
        cluster.hpas[ref] = dataclasses.replace(cluster.hpas[ref], min_replicas=27)
        second = writing_process(decisions, clock, cluster, writer, floors)
        cycle_until(second, clock, "00:37")
        held = second.report()["held"][str(ref)]
        assert held["reason"] == "Overridden"
        assert f"minReplicas is 27, not the 25 Autonomic wrote (decision {cut.id})" in held["why"]
        assert "overridden" not in [r["outcome"] for r in ledger.feedback_for(earlier.id)]
        overridden = [r for r in ledger.feedback_for(cut.id) if r["outcome"] == "overridden"]
        assert [(r["detail"]["written"], r["detail"]["found"]) for r in overridden] == [(25, 27)]
        (model,) = second.models.values()
        until = model.quiet_until
        stored, _ = ledger.guard(f"scaling/written/{ref}")
        assert (stored["min_replicas"], stored["decision_id"], stored["found"]) == (25, cut.id, 27)
        assert stored["quiet_until"] == until
        third = writing_process(decisions, clock, cluster, writer, floors)
        cycle_until(third, clock, "00:44")
        (restored,) = third.models.values()
        assert (restored.quiet_until, restored.theirs) == (until, True)
        assert writer.writes == [20, 25]
        assert len([r for r in ledger.feedback_for(cut.id) if r["outcome"] == "overridden"]) == 1
    finally:
        ledger.close()


def test_a_hold_read_back_by_a_restarted_process_is_said_and_keeps_a_schedule_back(
    tmp_path: Path,
) -> None:
    """20 written at 00:24 for one schedule; a person sets minReplicas to 15 at 00:25,
    and the process holds it theirs for an hour, storing the hold with its write. The
    process restarted at 00:31 read only the hold's end back: ``status.held`` said
    nothing, and, a hold without a sentence being taken for the hour after a "no" to
    another floor, the schedules' floors were written over the person's 15: the 20
    again at 00:31, the 25 at 00:34. Read back, the hold
    is the one first set: said with the same reason and sentence, until the same time,
    and no floor is written, raised or lowered, before it ends."""
    ledger, decisions, clock, cluster = real_rig(tmp_path)
    try:
        writer = _CutAfterWrite(cluster)
        floors = [
            sunday("sunday-batch", 20, "00:30", "00:45"),
            sunday("sunday-peak", 25, "00:40", "00:50"),
        ]
        first = writing_process(decisions, clock, cluster, writer, floors)
        cycle_until(first, clock, "00:24")
        assert writer.writes == [20]
        ref = cluster.workloads[0].ref
        cluster.hpas[ref] = dataclasses.replace(cluster.hpas[ref], min_replicas=15)
        cycle_until(first, clock, "00:30")
        said = first.report()["held"][str(ref)]
        assert said["reason"] == "Overridden"
        assert "minReplicas is 15, not the 20 Autonomic wrote" in said["why"]
        (model,) = first.models.values()
        until = model.quiet_until
        second = writing_process(decisions, clock, cluster, writer, floors)
        cycle_until(second, clock, "00:44")
        assert writer.writes == [20]  # before: [20, 20, 25], at 00:24, 00:31 and 00:34
        assert cluster.hpas[ref].min_replicas == 15
        assert second.report()["held"][str(ref)] == said  # before: nothing held
        (restored,) = second.models.values()
        assert (restored.quiet_until, restored.theirs) == (until, True)
    finally:
        ledger.close()


@pytest.mark.parametrize("first", ["person", "schedule"])
def test_a_question_answered_as_the_schedule_supersedes_it_is_settled_once(
    tmp_path: Path, first: str
) -> None:
    """``mode: propose``: the forecast's question for 3 pods is open when the schedule's
    20 falls due, and a person answers it at that moment. Whichever the ledger records
    first stands, once: an approval recorded first (its decision not yet moved) is not
    superseded, and is carried out; a question superseded first refuses the click."""
    ledger, decisions, clock, cluster = real_rig(tmp_path, mode="propose")
    cast(Any, decisions.approvals).ttl = 3600  # still open when the window falls due
    try:
        web = cluster.workloads[0]
        cluster.workloads = [
            dataclasses.replace(web, annotations={**web.annotations, CAPACITY: "30"})
        ]
        loop = new_process(decisions, clock, cluster)
        assert run(loop, clock, "00:23") == []
        (forecast,) = ledger.questions()
        if first == "person":
            # The click's compare-and-set lands; its decision is moved a moment later.
            assert ledger.answer(forecast.id, "approved", "alice", clock.now())
            assert run(loop, clock, "00:24") == []
            assert ledger.get_decision(forecast.decision_id).status == "asked"  # type: ignore[union-attr]
            decisions.handle_answer(forecast.id, "approved", "alice")
            assert run(loop, clock, "00:25") == [("00:25", 3)]
            assert ledger.get_decision(forecast.decision_id).status == "verifying"  # type: ignore[union-attr]
        else:
            run(loop, clock, "00:24")
            assert not decisions.answer(forecast.id, "approved", "alice")
            assert ledger.get_decision(forecast.decision_id).status == "superseded"  # type: ignore[union-attr]
        answered = ledger.question(forecast.id)
        assert answered is not None
        assert answered.status == ("approved" if first == "person" else "superseded")
    finally:
        ledger.close()


def test_an_hpa_whose_own_minimum_is_above_zero_is_never_touched_at_zero() -> None:
    """An HPA that does not scale to zero (its own minReplicas 1, kept in the ledger),
    under the floor Autonomic wrote, with its workload at 0 (a person scaled it there, a
    change managedFields do not date): the HPA is switched off on purpose, so nothing is
    decided or written, whatever the ledger says Autonomic wrote."""
    loop, clock = stuck_at_zero()
    guards = cast(Any, loop.decisions).ledger.guards
    guards[f"scaling/configured-min/{HPA}"] = ({"min_replicas": 1, "uid": "u1"}, 1)
    assert run(loop, clock, "01:10") == []
    assert proposals(loop) == []
    held = loop.report()["held"]["Deployment/shop/web"]
    assert held["reason"] == "ScaledToZero" and "does not scale to zero" in held["why"]


def test_the_zero_given_back_is_judged_as_the_owners_minimum_not_a_forecast_step() -> None:
    """The 0 given back gets no verdict, and its verification says what it was: the
    owner's minimum back, not a step down the forecast did not choose. Before, explain
    read "a step down 20 -> 0 while the forecast was not used (short of ready pods in 5
    of 5 cycles)", as if a fallback had left the workload short."""
    loop, clock = stuck_at_zero()
    assert run(loop, clock, "00:10") == [("23:59", 0)]
    ((outcome, why),) = judged(loop).values()
    assert outcome == "reactive"
    assert "step down" not in why and "short of ready pods" not in why
    assert why == (
        "the HPA's own minimum of 0 given back (ScaledToZero): minReplicas 20, a floor "
        "Autonomic wrote, had switched the HPA off with the workload at 0; not a step the "
        "forecast chose: no verdict on the forecast"
    )


@pytest.mark.parametrize("status", ["asked", "approved", "executing", "verifying"])
def test_the_zero_waits_for_a_runbook_that_writes_the_same_floor(status: str) -> None:
    """A remediation runbook's decision to set the same minReplicas (20 -> 30, planned
    from the 20) is open: its write is compare-and-set against the 20, so the 0 given
    back under it would get it refused, as the normal path's lowering would. Held
    (RemediationPending) and nothing decided while it is open; given back after."""
    from tests.unit.scaling.test_scaling_remediation_hold import hpa_floor, runbook_decision

    loop, clock = stuck_at_zero()
    surge = runbook_decision(loop, status, hpa_floor(30, 20, HPA))
    assert run(loop, clock, "00:05") == []
    assert proposals(loop) == []
    report = loop.report()["held"]["Deployment/shop/web"]
    assert report["reason"] == "RemediationPending" and surge.id in report["why"]
    surge.status = "done"
    assert run(loop, clock, "00:06") == [("00:06", 0)]
