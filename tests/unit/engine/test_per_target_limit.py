"""``guards.maxActionsPerTarget`` through the engine: the count is read from the guard
state in the ledger, so a restart (or another replica taking over) does not forget the
runs already made, and runs older than two days are kept while a window needs them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from agent.remediation_engine import Handled
from remediation.ports import ObjectRef
from remediation.windows import to_utc_text
from tests.unit.engine.harness import WEB, Rig, latency_anomaly, restarted, rig, web

HOUR = 3600.0
API = ObjectRef("Deployment", "api", "shop")
RUNBOOK = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata: {name: latency-restart, description: restart on latency at most N times a window}
spec:
  mode: enforce
  maxAutonomy: auto
  triggers: [{type: anomaly, metric: latency_p99}]
  target: {kind: Deployment, requireLabels: {autonomic.dev/enabled: "true"}}
  actions: [{type: rolloutRestart}]
  verification:
    settle: 30s
    window: 5m
    checks: [{type: kubernetes, condition: podsReady}]
  onFailure: {undo: false}
  guards:
    cooldownPerTarget: 10m
    maxActionsPerTarget: {count: 2, within: WITHIN}
"""


def _rig(tmp_path: Path, within: str) -> Rig:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "latency-restart.yaml").write_text(RUNBOOK.replace("WITHIN", within))
    r = rig(tmp_path, runbooks=folder)
    r.sim.add_workload(web())
    r.sim.add_workload(replace(web(), ref=API))
    return r


def _restarted(r: Rig) -> Rig:
    return restarted(r)


def _anomaly(r: Rig, target: ObjectRef = WEB) -> Handled:
    return latency_anomaly(r, target)


def test_the_count_survives_a_restart(tmp_path: Path) -> None:
    r = _rig(tmp_path, "24h")
    assert _anomaly(r).outcome == "decided"
    r.clock.advance(HOUR)
    second = _anomaly(r)
    assert second.outcome == "decided" and second.decision_id is not None
    # As judged for the decision (``autonomic explain``): one run in the window then.
    record = r.ledger.get_decision(second.decision_id)
    assert record is not None
    (judged,) = [g for g in record.evidence["guards"] if g["name"] == "maxActionsPerTarget"]
    assert (judged["seen"], judged["passed"]) == ("1", True)
    runs = [a.at for a in r.engine.guard_state()[0].actions if a.target == WEB]
    assert len(runs) == 2

    r = _restarted(r)
    r.clock.advance(HOUR)
    denied = _anomaly(r)
    assert (denied.outcome, denied.reason_code) == ("denied", "TargetRateLimit")
    # The first run leaves the window 24h after it started: 21h40m30s from now, since two
    # hours and two handlings of 10 minutes have passed since it started (at the first
    # cycle, 30s after the decision).
    allowed_at = runs[0] + 24 * HOUR
    assert denied.message == (
        f"latency-restart acted on {WEB} 2 times in the last 1d (limit 2 per 1d); the next "
        f"action is allowed in 21h40m30s (at {to_utc_text(allowed_at)})"
    )
    # Kept as held back, for ``autonomic why Deployment/shop/web``.
    rows = [h for h in r.ledger.held_back() if h.reason_code == "TargetRateLimit"]
    assert [(h.runbook, h.subject, h.message) for h in rows] == [
        ("latency-restart", str(WEB), denied.message)
    ]
    # The other Deployment has its own count.
    assert _anomaly(r, API).outcome == "decided"

    r.clock.advance(allowed_at - r.clock.now() - 1)
    assert _anomaly(r).reason_code == "TargetRateLimit"
    r.clock.advance(1)
    assert _anomaly(r).outcome == "decided"


def test_a_window_longer_than_two_days_keeps_its_runs(tmp_path: Path) -> None:
    """The guard state forgets actions older than two days when a run finishes, unless a
    runbook's window needs them longer."""
    r = _rig(tmp_path, "3d")
    assert _anomaly(r).outcome == "decided"
    r.clock.advance(HOUR)
    assert _anomaly(r).outcome == "decided"
    r.clock.advance(49 * HOUR)
    # A run on another Deployment finishes (and prunes the guard state) 50h on.
    assert _anomaly(r, API).outcome == "decided"
    denied = _anomaly(r)
    assert (denied.outcome, denied.reason_code) == ("denied", "TargetRateLimit")


def test_a_cooldown_longer_than_two_days_keeps_its_run(tmp_path: Path) -> None:
    """``cooldownPerTarget: 3d``: the run it waits on is kept past the two days the
    guard state otherwise keeps (it used to be forgotten when another run finished)."""
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "latency-restart.yaml").write_text(
        RUNBOOK.replace("cooldownPerTarget: 10m", "cooldownPerTarget: 3d").replace(
            "    maxActionsPerTarget: {count: 2, within: WITHIN}\n", ""
        )
    )
    r = rig(tmp_path, runbooks=folder)
    r.sim.add_workload(web())
    r.sim.add_workload(replace(web(), ref=API))
    assert _anomaly(r).outcome == "decided"
    r.clock.advance(50 * HOUR)
    assert _anomaly(r, API).outcome == "decided"  # finishes, and prunes the guard state
    denied = _anomaly(r)
    assert (denied.outcome, denied.reason_code) == ("denied", "Cooldown")
