"""The port through which loops read metrics (Prometheus, or the simulation's store)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from agent.adapters.prometheus import MetricSeries
from agent.errors import TransientError
from remediation.durations import format_duration
from remediation.readings import NO_DATA, PROMETHEUS_FROZEN, NoValue
from remediation.windows import to_utc_text

__all__ = [
    "INGESTION_MAX_AGE",
    "INSTANT_MAX_AGE",
    "IngestionClock",
    "MetricSeries",
    "MetricsReader",
    "one_fresh_value",
    "one_fresh_value_or_why",
    "runbook_query",
]

# An instant sample older than Prometheus's own lookback (5 minutes) comes from a stuck
# server or a caching proxy, not from the system as it is now.
INSTANT_MAX_AGE = 300.0
# A runbook's read is not taken while Prometheus has stored no sample, of any series, for
# this long: twice a one-minute scrape interval. Its answers within the lookback would be
# each series' last value stamped as current (see ``IngestionClock``).
INGESTION_MAX_AGE = 120.0


class MetricsReader(Protocol):
    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        """Series over [start, end] at ``step``; freshness stated in each ``MetricSeries``."""
        ...

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        """(labels, sample time, value) per series at ``at``; value may be NaN or
        +-Inf."""
        ...


@runtime_checkable
class IngestionClock(Protocol):
    """A reader that can tell when its source last stored a sample, of any series
    (``PrometheusReader``, and ``WatchedReader`` around it). An instant query cannot: its
    answer is stamped with the query's time, and a gauge keeps its last value for the
    lookback, so a Prometheus that stopped taking samples in answers old numbers as if
    they were current."""

    def newest_sample(self) -> float | None:
        """Epoch seconds of the newest stored sample; None when that cannot be told."""
        ...


def one_fresh_value(
    found: list[tuple[dict[str, str], float, float]], at: float, max_age: float = INSTANT_MAX_AGE
) -> float | None:
    """The value of an instant query that returned exactly one series whose sample is at
    most ``max_age`` old at ``at``; None otherwise (none, several, or old: no number to
    act on). The value may still be NaN (no data), which callers treat as missing, or
    +-Inf (the canary judge refuses it, saying so)."""
    if len(found) != 1:
        return None
    _, sampled_at, value = found[0]
    return value if at - sampled_at <= max_age else None


def one_fresh_value_or_why(
    found: list[tuple[dict[str, str], float, float]], at: float, max_age: float = INSTANT_MAX_AGE
) -> float | NoValue:
    """``one_fresh_value``, with what the query answered instead of a number when it gave
    none: no series, several, an old sample, NaN or an infinite value (a ``NoValue`` with
    code ``NoData``), for a sentence that says which: ``-Inf < 0.05`` never passes a
    check."""
    if not found:
        return NoValue(
            NO_DATA,
            "the query returned no series (is the metric scraped, and do its labels match?)",
        )
    if len(found) > 1:
        return NoValue(
            NO_DATA,
            f"the query returned {len(found)} series, not one (aggregate it, e.g. with sum)",
        )
    _, sampled_at, value = found[0]
    if at - sampled_at > max_age:
        return NoValue(
            NO_DATA,
            f"its newest sample is {format_duration(at - sampled_at)} old, older than "
            f"{format_duration(max_age)} (is Prometheus still storing samples?)",
        )
    if math.isnan(value):
        return NoValue(NO_DATA, "its value is NaN")
    if math.isinf(value):
        return NoValue(NO_DATA, f"its value is {'+Inf' if value > 0 else '-Inf'}")
    return value


def runbook_query(
    reader: MetricsReader, now: Callable[[], float], max_age: float = INGESTION_MAX_AGE
) -> Callable[[str], float | NoValue]:
    """How the remediation engine reads a precondition or a check: ``query``'s one fresh
    value now, or what Prometheus answered instead. A failed request raises, as the
    reader does, for the engine to say Prometheus could not be asked; so does a
    Prometheus that has stored no sample, of any series, for more than ``max_age`` (its
    scrapes or remote writes stopped): it would answer each gauge's and each rate's last
    value, stamped now, and a precondition or a verification would pass or fail on old
    numbers. Where the reader cannot tell (``IngestionClock``), the query alone decides.
    When Prometheus last stored is asked at most once every 10 s, not once per query."""
    asked: list[tuple[float, float | None]] = []  # (when asked, its answer)

    def stored(at: float) -> float | None:
        if not isinstance(reader, IngestionClock):
            return None
        if not asked or not 0.0 <= at - asked[0][0] < 10.0:
            asked[:] = [(at, reader.newest_sample())]
        return asked[0][1]

    def instant(query: str) -> float | NoValue:
        at = now()
        newest = stored(at)
        if newest is not None and at - newest > max_age:
            since = to_utc_text(newest)
            raise TransientError(
                f"Prometheus has stored no new sample since {since}, "
                f"{format_duration(at - newest)} ago (its scrapes or remote writes have "
                "stopped): its answers would be old numbers",
                reason=PROMETHEUS_FROZEN,
            )
        return one_fresh_value_or_why(reader.instant(query, at), at)

    return instant
