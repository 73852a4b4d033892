"""Fakes for the scaling loop's tests: a metrics reader over one load series, a cluster
listing fixed workloads, a decision service that asks about everything."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import numpy as np

from agent.adapters.prometheus import MetricSeries
from agent.clock import FakeClock
from agent.decisions import Proposal, Routed
from agent.executor import StepOutcome
from agent.ledger import Feedback
from agent.loops.scaling import HISTORY, STEP, ScalingLoop
from agent.observability import Metrics
from agent.routing import Route, Thresholds
from agent.settings import ScalingSettings
from forecasting.series import Series
from remediation.ports import (
    HpaState,
    ObjectRef,
    PodState,
    Scale,
    UnreadObject,
    WorkloadState,
)

END = 1_795_310_280.0


def week_and_a_day(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = END - STEP * np.arange(int(HISTORY // STEP) + 1)[::-1]
    values = 50 * (1 + 0.3 * np.sin(2 * np.pi * t / 86_400)) * rng.lognormal(0, 0.1, t.size)
    values[rng.random(t.size) < 0.01] = np.nan  # gaps stay gaps
    return t, values


class WeekReader:
    """A metrics reader over one load series, recording what each read asked for."""

    def __init__(self, t: np.ndarray, values: np.ndarray) -> None:
        self.t, self.values = t, values
        self.reads: list[tuple[float, float]] = []
        self.queries: list[str] = []  # the query of each read, in the order of ``reads``

    def range(self, query: str, start: float, end: float, step: float, now: float) -> list[Any]:
        self.reads.append((start, end))
        self.queries.append(query)
        inside = (self.t >= start) & (self.t <= end)
        series = Series(self.t[inside], self.values[inside], step, query)
        return [
            MetricSeries(query, {}, series, 0, float(self.t[inside][-1]), False, 0.0),
        ]

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return []  # the scaling loop reads ranges only


class FakeCluster:
    """A cluster listing fixed workloads. As the Kubernetes adapter's listings do, it
    names in ``unread`` (when given a list) the workloads a test put in ``unread``: there,
    but in a shape that cannot be read, so left out of the listing."""

    objects_skipped = 0

    def __init__(self, workloads: list[WorkloadState]) -> None:
        self.workloads = workloads
        self.unread: list[UnreadObject] = []
        self.hpas: dict[ObjectRef, HpaState] = {}
        self.pods: list[PodState] = []
        self.pod_lists = 0  # how often the loop listed pods
        self.fresh: dict[ObjectRef, WorkloadState] = {}
        self.workload_reads = 0  # how often the loop read one workload (get_workload)

    def list_workloads(
        self, namespace: str | None = None, *, unread: list[UnreadObject] | None = None
    ) -> list[WorkloadState]:
        if unread is not None:
            unread.extend(self.unread)
        return self.workloads

    def list_pods(
        self,
        namespace: str | None = None,
        selector: dict[str, str] | None = None,
        *,
        unread: list[UnreadObject] | None = None,
    ) -> list[PodState]:
        self.pod_lists += 1
        return [p for p in self.pods if namespace is None or p.ref.namespace == namespace]

    def list_nodes(self, *, unread: list[UnreadObject] | None = None) -> list[Any]:
        return []

    def list_volume_claims(
        self, namespace: str | None = None, *, unread: list[UnreadObject] | None = None
    ) -> list[Any]:
        return []

    def get_hpa_for(self, ref: ObjectRef) -> HpaState | None:
        return self.hpas.get(ref)

    def get_workload(self, ref: ObjectRef) -> WorkloadState | None:
        """As the adapter's watch cache: ``fresh``'s state if a test put one there (the
        workload changed since the cycle's listing), else the listed one."""
        self.workload_reads += 1
        if ref in self.fresh:
            return self.fresh[ref]
        return next((w for w in self.workloads if w.ref == ref), None)


class QuestionLedger:
    """The decisions the loop asked about, with a status a test can change (the answer)."""

    def __init__(self) -> None:
        self.records: dict[str, SimpleNamespace] = {}
        self.transitions: list[tuple[str, str]] = []
        self.feedback: list[tuple[str, str, str]] = []  # (decision, kind, outcome)
        self.guards: dict[str, tuple[dict[str, Any], int]] = {}
        self.model_versions: list[dict[str, Any]] = []
        self.latest_reads: list[list[str]] = []  # the subjects of each latest_decisions
        self.foreign_intents: list[SimpleNamespace] = []  # a runbook's, say
        self.decision_reads: list[str] = []  # the kind of each ``decisions`` read

    def record_model_version(
        self,
        series_key: str,
        model: str,
        version: str,
        status: str,
        params: dict[str, Any],
        evaluation: dict[str, Any],
        now: float,
    ) -> int:
        self.model_versions.append(
            {
                "series_key": series_key,
                "model": model,
                "version": version,
                "status": status,
                "params": params,
                "evaluation": evaluation,
                "at": now,
            }
        )
        return len(self.model_versions)

    def model_version_tally(self, series_key: str) -> tuple[int, str | None]:
        mine = [row["version"] for row in self.model_versions if row["series_key"] == series_key]
        return len(mine), mine[-1] if mine else None

    def intents(
        self, *, execution_key: str | None = None, status: list[str] | None = None
    ) -> list[Any]:
        """The recording executor keeps no write-ahead intents; a test may put other
        writers' in ``foreign_intents`` (only read by status)."""
        if execution_key is not None:
            return []
        return [i for i in self.foreign_intents if status is None or i.status in status]

    def guard(self, key: str) -> tuple[dict[str, Any], int]:
        return self.guards.get(key, ({}, 0))

    def guard_keys(self, prefix: str) -> list[str]:
        return sorted(key for key in self.guards if key.startswith(prefix))

    def put_guard(self, key: str, value: dict[str, Any], expected: int, now: float) -> bool:
        if self.guard(key)[1] != expected:
            return False
        self.guards[key] = (dict(value), expected + 1)
        return True

    def add_feedback(
        self,
        decision_id: str,
        kind: str,
        outcome: str,
        actor: str,
        now: float,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.feedback.append((decision_id, kind, outcome))
        self.records[decision_id].feedback_detail = dict(detail or {})

    def get_decision(self, decision_id: str) -> SimpleNamespace | None:
        return self.records.get(decision_id)

    def decisions(
        self, *, kind: str, status: list[str], limit: int = 1000
    ) -> list[SimpleNamespace]:
        """Newest first, as the ledger returns them. The loop's own decisions are of kind
        "scaling"; a test adds others (a runbook's) with their ``kind``."""
        self.decision_reads.append(kind)
        found = [
            r
            for r in self.records.values()
            if r.status in status and getattr(r, "kind", "scaling") == kind
        ]
        return list(reversed(found))[:limit]

    def latest_decisions(
        self, decision_type: str, subjects: list[str]
    ) -> dict[str, SimpleNamespace]:
        """As ``Ledger.latest_decisions``: the newest decision about each subject (every
        decision here is a floor decision), and how often it was asked."""
        self.latest_reads.append(sorted(subjects))
        return {r.subject: r for r in self.records.values() if r.subject in subjects}

    def transition(
        self,
        decision_id: str,
        expected: list[str],
        status: str,
        now: float,
        *,
        feedback: tuple[Feedback, ...] | list[Feedback] = (),
    ) -> bool:
        """As ``Ledger.transition``: the status if it may move, with ``feedback``."""
        record = self.records[decision_id]
        if record.status not in expected:
            return False
        record.status = status
        self.transitions.append((decision_id, status))
        for row in feedback:
            detail = dict(row.detail or {})
            self.add_feedback(row.decision_id, row.kind, row.outcome, row.actor, now, detail)
        return True

    def settle(
        self, decision_id: str, expected: list[str], status: str, now: float, verdict: Feedback
    ) -> tuple[bool, bool]:
        """As ``Ledger.settle``: the status if it may move, the verdict once per kind."""
        moved = self.transition(decision_id, expected, status, now)
        if not moved and any(f[:2] == (decision_id, verdict.kind) for f in self.feedback):
            return False, False
        detail = dict(verdict.detail or {})
        self.add_feedback(decision_id, verdict.kind, verdict.outcome, verdict.actor, now, detail)
        return moved, True


class AskEverything:
    """Routes every proposal to ``route`` (a person, by default: nothing is written) and
    keeps them, with their status, in a ``QuestionLedger``."""

    def __init__(self, route: Route = "ask", clock: FakeClock | None = None) -> None:
        self.route = route
        self.clock = clock  # when each decision was made (0 without one)
        self.proposals: list[Proposal] = []
        self.ledger = QuestionLedger()
        self.progressed: list[tuple[str, str, bool]] = []
        self.superseded: list[tuple[str, str, str]] = []  # (decision, reason, why)

    def decide(self, p: Proposal) -> Routed:
        self.proposals.append(p)
        decision_id = f"d-{len(self.ledger.records) + 1}"  # a ledger shared goes on counting
        route: Route = "shadow" if p.shadow and self.route != "observe" else self.route
        status = {"ask": "asked", "auto": "approved"}.get(route, route)
        self.ledger.records[decision_id] = SimpleNamespace(
            id=decision_id,
            status=status,
            proposal=dict(p.proposal),
            reason_code=p.reason_code,
            reason=p.reason,
            subject=p.subject,
            evidence=dict(p.evidence),
            created_at=self.clock.now() if self.clock is not None else 0.0,
            updated_at=0.0,
        )
        return Routed(decision_id, route, 0.5, Thresholds(auto=0.8, ask=0.5), "", "")

    def supersede(self, decision_id: str, why: str, *, reason: str = "Superseded") -> bool:
        """As ``DecisionService.supersede``: an asked decision closed as ``superseded``."""
        record = self.ledger.records.get(decision_id)
        if record is None or record.status != "asked":
            return False
        record.status = "superseded"
        self.ledger.transitions.append((decision_id, "superseded"))
        self.superseded.append((decision_id, reason, why))
        return True

    def record_outcome(
        self,
        decision_id: str,
        *,
        right: bool,
        status: str,
        kind: str = "verification",
        actor: str = "autonomic",
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """As ``DecisionService.record_outcome``: a verdict and the final status, once;
        whether this call settled it."""
        verdict = Feedback(decision_id, kind, "right" if right else "wrong", actor, detail)
        moved, written = self.ledger.settle(
            decision_id, ["approved", "executing", "verifying"], status, 0.0, verdict
        )
        return moved or written

    def progress(self, decision_id: str, text: str, *, final: bool = False) -> None:
        """As ``DecisionService.progress``: kept, in order, for tests to read."""
        self.progressed.append((decision_id, text, final))


class RecordingExecutor:
    """Records the writes and the published annotations the loop asks for. A ``Scale``
    lands on the workload's replicas, as the cluster shows it at the next listing (an
    HPA's minReplicas is left to the test: most tests move the HPA themselves)."""

    def __init__(self, cluster: FakeCluster | None = None) -> None:
        self.cluster = cluster
        self.applied: list[Any] = []
        self.reports: list[tuple[ObjectRef, dict[str, str]]] = []

    def apply(self, key: str, step: int, operation: Any, **kwargs: Any) -> Any:
        self.applied.append(operation)
        if isinstance(operation, Scale) and self.cluster is not None:
            self.cluster.workloads = [
                dataclasses.replace(w, replicas=operation.replicas)
                if w.ref == operation.target
                else w
                for w in self.cluster.workloads
            ]
        return StepOutcome("applied", "")

    def report(self, target: ObjectRef, annotations: dict[str, str]) -> bool:
        self.reports.append((target, dict(annotations)))
        return True

    def stopping(self) -> bool:  # as ``Executor.stopping``: never shutting down here
        return False


def workload(name: str, **annotations: str) -> WorkloadState:
    labels = {"autonomic.dev/enabled": "true"}
    annotations = {
        "autonomic.dev/predictive": "true",
        "autonomic.dev/capacity-per-pod": "20",
        **annotations,
    }
    return WorkloadState(
        ObjectRef("Deployment", name, "shop"), 3, 3, 3, 3, labels, annotations, {}, ()
    )


def loop_over(
    reader: WeekReader,
    clock: FakeClock,
    workloads: list[WorkloadState],
    *,
    route: Route = "ask",
    metrics: Metrics | None = None,
    paused: Callable[[], str | None] = lambda: None,
    **settings: Any,
) -> ScalingLoop:
    cluster = FakeCluster(workloads)
    return ScalingLoop(
        ScalingSettings(**settings),
        reader=reader,
        cluster=cast(Any, cluster),
        decisions=cast(Any, AskEverything(route, clock)),
        executor=cast(Any, RecordingExecutor(cluster)),
        clock=clock,
        submit=lambda signals: None,
        metrics=metrics,
        paused=paused,
    )
