"""The opt-in spread test: a canary as high on average as its baseline but noisier."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.cli import main
from forecasting.canary import (
    CanaryJudge,
    CanarySpecError,
    Decision,
    Interval,
    JudgeSettings,
    MetricKind,
    MetricSpec,
    MetricStatus,
    Tolerance,
    Verdict,
    parse_spec,
)
from forecasting.canary.spec import DEFAULT_SPREAD


def _intervals(
    seed: int,
    n: int,
    *,
    sd_canary: float = 0.05,
    sd_baseline: float = 0.05,
    phi: float = 0.0,
    shared: float = 0.02,
) -> list[Interval]:
    """Log-normal latencies around 100 ms: a level both sides share (``shared``, the
    traffic's), and each side's own noise, AR(1) with persistence ``phi`` and stationary
    standard deviation ``sd_*`` on the log scale; the same mean level on both sides."""
    rng = np.random.default_rng(seed)
    own = [0.0, 0.0]
    out = []
    for t in range(n):
        level = shared * rng.standard_normal()
        for side in (0, 1):
            own[side] = phi * own[side] + math.sqrt(1 - phi * phi) * rng.standard_normal()
        out.append(
            Interval(
                60.0 * t,
                {"latency": 100.0 * math.exp(level + sd_baseline * own[0])},
                {"latency": 100.0 * math.exp(level + sd_canary * own[1])},
            )
        )
    return out


def _latency(spread: float | None = DEFAULT_SPREAD) -> MetricSpec:
    return MetricSpec("latency", tolerance=Tolerance(0.10, relative=True), spread=spread)


def _judge(spec: MetricSpec, intervals: list[Interval]) -> Verdict:
    judge = CanaryJudge(
        [spec],
        JudgeSettings(max_duration_seconds=60.0 * len(intervals), step_seconds=60.0),
    )
    verdict = None
    for interval in intervals:
        verdict = judge.update(interval)
        if verdict.final:
            break
    assert verdict is not None
    return verdict


def test_aa_canaries_with_spread_on_are_rarely_rolled_back() -> None:
    # alpha 0.01 is split over the comparison and the spread test: over 150 seeded A/A
    # runs of an hour each, looked at every interval, at most 1.5 rollbacks are expected
    decisions = Counter(_judge(_latency(), _intervals(seed, 60)).decision for seed in range(150))
    assert decisions[Decision.ROLLBACK] <= 3, decisions
    # and some are promoted: with equal spreads, the x1.5 tolerance can be shown in an hour
    assert decisions[Decision.PROMOTE] >= 20, decisions


def test_strongly_autocorrelated_aa_canaries_false_alarm_no_more_with_spread_on() -> None:
    # each pod's own noise drifts with persistence 0.9 (about 3 independent looks an
    # hour): the spread test must not add false rollbacks to the comparison's
    on = Counter()
    off = Counter()
    for seed in range(60):
        intervals = _intervals(seed, 60, phi=0.9)
        on[_judge(_latency(), intervals).decision] += 1
        off[_judge(_latency(None), intervals).decision] += 1
    assert on[Decision.ROLLBACK] <= max(off[Decision.ROLLBACK], 1), (on, off)


def test_a_doubled_sd_is_rolled_back_and_said_to_be_a_spread() -> None:
    # the same mean level, twice the interval-to-interval spread: the comparison of
    # levels alone promotes every one of these canaries
    spec = _latency(1.25)
    runs = [_intervals(seed, 180, sd_canary=0.10) for seed in range(6)]
    blind = [_judge(_latency(None), r).decision for r in runs]
    assert blind == [Decision.PROMOTE] * len(runs)
    verdicts = [_judge(spec, r) for r in runs]
    # none promoted; the rest, a person decides (180 intervals: three hours of a one-minute
    # period, or one of a 20-second one; an hour of one-minute intervals seldom shows a
    # doubled sd beyond x1.25, benchmarks/canary_RESULTS.md)
    decisions = Counter(v.decision for v in verdicts)
    assert decisions[Decision.ROLLBACK] >= 5 and not decisions[Decision.PROMOTE], decisions
    verdict = verdicts[0]
    finding = verdict.metrics[0]
    assert finding.status is MetricStatus.REGRESSED
    assert finding.spread == 1.25 and finding.spread_status == "wider"
    assert finding.spread_canary is not None and finding.spread_baseline is not None
    assert 1.6 < finding.spread_canary / finding.spread_baseline < 2.5
    # the sentence says it is a spread, with both spreads and the ratio
    assert "a spread regression" in verdict.sentence
    ratio = finding.spread_canary / finding.spread_baseline
    assert f"canary {finding.spread_canary:.1%} vs baseline {finding.spread_baseline:.1%}" in (
        finding.sentence
    )
    assert f"x{ratio:.2f}" in finding.sentence and "x1.25 spread tolerance" in finding.sentence
    spread = verdict.to_dict()["metrics"][0]["spread"]
    assert spread["status"] == "wider" and spread["tolerance"] == 1.25
    assert spread["ratio"] == pytest.approx(ratio)
    assert spread["canary"] == pytest.approx(finding.spread_canary)


def test_a_metric_with_spread_on_is_not_promoted_before_its_spread_is_shown_within() -> None:
    # equal spreads: the level comparison alone promotes each of these canaries; with the
    # spread on, an hour does not always show the spread within x1.5, and then a person
    # decides, told why
    held = []
    for seed in range(10):
        intervals = _intervals(seed, 60)
        assert _judge(_latency(None), intervals).decision is Decision.PROMOTE
        verdict = _judge(_latency(), intervals)
        assert verdict.decision is not Decision.ROLLBACK
        if verdict.decision is Decision.INCONCLUSIVE:
            held.append(verdict)
    assert held
    finding = held[0].metrics[0]
    assert finding.status is MetricStatus.UNDECIDED and finding.spread_status == "unclear"
    assert "within the 10% tolerance, but not yet clear whether its interval-to-interval" in (
        finding.sentence
    )
    assert finding.sentence.endswith("x1.5 spread tolerance: not promoted on that.")


def test_spread_off_changes_nothing() -> None:
    # a spec with spread: false judges exactly as one without the key, on every kind of
    # run, and its verdict carries no spread
    plain = parse_spec({"metrics": {"latency": {"tolerance": "10%"}}})
    off = parse_spec({"metrics": {"latency": {"tolerance": "10%", "spread": False}}})
    assert plain == off and off[0].spread is None
    for kw in ({}, {"sd_canary": 0.10}, {"phi": 0.9}):
        for seed in range(3):
            intervals = _intervals(seed, 60, **kw)  # type: ignore[arg-type]
            a, b = _judge(plain[0], intervals), _judge(off[0], intervals)
            assert a.to_dict() == b.to_dict()
            assert "spread" not in a.to_dict()["metrics"][0]


def test_a_dry_run_spread_takes_no_share_of_the_error_budgets() -> None:
    # as a dry-run metric's objective: the counted metric's verdict is as without it
    intervals = _intervals(0, 60)
    counted = _latency(None)
    alone = CanaryJudge([counted])
    watched = CanaryJudge(
        [counted, MetricSpec("latency2", spread=DEFAULT_SPREAD, dry_run=True)],
    )
    for interval in intervals:
        both = Interval(
            interval.timestamp,
            {**interval.baseline, "latency2": interval.baseline["latency"]},
            {**interval.canary, "latency2": interval.canary["latency"]},
        )
        a, b = alone.update(interval), watched.update(both)
        assert a.metrics[0] == b.metrics[0]
        if a.final:
            break


@pytest.mark.parametrize(
    ("value", "field", "words"),
    [
        (1, "metrics.latency.spread", "above 1"),
        (1.0, "metrics.latency.spread", "above 1"),
        (0.5, "metrics.latency.spread", "above 1"),
        (-2, "metrics.latency.spread", "above 1"),
        (math.inf, "metrics.latency.spread", "finite"),
        (math.nan, "metrics.latency.spread", "finite"),
        ("1.5x", "metrics.latency.spread", "expected true, false or a number"),
        ([1.5], "metrics.latency.spread", "expected true, false or a number"),
        ({"ratio": 1}, "metrics.latency.spread.ratio", "above 1"),
        ({"ratio": True}, "metrics.latency.spread.ratio", "expected a number"),
        ({"ratio": "2"}, "metrics.latency.spread.ratio", "expected true, false or a number"),
        ({}, "metrics.latency.spread.ratio", "required key is missing"),
        ({"ratio": 2, "ratoi": 2}, "metrics.latency.spread.ratoi", "unknown key"),
        ({"ration": 2}, "metrics.latency.spread.ration", "did you mean 'ratio'"),
    ],
)
def test_bad_spread_values_are_refused_naming_the_field(value: Any, field: str, words: str) -> None:
    with pytest.raises(CanarySpecError) as caught:
        parse_spec({"metrics": {"latency": {"spread": value}}})
    assert caught.value.field == field
    assert words in caught.value.message


@pytest.mark.parametrize("value", [True, 2, {"ratio": 2}])
def test_a_ratio_metric_takes_no_spread(value: Any) -> None:
    with pytest.raises(CanarySpecError) as caught:
        parse_spec(
            {
                "metrics": {
                    "errors": {
                        "kind": "ratio",
                        "numerator": "errors",
                        "denominator": "requests",
                        "spread": value,
                    }
                }
            }
        )
    assert caught.value.field == "metrics.errors.spread"
    assert "continuous and resource metrics" in caught.value.message


def test_good_spread_values_parse() -> None:
    def parsed(value: Any, kind: str = "continuous") -> float | None:
        return parse_spec({"metrics": {"m": {"kind": kind, "spread": value}}})[0].spread

    assert parsed(True) == DEFAULT_SPREAD == 1.5
    assert parsed(False) is None
    assert parsed(2) == 2.0
    assert parsed({"ratio": 1.2}) == 1.2
    assert parsed(3, "resource") == 3.0
    with pytest.raises(CanarySpecError, match="spread"):
        MetricSpec("m", spread=1.0)
    with pytest.raises(CanarySpecError, match="spread"):
        MetricSpec("m", kind=MetricKind.RATIO, numerator="e", denominator="r", spread=2.0)


def test_autonomic_judge_prints_the_spread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = {"baseline": ["timestamp,latency"], "canary": ["timestamp,latency"]}
    for interval in _intervals(0, 180, sd_canary=0.10):
        ts = 1_700_000_000 + interval.timestamp
        rows["baseline"].append(f"{ts:.0f},{interval.baseline['latency']:.6f}")
        rows["canary"].append(f"{ts:.0f},{interval.canary['latency']:.6f}")
    paths = {}
    for side, lines in rows.items():
        paths[side] = tmp_path / f"{side}.csv"
        paths[side].write_text("\n".join(lines) + "\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text("metrics:\n  latency: {tolerance: 10%, spread: {ratio: 1.25}}\n")
    args = ["judge", "--baseline", str(paths["baseline"]), "--canary", str(paths["canary"])]
    code = main([*args, "--spec", str(spec), "--json"])
    captured = capsys.readouterr()
    assert code == 3
    data = json.loads(captured.out)
    assert data["verdict"] == "rollback"
    assert data["metrics"][0]["spread"]["status"] == "wider"
    shown = "[regressed] latency: a spread regression: interval-to-interval spread"
    assert shown in captured.err


@pytest.mark.parametrize(
    ("baseline", "canary", "status"),
    [
        (5.0, 5.0, "within"),  # two constant sides: no spread to compare
        (1e308, 1e308, "within"),
    ],
)
def test_constant_and_extreme_sides_give_a_finite_spread_finding(
    baseline: float, canary: float, status: str
) -> None:
    spec = MetricSpec("gauge", tolerance=Tolerance(1.0, relative=False), spread=2.0)
    judge = CanaryJudge([spec])
    for t in range(10):
        verdict = judge.update(Interval(60.0 * t, {"gauge": baseline}, {"gauge": canary}))
    finding = verdict.metrics[0]
    assert finding.spread_status == status
    assert finding.spread_canary == 0.0 and finding.spread_baseline == 0.0
    assert "nan" not in finding.sentence
    json.dumps(verdict.to_dict(), allow_nan=False)


def test_a_rollback_for_the_objective_and_the_spread_is_not_named_for_the_objective() -> None:
    # both are clear at the first look allowed (60 intervals): the canary's level is past
    # its objective (the baseline's is too, so the comparison sees nothing) and its spread
    # is four times the baseline's; the reason names a regression, not the objective alone
    spec = MetricSpec(
        "latency", tolerance=Tolerance(0.10, relative=True), objective=80.0, spread=1.25
    )
    judge = CanaryJudge([spec], JudgeSettings(min_intervals=60))
    for interval in _intervals(0, 60, sd_canary=0.2):
        verdict = judge.update(interval)
    finding = verdict.metrics[0]
    assert verdict.decision is Decision.ROLLBACK
    assert finding.objective_status == "breached" and finding.spread_status == "wider"
    assert verdict.reason == "CriticalRegression"
    assert "a spread regression" in verdict.sentence


def _counted_intervals(
    seed: int,
    n: int,
    *,
    canary_requests: float,
    baseline_requests: float,
    pod_canary: float = 0.01,
    pod_baseline: float = 0.01,
) -> list[Interval]:
    """Latencies that are each a mean over the interval's requests (log-scale sampling
    noise 0.66 / sqrt(requests), as the canary benchmark's), around a level both sides
    share, plus each pod's own noise ``pod_*``; a ``requests`` column on each side."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(n):
        level = 0.02 * rng.standard_normal()
        values = []
        for pod, requests in ((pod_baseline, baseline_requests), (pod_canary, canary_requests)):
            noise = pod * rng.standard_normal() + 0.66 / math.sqrt(requests) * rng.standard_normal()
            values.append({"latency": 100.0 * math.exp(level + noise), "requests": requests})
        out.append(Interval(60.0 * t, values[0], values[1]))
    return out


def _counted(spread: float = DEFAULT_SPREAD) -> MetricSpec:
    return MetricSpec(
        "latency",
        tolerance=Tolerance(0.10, relative=True),
        count="requests",
        min_count=0.0,
        spread=spread,
    )


def test_a_small_aa_canary_is_not_rolled_back_for_the_noise_of_its_fewer_requests() -> None:
    # a 5 % canary (150 requests a minute against its baseline's 2,850): each of its
    # intervals is a mean over fewer requests, so its spread is about 2.3 times the
    # baseline's for that alone; with both sides' counts known, that is no regression
    decisions = Counter(
        _judge(
            _counted(),
            _counted_intervals(seed, 60, canary_requests=150.0, baseline_requests=2850.0),
        ).decision
        for seed in range(40)
    )
    assert decisions[Decision.ROLLBACK] <= 1, decisions


def test_a_small_canary_far_noisier_than_its_requests_explain_is_rolled_back() -> None:
    # the same 5 % canary whose pods add a spread of 0.5 on the log scale: wider than any
    # share of requests explains, rolled back, and the sentence says what it allowed for
    verdict = _judge(
        _counted(),
        _counted_intervals(0, 60, canary_requests=150.0, baseline_requests=2850.0, pod_canary=0.5),
    )
    assert verdict.decision is Decision.ROLLBACK
    finding = verdict.metrics[0]
    assert finding.spread_status == "wider"
    assert "19.0 times fewer requests per interval" in finding.sentence
    assert verdict.to_dict()["metrics"][0]["spread"]["requests_ratio"] == pytest.approx(19.0)


def test_a_large_canary_is_not_shown_within_on_the_quiet_of_its_many_requests() -> None:
    # a canary with 19 times its baseline's requests: its sampling noise is small, which
    # hides pods of its own as spread as 0.07 on the log scale; at the baseline's traffic
    # its spread would be 1.6 times the baseline's, beyond x1.5, so it is never within
    for seed in range(5):
        verdict = _judge(
            _counted(),
            _counted_intervals(
                seed,
                240,
                canary_requests=2850.0,
                baseline_requests=150.0,
                pod_canary=0.07,
                pod_baseline=0.0,
            ),
        )
        assert verdict.metrics[0].spread_status != "within", verdict.sentence


def test_a_spread_regression_without_a_count_says_the_traffic_is_not_known() -> None:
    # no count column: the judge cannot allow for a canary's fewer requests, and says so
    verdict = _judge(_latency(1.25), _intervals(0, 180, sd_canary=0.10))
    finding = verdict.metrics[0]
    assert finding.spread_status == "wider"
    assert "no count column: each side's requests per interval are not known" in (finding.sentence)
    assert verdict.to_dict()["metrics"][0]["spread"]["requests_ratio"] is None


def test_two_constant_sides_do_not_weaken_a_promotions_confidence() -> None:
    # two constant sides have no spread to compare: they are within it for certain, so
    # the promotion is stated as confidently as with the spread test off
    def promote(spread: float | None) -> Verdict:
        spec = MetricSpec("gauge", tolerance=Tolerance(1.0, relative=False), spread=spread)
        judge = CanaryJudge([spec], JudgeSettings(min_promote_seconds=0.0))
        for t in range(40):
            verdict = judge.update(Interval(60.0 * t, {"gauge": 5.0}, {"gauge": 5.0}))
            if verdict.final:
                break
        assert verdict.decision is Decision.PROMOTE
        return verdict

    assert promote(2.0).confidence == promote(None).confidence
