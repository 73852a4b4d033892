"""Fakes for the scaling loop's tests: a metrics reader over one load series, a cluster
listing fixed workloads, a decision service that asks about everything."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from agent.adapters.prometheus import MetricSeries
from agent.clock import FakeClock
from agent.decisions import Proposal, Routed
from agent.loops.scaling import HISTORY, STEP, ScalingLoop
from agent.routing import Thresholds
from agent.settings import ScalingSettings
from forecasting.series import Series
from remediation.ports import ObjectRef, WorkloadState

END = 1_795_310_280.0


def week_and_a_day(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = END - STEP * np.arange(int(HISTORY // STEP) + 1)[::-1]
    values = 50 * (1 + 0.3 * np.sin(2 * np.pi * t / 86_400)) * rng.lognormal(0, 0.1, t.size)
    values[rng.random(t.size) < 0.01] = np.nan  # gaps stay gaps
    return t, values


class WeekReader:
    """A metrics reader over one load series, recording what each read asked for."""

    def __init__(self, t: np.ndarray, values: np.ndarray) -> None:
        self.t, self.values = t, values
        self.reads: list[tuple[float, float]] = []

    def range(self, query: str, start: float, end: float, step: float, now: float) -> list[Any]:
        self.reads.append((start, end))
        inside = (self.t >= start) & (self.t <= end)
        series = Series(self.t[inside], self.values[inside], step, query)
        return [
            MetricSeries(query, {}, series, 0, float(self.t[inside][-1]), False, 0.0),
        ]


class FakeCluster:
    def __init__(self, workloads: list[WorkloadState]) -> None:
        self.workloads = workloads

    def list_workloads(self) -> list[WorkloadState]:
        return self.workloads

    def get_hpa_for(self, ref: ObjectRef) -> None:
        return None


class AskEverything:
    """Routes every proposal to a person (so nothing is written) and counts them."""

    def __init__(self) -> None:
        self.proposals: list[Proposal] = []

    def decide(self, p: Proposal) -> Routed:
        self.proposals.append(p)
        return Routed("d-1", "ask", 0.5, Thresholds(auto=0.8, ask=0.5), "", "")


def workload(name: str, **annotations: str) -> WorkloadState:
    labels = {"autonomic.dev/enabled": "true"}
    annotations = {
        "autonomic.dev/predictive": "true",
        "autonomic.dev/capacity-per-pod": "20",
        **annotations,
    }
    return WorkloadState(
        ObjectRef("Deployment", "shop", name), 3, 3, 3, 3, labels, annotations, {}, ()
    )


def loop_over(
    reader: WeekReader, clock: FakeClock, workloads: list[WorkloadState], **settings: str
) -> ScalingLoop:
    return ScalingLoop(
        ScalingSettings(**settings),
        reader=reader,
        cluster=cast(Any, FakeCluster(workloads)),
        decisions=cast(Any, AskEverything()),
        executor=cast(Any, None),
        clock=clock,
        submit=lambda signals: None,
    )
