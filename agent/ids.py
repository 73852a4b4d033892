"""How a person reads an id: a decision's, a question's or an observation's.

The CLI's listings and sentences and Slack's message text show its first
:data:`ID_CHARS` characters, as do most of the daemon's log lines (some still name the
whole id); ``explain``, ``undo``, ``feedback`` and ``approve``/``reject`` take either
back, a prefix being enough (one that several ids start with is refused, listing them
as :func:`distinct_ids` shows them). Machine-readable output (``--json``, the HTTP endpoints)
keeps the whole id.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

# On a ledger of a million decisions two share their first 12 characters about once in
# 600 ledgers; 8 was shared by some pair on a ledger of 100,000 more often than not
# (probability 0.69).
ID_CHARS = 12


def short_id(identifier: str) -> str:
    """The first :data:`ID_CHARS` characters of ``identifier``, as a person reads it."""
    return identifier[:ID_CHARS]


def distinct_ids(identifiers: Sequence[str]) -> list[str]:
    """``identifiers`` as a person reads them, each long enough to be told from the
    others: :data:`ID_CHARS` characters, more where two share their first ones (so that
    a message listing the ids a prefix matches never lists the same text twice)."""
    chars = ID_CHARS
    for first, second in itertools.combinations(set(identifiers), 2):
        shared = next(
            (n for n, (a, b) in enumerate(zip(first, second, strict=False)) if a != b),
            min(len(first), len(second)),
        )
        chars = max(chars, shared + 1)
    return [identifier[:chars] for identifier in identifiers]
