"""Helpers to turn detector state into plain JSON values and back.

A single number travels as a JSON number (NaN as ``null``). A long run of numbers (the
baseline's history ring, the contextual memory's columns) travels *packed*: a string
``"<dtype>:<base64 of the little-endian bytes>"``, e.g. ``"<f8:AAAA..."``. Packing is
what makes saving thousands of detectors affordable: a three-day ring of 4,320 floats is
46 KB of base64 written in microseconds, where a JSON list was 86 KB and milliseconds,
and reading it back creates one array instead of thousands of Python floats.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "StateError",
    "decode_float",
    "decode_floats",
    "encode_float",
    "encode_floats",
    "pack",
    "unpack",
]


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


def pack(values: npt.NDArray[Any]) -> str:
    """``values`` (a 1-d numeric array) as ``"<dtype>:<base64>"``, little-endian."""
    little = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<"))
    return f"{little.dtype.str}:{base64.b64encode(little.tobytes()).decode('ascii')}"


def unpack(value: Any, field: str, kinds: Iterable[str]) -> npt.NDArray[Any]:
    """The array packed in ``value`` (a writable native-order copy); ``kinds`` are the
    dtype codes accepted for ``field``, e.g. ``("<i4",)``."""
    if not isinstance(value, str):
        raise StateError(f"state field {field!r} must be a packed array string")
    code, sep, data = value.partition(":")
    accepted = tuple(kinds)
    if not sep or code not in accepted:
        raise StateError(f"state field {field!r} must be packed as one of {accepted}")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise StateError(f"state field {field!r} is not valid base64: {exc}") from exc
    dtype = np.dtype(code)
    if len(raw) % dtype.itemsize:
        raise StateError(f"state field {field!r} holds a partial {code} value")
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))
