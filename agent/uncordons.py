"""Nodes Autonomic cordoned that someone else has uncordoned since.

A real API server records no field manager and no time for a write that only removes a
field (structured-merge-diff), and ``kubectl uncordon`` only removes
``spec.unschedulable``: a person's uncordon leaves nothing in ``managedFields``, where
the ``HumanRecentlyChanged`` guard reads who changed a node. Autonomic's own record
tells it instead: a node it cordoned (a ``cordon`` or a ``drain`` step, applied, that
found the node schedulable and wrote), which it has not uncordoned itself (the step not
undone, no later step of its own uncordoning the node) and which is the same node (its
uid), but which is schedulable now, was uncordoned by someone else. When is not known;
the earliest time Autonomic saw it schedulable stands for it, kept in the ledger
(``OBSERVED_PREFIX`` + the node's name, in ``guard_state``) so that a restart or a new
leader says the same time.

Who uncordoned it is not known either: a controller the config counts as the cluster's
own (``cluster.ignoreFieldManagers``, a cluster autoscaler) uncordons the same way, and
is taken for someone else too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agent.ledger import UNCORDONED_PREFIX, Intent
from remediation.ports import NodeState, ObjectRef

__all__ = ["OBSERVED_PREFIX", "observation", "observed_at", "standing_cordon"]

OBSERVED_PREFIX = UNCORDONED_PREFIX  # pruned by ``Ledger.prune`` (its ``guards_before``)


def _on(intent: Intent, ref: ObjectRef) -> bool:
    target = intent.operation.get("target") or {}
    return (
        intent.operation.get("op") in ("cordon", "drain")
        and target.get("kind") == ref.kind
        and target.get("name") == ref.name
    )


def standing_cordon(intents: Sequence[Intent], node: NodeState) -> Intent | None:
    """The step of Autonomic's in ``intents`` that cordoned ``node`` and that someone
    else has undone since, the node being schedulable now; None when there is none.

    Read from Autonomic's last step that wrote the node's schedulability (a ``cordon``
    either way, or a ``drain``): it must be a cordon or a drain, applied (not undone by
    Autonomic, nor being undone, nor a dry run), that changed the node (it was
    schedulable when read before the write), on the node that is there now (the same
    uid: a node created again under the name is another node, never cordoned by us)."""
    if node.unschedulable:
        return None
    ours = [i for i in intents if _on(i, node.ref)]
    if not ours:
        return None
    last = max(ours, key=lambda i: i.id)
    if last.status != "applied":
        return None  # undone (or being undone) by Autonomic, never written, a dry run
    if last.operation.get("op") == "cordon" and last.operation.get("unschedulable") is False:
        return None  # a step of Autonomic's own that uncordoned it
    if (last.result or {}).get("changed") is False:
        return None  # it found the node cordoned already: someone else's cordon
    if last.snapshot.get("unschedulable") is not False:
        return None  # cordoned before the write (or not read so): nothing of ours
    uid = last.snapshot.get("uid")
    if uid and node.uid and uid != node.uid:
        return None
    return last


def observation(cordon: Intent, at: float) -> dict[str, Any]:
    """The ledger's record that ``cordon``'s node was first seen schedulable at ``at``."""
    return {"intent": cordon.id, "cordoned_at": cordon.created_at, "at": at}


def observed_at(stored: Mapping[str, Any], cordon: Intent) -> float | None:
    """When ``stored`` (an ``observation``) says the node of ``cordon`` was first seen
    uncordoned; None when it is about another cordon (an earlier one, or one whose
    intent id was given again after the old rows were pruned)."""
    if stored.get("intent") != cordon.id or stored.get("cordoned_at") != cordon.created_at:
        return None
    at = stored.get("at")
    return float(at) if isinstance(at, (int, float)) else None
