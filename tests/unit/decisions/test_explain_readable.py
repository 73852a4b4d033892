"""`autonomic explain` shows what was proposed as a person reads it (`--json` has it whole)."""

from __future__ import annotations

from agent.cli.explain_cmd import _proposal_lines, _ref

DEPLOYMENT = {"kind": "Deployment", "name": "checkout", "namespace": "shop"}


def test_a_runbook_plan_reads_as_its_changes_then_how_it_runs_and_is_verified() -> None:
    plan = {
        "diff": [
            "Deployment shop/checkout: rollout restart",
            "Deployment shop/checkout: replicas 3 -> 5 (x1.5, max 20)",
        ],
        "mode": "enforce",
        "notifications": [],
        "operations": [{"op": "restart", "target": DEPLOYMENT}],
        "runbook": "error-rate",
        "target": DEPLOYMENT,
        "undo_on_failure": True,
        "verification": {
            "checks": [
                {"condition_name": "deploymentAvailable", "kind": "kubernetes", "query": None},
                {"condition_name": None, "kind": "prometheus", "query": "error_ratio < 0.01"},
            ],
            "passes_required": 2,
            "settle": 120.0,
            "window": 600.0,
        },
    }
    assert _proposal_lines(plan) == [
        "  proposed Deployment shop/checkout: rollout restart",
        "           Deployment shop/checkout: replicas 3 -> 5 (x1.5, max 20)",
        "           (mode enforce; undone if verification fails; verified by "
        "deploymentAvailable, error_ratio < 0.01: 2 passing rounds in a row, from 120 s to "
        "600 s after)",
    ]


def test_other_proposals_read_as_their_operation_and_values() -> None:
    floor = {"from": 2, "mode": "predictive", "op": "set_hpa_min_replicas", "to": 16}
    assert _proposal_lines(floor) == [
        "  proposed set_hpa_min_replicas: from 2, mode predictive, to 16"
    ]
    verdict = {"baseline": DEPLOYMENT, "images": ["shop/search:4"], "verdict": "promote"}
    assert _proposal_lines(verdict) == [
        '  proposed baseline Deployment/shop/checkout, images ["shop/search:4"], verdict promote'
    ]


def test_object_references_read_as_kind_namespace_name() -> None:
    assert _ref(DEPLOYMENT) == "Deployment/shop/checkout"
    assert _ref({"kind": "Node", "name": "node-c", "namespace": None}) == "Node/node-c"
    assert _ref("?") == "?"
