"""Who last changed a workload or node, from ``metadata.managedFields``: the adapter's
``last_change_by_others`` (what the "a person changed it recently" guard compares), the
watch cache's cut-down copy of the entries, the guard's text when nothing is recorded,
and the config's ``cluster.ignoreFieldManagers``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from agent.adapters.kube_cache import WatchCache
from agent.adapters.kube_state import (
    CLUSTER_FIELD_MANAGERS,
    last_change_by_others,
    node_state,
    workload_state,
)
from agent.settings import Settings

Obj = dict[str, Any]


def at(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry(manager: str, when: float | str, subresource: str | None = None) -> Obj:
    found: Obj = {
        "manager": manager,
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": when if isinstance(when, str) else at(when),
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:replicas": {}}},
    }
    if subresource:
        found["subresource"] = subresource
    return found


def deployment(*entries: Obj) -> Obj:
    meta: Obj = {"name": "web", "namespace": "shop", "uid": "d-1"}
    if entries:
        meta["managedFields"] = list(entries)
    return {
        "kind": "Deployment",
        "metadata": meta,
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
        "status": {},
    }


T = 1_800_000_000.0


def test_a_person_after_the_controllers_is_the_newest_change() -> None:
    obj = deployment(
        entry("kubectl-client-side-apply", T - 3600),
        entry("kube-controller-manager", T),  # the revision annotation
        entry("kubectl-edit", T - 60),
        entry("autonomic", T - 30),
    )
    assert last_change_by_others(obj) == T - 60
    assert workload_state(obj).managed_by_human_at == T - 60


def test_controllers_hpa_status_and_autonomic_are_not_anyone_else() -> None:
    obj = deployment(
        entry("kube-controller-manager", T, "scale"),  # an HPA scaling it
        entry("kube-controller-manager", T, "status"),
        entry("helm", T - 10, "status"),  # any manager's status write is not counted
        entry("autonomic", T),
        entry("autonomic", T, "scale"),
        entry("rollouts-controller", T),
    )
    assert last_change_by_others(obj) is None
    assert workload_state(obj).managed_by_human_at is None


def test_a_person_scaling_through_the_scale_subresource_counts() -> None:
    assert last_change_by_others(deployment(entry("kubectl", T, "scale"))) == T


def test_the_ignore_list_is_extendable_and_gitops_tools_count() -> None:
    obj = deployment(entry("argocd-controller", T - 5), entry("cluster-autoscaler", T))
    assert last_change_by_others(obj) == T
    extra = CLUSTER_FIELD_MANAGERS | {"cluster-autoscaler"}
    assert last_change_by_others(obj, extra) == T - 5
    assert workload_state(obj, (), extra).managed_by_human_at == T - 5


def test_malformed_entries_are_skipped_and_none_recorded_is_none() -> None:
    obj = deployment(
        entry("kubectl-edit", "yesterday"),
        {"operation": "Update", "time": at(T)},  # no manager
        {"manager": "", "time": at(T)},
        {"manager": "kubectl-patch"},  # no time
        "not an entry",  # type: ignore[arg-type]
        entry("kubectl-rollout", T - 120),
    )
    assert last_change_by_others(obj) == T - 120
    assert last_change_by_others(deployment()) is None
    broken = deployment()
    broken["metadata"]["managedFields"] = "garbage"
    assert last_change_by_others(broken) is None


def test_the_api_servers_bucket_of_old_updates_is_nobodys_change() -> None:
    """Past ten Update entries, the API server merges the oldest into one named
    ``ancient-changes``, which may hold Autonomic's own writes or a controller's: its
    recent time is no one's change, while a person's entry beside it still counts."""
    busy = deployment(
        entry("ancient-changes", T),
        entry("autonomic", T - 30),
        entry("kube-controller-manager", T - 10),
    )
    assert last_change_by_others(busy) is None
    assert workload_state(busy).managed_by_human_at is None
    busy["metadata"]["managedFields"].append(entry("kubectl-edit", T - 300))
    assert last_change_by_others(busy) == T - 300


def test_a_node_cordoned_by_a_person() -> None:
    node = {
        "kind": "Node",
        "metadata": {
            "name": "node-2",
            "managedFields": [
                entry("kubelet", T, "status"),
                entry("kubelet", T - 900),
                entry("kube-controller-manager", T - 10),  # node-lifecycle taints
                entry("kubectl-cordon", T - 300),
            ],
        },
        "spec": {"unschedulable": True},
        "status": {},
    }
    assert node_state(node).managed_by_human_at == T - 300


class _ListOnly:
    def __init__(self, items: list[Obj]) -> None:
        self.items = items

    def list(self, kind: str, namespace: str | None) -> tuple[list[Obj], str]:
        return self.items, "10"


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "Rollout", "Node"])
def test_the_cache_keeps_who_and_when_without_the_field_sets(kind: str) -> None:
    obj = deployment(
        entry("kubectl-edit", T - 60),
        entry("kube-controller-manager", T, "status"),
        entry("kube-controller-manager", T, "scale"),
    )
    obj["metadata"]["resourceVersion"] = "9"
    cache = WatchCache(_ListOnly([obj]), kind)  # type: ignore[arg-type]
    cache.relist()
    (kept,) = cache.items()
    assert kept["metadata"]["managedFields"] == [
        {"manager": "kubectl-edit", "operation": "Update", "time": at(T - 60)},
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "time": at(T),
            "subresource": "scale",
        },
    ]
    assert last_change_by_others(kept) == T - 60


def test_the_cache_keeps_no_field_managers_of_a_pod() -> None:
    pod = deployment(entry("kubectl-edit", T))
    pod["kind"] = "Pod"
    cache = WatchCache(_ListOnly([pod]), "Pod")  # type: ignore[arg-type]
    cache.relist()
    (kept,) = cache.items()
    assert "managedFields" not in kept["metadata"]


def test_ignore_field_managers_in_the_config() -> None:
    settings = Settings.model_validate(
        {"cluster": {"ignoreFieldManagers": ["cluster-autoscaler", "karpenter"]}}
    )
    assert settings.cluster.ignore_field_managers == ("cluster-autoscaler", "karpenter")
    for bad in ("", " kubectl", "x" * 129, "tab\there"):
        with pytest.raises(ValidationError, match="not a field manager name") as raised:
            Settings.model_validate({"cluster": {"ignoreFieldManagers": [bad]}})
        assert "cluster.ignoreFieldManagers.0" in str(raised.value)
