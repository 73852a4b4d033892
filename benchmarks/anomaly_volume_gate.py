"""What ``minVolume`` does to an error ratio with no anomaly whose traffic falls to a few
requests a minute at night.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/anomaly_volume_gate.py --seeds 10

Synthetic and seeded (no public data set pairs an error ratio with its request count:
NAB's files are one value a row, and ``anomaly_calibration.py``'s null series carry no
volume). Each seed: one Deployment whose request rate follows a daily curve from about 30
requests/s down to 0.05 (3 a minute) at night; each minute's requests are Poisson, each
request fails with probability 1 % (no anomaly at all), and the ratio is errors over
requests (NaN with none, as Prometheus's 0/0). The real ``AnomalyLoop`` reads 4 days as
history, then 3 days live, 10 minutes a cycle; every incident it opens is a false one.
Printed per gate: incidents per series-day, the requests in the minute each incident
opened on, and the points not scored.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.clock import FakeClock
from agent.ledger import open_ledger
from agent.metrics_port import MetricSeries
from agent.settings import AnomalyQuery, MinVolume
from forecasting.series import Series
from remediation.signals import Signal
from tests.unit.bench_cycle.test_batched_guards import build_loop

STEP, DAY = 60.0, 86400.0
T0 = 1_795_000_000.0 // DAY * DAY
HISTORY_DAYS, LIVE_DAYS = 4, 3
LABELS = {"namespace": "shop", "deployment": "web"}


class Sparse:
    """The ratio (``ratio``) and request rate (``volume``) of one seeded run."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        n = int((HISTORY_DAYS + LIVE_DAYS) * DAY / STEP) + 1
        self.t = T0 + STEP * np.arange(n, dtype=np.float64)
        phase = (self.t % DAY) / DAY
        rate = 30.0 * (0.5 - 0.5 * np.cos(2 * math.pi * phase)) ** 2 + 0.05
        self.requests = rng.poisson(rate * STEP)
        errors = rng.binomial(self.requests, 0.01)
        self.ratio = np.full(n, np.nan)
        served = self.requests > 0
        self.ratio[served] = errors[served] / self.requests[served]
        self.volume = self.requests / STEP

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        keep = (self.t >= start) & (self.t <= min(end, now))
        grid = self.t[keep]
        values = (self.volume if query == "volume" else self.ratio)[keep]
        finite = grid[np.isfinite(values)]
        last = float(finite[-1]) if finite.size else None
        series = Series(grid, values, step, query, LABELS)
        return [MetricSeries(query, LABELS, series, 0, last, False, 0.0)]

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return []


def run(seed: int, gate: MinVolume | None) -> tuple[list[int], int]:
    """The requests in the minute of each incident opened, and the points not scored."""
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(T0 + HISTORY_DAYS * DAY)
        ledger = open_ledger(f"sqlite:///{Path(tmp) / 'ledger.sqlite'}", clock.now())
        loop = build_loop(ledger, clock, 0)
        query = AnomalyQuery(
            name="errors", expr="ratio", step=STEP, history=HISTORY_DAYS * DAY, min_volume=gate
        )
        loop.queries = [query]
        reader = Sparse(seed)
        loop.reader = reader
        signals: list[Signal] = []
        loop.submit = signals.extend
        loop.cycle()  # the history
        while clock.now() < T0 + (HISTORY_DAYS + LIVE_DAYS) * DAY:
            clock.advance(10 * STEP)
            loop.cycle()
        ledger.close()
    opened = [int(reader.requests[round((s.observed_at - T0) / STEP)]) for s in signals]
    return opened, loop.status.below_volume_points


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    gates: list[tuple[str, MinVolume | None]] = [("none", None)]
    gates += [(f"{v:g} req/s", MinVolume(query="volume", at_least=v)) for v in (1.0, 5.0, 10.0)]
    print(f"{args.seeds} seeds, {LIVE_DAYS} live days each, no anomaly in the data\n")
    print(
        "| minVolume | incidents per series-day | requests in their minute (min / median) "
        "| points not scored |"
    )
    print("|---|---|---|---|")
    for label, gate in gates:
        opened: list[int] = []
        unscored = 0
        for seed in range(args.seeds):
            found, below = run(seed, gate)
            opened += found
            unscored += below
        per_day = len(opened) / (args.seeds * LIVE_DAYS)
        spread = f"{min(opened)} / {sorted(opened)[len(opened) // 2]}" if opened else "-"
        print(f"| {label} | {per_day:.2f} ({len(opened)}) | {spread} | {unscored} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
