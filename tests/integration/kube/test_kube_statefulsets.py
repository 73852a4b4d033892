"""A StatefulSet read through the real client: it has no ReplicaSets and no revision
annotation (it rolls out through ControllerRevisions, named in ``status.updateRevision``),
so what the engine groups its pods' conditions by must come from that name."""

from __future__ import annotations

from typing import Any

from agent.adapters.kubernetes import KubernetesCluster
from remediation.signals import detect_kubernetes_signals
from remediation.snapshot import ClusterSnapshot
from tests.fakekube import FakeApiServer
from tests.fakekube.seed import seed_statefulset

NOW = 1_795_000_000.0


def _oom_keys(cluster: KubernetesCluster) -> set[str]:
    snapshot = ClusterSnapshot(tuple(cluster.list_workloads()), tuple(cluster.list_pods()))
    return {s.dedup_key for s in detect_kubernetes_signals(snapshot, NOW) if s.name == "OOMKilled"}


def _rolled_to(fake: FakeApiServer, revision: str) -> None:
    """The StatefulSet rolled out to ``revision`` and its pod, recreated from it, was
    OOMKilled (as the StatefulSet controller labels its pods)."""

    def status(sts: dict[str, Any]) -> None:
        sts["status"].update(updateRevision=revision, currentRevision=revision)

    def oom(pod: dict[str, Any]) -> None:
        pod["metadata"]["labels"]["controller-revision-hash"] = revision
        pod["status"]["containerStatuses"][0].update(
            restartCount=4, lastState={"terminated": {"reason": "OOMKilled"}}
        )

    fake.store.modify("StatefulSet", "shop", "db", status)
    fake.store.modify("Pod", "shop", "db-0", oom)


def test_each_statefulset_revision_is_its_own_incident(
    fake: FakeApiServer, cluster: KubernetesCluster
) -> None:
    seed_statefulset(fake.store, "db", namespace="shop", replicas=1)
    _rolled_to(fake, "db-5d8f6c7b9")
    (first,) = _oom_keys(cluster)
    (state,) = cluster.list_workloads("shop")
    assert (state.ref.kind, state.revision) == ("StatefulSet", 0)
    assert first == "kubernetes/OOMKilled/StatefulSet/shop/db/db-5d8f6c7b9"
    # Its memory limit raised (a new template, a new ControllerRevision), it OOMs again:
    # another incident, not the one already decided.
    _rolled_to(fake, "db-7c4b9d8f6")
    (second,) = _oom_keys(cluster)
    assert second == "kubernetes/OOMKilled/StatefulSet/shop/db/db-7c4b9d8f6"


def test_a_statefulset_s_on_delete_update_strategy_is_read(
    fake: FakeApiServer, cluster: KubernetesCluster
) -> None:
    """``spec.updateStrategy.type: OnDelete``: planning refuses a restart or new
    resources for it (they would reach no running pod), so the adapter must read it."""
    seed_statefulset(fake.store, "db", namespace="shop", replicas=1)
    seed_statefulset(fake.store, "cache", namespace="shop", replicas=1)
    fake.store.modify(
        "StatefulSet", "shop", "db", lambda s: s["spec"].update(updateStrategy={"type": "OnDelete"})
    )
    fake.store.modify(
        "StatefulSet",
        "shop",
        "cache",
        lambda s: s["spec"].update(updateStrategy={"type": "RollingUpdate"}),
    )
    states = {w.ref.name: w.on_delete for w in cluster.list_workloads("shop")}
    assert states == {"db": True, "cache": False}
