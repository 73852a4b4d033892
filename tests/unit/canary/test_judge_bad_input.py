"""Bad input to `autonomic judge` and the canary judge: clear errors, never a traceback or NaN."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.cli import main
from agent.cli.judge_cmd import EXIT_CODES
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
    Tolerance,
    parse_spec,
)
from forecasting.canary.sequences import binomial_bounds, normal_mixture_radius

HEADER = ["timestamp", "latency", "errors", "requests"]
RATIO_SPEC = "metrics:\n  e: {kind: ratio, numerator: errors, denominator: requests}\n"


def write_csv(path: Path, rows: Sequence[Sequence[object]], header: Sequence[str] = HEADER) -> Path:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def rows(
    n: int = 30,
    *,
    start: float = 1_700_000_000,
    errors: float = 1,
    requests: float = 900,
    latency: float = 100.0,
) -> list[list[object]]:
    # a little deterministic wobble so that the continuous metric has a variance
    return [[start + 60 * i, latency + (i % 3), errors if i % 2 else 0, requests] for i in range(n)]


def judge(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["judge", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def last_json(out: str) -> dict[str, Any]:
    data = json.loads(out.strip().splitlines()[-1])
    assert isinstance(data, dict)
    return data


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    return write_csv(tmp_path / "b.csv", rows()), write_csv(tmp_path / "c.csv", rows())


# 1. a spec that is not UTF-8 text


@pytest.mark.parametrize(
    ("content", "extra"),
    [
        (bytes(range(128, 256)) * 4, ""),
        ("metrics:\n  latency: {kind: continuous}\n".encode("utf-16"), "UTF-16"),
    ],
)
def test_a_spec_that_is_not_utf8_names_the_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    pair: tuple[Path, Path],
    content: bytes,
    extra: str,
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(content)
    code, _, err = judge(
        capsys, "--baseline", str(pair[0]), "--canary", str(pair[1]), "--spec", str(spec)
    )
    assert code == 2
    assert err.startswith(f"autonomic: error: {spec}: not a UTF-8 YAML file")
    assert extra in err
    assert "Traceback" not in err


def test_a_utf8_spec_with_a_byte_order_mark_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pair: tuple[Path, Path]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_bytes("metrics:\n  latency: {tolerance: 10%}\n".encode("utf-8-sig"))
    code, out, _ = judge(
        capsys, "--baseline", str(pair[0]), "--canary", str(pair[1]), "--spec", str(spec), "--json"
    )
    assert code == 0
    assert [m["name"] for m in last_json(out)["metrics"]] == ["latency"]


# 2. --alpha


@pytest.mark.parametrize("alpha", ["1e-160", "0", "-0.01", "nan", "0.5", "inf", "5e-10"])
def test_alpha_outside_its_range_is_a_flag_error(
    capsys: pytest.CaptureFixture[str], pair: tuple[Path, Path], alpha: str
) -> None:
    code, _, err = judge(
        capsys, "--baseline", str(pair[0]), "--canary", str(pair[1]), "--alpha", alpha
    )
    assert code == 2
    assert err.startswith("autonomic: error: --alpha must be at least 1e-09 and below 0.5")


def test_alpha_at_the_bottom_of_its_range_judges(
    capsys: pytest.CaptureFixture[str], pair: tuple[Path, Path]
) -> None:
    code, out, _ = judge(
        capsys, "--baseline", str(pair[0]), "--canary", str(pair[1]), "--alpha", "1e-9", "--json"
    )
    assert code == 0
    assert last_json(out)["verdict"] in {"promote", "continue", "inconclusive"}


def test_the_radius_function_refuses_alpha_outside_0_1_and_copes_with_tiny_alpha() -> None:
    for alpha in (0.0, -1.0, 1.0, math.nan):
        with pytest.raises(ValueError, match="alpha"):
            normal_mixture_radius(10.0, 1.0, alpha)
        with pytest.raises(ValueError, match="alpha"):
            binomial_bounds(1, 10, alpha)
    with pytest.raises(ValueError, match="rho"):
        normal_mixture_radius(10.0, 0.0, 0.01)
    # 1e-160 squared underflows to 0; the radius is still the closed form, finite
    v, rho, alpha = 10.0, 1.0, 1e-160
    expected = math.sqrt((v + rho) * (math.log((v + rho) / rho) + 2 * math.log(1 / alpha)))
    assert math.isclose(normal_mixture_radius(v, rho, alpha), expected, rel_tol=1e-12)


def test_judge_settings_refuse_an_alpha_below_1e_9() -> None:
    with pytest.raises(CanarySpecError, match="at least 1e-09"):
        JudgeSettings(alpha=1e-10)
    assert JudgeSettings(alpha=1e-9).alpha == 1e-9


# 3. very large counts


@pytest.mark.parametrize("scale", [1e14, 1e16, 1e100, 1e300])
@pytest.mark.parametrize(("canary_rate", "expected"), [(0.05, "rollback"), (0.0, "promote")])
def test_very_large_counts_are_judged_like_ordinary_ones(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    scale: float,
    canary_rate: float,
    expected: str,
) -> None:
    # baseline 0.1 % errors on 900 requests a minute; the canary serves `scale` times more
    base = write_csv(tmp_path / "b.csv", rows(60, errors=1, requests=900))
    canary = write_csv(
        tmp_path / "c.csv",
        [[r[0], r[1], canary_rate * 900 * scale, 900 * scale] for r in rows(60)],
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(RATIO_SPEC)
    code, out, err = judge(
        capsys, "--baseline", str(base), "--canary", str(canary), "--spec", str(spec), "--json"
    )
    data = last_json(out)
    assert data["verdict"] == expected
    assert code == EXIT_CODES[expected], err
    (metric,) = data["metrics"]
    for key in ("estimate", "lower", "upper"):
        assert math.isfinite(metric[key])
    assert math.isclose(metric["estimate"], canary_rate - 30 / 54000, abs_tol=1e-9)


_count = st.one_of(
    st.floats(min_value=0.0, max_value=1e300, allow_nan=False, allow_infinity=False),
    st.integers(0, 10**6).map(float),
    st.sampled_from([0.0, 1.0, 9e16, 1e300, 5e-324]),
)


@settings(max_examples=200, deadline=None)
@given(
    intervals=st.lists(st.tuples(_count, _count, _count, _count), min_size=1, max_size=25),
    direction=st.sampled_from(list(Direction)),
    cumulative=st.booleans(),
)
def test_ratio_judge_never_crashes_or_returns_nan_on_finite_counts(
    intervals: list[tuple[float, float, float, float]],
    direction: Direction,
    cumulative: bool,
) -> None:
    spec = MetricSpec(
        "e",
        kind=MetricKind.RATIO,
        direction=direction,
        tolerance=Tolerance(0.005, relative=False),
        numerator="errors",
        denominator="requests",
        cumulative=cumulative,
    )
    judge_ = CanaryJudge([spec], JudgeSettings(max_duration_seconds=60 * len(intervals)))
    for i, (b_e, b_t, c_e, c_t) in enumerate(intervals):
        interval = Interval(
            timestamp=60.0 * i,
            baseline={"errors": min(b_e, b_t), "requests": b_t},
            canary={"errors": min(c_e, c_t), "requests": c_t},
        )
        try:
            verdict = judge_.update(interval)
        except ValueError as exc:  # CanaryDataError included: a counter that went down
            assert isinstance(exc, CanaryDataError) and str(exc)
            return
        assert math.isfinite(verdict.confidence) and 0.0 <= verdict.confidence <= 1.0
        for finding in verdict.metrics:
            for value in (finding.estimate, finding.lower, finding.upper):
                assert value is None or math.isfinite(value)
            assert math.isfinite(finding.strength)
        if verdict.final:
            break


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(counts=st.lists(st.tuples(_count, _count, _count, _count), min_size=1, max_size=10))
def test_judge_cli_on_any_finite_counts_gives_a_verdict(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    counts: list[tuple[float, float, float, float]],
) -> None:
    base = write_csv(
        tmp_path / "b.csv",
        [[60 * i, 1, repr(be), repr(bt)] for i, (be, bt, _, _) in enumerate(counts)],
    )
    canary = write_csv(
        tmp_path / "c.csv",
        [[60 * i, 1, repr(ce), repr(ct)] for i, (_, _, ce, ct) in enumerate(counts)],
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(RATIO_SPEC)
    code, out, err = judge(
        capsys, "--baseline", str(base), "--canary", str(canary), "--spec", str(spec), "--json"
    )
    # every interval refused (more errors than requests in each) is a verdict too, as
    # the daemon gives one: inconclusive on no data at the files' end, --max-duration
    data = last_json(out)
    assert code == EXIT_CODES[data["verdict"]], err
    assert "NaN" not in out
    for metric in data["metrics"]:
        for key in ("estimate", "lower", "upper"):
            assert metric[key] is None or math.isfinite(metric[key])
    skipped = sum(b_e > b_t or c_e > c_t for b_e, b_t, c_e, c_t in counts)
    # the last interval (at the default --max-duration, the files' span) refused: decided
    # at the end of the files on those judged, and one more note says so
    b_e, b_t, c_e, c_t = counts[-1]
    concluded = b_e > b_t or c_e > c_t
    assert err.count("autonomic: note:") == min(skipped, 10) + (skipped > 10) + concluded


# 4. baseline and canary must cover the same intervals


def test_a_shifted_canary_is_refused_naming_both_files_and_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write_csv(tmp_path / "b.csv", rows())
    canary = write_csv(tmp_path / "c.csv", rows(start=1_700_003_600))
    code, _, err = judge(capsys, "--baseline", str(base), "--canary", str(canary))
    assert code == 2
    assert f"{base}:2 is at 2023-11-14T22:13:20Z but {canary}:2 at 2023-11-14T23:13:20Z" in err
    assert "(+3600 s)" in err and "same intervals" in err


def test_a_canary_with_a_gap_is_refused_at_the_line_of_the_gap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_rows = rows(10)
    canary_rows = [list(r) for r in base_rows]
    for r in canary_rows[6:]:
        r[0] = float(str(r[0])) + 120  # the canary skips two minutes from data row 7 on
    base = write_csv(tmp_path / "b.csv", base_rows)
    canary = write_csv(tmp_path / "c.csv", canary_rows)
    code, _, err = judge(capsys, "--baseline", str(base), "--canary", str(canary))
    assert code == 2
    # row 7's step differs first: the canary file is not on one regular step
    assert f"{canary}:8: the step changes from 60 s to 180 s" in err


def test_timestamps_within_a_hundredth_of_the_step_are_the_same_interval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write_csv(tmp_path / "b.csv", rows())
    canary = write_csv(tmp_path / "c.csv", rows(start=1_700_000_000.5))
    code, out, _ = judge(capsys, "--baseline", str(base), "--canary", str(canary), "--json")
    assert code == 0
    assert last_json(out)["verdict"] in {"promote", "continue", "inconclusive"}
    far = write_csv(tmp_path / "far.csv", rows(start=1_700_000_001))
    code, _, err = judge(capsys, "--baseline", str(base), "--canary", str(far))
    assert code == 2 and "(+1 s)" in err


# 5. duplicate keys, and pp on a continuous metric


def test_a_duplicate_metric_key_is_refused_with_both_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pair: tuple[Path, Path]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "metrics:\n"
        "  latency: {kind: continuous}\n"
        "  latency: {kind: continuous, direction: decrease}\n"
    )
    code, _, err = judge(
        capsys, "--baseline", str(pair[0]), "--canary", str(pair[1]), "--spec", str(spec)
    )
    assert code == 2
    assert f"{spec}:3: metrics.latency: duplicate key 'latency' (first defined on line 2)" in err


@pytest.mark.parametrize("kind", ["continuous", "resource"])
def test_pp_on_a_non_ratio_metric_is_refused_with_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pair: tuple[Path, Path], kind: str
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "metrics:\n"
        "  errors: {kind: ratio, numerator: errors, denominator: requests, tolerance: 0.5pp}\n"
        "  latency:\n"
        f"    kind: {kind}\n"
        "    tolerance: 10pp\n"
    )
    code, _, err = judge(
        capsys, "--baseline", str(pair[0]), "--canary", str(pair[1]), "--spec", str(spec)
    )
    assert code == 2
    assert f"{spec}:5: metrics.latency.tolerance: '10pp'" in err
    assert "for ratio metrics only" in err and "'10%'" in err


def test_spec_errors_carry_the_path_of_keys() -> None:
    with pytest.raises(CanarySpecError) as info:
        parse_spec({"metrics": {"a.b": {"tolerance": "3pp"}}})
    assert info.value.path == ("metrics", "a.b", "tolerance")
    assert info.value.field == "metrics.a.b.tolerance"
    ratio = parse_spec(
        {
            "metrics": {
                "e": {"kind": "ratio", "numerator": "x", "denominator": "y", "tolerance": "3pp"}
            }
        }
    )
    assert ratio[0].tolerance == Tolerance(0.03, relative=False)


def test_a_spec_field_error_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pair: tuple[Path, Path]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("metrics:\n  latency:\n    kind: continuous\n    direction: sideways\n")
    code, _, err = judge(
        capsys, "--baseline", str(pair[0]), "--canary", str(pair[1]), "--spec", str(spec)
    )
    assert code == 2
    assert f"{spec}:4: metrics.latency.direction: must be 'increase' or " in err
    assert ", got 'sideways'" in err


# 6. data errors name the file and its line (the header is line 1)


def test_a_missing_value_names_file_and_line_counting_blank_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write_csv(tmp_path / "b.csv", rows(10))
    text = base.read_text().splitlines()
    # a blank line after the header, and data row 4 (line 6 with the blank) has no latency
    cells = text[4].split(",")
    cells[1] = ""
    text[4] = ",".join(cells)
    canary = tmp_path / "c.csv"
    canary.write_text("\n".join([text[0], "", *text[1:]]) + "\n")
    code, _, err = judge(capsys, "--baseline", str(base), "--canary", str(canary))
    assert code == 2
    assert f"{canary}:6: column 'latency': missing or NaN value" in err
    assert "row 4" not in err and "t=" not in err


def _as_the_daemon(
    base: Sequence[Sequence[Any]], canary: Sequence[Sequence[Any]], spec: Path
) -> dict[str, Any]:
    """The verdict the daemon's canary loop reaches on these intervals (the CLI's default
    settings): an interval the judge refuses is skipped, nothing changed, and it goes on
    (``CanaryLoop._judge_pair`` live, ``CanaryLoop._catch_up`` after a restart)."""
    from agent.cli.judge_cmd import load_spec

    specs, _ = load_spec(spec)
    step = base[1][0] - base[0][0]
    span = base[-1][0] - base[0][0] + step
    judge_ = CanaryJudge(specs, JudgeSettings(max_duration_seconds=span, step_seconds=step))
    verdict = None
    for b, c in zip(base, canary, strict=True):
        interval = Interval(
            float(b[0]),
            {k: float(v) for k, v in zip(HEADER[1:], b[1:], strict=True)},
            {k: float(v) for k, v in zip(HEADER[1:], c[1:], strict=True)},
        )
        try:
            verdict = judge_.update(interval)
        except CanaryDataError:
            continue
        if verdict.final:
            break
    assert verdict is not None
    return verdict.to_dict()


def _skip_note(path: Path, line: int) -> str:
    return f"autonomic: note: {path}:{line}: interval not judged, as the daemon skips it: "


def test_more_errors_than_requests_skips_that_interval_naming_the_canary_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, the CLI refused the whole input at the first such row, where the daemon
    skips the interval and judges the others: the CLI is to judge files as the daemon."""
    good, bad = rows(10), rows(10)
    bad[3][2] = 1000  # data row 4: line 5
    base = write_csv(tmp_path / "b.csv", good)
    canary = write_csv(tmp_path / "c.csv", bad)
    spec = tmp_path / "spec.yaml"
    spec.write_text(RATIO_SPEC)
    code, out, err = judge(
        capsys, "--baseline", str(base), "--canary", str(canary), "--spec", str(spec), "--json"
    )
    data = last_json(out)
    assert code == EXIT_CODES[data["verdict"]], err
    assert (
        _skip_note(canary, 5) + "metric 'e': the canary has more events than trials "
        "(1000.0 > 900.0); are numerator and denominator swapped?\n"
    ) in err
    assert err.count("autonomic: note:") == 1 and str(base) not in err
    assert data == _as_the_daemon(good, bad, spec)
    assert data["verdict"] == "promote" and data["metrics"][0]["intervals"] == 8  # 9 read


def test_a_cumulative_increase_with_more_events_than_trials_is_skipped_naming_the_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counters: list[list[float]] = [
        [1_700_000_000 + 60 * i, 100, 10 * i, 100 * i] for i in range(10)
    ]
    base = write_csv(tmp_path / "b.csv", counters)
    bad = [list(r) for r in counters]
    for r in bad[5:]:
        r[2] += 200  # the errors counter jumps by 210 while requests add 100
    canary = write_csv(tmp_path / "c.csv", bad)
    spec = _cumulative_errors_spec(tmp_path)
    code, out, err = judge(
        capsys, "--baseline", str(base), "--canary", str(canary), "--spec", str(spec), "--json"
    )
    data = last_json(out)
    assert code == EXIT_CODES[data["verdict"]], err
    # a refused increase moves no origin: the next spans the jump too, until the requests
    # added since catch up with it (230 errors of 300 requests, from line 9 on)
    notes = [line for line in err.splitlines() if line.startswith("autonomic: note:")]
    assert notes == [
        _skip_note(canary, 7) + "metric 'e': the canary has more events than trials "
        "(210.0 > 100.0); are numerator and denominator swapped?",
        _skip_note(canary, 8) + "metric 'e': the canary has more events than trials "
        "(220.0 > 200.0); are numerator and denominator swapped?",
    ]
    assert data == _as_the_daemon(counters, bad, spec)


def test_a_counter_reset_is_skipped_naming_its_file_and_a_backwards_timestamp_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counters: list[list[float]] = [[1_700_000_000 + 60 * i, 100, i, 100 * i] for i in range(10)]
    base = write_csv(tmp_path / "b.csv", counters)
    reset = [list(r) for r in counters]
    reset[6][3] = 5
    canary = write_csv(tmp_path / "c.csv", reset)
    spec = _cumulative_errors_spec(tmp_path)
    code, out, err = judge(
        capsys, "--baseline", str(base), "--canary", str(canary), "--spec", str(spec), "--json"
    )
    data = last_json(out)
    assert code == EXIT_CODES[data["verdict"]], err
    assert (
        _skip_note(canary, 8) + "metric 'e': the canary counter 'requests' went from 500.0 "
        "down to 5.0 (a counter reset)"
    ) in err
    assert err.count("autonomic: note:") == 1 and str(base) not in err
    assert data == _as_the_daemon(counters, reset, spec)

    repeated = [list(r) for r in counters]
    repeated[4][0] = repeated[3][0]  # data row 5 (line 6) repeats row 4's timestamp
    canary = write_csv(tmp_path / "c2.csv", repeated)
    code, _, err = judge(capsys, "--baseline", str(base), "--canary", str(canary))
    assert code == 2
    assert f"{canary}:6: the timestamp is not after the previous row's" in err


def test_a_negative_value_is_skipped_and_a_cell_that_is_no_number_still_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the judge's refusals are skipped: a cell that is not a number is no interval's
    data, and stays an error naming the file, line and column."""
    good = rows(10)
    negative = rows(10)
    negative[2][1] = -3.5  # data row 3: line 4
    base = write_csv(tmp_path / "b.csv", good)
    canary = write_csv(tmp_path / "c.csv", negative)
    code, out, err = judge(
        capsys, "--baseline", str(base), "--canary", str(canary), "--min-promote", "3600"
    )
    assert code == EXIT_CODES["promote"], err  # at the end of the files: read them all
    assert (
        _skip_note(canary, 4) + "metric 'latency': the canary value -3.5 is negative; set "
        "allow_negative: true in the spec if the metric can be negative"
    ) in err
    assert "after 9 intervals" in out  # the latency's finding, as the two others'

    text = [list(r) for r in good]
    text[2][1] = "fast"
    canary = write_csv(tmp_path / "c2.csv", text)
    code, _, err = judge(capsys, "--baseline", str(base), "--canary", str(canary))
    assert code == 2
    assert err.startswith(f"autonomic: error: {canary}:4")
    assert "'fast' is not a number" in err and "latency" in err


def test_an_infinite_p99_is_skipped_as_the_daemon_skips_it_and_8_running_ask_a_person(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CSV exported from Prometheus writes a histogram_quantile beyond its largest bucket
    as +Inf. Before, the file was refused whole (exit 2, "not a finite number ... leave
    the cell empty"), where the daemon would skip that interval; now the judge refuses the
    interval, naming its file and line, and a canary +Inf for 8 intervals running (its
    baseline finite) is an inconclusive verdict that says so, as in the daemon."""
    good, once = rows(20), rows(20)
    once[2][1] = "+Inf"  # data row 3: line 4
    base = write_csv(tmp_path / "b.csv", good)
    canary = write_csv(tmp_path / "c.csv", once)
    code, out, err = judge(
        capsys, "--baseline", str(base), "--canary", str(canary), "--min-promote", "3600"
    )
    assert code == EXIT_CODES["promote"], err
    assert (
        _skip_note(canary, 4) + "metric 'latency': the canary's value is +Inf, not a number "
        "the judge can compare; for a histogram_quantile that means the quantile fell in the "
        "+Inf bucket, beyond the histogram's largest finite bucket: add buckets with a "
        "larger le so that it has a number"
    ) in err
    stuck = rows(20)
    for r in stuck[5:]:
        r[1] = "+Inf"
    canary = write_csv(tmp_path / "c2.csv", stuck)
    code, out, err = judge(capsys, "--baseline", str(base), "--canary", str(canary), "--json")
    assert code == EXIT_CODES["inconclusive"], err
    verdict = last_json(out)
    assert verdict["reason"] == "OffScale"
    assert (
        "latency: the canary's value has been +Inf for 8 intervals running" in (verdict["sentence"])
    )
    assert err.count("autonomic: note:") == 7  # the 8th is the verdict, not skipped
    text = [list(r) for r in good]
    text[2][1] = "1e400"  # beyond the float range: nobody wrote infinity
    canary = write_csv(tmp_path / "c3.csv", text)
    code, _, err = judge(capsys, "--baseline", str(base), "--canary", str(canary))
    assert code == 2 and "'1e400' is not a finite number" in err


def test_a_canary_at_minus_inf_between_empty_intervals_asks_a_person_as_the_daemon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A latency of -Inf (a broken query: the better side) every other interval, the
    intervals between them empty (no requests). Before, neither was counted toward
    ``OffScale`` (-Inf was not the worse side, and an empty interval started the count
    again), so the files ran to their maximum duration, inconclusive ``Unclear``, with
    nothing said of the -Inf; now the 8th -Inf is ``OffScale``, saying so, as the daemon."""
    base = write_csv(tmp_path / "b.csv", rows(20))
    broken = rows(20)
    for i, r in enumerate(broken[4:]):
        r[1] = "" if i % 2 else "-Inf"
    canary = write_csv(tmp_path / "c.csv", broken)
    code, out, err = judge(
        capsys,
        "--baseline",
        str(base),
        "--canary",
        str(canary),
        "--allow-missing",
        "--json",
    )
    assert code == EXIT_CODES["inconclusive"], err
    verdict = last_json(out)
    assert verdict["reason"] == "OffScale"
    assert (
        "latency: the canary's value has been -Inf for 8 intervals running while the "
        "baseline's was finite (and 7 more between them, with no canary value, one refused, "
        "or no finite baseline, not counted), none of them judged: beyond the metric's "
        "better end, which is no measurement, so unusable (no evidence the canary is "
        "better); check the metric's query"
    ) in verdict["sentence"]
    assert err.count("interval not judged") == 7  # the 8th -Inf is the verdict


def _all_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], n: int, *flags: str
) -> tuple[int, dict[str, Any], list[str]]:
    """Files of ``n`` intervals whose every one the judge refuses (the canary's numerator
    and denominator swapped: more errors than requests): the exit status, the verdict's
    JSON and the notes on stderr."""
    base = write_csv(tmp_path / "b.csv", rows(n))
    swapped = write_csv(tmp_path / "c.csv", [[r[0], r[1], r[3], r[2]] for r in rows(n)])
    spec = tmp_path / "spec.yaml"
    spec.write_text(RATIO_SPEC)
    args = ("--baseline", str(base), "--canary", str(swapped), "--spec", str(spec))
    code, out, err = judge(capsys, *args, "--json", *flags)
    notes = [line for line in err.splitlines() if line.startswith("autonomic: note:")]
    assert notes[0] == (
        f"autonomic: note: {swapped}:2: interval not judged, as the daemon skips it: metric "
        "'e': the canary has more events than trials (900.0 > 0.0); are numerator and "
        "denominator swapped?"
    )
    return code, last_json(out), notes


def test_every_interval_refused_up_to_the_maximum_duration_is_inconclusive_no_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As the daemon ends such an analysis (``CanaryJudge.conclude`` at a refused
    interval from the maximum duration on); before, the CLI exited 2, a bad input."""
    code, verdict, notes = _all_refused(tmp_path, capsys, 3)  # --max-duration: 180 s
    assert code == EXIT_CODES["inconclusive"] == 4
    assert (verdict["verdict"], verdict["reason"]) == ("inconclusive", "NoData")
    assert verdict["elapsed_seconds"] == 180.0
    assert len(notes) == 4 and notes[-1] == (
        "autonomic: note: the judge refused all 3 intervals up to the maximum duration "
        "(180 s): inconclusive on no data (NoData), as the daemon ends such an analysis"
    )


def test_every_interval_refused_is_decided_at_the_maximum_duration_not_the_files_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The daemon decides at the refused interval that reaches canary.maxDuration; the
    files' later intervals are not read."""
    code, verdict, notes = _all_refused(tmp_path, capsys, 5, "--max-duration", "120")
    assert code == 4 and (verdict["verdict"], verdict["reason"]) == ("inconclusive", "NoData")
    assert verdict["elapsed_seconds"] == 120.0
    assert len(notes) == 3 and "refused all 2 intervals up to the maximum duration" in notes[-1]


def test_every_interval_refused_before_the_maximum_duration_is_continue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The daemon answers 'continue' while no interval is judged; before, the CLI exited
    2, a bad input."""
    code, verdict, notes = _all_refused(tmp_path, capsys, 3, "--max-duration", "600")
    assert code == EXIT_CODES["continue"] == 5
    assert verdict["verdict"] == "continue" and verdict["decided_after_seconds"] is None
    assert verdict["elapsed_seconds"] == 180.0
    assert all(metric["status"] == "no_data" for metric in verdict["metrics"])
    assert len(notes) == 4 and notes[-1] == (
        "autonomic: note: the judge refused all 3 intervals, and the files end before the "
        "maximum duration (600 s): continue, as the daemon answers while no interval is judged"
    )


def test_many_skipped_intervals_are_named_ten_then_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.cli.judge_cmd import MAX_SKIP_NOTES

    good, bad = rows(40), rows(40)
    for r in bad[:-1:2]:  # data rows 1, 3, ... 39: lines 2, 4, ... 40
        r[1] = -1
    base = write_csv(tmp_path / "b.csv", good)
    canary = write_csv(tmp_path / "c.csv", bad)
    code, _, err = judge(
        capsys, "--baseline", str(base), "--canary", str(canary), "--min-promote", "3600"
    )
    assert code == EXIT_CODES["promote"], err  # at the end of the files: read them all
    notes = [line for line in err.splitlines() if line.startswith("autonomic: note:")]
    assert len(notes) == MAX_SKIP_NOTES + 1 == 11
    assert [n.split(": ")[2] for n in notes[:-1]] == [f"{canary}:{2 + 2 * k}" for k in range(10)]
    assert notes[-1] == (
        f"autonomic: note: 10 more intervals not judged, 20 in all (the last: {canary}:40: "
        "metric 'latency': the canary value -1.0 is negative; set allow_negative: true in "
        "the spec if the metric can be negative)"
    )


def test_a_dry_run_metrics_unusable_data_no_longer_refuses_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The daemon leaves out a dry-run metric's interval alone when its data cannot be
    judged (a new query may be wrong); the CLI refused the whole input for it."""
    good, bad = rows(10), rows(10)
    for r in bad:
        r[1] = -1  # a wrong query: a negative latency, every interval
    base = write_csv(tmp_path / "b.csv", good)
    canary = write_csv(tmp_path / "c.csv", bad)
    spec = tmp_path / "spec.yaml"
    spec.write_text(RATIO_SPEC + "  latency: {dry_run: true}\n")
    code, out, err = judge(
        capsys, "--baseline", str(base), "--canary", str(canary), "--spec", str(spec), "--json"
    )
    data = last_json(out)
    assert code == EXIT_CODES[data["verdict"]] == 0, err
    assert "autonomic: note:" not in err  # no interval skipped: the ratio judged each
    errors, latency = data["metrics"]
    assert errors["intervals"] == 8  # and promoted after 8
    assert latency["dry_run"] and latency["status"] == "no_data"
    assert "8 intervals not judged, its data unusable" in latency["sentence"]


def test_library_data_errors_say_which_side_is_at_fault() -> None:
    judge_ = CanaryJudge([MetricSpec("latency")], JudgeSettings())
    judge_.update(Interval(60.0, {"latency": 1.0}, {"latency": 1.0}))
    with pytest.raises(CanaryDataError) as info:
        judge_.update(Interval(0.0, {"latency": 1.0}, {"latency": 1.0}))
    assert info.value.side is None
    with pytest.raises(CanaryDataError) as info:
        judge_.update(Interval(120.0, {"latency": 1.0}, {"latency": -1.0}))
    assert info.value.side == "canary"
    assert judge_.verdict is not None and judge_.verdict.decision is Decision.CONTINUE


@pytest.mark.parametrize(("canary_requests", "side"), [(150.0, "baseline"), (50.0, None)])
def test_a_counter_reset_says_which_side_when_one_side_alone_went_down(
    canary_requests: float, side: str | None
) -> None:
    """A reset on one side names that side, so that the CLI names that side's file alone
    (before, a reset named no side, and the CLI gave both files' lines)."""
    spec = MetricSpec(
        "e",
        kind=MetricKind.RATIO,
        tolerance=Tolerance(0.005, relative=False),
        numerator="errors",
        denominator="requests",
        cumulative=True,
    )
    judge_ = CanaryJudge([spec], JudgeSettings())
    judge_.update(Interval(0.0, {"errors": 1, "requests": 100}, {"errors": 1, "requests": 100}))
    with pytest.raises(CanaryDataError) as info:
        judge_.update(
            Interval(
                60.0, {"errors": 1, "requests": 50}, {"errors": 1, "requests": canary_requests}
            )
        )
    assert info.value.side == side
    assert "the baseline counter 'requests' went from 100.0 down to 50.0" in str(info.value)


def test_a_metric_that_can_be_negative_needs_an_absolute_tolerance() -> None:
    with pytest.raises(CanarySpecError) as info:
        parse_spec({"metrics": {"drift": {"allow_negative": True}}})
    assert info.value.path == ("metrics", "drift", "allow_negative")
    assert "absolute tolerance" in info.value.message
    with pytest.raises(CanarySpecError) as info:
        parse_spec({"metrics": {"drift": {"allow_negative": True, "tolerance": "5%"}}})
    assert info.value.path == ("metrics", "drift", "tolerance")
    (spec,) = parse_spec({"metrics": {"drift": {"allow_negative": True, "tolerance": 5}}})
    assert spec.allow_negative and spec.tolerance == Tolerance(5.0, relative=False)


@pytest.mark.parametrize("magnitude", [1e10, 1e200, 1e300])
def test_continuous_values_near_the_float_maximum_decide_as_small_ones(magnitude: float) -> None:
    # the same run at three scales, with the absolute tolerance scaled alike
    spec = MetricSpec("m", tolerance=Tolerance(0.1 * magnitude, relative=False))
    judge_ = CanaryJudge([spec], JudgeSettings(max_duration_seconds=3600))
    verdict = None
    for i in range(60):
        wobble = (i % 3) * 0.01 * magnitude
        verdict = judge_.update(
            Interval(60.0 * i, {"m": magnitude + wobble}, {"m": 1.5 * magnitude + wobble})
        )
        if verdict.final:
            break
    assert verdict is not None and verdict.decision is Decision.ROLLBACK
    (finding,) = verdict.metrics
    assert finding.estimate is not None and finding.lower is not None and finding.upper is not None
    assert math.isclose(finding.estimate, 0.5 * magnitude, rel_tol=1e-9)
    assert math.isfinite(finding.lower) and math.isfinite(finding.upper)
    assert verdict.decided_after_seconds == 480.0


def test_the_line_of_a_row_is_found_even_for_a_table_without_lines(tmp_path: Path) -> None:
    from agent.cli.judge_cmd import _at
    from agent.csvio import Table

    path = tmp_path / "t.csv"
    path.write_text('timestamp,note\n\n0,1\n60,"2"\n\n120,3\n')
    table = Table(path, [0.0, 60.0, 120.0], {"note": [1.0, 2.0, 3.0]})
    assert [_at(table, i) for i in range(3)] == [f"{path}:3", f"{path}:4", f"{path}:6"]


def _cumulative_errors_spec(tmp_path: Path) -> Path:
    """A spec judging the error ratio from two cumulative counter columns."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "metrics:\n  e: {kind: ratio, numerator: errors, denominator: requests, cumulative: true}\n"
    )
    return spec


def _bad_count(row: dict[str, float]) -> None:
    row["slow_requests"] = -5.0


def _infinite_count(row: dict[str, float]) -> None:
    row["slow_requests"] = math.inf


def _negative_value(row: dict[str, float]) -> None:
    row["slow"] = -1.0


def _events_over_trials(row: dict[str, float]) -> None:
    row["timeouts"] = row["requests"] + 1.0


@pytest.mark.parametrize(
    "spoil", [_bad_count, _infinite_count, _negative_value, _events_over_trials]
)
def test_a_refused_interval_changes_no_metrics_evidence(
    spoil: Callable[[dict[str, float]], None],
) -> None:
    """An interval a counted metric's data refuses (its count negative or infinite, its
    value negative, more events than trials) is all or nothing. Before, the metrics ahead
    of that one in the spec had already kept it: from then on their evidence covered an
    interval the others' did not, and a judge rebuilt from intervals that skipped it
    disagreed with the live one. Now every metric's evidence is as if it was never read."""
    from tests.unit.canary.test_canary_judge import make_run

    run = make_run(np.random.default_rng(41), n=20)
    errors = requests = 0.0
    for interval in run:
        for side in (interval.baseline, interval.canary):  # running counters, one per side
            errors, requests = errors + side["errors"] / 2, requests + side["requests"] / 2
            side["errors_total"], side["requests_total"] = errors, requests
            side["slow"] = side["latency"] * 2.0
            side["slow_requests"] = side["requests"]
            side["timeouts"] = 0.0
    specs = [
        MetricSpec(
            "error_rate",
            kind=MetricKind.RATIO,
            tolerance=Tolerance(0.005, relative=False),
            numerator="errors_total",
            denominator="requests_total",
            cumulative=True,
        ),
        MetricSpec("latency", count="requests", objective=500.0),
        MetricSpec("latency_tried", dry_run=True),  # no column: missing every interval
        MetricSpec("slow", count="slow_requests"),
        MetricSpec(
            "timeout_rate",
            kind=MetricKind.RATIO,
            tolerance=Tolerance(0.005, relative=False),
            numerator="timeouts",
            denominator="requests",
            critical=False,
        ),
    ]
    bad = 6
    spoil(run[bad].canary)
    live, rebuilt = CanaryJudge(specs), CanaryJudge(specs)
    for i, interval in enumerate(run):
        if i == bad:
            with pytest.raises(CanaryDataError):
                live.update(interval)
            continue
        assert live.update(interval).metrics == rebuilt.update(interval).metrics
    assert live._evidence == rebuilt._evidence
    assert live._served == rebuilt._served
    assert live._counters == rebuilt._counters


def test_files_whose_last_interval_is_refused_are_decided_at_the_maximum_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The files span the analysis (the default --max-duration) and their last interval is
    refused. The daemon, its interval at the maximum refused, decides there on the
    intervals judged (``CanaryJudge.conclude``), and so does the CLI, with a note. Before,
    the CLI ended 'continue' (exit 5), which its --help and README keep for files that
    end before --max-duration."""
    good, bad = rows(10), rows(10)
    bad[-1][1] = -1  # data row 10: line 11
    base = write_csv(tmp_path / "b.csv", good)
    canary = write_csv(tmp_path / "c.csv", bad)
    args = ["--baseline", str(base), "--canary", str(canary), "--min-promote", "3600"]
    code, out, err = judge(capsys, *args, "--json")
    data = last_json(out)
    assert (code, data["verdict"]) == (EXIT_CODES["promote"], "promote"), err
    assert data["decided_after_seconds"] == data["elapsed_seconds"] == 600
    assert [m["intervals"] for m in data["metrics"]] == [9, 9, 9]
    assert (
        "autonomic: note: the judge refused the interval reaching the maximum duration "
        "(600 s): decided there on the 9 intervals judged, as the daemon decides\n"
    ) in err
    # files that end before --max-duration still end 'continue'
    code, out, err = judge(capsys, *args, "--max-duration", "660", "--json")
    assert (code, last_json(out)["verdict"]) == (EXIT_CODES["continue"], "continue"), err
    assert "maximum duration" not in err
