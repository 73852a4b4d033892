"""What CLI commands that read the ledger share: settings, ledger and clock from flags."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from agent.errors import InputError
from agent.ids import distinct_ids, short_id

if TYPE_CHECKING:  # imported lazily so that `autonomic --help` stays fast
    from agent.ledger import DecisionRecord, Ledger
    from agent.settings import Settings


# What a parser reads as a value though it starts with "-": a minus then a digit (or a
# point and a digit), as a negative duration is written: -5, -1.5h, -5m, -.5h.
_NEGATIVE_VALUE = re.compile(r"^-\.?[0-9]")


def take_negative_values(parser: argparse.ArgumentParser) -> None:
    """Make ``parser`` read a value that starts with a minus and a digit as a value, not
    an option: argparse takes only "-5" or "-1.5" so, and read "--for -5m" as --for
    missing its value ("expected one argument"); now -5m reaches the duration's own check
    and is refused in the same words as --for=-5m. Only for a parser with no option that
    starts with a digit."""
    parser._negative_number_matcher = _NEGATIVE_VALUE


def add_ledger_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="the daemon's config file (for the ledger URL)")
    parser.add_argument(
        "--ledger",
        help="a ledger URL (sqlite:///PATH, postgresql://USER@HOST/DB), or the path of a SQLite "
        "ledger file (as `simulate --ledger` writes); overrides the config's ledger.url",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    from agent.settings import load_settings

    return load_settings(getattr(args, "config", None), dict(os.environ))


def ledger_url(args: argparse.Namespace, settings: Settings) -> str:
    """The ledger URL a command uses: ``--ledger``, else the config's ``ledger.url``.
    A ``--ledger`` that is not a URL is a SQLite file's path: ``simulate --ledger FILE``
    prints the path it wrote, and a person pastes it into the next command."""
    given = getattr(args, "ledger", None)
    if given and "://" not in given:
        return f"sqlite:///{Path(given).expanduser().absolute()}"
    return str(given or settings.ledger.url)


def ledger_path(url: str) -> Path | None:
    """The file a SQLite ledger URL names (None for PostgreSQL, in-memory or a URL that
    does not parse): what an output must not be written over."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return Path(database.removeprefix("file:") if parsed.query.get("uri") else database)


def ledger_from(
    args: argparse.Namespace, settings: Settings | None = None, *, create: bool = False
) -> Ledger:
    """The ledger named by ``--ledger`` or the config. By default it must already exist
    (an Autonomic ledger at this release's schema): a command that reads or answers never
    creates, migrates or writes its tables into a mistyped path or another application's
    database. ``create=True`` opens it as the daemon does, creating and migrating."""
    from agent.clock import SystemClock
    from agent.ledger import open_ledger
    from agent.settings import resolve_secret

    settings = settings or settings_from(args)
    url = ledger_url(args, settings)
    password = resolve_secret(settings.ledger.password, dict(os.environ))
    return open_ledger(
        url,
        SystemClock().now(),
        password=password.get_secret_value() if password else None,
        create=create,
    )


def one_decision(ledger: Ledger, prefix: str) -> DecisionRecord:
    """The decision whose id starts with ``prefix``: none, several, or one pruned
    meanwhile is an ``InputError`` saying which."""
    if not prefix.strip():  # an empty shell variable: every id starts with ''
        raise InputError(
            "no decision id given: give one, or its first characters, as `autonomic why "
            "SUBJECT` or `autonomic approvals list --all` shows it"
        )
    found = ledger.find_decisions(prefix)
    if not found:
        raise InputError(_not_a_decision(ledger, prefix))
    if len(found) > 1:
        raise InputError(
            f"{prefix!r} is ambiguous: {', '.join(distinct_ids(found))}; give more of the id"
        )
    record = ledger.get_decision(found[0])
    if record is None:
        raise InputError(f"decision {short_id(found[0])} is gone (pruned)")
    return record


def _not_a_decision(ledger: Ledger, prefix: str) -> str:
    """Why no decision has an id starting with ``prefix``. A question's id (what
    `autonomic approvals list` shows first) is said to be one, naming its decision: "no
    decision id starts with" it left a person thinking the id was mistyped."""
    questions = [
        q for q in ledger.find_questions(prefix) if q.id.lower().startswith(prefix.lower())
    ]
    decisions = sorted({q.decision_id for q in questions})
    if len(decisions) == 1:
        return (
            f"{prefix!r} is a question's id, not a decision's: the question asked about "
            f"decision {short_id(decisions[0])}; give that id"
        )
    if decisions:
        shown = ", ".join(distinct_ids(decisions))
        return (
            f"{prefix!r} starts questions' ids, not a decision's: they asked about decisions "
            f"{shown}; give one of those ids"
        )
    return f"no decision id starts with {prefix!r}"


def refuse_overwriting_inputs(output: Path | None, *inputs: Path | str | None) -> None:
    """Stop before ``output`` would be written over one of ``inputs`` (the same file under
    any name): a forecast or a plot written over its own data or over the ledger loses it."""
    from agent.errors import InputError

    if output is None or not output.exists():
        return
    for given in inputs:
        if given is None:
            continue
        candidate = Path(given)
        if candidate.exists() and os.path.samefile(output, candidate):
            raise InputError(
                f"{output}: is also an input of this command ({given}); "
                "choose another output path, the input would be lost"
            )


# What `--since` takes for "no window": every record the ledger keeps.
SINCE_ALL = "all"
# The longest window a duration may say (the configuration's limit on any duration).
_LONGEST_SINCE_DAYS = 366


def since_seconds(text: str | None) -> float | None:
    """The window ``--since TEXT`` asks for, in seconds, or None for every record
    (``--since all``, or no ``--since`` where a command has no default)."""
    from agent.settings import parse_positive_duration

    if text is None or text.strip().lower() == SINCE_ALL:
        return None
    try:
        return parse_positive_duration(text)
    except ValueError as exc:
        raise InputError(f"--since: {exc} (or --since {SINCE_ALL} for every record)") from None


def utc_text(ts: float) -> str:
    """A moment as every reading command prints it: ``2026-11-25 06:02:10 UTC`` (the one
    shape of :func:`remediation.windows.to_utc_text`, which the daemon's sentences use)."""
    from remediation.windows import to_utc_text

    return to_utc_text(ts)


def older_records(what: str, newest: float | None, now: float) -> str | None:
    """The line for a ``--since`` window with nothing in it while the ledger keeps older
    records (``what`` names them): when the newest was, and the flag that lists it. A
    ledger written by ``simulate`` keeps its trace's clock, often a year or more ago."""
    if newest is None:
        return None
    age = max(now - newest, 0.0)
    days = int(age // 86400) + 1
    longer = f"--since {days}d or " if days <= _LONGEST_SINCE_DAYS else ""
    return (
        f"The newest {what} is older: {utc_text(newest)} ({span(age)} ago); "
        f"{longer}--since {SINCE_ALL} lists it."
    )


def span(seconds: float) -> str:
    """A time since or until, as a person reads it: 45 s, 12 min, 5.5 h, 26 days."""
    seconds = max(seconds, 0.0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 120 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"
