"""`autonomic thresholds set`: a person lowers a threshold that calibration locked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agent.cli import main
from agent.clock import FakeClock
from agent.decisions import Proposal
from agent.ledger import open_ledger
from agent.settings import RoutingSettings
from tests.unit.decision_rig import inline_service

TYPE = "scaling/predictive-floor"


def proposal() -> Proposal:
    return Proposal(
        kind="scaling",
        decision_type=TYPE,
        subject="Deployment shop/web",
        proposal={"op": "set_hpa_min_replicas", "from": 3, "to": 5},
        signal_confidence=0.9,
        reason_code="ForecastPeak",
        reason="minReplicas 3 -> 5",
        evidence={},
        model_version="profile/1",
        prior_success=1.0,
    )


def test_a_locked_threshold_is_set_by_hand_and_recalibration_starts_after_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0)
    clock = FakeClock(1_000_000.0)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.8, ask=0.5))
    for i in range(22):  # automatic floor changes, the last two judged wrong
        routed = decisions.decide(proposal())
        assert routed.route == "auto"
        decisions.record_outcome(routed.decision_id, right=i < 20, status="verified")
        clock.advance(60)
    locked = decisions.recalibrate(TYPE)
    # above the wrong ones (stated about 0.98), out of the record's reach (now about 0.91)
    assert locked.reason_code == "TooManyWrong" and locked.thresholds.auto >= 0.98
    assert decisions.decide(proposal()).route == "ask"  # the type is locked out

    config = tmp_path / "autonomic.yaml"  # the daemon's routing, as the CLI reads it
    config.write_text("routing:\n  auto: 0.8\n  ask: 0.5\n", encoding="utf-8")

    def run(*argv: str) -> int:
        return main(["thresholds", "set", *argv, "--ledger", url, "--config", str(config)])

    assert run(TYPE, "--auto", "0.8", "--reason", "floors were fine", "--as", "bob") == 0
    out = capsys.readouterr().out
    assert f"auto {locked.thresholds.auto:g} -> 0.8" in out and "set by bob" in out
    assert ledger.thresholds(TYPE) == (0.8, 0.5)
    newest = ledger.threshold_history()[-1]
    assert newest["evidence"]["reason_code"] == "SetByHand"
    assert newest["evidence"]["message"] == "bob: floors were fine"
    clock.set(newest["created_at"] + 60)
    assert decisions.decide(proposal()).route == "auto"  # in force at the next decision
    # the old wrong outcomes came before the hand-set row: they do not raise it again
    assert not decisions.recalibrate(TYPE).changed

    assert run(TYPE, "--auto", "0.4", "--reason", "x") == 2
    assert "below this type's floor 0.5" in capsys.readouterr().err
    assert run(TYPE, "--auto", "0.7", "--ask", "0.9", "--reason", "x") == 2
    assert "need 0 <= --ask (0.9) <= --auto (0.7) <= 1" in capsys.readouterr().err
    assert run("nope/Thing", "--auto", "0.9", "--reason", "x") == 2
    err = capsys.readouterr().err
    assert "no decision of type 'nope/Thing'" in err and TYPE in err
    with pytest.raises(SystemExit):
        main(["thresholds", "set", TYPE, "--auto", "0.9", "--ledger", url])  # no --reason
    assert ledger.thresholds(TYPE) == (0.8, 0.5)  # the refused ones wrote nothing
    ledger.close()


def test_setting_thresholds_of_a_capped_type_says_the_cap_stands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A runbook capped at ask never acts alone: `thresholds set --auto` on its type used
    to confirm the new threshold and say nothing of the cap."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0)
    decisions = inline_service(ledger, FakeClock(1_000_000.0), RoutingSettings())
    capped = replace(proposal(), decision_type="restart/Pod", max_autonomy="ask")
    assert decisions.decide(capped).route == "ask"
    argv = ["thresholds", "set", "restart/Pod", "--auto", "0.8", "--reason", "r", "--ledger", url]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "note: its newest decision was capped at 'ask'" in out
    assert "--auto does not make it act alone" in out
    plain = decisions.decide(proposal())  # an uncapped type: no note
    assert plain.route in ("auto", "ask")
    assert main(["thresholds", "set", TYPE, "--auto", "0.8", "--reason", "r", "--ledger", url]) == 0
    assert "note:" not in capsys.readouterr().out
