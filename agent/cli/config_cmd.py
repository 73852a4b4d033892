"""`autonomic config check FILE`: validate a configuration file without starting anything."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from agent.errors import ConfigError


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("config", help="check a configuration file", description=__doc__)
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="validate a config file (and the secrets it names) and print what it means",
    )
    check.add_argument("file", type=Path, help="the YAML config file")
    check.set_defaults(handler=check_config)


def check_config(args: argparse.Namespace) -> int:
    from agent.settings import load_settings, resolve_secret

    environ = dict(os.environ)
    settings = load_settings(args.file, environ)
    problems: list[str] = []
    secrets = {
        "slack.botToken": settings.slack.bot_token,
        "slack.appToken": settings.slack.app_token,
        "slack.signingSecret": settings.slack.signing_secret,
        "ledger.password": settings.ledger.password,
        "alertmanager.token": settings.alertmanager.token,
        "prometheus.bearerToken": settings.prometheus.bearer_token,
    }
    resolved = []
    for name, ref in secrets.items():
        if ref is None:
            continue
        try:
            resolve_secret(ref, environ)
        except ConfigError as exc:
            problems.append(f"{args.file}: {name}: {exc}")
        else:
            where = f"file {ref.file}" if ref.file is not None else f"${ref.env}"
            resolved.append(f"{name} from {where} (readable; value not shown)")
    for path in settings.runbooks:
        if not path.exists():
            problems.append(f"{args.file}: runbooks: {path} does not exist")
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    acts = {
        "observe": "observes and reports only",
        "propose": "proposes; acts only on approval",
        "act": "acts within guards",
    }
    print(f"{args.file}: OK")
    print(f"  mode: {settings.mode} ({acts[settings.mode]})")
    print(f"  prometheus: {settings.prometheus.url}")
    print(f"  ledger: {settings.ledger.url.split('://', 1)[0]}")
    print(f"  slack: {'on, ' + settings.slack.receive if settings.slack.enabled else 'off'}")
    print(f"  alertmanager webhook: {'on' if settings.alertmanager.enabled else 'off'}")
    print(f"  anomaly queries: {len(settings.anomaly_queries)}")
    for line in resolved:
        print(f"  secret {line}")
    return 0
