"""``DecisionService.record_outcome`` tells whether it settled the decision, on either
engine: the replica whose verdict came second is told False, so it does not say its
word in the chat after the first one's (before, it returned nothing)."""

from __future__ import annotations

from agent.clock import FakeClock
from agent.ledger import Decision, Ledger
from agent.settings import RoutingSettings
from tests.unit.decision_rig import inline_service

NOW = 1_800_000_000.0


def _verifying() -> Decision:
    return Decision(
        kind="scaling",
        decision_type="scaling/predictive-floor",
        subject="Deployment/shop/web",
        proposal={"op": "floor", "from": 3, "to": 7},
        confidence=0.9,
        reason_code="ForecastPeak",
        reason="the forecast peak needs 7 pods",
        evidence={},
        model_version="floor@1",
        route="auto",
        status="verifying",
    )


def test_the_second_replica_to_record_a_verdict_is_told_it_wrote_nothing(
    two: tuple[Ledger, Ledger],
) -> None:
    one, other = (inline_service(led, FakeClock(NOW), RoutingSettings()) for led in two)
    decision_id = two[0].record_decision(_verifying(), NOW)
    assert one.record_outcome(decision_id, right=True, status="verified", detail={"said": "a"})
    again = {"said": "b"}
    assert not other.record_outcome(decision_id, right=False, status="failed", detail=again)
    assert not one.record_outcome(decision_id, right=True, status="verified", detail={"said": "a"})
    rows = [r for r in two[1].feedback_for(decision_id) if r["kind"] == "verification"]
    assert [(r["outcome"], r["detail"]["said"]) for r in rows] == [("right", "a")]
    record = two[1].get_decision(decision_id)
    assert record is not None and record.status == "verified"
