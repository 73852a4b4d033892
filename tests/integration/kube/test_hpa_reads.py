"""``get_hpa_for`` from the watch cache: a namespace's HPAs are converted once while they
stay the same objects, not once for every workload asked about (the scaling loop and the
engine's snapshot ask about each workload every cycle)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.adapters import kubernetes
from agent.adapters.kube_errors import BadObjectError
from agent.adapters.kubernetes import KubernetesCluster
from remediation.ports import HpaState, ObjectRef
from tests.fakekube import FakeApiServer
from tests.fakekube.seed import seed_hpa
from tests.integration.kube.conftest import FAST, eventually

WORKLOADS = 8


def test_unchanged_hpas_are_converted_once_and_a_change_is_read(
    fake: FakeApiServer, api_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(WORKLOADS):
        seed_hpa(fake.store, f"web-{i}", target=f"web-{i}", namespace="shop", min_replicas=2)
    seed_hpa(fake.store, "odd", target="other", namespace="shop")
    seed_hpa(fake.store, "elsewhere", target="web-0", namespace="store", min_replicas=5)

    def odd_max(obj: dict[str, Any]) -> None:
        obj["spec"]["maxReplicas"] = "1e3"

    fake.store.modify("HorizontalPodAutoscaler", "shop", "odd", odd_max)
    converted: list[str] = []
    real = kubernetes.hpa_state

    def counting(obj: dict[str, Any], *rest: Any) -> HpaState:
        converted.append(obj["metadata"]["name"])
        return real(obj, *rest)

    monkeypatch.setattr(kubernetes, "hpa_state", counting)
    told: list[str] = []
    cluster = KubernetesCluster(
        api_client, identity="autonomic-test", policy=FAST, on_unread=told.append
    )
    try:
        assert cluster.start(wait=5)
        refs = [ObjectRef("Deployment", f"web-{i}", "shop") for i in range(WORKLOADS)]
        for _ in range(2):  # two cycles' asks
            for ref in refs:
                hpa = cluster.get_hpa_for(ref)
                assert hpa is not None and hpa.ref.name == ref.name and hpa.min_replicas == 2
        # Each of the namespace's 9 HPAs converted once, not 9 at each of the 16 asks.
        assert sorted(converted) == sorted([f"web-{i}" for i in range(WORKLOADS)] + ["odd"])
        # The unreadable one is still left out, and counted, at every ask.
        assert told == ["HorizontalPodAutoscaler"] * (2 * WORKLOADS)
        assert cluster.objects_skipped == 2 * WORKLOADS
        # Another namespace's HPAs are their own.
        other = cluster.get_hpa_for(ObjectRef("Deployment", "web-0", "store"))
        assert other is not None and other.min_replicas == 5

        def raised(obj: dict[str, Any]) -> None:
            obj["spec"]["minReplicas"] = 4

        fake.store.modify("HorizontalPodAutoscaler", "shop", "web-3", raised)
        web3 = refs[3]

        def seen() -> bool:
            hpa = cluster.get_hpa_for(web3)
            return hpa is not None and hpa.min_replicas == 4

        eventually(seen)  # the watch event's new object is read, not the kept conversion
        fake.store.modify("HorizontalPodAutoscaler", "shop", "odd", _retarget)

        def raises() -> bool:
            try:
                cluster.get_hpa_for(refs[5])
            except BadObjectError:
                return True
            return False

        eventually(raises)  # the odd HPA now names web-5: not taken for none
    finally:
        cluster.stop()


def _retarget(obj: dict[str, Any]) -> None:
    obj["spec"]["scaleTargetRef"]["name"] = "web-5"
