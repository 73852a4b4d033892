"""What pydantic's validation errors have to say to a person, without their echoes, and
where: the field each is about, written as every loader writes it.

A list whose items failed validation is also reported as "too short" at the list itself:
the same problem said twice, once without its cause. The three YAML loaders (runbooks,
the daemon's settings, simulation scenarios) keep only the errors that are causes.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic_core import ErrorDetails

__all__ = ["causes", "field_path"]


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
