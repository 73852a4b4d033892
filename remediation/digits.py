"""Whole numbers written as text, read only when written in ASCII digits.

Shared by the runbook schema and the daemon (this module imports only ``re``, so a
light entry point such as ``agent.observability`` can use it without loading the schema).
"""

from __future__ import annotations

import re

__all__ = ["ascii_digits", "plain_number"]

# A sign, ASCII digits with an optional point, an optional exponent: 2, -1.5, .5, 1e3.
_PLAIN_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def ascii_digits(text: str, most: int) -> bool:
    """Whether ``text`` is one to ``most`` ASCII digits, and so a whole number ``int``
    reads as written. ``str.isdigit`` alone also holds for a superscript two (which
    ``int`` refuses), for Arabic-Indic or full-width digits (which ``int`` reads, though
    no runbook, annotation or header means them) and for thousands of digits (past
    ``int``'s limit on the digits it converts): each a ``ValueError`` or a value read
    from nonsense where a clear refusal belongs."""
    return 0 < len(text) <= most and text.isascii() and text.isdigit()


def plain_number(text: str) -> bool:
    """Whether ``text`` is a number as people write one: an optional sign, ASCII digits
    with an optional decimal point, an optional exponent (``2``, ``-1.5``, ``.5``,
    ``1e3``), nothing around it. ``float`` alone also reads Arabic-Indic or full-width
    digits, ``1_000``, surrounding spaces, ``nan`` and ``inf``; ``float`` of a plain
    number can still overflow (``1e999``), so a caller that needs a finite value checks."""
    return _PLAIN_NUMBER.fullmatch(text) is not None
