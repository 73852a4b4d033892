"""What the scaling loop learns about a workload when nobody configured it.

- **Per-pod capacity** (the load one ready pod carries at the HPA's target), from the
  HPA's own readings: the HPA reports its metric as a share of its target (``usage_ratio``,
  1.0 = at target), and a pod's usage grows with the load it serves, so
  ``load per ready pod / usage_ratio`` estimates the load per pod at the target. One
  reading a cycle, taken only when the workload is steady (every pod ready, no rollout
  replacing its pods) and the HPA runs between half and twice its target (far from it
  the straight line is a guess); the
  estimate is the median of the last ``CAPACITY_READINGS`` and is used once there are
  ``CAPACITY_MIN`` of them (until then, what an earlier process learned, if the loop
  restored it from the ledger).
- **Start-up time** (creation to Ready, scheduling and image pull included), from the
  workload's pods: for each pod that never restarted, ``ready_at - created_at``. The
  estimate is the 80th percentile (nearest rank) of the newest ``STARTUP_PODS`` pods, so
  one slow node does not set it and the usual slow start does.

Both are plain values with no I/O; the loop feeds them what it reads.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from remediation.ports import ObjectRef, PodState

__all__ = [
    "CAPACITY_MIN",
    "CAPACITY_READINGS",
    "STARTUP_PODS",
    "CapacityEstimate",
    "StartupEstimate",
]

CAPACITY_READINGS = 60  # the newest readings the capacity is the median of (an hour)
CAPACITY_MIN = 10  # readings needed before the estimate is used
USAGE_BAND = (0.5, 2.0)  # HPA usage / target within which a reading is taken
STARTUP_PODS = 20  # the newest pods the start-up time is estimated from
MAX_STARTUP = 3600.0  # a longer "start-up" is a readiness flap, not a start


@dataclass(slots=True)
class CapacityEstimate:
    readings: deque[float] = field(default_factory=lambda: deque(maxlen=CAPACITY_READINGS))
    skipped: str | None = None  # why the last cycle took no reading
    # What an earlier process learned (kept in the ledger), used until this one has
    # ``CAPACITY_MIN`` readings of its own, so a restart or a new leader is not
    # reactive for the minutes it takes to learn again.
    restored: float | None = None
    loaded: bool = False  # the ledger was read for ``restored``
    saved: float | None = None  # the value last written to the ledger

    def observe(
        self,
        load: float,
        ready: int,
        replicas: int,
        usage_ratio: float | None,
        rolling: str | None = None,
    ) -> float | None:
        """Take one reading if the workload is steady; the reading, or None (``skipped``
        says why). None while ``rolling`` says why the workload's pods are
        being replaced (a rollout under way): the ready pods are then two releases, some
        just started, and the HPA's reading is a scrape behind them."""
        if rolling is not None:
            self.skipped = rolling
        elif usage_ratio is None or not math.isfinite(usage_ratio):
            self.skipped = (
                "the HPA reports no reading for one of its metrics or more (a new HPA, "
                "or a metrics adapter failing)"
            )
        elif not USAGE_BAND[0] <= usage_ratio <= USAGE_BAND[1]:
            self.skipped = (
                f"the HPA runs at {usage_ratio:.0%} of its target, outside "
                f"{USAGE_BAND[0]:.0%}-{USAGE_BAND[1]:.0%}"
            )
        elif ready < 1 or ready != replicas:
            self.skipped = f"{ready} of {replicas} pods are ready (not steady)"
        elif not math.isfinite(load) or load <= 0:
            self.skipped = "no positive load sample"
        else:
            self.skipped = None
            reading = load / ready / usage_ratio
            self.readings.append(reading)
            return reading
        return None

    def value(self) -> float | None:
        if len(self.readings) < CAPACITY_MIN:
            return self.restored
        ordered = sorted(self.readings)
        middle = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[middle]
        return (ordered[middle - 1] + ordered[middle]) / 2.0

    def learned(self) -> bool:
        """Whether ``value`` comes from this process's own readings."""
        return len(self.readings) >= CAPACITY_MIN

    def progress(self) -> str:
        why = f" (last cycle: {self.skipped})" if self.skipped else ""
        return f"{len(self.readings)} of the {CAPACITY_MIN} readings needed{why}"


@dataclass(slots=True)
class StartupEstimate:
    # pod name -> (created at, seconds from creation to ready), newest pods kept
    pods: dict[str, tuple[float, float]] = field(default_factory=dict)
    checked_at: float = -math.inf

    def observe(self, pods: Iterable[PodState], owner: ObjectRef, now: float) -> int:
        """Record the start-up of every ready pod of ``owner`` that never restarted; the
        number of new pods seen."""
        self.checked_at = now
        new = 0
        for pod in pods:
            if pod.owner != owner or pod.restarts or not pod.ready or pod.deleting:
                continue
            if pod.created_at is None or pod.ready_at is None:
                continue
            seconds = pod.ready_at - pod.created_at
            if not 0.0 <= seconds <= MAX_STARTUP or pod.ref.name in self.pods:
                continue
            self.pods[pod.ref.name] = (pod.created_at, seconds)
            new += 1
        if len(self.pods) > STARTUP_PODS:
            newest = sorted(self.pods.items(), key=lambda kv: kv[1][0])[-STARTUP_PODS:]
            self.pods = dict(newest)
        return new

    def value(self) -> float | None:
        if not self.pods:
            return None
        ordered = sorted(seconds for _, seconds in self.pods.values())
        rank = max(1, math.ceil(0.8 * len(ordered)))
        return ordered[rank - 1]
