"""`autonomic calibration` on a small ledger whose outcomes the test wrote itself."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from agent.cli import calibration_cmd
from agent.clock import FakeClock
from agent.decisions import Proposal
from agent.errors import InputError
from agent.ledger import open_ledger
from agent.settings import RoutingSettings
from tests.unit.decision_rig import inline_service


def proposal(decision_type: str, signal: float, cap: str = "auto") -> Proposal:
    return Proposal(
        kind="remediation",
        decision_type=decision_type,
        subject="Deployment shop/web",
        proposal={"action": decision_type},
        signal_confidence=signal,
        reason_code="test",
        reason="a test proposal",
        evidence={},
        model_version="test",
        max_autonomy=cap,  # type: ignore[arg-type]
    )


def small_ledger(path: Path) -> tuple[str, dict[str, object]]:
    """Three decision types with outcomes known by construction; returns the URL and
    what the report must say."""
    url = f"sqlite:///{path}"
    ledger = open_ledger(url, 0)
    clock = FakeClock(1_000_000.0)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.7, ask=0.5))
    stated: list[tuple[float, bool]] = []
    # rollback: 4 automatic; 2 verified, 2 verified then undone by a person
    for i in range(4):
        routed = decisions.decide(proposal("rollback/Deployment", 1.0))
        assert routed.route == "auto"
        decisions.record_outcome(routed.decision_id, right=True, status="verified")
        right = True
        if i >= 2:
            decisions.record_outcome(
                routed.decision_id,
                right=False,
                status="undone",
                kind="correction",
                actor="alice",
            )
            right = False
        stated.append((routed.confidence, right))
        clock.advance(60)
    # restart: asked twice; one rejected by a person, one approved and verified;
    # one more failed verification (a machine verdict, not a human correction)
    for answer, verifies in (("rejected", False), ("approved", True), ("approved", False)):
        routed = decisions.decide(proposal("restart/Pod", 1.0, cap="ask"))
        assert routed.route == "ask" and routed.question_id
        assert decisions.answer(routed.question_id, answer, "bob")
        if answer == "approved":
            decisions.record_outcome(
                routed.decision_id, right=verifies, status="verified" if verifies else "undone"
            )
        stated.append((routed.confidence, verifies))
        clock.advance(60)
    # drain: escalated, no outcome
    routed = decisions.decide(proposal("drain/Node", 0.3))
    assert routed.route == "escalate"
    # 2 wrong of 4 automatic is beyond chance at a 1 % target: auto rises above them
    assert decisions.recalibrate("rollback/Deployment").changed
    ledger.close()
    return url, {"stated": stated}


def expected_ece(stated: list[tuple[float, bool]], bins: int = 10) -> float:
    total, ece = len(stated), 0.0
    for b in range(bins):
        members = [(c, r) for c, r in stated if b / bins <= c < (b + 1) / bins]
        if members:
            mean = sum(c for c, _ in members) / len(members)
            rate = sum(r for _, r in members) / len(members)
            ece += len(members) / total * abs(mean - rate)
    return ece


def args(url: str, **extra: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "config": None,
        "ledger": url,
        "decision_type": None,
        "bins": 10,
        "json": False,
    }
    values.update(extra)
    return argparse.Namespace(**values)


def test_report_counts_rates_and_calibration_error(tmp_path: Path) -> None:
    url, truth = small_ledger(tmp_path / "small.sqlite")
    ledger = open_ledger(url, 0)
    report = calibration_cmd.calibration_report(ledger, RoutingSettings(auto=0.9, ask=0.6))
    ledger.close()
    stated = truth["stated"]
    assert isinstance(stated, list)
    by_type = {t.decision_type: t for t in report.types}
    assert set(by_type) == {"rollback/Deployment", "restart/Pod", "drain/Node"}
    rollback, restart, drain = (
        by_type["rollback/Deployment"],
        by_type["restart/Pod"],
        by_type["drain/Node"],
    )
    assert (rollback.decisions, rollback.automatic, rollback.automation_rate) == (4, 4, 1.0)
    assert (rollback.outcomes, rollback.right, rollback.corrections) == (4, 2, 2)
    assert rollback.correction_rate == pytest.approx(0.5)
    assert (restart.decisions, restart.asked, restart.automatic) == (3, 3, 0)
    assert restart.corrections == 1  # the rejection; the failed verification is not a person
    assert (drain.escalated, drain.outcomes, drain.automation_rate) == (1, 0, 0.0)
    # thresholds: recalibrated ones from the ledger, the others the defaults passed in
    worst_wrong = max(c for c, right in stated[:4] if not right)
    assert rollback.learned and rollback.auto > worst_wrong
    assert (restart.auto, restart.ask, restart.learned) == (0.9, 0.6, False)
    assert report.outcomes == len(stated) == 7
    assert sum(b.count for b in report.bins) == 7
    assert report.ece == pytest.approx(expected_ece(stated))


def test_command_prints_tables_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = small_ledger(tmp_path / "small.sqlite")
    parser = argparse.ArgumentParser()
    calibration_cmd.register(parser.add_subparsers(dest="command"))
    parsed = parser.parse_args(["calibration", "--ledger", url])
    assert parsed.handler(parsed) == 0
    text = capsys.readouterr().out
    assert "expected calibration error" in text
    assert "rollback/Deployment" in text and "100.0%" in text  # automation of rollbacks
    parsed = parser.parse_args(["calibration", "--ledger", url, "--json", "--type", "restart/Pod"])
    assert parsed.handler(parsed) == 0
    data = json.loads(capsys.readouterr().out)
    assert [t["decision_type"] for t in data["types"]] == ["restart/Pod"]
    assert data["outcomes"] == 3 and data["types"][0]["corrections"] == 1
    assert sum(b["count"] for b in data["bins"]) == 3


def test_unknown_type_and_empty_ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = small_ledger(tmp_path / "small.sqlite")
    with pytest.raises(InputError, match="no actionable decisions of type"):
        calibration_cmd.show(args(url, decision_type="nope/Deployment"))
    with pytest.raises(InputError, match="--bins"):
        calibration_cmd.show(args(url, bins=0))
    empty = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    open_ledger(empty, 0.0).close()  # a ledger the daemon created, with nothing in it yet
    assert calibration_cmd.show(args(empty)) == 0
    assert "no actionable decisions" in capsys.readouterr().out


def test_a_type_with_its_own_defaults_shows_them_until_it_is_recalibrated(
    tmp_path: Path,
) -> None:
    """A canary verdict is routed with the canary's own thresholds (0.9/0.5), not the
    global pair: the report shows the ones routing used."""
    from agent.routing import Thresholds

    url = f"sqlite:///{tmp_path / 'own.sqlite'}"
    ledger = open_ledger(url, 0)
    clock = FakeClock(1_000_000.0)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.95, ask=0.6))
    own = Proposal(
        kind="canary",
        decision_type="canary/rollback",
        subject="Deployment/shop/web-canary",
        proposal={"verdict": "rollback"},
        signal_confidence=0.8,
        reason_code="CanaryRollback",
        reason="slower than its baseline",
        evidence={},
        model_version="canary-judge/1",
        default_thresholds=Thresholds(auto=0.9, ask=0.5),
    )
    decisions.decide(own)
    decisions.decide(proposal("restart/Pod", 0.8))
    report = calibration_cmd.calibration_report(ledger, RoutingSettings(auto=0.95, ask=0.6))
    ledger.close()
    by_type = {t.decision_type: t for t in report.types}
    canary, restart = by_type["canary/rollback"], by_type["restart/Pod"]
    assert (canary.auto, canary.ask, canary.learned) == (0.9, 0.5, False)
    assert (restart.auto, restart.ask, restart.learned) == (0.95, 0.6, False)


def test_distance_to_auto_matches_what_routing_then_does(tmp_path: Path) -> None:
    """The report's "right outcomes in a row to auto" is a promise the decision service
    keeps: that many verified successes later, the next decision acts alone, and not one
    success earlier. A capped runbook says so instead of counting."""
    url = f"sqlite:///{tmp_path / 'distance.sqlite'}"
    ledger = open_ledger(url, 0)
    clock = FakeClock(1_000_000.0)
    routing = RoutingSettings(auto=0.95, ask=0.6)
    decisions = inline_service(ledger, clock, routing)

    def answered(decision_type: str, cap: str = "auto") -> str:
        routed = decisions.decide(proposal(decision_type, 0.98, cap=cap))
        assert routed.route == "ask" and routed.question_id
        assert decisions.answer(routed.question_id, "approved", "bob")
        decisions.record_outcome(routed.decision_id, right=True, status="verified")
        clock.advance(60)
        return routed.decision_id

    def standing(decision_type: str) -> calibration_cmd.TypeCalibration:
        report = calibration_cmd.calibration_report(ledger, routing, now=clock.now())
        return {t.decision_type: t for t in report.types}[decision_type]

    answered("restart/Pod")
    first = standing("restart/Pod")
    assert first.until_auto is not None and first.until_auto > 1 and first.capped is None
    assert 0.6 < (first.confidence_now or 0.0) < 0.95
    for _ in range(first.until_auto - 1):
        answered("restart/Pod")
    assert standing("restart/Pod").until_auto == 1
    assert decisions.decide(proposal("restart/Pod", 0.98)).route == "ask"  # not one early
    clock.advance(60)
    answered("restart/Pod")
    assert standing("restart/Pod").until_auto == 0
    assert decisions.decide(proposal("restart/Pod", 0.98)).route == "auto"

    answered("drain/Node", cap="ask")
    drain = standing("drain/Node")
    assert drain.capped == "ask"
    lines = calibration_cmd.render_text(
        calibration_cmd.calibration_report(ledger, routing, now=clock.now())
    )
    ledger.close()
    drain_line = next(line for line in lines if line.startswith("drain/Node"))
    assert "capped (ask)" in drain_line


def test_the_printed_figures_add_up_and_thresholds_keep_their_digits() -> None:
    """Three decimals showed a gap of -0.003 in a bin of 281 and +0.256 in one of 2,
    which make 0.0048, beside an expected calibration error of 0.004; and a raised
    auto threshold of 0.995 was printed 0.99. Each bin now says how many were right and
    its share of the error, and the shares add up to it; thresholds keep their digits."""
    from agent.calibration import ReliabilityBin

    bins = (
        ReliabilityBin(0.7, 0.8, 2, 0.74425, 1.0),
        ReliabilityBin(0.9, 1.0, 281, 0.98833, 277 / 281),
    )
    ece = sum(b.count / 283 * abs(b.observed_rate - b.mean_confidence) for b in bins)
    floor = calibration_cmd.TypeCalibration(
        "scaling/predictive-floor", 0.995, 0.5, True, 389, 328, 61, 0, 328 / 389, 283, 279, 0, 0.0
    )
    drain = calibration_cmd.TypeCalibration(
        "drain/Node", 0.95, 0.6, False, 3, 0, 3, 0, 0.0, 2, 2, 0, 0.0, 0.9, None, "ask"
    )
    lines = calibration_cmd.render_text(
        calibration_cmd.CalibrationReport(bins, ece, 283, (floor, drain))
    )
    rows = [line.split() for line in lines[2:4]]
    assert [row[2] for row in rows] == ["2", "277"]  # right, counted
    shares = [float(row[-1]) for row in rows]
    said = next(line for line in lines if "expected calibration error" in line)
    printed = float(said.split(":")[1].split()[0])
    assert printed == pytest.approx(ece, abs=5e-5)
    assert sum(shares) == pytest.approx(printed, abs=1e-4 + 1e-9)
    floor_line = next(line for line in lines if line.startswith("scaling/predictive-floor"))
    assert floor_line.split()[1:3] == ["0.995", "0.50"]
    assert any(line.startswith("capped (ask): the runbook's maxAutonomy is ask") for line in lines)


def test_an_automatic_decision_held_back_and_expired_is_not_counted_automatic(
    tmp_path: Path,
) -> None:
    """An automatic decision held back past ``safety.approvedMaxWait`` is closed
    ``expired`` and never runs; it was counted as automatic in the automation rate (its
    route stays ``auto``), though it never acted. It counts as escalated, in
    ``autonomic calibration`` and in the ``/metrics`` gauge alike."""
    from agent.ledger import Feedback

    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.db'}", 0)
    clock = FakeClock(1_000_000.0)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.7, ask=0.5))
    routed = [decisions.decide(proposal("rollback/Deployment", 1.0)) for _ in range(4)]
    assert [r.route for r in routed] == ["auto"] * 4
    decisions.record_outcome(routed[0].decision_id, right=True, status="verified")
    clock.advance(7200.0)
    for held in routed[1:]:
        closing = Feedback(held.decision_id, "execution", "expired", "autonomic", {"why": "held"})
        assert ledger.transition(
            held.decision_id, ["approved"], "expired", clock.now(), feedback=[closing]
        )

    report = calibration_cmd.calibration_report(ledger, RoutingSettings(auto=0.7, ask=0.5))
    [kind] = report.types
    assert (kind.decisions, kind.automatic, kind.asked, kind.escalated) == (4, 1, 0, 3)
    assert kind.automation_rate == 0.25

    decisions.publish_gauges(since=0.0)
    gauge = decisions.metrics.automation_rate.labels(decision_type="rollback/Deployment")
    assert gauge._value.get() == 0.25
    ledger.close()
