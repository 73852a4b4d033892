"""The simulation report counts days as a person would write them."""

from __future__ import annotations

from agent.sim.report import _about, _days


def test_one_day_is_singular_and_every_other_count_plural() -> None:
    assert _days(1.0) == "1 day"
    assert _days(7.0) == "7 days"
    assert _days(0.5) == "0.5 days"
    assert _days(1.25) == "1.25 days"


def test_a_fault_is_drawn_on_its_own_workloads_chart_only() -> None:
    assert _about("surge x2.5 on cart-api", "cart-api")
    assert not _about("surge x2.5 on cart-api", "cart")  # a name inside another
    assert not _about("memory leak 120 MiB/h on cart", "art")
    assert not _about("node node-c NotReady for 3 h", "node")
