"""Run ``python -m agent ARGS`` with a memory probe inside it, for benchmarks/soak.py.

    python benchmarks/soak_probe.py --dir PROBE_DIR [--every 60] [--trace-frames 10
        --trace-from 120 --baseline-at 300] -- run --config ...

The probe is a daemon thread in the daemon's process. Every ``--every`` seconds it writes
one JSON line to PROBE_DIR/probe.jsonl: RSS, pymalloc's allocated blocks
(``sys.getallocatedblocks``) and the cyclic collector's counts, then runs a full
``gc.collect()`` and writes what it freed and the same figures after it, with the number
of objects the collector tracks, glibc malloc's bytes in use (``mallinfo2``) and SQLite's
(``sqlite3_memory_used``). What survives the collection is live; what the collection
freed was garbage waiting in reference cycles. (The collections are the probe's own: they
free that garbage sooner than the daemon would, so RSS in a probed run is not the
unprobed figure.)

With ``--trace-frames N`` it starts ``tracemalloc`` (N frames) at ``--trace-from``
seconds, after start-up (tracing the imports slows start-up by minutes), and takes a
baseline snapshot at ``--baseline-at`` seconds, after a collection. When the soak
creates PROBE_DIR/final (before it stops the daemon) the probe collects, takes the last
snapshot and writes PROBE_DIR/final.json: the top allocation sites by growth since the
baseline (file:line), the object types whose counts grew most, and the last sample;
then PROBE_DIR/final.done.

Not part of the daemon: a benchmark's instrument. The daemon runs unchanged in the
process (``agent.cli.main``), with its own signal handlers.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import gc
import json
import os
import sys
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

TOP = 15


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _libc_mallinfo() -> Any:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallinfo2
        fn.restype = _Mallinfo2
        return fn
    return None


def _sqlite_memory_used() -> Any:
    # The library the sqlite3 module loaded: dlopen of the same soname returns it.
    with contextlib.suppress(OSError, AttributeError):
        import sqlite3  # noqa: F401  (loads libsqlite3)

        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
        fn = lib.sqlite3_memory_used
        fn.restype = ctypes.c_int64
        return fn
    return None


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Probe:
    def __init__(self, folder: Path, every: float, frames: int, trace_from: float, base_at: float):
        self.folder, self.every = folder, every
        self.frames, self.trace_from, self.base_at = frames, trace_from, base_at
        self.began = time.monotonic()
        self.mallinfo = _libc_mallinfo()
        self.sqlite_used: Any = None
        self.baseline: tracemalloc.Snapshot | None = None
        self.baseline_types: Counter[str] | None = None
        self.last: dict[str, Any] = {}

    def _write(self, name: str, record: dict[str, Any]) -> None:
        tmp = self.folder / f".{name}.tmp"
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(self.folder / name)

    def sample(self) -> dict[str, Any]:
        if self.sqlite_used is None:
            self.sqlite_used = _sqlite_memory_used() or False
        record: dict[str, Any] = {
            "at": round(time.monotonic() - self.began, 1),
            "rss_mb": rss_mib(),
            "blocks": sys.getallocatedblocks(),
            "gc_count": list(gc.get_count()),
        }
        started = time.perf_counter()
        record["collected"] = gc.collect()
        record["gc_seconds"] = round(time.perf_counter() - started, 3)
        record["rss_after_mb"] = rss_mib()
        record["blocks_after"] = sys.getallocatedblocks()
        record["objects_after"] = len(gc.get_objects())
        if self.mallinfo:
            info = self.mallinfo()
            record["malloc_in_use_mb"] = round((info.uordblks + info.hblkhd) / 2**20, 2)
            record["malloc_free_mb"] = round(info.fordblks / 2**20, 2)
        if self.sqlite_used:
            record["sqlite_mb"] = round(self.sqlite_used() / 2**20, 3)
        if tracemalloc.is_tracing():
            traced, _peak = tracemalloc.get_traced_memory()
            record["traced_mb"] = round(traced / 2**20, 3)
            record["tracemalloc_overhead_mb"] = round(
                tracemalloc.get_tracemalloc_memory() / 2**20, 2
            )
        self.last = record
        with (self.folder / "probe.jsonl").open("a") as out:
            out.write(json.dumps(record) + "\n")
        return record

    @staticmethod
    def types() -> Counter[str]:
        return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())

    def final(self) -> None:
        record = self.sample()
        result: dict[str, Any] = {"last": record}
        if self.baseline_types is not None:
            grown = self.types() - self.baseline_types
            result["types_grown"] = [
                [name, n, self.baseline_types.get(name, 0)] for name, n in grown.most_common(TOP)
            ]
        if self.baseline is not None and tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]
            )
            diff = snapshot.compare_to(self.baseline, "lineno")
            result["top_growth"] = [
                {
                    "site": f"{stat.traceback[0].filename}:{stat.traceback[0].lineno}",
                    "size_diff_kib": round(stat.size_diff / 1024, 1),
                    "size_kib": round(stat.size / 1024, 1),
                    "count_diff": stat.count_diff,
                }
                for stat in diff[:TOP]
            ]
            by_file = snapshot.compare_to(self.baseline, "filename")
            result["top_growth_by_file"] = [
                {
                    "file": stat.traceback[0].filename,
                    "size_diff_kib": round(stat.size_diff / 1024, 1),
                    "size_kib": round(stat.size / 1024, 1),
                }
                for stat in by_file[:TOP]
            ]
            result["baseline_at"] = self.base_at
        self._write("final.json", result)
        (self.folder / "final.done").touch()

    def run(self) -> None:
        next_sample = self.began + self.every
        while True:
            time.sleep(1.0)
            now = time.monotonic() - self.began
            try:
                if self.frames and not tracemalloc.is_tracing() and now >= self.trace_from:
                    tracemalloc.start(self.frames)
                if self.frames and self.baseline is None and now >= self.base_at:
                    self.sample()
                    self.baseline = tracemalloc.take_snapshot().filter_traces(
                        [tracemalloc.Filter(False, tracemalloc.__file__)]
                    )
                    self.baseline_types = self.types()
                elif not self.frames and self.baseline_types is None and now >= self.base_at:
                    self.baseline_types = self.types()
                if (self.folder / "final").exists():
                    self.final()
                    return
                if time.monotonic() >= next_sample:
                    self.sample()
                    next_sample += self.every
            except Exception as exc:  # the probe must not take the daemon down
                with (self.folder / "probe-errors.txt").open("a") as out:
                    out.write(f"{time.time():.0f} {exc!r}\n")


def main() -> None:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--every", type=float, default=60.0)
    parser.add_argument("--trace-frames", type=int, default=0)
    parser.add_argument("--trace-from", type=float, default=120.0)
    parser.add_argument("--baseline-at", type=float, default=300.0)
    args = parser.parse_args(argv[:split])
    args.dir.mkdir(parents=True, exist_ok=True)
    probe = Probe(args.dir, args.every, args.trace_frames, args.trace_from, args.baseline_at)
    threading.Thread(target=probe.run, name="soak-probe", daemon=True).start()

    from agent.cli import main as agent_main

    sys.argv = ["autonomic", *argv[split + 1 :]]
    sys.exit(agent_main())


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
