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
from agent.errors import ConfigError, InputError, PermanentError
from agent.settings import CanarySettings, Settings, advisories, load_settings
from agent.settings import parse_duration as setting_duration
from agent.sim.metrics import parse_selector
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


@pytest.mark.parametrize("text", [f"a{NBSP}b%", f"{ZWSP}5%", "\u20095%"])
def test_the_canary_spec_names_unseen_characters_as_runbooks_do(text: str) -> None:
    """One function names the character for every layer (forecasting.text), so a
    tolerance's refusal carries the words a runbook's duration does."""
    from remediation.digits import unseen_character

    with pytest.raises(CanarySpecError) as caught:
        parse_spec({"metrics": {"latency": {"tolerance": text}}})
    assert unseen_character(text) and unseen_character(text) in str(caught.value)


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


# --- !!float in a runbook's YAML, and numbers in the daemon's configuration -----------

OOM_RUNBOOK = Path(__file__).parents[2] / "runbooks" / "oom-raise-memory-limit.yaml"


def _with_factor(written: str) -> str:
    text = OOM_RUNBOOK.read_text(encoding="utf-8")
    assert text.count("factor: 1.5\n") == 1
    return text.replace("factor: 1.5\n", f"factor: {written}\n")


@pytest.mark.parametrize("written", ["!!float 1_0", "!!float ٣", "!!float ３.5", "!!float 1:30"])
def test_an_explicit_float_in_other_digits_is_refused(written: str) -> None:
    with pytest.raises(RunbookLoadError) as caught:
        load_text(_with_factor(written), "oom.yaml")
    messages = [str(issue) for issue in caught.value.issues]
    assert any(
        m.startswith("oom.yaml:37:") and "is not a number; write it in ASCII digits" in m
        for m in messages
    ), messages


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("1.5", 1.5),
        ("!!float 1.5", 1.5),
        ("!!float 3e0", 3.0),
        ("!!float 2", 2.0),
        ("!!float .2e1", 2.0),
    ],
)
def test_plain_floats_still_read_in_a_runbook(written: str, value: float) -> None:
    (loaded,) = load_text(_with_factor(written), "oom.yaml")
    (action,) = [a for a in loaded.spec.actions if a.type == "patchResources"]
    assert action.factor == value


def _settings(tmp_path: Path, routing: str) -> Settings:
    path = tmp_path / "autonomic.yaml"
    path.write_text(f"routing:\n{routing}", encoding="utf-8")
    return load_settings(path, {})


def _config_refusal(tmp_path: Path, routing: str) -> str:
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, routing)
    return str(caught.value)


def test_the_config_refuses_a_leading_zero_as_runbooks_do(tmp_path: Path) -> None:
    # PyYAML's YAML 1.1 read this as octal 8, a window of 8 outcomes.
    message = _config_refusal(tmp_path, "  window: 010\n")
    assert ":2:" in message
    assert "leading zero is octal to some YAML readers and decimal to others" in message
    assert "write 10 or 0o10 for octal 8" in message


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("  window: 1_000\n", 'expected a whole number, got the string "1_000"'),
        ("  window: 1:30\n", 'expected a whole number, got the string "1:30"'),
        ("  window: 0b110010\n", 'expected a whole number, got the string "0b110010"'),
        ("  window: !!int ٥٠\n", "is not a whole number; write it in ASCII digits"),
        ("  auto: !!float ٠.٩\n", "is not a number; write it in ASCII digits"),
        ("  auto: !!float 0.9_5\n", "is not a number; write it in ASCII digits"),
    ],
)
def test_the_config_reads_numbers_only_in_the_runbooks_forms(
    tmp_path: Path, written: str, said: str
) -> None:
    message = _config_refusal(tmp_path, written)
    assert ":2:" in message
    assert said in message


def test_the_config_reads_yaml_1_2_numbers(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "  window: 0o62\n  auto: 95e-2\n  ask: !!float .6\n")
    assert (settings.routing.window, settings.routing.auto, settings.routing.ask) == (
        50,
        0.95,
        0.6,
    )
    assert _settings(tmp_path, "  window: 07\n").routing.window == 7


def test_an_environment_override_with_a_leading_zero_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "autonomic.yaml"
    path.write_text("mode: observe\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"AUTONOMIC__ROUTING__WINDOW: '010': a whole number"):
        load_settings(path, {"AUTONOMIC__ROUTING__WINDOW": "010"})
    window = load_settings(path, {"AUTONOMIC__ROUTING__WINDOW": "0o62"}).routing.window
    assert window == 50


def test_a_long_whole_number_reaches_its_field_and_a_huge_one_is_refused() -> None:
    assert "must be at most 1000000" in _refusal("9" * 30)
    assert "a whole number of 5000 digits is too long to read" in _refusal("9" * 5000)


# --- PromQL selectors: ASCII spaces only ----------------------------------------------


@pytest.mark.parametrize(
    "query",
    [f'up{{{NBSP}namespace="a"}}', f'up{{namespace{NBSP}="a"}}', f'up{NBSP}{{namespace="a"}}'],
)
def test_a_simulated_selector_with_a_no_break_space_is_refused_naming_it(query: str) -> None:
    with pytest.raises(PermanentError) as caught:
        parse_selector(query)
    assert NAMED_NBSP in str(caught.value)
    assert parse_selector(' up { namespace = "a" , pod="b" } ') == (
        "up",
        {"namespace": "a", "pod": "b"},
    )


def test_a_canary_count_query_with_a_no_break_space_is_named_by_config_check() -> None:
    queries = dict(CanarySettings().queries)
    assert "[1m]" in queries["errors"]
    queries["errors"] = queries["errors"].replace("[1m]", f"[{NBSP}1m]")
    notes = advisories(Settings.model_validate({"canary": {"queries": queries}}))
    named = [n for n in notes if n.startswith("canary.queries.errors:")]
    assert len(named) == 1, notes
    assert "PromQL takes only plain spaces" in named[0]
    assert NAMED_NBSP in named[0]
    assert not any("counts over" in n for n in notes)


@pytest.mark.parametrize(
    ("section", "written"),
    [("cluster:\n  name: 010\n", "010"), ("slack:\n  channel: 0123\n", "0123")],
)
def test_a_leading_zero_where_text_belongs_says_to_quote_it(
    tmp_path: Path, section: str, written: str
) -> None:
    # A cluster name or a Slack channel written 010 is text to the person who wrote it:
    # the refusal said only "write 10 or 0o10", a number, where no number belongs.
    path = tmp_path / "autonomic.yaml"
    path.write_text(section, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert f'quote it ("{written}") if it is text' in str(caught.value)
    path.write_text(section.replace(written, f'"{written}"'), encoding="utf-8")
    load_settings(path, {})  # quoted, it is read as the text it is


def test_an_override_with_a_leading_zero_where_text_belongs_says_to_quote_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"AUTONOMIC__CLUSTER__NAME": "010"})
    assert "AUTONOMIC__CLUSTER__NAME" in str(caught.value)
    assert 'quote it ("010") if it is text' in str(caught.value)
