"""`autonomic replay` end to end on a small CSV written by the test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agent.cli import main
from agent.errors import ConfigError


def _write_trace(path: Path, values: np.ndarray, *, with_time: bool = True) -> None:
    lines = ["timestamp,load" if with_time else "load"]
    for i, value in enumerate(values):
        cell = "" if np.isnan(value) else f"{value:.3f}"
        lines.append(f"{1_700_000_000 + 60 * i},{cell}" if with_time else cell)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_replay_prints_the_measures_and_json_alone_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = np.concatenate([np.full(120, 50.0), np.full(120, 150.0)])
    values[200:210] = np.nan
    trace = tmp_path / "trace.csv"
    _write_trace(trace, values)
    argv = ["replay", str(trace), "--startup", "120", "--mean-pods", "10", "--policy", "hpa"]
    assert main([*argv, "--warmup", "0", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # stdout is the JSON object alone, for jq
    out = captured.err.splitlines()  # the summary for a person
    for key in ("under_provisioned_minutes", "under_provisioned_fraction", "replica_hours"):
        assert isinstance(report[key], float)
    assert isinstance(report["scale_events"], int) and report["scale_events"] > 0
    assert report["under_provisioned_minutes"] > 0  # the step up catches the HPA out
    assert report["skipped_gap_minutes"] == pytest.approx(10)
    assert any(line.startswith("under-provisioned:") for line in out)


def test_index_only_trace_with_step_and_oracle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = np.concatenate([np.full(60, 50.0), np.full(60, 150.0)])
    trace = tmp_path / "plain.csv"
    _write_trace(trace, values, with_time=False)
    argv = ["replay", str(trace), "--step", "60", "--startup", "120", "--capacity", "10"]
    assert main([*argv, "--policy", "oracle", "--warmup", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["under_provisioned_minutes"] == 0
    assert report["capacity_per_pod"] == 10


def test_rows_flagged_by_gap_when_are_skipped_not_scored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An outage reads as zero load; flagged, it is a gap: not scored, no scaling in."""
    values = np.concatenate([np.full(60, 50.0), np.zeros(30), np.full(60, 150.0)])
    flags = np.concatenate([np.zeros(60), np.ones(30), np.zeros(60)])
    trace = tmp_path / "outage.csv"
    lines = ["timestamp,load,outage"]
    lines += [
        f"{1_700_000_000 + 60 * i},{v:g},{f:g}"
        for i, (v, f) in enumerate(zip(values, flags, strict=True))
    ]
    trace.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["replay", str(trace), "--column", "load", "--startup", "120", "--capacity", "10"]
    argv += ["--policy", "hpa", "--warmup", "0", "--json"]

    def report(*extra: str) -> dict[str, float]:
        assert main([*argv, *extra]) == 0
        captured = capsys.readouterr()
        result: dict[str, float] = json.loads(captured.out)
        out = captured.err.splitlines()
        assert not extra or "30 of them flagged by outage" in out[0]
        return result

    plain, flagged = report(), report("--gap-when", "outage")
    assert plain["skipped_gap_minutes"] == 0
    assert flagged["skipped_gap_minutes"] == pytest.approx(30)
    assert flagged["scored_minutes"] == pytest.approx(plain["scored_minutes"] - 30)
    # The zeros let the HPA scale in; as a gap, the outage leaves the pods as they were.
    assert flagged["under_provisioned_minutes"] < plain["under_provisioned_minutes"]
    assert main([*argv, "--gap-when", "nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("values", "extra", "message"),
    [
        (np.array([5.0, -1.0, 3.0]), [], "negative"),
        (np.array([np.nan, np.nan, np.nan]), [], "fewer than two"),
        (np.full(10, 5.0), ["--target", "1.5"], "--target"),
        (np.full(10, 5.0), ["--warmup", "99999"], "--warmup"),
    ],
)
def test_bad_input_is_a_clear_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    values: np.ndarray,
    extra: list[str],
    message: str,
) -> None:
    trace = tmp_path / "bad.csv"
    _write_trace(trace, values)
    argv = ["replay", str(trace), "--startup", "60", "--capacity", "1", "--policy", "hpa"]
    assert main([*argv, *extra]) == 2
    assert message in capsys.readouterr().err


def _daily_wave(days: int, seed: int = 3) -> np.ndarray:
    minutes = np.arange(days * 1440)
    rate = 200.0 + 150.0 * np.sin(2 * np.pi * minutes / 1440.0)
    return np.random.default_rng(seed).poisson(rate).astype(np.float64)


def test_predictive_replays_the_daemons_defaults_unless_told_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """By default the predictive policy forecasts with the daemon's scaling settings and
    its model lifecycle; the JSON is what the library gives for exactly those."""
    from agent.settings import ScalingSettings
    from forecasting.profile import ProfileSettings
    from forecasting.replay import Plant, ReplayPolicy, replay
    from forecasting.series import make_series

    values = _daily_wave(4)
    trace = tmp_path / "wave.csv"
    _write_trace(trace, values)
    argv = ["replay", str(trace), "--startup", "120", "--capacity", "20", "--policy"]
    argv += ["predictive", "--warmup", str(3 * 86400), "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    cli = json.loads(captured.out)
    out = captured.err.splitlines()
    forecast_line = next(line for line in out if line.startswith("forecast:"))
    assert "14-day profile" in forecast_line and "refit every 21600 s" in forecast_line
    assert "the daemon's refit and drift rules" in forecast_line

    daemon = ScalingSettings()
    series = make_series(1_700_000_000 + 60.0 * np.arange(len(values)), values, step=60.0)
    expected = replay(
        series,
        Plant(20.0, 120.0, metric_lag=daemon.metric_lag),
        ReplayPolicy(
            "predictive",
            0.7,
            level=daemon.interval_level(),
            refit_seconds=daemon.refit_every,
            daemon_rules=True,
        ),
        warmup_seconds=3 * 86400,
        profile_settings=ProfileSettings(
            history_periods=round(daemon.profile_history / 86400),
            strength_within_period=daemon.shape_only_seasonality,
        ),
    )
    assert cli["under_provisioned_minutes"] == pytest.approx(expected.under_provisioned_minutes)
    assert cli["replica_hours"] == pytest.approx(expected.replica_hours)
    assert cli["level"] == 80 and cli["metric_lag_seconds"] == 60

    assert main([*argv, "--simple-refits", "--refit-every", "3600", "--history-days", "7"]) == 0
    out = capsys.readouterr().err.splitlines()
    forecast_line = next(line for line in out if line.startswith("forecast:"))
    assert "7-day profile" in forecast_line and "refit every 3600 s (every refit live)" in (
        forecast_line
    )


def test_config_supplies_the_forecasting_settings_and_flags_override_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "autonomic.yaml"
    config.write_text(
        "scaling:\n  quantile: 0.95\n  metricLag: 30s\n  refitEvery: 2h\n"
        "  profileHistory: 3d\n  shapeOnlySeasonality: false\n",
        encoding="utf-8",
    )
    trace = tmp_path / "wave.csv"
    _write_trace(trace, _daily_wave(4))
    argv = ["replay", str(trace), "--startup", "60", "--capacity", "20", "--policy"]
    argv += ["predictive", "--warmup", str(3 * 86400), "--config", str(config), "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    out = captured.err.splitlines()
    forecast_line = next(line for line in out if line.startswith("forecast:"))
    assert "3-day profile, refit every 7200 s" in forecast_line
    assert "shape-only" not in forecast_line and str(config) in forecast_line
    report = json.loads(captured.out)
    assert report["level"] == 90 and report["metric_lag_seconds"] == 30

    assert main([*argv, "--level", "60", "--metric-lag", "0"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["level"] == 60 and report["metric_lag_seconds"] == 0

    config.write_text("scaling:\n  quantile: 2\n", encoding="utf-8")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(config) in err and "quantile" in err


@pytest.mark.parametrize("days", ["1", "91"])
def test_history_days_has_the_bound_and_words_of_profile_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], days: str
) -> None:
    """--history-days 1 was taken while scaling.profileHistory refuses 1d: from one day
    the profile never fits (it needs two), so the "predictive" replay never predicted."""
    from agent.settings import load_settings

    trace = tmp_path / "flat.csv"
    _write_trace(trace, np.full(10, 5.0))
    argv = ["replay", str(trace), "--startup", "60", "--capacity", "1", "--policy", "predictive"]
    assert main([*argv, "--history-days", days]) == 2
    flag = capsys.readouterr().err.strip().removeprefix("autonomic: error: --history-days ")
    config = tmp_path / "autonomic.yaml"
    config.write_text(f"scaling:\n  profileHistory: {days}d\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    said = str(raised.value).split("scaling.profileHistory: profileHistory ", 1)[1]
    assert flag == said.replace(f"got {days}d", f"got {days}")
    assert flag.startswith(f"must be a whole number of days from 2 to 90, got {days}")
    if days == "1":
        assert flag.endswith(
            "the seasonal profile needs at least 2 days of load to fit "
            "(with fewer it never fits, and the workload is scaled only reactively)"
        )


def test_the_shortest_profile_history_is_the_shortest_the_profile_fits_on() -> None:
    from agent.settings import PROFILE_HISTORY_DAYS
    from forecasting.profile import ProfileSettings

    assert PROFILE_HISTORY_DAYS[0] == ProfileSettings().min_periods


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--refit-every", "0"], "--refit-every"),
        (["--refit-every", "nan"], "--refit-every"),
        (["--history-days", "0"], "--history-days"),
        (["--level", "100"], "--level"),
        (["--metric-lag", "-5"], "--metric-lag"),
    ],
)
def test_bad_forecasting_flags_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    trace = tmp_path / "flat.csv"
    _write_trace(trace, np.full(10, 5.0))
    argv = ["replay", str(trace), "--startup", "60", "--capacity", "1", "--policy", "predictive"]
    assert main([*argv, *extra]) == 2
    assert message in capsys.readouterr().err
