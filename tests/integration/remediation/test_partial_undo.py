"""A runbook whose actions can be undone only in part, run into a failed verification:
the undo reverses what it can (last action first), the step it cannot reverse is left
as it is with the adapter's refusal (NotUndoable), and the run is recorded as failed,
not undone, and escalated. This is what the note at load (``remediation.crosschecks.
notes``) and runbooks/README.md say will happen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from remediation.loading import check_paths
from tests.integration.remediation.rig import Controller, Write, build_rig, get_obj, seed_web

RAISE_AND_RESTART = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: oom-raise-and-restart
  description: Raise the memory limit, then restart every pod.
spec:
  mode: enforce
  maxAutonomy: auto
  triggers:
    - type: kubernetes
      condition: OOMKilled
      minCount: 3
  target:
    kind: Deployment
    requireLabels: {autonomic.dev/enabled: "true"}
  actions:
    - type: patchResources
      resource: memory
      factor: 1.5
      max: 2Gi
    - type: rolloutRestart
  verification:
    settle: 1m
    window: 5m
    checks:
      - type: kubernetes
        condition: noOOMKilled
  guards:
    blastRadius: {minHealthyFraction: 0.0}
"""
PATCH = Write("PATCH", "deployments", "shop", "web", False)


def _template(rig: Any) -> dict[str, Any]:
    deployment = get_obj(rig.server.store, "Deployment", "shop", "web")
    return dict(deployment["spec"]["template"])


def test_the_undo_reverses_what_it_can_and_the_run_fails_and_escalates(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "raise-and-restart.yaml").write_text(RAISE_AND_RESTART)
    (note,) = check_paths([folder]).notes
    assert note.message.startswith(
        "on a failed verification the undo reverses patchResources (actions[0]), but not "
        "rolloutRestart (actions[1]: the pods it replaced are gone)"
    )
    rig = build_rig(tmp_path, runbooks=[folder])
    try:
        seed_web(rig, images=("shop/web:1",), behaviour="OOMKilled")
        controller = Controller(rig.server, rig.clock, lambda _c: "OOMKilled")  # a leak
        rig.controllers.append(lambda: controller.reconcile("shop", "web"))
        rig.cycle()
        (decision,) = rig.decisions_of("oom-raise-and-restart")
        rig.run(60)
        restarted = _template(rig)
        memory = restarted["spec"]["containers"][0]["resources"]["limits"]["memory"]
        restarted_at = restarted["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
        assert memory == "384Mi"
        rig.run(10 * 60)

        fresh = rig.ledger.get_decision(decision.id)
        assert fresh is not None and fresh.status == "failed"
        # The raise was undone; the restart, last, was refused and left as it is.
        by_op = {i.operation["op"]: i.status for i in rig.ledger.intents()}
        assert by_op == {"patch_resources": "undone", "rollout_restart": "applied"}
        template = _template(rig)
        assert template["spec"]["containers"][0]["resources"]["limits"]["memory"] == "256Mi"
        assert template["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] == (
            restarted_at
        )
        assert rig.writes() == [PATCH, PATCH, PATCH]  # raise, restart, undo of the raise
        (escalated,) = [why for d, why in rig.channel.escalated if d == decision.id]
        assert "undone (" in escalated and "undo refused: " in escalated
        assert "rollout_restart on Deployment/shop/web cannot be undone" in escalated
        assert ("escalation", "escalated") in rig.feedback(decision.id)
    finally:
        rig.close()
