"""The ledger: decisions, feedback, questions, intents, guards and model versions."""

from agent.ledger.store import (
    Decision,
    DecisionRecord,
    Intent,
    Ledger,
    LedgerError,
    Question,
    open_ledger,
)

__all__ = [
    "Decision",
    "DecisionRecord",
    "Intent",
    "Ledger",
    "LedgerError",
    "Question",
    "open_ledger",
]
