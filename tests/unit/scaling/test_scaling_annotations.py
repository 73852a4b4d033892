"""The scaling loop's per-workload annotations: checked, never guessed; a history cut
keeps old traffic out of the fit; a floor's floor."""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pytest

from agent.clock import FakeClock
from agent.errors import TransientError
from agent.loops.scaling import (
    CAPACITY,
    HISTORY_SINCE,
    MAX_REPLICAS,
    MIN_REPLICAS,
    PREDICTIVE,
    RECENT,
    RECOMMENDATION,
    RECOMMENDED,
    STARTUP,
    STEP,
    WorkloadKnobs,
    read_knobs,
)
from agent.observability import Metrics
from remediation.ports import HpaState, ObjectRef
from tests.harness.ledger_faults import GoneAfterClosing
from tests.unit.scaling.fakes import WeekReader, loop_over, week_and_a_day, workload

BASE = {CAPACITY: "20"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def test_valid_annotations_are_read() -> None:
    knobs = read_knobs(
        {**BASE, STARTUP: "90", MIN_REPLICAS: "4", HISTORY_SINCE: "2026-11-01T08:00:00Z"}
    )
    assert knobs == WorkloadKnobs(20.0, 90.0, 4, datetime(2026, 11, 1, 8, tzinfo=UTC).timestamp())
    # No start-up annotation: measured from the pods; no floor, no cut.
    assert read_knobs(BASE) == WorkloadKnobs(20.0)
    # No capacity annotation: learned from the HPA (the loop holds one without an HPA).
    assert read_knobs({}) == WorkloadKnobs(None)
    capped = read_knobs({**BASE, MAX_REPLICAS: "12"})
    assert isinstance(capped, WorkloadKnobs) and capped.max_replicas == 12
    offset = read_knobs({**BASE, HISTORY_SINCE: "2026-11-01T10:00:00+02:00"})
    assert isinstance(offset, WorkloadKnobs)
    assert offset.history_since == datetime(2026, 11, 1, 8, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("annotations", "named", "says"),
    [
        ({CAPACITY: "lots"}, CAPACITY, "not a positive number"),
        ({CAPACITY: "-5"}, CAPACITY, "not a positive number"),
        ({CAPACITY: "nan"}, CAPACITY, "not a positive number"),
        ({**BASE, STARTUP: "2m"}, STARTUP, "number of seconds from 0 to 3600"),
        ({**BASE, STARTUP: "86400"}, STARTUP, "number of seconds from 0 to 3600"),
        ({**BASE, MIN_REPLICAS: "2.5"}, MIN_REPLICAS, "whole number of at least 1"),
        ({**BASE, MIN_REPLICAS: "0"}, MIN_REPLICAS, "whole number of at least 1"),
        ({**BASE, MAX_REPLICAS: "ten"}, MAX_REPLICAS, "whole number of at least 1"),
        ({**BASE, MIN_REPLICAS: "4", MAX_REPLICAS: "3"}, MAX_REPLICAS, "is below"),
        ({**BASE, HISTORY_SINCE: "last tuesday"}, HISTORY_SINCE, "ISO 8601 time with a time zone"),
        ({**BASE, HISTORY_SINCE: "2026-11-01T08:00:00"}, HISTORY_SINCE, "with a time zone"),
    ],
)
def test_a_bad_annotation_is_named_not_guessed(
    annotations: dict[str, str], named: str, says: str
) -> None:
    why = read_knobs(annotations)
    assert isinstance(why, str)
    assert named in why and says in why and why.endswith("staying reactive")


def test_a_bad_annotation_holds_the_workload_reads_nothing_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t, values = week_and_a_day(5)
    reader, clock = WeekReader(t, values), FakeClock(float(t[-60]))
    web = workload("web", **{STARTUP: "two minutes"})
    loop = loop_over(reader, clock, [web])
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        for _ in range(3):
            loop.cycle()
            clock.advance(STEP)
    assert reader.reads == []
    assert STARTUP in loop.status.held[str(web.ref)]
    assert sum(STARTUP in r.getMessage() for r in caplog.records) == 1


def test_history_since_keeps_older_load_out_of_the_fit_and_stays_reactive() -> None:
    t, values = week_and_a_day(6)
    values[-60] = 50.0  # the current minute is known (a gap would mean "hold")
    now = float(t[-60])
    cut = now - 86_400.0  # traffic changed for good a day ago
    reader, clock = WeekReader(t, values), FakeClock(now)
    web = workload("web", **{HISTORY_SINCE: iso(cut)})
    loop = loop_over(reader, clock, [web])
    loop.cycle()
    assert reader.reads[0] == (cut, now)
    model = loop.models[web.ref]
    assert model.fitted is not None
    assert model.fitted.fallback_reason is not None
    assert model.fitted.fallback_reason.startswith("TooLittleHistory")
    assert model.previous is not None and model.previous.mode == "reactive"


def test_a_cut_in_the_future_still_reads_the_newest_minutes() -> None:
    t, values = week_and_a_day(7)
    now = float(t[-60])
    reader, clock = WeekReader(t, values), FakeClock(now)
    web = workload("web", **{HISTORY_SINCE: iso(now + 3600)})
    loop = loop_over(reader, clock, [web])
    loop.cycle()
    assert reader.reads[0] == (now - STEP * (RECENT - 1), now)


def test_changing_the_cut_refits_at_once() -> None:
    t, values = week_and_a_day(8)
    now = float(t[-120])
    reader, clock = WeekReader(t, values), FakeClock(now)
    web = workload("web")
    loop = loop_over(reader, clock, [web], refitEvery="6h")
    loop.cycle()
    clock.advance(STEP)
    loop.cycle()
    assert loop.models[web.ref].version == 1
    assert reader.reads[-1] == (clock.now(), clock.now())  # between refits: the new minute
    cut = clock.now() - 3 * 86_400.0
    cast(Any, loop.cluster).workloads = [workload("web", **{HISTORY_SINCE: iso(cut)})]
    clock.advance(STEP)
    loop.cycle()
    assert loop.models[web.ref].version == 2  # refitted on the next cycle, not in 6 h
    assert reader.reads[-1] == (cut, clock.now())
    assert loop.models[web.ref].fitted is not None
    assert loop.models[web.ref].fitted.fallback_reason is None  # three days are enough


@pytest.mark.parametrize("failure", ["the read fails", "the read is stale"])
def test_a_cut_whose_refit_could_not_read_is_refitted_at_the_next_cycle(failure: str) -> None:
    """The cycle after the cut is set, Prometheus fails the refit's read (or answers with
    nothing new). The model's cut was moved before the read, so the next cycles took the
    cut for done and went on with the model fitted on the days before it, until a
    scheduled refit hours later. The cut moves with the refit that reads from it."""
    t, values = week_and_a_day(8)
    now = float(t[-120])
    reader, clock = WeekReader(t, values), FakeClock(now)
    web = workload("web")
    loop = loop_over(reader, clock, [web], refitEvery="6h")
    loop.cycle()
    clock.advance(STEP)
    loop.cycle()
    assert loop.models[web.ref].version == 1
    cut = clock.now() - 3 * 86_400.0
    cast(Any, loop.cluster).workloads = [workload("web", **{HISTORY_SINCE: iso(cut)})]
    clock.advance(STEP)
    read = reader.range

    def failing(query: str, start: float, end: float, step: float, at: float) -> list[Any]:
        if failure == "the read fails":
            raise TransientError("prometheus: connection refused")
        found = read(query, start, end - 30 * STEP, step, at)  # its newest: half an hour old
        return [dataclasses.replace(found[0], stale=True)]

    reader.range = failing  # type: ignore[method-assign]
    loop.cycle()
    assert loop.models[web.ref].version == 1  # not refitted: nothing usable was read
    assert str(web.ref) in loop.status.held
    reader.range = read  # type: ignore[method-assign]
    clock.advance(STEP)
    loop.cycle()
    model = loop.models[web.ref]
    assert model.version == 2  # refitted from the cut at the next cycle, not in 6 h
    assert model.history_since == cut
    assert reader.reads[-1] == (cut, clock.now())


def test_min_replicas_is_the_floors_floor() -> None:
    t, values = week_and_a_day(9)
    now = float(t[-60])
    # 50 req/s at 1,000 per pod needs one pod; the annotation asks for at least seven
    web = workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "7"})
    reader, clock = WeekReader(t, values), FakeClock(now)
    loop = loop_over(reader, clock, [web])
    loop.cycle()
    proposals = cast(Any, loop.decisions).proposals
    assert len(proposals) == 1
    assert proposals[0].proposal["from"] == 3 and proposals[0].proposal["to"] == 7


# ------------------------------------------------ asking, acting, publishing


def steady(seed: int) -> tuple[Any, Any]:
    """A week of load whose last hour is a steady 50 (one pod's worth at 1,000 a pod)."""
    t, values = week_and_a_day(seed)
    values[-90:] = 50.0
    return t, values


def floor_of_seven(**extra: str) -> Any:
    return workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "7", **extra})


def run(loop: Any, clock: FakeClock, cycles: int) -> None:
    for _ in range(cycles):
        loop.cycle()
        clock.advance(STEP)


def test_one_question_per_change_not_one_a_minute() -> None:
    t, values = steady(10)
    clock = FakeClock(float(t[-80]))
    loop = loop_over(WeekReader(t, values), clock, [floor_of_seven()])
    run(loop, clock, 10)
    decisions = cast(Any, loop.decisions)
    assert len(decisions.proposals) == 1  # asked once; the question stays open
    assert cast(Any, loop.executor).applied == []


def test_an_approved_question_is_carried_out_once() -> None:
    t, values = steady(11)
    clock = FakeClock(float(t[-80]))
    web = floor_of_seven()
    loop = loop_over(WeekReader(t, values), clock, [web])
    run(loop, clock, 2)
    decisions = cast(Any, loop.decisions)
    decisions.ledger.records["d-1"].status = "approved"  # the on-call said yes
    run(loop, clock, 1)  # carried out; the watch shows it a cycle later
    cast(Any, loop.cluster).workloads = [dataclasses.replace(web, replicas=7)]
    run(loop, clock, 5)
    (operation,) = cast(Any, loop.executor).applied
    assert (operation.op, operation.target, operation.replicas) == ("scale", web.ref, 7)
    assert decisions.ledger.transitions == [("d-1", "verifying")]
    assert len(decisions.proposals) == 1
    # the person who said yes is told, in the question's thread, what was done
    [(decision_id, text, final)] = decisions.progressed
    assert decision_id == "d-1" and text.startswith("applied: replicas") and not final


@pytest.mark.parametrize("answer", ["rejected", "expired"])
def test_a_no_is_respected(answer: str) -> None:
    t, values = steady(12)
    clock = FakeClock(float(t[-85]))
    loop = loop_over(WeekReader(t, values), clock, [floor_of_seven()])
    run(loop, clock, 2)
    decisions = cast(Any, loop.decisions)
    decisions.ledger.records["d-1"].status = answer
    run(loop, clock, 80)  # beyond the quiet hour: the same floor is still not asked again
    assert len(decisions.proposals) == 1
    assert cast(Any, loop.executor).applied == []


def test_forecast_only_publishes_and_never_writes() -> None:
    t, values = steady(13)
    clock = FakeClock(float(t[-80]))
    web = floor_of_seven(**{"autonomic.dev/predictive": "forecast-only"})
    metrics = Metrics()
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto", metrics=metrics)
    run(loop, clock, 10)
    decisions, executor = cast(Any, loop.decisions), cast(Any, loop.executor)
    (proposal,) = decisions.proposals
    assert proposal.shadow and proposal.proposal["to"] == 7
    # routed as publish-only: nothing to approve, and the route's reason says so (it
    # used to be a "shadow runbook")
    code, who = proposal.shadowed_by
    assert code == "PublishOnly"
    assert who == (
        "published only (autonomic.dev/predictive: forecast-only), nothing to approve or write"
    )
    assert executor.applied == []
    ((target, annotations),) = executor.reports
    assert target == web.ref and annotations[RECOMMENDED] == "7"
    said = annotations[RECOMMENDATION]
    assert said.startswith(
        "replicas 7 recommended (up from 3), published only "
        "(autonomic.dev/predictive: forecast-only), not written: "
    )
    assert "decision d-1 (published only)" in said
    # each sentence ends with a full stop (the message ran into "Model ..." before)
    assert "[7, 1000]. Model seasonal-profile/" in said and said.endswith("Z.")
    labels = {"workload": str(web.ref)}
    assert (
        metrics.registry.get_sample_value("autonomic_scaling_recommended_replicas", labels) == 7.0
    )


def test_the_recommendation_annotation_is_sentences_each_with_a_full_stop() -> None:
    t, values = steady(14)
    clock = FakeClock(float(t[-80]))
    loop = loop_over(WeekReader(t, values), clock, [floor_of_seven()], route="auto")
    run(loop, clock, 1)
    ((_, annotations),) = cast(Any, loop.executor).reports
    said = annotations[RECOMMENDATION]
    # the forecast allows 1; the 3 replicas come down one a minute: 2, clamped to 7
    assert said.startswith("replicas 7 (up from 3): 2 pods clamped to the allowed range")
    assert "[7, 1000]. Model seasonal-profile/1 fitted " in said
    assert "decision d-1 (auto)" in said and said.endswith("Z.")


def test_observe_mode_records_once_and_writes_nothing() -> None:
    t, values = steady(14)
    clock = FakeClock(float(t[-80]))
    loop = loop_over(WeekReader(t, values), clock, [floor_of_seven()], route="observe")
    run(loop, clock, 10)
    assert len(cast(Any, loop.decisions).proposals) == 1
    assert cast(Any, loop.executor).reports == [] and cast(Any, loop.executor).applied == []


def test_gauges_follow_the_workloads_and_leave_with_them() -> None:
    t, values = steady(15)
    clock = FakeClock(float(t[-80]))
    metrics = Metrics()
    web = floor_of_seven()
    loop = loop_over(WeekReader(t, values), clock, [web], metrics=metrics)
    run(loop, clock, 1)
    labels = {"workload": str(web.ref)}
    model = loop.models[web.ref]
    assert model.previous is not None
    predictive = 1.0 if model.previous.mode == "predictive" else 0.0
    assert metrics.registry.get_sample_value("autonomic_scaling_predictive", labels) == predictive
    assert metrics.registry.get_sample_value("autonomic_scaling_recommended_replicas", labels) == 7
    # what sized it: the annotated capacity, and the default start-up (no pod measured)
    assert metrics.registry.get_sample_value("autonomic_scaling_capacity_per_pod", labels) == 1000
    assert metrics.registry.get_sample_value("autonomic_scaling_startup_seconds", labels) == 60
    cast(Any, loop.cluster).workloads = []  # opted out
    run(loop, clock, 1)
    for name in (
        "autonomic_scaling_recommended_replicas",
        "autonomic_scaling_capacity_per_pod",
        "autonomic_scaling_startup_seconds",
    ):
        assert metrics.registry.get_sample_value(name, labels) is None


def test_a_held_workload_is_a_gauge_with_its_reason_until_the_hold_ends() -> None:
    """A held workload was visible only in the log and ``status.held``: nothing in
    Prometheus told a held workload from one whose floor had nothing to change."""
    t, values = steady(16)
    clock = FakeClock(float(t[-80]))
    metrics = Metrics()
    web = floor_of_seven(**{STARTUP: "2m"})  # malformed: held
    loop = loop_over(WeekReader(t, values), clock, [web], metrics=metrics)

    def held() -> dict[tuple[str, str], float]:
        return {
            (sample.labels["workload"], sample.labels["reason"]): sample.value
            for family in metrics.registry.collect()
            if family.name == "autonomic_scaling_held"
            for sample in family.samples
        }

    run(loop, clock, 2)
    assert held() == {(str(web.ref), "BadAnnotation"): 1.0}
    cast(Any, loop.cluster).workloads = [floor_of_seven()]  # fixed
    run(loop, clock, 1)
    assert held() == {}
    paused = loop_over(
        WeekReader(t, values), clock, [web], metrics=metrics, paused=lambda: "safety.paused"
    )
    cast(Any, paused.cluster).workloads = [floor_of_seven()]
    run(paused, clock, 1)
    assert held() == {(str(web.ref), "Paused"): 1.0}
    cast(Any, paused.cluster).workloads = [dataclasses.replace(web, labels={})]  # opted out
    run(paused, clock, 1)
    assert held() == {} and str(web.ref) not in paused.status.held


@pytest.mark.parametrize(
    "extra",
    [{STARTUP: "2m"}, {PREDICTIVE: "maybe"}],  # held in its turn, and before it
)
def test_a_deleted_workloads_hold_leaves_the_metrics_at_once(extra: dict[str, str]) -> None:
    """A held workload whose Deployment was deleted stayed ``autonomic_scaling_held``
    until the loop forgot it (``FORGET_AFTER``, 6 h), while its floor gauges left at the
    first cycle that did not list it: a dashboard showed a workload that was gone. The
    hold itself is kept (a listing may miss a workload for a while) and comes back to
    the metrics with the workload."""
    t, values = steady(18)
    clock = FakeClock(float(t[-80]))
    metrics = Metrics()
    web = floor_of_seven(**extra)
    reason = "BadAnnotation"
    loop = loop_over(WeekReader(t, values), clock, [web], metrics=metrics)
    labels = {"workload": str(web.ref), "reason": reason}
    run(loop, clock, 2)
    assert metrics.registry.get_sample_value("autonomic_scaling_held", labels) == 1.0
    cast(Any, loop.cluster).workloads = []  # deleted
    run(loop, clock, 1)
    assert metrics.registry.get_sample_value("autonomic_scaling_held", labels) is None
    assert loop.status.held_reason[str(web.ref)] == reason  # kept until forgotten
    cast(Any, loop.cluster).workloads = [web]  # listed again, still held
    run(loop, clock, 1)
    assert metrics.registry.get_sample_value("autonomic_scaling_held", labels) == 1.0


def test_a_pause_stops_decisions_and_writes_but_not_the_forecast() -> None:
    t, values = steady(16)
    clock = FakeClock(float(t[-80]))
    metrics = Metrics()
    web = floor_of_seven()
    loop = loop_over(
        WeekReader(t, values),
        clock,
        [web],
        route="auto",
        metrics=metrics,
        paused=lambda: "safety.paused is set in the configuration",
    )
    run(loop, clock, 5)
    assert cast(Any, loop.decisions).proposals == []
    assert cast(Any, loop.executor).applied == [] and cast(Any, loop.executor).reports == []
    assert "paused" in loop.status.held[str(web.ref)]
    labels = {"workload": str(web.ref)}
    assert metrics.registry.get_sample_value("autonomic_scaling_recommended_replicas", labels) == 7


def test_an_unknown_predictive_value_is_named() -> None:
    t, values = steady(17)
    clock = FakeClock(float(t[-80]))
    web = floor_of_seven(**{"autonomic.dev/predictive": "yes"})
    loop = loop_over(WeekReader(t, values), clock, [web])
    run(loop, clock, 1)
    assert "'yes' is not 'true', 'forecast-only' or 'false'" in loop.status.held[str(web.ref)]
    assert cast(Any, loop.decisions).proposals == []


@pytest.mark.parametrize(("quantile", "level"), [(0.9, 80), (0.95, 90), (0.975, 95), (0.8, 60)])
def test_the_quantile_picks_the_interval_that_sizes_the_floor(quantile: float, level: int) -> None:
    t, values = steady(18)
    loop = loop_over(WeekReader(t, values), FakeClock(float(t[-80])), [], quantile=quantile)
    assert loop.level == level and level in loop.levels and 95 in loop.levels


def test_the_owners_minimum_survives_a_restart() -> None:
    """The first loop finds the HPA at 2 and keeps that in the ledger; after a restart
    the HPA shows 7 (a floor Autonomic raised), and the floor may still return to 2."""
    t, values = steady(19)
    clock = FakeClock(float(t[-80]))
    web = workload("web", **{CAPACITY: "1000"})
    hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
    first = loop_over(WeekReader(t, values), clock, [web])
    cast(Any, first.cluster).hpas[web.ref] = HpaState(hpa_ref, web.ref, 2, 20, 3, 3)
    run(first, clock, 1)
    assert first.models[web.ref].hpa_min_configured == 2
    restarted = loop_over(WeekReader(t, values), clock, [web])
    cast(Any, restarted).decisions.ledger = cast(Any, first).decisions.ledger  # same ledger
    cast(Any, restarted.cluster).hpas[web.ref] = HpaState(hpa_ref, web.ref, 7, 20, 7, 7)
    run(restarted, clock, 1)
    assert restarted.models[web.ref].hpa_min_configured == 2


def test_an_hpa_that_scales_to_zero_gets_its_zero_back() -> None:
    """An HPA with ``minReplicas: 0`` (scale to zero on an External metric) used to be
    left at 1 for good once a floor was raised: the owner's 0 read as "none" and the
    floor's floor became 1."""
    t, values = steady(20)
    values = values.copy()
    values[-75:] = 0.0  # the traffic stops a few minutes in
    clock = FakeClock(float(t[-80]))
    web = workload("web")
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    cluster = cast(Any, loop.cluster)
    hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
    cluster.hpas[web.ref] = HpaState(hpa_ref, web.ref, 0, 20, 3, 3)
    applied = cast(Any, loop.executor).applied
    for _ in range(40):
        run(loop, clock, 1)
        if applied:  # the write lands
            hpa = cluster.hpas[web.ref]
            cluster.hpas[web.ref] = dataclasses.replace(hpa, min_replicas=applied[-1].min_replicas)
    assert loop.models[web.ref].hpa_min_configured == 0
    assert applied[0].min_replicas > 0  # raised for the load of the first minutes
    assert applied[-1].min_replicas == 0  # and back to the owner's 0 once it is gone


def test_a_workload_scaled_to_zero_is_left_at_zero() -> None:
    """A Deployment a person (or a rollout controller) scaled to 0 used to be scaled
    back up at the next cycle. The HPA treats a target at 0 with a minReplicas above 0
    as "autoscaling off"; so does the loop. An HPA that scales to zero is in charge, and
    is not switched off by a floor above 0 while the workload is at 0."""
    t, values = steady(21)
    clock = FakeClock(float(t[-80]))
    off = dataclasses.replace(workload("off"), replicas=0, ready_replicas=0)
    hpa_off = dataclasses.replace(workload("hpa-off"), replicas=0, ready_replicas=0)
    wake = dataclasses.replace(workload("wake"), replicas=0, ready_replicas=0)
    loop = loop_over(WeekReader(t, values), clock, [off, hpa_off, wake], route="auto")
    hpas = cast(Any, loop.cluster).hpas
    for name, minimum in (("hpa-off", 2), ("wake", 0)):
        ref = ObjectRef("Deployment", name, "shop")
        hpas[ref] = HpaState(
            ObjectRef("HorizontalPodAutoscaler", name, "shop"), ref, minimum, 9, 0, 0
        )
    run(loop, clock, 3)
    assert (
        "Deployment/shop/off is scaled to zero (spec.replicas 0): autoscaling is off"
        in (loop.status.held[str(off.ref)])
    )
    assert (
        "HorizontalPodAutoscaler/shop/hpa-off does not scale to zero"
        in (loop.status.held[str(hpa_off.ref)])
    )
    # Its HPA scales it from zero on its own metric. A floor raised above 0 now would not
    # wake it: the HPA controller leaves a target at 0 alone while its minReplicas is
    # above 0 (ScalingDisabled). This test had the loop write one, which switched the HPA
    # off; nothing is written until the HPA has scaled it up.
    assert cast(Any, loop.executor).applied == []
    assert loop.status.held_reason["Deployment/shop/wake"] == "ScaledToZero"
    assert "ScalingDisabled" in loop.status.held["Deployment/shop/wake"]


def test_an_approval_landing_after_the_hpa_scaled_to_zero_writes_no_floor() -> None:
    """A floor of 7 is asked about while web runs; its HPA (``minReplicas: 0``) then scales
    it to 0, and only then does the on-call say yes. The approval used to be carried out
    as it was: minReplicas 7 over a target at 0 switched the HPA off (ScalingDisabled),
    woke nothing, and the next cycle gave the 0 back (``_zero_back``). Re-checked when it
    is carried out, the floor is not written: the decision is closed as superseded with
    why, in the ledger and its thread, and the floor is decided afresh once the HPA has
    woken web."""
    t, values = steady(24)
    clock = FakeClock(float(t[-80]))
    web = floor_of_seven()
    loop = loop_over(WeekReader(t, values), clock, [web])
    cluster = cast(Any, loop.cluster)
    hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
    cluster.hpas[web.ref] = HpaState(hpa_ref, web.ref, 0, 20, 3, 3)
    run(loop, clock, 2)
    decisions = cast(Any, loop.decisions)
    record = decisions.ledger.records["d-1"]
    assert record.status == "asked" and (record.proposal["from"], record.proposal["to"]) == (0, 7)
    cluster.workloads = [dataclasses.replace(web, replicas=0, ready_replicas=0)]
    cluster.hpas[web.ref] = HpaState(hpa_ref, web.ref, 0, 20, 0, 0)
    record.status = "approved"  # the on-call says yes after the HPA scaled web to 0
    run(loop, clock, 3)
    assert cast(Any, loop.executor).applied == []  # no minReplicas 7 over a target at 0
    assert record.status == "superseded"
    assert ("d-1", "execution", "superseded") in decisions.ledger.feedback
    detail = record.feedback_detail
    assert detail["reason"] == "ScaledToZero"
    assert detail["why"].startswith("not carried out (ScaledToZero): ")
    assert "ScalingDisabled" in detail["why"] and "nothing was written" in detail["why"]
    [(said_on, text, final)] = decisions.progressed
    assert (said_on, text, final) == ("d-1", detail["why"], True)
    assert loop.status.held_reason[str(web.ref)] == "ScaledToZero"
    assert len(decisions.proposals) == 1  # not asked again while web is at 0
    cluster.workloads = [web]  # the HPA wakes web on its own metric
    cluster.hpas[web.ref] = HpaState(hpa_ref, web.ref, 0, 20, 3, 3)
    run(loop, clock, 2)
    assert len(decisions.proposals) == 2  # the floor decided afresh, from the 0
    assert decisions.ledger.records["d-2"].proposal["from"] == 0


def test_an_approval_is_carried_out_when_the_hpa_read_fresh_has_woken_the_workload() -> None:
    """The cycle's listing still shows web at 0, but its HPA, read afresh when the
    approval is carried out, has woken it to 2 since. The check used the listing alone:
    the approval was closed as superseded (ScaledToZero) and the question asked again.
    The freshest evidence (the HPA read in ``_apply``) says web runs: the floor is
    written."""
    t, values = steady(24)
    clock = FakeClock(float(t[-80]))
    web = floor_of_seven()
    loop = loop_over(WeekReader(t, values), clock, [web])
    cluster = cast(Any, loop.cluster)
    hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
    cluster.hpas[web.ref] = HpaState(hpa_ref, web.ref, 0, 20, 3, 3)
    run(loop, clock, 2)
    decisions = cast(Any, loop.decisions)
    record = decisions.ledger.records["d-1"]
    assert record.status == "asked" and record.proposal["to"] == 7
    # Listed at 0 (the listing is older than the HPA read), the HPA woke it to 2 since.
    cluster.workloads = [dataclasses.replace(web, replicas=0, ready_replicas=0)]
    cluster.hpas[web.ref] = HpaState(hpa_ref, web.ref, 0, 20, 2, 2)
    record.status = "approved"
    run(loop, clock, 1)
    applied = cast(Any, loop.executor).applied
    assert [(op.target, op.min_replicas) for op in applied] == [(hpa_ref, 7)]
    assert record.status == "verifying"
    assert ("d-1", "execution", "superseded") not in decisions.ledger.feedback
    assert len(decisions.proposals) == 1  # not asked again
    assert cluster.workload_reads == 0  # the HPA said it: no read of the workload more


@pytest.mark.parametrize(("listed", "fresh", "written"), [(0, 2, True), (2, 0, False)])
def test_an_approval_under_a_scale_to_zero_hpa_goes_by_the_workload_read_afresh(
    listed: int, fresh: int, written: bool
) -> None:
    """The HPA's status shows 0 (current and desired): whether the workload is at 0 is
    read again when the approval is carried out (the watch cache), not taken from the
    cycle's listing, which may be older. Listed at 0 but woken since: the floor is
    written (it was closed as superseded). Listed running but scaled to 0 since: not
    written (minReplicas 7 over a target at 0 switched the HPA off)."""
    t, values = steady(24)
    clock = FakeClock(float(t[-80]))
    web = floor_of_seven()
    loop = loop_over(WeekReader(t, values), clock, [web])
    cluster = cast(Any, loop.cluster)
    hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
    cluster.hpas[web.ref] = HpaState(hpa_ref, web.ref, 0, 20, 3, 3)
    run(loop, clock, 2)
    decisions = cast(Any, loop.decisions)
    record = decisions.ledger.records["d-1"]
    assert record.status == "asked" and record.proposal["to"] == 7
    cluster.workloads = [dataclasses.replace(web, replicas=listed, ready_replicas=listed)]
    cluster.hpas[web.ref] = HpaState(hpa_ref, web.ref, 0, 20, 0, 0)
    cluster.fresh[web.ref] = dataclasses.replace(web, replicas=fresh, ready_replicas=fresh)
    record.status = "approved"
    run(loop, clock, 1)
    applied = cast(Any, loop.executor).applied
    if written:
        assert [(op.target, op.min_replicas) for op in applied] == [(hpa_ref, 7)]
        assert record.status == "verifying"
    else:
        assert applied == []
        assert record.status == "superseded"
        assert record.feedback_detail["reason"] == "ScaledToZero"
    assert cluster.workload_reads >= 1


def test_an_approval_just_after_the_hpa_scaled_to_zero_writes_no_floor() -> None:
    """The HPA has just scaled web from 3 to 0: its status says desired 0 but still
    current 3 (the count it read before that scale; the next sync, 15 s on, writes 0),
    and the cycle's listing, older, shows web at 3. The check took the current 3 as the
    workload woken: the floor of 7 was written over a target at 0, which switches the
    HPA off (nothing wakes web until the loop gives the 0 back). The workload read
    afresh says 0: not written, closed as superseded."""
    t, values = steady(24)
    clock = FakeClock(float(t[-80]))
    web = floor_of_seven()
    loop = loop_over(WeekReader(t, values), clock, [web])
    cluster = cast(Any, loop.cluster)
    hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
    cluster.hpas[web.ref] = HpaState(hpa_ref, web.ref, 0, 20, 3, 3)
    run(loop, clock, 2)
    decisions = cast(Any, loop.decisions)
    record = decisions.ledger.records["d-1"]
    assert record.status == "asked" and record.proposal["to"] == 7
    cluster.workloads = [dataclasses.replace(web, replicas=3, ready_replicas=3)]
    cluster.hpas[web.ref] = HpaState(hpa_ref, web.ref, 0, 20, 3, 0)  # current 3, desired 0
    cluster.fresh[web.ref] = dataclasses.replace(web, replicas=0, ready_replicas=3)
    record.status = "approved"
    run(loop, clock, 1)
    assert cast(Any, loop.executor).applied == []
    assert record.status == "superseded"
    assert record.feedback_detail["reason"] == "ScaledToZero"
    assert cluster.workload_reads >= 1


def test_an_approval_not_carried_out_at_zero_is_not_said_over_as_no_longer_held(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The approval landing after the HPA scaled web to 0 was held with the warning a
    hold on the load says; the next cycle, web still at 0 and held as scaled to zero as
    ever, the log said "no longer held: deciding from the load again". Held as the loop
    holds any floor wanted at 0: its one line says what became of the approval."""
    t, values = steady(24)
    clock = FakeClock(float(t[-80]))
    web = floor_of_seven()
    loop = loop_over(WeekReader(t, values), clock, [web])
    cluster = cast(Any, loop.cluster)
    hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
    cluster.hpas[web.ref] = HpaState(hpa_ref, web.ref, 0, 20, 3, 3)
    run(loop, clock, 2)
    record = cast(Any, loop.decisions).ledger.records["d-1"]
    cluster.workloads = [dataclasses.replace(web, replicas=0, ready_replicas=0)]
    cluster.hpas[web.ref] = HpaState(hpa_ref, web.ref, 0, 20, 0, 0)
    record.status = "approved"
    with caplog.at_level(logging.INFO, logger="autonomic.scaling"):
        run(loop, clock, 4)
    said = [r.getMessage() for r in caplog.records]
    assert record.status == "superseded"
    assert [m for m in said if "not carried out (ScaledToZero)" in m] == [
        f"scaling {web.ref}: approved floor {record.feedback_detail['why']}"
    ]
    assert not [m for m in said if "held" in m]
    assert loop.status.held_reason[str(web.ref)] == "ScaledToZero"


def test_an_approval_not_carried_out_at_zero_keeps_its_why_though_the_ledger_fails_midway(
    tmp_path: Any,
) -> None:
    """The approval lands after the HPA scaled web to 0, and the ledger goes away right
    after the decision is closed ``superseded``. The closing and its ``execution`` row,
    with why, were two transactions: the decision stayed closed with no why for
    ``autonomic explain``, and nothing came back to it (its question no longer pending).
    They are one transaction now."""
    from agent.ledger import open_ledger
    from agent.routing import Thresholds
    from agent.settings import RoutingSettings
    from tests.unit.decision_rig import inline_service

    t, values = steady(24)
    clock = FakeClock(float(t[-80]))
    web = floor_of_seven()
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    try:
        loop = loop_over(WeekReader(t, values), clock, [web])
        # Asked, never automatic: the approval comes after the HPA scaled web to 0.
        loop.decisions = inline_service(ledger, clock, RoutingSettings())
        loop.thresholds = Thresholds(auto=1.0, ask=0.0)
        cluster = cast(Any, loop.cluster)
        hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
        cluster.hpas[web.ref] = HpaState(hpa_ref, web.ref, 0, 20, 3, 3)
        run(loop, clock, 2)
        (floor,) = ledger.decisions(kind="scaling")
        assert floor.status == "asked" and floor.proposal["to"] == 7
        cluster.workloads = [dataclasses.replace(web, replicas=0, ready_replicas=0)]
        cluster.hpas[web.ref] = HpaState(hpa_ref, web.ref, 0, 20, 0, 0)
        assert ledger.transition(floor.id, ["asked"], "approved", clock.now())
        gone = GoneAfterClosing(ledger, "superseded")
        run(loop, clock, 1)
        assert gone.happened  # closed, and the ledger went away after it
        gone.back()
        run(loop, clock, 3)
        record = ledger.get_decision(floor.id)
        assert record is not None and record.status == "superseded"
        rows = [r for r in ledger.feedback_for(floor.id) if r["kind"] == "execution"]
        assert [r["outcome"] for r in rows] == ["superseded"]
        assert rows[0]["detail"]["reason"] == "ScaledToZero"
        assert rows[0]["detail"]["why"].startswith("not carried out (ScaledToZero): ")
    finally:
        ledger.close()


def test_an_hpa_another_controller_manages_gets_the_floor_published_not_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """KEDA's ScaledObject owns the HPA it made and puts its own minReplicas back at once:
    the loop used to raise it, see it back at 1, and raise it again, a decision and a
    write every few minutes. Now the floor is published, as with forecast-only, and the
    status and one log line say why."""
    t, values = steady(22)
    clock = FakeClock(float(t[-80]))
    web = workload("web")
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    hpa_ref = ObjectRef("HorizontalPodAutoscaler", "keda-hpa-web", "shop")
    cast(Any, loop.cluster).hpas[web.ref] = HpaState(
        hpa_ref, web.ref, 1, 20, 3, 3, controller="ScaledObject/web"
    )
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        run(loop, clock, 6)
    assert cast(Any, loop.executor).applied == []  # never written
    (proposal,) = cast(Any, loop.decisions).proposals  # one recommendation, not a fight
    assert proposal.shadow and proposal.proposal["from"] == 1 and proposal.proposal["to"] > 1
    (target, published), *_ = cast(Any, loop.executor).reports
    assert target == web.ref and published[RECOMMENDED] == str(proposal.proposal["to"])
    why = loop.status.managed[str(web.ref)]
    assert f"{hpa_ref} is managed by ScaledObject/web" in why and "minReplicaCount" in why
    assert sum("is managed by ScaledObject/web" in r.getMessage() for r in caplog.records) == 1
    assert str(web.ref) not in loop.status.held


def test_a_recreated_hpa_is_read_afresh_not_held_to_the_old_ones_minimum() -> None:
    """The owner deletes the HPA (floor raised to 7, its own minimum 2) and creates it
    again with minReplicas 6. The loop used to keep 2 as the owner's minimum, in memory
    and in the ledger, and brought the new HPA down to 2 once the load was gone."""
    t, values = steady(23)
    values = values.copy()
    values[-70:] = 0.0  # the load goes a few minutes in
    clock = FakeClock(float(t[-80]))
    web = workload("web", **{CAPACITY: "10"})
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    cluster = cast(Any, loop.cluster)
    hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
    cluster.hpas[web.ref] = HpaState(hpa_ref, web.ref, 2, 20, 3, 3, uid="first")
    run(loop, clock, 1)
    assert loop.models[web.ref].hpa_min_configured == 2
    cluster.hpas[web.ref] = HpaState(hpa_ref, web.ref, 6, 20, 6, 6, uid="second")
    applied = cast(Any, loop.executor).applied
    for _ in range(30):
        run(loop, clock, 1)
        if applied:  # the write lands
            hpa = cluster.hpas[web.ref]
            cluster.hpas[web.ref] = dataclasses.replace(hpa, min_replicas=applied[-1].min_replicas)
    assert loop.models[web.ref].hpa_min_configured == 6
    assert cluster.hpas[web.ref].min_replicas == 6  # the new owner's minimum stands
    ledger = cast(Any, loop.decisions).ledger
    (value, _) = ledger.guard(f"scaling/configured-min/{hpa_ref}")
    assert (value["min_replicas"], value["uid"]) == (6, "second")  # for the next process


# ------------------------------------------------ glitches, scale-in, restarts


def test_a_glitch_is_not_acted_on_but_a_surge_that_holds_is() -> None:
    t, values = steady(24)
    values = values.copy()
    values[-79] = 1e12  # one absurd sample (a counter reset read as a rate, say)
    clock = FakeClock(float(t[-80]))
    web = workload("web", **{CAPACITY: "5"})
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    run(loop, clock, 3)
    executor = cast(Any, loop.executor)
    assert all(op.replicas < 1000 for op in executor.applied)  # never sized on 1e12
    assert not any("1e+12" in p.reason for p in cast(Any, loop.decisions).proposals)
    surge = values.copy()
    surge[-75:] = 5_000.0  # a hundredfold surge that lasts
    loop.reader = WeekReader(t, surge)
    run(loop, clock, 5)
    assert max(op.replicas for op in executor.applied) >= 1000 - 1  # it is acted on


def test_a_tiny_capacity_does_not_stop_the_cycle_for_every_workload() -> None:
    """``capacity-per-pod: 1e-307`` (a unit off by far) made the applied floor's check
    ``ceil(load / capacity)`` overflow from the next cycle on: an OverflowError out of
    ``cycle``, so no workload after it was ever scaled again."""
    t, values = steady(27)
    clock = FakeClock(float(t[-80]))
    tiny = workload("a-tiny", **{CAPACITY: "1e-307", MAX_REPLICAS: "9"})
    loop = loop_over(WeekReader(t, values), clock, [tiny], route="auto")
    run(loop, clock, 1)  # raised: from the next cycle on, it is being judged
    web = floor_of_seven()
    cast(Any, loop.cluster).workloads = [dataclasses.replace(tiny, replicas=9), web]
    run(loop, clock, 2)
    applied = cast(Any, loop.executor).applied
    assert [(op.target.name, op.replicas) for op in applied] == [("a-tiny", 9), ("web", 7)]
    (check,) = loop.models[tiny.ref].verifying
    assert check.cycles == 2 and check.peak_need > 10**17  # "all of them", not a crash


def test_without_an_hpa_replicas_come_down_slowly_even_when_reactive() -> None:
    t, values = steady(25)
    clock = FakeClock(float(t[-80]))
    web = dataclasses.replace(workload("web", **{CAPACITY: "5"}), replicas=40)
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    run(loop, clock, 3)
    assert cast(Any, loop.executor).applied == []  # wants fewer, but not at once
    run(loop, clock, 5)
    assert cast(Any, loop.executor).applied  # after the patience, it scales in


def test_an_open_question_survives_a_restart() -> None:
    """The old process asked; the on-call approved after it stopped. The new process
    carries the approval out instead of asking again."""
    t, values = steady(26)
    clock = FakeClock(float(t[-80]))
    web = floor_of_seven()
    first = loop_over(WeekReader(t, values), clock, [web])
    run(first, clock, 2)
    ledger = cast(Any, first.decisions).ledger
    ledger.records["d-1"].status = "approved"
    restarted = loop_over(WeekReader(t, values), clock, [web])
    decisions = cast(Any, restarted.decisions)
    decisions.ledger = ledger
    run(restarted, clock, 1)
    cast(Any, restarted.cluster).workloads = [dataclasses.replace(web, replicas=7)]  # landed
    run(restarted, clock, 3)
    (operation,) = cast(Any, restarted.executor).applied
    assert operation.replicas == 7 and ledger.transitions == [("d-1", "verifying")]
    assert decisions.proposals == []  # nothing asked again


def test_max_replicas_caps_what_the_loop_asks_for_without_an_hpa() -> None:
    """Load needing many pods (500 a minute at 10 a pod): without an HPA the loop sets
    the replicas itself, never above the annotated ceiling."""
    t, values = week_and_a_day(14)
    values = values.copy() * 10.0
    now = float(t[-60])
    web = workload("web", **{CAPACITY: "10", MAX_REPLICAS: "6"})
    loop = loop_over(WeekReader(t, values), FakeClock(now), [web], route="auto")
    loop.cycle()
    (operation,) = cast(Any, loop.executor).applied
    assert operation.replicas == 6
    model = loop.models[web.ref]
    assert model.previous is not None and model.previous.reason == "AtMaximum"


def test_a_load_it_cannot_use_holds_the_workload_and_says_why_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A negative newest sample (a broken recording rule) used to return silently every
    cycle: no status, no log line."""
    t, values = week_and_a_day(5)
    values = values.copy()
    values[-60:] = -3.0
    reader, clock = WeekReader(t, values), FakeClock(float(t[-60]))
    web = workload("web")
    loop = loop_over(reader, clock, [web])
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        for _ in range(3):
            loop.cycle()
            clock.advance(STEP)
    held = loop.status.held[str(web.ref)]
    assert "-3.0" in held and "not a usable number" in held
    assert sum("not a usable number" in r.getMessage() for r in caplog.records) == 1


def test_why_a_load_read_is_unusable_is_said_plainly() -> None:
    from agent.loops.scaling import _unusable
    from agent.metrics_port import MetricSeries
    from forecasting.series import Series

    def one(last: float | None) -> MetricSeries:
        series = Series(np.array([0.0]), np.array([1.0]), 60.0, "q")
        return MetricSeries("q", {}, series, 0, last, last is None, 0.0)

    code, why = _unusable([], 1000.0)
    assert code == "NoLoadSeries" and "returned nothing" in why
    code, why = _unusable([one(990.0)] * 3, 1000.0)
    assert code == "ManyLoadSeries" and "returned 3 series where one was expected" in why
    code, why = _unusable([one(None)], 1000.0)
    assert code == "NoLoadSample" and "every sample missing, NaN or infinite" in why
    code, why = _unusable([one(300.0)], 1000.0, 300.0, 300.0)
    assert code == "LoadGap"
    # no series (Prometheus's answer inside a gap) after samples the model kept: a gap
    code, why = _unusable([], 1000.0, 300.0, 300.0)
    assert code == "LoadGap"
    assert why == (
        "no load sample since 1970-01-01 00:05:00 UTC (12 min ago, more than "
        "prometheus.staleAfter, 300 s): a gap in the load series (the target not scraped, "
        "or Prometheus not storing), not a load of zero"
    )


def test_an_hpa_whose_max_is_below_its_min_holds_the_workload_and_says_so() -> None:
    t, values = steady(25)
    clock = FakeClock(float(t[-80]))
    web = workload("web", **{CAPACITY: "1000"})
    loop = loop_over(WeekReader(t, values), clock, [web])
    hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
    cast(Any, loop.cluster).hpas[web.ref] = HpaState(hpa_ref, web.ref, 5, 3, 4, 4)
    run(loop, clock, 2)
    assert "maxReplicas 3 below minReplicas 5" in loop.status.held[str(web.ref)]
    assert loop.models[web.ref].hpa_min_configured is None  # nothing learnt from it


def test_two_hpas_on_one_workload_hold_it_and_say_so() -> None:
    """Two HPAs targeting one Deployment: the HPA controller scales with neither
    (AmbiguousSelector). The loop used to raise the floor of whichever it listed first."""
    t, values = steady(25)
    clock = FakeClock(float(t[-80]))
    web = workload("web")
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
    cast(Any, loop.cluster).hpas[web.ref] = HpaState(
        hpa_ref, web.ref, 2, 20, 3, 3, shared_with=("web-cpu",)
    )
    run(loop, clock, 2)
    assert cast(Any, loop.executor).applied == []
    held = loop.status.held[str(web.ref)]
    assert "2 HPAs target Deployment/shop/web (web, web-cpu)" in held
    assert "AmbiguousSelector" in held


def test_a_floors_floor_above_the_hpas_maximum_holds_that_workload_only() -> None:
    """``min-replicas: 8`` on a workload whose HPA allows at most 5 used to set the HPA's
    minReplicas to 8, above its maxReplicas: a write the API server refuses, every cycle."""
    t, values = steady(25)
    clock = FakeClock(float(t[-80]))
    web = workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "8"})
    api = workload("api", **{CAPACITY: "1000", MIN_REPLICAS: "7"})
    loop = loop_over(WeekReader(t, values), clock, [web, api], route="auto")
    hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
    cast(Any, loop.cluster).hpas[web.ref] = HpaState(hpa_ref, web.ref, 2, 5, 3, 3)
    run(loop, clock, 2)
    held = loop.status.held[str(web.ref)]
    assert f"{MIN_REPLICAS}=8 is above the maxReplicas 5 of {hpa_ref}" in held
    applied = cast(Any, loop.executor).applied
    assert [operation.target for operation in applied] == [api.ref]
    assert str(api.ref) not in loop.status.held


def test_a_floors_floor_above_the_ceiling_without_an_hpa_holds_unless_max_is_set() -> None:
    """``min-replicas: 1000000000`` without an HPA used to scale the Deployment to a
    billion replicas: above the loop's own ceiling without an HPA, it now needs
    ``max-replicas`` to say that many are meant."""
    t, values = steady(26)
    clock = FakeClock(float(t[-80]))
    web = workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "1000000000"})
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    run(loop, clock, 2)
    assert f"{MIN_REPLICAS}=1000000000 is above 1000" in loop.status.held[str(web.ref)]
    assert cast(Any, loop.executor).applied == []
    meant = workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "1200", MAX_REPLICAS: "1500"})
    loop = loop_over(WeekReader(t, values), FakeClock(float(t[-80])), [meant], route="auto")
    loop.cycle()
    (operation,) = cast(Any, loop.executor).applied
    assert operation.replicas == 1200


# ------------------------------------------------ leaving predictive scaling


def _raised(route: str, seed: int) -> tuple[Any, FakeClock, Any, ObjectRef]:
    """A loop that raised web's HPA from its owner's 2 to the floor of 7, written and
    seen by the watch."""
    t, values = steady(seed)
    clock = FakeClock(float(t[-80]))
    web = floor_of_seven()
    loop = loop_over(WeekReader(t, values), clock, [web], route=route)
    hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
    hpas = cast(Any, loop.cluster).hpas
    hpas[web.ref] = HpaState(hpa_ref, web.ref, 2, 20, 3, 3, uid="u1")
    if route == "ask":
        run(loop, clock, 1)
        cast(Any, loop.decisions).ledger.records["d-1"].status = "approved"
    run(loop, clock, 1)
    (raise_to,) = cast(Any, loop.executor).applied
    assert (raise_to.target, raise_to.min_replicas) == (hpa_ref, 7)
    hpas[web.ref] = dataclasses.replace(hpas[web.ref], min_replicas=7)
    run(loop, clock, 2)
    return loop, clock, web, hpa_ref


def _opt_out(loop: Any, web: Any, how: str) -> None:
    if how == "label":
        left = dataclasses.replace(web, labels={})
    else:
        left = dataclasses.replace(web, annotations={**web.annotations, PREDICTIVE: "false"})
    cast(Any, loop.cluster).workloads = [left]


@pytest.mark.parametrize("how", ["label", "annotation"])
def test_a_workload_that_opts_out_gets_its_owners_minimum_back_once(how: str) -> None:
    """Removing the opt-in label (or ``predictive: "false"``) while a floor is raised used
    to leave the HPA at the floor for good, the owner's own minimum only in the ledger."""
    loop, clock, web, hpa_ref = _raised("auto", 31)
    _opt_out(loop, web, how)
    run(loop, clock, 5)
    applied = cast(Any, loop.executor).applied
    assert [(op.target, op.min_replicas) for op in applied] == [(hpa_ref, 7), (hpa_ref, 2)]
    released = cast(Any, loop.decisions).proposals[-1]
    assert released.reason_code == "OptedOut" and released.proposal["to"] == 2
    assert "gets its own minimum back" in released.reason


def test_a_floor_a_person_changed_is_left_when_the_workload_opts_out() -> None:
    loop, clock, web, _ = _raised("auto", 32)
    hpas = cast(Any, loop.cluster).hpas
    hpas[web.ref] = dataclasses.replace(hpas[web.ref], min_replicas=5)  # by hand
    _opt_out(loop, web, "label")
    run(loop, clock, 5)
    assert len(cast(Any, loop.executor).applied) == 1  # only the raise: 5 is theirs


def test_giving_the_minimum_back_is_asked_in_propose_mode_and_done_on_a_yes() -> None:
    loop, clock, web, hpa_ref = _raised("ask", 33)
    _opt_out(loop, web, "annotation")
    run(loop, clock, 3)
    decisions = cast(Any, loop.decisions)
    released = decisions.proposals[-1]
    assert released.reason_code == "OptedOut"
    assert len(cast(Any, loop.executor).applied) == 1  # asked, not written
    decisions.ledger.records[f"d-{len(decisions.proposals)}"].status = "approved"
    run(loop, clock, 3)
    applied = cast(Any, loop.executor).applied
    assert [(op.target, op.min_replicas) for op in applied] == [(hpa_ref, 7), (hpa_ref, 2)]


def test_nothing_is_given_back_while_scaling_is_paused() -> None:
    paused: list[str] = []
    t, values = steady(34)
    clock = FakeClock(float(t[-80]))
    web = floor_of_seven()
    loop = loop_over(
        WeekReader(t, values),
        clock,
        [web],
        route="auto",
        paused=lambda: paused[0] if paused else None,
    )
    hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
    hpas = cast(Any, loop.cluster).hpas
    hpas[web.ref] = HpaState(hpa_ref, web.ref, 2, 20, 3, 3, uid="u1")
    run(loop, clock, 1)
    hpas[web.ref] = dataclasses.replace(hpas[web.ref], min_replicas=7)
    paused.append("safety.paused")
    _opt_out(loop, web, "label")
    run(loop, clock, 3)
    assert len(cast(Any, loop.executor).applied) == 1
    paused.clear()
    run(loop, clock, 2)
    assert [op.min_replicas for op in cast(Any, loop.executor).applied] == [7, 2]


@pytest.mark.parametrize("left_while", ["down", "up"])
def test_a_floor_written_before_a_restart_is_given_back_too(left_while: str) -> None:
    """The floor a process wrote is in the ledger: a new process (a restart, a new
    leader) gives the owner's minimum back whether the workload left while no replica
    was running (found at its first cycle) or after the new process had taken it up."""
    loop, clock, web, hpa_ref = _raised("auto", 35)
    ledger = cast(Any, loop.decisions).ledger
    assert ledger.guard(f"scaling/written/{web.ref}")[0]["min_replicas"] == 7
    t, values = steady(35)
    restarted = loop_over(WeekReader(t, values), clock, [web], route="auto")
    cast(Any, restarted).decisions.ledger = ledger  # the same ledger
    cast(Any, restarted.cluster).hpas = cast(Any, loop.cluster).hpas
    if left_while == "up":
        run(restarted, clock, 2)  # taken up as opted in; nothing written (the floor stands)
    _opt_out(restarted, web, "label")
    run(restarted, clock, 3)
    applied = cast(Any, restarted.executor).applied
    assert [(op.target, op.min_replicas) for op in applied][-1:] == [(hpa_ref, 2)]


def _forecast_only(loop: Any, web: Any) -> None:
    only = dataclasses.replace(web, annotations={**web.annotations, PREDICTIVE: "forecast-only"})
    cast(Any, loop.cluster).workloads = [only]


def test_turning_forecast_only_gives_the_owners_minimum_back_and_goes_on_publishing() -> None:
    """``predictive: "true"`` -> ``"forecast-only"`` used to leave the floor the loop
    raised on the HPA for good: forecast-only is "don't act", so the owner's minimum
    comes back as on opt-out (one decision, ``ForecastOnly``), and the floor the
    forecast recommends is still published, never written."""
    loop, clock, web, hpa_ref = _raised("auto", 36)
    _forecast_only(loop, web)
    run(loop, clock, 1)
    decisions, executor = cast(Any, loop.decisions), cast(Any, loop.executor)
    assert [(op.target, op.min_replicas) for op in executor.applied] == [
        (hpa_ref, 7),
        (hpa_ref, 2),
    ]
    given = decisions.proposals[-1]
    assert given.reason_code == "ForecastOnly" and not given.shadow
    assert (given.proposal["from"], given.proposal["to"]) == (7, 2)
    assert "gets its own minimum back" in given.reason
    hpas = cast(Any, loop.cluster).hpas
    hpas[web.ref] = dataclasses.replace(hpas[web.ref], min_replicas=2)  # the write lands
    run(loop, clock, 10)
    assert len(executor.applied) == 2  # nothing written after
    published = decisions.proposals[-1]
    assert published.shadow and (published.proposal["from"], published.proposal["to"]) == (2, 7)
    # the annotation says what the forecast recommends, never the minimum given back
    assert [annotations[RECOMMENDED] for _, annotations in executor.reports] == ["7", "7"]


def test_a_floor_a_person_changed_is_left_when_the_workload_turns_forecast_only() -> None:
    loop, clock, web, _ = _raised("auto", 37)
    hpas = cast(Any, loop.cluster).hpas
    hpas[web.ref] = dataclasses.replace(hpas[web.ref], min_replicas=5)  # by hand
    _forecast_only(loop, web)
    run(loop, clock, 5)
    assert len(cast(Any, loop.executor).applied) == 1  # only the raise: 5 is theirs
    assert not any(p.reason_code == "ForecastOnly" for p in cast(Any, loop.decisions).proposals)


def test_turning_forecast_only_in_propose_mode_asks_and_gives_back_on_a_yes() -> None:
    loop, clock, web, hpa_ref = _raised("ask", 38)
    _forecast_only(loop, web)
    run(loop, clock, 3)
    decisions = cast(Any, loop.decisions)
    asked = decisions.proposals[-1]
    assert asked.reason_code == "ForecastOnly"
    assert len(cast(Any, loop.executor).applied) == 1  # asked, not written
    decisions.ledger.records[f"d-{len(decisions.proposals)}"].status = "approved"
    run(loop, clock, 3)
    applied = cast(Any, loop.executor).applied
    assert [(op.target, op.min_replicas) for op in applied] == [(hpa_ref, 7), (hpa_ref, 2)]


@pytest.mark.parametrize("route", ["auto", "ask"])
def test_turning_back_from_forecast_only_writes_the_floor_at_the_next_cycle(route: str) -> None:
    """``"forecast-only"`` -> ``"true"`` used to leave the floor unwritten until the
    recommendation changed (hours, on a steady load): the floor published while
    forecast-only was taken for one already decided. It is decided at the next cycle."""
    loop, clock, web, _ = _raised(route, 39)
    _forecast_only(loop, web)
    run(loop, clock, 1)
    decisions = cast(Any, loop.decisions)
    if route == "ask":
        decisions.ledger.records[f"d-{len(decisions.proposals)}"].status = "approved"
        run(loop, clock, 1)
    hpas = cast(Any, loop.cluster).hpas
    hpas[web.ref] = dataclasses.replace(hpas[web.ref], min_replicas=2)  # given back
    run(loop, clock, 5)
    assert decisions.proposals[-1].shadow  # 7 published, not written
    executor = cast(Any, loop.executor)
    assert [op.min_replicas for op in executor.applied] == [7, 2]
    cast(Any, loop.cluster).workloads = [web]  # predictive: "true" again
    run(loop, clock, 1)
    again = decisions.proposals[-1]
    assert not again.shadow and (again.proposal["from"], again.proposal["to"]) == (2, 7)
    if route == "ask":
        decisions.ledger.records[f"d-{len(decisions.proposals)}"].status = "approved"
        run(loop, clock, 1)
    assert [op.min_replicas for op in executor.applied] == [7, 2, 7]


def test_every_hold_reason_is_documented_and_every_hold_has_one() -> None:
    import re
    from pathlib import Path

    from agent.loops import scaling

    source = Path(scaling.__file__).read_text()
    # each _hold(ref, "Code", ...) and _held(name, "Code", ...) names a known reason
    used = set(re.findall(r'_hold\(\s*[\w.]+,\s*"(\w+)"', source))
    used |= set(re.findall(r'_held\(\s*[\w.()]+,\s*"(\w+)"', source))
    used |= set(re.findall(r'return "(\w+)", ', source))  # _unusable's codes
    assert used and used <= scaling.HOLD_REASONS
    row = next(
        line
        for line in (Path(__file__).parents[3] / "docs" / "deploy.md").read_text().splitlines()
        if line.startswith("| `autonomic_scaling_held`")
    )
    assert set(re.findall(r"`(\w+)`", row.split("`reason` is one of", 1)[1])) == (
        scaling.HOLD_REASONS
    )


@pytest.mark.parametrize(
    ("labels", "says"),
    [
        ({}, "it has no autonomic.dev/enabled label"),
        ({"autonomic.dev/enabled": "True"}, "its autonomic.dev/enabled is 'True', not 'true'"),
        (
            {"autonomic.dev/enable": "true"},
            "it has autonomic.dev/enable='true', not autonomic.dev/enabled",
        ),
    ],
)
def test_a_workload_annotated_predictive_but_not_opted_in_is_held_and_says_why(
    labels: dict[str, str], says: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``autonomic.dev/predictive: "true"`` without the opt-in label (or with a typo in
    it) was skipped without a word: not in ``GET /scaling``, no gauge, no log line."""
    t, values = steady(17)
    clock = FakeClock(float(t[-80]))
    metrics = Metrics()
    web = dataclasses.replace(floor_of_seven(), labels=labels)
    loop = loop_over(WeekReader(t, values), clock, [web], metrics=metrics)
    caplog.set_level(logging.WARNING, logger="autonomic.scaling")
    run(loop, clock, 3)
    held = loop.report()["held"][str(web.ref)]
    assert held["reason"] == "NotOptedIn"
    assert held["why"] == (
        f"{web.ref} has {PREDICTIVE}='true' but is not opted in: {says}; label it "
        'autonomic.dev/enabled="true" to scale it, or remove the annotation'
    )
    gauge = {"workload": str(web.ref), "reason": "NotOptedIn"}
    assert metrics.registry.get_sample_value("autonomic_scaling_held", gauge) == 1.0
    assert [m for m in caplog.messages if "not opted in" in m] == [
        f"scaling {web.ref} held: {held['why']}"
    ]
    assert cast(Any, loop.decisions).proposals == []  # held: nothing decided or written
    # Opted in: no longer held. Annotation removed: nothing asked for, nothing said.
    cast(Any, loop.cluster).workloads = [floor_of_seven()]
    run(loop, clock, 1)
    assert str(web.ref) not in loop.report()["held"]
    bare = dataclasses.replace(web, annotations={})
    quiet = loop_over(WeekReader(t, values), clock, [bare])
    run(quiet, clock, 1)
    assert quiet.report()["held"] == {}


def _capped(hpa_max: int | None, capacity: str = "10", **annotations: str) -> str:
    """The reason of the floor decided for load needing many pods (500 a minute at 10 a
    pod), capped at the ceiling (``AtMaximum``)."""
    t, values = week_and_a_day(14)
    values = values.copy() * 10.0
    web = workload("web", **{CAPACITY: capacity, **annotations})
    loop = loop_over(WeekReader(t, values), FakeClock(float(t[-60])), [web], route="auto")
    if hpa_max is not None:
        hpa_ref = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
        cast(Any, loop.cluster).hpas[web.ref] = HpaState(hpa_ref, web.ref, 2, hpa_max, 3, 3)
    loop.cycle()
    (proposal,) = cast(Any, loop.decisions).proposals
    assert proposal.reason_code == "AtMaximum"
    return str(proposal.reason)


def test_a_floor_capped_at_the_hpas_maximum_says_to_raise_it() -> None:
    """It said "N pods clamped to the allowed range [2, 6]": the numbers, not what set
    6 nor what to change."""
    reason = _capped(6)
    found = re.fullmatch(
        r"minReplicas 2 -> 6: (\d+) pods \(a load of ([\d.]+) at 10 a pod\) clamped to the "
        r"allowed range \[2, 6\]: 6 is the maxReplicas of HorizontalPodAutoscaler/shop/web; "
        r"raise maxReplicas on the HPA to let the floor go higher",
        reason,
    )
    assert found is not None, reason
    pods, load = int(found[1]), float(found[2])
    assert pods > 6 and pods == math.ceil(load / 10)  # the count asked for, not "more than 6"


def test_a_floor_capped_by_the_annotation_below_the_hpas_maximum_names_it() -> None:
    reason = _capped(20, **{MAX_REPLICAS: "5"})
    assert reason.endswith(
        "[2, 5]: 5 is the autonomic.dev/max-replicas annotation "
        "(HorizontalPodAutoscaler/shop/web allows 20); raise or remove the annotation to "
        "let the floor go higher"
    ), reason


def test_replicas_capped_by_the_annotation_without_an_hpa_name_it() -> None:
    reason = _capped(None, **{MAX_REPLICAS: "6"})
    assert reason.endswith(
        "[1, 6]: 6 is the autonomic.dev/max-replicas annotation; raise it to let the "
        "replicas go higher"
    ), reason


def test_without_an_hpa_the_annotation_is_the_ceiling_above_1000_too() -> None:
    """The docs and the MinAboveMax hold ("set max-replicas too") say the annotation is
    the ceiling without an HPA; it was cut at 1000 all the same."""
    reason = _capped(None, capacity="0.1", **{MAX_REPLICAS: "2000"})
    assert reason.startswith("replicas 3 -> 2000: "), reason
    assert reason.endswith(
        "[1, 2000]: 2000 is the autonomic.dev/max-replicas annotation; raise it to let the "
        "replicas go higher"
    ), reason
    reason = _capped(None, capacity="0.1")
    assert reason.startswith("replicas 3 -> 1000: "), reason
    assert reason.endswith(
        "[1, 1000]: 1000 is the most replicas the loop sets without an HPA or an "
        "autonomic.dev/max-replicas annotation; set autonomic.dev/max-replicas to let the "
        "replicas go higher"
    ), reason
