"""`autonomic runbooks test` reads a file of objects through the Kubernetes adapter with
its API calls answered from the file: the same objects served by the fake API server
read the same, and the adapter's server-side dry runs there say the same changes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.kubernetes import KubernetesCluster, load_api_client
from agent.cli import main
from agent.cli._objects import ObjectsCluster, load_objects
from agent.cli.runbooks_test import _parse_at
from remediation.ports import operation_from_dict
from tests.fakekube import start_fake_apiserver

REPO = Path(__file__).resolve().parents[3]
CLUSTER = REPO / "docs" / "examples" / "cluster.yaml"
ALERT = REPO / "docs" / "examples" / "alert-pvc-filling.json"
AT = "2026-11-18T10:00:00Z"
API_VERSIONS = {
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StorageClass": "storage.k8s.io/v1",
}


def _without_uids(states: list[Any]) -> list[Any]:
    """States without what the server makes up for an object that does not say it: a
    uid (the file's are made from kind and name), a pod's creation time."""
    out = []
    for state in states:
        if hasattr(state, "uid"):
            state = dataclasses.replace(state, uid="")
        if hasattr(state, "created_at"):
            state = dataclasses.replace(state, created_at=None)
        out.append(state)
    return out


def test_file_and_api_server_read_alike_and_dry_run_alike(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["runbooks", "test", str(REPO / "runbooks"), "--objects", str(CLUSTER)]
    assert main([*args, "--alert", str(ALERT), "--at", AT, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    objects = load_objects(CLUSTER).objects
    now = _parse_at(AT)
    server = start_fake_apiserver()
    api_client = load_api_client(host=server.url)
    try:
        for obj in objects:
            server.store.put({"apiVersion": API_VERSIONS.get(obj["kind"], "v1"), **obj})
            # What an API server sets itself (uid, creation time, generation), as the
            # file has it: the cluster the file was taken from.
            meta = obj["metadata"]
            kept = {k: meta[k] for k in ("uid", "creationTimestamp", "generation") if k in meta}
            server.store.modify(
                obj["kind"],
                meta.get("namespace", ""),
                meta["name"],
                lambda stored, kept=kept: stored["metadata"].update(kept),
            )
        live = KubernetesCluster(api_client, wall_clock=lambda: now)
        offline = ObjectsCluster(objects, now)
        for read in ("list_workloads", "list_pods", "list_nodes", "list_volume_claims"):
            assert _without_uids(getattr(live, read)()) == _without_uids(getattr(offline, read)())
        changes = [
            change
            for signal in shown["signals"]
            for rb in signal["runbooks"]
            for change in rb["changes"]
        ]
        assert {c["operation"]["op"] for c in changes} == {
            "rollback",
            "delete_pod",
            "drain",
            "patch_resources",
            "expand_volume",
        }
        for change in changes:
            result = live.apply(operation_from_dict(change["operation"]), dry_run=True)
            assert result.summary == change["dry_run"]
        # The fake API server received dry runs only.
        writes = [r for r in server.requests if r.verb in ("patch", "delete", "create")]
        assert writes and all(r.dry_run for r in writes)
    finally:
        api_client.close()
        server.stop()
