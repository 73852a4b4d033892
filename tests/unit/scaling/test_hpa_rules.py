"""The HPA simulation against the rules of anchors/hpa-algorithm.md, table-driven."""

from __future__ import annotations

import pytest

from forecasting.hpa import (
    HpaController,
    HpaSpec,
    MetricObservation,
    RatePolicy,
    limit_rate,
    propose_replicas,
    stabilize,
)

# (name, current, observation, target, expected proposal)
PROPOSALS = [
    ("inside band above", 10, MetricObservation(10, 105.0), 100.0, 10),
    ("band edge +10% is inclusive", 10, MetricObservation(10, 110.0), 100.0, 10),
    ("just outside band scales up", 10, MetricObservation(10, 111.0), 100.0, 12),
    ("band edge -10% is inclusive", 10, MetricObservation(10, 90.0), 100.0, 10),
    ("just outside band scales down", 10, MetricObservation(10, 89.0), 100.0, 9),
    ("usage truncated to milli-units", 10, MetricObservation(10, 110.0009), 100.0, 10),
    ("proposal uses ready pods, not spec", 12, MetricObservation(6, 200.0), 100.0, 12),
    # Unready pods count as zero on scale-up: 6 ready at 1.5x plus 4 unready is
    # 0.9x overall, a direction flip, so no change (counting them busy would give 15).
    ("unready pods damp scale-up to no change", 10, MetricObservation(6, 150.0, 4), 100.0, 10),
    # 2 ready at 4x plus 2 unready at zero is 2x over 4 pods: 8 (not 16).
    ("unready pods count as zero on scale-up", 4, MetricObservation(2, 400.0, 2), 100.0, 8),
    # Scale-down ignores unready pods: fast path on ready pods.
    ("unready pods ignored on scale-down", 10, MetricObservation(5, 50.0, 5), 100.0, 3),
    # Missing pods count at the target on scale-down: (5*50 + 5*100)/10 = 75 -> 8.
    ("missing pods count at target on scale-down", 10, MetricObservation(5, 50.0, 0, 5), 100.0, 8),
    # Missing pods count as zero on scale-up: (4*300)/8 = 150 -> 12.
    ("missing pods count as zero on scale-up", 8, MetricObservation(4, 300.0, 0, 4), 100.0, 12),
    # At exactly the target (after the milli-unit truncation) the controller fills in
    # neither value for missing pods ("if ratio < 1 ... else if ratio > 1"), so they stay
    # out of the count: 1.0 again, no change. Counted as idle, they made it 0.5 -> 10.
    (
        "missing pods left out at exactly the target",
        20,
        MetricObservation(10, 100.0, 0, 10),
        100.0,
        20,
    ),
    ("truncated to exactly the target", 20, MetricObservation(10, 100.0004, 0, 10), 100.0, 20),
]


@pytest.mark.parametrize(
    ("name", "current", "observation", "target", "expected"),
    PROPOSALS,
    ids=[row[0] for row in PROPOSALS],
)
def test_proposal_follows_replica_calculator(
    name: str, current: int, observation: MetricObservation, target: float, expected: int
) -> None:
    assert propose_replicas(current, observation, target, 0.1) == expected, name


def test_no_sample_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="no pod has a metric sample"):
        propose_replicas(3, MetricObservation(0, 10.0), 100.0)


def test_stabilization_takes_the_max_of_recent_raw_proposals() -> None:
    history = [(20, 0.0), (5, 100.0), (12, 200.0)]
    # At 290 s every entry is inside the 300 s window: the maximum (20) wins.
    assert stabilize(3, 20, 290.0, history, 0.0, 300.0) == 20
    # At 300 s the entry from t=0 has left the window (strictly newer than now-300 only):
    # the result is the max of what is left, 12, not the newest proposal, 3.
    assert stabilize(3, 20, 300.0, history, 0.0, 300.0) == 12
    # Scale-up is not stabilized with the default 0 s window.
    assert stabilize(40, 20, 300.0, history, 0.0, 300.0) == 40


def _observe(load: float, pods: int) -> MetricObservation:
    return MetricObservation(sampled_pods=pods, per_pod_value=load / pods)


def test_scale_down_waits_for_the_window_then_drops_to_the_window_max() -> None:
    controller = HpaController(HpaSpec(target_per_pod=10.0))
    replicas = 20
    replicas = controller.reconcile(0.0, replicas, _observe(200.0, replicas)).desired
    assert replicas == 20
    timeline: list[tuple[float, int]] = []
    for k in range(1, 25):
        now = 15.0 * k
        load = 50.0 if now < 150 else 80.0  # proposals: 5 until 150 s, then 8
        decision = controller.reconcile(now, replicas, _observe(load, replicas))
        replicas = decision.desired
        timeline.append((now, replicas))
    held = [count for now, count in timeline if now < 300]
    assert set(held) == {20}, "the raw proposal of 20 at t=0 holds replicas for 300 s"
    after = dict(timeline)
    # at 300 s the 20 has expired; the max of the window is now the 8s (load 80 on 20 pods
    # proposes ceil(0.4 * 20) = 8), so it drops to 8, not to the 5 of the earlier proposals.
    assert after[300.0] == 8


def test_scale_up_limit_is_max_of_four_pods_and_double_per_period() -> None:
    controller = HpaController(HpaSpec(target_per_pod=10.0, max_replicas=100))
    replicas = 2
    seen = []
    for k in range(7):
        now = 15.0 * k
        decision = controller.reconcile(now, replicas, _observe(10_000.0, replicas))
        replicas = decision.desired
        seen.append((replicas, decision.reason))
    assert [count for count, _ in seen] == [6, 12, 24, 48, 96, 100, 100]
    assert seen[0][1] == "ScaleUpLimit"
    assert seen[5][1] == "TooManyReplicas"


def test_scale_up_events_inside_the_period_count_against_the_limit() -> None:
    spec = HpaSpec(target_per_pod=10.0)
    up_events = [(4, 95.0)]  # +4 pods 5 s ago: the period started at 2 replicas
    limited, reason = limit_rate(50, 6, 100.0, spec, up_events, [], 1)
    assert (limited, reason) == (6, "ScaleUpLimit")
    # Once the event is 15 s old it no longer counts (strictly newer than now - period).
    limited, _ = limit_rate(50, 6, 110.0, spec, up_events, [], 1)
    assert limited == 12


def test_scale_down_rate_policy_in_pods() -> None:
    spec = HpaSpec(target_per_pod=10.0, scale_down_policies=(RatePolicy("Pods", 2, 60.0),))
    assert limit_rate(1, 10, 0.0, spec, [], [], 1) == (8, "ScaleDownLimit")
    assert limit_rate(1, 10, 30.0, spec, [], [(2, 10.0)], 1) == (10, "ScaleDownLimit")


@pytest.mark.parametrize(
    ("spec_replicas", "min_override", "expected", "reason"),
    [
        (2, 50, 50, "BelowMinimum"),  # a raised minReplicas floor acts at once, no rate limit
        (200, None, 100, "TooManyReplicas"),
        (0, None, 0, "ScalingDisabled"),
    ],
)
def test_min_and_max_outside_the_normal_path(
    spec_replicas: int, min_override: int | None, expected: int, reason: str
) -> None:
    controller = HpaController(HpaSpec(target_per_pod=10.0, max_replicas=100))
    decision = controller.reconcile(0.0, spec_replicas, _observe(10.0, 1), min_override)
    assert (decision.desired, decision.reason) == (expected, reason)


def test_spec_replicas_are_current_even_when_few_pods_are_ready() -> None:
    controller = HpaController(HpaSpec(target_per_pod=10.0))
    # 10 in spec, 5 ready at exactly target: within tolerance -> stays at spec (10), not 5.
    decision = controller.reconcile(0.0, 10, MetricObservation(5, 10.0, 5))
    assert decision.desired == 10


def test_missing_metrics_mean_no_scaling() -> None:
    controller = HpaController(HpaSpec(target_per_pod=10.0))
    decision = controller.reconcile(0.0, 7, None)
    assert (decision.desired, decision.reason) == (7, "FailedGetMetrics")


def test_bad_spec_is_rejected_with_the_field() -> None:
    with pytest.raises(ValueError, match="target_per_pod"):
        HpaSpec(target_per_pod=0.0)
    with pytest.raises(ValueError, match="min_replicas"):
        HpaSpec(target_per_pod=1.0, min_replicas=5, max_replicas=2)
