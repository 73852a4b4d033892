"""`autonomic config check FILE`: validate a configuration file without starting anything."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.errors import ConfigError

if TYPE_CHECKING:
    from remediation.schema import Runbook


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("config", help="check a configuration file", description=__doc__)
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="validate a config file (and the secrets it names) and print what it means",
        description="Validate a config file as `autonomic run` would read it: its keys and "
        "values, the environment overrides, the secrets and kubeconfig it names, and the "
        "runbooks it loads. Exit status: 0 when it is valid (warnings, such as Slack "
        "without an on-call group, a secret file whose folder is not on this machine (one "
        "the pod mounts) or a secret environment variable not set here (one the pod "
        "sets), or Kubernetes credentials the file does not name "
        "($KUBECONFIG, ~/.kube/config, the in-cluster service account) missing here, are "
        "printed and do not fail it); 2 when anything is wrong, each problem on a line as "
        "FILE:LINE: field: message.",
    )
    check.add_argument("file", type=Path, help="the YAML config file")
    check.add_argument(
        "--runbooks",
        type=Path,
        action="append",
        metavar="PATH",
        help="check these runbook folders or files instead of the config's `runbooks` "
        "(which name paths in the pod: for the shipped manifests, "
        "--runbooks runbooks from the repository root); repeatable",
    )
    check.set_defaults(handler=check_config)


def check_config(args: argparse.Namespace) -> int:
    """Every problem is one ``FILE:LINE: field: message`` line (``environment NAME``
    instead of ``FILE:LINE`` for an override), as ``load_settings`` writes its own."""
    from agent.settings import (
        advisories,
        check_kubeconfig,
        check_runbook_paths,
        check_secrets,
        default_credentials_problem,
        load_settings_with_source,
        redact_url_passwords,
    )

    environ = dict(os.environ)
    settings, source = load_settings_with_source(args.file, environ)
    problems = check_kubeconfig(settings, source)
    secret_problems, resolved, secret_warnings = check_secrets(
        settings, source, environ, elsewhere=True
    )
    problems += secret_problems
    if args.runbooks:
        for path in args.runbooks:
            if not path.exists():
                problems.append(f"--runbooks: {path} does not exist")
        runbook_paths = tuple(args.runbooks)
    else:
        problems += check_runbook_paths(settings, source)
        runbook_paths = settings.runbooks
    loaded = 0
    runbooks: list[Runbook] = []
    sources: list[tuple[str, Runbook]] = []
    skipped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    if not problems:
        # The daemon refuses to start on a bad runbook: so does the check.
        from remediation.loading import check_paths

        report = check_paths(list(runbook_paths))
        problems += [str(issue) for issue in report.issues]
        loaded = len(report.runbooks)
        runbooks = [runbook for _, runbook in report.runbooks]
        sources = list(report.runbooks)
        skipped = tuple(str(note) for note in report.skipped)
        notes = tuple(str(note) for note in report.notes)
    if problems:
        message = "invalid configuration:\n  " + "\n  ".join(problems)
        raise ConfigError(redact_url_passwords(message))
    acts = {
        "observe": "observes and reports only",
        "propose": "proposes; acts only on approval",
        "act": "acts within guards",
    }
    print(f"{args.file}: OK")
    print(f"  mode: {settings.mode} ({acts[settings.mode]})")
    print(f"  prometheus: {redact_url_passwords(settings.prometheus.url, whole=True)}")
    print(f"  ledger: {settings.ledger.url.split('://', 1)[0]}")
    print(f"  slack: {'on, ' + settings.slack.receive if settings.slack.enabled else 'off'}")
    print(f"  alertmanager webhook: {'on' if settings.alertmanager.enabled else 'off'}")
    print(f"  anomaly queries: {len(settings.anomaly_queries)}")
    if runbook_paths:
        print(f"  runbooks: {loaded} valid in {', '.join(str(p) for p in runbook_paths)}")
    else:
        print("  runbooks: none (runbooks: [] names no folder or file: no runbook will run)")
    for note in (*skipped, *notes):
        print(f"  runbooks: {note}")
    for line in resolved:
        print(f"  secret {line}")
    for note in secret_warnings:
        print(f"  warning: {note}")
    for note in advisories(settings):
        print(f"  warning: {note}")
    from agent.runbook_fit import runbook_fit

    for note in runbook_fit(settings, sources):
        print(f"  warning: {note}")
    missing = default_credentials_problem(settings, environ)
    if missing is not None:
        # A warning, not an error: the check is often run away from where the daemon runs
        # (the manifests' config, in a pod, is checked from a checkout); `run` here stops.
        print(
            f"  warning: Kubernetes credentials cannot be loaded here: {missing}. "
            "`autonomic run` with this file stops on this here (not where they are "
            "present, such as in the daemon's pod)"
        )
    if settings.slack.enabled:
        from agent.approvals import ApproverRule, unanswerable

        rule = ApproverRule(settings.slack.approvers, settings.slack.approvers_by_namespace)
        named = {rb.name: tuple(rb.spec.approvers) for rb in runbooks if rb.spec.approvers}
        for note in unanswerable(rule, named):
            print(f"  warning: slack approvers: {note}")
    return 0
