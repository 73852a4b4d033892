from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from agent.cli import main


def write(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("timestamp,value\n" + "".join(f"{t},{v}\n" for t, v in rows), encoding="utf-8")
    return path


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def sine_rows(n: int, start: int = 1_700_000_000) -> list[tuple[str, str]]:
    return [(str(start + 60 * i), f"{100 + 10 * math.sin(i / 20):.4f}") for i in range(n)]


def test_detect_writes_one_row_per_input_row(tmp_path: Path) -> None:
    rows = sine_rows(300)
    rows[150] = (rows[150][0], "NaN")
    rows.insert(200, rows[199])  # a duplicate timestamp
    rows[250] = (rows[250][0], "1e15")
    out = tmp_path / "scores.csv"
    assert main(["detect", str(write(tmp_path / "in.csv", rows)), "-o", str(out)]) == 0
    scored = read(out)
    assert len(scored) == len(rows)
    assert list(scored[0]) == [
        "timestamp",
        "value",
        "anomaly_score",
        "confidence",
        "expected",
        "lower",
        "upper",
        "reason",
    ]
    assert scored[0]["timestamp"] == "2023-11-14T22:13:20Z"
    assert scored[0]["reason"] == "warming_up"
    assert scored[150]["reason"] == "missing" and float(scored[150]["anomaly_score"]) == 0.0
    assert scored[200]["reason"] == "missing"
    assert float(scored[250]["confidence"]) > 0.9999 and scored[250]["reason"] == "spike"
    assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in scored)


def test_state_file_lets_a_second_run_skip_the_warm_up(tmp_path: Path) -> None:
    rows = sine_rows(400)
    state = tmp_path / "state.json"
    first, second = write(tmp_path / "a.csv", rows[:200]), write(tmp_path / "b.csv", rows[200:])
    assert main(["detect", str(first), "-o", str(tmp_path / "a.out"), "--state", str(state)]) == 0
    assert state.exists()
    assert main(["detect", str(second), "-o", str(tmp_path / "b.out"), "--state", str(state)]) == 0
    assert all(r["reason"] != "warming_up" for r in read(tmp_path / "b.out"))


def test_series_that_starts_with_an_outage_and_is_constant(tmp_path: Path) -> None:
    rows = [(str(i * 60), "") for i in range(50)] + [(str(i * 60), "7") for i in range(50, 400)]
    out = tmp_path / "scores.csv"
    assert (
        main(["detect", str(write(tmp_path / "in.csv", rows)), "-o", str(out), "--step", "60"]) == 0
    )
    scored = read(out)
    assert {r["reason"] for r in scored[:50]} == {"missing"}
    assert all(float(r["confidence"] or 0) < 0.99 for r in scored)


def test_bad_input_is_reported_not_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "in.csv", sine_rows(10))
    assert main(["detect", str(path), "--column", "nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
    assert main(["detect", str(tmp_path / "missing.csv")]) == 2
    bad_state = tmp_path / "state.json"
    bad_state.write_text("{not json", encoding="utf-8")
    assert main(["detect", str(path), "--state", str(bad_state)]) == 2
    assert "cannot restore" in capsys.readouterr().err


def test_rows_are_flagged_at_the_daemons_threshold_or_the_one_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`detect` flags what the daemon would open an incident on: a score at or above the
    anomaly query's threshold (0.69 by default, the same number as the settings' default),
    not a confidence, which a mild CUSUM drift reaches without scoring."""
    from agent.cli.detect_cmd import DEFAULT_THRESHOLD
    from agent.settings import AnomalyQuery

    assert AnomalyQuery.model_fields["threshold"].default == DEFAULT_THRESHOLD
    rows = sine_rows(400)
    rows[300] = (rows[300][0], "400")
    series = write(tmp_path / "in.csv", rows)
    out = tmp_path / "scores.csv"
    assert main(["detect", str(series), "-o", str(out)]) == 0
    scores = [float(r["anomaly_score"]) for r in read(out)]
    flagged = sum(s >= DEFAULT_THRESHOLD for s in scores)
    assert flagged >= 1
    assert f"{flagged} rows flagged (score >= 0.69)" in capsys.readouterr().err
    assert main(["detect", str(series), "-o", str(out), "--threshold", "0.2"]) == 0
    lower = sum(s >= 0.2 for s in scores)
    assert lower > flagged and f"{lower} rows flagged (score >= 0.2)" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["0", "-0.5", "1.5", "nan"])
def test_a_threshold_outside_0_to_1_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    series = write(tmp_path / "in.csv", sine_rows(50))
    assert main(["detect", str(series), "--threshold", bad]) == 2
    assert "--threshold must be above 0 and at most 1" in capsys.readouterr().err
