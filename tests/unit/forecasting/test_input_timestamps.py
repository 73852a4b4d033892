"""Reading time right: epoch seconds out of range, a step coarser than the data, an
epoch column read as load, plain numbers in messages, and why seasonality was dropped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.csvio import read_series, read_table
from agent.errors import InputError
from forecasting.models import fit_forecast
from forecasting.seasonality import MIN_ACF
from forecasting.series import SeriesError, SlotCollisionError, make_series, plain

START = 1_700_000_000


def _write(path: Path, header: str, rows: list[tuple[object, object]]) -> Path:
    path.write_text(header + "\n" + "".join(f"{a},{b}\n" for a, b in rows), encoding="utf-8")
    return path


# --- epoch seconds out of range --------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "hint"),
    [
        (1_700_000_060_000, "looks like milliseconds since the epoch: divide by 1000"),
        ("1e15", "looks like microseconds since the epoch: divide by 1e6"),
        (1_700_000_060_000_000_000, "looks like nanoseconds since the epoch: divide by 1e9"),
        (-1_700_000_000_000, "looks like milliseconds since the epoch: divide by 1000"),
    ],
)
def test_epoch_seconds_no_date_can_show_are_refused_naming_file_line_and_column(
    tmp_path: Path, stamp: object, hint: str
) -> None:
    path = _write(tmp_path / "ms.csv", "time,load", [(START, 1), (START + 60, 2), (stamp, 3)])
    with pytest.raises(InputError) as caught:
        read_table(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:4: column 'time': timestamp '{stamp}' is out of range")
    assert hint in message


def test_a_whole_file_in_milliseconds_is_refused_at_its_first_row(tmp_path: Path) -> None:
    rows = [(1_700_000_000_000 + 60_000 * i, 100 + i) for i in range(50)]
    path = _write(tmp_path / "ms.csv", "timestamp,load", rows)
    with pytest.raises(InputError, match=r"ms\.csv:2: column 'timestamp'.*after the year 5138"):
        read_series(path)


def test_milliseconds_of_the_1970s_are_not_read_as_seconds_of_the_year_5138_or_later(
    tmp_path: Path,
) -> None:
    # 1e11 to 2.5e11 ms is 1973 to 1977; read as seconds it would be 5138 to 9999, a date
    # Python can show, so only the bound at 1e11 s tells the two apart.
    rows = [(150_000_000_000 + 60_000 * i, 100 + i) for i in range(50)]
    path = _write(tmp_path / "ms1975.csv", "timestamp,load", rows)
    with pytest.raises(InputError) as caught:
        read_series(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: column 'timestamp': timestamp '150000000000'")
    assert "looks like milliseconds since the epoch: divide by 1000" in message


def test_the_range_is_year_1_to_1e11_seconds_and_beyond_it_no_unit_is_guessed(
    tmp_path: Path,
) -> None:
    last_second = 99_999_999_999  # 5138-11-16T09:46:39Z
    first_second = -62_135_596_800  # 0001-01-01T00:00:00Z
    path = _write(tmp_path / "edge.csv", "timestamp,load", [(first_second, 1), (last_second, 2)])
    assert read_table(path).timestamps == [float(first_second), float(last_second)]
    path = _write(tmp_path / "beyond.csv", "timestamp,load", [(last_second + 1, 1)])
    with pytest.raises(InputError, match=r":2: column 'timestamp'.*after the year 5138"):
        read_table(path)
    path = _write(tmp_path / "iso.csv", "timestamp,load", [("9999-12-31T23:59:59Z", 1)])
    assert read_table(path).timestamps == [253_402_300_799.0]  # a date, not a number
    path = _write(tmp_path / "far.csv", "timestamp,load", [("1e25", 1)])
    with pytest.raises(InputError, match="after the year 5138") as caught:
        read_table(path)
    assert "looks like" not in str(caught.value)  # no unit is that fine
    path = _write(tmp_path / "before.csv", "timestamp,load", [(first_second - 1, 1)])
    with pytest.raises(InputError, match=r":2: column 'timestamp'.*before year 1"):
        read_table(path)


def test_iso_timestamps_and_ordinary_epoch_seconds_still_read(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "ok.csv", "timestamp,load", [("2023-11-14T22:13:20Z", 1), (START + 60, 2)]
    )
    series = read_series(path)
    assert series.timestamps.tolist() == [float(START), float(START + 60)]


# --- a step coarser than the data ------------------------------------------------------


def test_a_step_coarser_than_the_data_is_refused_not_half_dropped(tmp_path: Path) -> None:
    rows = [(START + 60 * i, 100 + i) for i in range(50)]
    path = _write(tmp_path / "s60.csv", "timestamp,load", rows)
    with pytest.raises(InputError) as caught:
        read_series(path, step=120.0)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: column 'timestamp': 25 of 50 rows fall on the same 120 s")
    assert f"(first: '{START}' on line 2 and '{START + 60}' on line 3)" in message
    assert "the rows are 60 s apart" in message and "--step 60" in message
    assert "resample the data to 120 s first" in message
    # the step that matches the data reads every row
    series = read_series(path, step=60.0)
    assert len(series) == 50 and series.values.tolist() == [100.0 + i for i in range(50)]


def test_make_series_says_how_many_collide_and_the_spacing() -> None:
    ts = np.arange(10) * 60.0
    with pytest.raises(SlotCollisionError) as caught:
        make_series(ts, np.ones(10), step=180.0)
    assert caught.value.collisions == 6  # 10 samples on 4 slots
    assert caught.value.summary.startswith("6 of 10 samples fall on the same 180 s step")
    assert caught.value.spacing == 60.0
    assert "6 of 10 samples" in str(caught.value)
    assert "use a step that matches the data" in str(caught.value)
    assert isinstance(caught.value, SeriesError)  # callers catching SeriesError still do


def test_uneven_rows_colliding_at_the_given_step_ask_for_a_resample(tmp_path: Path) -> None:
    rows = [(START, 1), (START + 60, 2), (START + 70, 3), (START + 120, 4), (START + 180, 5)]
    path = _write(tmp_path / "uneven.csv", "timestamp,load", rows)
    with pytest.raises(InputError) as caught:
        read_series(path, step=60.0)
    message = str(caught.value)
    assert message.startswith(f"{path}:4: column 'timestamp': 1 of 5 rows fall on the same")
    assert f"'{START + 60}' on line 3 and '{START + 70}' on line 4" in message
    # the median spacing (55 s) would collide too: no --step is suggested
    assert "unevenly spaced: resample them to 60 s first" in message
    assert "--step" not in message


def test_a_gap_does_not_stop_the_matching_step_being_suggested(tmp_path: Path) -> None:
    rows = [(START + 60 * i, i) for i in (0, 1, 2, 4, 5, 6, 7, 9)]
    path = _write(tmp_path / "gappy.csv", "timestamp,load", rows)
    with pytest.raises(InputError, match=r"the rows are 60 s apart.*\(--step 60\)"):
        read_series(path, step=300.0)
    assert len(read_series(path, step=60.0)) == 10


def test_without_a_step_and_with_duplicates_behaviour_is_unchanged(tmp_path: Path) -> None:
    # no step given: the median spacing is the grid, as before
    rows = [(START + 60 * i, i) for i in range(10)]
    assert len(read_series(_write(tmp_path / "ok.csv", "timestamp,load", rows))) == 10
    # a repeated timestamp is still refused as a duplicate, with or without a step
    rows = [(START, 1), (START + 60, 2), (START + 60, 3)]
    path = _write(tmp_path / "dup.csv", "timestamp,load", rows)
    for step in (None, 60.0, 120.0):
        with pytest.raises(InputError) as caught:
            read_series(path, step=step)
        assert str(caught.value).startswith(
            f"{path}:4: column 'timestamp': duplicate timestamp '{START + 60}' (also on line 3)"
        )


# --- an epoch column read as load ------------------------------------------------------


def test_with_a_step_an_epoch_column_under_an_unknown_name_is_not_load(tmp_path: Path) -> None:
    rows = [(START + 60 * i, 100 + i % 7) for i in range(50)]
    path = _write(tmp_path / "minute.csv", "minute,load", rows)
    with pytest.raises(InputError) as caught:
        read_series(path, step=60.0)
    message = str(caught.value)
    assert message.startswith(f"{path}: column 'minute' (the first column, used by default)")
    assert f"looks like epoch timestamps, not load: it increases evenly by 60 from {START}" in (
        message
    )
    assert "--column NAME" in message and "rename the timestamp column" in message
    with pytest.raises(InputError, match=r"column 'minute' looks like epoch timestamps"):
        read_series(path, column="minute", step=60.0)
    # the load column, chosen by name, reads
    series = read_series(path, column="load", step=60.0)
    assert series.values.tolist()[:8] == [100.0, 101, 102, 103, 104, 105, 106, 100]
    # without --step the first column is the time, as before
    assert read_series(path).timestamps[0] == START


@pytest.mark.parametrize(
    "values",
    [
        [float(i) for i in range(50)],  # a ramp, but no epoch
        [START + 60.0 * i + (i % 3) for i in range(50)],  # epoch-sized, uneven
        [START + 60.0, START + 120.0],  # too short to tell
        [START + 60.0 * i if i != 5 else float("nan") for i in range(50)],  # a gap
    ],
)
def test_load_that_merely_resembles_a_clock_is_read(tmp_path: Path, values: list[float]) -> None:
    path = tmp_path / "load.csv"
    path.write_text("load\n" + "".join(f"{v!r}\n" for v in values), encoding="utf-8")
    series = read_series(path, step=60.0)
    assert np.array_equal(series.values, values, equal_nan=True)


# --- plain numbers in messages ---------------------------------------------------------


def test_messages_show_plain_numbers_not_numpy_reprs() -> None:
    with pytest.raises(SeriesError) as caught:
        make_series([0.0, 60.0, 60.0], [1.0, 2.0, 3.0])
    assert str(caught.value) == "duplicate timestamp 60 at position 2"
    with pytest.raises(SeriesError) as caught:
        make_series(np.array([0.5, 120.25, 60.0]), [1.0, 2.0, 3.0])
    assert str(caught.value) == "timestamps go backwards at position 2 (120.25 then 60)"
    with pytest.raises(SeriesError, match=r"got nan$"):
        make_series([0.0, 1.0], [1.0, 2.0], step=float("nan"))
    assert [plain(v) for v in (np.float64(60.0), -3.0, 0.5, 1e20, float("inf"))] == [
        "60",
        "-3",
        "0.5",
        "1e+20",
        "inf",
    ]


# --- why seasonality was dropped -------------------------------------------------------


def test_noise_long_enough_for_a_daily_test_says_it_was_tested_and_rejected() -> None:
    n = 600  # 5-minute steps: two days (288 steps each) but not two weeks (2016)
    rng = np.random.default_rng(1)
    series = make_series(np.arange(n) * 300.0, 100 + rng.normal(0, 5, n), step=300.0)
    forecast = fit_forecast(series, 12)
    reason = forecast.fallback_reason
    assert reason is not None
    assert reason.startswith("no seasonality detected (autocorrelation ")
    assert " at 288 steps; a cycle needs more than " in reason
    assert f"{max(MIN_ACF, 2.5 / np.sqrt(n)):.2f}" in reason
    assert "shorter than two cycles of 288" not in reason
    assert "shorter than two cycles of 2016 steps" in reason  # the week really was untested
    assert forecast.version == "ets-nonseasonal/1"  # the choice itself is unchanged
    assert forecast.details["periods"] == "none"


def test_a_history_too_short_for_any_cycle_keeps_the_short_reason() -> None:
    series = make_series(np.arange(100) * 300.0, np.linspace(1.0, 2.0, 100), step=300.0)
    reason = fit_forecast(series, 3).fallback_reason
    assert reason is not None and "no seasonality detected" not in reason
    assert "the history (100 samples) is shorter than two cycles of 288 steps" in reason
