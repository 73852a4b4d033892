"""Label and field selectors, in the query-parameter syntax the API server accepts.

Label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``,
``k`` (exists) and ``!k`` (does not exist), comma-separated and AND-ed.
Field selectors: ``path=v``, ``path==v``, ``path!=v`` over dotted paths; the API
server only allows a few paths per kind (``FIELD_SELECTABLE``) and answers 400 for
others, so the fake does the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

__all__ = ["FIELD_SELECTABLE", "SelectorError", "parse_field_selector", "parse_label_selector"]

Matcher = Callable[[dict[str, Any]], bool]


class SelectorError(ValueError):
    """The selector string does not parse or names a field that cannot be selected."""


# Paths a real API server accepts in fieldSelector, per kind (metadata.name and
# metadata.namespace work everywhere).
FIELD_SELECTABLE: dict[str, frozenset[str]] = {
    "Pod": frozenset(
        {
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        }
    ),
    "Event": frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        }
    ),
    "Node": frozenset({"spec.unschedulable"}),
}

_SET_RE = re.compile(r"^\s*(!?)([A-Za-z0-9._/-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_CMP_RE = re.compile(r"^\s*([A-Za-z0-9._/-]+)\s*(==|!=|=)\s*([A-Za-z0-9._-]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)([A-Za-z0-9._/-]+)\s*$")


def _split_requirements(text: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


def _label_in(key: str, values: frozenset[str], labels: dict[str, str]) -> bool:
    return labels.get(key) in values


def _label_not_in(key: str, values: frozenset[str], labels: dict[str, str]) -> bool:
    return labels.get(key) not in values


def _label_is(key: str, value: str, labels: dict[str, str]) -> bool:
    return labels.get(key) == value


def _label_is_not(key: str, value: str, labels: dict[str, str]) -> bool:
    return labels.get(key) != value


def _has_label(key: str, labels: dict[str, str]) -> bool:
    return key in labels


def _lacks_label(key: str, labels: dict[str, str]) -> bool:
    return key not in labels


def parse_label_selector(text: str | None) -> Matcher:
    """Compile a label selector into a predicate over an object's ``metadata.labels``."""
    if not text:
        return lambda obj: True
    checks: list[Callable[[dict[str, str]], bool]] = []
    for requirement in _split_requirements(text):
        if match := _SET_RE.match(requirement):
            _, key, operator, raw_values = match.groups()
            values = frozenset(v.strip() for v in raw_values.split(",") if v.strip())
            if operator == "in":
                checks.append(partial(_label_in, key, values))
            else:
                checks.append(partial(_label_not_in, key, values))
        elif match := _CMP_RE.match(requirement):
            key, operator, value = match.groups()
            if operator == "!=":
                checks.append(partial(_label_is_not, key, value))
            else:
                checks.append(partial(_label_is, key, value))
        elif match := _EXISTS_RE.match(requirement):
            negated, key = match.groups()
            if negated:
                checks.append(partial(_lacks_label, key))
            else:
                checks.append(partial(_has_label, key))
        else:
            raise SelectorError(f"unable to parse requirement: {requirement.strip()!r}")

    def matches(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return matches


def _field_value(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def _field_is(path: str, value: str, obj: dict[str, Any]) -> bool:
    return _field_value(obj, path) == value


def _field_is_not(path: str, value: str, obj: dict[str, Any]) -> bool:
    return _field_value(obj, path) != value


def parse_field_selector(text: str | None, kind: str) -> Matcher:
    """Compile a field selector; unknown fields raise ``SelectorError`` (HTTP 400)."""
    if not text:
        return lambda obj: True
    allowed = FIELD_SELECTABLE.get(kind, frozenset()) | {"metadata.name", "metadata.namespace"}
    checks: list[Matcher] = []
    for requirement in _split_requirements(text):
        match = _CMP_RE.match(requirement)
        if match is None:
            raise SelectorError(f"invalid field selector: {requirement.strip()!r}")
        path, operator, value = match.groups()
        if path not in allowed:
            raise SelectorError(f'field label not supported: "{path}"')
        if operator == "!=":
            checks.append(partial(_field_is_not, path, value))
        else:
            checks.append(partial(_field_is, path, value))
    return lambda obj: all(check(obj) for check in checks)
