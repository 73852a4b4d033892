"""Prometheus-style label matchers: ``name="value"``, ``!=``, ``=~`` and ``!~``.

On-call engineers already write these in Alertmanager routes and silences, so runbooks
use the same syntax. Regexes are anchored like Prometheus's (``=~"web|api"`` matches
``web`` but not ``webshop``) and compiled at load time, so a bad regex fails when the
runbook is loaded, not when the alert fires.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from remediation.digits import unseen_character

__all__ = ["LabelMatcher", "matches_all", "parse_matcher"]

MatchOp = Literal["=", "!=", "=~", "!~"]
_SYNTAX = re.compile(
    r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$', re.ASCII
)


@dataclass(frozen=True)
class LabelMatcher:
    """One compiled matcher; a missing label matches as the empty string, as in Prometheus."""

    name: str
    op: MatchOp
    value: str
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.pattern is not None
        found = self.pattern.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def parse_matcher(text: object) -> LabelMatcher:
    """Parse ``name<op>"value"``; raise ``ValueError`` naming the problem."""
    if isinstance(text, LabelMatcher):
        return text
    if not isinstance(text, str):
        raise ValueError(
            f"a matcher must be a string such as 'severity=\"critical\"', not {text!r}"
        )
    found = _SYNTAX.fullmatch(text)
    if found is None:
        raise ValueError(
            f"{text!r} is not a label matcher; write name, one of = != =~ !~, and a quoted "
            'value, e.g. severity="critical" or namespace=~"shop|checkout"' + unseen_character(text)
        )
    name, op, raw = found.group(1), found.group(2), found.group(3)
    value = re.sub(r"\\(.)", r"\1", raw)
    pattern = None
    if op in ("=~", "!~"):
        try:
            pattern = re.compile(value)
        except (re.error, RecursionError, OverflowError) as exc:
            raise ValueError(f"{text!r}: the regular expression does not compile: {exc}") from None
    return LabelMatcher(name=name, op=cast(MatchOp, op), value=value, pattern=pattern)


def matches_all(matchers: tuple[LabelMatcher, ...], labels: Mapping[str, str]) -> bool:
    """True when every matcher accepts ``labels`` (an empty list accepts everything)."""
    return all(matcher.matches(labels) for matcher in matchers)
