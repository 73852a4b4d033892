"""Every write of the closed set, through the real client against the fake server:
the change itself, dry-run, the undo snapshot, undo, and undo refusal."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from agent.adapters.kube_errors import (
    BlockedByBudgetError,
    ObjectGoneError,
    UndoRefusedError,
)
from agent.adapters.kube_ops import RESTARTED_AT
from agent.adapters.kubernetes import KubernetesCluster
from agent.errors import PermanentError, TransientError
from remediation.ports import (
    Cordon,
    DeletePod,
    Drain,
    EvictionRoom,
    EvictPod,
    ObjectRef,
    PatchResources,
    PauseRollout,
    RollbackToPrevious,
    RolloutRestart,
    Scale,
    SetHpaMaxReplicas,
    SetHpaMinReplicas,
)
from tests.fakekube import FakeApiServer
from tests.fakekube.seed import (
    pod_status,
    seed_daemonset_pod,
    seed_deployment,
    seed_node,
    seed_pdb,
    seed_pod,
    seed_statefulset,
)
from tests.fakekube.store import resource_for_kind
from tests.integration.kube.conftest import FAST

WEB = ObjectRef("Deployment", "web", "shop")
HPA = ObjectRef("HorizontalPodAutoscaler", "web", "shop")


def stored(fake: FakeApiServer, kind: str, name: str, namespace: str = "shop") -> dict[str, Any]:
    return next(o for o in fake.store.objects(kind, namespace) if o["metadata"]["name"] == name)


def template_of(fake: FakeApiServer) -> dict[str, Any]:
    template: dict[str, Any] = stored(fake, "Deployment", "web")["spec"]["template"]
    return template


def test_scale_dry_run_apply_undo(fake: FakeApiServer, cluster: KubernetesCluster, shop: Any):
    dry = cluster.apply(Scale(WEB, 5), dry_run=True)
    assert dry.dry_run and dry.changed and "replicas 3 -> 5" in dry.summary
    assert stored(fake, "Deployment", "web")["spec"]["replicas"] == 3
    assert any(r.dry_run and r.resource == "deployments/scale" for r in fake.requests)

    result = cluster.apply(Scale(WEB, 5))
    assert result.before["replicas"] == 3 and result.after == {"replicas": 5}
    assert stored(fake, "Deployment", "web")["spec"]["replicas"] == 5
    assert cluster.apply(Scale(WEB, 5)).changed is False

    undone = cluster.undo(Scale(WEB, 5), result.before)
    assert "replicas 5 -> 3" in undone.summary
    assert stored(fake, "Deployment", "web")["spec"]["replicas"] == 3


def test_undo_refuses_after_someone_else_changed_it(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    result = cluster.apply(Scale(WEB, 5))
    fake.store.modify("Deployment", "shop", "web", lambda d: d["spec"].update(replicas=7))
    with pytest.raises(UndoRefusedError) as refused:
        cluster.undo(Scale(WEB, 5), result.before)
    assert refused.value.reason == "ChangedSinceWrite" and "7" in str(refused.value)
    assert stored(fake, "Deployment", "web")["spec"]["replicas"] == 7


def test_statefulset_scale_uses_its_scale_subresource(
    fake: FakeApiServer, cluster: KubernetesCluster
) -> None:
    seed_statefulset(fake.store, "db", namespace="shop", replicas=2)
    result = cluster.apply(Scale(ObjectRef("StatefulSet", "db", "shop"), 3))
    assert result.before["replicas"] == 2
    assert stored(fake, "StatefulSet", "db")["spec"]["replicas"] == 3
    assert ("patch", "statefulsets/scale") in {(r.verb, r.resource) for r in fake.requests}


def test_set_hpa_min_replicas_and_invalid_value(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    result = cluster.apply(SetHpaMinReplicas(HPA, 4))
    assert result.before["minReplicas"] == 2
    assert stored(fake, "HorizontalPodAutoscaler", "web")["spec"]["minReplicas"] == 4
    cluster.undo(SetHpaMinReplicas(HPA, 4), result.before)
    assert stored(fake, "HorizontalPodAutoscaler", "web")["spec"]["minReplicas"] == 2
    with pytest.raises(PermanentError) as invalid:
        cluster.apply(SetHpaMinReplicas(HPA, 50))  # above maxReplicas: 422 from the server
    assert invalid.value.reason == "Invalid" and "maxReplicas" in str(invalid.value)


def test_set_hpa_max_replicas_dry_run_apply_and_undo(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    raise_ = SetHpaMaxReplicas(HPA, 15, expected=10)
    dry = cluster.apply(raise_, dry_run=True)
    assert (
        dry.dry_run
        and dry.changed
        and dry.summary
        == ("HorizontalPodAutoscaler/shop/web: maxReplicas 10 -> 15 (dry run: nothing changed)")
    )
    assert stored(fake, "HorizontalPodAutoscaler", "web")["spec"]["maxReplicas"] == 10
    assert any(r.dry_run and r.resource == "horizontalpodautoscalers" for r in fake.requests)

    result = cluster.apply(raise_)
    assert result.before["maxReplicas"] == 10 and result.after == {"maxReplicas": 15}
    spec = stored(fake, "HorizontalPodAutoscaler", "web")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 15)  # only the ceiling moved
    assert cluster.apply(raise_).changed is False  # already so: nothing written again

    undone = cluster.undo(raise_, result.before)
    assert undone.summary == "HorizontalPodAutoscaler/shop/web: undo: maxReplicas 15 -> 10"
    assert stored(fake, "HorizontalPodAutoscaler", "web")["spec"]["maxReplicas"] == 10


def test_set_hpa_max_replicas_never_over_a_ceiling_someone_moved(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    # Before the write: a person raised the ceiling to 12 while the question was open.
    fake.store.modify(
        "HorizontalPodAutoscaler", "shop", "web", lambda h: h["spec"].update(maxReplicas=12)
    )
    with pytest.raises(PermanentError) as refused:
        cluster.apply(SetHpaMaxReplicas(HPA, 15, expected=10))
    assert refused.value.reason == "ChangedSinceDecision"
    assert str(refused.value) == (
        "not setting maxReplicas of HorizontalPodAutoscaler/shop/web to 15: it is 12, not "
        "the 10 the decision was made from (changed since, or the HPA was replaced)"
    )
    assert stored(fake, "HorizontalPodAutoscaler", "web")["spec"]["maxReplicas"] == 12

    # After the write: a person set 20; the undo leaves their ceiling in place.
    result = cluster.apply(SetHpaMaxReplicas(HPA, 15, expected=12))
    fake.store.modify(
        "HorizontalPodAutoscaler", "shop", "web", lambda h: h["spec"].update(maxReplicas=20)
    )
    with pytest.raises(UndoRefusedError) as kept:
        cluster.undo(SetHpaMaxReplicas(HPA, 15, expected=12), result.before)
    assert kept.value.reason == "ChangedSinceWrite" and "maxReplicas is now 20" in str(kept.value)
    assert stored(fake, "HorizontalPodAutoscaler", "web")["spec"]["maxReplicas"] == 20

    # Below minReplicas the API server refuses it (422), as any invalid write.
    with pytest.raises(PermanentError) as invalid:
        cluster.apply(SetHpaMaxReplicas(HPA, 1))
    assert invalid.value.reason == "Invalid" and "maxReplicas" in str(invalid.value)


def test_rollout_restart_sets_annotation_and_is_not_undoable(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    result = cluster.apply(RolloutRestart(WEB))
    annotations = template_of(fake)["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/restartedAt"] == result.after["restartedAt"]
    assert stored(fake, "Deployment", "web")["metadata"]["generation"] == 2
    # A Deployment never restarted has no annotation: said so, not as Python's None.
    stamp = result.after["restartedAt"]
    assert result.summary.endswith(f"kubectl.kubernetes.io/restartedAt (unset) -> {stamp})")
    with pytest.raises(UndoRefusedError) as refused:
        cluster.undo(RolloutRestart(WEB), result.before)
    assert refused.value.reason == "NotUndoable"


def test_rollback_copies_previous_replicaset_template(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    cluster.apply(RolloutRestart(WEB))  # the current template now differs from any RS
    result = cluster.apply(RollbackToPrevious(WEB))
    assert result.before["revision"] == 3 and result.after["revision"] == 2
    assert "web:v3 -> web=web:v2" in result.summary
    template = template_of(fake)
    previous_rs = next(rs for rs in shop["replicasets"] if rs["spec"]["template"]["spec"][
        "containers"][0]["image"] == "web:v2")  # fmt: skip
    expected = previous_rs["spec"]["template"]
    assert template["spec"] == expected["spec"]
    assert template["metadata"]["labels"] == {"app": "web"}  # pod-template-hash removed
    assert "annotations" not in template["metadata"]  # replaced exactly, not merged
    cluster.undo(RollbackToPrevious(WEB), result.before)
    assert template_of(fake) == result.before["template"]


def test_rollback_refusals(fake: FakeApiServer, cluster: KubernetesCluster, shop: Any) -> None:
    cluster.apply(PauseRollout(WEB, paused=True))
    with pytest.raises(PermanentError) as paused:
        cluster.apply(RollbackToPrevious(WEB))
    assert paused.value.reason == "RolloutPaused"
    seed_statefulset(fake.store, "solo", namespace="shop")
    from tests.fakekube.seed import seed_deployment

    seed_deployment(fake.store, "fresh", namespace="shop", images=("one:v1",))
    with pytest.raises(PermanentError) as none:
        cluster.apply(RollbackToPrevious(ObjectRef("Deployment", "fresh", "shop")))
    assert none.value.reason == "NoPreviousRevision"
    assert str(none.value) == (
        "Deployment/shop/fresh is at revision 1: it was never rolled out before, so there is "
        "no earlier release to roll back to"
    )


def test_a_rollback_waits_while_the_deployment_controller_lags_its_spec(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    """web runs revision 3 (web:v3); someone sets web:v4, and the controller has not
    observed it yet: the revision annotation still says 3 and no ReplicaSet has v4. Before,
    the rollback took 3 for the current revision and rolled v4 back to revision 2's
    web:v2, two releases back. Now it waits (transient), nothing written, and goes
    ahead once the controller has caught up."""

    def set_v4(d: dict[str, Any]) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "web:v4"
        d["metadata"]["generation"] = d["status"]["observedGeneration"] + 1

    fake.store.modify("Deployment", "shop", "web", set_v4)
    fake.clear_requests()
    for attempt in (lambda: cluster.snapshot(RollbackToPrevious(WEB)),
                    lambda: cluster.apply(RollbackToPrevious(WEB))):  # fmt: skip
        with pytest.raises(TransientError) as lagging:
            attempt()
        assert lagging.value.reason == "RolloutNotObserved"
        assert "generation 2, observed 1" in str(lagging.value)
    assert [r for r in fake.requests if r.verb == "patch"] == []
    assert template_of(fake)["spec"]["containers"][0]["image"] == "web:v4"

    def observed(d: dict[str, Any]) -> None:  # the controller catches up: revision 4
        d["status"]["observedGeneration"] = d["metadata"]["generation"]

    fake.store.modify("Deployment", "shop", "web", observed)
    fake.store.modify("Deployment", "shop", "web", lambda d: d["metadata"]["annotations"].update(
        {"deployment.kubernetes.io/revision": "4"}))  # fmt: skip
    result = cluster.apply(RollbackToPrevious(WEB))
    assert result.before["revision"] == 4 and result.after["revision"] == 3
    assert template_of(fake)["spec"]["containers"][0]["image"] == "web:v3"


@pytest.mark.parametrize("limit", [0, 3])
def test_a_rollback_whose_older_replicasets_are_gone_says_why_and_what_to_do(
    fake: FakeApiServer, cluster: KubernetesCluster, limit: int
) -> None:
    """Revision 2 of a Deployment whose revision-1 ReplicaSet is gone: its
    spec.revisionHistoryLimit (0: Kubernetes deleted it) says why, and the sentence what
    a person can do instead."""
    from tests.fakekube.seed import seed_deployment

    objects = seed_deployment(fake.store, "pruned", namespace="shop", images=("a:v1", "a:v2"))
    fake.store.modify(
        "Deployment", "shop", "pruned", lambda d: d["spec"].update(revisionHistoryLimit=limit)
    )
    first = objects["replicasets"][0]["metadata"]["name"]
    fake.store.delete(resource_for_kind("apps/v1", "ReplicaSet"), "shop", first)
    with pytest.raises(PermanentError) as gone:
        cluster.apply(RollbackToPrevious(ObjectRef("Deployment", "pruned", "shop")))
    assert gone.value.reason == "NoPreviousRevision"
    head = (
        "Deployment/shop/pruned is at revision 2, and no ReplicaSet of an older revision is left: "
    )
    if limit == 0:
        assert str(gone.value) == head + (
            "its spec.revisionHistoryLimit is 0, so Kubernetes deleted each older ReplicaSet "
            "as a rollout finished. Roll back from Git (apply the previous release's "
            "manifests), or raise revisionHistoryLimit (Kubernetes' default is 10) so that "
            "later releases can be rolled back"
        )
    else:
        assert str(gone.value) == head + (
            "its spec.revisionHistoryLimit is 3, which keeps up to 3 older ones, so they were "
            "deleted some other way (by hand, or by a tool that prunes ReplicaSets) or are no "
            "longer owned by it. Roll back from Git (apply the previous release's manifests)"
        )


def test_rollback_undo_refused_when_template_changed(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    result = cluster.apply(RollbackToPrevious(WEB))
    fake.store.modify(
        "Deployment",
        "shop",
        "web",
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="web:hotfix"),
    )
    with pytest.raises(UndoRefusedError):
        cluster.undo(RollbackToPrevious(WEB), result.before)
    assert template_of(fake)["spec"]["containers"][0]["image"] == "web:hotfix"


def test_pause_and_resume(fake: FakeApiServer, cluster: KubernetesCluster, shop: Any) -> None:
    paused = cluster.apply(PauseRollout(WEB, paused=True))
    assert stored(fake, "Deployment", "web")["spec"]["paused"] is True
    resumed = cluster.apply(PauseRollout(WEB, paused=False))
    assert resumed.before["paused"] is True
    assert stored(fake, "Deployment", "web")["spec"]["paused"] is False
    cluster.apply(PauseRollout(WEB, paused=True))
    cluster.undo(PauseRollout(WEB, paused=True), paused.before)
    assert stored(fake, "Deployment", "web")["spec"]["paused"] is False


def test_patch_resources_merges_by_container_name(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    operation = PatchResources(WEB, "web", requests={"memory": "256Mi"}, limits={"cpu": "2"})
    result = cluster.apply(operation)
    assert result.before["requests"] == {"memory": "128Mi"}
    assert result.before["limits"] == {"cpu": None}
    assert "requests.memory 128Mi -> 256Mi" in result.summary
    resources = template_of(fake)["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "100m", "memory": "256Mi"},
                         "limits": {"memory": "256Mi", "cpu": "2"}}  # fmt: skip
    cluster.undo(operation, result.before)
    resources = template_of(fake)["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "100m", "memory": "128Mi"},
                         "limits": {"memory": "256Mi"}}  # fmt: skip
    with pytest.raises(PermanentError) as missing:
        cluster.apply(PatchResources(WEB, "nginx", requests={"cpu": "1"}))
    assert missing.value.reason == "ContainerNotFound" and "web" in str(missing.value)


def test_delete_pod_and_gone_pod(fake: FakeApiServer, cluster: KubernetesCluster, shop: Any):
    pod = ObjectRef("Pod", shop["pods"][0]["metadata"]["name"], "shop")
    dry = cluster.apply(DeletePod(pod), dry_run=True)
    assert dry.before["owner"].startswith("ReplicaSet/") and len(fake.store.objects("Pod")) == 3
    result = cluster.apply(DeletePod(pod))
    assert result.changed and len(fake.store.objects("Pod")) == 2
    with pytest.raises(ObjectGoneError) as gone:
        cluster.apply(DeletePod(pod))
    assert gone.value.reason == "NotFound"
    with pytest.raises(UndoRefusedError):
        cluster.undo(DeletePod(pod), result.before)


@pytest.mark.parametrize("op", [DeletePod, EvictPod])
def test_a_removal_whose_answer_was_lost_is_done_not_gone(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any, op: Any
) -> None:
    # The server removes the pod, the connection breaks before its answer, and the
    # client's retry finds it gone: that is our removal, not someone else's.
    pod = ObjectRef("Pod", shop["pods"][0]["metadata"]["name"], "shop")
    method = "DELETE" if op is DeletePod else "POST"
    fake.inject(rf"/pods/{pod.name}(/eviction)?$", method=method, lost_answer=True)
    fake.clear_requests()
    result = cluster.apply(op(pod))
    assert result.changed and len(fake.store.objects("Pod")) == 2
    assert [r.status for r in fake.requests if r.method == method] == [-1, 404]


@pytest.mark.parametrize(
    ("operation", "path", "before", "moved"),
    [
        (Scale(WEB, 6), r"/deployments/web/scale$", {"replicas": 3}, "replicas 3 -> 6"),
        (SetHpaMinReplicas(HPA, 4), r"/horizontalpodautoscalers/web$", {"minReplicas": 2},
         "minReplicas 2 -> 4"),
        (SetHpaMaxReplicas(HPA, 15), r"/horizontalpodautoscalers/web$", {"maxReplicas": 10},
         "maxReplicas 10 -> 15"),
        (PauseRollout(WEB), r"/deployments/web$", {"paused": False}, "paused False -> True"),
        (Cordon(ObjectRef("Node", "node-2")), r"/nodes/node-2$", {"unschedulable": False},
         "unschedulable False -> True"),
        (PatchResources(WEB, "web", requests={"memory": "256Mi"}), r"/deployments/web$",
         {"requests": {"memory": "128Mi"}}, "requests {'memory': '128Mi'} -> {'memory': '256Mi'}"),
    ],
)  # fmt: skip
def test_a_write_whose_answer_was_lost_is_reported_as_the_change_it_made(
    fake: FakeApiServer,
    cluster: KubernetesCluster,
    shop: Any,
    operation: Any,
    path: str,
    before: dict[str, Any],
    moved: str,
) -> None:
    # The server applies the PATCH and the connection breaks before its answer; the
    # client's retry carries the old resourceVersion (409), and the re-read finds the
    # object as asked. That is this write's change, from the first read's value, not
    # "already so": the action is counted and its Event posted.
    fake.inject(path, method="PATCH", lost_answer=True)
    fake.clear_requests()
    result = cluster.apply(operation)
    assert [r.status for r in fake.requests if r.method == "PATCH"] == [-1, 409]
    assert (
        result.changed
        and moved in result.summary
        and "answer to the write was lost" in (result.summary)
    )
    assert {key: result.before[key] for key in before} == before


@pytest.mark.parametrize(
    ("operation", "path", "field", "before"),
    [
        (Scale(WEB, 6), r"/deployments/web/scale$", "replicas", 3),
        (SetHpaMinReplicas(HPA, 4), r"/horizontalpodautoscalers/web$", "minReplicas", 2),
        (PauseRollout(WEB), r"/deployments/web$", "paused", False),
        (Cordon(ObjectRef("Node", "node-2")), r"/nodes/node-2$", "unschedulable", False),
        (RollbackToPrevious(WEB), r"/deployments/web$", "template", None),
    ],
)  # fmt: skip
def test_an_undo_whose_answer_was_lost_is_undone_not_refused(
    fake: FakeApiServer,
    cluster: KubernetesCluster,
    shop: Any,
    operation: Any,
    path: str,
    field: str,
    before: Any,
) -> None:
    # The server applies the undo and its answer is lost; the client's retry carries the
    # old resourceVersion (409), and the re-read finds the value the undo wrote back.
    # Before, that read was taken for someone else's change: UndoRefusedError
    # ("ChangedSinceWrite"), so the step was recorded applied (not undone) and a person
    # was told the undo was refused, while the cluster held what it held before.
    result = cluster.apply(operation)
    fake.inject(path, method="PATCH", lost_answer=True)
    fake.clear_requests()
    undo = cluster.undo(operation, result.before)
    assert [r.status for r in fake.requests if r.method == "PATCH"] == [-1, 409]
    assert undo.changed and "the answer to the undo was lost" in undo.summary
    assert cluster.snapshot(operation)[field] == (
        result.before["template"] if before is None else before
    )


def test_a_restart_whose_answer_was_lost_restarts_once(
    fake: FakeApiServer, api_client: Any, shop: Any
) -> None:
    # The server applies the restart and the answer is lost; the retry's 409 is read
    # again. The stamp in place is this write's own: not stamped again a second later,
    # which started a second rollout (the template changed twice).
    seconds = iter(range(1_800_000_000, 1_800_000_100))
    cluster = KubernetesCluster(
        api_client, policy=FAST, sleep=lambda _: None, wall_clock=lambda: float(next(seconds))
    )
    generation = stored(fake, "Deployment", "web")["metadata"]["generation"]
    fake.inject(r"/deployments/web$", method="PATCH", lost_answer=True)
    fake.clear_requests()
    result = cluster.apply(RolloutRestart(WEB))
    assert [r.status for r in fake.requests if r.method == "PATCH"] == [-1, 409]
    deployment = stored(fake, "Deployment", "web")
    assert deployment["metadata"]["generation"] == generation + 1  # one rollout
    stamp = deployment["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert stamp == "2027-01-15T08:00:00Z" == result.after["restartedAt"]
    assert result.changed and "answer to the write was lost" in result.summary
    assert result.before["restartedAt"] is None


def test_an_event_whose_answer_was_lost_is_posted_once_and_not_an_error(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    # The server stores the Event and the answer is lost; the retry (same name) is 409
    # AlreadyExists. Before, that ConflictError escaped post_event, which promises never
    # to abort the action it describes, and out of the executor after its write.
    fake.inject(r"/namespaces/shop/events$", method="POST", lost_answer=True)
    fake.clear_requests()
    cluster.post_event(WEB, "Scaled", "replicas 3 -> 6")
    assert [r.status for r in fake.requests if r.method == "POST"] == [-1, 409]
    (event,) = fake.store.objects("Event", "shop")
    assert event["reason"] == "Scaled" and cluster.events_failed == 0


def test_a_removal_refused_then_gone_is_not_taken_for_ours(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    # 429 (throttled) says the first try was not applied: a pod gone at the retry was
    # removed by someone else, and the step says so.
    pod = ObjectRef("Pod", shop["pods"][0]["metadata"]["name"], "shop")
    fake.inject(rf"/pods/{pod.name}$", method="DELETE", status=429)
    real_delete = fake.store.delete

    def gone_meanwhile(*args: Any, **kwargs: Any) -> Any:
        fake.store.delete = real_delete  # type: ignore[method-assign]
        real_delete(*args, **kwargs)  # someone else deletes it
        return real_delete(*args, **kwargs)  # and our retry finds it gone

    fake.store.delete = gone_meanwhile  # type: ignore[method-assign]
    with pytest.raises(ObjectGoneError):
        cluster.apply(DeletePod(pod))


def test_evict_pod_blocked_by_budget_is_typed(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any, sleeps: list[float]
) -> None:
    seed_pdb(fake.store, "web", app="web", namespace="shop", min_available=2)
    first, second = (ObjectRef("Pod", p["metadata"]["name"], "shop") for p in shop["pods"][:2])
    assert cluster.apply(EvictPod(first), dry_run=True).dry_run
    assert len(fake.store.objects("Pod")) == 3
    cluster.apply(EvictPod(first))
    with pytest.raises(BlockedByBudgetError) as blocked:
        cluster.apply(EvictPod(second))
    assert blocked.value.reason == "DisruptionBudget" and "needs 2 healthy" in str(blocked.value)
    assert sleeps == []  # a budget refusal is not retried in a loop


def test_cordon_uncordon(fake: FakeApiServer, cluster: KubernetesCluster, shop: Any) -> None:
    node = ObjectRef("Node", "node-2")
    result = cluster.apply(Cordon(node))
    assert stored(fake, "Node", "node-2", "")["spec"]["unschedulable"] is True
    cluster.undo(Cordon(node), result.before)
    assert stored(fake, "Node", "node-2", "")["spec"]["unschedulable"] is False
    assert cluster.apply(Cordon(node, unschedulable=False)).changed is False


def test_drain_evicts_within_budget_and_skips_daemonsets(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    seed_daemonset_pod(fake.store, "logs", node="node-1")
    mirror = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "etcd-node-1",
              "namespace": "kube-system", "annotations": {"kubernetes.io/config.mirror": "x"}},
              "spec": {"nodeName": "node-1"}}  # fmt: skip
    fake.store.put(mirror)
    seed_pdb(fake.store, "web", app="web", namespace="shop", min_available=2)
    on_node = [p["metadata"]["name"] for p in shop["pods"] if p["spec"]["nodeName"] == "node-1"]
    assert len(on_node) == 2
    dry = cluster.apply(Drain(ObjectRef("Node", "node-1"), timeout_seconds=0.2), dry_run=True)
    assert dry.dry_run and not stored(fake, "Node", "node-1", "")["spec"].get("unschedulable")
    result = cluster.apply(Drain(ObjectRef("Node", "node-1"), timeout_seconds=0.2))
    assert stored(fake, "Node", "node-1", "")["spec"]["unschedulable"] is True
    assert len(result.after["evicted"]) == 1 and len(result.after["blocked"]) == 1
    assert result.after["complete"] is False and "INCOMPLETE" in result.summary
    assert sorted(result.after["skipped"]) == ["kube-system/etcd-node-1 (mirror pod)",
                                               "kube-system/logs-node-1 (DaemonSet)"]  # fmt: skip
    names = {p["metadata"]["name"] for p in fake.store.objects("Pod")}
    assert "logs-node-1" in names and "etcd-node-1" in names
    cluster.undo(Drain(ObjectRef("Node", "node-1")), result.before)
    assert stored(fake, "Node", "node-1", "")["spec"]["unschedulable"] is False


def test_drain_respects_max_evictions(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    result = cluster.apply(Drain(ObjectRef("Node", "node-1"), max_evictions=1))
    assert len(result.after["evicted"]) == 1 and len(result.after["over_budget"]) == 1
    assert result.after["complete"] is False


def test_drain_rounds_go_on_from_their_progress_and_never_evict_twice(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    """A round never waits: what a budget refuses is asked again next round; a pod gone
    or already terminating counts as evicted (an eviction a crash cut off before its
    record), so it is not asked again; a node uncordoned since is left alone."""
    seed_pdb(fake.store, "web", app="web", namespace="shop", min_available=3)
    node = ObjectRef("Node", "node-1")
    on_node = [p["metadata"]["name"] for p in shop["pods"] if p["spec"]["nodeName"] == "node-1"]
    first = cluster.drain_round(Drain(node))
    assert first.after["blocked"] == [f"shop/{name}" for name in on_node]
    assert first.after["done"] is False and first.after["evicted"] == []
    # gone: taken by someone else, or by us before a crash cut the record short
    fake.store.delete(resource_for_kind("v1", "Pod"), "shop", on_node[0])
    fake.clear_requests()
    second = cluster.drain_round(Drain(node), first.after)
    assert second.after["evicted"] == [f"shop/{on_node[0]}"]
    assert [r.resource for r in fake.requests if r.verb == "patch"] == []  # no re-cordon
    evictions = [r.name for r in fake.requests if r.resource == "pods/eviction"]
    assert evictions == [on_node[1]]  # refused again (2 healthy of 3 needed), not the gone one
    fake.store.modify("Node", None, "node-1", lambda n: n["spec"].update(unschedulable=False))
    fake.clear_requests()
    third = cluster.drain_round(Drain(node), second.after)
    assert third.after["uncordoned"] is True and third.after["done"] is True
    assert third.after["complete"] is False and "INCOMPLETE" in third.summary
    assert [r for r in fake.requests if r.verb not in ("get", "list")] == []


def test_a_drain_evicts_the_other_pods_when_one_eviction_is_forbidden(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    """No right to evict in one namespace (a Role per namespace that misses one): that
    pod is named and not asked again; the drain still evicts the others, as kubectl
    drain does, instead of stopping at the first refusal with the rest never asked."""
    seed_deployment(fake.store, "db", namespace="data", replicas=1, nodes=("node-1",))
    fake.forbid("create", "pods/eviction", namespace="data")
    node = ObjectRef("Node", "node-1")
    web_on_node = sorted(
        f"shop/{p['metadata']['name']}" for p in shop["pods"] if p["spec"]["nodeName"] == "node-1"
    )
    (db_pod,) = [f"data/{p['metadata']['name']}" for p in fake.store.objects("Pod", "data")]
    first = cluster.drain_round(Drain(node))
    assert sorted(first.after["evicted"]) == web_on_node
    assert list(first.after["refused"]) == [db_pod]
    assert "not allowed to create pods/eviction" in first.after["refused"][db_pod]
    assert first.after["done"] is True and first.after["complete"] is False
    assert "1 refused by the API server" in first.summary and "INCOMPLETE" in first.summary
    fake.clear_requests()
    second = cluster.drain_round(Drain(node), first.after)
    assert [r for r in fake.requests if r.resource == "pods/eviction"] == []  # not asked again
    assert second.after["refused"] == first.after["refused"]


def test_a_pod_two_budgets_select_is_refused_at_once_not_retried_to_the_timeout(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any, sleeps: list[float]
) -> None:
    """The eviction API refuses a pod that two PodDisruptionBudgets select with a 500,
    every time, whatever they allow. Before, that 500 was retried as an outage (three
    tries, then blocked and asked again each round until the drain's timeout); now it is
    a refusal for good: asked once, named with why, and the drain evicts the others and
    ends INCOMPLETE at once."""
    seed_deployment(fake.store, "db", namespace="data", replicas=1, nodes=("node-1",))
    seed_pdb(fake.store, "db", app="db", namespace="data", max_unavailable=1)
    seed_pdb(fake.store, "db-all", app="db", namespace="data", max_unavailable=1)
    (db_pod,) = [p["metadata"]["name"] for p in fake.store.objects("Pod", "data")]
    with pytest.raises(PermanentError) as refused:
        cluster.apply(EvictPod(ObjectRef("Pod", db_pod, "data")))
    assert refused.value.reason == "MultipleDisruptionBudgets"
    assert "more than one PodDisruptionBudget" in str(refused.value)
    assert [r.name for r in fake.requests if r.resource == "pods/eviction"] == [db_pod]
    assert sleeps == []  # not retried
    node = ObjectRef("Node", "node-1")
    web_on_node = sorted(
        f"shop/{p['metadata']['name']}" for p in shop["pods"] if p["spec"]["nodeName"] == "node-1"
    )
    first = cluster.drain_round(Drain(node))
    assert sorted(first.after["evicted"]) == web_on_node and first.after["blocked"] == []
    assert list(first.after["refused"]) == [f"data/{db_pod}"]
    assert "more than one PodDisruptionBudget" in first.after["refused"][f"data/{db_pod}"]
    assert first.after["done"] is True and first.after["complete"] is False
    assert "1 refused by the API server" in first.summary and "INCOMPLETE" in first.summary
    fake.clear_requests()
    second = cluster.drain_round(Drain(node), first.after)
    assert [r for r in fake.requests if r.resource == "pods/eviction"] == []  # not asked again
    assert second.after["refused"] == first.after["refused"]


def test_a_drain_ends_when_its_node_is_deleted(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    """The Node deleted during the drain (the cloud's node controller, once the VM is
    gone; the cluster autoscaler): nothing is left to drain. The round says so and ends
    the drain, instead of failing as if the API had."""
    seed_pdb(fake.store, "web", app="web", namespace="shop", min_available=3)
    node = ObjectRef("Node", "node-1")
    first = cluster.drain_round(Drain(node))
    assert first.after["done"] is False and len(first.after["blocked"]) == 2
    fake.store.delete(resource_for_kind("v1", "Node"), "", "node-1")
    fake.clear_requests()
    second = cluster.drain_round(Drain(node), first.after)
    assert second.after["done"] is True and second.after["node_gone"] is True
    assert second.after["complete"] is False
    assert "deleted since the drain began" in second.summary
    assert [r for r in fake.requests if r.verb not in ("get", "list")] == []


def test_a_drain_evicts_autonomic_s_own_pod_last_once_the_others_are_gone(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    """The node being drained runs Autonomic's leader: evicted among the others, the
    leader stops in the middle of its drain (and with the ledger on an emptyDir, the
    next leader has no record of it: the node stays cordoned, nobody is told). Its own
    pod is evicted last, in the round after every other pod is gone."""
    seed_deployment(fake.store, "autonomic", namespace="autonomic", replicas=1)
    (own,) = [f"autonomic/{p['metadata']['name']}" for p in fake.store.objects("Pod", "autonomic")]
    first_name = sorted(
        f"{p['metadata']['namespace']}/{p['metadata']['name']}"
        for p in fake.store.objects("Pod")
        if p["spec"].get("nodeName") == "node-1"
    )[0]
    assert first_name == own  # listed first: without the rule, evicted first
    cluster.operations.own_pod = own
    node = ObjectRef("Node", "node-1")
    first = cluster.drain_round(Drain(node))
    evictions = [r.name for r in fake.requests if r.resource == "pods/eviction"]
    assert own.split("/")[1] not in evictions and len(evictions) == 2
    assert first.after["held_own"] is True and first.after["done"] is False
    assert "Autonomic's own pod autonomic/" in first.summary
    fake.clear_requests()
    second = cluster.drain_round(Drain(node), first.after)
    assert [r.name for r in fake.requests if r.resource == "pods/eviction"] == [own.split("/")[1]]
    assert second.after["done"] is True and second.after["complete"] is True


def test_a_refused_pod_does_not_hold_autonomic_s_own_pod_for_ever(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    """A pod whose eviction is refused for good (403) stays on the node: the own pod's
    turn comes once the others are evicted and gone, not once the refused one is gone
    too, which never happens (the drain would go on round after round to its timeout,
    saying the own pod is evicted last, and never evict it)."""
    seed_deployment(fake.store, "db", namespace="data", replicas=1, nodes=("node-1",))
    fake.forbid("create", "pods/eviction", namespace="data")
    seed_deployment(fake.store, "autonomic", namespace="autonomic", replicas=1)
    (own,) = [f"autonomic/{p['metadata']['name']}" for p in fake.store.objects("Pod", "autonomic")]
    cluster.operations.own_pod = own
    node = ObjectRef("Node", "node-1")
    first = cluster.drain_round(Drain(node))
    assert len(first.after["refused"]) == 1 and first.after["held_own"] is True
    fake.clear_requests()
    second = cluster.drain_round(Drain(node), first.after)
    assert [r.name for r in fake.requests if r.resource == "pods/eviction"] == [own.split("/")[1]]
    assert second.after["held_own"] is False and second.after["done"] is True
    assert second.after["complete"] is False and "1 refused" in second.summary


def test_on_a_notready_node_autonomic_s_own_pod_does_not_wait_for_pods_left_terminating(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    """On a NotReady node the pods evicted stay Terminating: no kubelet confirms that they
    stopped. The own pod waited for them to go, so it was held round after round to the
    drain's timeout and never evicted. Nor does it wait for a pod left in place for
    safe-to-evict "false"."""
    seed_node(fake.store, "node-3", ready=False)
    seed_deployment(fake.store, "api", namespace="data", replicas=1, nodes=("node-3",))
    seed_deployment(fake.store, "batch", namespace="jobs", replicas=1, nodes=("node-3",))
    (batch,) = fake.store.objects("Pod", "jobs")
    annotation = {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
    fake.store.modify(
        "Pod",
        "jobs",
        batch["metadata"]["name"],
        lambda p: p["metadata"].update(annotations=annotation),
    )
    seed_deployment(fake.store, "autonomic", namespace="autonomic", replicas=1, nodes=("node-3",))
    (own,) = [f"autonomic/{p['metadata']['name']}" for p in fake.store.objects("Pod", "autonomic")]
    cluster.operations.own_pod = own
    node = ObjectRef("Node", "node-3")
    first = cluster.drain_round(Drain(node))
    (api,) = [r.name for r in fake.requests if r.resource == "pods/eviction"]
    assert api.startswith("api-") and first.after["held_own"] is True
    assert len(first.after["protected"]) == 1
    fake.clear_requests()
    second = cluster.drain_round(Drain(node), first.after)
    assert stored(fake, "Pod", api, "data")["metadata"].get("deletionTimestamp")  # still there
    assert [r.name for r in fake.requests if r.resource == "pods/eviction"] == [own.split("/")[1]]
    assert second.after["held_own"] is False and second.after["done"] is True
    assert "not evicted yet" not in second.summary
    assert second.after["complete"] is False  # the protected pod stays


def test_concurrent_change_between_read_and_write_is_retried(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    """A real 409: someone scales the Deployment while our PATCH is in flight."""
    fake.inject(r"/deployments/web/scale$", method="PATCH", delay=0.3, times=1)
    timer = threading.Timer(
        0.1,
        lambda: fake.store.modify("Deployment", "shop", "web",
                                  lambda d: d["spec"].update(replicas=4)),
    )  # fmt: skip
    timer.start()
    result = cluster.apply(Scale(WEB, 6))
    timer.join()
    statuses = [r.status for r in fake.requests if r.verb == "patch"]
    assert statuses == [409, 200]
    assert result.before["replicas"] == 4  # the value we actually overwrote
    assert stored(fake, "Deployment", "web")["spec"]["replicas"] == 6


def test_persistent_conflicts_give_up_with_a_transient_error(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    fake.inject(r"/deployments/web$", method="PATCH", status=409, times=10)
    with pytest.raises(TransientError) as gave_up:
        cluster.apply(PauseRollout(WEB))
    assert gave_up.value.reason == "Conflict"
    assert sum(1 for r in fake.requests if r.verb == "patch") == 3  # bounded


def events_about(fake: FakeApiServer, target: ObjectRef) -> list[dict[str, Any]]:
    """The Events stored about ``target`` in its namespace (a cluster-scoped object's in
    ``default``), as the API server holds them."""
    return [
        e
        for e in fake.store.objects("Event", target.namespace or "default")
        if e["involvedObject"]["kind"] == target.kind and e["involvedObject"]["name"] == target.name
    ]


def test_post_event_records_reason_and_component(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    cluster.post_event(WEB, "ScaledAhead", "replicas 3 -> 5 ahead of the forecast peak")
    cluster.post_event(ObjectRef("Node", "node-1"), "Cordoned", "NotReady for 5m", warning=True)
    (event,) = events_about(fake, WEB)
    assert event["reason"] == "ScaledAhead" and event["type"] == "Normal"
    assert event["reportingComponent"] == "autonomic"
    assert event["reportingInstance"] == "autonomic-test"
    assert event["involvedObject"]["uid"] == shop["deployment"]["metadata"]["uid"]
    node_events = events_about(fake, ObjectRef("Node", "node-1"))
    assert node_events[0]["type"] == "Warning" and node_events[0]["metadata"]["namespace"] == (
        "default"
    )
    # a subject with the longest name allowed (gone by now): the Event's name is cut to
    # fit, not refused by the API server
    long_name = "n" * 235 + "-" + "x" * 17
    cluster.post_event(ObjectRef("Deployment", long_name, "shop"), "Checked", "long")
    assert cluster.events_failed == 0
    (long_event,) = [e for e in fake.store.objects("Event", "shop") if e["reason"] == "Checked"]
    assert long_event["metadata"]["name"].startswith("n" * 235 + ".")
    assert long_event["involvedObject"]["name"] == long_name
    fake.forbid("create", "events")
    cluster.post_event(WEB, "X", "y")  # best effort: logged, counted, not raised
    assert cluster.events_failed == 1


def test_annotate_writes_only_autonomic_keys(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    """A recommendation is published as annotations by merge patch, next to what was
    there; a key outside autonomic.dev/ is refused before any request is made."""
    fake.store.modify(
        "Deployment",
        "shop",
        "web",
        lambda d: d["metadata"].setdefault("annotations", {}).update(owner="team-a"),
    )
    cluster.annotate(WEB, {"autonomic.dev/recommended-replicas": "7"})
    annotations = stored(fake, "Deployment", "web")["metadata"]["annotations"]
    assert annotations["autonomic.dev/recommended-replicas"] == "7"
    assert annotations["owner"] == "team-a"
    requests = len(fake.requests)
    with pytest.raises(PermanentError, match=r"outside autonomic\.dev/"):
        cluster.annotate(WEB, {"owner": "autonomic"})
    assert len(fake.requests) == requests  # refused before any request was made
    assert stored(fake, "Deployment", "web")["metadata"]["annotations"]["owner"] == "team-a"


def test_a_drain_removes_terminal_pods_without_room_in_the_budget(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    """A pod the kubelet evicted (Failed) left on the node runs nothing: the drain
    removes it even with no room left in the disruption budget, and does not count it
    as disrupted, as planning does not (``ClusterSnapshot.pods_on``)."""
    owner = fake.store.objects("ReplicaSet", "shop")[0]
    evicted = seed_pod(
        fake.store, "web-evicted", namespace="shop", owner=owner,
        template=owner["spec"]["template"], node="node-1",
        status=pod_status(ready=False, phase="Failed"),
    )  # fmt: skip
    node = ObjectRef("Node", "node-1")
    result = cluster.drain_round(Drain(node), room=EvictionRoom(total=0))
    running = [p["metadata"]["name"] for p in shop["pods"] if p["spec"]["nodeName"] == "node-1"]
    assert result.after["evicted"] == [f"shop/{evicted['metadata']['name']}"]
    assert result.after["evicted_now"] == {}
    assert sorted(result.after["waiting"]) == sorted(f"shop/{name}" for name in running)


def test_a_drain_leaves_a_pod_annotated_not_safe_to_evict_and_ends_incomplete(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    """cluster-autoscaler.kubernetes.io/safe-to-evict: "false": its owners ask that it
    never be evicted (the cluster autoscaler keeps its node, draino skips it). The
    drain moves the other pods, never asks to evict that one, and says it stays."""
    seed_deployment(fake.store, "batch", namespace="jobs", replicas=1, nodes=("node-1",))
    (batch,) = fake.store.objects("Pod", "jobs")
    name = batch["metadata"]["name"]
    annotation = {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
    fake.store.modify("Pod", "jobs", name, lambda p: p["metadata"].update(annotations=annotation))
    (state,) = [p for p in cluster.list_pods("jobs") if p.ref.name == name]
    assert state.not_safe_to_evict is True
    node = ObjectRef("Node", "node-1")
    first = cluster.drain_round(Drain(node))
    assert f"jobs/{name}" not in first.after["pods"] and first.after["protected"] == [
        f"jobs/{name}"
    ]
    assert [r.name for r in fake.requests if r.resource == "pods/eviction" and r.name == name] == []
    assert len(first.after["evicted"]) == 2 and first.after["done"] is True
    assert first.after["complete"] is False
    assert (
        '1 left in place, annotated cluster-autoscaler.kubernetes.io/safe-to-evict: "false" '
        f"(their owners ask that they never be evicted): jobs/{name}; remove the annotation or "
        "move them by hand, then drain again; drain INCOMPLETE"
    ) in first.summary
    second = cluster.drain_round(Drain(node), first.after)
    assert second.after["protected"] == [f"jobs/{name}"] and second.after["complete"] is False
    assert stored(fake, "Pod", name, "jobs")["metadata"].get("deletionTimestamp") is None


def test_a_drain_of_a_notready_node_says_its_statefulset_pods_are_not_replaced(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    """On a NotReady node an evicted pod stays Terminating: its kubelet cannot confirm
    it stopped. A Deployment's is replaced elsewhere at once; a StatefulSet's is not
    until the Node is deleted or tainted out-of-service. The round says so, and the
    drain is incomplete; it taints nothing itself."""
    seed_node(fake.store, "node-3", ready=False)
    seed_statefulset(fake.store, "db", namespace="data", replicas=1, nodes=("node-3",))
    seed_deployment(fake.store, "api", namespace="data", replicas=1, nodes=("node-3",))
    node = ObjectRef("Node", "node-3")
    first = cluster.drain_round(Drain(node))
    assert len(first.after["evicted"]) == 2
    terminating = [
        p for p in fake.store.objects("Pod", "data") if p["metadata"].get("deletionTimestamp")
    ]
    assert len(terminating) == 2  # still there: no kubelet removes them
    assert first.after["stuck_statefulset"] == [["data/db-0", "db"]]
    assert first.after["complete"] is False
    # Nothing to wait for: no kubelet will confirm them, so the drain does not hold
    # until its timeout.
    assert first.after["done"] is True and len(first.after["unconfirmed"]) == 2
    assert (
        "StatefulSet pod data/db-0 (StatefulSet db) will not be replaced until node node-3 is "
        "deleted or tainted out-of-service: the node is NotReady, so its kubelet cannot "
        "confirm the pod stopped, and a StatefulSet never starts a second pod of the same "
        "name; once the machine is known to be off, delete the Node or run kubectl taint "
        "nodes node-3 node.kubernetes.io/out-of-service=nodeshutdown:NoExecute; drain INCOMPLETE"
    ) in first.summary
    second = cluster.drain_round(Drain(node), first.after)
    assert second.after["stuck_statefulset"] == [["data/db-0", "db"]]
    assert "taints" not in stored(fake, "Node", "node-3", "")["spec"]
    # The same drain on a Ready node: the pods go, and nothing is said.
    ready = cluster.drain_round(Drain(ObjectRef("Node", "node-2")))
    assert ready.after["stuck_statefulset"] == [] and "out-of-service" not in ready.summary
