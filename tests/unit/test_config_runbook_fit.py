"""`autonomic config check` warns, at the runbook's file and line, of what the config can
never let a runbook do: act in a namespace the daemon does not watch, or fire on an
anomaly of a query the config does not have."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.cli import main as autonomic

RUNBOOK = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: pause-on-errors
  description: Pause a rollout whose error ratio climbs.
spec:
  mode: enforce
  triggers:
    - type: anomaly
      metric: METRIC
      direction: up
  target:
    kind: Deployment
    namespaces: [NAMESPACES]
  actions:
    - type: pauseRollout
  verification:
    checks:
      - type: kubernetes
        condition: podsReady
"""

CONFIG = """\
cluster:
  namespaces: [shop, checkout]
anomalyQueries:
  - name: http_error_ratio
    expr: sum(rate(x[5m]))
runbooks: [rb]
"""


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("AUTONOMIC__"):
            monkeypatch.delenv(key)


def check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], metric: str, namespaces: str
) -> tuple[int, list[str], Path]:
    (tmp_path / "rb").mkdir()
    runbook = tmp_path / "rb" / "pause.yaml"
    runbook.write_text(RUNBOOK.replace("METRIC", metric).replace("NAMESPACES", namespaces))
    config = tmp_path / "autonomic.yaml"
    config.write_text(CONFIG)
    code = autonomic(["config", "check", str(config)])
    out = capsys.readouterr().out
    warnings = [line.strip() for line in out.splitlines() if f"warning: {runbook}" in line]
    return code, warnings, runbook


def test_a_runbook_that_fits_the_config_gets_no_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, warnings, _ = check(tmp_path, capsys, "http_error_ratio", "shop")
    assert code == 0
    assert warnings == []


def test_a_namespace_the_daemon_does_not_watch_is_warned_of_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, warnings, runbook = check(tmp_path, capsys, "http_error_ratio", "payments")
    assert code == 0  # a warning: runbook folders may be shared by several daemons
    assert warnings == [
        f"warning: {runbook}:14: spec.target.namespaces[0]: runbook pause-on-errors will "
        "never act in namespace payments: cluster.namespaces watches only shop, checkout, "
        "so the daemon never reads it; add it to the config or remove it from the runbook",
        f"warning: {runbook}:14: spec.target.namespaces: runbook pause-on-errors will never "
        "act at all: none of its namespaces is watched by this config",
    ]


def test_an_excluded_namespace_is_warned_of_but_not_the_runbook_as_a_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # kube-system is in cluster.excludeNamespaces by default; shop is watched.
    code, warnings, runbook = check(tmp_path, capsys, "http_error_ratio", "shop, kube-system")
    assert code == 0
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(
        f"warning: {runbook}:14: spec.target.namespaces[1]: runbook pause-on-errors will "
        "never act in namespace kube-system: cluster.excludeNamespaces leaves it out"
    )


def test_an_anomaly_trigger_on_a_query_the_config_lacks_is_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, warnings, runbook = check(tmp_path, capsys, "http_eror_ratio", "shop")
    assert code == 0
    assert warnings == [
        f"warning: {runbook}:10: spec.triggers[0].metric: no anomaly query is named "
        "'http_eror_ratio', so this trigger never fires (did you mean 'http_error_ratio'? "
        "the anomaly queries are http_error_ratio; an anomaly signal's metric is the name "
        "of the anomalyQueries entry that found it)"
    ]


def test_the_daemon_logs_the_same_warnings_when_it_loads_its_runbooks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, only `config check` said so; a daemon started without it ran a runbook that
    could never act, and its log was silent."""
    from agent.daemon import load_runbooks
    from agent.settings import load_settings

    (tmp_path / "rb").mkdir()
    runbook = tmp_path / "rb" / "pause.yaml"
    runbook.write_text(RUNBOOK.replace("METRIC", "http_eror_ratio").replace("NAMESPACES", "shop"))
    config = tmp_path / "autonomic.yaml"
    config.write_text(CONFIG)
    with caplog.at_level("WARNING", logger="autonomic.daemon"):
        loaded = load_runbooks(load_settings(config, {}))
    assert [r.metadata.name for r in loaded] == ["pause-on-errors"]
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert said == [
        f"runbooks: {runbook}:10: spec.triggers[0].metric: no anomaly query is named "
        "'http_eror_ratio', so this trigger never fires (did you mean 'http_error_ratio'? "
        "the anomaly queries are http_error_ratio; an anomaly signal's metric is the name "
        "of the anomalyQueries entry that found it)"
    ]
