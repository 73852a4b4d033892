"""A pod (or a drained Node) deleted and created again under the same name between
Autonomic's read and its write, through the real client against the fake API server.

A StatefulSet's pod comes back with its name and a new uid: a delete or an eviction
decided about the old one names its uid (``deleteOptions.preconditions.uid``), and the
API server refuses the new one (409), which Autonomic records as ``TargetReplaced``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.kube_errors import TargetReplacedError
from agent.adapters.kubernetes import KubernetesCluster
from agent.clock import FakeClock
from agent.executor import Executor
from agent.ledger import open_ledger
from remediation.ports import DeletePod, Drain, EvictPod, ObjectRef
from tests.fakekube import FakeApiServer
from tests.fakekube.store import RESOURCES

NODE = ObjectRef("Node", "node-1")


def _recreate(fake: FakeApiServer, kind: str, namespace: str, name: str) -> str:
    """Someone deletes the object and creates another under its name (a StatefulSet's
    controller, a cloud's node controller); returns the new one's uid."""
    rt = next(r for r in RESOURCES if r.kind == kind)
    old = copy.deepcopy(fake.store.get(rt, namespace, name))
    fake.store.delete(rt, namespace, name)
    for field in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
        old["metadata"].pop(field, None)
    created = fake.store.create(rt, namespace, old)
    return str(created["metadata"]["uid"])


def _pod_uid(fake: FakeApiServer, name: str) -> str | None:
    pods = [p for p in fake.store.objects("Pod", "shop") if p["metadata"]["name"] == name]
    return str(pods[0]["metadata"]["uid"]) if pods else None


def test_the_fake_server_refuses_a_delete_or_eviction_naming_another_uid(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    # As rest.BeforeDelete and the eviction's delete answer it: 409 Conflict, "the UID
    # in the precondition (x) does not match the UID in record (...)". Before, the fake
    # worded the delete's refusal its own way (read by the client as a plain conflict)
    # and the eviction took no precondition at all: the pod was evicted.
    api = cluster.operations.api
    name = shop["pods"][0]["metadata"]["name"]
    uid = _pod_uid(fake, name)
    with pytest.raises(TargetReplacedError, match=r"UID in the precondition \(x\)") as deleted:
        api.delete_pod("shop", name, uid="x")
    assert deleted.value.reason == "TargetReplaced"
    with pytest.raises(TargetReplacedError, match=r"UID in the precondition \(x\)"):
        api.evict_pod("shop", name, uid="x")
    assert _pod_uid(fake, name) == uid  # neither removed it
    api.evict_pod("shop", name, uid=str(uid))
    assert _pod_uid(fake, name) is None  # its own uid: evicted


@pytest.mark.parametrize("operation", [DeletePod, EvictPod])
@pytest.mark.parametrize("when", ["before_the_re_read", "after_the_re_read"])
def test_a_pod_created_again_after_the_snapshot_is_not_removed(
    fake: FakeApiServer,
    cluster: KubernetesCluster,
    shop: Any,
    tmp_path: Path,
    operation: type[DeletePod | EvictPod],
    when: str,
) -> None:
    # The executor reads the pod (its snapshot: uid A); the pod is deleted and created
    # again under its name (uid B) before the write: before the writer's own read, or
    # between that read and the request. Before, a delete named the uid of the writer's
    # read (B) and an eviction named none: B, a pod nobody decided about, was removed.
    # Now both name A: refused, the intent failed with TargetReplaced, B left running.
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    try:
        name = shop["pods"][0]["metadata"]["name"]
        api = cluster.operations.api
        new_uid: list[str] = []

        def replace_once() -> None:
            if not new_uid:
                new_uid.append(_recreate(fake, "Pod", "shop", name))

        if when == "before_the_re_read":
            real_read = api.read
            reads: list[str] = []

            def read(kind: str, *args: Any, **kw: Any) -> Any:
                if kind == "Pod":
                    if reads:  # the executor's snapshot is taken: the writer's read next
                        replace_once()
                    reads.append(kind)
                return real_read(kind, *args, **kw)

            api.read = read  # type: ignore[method-assign]
        else:
            verb = "delete_pod" if operation is DeletePod else "evict_pod"
            real_write = getattr(api, verb)

            def write(*args: Any, **kw: Any) -> Any:
                replace_once()
                return real_write(*args, **kw)

            setattr(api, verb, write)
        executor = Executor(ledger, cluster, FakeClock(1000), owner="a")
        outcome = executor.apply(
            "k",
            0,
            operation(ObjectRef("Pod", name, "shop")),
            decision_id=None,
            runbook="r",
            reason_code="X",
            message="m",
        )
        assert new_uid
        assert outcome.status == "failed" and outcome.reason == "TargetReplaced", outcome
        assert _pod_uid(fake, name) == new_uid[0]  # the new pod is left running
        (intent,) = ledger.intents()
        assert intent.status == "failed" and (intent.result or {})["reason"] == "TargetReplaced"
    finally:
        ledger.close()


def test_a_drain_does_not_evict_a_pod_created_again_since_its_round_read_it(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    # The round lists node-1's pods; one of them is deleted and created again under its
    # name (still bound to node-1) before its eviction. Before, the eviction named no
    # uid and evicted the new pod, which the round never read. Now it names the uid the
    # round read: refused, the pod is left for the next round, which reads it again
    # and evicts it by its own uid (it is on the node being drained).
    api = cluster.operations.api
    on_node = [p["metadata"]["name"] for p in shop["pods"] if p["spec"]["nodeName"] == "node-1"]
    assert len(on_node) == 2
    replaced = on_node[0]
    real_evict = api.evict_pod
    new_uid: list[str] = []

    def evict(namespace: str, name: str, **kw: Any) -> Any:
        if name == replaced and not new_uid:
            new_uid.append(_recreate(fake, "Pod", "shop", name))
        return real_evict(namespace, name, **kw)

    api.evict_pod = evict  # type: ignore[method-assign]
    first = cluster.drain_round(Drain(NODE))
    assert new_uid
    assert _pod_uid(fake, replaced) == new_uid[0]  # the new pod was not evicted
    assert first.after["blocked"] == [f"shop/{replaced}"]
    assert "UID in the precondition" in first.after["blocked_why"][f"shop/{replaced}"]
    assert first.after["evicted"] == [f"shop/{on_node[1]}"]
    assert _pod_uid(fake, on_node[1]) is None
    second = cluster.drain_round(Drain(NODE), first.after)
    assert _pod_uid(fake, replaced) is None  # read by that round, evicted by its uid
    assert second.after["done"] is True and second.after["blocked"] == []


def _unschedulable(fake: FakeApiServer) -> bool:
    (node,) = [n for n in fake.store.objects("Node") if n["metadata"]["name"] == "node-1"]
    return bool(node["spec"].get("unschedulable", False))


@pytest.mark.parametrize("when", ["before_the_re_read", "after_the_re_read"])
def test_a_drain_s_cordon_is_refused_on_a_node_created_again_since_the_snapshot(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any, tmp_path: Path, when: str
) -> None:
    # The executor reads node-1 (its snapshot: uid A); the Node is deleted and created
    # again under its name (uid B: a VM replaced) before the drain's cordon. Before,
    # the cordon was written without the snapshot's uid and landed on B, and the drain
    # went on evicting. Now it names A: refused (TargetReplaced), B stays schedulable,
    # and no pod is evicted.
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    try:
        api = cluster.operations.api
        new_uid: list[str] = []

        def replace_once() -> None:
            if not new_uid:
                new_uid.append(_recreate(fake, "Node", "", "node-1"))

        if when == "before_the_re_read":
            real_read = api.read
            reads: list[str] = []

            def read(kind: str, *args: Any, **kw: Any) -> Any:
                if kind == "Node":
                    if reads:  # the executor's snapshot is taken: the cordon's read next
                        replace_once()
                    reads.append(kind)
                return real_read(kind, *args, **kw)

            api.read = read  # type: ignore[method-assign]
        else:
            real_patch = api.patch

            def patch(kind: str, *args: Any, **kw: Any) -> Any:
                if kind == "Node":
                    replace_once()
                return real_patch(kind, *args, **kw)

            api.patch = patch  # type: ignore[method-assign]
        pods = len(fake.store.objects("Pod", "shop"))
        executor = Executor(ledger, cluster, FakeClock(1000), owner="a")
        outcome = executor.apply(
            "k", 0, Drain(NODE), decision_id=None, runbook="r", reason_code="X", message="m"
        )
        assert new_uid
        assert outcome.status == "failed" and outcome.reason == "TargetReplaced", outcome
        assert not _unschedulable(fake)  # the new Node is not cordoned
        assert len(fake.store.objects("Pod", "shop")) == pods  # and nothing evicted
        (intent,) = ledger.intents()
        assert intent.status == "failed" and (intent.result or {})["reason"] == "TargetReplaced"
        assert "written" not in (intent.result or {})
    finally:
        ledger.close()


def test_a_drain_leaves_a_pod_whose_eviction_conflicts_for_the_next_round(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    # The API server answers an eviction 409 without naming a uid: the eviction's own
    # resourceVersion guard lost to changes of the pod more times than the server tries
    # (the pod's status written meanwhile). Before, that ConflictError left the round
    # raw, the other pods unasked and the round's progress lost; a lone eviction
    # (_remove_pod) already read it as a transient Conflict. Now the pod is blocked for
    # this round, the others are evicted, and the next round evicts it.
    on_node = [p["metadata"]["name"] for p in shop["pods"] if p["spec"]["nodeName"] == "node-1"]
    assert len(on_node) == 2
    busy = on_node[0]
    fake.inject(rf"/pods/{busy}/eviction$", method="POST", status=409)
    first = cluster.drain_round(Drain(NODE))
    assert first.after["blocked"] == [f"shop/{busy}"]
    assert "409" in first.after["blocked_why"][f"shop/{busy}"]
    assert first.after["evicted"] == [f"shop/{on_node[1]}"]
    assert _pod_uid(fake, busy) is not None and _pod_uid(fake, on_node[1]) is None
    second = cluster.drain_round(Drain(NODE), first.after)
    assert _pod_uid(fake, busy) is None
    assert second.after["done"] is True and second.after["blocked"] == []
