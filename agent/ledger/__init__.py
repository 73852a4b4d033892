"""The ledger: decisions, feedback, questions, intents, guards and model versions."""

from agent.ledger.store import (
    HELD_PREFIX,
    LATE_ANSWER_PREFIX,
    UNCORDONED_PREFIX,
    AlertDelivery,
    Decision,
    DecisionRecord,
    Feedback,
    HeldBack,
    HistoryRow,
    Intent,
    Ledger,
    LedgerError,
    Question,
    StoredAlert,
    is_hold,
    open_ledger,
)

__all__ = [
    "HELD_PREFIX",
    "LATE_ANSWER_PREFIX",
    "UNCORDONED_PREFIX",
    "AlertDelivery",
    "Decision",
    "DecisionRecord",
    "Feedback",
    "HeldBack",
    "HistoryRow",
    "Intent",
    "Ledger",
    "LedgerError",
    "Question",
    "StoredAlert",
    "is_hold",
    "open_ledger",
]
