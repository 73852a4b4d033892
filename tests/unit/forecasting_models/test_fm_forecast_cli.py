from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.cli import main
from forecasting.models import ForecastError, fit_forecast
from tests.unit.forecasting_models.helpers import values_series


def _write(path: Path, rows: list[tuple[str, str]], header: str = "timestamp,value") -> Path:
    path.write_text(header + "\n" + "".join(f"{t},{v}\n" for t, v in rows), encoding="utf-8")
    return path


def _cycle_rows(n: int = 120, spike_at: int | None = None) -> list[tuple[str, str]]:
    rows = []
    for i in range(n):
        value = 100 + 30 * math.sin(2 * math.pi * i / 24) + (i % 5)
        if i == spike_at:
            value = 1e12
        rows.append((str(1_700_000_000 + 3600 * i), f"{value:.3f}"))
    return rows


def _read_output(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_forecast_writes_the_documented_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "load.csv", _cycle_rows())
    assert main(["forecast", str(path), "--horizon", "6"]) == 0
    rows = _read_output(capsys.readouterr().out)
    assert len(rows) == 6
    assert list(rows[0]) == [
        "timestamp",
        "mean",
        "lower_80",
        "upper_80",
        "lower_95",
        "upper_95",
        "model",
    ]
    first = datetime.fromtimestamp(1_700_000_000 + 3600 * 120, tz=UTC)
    assert rows[0]["timestamp"] == first.isoformat().replace("+00:00", "Z")
    for row in rows:
        values = [float(row[k]) for k in ("lower_95", "lower_80", "mean", "upper_80", "upper_95")]
        assert values == sorted(values)
        assert all(math.isfinite(v) for v in values)
        assert row["model"].endswith("/1")
    # --help names the same columns (it used to say nothing of the output)
    with pytest.raises(SystemExit):
        main(["forecast", "--help"])
    helped = " ".join(capsys.readouterr().out.split())
    assert (
        "Writes one row per step ahead: timestamp (ISO 8601, UTC), mean, lower_L and upper_L "
        "for each level L, and model (the model's name and version)" in helped
    )


def test_forecast_to_a_file_with_custom_levels(tmp_path: Path) -> None:
    path = _write(tmp_path / "load.csv", _cycle_rows(100))
    out = tmp_path / "out.csv"
    assert (
        main(["forecast", str(path), "--horizon", "3", "--levels", "50,99", "--output", str(out)])
        == 0
    )
    rows = _read_output(out.read_text())
    assert {"lower_50", "upper_99"} <= set(rows[0])


def test_forecast_without_timestamps_uses_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "values.csv"
    path.write_text("rps\n" + "".join(f"{10 + i % 7}\n" for i in range(60)), encoding="utf-8")
    assert main(["forecast", str(path), "--horizon", "2", "--step", "60", "--column", "rps"]) == 0
    rows = _read_output(capsys.readouterr().out)
    assert rows[0]["timestamp"] == "1970-01-01T01:00:00Z"


def test_spike_is_cleaned_and_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "spiky.csv", _cycle_rows(120, spike_at=100))
    assert main(["forecast", str(path), "--horizon", "4"]) == 0
    captured = capsys.readouterr()
    assert max(float(r["upper_95"]) for r in _read_output(captured.out)) < 1000
    assert "glitch" in captured.err


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "no data rows"),
        ([("1", "nan"), ("2", "nan"), ("3", "")], "every sample is missing"),
        ([("1", "1"), ("1", "2")], "duplicate timestamp"),
        ([("2", "1"), ("1", "2")], "backwards"),
        ([("1", "abc")], "not a number"),
    ],
)
def test_bad_input_is_a_clear_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    rows: list[tuple[str, str]],
    message: str,
) -> None:
    path = _write(tmp_path / "bad.csv", rows)
    assert main(["forecast", str(path), "--horizon", "3"]) == 2
    assert message in capsys.readouterr().err


def test_bad_arguments_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "ok.csv", _cycle_rows(30))
    assert main(["forecast", str(path), "--horizon", "0"]) == 2
    assert "--horizon" in capsys.readouterr().err
    assert main(["forecast", str(path), "--horizon", "2", "--levels", "80,abc"]) == 2
    assert "--levels" in capsys.readouterr().err
    assert main(["forecast", str(tmp_path / "missing.csv"), "--horizon", "2"]) == 2
    assert "cannot open" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([("1", "5")], "only 1 sample"),
        ([(str(i), "3") for i in range(20)], "constant"),
    ],
)
def test_degenerate_input_is_an_explicit_fallback(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    rows: list[tuple[str, str]],
    reason: str,
) -> None:
    path = _write(tmp_path / "thin.csv", rows)
    # one row has no spacing to measure: its step must be given (see the test below)
    step = ["--step", "60"] if len(rows) == 1 else []
    assert main(["forecast", str(path), "--horizon", "2", *step]) == 0
    captured = capsys.readouterr()
    assert reason in captured.err
    assert all(r["model"] == "naive/1" for r in _read_output(captured.out))


def test_one_row_without_a_step_is_refused_not_given_a_made_up_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "one.csv", [("1396310400", "5")])
    assert main(["forecast", str(path), "--horizon", "2"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"autonomic: error: {path}:2: only one data row, so the time between rows is "
        "unknown: give at least two rows, or --step SECONDS\n"
    )
    assert main(["forecast", str(path), "--horizon", "1", "--step", "300"]) == 0
    assert [r["timestamp"] for r in _read_output(capsys.readouterr().out)] == [
        "2014-04-01T00:05:00Z"
    ]


_value = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.just(math.nan),
    st.just(0.0),
    st.just(1e12),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(_value, min_size=1, max_size=80),
    horizon=st.integers(min_value=1, max_value=12),
    step=st.sampled_from([1.0, 60.0, 300.0, 3600.0]),
)
def test_fit_forecast_never_returns_nan(values: list[float], horizon: int, step: float) -> None:
    series = values_series(values, step)
    try:
        forecast = fit_forecast(series, horizon)
    except ForecastError as exc:
        assert "every sample is missing" in str(exc)
        assert all(math.isnan(v) for v in values)
        return
    assert forecast.mean.shape == (horizon,)
    for array in (forecast.mean, *forecast.intervals[80], *forecast.intervals[95]):
        assert np.all(np.isfinite(array))
    assert np.all(forecast.lower(95) <= forecast.upper(95))
    finite = np.array([v for v in values if not math.isnan(v)])
    if np.all(finite >= 0):
        assert np.all(forecast.lower(95) >= 0)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(_value, min_size=1, max_size=400),
    horizon=st.integers(min_value=1, max_value=60),
    step=st.sampled_from([1.0, 60.0, 300.0, 3600.0]),
)
def test_fit_forecast_never_returns_nan_big_fuzz(
    values: list[float], horizon: int, step: float
) -> None:
    """The same property over longer series (run with ``-m slow``)."""
    test_fit_forecast_never_returns_nan.hypothesis.inner_test(values, horizon, step)  # type: ignore[attr-defined]


def test_spike_in_a_tiny_series_does_not_stretch_the_intervals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [("1", "5"), ("2", "nan"), ("3", "-4"), ("4", "1e12"), ("5", "3")]
    path = _write(tmp_path / "tiny.csv", rows)
    assert main(["forecast", str(path), "--horizon", "2"]) == 0
    captured = capsys.readouterr()
    out = _read_output(captured.out)
    assert max(abs(float(r["upper_95"])) for r in out) < 100
    assert "glitch" in captured.err and "too little history" in captured.err


def _fleet_csv(path: Path, columns: int, hours: int, seed: int, noise: float) -> Path:
    """Sibling series sharing a daily and weekly shape, at different sizes."""
    rng = np.random.default_rng(seed)
    t = np.arange(hours)
    shape = (1.0 + 0.6 * np.sin(2 * np.pi * t / 24)) * np.where((t // 24) % 7 >= 5, 0.6, 1.0)
    table = [
        shape * rng.uniform(10, 1000) * np.exp(rng.normal(0, noise, hours)) for _ in range(columns)
    ]
    lines = ["timestamp," + ",".join(f"s{i}" for i in range(columns))]
    for i in range(hours):
        lines.append(f"{1_700_000_000 + 3600 * i}," + ",".join(f"{c[i]:.4f}" for c in table))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_forecast_with_a_fleet_chooses_by_backtest_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = _fleet_csv(tmp_path / "fleet.csv", 12, 700, seed=1, noise=0.25)
    target = _fleet_csv(tmp_path / "one.csv", 1, 700, seed=2, noise=0.25)
    assert main(["forecast", str(target), "--horizon", "24", "--fleet", str(fleet)]) == 0
    captured = capsys.readouterr()
    rows = _read_output(captured.out)
    assert len(rows) == 24
    assert "pooled over 13 series (0 skipped" in captured.err
    # The noisy series alone is a poor guide to itself; the fleet's shape wins the backtest.
    assert "won the backtest" in captured.err
    assert "pooled-linear-672x24" in rows[0]["model"]
    assert all(math.isfinite(float(r["mean"])) and float(r["mean"]) > 0 for r in rows)


def test_forecast_fleet_with_a_different_step_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = tmp_path / "fleet.csv"
    fleet.write_text(
        "timestamp,a\n" + "".join(f"{1_700_000_000 + 60 * i},{i + 1}\n" for i in range(50)),
        encoding="utf-8",
    )
    target = _write(tmp_path / "load.csv", _cycle_rows())
    assert main(["forecast", str(target), "--horizon", "6", "--fleet", str(fleet)]) == 2
    err = capsys.readouterr().err
    assert "fleet.csv: column 'a' has a step of 60 s" in err and "3600 s" in err


def test_forecast_fleet_too_short_for_a_pool_falls_back_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = _fleet_csv(tmp_path / "fleet.csv", 3, 100, seed=3, noise=0.1)
    target = _write(tmp_path / "load.csv", _cycle_rows())
    assert main(["forecast", str(target), "--horizon", "6", "--fleet", str(fleet)]) == 0
    captured = capsys.readouterr()
    assert (
        "no pooled model from" in captured.err
        and "no series gave a training window" in captured.err
    )
    assert len(_read_output(captured.out)) == 6
