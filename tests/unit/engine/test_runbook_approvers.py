"""A runbook's ``spec.approvers`` travels with its decision (``runbook_approvers`` in the
evidence), so that whoever answers can be checked against it; without Slack nothing
checks it, and `explain` and `approvals approve` say so."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.cli import main
from remediation.signals import anomaly_signal
from tests.unit.engine.harness import RUNBOOKS, WEB, rig, web

TRAFFIC = 'sum(rate(http_requests_total{namespace="shop", deployment="web"}[5m]))'
NAME = "error-rate-pause-rollout"


def test_the_runbooks_approvers_are_recorded_and_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    books = tmp_path / "runbooks"
    shutil.copytree(RUNBOOKS, books)
    path = books / f"{NAME}.yaml"
    text = path.read_text(encoding="utf-8")
    assert "  maxAutonomy: auto\n" in text
    path.write_text(
        text.replace("  maxAutonomy: auto\n", "  maxAutonomy: ask\n  approvers: [S0PAY]\n"),
        encoding="utf-8",
    )
    r = rig(tmp_path, runbooks=books)
    r.sim.add_workload(web(4))
    r.run(60)
    r.sim.roll_out(WEB, "shop/web:2")
    r.clock.advance(20)
    r.engine.query = lambda q: 12.5 if q == TRAFFIC else None
    r.engine.submit(
        [
            anomaly_signal(
                metric="http_error_ratio", target=WEB, observed=0.2, lower=0.0, upper=0.02,
                score=9.0, confidence=0.9, at=r.clock.now(),
            )
        ]
    )  # fmt: skip
    (decided,) = [h for h in r.engine.cycle() if h.runbook == NAME]
    assert decided.route == "ask" and decided.decision_id is not None
    record = r.ledger.get_decision(decided.decision_id)
    assert record is not None
    assert record.evidence["runbook_approvers"] == {"runbook": NAME, "ids": ["S0PAY"]}

    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    capsys.readouterr()
    assert main(["explain", decided.decision_id[:10], "--ledger", url]) == 0
    assert (
        f"  approvers  runbook {NAME} names S0PAY; asked without Slack, so not checked "
        "(a CLI answer counts as whoever may write the ledger)"
    ) in capsys.readouterr().out.splitlines()
    # `approvals approve` notes it after answering (the fake clock's question has long
    # expired for the CLI's real clock, so the note's source is asked directly).
    from agent.cli.approvals_cmd import _narrower_approvers

    (question,) = r.ledger.questions_for([decided.decision_id])
    assert _narrower_approvers(r.ledger, question.id) == f"S0PAY (runbook {NAME})"
