"""benchmarks/plots.py reads the results tables the benchmark scripts write, and draws
what they hold (nothing else)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from benchmarks.plots import (
    anomaly_bins,
    canary_bins,
    learning_weeks,
    number,
    replay_points,
    tables,
    write_all,
)

NS = "{http://www.w3.org/2000/svg}"

REPLAY = """
## nasa

### nasa, start-up 120 s

| HPA target | HPA under-prov. min (%) |
|---|---|
| 0.8 | 5706 (7.93%) |

All points (policy, target, margin: ...):

| policy | target | margin | under-prov. min | % | replica-h | scale events | floor binding |
|---|---|---|---|---|---|---|---|
| hpa | 0.7 | +0 | 3027 | 4.20% | 46121 | 17134 | 0% |
| hpa | 0.8 | +0 | 5706 | 7.93% | 40446 | 17052 | 0% |
| oracle | 0.7 | +0 | 5 | 0.01% | 46517 | 17005 | 12% |
| predictive | 0.8 | -0.1 | 4104 | 5.70% | 40903 | 20143 | 19% |
| predictive | 0.8 | +0.3 | 1399 | 1.94% | 46021 | 28507 | 66% |
| predictive | 0.7 | +0 | 1990 | 2.76% | 46564 | 19164 | 16% |

## ELB re-run

| policy | target | margin | under-prov. min | replica-h | floor binding |
|---|---|---:|---:|---:|---:|
| HPA | 0.8 | - | 1,524 | 5,438 | - |
"""

LEARNING = """
## Seed 3 (253 incidents, 16.4 s)

| week | actionable | automatic | automation | oracle ceiling |
|---:|---:|---:|---:|---:|
| 1 | 63 | 0 | 0.0% | 28.6% |
| 2 | 61 | 4 | 6.6% | 27.9% |

## Week 4 by decision type (seed 1)

| decision type | decisions |
|---|---:|
| x | 1 |
"""

CANARY = """
## Calibration (report split)

**autonomic**: ECE 0.006

| stated confidence | verdicts | mean confidence | share right |
|---|---|---|---|
| [0.7, 0.8) | 933 | 0.742 | 0.728 |
| [0.9, 1.0] | 1498 | 0.995 | 0.996 |

**static**: ECE 0.474

| stated confidence | verdicts | mean confidence | share right |
|---|---|---|---|
| [0.9, 1.0] | 3480 | 1.000 | 0.526 |
"""


def test_tables_carry_their_heading_and_caption() -> None:
    found = list(tables(CANARY))
    assert [t.caption for t in found] == ["**autonomic**: ECE 0.006", "**static**: ECE 0.474"]
    assert all(t.heading == "Calibration (report split)" for t in found)
    assert found[0].rows[1] == ("[0.9, 1.0]", "1498", "0.995", "0.996")


def test_numbers_in_cells() -> None:
    assert number("1,524") == 1524
    assert number("+0.3") == 0.3
    assert number("**0.456**") == 0.456
    assert number("5706 (7.93%)") == 5706


def test_replay_points_come_only_from_the_all_points_table_of_each_section() -> None:
    points = replay_points(REPLAY)
    assert list(points) == [("nasa", 120)]  # the re-run table has no "<trace>, start-up" heading
    nasa = points[("nasa", 120)]
    assert [(p.policy, p.target, p.margin) for p in nasa][3] == ("predictive", 0.8, -0.1)
    assert sum(p.policy == "hpa" for p in nasa) == 2
    assert nasa[-2].under_minutes == 1399 and nasa[-2].replica_hours == 46021


def test_learning_and_canary_tables() -> None:
    assert learning_weeks(LEARNING) == {3: [(1, 0.0, 28.6), (2, 6.6, 27.9)]}
    bins = canary_bins(CANARY)
    assert bins == {
        "autonomic: ECE 0.006": [(0.742, 0.728, 933), (0.995, 0.996, 1498)],
        "static: ECE 0.474": [(1.0, 0.526, 3480)],
    }


ANOMALY = """
### Stated confidence of flagged points

| stated confidence | points | mean stated | share real |
|---|---:|---:|---:|
| 0.9-1.0 | 303 | 0.9968 | 0.389 |

### Before: the confidence the signal carries (the detector's, 1 - tail)

| stated confidence | incidents | mean stated | share real |
|---|---:|---:|---:|
| 0.9-1.0 | 237 | 1.0000 | 0.401 |

### After: the map's probability, 5-fold cross-validated over files (held out)

| stated confidence | incidents | mean stated | share real |
|---|---:|---:|---:|
| 0.2-0.3 | 80 | 0.2743 | 0.212 |
| 0.6-0.7 | 83 | 0.6489 | 0.627 |

### In sample (the map on the files it was fitted on)

| stated confidence | incidents | mean stated | share real |
|---|---:|---:|---:|
| 0.2-0.3 | 97 | 0.2278 | 0.206 |

### No anomaly: stated confidence of flagged points (none is real)

| stated confidence | points | mean stated | share real |
|---|---:|---:|---:|
| 0.9-1.0 | 266 | 0.9900 | 0.000 |
"""


def test_anomaly_tables_held_out_only() -> None:
    """The plot shows NAB's flagged points and incidents before the map and after it held
    out; not the in-sample fit, nor the series with no anomaly."""
    assert anomaly_bins(ANOMALY) == {
        "flagged points, before": [(0.9968, 0.389, 303)],
        "incidents, before": [(1.0, 0.401, 237)],
        "incidents, after (held out)": [(0.2743, 0.212, 80), (0.6489, 0.627, 83)],
    }


def test_write_all_draws_the_points_it_read(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "replay_RESULTS.md").write_text(REPLAY)
    (results / "learning_RESULTS.md").write_text(LEARNING)
    (results / "canary_RESULTS.md").write_text(CANARY)
    written = write_all(results, tmp_path / "plots")
    assert sorted(p.name for p in written) == [
        "canary-reliability.svg",
        "learning-automation.svg",
        "replay-nasa-120s.svg",
    ]
    root = ET.fromstring(
        (tmp_path / "plots" / "replay-nasa-120s.svg").read_text().split("\n", 1)[1]
    )
    dots = [c.findtext(f"{NS}title") for c in root.iter(f"{NS}circle") if c.get("class") == "dot"]
    # 2 HPA points, 2 predictive points at target 0.8, 1 at 0.7; the oracle is a marker
    assert len(dots) == 5
    assert "predictive, target 0.8, margin -0.1..+0.3: 46,021, 1,399" in dots
    markers = [r for r in root.iter(f"{NS}rect") if r.get("class") == "marker"]
    assert len(markers) == 1


def test_no_results_no_files(tmp_path: Path) -> None:
    assert write_all(tmp_path, tmp_path / "plots") == []


def test_committed_plots_match_the_committed_results(tmp_path: Path) -> None:
    """The SVGs in benchmarks/plots are what benchmarks/plots.py draws from the results
    files next to them: a re-run benchmark whose plots were not redrawn fails here."""
    here = Path(__file__).resolve().parents[2] / "benchmarks"
    written = write_all(here, tmp_path)
    assert written, "no results tables found"
    for path in written:
        committed = here / "plots" / path.name
        assert committed.exists(), f"{committed} missing: run benchmarks/plots.py"
        assert committed.read_text() == path.read_text(), f"{committed} is stale"
