"""The simulation report counts days as a person would write them."""

from __future__ import annotations

from agent.sim.report import _about, _days, _span
from agent.sim.run import FaultSpan


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


def test_a_band_ends_where_its_fault_did_or_at_the_end_of_the_run() -> None:
    start, end = 1000.0, 1000.0 + 86400
    ended = _span(
        FaultSpan(1000.0 + 3600, "surge x2 on web", 1000.0 + 7200, "its 1 h passed"), start, end
    )
    assert (ended.x0, ended.x1) == (1000.0 + 3600, 1000.0 + 7200)
    assert ended.label == "surge x2 on web: day 0.04 to day 0.08 (its 1 h passed)"
    # a fault whose end falls after the run: drawn to the end, and said to be still on
    late = _span(
        FaultSpan(end - 1800, "node n1 NotReady for 3 h", end + 9000, "its 3 h passed"), start, end
    )
    assert late.x1 == end and late.label.endswith("to day 1.00 (still on at the end of the run)")
    # one that never ends (a leak): to the end, with why
    leak = _span(
        FaultSpan(start + 43200, "memory leak 1 MiB/h on web", None, "it never stops"), start, end
    )
    assert leak.x1 == end and leak.label.endswith("day 0.50 to day 1.00 (it never stops)")
