"""Placeholders in PromQL queries and notification text: ``{{namespace}}``, ``{{name}}``...

Only a closed set of names exists, checked at load time. Values are the target's own
identifiers (``{{stable}}``: the stable Deployment a native canary's label names, in a
runbook that promotes it), escaped for a PromQL double-quoted string, so a template can never inject
query syntax.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["PLACEHOLDERS", "check_template", "empty_in", "render"]

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


def empty_in(text: str, values: Mapping[str, str]) -> list[str]:
    """The placeholders of ``text`` that ``values`` leaves empty (rendered as "")."""
    names = dict.fromkeys(found.group(1) for found in _TOKEN.finditer(text))
    return [name for name in names if not values.get(name)]
