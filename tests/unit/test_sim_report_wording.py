"""The simulation report counts days as a person would write them."""

from __future__ import annotations

from agent.sim.report import _days


def test_one_day_is_singular_and_every_other_count_plural() -> None:
    assert _days(1.0) == "1 day"
    assert _days(7.0) == "7 days"
    assert _days(0.5) == "0.5 days"
    assert _days(1.25) == "1.25 days"
