"""Whole numbers written as text, read only when written in ASCII digits.

Shared by the runbook schema and the daemon (this module imports nothing, so a light
entry point such as ``agent.observability`` can use it without loading the schema).
"""

from __future__ import annotations

__all__ = ["ascii_digits"]


def ascii_digits(text: str, most: int) -> bool:
    """Whether ``text`` is one to ``most`` ASCII digits, and so a whole number ``int``
    reads as written. ``str.isdigit`` alone also holds for a superscript two (which
    ``int`` refuses), for Arabic-Indic or full-width digits (which ``int`` reads, though
    no runbook, annotation or header means them) and for thousands of digits (past
    ``int``'s limit on the digits it converts): each a ``ValueError`` or a value read
    from nonsense where a clear refusal belongs."""
    return 0 < len(text) <= most and text.isascii() and text.isdigit()
