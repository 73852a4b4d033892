"""Claims in README.md and docs/ that the code can check, and that drift when it changes:
the daemon's jobs (the architecture's loop table, the `loop` label in docs/deploy.md), the
counts of shipped runbooks, the runbook types and conditions runbooks/README.md lists,
the anomaly reasons the README and docs/configuration.md name, the ledger's tables and
its latest migration in docs/ledger.md, and docs/configuration.md's keys, defaults, secrets,
switches, whole numbers and periods against agent/settings.py."""

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


# Where a runbook's outcome gets its reason code, and which argument of each call holds
# it: a plan's ``NoAction`` (``_Stop`` inside planning), a target's resolution or skip,
# a guard's ``Gate`` or judgment, the route's ``RouteDecision``, the engine's ``Handled``.
_REASON_ARGUMENT = {
    "_Stop": 0,
    "NoAction": 0,
    "Skip": 1,
    "skip": 0,
    "TargetResolution": 1,
    "Gate": 1,
    "judge": 0,
    "RouteDecision": 1,
    "Handled": 3,
}
_OUTCOME_SOURCES = (
    "remediation/planning.py",
    "remediation/matching.py",
    "remediation/guards.py",
    "agent/routing.py",
    "agent/remediation_engine.py",
)
# Codes these calls carry that are no runbook outcome: a guard or a target that allows
# (``Allowed``, ``Resolved``), a trigger that does not take the signal (never counted,
# ``NoTriggerMatch``), a signal no runbook takes that names no object (``NoMatch``:
# neither counted nor kept), and an undo's refusal (``HumanChangedSinceAction``, told in
# the undo's own story, not an outcome of a signal).
_NOT_OUTCOMES = {"Allowed", "Resolved", "NoTriggerMatch", "NoMatch", "HumanChangedSinceAction"}


def _outcome_reason_codes() -> set[str]:
    """Every reason code a runbook's outcome can carry, read from the code: the string
    (or module constant) passed where a reason code goes, the route's codes (set in
    ``route`` by assignment as well), and Prometheus' readings' codes."""
    import ast

    from remediation import readings

    codes = {
        value for name, value in vars(readings).items() if name.isupper() and isinstance(value, str)
    }
    for source in _OUTCOME_SOURCES:
        tree = ast.parse(_text(source))
        constants = {
            node.targets[0].id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        }

        def strings(node: ast.AST, constants: dict[str, str] = constants) -> set[str]:
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                return {node.value}
            if isinstance(node, ast.Name) and node.id in constants:
                return {constants[node.id]}
            if isinstance(node, ast.IfExp):
                return strings(node.body) | strings(node.orelse)
            return set()

        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == "route":
                codes |= {
                    n.value
                    for n in ast.walk(node)
                    if isinstance(n, ast.Constant)
                    and isinstance(n.value, str)
                    and re.fullmatch(r"(?:[A-Z][a-z]+){2,}", n.value)
                }
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            at = _REASON_ARGUMENT.get(name or "")
            if at is not None and len(node.args) > at:
                codes |= strings(node.args[at])
    return codes - _NOT_OUTCOMES


def test_the_outcomes_table_names_every_reason_code() -> None:
    """docs/decisions.md's table of what becomes of a runbook that takes up a signal
    names every reason code the code can give it (they are the `reason` label of
    ``autonomic_runbook_outcomes_total`` and what `autonomic why` shows)."""
    section = _text("docs/decisions.md").split("## When a runbook does not act", 1)[1]
    table = section.split("| outcome |", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`([A-Za-z]+)`", table))
    codes = _outcome_reason_codes()
    assert {"NoData", "ConfidentEnough", "ShadowRunbook", "PodDisruptionBudgetBlocks"} <= codes
    assert codes <= named, sorted(codes - named)


def _config_sections() -> dict[str, tuple[type[Any], dict[str, Any]]]:
    """Each section of the configuration, by its key, with its model and its fields by
    key (``anomalyQueries`` is a list of ``AnomalyQuery``); the top level is ``""``."""
    from pydantic import BaseModel

    sections: dict[str, tuple[type[Any], dict[str, Any]]] = {"": (Settings, {})}
    for name, info in Settings.model_fields.items():
        key = info.alias or name
        held = [info.annotation, *get_args(info.annotation)]
        models = [m for m in held if isinstance(m, type) and issubclass(m, BaseModel)]
        if not models:
            sections[""][1][key] = info
            continue
        (model,) = models
        fields = {(f.alias or n): f for n, f in model.model_fields.items()}
        sections[key] = (model, fields)
    return sections


def _config_rows() -> dict[str, str]:
    """docs/configuration.md's table of sections: each row's keys cell, by section."""
    doc = _text("docs/configuration.md")
    table = doc.split("## Sections", 1)[1].split("| section |", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = line.strip().strip("|").split("|", 1)
        if len(cells) == 2 and cells[0].strip() not in ("section", "---"):
            section = cells[0].strip().strip("`")
            rows["" if section == "top level" else section] = cells[1]
    return rows


def _documented_default(text: str, default: Any) -> bool:
    """Whether ``text``, what the table writes in brackets after a key, starts with
    ``default`` as the file would write it (``5m`` for 300 s, ``1 MiB``, ``true``)."""
    from agent.settings import parse_duration

    text = text.strip()
    if isinstance(default, bool):
        return text == str(default).lower()
    if isinstance(default, str):
        return text.strip("`") == default or text == f"`{default}`"
    if isinstance(default, int) and text.endswith(" MiB"):
        return float(text.removesuffix(" MiB")) * 1_048_576 == default
    word = text.split()[0]
    if isinstance(default, float) and re.fullmatch(r"[\d.]+(ms|s|m|h|d|w)", word):
        return parse_duration(word) == default
    return float(word) == default


def test_the_configuration_reference_names_every_key_with_its_default() -> None:
    """Every key Settings accepts is in its section's row of docs/configuration.md, and
    where the row gives a plain default in brackets after the key (``timeout`` (10s:
    ...)), it is the model's. Defaults that are lists, mappings or unset are not read."""
    rows = _config_rows()
    sections = _config_sections()
    assert set(rows) == set(sections)
    for section, (_, fields) in sections.items():
        row = rows[section]
        if section == "anomalyQueries":
            # "list of `{name, expr, step (1m), history (7d), threshold (0.69)}`"
            found = re.search(r"list of `\{([^}]*)\}`", row)
            assert found is not None
            entries = dict(
                re.fullmatch(r"(\w+)(?: \((.*)\))?", part.strip()).groups()  # type: ignore[union-attr]
                for part in found.group(1).split(",")
            )
            assert set(entries) == set(fields)
            for key, info in fields.items():
                if entries[key] is not None:
                    assert _documented_default(entries[key], info.default), (section, key)
            continue
        for key, info in fields.items():
            where = f"{section}.{key}" if section else key
            assert f"`{key}`" in row, f"docs/configuration.md does not name {where}"
            default = info.get_default(call_default_factory=True)
            if default is None or not isinstance(default, bool | int | float | str):
                continue
            found = re.search(rf"`{key}` \((`[^`]*`|[^:;,)]*)", row)
            if found is not None and found.group(1).strip() not in ("default",):
                assert _documented_default(found.group(1), default), (where, found.group(1))


def _named_in(text: str, section: str, key: str) -> bool:
    return f"`{key}`" in text or f"`{section}.{key}`" in text


def _kind_of(model: Any, name: str, info: Any) -> set[str]:
    """What a setting is, as the reference's lists sort them: a secret, a switch, a
    whole number, a duration that must be longer than 0."""
    from agent.settings import SecretRef, _reads_own_text

    held = {info.annotation, *get_args(info.annotation)}
    kinds = set()
    if SecretRef in held:
        kinds.add("secret")
    if info.annotation is bool:
        kinds.add("switch")
    if int in held and bool not in held:
        kinds.add("whole")
    if name in _reads_own_text(model) and any(getattr(m, "gt", None) == 0 for m in info.metadata):
        kinds.add("period")
    return kinds


def test_the_configuration_reference_lists_every_secret_switch_whole_number_and_period() -> None:
    """The reference's lists of the settings that are secrets, switches (true or false
    only), whole numbers and durations longer than 0 name every such key, and no other
    key is in the list of secrets."""
    doc = re.sub(r"\s+", " ", _text("docs/configuration.md"))
    lists = {
        "secret": doc.split("## Secrets", 1)[1].split("## Sections", 1)[0].split("| field |")[1],
        "switch": doc.split("Switches (", 1)[1].split(")", 1)[0],
        "whole": doc.split("A whole-number setting (", 1)[1].split(")", 1)[0],
        "period": doc.split("Periods, timeouts, steps and lifetimes", 1)[1].split("may be 0", 1)[0],
    }
    table = _text("docs/configuration.md").split("## Secrets", 1)[1].split("\n## ", 1)[0]
    first = re.findall(r"^\| ([^|]+) \|", table, re.M)
    secrets_named = {name for cell in first for name in re.findall(r"`(\w+\.\w+)`", cell)}
    secrets = set()
    for section, (model, fields) in _config_sections().items():
        names = {(f.alias or n): n for n, f in model.model_fields.items()}
        for key, info in fields.items():
            for kind in _kind_of(model, names[key], info):
                assert _named_in(lists[kind], section, key), (kind, f"{section}.{key}")
                if kind == "secret":
                    secrets.add(f"{section}.{key}")
    assert secrets_named == secrets


def test_the_example_anomaly_queries_keep_the_labels_that_name_a_workload() -> None:
    """An anomaly series is grouped per workload, and a runbook bound to it, only when its
    labels hold ``namespace`` and ``deployment`` (or ``statefulset``): an aggregation that
    drops one makes incidents that belong to no workload. The example config's query once
    summed by (le, deployment) only."""
    import yaml

    from agent.loops.anomaly import target_of

    aggregations = [
        (query["name"], kept)
        for query in yaml.safe_load(_text("docs/example-config.yaml"))["anomalyQueries"]
        for kept in re.findall(r"\b(?:sum|avg|max|min) by \(([^)]*)\)", query["expr"])
    ]
    assert aggregations
    for query_name, kept in aggregations:
        labels = {label.strip(): "x" for label in kept.split(",")}
        assert target_of(labels) is not None, (query_name, kept)


def test_the_ha_pair_section_states_the_readers_numbers() -> None:
    """docs/deploy.md's "Prometheus as an HA pair" against ``agent/adapters/prometheus.py``:
    the statuses retried at once, the offset's window (minutes and the fewest readings),
    the spread that is logged and the offset that is, and how recent a "stored" answer
    must be to be weighed with the last."""
    from agent.adapters import prometheus as p

    section = _text("docs/deploy.md").split("## Prometheus as an HA pair", 1)[1]
    section = " ".join(section.split("\n## ", 1)[0].split())
    retried = sorted(
        int(r.removeprefix("PrometheusHTTP")) for r in p._RETRIED_REASONS if "HTTP" in r
    )
    assert "PrometheusDown" in p._RETRIED_REASONS
    said = ", ".join(str(s) for s in retried[:-1]) + f" or {retried[-1]}"
    assert f"HTTP {said} from a proxy" in section
    minutes = round(p.OFFSET_WINDOW_SECONDS / 60)
    assert f"the last {minutes} minutes (and at least the last {p.OFFSET_WINDOW})" in section
    assert f"one past {p.OFFSET_SPREAD_WARN:g} s is logged once" in section
    assert f"an offset past {p.OFFSET_WARN:g} s is logged" in section
    assert (
        p.NEWEST_WINDOW == 60.0
        and "(within a minute, or from the answer before the last)" in section
    )
