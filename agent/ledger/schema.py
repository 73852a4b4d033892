"""The ledger's tables and its versioned migrations.

Every table is append-mostly and keyed for the questions the daemon asks of it:
"what did we decide about this target lately", "what did humans say about this kind of
decision", "is there an intent in flight", "how many actions in the last hour".

Times are float epoch seconds (UTC) from the injected clock, so SQLite and PostgreSQL
compare them identically and tests can move time.

Migrations are numbered and applied in order inside one transaction each; the number
reached is kept in ``schema_version``. Every migration is expand-only unless it says
otherwise (``Migration.expand_only``): it adds tables, indexes, nullable or defaulted
columns, and drops, renames or changes the meaning of nothing, so the release before it
runs unchanged on the schema it leaves (a rolling upgrade's old pods, a rollback).
A database written by a newer release (a higher number than this code knows) is used
as it is if every migration above this code's is expand-only, and refused, rather than
misread, if one is not (``schema_version.breaks_older``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Migration",
    "create_version_table",
    "metadata",
    "tables",
]

metadata = sa.MetaData()
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Time = sa.Double


def _schema_version_columns() -> list[sa.schema.SchemaItem]:
    """The columns of ``schema_version`` as the first release created it (a fresh set per
    call: a column belongs to one table); migration 11 adds ``breaks_older``."""
    return [
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("applied_at", Time, nullable=False),
    ]


schema_version = sa.Table(
    "schema_version",
    metadata,
    *_schema_version_columns(),
    # Added by migration 11: True when the releases before this migration cannot run on
    # the schema it leaves (it is not expand-only); NULL (or False) when they can.
    sa.Column("breaks_older", sa.Boolean, nullable=True),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(24), nullable=False),  # scaling | anomaly | canary | remediation
    sa.Column("decision_type", sa.String(200), nullable=False),  # what calibration groups by
    sa.Column("subject", sa.String(300), nullable=False),  # e.g. Deployment/shop/web
    sa.Column("proposal", JSON, nullable=False),
    sa.Column("confidence", sa.Double, nullable=False),
    sa.Column("reason_code", sa.String(80), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", JSON, nullable=False),
    sa.Column("model_version", sa.String(120), nullable=False),
    sa.Column("route", sa.String(16), nullable=False),  # auto | ask | escalate | observe | shadow
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("incident_key", sa.String(300), nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)


def _feedback_columns() -> list[sa.schema.SchemaItem]:
    """The columns of ``feedback`` as the first release created them (a fresh set per
    call: a column belongs to one table); migration 14 adds ``once_only``."""
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.String(32), sa.ForeignKey("decisions.id"), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),  # answer | verification | undo ...
        sa.Column("outcome", sa.String(24), nullable=False),  # approved | right | wrong ...
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("created_at", Time, nullable=False),
    ]


feedback = sa.Table(
    "feedback",
    metadata,
    *_feedback_columns(),
    # Added by migration 14: True on a verdict a decision holds at most one of per kind
    # and actor (``Ledger.settle``'s), which a unique index over those rows enforces;
    # NULL on every other row, and on the rows written before it.
    sa.Column("once_only", sa.Boolean, nullable=True),
)

questions = sa.Table(
    "questions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("decision_id", sa.String(32), sa.ForeignKey("decisions.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending|approved|rejected|expired|snoozed
    sa.Column("channel", sa.String(24), nullable=False),  # slack | cli
    sa.Column("message_ref", sa.String(200), nullable=True),
    sa.Column("asked_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False),
    sa.Column("answered_by", sa.String(120), nullable=True),
    sa.Column("answered_at", Time, nullable=True),
    sa.Column("answer_reason", sa.Text, nullable=True),
)

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("key", sa.String(400), primary_key=True),  # runbook / target / incident
    sa.Column("decision_id", sa.String(32), sa.ForeignKey("decisions.id"), nullable=False),
    sa.Column("runbook", sa.String(120), nullable=False),
    sa.Column("target", sa.String(300), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(120), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

intents = sa.Table(
    "intents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("execution_key", sa.String(400), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("decision_id", sa.String(32), nullable=True),
    sa.Column("operation", JSON, nullable=False),
    sa.Column("snapshot", JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending|applied|failed|undone|abandoned
    sa.Column("result", JSON, nullable=True),
    sa.Column("owner", sa.String(120), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.UniqueConstraint("execution_key", "step", name="uq_intent_step"),
)

guard_state = sa.Table(
    "guard_state",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("value", JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

action_log = sa.Table(
    "action_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("runbook", sa.String(120), nullable=False),
    sa.Column("target", sa.String(300), nullable=False),
    sa.Column("decision_id", sa.String(32), nullable=True),
    sa.Column("at", Time, nullable=False),
)


def _model_version_columns() -> list[sa.schema.SchemaItem]:
    """The columns of ``model_versions`` as the first release created them (a fresh set
    per call); migration 15 adds ``live_series`` and ``retired_at``."""
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("series_key", sa.String(300), nullable=False),
        sa.Column("model", sa.String(120), nullable=False),
        sa.Column("version", sa.String(120), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),  # live | retired | rejected
        sa.Column("params", JSON, nullable=False),
        sa.Column("evaluation", JSON, nullable=False),
        sa.Column("created_at", Time, nullable=False),
    ]


model_versions = sa.Table(
    "model_versions",
    metadata,
    *_model_version_columns(),
    # Added by migration 15: the series' key while the row is its live model (NULL once
    # retired, on other rows, and on the rows written before it), under a unique index,
    # so that two writers promoting at once cannot both keep a live row; and when the
    # row stopped being live, which retention counts from.
    sa.Column("live_series", sa.Text, nullable=True),
    sa.Column("retired_at", Time, nullable=True),
)

thresholds = sa.Table(
    "thresholds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("decision_type", sa.String(200), nullable=False),
    sa.Column("auto", sa.Double, nullable=False),
    sa.Column("ask", sa.Double, nullable=False),
    sa.Column("evidence", JSON, nullable=False),
    sa.Column("created_at", Time, nullable=False),
)

# Added by migration 5: every status a decision took, with when, so its life can be
# told (proposed, asked, approved, executing, verified...). Not in version 1.
decision_status = sa.Table(
    "decision_status",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("decision_id", sa.String(32), sa.ForeignKey("decisions.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("previous", sa.String(16), nullable=True),  # None for the first status
    sa.Column("at", Time, nullable=False),
)

# Added by migration 6: what runbooks saw and did not act on, and why. One row per
# (runbook, subject, reason code), its count and times kept current: a condition seen
# every cycle is one row, not one per cycle. Not in version 1.
held_back = sa.Table(
    "held_back",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("runbook", sa.String(120), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),  # Deployment/shop/web, alert:Name
    sa.Column("reason_code", sa.String(80), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # skipped | denied | no-match | failed
    sa.Column("message", sa.Text, nullable=False),  # the latest sentence
    sa.Column("signal", sa.Text, nullable=False),  # the latest signal, described
    sa.Column("first_seen", Time, nullable=False),
    sa.Column("last_seen", Time, nullable=False),
    sa.Column("times", sa.Integer, nullable=False),
    sa.UniqueConstraint("runbook", "subject", "reason_code", name="uq_held_back_key"),
)


# Added by migration 7: the alerts the Alertmanager webhook accepted, written before it
# answers 200, so that an alert accepted is handled even if the replica that took it in
# dies before its next remediation cycle, and so that a new leader knows what is firing.
# One row per (fingerprint, startsAt, status): a re-send, a retry or an HA peer's copy is
# the same row, its ``delivered_at`` moved on. Not in version 1.
def _alert_columns() -> list[sa.schema.SchemaItem]:
    """The columns of ``alerts`` as migration 7 created them (a fresh set per call: a
    column belongs to one table)."""
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("starts_at", Time, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),  # firing | resolved
        sa.Column("ends_at", Time, nullable=True),  # None: not given (a firing alert's)
        sa.Column("name", sa.Text, nullable=False),  # the alertname
        sa.Column("labels", JSON, nullable=False),
        sa.Column("signal", JSON, nullable=False),  # the signal the engine handles
        sa.Column("received_at", Time, nullable=False),  # first delivery
        sa.Column("delivered_at", Time, nullable=False),  # latest delivery
        sa.Column("handled_at", Time, nullable=True),  # None: not handled by the engine yet
        sa.UniqueConstraint("fingerprint", "starts_at", "status", name="uq_alerts_delivery"),
    ]


# Added by migration 8: the failed attempts at handling an alert on its own, kept on its
# row so that a restart or a new leader goes on counting, and whether it was given up.
_ALERT_ATTEMPT_COLUMNS = (
    ("attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("last_error", "TEXT"),  # the latest failure, "ValueError: ...", truncated
    ("last_attempt_at", "DOUBLE PRECISION"),
    ("given_up_at", "DOUBLE PRECISION"),  # set with handled_at: no replica tries it again
)

# Added by migration 9: when a remediation cycle took the alert in and has not finished
# with it yet (handled it, or counted a failed attempt). A mark left by a process that
# died (or was killed) while handling it is counted as a failed attempt by the next
# cycle, so an alert that kills every process handling it is given up, not a crash loop.
_ALERT_HANDLING_COLUMNS = (("handling_since", "DOUBLE PRECISION"),)

# Added by migration 10: which replica (its lease identity, ``POD_NAME``) set the mark.
# Another replica's mark may be a live process's (an old leader finishing its cycle
# after it lost the lease): it is counted only once it is too old for that.
_ALERT_HANDLER_COLUMNS = (("handling_by", "TEXT"),)

alerts = sa.Table(
    "alerts",
    metadata,
    *_alert_columns(),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("last_attempt_at", Time, nullable=True),
    sa.Column("given_up_at", Time, nullable=True),
    sa.Column("handling_since", Time, nullable=True),
    sa.Column("handling_by", sa.Text, nullable=True),
)

# Added by migration 12: the signals the storm guard has counted as triggers, by dedup
# key, with when first counted and when last seen. A restart or a new leader reads them
# back, so a signal still standing (a crash loop nobody has fixed) is not counted a
# second time, all at once with the others, as a storm. Not in version 1.
counted_triggers = sa.Table(
    "counted_triggers",
    metadata,
    sa.Column("dedup_key", sa.Text, primary_key=True),
    sa.Column("counted_at", Time, nullable=False),
    sa.Column("last_seen", Time, nullable=False),  # moved on at most daily while it stands
)

tables = metadata.tables

_V1_TABLES = (
    decisions,
    feedback,
    questions,
    executions,
    intents,
    guard_state,
    action_log,
    model_versions,
    thresholds,
)

# Indexes added by migration 2, as (name, table, columns). Written as plain DDL so that
# migration 1 stays exactly what release 0.1 created and the upgrade test can build a
# true version-1 database.
_V2_INDEXES = (
    ("ix_decisions_created", "decisions", "created_at"),
    ("ix_decisions_type_created", "decisions", "decision_type, created_at"),
    ("ix_decisions_subject_created", "decisions", "subject, created_at"),
    ("ix_decisions_status", "decisions", "status"),
    ("ix_feedback_decision", "feedback", "decision_id"),
    ("ix_questions_status_expires", "questions", "status, expires_at"),
    ("ix_intents_status", "intents", "status"),
    ("ix_action_log_at", "action_log", "at"),
    ("ix_action_log_target_at", "action_log", "target, at"),
    ("ix_model_versions_series", "model_versions", "series_key, status"),
    ("ix_thresholds_type_created", "thresholds", "decision_type, created_at"),
)


def create_version_table(conn: sa.Connection) -> None:
    """``schema_version`` as the first release created it, unless it exists: the columns
    added since come with their migrations (11: ``breaks_older``)."""
    sa.Table("schema_version", sa.MetaData(), *_schema_version_columns()).create(
        conn, checkfirst=True
    )


@dataclass(frozen=True)
class Migration:
    """One step of the schema. ``expand_only``: the release before this migration runs
    unchanged on the schema it leaves (it only adds: tables, indexes, nullable or
    defaulted columns; it drops, renames, tightens or rewrites nothing the older code
    reads), as a rolling upgrade and a rollback need. ``tests/integration/ledger/
    test_migrations_expand.py`` checks it of every migration that claims it. One that is
    not says False: its row in ``schema_version`` then has ``breaks_older`` set, and the
    releases before it refuse the ledger instead of misreading it."""

    version: int
    description: str
    apply: Callable[[sa.Connection], None]
    expand_only: bool = True


def _initial(conn: sa.Connection) -> None:
    for table in _V1_TABLES:
        # As release 0.1 created them: later columns come with their migrations.
        if table is feedback:
            first = sa.MetaData()
            decisions.to_metadata(first)  # what its foreign key names
            table = sa.Table("feedback", first, *_feedback_columns())
        elif table is model_versions:
            table = sa.Table("model_versions", sa.MetaData(), *_model_version_columns())
        table.create(conn, checkfirst=True)


def _indexes(conn: sa.Connection) -> None:
    for name, table, columns in _V2_INDEXES:
        conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})"))


def _incident_index(conn: sa.Connection) -> None:
    conn.execute(
        sa.text(
            "CREATE INDEX IF NOT EXISTS ix_decisions_incident "
            "ON decisions (incident_key, created_at)"
        )
    )


def _by_decision_indexes(conn: sa.Connection) -> None:
    for table in ("questions", "intents"):
        conn.execute(
            sa.text(f"CREATE INDEX IF NOT EXISTS ix_{table}_decision ON {table} (decision_id)")
        )
    conn.execute(
        sa.text(
            "CREATE INDEX IF NOT EXISTS ix_feedback_kind_created ON feedback (kind, created_at)"
        )
    )


def _status_history(conn: sa.Connection) -> None:
    decision_status.create(conn, checkfirst=True)
    conn.execute(
        sa.text(
            "CREATE INDEX IF NOT EXISTS ix_decision_status_decision "
            "ON decision_status (decision_id, id)"
        )
    )


def _held_back(conn: sa.Connection) -> None:
    held_back.create(conn, checkfirst=True)
    conn.execute(
        sa.text("CREATE INDEX IF NOT EXISTS ix_held_back_last_seen ON held_back (last_seen)")
    )


def _alerts(conn: sa.Connection) -> None:
    sa.Table("alerts", sa.MetaData(), *_alert_columns()).create(conn, checkfirst=True)
    for name, columns in (
        ("ix_alerts_handled", "handled_at, id"),
        ("ix_alerts_delivered", "delivered_at"),
    ):
        conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON alerts ({columns})"))


def _alert_attempts(conn: sa.Connection) -> None:
    for name, definition in _ALERT_ATTEMPT_COLUMNS:
        conn.execute(sa.text(f"ALTER TABLE alerts ADD COLUMN {name} {definition}"))


def _alert_handling(conn: sa.Connection) -> None:
    for name, definition in _ALERT_HANDLING_COLUMNS:
        conn.execute(sa.text(f"ALTER TABLE alerts ADD COLUMN {name} {definition}"))


def _alert_handler(conn: sa.Connection) -> None:
    for name, definition in _ALERT_HANDLER_COLUMNS:
        conn.execute(sa.text(f"ALTER TABLE alerts ADD COLUMN {name} {definition}"))


def _breaks_older(conn: sa.Connection) -> None:
    conn.execute(sa.text("ALTER TABLE schema_version ADD COLUMN breaks_older BOOLEAN"))


def _counted_triggers(conn: sa.Connection) -> None:
    counted_triggers.create(conn, checkfirst=True)
    conn.execute(
        sa.text(
            "CREATE INDEX IF NOT EXISTS ix_counted_triggers_last_seen "
            "ON counted_triggers (last_seen)"
        )
    )


# Widened by migration 13 on PostgreSQL, which enforces a VARCHAR's length where SQLite
# does not: the columns holding names that come from outside (a subject, an incident, a
# series' labels, a guard or run key, a pod name, a runbook's name), as (table, columns).
# The tables above keep their first release's lengths, so that migration 1 stays what
# that release created; the database, not this metadata, is what holds the rows.
_UNBOUNDED_TEXT = (
    ("decisions", ("decision_type", "subject", "reason_code", "model_version", "incident_key")),
    ("feedback", ("actor",)),
    ("questions", ("message_ref", "answered_by")),
    ("executions", ("key", "runbook", "target", "owner")),
    ("intents", ("execution_key", "owner")),
    ("guard_state", ("key",)),
    ("action_log", ("runbook", "target")),
    ("model_versions", ("series_key", "model", "version")),
    ("thresholds", ("decision_type",)),
    ("held_back", ("runbook", "subject", "reason_code")),
    ("alerts", ("fingerprint",)),
)


def _unbounded_text(conn: sa.Connection) -> None:
    """VARCHAR(n) to TEXT: binary-compatible on PostgreSQL, so neither the rows nor the
    indexes are rewritten. Nothing to do on SQLite, which stores any length."""
    if conn.dialect.name != "postgresql":
        return
    for table, columns in _UNBOUNDED_TEXT:
        changes = ", ".join(f"ALTER COLUMN {column} TYPE TEXT" for column in columns)
        conn.execute(sa.text(f"ALTER TABLE {table} {changes}"))


def _once_only_verdicts(conn: sa.Connection) -> None:
    """A nullable flag and a unique index over the rows that carry it, so that two
    transactions writing the same once-only verdict (two replicas, or a retry racing the
    call it repeats) cannot both keep it: PostgreSQL at READ COMMITTED lets both see none
    before either commits. Partial, so the rows already stored (a duplicate such a race
    left among them) neither stop the index being built nor are rewritten; and the
    releases before it, which leave the flag out, write as they did."""
    conn.execute(sa.text("ALTER TABLE feedback ADD COLUMN once_only BOOLEAN"))
    conn.execute(
        sa.text(
            "CREATE UNIQUE INDEX IF NOT EXISTS ux_feedback_once "
            "ON feedback (decision_id, kind, actor) WHERE once_only"
        )
    )


def _one_live_model(conn: sa.Connection) -> None:
    """Two nullable columns and a unique index over the rows that carry the first: a
    live row carries its series' key, so that two writers promoting a model of one
    series at once (two replicas at a leader change) cannot both keep theirs live;
    PostgreSQL at READ COMMITTED let each retire the old live row and insert its own.
    Over a new column, so that the rows already stored (two live rows such a race left
    among them) neither stop the index being built nor are rewritten, and the releases
    before it, which leave the column out, write as they did. ``retired_at``: when a
    row stopped being live, which retention counts from, so that a model live for
    longer than the retention is not pruned the moment it is retired."""
    for name, definition in (("live_series", "TEXT"), ("retired_at", "DOUBLE PRECISION")):
        conn.execute(sa.text(f"ALTER TABLE model_versions ADD COLUMN {name} {definition}"))
    conn.execute(
        sa.text(
            "CREATE UNIQUE INDEX IF NOT EXISTS ux_model_versions_live "
            "ON model_versions (live_series) WHERE live_series IS NOT NULL"
        )
    )


# Indexes added by migration 16, as (name, table, columns): found by
# benchmarks/ledger_scale.py, each for a read or a prune that otherwise walked a whole
# table, or every settled decision, and so slowed down as the ledger grew.
_V16_INDEXES = (
    # The answers read every remediation cycle (``answered_since``): a scan of every
    # question ever asked without it.
    ("ix_questions_answered", "questions", "answered_at"),
    # The hourly prune of finished intents by age: a scan of every intent without it.
    ("ix_intents_created", "intents", "created_at"),
    # The hourly prune of settled decisions by age: without it SQLite's planner walks
    # the status index over every settled decision (nearly all of them) to find one
    # day's worth.
    ("ix_decisions_status_created", "decisions", "status, created_at"),
    # Deleting a decision checks that no execution names it (the foreign key) and the
    # prune keeps a decision an execution names: both scanned every execution, once per
    # decision deleted, without it.
    ("ix_executions_decision", "executions", "decision_id"),
    # The prune keeps a model version a decision still kept names: without it, each old
    # version walked every decision of its workload to find one naming it.
    ("ix_decisions_subject_model", "decisions", "subject, model_version"),
    # The runs read by status every remediation cycle (running, paused, verifying): a
    # scan of every execution kept without it.
    ("ix_executions_status", "executions", "status"),
)


def _growth_indexes(conn: sa.Connection) -> None:
    for name, table, columns in _V16_INDEXES:
        conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial schema: decisions, feedback, questions, executions, intents, "
        "guard state, action log, model versions, thresholds",
        _initial,
    ),
    Migration(2, "indexes for retention, calibration windows and rate limits", _indexes),
    Migration(
        3, "index decisions by incident, so an ongoing incident is decided once", _incident_index
    ),
    Migration(
        4,
        "index questions and intents by decision, to tell one decision's story; "
        "feedback by kind and time, to list recent escalations",
        _by_decision_indexes,
    ),
    Migration(
        5,
        "status history of decisions: each status a decision took and when "
        "(decisions made before this version start their history at their next change)",
        _status_history,
    ),
    Migration(
        6,
        "runbooks held back: per runbook, subject and reason code, what a runbook that took "
        "a signal up did not do, why, how often and when (autonomic why)",
        _held_back,
    ),
    Migration(
        7,
        "alerts accepted by the Alertmanager webhook, stored before it answers: handled "
        "by the next remediation cycle of whichever replica leads, and the set of alerts "
        "firing read from them",
        _alerts,
    ),
    Migration(
        8,
        "failed attempts at handling a stored alert kept on its row (count, last error, "
        "when), and whether it was given up: a restart or a new leader goes on counting",
        _alert_attempts,
    ),
    Migration(
        9,
        "when a cycle took a stored alert in and has not finished with it: a process "
        "that dies while handling an alert leaves the mark, and the next cycle counts it "
        "as a failed attempt",
        _alert_handling,
    ),
    Migration(
        10,
        "which replica marked a stored alert as being handled: another replica's fresh "
        "mark may be a live old leader's, so it is not counted as a dead process's",
        _alert_handler,
    ),
    Migration(
        11,
        "whether a migration breaks the releases before it: a release finding a newer "
        "schema runs on it if every newer migration is expand-only (a rolling upgrade's "
        "old pods, a rollback), and refuses it if one is not",
        _breaks_older,
    ),
    Migration(
        12,
        "the signals the storm guard counted as triggers, by dedup key: a restart or a "
        "new leader does not count those still standing again, all at once, as a storm",
        _counted_triggers,
    ),
    Migration(
        13,
        "names of any length on PostgreSQL (subjects, incidents, guard and run keys, "
        "series keys, owners, runbooks): VARCHAR columns become TEXT, as SQLite already "
        "stores them, so a long anomaly series or pod name is not refused there alone",
        _unbounded_text,
    ),
    Migration(
        14,
        "a verdict written once per decision, kind and actor is kept once even when two "
        "replicas (or a retry and the call it repeats) write it at the same moment: a "
        "unique index over the rows flagged once-only (the rows stored before are not)",
        _once_only_verdicts,
    ),
    Migration(
        15,
        "a series has at most one live model version even when two writers promote at "
        "once (a unique index over the live rows flagged with their series; the rows "
        "stored before are not), and a retired version is kept for the retention from "
        "when it was retired",
        _one_live_model,
    ),
    Migration(
        16,
        "indexes for what slowed down as the ledger grew: questions by when answered "
        "(read every remediation cycle), intents by age, decisions by status and age, "
        "executions by decision, decisions by the model version they name (the hourly "
        "prune), executions by status (read every remediation cycle)",
        _growth_indexes,
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version
