"""A scenario's names and times that point at nothing are refused with the line and the
field at fault, not the line of ``spec:``, and with what to write instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import InputError
from agent.sim.scenario import load_scenario

SCENARIO = """\
apiVersion: autonomic.dev/v1alpha1
kind: Scenario
metadata:
  name: refs
spec:
  days: 1
  nodes: [n1, n2]
  traces:
    - name: web
      builtin: nasa-http
  workloads:
    - name: api
      trace: web
      capacityPerPod: 50
    - name: worker
      trace: web
      capacityPerPod: 100
  faults:
    - {at: 6h, type: surge, workload: api, factor: 3, duration: 40m}
    - {at: 10h, type: memoryLeak, workload: worker, leakMiBPerHour: 200}
    - {at: 18h, type: nodeNotReady, node: n2, duration: 2h}
"""


def _error(tmp_path: Path, old: str, new: str) -> str:
    path = tmp_path / "s.yaml"
    assert old in SCENARIO
    path.write_text(SCENARIO.replace(old, new))
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    return str(caught.value).replace(str(path), "s.yaml")


def test_the_scenario_as_written_loads(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    assert len(load_scenario(path).spec.faults) == 3


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "workload: worker, leak",
            "workload: wrker, leak",
            "s.yaml:20: spec.faults[1].workload: a memoryLeak fault names workload 'wrker', "
            "not in workloads (spec.workloads names: api, worker)",
        ),
        (
            "node: n2",
            "node: n9",
            "s.yaml:21: spec.faults[2].node: a nodeNotReady fault names node 'n9', not in "
            "nodes (spec.nodes: n1, n2)",
        ),
        (
            "at: 18h",
            "at: 1d6h",
            "s.yaml:21: spec.faults[2].at: a nodeNotReady fault at 1d6h is not before the "
            "end of the simulation, 1d after its start (spec.days: 1); move it earlier or "
            "raise spec.days",
        ),
        (
            "      trace: web\n      capacityPerPod: 100",
            "      trace: webb\n      capacityPerPod: 100",
            "s.yaml:16: spec.workloads[1].trace: workload 'worker' uses trace 'webb', which "
            "is not defined (spec.traces names: web)",
        ),
        (
            "type: surge",
            "type: spike",
            "s.yaml:19: spec.faults[0].type: unknown type 'spike' (the types here are surge, "
            "badRollout, memoryLeak, nodeNotReady, canary)",
        ),
    ],
)
def test_each_reference_error_names_its_own_line_and_field(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert _error(tmp_path, old, new) == "invalid scenario:\n  " + expected


def test_every_reference_error_is_listed_at_once(tmp_path: Path) -> None:
    text = _error(tmp_path, "node: n2", "node: n9").splitlines()
    path = tmp_path / "s.yaml"
    path.write_text(
        SCENARIO.replace("node: n2", "node: n9").replace("workload: api", "workload: apx")
    )
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    lines = str(caught.value).splitlines()
    assert len(text) == 2 and len(lines) == 3
    assert ":19: spec.faults[0].workload" in lines[1] and ":21: spec.faults[2].node" in lines[2]


def test_a_trace_shorter_than_the_days_asked_says_how_many_it_can_give(tmp_path: Path) -> None:
    from agent.sim.scenario import Trace
    from agent.sim.traces import load_trace

    csv = tmp_path / "half.csv"
    csv.write_text("timestamp,rpm\n" + "".join(f"{1700000000 + 60 * i},100\n" for i in range(720)))
    with pytest.raises(InputError) as caught:
        load_trace(Trace(name="web", file=csv, column="rpm"), 1.0)
    assert str(caught.value) == (
        f"trace 'web' ({csv}): the simulated window (1 days from its first row) is not inside "
        "the trace, which covers 0.50 days; give at most 0.5 days (spec.days or --days), an "
        "earlier start or a longer trace"
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "capacityPerPod: 50",
            "capacityPerPd: 50",
            "s.yaml:14: spec.workloads[0].capacityPerPd: unknown key (did you mean "
            "'capacityPerPod'? the keys here are baseLatencyMs, capacityPerPod, hpa, image, "
            "memory, name, namespace, pdbMinAvailable, predictive, replicas, scale, startup, "
            "trace)",
        ),
        (
            "leakMiBPerHour: 200",
            "leakMibPerHour: 200",
            "s.yaml:20: spec.faults[1].leakMibPerHour: unknown key (did you mean "
            "'leakMiBPerHour'? the keys here are at, leakMiBPerHour, plateauMiB, type, workload)",
        ),
        (
            "  days: 1",
            "  dayz: 1",
            "s.yaml:6: spec.dayz: unknown key (did you mean 'days'? the keys here are days, "
            "faults, nodes, oncall, scaling, seed, tick, traces, workloads)",
        ),
        (
            "  name: refs",
            "  name: refs\n  owner: me",
            "s.yaml:5: metadata.owner: unknown key (check the spelling; the keys here are "
            "description, name)",
        ),
    ],
)
def test_an_unknown_key_says_what_it_may_have_meant_and_the_keys_written_there(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    """It said "unknown key" alone, where the configuration and runbooks name the key
    meant and the keys their section takes."""
    assert expected in _error(tmp_path, old, new).splitlines()[-1]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "      trace: web\n      capacityPerPod: 50",
            "      trace: web",
            "s.yaml:12: spec.workloads[0].capacityPerPod: required key is missing",
        ),
        (
            "kind: Scenario\nmetadata:\n  name: refs\n",
            "kind: Scenario\n",
            "s.yaml:1: metadata: required key is missing",
        ),
        (
            "    - name: api\n",
            "    - name: API\n",
            "s.yaml:12: spec.workloads[0].name: a workload's name is lower-case letters, "
            "digits and '-', starting and ending with a letter or digit, as Kubernetes names "
            "a Deployment (got 'API'; did you mean 'api'?)",
        ),
        (
            "type: surge, ",
            "",
            "s.yaml:19: spec.faults[0].type: required key is missing (type says what kind of "
            "entry this is: one of surge, badRollout, memoryLeak, nodeNotReady, canary)",
        ),
        (
            "      capacityPerPod: 50\n",
            "      capacityPerPod: 50\n      predictive: maybe\n      hpa: 3\n",
            "s.yaml:15: spec.workloads[0].predictive: expected true or false (unquoted), got "
            "'maybe'\n  s.yaml:16: spec.workloads[0].hpa: expected a mapping, such as "
            "{key: value} or one 'key: value' per line (got 3)",
        ),
    ],
    ids=["missing-key", "missing-section", "workload-name", "fault-without-type", "wrong-kind"],
)
def test_schema_errors_read_as_the_configurations_do(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    """They were pydantic's own words: "Field required", "String should match pattern
    '^[a-z0-9]...'", "Unable to extract tag using discriminator 'type'", "Input should be
    a valid dictionary or instance of Hpa", listed in the models' order, not the file's."""
    assert _error(tmp_path, old, new) == "invalid scenario:\n  " + expected


def test_a_missing_key_is_said_as_the_configuration_says_it(tmp_path: Path) -> None:
    from agent.errors import ConfigError
    from agent.settings import load_settings

    config = tmp_path / "autonomic.yaml"
    config.write_text("anomalyQueries:\n  - name: latency\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    said = str(caught.value).splitlines()[-1].split(": ", 2)[-1]
    scenario = _error(tmp_path, "      trace: web\n      capacityPerPod: 50", "      trace: web")
    assert scenario.endswith(f": {said}") and said == "required key is missing"


# Values the simulation cannot run, each refused at its own line and field: before, each of
# these loaded, and the run then hung (a tick of 0s), sampled its minute timelines at the
# wrong times (a tick that does not divide a minute), crashed after minutes of simulation
# (an HPA whose maxReplicas is below its minReplicas; a memory limit that is no quantity,
# once a leak reached it), injected a fault before the start, a fault that did nothing (a
# duration of 0s), or let a second workload or trace of the same name silently replace
# the first.
@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "days: 1",
            "days: 1\n  tick: 0s",
            "s.yaml:7: spec.tick: a tick is a whole number of seconds that divides a minute "
            "(1s, 2s, 3s, 4s, 5s, 6s, 10s, 12s, 15s, 20s, 30s, 60s), got '0s'",
        ),
        (
            "days: 1",
            "days: 1\n  tick: 45s",
            "s.yaml:7: spec.tick: a tick is a whole number of seconds that divides a minute "
            "(1s, 2s, 3s, 4s, 5s, 6s, 10s, 12s, 15s, 20s, 30s, 60s), got '45s'",
        ),
        (
            "at: 6h",
            "at: -60",
            "s.yaml:19: spec.faults[0].at: an offset is from the start of the simulation: 0 "
            "or more, got -60",
        ),
        (
            "factor: 3, duration: 40m",
            "factor: 3, duration: 0m",
            "s.yaml:19: spec.faults[0].duration: a fault's duration must be longer than 0s, "
            "got '0m'",
        ),
        (
            "node: n2, duration: 2h",
            "node: n2, duration: 0",
            "s.yaml:21: spec.faults[2].duration: a fault's duration must be longer than 0s, got 0",
        ),
        (
            "factor: 3, duration: 40m",
            "factor: 3, duration: -40m",
            "s.yaml:19: spec.faults[0].duration: expected a duration such as 30s, 5m, 2h or "
            "1h30m, got '-40m'",
        ),
        (
            "      capacityPerPod: 50",
            "      capacityPerPod: 50\n      hpa: {minReplicas: 10, maxReplicas: 3}",
            "s.yaml:15: spec.workloads[0].hpa.maxReplicas: maxReplicas (3) is below "
            "minReplicas (10), which Kubernetes refuses for an HPA",
        ),
        (
            "      capacityPerPod: 50",
            "      capacityPerPod: 50\n      memory: {limit: 3 gigs}",
            "s.yaml:15: spec.workloads[0].memory.limit: '3 gigs' is not a Kubernetes "
            "quantity; write e.g. '256Mi', '2Gi', '500m' or '1.5'",
        ),
        (
            "    - name: worker",
            "    - name: api",
            "s.yaml:15: spec.workloads[1].name: workload 'api' is already defined as "
            "spec.workloads[0]; give each workload its own name\n"
            "  s.yaml:20: spec.faults[1].workload: a memoryLeak fault names workload 'worker', "
            "not in workloads (spec.workloads names: api, api)",
        ),
        (
            "      builtin: nasa-http\n",
            "      builtin: nasa-http\n    - {name: web, builtin: nasa-http}\n",
            "s.yaml:11: spec.traces[1].name: trace 'web' is already defined as "
            "spec.traces[0]; give each trace its own name",
        ),
        (
            "nodes: [n1, n2]",
            "nodes: [n1, n2, n1]",
            "s.yaml:7: spec.nodes[2]: node 'n1' is listed twice (spec.nodes[0] and spec.nodes[2])",
        ),
    ],
)
def test_a_value_the_simulation_cannot_run_is_refused_at_its_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert _error(tmp_path, old, new) == "invalid scenario:\n  " + expected


def test_reference_errors_are_listed_top_to_bottom(tmp_path: Path) -> None:
    """As the schema's errors are: a node listed twice (line 7) before a workload's name
    given twice (line 15), though the workloads' names are checked first."""
    text = SCENARIO.replace("nodes: [n1, n2]", "nodes: [n1, n2, n2]").replace(
        "    - name: worker", "    - name: api"
    )
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    lines = str(caught.value).splitlines()[1:]
    assert [line.split(": ")[1] for line in lines] == [
        "spec.nodes[2]",
        "spec.workloads[1].name",
        "spec.faults[1].workload",
    ]
