"""Without Slack, escalations are seen where questions are: `GET /approvals` and
`autonomic approvals list` show the last day's, with why nothing was done."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agent.approvals import ESCALATIONS_SHOWN
from agent.cli import main
from agent.clock import FakeClock
from agent.daemon import _pending
from agent.decisions import Proposal
from agent.ledger import open_ledger
from agent.settings import RoutingSettings
from tests.unit.decision_rig import inline_service


def proposal(subject: str, signal: float) -> Proposal:
    return Proposal(
        kind="remediation",
        decision_type="restart/Pod",
        subject=subject,
        proposal={"op": "delete_pod"},
        signal_confidence=signal,
        reason_code="PodStuck",
        reason="not ready for 15 minutes",
        evidence={},
        model_version="runbook restart@1",
    )


def test_the_last_days_escalations_are_listed_next_to_the_questions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0)
    clock = FakeClock(time.time() - 2 * ESCALATIONS_SHOWN)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.95, ask=0.6))
    old = decisions.decide(proposal("Pod/shop/old", 0.2))  # two days ago: not shown
    clock.advance(2 * ESCALATIONS_SHOWN - 600)
    recent = decisions.decide(proposal("Pod/shop/web-1", 0.2))
    asked = decisions.decide(proposal("Pod/shop/web-2", 1.0))
    assert (old.route, recent.route, asked.route) == ("escalate", "escalate", "ask")

    body = json.loads(_pending(ledger, clock.now()).body)
    assert [p["decision"] for p in body["pending"]] == [asked.decision_id]
    [shown] = body["escalations"]
    assert shown["decision"] == recent.decision_id and shown["subject"] == "Pod/shop/web-1"
    assert "below the ask threshold" in shown["why"] and shown["status"] == "escalated"
    ledger.close()

    assert main(["approvals", "list", "--ledger", url]) == 0
    out = capsys.readouterr().out
    escalated, questions = out.split("\n\n", 1)
    assert "escalated in the last 24 h" in escalated and "Pod/shop/web-1" in escalated
    assert "Pod/shop/old" not in out
    assert asked.decision_id[:8] in questions
