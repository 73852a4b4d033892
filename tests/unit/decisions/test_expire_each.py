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


class _MarkFails:
    """Stands in for ``ledger.expire_question``: raises ``error`` the first ``times``
    times for each question (``one``: only for the first it is given), then marks it."""

    def __init__(self, ledger: Ledger, times: int, error: Exception, *, one: bool = False) -> None:
        self.real = ledger.expire_question
        self.times = times
        self.error = error
        self.one = one
        self.calls: dict[str, int] = {}

    def __call__(self, question: Any, *args: Any, **kwargs: Any) -> Any:
        if self.one and self.calls and question.id not in self.calls:
            return self.real(question, *args, **kwargs)
        self.calls[question.id] = self.calls.get(question.id, 0) + 1
        if self.calls[question.id] <= self.times:
            raise self.error
        return self.real(question, *args, **kwargs)


@pytest.mark.parametrize(
    "error",
    [RuntimeError("a bug in the mark"), TransientError("the ledger failed: disk I/O error")],
    ids=["unexpected", "transient"],
)
def test_an_escalation_that_went_out_is_not_sent_again_while_its_mark_fails(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    decisions, channel, clock, first, second = _two_due(ledger)
    # The transient error ends the round at the first question: only its mark fails.
    transient = isinstance(error, TransientError)
    monkeypatch.setattr(ledger, "expire_question", _MarkFails(ledger, 5, error, one=transient))
    for _ in range(5):  # each round, the mark raises after the escalation went out
        if transient:
            with pytest.raises(TransientError):  # the round ends at its first question
                decisions.expire_due()
        else:
            decisions.expire_due()
        clock.advance(60)
    # Before: one escalation per round and question the mark failed for (10 with the
    # unexpected error; 5, all of one question, with the transient one).
    assert len(channel.escalated) == (1 if transient else 2)
    assert len({d for d, _ in channel.escalated}) == len(channel.escalated)
    assert _status(ledger, first) == _status(ledger, second) == "asked"
    assert sorted(decisions.expire_due()) == sorted([first, second])  # the marks go through
    assert sorted(d for d, _ in channel.escalated) == sorted([first, second])
    for decision, why in channel.escalated:
        (row,) = [f for f in ledger.feedback_for(decision) if f["kind"] == "escalation"]
        assert row["detail"]["why"] == why  # the words of the escalation that went out
    assert _status(ledger, first) == _status(ledger, second) == "expired"
    clock.advance(60)
    decisions.expire_due()
    assert len(channel.escalated) == 2


def test_a_restart_sends_an_escalation_whose_mark_failed_once_more(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Told twice at worst, never not at all: a new process cannot know the escalation
    went out, so it sends it again, once, before it marks the question."""
    decisions, channel, clock, first, second = _two_due(ledger)
    monkeypatch.setattr(ledger, "expire_question", _MarkFails(ledger, 6, RuntimeError("bug")))
    for _ in range(3):
        decisions.expire_due()
        clock.advance(60)
    assert sorted(d for d, _ in channel.escalated) == sorted([first, second])
    restarted = service(ledger, channel, clock)
    for _ in range(3):  # the mark fails three more times, in the new process
        restarted.expire_due()
        clock.advance(60)
    assert sorted(restarted.expire_due()) == sorted([first, second])
    assert sorted(d for d, _ in channel.escalated) == sorted([first, first, second, second])
