"""The kind e2e suite's scenario, off the cluster: what ``tests/e2e/kind.sh`` waits for.

kind cannot run in CI here, so the suite's config (``tests/e2e/overlay/autonomic.yaml``)
and the runbooks it mounts (``manifests/runbooks``) would drift from the code unseen.
This runs its step 3 on the fake API server with that config's routing, mode and safety
limits: the sample Deployment (two replicas, ``tests/e2e/sample/deployment.yaml``) rolled
out to a revision that crash-loops, on a fresh ledger, must be rolled back by Autonomic
alone (``E2E_EXPECT=rollback``, the default) with nobody to ask (Slack is off there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from agent.settings import load_settings
from remediation.guards import GlobalLimits
from tests.integration.remediation.rig import Controller, Write, build_rig, get_obj, seed_web

REPO = Path(__file__).resolve().parents[3]
OVERLAY = REPO / "tests" / "e2e" / "overlay"
SAMPLE = REPO / "tests" / "e2e" / "sample" / "deployment.yaml"
RUNBOOKS = REPO / "manifests" / "runbooks"  # the ConfigMap autonomic-runbooks


def test_the_kind_suites_crash_loop_is_rolled_back_without_asking(tmp_path: Path) -> None:
    settings = load_settings(OVERLAY / "autonomic.yaml")
    assert settings.mode == "act" and not settings.slack.enabled
    sample: dict[str, Any] = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    name, namespace = sample["metadata"]["name"], sample["metadata"]["namespace"]
    assert namespace in settings.cluster.namespaces
    assert sample["metadata"]["labels"][settings.cluster.opt_in_label] == "true"
    safety = settings.safety
    rig = build_rig(
        tmp_path,
        runbooks=[RUNBOOKS],
        auto=settings.routing.auto,
        ask=settings.routing.ask,
        limits=GlobalLimits(
            max_actions_per_hour=safety.max_actions_per_hour,
            target_cooldown=safety.cooldown,
            max_pods_disrupted_per_hour=safety.max_pods_disrupted_per_hour,
        ),
    )
    try:
        seed_web(
            rig,
            name=name,
            namespace=namespace,
            replicas=sample["spec"]["replicas"],
            images=("busybox:good", "busybox:broken"),
            behaviour="CrashLoopBackOff",
        )

        def behaviour(container: dict[str, Any]) -> str:
            return "CrashLoopBackOff" if container["image"] == "busybox:broken" else "Ready"

        controller = Controller(rig.server, rig.clock, behaviour)
        rig.controllers.append(lambda: controller.reconcile(namespace, name))
        decided = [h for h in rig.cycle() if h.outcome == "decided"]
        assert [(h.runbook, h.route) for h in decided] == [
            ("crashloop-after-rollout-rollback", "auto")
        ], [(h.runbook, h.route, h.reason_code) for h in decided]
        assert rig.writes() == [Write("PATCH", "deployments", namespace, name, False)]
        deployment = get_obj(rig.server.store, "Deployment", namespace, name)
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:good"
        # kind.sh's `autonomic_event` looks for an Event on the sample from Autonomic.
        events = [w for w in rig.writes(events=True) if w.resource == "events"]
        assert [(w.method, w.namespace) for w in events] == [("POST", namespace)]
    finally:
        rig.close()
