"""Crash safety: SIGKILL the remediation engine mid-run, restart it, check the invariants.

    .venv/bin/python benchmarks/crash_harness.py --runs 200

Each run seeds a scenario into a fake Kubernetes API server that lives in this (the
parent) process, with a controller thread playing the Deployment controller, and runs
the engine in a child process (the real ``KubernetesCluster`` adapter over HTTP, a
SQLite ledger file, a fake clock persisted to a file, a scripted on-call that approves
every question). The parent kills the child with SIGKILL, either after a random delay
or by arming a hook point (the child kills itself there: just before or after a cluster
write, an eviction in the middle of a drain, an undo, or a ledger write), starts a
fresh child, which calls ``recover()`` and goes on cycling, and repeats until a child
finishes the run on its own. Then it checks, from the fake server's request log and
the ledger:

- no action ran twice: every write to an object is accounted for by one intent (plus
  its undo), and no pod was evicted twice;
- no intent is lost: every intent is settled (applied, undone, abandoned or failed);
- every interrupted execution ended completed, undone or escalated (none left running,
  no decision left approved, executing or verifying).

Prints a markdown table; exits 1 on any violation. Needs no data, so takes no --data.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from agent.adapters.kubernetes import KubernetesCluster
    from agent.approvals import Approvals
    from agent.clock import FakeClock
    from agent.decisions import DecisionService
    from agent.executor import Executor
    from agent.ledger import Ledger
    from agent.observability import Metrics
    from agent.remediation_engine import RemediationEngine
    from agent.settings import RoutingSettings

R = TypeVar("R")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCENARIOS = ("crashloop", "crashloop-undo", "surge", "surge-undo", "oom", "drain")
HOOKS = (
    "before-write",  # the intent is recorded, the write not sent
    "after-write",  # the write reached the server, its result not recorded
    "mid-drain",  # between two evictions of a drain
    "before-undo",
    "after-undo",
    "after-claim",  # the execution is claimed, no step started
    "after-status",  # an execution status was written, the rest of the step not
    "before-cycle",
)
COMMON = ("before-write", "after-write", "after-claim", "after-status", "before-cycle")
UNDO = ("before-undo", "after-undo")
HOOKS_FOR = {
    "crashloop": COMMON,
    "crashloop-undo": COMMON + UNDO,
    "surge": COMMON,
    "surge-undo": COMMON + UNDO,
    "oom": COMMON,
    "drain": (*COMMON, "mid-drain", "mid-drain"),
}
SETTLED = ("applied", "undone", "abandoned", "failed")
CYCLE = 30.0
START = 1_794_996_000.0


# ------------------------------------------------------------------------------ child


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class Hooks:
    """Counts hook points; SIGKILLs this process at the armed one's n-th passage. The
    crash harnesses (this one, scaling_crash.py, answer_crash.py, anomaly_crash.py,
    canary_crash.py) arm the child processes they kill with it: production code has no
    hook of its own."""

    def __init__(self, armed: str | None, nth: int) -> None:
        self.armed, self.nth = armed, nth
        self.seen: Counter[str] = Counter()

    def tick(self, name: str) -> None:
        self.seen[name] += 1
        if name == self.armed and self.seen[name] == self.nth:
            _kill_self()

    def wrap(self, obj: Any, method: str, before: str | None, after: str | None) -> None:
        """Replace ``obj.method`` on that object by one passing hook ``before`` before
        the call and ``after`` after it returns."""
        inner = getattr(obj, method)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if before:
                self.tick(before)
            result = inner(*args, **kwargs)
            if after:
                self.tick(after)
            return result

        setattr(obj, method, wrapped)


def _query_for(scenario: str) -> Callable[[str], float | None]:
    latency = 0.9 if scenario == "surge-undo" else 0.2
    return lambda query: latency if "duration_seconds" in query else None


def child(args: argparse.Namespace, ready: int | None = None) -> int:
    """One engine process: recover, then cycle until every decision is settled."""
    from agent.settings import RoutingSettings
    from remediation.ports import ObjectRef
    from remediation.signals import forecast_breach_signal

    work = Path(args.work)
    hooks = Hooks(args.hook, args.nth)
    built = child_stack(
        work,
        args.url,
        step=CYCLE,
        start=START,
        routing=RoutingSettings(auto=0.7, ask=0.5),
        owner="crash",
        query=_query_for(args.scenario),
    )
    clock, cluster, ledger = built.clock, built.cluster, built.ledger
    decisions, engine = built.decisions, built.engine
    hooks.wrap(cluster, "apply", "before-write", "after-write")
    hooks.wrap(cluster, "drain_round", "before-write", "after-write")
    hooks.wrap(cluster, "undo", "before-undo", "after-undo")
    hooks.wrap(cluster.api, "evict_pod", None, "mid-drain")
    hooks.wrap(ledger, "claim_execution", None, "after-claim")
    hooks.wrap(ledger, "set_execution_status", None, "after-status")
    if ready is None:
        print("ready", flush=True)
    else:
        os.write(ready, b"r")
        os.close(ready)
    engine.recover()
    for _ in range(args.max_cycles):
        hooks.tick("before-cycle")
        clock.advance(CYCLE)
        save_clock(work, clock)
        for question in ledger.questions():
            decisions.answer(question.id, "approved", "scripted-oncall")
        if args.scenario.startswith("surge"):
            # The forecast loop keeps reporting the same breach (one incident).
            engine.submit(
                [
                    forecast_breach_signal(
                        metric="requests_per_second",
                        target=ObjectRef("Deployment", "web", "shop"),
                        observed=130.0,
                        forecast_upper=100.0,
                        confidence=0.95,
                        at=clock.now(),
                        incident_start=START,
                    )
                ]
            )
        engine.cycle()
        if _settled(ledger):
            return 0
    return 3  # never settled: the parent reports it


def _settled(ledger: Any) -> bool:
    decisions = ledger.decisions(kind="remediation", limit=1000)
    if not decisions:
        return False
    open_ = [d for d in decisions if d.status in ("asked", "approved", "executing", "verifying")]
    running = ledger.executions(["running", "verifying", "undone", "failed"])
    return not open_ and not running and bool(ledger.executions(["succeeded", "escalated"]))


# ----------------------------------------------------------------------------- parent


@dataclass
class RunReport:
    scenario: str
    launches: int = 0
    kills: int = 0
    kills_delay: int = 0
    kills_hook: int = 0
    kills_mid_write: int = 0
    kills_mid_execution: int = 0
    hooks: Counter[str] = field(default_factory=Counter)
    executions: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    intents: Counter[str] = field(default_factory=Counter)
    reconciled: Counter[str] = field(default_factory=Counter)
    interrupted: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _seed(scenario: str, server: Any, clock: Any) -> tuple[Any, list[tuple[str, str]]]:
    from tests.fakekube.seed import seed_daemonset_pod
    from tests.integration.remediation.rig import Controller, seed_nodes, seed_web

    class _Rig:  # the two attributes the seed helpers read
        def __init__(self) -> None:
            self.server, self.clock = server, clock

    rig: Any = _Rig()

    def by_image(bad: set[str]) -> Any:
        return lambda c: "CrashLoopBackOff" if c["image"] in bad else "Ready"

    if scenario.startswith("crashloop"):
        seed_nodes(rig, 3)
        seed_web(rig, behaviour="CrashLoopBackOff")
        bad = {"shop/web:2"} if scenario == "crashloop" else {"shop/web:1", "shop/web:2"}
        return Controller(server, clock, by_image(bad)), [("shop", "web")]
    if scenario.startswith("surge"):
        seed_nodes(rig, 3)
        seed_web(rig, replicas=4)
        return Controller(server, clock, lambda _c: "Ready"), [("shop", "web")]
    if scenario == "oom":
        seed_nodes(rig, 3)
        seed_web(rig, images=("shop/web:1",), behaviour="OOMKilled")
        controller = Controller(
            server,
            clock,
            lambda c: "OOMKilled" if c["resources"]["limits"]["memory"] == "256Mi" else "Ready",
        )
        return controller, [("shop", "web")]
    seed_nodes(rig, 10, not_ready={"node-3": clock.now() - 600})
    seed_web(rig, replicas=6, nodes=("node-3", "node-4"))
    seed_daemonset_pod(server.store, "kube-proxy", node="node-3")
    return Controller(server, clock, lambda _c: "Ready"), [("shop", "web")]


def _ledger_view(path: Path) -> dict[str, Any]:
    from agent.ledger import open_ledger

    ledger = open_ledger(f"sqlite:///{path}", START, migrate=False)
    try:
        return {
            "intents": ledger.intents(),
            "executions": ledger.executions(
                ["running", "verifying", "succeeded", "undone", "failed", "escalated", "dry-run"]
            ),
            "decisions": ledger.decisions(kind="remediation", limit=1000),
        }
    finally:
        ledger.close()


def _object_of(operation: dict[str, Any]) -> tuple[str, str, str]:
    target = operation["target"]
    resource = {
        "rollback": "deployments",
        "patch_resources": "deployments",
        "set_images": "deployments",
        "pause_rollout": "deployments",
        "rollout_restart": "deployments",
        "scale": "deployments/scale",
        "set_hpa_min_replicas": "horizontalpodautoscalers",
        "set_hpa_max_replicas": "horizontalpodautoscalers",
        "cordon": "nodes",
        "drain": "nodes",
        "delete_pod": "pods",
        "evict_pod": "pods/eviction",
    }[operation["op"]]
    return resource, target.get("namespace") or "", target["name"]


def _check(report: RunReport, server: Any, view: dict[str, Any]) -> None:
    intents = view["intents"]
    for intent in intents:
        report.intents[intent.status] += 1
        if (intent.result or {}).get("reconciled"):
            report.reconciled[intent.status] += 1
        if intent.status not in SETTLED:
            report.violations.append(f"intent {intent.id} left {intent.status}")
    allowed = allowed_writes(intents)
    writes = object_writes(server.requests)
    evictions: Counter[tuple[str, str]] = Counter()
    for r in server.requests:
        write = r.verb in ("create", "update", "patch", "delete") and r.status < 400
        if write and r.resource == "pods/eviction":
            evictions[(r.namespace, r.name)] += 1
    for obj, count in writes.items():
        if count > allowed[obj]:
            report.duplicates += count - allowed[obj]
            report.violations.append(f"{obj}: {count} writes, {allowed[obj]} accounted for")
    for pod, count in evictions.items():
        if count > 1:
            report.duplicates += count - 1
            report.violations.append(f"pod {pod} evicted {count} times")
    for execution in view["executions"]:
        report.executions[execution["status"]] += 1
        if execution["status"] not in ("succeeded", "escalated", "dry-run"):
            report.violations.append(f"execution {execution['key']} left {execution['status']}")
    for decision in view["decisions"]:
        report.decisions[decision.status] += 1
        if decision.status in ("approved", "executing", "verifying"):
            report.violations.append(f"decision {decision.id[:8]} left {decision.status}")


def _preload() -> None:
    """Import what the child needs once, in the parent, so every fork starts warm."""
    import tests.integration.remediation.rig  # noqa: F401


def _wait(pid: int, *, timeout: float) -> int:
    """The child's exit code (negative: killed by that signal); SIGKILL on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return exit_code(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 124
        time.sleep(0.005)


def run_one(index: int, rng: random.Random, *, max_kills: int) -> RunReport:
    from agent.clock import FakeClock
    from tests.fakekube import start_fake_apiserver

    scenario = SCENARIOS[index % len(SCENARIOS)]
    report = RunReport(scenario)
    began = time.monotonic()
    # A killed child leaves half-read connections; the server's tracebacks are noise.
    server = start_fake_apiserver(quiet_errors=True)
    clock = FakeClock(START)
    controller, targets = _seed(scenario, server, clock)
    stop_controllers = start_controllers(
        [functools.partial(controller.reconcile, namespace, name) for namespace, name in targets]
    )
    kills_wanted = rng.randint(1, max_kills)
    with tempfile.TemporaryDirectory(prefix="crash-") as work:
        try:
            for _ in launches(report, max_kills):
                kill = report.kills < kills_wanted
                hook, nth = choose_kill(rng, kill, HOOKS_FOR[scenario], at_hook=0.6, nth_max=2)
                options = argparse.Namespace(
                    url=server.url,
                    work=work,
                    scenario=scenario,
                    hook=hook,
                    nth=nth,
                    max_cycles=200,
                )
                pid, ready = fork_child(functools.partial(child, options))
                wait_ready(ready)  # the engine is built: kill points from here on
                if kill and hook is None:
                    kill_after(pid, rng.uniform(0.0, 0.8))
                code = _wait(pid, timeout=300)
                catch_up_clock(Path(work), clock)
                if code == -signal.SIGKILL:
                    report.kills += 1
                    if hook:
                        report.kills_hook += 1
                        report.hooks[hook] += 1
                    else:
                        report.kills_delay += 1
                    view = _ledger_view(Path(work) / "ledger.sqlite")
                    if any(i.status == "pending" for i in view["intents"]):
                        report.kills_mid_write += 1
                    live = [
                        e
                        for e in view["executions"]
                        if e["status"] in ("running", "verifying", "undone", "failed")
                    ]
                    if live:
                        report.kills_mid_execution += 1
                        for execution in live:
                            report.interrupted[execution["key"]] += 1
                    continue
                if code != 0:
                    report.violations.append(f"child exited {code} (124: timed out)")
                break
            view = _ledger_view(Path(work) / "ledger.sqlite")
            _check(report, server, view)
            finals = {e["key"]: e["status"] for e in view["executions"]}
            report.interrupted = Counter(
                {finals.get(key, "missing"): 1 for key in report.interrupted}
            )
        finally:
            stop_controllers()
            server.stop()
    report.seconds = time.monotonic() - began
    return report


def total_of(reports: Sequence[Any], name: str) -> int:
    """The sum of one counted field over the runs' reports (every crash harness)."""
    return sum(getattr(r, name) for r in reports)


def merged_of(reports: Sequence[Any], name: str) -> Counter[str]:
    """One ``Counter`` field of the runs' reports, added up."""
    out: Counter[str] = Counter()
    for r in reports:
        out.update(getattr(r, name))
    return out


# ---------------------------------------------------------- shared by the crash harnesses
# What every crash harness (this one, scaling_crash.py, answer_crash.py,
# anomaly_crash.py, canary_crash.py) does the same way: the child's fake clock kept in a
# file, the stack of real objects a child builds, the fork and kill of a child, the
# choice of where it dies, the write accounting, the table and the command line.


def resume_clock(work: Path, step: float, start: float) -> FakeClock:
    """A child's fake clock: one ``step`` past the time the last child saved in
    ``work/clock``, or ``start`` for the first child."""
    from agent.clock import FakeClock

    clock_file = work / "clock"
    return FakeClock(float(clock_file.read_text()) + step if clock_file.exists() else start)


def save_clock(work: Path, clock: FakeClock) -> None:
    """Save the child's fake time to ``work/clock`` in one step (a kill leaves the old
    time or the new one, never half a file)."""
    tmp = work / "clock.tmp"
    tmp.write_text(repr(clock.now()))
    os.replace(tmp, work / "clock")


def catch_up_clock(work: Path, clock: FakeClock) -> None:
    """In the parent: bring its clock (the controller's) up to the children's time."""
    clock_file = work / "clock"
    if clock_file.exists():
        clock.set(max(clock.now(), float(clock_file.read_text())))


def child_cluster(url: str, clock: FakeClock) -> KubernetesCluster:
    """The real adapter over HTTP to the parent's fake API server, retrying briefly."""
    from agent.adapters.kube_errors import RetryPolicy
    from agent.adapters.kubernetes import KubernetesCluster, load_api_client

    return KubernetesCluster(
        load_api_client(host=url),
        identity="crash",
        policy=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02, request_timeout=(2.0, 5.0)),
        wall_clock=clock.now,
    )


def child_ledger(work: Path, clock: FakeClock) -> Ledger:
    """The run's SQLite ledger file. No fsync per commit: SIGKILL ends the process, not
    the kernel, so what a commit handed to the OS survives it (power loss is another
    test); fsync made runs 3x slower."""
    from agent.ledger import open_ledger

    return open_ledger(f"sqlite:///{work / 'ledger.sqlite'}", clock.now(), durable=False)


def ledger_approvals(ledger: Ledger, clock: FakeClock) -> Approvals:
    """Questions kept in the ledger only (the scripted on-call answers them there)."""
    from agent.approvals import Approvals, LedgerOnlyChannel

    return Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=3600, snooze=900)


@dataclass
class Engine:
    """The remediation engine a child runs, with the objects it is built of."""

    clock: FakeClock
    cluster: KubernetesCluster
    ledger: Ledger
    metrics: Metrics
    decisions: DecisionService
    executor: Executor
    engine: RemediationEngine


def child_engine(
    ledger: Ledger,
    cluster: KubernetesCluster,
    clock: FakeClock,
    *,
    approvals: Approvals,
    routing: RoutingSettings,
    owner: str,
    query: Callable[[str], float | None],
) -> Engine:
    """The real remediation engine with the shipped runbooks, in act mode."""
    from agent.decisions import DecisionService
    from agent.executor import Executor
    from agent.observability import Metrics
    from agent.remediation_engine import RemediationEngine
    from remediation.guards import GlobalLimits
    from remediation.loading import load_paths

    metrics = Metrics()
    decisions = DecisionService(
        ledger, clock, routing, mode="act", approvals=approvals, metrics=metrics
    )
    executor = Executor(ledger, cluster, clock, owner=f"{owner}-{os.getpid()}")
    engine = RemediationEngine(
        runbooks=load_paths([ROOT / "runbooks"]),
        ledger=ledger,
        decisions=decisions,
        executor=executor,
        reader=cluster,
        clock=clock,
        limits=GlobalLimits(),
        query=query,
    )
    return Engine(clock, cluster, ledger, metrics, decisions, executor, engine)


def child_stack(
    work: Path,
    url: str,
    *,
    step: float,
    start: float,
    routing: RoutingSettings,
    owner: str,
    query: Callable[[str], float | None],
) -> Engine:
    """What a child of the engine harnesses builds first: its clock resumed from
    ``work`` (``step`` past the last child's time, or ``start``), the adapter to ``url``,
    the ledger file, questions kept in the ledger, and the engine over them."""
    clock = resume_clock(work, step, start)
    cluster = child_cluster(url, clock)
    ledger = child_ledger(work, clock)
    approvals = ledger_approvals(ledger, clock)
    return child_engine(
        ledger, cluster, clock, approvals=approvals, routing=routing, owner=owner, query=query
    )


def launches(report: Any, max_kills: int) -> Iterator[int]:
    """One turn per launch of a child in a run, counted in ``report.launches``; after
    ``max_kills`` and three more, a violation on ``report`` and no more turns."""
    while True:
        report.launches += 1
        if report.launches > max_kills + 3:
            report.violations.append("the run did not finish after every restart")
            return
        yield report.launches


def fork_child(run: Callable[[int], int]) -> tuple[int, int]:
    """Fork a child that runs ``run(ready)`` and exits with what it returns (4 on an
    exception, its traceback on stderr); ``ready`` is the write end of a pipe the child
    says it is ready on. Forking skips the seconds of imports a fresh interpreter costs
    (the child builds every object it uses). Returns the child's pid and the read end."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        code = 4
        try:
            code = run(write)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write)
    return pid, read


def wait_ready(read: int) -> None:
    """Block until the child has said it is ready (or died): kill points from here on."""
    os.read(read, 1)
    os.close(read)


def kill_after(pid: int, seconds: float) -> None:
    """SIGKILL the child after ``seconds`` (unless it has ended by then)."""
    time.sleep(seconds)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def exit_code(status: int) -> int:
    """A ``waitpid`` status as an exit code, negative for the signal that ended it."""
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def choose_kill(
    rng: random.Random,
    kill: bool,
    hooks: Sequence[str],
    *,
    at_hook: float,
    only: str | None = None,
    nth_max: int = 1,
    counted: Collection[str] = ("before-cycle",),
) -> tuple[str | None, int]:
    """Where a launch dies: at a hook point (with chance ``at_hook``; ``only``, when
    given, always), else after a random delay (``None``); and at which passage of the
    hook (drawn up to ``nth_max`` for a hook in ``counted``, else the first). A launch
    not to be killed gets ``(None, 1)``."""
    hook = rng.choice(hooks) if kill and rng.random() < at_hook else None
    if only is not None:
        hook = only if kill else None
    nth = rng.randint(1, nth_max) if hook in counted else 1
    return hook, nth


def start_controllers(reconcilers: Sequence[Callable[[], object]]) -> Callable[[], None]:
    """Play the Deployment controllers in a thread of the parent, each reconciler every
    10 ms; returns the function that stops them."""
    stop = threading.Event()

    def control() -> None:
        while not stop.is_set():
            for reconcile in reconcilers:
                with contextlib.suppress(Exception):  # a race with the child: next round
                    reconcile()
            stop.wait(0.01)

    thread = threading.Thread(target=control, daemon=True)
    thread.start()

    def stopped() -> None:
        stop.set()
        thread.join(timeout=5)

    return stopped


def allowed_writes(intents: Iterable[Any]) -> Counter[tuple[str, str, str]]:
    """The writes the intents account for, per object: one each, and one more for its
    undo."""
    allowed: Counter[tuple[str, str, str]] = Counter()
    for intent in intents:
        allowed[_object_of(intent.operation)] += 1 + (intent.status == "undone")
    return allowed


def object_writes(
    requests: Iterable[Any], *, dry_runs: bool = True
) -> Counter[tuple[str, str, str]]:
    """The successful writes in the fake server's request log, per object (Events and
    evictions left out; dry runs too unless ``dry_runs``)."""
    writes: Counter[tuple[str, str, str]] = Counter()
    for r in requests:
        write = r.verb in ("create", "update", "patch", "delete") and r.status < 400
        if write and (dry_runs or not r.dry_run) and r.resource not in ("events", "pods/eviction"):
            writes[(r.resource, r.namespace, r.name)] += 1
    return writes


def excess_writes(
    writes: Counter[tuple[str, str, str]], allowed: Counter[tuple[str, str, str]]
) -> list[str]:
    """A violation for each object written more often than its intents account for."""
    return [
        f"{obj}: {count} writes, {allowed[obj]} accounted for"
        for obj, count in writes.items()
        if count > allowed[obj]
    ]


def run_all(runs: int, one: Callable[[int], R], line: Callable[[R], str]) -> list[R]:
    """Run ``one(index)`` for each run, printing ``run i/n`` followed by ``line`` of its
    report on stderr as each ends; the reports."""
    reports = []
    for index in range(runs):
        report = one(index)
        reports.append(report)
        print(f"run {index + 1}/{runs}{line(report)}", file=sys.stderr, flush=True)
    return reports


def kill_figures(
    reports: Sequence[Any], kills: Mapping[str, int], hooks: Collection[str], *more: str
) -> list[str]:
    """The head of the figures table: runs, processes started (the reports' launches),
    SIGKILLs (``kills`` per hook point or ``delay``), then the rows ``more``, then the
    kills after a random delay and at a hook point."""
    return [
        "| figure | value |",
        "|---|---:|",
        f"| runs | {len(reports)} |",
        f"| daemon processes started | {total_of(reports, 'launches')} |",
        f"| SIGKILLs delivered | {sum(kills.values())} |",
        *more,
        f"| - after a random delay | {kills.get('delay', 0)} |",
        f"| - at a hook point | {sum(v for k, v in kills.items() if k in hooks)} |",
    ]


def statuses(counts: Mapping[str, int]) -> str:
    """``key count, ...`` in key order, for a table cell."""
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def hook_table(kills: Mapping[str, int], hooks: Sequence[str]) -> list[str]:
    """The markdown table of kills per hook point (after a blank line)."""
    return ["", "| hook point | kills |", "|---|---:|"] + [
        f"| {name} | {kills.get(name, 0)} |" for name in hooks
    ]


def scenario_table(
    reports: Sequence[Any], scenarios: Sequence[str], kills: Callable[[Any], int]
) -> list[str]:
    """The markdown table of runs, kills (``kills`` of a report) and violations per
    scenario (after a blank line)."""
    lines = ["", "| scenario | runs | kills | violations |", "|---|---:|---:|---:|"]
    for name in scenarios:
        mine = [r for r in reports if r.scenario == name]
        lines.append(
            f"| {name} | {len(mine)} | {sum(kills(r) for r in mine)} | "
            f"{sum(len(r.violations) for r in mine)} |"
        )
    return lines


def crash_parser(
    description: str,
    *,
    runs: int,
    seed: int,
    max_kills: int = 3,
    scenarios: Sequence[str] | None = None,
    hooks: Sequence[str] | None = None,
) -> argparse.ArgumentParser:
    """The options every crash harness takes: --runs, --seed, --max-kills, and, when it
    has them, --scenario and --hook."""
    parser = argparse.ArgumentParser(description=description.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--max-kills", type=int, default=max_kills, help="kills per run, at most")
    if scenarios is not None:
        parser.add_argument("--scenario", choices=scenarios, help="run this scenario only")
    if hooks is not None:
        parser.add_argument("--hook", choices=hooks, help="kill at this hook point only")
    return parser


def print_results(table: str, violations: Sequence[str], began: float, *, shown: int = 30) -> int:
    """Print the table, the wall-clock time and the first ``shown`` violations (on
    stderr); the exit code: 1 on any violation."""
    print(table)
    print(f"\n{time.monotonic() - began:.0f} s wall-clock")
    for violation in violations[:shown]:
        print(f"VIOLATION: {violation}", file=sys.stderr)
    return 1 if violations else 0


def summarize(reports: list[RunReport]) -> str:
    total = functools.partial(total_of, reports)
    merged = functools.partial(merged_of, reports)

    executions, decisions, intents = merged("executions"), merged("decisions"), merged("intents")
    interrupted = merged("interrupted")
    reconciled = merged("reconciled")
    lines = [
        "| figure | value |",
        "|---|---:|",
        f"| runs | {len(reports)} |",
        f"| engine processes started | {total('launches')} |",
        f"| SIGKILLs delivered | {total('kills')} |",
        f"| - after a random delay | {total('kills_delay')} |",
        f"| - at a hook point | {total('kills_hook')} |",
        f"| kills that landed mid-write (an intent pending at the kill) | "
        f"{total('kills_mid_write')} |",
        f"| kills that interrupted an execution (running or verifying) | "
        f"{total('kills_mid_execution')} |",
        f"| intents pending after a kill, reconciled as applied / abandoned | "
        f"{reconciled['applied']} / {reconciled['abandoned']} |",
        f"| executions: succeeded / escalated (undone or failed, then escalated) | "
        f"{executions['succeeded']} / {executions['escalated']} |",
        f"| interrupted executions ended succeeded / escalated / other | "
        f"{interrupted['succeeded']} / {interrupted['escalated']} / "
        f"{sum(v for k, v in interrupted.items() if k not in ('succeeded', 'escalated'))} |",
        f"| decisions by final status | {statuses(decisions)} |",
        f"| intents by final status | {statuses(intents)} |",
        f"| duplicate writes | {total('duplicates')} |",
        f"| invariant violations | {sum(len(r.violations) for r in reports)} |",
    ]
    lines += hook_table(merged("hooks"), HOOKS)
    lines += scenario_table(reports, SCENARIOS, lambda r: r.kills)
    return "\n".join(lines)


def run_harness(
    runs: int, *, seed: int, max_kills: int = 3, progress: bool = True
) -> list[RunReport]:
    rng = random.Random(seed)
    _preload()
    reports = []
    for index in range(runs):
        report = run_one(index, rng, max_kills=max_kills)
        reports.append(report)
        if progress:
            print(
                f"run {index + 1}/{runs} {report.scenario}: {report.kills} kills, "
                f"{len(report.violations)} violations {report.violations[:2]} "
                f"({report.seconds:.1f}s)",
                file=sys.stderr,
                flush=True,
            )
    return reports


def main() -> int:
    parser = crash_parser(__doc__, runs=200, seed=20261122)
    parser.add_argument("--json", help="also write the per-run reports here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--hook", help=argparse.SUPPRESS)
    parser.add_argument("--nth", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--max-cycles", type=int, default=200, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    began = time.monotonic()
    reports = run_harness(args.runs, seed=args.seed, max_kills=args.max_kills)
    if args.json:
        Path(args.json).write_text(
            json.dumps([r.__dict__ for r in reports], default=dict, indent=1)
        )
    bad = [v for r in reports for v in r.violations]
    return print_results(summarize(reports), bad, began, shown=20)


if __name__ == "__main__":
    sys.exit(main())
