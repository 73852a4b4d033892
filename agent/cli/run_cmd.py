"""`autonomic run`: the daemon. Observe, decide, act or ask, verify, learn."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily so that `autonomic --help` stays fast
    from agent.runtime import Runtime
    from agent.settings import Settings

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


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
        "cleanly, 1 if any failed or was skipped, with a line naming them",
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
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agent.daemon import build_daemon
    from agent.errors import ConfigError
    from agent.observability import configure_logging, log
    from agent.settings import (
        advisories,
        check_kubeconfig,
        check_runbook_paths,
        check_secrets,
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
    for note in advisories(settings):
        log.warning("configuration: %s", note)
    daemon, runtime = build_daemon(settings, environ, kube_host=args.kube_host)
    log.info("starting in %s mode with %d runbooks", settings.mode, len(daemon.engine.runbooks))
    if args.once:
        return run_once(runtime, settings)
    runtime.install_signal_handlers()
    runtime.start()
    runtime.wait()
    return 0


def run_once(runtime: Runtime, settings: Settings) -> int:
    """Every job once: 0 if each ran cleanly, else 1 with a line on stderr naming those
    that failed or were skipped. With leader election on, the jobs wait (a lease
    duration at most) for this replica to hold the lease: a smoke test whose leader-only
    jobs were all skipped tested nothing."""
    import threading
    import time

    from agent.runtime import run_job

    election = settings.leader_election
    runtime.gate.start()
    try:
        if election.enabled:
            deadline = time.monotonic() + election.lease_duration + election.retry_period
            while not runtime.gate.is_leader() and time.monotonic() < deadline:
                time.sleep(0.05)
        stopping = threading.Event()
        outcomes = {
            job.name: run_job(job, runtime.metrics, runtime.gate, stopping) for job in runtime.jobs
        }
    finally:
        runtime.gate.stop()
        runtime.on_stop()
    print(" ".join(f"{name}={outcome}" for name, outcome in outcomes.items()))
    failed = {name: outcome for name, outcome in outcomes.items() if outcome != "ok"}
    if not failed:
        return 0
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
    print(
        f"autonomic: run --once: {len(failed)} of {len(outcomes)} jobs did not run cleanly: "
        + ", ".join(f"{name} ({outcome})" for name, outcome in failed.items())
        + "".join(f"; {note}" for note in notes),
        file=sys.stderr,
    )
    return 1
