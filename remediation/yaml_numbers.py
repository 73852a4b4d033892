"""How runbooks and the daemon's configuration read numbers in YAML: YAML 1.2's forms,
in ASCII digits, with the text YAML readers disagree on refused at its line.

Whole numbers are decimal (``17``), hex (``0x11``) or octal with YAML 1.2's prefix
(``0o21``). One written with a leading zero (``010``) is refused naming both readings:
YAML 1.2 reads it as 10, YAML 1.1 (PyYAML, the YAML of Kubernetes' tools) as octal 8
(``00`` and ``07``, the same either way, are read); the refusal says to quote it
where it is text (``namespace: 010``, a Slack channel ``0123``). Other numbers are written as people
write them (``2``, ``-1.5``, ``.5``, ``1e3``), or ``.inf``/``.nan``; ``1_000``, ``0b11``
and base-60 ``1:30`` are not numbers (YAML 1.1 reads them as 1000, 3 and 90). An
explicit ``!!int`` or ``!!float`` takes the same forms: Python's ``int`` and ``float``
alone would also read Arabic-Indic or full-width digits (``!!float ٣`` as 3.0) and
underscores (``!!float 1_0`` as 10.0).
"""

from __future__ import annotations

import math
import re

import yaml

from remediation.digits import plain_number

__all__ = ["read_numbers_strictly"]

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"

# A leading zero ("010") is an int here only to be refused by _construct_int.
_INT_TEXT = re.compile(r"^(?:[-+]?[0-9]+|0x[0-9a-fA-F]+|0o[0-7]+)$", re.ASCII)
_FLOAT_TEXT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    re.ASCII,
)
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]{0,3999})", re.ASCII)
_DIGITS = re.compile(r"[-+]?[0-9]+", re.ASCII)
_LEADING_ZERO = re.compile(r"([-+]?)0+([0-9]+)", re.ASCII)
_BASED = re.compile(r"0x[0-9a-fA-F]{1,16}|0o[0-7]{1,22}", re.ASCII)
_INFINITY = re.compile(r"([-+]?)\.(?:inf|Inf|INF)", re.ASCII)
_NAN = re.compile(r"\.(?:nan|NaN|NAN)", re.ASCII)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """A whole number as YAML 1.2 writes it: decimal ``17``, ``0x11`` or ``0o21``.

    ``010`` is 10 to YAML 1.2 but octal 8 to YAML 1.1, so it is refused, with both
    spellings, rather than read either way. Past 4000 digits ``int`` stops converting
    (its limit is 4300), so a longer number is refused here; a shorter one too large for
    its field is refused by the field's own bounds, which name it."""
    text = str(loader.construct_scalar(node))
    if _DECIMAL.fullmatch(text):
        return int(text)
    if _BASED.fullmatch(text):
        return int(text, 0)
    if (zero := _LEADING_ZERO.fullmatch(text)) and len(text) <= 19:
        sign, digits = zero.groups()
        if set(digits) <= set("01234567") and int(digits, 8) == int(digits):
            return int(sign + digits)  # 00, 07: the same number either way
        octal = (
            f" or {sign}0o{digits} for octal {sign}{int(digits, 8)}"
            if set(digits) <= set("01234567")
            else ""
        )
        problem = (
            f"{text!r}: a whole number with a leading zero is octal to some YAML readers "
            f"and decimal to others; write {sign}{int(digits)}{octal}, or quote it "
            f"({chr(34)}{text}{chr(34)}) if it is text (a name, a namespace, a label value)"
        )
    elif _DIGITS.fullmatch(text):
        problem = f"a whole number of {len(text.lstrip('+-'))} digits is too long to read"
    else:
        shown = text if len(text) <= 40 else text[:37] + "..."
        problem = (
            f"{shown!r} is not a whole number; write it in ASCII digits (17), in hex (0x11, "
            "at most 16 digits) or in octal (0o21, at most 22)"
        )
    raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    """A number as people write it (``2``, ``-1.5``, ``.5``, ``1e3``), or ``.inf`` or
    ``.nan``; one too large for a float (``1e999``) is refused rather than read as
    infinity."""
    text = str(loader.construct_scalar(node))
    if plain_number(text):
        value = float(text)
        if math.isfinite(value):
            return value
        problem = f"{text!r} is too large a number"
    elif infinity := _INFINITY.fullmatch(text):
        return -math.inf if infinity.group(1) == "-" else math.inf
    elif _NAN.fullmatch(text):
        return math.nan
    else:
        shown = text if len(text) <= 40 else text[:37] + "..."
        problem = f"{shown!r} is not a number; write it in ASCII digits (2, -1.5, .5 or 1e3)"
    raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


def read_numbers_strictly(loader: type[yaml.SafeLoader]) -> None:
    """Make ``loader`` (a SafeLoader subclass) read numbers as the module says: its int
    and float resolvers give way to YAML 1.2's, and ``!!int``/``!!float`` take only those
    forms. Its other resolvers (booleans, null, dates) are left as they are."""
    kept = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
        for first, resolvers in loader.yaml_implicit_resolvers.items()
    }
    loader.yaml_implicit_resolvers = {first: found for first, found in kept.items() if found}
    loader.add_implicit_resolver(_INT_TAG, _INT_TEXT, list("-+0123456789"))
    loader.add_implicit_resolver(_FLOAT_TAG, _FLOAT_TEXT, list("-+0123456789."))
    loader.add_constructor(_INT_TAG, _construct_int)
    loader.add_constructor(_FLOAT_TAG, _construct_float)
