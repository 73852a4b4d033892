"""The scaling loop and a remediation runbook that writes the same floor: while the
runbook's decision is open (asked, approved, executing, verifying, or its write-ahead
intent pending), the loop does not lower the floor, nor raise it short of the runbook's
floor when that would get the runbook's compare-and-set write refused.

Found in ``autonomic simulate``: the loop lowered frontend's floor 13 -> 11 four
minutes after traffic-surge-scale-out asked for 13 -> 30; the approved scale-out was
then refused (ChangedSinceDecision) and nothing was written."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any, cast

import pytest

from agent.approvals import Approvals, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.ledger import Decision, open_ledger
from agent.loops.scaling import CAPACITY, SCALE_IN_PATIENCE, WRITTEN_KEY, ScalingLoop
from agent.observability import Metrics
from agent.settings import RoutingSettings
from remediation.ports import HpaState, ObjectRef
from tests.unit.decision_rig import InlineDispatcher
from tests.unit.scaling.fakes import WeekReader, loop_over, workload
from tests.unit.scaling.test_scaling_faults import (
    HPA,
    at_forty,
    paced,
    run,
    set_min,
    steady,
    writes,
)


def hpa_floor(to: int, expected: int | None, hpa: ObjectRef = HPA) -> dict[str, Any]:
    """A runbook's planned write of the HPA's minReplicas, as its proposal stores it."""
    target = {"kind": hpa.kind, "name": hpa.name, "namespace": hpa.namespace}
    return {
        "op": "set_hpa_min_replicas",
        "target": target,
        "min_replicas": to,
        "expected": expected,
    }


def runbook_decision(loop: ScalingLoop, status: str, *operations: dict[str, Any]) -> Any:
    """A traffic-surge-scale-out decision about web in the loop's (fake) ledger."""
    ledger = cast(Any, loop.decisions).ledger
    record = SimpleNamespace(
        id=f"r-{len(ledger.records) + 1}",
        kind="remediation",
        decision_type="traffic-surge-scale-out/Deployment",
        subject="Deployment/shop/web",
        status=status,
        proposal={"runbook": "traffic-surge-scale-out", "operations": list(operations)},
    )
    ledger.records[record.id] = record
    return record


def held(loop: ScalingLoop, name: str = "Deployment/shop/web") -> tuple[str, str]:
    return loop.status.held_reason.get(name, ""), loop.status.held.get(name, "")


@pytest.mark.parametrize("status", ["asked", "approved", "executing", "verifying"])
def test_a_floor_is_not_lowered_while_a_runbook_that_writes_it_is_open(status: str) -> None:
    """The floor of 40 would come down to 25 at the fifth cycle; a surge runbook's
    decision to raise it 40 -> 60 is open: nothing is decided or written, the workload
    is held with its own reason, and the sentence names the decision. Once the decision
    is closed the floor comes down, from where the wish was when the wait began (the
    wait earns no drop)."""
    loop, clock, _ = at_forty(90, "auto")
    surge = runbook_decision(loop, status, hpa_floor(60, 40))
    run(loop, clock, SCALE_IN_PATIENCE + 5)
    assert writes(loop) == []
    assert cast(Any, loop.decisions).proposals == []  # nothing decided
    reason, why = held(loop)
    assert reason == "RemediationPending"
    assert f"remediation decision {surge.id} (traffic-surge-scale-out, {status})" in why
    assert "minReplicas of HorizontalPodAutoscaler/shop/web 40 -> 60" in why
    surge.status = "rejected" if status in ("asked", "approved") else "verified"
    run(loop, clock, 1)
    assert writes(loop) == [25] == [paced(40, SCALE_IN_PATIENCE)]
    assert held(loop) == ("", "")


def test_an_approved_lowering_waits_while_a_runbooks_scale_out_is_open() -> None:
    """The simulated week's case: the loop asked to lower 40 -> 25, then the surge runbook
    asked to raise 40 -> 60, and the loop's question was approved first. Carried out at
    once, it would have made the runbook's compare-and-set write fail; it waits, still
    approved, and is carried out once the runbook's decision is closed."""
    loop, clock, _ = at_forty(91, "ask")
    run(loop, clock, SCALE_IN_PATIENCE)
    decisions = cast(Any, loop.decisions)
    (asked,) = decisions.proposals
    assert asked.proposal["to"] == 25
    surge = runbook_decision(loop, "asked", hpa_floor(60, 40))
    decisions.ledger.records["d-1"].status = "approved"  # the loop's question: yes
    run(loop, clock, 5)
    assert writes(loop) == []
    assert decisions.ledger.records["d-1"].status == "approved"  # waiting, not failed
    assert held(loop)[0] == "RemediationPending"
    surge.status = "expired"
    run(loop, clock, 1)
    assert writes(loop) == [25]


@pytest.mark.parametrize(
    ("to", "expected", "waits"),
    [
        (30, 2, True),  # the runbook's 30 is higher, and its write expects the 2 there now
        (5, 2, False),  # the loop's 7 gives more than the runbook's floor: written
        (7, 2, False),  # as much as the runbook's: its write adds nothing, none is lost
        (30, 3, False),  # the runbook's write expects 3: refused anyway, the raise goes on
        (30, None, False),  # no compare-and-set: the runbook's write lands all the same
    ],
)
def test_a_raise_waits_only_when_it_would_get_a_higher_runbook_floor_refused(
    to: int, expected: int | None, waits: bool
) -> None:
    """web's HPA at its owner's 2, the loop about to raise it to 7, and a runbook's
    decision asked to set it to ``to`` (compare-and-set against ``expected``)."""
    t, values = steady(92)
    clock = FakeClock(float(t[-80]))
    web = workload("web", **{CAPACITY: "10"})
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    cast(Any, loop.cluster).hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 3, 3, uid="u1")
    surge = runbook_decision(loop, "asked", hpa_floor(to, expected))
    run(loop, clock, 3)
    if waits:
        assert writes(loop) == []
        reason, why = held(loop)
        assert reason == "RemediationPending"
        assert f"minReplicas 2 -> 7 waits: remediation decision {surge.id}" in why
        surge.status = "approved"
        run(loop, clock, 2)
        assert writes(loop) == []
        surge.status = "failed"
        run(loop, clock, 1)
    assert writes(loop) == [7]


def test_a_runbooks_pending_intent_holds_the_floor_whatever_its_decision_says() -> None:
    """A runbook's write cut off (its intent pending, the write may have landed): the
    floor is not lowered until the intent is settled, even once its decision has left
    the open statuses. The loop's own intents are not a runbook's."""
    loop, clock, web = at_forty(94, "auto")
    ledger = cast(Any, loop.decisions).ledger
    cut_off = SimpleNamespace(
        execution_key="traffic-surge-scale-out/Deployment/shop/web/incident",
        decision_id="r-9",
        operation=hpa_floor(60, 40),
        status="pending",
    )
    own = SimpleNamespace(
        execution_key=f"scaling/{web.ref}/d-0",
        decision_id="d-0",
        operation=hpa_floor(30, 40),
        status="pending",
    )
    ledger.foreign_intents += [cut_off, own]
    run(loop, clock, SCALE_IN_PATIENCE + 2)
    assert writes(loop) == []
    reason, why = held(loop)
    assert reason == "RemediationPending"
    assert "remediation decision r-9 (remediation, write pending)" in why
    cut_off.status = "applied"
    run(loop, clock, 1)
    assert writes(loop) == [25]


def test_one_ledger_read_a_cycle_for_the_whole_fleet_and_none_without_a_change() -> None:
    """Three workloads whose floors come down at the same cycle: the remediation decisions
    are read once that cycle for all three, and not at all in the cycles that change no
    floor (the patience cycles before)."""
    loop, clock, web = at_forty(95, "auto")
    cluster, ledger = cast(Any, loop.cluster), cast(Any, loop.decisions).ledger
    fleet = [web]
    for name in ("api", "cart"):
        other = dataclasses.replace(web, ref=ObjectRef("Deployment", name, "shop"))
        hpa = ObjectRef("HorizontalPodAutoscaler", name, "shop")
        cluster.hpas[other.ref] = HpaState(hpa, other.ref, 40, 100, 40, 40, uid=f"u-{name}")
        ledger.guards[f"scaling/configured-min/{hpa}"] = (
            {"min_replicas": 2, "uid": f"u-{name}"},
            1,
        )
        record = {
            "at": clock.now() - 600,
            "decision_id": "d-0",
            "workload_uid": "",
            "min_replicas": 40,
            "hpa_uid": f"u-{name}",
            "hpa": str(hpa),
        }
        ledger.guards[f"{WRITTEN_KEY}/{other.ref}"] = (record, 1)
        fleet.append(other)
    cluster.workloads = fleet
    runbook_decision(loop, "asked", hpa_floor(60, 40))  # about web's HPA only
    run(loop, clock, SCALE_IN_PATIENCE - 1)
    assert ledger.decision_reads.count("remediation") == 0
    run(loop, clock, 1)
    assert ledger.decision_reads.count("remediation") == 1
    assert sorted(writes(loop)) == [25, 25]  # api and cart; web waits
    assert held(loop)[0] == "RemediationPending"
    assert held(loop, "Deployment/shop/api") == ("", "")


def test_the_surge_case_on_the_sqlite_ledger(tmp_path: Any) -> None:
    """The same wait on the ledger and decision service the daemon uses (``propose``
    mode: the loop's lowering is asked): a runbook's decision recorded about the HPA's
    floor keeps the loop's approved lowering from being written; closed, it is."""
    loop, clock, web = at_forty(96, "ask")
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    try:
        approvals = Approvals(
            ledger,
            LedgerOnlyChannel(ledger, clock.now),
            ttl=900,
            snooze=1800,
            dispatcher=InlineDispatcher(),
        )
        loop.decisions = DecisionService(
            ledger, clock, RoutingSettings(), mode="propose", approvals=approvals, metrics=Metrics()
        )
        ledger.put_guard(
            f"scaling/configured-min/{HPA}", {"min_replicas": 2, "uid": "u1"}, 0, clock.now()
        )
        written = {"at": clock.now() - 600, "decision_id": "d-0", "workload_uid": ""}
        record = {**written, "min_replicas": 40, "hpa_uid": "u1", "hpa": str(HPA)}
        ledger.put_guard(f"{WRITTEN_KEY}/{web.ref}", record, 0, clock.now())
        run(loop, clock, SCALE_IN_PATIENCE)
        (lowering,) = ledger.decisions(kind="scaling")
        assert lowering.status == "asked" and lowering.proposal["to"] == 25
        surge = ledger.record_decision(
            Decision(
                kind="remediation",
                decision_type="traffic-surge-scale-out/Deployment",
                subject=str(web.ref),
                proposal={"runbook": "traffic-surge-scale-out", "operations": [hpa_floor(60, 40)]},
                confidence=0.81,
                reason_code="forecastBreach:requests_per_second",
                reason="a surge",
                evidence={},
                model_version="runbook traffic-surge-scale-out@1",
                route="ask",
                status="asked",
            ),
            clock.now(),
        )
        assert ledger.transition(lowering.id, ["asked"], "approved", clock.now())
        run(loop, clock, 3)
        assert writes(loop) == []
        assert loop.status.held_reason[str(web.ref)] == "RemediationPending"
        assert ledger.transition(surge, ["asked"], "approved", clock.now())
        run(loop, clock, 1)
        assert ledger.transition(surge, ["approved"], "executing", clock.now())
        run(loop, clock, 1)
        assert writes(loop) == []
        set_min(loop, web, 60)  # the runbook's write lands
        assert ledger.transition(surge, ["executing"], "verifying", clock.now())
        run(loop, clock, 2)
        assert writes(loop) == []  # not pulled from under its verification either
        assert ledger.get_decision(lowering.id).status == "approved"  # type: ignore[union-attr]
    finally:
        ledger.close()
