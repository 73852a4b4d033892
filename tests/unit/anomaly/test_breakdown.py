"""An anomaly query's ``breakdownBy``: when an incident opens, the query's sum is read
again broken down by the labels, kept to the incident's series, and the values that
carry the movement are ranked into its evidence, its reason and its signal; a query
without it reads nothing more; a read that fails is noted, and the incident is reported
all the same; an expr that is no sum, and bad labels, stop start-up at their line."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.cli.explain_cmd import _breakdown_lines
from agent.clock import FakeClock
from agent.errors import TransientError
from agent.ledger import Ledger, open_ledger
from agent.loops.anomaly import AnomalyLoop
from agent.metrics_port import MetricSeries
from agent.remediation_engine import _group_of
from agent.settings import AnomalyQuery, ConfigError, load_settings
from forecasting.anomaly.breakdown import breakdown_words, rank_parts
from forecasting.series import Series
from remediation.promql import broken_down
from remediation.signals import anomaly_signal
from tests.unit.bench_cycle.test_batched_guards import START, build_loop

STEP = 60.0
T0 = math.floor(START / STEP) * STEP
EXPR = "sum by (namespace, deployment) (rate(http_requests_total[5m]))"
PODS = [f"web-{i}a{i}" for i in range(9)] + ["web-7f9"]
SPIKE = T0 + 3 * STEP


class Pods:
    """Deployment shop/web's request rate, 1/s from each of ten pods; at ``SPIKE`` it
    rises by 10/s, 9 of them from pod web-7f9. Answers ``EXPR`` with the sum, and the
    sum broken down by pod (``broken_down``) with each pod; every query asked is kept,
    and ``failure`` fails the breakdown read."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.failure: str | None = None

    def _pod(self, pod: str, grid: np.ndarray[Any, np.dtype[np.float64]]) -> np.ndarray[Any, Any]:
        values = 1.0 + 0.01 * np.sin(grid / 3600.0 + PODS.index(pod))
        values[grid == SPIKE] += 9.0 if pod == "web-7f9" else 1.0 / 9
        return values

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        self.asked.append(query)
        grid = np.arange(math.ceil(start / step) * step, min(end, now) + 1, step)
        labels = {"namespace": "shop", "deployment": "web"}
        if query == EXPR:
            values = sum((self._pod(pod, grid) for pod in PODS), np.zeros(grid.size))
            series = Series(grid, values, step, query, labels)
            return [MetricSeries(query, labels, series, 0, grid[-1], False, 0.0)]
        if self.failure is not None:
            raise TransientError(self.failure)
        assert query == broken_down(EXPR, ("pod",), labels)
        out = []
        for pod in PODS:
            mine = labels | {"pod": pod}
            series = Series(grid, self._pod(pod, grid), step, query, mine)
            out.append(MetricSeries(query, mine, series, 0, grid[-1], False, 0.0))
        return out

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return []


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", START)
    yield opened
    opened.close()


def _run(ledger: Ledger, reader: Pods, breakdown_by: tuple[str, ...]) -> list[Any]:
    """Three hours of history, then minutes up to two after the spike; the signals."""
    clock, signals = FakeClock(T0), []
    loop: AnomalyLoop = build_loop(ledger, clock, 0)
    loop.queries = [
        AnomalyQuery(name="rps", expr=EXPR, step=STEP, history=3 * 3600, breakdownBy=breakdown_by)
    ]
    loop.reader = reader
    loop.submit = signals.extend
    loop.cycle()
    for _ in range(5):
        clock.advance(STEP)
        loop.cycle()
    return signals


def test_the_pod_carrying_most_of_a_spike_is_ranked_first(ledger: Ledger) -> None:
    reader = Pods()
    signals = _run(ledger, reader, ("pod",))
    (observed,) = ledger.decisions(kind="anomaly")
    breakdown = observed.evidence["breakdown"]
    first = breakdown["ranked"]["pod"][0]
    assert first["value"] == "web-7f9"
    assert first["share"] == pytest.approx(0.9, abs=0.01)
    assert first["during"] - first["before"] == pytest.approx(9.0, abs=0.05)
    assert len(breakdown["ranked"]["pod"]) == 3  # the top 3 kept
    assert breakdown["onset_from"] == SPIKE
    assert breakdown["baseline_from"] == SPIKE - 30 * STEP
    assert "unread" not in breakdown
    assert "; mostly pod web-7f9 (90 %), then " in observed.reason, observed.reason
    (signal,) = signals
    assert signal.evidence["breakdown_summary"].startswith("mostly pod web-7f9 (90 %)")
    assert _group_of(signal).startswith("mostly pod web-7f9 (90 %)")  # a runbook's question
    # one breakdown read, at the incident, kept to its series
    extra = [query for query in reader.asked if query != EXPR]
    assert len(extra) == 1
    assert (
        'and on (deployment, namespace) label_replace(label_replace(vector(1), "deployment", "web"'
        in extra[0]
    )
    assert "web-7f9 90 % (" in "\n".join(_breakdown_lines(breakdown))


def test_a_query_without_breakdown_by_reads_nothing_more(ledger: Ledger) -> None:
    reader = Pods()
    signals = _run(ledger, reader, ())
    (observed,) = ledger.decisions(kind="anomaly")
    assert len(signals) == 1
    assert set(reader.asked) == {EXPR}
    assert "breakdown" not in observed.evidence and "mostly" not in observed.reason
    assert "breakdown" not in signals[0].evidence


def test_a_failed_breakdown_read_is_noted_and_the_incident_reported(ledger: Ledger) -> None:
    reader = Pods()
    reader.failure = "Prometheus did not answer within 10 s"
    signals = _run(ledger, reader, ("pod",))
    (observed,) = ledger.decisions(kind="anomaly")
    assert len(signals) == 1  # sent to the runbooks all the same
    unread = observed.evidence["breakdown"]["unread"]
    assert unread == (
        "the breakdown read failed: TransientError: Prometheus did not answer within 10 s"
    )
    assert "mostly" not in observed.reason
    assert "breakdown_summary" not in signals[0].evidence
    assert unread in "\n".join(_breakdown_lines(observed.evidence["breakdown"]))


def test_ranking_takes_the_incidents_direction_and_counts_an_absent_value_as_0() -> None:
    stamps = np.arange(0.0, 10.0)
    before, after = stamps < 5, stamps >= 5
    parts = [
        ({"pod": "a"}, np.where(after, 2.0, 6.0)),  # down 4
        ({"pod": "b"}, np.where(before, 1.0, np.nan)),  # gone: down 1
        ({"pod": "c"}, np.where(after, 5.0, 3.0)),  # up 2
        ({"route": "/x"}, np.full(10, 1.0)),  # no pod label: "(none)", unmoved
    ]
    down = rank_parts(stamps, parts, "pod", baseline_from=0.0, onset_from=5.0, up=False)
    assert [(p.value, p.share) for p in down] == [("a", 0.8), ("b", 0.2)]
    assert breakdown_words(down) == "mostly pod a (80 %), then b (20 %)"
    up = rank_parts(stamps, parts, "pod", baseline_from=0.0, onset_from=5.0, up=True)
    assert [(p.value, p.share) for p in up] == [("c", 1.0)]
    assert rank_parts(stamps, parts, "route", baseline_from=0.0, onset_from=5.0, up=True) == []
    even = [({"code": str(c)}, np.where(after, 2.0, 1.0)) for c in (500, 502, 503, 504)]
    spread = rank_parts(stamps, even, "code", baseline_from=0.0, onset_from=5.0, up=True)
    assert (
        breakdown_words(spread) == "spread over code: 500 (25 %), 502 (25 %), 503 (25 %) and 1 more"
    )


def test_the_signal_carries_the_breakdown() -> None:
    signal = anomaly_signal(
        metric="rps",
        target=None,
        observed=2.0,
        lower=0.0,
        upper=1.0,
        score=0.9,
        confidence=0.8,
        at=0.0,
        breakdown={"by": ["pod"]},
        breakdown_summary="mostly pod a (80 %)",
    )
    assert signal.evidence["breakdown"] == {"by": ["pod"]}
    assert _group_of(signal) == "mostly pod a (80 %); "


@pytest.mark.parametrize(
    ("expr", "by", "says"),
    [
        (
            "sum by (deployment) (rate(errors[5m])) / sum by (deployment) (rate(total[5m]))",
            "[pod]",
            "breakdownBy needs expr to be one sum, 'sum by (labels) (...)', whose parts by a "
            "label add up to its value; this one goes on after the sum closes",
        ),
        (
            "avg by (deployment) (latency)",
            "[pod]",
            "an expr that is not a sum (a ratio, an average, a quantile, a bare rate)",
        ),
        ("sum without (pod) (rate(x[5m]))", "[pod]", "write the sum with by (...), not without"),
        (
            "sum by (deployment, pod) (rate(x[5m]))",
            "[pod]",
            "expr sums by pod already: each of its series is one pod value",
        ),
        ("sum by (deployment) (rate(x[5m]))", "[pod, route, code, instance]", "at most 3 labels"),
        ("sum by (deployment) (rate(x[5m]))", "[pod, pod]", "pod given more than once"),
        ("sum by (deployment) (rate(x[5m]))", "['__name__']", "'__name__' is not a label name"),
    ],
)
def test_a_bad_breakdown_stops_start_up_naming_file_line_and_field(
    tmp_path: Path, expr: str, by: str, says: str
) -> None:
    path = tmp_path / "autonomic.yaml"
    path.write_text(
        "runbooks: []\nanomalyQueries:\n  - name: rps\n"
        f"    expr: '{expr}'\n    breakdownBy: {by}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    assert f"{path}:5: anomalyQueries[0].breakdownBy: " in str(raised.value)
    assert says in str(raised.value)


def test_a_sum_may_be_broken_down_whichever_way_it_is_written() -> None:
    assert broken_down("sum(rate(x[5m])) by (job) # per job", ("pod",), {"job": "a"}) == (
        '(sum by (job, pod) (rate(x[5m]))) and on (job) label_replace(vector(1), "job", "a", '
        '"", "")'
    )
    assert broken_down('SUM (rate(x{a=")"}[5m]))', ("pod", "code"), {}) == (
        'sum by (pod, code) (rate(x{a=")"}[5m]))'
    )
    # a label value is quoted, and "$" doubled (label_replace's template)
    assert broken_down("sum by (job) (x)", ("pod",), {"job": 'a"$1'}) == (
        '(sum by (job, pod) (x)) and on (job) label_replace(vector(1), "job", "a\\"$$1", "", "")'
    )


def test_a_series_lacking_a_label_it_is_summed_by_is_matched_on_it_empty() -> None:
    """``sum by (namespace, service)`` has a series ``{namespace="shop"}`` for the parts
    with no service label: its breakdown is matched on both labels, service empty (a
    label_replace to "" sets none), not on namespace alone, which every service's parts
    match (checked against a real Prometheus in tests/integration/loops/
    test_anomaly_breakdown.py)."""
    assert broken_down("sum by (namespace, service) (x)", ("pod",), {"namespace": "shop"}) == (
        "(sum by (namespace, service, pod) (x)) and on (namespace, service) "
        'label_replace(label_replace(vector(1), "namespace", "shop", "", ""), '
        '"service", "", "", "")'
    )


def _loop(ledger: Ledger, reader: Pods, clock: FakeClock, signals: list[Any]) -> AnomalyLoop:
    loop: AnomalyLoop = build_loop(ledger, clock, 0)
    loop.queries = [
        AnomalyQuery(name="rps", expr=EXPR, step=STEP, history=3 * 3600, breakdownBy=("pod",))
    ]
    loop.reader = reader
    loop.submit = signals.extend
    return loop


@pytest.mark.parametrize("saved", [True, False])
def test_a_signal_sent_again_after_a_restart_says_the_recorded_breakdown(
    ledger: Ledger, saved: bool
) -> None:
    """A restart sends an open incident's signal again (the engine takes it up if no
    engine did before the process died): from its saved series (``saved``), or, its
    series not saved after the incident opened, from the points read again, the
    incident found in the ledger. Either copy carries the breakdown recorded when it
    opened, so the runbook it may start says it, without reading it again (before,
    both copies went without it)."""
    clock, first, reader = FakeClock(T0), [], Pods()
    loop = _loop(ledger, reader, clock, first)
    if not saved:  # the process dies before the series is saved
        loop._save_changed = lambda: None  # type: ignore[method-assign]
    loop.cycle()
    for _ in range(5):
        clock.advance(STEP)
        loop.cycle()
    (signal,) = first
    assert signal.evidence["breakdown_summary"].startswith("mostly pod web-7f9 (90 %)")

    assert bool(ledger.guard_keys("anomaly/rps{")) == saved
    again: list[Any] = []
    reads = len(reader.asked)
    restarted = _loop(ledger, reader, clock, again)
    restarted.cycle()
    (copy,) = again
    assert copy.resent and copy.dedup_key == signal.dedup_key
    assert copy.evidence["breakdown"] == signal.evidence["breakdown"]
    assert copy.evidence["breakdown_summary"] == signal.evidence["breakdown_summary"]
    assert _group_of(copy).startswith("mostly pod web-7f9 (90 %)")
    assert all(query == EXPR for query in reader.asked[reads:])  # not read again


class ThreeDeployments(Pods):
    """Pods' sum for three Deployments, each spiking at ``SPIKE``; every breakdown read
    fails as ``failure_reason`` says (Prometheus timing out: the same for each)."""

    def __init__(self, failure_reason: str) -> None:
        super().__init__()
        self.failure_reason = failure_reason

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        self.asked.append(query)
        if query != EXPR:
            raise TransientError(
                "Prometheus did not answer within 10 s", reason=self.failure_reason
            )
        grid = np.arange(math.ceil(start / step) * step, min(end, now) + 1, step)
        values = sum((self._pod(pod, grid) for pod in PODS), np.zeros(grid.size))
        out = []
        for deployment in ("web", "api", "db"):
            labels = {"namespace": "shop", "deployment": deployment}
            series = Series(grid, values, step, query, labels)
            out.append(MetricSeries(query, labels, series, 0, grid[-1], False, 0.0))
        return out


@pytest.mark.parametrize(
    ("reason", "reads"), [("PrometheusTimeout", 1), ("PrometheusDown", 1), ("PrometheusHTTP503", 3)]
)
def test_after_prometheus_times_out_a_breakdown_no_other_is_read_that_cycle(
    ledger: Ledger, reason: str, reads: int
) -> None:
    """Three incidents open in one cycle. A breakdown read that timed out (or found
    Prometheus gone) leaves the other two unread, noted so, rather than wait up to the
    timeout for each (before, each was tried: up to 5 timeouts a cycle, the incidents'
    records and signals and the next queries waiting on them); a failure of another kind
    leaves the others to be tried."""
    clock, signals, reader = FakeClock(T0), [], ThreeDeployments(reason)
    loop = _loop(ledger, reader, clock, signals)
    loop.cycle()
    for _ in range(5):
        clock.advance(STEP)
        loop.cycle()
    assert len(signals) == 3
    assert len([query for query in reader.asked if query != EXPR]) == reads
    unread = sorted(signal.evidence["breakdown"]["unread"] for signal in signals)
    failed = "the breakdown read failed: TransientError: Prometheus did not answer within 10 s"
    if reads == 1:
        held = "not read: a breakdown read failed this cycle already (Prometheus did not "
        assert unread == [f"{held}answer within 10 s)"] * 2 + [failed]
    else:
        assert unread == 3 * [failed]
