"""Quantities, durations, matchers and comparisons: the small parsers runbooks rely on."""

from __future__ import annotations

from fractions import Fraction

import pytest

from remediation._types import parse_comparison
from remediation.durations import format_duration, parse_duration
from remediation.matchers import parse_matcher
from remediation.quantity import format_cpu, format_memory, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("256Mi", 256 * 2**20),
        ("2Gi", 2 * 2**30),
        ("1.5Gi", 3 * 2**29),
        ("500m", Fraction(1, 2)),
        ("100m", Fraction(1, 10)),
        ("0.1", Fraction(1, 10)),
        ("2", 2),
        ("1k", 1000),
        ("1Ki", 1024),
        ("128974848", 128974848),
        ("129e6", 129_000_000),
        ("123M", 123_000_000),
    ],
)
def test_parse_quantity(text: str, value: Fraction | int) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "Mi", "1.2.3", "12Qi", "-1Gi", "1 Gi", "1e999"])
def test_parse_quantity_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"quantity|exponent"):
        parse_quantity(text)


def test_format_quantities() -> None:
    assert format_memory(384 * 2**20) == "384Mi"
    assert format_memory(2 * 2**30) == "2Gi"
    assert format_memory(1536 * 2**20) == "1536Mi"
    assert format_memory(1000) == "1000"
    assert format_cpu(Fraction(3, 2)) == "1500m"
    assert format_cpu(2) == "2"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("2h", 7200), ("1h30m", 5400), ("1d", 86400), ("250ms", 0.25)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5", "5 minutes", "m5", "1.5h", "-5m", "", "400d"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for seconds in (30, 300, 5400, 90061):
        assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('severity="critical"', {"severity": "critical"}, True),
        ('severity!="critical"', {"severity": "critical"}, False),
        ('namespace=~"shop|checkout"', {"namespace": "checkout"}, True),
        ('namespace=~"shop|checkout"', {"namespace": "shopping"}, False),  # anchored
        ('namespace!~"kube-.*"', {"namespace": "kube-system"}, False),
        ('team=""', {}, True),  # a missing label is the empty string
        ('msg="say \\"hi\\""', {"msg": 'say "hi"'}, True),
    ],
)
def test_matchers(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize("text", ["severity", "severity=critical", '9x="a"', 'a=~"("', 'a=="b"'])
def test_matchers_reject(text: str) -> None:
    with pytest.raises(ValueError, match=r"matcher|regular expression"):
        parse_matcher(text)


def test_comparison() -> None:
    below = parse_comparison("< 0.05")
    assert below.holds(0.01) and not below.holds(0.05)
    assert not below.holds(float("nan"))
    assert parse_comparison(">=1").holds(1.0)
    with pytest.raises(ValueError, match="not a condition"):
        parse_comparison("about 3")
