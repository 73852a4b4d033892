"""An error between taking an approved run (its execution claimed ``running``, its
decision ``executing``) and its first step's write-ahead intent, here a ledger write that
fails once: the next cycle goes on with the run from its first step
(``settle_unsettled``), not the next leadership term; a run whose intent was written is
carried on from the intent. No step is written twice, and the guards count it once."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import TransientError
from remediation.windows import to_utc_text
from tests.unit.engine.harness import WEB, Rig, fail_intents, latency_anomaly, runbook_rig


def _approved(r: Rig) -> str:
    """A latency anomaly on web, decided: the decision approved, not run yet."""
    latency_anomaly(r, WEB, run=0)
    (record,) = r.ledger.decisions(kind="remediation", status=["approved"])
    return record.id


def test_a_ledger_error_before_the_first_intent_leaves_the_run_for_the_next_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    decision = _approved(r)
    failed = fail_intents(r, monkeypatch, committed=False)
    r.clock.advance(30)
    with pytest.raises(TransientError):
        r.engine.cycle()
    assert [step for _, step in failed] == [0]
    (key,) = [k for k, _ in failed]
    assert r.ledger.intents(execution_key=key) == []
    assert r.sim.workloads[WEB].replicas == 3  # nothing written

    r.run(60)  # the next cycles go on with it, each step once
    intents = r.ledger.intents(execution_key=key)
    assert [(i.step, i.status) for i in intents] == [(0, "applied"), (1, "applied")]
    assert r.sim.workloads[WEB].replicas == 4  # one replica added, once
    record = r.ledger.get_decision(decision)
    assert record is not None and record.status == "verifying"
    state, _ = r.engine.guard_state()
    assert len(state.actions) == 1 and len(state.in_flight) == 1  # counted once


def test_a_run_whose_first_intent_was_written_goes_on_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The intent's commit hidden by the error: the run stays taken, and the intent,
    settled from the cluster, says what happened; nothing is claimed or written twice."""
    r = runbook_rig(tmp_path)
    decision = _approved(r)
    failed = fail_intents(r, monkeypatch, committed=True)
    r.clock.advance(30)
    with pytest.raises(TransientError):
        r.engine.cycle()
    (key,) = [k for k, _ in failed]
    execution = r.ledger.execution(key)
    assert execution is not None and execution["status"] == "running"
    record = r.ledger.get_decision(decision)
    assert record is not None and record.status == "executing"
    assert [(i.step, i.status) for i in r.ledger.intents(execution_key=key)] == [(0, "pending")]
    state, _ = r.engine.guard_state()
    assert len(state.in_flight) == 1  # still taken: no other run acts on web meanwhile
    r.run(60)
    steps = [i.step for i in r.ledger.intents(execution_key=key)]
    assert steps.count(0) == 1
    assert r.sim.workloads[WEB].replicas <= 4


def test_a_run_whose_first_intent_waited_longer_than_approved_max_wait_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger could not record the first intent for longer than
    ``safety.approvedMaxWait`` (1 h here): the plan no longer describes the cluster, so
    once the ledger answers the run is closed ``expired``, not executed (nothing was
    written, nothing undone), and handed to a person. It used to be closed ``failed``
    with an inconclusive verification, counted a failed decision: it was never run, so
    nothing was verified, and nothing is counted right or wrong."""
    r = runbook_rig(tmp_path)
    decision = _approved(r)
    down = [True]
    failed = fail_intents(r, monkeypatch, when=lambda key, step: bool(down), times=None)
    for _ in range(121):  # claimed at the first cycle, tried again for an hour
        r.clock.advance(30)
        with pytest.raises(TransientError):
            r.engine.cycle()
    tried = [key for key, _ in failed]
    assert len(set(tried)) == 1 and len(tried) == 121  # one run, tried every cycle
    (key,) = set(tried)
    down.clear()

    r.run(120)  # the ledger answers again
    assert r.ledger.intents(execution_key=key) == []  # its plan was not written late
    assert r.sim.workloads[WEB].replicas == 3
    execution = r.ledger.execution(key)
    assert execution is not None and execution["status"] == "expired"
    record = r.ledger.get_decision(decision)
    assert record is not None and record.status == "expired"
    feedback = r.ledger.feedback_for(decision)
    assert [f["kind"] for f in feedback if f["kind"] in ("verification", "execution")] == [
        "execution"
    ]  # not a verification
    (closed,) = [f for f in feedback if f["kind"] == "execution"]
    assert closed["outcome"] == "expired"  # neither right nor wrong
    why = closed["detail"]["why"]
    # when it was taken up, as a time: "taken up 1h30s ago" read a day later misleads
    claimed = r.ledger.execution(key)
    assert claimed is not None
    assert why == (
        "not executed (held back past approvedMaxWait): taken up at "
        f"{to_utc_text(float(claimed['created_at']))} and waited 1h30s, but the ledger "
        "could not record its first write-ahead intent until now, longer than "
        "safety.approvedMaxWait (1h); its plan no longer describes the cluster, so a person "
        "decides again; nothing was written to the cluster"
    )
    (escalated,) = [f for f in feedback if f["kind"] == "escalation"]
    assert escalated["detail"]["why"] == why
    assert r.ledger.outcomes(record.decision_type) == []  # the track record learns nothing
    counted = r.decisions.metrics.decisions.labels(
        kind="remediation", decision_type=record.decision_type, route="auto", outcome="failed"
    )
    assert counted._value.get() == 0  # not a failed decision
    state, _ = r.engine.guard_state()
    assert state.in_flight == ()  # web is no longer taken


def test_a_restart_long_after_a_run_was_taken_up_unwritten_closes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same rule for the recovery after a restart (or at a new leader): a run taken up
    two hours ago with no intent recorded is closed and handed to a person, not written
    from its first step; the recovery counts it expired (not failed: it never ran)."""
    r = runbook_rig(tmp_path)
    decision = _approved(r)
    failed = fail_intents(r, monkeypatch, committed=False)
    r.clock.advance(30)
    with pytest.raises(TransientError):
        r.engine.cycle()
    (key,) = [k for k, _ in failed]
    r.clock.advance(2 * 3600)  # the process died; the next one starts two hours later
    counts = r.engine.recover()
    assert (counts["expired"], counts["failed"]) == (1, 0)
    assert r.ledger.intents(execution_key=key) == []
    assert r.sim.workloads[WEB].replicas == 3
    record = r.ledger.get_decision(decision)
    assert record is not None and record.status == "expired"
    (closed,) = [f for f in r.ledger.feedback_for(decision) if f["kind"] == "execution"]
    assert closed["outcome"] == "expired"
    assert "a restart came before its first write-ahead intent" in closed["detail"]["why"]
    assert not [f for f in r.ledger.feedback_for(decision) if f["kind"] == "verification"]


def test_a_run_a_deposed_leader_took_up_before_its_first_intent_is_carried_on(
    tmp_path: Path,
) -> None:
    """A leader's cycle claims a run, and before the first step's intent its lease is
    gone (``not_leader``): the run is left ``running`` with no intent, owned by that
    replica. The new leader's recovery may have come before that claim, so the new
    leader's cycles go on with it once it is ``foreign_mark_after`` old, instead of the
    run holding its target until the next change of leader."""
    r = runbook_rig(tmp_path)
    decision = _approved(r)
    executor = r.engine.executor
    own, leads = executor.owner, executor.is_leader
    executor.owner, executor.is_leader = "autonomic-old", lambda: False  # type: ignore[method-assign]
    r.clock.advance(30)
    r.engine.cycle()  # the old leader's last cycle, its lease lost under it
    (execution,) = r.ledger.executions(["running"])
    key = execution["key"]
    assert execution["owner"] == "autonomic-old" and r.ledger.intents(execution_key=key) == []

    executor.owner, executor.is_leader = own, leads  # type: ignore[method-assign]
    r.run(60)  # younger than foreign_mark_after (2 min): left to the replica that claimed it
    assert r.ledger.intents(execution_key=key) == []
    r.run(120)  # the new leader's cycles
    intents = r.ledger.intents(execution_key=key)
    assert [(i.step, i.status) for i in intents] == [(0, "applied"), (1, "applied")]
    assert r.sim.workloads[WEB].replicas == 4  # one replica added, once
    record = r.ledger.get_decision(decision)
    assert record is not None and record.status == "verifying"
    state, _ = r.engine.guard_state()
    assert len(state.actions) == 1 and len(state.in_flight) == 1  # counted once


def test_a_ledger_error_between_two_steps_leaves_the_run_for_the_next_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first step written and recorded ``applied``, the ledger fails as the second
    step's intent is recorded (nothing of it written): the next cycles go on with the
    second step, once, as they do with a run whose first intent failed. Before, a run
    with an intent, none pending, was left ``running`` (its decision executing and its
    target taken) until the next restart or change of leader."""
    r = runbook_rig(tmp_path)
    decision = _approved(r)
    failed = fail_intents(r, monkeypatch, when=lambda key, step: step == 1)
    r.clock.advance(30)
    with pytest.raises(TransientError):
        r.engine.cycle()
    (key,) = [k for k, _ in failed]
    assert [(i.step, i.status) for i in r.ledger.intents(execution_key=key)] == [(0, "applied")]

    r.run(60)
    intents = r.ledger.intents(execution_key=key)
    assert [(i.step, i.status) for i in intents] == [(0, "applied"), (1, "applied")]
    assert r.sim.workloads[WEB].replicas == 4  # the first step written once
    record = r.ledger.get_decision(decision)
    assert record is not None and record.status == "verifying"
