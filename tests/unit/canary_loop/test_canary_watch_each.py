"""One acted-on canary verdict that fails to be handed on, read back or checked does not
stop the others.

After a rollback or promotion is acted on, the canary loop watches the stable for an
hour to tell whether it stuck. An error that is not a ``TransientError`` (a bug, a
stored proposal it cannot read, a stable of a shape it does not expect) raised for one
verdict, while handing it on, reading it back after a restart or checking its stable,
used to end the canary cycle at every cycle: no verdict after it was handed on or
judged, and no canary judged. It is now counted in
``autonomic_errors_total{kind="Unexpected"}`` each time, logged with its traceback when
its error is new, and the other verdicts go on; the verdict is tried again at the next
cycle. A ``TransientError`` still ends the cycle."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.errors import TransientError
from agent.ledger import Ledger, open_ledger
from agent.ledger.schema import tables
from agent.sim.cluster import SimCluster, SimWorkload, Template
from remediation.ports import ObjectRef
from tests.unit.test_canary_route import CANARY, STABLE, Rig, approved_rollback

CART = ObjectRef("Deployment", "cart", "shop")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


@pytest.fixture
def rig(ledger: Ledger) -> Iterator[Rig]:
    """The canary loop with the search stable and a cart stable, and no canary to judge
    (only the verdicts recorded by the test are handed on and watched)."""
    made = Rig(ledger, 1.0)
    assert isinstance(made.cluster, SimCluster)
    made.cluster.remove_workload(CANARY)
    made.cluster.add_workload(SimWorkload(CART, 4, {1: Template("cart:3")}, 1, 80, 30))
    made.loop.metrics = made.metrics
    yield made
    made.close()


def _rollback(rig: Rig, stable: ObjectRef, status: str, **proposal: Any) -> str:
    """A rollback verdict on ``stable``'s canary (its release ``<name>:4`` rejected),
    recorded ten minutes ago, ``approved`` (routed auto) or ``done`` (acted on then)."""
    now = rig.clock.now()
    decision_id = rig.ledger.record_decision(
        approved_rollback(stable, route="auto", confidence=0.95, **proposal), now - 600.0
    )
    if status == "done":
        assert rig.ledger.transition(decision_id, ["approved"], "done", now - 600.0)
    return decision_id


def _mend(rig: Rig, decision_id: str) -> None:
    """The verdict's stored proposal readable again (its ``images`` a list)."""
    record = rig.ledger.get_decision(decision_id)
    assert record is not None
    proposal = dict(record.proposal, images=["cart:4"])
    table = tables["decisions"]
    with rig.ledger.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == decision_id).values(proposal=proposal))


def _outcomes(rig: Rig, decision_id: str) -> list[str]:
    return [
        row["outcome"]
        for row in rig.ledger.feedback_for(decision_id)
        if row["kind"] == "verification"
    ]


def _unexpected(rig: Rig) -> float:
    value = rig.metrics.registry.get_sample_value("autonomic_errors_total", {"kind": "Unexpected"})
    return value or 0.0


def _cycle(rig: Rig) -> None:
    rig.clock.advance(60)
    rig.loop.cycle()


def _said(caplog: pytest.LogCaptureFixture, decision_id: str) -> list[logging.LogRecord]:
    return [
        rec
        for rec in caplog.records
        if rec.levelno >= logging.ERROR and decision_id in rec.getMessage()
    ]


def test_a_watched_verdict_whose_check_fails_does_not_stop_the_others(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cart = _rollback(rig, CART, "done")
    search = _rollback(rig, STABLE, "done")
    _cycle(rig)  # read back after a restart: both watched
    assert set(rig.loop.watching) == {cart, search}
    real = rig.loop.cluster.get_workload

    def get_workload(ref: ObjectRef) -> Any:
        if ref == CART:
            raise RuntimeError("a stable of a shape nobody expected")
        return real(ref)

    monkeypatch.setattr(rig.loop.cluster, "get_workload", get_workload)
    assert isinstance(rig.cluster, SimCluster)
    rig.cluster.roll_out(STABLE, "search:4")  # the rejected release made the stable's anyway
    caplog.set_level(logging.ERROR, logger="autonomic")
    for _ in range(3):  # raised here before, at every cycle: search's never judged
        _cycle(rig)
    assert _outcomes(rig, search) == ["wrong"]
    assert _outcomes(rig, cart) == [] and cart in rig.loop.watching
    assert _unexpected(rig) == 3.0
    (said,) = _said(caplog, cart)  # once: the same error at each cycle
    assert said.exc_info is not None
    assert said.getMessage().startswith(f"checking canary decision {cart} (whether its rollback")
    assert "RuntimeError: a stable of a shape nobody expected" in said.getMessage()
    assert "it is still watched, checked again at the next cycle" in said.getMessage()
    monkeypatch.undo()
    rig.cluster.roll_out(CART, "cart:4")
    _cycle(rig)  # fixed: judged on what the stable runs
    assert _outcomes(rig, cart) == ["wrong"]
    assert _unexpected(rig) == 3.0


def test_a_verdict_whose_outcome_fails_to_be_recorded_does_not_stop_the_others(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cart = _rollback(rig, CART, "done")
    search = _rollback(rig, STABLE, "done")
    _cycle(rig)
    real = rig.decisions.record_outcome

    def record_outcome(decision_id: str, *args: Any, **kwargs: Any) -> bool:
        if decision_id == cart:
            raise RuntimeError("a verdict the ledger layer cannot take")
        return real(decision_id, *args, **kwargs)

    # The outcome is recorded before the question's final word is said (a failure in
    # the saying leaves it recorded): the recording is what fails here.
    monkeypatch.setattr(rig.decisions, "record_outcome", record_outcome)
    assert isinstance(rig.cluster, SimCluster)
    rig.cluster.roll_out(CART, "cart:4")
    rig.cluster.roll_out(STABLE, "search:4")
    caplog.set_level(logging.ERROR, logger="autonomic")
    _cycle(rig)  # raised here before
    assert _outcomes(rig, search) == ["wrong"]
    assert _outcomes(rig, cart) == [] and not rig.loop.watching
    assert _unexpected(rig) == 1.0
    (said,) = _said(caplog, cart)
    assert said.getMessage().startswith(f"recording the outcome of canary decision {cart}: ")
    assert "it is no longer watched, its outcome not recorded" in said.getMessage()


def test_a_verdict_that_cannot_be_read_back_does_not_stop_the_others(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    cart = _rollback(rig, CART, "done", images=5)  # a stored proposal it cannot read
    search = _rollback(rig, STABLE, "done")
    caplog.set_level(logging.ERROR, logger="autonomic")
    _cycle(rig)  # raised here before, at every cycle: nothing watched, no canary judged
    assert set(rig.loop.watching) == {search}
    assert _unexpected(rig) == 1.0
    (said,) = _said(caplog, cart)
    assert said.exc_info is not None
    assert said.getMessage().startswith(f"reading back canary decision {cart} (canary/rollback ")
    assert "TypeError: 'int' object is not iterable" in said.getMessage()
    _cycle(rig)  # read back again, still failing: counted, not logged again
    assert _unexpected(rig) == 2.0 and len(_said(caplog, cart)) == 1
    _mend(rig, cart)
    _cycle(rig)
    assert set(rig.loop.watching) == {cart, search}
    assert _unexpected(rig) == 2.0


def test_an_approved_verdict_that_fails_to_be_handed_on_does_not_stop_the_others(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    _cycle(rig)  # the verdicts acted on before a restart read back: none
    cart = _rollback(rig, CART, "approved", images=5)
    search = _rollback(rig, STABLE, "approved")
    # Sent to the runbooks by this process when recorded (``_announce``): one it did not
    # send is sent at hand-on (test_canary_crash_restart.py), and this canary is gone.
    rig.loop._announced |= {cart, search}
    caplog.set_level(logging.ERROR, logger="autonomic")
    _cycle(rig)  # raised here before, at every cycle, in the first one's watch
    assert set(rig.loop.watching) == {search}
    assert rig.ledger.get_decision(search).status == "done"  # type: ignore[union-attr]
    assert _unexpected(rig) == 1.0
    (said,) = _said(caplog, cart)
    assert said.exc_info is not None
    assert said.getMessage().startswith(f"handing on canary decision {cart} (canary/rollback ")
    # Marked done before its watch failed: read back at the next cycle, as after a
    # restart, and watched once it can be read.
    _mend(rig, cart)
    _cycle(rig)
    assert set(rig.loop.watching) == {cart, search}
    assert _unexpected(rig) == 1.0


def test_a_transient_error_in_one_watch_still_ends_the_cycle(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    cart = _rollback(rig, CART, "done")
    _cycle(rig)
    assert cart in rig.loop.watching

    def get_workload(ref: ObjectRef) -> Any:
        raise TransientError("the API server is unreachable")

    monkeypatch.setattr(rig.loop.cluster, "get_workload", get_workload)
    with pytest.raises(TransientError):
        _cycle(rig)
    assert _unexpected(rig) == 0.0
