"""The simulation's metrics pipeline, behind the same ``MetricsReader`` port as Prometheus.

Samples are recorded as the simulated cluster produces them. Queries are PromQL-like
selectors, ``name{label="value",...}``: exact label matches, which is all the
simulation's configuration uses. Freshness is stated exactly as the Prometheus adapter
states it, so the loops treat simulated data the way they treat real data.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Mapping

import numpy as np

from agent.adapters.prometheus import MetricSeries
from agent.errors import PermanentError
from forecasting.series import Series
from remediation.digits import unseen_character

__all__ = ["SimMetrics"]

# ASCII spaces only (re.ASCII): PromQL takes no other, and a no-break space pasted from a
# page is named in the refusal (``unseen_character``) rather than read past.
_SELECTOR = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$", re.ASCII)
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"]*)"\s*', re.ASCII)
_ASCII_SPACE = " \t\n\r\f\v"


# The shipped runbooks speak PromQL for real exporters; the simulation answers those
# three query shapes from its own series (and says so in docs/simulate.md).
_LABELS = r'\{namespace="([^"]+)",\s*deployment="([^"]+)"'
_TRANSLATIONS = (
    (
        re.compile(r"^histogram_quantile\(0\.99,.*http_request_duration_seconds_bucket" + _LABELS),
        "sim_latency_seconds",
    ),
    (
        re.compile(r"^sum\(rate\(http_requests_total" + _LABELS + r',\s*code=~"5\.\."'),
        "sim_error_ratio",
    ),
    (
        re.compile(r"^sum\(rate\(http_requests_total" + _LABELS + r"\}\[[0-9]+m\]\)\)$"),
        "sim_demand_per_second",
    ),
)


def translate(query: str) -> str:
    """A runbook's PromQL, as the simulation's selector when it is one it knows."""
    for pattern, name in _TRANSLATIONS:
        found = pattern.match(query.strip())
        if found is not None:
            return f'{name}{{namespace="{found.group(1)}",deployment="{found.group(2)}"}}'
    return query


def parse_selector(query: str) -> tuple[str, dict[str, str]]:
    match = _SELECTOR.match(query)
    if match is None:
        raise PermanentError(
            f'the simulation understands selectors like name{{label="value"}}, not {query!r}'
            + unseen_character(query),
            reason="QueryUnsupported",
        )
    name, inner = match.group(1), match.group(2) or ""
    labels: dict[str, str] = {}
    for part in filter(None, (p.strip(_ASCII_SPACE) for p in inner.split(","))):
        found = _MATCHER.fullmatch(part)
        if found is None:
            raise PermanentError(
                f"unsupported matcher {part!r} in {query!r}{unseen_character(part)}",
                reason="QueryUnsupported",
            )
        labels[found.group(1)] = found.group(2)
    return name, labels


class SimMetrics:
    def __init__(self, *, stale_after: float = 300.0) -> None:
        self.stale_after = stale_after
        self._series: dict[
            tuple[str, tuple[tuple[str, str], ...]], tuple[list[float], list[float]]
        ] = {}
        self._by_name: dict[str, list[tuple[dict[str, str], list[float], list[float]]]] = {}
        self._parsed: dict[str, tuple[str, dict[str, str]]] = {}
        self.down = False  # the simulation can take "Prometheus" down

    def record(self, name: str, labels: Mapping[str, str], at: float, value: float) -> None:
        key = (name, tuple(sorted(labels.items())))
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = ([], [])
            self._by_name.setdefault(name, []).append((dict(labels), found[0], found[1]))
        times, values = found
        times.append(at)
        values.append(value)

    def _matching(self, query: str) -> list[tuple[dict[str, str], list[float], list[float]]]:
        if self.down:
            from agent.errors import TransientError

            raise TransientError("simulated Prometheus is down", reason="PrometheusDown")
        parsed = self._parsed.get(query)
        if parsed is None:
            parsed = self._parsed[query] = parse_selector(translate(query))
        name, wanted = parsed
        return [
            (labels, times, values)
            for labels, times, values in self._by_name.get(name, ())
            if all(labels.get(k) == v for k, v in wanted.items())
        ]

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        n = max(math.floor((end - start) / step) + 1, 0)
        grid = start + step * np.arange(n, dtype=float)
        found = []
        for labels, times, values in self._matching(query):
            out = np.full(n, np.nan)
            lo = bisect.bisect_left(times, start - self.stale_after)
            for i, t in enumerate(grid):
                j = bisect.bisect_right(times, t, lo) - 1
                if j >= 0 and t - times[j] <= min(self.stale_after, step * 2):
                    out[i] = values[j]
                    lo = j
            finite = np.flatnonzero(np.isfinite(out))
            last = float(grid[finite[-1]]) if finite.size else None
            stale = last is None or now - last > self.stale_after
            found.append(
                MetricSeries(
                    query=query,
                    labels=labels,
                    series=Series(grid, out, float(step), query, labels),
                    non_finite_samples=0,
                    last_sample_at=last,
                    stale=stale,
                    gap_fraction=float(np.isnan(out).mean()) if n else 1.0,
                )
            )
        return found

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        out = []
        for labels, times, values in self._matching(query):
            j = bisect.bisect_right(times, at) - 1
            if j >= 0 and at - times[j] <= self.stale_after:
                out.append((labels, times[j], values[j]))
        return out
