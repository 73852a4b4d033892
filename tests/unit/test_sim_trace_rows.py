"""A scenario's CSV trace must have one row a minute: the simulation replays demand one
minute at a time. Rows closer than that used to be dropped unseen (the later row of a
minute kept), rows an hour apart were refused as a 59-minute gap "at minute 1" with advice
(another start, fewer days) that could not help, and short gaps were filled in silently."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.errors import InputError
from agent.sim.scenario import Trace
from agent.sim.traces import load_trace


def _csv(tmp_path: Path, step: float, rows: int, *, skip: tuple[int, ...] = ()) -> Path:
    path = tmp_path / "trace.csv"
    lines = ["timestamp,requests"]
    for i in range(rows):
        if i not in skip:
            lines.append(f"{1_767_225_600 + i * step:.0f},{100 + i % 7}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_rows_closer_than_a_minute_are_refused_at_their_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, 30.0, 4 * 120)
    with pytest.raises(InputError) as error:
        load_trace(Trace(name="web", file=path), 0.1)
    message = str(error.value)
    assert message.startswith(f"{path}:4: column 'timestamp': trace 'web': rows ")
    assert "(line 3)" in message and "round to the same minute" in message
    assert "the rows are 30 s apart, the median" in message
    assert message.endswith("give one row a minute (resample the file)")


def test_rows_an_hour_apart_are_refused_for_their_spacing_not_as_a_gap(tmp_path: Path) -> None:
    path = _csv(tmp_path, 3600.0, 48)
    with pytest.raises(InputError) as error:
        load_trace(Trace(name="web", file=path), 1.0)
    message = str(error.value)
    assert message == (
        f"trace 'web': {path}: its rows are 3600 s apart (the median); the simulation replays "
        "demand one minute at a time and fills gaps of at most 10 minutes: give one row a "
        "minute (resample the file)"
    )
    assert "choose another start" not in message


def test_minute_rows_half_a_minute_off_the_start_each_get_their_minute(tmp_path: Path) -> None:
    """Rows at :30 past each minute, the window starting on the minute: each row is its
    own minute (rounding half to even used to put two rows on every other minute and
    leave the minutes between them to be made up)."""
    path = tmp_path / "trace.csv"
    base = 1_767_225_600
    path.write_text(
        "timestamp,requests\n" + "".join(f"{base + 30 + 60 * i},{i}\n" for i in range(200))
    )
    loaded = load_trace(Trace(name="web", file=path, start=str(base)), 0.1)
    # Every row is kept, one a minute from minute 1 (minute 0, before the first row, is
    # filled from it).
    assert loaded.interpolated_minutes == 1
    assert loaded.per_minute[:8].tolist() == [0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_short_gaps_are_filled_and_counted(tmp_path: Path) -> None:
    path = _csv(tmp_path, 60.0, 200, skip=(10, 11, 12, 50))
    loaded = load_trace(Trace(name="web", file=path), 0.1)
    assert loaded.interpolated_minutes == 4
    longer = _csv(tmp_path, 60.0, 200, skip=tuple(range(20, 40)))
    with pytest.raises(InputError, match=re.escape("20 minutes missing from minute 20")):
        load_trace(Trace(name="web", file=longer), 0.1)


def test_filled_minutes_are_said_before_the_run(tmp_path: Path) -> None:
    """The module said short gaps were "interpolated and said so"; nothing said so."""
    from agent.sim.run import Simulation
    from agent.sim.scenario import load_scenario

    _csv(tmp_path, 60.0, 400, skip=(10, 11, 12, 50))
    scenario = tmp_path / "gaps.yaml"
    scenario.write_text(
        """apiVersion: autonomic.dev/v1alpha1
kind: Scenario
metadata: {name: gaps, description: "A CSV trace with short gaps."}
spec:
  days: 0.1
  tick: 30s
  traces:
    - {name: mine, file: trace.csv}
  workloads:
    - {name: cart, namespace: shop, trace: mine, capacityPerPod: 60, replicas: 3}
""",
        encoding="utf-8",
    )
    simulation = Simulation(load_scenario(scenario), ledger_path=tmp_path / "l.sqlite")
    try:
        assert simulation.notes == [
            "trace 'mine' has no row for 4 of the simulated window's 144 minutes (3%); their "
            "demand was filled in on a straight line between the rows either side (a gap of "
            "up to 10 minutes is filled; a longer one is refused)."
        ]
    finally:
        simulation.ledger.close()
