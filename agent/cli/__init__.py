"""The ``autonomic`` command line.

Each command lives in its own module under ``agent.cli`` and exposes
``register(subparsers)``; heavy libraries are imported inside the handlers so that
``autonomic --help`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from agent import __version__
from agent.errors import AutonomicError

__all__ = ["main"]

# Order here is the order in ``--help``.
COMMAND_MODULES = (
    "agent.cli.run_cmd",
    "agent.cli.simulate_cmd",
    "agent.cli.config_cmd",
    "agent.cli.forecast_cmd",
    "agent.cli.replay_cmd",
    "agent.cli.detect_cmd",
    "agent.cli.judge_cmd",
    "agent.cli.runbooks_cmd",
    "agent.cli.approvals_cmd",
    "agent.cli.pause_cmd",
    "agent.cli.explain_cmd",
    "agent.cli.why_cmd",
    "agent.cli.history_cmd",
    "agent.cli.alerts_cmd",
    "agent.cli.feedback_cmd",
    "agent.cli.undo_cmd",
    "agent.cli.calibration_cmd",
    "agent.cli.thresholds_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autonomic",
        description="Autonomic: an operations daemon for Kubernetes that forecasts, detects, "
        "judges canaries, runs guarded runbooks, and learns from its on-call.",
    )
    parser.add_argument("--version", action="version", version=f"autonomic {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        code = handler(args)
    except AutonomicError as exc:
        print(f"autonomic: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`| head`): not the user's error nor a bug. Nothing more
        # can reach it; point stdout at nothing so that the exit's flush stays quiet, and
        # exit as a process killed by SIGPIPE would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + 13
    except OSError as exc:
        # A path a command could not read or write (missing folder, a directory where a
        # file was expected, no permission): the user's input, not a bug.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"autonomic: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(
            f"autonomic: error: an input file is not UTF-8 text ({exc.reason} at byte {exc.start})",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("autonomic: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)
