"""The ledger: decisions, feedback, questions, intents, guards and model versions."""

from agent.ledger.store import (
    LATE_ANSWER_PREFIX,
    AlertDelivery,
    Decision,
    DecisionRecord,
    Feedback,
    HeldBack,
    Intent,
    Ledger,
    LedgerError,
    Question,
    StoredAlert,
    open_ledger,
)

__all__ = [
    "LATE_ANSWER_PREFIX",
    "AlertDelivery",
    "Decision",
    "DecisionRecord",
    "Feedback",
    "HeldBack",
    "Intent",
    "Ledger",
    "LedgerError",
    "Question",
    "StoredAlert",
    "open_ledger",
]
