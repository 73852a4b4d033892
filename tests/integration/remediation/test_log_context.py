"""Every log line written while a decision is handled carries its id (JSON logs), so one
``grep`` of a decision id finds the whole story in the daemon's log."""

from __future__ import annotations

from tests.harness.logs import json_lines
from tests.integration.remediation.rig import KubeRig, seed_web
from tests.integration.remediation.test_api_faults import _surge


def test_the_lines_of_an_applied_step_carry_the_decision_id(rig: KubeRig) -> None:
    seed_web(rig, replicas=4)
    _surge(rig)
    with json_lines() as lines:
        rig.cycle()
    (decision,) = rig.decisions_of("traffic-surge-scale-out")
    about = [line for line in lines if "shop/web" in line["message"]]
    assert any(line["message"].startswith("applied scale") for line in about), lines
    assert all(line.get("decision_id") == decision.id for line in about), about
