"""Reads made every cycle and the hourly prune find their rows by an index, not by
walking a table that grows with the ledger (benchmarks/ledger_scale.py measured them:
benchmarks/ledger_scale_RESULTS.md). Checked on SQLite's query plans, as the daemon
runs them: the daemon never runs ANALYZE, so the planner has no statistics there."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.ledger import Ledger, open_ledger
from tests.harness.servers import fresh_schema

NOW = 1_800_000_000.0


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", NOW)
    yield opened
    opened.close()


def plans(ledger: Ledger, call: Callable[[], Any], starts: str) -> list[str]:
    """The query plan of each statement ``call`` sends that starts with ``starts``,
    each plan's lines joined."""
    sent: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if " ".join(statement.split()).startswith(starts):
            sent.append((statement, params))

    sa.event.listen(ledger.engine, "before_cursor_execute", seen)
    try:
        call()
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", seen)
    assert sent, f"no statement starting {starts!r} was sent"
    raw = ledger.engine.raw_connection()
    try:
        return [
            " | ".join(row[3] for row in raw.cursor().execute(f"EXPLAIN QUERY PLAN {s}", p))
            for s, p in sent
        ]
    finally:
        raw.close()


def test_answers_read_each_cycle_by_when_answered(ledger: Ledger) -> None:
    (plan,) = plans(ledger, lambda: ledger.answered_since(NOW - 60), "SELECT")
    assert "SCAN questions" not in plan
    assert "ix_questions_answered (answered_at>?)" in plan


def test_runs_read_each_cycle_by_status(ledger: Ledger) -> None:
    (plan,) = plans(ledger, lambda: ledger.executions(["verifying", "paused"]), "SELECT")
    assert "SCAN executions" not in plan
    assert "ix_executions_status (status=?)" in plan


def test_history_finds_an_expired_decision_s_feedback_by_the_decision(ledger: Ledger) -> None:
    """Whether an expired decision was held past approvedMaxWait is looked up among its
    own feedback rows, not by walking every ``execution`` feedback row kept (the
    (kind, created_at) index), which grew `autonomic history` with the ledger."""
    (plan,) = plans(ledger, lambda: ledger.decision_history(since=NOW - 86_400), "SELECT")
    assert "ix_feedback_kind_created" not in plan
    assert "SEARCH feedback USING INDEX ix_feedback_decision (decision_id=?)" in plan


def test_prune_finds_old_intents_by_age(ledger: Ledger) -> None:
    (plan,) = plans(ledger, lambda: ledger.prune(NOW - 86_400), "DELETE FROM intents")
    assert "SCAN intents" not in plan
    assert "ix_intents_created (created_at<?)" in plan


def test_prune_finds_old_settled_decisions_by_status_and_age(ledger: Ledger) -> None:
    """Not the status index alone, which holds nearly every decision as settled."""
    found = plans(ledger, lambda: ledger.prune(NOW - 86_400), "DELETE FROM decisions")
    found += plans(ledger, lambda: ledger.prune(NOW - 86_400), "DELETE FROM feedback")
    for plan in found:
        assert "ix_decisions_status (status=?)" not in plan
        assert "ix_decisions_status_created (status=? AND created_at<?)" in plan


def test_prune_deletes_decisions_without_scanning_executions(ledger: Ledger) -> None:
    """Each decision deleted is looked up among the executions (the foreign key, and
    the runs that keep their decisions) by an index: a scan of every execution per
    decision made the hourly prune grow with the ledger's size times a day's decisions."""
    (plan,) = plans(ledger, lambda: ledger.prune(NOW - 86_400), "DELETE FROM decisions")
    assert "SCAN executions" not in plan
    assert "ix_executions_decision" in plan


def test_prune_looks_up_the_decisions_naming_a_model_version(ledger: Ledger) -> None:
    """A retired version stays while a decision kept names it: one index probe per
    version, not a walk over every decision of its workload."""
    (plan,) = plans(ledger, lambda: ledger.prune(NOW - 86_400), "DELETE FROM model_versions")
    assert "ix_decisions_subject_model (subject=? AND model_version=?)" in plan


@pytest.mark.postgres
def test_prune_on_postgres_anti_joins_the_questions_and_runs(postgres_url: str) -> None:
    """The decisions a question or a run still names stay: an anti-join, not a NOT IN
    that hashes every question ever kept (or, past work_mem, scans them once per old
    decision)."""
    url, _ = fresh_schema(postgres_url)
    ledger = open_ledger(url, NOW)
    try:
        sent: list[tuple[str, Any]] = []

        def seen(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
            if statement.startswith("DELETE FROM decisions"):
                sent.append((statement, params))

        sa.event.listen(ledger.engine, "before_cursor_execute", seen)
        ledger.prune(NOW - 86_400)
        sa.event.remove(ledger.engine, "before_cursor_execute", seen)
        ((statement, params),) = sent
        with ledger.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            cursor = raw.cursor()
            cursor.execute("EXPLAIN " + statement, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Anti Join" in plan, plan
        assert "SubPlan" not in plan, plan
    finally:
        ledger.close()


def test_types_of_a_window_are_found_by_skipping_over_the_type_index(ledger: Ledger) -> None:
    """The hourly housekeeping's types (``decision_types``): a probe per type kept, not
    a read of the window's rows (nor of the newest 20,000, which at 1,000 workloads
    missed the types not decided in the last 17 hours)."""
    (plan,) = plans(ledger, lambda: ledger.decision_types(since=NOW - 7 * 86_400), "WITH")
    assert "SCAN decisions" not in plan and "SCAN d " not in plan
    assert "ix_decisions_type_created (decision_type>?)" in plan
    assert "ix_decisions_type_created (decision_type=? AND created_at>?)" in plan


def test_a_types_route_counts_read_its_newest_by_the_type_index(ledger: Ledger) -> None:
    (plan,) = plans(
        ledger, lambda: ledger.route_counts("fix/Deployment", since=NOW, limit=100), "SELECT"
    )
    assert "SCAN decisions" not in plan
    assert "ix_decisions_type_created (decision_type=? AND created_at>?)" in plan


@pytest.mark.postgres
def test_types_of_a_window_on_postgres_skip_over_the_type_index(postgres_url: str) -> None:
    url, _ = fresh_schema(postgres_url)
    ledger = open_ledger(url, NOW)
    try:
        sent: list[tuple[str, Any]] = []

        def seen(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
            if statement.lstrip().startswith("WITH RECURSIVE"):
                sent.append((statement, params))

        sa.event.listen(ledger.engine, "before_cursor_execute", seen)
        assert ledger.decision_types(since=NOW - 7 * 86_400) == {}
        sa.event.remove(ledger.engine, "before_cursor_execute", seen)
        ((statement, params),) = sent
        with ledger.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            cursor = raw.cursor()
            cursor.execute("EXPLAIN " + statement, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Seq Scan on decisions" not in plan, plan
        assert "ix_decisions_type_created" in plan, plan
    finally:
        ledger.close()
