"""A drain under way stops between rounds while Autonomic is paused (`autonomic pause`),
over the real adapter and the fake API server: no eviction, not even one its budget
now allows, until the pause ends; then it goes on and evicts each pod once."""

from __future__ import annotations

from collections import Counter

from agent.pause import pause, resume
from tests.integration.remediation.rig import KubeRig
from tests.integration.remediation.test_async_drain import (
    _blocked_drain,
    _drain_intent,
    _evictions,
    _on_node,
    _refused,
    _relax_budget,
)


def test_a_paused_drain_runs_no_round_until_resumed(rig: KubeRig) -> None:
    _blocked_drain(rig)
    on_node = _on_node(rig)
    rounds = _drain_intent(rig).result["rounds"]  # type: ignore[index]
    refused = _refused(rig)
    pause(rig.ledger, by="alice", reason="the drain is wrong", now=rig.clock.now())
    _relax_budget(rig)  # the budget would now let both pods go
    rig.run(3 * 60)
    intent = _drain_intent(rig)
    assert intent.status == "pending" and intent.result is not None
    assert intent.result["rounds"] == rounds  # no round while paused
    assert _refused(rig) == refused and _evictions(rig) == Counter()
    assert _on_node(rig) == on_node
    resume(rig.ledger, by="alice", now=rig.clock.now())
    rig.run(60)
    assert _drain_intent(rig).status == "applied"
    assert _evictions(rig) == Counter(on_node)  # each pod once
