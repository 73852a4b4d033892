"""Placeholders in PromQL queries and notification text: ``{{namespace}}``, ``{{name}}``...

Only a closed set of names exists, checked at load time. Values are the target's own
identifiers (``{{stable}}``: the stable Deployment a native canary's label names, in a
runbook that promotes it). Some come from an alert's labels (a node, a claim), which
anyone whose metrics reach Prometheus may write, so ``render_query`` escapes each value
for where it stands in the query: in a double- or single-quoted string its quote and
backslashes are escaped, in a regular expression matcher (``=~``, ``!~``) its regex
characters too (so ``.*`` matches a dot and a star, not everything), and in a raw
(backquoted) string or outside any string, where nothing can be escaped, a character
that could end the string or add syntax is replaced by U+FFFD, which makes the query
match nothing (or fail) rather than ask about something else. A value can never add
query syntax.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["PLACEHOLDERS", "check_template", "empty_in", "render", "render_query"]

PLACEHOLDERS = frozenset(
    {"namespace", "name", "kind", "node", "target", "runbook", "signal", "stable"}
)
_TOKEN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def check_template(text: str) -> str | None:
    """Return a message describing the first bad placeholder in ``text``, or ``None``."""
    for found in _TOKEN.finditer(text):
        if found.group(1) not in PLACEHOLDERS:
            known = ", ".join("{{" + name + "}}" for name in sorted(PLACEHOLDERS))
            return f"unknown placeholder {found.group(0)}; known: {known}"
    leftover = _TOKEN.sub("", text)
    if "{{" in leftover or "}}" in leftover:
        return "unbalanced '{{' or '}}'; placeholders look like {{namespace}}"
    return None


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def render(text: str, values: Mapping[str, str]) -> str:
    """Substitute placeholders; names without a value become the empty string."""
    return _TOKEN.sub(lambda found: _escape(values.get(found.group(1), "")), text)


# RE2's metacharacters (Prometheus's regular expressions), each escaped with a backslash.
_REGEX_META = re.compile(r"([\\.+*?()|\[\]{}^$])")
# What may stand as it is where nothing can be escaped (outside strings, in a raw string).
_BARE_SAFE = re.compile(r"[^A-Za-z0-9_.:\-]")
_UNWRITABLE = "\ufffd"


def render_query(query: str, values: Mapping[str, str]) -> str:
    """``query`` (PromQL) with its placeholders filled in, each value escaped for the
    string (or place) it stands in; names without a value become the empty string."""
    out: list[str] = []
    quote: str | None = None  # the quote of the string the scan is in, if any
    regex = False  # whether that string is a regular expression matcher's
    i, n = 0, len(query)
    while i < n:
        found = _TOKEN.match(query, i) if query.startswith("{{", i) else None
        if found is not None:
            out.append(_fill(values.get(found.group(1), ""), quote, regex))
            i = found.end()
            continue
        char = query[i]
        if quote is None:
            if char in "\"'`":
                quote = char
                regex = "".join(out).rstrip().endswith(("=~", "!~"))
        elif char == "\\" and quote != "`" and i + 1 < n:
            out.append(query[i : i + 2])
            i += 2
            continue
        elif char == quote:
            quote = None
        out.append(char)
        i += 1
    return "".join(out)


def _fill(value: str, quote: str | None, regex: bool) -> str:
    if quote is None:
        return _BARE_SAFE.sub(_UNWRITABLE, value)
    if regex:
        value = _REGEX_META.sub(r"\\\1", value)
    if quote == "`":
        return value.replace("`", _UNWRITABLE)
    value = value.replace("\n", " ").replace("\r", " ")
    return value.replace("\\", "\\\\").replace(quote, "\\" + quote)


def empty_in(text: str, values: Mapping[str, str]) -> list[str]:
    """The placeholders of ``text`` that ``values`` leaves empty (rendered as "")."""
    names = dict.fromkeys(found.group(1) for found in _TOKEN.finditer(text))
    return [name for name in names if not values.get(name)]
