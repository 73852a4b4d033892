"""``autonomic simulate``: the daemon's loops, unchanged, on a simulated cluster.

The same ``Daemon`` object that ``autonomic run`` builds drives the loops; only the
ports differ: a ``SimCluster`` for Kubernetes, ``SimMetrics`` for Prometheus, the
ledger-only approval channel answered by a scripted on-call, and a fake clock that
moves as fast as the CPU allows. Alongside, an HPA-only twin of the cluster replays the
same demand and the same faults with nobody acting, as the counterfactual.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.alert_inbox import AlertInbox
from agent.approvals import Approvals, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.daemon import Daemon
from agent.decisions import DecisionService
from agent.executor import Executor
from agent.ledger import Ledger, open_ledger
from agent.loops.anomaly import AnomalyLoop
from agent.loops.canary import CANARY_OF, CanaryLoop
from agent.loops.scaling import ScalingLoop
from agent.observability import Metrics
from agent.remediation_engine import RemediationEngine
from agent.runtime import AlwaysLeader, Job
from agent.settings import Settings
from agent.sim.cluster import Sample, SimCluster, SimHpa, SimWorkload, Template
from agent.sim.metrics import SimMetrics
from agent.sim.oncall import ScriptedOnCall
from agent.sim.scenario import BadRollout, Canary, MemoryLeak, NodeNotReady, Scenario, Surge
from agent.sim.traces import MAX_GAP_MINUTES, LoadedTrace, load_trace
from agent.webhooks import AlertIntake
from remediation.guards import GlobalLimits
from remediation.loading import load_paths
from remediation.ports import ObjectRef
from remediation.windows import describe, first_open, to_utc_text

__all__ = ["FaultSpan", "SimResult", "Simulation"]

EPOCH = 1_700_006_400.0  # a Wednesday, 00:00 UTC: the simulated "now" at the start
SELECTOR = '{namespace="$namespace",deployment="$workload"}'
DEFAULT_RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


@dataclass
class Timeline:
    """Per-minute record of one workload, for the report."""

    minutes: list[float] = field(default_factory=list)
    demand: list[float] = field(default_factory=list)
    capacity: list[float] = field(default_factory=list)
    replicas: list[int] = field(default_factory=list)
    capacity_hpa: list[float] = field(default_factory=list)
    replicas_hpa: list[int] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)


@dataclass
class FaultSpan:
    """When a fault acted on the cluster Autonomic ran, for the report's bands: from its
    injection to ``end`` (None: it lasted to the end of the run), with what ended it."""

    start: float
    note: str  # as in ``SimResult.faults`` (``surge x2.5 on frontend``)
    end: float | None = None
    ended: str = ""


@dataclass
class SimResult:
    scenario: Scenario
    start: float
    seconds: float
    wall_seconds: float
    ledger_url: str
    timelines: dict[str, Timeline]
    capacity_per_pod: dict[str, float]
    faults: list[tuple[float, str]]
    anomaly_points: dict[str, list[tuple[float, float, float, float, float, str]]]
    thresholds: list[dict[str, Any]]
    writes: list[tuple[float, str, str]]
    events: list[Any]
    ledger: Ledger
    traces: dict[str, LoadedTrace]
    extra: dict[str, Any] = field(default_factory=dict)
    fault_spans: list[FaultSpan] = field(default_factory=list)
    # Said at the start of the run (and in the report): predictive workloads whose trace
    # holds too little load before the window for a forecast.
    notes: list[str] = field(default_factory=list)


def _workload(spec: Any, now: float, capacity: float) -> SimWorkload:
    annotations = {}
    if spec.predictive:
        annotations = {
            "autonomic.dev/predictive": "true",
            "autonomic.dev/capacity-per-pod": f"{capacity * 0.8:g}",
            # No start-up annotation: the loop measures it from the simulated pods
            # (creation to Ready), as it would on a real cluster.
        }
    hpa = None
    if spec.hpa is not None:
        hpa = SimHpa(
            name=spec.name,
            min_replicas=spec.hpa.min_replicas,
            max_replicas=spec.hpa.max_replicas,
            target_per_pod=capacity * spec.hpa.target_utilization,
        )
    return SimWorkload(
        ObjectRef("Deployment", spec.name, spec.namespace),
        spec.replicas,
        {
            1: Template(
                spec.image,
                requests={"memory": spec.memory.request},
                limits={"memory": spec.memory.limit},
            )
        },
        1,
        capacity=capacity,
        startup=spec.startup,
        labels={"app": spec.name, "autonomic.dev/enabled": "true"},
        annotations=annotations,
        base_memory_mib=spec.memory.base_mib,
        base_latency_ms=spec.base_latency_ms,
        hpa=hpa,
        pdb_min_available=spec.pdb_min_available,
        last_rollout_at=now - 86400,
    )


class Simulation:
    def __init__(
        self,
        scenario: Scenario,
        *,
        ledger_path: Path,
        runbooks: Path = DEFAULT_RUNBOOKS,
        days: float | None = None,
        seed: int | None = None,
        progress: Callable[[float, str], None] | None = None,
        ask_human: Callable[[str, str], str | None] | None = None,
        extra_loops: Callable[[Simulation], list[Job]] | None = None,
        approvals_factory: Callable[[Ledger, FakeClock], Approvals] | None = None,
        wait_for_people: float = 0.0,
        start: float = EPOCH,
    ) -> None:
        self.scenario = scenario
        spec = scenario.spec
        self.days = days if days is not None else spec.days
        self.seed = seed if seed is not None else spec.seed
        self.rng = random.Random(self.seed)
        self.progress = progress
        self.clock = FakeClock(start)
        self.start = start
        self.traces = {t.name: load_trace(t, self.days) for t in spec.traces}
        self.ledger_url = f"sqlite:///{ledger_path}"
        self.ledger = open_ledger(self.ledger_url, start, durable=False)
        self.metrics = SimMetrics(stale_after=300)
        self._preload_history()
        self.cluster = SimCluster(list(spec.nodes), start, seed=self.seed)
        self.twin = SimCluster(list(spec.nodes), start, seed=self.seed)  # HPA alone
        self.capacity: dict[str, float] = {}
        for w in spec.workloads:
            self.capacity[w.name] = w.capacity_per_pod
            self.cluster.add_workload(_workload(w, start, w.capacity_per_pod))
            self.twin.add_workload(_workload(w, start, w.capacity_per_pod))
        settings = Settings.model_validate(
            {
                "mode": "act",
                "anomalyQueries": self._anomaly_queries(),
                "scaling": {
                    "loadQuery": "sim_demand" + SELECTOR,
                    "period": 60,
                    "scheduledFloors": spec.scaling.scheduled_floors,
                },
                "canary": {
                    "period": 60,
                    "queries": {
                        "latency_p99": "sim_latency_ms" + SELECTOR,
                        "errors": "sim_errors" + SELECTOR,
                        "requests": "sim_requests" + SELECTOR,
                    },
                },
            }
        )
        self.settings = settings
        registry = Metrics()
        # With a configured chat (Slack), people answer: the simulation pauses, in wall-clock
        # time, while a question waits (up to ``wait_for_people`` seconds per question).
        self.wait_for_people = wait_for_people
        self._waiting_since: dict[str, float] = {}
        if approvals_factory is not None:
            approvals = approvals_factory(self.ledger, self.clock)
        else:
            approvals = Approvals(
                self.ledger, LedgerOnlyChannel(self.ledger, self.clock.now), ttl=900, snooze=900
            )
        self.decisions = DecisionService(
            self.ledger,
            self.clock,
            settings.routing,
            mode="act",
            approvals=approvals,
            metrics=registry,
        )
        executor = Executor(self.ledger, self.cluster, self.clock, owner="simulate")
        # The webhook is off in a simulation (no token): no alert is stored and none
        # fires, so the engine is not given the inbox to read (two queries a cycle).
        self.intake = AlertIntake(
            token=None, clock=self.clock.now, inbox=AlertInbox(self.ledger, self.clock.now)
        )
        self.engine = RemediationEngine(
            runbooks=load_paths([runbooks]),
            ledger=self.ledger,
            decisions=self.decisions,
            executor=executor,
            reader=self.cluster,
            clock=self.clock,
            limits=GlobalLimits(),
            query=self._instant,
        )
        self.anomaly = AnomalyLoop(
            settings.anomaly_queries,
            reader=self.metrics,
            ledger=self.ledger,
            decisions=self.decisions,
            submit=self.engine.submit,
            clock=self.clock,
            save_every=1440,
        )
        self.anomaly.keep_points = True
        self.scaling = ScalingLoop(
            settings.scaling,
            reader=self.metrics,
            cluster=self.cluster,
            decisions=self.decisions,
            executor=executor,
            clock=self.clock,
            submit=self.engine.submit,
            metrics=registry,
            stale_after=self.metrics.stale_after,
        )
        self.canary = CanaryLoop(
            settings.canary,
            reader=self.metrics,
            cluster=self.cluster,
            decisions=self.decisions,
            clock=self.clock,
            submit=self.engine.submit,
            events=lambda ref, reason, message, warning: self.cluster.post_event(
                ref, reason, message, warning=warning
            ),
            runbooks=self.engine.runbooks.values,
        )
        self.daemon = Daemon(
            settings,
            self.clock,
            self.ledger,
            registry,
            self.decisions,
            self.engine,
            self.anomaly,
            AlwaysLeader(),
            self.intake,
            self.scaling,
            self.canary,
            remediation_period=60.0,
        )
        self.oncall = ScriptedOnCall(
            spec.oncall, self.decisions, seed=self.seed, ask_human=ask_human
        )
        self.extra_loops = extra_loops
        self.surges: list[Surge] = []
        self.canaries: list[Canary] = []
        self.fault_log: list[tuple[float, str]] = []
        # Each injected fault's span, by the fault's id (a bad rollout's span is closed
        # once the workload no longer runs its image: ``_close_rollouts``).
        self.spans: dict[int, FaultSpan] = {}
        self.open_rollouts: list[BadRollout] = []
        self.failing_nodes: list[NodeNotReady] = []  # NotReady until their duration passes
        self.notes = self._history_notes() + self._filled_notes() + self._schedule_notes()

    def _schedule_notes(self) -> list[str]:
        """Scheduled floors whose window does not open during the run: their dates are on
        the simulated clock, which starts at ``start`` (``EPOCH`` unless people answer)."""
        end = self.days * 86400.0
        notes = []
        for floor in self.settings.scaling.scheduled_floors:
            if first_open(floor, self.start, end) is None:
                notes.append(
                    f"scheduled floor {describe(floor)} does not open "
                    f"during this run, from {to_utc_text(self.start)} to "
                    f"{to_utc_text(self.start + end)}: a scenario's schedules are on the "
                    "simulated clock, which starts on Wednesday 2023-11-15 at 00:00 UTC "
                    "(with people answering on Slack, at the moment the run starts)."
                )
        return notes

    def _filled_notes(self) -> list[str]:
        """For each trace with minutes missing inside the window (each gap at most
        ``MAX_GAP_MINUTES`` long: a longer one is refused), how many were filled in."""
        notes = []
        for trace in self.traces.values():
            filled = trace.interpolated_minutes
            if filled:
                total = len(trace.per_minute)
                notes.append(
                    f"trace {trace.name!r} has no row for {filled} of the simulated "
                    f"window's {total} minutes ({filled / total:.0%}); their demand was "
                    "filled in on a straight line between the rows either side (a gap of "
                    f"up to {MAX_GAP_MINUTES} minutes is filled; a longer one is refused)."
                )
        return notes

    def _history_notes(self) -> list[str]:
        """For each predictive workload whose trace has less load before the window than
        the forecaster needs, what the scaling loop does about it: it stays reactive (the
        HPA alone scales it; without an HPA the loop sizes the replicas from the current
        load) until enough load has been seen, and forecasts from the first refit after
        that whose fit finds a daily pattern. The thresholds are the loop's own: the
        profile's ``min_periods`` and ``scaling.refitEvery``."""
        profile = self.scaling.forecaster.settings
        needed = profile.min_periods * profile.period_seconds
        refit = f"every {_duration(self.settings.scaling.refit_every)}"
        notes = []
        for w in self.scenario.spec.workloads:
            if not w.predictive:
                continue
            trace = self.traces[w.trace]
            have = float(np.count_nonzero(np.isfinite(trace.history))) * 60.0
            if have >= needed:
                continue
            held = "no load" if have == 0 else f"only {_duration(have)} of load"
            how = (
                "the HPA alone scales it"
                if w.hpa is not None
                else "with no HPA, the loop sizes its replicas from the current load alone"
            )
            ready = (needed - have) / 86400
            if ready < self.days:
                when = (
                    f"until about day {ready:.2g} of the run, and forecasts from the first "
                    f"refit after that ({refit}) whose fit finds a daily pattern"
                )
            else:
                when = (
                    f"for the whole of this {_duration(self.days * 86400)} run (it would "
                    f"forecast from the first refit after about day {ready:.2g}, {refit}, "
                    "whose fit finds a daily pattern)"
                )
            notes.append(
                f"{w.name} is predictive, but trace {w.trace!r} has {held} before the "
                f"simulated window, and the forecaster needs {_duration(needed)} of it: the "
                f"scaling loop keeps {w.name} reactive ({how}) {when}. For history, start "
                "the window later in the trace (the trace's start:): the week before it is "
                "replayed as history."
            )
        return notes

    def _preload_history(self) -> None:
        """The trace before the window, recorded as the demand Prometheus already holds."""
        for w in self.scenario.spec.workloads:
            history = self.traces[w.trace].history
            labels = {"namespace": w.namespace, "deployment": w.name}
            for i, value in enumerate(history):
                if np.isfinite(value):
                    at = self.start - 60.0 * (len(history) - i)
                    self.metrics.record("sim_demand", labels, at, float(value) * w.scale)

    def _anomaly_queries(self) -> list[dict[str, Any]]:
        queries = []
        for w in self.scenario.spec.workloads:
            sel = f'{{namespace="{w.namespace}",deployment="{w.name}"}}'
            queries.append(
                {
                    "name": f"{w.name}-latency",
                    "expr": f"sim_latency_ms{sel}",
                    "step": 60,
                    "history": 7 * 86400,
                }
            )
            queries.append(
                {
                    "name": f"{w.name}-errors",
                    "expr": f"sim_error_ratio{sel}",
                    "step": 60,
                    "history": 7 * 86400,
                }
            )
        return queries

    def _instant(self, query: str) -> float | None:
        found = self.metrics.instant(query, self.clock.now())
        return float(found[0][2]) if len(found) == 1 else None

    # ----------------------------------------------------------------- faults
    def _apply(self, fault: Any, now: float) -> None:
        spec = self.scenario.spec
        by_name = {w.name: w for w in spec.workloads}
        if isinstance(fault, Surge):
            self.surges.append(fault)
            note = f"surge x{fault.factor:g} on {fault.workload}"
        elif isinstance(fault, BadRollout):
            w = by_name[fault.workload]
            ref = ObjectRef("Deployment", w.name, w.namespace)
            for cluster in (self.cluster, self.twin):
                cluster.workloads[ref].bad_images.add(fault.image)
                cluster.roll_out(ref, fault.image)
            note = f"bad rollout of {fault.image} on {fault.workload}"
        elif isinstance(fault, MemoryLeak):
            w = by_name[fault.workload]
            ref = ObjectRef("Deployment", w.name, w.namespace)
            for cluster in (self.cluster, self.twin):
                cluster.workloads[ref].leak_mib_per_hour = fault.leak_mib_per_hour
                cluster.workloads[ref].leak_plateau_mib = fault.plateau_mib
            note = f"memory leak {fault.leak_mib_per_hour:g} MiB/h on {fault.workload}"
        elif isinstance(fault, NodeNotReady):
            for cluster in (self.cluster, self.twin):
                cluster.set_node_ready(fault.node, False)
            note = f"node {fault.node} NotReady for {fault.duration / 3600:g} h"
            self.failing_nodes.append(fault)
        elif isinstance(fault, Canary):
            self.canaries.append(fault)
            self._start_canary(fault, now)
            note = f"{'good' if fault.good else 'bad'} canary {fault.image} on {fault.workload}"
        else:  # pragma: no cover - the schema is closed
            raise AssertionError(fault)
        self.fault_log.append((now, note))
        span = self.spans[id(fault)] = FaultSpan(now, note)
        if isinstance(fault, Surge | NodeNotReady):
            span.end = now + fault.duration
            span.ended = f"its {_duration(fault.duration)} passed"
        elif isinstance(fault, BadRollout):
            self.open_rollouts.append(fault)
        elif isinstance(fault, MemoryLeak):
            span.ended = "a leak never stops: raising the limit gives it room, it does not fix it"

    def _canary_ref(self, fault: Canary) -> ObjectRef:
        w = {w.name: w for w in self.scenario.spec.workloads}[fault.workload]
        return ObjectRef("Deployment", f"{w.name}-canary", w.namespace)

    def _start_canary(self, fault: Canary, now: float) -> None:
        w = {w.name: w for w in self.scenario.spec.workloads}[fault.workload]
        ref = self._canary_ref(fault)
        stable = self.cluster.workloads[ObjectRef("Deployment", w.name, w.namespace)]
        canary = _workload(w, now, w.capacity_per_pod)
        canary.ref = ref
        # Sized for its share of traffic, as a delivery tool sizes a canary.
        canary.replicas = max(1, round(stable.replicas * fault.traffic / (1 - fault.traffic)))
        canary.hpa = None
        canary.annotations = {}
        canary.labels = {"app": ref.name, "autonomic.dev/enabled": "true", CANARY_OF: w.name}
        canary.templates = {1: stable.template}
        effects = (fault.latency_factor, fault.error_rate) if not fault.good else (1.0, 0.0)
        canary.image_effects[fault.image] = effects
        self.cluster.add_workload(canary)
        self.cluster.roll_out(ref, fault.image, by_human=True)

    def _finish_canaries(self, now: float) -> None:
        """Play the delivery tool: promote on a promote verdict, retire the canary when its
        window ends (or once it is rolled back)."""
        for fault in list(self.canaries):
            ref = self._canary_ref(fault)
            canary = self.cluster.workloads.get(ref)
            if canary is None:
                self.canaries.remove(fault)
                self._end_span(fault, now, "the canary was removed")
                continue
            analysis = next(
                (
                    a
                    for (r, _, images, _), a in self.canary.analyses.items()
                    if r == ref and fault.image in images
                ),
                None,
            )
            verdict = analysis.latest.decision.value if analysis and analysis.latest else None
            ended = now >= self.start + fault.at + fault.duration
            if verdict == "promote" and analysis is not None and analysis.recorded:
                stable_ref = ObjectRef("Deployment", fault.workload, ref.namespace)
                self.cluster.roll_out(stable_ref, fault.image, by_human=True)
                promoted = f"delivery tool promoted {fault.image} on {fault.workload}"
                self.fault_log.append((now, promoted))
                why = "the delivery tool promoted it"
            elif not ended:
                continue  # a rolled-back canary stays until its window ends: it is verified
            else:
                why = f"its {_duration(fault.duration)} window ended"
            self.cluster.remove_workload(ref)
            self.canaries.remove(fault)
            self._end_span(fault, now, why)

    def _end_span(self, fault: Any, now: float, why: str) -> None:
        span = self.spans.get(id(fault))
        if span is not None and span.end is None:
            span.end, span.ended = now, why

    def _close_rollouts(self, now: float) -> None:
        """A bad rollout's span ends once its workload no longer runs the bad image (it
        was rolled back); in the HPA-only twin nobody rolls it back."""
        for fault in list(self.open_rollouts):
            w = {w.name: w for w in self.scenario.spec.workloads}[fault.workload]
            workload = self.cluster.workloads[ObjectRef("Deployment", w.name, w.namespace)]
            if workload.template.image != fault.image:
                self._end_span(fault, now, f"{fault.image} was rolled back")
                self.open_rollouts.remove(fault)

    def _recover(self, now: float) -> None:
        """A failing node is Ready again at the first tick once its duration has passed
        (a duration need not be a whole number of ticks: ``100s`` with 30 s ticks)."""
        for fault in list(self.failing_nodes):
            if now >= self.start + fault.at + fault.duration - 1e-6:
                self.failing_nodes.remove(fault)
                for cluster in (self.cluster, self.twin):
                    cluster.set_node_ready(fault.node, True)

    def _demand(self, workload: Any, elapsed: float) -> float:
        trace = self.traces[workload.trace].per_minute
        minute = min(int(elapsed // 60), len(trace) - 1)
        value = float(trace[minute]) * workload.scale
        for surge in self.surges:
            if surge.workload == workload.name and surge.at <= elapsed < surge.at + surge.duration:
                value *= surge.factor
        return float(value)

    def _loads(self, elapsed: float, refs: dict[str, ObjectRef]) -> dict[ObjectRef, float]:
        loads = {refs[w.name]: self._demand(w, elapsed) for w in self.scenario.spec.workloads}
        for fault in self.canaries:
            canary = self._canary_ref(fault)
            if canary in self.cluster.workloads:
                stable = refs[fault.workload]
                loads[canary] = loads[stable] * fault.traffic
                loads[stable] *= 1 - fault.traffic
        return loads

    # ------------------------------------------------------------------- run
    def run(self) -> SimResult:
        spec = self.scenario.spec
        tick = spec.tick
        total = self.days * 86400.0
        faults = sorted(spec.faults, key=lambda f: f.at)
        jobs = [(j, j.period) for j in self.daemon.jobs()]
        if self.extra_loops is not None:
            jobs += [(j, j.period) for j in self.extra_loops(self)]
        next_run = {j.name: self.start + period for j, period in jobs}
        timelines = {w.name: Timeline() for w in spec.workloads}
        refs = {w.name: ObjectRef("Deployment", w.name, w.namespace) for w in spec.workloads}
        wall = time.perf_counter()
        elapsed = 0.0
        last_report = -1.0
        fault_index = 0
        while elapsed < total:
            elapsed += tick
            now = self.start + elapsed
            self.clock.set(now)
            while fault_index < len(faults) and faults[fault_index].at <= elapsed:
                self._apply(faults[fault_index], now)
                fault_index += 1
            self._recover(now)
            self._finish_canaries(now)
            self._close_rollouts(now)
            loads = self._loads(elapsed, refs)
            samples = self.cluster.advance(now, loads)
            twin = self.twin.advance(
                now, {r: v for r, v in loads.items() if r in self.twin.workloads}
            )
            self._record(now, samples)
            if int(elapsed) % 60 == 0:
                for w in spec.workloads:
                    self._timeline(
                        timelines[w.name],
                        now,
                        samples[refs[w.name]],
                        twin[refs[w.name]],
                        w.capacity_per_pod,
                    )
            for job, period in jobs:
                if now >= next_run[job.name]:
                    next_run[job.name] = now + period
                    with self.daemon.metrics.time_loop(job.name):
                        job.fn()
            if self.wait_for_people > 0:
                self._wait_for_people()
            elif int(elapsed) % 60 == 0:
                self.oncall.step(now)
            # Every simulated hour, and at the end: a run that is no whole number of hours
            # (--days 0.3) would otherwise leave its bar short of 100 %, and one shorter
            # than an hour would show none.
            if self.progress is not None and (elapsed - last_report >= 3600 or elapsed >= total):
                last_report = elapsed
                self.progress(min(elapsed / total, 1.0), f"day {min(elapsed, total) / 86400:.1f}")
        self.anomaly.save()
        return SimResult(
            scenario=self.scenario,
            start=self.start,
            seconds=total,
            wall_seconds=time.perf_counter() - wall,
            ledger_url=self.ledger_url,
            timelines=timelines,
            capacity_per_pod=self.capacity,
            faults=self.fault_log,
            anomaly_points=self.anomaly.points,
            thresholds=self.ledger.threshold_history(),
            writes=self.cluster.writes,
            events=self.cluster.events,
            ledger=self.ledger,
            traces=self.traces,
            fault_spans=list(self.spans.values()),
            notes=self.notes,
        )

    def _wait_for_people(self) -> None:
        """Hold simulated time while a question is open, until it is answered or a person
        has had ``wait_for_people`` seconds of real time (then it expires in simulated time
        like any other)."""
        while True:
            pending = [
                q
                for q in self.ledger.questions()
                if time.monotonic() - self._waiting_since.setdefault(q.id, time.monotonic())
                < self.wait_for_people
            ]
            if not pending:
                return
            time.sleep(0.2)
            self.decisions.sync_answers()

    def _record(self, now: float, samples: dict[ObjectRef, Sample]) -> None:
        for ref, s in samples.items():
            labels = {"namespace": ref.namespace or "", "deployment": ref.name}
            self.metrics.record("sim_demand", labels, now, s.load)
            self.metrics.record("sim_ready_pods", labels, now, float(s.ready_pods))
            self.metrics.record("sim_latency_ms", labels, now, s.latency_ms)
            self.metrics.record("sim_error_ratio", labels, now, s.error_rate)
            self.metrics.record("sim_memory_mib", labels, now, s.memory_mib)
            self.metrics.record("sim_latency_seconds", labels, now, s.latency_ms / 1000.0)
            self.metrics.record("sim_demand_per_second", labels, now, s.load / 60.0)
            self.metrics.record("sim_requests", labels, now, s.load)
            self.metrics.record("sim_errors", labels, now, s.error_rate * s.load)

    @staticmethod
    def _timeline(t: Timeline, now: float, s: Sample, twin: Sample, capacity: float) -> None:
        t.minutes.append(now)
        t.demand.append(s.load)
        t.capacity.append(s.ready_pods * capacity)
        t.replicas.append(s.pods)
        t.capacity_hpa.append(twin.ready_pods * capacity)
        t.replicas_hpa.append(twin.pods)
        t.latency.append(s.latency_ms)
        t.errors.append(s.error_rate)


def _duration(seconds: float) -> str:
    """``50 min``, ``3 h``, ``1.5 h``, ``1.25 days``."""
    if seconds < 3600:
        return f"{seconds / 60:.3g} min"
    if seconds < 86400:
        return f"{seconds / 3600:.3g} h"
    days = f"{seconds / 86400:.3g}"
    return f"{days} day" + ("" if days == "1" else "s")


def under_provisioned_minutes(demand: list[float], capacity: list[float]) -> int:
    d, c = np.asarray(demand), np.asarray(capacity)
    return int(np.sum(d > c + 1e-9))


def pod_hours(replicas: list[int]) -> float:
    return float(np.sum(replicas)) / 60.0
