"""A rollback undone at a person's request (`autonomic undo ID`), on the real Kubernetes
adapter against the fake API server: the leader restores the template it replaced, with
a compare-and-set on the Deployment, and refuses when someone rolled out since."""

from __future__ import annotations

from kubernetes import client

from agent.ledger import DecisionRecord
from agent.undo import request
from tests.integration.remediation.rig import Controller, KubeRig, Write, get_obj, seed_web

ROLLBACK = Write("PATCH", "deployments", "shop", "web", False)
RUNBOOK = "crashloop-after-rollout-rollback"


def _image(rig: KubeRig) -> str:
    deployment = get_obj(rig.server.store, "Deployment", "shop", "web")
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def _verified_rollback(rig: KubeRig) -> DecisionRecord:
    seed_web(rig, behaviour="CrashLoopBackOff")
    controller = Controller(
        rig.server,
        rig.clock,
        lambda c: "CrashLoopBackOff" if c["image"] == "shop/web:2" else "Ready",
    )
    rig.controllers.append(lambda: controller.reconcile("shop", "web"))
    rig.cycle()
    rig.run(6 * 60)
    (decision,) = rig.decisions_of(RUNBOOK)
    fresh = rig.ledger.get_decision(decision.id)
    assert fresh is not None and fresh.status == "verified"
    assert _image(rig) == "shop/web:1" and rig.writes() == [ROLLBACK]
    return fresh


def test_a_rollback_undone_by_request_restores_the_release(rig: KubeRig) -> None:
    decision = _verified_rollback(rig)
    request(rig.ledger, decision, actor="alice", reason="the DB was down", at=rig.clock.now())
    rig.clock.advance(30)
    rig.cycle()
    assert rig.writes() == [ROLLBACK, ROLLBACK]  # the rollback, then its undo: once
    assert _image(rig) == "shop/web:2"
    fresh = rig.ledger.get_decision(decision.id)
    assert fresh is not None and fresh.status == "undone"
    (intent,) = rig.ledger.intents()
    assert intent.status == "undone" and "undo rollback" in intent.result["summary"]
    assert rig.feedback(decision.id)[-3:] == [
        ("undo-request", "requested"),
        ("correction", "wrong"),
        ("undo", "undone"),
    ]
    # People were told where they saw it: under the report of the rollback.
    assert rig.channel.notes[-1][1].startswith("undone at alice's request (the DB was down)")
    # A Warning Event on the Deployment says who asked.
    assert any(
        e["reason"] == "AutonomicUndoRequested" and "alice" in e["message"]
        for e in rig.server.store.objects("Event", "shop")
    )
    rig.run(60)
    assert rig.writes() == [ROLLBACK, ROLLBACK]  # nothing more


def test_an_undo_after_someone_rolled_out_is_refused(rig: KubeRig) -> None:
    decision = _verified_rollback(rig)
    request(rig.ledger, decision, actor="alice", reason=None, at=rig.clock.now())
    rig.clock.advance(5)
    apps = client.AppsV1Api(rig.api_client)
    deployment = apps.read_namespaced_deployment("web", "shop")
    container = deployment.spec.template.spec.containers[0].name
    apps.patch_namespaced_deployment(
        "web",
        "shop",
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": container, "image": "shop/web:3"}]}}
            }
        },
        field_manager="kubectl-set",
    )
    writes = rig.writes()
    rig.clock.advance(30)
    rig.cycle()
    assert rig.writes() == writes  # their release is not overwritten
    assert _image(rig) == "shop/web:3"
    fresh = rig.ledger.get_decision(decision.id)
    assert fresh is not None and fresh.status == "verified"
    (refusal,) = [f for f in rig.ledger.feedback_for(decision.id) if f["kind"] == "undo"]
    assert refusal["outcome"] == "refused"
    assert "not undoing their change" in refusal["detail"]["why"]
    assert "refused" in rig.channel.notes[-1][1]
