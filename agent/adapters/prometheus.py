"""Prometheus, through prometheus-api-client, into typed series that cannot lie.

- Range queries longer than Prometheus's 11,000-points-per-series limit are split
  into chunks and stitched back together.
- Missing steps become NaN (explicit gaps), ``NaN``/``+Inf``/``-Inf`` samples of a range
  read become NaN and are counted (each +-Inf's place kept in ``MetricSeries.infinite``,
  for the canary loop's read-back and the anomaly loop's off-scale incidents), and a
  series whose newest finite sample is older than ``stale_after`` is flagged stale (one
  with a newer infinite sample also ``off_scale_fresh``: the anomaly loop scores it). An
  instant read keeps +Inf and -Inf as they are (a ``histogram_quantile`` beyond its
  largest bucket is not "no data"): a runbook's read (``metrics_port``) takes them as no
  number, and the canary judge refuses them, saying so. ``MetricSeries.usable`` is the
  one question loops ask before acting (``off_scale_usable`` for the anomaly loop).
- Failures are translated at this edge: connection refused, timeouts, HTTP 5xx/429 and
  malformed responses are ``TransientError`` (retry later); HTTP 4xx other than 429
  (a query Prometheus rejects) is ``PermanentError``. Nothing downstream ever sees a
  silently empty or stale series as if it were fresh.
- ``timeout`` bounds each request whole, not only each wait for a byte: a proxy that
  trickles an answer a byte a second would otherwise hold a loop for as long as it
  likes. A request past its time is left to finish in the background (at most
  ``MAX_ABANDONED`` at once; past that, no new request starts until one has).
- Time is taken on Prometheus's clock. At most once every ``OFFSET_EVERY`` seconds,
  when Prometheus answers, its clock is read (a ``time()`` query) and set against the
  daemon's; the difference, in whole seconds, is added to every time the reader sends
  (an instant query's ``time=``, a range's start and end) and taken off every time it
  returns (sample times, ``newest_sample()``). A daemon whose clock runs minutes ahead
  of Prometheus's thus neither reads every sample as minutes old (and Prometheus as
  frozen) nor asks for points in Prometheus's future; one whose clock runs behind
  neither reads minutes-old points as current nor a frozen Prometheus as fresh. An
  offset past ``OFFSET_WARN`` is logged once, naming both clocks as estimated (and once more when
  it is back within); ``clock_offset()`` gives it for the daemon's metrics. The offset is
  estimated from the recent readings, not the last one (see ``_estimate``): behind one URL
  there may be two Prometheus replicas whose clocks differ.
- A request that fails at once as if its server were gone (connection refused or
  dropped, HTTP 502/503/504) is tried once more straight away: behind one URL with two
  replicas, one of them down would otherwise fail every other read.
"""

from __future__ import annotations

import collections
import itertools
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import requests
import urllib3
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from agent.clock import elapsed
from agent.errors import PermanentError, TransientError, redact_url_passwords
from forecasting.series import Series
from remediation.durations import format_duration
from remediation.windows import to_utc_text

__all__ = [
    "MAX_POINTS_PER_QUERY",
    "OFFSET_EVERY",
    "OFFSET_WARN",
    "MetricSeries",
    "PrometheusReader",
    "QueryShapeError",
]

log = logging.getLogger("autonomic.prometheus")

# Prometheus refuses range queries resolving to more than 11,000 points per series.
MAX_POINTS_PER_QUERY = 11_000
_STATUS = re.compile(r"HTTP Status Code ([0-9]+)")
# Requests past their time still running in the background, at most, before the reader
# stops starting new ones (each holds a thread and a connection until it ends).
MAX_ABANDONED = 4
# Prometheus's clock is read at most this often (seconds), when it answers.
OFFSET_EVERY = 60.0
# An offset between Prometheus's clock and the daemon's larger than this (seconds) is
# told in the log: one of the two nodes does not keep time (NTP).
OFFSET_WARN = 30.0
# The offset is estimated from the recent measurements (one a minute at most): the
# middle of their range. Behind one URL there may be several Prometheus servers (an HA
# pair behind a Service), each with its own clock; taking the last measurement alone
# would flap between their offsets, each flip shifting every query's time and, around
# OFFSET_WARN, telling the log of an offset and of its end once a minute or two. The
# recent measurements are those of the last ``OFFSET_WINDOW_SECONDS`` (at most
# ``OFFSET_KEEP`` of them), and never fewer than the last ``OFFSET_WINDOW``: a window of
# the last 8 alone lost a replica's clock whenever the other answered 7 readings in a
# row (with a random choice of replica, a few times a day), and the estimate jumped to
# one clock and back.
OFFSET_WINDOW = 8
OFFSET_WINDOW_SECONDS = 1800.0
OFFSET_KEEP = 64
# HTTP statuses a proxy or load balancer gives when the server behind it is down: the
# next request may land on another replica, so one of these is retried once at once.
# Measurements of the offset further apart than this (seconds) are told in the log once:
# the URL leads to more than one clock.
OFFSET_SPREAD_WARN = 5.0
# Readings of the offset within this (seconds) of each other are the same clock's.
OFFSET_NOISE = 1.0
# When Prometheus's answers of when it last stored go back in time within this many
# seconds (or from the one before the last, however old), they come from more than one
# store, and the stalest of them is the answer (see ``_stalest``): behind one URL with two
# replicas, one whose scrapes stopped would otherwise be judged frozen at every other
# answer and fresh at the others, while the queries in between read from both.
NEWEST_WINDOW = 60.0
# Once the answers have gone back in time, the URL is taken to lead to several stores for
# this long (seconds) after the last time they did: the stalest recent answer counts even
# when the storing replica's answer came last (forward in time from the frozen one's, as a
# lone server's does when it stores again).
SEVERAL_STORES_FOR = 1800.0
_RETRIED_REASONS = frozenset(
    {"PrometheusDown", "PrometheusHTTP502", "PrometheusHTTP503", "PrometheusHTTP504"}
)


class QueryShapeError(PermanentError):
    """The query returned a different number of series than the caller expects."""


@dataclass(frozen=True, eq=False)
class MetricSeries:
    """One series from Prometheus, with its freshness stated, never implied."""

    query: str
    labels: dict[str, str]
    series: Series
    non_finite_samples: int  # NaN or +/-Inf samples Prometheus returned (now NaN)
    last_sample_at: float | None  # epoch seconds of the newest finite sample
    stale: bool  # newest finite sample older than stale_after at query time
    gap_fraction: float
    # The grid positions whose sample was +Inf or -Inf (NaN in ``series``), each with
    # that value: a gap to a forecast, but the canary judge's read-back after a restart
    # refuses (and counts) an infinite value as the live run, whose instant read keeps it,
    # did (a p99 beyond its histogram's largest bucket is not "no requests").
    infinite: tuple[tuple[int, float], ...] = ()
    # Stale by its finite samples, but with an infinite one (+-Inf) within ``stale_after``:
    # Prometheus answers, with a value off the metric's scale. The anomaly loop scores such
    # a series (``off_scale_usable``); every other reader takes it as stale, as before.
    off_scale_fresh: bool = False

    @property
    def usable(self) -> bool:
        """Fresh and not empty: the only state in which a loop may act on these numbers."""
        return not self.stale and self.last_sample_at is not None

    @property
    def off_scale_usable(self) -> bool:
        """``usable``, or fresh only by its infinite samples (``off_scale_fresh``): for a
        reader that takes +-Inf as a value (the anomaly loop), not as a gap."""
        return self.usable or self.off_scale_fresh


class PrometheusReader:
    """Implements the ``MetricsReader`` port on a real Prometheus."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        stale_after: float = 300.0,
        headers: Mapping[str, str] | None = None,
        verify_tls: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock`` is the daemon's: the one the callers' times (``at``, ``now``,
        ``start``, ``end``) are on, and the one the times returned are put on."""
        self.url = url.rstrip("/")
        self.shown_url = redact_url_passwords(self.url, whole=True)  # for messages
        self.timeout = timeout
        self.stale_after = stale_after
        self._abandoned: list[threading.Thread] = []
        self._abandoned_lock = threading.Lock()
        self.clock = clock
        # Prometheus's clock minus the daemon's: as estimated from the recent
        # measurements (None before the first measurement), and as
        # applied to the times sent and returned (whole seconds,
        # moved only when the measurement is a second or more away from it, so that a
        # few milliseconds of noise neither shift the points' times nor make them odd).
        self._measured: float | None = None
        self._spread: float | None = None  # of the readings the estimate rests on
        # (``elapsed()`` time, offset) of the recent measurements
        self._measurements: collections.deque[tuple[float, float]] = collections.deque(
            maxlen=OFFSET_KEEP
        )
        self._offset = 0.0
        self._offset_lock = threading.Lock()
        self._offset_due = -math.inf  # ``elapsed()`` time of the next measurement
        self._offset_told = False  # an offset past OFFSET_WARN has been logged
        self._spread_told = False  # a spread past OFFSET_SPREAD_WARN has been logged
        # The daemon's clock minus ``elapsed()`` when last looked at: a change of more
        # than OFFSET_NOISE is a step of the daemon's own clock (``_follow_own_clock``).
        self._own_skew: float | None = None
        # ``newest_sample()``'s recent answers: (``elapsed()`` time, the daemon's clock
        # then, the newest sample told of on the daemon's clock)
        self._answers: collections.deque[tuple[float, float, float]] = collections.deque(
            maxlen=OFFSET_KEEP
        )
        self._several_seen = -math.inf  # ``elapsed()`` time answers last went back
        self._ages_lock = threading.Lock()
        # No retries inside the client: a failed query is reported, and the loop that
        # asked decides when to try again (bounded, with its own period).
        self._client = PrometheusConnect(
            url=self.url,
            headers=dict(headers or {}),
            disable_ssl=not verify_tls,
            retry=Retry(total=0, raise_on_status=False),
            timeout=math.ceil(timeout),
        )

    # ------------------------------------------------------------ queries
    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        """An instant query: (labels, sample time, value) per series; value may be NaN or
        +-Inf (kept, unlike a range read's, so the canary judge can say a latency is beyond
        its histogram's largest bucket rather than missing)."""
        offset = self._offset
        params = {"time": f"{at + offset:.3f}"}
        result = self._call(lambda: self._client.custom_query(query, params=params), query)
        out = []
        for item in self._items(result, query):
            try:
                ts, raw = item["value"]
                out.append((_labels(item), _timestamp(ts) - offset, float(raw)))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise TransientError(
                    f"Prometheus returned a malformed sample for {query!r}: {item!r}",
                    reason="MalformedResponse",
                ) from exc
        return out

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        """A range query split into chunks under the per-query point limit."""
        if not (step > 0 and end >= start):
            raise ValueError(f"bad range: start={start}, end={end}, step={step}")
        start = float(math.floor(start))  # the client sends whole seconds
        offset = self._offset  # whole seconds: Prometheus's times stay whole too
        n = math.floor((end - start) / step) + 1
        grid = start + step * np.arange(n, dtype=np.float64)
        chunk = MAX_POINTS_PER_QUERY - 1
        merged: dict[tuple[tuple[str, str], ...], dict[float, float]] = {}
        labels_of: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        for first in range(0, n, chunk):
            last = min(first + chunk, n) - 1
            chunk_start, chunk_end = float(grid[first]), float(grid[last])
            result = self._call(
                lambda s=chunk_start, e=chunk_end: self._client.custom_query_range(
                    query,
                    start_time=datetime.fromtimestamp(s + offset, UTC),
                    end_time=datetime.fromtimestamp(e + offset, UTC),
                    step=f"{step:g}",
                ),
                query,
            )
            for item in self._items(result, query):
                try:
                    labels = _labels(item)
                    key = tuple(sorted(labels.items()))
                    labels_of[key] = labels
                    points = merged.setdefault(key, {})
                    for ts, raw in item["values"]:
                        points[_timestamp(ts) - offset] = _sample(raw, keep_infinite=True)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    raise TransientError(
                        f"Prometheus returned malformed values for {query!r}",
                        reason="MalformedResponse",
                    ) from exc
        out = []
        for key, points in merged.items():
            values = np.full(n, np.nan)
            non_finite = 0
            for ts, value in points.items():
                slot = round((ts - start) / step)
                if 0 <= slot < n:
                    values[slot] = value
                    non_finite += int(not math.isfinite(value))
            infinite = tuple((int(i), float(values[i])) for i in np.flatnonzero(np.isinf(values)))
            values[~np.isfinite(values)] = np.nan
            finite = np.flatnonzero(~np.isnan(values))
            last_at = float(grid[finite[-1]]) if finite.size else None
            stale = last_at is None or now - last_at > self.stale_after
            newest_infinite = float(grid[infinite[-1][0]]) if infinite else None
            off_scale_fresh = (
                stale and newest_infinite is not None and now - newest_infinite <= self.stale_after
            )
            series = Series(grid.copy(), values, float(step), query, labels_of[key])
            out.append(
                MetricSeries(
                    query=query,
                    labels=labels_of[key],
                    series=series,
                    non_finite_samples=non_finite,
                    last_sample_at=last_at,
                    stale=stale,
                    gap_fraction=float(np.isnan(values).mean()),
                    infinite=infinite,
                    off_scale_fresh=off_scale_fresh,
                )
            )
        return out

    def range_one(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> MetricSeries:
        """Exactly one series, or ``QueryShapeError`` (none is also an answer, not a zero)."""
        found = self.range(query, start, end, step, now)
        if len(found) != 1:
            raise QueryShapeError(
                f"expected one series from {query!r}, got {len(found)}"
                + (
                    f" (label sets: {[s.labels for s in found][:3]}); aggregate with sum by (...)"
                    if found
                    else "; no data: is the metric scraped and the selector right?"
                ),
                reason="QueryShape",
            )
        return found[0]

    def newest_sample(self) -> float | None:
        """When Prometheus last stored a sample, of any series, in epoch seconds: its
        TSDB status's ``headStats.maxTime``. None when that cannot be told (a backend or
        proxy without the endpoint, an empty head, a failed or odd answer): the caller
        then goes by its queries alone.

        A query cannot tell this itself: a server that answers queries but has stored
        nothing new for a while (its scrapes or its remote-write senders stopped) keeps
        serving each gauge's last value for its 5-minute lookback, stamped with the
        query's own time, as if it were current.

        On the daemon's clock (see ``clock_offset``): the caller's ``now`` minus it is
        the sample's age on Prometheus's clock. Prometheus's clock is read here when due
        and Prometheus answered (any HTTP status), so that a Prometheus down or hung
        costs no second wait. Behind one URL there may be several replicas: the answer
        is the stalest of the recent ones (see ``_stalest``)."""
        self._follow_own_clock()
        url = f"{self.url}/api/v1/status/tsdb"
        session = self._client._session
        headers = self._client.headers

        def fetch() -> Any:
            return session.get(url, headers=headers, timeout=math.ceil(self.timeout))

        try:
            response = self._within_timeout(fetch)
        except (requests.RequestException, TransientError):
            return None
        self._measure_offset_when_due()
        try:
            if response.status_code != 200:
                return None
            newest = response.json()["data"]["headStats"]["maxTime"]
        except (requests.RequestException, ValueError, KeyError, TypeError):
            return None
        if isinstance(newest, bool) or not isinstance(newest, int | float) or newest <= 0:
            return None  # an empty head reports the smallest int64
        return self._stalest(float(newest) / 1000.0 - self._offset)

    def _stalest(self, newest: float) -> float:
        """``newest`` (this answer's newest sample, on the daemon's clock), or older.

        One store's newest sample never goes back in time. When the recent answers'
        (``NEWEST_WINDOW``, and the one before this) do go back, they come from more than
        one store (two replicas behind one URL), and the queries read from any of them:
        the answer is then the stalest of them, each taken at the age it had when it was
        given (an age, not a time, so that a replica storing all along never looks older
        by the time between two answers). That holds for ``SEVERAL_STORES_FOR`` after
        answers last went back, also when the storing replica's answer comes after the
        frozen one's (forward in time). A replica that stopped storing is thus not
        outvoted by the other's answers. A lone Prometheus that stores again is judged by
        its own answer at once."""
        at, now = elapsed(), self.clock()
        with self._ages_lock:
            answers = self._answers
            while len(answers) > 1 and answers[0][0] < at - NEWEST_WINDOW:
                answers.popleft()
            answers.append((at, now, newest))
            told = [stored for _, _, stored in answers]
            if not all(a <= b for a, b in itertools.pairwise(told)):
                self._several_seen = at
            elif at - self._several_seen > SEVERAL_STORES_FOR:
                return newest  # one store, as far as can be told
            oldest = max(asked - stored for _, asked, stored in answers)
        return now - oldest

    def _follow_own_clock(self) -> None:
        """Move the offset, its readings and the recent answers of when Prometheus last
        stored by a step of the daemon's own clock (a VM resumed, NTP setting it right),
        told by the daemon's clock against ``elapsed()``, which is never stepped.

        Prometheus's clock is read at most once a minute and a reading's step is followed
        only at the next (``_estimate``): without this, for a minute or two after the
        daemon's clock went back by hours its queries asked for the samples of hours ago
        as current (and Prometheus's newest sample looked hours in the future, fresh),
        and after a step forward a storing Prometheus looked frozen."""
        skew = self.clock() - elapsed()
        with self._offset_lock:
            before, self._own_skew = self._own_skew, skew
            if before is None or abs(skew - before) <= OFFSET_NOISE:
                return
            step = skew - before  # the daemon's clock moved by this; Prometheus's did not
            self._measurements = collections.deque(
                ((at, value - step) for at, value in self._measurements), maxlen=OFFSET_KEEP
            )
            applied = self._offset
            if self._measured is not None:
                self._measured -= step
                if abs(self._measured - self._offset) >= 1.0:
                    self._offset = float(round(self._measured))
            measured = self._measured
            # The answers stored are Prometheus's times less the offset applied then:
            # moved as that offset moved (whole seconds), not by the exact step, so that
            # the next answer from the same store, less the new offset, does not look a
            # fraction of a second older, as if from a second store (``_stalest``).
            moved = applied - self._offset
        with self._ages_lock:
            self._answers = collections.deque(
                ((at, asked + step, stored + moved) for at, asked, stored in self._answers),
                maxlen=OFFSET_KEEP,
            )
        log.warning(
            "this daemon's clock was stepped %s %s: Prometheus's clock offset moves with "
            "it (%+.1f s), so sample ages stay on Prometheus's clock",
            "forward by" if step > 0 else "back by",
            format_duration(abs(step)),
            measured if measured is not None else 0.0,
        )

    def clock_offset(self) -> float | None:
        """Prometheus's clock minus the daemon's, in seconds (positive: Prometheus is
        ahead): the middle of the range of the recent measurements (see ``_estimate``);
        None before the first measurement."""
        return self._measured

    def clock_offset_spread(self) -> float | None:
        """How far apart the recent measurements of the offset are (see ``_estimate``), in
        seconds; None before the first. A second or less is the noise of the network;
        more means the answers come from more than one clock (several Prometheus servers
        behind one URL) or that a clock was stepped."""
        return self._spread

    def _estimate(self, reading: float, at: float) -> tuple[float, float, int]:
        """Take in one reading of the offset, made at ``at`` (``elapsed()``); the
        estimate, the spread it rests on and how many readings it rests on.

        The estimate is the middle of the range of the recent readings (those of the last
        ``OFFSET_WINDOW_SECONDS``, and at least the last ``OFFSET_WINDOW``): steady
        between two clocks read in any order. A reading outside the range of the ones
        before it (by more than ``OFFSET_NOISE``) is held back until it is either seen
        again on the same side (a clock was stepped, say its NTP set right: the older
        readings are dropped and the new ones stand alone) or the readings come back into
        the range (a second clock behind the URL: its readings then count). One odd
        reading thus moves nothing, and a step is followed a reading later."""
        window = self._measurements
        while len(window) >= OFFSET_WINDOW and window[0][0] < at - OFFSET_WINDOW_SECONDS:
            window.popleft()
        older = [value for _, value in window]
        window.append((at, reading))
        values = [*older, reading]
        prior, recent = values[:-2], values[-2:]
        if prior and len(recent) == 2:
            low, high = min(prior) - OFFSET_NOISE, max(prior) + OFFSET_NOISE
            if all(r > high for r in recent) or all(r < low for r in recent):
                last_two = list(window)[-2:]
                window.clear()
                window.extend(last_two)  # a step: the readings before it no longer apply
                return (max(recent) + min(recent)) / 2.0, max(recent) - min(recent), 2
        if older and not min(older) - OFFSET_NOISE <= reading <= max(older) + OFFSET_NOISE:
            kept = older  # held back until it is seen again
        else:
            kept = values
        return (max(kept) + min(kept)) / 2.0, max(kept) - min(kept), len(kept)

    def _measure_offset_when_due(self) -> None:
        """Read Prometheus's clock (``time()``, evaluated at its own now) and set it
        against the daemon's, taken halfway through the request: at most once every
        ``OFFSET_EVERY`` seconds, a failed attempt included. A failed or odd answer
        leaves the offset as it was."""
        with self._offset_lock:
            if elapsed() < self._offset_due:
                return
            self._offset_due = elapsed() + OFFSET_EVERY
        url = f"{self.url}/api/v1/query"
        session = self._client._session
        headers = self._client.headers

        def fetch() -> tuple[float, float, Any]:
            before = self.clock()
            response = session.get(
                url, params={"query": "time()"}, headers=headers, timeout=math.ceil(self.timeout)
            )
            return before, self.clock(), response

        try:
            before, after, response = self._within_timeout(fetch)
            if response.status_code != 200:
                return
            data = response.json()["data"]
            theirs = float(data["result"][0]) if data["resultType"] == "scalar" else math.nan
        except (requests.RequestException, TransientError, ValueError, KeyError, TypeError):
            return
        if not math.isfinite(theirs) or after < before:
            return
        ours = (before + after) / 2.0
        with self._offset_lock:
            measured, spread, count = self._estimate(theirs - ours, elapsed())
            self._measured, self._spread = measured, spread
            if abs(measured - self._offset) >= 1.0:
                self._offset = float(round(measured))
            told, self._offset_told = self._offset_told, abs(measured) > OFFSET_WARN
            spread_told, self._spread_told = self._spread_told, spread > OFFSET_SPREAD_WARN
        if spread > OFFSET_SPREAD_WARN and not spread_told:
            log.warning(
                "Prometheus at %s answers with clocks %s apart over its last %d readings: "
                "the URL leads to more than one Prometheus (an HA pair behind one Service?) "
                "whose clocks differ, or a clock was stepped. Times are taken on the middle "
                "of the range (%+.1f s); query through Thanos Query or a Service with "
                "sessionAffinity: ClientIP so that consecutive reads see one server",
                self.shown_url,
                format_duration(spread),
                count,
                measured,
            )
        elif spread_told and spread <= OFFSET_SPREAD_WARN:
            log.info("Prometheus's clock readings agree again (within %.1f s)", spread)
        if abs(measured) > OFFSET_WARN and not told:
            # The figures told are the ones judged: the estimate, not the last reading
            # (with two clocks behind the URL, the last reading may be either's).
            spread_said = (
                f"; the middle of its last {count} readings, which are "
                f"{format_duration(spread)} apart"
                if spread > OFFSET_NOISE
                else ""
            )
            log.warning(
                "Prometheus's clock is %s %s the daemon's (Prometheus at %s: %s; this "
                "daemon: %s%s): one of the two nodes does not keep time (check NTP). Sample "
                "ages and query times are taken on Prometheus's clock, so the difference "
                "neither makes its samples look stale nor fresh",
                format_duration(abs(measured)),
                "ahead of" if measured > 0 else "behind",
                self.shown_url,
                to_utc_text(ours + measured),
                to_utc_text(ours),
                spread_said,
            )
        elif told and abs(measured) <= OFFSET_WARN:
            log.info(
                "Prometheus's clock is within %s of the daemon's again (%+.1f s)",
                format_duration(OFFSET_WARN),
                measured,
            )

    def healthy(self) -> bool:
        url = f"{self.url}/-/ready"
        try:
            response = self._within_timeout(lambda: requests.get(url, timeout=self.timeout))
        except (requests.RequestException, TransientError):
            return False
        return bool(response.status_code == 200)

    # ------------------------------------------------------------- errors
    def _within_timeout(self, fn: Any, limit: float | None = None) -> Any:
        """``fn()``, given at most ``limit`` (default ``timeout``) seconds whole; a
        ``requests.Timeout`` past that (the request goes on in a background thread until
        it ends)."""
        limit = self.timeout if limit is None else limit
        with self._abandoned_lock:
            self._abandoned = [t for t in self._abandoned if t.is_alive()]
            if len(self._abandoned) >= MAX_ABANDONED:
                raise TransientError(
                    f"Prometheus at {self.shown_url}: {len(self._abandoned)} earlier requests "
                    f"ran past {self.timeout:g} s and have not ended; no new one until one has",
                    reason="PrometheusTimeout",
                )
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:  # handed to the caller's thread as it was
                box["error"] = exc

        thread = threading.Thread(target=work, name="prometheus-request", daemon=True)
        thread.start()
        thread.join(max(limit, 0.0))
        if thread.is_alive():
            with self._abandoned_lock:
                self._abandoned.append(thread)
            raise requests.Timeout(f"no whole answer within {self.timeout:g} s")
        if "error" in box:
            # Taken out of the box before it is raised: the error's traceback holds this
            # frame and the worker's, which hold the box; left in it, each failed request
            # (its connection, socket and frames) would wait for the cyclic collector.
            error = box.pop("error")
            try:
                raise error
            finally:
                del error
        return box.pop("value")

    def _call(self, fn: Any, query: str) -> Any:
        """``fn()``, its failures typed. A failure that is over at once and may be one
        server of several behind the URL being down (connection refused, HTTP 502, 503
        or 504) is retried once, straight away: behind a Service with two Prometheus
        replicas, one of them down fails every other request, and the loops would hold
        or skip half their reads. A timeout is not retried (that would double the time
        a read may take), nor is a 429 (Prometheus asked to be left alone). ``timeout``
        bounds the read, retry included: a failure that took more than half of it (a
        proxy's 504 after waiting on its upstream) is not over at once and is not retried,
        and the retry has what is left."""
        started = elapsed()
        for attempt in (1, 2):
            spent = elapsed() - started
            try:
                return self._typed(fn, query, self.timeout - spent)
            except TransientError as exc:
                if (
                    attempt == 2
                    or exc.reason not in _RETRIED_REASONS
                    or elapsed() - started > self.timeout / 2.0
                ):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _typed(self, fn: Any, query: str, limit: float | None = None) -> Any:
        """``fn()`` within ``limit`` seconds (``timeout`` if None), its failures typed."""
        try:
            return self._within_timeout(fn, limit)
        except PrometheusApiClientException as exc:
            match = _STATUS.search(str(exc))
            status = int(match.group(1)) if match else 0
            detail = _error_detail(str(exc))
            if status == 429 or status >= 500 or status == 0:
                raise TransientError(
                    f"Prometheus answered HTTP {status} to {query!r}: {detail}",
                    delay=10.0 if status == 429 else 5.0,
                    reason=f"PrometheusHTTP{status}",
                ) from exc
            raise PermanentError(
                f"Prometheus rejected {query!r} (HTTP {status}): {detail}",
                reason=f"PrometheusHTTP{status}",
            ) from exc
        except requests.Timeout as exc:
            raise TransientError(
                f"Prometheus at {self.shown_url} did not answer within {self.timeout:g} s",
                reason="PrometheusTimeout",
            ) from exc
        except requests.ConnectionError as exc:
            if _timed_out(exc):
                raise TransientError(
                    f"Prometheus at {self.shown_url} did not answer within {self.timeout:g} s",
                    reason="PrometheusTimeout",
                ) from exc
            raise TransientError(
                f"cannot connect to Prometheus at {self.shown_url}", reason="PrometheusDown"
            ) from exc
        except (ValueError, KeyError, TypeError) as exc:  # JSON that is not Prometheus's
            raise TransientError(
                f"Prometheus at {self.shown_url} returned a response that is not the query "
                "API's JSON",
                reason="MalformedResponse",
            ) from exc
        except requests.RequestException as exc:
            raise TransientError(
                f"request to Prometheus failed: {exc}", reason="PrometheusRequest"
            ) from exc

    @staticmethod
    def _items(result: Any, query: str) -> list[dict[str, Any]]:
        if not isinstance(result, list) or not all(isinstance(i, dict) for i in result):
            raise TransientError(
                f"Prometheus returned an unexpected result for {query!r}",
                reason="MalformedResponse",
            )
        return result


def _timed_out(exc: requests.ConnectionError) -> bool:
    """requests reports a read timeout after zero retries as a ConnectionError."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    # urllib3 derives "connection refused" (NewConnectionError) from its timeout class.
    return isinstance(reason, urllib3.exceptions.TimeoutError) and not isinstance(
        reason, urllib3.exceptions.NewConnectionError
    )


def _sample(raw: Any, *, keep_infinite: bool = False) -> float:
    """A range read's sample value; NaN for "NaN", "+Inf", "-Inf" and overflowing numbers
    ("1e400"), which Prometheus encodes as strings: an infinite latency or error rate (say
    a ``histogram_quantile`` whose requests all landed in the top bucket) is not a number a
    forecast or a score can use, so it is a gap. (An instant read keeps +-Inf; with
    ``keep_infinite``, so does this, for ``range`` to note where they were.)"""
    value = float(raw)
    if keep_infinite and math.isinf(value):
        return value
    return value if math.isfinite(value) else math.nan


def _timestamp(raw: Any) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"sample time {raw!r} is not a finite number")
    return value


def _labels(item: Mapping[str, Any]) -> dict[str, str]:
    metric = item.get("metric") or {}
    if not isinstance(metric, dict):
        raise TypeError(f"series labels {metric!r} are not an object")
    return {str(k): str(v) for k, v in metric.items()}


def _error_detail(text: str) -> str:
    match = re.search(r'"error":\s*"([^"]*)"', text)
    return match.group(1) if match else text[:200]
