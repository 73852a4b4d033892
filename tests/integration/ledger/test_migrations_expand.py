"""Every migration that says it is expand-only is: the release before it runs unchanged on
the schema it leaves, as a rolling upgrade needs (the new pod migrates while the old
leader goes on writing) and as a rollback does.

Each migration is applied, on SQLite and on PostgreSQL, to a ledger at the version before
it; what the older release relies on must still be there afterwards, unchanged: every
table, every column with its type (a VARCHAR may become TEXT: what the older release
writes still fits) and (if it was nullable) its nullability, every index
and unique constraint (``ON CONFLICT`` needs them). A column added to an existing table
must be nullable or have a default (the older release's inserts leave it out), and no
statement may rewrite or delete rows (a changed meaning of what is stored). The checker
is shown to catch a drop, a rename, a NOT NULL column without a default, a narrowed type
and a backfill.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.ledger import open_ledger
from agent.ledger.schema import MIGRATIONS
from tests.harness.servers import fresh_schema

NOW = 1_700_000_000.0
Shape = dict[str, Any]

# Statements that change rows already stored: their meaning for the older release.
_REWRITES = re.compile(r"^\s*(UPDATE|DELETE|TRUNCATE)\b", re.IGNORECASE)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    base = request.getfixturevalue("postgres_url")
    yield fresh_schema(base)[0]


def shape(conn: sa.Connection) -> Shape:
    """What the older release's code relies on, per table."""
    inspector = sa.inspect(conn)
    out: Shape = {}
    for table in inspector.get_table_names():
        columns = {
            c["name"]: {
                "type": str(c["type"].compile(dialect=conn.dialect)),
                "nullable": c["nullable"],
                "default": c.get("default"),
            }
            for c in inspector.get_columns(table)
        }
        indexes = {
            i["name"]: (tuple(i["column_names"]), bool(i["unique"]))
            for i in inspector.get_indexes(table)
        }
        uniques = {
            u["name"] or ",".join(u["column_names"]): tuple(u["column_names"])
            for u in inspector.get_unique_constraints(table)
        }
        out[table] = {"columns": columns, "indexes": indexes, "uniques": uniques}
    return out


def not_expand_only(before: Shape, after: Shape, statements: list[str]) -> list[str]:
    """Why the change from ``before`` to ``after`` breaks the older release (empty: it does not)."""
    problems = []
    for table, was in before.items():
        now = after.get(table)
        if now is None:
            problems.append(f"table {table} was dropped or renamed")
            continue
        for name, column in was["columns"].items():
            new = now["columns"].get(name)
            if new is None:
                problems.append(f"column {table}.{name} was dropped or renamed")
                continue
            if new["type"] != column["type"] and not _widened(column["type"], new["type"]):
                problems.append(
                    f"column {table}.{name} changed type from {column['type']} to {new['type']}"
                )
            if column["nullable"] and not new["nullable"]:
                problems.append(f"column {table}.{name} became NOT NULL")
        for name in now["columns"].keys() - was["columns"].keys():
            new = now["columns"][name]
            if not new["nullable"] and new["default"] is None:
                problems.append(
                    f"column {table}.{name} was added NOT NULL without a default: the older "
                    "release's inserts leave it out"
                )
        for kind, called in (("indexes", "index"), ("uniques", "unique constraint")):
            for name, definition in was[kind].items():
                if now[kind].get(name) != definition:
                    problems.append(f"{called} {name} on {table} was dropped or changed")
    problems += [f"rewrites stored rows: {s.strip()}" for s in statements if _REWRITES.match(s)]
    return problems


def _widened(was: str, now: str) -> bool:
    """A VARCHAR that became TEXT: everything the older release writes still fits, and
    it reads what it wrote (migration 13)."""
    return was.startswith("VARCHAR") and now == "TEXT"


# Migrations with nothing to do on SQLite: a change PostgreSQL alone needs.
POSTGRESQL_ONLY = {13}


def apply_observed(
    url: str, version: int, apply: Callable[[sa.Connection], None]
) -> tuple[Shape, Shape, list[str]]:
    """The ledger at ``url`` migrated to ``version - 1``, then ``apply``: the shapes
    before and after, and the statements ``apply`` ran."""
    ledger = open_ledger(url, NOW, migrate=False)
    try:
        assert ledger.migrate(NOW, upto=version - 1) == version - 1
        statements: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            statements.append(statement)

        with ledger.engine.begin() as conn:
            before = shape(conn)
            sa.event.listen(conn, "before_cursor_execute", seen)
            apply(conn)
            sa.event.remove(conn, "before_cursor_execute", seen)
            after = shape(conn)
        return before, after, statements
    finally:
        ledger.close()


@pytest.mark.parametrize(
    "migration",
    [m for m in MIGRATIONS if m.version > 1 and m.expand_only],
    ids=lambda m: f"migration-{m.version}",
)
def test_a_migration_said_to_be_expand_only_is(url: str, migration: Any) -> None:
    before, after, statements = apply_observed(url, migration.version, migration.apply)
    assert not_expand_only(before, after, statements) == []
    if migration.version in POSTGRESQL_ONLY and url.startswith("sqlite"):
        assert after == before and statements == []
    else:
        assert after != before  # it did something, so the comparison compared something


def test_every_migration_is_expand_only() -> None:
    """None needs to break an older release so far. One that must (a drop once no
    release reads the column) says ``expand_only=False``, its row in ``schema_version``
    tells the releases before it to refuse the ledger, and this list names it."""
    assert [m.version for m in MIGRATIONS if not m.expand_only] == []


def _sql(*statements: str) -> Callable[[sa.Connection], None]:
    def apply(conn: sa.Connection) -> None:
        for statement in statements:
            conn.execute(sa.text(statement))

    return apply


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_sql("ALTER TABLE held_back DROP COLUMN signal"), "held_back.signal was dropped"),
        (
            _sql("ALTER TABLE held_back RENAME COLUMN message TO words"),
            "held_back.message was dropped or renamed",
        ),
        (_sql("ALTER TABLE thresholds RENAME TO limits"), "table thresholds was dropped"),
        (
            _sql("ALTER TABLE alerts ADD COLUMN owner TEXT NOT NULL DEFAULT 'x'"),
            None,  # defaulted: the older release's inserts get the default
        ),
        (_sql("CREATE INDEX ix_new ON alerts (name)"), None),
        (_sql("DROP INDEX ix_alerts_delivered"), "index ix_alerts_delivered on alerts was dropped"),
        (
            _sql("UPDATE alerts SET attempts = attempts + 1"),
            "rewrites stored rows: UPDATE alerts",
        ),
    ],
)
def test_the_check_catches_what_breaks_an_older_release(
    url: str, change: Callable[[sa.Connection], None], problem: str | None
) -> None:
    before, after, statements = apply_observed(url, MIGRATIONS[-1].version + 1, change)
    found = not_expand_only(before, after, statements)
    if problem is None:
        assert found == []
    else:
        assert any(problem in p for p in found), found


@pytest.mark.postgres
def test_the_check_catches_a_not_null_column_and_a_narrowed_type(postgres_url: str) -> None:
    """PostgreSQL only: SQLite can neither add a NOT NULL column without a default nor
    change a column's type."""
    url = fresh_schema(postgres_url)[0]
    latest = MIGRATIONS[-1].version + 1
    found = not_expand_only(
        *apply_observed(url, latest, _sql("ALTER TABLE alerts ADD COLUMN owner TEXT NOT NULL"))
    )
    assert found == [
        "column alerts.owner was added NOT NULL without a default: the older release's "
        "inserts leave it out"
    ]
    url = fresh_schema(postgres_url)[0]
    found = not_expand_only(
        *apply_observed(
            url,
            latest,
            _sql(
                "ALTER TABLE alerts ALTER COLUMN last_error TYPE VARCHAR(10)",
                "ALTER TABLE alerts ALTER COLUMN handling_by SET NOT NULL",
            ),
        )
    )
    assert found == [
        "column alerts.last_error changed type from TEXT to VARCHAR(10)",
        "column alerts.handling_by became NOT NULL",
    ]
