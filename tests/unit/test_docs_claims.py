"""Claims in README.md and docs/ that the code can check, and that drift when it changes:
the daemon's jobs (the architecture's loop table, the `loop` label in docs/deploy.md) and
the counts of shipped runbooks."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from agent.daemon import Daemon
from agent.settings import Settings
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
