"""`autonomic pause` holds the scaling loop as the daemon wires it (``paused`` reads the
engine's pause from the ledger at each cycle): no decision, no write, the person's words
in the hold; the forecast goes on; after `autonomic resume` it acts again."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from agent.clock import FakeClock
from agent.daemon import _pause_reason
from agent.observability import Metrics
from agent.pause import pause, resume
from tests.unit.engine.harness import rig
from tests.unit.scaling.fakes import WeekReader, loop_over
from tests.unit.scaling.test_scaling_annotations import floor_of_seven, run, steady


def test_a_pause_in_the_ledger_holds_the_scaling_loop_until_resumed(tmp_path: Path) -> None:
    engine = rig(tmp_path).engine
    t, values = steady(16)
    clock = FakeClock(float(t[-80]))
    metrics = Metrics()
    web = floor_of_seven()
    loop = loop_over(
        WeekReader(t, values),
        clock,
        [web],
        route="auto",
        metrics=metrics,
        paused=lambda: _pause_reason(engine),
    )
    pause(engine.ledger, by="jo", reason="floors look wrong", now=clock.now())
    run(loop, clock, 5)
    assert cast(Any, loop.decisions).proposals == []
    assert cast(Any, loop.executor).applied == []
    held = loop.status.held[str(web.ref)]
    assert "paused by jo at" in held and "floors look wrong" in held
    labels = {"workload": str(web.ref), "reason": "Paused"}
    assert metrics.registry.get_sample_value("autonomic_scaling_held", labels) == 1
    # the forecast goes on
    assert (
        metrics.registry.get_sample_value(
            "autonomic_scaling_recommended_replicas", {"workload": str(web.ref)}
        )
        == 7
    )
    resume(engine.ledger, by="jo", now=clock.now())
    cast(Any, engine.clock).advance(1)  # the engine reads the pause once per instant
    run(loop, clock, 2)
    assert cast(Any, loop.executor).applied
