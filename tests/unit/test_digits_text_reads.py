"""Numbers a person wrote as text are read only in ASCII digits (digits41b).

``int`` and ``float`` alone also read Arabic-Indic or full-width digits ("٣", "３"),
underscores ("1_000") and, for ``float``, "nan" and "inf": each was a value read from
text nobody meant as that number. These are the reads digits41 left plain.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.csvio import read_table
from agent.errors import InputError
from agent.settings import parse_duration as setting_duration
from agent.sim.scenario import parse_offset
from forecasting.canary.spec import CanarySpecError, parse_spec
from remediation._types import COMPARISON_PATTERN, STEP_PATTERN, parse_comparison, parse_step
from remediation.durations import parse_duration as runbook_duration
from remediation.loading import RunbookLoadError, load_text
from remediation.matchers import parse_matcher

START = 1_767_225_600  # 2026-01-01T00:00:00Z


def _csv(tmp_path: Path, cell: str, stamp: str = str(START)) -> Path:
    path = tmp_path / "load.csv"
    path.write_text(f"time,value\n{START - 60},1\n{stamp},{cell}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("cell", ["٣", "３", "1_000", "١٢.٥"])
def test_a_csv_cell_in_other_digits_is_refused_with_file_line_and_column(
    tmp_path: Path, cell: str
) -> None:
    path = _csv(tmp_path, cell)
    with pytest.raises(InputError) as caught:
        read_table(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: column 'value': {cell!r} is not a number")
    assert "ASCII digits" in message


@pytest.mark.parametrize("cell", ["inf", "-Infinity", "1e999"])
def test_a_csv_cell_that_is_not_finite_is_still_refused(tmp_path: Path, cell: str) -> None:
    path = _csv(tmp_path, cell)
    where = re.escape(f"{path}:3: column 'value':")
    with pytest.raises(InputError, match=rf"^{where} .* not a finite number"):
        read_table(path)


@pytest.mark.parametrize("cell", ["", "nan", "NaN", "NAN", "NA", "null", "None"])
def test_an_empty_or_nan_csv_cell_stays_a_missing_value(tmp_path: Path, cell: str) -> None:
    table = read_table(_csv(tmp_path, cell))
    assert table.columns["value"][0] == 1.0
    assert math.isnan(table.columns["value"][1])


def test_plain_csv_numbers_still_read(tmp_path: Path) -> None:
    table = read_table(_csv(tmp_path, "-1.5e2"))
    assert table.columns["value"] == [1.0, -150.0]


def test_epoch_seconds_in_other_digits_are_refused(tmp_path: Path) -> None:
    arabic = str(START).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    path = _csv(tmp_path, "2", stamp=arabic)
    where = re.escape(f"{path}:3: column 'time':")
    with pytest.raises(InputError, match=rf"^{where} .*neither epoch seconds"):
        read_table(path)


# --- text that holds a space nobody can see -------------------------------------------

NBSP = "\u00a0"  # NO-BREAK SPACE, as a web page or a chat pastes it
ZWSP = "\u200b"  # ZERO WIDTH SPACE
NAMED_NBSP = "U+00A0 NO-BREAK SPACE"


def _ratio(**fields: object) -> dict[str, object]:
    metric = {"kind": "ratio", "numerator": "errors", "denominator": "requests", **fields}
    return {"metrics": {"errors": metric}}


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (setting_duration, f"5{NBSP}m"),
        (setting_duration, f"{NBSP}30s"),
        (parse_offset, f"2d{NBSP}3h"),
        (parse_comparison, f"<{NBSP}0.05"),
        (parse_step, f"50%{NBSP}"),
        (parse_matcher, f'severity{NBSP}="critical"'),
        (runbook_duration, f"5m{NBSP}"),
    ],
)
def test_a_no_break_space_is_refused_and_named(parse: Callable[[str], object], text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse(text)
    assert NAMED_NBSP in str(caught.value)
    assert "type a plain space instead" in str(caught.value)
    parse(text.replace(NBSP, " "))  # the same text with a plain space reads


def test_a_zero_width_space_is_named_to_be_deleted() -> None:
    with pytest.raises(ValueError, match=r"U\+200B ZERO WIDTH SPACE.*delete it"):
        setting_duration(f"5{ZWSP}m")


@pytest.mark.parametrize(
    "fields",
    [{"tolerance": f"0.5{NBSP}pp"}, {"objective": f"1{NBSP}%"}],
)
def test_a_canary_spec_names_a_no_break_space(fields: dict[str, object]) -> None:
    with pytest.raises(CanarySpecError, match=re.escape(NAMED_NBSP)):
        parse_spec(_ratio(**fields))


@pytest.mark.parametrize("text", ["٥%", "５%", "5_0%", "nan%", "inf", "inf%", "1e999%"])
def test_a_canary_tolerance_in_other_digits_or_not_finite_is_refused(text: str) -> None:
    spec = {"metrics": {"latency": {"tolerance": text}}}
    with pytest.raises(CanarySpecError):
        parse_spec(spec)
    with pytest.raises(CanarySpecError):
        parse_spec(_ratio(objective=text))


@pytest.mark.parametrize("text", ["5m", f"a{NBSP}b", f"{ZWSP}", "é", "\u2009", "\ufeff1"])
def test_the_canary_spec_names_unseen_characters_as_runbooks_do(text: str) -> None:
    from forecasting.canary.spec import unseen_character as spec_unseen
    from remediation.digits import unseen_character

    assert spec_unseen(text) == unseen_character(text)


# --- a runbook's growth step ----------------------------------------------------------


def test_a_step_count_of_thousands_of_digits_is_out_of_range_not_an_int_limit() -> None:
    with pytest.raises(ValueError, match=r"the count must be from \+1 to \+10000"):
        parse_step("+" + "9" * 5000)
    assert parse_step("+0010").count == 10
    with pytest.raises(ValueError, match=r"the count must be from \+1"):
        parse_step("+" + "0" * 5000)


# --- whole numbers in a runbook's YAML ------------------------------------------------

RUNBOOK = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: job-failed
  description: tell the owners of a failed Job
  version: {version}
spec:
  triggers:
    - type: alert
      alertname: KubeJobFailed
  target:
    kind: Job
  actions:
    - type: notify
      message: "{{{{target}}}} failed"
"""


def _version(written: str) -> int:
    (loaded,) = load_text(RUNBOOK.format(version=written), "job.yaml")
    return loaded.metadata.version


def _refusal(written: str) -> str:
    with pytest.raises(RunbookLoadError) as caught:
        load_text(RUNBOOK.format(version=written), "job.yaml")
    (issue,) = caught.value.issues
    return str(issue)


@pytest.mark.parametrize(
    ("written", "advice"),
    [("010", "write 10 or 0o10 for octal 8"), ("017", "write 17 or 0o17"), ("09", "write 9")],
)
def test_a_whole_number_with_a_leading_zero_is_refused_as_ambiguous(
    written: str, advice: str
) -> None:
    message = _refusal(written)
    assert message.startswith("job.yaml:6:")
    assert "leading zero is octal to some YAML readers and decimal to others" in message
    assert advice in message


@pytest.mark.parametrize("written", ["!!int ٣", "!!int ３", "!!int 1_000", "!!int 0b11"])
def test_an_explicit_int_in_other_digits_is_refused(written: str) -> None:
    message = _refusal(written)
    assert message.startswith("job.yaml:6:")
    assert "is not a whole number; write it in ASCII digits" in message


@pytest.mark.parametrize(
    ("written", "value"),
    [("10", 10), ("0o17", 15), ("0x1F", 31), ("07", 7), ("!!int 12", 12), ("+3", 3)],
)
def test_yaml_1_2_whole_numbers_still_read(written: str, value: int) -> None:
    assert _version(written) == value


@pytest.mark.parametrize(
    ("pattern", "parse", "text"),
    [
        (COMPARISON_PATTERN, parse_comparison, "<\u00a00.05"),
        (COMPARISON_PATTERN, parse_comparison, "< 0.05\u2009"),
        (COMPARISON_PATTERN, parse_comparison, "\u3000>= 3"),
        (STEP_PATTERN, parse_step, "50%\u00a0"),
        (STEP_PATTERN, parse_step, "\u2003+5"),
        (COMPARISON_PATTERN, parse_comparison, " < 0.05\t"),
        (STEP_PATTERN, parse_step, " +5 "),
    ],
    ids=["nbsp", "thin", "ideographic", "step-nbsp", "step-em", "ascii", "step-ascii"],
)
def test_the_json_schema_patterns_take_the_spaces_the_loader_takes(
    pattern: str, parse: Callable[[str], object], text: str
) -> None:
    """An editor validating against runbook.schema.json reads ``\\s`` as any Unicode
    space (JSON Schema's regexes are ECMA-262's, as Python's ``re`` without ASCII):
    a no-break space the loader refuses must fail the schema too, not only at load."""
    try:
        parse(text)
    except ValueError:
        loader_takes = False
    else:
        loader_takes = True
    assert (re.search(pattern, text) is not None) == loader_takes
