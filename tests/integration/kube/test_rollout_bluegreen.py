"""An Argo Rollout of the blueGreen strategy, judged through the real client against the
fake API server.

Before promotion its preview ReplicaSet (``status.currentPodHash``, behind the preview
Service) is judged against its active one (``status.blueGreen.activeSelector``), with
the same judge, queries, decisions and endpoint as a canary-strategy Rollout; the answer
is what a ``prePromotionAnalysis`` ``web`` metric reads. After promotion the ReplicaSet
it replaced serves no traffic: nothing is judged, and the endpoint says so.
"""

from __future__ import annotations

from typing import Any

import pytest

from agent.adapters.kubernetes import KubernetesCluster
from agent.ledger import Ledger
from tests.fakekube import FakeApiServer
from tests.fakekube.seed import seed_node, seed_rollout, seed_rollout_canary
from tests.integration.kube.test_rollout_canary import (
    HEALTHY,
    SLOW,
    Rig,
    ledger,  # noqa: F401  (the fixture)
    opt_in,
    stable_hash,
)


@pytest.fixture
def rig(fake: FakeApiServer, cluster: KubernetesCluster, ledger: Ledger) -> Rig:  # noqa: F811
    seed_node(fake.store, "node-1")
    seed_rollout(fake.store, "web", namespace="shop", replicas=4, image="web:1", blue_green=True)
    opt_in(fake)
    made = Rig(fake, cluster, ledger)
    made.series(f"web-{stable_hash(fake)}", 1.0)
    return made


def status(rig: Rig, **changes: Any) -> None:
    """Set fields of the Rollout's status as Argo's controller would."""
    blue_green = changes.pop("blueGreen", None)

    def change(rollout: dict[str, Any]) -> None:
        rollout["status"].update(changes)
        if blue_green:
            rollout["status"]["blueGreen"].update(blue_green)

    rig.fake.store.modify("Rollout", "shop", "web", change)


def test_a_slow_preview_is_judged_rollback_against_the_active_replicaset(rig: Rig) -> None:
    active = stable_hash(rig.fake)
    preview = rig.canary("web:2", SLOW)
    decision_id = rig.until_recorded()
    (decision,) = rig.ledger.decisions(kind="canary")
    assert decision.id == decision_id and decision.subject == "Rollout/shop/web"
    assert decision.proposal["verdict"] == "rollback" and decision.route == "auto"
    assert (decision.proposal["pod_hash"], decision.proposal["stable_hash"]) == (preview, active)
    assert decision.proposal["baseline"] == f"ReplicaSet/shop/web-{active}"
    assert decision.proposal["strategy"] == "blueGreen"
    code, body = rig.ask()
    assert (code, body["verdict"], body["decision_id"]) == (200, "rollback", decision_id)
    assert (body["pod_template_hash"], body["stable_hash"]) == (preview, active)
    assert ("Rollout", "web", "CanaryRollback") in rig.events()
    rig.cycle()
    assert rig.signals == [] and rig.writes_to_rollouts() == []
    assert any(
        d == decision_id and "its active ReplicaSet (status.blueGreen.activeSelector)" in text
        for d, text in rig.progress
    )


def test_a_preview_without_traffic_is_continue_saying_why_and_never_promoted(rig: Rig) -> None:
    # The preview Service has no traffic: no series for its ReplicaSet at all.
    seed_rollout_canary(rig.fake.store, "web", namespace="shop", image="web:2")
    rig.cycle(30)
    code, body = rig.ask()
    assert (code, body["verdict"], body["judge_reason"]) == (200, "continue", "CollectingEvidence")
    assert "no verdict from no data" in body["sentence"]
    assert "the canary had no value in 30" in body["sentence"]
    rig.until_recorded(40)  # the analysis reaches its maximum duration (an hour)
    (decision,) = rig.ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "inconclusive"
    assert decision.status == "escalated"
    code, body = rig.ask()
    assert (code, body["verdict"], body["judge_reason"]) == (200, "inconclusive", "NoData")


def test_a_finished_or_promoted_blue_green_rollout_is_a_404_saying_why(rig: Rig) -> None:
    active = stable_hash(rig.fake)
    code, body = rig.ask()
    assert code == 404
    finished = "Rollout shop/web is not mid-rollout: its preview and stable ReplicaSets are one"
    assert finished in body["error"]
    # Promoted by hand before any interval was judged: the active Service selects the new
    # ReplicaSet while stableRS waits for the postPromotionAnalysis.
    preview = rig.canary("web:2", HEALTHY)
    status(rig, blueGreen={"activeSelector": preview})
    rig.cycle(3)
    assert rig.loop.analyses == {}
    code, body = rig.ask()
    assert code == 404
    assert (
        "Rollout shop/web was promoted: its active Service already selects the new ReplicaSet "
        f"(status.blueGreen.activeSelector = status.currentPodHash = {preview}; "
        f"status.stableRS is still {active} until a postPromotionAnalysis succeeds)"
    ) in body["error"]
    status(rig, stableRS=preview, phase="Healthy")
    code, body = rig.ask()
    assert code == 404
    assert f"(status.currentPodHash = status.stableRS = {preview})" in body["error"]


def asked_promotion(rig: Rig) -> tuple[str, str, str]:
    preview = rig.canary("web:2", HEALTHY)
    decision_id = rig.until_recorded()
    (question,) = rig.ledger.questions_for([decision_id])
    assert question.status == "pending" and rig.ask()[1]["decision_status"] == "asked"
    return preview, decision_id, question.id


def test_a_question_open_when_a_person_promotes_the_preview_is_closed(rig: Rig) -> None:
    """`kubectl argo rollouts promote` while the promotion is asked about: the active
    Service selects the judged hash at once (stableRS follows only after the
    postPromotionAnalysis), and the question means nothing any more."""
    preview, decision_id, _ = asked_promotion(rig)
    status(rig, blueGreen={"activeSelector": preview})
    rig.cycle()
    (question,) = rig.ledger.questions_for([decision_id])
    assert question.status == "superseded"
    assert question.answer_reason == (
        f"no longer needed: Rollout/shop/web was promoted: its active Service now selects "
        f"{preview}, the one judged (status.blueGreen.activeSelector)"
    )


def test_a_promotion_undone_after_the_active_service_switched_is_verified_wrong(
    rig: Rig,
) -> None:
    """The verdict is watched on what serves the users, the active Service's hash: a
    postPromotionAnalysis that fails makes Argo switch the active Service back (stableRS
    never moved), so the promotion was wrong; watched on stableRS it went unjudged."""
    active = stable_hash(rig.fake)
    preview, decision_id, question_id = asked_promotion(rig)
    assert rig.decisions.answer(question_id, "approved", "alice")
    rig.cycle()
    assert rig.ask()[1]["verdict"] == "promote"
    status(rig, blueGreen={"activeSelector": preview})  # Argo promotes
    rig.cycle(5)
    status(rig, abort=True, blueGreen={"activeSelector": active})  # post-promotion failed
    rig.cycle(61)
    (verified,) = [f for f in rig.ledger.feedback_for(decision_id) if f["kind"] == "verification"]
    assert verified["outcome"] == "wrong"


def test_a_promotion_the_active_service_kept_is_verified_right(rig: Rig) -> None:
    preview, decision_id, question_id = asked_promotion(rig)
    assert rig.decisions.answer(question_id, "approved", "alice")
    rig.cycle()
    status(rig, blueGreen={"activeSelector": preview})
    rig.cycle(5)
    status(rig, stableRS=preview, phase="Healthy")  # the postPromotionAnalysis succeeded
    rig.cycle(61)
    (verified,) = [f for f in rig.ledger.feedback_for(decision_id) if f["kind"] == "verification"]
    assert verified["outcome"] == "right"
