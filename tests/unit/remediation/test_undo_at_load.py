"""``onFailure.undo`` is judged at load: written ``true`` on a runbook whose every change
cannot be undone, it is refused with the file, line and field; a runbook whose undo
would reverse only part of what it changes loads with a note saying which part, printed
by ``autonomic runbooks validate`` and logged once when the daemon loads it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.kube_errors import UndoRefusedError
from agent.adapters.kube_ops import Operations
from agent.cli import main
from remediation.loading import LoadNote, check_paths
from remediation.ports import (
    Cordon,
    DeletePod,
    Drain,
    EvictPod,
    ExpandVolume,
    ObjectRef,
    Operation,
    PatchResources,
    PauseRollout,
    RollbackToPrevious,
    RolloutRestart,
    Scale,
    SetHpaMaxReplicas,
    SetHpaMinReplicas,
    SetImages,
)
from remediation.schema import ACTION_KINDS, NOT_UNDOABLE, UNDONE_IN_PART

HEAD = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: {name}
  description: A runbook.
spec:
  mode: enforce
  triggers:
    - type: alert
      alertname: SomethingWrong
  target:
    kind: {kind}
  actions:
"""
CHECKS = {
    "Deployment": "podsReady",
    "Pod": "podsReady",
    "Node": "nodeCordoned",
    "PersistentVolumeClaim": "volumeExpanded",
}
ACTIONS = {
    "scale": "    - type: scale\n      add: 1\n      maxReplicas: 10\n",
    "patchResources": "    - type: patchResources\n      resource: cpu\n      factor: 1.5\n"
    "      max: '2'\n",
    "rolloutRestart": "    - type: rolloutRestart\n",
    "deletePod": "    - type: deletePod\n",
    "evictPod": "    - type: evictPod\n",
    "drain": "    - type: drain\n",
    "cordon": "    - type: cordon\n",
    "expandVolume": "    - type: expandVolume\n      factor: 1.5\n      max: 500Gi\n",
    "notify": "    - type: notify\n      message: look at {{target}}\n",
}


def runbook(kind: str, *actions: str, on_failure: str = "", name: str = "rb") -> str:
    return (
        HEAD.format(name=name, kind=kind)
        + "".join(ACTIONS[action] for action in actions)
        + f"  verification:\n    checks:\n      - type: kubernetes\n"
        f"        condition: {CHECKS[kind]}\n" + on_failure
    )


def write(tmp_path: Path, text: str, name: str = "rb.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


UNDO_TRUE = "  onFailure:\n    undo: true\n"


@pytest.mark.parametrize("action", sorted(NOT_UNDOABLE))
def test_undo_written_on_an_action_that_cannot_be_undone_is_refused(
    tmp_path: Path, action: str
) -> None:
    kind = sorted(ACTION_KINDS[action])[0]
    text = runbook(kind, action, on_failure=UNDO_TRUE)
    path = write(tmp_path, text)
    report = check_paths([path])
    assert report.runbooks == () and report.notes == ()
    (issue,) = report.issues
    assert (issue.line, issue.path) == (line_of(text, "undo: true"), "spec.onFailure.undo")
    assert f"({action}, actions[0]: {NOT_UNDOABLE[action]})" in issue.message
    assert "write 'undo: false'" in issue.message
    assert str(issue).startswith(f"{path}:{issue.line}: spec.onFailure.undo: ")


def test_an_action_of_unknown_type_might_be_undone_so_only_its_type_is_said(
    tmp_path: Path,
) -> None:
    text = runbook("Deployment", "rolloutRestart", on_failure=UNDO_TRUE).replace(
        "    - type: rolloutRestart\n", "    - type: rolloutRestart\n    - type: rolback\n"
    )
    (issue,) = check_paths([write(tmp_path, text)]).issues
    assert issue.path == "spec.actions[1].type"


def test_the_undo_is_judged_beside_the_schema_errors(tmp_path: Path) -> None:
    """A document with a schema error elsewhere is still told about its undo, in the
    same round."""
    text = runbook("Pod", "deletePod", on_failure=UNDO_TRUE).replace(
        "  description: A runbook.\n", "  description: A runbook.\n  version: two\n"
    )
    found = check_paths([write(tmp_path, text)]).issues
    assert [issue.path for issue in found] == ["metadata.version", "spec.onFailure.undo"]
    assert "could never undo anything" in found[1].message


NOTES = {
    "an undo that reverses one action of two": (
        runbook("Deployment", "patchResources", "rolloutRestart", on_failure=UNDO_TRUE),
        "undo: true",
        "on a failed verification the undo reverses patchResources (actions[0]), but not "
        "rolloutRestart (actions[1]: the pods it replaced are gone); the run is then "
        "recorded as failed, not undone, and escalated",
    ),
    "an undo by default of pods deleted": (
        runbook("Deployment", "notify", "deletePod"),
        "  mode: enforce",  # not written: said where the spec begins
        "'undo' is true by default, but nothing this runbook changes can be undone "
        "(deletePod, actions[1]: a deleted pod cannot be brought back): a failed "
        "verification would restore nothing and is escalated; write 'undo: false' to say so",
    ),
    "an undo of a drain": (
        runbook("Node", "drain", on_failure="  onFailure: {escalate: true}\n"),
        "onFailure:",
        f"on a failed verification the undo reverses drain (actions[0]) only in part "
        f"({UNDONE_IN_PART['drain']})",
    ),
}


@pytest.mark.parametrize("case", NOTES, ids=list(NOTES))
def test_what_the_undo_will_not_reverse_is_noted_and_the_runbook_loads(
    tmp_path: Path, case: str
) -> None:
    text, fragment, message = NOTES[case]
    path = write(tmp_path, text)
    report = check_paths([path])
    assert report.issues == () and len(report.runbooks) == 1
    assert report.notes == (
        LoadNote(str(path), line_of(text, fragment), "spec.onFailure.undo", message),
    )
    assert (
        str(report.notes[0])
        == f"{path}:{line_of(text, fragment)}: note: spec.onFailure.undo: {message}"
    )


@pytest.mark.parametrize(
    "text",
    [
        runbook("Deployment", "patchResources", "scale", on_failure=UNDO_TRUE),
        runbook("Deployment", "rolloutRestart", on_failure="  onFailure: {undo: false}\n"),
        runbook("Node", "cordon", "notify"),
        runbook("Pod", "notify"),
    ],
    ids=["everything undone", "no undo asked", "a cordon", "nothing changed"],
)
def test_an_undo_that_reverses_everything_or_is_not_asked_for_has_no_note(
    tmp_path: Path, text: str
) -> None:
    report = check_paths([write(tmp_path, text)])
    assert report.issues == () and report.notes == ()


def test_a_file_with_a_problem_has_no_notes(tmp_path: Path) -> None:
    """Its runbooks do not load: what their undo would do is said once they do."""
    noted = runbook("Deployment", "patchResources", "rolloutRestart", name="noted")
    broken = runbook("Pod", "deletePod", on_failure=UNDO_TRUE, name="broken")
    report = check_paths([write(tmp_path, f"{noted}---\n{broken}")])
    assert len(report.issues) == 1 and report.notes == ()


def test_validate_prints_the_notes_and_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, runbook("Deployment", "patchResources", "rolloutRestart"))
    assert main(["runbooks", "validate", str(path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:7: note: spec.onFailure.undo: on a failed verification")
    assert lines[1] == "OK: 1 runbook in 1 file is valid (rb)"


def test_the_daemon_logs_each_note_once_when_it_loads_the_runbooks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from agent.daemon import load_runbooks
    from agent.settings import load_settings

    folder = tmp_path / "runbooks"
    folder.mkdir()
    write(folder, runbook("Deployment", "patchResources", "rolloutRestart", name="a"), "a.yaml")
    write(folder, runbook("Deployment", "scale", name="b"), "b.yaml")
    config = tmp_path / "autonomic.yaml"
    config.write_text("runbooks: [runbooks]\n")
    with caplog.at_level(logging.INFO, logger="autonomic.daemon"):
        loaded = load_runbooks(load_settings(config, {}))
    assert [runbook.name for runbook in loaded] == ["a", "b"]
    noted = [r.getMessage() for r in caplog.records if "note:" in r.getMessage()]
    assert noted == [
        f"runbooks: {folder / 'a.yaml'}:7: note: spec.onFailure.undo: on a failed "
        "verification the undo reverses patchResources (actions[0]), but not rolloutRestart "
        "(actions[1]: the pods it replaced are gone); the run is then recorded as failed, "
        "not undone, and escalated"
    ]


# ------------------------------------------------------------ the table and the adapter


class _TouchedError(Exception):
    """The adapter went on to the API: it would try the undo."""


class _Api:
    def __getattr__(self, name: str) -> Any:
        raise _TouchedError(name)


WORKLOAD = ObjectRef("Deployment", "web", "shop")
POD = ObjectRef("Pod", "web-0", "shop")
NODE = ObjectRef("Node", "node-1")
OPERATIONS: dict[str, Operation] = {
    "scale": Scale(WORKLOAD, 4),
    "setHpaMinReplicas": SetHpaMinReplicas(ObjectRef("HorizontalPodAutoscaler", "web", "shop"), 4),
    "raiseHpaMaxReplicas": SetHpaMaxReplicas(
        ObjectRef("HorizontalPodAutoscaler", "web", "shop"), 15
    ),
    "rolloutRestart": RolloutRestart(WORKLOAD),
    "rollback": RollbackToPrevious(WORKLOAD),
    "pauseRollout": PauseRollout(WORKLOAD),
    "deletePod": DeletePod(POD),
    "evictPod": EvictPod(POD),
    "cordon": Cordon(NODE),
    "drain": Drain(NODE),
    "patchResources": PatchResources(WORKLOAD, "web", limits={"cpu": "2"}),
    "expandVolume": ExpandVolume(ObjectRef("PersistentVolumeClaim", "data", "shop"), "15Gi"),
    "promoteCanary": SetImages(WORKLOAD, {"web": "shop/web:2"}, canary="web-canary"),
}


def test_the_actions_refused_at_load_are_those_the_kubernetes_adapter_cannot_undo() -> None:
    assert set(OPERATIONS) == set(ACTION_KINDS) - {"notify"}
    refused = set()
    for action, operation in OPERATIONS.items():
        try:
            Operations(_Api()).undo(operation, {})  # type: ignore[arg-type]
        except UndoRefusedError as error:
            assert error.reason == "NotUndoable"
            refused.add(action)
        except _TouchedError:
            pass
    assert refused == set(NOT_UNDOABLE)
    assert not set(UNDONE_IN_PART) & refused
