"""The port through which loops read metrics (Prometheus, or the simulation's store)."""

from __future__ import annotations

from typing import Protocol

from agent.adapters.prometheus import MetricSeries

__all__ = ["MetricSeries", "MetricsReader"]


class MetricsReader(Protocol):
    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        """Series over [start, end] at ``step``; freshness stated in each ``MetricSeries``."""
        ...

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        """(labels, sample time, value) per series at ``at``; value may be NaN."""
        ...
