"""Failover time with two replicas when the leader is killed with SIGKILL.

    .venv/bin/python benchmarks/failover.py [--trials 10] [--lease 2 --renew 1.4 --retry 0.3]

Per trial: a fresh fake API server (``tests.fakekube``, in this process), two candidate
processes running the real ``agent.leader.LeaderElector`` against it, each printing
``{"t", "leader"}`` every 10 ms. Once one leads and has renewed a few times, it gets
SIGKILL; failover is the time from the kill to the survivor's first sample as leader.
``since renew`` is the same takeover measured from the dead leader's last renewal as
the Lease recorded it: the survivor may only take a Lease that has not been renewed
for ``lease`` seconds, so that figure sits at ``lease`` plus at most one ``retry``.

Target (issue #3): failover under lease duration + one retry period. Each trial also
checks that the two leadership intervals never overlap.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests.fakekube lives in the repository, not the package
    sys.path.insert(0, str(ROOT))

NAMESPACE, LEASE = "autonomic", "failover-bench"


def log(message: str) -> None:
    print(f"[failover {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def candidate(url: str, identity: str, lease: float, renew: float, retry: float) -> None:
    """One replica: elect, and print whether it leads every 10 ms until stdin closes."""
    from agent.adapters.kubernetes import load_api_client
    from agent.leader import LeaderElector, LeaseConfig

    config = LeaseConfig(
        identity=identity,
        name=LEASE,
        namespace=NAMESPACE,
        lease_duration=lease,
        renew_deadline=renew,
        retry_period=retry,
    )
    elector = LeaderElector(load_api_client(host=url), config)
    stop = threading.Event()
    threading.Thread(target=elector.run, args=(stop,), daemon=True).start()

    def stop_at_end_of_input() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=stop_at_end_of_input, daemon=True).start()
    while not stop.is_set():
        print(json.dumps({"t": time.time(), "leader": elector.is_leader()}), flush=True)
        time.sleep(0.01)


@dataclass(frozen=True)
class Trial:
    failover: float  # seconds from SIGKILL to the survivor leading
    since_renew: float  # seconds from the dead leader's last renewal to the takeover
    overlap: bool  # two leaders at once (must never be True)


def start(url: str, identity: str, timing: tuple[float, float, float]) -> tuple[Any, list[Any]]:
    samples: list[dict[str, Any]] = []
    command = [sys.executable, str(Path(__file__).resolve()), "--candidate", url, identity]
    command += [str(x) for x in timing]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )

    def collect() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            samples.append(json.loads(line))

    threading.Thread(target=collect, daemon=True).start()
    return process, samples


def wait_for(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for the candidates")
        time.sleep(0.01)


def intervals(samples: list[dict[str, Any]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    begin = last = None
    for sample in samples:
        if sample["leader"]:
            begin = sample["t"] if begin is None else begin
            last = sample["t"]
        elif begin is not None and last is not None:
            out.append((begin, last))
            begin = last = None
    if begin is not None and last is not None:
        out.append((begin, last))
    return out


def renew_time(store: Any) -> float:
    lease = next(o for o in store.objects("Lease", NAMESPACE) if o["metadata"]["name"] == LEASE)
    return datetime.fromisoformat(lease["spec"]["renewTime"].replace("Z", "+00:00")).timestamp()


def trial(timing: tuple[float, float, float]) -> Trial:
    from tests.fakekube import start_fake_apiserver

    lease, _, retry = timing
    server = start_fake_apiserver()
    runs = {who: start(server.url, who, timing) for who in ("a", "b")}
    try:
        wait_for(lambda: all(samples for _, samples in runs.values()), 30)
        wait_for(lambda: any(s[-1]["leader"] for _, s in runs.values()), 3 * lease + 10)
        time.sleep(3 * retry + 0.5)  # a few renewals
        leader = next(who for who, (_, s) in runs.items() if s[-1]["leader"])
        survivor = "b" if leader == "a" else "a"
        renewed = renew_time(server.store)
        killed = time.time()
        runs[leader][0].send_signal(signal.SIGKILL)
        runs[leader][0].wait()
        survivor_samples = runs[survivor][1]
        wait_for(lambda: survivor_samples[-1]["leader"], 3 * lease + 10)
        took = next(s["t"] for s in survivor_samples if s["leader"] and s["t"] > killed)
        old, new = intervals(runs[leader][1]), intervals(survivor_samples)
        overlap = not (old and new and old[-1][1] < new[0][0])
    finally:
        for process, _ in runs.values():
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()
        server.stop()
    return Trial(took - killed, took - renewed, overlap)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--lease", type=float, default=2.0, help="lease duration, seconds")
    parser.add_argument("--renew", type=float, default=1.4, help="renew deadline, seconds")
    parser.add_argument("--retry", type=float, default=0.3, help="retry period, seconds")
    parser.add_argument("--candidate", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.candidate:
        url, identity, *timing = args.candidate
        candidate(url, identity, *(float(x) for x in timing))
        return 0
    timing = (args.lease, args.renew, args.retry)
    budget = args.lease + args.retry
    log(f"timing lease/renew/retry = {timing}; budget {budget:.2f}s; load {os.getloadavg()}")
    trials = []
    for number in range(args.trials):
        result = trial(timing)
        trials.append(result)
        log(
            f"trial {number + 1}/{args.trials}: failover {result.failover:.2f}s, "
            f"{result.since_renew:.2f}s after the last renewal, overlap={result.overlap}"
        )
    failovers = sorted(t.failover for t in trials)
    renews = sorted(t.since_renew for t in trials)
    print(
        f"| {args.lease:g} / {args.renew:g} / {args.retry:g} | {budget:.2f} | {len(trials)} "
        f"| {failovers[0]:.2f} | {statistics.median(failovers):.2f} | {failovers[-1]:.2f} "
        f"| {renews[0]:.2f}-{renews[-1]:.2f} "
        f"| {sum(t.failover < budget for t in trials)}/{len(trials)} "
        f"| {sum(t.overlap for t in trials)} |"
    )
    log(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
