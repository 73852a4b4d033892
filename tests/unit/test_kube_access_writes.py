"""``agent.kube_access.planned_writes``: the requests approving a decision makes, read
from the decision as recorded when it was asked (what each SubjectAccessReview asks)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.kube_access import PlannedWrite, UnknownWritesError, planned_writes
from agent.ledger import DecisionRecord


def _record(kind: str, proposal: dict[str, Any], **evidence: Any) -> DecisionRecord:
    return DecisionRecord(
        id="d1", kind=kind, decision_type="t", subject="Deployment/shop/web",
        proposal=proposal, confidence=0.9, reason_code="R", reason="r", evidence=evidence,
        model_version="m", route="ask", status="asked", incident_key=None,
        created_at=0.0, updated_at=0.0,
    )  # fmt: skip


def _op(op: str, kind: str, name: str, namespace: str | None = "shop") -> dict[str, Any]:
    return {"op": op, "target": {"kind": kind, "name": name, "namespace": namespace}}


def test_a_runbook_plans_writes_are_its_operations_requests() -> None:
    record = _record(
        "remediation",
        {
            "operations": [
                _op("set_hpa_min_replicas", "HorizontalPodAutoscaler", "web"),
                _op("evict_pod", "Pod", "web-1"),
                _op("drain", "Node", "n1", None),
                _op("expand_volume", "PersistentVolumeClaim", "data"),
            ]
        },
    )
    assert planned_writes(record) == [
        PlannedWrite("patch", "autoscaling", "horizontalpodautoscalers", "", "shop", "web"),
        PlannedWrite("create", "", "pods", "eviction", "shop", "web-1"),
        PlannedWrite("patch", "", "nodes", "", "", "n1"),
        # a drain's pods are chosen later, in any namespace: evictions anywhere
        PlannedWrite("create", "", "pods", "eviction", "", ""),
        PlannedWrite("patch", "", "persistentvolumeclaims", "", "shop", "data"),
    ]
    assert (
        PlannedWrite("patch", "", "nodes", "", "", "n1").said() == "patch nodes cluster-wide (n1)"
    )


def test_a_floors_write_is_its_workloads_scale_or_its_hpa() -> None:
    assert planned_writes(_record("scaling", {"op": "scale"})) == [
        PlannedWrite("patch", "apps", "deployments", "scale", "shop", "web")
    ]
    hpa = _record(
        "scaling", {"op": "set_hpa_min_replicas"}, hpa="HorizontalPodAutoscaler/shop/web-hpa"
    )
    assert planned_writes(hpa) == [
        PlannedWrite("patch", "autoscaling", "horizontalpodautoscalers", "", "shop", "web-hpa")
    ]


def test_writes_that_cannot_be_listed_are_refused_not_guessed() -> None:
    with pytest.raises(UnknownWritesError, match="without asking again"):
        planned_writes(_record("canary", {"verdict": "rollback"}, yes_acts=True))
    assert planned_writes(_record("canary", {"verdict": "rollback"}, yes_acts=False)) == []
    with pytest.raises(UnknownWritesError, match="'teleport'"):
        planned_writes(_record("remediation", {"operations": [_op("teleport", "Pod", "p")]}))
    with pytest.raises(UnknownWritesError, match="HorizontalPodAutoscaler"):
        planned_writes(_record("scaling", {"op": "set_hpa_min_replicas"}))
