"""The alerts shipped for Autonomic itself (manifests/monitoring/autonomic-alerts.yaml).

promtool, from Debian's Prometheus package, checks the rules and runs the rule tests in
``own_alerts.test.yaml``: each alert fires when it should, after its ``for``, with the
labels a route would match on, and stays quiet on a healthy pair of replicas. The
expressions may only name series the daemon exports (the same contract the Grafana
dashboard is held to), and every alert says what it means and what to do.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.manifests.conftest import BASE
from tests.unit.manifests.test_dashboard import _series_names

RULES = BASE / "monitoring" / "autonomic-alerts.yaml"
RULE_TESTS = Path(__file__).with_name("own_alerts.test.yaml")
# Series a rule may name that the daemon does not export.
NOT_OURS = frozenset({"up"})
# PromQL words and functions that look like series names in an expression.
PROMQL_WORDS = frozenset(
    {"sum", "max", "by", "and", "on", "absent", "increase", "time", "rate", "unless", "or", "abs"}
)


def _rule_file() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return loaded


def _alerts() -> list[dict[str, Any]]:
    return [rule for group in _rule_file()["spec"]["groups"] for rule in group["rules"]]


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_manifest_is_a_prometheusrule_whose_groups_promtool_accepts(
    prometheus_binaries: None, tmp_path: Path
) -> None:
    document = _rule_file()
    assert document["apiVersion"] == "monitoring.coreos.com/v1"
    assert document["kind"] == "PrometheusRule"
    rules = tmp_path / "autonomic.rules.yml"
    rules.write_text(yaml.safe_dump(document["spec"]), encoding="utf-8")
    checked = _promtool("check", "rules", str(rules), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in checked.stdout, checked.stdout


def test_each_alert_fires_when_it_should_and_not_on_a_healthy_pair(
    prometheus_binaries: None, tmp_path: Path
) -> None:
    spec = _rule_file()["spec"]
    for group in spec["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations")  # the test file checks expressions, `for` and labels
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    ran = _promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "SUCCESS" in ran.stdout, ran.stdout

    # ... and the test file has a case where each alert fires and one where it does not.
    cases = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    fired = {c["alertname"] for c in checks if c["exp_alerts"]}
    quiet = {c["alertname"] for c in checks if not c["exp_alerts"]}
    names = {rule["alert"] for rule in _alerts()}
    assert fired == names, names ^ fired
    assert quiet >= names - {"AutonomicPoorlyCalibrated"} and "AutonomicPoorlyCalibrated" in quiet


def test_the_rules_name_only_series_the_daemon_exports() -> None:
    exported = _series_names()
    for rule in _alerts():
        # Drop label matchers and quoted strings, keep the identifiers that name series.
        expr = re.sub(r"\{[^}]*\}|\"[^\"]*\"|\[[^\]]*\]", " ", rule["expr"])
        expr = re.sub(r"\b(by|on)\s*\([^)]*\)", " ", expr)
        words = set(re.findall(r"\b[a-zA-Z_][a-zA-Z0-9_]*\b", expr)) - PROMQL_WORDS
        unknown = {w for w in words if w not in exported and w not in NOT_OURS}
        assert not unknown, f"{rule['alert']}: {sorted(unknown)} not exported by the daemon"
        assert words & set(exported), f"{rule['alert']} names no series of the daemon"


@pytest.mark.parametrize("rule", _alerts(), ids=lambda rule: str(rule["alert"]))
def test_every_alert_says_what_it_means_and_has_a_severity(rule: dict[str, Any]) -> None:
    assert rule["alert"].startswith("Autonomic"), rule["alert"]
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    annotations = rule["annotations"]
    assert set(annotations) == {"summary", "description"}, annotations
    assert len(annotations["summary"]) <= 120, annotations["summary"]
    assert len(annotations["description"]) >= 80, annotations["description"]


def test_the_signals_an_alert_names_are_ones_the_daemon_handles() -> None:
    """An alert that tells a person to send the daemon a signal names one it handles
    (``agent/runtime.py``: SIGTERM and SIGINT stop it, SIGUSR1 writes every thread's
    stack): any other would kill it, or do nothing, in the middle of an incident."""
    import ast

    runtime = BASE.parent / "agent" / "runtime.py"
    handled = {
        node.attr
        for node in ast.walk(ast.parse(runtime.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr.startswith("SIG")
    }
    assert {"SIGTERM", "SIGUSR1"} <= handled
    for rule in _alerts():
        named = set(re.findall(r"\bSIG[A-Z0-9]+\b", " ".join(rule["annotations"].values())))
        assert named <= handled, f"{rule['alert']}: {sorted(named - handled)} not handled"


def test_the_rules_name_only_labels_their_series_carry() -> None:
    """A matcher (``{loop="remediation"}``) or a grouping (``by (reason)``, ``on
    (instance)``) on a label the series do not carry matches nothing or groups nothing
    apart, and promtool accepts it: each label must be one the daemon's metric has, or
    one Prometheus adds when it scrapes."""
    from tests.unit.manifests.test_dashboard import TARGET_LABELS, _exported

    exported = _exported()
    families = _series_names()
    for rule in _alerts():
        expr = rule["expr"]
        used: set[str] = set()
        for series, matchers in re.findall(r"\b([a-z_][a-z0-9_]*)\{([^}]*)\}", expr):
            labels = exported[families[series]][1] | TARGET_LABELS
            named = set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
            assert named <= labels, f"{rule['alert']}: {series} has no {sorted(named - labels)}"
        for series in set(re.findall(r"\b[a-z_][a-z0-9_]*\b", expr)) & set(families):
            used |= exported[families[series]][1]
        grouped = {
            label.strip()
            for clause in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr)
            for label in clause.split(",")
        }
        assert grouped <= used | TARGET_LABELS, f"{rule['alert']}: {grouped - used}"
