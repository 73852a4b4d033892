"""Time, passed in. Decisions never call ``time.time()`` themselves."""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock", "elapsed"]

# Linux's CLOCK_BOOTTIME: like CLOCK_MONOTONIC (never set, never goes back) but it goes
# on counting while the machine is suspended. ``time.monotonic()`` is CLOCK_MONOTONIC
# there, which stops: a leader whose VM was suspended for a minute would wake believing
# its 10-second authority still ran, while another replica had taken the lease.
_BOOTTIME: int | None = getattr(time, "CLOCK_BOOTTIME", None)


def elapsed() -> float:
    """Seconds on a clock that never goes back and counts time spent suspended, for
    what must expire in real time: a lease's authority, a cache's staleness. Where the
    system has no such clock (not Linux), ``time.monotonic()``."""
    if _BOOTTIME is None:
        return time.monotonic()
    return time.clock_gettime(_BOOTTIME)


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class FakeClock:
    """A clock that moves only when told to (or when something sleeps on it)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        return self.now()

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        with self._lock:
            self._now += seconds

    def set(self, when: float) -> None:
        with self._lock:
            if when < self._now:
                raise ValueError("time does not go backwards")
            self._now = when
