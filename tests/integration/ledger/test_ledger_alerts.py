"""The alerts the webhook stores (migration 7), on SQLite and a real PostgreSQL: one row
per (fingerprint, startsAt, status) however often and by whom it is delivered, the set
of alerts firing read from the rows and bounded, and pruning of handled rows."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from agent.ledger import AlertDelivery, Ledger, open_ledger
from agent.ledger.schema import SCHEMA_VERSION, tables
from agent.ledger.store import ALERT_ERROR_CHARS, StoredAlert
from tests.harness.servers import fresh_schema

NOW = 1_800_000_000.0
HOUR = 3600.0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    else:
        url = fresh_schema(request.getfixturevalue("postgres_url"))[0]
    opened = open_ledger(url, NOW)
    yield opened
    opened.close()


def delivery(
    fingerprint: str = "f1",
    *,
    starts_at: float = NOW - HOUR,
    status: str = "firing",
    ends_at: float | None = None,
    name: str = "KubePodCrashLooping",
) -> AlertDelivery:
    return AlertDelivery(
        fingerprint=fingerprint,
        starts_at=starts_at,
        status=status,
        name=name,
        labels={"alertname": name, "namespace": "shop"},
        signal={"dedup_key": f"alert/{fingerprint}/{starts_at}", "status": status},
        ends_at=ends_at,
    )


def rows(ledger: Ledger) -> list[tuple[str, float, str, float, float]]:
    table = tables["alerts"]
    with ledger.engine.connect() as conn:
        found = conn.execute(
            sa.select(
                table.c.fingerprint,
                table.c.starts_at,
                table.c.status,
                table.c.received_at,
                table.c.delivered_at,
            ).order_by(table.c.id)
        )
        return [tuple(row) for row in found]  # type: ignore[misc]


def firing(ledger: Ledger, now: float, window: float = 8 * HOUR) -> list[str]:
    return [row.fingerprint for row in ledger.firing_alerts(now, delivered_since=now - window)]


def test_a_delivery_is_stored_once_and_a_resend_moves_its_last_delivery_on(ledger: Ledger) -> None:
    assert ledger.record_alerts([delivery("f1"), delivery("f2")], NOW) == [True, True]
    # Alertmanager re-sends the group 4 h later, with one alert resolved meanwhile.
    resend = [delivery("f1"), delivery("f2", status="resolved", ends_at=NOW + HOUR)]
    assert ledger.record_alerts(resend, NOW + 4 * HOUR) == [False, True]
    assert rows(ledger) == [
        ("f1", NOW - HOUR, "firing", NOW, NOW + 4 * HOUR),
        ("f2", NOW - HOUR, "firing", NOW, NOW),
        ("f2", NOW - HOUR, "resolved", NOW + 4 * HOUR, NOW + 4 * HOUR),
    ]
    # A late retry of the first delivery does not move the last delivery back.
    assert ledger.record_alerts([delivery("f1")], NOW + HOUR) == [False]
    assert rows(ledger)[0][4] == NOW + 4 * HOUR
    assert [row.fingerprint for row in ledger.pending_alerts()] == ["f1", "f2", "f2"]


def test_pending_alerts_are_marked_handled_once(ledger: Ledger) -> None:
    ledger.record_alerts([delivery("f1"), delivery("f2"), delivery("f3")], NOW)
    first, second, third = ledger.pending_alerts()
    assert [row.handled_at for row in (first, second, third)] == [None, None, None]
    assert ledger.pending_alerts(limit=2) == [first, second]
    assert ledger.mark_alerts_handled([first.id, second.id], NOW + 30) == 2
    assert ledger.mark_alerts_handled([first.id], NOW + 60) == 0  # already handled
    assert ledger.pending_alerts() == [third]
    # A re-send of a handled alert is a duplicate: it is not handled again.
    assert ledger.record_alerts([delivery("f1")], NOW + 90) == [False]
    assert ledger.pending_alerts() == [third]


def test_the_firing_set_follows_resolutions_restarts_and_its_bounds(ledger: Ledger) -> None:
    ledger.record_alerts(
        [
            delivery("fires"),
            delivery("ends", ends_at=NOW + 10 * 60),  # an endsAt given, 10 minutes on
            delivery("resolves"),
            delivery("refires", starts_at=NOW - 3 * HOUR),
        ],
        NOW,
    )
    assert firing(ledger, NOW) == ["ends", "fires", "refires", "resolves"]
    ledger.record_alerts(
        [
            delivery("resolves", status="resolved", ends_at=NOW + 60),
            delivery("refires", starts_at=NOW - 3 * HOUR, status="resolved"),
            delivery("refires", starts_at=NOW + 50),  # fired again: a new startsAt
        ],
        NOW + 60,
    )
    assert firing(ledger, NOW + 60) == ["ends", "fires", "refires"]
    starts = {r.fingerprint: r.starts_at for r in ledger.firing_alerts(NOW + 60, delivered_since=0)}
    assert starts["refires"] == NOW + 50  # the new one; the old one resolved
    # The endsAt passed: no longer counted, though never resolved.
    assert firing(ledger, NOW + 11 * 60) == ["fires", "refires"]
    # An HA peer's stale copy of a resolved alert, after its resolution: still resolved.
    ledger.record_alerts([delivery("resolves")], NOW + 120)
    assert "resolves" not in firing(ledger, NOW + 120)
    # Not delivered again within the window (twice the repeat interval): not counted.
    assert firing(ledger, NOW + 8 * HOUR + 61) == []
    ledger.record_alerts([delivery("fires")], NOW + 4 * HOUR)  # the repeat keeps it
    assert firing(ledger, NOW + 8 * HOUR + 61) == ["fires"]


def ends(ledger: Ledger, fingerprint: str) -> float | None:
    (row,) = [row for row in ledger.alerts_of(fingerprint) if row.status == "firing"]
    return row.ends_at


def test_a_firing_resend_carries_a_later_ends_at_on_and_never_an_earlier_one(
    ledger: Ledger,
) -> None:
    # A sender that sets a firing alert's endsAt a few minutes ahead, and pushes it on
    # at every re-send (as Prometheus does towards Alertmanager).
    ledger.record_alerts([delivery("f1", ends_at=NOW + 300)], NOW)
    ledger.record_alerts([delivery("f1", ends_at=NOW + 600)], NOW + 240)
    assert ends(ledger, "f1") == NOW + 600
    # Past the first endsAt it still fires: the re-send said it goes on.
    assert firing(ledger, NOW + 400) == ["f1"]
    # A late retry of the first delivery, and an HA peer's staler copy, do not move it
    # back; nor does a copy stored by a replica whose clock is behind (an earlier now).
    ledger.record_alerts([delivery("f1", ends_at=NOW + 300)], NOW + 250)
    ledger.record_alerts([delivery("f1", ends_at=NOW + 500)], NOW + 260)
    assert ends(ledger, "f1") == NOW + 600
    ledger.record_alerts([delivery("f1", ends_at=NOW + 900)], NOW + 100)
    assert ends(ledger, "f1") == NOW + 900
    assert rows(ledger)[0][4] == NOW + 260  # its last delivery stays the latest
    assert firing(ledger, NOW + 800) == ["f1"]
    assert firing(ledger, NOW + 900) == []  # once the latest endsAt passes, it is over
    # A delivery without an endsAt (Alertmanager's zero time) leaves it open for good.
    ledger.record_alerts([delivery("f1")], NOW + 270)
    ledger.record_alerts([delivery("f1", ends_at=NOW + 1000)], NOW + 280)
    assert ends(ledger, "f1") is None
    assert firing(ledger, NOW + 2 * HOUR) == ["f1"]
    # A resolution's endsAt (when it resolved) is its first delivery's.
    ledger.record_alerts([delivery("f2", status="resolved", ends_at=NOW + 60)], NOW + 60)
    ledger.record_alerts([delivery("f2", status="resolved", ends_at=NOW + 90)], NOW + 90)
    assert [row.ends_at for row in ledger.alerts_of("f2")] == [NOW + 60]


def test_handled_alerts_are_pruned_by_last_delivery_and_unhandled_ones_kept(
    ledger: Ledger,
) -> None:
    ledger.record_alerts([delivery("old"), delivery("recent"), delivery("open")], NOW)
    stored = {row.fingerprint: row.id for row in ledger.pending_alerts()}
    ledger.mark_alerts_handled([stored["old"], stored["recent"]], NOW + 30)
    ledger.record_alerts([delivery("recent")], NOW + 100 * 86400)  # still firing, re-sent
    counts = ledger.prune(NOW + 50 * 86400)
    assert counts["alerts"] == 1
    assert sorted(row[0] for row in rows(ledger)) == ["open", "recent"]
    assert ledger.prune(NOW + 200 * 86400)["alerts"] == 1  # "recent", once last sent long ago
    assert [row[0] for row in rows(ledger)] == ["open"]  # never handled: never pruned


def test_handled_alerts_have_a_retention_of_their_own(ledger: Ledger) -> None:
    """The daemon keeps handled alerts 30 days, not the decisions' 400: pruned at
    ``alerts_before`` while the decisions' cut is far older."""
    ledger.record_alerts([delivery("handled"), delivery("open")], NOW)
    stored = {row.fingerprint: row.id for row in ledger.pending_alerts()}
    ledger.mark_alerts_handled([stored["handled"]], NOW + 30)
    assert ledger.prune(NOW - 400 * 86400, alerts_before=NOW - 86400)["alerts"] == 0
    assert ledger.prune(NOW - 400 * 86400, alerts_before=NOW + 60)["alerts"] == 1
    assert [row[0] for row in rows(ledger)] == ["open"]


def reopened(ledger: Ledger) -> Ledger:
    """A new ledger on the same database, as a restarted or another replica opens it."""
    url = ledger.engine.url.render_as_string(hide_password=False)
    ledger.close()
    return open_ledger(url, NOW)


def test_failed_attempts_are_kept_on_the_row_across_a_reopen_and_give_it_up(
    ledger: Ledger,
) -> None:
    ledger.record_alerts([delivery("bad"), delivery("good")], NOW)
    bad, _good = ledger.pending_alerts()
    assert (bad.attempts, bad.last_error, bad.state) == (0, None, "pending")
    assert ledger.count_alert_attempt(bad.id, 0, "ValueError: one", NOW + 30, give_up_at=3) == 1
    ledger = reopened(ledger)  # a restart, or the next leader
    (bad, _good) = ledger.pending_alerts()
    assert (bad.attempts, bad.last_error, bad.last_attempt_at) == (1, "ValueError: one", NOW + 30)
    # Two replicas failed at the same cycle's read: one attempt is counted, not two.
    assert ledger.count_alert_attempt(bad.id, 1, "ValueError: two", NOW + 60, give_up_at=3) == 2
    assert ledger.count_alert_attempt(bad.id, 1, "ValueError: two", NOW + 61, give_up_at=3) is None
    ledger = reopened(ledger)
    assert ledger.pending_alerts()[0].attempts == 2
    long = "RuntimeError: " + "x" * 5000
    assert ledger.count_alert_attempt(bad.id, 2, long, NOW + 90, give_up_at=3) == 3
    ledger = reopened(ledger)
    assert [row.fingerprint for row in ledger.pending_alerts()] == ["good"]
    assert ledger.pending_alert_summary() == (1, NOW)  # the gauge counts the good one only
    (shown,) = ledger.stored_alerts(given_up=True)
    assert (shown.fingerprint, shown.state, shown.attempts) == ("bad", "given-up", 3)
    assert shown.given_up_at == shown.handled_at == NOW + 90
    assert shown.last_error is not None and len(shown.last_error) == ALERT_ERROR_CHARS
    assert shown.last_error.startswith("RuntimeError: xxx") and shown.last_error.endswith("...")
    assert [row.fingerprint for row in ledger.stored_alerts()] == ["good", "bad"]
    # Given up: no count moves it, no replica marks it handled again.
    assert ledger.count_alert_attempt(bad.id, 3, "again", NOW + 120, give_up_at=3) is None
    assert ledger.mark_alerts_handled([bad.id], NOW + 120) == 0
    ledger.close()


def test_a_given_up_alert_retried_by_a_person_is_pending_again_with_its_count_cleared(
    ledger: Ledger,
) -> None:
    ledger.record_alerts([delivery("bad")], NOW)
    (bad,) = ledger.pending_alerts()
    assert not ledger.retry_alert(bad.id)  # pending: nothing to retry
    assert ledger.count_alert_attempt(bad.id, 0, "ValueError: x", NOW + 30, give_up_at=1) == 1
    assert ledger.pending_alerts() == []
    assert ledger.retry_alert(bad.id)
    assert not ledger.retry_alert(bad.id)  # once
    assert not ledger.retry_alert(bad.id + 1000)  # no such alert
    (again,) = ledger.pending_alerts()
    assert (again.attempts, again.last_error, again.given_up_at, again.state) == (
        0,
        None,
        None,
        "pending",
    )
    assert ledger.get_alert(bad.id) == again and ledger.get_alert(bad.id + 1000) is None


def test_a_mark_says_which_replica_set_it_and_goes_with_the_mark(ledger: Ledger) -> None:
    ledger.record_alerts([delivery("f1"), delivery("f2"), delivery("f3")], NOW)
    ids = [row.id for row in ledger.pending_alerts()]
    ledger.mark_alerts_handling(ids, NOW + 30, "autonomic-a")
    marks = [(r.handling_since, r.handling_by) for r in ledger.pending_alerts()]
    assert marks == [(NOW + 30, "autonomic-a")] * 3
    ledger.mark_alerts_handling(ids[:1], None, "autonomic-a")  # cleared: by no one
    assert ledger.mark_alerts_handled(ids[1:2], NOW + 60) == 1
    assert ledger.count_alert_attempt(ids[2], 0, "E: x", NOW + 60, give_up_at=5) == 1
    marks = [(r.handling_since, r.handling_by) for r in _all(ledger)]
    assert marks == [(None, None)] * 3
    ledger.mark_alerts_handling(ids[2:], NOW + 90, "autonomic-b")
    assert ledger.count_alert_attempt(ids[2], 1, "E: x", NOW + 90, give_up_at=2) == 2
    assert ledger.retry_alert(ids[2])
    (again,) = [r for r in ledger.pending_alerts() if r.id == ids[2]]
    assert (again.handling_since, again.handling_by) == (None, None)


def _all(ledger: Ledger) -> list[StoredAlert]:
    with ledger.engine.connect() as conn:
        found = conn.execute(sa.select(tables["alerts"]).order_by(tables["alerts"].c.id))
        return [StoredAlert(**row) for row in found.mappings()]


def test_a_version_9_mark_upgrades_as_a_mark_by_a_replica_not_known(tmp_path: Path) -> None:
    """A mark left by release of migration 9 stays a mark, its replica not known (None),
    which every engine reads as another replica's."""
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    old = open_ledger(url, NOW, migrate=False)
    assert old.migrate(NOW, upto=9) == 9
    old.record_alerts([delivery("marked")], NOW)
    with old.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alerts SET handling_since = :t"), {"t": NOW + 30})
    old.close()
    upgraded = open_ledger(url, NOW + 60)
    assert upgraded.schema_version() == SCHEMA_VERSION >= 10
    (row,) = upgraded.pending_alerts()
    assert (row.fingerprint, row.handling_since, row.handling_by) == ("marked", NOW + 30, None)
    upgraded.close()


def test_a_ledger_of_the_previous_release_gains_the_attempt_columns(tmp_path: Path) -> None:
    """A version-7 ledger with an alert waiting opens at the current version: the alert
    is pending with no attempts, and its attempts are counted."""
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    old = open_ledger(url, NOW, migrate=False)
    assert old.migrate(NOW, upto=7) == 7
    old.record_alerts([delivery("waiting")], NOW)
    old.close()
    upgraded = open_ledger(url, NOW + 1)
    assert upgraded.schema_version() == SCHEMA_VERSION >= 8
    (row,) = upgraded.pending_alerts()
    assert (row.fingerprint, row.attempts, row.last_error, row.given_up_at) == (
        "waiting",
        0,
        None,
        None,
    )
    assert upgraded.count_alert_attempt(row.id, 0, "E: x", NOW + 2, give_up_at=5) == 1
    upgraded.close()


@pytest.mark.postgres
def test_replicas_storing_one_delivery_at_once_store_it_once(postgres_url: str) -> None:
    """Alertmanager's HA peers each send the group; a retry races the first attempt:
    writers on several connections, each storing the same alerts (in different orders),
    store each alert once, and exactly one of them calls each one new."""
    url, _ = fresh_schema(postgres_url)
    open_ledger(url, NOW).close()
    alerts = [delivery(f"f{n}") for n in range(40)]
    writers = 6
    fresh: list[list[bool]] = [[] for _ in range(writers)]
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def work(n: int) -> None:
        mine = open_ledger(url, NOW, migrate=False)
        try:
            start.wait()
            order = alerts if n % 2 else alerts[::-1]
            answer = mine.record_alerts(order, NOW + n)
            fresh[n] = answer if n % 2 else answer[::-1]
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            mine.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    check = open_ledger(url, NOW, migrate=False)
    assert sorted(row[0] for row in rows(check)) == sorted(a.fingerprint for a in alerts)
    assert [sum(answers[i] for answers in fresh) for i in range(len(alerts))] == [1] * len(alerts)
    check.close()
