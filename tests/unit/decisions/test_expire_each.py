"""One unanswered question whose expiry fails does not stop the expiry of the others.

An error that is not a ``TransientError`` (a bug in the chat's escalation, a decision
that cannot be read) raised while expiring one question used to end the remediation
cycle at every cycle, before anything approved was settled or run: the other questions
never expired. It is now logged with the question's id and its traceback, counted in
``autonomic_errors_total{kind="Unexpected"}``, and the others go on; the question stays
pending, expired at the next cycle once its error is gone. A ``TransientError`` still
ends the pass."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.errors import TransientError
from agent.ledger import DecisionRecord, Ledger, open_ledger
from tests.unit.decisions.test_decision_service import RecordingChannel, proposal, service


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


class _Breaks(RecordingChannel):
    """Its escalation raises ``error`` for the decisions in ``broken``."""

    def __init__(self) -> None:
        super().__init__()
        self.broken_ids: set[str] = set()
        self.error: Exception = RuntimeError("a bug in the escalation message")

    def escalate(self, decision: DecisionRecord, why: str) -> str:
        if decision.id in self.broken_ids:
            raise self.error
        return super().escalate(decision, why)


def _unexpected(decisions: DecisionService) -> float:
    value = decisions.metrics.registry.get_sample_value(
        "autonomic_errors_total", {"kind": "Unexpected"}
    )
    return value or 0.0


def _two_due(ledger: Ledger) -> tuple[DecisionService, _Breaks, FakeClock, str, str]:
    channel, clock = _Breaks(), FakeClock(1000)
    decisions = service(ledger, channel, clock)
    first = decisions.decide(proposal(0.95, subject="Deployment/shop/a"))
    second = decisions.decide(proposal(0.95, subject="Deployment/shop/b"))
    assert first.route == second.route == "ask"
    clock.advance(601)
    return decisions, channel, clock, first.decision_id, second.decision_id


def _status(ledger: Ledger, decision: str) -> str:
    record = ledger.get_decision(decision)
    assert record is not None
    return record.status


def test_a_question_whose_expiry_fails_does_not_stop_the_others(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    decisions, channel, _, first, second = _two_due(ledger)
    channel.broken_ids.add(first)
    caplog.set_level(logging.ERROR)
    assert decisions.expire_due() == [second]  # raised here before: the second stayed asked
    assert (_status(ledger, first), _status(ledger, second)) == ("asked", "expired")
    assert _unexpected(decisions) == 1.0
    (question,) = ledger.questions_for([first])
    (said,) = [rec for rec in caplog.records if question.id in rec.getMessage()]
    assert said.exc_info is not None
    assert said.getMessage().startswith(f"the expiry of question {question.id} (decision {first})")
    assert "RuntimeError: a bug in the escalation message" in said.getMessage()
    assert "it stays pending, expired at the next cycle" in said.getMessage()
    channel.broken_ids.clear()
    assert decisions.expire_due() == [first]


def test_a_decision_whose_expiry_fails_to_be_applied_does_not_stop_the_others(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    decisions, _, _, first, second = _two_due(ledger)
    (question,) = ledger.questions_for([first])
    real = decisions.handle_answer

    def handle_answer(question_id: str, *args: Any) -> bool:
        if question_id == question.id:
            raise KeyError("routing")
        return real(question_id, *args)

    monkeypatch.setattr(decisions, "handle_answer", handle_answer)
    caplog.set_level(logging.ERROR)
    assert decisions.expire_due() == [second]
    assert _unexpected(decisions) == 1.0
    (said,) = [rec for rec in caplog.records if question.id in rec.getMessage()]
    assert said.exc_info is not None and "KeyError: 'routing'" in said.getMessage()
    monkeypatch.undo()
    decisions.sync_answers()  # the expiry is recorded: the next cycle applies it
    assert _status(ledger, first) == "expired"


def test_a_transient_error_still_ends_the_expiry(ledger: Ledger) -> None:
    decisions, channel, _, first, _ = _two_due(ledger)
    channel.broken_ids.add(first)
    channel.error = TransientError("the ledger failed: disk I/O error")
    with pytest.raises(TransientError):
        decisions.expire_due()
    assert _unexpected(decisions) == 0.0
