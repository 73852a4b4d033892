"""The daemon runtime behind ``autonomic run``: jobs on APScheduler, probes, shutdown.

The loops themselves live in ``agent.daemon.Daemon`` and are plain methods; this
module only schedules them (APScheduler 3.x, each job ``max_instances=1``, coalesced,
with jitter), gates the ones that act on holding the lease, serves ``/healthz``,
``/readyz`` and ``/metrics``, and shuts down gracefully on SIGTERM: stop taking new
work, let the running step finish (or abandon it safely after a grace period),
release the lease, close the ledger.

``simulate`` drives the same ``Daemon`` methods from a fake clock instead.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from agent.errors import PermanentError, TransientError
from agent.observability import Metrics
from agent.server import HttpServer, Request, Response, json_response

__all__ = ["Job", "LeaderGate", "Runtime", "run_job"]

log = logging.getLogger("autonomic.runtime")


@dataclass(frozen=True)
class Job:
    name: str
    period: float
    fn: Callable[[], None]
    leader_only: bool = True
    jitter: float = 0.1  # fraction of the period


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


def run_job(job: Job, metrics: Metrics, gate: LeaderGate, stopping: threading.Event) -> str:
    """Run one job once, with its guards. Returns what happened (for logs and tests)."""
    if stopping.is_set():
        return "stopping"
    if job.leader_only and not gate.is_leader():
        return "not-leader"
    with metrics.time_loop(job.name):
        try:
            job.fn()
        except TransientError as exc:
            metrics.errors.labels(kind=exc.reason).inc()
            log.warning("%s: %s (will retry next period)", job.name, exc, extra={"loop": job.name})
            return "transient-error"
        except PermanentError as exc:
            metrics.errors.labels(kind=exc.reason).inc()
            log.error("%s: %s", job.name, exc, extra={"loop": job.name})
            return "permanent-error"
        except Exception:  # a bug in one loop must not take the daemon down
            metrics.errors.labels(kind="Unexpected").inc()
            log.exception("%s failed unexpectedly", job.name, extra={"loop": job.name})
            return "error"
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
        before_release: Callable[[], None] = lambda: None,
        grace_seconds: float = 20.0,
    ) -> None:
        self.jobs = jobs
        self.metrics = metrics
        self.gate = gate
        self.server = server
        self.ready = ready
        self.on_stop = on_stop
        # What must happen while this replica still holds the lease (saving the anomaly
        # state, hanging up Slack Socket Mode): called on shutdown after the jobs have
        # stopped (or the grace period ran out), before the lease is released.
        self.before_release = before_release
        self.grace_seconds = grace_seconds
        self.stopping = threading.Event()
        self.stopped = threading.Event()
        self._scheduler: Any = None
        if server is not None:
            server.route("GET", "/healthz", self._healthz)
            server.route("GET", "/readyz", self._readyz)
            server.route("GET", "/metrics", self._metrics)

    # ---------------------------------------------------------------- probes
    def _healthz(self, _request: Request) -> Response:
        if self.stopped.is_set():
            return json_response(503, {"status": "stopped"})
        return json_response(200, {"status": "ok"})

    def _readiness(self) -> tuple[bool, str]:
        """Ready or not, and why; ``autonomic_ready`` follows."""
        if self.stopping.is_set():
            ok, why = False, "shutting down"
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
        from apscheduler.schedulers.background import BackgroundScheduler

        if self.server is not None:
            self.server.start()
        self.gate.start()
        scheduler = BackgroundScheduler(
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 30},
            timezone="UTC",
        )
        for job in self.jobs:
            scheduler.add_job(
                run_job,
                "interval",
                seconds=job.period,
                jitter=max(int(job.period * job.jitter), 0) or None,
                args=(job, self.metrics, self.gate, self.stopping),
                id=job.name,
                name=job.name,
                next_run_time=None if job.period > 3600 else _soon(),
            )
        scheduler.start()
        self._scheduler = scheduler
        log.info("started %d jobs: %s", len(self.jobs), ", ".join(j.name for j in self.jobs))

    def install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s: shutting down", signal.Signals(signum).name)
            threading.Thread(target=self.stop, name="autonomic-stop", daemon=True).start()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def stop(self) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()  # readiness fails at once; jobs that start now return at once
        scheduler = self._scheduler
        if scheduler is not None:
            scheduler.pause()
            deadline = time.monotonic() + self.grace_seconds
            waiter = threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True)
            waiter.start()
            waiter.join(max(deadline - time.monotonic(), 0))
            if waiter.is_alive():
                log.warning(
                    "a job was still running after %.0f s: abandoning it; its intent will be "
                    "reconciled by the next leader",
                    self.grace_seconds,
                )
        try:
            self.before_release()
        except Exception:  # the lease must be released all the same
            log.exception("shutdown: a step before releasing the lease failed")
        self.gate.stop()  # release the lease only after our own writes have stopped
        try:
            self.on_stop()
        finally:
            if self.server is not None:
                self.server.stop()
            self.stopped.set()
            log.info("stopped")

    def wait(self) -> None:
        self.stopped.wait()


def _soon() -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(seconds=1)
