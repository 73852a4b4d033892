"""A rejection's reason is optional, from the CLI as from Slack's Reject button (a click
carries none); where it is shown (`explain`, the rewritten Slack message) a rejection
without one says "no reason given" rather than an empty field or a null."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.slack_blocks import question_blocks
from agent.approvals import Approvals
from agent.cli import main
from agent.clock import SystemClock
from agent.decisions import DecisionService
from agent.ids import short_id
from agent.ledger import Ledger, open_ledger
from agent.observability import Metrics
from agent.settings import RoutingSettings
from tests.unit.decisions.test_decision_service import RecordingChannel, proposal


def _asked(tmp_path: Path) -> tuple[str, Ledger, DecisionService, list[Any]]:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, SystemClock().now())
    approvals = Approvals(ledger, RecordingChannel(), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, SystemClock(), RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    asked = [
        decisions.decide(proposal(0.95, subject=f"Deployment/shop/{name}"))
        for name in ("web", "cart", "blank")
    ]
    return url, ledger, decisions, asked


def _slack_text(ledger: Ledger, decision_id: str, question_id: str) -> str:
    record, question = ledger.get_decision(decision_id), ledger.question(question_id)
    assert record is not None and question is not None
    return json.dumps(question_blocks(record, question))


def test_a_rejection_without_a_reason_says_so_in_explain_and_in_slack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, ledger, _, (bare, given, blank) = _asked(tmp_path)
    assert main(["reject", bare.question_id, "--ledger", url, "--as", "alice"]) == 0
    assert capsys.readouterr().out == (
        f"question {bare.question_id[:12]} rejected by alice (no reason given)\n"
    )
    assert main(["explain", bare.decision_id, "--ledger", url]) == 0
    story = capsys.readouterr().out
    assert f"question   {short_id(bare.question_id)} rejected by alice at " in story
    [line] = [line for line in story.splitlines() if "rejected by alice at" in line]
    assert line.endswith(": no reason given")
    assert "answer: rejected (alice), no reason given {" in story
    assert "null" not in story
    text = _slack_text(ledger, bare.decision_id, bare.question_id)
    assert "*Rejected* by alice" in text
    assert " (no reason given)." in text

    reason = "sale day <!channel>"
    assert main(["reject", given.question_id, "--ledger", url, "--reason", reason]) == 0
    assert capsys.readouterr().out.endswith(f": {reason}\n")
    assert main(["explain", given.decision_id, "--ledger", url]) == 0
    story = capsys.readouterr().out
    assert f": {reason}\n" in story and "no reason given" not in story
    text = _slack_text(ledger, given.decision_id, given.question_id)
    assert ": sale day &lt;!channel&gt;." in text and "no reason given" not in text

    # --reason "" or blanks is no reason, not an empty one
    assert main(["reject", blank.question_id, "--ledger", url, "--reason", "  "]) == 0
    assert capsys.readouterr().out.endswith("(no reason given)\n")
    question = ledger.question(blank.question_id)
    assert question is not None and question.answer_reason is None


def test_a_reject_click_in_slack_and_an_approval_without_a_reason(tmp_path: Path) -> None:
    """The Reject button gives no reason: the message says so, as for the CLI. An
    approval needs no reason and shows none."""
    _, ledger, decisions, (clicked, approved, _) = _asked(tmp_path)
    assert clicked.question_id and approved.question_id
    assert decisions.answer(clicked.question_id, "rejected", "U0BOB", None)
    text = _slack_text(ledger, clicked.decision_id, clicked.question_id)
    assert "*Rejected* by <@U0BOB>" in text and "(no reason given)." in text
    assert decisions.answer(approved.question_id, "approved", "U0ALICE", None)
    text = _slack_text(ledger, approved.decision_id, approved.question_id)
    assert "*Approved* by <@U0ALICE>" in text and "reason" not in text.split("*Approved*")[1]


@pytest.mark.parametrize("argv", [["reject"], ["approvals", "reject"]])
def test_the_help_says_the_reason_is_optional(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--reason REASON why it is rejected (optional;" in text
    assert "without it they say 'no reason given'" in text


def test_explain_aligns_a_plans_later_lines_under_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A runbook with two actions has a two-line reason; explain printed the second line
    at column 0, where it read as a heading of its own."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, SystemClock().now())
    approvals = Approvals(ledger, RecordingChannel(), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, SystemClock(), RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    reason = (
        "alert HighErrorRate on Deployment/shop/web; plan: Deployment shop/web: rollout "
        "restart\nDeployment shop/web: replicas 3 -> 5 (x1.5, max 20)"
    )
    routed = decisions.decide(proposal(0.9, reason=reason))
    assert main(["explain", routed.decision_id, "--ledger", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  why      PodsStuck: "))
    assert lines[at + 1] == "           Deployment shop/web: replicas 3 -> 5 (x1.5, max 20)"
    assert lines[at + 2].startswith("  proposed ")
