"""One workload whose turn fails does not stop the scaling of the others.

An error that is neither a ``TransientError`` nor a ``PermanentError`` (a bug, a load
series the forecaster cannot take) raised in one workload's turn used to end the scaling
cycle, at every cycle: no workload after it was scaled. It is now held ``Unexpected``
(its floor stays where it is), logged with its traceback once per error, counted in
``autonomic_errors_total{kind="Unexpected"}``, and the others go on."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest

from agent.clock import FakeClock
from agent.loops.scaling import STEP
from agent.observability import Metrics
from tests.unit.scaling.fakes import WeekReader, loop_over, week_and_a_day, workload


def test_a_workload_whose_turn_fails_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t, values = week_and_a_day(3)
    clock = FakeClock(float(t[-60]))
    broken, other = workload("api"), workload("web")
    metrics = Metrics()
    loop = loop_over(WeekReader(t, values), clock, [broken, other], metrics=metrics)
    real = loop._one

    def one(w: Any, now: float, *, forecast_only: bool = False) -> None:
        if w.ref == broken.ref:
            raise ZeroDivisionError("float division by zero")
        real(w, now, forecast_only=forecast_only)

    loop._one = one  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="autonomic.scaling"):
        for _ in range(3):  # raised here before, at every cycle: web was never scaled
            loop.cycle()
            clock.advance(STEP)
    (proposal,) = cast(Any, loop.decisions).proposals  # web's floor, asked about
    assert proposal.subject == str(other.ref)
    floor = metrics.registry.get_sample_value(
        "autonomic_scaling_recommended_replicas", {"workload": str(other.ref)}
    )
    assert floor is not None and floor > 0
    assert str(other.ref) not in loop.status.held
    assert loop.status.held_reason[str(broken.ref)] == "Unexpected"
    assert "ZeroDivisionError: float division by zero" in loop.status.held[str(broken.ref)]
    unexpected = metrics.registry.get_sample_value("autonomic_errors_total", {"kind": "Unexpected"})
    assert unexpected == 3.0
    (said,) = [r for r in caplog.records if str(broken.ref) in r.getMessage()]  # once
    assert said.exc_info is not None
    loop._one = real  # type: ignore[method-assign]
    loop.cycle()
    assert str(broken.ref) not in loop.status.held  # its turn went through: no longer held
