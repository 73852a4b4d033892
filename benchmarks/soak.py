"""Soak: `autonomic run` for a long time under a stream of injected faults; does it degrade?

    nice .venv/bin/python benchmarks/soak.py --minutes 20 --plot benchmarks/plots/soak.svg

What runs (what tests/integration/daemon starts, with its helpers): a real `autonomic run`
process in `act` mode, against the fake Kubernetes API server (tests/fakekube) with a
controller thread playing the Deployment controller and the kubelet
(tests/integration/remediation/rig.Controller), a real Debian `prometheus` on 127.0.0.1
fed every 15 s by remote write, the Slack stand-in (tests/fakeslack) whose clicks come
back signed to the daemon's /slack/interactions, Alertmanager's webhook, and a SQLite
ledger. Three opted-in Deployments in namespace `shop`; three soak runbooks written to the
work folder (the shipped ones wait 15 minutes to 1 hour between runs, too long to repeat
here): a stuck pod deleted, a Deployment crash-looping after a rollout rolled back, a
Deployment scaled out on a firing alert. Two anomaly queries read Prometheus.

The faults come on a schedule repeating every ``--period`` seconds (6 minutes by
default): a pod stuck not ready, a bad rollout, an alert firing then resolved, Prometheus
stopped then restarted, the API server answering 500s, hanging, and down, Slack
answering 429 and 500, the ledger file locked by another writer for a few seconds. Every
question posted to Slack is approved by a click a few seconds later.

Every ``--sample`` seconds it reads /proc/<pid> (threads, open file descriptors, RSS) and
the daemon's /metrics (each loop's run count, errors by kind), and prints a progress
line. At the end (SIGTERM, as Kubernetes stops a pod) it checks:

- every loop ran in the last quarter of the run;
- threads and fds: the second half's maximum is within a small bound of the first half's;
- RSS growth per hour over the second half (a least-squares slope);
- no action done twice: every write to a workload or pod in the fake API server's log is
  accounted for by one intent in the ledger (plus its undo); no pod deleted twice;
- every question ended (answered or expired) or is younger than its time to live;
- no intent left pending, the daemon exited 0.

With ``--probe`` the daemon runs under benchmarks/soak_probe.py, which reads memory from
inside it every ``--probe-every`` seconds: RSS and pymalloc's allocated blocks before and
after a full ``gc.collect()`` (what the collection frees was garbage waiting in reference
cycles; what stays is live), glibc malloc's and SQLite's bytes in use. The growth per hour
after collection is reported (least-squares slopes over the second half). With
``--trace-frames N`` it also runs ``tracemalloc`` from ``--trace-from`` seconds and, at
the end, lists the 15 allocation sites (file:line) that grew most since a baseline
snapshot at ``--baseline-at`` seconds, and the object types whose counts grew most.

``--daemon-env KEY=VALUE`` (repeatable) sets a variable in the daemon's environment only,
e.g. ``MALLOC_ARENA_MAX=2`` to compare glibc malloc's arena settings.

Prints a markdown table, writes a plot of threads/fds/RSS over time (``--plot``), and
exits 1 on any failed check.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "xoxb-1111-2222-s3cr3tbottoken"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
AM_TOKEN = "am-s3cret"
CHANNEL = "C0OPS"
APPROVER = "U0ALICE"
NAMESPACE = "shop"
WORKLOADS = {"web": 3, "api": 3, "worker": 2}
QUESTION_TTL = 120.0
THREAD_BOUND = 4  # the second half's maximum may exceed the first half's by this much
FD_BOUND = 8
RSS_BOUND = 20.0  # MiB per hour over the second half
LOOPS_EXPECTED = ("remediation", "remediation-takeover", "anomaly", "scaling", "canary")

RUNBOOKS = {
    "soak-stuck-pod.yaml": """
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  {name: soak-stuck-pod, description: Delete a pod stuck not ready., version: 1, owner: soak}
spec:
  mode: enforce
  maxAutonomy: auto
  triggers: [{type: kubernetes, condition: PodNotReady, heldFor: 20s}]
  target:
    kind: Pod
    requireLabels: {autonomic.dev/enabled: "true"}
  actions: [{type: deletePod, reasons: [NotReady, Unknown], maxPods: 1}]
  verification:
    settle: 10s
    window: 90s
    interval: 10s
    checks: [{type: kubernetes, condition: podsReady}]
  onFailure: {undo: false, escalate: true}
  guards:
    cooldownPerTarget: 30s
    maxActionsPerTarget: {count: 100, within: 1h}
    maxActionsPerHour: 100
    maxConcurrent: 2
    blastRadius: {maxTargets: 1, minHealthyFraction: 0.3}
    circuitBreaker: {failures: 5, openFor: 5m}
""",
    "soak-crashloop-rollback.yaml": """
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: soak-crashloop-rollback
  description: Roll back a crash-looping rollout.
  version: 1
  owner: soak
spec:
  mode: enforce
  maxAutonomy: auto
  triggers: [{type: kubernetes, condition: CrashLoopBackOff, minCount: 3}]
  target:
    kind: Deployment
    requireLabels: {autonomic.dev/enabled: "true"}
  preconditions: [{type: changedWithin, within: 30m}]
  actions: [{type: rollback}]
  verification:
    settle: 10s
    window: 90s
    interval: 10s
    checks:
      - {type: kubernetes, condition: deploymentAvailable}
      - {type: kubernetes, condition: noCrashLoop}
  onFailure: {undo: true, escalate: true}
  guards:
    cooldownPerTarget: 1m
    maxActionsPerTarget: {count: 100, within: 1h}
    maxActionsPerHour: 100
    maxConcurrent: 2
    blastRadius: {maxTargets: 1, minHealthyFraction: 0.0}
    circuitBreaker: {failures: 5, openFor: 5m}
""",
    "soak-alert-scale.yaml": """
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata: {name: soak-alert-scale, description: Scale out on SoakHighLoad., version: 1, owner: soak}
spec:
  mode: enforce
  maxAutonomy: auto
  triggers: [{type: alert, alertname: SoakHighLoad}]
  target:
    kind: Deployment
    requireLabels: {autonomic.dev/enabled: "true"}
  actions: [{type: scale, factor: 1.5, maxReplicas: 6}]
  verification:
    settle: 10s
    window: 90s
    interval: 10s
    checks: [{type: kubernetes, condition: podsReady}]
  onFailure: {undo: true, escalate: true}
  guards:
    cooldownPerTarget: 1m
    maxActionsPerTarget: {count: 100, within: 1h}
    maxActionsPerHour: 100
    maxConcurrent: 2
    blastRadius: {maxTargets: 1, minHealthyFraction: 0.0}
    circuitBreaker: {failures: 5, openFor: 5m}
""",
}


def _log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- sampling


@dataclass
class Sample:
    at: float  # seconds since the daemon started
    threads: int
    fds: int
    rss_mb: float
    loops: dict[str, float]  # autonomic_loop_duration_seconds_count by loop
    errors: dict[str, float]  # autonomic_errors_total by kind
    leader: float


@dataclass
class ProbeSample:
    """One line of soak_probe.py's probe.jsonl: figures before and after a full collection."""

    at: float  # seconds since the daemon started (its own clock)
    rss_mb: float
    blocks: int  # sys.getallocatedblocks() before the collection
    gc_count: list[int]
    collected: int  # unreachable objects the collection found
    gc_seconds: float
    rss_after_mb: float
    blocks_after: int
    objects_after: int  # objects the cyclic collector tracks, after it
    malloc_in_use_mb: float | None = None
    malloc_free_mb: float | None = None
    sqlite_mb: float | None = None
    traced_mb: float | None = None
    tracemalloc_overhead_mb: float | None = None


def read_probe(folder: Path) -> list[ProbeSample]:
    path = folder / "probe.jsonl"
    if not path.exists():
        return []
    samples = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError, TypeError):
            samples.append(ProbeSample(**json.loads(line)))
    return samples


def proc_sample(pid: int) -> tuple[int, int, float]:
    """(threads, open file descriptors, RSS in MiB) of ``pid``, from /proc."""
    threads, rss = 0, 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            threads = int(line.split()[1])
        elif line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return threads, len(os.listdir(f"/proc/{pid}/fd")), rss


def ledger_counts(path: Path) -> dict[str, int]:
    """Rows in each table of the SQLite ledger, read-only (empty while it is locked)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return {}
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]  # names listed
            for name in names
            if name != "schema_version"
        }
    except sqlite3.Error:
        return {}
    finally:
        conn.close()


def scrape(base: str) -> tuple[dict[str, float], dict[str, float], float] | None:
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    loops = {
        m[1]: float(m[2])
        for m in re.finditer(
            r'^autonomic_loop_duration_seconds_count\{loop="([^"]+)"\} (\S+)$', text, re.M
        )
    }
    errors = {
        m[1]: float(m[2])
        for m in re.finditer(r'^autonomic_errors_total\{kind="([^"]+)"\} (\S+)$', text, re.M)
    }
    leader = re.search(r"^autonomic_leader (\S+)$", text, re.M)
    return loops, errors, float(leader[1]) if leader else 0.0


# ----------------------------------------------------------------- the write log

REPORT_WRITES: set[int] = set()  # arrival numbers of the daemon's annotation-only patches


def note_reports() -> None:
    """Mark, in the fake API server's log, the patches that only write ``autonomic.dev/``
    annotations: the scaling loop's reports on a workload (``Executor.report``), which
    are no action and have no intent. The fake's request log has no bodies, so its
    handler's body reader and logger are wrapped here."""
    from unittest import mock

    from tests.fakekube import server as fake

    read_body, log_pending = fake._Handler._read_body, fake._Handler._log_pending

    def read(self: Any) -> Any:
        body = read_body(self)
        meta = body.get("metadata") if isinstance(body, dict) else None
        self._soak_report = (
            isinstance(meta, dict)
            and set(body) == {"metadata"}
            and set(meta) == {"annotations"}
            and all(key.startswith("autonomic.dev/") for key in meta["annotations"] or {})
        )
        return body

    def log(self: Any, status: int) -> None:
        if self._pending is not None and getattr(self, "_soak_report", False):
            REPORT_WRITES.add(self._pending.seq)
        log_pending(self, status)

    # Wrapped for the rest of the process (one soak run): the patches are never stopped.
    mock.patch.object(fake._Handler, "_read_body", read).start()
    mock.patch.object(fake._Handler, "_log_pending", log).start()


# --------------------------------------------------------------------------- faults


@dataclass
class World:
    """Everything the soak runs beside the daemon."""

    kube: Any
    slack: Any
    prometheus: Any
    controller: Any
    ledger_path: Path
    base: str  # the daemon's HTTP server
    rng: random.Random
    ledger_lock: float = 5.0  # seconds the ledger file is held locked
    faults: Counter[str] = field(default_factory=Counter)
    clicked: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- the cluster
    def reconcile(self) -> None:
        with self.lock:
            for name in WORKLOADS:
                with contextlib.suppress(Exception):  # a race with the daemon: next round
                    self.controller.reconcile(NAMESPACE, name)

    def stick_a_pod(self) -> None:
        from tests.integration.remediation.rig import rfc3339

        with self.lock:
            pods = [
                p
                for p in self.kube.store.objects("Pod", NAMESPACE)
                if p["metadata"]["labels"].get("app") in ("web", "worker")
            ]
            if not pods:
                return
            pod = self.rng.choice(pods)

            def stuck(obj: dict[str, Any]) -> None:
                status = obj.setdefault("status", {})
                status["phase"] = "Running"
                for condition in status.get("conditions", []):
                    if condition["type"] == "Ready":
                        condition.update(status="False", lastTransitionTime=rfc3339(time.time()))
                for container in status.get("containerStatuses", []):
                    container["ready"] = False

            self.kube.store.modify("Pod", NAMESPACE, pod["metadata"]["name"], stuck)
        self.faults["pod stuck not ready"] += 1

    def bad_rollout(self) -> None:
        """A new image on `api` whose pods crash-loop."""
        with self.lock:

            def roll(obj: dict[str, Any]) -> None:
                container = obj["spec"]["template"]["spec"]["containers"][0]
                container["image"] = f"shop/api:bad-{self.faults['bad rollout'] + 1}"

            self.kube.store.modify("Deployment", NAMESPACE, "api", roll)
        self.faults["bad rollout"] += 1

    def reset_web(self) -> None:
        """The team scales `web` back to its usual size (another actor, not logged)."""
        with self.lock:
            self.kube.store.modify(
                "Deployment", NAMESPACE, "web", lambda o: o["spec"].update(replicas=3)
            )

    def alert(self, status: str) -> None:
        fingerprint = f"soak{self.faults['alert firing']}"
        body = json.dumps(
            {
                "version": "4",
                "groupKey": '{}:{alertname="SoakHighLoad"}',
                "status": status,
                "receiver": "autonomic",
                "alerts": [
                    {
                        "status": status,
                        "labels": {
                            "alertname": "SoakHighLoad",
                            "namespace": NAMESPACE,
                            "deployment": "web",
                            "severity": "warning",
                        },
                        "annotations": {},
                        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "fingerprint": fingerprint,
                    }
                ],
            }
        ).encode()
        request = urllib.request.Request(
            f"{self.base}/webhooks/alertmanager",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {AM_TOKEN}"},
        )
        for _ in range(10):  # Alertmanager retries a 5xx
            try:
                with urllib.request.urlopen(request, timeout=5):
                    break
            except (urllib.error.HTTPError, OSError):
                time.sleep(3)
        self.faults[f"alert {status}"] += 1

    # --- Prometheus
    def prometheus_down(self, seconds: float) -> None:
        self.prometheus.stop()
        self.faults["prometheus stopped"] += 1
        time.sleep(seconds)
        self.prometheus.start()

    # --- the API server
    def api_500s(self) -> None:
        self.kube.inject(r".*", times=30, status=500)
        self.faults["API 500s (30 requests)"] += 1

    def api_hang(self) -> None:
        self.kube.inject(r".*/pods.*", method="GET", times=3, delay=20.0)
        self.kube.inject(r".*/leases/.*", times=2, delay=8.0)
        self.faults["API hangs (20 s and 8 s)"] += 1

    def api_down(self, seconds: float) -> None:
        self.kube.go_down()
        self.faults["API server down"] += 1
        time.sleep(seconds)
        self.kube.come_back()

    # --- Slack
    def slack_faults(self) -> None:
        for method in ("chat.postMessage", "chat.update"):
            self.slack.fail_next(method, 429, times=2, retry_after=1)
            self.slack.fail_next(method, 500, times=2)
        self.faults["Slack 429 and 500"] += 1

    # --- the ledger
    def lock_ledger(self, seconds: float) -> None:
        conn = sqlite3.connect(self.ledger_path, timeout=30)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            self.faults[f"ledger locked {seconds:g} s"] += 1
            time.sleep(seconds)
            conn.rollback()
        finally:
            conn.close()

    # --- the on-call
    def click_questions(self) -> None:
        from tests.fakeslack import block_actions_payload, post, signed_interaction

        with self.slack._lock:
            messages = list(self.slack.messages.values())
        for message in messages:
            for block in message.blocks:
                for element in block.get("elements", []) or []:
                    if element.get("action_id") != "autonomic_approve":
                        continue
                    question = element.get("value")
                    if not question or question in self.clicked:
                        continue
                    payload = block_actions_payload(
                        question,
                        "approve",
                        user_id=APPROVER,
                        channel_id=message.channel,
                        message_ts=message.ts,
                        action_ts=time.time(),
                    )
                    body, headers = signed_interaction(payload, SECRET, int(time.time()))
                    status, _ = post(f"{self.base}/slack/interactions", body, headers)
                    if status == 200:
                        self.clicked.add(question)
                        self.faults["approvals clicked"] += 1


SCHEDULE: tuple[tuple[float, str], ...] = (
    # (seconds into each period, fault)
    (20, "stick"),
    (40, "rollout"),
    (70, "alert-firing"),
    (100, "stick"),
    (110, "prometheus"),
    (170, "api-500"),
    (185, "alert-resolved"),
    (200, "stick"),
    (215, "api-hang"),
    (250, "api-down"),
    (270, "slack"),
    (280, "reset-web"),
    (300, "ledger-lock"),
    (320, "stick"),
)


def run_fault(world: World, name: str) -> None:
    actions: dict[str, Any] = {
        "stick": world.stick_a_pod,
        "rollout": world.bad_rollout,
        "alert-firing": lambda: world.alert("firing"),
        "alert-resolved": lambda: world.alert("resolved"),
        "prometheus": lambda: world.prometheus_down(45),
        "api-500": world.api_500s,
        "api-hang": world.api_hang,
        "api-down": lambda: world.api_down(15),
        "slack": world.slack_faults,
        "reset-web": world.reset_web,
        "ledger-lock": lambda: world.lock_ledger(world.ledger_lock),
    }
    try:
        actions[name]()
    except Exception as exc:  # a fault that failed to inject is reported, not fatal
        _log(f"fault {name} failed to inject: {exc!r}")
        world.faults[f"{name} (failed to inject)"] += 1


# ------------------------------------------------------------------------- the stack


def feed_prometheus(url: str, stop: threading.Event, rng: random.Random) -> None:
    """Counters for each Deployment every 15 s, as a scrape would give, by remote write."""
    from tests.harness.remote_write import remote_write

    totals = dict.fromkeys(WORKLOADS, 0.0)
    while not stop.is_set():
        now = time.time()
        series = []
        for name in WORKLOADS:
            rate = 50 + 20 * rng.random() + (200 if rng.random() < 0.02 else 0)
            totals[name] += rate * 15
            series.append(
                (
                    {
                        "__name__": "http_requests_total",
                        "namespace": NAMESPACE,
                        "deployment": name,
                        "code": "200",
                    },
                    [(now, totals[name])],
                )
            )
        with contextlib.suppress(Exception):  # Prometheus is down: this scrape is lost
            remote_write(url, series)
        stop.wait(15)


def write_config(work: Path, kube_url: str, prom_url: str, slack_url: str, port: int) -> Path:
    runbooks = work / "runbooks"
    runbooks.mkdir()
    for name, text in RUNBOOKS.items():
        (runbooks / name).write_text(text.lstrip())
    (work / "am-token").write_text(AM_TOKEN)
    cfg = work / "autonomic.yaml"
    cfg.write_text(
        f"""
mode: act
# The soak's runbooks keep their own short cooldowns; the global 10 min and 20 actions
# an hour would hold most of the repeated faults back.
safety: {{cooldown: 30s, maxActionsPerHour: 500, maxPodsDisruptedPerHour: 1000}}
prometheus: {{url: "{prom_url}", timeout: 5s}}
ledger: {{url: "sqlite:///{work / "ledger.sqlite"}"}}
leaderElection: {{namespace: autonomic, leaseDuration: 6s, renewDeadline: 4s, retryPeriod: 1s}}
server: {{host: 127.0.0.1, port: {port}}}
runbooks: [{runbooks}]
alertmanager: {{enabled: true, token: {{file: {work / "am-token"}}}}}
slack:
  enabled: true
  botToken: {{env: SLACK_BOT}}
  signingSecret: {{env: SLACK_SIGNING}}
  channel: {CHANNEL}
  approvers: [{APPROVER}]
  receive: http
  questionTTL: {QUESTION_TTL:.0f}s
  baseURL: "{slack_url}/api/"
anomalyQueries:
  - name: rps-by-deployment
    expr: 'sum by (deployment) (rate(http_requests_total{{namespace="shop"}}[1m]))'
    step: 15s
  - {{name: rps-total, expr: 'sum(rate(http_requests_total[1m]))', step: 15s}}
"""
    )
    del kube_url
    return cfg


def seed_cluster(kube: Any) -> Any:
    from agent.clock import SystemClock
    from tests.integration.remediation.rig import Controller, seed_nodes, seed_web

    clock: Any = SystemClock()

    class _Rig:  # the two attributes the seed helpers read
        def __init__(self) -> None:
            self.server, self.clock = kube, clock

    rig: Any = _Rig()
    seed_nodes(rig, 3)
    for name, replicas in WORKLOADS.items():
        seed_web(rig, name=name, replicas=replicas, images=(f"shop/{name}:1", f"shop/{name}:2"))
    kube.store.modify(
        "Deployment",
        NAMESPACE,
        "worker",
        lambda o: (
            o["metadata"]
            .setdefault("annotations", {})
            .update({"autonomic.dev/predictive": "true", "autonomic.dev/capacity-per-pod": "20"})
        ),
    )

    def behaviour(container: dict[str, Any]) -> str:
        return "CrashLoopBackOff" if ":bad-" in container["image"] else "Ready"

    # heal=False: a pod made stuck stays stuck until the daemon deletes it
    return Controller(kube, clock, behaviour, nodes=("node-1", "node-2", "node-3"), heal=False)


# ----------------------------------------------------------------------------- checks


@dataclass
class Report:
    minutes: float
    samples: list[Sample]
    faults: Counter[str]
    checks: list[tuple[str, str, bool]] = field(default_factory=list)  # (check, figure, ok)
    ledger_rows: dict[str, int] = field(default_factory=dict)
    ledger_over_time: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    actions: Counter[str] = field(default_factory=Counter)
    exit_code: int | None = None
    probe: list[ProbeSample] = field(default_factory=list)
    probe_final: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, figure: str, ok: bool) -> None:
        self.checks.append((name, figure, ok))

    @property
    def ok(self) -> bool:
        return all(ok for _n, _f, ok in self.checks)


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / sxx * 3600


def check_resources(report: Report) -> None:
    samples = report.samples
    warm = [s for s in samples if s.at >= 60]  # start-up (imports, first fits) excluded
    half = len(warm) // 2
    first, second = warm[:half], warm[half:]
    if not first or not second:
        report.check("resources sampled", f"{len(samples)} samples", False)
        return
    for what, get, bound in (
        ("threads", lambda s: s.threads, THREAD_BOUND),
        ("open fds", lambda s: s.fds, FD_BOUND),
    ):
        a, b = max(map(get, first)), max(map(get, second))
        report.check(
            f"{what}: second half's max within {bound} of the first half's",
            f"{a} -> {b}",
            b - a <= bound,
        )
    first_rss = sorted(s.rss_mb for s in first)[len(first) // 2]
    second_rss = sorted(s.rss_mb for s in second)[len(second) // 2]
    growth = slope_per_hour([(s.at, s.rss_mb) for s in second])
    span = second[-1].at - second[0].at
    # Over a few minutes the slope is mostly the allocator settling: judged from 5 minutes.
    report.check(
        f"RSS growth over the second half (under {RSS_BOUND:.0f} MiB/h"
        + (", not judged: under 5 min)" if span < 300 else ")"),
        f"median {first_rss:.1f} -> {second_rss:.1f} MiB; slope {growth:+.1f} MiB/h "
        f"over {span / 60:.1f} min",
        span < 300 or growth < RSS_BOUND,
    )


def memory_after_collection(report: Report) -> list[str]:
    """Markdown: the probe's figures at the start, middle and end and the slopes per hour
    over the second half, before and after each full collection; the allocation sites and
    object types that grew."""
    warm = [p for p in report.probe if p.at >= 60]
    if len(warm) < 2:
        return []
    second = warm[len(warm) // 2 :]
    picks = (warm[0], warm[len(warm) // 2], warm[-1])
    rows: list[tuple[str, Any]] = [
        ("RSS MiB before the collection", lambda p: p.rss_mb),
        ("RSS MiB after it", lambda p: p.rss_after_mb),
        ("pymalloc blocks before (thousands)", lambda p: p.blocks / 1000),
        ("pymalloc blocks after (thousands)", lambda p: p.blocks_after / 1000),
        ("objects the collector tracks, after (thousands)", lambda p: p.objects_after / 1000),
        ("unreachable objects the collection freed", lambda p: p.collected),
        ("glibc malloc in use MiB", lambda p: p.malloc_in_use_mb),
        ("SQLite MiB", lambda p: p.sqlite_mb),
        ("tracemalloc: traced MiB", lambda p: p.traced_mb),
        ("tracemalloc: its own MiB", lambda p: p.tracemalloc_overhead_mb),
    ]
    span = (second[-1].at - second[0].at) / 60
    lines = [
        "",
        f"| memory (probe, every sample a full gc.collect()) | {picks[0].at / 60:.0f} min | "
        f"{picks[1].at / 60:.0f} min | {picks[2].at / 60:.0f} min | per hour over the "
        f"second half ({span:.0f} min) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, get in rows:
        if any(get(p) is None for p in second):
            continue  # not read (tracemalloc off, or not started yet at the start)
        values = " | ".join("-" if get(p) is None else f"{float(get(p)):.1f}" for p in picks)
        if name.startswith("unreachable"):  # a count at each collection, not a level
            total = sum(p.collected for p in second)
            lines.append(f"| {name} | {values} | {total / max(span, 1) * 60:.0f} freed |")
            continue
        slope = slope_per_hour([(p.at, float(get(p))) for p in second])
        lines.append(f"| {name} | {values} | {slope:+.2f} |")
    final = report.probe_final
    if final.get("top_growth"):
        lines += [
            "",
            f"| allocation site (tracemalloc, growth since {final['baseline_at'] / 60:.0f} min) "
            "| KiB grown | KiB at end | blocks grown |",
            "|---|---:|---:|---:|",
        ]
        for stat in final["top_growth"]:
            lines.append(
                f"| {_short(stat['site'])} | {stat['size_diff_kib']:+.1f} | {stat['size_kib']:.1f} "
                f"| {stat['count_diff']:+d} |"
            )
    if final.get("types_grown"):
        lines += ["", "| object type | grew by | count at baseline |", "|---|---:|---:|"]
        lines += [f"| {name} | {n:+d} | {was} |" for name, n, was in final["types_grown"]]
    return lines


def _short(site: str) -> str:
    """A file:line relative to the repository or to site-packages/the standard library."""
    for root in (str(ROOT) + "/", "site-packages/"):
        if root in site:
            return site.split(root, 1)[1]
    return re.sub(r".*/lib/python3\.\d+/", "", site)


def check_loops(report: Report) -> None:
    samples = [s for s in report.samples if s.loops]
    if len(samples) < 4:
        report.check("every loop still cycling", "too few /metrics samples", False)
        return
    last = samples[-1]
    # the last quarter, and at least 150 s: two periods of the slowest loops (1 min)
    window = max(last.at / 4, 150.0)
    quarter = next(s for s in samples if s.at >= last.at - window)
    for loop in sorted(set(LOOPS_EXPECTED) | set(last.loops)):
        if loop in ("housekeeping", "slack-approvers"):
            continue  # hourly: once at start in a short run
        runs = last.loops.get(loop, 0.0) - quarter.loops.get(loop, 0.0)
        report.check(
            f"loop {loop} ran in the last {window / 60:.1f} min",
            f"{runs:.0f} runs ({last.loops.get(loop, 0):.0f} in all)",
            runs > 0,
        )


def check_ledger_and_writes(report: Report, ledger_path: Path, kube: Any, ended: float) -> None:
    from agent.ledger import open_ledger

    engine = sqlite3.connect(ledger_path)
    try:
        for table in (
            "decisions",
            "questions",
            "executions",
            "intents",
            "feedback",
            "alerts",
            "action_log",
            "anomaly_series",
        ):
            with contextlib.suppress(sqlite3.Error):
                report.ledger_rows[table] = engine.execute(
                    f"SELECT count(*) FROM {table}"  # fixed table names
                ).fetchone()[0]
        questions = engine.execute(
            "SELECT id, status, asked_at, expires_at FROM questions"
        ).fetchall()
    finally:
        engine.close()
    open_questions = [q for q in questions if q[1] in ("pending", "snoozed") and q[3] < ended - 60]
    report.check(
        "every question ended (answered or expired) or is within its TTL",
        f"{len(questions)} asked; {Counter(q[1] for q in questions)}; "
        f"{len(open_questions)} open past their expiry",
        not open_questions,
    )
    report.ledger_over_time.append(
        (report.samples[-1].at if report.samples else 0.0, ledger_counts(ledger_path))
    )
    ledger = open_ledger(f"sqlite:///{ledger_path}", time.time(), migrate=False)
    try:
        intents = ledger.intents()
    finally:
        ledger.close()
    from benchmarks.crash_harness import _object_of

    allowed: Counter[tuple[str, str, str]] = Counter()
    pending = []
    for intent in intents:
        report.actions[f"{intent.operation['op']} {intent.status}"] += 1
        allowed[_object_of(intent.operation)] += 1 + (intent.status == "undone")
        if intent.status == "pending":
            pending.append(intent.id)
    writes: Counter[tuple[str, str, str]] = Counter()
    reports = 0
    for r in kube.requests:
        if r.verb not in ("create", "update", "patch", "delete") or not 200 <= r.status < 300:
            continue
        if r.resource in ("events", "leases") or r.dry_run:
            continue
        if r.seq in REPORT_WRITES:
            reports += 1
            continue
        writes[(r.resource, r.namespace, r.name)] += 1
    extra = {obj: n - allowed[obj] for obj, n in writes.items() if n > allowed[obj]}
    report.check(
        "no action done twice (API writes vs ledger intents)",
        f"{sum(writes.values())} writes (and {reports} annotation reports), "
        f"{len(intents)} intents; "
        f"{sum(extra.values())} unaccounted{': ' + str(extra) if extra else ''}",
        not extra,
    )
    report.check("no intent left pending", f"{len(pending)} pending", not pending)


# ------------------------------------------------------------------------------ output


def table(report: Report) -> str:
    lines = ["| check | figure | result |", "|---|---|---|"]
    for name, figure, ok in report.checks:
        lines.append(f"| {name} | {figure} | {'ok' if ok else 'FAILED'} |")
    lines += ["", "| fault injected | times |", "|---|---:|"]
    lines += [f"| {name} | {n} |" for name, n in sorted(report.faults.items())]
    lines += ["", "| action (intent status) | count |", "|---|---:|"]
    lines += [f"| {name} | {n} |" for name, n in sorted(report.actions.items())]
    over = [(at, rows) for at, rows in report.ledger_over_time if rows]
    if len(over) >= 2:
        (t0, first), (t1, last_rows) = over[0], over[-1]
        lines += [
            "",
            f"| ledger table | rows at {t0 / 60:.0f} min | rows at {t1 / 60:.0f} min | "
            "rows per hour |",
            "|---|---:|---:|---:|",
        ]
        for name in sorted(last_rows):
            a, b = first.get(name, 0), last_rows[name]
            per_hour = (b - a) / max(t1 - t0, 1) * 3600
            lines.append(f"| {name} | {a} | {b} | {per_hour:.0f} |")
    else:
        lines += ["", "| ledger table | rows |", "|---|---:|"]
        lines += [f"| {name} | {n} |" for name, n in report.ledger_rows.items()]
    if report.samples:
        last = report.samples[-1]
        lines += ["", "| error kind (autonomic_errors_total) | count |", "|---|---:|"]
        lines += [f"| {k} | {v:.0f} |" for k, v in sorted(last.errors.items())]
        lines += ["", "| resources | start (1 min) | middle | end |", "|---|---:|---:|---:|"]
        warm = [s for s in report.samples if s.at >= 60] or report.samples
        picks = (warm[0], warm[len(warm) // 2], warm[-1])
        lines.append("| threads | " + " | ".join(str(s.threads) for s in picks) + " |")
        lines.append("| open fds | " + " | ".join(str(s.fds) for s in picks) + " |")
        lines.append("| RSS MiB | " + " | ".join(f"{s.rss_mb:.1f}" for s in picks) + " |")
    lines += memory_after_collection(report)
    return "\n".join(lines)


def plot(report: Report, path: Path) -> None:
    from agent.charts import PALETTE, Chart, Line

    xs = [s.at / 60 for s in report.samples]
    charts = [
        Chart(
            "autonomic run under faults: threads and open file descriptors",
            "count",
            lines=[
                Line("threads", xs, [s.threads for s in report.samples], PALETTE[0]),
                Line("open fds", xs, [s.fds for s in report.samples], PALETTE[1]),
            ],
            x_axis="value",
            x_label="minutes since start",
        ),
        Chart(
            "autonomic run under faults: resident memory",
            "MiB",
            lines=[Line("RSS", xs, [s.rss_mb for s in report.samples], PALETTE[2])]
            + (
                [
                    Line(
                        "RSS after a full gc.collect() (probe)",
                        [p.at / 60 for p in report.probe],
                        [p.rss_after_mb for p in report.probe],
                        PALETTE[3],
                        dots=True,
                    )
                ]
                if report.probe
                else []
            ),
            x_axis="value",
            x_label="minutes since start",
        ),
    ]
    if report.probe:
        px = [p.at / 60 for p in report.probe]
        charts.append(
            Chart(
                "pymalloc's allocated blocks, before and after a full gc.collect()",
                "thousands of blocks",
                lines=[
                    Line("before", px, [p.blocks / 1000 for p in report.probe], PALETTE[4]),
                    Line("after", px, [p.blocks_after / 1000 for p in report.probe], PALETTE[5]),
                ],
                x_axis="value",
                x_label="minutes since start",
            )
        )
    parts = [chart.document() for chart in charts]
    # Two charts stacked in one SVG file: each document's <svg> nested in an outer one.
    height = sum(chart.height for chart in charts)
    inner, offset = [], 0
    for chart, doc in zip(charts, parts, strict=True):
        body = doc.split("\n", 1)[1]  # drop the XML declaration
        inner.append(body.replace("<svg ", f'<svg y="{offset}" ', 1))
        offset += chart.height
    width = max(chart.width for chart in charts)
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">\n'
        + "\n".join(inner)
        + "\n</svg>\n"
    )
    _log(f"plot written to {path}")


# -------------------------------------------------------------------------------- main


def parse_env(pairs: list[str]) -> dict[str, str]:
    """`--daemon-env KEY=VALUE` items as a mapping; a later KEY wins."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"--daemon-env {pair!r}: expected KEY=VALUE, e.g. MALLOC_ARENA_MAX=2")
        env[key] = value
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="how long the daemon runs")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--period", type=float, default=360.0, help="the fault schedule's period")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--ledger-lock",
        type=float,
        default=5.0,
        help="seconds another writer holds the SQLite ledger locked, once a period (the "
        "daemon's busy timeout is 30 s)",
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="run the daemon under benchmarks/soak_probe.py: memory before and after a full "
        "gc.collect() every --probe-every seconds",
    )
    parser.add_argument("--probe-every", type=float, default=60.0)
    parser.add_argument(
        "--trace-frames",
        type=int,
        default=0,
        help="with --probe: run tracemalloc with this many frames and list the allocation "
        "sites that grew between --baseline-at and the end",
    )
    parser.add_argument("--trace-from", type=float, default=120.0, help="seconds; tracemalloc")
    parser.add_argument(
        "--baseline-at", type=float, default=300.0, help="seconds; the baseline snapshot"
    )
    parser.add_argument(
        "--daemon-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set this variable in the daemon's environment only (repeatable), e.g. "
        "MALLOC_ARENA_MAX=2",
    )
    parser.add_argument("--plot", type=Path, help="write threads/fds/RSS over time here (SVG)")
    parser.add_argument("--json", type=Path, help="write the samples and checks here")
    parser.add_argument("--keep", type=Path, help="keep the work folder (daemon log, ledger) here")
    parser.add_argument(
        "--replot", type=Path, help="only redraw --plot from the samples of an earlier --json"
    )
    args = parser.parse_args(argv)
    if args.replot:
        if not args.plot:
            parser.error("--replot needs --plot")
        saved = json.loads(args.replot.read_text())
        old = Report(0, [Sample(**s) for s in saved["samples"]], Counter())
        old.probe = [ProbeSample(**p) for p in saved.get("probe", [])]
        plot(old, args.plot)
        return 0
    if args.minutes <= 0:
        parser.error("--minutes must be more than 0")
    try:
        extra_env = parse_env(args.daemon_env)
    except ValueError as exc:
        parser.error(str(exc))
    if args.trace_frames and not args.probe:
        parser.error("--trace-frames needs --probe")
    scale = min(1.0, args.minutes * 60 / args.period)  # a short run fits a shorter schedule
    period = args.period * scale if args.minutes * 60 < args.period else args.period

    from tests.fakekube import start_fake_apiserver
    from tests.fakeslack import start_fake_slack
    from tests.harness.servers import free_port, openmetrics, prometheus_server

    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        os.environ.pop(name, None)
    rng = random.Random(args.seed)
    work = args.keep or Path(tempfile.mkdtemp(prefix="autonomic-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    note_reports()
    # cut connections are expected here: no tracebacks from the fake's handler threads
    kube = start_fake_apiserver(quiet_errors=True)
    controller = seed_cluster(kube)
    slack = start_fake_slack(token=TOKEN)
    backfill = openmetrics(
        [
            (
                "http_requests_total",
                {"namespace": NAMESPACE, "deployment": "web", "code": "200"},
                [(time.time() - 7200 + 60 * i, 100.0 * i) for i in range(60)],
            )
        ]
    )
    stop = threading.Event()
    report = Report(args.minutes, [], Counter())
    daemon: subprocess.Popen[bytes] | None = None
    threads: list[threading.Thread] = []
    with prometheus_server(backfill) as prometheus:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cfg = write_config(work, kube.url, prometheus.url, slack.url, port)
        world = World(kube, slack, prometheus, controller, work / "ledger.sqlite", base, rng)
        world.ledger_lock = args.ledger_lock
        log_path = work / "daemon.log"
        probe_dir = work / "probe"
        env = {
            **os.environ,
            "POD_NAME": "autonomic-0",
            "SLACK_BOT": TOKEN,
            "SLACK_SIGNING": SECRET,
            "PYTHONPATH": str(ROOT),
            **extra_env,
        }
        try:
            with log_path.open("wb") as log_file:
                probe = (
                    [
                        str(ROOT / "benchmarks" / "soak_probe.py"),
                        "--dir",
                        str(probe_dir),
                        "--every",
                        str(args.probe_every),
                        "--trace-frames",
                        str(args.trace_frames),
                        "--trace-from",
                        str(args.trace_from),
                        "--baseline-at",
                        str(args.baseline_at),
                        "--",
                    ]
                    if args.probe
                    else ["-m", "agent"]
                )
                daemon = subprocess.Popen(
                    [
                        sys.executable,
                        *probe,
                        "run",
                        "--config",
                        str(cfg),
                        "--kube-host",
                        kube.url,
                    ],
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=ROOT,
                )
            _log(
                f"daemon pid {daemon.pid}, work folder {work}, {args.minutes:g} minutes, "
                f"faults every {period:.0f} s" + "".join(f", {k}={v}" for k, v in extra_env.items())
            )

            def every(seconds: float, fn: Any) -> None:
                def loop() -> None:
                    while not stop.wait(seconds):
                        with contextlib.suppress(Exception):
                            fn()

                thread = threading.Thread(target=loop, daemon=True)
                thread.start()
                threads.append(thread)

            every(1.0, world.reconcile)
            every(3.0, world.click_questions)
            feeder = threading.Thread(
                target=feed_prometheus, args=(prometheus.url, stop, rng), daemon=True
            )
            feeder.start()
            threads.append(feeder)

            def faults() -> None:
                start = time.monotonic()
                k = 0
                while not stop.is_set():
                    for offset, name in SCHEDULE:
                        due = start + k * period + offset * period / args.period
                        if stop.wait(max(0.0, due - time.monotonic())):
                            return
                        _log(f"fault: {name}")
                        run_fault(world, name)
                    k += 1

            fault_thread = threading.Thread(target=faults, daemon=True)
            fault_thread.start()
            threads.append(fault_thread)

            began = time.monotonic()
            end = began + args.minutes * 60
            next_progress = began
            next_ledger = began + 60
            while time.monotonic() < end:
                if daemon.poll() is not None:
                    report.check("the daemon kept running", f"exited {daemon.returncode}", False)
                    break
                threads_n, fds, rss = proc_sample(daemon.pid)
                scraped = scrape(base) or ({}, {}, 0.0)
                sample = Sample(time.monotonic() - began, threads_n, fds, rss, *scraped)
                report.samples.append(sample)
                if time.monotonic() >= next_ledger:
                    rows = ledger_counts(world.ledger_path)
                    report.ledger_over_time.append((sample.at, rows))
                    next_ledger += 60
                if time.monotonic() >= next_progress:
                    cycles = sample.loops.get("remediation", 0)
                    probed = read_probe(probe_dir)[-1:] if args.probe else []
                    _log(
                        f"{sample.at / 60:5.1f}/{args.minutes:g} min  threads {threads_n}  "
                        f"fds {fds}  RSS {rss:.0f} MiB  leader {sample.leader:.0f}  "
                        f"remediation cycles {cycles:.0f}  errors "
                        f"{sum(sample.errors.values()):.0f}  faults {sum(world.faults.values())}"
                        + "".join(
                            f"  after gc: RSS {p.rss_after_mb:.1f} MiB, "
                            f"{p.blocks_after / 1000:.0f}k blocks, {p.collected} freed"
                            for p in probed
                        )
                    )
                    next_progress += 30
                time.sleep(max(0.0, min(args.sample, end - time.monotonic())))
        finally:
            stop.set()
            kube.clear_faults()
            if kube.down:
                kube.come_back()
            if prometheus.process.poll() is not None:
                with contextlib.suppress(Exception):
                    prometheus.start()
            if args.probe and daemon is not None and daemon.poll() is None:
                (probe_dir / "final").touch()  # the probe's last sample and snapshot
                waited = time.monotonic() + 300
                while not (probe_dir / "final.done").exists() and time.monotonic() < waited:
                    if daemon.poll() is not None:
                        break
                    time.sleep(1)
                with contextlib.suppress(OSError, ValueError):
                    report.probe_final = json.loads((probe_dir / "final.json").read_text())
            if daemon is not None and daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait()
            for thread in threads:
                thread.join(timeout=70)
        report.exit_code = daemon.returncode if daemon is not None else None
        if args.probe:
            report.probe = read_probe(probe_dir)
        ended = time.time()
        report.faults = world.faults
        report.check(
            "the daemon exited 0 on SIGTERM", f"exit code {report.exit_code}", report.exit_code == 0
        )
        check_loops(report)
        check_resources(report)
        check_ledger_and_writes(report, work / "ledger.sqlite", kube, ended)
    slack.stop()
    kube.stop()
    text = table(report)
    print(text)
    if args.plot:
        plot(report, args.plot)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "samples": [s.__dict__ for s in report.samples],
                    "checks": report.checks,
                    "faults": dict(report.faults),
                    "probe": [p.__dict__ for p in report.probe],
                    "probe_final": report.probe_final,
                },
                indent=1,
            )
        )
    _log(f"daemon log and ledger in {work}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
