"""The canary loop's ledger reads per cycle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.ledger import open_ledger
from tests.unit.canary_loop.test_canary_loop import STABLE, rig, run_until_final


def test_a_cycle_reads_the_approved_and_asked_verdicts_in_one_ledger_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It used to be two reads, one per status, at every cycle; the asked verdict whose
    rollout was settled without its answer is still closed, from the one read."""
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    loop, _, clock, cluster = rig(ledger, canary_slowdown=1.0)
    run_until_final(loop, clock)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.status == "asked"  # a promotion below the automatic threshold
    reads: list[dict[str, Any]] = []
    read = ledger.decisions

    def counted(**filters: Any) -> Any:
        reads.append(filters)
        return read(**filters)

    monkeypatch.setattr(ledger, "decisions", counted)
    cluster.roll_out(STABLE, "search:4")  # promoted by hand: the stable runs the release judged
    clock.advance(60)
    loop.cycle()
    assert [(r["kind"], sorted(r["status"])) for r in reads] == [("canary", ["approved", "asked"])]
    closed = ledger.get_decision(decision.id)
    assert closed is not None and closed.status == "superseded"
    ledger.close()
