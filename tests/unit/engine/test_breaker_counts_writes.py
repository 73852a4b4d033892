"""A runbook's circuit breaker counts the runs that wrote to the cluster and then failed
(verification, or a step after one written), and the runs whose plan the cluster refused
as wrong; not a run that ended with nothing written for a reason that says nothing about
its runbook: closed unstarted after ``approvedMaxWait``, or its first write kept from
the cluster by an API outage. Such a run, taken as a half-open trial, gives the trial
back instead of opening the breaker again."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agent.errors import TransientError
from agent.executor import StepOutcome
from remediation.guards import BreakerState
from tests.unit.engine.harness import Rig, runbook_rig, status_of
from tests.unit.engine.test_first_write_recheck import (
    RUNBOOK_NAME,
    _approved,
    _claimed_unwritten,
)


def _breaker(r: Rig) -> BreakerState:
    state, _ = r.engine.guard_state()
    return state.breakers.get(RUNBOOK_NAME, BreakerState())


def _set_breaker(r: Rig, breaker: BreakerState) -> None:
    r.engine._update_guards(lambda s: replace(s, breakers={RUNBOOK_NAME: breaker}))


def _step_fails(r: Rig, monkeypatch: pytest.MonkeyPatch, step: int, reason: str) -> None:
    """Step ``step`` of every run fails with ``reason``; the steps before it are written."""
    real = r.executor.apply

    def apply(key: str, at: int, *args: Any, **kwargs: Any) -> StepOutcome:
        if at == step:
            return StepOutcome("failed", f"refused: {reason}", reason=reason)
        return real(key, at, *args, **kwargs)

    monkeypatch.setattr(r.executor, "apply", apply)


def test_a_run_closed_unstarted_after_approved_max_wait_is_not_a_breaker_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    decision, key = _claimed_unwritten(r, monkeypatch)
    _set_breaker(r, BreakerState(consecutive_failures=2))  # one more failure opens it
    r.clock.advance(r.engine.limits.approved_max_wait + 60)
    r.engine.cycle()
    assert status_of(r, decision) == "expired"
    assert r.ledger.intents(execution_key=key) == []
    breaker = _breaker(r)
    assert breaker.consecutive_failures == 2 and breaker.opened_at is None
    state, _ = r.engine.guard_state()
    assert state.in_flight == ()  # web is free again
    assert not any(d.decision_type.startswith("held/") for d in r.ledger.decisions())


def test_a_first_write_the_api_did_not_take_is_not_a_breaker_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    real = r.sim.snapshot

    def snapshot(operation: Any) -> Any:
        raise TransientError(
            "the API server at https://k8s did not answer", reason="ApiUnavailable"
        )

    monkeypatch.setattr(r.sim, "snapshot", snapshot)
    decision = _approved(r)
    r.clock.advance(30)
    r.engine.cycle()  # deferred: tried again at the next cycles
    r.clock.advance(r.engine.limits.approved_max_wait + 60)
    r.engine.cycle()  # still unreadable, past approvedMaxWait: failed
    monkeypatch.setattr(r.sim, "snapshot", real)
    assert status_of(r, decision) == "failed"
    assert r.ledger.intents() == []
    assert _breaker(r).consecutive_failures == 0


def test_a_half_open_trial_that_wrote_nothing_gives_the_trial_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    opened = r.clock.now() - 2 * 3600  # openFor (1h) has passed: half-open
    _set_breaker(r, BreakerState(consecutive_failures=3, opened_at=opened))
    _step_fails(r, monkeypatch, 0, "Forbidden")
    decision = _approved(r)
    r.clock.advance(30)
    r.engine.cycle()
    assert status_of(r, decision) == "failed"
    # still half-open, its trial free for the next run: not opened again for an hour
    assert _breaker(r) == BreakerState(consecutive_failures=3, opened_at=opened)


@pytest.mark.parametrize(
    ("step", "reason", "why"),
    [
        (1, "ApiUnavailable", "step 0 written, then the API failed on step 1"),
        (0, "Invalid", "the cluster refused the plan as wrong, before any write"),
    ],
)
def test_a_run_that_wrote_or_whose_plan_was_refused_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: int, reason: str, why: str
) -> None:
    r = runbook_rig(tmp_path)
    _step_fails(r, monkeypatch, step, reason)
    decision = _approved(r)
    r.clock.advance(30)
    r.engine.cycle()
    assert status_of(r, decision) in ("failed", "undone"), why
    assert _breaker(r).consecutive_failures == 1, why


def test_a_crash_between_closing_a_run_held_past_approved_max_wait_and_its_escalation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escalation of a run closed ``expired`` is promised with its closing, in one
    write: a crash before it is sent leaves it to the recovery, which sends it once."""
    from tests.unit.engine.harness import restarted
    from tests.unit.engine.test_first_write_recheck import _Killed

    r = runbook_rig(tmp_path)
    decision, _ = _claimed_unwritten(r, monkeypatch)
    r.clock.advance(r.engine.limits.approved_max_wait + 60)

    def escalate(*_args: Any) -> str:
        raise _Killed

    monkeypatch.setattr(r.decisions.approvals, "escalate", escalate)
    with pytest.raises(_Killed):
        r.engine.cycle()
    monkeypatch.undo()
    assert status_of(r, decision) == "expired"
    assert [f for f in r.ledger.feedback_for(decision) if f["kind"] == "escalation"] == []
    r = restarted(r)
    assert r.engine.recover()["escalated"] == 1
    assert r.engine.recover()["escalated"] == 0
    (escalated,) = [f for f in r.ledger.feedback_for(decision) if f["kind"] == "escalation"]
    assert "approvedMaxWait" in escalated["detail"]["why"], escalated
