"""The simulator's "automation rate by day" counts as `autonomic calibration` and the
``/metrics`` gauge do (``agent.calibration.counted_route``): an automatic decision held
back past approvedMaxWait and closed ``expired`` never acted, so it counts as escalated.

Before, the report counted every ``auto`` route as automatic, whatever its status."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from agent.ledger import Decision, Ledger, open_ledger
from agent.sim.report import summarise
from agent.sim.run import SimResult
from agent.sim.scenario import load_scenario

START = 1_700_006_400.0
DAY = 86400.0


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", START)
    yield opened
    opened.close()


def _decide(ledger: Ledger, at: float, route: str, status: str) -> None:
    ledger.record_decision(
        Decision(
            kind="remediation",
            decision_type="oom-raise-memory-limit/Deployment",
            subject="Deployment/shop/cart",
            proposal={"op": "patch_resources"},
            confidence=0.9,
            reason_code="kubernetes:OOMKilled",
            reason="cart's pods are OOMKilled",
            evidence={},
            model_version="runbook oom-raise-memory-limit@1",
            route=route,
            status=status,
        ),
        at,
    )


def test_an_automatic_decision_closed_expired_is_not_counted_automatic(ledger: Ledger) -> None:
    _decide(ledger, START + 0.1 * DAY, "auto", "verified")
    _decide(ledger, START + 0.2 * DAY, "auto", "expired")  # held back past approvedMaxWait
    _decide(ledger, START + 0.3 * DAY, "ask", "approved")
    _decide(ledger, START + 1.5 * DAY, "auto", "expired")
    _decide(ledger, START + 1.6 * DAY, "escalate", "escalated")
    default = Path(str(resources.files("agent").joinpath("data/scenarios/default.yaml")))
    result = SimResult(
        scenario=load_scenario(default),
        start=START,
        seconds=2 * DAY,
        wall_seconds=1.0,
        ledger_url="sqlite:///ledger.sqlite",
        timelines={},
        capacity_per_pod={},
        faults=[],
        anomaly_points={},
        thresholds=[],
        writes=[],
        events=[],
        ledger=ledger,
        traces={},
    )
    # day, automatic, actionable: each day's expired automatic one counts as escalated.
    assert summarise(result).automation_by_day == [(0, 1, 3), (1, 0, 2)]
