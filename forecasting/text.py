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

__all__ = ["shown_parts", "shown_text", "unseen_character"]

# The ASCII control characters but newline and tab, and DEL.
_ASCII_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# The categories of characters a terminal or a chat acts on or hides rather than shows:
# controls (C0, C1: ESC starts a terminal's escape sequences, CSI in C1 too), format
# characters (bidi overrides and isolates, zero-width spaces and joiners, the soft
# hyphen, U+FEFF, tag characters) and the line and paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


# A zero-width joiner or non-joiner between two visible non-ASCII characters is part of
# what they show: an emoji sequence (woman + ZWJ + laptop, white flag + U+FE0F + ZWJ +
# rainbow: after a variation selector or a skin tone too) or a word of a script that
# needs it (Persian, the Indic scripts).
# Between ASCII characters it only hides (``ad\u200cmin``): escaped there.
_JOINERS = "\u200c\u200d"
_JOINED_CATEGORIES = ("L", "M", "S")  # letters, marks (U+FE0F, a virama), symbols (emoji)
# A subdivision flag (England, Scotland, Wales): a black flag, two to six tag letters
# or digits, and the cancel tag. Any other tag character is invisible text: escaped.
_TAG_FLAG = re.compile("\U0001f3f4[\U000e0030-\U000e0039\U000e0061-\U000e007a]{2,6}\U000e007f")


def _escaped(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _joins(before: str, after: str) -> bool:
    """Whether a joiner between ``before`` and ``after`` joins two visible non-ASCII
    characters (letters, marks, symbols)."""
    return all(
        not char.isascii() and unicodedata.category(char).startswith(_JOINED_CATEGORIES)
        for char in (before, after)
    )


def shown_parts(text: str) -> list[str]:
    """``shown_text(text)`` as one piece per character of ``text`` (its escape, itself,
    or "" for a carriage return ending a line), so that a caller cutting it cuts between
    characters of ``text`` and each is shown as in the whole."""
    flags = {
        at for match in _TAG_FLAG.finditer(text) for at in range(match.start() + 1, match.end())
    }
    last = len(text) - 1
    parts: list[str] = []
    for at, char in enumerate(text):
        if char == "\r" and at < last and text[at + 1] == "\n":
            parts.append("")  # a line ending written on Windows: one newline
        else:
            shown = (
                char in "\n\t"
                or unicodedata.category(char) not in _HIDDEN_CATEGORIES
                or at in flags
                or (char in _JOINERS and 0 < at < last and _joins(text[at - 1], text[at + 1]))
            )
            parts.append(char if shown else _escaped(char))
    return parts


def shown_text(text: str) -> str:
    """``text`` (written by anyone: an Event's message, an alert's annotation) with each
    character a terminal or a chat would act on or hide written as its escape, so that
    it is seen and does nothing: control characters but newline and tab (``ESC`` shows
    as ``\\x1b``, so ``ESC [2J`` cannot clear a screen nor an OSC 8 sequence hide a
    link; a carriage return, which would let later text overwrite a line, as
    ``\\x0d``), bidi overrides and isolates (U+202A-U+202E, U+2066-U+2069: ``\\u202e``)
    and other invisible format characters (zero-width spaces and joiners, U+FEFF, the
    soft hyphen, tag characters), U+2028 and U+2029. What an emoji or a script needs is
    kept: a zero-width joiner or non-joiner between two visible non-ASCII characters
    (an emoji ZWJ sequence, a Persian word), a subdivision flag's tags (England's);
    variation selectors, skin tones and regional-indicator flags are not hidden
    characters. A carriage return before a newline (a line ending written on Windows)
    is dropped.
    Backslashes are left as they are: the result holds none of these characters (each
    kept joiner keeps its neighbours), so showing it again changes nothing; a literal
    ``\\x1b`` typed as four characters reads the same as an escaped ESC."""
    if text.isascii():
        return _ASCII_CONTROLS.sub(
            lambda match: _escaped(match.group()), text.replace("\r\n", "\n")
        )
    return "".join(shown_parts(text))


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
