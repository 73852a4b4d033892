"""Argument types for numeric flags: numbers as a person types them, in ASCII.

``type=number_arg`` and ``type=whole_arg`` alone also read "٣" or "３" as 3, "1_000" as 1000 and
" 7 " as 7: a flag given in digits nobody meant, or a slip, ran with a value read from
it. These take what the flags document (a sign, ASCII digits, for a number a point and
an exponent) and argparse names the flag in the refusal. ``nan`` and ``inf`` (and an
overflowing ``1e999``) still reach each command's own range check, which refuses them
naming the flag as before.
"""

from __future__ import annotations

import argparse

from remediation.digits import ascii_digits, plain_number

__all__ = ["number_arg", "whole_arg"]

_SPELLED = frozenset({"nan", "inf", "infinity"})


def number_arg(text: str) -> float:
    """A flag's number: ``2``, ``-1.5``, ``1e3``; ``ArgumentTypeError`` for anything else."""
    if not plain_number(text) and text.lower().lstrip("+-") not in _SPELLED:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number; write it in ASCII digits, e.g. 2, 0.5 or 1e3"
        )
    return float(text)


def whole_arg(text: str) -> int:
    """A flag's whole number: ``50``, ``-1``; ``ArgumentTypeError`` for anything else."""
    if not ascii_digits(text.removeprefix("-"), 18):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number; write it in ASCII digits, e.g. 50"
        )
    return int(text)
