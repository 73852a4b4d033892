"""A canary verdict is handed on to the runbooks once, however often handing it on
fails after the signal went out.

Handing on a verdict a person approved sends it to the runbooks (a canary signal), then
marks its decision ``done``. When the mark failed (the ledger refused, an error), the
decision stayed ``approved`` and the next cycle sent the signal again, every cycle while
the mark kept failing: the engine takes queued signals as sent once ("not sent again by
their loops"), and a second copy is decided again if the first was denied or skipped.
It is now sent once per process (a restart, which loses the engine's queue, sends it
again), and only the mark is tried again. A failure before the mark no longer makes
the next cycle read back every verdict acted on in the last day: only one marked done
whose watch did not start is read back, alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.ledger import Ledger, open_ledger
from agent.sim.cluster import SimCluster, SimWorkload, Template
from remediation.ports import ObjectRef
from tests.unit.test_canary_route import CANARY, Rig, approved_rollback

CART = ObjectRef("Deployment", "cart", "shop")
CART_CANARY = ObjectRef("Deployment", "cart-canary", "shop")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


@pytest.fixture
def rig(ledger: Ledger) -> Iterator[Rig]:
    """The canary loop with a cart stable and its canary (not labelled as one: only the
    verdict recorded by the test is handed on, nothing is judged)."""
    made = Rig(ledger, 1.0)
    assert isinstance(made.cluster, SimCluster)
    made.cluster.remove_workload(CANARY)
    made.cluster.add_workload(SimWorkload(CART, 4, {1: Template("cart:3")}, 1, 80, 30))
    made.cluster.add_workload(SimWorkload(CART_CANARY, 1, {1: Template("cart:4")}, 1, 80, 30))
    made.loop.metrics = made.metrics
    yield made
    made.close()


def _approved(rig: Rig) -> str:
    """A rollback verdict on cart's canary (cart:4), approved by a person."""
    return rig.ledger.record_decision(approved_rollback(CART), rig.clock.now() - 60.0)


def _cycle(rig: Rig) -> None:
    rig.clock.advance(60)
    rig.loop.cycle()


def _sent(rig: Rig) -> list[Any]:
    return [s for s in rig.signals if s.kind == "canary" and s.target == CART_CANARY]


def test_a_verdict_whose_mark_fails_is_sent_to_the_runbooks_once(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cycle(rig)  # nothing acted on before to read back
    decision_id = _approved(rig)
    real = rig.ledger.transition

    def transition(did: str, expected: list[str], status: str, now: float) -> bool:
        if did == decision_id and status == "done":
            raise RuntimeError("the ledger refused the mark")
        return real(did, expected, status, now)

    monkeypatch.setattr(rig.ledger, "transition", transition)
    for _ in range(3):
        _cycle(rig)
    assert len(_sent(rig)) == 1  # 3 before: sent again at every cycle
    assert rig.ledger.get_decision(decision_id).status == "approved"  # type: ignore[union-attr]
    monkeypatch.undo()
    _cycle(rig)  # the mark goes through; still not sent again
    assert len(_sent(rig)) == 1
    assert rig.ledger.get_decision(decision_id).status == "done"  # type: ignore[union-attr]
    assert decision_id in rig.loop.watching


def test_a_hand_on_failing_before_the_mark_reads_back_no_verdict(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cycle(rig)
    decision_id = _approved(rig)
    reads: list[Any] = []
    real = rig.ledger.decisions

    def decisions(**kwargs: Any) -> Any:
        reads.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(rig.ledger, "decisions", decisions)
    monkeypatch.setattr(
        rig.loop, "_moved_on", lambda record: (_ for _ in ()).throw(RuntimeError("a bug"))
    )
    for _ in range(3):
        _cycle(rig)
    done = [r for r in reads if r.get("status") == ["done"]]
    assert done == []  # read back every cycle before: nothing was marked done
    assert _sent(rig) == []
    assert rig.ledger.get_decision(decision_id).status == "approved"  # type: ignore[union-attr]
