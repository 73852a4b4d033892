"""`autonomic explain` shows what was proposed as a person reads it (`--json` has it whole)."""

from __future__ import annotations

from agent.cli.explain_cmd import _feedback_line, _proposal_lines, _ref

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


def test_an_outcome_says_why_in_full_after_its_undone_steps() -> None:
    """A failed verification's feedback lists the undone steps first: cut at 160
    characters, its `why` was lost after "VerificationFailed: not verified w"."""
    why = "VerificationFailed: not verified within the window: 3/4 replicas available"
    undone = [
        "Deployment/shop/api: undo: container api resources restored to requests={} "
        "limits={'memory': '256Mi'}"
    ]
    line = _feedback_line(
        {
            "created_at": 1795436943.0,
            "kind": "verification",
            "outcome": "wrong",
            "actor": "autonomic",
            "detail": {"undone": undone, "why": why, "undo_refused": None},
        }
    )
    first, second = line.split("\n")
    assert first.startswith("  2026-11-23 ") and "verification: wrong (autonomic)" in first
    assert '{"undone": ["Deployment/shop/api: undo: container api' in first
    assert "undo_refused" not in first
    assert second == f"    why: {why}"


def test_a_failed_runs_final_word_is_said_once_on_its_why_line() -> None:
    """A failed run's verdict keeps its final word (``said``: its why, then what became
    of what it wrote). Before, it was said twice: in the detail line, cut at 160
    characters, and (its why) on the why line."""
    why = "ApplyFailed: Deployment/shop/api: 409 Conflict: the object has been modified"
    said = f"{why}; nothing was written to the cluster"
    line = _feedback_line(
        {
            "created_at": 1795436943.0,
            "kind": "verification",
            "outcome": "inconclusive",
            "actor": "autonomic",
            "detail": {"why": why, "undone": [], "undo_refused": None, "said": said},
        }
    )
    first, second = line.split("\n")
    assert first.endswith('verification: inconclusive (autonomic) {"undone": []}')
    assert second == f"    why: {said}"
    assert line.count("409 Conflict") == 1
    # A hand-off whose why is the decision's reason: not repeated, what followed is.
    handed = _feedback_line(
        {
            "created_at": 1795436943.0,
            "kind": "verification",
            "outcome": "inconclusive",
            "actor": "autonomic",
            "detail": {"why": why, "said": said},
        },
        reason=why,
    )
    assert handed.endswith(
        "\n    why: the decision's reason, under why above; nothing was written to the cluster"
    )


def test_a_snooze_says_until_when_the_question_stays_open() -> None:
    """The snooze's end was an epoch number in the detail, cut off at 160 characters
    behind the click's id: explain says it as a UTC time."""
    line = _feedback_line(
        {
            "created_at": 1_795_000_000.0,
            "kind": "answer",
            "outcome": "snoozed",
            "actor": "U024BE7LH",
            "detail": {
                "question_id": "5f0c7e3a9b2d4c1e8a6f0b3d2c1e4f5a",
                "via": "slack",
                "reason": "snooze click U024BE7LH@1795000000.123456",
                "snooze_until": 1_795_003_600.0,
                "click_id": "U024BE7LH@1795000000.123456",
            },
        }
    )
    assert line.startswith(
        "  2026-11-18 11:06:40 UTC answer: snoozed (U024BE7LH), open until "
        "2026-11-18 12:06:40 UTC {"
    )
    assert "snooze_until" not in line


def test_a_plan_says_before_it_runs_what_its_undo_will_not_reverse() -> None:
    # Before, any plan whose runbook left onFailure.undo true read "undone if verification
    # fails", a restart's too: a person approving it was told it would be undone.
    def how(*ops: str) -> str:
        plan = {
            "diff": [f"Deployment shop/checkout: {op}" for op in ops],
            "operations": [{"op": op, "target": DEPLOYMENT} for op in ops],
            "undo_on_failure": True,
        }
        return _proposal_lines(plan)[-1].strip()

    assert how("scale") == "(undone if verification fails)"
    assert how("rollout_restart") == "(no undo (rollout_restart cannot be undone))"
    assert how("scale", "rollout_restart") == (
        "(undone if verification fails (rollout_restart cannot be undone))"
    )
    assert how("cordon", "drain") == (
        "(undone if verification fails (a drain is undone only by uncordoning the node))"
    )
