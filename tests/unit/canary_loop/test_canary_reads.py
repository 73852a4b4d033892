"""The canary loop's ledger reads per cycle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.ledger import open_ledger
from remediation.ports import UnreadObject, UnreadReporter
from tests.unit.canary_loop.test_canary_loop import CANARY, STABLE, rig, run_until_final


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


def test_a_canary_left_out_as_unreadable_is_not_said_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A canary the listing leaves out because it could not be read ends its analysis
    (it cannot be judged now), but the warning says it could not be read, with the
    reader's reason: not "it is gone", which would send the on-call looking for a
    deleted Deployment."""
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    loop, _, clock, cluster = rig(ledger, canary_slowdown=1.0)
    for _ in range(3):
        clock.advance(60)
        loop.cycle()
    assert CANARY in loop.current
    why = "Deployment shop/search-canary: spec.replicas is -1"
    listed = cluster.list_workloads

    def list_workloads(
        namespace: str | None = None, *, unread: list[UnreadObject] | None = None
    ) -> Any:
        if unread is not None:
            unread.append(UnreadObject(CANARY, why))
        return [w for w in listed(namespace) if w.ref != CANARY]

    monkeypatch.setattr(cluster, "list_workloads", list_workloads)
    monkeypatch.setattr(cluster, "list_volume_claims", lambda *a, **k: [], raising=False)
    monkeypatch.setattr(cluster, "objects_skipped", 1, raising=False)
    assert isinstance(cluster, UnreadReporter)
    clock.advance(60)
    with caplog.at_level("WARNING", logger="autonomic.canary"):
        loop.cycle()
    assert CANARY not in loop.current
    (said,) = [r.getMessage() for r in caplog.records if "not judged" in r.getMessage()]
    assert said == (
        f"canary {CANARY}: not judged: it could not be read ({why}): it is there, but its "
        "release and its pods are not known; judged again once it can be read"
    )
    ledger.close()
