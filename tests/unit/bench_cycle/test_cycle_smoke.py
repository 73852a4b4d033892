"""``benchmarks/cycle.py`` end to end on a 20-workload cluster: it seeds the fake API
server, syncs the real adapter's caches, runs the loops and reports what it measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_cycle_benchmark_runs_on_twenty_workloads(tmp_path: Path) -> None:
    out = tmp_path / "cycle.json"
    script = str(ROOT / "benchmarks" / "cycle.py")
    done = subprocess.run(
        [sys.executable, script, "--workloads", "20", "--repeats", "2", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (result,) = json.loads(out.read_text())
    assert result["workloads"] == 20
    # 20 Deployments x 3 pods; 20 x 2 ReplicaSets plus the new one of the seeded bad
    # rollout; one HPA per three Deployments; at least three nodes.
    assert (result["pods"], result["replicasets"], result["hpas"], result["nodes"]) == (
        60,
        41,
        7,
        3,
    )
    assert len(result["cycles"]) == 2 and all(t["wall"] > 0 for t in result["cycles"])
    # The detectors were restored from the ledger: each timed cycle scored exactly one
    # new point per series, nothing from the seven days before.
    assert result["points_scored"] == 20 * 2
    # The crash-looping rollouts reached the engine (one new one per cycle).
    assert result["outcomes"].get("decided", 0) + result["outcomes"].get("duplicate", 0) >= 2
    assert 0 < result["rss_after_sync_mb"] <= result["peak_rss_mb"]
    assert "| 20 | 60 |" in done.stdout


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--warm-days", "-1", "--warm-days must be from one minute to 365 days"),
        ("--refit-cycles", "-2", "--refit-cycles must be 0 or more, got -2"),
        ("--gap-hours", "nan", "--gap-hours must be from 0 to a year, got nan"),
        ("--ledger-url", "sqlite:///x.db", "--ledger-url must be a PostgreSQL URL"),
    ],
)
def test_a_bad_option_is_a_usage_error(flag: str, value: str, message: str) -> None:
    script = str(ROOT / "benchmarks" / "cycle.py")
    done = subprocess.run(
        [sys.executable, script, flag, value, "--workloads", "20"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_cycle_benchmark_runs_on_postgresql_and_after_a_gap(
    postgres_url: str, tmp_path: Path
) -> None:
    """``--ledger-url`` puts the ledger on PostgreSQL, in a schema of the run's own that
    is dropped afterwards; ``--gap-hours`` times one cycle after the clock's jump."""
    import sqlalchemy as sa

    out = tmp_path / "cycle.json"
    script = str(ROOT / "benchmarks" / "cycle.py")
    done = subprocess.run(
        [
            *(sys.executable, script, "--workloads", "20", "--repeats", "1"),
            *("--gap-hours", "6", "--ledger-url", postgres_url, "--json", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (result,) = json.loads(out.read_text())
    assert "ledger: schema cycle_20_" in done.stderr
    # The anomaly loop caught up six hours of one-minute points for every series.
    assert result["points_scored"] >= 20 * (1 + 6 * 60)
    wall, anomaly, scaling, remediation = result["gap_cycle"]
    assert 0 < anomaly + scaling + remediation <= wall
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        left = conn.execute(
            sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'cycle_%'")
        ).all()
    engine.dispose()
    assert left == []
