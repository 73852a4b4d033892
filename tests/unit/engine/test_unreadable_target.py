"""A target that exists but could not be read is not a target deleted: the engine's
snapshot holds what a listing left out as unread, and an approved run whose target
cannot be read is closed before any write with that reason, not "it was deleted"."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent.adapters.kube_errors import BadObjectError
from remediation.planning import unread_pod_names
from remediation.ports import (
    DisruptionBudgets,
    Drain,
    NodeState,
    ObjectRef,
    PodState,
    UnreadObject,
    UnreadReporter,
    VolumeClaimState,
    WorkloadState,
    operation_to_dict,
)
from tests.unit.engine.harness import WEB, Rig, latency_anomaly, runbook_rig, status_of

NODE = ObjectRef("Node", "node-b")  # one of the simulated cluster's nodes
WHY = "Node node-b: metadata.labels is ['a'], not a map of strings"


def reporting(
    r: Rig,
    monkeypatch: pytest.MonkeyPatch,
    *,
    nodes: Mapping[str, str] | None = None,
    pods_of: Mapping[ObjectRef, str] | None = None,
) -> None:
    """The simulated cluster read as the Kubernetes adapter reads one with objects it
    cannot read: each node named in ``nodes``, and each pod of a workload in
    ``pods_of``, left out of its listing and named in ``unread`` (with its reason, and
    a pod's node and workload) when the caller passes one. The listings take the
    adapter's arguments and pass them on; the simulated cluster has no claims."""
    sim: Any = r.sim
    bad_nodes, bad_pods = dict(nodes or {}), dict(pods_of or {})
    read_nodes, read_pods, read_workloads = sim.list_nodes, sim.list_pods, sim.list_workloads

    def list_nodes(*, unread: list[UnreadObject] | None = None) -> list[NodeState]:
        listed: list[NodeState] = read_nodes()
        if unread is not None:
            unread.extend(
                UnreadObject(n.ref, bad_nodes[n.ref.name])
                for n in listed
                if n.ref.name in bad_nodes
            )
        return [n for n in listed if n.ref.name not in bad_nodes]

    def list_pods(
        namespace: str | None = None,
        selector: dict[str, str] | None = None,
        *,
        unread: list[UnreadObject] | None = None,
    ) -> list[PodState]:
        kept: list[PodState] = []
        for p in read_pods(namespace, selector):
            why = bad_pods.get(p.owner) if p.owner is not None else None
            if why is None:
                kept.append(p)
            elif unread is not None:
                unread.append(UnreadObject(p.ref, why, node=p.node, owner=p.owner))
        return kept

    def list_workloads(
        namespace: str | None = None, *, unread: list[UnreadObject] | None = None
    ) -> list[WorkloadState]:
        return list(read_workloads(namespace))

    def list_volume_claims(
        namespace: str | None = None, *, unread: list[UnreadObject] | None = None
    ) -> list[VolumeClaimState]:
        return []

    monkeypatch.setattr(sim, "objects_skipped", len(bad_nodes) + len(bad_pods), raising=False)
    monkeypatch.setattr(sim, "list_nodes", list_nodes)
    monkeypatch.setattr(sim, "list_pods", list_pods)
    monkeypatch.setattr(sim, "list_workloads", list_workloads)
    monkeypatch.setattr(sim, "list_volume_claims", list_volume_claims, raising=False)
    assert isinstance(sim, UnreadReporter)


def test_the_snapshot_holds_what_a_listing_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    reporting(r, monkeypatch, nodes={NODE.name: WHY})
    snapshot = r.engine.snapshot()
    assert snapshot.node(NODE.name) is None
    assert snapshot.unread_why(NODE) == WHY


def test_an_unreadable_node_target_is_not_said_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    latency_anomaly(r, WEB, run=0)
    (record,) = r.ledger.decisions(kind="remediation", status=["approved"])
    reporting(r, monkeypatch, nodes={NODE.name: WHY})
    why = r.engine._gone_or_changed(record, NODE)
    assert why is not None and why.startswith(f"{NODE} could not be read: {WHY}"), why
    assert "deleted" not in why


def test_an_approved_run_whose_workload_cannot_be_read_is_superseded_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    latency_anomaly(r, WEB, run=0)
    (record,) = r.ledger.decisions(kind="remediation", status=["approved"])
    bad = "Deployment shop/web: spec.replicas is -1, not a whole number that is not negative"

    def get_workload(ref: ObjectRef) -> Any:
        raise BadObjectError(bad)

    monkeypatch.setattr(r.sim, "get_workload", get_workload)
    assert r.engine._gone_or_changed(record, WEB) == (
        f"{WEB} could not be read: {bad}. What it is now is not known, so the plan made "
        "on it is not carried out"
    )
    r.run(60)
    assert r.ledger.intents() == []  # nothing written
    assert status_of(r, record.id) == "superseded"
    (row,) = [f for f in r.ledger.feedback_for(record.id) if f["outcome"] == "superseded"]
    assert str(row["detail"]["why"]).startswith(f"not executed: {WEB} could not be read: {bad}")


def test_a_verification_left_undecided_by_unreadable_pods_is_no_verdict_on_the_runbook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The action ran; from then on web's pods come in a shape the adapter cannot read, so
    `podsReady` cannot be told for the whole window. The run fails (undone, escalated) as
    when Prometheus could not be read, but the runbook's track record is not told it was
    wrong: what became of the pods is not known."""
    r = runbook_rig(tmp_path)
    handled = latency_anomaly(r, WEB, run=0)
    assert handled.route == "auto", handled
    r.run(30)  # executed: the pods are read while the action runs
    (record,) = r.ledger.decisions(kind="remediation")
    bad = "Pod shop/web-x: status.containerStatuses[0].restartCount is -1"
    reporting(r, monkeypatch, pods_of={WEB: bad})
    r.run(600)
    assert status_of(r, record.id) in ("undone", "failed")
    (row,) = [f for f in r.ledger.feedback_for(record.id) if f["kind"] == "verification"]
    assert str(row["detail"]["why"]).startswith("ObjectUnread"), row
    assert row["outcome"] == "inconclusive", row


def test_an_undo_over_a_target_that_could_not_be_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether someone other than Autonomic changed the target since our action is not
    known when it cannot be read: the undo is refused as over such a change, not let
    through as over an object nobody touched (a node), nor left to fail on the adapter's
    error (a workload)."""
    r = runbook_rig(tmp_path)
    latency_anomaly(r, WEB, run=0)
    (record,) = r.ledger.decisions(kind="remediation", status=["approved"])
    applied = [SimpleNamespace(operation={"op": "scale"}, created_at=record.created_at)]
    assert r.engine._undo_refusal(record, applied, NODE) is None  # read: nobody changed it
    reporting(r, monkeypatch, nodes={NODE.name: WHY})
    refusal = r.engine._undo_refusal(record, applied, NODE)
    assert refusal is not None and refusal.startswith(f"{NODE} could not be read: {WHY}")
    assert "so our change is not undone" in refusal
    bad = "Deployment shop/web: spec.replicas is -1, not a whole number that is not negative"

    def get_workload(ref: ObjectRef) -> Any:
        raise BadObjectError(bad)

    monkeypatch.setattr(r.sim, "get_workload", get_workload)
    refusal = r.engine._undo_refusal(record, applied, WEB)
    assert refusal is not None and refusal.startswith(f"{WEB} could not be read: {bad}")


def test_a_drain_whose_node_could_not_be_read_before_the_cordon_is_not_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PodDisruptionBudgets read again before a drain's cordon are judged on the
    cluster as read then, an unreadable node held as such: not a node gone (no budget
    to judge, go on), but one whose pods and budgets are not known."""
    r = runbook_rig(tmp_path)
    latency_anomaly(r, WEB, run=0)
    (approved,) = r.ledger.decisions(kind="remediation", status=["approved"])
    drain = Drain(NODE, max_evictions=10, timeout_seconds=600.0)
    record = dataclasses.replace(
        approved, proposal={**approved.proposal, "operations": [operation_to_dict(drain)]}
    )
    monkeypatch.setattr(r.sim, "read_disruption_budgets", DisruptionBudgets, raising=False)
    assert r.engine._budgets_block(record) is None
    reporting(r, monkeypatch, nodes={NODE.name: WHY})
    blocked = r.engine._budgets_block(record)
    assert blocked is not None
    why, escalation = blocked
    assert why == (
        f"{NODE}, read again before the cordon, could not be read: {WHY}. What the drain "
        "would evict from it is not known, so the node was not cordoned"
    )
    assert "Nothing was done, not even the cordon" in escalation


def test_a_drain_over_pods_that_could_not_be_read_before_the_cordon_asks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pod on the node that could not be read before a drain's cordon may be covered by
    a budget that refuses its eviction: the check cannot tell, so it puts the drain to a
    person rather than pass it. Pods its plan saw, and the person approved over, do not."""
    r = runbook_rig(tmp_path)
    latency_anomaly(r, WEB, run=0)
    (approved,) = r.ledger.decisions(kind="remediation", status=["approved"])
    node = next(p.node for p in r.sim.list_pods() if p.owner == WEB)
    drain = Drain(ObjectRef("Node", node), max_evictions=10, timeout_seconds=600.0)
    record = dataclasses.replace(
        approved, proposal={**approved.proposal, "operations": [operation_to_dict(drain)]}
    )
    monkeypatch.setattr(r.sim, "read_disruption_budgets", DisruptionBudgets, raising=False)
    assert r.engine._budgets_block(record) is None
    bad = "Pod shop/web-x: status.containerStatuses[0].restartCount is -1"
    reporting(r, monkeypatch, pods_of={WEB: bad})
    blocked = r.engine._budgets_block(record)
    assert blocked is not None
    why, escalation = blocked
    assert why.startswith(f"the pods on {drain.target}, read again before the cordon: ")
    assert f"on node {node} could not be read" in why and bad in why
    assert "whether a PodDisruptionBudget covers it and would refuse its eviction" in why
    assert why.endswith("so the node was not cordoned")
    assert "Nothing was done, not even the cordon" in escalation
    # The same pods named in the plan's evidence: the person approved over them.
    snapshot = r.engine.snapshot()
    hidden = unread_pod_names(snapshot.unread_pods_on(node))
    assert hidden
    seen = dataclasses.replace(
        record, evidence={**record.evidence, "disruption_budgets": {"unreadPods": hidden}}
    )
    assert r.engine._budgets_block(seen) is None


def test_a_canary_that_cannot_be_read_is_left_to_the_superseded_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether an approved canary rollback's canary moved on is read from the cluster just
    before the first write; a canary there but unreadable raised BadObjectError out of
    that check. It is now left to the superseded check, which says it could not be read."""
    from dataclasses import replace

    r = runbook_rig(tmp_path)
    latency_anomaly(r, WEB, run=0)
    (record,) = r.ledger.decisions(kind="remediation", status=["approved"])
    verdict = replace(
        record,
        reason_code="canary:rollback",
        evidence={**record.evidence, "signal": {"kind": "canary", "name": "rollback"}},
    )
    bad = "Deployment shop/web: spec.replicas is -1, not a whole number that is not negative"

    def get_workload(ref: ObjectRef) -> Any:
        raise BadObjectError(bad)

    monkeypatch.setattr(r.sim, "get_workload", get_workload)
    assert r.engine._canary_moved_on(verdict, WEB) is None
    why = r.engine._gone_or_changed(verdict, WEB)
    assert why is not None and why.startswith(f"{WEB} could not be read: {bad}"), why
