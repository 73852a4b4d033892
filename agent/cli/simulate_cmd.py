"""`autonomic simulate`: the whole loop on a simulated cluster, replaying a real trace.

With no arguments it runs the embedded default: a week of the NASA HTTP trace on a
small shop with a surge, a bad rollout, a memory leak, a failing node and two canaries,
answered by a scripted on-call. It prints a summary and writes an HTML report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.cli._numbers import number_arg, whole_arg
from agent.ids import short_id

if TYPE_CHECKING:
    from agent.sim.scenario import Scenario


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "simulate",
        help="simulate the whole loop on a replayed real trace; write a report",
        description=__doc__,
    )
    parser.add_argument("--scenario", type=Path, help="a scenario YAML (default: the built-in one)")
    parser.add_argument("--days", type=number_arg, help="simulated days (default: the scenario's)")
    parser.add_argument("--seed", type=whole_arg, help="random seed (default: the scenario's)")
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
    parser.add_argument(
        "--config",
        type=Path,
        help="a daemon config whose Slack section is used: questions go to Slack and the "
        "simulation waits for the answers (its server section receives them; nothing "
        "else of it is used: with Slack off there, a note says so and the scripted "
        "on-call answers)",
    )
    parser.set_defaults(handler=simulate)


def _check_runbooks(runbooks: Path) -> None:
    """Every runbook loads, or an ``InputError`` listing each problem (file:line: field)."""
    from agent.errors import InputError
    from remediation.loading import RunbookLoadError, load_paths

    try:
        load_paths([runbooks])
    except RunbookLoadError as exc:
        raise InputError(f"invalid runbooks in {runbooks}:\n{exc}") from None


def _progress(quiet: bool) -> Any:
    """The progress bar, redrawn in place at a terminal. Where stderr is a file or a pipe
    (a CI log, `2> log`), a redrawn bar would be hundreds of bars run together on one
    line: there it is a plain line at each tenth of the run instead."""
    terminal = sys.stderr.isatty()
    shown = [-1]

    def show(fraction: float, message: str) -> None:
        if quiet:
            return
        if not terminal:
            tenth = int(fraction * 10 + 1e-9)
            if tenth > shown[0]:
                shown[0] = tenth
                print(f"simulated {fraction:4.0%} ({message})", file=sys.stderr, flush=True)
            return
        filled = int(fraction * 30)
        bar = "#" * filled + "." * (30 - filled)
        print(f"\r[{bar}] {fraction:4.0%} {message:12}", end="", file=sys.stderr, flush=True)

    return show


class _Asker:
    """Asks each question at the terminal; once standard input has ended (answers piped
    from a file, or Ctrl-D), the rest are left unanswered, as a skip is, and said in
    one line rather than printed in full."""

    def __init__(self) -> None:
        self.ended = False

    def __call__(self, question_id: str, text: str) -> str | None:
        if self.ended:
            return None
        print(f"\n\nAutonomic asks (question {short_id(question_id)}):\n  {text}", file=sys.stderr)
        try:
            return _answer()
        except EOFError:
            self.ended = True
            print(
                "\n  (end of input: this question and every later one go unanswered and expire)",
                file=sys.stderr,
            )
            return None


def _answer() -> str | None:
    """The answer typed (EOFError once the input has ended). The prompt goes to stderr with
    the question: `input(prompt)` writes it to stdout, where, with the answers piped in and
    the output kept, it ran into the summary's first line."""
    while True:
        print("  approve / reject / skip [a/r/s]? ", end="", file=sys.stderr, flush=True)
        answer = input().strip().lower()
        if answer in ("a", "approve"):
            return "approved"
        if answer in ("r", "reject"):
            return "rejected"
        if answer in ("s", "skip", ""):
            return None


def _chat(args: argparse.Namespace) -> tuple[Any, float, Any]:
    """With ``--config`` and Slack enabled there: (approvals factory, seconds to wait for a
    person, a function that starts the receiver and returns one that stops it)."""
    import os
    import time

    from agent.settings import load_settings

    def nothing() -> Any:
        return lambda: None

    if args.config is None:
        return None, 0.0, nothing
    environ = dict(os.environ)
    settings = load_settings(args.config, environ)
    if not settings.slack.enabled:
        # Said, not passed over in silence: only the config's Slack (and, for Slack's
        # answers, server) settings are used, so a config with Slack off (the shipped
        # ones) changes nothing in the run.
        print(
            f"autonomic: note: --config {args.config}: Slack is off there (slack.enabled), "
            "so the scenario's scripted on-call answers the questions; simulate uses only "
            "a config's slack section (and server, to receive Slack's answers)",
            file=sys.stderr,
        )
        return None, 0.0, nothing
    from agent.adapters.slack import MAX_BODY_BYTES, build_approvals
    from agent.server import HttpServer, Request, Response

    receivers: list[Any] = []

    def factory(ledger: Any, clock: Any) -> Any:
        approvals, receiver = build_approvals(settings.slack, environ, ledger, clock=clock.now)
        receivers.append(receiver)
        return approvals

    def start() -> Any:
        receiver = receivers[0]
        if settings.slack.receive == "socket":
            receiver.start_socket_mode()

            def hang_up() -> None:
                receiver.stop_socket_mode()
                receiver.close()  # the clicks acknowledged and not yet recorded

            return hang_up
        server = HttpServer(
            settings.server.host,
            settings.server.port,
            max_connections=settings.server.max_connections,
        )

        def interaction(request: Request) -> Response:
            # Slack signs with the wall clock; the simulation's clock runs ahead of it.
            status, body = receiver.handle_interaction(request.body, request.headers, time.time())
            return Response(status, body, "application/json")

        def signed(headers: Mapping[str, str]) -> Response | None:
            refused = receiver.check_headers(headers, time.time())
            return None if refused is None else Response(refused[0], refused[1])

        server.route(
            "POST",
            "/slack/interactions",
            interaction,
            max_body_bytes=MAX_BODY_BYTES,
            check_headers=signed,
        )
        server.start()
        print(
            f"Questions go to Slack {settings.slack.channel}; answers are received on "
            f"port {server.port} (/slack/interactions). The simulation waits up to "
            f"{settings.slack.question_ttl:.0f} s for each.",
            file=sys.stderr,
        )

        def stop() -> None:
            server.stop()
            receiver.close()  # the clicks acknowledged and not yet recorded

        return stop

    return factory, settings.slack.question_ttl, start


def simulate(args: argparse.Namespace) -> int:
    import logging
    import resource
    import time

    from agent.cli._context import refuse_overwriting_inputs
    from agent.cli._outputs import check_output_file
    from agent.errors import InputError
    from agent.observability import configure_logging
    from agent.sim.report import summarise, terminal_summary, write_html
    from agent.sim.run import DEFAULT_RUNBOOKS, EPOCH, Simulation
    from agent.sim.scenario import load_scenario

    if args.days is not None and not 0 < args.days <= 60:
        raise InputError(f"--days must be more than 0 and at most 60, got {args.days:g}")
    # The report is written after the run and the ledger opened at its start: a path that
    # cannot be written stops here, not after minutes of simulation with the report lost.
    check_output_file(args.report, "--report", "autonomic-report.html")
    if args.ledger is not None:
        check_output_file(args.ledger, "--ledger", "ledger.sqlite")
    refuse_overwriting_inputs(args.report, args.scenario, args.ledger, args.config)
    if args.scenario is not None:
        scenario = load_scenario(args.scenario)
    else:
        default = resources.files("agent").joinpath("data/scenarios/default.yaml")
        with resources.as_file(default) as path:
            scenario = load_scenario(path)
    runbooks = args.runbooks or DEFAULT_RUNBOOKS
    if not runbooks.exists():
        raise InputError(f"runbooks folder {runbooks} does not exist (use --runbooks)")
    _check_runbooks(runbooks)
    factory, wait, start_chat = _chat(args)
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
            ask_human=_Asker() if args.interactive else None,
            approvals_factory=factory,
            wait_for_people=wait,
            # With people answering, simulated time starts at the wall clock (and runs ahead
            # of it), so Slack's signed timestamps and the questions' expiries agree.
            start=float(int(time.time())) if factory is not None else EPOCH,
        )
        for note in simulation.notes:  # before the run: what to expect of it
            text = textwrap.fill(f"Note: {note}", width=96, subsequent_indent="  ")
            print(text + "\n", flush=True)
        stop_chat = start_chat()
        try:
            result = simulation.run()
        finally:
            stop_chat()
    if not args.quiet and sys.stderr.isatty():
        print(file=sys.stderr)  # ends the bar's line
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    history = {
        f"{ref.name} {images[0] if images else ''}": a.history
        for (ref, _, images, _), a in simulation.canary.analyses.items()
        if a.history
    }
    summary = summarise(result)
    print(terminal_summary(result, summary, peak_mb=peak))
    report = args.report
    try:
        write_html(result, summary, report, peak_mb=peak, canary_history=history)
    except OSError as exc:
        # Checked before the run, yet it failed (a full disk, a folder removed meanwhile):
        # the simulation is not lost, its report goes next to the daemon's log.
        report = workdir / "autonomic-report.html"
        write_html(result, summary, report, peak_mb=peak, canary_history=history)
        print(
            f"autonomic: error: --report {args.report}: {exc.strerror or exc}; the report "
            f"was written to {report} instead",
            file=sys.stderr,
        )
        print(f"\nReport: {report}\nDaemon log: {log_path}\nLedger: {ledger}")
        print(_next_steps(ledger, scenario))
        return 2
    print(f"\nReport: {report.resolve()}\nDaemon log: {log_path}\nLedger: {ledger}")
    print(_next_steps(ledger, scenario))
    return 0


def _next_steps(ledger: Path, scenario: Scenario) -> str:
    """How to read the ledger the summary names: its decisions are listed above without
    their ids, which `explain` needs. The example SUBJECT is the scenario's first workload,
    so it names something this run had (it was always shop/cart, which a scenario of its
    own, such as docs/examples/known-event.yaml, need not have)."""
    first = scenario.spec.workloads[0]
    name = f"{first.namespace}/{first.name}"
    return (
        f"Next: autonomic history --since all --ledger {ledger}\n"
        "        every decision, newest first, with its id (the ledger keeps the trace's\n"
        "        clock: a window counted back from now finds nothing in it)\n"
        f"      autonomic why SUBJECT --ledger {ledger}\n"
        "        what runbooks held back from, and what was decided, about one object\n"
        f"        (SUBJECT: Deployment/{name}, {name}), with each decision's id\n"
        "        (the report lists them too)\n"
        f"      autonomic explain ID --ledger {ledger}\n"
        "        the story of one decision, from signal to outcome"
    )
