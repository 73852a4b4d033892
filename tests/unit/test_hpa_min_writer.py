"""Who wrote an HPA's ``spec.minReplicas`` after Autonomic, from its
``metadata.managedFields`` (``kube_state.min_replicas_writer``, read into
``HpaState.min_set_by``), and what the watch cache keeps of the entries for it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agent.adapters.kube_cache import WatchCache
from agent.adapters.kube_state import CLUSTER_FIELD_MANAGERS, hpa_state, min_replicas_writer

Obj = dict[str, Any]
T = 1_800_000_000.0
MIN = {"f:spec": {"f:minReplicas": {}}}
MAX = {"f:spec": {"f:maxReplicas": {}}}


def entry(manager: str, when: float, fields: Obj, **more: str) -> Obj:
    return {
        "manager": manager,
        "operation": more.pop("operation", "Update"),
        "apiVersion": "autoscaling/v2",
        "time": datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        **more,
    }


def hpa(*entries: Obj) -> Obj:
    meta: Obj = {"name": "web", "namespace": "shop", "uid": "h-1", "resourceVersion": "9"}
    if entries:
        meta["managedFields"] = list(entries)
    return {
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 7,
            "maxReplicas": 20,
        },
        "status": {},
    }


def test_the_manager_that_took_the_field_from_autonomic_wrote_it() -> None:
    """Autonomic's entry kept only other fields (or none): another manager owning the
    field took it over, after Autonomic's write, whatever their times."""
    obj = hpa(entry("autonomic", T, MAX), entry("argocd-controller", T - 5, MIN))
    assert min_replicas_writer(obj) == ("argocd-controller", T - 5)
    state = hpa_state(obj)
    assert (state.min_set_by, state.min_set_at) == ("argocd-controller", T - 5)


def test_autonomics_own_field_or_no_entries_name_nobody() -> None:
    assert min_replicas_writer(hpa(entry("autonomic", T, MIN), entry("helm", T - 60, MAX))) is None
    assert min_replicas_writer(hpa()) is None
    assert hpa_state(hpa()).min_set_by is None


def test_a_shared_field_counts_from_the_same_second_on() -> None:
    """A server-side apply of the same value shares the field: theirs when not older
    than Autonomic's write."""
    flux = "kustomize-controller"
    for when, theirs in ((T - 1, False), (T, True), (T + 1, True)):
        obj = hpa(entry("autonomic", T, MIN), entry(flux, when, MIN, operation="Apply"))
        assert (min_replicas_writer(obj) == (flux, when)) is theirs


def test_the_newest_of_several_and_the_ignored_and_status_writers() -> None:
    obj = hpa(
        entry("helm", T - 60, MIN),
        entry("kubectl-edit", T - 30, MIN),
        entry("kube-controller-manager", T, MIN),  # the cluster's own: passed over
        entry("some-operator", T + 5, {"f:status": {}}, subresource="status"),
        entry("cluster-autoscaler", T + 9, MIN),
    )
    assert min_replicas_writer(obj) == ("cluster-autoscaler", T + 9)
    ignored = CLUSTER_FIELD_MANAGERS | {"cluster-autoscaler"}
    assert min_replicas_writer(obj, ignored) == ("kubectl-edit", T - 30)
    assert hpa_state(obj, ignored).min_set_by == "kubectl-edit"


class _ListOnly:
    def __init__(self, items: list[Obj]) -> None:
        self._items = items

    def list(self, kind: str, namespace: str | None) -> tuple[list[Obj], str]:
        return self._items, "10"


def test_the_cache_keeps_who_owns_min_replicas_and_no_other_field() -> None:
    obj = hpa(
        entry("autonomic", T - 60, {"f:spec": {"f:maxReplicas": {}, "f:minReplicas": {}}}),
        entry("argocd-controller", T, {"f:metadata": {"f:labels": {}}, **MIN}),
        entry("kube-controller-manager", T, {"f:status": {}}, subresource="status"),
    )
    cache = WatchCache(_ListOnly([obj]), "HorizontalPodAutoscaler")  # type: ignore[arg-type]
    cache.relist()
    (kept,) = cache.items()
    assert [(e["manager"], e.get("fieldsV1")) for e in kept["metadata"]["managedFields"]] == [
        ("autonomic", MIN),
        ("argocd-controller", MIN),
    ]
    assert min_replicas_writer(kept) == ("argocd-controller", T)
    helm_max = hpa(entry("helm", T, MAX))
    cache = WatchCache(_ListOnly([helm_max]), "HorizontalPodAutoscaler")  # type: ignore[arg-type]
    cache.relist()
    (kept,) = cache.items()
    assert kept["metadata"]["managedFields"] == [
        {
            "manager": "helm",
            "operation": "Update",
            "time": helm_max["metadata"]["managedFields"][0]["time"],
        }
    ]


def test_the_api_servers_bucket_of_old_updates_names_nobody() -> None:
    """Past ten Update entries, the API server merges the oldest into one named
    ``ancient-changes`` (its ``capManagersManager``), Autonomic's among them when it has
    not written for a while: that entry may own minReplicas for Autonomic's own write,
    so it is not taken for someone's; the value still tells a change."""
    obj = hpa(entry("ancient-changes", T, MIN), entry("helm", T - 60, MAX))
    assert min_replicas_writer(obj) is None
    assert hpa_state(obj).min_set_by is None
