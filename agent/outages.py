"""An outage told to the log as one story, not one warning per failed call.

While something the daemon depends on keeps failing (Prometheus's reads, the ledger's
database), every call, every loop and every period meets the same failure. ``OutageStory``
decides when to say so: at the first failure, then a summary at most every
``summary_every`` seconds while the failures go on (for how long, how many, by what),
then once when a call succeeds again (after how long). Failures in short spells between
successes (a slow query timing out now and then) are not told twice within
``summary_every``: they are counted into the next line. The caller words each line, and
counts every failure in its metrics whatever is told.

Used by ``agent.read_watch`` (reads from Prometheus), the remediation engine (its
runbooks' reads, ``say_failing`` wording both) and ``agent.runtime`` (jobs failing on the
ledger). Safe to share between threads. Nothing here reads a clock: the caller
gives the time.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Literal

from remediation.windows import to_utc_text

__all__ = ["SUMMARY_EVERY", "OutageStory", "Told", "say_failing", "span"]

# While the failures go on, a summary is told at most this often (seconds).
SUMMARY_EVERY = 600.0


@dataclass(frozen=True)
class Told:
    """What to tell now: ``began`` (the first line of an outage; ``earlier`` failures in
    short spells since the last line come with it), ``goes-on`` (a summary), or ``over``
    (a call succeeded again). ``since``: when the outage's first failure was; ``failures``
    in it so far, ``by`` what (a reason, a job)."""

    what: Literal["began", "goes-on", "over"]
    since: float
    failures: int
    by: dict[str, int]
    earlier: int = 0


@dataclass
class _Outage:
    """Failures since ``since``, with no success in between."""

    since: float
    failures: int = 0
    by: dict[str, int] = field(default_factory=dict)
    told: bool = False  # its first line was told


class OutageStory:
    """When to tell the log of an outage (see the module)."""

    def __init__(self, summary_every: float = SUMMARY_EVERY) -> None:
        self.summary_every = summary_every
        self._lock = threading.Lock()
        self._outage: _Outage | None = None  # failing since the last success
        self._said_at: float | None = None  # when the last line was told
        self._unsaid = 0  # failures in short spells not told yet

    @property
    def failing(self) -> bool:
        """Whether the last call failed (an outage is under way, told or not)."""
        return self._outage is not None

    def failed(self, now: float, by: str) -> Told | None:
        """A call failed at ``now`` (``by``: its reason, or who made it): what to tell,
        or None when nothing is due."""
        with self._lock:
            outage = self._outage
            if outage is None:
                outage = self._outage = _Outage(since=now)
            outage.failures += 1
            outage.by[by] = outage.by.get(by, 0) + 1
            if self._said_at is not None and now - self._said_at < self.summary_every:
                return None
            first, earlier = not outage.told, self._unsaid
            outage.told, self._said_at, self._unsaid = True, now, 0
            return Told(
                "began" if first else "goes-on",
                outage.since,
                outage.failures,
                dict(outage.by),
                earlier if first else 0,
            )

    def answered(self, now: float) -> Told | None:
        """A call succeeded at ``now``: the line that the outage is over, if its first
        line was told (a short spell that was not is counted into the next line)."""
        with self._lock:
            outage, self._outage = self._outage, None
            if outage is None:
                return None
            if not outage.told:
                self._unsaid += outage.failures
                return None
            self._said_at = now
            return Told("over", outage.since, outage.failures, dict(outage.by))


def span(seconds: float) -> str:
    """How long, as the lines say it: 40 s, 12 min, 2.5 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def say_failing(
    logger: logging.Logger,
    told: Told,
    now: float,
    error: Exception,
    reason: str,
    *,
    what: str,
    meanwhile: str,
    every: float,
) -> None:
    """Log a failing read as ``OutageStory.failed`` told it: the outage's first line
    (``what``, such as "reads from Prometheus", the error and its reason, ``meanwhile``:
    what waits for it) or a summary (for how long, how many reads failed, by reason)."""
    if told.what == "began":
        logger.warning(
            "%s are failing%s: %s (%s)%s. %s. A summary follows every %s while this lasts, "
            "and one line when reads are answered again",
            what,
            f" since {to_utc_text(told.since)}" if now - told.since >= 1 else "",
            error,
            reason,
            f"; {told.earlier} more failed, in short spells between answered reads, since "
            "the last report"
            if told.earlier
            else "",
            meanwhile,
            span(every),
        )
        return
    logger.warning(
        "%s still failing, for %s (since %s): %d read%s failed (%s), none answered; the "
        "last error: %s",
        what,
        span(now - told.since),
        to_utc_text(told.since),
        told.failures,
        "" if told.failures == 1 else "s",
        ", ".join(f"{by} {n}" for by, n in sorted(told.by.items())),
        error,
    )
