"""Loading runbooks: every error names file, line and YAML path; loading is all-or-nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediation.loading import (
    LoadIssue,
    RunbookLoadError,
    check_paths,
    load_file,
    load_paths,
    load_text,
    render_json_schema,
)
from remediation.schema import DrainAction, PatchResourcesAction

REPO = Path(__file__).resolve().parents[3]

VALID = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: scale-web
  description: Scale out.
spec:
  mode: enforce
  triggers:
    - type: forecastBreach
      metric: requests_per_second
  target:
    kind: Deployment
  actions:
    - type: scale
      factor: 1.5
      maxReplicas: 10
  verification:
    checks:
      - type: kubernetes
        condition: podsReady
"""


# Six levels of ten aliases each: a few hundred bytes that expand to a million values.
ALIAS_BOMB = b"a0: &a0 [x, y]\n" + b"".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n".encode() for i in range(1, 7)
)


def issues_of(text: str, tmp_path: Path, name: str = "x.yaml") -> list[LoadIssue]:
    path = tmp_path / name
    path.write_text(text)
    report = check_paths([path])
    assert report.runbooks == ()
    return list(report.issues)


def only_issue(text: str, tmp_path: Path) -> LoadIssue:
    found = issues_of(text, tmp_path)
    assert len(found) == 1, found
    return found[0]


def test_valid_runbook_loads_with_parsed_values(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(VALID)
    (runbook,) = load_file(path)
    assert runbook.name == "scale-web"
    assert runbook.spec.mode == "enforce"
    assert runbook.spec.verification is not None
    assert runbook.spec.verification.settle == 60.0  # default 1m, held in seconds
    assert runbook.spec.guards.cooldown_per_target == 1800.0


def test_error_names_file_line_and_path(tmp_path: Path) -> None:
    text = VALID.replace("maxReplicas: 10", "maxReplicas: 0")
    issue = only_issue(text, tmp_path)
    assert issue.line == 16
    assert issue.path == "spec.actions[0].maxReplicas"
    assert str(issue) == (
        f"{tmp_path / 'x.yaml'}:16: spec.actions[0].maxReplicas: must be at least 1, got 0"
    )


@pytest.mark.parametrize(
    ("old", "new", "line", "path", "fragment"),
    [
        (
            "factor: 1.5",
            "factor: '1.5'",
            15,
            "spec.actions[0].factor",
            'expected a number, got the string "1.5" (remove the quotes)',
        ),
        ("factor: 1.5", "factr: 1.5", 15, "spec.actions[0].factr", "did you mean 'factor'"),
        ("type: scale", "type: scael", 14, "spec.actions[0].type", "unknown type 'scael'"),
        ("mode: enforce", "mode: yes", 7, "spec.mode", "'enforce', 'dryRun' or 'shadow'"),
        (
            "kind: Deployment",
            "kind: Deployment\n    namespaces: nope",
            13,
            "spec.target.namespaces",
            "expected a list, such as [a, b] or one '- item' per line",
        ),
        (
            "kind: Deployment",
            "kind: Deployment\n    requireLabels: app",
            13,
            "spec.target.requireLabels",
            "expected a mapping, such as {key: value} or one 'key: value' per line",
        ),
        ("  description: Scale out.\n", "", 4, "metadata.description", "required key"),
        (
            "apiVersion: autonomic.dev/v1alpha1",
            "apiVersion: v2",
            1,
            "apiVersion",
            "autonomic.dev/v1alpha1",
        ),
        (
            "metric: requests_per_second",
            "metric: requests_per_second\n      heldFor: 5m",
            11,
            "spec.triggers[0].heldFor",
            "unknown key",
        ),
    ],
)
def test_schema_errors_are_located(
    tmp_path: Path, old: str, new: str, line: int, path: str, fragment: str
) -> None:
    assert old in VALID
    issue = only_issue(VALID.replace(old, new), tmp_path)
    assert (issue.line, issue.path) == (line, path)
    assert fragment in issue.message


@pytest.mark.parametrize(
    ("old", "new", "line", "path", "message"),
    [
        (
            "maxReplicas: 10",
            'maxReplicas: "10"',
            16,
            "spec.actions[0].maxReplicas",
            'expected a whole number, got the string "10" (remove the quotes)',
        ),
        (
            "maxReplicas: 10",
            "maxReplicas: '10.5'",
            16,
            "spec.actions[0].maxReplicas",
            'expected a whole number, got the string "10.5"',
        ),
        (
            "factor: 1.5",
            "factor: 'one and a half'",
            15,
            "spec.actions[0].factor",
            'expected a number, got the string "one and a half"',
        ),
        (
            "name: scale-web",
            "name: scale-web\n  version: '2'",
            5,
            "metadata.version",
            'expected a whole number, got the string "2" (remove the quotes)',
        ),
    ],
)
def test_a_quoted_number_is_refused_in_the_configurations_words(
    tmp_path: Path, old: str, new: str, line: int, path: str, message: str
) -> None:
    """Runbooks always refused text for a number, as "Input should be a valid integer";
    they now say it as the configuration does, naming the text and what to do."""
    issue = only_issue(VALID.replace(old, new), tmp_path)
    assert str(issue) == f"{tmp_path / 'x.yaml'}:{line}: {path}: {message}"


def test_bad_duration_regex_and_timezone_are_reported_together(tmp_path: Path) -> None:
    text = VALID.replace(
        "  target:",
        "  preconditions:\n"
        "    - type: changedWithin\n"
        "      within: 5 minutes\n"
        "    - type: noOtherAlertFiring\n"
        "      matchers: ['alertname=~\"(oops\"']\n"
        "    - type: freezeWindow\n"
        "      timezone: Mars/Olympus\n"
        "      weekly: [{days: [Fri], start: '16:00', end: '18:00'}]\n"
        "  target:",
    )
    found = {(i.line, i.path): i.message for i in issues_of(text, tmp_path)}
    assert "is not a duration" in found[(13, "spec.preconditions[0].within")]
    assert "does not compile" in found[(15, "spec.preconditions[1].matchers[0]")]
    assert "not an IANA timezone" in found[(17, "spec.preconditions[2].timezone")]


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    issue = only_issue(VALID.replace("kind: Deployment", "kind: [Deployment"), tmp_path)
    assert issue.line is not None and issue.line >= 13
    assert issue.message.startswith("YAML syntax error")


def test_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    issue = only_issue(VALID.replace("factor: 1.5", "factor: 1.5\n      factor: 3"), tmp_path)
    assert issue.line == 16
    assert issue.path == "spec.actions[0].factor"
    assert "duplicate key 'factor' (first defined on line 15)" in issue.message


def test_duplicate_key_names_its_field(tmp_path: Path) -> None:
    """It said only "a.yaml:21: duplicate key 'type' (first at line 19)", no field: the
    configuration's reader said where; now both do, with the same words."""
    text = VALID.replace(
        "      maxReplicas: 10\n",
        "      maxReplicas: 10\n    - type: scale\n      type: scale\n      factor: 2\n",
    )
    issue = only_issue(text, tmp_path)
    assert (issue.line, issue.path) == (18, "spec.actions[1].type")
    assert issue.message == (
        "duplicate key 'type' (first defined on line 17); YAML would silently keep only the "
        "last one: remove or rename one of them"
    )
    twice = only_issue(
        VALID.replace("  mode: enforce\n", "  mode: enforce\n  mode: observe\n"), tmp_path
    )
    assert (twice.line, twice.path) == (8, "spec.mode")


def test_yaml_12_scalars_times_and_yes_stay_text(tmp_path: Path) -> None:
    text = VALID.replace(
        "  target:",
        "  preconditions:\n"
        "    - type: maintenanceWindow\n"
        "      timezone: UTC\n"
        "      weekly: [{days: [Sat], start: 02:00, end: 04:30}]\n"
        "  target:",
    )
    path = tmp_path / "t.yaml"
    path.write_text(text)
    (runbook,) = load_file(path)
    window = runbook.spec.preconditions[0]
    assert window.weekly is not None  # type: ignore[union-attr]
    assert window.weekly[0].start == "02:00"  # type: ignore[union-attr]


def test_semantic_errors_point_at_the_field(tmp_path: Path) -> None:
    text = VALID.replace("type: scale\n      factor: 1.5\n      maxReplicas: 10", "type: drain")
    issue = only_issue(text, tmp_path)
    assert (issue.line, issue.path) == (14, "spec.actions[0].type")
    assert "cannot act on a Deployment" in issue.message


def test_changing_action_needs_verification(tmp_path: Path) -> None:
    text = VALID.split("  verification:", maxsplit=1)[0]
    issue = only_issue(text, tmp_path)
    assert issue.path == "spec.verification"
    assert "needs 'verification'" in issue.message


def test_unknown_placeholder_is_an_error(tmp_path: Path) -> None:
    text = VALID.replace(
        "      - type: kubernetes\n        condition: podsReady",
        "      - type: promql\n        query: 'up{pod=\"{{pod}}\"}'\n        condition: '> 0'",
    )
    issue = only_issue(text, tmp_path)
    assert issue.path == "spec.verification.checks[0].query"
    assert "unknown placeholder {{pod}}" in issue.message


def test_held_for_cannot_apply_to_crash_loops(tmp_path: Path) -> None:
    text = VALID.replace(
        "type: forecastBreach\n      metric: requests_per_second",
        "type: kubernetes\n      condition: CrashLoopBackOff\n      heldFor: 5m",
    )
    issue = only_issue(text, tmp_path)
    assert (issue.line, issue.path) == (11, "spec.triggers[0].heldFor")
    assert "use 'minCount'" in issue.message


def test_alert_resolved_needs_an_alert_trigger(tmp_path: Path) -> None:
    text = VALID.replace(
        "condition: podsReady", "condition: podsReady\n      - type: alertResolved"
    )
    issue = only_issue(text, tmp_path)
    assert issue.path == "spec.verification.checks[1].type"


def test_multi_document_file_is_all_or_nothing(tmp_path: Path) -> None:
    second = VALID.replace("scale-web", "scale-api").replace("factor: 1.5", "factor: 99")
    found = issues_of(VALID + "---\n" + second, tmp_path)
    assert [i.path for i in found] == ["spec.actions[0].factor"]
    assert found[0].line == 36  # the line inside the second document


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(VALID)
    (tmp_path / "b.yaml").write_text(VALID)
    report = check_paths([tmp_path])
    assert [r.name for _, r in report.runbooks] == ["scale-web"]
    (issue,) = report.issues
    assert issue.file.endswith("b.yaml") and issue.line == 4
    assert issue.message.endswith(f"is already used at {tmp_path / 'a.yaml'}:4")
    with pytest.raises(RunbookLoadError) as raised:
        load_paths([tmp_path])
    assert "b.yaml:4: metadata.name" in str(raised.value)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "holds no runbook"),
        (b"\xff\xfe\x00bad", "not UTF-8"),
        (b"- just\n- a list\n", "is a mapping"),
        (ALIAS_BOMB, "expands to more than"),
        (b"[" * 60 + b"]" * 60, "nested"),
        (b"? [a, b]\n: 1\n", "is not text"),
        (b"a: !!python/object:os.system x\n", "YAML syntax error"),
    ],
)
def test_malformed_files_give_one_clear_issue(
    tmp_path: Path, content: bytes, fragment: str
) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes(content)
    report = check_paths([path])
    assert report.runbooks == ()
    assert report.issues and fragment in report.issues[0].message


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    report = check_paths([tmp_path / "nope.yaml", tmp_path])
    assert [i.message for i in report.issues] == [
        "no such file or directory",
        "no .yaml or .yml runbook files here",
    ]


def test_load_text_raises_with_every_issue() -> None:
    with pytest.raises(RunbookLoadError) as raised:
        load_text(
            VALID.replace("factor: 1.5", "factor: 0").replace("kind: Deployment", "kind: Service")
        )
    assert len(raised.value.issues) == 2


def test_shipped_runbooks_load() -> None:
    runbooks = load_paths([REPO / "runbooks"])
    names = {r.name for r in runbooks}
    assert len(runbooks) >= 8
    assert {
        "crashloop-after-rollout-rollback",
        "restart-stuck-pods",
        "oom-raise-memory-limit",
        "node-notready-drain",
        "traffic-surge-scale-out",
        "canary-rollback",
        "error-rate-pause-rollout",
        "hpa-maxed-out-notify",
    } <= names
    by_name = {r.name: r for r in runbooks}
    drain = by_name["node-notready-drain"].spec
    assert isinstance(drain.actions[0], DrainAction) and drain.guards.max_concurrent == 1
    oom = by_name["oom-raise-memory-limit"].spec.actions[0]
    assert isinstance(oom, PatchResourcesAction) and oom.max == "2Gi"


def test_committed_json_schema_is_up_to_date() -> None:
    committed = (REPO / "runbooks" / "runbook.schema.json").read_text()
    assert committed == render_json_schema(), (
        "runbooks/runbook.schema.json is stale; run: autonomic runbooks schema "
        "--output runbooks/runbook.schema.json"
    )


def test_json_schema_is_closed_and_deterministic() -> None:
    import json

    schema = json.loads(render_json_schema())
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["ScaleAction"]["additionalProperties"] is False
    assert "maxReplicas" in schema["$defs"]["ScaleAction"]["properties"]
    # The same text from fresh interpreters with other hash seeds (set and dict order
    # must not leak into it), so the committed file does not churn between machines.
    import subprocess
    import sys

    script = "from remediation.loading import render_json_schema as r; print(r(), end='')"
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", script],
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        assert out == render_json_schema(), f"PYTHONHASHSEED={seed} renders another schema"


def test_shipped_runbooks_satisfy_the_json_schema() -> None:
    import json

    import yaml

    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(render_json_schema())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted((REPO / "runbooks").glob("*.yaml")):
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], (path.name, errors)


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("10.0", "expected a whole number, got 10.0 (write it as 10)"),
        ("1e1", "expected a whole number, got 10.0 (write it as 10)"),
        ("10.5", "expected a whole number, got 10.5"),
    ],
)
def test_a_fraction_for_a_whole_number_says_what_to_write(
    tmp_path: Path, written: str, message: str
) -> None:
    """Refused as before, but no longer as "Input should be a valid integer": the
    message says what to write, in the configuration's words."""
    issue = only_issue(VALID.replace("maxReplicas: 10", f"maxReplicas: {written}"), tmp_path)
    assert str(issue) == f"{tmp_path / 'x.yaml'}:16: spec.actions[0].maxReplicas: {message}"


KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
configMapGenerator:
  - name: autonomic-runbooks
    files: [scale-web.yaml]
"""


@pytest.mark.parametrize("name", ["kustomization.yaml", "kustomization.yml", "Kustomization"])
def test_kustomizes_own_file_is_skipped_and_named(tmp_path: Path, name: str) -> None:
    """A runbook folder kept for `kubectl apply -k` holds kustomize's file next to the
    runbooks: it is passed over (and said to be), not read as a broken runbook."""
    (tmp_path / "scale-web.yaml").write_text(VALID)
    # kustomize allows a kustomization without apiVersion and kind: the name decides.
    (tmp_path / name).write_text(KUSTOMIZATION.split("kind: Kustomization\n")[1])
    report = check_paths([tmp_path])
    assert report.ok, report.issues
    assert [runbook.name for _, runbook in report.runbooks] == ["scale-web"]
    assert report.files == (str(tmp_path / "scale-web.yaml"),)
    if name != "Kustomization":  # a folder is searched for *.yaml and *.yml only
        assert [str(s) for s in report.skipped] == [
            f"{tmp_path / name}: skipped: kustomize's own file (it lists the runbooks for "
            "kubectl apply -k), not a runbook"
        ]
    # Named on its own (as a shell's `manifests/runbooks/*` names it), it is skipped too.
    named = check_paths([tmp_path / "scale-web.yaml", tmp_path / name])
    assert named.ok and len(named.runbooks) == 1
    assert [s.file for s in named.skipped] == [str(tmp_path / name)]
    assert [r.name for r in load_paths([tmp_path])] == ["scale-web"]


def test_a_bad_runbook_next_to_a_kustomization_is_still_refused(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(KUSTOMIZATION)
    (tmp_path / "scale-web.yaml").write_text(VALID.replace("maxReplicas: 10", "maxReplicas: 0"))
    with pytest.raises(RunbookLoadError) as raised:
        load_paths([tmp_path])
    assert [(i.file, i.line, i.path) for i in raised.value.issues] == [
        (str(tmp_path / "scale-web.yaml"), 16, "spec.actions[0].maxReplicas")
    ]


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("kind: Runbook", "kind: Runbok", "kind"),
        ("kind: Runbook", "kind: Kustomization", "kind"),
        ("apiVersion: autonomic.dev/v1alpha1", "apiVersion: autonomc.dev/v1alpha1", "apiVersion"),
    ],
)
def test_only_kustomizes_file_name_is_skipped_not_a_wrong_kind(
    tmp_path: Path, old: str, new: str, path: str
) -> None:
    """The rule is kustomize's file name, not the document's kind: a runbook whose kind
    or apiVersion is misspelt is refused, never quietly passed over."""
    issues = issues_of(VALID.replace(old, new), tmp_path)
    assert path in [issue.path for issue in issues]


def test_the_manifests_runbook_folder_loads_as_the_shipped_one(tmp_path: Path) -> None:
    folder = REPO / "manifests" / "runbooks"
    report = check_paths([folder])
    assert report.ok, report.issues
    assert [s.file for s in report.skipped] == [str(folder / "kustomization.yaml")]
    shipped = sorted(r.name for r in load_paths([REPO / "runbooks"]))
    assert sorted(runbook.name for _, runbook in report.runbooks) == shipped


# A newcomer's trial (session 23): mistakes the loader let through, or named unhelpfully.

ALERT_NOTIFY = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: tell-about-errors
  description: Tell the channel.
spec:
  triggers:
    - type: alert
      alertname: HighErrorRate
  target:
    kind: Deployment
  actions:
    - type: notify
      message: "{{target}}: {{signal}}"
"""


def test_a_misspelt_choice_names_what_was_written_and_the_nearest_value(
    tmp_path: Path,
) -> None:
    """`condition: DiskPresure` was refused with only the list of nine conditions."""
    text = (
        VALID.replace(
            "    - type: forecastBreach\n      metric: requests_per_second",
            "    - type: kubernetes\n      condition: DiskPresure",
        )
        .replace("kind: Deployment", "kind: Node")
        .replace("type: scale\n      factor: 1.5\n      maxReplicas: 10", "type: cordon")
        .replace("condition: podsReady", "condition: nodeCordoned")
    )
    issue = only_issue(text, tmp_path)
    assert (issue.line, issue.path) == (10, "spec.triggers[0].condition")
    assert issue.message.startswith("must be 'CrashLoopBackOff', 'OOMKilled'")
    assert issue.message.endswith(", got 'DiskPresure' (did you mean 'DiskPressure'?)")
    # a wrong case is a near miss too; a value like nothing allowed gets no guess
    lower = only_issue(VALID.replace("kind: Deployment", "kind: deployment"), tmp_path)
    assert lower.message.endswith(", got 'deployment' (did you mean 'Deployment'?)")
    far = only_issue(VALID.replace("kind: Deployment", "kind: Service"), tmp_path)
    assert far.message == (
        "must be 'Deployment', 'StatefulSet', 'Pod', 'Node', 'PersistentVolumeClaim' "
        "or 'Job', got 'Service'"
    )


def test_a_tab_in_the_indentation_says_to_indent_with_spaces(tmp_path: Path) -> None:
    text = VALID.replace("      maxReplicas: 10", "\tmaxReplicas: 10")
    issue = only_issue(text, tmp_path)
    assert issue.line == 16
    assert issue.message.startswith("YAML syntax error")
    assert issue.message.endswith("YAML does not allow tabs for indentation: indent with spaces")


def test_a_value_missing_its_closing_quote_is_named_where_it_starts(tmp_path: Path) -> None:
    # The next quote in the file closes the value, and the parser stops lines later.
    text = VALID.replace("  description: Scale out.", '  description: "Scale out.') + (
        '    note: "x"\n'
    )
    issue = only_issue(text, tmp_path)
    assert issue.message.startswith("YAML syntax error")
    assert issue.message.endswith(
        f"the quoted value that starts on line 5 runs on to line {issue.line}: if its "
        "closing quote is missing, add it on line 5"
    )


def test_a_closed_quoted_value_over_two_lines_is_not_blamed_for_the_next_lines_indent(
    tmp_path: Path,
) -> None:
    """A quoted description over two lines, closed, then a key indented one column off on
    the line after it: the quote hint ("if its closing quote is missing") took the place of
    the indentation one, for a quote that is not missing."""
    text = VALID.replace(
        "  description: Scale out.",
        '  description: "Scale out\n    when busy."\n   owner: web-team',
    )
    issue = only_issue(text, tmp_path)
    assert issue.line == 7
    assert "quoted value" not in issue.message
    assert issue.message.endswith("; " + INDENTED_UNLIKE.format(block=4))


def test_a_file_not_in_utf8_names_the_line_and_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes(VALID.replace("Scale out.", "Scale \xe9 out.").encode("latin-1"))
    (issue,) = check_paths([path]).issues
    assert issue.line == 5
    assert issue.message.startswith(
        "the file is not UTF-8 text: byte 0xe9 at column 22 (invalid continuation byte); "
        "save it as UTF-8"
    )


INDENTED_UNLIKE = (
    "this line is indented unlike the lines above it (the block from line {block}): the keys "
    "of one mapping, and the '-' items of one list, start at the same column, in spaces"
)


@pytest.mark.parametrize(
    ("old", "new", "line", "block"),
    [
        ("      factor: 1.5", "     factor: 1.5", 15, 14),  # a key of a list item, one short
        ("      maxReplicas: 10", "     maxReplicas: 10", 16, 14),
        ("  triggers:", " triggers:", 8, 1),
    ],
)
def test_a_line_indented_unlike_its_siblings_says_so_in_plain_words(
    tmp_path: Path, old: str, new: str, line: int, block: int
) -> None:
    # PyYAML alone says "expected <block end>, but found '<block mapping start>'"
    issue = only_issue(VALID.replace(old, new), tmp_path)
    assert issue.line == line
    assert issue.message.startswith("YAML syntax error: while parsing a block")
    assert issue.message.endswith("; " + INDENTED_UNLIKE.format(block=block))


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        ("  description: Scale out.", "  description: Scale out: add pods.", 5),
        ("    kind: Deployment", "    kind: Deployment\n      namespaces: [shop]", 13),
    ],
)
def test_a_key_where_none_can_start_names_the_likely_causes(
    tmp_path: Path, old: str, new: str, line: int
) -> None:
    # PyYAML alone says "mapping values are not allowed here"
    issue = only_issue(VALID.replace(old, new), tmp_path)
    assert issue.line == line
    assert issue.message == (
        "YAML syntax error: mapping values are not allowed here; YAML found a 'key:' where "
        "none can start: quote a value that holds ': ' (message: \"Disk full: clean up\"), "
        "line a key up with the keys beside it rather than indenting it under a key that "
        "already has a value, and check that the key on the line above ends with ':'"
    )


def test_a_label_both_required_and_excluded_is_refused(tmp_path: Path) -> None:
    text = VALID.replace(
        "    kind: Deployment\n",
        "    kind: Deployment\n"
        '    requireLabels: {team: web, autonomic.dev/enabled: "true"}\n'
        "    excludeLabels: {team: web, tier: batch}\n",
    )
    issue = only_issue(text, tmp_path)
    assert (issue.line, issue.path) == (14, "spec.target.excludeLabels.team")
    assert issue.message == (
        "label team=web is both required ('requireLabels') and excluded, so no target "
        "could ever be selected; remove it from one"
    )
    # the same key with another value is a sound (if odd) selection
    fine = text.replace("excludeLabels: {team: web,", "excludeLabels: {team: api,")
    (tmp_path / "fine.yaml").write_text(fine)
    assert len(load_file(tmp_path / "fine.yaml")) == 1


def test_a_namespace_both_included_and_excluded_is_named(tmp_path: Path) -> None:
    text = VALID.replace(
        "    kind: Deployment\n",
        "    kind: Deployment\n    namespaces: [shop, payments]\n"
        "    excludeNamespaces: [payments]\n",
    )
    issue = only_issue(text, tmp_path)
    assert issue.path == "spec.target.excludeNamespaces"
    assert issue.message == (
        "namespace payments is both in 'namespaces' and in 'excludeNamespaces'; remove it from one"
    )


def test_a_name_no_namespace_or_object_can_have_is_refused(tmp_path: Path) -> None:
    """Names are compared exactly: 'Payments' in requireApprovalWhen.namespaces, or
    'kube_system' in excludeNamespaces, loaded and then never matched, so the approval it
    forced or the exclusion it made silently never applied."""
    text = VALID.replace(
        "  mode: enforce\n",
        "  mode: enforce\n  requireApprovalWhen:\n    namespaces: [Payments, 'shop ']\n",
    ).replace(
        "    kind: Deployment\n",
        "    kind: Deployment\n    excludeNamespaces: [kube_system]\n    excludeNames: [Web]\n",
    )
    found = [(i.line, i.path, i.message) for i in issues_of(text, tmp_path)]
    namespace = (
        "not a namespace name (lower-case letters, digits and '-', starting and ending "
        "with a letter or digit, at most 63 characters), which it must be to match anything"
    )
    assert found == [
        (
            9,
            "spec.requireApprovalWhen.namespaces[0]",
            f"{namespace} (got 'Payments'; did you mean 'payments'?)",
        ),
        (
            9,
            "spec.requireApprovalWhen.namespaces[1]",
            f"{namespace} (got 'shop '; did you mean 'shop'?)",
        ),
        (15, "spec.target.excludeNamespaces[0]", f"{namespace} (got 'kube_system')"),
        (
            16,
            "spec.target.excludeNames[0]",
            "not an object name (lower-case letters, "
            "digits, '-' and '.', starting and ending with a letter or digit, at most 253 "
            "characters), which it must be to match anything (got 'Web'; did you mean 'web'?)",
        ),
    ]
    fine = text.replace("[Payments, 'shop ']", "[payments, shop]").replace(
        "[kube_system]", "[kube-system]"
    )
    (tmp_path / "fine.yaml").write_text(fine.replace("[Web]", "[web.v2]"))
    (runbook,) = load_file(tmp_path / "fine.yaml")
    assert runbook.spec.target.exclude_names == ("web.v2",)


def test_a_label_no_object_can_carry_is_refused(tmp_path: Path) -> None:
    """An excludeLabels entry no object can carry ('yes please', a key with a space)
    loaded and matched nothing, so the opt-out it promised never applied."""
    text = VALID.replace(
        "    kind: Deployment\n",
        "    kind: Deployment\n    excludeLabels:\n      autonomic.dev/skip: yes please\n"
        "      team name: web\n    requireLabels: {autonomic.dev/enabled: 'true'}\n",
    )
    found = [(i.line, i.path, i.message) for i in issues_of(text, tmp_path)]
    assert found == [
        (
            14,
            "spec.target.excludeLabels.autonomic.dev/skip",
            "not a label value Kubernetes allows (letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit, at most 63 characters, or empty), "
            "so no object could carry it and it would match nothing (got 'yes please')",
        ),
        (
            15,
            "spec.target.excludeLabels.team name",
            "not a label key Kubernetes allows ([PREFIX/]NAME, e.g. autonomic.dev/exclude: "
            "a NAME of letters, digits, '-', '_' and '.', starting and ending with a letter "
            "or digit), so no object could carry it and it would match nothing "
            "(got 'team name')",
        ),
    ]
    fine = text.replace("yes please", "'yes'").replace("team name: web", "example.com/team: ''")
    (tmp_path / "fine.yaml").write_text(fine)
    (runbook,) = load_file(tmp_path / "fine.yaml")
    assert runbook.spec.target.exclude_labels == {
        "autonomic.dev/skip": "yes",
        "example.com/team": "",
    }


def test_an_alertname_matcher_that_rejects_the_triggers_alert_is_refused(
    tmp_path: Path,
) -> None:
    """Such a trigger could never fire, and nothing said so."""
    text = ALERT_NOTIFY.replace(
        "      alertname: HighErrorRate\n",
        "      alertname: HighErrorRate\n"
        "      matchers: ['severity=\"critical\"', 'alertname=\"High5xx\"']\n",
    )
    issue = only_issue(text, tmp_path)
    assert (issue.line, issue.path) == (10, "spec.triggers[0].matchers[1]")
    assert issue.message == (
        'matcher alertname="High5xx" rejects the alert this trigger names '
        "('HighErrorRate'), so the trigger could never fire; drop the matcher or write "
        "one trigger per alert name"
    )
    agrees = text.replace('alertname="High5xx"', 'alertname=~"High.*"')
    (tmp_path / "agrees.yaml").write_text(agrees)
    assert len(load_file(tmp_path / "agrees.yaml")) == 1


def test_approvers_narrow_who_may_answer_and_a_bad_one_names_file_line_and_field(
    tmp_path: Path,
) -> None:
    text = VALID.replace("  mode: enforce\n", "  mode: enforce\n  approvers: [S0PAY, U0ALICE]\n")
    path = tmp_path / "ok.yaml"
    path.write_text(text)
    (runbook,) = load_file(path)
    assert runbook.spec.approvers == ("S0PAY", "U0ALICE")
    assert VALID and load_text(VALID, "x.yaml")[0].spec.approvers is None  # slack.approvers

    handle = only_issue(text.replace("[S0PAY, U0ALICE]", "[S0PAY, '@sre-payments']"), tmp_path)
    assert str(handle).endswith(
        "x.yaml:8: spec.approvers[1]: expected a Slack user id (U… or W…) or user group id "
        "(S…), not a name or @handle (got '@sre-payments')"
    )
    nobody = only_issue(text.replace("[S0PAY, U0ALICE]", "[]"), tmp_path)
    assert str(nobody).endswith(
        "x.yaml:8: spec.approvers: lists nobody, so none of this runbook's questions could be "
        "answered: name Slack user or group ids, or remove approvers to let slack.approvers "
        "decide"
    )


@pytest.mark.parametrize(
    ("kind", "trigger", "placeholder"),
    [
        ("Node", "{type: kubernetes, condition: NodeNotReady}", "namespace"),
        ("Deployment", "{type: forecastBreach, metric: rps}", "node"),
        ("StatefulSet", "{type: forecastBreach, metric: rps}", "node"),
    ],
)
def test_a_placeholder_the_target_never_fills_is_refused(
    tmp_path: Path, kind: str, trigger: str, placeholder: str
) -> None:
    """``{{namespace}}`` on a Node runbook and ``{{node}}`` on a workload's rendered as ""
    and loaded: ``namespace=""`` matches only series without a namespace, so a
    precondition counting pods pending "in the node's namespace" with ``or vector(0)``
    counted nothing and always passed."""
    text = f"""\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: empty-placeholder
  description: A query on a label the target never has.
spec:
  mode: enforce
  triggers: [{trigger}]
  target: {{kind: {kind}}}
  preconditions:
    - type: promql
      query: >-
        count(kube_pod_status_phase{{{placeholder}="{{{{{placeholder}}}}}", phase="Pending"}})
        or vector(0)
      condition: "== 0"
  actions:
    - type: notify
      message: "{{{{target}}}}"
"""
    issue = only_issue(text, tmp_path)
    assert issue.path == "spec.preconditions[0].query"
    wanted = f"{{{{{placeholder}}}}} is always empty on a {kind} runbook"
    assert issue.message.startswith(wanted), issue.message


@pytest.mark.parametrize(
    ("kind", "trigger"),
    [
        ("Node", "{type: kubernetes, condition: NodeNotReady}"),
        ("Pod", "{type: kubernetes, condition: PodNotReady}"),
    ],
)
def test_node_placeholder_loads_where_the_target_has_a_node(
    tmp_path: Path, kind: str, trigger: str
) -> None:
    text = f"""\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: node-placeholder
  description: A query on the node.
spec:
  mode: enforce
  triggers: [{trigger}]
  target: {{kind: {kind}}}
  preconditions:
    - type: promql
      query: >-
        sum(kube_node_status_condition{{node="{{{{node}}}}", condition="Ready", status="true"}})
      condition: "== 0"
  actions:
    - type: notify
      message: "{{{{target}}}} on {{{{node}}}}"
"""
    path = tmp_path / "x.yaml"
    path.write_text(text)
    report = check_paths([path])
    assert report.issues == () and len(report.runbooks) == 1, report.issues


@pytest.mark.parametrize(
    ("resource", "ceiling", "said"),
    [
        (
            "cpu",
            "2Gi",
            "'max' is 2Gi, 2147483648 cores: more than any node has, so it would cap nothing "
            "(at most 1024); CPU is counted in cores, such as '2' or '1500m'",
        ),
        (
            "memory",
            '"4"',
            "'max' is 4, less than 1Mi of memory (memory is counted in bytes): write a size "
            "such as '2Gi' or '512Mi'",
        ),
        ("memory", '"0"', "'max' must be above 0"),
    ],
)
def test_a_resource_ceiling_in_the_other_resources_unit_is_refused(
    tmp_path: Path, resource: str, ceiling: str, said: str
) -> None:
    """A ``max`` parses as a quantity whatever the resource: a memory runbook copied for
    CPU with ``max: 2Gi`` loaded with a ceiling of two billion cores (no ceiling), and a
    memory ``max: "4"`` (four bytes) with one no limit could ever be raised under."""
    text = VALID.replace(
        "    - type: scale\n      factor: 1.5\n      maxReplicas: 10\n",
        f"    - type: patchResources\n      resource: {resource}\n      factor: 1.5\n"
        f"      max: {ceiling}\n",
    )
    issue = only_issue(text, tmp_path)
    assert (issue.path, issue.message) == ("spec.actions[0].max", said)


@pytest.mark.parametrize(
    ("resource", "ceiling"), [("cpu", '"4"'), ("cpu", "1500m"), ("memory", "1Mi")]
)
def test_a_resource_ceiling_in_its_own_unit_loads(
    tmp_path: Path, resource: str, ceiling: str
) -> None:
    text = VALID.replace(
        "    - type: scale\n      factor: 1.5\n      maxReplicas: 10\n",
        f"    - type: patchResources\n      resource: {resource}\n      factor: 1.5\n"
        f"      max: {ceiling}\n",
    )
    path = tmp_path / "x.yaml"
    path.write_text(text)
    report = check_paths([path])
    assert report.issues == () and len(report.runbooks) == 1, report.issues


def test_a_config_file_among_runbooks_is_one_problem(tmp_path: Path) -> None:
    """The daemon's configuration in the runbooks directory was six lines of "required
    key is missing" and "unknown key"; it is one line saying to move it."""
    text = "mode: propose\nprometheus:\n  url: http://prom:9090\nrouting:\n  auto: 0.9\n"
    issue = only_issue(text, tmp_path)
    assert (issue.line, issue.path) == (1, "")
    assert issue.message.startswith("not a runbook: it has no apiVersion/kind")
    assert "only mode, prometheus, routing" in issue.message
    assert issue.message.endswith("move it out of the runbooks directory")


def test_a_kubernetes_manifest_among_runbooks_names_its_kind(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n"
    issue = only_issue(text, tmp_path)
    assert (issue.line, issue.path) == (2, "kind")
    assert issue.message == (
        "this is a Kubernetes ConfigMap (apiVersion v1), not a runbook (kind: Runbook, "
        "apiVersion: autonomic.dev/v1alpha1): move it out of the runbooks directory"
    )
    # a runbook with a misspelt kind is still checked key by key
    typo = issues_of(VALID.replace("kind: Runbook", "kind: Runbok"), tmp_path)
    assert [(i.path, i.message.split(",")[0]) for i in typo] == [("kind", "must be 'Runbook'")]
