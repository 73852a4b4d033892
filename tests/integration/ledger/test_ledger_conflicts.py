"""Two replicas writing the ledger at once (the old leader's last cycle and the new one's
first, during a leader change): the storm guard's counted triggers are written in key
order, so their transactions wait for each other instead of deadlocking. And a
transaction PostgreSQL rolls back now and then (a deadlock, a serialization failure, a
statement past statement_timeout) is told as what it is, a conflict the job's next run
tries again, not as a ledger that cannot be used, unless the job's next run meets one
again."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from agent.errors import LEDGER_CONFLICT, TransientError
from agent.ledger import Ledger, open_ledger
from agent.observability import Metrics
from agent.runtime import Job, LedgerOutage, run_job
from tests.harness.gates import SwitchGate
from tests.harness.servers import fresh_schema

pytestmark = pytest.mark.postgres

NOW = 1_700_000_000.0


@pytest.fixture
def two(postgres_url: str) -> Iterator[tuple[Ledger, Ledger]]:
    """Two ledgers on one schema, as two replicas have."""
    url, _ = fresh_schema(postgres_url)
    first, second = open_ledger(url, NOW), open_ledger(url, NOW)
    yield first, second
    first.close()
    second.close()


def _at_once(*calls: Callable[[], None]) -> list[TransientError]:
    """Run ``calls`` on threads of their own, started together; the errors they raised."""
    barrier = threading.Barrier(len(calls))
    errors: list[TransientError] = []

    def run(call: Callable[[], None]) -> None:
        barrier.wait()
        try:
            call()
        except TransientError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_two_replicas_noting_the_same_triggers_at_once_do_not_deadlock(
    two: tuple[Ledger, Ledger],
) -> None:
    """Each replica has this cycle's signals in an order of its own. Written in that
    order, PostgreSQL found a deadlock in every round here (one of the two rolled back),
    for new keys and for keys seen again alike."""
    first, second = two
    for round_ in range(3):
        keys = [f"kubernetes/CrashLoopBackOff/shop/web-{round_}-{i:05d}" for i in range(2000)]
        mine, theirs = keys[::2] + keys[1::2], keys[::-1]
        for at in (NOW, NOW + 86400):  # new, then seen again a day later
            ours = functools.partial(first.note_triggers, mine, at)
            assert _at_once(ours, functools.partial(second.note_triggers, theirs, at)) == []
            assert set(first.counted_triggers(keys).values()) == {at}


def _deadlock(first: Ledger, second: Ledger) -> TransientError:
    """Two transactions that each lock a row the other then wants: the server rolls one
    back (40P01) after its deadlock_timeout (1 s)."""
    for key in ("a", "b"):
        assert first.put_guard(key, {}, 0, NOW)
    table = sa.table("guard_state", sa.column("key"), sa.column("version"))
    middle = threading.Barrier(2, timeout=30)

    def cross(ledger: Ledger, keys: tuple[str, str]) -> None:
        with ledger._tx() as conn:
            for n, key in enumerate(keys):
                conn.execute(
                    table.update().where(table.c.key == key).values(version=table.c.version)
                )
                if n == 0:
                    middle.wait()

    (error,) = _at_once(lambda: cross(first, ("a", "b")), lambda: cross(second, ("b", "a")))
    return error


def test_a_deadlock_is_a_conflict_said_by_its_job_and_an_outage_only_if_it_recurs(
    two: tuple[Ledger, Ledger], caplog: pytest.LogCaptureFixture
) -> None:
    error = _deadlock(*two)
    assert error.reason == LEDGER_CONFLICT
    text = str(error)
    assert "\n" not in text and "[SQL:" not in text, text
    assert "write failed: deadlock detected (40P01: this transaction and another were " in text
    assert "nothing of it was written; it is tried again as it was" in text

    clean: list[bool] = []

    def fails() -> None:
        if not clean:
            raise error

    outage, gate, metrics = LedgerOutage(lambda: NOW), SwitchGate(leader=True), Metrics()
    job = Job("remediation", 30.0, fails)
    stopping = threading.Event()
    with caplog.at_level(logging.INFO, logger="autonomic"):
        assert run_job(job, metrics, gate, stopping, outage) == "transient-error"
        said = [r.getMessage() for r in caplog.records]
        assert len(said) == 1 and said[0].startswith("remediation: the ledger at "), said
        assert said[0].endswith(
            "(a one-off conflict, not an outage: the job runs again at its next period)"
        )
        assert not [r for r in caplog.records if r.name == "autonomic.ledger"]

        caplog.clear()  # the next run meets one again: no longer a one-off
        assert run_job(job, metrics, gate, stopping, outage) == "ledger-unavailable"
        (told,) = [r.getMessage() for r in caplog.records if r.name == "autonomic.ledger"]
        assert told.startswith("the ledger cannot be used: the ledger at "), told

        clean.append(True)  # a clean run: the next conflict is a one-off again
        assert run_job(job, metrics, gate, stopping, outage) == "ok"
        clean.clear()
        assert run_job(job, metrics, gate, stopping, outage) == "transient-error"
    counted = metrics.errors.labels(kind=LEDGER_CONFLICT)._value.get()
    assert counted == 3


def test_a_serialization_failure_is_a_conflict(two: tuple[Ledger, Ledger]) -> None:
    first, second = two
    assert first.put_guard("a", {}, 0, NOW)
    table = sa.table("guard_state", sa.column("key"), sa.column("version"))
    with pytest.raises(TransientError) as raised, first._tx() as conn:
        conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        conn.execute(sa.select(table.c.version).where(table.c.key == "a")).one()
        assert second.put_guard("a", {"b": 1}, 1, NOW)  # committed since the snapshot
        conn.execute(table.update().where(table.c.key == "a").values(version=7))
    assert raised.value.reason == LEDGER_CONFLICT
    text = str(raised.value)
    assert "(40001: the server could not order this transaction with another " in text, text
