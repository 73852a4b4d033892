"""Durations as runbook authors write them: ``30s``, ``5m``, ``2h``, ``1d``, ``1h30m``.

A runbook is read by people on call, so durations are strings with units rather than
bare numbers of seconds; inside the engine they are plain float seconds, matching the
epoch-second timestamps used everywhere else.
"""

from __future__ import annotations

import re

from remediation.digits import unseen_character

__all__ = ["DURATION_PATTERN", "format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w)")
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h|d|w))+$"
_WHOLE = re.compile(DURATION_PATTERN)
# No runbook needs to wait or look back more than a year; larger values are typos.
_MAX_SECONDS = 366 * 86400.0


def parse_duration(text: str) -> float:
    """Return the number of seconds in ``text`` or raise ``ValueError`` saying what is accepted."""
    if not isinstance(text, str):
        raise ValueError(f"a duration must be a string such as '30s', '5m' or '2h', not {text!r}")
    cleaned = text.strip(" \t\n\r\f\v")  # not a no-break space: unseen_character names it
    if not _WHOLE.fullmatch(cleaned):
        raise ValueError(
            f"{text!r} is not a duration; write a whole number and a unit "
            f"(ms, s, m, h, d, w), e.g. '30s', '5m', '2h' or '1h30m'{unseen_character(text)}"
        )
    seconds = sum(int(number) * _UNITS[unit] for number, unit in _PART.findall(cleaned))
    if seconds > _MAX_SECONDS:
        raise ValueError(f"duration {text!r} is longer than a year; is it a typo?")
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds compactly (``5400 -> '1h30m'``) for plans and messages."""
    if 0 < seconds < 1:
        return f"{round(seconds * 1000)}ms"
    remaining = round(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
