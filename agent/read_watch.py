"""How the daemon's reads of Prometheus are going, for its own metrics and ``run --once``.

The loops handle a failed read themselves (scaling holds its workloads, the anomaly loop
marks the query degraded), so a Prometheus outage raises no job error. ``WatchedReader``
wraps the ``MetricsReader`` port the loops are given and keeps the account an SRE
alerts on: every request that failed, by the ``reason`` of the ``TransientError`` or
``PermanentError`` the reader raised (``autonomic_prometheus_request_failures_total``),
and the time of the last request that was answered
(``autonomic_prometheus_last_success_timestamp_seconds``). Neither the loops nor the
adapter know it is there.

It also tells the log about an outage once, as one story rather than one warning per
query per cycle: a warning at the first failed read, a summary at most every
``summary_every`` seconds while reads keep failing (for how long, how many failed, by
reason, the last error), and one line when a read is answered again (after how long).
A query Prometheus rejects (HTTP 400 or 422) is that query's fault, not an outage: the
loop that made it says so, and it is only counted here. Reads that fail on and off
between answered ones are not told twice within ``summary_every``: their failures are
counted into the next line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.errors import PermanentError, TransientError
from agent.observability import Metrics

if TYPE_CHECKING:  # the port's module imports the adapter (numpy, requests): not at start
    from agent.metrics_port import MetricSeries, MetricsReader

__all__ = ["SUMMARY_EVERY", "ReadTally", "WatchedReader"]

log = logging.getLogger("autonomic.prometheus")

# While reads keep failing, a summary is logged at most this often (seconds).
SUMMARY_EVERY = 600.0
# Failures that are the query's own fault (Prometheus answered, and refused it), not
# Prometheus failing: they start no outage.
_QUERY_FAULTS = frozenset({"PrometheusHTTP400", "PrometheusHTTP422", "QueryShape"})


@dataclass(frozen=True)
class ReadTally:
    """The requests a ``WatchedReader`` has made, answered or failed."""

    answered: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # reason -> requests
    last_error: str | None = None  # what the last failed request raised

    @property
    def failures(self) -> int:
        return sum(self.failed.values())

    @property
    def requests(self) -> int:
        return self.answered + self.failures


class WatchedReader:
    """A ``MetricsReader`` that counts how its requests to ``reader`` went.

    A request counts as answered when the reader returns (an empty answer is an
    answer); as failed, by reason, when it raises ``TransientError`` or
    ``PermanentError``, which is raised on unchanged. Anything else the reader raises
    (a bad range from the caller) is not Prometheus's doing and is not counted.
    Safe to share between the jobs' threads.
    """

    def __init__(
        self,
        reader: MetricsReader,
        metrics: Metrics,
        clock: Callable[[], float],
        *,
        summary_every: float = SUMMARY_EVERY,
    ) -> None:
        self.reader = reader
        self.metrics = metrics
        self.clock = clock
        self.summary_every = summary_every
        self._lock = threading.Lock()
        self._answered = 0
        self._failed: dict[str, int] = {}
        self._last_error: str | None = None
        self._outage: _Outage | None = None  # reads failing since the last answered one
        self._said_at: float | None = None  # when the last line about an outage was logged
        self._unsaid = 0  # failures in short spells not told yet

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        try:
            found = self.reader.range(query, start, end, step, now)
        except (TransientError, PermanentError) as exc:
            self._failure(exc)
            raise
        self._answer()
        return found

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        try:
            found = self.reader.instant(query, at)
        except (TransientError, PermanentError) as exc:
            self._failure(exc)
            raise
        self._answer()
        return found

    def newest_sample(self) -> float | None:
        """The reader's ``newest_sample()`` (``metrics_port.IngestionClock``); None when
        it has none (the simulation's store)."""
        newest = getattr(self.reader, "newest_sample", None)
        return newest() if callable(newest) else None

    def tally(self) -> ReadTally:
        with self._lock:
            return ReadTally(self._answered, dict(self._failed), self._last_error)

    def _answer(self) -> None:
        now = self.clock()
        self.metrics.prometheus_last_success.set(now)
        with self._lock:
            self._answered += 1
            outage, self._outage = self._outage, None
            if outage is None:
                return
            if not outage.told:  # a short spell, inside a quiet interval: told with the next
                self._unsaid += outage.failures
                return
            self._said_at = now
        log.info(
            "reads from Prometheus are answered again, after %s failing (since %s; %d read%s "
            "failed)",
            _span(now - outage.since),
            _utc(outage.since),
            outage.failures,
            "" if outage.failures == 1 else "s",
        )

    def _failure(self, exc: TransientError | PermanentError) -> None:
        self.metrics.prometheus_failures.labels(reason=exc.reason).inc()
        now = self.clock()
        with self._lock:
            self._failed[exc.reason] = self._failed.get(exc.reason, 0) + 1
            self._last_error = str(exc)
            if exc.reason in _QUERY_FAULTS:
                return
            outage = self._outage
            if outage is None:
                outage = self._outage = _Outage(since=now)
            outage.failures += 1
            outage.by_reason[exc.reason] = outage.by_reason.get(exc.reason, 0) + 1
            due = self._said_at is None or now - self._said_at >= self.summary_every
            if not due:
                return
            first, earlier, since = not outage.told, self._unsaid, outage.since
            outage.told, self._said_at, self._unsaid = True, now, 0
        if first:
            log.warning(
                "reads from Prometheus are failing%s: %s (%s)%s. What needs them waits: "
                "scaling holds its workloads, anomaly queries score nothing, canaries are "
                "not judged. A summary follows every %s while this lasts, and one line "
                "when reads are answered again",
                f" since {_utc(since)}" if now - since >= 1 else "",
                exc,
                exc.reason,
                f"; {earlier} more failed, in short spells between answered reads, since the "
                "last report"
                if earlier
                else "",
                _span(self.summary_every),
            )
            return
        log.warning(
            "reads from Prometheus still failing, for %s (since %s): %d read%s failed (%s), "
            "none answered; the last error: %s",
            _span(now - outage.since),
            _utc(outage.since),
            outage.failures,
            "" if outage.failures == 1 else "s",
            ", ".join(f"{reason} {n}" for reason, n in sorted(outage.by_reason.items())),
            exc,
        )


@dataclass
class _Outage:
    """Reads failing since ``since``, with none answered in between."""

    since: float
    failures: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    told: bool = False  # its first line was logged


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _utc(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
