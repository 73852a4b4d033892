"""The daemon runtime behind ``autonomic run``: jobs on APScheduler, probes, shutdown.

The loops themselves live in ``agent.daemon.Daemon`` and are plain methods; this
module only schedules them (APScheduler 3.x, each job ``max_instances=1``, coalesced,
with jitter), gates the ones that act on holding the lease, serves ``/healthz``,
``/readyz`` and ``/metrics`` from the start (the lease and the jobs wait for ``prepare``,
such as a ledger still connecting), and shuts down gracefully on SIGTERM, within one budget
(``ShutdownPlan``): stop taking new work, let the running step finish (or abandon it
safely), save what must be saved, release the lease, close the ledger. SIGUSR1 writes
every thread's stack to stderr and changes nothing.

A watchdog looks at the jobs that act while this replica leads: one that has run past its
bound (``Job.bound``) while the replica leads is stuck (a ledger that accepts and never
answers, a call with no deadline). It is logged once with where it is stuck, counted in
``autonomic_jobs_stuck_total``, ``/healthz`` fails, and the runtime shuts down as on
SIGTERM, the lease released at its end, so that a standby takes over and the process
exits (``failure``) to be restarted. A stuck job on a standby restarts nothing.

``simulate`` drives the same ``Daemon`` methods from a fake clock instead.
"""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from agent.errors import (
    LEDGER_CONFLICT,
    LEDGER_UNAVAILABLE,
    AutonomicError,
    PermanentError,
    TransientError,
)
from agent.observability import Metrics, reason_label
from agent.outages import SUMMARY_EVERY, OutageStory, span
from agent.server import HttpServer, Request, Response, json_response
from remediation.windows import to_utc_text

__all__ = [
    "FIRST_RUN_BOUND",
    "SHUTDOWN_MARGIN",
    "STUCK_FLOOR",
    "STUCK_PERIODS",
    "Job",
    "LeaderGate",
    "LedgerOutage",
    "Runtime",
    "ShutdownPlan",
    "StuckJobError",
    "run_job",
]

log = logging.getLogger("autonomic.runtime")
ledger_log = logging.getLogger("autonomic.ledger")

# Kubernetes sends SIGKILL terminationGracePeriodSeconds after SIGTERM (30 s in
# manifests/deployment.yaml). The shutdown takes at most ``ShutdownPlan.budget``, and the
# grace period leaves at least this much more: for the signal to arrive, the last lines
# of log to be written and the process to exit.
SHUTDOWN_MARGIN = 5.0

# A run of a job that acts, lasting longer than this many of its periods and at least
# STUCK_FLOOR seconds while this replica leads, is stuck (``Job.bound``; a job may set its
# own, ``stuck_after``). The floor is far above a steady cycle (benchmarks/
# cycle_RESULTS.md, 10,000 workloads: anomaly 2.6 s, scaling 2.2 s, remediation 1.7 s)
# and leaves room for slow API calls (each gives up after 5 s connecting, 30 s
# unanswered). A job's first run in a leadership term (since this replica began to lead,
# or won the lease back) does the heavy work (recovering in-flight work, restoring the
# anomaly detectors and reading the points missed while down, the scaling loop's first
# fit of every workload: 72 s for the three at 1,000 workloads on PostgreSQL, so about
# 12 min at 10,000 if it grows in proportion): it is stuck only past FIRST_RUN_BOUND.
# A bound too short would restart the replica in the middle of that work, again and again.
STUCK_FLOOR = 300.0
STUCK_PERIODS = 3
FIRST_RUN_BOUND = 1800.0
WATCH_EVERY = 5.0  # seconds between the watchdog's looks, at most


@dataclass(frozen=True)
class ShutdownPlan:
    """One deadline for the whole shutdown, ``budget`` seconds after it begins, shared by
    its steps in order. Each step may use what is left of it but what it keeps back for
    the steps after it, so a step that ends early leaves its time to those after:

    1. stop taking new work (at once; readiness fails);
    2. the running jobs: each stops at its next safe point (the write under way, a
       step or an eviction, finishes; no further step, run, undo or eviction starts:
       ``Executor.stopping``, and a run is left ``running`` with its intents for the
       next leader), until the deadline less ``save_min + release + close``; past that
       it is abandoned (its write-ahead intent is reconciled by the next leader);
    3. saving state (``before_release``): at most ``save_max``, until the deadline less
       ``release + close``;
    4. releasing the lease, so that a standby takes over at once rather than when the
       lease expires: until the deadline less ``close``;
    5. closing (``on_stop``: the watches, the Slack follow-ups, the ledger), until the
       deadline.

    Slack Socket Mode hangs up alongside, from the start: it must be done before the
    lease is released (a standby then connects) and is waited for until step 4 begins.
    A step cut short is logged, with what follows from it.
    """

    budget: float = 25.0
    save_max: float = 5.0
    save_min: float = 2.0
    release: float = 3.0
    close: float = 2.0

    def scaled(self, budget: float) -> ShutdownPlan:
        """This plan with every step's share scaled to ``budget`` (tests: a short one)."""
        k = budget / self.budget
        return ShutdownPlan(
            budget, self.save_max * k, self.save_min * k, self.release * k, self.close * k
        )

    def __post_init__(self) -> None:
        kept = self.save_min + self.release + self.close
        if min(self.save_max, self.save_min, self.release, self.close) < 0 or kept >= self.budget:
            raise ValueError(
                f"shutdown plan: the steps keep {kept:g} s back of a {self.budget:g} s budget"
            )


@dataclass(frozen=True)
class Job:
    name: str
    period: float
    fn: Callable[[], None]
    leader_only: bool = True
    jitter: float = 0.1  # fraction of the period
    # Whether the job acts while this replica leads, so that a run of it stuck past
    # ``bound`` keeps the lease from a standby that could act (None: ``leader_only``).
    acts: bool | None = None
    stuck_after: float | None = None  # seconds; None: ``STUCK_PERIODS`` periods, floored

    @property
    def watched(self) -> bool:
        """Whether the watchdog restarts the replica when a run of this job is stuck."""
        return self.leader_only if self.acts is None else self.acts

    @property
    def bound(self) -> float:
        """Seconds a run may last, while this replica leads, before it is stuck."""
        if self.stuck_after is not None:
            return self.stuck_after
        return max(STUCK_FLOOR, STUCK_PERIODS * self.period)


class StuckJobError(Exception):
    """A job that acts ran past its bound while this replica led (``Runtime.failure``)."""


class LeaderGate(Protocol):
    def is_leader(self) -> bool: ...

    def term(self) -> int:
        """Leadership terms begun so far; it changes whenever the lease was lost and
        won again, however briefly, so a caller that reads it after ``is_leader()`` can
        tell a new term from the one it saw last."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class AlwaysLeader:
    """For a single replica with leader election turned off."""

    def is_leader(self) -> bool:
        return True

    def term(self) -> int:
        return 1

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


# What ``run_job`` returns for a run that failed.
FAILED = ("transient-error", "ledger-unavailable", "permanent-error", "error")


def _duration(seconds: float) -> str:
    """A span as a person reads it: 40 s, 12 min, 3.5 h."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class LedgerOutage:
    """The ledger's database failing under the jobs, told as one story
    (``agent.outages``) instead of one warning per job and period: a warning at the first
    run that fails on it, a summary at most every ``summary_every`` seconds while runs
    keep failing on it (for how long, how many runs failed, by job, the last error), and
    one line when a job that failed on it runs cleanly again (after how long). Shared by
    the jobs' threads."""

    def __init__(
        self, clock: Callable[[], float] = time.time, *, summary_every: float = SUMMARY_EVERY
    ) -> None:
        self.clock = clock
        self._story = OutageStory(summary_every)
        self._lock = threading.Lock()
        self._jobs: set[str] = set()  # the jobs that failed on it since it last answered
        # The jobs whose last run met a conflict (``LEDGER_CONFLICT``) and no clean run since.
        self._conflicted: set[str] = set()

    def one_off(self, job: str) -> bool:
        """A run of ``job`` met a conflict the ledger's server resolved by rolling its
        transaction back (a deadlock, a serialization failure, a statement past
        statement_timeout): whether it is a one-off, said by the job as what it is. The
        job's last run met one too (no clean run between): not a one-off, told as an
        outage (``failed``)."""
        with self._lock:
            if job in self._conflicted:
                return False
            self._conflicted.add(job)
            return True

    def failed(self, job: str, exc: TransientError) -> None:
        """A run of ``job`` failed on the ledger with ``exc``."""
        now = self.clock()
        with self._lock:
            self._jobs.add(job)
        told = self._story.failed(now, job)
        if told is None:
            return
        if told.what == "began":
            ledger_log.warning(
                "the ledger cannot be used%s: %s (first met by the %s job)%s. The jobs that "
                "need it fail and try again at each period; no action is taken meanwhile "
                "(each records its write-ahead intent in the ledger first), and the alerts "
                "Alertmanager posts are answered 503 for it to send again. A summary "
                "follows every %s while this lasts, and one line when the ledger answers "
                "again",
                f" since {to_utc_text(told.since)}" if now - told.since >= 1 else "",
                exc,
                job,
                f"; {told.earlier} more runs failed on it, in short spells between clean "
                "runs, since the last report"
                if told.earlier
                else "",
                span(self._story.summary_every),
                extra={"loop": job, "reason": exc.reason},
            )
            return
        ledger_log.warning(
            "the ledger still cannot be used, for %s (since %s): %d run%s failed on it (%s); "
            "the last error: %s",
            span(now - told.since),
            to_utc_text(told.since),
            told.failures,
            "" if told.failures == 1 else "s",
            ", ".join(f"{name} {n}" for name, n in sorted(told.by.items())),
            exc,
            extra={"loop": job, "reason": exc.reason},
        )

    def ran(self, job: str) -> None:
        """A run of ``job`` ended cleanly: if ``job`` failed on the ledger since it last
        answered, the ledger answers again (a job that never needed it says nothing)."""
        with self._lock:
            self._conflicted.discard(job)
            if job not in self._jobs:
                return
            self._jobs.clear()
        now = self.clock()
        told = self._story.answered(now)
        if told is None:
            return
        ledger_log.info(
            "the ledger answers again, after %s failing (since %s; %d run%s failed on it)",
            span(now - told.since),
            to_utc_text(told.since),
            told.failures,
            "" if told.failures == 1 else "s",
            extra={"loop": job},
        )


def run_job(
    job: Job,
    metrics: Metrics,
    gate: LeaderGate,
    stopping: threading.Event,
    ledger: LedgerOutage | None = None,
) -> str:
    """Run one job once, with its guards. Returns what happened (for logs and tests).

    A run that fails on the ledger's database is told by ``ledger`` when given (the
    runtime's: one story for all the jobs; the run returns ``ledger-unavailable``), and
    otherwise logged as any other ``TransientError``. A conflict the server rolled back
    (``LEDGER_CONFLICT``) is logged by the job as a one-off, unless the job's last run
    met one too: then it is part of the story; every failed run is counted in
    ``autonomic_errors_total`` either way."""
    if stopping.is_set():
        return "stopping"
    if job.leader_only and not gate.is_leader():
        return "not-leader"
    with metrics.time_loop(job.name):
        try:
            job.fn()
        except TransientError as exc:
            metrics.errors.labels(kind=reason_label(exc.reason)).inc()
            if ledger is not None and exc.reason == LEDGER_CONFLICT and ledger.one_off(job.name):
                log.warning(
                    "%s: %s (a one-off conflict, not an outage: the job runs again at its "
                    "next period)",
                    job.name,
                    exc,
                    extra={"loop": job.name, "reason": exc.reason},
                )
                return "transient-error"
            if ledger is not None and exc.reason in (LEDGER_UNAVAILABLE, LEDGER_CONFLICT):
                ledger.failed(job.name, exc)
                return "ledger-unavailable"
            log.warning("%s: %s (will retry next period)", job.name, exc, extra={"loop": job.name})
            return "transient-error"
        except PermanentError as exc:
            metrics.errors.labels(kind=reason_label(exc.reason)).inc()
            log.error("%s: %s", job.name, exc, extra={"loop": job.name})
            return "permanent-error"
        except Exception:  # a bug in one loop must not take the daemon down
            metrics.errors.labels(kind="Unexpected").inc()
            log.exception("%s failed unexpectedly", job.name, extra={"loop": job.name})
            return "error"
    if ledger is not None:
        ledger.ran(job.name)
    return "ok"


class Runtime:
    def __init__(
        self,
        jobs: list[Job],
        *,
        metrics: Metrics,
        gate: LeaderGate,
        server: HttpServer | None,
        ready: Callable[[], tuple[bool, str]],
        on_stop: Callable[[], None] = lambda: None,
        before_release: Callable[[float], None] = lambda _seconds: None,
        hang_up: Callable[[], None] = lambda: None,
        plan: ShutdownPlan | None = None,
        prepare: Callable[[threading.Event], None] | None = None,
        first_run_bound: float = FIRST_RUN_BOUND,
        clock: Callable[[], float] = time.time,
        stopping: threading.Event | None = None,
    ) -> None:
        self.jobs = jobs
        self.metrics = metrics
        self.gate = gate
        self.server = server
        self.ready = ready
        self.on_stop = on_stop
        # What must happen while this replica still holds the lease (saving the anomaly
        # state): called on shutdown with the seconds it may take, once the jobs have
        # stopped (or their share of the budget ran out), before the lease is released.
        self.before_release = before_release
        # What must end before the lease is released but may start at once (hanging up
        # Slack Socket Mode, so that a standby taking the lease is the only one to hear).
        self.hang_up = hang_up
        self.plan = plan or ShutdownPlan()
        # What must be done before the lease is sought and the jobs start (connecting a
        # ledger that is not up yet): run on a thread of its own, the probes answering
        # meanwhile, given ``stopping`` to give up on; it returns once done. An exception
        # out of it stops the runtime, kept in ``failure`` for the caller to report.
        self.prepare = prepare
        self.failure: Exception | None = None
        # Jobs whose last runs failed: how many in a row, since when (monotonic), and
        # whether each failed on the ledger (told by ``ledger_outage``, not by the job).
        self._failing: dict[str, tuple[int, float, bool]] = {}
        # The ledger failing under the jobs: one story for all of them (``clock``: the
        # wall clock it says when by).
        self.ledger_outage = LedgerOutage(clock)
        # Set at the start of the shutdown. Given (``stopping``), it is shared with what
        # writes (``Executor.stopping``), so that a job under way starts no further write
        # (a step, a run, an undo, an eviction) while the shutdown waits for it.
        self.stopping = stopping if stopping is not None else threading.Event()
        self.stopped = threading.Event()
        self._lifecycle = threading.Lock()  # the jobs begin, or the shutdown does: not both
        self._scheduler: Any = None
        self._running: dict[str, float] = {}  # jobs running now, and since when (monotonic)
        self._threads: dict[str, int] = {}  # the thread each running job runs on
        # A job's first run since this replica began to lead is stuck only past this (or
        # its own bound, if longer).
        self.first_run_bound = first_run_bound
        self._led: dict[str, int | None] = {}  # the term each job's last run began in
        self._first: set[str] = set()  # running jobs on their first run since leading
        self._stuck: str | None = None  # why the watchdog stopped the runtime
        self._skipping: dict[str, int] = {}  # runs skipped since each running job began
        for job in jobs:  # at 0 from the start: a stuck run's 1 then shows as an increase
            if job.watched:
                metrics.jobs_stuck.labels(loop=job.name)
        if server is not None:
            # Answered also when the server's connections are at their cap: the kubelet
            # must not restart, nor take out of the Service, a replica for being busy.
            server.route("GET", "/healthz", self._healthz, probe=True)
            server.route("GET", "/readyz", self._readyz, probe=True)
            server.route("GET", "/metrics", self._metrics)

    # ---------------------------------------------------------------- probes
    def _healthz(self, _request: Request) -> Response:
        if self._stuck is not None:
            return json_response(503, {"status": "stuck", "why": self._stuck})
        if self.stopped.is_set():
            return json_response(503, {"status": "stopped"})
        return json_response(200, {"status": "ok"})

    def _readiness(self) -> tuple[bool, str]:
        """Ready or not, and why; ``autonomic_ready`` follows."""
        if self.stopping.is_set():
            ok, why = False, "shutting down" if self._stuck is None else "shutting down: stuck"
        else:
            ok, why = self.ready()
        self.metrics.ready.set(1 if ok else 0)
        return ok, why

    def _readyz(self, _request: Request) -> Response:
        ok, why = self._readiness()
        if self.stopping.is_set():
            return json_response(503, {"ready": False, "why": why})
        return json_response(
            200 if ok else 503, {"ready": ok, "why": why, "leader": self.gate.is_leader()}
        )

    def _metrics(self, _request: Request) -> Response:
        # Each scrape reads both gauges afresh: a replica nobody probes (outside
        # Kubernetes, or between probes while shutting down) reports what it is now.
        self.metrics.leader.set(1 if self.gate.is_leader() else 0)
        try:
            self._readiness()
        except Exception:  # the scrape must not fail with the check: not ready
            self.metrics.ready.set(0)
        return Response(200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Serve the probes at once; seek the lease and start the jobs once ``prepare``
        (if any) is done."""
        if self.server is not None:
            self.server.start()
        if self.prepare is None:
            self._begin()
            return
        threading.Thread(target=self._prepare, name="autonomic-prepare", daemon=True).start()

    def _prepare(self) -> None:
        assert self.prepare is not None
        try:
            self.prepare(self.stopping)
        except Exception as exc:  # what retrying cannot fix: stop, saying why
            self.failure = exc
            log.error("cannot start: %s", exc, exc_info=not isinstance(exc, AutonomicError))
            self.stop()
            return
        self._begin()

    def _begin(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        with self._lifecycle:
            if self.stopping.is_set():  # shut down while preparing: nothing to begin
                return
            self.gate.start()
            scheduler = BackgroundScheduler(
                job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 30},
                timezone="UTC",
            )
            for job in self.jobs:
                # A job of an hour or less runs at once; a longer one (a configured
                # ``scaling.period: 2h``) first after one period. Never
                # ``next_run_time=None``: APScheduler adds such a job paused, never to run.
                first = {"next_run_time": _soon()} if job.period <= 3600 else {}
                scheduler.add_job(
                    self._run_job,
                    "interval",
                    seconds=job.period,
                    jitter=max(int(job.period * job.jitter), 0) or None,
                    args=(job,),
                    id=job.name,
                    name=job.name,
                    **first,
                )
            # A run that comes due while the last one still runs is skipped: APScheduler
            # warned at every such tick (once a second for the takeover job while the
            # remediation cycle it started ran on); the runtime says it once per streak.
            from apscheduler.events import EVENT_JOB_MAX_INSTANCES

            logging.getLogger("apscheduler.scheduler").addFilter(_SKIP_WARNINGS)
            scheduler.add_listener(self._skipped_run, EVENT_JOB_MAX_INSTANCES)
            scheduler.start()
            self._scheduler = scheduler
            watched = [job.bound for job in self.jobs if job.watched]
            if watched:
                every = min(WATCH_EVERY, max(min(watched) / 10, 0.05))
                threading.Thread(
                    target=self._watch, args=(every,), name="autonomic-watchdog", daemon=True
                ).start()
        log.info("started %d jobs: %s", len(self.jobs), ", ".join(j.name for j in self.jobs))

    def _run_job(self, job: Job) -> None:
        self._threads[job.name] = threading.get_ident()
        # The leadership term this run begins in (None: not leading). A run is the first
        # since leading when the last one began in no term or in another: a lease lost
        # and won back between two runs begins a new term, whose first job recovers the
        # in-flight work again (``Daemon.leading``) and the anomaly loop catches up again.
        term = self.gate.term() if self.gate.is_leader() else None  # term after is_leader
        if term is None or self._led.get(job.name) != term:
            self._first.add(job.name)
        else:
            self._first.discard(job.name)
        self._led[job.name] = term
        began = self._running[job.name] = time.monotonic()
        try:
            outcome = run_job(job, self.metrics, self.gate, self.stopping, self.ledger_outage)
        finally:
            self._running.pop(job.name, None)
            self._threads.pop(job.name, None)
            skipped = self._skipping.pop(job.name, 0)
            if skipped:
                log.info(
                    "%s: its run ended after %s; %d run%s came due meanwhile and %s skipped",
                    job.name,
                    _duration(time.monotonic() - began),
                    skipped,
                    "" if skipped == 1 else "s",
                    "was" if skipped == 1 else "were",
                    extra={"loop": job.name},
                )
        self._note(job, outcome)

    def _skipped_run(self, event: Any) -> None:
        """APScheduler's event for a run not started because the last one still runs:
        said once, when the first is skipped; the end of the run says how many were."""
        name = str(event.job_id)
        skipped = self._skipping.get(name, 0)
        self._skipping[name] = skipped + 1
        since = self._running.get(name)
        if skipped == 0 and since is not None:
            log.warning(
                "%s: a run came due while the last one was still running (for %s): "
                "skipping runs until it ends",
                name,
                _duration(time.monotonic() - since),
                extra={"loop": name},
            )

    def _note(self, job: Job, outcome: str) -> None:
        """Keep each job's streak of failed runs, and say once, at INFO, when a job that
        failed runs cleanly again: every failure was logged, and without this line the
        log never says that the trouble is over. Not for a streak whose every run failed
        on the ledger: its story says when the ledger answers again, for all the jobs."""
        if outcome in FAILED:
            runs, since, ledger = self._failing.get(job.name, (0, time.monotonic(), True))
            ledger = ledger and outcome == "ledger-unavailable"
            self._failing[job.name] = (runs + 1, since, ledger)
        elif outcome == "ok" and job.name in self._failing:
            runs, since, ledger = self._failing.pop(job.name)
            if ledger:  # the ledger's story says it, for every job at once
                return
            log.info(
                "%s: ran cleanly again, after %d failed run%s in a row (the first %s ago)",
                job.name,
                runs,
                "" if runs == 1 else "s",
                _duration(time.monotonic() - since),
                extra={"loop": job.name},
            )

    # -------------------------------------------------------------- watchdog
    def _watch(self, every: float) -> None:
        failing = False
        while not self.stopping.wait(every):
            try:
                self.check_stuck()
            except Exception:  # a watchdog that died would leave nothing watched, unsaid
                if not failing:
                    log.exception("watchdog: could not look at the running jobs; trying again")
                failing = True
            else:
                failing = False

    def check_stuck(self) -> bool:
        """Whether a job that acts has run past its bound while this replica leads; if so,
        say so once (with where it is stuck), count it, fail ``/healthz`` and shut down,
        so the lease passes to a standby and the process exits to be restarted.

        Only while this replica leads: a standby's stuck job holds nothing another
        replica needs (if it leads later with the run still stuck, it is found then)."""
        now = time.monotonic()
        jobs = {job.name: job for job in self.jobs}
        stuck = []
        for name, since in list(self._running.items()):
            job = jobs.get(name)
            if job is None or not job.watched:
                continue
            bound = max(job.bound, self.first_run_bound) if name in self._first else job.bound
            if now - since > bound:
                stuck.append((job, now - since, bound))
        if not stuck or self.stopping.is_set() or not self.gate.is_leader():
            return False
        frames = sys._current_frames()
        said = []
        for job, lasted, bound in stuck:
            self.metrics.jobs_stuck.labels(loop=job.name).inc()
            said.append(
                f"{job.name} has run for {_duration(lasted)}, past its bound of {_duration(bound)}"
            )
            where = _stack_below_run_job(frames.get(self._threads.get(job.name, -1)))
            log.error(
                "%s: a run has lasted %s while this replica leads, past its bound of %s: "
                "it is stuck. Shutting down, so that the lease passes to a standby and this "
                "process exits to be restarted. Where it is stuck:\n%s",
                job.name,
                _duration(lasted),
                _duration(bound),
                where,
                extra={"loop": job.name},
            )
        self._stuck = "; ".join(said)
        self.failure = StuckJobError(
            f"stuck job: {self._stuck} while this replica led; it shut down to let a "
            "standby take over (the log says where the job was stuck)"
        )
        self.stop()
        return True

    def install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s: shutting down", signal.Signals(signum).name)
            threading.Thread(target=self.stop, name="autonomic-stop", daemon=True).start()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
        # `kill -USR1 <pid>` (or `kubectl exec ... -- kill -USR1 1`) writes every thread's
        # stack to stderr, so `kubectl logs` shows where a job that never ends is stuck,
        # without stopping the daemon. faulthandler does it from C: it works while every
        # Python thread is blocked.
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True, chain=False)

    def stop(self) -> None:
        """Shut down within ``plan.budget`` seconds (see ``ShutdownPlan``)."""
        with self._lifecycle:
            if self.stopping.is_set():
                return
            # Readiness fails at once; jobs that start now return at once; jobs that
            # have not begun (still preparing) never will; a job under way starts no
            # further write (when ``stopping`` is shared with the executor).
            self.stopping.set()
        plan, began = self.plan, time.monotonic()
        deadline = began + plan.budget

        def left(keep: float = 0.0) -> float:
            return max(deadline - keep - time.monotonic(), 0.0)

        hang_up = _Step("hanging up Slack Socket Mode", self.hang_up)
        scheduler = self._scheduler
        if scheduler is not None:
            scheduler.pause()
            jobs = _Step("waiting for the running jobs", lambda: scheduler.shutdown(wait=True))
            if not jobs.wait(left(plan.save_min + plan.release + plan.close)):
                now = time.monotonic()
                running = ", ".join(
                    f"{name} (running {now - since:.1f} s)"
                    for name, since in sorted(self._running.items())
                )
                log.warning(
                    "shutdown: a job was still running after %.1f s: abandoning %s; an "
                    "intent it recorded is reconciled by the next leader",
                    now - began,
                    running or "it",
                )
        seconds = min(plan.save_max, left(plan.release + plan.close))
        _Step("saving state", lambda: self.before_release(seconds)).wait(
            left(plan.release + plan.close),
            "state not saved is rebuilt at the next start (the anomaly detectors read "
            "their points since the last save again from Prometheus)",
        )
        hang_up.wait(
            left(plan.release + plan.close),
            "releasing the lease all the same: for a moment two replicas may both hear Slack",
        )
        # The lease goes only after our own writes have stopped (or were abandoned).
        _Step("releasing the lease", self.gate.stop).wait(
            left(plan.close), "a standby takes over once the lease expires instead"
        )
        _Step("closing connections", self.on_stop).wait(left(), "the rest is left to the exit")
        if self.server is not None:
            self.server.stop()
        took = time.monotonic() - began
        log.info("stopped in %.1f s (the shutdown budget: %g s)", took, plan.budget)
        self.stopped.set()

    def wait(self) -> None:
        self.stopped.wait()


def _stack_below_run_job(frame: FrameType | None) -> str:
    """A job's thread's stack from the job's own function down to where it waits (the
    scheduler's frames above it left out)."""
    if frame is None:
        return "(its thread is gone)"
    stack = traceback.extract_stack(frame)
    ours = [i for i, f in enumerate(stack) if f.filename == __file__ and f.name == "run_job"]
    if ours:
        stack = traceback.StackSummary.from_list(stack[ours[-1] + 1 :])
    return "".join(stack.format()).rstrip("\n")


class _SkipWarnings(logging.Filter):
    """Drops APScheduler's "Execution of job ... skipped: maximum number of running
    instances reached", written at every tick while a run lasts; ``Runtime`` says it
    once per streak instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in str(record.msg)


_SKIP_WARNINGS = _SkipWarnings()


def _soon() -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(seconds=1)


class _Step:
    """One shutdown step, on a thread of its own so that the shutdown can stop waiting
    for it; an exception it raises is logged, and the shutdown goes on."""

    def __init__(self, what: str, fn: Callable[[], object]) -> None:
        self.what = what
        self.began = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, args=(fn,), name=f"autonomic-stop: {what}", daemon=True
        )
        self._thread.start()

    def _run(self, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception:
            log.exception("shutdown: %s failed", self.what)

    def wait(self, seconds: float, consequence: str = "") -> bool:
        """Whether the step ended within ``seconds``; if not, logged as cut short (with
        ``consequence``, when given: the caller says it otherwise)."""
        self._thread.join(seconds)
        if not self._thread.is_alive():
            log.debug("shutdown: %s took %.2f s", self.what, time.monotonic() - self.began)
            return True
        if consequence:
            log.warning(
                "shutdown: %s was cut short after %.1f s: %s",
                self.what,
                time.monotonic() - self.began,
                consequence,
            )
        return False
