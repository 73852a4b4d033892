"""A workload the cluster listing leaves out because it came in a shape that cannot be
read (the Kubernetes adapter's ``BadObjectError``, named in ``unread``) is there, not
gone. The scaling loop used to take it for gone: after ``FORGET_AFTER`` its model was
dropped and an approved floor question failed as "out of predictive scaling", with no
hold saying why. It is now held ``ReadFailed`` with the adapter's reason, its model and
question kept (up to ``UNREAD_KEEP``), and it goes on once it reads again."""

from __future__ import annotations

from typing import Any, cast

from agent.clock import FakeClock
from agent.loops.scaling import (
    CAPACITY,
    FORGET_AFTER,
    MIN_REPLICAS,
    STEP,
    UNREAD_KEEP,
    WRITTEN_KEY,
    ScalingLoop,
)
from agent.observability import Metrics
from remediation.ports import ObjectRef, Scale, UnreadObject
from tests.unit.scaling.fakes import WeekReader, loop_over, week_and_a_day, workload

WEB = workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "7"})
WHY = "Deployment/shop/web: spec.replicas is '3x', not a whole number"
ODD = UnreadObject(WEB.ref, WHY)


def asked(seed: int, **kwargs: Any) -> tuple[ScalingLoop, FakeClock, Any]:
    """A loop that asked about web's floor of 7 (d-1), ten hours before the end of the
    load, so the load is still there to read after hours of web being unreadable."""
    t, values = week_and_a_day(seed)
    clock = FakeClock(float(t[-600]))
    loop = loop_over(WeekReader(t, values), clock, [WEB], **kwargs)
    run(loop, clock, 2)
    ledger = cast(Any, loop.decisions).ledger
    assert ledger.records["d-1"].status == "asked" and ledger.records["d-1"].proposal["to"] == 7
    return loop, clock, ledger


def run(loop: ScalingLoop, clock: FakeClock, cycles: int, *, apart: float = STEP) -> None:
    for _ in range(cycles):
        loop.cycle()
        clock.advance(apart)


def unreadable(loop: ScalingLoop, *others: UnreadObject) -> None:
    cluster = cast(Any, loop.cluster)
    cluster.workloads, cluster.unread = [], [ODD, *others]


def test_an_unreadable_workload_is_held_and_keeps_its_model_and_approval() -> None:
    metrics = Metrics()
    loop, clock, ledger = asked(71, metrics=metrics)
    model = loop.models[WEB.ref]
    ledger.records["d-1"].status = "approved"  # the on-call said yes...
    stranger = UnreadObject(ObjectRef("Deployment", "batch", "shop"), "labels not a map")
    unreadable(loop, stranger)  # ...and then web came in a shape that cannot be read
    began = clock.now()
    while clock.now() - began < FORGET_AFTER + 1800.0:
        run(loop, clock, 1, apart=600.0)
    assert loop.models[WEB.ref] is model  # not forgotten
    assert ledger.records["d-1"].status == "approved" and ledger.transitions == []
    assert cast(Any, loop.executor).applied == []  # nothing written while unread
    held = loop.report()["held"]
    assert list(held) == [str(WEB.ref)]  # a workload the loop knows nothing of is not held
    assert held[str(WEB.ref)]["reason"] == "ReadFailed"
    assert WHY in held[str(WEB.ref)]["why"] and "not taken for gone" in held[str(WEB.ref)]["why"]
    labels = {"workload": str(WEB.ref), "reason": "ReadFailed"}
    assert metrics.registry.get_sample_value("autonomic_scaling_held", labels) == 1.0

    cast(Any, loop.cluster).workloads, cast(Any, loop.cluster).unread = [WEB], []
    run(loop, clock, 1)
    (operation,) = cast(Any, loop.executor).applied  # the approval carried out
    assert isinstance(operation, Scale) and operation.replicas == 7
    assert ledger.transitions == [("d-1", "verifying")]
    assert loop.models[WEB.ref] is model
    assert str(WEB.ref) not in loop.status.held
    assert metrics.registry.get_sample_value("autonomic_scaling_held", labels) is None


def test_after_unread_keep_the_approval_fails_saying_why_and_the_hold_stays() -> None:
    loop, clock, ledger = asked(72)
    ledger.records["d-1"].status = "approved"
    unreadable(loop)
    began = clock.now()
    while clock.now() - began < UNREAD_KEEP - 1200.0:
        run(loop, clock, 1, apart=600.0)
    assert WEB.ref in loop.models and ledger.transitions == []
    clock.advance(1800.0)
    run(loop, clock, 2)
    assert ledger.transitions == [("d-1", "failed")]
    ((decision_id, text, final),) = cast(Any, loop.decisions).progressed
    assert (decision_id, final) == ("d-1", True)
    assert text == f"not carried out: Deployment/shop/web could not be read for 24 h ({WHY})"
    # ...and in the ledger, with the closing (``autonomic explain``): it had no row.
    assert ledger.feedback == [("d-1", "execution", "failed")]
    assert ledger.records["d-1"].feedback_detail == {"reason": "ReadFailed", "why": text}
    assert WEB.ref not in loop.models
    assert loop.status.held_reason == {str(WEB.ref): "ReadFailed"}  # still there, still said
    run(loop, clock, 3)
    assert ledger.transitions == [("d-1", "failed")]  # once
    cast(Any, loop.cluster).unread = []  # deleted now: its hold goes, as any deleted one's
    run(loop, clock, 1)
    assert loop.status.held == {} and loop._out_since == {} and loop._said == {}


def test_a_scheduled_floor_naming_an_unreadable_workload_says_so() -> None:
    floor = {
        "name": "sale",
        "workloads": ["shop/web"],
        "minReplicas": 9,
        "timezone": "UTC",
        "weekly": [{"days": ["Sun"], "start": "09:00", "end": "10:00"}],
    }
    loop, clock, _ = asked(73, scheduledFloors=[floor])
    unreadable(loop)
    run(loop, clock, 1)
    assert loop.report()["scheduleUnmatched"] == {
        "sale: shop/web": (
            f"scheduled floor sale names shop/web, which could not be read ({WHY}): no floor "
            "is set for it until it can be"
        )
    }


def test_unread_at_the_first_listing_after_a_restart_with_a_floor_written_is_held() -> None:
    # A new process (a restart, a new leader) knows web only from the ledger: the floor of
    # 7 an earlier process wrote. web is unreadable at its first listing. It was not held
    # (no model, no hold, no open question here yet): the floor stayed raised with nothing
    # saying why, while a workload unread a cycle later was held ReadFailed.
    t, values = week_and_a_day(74)
    clock = FakeClock(float(t[-600]))
    loop = loop_over(WeekReader(t, values), clock, [WEB])
    ledger = cast(Any, loop.decisions).ledger
    record = {"at": clock.now() - 600, "decision_id": "d-0", "workload_uid": ""}
    ledger.guards[f"{WRITTEN_KEY}/{WEB.ref}"] = ({**record, "field": "replicas", "replicas": 7}, 1)
    stranger = UnreadObject(ObjectRef("Deployment", "batch", "shop"), "labels not a map")
    unreadable(loop, stranger)
    run(loop, clock, 2)
    assert loop.status.held_reason == {str(WEB.ref): "ReadFailed"}  # the stranger is not
    assert WHY in loop.status.held[str(WEB.ref)]
    assert cast(Any, loop.executor).applied == []
    cast(Any, loop.cluster).workloads, cast(Any, loop.cluster).unread = [WEB], []
    run(loop, clock, 1)
    assert loop.status.held_reason.get(str(WEB.ref)) != "ReadFailed"  # it reads again
