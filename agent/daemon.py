"""The composition root: settings in, a running daemon out.

``build_daemon`` wires the real adapters (Prometheus, Kubernetes, Slack or the
ledger-only channel, the ledger) to the loops and returns a ``Runtime``. Nothing reads
the environment or the clock except through what is passed in here.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from agent.alert_inbox import AlertInbox
from agent.approvals import (
    ESCALATIONS_SHOWN,
    escalation_json,
    question_json,
    unanswerable,
)
from agent.caller_token import CallerToken
from agent.clock import Clock, SystemClock
from agent.decisions import LEARNING_WINDOW, DecisionService
from agent.errors import AutonomicError, ConfigError, TransientError
from agent.executor import Executor
from agent.ledger import Ledger, open_ledger
from agent.ledger.connect import LedgerConnector, connects_later
from agent.loops.anomaly import AnomalyLoop
from agent.loops.canary import CanaryLoop
from agent.loops.scaling import (
    CAPACITY_KEEP,
    CAPACITY_KEY,
    TAKEN_KEEP,
    TAKEN_KEY,
    ScalingLoop,
)
from agent.metrics_port import runbook_query
from agent.observability import Metrics, reason_label
from agent.pause import PauseWatch
from agent.read_watch import WatchedReader
from agent.remediation_engine import RemediationEngine
from agent.runtime import STUCK_FLOOR, STUCK_PERIODS, AlwaysLeader, Job, LeaderGate, Runtime
from agent.server import HttpServer, Request, Response, json_response
from agent.settings import Settings, resolve_secret
from agent.webhooks import AlertIntake
from remediation.digits import ascii_digits
from remediation.guards import GlobalLimits
from remediation.loading import RunbookLoadError, check_paths
from remediation.schema import Runbook

if TYPE_CHECKING:
    from agent.adapters.slack import SocketState

__all__ = [
    "Daemon",
    "ElectionGate",
    "LedgerCheck",
    "SocketModeLeader",
    "build_daemon",
    "load_runbooks",
]

# Why remediation is paused when the configuration pauses it (``safety.paused``).
CONFIG_PAUSE = "safety.paused is set in the configuration"
PLAIN_TEXT = "text/plain; charset=utf-8"  # the Slack interactions route's answers
APPROVER_REFRESH = 240.0  # under the approvers cache TTL (300 s): memberships stay warm
# An anomaly series no read has returned for this long (its pod replaced, its node gone)
# loses its saved detector state; if it ever comes back it warms up like a new one.
ANOMALY_SERIES_RETENTION = 30 * 86400.0
# A handled alert row is an observation, not evidence: the decision it led to keeps its
# own copy (fingerprint, labels, annotations, generatorURL), and the firing set and the
# webhook's dedup look back only twice Alertmanager's repeat interval. Kept this long
# after its last delivery (or ``retentionDays``, if shorter), to answer "did Autonomic
# receive that alert?" for a month, not for a year.
HANDLED_ALERT_RETENTION = 30 * 86400.0
# The scaling job's run is stuck past this (or 3 of its periods), not STUCK_FLOOR: besides
# its first run (FIRST_RUN_BOUND), a run may refit its share of the models and read again
# what it missed after a gap: 35 s at 1,000 workloads on PostgreSQL, a cycle after a 6-h
# gap, so about 6 min at 10,000.
SCALING_STUCK_FLOOR = 900.0

log = logging.getLogger("autonomic.daemon")


def load_runbooks(settings: Settings) -> list[Runbook]:
    """All configured runbooks, or ``ConfigError`` naming every bad file, line and field.

    The files are chosen as ``autonomic runbooks validate`` chooses them (one
    ``check_paths``): kustomize's own file is skipped, and the log says so, as it says
    each runbook's notes (what its undo will not reverse) once."""
    report = check_paths(list(settings.runbooks))
    if report.issues:
        raise ConfigError(
            f"refusing to start: invalid runbooks:\n{RunbookLoadError(report.issues)}"
        )
    for skipped in report.skipped:
        log.info("runbooks: %s", skipped)
    for note in report.notes:
        log.info("runbooks: %s", note)
    from agent.runbook_fit import runbook_fit

    # what `config check` warns of: a runbook this configuration never lets act
    for warning in runbook_fit(settings, list(report.runbooks)):
        log.warning("runbooks: %s", warning)
    return [runbook for _, runbook in report.runbooks]


class ElectionGate:
    """Runs a ``LeaderElector`` on a thread of its own."""

    def __init__(self, elector: Any) -> None:
        self.elector = elector
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def is_leader(self) -> bool:
        return bool(self.elector.is_leader())

    def term(self) -> int:
        return int(self.elector.term())

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.elector.run, args=(self._stop,), name="autonomic-lease", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


class SocketModeReceiver(Protocol):
    """What ``SocketModeLeader`` needs of ``SlackReceiver``."""

    @property
    def listening(self) -> bool: ...

    def start_socket_mode(self) -> None: ...

    def stop_socket_mode(self) -> None: ...

    def socket_state(self) -> SocketState | None: ...


class SocketModeLeader:
    """Slack Socket Mode on the leader only (``slack.receive: socket``).

    ``sync()`` runs as a job on every replica, leader or not: it connects while this
    replica holds the lease and disconnects once it no longer does, so that two replicas
    never both receive Slack's interactions. A failed connection is logged and retried
    on a later check, after a delay that doubles from ``retry_min`` up to ``retry_max``;
    it never stops the daemon. ``close()`` disconnects for good (shutdown).

    Once connected, slack-sdk's client keeps the connection and reconnects by itself,
    saying so only in its own (silent) log. Each ``sync`` on the leader looks at the
    connection: the first check that finds it lost logs one warning, and once it has
    held again for ``settle`` seconds one line at INFO says it is back (however many
    reconnections failed between). A connection that drops again before it has held
    that long is the same outage, said by no new line: the line that says it is back
    counts the drops. ``autonomic_slack_socket_connected`` says 1 or 0 at every check,
    and readiness whether it is up now; a standby clears the gauge.
    """

    def __init__(
        self,
        receiver: SocketModeReceiver,
        is_leader: Callable[[], bool],
        clock: Callable[[], float],
        metrics: Metrics | None = None,
        *,
        retry_min: float = 5.0,
        retry_max: float = 300.0,
        close_wait: float = 10.0,
        settle: float = 30.0,
    ) -> None:
        self.receiver = receiver
        self.is_leader = is_leader
        self.clock = clock
        self.metrics = metrics
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.close_wait = close_wait
        self.settle = settle
        self.failures = 0  # connection attempts failed in a row
        self.retry_at = 0.0  # no attempt before this time (clock)
        self._lock = threading.Lock()  # one sync, or close, at a time
        self._closed = threading.Event()
        # Since when (clock) this leader has had no live connection; None while it has
        # one, or does not lead.
        self.down_since: float | None = None
        # An outage of the established connection, from the check that found it lost
        # (and said so) until it has held again for ``settle`` seconds.
        self._lost: SocketState | None = None  # the state that check found
        self._failed_before = 0  # slack-sdk's failed reconnections at the last check up
        self._lost_at = 0.0
        self._drops = 0  # times found lost in this outage
        self._down = 0.0  # seconds without a connection in it, up to ``_down_from``
        self._down_from: float | None = None  # found lost at (clock), while it is
        self._back_at: float | None = None  # found back at (clock), while it holds

    def sync(self) -> None:
        if self._closed.is_set():  # not even behind a close still under way
            return
        with self._lock:
            if self._closed.is_set():
                return
            leader = self.is_leader()
            if leader and not self.receiver.listening:
                self._connect()
            elif not leader and self.receiver.listening:
                self._disconnect("this replica is no longer the leader")
            self._watch(leader and not self._closed.is_set())

    def describe(self) -> str | None:
        """For readiness: what is wrong with the leader's connection, None if nothing."""
        since = self.down_since
        if since is None:
            return None
        return (
            f"Slack Socket Mode not connected for {max(0.0, self.clock() - since):.0f} s "
            "(Slack answers are not received)"
        )

    def _watch(self, leader: bool) -> None:
        gauge = self.metrics.slack_socket_connected if self.metrics is not None else None
        if not leader:
            if gauge is not None:
                gauge.clear()
            self.down_since, self._lost = None, None
            return
        state = self.receiver.socket_state()
        connected = state is not None and state.connected
        if gauge is not None:
            gauge.set(1 if connected else 0)
        now = self.clock()
        if connected:
            self.down_since = None
            if self._lost is not None and state is not None:
                self._back(state, now)
            elif state is not None:  # up, no outage: failures counted from here
                self._failed_before = state.failed_reconnects
            return
        if self.down_since is None:
            self.down_since = now
        if state is None:
            return  # not listening: a failed first connection is said by _connect
        if self._lost is not None:
            if self._back_at is not None:  # dropped again before it held: same outage
                self._drops += 1
                self._back_at, self._down_from = None, now
            return
        # The connection slack-sdk had made is gone (a failed first connection is said
        # by _connect, attempt by attempt).
        self._lost, self._lost_at = state, now
        self._drops, self._down, self._down_from, self._back_at = 1, 0.0, now, None
        log.warning(
            "Slack Socket Mode: the connection to Slack was lost (%s); Slack answers "
            "(Approve/Reject/Snooze) are not received until it reconnects, which it "
            "keeps trying by itself",
            state.failure or "no reason given",
            extra={"loop": "slack-socket-mode"},
        )

    def _back(self, state: SocketState, now: float) -> None:
        """A check in an outage that finds the connection up: said once it has held
        for ``settle`` seconds."""
        if self._back_at is None:
            self._back_at = now
            if self._down_from is not None:
                self._down += now - self._down_from
                self._down_from = None
        if now - self._back_at < self.settle:
            return
        self._lost = None
        # From the last check that found it up: slack-sdk may have failed to reconnect
        # before the check that noticed the loss.
        failed = state.failed_reconnects - self._failed_before
        self._failed_before = state.failed_reconnects
        if self._drops == 1:
            log.info(
                "Slack Socket Mode: connected again after %.0f s without a connection "
                "(%d failed attempts to reconnect); Slack answers are received again",
                self._down,
                failed,
                extra={"loop": "slack-socket-mode"},
            )
            return
        log.info(
            "Slack Socket Mode: connected again, and has held for %.0f s; the connection "
            "dropped %d times in %.0f s, %.0f s of them without a connection (%d failed "
            "attempts to reconnect); Slack answers are received again",
            now - self._back_at,
            self._drops,
            self._back_at - self._lost_at,
            self._down,
            failed,
            extra={"loop": "slack-socket-mode"},
        )

    def close(self) -> None:
        """Disconnect and stay disconnected (idempotent: a second call returns at once,
        even while the first is still closing)."""
        if self._closed.is_set():
            return
        self._closed.set()
        if not self._lock.acquire(timeout=self.close_wait):
            # A connection attempt is still under way: it sees ``_closed`` when it ends.
            log.warning("Slack Socket Mode: still connecting at shutdown; closing it after")
            return
        try:
            self._disconnect("shutting down")
        finally:
            self._lock.release()

    def _connect(self) -> None:
        now = self.clock()
        if now < self.retry_at:
            return
        try:
            self.receiver.start_socket_mode()
        except AutonomicError as exc:
            self.failures += 1
            delay = min(self.retry_min * 2 ** (self.failures - 1), self.retry_max)
            self.retry_at = now + delay
            reason = getattr(exc, "reason", "Config")
            if self.metrics is not None:
                self.metrics.errors.labels(kind=reason_label(reason)).inc()
            level = logging.WARNING if isinstance(exc, TransientError) else logging.ERROR
            log.log(
                level,
                "Slack Socket Mode: could not connect (attempt %d): %s; Slack answers "
                "(Approve/Reject/Snooze) are not received until it connects; retrying in %g s",
                self.failures,
                exc,
                delay,
                extra={"loop": "slack-socket-mode"},
            )
            return
        self.failures, self.retry_at = 0, 0.0
        if self._closed.is_set() or not self.is_leader():
            self._disconnect("shutting down, or the lease was lost, while connecting")
            return
        log.info("Slack Socket Mode: connected; this replica (the leader) receives answers")

    def _disconnect(self, why: str) -> None:
        if not self.receiver.listening:
            return
        try:
            self.receiver.stop_socket_mode()  # up to ~3 s inside slack-sdk
        except Exception as exc:  # the client is gone either way
            # Its type only, no text or traceback: slack-sdk's may carry the URL, ticket
            # and all (as in _connect).
            log.error("Slack Socket Mode: closing the connection failed (%s)", type(exc).__name__)
        log.info("Slack Socket Mode: disconnected (%s)", why)


# Seconds /readyz waits for the ledger to answer its read (the probe gives up after 2 s).
LEDGER_CHECK_WAIT = 1.0


class LedgerCheck:
    """Whether the ledger answers a read, for readiness, within ``wait`` seconds.

    A database server that accepts and never answers (hung, frozen, its disk stalled)
    keeps a read waiting for ever: ``/readyz`` waited with it, past the probe's timeout,
    and said nothing, each probe leaving one more thread and pooled connection waiting.
    The read runs on a thread of its own, one at a time; while it has not come back,
    readiness says for how long, and the next probe waits on the same read."""

    def __init__(
        self,
        ledger: Ledger,
        wait: float = LEDGER_CHECK_WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ledger = ledger
        self.wait = wait
        self.clock = clock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._began = 0.0
        self._outcome: list[str | None] = []

    def why_not(self) -> str | None:
        """None if the ledger answered; else why not, naming it."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                outcome: list[str | None] = []
                self._thread = threading.Thread(
                    target=self._read, args=(outcome,), name="autonomic-ledger-check", daemon=True
                )
                self._began, self._outcome = self.clock(), outcome
                self._thread.start()
            thread, began, outcome = self._thread, self._began, self._outcome
        thread.join(self.wait)
        if thread.is_alive():
            where = self.ledger.engine.url.render_as_string()  # the password hidden
            return (
                f"the ledger at {where} has not answered a read for "
                f"{self.clock() - began:.0f} s (the database accepts connections but does "
                "not answer: hung, or overloaded)"
            )
        return outcome[0] if outcome else None

    def _read(self, outcome: list[str | None]) -> None:
        try:
            self.ledger.schema_version()
        except TransientError as exc:  # names the ledger and what the database said
            outcome.append(str(exc))
            return
        except Exception as exc:  # the pool timed out waiting for a connection...
            where = self.ledger.engine.url.render_as_string()
            outcome.append(f"the ledger at {where} cannot be read: {type(exc).__name__}: {exc}")
            return
        outcome.append(None)


@dataclass
class Daemon:
    """The loops and what they share; ``jobs()`` is what the runtime schedules."""

    settings: Settings
    clock: Clock
    ledger: Ledger
    metrics: Metrics
    decisions: DecisionService
    engine: RemediationEngine
    anomaly: AnomalyLoop
    gate: LeaderGate
    alerts: AlertIntake
    scaling: ScalingLoop | None = None
    canary: CanaryLoop | None = None
    extra_jobs: list[Job] = field(default_factory=list)
    remediation_period: float = 30.0
    # With leader election: how often every replica checks whether it has begun to lead
    # and has not run a remediation cycle in this term yet (``takeover_cycle``).
    takeover_period: float | None = None
    _cycle_term: int = -1  # the leadership term of the last remediation cycle begun
    _cycling: threading.Lock = field(default_factory=threading.Lock)
    _was_leader: bool = False
    _gate_term: int | None = None  # the gate's term when this replica last recovered
    _recovery: threading.Lock = field(default_factory=threading.Lock)
    # With ``slack.receive: socket``: connects on the leader, disconnects elsewhere.
    socket_mode: SocketModeLeader | None = None
    socket_mode_period: float = 5.0
    # With Slack: waits until the clicks acknowledged so far are recorded (or given up
    # on), for up to the seconds given; False if they were not by then.
    slack_drain: Callable[[float], bool] | None = None
    # Refreshes the approvers' user-group memberships ahead of the clicks, so an answer
    # is checked from memory within Slack's three seconds.
    approver_refresh: Callable[[], None] | None = None
    # The reader every loop is given, counting Prometheus's answers and failures.
    reads: WatchedReader | None = None
    _term: int = 0  # leadership terms begun (by ``leading``)
    _anomaly_term: int = -1  # the term of the last anomaly cycle
    _canary_term: int = -1  # the term of the last canary cycle
    _gauges_term: int = -1  # the term the learning gauges were last published in
    # Why the cluster's watch caches are not filled yet (None once they are): not ready
    # until the Kubernetes API server has answered their first lists.
    cluster_waiting: Callable[[], str | None] | None = None
    # A PostgreSQL ledger, connected (and migrated) in the background: not ready, and
    # no job started, until it is.
    ledger_connector: LedgerConnector | None = None
    _ledger_check: LedgerCheck | None = None  # readiness's read of the ledger, bounded
    # Made once: two probes at once (the kubelet's, a scrape's) must share its one read.
    _ledger_check_made: threading.Lock = field(default_factory=threading.Lock)
    # A person's pause (``autonomic pause``): read at each remediation cycle, on every
    # replica, for ``autonomic_paused`` and readiness; said by the leader.
    pause_watch: PauseWatch | None = None

    def leading(self) -> bool:
        """Whether this replica leads, with the old leader's work settled first: the
        first job of a leadership term, whichever it is, recovers what a crash or the
        previous leader left in flight (write-ahead intents, executions, unasked
        questions) before it or any other job acts; the others wait for it. A recovery
        that fails (the ledger unreachable) is tried again by the next job.

        A term is new when this replica did not lead at its last look, or when the
        gate's term has moved on since (the lease was lost and won back between two
        jobs, and another replica may have acted in between)."""
        with self._recovery:
            leader = self.gate.is_leader()
            term = self.gate.term()  # after is_leader: counted before authority begins
            if leader and (not self._was_leader or term != self._gate_term):
                counts = self.engine.recover()
                log.info("became leader; recovered in-flight work: %s", counts)
                self._term += 1
                self._gate_term = term
            elif self._was_leader and not leader:
                self.decisions.term_ended()
            if leader and self._gauges_term != self._term:
                self._publish_learning()
            self._was_leader = leader
            return leader

    def _publish_learning(self) -> None:
        """The thresholds, automation rates and calibration errors, at once in a new
        term: a standby dropped them (``Metrics.standby``) and the hourly housekeeping
        that sets them may be up to an hour away. Not recalibrated early. A failed read
        is logged and tried again at the next look, without holding up the jobs."""
        try:
            self.decisions.publish_current(self.clock.now() - LEARNING_WINDOW)
        except Exception as exc:
            log.warning("could not publish the learning gauges as this term began: %s", exc)
            return
        self._gauges_term = self._term

    def _after_recovery(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            if self.leading():
                fn()

        return run

    def remediation_cycle(self) -> None:
        # Runs on every replica (not leader-only), so that a standby notices it has
        # stopped leading and recovers again when it next leads.
        if self.pause_watch is not None:
            self.pause_watch.look()
        if self.leading():
            self._cycle()
        else:  # what this replica set when it led is out of date: the leader's is current
            self.metrics.standby()

    def takeover_cycle(self) -> None:
        """The remediation cycle at the start of a leadership term, not at the next
        period (up to ``remediation_period`` later): the alerts the previous leader
        accepted, and did not handle before it died, are handled at once. Checked every
        ``takeover_period`` on every replica; it waits for the watch caches to be filled
        (a standby's usually are), and runs once per term: if a cycle has run in the
        term already, or is running, nothing is done."""
        if not self.leading() or self._cycle_term == self._term:
            return
        waiting = self.cluster_waiting() if self.cluster_waiting is not None else None
        if waiting:
            return  # the periodic cycle runs all the same, reading the API directly
        log.info("leading: running the remediation cycle now, not at its next period")
        self._cycle()

    def _cycle(self) -> None:
        """One remediation cycle, never two at once (the periodic job and the one at a
        takeover): one that finds another running returns, the running one does the work."""
        if not self._cycling.acquire(blocking=False):
            return
        try:
            self._cycle_term = self._term
            self.engine.cycle()
        finally:
            self._cycling.release()

    def anomaly_cycle(self) -> None:
        if self._anomaly_term not in (-1, self._term):
            # Leading again: what this replica remembers is from before another leader's
            # turn (or its own, saved only in part): the series are restored from the
            # ledger, with the incidents open or closed since, as at a start.
            self.anomaly.forget()
        self.anomaly.cycle()
        self._anomaly_term = self._term
        self.metrics.anomaly_series.set(self.anomaly.status.series)
        self.metrics.anomaly_contexts.set(self.anomaly.status.contexts)
        for query in self.anomaly.queries:
            scoring = query.name not in self.anomaly.status.degraded
            self.metrics.anomaly_query_scoring.labels(query.name).set(1 if scoring else 0)
            warming = self.anomaly.status.warming.get(query.name, 0)
            self.metrics.anomaly_series_warming.labels(query.name).set(warming)

    def canary_cycle(self) -> None:
        if self.canary is None:
            return
        if self._canary_term not in (-1, self._term):
            # Leading again: another leader may have recorded or verified verdicts since.
            self.canary.forget()
        self.canary.cycle()
        self._canary_term = self._term

    def save_state(self, budget: float) -> None:
        """At a clean shutdown, after the jobs have stopped and before the lease goes:
        the anomaly detectors' state not saved yet, for at most ``budget`` seconds (the
        runtime's ``ShutdownPlan`` gives it at most 5 s, less when the jobs took long).

        Only by the leader, and only if its anomaly loop has run in this leadership term:
        a standby's memory (or that of a replica leading again, not yet caught up on
        another leader's turn) is older than what the ledger holds."""
        if not self.settings.anomaly_queries or self._anomaly_term != self._term:
            return
        if not self.gate.is_leader():
            return
        self.anomaly.save_at_shutdown(budget)

    def housekeeping(self) -> None:
        now = self.clock.now()
        before = now - self.settings.ledger.retention_days * 86400
        pruned = self.ledger.prune(
            before,
            series_before=now - ANOMALY_SERIES_RETENTION,
            alerts_before=max(before, now - HANDLED_ALERT_RETENTION),
            # A node's uncordon seen: past the longest window the guards look back over.
            guards_before=now - self.engine.actions_kept(),
            # What the scaling loop reads back only while recent: a learned capacity, a
            # hold for replicas set by hand.
            aged_guards={
                f"{CAPACITY_KEY}/": now - CAPACITY_KEEP,
                f"{TAKEN_KEY}/": now - TAKEN_KEEP,
            },
        )
        # Every type decided in the window, however many decisions of other types came
        # after its last one; hand-offs and storms (``is_hold``) and anomaly observations
        # propose nothing to judge: no thresholds.
        since = now - LEARNING_WINDOW
        types = self.decisions.learning_types(since)
        for decision_type in types:
            self.decisions.recalibrate(decision_type)
        self.decisions.publish_gauges(since, types)
        log.info("housekeeping: pruned %s; recalibrated %d decision types", pruned, len(types))

    def jobs(self) -> list[Job]:
        after = self._after_recovery  # leader-only jobs act once the old leader's work is settled
        jobs = [
            Job(
                "remediation",
                self.remediation_period,
                self.remediation_cycle,
                leader_only=False,
                acts=True,  # it acts when this replica leads: watched for a stuck run
            ),
            Job("housekeeping", 3600.0, after(self.housekeeping)),
        ]
        if self.takeover_period is not None:
            jobs.insert(
                1,
                Job(
                    "remediation-takeover",
                    self.takeover_period,
                    self.takeover_cycle,
                    leader_only=False,  # every replica: a standby notices when it leads
                    jitter=0.0,
                    acts=True,
                    # it runs the remediation cycle: the cycle's bound, not 3 of its periods
                    stuck_after=max(STUCK_FLOOR, STUCK_PERIODS * self.remediation_period),
                ),
            )
        if self.settings.anomaly_queries:
            period = min(q.step for q in self.settings.anomaly_queries)
            jobs.append(Job("anomaly", max(period, 15.0), after(self.anomaly_cycle)))
        if self.scaling is not None:
            period = self.settings.scaling.period
            # Refits and catching up after a gap: a longer bound than the others'.
            bound = max(SCALING_STUCK_FLOOR, STUCK_PERIODS * period)
            jobs.append(Job("scaling", period, after(self.scaling.cycle), stuck_after=bound))
        if self.canary is not None:
            jobs.append(Job("canary", self.settings.canary.period, after(self.canary_cycle)))
        if self.approver_refresh is not None:
            # every replica: in HTTP mode any of them may receive a click
            jobs.append(
                Job("slack-approvers", APPROVER_REFRESH, self.approver_refresh, leader_only=False)
            )
        if self.socket_mode is not None:
            jobs.append(
                Job(
                    "slack-socket-mode",
                    self.socket_mode_period,
                    self.socket_mode.sync,
                    leader_only=False,  # also runs on standbys: to disconnect
                    jitter=0.0,
                )
            )
        return jobs + self.extra_jobs

    def ready(self) -> tuple[bool, str]:
        connecting = self.ledger_connector.waiting() if self.ledger_connector else None
        if connecting:
            return False, connecting
        with self._ledger_check_made:
            if self._ledger_check is None:
                self._ledger_check = LedgerCheck(self.ledger)
        unanswered = self._ledger_check.why_not()
        if unanswered:
            return False, unanswered
        waiting = self.cluster_waiting() if self.cluster_waiting is not None else None
        if waiting:
            return False, waiting
        role = "leader" if self.gate.is_leader() else "standby (warm)"
        held = self.pause_watch.current if self.pause_watch is not None else None
        # Paused is still ready: the probes, the webhooks and the approvals must answer.
        # So is a leader without its Slack connection (the HTTP routes, the CLI's
        # answers and everything else still work): readiness says it.
        socket = self.socket_mode.describe() if self.socket_mode is not None else None
        notes = [n for n in (held.describe() if held is not None else None, socket) if n]
        return True, "; ".join([role, *notes])


def build_daemon(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    clock: Clock | None = None,
    kube_host: str | None = None,
) -> tuple[Daemon, Runtime]:
    from agent.adapters.kube_api import SubjectAccessReviewer
    from agent.adapters.kubernetes import (
        REQUIRED_RBAC,
        KubernetesCluster,
        load_api_client,
        refusal_labels,
    )
    from agent.adapters.prometheus import PrometheusReader
    from agent.adapters.slack import MAX_BODY_BYTES as SLACK_MAX_BODY_BYTES
    from agent.adapters.slack import build_approvals
    from agent.kube_access import access_check
    from agent.leader import LEADER_RBAC, LeaderElector, LeaseConfig

    clock = clock or SystemClock()
    runbooks = load_runbooks(settings)
    password = resolve_secret(settings.ledger.password, environ)
    read_token = resolve_secret(settings.server.read_token, environ)  # before anything opens
    # The Kubernetes credentials are loaded (not used: nothing is asked of the API server
    # yet) before the ledger is opened: credentials that cannot be loaded stop start-up
    # before a SQLite ledger file is created.
    api_client = load_api_client(
        host=kube_host,
        kubeconfig=str(settings.cluster.kubeconfig) if settings.cluster.kubeconfig else None,
        context=settings.cluster.context,
        in_cluster=settings.cluster.in_cluster,
        watches=KubernetesCluster.watch_count(settings.cluster.namespaces),
    )
    # SQLite is opened (and migrated) here: a bad path stops start-up at once. PostgreSQL
    # is only checked here (its URL, its driver) and connected by ``LedgerConnector`` in
    # the background, once the runtime has started: a database not up yet must not keep
    # the probes from answering. Nothing built below touches the ledger before then.
    deferred = connects_later(settings.ledger.url)
    ledger = open_ledger(
        settings.ledger.url,
        clock.now(),
        password=password.get_secret_value() if password else None,
        migrate=not deferred,
        bounded=True,  # the server ends a statement, or a transaction left idle, after 60 s
    )
    metrics = Metrics()
    identity = environ.get("POD_NAME") or socket.gethostname() or f"autonomic-{os.getpid()}"
    # Every request the API server refuses (403) is counted by verb and resource, each
    # series at 0 from the start (AutonomicPermissionDenied alerts on their increase).
    rules = (*REQUIRED_RBAC, *(LEADER_RBAC if settings.leader_election.enabled else ()))
    metrics.expect_kube_refusals(refusal_labels(rules))
    gate: LeaderGate
    if settings.leader_election.enabled:
        election = settings.leader_election
        gate = ElectionGate(
            LeaderElector(
                api_client,
                LeaseConfig(
                    identity=identity,
                    name=election.lease_name,
                    namespace=election.namespace,
                    lease_duration=election.lease_duration,
                    renew_deadline=election.renew_deadline,
                    retry_period=election.retry_period,
                ),
                on_refused=metrics.kube_refused,
            )
        )
    else:
        gate = AlwaysLeader()
    own_namespace, own_name = environ.get("POD_NAMESPACE"), environ.get("POD_NAME")
    cluster = KubernetesCluster(
        api_client,
        identity=identity,
        own_pod=f"{own_namespace}/{own_name}" if own_namespace and own_name else None,
        namespaces=settings.cluster.namespaces,
        exclude_namespaces=settings.cluster.exclude_namespaces,
        resync_seconds=settings.cluster.resync,
        ignore_field_managers=settings.cluster.ignore_field_managers,
        may_write=gate.is_leader,  # asked again before each try of each write
        # An object left out of a listing because it cannot be read: counted by kind.
        on_unread=lambda kind: metrics.kube_objects_unread.labels(kind=kind).inc(),
        on_refused=metrics.kube_refused,
    )
    token = resolve_secret(settings.prometheus.bearer_token, environ)
    # Every loop reads through the watch: a failed read counts in the daemon's metrics
    # (by reason) even though the loop that made it carries on. The reader measures
    # Prometheus's clock against the system's (``time.time``, the ``SystemClock``'s), not
    # against ``clock``: a fake clock a test passes reads recorded history at its own
    # times, which is no skew to correct.
    reader = WatchedReader(
        PrometheusReader(
            settings.prometheus.url,
            timeout=settings.prometheus.timeout,
            stale_after=settings.prometheus.stale_after,
            headers={"Authorization": f"Bearer {token.get_secret_value()}"} if token else None,
            verify_tls=settings.prometheus.verify_tls,
        ),
        metrics,
        clock.now,
    )
    approvals, receiver = build_approvals(
        settings.slack,
        environ,
        ledger,
        clock=clock.now,
        cluster=settings.cluster.name,
        undo_ttl=settings.safety.undo_request_ttl,
        reask_after_reject=settings.safety.reask_after_reject,
        on_failure=lambda method, reason: metrics.slack_failures.labels(
            method=method, reason=reason_label(reason)
        ).inc(),
        # slack.requireKubernetesAccess: a SubjectAccessReview per write, as the approver.
        access=access_check(settings.slack, SubjectAccessReviewer(cluster.api)),
    )
    decisions = DecisionService(
        ledger, clock, settings.routing, mode=settings.mode, approvals=approvals, metrics=metrics
    )
    # Set when the shutdown begins (SIGTERM): the runtime's, shared with the executor,
    # which starts no further write from then on (a run stops between two steps).
    stopping = threading.Event()
    executor = Executor(
        ledger,
        cluster,
        clock,
        owner=identity,
        is_leader=gate.is_leader,
        metrics=metrics,
        stopping=stopping.is_set,
    )

    # The alerts the webhook accepted, stored in the ledger before it answers 200: the
    # remediation cycle of whichever replica leads handles them, and reads what is firing.
    inbox = AlertInbox(ledger, clock.now, repeat_interval=settings.alertmanager.repeat_interval)
    intake = AlertIntake(
        token=resolve_secret(settings.alertmanager.token, environ)
        if settings.alertmanager.enabled
        else None,
        clock=clock.now,
        inbox=inbox,
        max_body_bytes=settings.alertmanager.max_body_bytes,
        is_leader=gate.is_leader,
        metrics=metrics,
    )

    engine = RemediationEngine(
        runbooks=runbooks,
        ledger=ledger,
        decisions=decisions,
        executor=executor,
        reader=cluster,
        clock=clock,
        limits=GlobalLimits(
            max_actions_per_hour=settings.safety.max_actions_per_hour,
            storm_triggers_per_minute=settings.safety.storm_threshold,
            storm_cooldown=settings.safety.storm_cooldown,
            target_cooldown=settings.safety.cooldown,
            approved_max_wait=settings.safety.approved_max_wait,
            undo_request_ttl=settings.safety.undo_request_ttl,
            reask_after=settings.safety.reask_after,
            reask_after_reject=settings.safety.reask_after_reject,
            freeze_windows=settings.safety.freeze_windows,
            max_pods_disrupted_per_hour=settings.safety.max_pods_disrupted_per_hour,
            max_pods_disrupted_per_hour_per_namespace=(
                settings.safety.max_pods_disrupted_per_hour_per_namespace
            ),
        ),
        query=runbook_query(reader, clock.now),
        alerts=inbox.firing,
        inbox=inbox,
        identity=identity,
    )

    def set_up_ledger() -> None:  # what is written before any job starts
        # The pause is kept in the ledger: a daemon started with safety.paused false
        # lifts the pause an earlier start set from the configuration, or every runbook
        # stays denied 'Paused' saying the setting is on. A pause set another way (a
        # person's, with its own reason) is not the configuration's to lift; nor is
        # ``autonomic pause``, which is kept apart (``stored``: without it).
        state = engine.guard_state(stored=True)[0]
        if settings.safety.paused:
            if not state.paused:  # a person's pause keeps its own reason
                engine.pause(True, CONFIG_PAUSE)
        elif state.paused and state.pause_reason == CONFIG_PAUSE:
            log.info(
                "remediation no longer paused: safety.paused is false (the pause was: %s)",
                state.pause_reason,
            )
            engine.pause(False)

    connector = LedgerConnector(ledger, clock.now, setup=set_up_ledger) if deferred else None
    if connector is None:
        set_up_ledger()
    anomaly = AnomalyLoop(
        settings.anomaly_queries,
        reader=reader,
        ledger=ledger,
        decisions=decisions,
        submit=engine.submit,
        clock=clock,
        metrics=metrics,
    )
    scaling = (
        ScalingLoop(
            settings.scaling,
            reader=reader,
            cluster=cluster,
            decisions=decisions,
            executor=executor,
            clock=clock,
            submit=engine.submit,
            opt_in_label=settings.cluster.opt_in_label,
            metrics=metrics,
            paused=lambda: _pause_reason(engine),
            stale_after=settings.prometheus.stale_after,
            leader_term=gate.term,
        )
        if settings.scaling.enabled
        else None
    )
    canary = (
        CanaryLoop(
            settings.canary,
            reader=reader,
            cluster=cluster,
            decisions=decisions,
            clock=clock,
            submit=engine.submit,
            opt_in_label=settings.cluster.opt_in_label,
            events=lambda ref, reason, message, warning: cluster.post_event(
                ref, reason, message, warning=warning
            ),
            is_leader=gate.is_leader,
            metrics=metrics,
            paused=lambda: _pause_reason(engine),
            runbooks=engine.runbooks.values,
        )
        if settings.canary.enabled
        else None
    )
    daemon = Daemon(
        settings, clock, ledger, metrics, decisions, engine, anomaly, gate, intake, scaling, canary
    )
    approvals.may_post = gate.is_leader
    daemon.pause_watch = PauseWatch(
        ledger,
        clock.now,
        set_gauge=metrics.paused.set,
        announce=approvals.announce,
        is_leader=gate.is_leader,
    )
    daemon.reads = reader
    daemon.cluster_waiting = cluster.waiting
    daemon.ledger_connector = connector
    if receiver is not None:
        named = {rb.name: tuple(rb.spec.approvers) for rb in runbooks if rb.spec.approvers}
        said: set[str] = set()
        approvers = receiver.approvers

        def say_unanswerable() -> None:
            """Warn, once each, of approver lists no one is in: checked at start-up with
            the users listed, and after each refresh with the groups' members."""
            for sentence in unanswerable(approvers.rule, named, approvers.known_members()):
                if sentence not in said:
                    said.add(sentence)
                    log.warning("slack approvers: %s", sentence)

        say_unanswerable()
        if approvers.groups:

            def refresh_approvers() -> None:
                approvers.refresh(clock.now())
                say_unanswerable()

            daemon.approver_refresh = refresh_approvers
    if receiver is not None:
        daemon.slack_drain = receiver.drain
    if receiver is not None and settings.slack.receive == "socket":
        daemon.socket_mode = SocketModeLeader(receiver, gate.is_leader, clock.now, metrics)
        # Check as often as the lease is renewed: a replica that stops leading hangs up
        # before a standby can take the lease over (leaseDuration - renewDeadline later).
        daemon.socket_mode_period = (
            min(settings.leader_election.retry_period, 5.0)
            if settings.leader_election.enabled
            else 5.0
        )
    if settings.leader_election.enabled:  # as often as a follower polls the lease, or 2 s
        daemon.takeover_period = min(settings.leader_election.retry_period, 2.0)
    # Each POST route has its own body limit, refused on the Content-Length before the
    # body is read (the others take small JSON objects: the server's 64 KiB default).
    server = HttpServer(
        settings.server.host,
        settings.server.port,
        max_connections=settings.server.max_connections,
        refused_connection=lambda reason: metrics.http_refused.labels(reason).inc(),
    )
    needs_ledger = _after_ledger(connector)
    # Stored in the ledger before the 200 (503 while it cannot be: Alertmanager retries).
    # The token is checked before the body is read.
    server.route(
        "POST",
        "/webhooks/alertmanager",
        needs_ledger(intake.handle),
        max_body_bytes=settings.alertmanager.max_body_bytes,
        limit_name="alertmanager.maxBodyBytes",
        check_headers=intake.check_headers,
        refused=intake.refused_body,
    )
    # server.readToken, when set, is asked of the read endpoints before anything else
    # (the ledger's 503 included): what they show (open questions' evidence, alerts'
    # labels and annotations, the workloads scaled) is not for whoever reaches the port.
    reader_token = CallerToken(
        read_token,
        setting="server.readToken",
        clock=clock.now,
        refused=lambda reason: metrics.read_refused.labels(reason).inc(),
        wrong_status=401,
        endpoint="read endpoint (/approvals, /alerts, /scaling)",
        advice="Send the header Authorization: Bearer <token>, holding the token",
        logger=logging.getLogger("autonomic.server.auth"),
    )
    read_check = reader_token.headers_check(in_metadata=False)
    server.route(
        "GET",
        "/approvals",
        reader_token.guard(needs_ledger(lambda r: _pending(ledger, clock.now(), r.query))),
        check_headers=read_check,
    )
    if settings.alertmanager.enabled:
        server.route(
            "GET",
            "/alerts",
            reader_token.guard(needs_ledger(lambda r: _stored_alerts(ledger, r))),
            check_headers=read_check,
        )
    if scaling is not None:
        loop = scaling

        def scaling_status(_request: Request) -> Response:
            if not daemon.gate.is_leader():  # what it kept from leading is out of date
                note = "this replica is a standby: the scaling loop runs on the leader"
                return json_response(200, {"leader": False, "note": note})
            return json_response(200, {"leader": True, **loop.report()})

        server.route(
            "GET", "/scaling", reader_token.guard(scaling_status), check_headers=read_check
        )
    if canary is not None:
        # canary.token, when set, is checked before anything else (the ledger's 503
        # included): a caller without it learns nothing and changes nothing.
        caller = CallerToken(
            resolve_secret(settings.canary.token, environ),
            setting="canary.token",
            clock=clock.now,
            refused=lambda reason: metrics.canary_refused.labels(reason).inc(),
        )
        server.route(
            "GET",
            "/canary/verdict",
            caller.guard(needs_ledger(canary.argo)),
            check_headers=caller.headers_check(in_metadata=False),
        )
        server.route(
            "POST",
            "/canary/flagger",
            caller.guard(needs_ledger(canary.flagger), in_metadata=True),
            check_headers=caller.headers_check(in_metadata=True),
        )
    if receiver is not None:
        # The receiver answers in plain text (a sentence, or nothing for Slack's 200):
        # said so, not labelled JSON, which a client or a proxy would try to parse.
        def slack(request: Request) -> Response:
            status, body = receiver.handle_interaction(request.body, request.headers, clock.now())
            return Response(status, body, PLAIN_TEXT)

        def slack_headers(headers: Mapping[str, str]) -> Response | None:
            refused = receiver.check_headers(headers, clock.now())
            return None if refused is None else Response(refused[0], refused[1], PLAIN_TEXT)

        # Slack's signature headers are looked at before the body is read (the signature
        # itself needs the body).
        server.route(
            "POST",
            "/slack/interactions",
            needs_ledger(slack),
            max_body_bytes=SLACK_MAX_BODY_BYTES,
            check_headers=slack_headers,
        )

    def hang_up() -> None:  # Slack Socket Mode: no answers after the lease goes
        if daemon.socket_mode is not None:
            daemon.socket_mode.close()

    def stop() -> None:
        hang_up()  # again, for callers that do not stop the runtime (run --once)
        cluster.stop()
        if receiver is not None:  # clicks acknowledged and not yet recorded: 1 s more,
            receiver.close(1.0)  # then their clickers are told (the follow-ups carry it)
        approvals.close()
        ledger.close()

    # The watches fill their caches in the background: nothing here waits for the API
    # server, so the probes answer as soon as the runtime starts (not ready, saying why,
    # until the caches are filled), and a loop that runs first reads the API directly.
    cluster.start(wait=0)
    runtime = Runtime(
        daemon.jobs(),
        metrics=metrics,
        gate=gate,
        server=server,
        ready=daemon.ready,
        on_stop=stop,
        before_release=daemon.save_state,  # the jobs have stopped; the lease is still held
        hang_up=hang_up,
        # The lease is not sought, nor any job started, before the ledger answers: a
        # replica that cannot use it must not hold the lease from one that can.
        prepare=connector.run if connector is not None else None,
        stopping=stopping,
    )
    return daemon, runtime


def _after_ledger(
    connector: LedgerConnector | None,
) -> Callable[[Callable[[Request], Response]], Callable[[Request], Response]]:
    """A route that reads or writes the ledger: 503 (with Retry-After) while the ledger
    is still connecting, as while its database is away."""

    def wrap(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        if connector is None:
            return handler

        def guarded(request: Request) -> Response:
            waiting = connector.waiting()
            if waiting:
                raise TransientError(waiting, delay=connector.next_delay())
            return handler(request)

        return guarded

    return wrap


LISTED_AT_MOST = 1000  # GET /approvals and /alerts: the most ?limit= may ask for
APPROVALS_SHOWN = 50  # GET /approvals: the newest, unless ?limit= says (approvals list's too)


def _limit_asked(query: Mapping[str, list[str]], default: int) -> int | Response:
    """A listing endpoint's ``?limit=N`` (``default`` without it), or the 400 answer to a
    value that is not a whole number from 1 to ``LISTED_AT_MOST``."""
    text = (query.get("limit") or [str(default)])[0]
    # ASCII digits, a few: ``isdigit`` alone holds for a superscript two and for 5,000
    # nines, which ``int`` refuses (a 500 where a bad value gets 400).
    readable = ascii_digits(text, 9)
    if not readable or not 1 <= int(text) <= LISTED_AT_MOST:
        return json_response(
            400, {"error": f"limit must be a whole number from 1 to {LISTED_AT_MOST}, got {text!r}"}
        )
    return int(text)


def _pending(ledger: Ledger, now: float, query: Mapping[str, list[str]] | None = None) -> Response:
    """Questions waiting for an answer, and what was escalated (nothing was done about
    those; without Slack this is where the on-call sees them). The keys are those of
    `autonomic approvals list --json` (``agent.approvals``), and so are the parameters:
    ``?limit=N`` the newest N pending questions (still in the order asked) and at most N
    escalations (default 50, at most 1000); ``?since=DURATION`` the escalations' window
    (``30m``, ``8h``, ``7d``; ``all`` for every one; default 24h). ``older_pending``
    counts the pending questions the limit left out; ``more_escalations`` says the
    window holds more escalations than listed."""
    from agent.settings import parse_positive_duration

    query = query or {}
    limit = _limit_asked(query, APPROVALS_SHOWN)
    if isinstance(limit, Response):
        return limit
    since_text = (query.get("since") or [""])[0]
    window: float | None = ESCALATIONS_SHOWN
    if since_text.strip().lower() == "all":
        window = None
    elif "since" in query:
        try:
            window = parse_positive_duration(since_text)
        except ValueError as exc:
            return json_response(
                400, {"error": f"since must be a duration (30m, 8h, 7d) or all: {exc}"}
            )
    questions = ledger.questions(limit=limit, newest=True)
    # Two reads: a question answered between them must not make the count negative.
    older = max(0, ledger.count_questions() - len(questions)) if len(questions) >= limit else 0
    pending = [
        question_json(question, ledger.get_decision(question.decision_id), now)
        for question in questions
    ]
    since = 0.0 if window is None else now - window
    rows = ledger.feedback_since("escalation", since, limit=limit + 1)
    escalations = [
        escalation_json(row, ledger.get_decision(row["decision_id"])) for row in rows[:limit]
    ]
    return json_response(
        200,
        {
            "pending": pending,
            "escalations": escalations,
            "older_pending": older,
            "more_escalations": len(rows) > limit,
        },
    )


STORED_ALERTS_SHOWN = 50  # GET /alerts: the newest, unless ?limit= asks for more


def _stored_alerts(ledger: Ledger, request: Request) -> Response:
    """The stored alerts waiting for a remediation cycle and those given up, newest first
    (``?given_up=true``: only these; ``?limit=N``), as `autonomic alerts list --json`
    prints them: for a person without a shell on the cluster, or a dashboard."""
    given_up = (request.query.get("given_up") or ["false"])[0].lower()
    if given_up not in ("true", "false"):
        return json_response(400, {"error": f"given_up must be true or false, got {given_up!r}"})
    limit = _limit_asked(request.query, STORED_ALERTS_SHOWN)
    if isinstance(limit, Response):
        return limit
    rows = ledger.stored_alerts(given_up=given_up == "true", limit=limit + 1)
    return json_response(
        200,
        {
            "alerts": [{**asdict(row), "state": row.state} for row in rows[:limit]],
            "more": len(rows) > limit,
        },
    )


def _pause_reason(engine: RemediationEngine) -> str | None:
    """Why writes are paused (``autonomic pause``, ``safety.paused``), or None."""
    return engine.paused()
