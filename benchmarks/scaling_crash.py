"""Crash safety of the scaling loop's give-back of a 0 (``ScalingLoop._zero_back``).

    .venv/bin/python benchmarks/scaling_crash.py --runs 30

A small companion to ``crash_harness.py``, which drives only the remediation engine. One
run: a fake API server in this (the parent) process holds web (shop) at 0 replicas under
its HPA at ``minReplicas`` 20, a floor the ledger says Autonomic wrote over the HPA's own
minimum of 0 (the state ``_zero_back`` gives the 0 back from). The scaling loop runs in a
forked child (the real ``KubernetesCluster`` adapter over HTTP, a SQLite ledger file, the
real executor, a fake clock persisted to a file, a synthetic week of load read in
process), routed to act (``auto``) or to ask (``ask``, a scripted on-call approving each
question). The parent SIGKILLs the child after a random delay or arms a hook point where
the child kills itself: just after the decision is recorded, just before or after the
HPA write, just after the write is remembered in the ledger, at the start of a cycle. A
fresh child goes on from the ledger; this repeats until a child runs on its own until
the 0 is on the HPA and nothing is left open, then a few cycles more.

Checked after every run, from the fake server's request log and the ledger: no more
writes to the HPA than intents recorded for it (no write twice), every intent settled,
no scaling decision left approved or executing, the HPA's ``minReplicas`` at 0 in the
end (the 0 given back), and the workload not held as overridden at the end (nothing but
the loop writes the HPA here, so an override is its own write taken for someone else's).
Prints a summary; exits 1 on any violation.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOOKS = ("after-decide", "before-write", "after-write", "after-remember", "before-cycle")
MODES = ("auto", "ask")
MAX_CYCLES = 40
AFTER = 3  # cycles run once everything is settled, to see nothing more is written


def _start() -> float:
    from tests.unit.scaling.fakes import END

    return END - 79 * 60.0


def child(work: Path, url: str, mode: str, hook: str | None, nth: int) -> int:
    """One loop process: cycle from the ledger until the 0 is back and nothing is open."""
    from agent.decisions import DecisionService
    from agent.executor import Executor
    from agent.loops.scaling import ScalingLoop
    from agent.observability import Metrics
    from agent.settings import RoutingSettings, ScalingSettings
    from benchmarks.crash_harness import (
        Hooks,
        child_cluster,
        child_ledger,
        ledger_approvals,
        resume_clock,
        save_clock,
    )
    from remediation.ports import ObjectRef
    from tests.unit.scaling.fakes import WeekReader, week_and_a_day

    hooks = Hooks(hook, nth)
    tick, wrap = hooks.tick, hooks.wrap

    clock = resume_clock(work, 60, _start())
    cluster = child_cluster(url, clock)
    ledger = child_ledger(work, clock)
    approvals = ledger_approvals(ledger, clock)
    routing = RoutingSettings(auto=0.7, ask=0.5) if mode == "auto" else RoutingSettings(ask=0.5)
    metrics = Metrics()
    decisions = DecisionService(
        ledger, clock, routing, mode="act", approvals=approvals, metrics=metrics
    )
    executor = Executor(
        ledger, cluster, clock, owner=f"crash-{os.getpid()}", is_leader=lambda: True
    )
    loop = ScalingLoop(
        ScalingSettings(),
        reader=cast(Any, WeekReader(*week_and_a_day(71))),  # reads ranges only
        cluster=cluster,
        decisions=decisions,
        executor=executor,
        clock=clock,
        submit=lambda signals: None,
        metrics=metrics,
    )
    wrap(decisions, "decide", None, "after-decide")
    wrap(cluster, "apply", "before-write", "after-write")
    wrap(loop, "_remember_written", None, "after-remember")
    ref = ObjectRef("Deployment", "web", "shop")
    quiet = 0
    for _ in range(MAX_CYCLES):
        tick("before-cycle")
        for question in ledger.questions():
            decisions.answer(question.id, "approved", "scripted-oncall")
        loop.cycle()
        clock.advance(60)
        save_clock(work, clock)
        hpa = cluster.get_hpa_for(ref)
        open_ = [
            d
            for d in ledger.decisions(kind="scaling", limit=1000)
            if d.status in ("asked", "approved", "executing")
        ]
        pending = ledger.intents(status=["pending"])
        quiet = quiet + 1 if hpa is not None and hpa.min_replicas == 0 and not open_ else 0
        if quiet > AFTER and not pending:
            held = loop.report()["held"].get(str(ref)) or {}
            (work / "held").write_text(str(held.get("reason")))
            return 0
    return 3  # never settled: the parent reports it


def _seed(server: Any, work: Path) -> None:
    """web at 0 under its HPA at minReplicas 20, which the ledger says Autonomic wrote
    over the HPA's own 0 (the state an earlier version could leave)."""
    from agent.adapters.kubernetes import KubernetesCluster, load_api_client
    from agent.ledger import open_ledger
    from agent.loops.scaling import CAPACITY, CHANGED_THEN, PREDICTIVE, STARTUP, WRITTEN_KEY
    from remediation.ports import ObjectRef
    from tests.fakekube.seed import seed_deployment, seed_hpa, seed_node

    store = server.store
    seed_node(store, "node-1")
    seed_deployment(store, "web", namespace="shop", replicas=0, images=("web:1",))

    def opt_in(obj: dict[str, Any]) -> None:
        obj["metadata"]["labels"]["autonomic.dev/enabled"] = "true"
        obj["metadata"]["annotations"].update(
            {PREDICTIVE: "true", CAPACITY: "1000", STARTUP: "240"}
        )

    store.modify("Deployment", "shop", "web", opt_in)
    hpa = seed_hpa(store, "web", target="web", namespace="shop", min_replicas=20, max_replicas=30)

    def external(obj: dict[str, Any]) -> None:  # an HPA that can scale to zero
        metric = {"name": "queue_depth"}
        target = {"type": "AverageValue", "averageValue": "10"}
        obj["spec"]["metrics"] = [
            {"type": "External", "external": {"metric": metric, "target": target}}
        ]

    store.modify("HorizontalPodAutoscaler", "shop", "web", external)
    uid = hpa["metadata"]["uid"]
    api = load_api_client(host=server.url)
    try:
        (web,) = [w for w in KubernetesCluster(api).list_workloads() if w.ref.name == "web"]
    finally:
        api.close()
    start = _start()
    ledger = open_ledger(f"sqlite:///{work / 'ledger.sqlite'}", start)
    try:
        hpa_ref = "HorizontalPodAutoscaler/shop/web"
        assert ledger.put_guard(
            f"scaling/configured-min/{hpa_ref}", {"min_replicas": 0, "uid": uid}, 0, start
        )
        record = {
            "min_replicas": 20,
            "at": start - 3600,
            "decision_id": "old",
            "hpa_uid": uid,
            "hpa": hpa_ref,
            CHANGED_THEN: web.managed_by_human_at,
        }
        assert ledger.put_guard(
            f"{WRITTEN_KEY}/{ObjectRef('Deployment', 'web', 'shop')}", record, 0, start
        )
    finally:
        ledger.close()


def _scale_to_zero() -> None:
    """The fake API server validates as a cluster without the ``HPAScaleToZero`` feature
    gate (``minReplicas`` at least 1). This run is of a cluster with it on: ``minReplicas``
    0 is accepted for an HPA with an Object or External metric, as Kubernetes does."""
    from tests.fakekube import store

    inner = store._validate

    def validate(rt: Any, obj: dict[str, Any]) -> list[tuple[str, str]]:
        causes = inner(rt, obj)
        spec = obj.get("spec") or {}
        kinds = {m.get("type") for m in spec.get("metrics") or ()}
        zero = rt.kind == "HorizontalPodAutoscaler" and spec.get("minReplicas") == 0
        if zero and kinds & {"Object", "External"}:
            causes = [c for c in causes if c[0] != "spec.minReplicas"]
        return causes

    store._validate = validate


def _check(server: Any, work: Path, report: dict[str, Any]) -> None:
    from agent.ledger import open_ledger

    writes = [
        r
        for r in server.requests
        if r.resource == "horizontalpodautoscalers"
        and r.verb in ("create", "update", "patch", "delete")
        and r.status < 400
    ]
    ledger = open_ledger(f"sqlite:///{work / 'ledger.sqlite'}", _start(), migrate=False)
    try:
        intents = [i for i in ledger.intents() if i.execution_key.startswith("scaling/")]
        decisions = ledger.decisions(kind="scaling", limit=1000)
    finally:
        ledger.close()
    report["writes"] = len(writes)
    report["intents"] = Counter(i.status for i in intents)
    report["decisions"] = Counter(d.status for d in decisions)
    violations = report["violations"]
    if len(writes) > len(intents):
        violations.append(f"{len(writes)} HPA writes, {len(intents)} intents")
    if len(writes) > 1:
        violations.append(f"the 0 written {len(writes)} times")
    for intent in intents:
        if intent.status == "pending":
            violations.append(f"intent {intent.id} left pending")
    for decision in decisions:
        if decision.status in ("approved", "executing"):
            violations.append(f"decision {decision.id[:8]} left {decision.status}")
    from tests.fakekube.store import RESOURCES

    kind = next(r for r in RESOURCES if r.kind == "HorizontalPodAutoscaler")
    hpa = server.store.get(kind, "shop", "web")
    if hpa["spec"].get("minReplicas") != 0:
        violations.append(f"HPA minReplicas {hpa['spec'].get('minReplicas')}, not 0")


def run_one(
    index: int, rng: random.Random, max_kills: int, only: str | None = None
) -> dict[str, Any]:
    from benchmarks.crash_harness import choose_kill, exit_code, fork_child, kill_after, wait_ready
    from tests.fakekube import start_fake_apiserver

    mode = MODES[index % len(MODES)]
    report: dict[str, Any] = {
        "mode": mode,
        "launches": 0,
        "kills": Counter(),
        "violations": [],
    }
    began = time.monotonic()
    server = start_fake_apiserver(quiet_errors=True)
    wanted = rng.randint(min(1, max_kills), max_kills)
    with tempfile.TemporaryDirectory(prefix="scaling-crash-") as name:
        work = Path(name)
        try:
            _seed(server, work)
            kills = 0
            while True:
                report["launches"] += 1
                if report["launches"] > max_kills + 3:
                    report["violations"].append("the run did not finish after every restart")
                    break
                kill = kills < wanted
                hook, nth = choose_kill(rng, kill, HOOKS, at_hook=0.8, only=only, nth_max=3)

                def run(ready: int, hook: str | None = hook, nth: int = nth) -> int:
                    os.write(ready, b"r")  # forked: the child builds its objects itself
                    return child(work, server.url, mode, hook, nth)

                pid, ready = fork_child(run)
                wait_ready(ready)
                if kill and hook is None:
                    kill_after(pid, rng.uniform(0.0, 2.0))
                code = exit_code(os.waitpid(pid, 0)[1])
                if code == -signal.SIGKILL:
                    kills += 1
                    report["kills"][hook or "delay"] += 1
                    continue
                if code != 0:
                    report["violations"].append(f"child exited {code}")
                break
            _check(server, work, report)
            held = work / "held"
            report["held"] = held.read_text() if held.exists() else None
            if report["held"] == "Overridden":  # nothing but the loop writes the HPA here
                report["violations"].append("its own write taken as someone else's")
        finally:
            server.stop()
    report["seconds"] = time.monotonic() - began
    return report


def main() -> int:
    from benchmarks.crash_harness import crash_parser

    parser = crash_parser(__doc__, runs=30, seed=20261125, max_kills=2, hooks=HOOKS)
    args = parser.parse_args()
    import tests.unit.scaling.fakes  # noqa: F401  (imported once, before the forks)
    from agent.loops import scaling  # noqa: F401

    _scale_to_zero()
    rng = random.Random(args.seed)
    began = time.monotonic()
    reports = []
    for index in range(args.runs):
        report = run_one(index, rng, args.max_kills, args.hook)
        reports.append(report)
        print(
            f"run {index + 1}/{args.runs} {report['mode']}: kills {dict(report['kills'])}, "
            f"HPA writes {report.get('writes')}, intents {dict(report.get('intents', {}))}, "
            f"decisions {dict(report.get('decisions', {}))}, "
            f"held at the end {report.get('held')}, "
            f"violations {report['violations']} ({report['seconds']:.1f}s)",
            flush=True,
        )
    kills: Counter[str] = Counter()
    for report in reports:
        kills.update(report["kills"])
    where = ", ".join(f"{k} {v}" for k, v in sorted(kills.items()))
    bad = [v for r in reports for v in r["violations"]]
    print(
        f"\n{len(reports)} runs, {sum(r['launches'] for r in reports)} loop processes, "
        f"{sum(kills.values())} SIGKILLs ({where}), "
        f"{sum(r.get('writes', 0) for r in reports)} HPA writes, {len(bad)} violations; "
        f"{time.monotonic() - began:.0f} s wall-clock"
    )
    for violation in bad:
        print(f"VIOLATION: {violation}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
