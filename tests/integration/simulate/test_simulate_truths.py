"""What `autonomic simulate` says is true of the run it made: the description of the
length simulated, and a predictive workload without history said so at the start (each
fault's band over its real span: ``test_simulate.py``, on its run of the short scenario)."""

from __future__ import annotations

import gzip
import subprocess
import sys
from importlib import resources
from pathlib import Path

from agent.sim.report import description, summarise, write_html
from agent.sim.run import Simulation
from agent.sim.scenario import load_scenario
from forecasting.profile import ProfileSettings


def _default() -> Path:
    return Path(str(resources.files("agent").joinpath("data/scenarios/default.yaml")))


# --- 1. the description -------------------------------------------------------------


def test_the_default_description_is_true_of_the_days_simulated(tmp_path: Path) -> None:
    scenario = load_scenario(_default())
    assert scenario.spec.days == 7
    simulation = Simulation(scenario, ledger_path=tmp_path / "l.sqlite", days=0.02)
    result = simulation.run()
    try:
        said = description(result)
        assert said.startswith("0.02 days in the life of a small shop")
        report = tmp_path / "report.html"
        write_html(result, summarise(result), report, peak_mb=1.0)
        text = report.read_text()
        assert "0.02 days in the life of a small shop" in text
        assert "week" not in said.lower() and "{days}" not in text
    finally:
        result.ledger.close()
    week = Simulation(scenario, ledger_path=tmp_path / "w.sqlite")
    try:
        # Without --days: the scenario's own length (nothing run: only what it would say).
        assert week.days == 7
    finally:
        week.ledger.close()


# --- 2. a predictive workload without history ----------------------------------------


def _nasa_csv(path: Path, first: str, last: str) -> None:
    """The bundled NASA trace between two days, as a user's CSV: the load first, the
    timestamps in a column named as time."""
    blob = resources.files("agent").joinpath("data/nasa_http_requests_per_minute.csv.gz")
    rows = gzip.decompress(blob.read_bytes()).decode().splitlines()[1:]
    kept = [
        f"{count or 0},{stamp}"
        for stamp, count, _ in (row.split(",") for row in rows)
        if first <= stamp < last
    ]
    path.write_text("requests,timestamp\n" + "\n".join(kept) + "\n", encoding="utf-8")


def _csv_scenario(tmp_path: Path, start: str | None) -> Path:
    _nasa_csv(tmp_path / "trace.csv", "1995-07-10", "1995-07-14")
    begin = f', start: "{start}"' if start else ""
    scenario = tmp_path / "csv.yaml"
    scenario.write_text(
        f"""apiVersion: autonomic.dev/v1alpha1
kind: Scenario
metadata: {{name: csv, description: "A CSV trace over {{days}}."}}
spec:
  days: 3
  tick: 30s
  traces:
    - {{name: mine, file: trace.csv{begin}}}
  workloads:
    - {{name: frontend, namespace: shop, trace: mine, scale: 10, capacityPerPod: 60,
       startup: 2m, replicas: 6, predictive: true,
       hpa: {{minReplicas: 2, maxReplicas: 60, targetUtilization: 0.7}}}}
    - {{name: cart, namespace: shop, trace: mine, capacityPerPod: 60, replicas: 3}}
""",
        encoding="utf-8",
    )
    return scenario


def test_a_predictive_workload_without_history_is_said_to_stay_reactive(tmp_path: Path) -> None:
    needed = ProfileSettings().min_periods  # days of load the forecaster needs (2)
    simulation = Simulation(
        load_scenario(_csv_scenario(tmp_path, None)), ledger_path=tmp_path / "l.sqlite", days=0.1
    )
    (note,) = simulation.notes  # the predictive workload only, not cart
    assert note.startswith(
        "frontend is predictive, but trace 'mine' has no load before the simulated window, "
        f"and the forecaster needs {needed:g} days of it: the scaling loop keeps frontend "
        "reactive (the HPA alone scales it) for the whole of this 2.4 h run (it would "
        f"forecast from the first refit after about day {needed:g}, every 6 h, whose fit "
        "finds a daily pattern)."
    )
    result = simulation.run()
    try:
        assert result.notes == [note]
        # True of the run: the loop stayed reactive for want of history, and decided nothing.
        assert "TooLittleHistory" in simulation.scaling.status.reactive["Deployment/shop/frontend"]
        assert result.ledger.decisions(kind="scaling") == []
    finally:
        result.ledger.close()
    # The scenario's 3 days: reactive for the first two.
    whole = Simulation(simulation.scenario, ledger_path=tmp_path / "w.sqlite")
    try:
        (note,) = whole.notes
        assert (
            f"keeps frontend reactive (the HPA alone scales it) until about day {needed:g} of "
            "the run, "
            "and forecasts from the first refit after that (every 6 h) whose fit finds a "
            "daily pattern. For history, start the window later"
        ) in note
    finally:
        whole.ledger.close()


def test_some_history_shortens_the_wait_and_a_run_shorter_than_it_says_so(
    tmp_path: Path,
) -> None:
    scenario = load_scenario(_csv_scenario(tmp_path, "1995-07-10T12:00:00"))
    simulation = Simulation(scenario, ledger_path=tmp_path / "l.sqlite")
    try:
        (note,) = simulation.notes
        assert "has only 12 h of load before the simulated window" in note
        assert "until about day 1.5 of the run" in note
    finally:
        simulation.ledger.close()
    short = Simulation(scenario, ledger_path=tmp_path / "s.sqlite", days=1.0)
    try:
        (note,) = short.notes
        assert "(the HPA alone scales it) for the whole of this 1 day run (it would" in note
    finally:
        short.ledger.close()


def test_without_an_hpa_the_note_says_who_sizes_the_replicas(tmp_path: Path) -> None:
    path = _csv_scenario(tmp_path, None)
    text = path.read_text().replace(
        "       hpa: {minReplicas: 2, maxReplicas: 60, targetUtilization: 0.7}}\n", "}\n"
    )
    path.write_text(text.replace("predictive: true,", "predictive: true"), encoding="utf-8")
    simulation = Simulation(load_scenario(path), ledger_path=tmp_path / "l.sqlite")
    try:
        (note,) = simulation.notes
        assert "keeps frontend reactive (with no HPA, the loop sizes its replicas from the " in (
            note
        )
    finally:
        simulation.ledger.close()


def test_the_default_week_has_history_and_no_note(tmp_path: Path) -> None:
    simulation = Simulation(load_scenario(_default()), ledger_path=tmp_path / "l.sqlite")
    try:
        assert simulation.notes == []
    finally:
        simulation.ledger.close()


def test_the_cli_says_it_at_the_start_and_the_report_too(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent",
            "simulate",
            "--quiet",
            "--scenario",
            str(_csv_scenario(tmp_path, None)),
            "--days",
            "0.02",
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Note: frontend is predictive, but trace 'mine' has no load")
    assert done.stdout.index("Note: frontend") < done.stdout.index("Simulated 0.02 days")
    text = report.read_text()
    assert "<b>Note:</b> frontend is predictive, but trace &#x27;mine&#x27; has no load" in text
    assert "A CSV trace over 0.02 days." in text
