"""One full observe-decide cycle of the daemon for N workloads, on one core.

    .venv/bin/python benchmarks/cycle.py --workloads 100,1000,10000 [--repeats 5]
        [--json out.json] [--profile] [--memory-sites 25] [--trim-setup] [--warm-days 3]
        [--refit-cycles 5] [--gap-hours 6] [--ledger-url postgresql+psycopg://...]

What runs, per N, in a child process of its own (so peak memory figures do not mix):

- a fake Kubernetes API server (``tests.fakekube``) in a *separate* process pinned to
  the other core, seeded with N opted-in Deployments (2 revisions, 3 pods each, all
  annotated for predictive scaling), one HPA per three Deployments, N/10 nodes (at
  least 3), 50 Deployments per namespace, and 0.5 % of the Deployments crash-looping
  right after a rollout;
- the daemon side pinned to core 0: a real ``KubernetesCluster`` with its watch
  caches started and synced over HTTP, the shipped runbooks, a SQLite ledger, the
  ``DecisionService`` on the ledger-only channel, the ``Executor``, the
  ``RemediationEngine``, the ``AnomalyLoop`` with one query returning N series, and
  the ``ScalingLoop`` (one load query per workload) when ``agent/loops/scaling.py``
  exists, all reading ``SyntheticMetrics`` (a ``MetricsReader`` with no HTTP);
- detector state for every series saved in the ledger beforehand (as a restarted
  daemon finds it), so the first cycle restores it instead of re-learning 3 days;
- per repetition: the clock moves one step (60 s), N/1000 (at least 1) new rollouts
  go bad on the server and the watch caches see them, 0.2 % of the error-ratio series
  spike; then one cycle is timed: anomaly loop and scaling loop (observe, forecast)
  then the remediation engine (signals, match, plan, guards, decide, execute, verify).

The first cycle (restore every detector, read and fit a week of load per workload,
decide on the seeded incidents) is reported apart, as is the anomaly loop's periodic
``save()`` (every 10th cycle by default). Figures are wall and CPU seconds
(``time.process_time``: every thread of the daemon process, the watch threads
included) and the resident set size of the daemon process per phase (VmHWM, reset
between phases; the fake server's memory is not in it).

The storm threshold is raised to max(50, N/10) triggers a minute: with the default 50
the 10,000-workload cluster's seeded incidents are a storm, every decision is then
skipped, and N would not run the same decision path. Timings come from a shared 2-core
machine: indicative, not exact (the script prints the load average).

``--trim-setup`` returns the heap pages freed by the benchmark's own set-up (warming the
detector states and writing them to the ledger: work a previous daemon did) to the
system with glibc's ``malloc_trim`` before the first cycle, so the daemon phases do not
carry that residue; without it (the default, as in earlier runs) they do.

``--memory-sites K`` traces allocations (``tracemalloc``, which slows everything down:
the times of such a run mean nothing) from before the first cycle and prints the K
source lines holding the most memory after the timed cycles.

``--refit-cycles K`` then jumps the fake clock by ``refitEvery``, so every model the
first cycle fitted is due a refit at once, and times K more cycles, with how many
refits each did (the scaling loop spreads them; the jump also makes the anomaly loop
catch up on that many hours in the first of them).

``--gap-hours H`` then jumps the fake clock by H hours, as after a leader that was down
that long, and times one cycle: the anomaly loop scores every missed point and the
scaling loop reads its window again.

``--ledger-url URL`` puts the ledger on that database instead of a SQLite file in a
temporary folder: a PostgreSQL URL (``postgresql+psycopg://user@host:port/db``) whose
user may create schemas. Each N gets a new schema of its own (dropped afterwards), so
one server serves every N of a run.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import math
import multiprocessing as mp
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests.fakekube lives in the repository, not the package
    sys.path.insert(0, str(ROOT))

STEP = 60.0  # anomaly query step, seconds
QUERY = "http_error_ratio"  # the shipped error-rate-pause-rollout runbook listens to it
ENABLED = {"autonomic.dev/enabled": "true"}
MEMORY_SITES = 0  # --memory-sites: how many allocation sites to print (0: do not trace)
TRIM_SETUP = False  # --trim-setup: hand the set-up's freed heap back before the first cycle
REFIT_CYCLES = 0  # --refit-cycles: cycles timed once the first cycle's fits fall due
GAP_HOURS = 0.0  # --gap-hours: one cycle timed after the clock jumps this far
LEDGER_URL = ""  # --ledger-url: a PostgreSQL ledger (default: SQLite in a temporary folder)
CLASSES = 8  # series shapes; one warmed detector state per shape
WARM_POINTS = 3 * 1440  # three days of one-minute points fill the detector's history

Obj = dict[str, Any]


def log(message: str) -> None:
    print(f"[cycle {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- the cluster


@dataclass(frozen=True)
class Shape:
    """What a cluster of ``workloads`` Deployments looks like in this benchmark."""

    workloads: int
    replicas: int = 3
    per_namespace: int = 50
    hpa_every: int = 3
    unhealthy_fraction: float = 0.005
    spike_fraction: float = 0.002

    @property
    def nodes(self) -> int:
        return max(3, self.workloads // 10)

    @property
    def breaks_per_cycle(self) -> int:
        return max(1, self.workloads // 1000)

    @property
    def unhealthy(self) -> int:
        return max(1, round(self.workloads * self.unhealthy_fraction))

    def workload(self, index: int) -> tuple[str, str]:
        """(namespace, name) of workload ``index``."""
        return f"team-{index // self.per_namespace:04d}", f"svc-{index:05d}"


def _resource(kind: str) -> Any:
    from tests.fakekube.store import RESOURCES

    return next(r for r in RESOURCES if r.kind == kind)


def _crashing_status() -> Obj:
    from tests.fakekube.seed import pod_status

    return pod_status(
        ready=False,
        restarts=5,
        waiting="CrashLoopBackOff",
        last_termination="Error",
        started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )


def break_rollout(
    store: Any, namespace: str, name: str, nodes: Sequence[str]
) -> tuple[int, list[str]]:
    """What the Deployment controller and kubelet leave after a bad rollout: a new
    ReplicaSet at the next revision whose pods crash-loop. Returns the revision and the
    new pods' names."""
    from tests.fakekube.seed import owner_reference, seed_pod

    deployment = dict(store.get(_resource("Deployment"), namespace, name))
    revision = int(deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) + 1
    image = f"{name}:v{revision}"
    template = copy.deepcopy(deployment["spec"]["template"])
    template["spec"]["containers"][0]["image"] = image
    pod_hash = hashlib.sha256(f"{name}{image}".encode()).hexdigest()[:10]
    template["metadata"]["labels"]["pod-template-hash"] = pod_hash
    replicas = int(deployment["spec"]["replicas"])
    for pod in store.objects("Pod", namespace):
        if pod["metadata"]["labels"].get("app") == name:
            store.delete(_resource("Pod"), namespace, pod["metadata"]["name"])
    replicaset = store.put(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{name}-{pod_hash}",
                "namespace": namespace,
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                "ownerReferences": [owner_reference(deployment)],
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name, "pod-template-hash": pod_hash}},
                "template": template,
            },
            "status": {"replicas": replicas, "readyReplicas": 0},
        }
    )
    names = []
    for index in range(replicas):
        pod = seed_pod(
            store,
            f"{name}-{pod_hash}-{index:05d}",
            namespace=namespace,
            owner=replicaset,
            template=template,
            node=nodes[index % len(nodes)],
            status=_crashing_status(),
        )
        names.append(pod["metadata"]["name"])

    def rolled(obj: Obj) -> None:
        obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(revision)
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
        obj["status"].update(readyReplicas=0, availableReplicas=0, updatedReplicas=replicas)

    store.modify("Deployment", namespace, name, rolled)
    return revision, names


def seed_cluster(store: Any, shape: Shape) -> Counter[str]:
    from tests.fakekube.seed import seed_deployment, seed_hpa, seed_node

    nodes = [f"node-{i:05d}" for i in range(shape.nodes)]
    for node in nodes:
        seed_node(store, node)
    for index in range(shape.workloads):
        namespace, name = shape.workload(index)
        seed_deployment(
            store,
            name,
            namespace=namespace,
            replicas=shape.replicas,
            images=(f"{name}:v1", f"{name}:v2"),
            nodes=(nodes[index % len(nodes)], nodes[(index + 1) % len(nodes)]),
            labels=dict(ENABLED),
            resources={"requests": {"memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        )
        store.modify("Deployment", namespace, name, _predictive(index))
        if index % shape.hpa_every == 0:
            seed_hpa(store, f"{name}-hpa", target=name, namespace=namespace)
        if index % 500 == 499:
            log(f"server: seeded {index + 1:,}/{shape.workloads:,} Deployments")
    # The unhealthy ones: spread over the index range, broken after seeding.
    for index in _spread(shape.workloads, shape.unhealthy, offset=0):
        namespace, name = shape.workload(index)
        break_rollout(store, namespace, name, nodes[:2])
    return Counter({kind: len(store.objects(kind)) for kind in _KINDS})


def _predictive(index: int) -> Callable[[Obj], None]:
    """Opt the workload into predictive scaling: about 2-5 pods' worth of load each."""

    def annotate(obj: Obj) -> None:
        obj["metadata"]["annotations"].update(
            {
                "autonomic.dev/predictive": "true",
                "autonomic.dev/capacity-per-pod": str(20.0 * (1 + index % CLASSES)),
            }
        )

    return annotate


_KINDS = ("Deployment", "ReplicaSet", "Pod", "Node", "HorizontalPodAutoscaler")


def _spread(n: int, count: int, *, offset: int) -> list[int]:
    """``count`` indexes spread evenly over range(n), shifted by ``offset``."""
    stride = max(1, n // max(1, count))
    return [(offset + i * stride) % n for i in range(count)]


def serve(conn: Any, shape: Shape, cpu: int | None) -> None:
    """The fake API server's process: seed, report, then break rollouts on request."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    from tests.fakekube import start_fake_apiserver

    server = start_fake_apiserver()
    began = time.perf_counter()
    counts = seed_cluster(server.store, shape)
    conn.send(("ready", server.url, time.perf_counter() - began, dict(counts)))
    nodes = [f"node-{i:05d}" for i in range(2)]
    while True:
        command, payload = conn.recv()
        if command == "break":
            conn.send([break_rollout(server.store, ns, name, nodes) for ns, name in payload])
        else:
            break
    server.stop()


# ------------------------------------------------------------------------- metrics


def _unit_hash(i: np.ndarray, t: np.ndarray, salt: float) -> np.ndarray:
    """A cheap deterministic pseudo-random number in [0, 1) per (series, time)."""
    x = np.sin(i * 12.9898 + (t / STEP) * 78.233 + salt) * 43_758.5453
    return np.asarray(x - np.floor(x), dtype=np.float64)


class SyntheticMetrics:
    """A ``MetricsReader`` with no HTTP: ``QUERY`` returns one series per workload (an
    error ratio), and the scaling loop's load query one series for the workload it
    names (requests per second).

    Series ``i`` follows the daily shape of class ``i % CLASSES`` with 5 % noise, the
    same value for the same (i, t) on every call; a ``spike_fraction`` of the error
    ratios jump twentyfold at each time stamp. Values exist up to ``now`` on the grid.
    """

    def __init__(self, shape: Shape, spike_fraction: float) -> None:
        self.shape = shape
        self.spike_fraction = spike_fraction
        self.labels = [
            {"namespace": ns, "deployment": name}
            for ns, name in (shape.workload(i) for i in range(shape.workloads))
        ]
        self.index = {(ns, name): i for i, (ns, name) in enumerate(map(_pair, self.labels))}
        self.calls = 0

    def values(self, i: np.ndarray, t: np.ndarray, *, spikes: bool, scale: float) -> np.ndarray:
        """Values of series ``i`` at times ``t`` (broadcast together)."""
        classes = i % CLASSES
        daily = 1 + 0.3 * np.sin(2 * np.pi * t / 86_400 + 2 * np.pi * classes / CLASSES)
        noise = 0.05 * (2 * _unit_hash(i, t, 0.0) - 1)
        values = scale * (1 + classes) * daily * (1 + noise)
        if spikes and self.spike_fraction > 0:
            values = np.where(_unit_hash(i, t, 1.0) < self.spike_fraction, 20 * values, values)
        return np.asarray(values, dtype=np.float64)

    def values_at(self, t: float, *, spikes: bool = True) -> np.ndarray:
        """The error ratio of every series at time ``t``."""
        every = np.arange(self.shape.workloads)
        return self.values(every, np.full(every.size, t), spikes=spikes, scale=0.01)

    def range(self, query: str, start: float, end: float, step: float, now: float) -> list[Any]:
        self.calls += 1
        first = math.ceil(start / step) * step
        last = math.floor(min(end, now) / step) * step  # nothing from the future
        grid = np.arange(first, last + step / 2, step, dtype=np.float64)
        if grid.size == 0:
            return []
        if query == QUERY:
            # (N, points), C order: each series is a contiguous row (a view, not a copy)
            # and all share one time grid, so the fake source stays cheap.
            every = np.arange(self.shape.workloads)[:, None]
            matrix = np.empty((self.shape.workloads, grid.size))
            for first in range(0, grid.size, 256):  # bounded temporaries
                part = grid[None, first : first + 256]
                matrix[:, first : first + 256] = self.values(every, part, spikes=True, scale=0.01)
            return [
                _metric(query, labels, grid, matrix[i], step)
                for i, labels in enumerate(self.labels)
            ]
        target = _load_target(query)
        if target is None or target not in self.index:
            return []
        i = self.index[target]
        values = self.values(np.full(grid.size, i), grid, spikes=False, scale=50.0)
        return [_metric(query, self.labels[i], grid, values, step)]

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return []


def _pair(labels: dict[str, str]) -> tuple[str, str]:
    return labels["namespace"], labels["deployment"]


def _load_target(query: str) -> tuple[str, str] | None:
    """(namespace, deployment) named in the scaling loop's load query."""
    found = dict(re.findall(r'(namespace|deployment)="([^"]*)"', query))
    if "namespace" in found and "deployment" in found:
        return found["namespace"], found["deployment"]
    return None


def _metric(query: str, labels: dict[str, str], grid: Any, values: Any, step: float) -> Any:
    from agent.metrics_port import MetricSeries
    from forecasting.series import Series

    return MetricSeries(
        query=query,
        labels=labels,
        series=Series(grid, values, step, query, labels),
        non_finite_samples=0,
        last_sample_at=float(grid[-1]),
        stale=False,
        gap_fraction=0.0,
    )


def warmed_states(metrics: SyntheticMetrics, end: float) -> list[Obj]:
    """One detector state per series class, learned on WARM_POINTS points up to ``end``."""
    from forecasting.anomaly import Detector

    states, contexts = [], []
    grid = end - STEP * np.arange(WARM_POINTS, dtype=np.float64)[::-1]
    for cls in range(CLASSES):
        detector = Detector(STEP)
        values = metrics.values(np.full(grid.size, cls), grid, spikes=False, scale=0.01)
        detector.update_many(grid, values)
        states.append(detector.state())
        contexts.append(detector.context_size)
    log(
        f"detector states learnt on {WARM_POINTS:,} points: "
        f"{sum(contexts) / len(contexts):,.0f} contexts on average "
        f"({min(contexts):,}-{max(contexts):,})"
    )
    return states


# -------------------------------------------------------------------------- daemon side


@dataclass
class Rig:
    cluster: Any
    ledger: Any
    engine: Any
    anomaly: Any
    clock: Any
    metrics: SyntheticMetrics
    decisions: Any
    executor: Any
    scaling: Any = None
    close: Callable[[], None] = lambda: None


def build_rig(url: str, shape: Shape, workdir: Path, start: float, *, scaling: bool) -> Rig:
    from agent.adapters.kube_errors import RetryPolicy
    from agent.adapters.kubernetes import KubernetesCluster, load_api_client
    from agent.approvals import Approvals, LedgerOnlyChannel
    from agent.clock import FakeClock
    from agent.decisions import DecisionService
    from agent.executor import Executor
    from agent.ledger import open_ledger
    from agent.loops.anomaly import AnomalyLoop
    from agent.observability import Metrics
    from agent.remediation_engine import RemediationEngine
    from agent.settings import AnomalyQuery, RoutingSettings
    from remediation.guards import GlobalLimits
    from remediation.loading import load_paths

    clock = FakeClock(start)
    api_client = load_api_client(host=url)
    cluster = KubernetesCluster(
        api_client,
        identity="autonomic-bench",
        policy=RetryPolicy(request_timeout=(5.0, 300.0)),
        wall_clock=clock.now,
    )
    ledger_url, drop_schema = ledger_location(workdir, shape.workloads)
    ledger = open_ledger(ledger_url, clock.now())
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=3600, snooze=900)
    metrics = Metrics()
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="act", approvals=approvals, metrics=metrics
    )
    executor = Executor(ledger, cluster, clock, owner="autonomic-bench", metrics=metrics)
    engine = RemediationEngine(
        runbooks=load_paths([ROOT / "runbooks"]),
        ledger=ledger,
        decisions=decisions,
        executor=executor,
        reader=cluster,
        clock=clock,
        limits=GlobalLimits(storm_triggers_per_minute=max(50, shape.workloads // 10)),
        query=lambda _q: None,
    )
    synthetic = SyntheticMetrics(shape, shape.spike_fraction)
    anomaly = AnomalyLoop(
        [AnomalyQuery(name=QUERY, expr=QUERY, step=STEP, history=7 * 86_400)],
        reader=synthetic,
        ledger=ledger,
        decisions=decisions,
        submit=engine.submit,
        clock=clock,
    )

    def close() -> None:
        cluster.stop()
        approvals.dispatcher.stop()
        ledger.close()
        api_client.close()
        drop_schema()

    rig = Rig(cluster, ledger, engine, anomaly, clock, synthetic, decisions, executor, close=close)
    rig.scaling = build_scaling_loop(rig) if scaling else None
    if not scaling:
        log("--no-scaling: the scaling loop is left out")
    return rig


def ledger_location(workdir: Path, workloads: int) -> tuple[str, Callable[[], None]]:
    """The ledger's URL for this N, and what removes it afterwards: a SQLite file in
    ``workdir`` (removed with it), or a new schema on ``--ledger-url``'s server."""
    if not LEDGER_URL:
        return f"sqlite:///{workdir / 'ledger.sqlite'}", lambda: None
    import sqlalchemy as sa

    schema = f"cycle_{workloads}_{os.getpid()}"
    admin = sa.create_engine(LEDGER_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    joiner = "&" if "?" in LEDGER_URL else "?"
    log(f"ledger: schema {schema} on {admin.url.render_as_string(hide_password=True)}")

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    return f"{LEDGER_URL}{joiner}options=-csearch_path%3D{schema}", drop


def build_scaling_loop(rig: Rig) -> Any:
    """The scaling loop as ``agent.daemon`` wires it, when ``agent/loops/scaling.py``
    exists (it was being written while this benchmark was); None otherwise."""
    if not (ROOT / "agent" / "loops" / "scaling.py").exists():
        log("agent/loops/scaling.py does not exist: the scaling loop is not included")
        return None
    from agent.loops.scaling import ScalingLoop
    from agent.settings import ScalingSettings

    return ScalingLoop(
        ScalingSettings(),
        reader=rig.metrics,
        cluster=rig.cluster,
        decisions=rig.decisions,
        executor=rig.executor,
        clock=rig.clock,
        submit=rig.engine.submit,
        metrics=rig.decisions.metrics,  # as the daemon wires it: per-workload gauges
    )


def preload_detectors(rig: Rig, states: Sequence[Obj], last_ts: float) -> None:
    """Save a warmed detector per series in the ledger, as a previous run would have.

    Set-up only, so the rows go in with one INSERT per 500 series (the same rows
    ``Ledger.put_guard`` writes) rather than through the API under test.
    """
    from agent.ledger.schema import tables
    from agent.loops.anomaly import series_key
    from forecasting.anomaly import IncidentTracker

    query = rig.anomaly.queries[0]
    tracker = IncidentTracker().state()
    now = rig.clock.now()
    table = tables["guard_state"]
    rows = [
        {
            "key": f"anomaly/{series_key(query, labels)}",
            "value": {"detector": states[i % CLASSES], "tracker": tracker, "last_ts": last_ts},
            "version": 1,
            "updated_at": now,
        }
        for i, labels in enumerate(rig.metrics.labels)
    ]
    for first in range(0, len(rows), 500):
        with rig.ledger.engine.begin() as conn:
            conn.execute(table.insert(), rows[first : first + 500])
        log(f"saved detector state {min(first + 500, len(rows)):,}/{len(rows):,}")


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


@contextlib.contextmanager
def timed(out: list[Timing]) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    out.append(Timing(time.perf_counter() - wall, time.process_time() - cpu))


def _status_mb(field_name: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """Current resident set size of this process, MB (from /proc)."""
    return _status_mb("VmRSS")


def reset_peak() -> None:
    """Start a new high-water mark of the resident set (Linux: clear_refs 5)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def phase_peak_mb() -> float:
    """Highest resident set size since the last ``reset_peak`` (VmHWM)."""
    return _status_mb("VmHWM")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True)
class Result:
    """One N's figures; times in seconds, memory in MB."""

    workloads: int
    pods: int
    replicasets: int
    nodes: int
    hpas: int
    seed_seconds: float
    sync_seconds: float
    first_cycle: Timing
    cycles: list[Timing]
    anomaly: list[Timing]
    remediation: list[Timing]
    scaling: list[Timing]
    save: Timing
    outcomes: dict[str, int]
    decisions: int
    points_scored: int
    rss_after_sync_mb: float
    peak_setup_mb: float
    peak_first_cycle_mb: float
    peak_cycles_mb: float
    peak_save_mb: float
    peak_rss_mb: float
    scaling_included: bool
    scaling_decisions: int = 0
    scaling_held: int = 0
    cpus: list[int] = field(default_factory=list)
    # --refit-cycles: per cycle once the first fits fall due, (wall, scaling wall, refits)
    refit_cycles: list[tuple[float, float, int]] = field(default_factory=list)
    # --gap-hours: the cycle after the clock's jump, (wall, anomaly, scaling, remediation)
    gap_cycle: tuple[float, float, float, float] | None = None


def wait_for_caches(
    rig: Rig, broken: Sequence[tuple[tuple[str, str], tuple[int, list[str]]]], timeout: float = 60.0
) -> None:
    """Until the watch caches hold every new pod and every Deployment's new revision
    (separate watch streams: one can lag the other), so each run decides on the same
    cluster state."""
    pods, deployments = rig.cluster.caches["Pod"], rig.cluster.caches["Deployment"]

    def seen() -> bool:
        for (namespace, name), (revision, new_pods) in broken:
            if any(pods.get(namespace, pod) is None for pod in new_pods):
                return False
            deployment = deployments.get(namespace, name) or {}
            annotations = (deployment.get("metadata") or {}).get("annotations") or {}
            if annotations.get("deployment.kubernetes.io/revision") != str(revision):
                return False
        return True

    deadline = time.monotonic() + timeout
    while not seen():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the watch caches did not see {len(broken)} rollouts in {timeout}s")
        time.sleep(0.02)


def measure(
    shape: Shape, repeats: int, profile: bool, start: float | None = None, *, scaling: bool = True
) -> Result:
    """Runs in the per-N child: server process on the other core, daemon on core 0."""
    cores = sorted(os.sched_getaffinity(0))
    daemon_cpu, server_cpu = cores[0], (cores[1] if len(cores) > 1 else None)
    os.sched_setaffinity(0, {daemon_cpu})
    context = mp.get_context("spawn")
    parent, child = context.Pipe()
    log(f"N={shape.workloads:,}: seeding the fake API server (core {server_cpu})")
    server = context.Process(target=serve, args=(child, shape, server_cpu), daemon=True)
    server.start()
    status, url, seed_seconds, counts = parent.recv()
    assert status == "ready"
    log(f"N={shape.workloads:,}: seeded {counts} in {seed_seconds:.1f}s")
    with tempfile.TemporaryDirectory(prefix="autonomic-cycle-") as tmp:
        began = float(int(time.time())) if start is None else start
        rig = build_rig(url, shape, Path(tmp), began, scaling=scaling)
        try:
            return _measure(rig, shape, repeats, profile, parent, seed_seconds, counts, cores)
        finally:
            rig.close()
            parent.send(("stop", None))
            server.join(30)


def _measure(
    rig: Rig,
    shape: Shape,
    repeats: int,
    profile: bool,
    server: Any,
    seed_seconds: float,
    counts: dict[str, int],
    cores: list[int],
) -> Result:
    began = time.perf_counter()
    if not rig.cluster.start(wait=600.0):
        raise RuntimeError("the watch caches did not sync within 600 s")
    sync_seconds = time.perf_counter() - began
    rss_after_sync = rss_mb()
    log(f"caches synced in {sync_seconds:.1f}s; RSS {rss_after_sync:.0f} MB")

    last = math.floor(rig.clock.now() / STEP) * STEP
    states = warmed_states(rig.metrics, last)
    preload_detectors(rig, states, last)
    del states
    log("detector state saved; first cycle (restore + seeded incidents)")

    peak_setup = phase_peak_mb()  # cache sync and saving the detector states
    if TRIM_SETUP:
        trim_heap("after set-up")
    if MEMORY_SITES:
        import tracemalloc

        tracemalloc.start()
    first: list[Timing] = []
    parts: tuple[list[Timing], list[Timing], list[Timing]] = ([], [], [])
    reset_peak()
    with timed(first):
        run_cycle(rig, *parts)
    peak_first = phase_peak_mb()
    split = ", ".join(
        f"{name} {part[0].wall:.2f}s"
        for name, part in zip(("anomaly", "remediation", "scaling"), parts, strict=True)
        if part
    )
    log(f"first cycle {first[0].wall:.2f}s wall ({split}); peak RSS in it {peak_first:.0f} MB")

    cycles: list[Timing] = []
    anomaly: list[Timing] = []
    remediation: list[Timing] = []
    scaling: list[Timing] = []
    outcomes: Counter[str] = Counter()
    # The daemon's default: each cycle saves a tenth of the detector states, round robin,
    # so the timed cycles include that share. A full save() is also timed on its own below.
    rig.anomaly.save_every = 10
    offset = 1
    reset_peak()
    for rep in range(repeats):
        rig.clock.advance(STEP)
        batch = [
            shape.workload(i)
            for i in _spread(shape.workloads, shape.breaks_per_cycle, offset=offset * 7 + 3)
        ]
        offset += 1
        server.send(("break", batch))
        wait_for_caches(rig, list(zip(batch, server.recv(), strict=True)))
        profiler = _profiler() if profile and rep == repeats - 1 else None
        with timed(cycles):
            handled = run_cycle(rig, anomaly, remediation, scaling)
        if profiler is not None:
            _report_profile(profiler)
        outcomes.update(h.outcome for h in handled)
        log(
            f"rep {rep + 1}/{repeats}: {cycles[-1].wall:.3f}s wall, {cycles[-1].cpu:.3f}s CPU "
            f"(anomaly {anomaly[-1].wall:.3f}s, "
            + (f"scaling {scaling[-1].wall:.3f}s, " if scaling else "")
            + f"remediation {remediation[-1].wall:.3f}s); "
            f"{Counter(h.outcome for h in handled)}"
        )
    peak_cycles = phase_peak_mb()
    if MEMORY_SITES:
        _report_memory_sites(MEMORY_SITES)
    save: list[Timing] = []
    reset_peak()
    profiler = _profiler() if profile else None
    with timed(save):
        rig.anomaly.save()
    if profiler is not None:
        _report_profile(profiler)
    peak_save = phase_peak_mb()
    log(f"anomaly save() of {len(rig.anomaly.series):,} series: {save[0].wall:.2f}s")
    refits = measure_refits(rig, REFIT_CYCLES) if REFIT_CYCLES and rig.scaling else []
    gap = measure_gap(rig, GAP_HOURS) if GAP_HOURS else None
    return Result(
        workloads=shape.workloads,
        pods=counts.get("Pod", 0),
        replicasets=counts.get("ReplicaSet", 0),
        nodes=counts.get("Node", 0),
        hpas=counts.get("HorizontalPodAutoscaler", 0),
        seed_seconds=seed_seconds,
        sync_seconds=sync_seconds,
        first_cycle=first[0],
        cycles=cycles,
        anomaly=anomaly,
        remediation=remediation,
        scaling=scaling,
        save=save[0],
        outcomes=dict(outcomes),
        decisions=len(rig.ledger.decisions(limit=1_000_000)),
        points_scored=rig.anomaly.status.points_scored,
        rss_after_sync_mb=rss_after_sync,
        peak_setup_mb=peak_setup,
        peak_first_cycle_mb=peak_first,
        peak_cycles_mb=peak_cycles,
        peak_save_mb=peak_save,
        # ru_maxrss follows the resets above on Linux: the overall peak is the largest
        # phase peak.
        peak_rss_mb=max(peak_rss_mb(), peak_setup, peak_first, peak_cycles, peak_save),
        scaling_included=rig.scaling is not None,
        scaling_decisions=rig.scaling.status.decisions if rig.scaling is not None else 0,
        scaling_held=len(rig.scaling.status.held) if rig.scaling is not None else 0,
        cpus=sorted(os.sched_getaffinity(0)),
        refit_cycles=refits,
        gap_cycle=gap,
    )


def measure_gap(rig: Rig, hours: float) -> tuple[float, float, float, float]:
    """One cycle after the clock jumps ``hours`` (a leader down that long): wall seconds
    of the whole cycle, then of its anomaly, scaling and remediation parts."""
    rig.clock.advance(hours * 3600)
    whole: list[Timing] = []
    parts: tuple[list[Timing], list[Timing], list[Timing]] = ([], [], [])
    with timed(whole):
        run_cycle(rig, *parts)
    anomaly, remediation, scaling = (part[0].wall if part else 0.0 for part in parts)
    log(
        f"cycle after a {hours:g}-hour gap: {whole[0].wall:.2f}s wall (anomaly {anomaly:.2f}s, "
        f"scaling {scaling:.2f}s, remediation {remediation:.2f}s)"
    )
    return whole[0].wall, anomaly, scaling, remediation


def measure_refits(rig: Rig, count: int) -> list[tuple[float, float, int]]:
    """Cycles once every model fitted in the first cycle is due a refit (``refitEvery``
    later): how many refits each does and what the scaling loop costs then."""
    loop = rig.scaling
    rig.clock.advance(loop.settings.refit_every)
    out = []
    for number in range(count):
        versions = sum(model.version for model in loop.models.values())
        whole: list[Timing] = []
        part: list[Timing] = []
        with timed(whole):
            run_cycle(rig, None, None, part)
        done = sum(model.version for model in loop.models.values()) - versions
        out.append((whole[0].wall, part[0].wall, done))
        log(
            f"refit cycle {number + 1}/{count}: {whole[0].wall:.3f}s wall, scaling "
            f"{part[0].wall:.3f}s, {done} refits; {len(loop.models):,} models"
        )
        rig.clock.advance(STEP)
    return out


def run_cycle(
    rig: Rig,
    anomaly: list[Timing] | None = None,
    remediation: list[Timing] | None = None,
    scaling: list[Timing] | None = None,
) -> list[Any]:
    """Observe then decide: anomaly loop, scaling loop (if any), remediation engine."""
    with timed(anomaly if anomaly is not None else []):
        rig.anomaly.cycle()
    if rig.scaling is not None:
        with timed(scaling if scaling is not None else []):
            rig.scaling.cycle()
    with timed(remediation if remediation is not None else []):
        handled: list[Any] = rig.engine.cycle()
    return handled


def _profiler() -> Any:
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _report_profile(profiler: Any) -> None:
    import io
    import pstats

    profiler.disable()
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("cumulative").print_stats(45)
    print(buffer.getvalue(), file=sys.stderr)


def trim_heap(when: str) -> None:
    """Return the C heap's free pages to the system (glibc ``malloc_trim``)."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    before = rss_mb()
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        log(f"malloc_trim is not available ({name}): nothing trimmed {when}")
        return
    trim(0)
    log(f"malloc_trim {when}: RSS {before:.0f} MB -> {rss_mb():.0f} MB")


def _report_memory_sites(count: int) -> None:
    """The source lines whose allocations are still alive (traced since the first cycle)."""
    import gc
    import tracemalloc

    gc.collect()
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    stats = snapshot.statistics("lineno")
    total = sum(stat.size for stat in stats)
    print(f"traced memory alive after the timed cycles: {total / 2**20:.1f} MB", file=sys.stderr)
    for stat in stats[:count]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        print(f"{stat.size / 2**20:9.1f} MB {stat.count:9,d} blocks  {where}", file=sys.stderr)


# ------------------------------------------------------------------- state cost


def measure_state_cost(count: int = 200) -> dict[str, float]:
    """What one anomaly series costs to keep and to save, isolated from the cycle:
    resident KB per detector restored from its saved JSON, and milliseconds per
    series for ``Detector.state()``, one ``json.dumps`` and ``Ledger.put_guards``."""
    import json as jsonlib

    from agent.ledger import open_ledger
    from forecasting.anomaly import Detector, IncidentTracker

    shape = Shape(CLASSES)
    metrics = SyntheticMetrics(shape, 0.0)
    end = math.floor(time.time() / STEP) * STEP
    text = jsonlib.dumps(warmed_states(metrics, end)[0])
    before = rss_mb()
    detectors = [Detector.from_state(jsonlib.loads(text)) for _ in range(count)]
    kb_each = (rss_mb() - before) * 1024 / count
    began = time.process_time()
    states = [d.state() for d in detectors]
    state_ms = (time.process_time() - began) * 1000 / count
    began = time.process_time()
    for state in states:
        jsonlib.dumps(state, sort_keys=True)
    dumps_ms = (time.process_time() - began) * 1000 / count
    tracker = IncidentTracker().state()
    entries = [(f"s{i}", {"detector": st, "tracker": tracker}, 0) for i, st in enumerate(states)]
    with tempfile.TemporaryDirectory() as tmp:
        ledger = open_ledger(f"sqlite:///{tmp}/ledger.sqlite", end)
        wall, cpu = time.perf_counter(), time.process_time()
        ledger.put_guards(entries, end)
        put_wall = (time.perf_counter() - wall) * 1000 / count
        put_cpu = (time.process_time() - cpu) * 1000 / count
        ledger.close()
    return {
        "state_json_bytes": float(len(text)),
        "restored_detector_rss_kb": kb_each,
        "state_ms": state_ms,
        "json_dumps_ms": dumps_ms,
        "put_guards_wall_ms": put_wall,
        "put_guards_cpu_ms": put_cpu,
    }


# ----------------------------------------------------------------------------- report


def median(values: Sequence[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def fit_exponent(ns: Sequence[int], ys: Sequence[float]) -> float:
    """Slope of log(y) on log(N): 1 is linear growth, 2 quadratic."""
    if len(ns) < 2 or not all(math.isfinite(y) and y > 0 for y in ys):
        return float("nan")
    slope, _ = np.polyfit(np.log(ns), np.log(ys), 1)
    return float(slope)


def render(results: Sequence[Result]) -> str:
    lines = [
        "Time (seconds; one timed cycle = anomaly loop, with its share of detector states "
        "saved (a tenth, round robin), + scaling loop if present + remediation engine; "
        "'anomaly save()' = saving every state at once):",
        "",
        "| N | pods | seed | cache sync | first cycle | cycle wall median (min-max) "
        "| cycle CPU median | anomaly | scaling | remediation | anomaly save() | ms / workload |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        walls = [t.wall for t in r.cycles]
        lines.append(
            f"| {r.workloads:,} | {r.pods:,} | {r.seed_seconds:.1f} | {r.sync_seconds:.1f} "
            f"| {r.first_cycle.wall:.2f} | {median(walls):.3f} ({min(walls):.3f}-{max(walls):.3f}) "
            f"| {median([t.cpu for t in r.cycles]):.3f} "
            f"| {median([t.wall for t in r.anomaly]):.3f} "
            f"| {median([t.wall for t in r.scaling]) if r.scaling else float('nan'):.3f} "
            f"| {median([t.wall for t in r.remediation]):.3f} | {r.save.wall:.2f} "
            f"| {1000 * median(walls) / r.workloads:.2f} |"
        )
    lines += [
        "",
        "Resident memory of the daemon process (MB; the fake API server is another process):",
        "",
        "| N | after cache sync | peak in set-up | peak in first cycle | peak in timed cycles "
        "| peak in save() | peak overall |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.workloads:,} | {r.rss_after_sync_mb:.0f} | {r.peak_setup_mb:.0f} "
            f"| {r.peak_first_cycle_mb:.0f} "
            f"| {r.peak_cycles_mb:.0f} | {r.peak_save_mb:.0f} | {r.peak_rss_mb:.0f} |"
        )
    if len(results) >= 2:
        ns = [r.workloads for r in results]

        def exponent(pick: Callable[[Result], float]) -> str:
            return f"{fit_exponent(ns, [pick(r) for r in results]):.2f}"

        lines += [
            "",
            "Growth exponent b in y ~ N^b (least squares on log-log over all N):",
            "",
            "| quantity | b |",
            "|---|---:|",
            f"| cycle wall (median) | {exponent(lambda r: median([t.wall for t in r.cycles]))} |",
            f"| cycle CPU (median) | {exponent(lambda r: median([t.cpu for t in r.cycles]))} |",
            f"| anomaly loop | {exponent(lambda r: median([t.wall for t in r.anomaly]))} |",
            f"| scaling loop | {exponent(lambda r: median([t.wall for t in r.scaling]))} |",
            "| remediation engine | "
            f"{exponent(lambda r: median([t.wall for t in r.remediation]))} |",
            f"| peak RSS in timed cycles | {exponent(lambda r: r.peak_cycles_mb)} |",
        ]
    lines += ["", "Outcomes of the handled signals in the timed cycles:", ""]
    for r in results:
        lines.append(
            f"- N={r.workloads:,}: {dict(sorted(r.outcomes.items()))}; decisions in the ledger "
            f"{r.decisions:,}; points scored {r.points_scored:,}; scaling loop "
            + (
                f"included ({r.scaling_decisions:,} floor decisions, "
                f"{r.scaling_held:,} workloads held)"
                if r.scaling_included
                else "not included"
            )
        )
    return "\n".join(lines)


def run_child(
    n: int,
    repeats: int,
    profile: bool,
    start: float | None,
    scaling: bool,
    extra: Sequence[str] = (),
) -> Result:
    """Measure N in a fresh interpreter, so peak RSS belongs to that N alone."""
    command = [sys.executable, str(Path(__file__).resolve()), "--one", str(n), *extra]
    command += ["--repeats", str(repeats)] + (["--profile"] if profile else [])
    command += ["--start", str(start)] if start is not None else []
    command += [] if scaling else ["--no-scaling"]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    data = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("first_cycle", "save"):
        data[key] = Timing(**data[key])
    for key in ("cycles", "anomaly", "remediation", "scaling"):
        data[key] = [Timing(**t) for t in data[key]]
    return Result(**data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", default="100,1000,10000", help="comma-separated N")
    parser.add_argument("--repeats", type=int, default=5, help="timed cycles per N")
    parser.add_argument("--profile", action="store_true", help="cProfile the last cycle")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument(
        "--start",
        type=float,
        help="fake clock start, epoch seconds (default: now); fix it to compare two code "
        "versions on identical data (the spikes and noise follow the clock)",
    )
    parser.add_argument(
        "--no-scaling",
        action="store_true",
        help="leave the scaling loop out (its first cycle reads and fits a week per workload)",
    )
    parser.add_argument(
        "--state-cost",
        action="store_true",
        help="only measure what one anomaly series costs to keep in memory and to save",
    )
    parser.add_argument(
        "--memory-sites",
        type=int,
        default=0,
        metavar="K",
        help="trace allocations and print the K lines holding most memory (slow)",
    )
    parser.add_argument(
        "--trim-setup",
        action="store_true",
        help="malloc_trim the benchmark's own set-up residue before the first cycle",
    )
    parser.add_argument(
        "--warm-days",
        type=float,
        default=3.0,
        help="days of one-minute points each saved detector state has learnt (default 3: "
        "a full history ring; more shows a longer-running daemon, whose contextual "
        "memory keeps growing)",
    )
    parser.add_argument(
        "--refit-cycles",
        type=int,
        default=0,
        metavar="K",
        help="after the rest, time K cycles once the first cycle's fits are due a refit",
    )
    parser.add_argument(
        "--gap-hours",
        type=float,
        default=0.0,
        metavar="H",
        help="after the rest, jump the clock H hours and time one cycle (catching up)",
    )
    parser.add_argument(
        "--ledger-url",
        default="",
        metavar="URL",
        help="a PostgreSQL ledger (SQLAlchemy URL; a new schema per N) instead of SQLite",
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.refit_cycles < 0:
        parser.error(f"--refit-cycles must be 0 or more, got {args.refit_cycles}")
    if not (math.isfinite(args.warm_days) and 1 / 1440 <= args.warm_days <= 365):
        parser.error(f"--warm-days must be from one minute to 365 days, got {args.warm_days}")
    if not (math.isfinite(args.gap_hours) and 0 <= args.gap_hours <= 24 * 365):
        parser.error(f"--gap-hours must be from 0 to a year, got {args.gap_hours}")
    if args.ledger_url and not args.ledger_url.startswith("postgresql"):
        parser.error(f"--ledger-url must be a PostgreSQL URL, got {args.ledger_url!r}")
    global MEMORY_SITES, TRIM_SETUP, WARM_POINTS, REFIT_CYCLES, GAP_HOURS, LEDGER_URL
    MEMORY_SITES = args.memory_sites
    TRIM_SETUP = args.trim_setup
    REFIT_CYCLES = args.refit_cycles
    GAP_HOURS = args.gap_hours
    LEDGER_URL = args.ledger_url
    WARM_POINTS = round(args.warm_days * 1440)
    extra = (["--memory-sites", str(args.memory_sites)] if args.memory_sites else []) + (
        ["--trim-setup"] if args.trim_setup else []
    )
    extra += ["--warm-days", str(args.warm_days)]
    extra += ["--refit-cycles", str(args.refit_cycles)] if args.refit_cycles else []
    extra += ["--gap-hours", str(args.gap_hours)] if args.gap_hours else []
    extra += ["--ledger-url", args.ledger_url] if args.ledger_url else []
    if args.state_cost:
        for key, value in measure_state_cost().items():
            print(f"| {key} | {value:.1f} |")
        return 0
    if args.one is not None:
        result = measure(
            Shape(args.one), args.repeats, args.profile, args.start, scaling=not args.no_scaling
        )
        print(json.dumps(asdict(result)))
        return 0
    ns = [int(part.replace("_", "")) for part in args.workloads.split(",") if part.strip()]
    log(f"load average before: {os.getloadavg()}; cores visible: {os.cpu_count()}")
    results = []
    for n in ns:
        results.append(
            run_child(n, args.repeats, args.profile, args.start, not args.no_scaling, extra)
        )
        log(f"N={n:,} done; load average {os.getloadavg()}")
    table = render(results)
    print(table)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    log(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
