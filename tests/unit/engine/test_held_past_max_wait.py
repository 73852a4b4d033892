"""An approved run held back past ``safety.approvedMaxWait`` before its first write is
closed ``expired``: never executed, so neither right nor wrong, and said as "not
executed (held back past approvedMaxWait)" wherever outcomes are listed.

Closed before it was claimed (a guard held it), it was recorded as an ``execution``
``expired`` row, but ``autonomic explain`` listed it as "execution: expired" and "status
now: expired", which read as a question nobody answered, and ``autonomic why`` as
"auto -> expired". Closed after its claim (the ledger, a guard or a lost lease kept its
first intent from being written) it was closed ``failed`` with an inconclusive
verification, counted in ``autonomic_decisions_total{outcome="failed"}``:
``test_execute_unwritten`` covers that one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import main
from agent.cli.explain_cmd import render
from agent.cli.why_cmd import render as why_render
from agent.verdicts import NOT_EXECUTED
from tests.unit.engine.harness import WEB, Rig, latency_anomaly, runbook_rig
from tests.unit.engine.test_first_write_recheck import _open_breaker


def _held_past_max_wait(r: Rig) -> None:
    """Its runbook's breaker opened again and again, for longer than approvedMaxWait."""
    for _ in range(int(r.engine.limits.approved_max_wait // 600) + 2):
        _open_breaker(r)
        r.run(600)


def test_an_approved_run_held_past_approved_max_wait_is_not_executed_not_judged(
    tmp_path: Path,
) -> None:
    r = runbook_rig(tmp_path)
    latency_anomaly(r, WEB, run=0)
    (record,) = r.ledger.decisions(kind="remediation", status=["approved"])
    _held_past_max_wait(r)
    closed = r.ledger.get_decision(record.id)
    assert closed is not None and closed.status == "expired"
    assert r.ledger.executions(["running", "expired", "failed"]) == []  # never claimed
    feedback = r.ledger.feedback_for(record.id)
    (row,) = [f for f in feedback if f["kind"] == "execution"]
    assert row["outcome"] == "expired"
    assert row["detail"]["why"] == (
        "not executed (held back past approvedMaxWait): approved 1h30s ago and held back "
        "since by a guard (circuit-breaker), longer than safety.approvedMaxWait (1h); an "
        "approval that old no longer describes the cluster, so a person decides again; "
        "nothing was written to the cluster"
    )
    assert not [f for f in feedback if f["kind"] == "verification"]
    assert r.ledger.outcomes(record.decision_type) == []  # neither right nor wrong
    counted = r.decisions.metrics.decisions.labels(
        kind="remediation",
        decision_type=record.decision_type,
        route="auto",
        outcome="not-executed",
    )
    assert counted._value.get() == 1

    story = render(r.ledger, record.id)
    assert f"execution: {NOT_EXECUTED} (autonomic)" in story
    assert "execution: expired" not in story
    assert f"  status now: expired, {NOT_EXECUTED}\n" in story

    (line,) = [
        text
        for text in why_render([], [closed], "", statuses={closed.id: f"expired, {NOT_EXECUTED}"})
        if closed.id[:12] in text
    ]
    assert line.endswith(f"auto -> expired, {NOT_EXECUTED}")


def test_approvals_list_and_why_say_an_approval_held_past_approved_max_wait_was_not_executed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = runbook_rig(tmp_path, auto=0.9)  # 75% asks
    latency_anomaly(r, WEB, run=0)
    (question,) = r.ledger.questions()
    assert r.decisions.answer(question.id, "approved", "alice")
    _held_past_max_wait(r)
    record = r.ledger.get_decision(question.decision_id)
    assert record is not None and record.status == "expired"
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"

    assert main(["approvals", "list", "--all", "--ledger", url]) == 0
    listed = capsys.readouterr().out
    # Each confidence named: the signal's in the reason, the decision's after it.
    assert "Deployment/shop/web (signal confidence 100.0%)" in listed
    assert listed.count("(decision confidence 75.0%)") == 1
    assert (
        f"question {question.id[:12]} was approved, but its decision {record.id[:12]} is "
        f"expired: {NOT_EXECUTED}, nothing was written"
    ) in listed

    assert main(["why", "deploy/shop/web", "--ledger", url]) == 0
    said = capsys.readouterr().out
    assert f"ask -> expired, {NOT_EXECUTED}" in said
