"""The predictive scaling loop: forecast each opted-in workload's load, raise its floor.

For each workload (a Deployment, StatefulSet or Argo Rollout) labelled for Autonomic and
annotated ``autonomic.dev/predictive: "true"``, every period:

1. read the load with the workload's query (``scaling.loadQuery``, or the one of
   ``scaling.loadQueries`` its ``autonomic.dev/load-query`` annotation names; another
   query than the model was fitted on is another metric, and refits it, as does a changed
   ``autonomic.dev/history-since``: at most ``CHANGE_REFITS_PER_CYCLE`` workloads a cycle
   for either, the others on their current model until their turn): the days a fit
   needs (``profileHistory``, 14 days by default) when the model is due a refit (every
   ``refitEvery``, and on the first cycle), otherwise only the points since the last
   cycle; stale or failed reads mean **hold**: nothing new is done on old numbers, and
   the status says why;
2. refit the seasonal-profile forecaster on those days, and between refits re-anchor its
   level on the newest points every cycle (microseconds, so thousands of workloads fit
   in a cycle). The live model is watched (its one-step forecasts against what arrived,
   against the band it earned) and a drift brings its refit forward; a refit is a
   contest on the last hour, which neither model saw, and the challenger goes live only
   if it forecasts that hour better (``forecasting.drift``); every evaluation is a model
   version in the ledger. Prometheus keeps the history: between refits a workload holds only its
   last ``RECENT`` points and its compacted model (~12 KB, mostly the profile), not also
   the 40 KB week: 40 MB less at a thousand workloads;
3. size the floor with ``forecasting.scaling.recommend``: an upper quantile of the
   forecast over the lead time (pod start-up + loop period + metric lag) divided by the
   per-pod capacity, never below what current load needs, scaling in slowly;
4. when the floor changes, record a decision (the model version it used, the forecast
   peak, the reason) and, when routed to act, raise the HPA's ``minReplicas`` (the HPA
   remains the reactive safety net) or drive the scale subresource where no HPA exists.
   Low forecast confidence means reactive: a floor this loop raised comes back down to
   the HPA's own minimum as a predictive one does (after ``SCALE_IN_PATIENCE`` cycles,
   by at most the scale-in step, never below what the current load needs), so the HPA,
   which remembers its own proposals, does not scale in at once. Each change of mode
   (and of the reason for being reactive) is logged once and kept in
   ``status.reactive``.
   The recommendation is published every cycle as metrics and, when it changes, as the
   workload's ``autonomic.dev/recommended-replicas`` and ``autonomic.dev/recommendation``
   annotations (``autonomic.dev/predictive: forecast-only`` publishes and never writes the
   floor, and gives back one it raised before, as on opt-out; so does an HPA another
   controller owns, such as KEDA's ScaledObject, which would put its own minimum back;
   ``mode: observe`` writes nothing). A question is
   asked once per change and followed: an approval is carried out, a "no" is not asked
   again for an hour.
   ``safety.paused`` stops decisions and writes, not the forecasts; the time paused
   earns a floor coming down no drop, as a hold earns none, and so does every other
   wait (a question open, an override or a refused write waited out).
   A floor (or, without an HPA, a replica count) someone else changes after the loop
   wrote it (a person, a GitOps controller, a runbook) is theirs for
   ``QUIET_AFTER_OVERRIDE``, doubled at each override in a row, and after it a
   value of theirs above the loop's own floor comes down from theirs at the scale-in
   pace, not to the loop's lower floor in one write, and one below it is raised only
   to what the load needs, not back to the loop's wish paced down from before; a write
   the cluster refuses fails its decision with the cluster's words and is decided again
   after ``RETRY_AFTER_FAILURE``, doubled at each refusal in a row, never every cycle;
   a write never goes over a ``minReplicas`` (or replicas) changed since its decision;
   a write whose outcome is not known is settled from the cluster, never failed blind
   nor written twice. What is kept of a workload out of predictive scaling for
   ``FORGET_AFTER`` is dropped. A workload the listing leaves out because it cannot be
   read (``UnreadObject``) is not out: it is held (``ReadFailed``, the adapter's
   reason), and its model and an approved question are kept for ``UNREAD_KEEP``.
5. Load far above the forecast's upper bound is a forecast breach: a signal for the
   runbooks (a surge nobody forecast), named ``requests_per_second`` for a workload read
   with ``scaling.loadQuery`` and by its load query's name for one that picks another.

Per-workload settings come from annotations: ``autonomic.dev/capacity-per-pod`` (load
one ready pod carries at the utilisation you accept; without it, learned from the HPA's
readings, ``agent.loops.sizing``), ``autonomic.dev/startup-seconds`` (without it,
measured from the workload's pods, 60 until one is), ``autonomic.dev/min-replicas`` (the
floor's floor, default the HPA's configured minimum), ``autonomic.dev/max-replicas`` (the
ceiling: default the HPA's maximum, or ``NO_HPA_MAX`` without an HPA; never above the
HPA's), ``autonomic.dev/load-query`` (the name of one of ``scaling.loadQueries``, never
PromQL itself) and ``autonomic.dev/history-since``
(an ISO 8601 time: load before it is never fitted, for a workload whose traffic changed
for good, so old days cannot poison the profile; until two days have passed since then
it stays reactive and says so). A malformed annotation holds the workload (reactive)
with a status and a log line naming the annotation and what it should be; it is never
guessed.

A live model found off its drift band makes the workload reactive (``PoorAccuracy``)
until a refit goes live or it is back in its band. Every applied floor is judged after
its lead time (was the load it was raised for there; was a lowered floor short of
pods), and the verdict is the decision's recorded outcome (``Verification``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import zlib
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from agent.clock import Clock
from agent.decisions import DecisionService, Proposal
from agent.errors import PermanentError, TransientError
from agent.executor import Executor, StepOutcome
from agent.ledger import DecisionRecord, Feedback
from agent.loops.sizing import CAPACITY_MIN, CapacityEstimate, StartupEstimate
from agent.metrics_port import IngestionClock, MetricSeries, MetricsReader
from agent.observability import Metrics, decision_context
from agent.routing import Thresholds
from agent.settings import ScalingSettings as LoopSettings
from agent.undo import UNDO_REQUESTED
from forecasting.cleaning import mask_not_demand
from forecasting.drift import DriftBand, DriftVerdict
from forecasting.hpa import (
    DEFAULT_SCALE_DOWN_POLICIES,
    DEFAULT_SCALE_UP_POLICIES,
    RatePolicy,
    SelectPolicy,
)
from forecasting.hpa_after_rules import HpaRules, RulesSample, after_rules
from forecasting.hpa_metrics import MetricsBreakdown, explain_metrics
from forecasting.lifecycle import (
    BREACH_LEVEL,
    DRIFT_EVERY,
    SPIKE_CYCLES,
    GlitchWatch,
    OutageWatch,
    OutcomeRing,
    check_drift,
    distrust,
    implausible,
    refit,
)
from forecasting.profile import FittedProfile, ProfileSettings, SeasonalProfile
from forecasting.scaling import (
    ScalingRecommendation,
    ScalingSettings,
    WorkloadNow,
    ease_reactive,
    horizon_steps,
    hpa_scale_up_limit,
    lead_time,
    recommend,
    untrusted,
)
from forecasting.series import Series
from remediation._types import counted
from remediation.digits import ascii_digits
from remediation.durations import format_duration
from remediation.ports import (
    ClusterReader,
    HpaState,
    ObjectRef,
    Scale,
    SetHpaMinReplicas,
    UnreadObject,
    UnreadReporter,
    WorkloadState,
    operation_from_dict,
)
from remediation.signals import (
    BREACH_RATIO,
    Signal,
    breach_confidence,
    breach_metric,
    forecast_breach_signal,
)
from remediation.windows import closes_at, describe, first_open, to_utc_text

__all__ = ["ScalingLoop"]

log = logging.getLogger("autonomic.scaling")

PREDICTIVE = "autonomic.dev/predictive"
CAPACITY = "autonomic.dev/capacity-per-pod"
STARTUP = "autonomic.dev/startup-seconds"
MIN_REPLICAS = "autonomic.dev/min-replicas"
MAX_REPLICAS = "autonomic.dev/max-replicas"
NO_HPA_MAX = 1000  # the ceiling without an HPA or a max-replicas annotation
HISTORY_SINCE = "autonomic.dev/history-since"
# The name of one of ``scaling.loadQueries`` (never PromQL itself): the workload's load is
# read with that query instead of ``scaling.loadQuery``.
LOAD_QUERY = "autonomic.dev/load-query"
MAX_STARTUP = 3600.0
FORECAST_ONLY = "forecast-only"
# The reasons of the decisions that give an HPA its owner's minimum back (``_release``):
# carried out once approved, even after the workload left, never dropped.
GIVE_BACK_REASONS = frozenset({"OptedOut", "ForecastOnly"})
# The reason codes of a hold (``status.held_reason`` and the gauge
# ``autonomic_scaling_held``); the holds about a write stay after the workload leaves.
WRITE_HOLDS = frozenset({"Overridden", "WriteRefused", "WriteUnsettled"})
# Holds under which no scheduled floor is set (its caps cannot be read, or a floor would
# be refused, mean nothing or switch the HPA off): a schedule naming such a workload
# says so in ``GET /scaling`` (``scheduleUnmatched``), as one naming a workload the loop
# does not scale. The holds on the load or the capacity raise it (``_schedule_held``).
SCHEDULE_STOPPED = frozenset(
    {
        "BadAnnotation",
        "RolloutTemplate",
        "NoCapacity",
        "NoHpa",
        "AmbiguousHpa",
        "InvalidHpa",
        "MinAboveMax",
        "ScaledToZero",
        "Unexpected",
    }
)
HOLD_REASONS = frozenset(
    {
        "BadAnnotation",
        "ReadFailed",
        "NoCapacity",
        "LearningCapacity",
        "NoLoadSeries",
        "ManyLoadSeries",
        "NoLoadSample",
        "LoadGap",
        "NoCurrentLoad",
        "SuspectSample",
        "AmbiguousHpa",
        "InvalidHpa",
        "MinAboveMax",
        "ScaledToZero",
        "RolloutTemplate",
        "NoHpa",
        "ManagedHpa",
        "Paused",
        "RemediationPending",
        "NotOptedIn",
        "Unexpected",
        *WRITE_HOLDS,
    }
)
RECOMMENDED = "autonomic.dev/recommended-replicas"  # published: the floor recommended
RECOMMENDATION = "autonomic.dev/recommendation"  # published: why, from which model, when
QUIET_AFTER_NO = 3600.0  # after a rejected or expired question, ask again no sooner
# A floor Autonomic wrote that someone else changed (a person, a GitOps controller putting
# its own back) is theirs for this long, doubled at each override in a row, up to a day:
# a controller that reverts every write meets one write an hour, then fewer, not a fight.
QUIET_AFTER_OVERRIDE = 3600.0
MAX_QUIET_AFTER_OVERRIDE = 86400.0
# A write the cluster refused (RBAC, an invalid value, a conflict that kept coming back)
# is not tried again for this long, doubled at each failure in a row, up to an hour.
RETRY_AFTER_FAILURE = 300.0
STEP = 60.0
HISTORY = 15 * 86400.0  # the history kept at the default settings; the forecaster needs less
LEVELS = (80, 95)  # the forecast interval levels this loop reads (at the default quantile)
# A forecast floor is bounded (never below current need, slow to scale in, the HPA stays
# the safety net), so it acts at a lower confidence than a runbook does by default.
DEFAULT_THRESHOLDS = Thresholds(auto=0.8, ask=0.5)
SCALE_IN_PATIENCE = 5  # cycles
BREACH_MINUTES = 3  # consecutive cycles above the forecast's upper bound
RECENT = 30  # points the level is re-anchored on between refits, and all that is kept
REFIT_SPREAD = 0.5  # refits that fall due together are spread over this share of refitEvery
DEFAULT_STARTUP = 60.0  # seconds, until the workload's pods have been measured
STARTUP_EVERY = 1800.0  # seconds between two start-up measurements of one workload
MEASURES_PER_CYCLE = 50  # workloads whose pods one cycle may list (first sight included)
# Workloads whose load query or history cut (``autonomic.dev/history-since``) changed
# that one cycle refits for it (a week read and a fit each), one budget for both: an edit
# of the annotation on a whole fleet at once would otherwise make one cycle read and fit
# them all (7.6 s for 1,000 on the test fakes, against a 0.2 s cycle). The others keep
# their current model (read on its old query, fitted from its old cut) until their turn.
CHANGE_REFITS_PER_CYCLE = 50
VERIFY_AFTER = 300.0  # a floor is judged over its lead time plus this long
CAPACITY_KEY = "scaling/capacity"  # ledger guard key prefix of a learned capacity
# Ledger guard key prefix of the HPA minReplicas this loop last wrote for a workload: so a
# workload that leaves predictive scaling gets its owner's minimum back even when the
# replica that raised the floor is gone (a restart, a new leader).
WRITTEN_KEY = "scaling/written"
# Per workload: the hold for replicas someone set after its HPA went (``_taken_over``),
# kept for a new leader: {"quiet_until", "why", "workload_uid"}.
TAKEN_KEY = "scaling/taken-over"
# How long a hold of ``TAKEN_KEY`` is kept in the ledger after it was written: it ends at
# the latest an hour (``QUIET_AFTER_OVERRIDE``) after it was written (a change the API
# server dated ahead of this clock counts from now), and a day leaves room for replicas'
# clocks that differ. Pruned after (housekeeping).
TAKEN_KEEP = 86400.0
SCHEDULED_CONFIDENCE = 0.95  # a scheduled floor is a person's instruction
# How far ahead a scheduled floor's open window is looked at for its end, for the
# sentence saying until when it holds (a weekly or cron window, a minute at a time).
SCHEDULE_LOOKAHEAD = 8 * 86400.0
FLOOR_DECISION = "scaling/predictive-floor"  # the decision type of every floor decided
# In a floor's written record and decision evidence: the workload's last change by
# someone when the floor was decided or written (managedFields; None: none), so a new
# leader tells a change since on the API server's clock alone (``_recall_hpa``).
CHANGED_THEN = "workload_changed_at"
# The field a written record is about: the HPA's minReplicas (records without "field",
# the only kind before), or without an HPA the workload's replicas (scale subresource).
MIN_FIELD, REPLICAS_FIELD = "minReplicas", "replicas"
# At most this many samples of an HPA are kept for ``afterRules`` (an hour's window, the
# longest the API server takes, at one a minute).
HPA_SAMPLES_KEPT = 64
ADOPT_EVERY = 60  # cycles between looks for such workloads this process has no model of
# What the loop keeps of a workload out of predictive scaling (deleted, or left and its
# floor given back) is dropped once it has been out this long: not at one listing that
# misses it (a cache not synced, a namespace filter), or every model would be refitted
# at once when the workloads came back.
FORGET_AFTER = 6 * 3600.0
# A workload the listing leaves out because it came in a shape that cannot be read
# (``UnreadObject``: a webhook rewrote it, say) is there, not gone: held ``ReadFailed``
# for as long as it stays so, and its model and an approved question about it are kept
# this long (a day: a bad rewrite fixed the next working day loses nothing), not
# ``FORGET_AFTER``; after it they are dropped as for a deleted workload, the hold stays.
UNREAD_KEEP = 24 * 3600.0
# A learned capacity older than this is learned again; its ledger row is pruned then.
CAPACITY_KEEP = 7 * 86400.0
SHORT_ALLOWED = 1  # cycles short of ready pods a lowered floor is forgiven
# A workload short of ready pods this long has its pods looked at for ones the cluster
# cannot place (Pending, Unschedulable), again every UNPLACED_EVERY while it stays short.
UNPLACED_AFTER = 120.0
UNPLACED_EVERY = 300.0
# The longest periodSeconds the API server accepts in an HPA's behavior policies: the
# spec replicas are remembered this long to follow an HPA's scale-up rate.
MAX_POLICY_PERIOD = 1800.0
# The statuses of a remediation decision whose write of a floor (or of replicas) may
# still come or is being judged: a floor the loop lowers meanwhile would be written over
# a value its compare-and-set was planned from (the write refused, the scale-out lost),
# or pulled from under its verification. Its write-ahead intent, while pending, counts too.
REMEDIATION_OPEN = ("asked", "approved", "executing", "verifying", UNDO_REQUESTED)
# Of those, the ones whose write has not been made yet (its compare-and-set is to come).
REMEDIATION_UNWRITTEN = frozenset({"asked", "approved", "executing"})
# The operations of a remediation that write what the loop writes: an HPA's minReplicas,
# or a workload's replicas.
FLOOR_OPS = frozenset({"set_hpa_min_replicas", "scale"})
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class LoadHistory:
    """Samples on a regular grid of ``STEP`` seconds, oldest first, trimmed to ``keep``.

    Held as float32 (a week of one-minute samples, read at a refit, is 40 KB instead of 80):
    seven significant digits are far more than a load forecast can use (the forecasts
    of a float32 and a float64 history differ by under one part in a million, a test
    checks), and ``values`` hands them out as float64 for the arithmetic. A sample beyond
    float32's range (3.4e38) is kept as a gap."""

    def __init__(self) -> None:
        self._values = np.empty(0, dtype=np.float32)
        self.first = 0.0

    @property
    def values(self) -> np.ndarray:
        return self._values.astype(np.float64)

    @property
    def size(self) -> int:
        return int(self._values.shape[0])

    @property
    def last(self) -> float:
        return self.first + STEP * (self.size - 1)

    def timestamps(self) -> np.ndarray:
        return self.first + STEP * np.arange(self.size, dtype=np.float64)

    def tail(self, points: int) -> LoadHistory:
        """A copy holding only the newest ``points`` slots (gaps included)."""
        kept = LoadHistory()
        drop = max(self.size - points, 0)
        kept._values = self._values[drop:].copy()
        kept.first = self.first + STEP * drop
        return kept

    def extend(self, timestamps: np.ndarray, values: np.ndarray, *, keep: float) -> None:
        if self.size:
            newer = timestamps > self.last
            timestamps, values = timestamps[newer], values[newer]
        if not timestamps.size:
            return
        if not self.size:
            self.first = float(timestamps[0])
        # Place the new samples on the grid (a missing step stays NaN, never invented).
        slots = np.rint((timestamps - self.first) / STEP).astype(np.int64)
        grown = np.full(int(slots[-1]) + 1, np.nan, dtype=np.float32)
        grown[: self.size] = self._values
        # beyond float32's range (3.4e38) is no load: a gap, as a missing sample is
        grown[slots] = np.where(np.abs(values) <= _FLOAT32_MAX, values, np.nan)
        drop = max(grown.shape[0] - int(keep // STEP), 0)
        self._values = grown[drop:].copy()
        self.first += STEP * drop


@dataclass(frozen=True)
class WorkloadKnobs:
    """What a workload's annotations ask of the scaling loop, checked. ``None`` for the
    capacity or the start-up time means "not configured": learned from the HPA, and
    measured from the workload's pods."""

    capacity: float | None
    startup: float | None = None
    min_replicas: int | None = None
    history_since: float | None = None
    max_replicas: int | None = None
    # The name of the ``scaling.loadQueries`` entry its load is read with (None: none
    # picked, ``scaling.loadQuery``).
    load_query: str | None = None


def read_knobs(
    annotations: Mapping[str, str], load_queries: Collection[str] = ()
) -> WorkloadKnobs | str:
    """The workload's scaling annotations, or a sentence saying which one is wrong and
    what it should be (the workload then stays reactive). ``load_queries``: the names
    ``scaling.loadQueries`` configures, the only ones ``autonomic.dev/load-query`` may
    pick."""
    capacity: float | None = None
    raw = annotations.get(CAPACITY)
    if raw is not None:
        capacity = _number(raw)
        if capacity is None or capacity <= 0:
            return (
                f"{CAPACITY}={raw!r} is not a positive number (the load one ready pod "
                "carries): staying reactive"
            )
    startup: float | None = None
    raw = annotations.get(STARTUP)
    if raw is not None:
        value = _number(raw)
        if value is None or not 0 <= value <= MAX_STARTUP:
            return (
                f"{STARTUP}={raw!r} is not a number of seconds from 0 to {MAX_STARTUP:.0f}: "
                "staying reactive"
            )
        startup = value
    min_replicas = _replicas(annotations, MIN_REPLICAS)
    if isinstance(min_replicas, str):
        return min_replicas
    max_replicas = _replicas(annotations, MAX_REPLICAS)
    if isinstance(max_replicas, str):
        return max_replicas
    if min_replicas is not None and max_replicas is not None and max_replicas < min_replicas:
        return (
            f"{MAX_REPLICAS}={annotations[MAX_REPLICAS]!r} is below "
            f"{MIN_REPLICAS}={min_replicas}: staying reactive"
        )
    since: float | None = None
    raw = annotations.get(HISTORY_SINCE)
    if raw is not None:
        since = _instant(raw)
        if since is None:
            return (
                f"{HISTORY_SINCE}={raw!r} is not an ISO 8601 time with a time zone "
                "(for example 2026-11-01T08:00:00Z): staying reactive"
            )
    query = annotations.get(LOAD_QUERY)
    if query is not None and query not in load_queries:
        known = (
            f"the names configured are {', '.join(sorted(load_queries))}"
            if load_queries
            else "none is configured"
        )
        return (
            f"{LOAD_QUERY}={query!r} is not the name of a query in scaling.loadQueries "
            f"({known}): staying reactive"
        )
    return WorkloadKnobs(capacity, startup, min_replicas, since, max_replicas, query)


def _replicas(annotations: Mapping[str, str], key: str) -> int | str | None:
    """A replica-count annotation: absent (None), a whole number of at least 1, or the
    sentence saying it is neither."""
    raw = annotations.get(key)
    if raw is None:
        return None
    value = _number(raw)
    if value is None or value < 1 or value != int(value):
        return f"{key}={raw!r} is not a whole number of at least 1: staying reactive"
    return int(value)


def _instant(text: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None  # a time without a zone means different instants on different clusters
    return parsed.timestamp()


@dataclass(slots=True)  # one per workload, 45 fields: a dict would hold ~2 KB each
class WorkloadModel:
    # The newest ``RECENT`` points on the loop's regular grid: what ``advance`` reads
    # between refits, and the current load. A refit reads its week again.
    recent: LoadHistory = field(default_factory=LoadHistory)
    fitted: FittedProfile | None = None
    fitted_at: float = -math.inf  # when the live model was fitted
    evaluated_at: float = -math.inf  # when a refit last challenged it (kept or replaced)
    # Its refit for a changed load query or history cut took the cycle's budget and read
    # nothing usable (no series, stale, failed): it yields to those that wait their turn.
    change_unread: bool = False
    band: DriftBand | None = None  # what the live model's held-out error promised
    outcomes: OutcomeRing = field(default_factory=OutcomeRing)
    expect: tuple[float, float, float, float] | None = None  # (at, mean, lower, upper)
    # The index in ``outcomes`` of the outcome this cycle added (None: none), for the
    # glitch test to withhold (``glitch``: the streak of suspect samples and the
    # outcomes it withheld, scored if it holds as a surge).
    arrived: int | None = None
    glitch: GlitchWatch = field(default_factory=GlitchWatch)
    # The outage rule of the last refit's history, and a run of zeros withheld from the
    # drift check while it may be an outage (``forecasting.lifecycle.OutageWatch``).
    zeros: OutageWatch = field(default_factory=OutageWatch)
    drift: DriftVerdict | None = None  # the last drift check (None again after a refit)
    # The last drift check and its band's interval level, kept across a refit: what the
    # accuracy gauges and ``GET /scaling`` show until the next check replaces it.
    checked: tuple[DriftVerdict, int] | None = None
    version: int = 0  # the live model's number (``_version_name``)
    # The highest number given to a model of the workload, live or rejected, by this
    # process or (read from the ledger at its first refit here) an earlier one: every
    # model evaluated gets the next, so no two are named alike. None until read.
    numbered: int | None = None
    # The recommendation the scale-in pace counts from: the last one decided. A cycle
    # that waits (paused, a question open, an override or a refused write waited out)
    # keeps it, as a held cycle keeps its floor, so the wait earns no drop.
    previous: ScalingRecommendation | None = None
    # The scheduled floor (``scaling.scheduledFloors``) that set the last floor, or None.
    scheduled: str | None = None
    # The newest cycle's recommendation, as published (metrics, status), waiting or not.
    latest: ScalingRecommendation | None = None
    hpa_min_configured: int | None = None
    hpa_uid: str = ""  # the HPA ``hpa_min_configured`` was read from
    breach_since: float | None = None
    lower_streak: int = 0  # consecutive cycles that wanted a lower floor (a wait: 0)
    breach_streak: int = 0  # consecutive new samples with load above the forecast band
    # The newest sample the counters (glitch, breach, verification, capacity) have taken:
    # inside a gap read past, cycle after cycle sees the same one, which counts once.
    counted_at: float = -math.inf
    history_since: float | None = None  # the annotation the model was fitted under
    # The load query (``$namespace`` and ``$workload`` filled in) the live model was
    # fitted on and ``recent`` read with: another one (its annotation or its template
    # changed) is another metric, and the model is fitted again (``QueryChanged``).
    query: str | None = None
    # The name of that query's ``scaling.loadQueries`` entry (None: ``scaling.loadQuery``):
    # a forecast breach is named by it (``breach_metric``), so a runbook for HTTP traffic
    # does not take a queue consumer's surge for one.
    load_query: str | None = None
    # The last floor a decision was recorded for, and whether it was applied: a
    # recommendation that was asked, observed or only published is not recorded again
    # while it stands (one question per change, not one a minute).
    recommended: int | None = None
    applied: bool = False
    # Whether ``recommended`` was only published (forecast-only, or an HPA another
    # controller owns): once the floor may be written again it is decided afresh.
    published: bool = False
    applied_at: float = -math.inf  # the watch may show an applied floor a cycle late
    pending: str | None = None  # the decision id of an open question
    unsettled: str | None = None  # the decision whose write's outcome is not known yet
    quiet_until: float = -math.inf  # no new question before this (after a "no")
    capacity: CapacityEstimate = field(default_factory=CapacityEstimate)
    startup: StartupEstimate = field(default_factory=StartupEstimate)
    # Why the live model is not trusted now (its last drift check found it off its band
    # and no refit has beaten it since), or None: while set, the workload is reactive.
    poor: str | None = None
    sizing: dict[str, object] = field(default_factory=dict)  # what sized the last floor
    verifying: list[Verification] = field(default_factory=list)
    # The mode last reported: "predictive", or the reason code for being reactive.
    stance: str | None = None
    managed: str | None = None  # why the floor is only published (last said), or None
    # After the workload left predictive scaling: the decision that gives the HPA its
    # owner's minimum back while it is asked, and whether that is settled (done once).
    releasing: str | None = None
    released: bool = False
    # The ledger's record of what this loop (or an earlier leader) last wrote: the HPA's
    # minReplicas (min_replicas, at, decision_id, hpa_uid; hpa, workload_uid and
    # workload_changed_at in records written since they were added) or, without an
    # HPA, the replicas (field
    # "replicas", replicas, at, decision_id, workload_uid); once someone
    # else changed it, also overridden_at, found and quiet_until; and overrides, the
    # count in a row so far, when above 0. {} when none; None until read.
    written: dict[str, Any] | None = None
    overrides: int = 0  # overrides of written floors in a row
    # Whether ``overrides`` was read back from the written-floor record ``_written`` last
    # read from the ledger (``_restore_overrides``).
    overrides_read: bool = False
    failures: int = 0  # refused writes in a row
    # Why no floor is written now (an override, a refused write), shown in
    # ``status.held`` until ``quiet_until``.
    quiet_why: str | None = None
    quiet_reason: str = "Overridden"  # its reason code: "Overridden" or "WriteRefused"
    # The hour after a "no" (``quiet_why`` None): the scheduled floor the "no" was to,
    # None when it was to a forecast's floor. Only a "no" to a schedule's own floor
    # keeps that schedule's raise back (``_quiet``).
    quiet_no: str | None = None
    # Whether the floor (or the replicas) in the cluster is someone else's: set when an
    # override or replicas set after the HPA went are found (or read back from the
    # ledger), cleared at the first decision after the wait. While set, the scale-in
    # pace starts from the cluster's value, higher or lower than the loop's own.
    theirs: bool = False
    gap_since: float | None = None  # held for a gap in the load series: its newest sample
    # When this loop last saw an HPA scaling the workload, its name, and the workload's
    # last change by someone then (``managed_by_human_at``, the API server's clock): a
    # workload changed by someone after its HPA went is theirs for a while
    # (``_taken_over``).
    hpa_seen: tuple[float, str, float | None] | None = None
    taken_read: bool = False  # the ledger's record of such a hold looked at (a new leader)
    # The remediation decision last said to hold the workload's floor (logged once).
    remedy_said: str | None = None
    # Since when fewer pods are ready than the spec asks for (None: all are), when its
    # pods were last looked at for ones the cluster cannot place, and what was said.
    short_since: float | None = None
    unplaced_checked: float = -math.inf
    unplaced_said: str | None = None
    # (when, spec replicas) at each decided cycle of the last ``MAX_POLICY_PERIOD``: the
    # replicas at the start of an HPA scale-up policy's period (``_hpa_pace``).
    replicas_seen: deque[tuple[float, int]] = field(default_factory=deque)

    @property
    def spike_streak(self) -> int:
        """Consecutive new samples that looked like a glitch."""
        return self.glitch.streak


@dataclass(frozen=True, slots=True)
class _Remedy:
    """A remediation decision still open (``REMEDIATION_OPEN``, or its intent pending)
    whose plan writes the minReplicas of an HPA or the replicas of a workload: what it
    sets (``to``), what its compare-and-set expects to find (``expected``, None: no
    check), and whether its write is still to come (``unwritten``)."""

    decision_id: str
    runbook: str
    status: str
    to: int
    expected: int | None
    unwritten: bool


@dataclass(frozen=True, slots=True)
class _Recalled:
    """What the ledger says of a workload's HPA to a process that never saw it
    (``_recall_hpa``): when the loop last wrote or decided its floor, the HPA's name,
    which of the two (``what``), the decision (``by``, for the message), and what the
    workload's managedFields said then."""

    at: float
    hpa: str
    what: str
    by: str
    # The workload's last change by someone as the loop read it then (managedFields, the
    # API server's clock; None: none), and whether the record kept it at all (older
    # ones did not: then ``at``, this process's clock, is all there is).
    changed_then: float | None
    dated: bool


@dataclass
class Verification:
    """An applied floor, watched until ``until`` for whether it was right.

    A raised floor is right when the load it was raised for came: a floor sized from the
    load that came (``ceil(load x (1 + margin) / capacity)`` at its peak over the window,
    ``peak_need``) is above the old floor; otherwise the old floor would have done, and
    the raise is recorded as unneeded (a cost, not an error: see ``_judge``). A lowered
    floor is right when the workload was never short of ready pods for more than
    ``SHORT_ALLOWED`` cycles in the window (load above ready pods x capacity)."""

    decision_id: str
    before: int
    after: int
    until: float
    reactive: bool = False  # a step down while the forecast was not used: no verdict
    # The scheduled floor (``scaling.scheduledFloors``) that set it: a person's
    # instruction, not a forecast, so no verdict either.
    scheduled: str | None = None
    # The HPA's own minimum of 0 given back (``_zero_back``): no forecast's step either.
    given_back: bool = False
    peak_need: int = 0
    short_cycles: int = 0
    cycles: int = 0
    # The last read that failed in the window (Prometheus down, say), for a floor judged
    # on no sample to say so rather than "no usable load sample".
    unread: str = ""
    # The load query the floor was decided on (None: not known, a record from before it
    # was kept), and another one the workload's load was read with during the window
    # (its load query changed): loads in two units cannot judge the floor.
    query: str | None = None
    requeried: str | None = None


@dataclass
class ScalingStatus:
    held: dict[str, str] = field(default_factory=dict)  # workload -> why
    # workload -> the reason code of its hold (``HOLD_REASONS``), as the gauge
    # ``autonomic_scaling_held{workload, reason}`` publishes it
    held_reason: dict[str, str] = field(default_factory=dict)
    # workload -> "Reason: sentence" while its forecast is not used (the HPA decides, or
    # without an HPA the replicas follow the current load)
    reactive: dict[str, str] = field(default_factory=dict)
    # workload -> why its floor is published and never written: its HPA is managed by
    # another controller (a KEDA ScaledObject) that would put its own minReplicas back
    managed: dict[str, str] = field(default_factory=dict)
    # workload -> how many of its pods the cluster cannot place (Pending, Unschedulable),
    # since when and the scheduler's words: pods a floor asked for that are no capacity
    unplaced: dict[str, str] = field(default_factory=dict)
    # workload -> the scheduled floor that sets its floor now, in words
    scheduled: dict[str, str] = field(default_factory=dict)
    # "schedule: workload" -> why a scheduled floor names a workload the loop does not scale
    unscheduled: dict[str, str] = field(default_factory=dict)
    # workload -> what each of its HPA's metrics proposes and which decides, as the HPA's
    # last reported status implies (``forecasting.hpa_metrics``): explanation only
    hpa_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    # workload -> its live model's latest drift check: recent MASE, interval coverage at
    # the band's level, outcomes judged and the verdict's reason (absent until checked)
    accuracy: dict[str, dict[str, Any]] = field(default_factory=dict)
    decisions: int = 0
    breaches: int = 0


class ScalingLoop:
    def __init__(
        self,
        settings: LoopSettings,
        *,
        reader: MetricsReader,
        cluster: ClusterReader,
        decisions: DecisionService,
        executor: Executor,
        clock: Clock,
        submit: Callable[[Sequence[Signal]], None],
        opt_in_label: str = "autonomic.dev/enabled",
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        margin: float = 0.2,
        metrics: Metrics | None = None,
        paused: Callable[[], str | None] = lambda: None,
        stale_after: float = 300.0,
        leader_term: Callable[[], int] = lambda: 1,
    ) -> None:
        self.settings = settings
        # The leadership term this replica is in (``LeaderGate.term``): a new one means
        # another replica may have led in between, and what this one kept of the ledger
        # (the floors written, the overrides counted) is read from it again.
        self.leader_term = leader_term
        self._term: int | None = None
        # ``prometheus.staleAfter``: a load sample older than this is not acted on (a gap
        # in the series that long holds the workload; a shorter one is read past).
        self.stale_after = stale_after
        self.metrics = metrics
        # The floor sizes from the forecast's ``quantile``: the upper end of the central
        # interval at level 2q - 1 (q = 0.9 -> the 80 % interval), to half a percent.
        self.level = settings.interval_level()
        self.levels = tuple(sorted({self.level, BREACH_LEVEL}))
        self.paused = paused
        self._pause: str | None = None  # the pause in force at the current cycle
        self._cycles = 0
        # Questions a previous process asked (or saw approved) and did not settle, by
        # workload: read once, at the first cycle, and picked up by each workload's model;
        # those of workloads out of predictive scaling are let go of as that process
        # would have (``_drop_inherited``, ``_forget``).
        self._inherited: dict[str, Any] | None = None
        self._unjudged: dict[str, list[Any]] = {}  # applied floors not yet judged, likewise
        self._published: set[str] = set()  # workloads with gauges
        self._held_published: set[tuple[str, str]] = set()  # (workload, reason) series
        self._accuracy_published: dict[str, str] = {}  # workload -> its coverage's level
        # Workloads that left and whose model was dropped once their floor was settled
        # (``_forget``): not taken up again by ``_adopt_left`` while they stay listed.
        self._let_go: set[str] = set()
        # Since when each workload with something kept (a model, a hold) has been out of
        # predictive scaling: left, deleted, or missing from the listing (``_forget``).
        self._out_since: dict[str, float] = {}
        self._said: dict[str, str] = {}  # the hold last logged per workload
        # Deployments a Rollout takes its pod template from (spec.workloadRef) -> that
        # Rollout, as of this cycle's listing: never scaled themselves.
        self._templates: dict[ObjectRef, ObjectRef] = {}
        # workload -> its HPA's metrics explained this cycle (``_explain_hpa``)
        self._explained: dict[str, MetricsBreakdown] = {}
        # workload -> the error its HPA's metrics last could not be explained for
        self._unexplained: dict[str, str] = {}
        # workload -> its HPA's uid and, one a cycle, the count its metrics led to and its
        # replicas: what the HPA's stabilization and rate rules are applied to
        # (``afterRules``); the HPA itself samples every 15 s, so this is approximate.
        self._hpa_seen: dict[str, tuple[str, list[RulesSample]]] = {}
        # Questions let go of when their workload left or turned forecast-only, with why:
        # closed as superseded once approved (``_close_dropped``).
        self._dropped: dict[str, tuple[str, str]] = {}
        # This cycle's listing, and the newest floor decision of each workload in it not
        # looked at yet, read once a cycle when one needs it (``_latest``), or the error.
        self._listing: Sequence[WorkloadState] = ()
        self._history: dict[str, Any] | TransientError | None = None
        # The remediation decisions still open that write a floor or replicas, by the
        # object they write (an HPA, a workload), read once a cycle when a floor is about
        # to change (``_remedies``), or the error.
        self._remedies: dict[str, list[_Remedy]] | TransientError | None = None
        self.reader = reader
        self.cluster = cluster
        self.decisions = decisions
        self.executor = executor
        self.clock = clock
        self.submit = submit
        self.opt_in_label = opt_in_label
        self.thresholds = thresholds
        self.margin = margin
        self.models: dict[ObjectRef, WorkloadModel] = {}
        self.status = ScalingStatus()
        self._refits_left = 0  # refits this cycle may still do
        # When Prometheus last stored a sample of any series, asked once a cycle; None
        # when the reader cannot tell (the simulation's store, a backend without it).
        self._stored: float | None = None
        self._measures_left = 0  # start-up measurements this cycle may still do
        # Refits on a changed load query or history cut this cycle may still do, and the
        # workloads whose change waits for a later cycle, by what changed.
        self._change_refits_left = 0
        self._change_refits_waiting: dict[str, int] = {}
        # Of those, the ones whose refit never failed to read: this cycle's count, and the
        # last cycle's (while it is above 0, one whose refit could not read yields to them).
        self._change_queued = self._change_queued_before = 0
        days = round(settings.profile_history / 86400.0)
        self.forecaster = SeasonalProfile(
            ProfileSettings(
                history_periods=days, strength_within_period=settings.shape_only_seasonality
            )
        )
        # A fit reads only the last ``history_periods`` periods (a week of minutes by
        # default) and ``advance`` the last ``RECENT`` points: read no more at a refit.
        profile = self.forecaster.settings
        self.keep = max(profile.history_periods * profile.period_seconds, RECENT * STEP)

    def cycle(self) -> None:
        now = self.clock.now()
        # A refit reads days of load: models fitted in the same (first) cycle fall due
        # in the same cycle later, so each cycle refits at most its share of the models
        # (a first fit is never held back); the others keep re-anchoring their level and
        # refit in the next cycles, and their refits spread out.
        share = len(self.models) * self.settings.period / (REFIT_SPREAD * self.settings.refit_every)
        self._refits_left = max(1, math.ceil(share))
        self._measures_left = MEASURES_PER_CYCLE
        self._change_refits_left, self._change_refits_waiting = CHANGE_REFITS_PER_CYCLE, {}
        self._change_queued_before, self._change_queued = self._change_queued, 0
        self._cycles += 1
        term = self.leader_term()
        if term != self._term:
            if self._term is not None:
                self._new_term()
            self._term = term
        self._stored = (
            self.reader.newest_sample() if isinstance(self.reader, IngestionClock) else None
        )
        pause = self.paused()
        if pause != self._pause:
            if pause:
                log.warning("scaling paused (%s): forecasting and metrics go on, no writes", pause)
            else:
                log.info("scaling resumed")
            self._pause = pause
        seen: set[str] = set()
        # Workloads whose floor the loop may have to give back: those that left, with
        # "OptedOut", and those now forecast-only, with "ForecastOnly".
        left: list[tuple[WorkloadState, str]] = []
        self._load_inherited()
        unread: list[UnreadObject] = []
        workloads = (
            self.cluster.list_workloads(unread=unread)
            if isinstance(self.cluster, UnreadReporter)
            else self.cluster.list_workloads()
        )
        self._listing, self._history, self._remedies = workloads, None, None
        listed = {str(workload.ref) for workload in workloads}
        # Left out as unreadable: there, so neither gone nor out (``_unreadable``).
        unreadable = self._unreadable(unread)
        self._templates = {
            ObjectRef("Deployment", w.template_from, w.ref.namespace): w.ref
            for w in workloads
            if w.ref.kind == "Rollout" and w.template_from
        }
        self._let_go &= listed | {str(item.ref) for item in unread}
        if self._cycles % ADOPT_EVERY == 1:
            self._adopt_left(workloads)
        not_opted_in: set[str] = set()
        for workload in workloads:
            if self.executor.stopping():
                # Shutting down: no further decision or write; the next leader's loop
                # reads the cluster afresh and goes on.
                log.info("scaling: shutting down: the rest of this cycle is left")
                return
            wish = workload.annotations.get(PREDICTIVE)
            if workload.labels.get(self.opt_in_label) != "true" or wish is None or wish == "false":
                if workload.ref in self.models:
                    left.append((workload, "OptedOut"))
                elif wish in ("true", FORECAST_ONLY):
                    # Asked for, and not opted in (the label missing or mistyped): said,
                    # or nothing would tell why it is never scaled.
                    not_opted_in.add(str(workload.ref))
                    self._hold(workload.ref, "NotOptedIn", self._not_opted_in(workload, wish))
                continue
            seen.add(str(workload.ref))
            self._let_go.discard(str(workload.ref))
            self._explain_hpa(workload)  # held or not, said in ``GET /scaling``
            known = self.models.get(workload.ref)
            if known is not None and wish != FORECAST_ONLY:
                # back in (or never gone): nothing to give back
                known.released, known.releasing = False, None
            if wish not in ("true", FORECAST_ONLY):
                self._hold(
                    workload.ref,
                    "BadAnnotation",
                    f"{PREDICTIVE}={wish!r} is not 'true', '{FORECAST_ONLY}' or 'false': "
                    "staying reactive",
                )
                continue
            forecast_only = wish == FORECAST_ONLY
            turned = (
                f"{workload.ref} turned {PREDICTIVE}: {FORECAST_ONLY}, which publishes the "
                "floor and never writes it"
            )
            if forecast_only and known is not None and known.pending != known.releasing:
                # A question about a floor to write, open when the workload turned
                # forecast-only, is not carried out, as when it leaves.
                self._drop(known, FORECAST_ONLY, turned)
            elif forecast_only and known is None:
                self._drop_inherited(str(workload.ref), FORECAST_ONLY, turned)  # likewise
            try:
                self._one(workload, now, forecast_only=forecast_only)
            except (TransientError, PermanentError) as exc:
                # One hold for the whole outage, whatever the error's words (refused,
                # then timed out, by turns): the reader's own log summarises it.
                self._hold(workload.ref, "ReadFailed", str(exc), kind="ReadFailed")
                for check in known.verifying if known is not None else ():
                    check.unread = str(exc)
            except Exception as exc:
                self._failed(workload.ref, exc)
            if forecast_only and workload.ref in self.models:
                left.append((workload, "ForecastOnly"))
        for workload, why in left:
            try:
                self._release(workload, self.models[workload.ref], now, reason=why)
            except (TransientError, PermanentError) as exc:
                log.warning("%s: its floor could not be given back yet: %s", workload.ref, exc)
            except Exception as exc:
                self._failed(workload.ref, exc)
        for name in listed - seen - {str(ref) for ref in self.models}:
            # Listed and out (opted out) with no model here: a question a previous process
            # left about it is let go of as ``_release`` would.
            self._drop_inherited(name, "workload opted out", f"{name} left predictive scaling")
        self._close_dropped(now)
        self._forget(seen, listed, now, unreadable)
        kept = seen | set(unreadable)  # an unreadable workload keeps its gauges and mode
        self._forget_gauges(kept)
        for name in set(self.status.reactive) - kept:
            del self.status.reactive[name]  # opted out or gone: no stale status
        for name in set(self.status.accuracy) - kept:
            del self.status.accuracy[name]
        for name in (set(self.status.held) & listed) - seen - not_opted_in:
            # Left predictive scaling: a hold on its forecast or its reads is over; one on
            # giving its floor back (a write refused, unsettled) is not.
            if self.status.held_reason.get(name) not in WRITE_HOLDS:
                self._unheld(name)
        self._held_gauges(listed | set(unreadable))
        for name in set(self.status.managed) - kept:
            del self.status.managed[name]
        for name in set(self.status.hpa_metrics) - seen:
            del self.status.hpa_metrics[name]
            self._explained.pop(name, None)
        for name in set(self._hpa_seen) - seen:
            del self._hpa_seen[name]
        for name in set(self._unexplained) - seen:
            del self._unexplained[name]
        for name in set(self.status.unplaced) - seen:
            del self.status.unplaced[name]
        for name in set(self.status.scheduled) - seen:
            del self.status.scheduled[name]
        self._unmatched_schedules(workloads, seen, unread)
        if self._change_refits_waiting:
            log.info(
                "scaling: %d workloads wait for their refit (%s; at most %d a cycle); each "
                "keeps its current model until then, read with its old load query and "
                "fitted from its old history-since",
                sum(self._change_refits_waiting.values()),
                ", ".join(f"{n} {what}" for what, n in self._change_refits_waiting.items()),
                CHANGE_REFITS_PER_CYCLE,
            )
        late = now - 2 * self.settings.period
        for model in self.models.values():
            if any(check.until <= late for check in model.verifying):
                # Its workload was held, opted out or gone while a floor was being judged:
                # judge what was seen, so no decision is left "verifying" for good.
                self._judge_overdue(model, late)
        self._listing, self._history, self._remedies = (), None, None  # not kept

    def _explain_hpa(self, workload: WorkloadState) -> None:
        """Work out what each metric of the workload's HPA proposes, from the HPA's last
        reported status, for ``GET /scaling`` (``hpaMetrics``) and the evidence of a
        decision made for it this cycle. Explanation only: nothing is decided on it, and
        an HPA that cannot be read leaves the workload unexplained (its turn says why)."""
        ref = workload.ref
        name = str(ref)
        try:
            hpa = self.cluster.get_hpa_for(ref)
            breakdown = (
                explain_metrics(
                    hpa.metrics,
                    hpa.current_replicas,
                    status_replicas=workload.status_replicas,
                    ready_replicas=workload.ready_replicas,
                    tolerance_up=hpa.tolerance_up,
                    tolerance_down=hpa.tolerance_down,
                )
                if hpa is not None and hpa.metrics
                else None
            )
            shown = {"hpa": str(hpa.ref), **breakdown.as_dict()} if hpa and breakdown else None
            if hpa is not None and breakdown is not None and shown is not None:
                shown["afterRules"] = self._after_rules(workload, hpa, breakdown)
        except (TransientError, PermanentError):
            breakdown, shown = None, None
        except Exception as exc:
            # Called outside the workload's guarded turn: an error here (a bug) would end
            # the cycle for every workload after it. Left unexplained; its turn reads
            # the HPA again and is held if that fails too.
            if self._unexplained.get(name) != repr(exc):  # logged once per error
                log.warning("%s: its HPA's metrics could not be explained: %r", ref, exc)
                self._unexplained[name] = repr(exc)
            breakdown, shown = None, None
        else:
            self._unexplained.pop(name, None)
        if breakdown is None or shown is None:
            self.status.hpa_metrics.pop(name, None)
            self._explained.pop(name, None)
            return
        self._explained[name] = breakdown
        self.status.hpa_metrics[name] = shown

    def _after_rules(
        self, workload: WorkloadState, hpa: HpaState, breakdown: MetricsBreakdown
    ) -> dict[str, object] | None:
        """What the HPA's own rules (min/max, stabilization, ``behavior`` rate policies)
        do to the count its metrics lead to, from this cycle's sample and those of the
        cycles before (``forecasting.hpa_after_rules``); then this cycle's sample is kept.
        None when the HPA's bounds are ones the API server would refuse."""
        name, now = str(workload.ref), self.clock.now()
        uid, samples = self._hpa_seen.get(name, ("", []))
        if uid != f"{hpa.ref}/{hpa.uid}":  # another HPA (or a new one): its own history
            uid, samples = f"{hpa.ref}/{hpa.uid}", []
        model = self.models.get(workload.ref)
        record = model.written if model is not None else None
        # The minReplicas Autonomic last wrote (as this process knows it): its floor.
        ours = (
            record is not None
            and _field(record) == MIN_FIELD
            and _written_value(record) == hpa.min_replicas
        )
        rules = HpaRules(
            min_replicas=hpa.min_replicas,
            max_replicas=hpa.max_replicas,
            scale_up_window=float(hpa.scale_up_window or 0),
            scale_down_window=(
                300.0 if hpa.scale_down_window is None else float(hpa.scale_down_window)
            ),
            scale_up_policies=_rate_rules(hpa.scale_up_policies, up=True),
            scale_down_policies=_rate_rules(hpa.scale_down_policies, up=False),
            scale_up_select=_select(hpa.scale_up_select),
            scale_down_select=_select(hpa.scale_down_select),
            floor_is_autonomic=ours,
            behavior=hpa.behavior,
        )
        current = breakdown.current_replicas
        try:
            result = after_rules(
                breakdown.replicas,
                current,
                now,
                rules,
                samples,
                held_by_missing=breakdown.held_by_missing,
            )
        except ValueError:
            return None
        # The controller records a proposal only when it got as far as its metrics and
        # they gave one: not at 0 replicas, above maxReplicas or below minReplicas (it
        # sets the bound without reading them), nor when a missing reading stops it.
        proposal = breakdown.replicas if result.reason not in _NOT_RECORDED else None
        # Kept as long as the longest window or policy period can look back, and a cycle.
        keep = max(
            [rules.scale_up_window, rules.scale_down_window]
            + [p.period_seconds for p in rules.scale_up_policies + rules.scale_down_policies]
        )
        kept = [s for s in samples if now - keep - self.settings.period <= s.at < now]
        kept.append(RulesSample(now, proposal, current))
        self._hpa_seen[name] = (uid, kept[-HPA_SAMPLES_KEPT:])
        return result.as_dict()

    def report(self) -> dict[str, Any]:
        """The loop's status as ``GET /scaling`` shows it: each workload held (reason code
        and sentence), reactive (reason and sentence) or whose floor is only published
        because another controller owns its HPA, and each live model's accuracy as its
        latest drift check measured it."""
        reasons = dict(self.status.held_reason)
        return {
            "held": {
                name: {"reason": reasons.get(name, ""), "why": why}
                for name, why in sorted(dict(self.status.held).items())
            },
            "reactive": dict(sorted(dict(self.status.reactive).items())),
            "managed": dict(sorted(dict(self.status.managed).items())),
            "unplaced": dict(sorted(dict(self.status.unplaced).items())),
            "scheduled": dict(sorted(dict(self.status.scheduled).items())),
            "scheduleUnmatched": dict(sorted(dict(self.status.unscheduled).items())),
            "hpaMetrics": dict(sorted(dict(self.status.hpa_metrics).items())),
            "accuracy": dict(sorted(dict(self.status.accuracy).items())),
        }

    def _forget(
        self, inside: set[str], listed: set[str], now: float, unreadable: Mapping[str, str]
    ) -> None:
        """Drop what is kept for a workload (its model, its hold and the hold last said)
        once it has been out of predictive scaling for ``FORGET_AFTER``: deleted (no
        longer listed), or left with its floor settled (given back, or nothing to give).
        Out for less (a listing that missed it for a while), it keeps everything, and a
        workload that left keeps its model until its floor is settled. A floor still
        being judged is judged on what was seen; an approved question not carried out
        fails (nothing will carry it out now). So does one a previous process left about
        a workload no model here has taken up in that time (not listed since this
        process started, or a give-back ``_adopt_left`` did not take up).

        A workload left out of the listing as unreadable (``unreadable``: name -> the
        adapter's reason) is there, not gone: its model and an approved question are kept
        for ``UNREAD_KEEP``, then dropped (the question failed with the reason it could
        not be read), and its hold stays while it cannot be read."""
        models = {str(ref): ref for ref in self.models}
        inherited = self._inherited or {}
        out = (set(models) | set(self._said) | set(self.status.held) | set(inherited)) - inside
        for name in set(self._out_since) - out:
            del self._out_since[name]  # back in, or nothing kept
        ledger = self.decisions.ledger
        for name in out:
            since = self._out_since.setdefault(name, now)
            why = unreadable.get(name)
            if now - since < (FORGET_AFTER if why is None else UNREAD_KEEP):
                continue
            ref = models.get(name)
            pending = None
            if ref is not None:
                model = self.models[ref]
                if name in listed and not (model.released and model.pending is None):
                    continue  # left, and its floor is still being given back
                self._judge_overdue(model, math.inf)
                pending = model.pending
                del self.models[ref]
                if name in listed:
                    self._let_go.add(name)
            elif name in inherited:
                pending = inherited.pop(name).id
            if pending is not None:
                hours = f"{(now - since) / 3600:.0f} h"
                reason, text = (
                    (
                        "OutOfScaling",
                        f"not carried out: {name} has been out of predictive scaling for {hours}",
                    )
                    if why is None
                    else (
                        "ReadFailed",
                        f"not carried out: {name} could not be read for {hours} ({why})",
                    )
                )
                # Closed with its why in one transaction (``autonomic explain`` shows it):
                # it used to be closed with no ``execution`` row, its reason only in the
                # question's thread.
                detail = {"reason": reason, "why": text}
                row = Feedback(pending, "execution", "failed", "autonomic", detail)
                if ledger.transition(pending, ["approved"], "failed", now, feedback=[row]):
                    self.decisions.progress(pending, text, final=True)
            if why is not None:
                continue  # still there: held while it cannot be read, nothing left to drop
            self._said.pop(name, None)
            self._unheld(name)
            del self._out_since[name]

    def _unreadable(self, unread: Sequence[UnreadObject]) -> dict[str, str]:
        """The workloads the listing left out because they came in a shape that cannot be
        read (``UnreadObject``), of those the loop keeps something of (a model, a hold, a
        question a previous process left): name -> the adapter's reason. Each is held
        ``ReadFailed`` with that reason, as a workload whose HPA cannot be read is: there,
        not gone, so nothing is decided or written for it, its floor stays as it is, and
        its model is kept (``_forget``: up to ``UNREAD_KEEP``); a floor being judged is
        judged on what was seen, saying why no more was. It goes on once it reads again.
        One the loop knows nothing of is not held: whether it is opted in cannot be told.
        Known includes, after a restart, a workload whose floor an earlier process wrote
        (the ledger's written-floor record, what ``_adopt_left`` looks at) or applied and
        had not judged: unread at the first listing, it has no model here yet, and its
        raised floor would stay with nothing saying why."""
        if not unread:
            return {}
        known = {str(ref) for ref in self.models} | set(self.status.held)
        known |= set(self._inherited or {}) | set(self._unjudged)
        prefix = f"{WRITTEN_KEY}/"
        known |= {key.removeprefix(prefix) for key in self.decisions.ledger.guard_keys(prefix)}
        found: dict[str, str] = {}
        for item in unread:
            name = str(item.ref)
            if not item.ref.name or name not in known:
                continue
            found[name] = item.why
            self._hold(
                item.ref,
                "ReadFailed",
                f"{item.ref} is in the cluster but could not be read ({item.why}): not "
                "taken for gone; nothing is decided or written for it and its floor stays "
                f"as it is; what was learned of it is kept for up to {UNREAD_KEEP / 3600:.0f} "
                "h, and it goes on once it reads again",
                kind=f"unread: {item.why}",
            )
            model = self.models.get(item.ref)
            for check in model.verifying if model is not None else ():
                check.unread = item.why
        return found

    def _adopt_left(self, workloads: Sequence[WorkloadState]) -> None:
        """Take up workloads that left predictive scaling while no model of them was in
        this process (a restart, a new leader) but whose HPA floor an earlier process
        wrote: ``_release`` then looks at them like any other that left."""
        keys = set(self.decisions.ledger.guard_keys(f"{WRITTEN_KEY}/"))
        if not keys:
            return
        for workload in workloads:
            name = str(workload.ref)
            if workload.ref in self.models or f"{WRITTEN_KEY}/{name}" not in keys:
                continue
            wish = workload.annotations.get(PREDICTIVE)
            opted_in = workload.labels.get(self.opt_in_label) == "true"
            if opted_in and wish not in (None, "false", FORECAST_ONLY):
                continue  # still in: its own cycle makes its model
            if name in self._let_go:
                continue  # settled before its model was dropped
            self.models[workload.ref] = self._new_model(workload.ref)

    def _new_term(self) -> None:
        """This replica leads again after another may have led: the written-floor
        records it kept are read from the ledger again at their next look (``_written``),
        with the overrides in a row they count (``_restore_overrides``). Kept, a record
        of its own from before hid another leader's since whenever the cluster showed a
        value it had known (a person who set the same value again): it took the hold
        that leader set on their change for its own one, long over, and wrote over it."""
        for model in self.models.values():
            model.written, model.overrides_read = None, False

    def _written(
        self,
        ref: ObjectRef,
        model: WorkloadModel,
        seen: int | None = None,
        *,
        fresh: bool = False,
        field: str = MIN_FIELD,
    ) -> dict[str, Any] | None:
        """The record of the ``field`` (the HPA's minReplicas, or without an HPA the
        replicas) this loop last wrote for ``ref`` (this process, or the ledger's record
        of an earlier one), or None: also when what it last wrote was the other field (an
        HPA created or deleted since: the HPA moves the replicas, and a minReplicas
        written is no statement about them). Read from the ledger at first, when
        ``fresh``, and again when the cluster shows a value (``seen``) the record does not
        know: another replica may have written since (this one lost the lease and got it
        back), and a value it changed is not someone else's."""
        record = model.written
        known = (
            (_written_value(record), record.get("found"))
            if record and _field(record) == field
            else ()
        )
        if record is None or fresh or (record and seen not in known):
            value, _ = self.decisions.ledger.guard(f"{WRITTEN_KEY}/{ref}")
            read = value if _written_value(value) is not None else {}
            if record and read != record:
                # Another replica wrote since (this one lost the lease and got it back):
                # its count of overrides in a row is the one to go on from.
                model.overrides_read = False
            record = model.written = read
        return record if record and _field(record) == field else None

    def _remember_written(self, ref: ObjectRef, record: dict[str, Any], now: float) -> bool:
        key = f"{WRITTEN_KEY}/{ref}"
        ledger = self.decisions.ledger
        try:
            for _ in range(3):  # another replica's write in between: read again
                _, version = ledger.guard(key)
                if ledger.put_guard(key, record, version, now):
                    return True
        except TransientError as exc:  # the write is done; only its memory is missing
            log.warning("%s: could not record the floor written (%s)", ref, exc)
        return False

    def _overridden(
        self, workload: WorkloadState, model: WorkloadModel, hpa: HpaState | None, now: float
    ) -> None:
        """Notice a value this loop wrote that someone else has changed since: the HPA's
        minReplicas (a person with ``kubectl edit``, a GitOps controller putting its own
        back) or, without an HPA, the replicas (``kubectl scale``, a runbook's scale-out).
        Say so once, record it against the decision that wrote the value, and write none
        for the workload for ``QUIET_AFTER_OVERRIDE`` (doubled at each override in a
        row). Theirs stands meanwhile; the loop goes on forecasting and publishing. Fought
        instead, a controller that reverts every write would meet a decision and a write
        every other cycle, each undone.

        Without an HPA nothing but the loop moves the replicas, so a value other than the
        one written is someone else's, with the same exceptions as for an HPA: the watch
        may show a write a cycle late, and a record of the other field is no statement
        (an HPA created since moves the replicas; after an HPA is deleted, the replicas
        are what it left, not the minReplicas written), and an object deleted and created
        again (another uid) starts with its owner's values, not someone's override.

        Nor is the loop's own write whose record was cut off (a process killed after the
        write, before ``_remember_written``): the record is then the write before it, and
        the value shown is the one the followed-up decision's intent wrote
        (``_cut_write``). A value other than that one is someone's change to the cut-off
        write, the last one Autonomic made: the override names it (its value and
        decision), and the hold is stored on its record, which ``_apply``, following the
        decision up later in the cycle, keeps rather than writing it afresh without the
        hold (a restart within the hour would not have held the workload)."""
        ref = workload.ref
        if hpa is not None and hpa.controller is not None:
            return
        if now < model.quiet_until:
            return
        field = MIN_FIELD if hpa is not None else REPLICAS_FIELD
        found = hpa.min_replicas if hpa is not None else workload.replicas
        record = self._written(ref, model, found, field=field)
        written = _written_value(record) if record is not None else None
        if record is None or written is None:
            if hpa is None:
                self._taken_over(workload, model, now)
            return
        self._restore_overrides(model, record, now)
        at = float(record.get("at", -math.inf))
        uid = str(record.get("hpa_uid" if hpa is not None else "workload_uid") or "")
        now_uid = hpa.uid if hpa is not None else workload.uid
        if now - at < 2 * self.settings.period or (uid and now_uid and uid != now_uid):
            return  # the watch may lag a cycle; a new HPA (or workload) is not an override
        # Someone's write of minReplicas after Autonomic's (managedFields), whatever the
        # value: the one Autonomic wrote, put back by a GitOps tool, is theirs as well.
        set_by = (
            (hpa.min_set_by, hpa.min_set_at)
            if hpa is not None and hpa.min_set_by is not None and hpa.min_set_at is not None
            else None
        )
        if (
            found == written
            and set_by is not None
            and record.get("unchanged") is True
            and _stored_set_by(record) is None
        ):
            # The loop's write found its value there and wrote nothing (an Update that
            # sets a field to the value it has takes no ownership): the manager owning
            # the field set it before the loop's write, not since. Noted as the write's
            # setter, so that only a later write of theirs, or anyone's, is an override.
            noted = {**record, "set_by": set_by[0], "set_at": set_by[1]}
            if self._remember_written(ref, noted, now):
                model.written = noted
            return
        flagged = record.get("quiet_until")
        held = isinstance(flagged, int | float) and now < flagged
        if found == written and (set_by is None or (_said_of(record, set_by) and not held)):
            if set_by is None and now - at >= QUIET_AFTER_OVERRIDE:
                model.overrides = 0  # a written value that stood: the count starts again
            return  # the loop's own value (or their write of it, held for already)
        if isinstance(flagged, int | float):  # flagged by this or an earlier leader
            if now < flagged:
                # Held as the process that saw the change held it: the same reason and
                # sentence (rebuilt from the stored hold), so it is said in
                # ``status.held`` and keeps a scheduled raise back as well (``_quiet``
                # lets one through when ``quiet_why`` is None: the hour after a "no").
                at_flag = record.get("overridden_at")
                was = record.get("found")
                why = self._override_why(
                    ref,
                    hpa,
                    was if isinstance(was, int) else found,
                    written,
                    record.get("decision_id"),
                    float(flagged) - (float(at_flag) if isinstance(at_flag, int | float) else now),
                    float(flagged),
                    _stored_set_by(record),
                )
                model.quiet_until, model.quiet_why = float(flagged), why
                model.quiet_reason, model.theirs = "Overridden", True
            return
        cut = self._cut_write(ref, model, hpa, now_uid)
        if cut is not None:
            value, cut_id, at = cut
            if value == found or now - at < 2 * self.settings.period:
                return  # the write of the decision followed up, not yet recorded: ours
            # Changed since the cut-off write: theirs is a change to that one.
            record = self._write_record(workload, hpa, cut_id, value, at)
            written = value
        model.overrides += 1
        quiet = min(QUIET_AFTER_OVERRIDE * 2 ** (model.overrides - 1), MAX_QUIET_AFTER_OVERRIDE)
        until = now + quiet
        decision_id = record.get("decision_id")
        why = self._override_why(ref, hpa, found, written, decision_id, quiet, until, set_by)
        log.warning("scaling %s: %s", ref, why)
        model.quiet_until, model.quiet_why, model.quiet_reason = until, why, "Overridden"
        model.theirs = True
        flag = {**record, "overridden_at": now, "found": found, "quiet_until": until}
        flag["overrides"] = model.overrides
        flag.pop("set_by", None)
        flag.pop("set_at", None)
        if set_by is not None:
            flag["set_by"], flag["set_at"] = set_by
        if self._remember_written(ref, flag, now):
            model.written = flag
        ledger = self.decisions.ledger
        if isinstance(decision_id, str) and ledger.get_decision(decision_id) is not None:
            detail = {"field": field, "written": written, "found": found, "why": why}
            if set_by is not None:
                detail["by"] = set_by[0]
            ledger.add_feedback(decision_id, "execution", "overridden", "cluster", now, detail)
            self.decisions.progress(decision_id, f"overridden: {why}")

    @staticmethod
    def _restore_overrides(
        model: WorkloadModel, record: Mapping[str, Any] | None, now: float
    ) -> None:
        """Read back the overrides in a row a written-floor record keeps (``overrides``:
        stored with each override and carried to each write after it), so a repeat
        override is held as long as the process that counted the others would hold it,
        not one ``QUIET_AFTER_OVERRIDE`` again: once per model (a restart, a new leader),
        and again when ``_written`` reads a record another replica wrote since (this one
        lost the lease and got it back: its own count is stale, higher or lower). None
        stored is none counted (0). Not a record's count whose value has stood
        ``QUIET_AFTER_OVERRIDE`` since it was written with no override: ``_overridden``
        starts the count again then."""
        if model.overrides_read or not record:
            return
        model.overrides_read = True
        stored, at = record.get("overrides"), record.get("at")
        if not isinstance(stored, int) or isinstance(stored, bool) or stored < 0:
            stored = 0
        stood = "quiet_until" not in record and (
            not isinstance(at, int | float) or now - at >= QUIET_AFTER_OVERRIDE
        )
        model.overrides = 0 if stood else stored

    @staticmethod
    def _override_why(
        ref: ObjectRef,
        hpa: HpaState | None,
        found: int,
        written: int,
        decision_id: object,
        quiet: float,
        until: float,
        set_by: tuple[str, float] | None = None,
    ) -> str:
        """What ``_overridden`` says of someone's ``found`` over the ``written`` value:
        by the process that saw the change, and by one that reads its hold back. With
        ``set_by`` (the field manager that wrote minReplicas after Autonomic, and when:
        managedFields) it names them, and says so of the value Autonomic wrote too."""
        by = f" (decision {decision_id})" if decision_id else ""
        if hpa is not None:
            who = (
                f'field manager "{set_by[0]}", {to_utc_text(set_by[1])}'
                if set_by is not None
                else "a person, a GitOps controller putting its own back, or a "
                "remediation runbook's scale-out"
            )
            if found == written and set_by is not None:
                what = (
                    f"{hpa.ref} minReplicas is {found}, as Autonomic wrote{by}, but written "
                    f"since by someone else ({who})"
                )
            else:
                what = (
                    f"{hpa.ref} minReplicas is {found}, not the {written} Autonomic "
                    f"wrote{by}: changed by someone else ({who})"
                )
            return (
                f"{what}; theirs stands: no floor is "
                f"written for {quiet / 60:.0f} min, until {to_utc_text(until)}. If a "
                f"controller owns minReplicas, let it ignore the field, or set {PREDICTIVE}: "
                f"{FORECAST_ONLY} and set the floor there from {RECOMMENDED}"
            )
        else:
            return (
                f"{ref} replicas is {found}, not the {written} Autonomic wrote{by}: changed "
                "by someone else (a person with kubectl scale, a GitOps controller putting "
                "its own back, or a remediation runbook's scale-out); theirs stands: the "
                f"replicas are not set for {quiet / 60:.0f} min, until {to_utc_text(until)}. If a "
                "controller owns the "
                f"replicas, let it ignore the field, or set {PREDICTIVE}: {FORECAST_ONLY} "
                f"and take them from {RECOMMENDED}"
            )

    def _cut_write(
        self,
        ref: ObjectRef,
        model: WorkloadModel,
        hpa: HpaState | None,
        now_uid: str,
    ) -> tuple[int, str, float] | None:
        """The write of the decision this loop follows up (``model.pending``) whose
        record may have been cut off, as (the value written, the decision, when its
        intent was recorded), or None: its write-ahead intent, pending (the process was
        cut off after the write, before its result was recorded, or the write's outcome
        was not known) or applied (cut off before ``_remember_written``), writes the
        minReplicas (or without an HPA the replicas) of this object (the one read
        before the write, by uid: ``now_uid``). The written-floor record is then still
        the loop's write before this one. The cluster showing that value, it is
        Autonomic's own, not someone else's; showing another, it is someone's change to
        that write. ``_settle``, later in the cycle, settles the intent from the cluster
        (``_settled``: applied, as the remediation engine reconciles a pending intent)
        and records the write, without writing it again."""
        decision_id = model.pending
        if decision_id is None:
            return None
        for intent in self.decisions.ledger.intents(execution_key=f"scaling/{ref}/{decision_id}"):
            if intent.status not in ("pending", "applied"):
                continue
            try:
                operation = operation_from_dict(intent.operation)
            except ValueError:
                continue
            value: int | None = None
            if hpa is not None:
                if isinstance(operation, SetHpaMinReplicas) and operation.target == hpa.ref:
                    value = operation.min_replicas
            elif isinstance(operation, Scale) and operation.target == ref:
                value = operation.replicas
            uid = intent.snapshot.get("uid") if isinstance(intent.snapshot, dict) else None
            if value is not None and not (uid and now_uid and str(uid) != now_uid):
                return value, decision_id, intent.created_at
        return None

    @staticmethod
    def _write_record(
        workload: WorkloadState,
        hpa: HpaState | None,
        decision_id: str,
        wanted: int,
        at: float,
    ) -> dict[str, Any]:
        """The written-floor record of ``decision_id``'s write of ``wanted`` (the HPA's
        minReplicas, or without an HPA the replicas) at ``at``."""
        if hpa is not None:
            return {
                "min_replicas": wanted,
                "at": at,
                "decision_id": decision_id,
                "hpa_uid": hpa.uid,
                "hpa": str(hpa.ref),
                "workload_uid": workload.uid,
                CHANGED_THEN: workload.managed_by_human_at,
            }
        return {
            "field": REPLICAS_FIELD,
            "replicas": wanted,
            "at": at,
            "decision_id": decision_id,
            "workload_uid": workload.uid,
        }

    def _taken_over(self, workload: WorkloadState, model: WorkloadModel, now: float) -> None:
        """The HPA this loop last saw scaling the workload is gone, and someone (a person,
        a GitOps tool; ``metadata.managedFields``) has changed the workload since: as in an
        incident, the HPA deleted and the replicas set by hand. The loop has written no
        replicas yet, so nothing it wrote was overridden, but they are someone's all the
        same: theirs for ``QUIET_AFTER_OVERRIDE``, said once, as an override is; then the
        loop drives the replicas from what it finds. Without a change by someone, the
        replicas the HPA left are taken up at once.

        A process that never saw the HPA (a new leader, a restart) looks once, at its
        first look at the workload, at what the ledger knows: a hold an earlier leader set
        (``_restore_taken``), else whether the loop's last decision or write about the
        workload went through an HPA, and when (``_recall_hpa``). A change by someone since
        then is theirs for ``QUIET_AFTER_OVERRIDE`` from that change (this process did not
        see it happen): so a leader that takes over in the middle of the incident leaves
        the replicas alone, and one that comes back hours later does not hold them for
        a change long past."""
        recalled: _Recalled | None = None
        if model.hpa_seen is None:
            if model.taken_read:
                return
            restored = self._restore_taken(workload, model, now)
            if restored is None:
                return  # the ledger could not be read: looked at again next cycle
            if not restored:
                try:
                    recalled = self._recall_hpa(workload, model)
                except TransientError as exc:
                    log.warning(
                        "%s: could not read the loop's last decision about it (%s)",
                        workload.ref,
                        exc,
                    )
                    return
            model.taken_read = True
            if recalled is None:
                return
            seen_at, hpa_name, changed_then = recalled.at, recalled.hpa, recalled.changed_then
        else:
            seen_at, hpa_name, changed_then = model.hpa_seen
        changed = workload.managed_by_human_at
        # Judged against the change read while the HPA was seen, both times from the API
        # server's clock (managedFields): against ``seen_at``, this process's clock, an
        # API server behind would date the replicas set by hand before the HPA went (and
        # the loop would bring them down mid-incident), one ahead an older change after.
        if recalled is not None and not recalled.dated:
            # A record from before records kept that change: this process's clock, to the
            # second (managedFields keep whole seconds).
            before = changed is not None and changed < math.floor(seen_at)
        else:
            before = changed is not None and changed_then is not None and changed <= changed_then
        if changed is None or before:
            if recalled is None and now - seen_at > QUIET_AFTER_OVERRIDE:
                model.hpa_seen = None  # the replicas the HPA left were taken up
            return
        model.hpa_seen = None  # once: after the wait the loop drives the replicas
        until = now + QUIET_AFTER_OVERRIDE
        scaled = f"{hpa_name}, which scaled {workload.ref},"
        if recalled is not None:
            # From the change, which was not seen: it happened before this look, so its
            # hour ends within the hour, whatever date the API server's clock gave it
            # (one far ahead held the replicas for days, past the ledger's ``TAKEN_KEEP``).
            until = min(changed, now) + QUIET_AFTER_OVERRIDE
            if until <= now:
                return  # theirs for the hour after it, and that is over
            scaled = (
                f"{hpa_name}, which scaled {workload.ref} when Autonomic last "
                f"{recalled.what} ({to_utc_text(seen_at)}{recalled.by}; from the ledger),"
            )
        why = (
            f"{scaled} is gone, and {workload.ref} was "
            f"changed by someone since ({to_utc_text(changed)}; replicas {workload.replicas}): "
            f"theirs stands: the replicas are not set for {(until - now) / 60:.0f} "
            f"min, until {to_utc_text(until)}, then the loop drives them without an HPA. To keep "
            f'them yours, set {PREDICTIVE}: "false" (or {FORECAST_ONLY})'
        )
        log.warning("scaling %s: %s", workload.ref, why)
        model.quiet_until, model.quiet_why, model.quiet_reason = until, why, "Overridden"
        model.theirs = True
        # Kept in the ledger: the loop runs on the leader, and a new one (or this one
        # restarted) has not seen the HPA, so it would set the replicas at once.
        key = f"{TAKEN_KEY}/{workload.ref}"
        record = {"quiet_until": until, "why": why, "workload_uid": workload.uid}
        try:
            ledger = self.decisions.ledger
            for _ in range(3):
                _, version = ledger.guard(key)
                if ledger.put_guard(key, record, version, now):
                    break
        except TransientError as exc:
            log.warning(
                "%s: could not record the hold for the replicas set (%s)", workload.ref, exc
            )

    def _restore_taken(
        self, workload: WorkloadState, model: WorkloadModel, now: float
    ) -> bool | None:
        """A hold ``_taken_over`` set, read back from the ledger by a leader that did not
        set it (once per workload it models): the replicas stay someone's until its end.
        One for another object of the same name (deleted and created again) is not.
        Whether one was restored; None when the ledger could not be read."""
        try:
            record, _ = self.decisions.ledger.guard(f"{TAKEN_KEY}/{workload.ref}")
        except TransientError as exc:
            log.warning(
                "%s: could not read a hold for replicas set by hand (%s)", workload.ref, exc
            )
            return None
        until = record.get("quiet_until") if record else None
        uid = str(record.get("workload_uid") or "") if record else ""
        if not isinstance(until, int | float) or now >= until:
            return False
        if uid and workload.uid and uid != workload.uid:
            return False
        why = str(record.get("why") or "replicas set by someone after the HPA went")
        model.quiet_until, model.quiet_why, model.quiet_reason = float(until), why, "Overridden"
        model.theirs = True
        return True

    def _recall_hpa(self, workload: WorkloadState, model: WorkloadModel) -> _Recalled | None:
        """Whether the loop's last decision or write about the workload (this object: the
        same uid, where the record has one) went through an HPA, and when: what a process
        that never saw the HPA knows of it. The newer of the floor last written (its
        record, read by ``_written`` already) and the newest floor decision (``_latest``:
        one query for the workloads of the cycle); a newer decision about the replicas
        themselves means the HPA was gone by then, and says nothing of when it went."""
        uid = workload.uid

        def other(record_uid: object) -> bool:
            return bool(uid and record_uid and str(record_uid) != uid)

        # (when, through an HPA, what the record holds, its decision, what the loop did)
        found: list[tuple[float, bool, Mapping[str, Any], str | None, str]] = []
        written = model.written or {}
        at = written.get("at")
        mine = not other(written.get("workload_uid"))
        if isinstance(at, int | float) and _field(written) == MIN_FIELD and mine:
            by = _text(written.get("decision_id"))
            found.append((float(at), True, written, by, "wrote"))
        decision = self._latest(workload.ref)
        if decision is not None and not other(decision.evidence.get("workload_uid")):
            through = decision.proposal.get("op") == "set_hpa_min_replicas"
            found.append(
                (float(decision.created_at), through, decision.evidence, decision.id, "decided")
            )
        if not found:
            return None
        at, through, record, by, what = max(found, key=lambda one: one[0])
        if not through:
            return None
        # Records from before the HPA was named in them: the same decision's other
        # record, or its write's intent, names it.
        hpa = _text(record.get("hpa")) or next(
            (_text(r.get("hpa")) for _, _, r, d, _ in found if d == by and _text(r.get("hpa"))),
            None,
        )
        if hpa is None and by is not None:
            hpa = self._hpa_written(workload.ref, by)
        changed_then = record.get(CHANGED_THEN)
        return _Recalled(
            at,
            hpa or "The HPA",
            f"{what} its floor",
            f", decision {by}" if by else "",
            changed_then if isinstance(changed_then, int | float) else None,
            CHANGED_THEN in record,
        )

    def _hpa_written(self, ref: ObjectRef, decision_id: str) -> str | None:
        """The HPA a floor decision wrote, from its write's intent (none: never written)."""
        for intent in self.decisions.ledger.intents(execution_key=f"scaling/{ref}/{decision_id}"):
            target = intent.operation.get("target") if isinstance(intent.operation, dict) else None
            if isinstance(target, dict) and target.get("kind") == "HorizontalPodAutoscaler":
                return str(ObjectRef(target["kind"], target["name"], target.get("namespace")))
        return None

    def _latest(self, ref: ObjectRef) -> Any | None:
        """The newest floor decision about ``ref`` in the ledger. Read, the first time a
        workload needs it in a cycle, for every workload of the cycle's listing in
        predictive scaling not looked at yet, in one query: at start-up, or on taking the
        lease, a thousand workloads are one read, not a thousand. A failed read is not
        tried again in the same cycle."""
        if self._history is None:
            names = {str(ref)}
            for workload in self._listing:
                model = self.models.get(workload.ref)
                if model is not None and (model.hpa_seen is not None or model.taken_read):
                    continue
                if workload.labels.get(self.opt_in_label) == "true" and workload.annotations.get(
                    PREDICTIVE
                ) in ("true", FORECAST_ONLY):
                    names.add(str(workload.ref))
            try:
                self._history = self.decisions.ledger.latest_decisions(
                    FLOOR_DECISION, sorted(names)
                )
            except TransientError as exc:
                self._history = exc
        if isinstance(self._history, TransientError):
            failed = self._history
            raise TransientError(str(failed), delay=failed.delay, reason=failed.reason)
        return self._history.get(str(ref))

    def _remedies_for(self, target: ObjectRef) -> list[_Remedy]:
        """The remediation decisions still open whose plan writes ``target`` (an HPA's
        minReplicas, a workload's replicas). Read for every object at once, the first
        time a cycle is about to change a floor (two indexed reads: the decisions by
        status, the intents by status), so a fleet costs what one workload does, and a
        cycle that changes no floor reads nothing. A failed read is not tried again in
        the same cycle: the floor is not changed on what the ledger could not say."""
        if self._remedies is None:
            try:
                self._remedies = self._read_remedies()
            except TransientError as exc:
                self._remedies = exc
        if isinstance(self._remedies, TransientError):
            failed = self._remedies
            raise TransientError(str(failed), delay=failed.delay, reason=failed.reason)
        return self._remedies.get(str(target), [])

    def _read_remedies(self) -> dict[str, list[_Remedy]]:
        ledger = self.decisions.ledger
        found: dict[str, list[_Remedy]] = {}

        def add(decision_id: str, runbook: str, status: str, data: object, unwritten: bool) -> None:
            if not isinstance(data, dict) or data.get("op") not in FLOOR_OPS:
                return
            try:
                operation = operation_from_dict(data)
            except ValueError:
                return  # not one this loop can read: not a floor it knows of
            if isinstance(operation, SetHpaMinReplicas):
                to, expected = operation.min_replicas, operation.expected
            elif isinstance(operation, Scale):
                to, expected = operation.replicas, operation.expected
            else:  # pragma: no cover - FLOOR_OPS names only these two
                return
            remedy = _Remedy(decision_id, runbook, status, to, expected, unwritten)
            found.setdefault(str(operation.target), []).append(remedy)

        listed: set[str] = set()
        for record in ledger.decisions(
            kind="remediation", status=list(REMEDIATION_OPEN), limit=10_000
        ):
            listed.add(record.id)
            proposal = record.proposal if isinstance(record.proposal, dict) else {}
            runbook = str(proposal.get("runbook") or record.decision_type)
            for data in proposal.get("operations") or ():
                add(record.id, runbook, record.status, data, record.status in REMEDIATION_UNWRITTEN)
        # A write-ahead intent still pending (its write cut off, its outcome not known) is
        # a write that may land, whatever its decision says by now; the loop's own are not.
        for intent in ledger.intents(status=["pending"]):
            if intent.execution_key.startswith("scaling/") or intent.decision_id in listed:
                continue
            decision = intent.decision_id or intent.execution_key
            add(decision, "remediation", "write pending", intent.operation, True)
        return found

    def _remedy_hold(
        self, ref: ObjectRef, model: WorkloadModel, target: ObjectRef, current: int, wanted: int
    ) -> bool:
        """Whether a change of the floor (or the replicas) of ``ref`` from ``current`` to
        ``wanted``, written to ``target``, waits for a remediation decision still open
        that writes the same field; if so the workload is held (``RemediationPending``),
        said once in the log per decision.

        A lowering waits for any such decision: asked, approved or executing, its write is
        compare-and-set against the value it was planned from, and a floor lowered in
        between gets it refused (a surge's scale-out lost to the loop's own scale-in);
        verifying, the floor is the runbook's and is being judged. A raise goes on, unless
        it stays below the floor such a decision is still to write, from the very value
        the cluster has now: that write would be refused too, and the runbook's floor is
        the higher one (the HPA goes on scaling on the load meanwhile). A raise to at
        least that floor, or one that no compare-and-set would see, is written."""
        if wanted == current:
            return False
        lowering = wanted < current
        blocking = next(
            (
                remedy
                for remedy in self._remedies_for(target)
                if lowering
                or (remedy.unwritten and remedy.expected == current and wanted < remedy.to)
            ),
            None,
        )
        if blocking is None:
            model.remedy_said = None
            return False
        what = "minReplicas" if target.kind == "HorizontalPodAutoscaler" else "replicas"
        plan = (
            f"{what} of {target} {blocking.expected} -> {blocking.to}"
            if blocking.expected is not None
            else f"{what} of {target} to {blocking.to}"
        )
        decision = f"remediation decision {blocking.decision_id} ({blocking.runbook}, "
        decision += f"{blocking.status})"
        if not lowering:
            why = (
                f"{what} {current} -> {wanted} waits: {decision} sets {plan}, higher, and "
                f"its write is compare-and-set against {current}: a raise now would get it "
                "refused; the floor is raised once that decision is settled (the HPA "
                "scales on the load meanwhile)"
            )
        elif blocking.unwritten and blocking.expected is not None:
            why = (
                f"{what} {current} -> {wanted} waits: {decision} sets {plan}, and its "
                "write is compare-and-set against the value it was planned from: a floor "
                "lowered now would get it refused; not lowered while that decision is open"
            )
        else:
            why = (
                f"{what} {current} -> {wanted} waits: {decision} sets {plan}; not lowered "
                "while that decision is open"
            )
        if model.remedy_said != blocking.decision_id:
            log.info("scaling %s held: %s", ref, why)
            model.remedy_said = blocking.decision_id
        self._held(str(ref), "RemediationPending", why)
        return True

    def _release(
        self, workload: WorkloadState, model: WorkloadModel, now: float, *, reason: str
    ) -> None:
        """The workload left predictive scaling (its opt-in label or ``predictive``
        annotation removed: ``reason`` "OptedOut") or turned ``forecast-only``
        ("ForecastOnly": publish, don't act) while its HPA holds a floor this loop raised:
        the HPA gets its owner's minimum back, once, as a decision routed like any other
        (asked in ``propose`` mode; nothing is written in ``observe`` mode or while
        paused). A floor a person has changed since, an HPA another controller manages
        and a workload without an HPA are left as they are. A question about a new floor
        that was open when the workload left is not carried out (``_drop``): approved, it
        is closed as superseded, with why."""
        if model.released:
            return
        if model.pending is not None and model.pending != model.releasing:
            self._drop(model, "workload opted out", f"{workload.ref} left predictive scaling")
        if model.releasing is not None:
            if model.pending is not None:
                self._settle(workload, model, True, now)  # carries out an approval
            if model.pending is None:
                model.released, model.releasing = True, None
            return
        if self._pause or now < model.quiet_until:
            return  # no writes while paused or waiting: looked at again after
        # Read afresh: another replica may have written or given it back since.
        record = self._written(workload.ref, model, fresh=True)
        if record is None:
            model.released = True
            return
        written = _written_value(record)
        hpa = self.cluster.get_hpa_for(workload.ref)
        model.released = True
        if hpa is None or hpa.controller is not None or hpa.shared_with:
            return
        how = "left predictive scaling" if reason == "OptedOut" else f"turned {FORECAST_ONLY}"
        if hpa.min_replicas != written:
            log.info(
                "%s %s; %s minReplicas is %d, not the %s Autonomic set: "
                "changed since, left as it is",
                workload.ref,
                how,
                hpa.ref,
                hpa.min_replicas,
                written,
            )
            return
        owner = self._configured_min(hpa, now)
        if hpa.min_replicas <= owner:
            return
        message = f"{workload.ref} {how}: {hpa.ref} gets its own minimum back"
        if reason != "OptedOut":
            message += f"; the floor is published ({RECOMMENDED}), not written"
        rec = ScalingRecommendation(now, owner, owner, owner, "reactive", reason, message)
        model.pending = None
        # The owner's minimum back is no schedule's, whatever set the floor last.
        model.scheduled = None
        failures = model.failures
        self._decide(
            workload,
            model,
            True,
            hpa.min_replicas,
            owner,
            rec,
            "none (opted out)" if reason == "OptedOut" else f"none ({FORECAST_ONLY})",
            hpa=hpa,
            # forecast-only: the annotations keep the floor the forecast recommends
            report=reason == "OptedOut",
        )
        if model.pending is not None:
            model.releasing, model.released = model.pending, False
        elif model.failures > failures:
            model.released = False  # refused: looked at again after the wait

    def _drop_inherited(self, name: str, reason: str, why: str) -> None:
        """A question a previous process left open (or approved) about a workload now out
        of predictive scaling (listed: its judgement is not a listing that missed it)
        and taken up by no model here: let go of as ``_drop`` lets go of one, once. A
        give-back is left to be carried out (``_adopt_left`` takes its workload up)."""
        record = (self._inherited or {}).get(name)
        if record is None or record.reason_code in GIVE_BACK_REASONS:
            return
        del self._inherited[name]  # type: ignore[union-attr]
        self._dropped[record.id] = (reason, why)

    def _drop(self, model: WorkloadModel, reason: str, why: str) -> None:
        """Let go of the question about a floor to write that is open (or approved, not yet
        carried out) when its workload leaves predictive scaling or turns forecast-only:
        it is not carried out, and ``_close_dropped`` closes it once it is approved."""
        if model.pending is not None and model.pending != model.unsettled:
            self._dropped[model.pending] = (reason, why)
        model.pending = None

    def _close_dropped(self, now: float) -> None:
        """Close the dropped questions that were approved, before or after they were
        dropped, as ``superseded``: not carried out, with why, in the ledger (``autonomic
        explain``) and the question's thread. One still asked waits for its answer; one
        rejected or expired is closed already. A decision with a write tried is left to
        what follows that write."""
        ledger = self.decisions.ledger
        for decision_id, (reason, why) in list(self._dropped.items()):
            record = ledger.get_decision(decision_id)
            if record is not None and record.status == "asked":
                continue
            del self._dropped[decision_id]
            if record is None or record.status != "approved":
                continue
            if ledger.intents(execution_key=f"scaling/{record.subject}/{decision_id}"):
                continue
            # The closing and its why are one transaction (the question is let go of
            # already: a why written after it would be lost with a ledger gone between).
            text = f"not carried out ({reason}): {why}; nothing was written"
            detail = {"reason": reason, "why": text}
            row = Feedback(decision_id, "execution", "superseded", "autonomic", detail)
            if ledger.transition(decision_id, ["approved"], "superseded", now, feedback=[row]):
                self.decisions.progress(decision_id, text, final=True)

    def _query(self, ref: ObjectRef, name: str | None) -> str:
        """The load query of a workload that picks ``name`` (``autonomic.dev/load-query``;
        None: ``scaling.loadQuery``), for this workload. ``name`` is one configured
        (``read_knobs`` holds a workload that picks another)."""
        template = self.settings.load_template(name)
        assert template is not None, name
        return template.replace("$namespace", ref.namespace or "").replace("$workload", ref.name)

    def _evidence_query(self, workload: WorkloadState, model: WorkloadModel) -> str | None:
        """The load query a decision's numbers came from: the one its model was fitted on
        and reads with, or (no load read for it yet) the one the workload picks now (None:
        it picks a name not configured)."""
        if model.query is not None:
            return model.query
        name = workload.annotations.get(LOAD_QUERY)
        if self.settings.load_template(name) is None:
            return None
        return self._query(workload.ref, name)

    def _hold(self, ref: ObjectRef, reason: str, why: str, *, kind: str | None = None) -> None:
        """Record why a workload is held (``reason``, a code from ``HOLD_REASONS``, and
        the sentence); log it when the reason (or its ``kind``, for a reason whose wording
        changes every cycle, such as a sample's age) is new."""
        said = kind if kind is not None else why
        if self._said.get(str(ref)) != said:
            log.warning("scaling %s held: %s", ref, why)
            self._said[str(ref)] = said
        self._held(str(ref), reason, why)

    def _failed(self, ref: ObjectRef, exc: Exception) -> None:
        """One workload's turn raised an error that is neither a ``TransientError`` nor a
        ``PermanentError`` (a bug, a load series the forecaster cannot take): held
        ``Unexpected`` (no decision, no write: its floor stays where it is, as for any
        hold), counted in ``autonomic_errors_total{kind="Unexpected"}``, logged with its
        traceback when the error is new, and the other workloads go on; before, it ended
        the cycle at every cycle, and no workload after it was scaled. Tried again at
        the next cycle; the hold ends once its turn goes through."""
        error = f"{type(exc).__name__}: {exc}"
        if self.metrics is not None:
            self.metrics.errors.labels(kind="Unexpected").inc()
        if self._said.get(str(ref)) != error:
            log.error(
                "scaling %s failed: %s; held, tried again at the next cycle (the other "
                "workloads go on)",
                ref,
                error,
                exc_info=exc,
            )
        self._hold(
            ref,
            "Unexpected",
            f"its forecast or floor could not be worked out: {error} (a bug in Autonomic: "
            "the log has the traceback); the floor stays where it is, tried again each cycle",
            kind=error,
        )

    def _not_opted_in(self, workload: WorkloadState, wish: str) -> str:
        """Why a workload annotated for predictive scaling is not scaled: the opt-in label
        it lacks, and what it carries instead (a value other than "true", or a key that
        differs only in case or punctuation)."""
        label = self.opt_in_label
        value = workload.labels.get(label)
        if value is not None:
            has = f"its {label} is {value!r}, not 'true'"
        else:
            near = [key for key in workload.labels if _squashed(key) == _squashed(label)]
            has = (
                f"it has {near[0]}={workload.labels[near[0]]!r}, not {label}"
                if near
                else f"it has no {label} label"
            )
        return (
            f"{workload.ref} has {PREDICTIVE}={wish!r} but is not opted in: {has}; label it "
            f'{label}="true" to scale it, or remove the annotation'
        )

    def _held(self, name: str, reason: str, why: str) -> None:
        self.status.held[name] = why
        self.status.held_reason[name] = reason

    def _unheld(self, name: str) -> None:
        self.status.held.pop(name, None)
        self.status.held_reason.pop(name, None)

    def _refit(
        self,
        ref: ObjectRef,
        model: WorkloadModel,
        history: Series,
        now: float,
        why: str,
        *,
        forced: bool,
        steps: int = 1,
        masked: tuple[int, int] = (0, 0),
    ) -> None:
        """Fit a challenger and let it replace the live model only if it forecasts the
        hour better, ``steps`` ahead (the workload's lead; neither model
        saw those points); a first fit or a new history cut goes live at once
        (``forecasting.lifecycle.refit``). Either way the evaluation is a model version
        in the ledger, named as the live model is (``_version_name``) with the next of
        the workload's numbers (``_next_number``): a rejected challenger's name is its
        own, and one that goes live later has another. ``masked`` counts the glitch
        and outage samples of ``history`` fitted as gaps (recorded with the model)."""
        champion = model.fitted
        number = self._next_number(ref, model)
        result = refit(
            champion,
            history,
            self.forecaster,
            recent=model.recent.values,
            steps=steps,
            forced=forced,
            levels=self.levels,
            champion_name=self._version_name(model),
            version=number,
            suffix=f" fitted {_fit_stamp(now)}",
        )
        verdict = result.verdict
        if model.numbered is not None:  # else the ledger's numbering is still unread
            model.numbered = number
        model.evaluated_at = now
        model.fitted = result.live
        if result.promoted and model.recent.size:
            # Fitted on ``history``, where an outage's zeros are gaps: its level is the
            # load before them. The current load is what was read, zeros and all.
            model.fitted = result.live.advance(model.recent.values, model.recent.last)
        model.outcomes.clear()  # judged again on what comes next
        model.arrived, model.glitch.glitched = None, ()
        model.zeros.refitted()  # a run of zeros still going: withheld on
        model.drift = None
        if result.promoted:
            model.expect = None  # the old model's forecast: not the new one's outcome
            model.fitted_at = now
            model.version = number
            model.band = result.band
            model.poor = None  # a new model has not yet been found wanting
        held, scale, stopgap = result.held, result.scale, result.stopgap
        promoted = result.promoted
        fit = result.judged
        evaluation: dict[str, object] = {"trigger": why, "holdout_points": held, "scale": scale}
        if stopgap and champion is not None:
            evaluation["replaced_fallback"] = champion.fallback_reason
        if verdict is not None:
            evaluation.update(
                champion=verdict.champion,
                challenger=verdict.challenger,
                champion_mase=verdict.champion_mase,
                challenger_mase=verdict.challenger_mase,
                promoted=verdict.promoted,
                reason=verdict.reason,
            )
        self.decisions.ledger.record_model_version(
            str(ref),
            fit.name,
            verdict.challenger
            if verdict is not None and not promoted
            else self._version_name(model),
            "live" if promoted else "rejected",
            _json_ready(
                {
                    "history_days": self.forecaster.settings.history_periods,
                    "history_since": model.history_since,
                    "query": model.query,
                    "seasonal_strength": fit.strength,
                    "fallback": fit.fallback_reason,
                    "glitches_masked": masked[0],
                    "outage_zeros_masked": masked[1],
                }
            ),
            _json_ready(evaluation),
            now,
        )

    def _track(self, ref: ObjectRef, model: WorkloadModel, values: np.ndarray, now: float) -> None:
        """Check the live model against its band every ``DRIFT_EVERY`` cycles
        (staggered), then keep last cycle's one-step forecast against the value that
        arrived: after the check, so that the glitch test later in the cycle can withhold
        it (``model.arrived``) before any check scores it. (A cycle held before that test,
        for a reason other than the load, such as a capacity still being learned, keeps
        its outcome scored, as it always did.) A zero after busy load may be an outage
        and is withheld (``forecasting.lifecycle.OutageWatch``)."""
        band = model.band
        # A refit clears the outcomes: until ``band.min_samples`` new ones have arrived
        # the check says only ``TooFewOutcomes``, which changes nothing.
        if band is not None and not (self._cycles + zlib.crc32(str(ref).encode())) % DRIFT_EVERY:
            model.drift = check_drift(model.outcomes, band)
            model.checked = (model.drift, band.level)
            poor = distrust(model.drift, model.poor)
            if model.drift.refit:
                log.info("scaling %s: %s; refitting", ref, model.drift.message)
            elif poor is None and model.poor is not None:
                log.info("scaling %s: the live model is back in its band", ref)
            model.poor = poor
        self._accuracy(ref, model)
        expect, model.expect, model.arrived = model.expect, None, None
        if expect is None or not values.size or model.recent.last != expect[0]:
            return
        arrived = float(values[-1])
        if math.isfinite(arrived):
            model.arrived = model.outcomes.add(arrived, expect[1], expect[2], expect[3])
            model.zeros.arrived(model.outcomes, values, model.arrived, arrived, expect[0])
            # Made a cycle ago from the level of the ``RECENT`` points then, which held
            # an outage's zeros (re-anchoring takes the load as read): not the model's.
            if model.zeros.anchored_on_outage(expect[0], STEP * RECENT):
                model.outcomes.withhold(model.arrived)

    def _accuracy(self, ref: ObjectRef, model: WorkloadModel) -> None:
        """The live model's latest drift check, published: ``autonomic_scaling_forecast_mase
        {workload}``, ``autonomic_scaling_forecast_coverage{workload, level}`` and
        ``GET /scaling``'s ``accuracy``. Set at every cycle from the check kept (checks
        run every ``DRIFT_EVERY`` cycles), so a replica that leads again, whose standby
        cleared them, publishes them at its first cycle. A refit does not clear them: a
        check that found the model off its band brings the refit forward at once, and
        its figures are what a dashboard must see; the next check, of the model then
        live, replaces them (``TooFewOutcomes`` on the outcomes arrived since)."""
        if model.checked is None:
            return
        name = str(ref)
        drift, band_level = model.checked
        level = str(band_level)
        self.status.accuracy[name] = _json_ready(
            {
                "mase": drift.recent_mase,
                "coverage": drift.coverage,
                "level": band_level,
                "samples": drift.samples,
                "reason": drift.reason,
                "refit": drift.refit,
            }
        )
        if self.metrics is None:
            return
        if self._accuracy_published.get(name, level) != level:
            self._unpublish_accuracy(name)  # the band's level changed: no stale series
        self.metrics.scaling_forecast_mase.labels(workload=name).set(drift.recent_mase)
        self.metrics.scaling_forecast_coverage.labels(workload=name, level=level).set(
            drift.coverage
        )
        self._accuracy_published[name] = level

    def _unpublish_accuracy(self, name: str) -> None:
        level = self._accuracy_published.pop(name, None)
        if self.metrics is None or level is None:
            return
        with contextlib.suppress(KeyError):
            self.metrics.scaling_forecast_mase.remove(name)
        with contextlib.suppress(KeyError):
            self.metrics.scaling_forecast_coverage.remove(name, level)

    def _version_name(self, model: WorkloadModel) -> str:
        """The live model, unambiguous across restarts: its name, number and fit time
        (``seasonal-profile/3 fitted 2026-11-22T06:00:00Z``)."""
        if model.fitted is None or not math.isfinite(model.fitted_at):
            return "none (no model fitted in this process)"
        return f"{model.fitted.name}/{model.version} fitted {_fit_stamp(model.fitted_at)}"

    def _next_number(self, ref: ObjectRef, model: WorkloadModel) -> int:
        """The number of the workload's next model: one more than any it was given,
        here or (the ledger's record, read at the first refit in this process) by an
        earlier process. A restart goes on from the larger of the ledger's count of the
        workload's versions and the number in the newest one's name: older processes
        numbered from 1 again after each restart, never past that count, and a prune
        by age lowers the count but keeps the newest rows (only a workload not refitted
        for the whole retention may see the number of a row pruned come again, with
        another fit time). A ledger that cannot be read leaves its numbering unread
        (looked at again at the next refit) and numbers on from this process's own:
        the fit time in the name still tells the models apart."""
        if model.numbered is None:
            try:
                count, newest = self.decisions.ledger.model_version_tally(str(ref))
            except TransientError as exc:
                log.warning("%s: could not read how its models were numbered (%s)", ref, exc)
                return model.version + 1
            model.numbered = max(count, _model_number(newest))
        return model.numbered + 1

    def _load_inherited(self) -> None:
        """Read, once (at the first cycle that can), the scaling questions a previous
        process left open or approved, and the floors it applied and had not judged."""
        if self._inherited is not None:
            return
        open_ones = self.decisions.ledger.decisions(
            kind="scaling", status=["asked", "approved", "verifying"], limit=10_000
        )
        inherited: dict[str, Any] = {}
        self._unjudged = {}
        for record in reversed(open_ones):  # oldest first: the newest wins
            if record.status == "verifying":
                self._unjudged.setdefault(record.subject, []).append(record)
            else:
                inherited[record.subject] = record
        self._inherited = inherited  # only once read: a failed read is tried again

    def _new_model(self, ref: ObjectRef) -> WorkloadModel:
        """A workload's model; if a previous process left a scaling question about it
        open (or approved and not carried out), this one follows it up (a give-back as
        one: carried out, not dropped, once approved), and a floor it applied and had
        not yet judged is judged on what this one sees of its window."""
        self._load_inherited()
        assert self._inherited is not None
        model = WorkloadModel()
        record = self._inherited.pop(str(ref), None)
        if record is not None:
            model.pending = record.id
            model.recommended = int(record.proposal.get("to", 0)) or None
            if record.reason_code in GIVE_BACK_REASONS:
                model.releasing = record.id
            log.info("scaling %s: following up decision %s (%s)", ref, record.id, record.status)
        for applied in self._unjudged.pop(str(ref), []):
            lead = applied.evidence.get("lead_seconds")
            window = (float(lead) if isinstance(lead, int | float) else 0.0) + VERIFY_AFTER
            model.verifying.append(
                Verification(
                    applied.id,
                    int(applied.proposal.get("from", 0)),
                    int(applied.proposal.get("to", 0)),
                    applied.updated_at + window,
                    reactive=applied.proposal.get("mode") == "reactive",
                    scheduled=_text(applied.evidence.get("scheduled_floor")),
                    query=_text(applied.evidence.get("query")),
                    given_back=applied.reason_code == "ScaledToZero",
                )
            )
        return model

    def _restore_capacity(
        self, ref: ObjectRef, estimate: CapacityEstimate, query: str, now: float
    ) -> None:
        """Read back the capacity an earlier process learned, if it is recent enough and
        was learned with the load ``query`` read now (a capacity is in its query's unit:
        requests per second are not messages per second). A record saved before the
        query was kept with it was learned with ``scaling.loadQuery``, the only one then."""
        estimate.loaded = True
        value, _ = self.decisions.ledger.guard(f"{CAPACITY_KEY}/{ref}")
        learned, at = value.get("capacity_per_pod"), value.get("saved_at")
        if not isinstance(learned, int | float) or not isinstance(at, int | float):
            return
        if value.get("query", self._query(ref, None)) != query:
            return
        if learned > 0 and math.isfinite(learned) and now - at <= CAPACITY_KEEP:
            estimate.restored = estimate.saved = float(learned)

    def _save_capacity(
        self, ref: ObjectRef, estimate: CapacityEstimate, capacity: float, query: str, now: float
    ) -> None:
        """Keep the learned capacity in the ledger when it is new or moved by over 5 %
        (compare-and-set: two replicas writing at once lose nothing that matters)."""
        if estimate.saved is not None and abs(capacity - estimate.saved) <= 0.05 * estimate.saved:
            return
        key = f"{CAPACITY_KEY}/{ref}"
        ledger = self.decisions.ledger
        _, version = ledger.guard(key)
        record = {"capacity_per_pod": capacity, "saved_at": now, "query": query}
        if ledger.put_guard(key, record, version, now):
            estimate.saved = capacity

    def _startup(
        self, workload: WorkloadState, model: WorkloadModel, knobs: WorkloadKnobs, now: float
    ) -> tuple[float, str]:
        """The start-up time the lead is built from, and where it came from: the
        annotation, else the workload's pods (measured every ``STARTUP_EVERY``, at most
        ``MEASURES_PER_CYCLE`` workloads a cycle), else ``DEFAULT_STARTUP``."""
        if knobs.startup is not None:
            return knobs.startup, "annotation"
        estimate = model.startup
        if now - estimate.checked_at >= STARTUP_EVERY and self._measures_left > 0:
            self._measures_left -= 1
            ref = workload.ref
            pods = self.cluster.list_pods(ref.namespace, workload.selector or None)
            estimate.observe(pods, ref, now)
        measured = estimate.value()
        if measured is None:
            return DEFAULT_STARTUP, "default (no ready pod measured yet)"
        return measured, f"measured: 80th percentile of {counted(len(estimate.pods), 'pod')}"

    def _verify(
        self,
        workload: WorkloadState,
        model: WorkloadModel,
        load: float,
        capacity: float,
        query: str,
        now: float,
    ) -> None:
        """Watch the applied floors; record each one's outcome when its window ends. A
        floor decided on another load query than ``query``, the one ``load`` was read
        with, is judged with no verdict (``requeried``)."""
        if not model.verifying:
            return
        if math.isfinite(load) and load >= 0:
            # Sized as the floor is, less the forecast's uncertainty: the observed load
            # with the same margin, so a floor that came out right reads as needed.
            # Capped: a tiny capacity (``1e-307``) makes the quotient +inf, which
            # math.ceil refuses, and the whole cycle, every workload, would stop.
            need = math.ceil(min(load * (1.0 + self.margin) / capacity, 1e18) - 1e-9)
            for check in model.verifying:
                if check.query is not None and check.query != query:
                    check.requeried = query
                check.cycles += 1
                check.peak_need = max(check.peak_need, need)
                if load > workload.ready_replicas * capacity:
                    check.short_cycles += 1
        due = [c for c in model.verifying if now >= c.until]
        model.verifying = [c for c in model.verifying if now < c.until]
        for check in due:
            self._judge(check, capacity)

    def _judge_overdue(self, model: WorkloadModel, late: float) -> None:
        due = [c for c in model.verifying if c.until <= late]
        model.verifying = [c for c in model.verifying if c.until > late]
        capacity = model.sizing.get("capacity_per_pod")
        for check in due:
            self._judge(check, float(capacity) if isinstance(capacity, int | float) else None)

    def _judge(self, check: Verification, capacity: float | None) -> None:
        """Record an applied floor's outcome. The costs are not symmetric, and neither
        are the verdicts: a lowered floor that left the workload short of pods is wrong;
        a raised floor the load then needed is right; a raised floor the load did not
        need cost pods but harmed nothing, so it is recorded as ``unneeded``, which
        neither earns nor costs the decision type autonomy (a predictive floor that is
        generous on purpose would otherwise be taught to ask about every raise). A step
        down while reactive (``reactive``) gets no verdict either: the forecast did not
        choose it; nor does a floor a scheduled floor set (``scheduled``), which a
        person chose. A floor another replica has judged meanwhile (while it led) is not
        judged again."""
        record = self.decisions.ledger.get_decision(check.decision_id)
        if record is not None and record.status != "verifying":
            return
        now = self.clock.now()
        detail: dict[str, object] = {
            "peak_need": check.peak_need,
            "short_cycles": check.short_cycles,
            "cycles": check.cycles,
            "capacity_per_pod": capacity,
        }
        verdict: bool | None
        if check.scheduled is not None:
            # A person chose this floor and when, not the forecast: a verdict would credit
            # or blame the forecast's record (the type's confidence and thresholds) for it.
            verdict, outcome = None, "scheduled"
            why = (
                f"the floor {check.before} -> {check.after} was set by scheduled floor "
                f"{check.scheduled}, a person's instruction and not a forecast: no verdict "
                "on the forecast"
            )
            if check.cycles:
                why += f" (the load peaked at {check.peak_need} pods' worth)"
        elif check.given_back:
            # Not the forecast's step: the owner's 0 back under an HPA the floor had
            # switched off (``_zero_back``). Judged as a step down, it read as a fallback
            # that left the workload short of pods, which were at 0 by the HPA's design.
            verdict, outcome = None, "reactive"
            why = (
                f"the HPA's own minimum of 0 given back (ScaledToZero): minReplicas "
                f"{check.before}, a floor Autonomic wrote, had switched the HPA off with the "
                "workload at 0; not a step the forecast chose: no verdict on the forecast"
            )
        elif check.requeried is not None:
            # Its load was read with another query during the window (the workload's
            # load-query changed): another metric, in another unit, against a capacity
            # that may be either's. Neither right nor wrong can be told.
            verdict, outcome = None, "unverified"
            why = (
                f"the workload's load query changed during the verification window, from "
                f"{check.query} to {check.requeried}: the load before and after are not in "
                "one unit, no verdict"
            )
        elif check.cycles == 0:
            verdict, outcome = None, "unverified"
            why = "no usable load sample in the verification window"
            if check.unread:
                why += f": the load could not be read ({check.unread})"
        elif check.reactive:
            # The forecast was not trusted, so it did not choose this step: the floor Autonomic
            # had raised was coming back down to the HPA's own. Judging each step would
            # also count one fallback several times over.
            verdict, outcome = None, "reactive"
            why = (
                f"a step down {check.before} -> {check.after} while the forecast was not "
                f"used (short of ready pods in {check.short_cycles} of {check.cycles} "
                "cycles): no verdict on the forecast"
            )
        elif check.after > check.before:
            # The direction, not the size: would a floor sized from the load that came
            # (with the same margin) have been above the old floor? Sizes are what the
            # replay benchmarks judge.
            needed = check.peak_need > check.before
            verdict, outcome = (True, "right") if needed else (None, "unneeded")
            why = (
                f"the load peaked at {check.peak_need} pods' worth; the raise from "
                f"{check.before} to {check.after} was "
                + ("needed" if needed else f"not needed (the old floor {check.before} sufficed)")
            )
        else:
            verdict = check.short_cycles <= SHORT_ALLOWED
            outcome = "right" if verdict else "wrong"
            why = (
                f"short of ready pods in {check.short_cycles} of {check.cycles} cycles after "
                f"lowering {check.before} -> {check.after}"
            )
        detail["why"] = why
        # The question's final word, kept with the verdict: a process that dies before
        # the message's rewrite below leaves it to the next one's first sync.
        said = detail["said"] = f"{outcome}: {why}"
        if verdict is None:
            # No verdict on the forecast: its row and "done" in one transaction, the row
            # once-only, so that a failure between two writes (the ledger away) cannot
            # leave the row with the decision still verifying, for the next process to
            # judge again and write a second row.
            row = Feedback(check.decision_id, "verification", outcome, "autonomic", detail)
            moved, written = self.decisions.ledger.settle(
                check.decision_id, ["verifying"], "done", now, row
            )
            if not moved and not written:
                return  # judged and said already (another replica, while it led)
        else:
            written = True
            with contextlib.suppress(KeyError):
                written = self.decisions.record_outcome(
                    check.decision_id,
                    right=verdict,
                    status="verified" if verdict else "failed",
                    detail=detail,
                )
            if not written:
                return  # judged and said already (another replica, while it led)
        self.decisions.progress(check.decision_id, said, final=True)

    def _configured_min(self, hpa: HpaState, now: float) -> int:
        """The HPA's own ``minReplicas``, as it was before this loop first raised it.

        Kept in the ledger the first time any replica sees the HPA, so a restart or a
        new leader does not mistake a floor Autonomic raised for the owner's minimum;
        with the HPA's uid, so an HPA deleted and created again (by its owner, with
        the minimum it now wants) is read afresh, not held to the old one's minimum."""
        ledger = self.decisions.ledger
        key = f"scaling/configured-min/{hpa.ref}"
        seen = hpa.min_replicas
        value, version = ledger.guard(key)
        if "min_replicas" in value and value.get("uid", hpa.uid) == hpa.uid:
            if "uid" not in value and hpa.uid:  # recorded before uids were: add it
                ledger.put_guard(key, {**value, "uid": hpa.uid}, version, now)
            return int(value["min_replicas"])
        record = {"min_replicas": seen, "uid": hpa.uid, "seen_at": now}
        if not ledger.put_guard(key, record, version, now):
            value, _ = ledger.guard(key)  # another replica recorded it first
            return int(value.get("min_replicas", seen))
        return seen

    def _own_min(self, model: WorkloadModel, hpa: HpaState) -> int | None:
        """The HPA's own ``minReplicas`` as ``_configured_min`` keeps it, only read (None
        when not kept yet, or kept for another HPA of that name)."""
        if model.hpa_min_configured is not None and model.hpa_uid == hpa.uid:
            return model.hpa_min_configured
        value, _ = self.decisions.ledger.guard(f"scaling/configured-min/{hpa.ref}")
        if "min_replicas" in value and value.get("uid", hpa.uid) == hpa.uid:
            return int(value["min_replicas"])
        return None

    def _gauges(
        self, ref: ObjectRef, floor: int, rec: ScalingRecommendation, sizing: Mapping[str, object]
    ) -> None:
        if self.metrics is None:
            return
        name = str(ref)
        self._published.add(name)
        self.metrics.scaling_floor.labels(workload=name).set(floor)
        peak = rec.forecast_peak if rec.forecast_peak is not None else math.nan
        self.metrics.scaling_forecast_peak.labels(workload=name).set(peak)
        self.metrics.scaling_predictive.labels(workload=name).set(
            1.0 if rec.mode == "predictive" else 0.0
        )
        for gauge, key in (
            (self.metrics.scaling_capacity, "capacity_per_pod"),
            (self.metrics.scaling_startup, "startup_seconds"),
        ):
            value = sizing.get(key)
            if isinstance(value, int | float):
                gauge.labels(workload=name).set(value)

    def _held_gauges(self, listed: set[str]) -> None:
        """``autonomic_scaling_held{workload, reason}``: 1 for each workload held now,
        with its reason; a series whose hold ended (or changed reason) is removed, and so
        is that of a workload missing from this cycle's listing (deleted): its hold is
        kept in ``status.held`` until ``_forget``, up to ``FORGET_AFTER``, but the loop
        holds nothing it does not see, as the floor gauges say (``_forget_gauges``)."""
        if self.metrics is None:
            return
        now_held = {
            (name, reason) for name, reason in self.status.held_reason.items() if name in listed
        }
        for name, reason in self._held_published - now_held:
            with contextlib.suppress(KeyError):
                self.metrics.scaling_held.remove(name, reason)
        for name, reason in now_held:
            self.metrics.scaling_held.labels(workload=name, reason=reason).set(1.0)
        self._held_published = now_held

    def _forget_gauges(self, seen: set[str]) -> None:
        """A workload no longer opted in leaves the metrics (no stale series)."""
        if self.metrics is None:
            return
        for name in self._published - seen:
            for gauge in (
                self.metrics.scaling_floor,
                self.metrics.scaling_forecast_peak,
                self.metrics.scaling_predictive,
                self.metrics.scaling_capacity,
                self.metrics.scaling_startup,
            ):
                with contextlib.suppress(KeyError):
                    gauge.remove(name)
        for name in set(self._accuracy_published) - seen:
            self._unpublish_accuracy(name)
        self._published &= seen

    def _one(self, workload: WorkloadState, now: float, *, forecast_only: bool = False) -> None:
        ref = workload.ref
        rollout = self._templates.get(ref)
        if rollout is not None:
            # Argo runs the pods of a Rollout with a workloadRef; the Deployment keeps
            # whatever replicas its scaleDown leaves it (``never``, or none: all of
            # them; ``progressively``: fewer as the Rollout grows), so a floor or a scale
            # here would add pods behind the Rollout's back, or fight Argo.
            self._hold(
                ref,
                "RolloutTemplate",
                f"{ref} is the pod template of {rollout} (spec.workloadRef): the Rollout "
                f"runs the pods and is the one scaled, whatever replicas Argo leaves {ref} "
                f"(workloadRef.scaleDown); put the opt-in and the HPA on {rollout}; holding",
            )
            return
        knobs = read_knobs(workload.annotations, self.settings.load_queries)
        if isinstance(knobs, str):
            self._hold(ref, "BadAnnotation", knobs)
            return
        if knobs.capacity is None and self.cluster.get_hpa_for(ref) is None:
            self._hold(
                ref,
                "NoCapacity",
                f"no {CAPACITY} annotation, and no HPA to learn the per-pod capacity from: "
                f"staying reactive; set {CAPACITY} (the load one ready pod carries) or give "
                f"{ref} an HPA for it to be scaled ahead of its load",
            )
            return
        model = self.models.get(ref)
        if model is None:
            model = self.models[ref] = self._new_model(ref)
        startup, startup_source = self._startup(workload, model, knobs, now)
        query, load_query = self._query(ref, knobs.load_query), knobs.load_query
        since = knobs.history_since
        cut = model.fitted is not None and model.history_since != since
        # Another load query (its annotation now names another, or that name's template
        # was changed) reads another metric: the model fitted on the old one's history,
        # its recent points, its band and a capacity learned in its unit are of no use.
        # Fitted again on the new query's history, live at once, as after a history cut.
        # Either change (or both: one refit) is refitted for at most
        # ``CHANGE_REFITS_PER_CYCLE`` workloads a cycle: the others go on being read,
        # forecast, sized and verified on the model they have (its query, its cut) until
        # their turn, never a model of one metric fed the other's.
        # A workload whose change refit could not read (its new query has no series, say)
        # would otherwise take the budget again at every cycle, ahead of those after it
        # in the listing, and keep them waiting for ever: it yields to those that waited
        # at the last cycle, and is tried again once they have had their turn.
        requery = model.fitted is not None and model.query != query
        if not (cut or requery):
            model.change_unread = False
        else:
            yields = model.change_unread and self._change_queued_before > 0
            if self._change_refits_left > 0 and not yields:
                self._change_refits_left -= 1
                model.change_unread = True  # until its refit has read
            elif not requery or model.query is not None:
                what = "with a changed load query" if requery else "with a changed history-since"
                waiting = self._change_refits_waiting
                waiting[what] = waiting.get(what, 0) + 1
                if not model.change_unread:
                    self._change_queued += 1
                if requery:
                    query, load_query = model.query or query, model.load_query
                cut = requery = False
                since = model.history_since
        if requery:
            model.capacity = CapacityEstimate()  # in the old metric's unit: learned again
            model.breach_streak, model.breach_since = 0, None
        elif model.query == query:
            # The same query under another name (two loadQueries entries, or one and
            # scaling.loadQuery, written alike): the same metric, nothing to fit again,
            # but a breach is named by the name picked now.
            model.load_query = load_query
        refit = model.fitted is None or cut or requery
        why = "FirstFit" if model.fitted is None else "HistoryCut" if cut else "QueryChanged"
        drifted = model.drift is not None and model.drift.refit
        due = now - model.evaluated_at >= self.settings.refit_every
        # Drift refits share the cycle's refit budget with scheduled ones: a fleet-wide
        # shift (a holiday, a failover) must not read every workload's week at once.
        if not refit and (drifted or due) and self._refits_left:
            refit = True
            why = model.drift.reason if drifted and model.drift is not None else "Scheduled"
            self._refits_left -= 1
        if refit or not model.recent.size:
            start = now - self.keep
            if since is not None:
                # Never fit what came before the cut, but always read the newest
                # minutes: the current load and the level come from them.
                start = min(max(start, since), now - STEP * (RECENT - 1))
        else:
            start = model.recent.last + STEP
            if start > now:
                return  # nothing new since the last cycle
        try:
            found = self.reader.range(query, start, now, STEP, now)
        except (TransientError, PermanentError):
            # Prometheus down: held as ``ReadFailed`` (``cycle``), and a scheduled floor,
            # which needs no load, still raised; the read's error is the one reported.
            with contextlib.suppress(TransientError, PermanentError):
                self._schedule_held(workload, model, knobs, startup, now, forecast_only)
            raise
        # The newest sample there is: the read's, or (a read of the last minutes that
        # holds none) the newest the model kept. A gap shorter than ``stale_after`` is
        # read past, as a stale read is only one whose newest sample is older. Prometheus
        # leaves a series out of a range result where it has no point, so a read inside
        # a gap is no series at all (another source may give one of NaN): the series is
        # not gone for that, when the model has samples of it.
        # A NaN or infinite sample Prometheus returned is not a gap: it holds as before.
        explicit = len(found) == 1 and found[0].non_finite_samples > 0
        newest = found[0].last_sample_at if len(found) == 1 else None
        unusable = len(found) != 1 or not found[0].usable
        if newest is None and len(found) <= 1 and not refit and not explicit:
            newest = _newest_finite(model.recent)
            unusable = newest is None or now - newest > self.stale_after
        if not unusable and self._stored is not None and now - self._stored > self.stale_after:
            # Prometheus has stored nothing for longer (its scrapes or remote writes
            # stopped): a range read still answers each step of a rate's window, or of
            # its 5-minute lookback, after the last sample, stamped with the step's time,
            # so the read looks fresh for minutes past ``stale_after``. No sample of the
            # load is newer than what Prometheus last stored: a gap since then.
            newest, unusable = min(newest if newest is not None else now, self._stored), True
        if unusable:
            code, why = _unusable(found, now, newest, self.stale_after)
            model.gap_since = newest if code == "LoadGap" else None
            # The status has the gap's length; the log says it once, not each cycle.
            self._hold(ref, code, f"{why}: holding the current floor", kind=code)
            self._schedule_held(workload, model, knobs, startup, now, forecast_only)
            return
        self._unheld(str(ref))
        if found:
            timestamps, samples = found[0].series.timestamps, found[0].series.values
        else:  # inside a gap: no new sample
            timestamps = samples = np.empty(0)
        del found  # the read may be a week of samples: not kept past this point
        if refit:
            week = LoadHistory()
            week.extend(timestamps, samples, keep=self.keep)
            del timestamps, samples
            # What is not demand (a glitch, an outage's zeros) is fitted as a gap: the
            # profile, its intervals and the band it is held to learn no damage. The
            # newest points are kept as read: they are the current load.
            learnt, glitches, outages = mask_not_demand(week.values)
            # ... and so are the drift check's outcomes that are an outage's zeros.
            model.zeros.learn(week.values)
            history = Series(week.timestamps(), learnt, STEP, query)
            del learnt
            model.recent = week.tail(RECENT)
            # The cut and the query move with the refit that read from them: a refit whose
            # read failed (or was stale) leaves them, and is tried again at the next cycle.
            model.query, model.load_query = query, load_query
            model.history_since = since
            model.change_unread = False
            self._refit(
                ref,
                model,
                history,
                now,
                why,
                forced=why in ("FirstFit", "HistoryCut", "QueryChanged"),
                steps=horizon_steps(
                    lead_time(startup, self.settings.period, self.settings.metric_lag), STEP
                ),
                masked=(glitches, outages),
            )
            del week, history
        else:
            model.recent.extend(timestamps, samples, keep=RECENT * STEP)
            del timestamps, samples
            assert model.fitted is not None  # refit is False only once a model is fitted
            model.fitted = model.fitted.advance(model.recent.values, model.recent.last)
        assert model.fitted is not None
        values = model.recent.values
        self._track(ref, model, values, now)
        lead = lead_time(startup, self.settings.period, self.settings.metric_lag)
        # The forecast starts one step after the newest point read. Inside a gap read
        # past (reads with no series) that is minutes ago, and a forecast of the lead
        # from it would end minutes ago: the floor must still cover the lead ahead of
        # now, so the whole steps missing are looked through too. (Less than a step is
        # the cycle's usual phase against the read's grid: nothing changes.)
        behind = STEP * math.floor(max(0.0, now - model.fitted.last_timestamp) / STEP + 1e-9)
        horizon = horizon_steps(lead + behind, STEP)
        forecast = model.fitted.predict(max(horizon, 1), levels=self.levels)
        if forecast.mean.size:  # what the next value will be judged against
            model.expect = (
                float(forecast.timestamps[0]),
                float(forecast.mean[0]),
                float(forecast.lower(BREACH_LEVEL)[0]),
                float(forecast.upper(BREACH_LEVEL)[0]),
            )
        hpa = self.cluster.get_hpa_for(ref)
        if hpa is not None:
            model.hpa_seen = (now, str(hpa.ref), workload.managed_by_human_at)
        if hpa is not None and hpa.shared_with:
            # The HPA controller scales with none of them (ScalingActive=False,
            # AmbiguousSelector): a floor on the first would mean nothing, or a fight.
            names = ", ".join((hpa.ref.name, *hpa.shared_with))
            self._hold(
                ref,
                "AmbiguousHpa",
                f"{len(hpa.shared_with) + 1} HPAs target {ref} ({names}): the HPA "
                "controller scales with none of them (AmbiguousSelector); delete all but "
                "one; holding the current floor",
            )
            return
        if hpa is not None and hpa.max_replicas < hpa.min_replicas:
            self._hold(
                ref,
                "InvalidHpa",
                f"{hpa.ref} has maxReplicas {hpa.max_replicas} below minReplicas "
                f"{hpa.min_replicas}: fix the HPA; holding the current floor",
            )
            return
        above = _min_above_max(knobs, hpa)
        if above is not None:
            self._hold(ref, "MinAboveMax", above)
            return
        # Why the floor is only published, never written (None: it may be written).
        published: str | None = f"{PREDICTIVE}: {FORECAST_ONLY}" if forecast_only else None
        if self._managed(ref, model, hpa):
            assert hpa is not None
            published = f"{hpa.ref} is managed by {hpa.controller}"
        forecast_only = published is not None
        if workload.replicas == 0 and (hpa is None or hpa.min_replicas != 0):
            if (
                hpa is not None
                and not forecast_only
                and self._zero_back(workload, model, hpa, knobs, now)
            ):
                return  # a floor of its own, stuck above a target at 0: the 0 given back
            # Scaled to zero by someone (a person, a rollout controller): the HPA treats a
            # target at 0 with a minReplicas above 0 as "autoscaling off", and so does the
            # loop, which would otherwise scale it back up every cycle.
            if hpa is not None and self._own_min(model, hpa) == 0:
                # An HPA that scales to zero, held above its own 0 (a floor kept after a
                # "no" to giving the 0 back, or someone's minReplicas): it does scale to
                # zero; its minReplicas now keeps it from waking the workload.
                why = (
                    f"{ref} is scaled to zero (spec.replicas 0) under {hpa.ref} minReplicas "
                    f"{hpa.min_replicas}, above the HPA's own minimum of 0: the HPA "
                    "controller leaves a target at 0 alone while its minReplicas is above 0 "
                    "(ScalingActive=False, ScalingDisabled), so autoscaling is off for it; "
                    "set minReplicas back to 0 or scale it up to resume; holding"
                )
            else:
                why = (
                    f"{ref} is scaled to zero (spec.replicas 0)"
                    + (f" and {hpa.ref} does not scale to zero" if hpa is not None else "")
                    + ": autoscaling is off for it, as the HPA treats it; scale it up to "
                    "resume; holding"
                )
            self._hold(ref, "ScaledToZero", why)
            return
        self._unplaced(workload, model, now)
        if hpa is not None and (model.hpa_min_configured is None or hpa.uid != model.hpa_uid):
            model.hpa_min_configured = self._configured_min(hpa, now)
            model.hpa_uid = hpa.uid
        # The owner's minimum as it is: an HPA that scales to zero (minReplicas 0, with
        # an Object or External metric) gets its 0 back when no floor is needed. Without
        # an HPA the loop drives the replicas itself and never sets them to 0.
        floor_min = knobs.min_replicas
        if floor_min is None:
            floor_min = model.hpa_min_configured if model.hpa_min_configured is not None else 1
        if hpa is None:
            floor_min = max(floor_min, 1)
        # The newest sample (a gap shorter than ``stale_after`` is read past, not taken
        # for a load of nothing): NaN when none is that recent.
        newest = _newest_finite(model.recent)
        fresh = False  # a sample the counters have not taken yet
        if newest is not None and newest > model.counted_at:
            fresh, model.counted_at = True, newest
        current_load = math.nan
        if explicit:
            current_load = float(values[-1]) if values.size else math.nan
        elif newest is not None and now - newest <= self.stale_after:
            current_load = float(values[round((newest - model.recent.first) / STEP)])
        capacity, capacity_source = knobs.capacity, "annotation"
        if capacity is None:
            if hpa is None:
                self._hold(
                    ref, "NoHpa", "the HPA is gone, and with it the per-pod capacity: holding"
                )
                return
            estimate = model.capacity
            if not estimate.loaded:
                self._restore_capacity(ref, estimate, query, now)
            if fresh:  # the HPA's reading against the load it saw, not an old one
                estimate.observe(
                    current_load,
                    workload.ready_replicas,
                    workload.replicas,
                    hpa.usage_ratio,
                    _rolling(workload),
                )
            capacity = estimate.value()
            if capacity is None:
                self._hold(
                    ref,
                    "LearningCapacity",
                    f"no {CAPACITY} annotation: learning the per-pod capacity from the HPA "
                    f"({CAPACITY_MIN} steady readings needed); staying reactive until then",
                )
                # A scheduled floor needs no capacity: one due meanwhile is raised, as
                # while the load is stale (it was not: the hold returned first).
                self._schedule_held(
                    workload,
                    model,
                    knobs,
                    startup,
                    now,
                    forecast_only,
                    "the per-pod capacity is not known yet",
                )
                return
            if estimate.learned():
                capacity_source = f"learned from {len(estimate.readings)} HPA readings"
                self._save_capacity(ref, estimate, capacity, query, now)
            else:
                capacity_source = "learned by an earlier process (kept in the ledger)"
        suspect = implausible(values, capacity)
        # Not acted on as load, so not scored as a forecast miss either: held back
        # until the streak says whether it was a glitch or a surge.
        if model.glitch.hold(
            model.outcomes, suspect is not None, fresh=fresh, arrived=model.arrived
        ):
            self._hold(
                ref,
                "SuspectSample",
                f"{suspect}: not acted on unless it holds for {SPIKE_CYCLES} minutes",
            )
            # The sample is not used; a scheduled floor due meanwhile needs none.
            self._schedule_held(workload, model, knobs, startup, now, forecast_only)
            return
        self._verify(workload, model, current_load if fresh else math.nan, capacity, query, now)
        sizing = ScalingSettings(
            capacity_per_pod=capacity,
            lead_seconds=lead + behind,
            min_replicas=floor_min,
            max_replicas=_ceiling(knobs.max_replicas, hpa, floor_min),
            ceiling_note=_ceiling_note(knobs.max_replicas, hpa, floor_min),
            level=self.level,
            margin=self.margin,
            loop_period=self.settings.period,
            has_hpa=hpa is not None,
        )
        current = hpa.min_replicas if hpa is not None else workload.replicas
        if model.previous is None:
            # No recommendation of this process's own to pace a lower floor from (a
            # restart, a new leader, a workload just opted in): it comes down from the
            # one the cluster has (a floor an earlier process raised, replicas someone
            # set) at the scale-in pace, not in one write to what the forecast allows.
            model.previous = ScalingRecommendation(
                now,
                current,
                current,
                0,
                "hold",
                "ClusterFloor",
                f"the {'minReplicas' if hpa is not None else 'replicas'} the cluster has",
            )
        elif (
            model.applied
            and model.previous.floor is not None
            and now - model.previous.now >= 2 * self.settings.period
        ):
            # Not decided for a cycle or more (held, or another replica led meanwhile):
            # one decision paces no more than one cycle's scale-in however long that was,
            # so the pace starts from the floor in effect when that is lower than this
            # loop's last (another leader, or someone, lowered it since): this loop's
            # older floor would otherwise be paced down from, and written back above it.
            floor_now = self._reference(model, current, now)
            if floor_now < model.previous.floor:
                model.previous = replace(model.previous, floor=floor_now)
        if model.theirs and current != model.previous.floor:
            # Someone else's floor (an override, replicas set after the HPA went): the
            # pace starts from it, as a new leader's does. Above the loop's own, after the
            # wait it comes down a step at a time, not to the loop's older, lower wish in
            # one write; below it, it is not raised back to the loop's older wish (paced
            # down from a floor they lowered), only to what the load needs. The branch
            # above takes a lower value only once the loop has applied a floor: one whose
            # last floor was an earlier process's, or only asked or published, would
            # otherwise raise theirs after the wait. Every cycle of the wait looks again
            # (they may change it again); the loop's own floors, written after, are not
            # theirs.
            model.previous = replace(model.previous, floor=current, pace_since=None)
        paced_from = model.previous
        rec = recommend(
            forecast,
            WorkloadNow(now, workload.replicas, current_load, paced_from),
            sizing,
        )
        if model.poor is not None:
            rec = untrusted(rec, model.poor, has_hpa=hpa is not None)
        if rec.mode == "reactive":
            # The floor as this loop left it: what it applied, else what the cluster has
            # (a floor only asked about or published was never raised).
            base = self._reference(model, current, now) if model.applied else current
            rec = ease_reactive(rec, model.previous, base, sizing)
        unscheduled = rec
        rec = self._scheduled_floor(ref, model, rec, lead, sizing, now)
        if hpa is not None:
            rec = self._hpa_pace(workload, model, hpa, rec, now)
        # The forecast's stance (predictive, reactive and why), not the schedule's.
        self._report_mode(ref, model, unscheduled if model.scheduled else rec)
        model.previous = model.latest = rec
        model.sizing = {
            "capacity_per_pod": capacity,
            "capacity_source": capacity_source,
            "startup_seconds": startup,
            "startup_source": startup_source,
            "lead_seconds": lead,
            # how far the newest point read was behind now (a gap read past): the
            # forecast the floor was sized from spans these seconds and then the lead
            "sample_behind_seconds": behind,
        }
        self._breach(
            ref,
            model,
            forecast_upper=float(forecast.upper(BREACH_LEVEL)[0]) if forecast.mean.size else None,
            observed=current_load if fresh else math.nan,
            now=now,
        )
        floor = rec.floor if rec.floor is not None else floor_min
        if rec.mode == "hold":
            self._hold(ref, rec.reason, rec.message)
            self._schedule_held(workload, model, knobs, startup, now, forecast_only)
            return
        if self._said.pop(str(ref), None) is not None:  # a new hold is news again
            stamps = model.recent.timestamps()
            after = stamps[np.isfinite(model.recent.values) & (stamps > (model.gap_since or now))]
            if model.gap_since is not None and after.size and after[0] > model.gap_since + STEP:
                log.info(
                    "scaling %s no longer held: load samples again after a gap of %s "
                    "(none from %s to %s); deciding from the load again",
                    ref,
                    _age(float(after[0]) - model.gap_since - STEP),
                    to_utc_text(model.gap_since + STEP),
                    to_utc_text(float(after[0]) - STEP),
                )
            else:
                log.info("scaling %s no longer held: deciding from the load again", ref)
        model.gap_since = None
        wanted = floor if hpa is not None else max(rec.replicas, floor)
        self._gauges(ref, wanted, rec, model.sizing)
        if not forecast_only:
            self._overridden(workload, model, hpa, now)
        # A cycle that waits (paused, a question open or its answer carried out, an
        # override, a refused write or a "no" waited out) decides nothing, so, as a hold,
        # it earns a floor coming down no drop: it keeps the recommendation it paced
        # from, and the first decision after the wait lowers the floor by one cycle's
        # pace from there, not by a wish paced down every cycle of the wait, unwritten,
        # and written in one step after. It also starts the patience count again (as a
        # cycle that does not want the floor lower does), so a lowering comes only after
        # SCALE_IN_PATIENCE cycles of wanting it since the wait, not fewer.
        if self._pause:
            self._held(str(ref), "Paused", f"paused ({self._pause}): no decision, no write")
            model.previous, model.lower_streak = paced_from, 0
            return
        if model.pending is not None and model.scheduled is not None and workload.replicas:
            # A known event does not wait behind an unanswered forecast question.
            self._supersede_for_schedule(ref, model, model.scheduled, wanted, now)
        if model.pending is not None and self._settle(
            workload, model, hpa is not None, now, target=hpa.ref if hpa is not None else ref
        ):
            model.previous, model.lower_streak = paced_from, 0
            return  # a question is open, or its answer was carried out this cycle
        raising = wanted > self._reference(model, current, now)
        if self._quiet(model, now, model.scheduled if raising else None):
            if model.quiet_why is not None:
                self._held(str(ref), model.quiet_reason, model.quiet_why)
            model.previous, model.lower_streak = paced_from, 0
            return
        model.quiet_why = None
        model.theirs = False  # the wait is over: paced from their floor from now on
        if model.published and not forecast_only:
            # Back from forecast-only (or its HPA no longer another controller's): the
            # floor only published is not one decided, so it is decided now, not when
            # the recommendation next changes.
            model.recommended, model.published = None, False
        reference = self._reference(model, current, now)
        # Hysteresis: raise at once, lower only after the wish has stayed below the floor
        # for SCALE_IN_PATIENCE cycles in a row, so a floor hovering between two values
        # does not flap every minute. The wish went on coming down at the pace meanwhile,
        # so the lowering writes up to that many steps at once (40 -> 25), never below
        # a floor written every cycle. In every mode: a reactive floor coming down is
        # paced as a predictive one is (``ease_reactive``).
        if wanted < reference:
            model.lower_streak += 1
            if model.lower_streak < SCALE_IN_PATIENCE:
                return
        else:
            model.lower_streak = 0
        if wanted == reference:
            return
        if hpa is not None and workload.replicas == 0 and wanted > 0 and not forecast_only:
            # An HPA that scales to zero has the workload at 0: its floor waits for the
            # HPA to wake it, as a wait does (``_at_zero``).
            self._held(str(ref), "ScaledToZero", _at_zero(ref, hpa, wanted))
            model.previous, model.lower_streak = paced_from, 0
            return
        target = hpa.ref if hpa is not None else ref
        if not forecast_only and self._remedy_hold(ref, model, target, current, wanted):
            # A runbook's floor for the same field is still to be written (or judged):
            # a wait, which earns a floor coming down no drop, as the others do. Only a
            # lowering that has had its five cycles' patience gets here, and the count
            # is kept: it is written as soon as the runbook's decision is closed.
            model.previous = paced_from
            return
        model.lower_streak = 0
        self._decide(
            workload,
            model,
            hpa is not None,
            current,
            wanted,
            rec,
            forecast.model,
            hpa=hpa,
            published=published,
        )

    def _zero_back(
        self,
        workload: WorkloadState,
        model: WorkloadModel,
        hpa: HpaState,
        knobs: WorkloadKnobs,
        now: float,
    ) -> bool:
        """A workload at 0 replicas under an HPA whose minReplicas is a floor this loop
        wrote, over an owner's minimum of 0 (an HPA that scales to zero): the HPA
        controller leaves a target at 0 alone while its minReplicas is above 0
        (ScalingActive=False, ScalingDisabled), so that floor woke nothing, switched the
        HPA off, and nothing else gives the 0 back (an earlier version raised floors in
        that state; the HPA may also scale the target to 0 between the loop's read and
        its write). The owner's 0 is given back as a decision routed like any give-back;
        a question about it is followed up here. True when the workload's turn is done;
        False to hold it as scaled to zero: a minReplicas Autonomic did not write (a
        person's, another leader's since), a workload someone changed since that write
        (the 0 may be theirs), an owner's minimum above 0 (the HPA's own, or
        ``autonomic.dev/min-replicas``), another question open, a pause or a wait; True,
        held, while a remediation decision writing the same minReplicas is open."""
        ref = workload.ref
        if model.pending is not None:
            asked = self.decisions.ledger.get_decision(model.pending)
            if asked is None or asked.reason_code != "ScaledToZero":
                return False  # another question: waited out, as before
            if self._pause:
                # As on the normal path: an approval is carried out after the pause.
                self._held(str(ref), "Paused", f"paused ({self._pause}): no decision, no write")
                return True
            self._settle(workload, model, True, now, target=hpa.ref)
            if model.pending is not None:
                why = f"{asked.reason}; asked (decision {asked.id}): waiting for the answer"
                self._hold(ref, "ScaledToZero", why, kind=asked.id)
            else:
                self._held(str(ref), "ScaledToZero", str(asked.reason))
            return True
        if self._pause or now < model.quiet_until or knobs.min_replicas is not None:
            return False
        if hpa.controller is not None or (model.recommended == 0 and not model.applied):
            # Not the loop's to write; or the 0 decided already and not written (observe
            # mode, or a "no": as for any floor, the same one is not asked about again).
            return False
        record = self._written(ref, model, hpa.min_replicas, field=MIN_FIELD)
        written = _written_value(record) if record is not None else None
        uid = str(record.get("hpa_uid") or "") if record is not None else ""
        if written != hpa.min_replicas or (uid and hpa.uid and uid != hpa.uid):
            return False  # not a floor Autonomic wrote on this HPA: left alone
        assert record is not None
        # Someone (a person, a GitOps tool) changed the workload since that write: the 0
        # may be theirs, autoscaling switched off on purpose; the HPA's own scale-downs
        # are the cluster's, not someone's (``managed_by_human_at``).
        changed, then = workload.managed_by_human_at, record.get(CHANGED_THEN)
        if changed is not None:
            if isinstance(then, int | float):
                theirs = changed > then
            elif CHANGED_THEN in record:  # no change by anyone then: this one is since
                theirs = True
            else:  # a record from before that was kept: this process's clock, to the second
                at = record.get("at")
                theirs = not isinstance(at, int | float) or changed >= math.floor(at)
            if theirs:
                return False
        if self._configured_min(hpa, now) != 0:
            return False
        if self._remedy_hold(ref, model, hpa.ref, hpa.min_replicas, 0):
            # A runbook's write of the same minReplicas is open, compare-and-set against
            # this value: held (RemediationPending) as the normal path's lowering is.
            return True
        by = _text(record.get("decision_id"))
        why = (
            f"{ref} is at 0 replicas under {hpa.ref} minReplicas {written}, a floor "
            f"Autonomic wrote{f' (decision {by})' if by else ''} over the HPA's own minimum "
            "of 0: the HPA controller leaves a target at 0 alone while its minReplicas is "
            "above 0 (ScalingActive=False, ScalingDisabled), so that floor woke nothing and "
            f"switched the HPA off; the 0 is given back for {hpa.ref} to wake {ref} on its "
            "own metric"
        )
        self._hold(ref, "ScaledToZero", why)
        rec = ScalingRecommendation(now, 0, 0, 0, "reactive", "ScaledToZero", why)
        # The owner's minimum back is no schedule's; the next floor is paced from the 0.
        model.scheduled, model.previous = None, None
        self.status.scheduled.pop(str(ref), None)
        self._decide(
            workload,
            model,
            True,
            hpa.min_replicas,
            0,
            rec,
            "none (the workload is at 0 replicas)",
            hpa=hpa,
        )
        return True

    def _unmatched_schedules(
        self,
        workloads: Sequence[WorkloadState],
        seen: set[str],
        unread: Sequence[UnreadObject],
    ) -> None:
        """Say (once in the log, and in ``GET /scaling`` while it lasts) each workload a
        scheduled floor names that the loop does not scale: not listed (a typo, another
        namespace, not labelled for Autonomic), not opted in to predictive scaling, or
        left out of the listing as unreadable (there, but nothing is set for it); or that
        it scales but holds for a reason that stops the schedule too (``SCHEDULE_STOPPED``:
        a malformed annotation, its HPA unusable, ...)."""

        def named(ref: ObjectRef, name: str) -> bool:
            return name in (f"{ref.namespace}/{ref.name}", f"{ref.kind}/{ref.namespace}/{ref.name}")

        found: dict[str, str] = {}
        for schedule in self.settings.scheduled_floors:
            for name in schedule.workloads:
                listed = [w.ref for w in workloads if named(w.ref, name)]
                stopped = [
                    (ref, self.status.held_reason.get(str(ref), ""))
                    for ref in listed
                    if str(ref) in seen
                ]
                for ref, reason in stopped:
                    if reason in SCHEDULE_STOPPED:
                        found[f"{schedule.name}: {name}"] = (
                            f"scheduled floor {schedule.name} names {name}, which is held "
                            f"({reason}: see held, {ref}): no floor is set for it while it is"
                        )
                if stopped:
                    continue
                odd = next((u for u in unread if u.ref.name and named(u.ref, name)), None)
                found[f"{schedule.name}: {name}"] = (
                    f"scheduled floor {schedule.name} names {name}, which "
                    + (
                        f"could not be read ({odd.why}): no floor is set for it until it can be"
                        if odd is not None and not listed
                        else "is not opted in to predictive scaling (label "
                        f'{self.opt_in_label}: "true" and annotation {PREDICTIVE}: "true"): '
                        "no floor is set for it"
                        if listed
                        else "is no Deployment, StatefulSet or Rollout in the namespaces "
                        "Autonomic watches: no floor is set for it"
                    )
                )
        for key, why in found.items():
            if self.status.unscheduled.get(key) != why:
                log.warning("scaling: %s", why)
        self.status.unscheduled = found

    def _schedule(
        self, ref: ObjectRef, lead: float, now: float, ceiling: int, note: str
    ) -> tuple[int, str, str] | None:
        """The scheduled floor due for ``ref`` now: the highest ``minReplicas`` of the
        ``scaling.scheduledFloors`` naming it whose window is open within ``lead`` (the
        pods' start-up and the cycle's lead), capped at ``ceiling``; with its name and a
        sentence saying so. None when no window of it is that near."""
        due: list[tuple[int, float, Any]] = []
        for schedule in self.settings.scheduled_floors:
            if not schedule.applies_to(ref.kind, ref.namespace, ref.name):
                continue
            opens = first_open(schedule, now, lead)
            if opens is not None:
                due.append((min(schedule.min_replicas, ceiling), opens, schedule))
        if not due:
            return None
        # The highest floor (as capped); of equal ones, the one open first (open now,
        # rather than one only within the lead of opening after it).
        _, opens, schedule = max(due, key=lambda item: (item[0], -item[1]))
        wanted = min(schedule.min_replicas, ceiling)
        window = describe(schedule.model_copy(update={"name": None}))

        def clock(at: float) -> str:  # with the date when it is a day or more away
            shape = "%H:%M UTC" if abs(at - now) < 86400.0 else "%Y-%m-%d %H:%M UTC"
            return datetime.fromtimestamp(at, UTC).strftime(shape)

        # Until the end of the opening due (the one open now, or the one that opens
        # within the lead): when the floor is given back, at the scale-in pace.
        ends = closes_at(schedule, opens, SCHEDULE_LOOKAHEAD)
        until = (
            f"while it is open (past {to_utc_text(opens + SCHEDULE_LOOKAHEAD)})"
            if ends is None
            else f"until {clock(ends)}"
        )
        if opens > now:
            when = (
                f"from {clock(opens - lead)} {until} (the window opens at {clock(opens)}; "
                f"{format_duration(lead)} of start-up lead)"
            )
        else:
            when = until
        sentence = (
            f"scheduled floor {schedule.name}: at least {schedule.min_replicas} replicas "
            f"{when} for {window}"
        )
        if wanted < schedule.min_replicas:
            sentence += f"; capped at {wanted}: {note}"
        return wanted, str(schedule.name), sentence

    def _scheduled_floor(
        self,
        ref: ObjectRef,
        model: WorkloadModel,
        rec: ScalingRecommendation,
        lead: float,
        sizing: ScalingSettings,
        now: float,
    ) -> ScalingRecommendation:
        """``rec`` with its floor raised to a scheduled floor due now, whatever the
        forecast's confidence (a schedule needs no forecast); a forecast floor above it
        wins. After the window the floor is paced down as any floor is given back."""
        model.scheduled = None
        self.status.scheduled.pop(str(ref), None)
        if rec.mode == "hold":
            return rec
        due = self._schedule(ref, lead, now, sizing.max_replicas, sizing.ceiling_note)
        if due is None or (rec.floor is not None and rec.floor >= due[0]):
            return rec
        wanted, name, sentence = due
        before = model.previous.floor if model.previous is not None else None
        kept = before == wanted and model.previous is not None
        model.scheduled = name
        self.status.scheduled[str(ref)] = sentence
        return replace(
            rec,
            floor=wanted,
            replicas=max(rec.replicas, wanted),
            reason="ScheduledFloor",
            message=sentence,
            pace_since=model.previous.pace_since if kept and model.previous else now,
        )

    def _schedule_held(
        self,
        workload: WorkloadState,
        model: WorkloadModel,
        knobs: WorkloadKnobs,
        startup: float,
        now: float,
        forecast_only: bool,
        unused: str = "the load cannot be used now",
    ) -> None:
        """A workload held on its load (stale, a gap, no usable sample) or its capacity
        (being learned): a scheduled floor needs no numbers, so one due now is still
        raised, through the same decision, routing and holds as any floor (``unused``: what
        its sentence says cannot be used). Nothing is lowered while held."""
        if not self.settings.scheduled_floors or self._pause:
            return
        ref = workload.ref
        hpa = self.cluster.get_hpa_for(ref)
        if hpa is not None and (hpa.shared_with or hpa.max_replicas < hpa.min_replicas):
            return  # held for those reasons too, once the load is read
        if _min_above_max(knobs, hpa) is not None:
            return  # as the floor the API server refuses would be (MinAboveMax)
        if workload.replicas == 0 and (hpa is None or hpa.min_replicas != 0):
            return  # autoscaling is off for it
        if workload.replicas == 0 and not forecast_only and not self._managed(ref, model, hpa):
            return  # at 0 by its HPA: a floor now would switch it off (``_at_zero``)
        floor_min = max(knobs.min_replicas or 1, 1)
        lead = lead_time(startup, self.settings.period, self.settings.metric_lag)
        ceiling = _ceiling(knobs.max_replicas, hpa, floor_min)
        due = self._schedule(
            ref, lead, now, ceiling, _ceiling_note(knobs.max_replicas, hpa, floor_min)
        )
        if due is None:
            # No window near: a schedule that set the floor before the hold is over, and
            # ``GET /scaling`` no longer says it sets the floor now.
            model.scheduled = None
            self.status.scheduled.pop(str(ref), None)
            return
        wanted, name, sentence = due
        current = hpa.min_replicas if hpa is not None else workload.replicas
        if model.pending is not None and not self._supersede_for_schedule(
            ref, model, name, wanted, now, in_force=current
        ):
            return  # a question open (the schedule's own, or about a higher floor)
        if self._quiet(model, now, name):
            return  # a wait (an override, a refused write, a "no" to it) not over
        in_force = max(current, self._reference(model, current, now))
        if wanted <= in_force:
            # Kept, not raised: the schedule's floor is the one in force (raised by an
            # earlier cycle or process) and ``GET /scaling`` says so, as on the normal
            # path; a floor above it (the forecast's, before the hold) is not its.
            if wanted == in_force:
                model.scheduled = name
                self.status.scheduled[str(ref)] = sentence
            else:
                model.scheduled = None
                self.status.scheduled.pop(str(ref), None)
            return
        published: str | None = f"{PREDICTIVE}: {FORECAST_ONLY}" if forecast_only else None
        if self._managed(ref, model, hpa):
            assert hpa is not None
            published = f"{hpa.ref} is managed by {hpa.controller}"
        target = hpa.ref if hpa is not None else ref
        if published is None and self._remedy_hold(ref, model, target, current, wanted):
            return
        rec = ScalingRecommendation(
            now,
            max(workload.replicas, wanted),
            wanted,
            0,
            "predictive",
            "ScheduledFloor",
            f"{sentence}; {unused}, and a scheduled floor needs none",
            pace_since=now,
        )
        if hpa is not None:
            rec = self._hpa_pace(workload, model, hpa, rec, now)
        model.scheduled = name
        self.status.scheduled[str(ref)] = sentence
        model.previous = model.latest = rec
        self._decide(
            workload,
            model,
            hpa is not None,
            current,
            rec.floor if rec.floor is not None else wanted,
            rec,
            "scheduled",
            hpa=hpa,
            published=published,
        )

    def _supersede_for_schedule(
        self,
        ref: ObjectRef,
        model: WorkloadModel,
        name: str,
        wanted: int,
        now: float,
        *,
        in_force: int | None = None,
    ) -> bool:
        """A scheduled floor ``name`` is due (``wanted`` replicas) while a question about
        a floor that is no schedule's (the forecast's) is open: it kept the schedule back
        until it was answered or expired, and a known event would find its floor not
        raised. When the schedule's floor is at least what the question asks for, the
        question is closed as superseded (nobody's answer: neither a "no" nor a verdict)
        and the schedule's floor is decided instead; one asking for more still stands (an
        approval covers the schedule), as does a question about a schedule's floor, a
        give-back, and one answered already. Not while a "no" to this schedule's own
        floor is waited out: nothing would be asked in its place. True when no question
        is open any more.

        ``in_force``: the floor the cluster has, when a schedule's floor no higher than
        it decides nothing (held on the load: nothing is lowered while held); the reason
        then says that floor is kept, not that the schedule's is decided."""
        if self._quiet(model, now, name):
            return False
        assert model.pending is not None
        record = self.decisions.ledger.get_decision(model.pending)
        if record is None or record.status != "asked":
            return False
        if record.reason_code in GIVE_BACK_REASONS or _text(record.evidence.get("scheduled_floor")):
            return False
        asked = record.proposal.get("to")
        if not isinstance(asked, int) or isinstance(asked, bool) or asked > wanted:
            return False
        due = (
            f"scheduled floor {name} is due and sets at least {wanted} replicas, no fewer "
            f"than the {asked} this question asked for"
        )
        if in_force is not None and wanted <= in_force:
            why = (
                f"{due}; the floor in force, {in_force}, already covers it, so it is kept "
                "and nothing is decided in its place"
            )
        else:
            why = f"{due}: the schedule's floor is decided instead"
        if not self.decisions.supersede(record.id, why, reason="ScheduledFloor"):
            return False  # answered or expired first: that stands
        log.info("scaling %s: question %s superseded: %s", ref, record.id, why)
        # Decided afresh from the floor the cluster has, not the one only asked about.
        model.pending, model.recommended = None, None
        return True

    def _quiet(self, model: WorkloadModel, now: float, raised_by: str | None) -> bool:
        """Whether the workload waits now: an override or a refused write waited out,
        or the hour after a "no". A floor the schedule ``raised_by`` raises (None: any
        other change, a lowering included) waits that hour out only when the "no" was
        to that schedule's own floor: a "no" to the forecast's floor (or another
        schedule's) says nothing of a person's instruction for the window, which it
        kept back for the hour (the whole window, for most)."""
        if now >= model.quiet_until:
            return False
        return not (
            raised_by is not None and model.quiet_why is None and model.quiet_no != raised_by
        )

    def _unplaced(self, workload: WorkloadState, model: WorkloadModel, now: float) -> None:
        """Say when pods of the workload cannot be scheduled (Pending, Unschedulable: no
        node has room, and a cluster autoscaler, if any, takes minutes to add one). They
        are no capacity: a raised floor is not served until they are placed. The floor is
        sized from the load, not from ready pods, so it is not raised for them; the
        start-up time counts a node's wait only once such pods are ready and measured.
        Looked at once the workload has been short of ready pods for ``UNPLACED_AFTER``,
        then every ``UNPLACED_EVERY`` (sharing the cycle's pod listings with the start-up
        measurements); said once in the log, kept in ``status.unplaced`` meanwhile, and
        said again when all are placed."""
        ref, name = workload.ref, str(workload.ref)
        if workload.ready_replicas >= workload.replicas:
            model.short_since = None
            if model.unplaced_said is not None:
                log.info("scaling %s: every pod is scheduled again", ref)
            model.unplaced_said = None
            self.status.unplaced.pop(name, None)
            return
        if model.short_since is None:
            model.short_since = now
        if now - model.short_since < UNPLACED_AFTER:
            return
        if now - model.unplaced_checked < UNPLACED_EVERY or self._measures_left <= 0:
            return
        self._measures_left -= 1
        model.unplaced_checked = now
        pods = self.cluster.list_pods(ref.namespace, workload.selector or None)
        waiting = sorted(
            (p for p in pods if p.owner == ref and p.unschedulable and not p.deleting),
            key=lambda p: p.created_at if p.created_at is not None else now,
        )
        if not waiting:
            model.unplaced_said = None
            self.status.unplaced.pop(name, None)
            return
        oldest = waiting[0].created_at
        since = f", the oldest for {_age(now - oldest)}" if oldest is not None else ""
        startup = model.sizing.get("startup_seconds")
        counted = f" (now {float(startup):.0f} s)" if isinstance(startup, int | float) else ""
        why = (
            f"{len(waiting)} of the {workload.replicas} pods of {ref} cannot be scheduled"
            f"{since} ({waiting[0].unschedulable}): they are no capacity until the "
            "cluster places them; the floor is sized from the load, not raised for them, "
            f"and the start-up time{counted} counts a wait for a node only once such pods "
            "are ready"
        )
        self.status.unplaced[name] = why
        if model.unplaced_said is None:
            log.warning("scaling %s: %s", ref, why)
        model.unplaced_said = why

    def _hpa_pace(
        self,
        workload: WorkloadState,
        model: WorkloadModel,
        hpa: HpaState,
        rec: ScalingRecommendation,
        now: float,
    ) -> ScalingRecommendation:
        """The floor no higher than the HPA's own ``behavior.scaleUp`` lets it scale up.
        The HPA controller sets a target below its minReplicas to the minimum at once,
        with no stabilization and no rate limit, so a floor raised by 10 adds 10 pods in
        one step whatever pace the owner wrote there (a database's connections, a
        consumer group's rebalances). The loop follows that pace itself: each policy
        from the fewest replicas seen within its period (the HPA's own scale-ups count
        too). A floor is never lowered for it."""
        seen = model.replicas_seen
        seen.append((now, workload.replicas))
        while seen and seen[0][0] <= now - MAX_POLICY_PERIOD:
            seen.popleft()
        floor = rec.floor
        if floor is None or floor <= max(hpa.min_replicas, workload.replicas):
            return rec  # no raise, or one that adds no pods

        def start(period: int) -> int:
            return min(replicas for at, replicas in seen if at > now - period)

        allowed = hpa_scale_up_limit(hpa.scale_up_policies, hpa.scale_up_select, start)
        if allowed is None or floor <= allowed:
            return rec
        capped = max(allowed, hpa.min_replicas)
        pace = ", ".join(
            f"{counted(value, 'pod') if kind == 'Pods' else f'{value} %'} per {period} s"
            for kind, value, period in hpa.scale_up_policies
        )
        select = hpa.scale_up_select or "Max"
        return replace(
            rec,
            floor=capped,
            reason="HpaScaleUpLimit",
            message=(
                f"{rec.message}; raised to {capped}, not {floor}: {hpa.ref} scales up by at "
                f"most {pace} (behavior.scaleUp, selectPolicy {select}), and a raised "
                "minReplicas would skip that limit"
            ),
        )

    def _managed(self, ref: ObjectRef, model: WorkloadModel, hpa: HpaState | None) -> bool:
        """Whether the workload's HPA belongs to another controller (KEDA's ScaledObject
        owns the HPA it made and puts its own minReplicas back at once): then the floor
        is published and never written, as with ``forecast-only``, and the loop says
        why, once, and in ``status.managed``. Writing it would be a fight: one decision
        and one write every few minutes, each undone."""
        name = str(ref)
        if hpa is None or hpa.controller is None:
            model.managed = None
            self.status.managed.pop(name, None)
            return False
        why = (
            f"{hpa.ref} is managed by {hpa.controller}, which puts its own minReplicas "
            "back: the floor is published (autonomic.dev/recommended-replicas, "
            f"autonomic_scaling_recommended_replicas), never written; set it on "
            f"{hpa.controller} (a KEDA ScaledObject's spec.minReplicaCount)"
        )
        if model.managed != why:
            log.warning("scaling %s forecast-only: %s", ref, why)
            model.managed = why
        self.status.managed[name] = why
        return True

    def _reference(self, model: WorkloadModel, current: int, now: float) -> int:
        """What the floor is now, as far as this loop is concerned: the cluster's value
        (``current``) once a recommendation was applied, else the recommendation last
        recorded (a forecast-only or unanswered one is not recorded again while it
        stands); just after a write, the value written (the watch may lag a cycle)."""
        reference = current if model.applied or model.recommended is None else model.recommended
        if model.applied and now - model.applied_at < 2 * self.settings.period:
            reference = model.recommended if model.recommended is not None else current
        return reference

    def _report_mode(
        self, ref: ObjectRef, model: WorkloadModel, rec: ScalingRecommendation
    ) -> None:
        """Say once when the workload turns reactive, changes its reason for being
        reactive, or turns predictive again; keep the reason in ``status.reactive``.
        A hold changes nothing (it has its own status)."""
        if rec.mode == "hold":
            return
        name = str(ref)
        stance = "predictive" if rec.mode == "predictive" else rec.reason
        if rec.mode == "reactive":
            self.status.reactive[name] = f"{rec.reason}: {rec.message}"
        else:
            self.status.reactive.pop(name, None)
        if stance == model.stance:
            return
        if rec.mode == "reactive":
            log.info("scaling %s reactive (%s): %s", ref, rec.reason, rec.message)
        elif model.stance is not None:  # predictive from the start is the normal case
            log.info("scaling %s predictive again (%s): %s", ref, rec.reason, rec.message)
        model.stance = stance

    def _settle(
        self,
        workload: WorkloadState,
        model: WorkloadModel,
        has_hpa: bool,
        now: float,
        *,
        target: ObjectRef | None = None,
    ) -> bool:
        """Follow the open question: wait while it is open, carry out an approval,
        and after a rejection or expiry ask nothing for ``QUIET_AFTER_NO``. True when
        this cycle has nothing more to do for the workload. With ``target`` (the object
        the write goes to), an approval waits, still approved, while a remediation
        decision that writes the same field is open (``_remedy_hold``)."""
        assert model.pending is not None
        record = self.decisions.ledger.get_decision(model.pending)
        status = record.status if record is not None else "missing"
        if status == "asked":
            return True
        if status == "approved" and record is not None:
            wanted = int(record.proposal["to"])
            current = int(record.proposal["from"])
            if (
                target is not None
                and model.unsettled != record.id  # settled from the cluster: no new write
                and self._remedy_hold(workload.ref, model, target, current, wanted)
            ):
                return True
        model.pending = None
        if status == "approved" and record is not None:
            if self._apply(
                workload,
                model,
                has_hpa,
                record.id,
                current,
                wanted,
                str(record.reason_code),
                reactive=record.proposal.get("mode") == "reactive",
                scheduled=_text(record.evidence.get("scheduled_floor")),
                query=_text(record.evidence.get("query")),
                approved=record,
            ):
                model.recommended, model.applied, model.applied_at = wanted, True, now
            return True
        if status in ("rejected", "expired"):
            model.quiet_until, model.quiet_why = now + QUIET_AFTER_NO, None
            model.quiet_no = _text(record.evidence.get("scheduled_floor")) if record else None
            return True
        return False

    def _apply(
        self,
        workload: WorkloadState,
        model: WorkloadModel,
        has_hpa: bool,
        decision_id: str,
        current: int,
        wanted: int,
        reason: str,
        *,
        reactive: bool = False,
        scheduled: str | None = None,
        query: str | None = None,
        approved: DecisionRecord | None = None,
    ) -> bool:
        """Write the floor (or the replicas) a decision chose; whether it was written.
        ``query`` is the load query the decision was made on (its evidence's), which
        its verification holds the window's reads to: a question answered after the
        workload's load query changed was decided on the old one. Every line logged
        meanwhile carries the decision's id.

        ``approved``: the decision's record, for a question a person answered (None for
        a floor decided and written in this cycle). Its write goes where the question
        said it would (its ``op``, and for an HPA's floor the HPA its evidence names,
        by name and, where recorded, uid): what the approver saw, and what
        ``slack.requireKubernetesAccess`` reviewed. An HPA created, deleted or replaced
        since the question was asked would move the write elsewhere: it is not carried
        out then (``_unlike_approved``)."""
        with decision_context(decision_id):
            ref = workload.ref
            what = "minReplicas" if has_hpa else "replicas"
            hpa: HpaState | None = None
            if has_hpa:
                hpa = self.cluster.get_hpa_for(ref)
                if hpa is None or hpa.controller is not None:
                    reason = "NoHpa" if hpa is None else "ManagedHpa"
                    gone = (
                        "the HPA is gone"
                        if hpa is None
                        else f"{hpa.ref} is now managed by {hpa.controller}"
                    )
                    # Failed with its why, in one transaction (it used to be failed with
                    # none: ``autonomic explain`` and the question's thread said nothing).
                    why = f"not carried out ({reason}): {gone}; nothing was written"
                    detail = {"reason": reason, "why": why}
                    row = Feedback(decision_id, "execution", "failed", "autonomic", detail)
                    if self.decisions.ledger.transition(
                        decision_id, ["approved"], "failed", self.clock.now(), feedback=[row]
                    ):
                        self.decisions.progress(decision_id, why, final=True)
                    self._hold(
                        ref,
                        reason,
                        "the HPA is gone: holding" if hpa is None else f"{gone}: not written",
                    )
                    model.recommended = None  # decided afresh on what the cluster has
                    return False
                operation: SetHpaMinReplicas | Scale = SetHpaMinReplicas(
                    hpa.ref, wanted, expected=current
                )
            else:
                operation = Scale(ref, wanted, expected=current)
            key = f"scaling/{ref}/{decision_id}"
            tried = self.decisions.ledger.intents(execution_key=key)
            if approved is not None and not tried:
                # Not once tried: that write went where the decision said, checked then.
                seen = hpa if has_hpa else self.cluster.get_hpa_for(ref)
                unlike = _unlike_approved(ref, approved.proposal, approved.evidence, has_hpa, seen)
                if unlike is not None:
                    given_back = reason in GIVE_BACK_REASONS or reason == "ScaledToZero"
                    self._not_as_approved(ref, model, decision_id, *unlike, given_back=given_back)
                    return False
            if (
                not tried
                and hpa is not None
                and hpa.min_replicas == 0
                and wanted > 0
                and self._still_at_zero(workload, hpa)
            ):
                # Approved while the workload ran; its HPA has scaled it to 0 since.
                self._not_at_zero(workload, model, hpa, decision_id, wanted)
                return False
            if tried:
                # Tried before (its outcome unknown then, or cut off by a restart): settled
                # from its intent and what the cluster shows, never written again.
                outcome = self._settled(key)
            else:
                outcome = self.executor.apply(
                    key,
                    0,
                    operation,
                    decision_id=decision_id,
                    runbook="predictive-scaling",
                    reason_code="PredictiveScaleUp" if wanted > current else "PredictiveScaleIn",
                    message=f"Autonomic: {what} {current} -> {wanted} ({reason})",
                )
                if outcome.status == "already_recorded":  # another replica's, in between
                    outcome = self._settled(key)
            now = self.clock.now()
            change = f"{what} {current} -> {wanted}"
            if outcome.status == "unsettled":
                self._unsettled(ref, model, decision_id, change, outcome, now)
                return False
            model.unsettled = None
            if outcome.status != "applied":
                self._refused(ref, model, decision_id, change, outcome, now)
                return False
            model.failures = 0
            held = model.written
            if not (
                held
                and held.get("decision_id") == decision_id
                and _written_value(held) == wanted
                and isinstance(held.get("quiet_until"), int | float)
            ):
                # Not when ``_overridden`` has stored this write, cut off before its
                # record, with someone's change to it: that record keeps their hold.
                record = self._write_record(workload, hpa, decision_id, wanted, now)
                if outcome.result is not None and not outcome.result.changed:
                    # The HPA had the value already: the write wrote nothing, so the
                    # field's owner in managedFields is whoever set it before the loop.
                    record["unchanged"] = True
                # The overrides in a row so far go with the new write: a restart or a
                # new leader reads them back, and the next override's hold is doubled.
                self._restore_overrides(model, held, now)
                if model.overrides:
                    record["overrides"] = model.overrides
                model.written = record
                self._remember_written(ref, record, now)
            # Applied: judged after the lead time the floor was raised for, and a while more.
            self.decisions.ledger.transition(decision_id, ["approved"], "verifying", now)
            lead = model.sizing.get("lead_seconds")
            window = (float(lead) if isinstance(lead, int | float) else 0.0) + VERIFY_AFTER
            model.verifying.append(
                Verification(
                    decision_id,
                    current,
                    wanted,
                    now + window,
                    reactive=reactive,
                    scheduled=scheduled,
                    query=query,
                    given_back=reason == "ScaledToZero",
                )
            )
            self.decisions.progress(
                decision_id,
                f"applied: {what} {current} -> {wanted}; judged in {window / 60:.0f} min",
            )
            return True

    def _not_as_approved(
        self,
        ref: ObjectRef,
        model: WorkloadModel,
        decision_id: str,
        reason: str,
        what: str,
        *,
        given_back: bool = False,
    ) -> None:
        """An approved floor whose write would now go to another object than the one the
        question named (``_unlike_approved``: ``reason`` and the sentence ``what``): not
        written. The decision fails with why, in one transaction (its ``execution``
        feedback, for ``autonomic explain``), and the question's thread says it; the
        floor is decided afresh at the next cycle on what the cluster has then, asked
        again where it is asked.

        ``given_back``: the decision gave an owner's minimum back (``_release``,
        ``_zero_back``). Nothing is decided afresh for it: an HPA created or replaced
        since is read with its own minReplicas as its owner's (``_configured_min``, and
        ``_zero_back``'s uid check), so it holds no floor of Autonomic's to give back, and
        the give-back is closed, not asked again (its why used to say "decided afresh")."""
        then = (
            "nothing is given back to the HPA there now: its minReplicas is taken as its "
            "owner's, not as a floor Autonomic wrote"
            if given_back
            else "the floor is decided afresh on what the cluster has now"
        )
        why = f"not carried out ({reason}): {what}; nothing was written, and {then}"
        detail = {"reason": reason, "why": why}
        row = Feedback(decision_id, "execution", "failed", "autonomic", detail)
        if self.decisions.ledger.transition(
            decision_id, ["approved"], "failed", self.clock.now(), feedback=[row]
        ):
            self.decisions.progress(decision_id, why, final=True)
            log.warning("scaling %s: approved floor %s", ref, why)
        model.recommended = None  # decided afresh on what the cluster has

    def _still_at_zero(self, workload: WorkloadState, hpa: HpaState) -> bool:
        """Whether a workload its scale-to-zero HPA holds at 0 is at 0 still, on the
        freshest evidence at hand: the cycle's listing may be older than the HPA
        ``_apply`` has just read. The HPA's status wanting replicas (``desiredReplicas``
        above 0, written after its scale) says it has woken the workload since: not at
        0, and no read more. Its ``currentReplicas`` alone says nothing: the controller
        writes there the count it read before its last scale, so for a sync period
        (15 s) or more after it scaled the workload to 0 the status still shows the
        pods that ran (desired 0, current 3), and a floor written then switched the HPA
        off over a target at 0. Otherwise the workload is read again (``get_workload``:
        the adapter's watch cache once started, so no request to the API server then;
        this is only asked of an approval about to be carried out under such an HPA),
        and its replicas (``spec.replicas``, what the HPA controller looks at) say; the
        listing's stand when that read cannot be made or finds nothing."""
        if hpa.desired_replicas > 0:
            return False
        try:
            fresh = self.cluster.get_workload(workload.ref)
        except (TransientError, PermanentError) as exc:
            log.debug("scaling %s: not read again (%s): the listing stands", workload.ref, exc)
            fresh = None
        return (fresh or workload).replicas == 0

    def _not_at_zero(
        self,
        workload: WorkloadState,
        model: WorkloadModel,
        hpa: HpaState,
        decision_id: str,
        wanted: int,
    ) -> None:
        """An approved floor whose workload its HPA (``minReplicas: 0``) has scaled to 0
        since the question was asked: written now, it would switch the HPA off and wake
        nothing (``_at_zero``), and the loop would give the 0 back at the next cycle
        (``_zero_back``). Not written: the decision is closed as ``superseded``, with
        why, in the ledger (``autonomic explain``) and the question's thread, as a
        dropped question is (``_close_dropped``); the workload is held as scaled to
        zero, and its floor decided afresh once the HPA has woken it."""
        ref, now = workload.ref, self.clock.now()
        why = f"not carried out (ScaledToZero): {_at_zero(ref, hpa, wanted)}; nothing was written"
        ledger = self.decisions.ledger
        # The closing and its why are one transaction: a ledger gone between the two
        # would leave the decision closed with no why, and nothing comes back to it.
        detail = {"reason": "ScaledToZero", "why": why}
        row = Feedback(decision_id, "execution", "superseded", "autonomic", detail)
        if ledger.transition(decision_id, ["approved"], "superseded", now, feedback=[row]):
            self.decisions.progress(decision_id, why, final=True)
            log.info("scaling %s: approved floor %s", ref, why)
        model.recommended = None  # decided afresh on what the cluster has then
        # Held as a floor wanted at 0 is (``_one``): not a hold on the load, which the log
        # would say, and then say over ("no longer held") at the next cycle, still at 0.
        self._held(str(ref), "ScaledToZero", _at_zero(ref, hpa, wanted))

    def _settled(self, key: str) -> StepOutcome:
        """What became of a write whose intent an earlier try recorded: ``applied``,
        ``failed`` (it never happened, was refused, or its target now refuses the read
        that would tell, each said as such: ``_not_applied``), or ``unsettled`` while the
        cluster cannot be read to tell (``Executor.settle``, the same reading of the
        cluster a restart makes)."""
        intents = self.decisions.ledger.intents(execution_key=key)
        if not intents:  # pragma: no cover - only called when there is one
            return StepOutcome("failed", "no intent recorded for the write", reason="NoIntent")
        intent = intents[-1]
        status = intent.status
        if status == "pending":
            try:
                status = self.executor.settle(intent, note="settled by the scaling loop")
            except TransientError as exc:
                return StepOutcome(
                    "unsettled",
                    f"whether it was written is not known yet: the target still cannot be "
                    f"read ({exc})",
                    intent.id,
                )
        if status == "applied":
            return StepOutcome("applied", "the cluster shows the write", intent.id)
        return _not_applied(self.decisions.ledger, key, intent, status)

    def _unsettled(
        self,
        ref: ObjectRef,
        model: WorkloadModel,
        decision_id: str,
        change: str,
        outcome: StepOutcome,
        now: float,
    ) -> None:
        """A write whose outcome is not known (its answer lost, and the target could not
        be read after it): it may have landed, so its decision is not failed. It stays
        approved and is followed as an answered question is: each cycle ``_settle``
        looks again, and once the cluster can be read the write is settled, applied if
        it shows it, failed if not. Nothing else is decided for the workload meanwhile."""
        first = model.unsettled != decision_id
        model.pending = model.unsettled = decision_id
        why = (
            f"{change}: {outcome.message}; looked at again each cycle, and settled from "
            "what the cluster shows once it answers"
        )
        self._held(str(ref), "WriteUnsettled", why)
        if first:
            log.warning("scaling %s: %s", ref, why)
            self.decisions.progress(decision_id, f"unsettled: {why}")

    def _refused(
        self,
        ref: ObjectRef,
        model: WorkloadModel,
        decision_id: str,
        change: str,
        outcome: Any,
        now: float,
    ) -> None:
        """A write that did not happen (RBAC missing, an invalid value, the HPA gone or
        changed since the decision, conflicts that kept coming, the lease lost): the
        decision fails with the cluster's words, in the log, the decision's thread and
        ``status.held``; the floor is decided afresh after ``RETRY_AFTER_FAILURE``
        (doubled at each failure in a row, up to an hour), not every cycle.

        Not a write this replica may make any more (``not_leader``: the lease lost;
        ``stopping``: shutting down): nothing was refused, so the decision is not failed.
        It stays as it is (approved) for the leader that follows it up (``_new_model``),
        and for this process if it leads again; the write's intent key keeps it from
        being written twice. Failing it closed an approval a person gave, and the new
        leader, following it up, could write a floor whose decision said "failed"."""
        if outcome.status in ("not_leader", "stopping"):
            log.info(
                "scaling %s: %s not written here (%s): %s; left %s for the leader",
                ref,
                change,
                outcome.status,
                outcome.message,
                decision_id,
            )
            model.pending = decision_id  # followed up here too, should this one lead again
            return
        model.failures += 1
        wait = min(RETRY_AFTER_FAILURE * 2 ** (model.failures - 1), QUIET_AFTER_NO)
        model.quiet_until = max(model.quiet_until, now + wait)
        model.recommended = None  # decided afresh on what the cluster has then
        reason = getattr(outcome, "reason", None) or outcome.status
        # A write whose outcome is not known may have landed: not said "not written".
        written = "may or may not have been written" if reason == "WriteUnknown" else "not written"
        why = (
            f"{change} {written} ({reason}): {outcome.message}; "
            f"no new try for {wait / 60:.0f} min, until {to_utc_text(now + wait)}"
        )
        model.quiet_why, model.quiet_reason = why, "WriteRefused"
        self._held(str(ref), "WriteRefused", why)
        log.warning("scaling %s: %s", ref, why)
        # The closing and its why are one transaction: a ledger gone between the two
        # left the decision failed with no why for ``autonomic explain``.
        # ``said``: the message's final word, which a crash before its rewrite leaves to
        # the next process's first sync (``DecisionService._final_word``).
        said = f"failed: {why}"
        detail = {"reason": reason, "why": why, "said": said}
        row = Feedback(decision_id, "execution", "failed", "autonomic", detail)
        self.decisions.ledger.transition(decision_id, ["approved"], "failed", now, feedback=[row])
        self.decisions.progress(decision_id, said, final=True)

    def _decide(
        self,
        workload: WorkloadState,
        model: WorkloadModel,
        has_hpa: bool,
        current: int,
        wanted: int,
        rec: ScalingRecommendation,
        model_name: str,
        *,
        hpa: HpaState | None = None,
        published: str | None = None,
        report: bool = True,
    ) -> None:
        """Record the decision to move the floor (or the replicas) from ``current`` to
        ``wanted`` and route it: carried out when routed to act, asked about, or, when
        ``published`` says why the floor is only published (forecast-only, an HPA another
        controller owns), recorded with nothing to approve or write. The evidence names
        the ``hpa`` whose floor it is (and its uid) and the workload's uid: a new leader
        reads them back (``_recall_hpa``), and an approval is written only to that HPA
        (``_unlike_approved``)."""
        ref = workload.ref
        forecast_only = published is not None
        fit = model.fitted
        up = wanted > current
        what = "minReplicas" if has_hpa else "replicas"
        confidence = 0.9 if rec.mode == "predictive" else 0.85
        query = self._evidence_query(workload, model)  # the load its numbers came from
        if model.scheduled is not None:
            confidence = SCHEDULED_CONFIDENCE  # a person's instruction, not a forecast
        routed = self.decisions.decide(
            Proposal(
                kind="scaling",
                decision_type=FLOOR_DECISION,
                subject=str(ref),
                proposal={
                    "op": "set_hpa_min_replicas" if has_hpa else "scale",
                    "from": current,
                    "to": wanted,
                    "mode": rec.mode,
                },
                signal_confidence=confidence,
                reason_code=rec.reason,
                reason=f"{what} {current} -> {wanted}: {rec.message}",
                evidence={
                    "query": query,
                    "forecast_peak": rec.forecast_peak,
                    "current_need": rec.current_need,
                    "mode": rec.mode,
                    "hpa": str(hpa.ref) if hpa is not None else None,
                    "hpa_uid": (hpa.uid or None) if hpa is not None else None,
                    **self._metrics_said(ref, has_hpa, wanted),
                    "scheduled_floor": model.scheduled,
                    "workload_uid": workload.uid,
                    CHANGED_THEN: workload.managed_by_human_at,
                    **model.sizing,
                    "model": {
                        "name": model_name,
                        "fitted_at": model.fitted_at,
                        "history_days": self.forecaster.settings.history_periods,
                        "history_since": model.history_since,
                        "seasonal_strength": fit.strength if fit is not None else None,
                        "fallback": fit.fallback_reason if fit is not None else None,
                    },
                },
                model_version=self._version_name(model),
                prior_success=1.0,
                default_thresholds=self.thresholds,
                # A person's "no" to a scheduled floor (not this time) says nothing of
                # the forecast either: no verdict on the type, as its outcome gets none.
                no_verdict=(
                    None
                    if model.scheduled is None
                    else f"the floor was set by scheduled floor {model.scheduled}, a "
                    "person's instruction and not a forecast"
                ),
                shadow=forecast_only,
                shadowed_by=(
                    "PublishOnly",
                    f"published only ({published}), nothing to approve or write",
                ),
            )
        )
        self.status.decisions += 1
        model.recommended, model.applied, model.published = wanted, False, forecast_only
        if report and routed.route != "observe":  # observe mode writes nothing at all
            stamp = datetime.fromtimestamp(self.clock.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            change = f"{what} {wanted} ({'up' if up else 'down'} from {current})"
            route = str(routed.route)
            if forecast_only:
                change = f"{what} {wanted} recommended ({'up' if up else 'down'} from {current})"
                change += f", published only ({published}), not written"
                route = "published only"
            self.executor.report(
                ref,
                {
                    RECOMMENDED: str(wanted),
                    RECOMMENDATION: (
                        f"{change}: {_sentence(rec.message)} Model "
                        f"{self._version_name(model)}, decision {routed.decision_id} "
                        f"({route}), {stamp}."
                    )[:1000],
                },
            )
        if routed.route == "ask":
            model.pending = routed.decision_id
        if routed.route != "auto":
            return
        if self._apply(
            workload,
            model,
            has_hpa,
            routed.decision_id,
            current,
            wanted,
            rec.reason,
            reactive=rec.mode == "reactive",
            scheduled=model.scheduled,
            query=query,
        ):
            model.applied, model.applied_at = True, self.clock.now()

    def _metrics_said(self, ref: ObjectRef, has_hpa: bool, wanted: int) -> dict[str, str]:
        """What the HPA's own metrics propose next to the floor decided, for the evidence
        (``hpa_metrics``; nothing without an HPA, or one not explained this cycle)."""
        breakdown = self._explained.get(str(ref)) if has_hpa else None
        if breakdown is None:
            return {}
        return {"hpa_metrics": f"{breakdown.sentence()}; Autonomic's floor {wanted}"}

    def _breach(
        self,
        ref: ObjectRef,
        model: WorkloadModel,
        *,
        forecast_upper: float | None,
        observed: float,
        now: float,
    ) -> None:
        """A surge the forecast missed: one incident while it lasts, not one per minute."""
        if forecast_upper is None or not math.isfinite(observed) or forecast_upper <= 0:
            return
        ratio = observed / forecast_upper - 1.0
        if ratio < BREACH_RATIO:
            model.breach_streak = 0
            if ratio < 0.0:
                model.breach_since = None
            return
        # A surge lasts: one minute above the band is noise, several in a row are a breach.
        model.breach_streak += 1
        if model.breach_streak < BREACH_MINUTES:
            return
        if model.breach_since is None:
            model.breach_since = now
            self.status.breaches += 1
        self.submit(
            [
                forecast_breach_signal(
                    # the load the model reads: a queue's backlog is not HTTP traffic
                    metric=breach_metric(model.load_query),
                    target=ref,
                    observed=observed,
                    forecast_upper=forecast_upper,
                    confidence=breach_confidence(ratio),
                    at=now,
                    incident_start=model.breach_since,
                )
            ]
        )


def _not_applied(ledger: Any, key: str, intent: Any, status: str) -> StepOutcome:
    """What is known of a write its intent (settled, ``status``) does not show applied,
    from what the settling recorded: gone without a trace (``abandoned``), refused by
    the cluster, or ``failed`` because its target refused the read that would tell
    (``written`` in the intent: it may or may not have landed), undone since, or left
    pending by a shutdown (the next leader settles it)."""
    final = next((i for i in ledger.intents(execution_key=key) if i.id == intent.id), intent)
    detail = dict(final.result or {})
    if status == "abandoned":
        said, reason = f"the cluster shows no trace of the write (its intent is {status})", None
    elif status == "failed" and "written" in detail:
        said = str(detail.get("why") or detail["written"])
        reason = "WriteUnknown"
    elif status == "failed":
        said = f"the cluster refused the write: {detail.get('error') or 'no reason recorded'}"
        reason = str(detail.get("reason") or "Refused")
    elif status in ("undone", "undoing"):
        said, reason = f"it was written, then undone (its intent is {status})", "Undone"
    elif status == "pending":
        return StepOutcome(
            "stopping",
            "whether it was written is not settled yet: shutting down, the next leader "
            "settles it from the ledger",
            intent.id,
        )
    else:
        said, reason = f"not applied (its intent is {status})", None
    return StepOutcome("failed", said, intent.id, reason=reason or "NotWritten")


def _rolling(workload: WorkloadState) -> str | None:
    """Why the workload's pods are being replaced now (a rollout under way), or None.
    A rollout paused, failed (its progress deadline passed) or waiting on someone
    deleting pods (a StatefulSet ``OnDelete``) is a fleet that stays as it is, not one
    in motion."""
    if workload.paused or workload.rollout_failed or workload.on_delete:
        return None
    if workload.updated_replicas < workload.replicas:
        return (
            f"a rollout is replacing the pods of {workload.ref} ({workload.updated_replicas} "
            f"of {workload.replicas} updated): the ready pods are two releases"
        )
    return None


def _sentence(text: str) -> str:
    """``text`` ending with one full stop, as a sentence followed by another."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _field(record: Mapping[str, Any]) -> str:
    """What a written record is about (``MIN_FIELD`` for records from before there
    were two)."""
    return str(record.get("field") or MIN_FIELD)


def _said_of(record: Mapping[str, Any], set_by: tuple[str, float]) -> bool:
    """Whether the override stored on ``record`` was already that write of ``set_by``
    (the same field manager, at that time or later): the hold said for it, not a new one."""
    at = record.get("set_at")
    return record.get("set_by") == set_by[0] and isinstance(at, int | float) and at >= set_by[1]


def _stored_set_by(record: Mapping[str, Any]) -> tuple[str, float] | None:
    """The field manager and time an override stored on ``record`` names, if any."""
    by, at = record.get("set_by"), record.get("set_at")
    if isinstance(by, str) and by and isinstance(at, int | float):
        return by, float(at)
    return None


# ``afterRules`` reasons for which the HPA controller records no proposal.
_NOT_RECORDED = frozenset(
    {"ScalingDisabled", "AboveMaximum", "BelowMinimum", "NoProposal", "MissingMetric"}
)


def _rate_rules(policies: tuple[tuple[str, int, int], ...], *, up: bool) -> tuple[RatePolicy, ...]:
    """An HPA's ``behavior`` policies as ``forecasting.hpa`` takes them; none written is
    the API's defaults."""
    if not policies:
        return DEFAULT_SCALE_UP_POLICIES if up else DEFAULT_SCALE_DOWN_POLICIES
    return tuple(
        RatePolicy("Pods" if kind == "Pods" else "Percent", value, float(period))
        for kind, value, period in policies
    )


def _select(written: str) -> SelectPolicy:
    """A ``selectPolicy`` as written; unset (or one the API server refuses) is Max."""
    return "Min" if written == "Min" else "Disabled" if written == "Disabled" else "Max"


def _written_value(record: Mapping[str, Any]) -> int | None:
    """The value a written record says the loop wrote, or None if it holds none."""
    value = record.get("replicas" if _field(record) == REPLICAS_FIELD else "min_replicas")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _unlike_approved(
    ref: ObjectRef,
    proposal: Mapping[str, Any],
    evidence: Mapping[str, Any],
    has_hpa: bool,
    hpa: HpaState | None,
) -> tuple[str, str] | None:
    """How the write an approved floor would make now differs from the one its question
    named (``proposal``'s ``op``; for an HPA's floor, the HPA ``evidence`` names, and its
    uid where recorded): (reason, what changed), or None when it is the same write.
    ``has_hpa``: whether the floor would go to an HPA now (``hpa``, read now) or to the
    workload's replicas. A record naming no HPA or no uid (an older one) is held to
    what it names."""
    op = proposal.get("op")
    asked = _text(evidence.get("hpa"))
    asked_uid = _text(evidence.get("hpa_uid"))
    if op == "scale":
        if hpa is None:
            return None
        return (
            "HpaChanged",
            f"approved as {ref}'s replicas, with no HPA then; {hpa.ref} scales it now, "
            "and a floor on that HPA is not what was approved",
        )
    if op != "set_hpa_min_replicas":
        return None
    named = asked or "its HPA"
    if not has_hpa or hpa is None:
        return (
            "NoHpa",
            f"approved as {named}'s minReplicas, and that HPA is gone: writing {ref}'s "
            "replicas instead is not what was approved",
        )
    if asked is not None and str(hpa.ref) != asked:
        return (
            "HpaChanged",
            f"approved as {asked}'s minReplicas; {ref} is scaled by {hpa.ref} now, "
            "which nobody approved a floor on",
        )
    if asked_uid is not None and hpa.uid and hpa.uid != asked_uid:
        return (
            "HpaChanged",
            f"approved as {named}'s minReplicas, and that HPA was replaced since (uid "
            f"{asked_uid} then, {hpa.uid} now): the new one is not what was approved",
        )
    return None


def _text(value: object) -> str | None:
    """A string read from a ledger record, or None (absent, empty or not a string)."""
    return value if isinstance(value, str) and value else None


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _json_ready(values: dict[str, object]) -> dict[str, object]:
    """NaN and infinity are not JSON: an evaluation that could not be made says None."""
    return {
        key: (None if isinstance(value, float) and not math.isfinite(value) else value)
        for key, value in values.items()
    }


def _ceiling_note(annotated: int | None, hpa: HpaState | None, floor_min: int) -> str:
    """What sets ``_ceiling`` and what would raise it, for a floor capped there: the
    HPA's ``maxReplicas``, the ``max-replicas`` annotation, ``min-replicas`` above it, or
    ``NO_HPA_MAX``."""
    ceiling = _ceiling(annotated, hpa, floor_min)
    if hpa is None:
        more = "to let the replicas go higher"
        if annotated is None and ceiling == NO_HPA_MAX:
            return (
                f"{NO_HPA_MAX} is the most replicas the loop sets without an HPA or an "
                f"{MAX_REPLICAS} annotation; set {MAX_REPLICAS} {more}"
            )
        if ceiling == annotated:
            return f"{ceiling} is the {MAX_REPLICAS} annotation; raise it {more}"
        return f"{ceiling} is the {MIN_REPLICAS} annotation; set {MAX_REPLICAS} above it {more}"
    more = "to let the floor go higher"
    if annotated is not None and ceiling == annotated < hpa.max_replicas:
        return (
            f"{ceiling} is the {MAX_REPLICAS} annotation ({hpa.ref} allows "
            f"{hpa.max_replicas}); raise or remove the annotation {more}"
        )
    also = f" (and {MAX_REPLICAS} with it)" if annotated == hpa.max_replicas else ""
    return f"{ceiling} is the maxReplicas of {hpa.ref}; raise maxReplicas on the HPA{also} {more}"


def _squashed(key: str) -> str:
    """A label key without case, punctuation or a trailing "d" or "e": typos of one
    another come out the same (``autonomic.dev/Enabled``, ``autonomic.dev/enable``)."""
    return "".join(c for c in key.lower() if c.isalnum()).removesuffix("d").removesuffix("e")


def _min_above_max(knobs: WorkloadKnobs, hpa: HpaState | None) -> str | None:
    """Why the workload's ``min-replicas`` annotation is above the most it may have (the
    HPA's ``maxReplicas``; without an HPA nor ``max-replicas``, ``NO_HPA_MAX``), so that
    any floor written would be refused or runaway: the hold's words; None when it is not."""
    wanted = knobs.min_replicas or 0
    if hpa is not None and wanted > hpa.max_replicas:
        # The API server refuses an HPA whose minReplicas exceeds its maxReplicas, so
        # a floor's floor above the ceiling would be a failed write every cycle.
        return (
            f"{MIN_REPLICAS}={knobs.min_replicas} is above the maxReplicas "
            f"{hpa.max_replicas} of {hpa.ref}: lower the annotation or raise the HPA's "
            "maxReplicas; holding the current floor"
        )
    if hpa is None and knobs.max_replicas is None and wanted > NO_HPA_MAX:
        return (
            f"{MIN_REPLICAS}={knobs.min_replicas} is above {NO_HPA_MAX}, the most replicas "
            f"the loop sets without an HPA or an {MAX_REPLICAS} annotation: if that many "
            f"are meant, set {MAX_REPLICAS} too; holding the current replicas"
        )
    return None


def _at_zero(ref: ObjectRef, hpa: HpaState, wanted: int) -> str:
    """Why no floor is written for a workload its HPA (``minReplicas: 0``) has scaled to
    0: the HPA controller leaves a target at 0 replicas alone once its minReplicas is
    above 0 (it sets ScalingActive=False, ScalingDisabled, and starts no pod), so the
    floor would switch the HPA off rather than wake the workload, and the loop, seeing
    a target at 0 under a minReplicas above 0, would then hold it as scaled to zero and
    never give the 0 back."""
    return (
        f"{ref} is at 0 replicas, where {hpa.ref} (minReplicas 0) scaled it: the HPA "
        "controller leaves a target at 0 alone while its minReplicas is above 0 "
        f"(ScalingActive=False, ScalingDisabled), so a floor of {wanted} written now would "
        f"switch the HPA off and start no pod; no floor is raised until {hpa.ref} scales "
        f"{ref} up"
    )


def _ceiling(annotated: int | None, hpa: HpaState | None, floor_min: int) -> int:
    """The most replicas the loop may ask for: the annotation, but never above the HPA's
    own maximum (the HPA would not go there anyway); the HPA's maximum; else
    ``NO_HPA_MAX``. Never below the floor's floor."""
    if hpa is None:
        ceiling = annotated if annotated is not None else NO_HPA_MAX
    else:
        ceiling = hpa.max_replicas if annotated is None else min(hpa.max_replicas, annotated)
    return max(ceiling, floor_min, 1)


def _unusable(
    found: Sequence[MetricSeries],
    now: float,
    newest: float | None = None,
    stale_after: float = 300.0,
) -> tuple[str, str]:
    """Why a load read cannot be acted on: a reason code, and the words a person can
    check. ``newest`` is the newest usable sample known (the read's, or one kept from
    before a read that held none, or no series: Prometheus's answer inside a gap): older
    than ``stale_after``, the series has a gap."""
    if not found and newest is None:
        return "NoLoadSeries", "no load series (the load query returned nothing)"
    if len(found) > 1:
        return "ManyLoadSeries", (
            f"the load query returned {len(found)} series where one was expected "
            "(aggregate it, for instance with sum(...))"
        )
    if newest is None:
        return "NoLoadSample", "no usable load sample (every sample missing, NaN or infinite)"
    age = now - newest
    return "LoadGap", (
        f"no load sample since {to_utc_text(newest)} ({_age(age)} ago, more than "
        f"prometheus.staleAfter, {stale_after:.0f} s): a gap in the load series (the "
        "target not scraped, or Prometheus not storing), not a load of zero"
    )


def _newest_finite(history: LoadHistory) -> float | None:
    """The time of the newest finite sample ``history`` holds, or None."""
    finite = np.flatnonzero(np.isfinite(history.values))
    return history.first + STEP * float(finite[-1]) if finite.size else None


def _model_number(version: str | None) -> int:
    """The number in a model version's name (``seasonal-profile/3 fitted ...``: 3); 0
    when it has none (ASCII digits only: the name is a ledger row, which another tool
    or a hand may have written)."""
    head = (version or "").split(" ", 1)[0]
    _, slash, digits = head.rpartition("/")
    return int(digits) if slash and ascii_digits(digits, 18) else 0


def _fit_stamp(at: float) -> str:
    """When a model was fitted, in its version name (``seasonal-profile/3 fitted
    2026-11-22T06:00:00Z``): ISO 8601, as the names the ledger keeps were written.
    Sentences use :func:`remediation.windows.to_utc_text`."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
