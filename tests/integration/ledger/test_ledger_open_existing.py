"""Opening an existing ledger on a real PostgreSQL server, as the commands that read or
answer do (``create=False``): a database without Autonomic's schema is refused and left
without a table, and id prefixes are literal text there too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from agent.cli import main
from agent.ledger import Decision, LedgerError, open_ledger
from agent.ledger.schema import SCHEMA_VERSION
from tests.harness.servers import fresh_schema

pytestmark = pytest.mark.postgres

NOW = 1_800_000_000.0


@pytest.fixture
def schema_url(postgres_url: str) -> Iterator[tuple[str, str]]:
    """A fresh, empty schema on the server and a URL whose search path is it."""
    yield fresh_schema(postgres_url)


def _tables(postgres_url: str, schema: str) -> list[str]:
    engine = sa.create_engine(postgres_url)
    try:
        return sorted(sa.inspect(engine).get_table_names(schema=schema))
    finally:
        engine.dispose()


def test_a_database_without_the_schema_is_refused_and_not_created(
    postgres_url: str, schema_url: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, schema = schema_url
    with pytest.raises(LedgerError, match="is not an Autonomic ledger"):
        open_ledger(url, NOW, create=False)
    assert main(["approvals", "list", "--ledger", url]) == 2
    err = capsys.readouterr().err
    assert "is not an Autonomic ledger (it has no schema_version table)" in err
    assert "start the daemon (autonomic run) to create the ledger there" in err
    assert _tables(postgres_url, schema) == []  # nothing created by the readers


def test_an_older_schema_is_not_migrated_by_a_reader(
    postgres_url: str, schema_url: tuple[str, str]
) -> None:
    url, _ = schema_url
    old = open_ledger(url, NOW, migrate=False)
    old.migrate(NOW, upto=SCHEMA_VERSION - 1)
    old.close()
    with pytest.raises(LedgerError, match=f"has schema version {SCHEMA_VERSION - 1}"):
        open_ledger(url, NOW, create=False)
    again = open_ledger(url, NOW, migrate=False)
    assert again.schema_version() == SCHEMA_VERSION - 1
    again.close()


def test_id_prefixes_are_literal_on_postgres(schema_url: tuple[str, str]) -> None:
    url, _ = schema_url
    open_ledger(url, NOW).close()  # the daemon creates it
    ledger = open_ledger(url, NOW, create=False)
    decision_id = ledger.record_decision(
        Decision(
            kind="remediation",
            decision_type="restart/Pod",
            subject="Deployment/shop/web",
            proposal={},
            confidence=0.8,
            reason_code="Stuck",
            reason="stuck",
            evidence={},
            model_version="test",
            route="auto",
        ),
        NOW,
    )
    assert ledger.find_decisions(decision_id[:8]) == [decision_id]
    for typed in ("%" + decision_id[1:8], "_" + decision_id[1:8], "%", "_" * 32):
        assert ledger.find_decisions(typed) == []
        assert ledger.find_questions(typed) == []
    ledger.close()
