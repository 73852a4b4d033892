"""A replica that loses its lease in the middle of a remediation cycle closes no run.

The scheduler asks for the lease before a cycle starts, not during it, and the cluster
writes are fenced before every try; the ledger writes that close a run were not. Two
engines share one ledger here: the deposed one (its ``is_leader`` turns False during its
cycle) and the new leader, whose cycle runs at the moment the lease passes, between what
the deposed one read and what it writes. The run is the new leader's to close: the
deposed one leaves it as it is, and says nothing about it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agent.executor import Executor
from agent.remediation_engine import RemediationEngine
from remediation.ports import RolloutRestart, Scale
from tests.unit.engine.harness import WEB, Rig, runbook_rig, status_of
from tests.unit.engine.test_defer_unread import _approved, _escalations, _unreadable


def _new_leader(r: Rig) -> Rig:
    """Another replica on the same ledger and cluster, with its own executor, leading."""
    executor = Executor(r.ledger, r.sim, r.clock, owner="new-leader")
    engine = RemediationEngine(
        runbooks=list(r.engine.runbooks.values()),
        ledger=r.ledger,
        decisions=r.decisions,
        executor=executor,
        reader=r.sim,
        clock=r.clock,
        limits=r.engine.limits,
    )
    return Rig(r.clock, r.sim, r.ledger, r.decisions, engine, executor)


def _deposed_when_asked(r: Rig, meanwhile: Callable[[], None]) -> list[str]:
    """From now on ``r`` does not lead; the first time it asks, ``meanwhile`` runs first
    (the new leader's cycle, as the lease passes). Returns a list with one entry per ask."""
    asked: list[str] = []

    def is_leader() -> bool:
        if not asked:
            meanwhile()
        asked.append("asked")
        return False

    r.executor.is_leader = is_leader
    return asked


def test_a_deposed_replica_does_not_expire_a_run_the_new_leader_is_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run claimed with nothing written (its first target could not be read) nears
    safety.approvedMaxWait. The new leader goes on with it (its step 0 written, its step 1
    waiting for its target) while the deposed replica's cycle, slower, finds the run
    older than approvedMaxWait with no intent read: before, it closed the decision
    ``expired``, told a person nothing was written (step 0 was) and freed the target,
    and the new leader's step 1 was written into a closed run."""
    r = runbook_rig(tmp_path)
    decision = _approved(r, "auto")
    told = _escalations(r, monkeypatch)
    first = ["KubeCacheStale"]
    _unreadable(r, monkeypatch, Scale, first)
    r.run(60)  # claimed, deferred: nothing written
    (execution,) = r.ledger.executions(["running"])
    key = str(execution["key"])
    assert r.ledger.intents(execution_key=key) == []
    max_wait = r.engine.limits.approved_max_wait
    r.clock.advance(float(execution["created_at"]) + max_wait - 20 - r.clock.now())
    first.clear()  # step 0 reads again; step 1 does not yet
    second = ["KubeCacheStale"]
    _unreadable(r, monkeypatch, RolloutRestart, second)
    new = _new_leader(r)

    def takeover() -> None:
        new.engine.cycle()  # within approvedMaxWait: goes on, step 0 written
        r.clock.advance(40)  # the deposed cycle's reads took that long

    asked = _deposed_when_asked(r, takeover)
    r.engine.cycle()

    assert asked  # the lease was lost during the deposed replica's cycle
    intents = r.ledger.intents(execution_key=key)
    assert [(i.step, i.status) for i in intents] == [(0, "applied")]
    assert status_of(r, decision) == "executing"  # before: expired
    assert told == []  # before: "... nothing was written to the cluster"
    assert r.ledger.execution(key)["status"] == "running"  # type: ignore[index]

    second.clear()  # the new leader carries the run on and closes it itself
    for _ in range(2):
        r.clock.advance(30)
        r.sim.advance(r.clock.now(), {})
        new.engine.cycle()
    intents = r.ledger.intents(execution_key=key)
    assert [(i.step, i.status) for i in intents] == [(0, "applied"), (1, "applied")]
    assert r.sim.workloads[WEB].replicas == 4
    assert status_of(r, decision) in ("verifying", "verified")
    assert told == []


def test_a_deposed_replica_does_not_fail_a_run_it_can_no_longer_undo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's verification fails in a cycle of a replica whose lease ran out. Before,
    that replica closed the run ``failed`` (its undo refused: not the leader), told a
    person 'undo refused: this replica does not hold the lease', and the new leader,
    finding the run closed, never undid it: the step stayed against onFailure.undo. Now
    the deposed replica closes nothing, and the new leader fails the run, undoes what it
    can and escalates it, once."""
    r = runbook_rig(tmp_path)
    decision = _approved(r, "auto")
    told = _escalations(r, monkeypatch)
    r.run(60)
    assert status_of(r, decision) == "verifying"
    assert r.sim.workloads[WEB].replicas == 4
    r.sim.workloads[WEB].bad_images.add("shop/web:1")  # every pod crash-loops
    r.clock.advance(300)  # past the verification's window
    r.sim.advance(r.clock.now(), {})
    new = _new_leader(r)
    r.executor.is_leader = lambda: False  # lost after the cycle began
    r.engine.cycle()

    assert status_of(r, decision) == "verifying"  # before: failed
    assert told == []  # before: "... undo refused: this replica does not hold the lease"

    for _ in range(4):
        r.clock.advance(30)
        r.sim.advance(r.clock.now(), {})
        new.engine.cycle()
    # onFailure.undo: the scale undone by the new leader (a restart cannot be undone)
    assert status_of(r, decision) == "failed"
    assert r.sim.workloads[WEB].replicas == 3  # before: 4, left as it was
    (text,) = told
    assert text.startswith("remediation failed: VerificationFailed")
    assert "undone (undid scale)" in text and "does not hold the lease" not in text
