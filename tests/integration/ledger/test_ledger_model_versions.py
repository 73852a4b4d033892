"""A workload's model versions when writers meet: two writers promoting a model of one
series at once (two replicas at a leader change), and prune running while a decision
naming a version is on its way. A series keeps at most one live version, no promotion
is lost, and a version a decision names is not pruned from under it. Each test runs on
SQLite (where writes take turns) and on a real PostgreSQL server (READ COMMITTED)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from agent.ledger import Decision, Ledger, open_ledger
from agent.ledger.schema import SCHEMA_VERSION, tables

NOW = 1_800_000_000.0
DAY = 86400.0
SERIES = "Deployment/shop/web"


def _scaling(version: str, status: str = "verified") -> Decision:
    return Decision(
        kind="scaling",
        decision_type="scaling/raise-floor",
        subject=SERIES,
        proposal={"min_replicas": 4},
        confidence=0.8,
        reason_code="ForecastPeak",
        reason="the forecast peak needs 4 replicas",
        evidence={},
        model_version=version,
        route="auto",
        status=status,
    )


def _versions(ledger: Ledger) -> list[tuple[str, str]]:
    table = tables["model_versions"]
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.version, table.c.status)
            .where(table.c.series_key == SERIES)
            .order_by(table.c.id)
        )
        return [(row.version, row.status) for row in rows]


def _hold_first(ledger: Ledger, prefix: str, wait: Callable[[], object]) -> None:
    """Run ``wait`` before the first statement of ``ledger`` starting with ``prefix``
    (only the first: a retry runs on)."""
    held = [False]

    def before(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if not held[0] and statement.lstrip().upper().startswith(prefix):
            held[0] = True
            wait()

    sa.event.listen(ledger.engine, "before_cursor_execute", before)


def _run(*calls: Callable[[], object]) -> None:
    errors: list[BaseException] = []

    def guarded(call: Callable[[], object]) -> None:
        try:
            call()
        except BaseException as exc:  # shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []


@pytest.mark.parametrize("first_fit", [True, False], ids=["first-fit", "replacing"])
def test_two_writers_promoting_at_once_leave_one_live_and_both_recorded(
    two: tuple[Ledger, Ledger], first_fit: bool
) -> None:
    """Both writers reach the statement that retires the series' live row before
    either commits. On PostgreSQL at READ COMMITTED, before migration 15, the second's
    retire ran after the first committed but did not see the first's new row (or there
    was no live row to retire at all, at a first fit): both inserted a live row, two
    live versions of one series. Now the second finds the first's row under the unique
    index and retires it: both promotions are recorded, the one that committed last is
    live. (SQLite's writes take turns, so it never had two.)"""
    first, second = two
    if not first_fit:
        first.record_model_version(SERIES, "p", "p/1", "live", {}, {}, NOW - DAY)
    barrier = threading.Barrier(2, timeout=10)
    for ledger in two:
        _hold_first(ledger, "UPDATE MODEL_VERSIONS", barrier.wait)
    _run(
        lambda: first.record_model_version(SERIES, "p", "p/2", "live", {}, {"by": 1}, NOW),
        lambda: second.record_model_version(SERIES, "p", "p/3", "live", {}, {"by": 2}, NOW),
    )
    assert not barrier.broken, "the two promotions did not both reach the retire"
    rows = _versions(first)
    statuses = dict(rows)
    assert sorted(statuses) == ([] if first_fit else ["p/1"]) + ["p/2", "p/3"]
    assert [status for _, status in rows].count("live") == 1
    newest = rows[-1][0]  # the promotion that committed last
    assert statuses[newest] == "live"
    assert first.live_model(SERIES)["version"] == newest  # type: ignore[index]
    assert {status for version, status in rows if version != newest} == {"retired"}


def test_a_promotion_after_a_double_live_left_by_an_older_release_retires_both(
    url: str,
) -> None:
    """A ledger the race already left two live rows in, at version 14, migrates (the
    index is over the new column, which those rows leave empty) and the next promotion
    retires both."""
    old = open_ledger(url, NOW, migrate=False)
    assert old.migrate(NOW, upto=14) == 14
    with old.engine.begin() as conn:  # model_versions as version 14 has it
        for version in ("p/1", "p/2"):
            conn.execute(
                sa.text(
                    "INSERT INTO model_versions (series_key, model, version, status, params, "
                    "evaluation, created_at) VALUES (:s, 'p', :v, 'live', '{}', '{}', :at)"
                ),
                {"s": SERIES, "v": version, "at": NOW - DAY},
            )
    old.close()
    upgraded = open_ledger(url, NOW)
    try:
        assert upgraded.schema_version() == SCHEMA_VERSION
        assert _versions(upgraded) == [("p/1", "live"), ("p/2", "live")]
        upgraded.record_model_version(SERIES, "p", "p/3", "live", {}, {}, NOW)
        assert _versions(upgraded) == [("p/1", "retired"), ("p/2", "retired"), ("p/3", "live")]
    finally:
        upgraded.close()


def test_prune_keeps_a_version_a_kept_decision_names(two: tuple[Ledger, Ledger]) -> None:
    """A model fitted 400 days ago stayed live (its challengers lost) until today, and
    decisions made last week name it. Prune deleted it by its fit time as soon as it
    was retired, and ``autonomic explain`` on those decisions lost its evaluation. It
    now stays while a decision kept names it; a version only decisions pruned with it
    named goes."""
    ledger, _ = two
    old = NOW - 400 * DAY
    ledger.record_model_version(SERIES, "p", "p/1", "live", {}, {"mase": 0.7}, old)
    ledger.record_model_version(SERIES, "p", "p/2", "rejected", {}, {}, old + DAY)
    ledger.record_model_version(SERIES, "p", "p/3", "live", {}, {}, old + 2 * DAY)
    ledger.record_model_version(SERIES, "p", "p/4", "live", {}, {}, old + 3 * DAY)
    ledger.record_decision(_scaling("p/1"), NOW - 7 * DAY)  # kept: within retention
    gone = ledger.record_decision(_scaling("p/3"), old + 2 * DAY)  # pruned with its version
    asked = ledger.record_decision(_scaling("p/4", status="asked"), old + 3 * DAY)  # open
    ledger.record_model_version(SERIES, "p", "p/5", "live", {}, {}, NOW - DAY)
    counts = ledger.prune(NOW - 365 * DAY)
    assert ledger.get_decision(gone) is None and ledger.get_decision(asked) is not None
    assert counts["model_versions"] == 2
    assert _versions(ledger) == [("p/1", "retired"), ("p/4", "retired"), ("p/5", "live")]


def test_prune_racing_a_decision_on_its_way_keeps_the_version_it_names(
    two: tuple[Ledger, Ledger],
) -> None:
    """One replica records a decision naming the model it has live, fitted 400 days
    ago; at that moment the other promotes a new one (retiring it) and prunes. On
    PostgreSQL the prune does not see the decision, not yet committed, and deleted the
    version it names by its fit time. Retention now counts from when the version was
    retired, so a version retired a moment ago stays whatever is on its way."""
    deciding, pruning = two
    old = NOW - 400 * DAY
    deciding.record_model_version(SERIES, "p", "p/1", "live", {}, {"mase": 0.7}, old)
    inserted, pruned = threading.Event(), threading.Event()

    def hold() -> None:  # the decision written, not committed: until the prune is done
        inserted.set()
        pruned.wait(timeout=0.3)  # SQLite: the prune waits for this write to commit

    _hold_first(deciding, "INSERT INTO DECISION_STATUS", hold)

    def promote_and_prune() -> None:
        assert inserted.wait(timeout=10)
        pruning.record_model_version(SERIES, "p", "p/2", "live", {}, {}, NOW)
        pruning.prune(NOW - 365 * DAY)
        pruned.set()

    decided: list[str] = []
    _run(lambda: decided.append(deciding.record_decision(_scaling("p/1"), NOW)), promote_and_prune)
    assert deciding.get_decision(decided[0]) is not None
    assert _versions(pruning) == [("p/1", "retired"), ("p/2", "live")]
    # A retention after its retirement, the decision pruned with it, the version goes.
    assert pruning.prune(NOW + 366 * DAY)["decisions"] == 1
    assert _versions(pruning) == [("p/2", "live")]


def test_explain_shows_the_evaluation_of_the_version_a_decision_names(
    two: tuple[Ledger, Ledger],
) -> None:
    """``autonomic explain`` on a scaling decision shows the model version it names as
    the ledger recorded it, after that version was retired and the ledger pruned; it
    showed the name alone before."""
    from agent.cli.explain_cmd import render

    ledger, _ = two
    evaluation = {"trigger": "schedule", "challenger_mase": 0.61, "reason": "lower error"}
    ledger.record_model_version(SERIES, "p", "p/1", "live", {}, evaluation, NOW - 400 * DAY)
    decided = ledger.record_decision(_scaling("p/1"), NOW - DAY)
    ledger.record_model_version(SERIES, "p", "p/2", "live", {}, {}, NOW)
    ledger.prune(NOW - 365 * DAY)
    story = render(ledger, decided)
    assert "  model    retired, fitted " in story
    assert '"challenger_mase": 0.61' in story
    unknown = ledger.record_decision(_scaling("p/9"), NOW)
    assert "no record of this version in the ledger" in render(ledger, unknown)
