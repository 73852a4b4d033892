"""`autonomic run`: the daemon. Observe, decide, act or ask, verify, learn."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from agent.cli._numbers import number_arg

if TYPE_CHECKING:  # imported lazily so that `autonomic --help` stays fast
    from collections.abc import Callable

    from agent.read_watch import ReadTally, WatchedReader
    from agent.runtime import Runtime
    from agent.settings import Settings

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# `run --once`: every job ran cleanly, but a request to Prometheus failed.
EXIT_PROMETHEUS = 3
# `run --once`: the ledger's database could not be reached (for now), so no job ran.
EXIT_LEDGER = 4
# What `run --once` asks Prometheus when no job did (no anomaly queries, no opted-in
# workloads): the smoke test checks the URL and credentials all the same.
PROBE_QUERY = "vector(1)"


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "run",
        help="run the daemon: observe, decide, act or ask, verify, learn",
        description=__doc__,
    )
    parser.add_argument("--config", type=Path, help="the YAML config file (default: defaults)")
    parser.add_argument(
        "--once",
        action="store_true",
        help="run every loop once, then exit (a smoke test): exit 0 if every job ran "
        "cleanly and Prometheus answered, 1 if any job failed or was skipped, 3 if every "
        "job ran but a request to Prometheus failed, 4 if the ledger's database could not "
        "be reached (no job ran), with a line saying which; 2, as without --once, if the "
        "configuration or the ledger's URL cannot work (a refused password, no such "
        "database)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=LOG_LEVELS,
        metavar="LEVEL",
        help=f"{', '.join(LOG_LEVELS)} (any case; default INFO)",
    )
    parser.add_argument(
        "--log-format",
        default="json",
        choices=("json", "text"),
        help="json: one object per line, for a log collector (default); text: a line "
        "per entry for a person at a terminal",
    )
    parser.add_argument("--kube-host", help=argparse.SUPPRESS)  # tests: an explicit API server
    # tests: a short shutdown budget, its steps' shares scaled to it
    parser.add_argument("--shutdown-budget", type=number_arg, help=argparse.SUPPRESS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agent.daemon import build_daemon
    from agent.errors import AutonomicError, ConfigError
    from agent.observability import configure_logging, log
    from agent.settings import (
        advisories,
        check_kubeconfig,
        check_runbook_paths,
        check_secrets,
        default_credentials_problem,
        load_settings_with_source,
        redact_url_passwords,
    )

    configure_logging(args.log_level, sys.stderr, args.log_format)
    environ = dict(os.environ)
    settings, source = load_settings_with_source(args.config, environ)
    # What `config check` reports stops start-up the same way, with its file and line,
    # before the ledger is opened (or created) and before anything is connected: a
    # kubeconfig that is missing or not one, a secret that cannot be read or is empty,
    # a runbook path that does not exist.
    problems = [] if args.kube_host is not None else check_kubeconfig(settings, source)
    problems += check_secrets(settings, source, environ)[0]
    problems += check_runbook_paths(settings, source)
    if problems:
        message = "invalid configuration:\n  " + "\n  ".join(problems)
        raise ConfigError(redact_url_passwords(message))
    # So do credentials the file does not name but the daemon would load (the in-cluster
    # service account, $KUBECONFIG or ~/.kube/config) when they are not here: `config
    # check` warns of these (it is often run away from where the daemon runs).
    missing = None if args.kube_host is not None else default_credentials_problem(settings, environ)
    if missing is not None:
        raise ConfigError(f"cannot load Kubernetes credentials: {missing}")
    for note in advisories(settings):
        log.warning("configuration: %s", note)
    daemon, runtime = build_daemon(settings, environ, kube_host=args.kube_host)
    log.info("starting in %s mode with %d runbooks", settings.mode, len(daemon.engine.runbooks))
    connector = daemon.ledger_connector
    if args.once:
        # SQLite was opened above; a PostgreSQL ledger is tried once, here.
        ledger = connector.try_once if connector is not None else lambda: None
        return run_once(runtime, settings, daemon.reads, ledger)
    if args.shutdown_budget is not None:
        runtime.plan = runtime.plan.scaled(args.shutdown_budget)
    runtime.install_signal_handlers()
    runtime.start()
    runtime.wait()
    # Stopped by itself: at start-up, a ledger URL retrying cannot fix (2); later, a job
    # that acts stuck while this replica led (1: restarted, as by the liveness probe).
    if runtime.failure is not None:
        print(f"autonomic: error: {runtime.failure}", file=sys.stderr)
        _exit(2 if isinstance(runtime.failure, AutonomicError) else 1)
    _exit(0)


def _exit(code: int) -> NoReturn:
    """End the process as soon as the runtime has stopped (its log's last line,
    "stopped in ...", is then true). Returning would hand over to the interpreter's
    exit, which first joins every worker thread of the scheduler, so a job abandoned
    past its share of the shutdown budget would keep the process alive until it ended
    (or until Kubernetes' SIGKILL), and then tears down every module (0.6 s measured)."""
    import contextlib
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def run_once(
    runtime: Runtime,
    settings: Settings,
    reads: WatchedReader | None = None,
    ledger: Callable[[], str | None] | None = None,
) -> int:
    """Every job once: 0 if each ran cleanly, else 1 with a line on stderr naming those
    that failed or were skipped. With leader election on, the jobs wait (a lease
    duration at most) for this replica to hold the lease: a smoke test whose leader-only
    jobs were all skipped tested nothing.

    With ``ledger`` (one attempt to connect it: None, or why it failed), the ledger is
    part of the test: ``ledger=ok`` or ``ledger=failed``. Failed, no job runs (each is
    ``no-ledger``; the lease is not sought) and the exit code is 4, with a line saying
    why; an error retrying cannot fix (a wrong password, no such database) is raised.

    With ``reads`` (the reader the loops were given), Prometheus is part of the test:
    the loops carry on when a read fails (scaling holds, an anomaly query goes
    degraded), so a job can be ``ok`` with Prometheus unreachable. The output says
    ``prometheus=ok`` or ``prometheus=failed``; a failed request makes the exit code 3
    when every job ran (1 stays 1), with a line saying how many failed, why, and the
    last error. If no job read Prometheus, it is asked ``vector(1)`` once. Prometheus's
    clock is read too (when no job did): more than 30 s off this node's, a line on
    stderr says by how much; the exit code stays (the reads take their ages on
    Prometheus's clock)."""
    import threading
    import time

    from agent.errors import PermanentError, TransientError
    from agent.observability import log
    from agent.runtime import run_job

    election = settings.leader_election
    try:
        unreachable = ledger() if ledger is not None else None
        if unreachable is not None:
            outcomes = {job.name: "no-ledger" for job in runtime.jobs}
        else:
            runtime.gate.start()
            if election.enabled:
                deadline = time.monotonic() + election.lease_duration + election.retry_period
                while not runtime.gate.is_leader() and time.monotonic() < deadline:
                    time.sleep(0.05)
            stopping = threading.Event()
            outcomes = {
                job.name: run_job(job, runtime.metrics, runtime.gate, stopping)
                for job in runtime.jobs
            }
        if reads is not None and reads.tally().requests == 0:
            try:
                reads.instant(PROBE_QUERY, time.time())
            except (TransientError, PermanentError) as exc:  # counted by ``reads``
                log.warning("run --once: Prometheus: %s", exc)
        if reads is not None and reads.clock_offset() is None:
            reads.newest_sample()  # reads Prometheus's clock too, when Prometheus answers
    finally:
        runtime.gate.stop()
        runtime.on_stop()
    tally = reads.tally() if reads is not None else None
    shown = dict(outcomes)
    if tally is not None:
        shown["prometheus"] = "failed" if tally.failures else "ok"
    if ledger is not None:
        shown["ledger"] = "failed" if unreachable is not None else "ok"
    print(" ".join(f"{name}={outcome}" for name, outcome in shown.items()))
    offset = reads.clock_offset() if reads is not None else None
    if offset is not None:
        from agent.adapters.prometheus import OFFSET_WARN

        if abs(offset) > OFFSET_WARN:
            print(f"autonomic: run --once: {_clocks_apart(offset)}", file=sys.stderr)
    unread = _unread(tally) if tally is not None and tally.failures else None
    if unreachable is not None:
        print(
            f"autonomic: run --once: no job ran: the ledger could not be reached: {unreachable}; "
            "is ledger.url right, and the database up and reachable from here?"
            + (f"; {unread}" if unread is not None else ""),
            file=sys.stderr,
        )
        return EXIT_LEDGER
    failed = {name: outcome for name, outcome in outcomes.items() if outcome != "ok"}
    if not failed:
        if unread is None:
            return 0
        print(f"autonomic: run --once: every job ran, but {unread}", file=sys.stderr)
        return EXIT_PROMETHEUS
    notes = []
    if "not-leader" in failed.values():
        wait = election.lease_duration + election.retry_period
        notes.append(
            f"not-leader: this replica did not get the lease {election.namespace}/"
            f"{election.lease_name} within {wait:g} s (another replica holds it, or the "
            "API server cannot be reached)"
        )
    if any(outcome.endswith("error") for outcome in failed.values()):
        notes.append("the errors are in the log above")
    if unread is not None:
        notes.append(unread)
    print(
        f"autonomic: run --once: {len(failed)} of {len(outcomes)} jobs did not run cleanly: "
        + ", ".join(f"{name} ({outcome})" for name, outcome in failed.items())
        + "".join(f"; {note}" for note in notes),
        file=sys.stderr,
    )
    return 1


def _clocks_apart(offset: float) -> str:
    """What ``run --once`` says of Prometheus's clock ``offset`` seconds off this one's
    (past the reader's ``OFFSET_WARN``): not a failure (ages are taken on Prometheus's clock), but a
    node that does not keep time."""
    from remediation.durations import format_duration

    return (
        f"Prometheus's clock is {format_duration(abs(offset))} "
        f"{'ahead of' if offset > 0 else 'behind'} this node's: one of the two does not keep "
        "time (check NTP); sample ages are taken on Prometheus's clock, but the ledger's "
        "and the log's times are this node's"
    )


def _unread(tally: ReadTally) -> str:
    """What ``run --once`` says of Prometheus when a request to it failed."""
    reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(tally.failed.items()))
    hints = []
    if {"PrometheusDown", "PrometheusTimeout"} & tally.failed.keys():
        hints.append("is prometheus.url right, and Prometheus reachable from here?")
    if {"PrometheusHTTP401", "PrometheusHTTP403"} & tally.failed.keys():
        hints.append("check prometheus.bearerToken")
    return (
        f"Prometheus could not be read: {tally.failures} of {tally.requests} requests "
        f"failed ({reasons}); the last: {tally.last_error}" + "".join(f"; {hint}" for hint in hints)
    )
