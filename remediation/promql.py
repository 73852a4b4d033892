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

__all__ = ["breakdown_problem", "broken_down", "syntax_problem"]

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


# A Prometheus label name a breakdown may name (``__``-names are Prometheus's own).
LABEL_NAME = re.compile(r"^(?!__)[A-Za-z_][A-Za-z0-9_]*$")
_SUM = re.compile(r"\s*sum\b\s*", re.IGNORECASE)
_CLAUSE = re.compile(r"(by|without)\s*\(([^()]*)\)\s*", re.IGNORECASE)


def _without_comments(query: str) -> str:
    """``query`` with its ``#`` comments (outside strings) taken out."""
    out: list[str] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char in "\"'`":
            j = i + 1
            while j < n and query[j] != char:
                j += 2 if query[j] == "\\" and char != "`" else 1
            out.append(query[i : j + 1])
            i = j + 1
            continue
        if char == "#":
            end = query.find("\n", i)
            i = n if end < 0 else end
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _closing(query: str, at: int) -> int:
    """Where the parenthesis opened at ``at`` closes (strings skipped); -1 if never."""
    depth, i, n = 0, at, len(query)
    while i < n:
        char = query[i]
        if char in "\"'`":
            j = i + 1
            while j < n and query[j] != char:
                j += 2 if query[j] == "\\" and char != "`" else 1
            i = j + 1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _one_sum(query: str) -> tuple[list[str], str] | str:
    """The labels a query written as one ``sum by (...) (...)`` (or ``sum (...) by
    (...)``, or ``sum (...)``) sums by, and the expression it sums; or why it is not one."""
    text = _without_comments(query).strip()
    shape = (
        "breakdownBy needs expr to be one sum, 'sum by (labels) (...)', whose parts by a "
        "label add up to its value; "
    )
    start = _SUM.match(text)
    if start is None:
        return shape + (
            "an expr that is not a sum (a ratio, an average, a quantile, a bare rate) has "
            "parts that do not add up to it"
        )
    at = start.end()
    by: list[str] | None = None
    clause = _CLAUSE.match(text, at)
    if clause is not None:
        if clause.group(1).lower() == "without":
            return shape + "write the sum with by (...), not without (...)"
        by = [name.strip() for name in clause.group(2).split(",") if name.strip()]
        at = clause.end()
    if at >= len(text) or text[at] != "(":
        return shape + f"expected '(' after the sum at column {at + 1}"
    close = _closing(text, at)
    if close < 0:
        return shape + "its parenthesis is never closed"
    inner = text[at + 1 : close]
    rest = text[close + 1 :].strip()
    if rest:
        trailing = _CLAUSE.fullmatch(rest) if by is None else None
        if trailing is None:
            return shape + (
                f"this one goes on after the sum closes ({rest[:40]!r}): break down the "
                "sum in a query of its own"
            )
        if trailing.group(1).lower() == "without":
            return shape + "write the sum with by (...), not without (...)"
        by = [name.strip() for name in trailing.group(2).split(",") if name.strip()]
    return by or [], inner


def breakdown_problem(query: str, labels: list[str] | tuple[str, ...]) -> str | None:
    """Why ``query`` (an anomaly query's ``expr``) cannot be broken down by ``labels``
    (``broken_down``), or None: only one ``sum by (...)`` can, its parts by a label
    adding up to it, and only by labels it does not sum by already."""
    found = _one_sum(query)
    if isinstance(found, str):
        return found
    by, _ = found
    already = [label for label in labels if label in by]
    if already:
        return (
            f"expr sums by {', '.join(already)} already: each of its series is one "
            f"{already[0]} value, with nothing to break down"
        )
    return None


def _quoted(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def broken_down(query: str, labels: list[str] | tuple[str, ...], series: dict[str, str]) -> str:
    """``query`` (one ``sum by (...)``: ``breakdown_problem`` is None) summed by its own
    labels and ``labels`` too, kept to the series whose labels are ``series`` (those it
    sums by, with their values; one it lacks is empty): ``sum by (namespace, deployment,
    pod) (...) and on (namespace, deployment) label_replace(vector(1), ...)``, so
    Prometheus returns the parts of that one series, not of every series of the query."""
    found = _one_sum(query)
    if isinstance(found, str):
        raise ValueError(found)
    by, inner = found
    # Matched on every label the sum is by, not only those the series carries: a series
    # lacking one (its value empty) is the sum of the parts lacking it, and matching on
    # the others alone would take in the parts of every series that has it.
    keys = sorted(set(by))
    summed = f"sum by ({', '.join([*by, *labels])}) ({inner})"
    if not keys:
        return summed
    only = "vector(1)"
    for key in keys:
        # the replacement is a template: a "$" in the value is written "$$"; an empty
        # value sets no label, as the parts lacking it have none
        value = series.get(key, "").replace("$", "$$")
        only = f'label_replace({only}, "{key}", {_quoted(value)}, "", "")'
    return f"({summed}) and on ({', '.join(keys)}) {only}"
