"""The learning gauges when a leadership term begins (docs/deploy.md, the metrics).

``autonomic_threshold``, ``autonomic_automation_rate`` and ``autonomic_calibration_error``
were set only by the hourly housekeeping, which a standby skips, and a standby drops
them (``Metrics.standby``): a replica that began to lead showed none of them for up to
an hour. They are published as the term begins, from the stored thresholds, without
recalibrating ahead of the hour."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from agent.clock import FakeClock
from agent.daemon import Daemon
from agent.decisions import DecisionService, Proposal
from agent.ledger import Ledger, open_ledger
from agent.settings import RoutingSettings, Settings
from remediation.guards import PRUNE_KEEP
from tests.harness.gates import SwitchGate
from tests.unit.decision_rig import inline_service

TYPE = "rare-fix/Deployment"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


def proposal() -> Proposal:
    return Proposal(
        kind="remediation",
        decision_type=TYPE,
        subject="Deployment/shop/web",
        proposal={"action": TYPE},
        signal_confidence=0.99,
        reason_code="test",
        reason="a test proposal",
        evidence={},
        model_version="test",
    )


def _daemon(ledger: Ledger, clock: FakeClock, decisions: DecisionService) -> Daemon:
    # The loops; the engine recovers nothing, and keeps actions for the default window.
    part = cast(Any, SimpleNamespace(recover=dict, actions_kept=lambda: PRUNE_KEEP))
    gate = cast(Any, SwitchGate(leader=False))
    return Daemon(Settings(), clock, ledger, decisions.metrics, decisions, part, part, gate, part)


def _sample(decisions: DecisionService, name: str, **labels: str) -> float | None:
    return decisions.metrics.registry.get_sample_value(name, labels)


def test_a_standby_that_begins_to_lead_publishes_the_learning_gauges_at_once(
    ledger: Ledger,
) -> None:
    clock = FakeClock(1_000_000.0)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.7, ask=0.5))
    for i in range(10):  # wrong half the time: a record a recalibration would act on
        routed = decisions.decide(proposal())
        decisions.record_outcome(routed.decision_id, right=i % 2 == 0, status="verified")
        clock.advance(60)
    daemon = _daemon(ledger, clock, decisions)

    assert not daemon.leading()
    decisions.metrics.standby()  # as a standby's remediation job does
    assert _sample(decisions, "autonomic_threshold", decision_type=TYPE, band="auto") is None

    cast(SwitchGate, daemon.gate).leader = True
    assert daemon.leading()

    assert _sample(decisions, "autonomic_threshold", decision_type=TYPE, band="auto") == 0.7
    assert _sample(decisions, "autonomic_threshold", decision_type=TYPE, band="ask") == 0.5
    autos = sum(d.route == "auto" for d in ledger.decisions(decision_type=TYPE))
    assert _sample(decisions, "autonomic_automation_rate", decision_type=TYPE) == autos / 10
    error = _sample(decisions, "autonomic_calibration_error", decision_type=TYPE)
    assert error is not None and error > 0.0
    # Published as they stand (the type's defaults here), not recalibrated ahead of the
    # hour, though the record would move them: the housekeeping does.
    assert ledger.thresholds(TYPE) is None
    daemon.housekeeping()
    moved = ledger.thresholds(TYPE)
    assert moved is not None and moved[0] > 0.7
    assert _sample(decisions, "autonomic_threshold", decision_type=TYPE, band="auto") == moved[0]


def test_a_failed_read_is_tried_again_at_the_next_look(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(1_000_000.0)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.7, ask=0.5))
    decisions.decide(proposal())
    daemon = _daemon(ledger, clock, decisions)
    cast(SwitchGate, daemon.gate).leader = True
    read = ledger.decision_types

    def down(**_: Any) -> Any:
        raise ConnectionError("the ledger is down")

    monkeypatch.setattr(ledger, "decision_types", down)
    assert daemon.leading()  # leads all the same
    assert _sample(decisions, "autonomic_automation_rate", decision_type=TYPE) is None
    monkeypatch.setattr(ledger, "decision_types", read)
    assert daemon.leading()
    assert _sample(decisions, "autonomic_automation_rate", decision_type=TYPE) is not None
