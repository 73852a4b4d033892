"""A canary verdict and the runbook decision it starts explain each other: the runbook's
`autonomic explain` says which verdict started it, the verdict's lists what it started.
They used to be two unrelated stories (a rollback verdict reported "done automatically"
while the canary-rollback runbook, separately, asked)."""

from __future__ import annotations

from pathlib import Path

from agent.cli.explain_cmd import render
from agent.decisions import Proposal
from remediation.signals import canary_signal
from tests.unit.engine.harness import WEB, rig, web


def test_a_verdict_lists_the_runbook_decision_it_started_and_that_names_it(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path)
    r.sim.add_workload(web(4))
    r.run(60)
    r.sim.roll_out(WEB, "shop/web:2")
    r.run(120)
    verdict = r.decisions.decide(
        Proposal(
            kind="canary",
            decision_type="canary/Deployment",
            subject=str(WEB),
            proposal={"verdict": "rollback", "revision": 2},
            signal_confidence=0.97,
            reason_code="canary:rollback",
            reason="latency regressed",
            evidence={},
            model_version="judge/1",
        )
    )
    unrelated = r.decisions.decide(
        Proposal(
            kind="canary",
            decision_type="canary/Deployment",
            subject=str(WEB),
            proposal={"verdict": "rollback", "revision": 1},
            signal_confidence=0.97,
            reason_code="canary:rollback",
            reason="an earlier release's verdict",
            evidence={},
            model_version="judge/1",
        )
    )
    r.engine.submit(
        [
            canary_signal(
                verdict="rollback",
                target=WEB,
                confidence=0.97,
                at=r.clock.now(),
                revision=2,
                evidence={"sentence": "latency regressed", "verdict_decision": verdict.decision_id},
            )
        ]
    )
    (started,) = [h for h in r.engine.cycle() if h.runbook == "canary-rollback"]
    assert started.outcome == "decided", started
    assert started.decision_id is not None
    story = render(r.ledger, verdict.decision_id)
    runbook = r.ledger.get_decision(started.decision_id)
    assert runbook is not None
    assert "What it started (runbook decisions)" in story
    assert (
        f"  {started.decision_id}  canary-rollback/Deployment on Deployment/shop/web: "
        f"{runbook.route}, {runbook.status}"
    ) in story
    assert "What it started" not in render(r.ledger, unrelated.decision_id)
    back = render(r.ledger, started.decision_id)
    assert (
        f"Started by\n  {verdict.decision_id}  canary verdict rollback on Deployment/shop/web, "
        f"{verdict.route}, " in back
    )
