"""Text a person typed that fails to read because of a character they cannot see, and
text anyone wrote made safe to show (``shown_text``).

The lowest layer, so that the canary spec (``forecasting``), runbooks (``remediation``)
and the daemon's settings (``agent``) name such a character in the same words from one
function, and every surface that shows text written by others (Kubernetes Events,
alert annotations: Slack, ``autonomic explain``, ``autonomic approvals``) escapes it
by one rule. Imports only ``re`` and ``unicodedata``: cheap for a light entry point.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["shown_text", "unseen_character"]

# The ASCII control characters but newline and tab, and DEL.
_ASCII_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# The categories of characters a terminal or a chat acts on or hides rather than shows:
# controls (C0, C1: ESC starts a terminal's escape sequences, CSI in C1 too), format
# characters (bidi overrides and isolates, zero-width spaces and joiners, the soft
# hyphen, U+FEFF, tag characters) and the line and paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _escaped(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shown_text(text: str) -> str:
    """``text`` (written by anyone: an Event's message, an alert's annotation) with each
    character a terminal or a chat would act on or hide written as its escape, so that
    it is seen and does nothing: control characters but newline and tab (``ESC`` shows
    as ``\\x1b``, so ``ESC [2J`` cannot clear a screen nor an OSC 8 sequence hide a
    link; a carriage return, which would let later text overwrite a line, as
    ``\\x0d``), bidi overrides and isolates (U+202A-U+202E, U+2066-U+2069: ``\\u202e``)
    and other invisible format characters (zero-width spaces and joiners, U+FEFF, the
    soft hyphen), U+2028 and U+2029. A carriage return before a newline (a line ending
    written on Windows) is dropped. Backslashes are left as they are: the result holds
    none of these characters, so showing it again changes nothing."""
    text = text.replace("\r\n", "\n")
    if text.isascii():
        return _ASCII_CONTROLS.sub(lambda match: _escaped(match.group()), text)
    return "".join(
        _escaped(char)
        if char not in "\n\t" and unicodedata.category(char) in _HIDDEN_CATEGORIES
        else char
        for char in text
    )


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
