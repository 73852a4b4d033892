"""Load runbooks from YAML with errors that name the file, the line and the YAML path.

    runbooks/oom.yaml:14: spec.actions[0].factor: must be more than 1, got 0.5

The YAML is first composed into a node tree (which keeps line numbers), checked for
duplicate keys, non-text keys and runaway alias expansion, then constructed and validated
by the pydantic schema; each pydantic error location is walked back through the node
tree to the line it came from. The rules across fields (``remediation.crosschecks``) run
in the same pass, on every part of the document that is well-formed enough to check
(``remediation.parts``), so one check reports every problem it can find, top to bottom,
rather than a second round once the first is fixed. Loading is all-or-nothing: a file
with any error yields no runbook at all, and ``load_paths`` returns every runbook or
raises ``RunbookLoadError`` listing every problem in every file. A runbook that loads may
still carry notes (``remediation.crosschecks.notes``: what its undo will not reverse),
which ``check_paths`` returns beside the runbooks, located as problems are.

Kustomize's own file is not a runbook: a folder of runbooks kept for ``kubectl apply -k``
(``manifests/runbooks/``) holds a ``kustomization.yaml`` next to them, which lists them
for the ConfigMap. A file kustomize reserves by name (``kustomization.yaml``,
``kustomization.yml``, ``Kustomization``) is skipped, whether a folder holds it or it is
named on its own (``manifests/runbooks/*.yaml``), and the report says so. The rule is the
name, as kustomize's own (its apiVersion and kind may be left out): any other file is
read as runbooks, so a runbook whose ``kind`` or ``apiVersion`` is wrong is refused, never
passed over. A file that is plainly something else is refused in one line rather
key by key: a Kubernetes manifest (an ``apiVersion`` outside autonomic.dev and a ``kind``
other than Runbook) is named by its kind, and a mapping with none of a runbook's keys
(the daemon's configuration, most often) is said to be no runbook.

The YAML dialect is close to YAML 1.2's core schema: only ``true``/``false`` are booleans
(``yes``, ``on`` stay text), ``16:00`` is text rather than a base-60 integer, and dates stay
text for the schema to parse. Whole numbers are decimal (``17``), hex (``0x11``) or octal
with YAML 1.2's prefix (``0o21``); one written with a leading zero (``010``) is refused,
naming both readings, since YAML 1.2 reads it as 10 and YAML 1.1 (PyYAML, the YAML of
Kubernetes' tools) as octal 8 (``00`` and ``07``, the same either way, are read). An
explicit ``!!int`` or ``!!float`` takes the same forms, in ASCII digits (``!!float 1_0``
and ``!!float ٣`` are refused). The daemon's configuration reads numbers by the same
rules (``remediation.yaml_numbers``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from remediation._types import freeze_lists
from remediation.crosschecks import check_parts, check_semantics, notes
from remediation.durations import DURATION_PATTERN, format_duration
from remediation.parts import parts_of_data
from remediation.schema import NAMESPACE_PATTERN, OBJECT_NAME_PATTERN, Name, Runbook
from remediation.validation import (
    causes,
    explain,
    field_path,
    missing_type,
    model_at,
    tags_at,
    unknown_key,
    unknown_type,
)
from remediation.yaml_hints import not_utf8, syntax_hint
from remediation.yaml_keys import first_duplicate_key
from remediation.yaml_numbers import read_numbers_strictly

__all__ = [
    "LoadIssue",
    "LoadNote",
    "LoadReport",
    "RunbookLoadError",
    "Skipped",
    "check_paths",
    "load_file",
    "load_paths",
    "load_text",
    "locate",
    "runbook_json_schema",
    "write_json_schema",
]

# The names kustomize looks for in a kustomization directory: never runbooks.
KUSTOMIZATION_NAMES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
MAX_FILE_BYTES = 1_000_000
MAX_NODES = 50_000
MAX_DEPTH = 40
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"

Loc = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class LoadIssue:
    """One problem in one file: where it is and what to do about it."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass(frozen=True, order=True)
class LoadNote(LoadIssue):
    """Something a runbook that loads does that its author may not expect."""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: note: {self.path}: {self.message}"


class RunbookLoadError(Exception):
    """One or more runbook files are invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[LoadIssue]) -> None:
        self.issues = tuple(issues)
        count = len(self.issues)
        head = f"{count} problem{'s' if count != 1 else ''} in runbooks:"
        super().__init__("\n".join([head, *(f"  {issue}" for issue in self.issues)]))


@dataclass(frozen=True, order=True)
class Skipped:
    """A file that was not read as runbooks, and why (kustomize's own file)."""

    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: skipped: {self.reason}"


@dataclass(frozen=True)
class LoadReport:
    """What ``check_paths`` found: valid runbooks per file, every issue, the files it
    passed over (``files`` does not count them), and the notes on the runbooks loaded."""

    files: tuple[str, ...]
    runbooks: tuple[tuple[str, Runbook], ...]  # (file, runbook), only from error-free files
    issues: tuple[LoadIssue, ...]
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[LoadNote, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.issues


# ----------------------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2-style scalars (see module docstring)."""


_Loader.yaml_implicit_resolvers = {}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_Loader.add_implicit_resolver(_MERGE_TAG, re.compile(r"^(?:<<)$"), ["<"])


read_numbers_strictly(_Loader)  # YAML 1.2 numbers, in ASCII digits: remediation.yaml_numbers


class _ProblemError(Exception):
    """Internal: a problem at a node, turned into a ``LoadIssue`` by the caller."""

    def __init__(self, message: str, line: int | None, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.path = path


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _mapping_items(node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
    """Key/value pairs of a mapping with ``<<`` merges applied (explicit keys win)."""
    own: list[tuple[yaml.Node, yaml.Node]] = []
    merged: list[tuple[yaml.Node, yaml.Node]] = []
    for key, value in node.value:
        if key.tag == _MERGE_TAG:
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for source in sources:
                if isinstance(source, yaml.MappingNode):
                    merged.extend(_mapping_items(source))
        else:
            own.append((key, value))
    seen = {key.value for key, _ in own if isinstance(key, yaml.ScalarNode)}
    extra = [(k, v) for k, v in merged if isinstance(k, yaml.ScalarNode) and k.value not in seen]
    return own + extra


def _check_tree(root: yaml.Node) -> None:
    """Reject duplicate keys, non-text keys, deep nesting and alias bombs before constructing."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
    while stack:
        node, depth, expanded = stack.pop()
        if expanded:
            children = _children(node)
            sizes[id(node)] = 1 + sum(sizes.get(id(child), 1) for child in children)
            if sizes[id(node)] > MAX_NODES:
                raise _ProblemError(
                    f"the document expands to more than {MAX_NODES} values "
                    "(through anchors and aliases); write it out plainly",
                    _line(node),
                )
            continue
        if id(node) in sizes:
            continue
        if depth > MAX_DEPTH:
            raise _ProblemError(f"values are nested more than {MAX_DEPTH} levels deep", _line(node))
        if isinstance(node, yaml.MappingNode):
            _check_keys(node)
        stack.append((node, depth, True))
        for child in _children(node):
            if id(child) not in sizes:
                stack.append((child, depth + 1, False))
    duplicate = first_duplicate_key(root)
    if duplicate is not None:
        raise _ProblemError(duplicate.message, duplicate.line, duplicate.field)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_keys(node: yaml.MappingNode) -> None:
    for key, _ in node.value:
        if key.tag == _MERGE_TAG:
            continue
        if not isinstance(key, yaml.ScalarNode) or key.tag != _STR_TAG:
            shown = key.value if isinstance(key, yaml.ScalarNode) else "a collection"
            raise _ProblemError(
                f"key {shown!r} is not text; keys must be plain names (quote it if needed)",
                _line(key),
            )


def _yaml_problem(error: yaml.YAMLError, text: str) -> _ProblemError:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is not None:
        line: int | None = mark.line + 1
    elif isinstance(error, yaml.reader.ReaderError):
        line = text[: error.position].count("\n") + 1
    else:
        line = None
    if isinstance(error, yaml.MarkedYAMLError):
        parts = [error.context, error.problem]
        message = "; ".join(part for part in parts if part)
        hint = syntax_hint(error, text)
        message += f"; {hint}" if hint else ""
    elif isinstance(error, yaml.reader.ReaderError):
        message = f"the file contains a character YAML does not allow (code {error.character!r})"
    else:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
    return _ProblemError(f"YAML syntax error: {message}", line)


def _compose(text: str) -> list[yaml.Node]:
    try:
        return [node for node in yaml.compose_all(text, Loader=_Loader) if node is not None]
    except yaml.YAMLError as error:
        raise _yaml_problem(error, text) from None
    except RecursionError:
        raise _ProblemError(f"values are nested more than {MAX_DEPTH} levels deep", None) from None


def _construct(node: yaml.Node) -> Any:
    loader = _Loader("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        raise _yaml_problem(error, "") from None
    except (TypeError, ValueError, OverflowError) as error:
        raise _ProblemError(f"cannot read this value: {error}", _line(node)) from None
    finally:
        loader.dispose()


# ------------------------------------------------------------------ errors -> locations


def _locate(root: yaml.Node, loc: Loc, *, key_line: bool) -> tuple[int | None, str]:
    """Walk ``loc`` (pydantic, aliases) through the node tree: (line, display path).

    Elements that are not in the YAML (the tag pydantic inserts for discriminated unions,
    '[key]' markers) are skipped; a missing last element is still shown in the path.
    """
    node: yaml.Node = root
    line = _line(root)
    shown: list[str | int] = []
    descending = True
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if not descending:
            if isinstance(part, str) and part != "[key]":
                shown.append(part)
            continue
        if isinstance(node, yaml.MappingNode):
            items = _mapping_items(node)
            found = next((pair for pair in items if str(pair[0].value) == str(part)), None)
            if found is None:
                tag = next((v.value for k, v in items if k.value == "type"), None)
                if tag is not None and str(part) == str(tag):
                    continue  # the discriminator tag pydantic adds to the location
                if part != "[key]":
                    shown.append(part)
                descending = False
                continue
            key, value = found
            shown.append(part)
            node = value
            line = _line(key) if (last and key_line) else _line(value)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                node = node.value[part]
                shown.append(part)
                line = _line(node)
            else:
                shown.append(part)
                descending = False
        else:
            if isinstance(part, str) and part != "[key]":
                shown.append(part)
            descending = False
    return line, field_path(shown)


def _message(error: Any) -> str:
    kind = error["type"]
    loc: Loc = tuple(error["loc"])
    if kind == "extra_forbidden":
        model = model_at(Runbook, loc[:-1])
        fields = model.model_fields.items() if model is not None else ()
        return unknown_key(str(loc[-1]), sorted(info.alias or name for name, info in fields))
    if kind == "union_tag_invalid":
        return unknown_type((error.get("ctx") or {}).get("tag"), tags_at(Runbook, loc))
    if kind == "union_tag_not_found":
        return missing_type(tags_at(Runbook, loc))
    if kind == "string_pattern_mismatch" and loc[-2:] == ("metadata", "name"):
        return "a runbook name uses lowercase letters, digits and '-' (e.g. 'oom-raise-memory')"
    if kind == "string_pattern_mismatch" and len(loc) >= 2 and loc[-2] == "approvers":
        return (
            "expected a Slack user id (U… or W…) or user group id (S…), not a name or "
            f"@handle (got {error.get('input')!r})"
        )
    if (
        kind == "string_pattern_mismatch"
        and len(loc) >= 2
        and loc[-2] in ("namespaces", "excludeNamespaces", "excludeNames")
    ):
        return _not_a_name(str(error.get("input")), namespace=loc[-2] != "excludeNames")
    if kind == "string_pattern_mismatch" and {"requireLabels", "excludeLabels"} & set(loc):
        label = (
            "label key Kubernetes allows ([PREFIX/]NAME, e.g. autonomic.dev/exclude: a NAME "
            "of letters, digits, '-', '_' and '.', starting and ending with a letter or digit)"
            if loc[-1] == "[key]"
            else "label value Kubernetes allows (letters, digits, '-', '_' and '.', starting "
            "and ending with a letter or digit, at most 63 characters, or empty)"
        )
        return (
            f"not a {label}, so no object could carry it and it would match nothing "
            f"(got {error.get('input')!r})"
        )
    if kind == "too_short" and loc[-2:] == ("spec", "approvers"):
        return (
            "lists nobody, so none of this runbook's questions could be answered: name "
            "Slack user or group ids, or remove approvers to let slack.approvers decide"
        )
    return explain(error)


def _not_a_name(value: str, *, namespace: bool) -> str:
    """``not a namespace name: ... (got 'Payments'; did you mean 'payments'?)``: names are
    compared exactly, so one no object can have would match nothing."""
    what, chars, pattern, longest = (
        ("a namespace name", "digits and '-'", NAMESPACE_PATTERN, 63)
        if namespace
        else ("an object name", "digits, '-' and '.'", OBJECT_NAME_PATTERN, 253)
    )
    guess = value.strip().lower()
    hint = (
        f"; did you mean {guess!r}?"
        if guess != value and len(guess) <= longest and re.fullmatch(pattern, guess)
        else ""
    )
    return (
        f"not {what} (lower-case letters, {chars}, starting and ending with a "
        f"letter or digit, at most {longest} characters), which it must be to match "
        f"anything (got {value!r}{hint})"
    )


def _validation_problems(root: yaml.Node, error: ValidationError) -> list[_ProblemError]:
    problems: list[_ProblemError] = []
    for item in causes(error.errors(include_url=False)):
        loc: Loc = tuple(item["loc"])
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "type")
        line, path = _locate(root, loc, key_line=item["type"] == "extra_forbidden")
        problems.append(_ProblemError(_message(item), line, path))
    return problems


# ------------------------------------------------------------------------------ public


_NAME: TypeAdapter[str] = TypeAdapter(Name)


@dataclass(frozen=True)
class _Document:
    """One document: its runbook (None when it has a problem), its name when that is
    well-formed (even in a document with problems, so a name used twice is said at once)
    with its line, its problems, and the notes on its runbook."""

    runbook: Runbook | None
    name: str | None
    line: int | None
    problems: tuple[_ProblemError, ...]
    notes: tuple[_ProblemError, ...] = ()


def _name_of(data: dict[str, Any]) -> str | None:
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    try:
        return _NAME.validate_python(name)
    except ValidationError:
        return None


def _located(node: yaml.Node, found: Iterable[tuple[Loc, str]]) -> list[_ProblemError]:
    located = []
    for loc, message in found:
        line, path = _locate(node, loc, key_line=False)
        located.append(_ProblemError(message, line, path))
    return located


def _in_order(problems: Iterable[_ProblemError]) -> tuple[_ProblemError, ...]:
    """Problems top to bottom, as the author reads the file; each said once."""
    seen: set[tuple[int | None, str, str]] = set()
    unique = []
    for problem in problems:
        key = (problem.line, problem.path, problem.message)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return tuple(sorted(unique, key=lambda p: (p.line is None, p.line or 0)))


_RUNBOOK_KEYS = ("apiVersion", "kind", "metadata", "spec")
_MOVE_IT = "move it out of the runbooks directory"


def _not_a_runbook(node: yaml.Node, data: dict[str, Any]) -> _ProblemError | None:
    """One problem for a mapping that is plainly some other file (a Kubernetes manifest,
    the daemon's configuration), where a key-by-key check would list every key a runbook
    lacks and every key it has; None for anything that may be a runbook."""
    kind, api = data.get("kind"), data.get("apiVersion")
    if not any(key in data for key in _RUNBOOK_KEYS):
        keys = ", ".join(str(key) for key in list(data)[:4]) + (", ..." if len(data) > 4 else "")
        return _ProblemError(
            f"not a runbook: it has no apiVersion/kind and none of a runbook's keys "
            f"(apiVersion, kind, metadata, spec), only {keys} (another file, such as the "
            f"daemon's configuration?): {_MOVE_IT}",
            _line(node),
        )
    if (
        isinstance(kind, str)
        and isinstance(api, str)
        and kind.lower() != "runbook"
        and not api.startswith("autonomic.dev/")
    ):
        return _ProblemError(
            f"this is a Kubernetes {kind} (apiVersion {api}), not a runbook (kind: Runbook, "
            f"apiVersion: autonomic.dev/v1alpha1): {_MOVE_IT}",
            *_locate(node, ("kind",), key_line=False),
        )
    return None


def _load_document(node: yaml.Node) -> _Document:
    """Check one document completely: the schema's errors and, for every part well-formed
    enough to check, the rules across fields (``remediation.crosschecks``), in one go."""
    try:
        _check_tree(node)
        data = freeze_lists(_construct(node))
    except _ProblemError as problem:
        return _Document(None, None, None, (problem,))
    if not isinstance(data, dict):
        shape = _ProblemError(
            "a runbook is a mapping with apiVersion, kind, metadata and spec", _line(node)
        )
        return _Document(None, None, None, (shape,))
    stranger = _not_a_runbook(node, data)
    if stranger is not None:
        return _Document(None, None, None, (stranger,))
    name = _name_of(data)
    line = _locate(node, ("metadata", "name"), key_line=False)[0] if name else None
    try:
        runbook = Runbook.model_validate(data)
    except ValidationError as error:
        problems = [
            *_validation_problems(node, error),
            *_located(node, check_parts(parts_of_data(data))),
        ]
        return _Document(None, name, line, _in_order(problems))
    problems = _located(node, check_semantics(runbook))
    if problems:
        return _Document(None, name, line, _in_order(problems))
    return _Document(runbook, name, line, (), _in_order(_located(node, notes(runbook))))


def _issues_of(source: str, problems: Iterable[_ProblemError]) -> list[LoadIssue]:
    return [LoadIssue(source, p.line, p.path, p.message) for p in problems]


Named = list[tuple[str, int | None, Runbook | None]]


@dataclass(frozen=True)
class _Source:
    """One file: every well-formed runbook name with its line and its runbook (None for
    a document with a problem), the file's issues, and the notes on its runbooks."""

    named: Named
    issues: list[LoadIssue]
    notes: list[LoadNote]


def _load_source(text: str, source: str) -> _Source:
    try:
        documents = _compose(text)
    except _ProblemError as problem:
        return _Source([], _issues_of(source, [problem]), [])
    if not documents:
        empty = LoadIssue(source, 1, "", "the file holds no runbook (it is empty)")
        return _Source([], [empty], [])
    named: Named = []
    issues: list[LoadIssue] = []
    found_notes: list[LoadNote] = []
    names: dict[str, int | None] = {}
    for node in documents:
        document = _load_document(node)
        issues.extend(_issues_of(source, document.problems))
        found_notes.extend(LoadNote(source, n.line, n.path, n.message) for n in document.notes)
        if document.name is None:
            continue
        if document.name in names:
            issues.append(
                LoadIssue(
                    source,
                    document.line,
                    "metadata.name",
                    f"runbook name {document.name!r} is already used at line "
                    f"{names[document.name]}",
                )
            )
        names[document.name] = document.line
        named.append((document.name, document.line, document.runbook))
    return _Source(named, _top_to_bottom(issues), found_notes)


def _top_to_bottom(issues: Iterable[LoadIssue]) -> list[LoadIssue]:
    """One file's issues in the order of their lines (those with no line last)."""
    return sorted(issues, key=lambda issue: (issue.line is None, issue.line or 0))


def load_text(text: str, source: str = "<string>") -> tuple[Runbook, ...]:
    """Parse and validate YAML text holding one or more runbook documents."""
    loaded = _load_source(text, source)
    if loaded.issues:
        raise RunbookLoadError(loaded.issues)
    return tuple(runbook for _, _, runbook in loaded.named if runbook is not None)


def _read(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            limit = MAX_FILE_BYTES
            raise _ProblemError(f"the file is {size} bytes; a runbook is at most {limit}", None)
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        line, message = not_utf8(error, "the file")
        raise _ProblemError(message, line) from None
    except OSError as error:
        raise _ProblemError(f"cannot read the file: {error.strerror or error}", None) from None


def locate(text: str, name: str, loc: Loc) -> int | None:
    """The line of ``loc`` (``("spec", "target", "namespaces", 0)``) in the runbook named
    ``name`` in ``text``, a file that loaded, or None where it cannot be found: for what
    is said about a runbook once it is checked against something else (the daemon's
    configuration)."""
    try:
        documents = _compose(text)
    except _ProblemError:
        return None
    for node in documents:
        if _locate(node, ("metadata", "name"), key_line=False)[1] != "metadata.name":
            continue
        try:
            data = _construct(node)
        except _ProblemError:
            continue
        if isinstance(data, dict) and _name_of(data) == name:
            return _locate(node, loc, key_line=False)[0]
    return None


def load_file(path: str | Path) -> tuple[Runbook, ...]:
    """Load one file (one or more documents), all-or-nothing."""
    report = check_paths([path])
    if report.issues:
        raise RunbookLoadError(report.issues)
    return tuple(runbook for _, runbook in report.runbooks)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _skip_reason(path: Path) -> str | None:
    """Why ``path`` is not read as runbooks, or None when it is."""
    if path.name in KUSTOMIZATION_NAMES:
        return "kustomize's own file (it lists the runbooks for kubectl apply -k), not a runbook"
    return None


def _files(paths: Sequence[str | Path]) -> tuple[list[Path], list[LoadIssue], list[Skipped]]:
    files: list[Path] = []
    issues: list[LoadIssue] = []
    skipped: dict[Path, Skipped] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for pattern in ("*.yaml", "*.yml")
                for p in path.rglob(pattern)
                if p.is_file() and not _hidden(p.relative_to(path))
            )
            passed = {p: reason for p in found if (reason := _skip_reason(p)) is not None}
            skipped |= {p: Skipped(str(p), reason) for p, reason in passed.items()}
            found = [p for p in found if p not in passed]
            if not found:
                issues.append(LoadIssue(str(path), None, "", "no .yaml or .yml runbook files here"))
            files.extend(found)
        elif path.exists():
            if (reason := _skip_reason(path)) is not None:
                skipped[path] = Skipped(str(path), reason)
            else:
                files.append(path)
        else:
            issues.append(LoadIssue(str(path), None, "", "no such file or directory"))
    unique = list(dict.fromkeys(files))
    return unique, issues, list(skipped.values())


def check_paths(paths: Sequence[str | Path]) -> LoadReport:
    """Validate files and directories (recursively, *.yaml/*.yml, kustomize's own file
    skipped); never raises for bad input."""
    files, issues, skipped = _files(paths)
    loaded: list[tuple[str, Runbook]] = []
    found_notes: list[LoadNote] = []
    first_seen: dict[str, str] = {}
    for path in files:
        source = str(path)
        try:
            text = _read(path)
        except _ProblemError as problem:
            issues.extend(_issues_of(source, [problem]))
            continue
        read = _load_source(text, source)
        named, file_issues = read.named, read.issues
        for name, line, _ in named:
            if name in first_seen:
                file_issues.append(
                    LoadIssue(
                        source,
                        line,
                        "metadata.name",
                        f"runbook name {name!r} is already used at {first_seen[name]}",
                    )
                )
        for name, line, _ in named:
            # A name in a file with problems is taken all the same: once that file is
            # fixed it would clash, so the clash is said now rather than in a second round.
            first_seen.setdefault(name, f"{source}:{line}" if line is not None else source)
        if file_issues:
            issues.extend(_top_to_bottom(file_issues))
            continue
        loaded.extend((source, runbook) for _, _, runbook in named if runbook is not None)
        found_notes.extend(read.notes)
    return LoadReport(
        files=tuple(str(p) for p in files),
        runbooks=tuple(loaded),
        issues=tuple(issues),
        skipped=tuple(skipped),
        notes=tuple(found_notes),
    )


def load_paths(paths: Sequence[str | Path]) -> tuple[Runbook, ...]:
    """Load every runbook under ``paths`` or raise ``RunbookLoadError`` listing all problems."""
    report = check_paths(paths)
    if report.issues:
        raise RunbookLoadError(report.issues)
    return tuple(runbook for _, runbook in report.runbooks)


# ------------------------------------------------------------------------- JSON Schema


def _duration_defaults(node: Any) -> None:
    """Durations are held as seconds; show their defaults as the strings authors write."""
    if isinstance(node, dict):
        if node.get("pattern") == DURATION_PATTERN and isinstance(node.get("default"), float):
            node["default"] = format_duration(node["default"])
        for value in node.values():
            _duration_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _duration_defaults(value)


def runbook_json_schema() -> dict[str, Any]:
    """The JSON Schema of a runbook document, for editors (yaml-language-server)."""
    schema = Runbook.model_json_schema(by_alias=True, mode="validation")
    _duration_defaults(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://autonomic.dev/schemas/runbook-v1alpha1.json",
        **schema,
        "title": "Autonomic Runbook (autonomic.dev/v1alpha1)",
    }


def render_json_schema() -> str:
    """Deterministic text of the schema (sorted keys, trailing newline)."""
    return json.dumps(runbook_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json_schema(path: str | Path) -> Path:
    """Write the schema to ``path`` (e.g. ``runbooks/runbook.schema.json``) and return it."""
    target = Path(path)
    target.write_text(render_json_schema(), encoding="utf-8")
    return target
