"""A person's hindsight verdict "It was not" (the fix) on an incident nobody acted on
holds that incident like a "no" to its question: it is raised again only after
``safety.reaskAfterReject`` (never when null), not after the hour an unanswered question
waits. "It was the fix" holds nothing. Only that incident (its runbook, target and key):
a new one on the same workload is raised as before (``RemediationEngine._ask_again``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from agent.ids import short_id
from agent.ledger import DecisionRecord
from remediation.guards import GlobalLimits
from remediation.signals import anomaly_signal
from remediation.windows import to_utc_text
from tests.unit.engine.harness import WEB, Rig, runbook_rig
from tests.unit.engine.test_asked_again import QUIET, TTL, _closed, _decisions, _first_asked, _rig

HOLD = 2 * QUIET  # safety.reaskAfterReject, cut from 24h to keep the runs short


def _verdict(r: Rig, decision: DecisionRecord, *, right: bool, actor: str = "alice") -> float:
    """The escalation's hindsight button, as a Slack click by an approver records it."""
    now = r.clock.now()
    outcome = r.decisions.approvals.judge(
        decision.id, right=right, actor=actor, now=now, via="slack"
    )
    assert outcome.accepted, outcome
    return now


def _run_to(r: Rig, until: float) -> None:
    """Run the cluster and the engine up to ``until``: 5 minutes a step while far from it
    (an engine cycle each), the last minutes 30 s a step, so it does not overshoot."""
    coarse = (until - r.clock.now() - 300) // 300 * 300
    if coarse > 0:
        r.run(coarse, step=300)
    r.run(until - r.clock.now(), step=30)


def _ids(r: Rig) -> list[str]:
    return [d.id for d in _decisions(r)]


def test_an_escalation_judged_not_the_fix_is_held_like_a_rejection(tmp_path: Path) -> None:
    r = _rig(tmp_path, ask=0.999, reask_after_reject=HOLD)
    first = _first_asked(r, "escalated")
    r.run(600, step=30)  # the person looks into it, then says what was proposed was not it
    said = _verdict(r, first, right=False)
    _run_to(r, said + HOLD - 120)  # the pods are still being killed
    assert _ids(r) == [first.id]  # not after the hour an unanswered escalation waits
    r.run(240, step=30)
    decisions = _decisions(r)
    assert len(decisions) == 2, [(d.id[:8], d.status) for d in decisions]
    again = decisions[1]
    assert again.incident_key == first.incident_key
    assert again.created_at >= said + HOLD
    assert f"decision {short_id(first.id)} was judged not the fix by alice at" in again.reason, (
        again.reason
    )


def test_a_duplicate_held_by_a_verdict_says_until_when(tmp_path: Path) -> None:
    r = _rig(tmp_path, ask=0.999, reask_after_reject=HOLD)
    first = _first_asked(r, "escalated")
    said = _verdict(r, first, right=False)
    _run_to(r, r.clock.now() + QUIET + 600)
    handled = [h for h in r.engine.cycle() if h.decision_id == first.id]
    assert handled and all(h.outcome == "duplicate" for h in handled), handled
    assert f"raised again from {to_utc_text(said + HOLD)} if it goes on" in handled[0].message


def test_an_escalation_judged_not_the_fix_is_never_raised_again_without_reask_after_reject(
    tmp_path: Path,
) -> None:
    r = _rig(tmp_path, ask=0.999, reask_after_reject=None)
    first = _first_asked(r, "escalated")
    _verdict(r, first, right=False)
    _run_to(r, r.clock.now() + 2 * QUIET)
    assert _ids(r) == [first.id]
    handled = [h for h in r.engine.cycle() if h.decision_id == first.id]
    assert handled and "again" not in handled[0].message, handled


def test_an_escalation_judged_the_fix_is_raised_again_after_the_usual_quiet(
    tmp_path: Path,
) -> None:
    r = _rig(tmp_path, ask=0.999, reask_after_reject=HOLD)
    first = _first_asked(r, "escalated")
    _verdict(r, first, right=True)
    _run_to(r, first.updated_at + QUIET + 120)
    assert len(_ids(r)) == 2


def test_the_newest_verdict_counts(tmp_path: Path) -> None:
    """Alice says it was not the fix, then Bob that it was: nothing holds it back."""
    r = _rig(tmp_path, ask=0.999, reask_after_reject=HOLD)
    first = _first_asked(r, "escalated")
    _verdict(r, first, right=False)
    r.run(60, step=30)
    _verdict(r, first, right=True, actor="bob")
    _run_to(r, first.updated_at + QUIET + 120)
    assert len(_ids(r)) == 2


def test_a_verdict_on_the_first_escalation_holds_the_incident_raised_again_since(
    tmp_path: Path,
) -> None:
    """The person answers the first message after the incident was raised a second time:
    the "no" is about the incident, not about one of its messages."""
    r = _rig(tmp_path, ask=0.999, reask_after_reject=HOLD)
    first = _first_asked(r, "escalated")
    _run_to(r, first.updated_at + QUIET + 120)
    assert len(_ids(r)) == 2
    said = _verdict(r, first, right=False)
    _run_to(r, said + HOLD - 120)
    assert len(_ids(r)) == 2
    r.run(240, step=30)
    assert len(_ids(r)) == 3


def test_an_expired_question_judged_not_the_fix_is_held_like_a_rejection(
    tmp_path: Path,
) -> None:
    r = _rig(tmp_path, reask_after_reject=HOLD)
    first = _first_asked(r)
    r.run(TTL + 60, step=30)
    _closed(r, first, "expired")
    said = _verdict(r, first, right=False)
    _run_to(r, said + HOLD - 120)
    assert _ids(r) == [first.id]
    r.run(240, step=30)
    assert len(_ids(r)) == 2


def test_a_new_incident_on_the_same_workload_is_raised_during_the_hold(
    tmp_path: Path,
) -> None:
    """The hold is the judged incident's (runbook, target, revision for a pod condition):
    the next revision's OOMKills are a new incident, raised at once."""
    r = _rig(tmp_path, ask=0.999, reask_after_reject=None)
    first = _first_asked(r, "escalated")
    _verdict(r, first, right=False)
    r.run(600, step=30)
    r.sim.roll_out(WEB, "shop/web:2", by_human=False)
    _run_to(r, r.clock.now() + QUIET)
    decisions = _decisions(r)
    assert len(decisions) == 2, [(d.id[:8], d.status) for d in decisions]
    assert decisions[1].incident_key != first.incident_key
    assert decisions[1].subject == first.subject


def test_an_anomaly_runbook_judged_not_the_fix_is_held_when_its_signal_comes_again(
    tmp_path: Path,
) -> None:
    """The anomaly loop sends an incident's signal once, when it opens, and again only
    when a restart reads its opening again: that copy, hours later, is held too."""
    r = runbook_rig(tmp_path, auto=0.999, ask=0.999)
    r.engine.limits = replace(GlobalLimits(), reask_after_reject=None)
    signal = anomaly_signal(
        metric="latency_p99",
        target=WEB,
        observed=2.3,
        lower=0.1,
        upper=0.5,
        score=1.0,
        confidence=1.0,
        at=r.clock.now(),
        incident_start=r.clock.now(),
    )
    (first,) = r.engine.handle([signal], r.engine.snapshot())
    assert first.outcome == "decided" and first.decision_id is not None, first
    record = r.ledger.get_decision(first.decision_id)
    assert record is not None and record.status == "escalated", record
    _verdict(r, record, right=False)
    _run_to(r, r.clock.now() + 2 * QUIET)
    (again,) = r.engine.handle([signal], r.engine.snapshot())
    assert (again.outcome, again.decision_id) == ("duplicate", first.decision_id), again
