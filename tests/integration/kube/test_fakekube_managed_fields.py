"""The fake API server records ``metadata.managedFields`` as a real one does for the
writes it takes: one entry per (manager, operation, subresource), the manager from the
``fieldManager`` parameter or the User-Agent, the time renewed by each write that
changes the object and by no other, and the fields each manager owns (``fieldsV1``):
an Update takes the fields it changed from every other manager."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from agent.adapters.kube_state import last_change_by_others
from tests.fakekube import FakeApiServer
from tests.fakekube.seed import seed_deployment, seed_hpa


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


def _owners(fake: FakeApiServer) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """The HPA's managedFields: (manager, subresource) -> (time, fieldsV1)."""
    (obj,) = fake.store.objects("HorizontalPodAutoscaler", "shop")
    return {
        (e["manager"], e.get("subresource", "")): (e["time"], e["fieldsV1"])
        for e in obj["metadata"].get("managedFields", [])
        if e["operation"] == "Update"
    }


def test_an_update_takes_the_fields_it_changes_from_the_other_managers(
    fake: FakeApiServer, api_client: Any
) -> None:
    """Autonomic raises an HPA's minReplicas; a GitOps tool puts its own back: it now owns
    spec.minReplicas, and Autonomic's entry, left owning no field, is gone (a real server
    drops an entry that owns nothing). The tool writing the
    same value again changes nothing (its time stays); Autonomic taking the field back
    leaves the tool owning only the maximum it had also written."""
    now = [1_800_000_000.0]
    fake.store.clock = lambda: now[0]
    seed_hpa(fake.store, "web", target="web", namespace="shop", min_replicas=2, max_replicas=9)
    hpas = client.AutoscalingV2Api(api_client)
    hpas.patch_namespaced_horizontal_pod_autoscaler(
        "web", "shop", {"spec": {"minReplicas": 7}}, field_manager="autonomic"
    )
    minimum = {"f:spec": {"f:minReplicas": {}}}
    assert _owners(fake) == {("autonomic", ""): ("2027-01-15T08:00:00Z", minimum)}
    now[0] += 60
    hpas.patch_namespaced_horizontal_pod_autoscaler(
        "web",
        "shop",
        {"spec": {"minReplicas": 2, "maxReplicas": 10}},
        field_manager="argocd-controller",
    )
    both = {"f:spec": {"f:maxReplicas": {}, "f:minReplicas": {}}}
    assert _owners(fake) == {("argocd-controller", ""): ("2027-01-15T08:01:00Z", both)}
    now[0] += 60
    hpas.patch_namespaced_horizontal_pod_autoscaler(
        "web", "shop", {"spec": {"minReplicas": 2}}, field_manager="argocd-controller"
    )  # the same value: a no-op
    assert _owners(fake)[("argocd-controller", "")][0] == "2027-01-15T08:01:00Z"
    hpas.patch_namespaced_horizontal_pod_autoscaler(
        "web", "shop", {"spec": {"minReplicas": 6}}, field_manager="autonomic"
    )
    hpas.patch_namespaced_horizontal_pod_autoscaler_status(
        "web", "shop", {"status": {"desiredReplicas": 6}}, field_manager="kube-controller-manager"
    )
    assert _owners(fake) == {
        ("argocd-controller", ""): ("2027-01-15T08:01:00Z", {"f:spec": {"f:maxReplicas": {}}}),
        ("autonomic", ""): ("2027-01-15T08:02:00Z", minimum),
        ("kube-controller-manager", "status"): (
            "2027-01-15T08:02:00Z",
            {"f:status": {"f:desiredReplicas": {}}},
        ),
    }


def test_a_create_owns_what_it_wrote_and_a_removed_field_is_nobodys(
    fake: FakeApiServer, api_client: Any
) -> None:
    now = [1_800_000_000.0]
    fake.store.clock = lambda: now[0]
    body = {
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 9,
        },
    }
    hpas = client.AutoscalingV2Api(api_client)
    hpas.create_namespaced_horizontal_pod_autoscaler("shop", body, field_manager="helm")
    ((when, fields),) = _owners(fake).values()
    assert when == "2027-01-15T08:00:00Z"
    assert fields == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:maxReplicas": {},
            "f:minReplicas": {},
            "f:scaleTargetRef": {"f:apiVersion": {}, "f:kind": {}, "f:name": {}},
        },
    }
    hpas.patch_namespaced_horizontal_pod_autoscaler(
        "web", "shop", {"metadata": {"labels": {"app": None}}}, field_manager="kubectl-edit"
    )
    owners = _owners(fake)
    assert "f:metadata" not in owners[("helm", "")][1]  # removed: the label is nobody's
    # A write that only removed a field set none: as on a real server, its writer gets
    # no entry (and so no time).
    assert ("kubectl-edit", "") not in owners


def test_a_remove_only_write_records_no_writer_and_drops_an_emptied_entry(
    fake: FakeApiServer, api_client: Any
) -> None:
    """A real ``kubectl uncordon`` removes ``spec.unschedulable`` (false is left out of the
    patch): a write that sets no field. As structured-merge-diff's Update does, the field
    leaves every manager, an entry left owning nothing is dropped, and the uncordoning
    manager gets no entry and no time: who uncordoned, and when, is not recorded."""
    now = [1_800_000_000.0]
    fake.store.clock = lambda: now[0]
    fake.store.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-2"}, "spec": {}})
    nodes = client.CoreV1Api(api_client)
    nodes.patch_node("node-2", {"spec": {"unschedulable": True}}, field_manager="autonomic")
    now[0] += 60
    nodes.patch_node("node-2", {"metadata": {"labels": {"team": "a"}}}, field_manager="kubectl")
    now[0] += 600
    nodes.patch_node("node-2", {"spec": {"unschedulable": None}}, field_manager="kubectl")
    (node,) = fake.store.objects("Node", None)
    assert "unschedulable" not in node["spec"]
    entries = {
        (e["manager"], e.get("subresource", "")): (e["time"], e["fieldsV1"])
        for e in node["metadata"]["managedFields"]
    }
    assert entries == {
        ("kubectl", ""): ("2027-01-15T08:01:00Z", {"f:metadata": {"f:labels": {"f:team": {}}}})
    }


def test_past_ten_updaters_the_oldest_merge_into_ancient_changes(
    fake: FakeApiServer, api_client: Any
) -> None:
    """Eleven managers each set a label, a minute apart, Autonomic first: as on a real
    server, the two oldest (Autonomic's and the next) become one ``ancient-changes``
    entry owning both labels, dated by the newer of them, and ten Update entries are
    left; the "changed by someone" reader passes the bucket over."""
    now = [1_800_000_000.0]
    fake.store.clock = lambda: now[0]
    seed_deployment(fake.store, "web", namespace="shop", replicas=2)
    apps = client.AppsV1Api(api_client)
    managers = ["autonomic", "kube-controller-manager", *(f"tool-{n}" for n in range(9))]
    for n, manager in enumerate(managers):
        apps.patch_namespaced_deployment(
            "web", "shop", {"metadata": {"labels": {f"l{n}": "x"}}}, field_manager=manager
        )
        now[0] += 60
    (obj,) = fake.store.objects("Deployment", "shop")
    entries = obj["metadata"]["managedFields"]
    assert len(entries) == 10
    assert [e["manager"] for e in entries] == ["ancient-changes", *managers[2:]]
    bucket = entries[0]
    assert bucket["time"] == "2027-01-15T08:01:00Z"  # kube-controller-manager's
    assert bucket["fieldsV1"] == {"f:metadata": {"f:labels": {"f:l0": {}, "f:l1": {}}}}
    assert last_change_by_others(obj) == 1_800_000_000.0 + 10 * 60  # tool-8's
    only_ours = copy.deepcopy(obj)
    for entry in only_ours["metadata"]["managedFields"][1:]:
        entry["manager"] = "autonomic"
    assert last_change_by_others(only_ours) is None
