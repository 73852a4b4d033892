"""The simulation's progress reaches 100 % at its end, whatever its length. It used to be
reported once a simulated hour only: a run that was no whole number of hours ended with
its bar short of 100 % (97 % for ``--days 0.3``), and one shorter than an hour showed no
progress at all."""

from __future__ import annotations

from pathlib import Path

from agent.sim.run import Simulation
from agent.sim.scenario import load_scenario


def test_progress_ends_at_the_end_of_a_run_shorter_than_an_hour(tmp_path: Path) -> None:
    (tmp_path / "trace.csv").write_text(
        "timestamp,requests\n" + "".join(f"{1_767_225_600 + 60 * i},100\n" for i in range(30))
    )
    scenario = tmp_path / "short.yaml"
    scenario.write_text(
        """apiVersion: autonomic.dev/v1alpha1
kind: Scenario
metadata: {name: short}
spec:
  days: 0.01
  tick: 30s
  traces:
    - {name: mine, file: trace.csv}
  workloads:
    - {name: web, trace: mine, capacityPerPod: 60, replicas: 2}
""",
        encoding="utf-8",
    )
    seen: list[tuple[float, str]] = []
    simulation = Simulation(
        load_scenario(scenario),
        ledger_path=tmp_path / "l.sqlite",
        progress=lambda fraction, message: seen.append((fraction, message)),
    )
    try:
        simulation.run()  # 14.4 simulated minutes
    finally:
        simulation.ledger.close()
    assert seen == [(1.0, "day 0.0")]
