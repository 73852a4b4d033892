"""A decision service over a real ledger, answered through the ledger-only channel with
every follow-up run at once (no worker thread), for tests of what the ledger then says."""

from __future__ import annotations

from collections.abc import Callable

from agent.approvals import Approvals, Dispatcher, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.ledger import Ledger
from agent.observability import Metrics
from agent.settings import RoutingSettings


class InlineDispatcher(Dispatcher):
    def submit(self, task: Callable[[], None]) -> None:
        task()


def inline_service(ledger: Ledger, clock: FakeClock, routing: RoutingSettings) -> DecisionService:
    approvals = Approvals(
        ledger,
        LedgerOnlyChannel(ledger, clock.now),
        ttl=900,
        snooze=1800,
        dispatcher=InlineDispatcher(),
    )
    return DecisionService(
        ledger, clock, routing, mode="act", approvals=approvals, metrics=Metrics()
    )
