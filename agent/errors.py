"""Autonomic's error families.

    AutonomicError
    ├── ConfigError          bad configuration or input file: stop, tell a person what to fix
    ├── InputError           a user-supplied file (CSV, scenario, spec) is malformed
    ├── TransientError       try again later (``delay`` seconds): timeouts, 429, 5xx, outages
    └── PermanentError       retrying will not help: 403, 404, a query Prometheus rejects

Adapters translate library exceptions into these, chained with ``raise ... from``.
"""

from __future__ import annotations

import re

__all__ = [
    "LEDGER_CONFLICT",
    "LEDGER_UNAVAILABLE",
    "AutonomicError",
    "ConfigError",
    "InputError",
    "PermanentError",
    "TransientError",
    "redact_url_passwords",
]

# ``scheme://user:PASSWORD@``: the password runs to the last "@" of the word, as a
# password with an unescaped "/" or "@" in it would otherwise show in part.
_URL_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*):\S*@")
# The same in a string that is one URL: there the password may even hold a space.
_WHOLE_URL_USERINFO = re.compile(r"(?P<head>^\s*[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*):.*@", re.S)
# ``?password=PASSWORD`` (libpq reads it from the query too), up to the next parameter,
# space or end of the word, leaving a closing quote or bracket around the URL in place.
_URL_QUERY_SECRET = re.compile(
    r"(?P<head>[?&](?:password|passwd|pwd)=)[^&\s#]*?(?=['\"]?(?:[&\s#,)]|$))",
    re.IGNORECASE,
)


def redact_url_passwords(text: str, *, whole: bool = False) -> str:
    """``text`` with every password written inside a URL replaced by ``***``.

    ``postgresql+psycopg://u:pw@h/db`` becomes ``postgresql+psycopg://u:***@h/db``;
    the user name, host and path stay, so the message still says which URL is meant.
    ``whole=True`` when ``text`` is a single value (a URL as written), not a message.
    """
    if whole:
        text = _WHOLE_URL_USERINFO.sub(r"\g<head>:***@", text)
    text = _URL_USERINFO.sub(r"\g<head>:***@", text)
    return _URL_QUERY_SECRET.sub(r"\g<head>***", text)


# The reason of the ``TransientError`` the ledger raises when its database fails under a
# call (unreachable, a connection dropped, a read-only standby, a SQLite file locked):
# ``autonomic_errors_total{kind="LedgerUnavailable"}``, and one story in the log.
LEDGER_UNAVAILABLE = "LedgerUnavailable"
# The reason when the ledger's server answered but rolled a transaction back, as it may
# once in a while: a deadlock with another transaction (40P01), a serialization failure
# (40001), a statement cancelled past ``statement_timeout`` (57014). Nothing of it was
# written; a job's run is said to have met a conflict and retried at its next period,
# and told as an outage only when the job's next run meets one again.
LEDGER_CONFLICT = "LedgerConflict"


class AutonomicError(Exception):
    """Base of every error Autonomic raises on purpose."""


class ConfigError(AutonomicError):
    """The configuration is invalid; the message names the file, field and expectation."""


class InputError(AutonomicError):
    """A user-supplied input file is malformed; the message names the file, row and field."""


class TransientError(AutonomicError):
    """A failure that may pass: retry after ``delay`` seconds."""

    def __init__(self, message: str, *, delay: float = 5.0, reason: str = "Transient") -> None:
        super().__init__(message)
        self.delay = delay
        self.reason = reason


class PermanentError(AutonomicError):
    """A failure that will not pass by retrying: a human must act."""

    def __init__(self, message: str, *, reason: str = "Permanent") -> None:
        super().__init__(message)
        self.reason = reason
