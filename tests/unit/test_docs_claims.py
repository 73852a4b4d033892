"""Claims in README.md and docs/ that the code can check, and that drift when it changes:
the daemon's jobs (the architecture's loop table, the `loop` label in docs/deploy.md), the
counts of shipped runbooks, the runbook types and conditions runbooks/README.md lists,
the anomaly reasons the README and docs/configuration.md name, and the ledger's tables and
its latest migration in docs/ledger.md."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast, get_args

import pytest

from agent.daemon import Daemon
from agent.settings import Settings
from forecasting.anomaly.point import Reason
from remediation import schema
from remediation.loading import load_paths

REPO = Path(__file__).resolve().parents[2]
NUMBERS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
]


def _text(name: str) -> str:
    return (REPO / name).read_text(encoding="utf-8")


def _every_job() -> set[str]:
    """The names of every job ``Daemon.jobs()`` schedules, with every optional part on."""
    settings = Settings.model_validate(
        {"anomalyQueries": [{"name": "q", "expr": "up", "step": "1m"}]}
    )
    part = cast(Any, SimpleNamespace(cycle=None, sync=None))
    daemon = Daemon(settings, part, part, part, part, part, part, part, part)
    daemon.scaling = daemon.canary = daemon.socket_mode = part
    daemon.approver_refresh = lambda: None
    daemon.takeover_period = 2.0
    return {job.name for job in daemon.jobs()}


def test_the_loop_table_has_a_row_for_every_job() -> None:
    text = _text("docs/architecture.md")
    section = text.split("## The loops", 1)[1].split("\n#", 1)[0]
    rows = set(re.findall(r"^\| ([a-z-]+) \|", section, re.M)) - {"loop"}
    assert rows == _every_job()


def test_the_loop_label_names_every_job() -> None:
    row = re.search(r"^\| `autonomic_loop_duration_seconds` \|.*$", _text("docs/deploy.md"), re.M)
    assert row is not None
    named = set(re.findall(r"[a-z]+(?:-[a-z]+)*", row.group(0).split("|")[4]))
    assert _every_job() <= named, _every_job() - named


def _shipped() -> tuple[int, int]:
    """Shipped runbooks, and how many require the opt-in label on their target."""
    runbooks = load_paths([REPO / "runbooks"])
    opted = [r for r in runbooks if "autonomic.dev/enabled" in r.spec.target.require_labels]
    return len(runbooks), len(opted)


@pytest.mark.parametrize(
    ("doc", "pattern"),
    [
        ("README.md", r"\| (\w+) shipped runbooks and their JSON Schema"),
        ("docs/deploy.md", r"\((\w+) of the (\w+) shipped runbooks require this same label"),
        ("docs/workloads.md", r"\((\w+) of the (\w+) shipped runbooks require this one"),
    ],
)
def test_counts_of_shipped_runbooks(doc: str, pattern: str) -> None:
    found = re.search(pattern, re.sub(r"\s+", " ", _text(doc)))
    assert found is not None, f"{doc}: {pattern} not found"
    total, opted = _shipped()
    words = [NUMBERS.index(word) for word in found.groups()]
    assert words == ([total] if len(words) == 1 else [opted, total])


def _literal(model: Any) -> str:
    """The ``type`` a runbook part's model takes (its ``Literal``'s one value)."""
    (value,) = get_args(model.model_fields["type"].annotation)
    return str(value)


def _union(annotated: Any) -> set[str]:
    """The ``type`` values of a discriminated union such as ``Action``."""
    return {_literal(model) for model in get_args(get_args(annotated)[0])}


def _table_types(heading: str) -> set[str]:
    """The names in the first column of the table under ``heading`` in runbooks/README.md."""
    section = _text("runbooks/README.md").split(heading, 1)[1].split("\n#", 1)[0]
    first = re.findall(r"^\| ([^|]+) \|", section, re.M)
    return {name for cell in first for name in re.findall(r"`(\w+)`", cell)}


@pytest.mark.parametrize(
    ("heading", "union"),
    [
        ("### Triggers (`type:`)", schema.Trigger),
        ("### Preconditions (`type:`)", schema.Precondition),
        ("### Actions (`type:`)", schema.Action),
    ],
)
def test_the_runbook_tables_list_every_type(heading: str, union: Any) -> None:
    """runbooks/README.md says of the actions table "this table is the complete list"."""
    assert _table_types(heading) == _union(union)


@pytest.mark.parametrize(
    ("where", "literal"),
    [
        (r"`condition` \(([^)]*)\)", schema.KubernetesCondition),
        (r"`\{type: kubernetes, condition\}` with(.*?)\(the\s", schema.KubernetesCheckCondition),
    ],
)
def test_the_runbook_readme_names_every_condition(where: str, literal: Any) -> None:
    text = re.sub(r"\s+", " ", _text("runbooks/README.md"))
    found = re.search(where, text)
    assert found is not None, where
    named = set(re.findall(r"\w+", found.group(1)))
    assert set(get_args(literal)) <= named, set(get_args(literal)) - named


# Reasons a point that looked normal, or could not be judged, has: never a finding.
NOT_FINDINGS = {Reason.NONE, Reason.WARMING_UP, Reason.MISSING}


@pytest.mark.parametrize(
    ("doc", "row"),
    [
        ("README.md", r"^\| `autonomic detect .*$"),
        ("docs/configuration.md", r"^\| `anomalyQueries` .*$"),
    ],
)
def test_the_anomaly_reasons_are_all_named(doc: str, row: str) -> None:
    found = re.search(row, _text(doc), re.M)
    assert found is not None, row
    named = set(re.findall(r"`([a-z_]+)`", found.group(0)))
    findings = {reason.value for reason in Reason} - {reason.value for reason in NOT_FINDINGS}
    assert findings <= named, findings - named


def _seconds(text: str) -> float:
    number, unit = text.split()[:2]
    return float(number) * {"s": 1, "min": 60, "h": 3600}[unit]


def test_the_stuck_jobs_table_gives_every_jobs_bounds() -> None:
    """docs/deploy.md's table of when each job is stuck, against ``Daemon.jobs()`` with
    the default periods and the runtime's first-run bound."""
    from agent.runtime import FIRST_RUN_BOUND

    settings = Settings.model_validate(
        {"anomalyQueries": [{"name": "q", "expr": "up", "step": "1m"}]}
    )
    part = cast(Any, SimpleNamespace(cycle=None, sync=None))
    daemon = Daemon(settings, part, part, part, part, part, part, part, part)
    daemon.scaling = daemon.canary = daemon.socket_mode = part
    daemon.approver_refresh = lambda: None
    daemon.takeover_period = 2.0
    section = _text("docs/deploy.md").split("### Stuck jobs", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("job", "---"):
            for name in cells[0].split(", "):
                rows[name] = cells
    jobs = {job.name: job for job in daemon.jobs()}
    assert set(rows) == set(jobs)
    for name, job in jobs.items():
        _, _, stuck, first = rows[name]
        if not job.watched:
            assert stuck.startswith("not watched"), name
            continue
        assert _seconds(stuck) == job.bound, name
        assert _seconds(first) == max(job.bound, FIRST_RUN_BOUND), name


def test_the_ledger_doc_has_a_row_for_every_table_and_the_latest_migration() -> None:
    """docs/ledger.md's storage table names every table of the schema (a migration that
    adds one must say what it holds), and its log examples of a migration name the latest
    schema version, which moves with every migration."""
    from agent.ledger.schema import MIGRATIONS, tables

    doc = _text("docs/ledger.md")
    storage = doc.split("## Storage", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", storage, re.M))
    assert rows == set(tables) - {"schema_version"}
    latest = len(MIGRATIONS)
    assert MIGRATIONS[-1].version == latest
    assert f"migrated from schema version 4 to {latest} (migrations 5, " in doc
    assert f", {latest})`" in doc
    assert f"`created at schema version {latest}`" in doc
    assert (
        f"has schema version {latest + 1}, newer than this release's ({latest}); the newer\n"
        f"migrations ({latest + 1}) only add" in doc
    )
