"""``LedgerConnector`` against real PostgreSQL servers: what retrying can fix is retried,
logged when a streak begins and then once a minute, and connects once the database
answers; what it cannot fix stops with what to do."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from agent.errors import TransientError
from agent.ledger import LedgerError, open_ledger
from agent.ledger import store as ledger_store
from agent.ledger.connect import LedgerConnector
from agent.ledger.schema import SCHEMA_VERSION
from tests.harness.servers import PostgresServer, free_port, postgres_cluster

pytestmark = pytest.mark.postgres

NOW = 1_700_000_000.0


@pytest.fixture(scope="module")
def cluster(postgres_binaries: None) -> Iterator[PostgresServer]:
    """A cluster where user ``pw`` must give its password; ``nologin`` may not log in;
    ``limited`` may log in but create nothing in database ``autonomic``'s schema."""
    with postgres_cluster(hba=["host all pw 127.0.0.1/32 scram-sha-256"]) as server:
        server.start()
        server.createdb()
        admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE ROLE pw LOGIN PASSWORD 'right-one'"))
            conn.execute(sa.text("CREATE ROLE nologin NOLOGIN"))
            conn.execute(sa.text("CREATE ROLE limited LOGIN"))
        admin.dispose()
        yield server


def _as(server: PostgresServer, user: str, database: str = "autonomic") -> str:
    return f"postgresql+psycopg://{user}@127.0.0.1:{server.port}/{database}"


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("user", "password", "database", "code", "words", "remedy"),
    [
        (
            "pw",
            "wrong-one",
            "autonomic",
            "28P01",
            "password authentication failed",
            "ledger.password",
        ),
        ("pw", None, "autonomic", "28P01", "no password supplied", "ledger.password"),
        ("nobody", None, "autonomic", "28000", 'role "nobody" does not exist', "pg_hba.conf"),
        ("nologin", None, "autonomic", "28000", "is not permitted to log in", "(LOGIN)"),
        (
            "autonomic",
            None,
            "nosuch",
            "3D000",
            'database "nosuch" does not exist',
            "CREATE DATABASE",
        ),
        ("limited", None, "autonomic", "42501", "denied for schema public (42501", "GRANT"),
    ],
    ids=["wrong-password", "no-password", "no-such-role", "no-login", "no-database", "no-create"],
)
def test_what_retrying_cannot_fix_stops_with_what_to_do(
    cluster: PostgresServer,
    user: str,
    password: str | None,
    database: str,
    code: str,
    words: str,
    remedy: str,
) -> None:
    ledger = open_ledger(_as(cluster, user, database), NOW, password=password, migrate=False)
    setups: list[int] = []
    connector = LedgerConnector(ledger, lambda: NOW, setup=lambda: setups.append(1))
    try:
        with pytest.raises(LedgerError) as raised:
            connector.attempt()
    finally:
        ledger.close()
    message = str(raised.value)
    where = f"{user}{':***' if password else ''}@127.0.0.1:{cluster.port}/{database}"
    assert message.startswith(f"cannot open the ledger at postgresql+psycopg://{where}: ")
    assert words in message and f"({code}: " in message and "retrying will not help" in message
    assert remedy in message
    assert "wrong-one" not in message
    assert connector.failures == 0 and not connector.ready and setups == []


@pytest.mark.parametrize(
    ("user", "password", "database", "code", "words", "remedy"),
    [
        ("pw", "wrong-one", "autonomic", "28P01", "password authentication failed", "password"),
        ("nobody", None, "autonomic", "28000", 'role "nobody" does not exist', "pg_hba.conf"),
        ("autonomic", None, "nosuch", "3D000", 'database "nosuch" does not exist', "CREATE"),
        ("limited", None, "autonomic", "42501", "permission denied for table", "GRANT SELECT"),
    ],
    ids=["wrong-password", "no-such-role", "no-database", "no-access"],
)
def test_a_command_refused_by_postgres_says_the_sqlstate_and_what_to_do(
    cluster: PostgresServer,
    user: str,
    password: str | None,
    database: str,
    code: str,
    words: str,
    remedy: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`autonomic approvals list` (and every command that reads or answers) against a
    PostgreSQL that refuses: the server's words came alone, without the SQLSTATE or what
    to do, which only the daemon's start-up gave. A user the daemon's ledger is not
    shared with (42501 on its tables) is told to grant access, not to grant CREATE."""
    from agent.cli import main

    open_ledger(cluster.url, NOW).close()  # the daemon's ledger, made by its owner
    url = _as(cluster, user, database)
    if password:
        url = url.replace(f"{user}@", f"{user}:{password}@")
    assert main(["approvals", "list", "--ledger", url]) == 2
    message = capsys.readouterr().err
    where = f"{user}{':***' if password else ''}@127.0.0.1:{cluster.port}/{database}"
    assert message.startswith(
        f"autonomic: error: cannot open the ledger at postgresql+psycopg://{where}: "
    )
    assert words in message and f"({code}: " in message and remedy in message
    assert "wrong-one" not in message


def test_a_database_not_accepting_connections_is_retried_and_connects_when_it_does(
    cluster: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The streak is logged when it begins, then once a minute with its count; readiness
    says why all along; the delay doubles; once the database answers, the schema is
    created, ``setup`` runs once, and the end of the streak is logged."""
    name = f"late{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(cluster.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name} OWNER pw"))
        conn.execute(sa.text(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"))
    ledger = open_ledger(_as(cluster, "pw", name), NOW, password="right-one", migrate=False)
    ticks, setups = Ticks(), []
    connector = LedgerConnector(
        ledger, lambda: NOW, setup=lambda: setups.append(1), retry_min=1, retry_max=4, clock=ticks
    )
    where = f"postgresql+psycopg://pw:***@127.0.0.1:{cluster.port}/{name}"
    try:
        assert connector.waiting() == f"ledger: connecting to {where}"
        caplog.set_level(logging.INFO, logger="autonomic.ledger")
        delays = []
        for now in (0.0, 10.0, 59.0, 70.0):
            ticks.now = now
            assert connector.attempt() is False
            delays.append(connector.next_delay())
        assert delays == [1, 2, 4, 4]
        assert connector.waiting() == (
            f"ledger: cannot connect to {where}: connection failed: connection to server at "
            f'"127.0.0.1", port {cluster.port} failed: FATAL: database "{name}" is not '
            "currently accepting connections (4 failed attempts; retrying)"
        )
        logged = [r.getMessage() for r in caplog.records]
        assert len(logged) == 2, logged  # at 0 s, then at 70 s: not at 10 s nor 59 s
        assert logged[0].startswith(f"ledger: cannot connect to {where}: ")
        assert "retrying, with a growing delay (up to 4 s)" in logged[0]
        assert logged[1].endswith("(4 failed attempts so far)")
        assert all(r.levelno == logging.WARNING for r in caplog.records)
        assert setups == []

        with admin.connect() as conn:
            conn.execute(sa.text(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"))
        caplog.clear()
        assert connector.attempt() is True
        assert connector.ready and connector.waiting() is None and setups == [1]
        assert ledger.schema_version() == SCHEMA_VERSION
        assert [r.getMessage() for r in caplog.records] == [
            f"ledger at {where} created at schema version {SCHEMA_VERSION}",
            f"ledger: connected to {where} (schema version {SCHEMA_VERSION}) "
            "after 4 failed attempts",
        ]
        assert connector.attempt() is True and setups == [1]  # done once
    finally:
        ledger.close()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def test_a_failing_setup_is_retried_with_the_rest(cluster: PostgresServer) -> None:
    """What the daemon writes before its jobs start is part of the attempt: its failure
    (the database gone again) is retried, and readiness says where it failed."""
    ledger = open_ledger(cluster.url, NOW, migrate=False)
    calls: list[int] = []

    def setup() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise TransientError("the ledger at X write failed: server closed the connection")

    connector = LedgerConnector(ledger, lambda: NOW, setup=setup)
    try:
        assert connector.attempt() is False
        assert str(connector.waiting()).startswith(
            f"ledger: cannot set up the ledger at {cluster.url}: the ledger at X write failed"
        )
        assert connector.attempt() is True and calls == [1, 1]
    finally:
        ledger.close()


def test_run_retries_until_stopped_and_an_attempt_gives_up_on_a_silent_server(
    monkeypatch: pytest.MonkeyPatch, postgres_binaries: None
) -> None:
    """A server that accepts the connection and never answers (a stuck server, a route
    that drops packets) used to hold the attempt, and the daemon's start, for ever: the
    attempt now gives up after the connection timeout, and ``run`` returns once stopped."""
    monkeypatch.setattr(ledger_store, "CONNECT_TIMEOUT", 1)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        ledger = open_ledger(
            f"postgresql+psycopg://autonomic@127.0.0.1:{port}/autonomic", NOW, migrate=False
        )
        connector = LedgerConnector(ledger, lambda: NOW, retry_min=0.1, retry_max=0.2)
        stop = threading.Event()
        runner = threading.Thread(target=connector.run, args=(stop,), daemon=True)
        began = time.monotonic()
        runner.start()
        try:
            while connector.failures < 2:
                assert time.monotonic() - began < 8, connector.waiting()
                time.sleep(0.05)
            assert "timeout expired" in str(connector.waiting())
            stop.set()
            runner.join(3)
            assert not runner.is_alive()
        finally:
            stop.set()
            ledger.close()
    refused = open_ledger(
        f"postgresql+psycopg://autonomic@127.0.0.1:{free_port()}/autonomic", NOW, migrate=False
    )
    try:
        assert LedgerConnector(refused, lambda: NOW).try_once() == (
            f"cannot connect to postgresql+psycopg://autonomic@127.0.0.1:"
            f"{refused.engine.url.port}/autonomic: connection failed: connection to server at "
            f'"127.0.0.1", port {refused.engine.url.port} failed: Connection refused Is the '
            "server running on that host and accepting TCP/IP connections?"
        )
    finally:
        refused.close()


def test_readiness_says_a_migration_is_under_way_not_a_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgrade's migration can take minutes on a large ledger; readiness said
    "connecting to" all along, which sends a person looking at the network. Each step of
    the attempt is said as what it is."""
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite", NOW, migrate=False)
    seen: list[str | None] = []
    connector = LedgerConnector(ledger, lambda: NOW, setup=lambda: seen.append(connector.waiting()))
    where = connector.where
    real = ledger.migrate

    def migrate(now: float, *, upto: int | None = None) -> int:
        seen.append(connector.waiting())
        return real(now, upto=upto)

    monkeypatch.setattr(ledger, "migrate", migrate)
    assert connector.waiting() == f"ledger: connecting to {where}"
    assert connector.attempt() is True
    assert seen == [f"ledger: migrating the schema of {where}", f"ledger: setting up {where}"]
    assert connector.waiting() is None
