"""What a real cluster can return that the happy path never shows, over the wire.

- A step whose object cannot be read before the write (the Deployment kept no older
  ReplicaSet, or vanished between the list and the read) fails the decision and tells a
  person; it used to escape the cycle and leave the decision executing and its target
  blocked, and after a restart block every remediation cycle.
- Pods belong to a Deployment by owner uid, not by name: a ReplicaSet left behind by a
  deleted Deployment does not make its new namesake look broken.
- A crash-looping init container is a crash loop.
- A drain leaves a pod that no controller owns in place, and says so before approval.
- A revision annotation that is not plain digits is no revision.
"""

from __future__ import annotations

from typing import Any

import pytest

from agent.adapters.kube_state import revision_of
from remediation.ports import ObjectRef
from tests.fakekube.seed import owner_reference, pod_status, seed_pod
from tests.integration.remediation.rig import KubeRig, delete_obj, seed_nodes, seed_web

WEB = ObjectRef("Deployment", "web", "shop")
DEPLOY_GET = r"/apis/apps/v1/namespaces/shop/deployments/web$"
REVISION = "deployment.kubernetes.io/revision"


def remediations(rig: KubeRig) -> list[Any]:
    return rig.ledger.decisions(kind="remediation", limit=100)


def keep_no_old_replicasets(rig: KubeRig) -> None:
    """``revisionHistoryLimit: 0``: the controller keeps only the current ReplicaSet."""
    store = rig.server.store
    store.modify("Deployment", "shop", "web", lambda d: d["spec"].update(revisionHistoryLimit=0))
    for rs in store.objects("ReplicaSet", "shop"):
        if rs["metadata"]["labels"].get("app") == "web" and rs["metadata"]["annotations"][
            REVISION
        ] != str(revision_of(store.objects("Deployment", "shop")[0])):
            delete_obj(store, "ReplicaSet", "shop", rs["metadata"]["name"])


def assert_failed_and_escalated(rig: KubeRig, words: str) -> None:
    (decision,) = remediations(rig)
    assert decision.status == "failed"
    assert rig.ledger.intents() == []  # nothing was written, nothing half done
    [(decision_id, why)] = rig.channel.escalated
    assert decision_id == decision.id and words in why
    state, _ = rig.engine.guard_state()
    assert state.in_flight == ()  # the target is not blocked


def test_a_rollback_with_no_older_replicaset_fails_and_is_escalated(rig: KubeRig) -> None:
    seed_nodes(rig, 2)
    seed_web(rig, behaviour="CrashLoopBackOff")
    keep_no_old_replicasets(rig)
    rig.cycle()
    # it was read, and refused: not "could not read" (which a person would take for an
    # API outage or a missing permission)
    assert_failed_and_escalated(rig, "did not write Deployment/shop/web: ")
    assert_failed_and_escalated(
        rig, "no ReplicaSet of an older revision is left: its spec.revisionHistoryLimit is 0"
    )
    assert [w for w in rig.writes() if w.resource.startswith("deployments")] == []


def test_a_target_gone_between_list_and_read_is_superseded_not_written(rig: KubeRig) -> None:
    """The Deployment listed, then read back 404 when its approved run is about to write:
    the plan is no longer wanted, so the decision is closed as superseded with why,
    nothing written and the target not blocked (before, the step was tried and failed)."""
    seed_nodes(rig, 2)
    seed_web(rig, behaviour="CrashLoopBackOff")
    rig.server.inject(DEPLOY_GET, method="GET", status=404, times=5)
    rig.cycle()
    (decision,) = remediations(rig)
    assert decision.status == "superseded"
    assert rig.ledger.intents() == []
    (row,) = [f for f in rig.ledger.feedback_for(decision.id) if f["outcome"] == "superseded"]
    assert "Deployment/shop/web no longer exists" in row["detail"]["why"]
    state, _ = rig.engine.guard_state()
    assert state.in_flight == ()


def test_recovery_after_a_crash_before_the_read_fails_the_step_instead_of_raising(
    rig: KubeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon died while reading the object before its first write: the decision is
    executing with no intent. The next leader's recovery re-runs the step, whose read now
    fails for good; that must fail the decision, not raise out of every cycle."""
    seed_nodes(rig, 2)
    seed_web(rig, behaviour="CrashLoopBackOff")

    class Crash(BaseException):
        pass

    def crash(operation: Any) -> Any:
        raise Crash

    monkeypatch.setattr(rig.executor.writer, "snapshot", crash)
    with pytest.raises(Crash):
        rig.cycle()
    monkeypatch.undo()
    assert remediations(rig)[0].status == "executing"
    keep_no_old_replicasets(rig)
    rig.engine.recover()  # raised before; the cycle after it never ran
    assert_failed_and_escalated(
        rig, "no ReplicaSet of an older revision is left: its spec.revisionHistoryLimit is 0"
    )
    rig.cycle()  # and the engine runs again


def test_pods_of_a_deleted_deployments_replicaset_are_not_its_namesakes(rig: KubeRig) -> None:
    seed_nodes(rig, 2)
    seed_web(rig, behaviour="Ready")  # the new 'web', healthy
    store = rig.server.store
    gone = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "uid": "0ld"},
    }
    template = {
        "metadata": {"labels": {"app": "web-old", "pod-template-hash": "old"}},
        "spec": {"containers": [{"name": "web", "image": "shop/web:legacy"}]},
    }
    stale = store.put(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": "web-old",
                "namespace": "shop",
                "labels": {"app": "web-old", "pod-template-hash": "old"},
                "annotations": {REVISION: "7"},
                "ownerReferences": [owner_reference(gone)],
            },
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web-old"}},
                "template": template,
            },
        }
    )
    for index in range(2):
        seed_pod(
            store,
            f"web-old-{index}",
            namespace="shop",
            owner=stale,
            template=template,
            node="node-1",
            status=pod_status(ready=False, restarts=9, waiting="CrashLoopBackOff"),
        )
    rig.cycle()
    assert remediations(rig) == []
    assert [w for w in rig.writes() if w.resource.startswith("deployments")] == []
    pods = {p.ref.name: p for p in rig.cluster.list_pods("shop")}
    assert pods["web-old-0"].owner is None
    assert {p.owner for name, p in pods.items() if not name.startswith("web-old")} == {WEB}


def test_a_crash_looping_init_container_is_a_crash_loop(rig: KubeRig) -> None:
    seed_nodes(rig, 2)
    seed_web(rig, behaviour="Ready")

    def init_crash(pod: dict[str, Any]) -> None:
        status = pod["status"]
        status["phase"] = "Pending"
        status["initContainerStatuses"] = [
            {
                "name": "migrate",
                "ready": False,
                "restartCount": 7,
                "image": "m",
                "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            }
        ]
        status["containerStatuses"][0]["state"] = {"waiting": {"reason": "PodInitializing"}}
        status["containerStatuses"][0]["ready"] = False
        for condition in status["conditions"]:
            if condition["type"] == "Ready":
                condition["status"] = "False"

    for pod in rig.server.store.objects("Pod", "shop"):
        rig.server.store.modify("Pod", "shop", pod["metadata"]["name"], init_crash)
    pods = rig.cluster.list_pods("shop")
    assert {(p.waiting_reason, p.restarts) for p in pods} == {("CrashLoopBackOff", 7)}
    handled = rig.cycle()
    assert any(h.runbook == "crashloop-after-rollout-rollback" for h in handled)


def test_a_drain_leaves_a_pod_no_controller_owns_and_says_so(rig: KubeRig) -> None:
    seed_nodes(rig, 4, not_ready={"node-4": rig.clock.now() - 600})
    rig.server.store.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "scratch", "namespace": "shop", "labels": {"app": "scratch"}},
            "spec": {
                "nodeName": "node-4",
                "containers": [{"name": "c", "image": "busybox"}],
                "volumes": [{"name": "data", "emptyDir": {}}],
            },
            "status": pod_status(ready=True),
        }
    )
    rig.cycle()
    (decision,) = [d for d in remediations(rig) if d.decision_type.startswith("node-notready")]
    diff = decision.proposal["diff"][0]
    assert "0 pods to evict" in diff and "1 with no controller left in place" in diff
    rig.approve_pending()
    rig.cycle()
    assert [w for w in rig.writes() if w.resource == "pods/eviction"] == []
    assert rig.server.store.objects("Pod", "shop")  # still there


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [("3", 3), ("0", 0), (" 2 ", 0), ("1_0", 0), ("\u0662", 0), ("v2", 0), ("-1", 0), ("", 0)],
)
def test_a_revision_is_plain_digits_or_none(annotation: str, expected: int) -> None:
    assert revision_of({"metadata": {"annotations": {REVISION: annotation}}}) == expected
