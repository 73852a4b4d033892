"""Numbers written as text, read only when written in ASCII digits, and the invisible
characters that make such text fail to read.

Shared by the runbook schema and the daemon (this module imports only ``re`` and
``forecasting.text``, which holds ``unseen_character`` for every layer, so a light entry
point such as ``agent.observability`` can use it without loading the schema).

The patterns that read durations, offsets, steps, conditions and tolerances allow ASCII
spaces and tabs around their parts and nothing else (``re.ASCII``): a no-break space
(U+00A0, pasted from a web page or a chat) or a zero-width space looks like a space or
like nothing, so the refusal names it (``unseen_character``) rather than leave a person
staring at text that looks right.
"""

from __future__ import annotations

import re

from forecasting.text import unseen_character

__all__ = ["ascii_digits", "plain_number", "unseen_character"]

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
