"""Plain-English hints for the YAML syntax errors people make most, by hand, in a
runbook or a config: a line indented unlike the ones beside it, and a ``key: value``
where YAML cannot take one (an unquoted ``: `` inside a value, a key indented under one
that already has a value, a key missing its ``:`` on the line above).

PyYAML states these in its grammar's terms (``expected <block end>, but found '<block
mapping start>'``, ``mapping values are not allowed here``), which name neither the
cause nor the fix. The parser's own words are kept (they are what a search finds); the
hint follows them."""

from __future__ import annotations

__all__ = ["yaml_hint"]

_NOT_LINED_UP = ("'<block mapping start>'", "'<block sequence start>'", "'-'", "'<scalar>'")


def yaml_hint(problem: str | None, context_line: int | None = None) -> str:
    """The hint for PyYAML's ``problem`` (``""`` when there is none); ``context_line``
    (1-based) is the line of the block the parser was reading, when it says one."""
    if not problem:
        return ""
    if problem.startswith("mapping values are not allowed here"):
        return (
            "YAML found a 'key:' where none can start: quote a value that holds ': ' "
            '(message: "Disk full: clean up"), line a key up with the keys beside it '
            "rather than indenting it under a key that already has a value, and check that "
            "the key on the line above ends with ':'"
        )
    if problem.startswith("expected <block end>, but found") and problem.endswith(_NOT_LINED_UP):
        since = f" (the block from line {context_line})" if context_line is not None else ""
        return (
            f"this line is indented unlike the lines above it{since}: the keys of one "
            "mapping, and the '-' items of one list, start at the same column, in spaces"
        )
    return ""
