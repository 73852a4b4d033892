"""A failing node is Ready again once its fault's duration has passed, whatever the
duration. It used to come back only at a tick landing exactly on the end (``at`` plus
``duration``): a duration that was no whole number of ticks (``100s`` with 30 s ticks)
left the node NotReady to the end of the run, while the report's band said it ended."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.sim.run import Simulation
from agent.sim.scenario import load_scenario


@pytest.mark.parametrize("duration", ["100s", "10m"])
def test_a_failing_node_comes_back_once_its_duration_has_passed(
    tmp_path: Path, duration: str
) -> None:
    (tmp_path / "trace.csv").write_text(
        "timestamp,requests\n" + "".join(f"{1_767_225_600 + 60 * i},100\n" for i in range(60))
    )
    scenario = tmp_path / "node.yaml"
    scenario.write_text(
        f"""apiVersion: autonomic.dev/v1alpha1
kind: Scenario
metadata: {{name: node}}
spec:
  days: 0.02
  tick: 30s
  nodes: [n1, n2]
  traces:
    - {{name: mine, file: trace.csv}}
  workloads:
    - {{name: web, trace: mine, capacityPerPod: 60, replicas: 3}}
  faults:
    - {{at: 5m, type: nodeNotReady, node: n2, duration: {duration}}}
""",
        encoding="utf-8",
    )
    simulation = Simulation(load_scenario(scenario), ledger_path=tmp_path / "l.sqlite")
    try:
        result = simulation.run()  # 28.8 simulated minutes: the node fails from minute 5
        assert [note for _, note in result.faults] == [
            f"node n2 NotReady for {simulation.scenario.spec.faults[0].duration / 3600:g} h"
        ]
        for cluster in (simulation.cluster, simulation.twin):
            node = cluster.nodes["n2"]
            assert node.ready and node.conditions == {"Ready": "True"}
            # Ready again within a tick of its end (the cluster stamps the change with the
            # time of its last step), not later.
            came_back = 300 + simulation.scenario.spec.faults[0].duration
            assert abs(node.condition_since["Ready"] - (result.start + came_back)) <= 30
    finally:
        simulation.ledger.close()
