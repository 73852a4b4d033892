"""A metric marked ``dry_run`` is judged and reported but never moves the verdict.

Users of Kayenta ("muted" metrics) and Argo Rollouts (argo-rollouts#303, #2866: ``dryRun``)
watch a new or untrusted metric on real releases before they let it roll one back; before
this, every metric in Autonomic's spec could roll a canary back or hold its promotion.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from agent.settings import Settings, advisories
from forecasting.canary import (
    CanaryDataError,
    CanaryJudge,
    CanarySpecError,
    Decision,
    MetricKind,
    MetricSpec,
    MetricStatus,
    Tolerance,
    judge_run,
    parse_spec,
)
from tests.unit.canary.test_canary_judge import ERRORS, make_run
from tests.unit.canary.test_judge_cli import SPEC, make_pair, run_cli
from tests.unit.test_config_bad_values import check

MUTED_LATENCY = MetricSpec("latency", dry_run=True)


def test_a_dry_run_metric_that_regresses_does_not_roll_back_and_is_reported() -> None:
    rng = np.random.default_rng(21)
    run = make_run(rng, factor=1.5)  # latency 50 % worse, errors as the baseline's
    counted = judge_run([MetricSpec("latency"), ERRORS], run)
    assert counted.decision is Decision.ROLLBACK  # the same run, latency counted

    verdict = judge_run([MUTED_LATENCY, ERRORS], run)
    assert verdict.decision is Decision.PROMOTE
    latency = next(m for m in verdict.metrics if m.name == "latency")
    assert latency.status is MetricStatus.REGRESSED
    assert latency.dry_run
    assert latency.sentence.endswith("(dry run: not counted in the verdict).")
    assert latency.to_dict()["dry_run"] is True
    assert "dry_run" not in next(m for m in verdict.metrics if m.name != "latency").to_dict()
    assert verdict.sentence.startswith("Promote: every counted metric is within its tolerance.")
    said = latency.sentence.removesuffix(" (dry run: not counted in the verdict).")
    assert verdict.sentence.endswith(f" Dry run, not counted: {said}.")


def test_adding_a_dry_run_metric_changes_no_other_metrics_verdict() -> None:
    """A dry-run metric takes no share of the error budgets: the counted metrics decide as
    they would alone, on the same intervals, at the same time."""
    for seed, added_error in ((31, 0.0), (32, 0.01)):
        run = make_run(np.random.default_rng(seed), factor=1.3, added_error=added_error)
        alone = judge_run([ERRORS], run)
        with_muted = judge_run([ERRORS, MUTED_LATENCY], run)
        assert with_muted.decision is alone.decision
        assert with_muted.decided_after_seconds == alone.decided_after_seconds
        assert with_muted.metrics[0] == alone.metrics[0]


def test_a_dry_run_metric_does_not_hold_a_promotion_back() -> None:
    """Undecided or without data, it does not keep the analysis collecting."""
    run = make_run(np.random.default_rng(33))
    for interval in run:  # the dry-run metric's column is never read
        del interval.canary["latency"]
    verdict = judge_run([ERRORS, MUTED_LATENCY], run)
    assert verdict.decision is Decision.PROMOTE
    assert verdict.metrics[1].status is MetricStatus.NO_DATA


def test_a_judge_of_dry_run_metrics_alone_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one must decide"):
        CanaryJudge([MUTED_LATENCY])


def test_the_spec_takes_dry_run_and_refuses_a_spec_with_nothing_counted() -> None:
    (spec, other) = parse_spec(
        {"metrics": {"latency": {"dry_run": True}, "errors": {"critical": False}}}
    )
    assert spec.dry_run and not other.dry_run
    with pytest.raises(CanarySpecError) as info:
        parse_spec({"metrics": {"latency": {"dry_run": "yes"}}})
    assert info.value.field == "metrics.latency.dry_run"
    with pytest.raises(CanarySpecError) as info:
        parse_spec({"metrics": {"latency": {"dry_run": True}}})
    assert info.value.field == "metrics"
    assert "every metric is dry_run: true" in info.value.message


def test_config_check_names_the_line_of_a_spec_with_every_metric_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "canary:\n  spec:\n    metrics:\n      latency_p99:\n        dry_run: true\n"
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    (problem,) = problems
    assert problem.startswith(f"{path}:5: canary.spec.metrics: every metric is dry_run: true")


def test_a_spec_whose_only_request_count_is_dry_run_is_warned_of() -> None:
    """The error ratio counts the requests; dry-run, it no longer holds a promotion on a
    handful of requests back, so the spec is warned of as a latency-only one is."""
    errors = {"kind": "ratio", "numerator": "errors", "denominator": "requests"}
    settings = Settings.model_validate(
        {
            "canary": {
                "spec": {"metrics": {"latency_p99": {}, "errors": {**errors, "dry_run": True}}}
            }
        }
    )
    notes = [n for n in advisories(settings) if "counts the canary's requests" in n]
    assert len(notes) == 1
    assert "dry-run metrics (errors) never hold a promotion back" in notes[0]


def test_the_judge_command_promotes_past_a_dry_run_regression_and_marks_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CI step running ``autonomic judge`` exits 0 (promote) when only a dry-run
    metric regressed, and the listing says which finding did not count."""
    base, canary = make_pair(tmp_path, 1.3)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.replace("tolerance: 10%}", "tolerance: 10%, dry_run: true}"))
    code, out, _ = run_cli(
        capsys, "--baseline", str(base), "--canary", str(canary), "--spec", str(spec)
    )
    assert code == 0, out
    assert "  - [regressed, dry run] latency: canary +" in out
    assert "(dry run: not counted in the verdict)." in out


def test_a_dry_run_metric_whose_data_cannot_be_judged_does_not_stop_the_verdict() -> None:
    """A new metric is tried dry-run because its query may be wrong. Before, its data
    that cannot be judged (a negative value; more events than trials) refused the whole
    interval: no counted metric was judged either, every interval, and the canary never
    got a verdict. Now that metric's interval is left out, its finding says why, and the
    counted metrics decide as they would alone."""
    run = make_run(np.random.default_rng(34))
    for interval in run:
        interval.baseline["latency"] = -1.0  # a wrong query: a negative latency
        interval.canary["slow"] = interval.canary["requests"] + 1.0  # more than trials
        interval.baseline["slow"] = 0.0
    swapped = MetricSpec(
        "slow_rate",
        kind=MetricKind.RATIO,
        tolerance=Tolerance(0.005, relative=False),
        numerator="slow",
        denominator="requests",
        dry_run=True,
    )
    alone = judge_run([ERRORS], run)
    assert alone.decision is Decision.PROMOTE

    verdict = judge_run([ERRORS, MUTED_LATENCY, swapped], run)
    assert verdict.decision is alone.decision
    assert verdict.decided_after_seconds == alone.decided_after_seconds
    assert verdict.metrics[0] == alone.metrics[0]
    latency, slow = verdict.metrics[1:]
    assert latency.status is MetricStatus.NO_DATA
    assert "intervals not judged" in latency.sentence and "is negative" in latency.sentence
    assert slow.status is MetricStatus.NO_DATA
    assert "more events than trials" in slow.sentence
    assert slow.sentence.endswith("(dry run: not counted in the verdict).")


def test_a_dry_run_counter_reset_leaves_the_counted_metrics_judged() -> None:
    """A running counter of a dry-run metric that goes down (a reset) leaves out that
    metric's interval only; a counted metric's reset still refuses the interval."""
    run = make_run(np.random.default_rng(35))
    total = 0.0
    for i, interval in enumerate(run):
        total = 0.0 if i == 5 else total + 50.0  # reset at the sixth interval
        interval.baseline["slow_total"] = total
        interval.canary["slow_total"] = total
        interval.baseline["seen_total"] = 10 * total + 10.0 * (i != 5)
        interval.canary["seen_total"] = 10 * total + 10.0 * (i != 5)
    counter = MetricSpec(
        "slow_rate",
        kind=MetricKind.RATIO,
        tolerance=Tolerance(0.005, relative=False),
        numerator="slow_total",
        denominator="seen_total",
        cumulative=True,
        dry_run=True,
    )
    judge = CanaryJudge([ERRORS, counter])
    alone = CanaryJudge([ERRORS])
    for interval in run[:8]:  # the reset at the sixth: no error, and nothing else moved
        assert judge.update(interval).metrics[0] == alone.update(interval).metrics[0]
    assert judge.verdict is not None
    finding = judge.verdict.metrics[1]
    assert "1 interval not judged" in finding.sentence
    assert "'slow_total' went from 250.0 down to 0.0" in finding.sentence
    with pytest.raises(CanaryDataError, match="counter reset"):
        judge_run([ERRORS, replace(counter, dry_run=False)], run)


ERROR_RATIO = {"kind": "ratio", "numerator": "errors", "denominator": "requests"}


def _ratio_columns(body: dict[str, object]) -> list[str]:
    return [str(body[key]) for key in ("numerator", "denominator") if key in body]


@pytest.mark.parametrize(
    ("metrics", "named"),
    [
        (  # the only critical metric is dry-run
            {"latency_p99": {"dry_run": True}, "errors": {**ERROR_RATIO, "critical": False}},
            "its only critical metric (latency_p99) is dry_run",
        ),
        (  # every critical one is, while a non-critical counted one decides
            {
                "latency_p99": {"dry_run": True},
                "latency_p50": {"dry_run": True},
                "errors": {**ERROR_RATIO, "critical": False},
                "cpu": {"kind": "resource", "critical": False, "dry_run": True},
            },
            "every critical metric (latency_p99, latency_p50) is dry_run",
        ),
    ],
)
def test_a_spec_whose_critical_metrics_are_all_dry_run_is_warned_of(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    metrics: dict[str, dict[str, object]],
    named: str,
) -> None:
    """Only a critical metric rolls a canary back and a dry-run one never moves the
    verdict: with every critical metric dry-run, a regression only asks a person. Before,
    neither ``config check`` nor the start-up log said so."""
    columns = {c for name, body in metrics.items() for c in (name, *_ratio_columns(body))}
    canary = {
        "spec": {"metrics": metrics},
        "queries": {c: f'sum({c}{{deployment="$workload"}})' for c in columns},
        "rolloutQueries": {c: f'sum({c}{{pod=~"$replicaset-.*"}})' for c in columns},
    }
    settings = Settings.model_validate({"canary": canary})
    (note,) = [n for n in advisories(settings) if "rolled back" in n]
    assert named in note
    assert "no canary can ever be rolled back automatically" in note
    assert "counted ones (errors, not critical) only asks a person" in note

    code, _, out, _ = check(tmp_path, f"canary: {json.dumps(canary)}\n", capsys)
    assert code == 0
    assert f"warning: canary.spec: {named}" in out


def test_a_spec_with_no_critical_metric_is_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With critical: false on every metric no canary is ever rolled back automatically,
    as when every critical metric is dry-run; only that second case was warned of."""
    metrics: dict[str, dict[str, object]] = {
        "latency_p99": {"critical": False},
        "errors": {**ERROR_RATIO, "critical": False},
        "cpu": {"kind": "resource", "critical": False, "dry_run": True},
    }
    columns = {c for name, body in metrics.items() for c in (name, *_ratio_columns(body))}
    canary = {
        "spec": {"metrics": metrics},
        "queries": {c: f'sum({c}{{deployment="$workload"}})' for c in columns},
        "rolloutQueries": {c: f'sum({c}{{pod=~"$replicaset-.*"}})' for c in columns},
    }
    settings = Settings.model_validate({"canary": canary})
    (note,) = [n for n in advisories(settings) if "rolled back" in n]
    assert note.startswith("canary.spec: no metric is critical (critical: false on every one)")
    assert "no canary can ever be rolled back automatically" in note
    assert "counted ones (latency_p99, errors, not critical) only asks a person" in note

    code, _, out, _ = check(tmp_path, f"canary: {json.dumps(canary)}\n", capsys)
    assert code == 0
    assert "warning: canary.spec: no metric is critical" in out


def test_a_spec_with_a_counted_critical_metric_is_not_warned_of_rollbacks() -> None:
    for metrics in (
        {"latency_p99": {"dry_run": True}, "errors": ERROR_RATIO},  # errors: critical
        {"latency_p99": {}, "errors": {**ERROR_RATIO, "dry_run": True}},
    ):
        settings = Settings.model_validate({"canary": {"spec": {"metrics": metrics}}})
        assert not [n for n in advisories(settings) if "rolled back" in n], metrics
