"""How a person reads an id: a decision's, a question's or an observation's.

The CLI's listings and sentences and Slack's message text show its first
:data:`ID_CHARS` characters, as do most of the daemon's log lines (some still name the
whole id); ``explain``, ``undo``, ``feedback`` and ``approve``/``reject`` take either
back, a prefix being enough. Machine-readable output (``--json``, the HTTP endpoints)
keeps the whole id.
"""

from __future__ import annotations

# On a ledger of a million decisions two share their first 12 characters about once in
# 600 ledgers; 8 was shared by some pair on a ledger of 100,000 more often than not
# (probability 0.69).
ID_CHARS = 12


def short_id(identifier: str) -> str:
    """The first :data:`ID_CHARS` characters of ``identifier``, as a person reads it."""
    return identifier[:ID_CHARS]
