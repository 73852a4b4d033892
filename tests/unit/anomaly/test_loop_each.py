"""One series whose scoring fails does not stop the anomaly loop's other series.

An error that is not a ``TransientError`` (a bug, a point the detector cannot take)
raised while scoring one series used to end the anomaly cycle, at every cycle: no series
read after it was scored, so no anomaly on them was ever reported. It is now logged
with the series and its traceback (once per error), counted in
``autonomic_errors_total{kind="Unexpected"}``, and the others go on."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pytest

from agent.clock import FakeClock
from agent.ledger import open_ledger
from agent.observability import Metrics
from tests.unit.bench_cycle.test_anomaly_reads import Recorded
from tests.unit.bench_cycle.test_batched_guards import START, build_loop

STEP = 60.0
T0 = math.floor(START / STEP) * STEP


def test_a_series_whose_scoring_fails_does_not_stop_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", START)
    clock, reader = FakeClock(T0), Recorded(3)
    loop = build_loop(ledger, clock, 0)
    loop.reader = reader
    loop.metrics = metrics = Metrics()
    real = loop._score

    def score(query: Any, metric: Any, now: float, **options: Any) -> str:
        if metric.labels["deployment"] == "svc-0":  # the first read
            raise FloatingPointError("overflow in the detector")
        return real(query, metric, now, **options)

    loop._score = score  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="autonomic.anomaly"):
        for _ in range(3):  # raised here before, at every cycle
            loop.cycle()
            clock.advance(STEP)
    scored = {k.split("deployment=")[1].split(",")[0]: s.last_ts for k, s in loop.series.items()}
    assert scored == {"svc-1": T0 + 2 * STEP, "svc-2": T0 + 2 * STEP}
    unexpected = metrics.registry.get_sample_value("autonomic_errors_total", {"kind": "Unexpected"})
    assert unexpected == 3.0
    (said,) = [r for r in caplog.records if "svc-0" in r.getMessage()]  # once per error
    assert said.exc_info is not None
    assert "FloatingPointError: overflow in the detector" in said.getMessage()
    loop._score = real  # type: ignore[method-assign]
    loop.cycle()
    assert any("svc-0" in key for key in loop.series)  # scored again once it can be
    ledger.close()
