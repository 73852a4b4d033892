"""Kubernetes resource quantities (``256Mi``, ``1.5Gi``, ``500m``, ``2``).

Memory limits are compared and multiplied in bytes and CPU in cores; both are parsed
exactly with ``Fraction`` so ``0.1`` CPU and ``100m`` are equal and no float rounding
decides whether a limit is "at the maximum".
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

__all__ = ["QUANTITY_PATTERN", "format_cpu", "format_memory", "parse_quantity"]

_SUFFIXES: dict[str, Fraction] = {
    "": Fraction(1),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}
QUANTITY_PATTERN = (
    r"^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
)
_QUANTITY = re.compile(QUANTITY_PATTERN)


def parse_quantity(text: str) -> Fraction:
    """Parse a Kubernetes quantity into base units (bytes, cores); ``ValueError`` if malformed."""
    if not isinstance(text, str):
        raise ValueError(f"a quantity must be a string such as '256Mi' or '500m', not {text!r}")
    match = _QUANTITY.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"{text!r} is not a Kubernetes quantity; write e.g. '256Mi', '2Gi', '500m' or '1.5'"
        )
    number, suffix = match.group(1), match.group(3) or ""
    value = Fraction(number)
    if suffix[:1] in ("e", "E"):
        exponent = int(suffix[1:])
        if abs(exponent) > 30:
            raise ValueError(f"{text!r}: exponent out of range")
        return value * Fraction(10) ** exponent
    return value * _SUFFIXES[suffix]


def format_memory(num_bytes: Fraction | int) -> str:
    """Render bytes in the largest whole binary unit (``402653184 -> 384Mi``)."""
    whole = math.ceil(num_bytes)
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        size = int(_SUFFIXES[suffix])
        if whole >= size and whole % size == 0:
            return f"{whole // size}{suffix}"
    return str(whole)


def format_cpu(cores: Fraction | int) -> str:
    """Render cores as whole cores or millicores (``Fraction(3, 2) -> '1500m'``)."""
    millis = math.ceil(Fraction(cores) * 1000)
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{millis}m"
