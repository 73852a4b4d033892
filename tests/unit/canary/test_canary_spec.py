from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.canary import (
    CanarySpecError,
    Direction,
    JudgeSettings,
    MetricKind,
    Tolerance,
    default_specs,
    parse_spec,
)


def test_full_spec_parses() -> None:
    specs = parse_spec(
        {
            "metrics": {
                "latency_p99": {"kind": "continuous", "tolerance": "15%", "direction": "increase"},
                "throughput": {"direction": "decrease", "critical": False},
                "errors": {
                    "kind": "ratio",
                    "numerator": "errors",
                    "denominator": "requests",
                    "tolerance": "0.5pp",
                    "cumulative": True,
                },
                "cpu": {"kind": "resource", "tolerance": {"absolute": 0.2}},
            }
        }
    )
    by_name = {s.name: s for s in specs}
    assert by_name["latency_p99"].tolerance == Tolerance(0.15, relative=True)
    assert by_name["throughput"].direction is Direction.DECREASE
    assert not by_name["throughput"].critical
    assert by_name["errors"].kind is MetricKind.RATIO
    assert by_name["errors"].tolerance == Tolerance(0.005, relative=False)
    assert by_name["errors"].columns == ("errors", "requests")
    assert by_name["cpu"].tolerance == Tolerance(0.2, relative=False)


def test_defaults_without_spec_are_continuous_increase() -> None:
    specs = default_specs(["a", "b"])
    assert [s.kind for s in specs] == [MetricKind.CONTINUOUS] * 2
    assert all(s.direction is Direction.INCREASE and s.critical for s in specs)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"metrics": {"lat": {"kind": "histogram"}}}, "metrics.lat.kind"),
        ({"metrics": {"lat": {"direction": "either"}}}, "metrics.lat.direction"),
        ({"metrics": {"lat": {"tolerance": "ten"}}}, "metrics.lat.tolerance"),
        ({"metrics": {"lat": {"tolerance": -1}}}, "metrics.lat.tolerance"),
        ({"metrics": {"lat": {"critical": "yes"}}}, "metrics.lat.critical"),
        ({"metrics": {"lat": {"colour": 1}}}, "metrics.lat.colour"),
        ({"metrics": {"e": {"kind": "ratio", "numerator": "e"}}}, "metrics.e.denominator"),
        ({"metrics": {"lat": {"numerator": "e"}}}, "metrics.lat.numerator"),
        ({"metrics": {"lat": {"denominator": "r"}}}, "metrics.lat.denominator"),
        (
            {
                "metrics": {
                    "e": {"kind": "ratio", "numerator": "e", "denominator": "r", "tolerance": "5%"}
                }
            },
            "metrics.e.tolerance",
        ),
        ({"metrics": {}}, "metrics"),
        ({"metric": {}}, "metric"),
        ([1, 2], "<root>"),
    ],
)
def test_errors_name_the_field(doc: Any, field: str) -> None:
    with pytest.raises(CanarySpecError) as info:
        parse_spec(doc)
    assert info.value.field == field


def test_a_ratio_without_its_columns_says_which_is_missing_and_what_it_names() -> None:
    """The error said "a ratio metric names its count columns, e.g. errors", which
    neither said the key was missing nor named the other one."""
    with pytest.raises(CanarySpecError) as info:
        parse_spec({"metrics": {"errors": {"kind": "ratio", "denominator": "requests"}}})
    assert info.value.field == "metrics.errors.numerator"
    assert info.value.message.startswith("required key is missing: ")
    assert "numerator" in info.value.message and "denominator" in info.value.message


def test_settings_validate() -> None:
    with pytest.raises(CanarySpecError, match="alpha"):
        JudgeSettings(alpha=0.7)
    with pytest.raises(CanarySpecError, match="min_intervals"):
        JudgeSettings(min_intervals=1)


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=6)
)
_docs = st.recursive(
    _scalars,
    lambda inner: (
        st.dictionaries(st.text(max_size=12), inner, max_size=4) | st.lists(inner, max_size=3)
    ),
    max_leaves=12,
)
_metric_bodies = st.dictionaries(
    st.sampled_from(
        [
            "kind",
            "direction",
            "tolerance",
            "critical",
            "numerator",
            "denominator",
            "cumulative",
            "x",
        ]
    ),
    _scalars | st.sampled_from(["ratio", "continuous", "decrease", "5%", "1pp", "errors"]),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        _docs,
        st.fixed_dictionaries(
            {
                "metrics": st.dictionaries(
                    st.text(min_size=1, max_size=5), _metric_bodies, max_size=3
                )
            }
        ),
    )
)
def test_any_document_parses_or_fails_with_a_field(doc: Any) -> None:
    try:
        specs = parse_spec(doc)
    except CanarySpecError as exc:
        assert exc.field
        assert str(exc).startswith(exc.field)
    else:
        assert specs
        for spec in specs:
            assert spec.tolerance.value > 0
