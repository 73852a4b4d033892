"""PersistentVolumeClaims and StorageClasses through the real client and the fake API
server: reading claims with whether their class allows expansion, ``ExpandVolume``
(compare-and-set, never down, the class read again, no undo), namespace scoping, and a
ClusterRole without the new rights."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from agent.adapters.kube_errors import UndoRefusedError
from agent.adapters.kubernetes import KubernetesCluster
from agent.errors import PermanentError
from remediation.ports import ExpandVolume, ObjectRef
from tests.fakekube import FakeApiServer
from tests.fakekube.seed import finish_resize, seed_claim, seed_storage_class
from tests.integration.kube.conftest import FAST, eventually

DATA = ObjectRef("PersistentVolumeClaim", "data-db-0", "shop")


def stored(fake: FakeApiServer, name: str = "data-db-0", namespace: str = "shop") -> Any:
    (claim,) = [
        c
        for c in fake.store.objects("PersistentVolumeClaim", namespace)
        if c["metadata"]["name"] == name
    ]
    return claim


def storage(claim: Any) -> tuple[str, str]:
    return claim["spec"]["resources"]["requests"]["storage"], claim["status"]["capacity"]["storage"]


@pytest.fixture
def volumes(fake: FakeApiServer) -> None:
    seed_storage_class(fake.store, "fast", allow_expansion=True)
    seed_storage_class(fake.store, "legacy", allow_expansion=None)
    seed_claim(fake.store, "data-db-0", namespace="shop", size="10Gi", storage_class="fast",
               labels={"autonomic.dev/enabled": "true"})  # fmt: skip
    seed_claim(fake.store, "logs", namespace="shop", size="5Gi", storage_class="legacy")
    seed_claim(fake.store, "scratch", namespace="shop", storage_class="gone", phase="Pending")
    seed_claim(fake.store, "cache", namespace="other", size="1Gi", storage_class="fast")


def test_claims_are_read_with_whether_their_class_lets_them_grow(
    fake: FakeApiServer, cluster: KubernetesCluster, volumes: None
) -> None:
    direct = {c.ref.name: c for c in cluster.list_volume_claims()}
    data = direct["data-db-0"]
    assert (data.ref, data.phase, data.storage_class) == (DATA, "Bound", "fast")
    assert (data.requested, data.capacity, data.expandable) == ("10Gi", "10Gi", True)
    assert data.labels == {"autonomic.dev/enabled": "true"} and data.uid
    assert direct["logs"].expandable is False  # allowVolumeExpansion unset
    scratch = direct["scratch"]
    assert (scratch.phase, scratch.capacity, scratch.expandable) == ("Pending", None, None)
    assert [c.ref.name for c in cluster.list_volume_claims("other")] == ["cache"]

    assert cluster.start(wait=5)
    assert {c.ref.name: c for c in cluster.list_volume_claims()} == direct

    def resizing(claim: Any) -> None:
        claim["status"]["conditions"] = [{"type": "Resizing", "status": "True"}]
        claim["status"]["allocatedResourceStatuses"] = {"storage": "ControllerResizeInProgress"}

    fake.store.modify("PersistentVolumeClaim", "shop", "data-db-0", resizing)
    fake.store.modify("StorageClass", "", "legacy", lambda sc: sc.update(allowVolumeExpansion=True))

    def seen() -> bool:
        claims = {c.ref.name: c for c in cluster.list_volume_claims("shop")}
        return (
            claims["data-db-0"].conditions == {"Resizing": "True"}
            and claims["data-db-0"].resize_status == "ControllerResizeInProgress"
            and claims["logs"].expandable is True
        )

    eventually(seen)


def test_expand_volume_asks_for_more_and_cannot_be_undone(
    fake: FakeApiServer, cluster: KubernetesCluster, volumes: None
) -> None:
    operation = ExpandVolume(DATA, "15Gi", expected="10Gi")
    dry = cluster.apply(operation, dry_run=True)
    assert dry.dry_run and storage(stored(fake)) == ("10Gi", "10Gi")

    result = cluster.apply(operation)
    assert result.changed and result.summary == f"{DATA}: storage 10Gi -> 15Gi"
    assert result.before["storage"] == "10Gi" and result.after == {"storage": "15Gi"}
    # the request is raised; the capacity follows only when the volume has grown
    assert storage(stored(fake)) == ("15Gi", "10Gi")
    patches = [r for r in fake.requests if r.verb == "patch"]
    assert [(r.resource, r.name, r.dry_run) for r in patches] == [
        ("persistentvolumeclaims", "data-db-0", True),
        ("persistentvolumeclaims", "data-db-0", False),
    ]
    assert [(r.verb, r.group, r.resource) for r in fake.requests if r.resource == "storageclasses"][
        -1
    ] == ("get", "storage.k8s.io", "storageclasses")  # the class read fresh before writing
    finish_resize(fake.store, "data-db-0", namespace="shop")
    assert storage(stored(fake)) == ("15Gi", "15Gi")

    again = cluster.apply(ExpandVolume(DATA, "15Gi", expected="10Gi"))
    assert not again.changed  # already asks for it: nothing written
    with pytest.raises(UndoRefusedError, match="a volume cannot shrink") as refused:
        cluster.undo(operation, result.before)
    assert refused.value.reason == "NotUndoable"
    assert storage(stored(fake)) == ("15Gi", "15Gi")


def test_expand_volume_never_writes_over_a_change_or_a_class_that_forbids_it(
    fake: FakeApiServer, cluster: KubernetesCluster, volumes: None
) -> None:
    def count() -> int:
        return sum(1 for r in fake.requests if r.verb == "patch")

    fake.store.modify(
        "PersistentVolumeClaim",
        "shop",
        "data-db-0",
        lambda c: c["spec"]["resources"]["requests"].update(storage="12Gi"),
    )
    with pytest.raises(PermanentError, match="resized since") as changed:
        cluster.apply(ExpandVolume(DATA, "15Gi", expected="10Gi"))
    assert changed.value.reason == "ChangedSinceDecision"
    with pytest.raises(PermanentError, match="cannot shrink") as shrink:
        cluster.apply(ExpandVolume(DATA, "11Gi"))
    assert shrink.value.reason == "WouldShrink"
    fake.store.modify("StorageClass", "", "fast", lambda sc: sc.update(allowVolumeExpansion=False))
    with pytest.raises(PermanentError, match="allowVolumeExpansion") as forbidden:
        cluster.apply(ExpandVolume(DATA, "18Gi", expected="12Gi"))
    assert forbidden.value.reason == "ExpansionNotAllowed"
    assert count() == 0
    assert storage(stored(fake)) == ("12Gi", "10Gi")


def test_the_fake_api_server_judges_a_claims_size_as_a_real_one(
    fake: FakeApiServer, api_client: Any, volumes: None
) -> None:
    """Lower is invalid (422); higher needs a class that allows expansion (403 from the
    PersistentVolumeClaimResize admission plugin); status goes through /status only."""
    core = client.CoreV1Api(api_client)

    def patch(name: str, size: str) -> None:
        body = {"spec": {"resources": {"requests": {"storage": size}}}}
        core.patch_namespaced_persistent_volume_claim(name, "shop", body)

    with pytest.raises(ApiException) as lower:
        patch("data-db-0", "5Gi")
    assert lower.value.status == 422
    assert "field can not be less than previous value" in lower.value.body
    with pytest.raises(ApiException) as no_class:
        patch("logs", "10Gi")
    assert no_class.value.status == 403
    assert "storageclass that provisions the pvc must support resize" in no_class.value.body
    patch("data-db-0", "20Gi")
    core.patch_namespaced_persistent_volume_claim(
        "data-db-0", "shop", {"status": {"capacity": {"storage": "99Gi"}}}
    )
    assert storage(stored(fake)) == ("20Gi", "10Gi")


def test_claims_are_read_only_in_the_namespaces_the_adapter_reads(
    fake: FakeApiServer, api_client: Any, volumes: None
) -> None:
    scoped = KubernetesCluster(api_client, namespaces=("shop",), policy=FAST, watch_timeout=5)
    excluding = KubernetesCluster(api_client, exclude_namespaces=("shop",), policy=FAST)
    try:
        assert {c.ref.namespace for c in scoped.list_volume_claims()} == {"shop"}
        assert scoped.list_volume_claims("other") == []
        assert [c.ref.name for c in excluding.list_volume_claims()] == ["cache"]
        assert scoped.start(wait=5)
        assert {c.ref.namespace for c in scoped.list_volume_claims()} == {"shop"}
        # expansion is still known: StorageClasses are cluster-scoped
        assert {c.ref.name: c.expandable for c in scoped.list_volume_claims()}["data-db-0"]
    finally:
        scoped.stop()
    claims = [r for r in fake.requests if r.resource == "persistentvolumeclaims"]
    scoped_calls = [r for r in claims if r.namespace != ""]
    assert scoped_calls and {r.namespace for r in scoped_calls} == {"shop"}


def test_without_the_rights_to_read_claims_nothing_else_stops(
    fake: FakeApiServer,
    cluster: KubernetesCluster,
    volumes: None,
    shop: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A ClusterRole from before volume expansion: no claim is seen, said once, and the
    caches still sync (the daemon gets ready) and every other kind is read."""
    fake.forbid("list", "persistentvolumeclaims")
    fake.forbid("list", "storageclasses", group="storage.k8s.io")
    with caplog.at_level(logging.WARNING):
        assert cluster.start(wait=5)
        assert cluster.list_volume_claims() == []
        assert cluster.waiting() is None
        assert len(cluster.list_workloads("shop")) == 1
    warned = [
        r.getMessage() for r in caplog.records if "so no volume is expanded" in r.getMessage()
    ]
    # Once per kind; the two caches list in their own threads, so in either order.
    assert sorted(w.split(" are not read")[0] for w in warned) == [
        "PersistentVolumeClaims",
        "StorageClasses",
    ]
