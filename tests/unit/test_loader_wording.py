"""The same mistake reads the same way in a runbook, the daemon's configuration and a
simulation scenario: each loader names the file, the line and the field, then says what
is wrong in the words of ``remediation.validation``.

They had three dialects: a missing key was "required key is missing" in a runbook,
"required but missing" in the configuration and scenarios and "missing" in a canary
spec; an unknown key was "unknown key 'x'; did you mean 'y'? (allowed here: ...)" in a
runbook and "unknown key (did you mean 'y'? the keys here
are ...)" in the others; a boolean written as text was pydantic's "Input should be a valid
boolean" in a runbook; a near miss of a choice had its "did you mean" in runbooks only;
an unknown or missing ``type`` was said two ways again; and a canary spec (``judge
--spec``, the configuration's ``canary.spec``) had words of its own for all of these."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.errors import ConfigError, InputError
from agent.settings import load_settings
from agent.sim.scenario import load_scenario
from forecasting.canary import CanarySpecError, parse_spec
from remediation.loading import check_paths
from remediation.validation import MISSING_KEY, not_a_boolean, unknown_key

RUNBOOK = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: restart-web
  description: Restart stuck pods.
spec:
  mode: enforce
  triggers:
    - type: kubernetes
      condition: CrashLoopBackOff
  target:
    kind: Deployment
  actions:
    - type: rolloutRestart
  verification:
    checks:
      - type: kubernetes
        condition: podsReady
  onFailure:
    undo: false
"""

CONFIG = """\
mode: propose
slack:
  enabled: false
anomalyQueries:
  - name: latency
    expr: up
"""

SCENARIO = """\
apiVersion: autonomic.dev/v1alpha1
kind: Scenario
metadata:
  name: words
spec:
  days: 1
  traces:
    - name: web
      builtin: nasa-http
  workloads:
    - name: api
      trace: web
      capacityPerPod: 50
      predictive: true
  oncall:
    default: {answer: approve}
  faults:
    - {at: 6h, type: surge, workload: api, factor: 3, duration: 40m}
"""

# One line of a loader's report: FILE:LINE: FIELD: MESSAGE.
_LINE = re.compile(r"^\s*(?P<file>[^:]+):(?P<line>\d+): (?P<field>[^:]+): (?P<message>.*)$")


def _said(text: str, path: Path) -> tuple[str, int, str, str]:
    """The one problem in a loader's report, as (file, line, field, message)."""
    lines = [m for line in text.splitlines() if (m := _LINE.match(line))]
    assert len(lines) == 1, text
    found = lines[0]
    assert found["file"] == str(path)
    return found["file"], int(found["line"]), found["field"], found["message"]


def _runbook(tmp_path: Path, old: str, new: str) -> tuple[str, int, str, str]:
    assert old in RUNBOOK
    path = tmp_path / "rb.yaml"
    path.write_text(RUNBOOK.replace(old, new))
    report = check_paths([path])
    return _said("\n".join(str(issue) for issue in report.issues), path)


def _config(tmp_path: Path, old: str, new: str) -> tuple[str, int, str, str]:
    assert old in CONFIG
    path = tmp_path / "autonomic.yaml"
    path.write_text(CONFIG.replace(old, new))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return _said(str(caught.value), path)


def _scenario(tmp_path: Path, old: str, new: str) -> tuple[str, int, str, str]:
    assert old in SCENARIO
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace(old, new))
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    return _said(str(caught.value), path)


def test_the_documents_as_written_load(tmp_path: Path) -> None:
    (tmp_path / "rb.yaml").write_text(RUNBOOK)
    assert check_paths([tmp_path / "rb.yaml"]).ok
    (tmp_path / "autonomic.yaml").write_text(CONFIG)
    load_settings(tmp_path / "autonomic.yaml")
    (tmp_path / "s.yaml").write_text(SCENARIO)
    load_scenario(tmp_path / "s.yaml")


def test_a_missing_key(tmp_path: Path) -> None:
    said = {
        _runbook(tmp_path, "      condition: CrashLoopBackOff\n", "      minCount: 2\n"),
        _config(tmp_path, "    expr: up\n", ""),
        _scenario(tmp_path, "      capacityPerPod: 50\n", ""),
    }
    assert {(field, message) for _, _, field, message in said} == {
        ("spec.triggers[0].condition", "required key is missing"),
        ("anomalyQueries[0].expr", "required key is missing"),
        ("spec.workloads[0].capacityPerPod", "required key is missing"),
    }


def test_an_unknown_key(tmp_path: Path) -> None:
    runbook = _runbook(tmp_path, "  mode: enforce", "  mdoe: enforce")
    config = _config(tmp_path, "  enabled: false", "  enabeld: false")
    scenario = _scenario(tmp_path, "  days: 1", "  dayz: 1")
    assert runbook[1:3] == (7, "spec.mdoe")
    assert runbook[3].startswith("unknown key (did you mean 'mode'? the keys here are actions, ")
    assert config[1:3] == (3, "slack.enabeld")
    assert config[3].startswith("unknown key (did you mean 'enabled'? the keys here are ")
    assert config[3].endswith("; see docs/configuration.md)")
    assert scenario[1:] == (
        6,
        "spec.dayz",
        "unknown key (did you mean 'days'? the keys here are days, faults, nodes, oncall, "
        "scaling, seed, tick, traces, workloads)",
    )


def test_a_boolean_written_as_text(tmp_path: Path) -> None:
    said = [
        _runbook(tmp_path, "undo: false", 'undo: "yes"'),
        _config(tmp_path, "enabled: false", 'enabled: "yes"'),
        _scenario(tmp_path, "predictive: true", 'predictive: "yes"'),
    ]
    assert [message for *_, message in said] == ["expected true or false (unquoted), got 'yes'"] * 3


def test_a_mapping_or_a_list_where_a_number_belongs(tmp_path: Path) -> None:
    """pydantic said "Input should be a valid number", which does not say what was
    written there."""
    said = [
        _runbook(
            tmp_path,
            "      condition: CrashLoopBackOff\n",
            "      condition: CrashLoopBackOff\n      minCount: {n: 3}\n",
        ),
        _config(tmp_path, "    expr: up\n", "    expr: up\n    threshold: [3]\n"),
        _scenario(tmp_path, "capacityPerPod: 50", "capacityPerPod: {perPod: 50}"),
    ]
    assert [message for *_, message in said] == [
        "expected a whole number, got a mapping",
        "expected a number, got a list",
        "expected a number, got a mapping",
    ]


def test_a_document_that_is_not_a_mapping(tmp_path: Path) -> None:
    """The configuration said Python's name for it ("got list"), a scenario "a list"."""
    for text, got in (("- a\n- b\n", "a list"), ("3\n", "a number"), ("true\n", "true or false")):
        config = tmp_path / "autonomic.yaml"
        config.write_text(text)
        with pytest.raises(ConfigError) as caught:
            load_settings(config)
        assert str(caught.value).endswith(f"mapping of sections, got {got}")
        scenario = tmp_path / "s.yaml"
        scenario.write_text(text)
        with pytest.raises(InputError) as raised:
            load_scenario(scenario)
        assert str(raised.value).endswith(f"metadata and spec, got {got}")


def test_a_near_miss_of_a_choice(tmp_path: Path) -> None:
    said = [
        _runbook(tmp_path, "mode: enforce", "mode: Enforce"),
        _config(tmp_path, "mode: propose", "mode: Propose"),
        _scenario(tmp_path, "answer: approve", "answer: Approve"),
    ]
    assert [message.split(", got ", 1)[1] for *_, message in said] == [
        "'Enforce' (did you mean 'enforce'?)",
        "'Propose' (did you mean 'propose'?)",
        "'Approve' (did you mean 'approve'?)",
    ]


def test_an_unknown_type(tmp_path: Path) -> None:
    runbook = _runbook(tmp_path, "type: rolloutRestart", "type: rolloutRestrat")
    scenario = _scenario(tmp_path, "type: surge", "type: surg")
    assert runbook[1:3] == (14, "spec.actions[0].type")
    assert runbook[3].startswith(
        "unknown type 'rolloutRestrat' (did you mean 'rolloutRestart'? the types here are "
    )
    assert scenario[1:] == (
        18,
        "spec.faults[0].type",
        "unknown type 'surg' (did you mean 'surge'? the types here are surge, badRollout, "
        "memoryLeak, nodeNotReady, canary)",
    )


def test_a_missing_type(tmp_path: Path) -> None:
    runbook = _runbook(tmp_path, "    - type: rolloutRestart\n", "    - {}\n")
    scenario = _scenario(tmp_path, "type: surge, ", "")
    assert runbook[2] == "spec.actions[0].type"
    assert runbook[3].startswith(
        "required key is missing (type says what kind of entry this is: one of "
    )
    assert ", rolloutRestart, " in runbook[3]
    assert scenario[2:] == (
        "spec.faults[0].type",
        "required key is missing (type says what kind of entry this is: one of surge, "
        "badRollout, memoryLeak, nodeNotReady, canary)",
    )


def _canary(spec: object) -> tuple[str, str]:
    with pytest.raises(CanarySpecError) as caught:
        parse_spec(spec)
    return caught.value.field, caught.value.message


def test_a_canary_spec_says_the_same(tmp_path: Path) -> None:
    """forecasting/ may not import remediation/: its words are its own copy, held to
    the same by this test."""
    keys = [
        "allow_negative",
        "count",
        "critical",
        "cumulative",
        "denominator",
        "direction",
        "dry_run",
        "kind",
        "min_count",
        "numerator",
        "objective",
        "spread",
        "tolerance",
    ]
    assert _canary({"metrics": {"p99": {"tolerence": "10%"}}}) == (
        "metrics.p99.tolerence",
        unknown_key("tolerence", keys),
    )
    assert _canary({"metric": {"p99": {}}}) == ("metric", unknown_key("metric", ["metrics"]))
    assert _canary({"metrics": {"p99": {"critical": "yes"}}}) == (
        "metrics.p99.critical",
        not_a_boolean("yes"),
    )
    field, message = _canary({"metrics": {"p99": {"kind": "Ratio"}}})
    assert (field, message) == (
        "metrics.p99.kind",
        "must be 'continuous', 'ratio' or 'resource', got 'Ratio' (did you mean 'ratio'?)",
    )
    field, message = _canary({"metrics": {"errors": {"kind": "ratio", "tolerance": "1pp"}}})
    assert field == "metrics.errors.numerator"
    assert message.startswith(f"{MISSING_KEY}: a ratio metric names its two count columns")
