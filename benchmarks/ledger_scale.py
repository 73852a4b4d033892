"""How big the ledger gets, and what slows down as it grows.

    .venv/bin/python benchmarks/ledger_scale.py --source /tmp/ls40.db \
        [--workloads 1000] [--days 3,10] [--backends sqlite,postgresql] [--quick]

``--source`` is a ledger written by ``autonomic simulate --quiet --ledger FILE`` (the
default scenario's week). Its rows give the rates: rows per table per day, divided by the
scenario's fleet (its workloads), times ``--workloads``. The filled ledger is made of
copies of the source's own rows (so payloads have their real sizes), moved in time and
renamed per workload: a decision comes with its feedback, status history, questions,
execution, intents and action-log rows, as the simulation wrote them; the other tables
(model versions, held-back rows, counted triggers, aged guards, thresholds, alerts) are
copied at their own rates. Rows go in by bulk insert (SQLAlchemy Core ``executemany``)
into a ledger created by ``open_ledger`` (so the schema, its indexes and migrations are
the release's own), not through the Ledger's API: the API writes one transaction per
call, 10^5 to 10^7 of them here.

At each size (days, cumulative) it prints the database's size, rows per table and the
time of each read the daemon and the commands make (median of 3, in-process), then
``EXPLAIN QUERY PLAN`` (SQLite) or ``EXPLAIN`` (PostgreSQL) of every statement of the
reads slower than ``--explain-ms``, and last the hourly prune of the oldest day.
PostgreSQL is a throwaway server on 127.0.0.1 (tests/harness/servers.py; the Debian
package's binaries).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import re
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from agent.ledger import open_ledger  # noqa: E402
from agent.ledger.schema import tables  # noqa: E402
from agent.ledger.store import OPEN_RUNS, TERMINAL, Ledger  # noqa: E402

DAY = 86_400.0
START = 1_800_000_000.0  # the filled ledger's first day (2027-01-15)
TIME_COLUMNS = {
    "created_at",
    "updated_at",
    "asked_at",
    "expires_at",
    "answered_at",
    "at",
    "first_seen",
    "last_seen",
    "starts_at",
    "ends_at",
    "received_at",
    "delivered_at",
    "handled_at",
    "last_attempt_at",
    "given_up_at",
    "handling_since",
    "counted_at",
    "retired_at",
}
# Tables whose rows hang off a decision (copied with it), and those copied on their own.
CHILDREN = ("decision_status", "feedback", "questions", "executions", "intents", "action_log")
OWN_RATE = ("model_versions", "held_back", "counted_triggers", "guard_state", "alerts")
PER_FLEET = ("thresholds",)  # per decision type, not per workload
SKIP = ("schema_version",)
WORKLOAD = re.compile(r"\bshop/([a-z]+)")
SERIES = re.compile(r"deployment=([a-z]+),namespace=shop")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Source:
    """The simulated ledger's rows, grouped by the decision they belong to."""

    def __init__(self, path: str) -> None:
        engine = sa.create_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            self.rows = {
                name: [dict(r) for r in conn.execute(sa.select(t)).mappings()]
                for name, t in tables.items()
                if name not in SKIP
            }
        engine.dispose()
        decisions = self.rows["decisions"]
        times = [d["created_at"] for d in decisions]
        self.days = (max(times) - min(times)) / DAY
        # The fleet: every workload the simulation named (``shop/NAME``).
        names: set[str] = set()
        for d in decisions:
            names.update(WORKLOAD.findall(d["subject"]))
        names = {n.removesuffix("-canary") for n in names}
        self.workloads = sorted(names)
        self.children: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for name in CHILDREN:
            for row in self.rows[name]:
                if row.get("decision_id"):
                    self.children[row["decision_id"]][name].append(row)

    def per_workload_day(self) -> dict[str, float]:
        fleet = len(self.workloads)
        return {
            name: len(rows) / self.days / (1 if name in PER_FLEET else fleet)
            for name, rows in self.rows.items()
        }


class Filler:
    def __init__(self, source: Source, workloads: int, seed: int) -> None:
        self.source = source
        self.workloads = workloads
        self.rng = random.Random(seed)
        self.serial = 0
        self.carry: defaultdict[str, float] = defaultdict(float)
        self.index = {name: i for i, name in enumerate(source.workloads)}

    def _rename(self, text: str, workload: int) -> str:
        fleet = len(self.source.workloads)

        def name(match: re.Match[str]) -> str:
            base = match.group(1).removesuffix("-canary")
            k = self.index.get(base, 0) + fleet * (workload // fleet)
            return f"ns{k % 50}/app{k}"

        text = WORKLOAD.sub(name, text)
        return SERIES.sub(lambda m: f"deployment=app{workload},namespace=ns{workload % 50}", text)

    def _copy(self, row: dict[str, Any], shift: float, workload: int, ids: dict[str, str]) -> Any:
        out = dict(row)
        for col, value in row.items():
            if col in TIME_COLUMNS and isinstance(value, float):
                out[col] = value + shift
            elif isinstance(value, str) and col not in ("reason",):
                for old, new in ids.items():
                    if old in value:
                        value = value.replace(old, new)
                out[col] = self._rename(value, workload)
        if "id" in out and isinstance(out["id"], int):
            del out["id"]
        return out

    def day(self, first: float) -> dict[str, list[dict[str, Any]]]:
        """Rows for one day of the fleet (copies at the source's rates)."""
        rates = self.source.per_workload_day()
        batch: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for name in ("decisions", *OWN_RATE, *PER_FLEET):
            want = rates[name] * (1 if name in PER_FLEET else self.workloads) + self.carry[name]
            count = int(want)
            self.carry[name] = want - count
            templates = self.source.rows[name]
            for _ in range(count if templates else 0):
                self.serial += 1
                template = self.rng.choice(templates)
                at = first + self.rng.random() * DAY
                stamp = template.get("created_at") or template.get("last_seen") or 0.0
                shift = at - float(stamp or at)
                workload = self.rng.randrange(self.workloads)
                if name != "decisions":
                    row = self._copy(template, shift, workload, {})
                    for key in ("key", "dedup_key"):
                        if key in row:
                            row[key] = f"{row[key]}#{self.serial}"
                    if name == "held_back":
                        row["reason_code"] = f"{row['reason_code']}#{self.serial}"
                    if name == "alerts":
                        row["fingerprint"] = f"{row['fingerprint']}{self.serial}"
                    if name == "model_versions" and row["status"] == "live":
                        row.update(status="retired", live_series=None, retired_at=at)
                    batch[name].append(row)
                    continue
                new_id = uuid.uuid4().hex
                ids = {template["id"]: new_id}
                if template["incident_key"]:
                    ids[template["incident_key"]] = f"{template['incident_key']}#{self.serial}"
                row = self._copy(template, shift, workload, ids)
                row["id"] = new_id
                if row["status"] not in TERMINAL:
                    row["status"] = "verified"
                batch["decisions"].append(row)
                for child, rows in self.source.children[template["id"]].items():
                    for r in rows:
                        c = self._copy(r, shift, workload, ids)
                        if child == "questions":
                            c["id"] = uuid.uuid4().hex
                            if c["status"] == "pending":
                                c["status"] = "expired"
                        if child == "executions":
                            c["key"] = f"{c['key']}#{self.serial}"
                            if c["status"] in OPEN_RUNS:
                                c["status"] = "verified"
                        if child == "intents":
                            c["execution_key"] = f"{c['execution_key']}#{self.serial}"
                            if c["status"] in ("pending", "undoing"):
                                c["status"] = "applied"
                        batch[child].append(c)
        return batch


def fill(ledger: Ledger, filler: Filler, days: range) -> int:
    written = 0
    began = time.perf_counter()
    for d in days:
        batch = filler.day(START + d * DAY)
        with ledger.engine.begin() as conn:
            for name in ("decisions", *CHILDREN, *OWN_RATE, *PER_FLEET):
                if batch.get(name):
                    conn.execute(tables[name].insert(), batch[name])
                    written += len(batch[name])
        rate = written / (time.perf_counter() - began)
        log(f"  day {d + 1}: {written:,} rows written ({rate:,.0f} rows/s)")
    return written


def size_of(ledger: Ledger, url: str) -> int:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with ledger.engine.connect() as conn:
        return int(
            conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one()
        )


def counts(ledger: Ledger) -> dict[str, int]:
    with ledger.engine.connect() as conn:
        return {
            name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() or 0)
            for name, t in tables.items()
            if name not in SKIP
        }


class Recorder:
    """The SELECTs an operation sends, to explain the slow ones."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.on = False
        # Every engine: a command opens its own.
        sa.event.listen(sa.Engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if self.on and statement.lstrip().upper().startswith("SELECT"):
            self.statements.append((statement, params))


RECORDER = Recorder()


def reads(
    ledger: Ledger, url: str, workloads: int, now: float
) -> list[tuple[str, Callable[[], Any]]]:
    """The reads to time: the cycles', start-up's, housekeeping's and the commands'."""
    from agent.approvals import Approvals, LedgerOnlyChannel
    from agent.cli import main
    from agent.clock import FakeClock
    from agent.decisions import DecisionService
    from agent.loops.scaling import FLOOR_DECISION, REMEDIATION_OPEN
    from agent.observability import Metrics
    from agent.settings import RoutingSettings

    clock = FakeClock(now)
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=3600, snooze=900)
    service = DecisionService(
        ledger, clock, RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    subjects = [f"Deployment/ns{k % 50}/app{k}" for k in range(workloads)]
    recent = ledger.decisions(kind="remediation", limit=1)
    some = recent[0] if recent else ledger.decisions(limit=1)[0]
    incidents = [
        r.incident_key for r in ledger.decisions(kind="remediation", limit=200) if r.incident_key
    ]
    rb_type = some.decision_type
    runbook = rb_type.split("/")[0]

    def housekeeping_recalibration() -> int:
        # As Daemon.housekeeping does, but the prune (timed on its own below).
        since = now - 7 * DAY
        types = service.learning_types(since)
        for t in types:
            service.recalibrate(t)
        service.publish_gauges(since, types)
        return len(types)

    def cli(*argv: str) -> Callable[[], int]:
        def run() -> int:
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                return main([*argv, "--ledger", url])

        return run

    return [
        # the scaling loop, every minute, at ``workloads`` workloads
        (
            "start-up: latest floor decisions (all)",
            lambda: ledger.latest_decisions(FLOOR_DECISION, subjects),
        ),
        (
            "scaling: open scaling decisions",
            lambda: ledger.decisions(
                kind="scaling", status=["asked", "approved", "verifying"], limit=10_000
            ),
        ),
        (
            "scaling: open remediations",
            lambda: ledger.decisions(
                kind="remediation", status=list(REMEDIATION_OPEN), limit=10_000
            ),
        ),
        ("scaling: pending intents", lambda: ledger.intents(status=["pending"])),
        ("scaling: written guard keys", lambda: ledger.guard_keys("scaling/written/")),
        (
            "scaling: intents of one run",
            lambda: ledger.intents(execution_key=f"scaling/{subjects[0]}/x"),
        ),
        # the remediation cycle, every 30 s
        (
            "remediation: approved",
            lambda: ledger.decisions(kind="remediation", status=["approved"], limit=500),
        ),
        (
            "remediation: executing",
            lambda: ledger.decisions(kind="remediation", status=["executing"], limit=1000),
        ),
        ("remediation: runs verifying/paused", lambda: ledger.executions(["verifying", "paused"])),
        (
            "remediation: undo requested",
            lambda: ledger.decisions(kind="remediation", status=["undo-requested"], limit=100),
        ),
        ("remediation: latest of 200 incidents", lambda: ledger.latest_for_incidents(incidents)),
        (
            "remediation: held_back of a subject",
            lambda: ledger.held_back(runbook=runbook, subject=some.subject),
        ),
        (
            "remediation: a subject's recent decisions",
            lambda: ledger.decisions(
                kind="remediation", decision_type=rb_type, subject=some.subject, limit=20
            ),
        ),
        (
            "remediation: runbook's failed (breaker)",
            lambda: ledger.decisions(
                kind="remediation", type_prefix=f"{runbook}/", status=["failed", "undone"], limit=3
            ),
        ),
        (
            "remediation: cooldown (action log)",
            lambda: ledger.count_actions(now - 3600, runbook=runbook, target=some.subject),
        ),
        (
            "remediation: incident hindsight",
            lambda: ledger.incident_hindsight(some.incident_key or ""),
        ),
        ("remediation: pending alerts", ledger.pending_alerts),
        (
            "remediation: firing alerts",
            lambda: ledger.firing_alerts(now, delivered_since=now - 3 * 3600),
        ),
        ("approvals: due questions", lambda: ledger.due_questions(now)),
        ("approvals: answered waiting", ledger.answered_waiting),
        ("approvals: answered since 1 min", lambda: ledger.answered_since(now - 60)),
        # start-up and recovery
        ("start-up: running executions", lambda: ledger.executions(["running"])),
        (
            "start-up: superseded, last 24 h",
            lambda: ledger.decisions(
                kind="remediation", status=["superseded"], updated_since=now - DAY, limit=1000
            ),
        ),
        ("start-up: model numbering (1 workload)", lambda: ledger.model_version_tally(subjects[0])),
        ("start-up: pending questions", lambda: ledger.questions("pending")),
        # housekeeping, hourly
        ("housekeeping: recalibration", housekeeping_recalibration),
        # the commands
        ("cli: history", cli("history")),
        ("cli: why", cli("why")),
        ("cli: explain", cli("explain", some.id[:8])),
        ("cli: calibration", cli("calibration")),
        ("cli: approvals list --all", cli("approvals", "list", "--all")),
        ("cli: alerts list", cli("alerts", "list")),
    ]


def explain(ledger: Ledger, statements: list[tuple[str, Any]]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    prefix = "EXPLAIN QUERY PLAN " if ledger.engine.dialect.name == "sqlite" else "EXPLAIN "
    with ledger.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        for statement, params in statements:
            if statement in seen:
                continue
            seen.add(statement)
            cursor = raw.cursor()
            cursor.execute(prefix + statement, params)
            plan = [" ".join(str(c) for c in row) for row in cursor.fetchall()]
            cursor.close()
            out.append("    " + " ".join(statement.split())[:300])
            out.extend("      " + line for line in plan)
    return out


def measure(ledger: Ledger, url: str, workloads: int, now: float, explain_ms: float) -> list[str]:
    recorder = RECORDER
    lines: list[str] = []
    slow: list[tuple[str, list[tuple[str, Any]]]] = []
    for name, op in reads(ledger, url, workloads, now):
        took = []
        recorder.statements = []
        log(f"  {name}...")
        # The first run warms the cache (and imports a command's modules); then the median
        # of 3, or one more run of a read that took over a second; one that took over 5 s
        # is not run again (that first time is the figure).
        for i in range(4):
            recorder.on = i <= 1  # explain() reads each statement once
            began = time.perf_counter()
            op()
            took.append(time.perf_counter() - began)
            if (took[0] > 1.0 and i == 1) or took[0] > 5.0:
                break
        ms = statistics.median(took[1:] or took) * 1000
        log(f"  {name}: {ms:,.1f} ms")
        lines.append(f"| {name} | {ms:,.1f} |")
        if ms >= explain_ms:
            slow.append((name, list(recorder.statements)))
        recorder.on = False
    plans: list[str] = []
    for name, statements in slow:
        plans.append(f"  {name}:")
        plans.extend(explain(ledger, statements))
    return [*lines, "", *plans]


def prune_oldest(ledger: Ledger, cut: float) -> str:
    """The hourly prune, cutting one day: the ledger's oldest still there, ending at
    ``cut`` (as with ``retentionDays`` one day shorter than what it holds)."""
    timed: list[tuple[float, str, Any]] = []
    started: list[float] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        started.append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        timed.append((time.perf_counter() - started.pop(), statement, params))

    sa.event.listen(ledger.engine, "before_cursor_execute", before)
    sa.event.listen(ledger.engine, "after_cursor_execute", after)
    began = time.perf_counter()
    try:
        pruned = ledger.prune(cut, series_before=cut, alerts_before=cut)
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", before)
        sa.event.remove(ledger.engine, "after_cursor_execute", after)
    took = time.perf_counter() - began
    lines = [f"prune of the oldest day: {took:.2f} s, {sum(pruned.values()):,} rows ({pruned})"]
    for seconds, statement, params in sorted(timed, key=lambda t: t[0], reverse=True)[:4]:
        lines.append(f"  {seconds:.2f} s:")
        lines.extend(explain(ledger, [(statement, params)]))
    return "\n".join(lines)


@contextlib.contextmanager
def backend(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'ledger.sqlite'}"
        return
    from tests.harness.servers import postgres_server

    with postgres_server() as url:
        yield url


def run(args: argparse.Namespace) -> None:
    source = Source(args.source)
    rates = source.per_workload_day()
    print(
        f"source: {args.source}: {source.days:.2f} days, fleet of {len(source.workloads)} "
        f"workloads ({', '.join(source.workloads)}); scaled to {args.workloads:,} workloads"
    )
    print("\n| table | rows in source | per workload per day | per day at N |")
    print("|---|---|---|---|")
    for name, rate in rates.items():
        n = rate * (1 if name in PER_FLEET else args.workloads)
        print(f"| {name} | {len(source.rows[name]):,} | {rate:.2f} | {n:,.0f} |")
    sizes = [int(d) for d in args.days.split(",")]
    for kind in args.backends.split(","):
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp, backend(kind, Path(tmp)) as url:
            ledger = open_ledger(url, START)
            filler = Filler(source, args.workloads, args.seed)
            done = 0
            for pruned_days, days in enumerate(sizes, start=1):
                log(f"{kind}: filling days {done + 1}..{days}")
                began = time.perf_counter()
                fill(ledger, filler, range(done, days))
                filled = time.perf_counter() - began
                done = days
                now = START + days * DAY
                # The daemon never runs ANALYZE on SQLite (its planner goes without
                # statistics, as here); on PostgreSQL autovacuum would have by now.
                if kind != "sqlite":
                    with ledger.engine.connect() as conn:
                        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                            "VACUUM ANALYZE"
                        )
                rows = counts(ledger)
                print(f"\n### {kind}, {days} days, {args.workloads:,} workloads")
                print(
                    f"\n{sum(rows.values()):,} rows, {size_of(ledger, url) / 2**20:,.0f} MiB on "
                    f"disk (filled in {filled:.0f} s)\n"
                )
                print(json.dumps(rows))
                print("\n| read | ms (median of 3; of 1 over 1 s; the first over 5 s) |\n|---|---|")
                print("\n".join(measure(ledger, url, args.workloads, now, args.explain_ms)))
                print(prune_oldest(ledger, START + pruned_days * DAY), flush=True)
            ledger.close()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="/tmp/ls40.db", help="a simulated ledger (SQLite)")
    parser.add_argument("--workloads", type=int, default=1000)
    parser.add_argument("--days", default="3,10", help="sizes to measure, cumulative")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--explain-ms", type=float, default=50.0)
    parser.add_argument("--workdir", default=None, help="where the SQLite file goes")
    parser.add_argument("--seed", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="50 workloads, 1 day, SQLite")
    args = parser.parse_args(argv)
    if args.quick:
        args.workloads, args.days, args.backends = 50, "1", "sqlite"
    return args


if __name__ == "__main__":
    # Stopped by a signal, the throwaway PostgreSQL server and the files still go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run(parse())
