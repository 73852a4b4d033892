"""Numbers in a simulation scenario are written as numbers, as in the configuration and
in runbooks: `days: "7"` used to be taken as 7, `replicas: yes` as 1 and `seed: 3.0` as 3.

Each is refused with ``FILE:LINE: field: message`` in the configuration's words; offsets
and durations stay text on purpose (``at: 2h``, ``startup: "2m"``).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from agent.errors import InputError
from agent.sim import scenario as schema
from agent.sim.scenario import Scenario, load_scenario
from remediation._types import Duration

ROOT = Path(__file__).resolve().parents[2]

# Every number a scenario can hold, each on a line of its own.
SCENARIO = """\
apiVersion: autonomic.dev/v1alpha1
kind: Scenario
metadata:
  name: numbers
spec:
  days: 2
  seed: 3
  tick: 30s
  traces:
    - name: nasa
      builtin: nasa-http
      step: 60
  workloads:
    - name: web
      trace: nasa
      scale: 2
      capacityPerPod: 60
      startup: 2m
      replicas: 4
      baseLatencyMs: 40
      pdbMinAvailable: 1
      hpa:
        minReplicas: 2
        maxReplicas: 20
        targetUtilization: 0.7
      memory:
        baseMiB: 220
      predictive: true
  faults:
    - type: surge
      at: 1h
      workload: web
      factor: 2.5
      duration: 30m
    - type: memoryLeak
      at: 2h
      workload: web
      leakMiBPerHour: 400
      plateauMiB: 300
    - type: canary
      at: 3h
      workload: web
      image: app:2
      good: true
      traffic: 0.25
      latencyFactor: 1.4
      errorRate: 0.03
  oncall:
    default:
      noAnswer: 0.1
    rules:
      - runbook: canary
        noAnswer: 0.2
  scaling:
    scheduledFloors:
      - name: sale
        workloads: [default/web]
        minReplicas: 30
        timezone: UTC
        dates: [{start: "2023-11-15T14:00", end: "2023-11-15T15:00"}]
"""

# (the line as written, the field as errors name it, whether it takes a whole number)
NUMBERS = [
    ("  days: 2", "spec.days", False),
    ("  seed: 3", "spec.seed", True),
    ("      step: 60", "spec.traces[0].step", False),
    ("      scale: 2", "spec.workloads[0].scale", False),
    ("      capacityPerPod: 60", "spec.workloads[0].capacityPerPod", False),
    ("      replicas: 4", "spec.workloads[0].replicas", True),
    ("      baseLatencyMs: 40", "spec.workloads[0].baseLatencyMs", False),
    ("      pdbMinAvailable: 1", "spec.workloads[0].pdbMinAvailable", True),
    ("        minReplicas: 2", "spec.workloads[0].hpa.minReplicas", True),
    ("        maxReplicas: 20", "spec.workloads[0].hpa.maxReplicas", True),
    ("        targetUtilization: 0.7", "spec.workloads[0].hpa.targetUtilization", False),
    ("        baseMiB: 220", "spec.workloads[0].memory.baseMiB", False),
    ("      factor: 2.5", "spec.faults[0].factor", False),
    ("      leakMiBPerHour: 400", "spec.faults[1].leakMiBPerHour", False),
    ("      plateauMiB: 300", "spec.faults[1].plateauMiB", False),
    ("      traffic: 0.25", "spec.faults[2].traffic", False),
    ("      latencyFactor: 1.4", "spec.faults[2].latencyFactor", False),
    ("      errorRate: 0.03", "spec.faults[2].errorRate", False),
    ("      noAnswer: 0.1", "spec.oncall.default.noAnswer", False),
    ("        noAnswer: 0.2", "spec.oncall.rules[0].noAnswer", False),
    ("        minReplicas: 30", "spec.scaling.scheduledFloors[0].minReplicas", True),
]


def _edit(tmp_path: Path, line: str, new: str) -> tuple[Path, int]:
    """The scenario with ``line`` rewritten as ``new``: its path and that line's number."""
    lines = SCENARIO.splitlines()
    assert lines.count(line) == 1, line
    index = lines.index(line)
    lines[index] = new
    path = tmp_path / "numbers.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, index + 1


def _problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as raised:
        load_scenario(path)
    head, *problems = str(raised.value).splitlines()
    assert head == "invalid scenario:"
    return [problem.strip() for problem in problems]


def test_the_scenario_here_loads(tmp_path: Path) -> None:
    path = tmp_path / "numbers.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    spec = load_scenario(path).spec
    assert (spec.days, spec.seed, spec.workloads[0].replicas) == (2.0, 3, 4)
    assert spec.faults[0].at == 3600.0 and spec.workloads[0].startup == 120.0


def _number_fields(annotation: object, key: str = "") -> set[str]:
    """The number fields inside ``annotation`` (a model, or a union, list or Annotated
    of them), as ``spec.faults.factor``, leaving out those that read text of their own
    (offsets and durations)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        own_text = {
            name
            for decorator in annotation.__pydantic_decorators__.field_validators.values()
            if decorator.info.mode == "before"
            for name in decorator.info.fields
        }
        return {
            field
            for name, info in annotation.model_fields.items()
            if name not in own_text
            for field in _number_fields(
                info.annotation, f"{key}.{info.alias or name}" if key else info.alias or name
            )
        }
    if annotation == Duration:  # a scheduled floor's cron ``duration``: text (``2h``)
        return set()
    if annotation in (int, float):
        return {key}
    return {field for arg in typing.get_args(annotation) for field in _number_fields(arg, key)}


def test_every_number_field_is_listed_here() -> None:
    """A number field added to the schema must be listed in NUMBERS (and so be strict)."""
    listed = {re.sub(r"\[\d+\]", "", field) for _, field, _ in NUMBERS}
    assert _number_fields(schema.Scenario) == listed


@pytest.mark.parametrize(("line", "field", "whole"), NUMBERS)
def test_a_quoted_number_is_refused_as_in_the_config_and_runbooks(
    tmp_path: Path, line: str, field: str, whole: bool
) -> None:
    key, value = line.split(": ")
    path, number = _edit(tmp_path, line, f'{key}: "{value}"')
    expected = "a whole number" if whole else "a number"
    assert _problems(path) == [
        f'{path}:{number}: {field}: expected {expected}, got the string "{value}" '
        "(remove the quotes)"
    ]


# A scheduled floor's minReplicas is read by the daemon's own settings model, which said
# "Input should be a valid integer (got True)" for `minReplicas: yes`, in the scenario as in
# `autonomic config check`; it now says what YAML did, as every other number here.
@pytest.mark.parametrize(("line", "field", "whole"), NUMBERS)
def test_a_yaml_boolean_is_not_taken_for_a_number(
    tmp_path: Path, line: str, field: str, whole: bool
) -> None:
    key, _ = line.split(": ")
    path, number = _edit(tmp_path, line, f"{key}: yes")
    assert _problems(path) == [
        f"{path}:{number}: {field}: expected a number, got true (YAML reads an unquoted "
        "yes, no, on, off, true or false as a boolean)"
    ]


@pytest.mark.parametrize(("line", "field"), [(n[0], n[1]) for n in NUMBERS if n[2]])
def test_a_fraction_for_a_whole_number_says_what_to_write(
    tmp_path: Path, line: str, field: str
) -> None:
    key, value = line.split(": ")
    path, number = _edit(tmp_path, line, f"{key}: {value}.0")
    assert _problems(path) == [
        f"{path}:{number}: {field}: expected a whole number, got {value}.0 (write it as {value})"
    ]
    path, number = _edit(tmp_path, line, f"{key}: {value}.5")
    assert _problems(path) == [f"{path}:{number}: {field}: expected a whole number, got {value}.5"]


def test_text_that_is_no_number_is_named_without_the_quotes_hint(tmp_path: Path) -> None:
    path, number = _edit(tmp_path, "  days: 2", "  days: a week")
    assert _problems(path) == [
        f'{path}:{number}: spec.days: expected a number, got the string "a week"'
    ]


@pytest.mark.parametrize(
    ("line", "new", "read", "seconds"),
    [
        ("  tick: 30s", '  tick: "30"', lambda s: s.spec.tick, 30.0),
        ("      startup: 2m", '      startup: "2m"', lambda s: s.spec.workloads[0].startup, 120.0),
        ("      at: 1h", '      at: "1h"', lambda s: s.spec.faults[0].at, 3600.0),
        (
            "      duration: 30m",
            "      duration: '1800'",
            lambda s: s.spec.faults[0].duration,
            1800.0,
        ),
    ],
)
def test_offsets_and_durations_stay_text(
    tmp_path: Path, line: str, new: str, read: Callable[[Scenario], float], seconds: float
) -> None:
    """A quoted offset or duration is text like ``2h`` and is read as the same seconds."""
    lines = SCENARIO.splitlines()
    lines[lines.index(line)] = new
    path = tmp_path / "text.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert read(load_scenario(path)) == seconds


@pytest.mark.parametrize(
    "scenario",
    [
        *sorted((ROOT / "agent" / "data" / "scenarios").glob("*.yaml")),
        ROOT / "tests" / "integration" / "simulate" / "short.yaml",
    ],
    ids=lambda p: p.name,
)
def test_every_shipped_scenario_still_loads(scenario: Path) -> None:
    """The stricter numbers refuse no scenario the project ships; each is read as written."""
    written = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    loaded = load_scenario(scenario)
    assert (loaded.metadata.name, loaded.source) == (written["metadata"]["name"], scenario)
