"""What pydantic's validation errors have to say to a person, without their echoes, and
where: the field each is about, written as every loader writes it.

A list whose items failed validation is also reported as "too short" at the list itself:
the same problem said twice, once without its cause. The three YAML loaders (runbooks,
the daemon's settings, simulation scenarios) keep only the errors that are causes.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

__all__ = ["causes", "field_path", "model_at"]


def field_path(loc: Sequence[str | int]) -> str:
    """``anomalyQueries[0].name`` for ``("anomalyQueries", 0, "name")``: a list position in
    brackets, keys after dots, as the runbooks', the scenarios' and the configuration's
    errors all write a field."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types inside ``Annotated``, ``Optional`` and unions."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _type_tag(model: type[BaseModel]) -> str | None:
    """The one value a model's ``type`` field takes (a tagged union's member), or None."""
    field = model.model_fields.get("type")
    if field is None:
        return None
    args = typing.get_args(field.annotation)
    return str(args[0]) if len(args) == 1 else None


def model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model whose keys are written at ``loc`` under ``root`` (as pydantic reports a
    place: keys by alias or name, list positions, a tagged union's tag), or None where that
    is not one model: what an unknown key's hint lists the keys of."""
    current: list[Any] = [root]
    for part in loc:
        models = [t for t in current if isinstance(t, type) and issubclass(t, BaseModel)]
        if isinstance(part, int):
            sequences = [t for t in current if typing.get_origin(t) in (tuple, list)]
            current = [t for seq in sequences for t in _unwrap(typing.get_args(seq)[0])]
        elif tagged := [m for m in models if _type_tag(m) == part]:
            current = tagged
        else:
            current = [
                t
                for model in models
                for name, info in model.model_fields.items()
                if part in (name, info.alias)
                for t in _unwrap(info.annotation)
            ]
        if not current:
            return None
    models = [t for t in current if isinstance(t, type) and issubclass(t, BaseModel)]
    return models[0] if len(models) == 1 else None


def causes(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """``errors`` without a "too short" error at a list some of whose items also failed."""
    failing = [tuple(error["loc"]) for error in errors]
    return [
        error
        for error in errors
        if not (
            error["type"] == "too_short"
            and any(
                len(other) > len(error["loc"]) and other[: len(error["loc"])] == tuple(error["loc"])
                for other in failing
            )
        )
    ]
