"""A first look at a PromQL query's shape, before Prometheus sees it.

Not a PromQL parser: Prometheus's grammar changes between versions, and only Prometheus
says for certain what it accepts. This catches, where the query is written (a runbook, the
daemon's configuration), the slips that a query typed by hand most often has and that
Prometheus would otherwise refuse only at run time, every time the query is asked, long
after the file was checked and deployed:

- a bracket, brace or parenthesis left open, closed twice, or closed by the wrong kind;
- a string left open;
- a range or subquery written with a unit Prometheus does not know (``[5min]``, ``[1 h]``);
- a label matcher's value not in quotes (``{namespace=shop}``, and
  ``{namespace={{namespace}}}``: a placeholder is filled in as it stands, without quotes).

Placeholders are otherwise left alone: a runbook's ``{{namespace}}`` and the
configuration's ``$workload`` stand for text that is filled in before the query is sent.
"""

from __future__ import annotations

import re

__all__ = ["syntax_problem"]

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}
# A Prometheus duration: units from the largest to the smallest, each at most once
# (``1h30m``), or a number of seconds (``300``, ``1.5``), as newer versions accept.
_DURATION = re.compile(
    r"^(?:(?:[0-9]+y)?(?:[0-9]+w)?(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?(?:[0-9]+ms)?|[0-9]+(?:\.[0-9]+)?)$"
)
_MATCH_OPERATOR = re.compile(r"=~|!~|!=|=")


def _range_problem(text: str) -> str | None:
    """Why the inside of ``[...]`` is not a range (``5m``) or subquery (``1h:1m``,
    ``1h:``), or None; text with a placeholder or an expression in it is not judged."""
    if re.search(r"[${}()+\-*/]", text):
        return None
    parts = [part.strip() for part in text.split(":")]
    if len(parts) > 2:
        return f"[{text}] is not a range: write a duration such as [5m], or a subquery [1h:1m]"
    for index, part in enumerate(parts):
        if index == 1 and part == "":
            continue  # [1h:] takes the default resolution
        if part == "" or _DURATION.match(part) is None:
            return (
                f"[{text}] is not a range: durations are a whole number and a unit "
                "(ms, s, m, h, d, w, y), such as [30s], [5m] or [1h30m]"
            )
    return None


def syntax_problem(query: str) -> str | None:
    """What is plainly wrong with ``query``'s brackets, strings, ranges or label matchers,
    naming the column (from 1) where it is, or None when nothing is; None does not mean
    that Prometheus will accept it."""
    stack: list[tuple[str, int]] = []
    i = 0
    n = len(query)
    while i < n:
        char = query[i]
        if query.startswith("{{", i):
            end = query.find("}}", i + 2)
            if end < 0:
                return (
                    f"'{{{{' at column {i + 1} is not closed: "
                    "placeholders look like {{namespace}}"
                )
            i = end + 2
            continue
        if char == "#":  # a comment, to the end of the line
            end = query.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if char in "\"'`":
            j = i + 1
            while j < n and query[j] != char:
                j += 2 if query[j] == "\\" and char != "`" else 1
            if j >= n:
                return f"the string opened with {char} at column {i + 1} is not closed"
            i = j + 1
            continue
        if char in _OPEN:
            stack.append((char, i))
            if char == "[":
                end = query.find("]", i + 1)
                if end >= 0 and (problem := _range_problem(query[i + 1 : end])) is not None:
                    return f"{problem} (column {i + 1})"
            i += 1
            continue
        if char in _CLOSE:
            if not stack:
                return f"{char!r} at column {i + 1} closes nothing: remove it, or open it before"
            opened, at = stack.pop()
            if opened != _CLOSE[char]:
                return (
                    f"{char!r} at column {i + 1} closes the {opened!r} opened at column "
                    f"{at + 1}, which {_OPEN[opened]!r} closes"
                )
            i += 1
            continue
        if stack and stack[-1][0] == "{" and (match := _MATCH_OPERATOR.match(query, i)):
            j = match.end()
            while j < n and query[j] in " \t\n":
                j += 1
            rest = query[j:]
            if j < n and rest[0] not in "\"'`":
                word = re.match(r"(?:\{\{.*?\}\}|[^,}\s])*", rest)
                shown = word.group(0) if word else rest[:1]
                return (
                    f"the label matcher's value at column {j + 1} is not in quotes: "
                    f'write {match.group(0)}"{shown}"'
                )
            i = j
            continue
        i += 1
    if stack:
        opened, at = stack[-1]
        return f"the {opened!r} at column {at + 1} is never closed: add {_OPEN[opened]!r}"
    return None
