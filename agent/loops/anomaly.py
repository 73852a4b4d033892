"""The anomaly loop: configured PromQL queries, scored online, folded into incidents.

Per series (one per label set a query returns): a ``Detector`` that has seen every
point up to the last one, and an ``IncidentTracker``. Each cycle reads only the points
since the oldest last point of the series the previous read returned fresh, so a point
is scored once and a series that went away (a deleted workload, a pod) does not drag
every later read back to its last point. An incident that opens is recorded in the
ledger (an observation with its confidence and evidence) and sent to the remediation
engine as an anomaly signal, once per incident: its points after the first, worse or
not, are neither recorded nor sent again. A report that fails on a ``TransientError`` (the
ledger failing over) ends the cycle and is owed: made at the series' next read, and saved
with it, so a restart or a new leader makes it (its opening point is not read again, and
the incident is open, so nothing else would), unless the incident opened more than
``REPORT_BACKLOG`` steps ago by then (not news; the log says so).

Only points of the last ``REPORT_BACKLOG`` steps may open an incident. The first read
of a series (a new series, or one whose saved state is older than the query's
``history``) is history, and so is a catch-up (Prometheus or the daemon back after
hours): the detector learns from all of it, but an anomaly hours or days old is not
news, and a remediation must not start from it. History does keep open an incident that
is open (restored with its series, or open when Prometheus went away): the minutes read
again after a restart are the same incident going on, not quiet points that would close
it, after which the next point would open it again, as news, under another key.

Faults: a query that fails or returns stale data scores nothing that cycle (no action on
old numbers); the loop says so in its status. So does a query that returns no series at
all (a misspelt metric or label, a target that is gone): it is not an error to
Prometheus, but nothing is being watched. A change in a query's health is logged once,
not every cycle, and ``degraded`` holds why, per query. Detector and incident state is saved in
the ledger, each series every ``save_every`` cycles in turn (a share of the series each
cycle, so no cycle stalls to save all of them; a series with no new point since its last
save is not written again), at once when one of its incidents opens or closes (so that
a restart or a new leader restores the incident with it), and at a clean shutdown what
is not saved yet (bounded in time: ``save_at_shutdown``), and restored at start, so a
restart does not mean a new warm-up for every series; points since a series' last save
are read again. A restart reads a query from its restored series' last points, so a
series never saved yet (its turn not come, up to ``save_every`` cycles after a first
start or after it appeared) would lose its history there, its detector warming up
again: the first point of the query's series never saved is kept in the ledger
instead (one row per query, ``UNSAVED_KEY``, written at the end of the read before any
series of the query is saved, and only when it changes), and a restart's first read
starts there, at most ``history`` back, so it reads their history again. (Saving every
new series at the end of its first read did the same at the cost of a write per series:
at a first start, every series in one cycle.) A replica that begins to lead again drops
what it held (``forget``: it is from before another leader's turn) and restores the
series the same way. A series
restored with its incident open and reported sends that incident's signal again (the
engine's queue is in memory, and the process that sent it may have died before its
cycle), marked as a copy: the engine handles it only if no engine took it up before
(``RemediationEngine._copy_taken``). The saved
series of a query (those with a point within its ``history``) are restored before its
first read, so that read starts at their last
points instead of ``history`` ago (a week of every series at once was the daemon's
largest allocation at start). A series no fresh read has returned for ``EVICT_AFTER``
steps is saved and dropped from memory; it is restored if it comes back. A read of more
than ``READ_PIECE`` steps (a first start, or a catch-up after hours down) is done in
pieces, oldest first.

A query with ``minVolume`` (a request rate, and the least of it worth scoring on) reads
that query over the same times too. A point whose series' volume (the sum of the volume
series that carry its labels, with the same values, and maybe more, or carry none) is
under it, or unknown (no sample, a stale series, no volume series carrying its labels;
a volume query aggregated by other labels is logged once, naming both label sets), is
not scored: the detector takes it as a gap (nothing learnt), the incident tracker never
sees it (an incident neither opens nor closes on an error ratio of three requests at
night), and the gap rules do not count it as a real point. A volume read that
fails scores nothing of the query that cycle, as a failed read of the query does; how
many series are under it is then not known (the gauge has no value). The status and the
log (once each way) say when a query's series go under it.

A query's ``expectedWindows`` (recurring times its series are expected to move: a
monthly billing run, a nightly batch) are found once per read (``open_spans``). A point
inside one is scored (``Detector.score_only``: learnt as a gap, so the event does not
widen the band after it) and kept; with no points kept, as in the daemon, it is only
learnt as a gap, which leaves the detector the same without scoring a copy. The
incident tracker does not see it: it opens no incident, and one open when the window
starts neither closes nor grows on the window's points. The status and the log say
once when a window comes into force and when it ends.

Incidents are grouped per workload (the Deployment or StatefulSet a series' labels
name): an incident that opens while others are open on the same workload, or closed
within ``GROUP_WINDOW``, is recorded and signalled with them, in the order they opened
("latency_p99 spike since 10:02 UTC (peak 2.31, expected 0.42), the first to move, then
http_error_ratio spike since 10:03 UTC (this one)"), and
``autonomic_anomaly_open_series{workload}`` counts the open ones. Both are rebuilt from
the saved series state at a restart: each series saves its open incident (with what the
signal sent for it said) and its last closed one, with when and how it ended:
``recovered`` (closed after its quiet points) or ``silent`` (dropped when data came back
after ``GAP_RESETS_INCIDENT`` steps without). The remediation engine reads them before a
run an anomaly started first writes (``agent.anomaly_end``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from agent.anomaly_end import GAP_RESETS_INCIDENT, RECOVERED, SILENT
from agent.clock import Clock
from agent.decisions import DecisionService, Proposal
from agent.errors import PermanentError, TransientError
from agent.ids import short_id
from agent.ledger import Ledger
from agent.metrics_port import IngestionClock, MetricSeries, MetricsReader
from agent.observability import Metrics
from agent.routing import confidence_percent
from agent.settings import AnomalyQuery
from forecasting.anomaly import (
    Detector,
    Incident,
    IncidentTracker,
    Reason,
    StateError,
    Transition,
)
from forecasting.anomaly.breakdown import breakdown_words, rank_parts
from forecasting.anomaly.calibration import NAB as INCIDENT_CALIBRATION
from forecasting.anomaly.off_scale import (
    OFF_SCALE_AFTER,
    as_json,
    from_json,
    next_run,
    off_scale_advice,
    off_scale_confidence,
    score_value,
)
from forecasting.anomaly.off_scale import shown as value_text
from remediation.ports import ObjectRef
from remediation.promql import broken_down
from remediation.signals import Signal, anomaly_key, anomaly_signal
from remediation.windows import (
    WindowFields,
    closes_at,
    contains,
    describe,
    open_spans,
    to_utc_text,
)

__all__ = ["GAP_RESETS_INCIDENT", "AnomalyLoop", "SeriesState"]

log = logging.getLogger("autonomic.anomaly")
# Ledger key prefix of each query's ``{"from": t}``: the first point of its series in
# memory never saved (null when none), where a restart's first read starts.
UNSAVED_KEY = "anomaly-unsaved"
REWARM_AFTER_GAP = 5  # steps after a long gap before a point may open an incident
REPORT_BACKLOG = 10  # steps back from now whose points may open an incident
NO_SERIES = "the query returned no series: check its metric name and labels"
ALL_STALE = "stale data: no series has a sample newer than prometheus.staleAfter"
READ_FAILED = "the read failed"  # then ": " and what the reader raised
VOLUME_FAILED = "the minVolume read failed"  # then ": " and what the reader raised
# Prometheus has stored no sample of any series for this long, and two of a query's
# steps at least: its answers are its last values repeated (a gauge for its 5-minute
# lookback, a rate over what its window still holds), stamped as current.
FROZEN_AFTER = 30.0
FROZEN = "Prometheus has stored no new sample since"  # then when, and why it matters
EVICT_AFTER = 60  # steps without a fresh read of a series before it leaves memory
# A read longer than this many steps (a first start without saved state, a daemon or a
# Prometheus back after hours) is done in pieces of it, oldest first, so what one read
# holds stays bounded (a week of a thousand series at one minute is ~160 MB of arrays).
# Only the newest piece may open incidents and say whether the data is fresh.
READ_PIECE = 720

# Series per ledger transaction. A state is large as Python objects until it is encoded,
# so the batch bounds what a save adds to the resident set: at 1,000 workloads, batches
# of 50 added ~8 MB to the cycles' peak over batches of 10, which save as fast.
SAVE_BATCH = 10

# An incident that closed this many seconds ago or less is still named, with the open
# ones, when another opens on the same workload: a release that breaks latency then
# errors then CPU moves them minutes apart, and the first may have recovered by then.
GROUP_WINDOW = 600.0
# A workload's per-pod series can make a group of dozens: its sentence names the first
# GROUP_NAMED to move (this one last) and counts the rest; the evidence keeps GROUP_KEPT.
GROUP_NAMED = 5
GROUP_KEPT = 20

# A query's ``breakdownBy``: when an incident opens, its parts by those labels are read
# over this many steps before it opened (the baseline) and its onset since; the values
# ranked first (this many) are kept and named; at most this many breakdown reads a cycle
# (a workload's per-pod series opening together), and no ranking of a read returning more
# series than this (a label of unbounded values). The read itself is bounded by the
# reader's timeout (``prometheus.timeout``).
BREAKDOWN_BASELINE = 30
BREAKDOWN_KEPT = 3
BREAKDOWN_READS = 5
BREAKDOWN_MAX_SERIES = 100
# A breakdown read failing so (Prometheus slow or gone, not this one query) leaves the
# cycle's other breakdowns unread: each would wait up to the reader's timeout too, and
# the incidents' records and signals, and the queries after, with them.
_PROMETHEUS_UNWELL = frozenset({"PrometheusTimeout", "PrometheusDown"})


@dataclass
class SeriesState:
    detector: Detector
    tracker: IncidentTracker
    last_ts: float = float("-inf")
    last_real: float = 0.0  # time of the last finite sample
    quiet_until: float = 0.0
    seen_at: float = float("-inf")  # the last cycle a fresh read returned it (or restore)
    saved_ts: float = float("-inf")  # ``last_ts`` when last saved or restored
    first_ts: float = math.inf  # its first point read, for a series never saved
    target: ObjectRef | None = None  # the workload its labels name, if any
    # Its last incident that closed (or was dropped), as a group names it, with how it
    # ended: saved with the series, so a restart still groups a new incident with one
    # closed minutes before, and the remediation engine can tell a recovery from silence.
    closed: GroupMember | None = None
    # While an incident is open: what the signal sent for it said (labels, peak, band,
    # confidence), saved with it, so the engine can tell whether it would start a runbook
    # (``agent.anomaly_end.open_signal``). None when none is open.
    opened: dict[str, Any] | None = None
    # While the open incident's report (ledger and signal) is owed, because it failed
    # with a ``TransientError``: its opening point's score (``_report_or_owe``).
    unreported: float | None = None
    # +Inf or -Inf points running (``forecasting.anomaly.off_scale``): a finite point ends
    # the run, a NaN or one under ``minVolume`` holds it
    off_scale: int = 0
    # While an ``off_scale`` incident is open and finite values have come back: the first
    # of them after its last run off the scale (time, value, and the detector's expected
    # value and band for it, those it had learnt before the run), what the incident's
    # close says it came back to.
    back: tuple[float, float, float, float, float] | None = None
    # Whether its last point scored could not open an incident for want of a detector
    # warmed up: a new series (reason ``warming_up``) or one quiet after a long gap
    # (``REWARM_AFTER_GAP``). Not saved: the next point scored says it again.
    warming: bool = False


@dataclass(frozen=True)
class GroupMember:
    """One anomaly incident on a workload, as a group names it."""

    series: str  # the series key
    query: str
    reason: str
    since: float
    peak: float
    expected: float
    incident_key: str
    closed_at: float | None = None
    # how it ended: ``recovered`` or ``silent`` (``agent.anomaly_end``); None while open,
    # and for one saved before how was kept
    how: str | None = None

    def record(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "reason": self.reason,
            "since": self.since,
            "peak": as_json(self.peak),
            "expected": as_json(self.expected),
            "closed_at": self.closed_at,
            "how": self.how,
            "incident_key": self.incident_key,
        }


@dataclass
class LoopStatus:
    degraded: dict[str, str] = field(default_factory=dict)  # query -> why
    points_scored: int = 0
    history_points: int = 0  # scored as history (a first read, a catch-up): not reported
    incidents_opened: int = 0
    # points not scored because their series' volume was under the query's ``minVolume``
    below_volume_points: int = 0
    # query -> how many of its series are under its ``minVolume`` at their newest point
    # (absent: none is, or the query has no gate; "not known: ..." while nothing of the
    # query is read, a read failing, and then absent from ``below_volume_series``)
    below_volume: dict[str, str] = field(default_factory=dict)
    below_volume_series: dict[str, int] = field(default_factory=dict)  # the same, counted
    # points inside one of their query's ``expectedWindows``: scored, not learnt from,
    # and not shown to the incident tracker
    expected_points: int = 0
    # query -> the expected windows in force at the last cycle, and what that means
    expected: dict[str, str] = field(default_factory=dict)
    series: int = 0  # series with a detector, after the last cycle
    # query -> its series in memory whose last point scored was warming up (a new
    # detector, or quiet after a gap), after the last cycle; 0 for a query with none
    warming: dict[str, int] = field(default_factory=dict)
    contexts: int = 0  # contexts their contextual detectors hold, summed


def target_of(labels: dict[str, str]) -> ObjectRef | None:
    namespace = labels.get("namespace")
    for label, kind in (("deployment", "Deployment"), ("statefulset", "StatefulSet")):
        if namespace and labels.get(label):
            return ObjectRef(kind, labels[label], namespace)  # type: ignore[arg-type]
    return None


def series_key(query: AnomalyQuery, labels: dict[str, str]) -> str:
    inner = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return f"{query.name}{{{inner}}}"


class AnomalyLoop:
    def __init__(
        self,
        queries: Sequence[AnomalyQuery],
        *,
        reader: MetricsReader,
        ledger: Ledger,
        decisions: DecisionService,
        submit: Callable[[Sequence[Signal]], None],
        clock: Clock,
        save_every: int = 10,
        metrics: Metrics | None = None,
    ) -> None:
        self.queries = list(queries)
        self.reader = reader
        self.ledger = ledger
        self.decisions = decisions
        self.submit = submit
        self.clock = clock
        self.save_every = save_every
        self.metrics = metrics
        self.series: dict[str, SeriesState] = {}
        self.status = LoopStatus()
        self.points: dict[str, list[tuple[float, float, float, float, float, str]]] = {}
        self.keep_points = False  # the simulation keeps scored points for its report
        self._cycles = 0
        self._save_next = 0  # round-robin position of the next series to save
        self._save_owed = 0  # series owed a save, in units of 1 / save_every
        self._live: dict[str, set[str]] = {}  # query -> series its last fresh read returned
        self._loaded: set[str] = set()  # queries whose saved series were restored
        self._said: dict[str, str | None] = {}  # query -> the health last logged
        self._said_volume: dict[str, bool] = {}  # query -> below its minVolume, as logged
        self._said_labels: dict[str, str | None] = {}  # query -> volume labels wrong, as logged
        self._cycling = threading.Lock()  # held by a cycle; a shutdown save waits for none
        # Incidents closed within GROUP_WINDOW, per workload (those open are in the series'
        # trackers); and the workloads the open-series gauge has a value for.
        self._closed: dict[ObjectRef, list[GroupMember]] = {}
        self._by_target: dict[ObjectRef, set[str]] = {}  # workload -> its series in memory
        self._published: set[str] = set()
        # Series whose incident opened or closed this cycle: saved at once, not at their
        # turn up to ``save_every`` cycles later (``_save_changed``).
        self._changed: set[str] = set()
        # query -> the first point of its series never saved, as the ledger holds it
        # (``UNSAVED_KEY``; None: none), and that row's version.
        self._unsaved: dict[str, tuple[float | None, int]] = {}
        # Series whose scoring raised (``_failed``), with the error last logged.
        self._failing: dict[str, str] = {}
        self._breakdowns = 0  # breakdown reads this cycle (``BREAKDOWN_READS``)
        # Why Prometheus failed a breakdown read this cycle (timed out, down), if it did:
        # the cycle's other breakdowns are not read, each of which would wait as long.
        self._breakdown_failed: str | None = None
        # Each query's ``expectedWindows`` as ``remediation.windows`` evaluates them, and
        # those in force at the last cycle (by position), as the log last said.
        self._windows: dict[str, list[WindowFields]] = {
            q.name: [w.window() for w in q.expected_windows] for q in self.queries
        }
        self._in_force: dict[str, set[int]] = {}

    def forget(self) -> None:
        """Drop what memory holds of the series, so that the next cycle restores them from
        the ledger, as at a start. For a replica that begins to lead again: its memory is
        from before another leader's turn (an incident that one opened or closed is not in
        it), and the ledger holds what that leader saved."""
        with self._cycling:
            self.series.clear()
            self._live.clear()
            self._loaded.clear()
            self._closed.clear()
            self._by_target.clear()
            self._changed.clear()
            self._unsaved.clear()
            self._failing.clear()
            self._save_next = self._save_owed = 0

    def cycle(self) -> None:
        with self._cycling:
            self._cycle()

    def _cycle(self) -> None:
        now = self.clock.now()
        self._breakdowns = 0
        self._breakdown_failed = None
        for query in self.queries:
            # Every query's saved series before any read: an incident opening on the first
            # read of one query is grouped with those open on another's series.
            if query.name not in self._loaded:
                self._restore_saved(query, now)
                self._loaded.add(query.name)
        stored = self._newest_sample()
        for query in self.queries:
            self._say_expected(query, now)
            if stored is not None and now - stored > max(2 * query.step, FROZEN_AFTER):
                # Its scrapes or remote writes stopped: every read would answer each
                # series' last value again, stamped now, and scoring those as new points
                # could open an incident, or close one, on old numbers. Nothing is read
                # until it stores again; the points since are read then.
                self.status.degraded[query.name] = (
                    f"{FROZEN} {to_utc_text(stored)} (its scrapes or remote writes have stopped), "
                    "so its answers are old numbers: nothing is scored until it stores again"
                )
                self._volume_unknown(query)
                self._say_health(query.name)
                continue
            start = self._start(query, now)
            if start > now + 2 * query.step:
                # Points were read up to a time the clock has not reached: it was stepped
                # back (corrected after running ahead). Nothing is read until it passes
                # them again; say so rather than go quiet.
                self.status.degraded[query.name] = (
                    f"the last points read are {start - query.step - now:.0f} s ahead of the "
                    "daemon's clock (was it stepped back?): nothing is read until it passes them"
                )
                self._volume_unknown(query)
                self._say_health(query.name)
                continue
            if start > now:
                continue  # nothing new since the last cycle
            fresh: set[str] = set()
            pieces = math.ceil((math.floor((now - start) / query.step) + 1) / READ_PIECE)
            piece, number = start, 0
            while True:
                end = min(now, piece + (READ_PIECE - 1) * query.step)
                newest = end >= now
                number += 1
                if pieces > 1:
                    log.info(
                        "anomaly query %s: reading %.1f h back, piece %d of %d",
                        query.name,
                        (now - piece) / 3600,
                        number,
                        pieces,
                    )
                try:
                    found = self.reader.range(query.expr, piece, end, query.step, now)
                except (TransientError, PermanentError) as exc:
                    self.status.degraded[query.name] = f"{READ_FAILED}: {exc}"
                    self._volume_unknown(query)
                    break
                volume: list[MetricSeries] | None = None
                if query.min_volume is not None:
                    # Read over the same times: a point is scored only if its series'
                    # volume at that time is known and enough. A failed read scores
                    # nothing (the points are read again next cycle), as above.
                    try:
                        volume = self.reader.range(
                            query.min_volume.query, piece, end, query.step, now
                        )
                    except (TransientError, PermanentError) as exc:
                        self.status.degraded[query.name] = f"{VOLUME_FAILED}: {exc}"
                        self._volume_unknown(query)
                        break
                    if newest:  # a stale volume series is old numbers: no volume known
                        volume = [v for v in volume if v.usable]
                # Indexed once per read: matched series by series, 1,000 series against
                # 1,000 volume series took 2 s a cycle.
                gates = None if volume is None else _VolumeIndex(volume)
                # When the query's expected windows are open over this read, found once
                # for all its series.
                expected = [
                    span
                    for window in self._windows.get(query.name, ())
                    for span in open_spans(window, piece, end)
                ]
                below, watched = 0, 0  # series scored, and under the gate at their last point
                carried: set[tuple[str, ...]] = set()  # the label names of the series scored
                if newest:
                    self.status.degraded.pop(query.name, None)
                    if not found:
                        self.status.degraded[query.name] = NO_SERIES
                    elif not any(metric.off_scale_usable for metric in found):
                        self.status.degraded[query.name] = ALL_STALE
                for metric in found:
                    if not metric.off_scale_usable and newest:
                        # A series gone (a deleted pod) or not fresh: not scored. One whose
                        # samples are +-Inf is fresh: Prometheus answers, off the scale.
                        continue
                    gate = None if gates is None else _volume_of(metric, gates)
                    try:
                        scored = self._score(
                            query, metric, now, report=newest, gate=gate, expected=expected
                        )
                    except TransientError:
                        raise
                    except Exception as exc:
                        # Not counted in ``fresh``: the next read starts after the other
                        # series' points, not back at this one's, every cycle.
                        self._failed(query, metric, exc)
                        continue
                    fresh.add(scored)
                    if self._failing:
                        self._failing.pop(scored, None)  # scored again: news if it fails
                    watched += 1
                    below += gate is not None and not _enough(gate, query)[-1:].all()
                    if gates is not None and newest:
                        carried.add(tuple(sorted(k for k in metric.labels if k != "__name__")))
                if gates is not None and newest:
                    self._say_volume(query, below, watched)
                    self._say_labels(query, gates, carried)
                del found, volume, gates
                if newest:
                    break
                piece = end + query.step
            self._mark_unsaved(query)  # before any series of the query is saved
            self._save_changed()
            if fresh:
                self._live[query.name] = fresh
                self._evict(query, now)
            self._say_health(query.name)
        self._cycles += 1
        self._save_share()
        for query in self.queries:
            self._mark_unsaved(query)
        self.status.series = len(self.series)
        self.status.warming = self._warming()
        self.status.contexts = sum(s.detector.context_size for s in self.series.values())
        self._forget_closed(now)
        self._publish_open(now)

    def _warming(self) -> dict[str, int]:
        """Per query, its series in memory whose last point scored was warming up."""
        counts = dict.fromkeys((query.name for query in self.queries), 0)
        for key, state in self.series.items():
            if state.warming:
                name = key.partition("{")[0]
                counts[name] = counts.get(name, 0) + 1
        return counts

    def _newest_sample(self) -> float | None:
        """When Prometheus last stored a sample, of any series (``IngestionClock``); None
        when the reader cannot tell (the simulation's store) or it cannot be read."""
        if not isinstance(self.reader, IngestionClock):
            return None
        return self.reader.newest_sample()

    def _failed(self, query: AnomalyQuery, metric: MetricSeries, exc: Exception) -> None:
        """Scoring one series raised an error that is not a ``TransientError`` (a bug, a
        point the detector cannot take): counted in ``autonomic_errors_total{kind=
        "Unexpected"}``, logged with its traceback when its error is new, and the other
        series go on; before, it ended the cycle at every cycle, and no series read
        after it was scored. Scored again from the next read on; what it kept stays."""
        key = series_key(query, metric.labels)
        error = f"{type(exc).__name__}: {exc}"
        if self.metrics is not None:
            self.metrics.errors.labels(kind="Unexpected").inc()
        if self._failing.get(key) == error:
            return
        self._failing[key] = error
        log.error(
            "anomaly series %s could not be scored: %s; scored again from the next read "
            "(the other series go on)",
            key,
            error,
            exc_info=exc,
        )

    def _say_health(self, name: str) -> None:
        """Log a query's health when it changes: once when it goes bad (and again if the
        reason changes), once when it comes back. A read failing is one reason, whatever
        the error's words (Prometheus restarting is refused, then timed out, by turns):
        the reader's own log tells the outage, with its summaries."""
        why = self.status.degraded.get(name)
        kind = why
        for failed in (READ_FAILED, VOLUME_FAILED):
            if why is not None and why.startswith(failed + ":"):
                kind = failed
        if self._said.get(name) == kind:
            return
        if why is not None:
            log.warning("anomaly query %s: nothing scored: %s", name, why)
        elif name in self._said:
            log.info("anomaly query %s: scoring again", name)
        self._said[name] = kind

    def _say_expected(self, query: AnomalyQuery, now: float) -> None:
        """Hold in the status which of ``query``'s ``expectedWindows`` are in force now,
        and log once when each comes into force and once when it ends, not every cycle."""
        windows = self._windows.get(query.name, [])
        if not windows:
            return
        now_in = {number for number, window in enumerate(windows) if contains(window, now)}
        said = self._in_force.get(query.name, set())
        for number in sorted(now_in - said):
            closes = closes_at(windows[number], now)
            log.info(
                "anomaly query %s: expected window %s in force until %s: its points are "
                "scored but not learnt from, and open no incident (one open stays open)",
                query.name,
                describe(windows[number]),
                "further than 8 days" if closes is None else to_utc_text(closes),
            )
        for number in sorted(said - now_in):
            log.info(
                "anomaly query %s: expected window %s over: its points are learnt from and "
                "may open incidents again",
                query.name,
                describe(windows[number]),
            )
        self._in_force[query.name] = now_in
        if now_in:
            self.status.expected[query.name] = (
                "expected window "
                + ", ".join(describe(windows[number]) for number in sorted(now_in))
                + " in force: points scored, not learnt from, opening no incident"
            )
        else:
            self.status.expected.pop(query.name, None)

    def _say_volume(self, query: AnomalyQuery, below: int, of: int) -> None:
        """Hold in the status how many of ``query``'s series are under its
        ``minVolume`` at their newest point, and log when the query goes under it (some
        series are) and back (none is), once each way, not every cycle."""
        assert query.min_volume is not None
        self.status.below_volume_series[query.name] = below
        if self.metrics is not None:
            self.metrics.anomaly_series_below_volume.labels(query.name).set(below)
        if below:
            self.status.below_volume[query.name] = (
                f"{below} of {of} series below minVolume (volume under "
                f"{query.min_volume.at_least:g}, or none read): their points are not scored"
            )
        else:
            self.status.below_volume.pop(query.name, None)
        if self._said_volume.get(query.name, False) == bool(below):
            return
        if below:
            log.info(
                "anomaly query %s: %s (%s); an open incident neither opens nor closes on them",
                query.name,
                self.status.below_volume[query.name],
                query.min_volume.query,
            )
        else:
            log.info("anomaly query %s: every series at its minVolume again", query.name)
        self._said_volume[query.name] = bool(below)

    def _volume_unknown(self, query: AnomalyQuery) -> None:
        """Nothing of ``query`` was read this cycle (a read failed, Prometheus is frozen,
        the clock went back): how many of its series are under its ``minVolume`` is not
        known, so the count leaves the status and the gauge rather than stay at the
        last cycle's number next to the note that nothing is scored."""
        if query.min_volume is None:
            return
        self.status.below_volume_series.pop(query.name, None)
        self.status.below_volume[query.name] = (
            "not known: nothing read this cycle (see why the query is not scoring)"
        )
        if self.metrics is not None:
            with contextlib.suppress(KeyError):
                self.metrics.anomaly_series_below_volume.remove(query.name)

    def _say_labels(
        self, query: AnomalyQuery, gates: _VolumeIndex, carried: set[tuple[str, ...]]
    ) -> None:
        """Log once (again only if what it says changes) when some of ``query``'s
        ``minVolume`` series can gate none of its series: they carry labels, but lack
        one the series carry (the volume query is aggregated by the wrong labels), so
        those series have no volume and are not scored."""
        wrong = sorted(
            (names, mine)
            for names in gates.names()
            for mine in carried
            if names and not set(mine) <= set(names)
        )
        said = None
        if wrong:
            names, mine = wrong[0]
            said = (
                f"minVolume series labelled ({', '.join(names)}) cannot gate its series "
                f"labelled ({', '.join(mine)}): they lack "
                f"{', '.join(sorted(set(mine) - set(names)))}"
            )
        if self._said_labels.get(query.name) == said:
            return
        if said is not None and query.min_volume is not None:
            log.warning(
                "anomaly query %s: %s; those series have no volume, and their points are not "
                "scored: aggregate %s by at least the labels of its series",
                query.name,
                said,
                query.min_volume.query,
            )
        self._said_labels[query.name] = said

    def _start(self, query: AnomalyQuery, now: float) -> float:
        """Where this cycle's read of ``query`` starts: after the oldest last point of the
        series its previous fresh read returned (before any, of those restored, or at the
        first point of its series never saved, ``UNSAVED_KEY``), at most ``history``
        back."""
        live = self._live.get(query.name)
        unsaved = None
        if live is None:
            prefix = query.name + "{"
            seen = [s.last_ts for k, s in self.series.items() if k.startswith(prefix)]
            unsaved = self._unsaved.get(query.name, (None, 0))[0]
        else:
            seen = [self.series[k].last_ts for k in live if k in self.series]
        oldest = now - query.history
        start = min(seen) + query.step if seen and min(seen) > oldest else oldest
        if unsaved is not None:
            start = max(min(start, unsaved), oldest)
        return start

    def _mark_unsaved(self, query: AnomalyQuery) -> None:
        """Keep in the ledger the first point of ``query``'s series never saved (None:
        none), where a restart's first read must start to read their history again;
        written only when it changes. A write that loses to another writer's is read
        back, and tried again at the next call."""
        prefix = query.name + "{"
        first = min(
            (
                s.first_ts
                for k, s in self.series.items()
                if s.saved_ts == -math.inf and k.startswith(prefix)
            ),
            default=math.inf,
        )
        value = first if math.isfinite(first) else None
        held, version = self._unsaved.get(query.name, (None, 0))
        if value == held:
            return
        key = f"{UNSAVED_KEY}/{query.name}"
        if self.ledger.put_guard(key, {"from": value}, version, self.clock.now()):
            self._unsaved[query.name] = (value, version + 1)
        else:
            self._unsaved[query.name] = self._read_unsaved(query)

    def _read_unsaved(self, query: AnomalyQuery) -> tuple[float | None, int]:
        saved, version = self.ledger.guard(f"{UNSAVED_KEY}/{query.name}")
        try:
            since = saved.get("from")
            return (None if since is None else float(since)), version
        except (TypeError, ValueError, AttributeError) as exc:
            log.warning("%s/%s unusable (%s): ignored", UNSAVED_KEY, query.name, exc)
            return None, version

    def _restore_saved(self, query: AnomalyQuery, now: float) -> None:
        """Every series of ``query`` saved in the ledger with a point within its
        ``history``, back in memory before the first read, so that read starts where they
        stopped. One saved earlier (a pod long gone) stays in the ledger, restored only
        if it comes back: it would hold memory for nothing, and drag the first read of
        every series a whole ``history`` back."""
        self._unsaved[query.name] = self._read_unsaved(query)
        prefix = f"anomaly/{query.name}{{"
        keys = self.ledger.guard_keys(prefix)
        restored = 0
        resent: list[Signal] = []
        for number, ledger_key in enumerate(keys, 1):
            key = ledger_key.removeprefix("anomaly/")
            if key in self.series:
                continue
            state = self._restore(key, since=now - query.history)
            if state is not None:
                state.seen_at = now
                self._keep(key, state)
                restored += 1
                again = self._signal_again(query, key, state, now)
                if again is not None:
                    resent.append(again)
            if number % 1000 == 0:
                log.info(
                    "anomaly query %s: restoring saved series, %d of %d",
                    query.name,
                    number,
                    len(keys),
                )
        if keys:
            log.info("anomaly query %s: %d saved series restored", query.name, restored)
        if resent:
            log.info(
                "anomaly query %s: the signals of %d open incidents sent again to the "
                "runbooks (the engine does not decide twice on one incident)",
                query.name,
                len(resent),
            )
            self.submit(resent)

    def _signal_again(
        self, query: AnomalyQuery, key: str, state: SeriesState, now: float
    ) -> Signal | None:
        """The signal of the incident open on a restored series, as it was sent, or None:
        none open, its report still owed (made at the next read), or its series silent
        for ``GAP_RESETS_INCIDENT`` steps (its next point drops it). A signal sent lives
        in the engine's memory until its cycle takes it up: a process that died between
        the two (after the series was saved, incident reported) lost it, and nothing
        else sends it (the incident is open: its points are not news)."""
        incident, sent = state.tracker.current, state.opened
        if incident is None or sent is None or state.unreported is not None:
            return None
        if now - state.last_real > GAP_RESETS_INCIDENT * query.step:
            return None
        breakdown, moved = _recorded_breakdown(sent)
        try:
            return anomaly_signal(
                metric=query.name,
                target=state.target,
                observed=float(sent["observed"]),
                lower=float(sent["lower"]),
                upper=float(sent["upper"]),
                score=float(sent.get("score", 0.0)),  # absent before it was kept
                confidence=float(sent["confidence"]),
                at=incident.opened_at,
                labels={str(k): str(v) for k, v in (sent.get("labels") or {}).items()},
                incident_start=incident.opened_at,
                series=key,
                resent=True,
                breakdown=breakdown,
                breakdown_summary=moved or None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("anomaly series %s: its open incident's signal unreadable (%s)", key, exc)
            return None

    def _evict(self, query: AnomalyQuery, now: float) -> None:
        """Save and drop the series of ``query`` that its fresh reads have not returned
        for ``EVICT_AFTER`` steps. Called after a fresh read only: while Prometheus is
        down or stale, nothing leaves memory."""
        prefix, limit = query.name + "{", now - EVICT_AFTER * query.step
        gone = [
            (key, state)
            for key, state in self.series.items()
            if state.seen_at < limit and key.startswith(prefix)
        ]
        if not gone:
            return
        self._save_items(gone)
        dropped = 0
        for key, state in gone:
            if state.saved_ts != state.last_ts:
                continue  # not saved (another writer's version won): kept, tried again later
            del self.series[key]
            self._watch(key, state, None)
            self._save_next = max(self._save_next - 1, 0)
            dropped += 1
        log.info("%d series gone from their queries' reads: saved and dropped", dropped)

    def _state_for(self, key: str, step: float) -> SeriesState:
        state = self.series.get(key)
        if state is None:
            state = self._restore(key) or SeriesState(Detector(step), IncidentTracker())
            self._keep(key, state)
        return state

    def _keep(self, key: str, state: SeriesState) -> None:
        self.series[key] = state
        if state.target is not None:  # saved with it
            self._by_target.setdefault(state.target, set()).add(key)
            closed = self._closed.setdefault(state.target, [])
            if state.closed is not None and state.closed not in closed:
                closed.append(state.closed)  # ``_forget_closed`` drops it if too old

    def _save_changed(self) -> None:
        """Save the series whose incident opened or closed: a restart, or a new leader,
        restores them with it, instead of a state from before it opened (the points since
        read again, and those older than ``REPORT_BACKLOG`` steps taken as history, the
        incident would open again later, as news, under another key)."""
        if not self._changed:
            return
        changed = [(k, self.series[k]) for k in sorted(self._changed) if k in self.series]
        self._changed.clear()
        self._save_items(changed)

    def _score(
        self,
        query: AnomalyQuery,
        metric: MetricSeries,
        now: float,
        *,
        report: bool = True,
        gate: np.ndarray[Any, np.dtype[np.float64]] | None = None,
        expected: Sequence[tuple[float, float]] = (),
    ) -> str:
        """Score the new points of one series; its key. Points of the last
        ``REPORT_BACKLOG`` steps may open incidents; with ``report`` False (an older
        piece of a long read) none may. ``gate``: the series' volume at each point
        (NaN: none read), with the query's ``minVolume``; a point under it is a gap to
        the detector (not learnt from) and to the incident tracker (neither opens nor
        closes one), and is not a real point for the gap rules. ``expected``: the spans
        (open, close) of the query's ``expectedWindows``; a point inside one is scored
        (``Detector.score_only``: the band after it is the one learnt without it; when
        no points are kept, only learnt as a gap, which leaves the same detector) and
        kept with the others, but the incident tracker does not see it: no incident
        opens on it, and one open before the window neither closes nor takes it as its
        peak. It is a real point for the gap rules (data is coming)."""
        key = series_key(query, metric.labels)
        state = self._state_for(key, query.step)
        state.seen_at = now
        ts, values = metric.series.timestamps, metric.series.values
        if state.saved_ts == -math.inf and ts.size:  # never saved: its first point read
            state.first_ts = min(state.first_ts, float(ts[0]))
        if metric.infinite:  # the read's +-Inf, NaN in its series: off the scale, not gaps
            values = values.copy()
            for at, value in metric.infinite:
                values[at] = value
        new = ts > state.last_ts
        # Older points (a first read's history, a catch-up's backlog) are not news.
        report_from = now - REPORT_BACKLOG * query.step if report else float("inf")
        target = target_of(metric.labels)
        if state.target != target:  # a new series, or one saved before targets were
            self._watch(key, state, target)
        owed, score = state.tracker.current, state.unreported
        if owed is not None and score is not None:  # its report failed (ledger down)
            if report and owed.opened_at >= now - REPORT_BACKLOG * query.step:
                self._report_or_owe(query, key, state, metric.labels, target, owed, score)
            else:  # too old to be news, as a point of history would be
                self._changed.add(key)  # saved with nothing owed
                log.warning(
                    "anomaly series %s: its incident opened at %s is not reported: the "
                    "ledger failed then, and it is more than %d steps old now",
                    key,
                    to_utc_text(owed.opened_at),
                    REPORT_BACKLOG,
                )
        state.unreported = None
        enough = None if gate is None else _enough(gate, query)[new]
        inside = None
        if expected:
            inside = np.zeros(int(new.sum()), dtype=bool)
            for opens, closes in expected:
                inside |= (ts[new] >= opens) & (ts[new] < closes)
        for i, (t, v) in enumerate(zip(ts[new], values[new], strict=True)):
            if enough is not None and not enough[i]:
                state.detector.update(float(t), math.nan)  # a gap: nothing learnt
                state.last_ts = float(t)
                self.status.below_volume_points += 1
                continue
            off_scale = bool(np.isinf(v))
            was_off = state.off_scale > 0
            state.off_scale = next_run(state.off_scale, float(v))
            if np.isfinite(v) or off_scale:  # an infinite value is data, not silence
                if t - state.last_real > GAP_RESETS_INCIDENT * query.step and state.last_real > 0:
                    # After a long silence an open incident's state is unknown: close the
                    # book on it rather than file whatever comes next under it, and let the
                    # detector see a few points before the first after the gap can alarm.
                    dropped = state.tracker.current
                    if dropped is not None:
                        self._closing(query.name, key, state, dropped, state.last_real, SILENT)
                    state.tracker = IncidentTracker()
                    state.quiet_until = float(t) + REWARM_AFTER_GAP * query.step
                    # Nor does a run of values off the scale go on across it: this point
                    # is the first of a new run, if it is off the scale itself.
                    state.off_scale = int(off_scale)
                state.last_real = float(t)
            # An infinite value is not learnt from; the incident tracker sees it, with the
            # detector's band, as a point off the scale (``forecasting.anomaly.off_scale``).
            in_window = inside is not None and bool(inside[i])
            if in_window and np.isfinite(v) and self.keep_points:
                point = state.detector.score_only(float(t), float(v))
            elif in_window and np.isfinite(v):
                # Its score is read by nothing (the tracker does not see it, no point is
                # kept): the gap alone, the detector left as ``score_only`` leaves it and
                # the band the same, without its copy (a copy per point took minutes at a
                # first start of 1,000 series with a nightly window in their history).
                point = replace(state.detector.update(float(t), math.nan), observed=float(v))
            else:
                point = score_value(state.detector, float(t), float(v), state.off_scale)
            state.last_ts = float(t)
            current = state.tracker.current
            if off_scale:  # off the scale again: what came back before is not the last word
                state.back = None
            elif (
                was_off
                and np.isfinite(v)
                and state.back is None
                and current is not None
                and current.reason == Reason.OFF_SCALE
            ):
                state.back = (float(t), float(v), point.expected, point.lower, point.upper)
            self.status.points_scored += 1
            if self.keep_points:
                self.points.setdefault(key, []).append(
                    (
                        point.timestamp,
                        point.observed,
                        point.expected,
                        point.lower,
                        point.upper,
                        point.reason.value if point.confidence >= 0.99 else "",
                    )
                )
            if in_window:
                # An expected event: scored and kept, but neither news nor quiet.
                self.status.expected_points += 1
                continue
            history = t < report_from
            self.status.history_points += history
            # A point of history opens no incident, but it keeps one open that is: read
            # again after a restart, or by a new leader, the minutes the daemon was down
            # are the same incident going on, not quiet ones that would close it (and the
            # next point would open it again, as news, under another key).
            opening = state.tracker.current is None
            not_news = history and opening
            # The score opens an incident, not the band test alone (the score is what the
            # benchmark validated). It does not say whether one open goes on: the
            # detector damps the points after the one that fired, however far out they
            # stay. An open incident is kept by its points outside the expected band (or
            # scoring the threshold), and closes after ``close_after`` points in a row
            # back inside it: ``recovered`` means what it says.
            out = not point.lower <= point.observed <= point.upper
            low = point.score < query.threshold and (opening or not out)
            # The warm-up after a long gap is the detector's; a value off the scale needs no
            # learnt baseline to be news.
            warming = t < state.quiet_until and not off_scale
            state.warming = warming or point.reason == Reason.WARMING_UP
            if low or warming or not_news:
                quiet = min(point.confidence, state.tracker.keep_confidence * 0.999)
                point = replace(point, confidence=quiet)
            event = state.tracker.observe(point)
            if event is not None and event.transition == Transition.CLOSE:
                self._closing(query.name, key, state, event.incident, float(t), RECOVERED)
            if event is None or event.transition != Transition.OPEN:
                continue
            self._report_or_owe(
                query, key, state, metric.labels, target, event.incident, point.score
            )
        return key

    def _report_or_owe(
        self,
        query: AnomalyQuery,
        key: str,
        state: SeriesState,
        labels: dict[str, str],
        target: ObjectRef | None,
        incident: Incident,
        score: float,
    ) -> None:
        """Report an incident that opened (``_report``). If that fails with a
        ``TransientError`` (the ledger failing over), the report is owed
        (``SeriesState.unreported``, saved with the series) and made at the series' next
        read: its opening point is not read again, and the tracker holds it open, so
        nothing else would report it. The series is saved at the end of its query's read
        (``_save_changed``), with its incident and what was sent for it, or what is owed."""
        self._changed.add(key)
        state.unreported = None
        try:
            self._report(query, key, state, labels, target, incident, score)
        except TransientError:
            state.unreported = score
            raise

    def _report(
        self,
        query: AnomalyQuery,
        key: str,
        state: SeriesState,
        labels: dict[str, str],
        target: ObjectRef | None,
        incident: Incident,
        score: float,
    ) -> None:
        """Record an incident that opened on series ``key`` in the ledger, with its
        group, and send its signal to the remediation engine; ``score`` is its opening
        point's."""
        # A restarted daemon (or a new leader) reads again the points since the
        # series' last save: an incident opened among them is in the ledger already.
        # It is sent on again (remediation finds its decision by the same key and
        # does not decide twice), but not recorded or counted twice, nor grouped (so
        # are the series of a workload's other pods that open in the same step).
        known = self.ledger.latest_for_incident(
            anomaly_key(query.name, target, labels, incident.opened_at)
        )
        group, summary = (
            ([], None)
            if known is not None
            else self._group(query.name, key, target, incident, incident.opened_at)
        )
        off_scale = math.isinf(incident.peak_observed)
        breakdown: dict[str, Any] | None = None
        moved = ""
        if query.breakdown_by and known is None:
            breakdown, moved = self._breakdown(query, labels, incident)
        elif query.breakdown_by and known is not None:
            # sent again: the breakdown recorded when it opened, not read again
            breakdown, moved = _recorded_breakdown(known.evidence)
        signal = anomaly_signal(
            metric=query.name,
            target=target,
            observed=incident.peak_observed,
            lower=incident.peak_lower,
            upper=incident.peak_upper,
            score=score,
            # the share of incidents opened at this score that were real (on NAB's
            # labelled files), not the detector's 1 - tail, which is 0.9999 or more
            # for every incident, real or not; a value off the scale has no score to
            # map, and a fixed confidence per side (``forecasting.anomaly.off_scale``)
            confidence=off_scale_confidence(incident.peak_observed)
            if off_scale
            else INCIDENT_CALIBRATION.probability(score),
            at=incident.opened_at,
            labels=labels,
            incident_start=incident.opened_at,
            group=[member.record() for member in group],
            group_summary=summary,
            series=key,
            resent=known is not None,
            breakdown=breakdown,
            breakdown_summary=moved or None,
        )
        state.opened = {
            "labels": dict(labels),
            "observed": signal.evidence["observed"],
            "lower": signal.evidence["lower"],
            "upper": signal.evidence["upper"],
            "confidence": signal.confidence,
            "score": score,
            # for a copy of the signal sent after a restart (``_signal_again``)
            **({"breakdown": breakdown} if breakdown is not None else {}),
        }
        if known is not None:
            self.submit([signal])
            return
        shown = _figures(
            incident.peak_observed,
            incident.peak_expected,
            incident.peak_lower,
            incident.peak_upper,
        )
        numbers = f"observed {shown[0]}, expected {shown[1]} (band {shown[2]} to {shown[3]})"
        if off_scale:
            numbers = _off_scale_words(incident, shown)
        observed = self.decisions.observe(
            Proposal(
                kind="anomaly",
                decision_type=f"anomaly/{query.name}",
                subject=str(target) if target else key,
                proposal={"incident": incident.number, "reason": incident.reason.value},
                signal_confidence=signal.confidence,
                reason_code=f"Anomaly{incident.reason.value.title().replace('_', '')}",
                reason=f"{query.name} {incident.reason.value}: {numbers}"
                + (f"; {moved}" if moved else "")
                + (f"; {summary}" if summary else ""),
                evidence={
                    "query": query.expr,
                    "labels": labels,
                    "observed": as_json(incident.peak_observed),
                    "expected": as_json(incident.peak_expected),
                    "band": [as_json(incident.peak_lower), as_json(incident.peak_upper)],
                    "score": score,
                    # the detector's own, 1 - tail: how rare the point is for its series
                    "statistical_confidence": incident.peak_confidence,
                    **({"group": [member.record() for member in group]} if summary else {}),
                    **({"breakdown": breakdown} if breakdown is not None else {}),
                },
                model_version="anomaly-detector/2",  # 2: confidence mapped (calibration)
                incident_key=signal.dedup_key,
            )
        )
        self.status.incidents_opened += 1
        log.info(
            "anomaly %s on %s: %s, %s, confidence %.0f%% (%s); recorded as %s, sent to the "
            "runbooks",
            query.name,
            target if target else key,
            incident.reason.value.replace("_", " "),
            numbers,
            100 * signal.confidence,
            "fixed for a value off the scale"
            if off_scale
            else "calibrated; statistical " + confidence_percent(incident.peak_confidence, 0.9999),
            short_id(observed),
        )
        self.submit([signal])

    def _breakdown(
        self, query: AnomalyQuery, labels: dict[str, str], incident: Incident
    ) -> tuple[dict[str, Any], str]:
        """The label values (``query.breakdown_by``) that carry ``incident``'s movement,
        for its evidence, and in words ("mostly pod web-7f9 (82 %)"; "" when none is
        ranked). One range read of the query's sum broken down by them, kept to this
        series (``remediation.promql.broken_down``), over ``BREAKDOWN_BASELINE`` steps
        before the incident opened and its onset since; at most ``BREAKDOWN_READS`` a
        cycle. Whatever goes wrong (the read failing or timing out, too many values) is
        noted in the evidence: the incident is reported all the same."""
        step = query.step
        onset_from = incident.opened_at
        baseline_from = onset_from - BREAKDOWN_BASELINE * step
        evidence: dict[str, Any] = {
            "by": list(query.breakdown_by),
            "baseline_from": baseline_from,
            "onset_from": onset_from,
        }
        if self._breakdowns >= BREAKDOWN_READS:
            evidence["unread"] = (
                f"not read: {BREAKDOWN_READS} breakdowns were read this cycle already"
            )
            return evidence, ""
        if self._breakdown_failed is not None:
            evidence["unread"] = (
                f"not read: a breakdown read failed this cycle already ({self._breakdown_failed})"
            )
            return evidence, ""
        self._breakdowns += 1
        now = self.clock.now()
        up = (
            incident.peak_observed > 0
            if math.isinf(incident.peak_observed) or not math.isfinite(incident.peak_expected)
            else incident.peak_observed >= incident.peak_expected
        )
        try:
            expr = broken_down(query.expr, query.breakdown_by, labels)
            found = self.reader.range(expr, baseline_from, max(now, onset_from), step, now)
        except Exception as exc:  # whatever it is, the incident is reported without it
            evidence["unread"] = f"the breakdown read failed: {type(exc).__name__}: {exc}"
            if isinstance(exc, TransientError) and exc.reason in _PROMETHEUS_UNWELL:
                self._breakdown_failed = str(exc)
            log.warning(
                "anomaly %s: the breakdown by %s of %s could not be read (%s); the incident "
                "is reported without it",
                query.name,
                ", ".join(query.breakdown_by),
                series_key(query, labels),
                exc,
            )
            return evidence, ""
        if len(found) > BREAKDOWN_MAX_SERIES:
            evidence["unread"] = (
                f"not ranked: {len(found)} combinations of {', '.join(query.breakdown_by)}, "
                f"more than {BREAKDOWN_MAX_SERIES}"
            )
            return evidence, ""
        ranked: dict[str, list[dict[str, Any]]] = {}
        words: list[str] = []
        if found:
            stamps = found[0].series.timestamps
            parts = [
                (metric.labels, metric.series.values)
                for metric in found
                if len(metric.series.timestamps) == len(stamps)
            ]
            for label in query.breakdown_by:
                order = rank_parts(
                    stamps,
                    parts,
                    label,
                    baseline_from=baseline_from,
                    onset_from=onset_from,
                    up=up,
                )
                ranked[label] = [part.record() for part in order[:BREAKDOWN_KEPT]]
                said = breakdown_words(order, BREAKDOWN_KEPT)
                if said:
                    words.append(said)
        evidence["ranked"] = ranked
        evidence["series_read"] = len(found)
        if words:  # said again by a copy of the signal sent after a restart
            evidence["summary"] = "; ".join(words)
        if not words:
            evidence["unread"] = (
                "no value moved " + ("up" if up else "down")
                if found
                else "the breakdown read returned no series"
            )
        return evidence, "; ".join(words)

    # --------------------------------------------------------------- groups
    def _closing(
        self, name: str, key: str, state: SeriesState, incident: Incident, at: float, how: str
    ) -> None:
        """Remember an incident of series ``key`` that ended at ``at``, ``how``
        (``recovered``: closed after its quiet points; ``silent``: dropped after a gap):
        with its workload's (for groups) and in its state, saved at once."""
        self._changed.add(key)
        state.opened = None
        back, state.back = state.back, None
        if back is not None and how == RECOVERED and incident.reason == Reason.OFF_SCALE:
            log.info(
                "anomaly %s on %s: its off_scale incident (since %s) recovered at %s: %s",
                name,
                key,
                to_utc_text(incident.opened_at),
                to_utc_text(at),
                _back_words(back, incident),
            )
        if state.target is None:
            return
        member = _member(name, key, state.target, incident, closed_at=at, how=how)
        state.closed = member
        self._closed.setdefault(state.target, []).append(member)

    def _watch(self, key: str, state: SeriesState, target: ObjectRef | None) -> None:
        """Series ``key`` belongs to ``target`` (None: to no workload, or gone)."""
        if state.target is not None and state.target != target:
            keys = self._by_target.get(state.target, set())
            keys.discard(key)
            if not keys:
                self._by_target.pop(state.target, None)
        state.target = target
        if target is not None:
            self._by_target.setdefault(target, set()).add(key)

    def _open_members(
        self, now: float, target: ObjectRef | None = None
    ) -> dict[ObjectRef, list[GroupMember]]:
        """The open incidents per workload (of ``target`` only, if given: an incident
        opening looks at its workload's series, not at every series). One whose series
        has had no real point for ``GAP_RESETS_INCIDENT`` steps (a pod gone) is not
        counted: the next point drops it."""
        found: dict[ObjectRef, list[GroupMember]] = {}
        keys = self.series.keys() if target is None else self._by_target.get(target, set())
        for key in keys:
            state = self.series[key]
            current = state.tracker.current
            if state.target is None or current is None:
                continue
            if now - state.last_real > GAP_RESETS_INCIDENT * state.detector.step:
                continue
            name = key.split("{", 1)[0]
            found.setdefault(state.target, []).append(_member(name, key, state.target, current))
        return found

    def _group(
        self, name: str, key: str, target: ObjectRef | None, incident: Incident, now: float
    ) -> tuple[list[GroupMember], str | None]:
        """The anomalies on ``target`` an incident opening on series ``key`` is grouped
        with, itself included, in the order they opened, and the sentence that says so;
        ([], None) when it is alone (or the series names no workload)."""
        if target is None:
            return [], None
        this = _member(name, key, target, incident)
        others = {
            m.series: m
            for m in self._closed.get(target, [])
            if m.series != key and (m.closed_at or now) >= now - GROUP_WINDOW
        }
        for member in self._open_members(now, target).get(target, []):
            if member.series != key:
                others[member.series] = member  # open beats closed: one entry a series
        if not others:
            return [], None
        group = sorted([this, *others.values()], key=lambda m: (m.since, m.series))
        watched = len(self._by_target.get(target, ()))
        parts = []
        for number, named in enumerate(_first_and_this(group, this, GROUP_NAMED)):
            if named is None:
                parts.append(f"{len(group) - GROUP_NAMED} more")
                continue
            text = f"{named.query} {named.reason} since {_hhmm(named.since)}"
            if named is this:
                text += " (this one)"
            else:
                peak, expected = _figures(named.peak, named.expected)
                over = ""
                if named.closed_at is not None:
                    # dropped after a gap in its data: not known to be over
                    over = "; no data since " if named.how == SILENT else "; over at "
                    over += _hhmm(named.closed_at)
                text += f" (peak {peak}, expected {expected}{over})"
            parts.append(text + (", the first to move" if number == 0 else ""))
        summary = (
            f"{len(group)} of {max(watched, len(group))} series watched on {target} "
            "moved together: " + ", then ".join(parts)
        )
        kept = [m for m in _first_and_this(group, this, GROUP_KEPT) if m is not None]
        return kept, summary

    def _forget_closed(self, now: float) -> None:
        for target in list(self._closed):
            kept = [m for m in self._closed[target] if (m.closed_at or now) >= now - GROUP_WINDOW]
            if kept:
                self._closed[target] = kept
            else:
                del self._closed[target]

    def _publish_open(self, now: float) -> None:
        """``autonomic_anomaly_open_series{workload}``: the series of each workload with
        an open incident; a workload with none leaves the metric."""
        if self.metrics is None:
            return
        counts = {str(target): len(open_) for target, open_ in self._open_members(now).items()}
        for name in self._published - counts.keys():
            with contextlib.suppress(KeyError):  # dropped while this replica did not lead
                self.metrics.anomaly_open_series.remove(name)
        for name, count in counts.items():
            self.metrics.anomaly_open_series.labels(workload=name).set(count)
        self._published = set(counts)

    # --------------------------------------------------------------- state
    def save(self, *, deadline: float | None = None) -> int:
        """Every series' state, ``SAVE_BATCH`` series per ledger transaction; the number
        of series left unsaved because ``deadline`` (``time.monotonic()``) passed: no
        batch starts after it.

        One commit per batch, not per series: with thousands of series, a commit (and
        a read of the whole saved value just to learn its version) per series made
        saving take longer than the loop's period.
        """
        left = self._save_items(list(self.series.items()), deadline=deadline)
        for query in self.queries:
            self._mark_unsaved(query)
        return left

    def save_at_shutdown(self, budget: float) -> None:
        """At a clean shutdown, once the jobs have stopped: save every series with points
        not saved yet, for at most ``budget`` seconds (between batches), so that a restart
        reads from Prometheus only what came after, not up to ``save_every`` cycles
        again (or a whole ``history``, for series not saved since they appeared). A cycle
        still running (abandoned past the shutdown's grace period) is not raced: nothing
        is saved then. Series left unsaved are read again at the next start, as before.
        """
        if not self._cycling.acquire(blocking=False):
            log.warning(
                "shutdown: an anomaly cycle is still running; detector state is not saved "
                "(the next start reads again the points since each series' last save)"
            )
            return
        try:
            started = time.monotonic()
            owed = sum(1 for s in self.series.values() if s.last_ts != s.saved_ts)
            left = self.save(deadline=started + budget)
        finally:
            self._cycling.release()
        if owed == 0:
            return
        took = time.monotonic() - started
        if left:
            log.warning(
                "shutdown: saved the anomaly state of %d of %d series in %.1f s (the limit); "
                "the rest are read again from their last save at the next start",
                owed - left,
                owed,
                took,
            )
        else:
            log.info("shutdown: saved the anomaly state of %d series in %.1f s", owed, took)

    def _save_share(self) -> None:
        """Save the next ``len(series) / save_every`` series, round robin: each series
        is saved every ``save_every`` cycles, and the cost is spread over the cycles
        instead of a stall every ``save_every``-th one (minutes, at 10,000 series)."""
        items = list(self.series.items())
        if not items:
            return
        self._save_owed += len(items)
        count = min(self._save_owed // self.save_every, len(items))
        if count == 0:
            return
        self._save_owed -= count * self.save_every
        start = self._save_next % len(items)
        chosen = (items[start:] + items[:start])[:count]
        self._save_next = start + count
        self._save_items(chosen)

    def _save_items(
        self, items: list[tuple[str, SeriesState]], *, deadline: float | None = None
    ) -> int:
        now = self.clock.now()
        # a series with no new point since it was saved or restored is already saved
        items = [(key, state) for key, state in items if state.last_ts != state.saved_ts]
        for first in range(0, len(items), SAVE_BATCH):
            if deadline is not None and time.monotonic() >= deadline:
                return len(items) - first
            batch = items[first : first + SAVE_BATCH]
            keys = [f"anomaly/{key}" for key, _ in batch]
            versions = self.ledger.guard_versions(keys)
            entries = [
                (ledger_key, _saved(state), versions.get(ledger_key, 0))
                for ledger_key, (_, state) in zip(keys, batch, strict=True)
            ]
            won = self.ledger.put_guards(entries, now)
            for (_, state), saved in zip(batch, won, strict=True):
                if saved:
                    state.saved_ts = state.last_ts
        return 0

    def _restore(self, key: str, since: float = float("-inf")) -> SeriesState | None:
        """The saved state of series ``key``; None if there is none, it is unusable, or
        its last point is before ``since``."""
        value, version = self.ledger.guard(f"anomaly/{key}")
        if version == 0:
            return None
        try:
            last = value.get("last_ts")
            last_ts = float(last) if last is not None else float("-inf")
            if last_ts < since:
                return None
            detector = Detector.from_state(value["detector"])
            tracker = IncidentTracker()
            tracker.restore(value["tracker"])
            # saved since a series can leave memory: the gap rules apply across that
            last_real = float(value.get("last_real", 0.0))
            quiet_until = float(value.get("quiet_until", 0.0))
            saved_target = value.get("target")  # absent from states saved before groups
            target = None
            if saved_target:
                kind, name, namespace = saved_target
                target = ObjectRef(str(kind), str(name), namespace)  # type: ignore[arg-type]
            closed = _closed_member(key, value.get("closed"))  # absent before it was saved
            opened = value.get("opened") if tracker.current is not None else None
            if opened is not None and not isinstance(opened, dict):
                raise TypeError(f"opened is {type(opened).__name__}, not an object")
            owed = value.get("unreported") if tracker.current is not None else None
            unreported = float(owed) if owed is not None else None
            off_scale = int(value.get("off_scale", 0))  # absent before it was kept
            saved_back = value.get("back") if tracker.current is not None else None
            back = (
                None
                if not saved_back
                else (
                    float(saved_back[0]),
                    from_json(saved_back[1]),
                    from_json(saved_back[2]),
                    from_json(saved_back[3]),
                    from_json(saved_back[4]),
                )
            )
        except (StateError, KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("saved state for %s unusable (%s): starting fresh", key, exc)
            return None
        return SeriesState(
            detector,
            tracker,
            last_ts,
            last_real,
            quiet_until,
            saved_ts=last_ts,
            target=target,
            closed=closed,
            opened=opened,
            unreported=unreported,
            off_scale=off_scale,
            back=back,
        )


class _VolumeIndex:
    """A read's volume series, found by the labels a series carries: those that carry
    every label the series carries, with the same values (the metric name aside), and
    any labels more (summed over: per-pod rates for a per-deployment series); a volume
    series with no label at all is found for every series. A volume series that lacks
    one of the series' labels is not: it may hold other series' traffic too (a ``sum by
    (deployment)`` adds the same-named Deployments of every namespace; a ``sum by
    (service)`` shares nothing with a series by ``deployment``). They are grouped by the
    label names they carry; within a group, by their values of the series' names (an
    index built at the first series carrying those names), so a series is matched with
    a few dictionary looks rather than against every one."""

    def __init__(self, volume: Sequence[MetricSeries]) -> None:
        self._groups: dict[tuple[str, ...], list[tuple[dict[str, str], MetricSeries]]] = {}
        for other in volume:
            labels = {k: v for k, v in other.labels.items() if k != "__name__"}
            self._groups.setdefault(tuple(sorted(labels)), []).append((labels, other))
        self._by: dict[
            tuple[tuple[str, ...], tuple[str, ...]], dict[tuple[str, ...], list[MetricSeries]]
        ] = {}

    def names(self) -> list[tuple[str, ...]]:
        """The label names of the volume series, one tuple (sorted) per set of them."""
        return list(self._groups)

    def matching(self, labels: Mapping[str, str]) -> list[MetricSeries]:
        found: list[MetricSeries] = []
        mine = tuple(sorted(k for k in labels if k != "__name__"))
        for names, members in self._groups.items():
            if names and not set(mine) <= set(names):
                continue  # it lacks one of the series' labels: not this series' volume
            shared = mine if names else ()
            index = self._by.get((names, shared))
            if index is None:
                index = self._by[(names, shared)] = {}
                for their, other in members:
                    index.setdefault(tuple(their[n] for n in shared), []).append(other)
            found.extend(index.get(tuple(labels[n] for n in shared), ()))
        return found


def _volume_of(
    metric: MetricSeries, volume: Sequence[MetricSeries] | _VolumeIndex
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The volume of ``metric``'s series at each of its times: the sum of the volume
    series that carry every label it carries, with the same values (``_VolumeIndex``),
    or carry none; NaN where none of them has a value (or none is found)."""
    index = volume if isinstance(volume, _VolumeIndex) else _VolumeIndex(volume)
    ts = metric.series.timestamps
    total = np.zeros(len(ts))
    seen = np.zeros(len(ts), dtype=bool)
    labels = {k: v for k, v in metric.labels.items() if k != "__name__"}
    for other in index.matching(labels):
        their_ts, their_values = other.series.timestamps, other.series.values
        if not len(their_ts):
            continue
        at = np.minimum(np.searchsorted(their_ts, ts), len(their_ts) - 1)
        found = (their_ts[at] == ts) & np.isfinite(their_values[at])
        total[found] += their_values[at][found]
        seen |= found
    total[~seen] = np.nan
    return total


def _enough(
    gate: np.ndarray[Any, np.dtype[np.float64]], query: AnomalyQuery
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Where the volume meets ``query``'s ``minVolume`` (NaN, none read, does not)."""
    assert query.min_volume is not None
    with np.errstate(invalid="ignore"):
        return np.asarray(gate >= query.min_volume.at_least)


def _saved(state: SeriesState) -> dict[str, Any]:
    return {
        "detector": state.detector.state(),
        "tracker": state.tracker.state(),
        "last_ts": state.last_ts if np.isfinite(state.last_ts) else None,
        "last_real": state.last_real,
        "quiet_until": state.quiet_until,
        "target": None
        if state.target is None
        else [state.target.kind, state.target.name, state.target.namespace],
        "closed": None if state.closed is None else state.closed.record(),
        "opened": state.opened if state.tracker.current is not None else None,
        "unreported": state.unreported if state.tracker.current is not None else None,
        "off_scale": state.off_scale,
        "back": None
        if state.back is None or state.tracker.current is None
        else [as_json(v) for v in state.back],
    }


def _closed_member(key: str, saved: Any) -> GroupMember | None:
    """The last closed incident of series ``key`` as ``_saved`` wrote it; None if none."""
    if not saved:
        return None
    return GroupMember(
        series=key,
        query=str(saved["query"]),
        reason=str(saved["reason"]),
        since=float(saved["since"]),
        peak=float(saved["peak"]),
        expected=float(saved["expected"]),
        incident_key=str(saved["incident_key"]),
        closed_at=float(saved["closed_at"]),
        how=str(saved["how"]) if saved.get("how") else None,  # absent before it was kept
    )


def _member(
    name: str,
    key: str,
    target: ObjectRef,
    incident: Incident,
    closed_at: float | None = None,
    how: str | None = None,
) -> GroupMember:
    return GroupMember(
        series=key,
        query=name,
        reason=incident.reason.value,
        since=incident.opened_at,
        peak=incident.peak_observed,
        expected=incident.peak_expected,
        incident_key=anomaly_key(name, target, None, incident.opened_at),
        closed_at=closed_at,
        how=how,
    )


def _first_and_this(
    group: list[GroupMember], this: GroupMember, limit: int
) -> list[GroupMember | None]:
    """At most ``limit`` of ``group``: the first to open, and ``this`` last if it opened
    later than them, None standing for those left out between."""
    if len(group) <= limit:
        return list(group)
    if this in group[:limit]:
        return [*group[:limit], None]
    return [*group[: limit - 1], None, this]


def _hhmm(ts: float | None) -> str:
    """10:02 UTC (10:02:30 UTC off the minute)."""
    if ts is None:
        return "?"
    shown = time.strftime("%H:%M:%S" if ts % 60 else "%H:%M", time.gmtime(ts))
    return f"{shown} UTC"


def _figures(*values: float) -> list[str]:
    """Each value to 4 significant figures (+Inf, -Inf and NaN as Prometheus writes them:
    an off-scale incident's peak, and its band before anything was learnt), and
    as 0 where it is a millionth of the largest or less: a band of an error ratio that is
    0 is "0 to 0", not "-3e-12 to 3e-12" (the detector's rounding, not a bound a person
    should read)."""
    scale = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    return [
        "0"
        if math.isfinite(v) and abs(v) <= scale * 1e-6
        else value_text(v)
        if not math.isfinite(v)  # +Inf, -Inf, NaN: Prometheus's words, not Python's "inf"
        else f"{v:.4g}"
        for v in values
    ]


def _back_words(back: tuple[float, float, float, float, float], incident: Incident) -> str:
    """What an ``off_scale`` incident's values came back to, in words: the first finite
    value after the run, against what the detector expected then (what it had learnt
    before the run: it learns nothing from a value off the scale), and whether the series
    stayed at a new level (the band followed it) or came back into the band it had."""
    at, value, expected, lower, upper = back
    shown = _figures(value, expected, lower, upper)
    text = (
        f"back on the scale at {to_utc_text(at)} at {shown[0]}, against {shown[1]} expected "
        f"(band {shown[2]} to {shown[3]}, as learnt before the run, which taught the "
        "detector nothing)"
    )
    if not math.isfinite(expected) or lower <= value <= upper:
        return text + "; back where it was before the run"
    return (
        text + f"; a level outside the band it had before the run (it was "
        f"{value_text(incident.peak_observed)}), closed once the band had followed it"
    )


def _recorded_breakdown(recorded: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The breakdown recorded with an incident (its observation's evidence, or what its
    series saved as sent), and its words: for a copy of its signal sent again after a
    restart, which says what the first did without reading it again. (None, "") when
    none was recorded (a query without ``breakdownBy``, or one recorded before it was
    kept)."""
    breakdown = recorded.get("breakdown")
    if not isinstance(breakdown, Mapping):
        return None, ""
    summary = breakdown.get("summary")
    return dict(breakdown), summary if isinstance(summary, str) else ""


def _off_scale_words(incident: Incident, shown: list[str]) -> str:
    """What an incident opened on a value off the scale saw, in words: the value, how
    long, what was expected, and what it most likely means (``shown``: its peak,
    expected value and band, as ``_figures`` shows them)."""
    value = incident.peak_observed
    expected = (
        f"expected {shown[1]} (band {shown[2]} to {shown[3]})"
        if math.isfinite(incident.peak_expected)
        else "nothing learnt of it yet"
    )
    return (
        f"{shown[0]} for {OFF_SCALE_AFTER} steps running (Prometheus answers, but the value is "
        f"beyond what the metric can measure; {expected}): {off_scale_advice(value)}"
    )
