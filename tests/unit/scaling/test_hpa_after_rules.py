"""What an HPA's own rules do to the count its metrics propose (``afterRules`` in
``GET /scaling``): each case is worked by hand from the controller's code in
``pkg/controller/podautoscaler/horizontal.go`` (``reconcileAutoscaler``,
``stabilizeRecommendationWithBehaviors``, ``convertDesiredReplicasWithBehaviorRate``
with ``calculateScaleUpLimitWithScalingRules`` and
``calculateScaleDownLimitWithBehaviors``)."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import pytest

from agent.adapters.kube_state import hpa_state
from agent.clock import FakeClock
from agent.loops.scaling import CAPACITY, MIN_REPLICAS
from forecasting.hpa import HpaSpec, RatePolicy, limit_rate
from forecasting.hpa_after_rules import HpaRules, RulesSample, after_rules
from forecasting.hpa_metrics import MetricReading
from remediation.ports import HpaState, ObjectRef
from tests.unit.scaling.fakes import WeekReader, loop_over, week_and_a_day, workload

NOW = 1_700_000_400.0  # 22:20:00 UTC
SLOW_UP = (RatePolicy("Pods", 4, 60.0), RatePolicy("Percent", 100, 60.0))
SLOW_DOWN = (RatePolicy("Pods", 2, 60.0), RatePolicy("Percent", 50, 60.0))


def test_select_policy_min_takes_the_policy_that_allows_the_least() -> None:
    """``calculateScaleUpLimitWithScalingRules``: from 10 replicas, +4 pods gives 14 and
    +100 % gives ceil(10 * 2) = 20; Max keeps 20, Min (``selectPolicyFn = min``) 14.
    ``calculateScaleDownLimitWithBehaviors``: -2 pods gives 8 and -50 % int(10 * 0.5) = 5;
    Max (the largest change, ``min``) keeps 5, Min (``max``) 8."""
    up_max = HpaSpec(1.0, max_replicas=100, scale_up_policies=SLOW_UP)
    up_min = dataclasses.replace(up_max, scale_up_select="Min")
    assert limit_rate(30, 10, NOW, up_max, [], [], 1) == (20, "ScaleUpLimit")
    assert limit_rate(30, 10, NOW, up_min, [], [], 1) == (14, "ScaleUpLimit")
    down_max = HpaSpec(1.0, max_replicas=100, scale_down_policies=SLOW_DOWN)
    down_min = dataclasses.replace(down_max, scale_down_select="Min")
    assert limit_rate(1, 10, NOW, down_max, [], [], 1) == (5, "ScaleDownLimit")
    assert limit_rate(1, 10, NOW, down_min, [], [], 1) == (8, "ScaleDownLimit")
    # Disabled returns currentReplicas ("Scaling is disabled"): no change either way.
    off = dataclasses.replace(down_max, scale_up_select="Disabled", scale_down_select="Disabled")
    assert limit_rate(30, 10, NOW, off, [], [], 1) == (10, "ScaleUpLimit")
    assert limit_rate(1, 10, NOW, off, [], [], 1) == (10, "ScaleDownLimit")


def test_scale_down_is_held_by_the_largest_proposal_of_the_window() -> None:
    """``stabilizeRecommendationWithBehaviors``: downRecommendation is the max of the
    proposals stamped After(now - 300 s); recommendation = min(max(current, up), down).
    At 8 replicas proposing 3, with 9 seen 360 s ago (outside), 7 exactly 300 s ago (not
    After the cutoff), 6 at 240 s and 5 at 120 s: max(3, 6, 5) = 6."""
    samples = [
        RulesSample(NOW - 360, 9, 8),
        RulesSample(NOW - 300, 7, 8),
        RulesSample(NOW - 240, 6, 8),
        RulesSample(NOW - 120, 5, 8),
    ]
    rules = HpaRules(min_replicas=1, max_replicas=20)
    result = after_rules(3, 8, NOW, rules, samples)
    assert (result.replicas, result.reason) == (6, "ScaleDownStabilized")
    assert result.held_by == (
        "scaleDown stabilization (300 s): the largest proposal since 22:15:00 UTC is 6, so 6",
    )
    assert result.seen_seconds == 360
    shown = result.as_dict()
    assert shown["approximate"] is True and "once a scaling cycle" in str(shown["note"])
    # behavior.scaleDown.stabilizationWindowSeconds 600 takes in the 9: max >= current
    # (8), so it stays at 8.
    longer = after_rules(3, 8, NOW, dataclasses.replace(rules, scale_down_window=600), samples)
    assert longer.replicas == 8
    assert longer.held_by[0].startswith("scaleDown stabilization (600 s): the largest proposal")
    # With no window, nothing holds it: the default -100 % per 15 s allows down to 0.
    free = after_rules(3, 8, NOW, dataclasses.replace(rules, scale_down_window=0), samples)
    assert (free.replicas, free.held_by, free.reason) == (3, (), "DesiredWithinRange")


def test_scale_up_stabilization_takes_the_smallest_proposal_of_its_window() -> None:
    """upRecommendation is the min of the proposals After(now - up window): with a
    120 s window, 5 seen 60 s ago and 9 now at 4 replicas give max(4, min(9, 5)) = 5;
    the default window (0 s) takes none of them."""
    samples = [RulesSample(NOW - 180, 3, 4), RulesSample(NOW - 60, 5, 4)]
    rules = HpaRules(min_replicas=1, max_replicas=20, scale_up_window=120)
    result = after_rules(9, 4, NOW, rules, samples)
    assert (result.replicas, result.reason) == (5, "ScaleUpStabilized")
    assert result.held_by == (
        "scaleUp stabilization (120 s): the smallest proposal since 22:18:00 UTC is 5, so 5",
    )
    assert after_rules(9, 4, NOW, HpaRules(1, 20), samples).replicas == 8  # +4 pods / +100 %


def test_the_rate_policies_count_the_changes_seen_in_their_period() -> None:
    """``convertDesiredReplicasWithBehaviorRate``: scaleUp +2 pods per 120 s. The HPA
    went from 2 to 4 replicas, seen 60 s ago (inside the period): periodStartReplicas =
    4 - 2 = 2, so the limit is 2 + 2 = 4, the current count: it stays at 4 (ScaleUpLimit).
    Seen 180 s ago (outside), the start is 4 and it may go to 6."""
    rules = HpaRules(1, 20, scale_up_policies=(RatePolicy("Pods", 2, 120.0),))
    recent = [RulesSample(NOW - 120, 4, 2), RulesSample(NOW - 60, 6, 4)]
    held = after_rules(10, 4, NOW, rules, recent)
    assert (held.replicas, held.reason) == (4, "ScaleUpLimit")
    assert held.held_by == (
        "scaleUp rate (2 pods per 120 s, selectPolicy Max, from the changes seen in each "
        "period): at most 4",
    )
    older = [RulesSample(NOW - 240, 4, 2), RulesSample(NOW - 180, 6, 4)]
    assert after_rules(10, 4, NOW, rules, older).replicas == 6
    # The scale-down side: -2 pods or -50 % per 60 s, Max: from 10, int(10 * 0.5) = 5.
    down = HpaRules(1, 20, scale_down_window=0, scale_down_policies=SLOW_DOWN)
    slowed = after_rules(1, 10, NOW, down, [RulesSample(NOW - 60, 10, 10)])
    assert (slowed.replicas, slowed.reason) == (5, "ScaleDownLimit")
    assert slowed.held_by[0].endswith("at least 5")


def test_a_disabled_scale_down_keeps_the_replicas() -> None:
    """``calculateScaleDownLimitWithBehaviors`` returns currentReplicas when
    ``selectPolicy`` is Disabled: proposing 3 at 8 replicas stays at 8 (ScaleDownLimit),
    while scaling up is untouched."""
    rules = HpaRules(1, 20, scale_down_window=0, scale_down_select="Disabled")
    result = after_rules(3, 8, NOW, rules)
    assert (result.replicas, result.reason) == (8, "ScaleDownLimit")
    assert result.held_by == ("scaleDown selectPolicy Disabled: the HPA does not scale down, so 8",)
    assert after_rules(12, 8, NOW, rules).replicas == 12


def test_min_and_max_clamp_and_name_autonomics_floor() -> None:
    """``convertDesiredReplicasWithBehaviorRate``: a scale-up limit at or above
    maxReplicas leaves maxReplicas (TooManyReplicas); a scale-down limit at or below
    minReplicas leaves minReplicas (TooFewReplicas). ``reconcileAutoscaler``: replicas
    below minReplicas are set to it before any metric or rule."""
    # From 10, +100 % allows 20; maxReplicas 12 is below that: 30 becomes 12.
    capped = after_rules(30, 10, NOW, HpaRules(2, 12))
    assert (capped.replicas, capped.reason, capped.held_by) == (
        12,
        "TooManyReplicas",
        ("maxReplicas 12",),
    )
    # From 8, -100 % allows 0; minReplicas 6 is above: 2 becomes 6.
    ours = HpaRules(6, 20, scale_down_window=0, floor_is_autonomic=True)
    floored = after_rules(2, 8, NOW, ours)
    assert (floored.replicas, floored.reason) == (6, "TooFewReplicas")
    assert floored.held_by == ("minReplicas 6 (Autonomic's floor)",)
    theirs = after_rules(2, 8, NOW, dataclasses.replace(ours, floor_is_autonomic=False))
    assert theirs.held_by == ("minReplicas 6",)
    # Stabilized first, then clamped: both are said, in order.
    both = after_rules(2, 8, NOW, HpaRules(6, 20), [RulesSample(NOW - 60, 5, 8)])
    assert both.replicas == 6 and len(both.held_by) == 2
    assert both.held_by[0].startswith("scaleDown stabilization (300 s)")
    assert both.held_by[1] == "minReplicas 6"
    # Below the floor Autonomic raised: straight to it, no rule applied.
    below = after_rules(9, 3, NOW, ours)
    assert (below.replicas, below.reason) == (6, "BelowMinimum")
    assert below.held_by[0].startswith("minReplicas 6 (Autonomic's floor): 3 replicas are below")
    above = after_rules(None, 25, NOW, ours)
    assert (above.replicas, above.reason) == (20, "AboveMaximum")


def test_no_proposal_a_missing_metric_and_a_target_at_zero() -> None:
    assert after_rules(None, 5, NOW, HpaRules(1, 10)).replicas == 5
    missing = after_rules(5, 5, NOW, HpaRules(1, 10), held_by_missing=True)
    assert (missing.replicas, missing.reason) == (5, "MissingMetric")
    off = after_rules(4, 0, NOW, HpaRules(1, 10))
    assert (off.replicas, off.reason) == (0, "ScalingDisabled")
    with pytest.raises(ValueError):
        after_rules(4, 4, NOW, HpaRules(5, 3))


HPA = ObjectRef("HorizontalPodAutoscaler", "web", "shop")


def test_the_loop_samples_each_cycle_and_shows_after_rules() -> None:
    """web's HPA at 8 replicas: cpu at exactly its target proposes 8; a minute later at
    half of it proposes 4, which the 8 sampled the cycle before holds (scale-down
    stabilization). Once the loop has written its floor (10) the HPA, still at 8, is below
    minReplicas: it goes straight to 10, named as Autonomic's floor."""
    t, values = week_and_a_day(71)
    values[-100:] = 50.0
    clock = FakeClock(float(t[-80]))
    web = dataclasses.replace(
        workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "10"}), replicas=8, ready_replicas=8
    )
    loop = loop_over(WeekReader(t, values), clock, [web])
    cluster = cast(Any, loop.cluster)
    cpu = MetricReading("Resource", "cpu", "Utilization", 70, 70, "70%", "70%")
    cluster.hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 8, 8, uid="u1", metrics=(cpu,))
    loop.cycle()
    first = loop.report()["hpaMetrics"][str(web.ref)]["afterRules"]
    assert (first["replicas"], first["heldBy"], first["approximate"]) == (8, None, True)
    clock.advance(60)
    cooler = dataclasses.replace(cpu, current=35, current_text="35%")
    cluster.hpas[web.ref] = dataclasses.replace(cluster.hpas[web.ref], metrics=(cooler,))
    loop.cycle()
    shown = loop.report()["hpaMetrics"][str(web.ref)]
    assert shown["proposes"] == 4
    after = shown["afterRules"]
    assert (after["replicas"], after["reason"], after["seenSeconds"]) == (
        8,
        "ScaleDownStabilized",
        60,
    )
    assert "the largest proposal since" in after["heldBy"] and after["heldBy"].endswith(
        "is 8, so 8"
    )
    # The floor written (as an approved decision would): the HPA's minReplicas is
    # Autonomic's.
    loop.models[web.ref].written = {"field": "minReplicas", "min_replicas": 10}
    cluster.hpas[web.ref] = dataclasses.replace(cluster.hpas[web.ref], min_replicas=10)
    clock.advance(60)
    loop.cycle()
    after = loop.report()["hpaMetrics"][str(web.ref)]["afterRules"]
    assert (after["replicas"], after["reason"]) == (10, "BelowMinimum")
    assert after["heldBy"].startswith("minReplicas 10 (Autonomic's floor): 8 replicas")


def test_the_hpas_scale_down_behavior_and_windows_are_read() -> None:
    hpa: dict[str, Any] = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 20,
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 30},
                "scaleDown": {
                    "selectPolicy": "Disabled",
                    "stabilizationWindowSeconds": 600,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                },
            },
        },
    }
    state = hpa_state(hpa)
    assert (state.scale_up_window, state.scale_down_window) == (30, 600)
    assert state.scale_down_policies == (("Pods", 1, 60),)
    assert state.scale_down_select == "Disabled"
    hpa["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 7200}}  # refused
    state = hpa_state(hpa)
    assert (state.scale_up_window, state.scale_down_window) == (None, None)
    assert (state.scale_down_policies, state.scale_down_select) == ((), "")


def test_without_behavior_the_controllers_older_rules_apply() -> None:
    """An HPA without ``spec.behavior`` stays without one (the API server's defaulting
    fills in only a ``behavior`` that is there), and ``reconcileAutoscaler`` then calls
    ``normalizeDesiredReplicas``: ``stabilizeRecommendation`` keeps the largest of the
    proposal and those not Before(now - 300 s), with no bound at the current count, and
    ``convertDesiredReplicasWithRules`` allows up to max(2 * current, 4) at once.

    At 5 replicas proposing 3, with 8 proposed 120 s ago: the older path stabilizes to 8
    and, 8 being within max(10, 4), sets 8 (up, under a proposal below the count); with a
    ``behavior`` the scale-down window holds it at the current 5. A proposal exactly 300 s
    old still counts (Before the cutoff is strict)."""
    legacy = HpaRules(2, 20, behavior=False)
    samples = [RulesSample(NOW - 120, 8, 5)]
    older = after_rules(3, 5, NOW, legacy, samples)
    assert (older.replicas, older.reason) == (8, "ScaleDownStabilized")
    assert older.held_by[0].startswith("stabilization (300 s, the HPA sets no behavior)")
    newer = after_rules(3, 5, NOW, HpaRules(2, 20), samples)
    assert (newer.replicas, newer.reason) == (5, "ScaleDownStabilized")
    at_cutoff = after_rules(3, 5, NOW, legacy, [RulesSample(NOW - 300, 9, 5)])
    assert at_cutoff.replicas == 9
    # Up: from 3, max(2 * 3, 4) = 6, where the default policies allow max(3 + 4, 6) = 7;
    # from 1, max(2, 4) = 4 against 5; capped by maxReplicas 5 it is TooManyReplicas.
    assert after_rules(12, 3, NOW, legacy).as_dict()["replicas"] == 6
    assert after_rules(12, 3, NOW, HpaRules(2, 20)).replicas == 7
    one = after_rules(12, 1, NOW, HpaRules(1, 20, behavior=False))
    assert (one.replicas, one.reason) == (4, "ScaleUpLimit")
    capped = after_rules(12, 3, NOW, HpaRules(2, 5, behavior=False))
    assert (capped.replicas, capped.reason, capped.held_by) == (
        5,
        "TooManyReplicas",
        ("maxReplicas 5",),
    )
    # Down there is no rate limit, only minReplicas.
    assert after_rules(1, 10, NOW, HpaRules(2, 20, behavior=False)).replicas == 2
    assert after_rules(1, 10, NOW, HpaRules(1, 20, behavior=False)).replicas == 1


def test_the_loop_takes_an_hpa_without_behavior_by_the_older_rules() -> None:
    """web's HPA, written without ``behavior``, at 3 replicas with cpu at 4 times its
    target proposes 12: the controller's older path allows max(2 * 3, 4) = 6 at once,
    not the +4 pods of the ``behavior`` defaults (7), which apply once it has one."""
    t, values = week_and_a_day(72)
    clock = FakeClock(float(t[-80]))
    web = workload("web", **{CAPACITY: "1000"})
    loop = loop_over(WeekReader(t, values), clock, [web])
    cluster = cast(Any, loop.cluster)
    hot = MetricReading("Resource", "cpu", "Utilization", 70, 280, "70%", "280%")
    cluster.hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 3, 3, uid="u1", metrics=(hot,))
    loop.cycle()
    shown = loop.report()["hpaMetrics"][str(web.ref)]
    assert shown["proposes"] == 12
    assert (shown["afterRules"]["replicas"], shown["afterRules"]["reason"]) == (6, "ScaleUpLimit")
    cluster.hpas[web.ref] = dataclasses.replace(cluster.hpas[web.ref], behavior=True)
    clock.advance(60)
    loop.cycle()
    after = loop.report()["hpaMetrics"][str(web.ref)]["afterRules"]
    assert (after["replicas"], after["reason"]) == (7, "ScaleUpLimit")


def test_a_behavior_is_told_from_none() -> None:
    hpa: dict[str, Any] = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 20},
    }
    assert hpa_state(hpa).behavior is False
    hpa["spec"]["behavior"] = {}  # defaulted by the API server: every rule at its default
    assert hpa_state(hpa).behavior is True


def test_no_proposal_is_kept_from_a_cycle_the_controller_set_a_bound() -> None:
    """Below minReplicas the controller sets it without reading the metrics, so it
    records no recommendation that reconcile: at 2 replicas under a floor of 10, cpu at
    4.5 times its target (which would propose 9) is not in the scale-down window a
    minute later, when the floor is back at 2 and the HPA, now at 10, proposes less."""
    t, values = week_and_a_day(73)
    clock = FakeClock(float(t[-80]))
    web = dataclasses.replace(
        workload("web", **{CAPACITY: "1000"}), replicas=2, ready_replicas=2, status_replicas=2
    )
    loop = loop_over(WeekReader(t, values), clock, [web])
    cluster = cast(Any, loop.cluster)
    hot = MetricReading("Resource", "cpu", "Utilization", 70, 315, "70%", "315%")
    cluster.hpas[web.ref] = HpaState(HPA, web.ref, 10, 20, 2, 2, uid="u1", metrics=(hot,))
    loop.cycle()
    shown = loop.report()["hpaMetrics"][str(web.ref)]
    assert shown["proposes"] == 9
    assert (shown["afterRules"]["replicas"], shown["afterRules"]["reason"]) == (10, "BelowMinimum")
    clock.advance(60)
    cool = MetricReading("Resource", "cpu", "Utilization", 70, 14, "70%", "14%")
    cluster.hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 10, 10, uid="u1", metrics=(cool,))
    cluster.workloads[:] = [
        dataclasses.replace(web, replicas=10, ready_replicas=10, status_replicas=10)
    ]
    loop.cycle()
    shown = loop.report()["hpaMetrics"][str(web.ref)]
    assert shown["proposes"] == 2
    after = shown["afterRules"]
    assert (after["replicas"], after["reason"], after["heldBy"]) == (2, "DesiredWithinRange", None)


def test_a_new_hpa_starts_without_the_old_ones_samples_and_bad_bounds_show_null() -> None:
    """web's HPA proposes 8 at 8 replicas, then 4: held at 8 by the sample before. The
    HPA deleted and created again under its name (another uid) has no such past: its 4
    stands (the controller keys its recommendations by name, but drops them once it
    finds the HPA gone). An HPA whose maxReplicas the API server would refuse (0) has
    ``afterRules`` null."""
    t, values = week_and_a_day(74)
    clock = FakeClock(float(t[-80]))
    web = dataclasses.replace(
        workload("web", **{CAPACITY: "1000"}), replicas=8, ready_replicas=8, status_replicas=8
    )
    loop = loop_over(WeekReader(t, values), clock, [web])
    cluster = cast(Any, loop.cluster)
    cpu = MetricReading("Resource", "cpu", "Utilization", 70, 70, "70%", "70%")
    cluster.hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 8, 8, uid="u1", metrics=(cpu,))
    loop.cycle()
    clock.advance(60)
    cooler = dataclasses.replace(cpu, current=35, current_text="35%")
    cluster.hpas[web.ref] = dataclasses.replace(cluster.hpas[web.ref], metrics=(cooler,))
    loop.cycle()
    held = loop.report()["hpaMetrics"][str(web.ref)]["afterRules"]
    assert (held["replicas"], held["reason"]) == (8, "ScaleDownStabilized")
    clock.advance(60)
    cluster.hpas[web.ref] = dataclasses.replace(cluster.hpas[web.ref], uid="u2")
    loop.cycle()
    fresh = loop.report()["hpaMetrics"][str(web.ref)]["afterRules"]
    assert (fresh["replicas"], fresh["reason"], fresh["seenSeconds"]) == (
        4,
        "DesiredWithinRange",
        0,
    )
    clock.advance(60)
    cluster.hpas[web.ref] = dataclasses.replace(cluster.hpas[web.ref], max_replicas=0)
    loop.cycle()
    shown = loop.report()["hpaMetrics"][str(web.ref)]
    assert shown["proposes"] == 4 and shown["afterRules"] is None
