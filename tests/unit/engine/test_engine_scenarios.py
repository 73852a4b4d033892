"""Runbooks end to end on the simulated cluster: trigger, plan, guard, act, verify, undo."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import TransientError
from remediation.signals import forecast_breach_signal
from tests.unit.engine.harness import WEB, rig, web


def _decisions(r, runbook: str):  # type: ignore[no-untyped-def]
    return [
        d for d in r.ledger.decisions(kind="remediation") if d.decision_type.startswith(runbook)
    ]


def test_crashloop_after_rollout_is_rolled_back_and_verified(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.sim.add_workload(web(bad_images={"shop/web:2"}))
    r.sim.roll_out(WEB, "shop/web:2")
    r.run(15 * 60)
    (decision,) = _decisions(r, "crashloop-after-rollout-rollback")
    assert decision.route == "auto"  # signal 1.0 x prior 0.75 is above auto = 0.7 here
    # the shipped image-pull rollback is its sibling: named, with nothing to lend yet
    lent = decision.evidence["routing"]["siblings"]
    assert lent == {
        "types": ["imagepull-after-rollout-rollback/Deployment"],
        "outcomes": 0,
        "right": 0,
    }
    assert decision.status == "verified", r.decisions.ledger.feedback_for(decision.id)
    rollbacks = [w for w in r.sim.writes if w[1] == "rollback"]
    assert len(rollbacks) == 1  # exactly once, though the pods crashed for minutes
    assert r.sim.workloads[WEB].template.image == "shop/web:1"
    assert any(e.reason.startswith("kubernetes") for e in r.sim.events)
    (intent,) = r.ledger.intents()
    assert intent.status == "applied" and intent.snapshot["image"] == "shop/web:2"


def test_failed_verification_undoes_and_escalates(tmp_path: Path) -> None:
    r = rig(tmp_path)
    # Both revisions are broken: rolling back cannot help, so verification fails.
    r.sim.add_workload(web(bad_images={"shop/web:1", "shop/web:2"}), ready=True)
    r.sim.roll_out(WEB, "shop/web:2")
    r.run(20 * 60)
    decisions = _decisions(r, "crashloop-after-rollout-rollback")
    assert decisions, "no decision was made"
    decision = decisions[-1]
    assert decision.status in ("undone", "failed")
    kinds = [(f["kind"], f["outcome"]) for f in r.ledger.feedback_for(decision.id)]
    assert ("verification", "wrong") in kinds and ("escalation", "escalated") in kinds
    assert [w[1] for w in r.sim.writes].count("rollback") == 1
    assert "undo:rollback" in [w[1] for w in r.sim.writes]
    assert r.sim.workloads[WEB].template.image == "shop/web:2"  # restored what it found


def test_asked_decisions_wait_for_an_answer(tmp_path: Path) -> None:
    r = rig(tmp_path, auto=0.95, ask=0.5)
    r.sim.add_workload(web(bad_images={"shop/web:2"}))
    r.sim.roll_out(WEB, "shop/web:2")
    r.run(6 * 60)
    (decision,) = _decisions(r, "crashloop-after-rollout-rollback")
    assert decision.route == "ask" and decision.status == "asked"
    assert [w for w in r.sim.writes if w[1] == "rollback"] == []
    (question,) = r.ledger.questions()
    assert r.decisions.answer(question.id, "approved", "alice")
    r.run(12 * 60)
    decision = r.ledger.get_decision(decision.id)  # type: ignore[assignment]
    assert decision is not None and decision.status == "verified"
    assert [w[1] for w in r.sim.writes].count("rollback") == 1


def test_a_queued_signal_waits_out_a_ledger_outage(tmp_path: Path) -> None:
    """Signals other loops submit (a forecast breach here) are sent once: a cycle the
    ledger fails part-way keeps them for the next one, which decides them once."""
    r = rig(tmp_path)
    r.sim.add_workload(web(4))
    r.run(60)
    surge = forecast_breach_signal(
        metric="requests_per_second",
        target=WEB,
        observed=130.0,
        forecast_upper=100.0,
        confidence=0.95,
        at=r.clock.now(),
    )
    r.engine.submit([surge])

    def unreachable(_key: str) -> None:
        raise TransientError("the ledger at sqlite:///ledger.sqlite is unreachable: test")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(r.ledger, "latest_for_incident", unreachable)
        with pytest.raises(TransientError):
            r.engine.cycle()
    assert _decisions(r, "traffic-surge-scale-out") == []
    r.run(30)
    (decision,) = _decisions(r, "traffic-surge-scale-out")
    assert decision.route == "auto"
    r.engine.submit([surge])  # sent again: still one decision for the incident
    r.run(30)
    assert len(_decisions(r, "traffic-surge-scale-out")) == 1
