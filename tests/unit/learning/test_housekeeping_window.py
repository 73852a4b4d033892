"""The hourly housekeeping recalibrates, and rates, every decision type decided in the
last 7 days (docs/decisions.md, "Thresholds"; docs/deploy.md, the automation-rate gauge).

Before, it found the types among the newest 20,000 decisions only: at 1,000 workloads,
under 17 hours of the 7 days. A rare runbook drowned by scaling decisions was skipped:
its thresholds never moved and its automation rate was not published. Here the newest
decisions any read of ``Ledger.decisions`` returns are capped at a few (``_newest_only``)
instead of writing 20,000 rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from agent import decisions as decisions_module
from agent.clock import FakeClock
from agent.daemon import Daemon
from agent.decisions import LEARNING_WINDOW, DecisionService, Proposal
from agent.ledger import Decision, Ledger, open_ledger
from agent.settings import RoutingSettings, Settings
from remediation.guards import PRUNE_KEEP
from tests.unit.decision_rig import inline_service

NEWEST = 10  # what a read of the newest decisions returns here, at most
RARE, BUSY = "rare-fix/Deployment", "scaling/predictive-floor"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


def _newest_only(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``decisions`` read returns at most the newest ``NEWEST``: as reading the
    newest 20,000 did on the ledger of 1,000 workloads, at a size a test can write."""
    read = ledger.decisions

    def capped(**filters: Any) -> Any:
        filters["limit"] = min(filters.get("limit", 1000), NEWEST)
        return read(**filters)

    monkeypatch.setattr(ledger, "decisions", capped)


def proposal(decision_type: str, cap: str = "auto") -> Proposal:
    return Proposal(
        kind="remediation",
        decision_type=decision_type,
        subject="Deployment/shop/web",
        proposal={"action": decision_type},
        signal_confidence=0.99,
        reason_code="test",
        reason="a test proposal",
        evidence={},
        model_version="test",
        max_autonomy=cap,  # type: ignore[arg-type]
    )


def _daemon(ledger: Ledger, clock: FakeClock, decisions: DecisionService) -> Daemon:
    # The loops: housekeeping reads none of them but the guards' window (the prune's).
    part = cast(Any, SimpleNamespace(actions_kept=lambda: PRUNE_KEEP))
    return Daemon(Settings(), clock, ledger, decisions.metrics, decisions, part, part, part, part)


def _rate(decisions: DecisionService, decision_type: str) -> float | None:
    return decisions.metrics.registry.get_sample_value(
        "autonomic_automation_rate", {"decision_type": decision_type}
    )


def test_a_rare_type_older_than_the_newest_decisions_is_recalibrated_and_rated(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(1_000_000.0)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.7, ask=0.5))
    for i in range(10):  # wrong half the time: a record that raises ``auto``
        routed = decisions.decide(proposal(RARE))
        decisions.record_outcome(routed.decision_id, right=i % 2 == 0, status="verified")
        clock.advance(60)
    autos = sum(d.route == "auto" for d in ledger.decisions(decision_type=RARE))
    clock.advance(3 * 86400)  # three days later, more decisions of a busy type than NEWEST
    for _ in range(2 * NEWEST):
        decisions.observe(proposal(BUSY))
        clock.advance(60)
    _newest_only(ledger, monkeypatch)

    _daemon(ledger, clock, decisions).housekeeping()

    moved = ledger.thresholds(RARE)
    assert moved is not None and moved[0] > 0.7
    assert _rate(decisions, RARE) == autos / 10
    # Observed only (nothing it could have acted on): no rate.
    assert _rate(decisions, BUSY) is None


def test_a_type_decided_only_before_the_window_is_left_alone(ledger: Ledger) -> None:
    clock = FakeClock(1_000_000.0)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.7, ask=0.5))
    for i in range(10):
        routed = decisions.decide(proposal(RARE))
        decisions.record_outcome(routed.decision_id, right=i % 2 == 0, status="verified")
    clock.advance(LEARNING_WINDOW + 60)
    decisions.decide(proposal("other/Deployment"))

    _daemon(ledger, clock, decisions).housekeeping()

    assert ledger.thresholds(RARE) is None
    assert _rate(decisions, RARE) is None
    assert _rate(decisions, "other/Deployment") == 1.0


def test_the_rate_counts_a_types_newest_decisions_up_to_its_own_bound(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound is per type: a busy type's does not crowd out another's decisions."""
    monkeypatch.setattr(decisions_module, "RATED_AT_MOST", 4)
    clock = FakeClock(1_000_000.0)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.7, ask=0.5))
    for cap in ["ask"] * 3 + ["auto"] * 4:
        decisions.decide(proposal(RARE, cap))
        clock.advance(60)
    for _ in range(6):
        decisions.decide(proposal(BUSY, "ask"))
        clock.advance(60)

    decisions.publish_gauges(since=clock.now() - LEARNING_WINDOW)

    assert _rate(decisions, RARE) == 1.0  # its newest 4, all automatic (of 7: 4/7)
    assert _rate(decisions, BUSY) == 0.0


def test_anomaly_observations_and_hand_offs_do_not_learn(ledger: Ledger) -> None:
    def record(kind: str, decision_type: str, at: float) -> None:
        ledger.record_decision(
            Decision(
                kind, decision_type, "Deployment/shop/web", {}, 0.9, "r", "r", {}, "v", "auto"
            ),
            at,
        )

    record("remediation", "old/Deployment", 100.0)
    record("anomaly", "anomaly/latency", 300.0)
    record("remediation", "held/fix", 300.0)
    record("remediation", "fix/Deployment", 400.0)
    record("scaling", "scaling/predictive-floor", 500.0)
    decisions = inline_service(ledger, FakeClock(600.0), RoutingSettings())
    assert decisions.learning_types(200.0) == ["fix/Deployment", "scaling/predictive-floor"]
