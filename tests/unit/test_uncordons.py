"""Which of Autonomic's cordons someone else has undone (``agent.uncordons``), read
from its write-ahead intents alone."""

from __future__ import annotations

from typing import Any

from agent.ledger import Intent
from agent.uncordons import observation, observed_at, standing_cordon
from remediation.ports import NodeState, ObjectRef

NODE = ObjectRef("Node", "node-2")


def _node(*, unschedulable: bool = False, uid: str = "uid-1") -> NodeState:
    return NodeState(NODE, {}, True, unschedulable, {"Ready": "True"}, uid=uid)


def _intent(
    id: int,
    *,
    op: str = "cordon",
    status: str = "applied",
    unschedulable: bool = True,
    before: bool = False,
    changed: bool = True,
    uid: str = "uid-1",
    name: str = "node-2",
) -> Intent:
    operation: dict[str, Any] = {
        "op": op,
        "target": {"kind": "Node", "name": name, "namespace": None},
    }
    if op == "cordon":
        operation["unschedulable"] = unschedulable
    return Intent(
        id=id,
        execution_key=f"run-{id}",
        step=0,
        decision_id=f"d{id}",
        operation=operation,
        snapshot={"unschedulable": before, "uid": uid},
        status=status,
        result={"changed": changed},
        owner="autonomic",
        created_at=1000.0 + id,
        updated_at=1000.0 + id,
    )


def test_an_applied_cordon_or_drain_on_a_schedulable_node_stands_undone_by_others() -> None:
    cordon = _intent(1)
    assert standing_cordon([cordon], _node()) == cordon
    drain = _intent(2, op="drain")
    assert standing_cordon([cordon, drain], _node()) == drain
    # Still cordoned: nobody uncordoned it.
    assert standing_cordon([cordon], _node(unschedulable=True)) is None


def test_autonomic_s_own_uncordon_or_undo_is_not_someone_else_s() -> None:
    # A later step of Autonomic's own that uncordoned the node.
    assert standing_cordon([_intent(1), _intent(2, unschedulable=False)], _node()) is None
    for status in ("undone", "undoing", "pending", "failed", "abandoned", "dry_run"):
        assert standing_cordon([_intent(1, status=status)], _node()) is None, status


def test_a_cordon_that_cordoned_nothing_or_another_node_is_not_read() -> None:
    # Found cordoned already: someone else's cordon, not ours.
    assert standing_cordon([_intent(1, changed=False)], _node()) is None
    assert standing_cordon([_intent(1, before=True)], _node()) is None
    # Another node's intent, or a node created again under the name.
    assert standing_cordon([_intent(1, name="node-3")], _node()) is None
    assert standing_cordon([_intent(1)], _node(uid="uid-2")) is None


def test_an_observation_is_read_back_only_for_its_own_cordon() -> None:
    cordon = _intent(7)
    stored = observation(cordon, 5000.0)
    assert observed_at(stored, cordon) == 5000.0
    assert observed_at(stored, _intent(8)) is None  # a later cordon
    # The same id given again to a new intent after the old rows were pruned.
    reused = Intent(**{**cordon.__dict__, "created_at": 9000.0})
    assert observed_at(stored, reused) is None
    assert observed_at({}, cordon) is None
