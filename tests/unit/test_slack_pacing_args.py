"""`benchmarks/slack_pacing.py` refuses a run it cannot make, before it starts anything."""

from __future__ import annotations

import pytest

from benchmarks.slack_pacing import main, parse


def test_the_defaults_and_given_numbers_are_read() -> None:
    assert parse([]) == (20, 30.0)
    assert parse(["5", "2.5"]) == (5, 2.5)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["abc"], "QUESTIONS must be a whole number, not 'abc'"),
        (["-3"], "QUESTIONS must be from 1 to 500, not '-3'"),
        (["5", "soon"], "CYCLE_SECONDS must be a number, not 'soon'"),
        (["5", "nan"], "CYCLE_SECONDS must be from 1 to 600, not 'nan'"),
        (["5", "30", "x"], "at most two arguments"),
    ],
)
def test_a_bad_run_exits_2_naming_it(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert says in capsys.readouterr().err
