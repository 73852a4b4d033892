"""Absolute objectives (a canary as bad as its baseline is not promoted) and the minimum
request count of a continuous metric that names its counts."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from forecasting.canary import (
    CanaryDataError,
    CanaryJudge,
    CanarySpecError,
    Decision,
    Direction,
    Interval,
    JudgeSettings,
    MetricKind,
    MetricSpec,
    MetricStatus,
    Tolerance,
    Verdict,
    parse_spec,
)

Row = dict[str, float]


def _errors(objective: float | None = None, *, critical: bool = True) -> MetricSpec:
    return MetricSpec(
        "error_rate",
        kind=MetricKind.RATIO,
        tolerance=Tolerance(0.005, relative=False),
        numerator="errors",
        denominator="requests",
        objective=objective,
        critical=critical,
    )


def _run(
    specs: list[MetricSpec],
    sides: Callable[[int], tuple[Row, Row]],
    *,
    intervals: int = 60,
    settings: JudgeSettings | None = None,
) -> list[Verdict]:
    """Every verdict until the first final one (or the data end)."""
    judge = CanaryJudge(specs, settings)
    verdicts = []
    for i in range(intervals):
        baseline, canary = sides(i)
        verdicts.append(judge.update(Interval(60.0 * i, baseline, canary)))
        if verdicts[-1].final:
            break
    return verdicts


def _latency(rng: np.random.Generator, base: float, canary: float) -> Callable[[int], Any]:
    def sides(_: int) -> tuple[Row, Row]:
        return (
            {"latency": base * math.exp(rng.normal(0, 0.05))},
            {"latency": canary * math.exp(rng.normal(0, 0.05))},
        )

    return sides


def _rates(rng: np.random.Generator, base: float, canary: float, n: int = 5000) -> Any:
    def sides(_: int) -> tuple[Row, Row]:
        return (
            {"errors": float(rng.binomial(n, base)), "requests": float(n)},
            {"errors": float(rng.binomial(n, canary)), "requests": float(n)},
        )

    return sides


def _stated(sentence: str, what: str) -> float:
    """The canary's value as the sentence states it (a rate in percent)."""
    found = re.search(rf"the canary's {what} ([0-9.]+)%? \(interval", sentence)
    assert found, sentence
    return float(found.group(1))


# --- the spec ------------------------------------------------------------------------


def test_objectives_parse_as_a_rate_or_in_the_metrics_own_units() -> None:
    specs = parse_spec(
        {
            "metrics": {
                "errors": {
                    "kind": "ratio",
                    "numerator": "errors",
                    "denominator": "requests",
                    "objective": "1%",
                },
                "timeouts": {
                    "kind": "ratio",
                    "numerator": "timeouts",
                    "denominator": "requests",
                    "objective": 0.002,
                },
                "latency_p95": {"objective": 0.5, "count": "requests"},
                "throughput": {"direction": "decrease", "objective": 200},
                "p50": {"count": "requests", "min_count": 50},
                "cpu": {"kind": "resource"},
            }
        }
    )
    by_name = {s.name: s for s in specs}
    assert by_name["errors"].objective == pytest.approx(0.01)
    assert by_name["timeouts"].objective == 0.002
    assert by_name["latency_p95"].objective == 0.5
    assert by_name["latency_p95"].columns == ("latency_p95", "requests")
    assert by_name["latency_p95"].needed_count == 1000  # DEFAULT_MIN_COUNT
    assert by_name["p50"].needed_count == 50
    assert by_name["throughput"].direction is Direction.DECREASE
    assert by_name["cpu"].objective is None and by_name["cpu"].needed_count == 0


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"kind": "ratio", "objective": "1pp"}, "metrics.m.objective", "'1%' or 0.01"),
        ({"kind": "ratio", "objective": 1.5}, "metrics.m.objective", "below 1"),
        ({"kind": "ratio", "objective": 0}, "metrics.m.objective", "above 0"),
        ({"kind": "ratio", "objective": True}, "metrics.m.objective", "expected a rate"),
        ({"objective": "500ms"}, "metrics.m.objective", "own units"),
        ({"objective": "5%"}, "metrics.m.objective", "ratio metrics only"),
        ({"objective": -1}, "metrics.m.objective", "must be above 0, got -1"),
        ({"objective": math.inf}, "metrics.m.objective", "finite"),
        (
            {"kind": "ratio", "count": "requests"},
            "metrics.m.count",
            "counts its requests with its denominator",
        ),
        ({"count": "m"}, "metrics.m.count", "other than the metric's own"),
        ({"count": 3}, "metrics.m.count", "name of a column"),
        ({"min_count": 10}, "metrics.m.min_count", "needs count"),
        ({"count": "requests", "min_count": -1}, "metrics.m.min_count", "0 or more"),
        ({"objektive": 1}, "metrics.m.objektive", "did you mean 'objective'"),
    ],
)
def test_a_bad_objective_or_count_names_its_field(
    body: dict[str, Any], field: str, words: str
) -> None:
    if body.get("kind") == "ratio":
        body = {"numerator": "e", "denominator": "r", **body}
    with pytest.raises(CanarySpecError) as info:
        parse_spec({"metrics": {"m": body}})
    assert info.value.field == field
    assert info.value.path == tuple(field.split("."))
    assert words in info.value.message


def test_a_negative_objective_is_fine_for_a_metric_that_can_be_negative() -> None:
    (spec,) = parse_spec(
        {"metrics": {"drift": {"allow_negative": True, "tolerance": 5, "objective": -2}}}
    )
    assert spec.objective == -2


# --- the judge: objectives -------------------------------------------------------------


def test_both_bad_latency_is_promoted_without_an_objective_and_rolled_back_with_one() -> None:
    """Baseline and canary both average 900 ms against an objective of 500 ms (a slow
    dependency, or a bad baseline release): the comparison alone promotes it."""
    plain = _run([MetricSpec("latency")], _latency(np.random.default_rng(5), 900, 900))
    assert plain[-1].decision is Decision.PROMOTE  # the gap
    held = _run(
        [MetricSpec("latency", objective=500)], _latency(np.random.default_rng(5), 900, 900)
    )
    # never promoted on the way, and rolled back once the bound clears the objective
    assert all(v.decision is not Decision.PROMOTE for v in held)
    verdict = held[-1]
    assert verdict.decision is Decision.ROLLBACK
    assert verdict.reason == "ObjectiveBreached"
    assert "objective of at most 500" in verdict.sentence
    assert 800 < _stated(verdict.sentence, "average") < 1000  # its value, about 900
    (finding,) = verdict.metrics
    assert finding.status is MetricStatus.REGRESSED
    assert finding.objective_status == "breached"
    assert finding.objective_lower is not None and finding.objective_lower > 500
    shown = finding.to_dict()["objective"]
    assert shown["value"] == 500 and shown["status"] == "breached"
    assert 800 < shown["canary"] < 1000


def test_both_bad_error_rates_are_promoted_without_an_objective_and_rolled_back_with_one() -> None:
    """Both sides serve 3 % errors; within 0.5 pp of each other, so promoted on the
    comparison, but far above a 1 % error-rate objective."""
    plain = _run([_errors()], _rates(np.random.default_rng(7), 0.03, 0.03))
    assert plain[-1].decision is Decision.PROMOTE  # the gap
    held = _run([_errors(0.01)], _rates(np.random.default_rng(7), 0.03, 0.03))
    assert all(v.decision is not Decision.PROMOTE for v in held)
    assert held[-1].decision is Decision.ROLLBACK
    assert held[-1].reason == "ObjectiveBreached"
    assert "is above its objective of at most 1%" in held[-1].sentence
    assert 2.5 < _stated(held[-1].sentence, "error rate") < 3.5  # about 3 %


def test_under_the_objective_is_promoted_and_the_sentence_says_so() -> None:
    verdict = _run([_errors(0.01)], _rates(np.random.default_rng(11), 0.002, 0.002))[-1]
    assert verdict.decision is Decision.PROMOTE and verdict.reason == "WithinTolerance"
    assert "meets its objective of at most 1%" in verdict.sentence
    assert 0.1 < _stated(verdict.sentence, "error rate") < 0.3  # about 0.2 %
    latency = _run(
        [MetricSpec("latency", objective=500)], _latency(np.random.default_rng(12), 300, 300)
    )[-1]
    assert latency.decision is Decision.PROMOTE
    assert 250 < _stated(latency.sentence, "average") < 350
    assert "meets its objective of at most 500" in latency.sentence


def test_unclear_against_the_objective_is_not_promoted_and_ends_inconclusive() -> None:
    """Both sides sit just under the objective: the comparison says within tolerance, the
    objective cannot be shown met; the judge keeps collecting, then asks a person."""
    verdicts = _run(
        [MetricSpec("latency", objective=500)], _latency(np.random.default_rng(13), 497, 497)
    )
    assert all(v.decision is Decision.CONTINUE for v in verdicts[:-1])
    assert len(verdicts) == 60
    verdict = verdicts[-1]
    assert verdict.decision is Decision.INCONCLUSIVE and verdict.reason == "Unclear"
    assert "within the 10% tolerance, but not yet clear whether the canary's average" in (
        verdict.sentence
    )
    assert "meets its objective of at most 500" in verdict.sentence
    mid = verdicts[20]
    assert mid.metrics[0].status is MetricStatus.UNDECIDED
    assert "not yet clear whether the canary's average" in mid.sentence


def test_an_objective_is_held_to_the_minimum_evidence_rule() -> None:
    """A canary at 10 times its objective is still not rolled back before min_intervals."""
    verdicts = _run(
        [MetricSpec("latency", objective=100)],
        _latency(np.random.default_rng(17), 1000, 1000),
        settings=JudgeSettings(min_intervals=8),
    )
    assert [v.decision for v in verdicts[:7]] == [Decision.CONTINUE] * 7
    assert verdicts[7].decision is Decision.ROLLBACK


def test_a_floor_for_a_metric_where_lower_is_worse() -> None:
    spec = MetricSpec("throughput", direction=Direction.DECREASE, objective=200)

    def sides(level: float) -> Any:
        rng = np.random.default_rng(19)
        return lambda _: (
            {"throughput": level * math.exp(rng.normal(0, 0.05))},
            {"throughput": level * math.exp(rng.normal(0, 0.05))},
        )

    low = _run([spec], sides(100))[-1]
    assert low.decision is Decision.ROLLBACK
    assert "is below its objective of at least 200" in low.sentence
    high = _run([spec], sides(400))[-1]
    assert high.decision is Decision.PROMOTE
    assert "meets its objective of at least 200" in high.sentence


def test_a_non_critical_metric_past_its_objective_goes_to_a_person() -> None:
    verdict = _run(
        [_errors(0.01, critical=False), MetricSpec("latency")],
        lambda i: tuple(  # type: ignore[return-value]
            {**r, "latency": 100.0 + i % 3}
            for r in _rates(np.random.default_rng(23 + i), 0.03, 0.03)(i)
        ),
    )[-1]
    assert verdict.decision is Decision.INCONCLUSIVE
    assert verdict.reason == "NonCriticalRegression"
    assert "objective of at most 1%" in verdict.sentence


def test_a_canary_without_data_is_not_held_to_an_objective_by_its_baseline() -> None:
    """The objective is the canary's own: a canary with no values has no finding on it,
    and a baseline with none does not stop the canary's values being judged."""
    nan = math.nan
    judge = CanaryJudge([MetricSpec("latency", objective=500)])
    for i in range(3):
        verdict = judge.update(Interval(60.0 * i, {"latency": 900}, {"latency": nan}))
    assert verdict.metrics[0].status is MetricStatus.NO_DATA
    assert "the canary has no average yet to hold to its objective of at most 500" in (
        verdict.sentence
    )
    judge = CanaryJudge([MetricSpec("latency", objective=500)])
    rng = np.random.default_rng(29)
    for i in range(12):
        verdict = judge.update(
            Interval(60.0 * i, {"latency": nan}, {"latency": 900 * math.exp(rng.normal(0, 0.05))})
        )
        if verdict.final:
            break
    assert verdict.decision is Decision.ROLLBACK and verdict.reason == "ObjectiveBreached"


def test_without_objectives_the_judge_is_unchanged() -> None:
    """Default off: the same data give the very same verdicts, confidences and numbers."""
    rng = np.random.default_rng(31)
    rows = [_rates(rng, 0.002, 0.002)(i) for i in range(40)]
    a = CanaryJudge([_errors(), MetricSpec("latency")])
    b = CanaryJudge([_errors(), MetricSpec("latency")])
    for i, (base, can) in enumerate(rows):
        interval = Interval(60.0 * i, {**base, "latency": 100 + i % 5}, {**can, "latency": 101})
        assert a.update(interval).to_dict() == b.update(interval).to_dict()
    assert a.verdict is not None
    assert all("objective" not in m for m in a.verdict.to_dict()["metrics"])


# --- the judge: a minimum count for continuous metrics ----------------------------------


def _few(rng: np.random.Generator, requests: float) -> Callable[[int], tuple[Row, Row]]:
    def sides(_: int) -> tuple[Row, Row]:
        return (
            {"latency": 100 * math.exp(rng.normal(0, 0.05)), "requests": 6000.0},
            {"latency": 100 * math.exp(rng.normal(0, 0.05)), "requests": requests},
        )

    return sides


def test_a_latency_only_spec_is_not_promoted_on_a_handful_of_requests() -> None:
    """A canary serving 3 requests a minute: its latency looks like the baseline's, and a
    latency-only spec promoted it after 9 intervals (27 requests). Naming the count
    column holds it until it has served the minimum, and says how few it has."""
    (spec,) = parse_spec({"metrics": {"latency": {"count": "requests"}}})
    verdicts = _run([spec], _few(np.random.default_rng(37), 3.0))
    assert all(v.decision is not Decision.PROMOTE for v in verdicts)
    verdict = verdicts[-1]
    assert verdict.decision is Decision.INCONCLUSIVE and len(verdicts) == 60
    assert "within the 10% tolerance, but on too few requests to promote on " in (verdict.sentence)
    assert "(requests so far: canary 180, at least 1,000 needed)" in verdict.sentence


def test_with_enough_requests_the_count_does_not_hold_a_promotion() -> None:
    (spec,) = parse_spec({"metrics": {"latency": {"count": "requests"}}})
    verdicts = _run([spec], _few(np.random.default_rng(41), 100.0))
    assert verdicts[-1].decision is Decision.PROMOTE
    # not before 1,000 requests: the tenth interval at the earliest
    assert len(verdicts) >= 10
    (low,) = parse_spec({"metrics": {"latency": {"count": "requests", "min_count": 20}}})
    assert _run([low], _few(np.random.default_rng(37), 3.0))[-1].decision is Decision.PROMOTE


def test_the_count_never_holds_a_rollback_and_a_bad_count_is_refused() -> None:
    spec = MetricSpec("latency", count="requests")
    rng = np.random.default_rng(43)
    verdicts = _run(
        [spec],
        lambda _: (
            {"latency": 100 * math.exp(rng.normal(0, 0.05)), "requests": 6000.0},
            {"latency": 200 * math.exp(rng.normal(0, 0.05)), "requests": 3.0},
        ),
    )
    assert verdicts[-1].decision is Decision.ROLLBACK
    judge = CanaryJudge([spec])
    with pytest.raises(CanaryDataError, match="'requests' is -1"):
        judge.update(Interval(0.0, {"latency": 1.0}, {"latency": 1.0, "requests": -1.0}))
