"""An approved floor is written to what its question named: the workload's replicas
(``op: scale``) or the minReplicas of the HPA its evidence names (by name and uid). The
write used to follow the cluster at the moment of writing, so an HPA deleted, created or
replaced between the question and its approval sent the write to an object nobody
approved (nor had ``slack.requireKubernetesAccess`` review). Such an approval is now
closed as not carried out, with why, and the floor is decided afresh."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

import pytest

from agent.cli.explain_cmd import render
from agent.clock import FakeClock
from remediation.ports import HpaState, ObjectRef, Scale, SetHpaMinReplicas
from tests.unit.scaling.fakes import WeekReader, loop_over
from tests.unit.scaling.test_scaling_annotations import _forecast_only, _opt_out, _raised
from tests.unit.scaling.test_scaling_dropped_questions import (
    WEB,
    approved_on_a_real_ledger,
    run,
    steady,
)

HPA_REF = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
HPA = HpaState(HPA_REF, WEB.ref, 2, 20, 3, 3, uid="u1")


def closed_as_not_carried_out(ledger: Any, decision: Any, reason: str) -> str:
    """The decision failed with one ``execution`` row of ``reason``; its why."""
    assert ledger.get_decision(decision.id).status == "failed"
    rows = [r for r in ledger.feedback_for(decision.id) if r["kind"] == "execution"]
    assert [(r["outcome"], r["detail"]["reason"]) for r in rows] == [("failed", reason)]
    why = str(rows[0]["detail"]["why"])
    assert why.startswith(f"not carried out ({reason}): approved as ")
    assert "nothing was written" in why
    assert f'execution: failed (autonomic) {{"reason": "{reason}"' in render(ledger, decision.id)
    return why


def asked_again(ledger: Any, decision: Any) -> Any:
    """The one floor decision made after ``decision``: decided afresh, asked again."""
    (again,) = [d for d in ledger.decisions(kind="scaling") if d.id != decision.id]
    assert again.status == "asked"
    return again


def test_an_approval_whose_hpa_was_deleted_is_not_written_to_the_replicas(
    tmp_path: Path,
) -> None:
    """Asked as web's HPA minReplicas; the HPA deleted before the approval is carried
    out: the cycle, seeing no HPA (the capacity is annotated), used to scale web's
    replicas instead, a write nobody approved."""
    loop, clock, ledger, decision, cluster = approved_on_a_real_ledger(tmp_path, 71, HPA)
    try:
        assert decision.proposal["op"] == "set_hpa_min_replicas"
        assert decision.evidence["hpa"] == str(HPA_REF)
        del cluster.hpas[WEB.ref]
        run(loop, clock, 1)
        assert cast(Any, loop.executor).applied == []
        assert decision.evidence["hpa_uid"] == "u1"  # recorded when asked
        why = closed_as_not_carried_out(ledger, decision, "NoHpa")
        assert f"{HPA_REF}'s minReplicas, and that HPA is gone" in why
        run(loop, clock, 2)
        again = asked_again(ledger, decision)
        assert again.proposal["op"] == "scale" and again.evidence["hpa"] is None
        assert cast(Any, loop.executor).applied == []  # the new question is unanswered
    finally:
        ledger.close()


def test_an_approval_of_the_replicas_is_not_written_to_an_hpa_created_since(
    tmp_path: Path,
) -> None:
    """Asked as web's replicas (no HPA then); an HPA created before the approval is
    carried out: its minReplicas used to be written, an HPA nobody approved a floor on."""
    loop, clock, ledger, decision, cluster = approved_on_a_real_ledger(tmp_path, 72)
    try:
        assert decision.proposal["op"] == "scale" and decision.evidence["hpa"] is None
        cluster.hpas[WEB.ref] = HPA
        run(loop, clock, 1)
        assert cast(Any, loop.executor).applied == []
        why = closed_as_not_carried_out(ledger, decision, "HpaChanged")
        assert f"{HPA_REF} scales it now" in why
        run(loop, clock, 2)
        again = asked_again(ledger, decision)
        assert again.proposal["op"] == "set_hpa_min_replicas"
        assert (again.evidence["hpa"], again.evidence["hpa_uid"]) == (str(HPA_REF), "u1")
    finally:
        ledger.close()


@pytest.mark.parametrize(
    ("name", "uid", "said"),
    [
        ("web", "u2", "replaced since (uid u1 then, u2 now)"),
        ("web-v2", "u2", "is scaled by HorizontalPodAutoscaler/shop/web-v2 now"),
    ],
)
def test_an_approval_is_not_written_to_an_hpa_that_replaced_the_one_asked_about(
    tmp_path: Path, name: str, uid: str, said: str
) -> None:
    """Asked as the minReplicas of web's HPA (uid u1); deleted and created again (a new
    uid, same name), or replaced by another HPA, before the approval is carried out: the
    new HPA's minReplicas used to be written."""
    loop, clock, ledger, decision, cluster = approved_on_a_real_ledger(tmp_path, 73, HPA)
    try:
        other = ObjectRef("HorizontalPodAutoscaler", name, "shop")
        cluster.hpas[WEB.ref] = dataclasses.replace(HPA, ref=other, uid=uid)
        run(loop, clock, 1)
        assert cast(Any, loop.executor).applied == []
        why = closed_as_not_carried_out(ledger, decision, "HpaChanged")
        assert said in why
        run(loop, clock, 2)
        again = asked_again(ledger, decision)
        assert (again.evidence["hpa"], again.evidence["hpa_uid"]) == (str(other), uid)
    finally:
        ledger.close()


@pytest.mark.parametrize("hpa", [HPA, None], ids=["hpa", "replicas"])
def test_an_approval_whose_target_is_unchanged_is_written_as_before(
    tmp_path: Path, hpa: HpaState | None
) -> None:
    loop, clock, ledger, decision, _ = approved_on_a_real_ledger(tmp_path, 74, hpa)
    try:
        run(loop, clock, 1)
        (operation,) = cast(Any, loop.executor).applied
        if hpa is not None:
            assert isinstance(operation, SetHpaMinReplicas) and operation.target == HPA_REF
            assert operation.min_replicas == 7
        else:
            assert isinstance(operation, Scale) and operation.replicas == 7
        assert ledger.get_decision(decision.id).status == "verifying"
        assert not [r for r in ledger.feedback_for(decision.id) if r["kind"] == "execution"]
    finally:
        ledger.close()


def test_an_automatic_floor_is_written_to_the_hpa_it_was_decided_on() -> None:
    """Routed to act: decided and written in the same cycle, on the HPA just read, as
    before; the decision's evidence now names the HPA's uid too."""
    t, values = steady(75)
    clock = FakeClock(float(t[-80]))
    loop = loop_over(WeekReader(t, values), clock, [WEB], route="auto")
    cast(Any, loop.cluster).hpas[WEB.ref] = HPA
    run(loop, clock, 2)
    (operation,) = cast(Any, loop.executor).applied
    assert isinstance(operation, SetHpaMinReplicas)
    assert (operation.target, operation.min_replicas) == (HPA_REF, 7)
    decisions = cast(Any, loop.decisions)
    (proposal,) = decisions.proposals
    assert proposal.evidence["hpa"] == str(HPA_REF) and proposal.evidence["hpa_uid"] == "u1"
    assert decisions.ledger.transitions == [("d-1", "verifying")]
    assert decisions.ledger.feedback == []


@pytest.mark.parametrize("reason", ["OptedOut", "ForecastOnly"])
def test_a_give_back_approved_after_its_hpa_was_replaced_is_closed_once(reason: str) -> None:
    """The owner's minimum asked back for web's HPA (uid u1), which is then replaced by
    one of the same name (uid u2) still at Autonomic's 7 (restored from a backup, say)
    before the approval: not written, and not asked again at every cycle either. The
    new HPA's minReplicas is its owner's (``_configured_min`` reads a new uid afresh),
    so there is nothing to give back to it; its why used to say the floor would be
    decided afresh, which never happens for a workload that left."""
    loop, clock, web, hpa_ref = _raised("ask", 81)
    if reason == "OptedOut":
        _opt_out(loop, web, "label")
    else:
        _forecast_only(loop, web)
    run(loop, clock, 2)
    decisions = cast(Any, loop.decisions)
    asked = decisions.proposals[-1]
    assert asked.reason_code == reason and asked.evidence["hpa_uid"] == "u1"
    decision_id = f"d-{len(decisions.proposals)}"
    hpas = cast(Any, loop.cluster).hpas
    hpas[web.ref] = dataclasses.replace(hpas[web.ref], uid="u2")
    decisions.ledger.records[decision_id].status = "approved"
    run(loop, clock, 10)
    executor = cast(Any, loop.executor)
    assert [(op.target, op.min_replicas) for op in executor.applied] == [(hpa_ref, 7)]
    assert decisions.ledger.records[decision_id].status == "failed"
    assert (decision_id, "execution", "failed") in decisions.ledger.feedback
    why = decisions.ledger.records[decision_id].feedback_detail["why"]
    assert why.startswith("not carried out (HpaChanged): ")
    assert "decided afresh" not in why
    assert "nothing is given back to the HPA there now" in why
    assert [text for d, text, final in decisions.progressed if d == decision_id] == [why]
    assert not [p for p in decisions.proposals[-12:] if p.reason_code == reason and p is not asked]
