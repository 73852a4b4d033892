"""A canary verdict or an anomaly's observation and the runbook decision it starts explain
each other: the runbook's `autonomic explain` says what started it, the verdict's or the
observation's lists what it started. They used to be unrelated stories (a rollback
verdict reported "done automatically" while the canary-rollback runbook, separately,
asked; an observation's route read "observe: " with thresholds "?")."""

from __future__ import annotations

from pathlib import Path

from agent.cli.explain_cmd import render
from agent.decisions import Proposal, Routed
from remediation.signals import anomaly_signal, canary_signal
from tests.unit.engine.harness import WEB, Rig, rig, web


def _verdict(r: Rig, *, revision: int, reason: str) -> Routed:
    """A canary rollback verdict on ``WEB``, recorded as the canary loop records one."""
    return r.decisions.decide(
        Proposal(
            kind="canary",
            decision_type="canary/Deployment",
            subject=str(WEB),
            proposal={"verdict": "rollback", "revision": revision},
            signal_confidence=0.97,
            reason_code="canary:rollback",
            reason=reason,
            evidence={},
            model_version="judge/1",
        )
    )


def test_a_verdict_lists_the_runbook_decision_it_started_and_that_names_it(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path)
    r.sim.add_workload(web(4))
    r.run(60)
    r.sim.roll_out(WEB, "shop/web:2")
    r.run(120)
    verdict = _verdict(r, revision=2, reason="latency regressed")
    unrelated = _verdict(r, revision=1, reason="an earlier release's verdict")
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


def test_an_anomaly_observation_lists_the_runbook_decision_its_signal_started(
    tmp_path: Path,
) -> None:
    """As the anomaly loop does: the observation is recorded with the signal's key as its
    incident key, then the signal goes to the runbooks."""
    r = rig(tmp_path)
    r.sim.add_workload(web(4))
    r.run(60)
    r.sim.roll_out(WEB, "shop/web:2")
    r.clock.advance(20)
    r.engine.query = lambda text: 12.5
    signal = anomaly_signal(
        metric="http_error_ratio",
        target=WEB,
        observed=0.2,
        lower=0.0,
        upper=0.02,
        score=9.0,
        confidence=0.9,
        at=r.clock.now(),
    )
    observation = r.decisions.observe(
        Proposal(
            kind="anomaly",
            decision_type="anomaly/http_error_ratio",
            subject=str(WEB),
            proposal={"incident": 1, "reason": "spike"},
            signal_confidence=0.9,
            reason_code="AnomalySpike",
            reason="http_error_ratio spike: observed 0.2, expected 0.01",
            evidence={},
            model_version="anomaly-detector/1",
            incident_key=signal.dedup_key,
        )
    )
    r.engine.submit([signal])
    (started,) = [h for h in r.engine.cycle() if h.runbook == "error-rate-pause-rollout"]
    assert started.outcome == "decided" and started.decision_id is not None
    story = render(r.ledger, observation)
    assert "route      observe: recorded with its confidence" in story
    assert "thresholds auto ?" not in story
    assert (
        f"What it started (runbook decisions)\n  {started.decision_id}  "
        "error-rate-pause-rollout/Deployment on Deployment/shop/web: "
    ) in story
    back = render(r.ledger, started.decision_id)
    assert (
        f"Started by\n  {observation}  anomaly on Deployment/shop/web: "
        "http_error_ratio spike: observed 0.2, expected 0.01 (confidence 90.0%)"
    ) in back


def test_evidence_cut_short_says_so(tmp_path: Path) -> None:
    """`explain` prints an evidence value as JSON cut at 200 characters: a canary's
    signal, whose sentence is long, ended mid-string ("...tolerance 10%) with nothing
    after it), as if that were all of it. One cut short now ends with an ellipsis; a
    short one is printed whole."""
    r = rig(tmp_path)
    long_sentence = "latency regressed " * 20
    routed = r.decisions.decide(
        Proposal(
            kind="canary",
            decision_type="canary/Deployment",
            subject=str(WEB),
            proposal={"verdict": "rollback", "revision": 2},
            signal_confidence=0.97,
            reason_code="canary:rollback",
            reason="latency regressed",
            evidence={"signal": {"sentence": long_sentence}, "short": {"a": 1}},
            model_version="judge/1",
        )
    )
    story = render(r.ledger, routed.decision_id).splitlines()
    (signal,) = [line for line in story if line.startswith("  signal: ")]
    assert signal.endswith("…") and len(signal) == len("  signal: ") + 200
    assert '  short: {"a": 1}' in story
