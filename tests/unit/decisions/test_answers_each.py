"""One answer, or one late question, whose handling fails does not stop the others.

``sync_answers`` applies answers recorded elsewhere (the CLI, another replica), and
``repost_unposted`` posts to the chat, once it answers, the questions it refused: both
run at every remediation cycle, before anything approved runs. An error that is not a
``TransientError`` (nor, for a post, an ``AutonomicError``: the chat failing still stops
the round) in one of them used to end the cycle at every cycle. It is now logged with
the question and its traceback, counted in ``autonomic_errors_total{kind="Unexpected"}``,
and the others go on; the failed one is tried again at the next cycle."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.approvals import FallbackChannel, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.ledger import DecisionRecord, Ledger, Question, open_ledger
from tests.unit.decisions.test_decision_service import RecordingChannel, proposal, service


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


def _unexpected(decisions: DecisionService) -> float:
    value = decisions.metrics.registry.get_sample_value(
        "autonomic_errors_total", {"kind": "Unexpected"}
    )
    return value or 0.0


def _status(ledger: Ledger, decision: str) -> str:
    record = ledger.get_decision(decision)
    assert record is not None
    return record.status


def test_an_answer_that_fails_to_be_applied_does_not_stop_the_others(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(1000)
    decisions = service(ledger, RecordingChannel(), clock)
    first = decisions.decide(proposal(0.95, subject="Deployment/shop/a"))
    second = decisions.decide(proposal(0.95, subject="Deployment/shop/b"))
    decisions.sync_answers()
    clock.advance(30)
    for routed in (first, second):  # answered from the CLI, in another process
        assert ledger.answer(routed.question_id or "", "approved", "cli:bob", clock.now())
    real = decisions.handle_answer

    def handle_answer(question_id: str, *args: Any) -> bool:
        if question_id == first.question_id:
            raise KeyError("routing")
        return real(question_id, *args)

    monkeypatch.setattr(decisions, "handle_answer", handle_answer)
    caplog.set_level(logging.ERROR)
    assert decisions.sync_answers() == 1  # raised here before: the second not applied
    assert (_status(ledger, first.decision_id), _status(ledger, second.decision_id)) == (
        "asked",
        "approved",
    )
    assert _unexpected(decisions) == 1.0
    (said,) = [
        rec
        for rec in caplog.records
        if rec.levelno == logging.ERROR and str(first.question_id) in rec.getMessage()
    ]
    assert said.exc_info is not None and "KeyError: 'routing'" in said.getMessage()
    clock.advance(600)  # the failed one is read again, however long it took
    monkeypatch.undo()
    assert decisions.sync_answers() == 1
    assert _status(ledger, first.decision_id) == "approved"


class _Flaky(RecordingChannel):
    """A chat that refuses every post while ``broken``; then its message for the
    decisions in ``bugged`` raises a bug."""

    def __init__(self) -> None:
        super().__init__(broken=True)
        self.bugged: set[str] = set()

    def ask(self, decision: DecisionRecord, question: Question) -> str:
        if decision.id in self.bugged:
            raise RuntimeError("a bug in the question's message")
        return super().ask(decision, question)


def test_a_late_question_that_fails_to_be_posted_does_not_stop_the_others(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(1000)
    chat = _Flaky()
    decisions = service(ledger, FallbackChannel(chat, LedgerOnlyChannel(ledger, clock.now)), clock)
    decisions.approvals.clock = clock.now
    first = decisions.decide(proposal(0.95, subject="Deployment/shop/a"))
    second = decisions.decide(proposal(0.95, subject="Deployment/shop/b"))
    assert not first.delivered and not second.delivered
    chat.broken = False
    chat.bugged.add(first.decision_id)
    caplog.set_level(logging.ERROR)
    clock.advance(120)
    assert decisions.repost_unposted() == 1  # raised here before: the second not posted
    assert [decision for decision, _ in chat.asked] == [second.decision_id]
    assert _unexpected(decisions) == 1.0
    (said,) = [
        rec
        for rec in caplog.records
        if rec.levelno == logging.ERROR and str(first.question_id) in rec.getMessage()
    ]
    assert said.exc_info is not None
    assert "RuntimeError: a bug in the question's message" in said.getMessage()
    chat.bugged.clear()
    clock.advance(120)
    assert decisions.repost_unposted() == 1
    assert [decision for decision, _ in chat.asked] == [second.decision_id, first.decision_id]


def test_an_answer_written_long_after_its_click_is_still_applied(ledger: Ledger) -> None:
    """An answer is stamped when the click came in; a slow ledger (retries on a locked
    database) or a replica whose clock runs behind writes it later. If the replica that
    wrote it died before applying it, the leader's sync read answers only from its last
    round less a minute, so this one, stamped before that, was never read: its decision
    stayed "asked" until a restart."""
    clock = FakeClock(1000)
    decisions = service(ledger, RecordingChannel(), clock)
    routed = decisions.decide(proposal(0.95, subject="Deployment/shop/a"))
    clicked = clock.now() + 10
    clock.advance(300)
    assert decisions.sync_answers() == 0  # the round before the answer is written
    clock.advance(30)
    assert ledger.answer(routed.question_id or "", "approved", "slack:bob", clicked)
    assert decisions.sync_answers() == 1
    assert _status(ledger, routed.decision_id) == "approved"
    assert decisions.sync_answers() == 0  # applied once
