"""The executor's write-ahead discipline, on the simulated cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.clock import FakeClock
from agent.errors import PermanentError, TransientError
from agent.executor import Executor
from agent.ledger import Ledger, open_ledger
from agent.sim.cluster import SimCluster, SimWorkload, Template
from remediation.ports import (
    Drain,
    ObjectRef,
    Operation,
    OperationResult,
    PatchResources,
    RollbackToPrevious,
    RolloutRestart,
    Scale,
)
from tests.harness.logs import json_lines

WEB = ObjectRef("Deployment", "web", "shop")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


def cluster(now: float = 1000.0) -> SimCluster:
    sim = SimCluster(["n1", "n2"], now)
    sim.add_workload(
        SimWorkload(WEB, 3, {1: Template("web:1", limits={"memory": "256Mi"})}, 1, 100.0, 60.0)
    )
    return sim


def test_apply_records_intent_then_result_and_event(ledger: Ledger) -> None:
    sim, clock = cluster(), FakeClock(1000)
    executor = Executor(ledger, sim, clock, owner="replica-a")
    outcome = executor.apply(
        "scale/web/1",
        0,
        Scale(WEB, 5),
        decision_id=None,
        runbook="scale-out",
        reason_code="SurgeNotForecast",
        message="load 40% above forecast",
    )
    assert outcome.status == "applied" and outcome.message == "replicas 3 -> 5"
    (intent,) = ledger.intents()
    assert intent.status == "applied" and intent.snapshot == {"replicas": 3}
    assert sim.workloads[WEB].replicas == 5
    assert sim.events[-1].reason == "SurgeNotForecast"
    assert ledger.count_actions(0, target=str(WEB)) == 1


def test_a_step_is_never_written_twice(ledger: Ledger) -> None:
    sim, clock = cluster(), FakeClock(1000)
    executor = Executor(ledger, sim, clock, owner="a")
    args = {"decision_id": None, "runbook": "r", "reason_code": "X", "message": "m"}
    assert executor.apply("k", 0, Scale(WEB, 5), **args).status == "applied"  # type: ignore[arg-type]
    again = executor.apply("k", 0, Scale(WEB, 7), **args)  # type: ignore[arg-type]
    assert again.status == "already_recorded"
    assert sim.workloads[WEB].replicas == 5 and len(sim.writes) == 1


def test_not_leader_writes_nothing(ledger: Ledger) -> None:
    sim = cluster()
    executor = Executor(ledger, sim, FakeClock(1000), owner="b", is_leader=lambda: False)
    outcome = executor.apply(
        "k", 0, Scale(WEB, 9), decision_id=None, runbook="r", reason_code="X", message="m"
    )
    assert outcome.status == "not_leader" and sim.writes == [] and ledger.intents() == []


def test_a_report_is_an_annotation_not_an_action(ledger: Ledger) -> None:
    """Publishing a recommendation writes annotations on the leader only, records no
    intent, and a refused key is logged and counted, never raised."""
    sim = cluster()
    leader = Executor(ledger, sim, FakeClock(1000), owner="a")
    assert leader.report(WEB, {"autonomic.dev/recommended-replicas": "5"})
    assert sim.workloads[WEB].annotations["autonomic.dev/recommended-replicas"] == "5"
    assert ledger.intents() == [] and sim.writes == []
    standby = Executor(ledger, sim, FakeClock(1000), owner="b", is_leader=lambda: False)
    assert not standby.report(WEB, {"autonomic.dev/recommended-replicas": "9"})
    assert sim.workloads[WEB].annotations["autonomic.dev/recommended-replicas"] == "5"
    assert not leader.report(WEB, {"app.kubernetes.io/name": "x"})
    assert "app.kubernetes.io/name" not in sim.workloads[WEB].annotations


def test_dry_run_records_but_changes_nothing(ledger: Ledger) -> None:
    sim = cluster()
    executor = Executor(ledger, sim, FakeClock(1000), owner="a")
    outcome = executor.apply(
        "k",
        0,
        Scale(WEB, 9),
        decision_id=None,
        runbook="r",
        reason_code="X",
        message="m",
        dry_run=True,
    )
    assert outcome.status == "dry_run" and sim.workloads[WEB].replicas == 3
    assert ledger.intents()[0].status == "dry_run" and ledger.count_actions(0) == 0


def test_undo_restores_the_snapshot(ledger: Ledger) -> None:
    sim = cluster()
    executor = Executor(ledger, sim, FakeClock(1000), owner="a")
    executor.apply(
        "k",
        0,
        PatchResources(WEB, "app", limits={"memory": "384Mi"}),
        decision_id=None,
        runbook="oom",
        reason_code="OOM",
        message="m",
    )
    assert sim.workloads[WEB].template.limits["memory"] == "384Mi"
    (intent,) = ledger.intents(status=["applied"])
    assert executor.undo(intent, reason_code="VerifyFailed", message="undo").status == "undone"
    assert sim.workloads[WEB].template.limits["memory"] == "256Mi"
    assert ledger.intents()[0].status == "undone"


def test_a_resources_patch_is_not_written_over_a_limit_changed_since_its_decision(
    ledger: Ledger,
) -> None:
    """As on a real cluster (the adapter refuses it): planned from 256Mi, the limit is
    now 1Gi (a person raised it), so setting 384Mi would lower it; it is refused."""
    sim = cluster()
    sim.workloads[WEB].template.limits["memory"] = "1Gi"
    executor = Executor(ledger, sim, FakeClock(1000), owner="a")
    outcome = executor.apply(
        "k",
        0,
        PatchResources(
            WEB, "app", limits={"memory": "384Mi"}, expected={"limits": {"memory": "256Mi"}}
        ),
        decision_id=None,
        runbook="oom",
        reason_code="OOM",
        message="m",
    )
    assert outcome.status == "failed" and "1Gi, not the 256Mi" in outcome.message
    assert sim.workloads[WEB].template.limits["memory"] == "1Gi"
    assert sim.writes == []


def test_a_restart_is_not_undone_on_the_simulated_cluster_either(ledger: Ledger) -> None:
    """As on a real cluster (the adapter refuses it): a restart's pods are gone, so its
    undo fails with the reason and writes nothing, rather than rolling a new revision."""
    sim = cluster()
    executor = Executor(ledger, sim, FakeClock(1000), owner="a")
    executor.apply(
        "k", 0, RolloutRestart(WEB), decision_id=None, runbook="r", reason_code="X", message="m"
    )
    revision, writes = sim.workloads[WEB].revision, len(sim.writes)
    (intent,) = ledger.intents(status=["applied"])
    outcome = executor.undo(intent, reason_code="VerifyFailed", message="undo")
    assert outcome.status == "failed" and "cannot be undone" in outcome.message
    assert sim.workloads[WEB].revision == revision and len(sim.writes) == writes


class CrashingWriter:
    """Writes (or not), then fails as a network timeout would."""

    def __init__(self, sim: SimCluster, *, write_first: bool) -> None:
        self.sim = sim
        self.write_first = write_first

    def snapshot(self, operation: Operation) -> dict[str, object]:
        return self.sim.snapshot(operation)

    def apply(self, operation: Operation, *, dry_run: bool = False) -> OperationResult:
        if self.write_first:
            self.sim.apply(operation)
        raise TransientError("timed out", reason="Timeout")

    def undo(self, operation: Operation, before: dict[str, object]) -> OperationResult:
        return self.sim.undo(operation, before)

    def post_event(self, *args: object, **kwargs: object) -> None:
        pass


@pytest.mark.parametrize(("write_first", "expected"), [(True, "applied"), (False, "failed")])
def test_a_timeout_is_settled_by_looking_not_guessing(
    ledger: Ledger, write_first: bool, expected: str
) -> None:
    sim = cluster()
    executor = Executor(
        ledger, CrashingWriter(sim, write_first=write_first), FakeClock(1), owner="a"
    )
    outcome = executor.apply(
        "k",
        0,
        RollbackToPrevious(WEB) if False else Scale(WEB, 6),
        decision_id=None,
        runbook="r",
        reason_code="X",
        message="m",
    )
    assert outcome.status == expected
    assert ledger.intents()[0].status == ("applied" if write_first else "abandoned")


class LeaseLostWriter(CrashingWriter):
    """Writes (or not), then the lease runs out and the retry is not sent: the adapter's
    fence (``KubeApi.may_write``) refuses it."""

    def __init__(self, sim: SimCluster, leading: list[bool], *, write_first: bool) -> None:
        super().__init__(sim, write_first=write_first)
        self.leading = leading

    def apply(self, operation: Operation, *, dry_run: bool = False) -> OperationResult:
        if self.write_first:
            self.sim.apply(operation)
        self.leading[0] = False
        raise TransientError("not sending the retry: the lease ran out", reason="NotLeader")

    def undo(self, operation: Operation, before: dict[str, object]) -> OperationResult:
        self.leading[0] = False
        raise TransientError("not sending the undo: the lease ran out", reason="NotLeader")


@pytest.mark.parametrize("write_first", [True, False])
def test_a_write_cut_off_by_the_lease_running_out_is_settled_by_the_next_leader(
    ledger: Ledger, write_first: bool
) -> None:
    """A write that fails once this replica's lease has run out is neither settled nor
    failed here (``unsettled``, its intent pending): an earlier try may have landed, and
    the run is the next leader's now.
    Before, the deposed replica read the target and settled the step itself: failed
    (abandoned) when nothing had landed, so its engine failed the decision and escalated
    it while another replica led."""
    sim = cluster()
    leading = [True]
    writer = LeaseLostWriter(sim, leading, write_first=write_first)
    executor = Executor(ledger, writer, FakeClock(1), owner="a", is_leader=lambda: leading[0])
    args = {"decision_id": None, "runbook": "r", "reason_code": "X", "message": "m"}
    outcome = executor.apply("k", 0, Scale(WEB, 6), **args)  # type: ignore[arg-type]
    assert outcome.status == "unsettled" and outcome.reason == "NotLeader"
    assert "lost the lease while writing" in outcome.message
    (intent,) = ledger.intents()
    assert intent.status == "pending" and outcome.intent_id == intent.id
    successor = Executor(ledger, sim, FakeClock(2), owner="b")
    assert [status for _, status in successor.reconcile()] == [
        "applied" if write_first else "abandoned"
    ]
    assert sim.workloads[WEB].replicas == (6 if write_first else 3)


def test_an_undo_cut_off_by_the_lease_running_out_stays_in_flight(ledger: Ledger) -> None:
    """The same for an undo: left ``undoing`` (not read back by the deposed replica),
    and the next leader's reconcile finds out whether it landed and finishes it."""
    sim = cluster()
    leading = [True]
    executor = Executor(ledger, sim, FakeClock(1), owner="a", is_leader=lambda: leading[0])
    args = {"decision_id": None, "runbook": "r", "reason_code": "X", "message": "m"}
    assert executor.apply("k", 0, Scale(WEB, 6), **args).status == "applied"  # type: ignore[arg-type]
    (intent,) = ledger.intents()
    executor.writer = LeaseLostWriter(sim, leading, write_first=False)
    outcome = executor.undo(intent, reason_code="VerifyFailed", message="undo")
    assert outcome.status == "unsettled" and "lost the lease while undoing" in outcome.message
    (intent,) = ledger.intents()
    assert intent.status == "undoing"
    successor = Executor(ledger, sim, FakeClock(2), owner="b")
    assert [status for _, status in successor.reconcile()] == ["undone"]
    assert sim.workloads[WEB].replicas == 3


def test_reconcile_settles_pending_intents_after_a_crash(ledger: Ledger) -> None:
    sim = cluster()
    # A crash between "intent recorded" and "result recorded": two intents left pending,
    # one whose write reached the cluster and one whose write did not.
    ledger.record_intent(
        "a",
        0,
        {
            "op": "scale",
            "target": {"kind": "Deployment", "name": "web", "namespace": "shop"},
            "replicas": 6,
        },
        {"replicas": 3},
        "old",
        1,
    )
    sim.apply(Scale(WEB, 6))
    executor = Executor(ledger, sim, FakeClock(2), owner="new")
    settled = dict((i.execution_key, s) for i, s in executor.reconcile())
    assert settled == {"a": "applied"}
    ledger.record_intent(
        "b",
        0,
        {
            "op": "scale",
            "target": {"kind": "Deployment", "name": "web", "namespace": "shop"},
            "replicas": 8,
        },
        {"replicas": 6},
        "old",
        3,
    )
    settled = dict((i.execution_key, s) for i, s in executor.reconcile())
    assert settled == {"b": "abandoned"}
    assert sim.workloads[WEB].replicas == 6  # nothing was written again


def test_an_undo_is_not_written_by_a_replica_that_lost_the_lease_meanwhile(
    ledger: Ledger,
) -> None:
    """The lease checked again after the undo's write-ahead record, as before a write:
    a replica that lost it in between writes nothing and leaves the step applied, for
    the next leader to undo."""
    sim = cluster()
    leading = [True]
    executor = Executor(ledger, sim, FakeClock(1000), owner="a", is_leader=lambda: leading[0])
    args = {"decision_id": None, "runbook": "r", "reason_code": "X", "message": "m"}
    assert executor.apply("k", 0, Scale(WEB, 5), **args).status == "applied"  # type: ignore[arg-type]
    (intent,) = ledger.intents()
    record = ledger.finish_intent

    def lease_lost_meanwhile(*a: object, **kw: object) -> bool:
        done = record(*a, **kw)  # type: ignore[arg-type]
        leading[0] = False
        return done

    ledger.finish_intent = lease_lost_meanwhile  # type: ignore[method-assign]
    outcome = executor.undo(intent, reason_code="VerifyFailed", message="undo")
    ledger.finish_intent = record  # type: ignore[method-assign]
    assert outcome.status == "not_leader"
    assert sim.workloads[WEB].replicas == 5 and len(sim.writes) == 1  # no undo written
    (intent,) = ledger.intents()
    assert intent.status == "applied"


def test_a_write_is_not_made_by_a_replica_that_lost_the_lease_after_its_intent(
    ledger: Ledger,
) -> None:
    """The lease is checked again once the write-ahead intent is recorded: a replica that
    lost it in between abandons the intent and writes nothing."""
    sim = cluster()
    leading = [True]
    executor = Executor(ledger, sim, FakeClock(1000), owner="a", is_leader=lambda: leading[0])
    record = ledger.record_intent

    def lease_lost_meanwhile(*a: object, **kw: object) -> int | None:
        intent_id = record(*a, **kw)  # type: ignore[arg-type]
        leading[0] = False
        return intent_id

    ledger.record_intent = lease_lost_meanwhile  # type: ignore[method-assign]
    args = {"decision_id": None, "runbook": "r", "reason_code": "X", "message": "m"}
    outcome = executor.apply("k", 0, Scale(WEB, 5), **args)  # type: ignore[arg-type]
    ledger.record_intent = record  # type: ignore[method-assign]
    assert outcome.status == "not_leader" and sim.writes == []
    (intent,) = ledger.intents()
    assert intent.status == "abandoned"


def test_the_lines_a_write_logs_carry_its_decision_id(ledger: Ledger) -> None:
    """Whoever calls the executor (a runbook, or the scaling loop, which sets no decision
    context of its own), the JSON lines of the write carry the decision's id."""
    executor = Executor(ledger, cluster(), FakeClock(1000), owner="replica-a")
    with json_lines() as lines:
        outcome = executor.apply(
            "scaling/web/d-7",
            0,
            Scale(WEB, 5),
            decision_id="d-7",
            runbook="predictive-scaling",
            reason_code="PredictiveScaleUp",
            message="replicas 3 -> 5",
        )
    assert outcome.status == "applied"
    assert [line["message"] for line in lines] == ["applied scale: replicas 3 -> 5"]
    assert lines[0].get("decision_id") == "d-7", lines[0]


def test_the_lines_reconciling_an_intent_carry_its_decision_id(ledger: Ledger) -> None:
    """A new leader settling the old one's pending intent logs it with the decision the
    intent belongs to (no loop has set a decision context then)."""
    sim = cluster()
    operation = {"op": "scale", "target": {"kind": "Deployment", "name": "web",
                 "namespace": "shop"}, "replicas": 6}  # fmt: skip
    ledger.record_intent("a", 0, operation, {"replicas": 3}, "old", 1, decision_id="d-9")
    sim.apply(Scale(WEB, 6))
    with json_lines() as lines:
        settled = Executor(ledger, sim, FakeClock(2), owner="new").reconcile()
    assert [status for _, status in settled] == ["applied"]
    reconciled = [line for line in lines if line["message"].startswith("reconciled intent")]
    assert reconciled and all(line.get("decision_id") == "d-9" for line in reconciled), lines


class DeposingWriter:
    """The simulated cluster, whose drain rounds end with this replica's lease run out
    (``leading``), as a round of slow evictions can outlast it."""

    def __init__(self, sim: SimCluster, leading: list[bool]) -> None:
        self.sim, self.leading = sim, leading
        self.depose = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.sim, name)

    def drain_round(self, *args: object, **kwargs: object) -> OperationResult:
        result = self.sim.drain_round(*args, **kwargs)  # type: ignore[arg-type]
        if self.depose:
            self.leading[0] = False
        return result


def test_a_replica_deposed_during_a_drain_round_stores_no_progress_or_outcome(
    ledger: Ledger,
) -> None:
    """A round that ends after the lease ran out stores nothing: its progress could
    overwrite the next leader's newer progress on the same intent, and at the timeout
    it would finish the intent (and post the Event) while the next leader drains.
    Before, both were written. The next leader goes on from the progress last stored
    (pods evicted meanwhile are found gone and counted as evicted)."""
    sim, clock, leading = cluster(), FakeClock(1000), [True]
    sim.workloads[WEB].pdb_min_available = 3  # every eviction refused: the drain waits
    node = ObjectRef("Node", next(iter(sim.pods.values())).node)
    writer = DeposingWriter(sim, leading)
    executor = Executor(ledger, writer, clock, owner="a", is_leader=lambda: leading[0])
    args = {"decision_id": None, "runbook": "r", "reason_code": "X", "message": "m"}
    drain = Drain(node, timeout_seconds=600)
    assert executor.apply("k", 0, drain, **args).status == "draining"  # type: ignore[arg-type]
    (stored,) = ledger.intents()
    assert stored.status == "pending" and stored.result["rounds"] == 1
    events = len(sim.events)
    writer.depose = True
    for later in (10, 700):  # a round mid-drain, and one past its timeout
        clock.set(1000 + later)
        leading[0] = True
        assert executor.settle(ledger.intents()[0], note="") == "pending"
        assert not leading[0]  # the round ran, and the lease ran out during it
        (intent,) = ledger.intents()
        assert (intent.status, intent.result, intent.updated_at) == (
            "pending",
            stored.result,
            stored.updated_at,
        )
    assert len(sim.events) == events  # no Event about a drain it no longer runs
    successor = Executor(ledger, sim, clock, owner="b")
    assert successor.settle(ledger.intents()[0], note="") == "applied"  # at its timeout


class UnreadableWriter(CrashingWriter):
    """The target cannot be read: a failure that may pass, or one that will not."""

    def __init__(self, sim: SimCluster, error: Exception) -> None:
        super().__init__(sim, write_first=False)
        self.error = error

    def snapshot(self, operation: Operation) -> dict[str, object]:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (TransientError("controller behind its spec", reason="RolloutNotObserved"), "unread"),
        (TransientError("the API server did not answer", reason="ApiUnavailable"), "unread"),
        (PermanentError("deployments.apps web not found", reason="NotFound"), "failed"),
    ],
)
def test_a_target_unread_before_writing_writes_and_records_nothing(
    ledger: Ledger, error: Exception, status: str
) -> None:
    """A read before the write that may pass is ``unread`` (the caller may try the step
    again later), one that will not is ``failed``; neither records an intent."""
    sim = cluster()
    executor = Executor(ledger, UnreadableWriter(sim, error), FakeClock(1), owner="a")
    outcome = executor.apply(
        "k", 0, Scale(WEB, 6), decision_id=None, runbook="r", reason_code="X", message="m"
    )
    assert outcome.status == status
    assert outcome.message == f"could not read {WEB} before writing: {error}"
    assert ledger.intents() == [] and sim.workloads[WEB].replicas == 3


def test_a_shutdown_during_a_drain_round_evicts_no_further_pod(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM while a drain's round is evicting: the eviction under way finishes, no
    further pod is evicted (each is asked about before its eviction), the round's
    progress is stored with the pods left waiting, no further round runs while shutting
    down, and the next leader evicts the rest."""
    sim, clock, stopping = cluster(), FakeClock(1000), [False]
    by_node: dict[str, list[str]] = {}
    for name, pod in sim.pods.items():
        by_node.setdefault(pod.node, []).append(name)
    node_name, pods = max(by_node.items(), key=lambda item: len(item[1]))
    assert len(pods) >= 2
    evict = sim._evict
    evicted: list[str] = []

    def sigterm_after_the_first(name: str) -> None:
        evict(name)
        evicted.append(name)
        stopping[0] = True

    monkeypatch.setattr(sim, "_evict", sigterm_after_the_first)
    executor = Executor(ledger, sim, clock, owner="a", stopping=lambda: stopping[0])
    args = {"decision_id": None, "runbook": "r", "reason_code": "X", "message": "m"}
    drain = Drain(ObjectRef("Node", node_name), timeout_seconds=600)
    assert executor.apply("k", 0, drain, **args).status == "draining"  # type: ignore[arg-type]
    assert len(evicted) == 1
    (intent,) = ledger.intents()
    assert intent.status == "pending" and len(intent.result["drain"]["waiting"]) == len(pods) - 1
    # Said as what it is, not as the disruption budget's (it said that before).
    assert "this replica is shutting down" in str(intent.result)
    assert "maxPodsDisruptedPerHour" not in str(intent.result)
    clock.set(1010)
    assert executor.settle(intent, note="") == "pending"  # no round while shutting down
    assert len(evicted) == 1
    assert executor.apply("k2", 0, Scale(WEB, 5), **args).status == "stopping"  # type: ignore[arg-type]
    assert ledger.intents(execution_key="k2") == []  # nothing written, no intent
    successor = Executor(ledger, sim, clock, owner="b")
    assert successor.settle(ledger.intents()[0], note="") == "applied"
    assert sorted(evicted) == sorted(pods)
