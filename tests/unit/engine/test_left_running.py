"""A run a deposed replica left ``running`` is taken up by the leader's next cycles.

A replica that loses its lease during a remediation cycle neither fails nor closes a run
(``_fail`` and ``_close_unstarted`` ask the lease first): the run is the new leader's.
But the new leader's recovery runs once, at the start of its term, and the two replicas
overlap for a moment: when that recovery came before the deposed replica's cycle left the
run, nothing looked at it again until the next change of leader, and its target stayed
taken meanwhile. Two engines share one ledger here, in that order: the new leader's
recovery first, then the deposed replica's cycle, then the new leader's cycles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.errors import PermanentError
from agent.remediation_engine import _in_flight
from remediation.ports import RolloutRestart, Scale
from tests.unit.engine.harness import WEB, Rig, runbook_rig, status_of
from tests.unit.engine.test_defer_unread import _approved, _escalations, _unreadable
from tests.unit.engine.test_deposed_mid_cycle import _new_leader
from tests.unit.engine.test_first_write_recheck import RUNBOOK_NAME


def _deposed(r: Rig) -> None:
    r.executor.is_leader = lambda: False


def _steps(r: Rig, key: str) -> list[tuple[int, str]]:
    return [(i.step, i.status) for i in r.ledger.intents(execution_key=key)]


def _taken(r: Rig) -> bool:
    state, _ = r.engine.guard_state()
    return _in_flight(state, RUNBOOK_NAME, WEB)


def _cycle(r: Rig, seconds: float = 30) -> None:
    r.clock.advance(seconds)
    r.sim.advance(r.clock.now(), {})
    r.engine.cycle()


@pytest.mark.parametrize("left", ["failed", "abandoned"])
def test_the_leader_fails_a_run_left_running_after_a_step_that_did_not_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, left: str
) -> None:
    """The deposed replica writes step 0 (a scale to 4); step 1 (a restart) is refused by
    the cluster (``failed``), or the lease is found gone after its intent (``abandoned``),
    and the replica, no longer leading, leaves the run ``running``. Before, the new
    leader's cycles passed over it (its intents all settled, and it was not cut off in
    that process): the scale stayed, nobody was told, and the target stayed taken until
    the next leader's recovery. Now the new leader's next cycle fails it: undone as
    onFailure.undo says, escalated once, the target freed."""
    r = runbook_rig(tmp_path)
    decision = _approved(r, "auto")
    told = _escalations(r, monkeypatch)
    new = _new_leader(r)
    assert new.engine.recover()["resumed"] == 0  # its term began: nothing running yet

    if left == "failed":
        real_apply = r.sim.apply

        def apply(operation: Any, *, dry_run: bool = False) -> Any:
            if isinstance(operation, RolloutRestart):
                _deposed(r)  # the lease ran out while the cluster refused the step
                raise PermanentError("admission webhook denied the restart", reason="Invalid")
            return real_apply(operation, dry_run=dry_run)

        monkeypatch.setattr(r.sim, "apply", apply)
    else:
        real_record = r.ledger.record_intent

        def record_intent(key: str, step: int, *args: Any, **kwargs: Any) -> int | None:
            intent = real_record(key, step, *args, **kwargs)
            if step == 1 and args[2] == r.executor.owner:
                _deposed(r)  # lost between the intent and the write
            return intent

        monkeypatch.setattr(r.ledger, "record_intent", record_intent)
    _cycle(r)  # the deposed replica's cycle, begun as it still led

    (execution,) = r.ledger.executions(["running"])
    key = str(execution["key"])
    assert _steps(r, key) == [(0, "applied"), (1, left)]
    assert r.sim.workloads[WEB].replicas == 4
    assert told == []
    assert _taken(new)

    _cycle(new)  # the new leader's next cycle (well within 2 minutes of the step)
    assert r.ledger.execution(key)["status"] == "escalated"  # type: ignore[index]
    assert status_of(r, decision) in ("failed", "undone")  # before: executing
    assert r.sim.workloads[WEB].replicas == 3  # before: 4, the scale left in place
    (text,) = told
    assert text.startswith("remediation failed:")
    assert "step 1 did not complete" in text and "undone" in text
    assert not _taken(new)  # before: taken until the next change of leader
    for _ in range(3):
        _cycle(new)
    assert len(told) == 1  # escalated once


def test_the_leader_carries_on_a_run_left_between_steps_once_it_has_not_moved_for_a_while(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deposed replica writes step 0 and finds the lease gone before step 1's
    intent: the run stays ``running`` with one step written, none pending, none failed.
    Another live process may be carrying such a run on, so the new leader leaves it for
    a while (a cycle 30 s later does nothing); once no step of it has moved for
    ``foreign_mark_after`` (2 minutes), the leader carries it on from step 1. Before, it
    stayed as it was until the next change of leader, its target taken."""
    r = runbook_rig(tmp_path)
    decision = _approved(r, "auto")
    told = _escalations(r, monkeypatch)
    new = _new_leader(r)
    new.engine.recover()
    real_apply = r.sim.apply

    def apply(operation: Any, *, dry_run: bool = False) -> Any:
        result = real_apply(operation, dry_run=dry_run)
        if isinstance(operation, Scale):
            _deposed(r)  # the lease ran out during step 0's write
        return result

    monkeypatch.setattr(r.sim, "apply", apply)
    _cycle(r)
    (execution,) = r.ledger.executions(["running"])
    key = str(execution["key"])
    assert _steps(r, key) == [(0, "applied")]
    written_at = r.clock.now()

    _cycle(new)  # 30 s on: may still be another process's; left to it
    assert _steps(r, key) == [(0, "applied")]
    assert r.ledger.execution(key)["status"] == "running"  # type: ignore[index]

    r.clock.advance(written_at + new.engine.foreign_mark_after - r.clock.now())
    _cycle(new, 0)  # 2 minutes without a move: carried on
    assert _steps(r, key) == [(0, "applied"), (1, "applied")]  # before: [(0, "applied")]
    assert r.ledger.execution(key)["status"] == "verifying"  # type: ignore[index]
    assert status_of(r, decision) == "verifying"
    assert told == []


def test_a_run_left_running_part_undone_is_failed_not_carried_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deposed replica's run waited for step 1's target past approvedMaxWait; failing
    it, the replica undid step 0 (the scale), then found its lease gone and left the run
    ``running`` with step 0 ``undone``. Carried on from its first step without an intent,
    step 1 (the restart) would have been written over the undone scale and the run
    verified; it is failed (not judged), and escalated once saying the scale was undone."""
    r = runbook_rig(tmp_path)
    decision = _approved(r, "auto")
    told = _escalations(r, monkeypatch)
    new = _new_leader(r)
    new.engine.recover()
    unread = ["KubeCacheStale"]
    _unreadable(r, monkeypatch, RolloutRestart, unread)
    _cycle(r)  # step 0 written, step 1 deferred
    (execution,) = r.ledger.executions(["running"])
    key = str(execution["key"])
    real_undo = r.sim.undo

    def undo(operation: Any, before: dict[str, Any]) -> Any:
        result = real_undo(operation, before)
        _deposed(r)  # the lease ran out during the undo
        return result

    monkeypatch.setattr(r.sim, "undo", undo)
    r.clock.advance(r.engine.limits.approved_max_wait)
    _cycle(r)  # the deposed replica fails the run: undoes step 0, then closes nothing
    assert _steps(r, key) == [(0, "undone")]
    assert r.ledger.execution(key)["status"] == "running"  # type: ignore[index]
    assert r.sim.workloads[WEB].replicas == 3
    assert told == []

    unread.clear()  # step 1's target reads again
    _cycle(new, new.engine.foreign_mark_after)
    assert _steps(r, key) == [(0, "undone")]  # before: step 1 written over the undo
    assert r.ledger.execution(key)["status"] == "escalated"  # type: ignore[index]
    assert status_of(r, decision) == "undone"  # before: verifying
    (text,) = told
    assert "step 0 undone" in text and "undone (step 0 undone earlier)" in text
    assert not _taken(new)
