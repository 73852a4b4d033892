"""An anomaly query's volume gate (``minVolume``): while a series' request rate is under
it, an error ratio swinging on a handful of requests is not scored, not learnt from,
and neither opens nor closes an incident; a volume that cannot be read, or is stale, is
not enough; the status and the log say when a query's series are under it."""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.clock import FakeClock
from agent.errors import TransientError
from agent.ledger import Ledger, open_ledger
from agent.loops.anomaly import VOLUME_FAILED, AnomalyLoop, _volume_of, _VolumeIndex
from agent.metrics_port import MetricSeries
from agent.observability import Metrics
from agent.settings import AnomalyQuery, MinVolume
from forecasting.series import Series
from tests.unit.bench_cycle.test_batched_guards import START, build_loop

STEP = 60.0
T0 = math.floor(START / STEP) * STEP
QUERY = AnomalyQuery(
    name="errors",
    expr="ratio",
    step=STEP,
    history=3 * 3600,
    min_volume=MinVolume(query="volume", atLeast=5),
)


class Traffic:
    """The error ratio (``ratio``) and request rate (``volume``) of Deployments svc-0 and
    svc-1. svc-0's rate is 1 request/s (under the gate) from ``quiet[0]`` up to
    ``quiet[1]``, else 100; ``spikes`` add to svc-0's ratio. ``volume_failure`` fails
    the volume reads; ``volume_stale`` flags every volume series stale;
    ``volume_labels`` (given a series' labels) sets the labels of its volume series."""

    def __init__(self) -> None:
        self.quiet = (math.inf, math.inf)
        self.spikes: dict[float, float] = {}
        self.volume_failure: str | None = None
        self.volume_stale = False
        self.volume_labels: Callable[[dict[str, str]], dict[str, str]] | None = None

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        grid = np.arange(math.ceil(start / step) * step, min(end, now) + 1, step)
        if not grid.size:
            return []
        if query == "volume" and self.volume_failure:
            raise TransientError(self.volume_failure)
        out = []
        for i in range(2):
            labels = {"__name__": query, "namespace": "shop", "deployment": f"svc-{i}"}
            if query == "volume":
                values = np.full(grid.size, 100.0)
                if i == 0:
                    values[(grid >= self.quiet[0]) & (grid < self.quiet[1])] = 1.0
                stale = self.volume_stale
                if self.volume_labels is not None:
                    labels = self.volume_labels(labels)
            else:
                values = 0.01 * (i + 1) + 0.001 * np.sin(grid / 3600.0)
                if i == 0:
                    for at, extra in self.spikes.items():
                        values[grid == at] += extra
                stale = False
            series = Series(grid, values, step, query, labels)
            out.append(MetricSeries(query, labels, series, 0, grid[-1], stale, 0.0))
        return out

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return []


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", START)
    yield opened
    opened.close()


def _loop(ledger: Ledger, clock: FakeClock, reader: Traffic, signals: list[Any]) -> AnomalyLoop:
    loop = build_loop(ledger, clock, 0)
    loop.queries = [QUERY]
    loop.reader = reader
    loop.submit = signals.extend
    return loop


def _key(loop: AnomalyLoop, deployment: str) -> str:
    return next(k for k in loop.series if f"deployment={deployment}" in k)


def _learnt(loop: AnomalyLoop, deployment: str) -> int:
    return int(loop.series[_key(loop, deployment)].detector.state()["baseline"]["seen"])


def _minutes(loop: AnomalyLoop, clock: FakeClock, count: int) -> None:
    for _ in range(count):
        clock.advance(STEP)
        loop.cycle()


def test_a_spike_under_the_volume_gate_opens_nothing_and_is_not_learnt_from(
    ledger: Ledger,
) -> None:
    """svc-0 at 1 request/s, its error ratio jumps to 100 % (one failed request): no
    incident, and its detector learns none of those minutes; the same jump at 100
    requests/s opens one. svc-1, at volume all along, is scored as before."""
    clock, reader, signals = FakeClock(T0), Traffic(), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    before = {name: _learnt(loop, name) for name in ("svc-0", "svc-1")}
    reader.quiet = (T0 + STEP, T0 + 4 * STEP)
    reader.spikes = {T0 + 2 * STEP: 1.0, T0 + 6 * STEP: 1.0}
    _minutes(loop, clock, 3)
    assert signals == []
    assert _learnt(loop, "svc-0") == before["svc-0"]  # none of the 3 quiet minutes
    assert _learnt(loop, "svc-1") == before["svc-1"] + 3
    assert loop.status.below_volume_points == 3
    assert loop.series[_key(loop, "svc-0")].last_ts == T0 + 3 * STEP  # not read again
    _minutes(loop, clock, 3)  # at volume again; the spike at T0 + 6 steps is real
    assert [s.observed_at for s in signals] == [T0 + 6 * STEP]
    assert _learnt(loop, "svc-0") >= before["svc-0"] + 2  # its calm minutes at volume


def test_an_open_incident_neither_closes_nor_goes_on_under_the_volume_gate(
    ledger: Ledger,
) -> None:
    """An incident open when traffic drops under the gate: fifteen calm minutes of
    ratio on 1 request/s (more than the ten that close an incident) leave it open as it
    was; it closes, recovered, on calm minutes at volume (ten in a row at least)."""
    clock, reader, signals = FakeClock(T0), Traffic(), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    reader.spikes = {T0 + STEP: 1.0}
    _minutes(loop, clock, 1)
    state = loop.series[_key(loop, "svc-0")]
    opened = state.tracker.current
    assert opened is not None and len(signals) == 1
    reader.quiet = (T0 + 2 * STEP, T0 + 17 * STEP)
    _minutes(loop, clock, 15)
    assert state.tracker.current == opened  # not closed, and no point added to it
    assert state.closed is None
    _minutes(loop, clock, 9)
    assert state.tracker.current is not None
    for _ in range(30):
        _minutes(loop, clock, 1)
        if state.tracker.current is None:
            break
    assert state.closed is not None and state.closed.how == "recovered"
    assert state.closed.closed_at is not None and state.closed.closed_at >= T0 + 26 * STEP
    assert len(signals) == 1


def test_a_failed_volume_read_scores_nothing_and_its_points_are_read_again(
    ledger: Ledger,
) -> None:
    """No volume, no scoring (as when the query's own read fails): the query is
    degraded, saying why, and its minutes are scored at the next cycle that reads the
    volume, not skipped."""
    clock, reader, signals = FakeClock(T0), Traffic(), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    scored = loop.status.points_scored
    reader.volume_failure = "connection refused"
    _minutes(loop, clock, 2)
    assert loop.status.degraded["errors"] == f"{VOLUME_FAILED}: connection refused"
    assert loop.status.points_scored == scored
    assert all(s.last_ts == T0 for s in loop.series.values())
    reader.volume_failure = None
    _minutes(loop, clock, 1)
    assert "errors" not in loop.status.degraded
    assert loop.status.points_scored == scored + 2 * 3  # the two missed minutes too
    assert loop.status.below_volume_points == 0


def test_a_stale_volume_is_not_enough(ledger: Ledger) -> None:
    """A volume series whose newest sample is older than staleAfter is old numbers: its
    series' points are not scored (nor learnt from) until it is fresh again."""
    clock, reader, signals = FakeClock(T0), Traffic(), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    before = _learnt(loop, "svc-1")
    reader.volume_stale = True
    reader.spikes = {T0 + STEP: 1.0}
    _minutes(loop, clock, 2)
    assert signals == [] and _learnt(loop, "svc-1") == before
    assert loop.status.below_volume_points == 2 * 2
    assert loop.status.below_volume["errors"].startswith("2 of 2 series below minVolume")


def test_the_status_and_the_log_say_once_that_a_query_is_under_its_volume(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    clock, reader, signals = FakeClock(T0), Traffic(), []
    loop = _loop(ledger, clock, reader, signals)
    loop.metrics = metrics = Metrics()
    loop.cycle()
    assert loop.status.below_volume == {}

    def gauge() -> float | None:
        name = "autonomic_anomaly_series_below_volume"
        return metrics.registry.get_sample_value(name, {"query": "errors"})

    assert gauge() == 0
    reader.quiet = (T0 + STEP, T0 + 5 * STEP)
    with caplog.at_level(logging.INFO, logger="autonomic.anomaly"):
        _minutes(loop, clock, 4)
        assert loop.status.below_volume == {
            "errors": "1 of 2 series below minVolume (volume under 5, or none read): their "
            "points are not scored"
        }
        assert loop.status.below_volume_series == {"errors": 1}
        assert gauge() == 1
        _minutes(loop, clock, 3)
    assert loop.status.below_volume == {}
    assert loop.status.below_volume_series == {"errors": 0}
    assert gauge() == 0
    said = [r.getMessage() for r in caplog.records if "minVolume" in r.getMessage()]
    assert said == [
        "anomaly query errors: 1 of 2 series below minVolume (volume under 5, or none read): "
        "their points are not scored (volume); an open incident neither opens nor closes on "
        "them",
        "anomaly query errors: every series at its minVolume again",
    ]


def test_a_series_volume_is_the_sum_of_the_volume_series_that_agree_with_its_labels() -> None:
    """Per-pod request rates gate a per-deployment ratio: the pods of its deployment are
    summed (their ``pod`` label it does not carry), another deployment's are not, the
    metric name is no label to agree on, and a time none of them has is NaN."""
    grid = np.arange(0.0, 240.0, 60.0)

    def series(query: str, labels: dict[str, str], values: list[float]) -> MetricSeries:
        data = Series(grid, np.array(values), 60.0, query, labels)
        return MetricSeries(query, labels, data, 0, grid[-1], False, 0.0)

    web = {"__name__": "ratio", "namespace": "shop", "deployment": "web"}
    nan = math.nan
    pod = {"__name__": "rps", "namespace": "shop"}
    volume = [
        series("v", {**pod, "deployment": "web", "pod": "web-0"}, [1, 2, nan, nan]),
        series("v", {**pod, "deployment": "web", "pod": "web-1"}, [3, nan, 4, nan]),
        series("v", {**pod, "deployment": "api", "pod": "api-0"}, [50, 50, 50, 50]),
    ]
    found = _volume_of(series("ratio", web, [0.1] * 4), volume)
    np.testing.assert_array_equal(found, [4.0, 2.0, 4.0, nan])


def test_the_volume_index_finds_what_matching_every_series_finds() -> None:
    """Volume series of mixed label sets (none, per namespace, per pod, another label),
    for series of mixed label sets: the index finds the same ones as a check of each."""
    rng = random.Random(41)
    names = ("namespace", "deployment", "pod", "code")

    def labels() -> dict[str, str]:
        chosen = rng.sample(names, rng.randint(0, len(names)))
        return {name: f"{name[0]}{rng.randint(0, 2)}" for name in chosen}

    def agree(mine: dict[str, str], theirs: dict[str, str]) -> bool:
        theirs = {k: v for k, v in theirs.items() if k != "__name__"}
        if not theirs:
            return True  # one total gates every series
        return all(theirs.get(k) == v for k, v in mine.items() if k != "__name__")

    grid = np.arange(0.0, 120.0, 60.0)
    volume = [
        MetricSeries(
            "v", {"__name__": "rps", **labels()}, Series(grid, grid, 60.0), 0, 60.0, False, 0
        )
        for _ in range(200)
    ]
    index = _VolumeIndex(volume)
    found = 0
    for _ in range(200):
        mine = {"__name__": "ratio", **labels()}
        expected = [id(v) for v in volume if agree(mine, v.labels)]
        assert sorted(id(v) for v in index.matching(mine)) == sorted(expected)
        found += len(expected)
    assert found > 200  # the draws did match series, not only none


def _one(labels: dict[str, str], value: float) -> MetricSeries:
    grid = np.arange(0.0, 120.0, 60.0)
    data = Series(grid, np.full(grid.size, value), 60.0, "v", labels)
    return MetricSeries("v", labels, data, 0, grid[-1], False, 0.0)


def test_a_volume_series_that_lacks_one_of_the_series_labels_is_not_its_volume() -> None:
    """A volume by ``service`` shares no label with a series by namespace and
    deployment: before, it gated every series by the total of every service. A volume
    by ``deployment`` alone adds the same-named Deployment of every namespace: before,
    shop/web was gated by shop's and test's web summed. Neither is the series' volume
    now (no volume: not scored); one with its labels and more (a pod) is, and one with
    no label at all is every series' volume."""
    web = {"__name__": "ratio", "namespace": "shop", "deployment": "web"}
    nan = math.nan
    by_service = [_one({"service": "checkout"}, 50), _one({"service": "search"}, 70)]
    np.testing.assert_array_equal(_volume_of(_one(web, 0.1), by_service), [nan, nan])
    by_deployment = [_one({"deployment": "web"}, 9), _one({"deployment": "api"}, 40)]
    np.testing.assert_array_equal(_volume_of(_one(web, 0.1), by_deployment), [nan, nan])
    per_pod = [
        _one({"namespace": "shop", "deployment": "web", "pod": "web-0"}, 2),
        _one({"namespace": "shop", "deployment": "web", "pod": "web-1"}, 3),
        _one({"namespace": "test", "deployment": "web", "pod": "web-0"}, 100),
    ]
    np.testing.assert_array_equal(_volume_of(_one(web, 0.1), per_pod), [5, 5])
    np.testing.assert_array_equal(_volume_of(_one(web, 0.1), [_one({}, 8)]), [8, 8])


def test_a_volume_aggregated_by_the_wrong_labels_gates_nothing_and_is_logged_once(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """The volume query summed by ``service`` where the ratio is by namespace and
    deployment, both at 100 requests/s: before, each series was gated by both
    services' total and scored; now no series has a volume, none is scored or learnt
    from, and the log names both label sets once, not every cycle."""
    clock, reader, signals = FakeClock(T0), Traffic(), []
    loop = _loop(ledger, clock, reader, signals)
    loop.cycle()
    before = _learnt(loop, "svc-1")
    reader.volume_labels = lambda labels: {"__name__": "volume", "service": labels["deployment"]}
    with caplog.at_level(logging.WARNING, logger="autonomic.anomaly"):
        _minutes(loop, clock, 3)
    assert _learnt(loop, "svc-1") == before
    assert loop.status.below_volume_points == 3 * 2
    assert loop.status.below_volume_series == {"errors": 2}
    said = [r.getMessage() for r in caplog.records if "cannot gate" in r.getMessage()]
    assert said == [
        "anomaly query errors: minVolume series labelled (service) cannot gate its series "
        "labelled (deployment, namespace): they lack deployment, namespace; those series "
        "have no volume, and their points are not scored: aggregate volume by at least the "
        "labels of its series"
    ]


def test_while_the_volume_read_fails_the_count_under_it_is_not_known(ledger: Ledger) -> None:
    """svc-0 under the gate (the gauge says 1), then the volume read fails: before, the
    status and the gauge kept that 1 next to "the minVolume read failed"; now the gauge
    has no value for the query and the status says the count is not known, until a
    read counts again."""
    clock, reader, signals = FakeClock(T0), Traffic(), []
    loop = _loop(ledger, clock, reader, signals)
    loop.metrics = metrics = Metrics()

    def gauge() -> float | None:
        name = "autonomic_anomaly_series_below_volume"
        return metrics.registry.get_sample_value(name, {"query": "errors"})

    loop.cycle()
    reader.quiet = (T0, math.inf)
    _minutes(loop, clock, 1)
    assert gauge() == 1 and loop.status.below_volume_series == {"errors": 1}
    reader.volume_failure = "connection refused"
    _minutes(loop, clock, 2)
    assert loop.status.degraded["errors"] == f"{VOLUME_FAILED}: connection refused"
    assert gauge() is None
    assert loop.status.below_volume_series == {}
    assert loop.status.below_volume["errors"].startswith("not known")
    reader.volume_failure = None
    _minutes(loop, clock, 1)
    assert gauge() == 1 and loop.status.below_volume_series == {"errors": 1}
    assert loop.status.below_volume["errors"].startswith("1 of 2 series below minVolume")
