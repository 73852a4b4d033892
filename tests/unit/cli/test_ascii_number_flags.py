"""Numeric flags take numbers written in ASCII: ``type=float``/``type=int`` alone read
"٣" or "３" as 3, "1_000" as 1000 and " 7 " as 7, so a flag typed in other digits, or
with a slip, ran with a value read from it instead of being refused naming the flag."""

from __future__ import annotations

import argparse

import pytest

from agent.cli import main
from agent.cli._numbers import number_arg, whole_arg
from agent.cli.forecast_cmd import parse_levels
from agent.errors import InputError

OTHER = ["\u0663", "\uff13", "1_000", " 7", "7 ", "", "0x10", "\u00b2"]


@pytest.mark.parametrize("text", OTHER)
def test_flag_types_refuse_numbers_not_plainly_written(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="ASCII digits"):
        number_arg(text)
    with pytest.raises(argparse.ArgumentTypeError, match="ASCII digits"):
        whole_arg(text)


def test_flag_types_read_what_the_flags_document() -> None:
    assert [number_arg(t) for t in ("2", "-1.5", "+.5", "1e3", "3.")] == [2, -1.5, 0.5, 1e3, 3]
    assert [whole_arg(t) for t in ("50", "-1", "007")] == [50, -1, 7]
    # left to each command's own range check, which names the flag and the value
    assert number_arg("inf") == float("inf") and number_arg("nan") != number_arg("nan")


def test_a_flag_in_other_digits_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["simulate", "--quiet", "--days", "\u0663"])
    assert stopped.value.code == 2
    assert "argument --days: '\u0663' is not a number" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["\u0668\u0660", "8_0", "\uff18\uff10"])
def test_forecast_levels_refuse_other_digits(text: str) -> None:
    assert parse_levels("80,95") == (80, 95)
    with pytest.raises(InputError, match="is not a whole percentage"):
        parse_levels(text)
