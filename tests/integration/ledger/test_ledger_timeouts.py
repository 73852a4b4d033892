"""What bounds a PostgreSQL ledger's calls: libpq's TCP settings on every connection, and
the daemon's session timeouts on the server.

A database host that vanished (a failover, a partition) answers nothing, not even a
reset: a pending query waited for the kernel's retransmissions (about 15 min) and an idle
pooled connection for a keepalive after 2 h, while the leader kept its lease. A replica
frozen inside a transaction kept its row locks, and the next leader's writes waited on
them without end.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from agent.errors import TransientError
from agent.ledger import Ledger, open_ledger
from agent.ledger import store as ledger_store

pytestmark = pytest.mark.postgres

NOW = 1_700_000_000.0


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    """A database of its own, on the session's server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def _socket_options(ledger: Ledger) -> dict[str, int]:
    """What reached the kernel, read from a pooled connection's socket."""
    with ledger.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with socket.socket(fileno=os.dup(raw.fileno())) as sock:
            return {
                "keepalives": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                "keepalives_idle": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                "keepalives_interval": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
                "keepalives_count": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
                "tcp_user_timeout": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
            }


def _shown(ledger: Ledger) -> dict[str, str]:
    with ledger.engine.connect() as conn:
        return {
            name: str(conn.execute(sa.text(f"SHOW {name}")).scalar())
            for name in ("statement_timeout", "idle_in_transaction_session_timeout")
        }


def test_every_connection_probes_a_silent_host_and_the_daemons_sessions_are_bounded(
    database: str,
) -> None:
    daemon = open_ledger(database, NOW, bounded=True)
    command = open_ledger(database, NOW)  # a person's command: only the TCP settings
    try:
        assert _socket_options(daemon) == ledger_store.TCP_SETTINGS
        assert _socket_options(command) == ledger_store.TCP_SETTINGS
        assert _shown(daemon) == {
            "statement_timeout": "1min",
            "idle_in_transaction_session_timeout": "1min",
        }
        assert _shown(command) == {
            "statement_timeout": "0",
            "idle_in_transaction_session_timeout": "0",
        }
    finally:
        daemon.close()
        command.close()


def test_what_the_url_or_the_role_sets_wins(database: str) -> None:
    admin = sa.create_engine(database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("CREATE ROLE patient LOGIN"))
        conn.execute(sa.text("ALTER ROLE patient SET idle_in_transaction_session_timeout = '5min'"))
        conn.execute(sa.text("GRANT ALL ON SCHEMA public TO patient"))
    admin.dispose()
    url = database.replace("//autonomic@", "//patient@")
    ledger = open_ledger(
        f"{url}?keepalives_idle=7&tcp_user_timeout=9000&options=-c%20statement_timeout%3D5s",
        NOW,
        bounded=True,
    )
    try:
        options = _socket_options(ledger)
        assert (options["keepalives_idle"], options["tcp_user_timeout"]) == (7, 9000)
        assert options["keepalives_count"] == ledger_store.TCP_SETTINGS["keepalives_count"]
        assert _shown(ledger) == {
            "statement_timeout": "5s",
            "idle_in_transaction_session_timeout": "5min",
        }
    finally:
        ledger.close()
        admin = sa.create_engine(database, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("DROP OWNED BY patient"))
            conn.execute(sa.text("DROP ROLE patient"))
        admin.dispose()


def test_a_replica_frozen_in_a_transaction_blocks_the_next_leader_only_for_a_while(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old leader froze holding a row lock (its session idle in a transaction): the
    new leader's write fails at the statement timeout, with a ``TransientError`` its job
    retries, rather than waiting; the server ends the frozen session at the idle timeout
    and the next attempt goes through."""
    monkeypatch.setattr(
        ledger_store,
        "SESSION_TIMEOUTS",
        {"statement_timeout": "300ms", "idle_in_transaction_session_timeout": "1500ms"},
    )
    old, new = open_ledger(database, NOW, bounded=True), open_ledger(database, NOW, bounded=True)
    try:
        assert new.put_guard("breaker/web", {"open": False}, 0, NOW)
        frozen = old.engine.connect()
        frozen.execute(sa.text("SELECT * FROM guard_state WHERE key = 'breaker/web' FOR UPDATE"))
        began = time.monotonic()
        with pytest.raises(TransientError, match="statement timeout"):
            new.put_guard("breaker/web", {"open": True}, 1, NOW)
        assert time.monotonic() - began < 1.0
        done = threading.Event()
        deadline = time.monotonic() + 5
        while not done.is_set():
            assert time.monotonic() < deadline, "the frozen session still holds its lock"
            try:
                if new.put_guard("breaker/web", {"open": True}, 1, NOW):
                    done.set()
            except TransientError:
                time.sleep(0.1)
        with pytest.raises(sa.exc.DBAPIError, match="idle-in-transaction timeout"):
            frozen.execute(sa.text("SELECT 1"))
        frozen.invalidate()
    finally:
        old.close()
        new.close()
