"""`autonomic simulate`: the whole loop on a simulated cluster, replaying a real trace.

With no arguments it runs the embedded default: a week of the NASA HTTP trace on a
small shop with a surge, a bad rollout, a memory leak, a failing node and two canaries,
answered by a scripted on-call. It prints a summary and writes an HTML report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "simulate",
        help="simulate the whole loop on a replayed real trace; write a report",
        description=__doc__,
    )
    parser.add_argument("--scenario", type=Path, help="a scenario YAML (default: the built-in one)")
    parser.add_argument("--days", type=float, help="simulated days (default: the scenario's)")
    parser.add_argument("--seed", type=int, help="random seed (default: the scenario's)")
    parser.add_argument(
        "--report",
        type=Path,
        default=Path("autonomic-report.html"),
        help="the HTML report to write",
    )
    parser.add_argument("--ledger", type=Path, help="keep the ledger in this SQLite file")
    parser.add_argument(
        "--interactive", action="store_true", help="answer the daemon's questions yourself"
    )
    parser.add_argument(
        "--runbooks", type=Path, help="a runbooks folder (default: the shipped ones)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=simulate)


def _progress(quiet: bool) -> Any:
    def show(fraction: float, message: str) -> None:
        if quiet:
            return
        filled = int(fraction * 30)
        bar = "#" * filled + "." * (30 - filled)
        print(f"\r[{bar}] {fraction:4.0%} {message:12}", end="", file=sys.stderr, flush=True)

    return show


def _ask(question_id: str, text: str) -> str | None:
    print(f"\n\nAutonomic asks (question {question_id[:8]}):\n  {text}", file=sys.stderr)
    while True:
        try:
            answer = input("  approve / reject / skip [a/r/s]? ").strip().lower()
        except EOFError:
            return None
        if answer in ("a", "approve"):
            return "approved"
        if answer in ("r", "reject"):
            return "rejected"
        if answer in ("s", "skip", ""):
            return None


def simulate(args: argparse.Namespace) -> int:
    import logging
    import resource

    from agent.errors import InputError
    from agent.observability import configure_logging
    from agent.sim.report import summarise, terminal_summary, write_html
    from agent.sim.run import DEFAULT_RUNBOOKS, Simulation
    from agent.sim.scenario import load_scenario

    if args.days is not None and not 0 < args.days <= 60:
        raise InputError(f"--days must be between 0 and 60, got {args.days}")
    if args.scenario is not None:
        scenario = load_scenario(args.scenario)
    else:
        default = resources.files("agent").joinpath("data/scenarios/default.yaml")
        with resources.as_file(default) as path:
            scenario = load_scenario(path)
    runbooks = args.runbooks or DEFAULT_RUNBOOKS
    if not runbooks.exists():
        raise InputError(f"runbooks folder {runbooks} does not exist (use --runbooks)")
    # The daemon's own log goes to a file: the terminal shows the progress and the summary.
    workdir = Path(tempfile.mkdtemp(prefix="autonomic-sim-"))
    log_path = workdir / "autonomic.log"
    with log_path.open("w") as log_file:
        configure_logging("INFO", log_file)
        logging.getLogger("autonomic").setLevel(logging.INFO)
        ledger = args.ledger or workdir / "ledger.sqlite"
        simulation = Simulation(
            scenario,
            ledger_path=ledger,
            runbooks=runbooks,
            days=args.days,
            seed=args.seed,
            progress=_progress(args.quiet),
            ask_human=_ask if args.interactive else None,
        )
        result = simulation.run()
    if not args.quiet:
        print(file=sys.stderr)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    history = {
        f"{ref.name} {images[0] if images else ''}": a.history
        for (ref, _, images), a in simulation.canary.analyses.items()
        if a.history
    }
    summary = summarise(result)
    print(terminal_summary(result, summary, peak_mb=peak))
    write_html(result, summary, args.report, peak_mb=peak, canary_history=history)
    print(f"\nReport: {args.report.resolve()}\nDaemon log: {log_path}\nLedger: {ledger}")
    return 0
