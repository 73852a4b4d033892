"""Fixtures shared by the ledger's race tests: one database on each engine, and two
ledgers on it, as two replicas (or the daemon and a command) have."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.ledger import Ledger, open_ledger
from tests.harness.servers import fresh_schema

OPENED_AT = 1_800_000_000.0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh SQLite file, and a fresh schema on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    return fresh_schema(request.getfixturevalue("postgres_url"))[0]


@pytest.fixture
def two(url: str) -> Iterator[tuple[Ledger, Ledger]]:
    """Two ledgers on one database, as two replicas (or the daemon and a command) have."""
    first, second = open_ledger(url, OPENED_AT), open_ledger(url, OPENED_AT)
    yield first, second
    first.close()
    second.close()
