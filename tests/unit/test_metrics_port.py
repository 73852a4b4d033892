"""``one_fresh_value``: the single, recent instant sample that a check or a judge may use;
``one_fresh_value_or_why``: the same, or what the query answered instead, for a runbook's
precondition or check to say (not a bare "no data")."""

from __future__ import annotations

import math

import pytest

from agent.metrics_port import INSTANT_MAX_AGE, one_fresh_value, one_fresh_value_or_why
from remediation.readings import NoValue

NOW = 10_000.0


def test_one_recent_series_gives_its_value() -> None:
    assert one_fresh_value([({}, NOW - 30, 0.2)], NOW) == 0.2
    assert one_fresh_value([({}, NOW - INSTANT_MAX_AGE, 0.2)], NOW) == 0.2


def test_none_several_or_old_give_nothing() -> None:
    assert one_fresh_value([], NOW) is None
    assert one_fresh_value([({"a": "1"}, NOW, 1.0), ({"a": "2"}, NOW, 2.0)], NOW) is None
    assert one_fresh_value([({}, NOW - 3600, 0.2)], NOW) is None  # a stuck server, a cache


def test_no_data_stays_nan() -> None:
    value = one_fresh_value([({}, NOW, math.nan)], NOW)
    assert value is not None and math.isnan(value)


def test_what_the_query_answered_instead_of_a_number_is_said() -> None:
    assert one_fresh_value_or_why([({}, NOW - 30, 0.2)], NOW) == 0.2
    assert one_fresh_value_or_why([], NOW) == NoValue(
        "NoData", "the query returned no series (is the metric scraped, and do its labels match?)"
    )
    several = [({"pod": "a"}, NOW, 1.0), ({"pod": "b"}, NOW, 2.0), ({"pod": "c"}, NOW, 3.0)]
    assert one_fresh_value_or_why(several, NOW) == NoValue(
        "NoData", "the query returned 3 series, not one (aggregate it, e.g. with sum)"
    )
    assert one_fresh_value_or_why([({}, NOW - 3600, 0.2)], NOW) == NoValue(
        "NoData",
        "its newest sample is 1h old, older than 5m (is Prometheus still storing samples?)",
    )
    assert one_fresh_value_or_why([({}, NOW, math.nan)], NOW) == NoValue(
        "NoData", "its value is NaN"
    )


@pytest.mark.parametrize(("value", "said"), [(math.inf, "+Inf"), (-math.inf, "-Inf")])
def test_an_infinite_value_is_no_number_to_act_on(value: float, said: str) -> None:
    """The Prometheus reader's instant reads keep +-Inf now (for the canary judge): a
    runbook's check must still not pass on ``-Inf < 0.05``, and says what it read."""
    assert one_fresh_value_or_why([({}, NOW, value)], NOW) == NoValue(
        "NoData", f"its value is {said}"
    )
