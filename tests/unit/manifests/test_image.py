"""The Dockerfile, .dockerignore and the CI workflows agree with the manifests.

The image cannot be built on the development machines (no Docker engine), so these
static checks hold the Dockerfile to what the Deployment assumes; the kind workflow
builds and runs it for real."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_kind import missing_prerequisite
from tests.unit.manifests.conftest import REPO
from tests.unit.manifests.kustomize import Obj, only

Instruction = tuple[str, str]


def _instructions() -> list[Instruction]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    lines = [
        line
        for line in (REPO / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("#")
    ]
    joined, current = [], ""
    for line in lines:
        current += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            if current.strip():
                joined.append(current.strip())
            current = ""
    return [(i.split(None, 1)[0].upper(), i.split(None, 1)[1]) for i in joined]


def _final_stage() -> list[Instruction]:
    instructions = _instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def test_both_stages_use_python_311_slim() -> None:
    instructions = _instructions()
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in instructions
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert len(froms) == 2
    assert all(f.startswith("${PYTHON_IMAGE}") for f in froms)


def test_runs_as_the_user_the_deployment_expects(base: list[Obj]) -> None:
    users = [args for keyword, args in _final_stage() if keyword == "USER"]
    assert users == ["65532:65532"]
    pod = only(base, "Deployment", "autonomic")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["runAsGroup"] == 65532


def test_entrypoint_runs_the_daemon_with_the_mounted_config(base: list[Obj]) -> None:
    final = dict(_final_stage())
    command = json.loads(final["ENTRYPOINT"]) + json.loads(final["CMD"])
    assert command == ["autonomic", "run", "--config", "/etc/autonomic/autonomic.yaml"]
    container = only(base, "Deployment", "autonomic")["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == command[1:]


def test_read_only_root_friendly() -> None:
    final = " ".join(args for keyword, args in _final_stage() if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in final
    assert "HOME=/tmp" in final
    runs = " ".join(args for keyword, args in _instructions() if keyword == "RUN")
    assert "compileall" in runs, "bytecode must be compiled at build time"
    assert "chown 65532:65532 /var/lib/autonomic" in runs


def test_installs_the_package_without_dev_dependencies() -> None:
    runs = " ".join(args for keyword, args in _instructions() if keyword == "RUN")
    assert "pip install" in runs
    assert "[dev]" not in runs and " -e " not in runs and "--editable" not in runs


def test_every_copied_path_passes_the_dockerignore_allow_list() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", ".dockerignore is an allow-list: it starts by excluding all"
    allowed = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    assert ".venv" not in allowed and ".git" not in allowed
    for keyword, args in _instructions():
        if keyword != "COPY" or args.startswith("--from"):
            continue
        for source in args.split()[:-1]:
            source = source.rstrip("/")
            assert (REPO / source).exists(), f"COPY {source}: no such path"
            assert any(source == a or source.startswith(a + "/") for a in allowed), (
                f"COPY {source} is excluded by .dockerignore"
            )


def test_the_kind_workflow_runs_the_e2e_suite_and_requires_it() -> None:
    workflow = yaml.safe_load(
        (REPO / ".github" / "workflows" / "e2e-kind.yml").read_text(encoding="utf-8")
    )
    job = workflow["jobs"]["kind"]
    assert job["env"]["E2E_REQUIRED"] == "1"
    commands = " ".join(step.get("run", "") for step in job["steps"])
    assert "pytest -m e2e tests/e2e" in commands
    assert "kind-linux-amd64" in commands


def _fake_tool(folder: Path, name: str, exit_code: int, message: str = "") -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit {exit_code}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize(
    ("tools", "expected"),
    [
        ({}, "docker CLI is not installed"),
        ({"docker": 1}, "cannot reach a Docker engine"),
        ({"docker": 0}, "`kind` is not on PATH"),
        ({"docker": 0, "kind": 0}, "`kubectl` is not on PATH"),
        ({"docker": 0, "kind": 0, "kubectl": 0}, None),
    ],
)
def test_the_kind_suite_says_why_it_skips(
    tools: dict[str, int],
    expected: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, code in tools.items():
        _fake_tool(tmp_path, name, code, "Cannot connect to the Docker daemon")
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + "/usr/bin/nonexistent")
    reason = missing_prerequisite()
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason
