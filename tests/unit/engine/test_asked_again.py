"""An incident that goes on after its question expired, or was rejected, is asked about
again after a quiet period, and not before (``RemediationEngine._ask_again``).

A pod condition's incident key stays the same for the workload's revision: before this
rule, an OOMKill that went on for days after one unanswered question was never raised
again."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from agent.ids import short_id
from agent.ledger import DecisionRecord
from remediation.guards import GlobalLimits
from remediation.windows import to_utc_text
from tests.unit.engine.harness import RUNBOOKS, WEB, Rig, rig, web

OOM = "oom-raise-memory-limit"
TTL = 900.0
QUIET = 3600.0  # GlobalLimits.reask_after; the runbook's cooldown is cut to 30m below


def _rig(tmp_path: Path, *, ask: float = 0.5, **limits: float | None) -> Rig:
    """web's pods leak memory past their limit every 6 minutes, and only the OOM runbook
    runs, its cooldown shorter than the quiet period after an unanswered question."""
    folder = tmp_path / "runbooks"
    folder.mkdir()
    text = (RUNBOOKS / f"{OOM}.yaml").read_text()
    assert "cooldownPerTarget: 6h" in text
    (folder / f"{OOM}.yaml").write_text(
        text.replace("cooldownPerTarget: 6h", "cooldownPerTarget: 30m")
    )
    r = rig(tmp_path, runbooks=folder, auto=max(0.7, ask), ask=ask)
    r.engine.limits = replace(GlobalLimits(), **limits)  # type: ignore[arg-type]
    r.decisions.approvals.ttl = TTL
    r.sim.add_workload(web(leak_mib_per_hour=560.0))
    return r


def _decisions(r: Rig) -> list[DecisionRecord]:
    return sorted(r.ledger.decisions(kind="remediation"), key=lambda d: d.created_at)


def _first_asked(r: Rig, status: str = "asked") -> DecisionRecord:
    for _ in range(120):
        r.run(60, step=30)
        if _decisions(r):
            break
    (decision,) = _decisions(r)
    assert decision.status == status, decision.status
    return decision


def _closed(r: Rig, decision: DecisionRecord, status: str) -> float:
    record = r.ledger.get_decision(decision.id)
    assert record is not None
    assert record.status == status, record.status
    return record.updated_at


def test_an_oomkill_going_on_after_its_question_expired_is_asked_again_after_the_quiet(
    tmp_path: Path,
) -> None:
    r = _rig(tmp_path)
    first = _first_asked(r)
    r.run(TTL + 60, step=30)
    closed = _closed(r, first, "expired")
    r.run(closed + QUIET - 120 - r.clock.now(), step=30)  # the pods are still being killed
    assert [d.id for d in _decisions(r)] == [first.id]  # not before the quiet period
    r.run(240, step=30)
    decisions = _decisions(r)
    assert decisions[0].id == first.id
    assert len(decisions) == 2, [(d.id[:8], d.status) for d in decisions]
    again = decisions[1]
    assert again.status == "asked"
    assert again.incident_key == first.incident_key
    assert again.created_at >= closed + QUIET
    assert (
        f"still going on: decision {short_id(first.id)} about it expired with nothing done at"
        in (again.reason)
    ), again.reason
    assert again.evidence["asked_again"] == {
        "after": first.id,
        "status": "expired",
        "since": first.created_at,
    }
    # The next one waits as long again after this one expires: never more often.
    r.run(TTL + QUIET - 300, step=30)
    assert len(_decisions(r)) == 2


def test_an_oomkill_that_stopped_is_not_asked_again(tmp_path: Path) -> None:
    """The pod's last termination reason stays OOMKilled: without a kill since the
    decision, the condition still shows but the problem is over."""
    r = _rig(tmp_path)
    first = _first_asked(r)
    r.sim.workloads[WEB].leak_mib_per_hour = 0.0
    r.run(TTL + QUIET + 600, step=30)
    assert [d.id for d in _decisions(r)] == [first.id]
    assert _closed(r, first, "expired")


def test_a_rejected_oomkill_waits_for_the_longer_quiet_after_a_no(tmp_path: Path) -> None:
    r = _rig(tmp_path, reask_after_reject=3 * QUIET)
    first = _first_asked(r)
    (question,) = [q for q in r.ledger.questions() if q.status == "pending"]
    assert r.decisions.answer(question.id, "rejected", "alice")
    closed = _closed(r, first, "rejected")
    r.run(closed + 3 * QUIET - 120 - r.clock.now(), step=30)
    assert [d.id for d in _decisions(r)] == [first.id]
    r.run(240, step=30)
    decisions = _decisions(r)
    assert len(decisions) == 2
    assert (
        f"still going on: decision {short_id(first.id)} about it was rejected at"
        in decisions[1].reason
    )


def test_a_rejected_oomkill_is_never_asked_again_without_reask_after_reject(
    tmp_path: Path,
) -> None:
    r = _rig(tmp_path, reask_after_reject=None)
    first = _first_asked(r)
    (question,) = [q for q in r.ledger.questions() if q.status == "pending"]
    assert r.decisions.answer(question.id, "rejected", "alice")
    r.run(2 * QUIET, step=30)
    assert [d.id for d in _decisions(r)] == [first.id]


def _escalations(r: Rig, decisions: list[DecisionRecord]) -> list[str]:
    return [
        row["detail"]["why"]
        for d in decisions
        for row in r.ledger.feedback_for(d.id)
        if row["kind"] == "escalation"
    ]


def test_an_escalated_oomkill_going_on_is_escalated_again_after_the_quiet(
    tmp_path: Path,
) -> None:
    """Routed ``escalate`` (its confidence below the ask threshold), the incident's
    decision used to stay its decision for good: days of OOMKills, one escalation."""
    r = _rig(tmp_path, ask=0.999)
    first = _first_asked(r, "escalated")
    assert len(_escalations(r, [first])) == 1
    r.run(first.updated_at + QUIET - 120 - r.clock.now(), step=30)  # still being killed
    assert [d.id for d in _decisions(r)] == [first.id]  # not before the quiet period
    r.run(240, step=30)
    decisions = _decisions(r)
    assert len(decisions) == 2, [(d.id[:8], d.status) for d in decisions]
    again = decisions[1]
    assert again.status == "escalated"
    assert again.incident_key == first.incident_key
    assert again.created_at >= first.updated_at + QUIET
    since = to_utc_text(first.created_at)
    said = f"still going on since {since}: decision {short_id(first.id)} escalated it at {since}"
    assert said in again.reason, again.reason
    (escalation,) = _escalations(r, [again])
    assert said in escalation, escalation
    assert again.evidence["asked_again"] == {
        "after": first.id,
        "status": "escalated",
        "since": first.created_at,
    }
    # Never more often than the quiet period; the third says the incident's first time.
    r.run(QUIET - 300, step=30)
    assert len(_decisions(r)) == 2
    r.run(600, step=30)
    third = _decisions(r)[2]
    assert f"still going on since {since}: decision {short_id(again.id)} escalated it" in (
        third.reason
    ), third.reason
    assert third.evidence["asked_again"]["since"] == first.created_at


def test_an_escalated_oomkill_that_stopped_is_not_escalated_again(tmp_path: Path) -> None:
    r = _rig(tmp_path, ask=0.999)
    first = _first_asked(r, "escalated")
    r.sim.workloads[WEB].leak_mib_per_hour = 0.0
    r.run(QUIET + 600, step=30)
    assert [d.id for d in _decisions(r)] == [first.id]
    assert len(_escalations(r, [first])) == 1
