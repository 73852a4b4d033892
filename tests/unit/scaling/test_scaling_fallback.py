"""Falling back to reactive: a floor the loop raised comes down as slowly as a predictive
one (the HPA would otherwise scale in to the current need at once), never below what the
current load needs; and the fallback, with its reason, is said once and kept in the
status, even when the floor does not change."""

from __future__ import annotations

import dataclasses
import itertools
import logging
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pytest

from agent.clock import FakeClock
from agent.loops.scaling import (
    CAPACITY,
    HISTORY_SINCE,
    SCALE_IN_PATIENCE,
    STEP,
    ScalingLoop,
)
from forecasting.forecast import Forecast
from forecasting.hpa import HpaController, HpaSpec, MetricObservation
from forecasting.scaling import (
    ScalingRecommendation,
    ScalingSettings,
    WorkloadNow,
    recommend,
    scale_in_floor,
    untrusted,
)
from remediation.ports import HpaState, ObjectRef, WorkloadState
from tests.unit.scaling.fakes import WeekReader, loop_over, week_and_a_day, workload

HPA_MIN = 2  # the HPA's own minReplicas
HPA_MAX = 50


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def annotate(loop: ScalingLoop, **annotations: str | None) -> None:
    """Change the workload's annotations (None removes one), as ``kubectl annotate``."""
    cluster = cast(Any, loop.cluster)
    (web,) = cluster.workloads
    changed = {**web.annotations, **annotations}
    cluster.workloads = [
        dataclasses.replace(web, annotations={k: v for k, v in changed.items() if v is not None})
    ]


class SimulatedHpa:
    """The workload's HPA as the controller runs it (``forecasting.hpa``: its 300 s
    down-stabilization remembers its own proposals, not the floor it was given), with
    the minReplicas the loop writes, reconciling every 15 s; the cluster shows the
    result to the loop."""

    def __init__(self, loop: ScalingLoop, web: WorkloadState, capacity: float) -> None:
        self.loop, self.web = loop, web
        self.controller = HpaController(
            HpaSpec(target_per_pod=capacity, min_replicas=HPA_MIN, max_replicas=HPA_MAX)
        )
        self.min_replicas, self.replicas = HPA_MIN, web.replicas
        self.writes = 0
        self.show()

    def show(self) -> None:
        cluster = cast(Any, self.loop.cluster)
        ref = ObjectRef("HorizontalPodAutoscaler", self.web.ref.name, "shop")
        cluster.hpas[self.web.ref] = HpaState(
            ref, self.web.ref, self.min_replicas, HPA_MAX, self.replicas, self.replicas
        )
        (shown,) = cluster.workloads
        n = self.replicas
        cluster.workloads = [
            dataclasses.replace(shown, replicas=n, ready_replicas=n, available_replicas=n)
        ]

    def minute(self, now: float, load: float) -> None:
        """The loop's writes land, then the HPA reconciles for a minute on ``load``."""
        applied = cast(Any, self.loop.executor).applied
        for operation in applied[self.writes :]:
            self.min_replicas = operation.min_replicas
        self.writes = len(applied)
        for tick in range(4):
            seen = MetricObservation(self.replicas, load / self.replicas)
            decision = self.controller.reconcile(
                now + 15.0 * tick, self.replicas, seen, self.min_replicas
            )
            self.replicas = decision.desired
        self.show()


def test_a_fallback_lowers_a_raised_hpa_floor_slowly_and_never_below_current_need(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A steady 50 at 5 a pod (10 pods' worth): the forecast raises the HPA's floor above
    10. Then the workload's history is cut to the last day: the forecast falls back
    (TooLittleHistory) and the loop is reactive. The floor comes down to what the load
    needs, waiting and stepping as a predictive floor does, and stays there; when the
    load drops to 5 (one pod's worth), it comes down the same way to the HPA's own
    minimum, and the HPA's replicas with it."""
    t, values = week_and_a_day(40)
    values = values.copy()
    values[-150:] = 50.0
    values[-60:] = 5.0  # the load drops from the 80th minute of the run
    clock = FakeClock(float(t[-140]))
    web = workload("web", **{CAPACITY: "5"})
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    hpa = SimulatedHpa(loop, web, capacity=5.0)
    history: list[tuple[float, int, int]] = []  # (load, HPA minReplicas, replicas) a minute
    with caplog.at_level(logging.INFO, logger="autonomic.scaling"):
        for minute in range(130):
            now = clock.now()
            if minute == 20:
                annotate(loop, **{HISTORY_SINCE: iso(now - 86_400.0)})
            loop.cycle()
            load = float(values[t <= now][-1])
            hpa.minute(now, load)
            history.append((load, hpa.min_replicas, hpa.replicas))
            clock.advance(STEP)

    raised = max(floor for _, floor, _ in history[:20])
    assert raised > 10  # the forecast raised the floor above the current need
    model = loop.models[web.ref]
    assert model.previous is not None and model.previous.reason == "LowConfidence"
    proposals = cast(Any, loop.decisions).proposals
    lowered = [p for p in proposals if p.proposal["to"] < p.proposal["from"]]
    assert len(lowered) >= 3  # in steps, not in one write
    for proposal in lowered:
        assert proposal.reason_code == "LowConfidence"
        assert "comes down slowly" in proposal.reason
        # the predictive pacing: SCALE_IN_PATIENCE cycles of at most one pod (below 20)
        assert proposal.proposal["from"] - proposal.proposal["to"] <= SCALE_IN_PATIENCE
    floors = [floor for _, floor, _ in history[20:]]
    assert floors == sorted(floors, reverse=True)  # reactive: never raised again
    for load, floor, replicas in history[20:]:
        if load == 50.0:
            assert floor >= 10 and replicas >= 10  # never below what the load needs
    for before, after in itertools.pairwise(history[20:]):
        assert before[2] - after[2] <= SCALE_IN_PATIENCE  # the workload scales in slowly
    assert history[-1][1:] == (HPA_MIN, HPA_MIN)  # the HPA's own minimum, in the end
    assert model.previous.floor is None  # no floor left: the HPA alone decides
    said = [r for r in caplog.records if "reactive (LowConfidence)" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.INFO
    assert "TooLittleHistory" in said[0].getMessage()
    # The forecast chose none of these steps: each is judged, but without a verdict, so
    # one fallback cannot count as several wrong forecasts.
    ledger = cast(Any, loop.decisions).ledger
    judged = [f for f in ledger.feedback if f[1] == "verification"]
    steps = {d for d, _, _ in judged} & {
        f"d-{i + 1}" for i, p in enumerate(proposals) if p in lowered
    }
    assert steps and all(outcome == "reactive" for d, _, outcome in judged if d in steps)


@pytest.mark.parametrize("last", [1, 2, 5, 14, 20, 37, 100, 999])
@pytest.mark.parametrize("elapsed", [0.0, 30.0, 60.0, 61.0, 300.0, 3600.0])
def test_the_reactive_step_is_the_predictive_one(last: int, elapsed: float) -> None:
    """``scale_in_floor`` lowers as ``recommend`` lowers a predictive floor when the
    forecast asks for nothing: the same step, the same period."""
    settings = ScalingSettings(capacity_per_pod=10.0, lead_seconds=240.0, min_replicas=1)
    stamps = STEP * np.arange(1, 5, dtype=np.float64)
    zero = np.zeros(4)
    forecast = Forecast(stamps, zero, {80: (zero, zero)}, "test", "1", None)
    previous = ScalingRecommendation(0.0, last, last, 0, "predictive", "Forecast", "")
    predictive = recommend(forecast, WorkloadNow(elapsed, last, 0.0, previous), settings)
    assert scale_in_floor(last, elapsed, 0, settings) == predictive.floor
    assert scale_in_floor(last, elapsed, last - 1, settings) >= last - 1  # current need


def test_a_fallback_with_no_floor_change_is_said_once_and_in_the_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """50 a minute at 20 a pod is the 3 replicas the workload runs: falling back changes
    no floor, and is still said, once, with its reason; so is the way back."""
    t, values = week_and_a_day(41)
    values = values.copy()
    values[-150:] = 50.0
    clock = FakeClock(float(t[-120]))
    web = workload("web", **{HISTORY_SINCE: iso(clock.now() - 86_400.0)})
    loop = loop_over(WeekReader(t, values), clock, [web])
    name = str(web.ref)
    with caplog.at_level(logging.INFO, logger="autonomic.scaling"):
        for _ in range(10):
            loop.cycle()
            clock.advance(STEP)
        assert cast(Any, loop.decisions).proposals == []  # no floor changed
        said = [r.getMessage() for r in caplog.records if "reactive" in r.getMessage()]
        assert len(said) == 1 and "reactive (LowConfidence)" in said[0]
        assert "TooLittleHistory" in said[0]
        status = loop.status.reactive[name]
        assert status.startswith("LowConfidence: ") and "TooLittleHistory" in status
        caplog.clear()
        annotate(loop, **{HISTORY_SINCE: None})  # the week counts again: a refit
        for _ in range(10):
            loop.cycle()
            clock.advance(STEP)
    model = loop.models[web.ref]
    assert model.previous is not None and model.previous.mode == "predictive"
    back = [r.getMessage() for r in caplog.records if "predictive again" in r.getMessage()]
    assert len(back) == 1
    assert not any("reactive (" in r.getMessage() for r in caplog.records)
    assert name not in loop.status.reactive


def test_each_change_of_mode_or_reason_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    loop = loop_over(WeekReader(np.empty(0), np.empty(0)), FakeClock(0.0), [])
    ref = ObjectRef("Deployment", "web", "shop")
    model = loop._new_model(ref)

    def rec(mode: str, reason: str) -> ScalingRecommendation:
        return ScalingRecommendation(0.0, 3, None, 3, mode, reason, f"{reason} sentence")  # type: ignore[arg-type]

    sequence = [
        rec("predictive", "Forecast"),  # predictive from the start: nothing to say
        rec("predictive", "ScaleInLimit"),
        rec("reactive", "LowConfidence"),
        rec("hold", "NoCurrentLoad"),  # a hold has its own status
        rec("reactive", "LowConfidence"),
        rec("reactive", "PoorAccuracy"),
        rec("predictive", "Forecast"),
        rec("predictive", "CurrentLoad"),
    ]
    with caplog.at_level(logging.INFO, logger="autonomic.scaling"):
        for one in sequence:
            loop._report_mode(ref, model, one)
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "scaling Deployment/shop/web reactive (LowConfidence): LowConfidence sentence",
        "scaling Deployment/shop/web reactive (PoorAccuracy): PoorAccuracy sentence",
        "scaling Deployment/shop/web predictive again (Forecast): Forecast sentence",
    ]
    assert str(ref) not in loop.status.reactive


def test_a_fallback_without_an_hpa_says_what_happens_not_the_hpa(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without an HPA, reactive means the loop sets the replicas from the current load
    alone. The log, the status and the decisions used to say "the HPA decides" (and "the
    raised floor comes down") about a workload that has no HPA."""
    t, values = week_and_a_day(42)
    values = values.copy()
    values[-150:] = 50.0
    clock = FakeClock(float(t[-140]))
    web = workload("web", **{CAPACITY: "5"})  # no HPA: the loop drives the replicas
    loop = loop_over(WeekReader(t, values), clock, [web], route="auto")
    with caplog.at_level(logging.INFO, logger="autonomic.scaling"):
        for minute in range(60):
            if minute == 10:
                annotate(loop, **{HISTORY_SINCE: iso(clock.now() - 86_400.0)})
            loop.cycle()
            clock.advance(STEP)
    said = [r.getMessage() for r in caplog.records if "reactive (LowConfidence)" in r.getMessage()]
    assert len(said) == 1
    status = loop.status.reactive[str(web.ref)]
    proposals = cast(Any, loop.decisions).proposals
    lowered = [p.reason for p in proposals if p.proposal["to"] < p.proposal["from"]]
    assert lowered  # the replicas the forecast raised came down, in steps
    for text in [said[0], status, *lowered]:
        assert "HPA decides" not in text and "floor" not in text
        assert "no HPA: the replicas follow the current load, 10 pods now" in text
    assert all("the replicas come down slowly" in reason for reason in lowered)


def test_untrusted_without_an_hpa_says_so() -> None:
    rec = ScalingRecommendation(0.0, 4, 4, 1, "predictive", "Forecast", "")
    assert "(the HPA decides)" in untrusted(rec, "MASE 3").message
    alone = untrusted(rec, "MASE 3", has_hpa=False).message
    assert "HPA decides" not in alone and "the current load, 1 pod now" in alone
