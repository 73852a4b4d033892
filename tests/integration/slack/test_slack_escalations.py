"""An escalation posted to Slack is a row in the ledger too (docs/decisions.md: "Everything
that happens to a decision is a row in `feedback`: ... escalations"), so `autonomic
explain` tells that story and where to find the message, and `autonomic approvals list`
lists what was handed to the on-call, as it does without Slack."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import main
from agent.ids import short_id
from tests.integration.slack.conftest import TTL, Rig


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_an_escalation_posted_to_slack_is_kept_in_the_ledger_and_explained(
    rig: Rig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    decision_id = rig.decision(route="escalate", status="escalated", confidence=0.41)
    why = "confidence 41.0% is below the ask threshold 60%"
    ref = rig.approvals.escalate(decision_id, why, rig.clock())
    [message] = rig.slack.top_level()
    assert ref == f"slack:{message.channel}:{message.ts}"

    [row] = rig.ledger.feedback_for(decision_id)
    assert (row["kind"], row["outcome"], row["actor"]) == ("escalation", "escalated", "autonomic")
    assert row["detail"] == {"why": why, "channel": "slack", "ref": ref}
    assert row["created_at"] == rig.clock()

    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    story = _cli(capsys, "explain", decision_id, "--ledger", ledger_url)
    assert "escalation: escalated (autonomic)" in story
    assert ref in story
    listed = _cli(capsys, "approvals", "list", "--ledger", ledger_url)
    assert "escalated in the last 24 h" in listed
    assert short_id(decision_id) in listed and why in listed


def test_an_expiry_escalated_in_slack_is_recorded_with_the_expiry_in_one_write(
    rig: Rig,
) -> None:
    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(TTL)
    [expiry] = rig.approvals.expire_due(rig.clock())
    rig.drain()
    rows = rig.ledger.feedback_for(decision_id)
    assert [(r["kind"], r["outcome"]) for r in rows] == [
        ("escalation", "escalated"),
        ("expiry", "expired"),
    ]
    assert rows[0]["detail"]["ref"] == expiry.escalation_ref
    assert rows[0]["detail"]["channel"] == "slack"
    assert f"question {short_id(asked.question_id)}" in rows[0]["detail"]["why"]
    # Expired once: a second round neither escalates nor records again.
    assert rig.approvals.expire_due(rig.clock()) == []
    assert len(rig.ledger.feedback_for(decision_id)) == 2
