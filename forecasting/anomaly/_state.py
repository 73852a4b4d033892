"""Helpers to turn detector state into plain JSON values and back (NaN travels as ``null``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["StateError", "decode_float", "decode_floats", "encode_float", "encode_floats"]


class StateError(ValueError):
    """Saved detector state cannot be restored; the message says which field is wrong."""


def encode_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def decode_float(value: Any, field: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StateError(f"state field {field!r} must be a number or null, got {value!r}")
    return float(value)


def encode_floats(values: Iterable[float]) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values]


def decode_floats(values: Any, field: str) -> list[float]:
    if not isinstance(values, list):
        raise StateError(f"state field {field!r} must be a list")
    return [decode_float(v, field) for v in values]


def require(state: Any, key: str) -> Any:
    if not isinstance(state, dict) or key not in state:
        raise StateError(f"saved detector state has no field {key!r}")
    return state[key]
