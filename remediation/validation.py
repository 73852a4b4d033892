"""What pydantic's validation errors have to say to a person, without their echoes, and
where: the field each is about, written as every loader writes it.

The same mistake reads the same way in a runbook, the daemon's configuration and a
simulation scenario: the words for a missing key, an unknown key, an unknown ``type``, a
value that is not one of the choices, not true or false, not a number, not a list or not
a mapping are this module's (``explain`` and the helpers it uses); each loader adds the
file, the line and the field in front, and its own words only where it has more to say.

A list whose items failed validation is also reported as "too short" at the list itself:
the same problem said twice, once without its cause. The three YAML loaders (runbooks,
the daemon's settings, simulation scenarios) keep only the errors that are causes.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from remediation._types import expected_shape, not_a_number, not_a_whole_number

__all__ = [
    "MISSING_KEY",
    "causes",
    "explain",
    "field_path",
    "missing_type",
    "model_at",
    "not_a_boolean",
    "not_a_choice",
    "tags_at",
    "unknown_key",
    "unknown_type",
]

MISSING_KEY = "required key is missing"


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


def _models_at(root: type[BaseModel], loc: Sequence[str | int]) -> list[type[BaseModel]]:
    """The models that may be written at ``loc`` under ``root`` (several for a tagged
    union's place, before its tag is known)."""
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
            return []
    return [t for t in current if isinstance(t, type) and issubclass(t, BaseModel)]


def model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model whose keys are written at ``loc`` under ``root`` (as pydantic reports a
    place: keys by alias or name, list positions, a tagged union's tag), or None where that
    is not one model: what an unknown key's hint lists the keys of."""
    models = _models_at(root, loc)
    return models[0] if len(models) == 1 else None


def tags_at(root: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The ``type`` values an entry at ``loc`` under ``root`` may take (a tagged union's
    members, in the schema's order), or [] where there is no such choice."""
    return [tag for model in _models_at(root, loc) if (tag := _type_tag(model)) is not None]


def _shown(value: Any, limit: int = 40) -> str:
    text = value if len(value) <= limit else value[: limit - 3] + "..."
    return repr(text)


def _nearest(written: str, choices: Sequence[str]) -> str | None:
    """The choice ``written`` most likely meant: the same but for case, else a near miss."""
    same = [c for c in choices if c.lower() == written.strip().lower()]
    close = same or difflib.get_close_matches(written, choices, n=1)
    return close[0] if close else None


def unknown_key(key: str, allowed: Sequence[str], *, see: str = "") -> str:
    """``unknown key (did you mean 'cooldown'? the keys here are a, b, c)``: the key it
    may have meant and the keys the place takes (``see``: where they are described)."""
    more = f"; see {see}" if see else ""
    if list(allowed) == ["type"]:
        return f"unknown key (this entry takes no key besides type{more})"
    if not allowed:
        return f"unknown key (check the spelling{more})"
    near = _nearest(key, allowed)
    hint = f"did you mean {near!r}? " if near else "check the spelling; "
    return f"unknown key ({hint}the keys here are {', '.join(allowed)}{more})"


def unknown_type(tag: object, tags: Sequence[str]) -> str:
    """``unknown type 'scael' (did you mean 'scale'? the types here are a, b, c)``."""
    near = _nearest(tag, tags) if isinstance(tag, str) else None
    hint = f"did you mean {near!r}? " if near else ""
    listed = f"the types here are {', '.join(tags)}" if tags else "check the spelling"
    return f"unknown type {tag!r} ({hint}{listed})"


def missing_type(tags: Sequence[str]) -> str:
    """A tagged entry without its ``type``, which says what kind of entry it is."""
    listed = f": one of {', '.join(tags)}" if tags else ""
    return f"{MISSING_KEY} (type says what kind of entry this is{listed})"


def not_a_boolean(value: object) -> str:
    """``expected true or false (unquoted), got 'yes'``: a boolean is written as one."""
    return f"expected true or false (unquoted), got {repr(value)[:60]}"


def not_a_choice(ctx: Mapping[str, Any], value: object) -> str:
    """``must be 'A' or 'B', got 'a' (did you mean 'A'?)``: the choices (pydantic's
    list of them), the value written, and the nearest choice when it is a near miss."""
    expected = f"must be {ctx.get('expected', 'one of the listed values')}"
    if not isinstance(value, str):
        return f"{expected}, got {_scalar(value)}"
    choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
    near = _nearest(value, choices)
    hint = f" (did you mean {near!r}?)" if near else ""
    return f"{expected}, got {_shown(value)}{hint}"


def _scalar(value: object) -> str:
    """A value as the file writes it: ``null``, ``true``, ``1.5``, ``'text'``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _number(bound: object) -> str:
    """A limit as a person writes it: ``1``, not ``1.0``."""
    if isinstance(bound, float) and bound.is_integer() and abs(bound) < 1e15:
        return str(int(bound))
    return str(bound)


# pydantic's bound errors ("Input should be less than or equal to 1"), in plain words.
_BOUNDS = {
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "more than"),
}


# What a pydantic type error of a scalar asks for, in a file's words.
_SCALARS = {
    "int_type": "a whole number",
    "float_type": "a number",
    "string_type": "text",
    "bool_type": "true or false",
}


def _shows(message: str, value: str | float | bool) -> bool:
    """Whether ``message`` already says what was written (``got ...``, the value quoted,
    or a number standing on its own), so that ``explain`` does not say it twice."""
    if "got" in message:
        return True
    if isinstance(value, str):
        return repr(value) in message or f'"{value}"' in message
    return re.search(rf"(?<![\w.'\"]){re.escape(repr(value))}(?![\w.'\"])", message) is not None


def explain(error: ErrorDetails | Mapping[str, Any], show_value: Callable[[str], str] = str) -> str:
    """What a pydantic validation error says, in the words every loader shares, with the
    value written when it is a scalar (``show_value`` hides what must not be shown of a
    value written as text, such as a password in a URL). The caller adds file, line and
    field, and says an unknown key or an unknown or missing ``type`` itself
    (``unknown_key``, ``unknown_type``, ``missing_type``): only it knows the keys and
    the types of its places."""
    kind = error["type"]
    value = error.get("input")
    if isinstance(value, str):
        value = show_value(value)
    if kind == "missing":
        return MISSING_KEY
    if kind in _SCALARS and isinstance(value, Mapping | list | tuple):
        # pydantic's "Input should be a valid number" does not say what was written.
        shape = "a mapping" if isinstance(value, Mapping) else "a list"
        return f"expected {_SCALARS[kind]}, got {shape}"
    if kind == "string_type" and isinstance(value, bool | int | float):
        # An unquoted true or 1 is read as a boolean or a number, where text belongs (a
        # label value): pydantic's "Input should be a valid string" does not say so.
        shown = str(value).lower() if isinstance(value, bool) else repr(value)
        return f'expected text, got {shown} unquoted (quote it: "{shown}")'
    if kind in ("bool_type", "bool_parsing"):
        return not_a_boolean(value)
    if kind == "literal_error":
        return not_a_choice(error.get("ctx") or {}, value)
    if kind in _BOUNDS and _BOUNDS[kind][0] in (error.get("ctx") or {}):
        name, words = _BOUNDS[kind]
        return f"must be {words} {_number(error['ctx'][name])}, got {_scalar(value)}"
    if kind in ("int_type", "float_type", "int_parsing", "float_parsing") and isinstance(
        value, str
    ):
        return not_a_number(value, whole=kind in ("int_type", "int_parsing"))
    if kind == "string_type":
        return f"expected text, got {_scalar(value)}"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling)"
    if kind == "int_type" and type(value) is float:
        return not_a_whole_number(value)
    message = expected_shape(kind) or str(error["msg"]).removeprefix("Value error, ")
    if isinstance(value, str | int | float | bool) and not _shows(message, value):
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return f"{message} (got {shown})"
    return message


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
