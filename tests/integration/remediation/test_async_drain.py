"""A drain runs in rounds, one per remediation cycle, over the real adapter and the fake
API server: while a PodDisruptionBudget holds an eviction back, the rest of the loop
(other decisions, their verification) goes on; the drain finishes once the budget
allows, or at its timeout as before; a crash in the middle resumes it from the ledger.
No pod is ever evicted twice (a refused eviction is asked again, that is all)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from agent.adapters.kube_errors import PermissionDeniedError
from agent.executor import Executor
from agent.ledger import Intent
from agent.remediation_engine import RemediationEngine
from remediation.guards import GlobalLimits
from remediation.loading import load_paths
from tests.fakekube.seed import seed_pdb
from tests.integration.remediation.rig import (
    RUNBOOKS,
    KubeRig,
    delete_obj,
    get_obj,
    seed_nodes,
    seed_web,
)

NODE = "node-3"


class _CrashError(BaseException):
    """Stands for SIGKILL: nothing after it runs in that process (a ``BaseException``,
    as one run's ``Exception`` is caught so that the others go on)."""


def _blocked_drain(rig: KubeRig, **nodes: Any) -> None:
    """node-3 NotReady, two of web's four pods on it, a budget that refuses every
    eviction (4 healthy needed, 4 there); the drain is approved and its first round run.
    The budget comes once the drain has started (someone tightened it just after the
    engine read the budgets again before the cordon): read by the plan, or by that
    re-read, it would not start the drain at all."""
    seed_nodes(rig, 10, not_ready={NODE: rig.clock.now() - 360}, **nodes)
    seed_web(rig, replicas=4, nodes=(NODE, "node-4"))
    assert [h.runbook for h in rig.cycle() if h.outcome == "decided"] == ["node-notready-drain"]
    writer = rig.executor.writer
    first_round = writer.drain_round

    def tightened(*args: Any, **kwargs: Any) -> Any:
        seed_pdb(rig.server.store, "web", app="web", namespace="shop", min_available=4)
        setattr(writer, "drain_round", first_round)  # noqa: B010 - the later rounds as they are
        return first_round(*args, **kwargs)

    setattr(writer, "drain_round", tightened)  # noqa: B010 - an instance's method, for one call
    assert rig.approve_pending() == 1
    rig.run(30)


def _relax_budget(rig: KubeRig) -> None:
    rig.server.store.modify(
        "PodDisruptionBudget", "shop", "web", lambda b: b["spec"].update(minAvailable=2)
    )


def _on_node(rig: KubeRig) -> list[str]:
    """The pods still running on the node: an evicted pod on a NotReady node stays
    Terminating (its kubelet cannot confirm it stopped), so it is not counted."""
    pods = rig.server.store.objects("Pod", "shop")
    return sorted(
        p["metadata"]["name"]
        for p in pods
        if p["spec"]["nodeName"] == NODE and not p["metadata"].get("deletionTimestamp")
    )


def _drain_intent(rig: KubeRig) -> Intent:
    (intent,) = [i for i in rig.ledger.intents() if i.operation["op"] == "drain"]
    return intent


def _evictions(rig: KubeRig) -> Counter[str]:
    """Evictions the API server accepted, per pod (a refused one changed nothing)."""
    return Counter(w.name for w in rig.writes() if w.resource == "pods/eviction")


def _refused(rig: KubeRig) -> int:
    return sum(1 for r in rig.requests() if r.resource == "pods/eviction" and r.status == 429)


def _status(rig: KubeRig, runbook: str) -> str:
    (decision,) = rig.decisions_of(runbook)
    fresh = rig.ledger.get_decision(decision.id)
    assert fresh is not None
    return fresh.status


def test_other_decisions_are_executed_and_verified_while_a_budget_holds_a_drain(
    rig: KubeRig,
) -> None:
    # node-6 has been under disk pressure for 9 minutes: the cordon runbook (routed
    # auto) takes it up once it has held for 10, while the drain of node-3 is blocked.
    _blocked_drain(rig, disk_pressure={"node-6": rig.clock.now() - 9 * 60})
    on_node = _on_node(rig)
    assert len(on_node) == 2
    intent = _drain_intent(rig)
    # The cycle that started the drain came back after one round: cordoned, both
    # evictions refused, the intent pending with its progress in the ledger.
    assert intent.status == "pending" and intent.result is not None
    assert intent.result["drain"]["blocked"] == [f"shop/{name}" for name in on_node]
    assert get_obj(rig.server.store, "Node", None, NODE)["spec"]["unschedulable"] is True
    assert _status(rig, "node-notready-drain") == "executing"

    verified_during_drain = False
    for _ in range(8):  # 4 minutes, well inside the drain's 10-minute timeout
        rig.run(30)
        if _drain_intent(rig).status != "pending":
            break
        cordon = rig.decisions_of("disk-pressure-cordon")
        if cordon and _status(rig, "disk-pressure-cordon") == "verified":
            verified_during_drain = True
    assert verified_during_drain  # decided, executed and verified while the drain waited
    assert get_obj(rig.server.store, "Node", None, "node-6")["spec"]["unschedulable"] is True
    intent = _drain_intent(rig)
    assert intent.status == "pending" and intent.result is not None
    assert intent.result["rounds"] == 9  # one round per cycle, asked again each time
    assert _on_node(rig) == on_node and _evictions(rig) == Counter()
    assert _refused(rig) == 2 * 9


def test_a_drain_finishes_once_the_budget_allows_and_evicts_no_pod_twice(
    rig: KubeRig,
) -> None:
    _blocked_drain(rig)
    on_node = _on_node(rig)
    rig.run(60)
    assert _drain_intent(rig).status == "pending"
    _relax_budget(rig)
    rig.run(30)
    intent = _drain_intent(rig)
    assert intent.status == "applied" and intent.result is not None
    assert intent.result["after"]["complete"] is True
    assert intent.result["rounds"] == 4
    assert "INCOMPLETE" not in intent.result["summary"]
    assert _on_node(rig) == []
    assert _evictions(rig) == Counter(on_node)  # each pod once
    assert _status(rig, "node-notready-drain") == "verifying"
    rig.run(3 * 60)
    assert _status(rig, "node-notready-drain") == "verified"
    assert _evictions(rig) == Counter(on_node)
    node_writes = [w for w in rig.writes() if w.resource == "nodes"]
    assert len(node_writes) == 1  # cordoned once, not at every round


def test_a_crash_in_the_middle_of_a_drain_resumes_it_and_evicts_no_pod_twice(
    rig: KubeRig,
) -> None:
    _blocked_drain(rig)
    on_node = _on_node(rig)
    _relax_budget(rig)
    api = rig.cluster.api
    evict = api.evict_pod
    calls: list[str] = []

    def dying_evict(namespace: str, name: str, *, dry_run: bool = False, **kw: Any) -> Any:
        calls.append(name)
        if len(calls) == 2:
            raise _CrashError  # killed after the first eviction, before its record
        return evict(namespace, name, dry_run=dry_run, **kw)

    api.evict_pod = dying_evict  # type: ignore[method-assign]
    with pytest.raises(_CrashError):
        rig.run(30)
    api.evict_pod = evict  # type: ignore[method-assign]
    intent = _drain_intent(rig)
    assert intent.status == "pending" and intent.result is not None
    assert intent.result["drain"]["evicted"] == []  # the eviction that went through is not recorded
    assert len(_on_node(rig)) == 1 and _evictions(rig) == Counter(on_node[:1])

    # The next leader: a new executor and engine over the same ledger.
    executor = Executor(rig.ledger, rig.cluster, rig.clock, owner="next-leader")
    rig.engine = RemediationEngine(
        runbooks=load_paths([RUNBOOKS]),
        ledger=rig.ledger,
        decisions=rig.decisions,
        executor=executor,
        reader=rig.cluster,
        clock=rig.clock,
        limits=GlobalLimits(),
        query=rig.promql,
        alerts=rig.intake.firing,
        inbox=rig.intake.inbox,
    )
    counts = rig.engine.recover()
    assert counts["reconciled"] == 1 and counts["failed"] == 0
    intent = _drain_intent(rig)
    assert intent.status == "applied" and intent.result is not None
    assert intent.result["after"]["evicted"] == [f"shop/{name}" for name in on_node]
    assert _on_node(rig) == []
    assert _evictions(rig) == Counter(on_node)  # each pod once, across the crash
    rig.run(3 * 60)
    assert _status(rig, "node-notready-drain") == "verified"
    assert _evictions(rig) == Counter(on_node)


def test_a_drain_the_budget_never_allows_ends_at_its_timeout_and_escalates(
    rig: KubeRig,
) -> None:
    _blocked_drain(rig)
    started = _drain_intent(rig).created_at
    on_node = _on_node(rig)
    while rig.clock.now() < started + 600 - 30:
        rig.run(30)
        assert _drain_intent(rig).status == "pending"
    rig.run(30)  # the timeout (10 minutes in the runbook) has passed
    intent = _drain_intent(rig)
    assert intent.status == "applied" and intent.result is not None
    assert intent.result["after"]["complete"] is False
    summary = intent.result["summary"]
    assert "drain INCOMPLETE" in summary and "2 blocked" in summary
    assert "stopped at its timeout of 600 s" in summary
    assert _status(rig, "node-notready-drain") == "verifying"
    rig.run(17 * 60)  # verification: settle 1m, window 15m; the pods are still there
    assert _status(rig, "node-notready-drain") == "failed"
    (decision,) = rig.decisions_of("node-notready-drain")
    assert [d for d, _ in rig.channel.escalated] == [decision.id]
    # Not undone (uncordoning would send pods back to a broken node), nothing forced.
    assert get_obj(rig.server.store, "Node", None, NODE)["spec"]["unschedulable"] is True
    assert _on_node(rig) == on_node and _evictions(rig) == Counter()
    refused = _refused(rig)
    rig.run(5 * 60)
    assert _refused(rig) == refused  # the drain is over: no more evictions asked


def test_a_node_deleted_during_its_drain_ends_the_drain_verified_not_escalated(
    rig: KubeRig,
) -> None:
    """The cloud's node controller deletes the Node of a VM that is gone (the usual end
    of a NotReady node), here while a budget holds the drain back. The drain is over:
    nothing is left to drain, the pod garbage collector removes what was bound to it.
    It was reported as "the API failed during the write ... nothing was written to the
    cluster", escalated, and counted as a failure by the circuit breaker."""
    _blocked_drain(rig)
    delete_obj(rig.server.store, "Node", None, NODE)
    rig.run(30)
    intent = _drain_intent(rig)
    assert intent.status == "applied" and intent.result is not None
    assert "deleted since the drain began" in intent.result["summary"]
    rig.run(3 * 60)
    assert _status(rig, "node-notready-drain") == "verified"
    assert rig.channel.escalated == []


def test_a_drain_that_fails_after_its_cordon_says_the_node_was_cordoned(
    rig: KubeRig,
) -> None:
    """The first round cordons the node and then cannot list its pods (the right taken
    away between the snapshot's read and the round's): the escalation said "nothing was
    written to the cluster" while the node stayed cordoned."""
    seed_nodes(rig, 10, not_ready={NODE: rig.clock.now() - 360})
    seed_web(rig, replicas=4, nodes=(NODE, "node-4"))
    api = rig.cluster.api
    listing = api.list

    def no_pods_on_nodes(kind: str, *args: Any, **kwargs: Any) -> Any:
        node = get_obj(rig.server.store, "Node", None, NODE)
        if kind == "Pod" and kwargs.get("field_selector") and node["spec"].get("unschedulable"):
            raise PermissionDeniedError(
                "Autonomic is not allowed to list pods (cluster scope)",
                verb="list",
                group="",
                resource="pods",
                namespace="",
            )
        return listing(kind, *args, **kwargs)

    assert [h.runbook for h in rig.cycle() if h.outcome == "decided"] == ["node-notready-drain"]
    api.list = no_pods_on_nodes  # type: ignore[method-assign]
    assert rig.approve_pending() == 1
    rig.run(30)
    assert get_obj(rig.server.store, "Node", None, NODE)["spec"]["unschedulable"] is True
    assert _status(rig, "node-notready-drain") in ("failed", "escalated")
    ((_, why),) = rig.channel.escalated
    assert "not allowed to list pods" in why
    assert "nothing was written" not in why
    assert "the node was cordoned" in why


def test_a_drain_whose_later_round_fails_says_what_it_had_done(rig: KubeRig) -> None:
    """A later round refused outright (its node can no longer be read: RBAC changed):
    the drain fails, and the escalation says the node was cordoned and how many pods
    were evicted, not that nothing was written."""
    _blocked_drain(rig)
    rig.server.forbid("get", "nodes")
    rig.run(30)
    assert _drain_intent(rig).status == "failed"
    ((_, why),) = rig.channel.escalated
    assert "nothing was written" not in why
    assert "the node was cordoned and 0 pod(s) evicted" in why
