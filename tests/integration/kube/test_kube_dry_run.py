"""Every write of the closed set supports server-side dry-run: it reaches the API server
with ``dryRun=All`` on every mutating request, says what it would change, and changes
nothing (the store's resourceVersion does not move)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.adapters.kubernetes import KubernetesCluster
from remediation.ports import (
    Cordon,
    DeletePod,
    Drain,
    EvictPod,
    ObjectRef,
    Operation,
    PatchResources,
    PauseRollout,
    RollbackToPrevious,
    RolloutRestart,
    Scale,
    SetHpaMaxReplicas,
    SetHpaMinReplicas,
)
from tests.fakekube import FakeApiServer

WEB = ObjectRef("Deployment", "web", "shop")
HPA = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def _operations(shop: dict[str, Any]) -> list[Operation]:
    pod = ObjectRef("Pod", shop["pods"][0]["metadata"]["name"], "shop")
    return [
        Scale(WEB, 5),
        SetHpaMinReplicas(HPA, 4),
        SetHpaMaxReplicas(HPA, 20),
        RolloutRestart(WEB),
        RollbackToPrevious(WEB),
        PauseRollout(WEB, paused=True),
        DeletePod(pod),
        EvictPod(pod),
        Cordon(ObjectRef("Node", "node-2")),
        Drain(ObjectRef("Node", "node-1"), timeout_seconds=0.2),
        PatchResources(WEB, "web", limits={"memory": "512Mi"}),
    ]


@pytest.mark.parametrize(
    "index",
    range(11),
    ids=[
        "scale",
        "hpa-min",
        "hpa-max",
        "restart",
        "rollback",
        "pause",
        "delete-pod",
        "evict",
        "cordon",
        "drain",
        "resources",
    ],
)
def test_every_write_dry_runs_on_the_server_and_changes_nothing(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: dict[str, Any], index: int
) -> None:
    operation = _operations(shop)[index]
    version = fake.store.resource_version
    fake.clear_requests()
    result = cluster.apply(operation, dry_run=True)
    writes = [r for r in fake.requests if r.method in MUTATING]
    assert writes, f"{operation.op}: a dry run must still ask the server"
    assert all(r.dry_run for r in writes), [(r.method, r.path) for r in writes if not r.dry_run]
    assert result.dry_run and result.changed, result
    assert result.summary
    assert fake.store.resource_version == version  # nothing stored
