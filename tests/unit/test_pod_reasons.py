"""A pod's reasons as the Kubernetes-condition triggers read them (``pod_state``).

The kubelet lists containers by name, so a sidecar (``istio-proxy``) comes before an app
named ``web``. The first container with a reason used to be the pod's reason: a
sidecar's old ``Error`` restart hid the app's OOMKill, and a sidecar waiting on
``ContainerCreating`` hid the app's crash loop, so no runbook was triggered."""

from __future__ import annotations

from typing import Any

import pytest

from agent.adapters.kube_state import pod_state
from remediation.signals import detect_kubernetes_signals
from remediation.snapshot import ClusterSnapshot

Obj = dict[str, Any]


def _pod(*statuses: Obj, init: tuple[Obj, ...] = ()) -> Obj:
    return {
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "p-1"},
        "spec": {"nodeName": "node-1"},
        "status": {
            "phase": "Running",
            "startTime": "2026-11-22T10:00:00Z",
            "conditions": [{"type": "Ready", "status": "False"}],
            "initContainerStatuses": list(init),
            "containerStatuses": list(statuses),
        },
    }


def _container(name: str, *, waiting: str | None = None, last: str | None = None) -> Obj:
    status: Obj = {"name": name, "restartCount": 3 if last else 0, "state": {}}
    status["state"] = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    if last:
        status["lastState"] = {"terminated": {"reason": last, "exitCode": 137}}
    return status


def test_an_app_oomkill_behind_a_sidecars_old_error_is_seen() -> None:
    state = pod_state(
        _pod(_container("istio-proxy", last="Error"), _container("web", last="OOMKilled")), {}
    )
    assert state.last_termination_reason == "OOMKilled"
    conditions = {s.name for s in detect_kubernetes_signals(ClusterSnapshot(pods=(state,)), 0.0)}
    assert "OOMKilled" in conditions


@pytest.mark.parametrize("reason", ["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull"])
def test_an_app_waiting_behind_a_sidecar_starting_is_seen(reason: str) -> None:
    state = pod_state(
        _pod(
            _container("istio-proxy", waiting="ContainerCreating"),
            _container("web", waiting=reason),
        ),
        {},
    )
    assert state.waiting_reason == reason


def test_without_a_reason_runbooks_read_the_first_one_is_kept() -> None:
    state = pod_state(
        _pod(_container("a", waiting="ContainerCreating", last="Error"), _container("b")), {}
    )
    assert (state.waiting_reason, state.last_termination_reason) == ("ContainerCreating", "Error")
    assert pod_state(_pod(_container("a"), _container("b")), {}).waiting_reason is None


def test_an_init_container_crash_loop_still_counts() -> None:
    state = pod_state(
        _pod(
            _container("web", waiting="PodInitializing"),
            init=(_container("migrate", waiting="CrashLoopBackOff", last="Error"),),
        ),
        {},
    )
    assert state.waiting_reason == "CrashLoopBackOff"


def test_a_pod_with_an_emptydir_volume_is_marked() -> None:
    """A drain's plan names the pods whose emptyDir data eviction deletes."""
    scratch = _pod(_container("web"))
    scratch["spec"]["volumes"] = [
        {"name": "config", "configMap": {"name": "web"}},
        {"name": "cache", "emptyDir": {}},
    ]
    plain = _pod(_container("web"))
    plain["spec"]["volumes"] = [{"name": "config", "configMap": {"name": "web"}}]
    assert pod_state(scratch, {}).empty_dir is True
    assert pod_state(plain, {}).empty_dir is False
