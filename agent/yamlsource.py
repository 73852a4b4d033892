"""YAML with line numbers, so that every configuration error names its file and line.

``load_yaml_with_marks`` parses a document (rejecting duplicate keys) and returns the
plain Python data together with a function that maps a path such as
``("prometheus", "url")`` or ``("queries", 2, "expr")`` to the 1-based line where that
value (or the nearest enclosing one) is written; its ``exact`` method says whether
the whole path is written at all (``None`` when a default applies).

Numbers are read as runbooks read them (``remediation.yaml_numbers``), YAML 1.2's forms
in ASCII digits, where PyYAML follows YAML 1.1: an unquoted ``1e3``, ``1e-3`` or
``2.5E6`` is a number (YAML 1.1 wants a dot and a signed exponent, and reads them as
text), ``0o17`` is 15, ``010`` is refused naming both readings (YAML 1.1 reads it as
octal 8), ``1_000`` and ``1:30`` stay text (YAML 1.1: 1000 and 90), and an explicit
``!!int`` or ``!!float`` takes only those forms (``!!int ٣`` is refused, not 3).
Booleans stay YAML 1.1's: the settings refuse ``yes`` where a number belongs, naming
it. ``load_yaml_value`` reads one value (an environment override) the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import yaml

from remediation.yaml_hints import syntax_hint
from remediation.yaml_keys import first_duplicate_key
from remediation.yaml_numbers import read_numbers_strictly

__all__ = [
    "LineFinder",
    "YamlLines",
    "YamlSourceError",
    "document_kind",
    "load_yaml_value",
    "load_yaml_with_marks",
]

LineFinder = Callable[[Sequence[str | int]], int]


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, with numbers read as runbooks read them."""


read_numbers_strictly(_Loader)


def load_yaml_value(text: str) -> Any:
    """One YAML document read as the files are (``5`` an int, ``1e-3`` a float)."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader: plain data, no Python objects


def document_kind(data: Any) -> str:
    """What a document that should be a mapping is instead, in a file's words."""
    if data is None:
        return "an empty file"
    if isinstance(data, list):
        return "a list"
    if isinstance(data, bool):
        return "true or false"
    if isinstance(data, int | float):
        return "a number"
    if isinstance(data, str):
        return "a plain string"
    return "something else"


class YamlSourceError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.detail = message


class YamlLines:
    """Where the values of one parsed document are written (1-based lines)."""

    def __init__(self, root: yaml.Node | None) -> None:
        self._root = root

    def __call__(self, path: Sequence[str | int]) -> int:
        """The line of ``path``'s value, or of the nearest enclosing value written."""
        node, _found = self._walk(path)
        return int(node.start_mark.line) + 1 if node is not None else 1

    def exact(self, path: Sequence[str | int]) -> int | None:
        """The line of ``path``'s value, or ``None`` when the document does not write it."""
        node, found = self._walk(path)
        return int(node.start_mark.line) + 1 if node is not None and found else None

    def key(self, path: Sequence[str | int]) -> int:
        """The line where ``path``'s last key is written (a mapping's key, not its value,
        which in block style starts on the next line); else as ``__call__``."""
        parent, found = self._walk(path[:-1])
        if found and path and isinstance(parent, yaml.MappingNode):
            for key, _value in parent.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(path[-1]):
                    return int(key.start_mark.line) + 1
        return self(path)

    def _walk(self, path: Sequence[str | int]) -> tuple[yaml.Node | None, bool]:
        current = self._root
        if current is None:
            return None, False
        for part in path:
            child = _child(current, part)
            if child is None:
                return current, False
            current = child
        return current, True


def load_yaml_with_marks(text: str) -> tuple[Any, YamlLines]:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        hint = syntax_hint(exc, text)
        raise YamlSourceError(
            line, f"not valid YAML: {exc.problem or exc}" + (f"; {hint}" if hint else "")
        ) from None
    except yaml.YAMLError as exc:
        raise YamlSourceError(1, f"not valid YAML: {exc}") from None
    if node is None:
        return None, YamlLines(None)
    _reject_duplicate_keys(node)
    return _construct(node), YamlLines(node)


def _construct(node: yaml.Node) -> Any:
    loader = _Loader("")
    try:
        return loader.construct_document(node)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlSourceError(line, f"cannot read value: {exc.problem}") from None
    finally:
        loader.dispose()


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value  # type: ignore[no-any-return]
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None


def _reject_duplicate_keys(node: yaml.Node) -> None:
    duplicate = first_duplicate_key(node)
    if duplicate is not None:
        raise YamlSourceError(duplicate.line, f"{duplicate.field}: {duplicate.message}")
