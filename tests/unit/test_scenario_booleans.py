"""A scenario's true-or-false fields take only a boolean, as the configuration's and
runbooks' do: ``predictive: "yes"`` was taken as true, ``good: "false"`` as false and
``predictive: 1`` or ``0.0`` as a boolean, silently (pydantic's lax mode).

Each is refused with ``FILE:LINE: field: message``; an unquoted ``yes`` is still read as
true, as YAML (1.1) and the configuration read it.
"""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from agent.errors import InputError
from agent.sim import scenario as schema
from agent.sim.scenario import load_scenario

SCENARIO = """\
apiVersion: autonomic.dev/v1alpha1
kind: Scenario
metadata:
  name: booleans
spec:
  days: 2
  traces:
    - name: nasa
      builtin: nasa-http
  workloads:
    - name: web
      trace: nasa
      capacityPerPod: 60
      predictive: true
  faults:
    - type: canary
      at: 1h
      workload: web
      image: web:2
      good: false
"""

# Each boolean a scenario can hold: its line as written above, and its field.
BOOLEANS = [
    ("      predictive: true", "spec.workloads[0].predictive"),
    ("      good: false", "spec.faults[0].good"),
]


def _load(tmp_path: Path, old: str, new: str) -> schema.Scenario:
    assert old in SCENARIO
    path = tmp_path / "b.yaml"
    path.write_text(SCENARIO.replace(old, new), encoding="utf-8")
    return load_scenario(path)


def _bool_fields(annotation: object, key: str = "") -> set[str]:
    """The fields inside ``annotation`` (a model, or a union, list or Annotated of them)
    whose type is a boolean, as ``spec.faults.good``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {
            field
            for name, info in annotation.model_fields.items()
            for field in _bool_fields(
                info.annotation, f"{key}.{info.alias or name}" if key else info.alias or name
            )
        }
    if annotation is bool:
        return {key}
    return {field for arg in typing.get_args(annotation) for field in _bool_fields(arg, key)}


def test_every_boolean_field_is_listed_here() -> None:
    """A boolean field added to the schema must be listed in BOOLEANS (and so be strict)."""
    listed = {field.replace("[0]", "") for _, field in BOOLEANS}
    assert _bool_fields(schema.Scenario) == listed


def test_the_scenario_here_loads(tmp_path: Path) -> None:
    spec = _load(tmp_path, "days: 2", "days: 2").spec
    assert spec.workloads[0].predictive is True
    assert isinstance(spec.faults[0], schema.Canary) and spec.faults[0].good is False


@pytest.mark.parametrize(("line", "field"), BOOLEANS)
@pytest.mark.parametrize(
    ("written", "shown"),
    [('"yes"', "'yes'"), ('"false"', "'false'"), ('"true"', "'true'"), ("1", "1"), ("0.0", "0.0")],
)
def test_a_value_that_is_not_a_boolean_is_refused(
    tmp_path: Path, line: str, field: str, written: str, shown: str
) -> None:
    key = line.partition(": ")[0]
    with pytest.raises(InputError) as caught:
        _load(tmp_path, line, f"{key}: {written}")
    number = SCENARIO.splitlines().index(line) + 1
    assert str(caught.value).splitlines()[1:] == [
        f"  {tmp_path / 'b.yaml'}:{number}: {field}: expected true or false (unquoted), got {shown}"
    ]
