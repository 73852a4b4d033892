"""``RemediationEngine.paused`` is read from several threads: the remediation cycle's, the
scaling job's, the canary job's and the webhook server's (the canary endpoints). The
remediation cycle drops its cached read of the pause before each step of a run
(``_paused_afresh``); a read on another thread in between must still answer, not raise:
the canary endpoints take any error as "perhaps paused", hold the release and record an
escalated ``held/canary`` decision while nothing is paused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.daemon import _pause_reason
from agent.pause import pause
from tests.unit.engine.harness import rig


class _DroppedMidRead(tuple[Any, ...]):
    """The cached read, as another thread sees it while the remediation cycle drops it
    (``_paused_afresh`` sets it to None) between that thread's look at its time and its
    use of the pause it holds."""

    engine: Any = None

    def __getitem__(self, index: Any) -> Any:
        value = super().__getitem__(index)
        if index == 0:
            self.engine._pause_read = None  # the cycle's thread, at this very moment
        return value


def _dropped_mid_read(engine: Any) -> None:
    """Wrap the engine's cached read of the pause (read now) as ``_DroppedMidRead``."""
    engine._pause_read = None
    engine.paused()  # fills the cache for this instant of the engine's clock
    cached = _DroppedMidRead(engine._pause_read)
    cached.engine = engine
    engine._pause_read = cached


def test_a_pause_read_on_another_thread_answers_while_the_cycle_drops_its_cache(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path)
    _dropped_mid_read(r.engine)
    assert _pause_reason(r.engine) is None  # not paused, and said so: no TypeError
    pause(r.ledger, by="alice", reason="restarts loop on shop", now=r.clock.now())
    r.clock.advance(1)
    _dropped_mid_read(r.engine)
    assert "paused by alice" in (_pause_reason(r.engine) or "")
