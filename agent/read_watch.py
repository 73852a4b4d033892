"""How the daemon's reads of Prometheus are going, for its own metrics and ``run --once``.

The loops handle a failed read themselves (scaling holds its workloads, the anomaly loop
marks the query degraded), so a Prometheus outage raises no job error. ``WatchedReader``
wraps the ``MetricsReader`` port the loops are given and keeps the account an SRE
alerts on: every request that failed, by the ``reason`` of the ``TransientError`` or
``PermanentError`` the reader raised (``autonomic_prometheus_request_failures_total``),
and the time of the last request that was answered
(``autonomic_prometheus_last_success_timestamp_seconds``), and how far Prometheus's
clock is from the daemon's as the reader estimates it from its recent measurements
(``autonomic_prometheus_clock_offset_seconds``, and the spread of its recent measurements,
``autonomic_prometheus_clock_offset_spread_seconds``). Neither the loops nor the adapter know
it is there.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.errors import PermanentError, TransientError
from agent.observability import Metrics
from agent.outages import SUMMARY_EVERY, OutageStory, say_failing, span
from remediation.windows import to_utc_text

if TYPE_CHECKING:  # the port's module imports the adapter (numpy, requests): not at start
    from agent.metrics_port import MetricSeries, MetricsReader

__all__ = ["SUMMARY_EVERY", "ReadTally", "WatchedReader"]

log = logging.getLogger("autonomic.prometheus")

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
        self._lock = threading.Lock()
        self._answered = 0
        self._failed: dict[str, int] = {}
        self._last_error: str | None = None
        self._story = OutageStory(summary_every)  # when to tell the log of an outage

    @property
    def summary_every(self) -> float:
        return self._story.summary_every

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
        if not callable(newest):
            return None
        stored: float | None = newest()
        offset = self.clock_offset()  # measured, when due, by ``newest_sample()``
        if offset is not None:
            self.metrics.prometheus_clock_offset.set(offset)
        spread = getattr(self.reader, "clock_offset_spread", None)
        measured = spread() if callable(spread) else None
        if measured is not None:
            self.metrics.prometheus_clock_offset_spread.set(measured)
        return stored

    def clock_offset(self) -> float | None:
        """The reader's ``clock_offset()``: Prometheus's clock minus the daemon's, as
        estimated from the recent measurements; None when it has none or has not measured it yet."""
        offset = getattr(self.reader, "clock_offset", None)
        return offset() if callable(offset) else None

    def tally(self) -> ReadTally:
        with self._lock:
            return ReadTally(self._answered, dict(self._failed), self._last_error)

    def _answer(self) -> None:
        now = self.clock()
        self.metrics.prometheus_last_success.set(now)
        with self._lock:
            self._answered += 1
        told = self._story.answered(now)
        if told is None:
            return
        log.info(
            "reads from Prometheus are answered again, after %s failing (since %s; %d read%s "
            "failed)",
            span(now - told.since),
            to_utc_text(told.since),
            told.failures,
            "" if told.failures == 1 else "s",
        )

    def _failure(self, exc: TransientError | PermanentError) -> None:
        self.metrics.prometheus_failures.labels(reason=exc.reason).inc()
        now = self.clock()
        with self._lock:
            self._failed[exc.reason] = self._failed.get(exc.reason, 0) + 1
            self._last_error = str(exc)
        if exc.reason in _QUERY_FAULTS:
            return
        told = self._story.failed(now, exc.reason)
        if told is not None:
            say_failing(
                log,
                told,
                now,
                exc,
                exc.reason,
                what="reads from Prometheus",
                meanwhile="What needs them waits: scaling holds its workloads, anomaly "
                "queries score nothing, canaries are not judged",
                every=self.summary_every,
            )
