"""The Kayenta baseline must behave like NetflixACAJudge (anchors/kayenta-judge.md §6)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.peers.kayenta import (
    MetricConfig,
    MetricResult,
    classify_metric,
    classify_score,
    judge_run,
    mann_whitney_interval,
    score_results,
)

RNG = np.random.default_rng(0)


def test_reproduces_the_numbers_reported_in_spinnaker_6278() -> None:
    lower, _, estimate = mann_whitney_interval([100.0] * 7 + [1.0] * 3, [1.0] * 10)
    assert lower == pytest.approx(6.825e-5, abs=1e-6)
    assert estimate == pytest.approx(98.99992904, abs=1e-6)
    config = MetricConfig("m", direction="increase")
    assert classify_metric([1.0] * 10, [100.0] * 7 + [1.0] * 3, config, RNG).label == "Pass"
    assert classify_metric([1.0] * 10, [100.0] * 8 + [1.0] * 2, config, RNG).label == "High"


def test_default_direction_either_fails_an_improvement() -> None:
    rng = np.random.default_rng(1)
    baseline = list(rng.normal(100, 5, 60))
    faster = list(rng.normal(70, 5, 60))
    assert classify_metric(baseline, faster, MetricConfig("lat"), rng).label == "Low"
    increase_only = MetricConfig("lat", direction="increase")
    assert classify_metric(baseline, faster, increase_only, rng).label == "Pass"


def test_effect_size_gate_is_off_by_default_and_nan_on_zero_mean() -> None:
    rng = np.random.default_rng(2)
    baseline = list(rng.normal(100, 1, 60))
    canary = list(rng.normal(103, 1, 60))
    # significant 3 % shift: default allowedIncrease 1.0 lets it through
    assert (
        classify_metric(baseline, canary, MetricConfig("m", direction="increase"), rng).label
        == "High"
    )
    gated = MetricConfig("m", direction="increase", allowed_increase=1.1)
    assert classify_metric(baseline, canary, gated, rng).label == "Pass"
    # zero baseline mean: the ratio is NaN and the gate is skipped (kayenta#377 family)
    zeros = [0.0] * 30
    errors = [0.0] * 20 + [1.0] * 10
    result = classify_metric(zeros, errors, gated, rng)
    assert math.isnan(result.effect_size)


def test_sparse_errors_against_a_zero_baseline_pass() -> None:
    # kayenta#426: canary [0,1,2,1,0,0] vs control all zeros -> PASS
    config = MetricConfig("errors", direction="increase", nan_strategy="replace")
    assert classify_metric([0.0] * 6, [0, 1, 2, 1, 0, 0], config, RNG).label == "Pass"


def test_nodata_rules() -> None:
    nan = [math.nan] * 5
    ok = [1.0, 2.0, 3.0, 4.0, 5.0]
    remove = MetricConfig("m")
    assert classify_metric(nan, ok, remove, RNG).label == "Nodata"
    # replace maps NaN to 0 (so the side is not empty); only a side with no points at all
    # is "no data", which replace turns into a pass (#339)
    replace = MetricConfig("m", nan_strategy="replace")
    assert classify_metric([], ok, replace, RNG).label == "Pass"
    must = MetricConfig("m", must_have_data=True)
    assert classify_metric(nan, ok, must, RNG).label == "NodataFailMetric"
    critical = classify_metric(nan, ok, MetricConfig("m", critical=True), RNG)
    assert critical.label == "Nodata" and critical.critical
    # critical Nodata forces 0; half the metrics Nodata forces 0
    passing = MetricResult("p", "Pass", False, groups=("g",))
    assert score_results([critical, passing])[0] == 0.0
    nodata = MetricResult("n", "Nodata", False, groups=("g",))
    assert score_results([nodata, passing])[0] == 0.0
    assert score_results([nodata, passing, passing])[0] == 100.0  # Nodata left out of the group


def test_error_is_excluded_and_ungrouped_metrics_do_not_score() -> None:
    error = MetricResult("e", "Error", False, groups=("g",))
    high = MetricResult("h", "High", False, groups=("g",))
    passing = MetricResult("p", "Pass", False, groups=("g",))
    assert score_results([error, high, passing])[0] == 50.0
    ungrouped_high = MetricResult("u", "High", False)
    assert score_results([ungrouped_high, passing])[0] == 100.0


def test_group_weights_and_thresholds() -> None:
    a = MetricResult("a", "Pass", False, groups=("latency",))
    b = MetricResult("b", "High", False, groups=("errors",))
    assert score_results([a, b], {"latency": 70.0})[0] == 70.0
    assert classify_score(70.0, 75.0, 50.0) == "Marginal"
    assert classify_score(75.0, 75.0, 50.0) == "Pass"
    assert classify_score(49.99, 75.0, 50.0) == "Fail"


def test_degenerate_ties_are_jittered_reproducibly() -> None:
    config = MetricConfig("m", direction="increase")
    one = classify_metric([1.0] * 20, [2.0] * 20, config, np.random.default_rng(5))
    two = classify_metric([1.0] * 20, [2.0] * 20, config, np.random.default_rng(5))
    assert one.label == "High" and one == two


def test_fail_fast_and_last_window_decides() -> None:
    configs = [MetricConfig("lat", direction="increase", groups=("g",))]
    rng = np.random.default_rng(3)
    base = rng.normal(100, 2, 60)
    bad = base + rng.normal(0, 2, 60) + 30
    verdict = judge_run(
        {"lat": base},
        {"lat": bad},
        configs,
        step_seconds=60,
        lifetime_seconds=3600,
        interval_seconds=600,
    )
    assert verdict.decision == "rollback" and verdict.decided_after_seconds == 600
    good = base + rng.normal(0, 2, 60)
    verdict = judge_run(
        {"lat": base},
        {"lat": good},
        configs,
        step_seconds=60,
        lifetime_seconds=3600,
        interval_seconds=600,
    )
    assert verdict.decision == "promote" and verdict.decided_after_seconds == 3600
    assert len(verdict.scores) == 6


def test_iid_assumption_leaks_on_autocorrelated_series() -> None:
    # §6: with no true shift, per-metric P(High) is ~0 on white noise but ~15 % at AR(1)
    # phi = 0.8 (30 points a side); power at a 1-sd shift on white noise is ~73 %
    from scipy.signal import lfilter

    rng = np.random.default_rng(4)
    config = MetricConfig("m", direction="increase")

    def ar(phi: float) -> list[float]:
        e = rng.standard_normal(30)
        e[0] /= math.sqrt(1 - phi * phi)  # start in the stationary distribution
        return list(100.0 + lfilter([1.0], [1.0, -phi], e))

    def high_share(pairs: list[tuple[list[float], list[float]]]) -> float:
        labels = [classify_metric(b, c, config, rng).label for b, c in pairs]
        return labels.count("High") / len(labels)

    reps = 60
    white = high_share([(ar(0.0), ar(0.0)) for _ in range(reps)])
    corr = high_share([(ar(0.8), ar(0.8)) for _ in range(reps)])
    power = high_share([(ar(0.0), [v + 1.0 for v in ar(0.0)]) for _ in range(reps)])
    assert white <= 1 / reps
    assert corr >= 4 / reps
    assert power >= 0.5
