"""How long migration 16 (six indexes) takes on a big ledger, and what a writer sees meanwhile.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/migration16.py --source /tmp/h40.db \
        [--workloads 1000] [--days 3,10] [--backends sqlite,postgresql]

A ledger is created at schema version 15 and filled as ``benchmarks/ledger_scale.py``
fills one (the same rows, rates and seed). At each size (days, cumulative) migration 16 is
applied by ``Ledger.migrate``, as the daemon applies it at start-up, and timed, while a
second thread records a decision through the Ledger's API every 0.1 s, as an older
replica still leading during a rolling upgrade would: the slowest of its writes says how
long the migration kept writes waiting. Then the six indexes are dropped and the version
set back to 15, the ledger is filled to the next size, and so on.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from agent.ledger import open_ledger  # noqa: E402
from agent.ledger.schema import _V16_INDEXES, tables  # noqa: E402
from agent.ledger.store import Decision, Ledger  # noqa: E402
from benchmarks.ledger_scale import (  # noqa: E402
    START,
    Filler,
    Source,
    backend,
    counts,
    fill,
    log,
    size_of,
)

PERIOD = 0.1  # seconds between the writer's decisions


class Writer(threading.Thread):
    """Records a decision every ``PERIOD`` seconds until stopped; keeps each write's time."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(daemon=True)
        self.ledger = ledger
        self.stop = threading.Event()
        self.took: list[float] = []
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            began = time.perf_counter()
            try:
                self.ledger.record_decision(
                    Decision(
                        kind="scaling",
                        decision_type="scaling/floor",
                        subject="Deployment/ns0/writer",
                        proposal={"replicas": 3},
                        confidence=0.5,
                        reason_code="Benchmark",
                        reason="a write during the migration",
                        evidence={},
                        model_version="none",
                        route="observe",
                    ),
                    START,
                )
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            self.took.append(time.perf_counter() - began)
            self.stop.wait(PERIOD)


def migrate16(ledger: Ledger) -> str:
    writer = Writer(ledger)
    writer.start()
    time.sleep(0.5)
    began = time.perf_counter()
    version = ledger.migrate(START)
    took = time.perf_counter() - began
    time.sleep(0.5)
    writer.stop.set()
    writer.join()
    assert version == 16, version
    slowest = max(writer.took)
    return (
        f"migration 16: {took:.2f} s; {len(writer.took)} writes meanwhile, the slowest "
        f"{slowest:.2f} s, {len(writer.errors)} failed"
        + (f" (first: {writer.errors[0]})" if writer.errors else "")
    )


def back_to_15(ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        for name, _, _ in _V16_INDEXES:
            conn.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
        conn.execute(
            tables["schema_version"].delete().where(tables["schema_version"].c.version == 16)
        )
        # The writer's few decisions stay: a few hundred rows among millions.


def run(args: argparse.Namespace) -> None:
    source = Source(args.source)
    sizes = [int(d) for d in args.days.split(",")]
    for kind in args.backends.split(","):
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp, backend(kind, Path(tmp)) as url:
            ledger = open_ledger(url, START, migrate=False)
            ledger.migrate(START, upto=15)
            filler = Filler(source, args.workloads, args.seed)
            done = 0
            for days in sizes:
                log(f"{kind}: filling days {done + 1}..{days}")
                fill(ledger, filler, range(done, days))
                done = days
                if kind != "sqlite":
                    with ledger.engine.connect() as conn:
                        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                            "VACUUM ANALYZE"
                        )
                rows = counts(ledger)
                print(
                    f"{kind}, {days} days, {args.workloads:,} workloads: "
                    f"{sum(rows.values()):,} rows (decisions {rows['decisions']:,}, executions "
                    f"{rows['executions']:,}, questions {rows['questions']:,}, intents "
                    f"{rows['intents']:,}), {size_of(ledger, url) / 2**20:,.0f} MiB",
                    flush=True,
                )
                print("  " + migrate16(ledger), flush=True)
                print(f"  after: {size_of(ledger, url) / 2**20:,.0f} MiB", flush=True)
                back_to_15(ledger)
            ledger.close()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="/tmp/h40.db", help="a simulated ledger (SQLite)")
    parser.add_argument("--workloads", type=int, default=1000)
    parser.add_argument("--days", default="3,10", help="sizes to measure, cumulative")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workdir", default=None, help="where the SQLite file goes")
    parser.add_argument("--seed", type=int, default=40)
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(parse())
