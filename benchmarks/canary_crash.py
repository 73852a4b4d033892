"""Crash safety of the canary path: verdict, Event, runbook write, SIGKILLs, restarts.

    .venv/bin/python benchmarks/canary_crash.py --runs 30
    .venv/bin/python benchmarks/canary_crash.py --runs 6 --scenario rollback --hook after-verdict

A companion to ``crash_harness.py`` (the remediation engine), ``scaling_crash.py`` and
``answer_crash.py``, for the canary loop (``agent/loops/canary.py``). One run: the fake
API server lives in this (the parent) process, with a controller thread playing the
Deployment controller for a stable Deployment web (shop) and its native canary
web-canary (labelled ``autonomic.dev/canary-of: web``, opted in, and opted in to
``canary-promote``). A forked child runs the real code: the canary loop judging the pair
from a scripted in-process Prometheus (``agent.sim.metrics.SimMetrics``, as the canary
loop's own tests use), its verdicts sent to the real remediation engine with the shipped
runbooks, the ledger-only approvals answered by a scripted on-call who approves every
question, the real ``KubernetesCluster`` adapter over HTTP, a SQLite ledger file and a
fake clock persisted to a file.

Scenarios, in turn: ``rollback`` (the canary 1.5 times slower than its stable: a
confident rollback, routed auto, which ``canary-rollback`` carries out), ``promote`` (the
canary as good as its stable: a promotion, asked, approved, then carried out by
``canary-promote``) and ``inconclusive`` (no canary series at all: at ``maxDuration`` an
inconclusive verdict, escalated).

The parent SIGKILLs the child after a random delay, or arms a hook point where the child
kills itself: just after the verdict's decision is recorded (before its Event and its
signal), just after the Event is posted, just after the verdict is handed to the engine's
queue, before or after the answer to a question is recorded, before or after a cluster
write (the rollback, the promotion), at the start of a cycle. A fresh child goes on from
the ledger, until one runs until everything is settled, and a few cycles more.

Checked after every run, from the fake server's request log and store and the ledger:

- exactly one final verdict decision per canary revision;
- no action twice: at most one rollback write to the canary, at most one promotion write
  to the stable (an undo's write counted apart), and no more writes to an object than
  intents recorded for it (plus one for each undone);
- the action a verdict called for is not lost: a rollback or promotion verdict handed on
  has its runbook's decision, carried out or ended (failed and escalated, skipped...)
  saying why not (counted apart), and an inconclusive one is escalated;
- the verdict's Kubernetes Event is on the canary at least once (more than once is counted
  apart: see the results);
- no decision left approved, executing or verifying, no question left open, no intent
  pending.

Prints a markdown table; exits 1 on any violation.
"""

from __future__ import annotations

import functools
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCENARIOS = ("rollback", "promote", "inconclusive")
HOOKS = (
    "after-verdict",  # the verdict's decision recorded; no Event, no signal yet
    "after-event",  # the Event posted; the signal not queued
    "after-submit",  # the verdict in the engine's queue (in memory), not handled
    "after-hand-on",  # an approved verdict sent and marked done; the engine not run since
    "before-answer",  # a question open, its answer not recorded
    "after-answer",  # the answer recorded, nothing it sets off has run
    "before-write",  # the runbook's write (rollback, promotion) not sent
    "after-write",  # the write reached the server, its result not recorded
    "before-cycle",
)
HOOKS_FOR = {
    "rollback": (
        "after-verdict",
        "after-event",
        "after-submit",
        "after-hand-on",
        "before-write",
        "after-write",
    ),
    "promote": HOOKS[:8],
    "inconclusive": ("after-verdict", "after-event"),
}
HOOKS_FOR = {k: (*v, "before-cycle") for k, v in HOOKS_FOR.items()}
CYCLE = 60.0  # fake seconds per cycle: one canary interval
START = 1_794_996_000.0
MAX_DURATION = 1200.0  # the canary's maxDuration: an inconclusive verdict after 20 cycles
MAX_CYCLES = 200
AFTER = 3  # cycles run once everything is settled, to see nothing more happens
OPEN = ("asked", "approved", "executing", "verifying")
# A runbook decision that ended without its write, saying why (the engine escalates an
# execution a restart interrupted before its first write: "interrupted by a restart").
ENDED_WITHOUT = ("failed", "escalated", "skipped", "superseded", "rejected", "expired")
STABLE, CANARY = "web", "web-canary"
SEL = '{namespace="$namespace",deployment="$workload"}'


# ------------------------------------------------------------------------------ child


def _metrics(scenario: str) -> Any:
    """Three hours of per-minute series for both tracks, the same in every child."""
    from agent.sim.metrics import SimMetrics

    metrics = SimMetrics()
    rng = random.Random(5)
    slowdown = 1.5 if scenario == "rollback" else 1.0
    for minute in range(-10, 180):
        at = START + 60 * minute
        for name, factor in ((STABLE, 1.0), (CANARY, slowdown)):
            if name == CANARY and scenario == "inconclusive":
                continue  # no traffic reaches it: nothing to judge it on
            labels = {"namespace": "shop", "deployment": name}
            metrics.record("lat", labels, at, 100 * factor * rng.lognormvariate(0, 0.05))
            metrics.record("req", labels, at, 600.0)
            metrics.record("err", labels, at, float(rng.random() < 0.3))
    return metrics


def child(work: Path, url: str, scenario: str, hook: str | None, nth: int, ready: int) -> int:
    """One daemon-like process: recover, then cycle the canary loop and the engine until
    everything is settled."""
    from agent.loops.canary import CanaryLoop
    from agent.settings import CanarySettings, RoutingSettings
    from benchmarks.crash_harness import Hooks, child_stack, save_clock

    hooks = Hooks(hook, nth)
    tick, wrap = hooks.tick, hooks.wrap

    built = child_stack(
        work,
        url,
        step=CYCLE,
        start=START,
        routing=RoutingSettings(auto=0.7, ask=0.5),
        owner="canary-crash",
        query=lambda query: 0.002 if 'code=~"5.."' in query else None,
    )
    clock, cluster, ledger = built.clock, built.cluster, built.ledger
    metrics, decisions, engine = built.metrics, built.decisions, built.engine
    settings = CanarySettings.model_validate(
        {
            "maxDuration": MAX_DURATION,
            "queries": {
                "latency_p99": "lat" + SEL,
                "errors": "err" + SEL,
                "requests": "req" + SEL,
            },
        }
    )
    loop = CanaryLoop(
        settings,
        reader=_metrics(scenario),
        cluster=cluster,
        decisions=decisions,
        clock=clock,
        submit=engine.submit,
        events=lambda ref, reason, message, warning: cluster.post_event(
            ref, reason, message, warning=warning
        ),
        metrics=metrics,
        runbooks=engine.runbooks.values,
    )
    wrap(loop, "_decide", None, "after-verdict")
    wrap(loop, "events", None, "after-event")
    wrap(loop, "submit", None, "after-submit")
    wrap(ledger, "answer", "before-answer", "after-answer")
    wrap(cluster, "apply", "before-write", "after-write")
    wrap(loop, "_hand_on", None, "after-hand-on")
    engine.recover()
    os.write(ready, b"r")
    os.close(ready)
    quiet = 0
    for _ in range(MAX_CYCLES):
        tick("before-cycle")
        clock.advance(CYCLE)
        save_clock(work, clock)
        for question in ledger.questions():
            decisions.answer(question.id, "approved", "scripted-oncall")
        loop.cycle()
        engine.cycle()
        quiet = quiet + 1 if _settled(ledger) else 0
        if quiet > AFTER:
            return 0
    return 3  # never settled: the parent reports it


def _settled(ledger: Any) -> bool:
    verdicts = ledger.decisions(kind="canary", limit=100)
    if not verdicts or ledger.questions():
        return False
    everything = verdicts + ledger.decisions(kind="remediation", limit=1000)
    if any(d.status in OPEN for d in everything):
        return False
    return not ledger.executions(["running", "verifying", "undone", "failed"])


# ----------------------------------------------------------------------------- parent


@dataclass
class RunReport:
    scenario: str
    launches: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    missed: int = 0  # a child armed to die that finished first (its hook not reached)
    verdicts: Counter[str] = field(default_factory=Counter)  # verdict/decision status
    remediations: Counter[str] = field(default_factory=Counter)  # runbook/decision status
    rollback_writes: int = 0
    promote_writes: int = 0
    events: int = 0  # verdict Events on the canary
    duplicate_events: int = 0
    undo_writes: int = 0  # an action undone (interrupted mid-execution, or unverified)
    not_carried_out: int = 0  # its runbook decision ended without the write, saying why
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0


class _Rig:
    """The attributes the seed helpers of the integration tests read."""

    def __init__(self, server: Any, clock: Any) -> None:
        self.server, self.clock = server, clock
        self.controllers: list[Any] = []


def _seed(server: Any, clock: Any) -> list[Any]:
    """The pair as the canary promotion tests seed it (``_pair`` there): web on
    shop/web:1, web-canary on shop/web:1 then shop/web:2 (revision 2, its container named
    as the stable's); both opted in, the canary to canary-promote too. Returns the
    controllers to run."""
    from remediation.schema import CANARY_OF
    from tests.integration.remediation.rig import Controller, seed_nodes, seed_web

    rig: Any = _Rig(server, clock)
    store = server.store
    seed_nodes(rig, 3)
    seed_web(rig, replicas=4, images=("shop/web:1",))
    seed_web(rig, name=CANARY, replicas=1, images=("shop/web:1", "shop/web:2"))
    replica_sets = [
        rs["metadata"]["name"]
        for rs in store.objects("ReplicaSet", "shop")
        if rs["metadata"]["labels"].get("app") == CANARY
    ]
    for kind, name in [("Deployment", CANARY)] + [("ReplicaSet", n) for n in replica_sets]:
        store.modify(
            kind,
            "shop",
            name,
            lambda o: o["spec"]["template"]["spec"]["containers"][0].update(name=STABLE),
        )
    labels = {CANARY_OF: STABLE, "autonomic.dev/promote-canary": "true"}
    store.modify("Deployment", "shop", CANARY, lambda d: d["metadata"]["labels"].update(labels))
    controllers = [Controller(server, clock, lambda _c: "Ready") for _ in range(2)]
    return [
        functools.partial(c.reconcile, "shop", name)
        for c, name in zip(controllers, (STABLE, CANARY), strict=True)
    ]


def _ledger_view(path: Path) -> dict[str, Any]:
    from agent.ledger import open_ledger

    ledger = open_ledger(f"sqlite:///{path}", START, migrate=False)
    try:
        return {
            "verdicts": ledger.decisions(kind="canary", limit=1000),
            "remediations": ledger.decisions(kind="remediation", limit=1000),
            "intents": ledger.intents(),
            "questions": ledger.questions(),
            "executions": ledger.executions(
                ["running", "verifying", "succeeded", "undone", "failed", "escalated"]
            ),
        }
    finally:
        ledger.close()


def _check(report: RunReport, server: Any, view: dict[str, Any]) -> None:
    from benchmarks.crash_harness import _object_of, allowed_writes, excess_writes, object_writes

    bad = report.violations
    verdicts = view["verdicts"]
    revisions = Counter((d.subject, d.proposal.get("revision")) for d in verdicts)
    for (subject, revision), count in revisions.items():
        if count != 1:
            bad.append(f"{subject} revision {revision}: {count} final verdicts")
    if not verdicts:
        bad.append("no final verdict recorded")
    for d in verdicts:
        report.verdicts[f"{d.proposal.get('verdict')}/{d.status}"] += 1
    for d in view["remediations"]:
        runbook = (d.proposal.get("runbook") or d.decision_type).split("/")[0]
        report.remediations[f"{runbook}/{d.status}"] += 1
    # Writes: per object, no more than its intents (plus an undo each); the rollback and
    # the promotion at most once each.
    allowed = allowed_writes(view["intents"])
    undos: Counter[tuple[str, str, str]] = Counter()  # an undo's write is no second action
    for intent in view["intents"]:
        undos[_object_of(intent.operation)] += intent.status == "undone"
        if intent.status == "pending":
            bad.append(f"intent {intent.id} left pending")
    writes = object_writes(server.requests, dry_runs=False)
    bad += excess_writes(writes, allowed)
    canary, stable = ("deployments", "shop", CANARY), ("deployments", "shop", STABLE)
    report.rollback_writes = writes[canary] - undos[canary]
    report.promote_writes = writes[stable] - undos[stable]
    report.undo_writes = undos[canary] + undos[stable]
    if report.rollback_writes > 1:
        bad.append(f"the canary rolled back {report.rollback_writes} times")
    if report.promote_writes > 1:
        bad.append(f"the canary promoted {report.promote_writes} times")
    # Not lost: a verdict handed on has its runbook's decision.
    for d in verdicts:
        verdict = d.proposal.get("verdict")
        if verdict == "inconclusive" and d.status != "escalated":
            bad.append(f"inconclusive verdict {d.id[:8]} left {d.status}")
        if verdict in ("rollback", "promote") and d.status == "done":
            runbook = f"canary-{verdict}"
            mine = [
                r
                for r in view["remediations"]
                if (r.proposal.get("runbook") or r.decision_type).startswith(runbook)
            ]
            if not mine:
                bad.append(f"{verdict} verdict {d.id[:8]} handed on, no {runbook} decision")
            wrote = report.rollback_writes if verdict == "rollback" else report.promote_writes
            if mine and not wrote:
                # Said why: the runbook decision failed and was escalated, or was skipped.
                said = [r for r in mine if r.status in ENDED_WITHOUT and r.reason]
                if said:
                    report.not_carried_out += 1
                else:
                    bad.append(f"{verdict} verdict {d.id[:8]}: not carried out, nothing says why")
    # The verdict's Event, on the canary.
    events = [
        e
        for e in server.store.objects("Event", "shop")
        if str(e.get("reason", "")).startswith("Canary")
        and e.get("involvedObject", {}).get("name") == CANARY
    ]
    report.events = len(events)
    for d in verdicts:
        reason = f"Canary{str(d.proposal.get('verdict')).title()}"
        mine = [e for e in events if e.get("reason") == reason and d.id in e.get("message", "")]
        if not mine:
            bad.append(f"verdict {d.id[:8]}: no {reason} Event on the canary")
        report.duplicate_events += max(len(mine) - 1, 0)
    for d in verdicts + view["remediations"]:
        if d.status in OPEN:
            bad.append(f"{d.kind} decision {d.id[:8]} left {d.status}")
    if view["questions"]:
        bad.append(f"{len(view['questions'])} questions left open")
    for execution in view["executions"]:
        if execution["status"] not in ("succeeded", "escalated"):
            bad.append(f"execution {execution['key']} left {execution['status']}")


def run_one(
    index: int,
    rng: random.Random,
    max_kills: int,
    scenarios: tuple[str, ...] = SCENARIOS,
    only: str | None = None,
) -> RunReport:
    from agent.clock import FakeClock
    from benchmarks.crash_harness import (
        catch_up_clock,
        choose_kill,
        exit_code,
        fork_child,
        kill_after,
        launches,
        start_controllers,
        wait_ready,
    )
    from tests.fakekube import start_fake_apiserver

    scenario = scenarios[index % len(scenarios)]
    report = RunReport(scenario)
    began = time.monotonic()
    server = start_fake_apiserver(quiet_errors=True)
    clock = FakeClock(START)
    stop_controllers = start_controllers(_seed(server, clock))
    wanted = rng.randint(1, max_kills)
    kills = 0
    with tempfile.TemporaryDirectory(prefix="canary-crash-") as name:
        work = Path(name)
        try:
            for _ in launches(report, max_kills):
                kill = kills < wanted
                hook, nth = choose_kill(
                    rng, kill, HOOKS_FOR[scenario], at_hook=0.7, only=only, nth_max=10
                )
                pid, ready = fork_child(
                    functools.partial(child, work, server.url, scenario, hook, nth)
                )
                wait_ready(ready)  # built and recovered: kill points from here on
                if kill and hook is None:
                    kill_after(pid, rng.uniform(0.0, 1.5))
                code = exit_code(os.waitpid(pid, 0)[1])
                catch_up_clock(work, clock)
                if code == -signal.SIGKILL:
                    kills += 1
                    report.kills[hook or "delay"] += 1
                    continue
                report.missed += kill
                if code != 0:
                    report.violations.append(f"child exited {code} (3: never settled)")
                break
            _check(report, server, _ledger_view(work / "ledger.sqlite"))
        finally:
            stop_controllers()
            server.stop()
    report.seconds = time.monotonic() - began
    return report


def summarize(reports: list[RunReport]) -> str:
    from benchmarks.crash_harness import (
        hook_table,
        kill_figures,
        merged_of,
        scenario_table,
        statuses,
        total_of,
    )

    total = functools.partial(total_of, reports)
    merged = functools.partial(merged_of, reports)

    kills = merged("kills")
    lines = [
        *kill_figures(reports, kills, HOOKS),
        f"| children armed to die that finished first (hook not reached) | {total('missed')} |",
        f"| verdicts (verdict/final status) | {statuses(merged('verdicts'))} |",
        f"| runbook decisions (runbook/final status) | {statuses(merged('remediations'))} |",
        f"| rollback writes (to the canary) | {total('rollback_writes')} |",
        f"| promotion writes (to the stable) | {total('promote_writes')} |",
        f"| undo writes (an execution interrupted or not verified, undone) | "
        f"{total('undo_writes')} |",
        f"| verdict Events on the canary | {total('events')} |",
        f"| - posted again after a restart (the same verdict) | {total('duplicate_events')} |",
        f"| verdicts not carried out, their runbook decision ended saying why | "
        f"{total('not_carried_out')} |",
        f"| invariant violations | {sum(len(r.violations) for r in reports)} |",
    ]
    lines += hook_table(kills, HOOKS)
    lines += scenario_table(reports, SCENARIOS, lambda r: sum(r.kills.values()))
    return "\n".join(lines)


def main() -> int:
    from benchmarks.crash_harness import crash_parser, print_results, run_all

    parser = crash_parser(__doc__, runs=6, seed=20261125, scenarios=SCENARIOS, hooks=HOOKS)
    args = parser.parse_args()
    # Imported once, before the forks.
    import tests.integration.remediation.rig  # noqa: F401
    from agent import remediation_engine  # noqa: F401
    from agent.loops import canary  # noqa: F401
    from agent.sim import metrics  # noqa: F401

    rng = random.Random(args.seed)
    began = time.monotonic()
    scenarios = (args.scenario,) if args.scenario else SCENARIOS
    reports = run_all(
        args.runs,
        lambda index: run_one(index, rng, args.max_kills, scenarios, args.hook),
        lambda report: (
            f" {report.scenario}: kills {dict(report.kills)}, "
            f"verdicts {dict(report.verdicts)}, runbooks {dict(report.remediations)}, "
            f"writes {report.rollback_writes}+{report.promote_writes}, events {report.events}, "
            f"violations {report.violations[:3]} ({report.seconds:.1f}s)"
        ),
    )
    return print_results(summarize(reports), [v for r in reports for v in r.violations], began)


if __name__ == "__main__":
    sys.exit(main())
