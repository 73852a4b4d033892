"""Autonomic's error families.

    AutonomicError
    ├── ConfigError          bad configuration or input file: stop, tell a person what to fix
    ├── InputError           a user-supplied file (CSV, scenario, spec) is malformed
    ├── TransientError       try again later (``delay`` seconds): timeouts, 429, 5xx, outages
    └── PermanentError       retrying will not help: 403, 404, a query Prometheus rejects

Adapters translate library exceptions into these, chained with ``raise ... from``.
"""

from __future__ import annotations

__all__ = ["AutonomicError", "ConfigError", "InputError", "PermanentError", "TransientError"]


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
