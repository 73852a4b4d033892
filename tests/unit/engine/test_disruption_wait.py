"""An approved decision waits while the hourly disruption budget has no room for it (the
budget is judged again when it is about to run, as the hourly limits are), runs once
room comes back, and counts its pods; a dry run disrupts nothing and counts none."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from agent.ledger import DecisionRecord
from remediation.guards import GlobalLimits, record_disruption
from remediation.planning import Disruption
from remediation.ports import ObjectRef
from tests.unit.engine.harness import WEB, Rig, rig, web

CRASHLOOP = "crashloop-after-rollout-rollback"
OTHER = ObjectRef("Deployment", "api", "shop")


def _asked(tmp_path: Path) -> tuple[Rig, DecisionRecord]:
    r = rig(tmp_path, auto=0.95, ask=0.5)
    r.engine.limits = GlobalLimits(max_pods_disrupted_per_hour=10)
    r.sim.add_workload(web(bad_images={"shop/web:2"}))
    r.sim.roll_out(WEB, "shop/web:2")
    r.run(6 * 60)
    (decision,) = [
        d for d in r.ledger.decisions(kind="remediation") if d.decision_type.startswith(CRASHLOOP)
    ]
    assert decision.status == "asked" and decision.proposal["disruption"] == {"shop": 3}
    return r, decision


def test_an_approved_decision_waits_for_room_in_the_budget(tmp_path: Path) -> None:
    r, decision = _asked(tmp_path)
    # Another runbook restarted 8 pods 50 minutes ago: 8 + 3 > 10 until they leave the hour.
    spent = Disruption(8, (("shop", 8),))
    at = r.clock.now() - 50 * 60
    r.engine._update_guards(lambda s: record_disruption(s, "other", OTHER, spent, at))
    (question,) = r.ledger.questions()
    assert r.decisions.answer(question.id, "approved", "alice")
    r.run(5 * 60)
    assert r.ledger.get_decision(decision.id).status == "approved"  # type: ignore[union-attr]
    assert [w for w in r.sim.writes if w[1] == "rollback"] == []
    r.run(10 * 60)  # the 8 pods left the hour 10 minutes after the approval
    assert [w[1] for w in r.sim.writes].count("rollback") == 1
    state, _ = r.engine.guard_state()
    assert [(x.runbook, x.pods) for x in state.disrupted] == [(CRASHLOOP, 3)]


def test_a_dry_run_counts_no_pods(tmp_path: Path) -> None:
    r, decision = _asked(tmp_path)
    proposal = {**decision.proposal, "mode": "dryRun"}
    r.engine.execute(replace(decision, proposal=proposal, status="approved"))
    state, _ = r.engine.guard_state()
    assert state.disrupted == ()


def test_a_plan_bigger_than_the_budget_is_asked_about_even_when_sure(tmp_path: Path) -> None:
    """The crash-loop rollback of a 3-replica Deployment under a budget of 2 pods an
    hour, with thresholds low enough that it would act alone: a person approves it first,
    the question says why, and once approved it runs (the hour is empty)."""
    r = rig(tmp_path, auto=0.5, ask=0.4)
    r.engine.limits = GlobalLimits(max_pods_disrupted_per_hour=2)
    r.sim.add_workload(web(bad_images={"shop/web:2"}))
    r.sim.roll_out(WEB, "shop/web:2")
    r.run(6 * 60)
    (decision,) = [
        d for d in r.ledger.decisions(kind="remediation") if d.decision_type.startswith(CRASHLOOP)
    ]
    assert (decision.route, decision.status) == ("ask", "asked")
    why = decision.evidence["routing"]["route_reason"]
    assert "approval required: disrupts 3 pods, more than safety.maxPodsDisruptedPerHour (2)" in why
    (question,) = r.ledger.questions()
    assert r.decisions.answer(question.id, "approved", "alice")
    r.run(5 * 60)
    assert [w[1] for w in r.sim.writes].count("rollback") == 1
