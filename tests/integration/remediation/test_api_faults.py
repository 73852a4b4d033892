"""Runbooks against an API server that misbehaves mid-remediation, over the wire.

- A rollback whose answer is lost (the server applied it, the connection broke) is not
  written again when the client retries: "the previous revision" is relative, and once
  the controller has made the restored ReplicaSet the newest revision, a fresh read
  points back at the release the rollback just left.
- A rollback approved after someone rolled the Deployment out again is refused, not
  rolled back from that new rollout onto the release that failed.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.remediation.rig import Controller, KubeRig, Write, get_obj, seed_web

WEB = ("shop", "web")
ROLLBACK = Write("PATCH", "deployments", "shop", "web", False)


def _image(rig: KubeRig) -> str:
    deployment = get_obj(rig.server.store, "Deployment", *WEB)
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def _crashing_v2(rig: KubeRig, **kwargs: Any) -> Controller:
    seed_web(rig, behaviour="CrashLoopBackOff")
    controller = Controller(
        rig.server,
        rig.clock,
        lambda c: "CrashLoopBackOff" if c["image"] == "shop/web:2" else "Ready",
        **kwargs,
    )
    rig.controllers.append(lambda: controller.reconcile(*WEB))
    return controller


def test_a_rollback_whose_answer_was_lost_is_not_written_again(
    rig: KubeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller = _crashing_v2(rig)
    store = rig.server.store
    patch = store.patch

    def patch_then_controller(rt: Any, namespace: str, name: str, *args: Any, **kw: Any) -> Any:
        result = patch(rt, namespace, name, *args, **kw)
        if rt.kind == "Deployment" and not kw.get("dry_run"):
            controller.reconcile(namespace, name)  # the revision moves before the retry
        return result

    monkeypatch.setattr(store, "patch", patch_then_controller)
    rig.server.inject(r"/deployments/web$", method="PATCH", lost_answer=True)
    rig.cycle()
    assert _image(rig) == "shop/web:1"
    rig.run(6 * 60)
    (decision,) = rig.decisions_of("crashloop-after-rollout-rollback")
    assert rig.ledger.get_decision(decision.id).status == "verified"  # type: ignore[union-attr]
    assert _image(rig) == "shop/web:1"  # not rolled "back" onto the release it left
    # the lost answer and its retry reached the server; only the first changed anything
    assert [r.status for r in rig.requests() if r.method == "PATCH"] == [-1, 409]
    assert rig.writes() == [ROLLBACK]  # the one whose answer was lost (-1)
    (intent,) = rig.ledger.intents()
    assert intent.status == "applied" and intent.snapshot["revision"] == 2


def test_a_rollback_approved_after_a_new_rollout_is_refused(tmp_path: Any) -> None:
    from tests.integration.remediation.rig import build_rig

    rig = build_rig(tmp_path, auto=0.99)  # the rollback asks
    try:
        controller = _crashing_v2(rig)
        rig.cycle()
        (decision,) = rig.decisions_of("crashloop-after-rollout-rollback")
        assert decision.status == "asked"
        assert decision.proposal["operations"][0]["revision"] == 2

        def fix(deployment: dict[str, Any]) -> None:  # someone ships a fix meanwhile
            deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "shop/web:3"

        rig.server.store.modify("Deployment", *WEB, fix)
        controller.reconcile(*WEB)
        rig.clock.advance(60)
        assert rig.approve_pending() == 1
        rig.cycle()
        assert _image(rig) == "shop/web:3"  # their rollout stands
        assert rig.writes() == []
        decision = rig.ledger.get_decision(decision.id)  # type: ignore[assignment]
        assert decision.status == "failed"
        (why,) = [w for d, w in rig.channel.escalated if d == decision.id]
        assert "revision 3" in why and "planned against" in why
        (intent,) = rig.ledger.intents()
        assert intent.status == "failed" and intent.result["reason"] == "RolledOutSince"  # type: ignore[index]
    finally:
        rig.close()
