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

import pytest
import sqlalchemy as sa

from agent.ledger.schema import tables
from tests.unit.engine.test_execute_each import _cycle, _status, _two_approved, _unexpected


def test_a_run_whose_verification_cannot_be_checked_does_not_stop_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    r, first, second = _two_approved(tmp_path)
    _cycle(r)
    assert (_status(r, first), _status(r, second)) == ("verifying", "verifying")
    record = r.ledger.get_decision(first)
    assert record is not None
    broken = dict(record.proposal, verification={"checks": [{"kind": "promql"}]})
    table = tables["decisions"]
    with r.ledger.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == first).values(proposal=broken))
    caplog.set_level(logging.ERROR, logger="autonomic.remediation")
    for _ in range(10):  # raised here before, at every cycle: the second never judged
        _cycle(r)
    assert _status(r, second) == "verified"
    assert _status(r, first) == "verifying"
    assert _unexpected(r) == 10.0
    said = [rec for rec in caplog.records if first in rec.getMessage()]
    assert len(said) == 10 and said[0].exc_info is not None
    assert said[0].getMessage().startswith("verifying run ")
    assert "it stays verifying, checked again at the next cycle" in said[0].getMessage()
    assert r.ledger.intents(decision_id=first)[0].status == "applied"  # nothing undone
