"""``one_fresh_value``: the single, recent instant sample that a check or a judge may use."""

from __future__ import annotations

import math

from agent.metrics_port import INSTANT_MAX_AGE, one_fresh_value

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
