"""The live model's accuracy, published (crane#383: how good is the forecast?).

The drift check measured each live model's recent MASE and interval coverage every
``DRIFT_EVERY`` cycles, and kept them only to decide on a refit: no metric and no
``GET /scaling`` field showed them. They are ``autonomic_scaling_forecast_mase{workload}``
and ``autonomic_scaling_forecast_coverage{workload, level}`` now, and ``accuracy`` in
``GET /scaling``; a workload that leaves predictive scaling loses them, and a standby
drops them with the other leader-only gauges."""

from __future__ import annotations

import math
from typing import Any, cast

import pytest
from prometheus_client import generate_latest

import agent.loops.scaling as scaling_module
from agent.clock import FakeClock
from agent.observability import Metrics
from forecasting.drift import DriftBand, DriftVerdict
from forecasting.lifecycle import DRIFT_EVERY, OutcomeRing
from tests.unit.scaling.fakes import WeekReader, loop_over, week_and_a_day, workload

STEP = 60.0
KNOWN = DriftVerdict(True, "CoverageDrift", "the 95% interval covered ...", 0.8125, 0.6875, 48)


def _run(loop: Any, clock: FakeClock, cycles: int) -> None:
    for _ in range(cycles):
        loop.cycle()
        clock.advance(STEP)


def _sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


@pytest.fixture
def known(monkeypatch: pytest.MonkeyPatch) -> list[DriftBand]:
    """Every drift check answers ``KNOWN``; the bands it was asked about."""
    bands: list[DriftBand] = []

    def check(ring: OutcomeRing, band: DriftBand) -> DriftVerdict:
        bands.append(band)
        return KNOWN

    monkeypatch.setattr(scaling_module, "check_drift", check)
    return bands


def test_the_latest_drift_check_is_on_the_metrics_and_in_get_scaling(
    known: list[DriftBand],
) -> None:
    t, values = week_and_a_day(31)
    clock = FakeClock(float(t[-80]))
    metrics = Metrics()
    web = workload("web", **{"autonomic.dev/capacity-per-pod": "1000"})
    loop = loop_over(WeekReader(t, values), clock, [web], metrics=metrics)
    name = str(web.ref)
    loop.cycle()  # fitted; no check yet unless its staggered turn came at once
    fitted = loop.models[web.ref].evaluated_at
    _run(loop, clock, DRIFT_EVERY)
    assert known, "no drift check ran in DRIFT_EVERY cycles"
    # The refit the check asked for (CoverageDrift) ran, and cleared the check: the
    # figures that called for it are still shown.
    while loop.models[web.ref].evaluated_at == fitted:
        _run(loop, clock, 1)
        assert len(known) == 1, "the refit the drift check asked for never ran"
    assert loop.models[web.ref].drift is None
    level = str(known[-1].level)
    text = generate_latest(metrics.registry).decode()  # what GET /metrics serves
    assert f'autonomic_scaling_forecast_mase{{workload="{name}"}} 0.8125' in text
    coverage = f'autonomic_scaling_forecast_coverage{{level="{level}",workload="{name}"}} 0.6875'
    assert coverage in text
    assert loop.report()["accuracy"] == {
        name: {
            "mase": 0.8125,
            "coverage": 0.6875,
            "level": known[-1].level,
            "samples": 48,
            "reason": "CoverageDrift",
            "refit": True,
        }
    }


def test_a_workload_that_leaves_loses_its_accuracy_series(known: list[DriftBand]) -> None:
    t, values = week_and_a_day(32)
    clock = FakeClock(float(t[-80]))
    metrics = Metrics()
    web = workload("web", **{"autonomic.dev/capacity-per-pod": "1000"})
    loop = loop_over(WeekReader(t, values), clock, [web], metrics=metrics)
    name = str(web.ref)
    _run(loop, clock, DRIFT_EVERY + 1)
    level = str(known[-1].level)
    assert _sample(metrics, "autonomic_scaling_forecast_mase", workload=name) == 0.8125
    cast(Any, loop.cluster).workloads = []  # opted out (or deleted)
    _run(loop, clock, 1)
    assert _sample(metrics, "autonomic_scaling_forecast_mase", workload=name) is None
    assert (
        _sample(metrics, "autonomic_scaling_forecast_coverage", workload=name, level=level) is None
    )
    assert loop.report()["accuracy"] == {}


def test_a_standby_drops_them_and_the_next_cycle_as_leader_sets_them_again(
    known: list[DriftBand],
) -> None:
    t, values = week_and_a_day(33)
    clock = FakeClock(float(t[-80]))
    metrics = Metrics()
    web = workload("web", **{"autonomic.dev/capacity-per-pod": "1000"})
    loop = loop_over(WeekReader(t, values), clock, [web], metrics=metrics)
    name = str(web.ref)
    _run(loop, clock, DRIFT_EVERY + 1)
    checks = len(known)
    metrics.standby()  # as a standby's remediation job does
    assert _sample(metrics, "autonomic_scaling_forecast_mase", workload=name) is None
    _run(loop, clock, 1)  # leading again: the check kept is published, not re-run
    assert len(known) == checks
    assert _sample(metrics, "autonomic_scaling_forecast_mase", workload=name) == 0.8125


def test_the_gauges_say_what_the_real_check_measured() -> None:
    """Unpatched: after a check, the gauges hold the verdict the loop kept (NaN while no
    outcome had arrived), and a refit, which clears the check, leaves them until the next
    check."""
    t, values = week_and_a_day(34)
    clock = FakeClock(float(t[-80]))
    metrics = Metrics()
    web = workload("web", **{"autonomic.dev/capacity-per-pod": "1000"})
    loop = loop_over(WeekReader(t, values), clock, [web], metrics=metrics)
    name = str(web.ref)
    _run(loop, clock, DRIFT_EVERY + 1)
    model = loop.models[web.ref]
    assert model.drift is not None and model.band is not None
    mase = _sample(metrics, "autonomic_scaling_forecast_mase", workload=name)
    coverage = _sample(
        metrics,
        "autonomic_scaling_forecast_coverage",
        workload=name,
        level=str(model.band.level),
    )
    assert mase is not None and coverage is not None
    for shown, measured in ((mase, model.drift.recent_mase), (coverage, model.drift.coverage)):
        assert shown == measured or (math.isnan(shown) and math.isnan(measured))
    assert loop.report()["accuracy"][name]["samples"] == model.drift.samples
    # Right after a check (the next is DRIFT_EVERY cycles away), a refit clears it: the
    # figures stay until the next check, of the model then live, replaces them.
    before = model.drift
    while model.drift is before:
        _run(loop, clock, 1)
    assert model.drift is not None
    mase = model.drift.recent_mase
    model.drift = None  # as a refit leaves it
    _run(loop, clock, 1)
    assert model.drift is None
    shown = _sample(metrics, "autonomic_scaling_forecast_mase", workload=name)
    assert shown == mase or (shown is not None and math.isnan(shown) and math.isnan(mase))
    _run(loop, clock, DRIFT_EVERY)
    assert model.drift is not None and model.checked == (model.drift, model.band.level)
