"""What the scaling loop learns when nobody told it: the per-pod capacity from the HPA,
the start-up time from the pods; when it stops trusting its model; and whether each
floor it applied was right."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, cast

import numpy as np
import pytest

from agent.clock import FakeClock
from agent.loops.scaling import CAPACITY, MIN_REPLICAS, STARTUP, STARTUP_EVERY, STEP
from agent.loops.sizing import CAPACITY_MIN, CapacityEstimate, StartupEstimate
from remediation.ports import HpaState, ObjectRef, PodState
from tests.unit.scaling.fakes import WeekReader, loop_over, week_and_a_day, workload

NS = "shop"


def hpa_for(ref: ObjectRef, usage: float | None, *, min_replicas: int = 2) -> HpaState:
    return HpaState(
        ObjectRef("HorizontalPodAutoscaler", ref.name, NS),
        ref,
        min_replicas,
        20,
        3,
        3,
        usage_ratio=usage,
    )


def pod(
    name: str,
    owner: ObjectRef,
    created: float,
    startup: float | None,
    *,
    restarts: int = 0,
) -> PodState:
    return PodState(
        ObjectRef("Pod", name, NS),
        {},
        "Running",
        startup is not None,
        "node-1",
        owner,
        restarts,
        created_at=created,
        ready_at=None if startup is None else created + startup,
    )


def run(loop: Any, clock: FakeClock, cycles: int) -> None:
    for _ in range(cycles):
        loop.cycle()
        clock.advance(STEP)


def unannotated(name: str = "web", **extra: str) -> Any:
    """A workload that opted in without a capacity annotation."""
    web = workload(name, **extra)
    annotations = {k: v for k, v in web.annotations.items() if k != CAPACITY}
    return dataclasses.replace(web, annotations=annotations)


# ------------------------------------------------------------------ capacity


def test_capacity_readings_are_taken_only_when_steady_and_near_the_target() -> None:
    estimate = CapacityEstimate()
    assert estimate.observe(60.0, 3, 3, 0.8) == pytest.approx(25.0)  # 20 a pod at 80 %
    assert estimate.observe(60.0, 2, 3, 0.8) is None  # a pod is starting: not steady
    assert estimate.skipped is not None and "2 of 3 pods" in estimate.skipped
    assert estimate.observe(60.0, 3, 3, 0.2) is None  # far below target: a straight line
    assert estimate.observe(60.0, 3, 3, None) is None  # the HPA has no reading yet
    assert estimate.observe(float("nan"), 3, 3, 1.0) is None
    assert estimate.value() is None  # one reading is not an estimate
    for load in (54.0, 66.0, 57.0, 63.0, 60.0, 60.0, 600.0, 60.0, 60.0):  # one wild reading
        estimate.observe(load, 3, 3, 0.8)
    assert len(estimate.readings) == CAPACITY_MIN
    assert estimate.value() == pytest.approx(25.0)  # the median shrugs off the wild one


def test_without_an_annotation_or_an_hpa_the_workload_is_held_and_nothing_is_read() -> None:
    t, values = week_and_a_day(31)
    reader, clock = WeekReader(t, values), FakeClock(float(t[-60]))
    web = unannotated()
    loop = loop_over(reader, clock, [web])
    run(loop, clock, 2)
    assert reader.reads == []
    assert loop.status.held[str(web.ref)] == (
        "no autonomic.dev/capacity-per-pod annotation, and no HPA to learn the per-pod "
        "capacity from: staying reactive; set autonomic.dev/capacity-per-pod (the load one "
        f"ready pod carries) or give {web.ref} an HPA for it to be scaled ahead of its load"
    )


def test_the_capacity_is_learned_from_the_hpa_before_any_floor_is_proposed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t, values = week_and_a_day(32)
    values = values.copy()
    values[-80:] = 60.0  # three pods carry 60 at 80 % of the HPA's target: 25 a pod
    clock = FakeClock(float(t[-75]))
    web = unannotated(**{MIN_REPLICAS: "6"})
    loop = loop_over(WeekReader(t, values), clock, [web])
    cluster = cast(Any, loop.cluster)
    cluster.hpas[web.ref] = hpa_for(web.ref, 0.8)
    decisions = cast(Any, loop.decisions)
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        run(loop, clock, CAPACITY_MIN - 1)
    assert decisions.proposals == []  # reactive while learning, and it says so once
    assert "learning the per-pod capacity" in loop.status.held[str(web.ref)]
    assert sum("learning the per-pod" in r.getMessage() for r in caplog.records) == 1
    run(loop, clock, 2)
    (proposal,) = decisions.proposals
    evidence = proposal.evidence
    assert evidence["capacity_per_pod"] == pytest.approx(25.0)
    assert evidence["capacity_source"] == f"learned from {CAPACITY_MIN} HPA readings"
    assert str(web.ref) not in loop.status.held


@pytest.mark.parametrize("paused", [False, True], ids=["rolling", "paused"])
def test_no_capacity_reading_while_a_rollout_replaces_the_pods(paused: bool) -> None:
    """A rollout under way: 1 of 3 pods updated, all 3 ready (the surge pod not ready
    yet is not counted). The ready pods are two releases, some just started, and the
    HPA's reading is a scrape behind them; readings used to be taken all the same.
    Paused there, the mixed fleet is the one that serves, and stays: it is read."""
    t, values = week_and_a_day(33)
    values = values.copy()
    values[-80:] = 60.0
    clock = FakeClock(float(t[-75]))
    web = dataclasses.replace(unannotated(), updated_replicas=1, paused=paused)
    loop = loop_over(WeekReader(t, values), clock, [web])
    cast(Any, loop.cluster).hpas[web.ref] = hpa_for(web.ref, 0.8)
    run(loop, clock, CAPACITY_MIN + 2)
    estimate = loop.models[web.ref].capacity
    if paused:
        assert len(estimate.readings) == CAPACITY_MIN + 2
        return
    assert not estimate.readings
    assert estimate.skipped == (
        "a rollout is replacing the pods of Deployment/shop/web (1 of 3 updated): the "
        "ready pods are two releases"
    )
    assert "learning the per-pod capacity" in loop.status.held[str(web.ref)]
    cast(Any, loop.cluster).workloads = [dataclasses.replace(web, updated_replicas=3)]
    run(loop, clock, 2)  # the rollout done: read again
    assert len(estimate.readings) == 2


def test_an_annotated_capacity_is_used_as_given() -> None:
    t, values = week_and_a_day(33)
    values = values.copy()
    values[-80:] = 60.0
    clock = FakeClock(float(t[-75]))
    web = workload("web", **{CAPACITY: "10", MIN_REPLICAS: "9"})
    loop = loop_over(WeekReader(t, values), clock, [web])
    cast(Any, loop.cluster).hpas[web.ref] = hpa_for(web.ref, 0.8)
    run(loop, clock, 1)
    (proposal,) = cast(Any, loop.decisions).proposals
    assert proposal.evidence["capacity_per_pod"] == 10.0
    assert proposal.evidence["capacity_source"] == "annotation"


# ------------------------------------------------------------------ start-up


def test_startup_is_the_80th_percentile_of_pods_that_never_restarted() -> None:
    owner, other = ObjectRef("Deployment", "web", NS), ObjectRef("Deployment", "db", NS)
    estimate = StartupEstimate()
    assert estimate.value() is None
    pods = [
        pod("web-a", owner, 1000.0, 90.0),
        pod("web-b", owner, 1100.0, 100.0),
        pod("web-c", owner, 1200.0, 120.0),
        pod("web-d", owner, 1300.0, 40.0),
        pod("web-e", owner, 1400.0, 20.0),
        pod("web-f", owner, 1500.0, 900.0, restarts=2),  # ready again after a crash
        pod("web-g", owner, 1600.0, None),  # still starting
        pod("web-h", owner, 1700.0, 7200.0),  # a readiness flap, not a start
        pod("db-a", other, 1000.0, 5.0),  # someone else's pod
    ]
    assert estimate.observe(pods, owner, 2000.0) == 5
    assert estimate.value() == 100.0  # [20, 40, 90, 100, 120]: rank 4 of 5
    assert estimate.observe(pods, owner, 2100.0) == 0  # a pod is measured once


def test_the_lead_is_built_from_the_measured_startup_and_an_annotation_wins() -> None:
    t, values = week_and_a_day(34)
    values = values.copy()
    values[-80:] = 50.0
    clock = FakeClock(float(t[-75]))
    web = workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "7"})
    loop = loop_over(WeekReader(t, values), clock, [web])
    cluster = cast(Any, loop.cluster)
    now = clock.now()
    cluster.pods = [pod(f"web-{i}", web.ref, now - 3600 + i, 150.0 + i) for i in range(5)]
    run(loop, clock, 1)
    (proposal,) = cast(Any, loop.decisions).proposals
    evidence = proposal.evidence
    assert evidence["startup_seconds"] == 153.0  # 150..154: rank 4 of 5
    assert evidence["startup_source"] == "measured: 80th percentile of 5 pods"
    assert evidence["lead_seconds"] > 153.0  # start-up + the loop's period + metric lag
    lists = cluster.pod_lists
    run(loop, clock, 5)
    assert cluster.pod_lists == lists  # not measured again for STARTUP_EVERY
    clock.advance(STARTUP_EVERY)
    run(loop, clock, 1)
    assert cluster.pod_lists == lists + 1

    annotated = workload("api", **{CAPACITY: "1000", MIN_REPLICAS: "7", STARTUP: "30"})
    loop = loop_over(WeekReader(t, values), FakeClock(float(t[-75])), [annotated])
    cast(Any, loop.cluster).pods = cluster.pods
    loop.cycle()
    (proposal,) = cast(Any, loop.decisions).proposals
    assert (proposal.evidence["startup_seconds"], proposal.evidence["startup_source"]) == (
        30.0,
        "annotation",
    )
    assert cast(Any, loop.cluster).pod_lists == 0  # an annotated workload's pods are not read


def test_without_a_measured_pod_the_default_startup_is_used_and_named() -> None:
    t, values = week_and_a_day(35)
    values = values.copy()
    values[-80:] = 50.0
    clock = FakeClock(float(t[-75]))
    web = workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "7"})
    loop = loop_over(WeekReader(t, values), clock, [web])
    loop.cycle()
    (proposal,) = cast(Any, loop.decisions).proposals
    assert proposal.evidence["startup_seconds"] == 60.0
    assert proposal.evidence["startup_source"].startswith("default")


# ------------------------------------------------------------ poor accuracy


def test_a_model_found_off_its_band_makes_the_workload_reactive_and_says_so() -> None:
    """Load nine times its usual level and jumpy: the drift check finds the live model
    off its band, and in that cycle the floor is not sized from it."""
    t, values = week_and_a_day(22)
    values = values.copy()
    values[-60:] *= 9.0
    values[-60::2] /= 3.0
    clock = FakeClock(float(t[-150]))
    web = workload("web", **{CAPACITY: "5"})
    loop = loop_over(WeekReader(t, values), clock, [web], refitEvery="6h")
    seen = []
    for _ in range(145):
        loop.cycle()
        clock.advance(STEP)
        model = loop.models[web.ref]
        if model.poor is not None:
            seen.append(model.latest)
    assert seen, "the drift check never found the model off its band"
    first = seen[0]
    assert first is not None
    assert (first.mode, first.reason, first.forecast_peak) == ("reactive", "PoorAccuracy", None)
    # not sized from the forecast: at most the floor already there (3), coming down slowly
    assert first.floor is None or first.floor <= 3
    assert "staying reactive" in first.message


# ------------------------------------------------------------ verification


def applied_floor(seed: int, after: np.ndarray) -> tuple[Any, FakeClock, Any]:
    """A floor raised from 3 to 7 automatically on a steady 50 at 10 a pod (5 pods'
    worth), then ``after`` as the load that follows, one value a minute."""
    t, values = week_and_a_day(seed)
    values = values.copy()
    start = len(t) - 120
    values[start - 80 : start + 1] = 50.0
    values[start + 1 : start + 1 + after.size] = after
    clock = FakeClock(float(t[start]))
    web = workload("web", **{CAPACITY: "10", MIN_REPLICAS: "7", STARTUP: "60"})
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    return loop, clock, web


def landed(loop: Any, web: Any) -> Any:
    """The scale the loop asked for, as the cluster then shows it."""
    web = dataclasses.replace(web, replicas=7, ready_replicas=7, available_replicas=7)
    cast(Any, loop.cluster).workloads = [web]
    return web


@pytest.mark.parametrize(
    ("load", "outcome", "status"),
    [
        (65.0, "right", "verified"),  # 8 pods' worth with the margin: the raise was needed
        (20.0, "unneeded", "done"),  # 3 pods' worth, what the old floor gave: a cost only
    ],
)
def test_a_raised_floor_is_judged_by_whether_its_load_came(
    load: float, outcome: str, status: str
) -> None:
    loop, clock, web = applied_floor(41, np.full(60, load))
    run(loop, clock, 1)
    landed(loop, web)
    decisions = cast(Any, loop.decisions)
    (operation,) = cast(Any, loop.executor).applied
    assert operation.replicas == 7
    assert decisions.ledger.records["d-1"].status == "verifying"
    run(loop, clock, 15)  # the lead (a few minutes) and five more
    verdicts = [f for f in decisions.ledger.feedback if f[0] == "d-1"]
    assert verdicts == [("d-1", "verification", outcome)]
    assert decisions.ledger.records["d-1"].status == status
    assert all(c.decision_id != "d-1" for c in loop.models[web.ref].verifying)
    # where it was asked or reported, the verdict is the last word, with its reason
    said = [(text, final) for d, text, final in decisions.progressed if d == "d-1"]
    assert said[0][0].startswith("applied:") and not said[0][1]
    assert said[-1][0].startswith(f"{outcome}: the load peaked at") and said[-1][1]
    # ... kept with the verdict: a process that dies before the message's rewrite leaves
    # it to the next one's first sync, which restates these words (before: not kept).
    assert decisions.ledger.records["d-1"].feedback_detail["said"] == said[-1][0]


def test_an_applied_floor_left_unjudged_by_a_restart_is_judged_by_the_next_process() -> None:
    loop, clock, web = applied_floor(42, np.full(60, 65.0))
    run(loop, clock, 1)
    web = landed(loop, web)
    run(loop, clock, 1)
    decisions = cast(Any, loop.decisions)
    record = decisions.ledger.records["d-1"]
    assert record.status == "verifying"
    record.updated_at = clock.now() - 2 * STEP  # when it was applied
    restarted = loop_over(cast(Any, loop.reader), clock, [web], route="auto", refitEvery="6h")
    cast(Any, restarted.decisions).ledger = decisions.ledger
    cast(Any, restarted.decisions).proposals = list(decisions.proposals)  # ids go on
    run(restarted, clock, 15)
    assert ("d-1", "verification", "right") in decisions.ledger.feedback
    assert record.status == "verified"


def test_a_lowered_floor_that_left_the_workload_short_is_wrong() -> None:
    """Seven pods for a fifth of one pod's load: the floor comes down; then load needing
    nine pods for most of the window: the workload was short of ready pods, and the
    decision to lower was wrong."""
    t, values = week_and_a_day(43)
    values = values.copy()
    start = len(t) - 120
    values[start - 80 : start + 8] = 20.0  # at 100 a pod: the floor may drop to its minimum
    values[start + 8 :] = 850.0  # ...and then it is needed, a few minutes later
    clock = FakeClock(float(t[start]))
    web = workload("web", **{CAPACITY: "100", MIN_REPLICAS: "2", STARTUP: "60"})
    web = dataclasses.replace(web, replicas=7, ready_replicas=7, available_replicas=7)
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    for _ in range(10):  # scaling in waits a few cycles before it lowers anything
        loop.cycle()
        clock.advance(STEP)
        if cast(Any, loop.executor).applied:
            break
    (operation,) = cast(Any, loop.executor).applied
    assert operation.replicas < 7
    low = operation.replicas
    cast(Any, loop.cluster).workloads = [
        dataclasses.replace(web, replicas=low, ready_replicas=low, available_replicas=low)
    ]
    run(loop, clock, 15)
    decisions = cast(Any, loop.decisions)
    first = next(iter(decisions.ledger.records))
    assert (first, "verification", "wrong") in decisions.ledger.feedback
    assert decisions.ledger.records[first].status == "failed"


def test_a_learned_capacity_is_kept_in_the_ledger_for_the_next_process() -> None:
    t, values = week_and_a_day(36)
    values = values.copy()
    values[-90:] = 60.0
    clock = FakeClock(float(t[-85]))
    web = unannotated(**{MIN_REPLICAS: "6"})
    loop = loop_over(WeekReader(t, values), clock, [web])
    cast(Any, loop.cluster).hpas[web.ref] = hpa_for(web.ref, 0.8)
    run(loop, clock, CAPACITY_MIN + 1)
    ledger = cast(Any, loop.decisions).ledger
    saved, _ = ledger.guard(f"scaling/capacity/{web.ref}")
    assert saved["capacity_per_pod"] == pytest.approx(25.0)

    restarted = loop_over(WeekReader(t, values), clock, [web])
    cast(Any, restarted.cluster).hpas[web.ref] = hpa_for(web.ref, None)  # no reading yet
    cast(Any, restarted.decisions).ledger = ledger
    restarted.cycle()  # not reactive for ten minutes: the earlier estimate is used
    assert str(web.ref) not in restarted.status.held
    sizing = restarted.models[web.ref].sizing  # what sized this cycle's floor
    assert sizing["capacity_per_pod"] == pytest.approx(25.0)
    assert str(sizing["capacity_source"]).startswith("learned by an earlier process")

    key = f"scaling/capacity/{web.ref}"
    kept, version = ledger.guards[key]
    ledger.guards[key] = ({**kept, "saved_at": clock.now() - 8 * 86400.0}, version)
    # saved more than a week ago: learned again
    stale = loop_over(WeekReader(t, values), clock, [web])
    cast(Any, stale.cluster).hpas[web.ref] = hpa_for(web.ref, None)
    cast(Any, stale.decisions).ledger = ledger
    stale.cycle()
    assert "learning the per-pod capacity" in stale.status.held[str(web.ref)]


def test_a_floor_judged_when_its_workload_opted_out_is_not_left_verifying() -> None:
    loop, clock, web = applied_floor(44, np.full(60, 65.0))
    run(loop, clock, 1)
    landed(loop, web)
    run(loop, clock, 2)
    decisions = cast(Any, loop.decisions)
    assert decisions.ledger.records["d-1"].status == "verifying"
    cast(Any, loop.cluster).workloads = []  # opted out mid-window
    run(loop, clock, 15)
    assert decisions.ledger.records["d-1"].status == "verified"  # judged on what was seen
    assert loop.models[web.ref].verifying == []


def test_a_floor_whose_workload_is_held_is_still_judged() -> None:
    """A malformed annotation holds the workload mid-window: the floor is judged on what
    was seen once its window is over."""
    loop, clock, web = applied_floor(45, np.full(60, 65.0))
    run(loop, clock, 1)
    web = landed(loop, web)
    run(loop, clock, 2)
    held = dataclasses.replace(web, annotations={**web.annotations, STARTUP: "soon"})
    cast(Any, loop.cluster).workloads = [held]
    run(loop, clock, 15)
    assert str(web.ref) in loop.status.held
    assert cast(Any, loop.decisions).ledger.records["d-1"].status == "verified"


def test_the_lead_takes_the_configured_metric_lag() -> None:
    from agent.settings import ScalingSettings

    t, values = week_and_a_day(37)
    values = values.copy()
    values[-80:] = 50.0
    web = workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "7", STARTUP: "90"})
    loop = loop_over(WeekReader(t, values), FakeClock(float(t[-75])), [web], metricLag="30s")
    loop.cycle()
    (proposal,) = cast(Any, loop.decisions).proposals
    assert proposal.evidence["lead_seconds"] == 90.0 + 60.0 + 30.0
    with pytest.raises(ValueError, match="metricLag must be from 0s to 1h"):
        ScalingSettings(metricLag="2h")


def test_a_floor_another_replica_judged_first_is_not_said_again_here() -> None:
    """Two replicas judge one written floor (the old leader's cycle still running as the
    new one's runs): both read it "verifying", then the other writes its verdict first.
    The verdict is kept once, and only the replica that wrote it says its word. Before,
    ``record_outcome`` told nothing, so this one rewrote the question's message (and its
    thread) with its own word after the other's."""
    loop, clock, web = applied_floor(41, np.full(60, 65.0))
    run(loop, clock, 1)
    landed(loop, web)
    decisions = cast(Any, loop.decisions)
    assert decisions.ledger.records["d-1"].status == "verifying"
    first = "right: judged by the other replica"
    real = decisions.record_outcome
    raced: list[str] = []

    def other_first(decision_id: str, **kwargs: Any) -> bool:
        if decision_id == "d-1" and not raced:
            # The other replica's write lands between this one's read and its write.
            raced.append(decision_id)
            assert real("d-1", right=True, status="verified", detail={"said": first})
        return bool(real(decision_id, **kwargs))

    decisions.record_outcome = other_first
    told = len(decisions.progressed)
    run(loop, clock, 15)  # this replica's own judgment comes due
    assert all(c.decision_id != "d-1" for c in loop.models[web.ref].verifying)
    assert [f for f in decisions.ledger.feedback if f[0] == "d-1"] == [
        ("d-1", "verification", "right")
    ]
    assert raced == ["d-1"]
    assert [p for p in decisions.progressed[told:] if p[0] == "d-1"] == []
    assert decisions.ledger.records["d-1"].feedback_detail["said"] == first
