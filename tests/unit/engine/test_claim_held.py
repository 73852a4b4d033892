"""An approved decision whose claim of its incident's run is refused because another
decision's run holds the key: before, it went to ``executing`` all the same, with no run
of its own, and stayed there for good (the recovery visits runs, not decisions). Now it
is closed as ``superseded``, nothing written, the reason naming the decision whose run
holds the key; or, while that run is about to give the key up (closed with nothing
written, its closing cut short), it waits, approved, and claims it at a later cycle. A
decision an older release left so is closed at the recovery, once. A refused claim of the
decision's own run goes on as before.

How the key comes to be held by another decision's run, as the tests build it in the
ledger: decision A of the incident was closed as its object was replaced since its plan
(``_close_unstarted``), and its incident decided again (B, ``_replaced_since``). A's
closing read no write-ahead intent, but a writer of A's step (a recovery on another
job's thread, or a replica that had lost its lease) recorded one before the closing
closed A's run: the run is closed ``superseded`` with an intent under it, and the ledger
gives no key with an intent to another decision. Or the closing was cut short (a crash,
or a ledger error) after A's decision and guards and before A's run: the run is still
``running`` until the recovery closes it, and A's alert, requeued meanwhile, was decided
again (B) by another thread."""

from __future__ import annotations

from pathlib import Path

from agent.decisions import Proposal
from agent.ids import short_id
from agent.ledger import DecisionRecord, Feedback
from tests.unit.engine.harness import WEB, Rig, restarted, runbook_rig
from tests.unit.engine.test_execute_unwritten import _approved


def _closed_replaced(r: Rig, first: str, *, intent: bool) -> str:
    """Decision ``first`` taken up and closed as its object was replaced, nothing
    written; ``intent``: another writer's intent recorded under its run before the
    closing closed the run (closed then); without: the closing cut short before the
    run (left ``running``). Its execution key."""
    record = r.ledger.get_decision(first)
    assert record is not None and record.incident_key is not None
    key = record.incident_key
    now = r.clock.now()
    proposal = record.proposal
    assert r.ledger.claim_execution(key, first, proposal["runbook"], str(WEB), "test-old", now)
    assert r.ledger.transition(first, ["approved"], "executing", now)
    if intent:
        op = proposal["operations"][0]
        assert r.ledger.record_intent(key, 0, op, {}, "autonomic-other", now, first) is not None
    closing = Feedback(
        first, "execution", "superseded", "autonomic", {"why": "replaced", "replaced": True}
    )
    assert r.ledger.transition(first, ["executing"], "superseded", now, feedback=[closing])
    if intent:
        assert r.ledger.set_execution_status(key, ["running"], "superseded", now)
    return key


def _again(r: Rig, first: str) -> str:
    """The incident of ``first`` decided again (as ``_handle_one`` does once its object
    was replaced): a new approved decision under the same incident key."""
    r.clock.advance(5)
    old = r.ledger.get_decision(first)
    assert old is not None
    routed = r.decisions.decide(
        Proposal(
            kind="remediation",
            decision_type=old.decision_type,
            subject=old.subject,
            proposal=old.proposal,
            signal_confidence=1.0,
            reason_code=old.reason_code,
            reason=old.reason,
            evidence={**old.evidence, "asked_again": {"after": first, "status": "superseded"}},
            model_version=old.model_version,
            incident_key=old.incident_key,
        )
    )
    assert routed.decision_id is not None
    record = r.ledger.get_decision(routed.decision_id)
    assert record is not None and record.status == "approved", record
    return record.id


def _decision(r: Rig, decision_id: str) -> DecisionRecord:
    record = r.ledger.get_decision(decision_id)
    assert record is not None
    return record


def _closings(r: Rig, decision_id: str) -> list[str]:
    return [
        str((row.get("detail") or {}).get("why"))
        for row in r.ledger.feedback_for(decision_id)
        if row["kind"] == "execution"
    ]


def test_a_claim_refused_under_another_decisions_run_closes_the_decision_superseded(
    tmp_path: Path,
) -> None:
    r = runbook_rig(tmp_path)
    first = _approved(r)
    key = _closed_replaced(r, first, intent=True)
    second = _again(r, first)
    before, _ = r.engine.guard_state()

    assert r.engine.execute(_decision(r, second)) == "superseded"

    record = _decision(r, second)
    assert record.status == "superseded"  # before: executing, for good
    (why,) = _closings(r, second)
    assert why.startswith("not executed: ") and f"decision {short_id(first)} " in why, why
    assert "nothing was written to the cluster" in why
    kinds = {row["kind"] for row in r.ledger.feedback_for(second)}
    assert not kinds & {"verdict", "outcome", "escalation"}, kinds  # neither right nor wrong
    execution = r.ledger.execution(key)
    assert execution is not None and execution["decision_id"] == first  # A's, untouched
    assert execution["status"] == "superseded"
    state, _ = r.engine.guard_state()  # nothing counted, nothing given back
    assert (state.in_flight, state.actions) == (before.in_flight, before.actions)
    r.run(120)  # later cycles leave it closed, and write nothing
    assert _decision(r, second).status == "superseded"
    assert r.sim.workloads[WEB].replicas == 3
    assert len(_closings(r, second)) == 1


def test_a_claim_refused_under_a_run_about_to_give_its_key_up_waits_and_claims_it(
    tmp_path: Path,
) -> None:
    r = runbook_rig(tmp_path)
    first = _approved(r)
    key = _closed_replaced(r, first, intent=False)
    second = _again(r, first)

    assert r.engine.execute(_decision(r, second)) == "waiting-claim"
    assert _decision(r, second).status == "approved"  # before: executing, for good

    after = restarted(r)  # the recovery finishes the closing of A's run
    counts = after.engine.recover()
    assert counts["superseded"] == 1, counts
    after.run(60)  # and B claims the key A gave up, and runs
    execution = r.ledger.execution(key)
    assert execution is not None and execution["decision_id"] == second
    assert _decision(r, second).status in ("executing", "verifying", "verified")
    assert r.sim.workloads[WEB].replicas == 4


def test_a_decision_left_executing_with_no_run_of_its_own_is_closed_at_recovery_once(
    tmp_path: Path,
) -> None:
    r = runbook_rig(tmp_path)
    first = _approved(r)
    _closed_replaced(r, first, intent=True)
    second = _again(r, first)
    # What an older release did with a refused claim: executing, with no run.
    assert r.ledger.transition(second, ["approved"], "executing", r.clock.now())

    after = restarted(r)
    counts = after.engine.recover()
    assert counts["superseded"] == 1, counts
    assert _decision(r, second).status == "superseded"
    (why,) = _closings(r, second)
    assert f"decision {short_id(first)} " in why, why
    assert _decision(r, first).status == "superseded"  # A as it was

    again = restarted(after)
    assert again.engine.recover()["superseded"] == 0
    assert len(_closings(r, second)) == 1


def test_a_claim_refused_under_the_decisions_own_run_goes_on_as_before(
    tmp_path: Path,
) -> None:
    r = runbook_rig(tmp_path)
    decision = _approved(r)
    record = _decision(r, decision)
    key = record.incident_key
    assert key is not None
    # Claimed by this decision already (on another thread, or before a crash).
    assert r.ledger.claim_execution(
        key, decision, record.proposal["runbook"], str(WEB), "test", r.clock.now()
    )
    assert r.engine.execute(record) == "claimed-elsewhere"
    assert _decision(r, decision).status == "executing"
    assert _closings(r, decision) == []
