"""`autonomic calibration` counts in the database what it used to count row by row: the
same report, from narrow, grouped reads (benchmarks/ledger_scale_RESULTS.md measured the
old reads at 23-29 s on SQLite and 69-104 s on PostgreSQL at 1,000 workloads).

The reference below is the computation as it was: every decision of the window read
whole, and one ``feedback_for`` per decision for its corrections."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import pytest
import sqlalchemy as sa

from agent.calibration import MACHINE_ACTORS, Outcome, counted_route, reliability
from agent.cli.calibration_cmd import (
    ACTIONABLE,
    CalibrationReport,
    TypeCalibration,
    _last_move,
    _standing,
    calibration_report,
)
from agent.decisions import routed_defaults
from agent.ledger import Ledger, is_hold, open_ledger
from agent.ledger.schema import tables
from agent.routing import Thresholds
from agent.settings import RoutingSettings

NOW = 1_800_000_000.0
TYPES = ("rollback/Deployment", "restart/Pod", "scale/up", "drain/Node", "held/drain", "storm")
ROUTING = RoutingSettings(auto=0.8, ask=0.5)


def fill(
    ledger: Ledger, seed: int, count: int = 240, prefix: str = "d", start: float = NOW - 86_400
) -> None:
    """Decisions of every route and status at distinct times (not written in time
    order), some with routing evidence and some without (the newest of a type among
    them), feedback of every kind, actor and outcome, and moved thresholds for some
    types: by bulk insert, so the test stays quick."""
    rng = random.Random(seed)
    times = [start + 7.0 * i for i in range(count)]
    rng.shuffle(times)
    decisions: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    for i, at in enumerate(times):
        decision_type = rng.choice(TYPES)
        evidence: dict[str, Any] = {"n": i}
        if rng.random() < 0.6:
            evidence["routing"] = {
                "signal_confidence": rng.choice((0.55, 0.7, 0.9, 1.0)),
                "prior_success": rng.choice((0.6, 0.75, 0.9)),
                "max_autonomy": rng.choice(("auto", "auto", "ask")),
                "siblings": {"types": rng.sample(TYPES[:4], 2)},
                "defaults": {"source": "type", "auto": 0.85, "ask": 0.45},
            }
        elif rng.random() < 0.3:
            evidence["routing"] = {"auto": 0.9, "ask": 0.6}  # routed, no signal recorded
        decision_id = f"{prefix}{i:05d}"
        decisions.append(
            {
                "id": decision_id,
                "kind": "remediation",
                "decision_type": decision_type,
                "subject": f"Deployment/shop/app{i % 7}",
                "proposal": {"action": decision_type, "pad": "x" * 50},
                "confidence": rng.choice((1.0, 0.0, 0.5, round(rng.random(), 4))),
                "reason_code": "test",
                "reason": "a generated decision",
                "evidence": evidence,
                "model_version": "test",
                "route": rng.choice(("auto", "auto", "ask", "escalate", "observe", "shadow")),
                "status": rng.choice(
                    ("verified", "expired", "undone", "rejected", "failed", "proposed", "asked")
                ),
                "incident_key": None,
                "created_at": at,
                "updated_at": at + 5.0,
            }
        )
        for j in range(rng.choice((0, 1, 1, 2, 3))):
            feedback.append(
                {
                    "decision_id": decision_id,
                    "kind": rng.choice(
                        ("verification", "correction", "hindsight", "answer", "execution")
                    ),
                    "outcome": rng.choice(("right", "wrong", "wrong", "approved", "expired")),
                    "actor": rng.choice(("autonomic", "timeout", "alice", "bob")),
                    "detail": {},
                    "created_at": at + 10.0 + j,
                }
            )
    rng.shuffle(feedback)  # ids are not in the decisions' order
    with ledger.engine.begin() as conn:
        conn.execute(tables["decisions"].insert(), decisions)
        conn.execute(tables["feedback"].insert(), feedback)
    ledger.record_thresholds(
        "rollback/Deployment", 0.9, 0.6, {"reason_code": "TooManyWrong", "message": "m"}, NOW
    )
    ledger.record_thresholds("scale/up", 0.7, 0.4, {"reason_code": "SetByHand"}, NOW + 1)


def whole_rows_report(
    ledger: Ledger, decision_type: str | None, bins: int, limit: int
) -> CalibrationReport:
    """The report as it was computed before the counts moved into the database, with
    every type the ledger keeps listed (the newest ``limit`` decisions' types before:
    at 1,000 workloads a rare type older than about 3.5 days went missing)."""
    if decision_type is not None:
        names = [decision_type]
    else:
        names = sorted(
            {d.decision_type for d in ledger.decisions(limit=10**9) if not is_hold(d.decision_type)}
        )
    every: list[Outcome] = []
    types: list[TypeCalibration] = []
    last_moves: dict[str, dict[str, Any]] = {}
    for row in ledger.threshold_history():
        last_moves[row["decision_type"]] = row
    for name in names:
        records = [
            d for d in ledger.decisions(decision_type=name, limit=limit) if d.route in ACTIONABLE
        ]
        if not records:
            continue
        rows = ledger.outcomes(name, limit=limit)
        outcomes = [Outcome(at, conf, verdict == "right", via) for at, conf, verdict, via in rows]
        every.extend(outcomes)
        corrections = 0
        for d in records:
            verdicts = [f for f in ledger.feedback_for(d.id) if f["outcome"] in ("right", "wrong")]
            if verdicts:
                newest = verdicts[-1]
                corrections += (
                    newest["outcome"] == "wrong"
                    and newest["actor"] not in MACHINE_ACTORS
                    and newest["kind"] != "hindsight"
                )
        stored = ledger.thresholds(name)
        if stored is not None:
            auto, ask = stored
        else:
            found = routed_defaults(
                ledger.decisions(decision_type=name, limit=20),
                Thresholds(auto=ROUTING.auto, ask=ROUTING.ask),
            )
            auto, ask = found.auto, found.ask
        routes = [counted_route(d.route, d.status) for d in records]
        automatic = routes.count("auto")
        standing: dict[str, Any] = {}
        for record in records:  # newest first
            routing_evidence = record.evidence.get("routing")
            if isinstance(routing_evidence, dict) and "signal_confidence" in routing_evidence:
                standing = _standing(ledger, ROUTING, name, record.evidence, outcomes, auto, NOW)
                break
        types.append(
            TypeCalibration(
                decision_type=name,
                auto=auto,
                ask=ask,
                learned=stored is not None,
                decisions=len(records),
                automatic=automatic,
                asked=routes.count("ask"),
                escalated=routes.count("escalate"),
                automation_rate=automatic / len(records),
                outcomes=len(outcomes),
                right=sum(o.right for o in outcomes),
                corrections=corrections,
                correction_rate=corrections / len(records),
                **standing,
                **_last_move(last_moves.get(name)),
            )
        )
    table, ece = reliability(every, bins=bins) if every else ([], 0.0)
    return CalibrationReport(tuple(table), ece, len(every), tuple(types))


@pytest.fixture
def filled(url: str) -> Iterator[Ledger]:
    ledger = open_ledger(url, NOW)
    fill(ledger, seed=40)
    yield ledger
    ledger.close()


@pytest.mark.parametrize(
    ("decision_type", "bins", "limit"),
    [
        (None, 10, 100_000),
        (None, 7, 60),  # a window smaller than the ledger, and than some types
        ("rollback/Deployment", 10, 25),
        ("held/drain", 10, 100_000),  # named: a hand-off type is reported as asked
        ("absent/Type", 10, 100_000),
    ],
)
def test_report_is_the_one_computed_from_whole_rows(
    filled: Ledger, decision_type: str | None, bins: int, limit: int
) -> None:
    new = calibration_report(
        filled, ROUTING, decision_type=decision_type, bins=bins, limit=limit, now=NOW
    )
    old = whole_rows_report(filled, decision_type, bins, limit)
    assert asdict(new) == asdict(old)
    if decision_type is None:
        # The generated ledger exercises what is compared: corrections, expired
        # automatic decisions counted as escalated, standings, capped types.
        assert sum(t.corrections for t in new.types) > 0
        assert any(t.confidence_now is not None for t in new.types)
        assert new.outcomes > 0


def test_reads_no_blob_and_a_fixed_number_of_statements(url: str) -> None:
    """No decision's proposal is read but the newest 20 of a type without stored
    thresholds (its defaults), and the statements sent do not grow with the ledger:
    before, every decision of each type was read whole, and its feedback by one query
    per actionable decision."""
    ledger = open_ledger(url, NOW)
    sent: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        sent.append(" ".join(statement.split()))

    def statements() -> list[str]:
        sent.clear()
        sa.event.listen(ledger.engine, "before_cursor_execute", seen)
        try:
            assert calibration_report(ledger, ROUTING, now=NOW).types
        finally:
            sa.event.remove(ledger.engine, "before_cursor_execute", seen)
        return list(sent)

    try:
        fill(ledger, seed=1, count=120)
        small = statements()
        fill(ledger, seed=1, count=120, prefix="e", start=NOW - 2 * 86_400)  # as many again
        large = statements()
        assert len(small) == len(large), (len(small), len(large))
        whole = [s for s in large if "decisions.proposal" in s]
        # restart/Pod and drain/Node have no stored thresholds: their defaults.
        assert len(whole) == 2, whole
    finally:
        ledger.close()
