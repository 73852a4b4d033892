"""A scenario carries the daemon's ``scaling.scheduledFloors``: read with the daemon's own
settings model, refused at the file, line and field as the rest of a scenario is, and
handed to the scaling loop the simulation runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import InputError
from agent.sim.run import Simulation
from agent.sim.scenario import load_scenario

SCENARIO = """\
apiVersion: autonomic.dev/v1alpha1
kind: Scenario
metadata:
  name: floors
spec:
  days: 1
  traces:
    - name: web
      builtin: nasa-http
  workloads:
    - name: api
      namespace: shop
      trace: web
      capacityPerPod: 50
      predictive: true
    - name: worker
      namespace: shop
      trace: web
      capacityPerPod: 100
  scaling:
    scheduledFloors:
      - name: sale
        workloads: [shop/api]
        minReplicas: 20
        timezone: UTC
        dates: [{start: 2023-11-15T14:00:00, end: "2023-11-15T15:00"}]
"""


def _path(tmp_path: Path, old: str = "", new: str = "") -> Path:
    path = tmp_path / "s.yaml"
    assert old in SCENARIO
    path.write_text(SCENARIO.replace(old, new) if old else SCENARIO)
    return path


def _error(tmp_path: Path, old: str, new: str) -> str:
    path = _path(tmp_path, old, new)
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    return str(caught.value).replace(str(path), "s.yaml")


def test_the_floors_reach_the_daemons_scaling_settings(tmp_path: Path) -> None:
    scenario = load_scenario(_path(tmp_path))
    (floor,) = scenario.spec.scaling.scheduled_floors
    # An unquoted date, which YAML reads as a datetime, is taken as the daemon takes it.
    assert floor.dates is not None and floor.dates[0].start == "2023-11-15T14:00:00"
    simulation = Simulation(scenario, ledger_path=tmp_path / "l.sqlite")
    try:
        assert simulation.scaling.settings.scheduled_floors == (floor,)
        assert simulation.notes == []  # it opens during a whole day's run
    finally:
        simulation.ledger.close()


def test_a_floor_that_never_opens_in_the_run_is_said_before_it(tmp_path: Path) -> None:
    scenario = load_scenario(_path(tmp_path, "2023-11-15T", "2024-11-15T"))
    simulation = Simulation(scenario, ledger_path=tmp_path / "l.sqlite", days=0.01)
    try:
        (note,) = simulation.notes
    finally:
        simulation.ledger.close()
    assert note.startswith("scheduled floor 'sale' (2024-11-15T14:00:00 to 2024-11-15T15:00 UTC)")
    assert "does not open during this run, from 2023-11-15 00:00:00 UTC" in note
    assert "starts on Wednesday 2023-11-15 at 00:00 UTC" in note


def test_a_scenario_without_floors_has_none(tmp_path: Path) -> None:
    path = _path(tmp_path)
    text = path.read_text()
    path.write_text(text[: text.index("  scaling:")])
    assert load_scenario(path).spec.scaling.scheduled_floors == ()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "minReplicas: 20",
            'minReplicas: "20"',
            "s.yaml:24: spec.scaling.scheduledFloors[0].minReplicas: expected a whole number, "
            'got the string "20" (remove the quotes)',
        ),
        (
            "minReplicas: 20",
            "minReplicas: 0",
            "s.yaml:24: spec.scaling.scheduledFloors[0].minReplicas: must be at least 1, got 0",
        ),
        (
            "timezone: UTC",
            "timezone: Mars/Olympus",
            "s.yaml:25: spec.scaling.scheduledFloors[0].timezone: 'Mars/Olympus' is not an IANA",
        ),
        (
            "minReplicas: 20",
            "minReplica: 20",
            "s.yaml:24: spec.scaling.scheduledFloors[0].minReplica: unknown key (did you mean "
            "'minReplicas'?",
        ),
        (
            "    scheduledFloors:",
            "    loadQuery: up\n    scheduledFloors:",
            "s.yaml:21: spec.scaling.loadQuery: unknown key (check the spelling; the keys here "
            "are scheduledFloors)",
        ),
        (
            "workloads: [shop/api]",
            "workloads: [api]",
            "s.yaml:23: spec.scaling.scheduledFloors[0].workloads[0]: 'api' names no workload",
        ),
    ],
)
def test_a_bad_floor_is_refused_at_its_line_in_the_settings_words(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert expected in _error(tmp_path, old, new)


def test_floor_names_must_differ_as_in_the_configuration(tmp_path: Path) -> None:
    twice = SCENARIO[SCENARIO.index("      - name: sale") :]
    message = _error(tmp_path, twice, twice + twice)
    assert "s.yaml:22: spec.scaling.scheduledFloors: " in message
    assert "scheduled floor names must differ" in message


@pytest.mark.parametrize(
    ("named", "expected"),
    [
        (
            "shop/web",
            "s.yaml:23: spec.scaling.scheduledFloors[0].workloads[0]: scheduled floor 'sale' "
            "names 'shop/web', not a workload of the scenario (a simulated workload is a "
            "Deployment, named namespace/name: shop/api, shop/worker)",
        ),
        (
            "default/api",
            "s.yaml:23: spec.scaling.scheduledFloors[0].workloads[0]: scheduled floor 'sale' "
            "names 'default/api', not a workload of the scenario",
        ),
        (
            "shop/worker",
            "s.yaml:23: spec.scaling.scheduledFloors[0].workloads[0]: scheduled floor 'sale' "
            "names 'shop/worker', which the scaling loop does not scale: give the workload "
            "'predictive: true'",
        ),
    ],
)
def test_a_floor_naming_no_scaled_workload_is_refused(
    tmp_path: Path, named: str, expected: str
) -> None:
    assert expected in _error(tmp_path, "workloads: [shop/api]", f"workloads: [{named}]")


def test_a_kind_qualified_name_is_taken(tmp_path: Path) -> None:
    path = _path(tmp_path, "workloads: [shop/api]", "workloads: [Deployment/shop/api]")
    (floor,) = load_scenario(path).spec.scaling.scheduled_floors
    assert floor.workloads == ("Deployment/shop/api",)
