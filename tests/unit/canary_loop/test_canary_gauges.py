"""The canary gauges: what the judge reads now, per canary, for dashboards and alerts.

Flagger and Argo Rollouts users ask for a canary's analysis values as metrics
(flagger#1147, argo-rollouts#2087). The loop publishes, for each canary it judges, its
verdict, the judge's confidence, and each metric's estimate and status, and removes a
canary's series once it is no longer judged.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from agent.ledger import Ledger, open_ledger
from tests.unit.test_canary_route import CANARY, HEALTHY, SLOW, Rig

NAME = f"{CANARY.namespace}/{CANARY.name}"


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)


def _samples(rig: Rig, family: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of one gauge family: labels (sorted) -> value."""
    gauge = getattr(rig.metrics, family)
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for metric in gauge.collect()
        for sample in metric.samples
    }


def _rig(ledger: Ledger, slowdown: float) -> Rig:
    rig = Rig(ledger, slowdown)
    rig.loop.metrics = rig.metrics
    return rig


def test_a_slow_canary_shows_its_verdict_confidence_and_latency_difference(
    ledger: Ledger,
) -> None:
    rig = _rig(ledger, SLOW)
    try:
        assert _samples(rig, "canary_verdict") == {}  # nothing judged yet: no series
        rig.judge_until_recorded()
        verdicts = _samples(rig, "canary_verdict")
        assert verdicts == {(("canary", NAME), ("verdict", "rollback")): 1.0}
        (confidence,) = _samples(rig, "canary_confidence").values()
        (analysis,) = rig.loop.analyses.values()
        assert analysis.latest is not None
        assert confidence == pytest.approx(analysis.latest.confidence)
        assert 0.9 < confidence <= 1.0
        differences = {
            dict(labels)["metric"]: value
            for labels, value in _samples(rig, "canary_metric_difference").items()
        }
        # The canary's latency is 1.5 times the stable's: about +50 %, relative.
        assert differences["latency_p99"] == pytest.approx(0.5, abs=0.1)
        statuses = _samples(rig, "canary_metric_status")
        by_metric: dict[str, list[str]] = {}
        for labels in statuses:
            label = dict(labels)
            assert label["canary"] == NAME
            by_metric.setdefault(label["metric"], []).append(label["status"])
        assert set(by_metric) == set(differences)  # every metric, one status each
        assert all(len(found) == 1 for found in by_metric.values()), by_metric
        assert by_metric["latency_p99"] == ["regressed"]
        assert all(value == 1.0 for value in statuses.values())
    finally:
        rig.close()


def test_a_verdict_that_changes_leaves_one_series_and_an_ended_canary_leaves_none(
    ledger: Ledger,
) -> None:
    rig = _rig(ledger, HEALTHY)
    try:
        seen: set[str] = set()
        for _ in range(90):
            rig.clock.advance(60)
            rig.loop.cycle()
            verdicts = _samples(rig, "canary_verdict")
            assert len(verdicts) == 1, verdicts  # the current verdict only, never two
            seen.add(dict(next(iter(verdicts)))["verdict"])
            if "promote" in seen:
                break
        assert seen >= {"continue", "promote"}, seen
        for family in ("canary_metric_difference", "canary_metric_status"):
            values = _samples(rig, family)
            assert values and all(dict(labels)["canary"] == NAME for labels in values)
            assert not any(math.isinf(v) for v in values.values())

        rig.cluster.remove_workload(CANARY)  # the canary is gone: its analysis ends
        rig.clock.advance(60)
        rig.loop.cycle()
        for family in (
            "canary_verdict",
            "canary_confidence",
            "canary_metric_difference",
            "canary_metric_status",
        ):
            assert _samples(rig, family) == {}, family
    finally:
        rig.close()


def test_a_dry_run_metrics_status_is_told_apart_from_a_counted_ones(ledger: Ledger) -> None:
    """A ``dry_run`` metric's status used to be published as a counted metric's is: a
    dashboard showed ``regressed`` for a metric that did not move the verdict. The
    ``dry_run`` label says which is which."""
    rig = _rig(ledger, SLOW)
    try:
        rig.loop.specs = [
            replace(spec, dry_run=spec.name == "latency_p99") for spec in rig.loop.specs
        ]
        for _ in range(10):
            rig.clock.advance(60)
            rig.loop.cycle()
        statuses = {
            dict(labels)["metric"]: dict(labels) for labels in _samples(rig, "canary_metric_status")
        }
        assert set(statuses) == {"latency_p99", "errors"}
        assert statuses["latency_p99"]["dry_run"] == "true"
        assert statuses["errors"]["dry_run"] == "false"
    finally:
        rig.close()
