"""One run whose verification fails to be checked does not stop the others.

An error that is not a ``TransientError`` (a bug, a stored check that cannot be read)
raised while checking one run being verified used to end the cycle, at every cycle: the
runs after it were never judged. It is now logged with the run and its traceback,
counted in ``autonomic_errors_total{kind="Unexpected"}``, and the others go on; the run
stays verifying, checked again at the next cycle (not failed, nor undone, for
Autonomic's own error)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.ledger.schema import tables
from agent.remediation_engine import STUCK_AFTER, STUCK_KIND
from tests.unit.engine.harness import Rig, restarted, status_of
from tests.unit.engine.test_execute_each import _cycle, _two_approved, _unexpected


def test_a_run_whose_verification_cannot_be_checked_does_not_stop_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    r, first, second = _two_approved(tmp_path)
    _cycle(r)
    assert (status_of(r, first), status_of(r, second)) == ("verifying", "verifying")
    record = r.ledger.get_decision(first)
    assert record is not None
    broken = dict(record.proposal, verification={"checks": [{"kind": "promql"}]})
    table = tables["decisions"]
    with r.ledger.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == first).values(proposal=broken))
    caplog.set_level(logging.ERROR, logger="autonomic.remediation")
    for _ in range(10):  # raised here before, at every cycle: the second never judged
        _cycle(r)
    assert status_of(r, second) == "verified"
    assert status_of(r, first) == "verifying"
    assert _unexpected(r) == 10.0
    said = [rec for rec in caplog.records if first in rec.getMessage()]
    assert len(said) == 10 and said[0].exc_info is not None
    assert said[0].getMessage().startswith("verifying run ")
    assert "it stays verifying, checked again at the next cycle" in said[0].getMessage()
    assert r.ledger.intents(decision_id=first)[0].status == "applied"  # nothing undone


def _rows(r: Rig, decision: str, kind: str) -> list[dict[str, Any]]:
    return [row for row in r.ledger.feedback_for(decision) if row["kind"] == kind]


def test_a_run_whose_verification_keeps_failing_is_handed_to_a_person_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    r, first, second = _two_approved(tmp_path)
    _cycle(r)
    assert (status_of(r, first), status_of(r, second)) == ("verifying", "verifying")
    (execution,) = [e for e in r.ledger.executions(["verifying"]) if e["decision_id"] == first]
    key = execution["key"]
    real = r.engine._verify

    def verify(record: Any, run: str) -> str:
        if record.id == first:
            raise KeyError("checks")
        return real(record, run)

    monkeypatch.setattr(r.engine, "_verify", verify)
    _cycle(r)  # the first failure
    since = r.clock.now()
    for _ in range(19):  # 3 cycles in a row, and more, but not yet 10 minutes
        _cycle(r)
    assert r.clock.now() - since < STUCK_AFTER
    assert _rows(r, first, "escalation") == []
    _cycle(r)  # 10 minutes: before, only the error line at each cycle, for ever
    (escalated,) = _rows(r, first, "escalation")
    why = escalated["detail"]["why"]
    assert why.startswith(f"remediation stuck: run {key} of decision {first} (")
    assert "the check of its verification has failed at 21 remediation cycles in a row" in why
    assert "last with KeyError: 'checks'" in why
    assert "nothing was undone, and Deployment/shop/" in why and "stays taken by it" in why
    (stuck,) = _rows(r, first, STUCK_KIND)
    assert stuck["outcome"] == "escalated"
    assert stuck["detail"]["run"] == key and stuck["detail"]["failing"] == "verification"
    assert stuck["detail"]["error"] == "KeyError: 'checks'"
    for _ in range(30):  # still failing: tried again, not escalated again
        _cycle(r)
    assert len(_rows(r, first, "escalation")) == 1
    r = restarted(r)  # nor by a new process, or a new leader: the ledger says it was
    monkeypatch.setattr(r.engine, "_verify", verify)
    for _ in range(30):
        _cycle(r)
    assert len(_rows(r, first, "escalation")) == 1
    assert status_of(r, first) == "verifying"  # left as it is: nothing undone
    assert r.ledger.intents(decision_id=first)[0].status == "applied"
    assert status_of(r, second) == "verified"


def test_a_check_that_goes_through_in_between_starts_the_count_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r, first, _ = _two_approved(tmp_path)
    _cycle(r)
    failing = True

    def verify(record: Any, run: str) -> str:
        if record.id == first and failing:
            raise KeyError("checks")
        return "verifying"  # went through, not settled yet

    monkeypatch.setattr(r.engine, "_verify", verify)
    for _ in range(18):  # 9 minutes
        _cycle(r)
    failing = False
    _cycle(r)
    failing = True
    for _ in range(18):  # 9 minutes more: 18.5 since the first failure, none in a row
        _cycle(r)
    assert _rows(r, first, "escalation") == []
    for _ in range(3):
        _cycle(r)
    assert len(_rows(r, first, "escalation")) == 1


def test_an_escalation_that_fails_is_tried_again_after_as_long_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r, first, _ = _two_approved(tmp_path)
    _cycle(r)

    def verify(record: Any, run: str) -> str:
        if record.id == first:
            raise KeyError("checks")
        return "verifying"

    monkeypatch.setattr(r.engine, "_verify", verify)
    real = r.decisions.approvals.escalate
    refused: list[str] = []

    def escalate(decision_id: str, why: str, now: float) -> str:
        if not refused:
            refused.append(decision_id)
            raise RuntimeError("a bug in the escalation")
        return real(decision_id, why, now)

    monkeypatch.setattr(r.decisions.approvals, "escalate", escalate)
    for _ in range(21):  # 10 minutes: its escalation raises
        _cycle(r)
    assert refused == [first] and _rows(r, first, STUCK_KIND) == []
    assert _unexpected(r) == 22.0  # each check, and the escalation
    for _ in range(19):  # not at each cycle: once it has failed as long again
        _cycle(r)
    assert _rows(r, first, "escalation") == []
    _cycle(r)
    assert len(_rows(r, first, "escalation")) == len(_rows(r, first, STUCK_KIND)) == 1
