"""Shared building blocks of the runbook schema: the strict base model and field types.

Every schema model forbids unknown keys (a typo fails loudly instead of being ignored),
is strict about types (``"3"`` is not ``3``) and is frozen (a loaded runbook is a value).
Durations, quantities, matchers and comparisons are written as short strings in YAML and
parsed once, at load time, into the form the engine uses.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Any, Literal, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from remediation.digits import ascii_digits, unseen_character
from remediation.durations import DURATION_PATTERN, format_duration, parse_duration
from remediation.matchers import LabelMatcher, parse_matcher
from remediation.quantity import QUANTITY_PATTERN, parse_quantity

__all__ = [
    "Comparison",
    "ComparisonField",
    "Duration",
    "Matcher",
    "Quantity",
    "RunbookModel",
    "Step",
    "StepField",
    "counted",
    "expected_shape",
    "freeze_lists",
    "not_a_number",
    "not_a_whole_number",
    "parse_comparison",
    "parse_step",
]


# The YAML shape a pydantic type error asked for, in YAML's words: pydantic says "a valid
# tuple" for a list and names a Python class for a mapping, neither of which a file shows.
_LIST = "expected a list, such as [a, b] or one '- item' per line"
_MAPPING = "expected a mapping, such as {key: value} or one 'key: value' per line"
_SHAPES = {
    "tuple_type": _LIST,
    "list_type": _LIST,
    "model_type": _MAPPING,
    "model_attributes_type": _MAPPING,
    "dict_type": _MAPPING,
}


def expected_shape(error_type: str) -> str | None:
    """The message for a pydantic error of type ``error_type`` that a value is not a list
    or not a mapping; None for any other error."""
    return _SHAPES.get(error_type)


# What YAML (1.2, as runbooks read it and as the configuration reads numbers) takes as a
# number when it is written without quotes.
_NUMBER_TEXT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_WHOLE_NUMBER_TEXT = re.compile(r"^[-+]?[0-9]+$")


def not_a_number(value: str, *, whole: bool = False) -> str:
    """The message for text written where a number belongs (``whole``: an integer), as
    the configuration and runbooks both say it::

        expected a number, got the string "0.9" (remove the quotes)

    The hint is given only when the text without its quotes would be that number.
    """
    shown = json.dumps(value if len(value) <= 40 else value[:37] + "...", ensure_ascii=False)
    pattern = _WHOLE_NUMBER_TEXT if whole else _NUMBER_TEXT
    hint = " (remove the quotes)" if pattern.match(value.strip()) else ""
    return f"expected {'a whole number' if whole else 'a number'}, got the string {shown}{hint}"


def counted(count: int, noun: str) -> str:
    """A count a person reads, with its noun in the number it takes: ``1 pod``,
    ``2 pods``, ``0 pods`` (for nouns that take an ``s``: pod, node, replica)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def not_a_whole_number(value: float) -> str:
    """The message for a fraction written where a whole number belongs, as the
    configuration and runbooks both say it::

        expected a whole number, got 10.0 (write it as 10)

    The hint is given only when the value is whole (``10.0``, ``1e3``); ``10.5`` is named.
    """
    hint = f" (write it as {int(value)})" if math.isfinite(value) and value.is_integer() else ""
    return f"expected a whole number, got {value!r}{hint}"


def freeze_lists(value: Any) -> Any:
    """Lists become tuples so the strict schema accepts them as its immutable sequences."""
    if isinstance(value, list):
        return tuple(freeze_lists(item) for item in value)
    if isinstance(value, dict):
        return {key: freeze_lists(item) for key, item in value.items()}
    return value


class RunbookModel(BaseModel):
    """Base of every runbook schema model: strict, closed, immutable.

    Python attributes are snake_case; YAML keys are their camelCase aliases, and only the
    aliases are accepted when loading, so a runbook spells every key one way.
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
        use_attribute_docstrings=True,
        regex_engine="python-re",
    )


def _to_seconds(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"a duration must be a string such as '30s', '5m' or '2h', not {value!r}")
    if isinstance(value, (int, float)):
        # Python callers may pass seconds; YAML authors must write units.
        raise ValueError(
            f"write the duration with a unit, e.g. '{value}s' or '{value}m', not a bare number"
        )
    return parse_duration(value)


Duration = Annotated[
    float,
    BeforeValidator(_to_seconds),
    PlainSerializer(format_duration, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": DURATION_PATTERN, "examples": ["30s", "5m", "2h"]}
    ),
]
"""A duration written with units (``30s``, ``5m``, ``2h``), held as float seconds."""


def _check_quantity(value: str) -> str:
    parse_quantity(value)
    return value


Quantity = Annotated[
    str,
    AfterValidator(_check_quantity),
    WithJsonSchema({"type": "string", "pattern": QUANTITY_PATTERN, "examples": ["2Gi", "500m"]}),
]
"""A Kubernetes quantity (``256Mi``, ``2Gi``, ``500m``), kept as written and checked at load."""


Matcher = Annotated[
    LabelMatcher,
    PlainValidator(parse_matcher),
    PlainSerializer(str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r'^\s*[A-Za-z_][A-Za-z0-9_]*\s*(=~|!~|!=|=)\s*".*"\s*$',
            "examples": ['severity="critical"', 'namespace=~"shop|checkout"'],
        }
    ),
]
"""A Prometheus-style label matcher string, compiled at load time."""


CompareOp = Literal["<", "<=", ">", ">=", "==", "!="]
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
# The spaces the patterns take, spelled out: a JSON Schema validator (an editor) reads
# ``\s`` as any Unicode space, a no-break space included, which the loader refuses.
_SPACE = r"[ \t\n\r\f\v]"
COMPARISON_PATTERN = (
    rf"^{_SPACE}*(<=|>=|==|!=|<|>){_SPACE}*"
    rf"([-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?){_SPACE}*$"
)
_COMPARISON = re.compile(COMPARISON_PATTERN, re.ASCII)


@dataclass(frozen=True)
class Comparison:
    """``value <op> threshold``, e.g. ``< 0.05``; NaN never satisfies a comparison."""

    op: CompareOp
    threshold: float

    def holds(self, value: float) -> bool:
        if math.isnan(value):  # no data is never "healthy"
            return False
        return _OPERATORS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.op} {self.threshold:g}"


def parse_comparison(text: Any) -> Comparison:
    """Parse ``"< 0.05"`` / ``">= 1"``; raise ``ValueError`` with an example otherwise."""
    if isinstance(text, Comparison):
        return text
    if not isinstance(text, str):
        raise ValueError(f"a condition must be a string such as '< 0.05' or '>= 1', not {text!r}")
    found = _COMPARISON.fullmatch(text)
    if found is None:
        raise ValueError(
            f"{text!r} is not a condition; write an operator (< <= > >= == !=) and a number, "
            f"e.g. '< 0.05'{unseen_character(text)}"
        )
    threshold = float(found.group(2))
    if threshold in (float("inf"), float("-inf")):
        raise ValueError(f"{text!r}: the number is out of range")
    return Comparison(op=cast(CompareOp, found.group(1)), threshold=threshold)


ComparisonField = Annotated[
    Comparison,
    PlainValidator(parse_comparison),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "pattern": COMPARISON_PATTERN, "examples": ["< 0.05"]}),
]


STEP_PATTERN = rf"^{_SPACE}*(\+[0-9]+|[0-9]+(\.[0-9]+)?%){_SPACE}*$"
_STEP = re.compile(STEP_PATTERN, re.ASCII)
_MAX_PERCENT = 1000.0
_MAX_COUNT = 10_000


@dataclass(frozen=True)
class Step:
    """How much a ceiling grows: by a share of itself (``percent``, from ``"50%"``) or by
    a count (``count``, from ``"+5"``); exactly one is set."""

    percent: float | None = None
    count: int | None = None

    def grow(self, current: int) -> int:
        """``current`` grown by this step, a share rounded up to a whole replica."""
        if self.count is not None:
            return current + self.count
        # Exact arithmetic: 10 grown by 30% is 13, not 13.000000000000002 rounded up to 14.
        share = Fraction(str(self.percent or 0.0)) / 100
        return math.ceil(current * (1 + share))

    def __str__(self) -> str:
        return f"+{self.count}" if self.count is not None else f"{self.percent:g}%"


def parse_step(text: Any) -> Step:
    """Parse ``"50%"`` or ``"+5"``; raise ``ValueError`` with an example otherwise."""
    if isinstance(text, Step):
        return text
    example = "write a share such as '50%' or a count such as '+5'"
    if isinstance(text, bool) or not isinstance(text, str):
        whole = isinstance(text, int) and not isinstance(text, bool)
        hint = f" (for {text} more, write '+{text}')" if whole else ""
        raise ValueError(f"expected a string: {example}, not {text!r}{hint}")
    found = _STEP.fullmatch(text)
    if found is None:
        bare = text.strip()
        shown = f" ('+{bare}' for {bare} more, '{bare}%' for {bare}% more)"
        hint = shown if ascii_digits(bare, len(str(_MAX_COUNT))) else ""
        raise ValueError(f"{text!r} is not a step; {example}{hint}{unseen_character(text)}")
    value = found.group(1)
    if value.startswith("+"):
        # int() of thousands of digits is past its limit (a ValueError of its own words)
        digits = value[1:].lstrip("0") or "0"
        count = int(digits) if len(digits) <= len(str(_MAX_COUNT)) else _MAX_COUNT + 1
        if not 1 <= count <= _MAX_COUNT:
            raise ValueError(f"{text!r}: the count must be from +1 to +{_MAX_COUNT}")
        return Step(count=count)
    percent = float(value[:-1])
    if not 0 < percent <= _MAX_PERCENT:
        raise ValueError(f"{text!r}: the share must be above 0% and at most {_MAX_PERCENT:g}%")
    return Step(percent=percent)


StepField = Annotated[
    Step,
    PlainValidator(parse_step),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "pattern": STEP_PATTERN, "examples": ["50%", "+5"]}),
]
"""A growth step written as a share (``50%``) or a count (``+5``), parsed at load time."""
