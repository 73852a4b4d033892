"""benchmarks/ledger_scale.py fills a ledger at a source ledger's rates: a smoke check of
its filling and pruning on a two-decision source (the benchmark's own run takes minutes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa

from agent.ledger import open_ledger
from agent.ledger.schema import tables

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "ledger_scale", ROOT / "benchmarks" / "ledger_scale.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ledger_scale"] = module
    spec.loader.exec_module(module)
    return module


def source(path: Path) -> None:
    """Two days of a fleet of two workloads: two decisions, one with feedback and a
    status row, and a held-back row."""
    ledger = open_ledger(f"sqlite:///{path}", T0)
    rows = [
        {
            "id": f"d{i}",
            "kind": "remediation",
            "decision_type": "oom-raise-memory-limit/Deployment",
            "subject": f"Deployment/shop/{name}",
            "proposal": {},
            "confidence": 0.9,
            "reason_code": "OOMKilled",
            "reason": "r",
            "evidence": {"n": i},
            "model_version": "v",
            "route": "auto",
            "status": "verified",
            "incident_key": f"kubernetes/OOMKilled/Deployment/shop/{name}/rev1",
            "created_at": T0 + i * 172_800.0,
            "updated_at": T0 + i * 172_800.0,
        }
        for i, name in enumerate(("cart", "search"))
    ]
    with ledger.engine.begin() as conn:
        conn.execute(tables["decisions"].insert(), rows)
        conn.execute(
            tables["feedback"].insert(),
            [
                {
                    "decision_id": "d0",
                    "kind": "verification",
                    "outcome": "right",
                    "actor": "autonomic",
                    "detail": {},
                    "created_at": T0 + 60,
                }
            ],
        )
        conn.execute(
            tables["decision_status"].insert(),
            [{"decision_id": "d0", "status": "verified", "previous": None, "at": T0 + 60}],
        )
    ledger.close()


def test_fills_at_the_source_rates_and_prunes_the_oldest_day(tmp_path: Path) -> None:
    module = bench()
    source(tmp_path / "source.sqlite")
    src = module.Source(str(tmp_path / "source.sqlite"))
    assert src.workloads == ["cart", "search"] and src.days == 2.0
    rates = src.per_workload_day()
    assert rates["decisions"] == 0.5 and rates["feedback"] == 0.25  # 2 / 2 days / 2

    url = f"sqlite:///{tmp_path / 'filled.sqlite'}"
    ledger = open_ledger(url, module.START)
    module.fill(ledger, module.Filler(src, 40, seed=1), range(3))
    counts = module.counts(ledger)
    assert counts["decisions"] == 60  # 0.5 a workload a day, 40 workloads, 3 days
    # Each copy brings its own children: d0's feedback and status row, d1 none.
    assert counts["feedback"] == counts["decision_status"] > 0
    with ledger.engine.connect() as conn:
        d = tables["decisions"]
        subjects = set(conn.execute(sa.select(d.c.subject)).scalars())
        keys = list(conn.execute(sa.select(d.c.incident_key)).scalars())
    assert len(subjects) > 2 and all("/shop/" not in s for s in subjects)
    assert len(set(keys)) == len(keys)  # one incident each, as the source had
    said = module.prune_oldest(ledger, module.START + module.DAY)
    assert module.counts(ledger)["decisions"] == 40
    assert "prune of the oldest day" in said
    ledger.close()
