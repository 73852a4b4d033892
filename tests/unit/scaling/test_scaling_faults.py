"""The scaling loop under the faults an SRE worries about: a floor someone else changes
(a person, a GitOps controller putting its own back), a write the cluster refuses, a
change of leader while a floor is raised, a workload deleted while its HPA holds one,
an HPA whose maximum is lowered under the floor."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import time
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest

from agent.clock import FakeClock
from agent.errors import TransientError
from agent.executor import StepOutcome
from agent.ledger import open_ledger
from agent.loops.scaling import (
    ADOPT_EVERY,
    CAPACITY,
    FORGET_AFTER,
    HISTORY,
    MAX_REPLICAS,
    MIN_REPLICAS,
    QUIET_AFTER_NO,
    QUIET_AFTER_OVERRIDE,
    RETRY_AFTER_FAILURE,
    SCALE_IN_PATIENCE,
    STEP,
    TAKEN_KEEP,
    TAKEN_KEY,
    WRITTEN_KEY,
    ScalingLoop,
)
from agent.settings import RoutingSettings
from forecasting.scaling import ScalingSettings as PacingSettings
from forecasting.scaling import horizon_steps, scale_in_drop
from remediation.ports import HpaState, ObjectRef, Scale, SetHpaMinReplicas
from tests.harness.ledger_faults import GoneAfterClosing
from tests.unit.decision_rig import inline_service
from tests.unit.scaling.fakes import END, WeekReader, loop_over, week_and_a_day, workload

HPA = ObjectRef("HorizontalPodAutoscaler", "web", "shop")

# A moment in a sentence, as the listings write it (not the ISO 8601 "...T06:38:00Z").
UTC_TEXT = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def steady(seed: int, minutes: int = 80) -> tuple[Any, Any]:
    """Two weeks of load whose last ``minutes`` (and ten before) are a steady 50."""
    t, values = week_and_a_day(seed)
    values[-minutes - 10 :] = 50.0
    return t, values


# A floor of 7 whatever the forecast says: the floor's floor, the load needing one pod.
SEVEN = {CAPACITY: "1000", MIN_REPLICAS: "7"}


def raised(seed: int, minutes: int = 80, **annotations: str) -> tuple[ScalingLoop, FakeClock, Any]:
    """A loop (clock ``minutes`` before the end of the load) that raised web's HPA from
    its owner's 2 to 7 (by default load 50 at 10 a pod, with the margin and the
    forecast's upper quantile), written and seen by the watch."""
    t, values = steady(seed, minutes)
    clock = FakeClock(float(t[-minutes]))
    web = workload("web", **{CAPACITY: "10", **annotations})
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    cast(Any, loop.cluster).hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 3, 3, uid="u1")
    run(loop, clock, 3)
    assert writes(loop) == [7]
    return loop, clock, web


def run(
    loop: ScalingLoop,
    clock: FakeClock,
    cycles: float,
    *,
    revert_to: int | None = None,
    land: bool = True,
) -> None:
    """``cycles`` cycles a minute apart. Each write lands on the HPA (as the watch then
    shows it) unless not ``land``; with ``revert_to``, a controller puts that
    minReplicas back after it."""
    executor, hpas = cast(Any, loop.executor), cast(Any, loop.cluster).hpas
    for _ in range(int(cycles)):
        before = len(executor.applied)
        loop.cycle()
        clock.advance(STEP)
        for op in executor.applied[before:]:
            if isinstance(op, SetHpaMinReplicas) and land:
                ref = next(r for r, h in hpas.items() if h.ref == op.target)
                hpas[ref] = dataclasses.replace(hpas[ref], min_replicas=op.min_replicas)
        if revert_to is not None:
            for ref, hpa in hpas.items():
                hpas[ref] = dataclasses.replace(hpa, min_replicas=revert_to)


def writes(loop: ScalingLoop) -> list[int]:
    return [op.min_replicas for op in cast(Any, loop.executor).applied]


def set_min(loop: ScalingLoop, web: Any, value: int) -> None:
    hpas = cast(Any, loop.cluster).hpas
    hpas[web.ref] = dataclasses.replace(hpas[web.ref], min_replicas=value)


def feedback(loop: ScalingLoop) -> list[tuple[str, str, str]]:
    return list(cast(Any, loop.decisions).ledger.feedback)


# ------------------------------------------------ someone else changes the floor


@pytest.mark.parametrize("found", [3, 12])
def test_a_floor_someone_changed_is_theirs_for_an_hour_and_said_once(
    found: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A person sets minReplicas by hand (down to 3, or up to 12 for an incident) while
    the loop holds 7. The loop used to write 7 again two cycles later, with a new
    decision each time and nothing in the log: lowering a person's incident floor after
    five minutes, or fighting them."""
    loop, clock, web = raised(40)
    set_min(loop, web, found)
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        run(loop, clock, 55)
    assert writes(loop) == [7]  # theirs stands
    said = [r.getMessage() for r in caplog.records if "not the 7 Autonomic wrote" in r.getMessage()]
    assert len(said) == 1
    until = _utc(loop.models[web.ref].quiet_until)
    assert f"{HPA} minReplicas is {found}" in said[0]
    assert f"no floor is written for 60 min, until {until}. " in said[0]  # says when
    assert "not the 7 Autonomic wrote" in loop.status.held[str(web.ref)]
    assert ("d-1", "execution", "overridden") in feedback(loop)  # against the write
    ledger = cast(Any, loop.decisions).ledger
    (record, _) = ledger.guard(f"{WRITTEN_KEY}/{web.ref}")
    assert (record["min_replicas"], record["found"]) == (7, found)
    assert len(cast(Any, loop.decisions).proposals) == 1  # no decision meanwhile


def test_a_controller_that_reverts_every_write_meets_fewer_and_fewer_writes() -> None:
    """A GitOps controller (Argo CD's self-heal, Flux) puts minReplicas 2 back after every
    write: one write, then one an hour later, then two hours after that, each said."""
    loop, clock, web = raised(41, 4 * 60 + 10, **SEVEN)
    set_min(loop, web, 2)
    run(loop, clock, 4 * 60, revert_to=2)
    assert writes(loop) == [7, 7, 7]  # at 0, about 1 h, about 3 h: not every other minute
    overridden = [f for f in feedback(loop) if f[2] == "overridden"]
    assert len(overridden) == 3
    assert len(cast(Any, loop.decisions).proposals) == 3


@pytest.mark.parametrize("restart", [None, "in the first hold", "after the write that followed"])
def test_a_repeat_override_is_held_twice_as_long_across_a_restart(restart: str | None) -> None:
    """A person overrides the loop's 7 twice in a row: the second hold is two hours, the
    first one's doubled. The count of overrides in a row was kept only in memory, so a
    restart (or a new leader) between the two gave the second the first one's hour
    again. It is kept with the written floor's record in the ledger, and read back."""
    loop, clock, web = raised(45, 3 * 60 + 10, **SEVEN)
    ledger = cast(Any, loop.decisions).ledger

    def restarted(old: ScalingLoop) -> ScalingLoop:
        t, values = steady(45, 3 * 60 + 10)
        new = loop_over(WeekReader(t, values), clock, [web], route="auto")
        new.decisions, new.cluster = old.decisions, old.cluster  # one ledger, one cluster
        return new

    def hold() -> float:  # the length of the hold the ledger has for the last override
        record, _ = ledger.guard(f"{WRITTEN_KEY}/{web.ref}")
        return float(record["quiet_until"] - record["overridden_at"])

    set_min(loop, web, 2)
    run(loop, clock, 3)
    assert hold() == QUIET_AFTER_OVERRIDE
    if restart == "in the first hold":
        loop = restarted(loop)
    run(loop, clock, QUIET_AFTER_OVERRIDE / STEP + 3)
    assert writes(loop)[-1] == 7  # the loop's floor again, after the hour
    if restart == "after the write that followed":
        loop = restarted(loop)
    run(loop, clock, 5)
    set_min(loop, web, 2)
    run(loop, clock, 3)
    assert len([f for f in feedback(loop) if f[2] == "overridden"]) == 2
    assert hold() == 2 * QUIET_AFTER_OVERRIDE
    model = loop.models[web.ref]
    assert model.overrides == 2 and "no floor is written for 120 min" in str(model.quiet_why)


def test_a_replica_that_leads_again_takes_up_the_overrides_counted_meanwhile() -> None:
    """A counts the first override of its 7 and loses the lease; B, leading meanwhile,
    writes the 7 again after the hour and counts the second override (two hours); A
    leads again. A read the count back only once in its life, so it went on from its own
    1: its next write carried 1 over B's 2, and the third override of the row was held
    two hours again instead of four. A record another replica wrote since is read back
    with its count."""
    a, clock, web = raised(48, 5 * 60 + 10, **SEVEN)
    ledger = cast(Any, a.decisions).ledger
    t, values = steady(48, 5 * 60 + 10)
    b = loop_over(WeekReader(t, values), clock, [web], route="auto")
    b.decisions, b.cluster = a.decisions, a.cluster  # one ledger, one cluster

    def hold() -> float:  # the length of the hold the ledger has for the last override
        record, _ = ledger.guard(f"{WRITTEN_KEY}/{web.ref}")
        return float(record["quiet_until"] - record["overridden_at"])

    set_min(a, web, 2)
    run(a, clock, 3)
    assert hold() == QUIET_AFTER_OVERRIDE and a.models[web.ref].overrides == 1
    run(b, clock, QUIET_AFTER_OVERRIDE / STEP + 8)  # B leads: writes the 7 after the hour
    assert writes(b) == [7]
    set_min(b, web, 3)
    run(b, clock, 3)
    assert hold() == 2 * QUIET_AFTER_OVERRIDE and b.models[web.ref].overrides == 2
    run(a, clock, 2 * QUIET_AFTER_OVERRIDE / STEP + 8)  # A leads again: B's hold kept
    assert writes(a) == [7, 7]
    set_min(a, web, 2)
    run(a, clock, 3)
    assert hold() == 4 * QUIET_AFTER_OVERRIDE
    assert a.models[web.ref].overrides == 3


def test_a_replica_that_leads_again_keeps_the_hold_the_leader_set_meanwhile() -> None:
    """As above, but the person sets the same 2 again. A, leading again (a new term),
    took the record it kept in memory for the ledger's: its own hour, long over, for the
    hold B set; the 2 it had seen before did not send it back to the ledger, so it wrote
    its 7 over the person's 2 in the middle of B's two hours. A new leadership term reads
    the written floors from the ledger again."""
    a, clock, web = raised(48, 5 * 60 + 10, **SEVEN)
    ledger = cast(Any, a.decisions).ledger
    t, values = steady(48, 5 * 60 + 10)
    b = loop_over(WeekReader(t, values), clock, [web], route="auto")
    b.decisions, b.cluster = a.decisions, a.cluster  # one ledger, one cluster
    term = [1]
    a.leader_term = lambda: term[0]
    set_min(a, web, 2)
    run(a, clock, 3)
    run(b, clock, QUIET_AFTER_OVERRIDE / STEP + 8)  # B leads: writes the 7 after the hour
    assert writes(b) == [7]
    set_min(b, web, 2)  # overridden again, to the same 2
    run(b, clock, 3)
    record, _ = ledger.guard(f"{WRITTEN_KEY}/{web.ref}")
    assert record["quiet_until"] - record["overridden_at"] == 2 * QUIET_AFTER_OVERRIDE
    said = len(feedback(a))
    term[0] = 2  # A leads again
    run(a, clock, 30)
    assert writes(a) == [7]  # the person's 2 stands through B's two hours
    assert feedback(a)[said:] == []  # and their override is not said again
    model = a.models[web.ref]
    assert model.quiet_until == record["quiet_until"] and model.overrides == 2
    assert a.status.held_reason[str(web.ref)] == "Overridden"


def test_an_override_is_honoured_by_the_next_leader() -> None:
    """The quiet hour is in the ledger: a new leader does not write over the person's
    value the minute it takes over, nor say the override again."""
    loop, clock, web = raised(42, 80 + 60, **SEVEN)
    set_min(loop, web, 3)
    run(loop, clock, 3)
    assert writes(loop) == [7]
    t, values = steady(42, 80 + 60)
    successor = loop_over(WeekReader(t, values), clock, [web], route="auto")
    successor.decisions = loop.decisions  # one ledger
    cast(Any, successor.cluster).hpas = cast(Any, loop.cluster).hpas
    run(successor, clock, 30)
    assert writes(successor) == []
    assert len([f for f in feedback(loop) if f[2] == "overridden"]) == 1
    run(successor, clock, QUIET_AFTER_OVERRIDE / STEP)
    assert writes(successor) == [7]  # after the hour, the loop's floor again


def test_a_lowered_maximum_caps_the_floor_written_after_the_override() -> None:
    """GitOps applies minReplicas 2 and maxReplicas 5 (the API server refuses a maximum
    below the minimum, so the two come together) while the loop holds 7. After the
    quiet hour the loop's floor is capped at 5, never above the new maximum."""
    loop, clock, web = raised(43)
    hpas = cast(Any, loop.cluster).hpas
    hpas[web.ref] = dataclasses.replace(hpas[web.ref], min_replicas=2, max_replicas=5)
    run(loop, clock, 70)
    assert writes(loop) == [7, 5]


def test_a_floors_floor_above_a_lowered_maximum_holds_and_says_so() -> None:
    loop, clock, web = raised(44, **SEVEN)
    hpas = cast(Any, loop.cluster).hpas
    hpas[web.ref] = dataclasses.replace(hpas[web.ref], min_replicas=2, max_replicas=5)
    run(loop, clock, 70)
    assert writes(loop) == [7]
    assert f"{MIN_REPLICAS}=7 is above the maxReplicas 5" in loop.status.held[str(web.ref)]


# ------------------------------------------------ the cluster refuses the write


REFUSALS = {
    "Forbidden": "Autonomic is not allowed to patch horizontalpodautoscalers 'web' "
    "(API group autoscaling) in namespace 'shop'. Grant verb 'patch' ...",
    "NotFound": "could not read HorizontalPodAutoscaler/shop/web before writing: it no "
    "longer exists",
    "Invalid": "the API server rejected patch horizontalpodautoscalers 'web': "
    "spec.minReplicas: Invalid value: 7: must be less than or equal to maxReplicas",
    "Conflict": "set_hpa_min_replicas on HorizontalPodAutoscaler/shop/web: the object kept "
    "changing under us (409 Conflict 4 times); try again later",
}


@pytest.mark.parametrize("reason", sorted(REFUSALS))
def test_a_refused_write_is_said_failed_and_tried_again_later_not_every_cycle(
    reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A write the cluster refuses used to leave the decision failed with "(failed)" as
    its only word, nothing in the log or the status, and a new decision and write every
    other cycle for as long as it lasted."""
    t, values = steady(45)
    clock = FakeClock(float(t[-80]))
    web = workload("web", **{CAPACITY: "10"})
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    cast(Any, loop.cluster).hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 3, 3, uid="u1")
    executor = cast(Any, loop.executor)
    refuse = [True]
    tried: list[float] = []

    def apply(key: str, step: int, operation: Any, **kwargs: Any) -> Any:
        executor.applied.append(operation)
        tried.append(clock.now())
        if refuse[0]:
            return SimpleNamespace(status="failed", message=REFUSALS[reason], reason=reason)
        return StepOutcome("applied", "")

    executor.apply = apply
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        run(loop, clock, 20, land=False)
    assert len(executor.applied) == 3  # at 0, 5 and 15 minutes: backing off, not each cycle
    said = [r.getMessage() for r in caplog.records if "not written" in r.getMessage()]
    assert len(said) == 3 and all(REFUSALS[reason] in line for line in said)
    assert f"minReplicas 2 -> 7 not written ({reason})" in said[0]
    # each says until when: 5 and 10 minutes after the first two tries
    assert f"no new try for 5 min, until {_utc(tried[0] + 300)}" in said[0]
    assert f"no new try for 10 min, until {_utc(tried[1] + 600)}" in said[1]
    assert REFUSALS[reason] in loop.status.held[str(web.ref)]
    decisions = cast(Any, loop.decisions)
    assert decisions.ledger.records["d-1"].status == "failed"
    assert ("d-1", "execution", "failed") in decisions.ledger.feedback
    (text,) = [text for d, text, final in decisions.progressed if d == "d-1"]
    assert REFUSALS[reason] in text
    refuse[0] = False  # RBAC granted, the HPA fixed
    run(loop, clock, 40)
    assert len(executor.applied) == 4  # tried once more after 20 minutes, and written
    assert loop.models[web.ref].failures == 0
    assert str(web.ref) not in loop.status.held


def test_a_refused_write_keeps_its_why_though_the_ledger_fails_midway(tmp_path: Any) -> None:
    """On the SQLite ledger: the cluster refuses the write (RBAC), and the ledger goes
    away right after the decision is closed ``failed``. The closing and its
    ``execution`` row, with why, were two transactions: the decision stayed failed with
    no why for ``autonomic explain``, and nothing came back to it. One transaction now."""
    t, values = steady(46)
    clock = FakeClock(float(t[-80]))
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    try:
        web = workload("web", **{CAPACITY: "10"})
        loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
        loop.decisions = inline_service(ledger, clock, RoutingSettings())
        cast(Any, loop.cluster).hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 3, 3, uid="u1")
        executor = cast(Any, loop.executor)

        def refused(key: str, step: int, operation: Any, **kwargs: Any) -> Any:
            executor.applied.append(operation)
            return SimpleNamespace(
                status="failed", message=REFUSALS["Forbidden"], reason="Forbidden"
            )

        executor.apply = refused
        gone = GoneAfterClosing(ledger, "failed")
        with contextlib.suppress(TransientError):  # the cycle's next write, if any
            run(loop, clock, 1, land=False)
        assert gone.happened  # closed, and the ledger went away after it
        gone.back()
        run(loop, clock, 2, land=False)
        (decision,) = [d for d in ledger.decisions(kind="scaling") if d.status == "failed"]
        rows = [r for r in ledger.feedback_for(decision.id) if r["kind"] == "execution"]
        assert [(r["outcome"], r["detail"]["reason"]) for r in rows] == [("failed", "Forbidden")]
        assert REFUSALS["Forbidden"] in rows[0]["detail"]["why"]
    finally:
        ledger.close()


@pytest.mark.parametrize("status", ["not_leader", "stopping"])
def test_a_write_this_replica_may_no_longer_make_leaves_the_decision_for_the_leader(
    status: str,
) -> None:
    """The lease lost (or a shutdown begun) between the decision and its write: nothing
    was refused, so the decision stays approved for the leader that follows it up (and
    for this process when it leads again), with no failure said or counted. It was
    closed ``failed``, an approval a person gave lost, and a new leader following it up
    could write a floor whose decision said "failed"."""
    t, values = steady(45)
    clock = FakeClock(float(t[-80]))
    web = workload("web", **{CAPACITY: "10"})
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    cast(Any, loop.cluster).hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 3, 3, uid="u1")
    executor = cast(Any, loop.executor)
    leading = [False]

    def apply(key: str, step: int, operation: Any, **kwargs: Any) -> Any:
        if not leading[0]:
            return SimpleNamespace(status=status, message="not this replica's", reason=None)
        executor.applied.append(operation)
        return StepOutcome("applied", "")

    executor.apply = apply
    run(loop, clock, 1, land=False)
    decisions = cast(Any, loop.decisions)
    assert decisions.ledger.records["d-1"].status == "approved"
    assert not [f for f in decisions.ledger.feedback if f[0] == "d-1"]
    assert not [d for d, _, final in decisions.progressed if d == "d-1" and final]
    assert loop.models[web.ref].failures == 0 and str(web.ref) not in loop.status.held
    leading[0] = True  # it leads again: the same decision is carried out
    run(loop, clock, 1)
    assert [op.min_replicas for op in executor.applied] == [7]
    assert decisions.ledger.records["d-1"].status == "verifying"


# ------------------------------------------------ two replicas, one leader at a time


def test_a_change_of_leader_keeps_the_floor_and_judges_it_once() -> None:
    """A raises the floor to 7 and loses the lease; B neither writes it again nor
    restores it, and judges A's floor. B lowers it to 5 (the annotation changed); A
    leads again with its memory from before: it writes nothing, does not judge the floor
    B judged, and when the workload opts out gives the owner's 2 back. A used to
    remember its own 7 as the floor it wrote, take B's 5 for a person's, and leave it."""
    a, clock, web = raised(46, **SEVEN)
    t, values = steady(46)
    b = loop_over(WeekReader(t, values), clock, [web], route="auto")
    b.decisions = a.decisions  # one ledger
    cast(Any, b.cluster).hpas = cast(Any, a.cluster).hpas
    run(b, clock, 15)
    assert writes(b) == []  # kept, not restored or applied again
    ledger = cast(Any, a.decisions).ledger
    assert ledger.records["d-1"].status != "verifying"  # judged by B
    judged = len(ledger.feedback)
    lowered = dataclasses.replace(web, annotations={**web.annotations, MIN_REPLICAS: "5"})
    cast(Any, b.cluster).workloads = [lowered]
    run(b, clock, 8)
    assert writes(b) == [5]
    cast(Any, a.cluster).workloads = [lowered]
    run(a, clock, 3)  # A leads again
    assert writes(a) == [7]
    assert not any(f[0] == "d-1" for f in ledger.feedback[judged:])  # not judged twice
    cast(Any, a.cluster).workloads = [dataclasses.replace(lowered, labels={})]
    run(a, clock, 2)
    assert writes(a) == [7, 2]  # the owner's minimum back


# ------------------------------------------------ the workload deleted


def test_a_workload_deleted_while_its_floor_is_raised() -> None:
    """A Deployment gone from the listing is not taken for one that opted out: a listing
    that misses workloads (a namespace filter, a cache not synced) must not give every
    floor back at once. The HPA keeps the floor while the Deployment is away; a
    Deployment created again without the opt-in gets the owner's minimum back."""
    loop, clock, web = raised(47)
    cluster = cast(Any, loop.cluster)
    cluster.workloads = []
    run(loop, clock, 10)
    assert writes(loop) == [7]
    assert str(web.ref) not in loop.status.reactive  # no stale status
    cluster.workloads = [dataclasses.replace(web, labels={})]
    run(loop, clock, 2)
    assert writes(loop) == [7, 2]
    (released,) = cast(Any, loop.decisions).proposals[-1:]
    assert released.reason_code == "OptedOut"


# ------------------------------------------------ the load read unusable


class StaleReader(WeekReader):
    """Serves the load up to ``until`` only: the newest sample grows older each cycle."""

    def __init__(self, t: Any, values: Any, until: float) -> None:
        super().__init__(t, values)
        self.until = until

    def range(self, query: str, start: float, end: float, step: float, now: float) -> list[Any]:
        (found,) = super().range(query, start, min(end, self.until), step, now)
        return [dataclasses.replace(found, stale=now - self.until > 300)]


def test_stale_load_holds_the_floor_and_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    """The load's exporter stops (or its recording rule breaks) with a floor raised: the
    floor stays, up and down, and the hold is said once, not once a minute with the
    sample's age in it."""
    loop, clock, web = raised(49, 80)
    t, values = steady(49, 80)
    surge = values.copy()
    surge[-75:] = 500.0  # ten times the load, seen only when stale
    # Two samples after the last cycle's, then none: read ten minutes later, and on.
    loop.reader = StaleReader(t, surge, clock.now() + 60)
    clock.advance(10 * STEP)
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        run(loop, clock, 15)
    assert writes(loop) == [7]
    assert len(cast(Any, loop.decisions).proposals) == 1
    held = loop.status.held[str(web.ref)]
    assert "no load sample since " in held and "a gap in the load series" in held
    assert sum("a gap in the load series" in r.getMessage() for r in caplog.records) == 1


def test_the_end_of_a_hold_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    """Prometheus back after a hold: the log says the workload is decided for again,
    once, so the warning that it was held is not the last word an operator reads."""
    loop, clock, web = raised(49, 80)
    t, values = steady(49, 80)
    loop.reader = StaleReader(t, values, clock.now() + 60)
    clock.advance(10 * STEP)
    run(loop, clock, 3)
    assert str(web.ref) in loop.status.held
    loop.reader = WeekReader(t, values)
    with caplog.at_level(logging.INFO, logger="autonomic.scaling"):
        run(loop, clock, 5)
    assert str(web.ref) not in loop.status.held
    said = [r.getMessage() for r in caplog.records if "no longer held" in r.getMessage()]
    assert said == [f"scaling {web.ref} no longer held: deciding from the load again"]


class GapReader(WeekReader):
    """As ``PrometheusReader`` answers a range query over a gap in the series: the missing
    steps are NaN, the newest finite sample is ``last_sample_at``, stale when it is older
    than 300 s; and a range with no sample at all is no series (Prometheus leaves a
    series out of a range result where it has no point: a real server answers so, a
    test against one checks)."""

    def range(self, query: str, start: float, end: float, step: float, now: float) -> list[Any]:
        (found,) = super().range(query, start, end, step, now)
        values = found.series.values
        finite = np.flatnonzero(np.isfinite(values))
        if not finite.size:
            return []
        last = float(found.series.timestamps[finite[-1]])
        return [dataclasses.replace(found, last_sample_at=last, stale=now - last > 300)]


def gap_run(gap: int, caplog: pytest.LogCaptureFixture) -> tuple[ScalingLoop, Any, list[str]]:
    """The floor raised to 7, then ``gap`` minutes without a sample, then samples again
    (10 minutes of them): what the log said, by the scaling loop."""
    loop, clock, web = raised(52, 80)
    t, values = steady(52, 80)
    missing = values.copy()
    begins = int(np.searchsorted(t, clock.now())) + 2
    missing[begins : begins + gap] = np.nan
    loop.reader = GapReader(t, missing)
    with caplog.at_level(logging.INFO, logger="autonomic.scaling"):
        run(loop, clock, gap + 12)
    return loop, web, [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("gap", [1, 4])
def test_a_gap_shorter_than_stale_after_is_read_past(
    gap: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A missing minute used to hold the workload (read since the last cycle, it had no
    sample: "every sample missing") and log it, then "no longer held" the next minute.
    A gap shorter than ``prometheus.staleAfter`` is read past: the newest sample is the
    load."""
    loop, web, said = gap_run(gap, caplog)
    assert not [line for line in said if "held" in line]
    assert str(web.ref) not in loop.status.held
    assert writes(loop) == [7]  # the floor stays: nothing taken for a load of zero


def test_a_long_gap_holds_and_is_said_as_a_gap_with_its_length(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop, web, said = gap_run(30, caplog)
    held = [line for line in said if "held: no load sample since" in line]
    assert len(held) == 1 and "a gap in the load series" in held[0]
    assert "not a load of zero" in held[0] and "(6 min ago, more than" in held[0]
    assert re.search(f"no load sample since {UTC_TEXT} \\(6 min ago", held[0]), held[0]
    back = [line for line in said if "no longer held" in line]
    assert len(back) == 1 and "load samples again after a gap of 30 min (none from " in back[0]
    assert re.search(f"\\(none from {UTC_TEXT} to {UTC_TEXT}\\); deciding", back[0]), back[0]
    assert str(web.ref) not in loop.status.held
    assert writes(loop) == [7]


def test_giving_the_minimum_back_is_tried_again_when_refused() -> None:
    """The write that gives the owner's minimum back is refused (RBAC): it used to be
    tried once and the floor left raised for good."""
    loop, clock, web = raised(50)
    executor = cast(Any, loop.executor)
    refuse = [True]
    recorded = executor.apply

    def apply(key: str, step: int, operation: Any, **kwargs: Any) -> Any:
        if refuse[0]:
            executor.applied.append(operation)
            return SimpleNamespace(status="failed", message="forbidden", reason="Forbidden")
        return recorded(key, step, operation, **kwargs)

    executor.apply = apply
    cast(Any, loop.cluster).workloads = [dataclasses.replace(web, labels={})]
    run(loop, clock, 3, land=False)
    assert writes(loop) == [7, 2]  # refused
    refuse[0] = False
    run(loop, clock, RETRY_AFTER_FAILURE / STEP)
    assert writes(loop) == [7, 2, 2]
    assert cast(Any, loop.cluster).hpas[web.ref].min_replicas == 2


# ------------------------------------------------ without an HPA: the replicas


def scaled(seed: int, minutes: int = 80) -> tuple[ScalingLoop, FakeClock, Any]:
    """A loop that set web's replicas (no HPA) from 3 to 7, seen by the next listing."""
    t, values = steady(seed, minutes)
    clock = FakeClock(float(t[-minutes]))
    web = workload("web", **SEVEN)
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    run(loop, clock, 3)
    assert replicas_written(loop) == [7]
    return loop, clock, web


def replicas_written(loop: ScalingLoop) -> list[int]:
    return [op.replicas for op in cast(Any, loop.executor).applied if isinstance(op, Scale)]


def set_replicas(loop: ScalingLoop, web: Any, value: int) -> None:
    cluster = cast(Any, loop.cluster)
    cluster.workloads = [dataclasses.replace(w, replicas=value) for w in cluster.workloads]


@pytest.mark.parametrize("found", [3, 12])
def test_replicas_someone_changed_are_theirs_for_an_hour_without_an_hpa(
    found: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Without an HPA the loop drives the replicas. ``kubectl scale`` to 3 (or to 12 for
    an incident) used to be fought: set back to 7 at once, or brought down five minutes
    later, a new decision each time and nothing said. Now it is an override, as on an
    HPA: said once, recorded against the write, quiet for the hour, kept in the ledger."""
    loop, clock, web = scaled(60, 80 + 70)
    set_replicas(loop, web, found)
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        run(loop, clock, 55)
    assert replicas_written(loop) == [7]  # theirs stands
    said = [r.getMessage() for r in caplog.records if "not the 7 Autonomic wrote" in r.getMessage()]
    assert len(said) == 1
    assert f"{web.ref} replicas is {found}" in said[0]
    until = _utc(loop.models[web.ref].quiet_until)
    assert f"the replicas are not set for 60 min, until {until}. " in said[0]
    assert "not the 7 Autonomic wrote" in loop.status.held[str(web.ref)]
    assert ("d-1", "execution", "overridden") in feedback(loop)
    ledger = cast(Any, loop.decisions).ledger
    (record, _) = ledger.guard(f"{WRITTEN_KEY}/{web.ref}")
    assert (record["field"], record["replicas"], record["found"]) == ("replicas", 7, found)
    assert len(cast(Any, loop.decisions).proposals) == 1  # no decision meanwhile
    run(loop, clock, 15)  # after the hour the loop decides again from what it finds
    assert replicas_written(loop) == [7, 7]


def test_replicas_an_hpa_leaves_behind_are_not_an_override() -> None:
    """The HPA is deleted after the loop raised its floor to 7; it had scaled web to 9.
    The replicas it left are not the minReplicas written, and nobody overrode anything:
    the loop drives the replicas from there without a word about an override."""
    loop, clock, web = raised(61)
    cast(Any, loop.cluster).hpas.clear()
    set_replicas(loop, web, 9)
    run(loop, clock, 10)
    assert not any(f[2] == "overridden" for f in feedback(loop))
    assert loop.models[web.ref].quiet_why is None
    assert replicas_written(loop) == [7]  # brought from 9 to the floor after the patience


def test_an_hpa_created_after_a_replicas_write_is_not_an_override() -> None:
    """The loop set the replicas to 7; then an HPA (minReplicas 2) is created and scales
    web to 4: the HPA moves the replicas, and the loop raises its floor, no override."""
    loop, clock, web = scaled(62)
    hpas = cast(Any, loop.cluster).hpas
    hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 4, 4, uid="u1")
    set_replicas(loop, web, 4)
    run(loop, clock, 5)
    assert not any(f[2] == "overridden" for f in feedback(loop))
    assert writes_to_hpa(loop) == [7]


@pytest.mark.parametrize("uid", ["w1", "w2"], ids=["same-object", "created-again"])
def test_a_workload_deleted_and_created_again_is_not_an_override(uid: str) -> None:
    """The loop set web's replicas to 7; then web shows 2. The same object (uid w1)
    was scaled by someone: an override, theirs for the hour. A Deployment deleted and
    created again (uid w2) starts from its owner's replicas: nobody overrode the loop,
    and it is scaled to what the forecast needs without a word about an override."""
    t, values = steady(63, 80)
    clock = FakeClock(float(t[-80]))
    web = dataclasses.replace(workload("web", **SEVEN), uid="w1")
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    run(loop, clock, 3)
    assert replicas_written(loop) == [7]
    cluster = cast(Any, loop.cluster)
    cluster.workloads = [dataclasses.replace(w, replicas=2, uid=uid) for w in cluster.workloads]
    run(loop, clock, 10)
    overridden = any(f[2] == "overridden" for f in feedback(loop))
    if uid == "w1":
        assert overridden and replicas_written(loop) == [7]
    else:
        assert not overridden and loop.models[web.ref].quiet_why is None
        assert replicas_written(loop) == [7, 7]


def writes_to_hpa(loop: ScalingLoop) -> list[int]:
    applied = cast(Any, loop.executor).applied
    return [op.min_replicas for op in applied if isinstance(op, SetHpaMinReplicas)]


# ------------------------------------------------ what is kept of workloads gone


def test_a_deleted_workload_is_forgotten_after_a_while_not_at_one_listing_that_misses_it() -> None:
    """A long-running daemon used to keep the model (a fitted profile, its recent load,
    its estimates) and the hold of every workload it ever saw. A workload gone from the
    listings for ``FORGET_AFTER`` is dropped; one listing that misses it drops nothing
    (the model is kept, not refitted when it comes back), and its floor stays."""
    loop, clock, web = raised(63)
    bad = workload("bad", **{CAPACITY: "lots"})  # held, with no model
    cluster, reader = cast(Any, loop.cluster), cast(Any, loop.reader)
    cluster.workloads = [web, bad]
    run(loop, clock, 1)
    assert "not a positive number" in loop.status.held[str(bad.ref)]
    model, reads = loop.models[web.ref], len(reader.reads)
    cluster.workloads = []  # a listing that misses them
    run(loop, clock, 1)
    cluster.workloads = [web, bad]
    run(loop, clock, 2)
    assert loop.models[web.ref] is model
    assert all(end - start <= 3 * STEP for start, end in reader.reads[reads:])  # no refit
    cluster.workloads = []  # deleted
    run(loop, clock, FORGET_AFTER / STEP - 1)
    assert web.ref in loop.models and str(bad.ref) in loop.status.held
    run(loop, clock, 2)
    assert loop.models == {} and loop.status.held == {}
    assert loop._said == {} and loop._out_since == {}
    assert writes(loop) == [7]  # a deleted workload's floor is not given back


def test_a_workload_that_left_is_forgotten_once_its_floor_is_back() -> None:
    """A workload that left keeps its model while its floor is being given back (here
    while scaling is paused, for longer than ``FORGET_AFTER``); once that is done and
    it has been out for ``FORGET_AFTER``, the model goes, and the next look for
    workloads that left does not take it up again."""
    loop, clock, web = raised(64)
    pause: list[str] = ["safety.paused"]
    loop.paused = lambda: pause[0] if pause else None
    cast(Any, loop.cluster).workloads = [dataclasses.replace(web, labels={})]
    run(loop, clock, FORGET_AFTER / STEP + 5)
    assert web.ref in loop.models and writes(loop) == [7]  # still to be given back
    pause.clear()
    run(loop, clock, 2)
    assert writes(loop) == [7, 2]
    assert web.ref not in loop.models  # out for long enough, and settled
    run(loop, clock, ADOPT_EVERY + 1)  # the next look for workloads that left
    assert web.ref not in loop.models and writes(loop) == [7, 2]


class DownReader(WeekReader):
    """The load as ``WeekReader`` serves it until ``down``; then Prometheus is down, and
    every read fails as the adapter says it."""

    down = False

    def range(self, query: str, start: float, end: float, step: float, now: float) -> list[Any]:
        if self.down:
            raise TransientError(
                "cannot connect to Prometheus at http://prom:9090", reason="PrometheusDown"
            )
        return super().range(query, start, end, step, now)


def test_a_floor_judged_while_prometheus_is_down_says_so() -> None:
    """Prometheus down from the cycle a raised floor is written through its whole
    verification window: the floor is unverified, and that said "no usable load
    sample", as for a metric gone missing."""
    t, values = steady(48)
    clock = FakeClock(float(t[-80]))
    web = workload("web", **{CAPACITY: "10"})
    reader = DownReader(t, values)
    loop = loop_over(reader, clock, [web], route="auto")
    cast(Any, loop.cluster).hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 3, 3, uid="u1")
    for _ in range(5):
        run(loop, clock, 1)
        if writes(loop):
            break
    assert writes(loop) == [7]
    reader.down = True
    run(loop, clock, 20)
    assert cast(Any, loop.decisions).ledger.records["d-1"].status == "done"
    (said,) = [text for _, text, final in cast(Any, loop.decisions).progressed if final]
    assert said == (
        "unverified: no usable load sample in the verification window: the load could not "
        "be read (cannot connect to Prometheus at http://prom:9090)"
    )
    assert loop.status.held_reason[str(web.ref)] == "ReadFailed"


class RestartingReader(WeekReader):
    """Prometheus restarting: every read fails, for a reason that changes."""

    failure = "cannot connect to Prometheus at http://prometheus:9090"

    def range(self, query: str, start: float, end: float, step: float, now: float) -> list[Any]:
        raise TransientError(self.failure, reason="PrometheusDown")


def test_reads_failing_for_changing_reasons_hold_the_floor_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Half an hour of refused reads and timeouts by turns: the workload is held, its
    hold (with the last error, for ``GET /scaling``) said once, not at every change of
    the error's words; and once that it is decided for again."""
    loop, clock, web = raised(49, 80)
    t, values = steady(49, 80)
    down = RestartingReader(t, values)
    loop.reader = down
    with caplog.at_level(logging.INFO, logger="autonomic.scaling"):
        for i in range(30):
            down.failure = (
                "cannot connect to Prometheus at http://prometheus:9090",
                "Prometheus at http://prometheus:9090 did not answer within 10 s",
            )[i // 4 % 2]
            run(loop, clock, 1)
        assert loop.status.held[str(web.ref)] == down.failure
        loop.reader = WeekReader(t, values)
        run(loop, clock, 2)
    said = [r.getMessage() for r in caplog.records if str(web.ref) in r.getMessage()]
    assert said == [
        f"scaling {web.ref} held: cannot connect to Prometheus at http://prometheus:9090",
        f"scaling {web.ref} no longer held: deciding from the load again",
    ]
    assert writes(loop) == [7]


@pytest.mark.parametrize("changed", ["after", "before"])
def test_replicas_set_by_someone_after_the_hpa_went_are_theirs(
    changed: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An incident: the HPA is deleted and someone scales web to 30 by hand. The loop
    had written only the HPA's minReplicas, so nothing it wrote was overridden, and it
    used to take the 30 for what the HPA left: brought down to 7 five minutes later, in
    the middle of the incident. Now a workload changed by someone (managedFields) after
    the loop last saw its HPA is theirs for the hour, said once; then the loop drives
    the replicas, down from the person's 30 at the scale-in pace (it used to pace from
    its own 7 and write 30 -> 7 at once). A change from before the HPA went (seen with
    it) is no such statement."""
    loop, clock, web = raised(64)
    seen_at = clock.now() - STEP  # the cycle that last saw the HPA
    cluster = cast(Any, loop.cluster)
    at = seen_at + 30 if changed == "after" else seen_at - 3600
    if changed == "before":  # the workload carried it while the loop saw the HPA
        cluster.workloads = [
            dataclasses.replace(w, managed_by_human_at=at) for w in cluster.workloads
        ]
        run(loop, clock, 1)
    cluster.hpas.clear()
    cluster.workloads = [
        dataclasses.replace(w, replicas=30, managed_by_human_at=at) for w in cluster.workloads
    ]
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        run(loop, clock, 10)
    if changed == "before":
        assert replicas_written(loop) == [7]
        return
    assert replicas_written(loop) == []
    said = [r.getMessage() for r in caplog.records if "is gone" in r.getMessage()]
    assert len(said) == 1
    assert said[0].startswith(
        f"scaling {web.ref}: {HPA}, which scaled {web.ref}, is gone, and {web.ref} was "
        f"changed by someone since ({_utc(at)}; replicas 30): theirs stands: the replicas "
        "are not set for 60 min, until "
    )
    assert "is gone" in loop.status.held[str(web.ref)]
    run(loop, clock, 55)  # the hour over: the loop drives the replicas again
    written = replicas_written(loop)
    assert written and paced(30, SCALE_IN_PATIENCE) <= written[0] < 30  # 19, not 7


def test_replicas_set_by_someone_after_the_hpa_went_stay_theirs_under_a_new_leader() -> None:
    """The hold ``_taken_over`` sets is in the ledger: a new leader (which never saw the
    HPA) does not set the replicas over the person's 30 the minute it takes over; after
    the hour it drives them, down from the person's 30 at the scale-in pace: the hour
    waited earns no drop (its cycles used to pace the wish down unwritten, and the first
    write after the hour took 30 to 7 at once)."""
    loop, clock, web = raised(64, 80 + 60)
    seen_at = clock.now() - STEP
    cluster = cast(Any, loop.cluster)
    cluster.hpas.clear()
    cluster.workloads = [
        dataclasses.replace(w, replicas=30, managed_by_human_at=seen_at + 30)
        for w in cluster.workloads
    ]
    run(loop, clock, 3)
    assert "is gone" in loop.status.held[str(web.ref)]
    t, values = steady(64, 80 + 60)
    successor = loop_over(WeekReader(t, values), clock, [web], route="auto")
    successor.decisions = loop.decisions  # one ledger
    cast(Any, successor.cluster).hpas = cluster.hpas
    cast(Any, successor.cluster).workloads = cluster.workloads
    run(successor, clock, 10)
    assert replicas_written(successor) == []
    assert "is gone" in successor.status.held[str(web.ref)]
    run(successor, clock, 60)  # the hour over
    written = replicas_written(successor)
    assert written and paced(30, SCALE_IN_PATIENCE) <= written[0] < 30  # 19, not 7


@pytest.mark.parametrize("api_server_ahead", [-300.0, 300.0])
def test_replicas_set_after_the_hpa_went_are_judged_on_the_api_servers_clock(
    api_server_ahead: float,
) -> None:
    """managedFields times come from the API server's clock, not the daemon's. With the
    API server 5 minutes behind, the person's scale to 30 right after the HPA went
    was dated before the cycle that last saw the HPA: not theirs, brought down to 7 mid-
    incident. With it 5 minutes ahead, a change from while the HPA was there (seen with
    it) was dated after that cycle: an hour's hold for nothing. "Since" is judged
    against the change time the loop read while it saw the HPA, on the one clock."""
    loop, clock, web = raised(64)
    cluster = cast(Any, loop.cluster)
    # A change made (daemon time) a minute before the cycle that last sees the HPA.
    before = clock.now() - STEP + api_server_ahead
    cluster.workloads = [
        dataclasses.replace(w, managed_by_human_at=before) for w in cluster.workloads
    ]
    run(loop, clock, 1)  # the HPA seen, with that change
    seen_at = clock.now() - STEP
    cluster.hpas.clear()
    if api_server_ahead < 0:  # scaled by hand 30 s after that cycle, daemon time
        at = seen_at + 30 + api_server_ahead
        cluster.workloads = [
            dataclasses.replace(w, replicas=30, managed_by_human_at=at) for w in cluster.workloads
        ]
        run(loop, clock, 10)
        assert replicas_written(loop) == []
        assert "is gone" in loop.status.held[str(web.ref)]
    else:  # nothing changed since the HPA went: the replicas it left are taken up
        run(loop, clock, 10)
        assert replicas_written(loop) == [7]


def new_leader_after_the_hpa_went(
    seed: int,
    changed_at: Any,
    *,
    shared: bool = True,
    route: str = "auto",
    minutes: int = 140,
    seen_change: Any = None,
) -> tuple[ScalingLoop, FakeClock, Any]:
    """A leader saw web's HPA and raised its floor to 7 (``raised``, or with ``route``
    "ask" only asked to), then stepped down; the HPA is deleted and web has 30 replicas,
    its last change by someone (managedFields) at ``changed_at(when the floor was
    decided, now)``. While the first leader ran, that last change was
    ``seen_change(start)`` (None: none). The new leader never saw the HPA; it shares the
    first one's ledger unless not ``shared``. A question (``route`` "ask") was answered
    no: it is not followed up."""
    t, values = steady(seed, minutes)
    clock = FakeClock(float(t[-minutes]))
    web = dataclasses.replace(
        workload("web", **{CAPACITY: "10"}),
        uid="w1",
        managed_by_human_at=seen_change(clock.now()) if seen_change is not None else None,
    )
    loop = loop_over(WeekReader(t, values), clock, [web], route=route)
    cast(Any, loop.cluster).hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 3, 3, uid="u1")
    run(loop, clock, 5)
    ledger = cast(Any, loop.decisions).ledger
    assert [r.proposal["to"] for r in ledger.records.values()] == [7]
    first = next(iter(ledger.records.values()))
    first.status = "rejected" if route == "ask" else first.status  # the on-call said no
    decided = first.created_at
    changed = dataclasses.replace(
        web, replicas=30, managed_by_human_at=changed_at(decided, clock.now())
    )
    successor = loop_over(WeekReader(t, values), clock, [changed], route=route)
    if shared:
        successor.decisions = loop.decisions  # one ledger
    return successor, clock, web


def brought_down(loop: ScalingLoop) -> bool:
    """Whether the loop has set the 30 replicas lower (the first step of the scale-in)."""
    written = replicas_written(loop)
    return bool(written) and written[0] < 30


def held_for(loop: ScalingLoop, web: Any) -> str:
    return loop.status.held.get(str(web.ref), "")


@pytest.mark.parametrize("source", ["write", "question"])
def test_a_new_leader_that_never_saw_the_hpa_leaves_replicas_set_since_alone(
    source: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The HPA deleted and web scaled to 30 by hand, and the leader changes meanwhile: the
    new one never saw the HPA, and used to take the 30 for what the HPA left and bring
    it down to 7 at once. The ledger knows better: the loop's last floor went through
    the HPA (written, or only asked about), and web was changed by someone since. The
    30 is theirs for the hour after their change, said with where that comes from."""
    route = "auto" if source == "write" else "ask"
    successor, clock, web = new_leader_after_the_hpa_went(
        70, lambda decided, now: now - 30, route=route
    )
    asked = len(cast(Any, successor.decisions).proposals)
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        run(successor, clock, 10)
    assert replicas_written(successor) == []
    assert len(cast(Any, successor.decisions).proposals) == asked  # not asked either
    said = [r.getMessage() for r in caplog.records if "is gone" in r.getMessage()]
    assert len(said) == 1
    what = "wrote its floor" if source == "write" else "decided its floor"
    assert said[0].startswith(
        f"scaling {web.ref}: {HPA}, which scaled {web.ref} when Autonomic last {what} ("
    )
    assert "; from the ledger), is gone, and " in said[0]
    assert "replicas 30): theirs stands: the replicas are not set for 60 min, until " in said[0]
    assert said[0].endswith(held_for(successor, web))
    run(successor, clock, 60)  # the hour after the change over (and the scale-in's wait)
    if source == "write":
        assert brought_down(successor)
    else:
        (question,) = cast(Any, successor.decisions).proposals[asked:]
        assert (question.proposal["op"], question.proposal["from"]) == ("scale", 30)


@pytest.mark.parametrize("case", ["changed-before-the-floor", "no-history", "created-again"])
def test_a_new_leader_takes_up_the_replicas_the_hpa_left(case: str) -> None:
    """What the ledger does not show to be someone's is taken up at once, as before: a
    change from before the loop's last floor (the HPA was still there), a ledger with no
    floor for the workload, or a floor for another object of the same name (deleted and
    created again since: another uid)."""
    if case == "changed-before-the-floor":  # seen with the HPA, no change since
        successor, clock, web = new_leader_after_the_hpa_went(
            71, lambda decided, now: decided - 600, seen_change=lambda start: start - 600
        )
    else:
        successor, clock, web = new_leader_after_the_hpa_went(
            71, lambda decided, now: now - 30, shared=case != "no-history"
        )
    if case == "created-again":
        cluster = cast(Any, successor.cluster)
        cluster.workloads = [dataclasses.replace(w, uid="w2") for w in cluster.workloads]
    run(successor, clock, 8)  # brought down after the scale-in's five cycles
    assert brought_down(successor)
    assert "is gone" not in held_for(successor, web)


def test_a_change_more_than_an_hour_old_is_not_held_again() -> None:
    """The new leader comes long after the change (the HPA deleted and the replicas set
    two hours ago, and no leader since): their hour is over, and the replicas are taken
    up at once, not held for another."""
    successor, clock, _ = new_leader_after_the_hpa_went(
        72, lambda decided, now: decided + 60, minutes=200
    )
    clock.advance(2 * 3600)
    t, values = steady(72, 200)
    successor.reader = WeekReader(t, values)
    run(successor, clock, 8)
    assert brought_down(successor)


def test_a_floor_recorded_before_records_named_the_hpa_is_named_from_its_write() -> None:
    """Records an earlier release wrote name neither the HPA nor the workload's uid, nor
    its last change then: the HPA's name comes from the write's intent in the ledger,
    and a change is "since" when dated after the write (this process's clock)."""
    successor, clock, web = new_leader_after_the_hpa_went(73, lambda decided, now: now - 30)
    ledger = cast(Any, successor.decisions).ledger
    key = f"{WRITTEN_KEY}/{web.ref}"
    record, version = ledger.guards[key]
    added = ("hpa", "workload_uid", "workload_changed_at")
    old = {k: v for k, v in record.items() if k not in added}
    ledger.guards[key] = (old, version)
    for decision in ledger.records.values():
        decision.evidence = {k: v for k, v in decision.evidence.items() if k not in added}
    target = {"kind": HPA.kind, "name": HPA.name, "namespace": HPA.namespace}
    intent = SimpleNamespace(
        status="applied", operation={"op": "set_hpa_min_replicas", "target": target}
    )
    written = f"scaling/{web.ref}/{record['decision_id']}"
    ledger.intents = lambda *, execution_key=None: [intent] if execution_key == written else []
    run(successor, clock, 8)
    assert held_for(successor, web).startswith(f"{HPA}, which scaled {web.ref} when Autonomic ")
    assert replicas_written(successor) == []


def test_the_workloads_new_to_a_leader_are_one_read_of_their_history() -> None:
    """The ledger is asked for the last floor of every workload a new leader finds
    without an HPA in one query at its first cycle, not once per workload, and not at
    all in the cycles after."""
    t, values = steady(74, 80)
    clock = FakeClock(float(t[-80]))
    fleet = [workload(f"web-{i}", **{CAPACITY: "10"}) for i in range(30)]
    loop = loop_over(WeekReader(t, values), clock, fleet, route="auto")
    run(loop, clock, 3)
    reads = cast(Any, loop.decisions).ledger.latest_reads
    assert len(reads) == 1
    assert reads[0] == sorted(str(w.ref) for w in fleet)


def test_a_new_leader_reads_the_hpa_back_from_a_real_ledger(tmp_path: Any) -> None:
    """The same hand-over on the SQLite ledger and the decision service the daemon uses:
    the floor written through the HPA, the decision that names it, the one read of a
    cycle's history, and the hold kept for the leader after."""
    t, values = steady(75, 140)
    clock = FakeClock(float(t[-140]))
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    try:
        web = dataclasses.replace(workload("web", **{CAPACITY: "10"}), uid="w1")
        first = loop_over(WeekReader(t, values), clock, [web], route="auto")
        first.decisions = inline_service(ledger, clock, RoutingSettings())
        cast(Any, first.cluster).hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 3, 3, uid="u1")
        run(first, clock, 5)
        (floor,) = ledger.decisions(kind="scaling")
        assert floor.evidence["hpa"] == str(HPA) and floor.evidence["workload_uid"] == "w1"
        changed = dataclasses.replace(web, replicas=30, managed_by_human_at=clock.now() - 30)
        successor = loop_over(WeekReader(t, values), clock, [changed], route="auto")
        successor.decisions = first.decisions
        run(successor, clock, 10)
        assert replicas_written(successor) == []
        held = held_for(successor, web)
        assert held.startswith(f"{HPA}, which scaled {web.ref} when Autonomic last wrote ")
        assert f", decision {floor.id}; from the ledger), is gone" in held
        record, _ = ledger.guard(f"scaling/taken-over/{web.ref}")
        assert record["why"] == held  # a third leader keeps the hold too
    finally:
        ledger.close()


@pytest.mark.parametrize("api_server_ahead", [-300.0, 300.0])
def test_a_new_leader_judges_a_change_since_the_floor_on_the_api_servers_clock(
    api_server_ahead: float,
) -> None:
    """As for a leader that saw the HPA, the ledger's floor is compared with the change
    the loop read when it decided it, not with the daemon's clock. API server 5 minutes
    behind: the scale to 30 half a minute ago is dated before the floor by the daemon's
    clock, and would be taken up mid-incident; it is held. 5 minutes ahead: a change
    from a minute before the floor (read with it) is dated after it by the daemon's
    clock, and would be held for nothing; it is taken up."""
    if api_server_ahead < 0:
        successor, clock, web = new_leader_after_the_hpa_went(
            76, lambda decided, now: now - 30 + api_server_ahead
        )
        run(successor, clock, 8)
        assert replicas_written(successor) == []
        assert "is gone" in held_for(successor, web)
    else:
        successor, clock, web = new_leader_after_the_hpa_went(
            76,
            lambda decided, now: decided - 60 + api_server_ahead,
            seen_change=lambda start: start - 60 + api_server_ahead,
        )
        run(successor, clock, 8)
        assert brought_down(successor)


def test_a_change_dated_days_ahead_holds_the_replicas_an_hour_not_until_then() -> None:
    """The API server's clock two days ahead of the daemon's: the change to 30 that a new
    leader did not see is dated two days ahead (managedFields). Its hour was counted from
    that date, so the replicas were held for two days and an hour, and the hold kept in
    the ledger for a third leader outlived the row's day (``TAKEN_KEEP``): the hourly
    prune deleted it while it still held, and a leader after that went by its own
    reading again. The change happened before this leader looked: the hold ends at the
    latest an hour from now, and the ledger's record says the same."""
    successor, clock, web = new_leader_after_the_hpa_went(
        78, lambda decided, now: now + 2 * 86400.0
    )
    start = clock.now()
    run(successor, clock, 2)
    assert "is gone" in held_for(successor, web)
    ledger = cast(Any, successor.decisions).ledger
    record, _ = ledger.guard(f"{TAKEN_KEY}/{web.ref}")
    assert start < record["quiet_until"] <= start + QUIET_AFTER_OVERRIDE < start + TAKEN_KEEP
    assert replicas_written(successor) == []
    run(successor, clock, QUIET_AFTER_OVERRIDE / STEP)
    assert held_for(successor, web) == ""  # before: held until two days and an hour on
    run(successor, clock, 5)
    assert brought_down(successor)


@pytest.mark.parametrize("has_hpa", [True, False])
def test_a_new_process_brings_a_raised_floor_down_as_slowly_as_the_old_one_would(
    has_hpa: bool,
) -> None:
    """An earlier process (before a restart, or the last leader) raised web to 40; the
    load now needs about 14. The new process had no recommendation of its own to pace
    from, so its first lowering went from 40 to 14 in one write: the HPA (which keeps no
    memory of a floor) or, without one, the Deployment dropped 26 pods at once. It
    paces from the floor the cluster has, as the old process would have: at most 10 % a
    minute, after the usual five cycles."""
    t, values = steady(78)
    clock = FakeClock(float(t[-80]))
    web = dataclasses.replace(
        workload("web", **{CAPACITY: "5"}), replicas=40, ready_replicas=40, available_replicas=40
    )
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    ledger = cast(Any, loop.decisions).ledger
    before = {"at": clock.now() - 600, "decision_id": "d-0", "workload_uid": ""}
    if has_hpa:
        cast(Any, loop.cluster).hpas[web.ref] = HpaState(HPA, web.ref, 40, 100, 40, 40, uid="u1")
        ledger.guards[f"scaling/configured-min/{HPA}"] = ({"min_replicas": 2, "uid": "u1"}, 1)
        record = {**before, "min_replicas": 40, "hpa_uid": "u1", "hpa": str(HPA)}
    else:
        record = {**before, "field": "replicas", "replicas": 40}
    ledger.guards[f"{WRITTEN_KEY}/{web.ref}"] = (record, 1)
    run(loop, clock, SCALE_IN_PATIENCE + 3)
    written = writes(loop) if has_hpa else replicas_written(loop)
    assert written and written[0] < 40  # it does come down
    paced, pace = 40, PacingSettings(capacity_per_pod=5.0, lead_seconds=180.0)
    for _ in range(SCALE_IN_PATIENCE):
        paced -= scale_in_drop(paced, STEP, pace)
    assert written[0] >= paced  # 25, not 14


def test_a_floor_held_ten_minutes_comes_down_at_one_cycles_pace_after() -> None:
    """A floor raised to 40 by an earlier process; the load needs about 10. One cycle
    lowers the wish to 36, then Prometheus is down for ten minutes (the workload held,
    nothing decided). The first cycle back used to count the ten minutes as ten drops
    of 3 from 36, down to what the forecast allows at once; the load was not known
    while held, so it comes down as one cycle's would: 33."""
    t, values = steady(79)
    clock = FakeClock(float(t[-80]))
    web = dataclasses.replace(
        workload("web", **{CAPACITY: "5"}), replicas=40, ready_replicas=40, available_replicas=40
    )
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    cast(Any, loop.cluster).hpas[web.ref] = HpaState(HPA, web.ref, 40, 100, 40, 40, uid="u1")
    ledger = cast(Any, loop.decisions).ledger
    ledger.guards[f"scaling/configured-min/{HPA}"] = ({"min_replicas": 2, "uid": "u1"}, 1)
    run(loop, clock, 1)
    model = loop.models[web.ref]
    assert model.previous is not None and model.previous.floor == 36
    loop.reader = RestartingReader(t, values)
    run(loop, clock, 10)
    assert loop.status.held_reason[str(web.ref)] == "ReadFailed"
    loop.reader = WeekReader(t, values)
    run(loop, clock, 1)
    pace = PacingSettings(capacity_per_pod=5.0, lead_seconds=180.0)
    assert model.previous.floor == 36 - scale_in_drop(36, STEP, pace) == 33
    assert model.previous.reason == "ScaleInLimit"
    assert writes(loop) == []  # and written only after the usual five cycles


def test_after_a_gap_read_past_the_floor_still_covers_the_lead_ahead_of_now() -> None:
    """The forecast starts one step after the newest sample. With the last 4 minutes of
    the load missing (a gap shorter than ``staleAfter``, read past) the floor used to be
    sized from the 3 minutes of lead after that sample, which ended a minute ago: the
    daily jump at 09:00 the profile knows was left out at 08:59. The lead is counted
    from now: the minutes of the gap are forecast too, and then the whole lead."""
    rng = np.random.default_rng(77)
    nine = END - END % 86_400 - 86_400 + 9 * 3600  # 09:00 of the day before the trace ends
    t = nine - STEP * np.arange(int(HISTORY // STEP) + 1)[::-1]
    minute = (t % 86_400) // 60
    values = np.where((minute >= 9 * 60) & (minute < 11 * 60), 400.0, 50.0)
    values = values * rng.lognormal(0, 0.05, t.size)
    values[t > nine - 5 * STEP] = np.nan  # nothing since 08:55
    clock = FakeClock(nine - 10 * STEP)
    web = workload("web", **{CAPACITY: "20"})
    loop = loop_over(GapReader(t, values), clock, [web])
    run(loop, clock, 9)  # 08:50 to 08:58
    assert str(web.ref) not in loop.status.held  # read past
    now = clock.now()
    assert now == nine - STEP  # 08:59
    loop.cycle()
    model = loop.models[web.ref]
    assert model.latest is not None and model.latest.mode == "predictive"
    assert model.fitted is not None and model.fitted.last_timestamp == now - 4 * STEP
    assert model.sizing["sample_behind_seconds"] == 4 * STEP  # in the decision's evidence
    lead = float(model.sizing["lead_seconds"])
    forecast = model.fitted.predict(horizon_steps(lead, STEP) + 4, levels=(80,))
    ahead = (forecast.timestamps > now) & (forecast.timestamps <= now + lead)
    assert ahead.sum() == horizon_steps(lead, STEP)
    wanted = float(np.max(forecast.upper(80)[ahead]))
    assert model.latest.forecast_peak is not None
    assert model.latest.forecast_peak >= wanted


class NanGapReader(WeekReader):
    """As the simulation's metrics store answers a range query over a gap: the series,
    its missing steps NaN."""

    def range(self, query: str, start: float, end: float, step: float, now: float) -> list[Any]:
        (found,) = super().range(query, start, end, step, now)
        finite = np.flatnonzero(np.isfinite(found.series.values))
        last = float(found.series.timestamps[finite[-1]]) if finite.size else None
        stale = last is None or now - last > 300
        return [dataclasses.replace(found, last_sample_at=last, stale=stale)]


def one_sample_then_a_gap(
    seed: int, value: float, reader: type[WeekReader]
) -> tuple[ScalingLoop, FakeClock, Any]:
    """web's floor raised to 7 on a steady 50; then one sample of ``value`` and four
    minutes without any (a gap read past): the loop runs through them and two minutes
    after, the load back to 50."""
    loop, clock, web = raised(seed, 80)
    t, values = steady(seed, 80)
    values = values.copy()
    at = int(np.searchsorted(t, clock.now()))
    values[at] = value
    values[at + 1 : at + 5] = np.nan
    loop.reader = reader(t, values)
    return loop, clock, web


@pytest.mark.parametrize("reader", [GapReader, NanGapReader])
def test_a_glitch_followed_by_a_gap_is_not_taken_for_a_load_that_held(
    reader: type[WeekReader],
) -> None:
    """A sample 200 times the load (a counter reset read as a rate) is acted on only once
    it has held for three minutes. Followed by a gap read past, it used to be the newest
    sample for four cycles: counted as holding three minutes (or, with NaN in the read,
    not looked at as a glitch at all), it raised the floor to the HPA's maximum. One
    sample is one sample, however many cycles see it."""
    loop, clock, web = one_sample_then_a_gap(79, 10_000.0, reader)
    run(loop, clock, 7)
    assert writes(loop) == [7]  # nothing acted on
    assert loop.models[web.ref].spike_streak <= 1


@pytest.mark.parametrize("reader", [GapReader, NanGapReader])
def test_one_sample_above_the_band_followed_by_a_gap_is_no_breach(
    reader: type[WeekReader],
) -> None:
    """A forecast breach is the load above the forecast's band for three minutes in a
    row. One sample above it followed by a gap read past was seen by four cycles in a
    row, and became a breach signal for the runbooks."""
    loop, clock, _ = one_sample_then_a_gap(80, 400.0, reader)
    signals: list[Any] = []
    loop.submit = signals.extend
    run(loop, clock, 7)
    assert signals == []
    assert loop.status.breaches == 0


@pytest.mark.parametrize("reader", [GapReader, NanGapReader])
def test_a_gap_read_past_adds_no_cycle_to_a_floors_verdict(reader: type[WeekReader]) -> None:
    """The floor raised to 7 is being judged when four minutes of load go missing (read
    past). Each cycle of the gap counted the last sample again: four more cycles in the
    verdict, and for a lowered floor "short of ready pods" four times from one sample
    (two are enough for a wrong verdict). One sample counts once."""
    judged = []
    for gap in (False, True):
        loop, clock, _ = one_sample_then_a_gap(81, 50.0, reader)
        if not gap:
            loop.reader = reader(*steady(81, 80))
        run(loop, clock, 12)  # the floor's window ends meanwhile
        detail = cast(Any, loop.decisions).ledger.records["d-1"].feedback_detail
        judged.append((detail["cycles"], detail["short_cycles"]))
    (cycles, short), (cycles_gap, short_gap) = judged
    assert (cycles_gap, short_gap) == (cycles - 4, short - 4)


@pytest.mark.parametrize("reader", [GapReader, NanGapReader])
def test_a_gap_read_past_adds_no_capacity_reading(reader: type[WeekReader]) -> None:
    """While the per-pod capacity is learned from the HPA (one reading a cycle: the load
    per ready pod over the HPA's reading), four minutes of load go missing (read past).
    Each cycle of the gap took a reading from the last load against the HPA's newer
    reading. One sample is one reading."""
    learned = []
    for gap in (False, True):
        t, values = steady(82, 80)
        values = values.copy()
        clock = FakeClock(float(t[-80]))
        if gap:
            at = int(np.searchsorted(t, clock.now()))
            values[at + 3 : at + 7] = np.nan
        web = workload("web")
        web = dataclasses.replace(
            web, annotations={k: v for k, v in web.annotations.items() if k != CAPACITY}
        )
        loop = loop_over(reader(t, values), clock, [web])
        cast(Any, loop.cluster).hpas[web.ref] = HpaState(
            HPA, web.ref, 2, 20, 3, 3, uid="u1", usage_ratio=0.8
        )
        run(loop, clock, 9)
        assert "learning the per-pod capacity" in loop.status.held[str(web.ref)]
        learned.append(len(loop.models[web.ref].capacity.readings))
    assert learned[1] == learned[0] - 4


def test_a_floor_paused_ten_minutes_comes_down_at_one_cycles_pace_after() -> None:
    """As after a hold, after a pause (`autonomic pause`): a floor raised to 40 by an
    earlier process, the load needing about 10; one cycle lowers the wish to 36, then
    ten minutes paused. The paused cycles went on pacing the wish down unwritten (36,
    33, 30 ... 13), so the first write after the pause took the floor from 40 to what
    ten minutes' pace allows at once. Nothing was decided while paused, so the time
    paused earns no drop: the first cycle back lowers the wish by one cycle's pace, 33,
    and the first write comes after the usual five cycles at that pace."""
    t, values = steady(79)
    clock = FakeClock(float(t[-80]))
    web = dataclasses.replace(
        workload("web", **{CAPACITY: "5"}), replicas=40, ready_replicas=40, available_replicas=40
    )
    stop: list[str] = []
    loop = loop_over(
        WeekReader(t, values),
        clock,
        [web],
        route="auto",
        paused=lambda: stop[0] if stop else None,
    )
    cast(Any, loop.cluster).hpas[web.ref] = HpaState(HPA, web.ref, 40, 100, 40, 40, uid="u1")
    ledger = cast(Any, loop.decisions).ledger
    ledger.guards[f"scaling/configured-min/{HPA}"] = ({"min_replicas": 2, "uid": "u1"}, 1)
    run(loop, clock, 1)
    model = loop.models[web.ref]
    assert model.previous is not None and model.previous.floor == 36
    stop.append("paused by jo: floors look wrong")
    run(loop, clock, 10)
    assert loop.status.held_reason[str(web.ref)] == "Paused"
    assert writes(loop) == []
    stop.clear()
    run(loop, clock, 1)
    pace = PacingSettings(capacity_per_pod=5.0, lead_seconds=180.0)
    assert model.previous.floor == 36 - scale_in_drop(36, STEP, pace) == 33
    run(loop, clock, SCALE_IN_PATIENCE)
    paced = 36
    for _ in range(SCALE_IN_PATIENCE):
        paced -= scale_in_drop(paced, STEP, pace)
    assert writes(loop) and writes(loop)[0] >= paced  # 23 at the least, not 13


# ------------------------------------------------ a wait earns a floor coming down no drop

PACE = PacingSettings(capacity_per_pod=5.0, lead_seconds=180.0)


def at_forty(seed: int, route: str) -> tuple[ScalingLoop, FakeClock, Any]:
    """web's HPA at a minReplicas of 40 an earlier process wrote ten minutes ago (its
    owner's is 2), the load (a steady 50 at 5 a pod) needing about 10: each cycle
    lowers the wish by a step (36, 33, 30, 27, 25), written after five cycles."""
    t, values = steady(seed)
    clock = FakeClock(float(t[-80]))
    web = dataclasses.replace(
        workload("web", **{CAPACITY: "5"}), replicas=40, ready_replicas=40, available_replicas=40
    )
    loop = loop_over(WeekReader(t, values), clock, [web], route=route)
    cast(Any, loop.cluster).hpas[web.ref] = HpaState(HPA, web.ref, 40, 100, 40, 40, uid="u1")
    ledger = cast(Any, loop.decisions).ledger
    ledger.guards[f"scaling/configured-min/{HPA}"] = ({"min_replicas": 2, "uid": "u1"}, 1)
    written = {"at": clock.now() - 600, "decision_id": "d-0", "workload_uid": ""}
    record = {**written, "min_replicas": 40, "hpa_uid": "u1", "hpa": str(HPA)}
    ledger.guards[f"{WRITTEN_KEY}/{web.ref}"] = (record, 1)
    return loop, clock, web


def paced(floor: int, cycles: int) -> int:
    """``floor`` after ``cycles`` decisions a minute apart, each a scale-in step."""
    for _ in range(cycles):
        floor -= scale_in_drop(floor, STEP, PACE)
    return floor


def test_an_override_waited_out_earns_a_floor_coming_down_no_drop() -> None:
    """The wish lowered to 36, then someone sets minReplicas to 38: theirs for an hour.
    The cycles of that hour went on pacing the wish down unwritten, a step a minute, so
    the first decision after the hour started from what the load needs (about 10), and
    the first write took 38 down to it in one step. Nothing was decided in that hour:
    as after a hold or a pause, the first cycle after lowers the wish one step, and
    the first write is paced from there. The step is from the person's 38, above the
    loop's own 36: after an override the pace starts from theirs when it is higher."""
    loop, clock, web = at_forty(80, "auto")
    run(loop, clock, 1)
    model = loop.models[web.ref]
    assert model.previous is not None and model.previous.floor == 36
    set_min(loop, web, 38)
    run(loop, clock, QUIET_AFTER_OVERRIDE / STEP)
    assert loop.status.held_reason[str(web.ref)] == "Overridden"
    assert writes(loop) == []
    run(loop, clock, 1)
    assert model.previous.floor == paced(38, 1) == 35
    run(loop, clock, SCALE_IN_PATIENCE)
    assert writes(loop) and writes(loop)[0] >= paced(38, SCALE_IN_PATIENCE)  # 25, not 13


def test_a_floor_a_person_lowered_is_not_raised_back_to_the_loops_older_wish() -> None:
    """An earlier process raised web to 40; this one has lowered its wish to 33 and
    written nothing (no floor of its own applied) when a person sets minReplicas to 8:
    theirs for an hour. The loop took a cluster value below its wish only once it had
    applied a floor, so it went on pacing from its 33, and the first cycle after the
    hour raised the person's 8 to 30 (a wish paced down from the 40 they had lowered,
    not what the load needs) and brought it down again over the next minutes. After an
    override the pace starts from theirs, lower too: the first write is what the load
    needs (about 14), from the forecast."""
    loop, clock, web = at_forty(80, "auto")
    run(loop, clock, 2)
    model = loop.models[web.ref]
    assert model.previous is not None and model.previous.floor == 33 and not model.applied
    set_min(loop, web, 8)
    run(loop, clock, QUIET_AFTER_OVERRIDE / STEP)
    assert loop.status.held_reason[str(web.ref)] == "Overridden"
    assert writes(loop) == []
    run(loop, clock, 1)
    (first,) = writes(loop)
    assert 8 < first < paced(33, 1)  # before: 30
    assert model.previous.reason == "Forecast"  # before: ScaleInLimit, paced from 33


def test_a_refused_write_waited_out_earns_a_floor_coming_down_no_drop() -> None:
    """The fifth cycle writes 40 -> 25 and the cluster refuses it: no new try for five
    minutes. Those minutes went on pacing the wish down unwritten, so the first cycle
    after them lowered it from 25 by five minutes' pace (to 16) where a held cycle
    lowers it by one (to 23)."""
    loop, clock, web = at_forty(81, "auto")
    executor = cast(Any, loop.executor)

    def refuse(key: str, step: int, operation: Any, **kwargs: Any) -> Any:
        executor.applied.append(operation)
        return SimpleNamespace(status="failed", message="forbidden", reason="Forbidden")

    executor.apply = refuse
    run(loop, clock, SCALE_IN_PATIENCE, land=False)
    model = loop.models[web.ref]
    assert writes(loop) == [25] == [paced(40, SCALE_IN_PATIENCE)]  # tried, not written
    run(loop, clock, RETRY_AFTER_FAILURE / STEP - 1, land=False)
    assert loop.status.held_reason[str(web.ref)] == "WriteRefused"
    assert writes(loop) == [25]
    run(loop, clock, 1, land=False)
    assert model.previous is not None and model.previous.floor == paced(25, 1) == 23


def test_a_refused_writes_final_word_is_kept_with_its_closing() -> None:
    """The cluster refuses an approved floor's write: the decision fails, and its
    question's message is rewritten "failed: ...". Those words are kept with the
    closing (``said``), so that the next process's first sync restates them after a
    crash before the rewrite; before, it restated the closing's why alone, without the
    "failed:" the message said."""
    loop, clock, _web = at_forty(81, "auto")
    executor = cast(Any, loop.executor)

    def refuse(key: str, step: int, operation: Any, **kwargs: Any) -> Any:
        executor.applied.append(operation)
        return SimpleNamespace(status="failed", message="forbidden", reason="Forbidden")

    executor.apply = refuse
    run(loop, clock, SCALE_IN_PATIENCE, land=False)
    decisions = cast(Any, loop.decisions)
    [(decision_id, text, _final)] = [p for p in decisions.progressed if p[2]]
    assert text.startswith("failed: ") and "(Forbidden): forbidden" in text
    record = decisions.ledger.records[decision_id]
    assert record.status == "failed"
    assert record.feedback_detail["said"] == text


def test_an_open_question_earns_a_floor_coming_down_no_drop() -> None:
    """The fifth cycle asks to lower 40 to 25, and the question stays open ten minutes.
    The cycles it was open went on pacing the wish down unwritten, so once the approved
    25 was written the next decision started from what the load needs, and the next
    lowering asked took 25 to it in one step. The open question decided nothing: the
    cycle after the approval lowers the wish one step from 25."""
    loop, clock, web = at_forty(82, "ask")
    run(loop, clock, SCALE_IN_PATIENCE)
    decisions = cast(Any, loop.decisions)
    (asked,) = decisions.proposals
    assert asked.proposal["to"] == 25 == paced(40, SCALE_IN_PATIENCE)
    run(loop, clock, 10)
    assert writes(loop) == []
    decisions.ledger.records["d-1"].status = "approved"  # the on-call said yes
    run(loop, clock, 1)
    assert writes(loop) == [25]
    run(loop, clock, 1)
    model = loop.models[web.ref]
    assert model.previous is not None and model.previous.floor == paced(25, 1) == 23
    run(loop, clock, SCALE_IN_PATIENCE)
    assert decisions.proposals[-1].proposal["to"] >= paced(25, SCALE_IN_PATIENCE)


def test_an_hour_after_a_no_earns_a_floor_coming_down_no_drop() -> None:
    """The question to lower 40 to 25 is rejected: nothing is asked for an hour. The
    wish went on coming down unwritten that hour; the first cycle after it lowers the
    wish one step from the 25 asked, not from what an hour's pace allows."""
    loop, clock, web = at_forty(83, "ask")
    run(loop, clock, SCALE_IN_PATIENCE)
    decisions = cast(Any, loop.decisions)
    assert [p.proposal["to"] for p in decisions.proposals] == [25]
    decisions.ledger.records["d-1"].status = "rejected"
    run(loop, clock, QUIET_AFTER_NO / STEP)
    assert len(decisions.proposals) == 1  # not asked again within the hour
    run(loop, clock, 1)
    model = loop.models[web.ref]
    assert model.previous is not None and model.previous.floor == paced(25, 1) == 23


def test_a_floor_comes_down_in_writes_five_cycles_apart() -> None:
    """What docs/workloads.md says of the five cycles' patience: the wish comes down a
    step a cycle (36, 33, 30, 27, 25, 23 ...) and is written once it has stayed below the
    floor five cycles in a row, as it is then: 40 -> 25, then 25 -> 17. The floor written
    is never below the wish (the floor a write every cycle would give)."""
    loop, clock, web = at_forty(84, "auto")
    wishes, floors = [], []
    for _ in range(SCALE_IN_PATIENCE * 2):
        run(loop, clock, 1)
        previous = loop.models[web.ref].previous
        assert previous is not None and previous.floor is not None
        wishes.append(previous.floor)
        floors.append(writes(loop)[-1] if writes(loop) else 40)
    assert wishes == [paced(40, n) for n in range(1, 2 * SCALE_IN_PATIENCE + 1)]
    assert writes(loop) == [25, 17] == [wishes[4], wishes[9]]
    assert all(floor >= wish for floor, wish in zip(floors, wishes, strict=True))


@pytest.mark.parametrize("wait", ["pause", "override"])
def test_a_lowering_after_a_wait_follows_five_cycles_of_wanting_it(wait: str) -> None:
    """Three cycles want 40 lower (36, 33, 30), then a wait: a pause of two cycles, or a
    person setting minReplicas to 38 (an hour theirs). The patience count was kept
    through the wait, so the second cycle after it wrote the lowering: two cycles of
    wanting it since the wait, not five. A wait starts the count again, as a cycle
    that does not want the floor lower does."""
    t, values = steady(87)
    clock = FakeClock(float(t[-80]))
    web = dataclasses.replace(
        workload("web", **{CAPACITY: "5"}), replicas=40, ready_replicas=40, available_replicas=40
    )
    stop: list[str] = []
    loop = loop_over(
        WeekReader(t, values), clock, [web], route="auto", paused=lambda: stop[0] if stop else None
    )
    cast(Any, loop.cluster).hpas[web.ref] = HpaState(HPA, web.ref, 40, 100, 40, 40, uid="u1")
    ledger = cast(Any, loop.decisions).ledger
    ledger.guards[f"scaling/configured-min/{HPA}"] = ({"min_replicas": 2, "uid": "u1"}, 1)
    written = {"at": clock.now() - 600, "decision_id": "d-0", "workload_uid": ""}
    record = {**written, "min_replicas": 40, "hpa_uid": "u1", "hpa": str(HPA)}
    ledger.guards[f"{WRITTEN_KEY}/{web.ref}"] = (record, 1)
    run(loop, clock, 3)
    model = loop.models[web.ref]
    assert model.previous is not None and model.previous.floor == paced(40, 3)
    if wait == "pause":
        stop.append("paused by jo")
        run(loop, clock, 2)
        assert loop.status.held_reason[str(web.ref)] == "Paused"
        stop.clear()
    else:
        set_min(loop, web, 38)
        run(loop, clock, QUIET_AFTER_OVERRIDE / STEP)
        assert loop.status.held_reason[str(web.ref)] == "Overridden"
    assert writes(loop) == []
    run(loop, clock, SCALE_IN_PATIENCE - 1)
    assert writes(loop) == []  # before: written at the second cycle after the wait
    run(loop, clock, 1)
    assert len(writes(loop)) == 1  # the fifth cycle of wanting it lower since the wait


# ------------------------------------------------ a person's raised floor, after the hour


def overridden_to(
    loop: ScalingLoop, clock: FakeClock, web: Any, value: int, *, has_hpa: bool = True
) -> None:
    """After the loop lowered the floor once (40 to 25 at the fifth cycle), a person
    raises it (the HPA's minReplicas, or without an HPA the replicas) to ``value``; the
    loop finds it and waits out the hour."""
    run(loop, clock, SCALE_IN_PATIENCE)
    assert len(writes(loop) if has_hpa else replicas_written(loop)) == 1
    if has_hpa:
        set_min(loop, web, value)
    else:
        set_replicas(loop, web, value)
    run(loop, clock, 3)  # found once the watch may no longer lag behind the write
    assert loop.status.held_reason[str(web.ref)] == "Overridden"


def at_forty_without_an_hpa(seed: int) -> tuple[ScalingLoop, FakeClock, Any]:
    """``at_forty`` without an HPA: replicas of 40 an earlier process set."""
    t, values = steady(seed)
    clock = FakeClock(float(t[-80]))
    web = dataclasses.replace(
        workload("web", **{CAPACITY: "5"}), replicas=40, ready_replicas=40, available_replicas=40
    )
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    before = {"at": clock.now() - 600, "decision_id": "d-0", "workload_uid": ""}
    record = {**before, "field": "replicas", "replicas": 40}
    cast(Any, loop.decisions).ledger.guards[f"{WRITTEN_KEY}/{web.ref}"] = (record, 1)
    return loop, clock, web


@pytest.mark.parametrize("has_hpa", [True, False])
def test_a_floor_a_person_raised_comes_down_at_the_pace_after_the_hour(has_hpa: bool) -> None:
    """The loop wrote 25 and a person raised it to 45. After the hour the loop paced from
    its own 25 (kept through the wait) and only took the cluster's value when lower, so
    once the patience ran out it wrote the person's 45 down to about 17 in one write.
    Now, after an override, it paces from the person's value when that is higher: 45
    comes down at the pace (41, 37, 34, 31, 28...), and the loop's own writes after it
    are not taken for the person's: the next lowering is paced from the loop's own."""
    loop, clock, web = at_forty(85, "auto") if has_hpa else at_forty_without_an_hpa(85)
    written = (lambda: writes(loop)) if has_hpa else (lambda: replicas_written(loop))
    overridden_to(loop, clock, web, 45, has_hpa=has_hpa)
    assert written() == [25]
    run(loop, clock, QUIET_AFTER_OVERRIDE / STEP - 3)
    assert written() == [25]  # the hour stays theirs
    run(loop, clock, SCALE_IN_PATIENCE + 1)
    (first,) = written()[1:]
    assert paced(45, SCALE_IN_PATIENCE) <= first < 45  # 28 at the least, not 17
    run(loop, clock, SCALE_IN_PATIENCE)
    (second,) = written()[2:]
    assert paced(first, SCALE_IN_PATIENCE) <= second < first  # paced from the loop's own


@pytest.mark.parametrize("has_hpa", [True, False])
def test_an_override_read_back_by_a_new_leader_is_held_as_it_was_said(has_hpa: bool) -> None:
    """A person raised the loop's 25 to 45 (the HPA's minReplicas, or without an HPA the
    replicas) and the process holds it theirs for the hour. A new leader sharing the
    ledger read back only the hold's end: it wrote nothing, but ``status.held`` said
    nothing of the hold for the rest of the hour. It now holds the workload as the
    process that saw the change did: the same reason and sentence, until the same time."""
    loop, clock, web = at_forty(88, "auto") if has_hpa else at_forty_without_an_hpa(88)
    overridden_to(loop, clock, web, 45, has_hpa=has_hpa)
    ref = str(web.ref)
    said = (loop.status.held_reason[ref], loop.status.held[ref])
    until = loop.models[web.ref].quiet_until
    t, values = steady(88)
    successor = loop_over(WeekReader(t, values), clock, [web], route="auto")
    successor.decisions = loop.decisions  # one ledger
    successor.cluster = loop.cluster
    run(successor, clock, 5)
    assert cast(Any, successor.executor).applied == []  # nothing written in the hour
    assert (successor.status.held_reason.get(ref), successor.status.held.get(ref)) == said
    model = successor.models[web.ref]
    assert (model.quiet_until, model.quiet_reason, model.theirs) == (until, "Overridden", True)


def test_a_new_leader_paces_from_a_floor_a_person_raised_again_in_the_hour() -> None:
    """A new leader takes over a floor a person raised to 45 (it starts its pace from the
    cluster's value), and within the hour the person raises it again, to 60: the new
    leader went on pacing from the 45 it first saw, so after the hour it wrote 60 down to
    about 28 in one write. It paces from what the person last set: 60 at the pace."""
    loop, clock, web = at_forty(86, "auto")
    overridden_to(loop, clock, web, 45)
    t, values = steady(86)
    successor = loop_over(WeekReader(t, values), clock, [web], route="auto")
    successor.decisions = loop.decisions  # one ledger
    cast(Any, successor.cluster).hpas = cast(Any, loop.cluster).hpas
    run(successor, clock, 10)
    set_min(successor, web, 60)
    run(successor, clock, QUIET_AFTER_OVERRIDE / STEP - 13)
    assert writes(successor) == []  # the hour stays theirs
    run(successor, clock, SCALE_IN_PATIENCE + 1)
    (first,) = writes(successor)
    assert paced(60, SCALE_IN_PATIENCE) <= first < 60  # 38 at the least, not 28


def test_a_floor_a_person_raised_above_the_ceiling_comes_down_to_the_ceiling() -> None:
    """Paced from the person's 45, the floor is still bounded by the loop's ceiling
    (here ``autonomic.dev/max-replicas: 30``, never above the HPA's maxReplicas): the
    wish is 30 at the first decision after the hour, not 41, and comes down at the pace
    from there (30, 27, 25, 23), where it used to be written straight to 15."""
    loop, clock, web = at_forty(87, "auto")
    cluster = cast(Any, loop.cluster)
    cluster.workloads = [
        dataclasses.replace(w, annotations={**w.annotations, MAX_REPLICAS: "30"})
        for w in cluster.workloads
    ]
    overridden_to(loop, clock, web, 45)
    assert writes(loop) == [21]  # 40 is above the ceiling: 30, 27, 25, 23, 21
    run(loop, clock, QUIET_AFTER_OVERRIDE / STEP - 3 + 2)  # the hour's first decision
    assert writes(loop) == [21]
    model = loop.models[web.ref]
    assert model.previous is not None and model.previous.floor == 30
    run(loop, clock, SCALE_IN_PATIENCE)
    (first,) = writes(loop)[1:]
    assert paced(30, SCALE_IN_PATIENCE) <= first < 30  # 23 at the least, not 15


# ------------------------------------------------ a write settled as not known


def test_a_write_settled_as_not_known_is_not_said_to_leave_no_trace(tmp_path: Any) -> None:
    """A floor's write left pending, whose HPA now refuses the read that would tell
    whether it landed (a permission taken away): the executor settles it ``failed``,
    "whether it was written is not known". The loop used to say of every status but
    ``applied`` that "the cluster shows no trace of the write", so the decision's
    thread and the held status claimed nothing was written; it now says what is known,
    and a write the cluster shows no trace of is still said so."""
    from agent.errors import PermanentError
    from agent.executor import Executor
    from remediation.ports import operation_to_dict

    class Unreadable:
        def snapshot(self, operation: Any) -> dict[str, Any]:
            raise PermanentError("horizontalpodautoscalers is forbidden", reason="Forbidden")

    class Unchanged:
        def snapshot(self, operation: Any) -> dict[str, Any]:
            return {"minReplicas": 2, "maxReplicas": 20, "resourceVersion": "9", "uid": "u1"}

    t, values = steady(48)
    clock = FakeClock(float(t[-80]))
    loop = loop_over(WeekReader(t, values), clock, [workload("web")], route="auto")
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", clock.now())
    try:
        cast(Any, loop.decisions).ledger = ledger
        operation = operation_to_dict(SetHpaMinReplicas(HPA, 7, expected=2))
        snapshot = {"minReplicas": 2, "maxReplicas": 20, "resourceVersion": "3", "uid": "u1"}
        said = {}
        for name, writer in (("unknown", Unreadable()), ("abandoned", Unchanged())):
            key = f"scaling/{name}"
            ledger.record_intent(key, 0, operation, snapshot, "a", clock.now(), None)
            loop.executor = Executor(ledger, cast(Any, writer), clock, owner="a")
            said[name] = loop._settled(key)
        unknown = said["unknown"]
        assert unknown.status == "failed" and unknown.reason == "WriteUnknown"
        assert "no trace" not in unknown.message
        assert "whether it was written is not known" in unknown.message
        assert "forbidden" in unknown.message
        abandoned = said["abandoned"]
        assert abandoned.status == "failed" and abandoned.reason == "NotWritten"
        assert "the cluster shows no trace of the write" in abandoned.message
    finally:
        ledger.close()


def test_an_unverified_floor_s_verdict_is_written_once_though_the_ledger_fails_midway(
    tmp_path: Any,
) -> None:
    """A floor judged with no usable load sample (Prometheus down through its window)
    gets no verdict on the forecast: an ``unverified`` row and the decision ``done``.
    The ledger goes away right after the judgement's first write. Before, that write
    was the row alone (``add_feedback``) and the status moved in a second transaction:
    the decision stayed ``verifying`` with its row, and the next process judged it again
    and wrote a second ``unverified`` row. Now the row and the status are one
    transaction (``Ledger.settle``), once-only: judged once, one row."""
    t, values = steady(48)
    clock = FakeClock(float(t[-80]))
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    try:
        web = workload("web", **{CAPACITY: "10"})
        reader = DownReader(t, values)
        first = loop_over(reader, clock, [web], route="auto")
        first.decisions = inline_service(ledger, clock, RoutingSettings())
        cast(Any, first.cluster).hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 3, 3, uid="u1")
        for _ in range(5):
            run(first, clock, 1)
            if writes(first):
                break
        assert writes(first) == [7]
        (floor,) = ledger.decisions(kind="scaling")
        reader.down = True
        down: list[bool] = []

        def goes_away_after_the_verdict(name: str) -> None:
            real = getattr(ledger, name)

            def call(*args: Any, **kwargs: Any) -> Any:
                if down:
                    raise TransientError("the ledger is unreachable", reason="LedgerUnavailable")
                result = real(*args, **kwargs)
                if "verification" in args or any(
                    getattr(a, "kind", None) == "verification" for a in args
                ):
                    down.append(True)
                return result

            setattr(ledger, name, call)

        for name in ("add_feedback", "settle", "transition"):
            goes_away_after_the_verdict(name)
        for _ in range(20):
            with contextlib.suppress(TransientError):
                run(first, clock, 1)
        assert down  # the judgement was made, and the ledger went away after it
        for name in ("add_feedback", "settle", "transition"):
            delattr(ledger, name)  # the ledger is back
        successor = loop_over(DownReader(t, values), clock, [web], route="auto")
        successor.decisions = inline_service(ledger, clock, RoutingSettings())
        cast(Any, successor.cluster).hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 7, 7, uid="u1")
        cast(Any, successor.reader).down = True
        run(successor, clock, 10)
        rows = [r for r in ledger.feedback_for(floor.id) if r["kind"] == "verification"]
        assert [r["outcome"] for r in rows] == ["unverified"]
        record = ledger.get_decision(floor.id)
        assert record is not None and record.status == "done"
    finally:
        ledger.close()
