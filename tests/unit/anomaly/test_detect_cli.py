from __future__ import annotations

import csv
import json
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
    assert f"{bad_state}:1:2: not JSON" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "where", "found"),
    [
        ("timestamp,value\n1,2\n", "1:1", "the text stops being JSON here"),  # a CSV
        ('{"step": 60,\n  "mean": oops}\n', "2:11", "the text stops being JSON here"),
        ("", "1:1", "the file is empty"),
    ],
    ids=["a CSV", "a bad value on line 2", "empty"],
)
def test_a_state_file_that_is_not_json_is_named_with_its_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, where: str, found: str
) -> None:
    series = write(tmp_path / "in.csv", sine_rows(10))
    state = tmp_path / "state.json"
    state.write_text(text, encoding="utf-8")
    assert (
        main(["detect", str(series), "-o", str(tmp_path / "out.csv"), "--state", str(state)]) == 2
    )
    err = capsys.readouterr().err
    assert err == (
        f"autonomic: error: {state}:{where}: not JSON ({found}), so not a detector state: is "
        "it a file written by `autonomic detect --state`? Give one, or a path that does not "
        "exist yet to start afresh\n"
    )
    assert state.read_text(encoding="utf-8") == text  # left as it was


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
    noun = "row" if flagged == 1 else "rows"
    assert f"{flagged} {noun} flagged (score >= 0.69)" in capsys.readouterr().err
    assert main(["detect", str(series), "-o", str(out), "--threshold", "0.2"]) == 0
    lower = sum(s >= 0.2 for s in scores)
    assert lower > flagged and f"{lower} rows flagged (score >= 0.2)" in capsys.readouterr().err


def test_one_flagged_row_is_counted_in_the_singular(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = sine_rows(400)
    rows[300] = (rows[300][0], "400")
    series = write(tmp_path / "in.csv", rows)
    out = tmp_path / "scores.csv"
    assert main(["detect", str(series), "-o", str(out), "--threshold", "0.99"]) == 0
    assert sum(float(r["anomaly_score"]) >= 0.99 for r in read(out)) == 1
    assert "; 1 row flagged (score >= 0.99)" in capsys.readouterr().err


def test_the_help_lists_every_reason(capsys: pytest.CaptureFixture[str]) -> None:
    """The reason column's vocabulary is the detector's, and `detect --help` gives all of
    it and the score from which a row always has a reason."""
    from agent.cli.detect_cmd import EXPLAINED_SCORE, OFF_SCALE_AFTER
    from forecasting.anomaly import EXPLAINED_SCORE as DETECTOR_EXPLAINED_SCORE
    from forecasting.anomaly import Reason
    from forecasting.anomaly.off_scale import OFF_SCALE_AFTER as LOOP_OFF_SCALE_AFTER

    assert EXPLAINED_SCORE == DETECTOR_EXPLAINED_SCORE
    assert OFF_SCALE_AFTER == LOOP_OFF_SCALE_AFTER
    with pytest.raises(SystemExit):
        main(["detect", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for reason in Reason:
        assert f"'{reason.value}'" in text
    assert f"A row scoring {EXPLAINED_SCORE:g} or more always has a reason" in text


@pytest.mark.parametrize("bad", ["0", "-0.5", "1.5", "nan"])
def test_a_threshold_outside_0_to_1_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    series = write(tmp_path / "in.csv", sine_rows(50))
    assert main(["detect", str(series), "--threshold", bad]) == 2
    assert "--threshold must be above 0 and at most 1" in capsys.readouterr().err


# --------------------------------------------------- --state: checked first, written whole


def _refuses_before_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.csvio

    def read_table(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the series was read before the --state path was checked")

    monkeypatch.setattr(agent.csvio, "read_table", read_table)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("directory", "--state {p}: is a directory; give a file such as {p}/detector-state.json"),
        ("missing folder", "--state {p}: the folder {parent} does not exist"),
        ("file as folder", "--state {p}: {parent} is not a folder"),
        ("unwritable folder", "--state {p}: no permission to create a file in {parent}"),
    ],
)
def test_a_state_path_that_cannot_be_written_is_refused_before_any_work(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    make: str,
    message: str,
) -> None:
    """Not a raw ``[Errno 21] Is a directory`` after the whole series was scored (and the
    scores written): the same plain words as simulate's --report, before anything runs."""
    import os

    series = write(tmp_path / "in.csv", sine_rows(50))
    out = tmp_path / "scores.csv"
    state = {
        "directory": tmp_path / "states",
        "missing folder": tmp_path / "nowhere" / "state.json",
        "file as folder": series / "state.json",
        "unwritable folder": tmp_path / "locked" / "state.json",
    }[make]
    if make == "directory":
        state.mkdir()
    if make == "unwritable folder":
        state.parent.mkdir()
        # the file exists and is writable, but saving it whole needs a new file beside it
        state.write_text("{}", encoding="utf-8")
        real_access = os.access

        def access(path: object, mode: int, **kwargs: object) -> bool:
            if Path(str(path)) == state.parent and mode & os.W_OK:
                return False  # as for a non-root user in a read-only folder
            return real_access(path, mode)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "access", access)
    _refuses_before_reading(monkeypatch)
    assert main(["detect", str(series), "-o", str(out), "--state", str(state)]) == 2
    err = capsys.readouterr().err
    assert err == "autonomic: error: " + message.format(p=state, parent=state.parent) + "\n"
    assert not out.exists()


def test_an_output_that_is_a_directory_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    series = write(tmp_path / "in.csv", sine_rows(50))
    _refuses_before_reading(monkeypatch)
    assert main(["detect", str(series), "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"autonomic: error: --output {tmp_path}: is a directory; give a file such as "
        f"{tmp_path / 'scores.csv'}\n"
    )


def test_scores_may_still_go_to_a_device(tmp_path: Path) -> None:
    series = write(tmp_path / "in.csv", sine_rows(50))
    state = tmp_path / "state.json"
    assert main(["detect", str(series), "-o", "/dev/null", "--state", str(state)]) == 0
    assert state.exists()


def test_a_state_that_cannot_be_saved_keeps_the_old_one_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state is the only record of what the detector learnt: a failure while saving
    it (here the disk refusing the sync) must leave the previous state as it was, not a
    truncated file that the next run cannot restore."""
    import os

    rows = sine_rows(400)
    state = tmp_path / "state.json"
    first, second = write(tmp_path / "a.csv", rows[:200]), write(tmp_path / "b.csv", rows[200:])
    assert main(["detect", str(first), "-o", str(tmp_path / "a.out"), "--state", str(state)]) == 0
    saved = state.read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    assert main(["detect", str(second), "-o", str(tmp_path / "b.out"), "--state", str(state)]) == 2
    assert capsys.readouterr().err.endswith(
        f"autonomic: error: {state}: cannot write: No space left on device\n"
    )
    assert state.read_bytes() == saved
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.csv",
        "a.out",
        "b.csv",
        "b.out",
        "state.json",
    ]  # no temporary file left behind
    monkeypatch.undo()
    assert main(["detect", str(second), "-o", str(tmp_path / "b.out"), "--state", str(state)]) == 0
    assert all(r["reason"] != "warming_up" for r in read(tmp_path / "b.out"))


def test_a_state_file_keeps_the_run_of_infinite_rows_it_ended_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two +Inf rows at the end of one file and one at the start of the next are three
    running, as the daemon counts them across its reads: the third is flagged
    ``off_scale``. A row the state has already seen does not count again."""
    from forecasting.anomaly.off_scale import OFF_SCALE_AFTER

    rows = sine_rows(200)
    rows[-2:] = [(rows[-2][0], "+Inf"), (rows[-1][0], "inf")]
    later = [(str(1_700_000_000 + 60 * 200), "+Inf"), (str(1_700_000_000 + 60 * 201), "100")]
    state = tmp_path / "state.json"
    first, out = write(tmp_path / "a.csv", rows), tmp_path / "a.out"
    assert main(["detect", str(first), "-o", str(out), "--state", str(state)]) == 0
    assert [(r["value"], r["reason"], r["anomaly_score"]) for r in read(out)[-2:]] == [
        ("+Inf", "off_scale", "0.000000"),
        ("+Inf", "off_scale", "0.000000"),
    ]
    assert json.loads(state.read_text(encoding="utf-8"))["off_scale"] == 2
    # the last row seen again (not counted), then the third +Inf running
    second = write(tmp_path / "b.csv", [rows[-1], *later])
    assert main(["detect", str(second), "-o", str(out), "--state", str(state)]) == 0
    scored = read(out)
    assert scored[0]["reason"] == "missing"
    assert (scored[1]["reason"], float(scored[1]["anomaly_score"])) == ("off_scale", 1.0)
    assert float(scored[1]["expected"]) == pytest.approx(100.0, abs=15.0)  # learnt, finite
    assert scored[2]["reason"] != "off_scale"
    assert json.loads(state.read_text(encoding="utf-8"))["off_scale"] == 0
    assert "1 row flagged (score >= 0.69), 1 of them off_scale" in capsys.readouterr().err
    assert OFF_SCALE_AFTER == 3


def test_infinite_rows_are_drawn_on_the_plot_s_edge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = sine_rows(200)
    rows[-4:] = [(t, "-Inf") for t, _ in rows[-4:]]
    plot = tmp_path / "plot.svg"
    series = write(tmp_path / "in.csv", rows)
    assert main(["detect", str(series), "-o", str(tmp_path / "o.csv"), "--plot", str(plot)]) == 0
    svg = plot.read_text(encoding="utf-8")
    assert "4 off the scale (+Inf or -Inf): triangles on the edge" in svg
    assert svg.count("<polygon") - svg.count('class="band"') == 4  # the four triangles
    assert svg.count("value -Inf, expected") == 4
    assert "inf" not in svg.replace("Inf", "")
