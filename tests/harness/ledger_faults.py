"""A ledger that goes away right after it closes a decision, for tests that a closing and
its why are written together (one transaction), not as two writes a failure can split."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agent.errors import TransientError

WRITES = ("transition", "add_feedback", "put_guard")


class GoneAfterClosing:
    """From the moment ``ledger.transition`` moves a decision to ``status``, the listed
    ledger methods raise ``TransientError`` (reason ``LedgerUnavailable``), as a database
    failing over would; ``back()`` brings the ledger back. ``happened`` says whether the
    closing took place (so a test cannot pass on a run that never reached it)."""

    def __init__(self, ledger: Any, status: str, methods: Iterable[str] = WRITES) -> None:
        self.ledger, self.status = ledger, status
        self.methods = tuple(methods)
        self.happened = False
        for name in self.methods:
            self._wrap(name)

    def _wrap(self, name: str) -> None:
        real = getattr(self.ledger, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.happened:
                raise TransientError("the ledger is unreachable", reason="LedgerUnavailable")
            result = real(*args, **kwargs)
            if name == "transition" and result and self.status in args:
                self.happened = True
            return result

        setattr(self.ledger, name, call)

    def back(self) -> None:
        for name in self.methods:
            delattr(self.ledger, name)
