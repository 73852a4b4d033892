"""Runbooks against an API server that misbehaves mid-remediation, over the wire.

- A rollback whose answer is lost (the server applied it, the connection broke) is not
  written again when the client retries: "the previous revision" is relative, and once
  the controller has made the restored ReplicaSet the newest revision, a fresh read
  points back at the release the rollback just left.
- A rollback approved after someone rolled the Deployment out again is refused, not
  rolled back from that new rollout onto the release that failed.
- A memory raise approved after a person raised the limit by hand is refused, not
  written over their value (it would have lowered the limit of an OOMKilled workload).
- A write that fails without an answer while the object cannot be read afterwards
  either is settled at a later cycle, once the API answers; it used to raise out of the
  cycle and leave the decision executing (and its target taken) until a restart.
"""

from __future__ import annotations

from typing import Any

import pytest

from remediation.ports import ObjectRef
from remediation.signals import forecast_breach_signal
from tests.integration.remediation.rig import Controller, KubeRig, Write, get_obj, seed_web

WEB = ("shop", "web")
ROLLBACK = Write("PATCH", "deployments", "shop", "web", False)
SCALE = Write("PATCH", "deployments/scale", "shop", "web", False)


def _surge(rig: KubeRig) -> None:
    """A forecast breach on web: the traffic-surge runbook scales it out."""
    rig.engine.submit(
        [
            forecast_breach_signal(
                metric="requests_per_second",
                target=ObjectRef("Deployment", "web", "shop"),
                observed=130.0,
                forecast_upper=100.0,
                confidence=0.95,
                at=rig.clock.now(),
            )
        ]
    )


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
    # recorded as the change it made, with its Event, not as "already runs revision 2"
    assert intent.result is not None and intent.result["changed"] is True
    assert "answer to the write was lost" in intent.result["summary"]
    events = [w for w in rig.writes(events=True) if w.resource == "events"]
    assert len(events) == 1


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


def test_a_rollback_undone_while_the_controller_lags_closes_the_run_undone(
    rig: KubeRig,
) -> None:
    """The rollback to shop/web:1 crashes too: its verification fails and the run undoes
    it (a patch back to shop/web:2) whose answer is lost; the client's retry meets a 409
    and the read back comes before the Deployment controller has observed the undo.
    At first the run was closed ``failed`` and escalated as an undo refused,
    though the undo had landed; then the read back, the rollback's own read, waited for
    the controller (``RolloutNotObserved``) and the run was held open a cycle. Now the
    read back compares the template alone (the undo's own): the undo is found landed in
    that cycle, and the run closes ``undone`` at once."""
    seed_web(rig, behaviour="CrashLoopBackOff")
    rig.server.store.deployments_lag = True
    controller = Controller(rig.server, rig.clock, lambda _c: "CrashLoopBackOff")
    rig.controllers.append(lambda: controller.reconcile(*WEB))
    rig.cycle()
    assert _image(rig) == "shop/web:1"
    (decision,) = rig.decisions_of("crashloop-after-rollout-rollback")
    rig.server.inject(r"/deployments/web$", method="PATCH", lost_answer=True)
    rig.run(13 * 60)
    assert _image(rig) == "shop/web:2"  # the undo landed
    assert [r.status for r in rig.requests() if r.method == "PATCH"] == [200, -1, 409]
    (intent,) = rig.ledger.intents()
    assert intent.status == "undone"
    decision = rig.ledger.get_decision(decision.id)  # type: ignore[assignment]
    assert decision.status == "undone"
    (why,) = [w for d, w in rig.channel.escalated if d == decision.id]
    assert "VerificationFailed" in why and "; undone (Deployment/shop/web: undo:" in why
    assert "the answer to the undo was lost" in why and "undo refused" not in why
    assert not any("is not settled yet" in text for _, text in rig.channel.notes)
    assert rig.engine.guard_state()[0].in_flight == ()


def test_an_hpa_floor_approved_after_the_floor_moved_is_not_written_over_it(
    tmp_path: Any,
) -> None:
    """The scale-out runbook plans minReplicas 2 -> 6 and asks; before the yes, the
    floor is raised to 8 (by the scaling loop, or a person for an incident). The approved
    write used to set 6 all the same: lowering the floor it meant to raise. The plan now
    carries the minimum it saw, the write is refused, and the refusal, being about the
    HPA changing rather than the runbook being wrong, is not counted against it."""
    from tests.fakekube.seed import seed_hpa
    from tests.integration.remediation.rig import build_rig

    rig = build_rig(tmp_path, auto=0.99)  # the scale-out asks
    try:
        seed_web(rig, replicas=4)
        seed_hpa(rig.server.store, "web", target="web", namespace="shop", min_replicas=2)
        rig.server.store.modify(
            "HorizontalPodAutoscaler", *WEB, lambda h: h["status"].update(currentReplicas=4)
        )
        _surge(rig)
        rig.cycle()
        (decision,) = rig.decisions_of("traffic-surge-scale-out")
        assert decision.status == "asked"
        (operation,) = decision.proposal["operations"]
        assert (operation["min_replicas"], operation["expected"]) == (6, 2)
        rig.server.store.modify(
            "HorizontalPodAutoscaler", *WEB, lambda h: h["spec"].update(minReplicas=8)
        )
        rig.clock.advance(60)
        assert rig.approve_pending() == 1
        rig.cycle()
        assert (
            get_obj(rig.server.store, "HorizontalPodAutoscaler", *WEB)["spec"]["minReplicas"] == 8
        )
        assert rig.writes() == []
        decision = rig.ledger.get_decision(decision.id)  # type: ignore[assignment]
        assert decision.status == "failed"
        (intent,) = rig.ledger.intents()
        assert intent.result is not None and intent.result["reason"] == "ChangedSinceDecision"
        feedback = rig.ledger.feedback_for(decision.id)
        assert [f["outcome"] for f in feedback if f["kind"] == "verification"] == ["inconclusive"]
    finally:
        rig.close()


def _memory_limit(rig: KubeRig) -> str:
    deployment = get_obj(rig.server.store, "Deployment", *WEB)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return str(container["resources"]["limits"]["memory"])


def test_a_memory_raise_approved_after_a_person_raised_the_limit_is_not_written_over_it(
    tmp_path: Any,
) -> None:
    """The OOM runbook plans the memory limit 256Mi -> 384Mi and asks; before the yes, a
    person raises it to 1Gi by hand. The approved patch used to set 384Mi all the same,
    lowering the limit of a workload being OOMKilled below what the person chose. Now it
    is refused as changed since the decision (inconclusive, escalated), as a moved HPA
    floor or a new rollout is."""
    from tests.integration.remediation.rig import build_rig

    rig = build_rig(tmp_path)
    try:
        seed_web(rig, images=("shop/web:1",), behaviour="OOMKilled")
        rig.cycle()
        (decision,) = rig.decisions_of("oom-raise-memory-limit")
        assert decision.status == "asked"
        (operation,) = decision.proposal["operations"]
        assert operation["limits"] == {"memory": "384Mi"}
        assert operation["expected"] == {"limits": {"memory": "256Mi"}}

        def raise_by_hand(deployment: dict[str, Any]) -> None:
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            container["resources"]["limits"]["memory"] = "1Gi"

        rig.server.store.modify("Deployment", *WEB, raise_by_hand)
        rig.clock.advance(60)
        assert rig.approve_pending() == 1
        rig.cycle()
        assert _memory_limit(rig) == "1Gi"  # theirs stands
        assert rig.writes() == []
        decision = rig.ledger.get_decision(decision.id)  # type: ignore[assignment]
        assert decision.status == "failed"
        (why,) = [w for d, w in rig.channel.escalated if d == decision.id]
        assert "it is 1Gi, not the 256Mi the decision was made from" in why
        assert why.endswith("; nothing was written to the cluster")  # not "nothing to undo"
        (intent,) = rig.ledger.intents()
        assert intent.result is not None and intent.result["reason"] == "ChangedSinceDecision"
    finally:
        rig.close()


def test_a_memory_raise_written_as_another_quantity_is_still_the_value_planned_from(
    tmp_path: Any,
) -> None:
    """The same limit written another way ("268435456" bytes is 256Mi) is not a change:
    the approved raise goes ahead."""
    from tests.integration.remediation.rig import build_rig

    rig = build_rig(tmp_path)
    try:
        seed_web(rig, images=("shop/web:1",), behaviour="OOMKilled")
        rig.cycle()
        rig.server.store.modify(
            "Deployment",
            *WEB,
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].update(
                memory="268435456"
            ),
        )
        assert rig.approve_pending() == 1
        rig.cycle()
        assert _memory_limit(rig) == "384Mi"
    finally:
        rig.close()


@pytest.mark.parametrize("landed", [True, False])
def test_a_write_nobody_can_read_back_is_settled_once_the_api_answers(
    rig: KubeRig, landed: bool
) -> None:
    seed_web(rig, replicas=4)
    controller = Controller(rig.server, rig.clock, lambda _c: "Ready")
    rig.controllers.append(lambda: controller.reconcile(*WEB))
    rig.promql.set("http_request_duration_seconds_bucket", 0.21)
    scale = r"/deployments/web/scale$"
    rig.server.inject(scale, method="GET", times=2)  # the reads before the write pass
    if landed:  # applied, but the answer is lost; the retry's 409 sends it to re-read
        rig.server.inject(scale, method="PATCH", lost_answer=True)
    else:
        rig.server.inject(scale, method="PATCH", times=2, status=503)
    rig.server.inject(scale, method="GET", times=1000, status=503)  # then no read answers
    _surge(rig)
    rig.cycle()  # used to raise TransientError
    (decision,) = rig.decisions_of("traffic-surge-scale-out")
    assert decision.status == "executing"
    (intent,) = rig.ledger.intents()
    assert intent.status == "pending"
    assert any("not known yet" in text for _, text in rig.channel.notes)
    state, _ = rig.engine.guard_state()
    assert [r.target for r in state.in_flight] == [ObjectRef("Deployment", "web", "shop")]
    rig.clock.advance(30)
    rig.cycle()  # still unreadable: still waiting, nothing written, nothing raised
    assert rig.ledger.intents()[0].status == "pending"
    rig.server.clear_faults()
    rig.run(4 * 60)
    decision = rig.ledger.get_decision(decision.id)  # type: ignore[assignment]
    (intent,) = rig.ledger.intents()
    replicas = get_obj(rig.server.store, "Deployment", *WEB)["spec"]["replicas"]
    if landed:
        assert intent.status == "applied" and decision.status == "verified"
        assert replicas == 6 and rig.writes() == [SCALE]
    else:
        assert intent.status == "abandoned" and decision.status == "failed"
        assert replicas == 4 and rig.writes() == []
        (why,) = [w for d, w in rig.channel.escalated if d == decision.id]
        assert "the API failed during the write: step 0 did not complete" in why
    assert rig.engine.guard_state()[0].in_flight == ()


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(403, "inconclusive"), (404, "inconclusive"), (422, "wrong")],
)
def test_a_step_the_cluster_refuses_counts_against_the_runbook_only_if_it_was_the_runbooks(
    rig: KubeRig, status: int, outcome: str
) -> None:
    """A scale-out the API refuses for missing RBAC (403) or a target gone meanwhile (404)
    is failed and escalated, but recorded as inconclusive: it says nothing about whether
    scaling out was right, and the runbook's track record does not count it. A write the
    API finds invalid (422) is the runbook's own doing: wrong."""
    seed_web(rig, replicas=4)
    rig.server.inject(r"/deployments/web/scale$", method="PATCH", times=1000, status=status)
    _surge(rig)
    rig.cycle()
    (decision,) = rig.decisions_of("traffic-surge-scale-out")
    decision = rig.ledger.get_decision(decision.id)  # type: ignore[assignment]
    assert decision.status == "failed"
    assert any(d == decision.id for d, _ in rig.channel.escalated)
    feedback = rig.ledger.feedback_for(decision.id)
    assert [f["outcome"] for f in feedback if f["kind"] == "verification"] == [outcome]
    counted = [verdict for _, _, verdict, _ in rig.ledger.outcomes(decision.decision_type)]
    assert counted == ([] if outcome == "inconclusive" else ["wrong"])


def test_a_missing_permission_is_escalated_naming_it(rig: KubeRig) -> None:
    """A 403 is permanent: nothing is retried or written, and the person the decision is
    escalated to is told which permission to grant, on which resource and API group."""
    seed_web(rig, replicas=4)
    rig.server.forbid("patch", "deployments/scale", group="apps", namespace="shop")
    _surge(rig)
    rig.cycle()
    (decision,) = rig.decisions_of("traffic-surge-scale-out")
    [(escalated, why)] = rig.channel.escalated
    assert escalated == decision.id
    assert "Grant verb 'patch' on resource 'deployments/scale' in API group 'apps'" in why
    assert "nothing was written to the cluster" in why
    assert get_obj(rig.server.store, "Deployment", *WEB)["spec"]["replicas"] == 4
    patches = [r for r in rig.server.requests if r.method == "PATCH" and r.status == 403]
    assert len(patches) == 1  # permanent: not retried
