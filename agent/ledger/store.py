"""The ledger: Autonomic's knowledge, on SQLite (default) or PostgreSQL (for HA).

Every method is one transaction. State changes that more than one replica or one
human could race on (a question's answer, a decision's status, an execution's claim,
a guard's counter) are compare-and-set: the UPDATE names the state it expects, and
the caller learns whether it won.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, make_url

from agent.errors import (
    LEDGER_CONFLICT,
    LEDGER_UNAVAILABLE,
    ConfigError,
    TransientError,
    redact_url_passwords,
)
from agent.ledger.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    create_version_table,
    metadata,
    tables,
)

log = logging.getLogger("autonomic.ledger")

__all__ = [
    "HELD_PREFIX",
    "LATE_ANSWER_PREFIX",
    "AlertDelivery",
    "Decision",
    "DecisionRecord",
    "Feedback",
    "HeldBack",
    "HistoryRow",
    "Intent",
    "Ledger",
    "LedgerError",
    "Question",
    "StoredAlert",
    "is_hold",
    "open_ledger",
]

TERMINAL = frozenset(
    {
        "verified",
        "failed",
        "undone",
        "rejected",
        "expired",
        "escalated",
        "observed",
        "shadowed",
        "superseded",
        "done",
    }
)


# Tries of a status compare-and-set whose expected status moved on under it.
_CAS_ROUNDS = 5

# Keys per ``IN (...)`` list: well under SQLite's bound-parameter limit.
_IN_CHUNK = 500
# The longest failure kept on a stored alert's row (``last_error``), in characters.
ALERT_ERROR_CHARS = 1000

# Guards per canary release and per execution's verification: history once old.
VERIFY_PREFIX = "verify/"
AGED_GUARD_PREFIXES = ("canary/started/", VERIFY_PREFIX)
# Executions still open, however old: under way (or left so by a crash, its recovery
# failing), stopped between steps by a pause, verifying. Never pruned, nor their intents.
OPEN_RUNS = ("running", "paused", "verifying")
# Intents still in flight: a write not settled (or a drain going on), an undo under way.
OPEN_INTENTS = ("pending", "undoing")
# Execution statuses of a run closed with nothing written: a later decision on the same
# incident may take its key over (``Ledger.claim_execution``).
CLOSED_UNWRITTEN = ("superseded", "expired")
# The anomaly loop's saved series (``anomaly/<query>{labels}``).
ANOMALY_SERIES_PREFIX = "anomaly/"
# Guard keys that mark a question's late answer as kept (``Approvals``); pruned with age.
LATE_ANSWER_PREFIX = "late-answer/"
# Guard keys of a node Autonomic cordoned and someone else uncordoned (``agent.uncordons``:
# the prefix, then the node's name); read only while an action of Autonomic's on the node
# is recent enough for the guards (``Ledger.prune``'s ``guards_before``).
UNCORDONED_PREFIX = "uncordoned/"
# How the action log names a node (``ObjectRef``'s text: a cluster-scoped kind and name).
NODE_TARGET_PREFIX = "Node/"


class LedgerError(ConfigError):
    """The ledger cannot be opened or used as configured."""


@dataclass(frozen=True)
class Decision:
    """What is about to be recorded. ``evidence`` holds the numbers and the query behind them."""

    kind: str
    decision_type: str
    subject: str
    proposal: Mapping[str, Any]
    confidence: float
    reason_code: str
    reason: str
    evidence: Mapping[str, Any]
    model_version: str
    route: str
    status: str = "proposed"
    incident_key: str | None = None


# The decision type of a runbook held back by a guard and handed to a person
# (``held/restart-stuck-pods``); a trigger storm's is ``storm``.
HELD_PREFIX = "held/"


def is_hold(decision_type: str) -> bool:
    """A record of remediation held back and handed to a person (a trigger storm, or a
    runbook a limit stops: ``held/<runbook>``). It proposes nothing to execute or to
    judge: it is never executed, takes no verdict, and calibration, automation rates and
    thresholds leave it out."""
    return decision_type == "storm" or decision_type.startswith(HELD_PREFIX)


@dataclass(frozen=True)
class DecisionRecord:
    id: str
    kind: str
    decision_type: str
    subject: str
    proposal: dict[str, Any]
    confidence: float
    reason_code: str
    reason: str
    evidence: dict[str, Any]
    model_version: str
    route: str
    status: str
    incident_key: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class HistoryRow:
    """A decision as ``autonomic history`` lists it (``Ledger.decision_history``)."""

    record: DecisionRecord
    answered_by: str | None  # the person who approved or rejected its question
    past_max_wait: bool  # closed ``expired`` for being held back past approvedMaxWait


@dataclass(frozen=True)
class Question:
    id: str
    decision_id: str
    status: str
    channel: str
    message_ref: str | None
    asked_at: float
    expires_at: float
    answered_by: str | None
    answered_at: float | None
    answer_reason: str | None


@dataclass(frozen=True)
class Intent:
    id: int
    execution_key: str
    step: int
    decision_id: str | None
    operation: dict[str, Any]
    snapshot: dict[str, Any]
    status: str
    result: dict[str, Any] | None
    owner: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Feedback:
    """A ``feedback`` row written with a compare-and-set, in its transaction: kept if
    the change wins, and never without it (an answer and its record, a rejection and
    its verdict)."""

    decision_id: str
    kind: str
    outcome: str
    actor: str
    detail: Mapping[str, Any] | None = None

    def values(self, now: float) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "kind": self.kind,
            "outcome": self.outcome,
            "actor": self.actor,
            "detail": _json_safe(dict(self.detail or {}), "feedback detail"),
            "created_at": now,
        }

    def row(self, now: float) -> sa.Insert:
        return tables["feedback"].insert().values(**self.values(now))


@dataclass(frozen=True)
class HeldBack:
    """A runbook that took a signal up and did not act on ``subject``, for one reason.

    ``outcome`` is ``skipped`` (planning or a precondition found nothing to do),
    ``denied`` (a guard held it) or ``no-match`` (its trigger accepted the signal but the
    target could not be selected). ``message`` and ``signal`` are the latest seen;
    ``times`` counts each time it was held back (once per signal and cycle)."""

    runbook: str
    subject: str
    reason_code: str
    outcome: str
    message: str
    signal: str
    first_seen: float
    last_seen: float
    times: int


@dataclass(frozen=True)
class AlertDelivery:
    """One alert of an Alertmanager delivery, to be stored (``record_alerts``).

    The key is (``fingerprint``, ``starts_at``, ``status``): Alertmanager re-sends an
    alert, retries a delivery and each HA peer sends its own copy, all with the same key.
    ``ends_at`` is None unless Alertmanager gave a time (it does for a resolved alert).
    ``signal`` is what the remediation engine will handle, as JSON."""

    fingerprint: str
    starts_at: float
    status: str
    name: str
    labels: Mapping[str, str]
    signal: Mapping[str, Any]
    ends_at: float | None = None


@dataclass(frozen=True)
class StoredAlert:
    """An alert the webhook accepted: first and latest delivery; ``handled_at`` is None
    until a remediation cycle has handled it (or given it up: ``given_up_at`` then too).
    ``attempts`` counts the cycles at which handling it on its own failed, by any replica,
    ``last_error`` and ``last_attempt_at`` the latest of them."""

    id: int
    fingerprint: str
    starts_at: float
    status: str
    ends_at: float | None
    name: str
    labels: dict[str, str]
    signal: dict[str, Any]
    received_at: float
    delivered_at: float
    handled_at: float | None
    attempts: int = 0
    last_error: str | None = None
    last_attempt_at: float | None = None
    given_up_at: float | None = None
    handling_since: float | None = None  # a cycle took it in and has not finished with it
    handling_by: str | None = None  # the replica whose cycle that is (None: not known)

    @property
    def state(self) -> str:
        """pending | given-up | handled"""
        if self.given_up_at is not None:
            return "given-up"
        return "pending" if self.handled_at is None else "handled"


@dataclass
class _Stats:
    migrations_applied: list[int] = field(default_factory=list)


def _json_safe(value: Any, where: str) -> Any:
    """Round-trip through JSON now, so a bad value fails before anything is written."""
    try:
        text = json.dumps(value, allow_nan=False, sort_keys=True, default=_default)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} is not JSON-serialisable: {exc}") from exc
    return json.loads(text)


def _default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


class _Encoded(str):
    """A value already encoded (and so checked) as JSON text: stored as it is."""


def _json_text(value: Any, where: str) -> _Encoded:
    """Encode once, checking as ``_json_safe`` does; for large values (detector states),
    where a second encoding and a decoding would double the cost of a save."""
    try:
        return _Encoded(json.dumps(value, allow_nan=False, default=_default))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} is not JSON-serialisable: {exc}") from exc


def _serialize(value: Any) -> str:
    """The engine's JSON encoder: pre-encoded text as it is, anything else encoded."""
    if isinstance(value, _Encoded):
        return str(value)
    return json.dumps(value, allow_nan=False, default=_default)


def _question_row(
    question_id: str | None, decision_id: str, channel: str, now: float, ttl: float
) -> sa.Insert:
    return (
        tables["questions"]
        .insert()
        .values(
            id=question_id,
            decision_id=decision_id,
            status="pending",
            channel=channel,
            asked_at=now,
            expires_at=now + ttl,
        )
    )


def _status_row(decision_id: str, status: str, previous: str | None, now: float) -> sa.Insert:
    return (
        tables["decision_status"]
        .insert()
        .values(decision_id=decision_id, status=status, previous=previous, at=now)
    )


def _about(column: sa.Column[Any], subject: str) -> sa.ColumnElement[bool]:
    """Subjects ``subject`` names, as a person types it: the whole subject
    (``Deployment/shop/web``), its leading parts (``Deployment/shop``, ``Deployment``),
    its trailing parts (``shop/web``, ``web``); and the pods named after a workload so
    named (``web``, ``shop/web`` and ``Deployment/shop/web`` name
    ``Pod/shop/web-7d4f9-x2k1p``). Literal text: ``%`` and ``_`` match only themselves."""
    text = subject.strip("/")
    parts = text.split("/")
    named = [
        column == text,
        column.startswith(f"{text}/", autoescape=True),
        column.endswith(f"/{text}", autoescape=True),
    ]
    if len(parts) == 1:
        named.append(column.like(f"Pod/%/{_literal(text)}-%", escape="\\"))
    elif len(parts) in (2, 3) and parts[0] != "Pod":
        namespace, name = parts[-2:]
        named.append(column.startswith(f"Pod/{namespace}/{name}-", autoescape=True))
    return sa.or_(*named)


def _history_filters(
    kind: str | None,
    route: Sequence[str] | None,
    status: Sequence[str] | None,
    since: float | None,
    subject: str | None,
) -> list[sa.ColumnElement[bool]]:
    """The WHERE clauses of ``Ledger.decision_history`` and ``decision_totals``."""
    d = tables["decisions"]
    where: list[sa.ColumnElement[bool]] = []
    if kind is not None:
        where.append(d.c.kind == kind)
    if route is not None:
        where.append(d.c.route.in_(list(route)))
    if status is not None:
        where.append(d.c.status.in_(list(status)))
    if since is not None:
        where.append(d.c.created_at >= since)
    if subject is not None:
        where.append(_about(d.c.subject, subject))
    return where


# The decision types with a decision in a window (``Ledger.decision_types``): a skip
# over the ``(decision_type, created_at)`` index, from one type to the next (the first by
# ``min``, then each next by a probe past the last), and per type its newest decision
# since ``:since`` by the same index. As many probes as types kept, however many rows
# the window holds: a DISTINCT over the window would read every row of it (about
# 200,000 in 7 days at 1,000 workloads). Plain SQL that SQLite and PostgreSQL both run.
_DECISION_TYPES = sa.text(
    """
    WITH RECURSIVE types(decision_type) AS (
        SELECT min(decision_type) FROM decisions
        UNION ALL
        SELECT (
            SELECT d.decision_type FROM decisions d
            WHERE d.decision_type > types.decision_type
            ORDER BY d.decision_type LIMIT 1
        )
        FROM types WHERE types.decision_type IS NOT NULL
    )
    SELECT types.decision_type, (
        SELECT d.kind FROM decisions d
        WHERE d.decision_type = types.decision_type AND d.created_at >= :since
        ORDER BY d.created_at DESC LIMIT 1
    ) AS kind
    FROM types WHERE types.decision_type IS NOT NULL
    ORDER BY types.decision_type
    """
)


def _literal(text: str) -> str:
    """``text`` for a LIKE pattern, its wildcards and the escape character escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The reads every cycle makes, built once with bound parameters. Building a statement
# costs SQLAlchemy more than SQLite takes to run it (about 0.4 ms against 0.1 ms for a
# prebuilt one, measured on this ledger's SQLite file), and the loops make a dozen such
# reads a cycle, most finding nothing.
_DECISION_FILTERS = {
    "kind": lambda c: c.kind == sa.bindparam("kind"),
    "decision_type": lambda c: c.decision_type == sa.bindparam("decision_type"),
    "since": lambda c: c.created_at >= sa.bindparam("since"),
    "updated_since": lambda c: c.updated_at >= sa.bindparam("updated_since"),
    "status": lambda c: c.status.in_(sa.bindparam("status", expanding=True)),
}


@functools.lru_cache(maxsize=64)
def _decisions_query(filters: tuple[str, ...], limit: int) -> sa.Select[Any]:
    """The decisions read with ``filters`` (names of ``_DECISION_FILTERS``), newest first."""
    table = tables["decisions"]
    query = sa.select(table).order_by(table.c.created_at.desc()).limit(limit)
    for name in filters:
        query = query.where(_DECISION_FILTERS[name](table.c))
    return query


@functools.cache
def _prebuilt(name: str) -> sa.Select[Any]:
    """A read made every cycle, by name, its values as bound parameters."""
    if name == "decision":
        decisions = tables["decisions"]
        return sa.select(decisions).where(decisions.c.id == sa.bindparam("id"))
    if name == "guard":
        guards = tables["guard_state"]
        return sa.select(guards).where(guards.c.key == sa.bindparam("key"))
    if name == "executions":
        executions = tables["executions"]
        return (
            sa.select(executions)
            .where(executions.c.status.in_(sa.bindparam("status", expanding=True)))
            .order_by(executions.c.created_at)
        )
    feedback, questions = tables["feedback"], tables["questions"]
    if name == "feedback_since":
        return (
            sa.select(feedback)
            .where(
                feedback.c.kind == sa.bindparam("kind"),
                feedback.c.created_at >= sa.bindparam("since"),
            )
            .order_by(feedback.c.created_at.desc(), feedback.c.id.desc())
            .limit(sa.bindparam("limit"))
        )
    if name == "due_questions":
        return (
            sa.select(questions)
            .where(questions.c.status == "pending", questions.c.expires_at <= sa.bindparam("now"))
            .order_by(questions.c.expires_at, questions.c.id)
        )
    if name == "answered_since":
        return sa.select(questions).where(
            questions.c.answered_at >= sa.bindparam("since"), questions.c.status != "pending"
        )
    if name == "answered_waiting":
        decisions = tables["decisions"]
        return (
            sa.select(questions)
            .join(decisions, decisions.c.id == questions.c.decision_id)
            .where(
                decisions.c.status == "asked",
                questions.c.status.in_(("approved", "rejected", "expired")),
            )
            .order_by(questions.c.answered_at, questions.c.id)
        )
    if name == "questions":
        return (
            sa.select(questions)
            .where(questions.c.status == sa.bindparam("status"))
            .order_by(questions.c.asked_at)
            .limit(sa.bindparam("limit"))
        )
    raise KeyError(name)


def _json_array_rows(dialect: str, param: str) -> Any:
    """The strings of the JSON array bound to ``:param``, as rows (column ``value``) read
    by the database's own JSON function: one statement for any number of them."""
    if dialect == "postgresql":
        array = sa.cast(sa.bindparam(param, type_=sa.Text), postgresql.JSONB)
        rows = sa.func.jsonb_array_elements_text(array)
    else:
        rows = sa.func.json_each(sa.bindparam(param, type_=sa.Text))
    return rows.table_valued("value").alias("wanted")


@functools.cache
def _latest_query(dialect: str) -> sa.Select[Any]:
    """``Ledger.latest_decisions``'s query: the subjects a JSON array (``:subjects``), read
    as rows by the database's own JSON function, each looked up newest first."""
    table = tables["decisions"]
    names = _json_array_rows(dialect, "subjects")
    newest = (
        sa.select(table.c.id)
        .where(table.c.subject == names.c.value, table.c.decision_type == sa.bindparam("type"))
        .order_by(table.c.created_at.desc())
        .limit(1)
        .correlate(names)
        .scalar_subquery()
    )
    return sa.select(table).where(table.c.id.in_(sa.select(newest).select_from(names)))


def _latest_incidents_query(dialect: str) -> sa.Select[Any]:
    """``Ledger.latest_for_incidents``'s query: the incident keys a JSON array (``:keys``),
    each looked up newest first on the (incident_key, created_at) index, as
    ``latest_for_incident`` looks up one."""
    table = tables["decisions"]
    keys = _json_array_rows(dialect, "keys")
    newest = (
        sa.select(table.c.id)
        .where(table.c.incident_key == keys.c.value)
        .order_by(table.c.created_at.desc())
        .limit(1)
        .correlate(keys)
        .scalar_subquery()
    )
    return sa.select(table).where(table.c.id.in_(sa.select(newest).select_from(keys)))


# The advisory lock migrations take on PostgreSQL (any 64-bit number, the same in every
# release): "autonomic" in ASCII.
_MIGRATION_LOCK = 0x6175746F6E6F6D69


class Ledger:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.stats = _Stats()

    # -------------------------------------------------------------- schema
    def migrate(self, now: float, *, upto: int | None = None) -> int:
        """Bring the schema to ``upto`` (default: the newest); return the version reached."""
        with self._migration_lock():
            return self._migrate(now, SCHEMA_VERSION if upto is None else upto)

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """On PostgreSQL, one migrator at a time per database: replicas started together
        on a new ledger would otherwise apply the same migration side by side, and all
        but one fail to start on a duplicate table. A session-level advisory lock, held
        on a connection of its own while the migrations run on others; the others wait
        for it, then find the schema current. SQLite ledgers are one per replica."""
        if self.engine.dialect.name != "postgresql":
            yield
            return
        with self.engine.connect() as holder:
            _unbounded(holder)  # waits for another replica's migrations, however long
            holder.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
            holder.commit()
            try:
                yield
            finally:
                holder.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
                holder.commit()

    def _migrate(self, now: float, target: int) -> int:
        with self.engine.begin() as conn:
            create_version_table(conn)
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            self._check_newer(current)
            return current
        applied: list[int] = []
        for migration in MIGRATIONS:
            if current < migration.version <= target:
                row: dict[str, Any] = {
                    "version": migration.version,
                    "description": migration.description,
                    "applied_at": now,
                }
                if not migration.expand_only:  # the column exists from migration 11 on
                    row["breaks_older"] = True
                with self.engine.begin() as conn:
                    _unbounded(conn)  # cut and retried, a long migration would never end
                    if _begin_ddl(conn) >= migration.version:
                        continue  # another process on this SQLite file applied it first
                    migration.apply(conn)
                    conn.execute(tables["schema_version"].insert().values(**row))
                self.stats.migrations_applied.append(migration.version)
                applied.append(migration.version)
        reached = self.schema_version()
        if applied:  # said once: whoever finds the schema current afterwards says nothing
            where = self.engine.url.render_as_string()  # the password hidden
            if current == 0:
                log.info("ledger at %s created at schema version %d", where, reached)
            else:
                log.info(
                    "ledger at %s migrated from schema version %d to %d (migration%s %s)",
                    where,
                    current,
                    reached,
                    "" if len(applied) == 1 else "s",
                    ", ".join(str(v) for v in applied),
                )
        return reached

    def schema_version(self) -> int:
        with self._read() as conn:
            value = conn.execute(
                sa.select(sa.func.max(tables["schema_version"].c.version))
            ).scalar()
        return int(value or 0)

    def _check_newer(self, current: int) -> None:
        """A schema newer than this release (``current``), written by a newer one: used as
        it is if every migration above this release's is expand-only (a rolling upgrade's
        old pods, a rollback: said once, as a warning), else ``LedgerError`` naming the
        migrations that changed what this release reads."""
        where = self.engine.url.render_as_string()  # the password hidden
        table = tables["schema_version"]
        with self._read() as conn:
            breaking = conn.execute(
                sa.select(table.c.version, table.c.description)
                .where(table.c.version > SCHEMA_VERSION, table.c.breaks_older.is_(True))
                .order_by(table.c.version)
            ).all()
        if breaking:
            named = "; ".join(f"{version}: {text}" for version, text in breaking)
            raise LedgerError(
                f"the ledger at {where} has schema version {current}, newer than this release "
                f"understands ({SCHEMA_VERSION}), and a newer release's migration changed what "
                f"this one reads (migration {named}): run the newer release (or a later one), "
                "or point this one at another database"
            )
        log.warning(
            "ledger at %s has schema version %d, newer than this release's (%d); the newer "
            "migrations (%s) only add to it, so this release runs on it, as it does while a "
            "rolling upgrade or a rollback is under way; run one release on every replica",
            where,
            current,
            SCHEMA_VERSION,
            ", ".join(str(v) for v in range(SCHEMA_VERSION + 1, current + 1)),
        )

    # ----------------------------------------------------------- decisions
    def record_decision(self, decision: Decision, now: float) -> str:
        """Write a decision atomically; a value that cannot be stored writes nothing."""
        decision_id, _ = self._record(decision, now, None)
        return decision_id

    def record_question(
        self, decision: Decision, now: float, *, channel: str, ttl: float
    ) -> tuple[str, str]:
        """Write a decision and its pending question in one transaction: (decision id,
        question id). A crash can never leave an asked decision without its question."""
        decision_id, question_id = self._record(decision, now, (channel, ttl))
        assert question_id is not None
        return decision_id, question_id

    def _record(
        self, decision: Decision, now: float, question: tuple[str, float] | None
    ) -> tuple[str, str | None]:
        if not (0.0 <= decision.confidence <= 1.0) or math.isnan(decision.confidence):
            raise ValueError(f"confidence must be in [0, 1], got {decision.confidence!r}")
        proposal = _json_safe(dict(decision.proposal), "proposal")
        evidence = _json_safe(dict(decision.evidence), "evidence")
        decision_id = uuid.uuid4().hex
        question_id = uuid.uuid4().hex if question is not None else None
        with self._tx() as conn:
            conn.execute(
                tables["decisions"]
                .insert()
                .values(
                    id=decision_id,
                    kind=decision.kind,
                    decision_type=decision.decision_type,
                    subject=decision.subject,
                    proposal=proposal,
                    confidence=float(decision.confidence),
                    reason_code=decision.reason_code,
                    reason=decision.reason,
                    evidence=evidence,
                    model_version=decision.model_version,
                    route=decision.route,
                    status=decision.status,
                    incident_key=decision.incident_key,
                    created_at=now,
                    updated_at=now,
                )
            )
            conn.execute(_status_row(decision_id, decision.status, None, now))
            if question is not None:
                channel, ttl = question
                conn.execute(_question_row(question_id, decision_id, channel, now, ttl))
        return decision_id, question_id

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        with self._read() as conn:
            row = conn.execute(_prebuilt("decision"), {"id": decision_id}).mappings().first()
        return DecisionRecord(**row) if row else None

    def latest_for_incident(self, incident_key: str) -> DecisionRecord | None:
        """The newest decision recorded for an incident (one incident, one decision)."""
        table = tables["decisions"]
        with self._read() as conn:
            row = (
                conn.execute(
                    sa.select(table)
                    .where(table.c.incident_key == incident_key)
                    .order_by(table.c.created_at.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
        return DecisionRecord(**row) if row else None

    def latest_for_incidents(self, incident_keys: Sequence[str]) -> dict[str, DecisionRecord]:
        """``latest_for_incident`` of each of ``incident_keys``, by key; a key with no
        decision is absent. One query, however many keys (they go as one JSON array): for
        a cycle that looks at a thousand firing alerts' incidents at once."""
        if not incident_keys:
            return {}
        values = {"keys": json.dumps(sorted(set(incident_keys)))}
        with self._read() as conn:
            query = _latest_incidents_query(self.engine.dialect.name)
            rows = conn.execute(query, values).mappings()
            return {row["incident_key"]: DecisionRecord(**row) for row in rows}

    def latest_decisions(
        self, decision_type: str, subjects: Sequence[str]
    ) -> dict[str, DecisionRecord]:
        """The newest decision of ``decision_type`` about each of ``subjects`` (the subject
        exactly as recorded), by subject; a subject with none is absent. One query, however
        many subjects (they go as one JSON array): for a loop that looks at a thousand
        workloads' history at once. Each subject's newest is found by walking its
        (subject, created_at) index from the newest end, not by reading its history."""
        if not subjects:
            return {}
        values = {"subjects": json.dumps(sorted(set(subjects))), "type": decision_type}
        with self._read() as conn:
            rows = conn.execute(_latest_query(self.engine.dialect.name), values).mappings()
            return {row["subject"]: DecisionRecord(**row) for row in rows}

    def find_decisions(self, prefix: str) -> list[str]:
        """Decision ids starting with ``prefix`` (so people can type a short id). The
        prefix is literal text: ``%`` and ``_`` in it match only themselves. Ids are
        lower-case hex: the prefix is read in lower case (SQLite's LIKE ignores ASCII case,
        PostgreSQL's does not, and an upper-case prefix was found on one only)."""
        prefix = prefix.lower()
        col = tables["decisions"].c.id
        with self._read() as conn:
            return list(
                conn.execute(
                    sa.select(col).where(col.startswith(prefix, autoescape=True)).limit(5)
                ).scalars()
            )

    def transition(
        self,
        decision_id: str,
        expected: Iterable[str],
        new_status: str,
        now: float,
        *,
        feedback: Sequence[Feedback] = (),
    ) -> bool:
        """Compare-and-set a decision's status; True if this caller made the change.

        The change, its row in the status history and ``feedback`` are one transaction;
        the UPDATE names the status read just before, so a change made in between by
        another replica or person makes this one lose, as it would without the history."""
        rows = [item.row(now) for item in feedback]  # a bad value fails before any write
        with self._tx() as conn:
            return self._move(conn, decision_id, set(expected), new_status, now, rows)

    def settle(
        self,
        decision_id: str,
        expected: Iterable[str],
        new_status: str,
        now: float,
        verdict: Feedback,
    ) -> tuple[bool, bool]:
        """A verdict and the final status it brings, in one transaction: (status moved,
        verdict written).

        A decision holds one verdict of a kind from an actor: when the status has
        already left ``expected`` (a decision closed before its verification came, as a
        canary's promotion is; or this very call retried after a failure that hid its
        commit), the verdict is written only if the decision holds none of its kind from
        its actor yet, so a retry never counts one outcome twice. The verdict is flagged
        once-only, and a unique index over such rows (migration 14) settles two calls
        that both found none at the same moment (two replicas; a retry racing the call
        it repeats, which PostgreSQL at READ COMMITTED lets both see as not written):
        the second to insert writes nothing and is told so. So is a call that moves the
        status of a decision whose verdict was written ahead with its run's closing
        (``set_execution_status``): ``(True, False)``, the verdict written ahead kept."""
        values = {**verdict.values(now), "once_only": True}
        with self._tx() as conn:
            moved = self._move(conn, decision_id, set(expected), new_status, now, [])
            if not moved:
                fb = tables["feedback"]
                exists = conn.execute(
                    sa.select(fb.c.id)
                    .where(
                        fb.c.decision_id == decision_id,
                        fb.c.kind == verdict.kind,
                        fb.c.actor == verdict.actor,
                    )
                    .limit(1)
                ).first()
                if exists is not None:
                    return False, False
                decisions = tables["decisions"]
                known = conn.execute(
                    sa.select(decisions.c.id).where(decisions.c.id == decision_id)
                ).first()
                if known is None:
                    return False, False
            insert = _insert_or_nothing(conn, tables["feedback"], (), returning=True)
            written = conn.execute(insert.values(**values)).first() is not None
            return moved, written

    @staticmethod
    def _move(
        conn: sa.Connection,
        decision_id: str,
        allowed: set[str],
        new_status: str,
        now: float,
        rows: Sequence[sa.Insert],
    ) -> bool:
        table = tables["decisions"]
        # Re-read when another writer changed the status in between: the change may
        # still be allowed from the status it left (approved, then executing).
        for _ in range(_CAS_ROUNDS):
            current = conn.execute(
                sa.select(table.c.status).where(table.c.id == decision_id)
            ).scalar()
            if current is None or current not in allowed:
                return False
            done = conn.execute(
                table.update()
                .where(table.c.id == decision_id, table.c.status == current)
                .values(status=new_status, updated_at=now)
            )
            if done.rowcount == 1:
                conn.execute(_status_row(decision_id, new_status, current, now))
                for row in rows:
                    conn.execute(row)
                return True
        return False

    def status_history(self, decision_id: str) -> list[tuple[float, str | None, str]]:
        """Each status the decision took, oldest first: (when, previous status, status)."""
        table = tables["decision_status"]
        with self._read() as conn:
            rows = conn.execute(
                sa.select(table.c.at, table.c.previous, table.c.status)
                .where(table.c.decision_id == decision_id)
                .order_by(table.c.id)
            ).all()
        return [(float(at), previous, status) for at, previous, status in rows]

    def decisions(
        self,
        *,
        kind: str | None = None,
        decision_type: str | None = None,
        since: float | None = None,
        status: Sequence[str] | None = None,
        limit: int = 1000,
        updated_since: float | None = None,
        subject: str | None = None,
        type_prefix: str | None = None,
        runbook: str | None = None,
    ) -> list[DecisionRecord]:
        """Newest first. ``since`` filters on when a decision was made, ``updated_since``
        on when its status last changed; ``subject`` is matched as ``held_back`` matches
        it, ``type_prefix`` is the start of the decision type (``runbook/``); ``runbook``
        names a remediation runbook whose decisions are wanted: its own
        (``NAME/Kind``), whatever became of them (run, asked, rejected, expired), and
        its hand-offs to a person (``held/NAME``)."""
        table = tables["decisions"]
        values: dict[str, Any] = {
            name: value
            for name, value in (
                ("kind", kind),
                ("decision_type", decision_type),
                ("since", since),
                ("updated_since", updated_since),
                ("status", None if status is None else list(status)),
            )
            if value is not None
        }
        if subject is None and type_prefix is None and runbook is None:
            with self._read() as conn:
                rows = conn.execute(_decisions_query(tuple(values), limit), values).mappings()
                return [DecisionRecord(**row) for row in rows]
        query = sa.select(table).order_by(table.c.created_at.desc()).limit(limit)
        if kind is not None:
            query = query.where(table.c.kind == kind)
        if decision_type is not None:
            query = query.where(table.c.decision_type == decision_type)
        if subject is not None:
            query = query.where(_about(table.c.subject, subject))
        if type_prefix is not None:
            query = query.where(table.c.decision_type.startswith(type_prefix, autoescape=True))
        if runbook is not None:
            query = query.where(
                sa.or_(
                    table.c.decision_type.startswith(f"{runbook}/", autoescape=True),
                    table.c.decision_type == f"{HELD_PREFIX}{runbook}",
                )
            )
        if since is not None:
            query = query.where(table.c.created_at >= since)
        if updated_since is not None:
            query = query.where(table.c.updated_at >= updated_since)
        if status is not None:
            query = query.where(table.c.status.in_(list(status)))
        with self._read() as conn:
            return [DecisionRecord(**row) for row in conn.execute(query).mappings()]

    def decision_types(self, *, since: float) -> dict[str, str]:
        """Each decision type with a decision made at or after ``since``, with the kind
        of its newest such decision, in the types' order.

        Whatever the window holds: a type decided once in it is found however many
        decisions of other types came after. Read by a skip over the ``(decision_type,
        created_at)`` index: one probe for the next type and one for its newest decision
        in the window, per type kept in the ledger; not a walk over the window's rows."""
        with self._read() as conn:
            rows = conn.execute(_DECISION_TYPES, {"since": since}).all()
        return {decision_type: kind for decision_type, kind in rows if kind is not None}

    def route_counts(
        self, decision_type: str, *, since: float, limit: int
    ) -> dict[tuple[str, str], int]:
        """How many of the newest ``limit`` decisions of ``decision_type`` made at or
        after ``since`` have each (route, status): at most ``limit`` rows read, by the
        ``(decision_type, created_at)`` index."""
        table = tables["decisions"]
        newest = (
            sa.select(table.c.route, table.c.status)
            .where(table.c.decision_type == decision_type, table.c.created_at >= since)
            .order_by(table.c.created_at.desc())
            .limit(limit)
            .subquery()
        )
        query = sa.select(newest.c.route, newest.c.status, sa.func.count()).group_by(
            newest.c.route, newest.c.status
        )
        with self._read() as conn:
            return {(route, status): int(n) for route, status, n in conn.execute(query).all()}

    def decision_history(
        self,
        *,
        kind: str | None = None,
        route: Sequence[str] | None = None,
        status: Sequence[str] | None = None,
        since: float | None = None,
        subject: str | None = None,
        limit: int = 50,
    ) -> list[HistoryRow]:
        """Decisions of every job, newest first, each with who answered its question (a
        person: a question approved or rejected, the newest such) and whether an
        ``expired`` one was closed for being held back past ``safety.approvedMaxWait``.
        One query, whatever ``limit`` is: both are subqueries of the same SELECT, read
        by the decision's index on the questions and feedback tables. ``subject`` is
        matched as ``held_back`` matches it."""
        d, q, f = tables["decisions"], tables["questions"], tables["feedback"]
        answered_by = (
            sa.select(q.c.answered_by)
            .where(q.c.decision_id == d.c.id, q.c.status.in_(("approved", "rejected")))
            .order_by(q.c.answered_at.desc())
            .limit(1)
            .scalar_subquery()
        )
        # Found by the decision's index (a few rows each). The kind is compared as
        # ``kind || ''``, which no index serves: SQLite, which has no statistics (the
        # daemon never runs ANALYZE), otherwise takes the (kind, created_at) index and
        # walks every ``execution`` feedback row kept, for each expired decision listed.
        past_max_wait = sa.exists().where(
            f.c.decision_id == d.c.id,
            f.c.kind.concat("") == "execution",
            f.c.outcome == "expired",
        )
        query = (
            sa.select(
                d,
                answered_by.label("answered_by"),
                sa.case((d.c.status == "expired", past_max_wait), else_=sa.false()).label(
                    "past_max_wait"
                ),
            )
            .where(*_history_filters(kind, route, status, since, subject))
            .order_by(d.c.created_at.desc(), d.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            rows = conn.execute(query).mappings()
            return [
                HistoryRow(
                    DecisionRecord(**{column.name: row[column.name] for column in d.c}),
                    row["answered_by"],
                    bool(row["past_max_wait"]),
                )
                for row in rows
            ]

    def decision_totals(
        self,
        *,
        kind: str | None = None,
        route: Sequence[str] | None = None,
        status: Sequence[str] | None = None,
        since: float | None = None,
        subject: str | None = None,
    ) -> dict[tuple[str, str], int]:
        """How many decisions ``decision_history`` with the same filters would list
        without a limit, by (route, status): one grouped query."""
        d = tables["decisions"]
        query = (
            sa.select(d.c.route, d.c.status, sa.func.count())
            .where(*_history_filters(kind, route, status, since, subject))
            .group_by(d.c.route, d.c.status)
        )
        with self._read() as conn:
            return {(r, s): int(n) for r, s, n in conn.execute(query)}

    def _type_window(self, decision_type: str, limit: int) -> sa.Subquery:
        """The newest ``limit`` decisions of one type, narrow: id, route and status."""
        d = tables["decisions"]
        return (
            sa.select(d.c.id, d.c.route, d.c.status)
            .where(d.c.decision_type == decision_type)
            .order_by(d.c.created_at.desc())
            .limit(limit)
            .subquery()
        )

    def route_tally(
        self,
        decision_type: str,
        *,
        routes: Sequence[str],
        limit: int,
        machine_actors: Iterable[str] = (),
    ) -> dict[tuple[str, str], tuple[int, int]]:
        """Of the newest ``limit`` decisions of one type, those routed one of ``routes``,
        counted by (route, status): (how many, how many a person corrected). Corrected:
        the decision's newest ``right``/``wrong`` feedback (by id) is ``wrong``, given by
        an actor not in ``machine_actors``, and not a verdict in hindsight. One grouped
        query that reads no JSON column; the feedback is found by the decision's index."""
        f = tables["feedback"]
        window = self._type_window(decision_type, limit)
        # 1 when the decision's newest verdict is a person's correction, 0 when it is
        # not, NULL when it has none.
        corrected = (
            sa.select(
                sa.case(
                    (
                        sa.and_(
                            f.c.outcome == "wrong",
                            f.c.kind != "hindsight",
                            f.c.actor.not_in(sorted(machine_actors)),
                        ),
                        1,
                    ),
                    else_=0,
                )
            )
            .where(f.c.decision_id == window.c.id, f.c.outcome.in_(("right", "wrong")))
            .order_by(f.c.id.desc())
            .limit(1)
            .correlate(window)
            .scalar_subquery()
        )
        query = (
            sa.select(
                window.c.route,
                window.c.status,
                sa.func.count(),
                sa.func.sum(sa.func.coalesce(corrected, 0)),
            )
            .where(window.c.route.in_(list(routes)))
            .group_by(window.c.route, window.c.status)
        )
        with self._read() as conn:
            return {
                (str(route), str(status)): (int(n), int(fixed or 0))
                for route, status, n, fixed in conn.execute(query)
            }

    def newest_evidence(
        self,
        decision_type: str,
        found: Callable[[dict[str, Any]], bool],
        *,
        routes: Sequence[str],
        limit: int,
    ) -> dict[str, Any] | None:
        """The evidence of the newest decision of one type, among its newest ``limit``,
        routed one of ``routes``, for which ``found`` holds; None if none does. Rows are
        read newest first in batches and the read stops at the first match, so a ledger
        whose newest decision matches reads one batch, not ``limit`` evidence blobs."""
        d = tables["decisions"]
        query = (
            sa.select(d.c.route, d.c.evidence)
            .where(d.c.decision_type == decision_type)
            .order_by(d.c.created_at.desc())
            .limit(limit)
            .execution_options(yield_per=200)
        )
        wanted = set(routes)
        with self._read() as conn:
            result = conn.execute(query)
            try:
                for route, evidence in result:
                    if route in wanted and isinstance(evidence, dict) and found(evidence):
                        return evidence
            finally:
                result.close()
        return None

    # ------------------------------------------------------------ feedback
    def add_feedback(
        self,
        decision_id: str,
        kind: str,
        outcome: str,
        actor: str,
        now: float,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        row = Feedback(decision_id, kind, outcome, actor, detail).row(now)
        with self._tx() as conn:
            conn.execute(row)

    def feedback_since(self, kind: str, since: float, limit: int = 200) -> list[dict[str, Any]]:
        """Feedback rows of one ``kind`` recorded at or after ``since``, newest first."""
        values = {"kind": kind, "since": since, "limit": limit}
        with self._read() as conn:
            return [
                dict(row) for row in conn.execute(_prebuilt("feedback_since"), values).mappings()
            ]

    def feedback_for(self, decision_id: str) -> list[dict[str, Any]]:
        table = tables["feedback"]
        with self._read() as conn:
            rows = conn.execute(
                sa.select(table).where(table.c.decision_id == decision_id).order_by(table.c.id)
            ).mappings()
            return [dict(row) for row in rows]

    def incident_hindsight(self, incident_key: str) -> dict[str, Any] | None:
        """The newest hindsight verdict (``right`` or ``wrong``, ``agent.verdicts``) on
        any decision of an incident, as its feedback row; None if nobody gave one. One
        query on the incident's decisions (a person may judge its first escalation after
        it was raised again): the remediation engine reads it before raising the incident
        again."""
        d, f = tables["decisions"], tables["feedback"]
        query = (
            sa.select(f)
            .join(d, f.c.decision_id == d.c.id)
            .where(
                d.c.incident_key == incident_key,
                f.c.kind == "hindsight",
                f.c.outcome.in_(("right", "wrong")),
            )
            .order_by(f.c.created_at.desc(), f.c.id.desc())
            .limit(1)
        )
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    def outcomes(
        self, decision_type: str, *, route: str | None = None, limit: int = 50
    ) -> list[tuple[float, float, str, str]]:
        """Recent (time, stated confidence, outcome, route) for decisions of one type with a
        verdict, newest first.

        The outcome is the last ``right``/``wrong`` feedback recorded against each decision.
        When that is a verdict in hindsight, the route is ``escalate``, whatever route the
        decision took: it reached a person by an escalation, nobody having acted on it (an
        automatic decision held back past ``safety.approvedMaxWait`` and closed
        ``expired`` is no automatic action that went right or wrong, and must not move the
        type's ``auto`` threshold).
        """
        d = tables["decisions"]
        rows = self._verdicts(d.c.decision_type == decision_type, route=route, limit=limit)
        return [(at, confidence, outcome, routed) for _, at, confidence, outcome, routed, _ in rows]

    def subject_outcomes(
        self, decision_type: str, *, limit: int = 50
    ) -> list[tuple[float, float, str, str, str]]:
        """``outcomes`` with each decision's subject (``Deployment/shop/web``) last: a
        track record that can be read per namespace."""
        d = tables["decisions"]
        rows = self._verdicts(d.c.decision_type == decision_type, route=None, limit=limit)
        return [row[1:] for row in rows]

    def kind_outcomes(
        self, kind: str, *, limit: int = 500
    ) -> list[tuple[str, float, float, str, str]]:
        """Recent (decision type, time, stated confidence, outcome, route) for decisions of
        one kind (every remediation runbook, say) with a verdict, newest first."""
        rows = self._verdicts(tables["decisions"].c.kind == kind, route=None, limit=limit)
        return [row[:5] for row in rows]

    def _verdicts(
        self, which: sa.ColumnElement[bool], *, route: str | None, limit: int
    ) -> list[tuple[str, float, float, str, str, str]]:
        d, f = tables["decisions"], tables["feedback"]
        query = (
            sa.select(
                d.c.id,
                d.c.decision_type,
                d.c.created_at,
                d.c.confidence,
                d.c.route,
                d.c.subject,
                f.c.outcome,
                f.c.kind,
                f.c.id.label("fid"),
            )
            .join(f, f.c.decision_id == d.c.id)
            .where(which, f.c.outcome.in_(("right", "wrong")))
            .order_by(d.c.created_at.desc(), f.c.id.desc())
        )
        seen: set[str] = set()
        kept: list[tuple[str, float, float, str, str, str]] = []
        with self._read() as conn:
            for row in conn.execute(query):
                if row.id in seen:
                    continue
                seen.add(row.id)
                # Judged in hindsight: nobody acted on it (``outcomes``).
                routed = "escalate" if row.kind == "hindsight" else row.route
                if route is not None and routed != route:
                    continue
                kept.append(
                    (
                        row.decision_type,
                        row.created_at,
                        row.confidence,
                        row.outcome,
                        routed,
                        row.subject,
                    )
                )
                if len(kept) >= limit:
                    break
        return kept

    # ----------------------------------------------------------- questions
    def ask(self, decision_id: str, channel: str, now: float, ttl: float) -> str:
        question_id = uuid.uuid4().hex
        with self._tx() as conn:
            conn.execute(_question_row(question_id, decision_id, channel, now, ttl))
        return question_id

    def set_message_ref(
        self,
        question_id: str,
        ref: str,
        *,
        expires_at: float | None = None,
        now: float | None = None,
    ) -> str | None:
        """Where the question is shown, recorded only if no message is recorded for it
        yet (a compare-and-set): returns the message the question keeps, ``ref`` when
        this write took, else the one recorded first (two replicas that both posted it,
        a deposed leader's poster and the new leader's ``repost_unposted``: the later
        post is not the question's, and its poster says so in it); None for a question
        not in the ledger. Before, the last write won, and the other message kept live
        buttons that nothing rewrote after the answer.

        ``expires_at``: and, when this write took and the question is still pending and
        would expire sooner, its new expiry (a question posted late gets its whole TTL
        from when it is shown), in the same write. Not one whose expiry had come by
        ``now`` (the post ended after it): ``expire_due`` may be escalating it as
        unanswered, and a moved expiry would fail its mark after the on-call was told."""
        table = tables["questions"]
        unset = sa.or_(table.c.message_ref.is_(None), table.c.message_ref == "")
        with self._tx() as conn:
            took = conn.execute(
                table.update().where(table.c.id == question_id, unset).values(message_ref=ref)
            )
            if took.rowcount != 1:
                kept = conn.execute(
                    sa.select(table.c.message_ref).where(table.c.id == question_id)
                ).scalar_one_or_none()
                return str(kept) if kept else None
            if expires_at is not None:
                due = table.c.expires_at > now if now is not None else sa.true()
                conn.execute(
                    table.update()
                    .where(
                        table.c.id == question_id,
                        table.c.status == "pending",
                        table.c.expires_at < expires_at,
                        due,
                    )
                    .values(expires_at=expires_at)
                )
        return ref

    def answer(
        self,
        question_id: str,
        answer: str,
        actor: str,
        now: float,
        reason: str | None = None,
        *,
        snooze_until: float | None = None,
        feedback: Sequence[Feedback] = (),
    ) -> bool:
        """Answer a pending question exactly once (compare-and-set); False if already answered
        or expired. ``snoozed`` keeps the question open until ``snooze_until``. ``feedback``
        is written in the same transaction, only if this answer wins."""
        table = tables["questions"]
        rows = [item.row(now) for item in feedback]
        values: dict[str, Any] = {"answered_by": actor, "answered_at": now, "answer_reason": reason}
        if answer == "snoozed":
            if snooze_until is None:
                raise ValueError("a snooze needs snooze_until")
            values.update(status="pending", expires_at=snooze_until)
        else:
            values["status"] = answer
        with self._tx() as conn:
            done = conn.execute(
                table.update()
                .where(
                    table.c.id == question_id,
                    table.c.status == "pending",
                    table.c.expires_at > now,
                )
                .values(**values)
            )
            if done.rowcount == 1:
                for row in rows:
                    conn.execute(row)
        return bool(done.rowcount == 1)

    def expire_questions(self, now: float) -> list[Question]:
        """Mark pending questions past their expiry as expired; return those this call expired."""
        found = (self.expire_question(q, now) for q in self.due_questions(now))
        return [question for question in found if question is not None]

    def due_questions(self, now: float) -> list[Question]:
        """Pending questions whose expiry has come, oldest expiry first (nothing changed)."""
        with self._read() as conn:
            rows = conn.execute(_prebuilt("due_questions"), {"now": now}).mappings()
            return [Question(**row) for row in rows]

    def expire_question(
        self, question: Question, now: float, *, feedback: Sequence[Feedback] = ()
    ) -> Question | None:
        """Expire one pending question whose expiry has come (compare-and-set, with
        ``feedback`` in the same transaction); None if it was answered or snoozed first."""
        table = tables["questions"]
        rows = [item.row(now) for item in feedback]
        with self._tx() as conn:
            done = conn.execute(
                table.update()
                .where(
                    table.c.id == question.id,
                    table.c.status == "pending",
                    table.c.expires_at <= now,
                )
                .values(status="expired", answered_at=now, answered_by="timeout")
            )
            if done.rowcount != 1:
                return None
            for row in rows:
                conn.execute(row)
        return replace(question, status="expired", answered_at=now, answered_by="timeout")

    def supersede_question(
        self,
        question: Question,
        why: str,
        now: float,
        *,
        feedback: Sequence[Feedback] = (),
    ) -> Question | None:
        """Close a pending question that no longer means anything (what it asks about
        was settled without it), and its decision with it (``asked`` to ``superseded``),
        in one transaction with ``feedback``: a compare-and-set, so an answer or expiry
        recorded first wins and this changes nothing (None). ``why`` is kept as the
        question's ``answer_reason``; the closer is ``autonomic``, nobody's answer."""
        table = tables["questions"]
        rows = [item.row(now) for item in feedback]
        try:
            with self._tx() as conn:
                done = conn.execute(
                    table.update()
                    .where(table.c.id == question.id, table.c.status == "pending")
                    .values(
                        status="superseded",
                        answered_at=now,
                        answered_by="autonomic",
                        answer_reason=why,
                    )
                )
                if done.rowcount != 1:
                    return None
                if not self._move(conn, question.decision_id, {"asked"}, "superseded", now, rows):
                    raise _LostError  # the decision left "asked" first: the question stays open
        except _LostError:
            return None
        return replace(
            question,
            status="superseded",
            answered_at=now,
            answered_by="autonomic",
            answer_reason=why,
        )

    def answered_since(self, since: float) -> list[Question]:
        """Questions answered (or expired) at or after ``since``."""
        with self._read() as conn:
            rows = conn.execute(_prebuilt("answered_since"), {"since": since}).mappings()
            return [Question(**row) for row in rows]

    def answered_waiting(self) -> list[Question]:
        """Questions answered (or expired) whose decision still waits as "asked": an
        answer recorded and not carried into its decision, however long ago."""
        with self._read() as conn:
            rows = conn.execute(_prebuilt("answered_waiting")).mappings()
            return [Question(**row) for row in rows]

    def question(self, question_id: str) -> Question | None:
        table = tables["questions"]
        with self._read() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == question_id)).mappings().first()
        return Question(**row) if row else None

    def questions_for(self, decision_ids: Iterable[str]) -> list[Question]:
        """The questions asked about these decisions, oldest first."""
        table = tables["questions"]
        ids = list(dict.fromkeys(decision_ids))
        found: list[Question] = []
        with self._read() as conn:
            for start in range(0, len(ids), 500):  # bounded IN lists
                query = sa.select(table).where(table.c.decision_id.in_(ids[start : start + 500]))
                found.extend(Question(**row) for row in conn.execute(query).mappings())
        return sorted(found, key=lambda q: q.asked_at)

    def find_questions(self, prefix: str, limit: int = 5) -> list[Question]:
        """Questions whose id, or whose decision's id, starts with ``prefix`` (a short
        id typed by a person), newest first; in lower case, as ``find_decisions``."""
        prefix = prefix.lower()
        table = tables["questions"]
        query = (
            sa.select(table)
            .where(
                sa.or_(
                    table.c.id.startswith(prefix, autoescape=True),
                    table.c.decision_id.startswith(prefix, autoescape=True),
                )
            )
            .order_by(table.c.asked_at.desc())
            .limit(limit)
        )
        with self._read() as conn:
            return [Question(**row) for row in conn.execute(query).mappings()]

    def questions(
        self, status: str | None = "pending", limit: int = 200, *, newest: bool = False
    ) -> list[Question]:
        """Questions in ``status`` (None: any), oldest first, at most ``limit``: the
        oldest ones, or with ``newest`` the newest ones (still listed oldest first)."""
        if status is not None and not newest:
            values = {"status": status, "limit": limit}
            with self._read() as conn:
                rows = conn.execute(_prebuilt("questions"), values).mappings()
                return [Question(**row) for row in rows]
        table = tables["questions"]
        order = (table.c.asked_at.desc(), table.c.id.desc()) if newest else (table.c.asked_at,)
        query = sa.select(table).order_by(*order).limit(limit)
        if status is not None:
            query = query.where(table.c.status == status)
        with self._read() as conn:
            found = [Question(**row) for row in conn.execute(query).mappings()]
        return found[::-1] if newest else found

    def count_questions(self, status: str | None = "pending") -> int:
        """How many questions are in ``status`` (None: any)."""
        table = tables["questions"]
        query = sa.select(sa.func.count()).select_from(table)
        if status is not None:
            query = query.where(table.c.status == status)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    # ---------------------------------------------------- executions, intents
    def claim_execution(
        self, key: str, decision_id: str, runbook: str, target: str, owner: str, now: float
    ) -> bool:
        """Claim an execution key exactly once across replicas and restarts.

        The key is the incident's, and an incident may be decided again after its run was
        closed with nothing written (``superseded``, ``expired``: the object it was about
        replaced since the plan, its signal over, an approval held back too long). Such a
        row, of another decision and with no write-ahead intent under its key, is taken
        over by the new decision (compare-and-set, so two replicas claiming it take it
        once); any other row already there refuses the claim."""
        values = {
            "decision_id": decision_id,
            "runbook": runbook,
            "target": target,
            "status": "running",
            "owner": owner,
            "created_at": now,
            "updated_at": now,
        }
        table = tables["executions"]
        try:
            with self._tx() as conn:
                conn.execute(table.insert().values(key=key, **values))
        except sa.exc.IntegrityError:
            intents = tables["intents"]
            with self._tx() as conn:
                taken = conn.execute(
                    table.update()
                    .where(
                        table.c.key == key,
                        table.c.decision_id != decision_id,
                        table.c.status.in_(CLOSED_UNWRITTEN),
                        ~sa.exists().where(intents.c.execution_key == key),
                    )
                    .values(**values)
                ).rowcount
            return bool(taken == 1)
        return True

    def execution(self, key: str) -> dict[str, Any] | None:
        table = tables["executions"]
        with self._read() as conn:
            row = conn.execute(sa.select(table).where(table.c.key == key)).mappings().first()
        return dict(row) if row else None

    def set_execution_status(
        self,
        key: str,
        expected: Iterable[str],
        status: str,
        now: float,
        verdict: Feedback | None = None,
    ) -> bool:
        """Compare-and-set an execution's status; whether it moved. ``verdict``: the
        decision's verdict, written in the same transaction when the status moves, so
        that a run closed ``failed`` keeps how it was judged (wrong, or inconclusive: a
        refusal that is not the runbook's fault) even when the process dies before the
        decision itself is closed (``settle`` then closes it without a second verdict:
        the row is once-only, as ``settle``'s are)."""
        table = tables["executions"]
        with self._tx() as conn:
            done = conn.execute(
                table.update()
                .where(table.c.key == key, table.c.status.in_(list(expected)))
                .values(status=status, updated_at=now)
            )
            moved = bool(done.rowcount == 1)
            if moved and verdict is not None:
                insert = _insert_or_nothing(conn, tables["feedback"], (), returning=False)
                conn.execute(insert.values(**verdict.values(now), once_only=True))
        return moved

    def executions(self, status: Sequence[str]) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(_prebuilt("executions"), {"status": list(status)}).mappings()
            return [dict(row) for row in rows]

    def record_intent(
        self,
        execution_key: str,
        step: int,
        operation: Mapping[str, Any],
        snapshot: Mapping[str, Any],
        owner: str,
        now: float,
        decision_id: str | None = None,
    ) -> int | None:
        """Write-ahead: record what is about to be written and how to undo it.

        Returns the intent id, or None if this step already has an intent (so the
        caller must reconcile rather than write again), or if ``decision_id``'s run is no
        longer the one under ``execution_key``: closed with nothing written (the run, or
        its decision: ``close_unstarted`` closes the decision first), or its key taken
        over by the incident's next decision (``claim_execution``). A writer that lost
        its lease part-way through a step must not leave its intent there: it would keep
        the key from the next decision, stand for that decision's own step, or sit
        under a run closed as never written, which nothing then settles. The run's row
        is locked (``FOR UPDATE`` on PostgreSQL, the write lock on SQLite), so a
        takeover or a ``close_unstarted`` waits for this transaction and then finds the
        intent, or this one finds the takeover or the closing.
        """
        op = _json_safe(dict(operation), "operation")
        snap = _json_safe(dict(snapshot), "snapshot")
        try:
            with self._tx() as conn:
                if decision_id is not None:
                    run = _lock_run(conn, execution_key)
                    if run is not None and (
                        run.decision_id != decision_id
                        or run.status in CLOSED_UNWRITTEN
                        or _decision_status(conn, decision_id) in CLOSED_UNWRITTEN
                    ):
                        return None
                result = conn.execute(
                    tables["intents"]
                    .insert()
                    .values(
                        execution_key=execution_key,
                        step=step,
                        decision_id=decision_id,
                        operation=op,
                        snapshot=snap,
                        status="pending",
                        owner=owner,
                        created_at=now,
                        updated_at=now,
                    )
                )
                key = result.inserted_primary_key
        except sa.exc.IntegrityError:
            return None
        return int(key[0]) if key else None

    def close_unstarted(
        self,
        key: str,
        decision_id: str,
        expected: Iterable[str],
        status: str,
        now: float,
        *,
        feedback: Sequence[Feedback] = (),
    ) -> str:
        """Close the decision of a run that wrote nothing, as ``status`` (``superseded``,
        ``expired``), if its run under ``key`` still has no write-ahead intent: the look
        for an intent and the decision's compare-and-set (with its status row and
        ``feedback``) are one transaction, with the run's row locked (``FOR UPDATE`` on
        PostgreSQL, the write lock on SQLite), as ``record_intent`` locks it. So a writer
        of the run's step (a replica that lost its lease mid-step, a recovery on another
        thread) records its intent before, and this finds it, or after, and
        ``record_intent`` refuses it, the decision being closed: never an intent under a
        run closed as never written. The run's own closing (``set_execution_status``)
        comes after, its guards given back in between (``RemediationEngine
        ._close_unstarted``).

        ``closed``: the decision moved; ``written``: an intent is under ``key``, nothing
        changed (the run is started: its writer, or the running path, settles it);
        ``lost``: the decision was no longer in ``expected``."""
        rows = [item.row(now) for item in feedback]  # a bad value fails before any write
        intents = tables["intents"]
        with self._tx() as conn:
            _lock_run(conn, key)
            written = conn.execute(
                sa.select(intents.c.id).where(intents.c.execution_key == key).limit(1)
            ).first()
            if written is not None:
                return "written"
            if not self._move(conn, decision_id, set(expected), status, now, rows):
                return "lost"
            return "closed"

    def finish_intent(
        self,
        intent_id: int,
        status: str,
        now: float,
        result: Mapping[str, Any] | None = None,
        expected: Iterable[str] = ("pending",),
    ) -> bool:
        table = tables["intents"]
        safe = _json_safe(dict(result or {}), "intent result")
        with self._tx() as conn:
            done = conn.execute(
                table.update()
                .where(table.c.id == intent_id, table.c.status.in_(list(expected)))
                .values(status=status, result=safe, updated_at=now)
            )
        return bool(done.rowcount == 1)

    def intents(
        self,
        *,
        status: Sequence[str] | None = None,
        execution_key: str | None = None,
        decision_id: str | None = None,
    ) -> list[Intent]:
        table = tables["intents"]
        query = sa.select(table).order_by(table.c.id)
        if status is not None:
            query = query.where(table.c.status.in_(list(status)))
        if execution_key is not None:
            query = query.where(table.c.execution_key == execution_key)
        if decision_id is not None:
            query = query.where(table.c.decision_id == decision_id)
        with self._read() as conn:
            return [Intent(**row) for row in conn.execute(query).mappings()]

    def intents_on(self, target: str) -> list[Intent]:
        """The intents of every run on ``target`` (``str`` of its ``ObjectRef``, as the
        run's execution row names it), oldest first."""
        i, e = tables["intents"], tables["executions"]
        query = (
            sa.select(i)
            .join(e, e.c.key == i.c.execution_key)
            .where(e.c.target == target)
            .order_by(i.c.id)
        )
        with self._read() as conn:
            return [Intent(**row) for row in conn.execute(query).mappings()]

    # --------------------------------------------------------- guard state
    def guard(self, key: str) -> tuple[dict[str, Any], int]:
        """A guard's value and version (version 0: never written)."""
        with self._read() as conn:
            row = conn.execute(_prebuilt("guard"), {"key": key}).mappings().first()
        return (dict(row["value"]), int(row["version"])) if row else ({}, 0)

    def put_guard(
        self,
        key: str,
        value: Mapping[str, Any],
        expected_version: int,
        now: float,
        *,
        feedback: Sequence[Feedback] = (),
        triggers: Sequence[str] = (),
    ) -> bool:
        """Compare-and-set a guard's value; False if someone else changed it first.
        ``feedback`` is written in the same transaction, only if this one wins.

        ``triggers``: the dedup keys the new value counts as storm triggers for the first
        time, recorded as counted (``counted_triggers``, counted and seen at ``now``) in
        the same transaction: the count and the record of what it counted are written
        together or not at all, so a process that stops (or a ledger that fails) between
        them cannot leave keys counted but unrecorded, for the next to count again. If
        one of them is recorded already (another replica counted it first), nothing is
        written and False is returned, as for a lost race: the caller reads again."""
        table = tables["guard_state"]
        safe = _json_text(dict(value), f"guard {key}")
        rows = [item.row(now) for item in feedback]
        counted = [
            {"dedup_key": k, "counted_at": now, "last_seen": now} for k in sorted(set(triggers))
        ]
        inserted = False
        try:
            with self._tx() as conn:
                if expected_version == 0:
                    conn.execute(
                        table.insert().values(key=key, value=safe, version=1, updated_at=now)
                    )
                    inserted = True
                    _count_triggers(conn, counted)
                    for row in rows:
                        conn.execute(row)
                    return True
                done = conn.execute(
                    table.update()
                    .where(table.c.key == key, table.c.version == expected_version)
                    .values(value=safe, version=expected_version + 1, updated_at=now)
                )
                if done.rowcount == 1:
                    _count_triggers(conn, counted)
                    for row in rows:
                        conn.execute(row)
                return bool(done.rowcount == 1)
        except _CountedBeforeError:
            return False
        except sa.exc.IntegrityError:
            if inserted:  # the feedback, not the key: no race was lost
                raise
            return False

    def guard_versions(self, keys: Sequence[str]) -> dict[str, int]:
        """The version of each of ``keys`` that was ever written (absent: never written).

        Reads only the versions, not the values: a loop saving thousands of detector
        states needs the versions for its compare-and-set, not 80 KB of JSON per key.
        """
        table = tables["guard_state"]
        found: dict[str, int] = {}
        with self._read() as conn:
            for first in range(0, len(keys), _IN_CHUNK):
                chunk = list(keys[first : first + _IN_CHUNK])
                query = sa.select(table.c.key, table.c.version).where(table.c.key.in_(chunk))
                found.update({row.key: int(row.version) for row in conn.execute(query)})
        return found

    def guard_keys(self, prefix: str) -> list[str]:
        """The keys of the guards written so far whose key starts with ``prefix``, sorted
        (``%`` and ``_`` in the prefix are literal characters)."""
        table = tables["guard_state"]
        query = (
            sa.select(table.c.key)
            .where(table.c.key.startswith(prefix, autoescape=True))
            .order_by(table.c.key)
        )
        with self._read() as conn:
            return [row.key for row in conn.execute(query)]

    def put_guards(
        self, entries: Sequence[tuple[str, Mapping[str, Any], int]], now: float
    ) -> list[bool]:
        """``put_guard`` for many (key, value, expected version) in one transaction.

        Each entry is its own compare-and-set, with the same answers ``put_guard`` would
        give; one commit instead of one per key. Values are checked before anything is
        written, so a bad value writes nothing.
        """
        table = tables["guard_state"]
        safe = [(key, _json_text(dict(value), f"guard {key}"), v) for key, value, v in entries]
        won: list[bool] = []
        try:
            with self._tx() as conn:
                for key, value, expected in safe:
                    if expected == 0:
                        # As in put_guard: a key that already exists means we lost.
                        exists = conn.execute(sa.select(table.c.key).where(table.c.key == key))
                        if exists.first() is not None:
                            won.append(False)
                            continue
                        conn.execute(
                            table.insert().values(key=key, value=value, version=1, updated_at=now)
                        )
                        won.append(True)
                        continue
                    done = conn.execute(
                        table.update()
                        .where(table.c.key == key, table.c.version == expected)
                        .values(value=value, version=expected + 1, updated_at=now)
                    )
                    won.append(bool(done.rowcount == 1))
        except sa.exc.IntegrityError:
            # Another writer inserted one of our new keys between our check and our
            # insert (PostgreSQL, two replicas): nothing was committed; settle each
            # entry on its own, with put_guard's answers.
            return [self.put_guard(key, value, expected, now) for key, value, expected in entries]
        return won

    def log_action(
        self, runbook: str, target: str, now: float, decision_id: str | None = None
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                tables["action_log"]
                .insert()
                .values(runbook=runbook, target=target, decision_id=decision_id, at=now)
            )

    def count_actions(
        self, since: float, *, runbook: str | None = None, target: str | None = None
    ) -> int:
        table = tables["action_log"]
        query = sa.select(sa.func.count()).select_from(table).where(table.c.at >= since)
        if runbook is not None:
            query = query.where(table.c.runbook == runbook)
        if target is not None:
            query = query.where(table.c.target == target)
        with self._read() as conn:
            return int(conn.execute(query).scalar() or 0)

    def acted_on(self, targets: Sequence[str], since: float) -> set[str]:
        """Those of ``targets`` that an action of Autonomic's changed at ``since`` or
        later, as the action log holds it (read on its ``target, at`` index)."""
        table = tables["action_log"]
        found: set[str] = set()
        with self._read() as conn:
            for first in range(0, len(targets), _IN_CHUNK):
                chunk = list(targets[first : first + _IN_CHUNK])
                query = (
                    sa.select(table.c.target)
                    .where(table.c.target.in_(chunk), table.c.at >= since)
                    .distinct()
                )
                found.update(str(row.target) for row in conn.execute(query))
        return found

    def last_action_at(self, target: str) -> float | None:
        table = tables["action_log"]
        with self._read() as conn:
            value = conn.execute(
                sa.select(sa.func.max(table.c.at)).where(table.c.target == target)
            ).scalar()
        return float(value) if value is not None else None

    # ------------------------------------------------------ model versions
    def record_model_version(
        self,
        series_key: str,
        model: str,
        version: str,
        status: str,
        params: Mapping[str, Any],
        evaluation: Mapping[str, Any],
        now: float,
    ) -> int:
        """Record a fitted model; promoting one to ``live`` retires the previous live one.

        A live row carries its series' key in ``live_series``, under a unique index
        (migration 15): of two writers promoting at once (two replicas at a leader
        change), the one that commits second finds the first's row there, and tries
        again, retiring it, so that both versions are recorded and the later one is
        live. (At READ COMMITTED each had retired the old row and inserted its own: two
        live rows.)"""
        table = tables["model_versions"]
        row = {
            "series_key": series_key,
            "model": model,
            "version": version,
            "status": status,
            "params": _json_safe(dict(params), "params"),
            "evaluation": _json_safe(dict(evaluation), "evaluation"),
            "created_at": now,
            "live_series": series_key if status == "live" else None,
        }
        for attempt in range(1, _CAS_ROUNDS + 1):
            try:
                with self._tx() as conn:
                    if status == "live":
                        conn.execute(
                            table.update()
                            .where(
                                table.c.series_key == series_key,
                                # live, or retired by a release before migration 15
                                # (which left the flag as it was)
                                sa.or_(table.c.status == "live", table.c.live_series.is_not(None)),
                            )
                            .values(
                                status="retired",
                                live_series=None,
                                retired_at=sa.func.coalesce(table.c.retired_at, now),
                            )
                        )
                    result = conn.execute(table.insert().values(**row))
                return int(result.inserted_primary_key[0])
            except sa.exc.IntegrityError:
                # Another writer's live row, committed after our retiring read: retire
                # it too, in a new transaction (nothing of this one was committed).
                if status != "live" or attempt == _CAS_ROUNDS:
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises

    def live_model(self, series_key: str) -> dict[str, Any] | None:
        table = tables["model_versions"]
        with self._read() as conn:
            row = (
                conn.execute(
                    sa.select(table)
                    .where(table.c.series_key == series_key, table.c.status == "live")
                    .order_by(table.c.id.desc())
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def model_version(self, series_key: str, version: str) -> dict[str, Any] | None:
        """The row of ``series_key``'s model named ``version`` (what a decision names in
        its ``model_version``), or None: the newest, where names repeated (records made
        before session 35 named every losing challenger alike)."""
        table = tables["model_versions"]
        with self._read() as conn:
            row = (
                conn.execute(
                    sa.select(table)
                    .where(table.c.series_key == series_key, table.c.version == version)
                    .order_by(table.c.id.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def model_version_tally(self, series_key: str) -> tuple[int, str | None]:
        """How many model versions the ledger holds for ``series_key``, and the version
        name of the newest of them (None when it holds none): what the scaling loop
        numbers a series' next model from after a restart."""
        table = tables["model_versions"]
        mine = table.c.series_key == series_key
        with self._read() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(table).where(mine))
            newest = conn.execute(
                sa.select(table.c.version).where(mine).order_by(table.c.id.desc()).limit(1)
            )
            return int(count.scalar_one()), newest.scalar()

    # ----------------------------------------------------------- thresholds
    def record_thresholds(
        self, decision_type: str, auto: float, ask: float, evidence: Mapping[str, Any], now: float
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                tables["thresholds"]
                .insert()
                .values(
                    decision_type=decision_type,
                    auto=auto,
                    ask=ask,
                    evidence=_json_safe(dict(evidence), "evidence"),
                    created_at=now,
                )
            )

    def thresholds(self, decision_type: str) -> tuple[float, float] | None:
        table = tables["thresholds"]
        with self._read() as conn:
            row = conn.execute(
                sa.select(table.c.auto, table.c.ask)
                .where(table.c.decision_type == decision_type)
                .order_by(table.c.id.desc())
                .limit(1)
            ).first()
        return (float(row.auto), float(row.ask)) if row else None

    def threshold_history(self) -> list[dict[str, Any]]:
        table = tables["thresholds"]
        with self._read() as conn:
            return [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.id)).mappings()]

    # ----------------------------------------------------------- held back
    def record_held_back(self, rows: Sequence[HeldBack]) -> None:
        """Add ``rows`` to what is kept of runbooks held back, in one transaction: a key
        (runbook, subject, reason code) already there gets ``times`` added, its last
        seen moved on and the latest message, signal and outcome; a new one is inserted.
        Losing an insert to another writer (two replicas around a leadership change)
        settles each row again, as an update."""
        if not rows:
            return
        try:
            with self._tx() as conn:
                for row in rows:
                    self._held_back_row(conn, row)
        except sa.exc.IntegrityError:
            for row in rows:  # nothing was committed: each on its own
                try:
                    with self._tx() as conn:
                        self._held_back_row(conn, row)
                except sa.exc.IntegrityError:
                    with self._tx() as conn:  # inserted meanwhile: now an update
                        self._held_back_row(conn, row)

    @staticmethod
    def _held_back_row(conn: sa.Connection, row: HeldBack) -> None:
        table = tables["held_back"]
        newer = table.c.last_seen <= row.last_seen  # the sentence of the latest sighting

        def latest(column: sa.Column[Any], value: object) -> sa.Case[Any]:
            return sa.case((newer, value), else_=column)

        done = conn.execute(
            table.update()
            .where(
                table.c.runbook == row.runbook,
                table.c.subject == row.subject,
                table.c.reason_code == row.reason_code,
            )
            .values(
                times=table.c.times + row.times,
                first_seen=sa.case(
                    (table.c.first_seen > row.first_seen, row.first_seen),
                    else_=table.c.first_seen,
                ),
                last_seen=latest(table.c.last_seen, row.last_seen),
                outcome=latest(table.c.outcome, row.outcome),
                message=latest(table.c.message, row.message),
                signal=latest(table.c.signal, row.signal),
            )
        )
        if done.rowcount == 0:
            conn.execute(
                table.insert().values(
                    runbook=row.runbook,
                    subject=row.subject,
                    reason_code=row.reason_code,
                    outcome=row.outcome,
                    message=row.message,
                    signal=row.signal,
                    first_seen=row.first_seen,
                    last_seen=row.last_seen,
                    times=row.times,
                )
            )

    def held_back(
        self,
        *,
        subject: str | None = None,
        runbook: str | None = None,
        since: float | None = None,
        limit: int = 200,
    ) -> list[HeldBack]:
        """What runbooks were held back from, newest (last seen) first. ``subject`` is
        matched as a person types it (the whole subject, its leading or trailing parts,
        the pods of a workload: see ``_about``); ``since`` filters on when last seen."""
        table = tables["held_back"]
        query = sa.select(table).order_by(table.c.last_seen.desc(), table.c.id.desc()).limit(limit)
        if subject is not None:
            query = query.where(_about(table.c.subject, subject))
        if runbook is not None:
            query = query.where(table.c.runbook == runbook)
        if since is not None:
            query = query.where(table.c.last_seen >= since)
        with self._read() as conn:
            return [
                HeldBack(**{k: v for k, v in row.items() if k != "id"})
                for row in conn.execute(query).mappings()
            ]

    def runbook_names(self) -> list[str]:
        """The runbooks this ledger has a record of: held back (``held_back``), run
        (``executions``), or that decided something, run or not (a decision asked and
        rejected or left to expire; a hand-off, ``held/NAME``), sorted; for ``autonomic
        why`` to tell a runbook's name it has never seen. The decisions are read by
        their distinct types (the types' index), not row by row. Not the pseudo-runbook
        of alerts no runbook names, nor a trigger storm's hand-off (``storm``)."""
        held, runs, decided = tables["held_back"], tables["executions"], tables["decisions"]
        query = sa.union(sa.select(held.c.runbook), sa.select(runs.c.runbook))
        types = sa.select(decided.c.decision_type).where(decided.c.kind == "remediation").distinct()
        with self._read() as conn:
            names = {str(name) for (name,) in conn.execute(query)}
            for (decision_type,) in conn.execute(types):
                if decision_type.startswith(HELD_PREFIX):
                    names.add(decision_type[len(HELD_PREFIX) :])
                elif "/" in decision_type:  # NAME/Kind
                    names.add(decision_type.rsplit("/", 1)[0])
        return sorted(names - {"(none)"})  # agent.outcomes.NO_RUNBOOK

    # ----------------------------------------------------- counted triggers
    def counted_triggers(self, keys: Sequence[str]) -> dict[str, float]:
        """Of ``keys`` (signals' dedup keys), those the storm guard has counted as
        triggers (``note_triggers``), each with when it was last seen."""
        table = tables["counted_triggers"]
        found: dict[str, float] = {}
        with self._read() as conn:
            for first in range(0, len(keys), _IN_CHUNK):
                chunk = list(keys[first : first + _IN_CHUNK])
                query = sa.select(table.c.dedup_key, table.c.last_seen).where(
                    table.c.dedup_key.in_(chunk)
                )
                found.update({row.dedup_key: float(row.last_seen) for row in conn.execute(query)})
        return found

    def note_triggers(self, keys: Sequence[str], now: float) -> None:
        """Keep ``keys`` as counted by the storm guard and seen at ``now``: a new key is
        added (counted at ``now``), a known one's last sighting moves on. One
        transaction; pruned once not seen for the retention (``prune``).

        Rows are written in key order, one statement per chunk that inserts or moves
        each row on in turn: two replicas noting the same keys at once (the old leader's
        last cycle and the new one's first, each with its signals in its own order) then
        lock them in the same order and wait for each other, where PostgreSQL would find
        a deadlock and roll one back."""
        if not keys:
            return
        table = tables["counted_triggers"]
        ordered = sorted(set(keys))
        with self._tx() as conn:
            upsert = _upsert_later(conn, table, "dedup_key", "last_seen")
            for first in range(0, len(ordered), _IN_CHUNK):
                chunk = ordered[first : first + _IN_CHUNK]
                conn.execute(
                    upsert, [{"dedup_key": k, "counted_at": now, "last_seen": now} for k in chunk]
                )

    # --------------------------------------------------------------- alerts
    def record_alerts(self, deliveries: Sequence[AlertDelivery], now: float) -> list[bool]:
        """Store the alerts of one webhook delivery, in one transaction: all or none.

        Per delivery, in order, whether it is new. One already stored (same fingerprint,
        ``startsAt`` and status: a re-send, a retry, an HA peer's copy, from any replica,
        before or after a restart) is not stored again: its ``delivered_at`` moves on to
        ``now``, which is what keeps a firing alert in ``firing_alerts``. A firing
        re-send also carries its ``endsAt`` on (a sender that sets one, as Prometheus does
        towards Alertmanager, pushes it forward at every evaluation): the stored
        ``ends_at`` becomes the later of the two, and a delivery without one (Alertmanager
        sends the zero time for a firing alert) leaves it open (None), which it then
        stays. It never moves earlier, so neither a late retry of an older delivery nor an
        HA peer's staler copy ends an alert that a newer delivery said goes on, whatever
        order they arrive in; the first delivery of a resolved alert keeps its ``endsAt``
        (when it resolved). Values are checked before anything is written. Rows are
        written in key order, so two replicas storing the same group at once wait for each
        other rather than deadlock.
        """
        table = tables["alerts"]
        rows = [
            {
                "fingerprint": item.fingerprint,
                "starts_at": float(item.starts_at),
                "status": item.status,
                "ends_at": item.ends_at,
                "name": item.name,
                "labels": _json_safe(dict(item.labels), f"labels of alert {item.fingerprint}"),
                "signal": _json_safe(dict(item.signal), f"signal of alert {item.fingerprint}"),
                "received_at": now,
                "delivered_at": now,
            }
            for item in deliveries
        ]
        order = sorted(
            range(len(rows)),
            key=lambda n: (rows[n]["fingerprint"], rows[n]["starts_at"], rows[n]["status"]),
        )
        fresh = [False] * len(rows)
        if not rows:
            return fresh
        with self._tx() as conn:
            insert = _insert_or_nothing(conn, table, ("fingerprint", "starts_at", "status"))
            for n in order:
                row = rows[n]
                # The id comes back only when the row was inserted (rowcount cannot tell:
                # on PostgreSQL it is -1 for an insert that returns the new id).
                if conn.execute(insert.values(**row)).first() is not None:
                    fresh[n] = True
                    continue
                newer = table.c.delivered_at < now
                moved: dict[str, Any] = {
                    "delivered_at": sa.case((newer, now), else_=table.c.delivered_at)
                }
                change: sa.ColumnElement[bool] = newer
                if row["status"] == "firing":
                    # Taking the later end is the same whatever order the copies come
                    # in, so it does not wait on ``newer`` (a replica whose clock is
                    # behind still carries a later endsAt on).
                    ends_at = row["ends_at"]
                    if ends_at is None:
                        later = table.c.ends_at.is_not(None)
                        moved["ends_at"] = sa.null()
                    else:
                        later = table.c.ends_at < ends_at
                        moved["ends_at"] = sa.case((later, ends_at), else_=table.c.ends_at)
                    change = sa.or_(newer, later)
                conn.execute(
                    table.update()
                    .where(
                        table.c.fingerprint == row["fingerprint"],
                        table.c.starts_at == row["starts_at"],
                        table.c.status == row["status"],
                        change,
                    )
                    .values(**moved)
                )
        return fresh

    def pending_alerts(self, limit: int = 10_000) -> list[StoredAlert]:
        """Alerts not handled yet, oldest first (at most ``limit``)."""
        table = tables["alerts"]
        query = sa.select(table).where(table.c.handled_at.is_(None)).order_by(table.c.id)
        with self._read() as conn:
            return [StoredAlert(**row) for row in conn.execute(query.limit(limit)).mappings()]

    def pending_alert_summary(self) -> tuple[int, float | None]:
        """How many alerts are not handled yet, and the earliest first delivery of them."""
        table = tables["alerts"]
        query = sa.select(sa.func.count(), sa.func.min(table.c.received_at)).where(
            table.c.handled_at.is_(None)
        )
        with self._read() as conn:
            count, oldest = conn.execute(query).one()
        return int(count), None if oldest is None else float(oldest)

    def last_alert_delivery(self) -> float | None:
        """When Alertmanager last delivered anything stored (any alert, firing or
        resolved); None when no delivery is stored."""
        table = tables["alerts"]
        with self._read() as conn:
            last = conn.execute(sa.select(sa.func.max(table.c.delivered_at))).scalar()
        return None if last is None else float(last)

    def mark_alerts_handled(self, ids: Sequence[int], now: float) -> int:
        """Mark alerts handled (those not marked yet); how many were marked."""
        table = tables["alerts"]
        marked = 0
        with self._tx() as conn:
            for first in range(0, len(ids), _IN_CHUNK):
                chunk = list(ids[first : first + _IN_CHUNK])
                marked += conn.execute(
                    table.update()
                    .where(table.c.id.in_(chunk), table.c.handled_at.is_(None))
                    .values(handled_at=now, handling_since=None, handling_by=None)
                ).rowcount
        return marked

    def count_alert_attempt(
        self, alert_id: int, seen: int, error: str, now: float, *, give_up_at: int
    ) -> int | None:
        """Count a failed attempt at handling a stored alert, with its error (cut to
        ``ALERT_ERROR_CHARS``): compare-and-set on ``seen``, the count the caller read
        with the row, so a cycle's attempt is counted once however many replicas make
        it. Reaching ``give_up_at`` gives it up in the same statement (``given_up_at``
        and ``handled_at`` set): no replica takes it in again. The new count, or None
        when the row moved on since it was read (another replica counted this attempt,
        or handled the alert, or gave it up) and nothing was written."""
        table = tables["alerts"]
        attempts = seen + 1
        if len(error) > ALERT_ERROR_CHARS:
            error = error[: ALERT_ERROR_CHARS - 3] + "..."
        given_up = now if attempts >= give_up_at else None
        with self._tx() as conn:
            changed = conn.execute(
                table.update()
                .where(
                    table.c.id == alert_id,
                    table.c.attempts == seen,
                    table.c.handled_at.is_(None),
                )
                .values(
                    attempts=attempts,
                    last_error=error,
                    last_attempt_at=now,
                    given_up_at=given_up,
                    handled_at=given_up,
                    handling_since=None,
                    handling_by=None,
                )
            ).rowcount
        return attempts if changed == 1 else None

    def mark_alerts_handling(
        self, ids: Sequence[int], now: float | None, by: str | None = None
    ) -> None:
        """Set (``now``, by the replica ``by``) or clear (None) the mark of a cycle
        handling these alerts: set before a cycle handles them, cleared when it handled
        them (``mark_alerts_handled`` clears it too) or gave up on them for this cycle.
        One left set is a cycle that never finished, or has not yet
        (``StoredAlert.handling_since``, ``handling_by``)."""
        table = tables["alerts"]
        with self._tx() as conn:
            for first in range(0, len(ids), _IN_CHUNK):
                chunk = list(ids[first : first + _IN_CHUNK])
                conn.execute(
                    table.update()
                    .where(table.c.id.in_(chunk), table.c.handled_at.is_(None))
                    .values(handling_since=now, handling_by=None if now is None else by)
                )

    def stored_alerts(self, *, given_up: bool = False, limit: int = 100) -> list[StoredAlert]:
        """The stored alerts a person may want to see, newest first: those not handled
        yet and those given up (``given_up``: only these), at most ``limit``."""
        table = tables["alerts"]
        wanted: sa.ColumnElement[bool] = table.c.given_up_at.is_not(None)
        if not given_up:
            wanted = sa.or_(wanted, table.c.handled_at.is_(None))
        query = sa.select(table).where(wanted).order_by(table.c.id.desc()).limit(limit)
        with self._read() as conn:
            return [StoredAlert(**row) for row in conn.execute(query).mappings()]

    def get_alert(self, alert_id: int) -> StoredAlert | None:
        table = tables["alerts"]
        with self._read() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == alert_id)).mappings().first()
        return None if row is None else StoredAlert(**row)

    def alerts_of(self, fingerprint: str) -> list[StoredAlert]:
        """Every stored delivery of the alert with ``fingerprint`` (each ``startsAt`` it
        fired from, firing and resolved), oldest first."""
        table = tables["alerts"]
        query = (
            sa.select(table)
            .where(table.c.fingerprint == fingerprint)
            .order_by(table.c.starts_at, table.c.id)
        )
        with self._read() as conn:
            return [StoredAlert(**row) for row in conn.execute(query).mappings()]

    def requeue_alert(self, fingerprint: str, starts_at: float) -> bool:
        """Make the handled firing alert ``fingerprint`` that started at ``starts_at``
        pending again, for the next remediation cycle to take in once more: the decision
        it started was closed with nothing done for a reason that leaves its incident
        open (the object it was about was replaced since the plan). False when there is
        no such row handled (not stored, still pending, or given up)."""
        table = tables["alerts"]
        with self._tx() as conn:
            changed = conn.execute(
                table.update()
                .where(
                    table.c.fingerprint == fingerprint,
                    table.c.starts_at == float(starts_at),
                    table.c.status == "firing",
                    table.c.handled_at.is_not(None),
                    table.c.given_up_at.is_(None),
                )
                .values(handled_at=None, handling_since=None, handling_by=None)
            ).rowcount
        return bool(changed >= 1)

    def retry_alert(self, alert_id: int) -> bool:
        """Make a given-up alert pending again, its attempts and last error cleared: the
        leader's next remediation cycle takes it in. False when it is not given up."""
        table = tables["alerts"]
        with self._tx() as conn:
            changed = conn.execute(
                table.update()
                .where(table.c.id == alert_id, table.c.given_up_at.is_not(None))
                .values(
                    attempts=0,
                    last_error=None,
                    last_attempt_at=None,
                    given_up_at=None,
                    handled_at=None,
                    handling_since=None,
                    handling_by=None,
                )
            ).rowcount
        return bool(changed == 1)

    def firing_alerts(
        self, now: float, *, delivered_since: float, delivered_before: float | None = None
    ) -> list[StoredAlert]:
        """The alerts firing at ``now``, by name and fingerprint: per fingerprint, the
        latest-starting alert, if it was delivered firing and not resolved (a resolution
        of the same fingerprint and ``startsAt`` ends it, whichever arrived first), was
        delivered at or after ``delivered_since`` (Alertmanager re-sends a firing alert
        at its repeat interval: one not heard of for long is no longer counted), and whose
        ``endsAt``, if given, has not passed (the latest a re-send gave,
        ``record_alerts``). ``delivered_before``: only those last
        delivered before it (the alerts last known firing that are no longer counted)."""
        firing = tables["alerts"]
        other = firing.alias("other")
        superseded = sa.exists().where(
            other.c.fingerprint == firing.c.fingerprint,
            sa.or_(
                other.c.starts_at > firing.c.starts_at,
                sa.and_(other.c.starts_at == firing.c.starts_at, other.c.status == "resolved"),
            ),
        )
        query = (
            sa.select(firing)
            .where(
                firing.c.status == "firing",
                firing.c.delivered_at >= delivered_since,
                sa.or_(firing.c.ends_at.is_(None), firing.c.ends_at > now),
                ~superseded,
            )
            .order_by(firing.c.name, firing.c.fingerprint)
        )
        if delivered_before is not None:
            query = query.where(firing.c.delivered_at < delivered_before)
        with self._read() as conn:
            return [StoredAlert(**row) for row in conn.execute(query).mappings()]

    # ------------------------------------------------------------ retention
    def prune(
        self,
        before: float,
        *,
        series_before: float | None = None,
        alerts_before: float | None = None,
        guards_before: float | None = None,
        aged_guards: Mapping[str, float] | None = None,
    ) -> dict[str, int]:
        """Delete settled history older than ``before``; open work is never pruned.

        Decisions in a terminal status go with their feedback and questions; intents and
        executions only once finished (an execution still open, ``OPEN_RUNS``, keeps its
        intents and its verification's progress, and an undo in flight its intent: the
        recovery carries a run on from the first step without an intent); the action log and
        retired or rejected model versions by age, from when they were retired (a series' live
        model stays: its newest live row, where two writers promoting at once before
        migration 15 left more than one; and so does a version a decision still kept
        names). Threshold
        history is kept (a few rows per decision type). Guards kept per release or per
        execution (a canary analysis's start, a verification's progress) go by age too, and
        the saved detector states of anomaly series not saved since ``series_before``
        (default ``before``): series gone that long (pods replaced, nodes removed), which
        would otherwise pile up. What runbooks were held back from, and the signals the
        storm guard counted, go once last seen before ``before``, and the alerts the webhook
        accepted once handled and last delivered before ``alerts_before`` (default
        ``before``; one still firing is delivered again at Alertmanager's repeat interval,
        so it stays).

        A node's uncordon seen (``UNCORDONED_PREFIX``) goes once it is older than
        ``guards_before`` (default ``before``: the caller passes now less the longest
        window the guards look back over) and no action on the node is that recent: the
        remediation engine reads it only for a node with such an action. ``aged_guards``
        maps other guard key prefixes to their own cut: a row under one, last written
        before it, goes (what its reader ignores once that old: a learned capacity, a
        hold that has ended).
        """
        d, f, q = tables["decisions"], tables["feedback"], tables["questions"]
        counts: dict[str, int] = {}
        with self._tx() as conn:
            _unbounded(conn, PRUNE_STATEMENT_TIMEOUT)
            old = sa.select(d.c.id).where(d.c.created_at < before, d.c.status.in_(list(TERMINAL)))
            counts["feedback"] = conn.execute(f.delete().where(f.c.decision_id.in_(old))).rowcount
            counts["questions"] = conn.execute(
                q.delete().where(q.c.decision_id.in_(old), q.c.status != "pending")
            ).rowcount
            e, i = tables["executions"], tables["intents"]
            # A run still open keeps the intents of the steps it wrote (its recovery goes
            # on from the first step without one); an undo in flight keeps its intent.
            open_runs = sa.select(e.c.key).where(e.c.status.in_(OPEN_RUNS))
            counts["intents"] = conn.execute(
                i.delete().where(
                    i.c.created_at < before,
                    i.c.status.not_in(OPEN_INTENTS),
                    i.c.execution_key.not_in(open_runs),
                )
            ).rowcount
            counts["executions"] = conn.execute(
                e.delete().where(e.c.updated_at < before, e.c.status.not_in(OPEN_RUNS))
            ).rowcount
            # NOT EXISTS, not NOT IN: PostgreSQL plans NOT IN (subquery) by hashing every
            # question and execution ever kept (and, once they outgrow work_mem, by
            # scanning them once per old decision), and NOT EXISTS as an anti-join on
            # their decision indexes. The same rows: neither column is ever NULL.
            still_asked = sa.exists().where(q.c.decision_id == d.c.id)
            still_run = sa.exists().where(e.c.decision_id == d.c.id)
            going = sa.select(d.c.id).where(
                d.c.created_at < before,
                d.c.status.in_(list(TERMINAL)),
                ~still_asked,
                ~still_run,
            )
            h = tables["decision_status"]
            counts["status_history"] = conn.execute(
                h.delete().where(h.c.decision_id.in_(going))
            ).rowcount
            counts["decisions"] = conn.execute(d.delete().where(d.c.id.in_(going))).rowcount
            a = tables["action_log"]
            counts["action_log"] = conn.execute(a.delete().where(a.c.at < before)).rowcount
            m = tables["model_versions"]
            # A live row with a newer live row of its series (two writers promoted at
            # once: each retired the old one and inserted its own) is superseded, as a
            # retired one is: ``live_model`` reads the newest, the others go by age.
            newer = m.alias("newer")
            superseded = sa.exists().where(
                newer.c.series_key == m.c.series_key,
                newer.c.status == "live",
                newer.c.id > m.c.id,
            )
            # A version a decision still kept names stays (``autonomic explain`` reads
            # its evaluation): a model live for longer than the retention is named by
            # recent decisions. Age counts from when a version was retired (migration
            # 15; before it, from when it was fitted): a decision naming it may still
            # be on its way from a replica that had it live a moment ago.
            named = sa.exists().where(
                d.c.subject == m.c.series_key, d.c.model_version == m.c.version
            )
            counts["model_versions"] = conn.execute(
                m.delete().where(
                    sa.func.coalesce(m.c.retired_at, m.c.created_at) < before,
                    sa.or_(m.c.status != "live", superseded),
                    ~named,
                )
            ).rowcount
            # The exactly-once markers of late answers, once their questions are history.
            g = tables["guard_state"]
            counts["late_answers"] = conn.execute(
                g.delete().where(
                    g.c.key.startswith(LATE_ANSWER_PREFIX, autoescape=True),
                    g.c.updated_at < before,
                )
            ).rowcount
            verifying = sa.select(sa.literal(VERIFY_PREFIX, sa.String) + e.c.key).where(
                e.c.status == "verifying"
            )
            counts["finished_guards"] = conn.execute(
                g.delete().where(
                    sa.or_(*(g.c.key.startswith(p, autoescape=True) for p in AGED_GUARD_PREFIXES)),
                    g.c.updated_at < before,
                    g.c.key.not_in(verifying),  # a verification's progress, while it goes on
                )
            ).rowcount
            counts["anomaly_series"] = conn.execute(
                g.delete().where(
                    g.c.key.startswith(ANOMALY_SERIES_PREFIX, autoescape=True),
                    g.c.updated_at < (before if series_before is None else series_before),
                )
            ).rowcount
            # A node's uncordon seen is read while an action on the node is within the
            # guards' window (``acted_on``): gone with the last of them, the row goes.
            cut = before if guards_before is None else guards_before
            a_node = a.alias("node_action")
            node_target = sa.literal(NODE_TARGET_PREFIX, sa.String) + sa.func.substr(
                g.c.key, len(UNCORDONED_PREFIX) + 1
            )
            recent = sa.exists().where(a_node.c.target == node_target, a_node.c.at >= cut)
            counts["uncordoned"] = conn.execute(
                g.delete().where(
                    g.c.key.startswith(UNCORDONED_PREFIX, autoescape=True),
                    g.c.updated_at < cut,
                    ~recent,
                )
            ).rowcount
            counts["aged_guards"] = 0
            for prefix, prefix_cut in sorted((aged_guards or {}).items()):
                counts["aged_guards"] += conn.execute(
                    g.delete().where(
                        g.c.key.startswith(prefix, autoescape=True),
                        g.c.updated_at < prefix_cut,
                    )
                ).rowcount
            b = tables["held_back"]
            counts["held_back"] = conn.execute(b.delete().where(b.c.last_seen < before)).rowcount
            t = tables["counted_triggers"]
            counts["counted_triggers"] = conn.execute(
                t.delete().where(t.c.last_seen < before)
            ).rowcount
            al = tables["alerts"]
            counts["alerts"] = conn.execute(
                al.delete().where(
                    al.c.handled_at.is_not(None),
                    al.c.delivered_at < (before if alerts_before is None else alerts_before),
                )
            ).rowcount
        return counts

    # ------------------------------------------------------------- plumbing
    def _tx(self) -> Any:
        return _Guarded(self.engine, write=True)

    def _read(self) -> Any:
        return _Guarded(self.engine, write=False)

    def close(self) -> None:
        self.engine.dispose()


def _unbounded(conn: sa.Connection, timeout: str = "0") -> None:
    """On PostgreSQL, this transaction's statements may take ``timeout`` (0: as long as
    they take) whatever the session's ``statement_timeout``; it ends with the transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT set_config('statement_timeout', :t, true)"), {"t": timeout})


def _lock_run(conn: sa.Connection, key: str) -> Any:
    """The first statement of a write transaction about the run under ``key``: its row
    (decision id and status; None if there is none), locked until the transaction ends,
    so that the transactions that look for its intents and then write (``record_intent``,
    ``close_unstarted``) take turns. On PostgreSQL ``SELECT ... FOR UPDATE`` (each
    statement after it, at READ COMMITTED, sees what the one it waited for committed); on
    SQLite the database's write lock, taken now (``BEGIN IMMEDIATE``): Python's sqlite3
    opens a transaction only at the first INSERT, UPDATE or DELETE, and the reads before
    it would otherwise see the database before another writer's commit."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    runs = tables["executions"]
    return conn.execute(
        sa.select(runs.c.decision_id, runs.c.status).where(runs.c.key == key).with_for_update()
    ).first()


def _decision_status(conn: sa.Connection, decision_id: str) -> str | None:
    decisions = tables["decisions"]
    status = conn.execute(
        sa.select(decisions.c.status).where(decisions.c.id == decision_id)
    ).scalar()
    return None if status is None else str(status)


def _begin_ddl(conn: sa.Connection) -> int:
    """On SQLite, open the transaction now, for writing (``BEGIN IMMEDIATE``, waiting out
    another writer within the busy timeout), and return the schema version it sees
    (0 elsewhere: PostgreSQL's migrator holds the advisory lock instead). Python's
    sqlite3 opens a transaction only before an INSERT, UPDATE or DELETE: without this, a
    migration's CREATE and ALTER statements ran (and were kept) on their own, and a crash
    before its row in ``schema_version`` left columns added but not recorded, which the
    next start failed to add again ("duplicate column name"), for good."""
    if conn.dialect.name != "sqlite":
        return 0
    conn.exec_driver_sql("BEGIN IMMEDIATE")
    version = conn.execute(sa.select(sa.func.max(tables["schema_version"].c.version))).scalar()
    return int(version or 0)


class _LostError(Exception):
    """A compare-and-set lost inside a transaction: rolls the transaction back."""


class _Guarded:
    """``engine.begin()`` (a write: one transaction) or ``engine.connect()`` (reads) that
    turns the database failing under it (unreachable, a connection dropped mid-way, a
    SQLite file locked past its busy timeout or read-only) into ``TransientError`` naming
    the ledger, so the loops retry at their next period and readiness says why. A
    failed transaction is rolled back: nothing of it is left behind."""

    def __init__(self, engine: sa.Engine, *, write: bool) -> None:
        self._engine = engine
        self._write = write
        self._cm: Any = None

    def _error(self, what: str, exc: sa.exc.DBAPIError) -> TransientError:
        where = self._engine.url.render_as_string()  # the password hidden
        state = _sqlstate(exc)
        if state in SERVER_ERRORS:
            # One plain sentence: the server's words, the SQLSTATE, what it means and
            # the setting or action that fixes it (the SQL and parameters left out).
            meaning, remedy = SERVER_ERRORS[state]
            if state in _AT_CONNECT and what == "is unreachable":
                what = "refused the connection"
            words = " ".join(_words(exc).split())
            text = f"the ledger at {where} {what}: {words} ({state}: {meaning}; {remedy})"
            reason = LEDGER_CONFLICT if state in CONFLICTS else LEDGER_UNAVAILABLE
            return TransientError(redact_url_passwords(text), delay=2.0, reason=reason)
        code = getattr(exc.orig, "sqlite_errorcode", -1) & 0xFF
        hint = _SQLITE_HINTS.get(code, "")
        return TransientError(
            redact_url_passwords(f"the ledger at {where} {what}: {exc.orig}{hint}"),
            delay=2.0,
            reason=LEDGER_UNAVAILABLE,
        )

    def __enter__(self) -> sa.Connection:
        try:
            self._cm = self._engine.begin() if self._write else self._engine.connect()
            return self._cm.__enter__()  # type: ignore[no-any-return]
        except (sa.exc.OperationalError, sa.exc.InternalError) as exc:
            if not _passing(exc):
                raise
            raise self._error("is unreachable", exc) from exc

    def __exit__(self, kind: Any, value: BaseException | None, trace: Any) -> None:
        what = "write failed" if self._write else "read failed"
        try:
            self._cm.__exit__(kind, value, trace)
        except (sa.exc.OperationalError, sa.exc.InternalError) as error:
            if not _passing(error):
                raise
            raise self._error(what, error) from error
        if isinstance(value, sa.exc.OperationalError | sa.exc.InternalError) and _passing(value):
            raise self._error(what, value) from value


_SQLITE_HINTS = {
    sqlite3.SQLITE_BUSY: (
        " (another process, a daemon or a command, held it for longer than the 30 s busy "
        "timeout): try again; only one daemon may use a SQLite ledger"
    ),
    sqlite3.SQLITE_READONLY: " (check that this user may write the file and its directory)",
    sqlite3.SQLITE_CANTOPEN: " (check that the file and its directory exist and are readable)",
}


def _insert_or_nothing(
    conn: sa.Connection, table: sa.Table, key: Sequence[str], *, returning: bool = True
) -> sa.Insert:
    """``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id`` (``returning``: with the
    ``RETURNING id``), in the connection's dialect: a row whose key exists is not
    inserted (no row returned), and no error aborts the transaction. An empty ``key``:
    a row that would break any unique index of the table (a partial one too)."""
    elements = list(key) or None
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        insert: sa.Insert = pg_insert(table).on_conflict_do_nothing(index_elements=elements)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        insert = sqlite_insert(table).on_conflict_do_nothing(index_elements=elements)
    return insert.returning(table.c.id) if returning else insert


class _CountedBeforeError(Exception):
    """A storm trigger ``put_guard`` was to record as counted is recorded already."""


def _count_triggers(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` into ``counted_triggers``, in key order, in ``put_guard``'s
    transaction; raise ``_CountedBeforeError`` (the transaction then rolls back) if a key is
    there already. A plain insert: on PostgreSQL one that meets a key another
    transaction has just inserted waits for it, then fails if it committed."""
    table = tables["counted_triggers"]
    for first in range(0, len(rows), _IN_CHUNK):
        try:
            conn.execute(table.insert(), list(rows[first : first + _IN_CHUNK]))
        except sa.exc.IntegrityError as exc:
            raise _CountedBeforeError from exc


def _upsert_later(conn: sa.Connection, table: sa.Table, key: str, column: str) -> sa.Insert:
    """``INSERT ... ON CONFLICT (key) DO UPDATE SET column = the new value`` where the
    row's is older, in the connection's dialect: one statement whose rows are taken in
    the order given, new or not."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        insert: Any = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        insert = sqlite_insert(table)
    return insert.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[key],
        set_={column: insert.excluded[column]},
        where=table.c[column] < insert.excluded[column],
    )


def _passing(exc: sa.exc.OperationalError | sa.exc.InternalError) -> bool:
    """Whether the database failed under a statement (PostgreSQL away or restarting, a
    session it ended, a standby that takes no writes; a SQLite file busy, locked,
    read-only, full or unreadable) rather than rejected it: SQLite's generic SQLITE_ERROR
    (no such table, bad SQL) is a fault to show as it is, and so is any other
    ``InternalError`` (a bug of ours or the driver's)."""
    if isinstance(exc, sa.exc.InternalError):
        return _sqlstate(exc) in _INTERNAL_PASSING
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is None or code & 0xFF != sqlite3.SQLITE_ERROR


def _engine_url(url: str, password: str | None) -> URL:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if password is not None:
        parsed = parsed.set(password=password)
    return parsed


# Seconds a PostgreSQL connection may take to open, unless ledger.url's connect_timeout says.
CONNECT_TIMEOUT = 10
# libpq's TCP settings for every PostgreSQL connection, each unless ledger.url sets it. A
# database host that vanished (a failover to a new primary, a network partition) sends
# nothing back, not even a reset: without these a pending query waited for the kernel's
# retransmissions (about 15 min) and an idle pooled connection for its keepalive (2 h).
# Now an idle connection is probed after 30 s, every 10 s, and dropped after 3 probes
# unanswered (60 s); data the host has not acknowledged for 60 s drops it too
# (tcp_user_timeout, in ms). A live server's kernel answers both, however busy the
# server: a long query is not cut by them.
TCP_SETTINGS: dict[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,
}
# What the daemon's sessions ask of the server (``open_ledger(bounded=True)``), each
# unless the session already has a value (ledger.url's ``options``, ALTER ROLE or ALTER
# DATABASE, postgresql.conf). A statement is cancelled after 60 s: the longest the
# daemon ran, over a cycle benchmark at 1,000 workloads on PostgreSQL (first fits,
# refits, housekeeping's reads and prune), took 0.1 s; it is a lock wait behind a stuck
# session, or a server in trouble, and fails the job's run with a warning (retried at its
# next period) instead of holding it. A session idle inside a transaction for 60 s is
# ended by the server: the daemon never waits on anything else inside one, so that is a
# frozen or cut-off replica, whose row locks would otherwise block the next leader.
# Migrations and the prune set their own (``Ledger``).
SESSION_TIMEOUTS: dict[str, str] = {
    "statement_timeout": "60s",
    "idle_in_transaction_session_timeout": "60s",
}
# Housekeeping's prune deletes in bulk (a first prune after retention was shortened):
# each of its statements may take this long.
PRUNE_STATEMENT_TIMEOUT = "15min"

# Where a command that needs an existing ledger sends a person who has none.
# The errors retrying cannot fix, by SQLSTATE: what each means, and what to do.
REFUSALS: dict[str, tuple[str, str]] = {
    "28P01": (
        "the server refused the password, or none was given",
        "check ledger.password against the database user's password",
    ),
    "28000": (
        "the server does not let this user in",
        "check the user name in ledger.url, that the role exists and may log in "
        "(LOGIN), and the server's pg_hba.conf",
    ),
    "3D000": (
        "the database does not exist",
        "create it (CREATE DATABASE), or correct the database name in ledger.url",
    ),
    "42501": (
        "the user may not create the ledger's tables",
        "grant it CREATE on the schema (GRANT CREATE ON SCHEMA public TO ...), "
        "or use a user that owns the database",
    ),
    "3F000": (
        "there is no schema to create the ledger's tables in",
        "create the schema, or correct search_path in ledger.url's options",
    ),
}
# What the server may say to a daemon that is running (or about to retry), by SQLSTATE:
# what it means and what to do. Each is one sentence in the log and the CLI, no traceback;
# the daemon retries at the next period.
SERVER_ERRORS: dict[str, tuple[str, str]] = {
    **REFUSALS,  # a password changed, a database dropped, while the daemon runs
    "25P03": (
        "the server ended the session because it sat idle inside a transaction for longer "
        "than idle_in_transaction_session_timeout",
        "the daemon reconnects at its next period; if it recurs, the daemon was stalled "
        "mid-transaction (look at its CPU limit and throttling), or raise "
        "idle_in_transaction_session_timeout for the ledger's role",
    ),
    "57014": (
        "a statement ran longer than statement_timeout (60 s unless ledger.url's options "
        "or the role set another) and the server cancelled it",
        "look for a session holding locks on the ledger's tables (pg_stat_activity, "
        "pg_locks) or an overloaded server; raise statement_timeout in ledger.url "
        "(?options=-c%20statement_timeout%3D120s) only if the ledger's queries need longer",
    ),
    "40P01": (
        "this transaction and another were each waiting for rows the other held (a "
        "deadlock); the server rolled this one back, so nothing of it was written",
        "it is tried again as it was; if it recurs, the server's log names the statements",
    ),
    "40001": (
        "the server could not order this transaction with another writing the same rows "
        "(a serialization failure) and rolled it back, so nothing of it was written",
        "it is tried again as it was; if it recurs, the server's log names the statements",
    ),
    "53300": (
        "the server has no connection left for this user (max_connections, or the role's "
        "CONNECTION LIMIT, is reached)",
        "close idle sessions (pg_stat_activity), or raise max_connections or the role's "
        "limit (ALTER ROLE ... CONNECTION LIMIT)",
    ),
    "25006": (
        "the server takes no writes: it is a read-only standby (after a failover, or "
        "ledger.url names a replica) or default_transaction_read_only is on",
        "point ledger.url at the primary (add target_session_attrs=read-write to it to "
        "skip standbys), or turn default_transaction_read_only off for the ledger's "
        "database",
    ),
}
# The states above where the server answered and rolled one transaction back, as it may
# now and then while the ledger works (``LEDGER_CONFLICT``): two transactions crossing,
# one statement held past statement_timeout. Not an outage unless it keeps on.
CONFLICTS = frozenset({"40P01", "40001", "57014"})
# The states above that come at a connection's start: said as refusing the connection.
_AT_CONNECT = frozenset({*REFUSALS, "53300"})
# Driver errors of PostgreSQL's class 25 (psycopg's InternalError) that are the server's
# state, not a fault of the statement: a session ended while idle in a transaction, a
# standby's refusal to write.
_INTERNAL_PASSING = frozenset({"25P03", "25006"})
# The connection's start fails with text only: the server's words (in English) and
# libpq's own, with the SQLSTATE each stands for.
_STARTUP_ERRORS = (
    (re.compile(r"password authentication failed"), "28P01"),
    (re.compile(r"fe_sendauth: no password supplied"), "28P01"),
    (re.compile(r"no pg_hba\.conf entry|pg_hba\.conf rejects connection"), "28000"),
    (re.compile(r'role ".*" (does not exist|is not permitted to log in)'), "28000"),
    (re.compile(r'database ".*" does not exist'), "3D000"),
    (
        re.compile(
            r"too many connections|sorry, too many clients already|remaining connection "
            r"slots are reserved"
        ),
        "53300",
    ),
)

_CREATE_HINT = (
    "start the daemon (autonomic run) or simulate with --ledger to create one, "
    "or check --ledger/ledger.url"
)
_SUPPORTED = "sqlite:///PATH or postgresql://USER@HOST/DB"


def open_ledger(
    url: str,
    now: float,
    *,
    password: str | None = None,
    migrate: bool = True,
    durable: bool = True,
    create: bool = True,
    bounded: bool = False,
) -> Ledger:
    """Open (and by default migrate) the ledger at ``url``.

    ``durable=False`` (SQLite only) skips the fsync on every commit: for throwaway
    ledgers such as a simulation's, never for a daemon's, whose intents must survive.

    ``bounded=True`` (PostgreSQL; the daemon) sets ``SESSION_TIMEOUTS`` on each session
    that has none: a statement or a transaction left idle is ended by the server. Every
    PostgreSQL connection gets ``TCP_SETTINGS`` and ``CONNECT_TIMEOUT`` (unless the URL
    sets them), so that a vanished host fails a call within about a minute.

    ``create=False`` is for the commands that read or answer (the daemon and a
    simulation create): the ledger must already exist, be Autonomic's and be at this
    release's schema version. Nothing is created or migrated, not even an empty SQLite
    file, and another application's database is not touched; anything else is a
    ``LedgerError`` that names the file or URL (``migrate`` is then ignored).
    """
    shown = redact_url_passwords(url, whole=True)
    try:
        target = _engine_url(url, password)
    except (sa.exc.ArgumentError, ValueError) as exc:
        message = f"ledger.url {shown!r} is not a database URL: {exc}"
        raise LedgerError(redact_url_passwords(message)) from None
    backend = target.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise LedgerError(
            f"ledger URL {shown!r}: {backend} is not supported; the ledger is on SQLite or "
            f"PostgreSQL ({_SUPPORTED})"
        )
    if backend == "postgresql" and target.get_driver_name() != "psycopg":
        raise LedgerError(
            f"ledger URL {shown!r}: the {target.get_driver_name()} driver is not supported; "
            "use postgresql:// (or postgresql+psycopg://)"
        )
    if not create and backend == "sqlite":
        _check_sqlite_ledger(target, shown)
    elif backend == "sqlite":
        _check_sqlite_folder(target)
    kwargs: dict[str, Any] = {"json_serializer": _serialize}
    if backend == "sqlite":
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=10)
        # libpq would wait for ever on a server that accepts and never answers, and for
        # minutes to hours on a host that vanished.
        settings = {"connect_timeout": CONNECT_TIMEOUT, **TCP_SETTINGS}
        kwargs["connect_args"] = {k: v for k, v in settings.items() if k not in target.query}
    try:
        engine = sa.create_engine(target, **kwargs)
    except ModuleNotFoundError as exc:
        raise LedgerError(
            f"the driver for {backend} is not installed (pip install 'autonomic[postgres]')"
        ) from exc
    if backend == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas if durable else _sqlite_fast)
    elif bounded:
        sa.event.listen(engine, "connect", _session_timeouts)
    ledger = Ledger(engine)
    where = target.render_as_string()  # the password hidden
    if not create:
        try:
            _check_existing(ledger, where)
        except BaseException:
            engine.dispose()
            raise
    elif migrate:
        try:
            ledger.migrate(now)
        except (sa.exc.DatabaseError, TransientError) as exc:  # unreachable, or not a database
            engine.dispose()
            raise _refused(where, exc, existing=False) from exc
    return ledger


def _sqlite_file(target: URL) -> Path | None:
    """The file a SQLite URL names; None for an in-memory database."""
    database = target.database or ""
    if database in ("", ":memory:") or target.query.get("mode") == "memory":
        return None
    if database.startswith("file:") and str(target.query.get("uri", "")).lower() in (
        "true",
        "1",
    ):
        database = database.removeprefix("file:")
    return Path(database)


def _check_sqlite_folder(target: URL) -> None:
    """The folder a new SQLite ledger goes in exists: SQLite creates the file, not its
    folder, and says only "unable to open database file" (the example config's
    /var/lib/autonomic is the pod's volume, absent on a workstation)."""
    path = _sqlite_file(target)
    if path is None or path.parent.is_dir():
        return
    named = str(path) if path.is_absolute() else f"{path} (in {Path.cwd()})"
    problem = "is not a folder" if path.parent.exists() else "does not exist"
    raise LedgerError(
        f"cannot open the ledger at {named}: its folder {path.parent} {problem}; create "
        "the folder, or set ledger.url to a file in one that exists (sqlite:///PATH)"
    )


def _check_sqlite_ledger(target: URL, shown: str) -> None:
    """An existing SQLite file holding an Autonomic ledger, checked without creating,
    changing (not even its journal mode) or locking anything."""
    path = _sqlite_file(target)
    if path is None:
        raise LedgerError(f"no ledger at {shown!r}: an in-memory database is empty; {_CREATE_HINT}")
    named = str(path) if path.is_absolute() else f"{path} (in {Path.cwd()})"
    if not path.exists():
        raise LedgerError(f"no ledger at {named}: {_CREATE_HINT}")
    if path.is_dir():
        raise LedgerError(f"{named} is a directory, not a ledger; check --ledger/ledger.url")
    try:
        # mode=rw: open what is there, never create; only reads follow.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open the ledger at {named}: {exc}") from None
    try:
        names = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.DatabaseError as exc:
        raise LedgerError(
            f"{named} is not an SQLite database ({exc}), so not a ledger; check --ledger/ledger.url"
        ) from None
    finally:
        conn.close()
    if not names:
        raise LedgerError(f"no ledger at {named}: the file is an empty database; {_CREATE_HINT}")
    if "schema_version" not in names:
        raise LedgerError(
            f"{named} is not an Autonomic ledger (it has no schema_version table; its tables: "
            f"{', '.join(sorted(names)[:8])}{', ...' if len(names) > 8 else ''}); "
            "check --ledger/ledger.url"
        )


def _check_existing(ledger: Ledger, where: str) -> None:
    """The database holds an Autonomic ledger at this release's schema version."""
    try:
        with ledger.engine.connect() as conn:
            present = sa.inspect(conn).has_table("schema_version")
        version = ledger.schema_version() if present else 0
    except (sa.exc.DatabaseError, TransientError) as exc:
        raise _refused(where, exc, existing=True) from exc
    if not present:
        raise LedgerError(
            f"the database at {where} is not an Autonomic ledger (it has no schema_version "
            f"table): check --ledger/ledger.url, or start the daemon (autonomic run) to "
            "create the ledger there"
        )
    if version > SCHEMA_VERSION:
        try:
            ledger._check_newer(version)
        except TransientError as exc:
            raise _refused(where, exc, existing=True) from exc
    if version < SCHEMA_VERSION:
        raise LedgerError(
            f"the ledger at {where} has schema version {version} and this release needs "
            f"{SCHEMA_VERSION}: start this release's daemon (autonomic run), which migrates "
            "it when it starts, then try again"
        )


def _cause(exc: Exception) -> object:
    """The database driver's own words for ``exc`` (through a ``TransientError``)."""
    if isinstance(exc, TransientError) and isinstance(exc.__cause__, sa.exc.DBAPIError):
        exc = exc.__cause__
    return exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc


def _words(exc: Exception) -> str:
    """What the database (or its driver) said: a statement's error without the SQL
    quoted under it."""
    cause = _cause(exc)
    primary = getattr(getattr(cause, "diag", None), "message_primary", None)
    return primary if isinstance(primary, str) and primary else str(cause)


def _sqlstate(exc: Exception) -> str | None:
    """The SQLSTATE behind ``exc``: the driver's, or read from the words of a failed
    connection's start (which has none)."""
    cause = _cause(exc)
    code = getattr(cause, "sqlstate", None)
    if isinstance(code, str):
        return code
    if type(cause).__module__.split(".")[0] != "psycopg":
        return None
    text = str(cause)
    return next((state for words, state in _STARTUP_ERRORS if words.search(text)), None)


# A command that reads or answers opens a ledger the daemon made: a user refused there
# may not use its tables (not create them, as the daemon's 42501 means).
_REFUSED_TO_READ = (
    "the user may not read or write the ledger's tables",
    "grant it access (GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public "
    "TO ...), or use the user the daemon uses",
)


def _refused(where: str, exc: Exception, *, existing: bool) -> LedgerError:
    """Why the database at ``where`` refused: the server's words, the SQLSTATE, what it
    means and what to do (for the states retrying cannot fix); the password hidden."""
    words = redact_url_passwords(" ".join(_words(exc).split()))
    code = _sqlstate(exc)
    known = _REFUSED_TO_READ if existing and code == "42501" else SERVER_ERRORS.get(code or "")
    if known is None:
        return LedgerError(f"cannot open the ledger at {where}: {words}")
    meaning, remedy = known
    return LedgerError(f"cannot open the ledger at {where}: {words} ({code}: {meaning}; {remedy})")


def _session_timeouts(dbapi_connection: Any, _record: Any) -> None:
    """Each of ``SESSION_TIMEOUTS`` the new session has no value for (0), in one round trip."""
    wanted = ", ".join(f"('{name}', '{value}')" for name, value in SESSION_TIMEOUTS.items())
    with dbapi_connection.cursor() as cursor:
        cursor.execute(
            f"SELECT set_config(name, value, false) FROM (VALUES {wanted}) "
            "AS wanted(name, value) WHERE current_setting(name) = '0'"
        )
    dbapi_connection.commit()  # a session setting made in a transaction lasts if it commits


def _sqlite_fast(dbapi_connection: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# Keep ``metadata`` importable from here for tools that want to inspect the schema.
_ = metadata
