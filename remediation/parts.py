"""The parts of a runbook document that are well-formed enough to cross-check.

The rules that span fields (``remediation.crosschecks``) need values the schema has
parsed: a trigger's matchers, a window's weekly ranges, an action's type. A document
with a schema error still has parts that are sound (its triggers may be fine while one
action is misspelt), so the loader checks those too, and an author sees every problem
in one go rather than in rounds.

``parts_of_data`` validates each part of the raw (constructed) YAML on its own: every
trigger, precondition, action and verification check, and each key of the target and of
the guards. A part that fails the schema is ``None`` or named unknown (its problem is
reported by the schema), and a list entry keeps its ``type`` when that is one the schema
knows, which is enough for rules about the type alone. ``parts_of_runbook`` gives the
same view of a valid runbook.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from remediation.schema import (
    Action,
    ApprovalRules,
    Check,
    Guards,
    Precondition,
    Runbook,
    TargetSelector,
    Trigger,
)

__all__ = ["Entry", "Parts", "parts_of_data", "parts_of_runbook"]

T = TypeVar("T")
TARGET_KINDS = frozenset(typing.get_args(TargetSelector.model_fields["kind"].annotation))


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One entry of a list (a trigger, an action...): its value when it is well-formed,
    and its ``type`` when that is a type the schema knows (even if the rest is not)."""

    value: T | None
    tag: str | None


@dataclass(frozen=True)
class Parts:
    """What is known of one runbook's spec; ``None`` where a part is malformed or missing.

    ``kind`` is the target's kind, known even when another key of the target is wrong.
    ``target`` and ``guards`` hold their well-formed keys, the others at their defaults:
    ``target_unknown`` and ``guards_unknown`` name those (read them through
    ``target_has`` and ``guards_have``). ``has_verification`` is False only when the
    spec has no verification at all. ``approval`` is ``requireApprovalWhen`` as ``guards``
    is the guards (None when it is not written), and ``undo`` is ``onFailure.undo`` when
    it is written and well-formed (None when it is left to its default).
    """

    kind: str | None = None
    target: TargetSelector | None = None
    target_unknown: frozenset[str] = frozenset()
    triggers: tuple[Entry[Trigger], ...] | None = None
    preconditions: tuple[Entry[Precondition], ...] | None = None
    actions: tuple[Entry[Action], ...] | None = None
    has_verification: bool | None = None
    checks: tuple[Entry[Check], ...] | None = None
    guards: Guards | None = None
    guards_unknown: frozenset[str] = frozenset()
    approval: ApprovalRules | None = None
    approval_unknown: frozenset[str] = frozenset()
    undo: bool | None = None

    def target_has(self, *keys: str) -> TargetSelector | None:
        """The target, when the keys named (as written in YAML) are all well-formed."""
        return None if self.target_unknown.intersection(keys) else self.target

    def guards_have(self, *keys: str) -> Guards | None:
        """The guards, when the keys named (as written in YAML) are all well-formed."""
        return None if self.guards_unknown.intersection(keys) else self.guards

    def approval_has(self, *keys: str) -> ApprovalRules | None:
        """``requireApprovalWhen``, when written and the keys named are well-formed."""
        return None if self.approval_unknown.intersection(keys) else self.approval

    def known(self, entries: tuple[Entry[T], ...] | None) -> list[tuple[int, T]]:
        """The well-formed entries of a list, with their indexes."""
        return [(i, e.value) for i, e in enumerate(entries or ()) if e.value is not None]


def _tags(annotation: Any) -> frozenset[str]:
    """The ``type`` values of a discriminated union of models."""
    union = typing.get_args(annotation)[0]
    tags: set[str] = set()
    for model in typing.get_args(union):
        tags.update(typing.get_args(model.model_fields["type"].annotation))
    return frozenset(tags)


@dataclass(frozen=True)
class _Kind(Generic[T]):
    """How to read the entries of one list: their validator and their known types."""

    adapter: TypeAdapter[T]
    tags: frozenset[str]


_TRIGGER: _Kind[Trigger] = _Kind(TypeAdapter(Trigger), _tags(Trigger))
_PRECONDITION: _Kind[Precondition] = _Kind(TypeAdapter(Precondition), _tags(Precondition))
_ACTION: _Kind[Action] = _Kind(TypeAdapter(Action), _tags(Action))
_CHECK: _Kind[Check] = _Kind(TypeAdapter(Check), _tags(Check))

_Model = TypeVar("_Model", bound=BaseModel)


def _valid(model: type[_Model], raw: Any) -> _Model | None:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def _lenient(
    model: type[_Model], raw: Any, stand_ins: Mapping[str, Any] | None = None
) -> tuple[_Model | None, frozenset[str]]:
    """``raw`` validated without its malformed keys (at their defaults, or a required
    one at its stand-in), and the keys left out; (None, ...) when that does not validate
    either (a rule across the model's own fields failed)."""
    if not isinstance(raw, Mapping):
        return None, frozenset()
    try:
        return model.model_validate(raw), frozenset()
    except ValidationError as error:
        bad = frozenset(str(item["loc"][0]) for item in error.errors() if item["loc"])
    if not bad:
        return None, frozenset()
    kept = {key: value for key, value in raw.items() if key not in bad}
    kept |= {key: value for key, value in (stand_ins or {}).items() if key in bad}
    return _valid(model, kept), bad


def _entries(kind: _Kind[T], raw: Any) -> tuple[Entry[T], ...] | None:
    if not isinstance(raw, tuple):
        return None  # not a list: the schema says so, and no entry can be checked
    out: list[Entry[T]] = []
    for item in raw:
        tag = item.get("type") if isinstance(item, Mapping) else None
        try:
            value: T | None = kind.adapter.validate_python(item)
        except ValidationError:
            value = None
        out.append(Entry(value, tag if isinstance(tag, str) and tag in kind.tags else None))
    return tuple(out)


def parts_of_data(data: Any) -> Parts:
    """The well-formed parts of a constructed runbook document (lists as tuples)."""
    spec = data.get("spec") if isinstance(data, Mapping) else None
    if not isinstance(spec, Mapping):
        return Parts()
    target = spec.get("target")
    kind = target.get("kind") if isinstance(target, Mapping) else None
    verification = spec.get("verification")
    checks = verification.get("checks") if isinstance(verification, Mapping) else None
    target_model, target_unknown = _lenient(
        TargetSelector,
        target,
        {"kind": "Deployment"},  # the kind is read on its own above
    )
    guards, guards_unknown = (
        _lenient(Guards, spec["guards"]) if "guards" in spec else (Guards(), frozenset())
    )
    approval, approval_unknown = _lenient(ApprovalRules, spec.get("requireApprovalWhen"))
    on_failure = spec.get("onFailure")
    undo = on_failure.get("undo") if isinstance(on_failure, Mapping) else None
    return Parts(
        kind=kind if isinstance(kind, str) and kind in TARGET_KINDS else None,
        target=target_model,
        target_unknown=target_unknown,
        triggers=_entries(_TRIGGER, spec.get("triggers")),
        preconditions=_entries(_PRECONDITION, spec.get("preconditions", ())),
        actions=_entries(_ACTION, spec.get("actions")),
        has_verification=verification is not None,
        checks=_entries(_CHECK, checks),
        guards=guards,
        guards_unknown=guards_unknown,
        approval=approval,
        approval_unknown=approval_unknown,
        undo=undo if isinstance(undo, bool) else None,
    )


def parts_of_runbook(runbook: Runbook) -> Parts:
    """Every part of a valid runbook."""
    spec = runbook.spec

    def entries(items: tuple[Any, ...]) -> tuple[Entry[Any], ...]:
        return tuple(Entry(item, item.type) for item in items)

    verification = spec.verification
    return Parts(
        kind=spec.target.kind,
        target=spec.target,
        triggers=entries(spec.triggers),
        preconditions=entries(spec.preconditions),
        actions=entries(spec.actions),
        has_verification=verification is not None,
        checks=entries(verification.checks) if verification is not None else None,
        guards=spec.guards,
        approval=spec.require_approval_when,
        undo=spec.on_failure.undo if "undo" in spec.on_failure.model_fields_set else None,
    )
