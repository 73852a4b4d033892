"""Crash safety of the anomaly path: scripted anomalies, SIGKILLs, restarts, invariants.

    .venv/bin/python benchmarks/anomaly_crash.py --runs 30
    .venv/bin/python benchmarks/anomaly_crash.py --runs 5 --hook after-save
    .venv/bin/python benchmarks/anomaly_crash.py --plan before-cycle@6,after-save@38

A companion to ``crash_harness.py`` (the remediation engine), ``scaling_crash.py`` (the
scaling loop) and ``answer_crash.py`` (a person's answer), for the anomaly loop. One run:
the fake API server lives in this (the parent) process, holding two opted-in Deployments
(web and api, shop) in the middle of a rollout. A forked child runs the real code: the
anomaly loop (``agent.loops.anomaly``) over a scripted metrics port, its incidents sent
as signals to the real remediation engine with the shipped runbooks (the
``error-rate-pause-rollout`` runbook pauses a rollout whose error ratio climbs), the
real ``KubernetesCluster`` adapter over HTTP, a SQLite ledger file and a fake clock
persisted to a file; one loop cycle then one engine cycle per fake minute, a scripted
on-call approving any question.

The script (minutes from the start, one point a minute, three hours of history before):
web's ``http_error_ratio`` spikes for 3 minutes at minute 10; api's climbs to a plateau
for 12 minutes at minute 20; web's ``latency_p99`` is +Inf (off the scale) for 6 minutes
at minute 40. A child that has read up to minute ``END`` with nothing left open exits 0.

The parent SIGKILLs the child after a random delay, or arms a hook point where the child
kills itself (methods of the child's objects wrapped, as in the other harnesses):

- ``after-open``: an incident opened; its report (ledger observation, signal) not made;
- ``after-record``: the observation is in the ledger; the signal not sent;
- ``after-signal``: the signal is in the engine's queue; its series not saved yet;
- ``queued``: the loop's cycle is over (the series saved, incident open and reported);
  the signal waits in the engine's queue for the engine's cycle;
- ``after-save``: a batch of series states (detector, incident) saved in the ledger;
- ``closing``: an incident is closing (in memory), not saved yet;
- ``before-write`` / ``after-write``: around the runbook's cluster write;
- ``before-cycle``: at the start of a fake minute.

A fresh child goes on from the ledger, until one finishes the script. Checked after
every run, from the ledger and the fake server's request log:

- every scripted anomaly is reported as exactly one incident: one anomaly observation
  on its series opened within its window (none lost, none twice), and none elsewhere;
- every incident the error-ratio runbook takes up (web's and api's) is decided once: one
  remediation decision for its incident key (its signal not lost in a crash);
- no write twice: no more writes to an object than intents recorded for it;
- every run settled: intents applied, undone, abandoned or failed; executions ended;
  no decision left approved, executing or verifying;
- closed once: each incident ends closed, and the series states saved in the ledger
  never name one incident closed at two different times.

Prints a markdown table; exits 1 on any violation. Each run's line names its launches'
kills (``hook@nth``, ``delay``, or ``-`` for the last launch, not killed); ``--plan``
runs one run with those kills. The seed alone does not replay a run: a kill after a
random delay lands or not with the machine's speed, and the draws after it change.

Measured on the shared 2-core machine (session 44). ``--runs 3 --hook queued``: main at
ba1a39ab, 3 of 3 runs lose web's incident's signal (0 remediation decisions: no runbook
ever saw it); branch anomcrash44, 0 of 3. ``--runs 30`` (seed 20261126) on anomcrash44:
36 SIGKILLs, 1 violation, 150 s: a kill at ``before-cycle`` 6 (the start of minute 5)
lost api's plateau (``--plan before-cycle@6,after-save@38`` replays it). Only web's error
series had been saved (its round-robin turn); the restarted loop read the query from
web's last point, so api's series got only the points since, its detector in its
30-point warm-up at minute 20. Fixed in the loop (anomcrash44b: a series is saved by the
read that first returns it); that plan then records all 3 incidents. ``--runs 30`` on
anomcrash44b: 76 processes, 46 SIGKILLs (10 at random, 36 at hook points, 5 of them
``after-signal``, which before anomcrash44b never fired), 90 of 90 scripted anomalies
recorded once each, 30 remediation decisions (27 verified, 3 failed and escalated after
a kill before the write), 27 Deployment writes, none twice, 0 violations, 222 s.
"""

from __future__ import annotations

import functools
import json
import logging
import math
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

HOOKS = (
    "after-open",
    "after-record",
    "after-signal",
    "queued",
    "after-save",
    "closing",
    "before-write",
    "after-write",
    "before-cycle",
)
STEP = 60.0
START = math.floor(1_794_996_000.0 / STEP) * STEP
HISTORY = 3 * 3600
END = 75  # minutes of script: every incident has closed by then
ERRORS = "http_error_ratio"
LATENCY = "latency_p99"
WEB = {"namespace": "shop", "deployment": "web"}
API = {"namespace": "shop", "deployment": "api"}


@dataclass(frozen=True)
class Anomaly:
    """One scripted anomaly: ``query`` on the Deployment ``name`` at ``value`` from
    minute ``at`` for ``length`` minutes."""

    query: str
    name: str
    at: int
    length: int
    value: float

    def series(self) -> str:
        return f"{self.query}{{deployment={self.name},namespace=shop}}"

    def covers(self, ts: float) -> bool:
        minute = (ts - START) / STEP
        return self.at <= minute < self.at + self.length

    def window(self) -> tuple[float, float]:
        """When its incident may open: from its first point to a few after its last."""
        return START + self.at * STEP, START + (self.at + self.length + 3) * STEP


SCRIPT = (
    Anomaly(ERRORS, "web", 10, 3, 0.3),
    Anomaly(ERRORS, "api", 20, 12, 0.4),
    Anomaly(LATENCY, "web", 40, 6, math.inf),
)
# The error-rate-pause-rollout runbook takes up an http_error_ratio incident of this
# confidence or more (its trigger's minConfidence): web's spike, not api's plateau, whose
# calibrated confidence is lower (the loop's own judgement, not what this checks).
ACTED = (ERRORS,)
MIN_CONFIDENCE = 0.6


# ------------------------------------------------------------------------------ child


class Script:
    """The scripted metrics port: smooth series (an error ratio about 1 %, a p99 about
    0.42 s) with ``SCRIPT``'s anomalies, read as ``PrometheusReader`` reads a range: +-Inf
    become NaN with their places kept in ``infinite``; nothing after ``now``."""

    def range(self, query: str, start: float, end: float, step: float, now: float) -> list[Any]:
        import numpy as np

        from agent.metrics_port import MetricSeries
        from forecasting.series import Series

        grid = np.arange(math.ceil(start / step) * step, min(end, now) + 1, step)
        out = []
        kinds = [(WEB, 0.0), (API, 1.0)] if query == ERRORS else [(WEB, 0.0)]
        for labels, shift in kinds:
            if query == ERRORS:
                values = 0.01 + 0.002 * np.sin(grid / 1800.0 + shift) + 0.0005 * np.cos(grid / 97.0)
            else:
                values = 0.42 + 0.02 * np.sin(grid / 1800.0) + 0.005 * np.cos(grid / 97.0)
            for anomaly in SCRIPT:
                if anomaly.query == query and anomaly.name == labels["deployment"]:
                    hit = np.array([anomaly.covers(float(t)) for t in grid], dtype=bool)
                    values[hit] = anomaly.value
            infinite = tuple((int(i), float(values[i])) for i in np.flatnonzero(np.isinf(values)))
            finite = np.flatnonzero(np.isfinite(values))
            last = float(grid[finite[-1]]) if finite.size else None
            stale = last is None or now - last > 300.0
            newest_inf = float(grid[infinite[-1][0]]) if infinite else None
            fresh_inf = stale and newest_inf is not None and now - newest_inf <= 300.0
            gaps = np.where(np.isfinite(values), values, np.nan)
            series = Series(grid, gaps, step, query, dict(labels))
            out.append(
                MetricSeries(
                    query,
                    dict(labels),
                    series,
                    int((~np.isfinite(values)).sum()),
                    last,
                    stale,
                    float(np.isnan(gaps).mean()) if len(gaps) else 0.0,
                    infinite=infinite,
                    off_scale_fresh=fresh_inf,
                )
            )
        return out

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return []


def _promql(query: str) -> float | None:
    """The engine's PromQL: traffic enough, and the error ratio back under 5 % (the
    runbook's precondition and verification)."""
    if 'code=~"5.."' in query:
        return 0.01
    if "http_requests_total" in query:
        return 40.0
    return None


def child(work: Path, url: str, hook: str | None, nth: int, ready: int) -> int:
    """One daemon-like process: recover, then a loop cycle and an engine cycle per fake
    minute, until the script's end with nothing left open."""
    from agent.loops.anomaly import AnomalyLoop
    from agent.settings import AnomalyQuery, RoutingSettings
    from benchmarks.crash_harness import Hooks, child_stack, save_clock

    logging.disable(logging.WARNING)  # runbooks declining signals, said every run
    hooks = Hooks(hook, nth)
    tick, wrap = hooks.tick, hooks.wrap

    built = child_stack(
        work,
        url,
        step=STEP,
        start=START,
        # an incident's calibrated confidence (65 % at most): routed to act
        routing=RoutingSettings(auto=0.4, ask=0.2),
        owner="anomaly-crash",
        query=_promql,
    )
    clock, cluster, ledger = built.clock, built.cluster, built.ledger
    metrics, decisions, engine = built.metrics, built.decisions, built.engine
    queries = [
        AnomalyQuery(name=name, expr=name, step=int(STEP), history=HISTORY)
        for name in (ERRORS, LATENCY)
    ]
    loop = AnomalyLoop(
        queries,
        reader=Script(),
        ledger=ledger,
        decisions=decisions,
        submit=engine.submit,
        clock=clock,
        metrics=metrics,
    )
    wrap(loop, "_report", "after-open", None)
    wrap(decisions, "observe", None, "after-record")
    # the loop's own reference: it took ``engine.submit`` when built, so wrapping the
    # engine's attribute (as before session 44's review) never armed this hook
    wrap(loop, "submit", None, "after-signal")
    _log_closes(loop, work / "closes.jsonl")
    wrap(loop, "_save_items", None, "after-save")
    wrap(loop, "_closing", None, "closing")
    wrap(cluster, "apply", "before-write", "after-write")
    engine.recover()
    os.write(ready, b"r")
    os.close(ready)
    while clock.now() <= START + END * STEP:
        tick("before-cycle")
        for question in ledger.questions():
            decisions.answer(question.id, "approved", "scripted-oncall")
        loop.cycle()
        if engine._queue:  # an incident's signal, its series saved; the engine not run
            tick("queued")
        engine.cycle()
        save_clock(work, clock)
        clock.advance(STEP)
    # The script is over: every incident has closed; what the engine started, it ends.
    for _ in range(40):
        if _settled(ledger):
            return 0
        clock.advance(30.0)
        engine.cycle()
    return 3  # never settled: the parent reports it


def _log_closes(loop: Any, path: Path) -> None:
    """After each save of series states, append the closed incident each state saved
    names (its key, when and how it closed) to ``path``: what the ledger said at some
    time, for the parent's closed-once check (the ledger keeps the last one only)."""
    inner = loop._save_items

    def save_items(items: list[tuple[str, Any]], **kwargs: Any) -> int:
        left = int(inner(items, **kwargs))
        lines = [
            json.dumps({"series": key, **state.closed.record()}) + "\n"
            for key, state in items
            if state.closed is not None and state.saved_ts == state.last_ts
        ]
        if lines:
            with path.open("a") as out:
                out.writelines(lines)
        return left

    loop._save_items = save_items


def _settled(ledger: Any) -> bool:
    open_ = [
        d
        for d in ledger.decisions(kind="remediation", limit=1000)
        if d.status in ("asked", "approved", "executing", "verifying")
    ]
    return not open_ and not ledger.executions(["running", "verifying", "undone", "failed"])


# ----------------------------------------------------------------------------- parent


@dataclass
class RunReport:
    launches: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    incidents: int = 0  # anomaly observations recorded
    remediations: int = 0  # remediation decisions
    acted: int = 0  # incidents a runbook takes up
    decisions: Counter[str] = field(default_factory=Counter)
    executions: Counter[str] = field(default_factory=Counter)
    writes: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    plan: list[str] = field(default_factory=list)  # each launch's kill: hook@nth, delay, -


def _seed(server: Any) -> None:
    """web and api (shop), opted in, their newest revision rolled out a minute before the
    script starts, the rollout under way (what the error-ratio runbook needs)."""
    from agent.clock import FakeClock
    from tests.integration.remediation.rig import seed_nodes, seed_web

    class _Rig:  # the two attributes the seed helpers read
        def __init__(self) -> None:
            self.server, self.clock = server, FakeClock(START)

    rig: Any = _Rig()
    seed_nodes(rig, 2)
    for name in ("web", "api"):
        seed_web(rig, name=name, images=(f"shop/{name}:1", f"shop/{name}:2"))
        server.store.modify(
            "Deployment", "shop", name, lambda d: d["status"].update(updatedReplicas=1)
        )


def _ledger_view(path: Path) -> dict[str, Any]:
    from agent.ledger import open_ledger

    ledger = open_ledger(f"sqlite:///{path}", START, migrate=False)
    try:
        keys = ledger.guard_keys("anomaly/")
        return {
            "anomalies": ledger.decisions(kind="anomaly", limit=1000),
            "remediations": ledger.decisions(kind="remediation", limit=1000),
            "intents": ledger.intents(),
            "executions": ledger.executions(
                ["running", "verifying", "succeeded", "undone", "failed", "escalated"]
            ),
            "series": {key.removeprefix("anomaly/"): ledger.guard(key)[0] for key in keys},
        }
    finally:
        ledger.close()


def _closes(path: Path) -> list[dict[str, Any]]:
    """Each closed incident a saved series state named, as the child's saves saw them."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _check(report: RunReport, server: Any, view: dict[str, Any], closes: list[Any]) -> None:
    from benchmarks.crash_harness import allowed_writes, excess_writes, object_writes

    bad = report.violations
    anomalies = view["anomalies"]
    report.incidents = len(anomalies)
    keys_of: dict[Anomaly, str] = {}
    placed: set[str] = set()
    for anomaly in SCRIPT:
        mine = [(key, r) for key, r in _keyed(anomalies) if _of(key, r, anomaly)]
        placed.update(key for key, _ in mine)
        if not mine:
            bad.append(f"{anomaly.series()} at minute {anomaly.at}: no incident recorded")
        elif len(mine) > 1:
            bad.append(
                f"{anomaly.series()} at minute {anomaly.at}: {len(mine)} incidents recorded "
                f"({', '.join(k for k, _ in mine)})"
            )
        else:
            keys_of[anomaly] = mine[0][0]
    for key, _record in _keyed(anomalies):
        if key not in placed:
            bad.append(f"incident {key}: recorded, but nothing was scripted there")
    remediations = view["remediations"]
    report.remediations = len(remediations)
    for anomaly, key in keys_of.items():
        (record,) = [r for k, r in _keyed(anomalies) if k == key]
        if anomaly.query not in ACTED or record.confidence < MIN_CONFIDENCE:
            continue
        report.acted += 1
        decided = [d for d in remediations if str(d.incident_key).endswith("|" + key)]
        if len(decided) != 1:
            bad.append(f"incident {key}: {len(decided)} remediation decisions, not 1")
    for decision in remediations:
        report.decisions[decision.status] += 1
        if decision.status in ("approved", "executing", "verifying"):
            bad.append(f"decision {decision.id[:8]} left {decision.status}")
    bad += [f"intent {i.id} left pending" for i in view["intents"] if i.status == "pending"]
    writes = object_writes(server.requests)
    report.writes = sum(writes.values())
    bad += excess_writes(writes, allowed_writes(view["intents"]))
    for execution in view["executions"]:
        report.executions[execution["status"]] += 1
        if execution["status"] not in ("succeeded", "escalated"):
            bad.append(f"execution {execution['key']} left {execution['status']}")
    for series, saved in view["series"].items():
        current = (saved.get("tracker") or {}).get("current")
        if current is not None:
            bad.append(f"series {series}: an incident still open at the end")
    when: dict[str, set[tuple[float, str]]] = {}
    for close in closes:
        when.setdefault(close["incident_key"], set()).add((close["closed_at"], close["how"]))
    for key, ends in when.items():
        if len(ends) > 1:
            bad.append(f"incident {key} closed {len(ends)} times: {sorted(ends)}")


def _keyed(records: list[Any]) -> list[tuple[str, Any]]:
    return [(str(r.incident_key), r) for r in records]


def _opened_at(key: str) -> float | None:
    """The opening time an anomaly incident key ends with (``.../<epoch>``)."""
    try:
        return float(key.rsplit("/", 1)[1])
    except (IndexError, ValueError):
        return None


def _of(key: str, record: Any, anomaly: Anomaly) -> bool:
    """Whether an anomaly observation (``key`` its incident key) is of ``anomaly``: its
    query, its Deployment, opened within its window."""
    labels = (record.evidence or {}).get("labels") or {}
    query = str(record.decision_type).removeprefix("anomaly/")
    opened = _opened_at(key)
    low, high = anomaly.window()
    same = query == anomaly.query and labels.get("deployment") == anomaly.name
    return same and opened is not None and low <= opened <= high


def run_one(
    rng: random.Random,
    max_kills: int,
    only: str | None = None,
    plan: list[tuple[str | None, int]] | None = None,
) -> RunReport:
    """One run. ``plan``: each launch's kill (hook and n-th passage, or None: after a
    random delay) instead of ``rng``'s, as a run's report printed them (``--plan``)."""
    from benchmarks.crash_harness import (
        choose_kill,
        exit_code,
        fork_child,
        kill_after,
        launches,
        wait_ready,
    )
    from tests.fakekube import start_fake_apiserver

    report = RunReport()
    began = time.monotonic()
    server = start_fake_apiserver(quiet_errors=True)
    _seed(server)
    wanted = rng.randint(1, max_kills) if max_kills else 0
    if plan is not None:
        wanted, max_kills = len(plan), len(plan)
    kills = 0
    with tempfile.TemporaryDirectory(prefix="anomaly-crash-") as name:
        work = Path(name)
        try:
            for _ in launches(report, max_kills):
                kill = kills < wanted
                hook, nth = choose_kill(
                    rng,
                    kill,
                    HOOKS,
                    at_hook=0.7,
                    only=only,
                    nth_max=40,
                    counted=("before-cycle", "after-save"),
                )
                if plan is not None:
                    hook, nth = plan[kills] if kill else (None, 1)
                report.plan.append(f"{hook}@{nth}" if hook else "delay" if kill else "-")
                pid, ready = fork_child(functools.partial(child, work, server.url, hook, nth))
                wait_ready(ready)  # built: kill points from here on
                if kill and hook is None:
                    kill_after(pid, rng.uniform(0.0, 3.0))
                code = exit_code(os.waitpid(pid, 0)[1])
                if code == -signal.SIGKILL:
                    kills += 1
                    report.kills[hook or "delay"] += 1
                    continue
                if code != 0:
                    report.violations.append(f"child exited {code}")
                break
            view = _ledger_view(work / "ledger.sqlite")
            _check(report, server, view, _closes(work / "closes.jsonl"))
        finally:
            server.stop()
    report.seconds = time.monotonic() - began
    return report


def summarize(reports: list[RunReport]) -> str:
    from benchmarks.crash_harness import hook_table, kill_figures, merged_of, statuses, total_of

    total = functools.partial(total_of, reports)
    merged = functools.partial(merged_of, reports)
    kills = merged("kills")
    lines = [
        *kill_figures(reports, kills, HOOKS),
        f"| anomalies scripted | {len(SCRIPT) * len(reports)} |",
        f"| incidents recorded | {total('incidents')} |",
        f"| remediation decisions | {total('remediations')} |",
        f"| decisions by final status | {statuses(merged('decisions'))} |",
        f"| executions by final status | {statuses(merged('executions'))} |",
        f"| Deployment writes | {total('writes')} |",
        f"| invariant violations | {sum(len(r.violations) for r in reports)} |",
    ]
    lines += hook_table(kills, HOOKS)
    return "\n".join(lines)


def _planned(step: str) -> tuple[str | None, int]:
    """``hook@nth`` (or ``hook``: its first passage), or ``delay``."""
    hook, _, nth = step.strip().partition("@")
    if hook == "delay":
        return None, 1
    if hook not in HOOKS:
        raise SystemExit(f"--plan: {hook!r} is not a hook point ({', '.join(HOOKS)}) or delay")
    return hook, int(nth or 1)


def main() -> int:
    from benchmarks.crash_harness import crash_parser, print_results, run_all

    parser = crash_parser(__doc__, runs=30, seed=20261126, hooks=HOOKS)
    parser.add_argument(
        "--plan",
        help="one run, its kills as a run's line printed them: e.g. before-cycle@6,delay "
        "(a kill that does not land ends the run, as in a random run)",
    )
    args = parser.parse_args()
    plan = None
    if args.plan is not None:
        plan = [_planned(step) for step in args.plan.split(",") if step.strip() != "-"]
        args.runs = 1
    # Imported once, before the forks.
    import tests.integration.remediation.rig  # noqa: F401
    from agent import remediation_engine  # noqa: F401
    from agent.loops import anomaly  # noqa: F401

    rng = random.Random(args.seed)
    began = time.monotonic()
    reports = run_all(
        args.runs,
        lambda _index: run_one(rng, args.max_kills, args.hook, plan),
        lambda report: (
            f": kills {dict(report.kills)}, incidents "
            f"{report.incidents}, remediations {report.remediations} plan {report.plan} "
            f"{dict(report.decisions)}, violations {report.violations[:3]} "
            f"({report.seconds:.1f}s)"
        ),
    )
    return print_results(summarize(reports), [v for r in reports for v in r.violations], began)


if __name__ == "__main__":
    sys.exit(main())
