"""Every user-facing parser reads numbers written in ASCII digits only.

Python's ``\\d`` matches any Unicode decimal digit, and ``int``/``float``/``Fraction``
then read an Arabic-Indic "٥" or a full-width "５" as 5: a runbook or setting written
with them was accepted with a value nobody typed in a way a reviewer would read. Each
parser now refuses them with its usual message, as Prometheus and Kubernetes would.
"""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from agent.settings import parse_duration as setting_duration
from agent.sim.scenario import parse_offset
from remediation._types import parse_comparison
from remediation.durations import parse_duration as runbook_duration
from remediation.promql import syntax_problem
from remediation.quantity import parse_quantity
from remediation.windows import ClockTime

ARABIC_FIVE = "\u0665"  # ٥
WIDE_FIVE = "\uff15"  # ５


@pytest.mark.parametrize("five", [ARABIC_FIVE, WIDE_FIVE])
def test_setting_durations_refuse_other_digits(five: str) -> None:
    assert setting_duration("5m") == 300.0
    for text in (f"{five}m", f"{five}", f"1h{five}m", f"{five}.5s"):
        with pytest.raises(ValueError, match="expected a duration such as"):
            setting_duration(text)


@pytest.mark.parametrize("five", [ARABIC_FIVE, WIDE_FIVE])
def test_runbook_durations_refuse_other_digits(five: str) -> None:
    assert runbook_duration("1h30m") == 5400.0
    for text in (f"{five}m", f"1h{five}m"):
        with pytest.raises(ValueError, match="is not a duration"):
            runbook_duration(text)


@pytest.mark.parametrize("five", [ARABIC_FIVE, WIDE_FIVE])
def test_quantities_refuse_other_digits(five: str) -> None:
    assert parse_quantity("500m") * 2 == 1
    for text in (f"{five}00m", f"1.{five}Gi", f"1e{five}"):
        with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
            parse_quantity(text)


@pytest.mark.parametrize("five", [ARABIC_FIVE, WIDE_FIVE])
def test_comparisons_refuse_other_digits(five: str) -> None:
    assert parse_comparison("< 0.05").threshold == 0.05
    for text in (f"< 0.0{five}", f">= {five}", f"< 1e{five}"):
        with pytest.raises(ValueError, match="is not a condition"):
            parse_comparison(text)


@pytest.mark.parametrize("five", [ARABIC_FIVE, WIDE_FIVE])
def test_clock_times_refuse_other_digits(five: str) -> None:
    clock = TypeAdapter(ClockTime)
    assert clock.validate_python("15:05") == "15:05"
    for text in (f"1{five}:00", f"10:0{five}"):
        with pytest.raises(ValidationError, match="is not a time of day"):
            clock.validate_python(text)


@pytest.mark.parametrize("five", [ARABIC_FIVE, WIDE_FIVE])
def test_promql_ranges_refuse_other_digits(five: str) -> None:
    assert syntax_problem("rate(x[5m])") is None
    for query in (f"rate(x[{five}m])", f"max_over_time(rate(x[5m])[1h:{five}m])"):
        problem = syntax_problem(query)
        assert problem is not None and f"{five}m" in problem


@pytest.mark.parametrize("five", [ARABIC_FIVE, WIDE_FIVE])
def test_scenario_offsets_refuse_other_digits(five: str) -> None:
    assert parse_offset("1d2h5m") == 86400 + 7200 + 300
    for text in (f"{five}m", f"1d{five}h"):
        with pytest.raises(ValueError, match="expected an offset such as"):
            parse_offset(text)
