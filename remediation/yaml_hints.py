"""Plain-English hints for the YAML syntax errors people make most, by hand, in a
runbook or a config: a line indented unlike the ones beside it, and a ``key: value``
where YAML cannot take one (an unquoted ``: `` inside a value, a key indented under one
that already has a value, a key missing its ``:`` on the line above).

PyYAML states these in its grammar's terms (``expected <block end>, but found '<block
mapping start>'``, ``mapping values are not allowed here``), which name neither the
cause nor the fix. The parser's own words are kept (they are what a search finds); the
hint follows them."""

from __future__ import annotations

import yaml

__all__ = ["not_utf8", "syntax_hint", "yaml_hint"]

TAB_HINT = "YAML does not allow tabs for indentation: indent with spaces"

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


def syntax_hint(error: yaml.MarkedYAMLError, text: str) -> str:
    """The hint for a syntax error PyYAML raised reading ``text`` (``""`` when there is
    none): a tab used to indent, a quoted value never closed, or ``yaml_hint``'s."""
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else None
    if "'\\t'" in (error.problem or "") or _tab_indented(text, line):
        return TAB_HINT
    if error.context == "while scanning a quoted scalar" and error.context_mark is not None:
        start = error.context_mark.line + 1
        return (
            f"the quoted value that starts on line {start} is never closed: add its closing quote"
        )
    quoted = _runaway_quote(text, line)
    if quoted:
        return quoted
    context = error.context_mark.line + 1 if error.context_mark is not None else None
    return yaml_hint(error.problem, context)


def _tab_indented(text: str, line: int | None) -> bool:
    """True when ``line`` (1-based) or the one before it is indented with a tab."""
    if line is None:
        return False
    lines = text.splitlines()
    nearby = lines[max(line - 2, 0) : line]
    return any(row[: len(row) - len(row.lstrip())].count("\t") for row in nearby)


def _runaway_quote(text: str, line: int | None) -> str:
    """A quoted value that runs over several lines and ends on ``line`` (1-based), the
    error's: most often a value whose closing quote is missing, so that the next quote in
    the file closes it and what follows that quote on its line no longer parses. One that
    ended on an earlier line was closed there: an error on the next line (a key indented
    unlike its siblings) is not its doing."""
    if line is None:
        return ""
    loader = yaml.SafeLoader(text)
    tokens: list[yaml.Token] = []
    try:
        while loader.check_token():
            tokens.append(loader.get_token())  # type: ignore[no-untyped-call]
    except yaml.YAMLError:
        tokens.extend(loader.tokens)  # scanned, not yet handed on when the error came
    finally:
        loader.dispose()
    runaway = [
        token
        for token in tokens
        if isinstance(token, yaml.ScalarToken)
        and token.style in ('"', "'")
        and token.start_mark.line < token.end_mark.line
        and token.end_mark.line + 1 == line
    ]
    if not runaway:
        return ""
    last = runaway[-1]
    start, end = last.start_mark.line + 1, last.end_mark.line + 1
    return (
        f"the quoted value that starts on line {start} runs on to line {end}: if its "
        f"closing quote is missing, add it on line {start}"
    )


def not_utf8(error: UnicodeDecodeError, what: str) -> tuple[int, str]:
    """The 1-based line of the first byte that is not UTF-8 in the bytes ``error`` was
    raised decoding, and a message saying so of ``what`` (``"the file"``), with the fix."""
    data = bytes(error.object)
    line = data[: error.start].count(b"\n") + 1
    column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
    byte = data[error.start]
    return line, (
        f"{what} is not UTF-8 text: byte 0x{byte:02x} at column {column} ({error.reason}); "
        "save it as UTF-8 (a Latin-1 or Windows editor may have written it)"
    )
