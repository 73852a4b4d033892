"""Argo Rollouts in the adapter's pure parts: a Rollout object read as a workload, the
ReplicaSets it owns resolving its pods to it, and ``OptionalKind`` saying once why
Rollouts are not read (404: not installed; 403: not allowed) and when they are again."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from agent.adapters.kube_api import KINDS
from agent.adapters.kube_cache import OptionalKind
from agent.adapters.kube_errors import ObjectGoneError, PermissionDeniedError
from agent.adapters.kube_state import owner_index, workload_state
from remediation.ports import ObjectRef

Obj = dict[str, Any]


def rollout(**status: Any) -> Obj:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "r-1",
            "generation": 3,
            "labels": {"app": "web", "autonomic.dev/enabled": "true"},
            "annotations": {"rollout.argoproj.io/revision": "4"},
        },
        "spec": {
            "replicas": 5,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "web", "image": "web:4"}]}},
            "strategy": {"canary": {"steps": [{"setWeight": 20}]}},
        },
        "status": {
            "replicas": 5,
            "readyReplicas": 4,
            "updatedReplicas": 2,
            "availableReplicas": 4,
            "observedGeneration": "3",
            "HPAReplicas": 5,
            "selector": "app=web",
            **status,
        },
    }


def replicaset(name: str, owner_uid: str, revision: str, created: str) -> Obj:
    return {
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": f"rs-{name}",
            "creationTimestamp": created,
            "annotations": {"rollout.argoproj.io/revision": revision},
            "ownerReferences": [
                {"kind": "Rollout", "name": "web", "uid": owner_uid, "controller": True}
            ],
        },
    }


def test_a_rollout_reads_as_a_deployment_does() -> None:
    older = replicaset("web-old", "r-1", "3", "2026-11-20T10:00:00Z")
    newer = replicaset("web-new", "r-1", "4", "2026-11-22T10:00:00Z")
    stranger = replicaset("web-x", "r-gone", "9", "2026-11-23T10:00:00Z")
    state = workload_state(rollout(), [newer, stranger, older])
    assert state.ref == ObjectRef("Rollout", "web", "shop")
    assert (state.replicas, state.ready_replicas, state.available_replicas) == (5, 4, 4)
    assert state.updated_replicas == 2
    assert state.selector == {"app": "web"}
    assert [c.image for c in state.containers] == ["web:4"]
    assert state.revision == 4
    assert (state.generation, state.observed_generation) == (3, 3)
    assert state.last_rollout_at == newer_time()
    assert not state.rollout_failed


def newer_time() -> float:
    from agent.adapters.kube_state import parse_time

    stamp = parse_time("2026-11-22T10:00:00Z")
    assert stamp is not None
    return stamp


def test_a_rollout_mid_canary_reads_its_hashes_strategy_abort_and_images_by_hash() -> None:
    """What the canary loop needs to judge the canary ReplicaSet against the stable one."""
    owned = []
    for pod_hash, image in (("aaa111", "web:3"), ("bbb222", "web:4")):
        rs = replicaset(f"web-{pod_hash}", "r-1", "3", "2024-05-01T10:00:00Z")
        rs["metadata"]["labels"] = {"rollouts-pod-template-hash": pod_hash}
        rs["spec"] = {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}
        owned.append(rs)
    state = workload_state(rollout(currentPodHash="bbb222", stableRS="aaa111", abort=True), owned)
    assert (state.strategy, state.pod_hash, state.stable_pod_hash, state.aborted) == (
        "canary",
        "bbb222",
        "aaa111",
        True,
    )
    assert state.images_by_hash == {"aaa111": ("web:3",), "bbb222": ("web:4",)}
    blue_green = rollout()
    blue_green["spec"]["strategy"] = {"blueGreen": {"activeService": "web"}}
    assert workload_state(blue_green).strategy == "blueGreen"
    assert workload_state({**rollout(currentPodHash="x"), "kind": "Deployment"}).pod_hash == ""


def test_a_blue_green_rollout_reads_the_hashes_its_active_and_preview_services_select() -> None:
    """Argo writes the hashes its Services select in ``status.blueGreen``: the preview
    (the release being rolled out) is judged against the active one."""
    obj = rollout(
        currentPodHash="bbb222",
        stableRS="aaa111",
        blueGreen={"activeSelector": "aaa111", "previewSelector": "bbb222"},
    )
    obj["spec"]["strategy"] = {"blueGreen": {"activeService": "web", "previewService": "web-p"}}
    state = workload_state(obj)
    assert (state.strategy, state.active_pod_hash, state.preview_pod_hash) == (
        "blueGreen",
        "aaa111",
        "bbb222",
    )
    assert workload_state(rollout(currentPodHash="bbb222")).active_pod_hash == ""


@pytest.mark.parametrize(
    ("observed", "expected"),
    [("3", 3), (3, 3), ("7d9f8c6b5", 0), (None, 0), ("", 0), ("-1", 0)],
)
def test_an_observed_generation_that_is_not_a_count_reads_as_none_seen(
    observed: Any, expected: int
) -> None:
    """Argo writes ``status.observedGeneration`` as a string; old versions wrote a hash.
    Reading it must never fail the whole listing."""
    assert workload_state(rollout(observedGeneration=observed)).observed_generation == expected


def test_a_rollout_past_its_progress_deadline_has_failed() -> None:
    stuck = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    assert workload_state(rollout(conditions=[stuck])).rollout_failed


def test_a_rollout_with_a_workload_ref_has_no_template_of_its_own() -> None:
    obj = rollout()
    del obj["spec"]["template"]
    obj["spec"]["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    state = workload_state(obj)
    assert state.containers == () and state.replicas == 5 and state.selector == {"app": "web"}


def test_pods_of_a_rollouts_replicasets_belong_to_the_rollout_not_a_namesake() -> None:
    """The Rollout owns its ReplicaSets (a ``workloadRef`` Deployment of the same name,
    kept at zero, owns none of them); a ReplicaSet left by a deleted Rollout belongs to
    nobody."""
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "uid": "d-1"},
    }
    ours = replicaset("web-new", "r-1", "4", "2026-11-22T10:00:00Z")
    orphan = replicaset("web-old", "r-deleted", "1", "2026-11-01T10:00:00Z")
    index = owner_index([ours, orphan], [deployment, rollout()])
    assert index == {"rs-web-new": ObjectRef("Rollout", "web", "shop")}


def not_found() -> ObjectGoneError:
    return ObjectGoneError(
        "cannot list rollouts (API group argoproj.io) in namespace 'a': it no longer exists "
        "(the server could not find the requested resource)"
    )


def forbidden(namespace: str) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"Autonomic is not allowed to list rollouts (API group argoproj.io) in namespace "
        f"{namespace!r}. Grant verb 'list' on resource 'rollouts' in API group 'argoproj.io'",
        verb="list",
        group="argoproj.io",
        resource="rollouts",
        namespace=namespace,
    )


def said(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    lines = [(r.levelno, r.getMessage()) for r in caplog.records]
    caplog.clear()
    return lines


def test_a_missing_crd_is_said_once_for_every_namespace(caplog: pytest.LogCaptureFixture) -> None:
    rollouts = OptionalKind(KINDS["Rollout"])
    with caplog.at_level(logging.INFO, logger="autonomic.kubernetes.cache"):
        for _ in range(3):
            for namespace in ("a", "b"):
                rollouts.unreadable(namespace, not_found())
        assert said(caplog) == [
            (
                logging.INFO,
                "the API server does not serve rollouts.argoproj.io/v1alpha1 (Argo Rollouts "
                "is not installed): Rollouts are not read; the other kinds carry on",
            )
        ]
        rollouts.readable("a")  # installed: said once, whichever namespace lists first
        rollouts.readable("b")
        assert said(caplog) == [
            (logging.INFO, "Rollouts in namespace a are read now (rollouts.argoproj.io answers)")
        ]
        rollouts.unreadable(None, not_found())  # uninstalled again: said again
        assert [level for level, _ in said(caplog)] == [logging.INFO]


def test_a_missing_permission_is_a_warning_once_per_namespace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rollouts = OptionalKind(KINDS["Rollout"])
    with caplog.at_level(logging.INFO, logger="autonomic.kubernetes.cache"):
        for _ in range(3):
            rollouts.unreadable("a", forbidden("a"))
            rollouts.unreadable("b", forbidden("b"))
        lines = said(caplog)
        assert [level for level, _ in lines] == [logging.WARNING, logging.WARNING]
        assert lines[0][1].startswith("Rollouts in namespace a are not read, so not scaled: ")
        assert "Grant verb 'list' on resource 'rollouts'" in lines[1][1]
        rollouts.readable("a")  # granted in a: said; b still refused, and not said again
        rollouts.unreadable("b", forbidden("b"))
        assert said(caplog) == [
            (logging.INFO, "Rollouts in namespace a are read now (rollouts.argoproj.io answers)")
        ]
        assert set(rollouts.said) == {"b"}


def test_a_list_that_always_worked_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    rollouts = OptionalKind(KINDS["Rollout"])
    with caplog.at_level(logging.DEBUG, logger="autonomic.kubernetes.cache"):
        rollouts.readable(None)
        rollouts.readable("a")
    assert caplog.records == []
