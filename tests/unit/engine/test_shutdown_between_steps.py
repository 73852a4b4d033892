"""A shutdown (SIGTERM) that comes while a multi-step run is being written: the step in
flight finishes, the next is not started, nothing is failed, undone or escalated, the run
is left ``running`` with its intents as the next leader picks it up, and the runtime
releases the lease only once the job has returned."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from agent.executor import StepOutcome
from agent.observability import Metrics
from agent.runtime import Runtime, ShutdownPlan
from tests.unit.engine.harness import WEB, Rig, latency_anomaly, restarted, runbook_rig


class Gate:
    """A lease this replica holds until ``stop`` releases it; what happened, in order."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    def is_leader(self) -> bool:
        return True

    def term(self) -> int:
        return 1

    def start(self) -> None:
        return None

    def stop(self) -> None:
        self.events.append("lease released")


def _left_running(r: Rig) -> tuple[str, str]:
    """The run the shutdown stopped, as the next leader finds it: (decision, key)."""
    (execution,) = r.ledger.executions(["running"])
    record = r.ledger.get_decision(execution["decision_id"])
    assert record is not None and record.status == "executing"
    intents = r.ledger.intents(execution_key=execution["key"])
    assert [(i.step, i.status) for i in intents] == [(0, "applied")]
    return record.id, str(execution["key"])


def test_a_shutdown_stops_a_run_between_steps_and_the_lease_goes_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    events: list[str] = []
    runtime = Runtime(
        [],
        metrics=Metrics(),
        gate=Gate(events),
        server=None,
        ready=lambda: (True, "ok"),
        plan=ShutdownPlan().scaled(5.0),
        stopping=threading.Event(),
    )
    r.executor.stopping = runtime.stopping.is_set  # as build_daemon shares it
    real = r.executor.apply
    stopper: list[threading.Thread] = []

    def apply(key: str, step: int, *args: Any, **kwargs: Any) -> StepOutcome:
        events.append(f"step {step} begins")
        outcome = real(key, step, *args, **kwargs)
        events.append(f"step {step}: {outcome.status}")
        return outcome

    write = r.sim.apply

    def sigterm_during_the_write(operation: Any, *, dry_run: bool = False) -> Any:
        if not stopper:  # SIGTERM while step 0 is being written, its intent recorded
            stopper.append(threading.Thread(target=runtime.stop))
            stopper[0].start()
            assert runtime.stopping.wait(5)
        return write(operation, dry_run=dry_run)

    monkeypatch.setattr(r.executor, "apply", apply)
    monkeypatch.setattr(r.sim, "apply", sigterm_during_the_write)
    # The remediation job, as the runtime runs it: the shutdown waits for it.
    job = _OneJob(lambda: latency_anomaly(r, WEB, run=60), events)
    runtime._scheduler = job
    job.start()
    assert runtime.stopping.wait(10)
    stopper[0].join(10)
    assert runtime.stopped.is_set()
    # step 0, under way when the signal came, finished; step 1 was never begun; the lease
    # went only after the job had returned
    assert events == ["step 0 begins", "step 0: applied", "job returned", "lease released"]
    decision, key = _left_running(r)
    assert r.sim.workloads[WEB].replicas == 4  # step 0 (scale) written, step 1 not
    # not a failure: nothing escalated, no outcome recorded, the breaker untouched
    said = [(f["kind"], f["outcome"]) for f in r.ledger.feedback_for(decision)]
    assert not [s for s in said if s[1] in ("failed", "undone", "escalated")], said
    state, _ = r.engine.guard_state()
    assert [f.runbook for f in state.in_flight] == ["latency-scale-restart"]  # still taken
    assert not any(b.failures for b in state.breakers.values())

    # The next leader (a new engine on the same ledger) goes on with step 1, only.
    monkeypatch.undo()
    r.executor.stopping = lambda: False
    nxt = restarted(r)
    assert nxt.engine.recover()["resumed"] == 1
    intents = r.ledger.intents(execution_key=key)
    assert [(i.step, i.status) for i in intents] == [(0, "applied"), (1, "applied")]
    record = r.ledger.get_decision(decision)
    assert record is not None and record.status == "verifying"


def test_no_new_run_starts_once_shutting_down(tmp_path: Path) -> None:
    """An approved decision met after the shutdown began is not claimed: it stays
    approved for the next leader, and nothing is written."""
    r = runbook_rig(tmp_path)
    stopping = threading.Event()
    r.executor.stopping = stopping.is_set
    stopping.set()
    latency_anomaly(r, WEB, run=60)
    assert r.ledger.executions(["running"]) == []
    (record,) = r.ledger.decisions(kind="remediation", status=["approved"], limit=10)
    assert r.sim.workloads[WEB].replicas == 3
    stopping.clear()
    r.run(30)
    assert r.ledger.get_decision(record.id) is not None
    (execution,) = r.ledger.executions(["verifying"])
    assert execution["decision_id"] == record.id


class _OneJob:
    """Stands in for the scheduler: runs ``fn`` once on a thread; ``shutdown(wait=True)``
    waits for it, as APScheduler's does for a running job."""

    def __init__(self, fn: Any, events: list[str]) -> None:
        self.fn, self.events = fn, events
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            self.fn()
        finally:
            self.events.append("job returned")

    def start(self) -> None:
        self.thread.start()

    def pause(self) -> None:
        return None

    def shutdown(self, wait: bool = True) -> None:
        if wait:
            self.thread.join()
