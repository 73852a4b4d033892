"""What a cycle's look at the firing alerts held back costs (``_requeue_held_alerts``):
a few ledger reads however many alerts fire, not a few per alert.

Every cycle looks at each firing, handled alert to see whether it is due to be taken in
again. Before, that read the ledger three times per alert (its incident's latest
decision, what held its runbook back, the runbook's latest decision on the target): a
storm of 1,000 alerts still firing cost ~3,000 queries at each cycle for as long as they
fired (``benchmarks/storm.py``: 87 s instead of 28). The alerts of ``storm.py``, fewer:
with the storm guard (denied by it, never retried) and without (held back by the
concurrency guard behind one run per service, retried every ``REASK_RETRY``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.remediation_engine import REASK_RETRY
from remediation.guards import GlobalLimits
from tests.integration.remediation.rig import KubeRig, build_rig
from tests.integration.remediation.storm import PER_POST, seed_services, storm_alerts

SERVICES = 3
ALERTS = 60


@contextmanager
def _reads(rig: KubeRig) -> Iterator[list[str]]:
    """The SELECT statements the ledger runs inside the block."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    sa.event.listen(rig.ledger.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(rig.ledger.engine, "before_cursor_execute", note)


@pytest.mark.parametrize("storm_guard", [True, False])
def test_a_scan_of_many_firing_alerts_reads_the_ledger_a_few_times(
    tmp_path: Path, storm_guard: bool
) -> None:
    limits = GlobalLimits() if storm_guard else GlobalLimits(storm_triggers_per_minute=100_000)
    rig = build_rig(tmp_path, auto=0.6, limits=limits)
    try:
        seed_services(rig, services=SERVICES, control=False)
        alerts = storm_alerts(rig)[:ALERTS]
        for start in range(0, ALERTS, PER_POST):
            assert rig.post_alerts(alerts[start : start + PER_POST]) == 200
            rig.clock.advance(PER_POST)
            rig.cycle()
        held = Counter(h.reason_code for h in rig.handled if h.outcome != "decided")
        # Held back by the storm guard (never retried) or behind a run in flight, or a
        # duplicate of a decision still open (both retried once that passes).
        assert set(held) == ({"Storm"} if storm_guard else set()) | {"Concurrency", "OpenDecision"}
        assert sum(held.values()) >= ALERTS - SERVICES
        rig.clock.advance(REASK_RETRY + 60)  # retried denials are due to be looked at
        rig.cycle()
        inbox = rig.engine.inbox
        assert inbox is not None
        firing = [row for row in inbox.firing_rows() if row.handled_at is not None]
        assert len(firing) >= ALERTS // 2
        snapshot = rig.engine.snapshot()
        with _reads(rig) as reads:
            rig.engine._requeue_held_alerts(snapshot, rig.clock.now())
        # The alerts' rows, their incidents' decisions at once, and per runbook and
        # service what held it back and its latest decision there: not one read or more
        # per alert.
        assert len(reads) <= 3 + 2 * SERVICES, len(reads)
    finally:
        rig.close()
