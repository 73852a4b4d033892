"""The fake API server records ``metadata.managedFields`` as a real one does for the
writes it takes: one entry per (manager, operation, subresource), the manager from the
``fieldManager`` parameter or the User-Agent, the time renewed by each write that
changes the object and by no other."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.fakekube import FakeApiServer
from tests.fakekube.seed import seed_deployment


def _entries(fake: FakeApiServer) -> list[tuple[str, str, str, str]]:
    (obj,) = fake.store.objects("Deployment", "shop")
    return [
        (e["manager"], e["operation"], e.get("subresource", ""), e["time"])
        for e in obj["metadata"].get("managedFields", [])
    ]


def test_one_entry_per_manager_and_subresource_renewed_by_real_changes(
    fake: FakeApiServer, api_client: Any
) -> None:
    now = [1_800_000_000.0]
    fake.store.clock = lambda: now[0]
    seed_deployment(fake.store, "web", namespace="shop", replicas=2)
    assert _entries(fake) == []  # the seeders record no writer
    apps = client.AppsV1Api(api_client)
    apps.patch_namespaced_deployment_scale(
        "web", "shop", {"spec": {"replicas": 3}}, field_manager="autonomic"
    )
    now[0] += 60
    apps.patch_namespaced_deployment(
        "web", "shop", {"metadata": {"labels": {"a": "1"}}}, field_manager="kubectl-edit"
    )
    now[0] += 60
    apps.patch_namespaced_deployment(
        "web", "shop", {"metadata": {"labels": {"a": "2"}}}, field_manager="kubectl-edit"
    )
    apps.patch_namespaced_deployment_status(
        "web",
        "shop",
        {"status": {"observedGeneration": 7}},
        field_manager="kube-controller-manager",
    )
    now[0] += 60
    # The same label again: a no-op write renews nothing.
    apps.patch_namespaced_deployment(
        "web", "shop", {"metadata": {"labels": {"a": "2"}}}, field_manager="kubectl-edit"
    )
    # No fieldManager: the User-Agent's first part (the Python client's "OpenAPI-Generator").
    apps.patch_namespaced_deployment("web", "shop", {"metadata": {"labels": {"b": "1"}}})
    assert _entries(fake) == [
        ("autonomic", "Update", "scale", "2027-01-15T08:00:00Z"),
        ("kubectl-edit", "Update", "", "2027-01-15T08:02:00Z"),
        ("kube-controller-manager", "Update", "status", "2027-01-15T08:02:00Z"),
        ("OpenAPI-Generator", "Update", "", "2027-01-15T08:03:00Z"),
    ]


def test_a_field_manager_over_128_characters_is_refused(
    fake: FakeApiServer, api_client: Any
) -> None:
    seed_deployment(fake.store, "web", namespace="shop", replicas=2)
    with pytest.raises(ApiException) as refused:
        client.AppsV1Api(api_client).patch_namespaced_deployment(
            "web", "shop", {"metadata": {"labels": {"a": "1"}}}, field_manager="x" * 129
        )
    assert refused.value.status == 400
    assert _entries(fake) == []
