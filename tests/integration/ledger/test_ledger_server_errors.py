"""What an operator reads when the ledger's PostgreSQL refuses the running daemon or a
command: one sentence each, the server's words, the SQLSTATE, what it means and the
setting or action that fixes it; no SQL, no traceback. A session ended while idle in a
transaction (25P03) and a read-only standby (25006) reached the jobs as the driver's
``InternalError``, logged "failed unexpectedly" with a traceback and the statement."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from agent.errors import LEDGER_CONFLICT, TransientError
from agent.ledger import LedgerError, open_ledger
from agent.ledger.connect import LedgerConnector
from agent.observability import Metrics
from agent.runtime import Job, run_job
from tests.harness.gates import SwitchGate
from tests.harness.servers import PostgresServer, postgres_cluster

pytestmark = pytest.mark.postgres

NOW = 1_700_000_000.0


@pytest.fixture
def server(postgres_binaries: None) -> Iterator[PostgresServer]:
    """A cluster of its own (these tests drop its database and change its roles); user
    ``app`` logs in with a password and owns database ``autonomic``."""
    with postgres_cluster(hba=["host all app 127.0.0.1/32 scram-sha-256"]) as cluster:
        cluster.start()
        cluster.createdb()
        with Admin(cluster) as conn:
            conn.execute(sa.text("CREATE ROLE app LOGIN PASSWORD 'right-one'"))
            conn.execute(sa.text("GRANT ALL ON DATABASE autonomic TO app"))
            conn.execute(sa.text("ALTER DATABASE autonomic OWNER TO app"))
        yield cluster


class Admin:
    """An AUTOCOMMIT connection to database ``postgres`` as the superuser."""

    def __init__(self, server: PostgresServer) -> None:
        url = server.url.rsplit("/", 1)[0] + "/postgres"
        self.engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")

    def __enter__(self) -> sa.Connection:
        self.conn = self.engine.connect()
        return self.conn

    def __exit__(self, *_exc: object) -> None:
        self.conn.close()
        self.engine.dispose()


def _app(server: PostgresServer, options: str = "") -> str:
    return f"postgresql+psycopg://app@127.0.0.1:{server.port}/autonomic{options}"


def _sentence(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "[SQL:" not in text and "sqlalche.me" not in text, text
    return text


def test_a_statement_past_statement_timeout_names_the_setting(server: PostgresServer) -> None:
    ledger = open_ledger(
        _app(server, "?options=-c%20statement_timeout%3D1000"), NOW, password="right-one"
    )
    locker = sa.create_engine(server.url).connect()  # as the superuser, past app's limit
    try:
        with locker.begin():
            locker.execute(sa.text("LOCK TABLE decisions IN ACCESS EXCLUSIVE MODE"))
            ledger.engine.dispose()
            with pytest.raises(TransientError) as raised:
                ledger.decisions(limit=5)
    finally:
        locker.close()
        ledger.close()
    text = _sentence(raised.value)
    assert "read failed: canceling statement due to statement timeout (57014: a statement " in (
        text
    )
    assert "pg_stat_activity" in text and "statement_timeout in ledger.url" in text
    assert raised.value.reason == LEDGER_CONFLICT  # one statement: told as an outage if it recurs


def test_a_session_ended_idle_in_a_transaction_is_one_sentence(server: PostgresServer) -> None:
    """A daemon stalled inside a transaction (CPU throttled, SIGSTOP) past
    idle_in_transaction_session_timeout: the server ends the session."""
    ledger = open_ledger(
        _app(server, "?options=-c%20idle_in_transaction_session_timeout%3D300"),
        NOW,
        password="right-one",
    )
    try:
        with pytest.raises(TransientError) as raised, ledger._tx() as conn:
            conn.execute(sa.text("SELECT 1"))
            time.sleep(1.0)
            conn.execute(sa.text("SELECT 1"))
        assert ledger.decisions(limit=5) == []  # the next use reconnects
    finally:
        ledger.close()
    text = _sentence(raised.value)
    assert "write failed: terminating connection due to idle-in-transaction timeout (25P03: " in (
        text
    )
    assert "raise idle_in_transaction_session_timeout" in text


def test_a_read_only_standby_fails_the_job_with_one_line_and_no_traceback(
    server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = open_ledger(_app(server), NOW, password="right-one")
    with Admin(server) as conn:
        conn.execute(sa.text("ALTER DATABASE autonomic SET default_transaction_read_only = on"))
    ledger.engine.dispose()
    job = Job("housekeeping", 60.0, lambda: ledger.put_guard("k", {"a": 1}, 0, NOW))
    try:
        with caplog.at_level(logging.WARNING, logger="autonomic"):
            outcome = run_job(job, Metrics(), SwitchGate(leader=True), threading.Event())
        assert ledger.decisions(limit=5) == []  # reads go on
    finally:
        ledger.close()
    assert outcome == "transient-error"
    (record,) = [r for r in caplog.records if r.name == "autonomic.runtime"]
    assert record.exc_info is None
    said = record.getMessage()
    assert "write failed: cannot execute INSERT in a read-only transaction (25006: " in said
    assert "point ledger.url at the primary" in said and "target_session_attrs=read-write" in said
    assert "[SQL:" not in said


def test_too_many_connections_says_which_limit_at_start_in_a_command_and_while_running(
    server: PostgresServer,
) -> None:
    ledger = open_ledger(_app(server), NOW, password="right-one")
    ledger.close()
    with Admin(server) as conn:
        conn.execute(sa.text("ALTER ROLE app CONNECTION LIMIT 1"))
    hog = sa.create_engine(_app(server), connect_args={"password": "right-one"}).connect()
    try:
        # the daemon starting: retried, and readiness says why and what to do
        starting = open_ledger(_app(server), NOW, password="right-one", migrate=False)
        connector = LedgerConnector(starting, lambda: NOW)
        assert not connector.attempt(logged=False)
        waiting = connector.waiting()
        assert waiting is not None
        assert 'too many connections for role "app" (53300: ' in waiting
        assert "ALTER ROLE ... CONNECTION LIMIT" in waiting and waiting.endswith("retrying)")
        starting.close()
        # a command
        with pytest.raises(LedgerError) as refused:
            open_ledger(_app(server), NOW, password="right-one", create=False)
        assert "(53300: the server has no connection left for this user" in _sentence(refused.value)
        # the running daemon, when its pool opens a connection
        with pytest.raises(TransientError) as running:
            ledger.decisions(limit=5)
        text = _sentence(running.value)
        assert "refused the connection: " in text and "(53300: " in text
    finally:
        hog.close()
        ledger.close()


def test_a_password_changed_or_a_database_dropped_while_running_says_what_to_fix(
    server: PostgresServer,
) -> None:
    ledger = open_ledger(_app(server), NOW, password="right-one")
    try:
        with Admin(server) as conn:
            conn.execute(sa.text("ALTER ROLE app PASSWORD 'rotated'"))
        ledger.engine.dispose()
        with pytest.raises(TransientError) as raised:
            ledger.decisions(limit=5)
        text = _sentence(raised.value)
        assert "refused the connection: " in text and "password authentication failed" in text
        assert "(28P01: " in text and "check ledger.password" in text

        with Admin(server) as conn:
            conn.execute(sa.text("ALTER ROLE app PASSWORD 'right-one'"))
            conn.execute(sa.text("DROP DATABASE autonomic WITH (FORCE)"))
        ledger.engine.dispose()
        with pytest.raises(TransientError) as raised:
            ledger.decisions(limit=5)
        text = _sentence(raised.value)
        assert 'database "autonomic" does not exist (3D000: ' in text
        assert "CREATE DATABASE" in text
    finally:
        ledger.close()
