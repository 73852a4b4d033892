"""A verdict a decision holds once per kind and actor (``Ledger.settle``) stays once when
two replicas, or a retry and the call it repeats, write it at the same moment; and the
migration that makes the database hold it so opens a ledger that already holds a
duplicate such a race left, as it is."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa

from agent.ledger import Decision, Feedback, Ledger, open_ledger
from agent.ledger.schema import SCHEMA_VERSION

NOW = 1_800_000_000.0
ACTIVE = ["approved", "executing", "verifying"]


def _decision(status: str) -> Decision:
    return Decision(
        kind="canary",
        decision_type="canary/promote",
        subject="Rollout/shop/web",
        proposal={"verdict": "promote"},
        confidence=0.9,
        reason_code="CanaryHealthy",
        reason="the canary's error rate is the stable's",
        evidence={},
        model_version="canary@1",
        route="auto",
        status=status,
    )


def _met_at_the_verdicts_insert(ledgers: tuple[Ledger, ...]) -> threading.Barrier:
    """Hold each ledger's insert of a feedback row until every ledger has reached its own:
    both have looked for the verdict and found none, as two transactions that run side
    by side do."""
    barrier = threading.Barrier(len(ledgers), timeout=10)

    def wait(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO FEEDBACK"):
            barrier.wait()

    for ledger in ledgers:
        sa.event.listen(ledger.engine, "before_cursor_execute", wait)
    return barrier


def _race(two: tuple[Ledger, Ledger], decision_id: str) -> list[tuple[bool, bool]]:
    barrier = _met_at_the_verdicts_insert(two)
    results: list[tuple[bool, bool]] = []
    errors: list[BaseException] = []

    def settle(ledger: Ledger, at: float) -> None:
        verdict = Feedback(decision_id, "verification", "right", "autonomic", {"at": at})
        try:
            results.append(ledger.settle(decision_id, ACTIVE, "done", at, verdict))
        except BaseException as exc:  # shown by the assertion below
            errors.append(exc)

    threads = [
        threading.Thread(target=settle, args=(ledger, NOW + i)) for i, ledger in enumerate(two)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not barrier.broken, "the two calls did not both reach the insert"
    assert errors == []
    return results


def test_a_verdict_written_by_two_replicas_at_once_is_kept_once(
    two: tuple[Ledger, Ledger],
) -> None:
    """A canary promoted (``done``) before its verification came: both replicas find no
    verdict and insert one. Before migration 14 both were kept (on PostgreSQL at READ
    COMMITTED, and on SQLite, where the look and the insert are not one lock): one
    outcome twice, each call told it wrote it."""
    first, _ = two
    promoted = first.record_decision(_decision("done"), NOW)
    results = _race(two, promoted)
    assert sorted(results) == [(False, False), (False, True)]
    rows = first.feedback_for(promoted)
    assert [(r["kind"], r["outcome"], r["actor"]) for r in rows] == [
        ("verification", "right", "autonomic")
    ]
    assert first.get_decision(promoted).status == "done"  # type: ignore[union-attr]


def test_only_the_verdicts_settle_writes_are_once_only(two: tuple[Ledger, Ledger]) -> None:
    """Other feedback repeats per actor, as it should (a snooze then an answer, a
    person changing their correction): the index leaves it alone, and another actor's
    verdict of the same kind is a verdict of its own."""
    ledger, _ = two
    promoted = ledger.record_decision(_decision("done"), NOW)
    for at in (NOW + 1, NOW + 2):
        ledger.add_feedback(promoted, "correction", "wrong", "alice", at)
        ledger.add_feedback(promoted, "execution", "paused", "autonomic", at)
    mine = Feedback(promoted, "verification", "right", "autonomic")
    theirs = Feedback(promoted, "verification", "wrong", "alice")
    assert ledger.settle(promoted, ACTIVE, "done", NOW + 3, mine) == (False, True)
    assert ledger.settle(promoted, ACTIVE, "done", NOW + 4, theirs) == (False, True)
    assert ledger.settle(promoted, ACTIVE, "done", NOW + 5, mine) == (False, False)
    assert len(ledger.feedback_for(promoted)) == 6


def test_a_ledger_holding_a_duplicate_verdict_migrates_and_keeps_its_rows(url: str) -> None:
    """A ledger the race already wrote twice to, at version 13: migration 14 builds its
    index over the rows flagged once-only, so the duplicate stops nothing and is kept
    as it is (no row of the older releases is rewritten); the next settle of that verdict
    writes nothing more."""
    old = open_ledger(url, NOW, migrate=False)
    assert old.migrate(NOW, upto=13) == 13
    promoted = old.record_decision(_decision("done"), NOW)
    with old.engine.begin() as conn:  # the feedback table as version 13 has it
        for at in (NOW + 1, NOW + 2):
            conn.execute(
                sa.text(
                    "INSERT INTO feedback (decision_id, kind, outcome, actor, detail, created_at) "
                    "VALUES (:id, 'verification', 'right', 'autonomic', '{}', :at)"
                ),
                {"id": promoted, "at": at},
            )
    old.close()
    upgraded = open_ledger(url, NOW + 3)
    try:
        assert upgraded.schema_version() == SCHEMA_VERSION
        assert [r["created_at"] for r in upgraded.feedback_for(promoted)] == [NOW + 1, NOW + 2]
        assert [r["once_only"] for r in upgraded.feedback_for(promoted)] == [None, None]
        again = Feedback(promoted, "verification", "right", "autonomic")
        assert upgraded.settle(promoted, ACTIVE, "done", NOW + 4, again) == (False, False)
        assert len(upgraded.feedback_for(promoted)) == 2
        with upgraded.engine.connect() as conn:
            indexes = {i["name"]: i for i in sa.inspect(conn).get_indexes("feedback")}
        assert indexes["ux_feedback_once"]["unique"]
    finally:
        upgraded.close()
