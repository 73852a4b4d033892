"""`autonomic runbooks`: validate runbooks, preview them, write their JSON Schema.

    autonomic runbooks validate [PATH...]    check files/directories (default: runbooks/)
    autonomic runbooks schema [--output FILE]  print or write the JSON Schema for editors
    autonomic runbooks test RUNBOOK... --objects FILE  preview what they would do, offline
                                             (``agent.cli.runbooks_test``)

``validate`` prints every problem as ``file:line: path: message`` and exits 1 when there
is any, so it can gate CI and the daemon's start-up the same way. It reads the files the
daemon reads: kustomize's own ``kustomization.yaml`` is skipped, and named as skipped.
A runbook that loads may have notes (``file:line: note: path: message``: the actions
its undo will not reverse); they are printed, and do not change the exit code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_PATH = "runbooks"


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "runbooks",
        help="validate runbooks, preview what they would do, write their JSON Schema",
        description="validate runbooks, preview what they would do, write their JSON Schema",
    )
    actions = parser.add_subparsers(dest="runbooks_command", metavar="SUBCOMMAND")

    validate = actions.add_parser(
        "validate",
        help="check runbook files; print every error as file:line: path: message",
        description="Check runbook files and directories (recursively, *.yaml and *.yml; "
        "kustomize's kustomization.yaml is skipped, as the daemon skips it). "
        "Exits 1 if any file has a problem; a file with a problem loads no runbook.",
    )
    validate.add_argument(
        "paths", nargs="*", metavar="PATH", help=f"files or directories (default: {DEFAULT_PATH}/)"
    )
    validate.set_defaults(handler=run_validate)

    schema = actions.add_parser(
        "schema",
        help="print or write the runbook JSON Schema (for editors)",
        description="Print the runbook JSON Schema, or write it with --output.",
    )
    schema.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    schema.set_defaults(handler=run_schema)

    from agent.cli import runbooks_test

    runbooks_test.register(actions)

    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def run_validate(args: argparse.Namespace) -> int:
    from remediation.loading import check_paths

    paths = args.paths or [DEFAULT_PATH]
    if not args.paths and not Path(DEFAULT_PATH).exists():
        # Run from another folder than the repository's, the default names nothing there.
        print(
            f"runbooks: no folder {DEFAULT_PATH}/ in {Path.cwd()} (without a PATH, validate "
            f"checks {DEFAULT_PATH}/ in the current folder): name the runbook files or "
            "folders to check, as in autonomic runbooks validate my-runbook.yaml",
            file=sys.stderr,
        )
        return 1
    report = check_paths(paths)
    for skipped in report.skipped:
        print(skipped)  # kustomize's own file, passed over as the daemon passes it over
    for issue in report.issues:
        print(issue)
    for note in report.notes:
        print(note)
    files = len(report.files)
    if report.issues:
        bad = len({issue.file for issue in report.issues})
        count = len(report.issues)
        print(
            f"runbooks: {count} problem{'s' if count != 1 else ''} in {bad} "
            f"file{'s' if bad != 1 else ''}; no runbook from those files would load",
            file=sys.stderr,
        )
        return 1
    names = ", ".join(runbook.name for _, runbook in report.runbooks)
    valid = len(report.runbooks)
    print(
        f"OK: {valid} runbook{'s' if valid != 1 else ''} in {files} "
        f"file{'s' if files != 1 else ''} {'are' if valid != 1 else 'is'} valid ({names})"
    )
    return 0


def run_schema(args: argparse.Namespace) -> int:
    from agent.errors import InputError
    from remediation.loading import render_json_schema, write_json_schema

    if args.output:
        output = Path(args.output)
        if output.is_dir():
            raise InputError(
                f"--output {output}: is a directory; give a file such as "
                f"{output / 'runbook.schema.json'}"
            )
        if not output.parent.is_dir():
            problem = "is not a folder" if output.parent.exists() else "does not exist"
            raise InputError(f"--output {output}: {output.parent} {problem}")
        try:
            path = write_json_schema(output)
        except OSError as exc:
            raise InputError(
                f"--output {output}: cannot write the schema: {exc.strerror or exc}"
            ) from None
        print(f"wrote {path}", file=sys.stderr)
    else:
        sys.stdout.write(render_json_schema())
    return 0
