"""`autonomic explain`'s Routing section: the confidence and the thresholds in one form,
precise enough to be compared, and a runbook's cap on autonomy where it has one."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.approvals import Approvals
from agent.cli import main
from agent.decisions import DecisionService
from agent.ledger import Ledger, open_ledger
from agent.observability import Metrics
from agent.routing import Thresholds
from agent.settings import RoutingSettings
from tests.unit.decisions.test_decision_service import FakeClock, RecordingChannel, proposal


def _service(ledger: Ledger) -> DecisionService:
    approvals = Approvals(ledger, RecordingChannel(), ttl=900, snooze=900)
    return DecisionService(
        ledger,
        FakeClock(1000),
        RoutingSettings(),
        mode="act",
        approvals=approvals,
        metrics=Metrics(),
    )


def _routing(url: str, decision_id: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["explain", decision_id, "--ledger", url]) == 0
    text = capsys.readouterr().out
    section = text.split("\nRouting\n", 1)[1].split("\n\n", 1)[0]
    return section.splitlines()


def test_a_capped_runbooks_thresholds_say_the_cap_applies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A runbook capped at ask (oom-raise-memory-limit, node-notready-drain...) shows an
    automatic threshold it can never act on: explain says the cap applies there."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 1000)
    capped = _service(ledger).decide(
        proposal(0.9, decision_type="oom-raise/Deployment", max_autonomy="ask")
    )
    free = _service(ledger).decide(proposal(0.9, decision_type="restart-stuck/Deployment"))
    ledger.close()
    lines = _routing(url, capped.decision_id, capsys)
    assert lines[1] == (
        "  thresholds auto 95%, ask 60% (the runbook caps autonomy at ask: it never acts "
        "alone, at any confidence)"
    )
    assert lines[2].endswith("the runbook caps autonomy at 'ask', so it asks at any confidence")
    assert _routing(url, free.decision_id, capsys)[1] == "  thresholds auto 95%, ask 60%"


def test_the_confidence_is_shown_on_its_side_of_the_thresholds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Thresholds were printed as fractions (0.995 as 0.995, beside a confidence in
    percent, and 99% in the route's sentence); a confidence just under one was rounded
    onto it."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 1000)
    routed = _service(ledger).decide(
        proposal(
            0.99496,
            decision_type="floor/Deployment",
            prior_success=1.0,
            default_thresholds=Thresholds(auto=0.995, ask=0.5),
        )
    )
    record = ledger.get_decision(routed.decision_id)
    ledger.close()
    assert record is not None and 0.9945 < record.confidence < 0.995
    lines = _routing(url, routed.decision_id, capsys)
    # "  confidence signal S%, decision D% after its type's record": each one named
    words = lines[0].split()
    assert words[:2] == ["confidence", "signal"] and words[3] == "decision", lines[0]
    assert lines[0].endswith(" after the runbook's record")
    shown = words[4]
    assert shown.endswith("%") and float(shown[:-1]) < 99.5
    assert lines[1] == "  thresholds auto 99.5%, ask 50%"
    assert lines[2].startswith(f"  route      ask: confidence {shown} is between")
