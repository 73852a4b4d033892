"""Pods in a terminal phase through the real client. A pod the kubelet evicted (under
memory or disk pressure) is Failed and stays, owned by its ReplicaSet, until someone
deletes it; the ReplicaSet controller no longer counts it and starts a replacement. It
is no pod of the workload's to judge or to act on: a verification that counted it
would fail for ever, and its old OOMKilled restarts would raise the memory again after
every rollout."""

from __future__ import annotations

from typing import Any

from tests.fakekube import seed
from tests.integration.remediation.rig import KubeRig, get_obj, rfc3339, seed_web
from tests.integration.remediation.test_runbook_scenarios import (
    _control,
    _only,
    _reload,
    _surge,
)


def _evicted(rig: KubeRig, name: str, *, oom_restarts: int = 0) -> None:
    """A pod of web's current ReplicaSet that the kubelet evicted (phase Failed, reason
    Evicted), after ``oom_restarts`` OOMKilled restarts."""
    replicaset = max(
        rig.server.store.objects("ReplicaSet", "shop"),
        key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]),
    )
    status: dict[str, Any] = seed.pod_status(
        ready=False,
        restarts=oom_restarts,
        last_termination="OOMKilled" if oom_restarts else None,
        exit_code=137,
        started=rfc3339(rig.clock.now() - 3600),
        phase="Failed",
    )
    status.update(reason="Evicted", message="The node was low on resource: memory.")
    status["containerStatuses"][0]["state"] = {"terminated": {"reason": "Error", "exitCode": 137}}
    seed.seed_pod(
        rig.server.store,
        name,
        namespace="shop",
        owner=replicaset,
        template=replicaset["spec"]["template"],
        node="node-1",
        status=status,
    )


def test_an_evicted_pod_left_behind_does_not_fail_the_verification(rig: KubeRig) -> None:
    seed_web(rig, replicas=4)
    _evicted(rig, "web-evicted-1")
    _control(rig, lambda _c: "Ready")
    rig.promql.set("http_request_duration_seconds_bucket", 0.21)
    _surge(rig)
    (handled,) = [h for h in rig.cycle() if h.outcome == "decided"]
    assert handled.runbook == "traffic-surge-scale-out"
    rig.run(4 * 60)
    decision = _reload(rig, _only(rig, "traffic-surge-scale-out"))
    assert decision.status == "verified"
    assert get_obj(rig.server.store, "Deployment", "shop", "web")["spec"]["replicas"] == 6


def test_an_evicted_pod_s_old_oom_kills_start_nothing(rig: KubeRig) -> None:
    seed_web(rig, replicas=3)
    _evicted(rig, "web-evicted-1", oom_restarts=4)
    _control(rig, lambda _c: "Ready")
    handled = [h for h in rig.cycle() if h.runbook == "oom-raise-memory-limit"]
    assert handled == []
    assert rig.decisions_of("oom-raise-memory-limit") == []
