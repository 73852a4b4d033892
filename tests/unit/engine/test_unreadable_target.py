"""A target that exists but could not be read is not a target deleted: the engine's
snapshot holds what a listing left out as unread, and an approved run whose target
cannot be read is closed before any write with that reason, not "it was deleted"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.adapters.kube_errors import BadObjectError
from remediation.ports import NodeState, ObjectRef, UnreadObject, UnreadReporter
from tests.unit.engine.harness import WEB, Rig, latency_anomaly, runbook_rig, status_of

NODE = ObjectRef("Node", "node-9")
WHY = "Node node-9: metadata.labels is ['a'], not a map of strings"


def _reporting(r: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulated cluster as the Kubernetes adapter reads one whose node-9 cannot be
    read: left out of list_nodes, and named in ``unread`` when asked."""
    sim: Any = r.sim
    nodes, pods, workloads = sim.list_nodes, sim.list_pods, sim.list_workloads

    def list_nodes(*, unread: list[UnreadObject] | None = None) -> list[NodeState]:
        if unread is not None:
            unread.append(UnreadObject(NODE, WHY))
        return [n for n in nodes() if n.ref != NODE]

    monkeypatch.setattr(sim, "objects_skipped", 1, raising=False)
    monkeypatch.setattr(sim, "list_nodes", list_nodes)

    def without_unread(read: Any) -> Any:
        def listing(*args: Any, unread: list[UnreadObject] | None = None, **kw: Any) -> Any:
            return read(*args, **kw)

        return listing

    monkeypatch.setattr(sim, "list_pods", without_unread(pods))
    monkeypatch.setattr(sim, "list_workloads", without_unread(workloads))
    monkeypatch.setattr(sim, "list_volume_claims", without_unread(list), raising=False)
    assert isinstance(sim, UnreadReporter)


def test_the_snapshot_holds_what_a_listing_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    _reporting(r, monkeypatch)
    snapshot = r.engine.snapshot()
    assert snapshot.node(NODE.name) is None
    assert snapshot.unread_why(NODE) == WHY


def test_an_unreadable_node_target_is_not_said_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    latency_anomaly(r, WEB, run=0)
    (record,) = r.ledger.decisions(kind="remediation", status=["approved"])
    _reporting(r, monkeypatch)
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
    sim: Any = r.sim
    pods, workloads, nodes = sim.list_pods, sim.list_workloads, sim.list_nodes
    bad = "Pod shop/web-x: status.containerStatuses[0].restartCount is -1"

    def list_pods(*args: Any, unread: list[UnreadObject] | None = None, **kw: Any) -> Any:
        listed = pods(*args, **kw)
        mine = [p for p in listed if p.owner == WEB]
        if unread is not None:
            unread.extend(UnreadObject(p.ref, bad, node=p.node, owner=WEB) for p in mine)
        return [p for p in listed if p.owner != WEB]

    def passing(read: Any) -> Any:
        def listing(*args: Any, unread: list[UnreadObject] | None = None, **kw: Any) -> Any:
            return read(*args, **kw)

        return listing

    monkeypatch.setattr(sim, "objects_skipped", 3, raising=False)
    monkeypatch.setattr(sim, "list_pods", list_pods)
    monkeypatch.setattr(sim, "list_workloads", passing(workloads))
    monkeypatch.setattr(sim, "list_nodes", passing(nodes))
    monkeypatch.setattr(sim, "list_volume_claims", passing(lambda: []), raising=False)
    r.run(600)
    assert status_of(r, record.id) in ("undone", "failed")
    (row,) = [f for f in r.ledger.feedback_for(record.id) if f["kind"] == "verification"]
    assert str(row["detail"]["why"]).startswith("ObjectUnread"), row
    assert row["outcome"] == "inconclusive", row
