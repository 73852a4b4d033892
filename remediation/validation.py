"""What pydantic's validation errors have to say to a person, without their echoes.

A list whose items failed validation is also reported as "too short" at the list itself:
the same problem said twice, once without its cause. The three YAML loaders (runbooks,
the daemon's settings, simulation scenarios) keep only the errors that are causes.
"""

from __future__ import annotations

from pydantic_core import ErrorDetails

__all__ = ["causes"]


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
