from __future__ import annotations

import contextlib
import io
import subprocess
from pathlib import Path

from agent.approvals import Approvals
from agent.cli import main
from agent.cli._context import utc_text
from agent.clock import SystemClock
from agent.decisions import DecisionService
from agent.ledger import open_ledger
from agent.observability import Metrics
from agent.settings import RoutingSettings
from tests.unit.decisions.test_decision_service import RecordingChannel, proposal


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The command as ``python -m agent`` runs it (``sys.exit(main())``), in this process:
    a subprocess paid a second or more of imports for each of these tests' 20 commands.
    ``tests/unit/test_cli.py`` runs the module itself."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: object = main(list(args))
        except SystemExit as exited:  # argparse's refusals
            code = exited.code
    returncode = code if isinstance(code, int) else 0 if code is None else 1
    return subprocess.CompletedProcess(
        ["autonomic", *args], returncode, out.getvalue(), err.getvalue()
    )


def test_answer_from_the_cli_and_explain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, SystemClock().now())
    approvals = Approvals(ledger, RecordingChannel(), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, SystemClock(), RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    asked = decisions.decide(proposal(0.95))
    other = decisions.decide(proposal(0.95, subject="Deployment/shop/cart"))
    assert asked.question_id and other.question_id

    listed = _cli("approvals", "list", "--ledger", url)
    assert listed.returncode == 0, listed.stderr
    assert "Deployment/shop/web" in listed.stdout and "Deployment/shop/cart" in listed.stdout

    approved = _cli("approve", asked.question_id[:8], "--ledger", url, "--as", "alice")
    assert approved.returncode == 0, approved.stderr
    again = _cli("reject", asked.question_id[:8], "--ledger", url, "--reason", "late")
    assert again.returncode == 2 and "already approved" in again.stderr
    rejected = _cli("reject", other.decision_id[:8], "--ledger", url, "--reason", "sale day")
    assert rejected.returncode == 0, rejected.stderr
    missing = _cli("approve", "zzzz", "--ledger", url)
    assert missing.returncode == 2 and "no question" in missing.stderr

    story = _cli("explain", other.decision_id[:10], "--ledger", url)
    assert story.returncode == 0, story.stderr
    assert "rejected by cli:" in story.stdout and "sale day" in story.stdout
    assert "PodsStuck: 2 pods not ready for 10 minutes" in story.stdout
    assert "status now: rejected" in story.stdout
    life = story.stdout.split("Life (each status and when it was taken)\n", 1)[1].splitlines()
    assert [line.split()[-1] for line in life] == ["asked", "rejected"]
    record = ledger.get_decision(asked.decision_id)
    assert record is not None and record.status == "approved"

    # an answer after expiry is refused, and the person is told it was kept for learning
    late = decisions.decide(proposal(0.95, decision_type="late/Deployment"))
    assert late.question_id
    ledger.expire_questions(SystemClock().now() + 10_000)  # its TTL long past
    told_late = _cli("approve", late.question_id[:8], "--ledger", url, "--as", "carol")
    assert told_late.returncode == 2
    assert "kept as the decision's verdict" in told_late.stderr

    # a sibling runbook's decision says what the approved one lent it
    decisions.record_outcome(asked.decision_id, right=True, status="verified")
    sibling = decisions.decide(
        proposal(
            0.95,
            decision_type="restart-wedged/Deployment",
            siblings=("restart-stuck/Deployment",),
        )
    )
    told = _cli("explain", sibling.decision_id, "--ledger", url)
    assert told.returncode == 0, told.stderr
    assert "lent       2 outcomes of sibling runbooks (restart-stuck/Deployment), 1 right" in (
        told.stdout
    )


def test_list_all_keeps_its_columns_for_a_superseded_question(tmp_path: Path) -> None:
    # "superseded" is one character wider than the status column was: the columns shifted
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, SystemClock().now())
    approvals = Approvals(ledger, RecordingChannel(), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, SystemClock(), RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    gone = decisions.decide(proposal(0.95))
    decisions.decide(proposal(0.95, subject="Deployment/shop/cart"))
    [question] = [q for q in ledger.questions(status="pending") if q.id == gone.question_id]
    assert ledger.supersede_question(question, "the canary is gone", SystemClock().now())
    listed = _cli("approvals", "list", "--all", "--ledger", url)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    at = header.index("expires")
    assert len(rows) == 2 and {row.split()[2] for row in rows} == {"superseded", "pending"}
    for row in rows:
        assert row[at - 1] == " " and row[at] != " ", (header, row)


def test_list_all_says_an_approved_question_whose_decision_was_not_carried_out(
    tmp_path: Path,
) -> None:
    """An "approved" alone reads as done at 3 a.m.: an approved decision overtaken before
    its first write (superseded) is said under the table, with the id `explain` takes;
    an escalation of hours ago is said in hours, not in thousands of minutes."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    clock = SystemClock()
    ledger = open_ledger(url, clock.now())
    approvals = Approvals(ledger, RecordingChannel(), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    asked = decisions.decide(proposal(0.95))
    assert asked.question_id
    assert _cli("approve", asked.question_id[:8], "--ledger", url).returncode == 0
    assert ledger.transition(asked.decision_id, ["approved"], "superseded", clock.now())
    escalated_at = clock.now() - 3 * 3600
    ledger.add_feedback(
        asked.decision_id,
        "escalation",
        "escalated",
        "autonomic",
        escalated_at,
        {"why": "the PodDisruptionBudget shop/web allows 0 disruptions"},
    )
    listed = _cli("approvals", "list", "--all", "--ledger", url)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[1] == (
        f"  {asked.decision_id[:12]}  {utc_text(escalated_at)} (3.0 h ago)  "
        "Deployment/shop/web: the "
        "PodDisruptionBudget shop/web allows 0 disruptions"
    ), lines
    assert lines[-1] == (
        f"question {asked.question_id[:12]} was approved, but its decision "
        f"{asked.decision_id[:12]} is superseded: overtaken before its first write, nothing "
        f"was written (`autonomic explain {asked.decision_id[:12]}` says why)"
    ), lines


def test_list_says_what_a_yes_does_where_the_decision_says_it(tmp_path: Path) -> None:
    # A canary promotion's question says, in Slack, what approving it does (the verdict
    # endpoints, or the stable taking the canary's images): `approvals list` said only
    # the proposal, so a person answering from the CLI did not see it.
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, SystemClock().now())
    approvals = Approvals(ledger, RecordingChannel(), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, SystemClock(), RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    said = "runbook canary-promote promotes it without asking again"
    promote = decisions.decide(proposal(0.95, evidence={"if_approved": said}))
    plain = decisions.decide(proposal(0.95, subject="Deployment/shop/cart"))
    assert promote.question_id and plain.question_id
    listed = _cli("approvals", "list", "--ledger", url)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    (row,) = [i for i, line in enumerate(lines) if line.startswith(promote.question_id[:8])]
    assert lines[row + 1].strip() == f"if approved, {said}"
    assert listed.stdout.count("if approved") == 1  # the other question says nothing more


def test_a_late_answer_to_a_decision_that_takes_no_verdict_says_it_teaches_nothing(
    tmp_path: Path,
) -> None:
    """A scheduled floor's question answered after it expired: the answer is kept (as
    none), and the CLI says it teaches nothing and why, not that it is kept for learning."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, SystemClock().now())
    approvals = Approvals(ledger, RecordingChannel(), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, SystemClock(), RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    why = "the floor was set by scheduled floor monday-open, a person's instruction"
    asked = decisions.decide(proposal(0.95, no_verdict=why))
    assert asked.question_id
    ledger.expire_questions(SystemClock().now() + 10_000)
    told = _cli("approve", asked.question_id[:8], "--ledger", url, "--as", "carol")
    assert told.returncode == 2
    assert f"kept; it teaches nothing, since this decision takes no verdict ({why})" in (
        told.stderr
    )
    assert "for learning" not in told.stderr
    kept = {r["kind"]: r["outcome"] for r in ledger.feedback_for(asked.decision_id)}
    assert kept["late-answer"] == "approved" and kept["verdict"] == "none"
