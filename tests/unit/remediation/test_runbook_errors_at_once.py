"""One check reports every problem of a runbook file at once: the schema's errors and the
rules across fields of every part well-formed enough to check, never an error that a
reported one alone explains."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import main
from remediation.loading import LoadIssue, check_paths

RUNBOOK = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: web-errors
  description: Roll back on errors.
spec:
  triggers:
    - type: alert
      alertname: HighErrorRate
    - type: kubernetes
      condition: CrashLoopBackOff
  target:
    kind: Deployment
    namespaces: [shop]
  actions:
    - type: rollback
  verification:
    checks:
      - type: kubernetes
        condition: podsReady
"""


def issues_of(text: str, tmp_path: Path, name: str = "rb.yaml") -> list[LoadIssue]:
    path = tmp_path / name
    path.write_text(text)
    report = check_paths([path])
    assert report.runbooks == ()
    return list(report.issues)


def line_of(text: str, fragment: str) -> int:
    """The 1-based line of ``text`` where ``fragment`` first appears."""
    assert fragment in text
    return text[: text.index(fragment)].count("\n") + 1


def where(issues: list[LoadIssue]) -> list[tuple[int | None, str]]:
    return [(issue.line, issue.path) for issue in issues]


def test_the_base_runbook_is_valid(tmp_path: Path) -> None:
    (tmp_path / "rb.yaml").write_text(RUNBOOK)
    assert check_paths([tmp_path / "rb.yaml"]).ok


def test_a_schema_error_and_a_cross_field_error_are_reported_together(tmp_path: Path) -> None:
    """The old loader stopped at the schema error (a list written as text); the namespace
    both selected and excluded was said only once that was fixed."""
    text = RUNBOOK.replace(
        "    namespaces: [shop]\n",
        "    namespaces: [shop]\n    excludeNamespaces: [shop]\n    excludeNames: web\n",
    )
    found = issues_of(text, tmp_path)
    assert where(found) == [
        (line_of(text, "excludeNamespaces"), "spec.target.excludeNamespaces"),
        (line_of(text, "excludeNames:"), "spec.target.excludeNames"),
    ]
    assert found[0].message == (
        "namespace shop is both in 'namespaces' and in 'excludeNamespaces'; remove it from one"
    )
    assert found[1].message == (
        "expected a list, such as [a, b] or one '- item' per line (got 'web')"
    )
    assert str(found[0]).startswith(f"{tmp_path / 'rb.yaml'}:15: spec.target.excludeNamespaces")


def test_every_part_is_cross_checked_whatever_else_is_malformed(tmp_path: Path) -> None:
    """Broken actions do not hide the triggers', target's and checks' rules, nor broken
    triggers the actions': all of them come in one report, top to bottom, each with the
    file, line and field."""
    text = (
        RUNBOOK.replace(
            "      condition: CrashLoopBackOff\n",
            "      condition: CrashLoopBackOff\n      heldFor: 5m\n"
            "    - type: kubernetes\n      condition: NodeNotReady\n",
        )
        .replace("    - type: rollback\n", "    - type: rollback\n      revision: 3\n")
        .replace(
            "    - type: rollback\n",
            "    - type: drain\n    - type: scale\n      factor: '1.5'\n      maxReplicas: 5\n"
            "    - type: rollback\n",
        )
        .replace(
            "        condition: podsReady\n",
            "        condition: podsReady\n      - type: promql\n"
            "        query: 'errors{pod=\"{{pod}}\"}'\n        condition: '< 0.05'\n",
        )
    )
    found = issues_of(text, tmp_path)
    assert where(found) == [
        (line_of(text, "heldFor"), "spec.triggers[1].heldFor"),
        (line_of(text, "NodeNotReady"), "spec.triggers[2].condition"),
        (line_of(text, "type: drain"), "spec.actions[0].type"),
        (line_of(text, "factor"), "spec.actions[1].factor"),
        (line_of(text, "revision"), "spec.actions[2].revision"),
        (line_of(text, "query:"), "spec.verification.checks[1].query"),
    ]
    messages = [issue.message for issue in found]
    assert "use 'minCount'" in messages[0]
    assert "condition NodeNotReady is about a node" in messages[1]
    assert "action 'drain' cannot act on a Deployment" in messages[2]
    assert messages[3] == 'expected a number, got the string "1.5" (remove the quotes)'
    assert messages[4] == "unknown key (this entry takes no key besides type)"
    assert messages[5].startswith("unknown placeholder {{pod}}")
    assert all(str(issue).startswith(f"{tmp_path / 'rb.yaml'}:") for issue in found)


def test_broken_triggers_do_not_hide_the_actions_rules(tmp_path: Path) -> None:
    text = RUNBOOK.replace("      alertname: HighErrorRate\n", "      alertnme: HighErrorRate\n")
    text = text.split("  verification:", maxsplit=1)[0]  # and no verification for a rollback
    found = issues_of(text, tmp_path)
    # A missing key is said where the mapping that lacks it begins.
    assert where(found) == [
        (line_of(text, "  triggers:"), "spec.verification"),
        (line_of(text, "- type: alert"), "spec.triggers[0].alertname"),
        (line_of(text, "alertnme"), "spec.triggers[0].alertnme"),
    ]
    assert "needs 'verification'" in found[0].message
    assert found[1].message == "required key is missing"


def test_a_malformed_action_of_a_known_type_still_needs_its_verification(
    tmp_path: Path,
) -> None:
    text = RUNBOOK.split("  verification:", maxsplit=1)[0].replace(
        "    - type: rollback\n", "    - type: scale\n      factor: 0\n      maxReplicas: 5\n"
    )
    found = issues_of(text, tmp_path)
    assert where(found) == [
        (line_of(text, "  triggers:"), "spec.verification"),
        (line_of(text, "factor"), "spec.actions[0].factor"),
    ]


def test_a_target_kind_that_does_not_exist_hides_no_rule_but_its_own(tmp_path: Path) -> None:
    """No "cannot act on" for the actions nor "is about a pod" for the triggers: those
    would follow from the wrong kind alone."""
    text = RUNBOOK.replace("kind: Deployment", "kind: Service").replace(
        "    - type: rollback\n", "    - type: rollback\n    - type: drain\n"
    )
    assert [issue.path for issue in issues_of(text, tmp_path)] == ["spec.target.kind"]


def test_an_action_of_unknown_type_is_not_said_to_need_a_verification(tmp_path: Path) -> None:
    text = RUNBOOK.split("  verification:", maxsplit=1)[0].replace("rollback", "rolback")
    assert [issue.path for issue in issues_of(text, tmp_path)] == ["spec.actions[0].type"]


def test_a_trigger_of_unknown_type_may_be_the_alert_a_check_waits_for(tmp_path: Path) -> None:
    text = RUNBOOK.replace("type: alert\n", "type: alrt\n").replace(
        "condition: podsReady\n", "condition: podsReady\n      - type: alertResolved\n"
    )
    assert [issue.path for issue in issues_of(text, tmp_path)] == ["spec.triggers[0].type"]


def test_a_check_of_unknown_type_may_be_more_than_alert_resolved(tmp_path: Path) -> None:
    text = RUNBOOK.replace(
        "      - type: kubernetes\n        condition: podsReady\n",
        "      - type: alertResolved\n      - type: kubernets\n        condition: podsReady\n",
    )
    found = issues_of(text, tmp_path)
    assert [issue.path for issue in found] == ["spec.verification.checks[1].type"]


def test_a_name_in_a_file_with_problems_still_clashes_with_another_file(tmp_path: Path) -> None:
    """Both files are reported in one check: the first's error, and the second's name
    that the first already uses, with the first's file and line."""
    (tmp_path / "a.yaml").write_text(RUNBOOK.replace("kind: Deployment", "kind: Service"))
    (tmp_path / "b.yaml").write_text(RUNBOOK)
    report = check_paths([tmp_path])
    assert report.runbooks == ()
    assert [(i.file, i.line, i.path) for i in report.issues] == [
        (str(tmp_path / "a.yaml"), 13, "spec.target.kind"),
        (str(tmp_path / "b.yaml"), 4, "metadata.name"),
    ]
    assert report.issues[1].message == (
        f"runbook name 'web-errors' is already used at {tmp_path / 'a.yaml'}:4"
    )


def test_a_name_used_twice_in_one_file_is_said_with_the_other_errors(tmp_path: Path) -> None:
    broken = RUNBOOK.replace("kind: Deployment", "kind: Service")
    text = broken + "---\n" + broken
    found = issues_of(text, tmp_path)
    second = RUNBOOK.count("\n") + 1
    assert [(i.line, i.path) for i in found] == [
        (13, "spec.target.kind"),
        (second + 4, "metadata.name"),
        (second + 13, "spec.target.kind"),
    ]
    assert found[1].message == "runbook name 'web-errors' is already used at line 4"


def test_validate_prints_every_problem_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        RUNBOOK.replace("maxReplicas", "x")
        .replace("    - type: rollback\n", "    - type: drain\n      timeout: soon\n")
        .replace("namespaces: [shop]", "namespaces: [shop]\n    excludeNamespaces: [shop]")
    )
    assert main(["runbooks", "validate", str(bad)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        "spec.target.excludeNamespaces",
        "spec.actions[0].type",
        "spec.actions[0].timeout",
    ]
    assert "3 problems in 1 file" in captured.err
