"""Why a PromQL read gave no number to judge a precondition or a check on.

"No data" and "Prometheus could not be asked" call for different people doing different
things: the first for whoever owns the metric or the runbook's query (a metric not
scraped, a label that does not match, several series where one was meant), the second
for whoever runs Prometheus. The engine reads each query and hands the planning and the
verification either the number or a ``NoValue`` that says which it was.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "NO_DATA",
    "PROMETHEUS_FROZEN",
    "PROMETHEUS_UNAVAILABLE",
    "PROMETHEUS_UNREAD",
    "QUERY_REJECTED",
    "NoValue",
]

# The reason codes, as ``autonomic why``, the metric and the log show them.
NO_DATA = "NoData"  # Prometheus answered, with nothing to judge
PROMETHEUS_UNAVAILABLE = "PrometheusUnavailable"  # down, timed out, 5xx/429, garbled
# Prometheus answers, but has stored no new sample for minutes (its scrapes or remote
# writes stopped): its answers would be old numbers, so none is read.
PROMETHEUS_FROZEN = "PrometheusFrozen"
# Prometheus itself kept the read from being made or answered (not the query's fault):
# a check left undecided by these says nothing about the action it verifies.
PROMETHEUS_UNREAD = frozenset({PROMETHEUS_UNAVAILABLE, PROMETHEUS_FROZEN})
QUERY_REJECTED = "QueryRejected"  # Prometheus refused the query (HTTP 4xx): fix it


@dataclass(frozen=True)
class NoValue:
    """A read that gave no number: ``reason_code`` (one of the four above) and ``why``,
    a clause saying what Prometheus answered or how asking it failed."""

    reason_code: str
    why: str

    @property
    def unread(self) -> bool:
        """Prometheus was not read (down, timed out, not storing, refused the query), as
        opposed to answering with no data."""
        return self.reason_code != NO_DATA
