"""Connecting the daemon's PostgreSQL ledger in the background.

A database that is not up yet (its pod starts after Autonomic's, a failover is under
way) must not keep the daemon from starting: ``autonomic run`` builds a PostgreSQL ledger
without connecting (``open_ledger(migrate=False)``), and a ``LedgerConnector`` connects
it and brings its schema up to date, retrying with a growing delay, while the probes
already answer (``/readyz`` 503 saying why). The daemon's jobs start once it has.

What retrying cannot fix stops start-up with a ``LedgerError`` saying what to change
(``PERMANENT``): a password the server refuses, a role that may not log in, a database
that does not exist, a user that may not create the ledger's tables. Everything else is
retried: connection refused or timed out, a host name that does not resolve (yet), a
server starting up or shutting down, too many connections, a database not accepting
connections, two replicas creating the same table at once, and anything not recognised.

PostgreSQL reports the errors of the connection's start (authentication, a database
that does not exist) as text only: libpq gives no SQLSTATE for them, so they are
recognised by the server's words in English (``_STARTUP_ERRORS``). A server whose
``lc_messages`` is another language words them otherwise: they are then retried, and
``/readyz`` and the log show them as the server wrote them.

A SQLite ledger is opened at once, as before (``connects_later``): a bad path is a
configuration error there and then.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from agent.errors import TransientError, redact_url_passwords
from agent.ledger.store import REFUSALS, SERVER_ERRORS, Ledger, LedgerError, _sqlstate, _words

__all__ = ["PERMANENT", "LedgerConnector", "connects_later"]

log = logging.getLogger("autonomic.ledger")

# The errors retrying cannot fix, by SQLSTATE: what each means, and what to do.
PERMANENT = REFUSALS

RETRY_MIN = 1.0  # seconds before the second attempt; doubled after each failure...
RETRY_MAX = 15.0  # ...up to this
LOG_EVERY = 60.0  # a streak of failures is logged when it begins, then once a minute


def connects_later(url: str) -> bool:
    """Whether the daemon connects this ledger in the background (PostgreSQL) rather
    than at once (SQLite; and a URL that does not parse, which ``open_ledger`` refuses)."""
    try:
        return make_url(url).get_backend_name() == "postgresql"
    except (sa.exc.ArgumentError, ValueError):
        return False


class LedgerConnector:
    """Connects ``ledger`` and migrates its schema, then runs ``setup`` (what the daemon
    writes before its jobs start), all in one attempt; ``run()`` repeats the attempts,
    with a delay doubling from ``retry_min`` to ``retry_max``, until one succeeds.

    ``waiting()`` says why the ledger is not ready (None once it is): readiness shows it.
    An error retrying cannot fix raises ``LedgerError`` out of ``attempt()`` and ``run()``.
    """

    def __init__(
        self,
        ledger: Ledger,
        now: Callable[[], float],
        *,
        setup: Callable[[], None] = lambda: None,
        retry_min: float = RETRY_MIN,
        retry_max: float = RETRY_MAX,
        log_every: float = LOG_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ledger = ledger
        self.now = now
        self.setup = setup
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.log_every = log_every
        self.clock = clock
        self.where = ledger.engine.url.render_as_string()  # the password hidden
        self.failures = 0  # attempts failed in a row
        self._ready = threading.Event()
        self._reason: str | None = None  # why the last attempt failed
        self._doing = "connecting to"  # what the attempt under way is doing, for waiting()
        self._logged_at: float | None = None
        self._lock = threading.Lock()  # one attempt at a time

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def waiting(self) -> str | None:
        """Why the ledger is not ready yet, or None once it is."""
        if self._ready.is_set():
            return None
        reason, failures = self._reason, self.failures
        if reason is None:
            return f"ledger: {self._doing} {self.where}"
        attempts = f"{failures} failed attempt{'' if failures == 1 else 's'}"
        return f"ledger: {reason} ({attempts}; retrying)"

    def next_delay(self) -> float:
        """Seconds until the next attempt after the last one failed."""
        return float(min(self.retry_min * 2 ** max(self.failures - 1, 0), self.retry_max))

    def run(self, stop: threading.Event) -> None:
        """Attempt until one succeeds (or ``stop`` is set)."""
        while not stop.is_set():
            if self.attempt():
                return
            stop.wait(self.next_delay())

    def try_once(self) -> str | None:
        """One attempt (``run --once``, whose last line says why, unlogged): None if the
        ledger is ready, else why not."""
        return None if self.attempt(logged=False) else self._reason

    def attempt(self, *, logged: bool = True) -> bool:
        """Connect, migrate and set up once: whether the ledger is ready now."""
        with self._lock:
            if self._ready.is_set():
                return True
            phase = "cannot connect to"
            try:
                self._doing = "connecting to"
                with self.ledger.engine.connect():
                    pass
                phase = "cannot set up the ledger at"
                # An upgrade's migration can take minutes on a large ledger: readiness
                # says that is what it waits for, not a connection.
                self._doing = "migrating the schema of"
                version = self.ledger.migrate(self.now())
                self._doing = "setting up"
                self.setup()
            except LedgerError as exc:  # a schema newer than this release: as it says
                raise LedgerError(f"cannot open the ledger at {self.where}: {exc}") from exc
            except Exception as exc:
                self._failed(phase, exc, logged=logged)
                return False
            self._connected(version)
            return True

    def _failed(self, phase: str, exc: Exception, *, logged: bool) -> None:
        words = redact_url_passwords(" ".join(_words(exc).split()))
        code = _sqlstate(exc)
        if code in PERMANENT:
            meaning, remedy = PERMANENT[code]
            raise LedgerError(
                f"cannot open the ledger at {self.where}: {words} ({code}: {meaning}; "
                f"retrying will not help: {remedy})"
            ) from exc
        self.failures += 1
        self._reason = f"{phase} {self.where}: {words}"
        if code in SERVER_ERRORS:  # too many connections, a standby: what to do about it
            meaning, remedy = SERVER_ERRORS[code]
            self._reason += f" ({code}: {meaning}; {remedy})"
        now = self.clock()
        if not logged or (self._logged_at is not None and now - self._logged_at < self.log_every):
            return
        self._logged_at = now
        expected = isinstance(exc, (sa.exc.DBAPIError, TransientError))
        if self.failures == 1:
            log.warning(
                "ledger: %s; retrying, with a growing delay (up to %g s): the daemon is not "
                "ready, and its jobs do not start, until the ledger answers",
                self._reason,
                self.retry_max,
                exc_info=not expected,  # not a database's error: show where it came from
            )
        else:
            log.warning(
                "ledger: %s (%d failed attempts so far)",
                self._reason,
                self.failures,
                exc_info=not expected,
            )

    def _connected(self, version: int) -> None:
        if self.failures:
            log.info(
                "ledger: connected to %s (schema version %d) after %d failed attempt%s",
                self.where,
                version,
                self.failures,
                "" if self.failures == 1 else "s",
            )
        else:
            log.info("ledger: connected to %s (schema version %d)", self.where, version)
        self._reason, self._logged_at = None, None
        self._ready.set()
