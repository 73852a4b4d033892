"""`benchmarks/slack_ack.py` refuses a run it cannot make, before it starts anything."""

from __future__ import annotations

import pytest

from benchmarks.slack_ack import main, parse


def test_a_mode_and_seconds_are_read() -> None:
    assert parse("http:10") == ("http", 10.0)
    assert parse("socket") == ("socket", 0.0)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("bogus", "MODE must be http or socket"),
        ("http:ten", "SECONDS must be a number"),
        ("http:-3", "SECONDS must be from 0 to 3600"),
    ],
)
def test_a_bad_run_exits_2_naming_it(
    spec: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([spec]) == 2
    err = capsys.readouterr().err
    assert says in err and repr(spec) in err
