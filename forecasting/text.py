"""Text a person typed that fails to read because of a character they cannot see.

The lowest layer, so that the canary spec (``forecasting``), runbooks (``remediation``)
and the daemon's settings (``agent``) name such a character in the same words from one
function. Imports only ``unicodedata``: cheap for a light entry point.
"""

from __future__ import annotations

import unicodedata

__all__ = ["unseen_character"]


def unseen_character(text: str) -> str:
    """A note for a refusal of ``text`` naming the first character in it that a person
    cannot tell from a space or from nothing: a space other than the ASCII ones (U+00A0
    NO-BREAK SPACE, U+2009 THIN SPACE...) or an invisible format character (U+200B
    ZERO WIDTH SPACE, U+FEFF). "" when there is none."""
    for char in text:
        if char.isascii():
            continue
        if char.isspace():
            fix = "type a plain space instead"
        elif unicodedata.category(char) == "Cf":
            fix = "delete it"
        else:
            continue
        name = unicodedata.name(char, "unnamed")
        return (
            f" (it holds U+{ord(char):04X} {name}, which cannot be seen and is often "
            f"pasted from a web page: {fix})"
        )
    return ""
