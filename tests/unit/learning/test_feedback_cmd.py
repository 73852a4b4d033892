"""`autonomic feedback`: a person's verdict on a decision reaches the track record."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.calibration import Outcome, track_record_confidence
from agent.cli import main
from agent.cli.calibration_cmd import calibration_report
from agent.clock import FakeClock
from agent.decisions import Proposal
from agent.ledger import open_ledger
from agent.settings import RoutingSettings
from tests.unit.decision_rig import inline_service


def proposal() -> Proposal:
    return Proposal(
        kind="remediation",
        decision_type="rollback/Deployment",
        subject="Deployment shop/web",
        proposal={"op": "rollback"},
        signal_confidence=1.0,
        reason_code="CrashLoopAfterRollout",
        reason="pods crash since the rollout",
        evidence={},
        model_version="runbook rollback@1",
    )


def test_a_persons_wrong_overrides_a_verified_outcome_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0)
    clock = FakeClock(1_000_000.0)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.7, ask=0.5))
    acted = decisions.decide(proposal())
    assert acted.route == "auto"
    decisions.record_outcome(acted.decision_id, right=True, status="verified")
    pending = decisions.decide(proposal())  # not carried out yet: nothing to judge
    ledger.transition(pending.decision_id, ["approved"], "asked", clock.now())

    def run(*argv: str) -> int:
        return main(["feedback", *argv, "--ledger", url])

    short = acted.decision_id[:10]
    assert run(short, "--wrong", "--reason", "the database was down", "--as", "alice") == 0
    assert "recorded as wrong by alice" in capsys.readouterr().out
    rows = ledger.outcomes("rollback/Deployment")
    assert [verdict for _, _, verdict, _ in rows] == ["wrong"]  # the person's word is newest
    record = [Outcome(at, c, v == "right", r) for at, c, v, r in rows]
    assert track_record_confidence(1.0, record, clock.now()) < 0.75  # below the prior
    correction = [f for f in ledger.feedback_for(acted.decision_id) if f["kind"] == "correction"]
    assert [(f["outcome"], f["actor"], f["detail"]["reason"]) for f in correction] == [
        ("wrong", "alice", "the database was down")
    ]
    assert run(short, "--wrong", "--as", "alice") == 0  # said once
    assert "already said wrong" in capsys.readouterr().out
    corrections = [f for f in ledger.feedback_for(acted.decision_id) if f["kind"] == "correction"]
    assert len(corrections) == 1

    assert run(pending.decision_id, "--right") == 2
    assert "only a decision that was carried out" in capsys.readouterr().err
    assert run("ffffffffffff", "--wrong") == 2
    assert "no decision id starts with" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(short)  # --wrong or --right is required
    ledger.close()


def test_the_daemon_counts_a_wrong_given_from_the_cli_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI runs in its own process; the daemon's correction counter learns of the
    verdict at its next sync, counts a "wrong" once, and leaves a "right" out."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0)
    clock = FakeClock(1_000_000.0)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.7, ask=0.5))
    wrong, right = decisions.decide(proposal()), decisions.decide(proposal())
    for routed in (wrong, right):
        decisions.record_outcome(routed.decision_id, right=True, status="verified")

    def corrections() -> float:
        counter = decisions.metrics.human_corrections.labels(decision_type="rollback/Deployment")
        value: float = counter._value.get()
        return value

    assert main(["feedback", wrong.decision_id, "--wrong", "--as", "alice", "--ledger", url]) == 0
    assert main(["feedback", right.decision_id, "--right", "--as", "alice", "--ledger", url]) == 0
    capsys.readouterr()
    assert corrections() == 0
    decisions.sync_answers()
    assert corrections() == 1
    clock.advance(60)
    decisions.sync_answers()
    assert corrections() == 1  # not twice
    ledger.close()


def test_hindsight_on_an_escalated_proposal_lets_its_type_climb_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A type whose record fell below `ask` escalates and, without hindsight, learns
    nothing while it does. The person who handled an escalation can say the proposal was
    the fix; that counts in the track record (so the type asks again) but not as a
    correction of the daemon, which did nothing."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0)
    clock = FakeClock(1_000_000.0)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.95, ask=0.6))
    for _ in range(2):  # two rejections: 3 / (4 + 2) = 0.5, below ask
        asked = decisions.decide(proposal())
        assert asked.route == "ask" and asked.question_id is not None
        assert decisions.answer(asked.question_id, "rejected", "bob", via="cli")
        clock.advance(60)
    escalated = [decisions.decide(proposal()) for _ in range(3)]
    assert [e.route for e in escalated] == ["escalate"] * 3
    assert escalated[0].confidence == pytest.approx(0.5, abs=1e-3)

    def run(*argv: str) -> int:
        return main(["feedback", *argv, "--as", "alice", "--ledger", url])

    for routed in escalated:
        assert run(routed.decision_id, "--right", "--reason", "restarting it was the fix") == 0
        assert "recorded as right by alice in hindsight" in capsys.readouterr().out
    assert run(escalated[0].decision_id, "--right") == 0
    assert "already said right" in capsys.readouterr().out
    kinds = [f["kind"] for f in ledger.feedback_for(escalated[0].decision_id)]
    assert kinds == ["escalation", "hindsight"]
    after = decisions.decide(proposal())  # (3 + 3) / (4 + 5) = 0.667
    assert after.route == "ask"
    assert after.confidence == pytest.approx(6 / 9, abs=1e-3)

    # A hindsight "wrong" lowers the record but is no correction of the daemon.
    counter = decisions.metrics.human_corrections.labels(decision_type="rollback/Deployment")
    decisions.sync_answers()
    assert counter._value.get() == 2  # the two rejections, once each
    assert run(escalated[1].decision_id, "--wrong") == 0
    capsys.readouterr()
    decisions.sync_answers()
    assert counter._value.get() == 2
    report = calibration_report(ledger, RoutingSettings(auto=0.95, ask=0.6))
    (row,) = report.types
    assert (row.corrections, row.escalated, row.outcomes) == (2, 3, 5)  # the rejections
    assert [v for _, _, v, _ in ledger.outcomes("rollback/Deployment")].count("wrong") == 3

    # Still refused: a question nobody has answered yet.
    assert after.question_id is not None
    assert run(after.decision_id, "--right") == 2
    assert "or one that was escalated or expired" in capsys.readouterr().err
    ledger.close()


def test_a_wrong_taken_back_with_right_is_no_longer_counted_as_a_correction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The newest verdict on a decision is the one that counts (docs/decisions.md): the
    reliability table already took the later --right, while the corrections column kept
    counting the --wrong it replaced."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0)
    clock = FakeClock(1_000_000.0)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.7, ask=0.5))
    taken_back, kept = decisions.decide(proposal()), decisions.decide(proposal())
    for acted in (taken_back, kept):
        assert acted.route == "auto"
        decisions.record_outcome(acted.decision_id, right=True, status="verified")
        argv = ["feedback", acted.decision_id, "--wrong", "--as", "alice", "--ledger", url]
        assert main(argv) == 0
    capsys.readouterr()
    settings = RoutingSettings(auto=0.7, ask=0.5)
    assert calibration_report(ledger, settings).types[0].corrections == 2
    clock.advance(60)
    argv = ["feedback", taken_back.decision_id, "--right", "--as", "alice", "--ledger", url]
    assert main(argv) == 0
    assert "recorded as right" in capsys.readouterr().out
    (row,) = calibration_report(ledger, settings).types
    assert (row.outcomes, row.right, row.corrections) == (2, 1, 1)
    assert row.correction_rate == pytest.approx(0.5)
    ledger.close()


def test_a_hindsight_wrong_says_how_long_its_incident_is_held(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--wrong` on an escalated remediation holds its incident like a rejection, for
    safety.reaskAfterReject (the engine's ``_ask_again``). The command used to say only
    that the verdict was recorded; it now says the hold, with the duration the daemon's
    config sets when given `--config`, or the default (and that it is one) without."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0)
    clock = FakeClock(1_000_000.0)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.99, ask=0.98))
    escalated = [decisions.decide(proposal()) for _ in range(4)]
    assert [e.route for e in escalated] == ["escalate"] * 4
    ledger.close()

    def said(routed: int, *argv: str) -> str:
        argv = ("feedback", escalated[routed].decision_id, *argv, "--as", "alice")
        assert main([*argv, "--ledger", url]) == 0
        return capsys.readouterr().out

    out = said(0, "--wrong")
    assert "recorded as wrong by alice in hindsight" in out
    assert out.splitlines()[-1] == (
        "The incident is held: if it goes on, Autonomic raises it again only after 1d "
        "(safety.reaskAfterReject, its default: the daemon's config may set another; give "
        "--config to read it), or sooner if someone says it was the fix"
    )

    config = tmp_path / "autonomic.yaml"
    config.write_text(f"ledger:\n  url: {url}\nsafety:\n  reaskAfterReject: 6h\n")
    out = said(1, "--wrong", "--config", str(config))
    assert f"only after 6h (safety.reaskAfterReject, read from {config})" in out
    config.write_text(f"ledger:\n  url: {url}\nsafety:\n  reaskAfterReject: null\n")
    out = said(2, "--wrong", "--config", str(config))
    assert "will not raise it again, however long it goes on (safety.reaskAfterReject is " in out

    # "It was the fix" holds nothing, and says nothing of a hold.
    out = said(3, "--right")
    assert "recorded as right by alice in hindsight" in out and "held" not in out
