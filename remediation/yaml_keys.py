"""Duplicate keys in a composed YAML document, found with the field they are at.

YAML keeps only the last of two equal keys in one mapping, silently; runbooks and the
daemon's configuration both refuse such a file, and both say the same thing::

    spec.actions[1].type: duplicate key 'type' (first defined on line 19); ...

The walk is iterative (a deeply nested file cannot exhaust the stack) and visits a node
written once and aliased many times only once. ``<<`` merge keys are not keys of the
mapping (PyYAML merges every one of them), so they are not compared.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from remediation.validation import field_path

__all__ = ["DuplicateKey", "first_duplicate_key"]

_MERGE_TAG = "tag:yaml.org,2002:merge"

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class DuplicateKey:
    """A key written twice in one mapping: its field, and both 1-based lines."""

    path: Path  # the field, ending with the repeated key
    line: int  # the second time it is written
    first_line: int

    @property
    def field(self) -> str:
        return field_path(self.path)

    @property
    def message(self) -> str:
        """What is wrong and what to do, without the field (the caller shows it)."""
        return (
            f"duplicate key {self.path[-1]!r} (first defined on line {self.first_line}); "
            "YAML would silently keep only the last one: remove or rename one of them"
        )


def first_duplicate_key(root: yaml.Node | None) -> DuplicateKey | None:
    """The first duplicate key in ``root``'s document, top to bottom, or None."""
    if root is None:
        return None
    found: list[DuplicateKey] = []
    visited: set[int] = set()
    stack: list[tuple[yaml.Node, Path]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        children: list[tuple[yaml.Node, Path]] = []
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE_TAG:
                    children.append((value, path))
                    continue
                line = int(key.start_mark.line) + 1
                if key.value in seen:
                    found.append(DuplicateKey((*path, key.value), line, seen[key.value]))
                else:
                    seen[key.value] = line
                children.append((value, (*path, key.value)))
        elif isinstance(node, yaml.SequenceNode):
            children = [(item, (*path, index)) for index, item in enumerate(node.value)]
        stack.extend(children)
    return min(found, key=lambda duplicate: duplicate.line, default=None)
