"""`autonomic run`: the daemon. Observe, decide, act or ask, verify, learn."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "run",
        help="run the daemon: observe, decide, act or ask, verify, learn",
        description=__doc__,
    )
    parser.add_argument("--config", type=Path, help="the YAML config file (default: defaults)")
    parser.add_argument(
        "--once", action="store_true", help="run every loop once, then exit (for smoke tests)"
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument("--kube-host", help=argparse.SUPPRESS)  # tests: an explicit API server
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agent.daemon import build_daemon
    from agent.observability import configure_logging, log
    from agent.runtime import run_job
    from agent.settings import advisories, load_settings

    configure_logging(args.log_level.upper(), sys.stderr)
    environ = dict(os.environ)
    settings = load_settings(args.config, environ)
    for note in advisories(settings):
        log.warning("configuration: %s", note)
    daemon, runtime = build_daemon(settings, environ, kube_host=args.kube_host)
    log.info("starting in %s mode with %d runbooks", settings.mode, len(daemon.engine.runbooks))
    if args.once:
        import threading

        runtime.gate.start()
        stopping = threading.Event()
        outcomes = {
            job.name: run_job(job, runtime.metrics, runtime.gate, stopping) for job in runtime.jobs
        }
        runtime.gate.stop()
        runtime.on_stop()
        print(" ".join(f"{name}={outcome}" for name, outcome in outcomes.items()))
        return 0 if all(o in ("ok", "not-leader") for o in outcomes.values()) else 1
    runtime.install_signal_handlers()
    runtime.start()
    runtime.wait()
    return 0
