"""What CLI commands that read the ledger share: settings, ledger and clock from flags."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily so that `autonomic --help` stays fast
    from agent.ledger import Ledger
    from agent.settings import Settings


def add_ledger_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="the daemon's config file (for the ledger URL)")
    parser.add_argument("--ledger", help="a ledger URL; overrides the config's ledger.url")


def settings_from(args: argparse.Namespace) -> Settings:
    from agent.settings import load_settings

    return load_settings(getattr(args, "config", None), dict(os.environ))


def ledger_from(args: argparse.Namespace, settings: Settings | None = None) -> Ledger:
    from agent.clock import SystemClock
    from agent.ledger import open_ledger
    from agent.settings import resolve_secret

    settings = settings or settings_from(args)
    url = getattr(args, "ledger", None) or settings.ledger.url
    password = resolve_secret(settings.ledger.password, dict(os.environ))
    return open_ledger(
        url, SystemClock().now(), password=password.get_secret_value() if password else None
    )
