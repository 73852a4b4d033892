"""Writes are fenced by the lease: a replica whose lease ran out while a write was being
made or retried sends no more of it (``KubeApi.may_write``), through the real client
against the fake API server.

The executor checks the lease before it writes; these are the writes that go on after
that check: a retry after a failed try (up to the read timeout and a backoff later), and
a drain's evictions, pod after pod. Before, each was sent whatever the lease said, so a
replica that had lost the lease to another could still be writing while the new leader
acted."""

from __future__ import annotations

from typing import Any

import pytest

from agent.adapters.kube_errors import NotLeaderError
from agent.adapters.kubernetes import KubernetesCluster
from remediation.ports import Drain, ObjectRef, Scale
from tests.fakekube import FakeApiServer
from tests.integration.kube.conftest import FAST

WEB = ObjectRef("Deployment", "web", "shop")


def test_a_write_retried_after_the_lease_ran_out_is_not_sent(
    fake: FakeApiServer, api_client: Any, shop: Any
) -> None:
    leading = [True]

    def backoff(_seconds: float) -> None:
        leading[0] = False  # the lease runs out while the retry waits

    cluster = KubernetesCluster(
        api_client, policy=FAST, sleep=backoff, may_write=lambda: leading[0]
    )
    fake.inject(r"/deployments/web/scale$", method="PATCH", status=503)
    fake.clear_requests()
    with pytest.raises(NotLeaderError) as lost:
        cluster.apply(Scale(WEB, 6))
    assert lost.value.reason == "NotLeader" and "no longer holds the lease" in str(lost.value)
    # the first try (refused, 503) and no other
    assert [r.status for r in fake.requests if r.method == "PATCH"] == [503]
    scale = next(o for o in fake.store.objects("Deployment", "shop"))["spec"]["replicas"]
    assert scale == 3


def test_a_drain_whose_lease_runs_out_evicts_no_more_pods(
    fake: FakeApiServer, api_client: Any, shop: Any
) -> None:
    asked = [0]

    def may_write() -> bool:  # the cordon and one eviction, then the lease is gone
        asked[0] += 1
        return asked[0] <= 2

    cluster = KubernetesCluster(api_client, policy=FAST, sleep=lambda _: None, may_write=may_write)
    on_node = [p["metadata"]["name"] for p in shop["pods"] if p["spec"]["nodeName"] == "node-1"]
    assert len(on_node) == 2
    fake.clear_requests()
    result = cluster.drain_round(Drain(ObjectRef("Node", "node-1")))
    evictions = [r.name for r in fake.requests if r.resource == "pods/eviction"]
    assert evictions == on_node[:1]
    left = {p["metadata"]["name"] for p in fake.store.objects("Pod", "shop")}
    assert on_node[1] in left and on_node[0] not in left
    assert result.after["evicted"] == [f"shop/{on_node[0]}"]
    assert result.after["blocked"] == [f"shop/{on_node[1]}"]
    assert "no longer holds the lease" in result.after["blocked_why"][f"shop/{on_node[1]}"]
    assert result.after["done"] is False  # the next leader goes on from this progress


def test_reads_and_events_are_not_fenced(fake: FakeApiServer, api_client: Any, shop: Any) -> None:
    cluster = KubernetesCluster(
        api_client, policy=FAST, sleep=lambda _: None, may_write=lambda: False
    )
    assert [w.ref.name for w in cluster.list_workloads()] == ["web"]
    assert cluster.snapshot(Scale(WEB, 6))["replicas"] == 3
    cluster.post_event(WEB, "Scaled", "what this replica did before its lease ran out")
    assert cluster.events_failed == 0 and len(fake.store.objects("Event", "shop")) == 1
    with pytest.raises(NotLeaderError):
        cluster.apply(Scale(WEB, 6))
    assert [r for r in fake.requests if r.verb == "patch"] == []
