"""How the daemon's reads of Prometheus are going, for its own metrics and ``run --once``.

The loops handle a failed read themselves (scaling holds its workloads, the anomaly loop
marks the query degraded), so a Prometheus outage raises no job error. ``WatchedReader``
wraps the ``MetricsReader`` port the loops are given and keeps the account an SRE
alerts on: every request that failed, by the ``reason`` of the ``TransientError`` or
``PermanentError`` the reader raised (``autonomic_prometheus_request_failures_total``),
and the time of the last request that was answered
(``autonomic_prometheus_last_success_timestamp_seconds``). Neither the loops nor the
adapter know it is there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.errors import PermanentError, TransientError
from agent.observability import Metrics

if TYPE_CHECKING:  # the port's module imports the adapter (numpy, requests): not at start
    from agent.metrics_port import MetricSeries, MetricsReader

__all__ = ["ReadTally", "WatchedReader"]


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

    def __init__(self, reader: MetricsReader, metrics: Metrics, clock: Callable[[], float]) -> None:
        self.reader = reader
        self.metrics = metrics
        self.clock = clock
        self._lock = threading.Lock()
        self._answered = 0
        self._failed: dict[str, int] = {}
        self._last_error: str | None = None

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
        self.metrics.prometheus_last_success.set(self.clock())
        with self._lock:
            self._answered += 1

    def _failure(self, exc: TransientError | PermanentError) -> None:
        self.metrics.prometheus_failures.labels(reason=exc.reason).inc()
        with self._lock:
            self._failed[exc.reason] = self._failed.get(exc.reason, 0) + 1
            self._last_error = str(exc)
